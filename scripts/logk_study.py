#!/usr/bin/env python3
"""The small-batch study: SimCLR (InfoNCE) against FlatCLR (FlatNCE) on real CIFAR-10 at batch sizes 8 to 128, with
a CPU-sized protocol, several seeds, and runs that resume across sessions. Writes docs/results/logk-study.md (the
table, the commands) and two PNG plots (accuracy against batch size; p+ over training).

  scripts/logk_study.py [--data build/datasets] [--out results/logk-study] [--hours H] [--seeds 1,2]
                        [--batches 8,16,32,64,128] [--binary build/flatclr] [--report-only]

Every run lives in <out>/runs/<method>_b<batch>_s<seed>/ (flatclr's own run folder inside). A finished run (its last
checkpoint and both evaluations in eval_results.jsonl) is skipped; an interrupted one resumes from its newest
checkpoint (exact); --hours stops starting new work after that many hours, so a session can end cleanly and the
next one carries on. The report is rebuilt from whatever has finished, every time. Python 3 standard library and
gnuplot only; the binary is build/flatclr unless --binary names a frozen copy (so that rebuilding the project
while the study runs does not change the runs under it).
"""
import argparse
import glob
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLATCLR = os.path.join(ROOT, "build", "flatclr")

# The protocol (CPU-sized): ResNet-18 at 1/8 width on a class-stratified 10% of CIFAR-10 (5,000 images), LARS with
# the square-root learning-rate scaling the paper's README gives for small batches, tau 0.1, 1 warm-up epoch.
PROTOCOL = {
    "model": "res18", "width_multiplier": "0.125", "data_fraction": "0.1", "epochs": "15", "warmup_epochs": "1",
    "lr": "0.075", "learning_rate_scaling": "sqrt", "temperature": "0.1", "faster_version": "True",
    "save_every_n_epochs": "1", "log_every_n_steps": "20",
}
METHODS = ["simclr", "flatclr"]


def pretrain_args(args, method, batch, seed, save_dir):
    flags = dict(PROTOCOL, dataset_name="cifar10", data=args.data, download="False", clr=method, batch_size=str(batch),
                 seed=str(seed), threads=str(args.threads), progress="lines", tensorboard="False", plots="False",
                 save_dir=save_dir)
    flags.update(getattr(args, "extra", {}))  # e.g. precision=bf16 (scripts/precision_parity.py)
    return ["--%s=%s" % kv for kv in flags.items()]


def eval_args(args, run, mode, seed):
    flags = {"train_mode": "eval", "transfer_mode": mode, "checkpoint_dir": run, "data": args.data,
             "download": "False", "data_fraction": PROTOCOL["data_fraction"], "seed": str(seed),
             "threads": str(args.threads), "progress": "none"}
    if mode == "linear_eval":
        flags.update(fc_epochs="100", fc_batch_size="512")
    return ["--%s=%s" % kv for kv in flags.items()]


def run_folder(save_dir):
    runs = sorted(glob.glob(os.path.join(save_dir, "cifar10", "*", "*")))
    return runs[-1] if runs else None


def checkpoints(run):
    out = []
    for p in glob.glob(os.path.join(run, "checkpoint_*.pth.tar")):
        m = re.search(r"checkpoint_(\d+)\.pth\.tar$", p)
        out.append((int(m.group(1)), os.path.basename(p)))
    return sorted(out)


def read_jsonl(path):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass  # a line cut by a crash
    return out


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def advance(binary, runs_dir, name, pretrain_flags, evals, epochs, deadline, build=None):
    """Brings one run forward: pretraining (resumed from its newest checkpoint when interrupted), then each
    evaluation in evals, a list of (mode, function(run folder) -> flags), whose result for the last epoch is not yet
    in eval_results.jsonl. build (a dict: the binary's commit and build options) is written to
    <runs_dir>/<name>/build.json when the run starts; a run that started with another build is not resumed with
    this one. Returns False when the deadline stopped it."""
    save_dir = os.path.join(runs_dir, name)
    log_path = os.path.join(runs_dir, name + ".log")
    record = os.path.join(save_dir, "build.json")
    run = run_folder(save_dir)
    done = run and checkpoints(run) and checkpoints(run)[-1][0] == epochs
    if not done:
        if time.time() > deadline:
            return False
        cmd = [binary] + pretrain_flags
        if run and checkpoints(run):
            if build and os.path.exists(record) and json.load(open(record)) != build:
                log("%s: started by another build (%s): not resumed with this one" % (name, record))
                return True
            cmd += ["--log_dir=" + run, "--train_from=" + checkpoints(run)[-1][1]]
            log("%s: resuming from %s" % (name, checkpoints(run)[-1][1]))
        else:
            if run:
                shutil.rmtree(os.path.dirname(os.path.dirname(run)))
            log("%s: pretraining" % name)
        if build:
            os.makedirs(save_dir, exist_ok=True)
            with open(record, "w") as f:
                json.dump(build, f, indent=1)
        with open(log_path, "a") as f:
            rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
        if rc != 0:
            log("%s: flatclr exited %d (see %s)" % (name, rc, log_path))
            return True
        run = run_folder(save_dir)
    results = read_jsonl(os.path.join(run, "eval_results.jsonl"))
    for mode, flags_of in evals:
        if any(r.get("mode") == mode and r.get("pretrain_epoch") == epochs for r in results):
            continue
        if time.time() > deadline:
            return False
        log("%s: %s" % (name, mode))
        with open(log_path, "a") as f:
            subprocess.call([binary] + flags_of(run), stdout=f, stderr=subprocess.STDOUT)
    return True


def do_run(args, method, batch, seed, deadline):
    """Brings one run of this study forward; returns False when the deadline stopped it."""
    name = "%s_b%d_s%d" % (method, batch, seed)
    runs_dir = os.path.join(args.out, "runs")
    flags = pretrain_args(args, method, batch, seed, os.path.join(runs_dir, name))
    evals = [(mode, lambda run, mode=mode: eval_args(args, run, mode, seed)) for mode in ("knn", "linear_eval")]
    return advance(args.binary, runs_dir, name, flags, evals, int(PROTOCOL["epochs"]), deadline)


def summarise_run(run, epochs, images, batch):
    """The numbers of one finished run (None while its pretraining or an evaluation is missing): kNN and linear
    top-1 (%), p+ and the saturated share (p+ > 0.99, %) over the last epoch and per logging interval, the MI
    estimate, wall time. images: the training images per epoch."""
    if not run:
        return None
    results = read_jsonl(os.path.join(run, "eval_results.jsonl"))
    knn = [r["best_top1"] for r in results if r.get("mode") == "knn" and r.get("pretrain_epoch") == epochs]
    lin = [r["best_top1"] for r in results if r.get("mode") == "linear_eval" and r.get("pretrain_epoch") == epochs]
    metrics = read_jsonl(os.path.join(run, "metrics.jsonl"))
    steps = [s for s in read_jsonl(os.path.join(run, "steps.jsonl")) if "event" not in s and "p_pos_mean" in s]
    if not metrics or not steps or not any(s["epoch"] == epochs for s in steps):
        return None
    last = [s for s in steps if s["epoch"] == epochs]
    mean = lambda xs: sum(xs) / len(xs)
    return {
        "knn": 100 * knn[-1] if knn else None, "linear": 100 * lin[-1] if lin else None,
        "p_pos": mean([s["p_pos_mean"] for s in last]), "p_pos_max": max(s["p_pos_mean"] for s in steps),
        "saturated": 100 * mean([s["saturated"] for s in last]),
        "mi": mean([s["mi_estimate"] for s in last]), "log_k": last[-1]["log_k"],
        "wall_s": sum(m.get("epoch_time_s", 0) for m in metrics),
        # (epoch, p+, saturated share) per logging interval
        "curve": [(s["global_step"] * batch / float(images), s["p_pos_mean"], s["saturated"]) for s in steps],
    }


def summarise(args, method, batch, seed):
    run = run_folder(os.path.join(args.out, "runs", "%s_b%d_s%d" % (method, batch, seed)))
    s = summarise_run(run, int(PROTOCOL["epochs"]), 5000, batch)
    return s if s and s["knn"] is not None and s["linear"] is not None else None


def spread(xs):
    if len(xs) == 1:
        return "%.2f" % xs[0]
    return "%.2f ± %.2f" % (statistics.mean(xs), statistics.stdev(xs))


def report(args):
    rows, cells = [], {}
    for batch in args.batches:
        for method in METHODS:
            got = [s for s in (summarise(args, method, batch, seed) for seed in args.seeds) if s]
            cells[(method, batch)] = got
            if not got:
                continue
            rows.append("| %s | %d | %d | %s | %s | %.3f (max %.3f) | %.1f | %.2f of %.2f | %.0f |" % (
                {"simclr": "SimCLR", "flatclr": "FlatCLR"}[method], batch, len(got),
                spread([g["knn"] for g in got]), spread([g["linear"] for g in got]),
                statistics.mean(g["p_pos"] for g in got), max(g["p_pos_max"] for g in got),
                statistics.mean(g["saturated"] for g in got), statistics.mean(g["mi"] for g in got),
                got[0]["log_k"], statistics.mean(g["wall_s"] for g in got)))
    os.makedirs(os.path.join(ROOT, "docs", "results"), exist_ok=True)
    plots = draw(args, cells)
    cmd_pre = " ".join(["build/flatclr"] + pretrain_args(args, "<simclr|flatclr>", 0, 0, "<out>/runs/<name>"))
    cmd_pre = cmd_pre.replace("--batch_size=0", "--batch_size=<B>").replace("--seed=0", "--seed=<seed>")
    cmd_eval = " ".join(["build/flatclr"] + eval_args(args, "<run folder>", "<knn|linear_eval>", 0)).replace(
        "--seed=0", "--seed=<seed>")
    page = open(os.path.join(ROOT, "docs", "results", "logk-study.md.in")).read()
    page = page.replace("@TABLE@", "\n".join(rows) if rows else "| (no finished run yet) |")
    page = page.replace("@PLOTS@", plots)
    # The page shows the data folder as given relative to the repository, not this machine's absolute path.
    cmd_pre, cmd_eval = (c.replace("--data=" + args.data + " ", "--data=" + args.data_rel + " ") for c in (cmd_pre, cmd_eval))
    page = page.replace("@PRETRAIN@", cmd_pre).replace("@EVAL@", cmd_eval)
    page = page.replace("@STUDY@", "scripts/logk_study.py --data %s --seeds %s --batches %s" % (
        args.data_rel, ",".join(map(str, args.seeds)), ",".join(map(str, args.batches))))
    page = page.replace("@UPDATED@", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    stats = stats_from_runs(cells)
    page = page.replace("@REGIME@", regime(stats))
    write_cells_json(cells_json(stats))
    done = sum(len(v) for v in cells.values())
    total = len(args.seeds) * len(args.batches) * len(METHODS)
    page = page.replace("@PROGRESS@", "%d of %d runs finished" % (done, total) if done < total else "complete")
    with open(os.path.join(ROOT, "docs", "results", "logk-study.md"), "w") as f:
        f.write(page)
    log("wrote docs/results/logk-study.md (%d rows)" % len(rows))


# Two-sided 95% critical values of Student's t by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}

CELLS_JSON = os.path.join(ROOT, "docs", "results", "logk-study.json")


def unpaired(sim, flat):
    """FlatCLR minus SimCLR from each method's seeds as (n, mean, sd) triples: the difference of the means and
    Student's two-sample t with the pooled standard deviation (the page keeps no per-seed values, so the seeds are
    not paired). None when either side has fewer than 2 seeds."""
    (ns, ms, ss_), (nf, mf, sf) = sim, flat
    if ns < 2 or nf < 2:
        return None
    d = mf - ms
    pooled = math.sqrt(((ns - 1) * ss_ ** 2 + (nf - 1) * sf ** 2) / (ns + nf - 2))
    se = pooled * math.sqrt(1.0 / ns + 1.0 / nf)
    t = d / se if se > 0 else (math.copysign(math.inf, d) if d else 0.0)
    df = ns + nf - 2
    return {"mean": round(d, 4), "t": round(t, 4) if math.isfinite(t) else t, "pairs": 0, "paired": False,
            "seeds": [ns, nf], "beyond_spread": abs(t) > T95[min(df, max(T95))]}


def cells_json(stats):
    """The study's cells as data for `flatclr diagnose` (docs/results/logk-study.json, built into the binary):
    stats maps (method, batch) to a dict of seeds, knn, knn_sd, linear, linear_sd, p_pos, p_pos_max and saturated
    (%). One cell per batch size, with the setting, each method's numbers and FlatCLR − SimCLR."""
    out = []
    for batch in sorted({b for (_, b) in stats}):
        entry = {"study": "logk", "page": "docs/results/logk-study.md", "regime": "batch %d" % batch,
                 "setting": {"temperature": float(PROTOCOL["temperature"]), "batch_size": batch,
                             "epochs": int(PROTOCOL["epochs"]), "images": 5000, "model": PROTOCOL["model"],
                             "width_multiplier": float(PROTOCOL["width_multiplier"])},
                 "methods": {}, "flatclr_minus_simclr": {}}
        for method in METHODS:
            if (method, batch) in stats:
                entry["methods"][method] = stats[(method, batch)]
        sim, flat = entry["methods"].get("simclr"), entry["methods"].get("flatclr")
        if sim and flat:
            for key in ("knn", "linear"):
                d = unpaired((sim["seeds"], sim[key], sim[key + "_sd"]), (flat["seeds"], flat[key], flat[key + "_sd"]))
                if d:
                    entry["flatclr_minus_simclr"][key] = d
        out.append(entry)
    return out


def write_cells_json(cells_list):
    tmp = CELLS_JSON + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cells_list, f, indent=1)
        f.write("\n")
    os.replace(tmp, CELLS_JSON)


def stats_from_runs(cells):
    stats = {}
    for (method, batch), got in cells.items():
        if not got:
            continue
        sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0
        stats[(method, batch)] = {
            "seeds": len(got), "knn": round(statistics.mean(g["knn"] for g in got), 4),
            "knn_sd": round(sd([g["knn"] for g in got]), 4),
            "linear": round(statistics.mean(g["linear"] for g in got), 4),
            "linear_sd": round(sd([g["linear"] for g in got]), 4),
            "p_pos": round(statistics.mean(g["p_pos"] for g in got), 4),
            "p_pos_max": round(max(g["p_pos_max"] for g in got), 4),
            "saturated": round(statistics.mean(g["saturated"] for g in got), 4)}
    return stats


TABLE_ROW = re.compile(r"^\| (SimCLR|FlatCLR) \| (\d+) \| (\d+) \| ([\d.]+)(?: ± ([\d.]+))? \| ([\d.]+)(?: ± ([\d.]+))? \| "
                       r"([\d.]+) \(max ([\d.]+)\) \| ([\d.]+) \|")


def stats_from_page(page_text):
    """The same numbers read back from the page's results table (as printed: 2 decimals for top-1, 3 for p+, 1 for
    the saturated share). For when the raw runs are gone but the page that they made is committed."""
    stats = {}
    for line in page_text.splitlines():
        m = TABLE_ROW.match(line)
        if not m:
            continue
        f = lambda i: float(m.group(i)) if m.group(i) is not None else 0.0
        stats[(m.group(1).lower(), int(m.group(2)))] = {
            "seeds": int(m.group(3)), "knn": f(4), "knn_sd": f(5), "linear": f(6), "linear_sd": f(7),
            "p_pos": f(8), "p_pos_max": f(9), "saturated": f(10)}
    return stats


def regime(stats):
    """What `flatclr diagnose` compares runs with: every cell of this study (docs/results/logk-study.json, which
    the build embeds in the binary), summarised."""
    if not stats:
        return "(no finished run yet)"
    lines = ["Each batch size is a cell of `docs/results/logk-study.json`, written with this page and built into "
             "`flatclr diagnose`, which names the cell closest to a run and the difference measured there. "
             "FlatCLR − SimCLR per cell (difference of the means; two-sample t over the seeds, which the table does "
             "not pair):", ""]
    for c in cells_json(stats):
        parts = []
        for key in ("knn", "linear"):
            d = c["flatclr_minus_simclr"].get(key)
            if d:
                parts.append("%s %+.2f (t = %.2f, %s)" % ("kNN" if key == "knn" else "linear", d["mean"], d["t"],
                                                         "beyond the seeds' spread" if d["beyond_spread"] else
                                                         "within the seeds' spread"))
        lines.append("- %s: %s" % (c["regime"], "; ".join(parts) if parts else "one method only so far"))
    return "\n".join(lines)


def draw(args, cells):
    gnuplot = shutil.which("gnuplot")
    out_dir = os.path.join(ROOT, "docs", "results")
    acc = os.path.join(args.out, "accuracy.tsv")
    with open(acc, "w") as f:
        f.write("# batch\tsimclr_knn\tsimclr_knn_sd\tflatclr_knn\tflatclr_knn_sd\tsimclr_lin\tsimclr_lin_sd\tflatclr_lin\tflatclr_lin_sd\n")
        for batch in args.batches:
            line = [str(batch)]
            for key in ("knn", "linear"):
                for method in METHODS:
                    xs = [g[key] for g in cells.get((method, batch), [])]
                    line += (["%.3f" % statistics.mean(xs), "%.3f" % (statistics.stdev(xs) if len(xs) > 1 else 0)]
                             if xs else ["NaN", "NaN"])
            f.write("\t".join(line) + "\n")
    curves = os.path.join(args.out, "p_pos.tsv")
    with open(curves, "w") as f:
        for method in METHODS:
            for batch in args.batches:
                got = cells.get((method, batch), [])
                if got:
                    f.write("# %s batch %d\n" % (method, batch))
                    for e, p, _ in got[0]["curve"]:
                        f.write("%.4f\t%.6g\n" % (e, p))
                    f.write("\n\n")
    if not gnuplot:
        return "(gnuplot is not installed: no plots)"
    script = os.path.join(args.out, "plots.gp")
    index = [(m, b) for m in METHODS for b in args.batches if cells.get((m, b))]
    with open(script, "w") as gp:
        gp.write("set terminal pngcairo size 900,560 noenhanced font 'sans,10'\nset grid\nset key top left\n")
        gp.write("set output '%s'\nset logscale x 2\nset xlabel 'batch size (images)'\nset ylabel 'top-1 (%%)'\n"
                 % os.path.join(out_dir, "logk-study-accuracy.png"))
        gp.write("set title 'CIFAR-10, ResNet-18 x0.125, %s epochs on 5,000 images: mean and spread over seeds'\n"
                 % PROTOCOL["epochs"])
        gp.write("plot '%s' u 1:2:3 w yerrorlines t 'SimCLR kNN', '' u 1:4:5 w yerrorlines t 'FlatCLR kNN', "
                 "'' u 1:6:7 w yerrorlines t 'SimCLR linear', '' u 1:8:9 w yerrorlines t 'FlatCLR linear'\n" % acc)
        gp.write("unset logscale x\nset output '%s'\nset xlabel 'epoch'\nset ylabel 'mean p+ (positive probability)'\n"
                 "set key top left\nset title 'p+ over training (first seed of each run)'\n"
                 % os.path.join(out_dir, "logk-study-ppos.png"))
        # One colour per batch size; SimCLR solid, FlatCLR dashed.
        colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
        gp.write("plot " + ", ".join("'%s' index %d u 1:2 w l lw 1.5 lc rgb '%s' dt %d t '%s b%d'" % (
            curves, i, colours[args.batches.index(b) % len(colours)], 1 if m == "simclr" else 2,
            {"simclr": "SimCLR", "flatclr": "FlatCLR"}[m], b) for i, (m, b) in enumerate(index)) + "\n")
    subprocess.call([gnuplot, script])
    return ("![accuracy against batch size](logk-study-accuracy.png)\n\n"
            "![p+ over training](logk-study-ppos.png)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.path.join(ROOT, "build", "datasets"))
    p.add_argument("--out", default=os.path.join(ROOT, "results", "logk-study"))
    p.add_argument("--hours", type=float, default=1e9)
    p.add_argument("--seeds", default="1,2")
    p.add_argument("--batches", default="8,16,32,64,128")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--binary", default=FLATCLR)
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--cells-from-page", action="store_true",
                   help="write docs/results/logk-study.json from the committed page's table (when the runs are gone)")
    args = p.parse_args()
    if args.cells_from_page:
        page = open(os.path.join(ROOT, "docs", "results", "logk-study.md")).read()
        write_cells_json(cells_json(stats_from_page(page)))
        log("wrote %s from the page's table" % os.path.relpath(CELLS_JSON, ROOT))
        return
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.batches = [int(b) for b in args.batches.split(",")]
    args.data_rel = os.path.relpath(args.data, ROOT)
    os.makedirs(os.path.join(args.out, "runs"), exist_ok=True)
    deadline = time.time() + args.hours * 3600
    if not args.report_only:
        for seed in args.seeds:
            for batch in args.batches:
                for method in METHODS:
                    if not do_run(args, method, batch, seed, deadline):
                        log("deadline reached: stopping (rerun to continue)")
                        report(args)
                        return
    report(args)


if __name__ == "__main__":
    main()
