"""Writes checkpoints as PyTorch 2.11 (with numpy 2) saves them, for the C++ torch.save reader
(src/flatclr/io/torch_load.h, tested by tests/io/test_torch_load.cpp and tests/e2e/test_eval_cli.cpp):

  paper_checkpoint_torch2.pth.tar  the FlatCLR paper's checkpoint layout, saved the way its training code saves it
                                   today: batch_size, epoch (the total), model, model_state_dict (an nn.DataParallel
                                   OrderedDict with `module.` keys), optimizer (the paper's LARS after three steps:
                                   its param group holds exclude_from_* lists and its lr is a numpy float64, because
                                   the warmup+cosine LambdaLR computes with np.cos) and scheduler (LambdaLR's state
                                   dict: _last_lr and base_lrs hold numpy float64 values too, the lambda is None).
                                   numpy 2 pickles those scalars as numpy._core.multiarray.scalar.
  paper_checkpoint_numpy1.pth.tar  the same archive with the scalars named numpy.core.multiarray.scalar, which is what
                                   numpy 1.x writes (the only byte difference between the two: the module name in the
                                   pickle's GLOBAL opcodes, which protocol 2 writes as text).
  torch2_expected.json             the encoder tensors (dtype, shape, float64 sum, FNV-1a 64 of the bytes), the
                                   momentum buffers, the param group and the scheduler's values.

The encoder is the small flatclr-shaped ResNet-18 of gen_paper_checkpoint.py (width 1/32, CIFAR stem).
Run with the virtual environment's Python (PyTorch 2.11): $FLATCLR_VENV/bin/python scripts/gen/gen_torch2_checkpoints.py
"""
import io
import json
import math
import os
import sys
import zipfile

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_paper_checkpoint import OUT, CifarResNet18, describe, exact  # noqa: E402


class PaperLars(torch.optim.Optimizer):
    """The paper's optimizer/lars.py as its state_dict sees it: the same defaults and param-group keys, and its
    update (g += wd*p; trust = eeta*|p|/|g|; v = m*v + lr*trust*g; p -= v)."""

    def __init__(self, params, lr, momentum=0.9, use_nesterov=False, weight_decay=0.0,
                 exclude_from_weight_decay=None, exclude_from_layer_adaptation=None, classic_momentum=True,
                 eeta=0.001):
        defaults = dict(lr=lr, momentum=momentum, use_nesterov=use_nesterov, weight_decay=weight_decay,
                        exclude_from_weight_decay=exclude_from_weight_decay,
                        exclude_from_layer_adaptation=exclude_from_layer_adaptation,
                        classic_momentum=classic_momentum, eeta=eeta)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + group["weight_decay"] * p
                p_norm, g_norm = torch.norm(p), torch.norm(g)
                trust = torch.where(p_norm >= 0, torch.where(g_norm >= 0, group["eeta"] * p_norm / g_norm,
                                                             torch.ones_like(p_norm)), torch.ones_like(p_norm))
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                v = state["momentum_buffer"]
                v.mul_(group["momentum"]).add_(group["lr"] * trust * g)
                p.sub_(v)


def main():
    torch.manual_seed(2111)
    model = CifarResNet18()
    net = nn.DataParallel(model)  # without GPUs it only adds the `module.` prefix, as in the paper's runs
    optimizer = PaperLars(net.parameters(), lr=0.6, weight_decay=1e-6,
                          exclude_from_weight_decay=["batch_normalization", "bias"])
    warmup, total = 2, 10

    def lr_lambda(step):  # the paper's cosine schedule: numpy arithmetic, so the factor is a numpy float64
        if step < warmup:
            return np.float64(step) / warmup
        return 1e-6 / 0.6 + (1 - 1e-6 / 0.6) * 0.5 * (1 + np.cos(np.pi * (step - warmup) / (total - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lr_lambda)
    for _ in range(3):
        h, z = net(torch.rand(4, 3, 8, 8))
        loss = nn.functional.normalize(z, dim=1)[:, :5].sum() + 0.01 * h.pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()

    state = net.state_dict()
    opt_state = optimizer.state_dict()
    sched_state = scheduler.state_dict()
    group = opt_state["param_groups"][0]
    assert isinstance(group["lr"], np.float64), type(group["lr"])
    assert all(isinstance(v, np.float64) for v in sched_state["_last_lr"]), sched_state
    ckpt = {"batch_size": 512, "epoch": 100, "model": "res18", "model_state_dict": state,
            "optimizer": opt_state, "scheduler": sched_state}
    path2 = os.path.join(OUT, "paper_checkpoint_torch2.pth.tar")
    torch.save(ckpt, path2)
    src = zipfile.ZipFile(path2)
    pkl = next(n for n in src.namelist() if n.endswith("/data.pkl"))
    assert b"numpy._core.multiarray\nscalar" in src.read(pkl)
    prefix = pkl[: -len("data.pkl")]

    # numpy 1.x: the same archive, the scalars' module renamed (entries rewritten in order, stored uncompressed).
    path1 = os.path.join(OUT, "paper_checkpoint_numpy1.pth.tar")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            name = "paper_checkpoint_numpy1.pth/" + info.filename[len(prefix):]
            if name.endswith("/data.pkl"):
                data = data.replace(b"cnumpy._core.multiarray\nscalar\n", b"cnumpy.core.multiarray\nscalar\n")
                assert b"numpy._core" not in data
            dst.writestr(zipfile.ZipInfo(name), data)
    with open(path1, "wb") as f:
        f.write(buf.getvalue())

    scalar = lambda v: exact(float(v)) if isinstance(v, (float, np.floating)) else v  # noqa: E731
    expected = {
        "batch_size": 512,
        "epoch": 100,
        "model": "res18",
        "state_dict": [[k, describe(v, False)] for k, v in state.items()],
        "momentum": [[i, describe(s["momentum_buffer"], False)] for i, s in sorted(opt_state["state"].items())],
        "param_group": {k: scalar(v) for k, v in group.items() if k != "params"},
        "params": group["params"],
        "scheduler": {k: ([scalar(x) for x in v] if isinstance(v, list) else scalar(v))
                      for k, v in sched_state.items()},
    }
    with open(os.path.join(OUT, "torch2_expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote", path2, path1, "torch", torch.__version__, "numpy", np.__version__)


if __name__ == "__main__":
    main()
