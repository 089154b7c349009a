#!/usr/bin/env bash
# Sets up (packages + build) and runs every test: scripts/test.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
cd build
ctest --output-on-failure -j "$(nproc)" "$@"
