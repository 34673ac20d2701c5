"""Cost of averaging network canonicalizers' predictions over symmetric samples' stabilizers.

``EquivariantRegressor`` behind a network canonicalizer (``random``, ``learned``,
``anchored``) and ``EndToEndEquivariantRegressor`` with a learned or anchored frame read a
symmetric sample's stabilizer with a ``pca`` (``pca+sort``) stand-in of the same group
(fitted attribute ``stabilizer_canonicalizer_``) and average the prediction over it. The
stand-in runs on every ``predict``; this script measures what that costs.

Run ``python benchmarks/bench_stabilizer_averaging.py`` (about a minute on one core;
``--quick`` for a smoke run). One thread for numpy and torch. Rows:

1. **Generic clouds** (none has a symmetry, so every prediction is the network's own):
   ``predict`` time of the fitted model over that of the same model without the stand-in
   (the attribute removed, as in a model pickled before it existed), the two timed
   alternately, median of the repeats per seed; mean ± sd over seeds 0–2 (a seed draws the
   data and the model's initial weights).
2. **Symmetric clouds** (cubes of 8 points in random poses under E(3)×S_n): the extra time
   per cube, (with − without) / number of cubes, which pays for the cube's minimal frame set.

It prints a markdown table and one JSON line. Ratios are measured in one process, so they
hold on a shared machine better than absolute times do.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

SEEDS = (0, 1, 2)
CUBE = np.array(list(itertools.product([-1.0, 1.0], repeat=3)))


def _clouds(n, n_points, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_points, 3)) * [2.0, 1.0, 0.5]


def _target(P):
    """An E(3)×S_n-equivariant target: each point pushed from the centroid by its distance."""
    c = P.mean(axis=1, keepdims=True)
    return P + 0.3 * (P - c) * np.linalg.norm(P - c, axis=2, keepdims=True)


def _cubes(n, seed):
    from skcanon.groups import get_group
    from skcanon.layouts import PointLayout

    G = get_group("E3xS_n")
    X = np.repeat(CUBE.reshape(1, -1), n, axis=0)
    return np.asarray(G.apply(G.sample(n, seed, n_points=8), X, PointLayout(3)))


def equivariant_regressor(seed, n_train, n_points):
    """``EquivariantRegressor(CanonicalizerTransformer("SE3xS_n", "random"), KNN)``."""
    from sklearn.neighbors import KNeighborsRegressor

    from skcanon import CanonicalizerTransformer
    from skcanon._regressor import EquivariantRegressor

    P = _clouds(n_train, n_points, seed + 100)
    model = EquivariantRegressor(CanonicalizerTransformer("SE3xS_n", "random", random_state=seed),
                                 KNeighborsRegressor(3))
    return model.fit(P.reshape(n_train, -1), _target(P).reshape(n_train, -1))


def end_to_end_regressor(seed, n_train, n_points):
    """``EndToEndEquivariantRegressor`` with the learned frame and the message-passing backbone
    under E(3) (so its stand-in is ``pca+sort`` of E3xS_n), trained for 2 epochs."""
    from skcanon import EndToEndEquivariantRegressor
    from skcanon.layouts import PointLayout

    P = _clouds(n_train, n_points, seed + 100).astype(np.float32)
    model = EndToEndEquivariantRegressor(
        module__group="E3", module__layout=PointLayout(3), module__target_kind="position",
        module__frame="learned", module__backbone="message_passing", max_epochs=2,
        random_state=seed, verbose=0)
    return model.fit(P.reshape(n_train, -1), _target(P).reshape(n_train, -1))


MODELS = {
    "EquivariantRegressor, random SE3xS_n": equivariant_regressor,
    "EndToEndEquivariantRegressor, learned frame E3 (message passing)": end_to_end_regressor,
}


def _paired_times(model, X, repeats):
    """Median predict time with and without the stand-in, timed alternately."""
    bare = copy.deepcopy(model)
    del bare.stabilizer_canonicalizer_
    model.predict(X[:8]), bare.predict(X[:8])           # warm-up (lazy imports, caches)
    with_, without = [], []
    for _ in range(repeats):
        for m, store in ((model, with_), (bare, without)):
            t0 = time.perf_counter()
            m.predict(X)
            store.append(time.perf_counter() - t0)
    return float(np.median(with_)), float(np.median(without))


def run(quick=False, seeds=SEEDS):
    n_train, n_generic, n_points, n_cubes, repeats = (
        (100, 200, 16, 4, 2) if quick else (500, 2_000, 32, 40, 5))
    rows = []
    for name, build in MODELS.items():
        ratios, per_cube = [], []
        for seed in seeds:
            model = build(seed, n_train, n_points)
            X = _clouds(n_generic, n_points, seed).reshape(n_generic, -1)
            w, wo = _paired_times(model, X.astype(np.float32), repeats)
            ratios.append(w / wo)
            if name.startswith("EquivariantRegressor"):     # cubes need 8 points: a model of its own
                cube_model = build(seed, n_train, 8)
                w, wo = _paired_times(cube_model, _cubes(n_cubes, seed), repeats)
                per_cube.append((w - wo) / n_cubes)
        rows.append({"model": name, "generic_clouds": n_generic, "points": n_points,
                     "ratio_mean": float(np.mean(ratios)), "ratio_sd": float(np.std(ratios, ddof=1))
                     if len(ratios) > 1 else 0.0, "ratios": [round(r, 3) for r in ratios],
                     "cubes": n_cubes if per_cube else None,
                     "extra_ms_per_cube": float(np.mean(per_cube)) * 1e3 if per_cube else None,
                     "extra_ms_per_cube_sd": float(np.std(per_cube, ddof=1)) * 1e3
                     if len(per_cube) > 1 else None})
    return rows


def table(rows, seeds):
    lines = [f"| model | generic clouds × points | predict time with / without, mean ± sd over "
             f"{len(seeds)} seeds | per seed | extra ms per symmetric cube (E3xS_n) |",
             "|---|---|---|---|---|"]
    for r in rows:
        cube = "—" if r["extra_ms_per_cube"] is None else (
            f"{r['extra_ms_per_cube']:.1f}" + (f" ± {r['extra_ms_per_cube_sd']:.1f}"
                                               if r["extra_ms_per_cube_sd"] is not None else "")
            + f" ({r['cubes']} cubes)")
        lines.append(f"| {r['model']} | {r['generic_clouds']:,} × {r['points']} | "
                     f"{r['ratio_mean']:.2f} ± {r['ratio_sd']:.2f} | "
                     f"{', '.join(f'{x:.2f}' for x in r['ratios'])} | {cube} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one seed (a smoke run)")
    args = parser.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    seeds = SEEDS[:1] if args.quick else SEEDS
    with threadpool_limits(1):
        rows = run(quick=args.quick, seeds=seeds)
    print(table(rows, seeds))
    print(json.dumps({"benchmark": "stabilizer_averaging", "quick": args.quick, "seeds": list(seeds),
                      "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
