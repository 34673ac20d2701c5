"""End-to-end pipelines and the bounded-memory target.

* ``pipeline``: ``Pipeline(CanonicalizerTransformer, Ridge | HistGradientBoosting).fit`` on a
  10,000-sample task (64 points × 3, float32; ``--quick``: 1,000).
* ``memory``: ``transform`` of 1,000,000 clouds × 64 points × 3 (float32; ``--quick``:
  50,000) with a fitted heuristic canonicalizer — target: peak RSS growth over the
  process's baseline ≤ input + output + 300 MB — and the same with a learned one when
  ``method="learned"`` is available (20,000 clouds — a network is much slower than a
  heuristic; ``--quick``: 2,000).
"""

from __future__ import annotations

import time

import numpy as np

from _common import MB, best_time, copy_time, point_clouds

PIPELINES = [
    ("pca SE3 + Ridge", "SE3", "pca", "ridge"),
    ("pca+sort SE3xS_n + Ridge", "SE3xS_n", "pca+sort", "ridge"),
    ("pca SE3 + HistGradientBoosting", "SE3", "pca", "hgb"),
]


def _task(n):
    X = point_clouds(n)
    P = X.reshape(n, 64, 3).astype(np.float64)
    c = P - P.mean(axis=1, keepdims=True)
    y = np.sqrt((c ** 2).sum(axis=2)).max(axis=1)  # an invariant target: the radius
    return X, y


def pipeline_row(name, group, method, model, quick=False, n=None):
    """Time ``make_pipeline(CanonicalizerTransformer(group, method), model).fit``."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    from skcanon import CanonicalizerTransformer

    n = n or (1_000 if quick else 10_000)
    X, y = _task(n)
    if model == "hgb":
        est = HistGradientBoostingRegressor(max_iter=20 if quick else 100, random_state=0)
    else:
        est = Ridge()
    pipe = make_pipeline(CanonicalizerTransformer(group, method), est)
    # OpenMP threads that spin while other jobs hold the cores make gradient boosting up to
    # 20× slower on a shared 2-core machine: time it single-threaded
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1 if model == "hgb" else None):
        seconds = best_time(lambda: pipe.fit(X, y), 1, warmup=False)
    return {"name": f"pipeline/{name}", "n_samples": n, "shape": [64, 3], "dtype": "float32",
            "seconds": seconds, "copy_seconds": copy_time(X), "target_ratio": None,
            "train_r2": round(float(pipe.score(X, y)), 3), "threads": 1 if model == "hgb" else "default"}


def memory_row(name, method, quick=False, n=None):
    """Peak memory of ``transform`` on a large input; the target is input + output + 300 MB."""
    from skcanon import CanonicalizerTransformer

    learned = method == "learned"
    if learned:
        import skcanon.canonicalizers._learned  # noqa: F401  (registers "learned")

        n = n or (2_000 if quick else 20_000)
        est = CanonicalizerTransformer("SO3", "learned", objective="align", max_epochs=1, hidden=16,
                                       early_stopping=False, random_state=0, device="cpu")
        est.fit(point_clouds(256, seed=1))
    else:
        n = n or (50_000 if quick else 1_000_000)
        est = CanonicalizerTransformer("SE3", "pca").fit(point_clouds(256, seed=1))
    X = point_clouds(n)
    t0 = time.perf_counter()
    Xc = est.transform(X)
    seconds = time.perf_counter() - t0
    assert Xc.shape == X.shape
    budget = (X.nbytes + Xc.nbytes) / MB + 300
    return {"name": f"memory/{name}", "n_samples": n, "shape": [64, 3], "dtype": "float32",
            "seconds": seconds, "target_mb": round(budget), "input_mb": round(X.nbytes / MB),
            "output_mb": round(Xc.nbytes / MB)}


def rows(quick=False, suite="pipeline"):
    if suite == "memory":
        return [("bench_pipeline", "memory_row", {"name": f"transform {m} {g}", "method": m, "quick": quick})
                for m, g in (("pca", "SE3"), ("learned", "SO3"))]
    return [("bench_pipeline", "pipeline_row",
             {"name": nm, "group": g, "method": m, "model": mo, "quick": quick})
            for nm, g, m, mo in PIPELINES]


if __name__ == "__main__":
    import sys

    from run import main

    sys.exit(main(["--only", "pipeline,memory"] + sys.argv[1:]))
