#!/usr/bin/env python3
"""Baseline of bench/bench_data_pipeline.cpp: the reference's per-image SimCLR pipeline with
torchvision/PIL, one thread, timed over a list of image files.
  pil_pipeline.py make-large SRC_LIST DST_DIR N W H   upscale the first N files of SRC_LIST (bicubic) to W x H JPEGs
  pil_pipeline.py run FILE_LIST SIZE S BLUR REPS      images/s of load (ImageFolder's pil_loader) + two views
  pil_pipeline.py crops FILE_LIST RAW...              each RAW ([N, 3, 224, 224] uint8, flatclr's evaluation
                                                      crops of the listed files) against PIL's Resize(256,
                                                      BICUBIC) + CenterCrop(224) without draft: mean and max
                                                      absolute difference in 0-255 units, one line per RAW
Transforms, as the reference's get_simclr_pipeline_transform: RandomResizedCrop(SIZE) -> RandomHorizontalFlip ->
RandomApply([ColorJitter(0.8S, 0.8S, 0.8S, 0.2S)], p=0.8) -> RandomGrayscale(0.2) -> [GaussianBlur, p=0.5] ->
ToTensor. The reference blurs with cv2.GaussianBlur(kernel int(0.1 SIZE) made odd, sigma U(0.1, 2)); cv2 is not
installed here, so the blur is PIL's ImageFilter.GaussianBlur(sigma) (an extended box filter, cheaper than a
23-tap Gaussian), which makes this baseline, if anything, faster than the reference's."""
import os
import random
import sys
import time

import torch
from PIL import Image, ImageFilter
from torchvision import transforms


class PilGaussianBlur:
    def __call__(self, img):
        if random.random() < 0.5:
            return img.filter(ImageFilter.GaussianBlur(radius=random.uniform(0.1, 2.0)))
        return img


def pipeline(size, s, blur):
    jitter = transforms.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)
    ops = [transforms.RandomResizedCrop(size=size), transforms.RandomHorizontalFlip(),
           transforms.RandomApply([jitter], p=0.8), transforms.RandomGrayscale(p=0.2)]
    if blur:
        ops.append(PilGaussianBlur())
    ops.append(transforms.ToTensor())
    return transforms.Compose(ops)


def pil_loader(path):  # torchvision.datasets.folder.pil_loader
    with open(path, "rb") as f:
        img = Image.open(f)
        return img.convert("RGB")


def main():
    if sys.argv[1] == "make-large":
        src, dst, n, w, h = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
        files = open(src).read().split()[:n]
        os.makedirs(dst, exist_ok=True)
        for i, f in enumerate(files):
            pil_loader(f).resize((w, h), Image.BICUBIC).save(os.path.join(dst, "%05d.jpg" % i), quality=90)
        return
    if sys.argv[1] == "crops":
        import numpy as np
        files = open(sys.argv[2]).read().split()
        t = transforms.Compose([transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
                                transforms.CenterCrop(224)])
        ref = np.stack([np.asarray(t(pil_loader(f))).transpose(2, 0, 1) for f in files]).astype(np.int16)
        for raw in sys.argv[3:]:
            ours = np.fromfile(raw, dtype=np.uint8).reshape(ref.shape).astype(np.int16)
            d = np.abs(ours - ref)
            print("%s %.4f %d" % (raw, d.mean(), d.max()))
        return
    files = open(sys.argv[2]).read().split()
    size, s, blur, reps = int(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "1", int(sys.argv[6])
    torch.set_num_threads(1)
    random.seed(0)
    torch.manual_seed(0)
    t = pipeline(size, s, blur)
    for f in files[: max(1, len(files) // 10)]:  # warm-up
        img = pil_loader(f)
        t(img), t(img)
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        for f in files:
            img = pil_loader(f)
            v1, v2 = t(img), t(img)
        rates.append(len(files) / (time.perf_counter() - start))
    rates.sort()
    print("%.3f" % rates[len(rates) // 2])


if __name__ == "__main__":
    main()
