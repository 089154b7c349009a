#!/usr/bin/env bash
# Seeds of fuzz/fuzz_resume.cpp: real checkpoints of the model that target builds (ResNet-10 at 1/32 width, CIFAR
# stem, a 2-layer head to 16), one per optimizer (LARS, SGD, Adam), written by a 2-step pretraining run of
# build/flatclr on 100 CIFAR-10 images, and the LARS one again with the fp16 loss scaler's state that a GPU run
# stores (PyTorch's GradScaler.state_dict(), added and re-saved by Python's torch.save), so that the fuzzer
# starts from every part of the resume path. Each file is about 60 KB, under scripts/fuzz.sh's input limit.
#   scripts/gen/gen_resume_seeds.sh    (after scripts/setup.sh; data from ctest's prepare_cifar10 fixture)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/venv.sh
out=fuzz/seeds/resume
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
for opt in lars sgd adam; do
  build/flatclr --dataset_name=cifar10 --data=build/datasets --download=False --data_fraction=0.002 \
    --model=res10 --width_multiplier=0.03125 --proj_out_dim=16 --batch_size=50 --epochs=1 --warmup_epochs=0 \
    --optimizer=$opt --lr=0.1 --precision=fp32 --progress=none --tensorboard=False --plots=False --seed=1 \
    --threads=1 --save_dir="$tmp/$opt" >/dev/null
  cp "$(find "$tmp/$opt" -name checkpoint_0001.pth.tar)" "$out/$opt.pth.tar"
done
"$FLATCLR_VENV/bin/python" - "$out/lars.pth.tar" "$out/lars_fp16_scaler.pth.tar" <<'PY'
import sys, torch
ckpt = torch.load(sys.argv[1], map_location="cpu")
# torch.amp.GradScaler().state_dict() after some training: the layout optim/grad_scaler.h reads.
ckpt["grad_scaler"] = {"scale": 32768.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                       "_growth_tracker": 17}
torch.save(ckpt, sys.argv[2])
PY
ls -l "$out"
