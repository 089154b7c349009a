"""Reads a flatclr checkpoint with PyTorch's torch.load at its defaults (weights_only=True since 2.6) and loads
its backbone into torchvision's resnet18 or resnet50 (used by tests/io/test_checkpoint.cpp).
usage: read_checkpoint.py CHECKPOINT ARCH(resnet18|resnet50)
Prints conv1_sum=<float>, momentum_sum=<float> (of the optimizer's momentum buffers) and torchvision_ok."""
import json
import sys

import torch
import torchvision

ckpt = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
assert isinstance(ckpt, dict), type(ckpt)
for key in ["batch_size", "epoch", "model", "model_state_dict", "optimizer", "scheduler", "config", "global_step"]:
    assert key in ckpt, key
assert isinstance(ckpt["epoch"], int) and isinstance(ckpt["model"], str), (ckpt["epoch"], ckpt["model"])
json.loads(ckpt["config"])
opt = ckpt["optimizer"]
assert set(opt) == {"state", "param_groups"}, opt.keys()
for group in opt["param_groups"]:
    assert isinstance(group["lr"], float), group
    assert all(isinstance(i, int) for i in group["params"]), group["params"]
momentum = sum(s["momentum_buffer"].double().sum().item() for s in opt["state"].values())
sd = ckpt["model_state_dict"]
backbone = {k: v for k, v in sd.items() if not k.startswith("fc.") and not k.startswith("normalize.")}
net = getattr(torchvision.models, sys.argv[2])()
result = net.load_state_dict(backbone, strict=False)
assert sorted(result.missing_keys) == ["fc.bias", "fc.weight"], result
assert not result.unexpected_keys, result
assert torch.equal(net.conv1.weight, sd["conv1.weight"])
print("conv1_sum=%.9g" % sd["conv1.weight"].double().sum().item())
print("momentum_sum=%.9g" % momentum)
print("torchvision_ok")
