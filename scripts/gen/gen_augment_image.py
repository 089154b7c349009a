#!/usr/bin/env python3
"""Writes tests/data/data/augment_image_reference.json: two small uint8 RGB images and what torchvision 0.14 makes
of them with FIXED parameters, for the per-image SimCLR pipeline (src/flatclr/data/augment_image.h):
  - resized crops with torchvision's tensor resize and antialias=True (float image = uint8 / 255), down- and
    upscaling, with and without flip; and the same crops through PIL (the reference's path: PIL bilinear
    resize of the uint8 image), to report how far the float pipeline is from PIL's;
  - ColorJitter's four ops, grayscale and Gaussian blur on float images (torchvision.transforms.functional);
  - the whole pipeline (crop, flip, jitter in a given order, grayscale, blur) for fixed parameter rows.
Run with the virtual environment's PyTorch 2.11 / torchvision 0.26: $FLATCLR_VENV/bin/python scripts/gen/gen_augment_image.py"""
import json
import os

import numpy as np
import torch
import torchvision.transforms.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "data",
                   "augment_image_reference.json")


def number(v):
    return float("%.8g" % v)  # 8 digits: 1e-8 relative, far below the tests' tolerances


def flat(t):
    return [number(v) for v in t.reshape(-1).tolist()]


def f32(v):
    return float(np.float32(v))


def make_images():
    g = torch.Generator().manual_seed(7)
    # Smooth content plus noise (natural-ish), and an image with flat regions, pure colours and greys.
    yy, xx = torch.meshgrid(torch.arange(30.0), torch.arange(41.0), indexing="ij")
    base = torch.stack([128 + 100 * torch.sin(xx / 5), 128 + 90 * torch.cos(yy / 4), (xx * 3 + yy * 5) % 256])
    a = (base + torch.randint(-20, 21, base.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    b = (torch.randint(0, 4, (3, 12, 10), generator=g) * 85).to(torch.uint8)
    b[:, 0, 0] = 0
    b[:, 0, 1] = 255
    b[:, 1, 1] = torch.tensor([255, 0, 0], dtype=torch.uint8)
    b[:, 2, 2] = torch.tensor([0, 255, 255], dtype=torch.uint8)
    c = a[:, 4:13, 6:17].clone()
    return {"a": a, "b": b, "c": c}


def main():
    images = make_images()
    floats = {k: v.float() / 255.0 for k, v in images.items()}
    cases = []

    def add(op, name, params, out, **extra):
        c = {"op": op, "image": name, "params": params, "shape": list(out.shape), "out": flat(out)}
        c.update(extra)
        cases.append(c)

    crops = {
        "a": [(0, 0, 30, 41, 16, False), (3, 5, 20, 25, 9, True), (10, 20, 7, 9, 16, False), (0, 30, 30, 11, 13, True),
              (29, 40, 1, 1, 4, False), (2, 1, 25, 30, 30, False), (5, 7, 13, 13, 5, True)],
        "b": [(0, 0, 12, 10, 16, False), (1, 2, 7, 5, 11, True), (4, 3, 8, 7, 3, False)],
    }
    for name, boxes in crops.items():
        pil = Image.fromarray(images[name].permute(1, 2, 0).numpy())
        for top, left, h, w, size, flip in boxes:
            out = F.resized_crop(floats[name], top, left, h, w, [size, size], InterpolationMode.BILINEAR,
                                 antialias=True)
            p = F.resized_crop(pil, top, left, h, w, [size, size], InterpolationMode.BILINEAR)
            p = torch.from_numpy(np.asarray(p).copy()).permute(2, 0, 1)  # uint8 CHW
            if flip:
                out, p = F.hflip(out), F.hflip(p)
            add("resized_crop", name, {"box": [top, left, h, w], "size": size, "flip": flip}, out, pil_u8=p.reshape(-1).tolist())

    # The colour ops and the blur on small float images: b, and c = a 9x11 patch of a (natural content).
    op_images = {"b": floats["b"], "c": floats["c"]}
    for name, img in op_images.items():
        add("rgb_to_grayscale", name, {}, F.rgb_to_grayscale(img, num_output_channels=3))
        for f in [0.0, 0.35, 1.0, 1.42, 1.8]:
            add("adjust_brightness", name, {"factor": f32(f)}, F.adjust_brightness(img, f32(f)))
        for f in [0.0, 0.6, 1.0, 1.37, 1.8]:
            add("adjust_contrast", name, {"factor": f32(f)}, F.adjust_contrast(img, f32(f)))
        for f in [0.0, 0.6, 1.0, 1.43, 1.8]:
            add("adjust_saturation", name, {"factor": f32(f)}, F.adjust_saturation(img, f32(f)))
        for f in [-0.2, -0.1, -0.013, 0.0, 0.05, 0.17, 0.2, 0.5]:
            add("adjust_hue", name, {"factor": f32(f)}, F.adjust_hue(img, f32(f)))
        # (13, 0.5) and (13, 0.8): radius 6 > 6.2 sigma, where flatclr leaves out the negligible outer taps.
        for k, sigma in [(3, 0.1), (3, 0.8), (5, 1.3), (7, 2.0), (9, 0.55), (13, 0.5), (13, 0.8)]:
            add("gaussian_blur", name, {"kernel": k, "sigma": f32(sigma)},
                F.gaussian_blur(img, [k, k], [f32(sigma), f32(sigma)]))

    # Whole pipeline: crop (antialiased) -> flip -> jitter ops in `order` (0 b, 1 c, 2 s, 3 h) -> gray -> blur.
    size, kernel = 10, 3
    rows = [
        ([0, 0, 30, 41], False, True, [1.2, 0.8, 1.1, 0.05], [0, 1, 2, 3], False, False, 1.0),
        ([3, 2, 20, 30], True, True, [1.3, 0.7, 1.4, -0.08], [3, 2, 1, 0], False, True, 0.5),
        ([10, 5, 12, 15], False, True, [0.6, 1.5, 0.3, 0.2], [2, 0, 3, 1], True, True, 1.7),
        ([0, 10, 25, 31], True, False, [1.0, 1.0, 1.0, 0.0], [1, 3, 0, 2], True, False, 0.9),
        ([5, 5, 6, 6], False, True, [0.9, 1.2, 0.0, -0.15], [1, 0, 3, 2], False, True, 0.2),
    ]
    ops = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue]
    pipeline = []
    for box, flip, jitter, factors, order, gray, blur, sigma in rows:
        factors = [f32(v) for v in factors]
        sigma = f32(sigma)
        x = F.resized_crop(floats["a"], *box, [size, size], InterpolationMode.BILINEAR, antialias=True)
        if flip:
            x = F.hflip(x)
        if jitter:
            for op in order:
                x = ops[op](x, factors[op])
        if gray:
            x = F.rgb_to_grayscale(x, num_output_channels=3)
        if blur:
            x = F.gaussian_blur(x, [kernel, kernel], [sigma, sigma])
        pipeline.append({"box": box, "flip": flip, "jitter": jitter, "factors": factors, "order": order,
                         "gray": gray, "blur": blur, "sigma": sigma, "out": flat(x)})

    ref = {
        "torchvision": __import__("torchvision").__version__,
        "images": {k: {"shape": list(v.shape), "chw": v.reshape(-1).tolist()} for k, v in images.items()},
        "cases": cases,
        "pipeline": {"image": "a", "size": size, "kernel": kernel, "rows": pipeline},
    }
    with open(OUT, "w") as f:
        json.dump(ref, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
