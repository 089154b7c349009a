#!/usr/bin/env python3
"""Checks of scripts/logk_study.py's cells for `flatclr diagnose`: the two-sample comparison against a closed form,
the committed docs/results/logk-study.json against the committed page's table (the two are written together, so a
hand edit of either, or a page regenerated without its cells, fails here), and the page's "For `flatclr diagnose`"
section against the cells. Python 3 standard library; run: python3 tests/scripts/test_logk_study.py
"""
import json
import math
import os
import sys
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import logk_study as ls  # noqa: E402


class UnpairedTest(unittest.TestCase):
    def test_two_sample_t_with_the_pooled_sd(self):
        # SimCLR 10 and 12 (mean 11, sd sqrt 2), FlatCLR 14 and 16 (mean 15, sd sqrt 2): pooled sd sqrt 2,
        # standard error sqrt 2 * sqrt(1/2 + 1/2) = sqrt 2, t = 4 / sqrt 2 = 2.83 < 4.30 (2 degrees of freedom).
        d = ls.unpaired((2, 11.0, math.sqrt(2)), (2, 15.0, math.sqrt(2)))
        self.assertAlmostEqual(d["mean"], 4.0)
        self.assertAlmostEqual(d["t"], 4 / math.sqrt(2), places=3)
        self.assertFalse(d["beyond_spread"])
        self.assertFalse(d["paired"])
        # 3 seeds each, sd 0.5: se = 0.5 * sqrt(2/3), t = 1 / 0.408 = 2.45 < 2.776 (4 df); 2 points: 4.90 > 2.776.
        self.assertFalse(ls.unpaired((3, 10.0, 0.5), (3, 11.0, 0.5))["beyond_spread"])
        self.assertTrue(ls.unpaired((3, 10.0, 0.5), (3, 12.0, 0.5))["beyond_spread"])
        self.assertIsNone(ls.unpaired((1, 10.0, 0.0), (2, 12.0, 0.5)))


class CommittedCellsTest(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(ROOT, "docs", "results", "logk-study.md")) as f:
            self.page = f.read()
        with open(os.path.join(ROOT, "docs", "results", "logk-study.json")) as f:
            self.cells = json.load(f)

    def test_the_cells_are_the_pages_table(self):
        stats = ls.stats_from_page(self.page)
        self.assertEqual(len(stats), 10, "the page's table: SimCLR and FlatCLR at 5 batch sizes")
        expected = ls.cells_json(stats)
        self.assertEqual(len(self.cells), len(expected))
        for got, want in zip(self.cells, expected):
            self.assertEqual(got["regime"], want["regime"])
            self.assertEqual(got["setting"], want["setting"])
            for method in ls.METHODS:
                for key, v in want["methods"][method].items():
                    # The page prints 2 decimals of top-1 and MI, 3 of p+ and 1 of the saturated share: the cells
                    # hold the runs' numbers to 4 decimals.
                    self.assertAlmostEqual(got["methods"][method][key], v, delta=0.051 if key == "saturated" else 0.0051,
                                           msg=(want["regime"], key))
            for key in ("knn", "linear"):
                self.assertAlmostEqual(got["flatclr_minus_simclr"][key]["mean"], want["flatclr_minus_simclr"][key]["mean"],
                                       delta=0.011)
                self.assertEqual(got["flatclr_minus_simclr"][key]["beyond_spread"],
                                 want["flatclr_minus_simclr"][key]["beyond_spread"])

    def test_the_page_states_each_cells_difference(self):
        for c in self.cells:
            d = c["flatclr_minus_simclr"]["knn"]
            line = "- %s: kNN %+.2f (t = %.2f, %s the seeds' spread)" % (
                c["regime"], d["mean"], d["t"], "beyond" if d["beyond_spread"] else "within")
            self.assertIn(line, self.page)


    def test_the_pages_conclusion_is_computed_from_its_cells(self):
        # report() computes the conclusion from the same 4-decimal numbers it writes to the JSON (the p+ curve
        # sentence, which needs the runs, aside).
        text = ls.conclusion(ls.stats_from_cells(self.cells))
        self.assertIn(text, self.page)
        # The slips a hand-written conclusion had: SimCLR's highest p+ is the table's, not "never passed 0.50".
        top = max(c["methods"]["simclr"]["p_pos_max"] for c in self.cells)
        self.assertIn("SimCLR's highest p+ in any logging interval was %.3f" % top, text)
        self.assertIn("| SimCLR | 8 | 2 |", self.page)
        self.assertIn("(max %.3f)" % top, self.page)  # the same number in the table


SAMPLE_BENCH = """log-K mechanism: batch 16 (2N = 32 views, 30 negatives per row), positives at cosine 0.50
1 - p+            tau |  InfoNCE |g| fp32 rel err |  FlatNCE |g| fp32 rel err |    |g| ratio
5.0e-01        0.1470 |   1.0756e+00     2.72e-07 |   2.1511e+00     9.13e-08 |   5.0000e-01
1.0e-02        0.0625 |   5.0573e-02     3.76e-05 |   5.0573e+00     9.99e-08 |   1.0000e-02
3.0e-06        0.0310 |   3.0582e-05     3.22e-01 |   1.0194e+01     1.06e-07 |   3.0000e-06
1.0e-06        0.0290 |   1.0889e-05     8.73e-01 |   1.0889e+01     9.79e-08 |   1.0000e-06
1.0e-07        0.0256 |   1.2345e-06     9.68e-01 |   1.2345e+01     1.02e-07 |   1.0000e-07
InfoNCE's float32 gradient is mostly rounding error from 1 - p+ = 1.0e-06 on; FlatNCE's stays accurate
"""


class MechanismTest(unittest.TestCase):
    def test_table_and_sentence_from_the_benchmark(self):
        text = ls.mechanism_section(SAMPLE_BENCH)
        self.assertIn("| 1e-2 | 0.0625 | 0.0506 | 3.8e-05 | 5.06 | 1.0e-07 |", text)
        self.assertIn("| 3e-6 | 0.031 | 3.06e-05 | 3.2e-01 | 10.2 | 1.1e-07 |", text)
        self.assertIn("ratio equals 1 − p+ to the 5 digits printed", text)
        self.assertIn("From 1 − p+ = 1e-6 on, InfoNCE's float32 gradient is mostly rounding error", text)
        self.assertIn("FlatNCE's float32 error stays at or below 1.1e-07", text)

    def test_a_ratio_off_its_1_minus_p_is_stated(self):
        text = ls.mechanism_section(SAMPLE_BENCH.replace("5.0000e-01", "5.1000e-01"))
        self.assertIn("within a relative 2.0e-02", text)

    def test_no_table_is_an_error(self):
        with self.assertRaises(SystemExit):
            ls.mechanism_section("nothing here")

    def test_a_missing_benchmark_names_itself(self):
        with self.assertRaises(SystemExit) as e:
            ls.mechanism("/nonexistent/build/flatclr")
        self.assertIn("/nonexistent/build/bench_logk_mechanism is missing", str(e.exception))

    def test_a_page_without_its_table_gives_no_cells(self):
        self.assertEqual(ls.stats_from_page("# a page\n| method | batch |\n"), {})
        self.assertEqual(ls.conclusion({}), "(no cell has both methods finished yet)")


def cell(knn, knn_sd, lin, lin_sd, p_pos, p_max, sat, seeds=3):
    return {"seeds": seeds, "knn": knn, "knn_sd": knn_sd, "linear": lin, "linear_sd": lin_sd, "p_pos": p_pos,
            "p_pos_max": p_max, "saturated": sat, "mi": 1.0, "log_k": 2.71}


class ConclusionTest(unittest.TestCase):
    def test_a_win_beyond_the_spread_is_named(self):
        stats = {("simclr", 8): cell(30.0, 0.3, 28.0, 0.3, 0.95, 0.999, 60.0),
                 ("flatclr", 8): cell(33.0, 0.3, 28.2, 0.3, 0.97, 0.999, 70.0),
                 ("simclr", 16): cell(35.0, 0.5, 33.0, 0.5, 0.5, 0.6, 0.0),
                 ("flatclr", 16): cell(35.2, 0.5, 33.1, 0.5, 0.6, 0.7, 1.0)}
        text = ls.conclusion(stats, curve=[(0.5, 0.2, 0.0), (1.0, 0.3, 0.0), (2.0, 0.5, 0.0), (3.0, 0.6, 0.0)])
        self.assertIn("**kNN: FlatCLR ahead beyond the seeds' spread at batch 8.**", text)
        self.assertIn("+3.00 (batch 8, t = 12.25)", text)  # 3 / (0.3 * sqrt(2/3))
        self.assertIn("**Linear probe: no difference beyond the seeds' spread at any batch size.**", text)
        self.assertIn("**Where FlatCLR wins beyond the seeds' spread: kNN at batch 8.**", text)
        self.assertIn("**Why: SimCLR's rows saturated (at least half of them over the last epoch at batch 8).**", text)
        self.assertIn("was 0.999 (batch 8). The largest share of SimCLR rows saturated (p+ > 0.99) over a last epoch "
                      "was 60.0% (batch 8).", text)
        self.assertIn("p+ at batch 8 (first seed) was 0.30 after epoch 1, 0.50 after epoch 2 and 0.60 after epoch 3: "
                      "still rising", text)

    def test_a_loss_beyond_the_spread_is_named(self):
        stats = {("simclr", 8): cell(33.0, 0.3, 28.0, 0.3, 0.4, 0.5, 0.0),
                 ("flatclr", 8): cell(30.0, 0.3, 28.2, 0.3, 0.5, 0.6, 0.0)}
        text = ls.conclusion(stats)
        self.assertIn("FlatCLR behind beyond the seeds' spread at batch 8", text)
        self.assertIn("nowhere, at this scale.** Where it loses: kNN at batch 8.", text)
        self.assertIn("no SimCLR run entered the saturated regime", text)


class RecordsTest(unittest.TestCase):
    """A finished run (both evaluations) leaves a record that stands in for its folder once the folder is gone, and
    do_run skips a recorded run."""

    def test_the_record_outlives_the_folder(self):
        import shutil
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            args = type("Args", (), {})()
            args.out, args.records = os.path.join(tmp, "out"), os.path.join(tmp, "records")
            save_dir = os.path.join(args.out, "runs", "simclr_b8_s1")
            run = os.path.join(save_dir, "cifar10", "8_SimCLR", "t0")
            os.makedirs(run)
            epochs = int(ls.PROTOCOL["epochs"])
            open(os.path.join(run, "checkpoint_%04d.pth.tar" % epochs), "w").close()
            with open(os.path.join(run, "steps.jsonl"), "w") as f:
                for e in range(1, epochs + 1):
                    f.write(json.dumps({"epoch": e, "global_step": e * 625, "p_pos_mean": 0.3 + 0.01 * e,
                                        "saturated": 0.0, "mi_estimate": 1.2, "log_k": 2.7}) + "\n")
            with open(os.path.join(run, "metrics.jsonl"), "w") as f:
                f.write(json.dumps({"epoch": epochs, "epoch_time_s": 12.0}) + "\n")
            with open(os.path.join(save_dir, "build.json"), "w") as f:
                json.dump({"commit": "e" * 40, "dirty": False, "sha256": "0", "cmake": {"CMAKE_BUILD_TYPE": "Release"}},
                          f)
            results = os.path.join(run, "eval_results.jsonl")
            with open(results, "w") as f:
                f.write(json.dumps({"mode": "knn", "pretrain_epoch": epochs, "best_top1": 0.38}) + "\n")
            self.assertIsNone(ls.summarise(args, "simclr", 8, 1))  # the linear probe is missing
            self.assertIsNone(ls.read_record(args, "simclr_b8_s1"))
            with open(results, "a") as f:
                f.write(json.dumps({"mode": "linear_eval", "pretrain_epoch": epochs, "best_top1": 0.35}) + "\n")
            got = ls.summarise(args, "simclr", 8, 1)
            shutil.rmtree(save_dir)
            rec = ls.summarise(args, "simclr", 8, 1)
            for key in ("knn", "linear", "p_pos", "p_pos_max", "saturated", "mi", "log_k", "wall_s"):
                self.assertAlmostEqual(rec[key], got[key], places=9, msg=key)
            self.assertEqual(len(rec["curve"]), epochs)
            self.assertIn("flatclr eeeeeeeeeeee, Release build (1 runs)", ls.builds_text([rec]))
            # a recorded run is finished: do_run starts nothing, even past its deadline
            args.data, args.threads, args.binary, args.build = tmp, 1, "/nonexistent/flatclr", {}
            self.assertTrue(ls.do_run(args, "simclr", 8, 1, 0))
            self.assertFalse(os.path.exists(save_dir))
            # a damaged record stops the study with an error naming it, and stays as it was
            path = ls.record_path(args, "simclr_b8_s1")
            with open(path, "w") as f:
                f.write('{"knn": 37.')
            with self.assertRaises(SystemExit) as e:
                ls.do_run(args, "simclr", 8, 1, 0)
            self.assertIn(path + ": not a run record", str(e.exception))
            with open(path) as f:
                self.assertEqual(f.read(), '{"knn": 37.')


if __name__ == "__main__":
    unittest.main()
