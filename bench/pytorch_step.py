#!/usr/bin/env python3
"""PyTorch eager baseline of one FlatCLR pretraining step, for bench/bench_vs_pytorch: the paper's model and loss
written here from its code's structure (torchvision ResNet-18 with the CIFAR stem, a 3x3 stride-1 conv1 and no
max-pool; the projection head Linear-ReLU-Linear to 128; the FlatNCE loss over the 2N x 2N similarities; LARS with
biases and BatchNorm parameters excluded from adaptation and weight decay), as a PyTorch user runs it: eager mode,
the default memory layout unless --memory_format says otherwise, and torch.autocast for bf16/fp16.

  pytorch_step.py --batch B --threads T --precision fp32|bf16|fp16 --steps N --warmup W [--device cpu|cuda]
                  [--memory_format contiguous|channels_last] [--arch res18|res50] [--image_size S]

--arch res50 --image_size 224: torchvision's ResNet-50 (ImageNet stem) on two 224 px views a image, the step whose
rate decides how many decode threads keep a GPU fed (scripts/gpu-check measures it there).

Prints one line: `step_seconds <s1> <s2> ...` (the timed steps, after the warm-up ones). With --profile, first
the table of torch.profiler over the timed steps (operators by self time): where a step's time goes, which is
the same LibTorch/oneDNN kernels flatclr calls. With --count_flops, instead of timing: `step_flops <F>`, the
operations of one step (forward and backward) as torch.utils.flop_counter.FlopCounterMode counts them, the
independent reference for flatclr's own count (core/flop_counter.h). cuDNN's benchmark mode is on, as in
flatclr's trainer and benchmark.
"""
import argparse
import time

import torch
import torch.nn.functional as F
import torchvision


class LARS(torch.optim.Optimizer):
    """SimCLR's LARS: g' = g + wd p and trust = eeta |p| / |g'| for adapted tensors (not 1-D ones), v = m v + lr
    trust g', p -= v."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=1e-6, eeta=1e-3):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eeta=eeta))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                trust = 1.0
                if p.ndim > 1:
                    g = g.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = torch.norm(p), torch.norm(g)
                    trust = torch.where((w_norm > 0) & (g_norm > 0), group["eeta"] * w_norm / g_norm,
                                        torch.ones_like(w_norm))
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                v = state["momentum_buffer"]
                v.mul_(group["momentum"]).add_(g * (group["lr"] * trust))
                p.sub_(v)


def model(arch="res18"):
    """res18: the CIFAR stem (what bench_vs_pytorch compares); res50: torchvision's ImageNet ResNet-50 as it is, for
    the GPU's training rate at 224 px that sizes the decode threads (scripts/gpu-check)."""
    if arch == "res50":
        m = torchvision.models.resnet50(num_classes=128)
        dim = m.fc.in_features
        m.fc = torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.ReLU(), m.fc)
        return m
    m = torchvision.models.resnet18(num_classes=128)
    m.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    m.maxpool = torch.nn.Identity()
    dim = m.fc.in_features
    m.fc = torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.ReLU(), m.fc)
    return m


def flat_nce(z, temperature):
    """FlatNCE over 2N views (rows i and i+N are the two views of one image)."""
    n2 = z.shape[0]
    z = F.normalize(z, dim=1)
    sim = z @ z.T / temperature
    idx = torch.arange(n2, device=z.device)
    pos = sim[idx, (idx + n2 // 2) % n2].unsqueeze(1)
    mask = torch.ones_like(sim, dtype=torch.bool)
    mask[idx, idx] = False
    mask[idx, (idx + n2 // 2) % n2] = False
    neg = sim[mask].view(n2, -1)
    v = torch.logsumexp(neg - pos, dim=1, keepdim=True)  # log sum_j exp(s_j - s_+)
    return (torch.exp(v - v.detach())).mean() - 1  # value 0, gradient of FlatNCE


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--memory_format", choices=["contiguous", "channels_last"], default="contiguous")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--count_flops", action="store_true")
    p.add_argument("--arch", choices=["res18", "res50"], default="res18")
    p.add_argument("--image_size", type=int, default=32, help="the views' side in pixels (at least 32)")
    a = p.parse_args()
    if a.image_size < 32:
        p.error("--image_size %d: expected at least 32 pixels (ResNet's five stride-2 stages)" % a.image_size)
    torch.set_num_threads(a.threads)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    dev = torch.device(a.device)
    cl = a.memory_format == "channels_last"
    m = model(a.arch).to(dev)
    if cl:
        m = m.to(memory_format=torch.channels_last)
    m.train()
    opt = LARS(m.parameters(), lr=0.3)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[a.precision]
    scaler = torch.amp.GradScaler(a.device, enabled=a.precision == "fp16")
    views = torch.rand(2 * a.batch, 3, a.image_size, a.image_size, device=dev)
    if cl:
        views = views.contiguous(memory_format=torch.channels_last)
    if a.count_flops:
        from torch.utils.flop_counter import FlopCounterMode
        counter = FlopCounterMode(display=False)
        with counter:
            flat_nce(m(views).float(), 0.1).backward()
        print("step_flops %d" % counter.get_total_flops(), flush=True)
        return
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    times = []
    prof = None
    for s in range(a.warmup + a.steps):
        if a.profile and s == a.warmup:
            prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU] +
                                          ([torch.profiler.ProfilerActivity.CUDA] if dev.type == "cuda" else []))
            prof.__enter__()
        sync()
        t = time.perf_counter()
        with torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            z = m(views)
        loss = flat_nce(z.float(), 0.1)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sync()
        if s >= a.warmup:
            times.append(time.perf_counter() - t)
    if prof is not None:
        prof.__exit__(None, None, None)
        sort = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
        print(prof.key_averages().table(sort_by=sort, row_limit=15), flush=True)
    print("step_seconds " + " ".join("%.6f" % x for x in times), flush=True)


if __name__ == "__main__":
    main()
