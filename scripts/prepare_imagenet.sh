#!/usr/bin/env bash
# Turns the official ILSVRC2012 downloads into torchvision's ImageNet layout, DEST/{train,val}/<wnid>/*.JPEG,
# the folder `flatclr --dataset_name=imagenet --data=<parent of DEST>` reads.
#
# usage: scripts/prepare_imagenet.sh [--train ILSVRC2012_img_train.tar|FOLDER_OF_CLASS_TARS]
#                                    [--val ILSVRC2012_img_val.tar (--devkit ILSVRC2012_devkit_t12.tar.gz |
#                                                                    --val_labels FILE)]
#                                    [--delete-archives] DEST
#   --train       the training archive (1,000 tars <wnid>.tar, each of <wnid>_<n>.JPEG files), or a folder
#                 holding those per-class tars (the training archive already unpacked, e.g. into DEST/train)
#   --val         the validation archive (50,000 files ILSVRC2012_val_<8 digits>.JPEG, no classes)
#   --devkit      the development kit: its data/ILSVRC2012_validation_ground_truth.txt (one ILSVRC2012_ID per
#                 validation image) and data/meta.mat (ID -> wnid), read by scripts/imagenet_val_labels.py
#                 with Python 3's standard library
#   --val_labels  instead of --devkit: a text file of lines "<file name> <wnid>", one per validation image
#   --delete-archives  remove each per-class tar of a --train folder once its class is extracted and checked,
#                 and the --train / --val archive once all of it is; without it no archive is touched
# Per class, the tar is streamed out of the training archive (no copy of the per-class tars), extracted into
# DEST/.prepare_imagenet/, its file count checked against the tar's listing, and the folder renamed into
# DEST/train/ in one step: a class already in DEST/train is skipped, an interrupted one redone, so a run can be
# repeated after a failure or a Ctrl-C. Validation files are moved (never copied) into their class folders;
# every file needs exactly one label and every label a file, and DEST/val appears in one rename at the end.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}
die() {
  echo "error: $*" >&2
  exit 1
}

train="" val="" devkit="" val_labels="" delete_archives=0 dest=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --train | --val | --devkit | --val_labels)
      [[ $# -ge 2 && -n $2 ]] || die "$1 needs a path (see $0 --help)"
      declare "${1#--}=$2"
      shift 2
      ;;
    --train=* | --val=* | --devkit=* | --val_labels=*)
      name=${1%%=*}
      declare "${name#--}=${1#*=}"
      shift
      ;;
    --delete-archives) delete_archives=1; shift ;;
    -h | --help) usage ;;
    -*) echo "error: unknown option $1" >&2; usage ;;
    *)
      [[ -z $dest ]] || die "two destinations given ($dest and $1): one DEST folder"
      dest=$1
      shift
      ;;
  esac
done
[[ -n $dest ]] || usage
[[ -n $train || -n $val ]] || die "nothing to do: give --train and/or --val (see $0 --help)"
if [[ -n $val ]]; then
  [[ -n $devkit || -n $val_labels ]] ||
    die "--val needs the labels: --devkit ILSVRC2012_devkit_t12.tar.gz or --val_labels FILE"
  [[ -z $devkit || -z $val_labels ]] || die "give --devkit or --val_labels, not both"
elif [[ -n $devkit || -n $val_labels ]]; then
  die "--devkit / --val_labels label the validation images: give --val too"
fi
for f in "$val" "$devkit" "$val_labels"; do
  [[ -z $f || -f $f ]] || die "$f: no such file"
  [[ -z $f || -r $f ]] || die "$f: not readable"
done
[[ -z $train || -e $train ]] || die "$train: no such file or folder"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$dest"
stage=$dest/.prepare_imagenet
mkdir -p "$stage"

# ---- training images: one class at a time, each appearing in DEST/train in one rename ----
prepare_train() {
  local members=() m listing
  listing=$stage/train_archive.list
  if [[ -d $train ]]; then
    for m in "$train"/*.tar; do [[ -e $m ]] && members+=("$(basename "$m")"); done
  else
    tar -tf "$train" >"$listing" 2>"$stage/tar.err" ||
      die "$train: not a readable tar archive ($(head -c 300 "$stage/tar.err")): an incomplete download?"
    while IFS= read -r m; do
      [[ $m == */ ]] && continue
      [[ $m == *.tar ]] || die "$train: holds $m, not a per-class <wnid>.tar: is this ILSVRC2012_img_train.tar?"
      members+=("$m")
    done <"$listing"
  fi
  local total=${#members[@]} i=0 done_before=0 images=0
  [[ $total -gt 0 ]] || die "$train: no per-class <wnid>.tar in it"
  mkdir -p "$dest/train" "$stage/train"
  for m in "${members[@]}"; do
    i=$((i + 1))
    local wnid tmp list listed found
    wnid=$(basename "$m" .tar)
    if [[ -d $dest/train/$wnid ]]; then
      done_before=$((done_before + 1))
      images=$((images + $(find "$dest/train/$wnid" -type f | wc -l)))
      if [[ $delete_archives -eq 1 && -d $train && -f $train/$m ]]; then rm -f "$train/$m"; fi
      continue
    fi
    tmp=$stage/train/$wnid
    list=$stage/train/$wnid.list
    rm -rf "$tmp"
    mkdir -p "$tmp"
    if [[ -d $train ]]; then
      tar -xvf "$train/$m" -C "$tmp" >"$list" 2>"$stage/tar.err" ||
        die "$train/$m: cannot be extracted ($(head -c 300 "$stage/tar.err")): a damaged archive?"
    else
      # The per-class tar streamed out of the training archive: no copy of it on disk. GNU tar seeks past the
      # members before it (a regular file is seekable), so each class reads only its own bytes.
      (tar -xOf "$train" --occurrence=1 "$m" | tar -xvf - -C "$tmp") >"$list" 2>"$stage/tar.err" ||
        die "$m in $train: cannot be extracted ($(head -c 300 "$stage/tar.err")): a damaged archive?"
    fi
    listed=$(grep -vc '/$' "$list" || true)
    found=$(find "$tmp" -type f | wc -l)
    [[ $found -gt 0 ]] || die "$m: holds no image files"
    [[ $listed -eq $found ]] || die "$m: its listing names $listed files but $found were extracted"
    [[ -z $(find "$tmp" -mindepth 1 -type d -print -quit) ]] ||
      die "$m: holds folders; a per-class tar of ILSVRC2012 holds only <wnid>_<n>.JPEG files"
    mv "$tmp" "$dest/train/$wnid"
    rm -f "$list"
    images=$((images + found))
    if [[ $delete_archives -eq 1 && -d $train ]]; then rm -f "$train/$m"; fi
    printf 'train %4d/%d  %s  %5d images\n' "$i" "$total" "$wnid" "$found"
  done
  echo "train: $total classes, $images images in $dest/train ($done_before classes were already there)"
  [[ $total -eq 1000 && $images -eq 1281167 ]] ||
    echo "note: the full ILSVRC2012 training set has 1,000 classes and 1,281,167 images"
  if [[ $delete_archives -eq 1 && -f $train ]]; then
    rm -f "$train"
    echo "removed $train"
  fi
  rm -f "$listing" "$stage/tar.err"
  rmdir "$stage/train" 2>/dev/null || true
}

# ---- validation images: extracted flat, then each moved into its class folder ----
prepare_val() {
  local s=$stage/val labels
  if [[ -d $dest/val ]]; then
    echo "val: $dest/val is already there ($(find "$dest/val" -type f | wc -l) images)"
    return
  fi
  mkdir -p "$s"
  labels=$s/labels.txt
  local source=${val_labels:-$devkit}
  if [[ -n $devkit ]]; then
    python3 "$here/imagenet_val_labels.py" from-devkit "$devkit" "$labels.tmp" || exit 1
    mv "$labels.tmp" "$labels"
  else
    cp "$val_labels" "$labels"
  fi
  # The labels are checked (and their classes against DEST/train) before the archive is touched.
  if [[ -d $dest/train ]]; then
    python3 "$here/imagenet_val_labels.py" check "$labels" "$source" "$dest/train"
  else
    python3 "$here/imagenet_val_labels.py" check "$labels" "$source"
  fi
  if [[ ! -f $s/extracted ]]; then
    rm -rf "$s/flat" "$s/sorted"
    mkdir -p "$s/flat"
    echo "val: extracting $val"
    tar -xvf "$val" -C "$s/flat" >"$s/list" 2>"$s/tar.err" ||
      die "$val: cannot be extracted ($(head -c 300 "$s/tar.err")): a damaged archive?"
    local listed found
    listed=$(grep -vc '/$' "$s/list" || true)
    found=$(find "$s/flat" -type f | wc -l)
    [[ $listed -eq $found ]] || die "$val: its listing names $listed files but $found were extracted"
    [[ -z $(find "$s/flat" -mindepth 1 -type d -print -quit) ]] ||
      die "$val: holds folders; ILSVRC2012_img_val.tar holds only ILSVRC2012_val_<n>.JPEG files"
    touch "$s/extracted"
  fi
  # Moves are renames in one folder tree: no second copy; a repeated run skips what was moved.
  python3 "$here/imagenet_val_labels.py" sort "$labels" "$source" "$s/flat" "$s/sorted"
  rmdir "$s/flat"
  mv "$s/sorted" "$dest/val"
  [[ $(find "$dest/val" -type f | wc -l) -eq 50000 ]] ||
    echo "note: the full ILSVRC2012 validation set has 50,000 images"
  rm -rf "$s"
  if [[ $delete_archives -eq 1 ]]; then
    rm -f "$val"
    echo "removed $val"
  fi
}

[[ -z $train ]] || prepare_train
[[ -z $val ]] || prepare_val
rmdir "$stage" 2>/dev/null || true
echo "done: $dest"
