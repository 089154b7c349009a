#!/usr/bin/python3
"""Writes small torch.save files and their expected contents under tests/io/data/, for the C++ reader of
torch.save files (src/flatclr/io/torch_load.h, tested by tests/io/test_torch_load.cpp):

  paper_checkpoint.pth.tar   the FlatCLR paper's checkpoint layout (reference section 8): batch_size, epoch (the
                             total), model ('res18'), model_state_dict (a real nn.DataParallel state dict, so an
                             OrderedDict with `module.` keys and its `_metadata`), optimizer (a real torch.optim.SGD
                             state dict after one step, with momentum buffers), scheduler (a real LambdaLR state dict:
                             its lambda is saved as None, as in the paper's files). The encoder is flatclr's res18 with
                             the CIFAR stem and the nonlinear head at width_multiplier 1/32 (stem 2 channels, layers
                             2/4/8/16, head 16 -> 16 -> 128), built here with torchvision's BasicBlock in flatclr's
                             registration order, so that the file stays small (~110 KB).
  paper_checkpoint_noprefix.pth.tar
                             the same encoder without `module.`, an optimizer state dict before any step, and one-item
                             dicts/lists (pickled with SETITEM/APPEND).
  values_proto2.pt           a dict of every dtype used for parameters and buffers, views sharing one storage
  values_proto4.pt           (transpose, slice, column, storage offsets), a Parameter, nested lists/tuples/dicts,
                             None/True/False, big ints (LONG1), unicode, bytes, sets, complex, torch.device,
                             torch.Size, a list referenced twice; once with torch.save's default pickle protocol 2,
                             once with protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL, SHORT_BINUNICODE, EMPTY_SET, ...).
  legacy_format.pt           the pre-1.6 (non-zip) format, which the reader refuses with a clear message.
  unknown_global.pt          a dict holding an argparse.Namespace, a class the reader does not know.
  torch_load_expected.json   for every tensor: dtype, shape, stride, storage offset, requires_grad, the float64 sum,
                             the first elements and the FNV-1a 64 hash of its bytes in contiguous order; plus the
                             plain values.

Generated once with PyTorch 1.13 (Debian's python3-torch, the engine of earlier flatclr versions) and kept as the
fixtures of files that PyTorch 1.x wrote; gen_torch2_checkpoints.py makes those of PyTorch 2.11."""
import argparse
import collections
import json
import math
import os

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "io", "data")
WIDTH = 1.0 / 32


def width(base):
    return max(1, int(round(base * WIDTH)))


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    def forward(self, x):
        return (x - self.mean.view(1, 3, 1, 1)) / self.std.view(1, 3, 1, 1)


class LinearLayers(nn.Module):
    def __init__(self, dim, out_dim):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, out_dim))


class ProjectionHead(nn.Module):
    def __init__(self, dim, out_dim):
        super().__init__()
        self.linear_layers = LinearLayers(dim, out_dim)

    def forward(self, h):
        return self.linear_layers.net(h)


class CifarResNet18(nn.Module):
    """flatclr's res18 with the CIFAR stem, in flatclr's registration order (normalize first)."""

    def __init__(self):
        super().__init__()
        self.normalize = Normalize([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])
        stem = width(64)
        self.conv1 = nn.Conv2d(3, stem, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.in_planes = stem
        self.layer1 = self._make_layer(width(64), 1)
        self.layer2 = self._make_layer(width(128), 2)
        self.layer3 = self._make_layer(width(256), 2)
        self.layer4 = self._make_layer(width(512), 2)
        self.fc = ProjectionHead(self.in_planes, 128)

    def _make_layer(self, planes, stride):
        blocks = []
        for b in range(2):
            s = stride if b == 0 else 1
            down = None
            if s != 1 or self.in_planes != planes:
                down = nn.Sequential(nn.Conv2d(self.in_planes, planes, 1, s, bias=False), nn.BatchNorm2d(planes))
            blocks.append(BasicBlock(self.in_planes, planes, s, down))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(self.normalize(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        h = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return h, self.fc(h)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def exact(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return float(v)


def describe(t, full=True):
    """full=False (the paper checkpoint, all contiguous): dtype, shape, sum and hash only, to keep the JSON small."""
    requires_grad = bool(t.requires_grad)
    t = t.detach()
    flat = t.contiguous().reshape(-1)
    raw = flat.view(torch.int16) if flat.dtype == torch.bfloat16 else flat
    as_double = flat.double() if flat.dtype != torch.bool else flat.to(torch.float64)
    d = {
        "dtype": str(t.dtype).replace("torch.", ""),
        "shape": list(t.shape),
        "sum": exact(as_double.sum().item()),
        "fnv1a64": fnv1a64(raw.numpy().tobytes()),
    }
    if not full:
        assert t.is_contiguous() and t.storage_offset() == 0 and not requires_grad
        return d
    d.update({
        "stride": list(t.stride()),
        "offset": t.storage_offset(),
        "requires_grad": requires_grad,
        "first": [exact(v) for v in (flat[:4].tolist() if flat.dtype != torch.bfloat16 else flat[:4].float().tolist())],
    })
    return d


def paper_checkpoints(expected):
    torch.manual_seed(2107)
    model = CifarResNet18()
    # One real training step: BN running stats move and num_batches_tracked becomes 1, SGD gets momentum buffers.
    net = nn.DataParallel(model)  # on a machine without GPUs it only adds the `module.` prefix, as in the paper
    optimizer = torch.optim.SGD(net.parameters(), lr=0.6, momentum=0.9, weight_decay=1e-6)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lambda step: 0.5 * (1 + math.cos(step / 7)))
    x = torch.rand(4, 3, 8, 8)
    h, z = net(x)
    loss = nn.functional.normalize(z, dim=1)[:, :5].sum() + 0.01 * h.pow(2).sum()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()

    state = net.state_dict()
    assert isinstance(state, collections.OrderedDict) and all(k.startswith("module.") for k in state)
    opt_state = optimizer.state_dict()
    sched_state = scheduler.state_dict()
    assert sched_state["lr_lambdas"] == [None], sched_state
    ckpt = {
        "batch_size": 512,
        "epoch": 100,
        "model": "res18",
        "model_state_dict": state,
        "optimizer": opt_state,
        "scheduler": sched_state,
    }
    torch.save(ckpt, os.path.join(OUT, "paper_checkpoint.pth.tar"))

    expected["paper"] = {
        "batch_size": 512,
        "epoch": 100,
        "model": "res18",
        "state_dict": [[k, describe(v, False)] for k, v in state.items()],
        "momentum": [[i, describe(s["momentum_buffer"], False)] for i, s in sorted(opt_state["state"].items())],
        "param_group": {k: exact(v) for k, v in opt_state["param_groups"][0].items() if k != "params" and v is not None},
        "param_group_none": [k for k, v in opt_state["param_groups"][0].items() if v is None],
        "params": opt_state["param_groups"][0]["params"],
        "scheduler": {k: (v if isinstance(v, list) else exact(v)) for k, v in sched_state.items()},
    }

    plain = collections.OrderedDict((k[len("module."):], v) for k, v in state.items())
    fresh = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    ckpt_b = {
        "batch_size": 256,
        "epoch": 2,
        "model": "res18",
        "model_state_dict": plain,
        "optimizer": fresh.state_dict(),
        "one_item_dict": {"only": 1},
        "one_item_list": ["x"],
        "nested_single": [{"k": [2.5]}],
    }
    torch.save(ckpt_b, os.path.join(OUT, "paper_checkpoint_noprefix.pth.tar"))


def values(expected):
    g = torch.Generator().manual_seed(11)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5 - 3
    shared_list = [7, "shared"]
    param = nn.Parameter(torch.randn(2, 3, generator=g))
    tensors = collections.OrderedDict(
        [
            ("f32", torch.randn(3, 5, generator=g)),
            ("f64", torch.randn(4, 2, generator=g, dtype=torch.float64)),
            ("f16", torch.randn(7, generator=g).half()),
            ("bf16", torch.randn(2, 3, generator=g).bfloat16()),
            ("i64", torch.tensor([-(2**62), -1, 0, 5, 2**62 + 3], dtype=torch.int64)),
            ("i32", torch.tensor([[-(2**31), 2**31 - 1], [3, -4]], dtype=torch.int32)),
            ("i16", torch.tensor([-300, 300], dtype=torch.int16)),
            ("i8", torch.tensor([-128, 127, 0], dtype=torch.int8)),
            ("u8", torch.tensor([0, 1, 200, 255], dtype=torch.uint8)),
            ("bool", torch.tensor([True, False, True, True])),
            ("scalar", torch.tensor(3.25)),
            ("empty", torch.zeros(0, 3)),
            ("base", base),
            ("transposed", base.t()),
            ("slice", base[1:3, 2:5]),
            ("column", base[:, 4]),
            ("param", param),
        ]
    )
    obj = {
        "tensors": tensors,
        "ints": [0, 1, -1, 255, 256, 65535, 65536, 2**31 - 1, -(2**31), 2**31, 2**40, -(2**40), 2**63 - 1, -(2**63)],
        "floats": [0.1, -2.5e-300, 1e300, float("inf"), -0.0],
        "strings": ["", "ascii", "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c \U0001f600"],
        "nested": [1, [2, (3, "x")], (), [], {}, (None, True, False)],
        "none": None,
        "true": True,
        "false": False,
        "bytes": b"\x00\x01\xfe\xff",
        "empty_bytes": b"",
        "set": {3},
        "complex": 1.5 - 2j,
        "cpu": torch.device("cpu"),
        "cuda1": torch.device("cuda", 1),
        "size": torch.Size([2, 3]),
        "int_keys": {0: "a", 5: "b"},
        "twice": [shared_list, shared_list],
    }
    torch.save(obj, os.path.join(OUT, "values_proto2.pt"))
    torch.save(obj, os.path.join(OUT, "values_proto4.pt"), pickle_protocol=4)
    expected["values"] = {
        "tensors": [[k, describe(v)] for k, v in tensors.items()],
        "ints": obj["ints"],
        "floats": [exact(v) for v in obj["floats"]],
        "strings": obj["strings"],
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {"torch": torch.__version__}
    paper_checkpoints(expected)
    values(expected)
    torch.save({"a": torch.ones(2)}, os.path.join(OUT, "legacy_format.pt"), _use_new_zipfile_serialization=False)
    torch.save({"args": argparse.Namespace(lr=0.1)}, os.path.join(OUT, "unknown_global.pt"))
    with open(os.path.join(OUT, "torch_load_expected.json"), "w") as f:
        json.dump(expected, f, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
