"""Makes a small image-folder dataset of another size from the CIFAR-10 JPEG folders, for the transfer tests
(tests/e2e/test_encoder_use_cli.cpp): DEST/{train,test}/<class>/*.png, each image upscaled (bicubic) to SIZE px.
usage: make_image_folder.py CIFAR10_JPG DEST SIZE N_TRAIN N_TEST CLASS [CLASS ...]"""
import os
import sys

from PIL import Image

src, dest, size, n_train, n_test = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
for cls in sys.argv[6:]:
    for split, n in (("train", n_train), ("test", n_test)):
        os.makedirs(os.path.join(dest, split, cls), exist_ok=True)
        for i in range(n):
            img = Image.open(os.path.join(src, split, cls, "%04d.jpg" % i)).convert("RGB")
            img.resize((size, size), Image.BICUBIC).save(os.path.join(dest, split, cls, "%04d.png" % i))
