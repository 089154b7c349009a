#!/usr/bin/env python3
"""Writes tests/data/data/augment_reference.json: small deterministic images and what torchvision's tensor ops
(torchvision.transforms.functional, float images in [0, 1]) make of them with fixed parameters, so the C++ test
checks flatclr::data's batched augmentation (src/flatclr/data/augment_batch.h) op by op, and the whole pipeline
for a few parameter rows, against torchvision itself.
Run with the virtual environment's PyTorch 2.11 / torchvision 0.26: $FLATCLR_VENV/bin/python scripts/gen/gen_augment_reference.py"""
import json
import os

import torch
import torchvision
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode


def number(v):
    # 9 significant digits round-trip a float32 exactly and keep the file small.
    return float("%.9g" % v)


def flat(t):
    return [number(v) for v in t.reshape(-1).tolist()]


def make_images():
    g = torch.Generator().manual_seed(20240611)
    a = torch.rand(3, 8, 8, generator=g)
    b = torch.rand(3, 12, 10, generator=g)
    # Values on a coarse grid: many ties between channels and grey pixels (max == min), which exercise every
    # branch of the rgb <-> hsv conversion; plus pure black and white pixels.
    c = torch.randint(0, 4, (3, 6, 7), generator=g).float() / 3.0
    c[:, 0, 0] = 0.0
    c[:, 0, 1] = 1.0
    c[:, 1, 1] = torch.tensor([1.0, 0.0, 0.0])
    c[:, 1, 2] = torch.tensor([0.0, 1.0, 1.0])
    return {"a": a, "b": b, "c": c}


def main():
    images = make_images()
    cases = []

    def add(op, name, params, out):
        cases.append({"op": op, "image": name, "params": params, "shape": list(out.shape), "out": flat(out)})

    # RandomResizedCrop's resize: crop boxes (top, left, height, width) and output sizes covering identity, down-
    # and upscaling, non-square crops, crops touching each border and 1-pixel crops.
    crops = {
        "a": [(0, 0, 8, 8, 8), (0, 0, 8, 8, 5), (0, 0, 8, 8, 13), (2, 3, 3, 5, 8), (5, 0, 3, 8, 6), (0, 6, 2, 2, 7),
              (1, 1, 1, 1, 4), (0, 0, 7, 3, 9), (4, 4, 4, 4, 3)],
        "b": [(0, 0, 12, 10, 7), (3, 2, 9, 8, 16), (11, 9, 1, 1, 3), (4, 0, 5, 10, 10), (0, 7, 12, 3, 5),
              (6, 5, 6, 5, 11)],
        "c": [(0, 0, 6, 7, 9), (1, 2, 4, 4, 4)],
    }
    for name, boxes in crops.items():
        for top, left, h, w, size in boxes:
            out = F.resized_crop(images[name], top, left, h, w, [size, size], InterpolationMode.BILINEAR,
                                 antialias=False)
            add("resized_crop", name, {"box": [top, left, h, w], "size": size}, out)
    for name, img in images.items():
        add("hflip", name, {}, F.hflip(img))
        add("rgb_to_grayscale", name, {}, F.rgb_to_grayscale(img, num_output_channels=1))
        for f in [0.0, 0.5, 1.0, 1.375, 1.8]:
            add("adjust_brightness", name, {"factor": f}, F.adjust_brightness(img, f))
        for f in [0.0, 0.6, 1.0, 1.4, 2.0]:
            add("adjust_contrast", name, {"factor": f}, F.adjust_contrast(img, f))
        for f in [0.0, 0.6, 1.0, 1.4, 3.0]:
            add("adjust_saturation", name, {"factor": f}, F.adjust_saturation(img, f))
        for f in [-0.5, -0.23, -0.1, 0.0, 0.05, 0.2, 0.5]:
            add("adjust_hue", name, {"factor": f}, F.adjust_hue(img, f))
        for k, sigma in [(1, 0.5), (3, 0.1), (3, 0.7), (3, 2.0), (5, 1.3)]:
            add("gaussian_blur", name, {"kernel": k, "sigma": sigma}, F.gaussian_blur(img, [k, k], [sigma, sigma]))

    # The whole pipeline with fixed per-image parameters, in torchvision's order (RandomResizedCrop, flip,
    # ColorJitter in the given op order, grayscale, blur), for one batch of copies of image b.
    size, kernel = 8, 3
    rows = [
        # box, flip, jitter, factors (b, c, s, hue), order, gray, blur, sigma
        ([0, 0, 12, 10], False, False, [1.2, 0.8, 1.1, 0.05], [0, 1, 2, 3], False, False, 1.0),
        ([3, 2, 9, 8], True, True, [1.3, 0.7, 1.4, -0.08], [3, 2, 1, 0], False, False, 0.5),
        ([1, 4, 5, 6], False, True, [0.65, 1.35, 0.6, 0.1], [1, 3, 0, 2], True, False, 0.5),
        ([6, 0, 6, 7], True, True, [1.1, 1.2, 1.3, 0.02], [2, 0, 3, 1], False, True, 1.7),
        ([0, 5, 12, 5], False, False, [1.0, 1.0, 1.0, 0.0], [0, 1, 2, 3], True, True, 0.3),
        ([2, 2, 3, 3], True, True, [0.9, 1.1, 0.8, -0.1], [2, 3, 1, 0], False, True, 0.9),
    ]
    outs = []
    for box, flip, jitter, factors, order, gray, blur, sigma in rows:
        x = F.resized_crop(images["b"], *box, [size, size], InterpolationMode.BILINEAR, antialias=False)
        if flip:
            x = F.hflip(x)
        if jitter:  # ColorJitter.forward with these parameters
            for fn_id in order:
                if fn_id == 0:
                    x = F.adjust_brightness(x, factors[0])
                elif fn_id == 1:
                    x = F.adjust_contrast(x, factors[1])
                elif fn_id == 2:
                    x = F.adjust_saturation(x, factors[2])
                else:
                    x = F.adjust_hue(x, factors[3])
        if gray:
            x = F.rgb_to_grayscale(x, num_output_channels=3)
        if blur:
            x = F.gaussian_blur(x, [kernel, kernel], [sigma, sigma])
        outs.append(x)
    pipeline = {
        "image": "b",
        "size": size,
        "kernel": kernel,
        "rows": [{"box": r[0], "flip": r[1], "jitter": r[2], "factors": r[3], "order": r[4], "gray": r[5],
                  "blur": r[6], "sigma": r[7]} for r in rows],
        "shape": [len(rows), 3, size, size],
        "out": flat(torch.stack(outs)),
    }

    out = {
        "torchvision": torchvision.__version__,
        "torch": torch.__version__,
        "images": {k: {"shape": list(v.shape), "data": flat(v)} for k, v in images.items()},
        "cases": cases,
        "pipeline": pipeline,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "data", "augment_reference.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", os.path.normpath(path), len(cases), "cases")


if __name__ == "__main__":
    main()
