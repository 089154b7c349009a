#!/usr/bin/python3
"""Reads a flatclr checkpoint with Python's torch.load and loads its backbone into torchvision's resnet18
(used by tests/train/test_checkpoint.cpp). Prints conv1_sum=<float> and torchvision_ok."""
import json
import sys

import torch
import torchvision

ckpt = torch.load(sys.argv[1], map_location="cpu")
assert isinstance(ckpt, dict), type(ckpt)
for key in ["batch_size", "epoch", "model", "model_state_dict", "optimizer", "scheduler", "config"]:
    assert key in ckpt, key
json.loads(ckpt["config"])
sd = ckpt["model_state_dict"]
backbone = {k: v for k, v in sd.items() if not k.startswith("fc.") and not k.startswith("normalize.")}
net = torchvision.models.resnet18()
result = net.load_state_dict(backbone, strict=False)
assert sorted(result.missing_keys) == ["fc.bias", "fc.weight"], result
assert not result.unexpected_keys, result
assert torch.equal(net.conv1.weight, sd["conv1.weight"])
print("conv1_sum=%.9g" % sd["conv1.weight"].double().sum().item())
print("torchvision_ok")
