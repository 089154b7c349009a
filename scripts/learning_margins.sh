#!/usr/bin/env bash
# Measures what the margins of tests/e2e/test_learning_cli.cpp rest on: runs its tests (each a pretraining run
# and its nothing-learned control, both scored by kNN) once per seed, prints every `learning |` line, then per
# run the mean and standard deviation over the seeds of the pretrained score, the control's and their gap.
#   scripts/learning_margins.sh [SEED...]          default seeds: 1 2 3 (the test itself uses 2)
# env: FLATCLR_LEARNING_FILTER   a gtest filter (default: both tests, the disabled SimCLR one included)
#      FLATCLR_LEARNING_CONTROL_EPOCHS   epochs of the control (default 1; 8 checks that one epoch is enough)
# Needs the build (scripts/setup.sh --test) and the CIFAR-10 binaries under build/datasets (ctest's
# prepare_cifar10 fixture makes them). About 6 minutes per seed on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
filter=${FLATCLR_LEARNING_FILTER:-EndToEndLearning.*}
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
for s in "${seeds[@]}"; do
  # A failing assertion still prints the scores; the summary is what counts here.
  FLATCLR_LEARNING_SEED=$s build/flatclr_e2e_tests --gtest_filter="$filter" --gtest_also_run_disabled_tests |
    grep '^learning |' | tee -a "$lines" ||
    true
done
# The lines: learning | NAME | seed S | kNN top-1 pretrained P % | control C % | gap G points |
#            random init R % | gap H points
awk -F'|' '
  function add(k, v) { n[k]++; s[k] += v; q[k] += v * v }
  {
    name = $2; gsub(/ /, "", name)
    split($4, p, " "); split($5, c, " "); split($6, g, " "); split($7, r, " "); split($8, h, " ")
    add(name " pretrained", p[4]); add(name " control", c[2]); add(name " gap to control", g[2])
    add(name " random init", r[3]); add(name " gap to random init", h[2])
  }
  END {
    for (k in n) {
      m = s[k] / n[k]; v = n[k] > 1 ? (q[k] - n[k] * m * m) / (n[k] - 1) : 0
      printf "summary | %-32s | n %d | mean %6.2f | sd %5.2f\n", k, n[k], m, sqrt(v > 0 ? v : 0)
    }
  }' "$lines" | sort
