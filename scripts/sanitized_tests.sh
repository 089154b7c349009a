#!/usr/bin/env bash
# The unit tests (flatclr_tests: everything but the end-to-end runs of the binary) built with clang's
# AddressSanitizer + UndefinedBehaviorSanitizer (the `fuzz` preset, shared with scripts/fuzz.sh), run once:
#   scripts/sanitized_tests.sh [gtest args]
# A sanitizer report fails the run (UBSan halts on the first error). Leak checking is off: LibTorch keeps
# one-time allocations alive to the end of the process.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang++ >/dev/null || { echo "scripts/sanitized_tests.sh: clang is missing (Debian: apt-get install clang)" >&2; exit 1; }
[ -f build-fuzz/build.ninja ] || cmake --preset fuzz >/dev/null
cmake --build build-fuzz --target flatclr_tests
export ASAN_OPTIONS="detect_leaks=0:protect_shadow_gap=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
build-fuzz/flatclr_tests --gtest_brief=1 "$@"
