"""Scaling of the heuristic canonicalizers: transform time and peak memory against the
number of samples and the number of points (issue 17: "stay linear").

Two series per method (``pca`` SE(3) and ``pca+sort`` SE(3)×S_n, float32 clouds in 3-D):

* ``vs n``: 64 points, 10,000 / 100,000 / 1,000,000 samples (``--quick``: 1,000 / 10,000 /
  100,000);
* ``vs points``: 16 / 64 / 256 / 1,024 points, 10,000 samples (``--quick``: 1,000).

Each row runs in a fresh process (``run.py``). Besides the usual columns a row carries
``per_sample_us`` (µs per sample), ``per_point_ns`` (ns per point), ``transform_growth_mb``
(peak resident memory during ``transform`` over the resident memory right before it — the
transform's own working memory, input excluded) and ``input_mb``/``output_mb``. ``run.py``
then adds per series ``cost_ratio``: the row's cost per unit (per sample in ``vs n``, per
point in ``vs points``) over that of the previous, smaller row — 1 is linear; the target
≤ 2 (``status`` met/missed) is judged where the previous row's input is larger than the
CPU cache (≥ 16 MB); and ``memory_per_input``, ``transform_growth_mb`` per MB of input. Run through ``benchmarks/run.py --suite scaling``
(``--quick`` for the small sizes).
"""

from __future__ import annotations

import os
from pathlib import Path

# One code path for every row of a series: unset, the compiled kernels would switch on part
# way through the 1,000,000-sample rows (skcanon._kernels._numba). The plain series measure
# the numpy passes (what a process runs before its first 1,000,000 samples), the
# "compiled" series the numba kernels (SKCANON_NUMBA=1; the `fast` extra), each row in its
# own process.
os.environ.setdefault("SKCANON_NUMBA", "0")

from _common import MB, best_time, copy_time, point_clouds

METHODS = (("pca SE3", "SE3", "pca"), ("pca+sort SE3xS_n", "SE3xS_n", "pca+sort"))
N_FULL, N_QUICK = (10_000, 100_000, 1_000_000), (1_000, 10_000, 100_000)
POINTS = (16, 64, 256, 1024)
#: largest acceptable cost per unit over the previous row of the series
TARGET_COST_RATIO = 2.0
#: inputs below this (MB) may sit in the CPU cache: the step after them is not judged
CACHE_MB = 16.0


def _rss_mb():
    """Current resident memory of this process (``/proc/self/statm``)."""
    import os

    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / MB


def scaling_row(name, series, group, method, n, m, quick=False, compiled=False):
    """Time and memory of ``transform`` of ``n`` clouds of ``m`` points (``compiled``: with
    the numba kernels)."""
    import numpy as np

    from _common import peak_rss_mb
    from skcanon import CanonicalizerTransformer

    os.environ["SKCANON_NUMBA"] = "1" if compiled else "0"

    X = point_clouds(n, m=m)
    est = CanonicalizerTransformer(group, method, n_dims=3).fit(X[:256])
    before = _rss_mb()
    # always one warm-up call first, also for the largest rows (the first touch of a
    # 768 MB output costs seconds on a VM), then the best of 1 (large) or 3 timed calls
    est.transform(X)
    seconds = best_time(lambda: est.transform(X), 1 if n * m >= 2**25 else 3, warmup=False)
    growth = peak_rss_mb() - before
    copy_s = copy_time(X, repeats=3)
    assert np.isfinite(est.transform(X[:64])).all()
    input_mb = X.nbytes / MB
    ran_compiled = False
    if compiled:   # asked for, and numba installed with the kernels built
        from skcanon._kernels import lexsort, pca

        ran_compiled = pca.compiled_kernels() is not None and lexsort.compiled_kernels() is not None
    return {"name": name, "series": series, "compiled": ran_compiled, "n_samples": n, "shape": [m, 3],
            "dtype": "float32",
            "seconds": seconds, "copy_seconds": copy_s, "per_sample_us": 1e6 * seconds / n,
            "per_point_ns": 1e9 * seconds / (n * m), "transform_growth_mb": round(growth, 1),
            "input_mb": round(input_mb, 1), "output_mb": round(input_mb, 1),
            # same memory target as the memory suite: growth ≤ input + output + 300 MB
            "target_mb": round(2 * input_mb + 300)}


def rows(quick=False):
    """Row specifications ``(module, function, kwargs)``, smallest first in every series."""
    specs = []
    for compiled in (False, True):
        for label, group, method in METHODS:
            label = f"{label} compiled" if compiled else label
            for n in (N_QUICK if quick else N_FULL):
                specs.append(("bench_scaling", "scaling_row",
                              {"name": f"scaling/{label} n={n:,} m=64", "series": f"{label} vs n", "group": group,
                               "method": method, "n": n, "m": 64, "quick": quick, "compiled": compiled}))
            n = 1_000 if quick else 10_000
            for m in POINTS:
                specs.append(("bench_scaling", "scaling_row",
                              {"name": f"scaling/{label} n={n:,} m={m}", "series": f"{label} vs points",
                               "group": group, "method": method, "n": n, "m": m, "quick": quick,
                               "compiled": compiled}))
    return specs


def add_cost_ratios(rows):
    """Per series (rows smallest first): ``cost_ratio``, the row's cost per unit over that of
    the series' previous row (None for the first). The linearity target (≤ 2) is judged only
    where the previous row's input exceeds :data:`CACHE_MB`: an input that fits in the CPU
    cache is faster per sample (and so is its copy), which is not a departure from linear
    cost. ``memory_per_input``: the transform's memory growth per MB of input."""
    previous = {}
    for row in rows:
        series = row.get("series")
        if not series or "error" in row or not row.get("seconds"):
            continue
        unit = row["per_point_ns"] if series.endswith("vs points") else row["per_sample_us"]
        prev = previous.get(series)
        row["cost_ratio"] = unit / prev[0] if prev else None
        if prev and prev[1] >= CACHE_MB:
            row["target_cost_ratio"] = TARGET_COST_RATIO
        previous[series] = (unit, row["input_mb"])
        row["memory_per_input"] = max(row.get("transform_growth_mb", 0.0), 0.0) / max(row["input_mb"], 1e-9)
    return rows


if __name__ == "__main__":
    # run through the suite driver (run.py imports this module, so it is not imported back)
    import runpy
    import sys
    from pathlib import Path

    sys.argv = [sys.argv[0], "--suite", "scaling"] + sys.argv[1:]
    runpy.run_path(str(Path(__file__).with_name("run.py")), run_name="__main__")
