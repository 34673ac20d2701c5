"""Learned, anchored, a heuristic or a projector: accuracy of a random forest after each step.

The table of ``docs/learned.md`` ("Learned, anchored, a heuristic or a projector?"), from the
code as it ships, with the **documented defaults**::

    python benchmarks/bench_learned_vs_heuristics.py           # 600 samples, seeds 0, 1, 2
    python benchmarks/bench_learned_vs_heuristics.py --quick   # 200 samples, seed 0

Rows: ``CanonicalizerTransformer("SE3xS_n", method, random_state=seed, device="cpu",
fill_value=0.0)`` for ``method`` in ``pca+sort``, ``random``, ``learned``, ``anchored``
(every other option at its default: ``objective="auto"`` → supervised, ``max_epochs="auto"``,
``key_order="scalars_first"``, ``n_jobs=None`` → one thread) and
``InvariantProjector("E3xS_n", "sorted_distances")``, each followed by
``RandomForestClassifier(200, random_state=seed)``.

Data (one column each):

* point shapes — ``make_point_shapes(n_samples=n, n_points=16, random_state=seed)``: 13 shape
  classes, each sample already in a random SE(3) pose with its points shuffled;
* QM9 gap terciles — ``load_qm9(n, shuffle=True, random_state=seed)`` (``n`` random
  molecules, positions + atomic number as a scalar field, the layout of ``load_qm9``;
  absent atoms are NaN rows), classes = terciles of the HOMO–LUMO gap of those molecules.
  ``load_qm9`` returns coordinates as stored in QM9, so every molecule is put in a random
  E(3) pose with its 29 atom rows (absent rows included) shuffled here
  (``E3xS_n.apply``, seed ``seed + 1000``). Skipped when ``qm9pack`` is not installed.

Each seed: a stratified held-out third (``train_test_split(test_size=1/3, stratify=y,
random_state=seed)``); the step is fitted on the training part only. Reported: held-out
accuracy, mean ± sd (sample sd, ``ddof=1``) over the seeds, and the wall time of the step's ``fit``
(the canonicalizer's training; the forest is the same for every row and not included),
mean over seeds; the JSON line also lists the epochs each network trained (early
stopping may end before the planned budget). ``torch.set_num_threads(1)``; a warm-up fit runs first so torch's
first-call costs are not part of a row.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

METHODS = ("pca+sort", "random", "learned", "anchored")
PROJECTOR = "projector"
LABELS = {"pca+sort": "`pca+sort` (heuristic)", "random": "`random` (frozen network)",
          "learned": "`learned`", "anchored": "`anchored`",
          PROJECTOR: '`InvariantProjector("E3xS_n", "sorted_distances")`'}
DATASETS = ("shapes", "qm9")
TITLES = {"shapes": "point shapes", "qm9": "QM9 gap terciles"}


def point_shapes(n, seed):
    """``(X, y, layout)``: ``make_point_shapes(n_samples=n, n_points=16, random_state=seed)``."""
    from skcanon.datasets import make_point_shapes

    X, y = make_point_shapes(n_samples=n, n_points=16, random_state=seed, return_X_y=True)
    return X, y, None


def qm9_terciles(n, seed):
    """``(X, y, layout)``: ``n`` random QM9 molecules in random E(3)×S_n poses, y = gap tercile."""
    from skcanon.datasets import load_qm9
    from skcanon.groups import get_group

    b = load_qm9(n, random_state=seed, shuffle=True)
    G = get_group("E3xS_n")
    n_atoms = b.data.shape[1] // 4
    X = G.apply(G.sample(len(b.data), random_state=seed + 1000, n_points=n_atoms), b.data, b.layout)
    gap = np.asarray(b.target, dtype=np.float64)
    y = np.digitize(gap, np.quantile(gap, [1 / 3, 2 / 3]))
    return X, y, b.layout


def qm9_available():
    import importlib.util

    return importlib.util.find_spec("qm9pack") is not None


def make_step(method, layout, seed):
    from skcanon import CanonicalizerTransformer, InvariantProjector

    kw = {} if layout is None else {"layout": layout}
    if method == PROJECTOR:
        return InvariantProjector("E3xS_n", "sorted_distances", **kw)
    return CanonicalizerTransformer("SE3xS_n", method, random_state=seed, device="cpu",
                                    fill_value=0.0, **kw)


def run_one(method, X, y, layout, seed, n_estimators):
    """Held-out accuracy, the step's fit seconds and epochs trained (networks) for one method,
    data set and seed."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=1 / 3, stratify=y, random_state=seed)
    step = make_step(method, layout, seed)
    t0 = time.perf_counter()
    step.fit(Xtr, ytr)
    fit_s = time.perf_counter() - t0
    epochs = getattr(getattr(step, "canonicalizer_", None), "n_epochs_trained_", None)
    Ztr, Zte = step.transform(Xtr), step.transform(Xte)
    if np.isnan(Ztr).any() or np.isnan(Zte).any():
        raise RuntimeError(f"{method}: NaN features left after the step")
    forest = RandomForestClassifier(n_estimators, random_state=seed).fit(Ztr, ytr)
    return float(forest.score(Zte, yte)), fit_s, epochs


def warm_up():
    """One tiny learned fit: imports and torch's first-call costs, outside every row."""
    from skcanon import CanonicalizerTransformer

    X, y, _ = point_shapes(32, 0)
    CanonicalizerTransformer("SE3xS_n", "learned", max_epochs=1, random_state=0,
                             device="cpu").fit(X, y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 200 samples (smoke test)")
    parser.add_argument("--n", type=int, default=None, help="samples per data set (default 600; quick 200)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1 2; quick 0)")
    parser.add_argument("--n-estimators", type=int, default=200, help="trees of the forest (default 200)")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    n = args.n if args.n is not None else (200 if args.quick else 600)
    seeds = args.seeds if args.seeds is not None else ([0] if args.quick else [0, 1, 2])
    datasets = [d for d in args.datasets if d != "qm9" or qm9_available()]
    skipped = [d for d in args.datasets if d not in datasets]
    loaders = {"shapes": point_shapes, "qm9": qm9_terciles}
    methods = (*METHODS, PROJECTOR)

    t_start = time.perf_counter()
    warm_up()
    acc = {(m, d): [] for m in methods for d in datasets}
    secs = {(m, d): [] for m in methods for d in datasets}
    epochs = {(m, d): [] for m in methods for d in datasets}
    for d in datasets:
        for seed in seeds:
            X, y, layout = loaders[d](n, seed)
            for m in methods:
                a, s, e = run_one(m, X, y, layout, seed, args.n_estimators)
                acc[m, d].append(a)
                secs[m, d].append(s)
                if e is not None:
                    epochs[m, d].append(int(e))
                print(f"# {d} seed {seed} {m}: accuracy {a:.3f}, fit {s:.1f} s, epochs {e}", file=sys.stderr,
                      flush=True)
    wall = time.perf_counter() - t_start

    def sd(v):
        return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0

    def cell(v):
        return f"{np.mean(v):.3f} ± {sd(v):.3f}"

    print(f"n={n} per data set, seeds {seeds}, held-out third, RandomForestClassifier({args.n_estimators}); "
          f"wall {wall:.0f} s" + (f"; skipped (data not installed): {', '.join(skipped)}" if skipped else ""))
    print()
    head = "| method | " + " | ".join(TITLES[d] for d in datasets) + " | " + \
        " | ".join(f"fit s ({TITLES[d]})" for d in datasets) + " |"
    print(head)
    print("|---" * (1 + 2 * len(datasets)) + "|")
    for m in methods:
        print(f"| {LABELS[m]} | " + " | ".join(cell(acc[m, d]) for d in datasets) + " | "
              + " | ".join(f"{np.mean(secs[m, d]):.2f}" for d in datasets) + " |")
    print(json.dumps({
        "bench": "learned_vs_heuristics", "group": "SE3xS_n", "n_samples": n, "seeds": seeds,
        "n_estimators": args.n_estimators, "test_size": "1/3", "threads": 1,
        "wall_s": round(wall, 1), "skipped": skipped,
        "rows": [{"method": m, "data": d, "accuracy": [round(a, 4) for a in acc[m, d]],
                  "mean": round(float(np.mean(acc[m, d])), 4), "sd": round(sd(acc[m, d]), 4),
                  "fit_s": round(float(np.mean(secs[m, d])), 2), "epochs_trained": epochs[m, d] or None}
                 for m in methods for d in datasets]}))


if __name__ == "__main__":
    main()
