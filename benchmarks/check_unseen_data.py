"""Learned canonicalization against the heuristics on targets and images the tables never used.

docs/learned.md's advice on when to pick ``learned``, ``anchored``, a heuristic or a
projector was drawn from the results page (QM9's HOMO–LUMO gap and ring classes, generated
point shapes, n-body, 28×28 MNIST and Fashion-MNIST). This script checks it, with every
estimator at its documented defaults, on data none of those choices was tuned on:

* QM9, two other targets (dipole moment ``mu`` in Debye, heat capacity ``Cv`` in cal/mol K):
  3,000 training and 1,000 test molecules per seed, each in a random E(3) pose with its atoms
  shuffled; ``HistGradientBoostingRegressor(random_state=seed)`` after each step; MAE.
* scikit-learn's 8×8 digits (1,797 images, scaled to [0, 1]), a stratified 70/30 split per
  seed; every image turned by a random angle (``scipy.ndimage.rotate``, linear, group SO2) or
  by a random multiple of 90° (exact, group C4); the results page's image classifier
  (``MLPClassifier((128,), early_stopping=True, max_iter=50)``); accuracy. Two settings: the
  classifier and canonicalizer see rotated training images with their labels (networks:
  their default objective, supervised), or upright training images without labels for the
  networks (``objective="prior"``, as docs/learned.md says for that case) while the test
  images are rotated.

Every seed draws the data, split, poses, networks' initial weights and downstream model.

Run (about 30 minutes on 2 CPU cores)::

    python benchmarks/check_unseen_data.py            # 5 seeds, every study
    python benchmarks/check_unseen_data.py --quick    # small sizes, one seed (a minute)

Prints the tables (means ± sd over seeds, ddof=1; ``fit s``: the step's fit plus the
transform of the training and test sets; for ``learned`` and ``anchored``, the paired
difference from the study's heuristic — ``pca+sort`` on QM9, ``moments`` on the digits —
with the seeds they win) and one JSON line per row, and saves them to
``docs/_static/results/check_unseen_data.txt`` unless ``--no-write`` or ``--quick``. Runs
with ``SKCANON_NUMBA=0`` unless the environment sets it (as ``reproduce.py``): the numbers do
not depend on how many samples the process handled before.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("SKCANON_NUMBA", "0")

import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "_static" / "results" / "check_unseen_data.txt"
SIZES = {"full": dict(qm9_train=3000, qm9_test=1000, digits=None, seeds=(0, 1, 2, 3, 4)),
         "quick": dict(qm9_train=150, qm9_test=50, digits=300, seeds=(0,))}
#: the heuristic each study's learned row is compared with
HEURISTIC = {"qm9": "pca+sort", "digits": "moments"}


def _net_options(seed):
    return dict(random_state=seed, device="cpu")


def _epochs(step):
    inner = getattr(step, "canonicalizer_", None)
    return getattr(inner, "n_epochs_trained_", None)


def qm9_rows(target, seed, n_train, n_test):
    """One seed of the QM9 study for ``target``: a row per step (MAE, seconds of the step's
    fit and transforms)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    from skcanon import CanonicalizerTransformer, InvariantProjector
    from skcanon.datasets import load_qm9
    from skcanon.groups import get_group

    b = load_qm9(n_train + n_test, target=target, random_state=seed, shuffle=True)
    group, layout = get_group("E3xS_n"), b.layout
    poses = group.sample(len(b.data), random_state=seed + 1000, n_points=b.data.shape[1] // layout.width)
    X, y = group.apply(poses, b.data, layout), np.asarray(b.target, dtype=np.float64)
    Xtr, ytr, Xte, yte = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    # fill_value: NaN-free features (absent atoms) for the trees, as docs/learned.md's runs
    canon = dict(layout=layout, fill_value=0.0)
    steps = {
        "raw (posed, shuffled atoms)": None,
        "pca+sort": CanonicalizerTransformer("E3xS_n", "pca+sort", **canon),
        "random": CanonicalizerTransformer("E3xS_n", "random", **canon, **_net_options(seed)),
        "learned": CanonicalizerTransformer("E3xS_n", "learned", **canon, **_net_options(seed)),
        "anchored": CanonicalizerTransformer("E3xS_n", "anchored", **canon, **_net_options(seed)),
        "InvariantProjector sorted_distances": InvariantProjector("E3xS_n", "sorted_distances",
                                                                  layout=layout),
    }
    rows = []
    for method, step in steps.items():
        t = time.perf_counter()
        Ftr, Fte = (Xtr, Xte) if step is None else (step.fit(Xtr, ytr).transform(Xtr), step.transform(Xte))
        fit_s = time.perf_counter() - t
        reg = HistGradientBoostingRegressor(random_state=seed).fit(Ftr, ytr)
        units = b.target_units if isinstance(b.target_units, str) else ", ".join(b.target_units)
        rows.append(dict(study="qm9", table=f"QM9 {target} (MAE, {units})", setting="", method=method,
                         seed=seed, score=float(np.mean(np.abs(reg.predict(Fte) - yte))),
                         fit_s=round(fit_s, 2), epochs=None if step is None else _epochs(step)))
    return rows


def _rotated_digits(X, group, rng):
    from scipy.ndimage import rotate

    images = X.reshape(-1, 8, 8)
    if group == "SO2":
        angles = rng.uniform(0, 360, len(X))
        out = [rotate(im, a, reshape=False, order=1) for im, a in zip(images, angles)]
    else:
        out = [np.rot90(im, k) for im, k in zip(images, rng.integers(0, 4, len(X)))]
    return np.stack(out).reshape(len(X), 64)


def digits_rows(group, seed, n=None):
    """One seed of the 8×8 digits study under ``group`` ("SO2" or "C4"), both settings."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    from skcanon import CanonicalizerTransformer

    X, y = load_digits(return_X_y=True)
    X = X[:n] / 16.0
    y = y[:n]
    tr, te = train_test_split(np.arange(len(X)), test_size=0.3, stratify=y, random_state=seed)
    R = _rotated_digits(X, group, np.random.default_rng(seed))

    def make(method, objective=None):
        if method is None:
            return None
        options = {} if method == "moments" else _net_options(seed)
        if objective is not None:
            options["objective"] = objective
        return CanonicalizerTransformer(group, method, layout="image", **options)

    cases = [("upright (ceiling)", "upright", None, X[tr], X[te], None)]
    for method in (None, "moments", "random", "learned", "anchored"):
        cases.append(("rotated training", method or "raw", method, R[tr], R[te], None))
    for method in (None, "moments", "random", "learned", "anchored"):
        objective = "prior" if method in ("learned", "anchored") else None
        cases.append(("upright training", method or "raw", method, X[tr], R[te], objective))
    rows = []
    for setting, name, method, fit_images, test_images, objective in cases:
        step = make(method, objective)
        t = time.perf_counter()
        if step is not None:
            step.fit(fit_images, None if objective == "prior" else y[tr])
            fit_images, test_images = step.transform(fit_images), step.transform(test_images)
        fit_s = time.perf_counter() - t
        clf = MLPClassifier(hidden_layer_sizes=(128,), alpha=1e-4, max_iter=50, early_stopping=True,
                            n_iter_no_change=8, random_state=seed).fit(fit_images, y[tr])
        label = name + (f" (objective={objective!r})" if objective else "")
        rows.append(dict(study="digits", table=f"8x8 digits, {group} (accuracy)", setting=setting,
                         method=label,
                         seed=seed, score=float(np.mean(clf.predict(test_images) == y[te])),
                         fit_s=round(fit_s, 2), epochs=None if step is None else _epochs(step)))
    return rows


def _mean_sd(values):
    values = np.asarray(values, dtype=float)
    return values.mean(), (values.std(ddof=1) if len(values) > 1 else float("nan"))


def summarize(rows):
    """Markdown tables: per table and setting, each method's mean ± sd and mean fit seconds;
    the learned rows' paired difference from the study's heuristic and their wins."""
    lines = []
    for table in dict.fromkeys(r["table"] for r in rows):
        part = [r for r in rows if r["table"] == table]
        lower = part[0]["study"] == "qm9"     # MAE: lower is better
        lines += ["", f"### {table}", "",
                  "| setting | method | mean ± sd | seeds | fit s | vs heuristic (paired) |",
                  "|---|---|---|---|---|---|"]
        for setting in dict.fromkeys(r["setting"] for r in part):
            here = [r for r in part if r["setting"] == setting]
            base = {r["seed"]: r["score"] for r in here if r["method"] == HEURISTIC[r["study"]]}
            for method in dict.fromkeys(r["method"] for r in here):
                got = [r for r in here if r["method"] == method]
                mean, sd = _mean_sd([r["score"] for r in got])
                paired = ""
                if base and method.split(" (")[0] in ("learned", "anchored"):
                    diffs = [r["score"] - base[r["seed"]] for r in got if r["seed"] in base]
                    d_mean, d_sd = _mean_sd(diffs)
                    wins = sum((d < 0) if lower else (d > 0) for d in diffs)
                    paired = f"{d_mean:+.3f} ± {d_sd:.3f}, ahead in {wins}/{len(diffs)}"
                fit = np.mean([r["fit_s"] for r in got])
                lines.append(f"| {setting} | {method} | {mean:.3f} ± {sd:.3f} | {len(got)} | {fit:.1f} "
                             f"| {paired} |")
    return "\n".join(lines)


def run(quick=False, seeds=None):
    size = SIZES["quick" if quick else "full"]
    rows = []
    for seed in size["seeds"] if seeds is None else seeds:
        with warnings.catch_warnings():
            # expected notices: interpolated rotations under SO2, capped MLP training
            warnings.simplefilter("ignore")
            for target in ("mu", "Cv"):
                rows += qm9_rows(target, seed, size["qm9_train"], size["qm9_test"])
            for group in ("SO2", "C4"):
                rows += digits_rows(group, seed, size["digits"])
        print(f"seed {seed} done", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one seed; nothing saved")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1,2,3,4)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    seeds = None if args.seeds is None else [int(s) for s in args.seeds.split(",")]
    rows = run(quick=args.quick, seeds=seeds)
    text = summarize(rows) + "\n\n" + "\n".join(json.dumps(r) for r in rows) + "\n"
    print(text)
    if not (args.no_write or args.quick):
        command = "python benchmarks/check_unseen_data.py" + ("" if seeds is None
                                                              else " --seeds " + args.seeds)
        OUT.write_text(f"# {command}\n" + text)
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
