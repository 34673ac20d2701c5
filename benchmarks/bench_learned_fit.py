"""Wall time of a default learned fit: 1,000 molecules of 29 atoms, E(3)×S_n (target ≤ 30 s).

Prints a table, then one JSON line per row::

    python benchmarks/bench_learned_fit.py              # 1,000 QM9 molecules (synthetic if absent)
    python benchmarks/bench_learned_fit.py --quick      # 200 molecules, a few seconds
    python benchmarks/bench_learned_fit.py --n-jobs 2   # torch/BLAS threads of the fit

Rows, each in this process after a warm-up fit (imports and torch's first-call costs are
not part of a row):

* ``transformer default`` — ``CanonicalizerTransformer("E3xS_n", "learned", layout=...,
  random_state=0).fit(X, y)`` with every other option at its default (supervised objective
  on the HOMO–LUMO gap), whatever ``max_epochs`` default the transformer ships;
* ``budget auto`` — the same network trained by :func:`skcanon._training.train_frame_network`
  with ``max_epochs="auto"`` (the step budget of :func:`skcanon._training.training_budget`).

Columns: seconds of wall time, epochs run (early stopping may end sooner than planned),
planned epochs, mini-batch, optimiser steps run, threads. The 30 s target is for 2 CPU
cores; a machine shared with other processes is slower.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

TARGET_S = 30.0


def molecules(n, seed=0):
    """``(X, y, layout, source)``: QM9 when the data are installed, else synthetic molecules
    of 29 atoms (positions + atomic number, NaN-padded, the same shape as QM9)."""
    try:
        from skcanon.datasets import load_qm9

        b = load_qm9(n=n, random_state=seed)
        return b.data, b.target, b.layout, "QM9"
    except Exception:  # pragma: no cover - data not installed
        from skcanon.layouts import PointLayout

        rng = np.random.default_rng(seed)
        P = np.full((n, 29, 4), np.nan)
        sizes = rng.integers(9, 30, n)
        for i, m in enumerate(sizes):
            P[i, :m, :3] = rng.normal(size=(m, 3)) * [2.0, 1.5, 0.8]
            P[i, :m, 3] = rng.choice([1, 6, 7, 8, 9], m)
        y = sizes + rng.normal(size=n)
        layout = PointLayout(3, fields=[("pos", "position"), ("Z", "scalar")])
        return P.reshape(n, -1), y, layout, "synthetic"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 molecules, a few seconds")
    parser.add_argument("--n", type=int, default=1000, help="molecules (default 1000)")
    parser.add_argument("--n-jobs", type=int, default=None, help="threads of the fit (default: one)")
    args = parser.parse_args(argv)
    import torch

    from skcanon import CanonicalizerTransformer
    from skcanon._threads import n_threads_from
    from skcanon._training import train_frame_network
    from skcanon.nn._factory import build_frame_network
    from skcanon.nn._torch import seeded
    from skcanon.groups import get_group

    n = 200 if args.quick else args.n
    X, y, layout, source = molecules(n)
    threads = n_threads_from(args.n_jobs)
    torch.set_num_threads(threads)  # the transformer's transform side; training sets its own
    # warm-up: imports (skorch, torch._dynamo through the optimizer) and first calls
    CanonicalizerTransformer("E3xS_n", "learned", layout=layout, max_epochs=1, random_state=0,
                             device="cpu").fit(X[:64], y[:64])

    rows = []
    t0 = time.perf_counter()
    canon = CanonicalizerTransformer("E3xS_n", "learned", layout=layout, random_state=0, device="cpu")
    if args.n_jobs is not None:
        canon.set_params(n_jobs=args.n_jobs)
    canon.fit(X, y)
    seconds = time.perf_counter() - t0
    history = canon.canonicalizer_.history_
    rows.append({"row": "transformer default", "seconds": seconds, "epochs": len(history),
                 "planned_epochs": canon.max_epochs, "batch": None, "steps": None})

    P = layout.to_working(np.asarray(X, dtype=np.float64)) if hasattr(layout, "to_working") else \
        np.asarray(X, dtype=np.float64).reshape(n, -1, layout.width)
    with seeded(0):
        net = build_frame_network(get_group("E3xS_n"), layout, 64)
    t0 = time.perf_counter()
    info = train_frame_network(net, P, y, max_epochs="auto", seed=0, n_jobs=args.n_jobs)
    seconds = time.perf_counter() - t0
    n_train = n - int(np.floor(0.1 * n))
    rows.append({"row": "budget auto", "seconds": seconds, "epochs": info["n_epochs_trained"],
                 "planned_epochs": info["max_epochs"], "batch": info["batch_size"],
                 "steps": info["n_epochs_trained"] * math.ceil(n_train / info["batch_size"])})

    print(f"{source}: {n} molecules of 29 atoms, E3xS_n, {threads} thread(s); target <= {TARGET_S:.0f} s")
    print(f"{'row':<22}{'seconds':>9}{'epochs':>8}{'planned':>9}{'batch':>7}{'steps':>7}{'met':>6}")
    for r in rows:
        print(f"{r['row']:<22}{r['seconds']:>9.1f}{r['epochs']:>8}{r['planned_epochs']!s:>9}"
              f"{r['batch']!s:>7}{r['steps']!s:>7}{'yes' if r['seconds'] <= TARGET_S else 'no':>6}")
    for r in rows:
        print(json.dumps({"bench": "learned_fit_E3xS_n", "data": source, "n_samples": n, "n_atoms": 29,
                          "threads": threads, "target_s": TARGET_S, "met": r["seconds"] <= TARGET_S,
                          **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}}))


if __name__ == "__main__":
    main()
