#!/usr/bin/env python3
"""Reference values for tests/optim/test_grad_scaler.cpp (run with the virtual environment's PyTorch 2.11:
$FLATCLR_VENV/bin/python; output is checked in).

Writes tests/optim/data/grad_scaler_reference.json: PyTorch's own torch.amp.GradScaler("cpu") with
init_scale 1024, growth_interval 3, driving plain SGD (lr 0.1) on two float32 tensors over 12 steps. The
loss is sum(c_i * w_i) for seeded coefficients c; at steps 2, 3 and 8 one coefficient is Inf or NaN, so that
the scaled gradients overflow and the step must be skipped. Per step: the gradients as PyTorch's backward
left them (scaled), the gradients after unscale_, found_inf, whether the weights changed, the weights after
the step, and the scale and growth tracker after update(). Floats are written with repr() (exact).
"""
import json
import math
import os

import torch

torch.manual_seed(7)
shapes = [[3], [2, 2]]
w = [torch.randn(s, dtype=torch.float32, requires_grad=True) for s in shapes]
init = [p.detach().clone() for p in w]
opt = torch.optim.SGD(w, lr=0.1)
scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)
bad = {2: (0, 1, math.inf), 3: (1, 3, math.nan), 8: (0, 0, -math.inf)}
steps = []
for step in range(12):
    coeffs = [torch.randn(s, dtype=torch.float32) for s in shapes]
    if step in bad:
        i, j, v = bad[step]
        coeffs[i].view(-1)[j] = v
    opt.zero_grad()
    loss = sum((c * p).sum() for c, p in zip(coeffs, w))
    scaler.scale(loss).backward()
    scaled = [p.grad.detach().clone() for p in w]
    before = [p.detach().clone() for p in w]
    scaler.unscale_(opt)
    unscaled = [p.grad.detach().clone() for p in w]
    found_inf = sum(v.item() for v in scaler._found_inf_per_device(opt).values())
    scaler.step(opt)
    stepped = any(not torch.equal(a, p.detach()) for a, p in zip(before, w))
    scaler.update()
    steps.append({
        "coeffs": [c.view(-1).tolist() for c in coeffs],
        "scaled_grads": [g.view(-1).tolist() for g in scaled],
        "unscaled_grads": [g.view(-1).tolist() for g in unscaled],
        "found_inf": found_inf > 0,
        "stepped": stepped,
        "weights": [p.detach().view(-1).tolist() for p in w],
        "scale": scaler.get_scale(),
        "growth_tracker": scaler.state_dict()["_growth_tracker"],
    })

out = {"shapes": shapes, "init": [p.view(-1).tolist() for p in init], "lr": 0.1, "init_scale": 1024.0,
       "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 3, "steps": steps,
       "state_dict": scaler.state_dict()}


def clean(v):  # JSON has no Inf/NaN: write them as strings
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if isinstance(v, list):
        return [clean(x) for x in v]
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    return v


path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "optim", "data", "grad_scaler_reference.json")
with open(path, "w") as f:
    json.dump(clean(out), f, indent=1)
    f.write("\n")
print("wrote", os.path.relpath(path), "final scale", scaler.get_scale())
