#!/usr/bin/env python3
"""Writes tests/models/data/torchvision_keys.json: the state-dict keys and shapes of torchvision's
resnet18/34/50 (fc excluded), so the C++ test checks that flatclr's ImageNet-stem encoders use exactly
torchvision's names and shapes. Run with the virtual environment's PyTorch 2.11 / torchvision 0.26: $FLATCLR_VENV/bin/python scripts/gen/gen_torchvision_keys.py"""
import json
import os

import torchvision

out = {"torchvision": torchvision.__version__}
for arch in ["resnet18", "resnet34", "resnet50"]:
    m = getattr(torchvision.models, arch)()
    out[arch] = [[k, list(v.shape)] for k, v in m.state_dict().items() if not k.startswith("fc.")]
path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "models", "data", "torchvision_keys.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print("wrote", os.path.normpath(path))
