#!/usr/bin/python3
"""Writes tiny image files in the formats image-folder datasets meet (RGB/grayscale/CMYK JPEG; RGB, palette,
palette with transparency, RGBA, LA, grayscale and 1-bit PNG; a truncated JPEG, a corrupt PNG and a file that is
no image) under tests/data/data/images/, and tests/data/data/decode_reference.json with what PIL's
Image.open(path).convert("RGB") (torchvision ImageFolder's loader) makes of each, so the C++ test checks
src/flatclr/data/image_decode.cpp against PIL pixel for pixel.
Run with Debian's python3-pil: /usr/bin/python3 scripts/gen/gen_image_decode.py"""
import io
import json
import os

import PIL
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "data")


def base_rgb(w=13, h=9):
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = ((x * 19 + y * 7) % 256, (x * 5 + y * 29 + 40) % 256, (x * y * 3 + 90) % 256)
    return img


def main():
    img_dir = os.path.join(OUT, "images")
    os.makedirs(img_dir, exist_ok=True)
    rgb = base_rgb()
    files = {}

    def save(name, im, **kw):
        path = os.path.join(img_dir, name)
        im.save(path, **kw)
        files[name] = True

    save("rgb.jpg", rgb, quality=90)
    save("rgb444.jpg", rgb, quality=75, subsampling=0)
    save("gray.jpg", rgb.convert("L"), quality=85)
    save("cmyk.jpg", rgb.convert("CMYK"), quality=90)
    save("rgb.png", rgb)
    save("palette.png", rgb.convert("P", palette=Image.ADAPTIVE, colors=16))
    p = rgb.convert("P", palette=Image.ADAPTIVE, colors=16)
    save("palette_trns.png", p, transparency=3)
    rgba = rgb.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    save("rgba.png", rgba)
    la = rgb.convert("L")
    la.putalpha(128)
    save("la.png", la.convert("LA"))
    save("gray.png", rgb.convert("L"))
    save("bw.png", rgb.convert("1"))

    # Broken files.
    data = open(os.path.join(img_dir, "rgb.jpg"), "rb").read()
    open(os.path.join(img_dir, "truncated.jpg"), "wb").write(data[: len(data) // 2])
    png = bytearray(open(os.path.join(img_dir, "rgb.png"), "rb").read())
    for i in range(40, len(png) - 16):
        png[i] ^= 0x5A
    open(os.path.join(img_dir, "corrupt.png"), "wb").write(bytes(png))
    open(os.path.join(img_dir, "not_an_image.jpg"), "wb").write(b"this is not an image\n")

    ref = {"pil_version": PIL.__version__, "images": {}, "bad": ["truncated.jpg", "corrupt.png", "not_an_image.jpg"]}
    for name in sorted(files):
        im = Image.open(os.path.join(img_dir, name))
        mode = im.mode
        rgbim = im.convert("RGB")
        ref["images"][name] = {
            "mode": mode,
            "height": rgbim.size[1],
            "width": rgbim.size[0],
            "hwc": list(rgbim.tobytes()),
        }
    for name in ref["bad"]:
        try:
            Image.open(os.path.join(img_dir, name)).convert("RGB")
            raise SystemExit(name + " decodes in PIL: not a bad file")
        except (OSError, SyntaxError, ValueError):
            pass
    with open(os.path.join(OUT, "decode_reference.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
