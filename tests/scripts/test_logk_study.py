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
        self.page = open(os.path.join(ROOT, "docs", "results", "logk-study.md")).read()
        self.cells = json.load(open(os.path.join(ROOT, "docs", "results", "logk-study.json")))

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
                    # The page prints 2 decimals of top-1 and 3 of p+: the cells may hold the runs' full precision.
                    self.assertAlmostEqual(got["methods"][method][key], v, delta=0.0051, msg=(want["regime"], key))
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


if __name__ == "__main__":
    unittest.main()
