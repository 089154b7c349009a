"""Peak resident memory of every command that reads an image folder, at N and 4N training images, and the
images each decodes per wall-clock second: the measurement behind the README's memory table (issue 27).

Makes two synthetic ImageNet-like JPEG folders (scripts/make_synthetic_imagenet.py: CLASSES classes, 96-320 px,
N and 4N training images, a quarter as many held-out ones) and a ResNet-10 x0.125 checkpoint (one pretraining
step), then runs each command on both folders and prints one line per command: peak resident memory (VmHWM,
the last line `flatclr` prints) at N and at 4N, their ratio, and images decoded per second at 4N. Apart from the
feature file (on disk, memory-mapped: images x 64 x 2 bytes here) and the kNN bank (images x 64 x 4 bytes here),
nothing a command holds grows with the folder but each image's path and label. glibc's malloc keeps some freed
memory, more with more batches (README: "Evaluating at ImageNet size"): `--env MALLOC_MMAP_THRESHOLD_=131072`
measures without that.

usage: python3 bench/bench_streaming_memory.py BUILD_DIR [--n 1000] [--classes 100] [--workers 2]
                                                [--only SUBSTRING] [--keep DIR] [--env NAME=VALUE ...]
Needs numpy and Pillow (the virtual environment of scripts/setup.sh) for the synthetic folders.
Correctness is the tests' (tests/e2e/test_streaming_cli.cpp: streamed == in memory); this only measures."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)


def make_folder(dest, classes, per_class_train, per_class_val):
    if not os.path.isdir(os.path.join(dest, "val")):
        subprocess.run([sys.executable, os.path.join(SOURCE, "scripts", "make_synthetic_imagenet.py"), dest,
                        str(classes), str(per_class_train), str(per_class_val), "96", "320", "1"], check=True)


def run(cmd, env=None):
    """Runs one command; returns (peak resident MB, wall seconds, output). A failure stops the benchmark."""
    start = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seconds = time.time() - start
    if p.returncode != 0:
        sys.exit("failed (exit %d): %s\n%s" % (p.returncode, " ".join(cmd), p.stdout[-3000:]))
    m = re.search(r"peak resident memory: ([0-9.]+) MB", p.stdout)
    if not m:
        sys.exit("no 'peak resident memory' line in the output of: %s\n%s" % (" ".join(cmd), p.stdout[-3000:]))
    return float(m.group(1)), seconds, p.stdout


def find_run_dir(save):
    for root, _, files in os.walk(save):
        if "checkpoint_0001.pth.tar" in files:
            return root
    sys.exit("the pretraining under %s wrote no checkpoint_0001.pth.tar" % save)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", help="the build folder holding the flatclr executable")
    ap.add_argument("--n", type=int, default=1000, help="training images of the small folder (4N: the large)")
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2, help="decoding threads (--workers of flatclr)")
    ap.add_argument("--only", default="", help="run only the commands whose label contains this")
    ap.add_argument("--keep", default="", help="keep the data and runs in this folder (default: a temporary one)")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="set in the commands' environment, e.g. MALLOC_MMAP_THRESHOLD_=131072 (repeatable)")
    a = ap.parse_args()
    env = dict(os.environ)
    for item in a.env:
        if "=" not in item:
            sys.exit("--env %r: expected NAME=VALUE" % item)
        env[item.split("=", 1)[0]] = item.split("=", 1)[1]
    flatclr = os.path.join(os.path.abspath(a.build), "flatclr")
    if not os.access(flatclr, os.X_OK):
        sys.exit("%s: no flatclr executable there (build it: cmake --build %s --target flatclr)" % (flatclr, a.build))
    if a.n < a.classes:
        sys.exit("--n %d is below --classes %d: every class needs at least one training image" % (a.n, a.classes))
    work = os.path.abspath(a.keep) if a.keep else tempfile.mkdtemp(prefix="flatclr_bench_mem_")
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data")
    images = {}  # size -> (train images, held-out images)
    for size, n in (("n", a.n), ("4n", 4 * a.n)):
        per_class = n // a.classes
        per_val = max(1, per_class // 4)
        make_folder(os.path.join(data, "bench_" + size), a.classes, per_class, per_val)
        images[size] = (per_class * a.classes, per_val * a.classes)

    # The encoder: one pretraining step on the N folder (per-image pipeline, streamed) gives a checkpoint.
    model = ["--model=res10", "--width_multiplier=0.125"]
    ssl = [flatclr, "--faster_version=False", "--epochs=1", "--warmup_epochs=0", "--precision=fp32",
           "--plots=False", "--tensorboard=False"] + model
    common = ["--data=" + data, "--progress=none", "--workers=%d" % a.workers]
    save = os.path.join(work, "pretrain")
    if not os.path.isdir(save):
        run(ssl + common + ["--dataset_name=bench_n", "--batch_size=32", "--save_dir=" + save,
                            "--data_fraction=%f" % min(1.0, 32.0 / a.n)])
    run_dir = find_run_dir(save)

    ev = [flatclr, "--checkpoint_dir=" + run_dir, "--eval_batch_size=64", "--fc_batch_size=64"] + common
    bank = 10000  # the default --knn_bank_size
    # label -> (flags but the dataset's, the dataset flag, images decoded as a function of (train, held-out))
    commands = {
        "eval knn": (ev + ["--train_mode=eval", "--transfer_mode=knn"], "--dataset_name=",
                     lambda t, v: t + v),
        "eval linear_eval (fixed features, float16 file)": (
            ev + ["--train_mode=eval", "--transfer_mode=linear_eval", "--fc_epochs=10"], "--dataset_name=",
            lambda t, v: t + v),
        "eval linear_eval --fc_augment=True (1 epoch)": (
            ev + ["--train_mode=eval", "--transfer_mode=linear_eval", "--fc_augment=True", "--fc_epochs=1"],
            "--dataset_name=", lambda t, v: t + v),
        "eval finetune (1 epoch)": (
            ev + ["--train_mode=eval", "--transfer_mode=finetune", "--fc_epochs=1", "--fc_lr=0.05"],
            "--dataset_name=", lambda t, v: t + v),
        "transfer knn": (ev + ["--train_mode=transfer", "--transfer_mode=knn"], "--transfer_dataset_name=",
                         lambda t, v: t + v),
        "semi finetune 10% (1 epoch)": (
            ev + ["--train_mode=semi", "--semi_ratio=0.1", "--fc_epochs=1", "--fc_lr=0.05"], "--dataset_name=",
            lambda t, v: t // 10 + v),
        "supervised (1 epoch)": (
            [flatclr, "--train_mode=supervised", "--fc_epochs=1", "--fc_batch_size=64", "--fc_lr=0.05",
             "--eval_batch_size=64", "--save_dir=" + os.path.join(work, "sup")] + model + common,
            "--dataset_name=", lambda t, v: t + v),
        "embed (train split)": (
            [flatclr, "embed", "--checkpoint_dir=" + run_dir, "--split=train", "--batch_size=64",
             "--output=" + os.path.join(work, "emb")] + common, "--dataset_name=", lambda t, v: t),
        "pretrain ssl (1 epoch, per-image pipeline)": (
            ssl + common + ["--batch_size=64", "--save_dir=" + os.path.join(work, "ssl")], "--dataset_name=",
            lambda t, v: t),
        "pretrain ssl + online kNN monitor (1 epoch)": (
            ssl + common + ["--batch_size=64", "--knn_every=1", "--save_dir=" + os.path.join(work, "mon")],
            "--dataset_name=", lambda t, v: t + min(t, bank) + v),
    }
    print("flatclr streaming memory: N = %d, 4N = %d training images (+ %d, %d held out; %d classes, JPEG "
          "96-320 px), %d decoding threads, ResNet-10 x0.125 (64 features), CPU" %
          (images["n"][0], images["4n"][0], images["n"][1], images["4n"][1], a.classes, a.workers) +
          (", environment: " + " ".join(a.env) if a.env else ""))
    print("%-46s %10s %10s %6s %9s %9s" % ("command", "peak@N MB", "peak@4N MB", "ratio", "s@4N", "img/s@4N"))
    results = {}
    for label, (flags, dataset_flag, decoded) in commands.items():
        if a.only and a.only not in label:
            continue
        peaks, seconds = [], 0.0
        for size in ("n", "4n"):
            peak, seconds, _ = run(flags + [dataset_flag + "bench_" + size], env)
            peaks.append(peak)
        rate = decoded(*images["4n"]) / seconds
        results[label] = {"peak_n_mb": peaks[0], "peak_4n_mb": peaks[1], "ratio": peaks[1] / peaks[0],
                          "seconds_4n": seconds, "images_per_s_4n": rate}
        print("%-46s %10.1f %10.1f %6.3f %9.1f %9.1f" % (label, peaks[0], peaks[1], peaks[1] / peaks[0], seconds,
                                                         rate))
        sys.stdout.flush()
    print("img/s: images decoded per wall-clock second of the whole command at 4N (start-up, model and every pass "
          "included; an image decoded in two passes counts twice)")
    print(json.dumps(results))
    if not a.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
