"""The ILSVRC2012 validation labels, for scripts/prepare_imagenet.sh; Python 3's standard library only.

  from-devkit DEVKIT OUT   reads ILSVRC2012_devkit_t12.tar.gz: data/ILSVRC2012_validation_ground_truth.txt (line
                           i: the ILSVRC2012_ID of ILSVRC2012_val_<i, 8 digits>.JPEG) and data/meta.mat (the
                           synsets: ILSVRC2012_ID -> WNID, a MATLAB 5 file read by read_mat below), and writes
                           OUT: lines "<file name> <wnid>"
  check LABELS SOURCE [TRAIN_DIR]
                           checks LABELS (lines "<file name> <wnid>"; SOURCE is the name errors give it) and,
                           with TRAIN_DIR, that every wnid is a class folder there
  sort LABELS SOURCE FLAT SORTED
                           moves (renames) each FLAT/<file> to SORTED/<wnid>/<file>; a file already moved is
                           skipped, so an interrupted sort resumes; every file of FLAT needs a label and every
                           label a file
Errors name the file (and line) at fault and exit 1."""
import os
import re
import struct
import sys
import tarfile
import zlib

WNID = re.compile(r"^n[0-9]{8}$")


def fail(message):
    sys.exit("error: " + message)


# ---- MATLAB 5 MAT-files (the format of the devkit's meta.mat): the subset it uses ----
# A file is a 128-byte header and data elements; an element is a tag (type, byte count; a "small" element packs
# up to 4 bytes into the tag) and its bytes, padded to 8. A matrix element holds array flags (the class),
# dimensions, a name, then its data: numbers or characters, a struct's field names and one matrix per field of
# each element (column-major), or a cell's matrices. Compressed elements hold a zlib stream of elements.
_NUMERIC = {1: "b", 2: "B", 3: "h", 4: "H", 5: "i", 6: "I", 7: "f", 9: "d", 12: "q", 13: "Q"}
_MI_MATRIX, _MI_COMPRESSED, _MI_UTF8, _MI_UTF16 = 14, 15, 16, 17
_MX_CELL, _MX_STRUCT, _MX_CHAR = 1, 2, 4


def _elements(buf, endian, where):
    """Yields (type, bytes) of the data elements of buf."""
    pos = 0
    while pos + 8 <= len(buf):
        kind, count = struct.unpack_from(endian + "II", buf, pos)
        if kind >> 16:  # small element: count in the high half, data in the tag's second word
            yield kind & 0xFFFF, buf[pos + 4:pos + 4 + (kind >> 16)]
            pos += 8
            continue
        if pos + 8 + count > len(buf):
            fail("%s: a data element runs past the end of the file: truncated?" % where)
        yield kind, buf[pos + 8:pos + 8 + count]
        pos += 8 + count
        if kind != _MI_COMPRESSED:
            pos += -count % 8


def _values(kind, data, endian, where):
    if kind in _NUMERIC:
        code = _NUMERIC[kind]
        return list(struct.unpack(endian + code * (len(data) // struct.calcsize(code)), data))
    if kind == _MI_UTF8:
        return list(data.decode("utf-8"))
    if kind == _MI_UTF16:
        return list(data.decode("utf-16-le" if endian == "<" else "utf-16-be"))
    fail("%s: a data element of type %d, which this reader does not know" % (where, kind))


def _matrix(data, endian, where):
    """One matrix element: a list of numbers, a str, a list of dicts (struct) or a list (cell)."""
    parts = _elements(data, endian, where)
    try:
        _, flags = next(parts)
        _, dims = next(parts)
        next(parts)  # the name
    except StopIteration:
        return []  # an empty matrix
    mx_class = struct.unpack_from(endian + "I", flags)[0] & 0xFF
    count = 1
    for d in _values(5, dims, endian, where):
        count *= d
    if mx_class == _MX_STRUCT:
        length = _values(5, next(parts, (5, b"\1\0\0\0"))[1], endian, where)[0]
        raw = next(parts, (1, b""))[1]
        names = [raw[i:i + length].split(b"\0")[0].decode() for i in range(0, len(raw), length)]
        fields = [_matrix(d, endian, where) for _, d in parts]
        return [dict(zip(names, fields[i * len(names):(i + 1) * len(names)])) for i in range(count)]
    if mx_class == _MX_CELL:
        return [_matrix(d, endian, where) for _, d in parts]
    kind, real = next(parts, (9, b""))  # no data: an empty array
    values = _values(kind, real, endian, where)
    if mx_class == _MX_CHAR:
        return "".join(v if isinstance(v, str) else chr(v) for v in values)
    return values


def read_mat(buf, where):
    """The variables of a MATLAB 5 MAT-file: {name: value}."""
    if len(buf) < 128 or buf[126:128] not in (b"IM", b"MI"):
        fail("%s: not a MATLAB 5 MAT-file (MATLAB 7.3 files are HDF5: save it with -v7 or give --val_labels)"
             % where)
    endian = "<" if buf[126:128] == b"IM" else ">"
    variables = {}
    pending = list(_elements(buf[128:], endian, where))
    while pending:
        kind, data = pending.pop(0)
        if kind == _MI_COMPRESSED:
            try:
                pending[0:0] = list(_elements(zlib.decompress(data), endian, where))
            except zlib.error as e:
                fail("%s: a compressed element does not decompress (%s): damaged?" % (where, e))
        elif kind == _MI_MATRIX:
            parts = _elements(data, endian, where)
            next(parts), next(parts)
            name = next(parts)[1].decode()
            variables[name] = _matrix(data, endian, where)
    return variables


def from_devkit(devkit, out):
    try:
        tar = tarfile.open(devkit)
        members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError) as e:
        fail("%s: not a readable tar.gz archive (%s): an incomplete download?" % (devkit, e))
    files = {}
    for name in ("ILSVRC2012_validation_ground_truth.txt", "meta.mat"):
        if name not in members:
            fail("%s holds no data/%s: is it ILSVRC2012_devkit_t12.tar.gz?" % (devkit, name))
        files[name] = tar.extractfile(members[name]).read()
    where = devkit + ":" + members["meta.mat"].name
    synsets = read_mat(files["meta.mat"], where).get("synsets")
    if not isinstance(synsets, list) or not synsets or "WNID" not in synsets[0]:
        fail("%s: no 'synsets' struct with a WNID field" % where)
    wnid_of = {}
    for s in synsets:
        if s.get("ILSVRC2012_ID"):
            wnid_of[int(s["ILSVRC2012_ID"][0])] = s["WNID"]
    truth = devkit + ":" + members["ILSVRC2012_validation_ground_truth.txt"].name
    lines = []
    for number, line in enumerate(files["ILSVRC2012_validation_ground_truth.txt"].decode().splitlines(), 1):
        if not line.strip():
            continue
        if not line.strip().isdigit() or int(line) not in wnid_of:
            fail("%s line %d: %r is not an ILSVRC2012_ID of meta.mat's synsets" % (truth, number, line))
        lines.append("ILSVRC2012_val_%08d.JPEG %s\n" % (number, wnid_of[int(line)]))
    with open(out, "w") as f:
        f.writelines(lines)


def read_labels(path, source):
    """[(file name, wnid)] of a labels file, checked."""
    pairs, seen = [], {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or "/" in fields[0] or not WNID.match(fields[1]):
                fail("%s line %d: %r is not '<file name> <wnid>' (a wnid is like n01440764)"
                     % (source, number, line.rstrip("\n")))
            if fields[0] in seen:
                fail("%s line %d: %s is labelled twice (line %d too)" % (source, number, fields[0], seen[fields[0]]))
            seen[fields[0]] = number
            pairs.append((fields[0], fields[1]))
    if not pairs:
        fail("%s: no labels in it" % source)
    return pairs


def check(labels, source, train_dir=None):
    pairs = read_labels(labels, source)
    if train_dir:
        missing = sorted({w for _, w in pairs} - set(os.listdir(train_dir)))
        if missing:
            fail("%s labels validation images with %d class(es) not in %s, e.g. %s"
                 % (source, len(missing), train_dir, missing[0]))


def sort(labels, source, flat, sorted_dir):
    pairs = read_labels(labels, source)
    for name, wnid in pairs:
        dst = os.path.join(sorted_dir, wnid, name)
        if os.path.exists(dst):
            continue
        src = os.path.join(flat, name)
        if not os.path.exists(src):
            fail("%s labels %s, which the validation archive does not hold" % (source, name))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.rename(src, dst)
    left = sorted(os.listdir(flat))
    if left:
        fail("%d validation file(s) have no label in %s, e.g. %s" % (len(left), source, left[0]))
    print("val: %d images in %d classes" % (len(pairs), len({w for _, w in pairs})))


def main():
    usage = __doc__.split("\n\n")[0] + "\nusage: imagenet_val_labels.py from-devkit|check|sort ..."
    args = sys.argv[1:]
    if args[:1] == ["from-devkit"] and len(args) == 3:
        from_devkit(args[1], args[2])
    elif args[:1] == ["check"] and len(args) in (3, 4):
        check(*args[1:])
    elif args[:1] == ["sort"] and len(args) == 5:
        sort(*args[1:])
    else:
        sys.exit(usage)


if __name__ == "__main__":
    main()
