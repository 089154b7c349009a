#!/usr/bin/env python3
"""Does bf16 training learn as float32 does? FlatCLR on real CIFAR-10 with the small-batch study's protocol
(scripts/logk_study.py: ResNet-18 x0.125, 5,000 images, 15 epochs; here batch 64), once per precision and seed,
then kNN and linear top-1 of each encoder. Runs resume like the study's; prints a Markdown table with each
precision's mean and spread over seeds, and the wall time.

  scripts/precision_parity.py [--data build/datasets] [--out results/precision-parity] [--seeds 1,2]
                              [--batch 64] [--precisions fp32,bf16] [--binary build/flatclr]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logk_study  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.path.join(logk_study.ROOT, "build", "datasets"))
    p.add_argument("--out", default=os.path.join(logk_study.ROOT, "results", "precision-parity"))
    p.add_argument("--seeds", default="1,2")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--binary", default=logk_study.FLATCLR)
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for precision in args.precisions.split(","):
        sub = argparse.Namespace(**vars(args))
        sub.out = os.path.join(args.out, precision)
        sub.extra = {"precision": precision}
        os.makedirs(os.path.join(sub.out, "runs"), exist_ok=True)
        got = []
        for seed in seeds:
            logk_study.do_run(sub, "flatclr", args.batch, seed, deadline=time.time() + 1e9)
            s = logk_study.summarise(sub, "flatclr", args.batch, seed)
            if s:
                got.append(s)
        if got:
            rows.append("| %s | %d | %s | %s | %.0f |" % (
                precision, len(got), logk_study.spread([g["knn"] for g in got]),
                logk_study.spread([g["linear"] for g in got]), statistics.mean(g["wall_s"] for g in got)))
    print("| precision | seeds | kNN top-1 (%) | linear top-1 (%) | pretraining wall time (s) |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
