#!/usr/bin/env python3
"""scripts/imagenet_val_labels.py's MATLAB 5 reader against an independent writer and reader: SciPy's
scipy.io.savemat writes a meta.mat with the ILSVRC2012 devkit's struct (synsets, N x 1, with all eight of its
fields: ILSVRC2012_ID, WNID, words, gloss, num_children, children, wordnet_height, num_train_images; children empty
for a leaf, a row of ids for an inner synset), compressed (MATLAB's default for -v7) and not, and scipy.io.loadmat
(which torchvision's ImageNet class uses to read the real devkit) gives the values read_mat must agree with.
SciPy stores the numbers as doubles, where MATLAB (and test_prepare_imagenet.py's writer) stores small integers in
uint8/uint16 elements, so the two tests cover both encodings. Then from_devkit on a devkit tar.gz holding that
file. Needs the virtual environment's Python (scripts/setup.sh --test installs SciPy); ctest: Scripts.ImagenetMetaMat.
"""
import io
import os
import sys
import tarfile
import tempfile
import unittest

import numpy as np
import scipy.io

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import imagenet_val_labels as ivl  # noqa: E402

# (ILSVRC2012_ID, WNID, words, children): three leaves out of wnid order, two inner synsets; words with commas and a
# non-ASCII character, as WordNet's glosses have.
SYNSETS = [
    (1, "n02119789", "kit fox, Vulpes macrotis", []),
    (3, "n01440764", "tench, Tinca tinca", []),
    (2, "n02102040", "English springer, English springer spaniel", []),
    (1001, "n02118333", "fox", [1]),
    (1002, "n00001740", "entity (the whole, naïve)", [1001, 3, 2]),
]


def synsets_struct():
    dtype = [(f, object) for f in ("ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children",
                                   "wordnet_height", "num_train_images")]
    arr = np.zeros((len(SYNSETS), 1), dtype=dtype)
    for i, (sid, wnid, words, children) in enumerate(SYNSETS):
        arr[i, 0] = (np.array([[float(sid)]]), wnid, words, "a gloss of %s; with punctuation." % words,
                     np.array([[float(len(children))]]),
                     np.array([children], dtype=float) if children else np.zeros((1, 0)),
                     np.array([[float(len(children) and 2)]]), np.array([[1300.0 if not children else 0.0]]))
    return arr


def write_mat(compress):
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"synsets": synsets_struct()}, format="5", do_compression=compress, oned_as="row")
    return buf.getvalue()


class MetaMatTest(unittest.TestCase):
    def check_file(self, data):
        got = ivl.read_mat(data, "meta.mat")["synsets"]
        ref = scipy.io.loadmat(io.BytesIO(data), squeeze_me=True, struct_as_record=False)["synsets"]
        self.assertEqual(len(got), len(ref))
        for g, r in zip(got, ref):
            self.assertEqual(g["WNID"], r.WNID)
            self.assertEqual(g["words"], r.words)
            self.assertEqual(g["gloss"], r.gloss)
            self.assertEqual(int(g["ILSVRC2012_ID"][0]), int(r.ILSVRC2012_ID))
            self.assertEqual(int(g["num_children"][0]), int(r.num_children))
            self.assertEqual([int(c) for c in g["children"]], [int(c) for c in np.atleast_1d(r.children)])
            self.assertEqual(int(g["num_train_images"][0]), int(r.num_train_images))

    def test_compressed_as_matlab_writes_it(self):
        self.check_file(write_mat(True))

    def test_uncompressed(self):
        self.check_file(write_mat(False))

    def test_from_devkit_maps_the_ground_truth_through_the_synsets(self):
        truth = [2, 1, 3, 3, 1]  # line i: the ILSVRC2012_ID of ILSVRC2012_val_<i>.JPEG
        with tempfile.TemporaryDirectory() as d:
            devkit = os.path.join(d, "ILSVRC2012_devkit_t12.tar.gz")
            with tarfile.open(devkit, "w:gz") as t:
                for name, data in (("data/meta.mat", write_mat(True)),
                                   ("data/ILSVRC2012_validation_ground_truth.txt",
                                    "".join("%d\n" % i for i in truth).encode())):
                    info = tarfile.TarInfo("ILSVRC2012_devkit_t12/" + name)
                    info.size = len(data)
                    t.addfile(info, io.BytesIO(data))
            out = os.path.join(d, "labels.txt")
            ivl.from_devkit(devkit, out)
            wnid = {sid: w for sid, w, _, _ in SYNSETS}
            with open(out) as f:
                self.assertEqual(f.read(), "".join("ILSVRC2012_val_%08d.JPEG %s\n" % (i, wnid[sid])
                                                   for i, sid in enumerate(truth, 1)))


if __name__ == "__main__":
    unittest.main()
