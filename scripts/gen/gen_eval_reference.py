#!/usr/bin/env python3
"""Reference values for tests/eval (run with the virtual environment's PyTorch 2.11: $FLATCLR_VENV/bin/python; output is checked in).

Writes tests/eval/data/eval_reference.json with
  linear_init: torch.manual_seed(seed); torch.nn.Linear(d, c) -> weight, bias (the probe's seeded init);
  probes:      a linear probe trained in PyTorch exactly as src/flatclr/eval/linear_probe.h describes:
               the seeded Linear, the epoch order of flatclr::core::Rng (SplitMix64, re-implemented below)
               keyed by ("probe" stream, seed, epoch), batches with a short last one, F.cross_entropy,
               torch.optim.SGD / Adam with the lr set before each step (cosine from lr to 1e-6 with no
               warmup, or constant), optional standardisation with the train mean / population std;
               per-epoch per-sample metrics, the lr of every step and the final weight and bias.
Floats are written with repr(), so float64 values round-trip exactly (features are float32 values).
"""
import json
import math
import os

import torch
import torch.nn.functional as F

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
PROBE_ORDER_STREAM = 0x70726F6265  # "probe"
FINAL_LR = 1e-6


def splitmix64(x):
    x = (x + GOLDEN) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def hash_key(parts):
    h = 0x243F6A8885A308D3
    for p in parts:
        h = splitmix64(h ^ splitmix64(p))
    return h


class Rng:
    def __init__(self, key):
        self.state = key

    def next_u64(self):
        self.state = (self.state + GOLDEN) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def below(self, n):
        return (self.next_u64() * n) >> 64


def epoch_order(n, seed, epoch):
    order = list(range(n))
    rng = Rng(hash_key([PROBE_ORDER_STREAM, seed, epoch]))
    for i in range(n, 1, -1):
        j = rng.below(i)
        order[i - 1], order[j] = order[j], order[i - 1]
    return order


def lr_at(kind, base, step, total):
    if kind == "constant":
        return base
    progress = min(1.0, step / total)
    return FINAL_LR + (base - FINAL_LR) * 0.5 * (1.0 + math.cos(math.pi * progress))


def flat(t):
    return [float(v) for v in t.detach().double().flatten().tolist()]


def make_data(seed, n, m, d, c, offset):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=g) * 1.5
    y = torch.randint(0, c, (n,), generator=g)
    yt = torch.randint(0, c, (m,), generator=g)
    x = centers[y] + torch.randn(n, d, generator=g)
    xt = centers[yt] + torch.randn(m, d, generator=g)
    scale = torch.linspace(0.5, 4.0, d)
    return x * scale + offset, y, xt * scale + offset, yt


def run_probe(case):
    n, m, d, c = case["n"], case["m"], case["d"], case["c"]
    x, y, xt, yt = make_data(case["data_seed"], n, m, d, c, case["offset"])
    case["train_x"], case["train_y"] = flat(x), y.tolist()
    case["test_x"], case["test_y"] = flat(xt), yt.tolist()
    if case["standardize"]:
        mean = x.mean(0)
        std = (x - mean).square().mean(0).sqrt()
        std = torch.where(std > 1e-8, std, torch.ones_like(std))
        x, xt = (x - mean) / std, (xt - mean) / std
    torch.manual_seed(case["seed"])
    layer = torch.nn.Linear(d, c)
    if case["optimizer"] == "sgd":
        opt = torch.optim.SGD(layer.parameters(), lr=case["lr"], momentum=case["momentum"],
                              weight_decay=case["weight_decay"])
    else:
        opt = torch.optim.Adam(layer.parameters(), lr=case["lr"], weight_decay=case["weight_decay"])
    bs = case["batch_size"]
    total = case["epochs"] * ((n + bs - 1) // bs)
    step, history, lrs = 0, [], []
    for epoch in range(case["epochs"]):
        order = torch.tensor(epoch_order(n, case["seed"], epoch))
        loss_sum, correct = 0.0, 0
        for begin in range(0, n, bs):
            idx = order[begin:begin + bs]
            lr = lr_at(case["scheduler"], case["lr"], step, total)
            for group in opt.param_groups:
                group["lr"] = lr
            lrs.append(lr)
            opt.zero_grad()
            logits = layer(x[idx])
            loss = F.cross_entropy(logits, y[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y[idx]).sum())
            step += 1
        with torch.no_grad():
            logits = layer(xt)
            top = logits.topk(min(5, c), dim=1).indices
            hit = top == yt[:, None]
        history.append(dict(epoch=epoch + 1, train_loss=loss_sum / n, train_top1=correct / n,
                            test_top1=int(hit[:, 0].sum()) / m, test_top5=int(hit.any(1).sum()) / m, lr=lr))
    case["history"] = history
    case["lr_trace"] = lrs
    case["weight"], case["bias"] = flat(layer.weight), flat(layer.bias)
    return case


def main():
    out = {"linear_init": [], "probes": []}
    for seed, d, c in [(0, 5, 3), (7, 6, 4), (123, 16, 10)]:
        torch.manual_seed(seed)
        layer = torch.nn.Linear(d, c)
        out["linear_init"].append(dict(seed=seed, d=d, c=c, weight=flat(layer.weight), bias=flat(layer.bias)))
    base = dict(n=26, m=11, d=6, c=7, data_seed=11, offset=0.0, standardize=False, epochs=4)
    out["probes"].append(run_probe(dict(base, name="sgd_cosine", seed=3, batch_size=8, optimizer="sgd", lr=0.1,
                                        momentum=0.9, weight_decay=5e-4, scheduler="cosine")))
    out["probes"].append(run_probe(dict(base, name="adam_constant", seed=5, batch_size=10, optimizer="adam",
                                        lr=0.05, momentum=0.9, weight_decay=1e-4, scheduler="constant")))
    out["probes"].append(run_probe(dict(base, name="sgd_standardize", seed=9, batch_size=30, offset=20.0,
                                        standardize=True, optimizer="sgd", lr=0.3, momentum=0.9,
                                        weight_decay=0.0, scheduler="cosine", epochs=5)))
    path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "eval", "data", "eval_reference.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print("wrote", os.path.normpath(path), os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
