"""End-to-end pipelines and the bounded-memory target.

* ``pipeline``: ``Pipeline(CanonicalizerTransformer, Ridge | HistGradientBoosting).fit`` on a
  10,000-sample task (64 points × 3, float32; ``--quick``: 1,000).
* ``memory``: ``transform`` of 1,000,000 clouds × 64 points × 3 (float32; ``--quick``:
  50,000) with a fitted heuristic canonicalizer — target: peak RSS growth over the
  process's baseline ≤ input + output + 300 MB — and the same with a learned one
  (1,000,000 clouds too; ``--quick``: 2,000).
* ``learned fit``: ``fit`` of a learned SO(3) canonicalizer on 10,000 clouds × 64 points for
  20 epochs (``--quick``: 1,000 clouds, 2 epochs) — target ≤ 2 minutes.
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

        n = n or (2_000 if quick else 1_000_000)
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


def learned_fit_row(name, quick=False):
    """``fit`` of a learned SO(3) canonicalizer (supervised objective) for a fixed number of
    epochs (no early stopping); target: 10,000 clouds × 20 epochs in ≤ 2 minutes."""
    from skcanon import CanonicalizerTransformer

    n, epochs = (1_000, 2) if quick else (10_000, 20)
    X, y = _task(n)
    est = CanonicalizerTransformer("SO3", "learned", objective="supervised", max_epochs=epochs,
                                   early_stopping=False, random_state=0, device="cpu")
    t0 = time.perf_counter()
    est.fit(X, y)
    seconds = time.perf_counter() - t0
    return {"name": f"pipeline/{name}", "n_samples": n * epochs, "shape": [64, 3], "dtype": "float32",
            "seconds": seconds, "note": f"{n} clouds × {epochs} epochs",
            "target_seconds": None if quick else 120.0}


def rows(quick=False, suite="pipeline"):
    if suite == "memory":
        return [("bench_pipeline", "memory_row", {"name": f"transform {m} {g}", "method": m, "quick": quick})
                for m, g in (("pca", "SE3"), ("learned", "SO3"))]
    if suite == "pipeline-learned":
        return [("bench_pipeline", "learned_fit_row", {"name": "learned SO3 fit 20 epochs", "quick": quick})]
    return [("bench_pipeline", "pipeline_row",
             {"name": nm, "group": g, "method": m, "model": mo, "quick": quick})
            for nm, g, m, mo in PIPELINES]


if __name__ == "__main__":
    # run through the suite driver (run.py imports this module, so it is not imported back)
    import runpy
    import sys
    from pathlib import Path

    sys.argv = [sys.argv[0], "--only", "pipeline,memory"] + sys.argv[1:]
    runpy.run_path(str(Path(__file__).with_name("run.py")), run_name="__main__")
