#!/usr/bin/env bash
# Unpacks the real CIFAR-10 JPEGs (shared/data/cifar10-jpg.tar.gz) as an image-folder dataset:
# OUT_DIR/cifar10_jpg/{train,test}/<class>/*.jpg, for the image-folder end-to-end tests and benchmarks.
#
# usage: scripts/prepare_cifar10_jpg.sh OUT_DIR
# env:   FLATCLR_SHARED_DATA  folder holding cifar10-jpg.tar.gz (default: the shared/data folder beside the
#                             repository)
# Does nothing when the folder is already complete (60,000 files). The result appears in one rename.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out_dir=$1
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${FLATCLR_SHARED_DATA:-$(dirname "$repo")/shared/data}
archive=$shared/cifar10-jpg.tar.gz
dest=$out_dir/cifar10_jpg

complete() {
  [[ -d $1/train && -d $1/test ]] || return 1
  [[ $(find "$1/train" -name '*.jpg' | wc -l) -eq 50000 && $(find "$1/test" -name '*.jpg' | wc -l) -eq 10000 ]]
}

if complete "$dest"; then
  echo "$dest is already complete"
  exit 0
fi
if [[ ! -f $archive ]]; then
  echo "error: $archive not found (set FLATCLR_SHARED_DATA to the folder holding cifar10-jpg.tar.gz)" >&2
  exit 1
fi
mkdir -p "$out_dir"
stage=$(mktemp -d "$out_dir/.prepare-cifar10-jpg.XXXXXX")
trap 'rm -rf "$stage"' EXIT
tar xzf "$archive" -C "$stage" train test
if ! complete "$stage"; then
  echo "error: $archive did not unpack to 50,000 train and 10,000 test JPEGs" >&2
  exit 1
fi
rm -rf "$dest"
mkdir "$stage/out"
mv "$stage/train" "$stage/test" "$stage/out/"
mv "$stage/out" "$dest"
echo "wrote $dest"
