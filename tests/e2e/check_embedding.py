"""Reads what `flatclr embed` wrote with numpy, and checks its PCA picture's coordinates against numpy's own
PCA of the same rows (used by tests/e2e/test_encoder_use_cli.cpp).
usage: check_embedding.py PREFIX SAMPLE_STRIDE
Prints one JSON line: dtypes, shapes, label counts, whether projections exist, and the max |difference| between
the picture's coordinates (PREFIX_pca.tsv) and numpy's (each component's sign aligned)."""
import json
import os
import sys

import numpy as np

prefix, stride = sys.argv[1], int(sys.argv[2])
f = np.load(prefix + "_features.npy")
l = np.load(prefix + "_labels.npy")
out = {
    "features_dtype": str(f.dtype), "features_shape": list(f.shape),
    "labels_dtype": str(l.dtype), "labels_shape": list(l.shape),
    "label_counts": np.bincount(l).tolist(),
    "first_labels": l[:20].tolist(),
    "finite": bool(np.isfinite(f).all()),
}
if os.path.exists(prefix + "_projections.npy"):
    z = np.load(prefix + "_projections.npy")
    out["projections_shape"] = list(z.shape)
tsv = np.loadtxt(prefix + "_pca.tsv", usecols=(0, 1, 2), delimiter="\t", comments="#")
x = f[::stride].astype(np.float64)
xc = x - x.mean(axis=0)
values, vectors = np.linalg.eigh(xc.T @ xc / (len(x) - 1))
coords = xc @ vectors[:, ::-1][:, :2]
for j in range(2):
    if np.dot(coords[:, j], tsv[:, j]) < 0:
        coords[:, j] = -coords[:, j]
out["pca_rows"] = int(len(tsv))
out["pca_max_abs_diff"] = float(np.abs(coords - tsv[:, :2]).max())
out["pca_scale"] = float(np.abs(coords).max())
out["pca_labels_match"] = bool((tsv[:, 2].astype(np.int64) == l[::stride]).all())
print(json.dumps(out))
