#!/usr/bin/env bash
# The CPU-only build, as a machine without the CUDA toolkit gets it (.ci/run calls this):
#   scripts/cpu_only_check.sh [BUILD_DIR]     (default build-cpu-only)
# With nvcc hidden (no CUDACXX, CUDA_PATH, CUDAToolkit_ROOT or CMAKE_CUDA_COMPILER; PATH without any folder
# holding an nvcc; CUDA_HOME pointing nowhere, so that scripts/setup.sh does not look in /usr/local/cuda),
# scripts/setup.sh configures BUILD_DIR and builds its flatclr target. Then checks, failing on the first miss:
#   - setup and CMake each said in one line that this is a CPU-only build and what GPU support needs;
#   - the binary links libtorch_cpu and libc10, and neither libtorch_cuda, libc10_cuda, libtorch nor cudart;
#   - --help says "CPU-only build"; --device=cuda is a usage error (exit 2) naming the flag and the value;
#   - a short pretraining on real CIFAR-10 writes a checkpoint that PyTorch's torch.load reads with its
#     defaults (weights_only=True), a kNN evaluation of it runs, and, with Gloo's headers present, a pretraining
#     of 2 processes on c10d's Gloo runs.
# The data: $FLATCLR_CPU_CHECK_DATA (default build/datasets, where the CUDA build's tests prepare it), made by
# scripts/prepare_cifar10.sh when missing. Every flatclr run here is small (1% of CIFAR-10, a 1/8-width ResNet-18).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/venv.sh
source scripts/venv.sh
build_dir=${1:-build-cpu-only}
data=${FLATCLR_CPU_CHECK_DATA:-build/datasets}
start=$SECONDS

die() {
  echo "cpu_only_check: FAIL: $*" >&2
  exit 1
}

# --- nvcc hidden ----------------------------------------------------------------------------------------------
path=""
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  [ -n "$d" ] && [ ! -x "$d/nvcc" ] && path=${path:+$path:}$d
done
hide=(env -u CUDACXX -u CUDA_PATH -u CUDAToolkit_ROOT -u CMAKE_CUDA_COMPILER CUDA_HOME=/nonexistent PATH="$path")
! "${hide[@]}" bash -c 'command -v nvcc' >/dev/null || die "nvcc is still on the hidden PATH"

# --- configure + build, as scripts/setup.sh does on such a machine ---------------------------------------------
# A folder that was once configured with nvcc would stay a CUDA build: start from a fresh cache.
rm -f "$build_dir/CMakeCache.txt"
log=$(mktemp "${TMPDIR:-/tmp}/flatclr-cpu-only.XXXXXX")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/flatclr-cpu-only-runs.XXXXXX")
trap 'rm -rf "$log" "$tmp"' EXIT
rc=0
# The library as a unity build (FLATCLR_UNITY_LIB: its sources compiled in batches): the same code, built in about a
# third of the time of a source-by-source build (on 2 cores: 152 s against 548 s for flatclr), so that CI's second
# compilation of the library costs less. Given here so that a build folder left from before gets it too.
"${hide[@]}" FLATCLR_SKIP_APT=1 FLATCLR_BUILD_DIR="$build_dir" \
  FLATCLR_CMAKE_ARGS="-DFLATCLR_UNITY_LIB=ON ${FLATCLR_CMAKE_ARGS:-}" scripts/setup.sh >"$log" 2>&1 || rc=$?
grep -E '^setup: |flatclr: ' "$log" || true
[ "$rc" -eq 0 ] || { tail -40 "$log" >&2; die "scripts/setup.sh failed (exit $rc)"; }
grep -q '^FLATCLR_WITH_CUDA:INTERNAL=OFF$' "$build_dir/CMakeCache.txt" || die "$build_dir is not a CPU-only build"
[ "$(grep -c 'GPU support needs the CUDA toolkit 13.0' "$log")" -eq 2 ] ||
  die "expected one CMake line and one setup line saying what GPU support needs"
grep -q "^setup: built $build_dir/flatclr, CPU-only" "$log" || die "setup's last line does not say CPU-only"
! grep -q "CMake Warning\|CMake Error" "$log" || die "CMake warned or failed (see $log)"
bin=$build_dir/flatclr
[ -x "$bin" ] || die "no $bin"

# --- what it links ----------------------------------------------------------------------------------------------
needed=$(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
grep -qx 'libtorch_cpu.so' <<<"$needed" && grep -qx 'libc10.so' <<<"$needed" ||
  die "$bin does not link libtorch_cpu.so and libc10.so: $(echo $needed)"
! grep -E '^lib(torch_cuda|c10_cuda|torch|cudart)\.so' <<<"$needed" || die "$bin links a CUDA library directly"
# The wheel's libtorch_cpu.so itself names libcudart.so.13 and libcupti.so.13 (found through its RPATH in the
# nvidia-* packages beside torch); nothing may bring in LibTorch's CUDA half.
! ldd "$bin" | grep -E 'libtorch_cuda|libc10_cuda|not found' || die "$bin loads LibTorch's CUDA libraries"

# --- the command line ---------------------------------------------------------------------------------------------
# Into a file first: `--help | grep -q` fails under pipefail whenever grep stops reading before the help's last
# write (SIGPIPE), which the help's length and the scheduler decide.
"$bin" --help >"$tmp/help" 2>&1 || die "--help exited $?: $(tail -3 "$tmp/help")"
grep -q "This flatclr: CPU-only build" "$tmp/help" || die "--help does not say CPU-only build"
rc=0
"$bin" --device=cuda --dataset_name=cifar10 --data="$tmp/nothing" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 2 ] || die "--device=cuda exited $rc, expected 2: $(cat "$tmp/err")"
grep -q -- "--device=cuda: this flatclr is a CPU-only build" "$tmp/err" ||
  die "--device=cuda: the error does not name the flag, the value and the build: $(cat "$tmp/err")"
grep -q "Segmentation\|terminate called" "$tmp/err" && die "--device=cuda crashed: $(cat "$tmp/err")"

# --- a short pretraining, its checkpoint in PyTorch, an evaluation ----------------------------------------------
scripts/prepare_cifar10.sh "$data" >/dev/null
small=(--data="$data" --dataset_name=cifar10 --download=False --model=res18 --width_multiplier=0.125
  --batch_size=64 --data_fraction=0.01 --precision=fp32 --progress=none --threads=2)
"$bin" "${small[@]}" --epochs=1 --save_dir="$tmp/results" >"$tmp/pretrain.log" 2>&1 ||
  die "pretraining failed: $(tail -5 "$tmp/pretrain.log")"
ckpt=$(find "$tmp/results" -name 'checkpoint_*.pth.tar' | sort | tail -1)
[ -n "$ckpt" ] || die "the pretraining wrote no checkpoint: $(tail -5 "$tmp/pretrain.log")"
"$FLATCLR_VENV/bin/python" - "$ckpt" <<'EOF' || die "torch.load (defaults) cannot read $ckpt"
import sys
import torch
ckpt = torch.load(sys.argv[1])  # PyTorch's defaults: weights_only=True
sd = ckpt["model_state_dict"]
assert ckpt["epoch"] == 1 and all(torch.isfinite(t).all() for t in sd.values() if t.is_floating_point()), ckpt["epoch"]
print(f"cpu_only_check: torch {torch.__version__} loaded {sys.argv[1].rsplit('/', 1)[-1]} with its defaults: "
      f"{len(sd)} tensors, epoch {ckpt['epoch']}")
EOF
run_dir=$(dirname "$ckpt")
"$bin" --train_mode=eval --transfer_mode=knn --checkpoint_dir="$run_dir" --data="$data" --download=False \
  --progress=none --threads=2 >"$tmp/eval.log" 2>&1 || die "kNN evaluation failed: $(tail -5 "$tmp/eval.log")"
grep -q knn "$run_dir/eval_results.jsonl" || die "the evaluation wrote no kNN result"
echo "cpu_only_check: pretraining, checkpoint and kNN evaluation ran ($(tail -1 "$run_dir/eval_results.jsonl" | cut -c1-120))"

# --- two processes on c10d's Gloo -----------------------------------------------------------------------------------
if grep -q '^FLATCLR_GLOO_INCLUDE_DIR:PATH=.\+' "$build_dir/CMakeCache.txt"; then
  scripts/launch.sh -n 2 --port $((29500 + RANDOM % 1000)) -- "$bin" "${small[@]}" --threads=1 --epochs=1 \
    --save_dir="$tmp/results-dist" >"$tmp/dist.log" 2>&1 ||
    die "the 2-process pretraining failed: $(tail -5 "$tmp/dist.log")"
  echo "cpu_only_check: a 2-process pretraining on Gloo ran"
fi
echo "cpu_only_check: ok in $((SECONDS - start)) s"
