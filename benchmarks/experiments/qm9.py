"""QM9 (E(3)×S_n, invariant target): the HOMO–LUMO gap from atoms."""

from __future__ import annotations

import numpy as np

from ._common import (Quiet, bar, compare, markdown_table, n_seeds_of, pool_seeds, result_row, rows_of,
                      setup_torch, timed)

# the full table trains with the documented default budget (max_epochs="auto"); the quick
# run, a smoke test, caps it
QM9_SIZES = {"full": dict(n=20000, n_test=2000, learned_epochs="auto", n_inv=200, max_iter=300),
             "quick": dict(n=1500, n_test=500, learned_epochs=3, n_inv=60, max_iter=100)}
QM9_ABSENT = -99.0  # value given to the coordinates of absent atoms, far outside the data
LEARNED = "learned canonicalization (supervised)"
PCA_SORT = "PCA + sort canonicalization"
RAW = "raw padded coordinates"


def _auto_epochs(n_train):
    """Epochs of the default budget for ``n_train`` molecules (the default validation share
    held out, as the trainer does)."""
    from skcanon._learning_options import LEARNING_OPTIONS
    from skcanon._training import training_budget

    # skorch's ValidSplit holds out ceil(fraction * n), as the trainer plans
    held_out = int(np.ceil(LEARNING_OPTIONS["validation_fraction"].default * n_train))
    return training_budget(n_train - held_out)[1]


def _absent_to_sentinel(F):
    return np.where(np.isnan(F), QM9_ABSENT, F)


def _qm9_regressor(size, seed):
    """The one downstream model of the QM9 table. Absent atoms (NaN) become a constant far
    outside the data before the trees see them: scikit-learn 1.9's
    HistGradientBoostingRegressor accepts NaN but fails on a column that is NaN in every
    training sample (the 29th atom slot of a small subset)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    return make_pipeline(FunctionTransformer(_absent_to_sentinel),
                         HistGradientBoostingRegressor(max_iter=size["max_iter"], learning_rate=0.1,
                                                       random_state=seed))


def run(quick=False, seed=0, target="gap"):
    """QM9 HOMO–LUMO gap from atoms (E(3)×S_n-invariant target), one gradient-boosting
    regressor (accepts NaN for absent atoms) on raw, canonical and projected inputs."""
    setup_torch()
    from sklearn.pipeline import make_pipeline

    from skcanon import CanonicalizerTransformer, InvariantProjector
    from skcanon.datasets import load_qm9
    from skcanon.metrics import invariance_error

    size = QM9_SIZES["quick" if quick else "full"]
    table = "qm9"
    try:
        b = load_qm9(size["n"], target=target, random_state=seed, shuffle=True)
    except (ImportError, FileNotFoundError) as exc:
        return [result_row("qm9", table, "(data missing)", "MAE (eV)", float("nan"), None, 0, 0,
                           note=str(exc).splitlines()[0])]
    X, y, layout = b.data, b.target * 27.2114, b.layout  # Hartree → eV
    n_test = size["n_test"]
    Xtr, ytr, Xte, yte = X[:-n_test], y[:-n_test], X[-n_test:], y[-n_test:]
    Xi = Xte[: size["n_inv"]]

    steps = {
        "raw padded coordinates": None,
        "PCA + sort canonicalization": CanonicalizerTransformer("E3xS_n", "pca+sort", layout=layout),
        "random canonicalization": CanonicalizerTransformer("E3xS_n", "random", layout=layout,
                                                            random_state=seed, device="cpu"),
        "learned canonicalization (supervised)": CanonicalizerTransformer(
            "E3xS_n", "learned", layout=layout, objective="supervised", max_epochs=size["learned_epochs"],
            random_state=seed, device="cpu"),
        # projections read the NaN-padded molecules directly: features that involve an
        # absent atom are 0, the others are exactly invariant
        "InvariantProjector: sorted distances (E3xS_n)": InvariantProjector("E3xS_n", "sorted_distances",
                                                                            layout=layout),
        "InvariantProjector: distances (E3 only, file order)": InvariantProjector("E3", "distances",
                                                                                  layout=layout),
        "InvariantProjector: Gram (E3 only, file order)": InvariantProjector("E3", "gram", layout=layout),
    }
    rows = []
    with Quiet():
        for name, step in steps.items():
            reg = _qm9_regressor(size, seed)
            try:
                model = reg if step is None else make_pipeline(step, reg)
                _, fs = timed(model.fit, Xtr, ytr)
                ts = timed(step.transform, Xte)[1] if step is not None else 0.0
                mae = float(np.mean(np.abs(model.predict(Xte) - yte)))
                inv = invariance_error(model.predict, Xi, "E3xS_n", n_trials=2, random_state=seed,
                                       layout=layout).median
                rows.append(result_row("qm9", table, name, "MAE (eV)", mae, inv, fs, ts))
            except Exception as exc:  # reported on the page, never hidden
                rows.append(result_row("qm9", table, name, "MAE (eV)", float("nan"), None, 0, 0,
                                       note=f"failed: {type(exc).__name__}: {str(exc)[:200]}"))
    _set_targets(rows)
    return rows


def _set_targets(rows):
    """Learned beats PCA+sort (lower MAE), on one seed's rows or on the means over seeds."""
    r = rows_of(rows, "qm9")
    learned = r.get(LEARNED)
    if learned is not None and np.isfinite(learned["score"]) and PCA_SORT in r:
        learned["target"] = "met" if learned["score"] < r[PCA_SORT]["score"] else "missed"


def section(rows, quick, fig_dir):
    """The Markdown of this experiment on the results page (figures go to ``fig_dir``)."""
    out = []
    s = QM9_SIZES["quick" if quick else "full"]
    seeded, rows = rows, pool_seeds(rows)
    _set_targets(rows)
    n_seeds = n_seeds_of(rows)
    bar(rows, fig_dir / "qm9.png", "QM9 HOMO-LUMO gap: test MAE (eV)"
        + (f" (mean of {n_seeds} seeds)" if n_seeds > 1 else ""), "MAE", "lower")
    out += [
        "## QM9 (E(3)×S_n, invariant target)",
        "",
        f"HOMO–LUMO gap (eV) of {s['n'] - s['n_test']:,} training / {s['n_test']:,} test "
        "molecules drawn at random from QM9 (`load_qm9(shuffle=True)`), atoms as NaN-padded "
        "point sets (position + atomic number, 29 rows). Same regressor in every row: "
        f"`HistGradientBoostingRegressor(max_iter={s['max_iter']})`, after the same step that "
        f"sets the NaN coordinates of absent atoms to {QM9_ABSENT:g} (a value the trees split off "
        "like a missing value; scikit-learn 1.9's gradient boosting fails on columns that are NaN "
        "in every training sample). `InvariantProjector` reads the NaN-padded molecules directly: "
        "features that involve an absent atom are 0, the others are "
        "exactly invariant. The learned canonicalizer is trained with the "
        + (f"`supervised` objective on the gap for {s['learned_epochs']} epochs. "
           if s["learned_epochs"] != "auto" else
           "`supervised` objective on the gap, every other parameter at its default (the "
           f"automatic budget: {_auto_epochs(s['n'] - s['n_test'])} epochs at this size, early "
           "stopping on the held-out loss). ")
        + "The `E3 only` "
        "rows use QM9's file order of atoms, so they are not permutation-invariant (their "
        "invariance error is measured under E(3)×S_n like every row). Target: learned "
        "canonicalization beats PCA+sort"
        + (f", on the means over {n_seeds} seeds (a seed draws the molecules, the split, the "
           "networks' initial weights and the regressor's randomness)." if n_seeds > 1 else "."),
        "",
        markdown_table(rows),
        "",
        "![qm9](_static/results/qm9.png)",
        "",
    ]
    r = rows_of(rows, "qm9")
    raw = r.get("raw padded coordinates")
    finite = [k for k in r if np.isfinite(r[k]["score"])]
    worse = [k for k in finite if raw is not None and "canonicalization" in k
             and r[k]["score"] > raw["score"]]
    if finite:
        best = min(finite, key=lambda k: r[k]["score"])
        out += [f"Best row: {best} (MAE {r[best]['score']:.3f} eV)."]
    for against, label in ((PCA_SORT, "PCA + sort"), (RAW, "raw padded coordinates")):
        c = compare(seeded, "qm9", LEARNED, (against,), lower_is_better=True)
        if c is not None and c["by_1sd"] is not None:
            out += [f"Learned against {label}: MAE {'lower' if c['diff'] > 0 else 'higher'} by "
                    f"{abs(c['diff']):.3f} eV on the means ({'more' if abs(c['diff']) > c['sd'] else 'less'} "
                    f"than one sd, {c['sd']:.3f}), lower in {c['wins']} seeds."]
    if worse:
        out += [f"Raw padded coordinates (MAE {raw['score']:.3f} eV) beat "
                + ", ".join(worse) + ": QM9 stores each molecule in a fixed conventional pose "
                "and atom order shared by train and test, which the raw model exploits; its "
                f"invariance error ({raw['invariance_error']:.2f}) shows that it breaks as soon "
                "as a molecule is moved or its atoms re-listed. A tree model on canonical "
                "coordinates must still learn geometry from coordinates, while pairwise "
                "distances give it the geometry directly."]
    out += [""]
    return "\n".join(out)
