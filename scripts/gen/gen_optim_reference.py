#!/usr/bin/env python3
"""Reference values for tests/optim (run with the virtual environment's PyTorch 2.11: $FLATCLR_VENV/bin/python; output is checked in).

Writes tests/optim/data/optim_reference.json with
  lars, lars_f32: a LARS written here from its formulas (TF SimCLR LARS with biases and norm
                  parameters excluded, trust 1 at zero norm), run on three small tensors with seeded
                  gradients and a changing lr;
  sgd, adam:      torch.optim.SGD (momentum, weight decay) and torch.optim.Adam (weight decay), same setup;
  schedules:      the lr per step of torch.optim.lr_scheduler.LambdaLR with the reference's warmup + cosine
                  lambda, and of MultiStepLR with its milestone at 10 T ("constant").
Floats are written with repr(), so float64 values round-trip exactly.
"""
import json
import math
import os

import torch


class LARS(torch.optim.Optimizer):
    """adapt=True:  g' = g + wd p, trust = eeta |p| / |g'| if both norms > 0 else 1.
    adapt=False: g' = g, trust = 1.  Then v = m v + (lr trust) g', p -= v (v starts at 0)."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=1e-6, eeta=1e-3, adapt=True):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eeta=eeta, adapt=adapt))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                trust = 1.0
                if group["adapt"]:
                    g = g + group["weight_decay"] * p
                    w_norm = torch.linalg.vector_norm(p).item()
                    g_norm = torch.linalg.vector_norm(g).item()
                    if w_norm > 0 and g_norm > 0:
                        trust = group["eeta"] * w_norm / g_norm
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                v = state["momentum_buffer"]
                v.mul_(group["momentum"]).add_(g * (group["lr"] * trust))
                p.sub_(v)


STEPS = 5
LRS = [0.5, 1.0, 2.0, 0.7, 0.2]


def flat(t):
    return [float(x) for x in t.detach().double().reshape(-1).tolist()]


def make_params(dtype, gen):
    """weight (2-D, adapt), zero (2-D all zeros, adapt: trust=1 guard), bias (1-D, excluded)."""
    specs = [("weight", [4, 3], True, False), ("zero", [2, 3], True, True), ("bias", [4], False, False)]
    params = []
    for name, shape, adapt, zero in specs:
        init = torch.zeros(shape, dtype=torch.float64) if zero else torch.randn(shape, generator=gen, dtype=torch.float64)
        grads = [torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(STEPS)]
        params.append(dict(name=name, shape=shape, adapt=adapt, init=init.to(dtype), grads=[g.to(dtype) for g in grads]))
    return params


def run(params, make_opt):
    tensors = [torch.nn.Parameter(p["init"].clone()) for p in params]
    opt = make_opt(tensors, params)
    after = [[] for _ in params]
    for s in range(STEPS):
        for g in opt.param_groups:
            g["lr"] = LRS[s]
        for t, p in zip(tensors, params):
            t.grad = p["grads"][s].clone()
        opt.step()
        for i, t in enumerate(tensors):
            after[i].append(flat(t))
    return [dict(name=p["name"], shape=p["shape"], adapt=p["adapt"], init=flat(p["init"]),
                 grads=[flat(g) for g in p["grads"]], after=a) for p, a in zip(params, after)]


def lars_case(dtype, seed):
    hp = dict(momentum=0.9, weight_decay=0.05, eeta=0.1)
    params = make_params(dtype, torch.Generator().manual_seed(seed))

    def make(tensors, ps):
        adapt = [t for t, p in zip(tensors, ps) if p["adapt"]]
        excluded = [t for t, p in zip(tensors, ps) if not p["adapt"]]
        # The excluded group is given a weight decay on purpose: adapt=False must ignore it.
        return LARS([dict(params=adapt, adapt=True), dict(params=excluded, adapt=False)], lr=LRS[0], **hp)

    return dict(dtype=str(dtype).replace("torch.", ""), lrs=LRS, **hp, params=run(params, make))


def torch_case(kind, seed):
    params = make_params(torch.float64, torch.Generator().manual_seed(seed))
    if kind == "sgd":
        hp = dict(momentum=0.9, weight_decay=0.01)
        make = lambda tensors, ps: torch.optim.SGD(tensors, lr=LRS[0], **hp)
    else:
        hp = dict(weight_decay=0.01)
        make = lambda tensors, ps: torch.optim.Adam(tensors, lr=LRS[0], **hp)
    return dict(dtype="float64", lrs=LRS, **hp, params=run(params, make))


def schedule_case(kind, base, warmup, total, final=1e-6):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    if kind == "cosine":
        def factor(step):  # the reference's lambda, as a factor of base
            if step < warmup:
                return step / warmup
            lr = final + (base - final) * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
            return lr / base
        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    else:
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[10 * total], gamma=0.1)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return dict(kind=kind, base_lr=base, warmup_steps=warmup, total_steps=total, final_lr=final, lrs=lrs)


def main():
    out = dict(
        generator="scripts/gen/gen_optim_reference.py",
        torch_version=torch.__version__,
        lars=lars_case(torch.float64, 1),
        lars_f32=lars_case(torch.float32, 2),
        sgd=torch_case("sgd", 3),
        adam=torch_case("adam", 4),
        schedules=[
            schedule_case("cosine", 0.6, 10, 100),
            schedule_case("cosine", 4.8, 3, 40),
            schedule_case("cosine", 0.3, 0, 25),
            schedule_case("cosine", 1.2, 7, 8),
            schedule_case("constant", 0.6, 0, 20),
        ],
    )
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "tests", "optim", "data", "optim_reference.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    print("wrote", os.path.normpath(path), os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
