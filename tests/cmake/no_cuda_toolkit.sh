#!/usr/bin/env bash
# Configuring flatclr on a machine without the CUDA toolkit must stop with one message that says what to
# install, before the wheel's CMake config (which needs nvcc) prints its page of errors.
# usage: no_cuda_toolkit.sh SOURCE_DIR TORCH_CMAKE_PREFIX
set -uo pipefail
src=$1
prefix=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/flatclr-nocuda.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# nvcc lives in /usr/local/cuda/bin on these machines: a PATH without it, and no CUDACXX, is a machine without it.
out=$(env -u CUDACXX -u CUDA_PATH -u CUDAToolkit_ROOT PATH=/usr/bin:/bin \
  cmake -S "$src" -B "$tmp" -DCMAKE_PREFIX_PATH="$prefix" 2>&1)
rc=$?
fail() { echo "FAIL: $*"; echo "--- cmake output:"; echo "$out"; exit 1; }
[ $rc -ne 0 ] || fail "cmake succeeded without a CUDA compiler"
grep -q "no CUDA compiler (nvcc) found" <<<"$out" || fail "the message naming nvcc is missing"
grep -q "cuda-toolkit-13-0" <<<"$out" || fail "the message does not say what to install"
! grep -q "Caffe2" <<<"$out" || fail "the wheel's CMake config ran (its errors reach the user)"
[ "$(grep -c "CMake Error" <<<"$out")" -eq 1 ] || fail "more than one CMake error"
echo "ok: one CMake error, naming nvcc and the CUDA toolkit 13.0"
