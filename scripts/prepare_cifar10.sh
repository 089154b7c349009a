#!/usr/bin/env bash
# Builds the official CIFAR-10 binary layout (OUT_DIR/cifar-10-batches-bin/data_batch_1..5.bin, test_batch.bin,
# batches.meta.txt) from the real CIFAR-10 JPEGs in shared/data/cifar10-jpg.tar.gz, for machines that cannot
# download the original archive (see shared/data/README.md: the pixels are close to, not identical with, the
# binary release).
#
# usage: scripts/prepare_cifar10.sh OUT_DIR
# env:   FLATCLR_SHARED_DATA  folder holding cifar10-jpg.tar.gz and images_to_cifar_bin.py
#                             (default: the shared/data folder beside the repository)
#        FLATCLR_PYTHON       Python 3 with PIL (default /usr/bin/python3; Debian: python3-pil)
# Does nothing when the folder is already complete. The result appears in one rename: an interrupted run never
# leaves a half-written cifar-10-batches-bin behind.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out_dir=$1
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${FLATCLR_SHARED_DATA:-$(dirname "$repo")/shared/data}
python=${FLATCLR_PYTHON:-/usr/bin/python3}
archive=$shared/cifar10-jpg.tar.gz
converter=$shared/images_to_cifar_bin.py
dest=$out_dir/cifar-10-batches-bin
record_file_bytes=30730000  # 10,000 records of 3073 bytes

complete() {
  local f
  for f in data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin; do
    [[ -f $1/$f && $(stat -c %s "$1/$f") -eq $record_file_bytes ]] || return 1
  done
  [[ -f $1/batches.meta.txt ]]
}

if complete "$dest"; then
  echo "$dest is already complete"
  exit 0
fi
for f in "$archive" "$converter"; do
  if [[ ! -f $f ]]; then
    echo "error: $f not found (set FLATCLR_SHARED_DATA to the folder holding cifar10-jpg.tar.gz and" \
      "images_to_cifar_bin.py)" >&2
    exit 1
  fi
done
if ! "$python" -c 'import PIL' 2>/dev/null; then
  echo "error: $python cannot import PIL (Debian: apt-get install python3-pil; or set FLATCLR_PYTHON)" >&2
  exit 1
fi

mkdir -p "$out_dir"
# JPEGs go to the system's temporary folder; the binary files are written beside their destination, so that the
# final rename stays on one file system.
jpg_dir=$(mktemp -d "${TMPDIR:-/tmp}/flatclr-cifar10-jpg.XXXXXX")
stage=$(mktemp -d "$out_dir/.prepare-cifar10.XXXXXX")
trap 'rm -rf "$jpg_dir" "$stage"' EXIT

start=$SECONDS
tar xzf "$archive" -C "$jpg_dir"
"$python" "$converter" "$jpg_dir" "$stage/cifar-10-batches-bin"
if ! complete "$stage/cifar-10-batches-bin"; then
  echo "error: the conversion did not produce six files of $record_file_bytes bytes in $stage" >&2
  exit 1
fi
if [[ -e $dest ]]; then
  echo "replacing the incomplete $dest"
  rm -rf "$dest"
fi
mv "$stage/cifar-10-batches-bin" "$dest"
echo "wrote $dest in $((SECONDS - start)) s"
