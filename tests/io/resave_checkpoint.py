"""Loads a flatclr checkpoint with PyTorch's torch.load (weights_only=True) and saves it again with torch.save's
defaults, its state dict turned into what nn.DataParallel gives (an OrderedDict with `module.` keys), as a user's
Python code or the paper's would. usage: resave_checkpoint.py IN OUT"""
import collections
import sys

import torch

ckpt = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
ckpt["model_state_dict"] = collections.OrderedDict(("module." + k, v) for k, v in ckpt["model_state_dict"].items())
torch.save(ckpt, sys.argv[2])
