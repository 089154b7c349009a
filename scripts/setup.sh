#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for flatclr, then configures and builds it in ./build.
#   scripts/setup.sh          build dependencies + build
#   scripts/setup.sh --test   also what the tests need (Python's torch/torchvision, to cross-check our numbers
#                             and checkpoints against PyTorch itself)
# Needs root (or sudo) for apt-get. Set FLATCLR_SKIP_APT=1 to skip the package step.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

packages=(
  build-essential cmake ccache pkg-config
  libtorch-dev           # the engine (LibTorch 1.13)
  libopenblas0-openmp    # fast BLAS for LibTorch's matmuls (Debian links it to the slow reference BLAS)
  libcli11-dev           # command-line parsing
  nlohmann-json3-dev     # config.json, metrics.jsonl
  libgtest-dev libbenchmark-dev
  libcurl4-openssl-dev libssl-dev libarchive-dev   # CIFAR download, MD5 check, unpacking
  libjpeg62-turbo-dev libpng-dev   # decoding image-folder datasets (JPEG via libjpeg-turbo, PNG)
  python3-pil            # scripts/prepare_cifar10.sh: converting the shared CIFAR-10 JPEGs
  gnuplot-nox            # PNG plots of a run (optional: without it flatclr says so and skips them)
  libgloo-dev            # Gloo headers that c10d's ProcessGroupGloo.hpp includes: distributed runs (optional)
)
if [ "$want_test" = 1 ]; then
  packages+=(python3-torch python3-torchvision python3-numpy)
  # scripts/tb_read.py: the independent reader of our TensorBoard event files (Google's protobuf runtime, CRC-32C)
  packages+=(python3-protobuf python3-crc32c)
fi

if [ "${FLATCLR_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "setup: installing ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
echo "setup: built build/flatclr"
