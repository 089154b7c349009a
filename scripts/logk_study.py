#!/usr/bin/env python3
"""The small-batch study: SimCLR (InfoNCE) against FlatCLR (FlatNCE) on real CIFAR-10 at batch sizes 8 to 128, with
a CPU-sized protocol, several seeds, and runs that resume across sessions. Writes docs/results/logk-study.md (the
table, the commands) and two PNG plots (accuracy against batch size; p+ over training).

  scripts/logk_study.py [--data build/datasets] [--out results/logk-study] [--hours H] [--seeds 1,2]
                        [--batches 8,16,32,64,128] [--binary build/flatclr] [--report-only]
  scripts/logk_study.py --freeze DIR        (a copy of the binaries with their build record, for --binary)
  scripts/logk_study.py --cells-from-page   (the runs being gone: the computed sections from the page's table)

Every run lives in <out>/runs/<method>_b<batch>_s<seed>/ (flatclr's own run folder inside). A finished run (its last
checkpoint and both evaluations in eval_results.jsonl) leaves a record, docs/results/logk-runs/<name>.json (its
summary, p+ curve and build; --records), which is committed: a run with a record is skipped, on any machine; an interrupted one resumes from its newest
checkpoint (exact); --hours stops starting new work after that many hours, so a session can end cleanly and the
next one carries on. The report is rebuilt from whatever has finished, every time. Python 3 standard library and
gnuplot only; the binary is build/flatclr unless --binary names a frozen copy (so that rebuilding the project
while the study runs does not change the runs under it).
"""
import argparse
import glob
import hashlib
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
# Each finished run's summary (both evaluations done), committed: docs/results/logk-runs/<name>.json, with the p+
# curve and the build that made the run. Run folders live outside the repository, on a machine that does not
# outlast its session; with the records the next session skips what is finished and the page is rebuilt without the
# folders.
RECORDS = os.path.join(ROOT, "docs", "results", "logk-runs")


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


def build_info(binary):
    """What made the runs: the binary's checkout commit (and whether it had uncommitted changes), the binary's
    sha256 and the build options that decide what it computes (its build folder's CMakeCache.txt). A frozen copy
    (freeze()) carries this record next to it, taken when it was copied."""
    binary = os.path.abspath(binary)
    frozen = os.path.join(os.path.dirname(binary), "build.json")
    if os.path.exists(frozen):
        with open(frozen) as f:
            return json.load(f)
    build_dir = os.path.dirname(binary)
    source = ROOT
    cache = os.path.join(build_dir, "CMakeCache.txt")
    options = {}
    if os.path.exists(cache):
        with open(cache) as f:
            for line in f:
                name, _, value = line.strip().partition("=")
                if name.split(":")[0] in ("CMAKE_BUILD_TYPE", "CMAKE_CXX_COMPILER", "CMAKE_CXX_FLAGS",
                                          "CMAKE_CXX_FLAGS_RELEASE", "FLATCLR_CUDA", "Torch_DIR"):
                    options[name.split(":")[0]] = value
                if name.startswith("CMAKE_HOME_DIRECTORY"):
                    source = value
    git = lambda *a: subprocess.run(["git", "-C", source] + list(a), stdout=subprocess.PIPE, text=True).stdout.strip()
    with open(binary, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    return {"commit": git("rev-parse", "HEAD") or "unknown",
            "dirty": git("status", "--porcelain", "--untracked-files=no") != "", "sha256": sha, "cmake": options}


def freeze(dest):
    """Copies build/flatclr and build/bench_logk_mechanism to dest with their build record, so that the study can
    run from the copy (--binary dest/flatclr) while the checkout is rebuilt or moves on."""
    os.makedirs(dest, exist_ok=True)
    for name in ("flatclr", "bench_logk_mechanism"):
        src = os.path.join(ROOT, "build", name)
        if not os.path.exists(src):
            raise SystemExit("error: %s is missing: build it first" % src)
        shutil.copy2(src, os.path.join(dest, name + ".tmp"))
        os.replace(os.path.join(dest, name + ".tmp"), os.path.join(dest, name))
    record = build_info(os.path.join(ROOT, "build", "flatclr"))
    with open(os.path.join(dest, "build.json.tmp"), "w") as f:
        json.dump(record, f, indent=1)
    os.replace(os.path.join(dest, "build.json.tmp"), os.path.join(dest, "build.json"))
    log("froze build/flatclr (commit %s%s) in %s: run with --binary %s" % (
        record["commit"][:12], ", uncommitted changes" if record["dirty"] else "", dest,
        os.path.join(dest, "flatclr")))


def builds_text(runs):
    """The builds that made the finished runs (summaries with their "build")."""
    found = {}
    for g in runs:
        b = g.get("build")
        if not b:
            continue
        key = "flatclr %s%s, %s build" % (b["commit"][:12], " with uncommitted changes" if b["dirty"] else "",
                                          b["cmake"].get("CMAKE_BUILD_TYPE", "?"))
        found[key] = found.get(key, 0) + 1
    if not found:
        return "; the runs do not record their build (made before the study recorded it)"
    return "; runs made by " + "; ".join("%s (%d runs)" % kv for kv in sorted(found.items()))


def do_run(args, method, batch, seed, deadline):
    """Brings one run of this study forward; returns False when the deadline stopped it."""
    name = "%s_b%d_s%d" % (method, batch, seed)
    if read_record(args, name):
        return True  # finished, perhaps on another machine: its record is the run
    runs_dir = os.path.join(args.out, "runs")
    flags = pretrain_args(args, method, batch, seed, os.path.join(runs_dir, name))
    evals = [(mode, lambda run, mode=mode: eval_args(args, run, mode, seed)) for mode in ("knn", "linear_eval")]
    return advance(args.binary, runs_dir, name, flags, evals, int(PROTOCOL["epochs"]), deadline,
                   build=args.build)


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


def record_path(args, name):
    records = getattr(args, "records", None)
    return os.path.join(records, name + ".json") if records else None


def read_record_file(path):
    """The record at path (None when there is none). One that is not JSON stops the study with an error naming it:
    a run is never rerun over a record that may hold its only copy."""
    if not path or not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as e:
        raise SystemExit("error: %s: not a run record (%s): restore it (git checkout) or delete it to rerun the run"
                         % (path, e))


def read_record(args, name):
    return read_record_file(record_path(args, name))


def write_record(path, got):
    """A finished run's summary as one JSON line (the p+ curve, where there is one, rounded to 4 decimals), written
    to a temporary file and renamed; left alone when it holds the same already. Shared with saturation_study.py."""
    curve = got.get("curve")
    rec = json.loads(json.dumps(dict(got, curve=[[round(x, 4) for x in c] for c in curve] if curve else curve)))
    if read_record_file(path) == rec:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(rec, f, separators=(",", ":"))
        f.write("\n")
    os.replace(path + ".tmp", path)


def summarise(args, method, batch, seed):
    """One run's numbers once both evaluations are done: from its folder (its record then written), else from its
    record, else None."""
    name = "%s_b%d_s%d" % (method, batch, seed)
    save_dir = os.path.join(args.out, "runs", name)
    s = summarise_run(run_folder(save_dir), int(PROTOCOL["epochs"]), 5000, batch)
    if not (s and s["knn"] is not None and s["linear"] is not None):
        return read_record(args, name)
    build = os.path.join(save_dir, "build.json")
    s["build"] = None
    if os.path.exists(build):
        with open(build) as f:
            s["build"] = json.load(f)
    if record_path(args, name):
        write_record(record_path(args, name), s)
    return s


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
    page = page.replace("@UPDATED@", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())).replace("@SOURCE@", builds_text(
        [g for v in cells.values() for g in v]))
    stats = stats_from_runs(cells)
    page = page.replace("@REGIME@", regime(stats))
    page = page.replace("@MECHANISM@", mechanism(args.binary))
    smallest = [g for g in cells.get(("simclr", min(args.batches)), [])]
    page = page.replace("@CONCLUSION@", conclusion(stats, smallest[0]["curve"] if smallest else None))
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
            "saturated": round(statistics.mean(g["saturated"] for g in got), 4),
            "mi": round(statistics.mean(g["mi"] for g in got), 4), "log_k": round(got[0]["log_k"], 4)}
    return stats


TABLE_ROW = re.compile(r"^\| (SimCLR|FlatCLR) \| (\d+) \| (\d+) \| ([\d.]+)(?: ± ([\d.]+))? \| ([\d.]+)(?: ± ([\d.]+))? \| "
                       r"([\d.]+) \(max ([\d.]+)\) \| ([\d.]+) \| ([\d.]+) of ([\d.]+) \|")


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
            "p_pos": f(8), "p_pos_max": f(9), "saturated": f(10), "mi": f(11), "log_k": f(12)}
    return stats


def stats_from_cells(cells_list):
    """The stats that cells_json() wrote, read back from docs/results/logk-study.json (the runs' numbers rounded to
    4 decimals: what report() computed the page's conclusion from)."""
    return {(method, c["setting"]["batch_size"]): c["methods"][method] for c in cells_list for method in c["methods"]}


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


MECHANISM_ROW = re.compile(r"^\s*([0-9.e+-]+)\s+([0-9.]+) \|\s+([0-9.e+-]+)\s+([0-9.e+-]+) \|\s+([0-9.e+-]+)\s+"
                           r"([0-9.e+-]+) \|\s+([0-9.e+-]+)\s*$")


def sci(x):
    """1e-06 -> "1e-6", 3e-07 -> "3e-7", 0.5 -> "0.5"."""
    if x >= 0.1:
        return "%g" % x
    mant, exp = ("%.0e" % x).split("e")
    return "%se%d" % (mant, int(exp))


def mechanism_section(text):
    """The mechanism table and the sentence it supports, from bench_logk_mechanism's output: per 1 − p+, tau, each
    loss's gradient norm in float64 and the relative error of its float32 gradient."""
    rows = [tuple(float(x) for x in m.groups()) for m in map(MECHANISM_ROW.match, text.splitlines()) if m]
    if not rows:
        raise SystemExit("bench_logk_mechanism printed no table:\n" + text)
    out = ["| 1 − p+ | tau | InfoNCE norm | its float32 error | FlatNCE norm | its float32 error |",
           "|---|---|---|---|---|---|"]
    for q, tau, gi, ei, gf, ef, _ in rows:
        out.append("| %s | %.3g | %.3g | %.1e | %.3g | %.1e |" % (sci(q), tau, gi, ei, gf, ef))
    ratio_err = max(abs(r / q - 1) for q, _, _, _, _, _, r in rows)
    lost = [q for q, _, _, ei, _, _, _ in rows if ei > 0.5]
    flat_err = max(ef for _, _, _, _, _, ef, _ in rows)
    out += ["", "InfoNCE's gradient is (1 − p+) times FlatNCE's: their norms' ratio equals 1 − p+ %s in every row. "
            "%s FlatNCE's float32 error stays at or below %.1e." % (
                "to the 5 digits printed" if ratio_err < 5e-5 else "within a relative %.1e" % ratio_err,
                "From 1 − p+ = %s on, InfoNCE's float32 gradient is mostly rounding error (relative error above 0.5);"
                % sci(max(lost)) if lost else "InfoNCE's float32 error stays below 0.5 in every row;", flat_err)]
    return "\n".join(out)


def mechanism(binary):
    bench = os.path.join(os.path.dirname(os.path.abspath(binary)), "bench_logk_mechanism")
    if not os.path.exists(bench):
        raise SystemExit("error: %s is missing: build it (cmake --build build --target bench_logk_mechanism)" % bench)
    return mechanism_section(subprocess.run([bench], stdout=subprocess.PIPE, text=True, check=True).stdout)


def conclusion(stats, curve=None):
    """The conclusion, every number computed from the cells (stats as stats_from_runs makes them) and, when given,
    the p+ curve of SimCLR's smallest batch (first seed: (epoch, p+, saturated share) per logging interval)."""
    cells = [c for c in cells_json(stats) if c["flatclr_minus_simclr"].get("knn")]
    if not cells:
        return "(no cell has both methods finished yet)"
    batches = [c["setting"]["batch_size"] for c in cells]
    seeds = sorted({m["seeds"] for c in cells for m in c["methods"].values()})
    sim = {b: stats[("simclr", b)] for b in batches}
    flat = {b: stats[("flatclr", b)] for b in batches}
    lines = ["Computed by `scripts/logk_study.py` from the table above (%s seeds per cell, batch %d to %d). FlatCLR − "
             "SimCLR is set against the seeds' spread with Student's two-sample t (two-sided 95%%; the table does not "
             "pair the seeds)." % (" to ".join(map(str, seeds)), batches[0], batches[-1]), ""]
    wins, losses = [], []
    for key, label in (("knn", "kNN"), ("linear", "Linear probe")):
        diffs = [(c["setting"]["batch_size"], c["flatclr_minus_simclr"][key]) for c in cells
                 if key in c["flatclr_minus_simclr"]]
        ahead = [b for b, d in diffs if d["beyond_spread"] and d["mean"] > 0]
        behind = [b for b, d in diffs if d["beyond_spread"] and d["mean"] < 0]
        wins += ["%s at batch %d" % (label, b) for b in ahead]
        losses += ["%s at batch %d" % (label, b) for b in behind]
        if not ahead and not behind:
            head = "no difference beyond the seeds' spread at any batch size"
        else:
            head = "; ".join(x for x in ("FlatCLR ahead beyond the seeds' spread at batch " +
                                         ", ".join(map(str, ahead)) if ahead else "",
                                         "FlatCLR behind beyond the seeds' spread at batch " +
                                         ", ".join(map(str, behind)) if behind else "") if x)
        largest = max(diffs, key=lambda bd: abs(bd[1]["mean"]))
        lines.append("- **%s: %s.** FlatCLR minus SimCLR, in points: %s. The largest difference is %.2f points "
                     "(batch %d)." % (label, head, ", ".join("%+.2f (batch %d, t = %.2f)" % (d["mean"], b, d["t"])
                                                             for b, d in diffs),
                                      abs(largest[1]["mean"]), largest[0]))
    lines.append("- **Where FlatCLR wins beyond the seeds' spread: %s.**%s" % (
        ", ".join(wins) if wins else "nowhere, at this scale",
        " Where it loses: %s." % ", ".join(losses) if losses else ""))
    pmax_b = max(batches, key=lambda b: sim[b]["p_pos_max"])
    sat_b = max(batches, key=lambda b: sim[b]["saturated"])
    saturated = sim[sat_b]["saturated"] >= 50
    lines.append("- **Why: %s.**" % (
        "SimCLR's rows saturated (at least half of them over the last epoch at batch %d)" % sat_b if saturated else
        "no SimCLR run entered the saturated regime that FlatNCE is built for"))
    lines.append("  - SimCLR's highest p+ in any logging interval was %.3f (batch %d). %s" % (
        sim[pmax_b]["p_pos_max"], pmax_b,
        "The largest share of SimCLR rows saturated (p+ > 0.99) over a last epoch was %.1f%% (batch %d)." % (
            sim[sat_b]["saturated"], sat_b) if sim[sat_b]["saturated"] > 0 else
        "No SimCLR row saturated (p+ > 0.99) over any last epoch (the share rounds to 0.0% in every cell)."))
    if all("mi" in sim[b] for b in batches):
        lo, hi = batches[0], batches[-1]
        lines.append("  - SimCLR's InfoNCE mutual-information estimate over the last epoch reached %.0f%% of its log K "
                     "ceiling at batch %d (%.2f of %.2f nats) and %.0f%% at batch %d (%.2f of %.2f)." % (
                         100 * sim[lo]["mi"] / sim[lo]["log_k"], lo, sim[lo]["mi"], sim[lo]["log_k"],
                         100 * sim[hi]["mi"] / sim[hi]["log_k"], hi, sim[hi]["mi"], sim[hi]["log_k"]))
    top = max(sim[b]["p_pos"] for b in batches)
    lines.append("  - InfoNCE keeps 1 − p+ of a row's gradient. SimCLR's mean p+ over a last epoch was at most %.3f, "
                 "so the mean row kept at least %.0f%% of it (a mean: single rows may have kept less). The mechanism "
                 "table above shows the loss of gradient becoming material only as p+ nears 0.99." % (
                     top, 100 * (1 - top)))
    higher = [b for b in batches if flat[b]["p_pos"] > sim[b]["p_pos"]]
    b0 = batches[0]
    lines.append("  - FlatCLR's mean p+ over the last epoch was higher than SimCLR's at %d of %d batch sizes (batch "
                 "%d: %.3f against %.3f, with %.1f%% of FlatCLR's rows saturated)." % (
                     len(higher), len(batches), b0, flat[b0]["p_pos"], sim[b0]["p_pos"], flat[b0]["saturated"]))
    if curve:
        last_epoch = int(round(curve[-1][0]))
        at = lambda e: min(curve, key=lambda c: abs(c[0] - e))[1]
        mid = (last_epoch + 1) // 2
        lines.append("  - SimCLR's p+ at batch %d (first seed) was %.2f after epoch 1, %.2f after epoch %d and %.2f "
                     "after epoch %d%s." % (b0, at(1), at(mid), mid, at(last_epoch), last_epoch,
                                           ": still rising when the cosine schedule brought the learning rate to zero"
                                           if at(last_epoch) > at(mid) else ""))
    return "\n".join(lines)


def refresh_from_page(args):
    """When the runs are gone but the page they made is committed: the cells (docs/results/logk-study.json) and the
    page's computed sections (mechanism, conclusion, the cells for diagnose) from the page's own table, its table,
    plots and commands kept as they are. What only the runs hold (the p+ curves) is left out until a rerun."""
    path = os.path.join(ROOT, "docs", "results", "logk-study.md")
    old = open(path).read()
    stats = stats_from_page(old)
    if not stats:
        raise SystemExit("error: %s has no results table to read" % path)
    lines = old.splitlines()
    rows = [l for l in lines if TABLE_ROW.match(l)]
    plots = [l for l in lines if l.startswith("![")]
    commands = old.split("## Commands\n```sh\n", 1)[1].split("```", 1)[0].splitlines()
    first = re.search(r"last update: ([^;]+); ([^)]+)\)", old)
    if not first:
        raise SystemExit("error: %s has no 'last update' line to keep" % path)
    page = open(os.path.join(ROOT, "docs", "results", "logk-study.md.in")).read()
    page = page.replace("@TABLE@", "\n".join(rows)).replace("@PLOTS@", "\n\n".join(plots))
    page = page.replace("@STUDY@", commands[0]).replace("@PRETRAIN@", commands[2]).replace("@EVAL@", commands[3])
    page = page.replace("@UPDATED@", first.group(1)).replace("@PROGRESS@", first.group(2))
    page = page.replace("@SOURCE@", ". The runs are gone: on %s the computed sections (mechanism, conclusion, the cells "
                        "for diagnose) were rebuilt from this page's table (`--cells-from-page`), which leaves out what "
                        "only the runs hold, SimCLR's p+ over training" % time.strftime("%Y-%m-%d", time.gmtime()))
    page = page.replace("@REGIME@", regime(stats)).replace("@MECHANISM@", mechanism(args.binary))
    page = page.replace("@CONCLUSION@", conclusion(stats))
    with open(path + ".tmp", "w") as f:
        f.write(page)
    os.replace(path + ".tmp", path)
    write_cells_json(cells_json(stats))
    log("rewrote %s's computed sections and %s from its table" % (os.path.relpath(path, ROOT),
                                                                   os.path.relpath(CELLS_JSON, ROOT)))


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
    p.add_argument("--freeze", metavar="DIR", help="copy build/flatclr and its benchmark to DIR with their build "
                   "record, then stop (run the study with --binary DIR/flatclr)")
    p.add_argument("--cells-from-page", action="store_true",
                   help="when the runs are gone: rewrite docs/results/logk-study.json and the page's computed "
                        "sections from the committed page's table")
    p.add_argument("--records", default=RECORDS, help="where the finished runs' records go (committed, so that "
                   "a session on another machine carries on)")
    args = p.parse_args()
    if args.freeze:
        freeze(args.freeze)
        return
    if args.cells_from_page:
        refresh_from_page(args)
        return
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.batches = [int(b) for b in args.batches.split(",")]
    args.data_rel = os.path.relpath(args.data, ROOT)
    os.makedirs(os.path.join(args.out, "runs"), exist_ok=True)
    deadline = time.time() + args.hours * 3600
    if not args.report_only:
        args.build = build_info(args.binary)
        for seed in args.seeds:
            for batch in args.batches:
                for method in METHODS:
                    if not do_run(args, method, batch, seed, deadline):
                        log("deadline reached: stopping (rerun to continue)")
                        report(args)
                        return
                    summarise(args, method, batch, seed)  # its record, as soon as it is finished
    report(args)


if __name__ == "__main__":
    main()
