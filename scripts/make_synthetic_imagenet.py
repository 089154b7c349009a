"""Makes a synthetic ImageNet-like image folder: DEST/{train,val}/<class>/*.JPEG, JPEG files of varied size
and aspect ratio larger than 64 px (so flatclr treats the folder as ImageNet-sized: Resize(256) +
CenterCrop(224), streamed), each class a colour and a stripe orientation plus noise, so that a classifier has
something to learn. Deterministic in SEED. Used by the streaming tests (tests/e2e/test_streaming_cli.cpp) and
the memory benchmark (bench/bench_streaming_memory.py).
usage: make_synthetic_imagenet.py DEST CLASSES TRAIN_PER_CLASS VAL_PER_CLASS [MIN_SIDE MAX_SIDE SEED]"""
import os
import sys

import numpy as np
from PIL import Image


def main():
    dest, classes, n_train, n_val = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    lo = int(sys.argv[5]) if len(sys.argv) > 5 else 72
    hi = int(sys.argv[6]) if len(sys.argv) > 6 else 120
    seed = int(sys.argv[7]) if len(sys.argv) > 7 else 0
    rng = np.random.default_rng(seed)
    for c in range(classes):
        name = "n%08d" % c  # WordNet-id-like folder names
        colour = rng.uniform(40, 215, size=3)
        angle = rng.uniform(0, np.pi)
        for split, n in (("train", n_train), ("val", n_val)):
            folder = os.path.join(dest, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                h, w = int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))
                y, x = np.mgrid[0:h, 0:w]
                stripes = 40 * np.sin((x * np.cos(angle) + y * np.sin(angle)) / 4.0)
                img = colour[None, None, :] + stripes[..., None] + rng.normal(0, 30, size=(h, w, 3))
                path = os.path.join(folder, "%s_%d.JPEG" % (name, i))
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=90)


if __name__ == "__main__":
    main()
