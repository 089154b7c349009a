#!/usr/bin/env bash
# Fuzzes flatclr's readers of untrusted bytes with libFuzzer:  scripts/fuzz.sh [SECONDS per target] [TARGET...]
# Builds the `fuzz` preset (clang; the library with ASan + UBSan and coverage) into build-fuzz/ when needed, then
# runs each target (default: all five) for SECONDS (default 60), starting from real files (fuzz/seeds/ and the
# test fixtures) and growing a corpus in build-fuzz/corpus/<target>/. A crash, a sanitizer report or an exception
# other than the reader's own error stops that target, leaves the input as build-fuzz/crash-<target>-*, and makes
# the script fail. Prints one line per target: runs, corpus size, coverage.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_torch_load fuzz_resume fuzz_cifar fuzz_image_decode fuzz_run_history)
command -v clang++ >/dev/null || { echo "scripts/fuzz.sh: clang is missing (Debian: apt-get install clang)" >&2; exit 1; }
[ -f build-fuzz/build.ninja ] || cmake --preset fuzz >/dev/null
cmake --build build-fuzz --target "${targets[@]}"
declare -A seeds=(
  [fuzz_torch_load]="tests/io/data"
  [fuzz_resume]="fuzz/seeds/resume"
  [fuzz_cifar]="fuzz/seeds/cifar"
  [fuzz_image_decode]="tests/data/data/images"
  [fuzz_run_history]="fuzz/seeds/run_history"
)
# LibTorch keeps one-time allocations (type registries) alive to the end: leak checks would report those.
export ASAN_OPTIONS="detect_leaks=0:protect_shadow_gap=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t
  mkdir -p "$corpus"
  log=build-fuzz/$t.log
  if build-fuzz/$t -max_total_time="$seconds" -max_len=262144 -rss_limit_mb=6144 -timeout=60 -detect_leaks=0 \
      -print_final_stats=1 -artifact_prefix="build-fuzz/crash-$t-" "$corpus" ${seeds[$t]} >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    echo "fuzz | $t | ${seconds} s | runs $runs | corpus $(ls "$corpus" | wc -l) files | coverage $cov | no crash"
  else
    status=1
    echo "fuzz | $t | FAILED: see $log and build-fuzz/crash-$t-*" >&2
    grep -E "ERROR|SUMMARY|terminate|runtime error" "$log" | head -5 >&2 || true
  fi
done
exit $status
