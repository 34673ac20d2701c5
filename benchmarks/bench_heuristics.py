"""Heuristic canonicalizers: ``CanonicalizerTransformer(...).transform`` throughput.

Point sets: 100,000 clouds × 64 points × 3, float32 (``--quick``: 5,000); images: 10,000
28×28 images (``--quick``: 500). Each row is timed against a plain copy of the same array
in the same process. Run through ``benchmarks/run.py`` (``--only heuristics``) or directly::

    python benchmarks/bench_heuristics.py [--quick]
"""

from __future__ import annotations


from _common import best_time, copy_time, images, point_clouds

#: (name, group, method, kind, target ratio to the copy[, n_jobs])
CASES = [
    ("identity SE3", "SE3", "identity", "points", None),
    ("centroid T3", "T3", "centroid", "points", None),
    ("scale", "scaling", "scale", "points", None),
    ("pca SO3", "SO3", "pca", "points", 10),
    ("pca SE3", "SE3", "pca", "points", 10),
    ("pca O3", "O3", "pca", "points", 10),
    ("sort S_n", "S_n", "sort", "points", 15),
    # both cores: transform's batches in two threads (outputs identical)
    ("pca SE3 n_jobs=2", "SE3", "pca", "points", 10, 2),
    ("sort S_n n_jobs=2", "S_n", "sort", "points", 15, 2),
    ("pca+sort SE3xS_n", "SE3xS_n", "pca+sort", "points", None),
    ("moments C4 28x28", "C4", "moments", "image", None),
    ("moments SO2 28x28", "SO2", "moments", "image", None),
]


def transform_row(name, group, method, kind, target_ratio, quick=False, n=None, n_jobs=None):
    """Time ``transform`` of one heuristic on float32 data; returns a benchmark row."""
    from skcanon import CanonicalizerTransformer

    if kind == "points":
        n = n or (5_000 if quick else 100_000)
        X = point_clouds(n)
        shape = [64, 3]
        est = CanonicalizerTransformer(group, method, n_dims=3, n_jobs=n_jobs)
    else:
        n = n or (500 if quick else 10_000)
        X = images(n)
        shape = [28, 28]
        est = CanonicalizerTransformer(group, method, layout="image")
    est.fit(X[:256])
    repeats = 1 if quick else 3
    seconds = best_time(lambda: est.transform(X), repeats)
    return {"name": f"heuristics/{name}", "n_samples": n, "shape": shape, "dtype": "float32",
            "seconds": seconds, "copy_seconds": copy_time(X), "target_ratio": target_ratio}


def rows(quick=False):
    """The row specifications of this suite: ``(module, function, kwargs)``."""
    return [("bench_heuristics", "transform_row",
             {"name": name, "group": g, "method": m, "kind": k, "target_ratio": t, "quick": quick,
              "n_jobs": rest[0] if rest else None})
            for name, g, m, k, t, *rest in CASES]


if __name__ == "__main__":
    # run through the suite driver (run.py imports this module, so it is not imported back)
    import runpy
    import sys
    from pathlib import Path

    sys.argv = [sys.argv[0], "--only", "heuristics"] + sys.argv[1:]
    runpy.run_path(str(Path(__file__).with_name("run.py")), run_name="__main__")
