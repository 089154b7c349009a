#!/usr/bin/env python3
"""scripts/prepare_imagenet.sh on small archives in the official ILSVRC2012 layout, made here: a training tar of
3 per-class tars (4 images each), a validation tar of 6 flat files, and a devkit tar.gz with the validation
ground truth and a meta.mat (a MATLAB 5 file written below, compressed as MATLAB writes it). Checks the tree it
makes, that a second run changes nothing, that an interrupted class or validation sort is repaired, the plain-text
labels and folder-of-class-tars inputs, --delete-archives, and the errors for missing and malformed inputs.
Python 3's standard library and tar; registered with ctest (Scripts.PrepareImagenet)."""
import io
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
import unittest
import zlib

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "prepare_imagenet.sh")
CLASSES = ["n01440764", "n01443537", "n02102040"]
# ILSVRC2012_IDs in meta.mat's order, not the wnids' sorted order (as in the real devkit), plus a non-leaf synset.
SYNSETS = [(2, "n01440764"), (3, "n02102040"), (1, "n01443537"), (1001, "n00001740")]
VAL_IDS = [1, 2, 3, 2, 1, 3]  # ground truth line i: image ILSVRC2012_val_<i>.JPEG
WNID_OF_ID = dict(SYNSETS)


# ---- a MATLAB 5 MAT-file writer: the subset meta.mat uses (a struct array of numbers and strings) ----
def element(kind, data):
    if len(data) <= 4:  # the small element format
        return struct.pack("<I", (len(data) << 16) | kind) + data.ljust(4, b"\0")
    return struct.pack("<II", kind, len(data)) + data + b"\0" * (-len(data) % 8)


def matrix(mx_class, dims, payload, name=b""):
    header = element(6, struct.pack("<II", mx_class, 0)) + element(5, struct.pack("<%di" % len(dims), *dims))
    body = header + element(1, name) + payload
    return struct.pack("<II", 14, len(body)) + body  # body is a multiple of 8 bytes


def number(value):  # a double stored as uint16, as MATLAB stores small integers
    return matrix(6, [1, 1], element(4, struct.pack("<H", value)))


def text(value):  # a char array of UTF-16 code units
    return matrix(4, [1, len(value)], element(4, struct.pack("<%dH" % len(value), *map(ord, value))))


def meta_mat():
    names = [b"ILSVRC2012_ID", b"WNID", b"children"]
    fields = b"".join(number(i) + text(w) + struct.pack("<II", 14, 0) for i, w in SYNSETS)
    payload = element(5, struct.pack("<i", 32)) + element(1, b"".join(n.ljust(32, b"\0") for n in names)) + fields
    synsets = matrix(2, [len(SYNSETS), 1], payload, b"synsets")
    compressed = zlib.compress(synsets)
    head = b"MATLAB 5.0 MAT-file, written by test_prepare_imagenet.py".ljust(116) + b"\0" * 8
    return head + struct.pack("<H", 0x0100) + b"IM" + struct.pack("<II", 15, len(compressed)) + compressed


def add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def class_tar(wnid):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for i in range(4):
            add_bytes(t, "%s_%d.JPEG" % (wnid, i + 1), ("%s image %d" % (wnid, i)).encode())
    return buf.getvalue()


def val_name(i):
    return "ILSVRC2012_val_%08d.JPEG" % i


def files_of(root):
    """{relative path: bytes} of every file under root."""
    out = {}
    for folder, _, files in os.walk(root):
        for f in files:
            path = os.path.join(folder, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = fh.read()
    return out


class PrepareImagenet(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="test_prepare_imagenet_")
        self.addCleanup(shutil.rmtree, self.tmp)
        self.train = os.path.join(self.tmp, "ILSVRC2012_img_train.tar")
        with tarfile.open(self.train, "w") as t:
            for w in CLASSES:
                add_bytes(t, w + ".tar", class_tar(w))
        self.val = os.path.join(self.tmp, "ILSVRC2012_img_val.tar")
        with tarfile.open(self.val, "w") as t:
            for i in range(1, len(VAL_IDS) + 1):
                add_bytes(t, val_name(i), ("val %d" % i).encode())
        self.devkit = os.path.join(self.tmp, "ILSVRC2012_devkit_t12.tar.gz")
        with tarfile.open(self.devkit, "w:gz") as t:
            add_bytes(t, "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt",
                      "".join("%d\n" % i for i in VAL_IDS).encode())
            add_bytes(t, "ILSVRC2012_devkit_t12/data/meta.mat", meta_mat())
        self.dest = os.path.join(self.tmp, "imagenet")

    def prepare(self, *args, ok=True):
        p = subprocess.run(["bash", SCRIPT] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        if ok:
            self.assertEqual(p.returncode, 0, p.stdout)
        return p

    def expect_tree(self, dest):
        expected = {}
        for w in CLASSES:
            for i in range(4):
                expected[os.path.join("train", w, "%s_%d.JPEG" % (w, i + 1))] = ("%s image %d" % (w, i)).encode()
        for i, label in enumerate(VAL_IDS, 1):
            expected[os.path.join("val", WNID_OF_ID[label], val_name(i))] = ("val %d" % i).encode()
        self.assertEqual(files_of(dest), expected)
        self.assertEqual(sorted(os.listdir(dest)), ["train", "val"], "no staging folder left behind")

    def test_devkit_tree_rerun_and_interrupted_states(self):
        out = self.prepare("--train", self.train, "--val", self.val, "--devkit", self.devkit, self.dest).stdout
        self.assertIn("train    3/3  n02102040      4 images", out)
        self.assertIn("val: 6 images in 3 classes", out)
        self.expect_tree(self.dest)
        self.assertTrue(os.path.exists(self.train) and os.path.exists(self.val), "archives kept by default")

        # A second run skips every class and the validation folder.
        out = self.prepare("--train", self.train, "--val", self.val, "--devkit", self.devkit, self.dest).stdout
        self.assertIn("3 classes were already there", out)
        self.assertIn("val: %s is already there (6 images)" % os.path.join(self.dest, "val"), out)
        self.expect_tree(self.dest)

        # Interrupted mid-class: the half-extracted class in the staging folder is redone.
        stage = os.path.join(self.dest, ".prepare_imagenet")
        shutil.rmtree(os.path.join(self.dest, "train", CLASSES[1]))
        os.makedirs(os.path.join(stage, "train", CLASSES[1]))
        open(os.path.join(stage, "train", CLASSES[1], "half_written.JPEG"), "w").close()
        # Interrupted mid-sort: two validation files still flat, the rest moved.
        shutil.move(os.path.join(self.dest, "val"), os.path.join(stage, "val", "sorted"))
        os.makedirs(os.path.join(stage, "val", "flat"))
        for i in (2, 5):
            wnid = WNID_OF_ID[VAL_IDS[i - 1]]
            os.rename(os.path.join(stage, "val", "sorted", wnid, val_name(i)),
                      os.path.join(stage, "val", "flat", val_name(i)))
        open(os.path.join(stage, "val", "extracted"), "w").close()
        out = self.prepare("--train", self.train, "--val", self.val, "--devkit", self.devkit, self.dest).stdout
        self.assertIn("train    2/3  %s      4 images" % CLASSES[1], out)
        self.assertIn("2 classes were already there", out)
        self.assertNotIn("val: extracting", out, "the extracted archive is not extracted again")
        self.expect_tree(self.dest)

    def test_plain_text_labels_and_a_folder_of_class_tars_deleted_as_extracted(self):
        labels = os.path.join(self.tmp, "val_labels.txt")
        with open(labels, "w") as f:
            f.writelines("%s %s\n" % (val_name(i), WNID_OF_ID[label]) for i, label in enumerate(VAL_IDS, 1))
        # The training archive unpacked by the user into DEST/train: the class tars sit beside their folders.
        os.makedirs(os.path.join(self.dest, "train"))
        subprocess.run(["tar", "-xf", self.train, "-C", os.path.join(self.dest, "train")], check=True)
        self.prepare("--train", os.path.join(self.dest, "train"), "--val", self.val, "--val_labels", labels,
                     "--delete-archives", self.dest)
        self.expect_tree(self.dest)
        self.assertFalse(os.path.exists(self.val), "--delete-archives removes the validation archive")
        self.assertTrue(os.path.exists(self.train))

    def test_errors_name_the_input_and_leave_no_half_written_folder(self):
        p = self.prepare(ok=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage:", p.stdout)
        missing = os.path.join(self.tmp, "nowhere.tar")
        p = self.prepare("--train", missing, self.dest, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(missing + ": no such file or folder", p.stdout)
        p = self.prepare("--val", self.val, self.dest, ok=False)
        self.assertIn("--val needs the labels", p.stdout)

        # A labels file with a malformed line: named with its line, before the archive is extracted.
        labels = os.path.join(self.tmp, "val_labels.txt")
        with open(labels, "w") as f:
            f.write("%s n01440764\n%s 65\n" % (val_name(1), val_name(2)))
        p = self.prepare("--val", self.val, "--val_labels", labels, self.dest, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("%s line 2: '%s 65' is not '<file name> <wnid>'" % (labels, val_name(2)), p.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.dest, "val")))
        # A validation file without a label.
        with open(labels, "w") as f:
            f.writelines("%s %s\n" % (val_name(i), WNID_OF_ID[label]) for i, label in enumerate(VAL_IDS[:5], 1))
        p = self.prepare("--val", self.val, "--val_labels", labels, self.dest, ok=False)
        self.assertIn("1 validation file(s) have no label in %s, e.g. %s" % (labels, val_name(6)), p.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.dest, "val")))

        # A devkit without meta.mat.
        devkit = os.path.join(self.tmp, "devkit_without_meta.tar.gz")
        with tarfile.open(devkit, "w:gz") as t:
            add_bytes(t, "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt", b"1\n")
        p = self.prepare("--val", self.val, "--devkit", devkit, self.dest, ok=False)
        self.assertIn("%s holds no data/meta.mat" % devkit, p.stdout)

        # A damaged per-class tar: the class is named, and no folder for it appears.
        folder = os.path.join(self.tmp, "class_tars")
        os.makedirs(folder)
        subprocess.run(["tar", "-xf", self.train, "-C", folder], check=True)
        broken = os.path.join(folder, CLASSES[2] + ".tar")
        with open(broken, "r+b") as f:
            f.truncate(700)
        p = self.prepare("--train", folder, self.dest, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(broken + ": cannot be extracted", p.stdout)
        self.assertEqual(sorted(os.listdir(os.path.join(self.dest, "train"))), CLASSES[:2])


if __name__ == "__main__":
    unittest.main()
