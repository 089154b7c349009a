#!/usr/bin/env bash
# Configuring flatclr on a machine without the CUDA toolkit makes the CPU-only build (the wheel's libtorch_cpu
# and libc10, without the wheel's CMake config, which needs nvcc) and says so in one line, with what GPU support
# needs; no CMake error or warning. Asking for CUDA there (-DFLATCLR_CUDA=ON) stops with one error that says
# what to install, before the wheel's CMake config prints its page of errors.
# usage: no_cuda_toolkit.sh SOURCE_DIR TORCH_CMAKE_PREFIX
set -uo pipefail
src=$1
prefix=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/flatclr-nocuda.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# nvcc lives in /usr/local/cuda/bin on these machines: a PATH without it, and none of the variables CMake looks
# at for it, is a machine without it.
hide=(env -u CUDACXX -u CUDA_PATH -u CUDAToolkit_ROOT -u CMAKE_CUDA_COMPILER PATH=/usr/bin:/bin)
fail() { echo "FAIL: $*"; echo "--- cmake output:"; echo "$out"; exit 1; }

out=$("${hide[@]}" cmake -S "$src" -B "$tmp/auto" -DCMAKE_PREFIX_PATH="$prefix" 2>&1)
rc=$?
[ $rc -eq 0 ] || fail "cmake failed without a CUDA compiler (exit $rc)"
[ "$(grep -c "GPU support needs" <<<"$out")" -eq 1 ] || fail "not exactly one line saying what GPU support needs"
grep -q "no nvcc found, so this is a CPU-only build; GPU support needs the CUDA toolkit 13.0" <<<"$out" ||
  fail "the line does not say CPU-only build and CUDA toolkit 13.0"
grep -q "cuda-toolkit-13-0" <<<"$out" || fail "the line does not say how to get the toolkit"
grep -q "LibTorch 2.11.0, CPU only (libtorch_cpu, libc10)" <<<"$out" || fail "LibTorch's CPU libraries not named"
! grep -q "CMake Error\|CMake Warning\|Caffe2" <<<"$out" || fail "an error, a warning, or the wheel's CMake config ran"
grep -q '^FLATCLR_WITH_CUDA:INTERNAL=OFF$' "$tmp/auto/CMakeCache.txt" || fail "the cache does not say CPU-only"
grep -rqs "FLATCLR_CPU_ONLY" "$tmp/auto/CMakeFiles" || fail "FLATCLR_CPU_ONLY is not among the compile definitions"
! grep -rqs "libtorch_cuda\|libc10_cuda\|libcudart" "$tmp/auto/CMakeFiles" || fail "a CUDA library is linked"

out=$("${hide[@]}" cmake -S "$src" -B "$tmp/on" -DCMAKE_PREFIX_PATH="$prefix" -DFLATCLR_CUDA=ON 2>&1)
rc=$?
[ $rc -ne 0 ] || fail "FLATCLR_CUDA=ON succeeded without a CUDA compiler"
grep -q "FLATCLR_CUDA=ON but no CUDA compiler (nvcc) found" <<<"$out" || fail "the message naming nvcc is missing"
grep -q "cuda-toolkit-13-0" <<<"$out" || fail "the message does not say what to install"
! grep -q "Caffe2" <<<"$out" || fail "the wheel's CMake config ran (its errors reach the user)"
[ "$(grep -c "CMake Error" <<<"$out")" -eq 1 ] || fail "more than one CMake error"
echo "ok: CPU-only build with one line naming the CUDA toolkit 13.0; FLATCLR_CUDA=ON: one CMake error"
