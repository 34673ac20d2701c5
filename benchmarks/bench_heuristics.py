"""Heuristic canonicalizers: ``CanonicalizerTransformer(...).transform`` throughput.

Point sets: 100,000 clouds × 64 points × 3, float32 (``--quick``: 5,000) — the suite's
moved Gaussian clouds, the issue's plain Gaussian clouds and skewed ones (see ``CASES``);
images: 10,000 28×28 images (``--quick``: 500). Each row is timed against a plain copy of the same array
in the same process. Run through ``benchmarks/run.py`` (``--only heuristics``) or directly::

    python benchmarks/bench_heuristics.py [--quick]
"""

from __future__ import annotations


import os

import numpy as np
from _common import best_time, copy_time, images, point_clouds

#: (name, group, method, kind, target ratio to the copy[, n_jobs[, clouds]]); clouds: the
#: suite's anisotropic Gaussian clouds moved at random (default), ``"gaussian"`` — the
#: issue's ``normal(size=(n, 64, 3)) * [3, 2, 1]``, third moments near zero, so axis signs
#: are often nearly tied — or ``"skewed"`` (exponential coordinates, clear third moments)
CASES = [
    ("identity SE3", "SE3", "identity", "points", None),
    ("centroid T3", "T3", "centroid", "points", None),
    ("scale", "scaling", "scale", "points", None),
    ("pca SO3", "SO3", "pca", "points", 6),
    ("pca SE3", "SE3", "pca", "points", 6),
    ("pca O3", "O3", "pca", "points", 6),
    ("pca SE3 gaussian", "SE3", "pca", "points", 6, None, "gaussian"),
    ("pca SE3 skewed", "SE3", "pca", "points", 6, None, "skewed"),
    ("sort S_n", "S_n", "sort", "points", 15),
    # both cores: transform's batches in two threads (outputs identical)
    ("pca SE3 n_jobs=2", "SE3", "pca", "points", 6, 2),
    ("sort S_n n_jobs=2", "S_n", "sort", "points", 15, 2),
    ("pca+sort SE3xS_n", "SE3xS_n", "pca+sort", "points", 12),
    ("pca+sort SE3xS_n gaussian", "SE3xS_n", "pca+sort", "points", 12, None, "gaussian"),
    ("pca+sort SE3xS_n skewed", "SE3xS_n", "pca+sort", "points", 12, None, "skewed"),
    ("moments C4 28x28", "C4", "moments", "image", None),
    ("moments SO2 28x28", "SO2", "moments", "image", None),
]


def clouds(n, kind=None, seed=0, chunk=8_192):
    """``(n, 64*3)`` float32 clouds of the given ``kind`` (see ``CASES``), made in chunks."""
    if kind is None:
        return point_clouds(n)
    rs = np.random.default_rng(seed)
    X = np.empty((n, 64 * 3), dtype=np.float32)
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        P = rs.normal(size=(k, 64, 3)) if kind == "gaussian" else rs.exponential(size=(k, 64, 3))
        X[start:start + k] = (P * [3.0, 2.0, 1.0]).reshape(k, -1)
    return X


def transform_row(name, group, method, kind, target_ratio, quick=False, n=None, n_jobs=None, clouds_kind=None):
    """Time ``transform`` of one heuristic on float32 data; returns a benchmark row."""
    from skcanon import CanonicalizerTransformer

    if kind == "points":
        n = n or (5_000 if quick else 100_000)
        X = clouds(n, clouds_kind)
        shape = [64, 3]
        est = CanonicalizerTransformer(group, method, n_dims=3, n_jobs=n_jobs)
    else:
        n = n or (500 if quick else 10_000)
        X = images(n)
        shape = [28, 28]
        est = CanonicalizerTransformer(group, method, layout="image")
    est.fit(X[:256])
    est.transform(X[:256])  # loads (or, the first time, compiles) the optional numba kernels
    repeats = 1 if quick else 3
    seconds = best_time(lambda: est.transform(X), repeats)
    return {"name": f"heuristics/{name}", "n_samples": n, "shape": shape, "dtype": "float32",
            "seconds": seconds, "copy_seconds": copy_time(X), "target_ratio": target_ratio,
            "compiled": _compiled(method)}


# these rows measure the compiled kernels where numba is installed (in the library they
# switch on by themselves only after 1,000,000 samples per process; see benchmarks/README.md);
# `SKCANON_NUMBA=0 python benchmarks/run.py ...` measures the numpy passes. The `compiled`
# field of each row says which ran
os.environ.setdefault("SKCANON_NUMBA", "1")


def _compiled(method):
    """Whether the row ran the compiled kernels (numba installed and enabled): the fused
    PCA pass and/or the compiled sort; None for methods without them."""
    if "pca" not in method and "sort" not in method:
        return None
    try:
        from skcanon._kernels import _numba
        from skcanon._kernels.pca import compiled_kernels
    except ImportError:  # a version without the compiled kernels
        return False
    return _numba.mode() == "on" and compiled_kernels() is not None


def rows(quick=False):
    """The row specifications of this suite: ``(module, function, kwargs)``."""
    return [("bench_heuristics", "transform_row",
             {"name": name, "group": g, "method": m, "kind": k, "target_ratio": t, "quick": quick,
              "n_jobs": rest[0] if rest else None, "clouds_kind": rest[1] if len(rest) > 1 else None})
            for name, g, m, k, t, *rest in CASES]


if __name__ == "__main__":
    # run through the suite driver (run.py imports this module, so it is not imported back)
    import runpy
    import sys
    from pathlib import Path

    sys.argv = [sys.argv[0], "--only", "heuristics"] + sys.argv[1:]
    runpy.run_path(str(Path(__file__).with_name("run.py")), run_name="__main__")
