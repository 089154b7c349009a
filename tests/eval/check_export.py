"""Loads a `flatclr export` file the way a PyTorch user would, into torchvision's ResNet, and checks it computes
the same features as flatclr (used by tests/eval/test_export_encoder.cpp).
usage: check_export.py EXPORT(.pth|.safetensors) TORCHVISION_NAME STEM(cifar|imagenet) REFERENCE.pt
REFERENCE.pt (written by the test with flatclr's torch.save writer) holds x ([B, 3, H, W] in [0, 1]), h (flatclr's
features of x), mean and std (the encoder's input normalisation).
Prints one JSON line: missing and unexpected keys, the max |difference| of the features, and the metadata."""
import json
import sys

import torch
import torchvision

path, name, stem, reference = sys.argv[1:5]
if path.endswith(".safetensors"):
    from safetensors import safe_open
    from safetensors.torch import load_file

    state = load_file(path)
    with safe_open(path, "pt") as f:
        metadata = f.metadata()
else:
    state = torch.load(path, weights_only=True)  # PyTorch's default, spelled out
    metadata = {}
net = getattr(torchvision.models, name)()
if stem == "cifar":
    net.conv1 = torch.nn.Conv2d(3, net.conv1.out_channels, 3, 1, 1, bias=False)
    net.maxpool = torch.nn.Identity()
result = net.load_state_dict(state, strict=False)
net.fc = torch.nn.Identity()
net.eval()
ref = torch.load(reference, weights_only=True)
x = (ref["x"] - ref["mean"].view(1, 3, 1, 1)) / ref["std"].view(1, 3, 1, 1)
with torch.no_grad():
    h = net(x)
print(json.dumps({
    "missing": sorted(result.missing_keys),
    "unexpected": sorted(result.unexpected_keys),
    "max_abs_diff": (h - ref["h"]).abs().max().item(),
    "max_abs_h": ref["h"].abs().max().item(),
    "metadata": metadata,
}))
