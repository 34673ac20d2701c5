"""InvariantProjector: ``transform`` throughput of every method.

S_n methods on 100,000 samples × 64 points × 8 channels, float32 (``--quick``: 5,000);
geometry on 64 vectors in 8-D (O(8), E(8)) or 3-D clouds; spectral maps on C8 fibres
(64 channels × 8). Slow or memory-hungry methods (power sums, random sorts and moments,
group enumeration) run on fewer samples (see ``CASES``). Each row is timed against a plain
copy of its input.
"""

from __future__ import annotations

import os

from _common import best_time, copy_time, point_clouds

#: (method, group, layout kind, points, width, target ratio to the copy, n full, n quick)
CASES = [
    ("sum", "S_n", "points", 64, 8, 3, 100_000, 5_000),
    ("mean", "S_n", "points", 64, 8, 3, 100_000, 5_000),
    ("max", "S_n", "points", 64, 8, 3, 100_000, 5_000),
    ("sort", "S_n", "points", 64, 8, 15, 100_000, 5_000),
    ("random_sort", "S_n", "points", 64, 8, None, 10_000, 1_000),
    ("lexsort", "S_n", "points", 64, 8, None, 100_000, 5_000),
    ("power_sums", "S_n", "points", 64, 8, None, 2_000, 200),
    ("random_moments", "S_n", "points", 64, 8, None, 10_000, 1_000),
    ("reynolds", "S_n", "points", 5, 8, None, 20_000, 1_000),
    ("max_filter", "S_n", "points", 5, 8, None, 20_000, 1_000),
    ("norms", "O8", "points", 64, 8, None, 100_000, 5_000),
    ("gram", "O8", "points", 64, 8, 20, 100_000, 5_000),
    ("distances", "E8", "points", 64, 8, 20, 100_000, 5_000),
    ("gram_minors", "SO3", "points", 16, 3, None, 20_000, 1_000),
    ("sorted_distances", "E3xS_n", "points", 32, 3, None, 20_000, 1_000),
    ("canonical", "SE3", "points", 64, 3, None, 100_000, 5_000),
    ("group_pool", "C8", "fibre", 64, 8, None, 100_000, 5_000),
    ("power_spectrum", "C8", "fibre", 64, 8, None, 100_000, 5_000),
    ("bispectrum", "C8", "fibre", 16, 8, None, 100_000, 5_000),
]


#: methods whose kernels run on torch: timed with one torch thread (see projector_row)
TORCH_METHODS = ("gram", "distances")


def projector_row(method, group, kind, points, width, target_ratio, quick=False, n=None, name=None):
    """Time ``InvariantProjector(group, method).transform`` on float32 data."""
    from skcanon import InvariantProjector

    threads = "default"
    if method in TORCH_METHODS:
        # torch's OpenMP threads wait for each other at every small batched call: while
        # other jobs hold the cores of a shared 2-core machine that makes these rows 2–20×
        # slower and erratic. One thread keeps them reproducible (the copy they are
        # compared with is single-threaded too); each row runs in its own process.
        import torch

        torch.set_num_threads(1)
        threads = 1
    n = n or 100_000
    X = point_clouds(n, m=points, d=width)
    if kind == "fibre":
        est = InvariantProjector(group, method, layout="fibre", random_state=0)
    else:
        est = InvariantProjector(group, method, n_dims=width, random_state=0)
    est.fit(X[:512])
    # one full call first: one-time costs (torch set-up, the first touch of memory the size
    # of the output, which on a virtual machine can take seconds) stay out of the timings;
    # best_time's own warm-up counts as a timing when it takes over 2 s
    est.transform(X)
    seconds = best_time(lambda: est.transform(X), 1 if quick else 3)
    row = {"name": f"projector/{method} {group}", "n_samples": n, "shape": [points, width],
           "dtype": "float32", "seconds": seconds, "copy_seconds": copy_time(X),
           "target_ratio": target_ratio, "n_features_out": int(est.transform(X[:2]).shape[1]),
           "threads": threads}
    if method == "distances":
        row["compiled"] = _compiled_triangle()
    if method in TORCH_METHODS:
        # the same kernel writing into an output allocated (and touched) once: what the
        # row costs beyond the first touch of its fresh output (4× the input here)
        out = est.transform(X)
        P = X.reshape(n, points, width)   # the working array of a point layout
        seconds_into = best_time(lambda: est.projection_.transform(P, out=out), 1 if quick else 3)
        row["seconds_preallocated"] = seconds_into
        row["ratio_preallocated"] = round(seconds_into / row["copy_seconds"], 1)
    return row


# the distances row measures the compiled triangle pass where numba is installed (in the
# library it switches on by itself only after 1,000,000 samples per process);
# `SKCANON_NUMBA=0` measures torch's gather, clamp and square root
os.environ.setdefault("SKCANON_NUMBA", "1")


def _compiled_triangle():
    try:
        from skcanon._kernels import _numba
        from skcanon.projections._geometry import _compiled_triangle
    except ImportError:
        return False
    return _numba.mode() == "on" and _compiled_triangle(0) is not None


def rows(quick=False):
    return [("bench_projector", "projector_row",
             {"method": m, "group": g, "kind": k, "points": p, "width": w, "target_ratio": t,
              "quick": quick, "n": nq if quick else nf, "name": f"projector/{m} {g}"})
            for m, g, k, p, w, t, nf, nq in CASES]


if __name__ == "__main__":
    # run through the suite driver (run.py imports this module, so it is not imported back)
    import runpy
    import sys
    from pathlib import Path

    sys.argv = [sys.argv[0], "--only", "projector"] + sys.argv[1:]
    runpy.run_path(str(Path(__file__).with_name("run.py")), run_name="__main__")
