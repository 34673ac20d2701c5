"""Invariance of network canonicalization on real molecules (QM9), float64 and float32.

The issue's criterion: relative invariance error ≤ 1e-9 for every molecule in float64, and
≤ 1e-3 for at least 99.9 % of molecules in float32. Molecules: the first 300 of QM9 (small
textbook molecules with point-group symmetry: methane, ammonia, water, acetylene, ...) and
2,000 drawn at random (many planar), positions + atomic number. Each network is fitted on
300 of them (``learned``: supervised on the HOMO–LUMO gap above its median, every learning
option at its default; ``random``: the frozen network), then every molecule is
canonicalized in two random poses of the group (and, for ``SE3xS_n``, atom orders) in the
given dtype, and the error is ``max |A − B| / max |A|`` per molecule.

``--axes`` compares where the point network takes its rotation axes from (a process-local
switch, :func:`choose_e2e_frame_axes.axes_from`; ``moments`` is the library's default for
the fits made here).

Run (about 5 minutes on one core)::

    python benchmarks/check_qm9_invariance.py
    python benchmarks/check_qm9_invariance.py --axes moments,vectors --n-random 500

Prints a table, then one JSON line per (group, method, axes) row.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from choose_e2e_frame_axes import axes_from  # noqa: E402  (the study's switch of the networks' axes)


def molecules(n_first, n_random):
    from skcanon.datasets import load_qm9

    first = load_qm9(n=n_first)
    later = load_qm9(n=n_random, shuffle=True, random_state=0)
    X = np.concatenate([first.data, later.data])
    y = np.concatenate([first.target, later.target])
    return X, (y > np.median(y)).astype(int), first.layout


def errors(canon, X, group, dtype, seed):
    """Per-molecule relative invariance error of ``canon`` between two random poses."""
    from skcanon.groups import get_group

    G = get_group(group)
    n, m = len(X), X.shape[1] // canon.layout_.width
    P = X.reshape(n, m, -1)
    A_in, B_in = (G.act(G.sample(n, random_state=seed + k, n_points=m), P, canon.layout_) for k in (0, 1))
    A, B = (canon.transform(np.asarray(Q).astype(dtype).reshape(n, -1)).astype(np.float64) for Q in (A_in, B_in))
    return np.nanmax(np.abs(A - B), axis=1) / np.nanmax(np.abs(A), axis=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", default="SE3,E3,SE3xS_n")
    parser.add_argument("--methods", default="random,learned")
    parser.add_argument("--axes", default="moments")
    parser.add_argument("--n-first", type=int, default=300)
    parser.add_argument("--n-random", type=int, default=2000)
    parser.add_argument("--n-fit", type=int, default=300)
    args = parser.parse_args(argv)
    import torch

    from skcanon import CanonicalizerTransformer

    torch.set_num_threads(1)
    X, y, layout = molecules(args.n_first, args.n_random)
    fit_idx = np.random.default_rng(0).choice(len(X), args.n_fit, replace=False)
    rows = []
    for axes in args.axes.split(","):
        for group in args.groups.split(","):
            for method in args.methods.split(","):
                t0 = time.perf_counter()
                with axes_from(axes):
                    canon = CanonicalizerTransformer(group, method, layout=layout, random_state=0, device="cpu")
                    canon.fit(X[fit_idx], y[fit_idx])
                row = {"group": group, "method": method, "axes": axes, "n": len(X)}
                for dtype, tol in ((np.float64, 1e-9), (np.float32, 1e-3)):
                    e = errors(canon, X, group, dtype, seed=5)
                    key = "f64" if dtype == np.float64 else "f32"
                    row[f"{key}_share_above"] = float(np.mean(e > tol))
                    row[f"{key}_max"] = float(e.max())
                row["seconds"] = round(time.perf_counter() - t0, 1)
                rows.append(row)
    print(f"{'group':8s} {'method':8s} {'axes':8s} {'f64 >1e-9':>10s} {'f64 max':>9s} "
          f"{'f32 >1e-3':>10s} {'f32 max':>9s}")
    for r in rows:
        print(f"{r['group']:8s} {r['method']:8s} {r['axes']:8s} {100 * r['f64_share_above']:9.2f}% "
              f"{r['f64_max']:9.1e} {100 * r['f32_share_above']:9.2f}% {r['f32_max']:9.1e}")
    for r in rows:
        print(json.dumps(r))
    return rows


if __name__ == "__main__":
    main()
