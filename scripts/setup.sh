#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for flatclr, then configures ./build and builds build/flatclr
# (only the command-line program: scripts/test.sh builds the tests and benchmarks). A new build folder gets the
# library as a unity build (below).
#   scripts/setup.sh          build dependencies + build/flatclr
#   scripts/setup.sh --test   also what only the tests need (TensorBoard's reader, safetensors, SciPy, clang), and
#                             configures with FLATCLR_REQUIRE_ALL: a missing optional dependency is an error
# Needs root (or sudo) for apt-get; FLATCLR_SKIP_APT=1 skips the package step. Prints the time of each phase
# (packages, Python environment, Gloo headers, configure, build) as it ends, and all of them at the end.
#
# The engine is the LibTorch inside PyPI's torch==2.11.0 wheel (CUDA 13.0, C++11 ABI), installed with
# torchvision==0.26.0 in a virtual environment that lives outside the clone, so that every clone on a machine
# shares it and a fresh clone downloads nothing when it is already there:
#   FLATCLR_VENV   default ${XDG_CACHE_HOME:-~/.cache}/flatclr/venv-torch-2.11.0   (about 2.7 GB downloaded,
#                  4.8 GB on disk: torch is built for CUDA and pulls NVIDIA's cuBLAS, cuDNN, NCCL, ... wheels,
#                  which libtorch_cuda.so loads even on a machine without a GPU)
#   FLATCLR_BASE_PYTHON   the Python 3 (>= 3.10) that makes the environment (default: python3 on PATH)
# Bump TORCH_VERSION and TORCHVISION_VERSION together (torchvision pins its torch).
#
# Two builds come from that wheel (CMakeLists.txt): with the CUDA toolkit 13.0 (nvcc on PATH, or in
# $CUDA_HOME/bin, default /usr/local/cuda/bin) the CUDA build; without it a CPU-only build against the wheel's
# CPU libraries, which runs everything but --device=cuda, and setup says in one line what GPU support needs.
#   FLATCLR_BUILD_DIR   the build folder (default build)
#   FLATCLR_CMAKE_ARGS  more options for CMake's configure step, split at spaces (e.g. -DCMAKE_UNITY_BUILD=ON)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/venv.sh
source scripts/venv.sh

want_test=0
[ "${1:-}" = "--test" ] && want_test=1
build_dir=${FLATCLR_BUILD_DIR:-build}

# The time of each phase, printed as it ends and together at the end.
phase_times=()
phase_start=$SECONDS
end_phase() {
  local took=$((SECONDS - phase_start))
  phase_times+=("$1 ${took} s")
  echo "setup: $1: ${took} s"
  phase_start=$SECONDS
}

packages=(
  build-essential cmake ninja-build ccache pkg-config curl ca-certificates xz-utils
  python3-venv           # the virtual environment for the torch wheel (Debian's python3 has no venv without it)
  libcli11-dev           # command-line parsing
  nlohmann-json3-dev     # config.json, metrics.jsonl
  libgtest-dev           # the tests (the benchmarks in bench/ time themselves, with a baseline in the same run)
  libcurl4-openssl-dev libssl-dev libarchive-dev   # CIFAR download, MD5 check, unpacking
  libjpeg62-turbo-dev libpng-dev   # decoding image-folder datasets (JPEG via libjpeg-turbo, PNG)
  python3-pil            # scripts/prepare_cifar10.sh: converting the shared CIFAR-10 JPEGs
  gnuplot-nox            # PNG plots of a run (optional: without it flatclr says so and skips them)
)
# --test: clang for the libFuzzer targets and the sanitized test build (scripts/fuzz.sh, scripts/sanitized_tests.sh)
[ "$want_test" = 1 ] && packages+=(clang)

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
end_phase packages

# --- the virtual environment: torch + torchvision (+ the tests' Python references) ---------------------------
pip_packages=("torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" numpy)
check="import torch, torchvision, numpy
assert torch.__version__.split('+')[0] == '$TORCH_VERSION', torch.__version__
assert torchvision.__version__.split('+')[0] == '$TORCHVISION_VERSION', torchvision.__version__"
if [ "$want_test" = 1 ]; then
  pip_packages+=(tensorboard safetensors scipy)
  check+="
import tensorboard, safetensors, scipy.io"
fi
if ! [ -x "$FLATCLR_VENV/bin/python" ]; then
  base=${FLATCLR_BASE_PYTHON:-python3}
  echo "setup: making the virtual environment $FLATCLR_VENV with $($base --version 2>&1)"
  mkdir -p "$(dirname "$FLATCLR_VENV")"
  "$base" -m venv "$FLATCLR_VENV" || {
    echo "setup: '$base -m venv' failed; Debian's python3 needs python3-venv (or set FLATCLR_BASE_PYTHON)" >&2
    exit 1
  }
fi
if ! "$FLATCLR_VENV/bin/python" -c "$check" 2>/dev/null; then
  echo "setup: installing ${pip_packages[*]} into $FLATCLR_VENV (first time on this machine: about 2.7 GB)"
  start=$SECONDS
  "$FLATCLR_VENV/bin/python" -m pip install -q --progress-bar off --no-cache-dir "${pip_packages[@]}"
  "$FLATCLR_VENV/bin/python" -c "$check"
  echo "setup: pip install took $((SECONDS - start)) s"
else
  echo "setup: reusing $FLATCLR_VENV (torch $TORCH_VERSION, torchvision $TORCHVISION_VERSION)"
fi
end_phase "Python environment"

# --- Gloo's headers, for c10d's ProcessGroupGloo.hpp (distributed runs on CPU) --------------------------------
# The wheel links Gloo statically but ships none of its headers. PyTorch 2.11.0 pins Gloo commit 3135b0b
# (2025-12-01); the nearest source this machine can reach is Debian's gloo 0.0~git20250912.d97133a, an ancestor
# 5 commits older whose headers differ from 3135b0b's only in gloo/common/logging.h (a log-level switch added;
# no class layout or signature that c10d's headers use changes). Its config.h is generated with the options the
# wheel was built with (CUDA on, TCP with TLS, PyTorch dtypes; visible in libtorch_cpu/cuda.so's symbols).
gloo_version=0.0~git20250912.d97133a
gloo_sha256=43d930375720059ac67b1619c7d020d5d2cee79757caf4e75a1bfedb8eeb2b42
gloo_dir=$FLATCLR_VENV/share/flatclr/gloo-$gloo_version
if ! [ -f "$gloo_dir/include/gloo/config.h" ]; then
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/flatclr-gloo.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  url="http://deb.debian.org/debian/pool/main/g/gloo/gloo_${gloo_version}.orig.tar.xz"
  echo "setup: fetching Gloo's headers ($url)"
  if curl -sSfL --retry 3 -o "$tmp/gloo.tar.xz" "$url" &&
    echo "$gloo_sha256  $tmp/gloo.tar.xz" | sha256sum -c --quiet -; then
    tar xJf "$tmp/gloo.tar.xz" -C "$tmp"
    src=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'gloo*' | head -1)
    mkdir -p "$tmp/include"
    (cd "$src" && find gloo -name '*.h' -not -path 'gloo/test/*' -not -path 'gloo/benchmark/*' \
      -exec cp --parents {} "$tmp/include/" \;)
    sed -e 's/@GLOO_VERSION_MAJOR@/0/; s/@GLOO_VERSION_MINOR@/5/; s/@GLOO_VERSION_PATCH@/0/' \
      -e 's/#cmakedefine01 \(GLOO_USE_CUDA\|GLOO_HAVE_TRANSPORT_TCP\|GLOO_HAVE_TRANSPORT_TCP_TLS\|GLOO_USE_TORCH_DTYPES\)$/#define \1 1/' \
      -e 's/#cmakedefine01 \([A-Z_]*\)$/#define \1 0/' "$src/gloo/config.h.in" >"$tmp/include/gloo/config.h"
    mkdir -p "$(dirname "$gloo_dir")"
    rm -rf "$gloo_dir"
    mv "$tmp" "$gloo_dir"
    trap - EXIT
  else
    echo "setup: could not fetch Gloo's headers; building without distributed training on CPU" >&2
    # The test configuration needs them (the distributed tests would skip): CMake stops below, naming them.
    rm -rf "$tmp"
    trap - EXIT
  fi
fi
end_phase "Gloo headers"

# --- configure + build ------------------------------------------------------------------------------------------
# The CUDA toolkit is usually installed without putting nvcc on PATH.
cuda_bin=${CUDA_HOME:-/usr/local/cuda}/bin
if ! command -v nvcc >/dev/null && [ -x "$cuda_bin/nvcc" ]; then
  export PATH=$cuda_bin:$PATH
fi
# No .cu files of our own: one architecture keeps the wheel's CUDA probe quiet and short.
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
generator=()
command -v ninja >/dev/null && [ ! -f "$build_dir/Makefile" ] && generator=(-G Ninja)
# CMake asks this Python for Torch's CMake config and finds the Gloo headers above in the environment; without
# nvcc it configures the CPU-only build.
# --test: every optional dependency that a test needs becomes a requirement (FLATCLR_REQUIRE_ALL in
# CMakeLists.txt), so that a missing one fails here instead of turning its tests into skips.
require_all=OFF
[ "$want_test" = 1 ] && require_all=ON
read -ra extra_cmake_args <<<"${FLATCLR_CMAKE_ARGS:-}"
# A build folder made here for the first time builds the library as a unity build (FLATCLR_UNITY_LIB: its sources
# compiled a few at a time, build/flatclr in about 170 s instead of 510 s on 2 cores): a user's first build is built
# once. A folder configured before keeps its own setting, so a developer's incremental build stays one file per
# unit (-DFLATCLR_UNITY_LIB=OFF in FLATCLR_CMAKE_ARGS, or `cmake -S . -B build`, makes one).
if [ ! -f "$build_dir/CMakeCache.txt" ] && [[ " ${extra_cmake_args[*]} " != *" -DFLATCLR_UNITY_LIB="* ]]; then
  extra_cmake_args+=(-DFLATCLR_UNITY_LIB=ON)
fi
cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DFLATCLR_PYTHON="$FLATCLR_VENV/bin/python" \
  -DFLATCLR_REQUIRE_ALL=$require_all "${extra_cmake_args[@]}"
end_phase configure
cmake --build "$build_dir" -j "$(nproc)" --target flatclr
end_phase build
echo "setup: done in ${SECONDS} s ($(IFS=,; echo "${phase_times[*]}" | sed 's/,/, /g'))"
if grep -q '^FLATCLR_WITH_CUDA:INTERNAL=ON$' "$build_dir/CMakeCache.txt"; then
  echo "setup: built $build_dir/flatclr (CUDA build)"
else
  echo "setup: built $build_dir/flatclr, CPU-only: no nvcc found; GPU support needs the CUDA toolkit 13.0" \
    "(NVIDIA's cuda-toolkit-13-0 package or runfile from https://developer.nvidia.com/cuda-downloads, into" \
    "/usr/local/cuda), then scripts/setup.sh again"
fi
