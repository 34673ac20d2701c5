"""3-D point shapes (E(3)×S_n, classification): the 13 classes of
:func:`skcanon.datasets.make_point_shapes` (eight Tetris polycubes, five noisy primitive
surfaces), each cloud in a random E(3) pose (rotation, reflection, translation) with its points
shuffled, and every row of the table one skcanon step followed by the same random forest.

The data carry positions only (no scalar fields). Under E(3) the mirror pair ``chiral_1`` /
``chiral_2`` is one shape up to symmetry, so an invariant model can at best guess between the
two: the attainable accuracy is 1 − 1/13 ≈ 0.923 (:func:`ceiling`).

A second table (Kaba et al.'s setting for classification) keeps the data and replaces the
forest by one torch model in every row: :class:`~skcanon.EndToEndEquivariantClassifier` with
the message-passing backbone and one training recipe (:data:`E2E_RECIPE`, chosen on validation
data for the learned row), the frame chosen per row — learned jointly with the backbone,
anchored (the PCA frame times a residual rotation learned jointly), the
``pca`` canonicalizer in front (``module__frame="identity"`` behind it), augmentation, or the
raw poses.
"""

from __future__ import annotations

import numpy as np

from ._common import (VERDICT_COLUMNS, bar, best_heuristic, by_seed, classification_rows, fmt, markdown_table,
                      n_seeds_of, pool_seeds, rows_of, set_heuristic_verdicts, setup_torch)

TABLE = "point-shapes"
GROUP = "E3xS_n"
SIZES = {"full": dict(n_train=2000, n_test=1000, n_points=32, n_estimators=300, n_inv=150),
         "quick": dict(n_train=260, n_test=130, n_points=16, n_estimators=100, n_inv=40)}

RAW = "raw coordinates"
PCA_SORT = "pca+sort (defaults)"
RANDOM = "random (frozen network)"
LEARNED = "learned (supervised, defaults)"
ANCHORED = "anchored (supervised, defaults)"
PROJECTOR = "InvariantProjector: sorted distances (E3xS_n)"
#: the predefined heuristics the learned rows are compared with. ``pca+sort`` with
#: ``key_order="columns"`` is not a row: without scalar fields both key orders sort on
#: (x, y, z) and give the same canonical forms (tested in tests/test_shapes_experiment.py).
HEURISTICS = (PCA_SORT,)
#: the end-to-end table: same data, one torch classifier per row, the frame differs
TABLE_E2E = "point-shapes-end-to-end"
E2E_LEARNED = "learned frame (end to end)"
E2E_ANCHORED = "anchored frame (PCA + learned residual, end to end)"
E2E_PCA = "PCA frame (pca canonicalizer in front)"
E2E_AUG = "data augmentation (random E(3) move per sample and step)"
E2E_NONE = "none (identity, raw poses)"
#: the rows of both tables (``reproduce.py --methods`` runs a subset)
METHODS = (RAW, PCA_SORT, RANDOM, LEARNED, ANCHORED, PROJECTOR, E2E_LEARNED, E2E_ANCHORED, E2E_PCA, E2E_AUG,
           E2E_NONE)
#: The training recipe of every end-to-end row, chosen for the learned row on validation data
#: only (make_point_shapes seeds 100+, 2,000 train / 1,000 validation clouds; never the
#: clouds of the table): Adam, cosine learning-rate decay over the epochs, no early stopping.
E2E_RECIPE = dict(width=32, layers=3, frame_hidden=32, lr=3e-3, batch_size=32)
E2E_EPOCHS = {"full": 25, "quick": 2}
#: the validation runs the recipe was chosen from (learned row, seed 100; :func:`validate_e2e`);
#: 25 epochs is the most the time budget of the table allowed (about 2 min per fit on one core),
#: width 64 was tried at the same cost (12 epochs)
E2E_VALIDATION = [
    dict(lr=1e-3, width=32, batch_size=32, epochs=25, valid_accuracy=0.733),
    dict(lr=3e-3, width=32, batch_size=32, epochs=25, valid_accuracy=0.791),
    dict(lr=1e-2, width=32, batch_size=32, epochs=25, valid_accuracy=0.761),
    dict(lr=3e-3, width=64, batch_size=32, epochs=12, valid_accuracy=0.739),
]
#: measurements on the validation data after the table was run (not used to choose anything;
#: :func:`validate_e2e`, and the PCA row as in the table; seed 100 unless a string names others)
E2E_DIAGNOSTICS = [
    "with the table's recipe (25 epochs) learned 0.791, PCA frame 0.858, raw poses 0.698, the same "
    "ordering as on the test clouds",
    "with twice the epochs (50) learned 0.813 (training loss 0.206) and PCA frame 0.866 (0.155): the gap "
    "narrows from 0.067 to 0.053 but stays, so the miss is not only the time budget (one validation seed)",
    "training-recipe levers for the learned frame (seed 100, 25 epochs, everything else as in the table; "
    "learned 0.791 and PCA frame 0.858 with the table's recipe): frame network at 0.1× the learning rate 0.789, "
    "at 0.3× 0.785; frame frozen for the first 5 epochs 0.797, for the first 10 0.789; frame trained for the "
    "first 5 epochs and then frozen 0.802, for the first 10 0.794; frame network of width 64 0.765; frame never "
    "trained (frozen at its random initialisation) 0.774. Learning the frame adds about 0.02 over a frozen "
    "random one, and no lever closes more than 0.011 of the 0.067 gap",
    "on seeds 101 and 102 the table's recipe gives learned 0.748 and 0.738 against PCA frame 0.817 and 0.838 "
    "(last-epoch training loss 0.52 and 0.53 against 0.22 and 0.30); the best lever of seed 100 (frame trained "
    "for 5 epochs, then frozen) gives 0.737 and 0.742. Means over seeds 100–102: learned 0.759, that lever "
    "0.760, PCA frame 0.838, so no recipe lever tried brings the learned frame up to the PCA frame",
    "power iteration (the frame network's output vectors multiplied k times by the cloud's normalized "
    "second-moment matrix before Gram–Schmidt) raised the learned row on seeds 100–102 to 0.796 (k=3), "
    "0.822 (k=6) and 0.827 (k=12) against PCA frame 0.838, but not by learning: the products collapse the "
    "vectors onto the top principal axis, so on 600 validation clouds (network at its initial weights) "
    "32% (k=3), 82% (k=6) and 100% (k=12) of the frames counted as degenerate and took their remaining "
    "axes from the PCA tie rules. Not shipped",
    "every entry above was measured with the frame network's output vectors as its axes (the network "
    "before moment axes). Axes from a learned weighted second-moment matrix (eigenvectors, weights "
    "1 + tanh of the network's per-point scores, signs from its output vectors; "
    "benchmarks/choose_e2e_frame_axes.py) gave 0.842, 0.819 and 0.803 on seeds 100–102 (mean 0.821 against "
    "0.759 for the output vectors and 0.838 for the PCA frame); they are the network's default since, and "
    "the table's learned rows were rerun with them",
]
#: the mirror pair an E(3)-invariant model cannot tell apart
MIRROR_PAIR = ("chiral_1", "chiral_2")


def ceiling(target_names):
    """The best accuracy an E(3)-invariant model can expect on balanced classes: the mirror
    pair counts as one class guessed at random."""
    names = list(target_names)
    pair = sum(name in MIRROR_PAIR for name in names)
    return 1.0 - (0.5 * pair / len(names) if pair == 2 else 0.0)


def _all_ceiling():
    from skcanon.datasets import PRIMITIVE_SHAPES, TETRIS_SHAPES

    return ceiling([*TETRIS_SHAPES, *PRIMITIVE_SHAPES])


def load_shapes(size, seed):
    """``(split, layout, target_names)``: ``n_train + n_test`` clouds of ``make_point_shapes``
    (all 13 classes, defaults otherwise) in random E(3) poses with shuffled points, split with
    the classes stratified."""
    from sklearn.model_selection import train_test_split

    from skcanon.datasets import make_point_shapes

    d = make_point_shapes(size["n_train"] + size["n_test"], n_points=size["n_points"], random_state=seed,
                          group="E3", permute=True)
    split = train_test_split(d.data, d.target, test_size=size["n_test"], random_state=seed, stratify=d.target)
    return split, d.layout, list(d.target_names)


def _forest(size, seed):
    from sklearn.ensemble import RandomForestClassifier

    return [RandomForestClassifier(n_estimators=size["n_estimators"], random_state=seed, n_jobs=1)]


def _steps(layout, seed):
    """``{row name: (None, skcanon step or None)}``: the documented defaults in every row."""
    from skcanon import CanonicalizerTransformer, InvariantProjector
    from skcanon.canonicalizers import METHODS

    steps = {
        RAW: (None, None),
        PCA_SORT: (None, CanonicalizerTransformer(GROUP, "pca+sort", layout=layout)),
        RANDOM: (None, CanonicalizerTransformer(GROUP, "random", layout=layout, random_state=seed, device="cpu")),
        LEARNED: (None, CanonicalizerTransformer(GROUP, "learned", layout=layout, objective="supervised",
                                                 random_state=seed, device="cpu")),
    }
    if "anchored" in METHODS:
        steps[ANCHORED] = (None, CanonicalizerTransformer(GROUP, "anchored", layout=layout,
                                                          objective="supervised", random_state=seed,
                                                          device="cpu"))
    steps[PROJECTOR] = (None, InvariantProjector(GROUP, "sorted_distances", layout=layout))
    return steps


def _e2e(frame, epochs, seed, width=None, lr=None, batch_size=None):
    """The classifier of every end-to-end row: the same module, optimizer, schedule and
    epochs (:data:`E2E_RECIPE`, which ``width``, ``lr``, ``batch_size`` override for
    :func:`validate_e2e` and the quick mode); only the frame differs."""
    import torch
    from skorch.callbacks import LRScheduler

    from skcanon import EndToEndEquivariantClassifier

    schedule = LRScheduler(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=epochs)
    return EndToEndEquivariantClassifier(
        module__group="E3", module__frame=frame, module__backbone="message_passing",
        module__backbone_hidden=width or E2E_RECIPE["width"], module__backbone_layers=E2E_RECIPE["layers"],
        module__hidden=E2E_RECIPE["frame_hidden"], max_epochs=epochs, lr=lr or E2E_RECIPE["lr"],
        batch_size=batch_size or E2E_RECIPE["batch_size"], callbacks=[("lr_schedule", schedule)],
        random_state=seed, device="cpu")


def _e2e_rows(split, layout, size, epochs, seed, width=None, methods=None):
    """One seed's rows of the end-to-end table (same recipe in every row): ``{row: (frame
    inside the network, skcanon step in front or None)}``; only those in ``methods`` when
    given."""
    from skcanon import CanonicalizerTransformer

    plan = {E2E_LEARNED: ("learned", None),
            E2E_ANCHORED: ("anchored", None),
            E2E_PCA: ("identity", CanonicalizerTransformer("E3", "pca", layout=layout)),
            E2E_AUG: ("augment", None),
            E2E_NONE: ("identity", None)}
    rows = []
    for name, (frame, step) in plan.items():
        if methods is not None and name not in methods:
            continue
        model = lambda frame=frame: [_e2e(frame, epochs, seed, width)]  # noqa: E731
        rows += classification_rows("shapes", TABLE_E2E, {name: (None, step)}, model, split, GROUP, layout,
                                    size["n_inv"], seed, extra=_e2e_details)
    for r in rows:
        r["epochs"] = epochs
    return rows


def validate_e2e(lr, width, batch_size, epochs, seed=100, frame="learned"):
    """Validation accuracy of one end-to-end recipe on clouds the tables never use
    (``make_point_shapes`` seed ``seed`` ≥ 100, 2,000 train / 1,000 validation clouds, 32
    points): how :data:`E2E_RECIPE` was chosen. From the repository root::

        PYTHONPATH=benchmarks python -c "from experiments.shapes import validate_e2e as v; \\
            print(v(3e-3, 32, 32, 25))"
    """
    if seed < 100:
        raise ValueError(f"seed must be >= 100 (seeds below are the tables' data); got {seed}.")
    setup_torch()
    size = dict(SIZES["full"], n_test=1000)
    (Xtr, Xva, ytr, yva), _, _ = load_shapes(size, seed)
    model = _e2e(frame, epochs, seed, width, lr=lr, batch_size=batch_size).fit(Xtr, ytr)
    return {"lr": lr, "width": width, "batch_size": batch_size, "epochs": epochs, "seed": seed,
            "valid_accuracy": float(np.mean(model.predict(Xva) == yva))}


def _e2e_details(model, Xte, yte):
    """Per-class test accuracy and the training loss (cross-entropy) of the last epoch."""
    pred = model.predict(Xte)
    net = model.steps[-1][1]
    return {"per_class_accuracy": [float(np.mean(pred[yte == k] == k)) for k in np.unique(yte)],
            "train_loss": float(net.history[-1, "train_loss"])}


def _details(model, Xte, yte):
    """Columns that explain a row: test accuracy per class and, for a trained network, its
    training run (epochs trained, the epoch whose weights were kept, that epoch's validation
    loss of the supervised head; chance is ln 13 ≈ 2.56)."""
    pred = model.predict(Xte)
    out = {"per_class_accuracy": [float(np.mean(pred[yte == k] == k)) for k in np.unique(yte)]}
    canon = getattr(model.steps[0][1], "canonicalizer_", None)
    history = getattr(canon, "history_", None)
    if history:
        best = int(canon.best_epoch_ or len(history))
        kept = next((h for h in history if int(h.get("epoch", -1)) == best), history[-1])
        out.update(epochs_trained=int(canon.n_epochs_trained_), best_epoch=best,
                   best_valid_loss=float(kept.get("valid_loss", float("nan"))))
    return out


def _set_targets(rows, per_seed):
    """Issue 13's target on the means: learned (pure) ≥ the best heuristic; the anchored row
    gets the same columns but no target (:func:`._common.set_heuristic_verdicts`). In the
    end-to-end table: learned (end to end) > the PCA frame with the same backbone."""
    set_heuristic_verdicts(rows, per_seed, TABLE, HEURISTICS, (LEARNED, ANCHORED), LEARNED)
    _set_e2e_targets(rows, per_seed)


def _set_e2e_targets(rows, per_seed):
    """``target``: learned (end to end) above the PCA frame on the means (strictly);
    ``vs_pca_frame`` (difference of the means), ``better_by_1_sd`` (by more than the larger
    of the two sds; ``"—"`` with one seed) and ``wins`` (seeds in which learned beat that
    seed's PCA frame). Nothing happens when the table is absent (records from before it)."""
    r = rows_of(rows, TABLE_E2E)
    learned, pca = r.get(E2E_LEARNED), r.get(E2E_PCA)
    if learned is None or pca is None or not (np.isfinite(learned["score"]) and np.isfinite(pca["score"])):
        return
    diff = learned["score"] - pca["score"]
    sd = max(learned.get("score_sd") or 0.0, pca.get("score_sd") or 0.0)
    learned["target"] = "met" if diff > 0 else "missed"
    # the anchored row (no target) gets the same comparison columns
    for name in (E2E_LEARNED, E2E_ANCHORED):
        row = r.get(name)
        if row is None or not np.isfinite(row["score"]):
            continue
        diff = row["score"] - pca["score"]
        sd = max(row.get("score_sd") or 0.0, pca.get("score_sd") or 0.0)
        row["vs_pca_frame"] = f"{diff:+.4f}"
        row["better_by_1_sd"] = "—" if len(per_seed) < 2 else "met" if diff > sd else "missed"
        won = sum(rows_of(seed_rows, TABLE_E2E)[name]["score"] > rows_of(seed_rows, TABLE_E2E)[E2E_PCA]["score"]
                  for seed_rows in per_seed if name in rows_of(seed_rows, TABLE_E2E))
        row["wins"] = f"{won}/{len(per_seed)}"


def run(quick=False, seed=0, methods=None):
    """Shape classes of 3-D point clouds in random E(3) poses with shuffled points, one seed;
    rows as :func:`._common.result_row` with that seed's targets. ``methods``: only those
    rows of :data:`METHODS` (``reproduce.py --methods``)."""
    setup_torch()
    size = SIZES["quick" if quick else "full"]
    split, layout, names = load_shapes(size, seed)
    steps = {k: v for k, v in _steps(layout, seed).items() if methods is None or k in methods}
    rows = classification_rows("shapes", TABLE, steps, lambda: _forest(size, seed), split,
                               GROUP, layout, size["n_inv"], seed, extra=_details)
    # after the forest rows, which therefore stay exactly as they were without this table
    rows += _e2e_rows(split, layout, size, E2E_EPOCHS["quick" if quick else "full"], seed,
                      width=8 if quick else None, methods=methods)
    for r in rows:
        r["n_train"], r["n_test"] = len(split[2]), len(split[3])
        r["n_points"] = size["n_points"]
        r["ceiling"] = ceiling(names)
        r["class_names"] = names
    _set_targets(rows, [rows])
    return rows


def section(rows, quick, fig_dir):
    """The Markdown of this experiment on the results page (figures go to ``fig_dir``)."""
    s = SIZES["quick" if quick else "full"]
    per_seed = list(by_seed(rows).values())
    for seed_rows in per_seed:
        # each seed's verdicts from its stored rows: rows rerun alone (--methods) carry none,
        # as the rows they are compared with were not in that run
        _set_targets(seed_rows, [seed_rows])
    # in the order of METHODS, whatever order the rows were stored in (--methods appends)
    rows = sorted(pool_seeds(rows), key=lambda x: METHODS.index(x["method"]) if x["method"] in METHODS
                  else len(METHODS))
    _set_targets(rows, per_seed)
    r = rows_of(rows, TABLE)
    first = rows[0]
    seeds = n_seeds_of(rows)
    e2e = [x for x in rows if x["table"] == TABLE_E2E]
    rows = [x for x in rows if x["table"] == TABLE]
    bar(rows, fig_dir / "shapes.png", "3-D point shapes (13 classes): test accuracy", "accuracy")
    out = [
        "## 3-D point shapes (E(3)×S_n, classification)",
        "",
        f"`make_point_shapes` with its 13 classes (eight Tetris polycubes, five noisy primitive "
        f"surfaces), {first.get('n_points', s['n_points'])} points per cloud, noise 0.05, "
        f"{first.get('n_train', s['n_train']):,} train / {first.get('n_test', s['n_test']):,} test clouds "
        "(balanced classes, stratified split), each cloud in a random E(3) pose (`group=\"E3\"`: "
        "rotation, reflection, translation) with its points shuffled. Positions only, no scalar "
        "fields. Under E(3) the mirror pair `chiral_1`/`chiral_2` is one shape, so an invariant "
        f"model can reach at most {fmt(first.get('ceiling', _all_ceiling()), 3)} "
        "accuracy in expectation (the pair guessed at random).",
        "",
        "Same classifier in every row: `RandomForestClassifier(n_estimators="
        f"{s['n_estimators']}, n_jobs=1)`. Rows: the raw (shuffled, posed) coordinates; `pca+sort` "
        "with its defaults (no `key_order=\"columns\"` row: without scalar fields both key orders "
        "sort on x, y, z and give the same canonical forms); the frozen `random` network; "
        "`learned` and `anchored` with `objective=\"supervised\"` and every other parameter at its "
        "default (`random_state=seed, device=\"cpu\"`); `InvariantProjector(\"E3xS_n\", "
        "\"sorted_distances\")`. Invariance error: `predict_proba` of the whole pipeline under "
        f"random E(3)×S_n moves of {s['n_inv']} test clouds."
        + (f" Every number is the mean over {seeds} seeds (a seed draws the clouds, their poses and "
           "point orders, the split, the networks' initial weights and the forest), ± the standard "
           "deviation across seeds (ddof=1); `wins` is the number of seeds in which the row beat "
           "that seed's `pca+sort`." if seeds > 1 else " One seed.")
        + " Target (issue 13), on the means: learned (pure) ≥ `pca+sort` (`target`), and better by "
        "more than one sd (the larger sd of the two rows; `better by 1 sd`). The anchored row gets "
        "the same columns but carries no target.",
        "",
        markdown_table(rows, extra_cols=tuple(c for c in VERDICT_COLUMNS if any(c in x for x in rows))),
        "",
        "![point shapes](_static/results/shapes.png)",
        "",
    ]
    finite = {k: v for k, v in r.items() if np.isfinite(v["score"])}
    if finite:
        ranking = sorted(finite, key=lambda k: -finite[k]["score"])
        out += ["Ranking: " + ", ".join(f"{k} {fmt(finite[k]['score'])}" for k in ranking) + ".", ""]
        learned = finite.get(LEARNED)
        h = best_heuristic(finite, HEURISTICS)
        if learned is not None and h is not None:
            text = (f"Learned (pure) {learned['score']:.3f} against {finite[h]['score']:.3f} for "
                    f"{h}: target {learned.get('target')}")
            out += [text + _verdicts(learned) + "."]
            anchored = finite.get(ANCHORED)
            if anchored is not None:
                out += [f"Anchored {anchored['score']:.3f} ({anchored.get('vs_best_heuristic', '?')} against "
                        f"{h}; better by more than one sd: {anchored.get('better_by_1_sd', '—')})."]
            out += ["", *_explain(finite, h)]
        out += [""]
    if e2e:
        out += _e2e_section(e2e, quick, fig_dir, r)
    return "\n".join(out)


def _e2e_section(rows, quick, fig_dir, forest):
    """The end-to-end table of the section (rows pooled over the seeds, verdicts set);
    ``forest``: ``{method: pooled row}`` of the forest table."""
    rc = E2E_RECIPE
    epochs = int(round(rows[0].get("epochs", E2E_EPOCHS["quick" if quick else "full"])))
    width = rc["width"] if not quick else 8
    bar(rows, fig_dir / "shapes_end_to_end.png", "3-D point shapes: one message-passing classifier, "
        "the frame differs", "accuracy")
    val = ", ".join(f"lr {v['lr']:g}, width {v['width']}, batch {v['batch_size']}, {v['epochs']} epochs: "
                    f"{v['valid_accuracy']:.3f}" for v in E2E_VALIDATION)
    out = [
        "### End to end: frame and backbone trained jointly (Kaba et al.)",
        "",
        "The same clouds and splits, with the forest replaced by one torch classifier in every row: "
        "`EndToEndEquivariantClassifier(module__group=\"E3\", module__backbone=\"message_passing\")` "
        f"(`MessagePassingBackbone` fully connected over the points, {rc['layers']} layers, width {width}, "
        "edge features: relative position and squared distance; mean over the points, then a linear "
        f"layer), Adam with learning rate {rc['lr']:g} decayed by a cosine schedule over {epochs} "
        f"epochs, batch size {rc['batch_size']}, no early stopping, frame network of width "
        f"{rc['frame_hidden']}. The recipe was chosen for the learned row on validation data only "
        "(`make_point_shapes` with seed 100, never the clouds of these tables; 2,000 train / 1,000 "
        f"validation clouds; validation accuracy of the learned row: {val}; 25 epochs is what the time "
        "budget of this table allowed), then fixed for every row. "
        "The backbone is invariant to permutations of the points, so the rows differ only in their "
        "E(3) frame: `module__frame=\"learned\"` trains the frame network with the backbone on the "
        "cross-entropy; `module__frame=\"anchored\"` starts from the PCA frame and trains a residual "
        "rotation (gain initialised at 0) with the backbone; the PCA row puts `CanonicalizerTransformer(\"E3\", \"pca\")` in front of the "
        "same classifier with `module__frame=\"identity\"` (a `Pipeline`; no point sort, which this "
        "backbone ignores); `module__frame=\"augment\"` moves every training cloud by a fresh random "
        "E(3) element at every step and predicts on the pose given; the last row is the backbone on "
        "the raw poses. `fit s` includes the frame network (its transform time is inside "
        "prediction); `train loss` is the cross-entropy of the last epoch. Invariance error as above "
        "(`predict_proba` under random E(3)×S_n moves). Target, on the means: learned (end to end) "
        "above the PCA frame with the same backbone (`target`), and by more than one sd (the larger "
        "of the two rows; `better by 1 sd`); `wins` counts the seeds in which it was ahead.",
        "",
        markdown_table(rows, extra_cols=("train_loss", "vs_pca_frame", "better_by_1_sd", "wins")),
        "",
        "![point shapes, end to end](_static/results/shapes_end_to_end.png)",
        "",
    ]
    finite = {k: v for k, v in rows_of(rows, TABLE_E2E).items() if np.isfinite(v["score"])}
    if finite:
        ranking = sorted(finite, key=lambda k: -finite[k]["score"])
        out += ["Ranking: " + ", ".join(f"{k} {fmt(finite[k]['score'])}" for k in ranking) + ".", ""]
        learned, pca = finite.get(E2E_LEARNED), finite.get(E2E_PCA)
        if learned is not None and pca is not None:
            sd = max(learned.get("score_sd") or 0.0, pca.get("score_sd") or 0.0)
            diff = learned["score"] - pca["score"]
            text = (f"Learned end to end {learned['score']:.3f} against {pca['score']:.3f} for the PCA frame "
                    f"with the same backbone and recipe: target {learned.get('target')}")
            if learned.get("better_by_1_sd") in ("met", "missed"):
                text += (f"; better by more than one sd ({sd:.3f}): {learned['better_by_1_sd']}")
                if diff < -sd:
                    text += f" (it is {-diff:.3f} below, more than one sd)"
            if learned.get("wins"):
                text += f"; ahead in {learned['wins']} seeds"
            out += [text + "."]
            g_l, g_p = _group_means(learned), _group_means(pca)
            if g_l and g_p:
                text = (f"Where the difference lies (mean per-class test accuracy): polycubes {g_l[0]:.3f} "
                        f"learned against {g_p[0]:.3f} PCA, surfaces {g_l[1]:.3f} against {g_p[1]:.3f}")
                out += [text + _largest_losses(learned, pca) + "."]
            if _is_num(learned.get("train_loss")) and _is_num(pca.get("train_loss")):
                text = (f"Training cross-entropy of the last epoch: learned {learned['train_loss']:.3f}, PCA frame "
                        f"{pca['train_loss']:.3f}")
                if learned["train_loss"] > pca["train_loss"] and diff < 0:
                    text += (": with the same number of steps the jointly trained model fits its training "
                             "clouds less well than the backbone behind the fixed PCA frame. That the learned "
                             "frame keeps moving while the backbone learns was not the main reason: with the "
                             "network's earlier axes (its output vectors; 0.768 on an earlier run of this "
                             "table, 0.070 below the PCA frame then) a frame frozen after its first epochs, "
                             "or never trained, did about as well "
                             "on validation data as one trained throughout (below); the axes themselves were: "
                             "taking them from a learned weighted second-moment matrix (the default since) "
                             "closed most of the gap")
                out += [text + "."]
            if E2E_DIAGNOSTICS:
                out += ["On validation data (`make_point_shapes` seeds 100–102, never the table's clouds; seed 100 "
                        "unless stated): "
                        + "; ".join(E2E_DIAGNOSTICS) + "."]
            anch = finite.get(E2E_ANCHORED)
            if anch is not None:
                out += [f"Anchored end to end (PCA frame + learned residual) {anch['score']:.3f} against "
                        f"{pca['score']:.3f} for the fixed PCA frame" + _verdicts(anch) + "."]
            aug = finite.get(E2E_AUG)
            if aug is not None:
                out += [f"Augmentation {aug['score']:.3f} (invariance error {fmt(aug['invariance_error'])}: "
                        "invariant only approximately)."]
            best_forest = max((v for v in forest.values() if np.isfinite(v["score"])), default=None,
                              key=lambda v: v["score"])
            if best_forest is not None:
                out += [f"For comparison, the best forest row above: {best_forest['method']} "
                        f"{best_forest['score']:.3f}."]
        out += [""]
    return out


def _verdicts(row):
    """``"; better by more than one sd: met; ahead in 2/3 seeds"`` from a row's verdict
    columns (the parts it has)."""
    text = ""
    if row.get("better_by_1_sd") in ("met", "missed"):
        text += f"; better by more than one sd: {row['better_by_1_sd']}"
    if row.get("wins"):
        text += f"; ahead in {row['wins']} seeds"
    return text


def _largest_losses(row, ref, n=3):
    """``"; the largest losses are T (0.23 against 0.60), ..."``: the (at most ``n``) classes
    where ``row``'s per-class accuracy falls furthest below ``ref``'s; empty if none does."""
    a, b = np.asarray(row["per_class_accuracy"]), np.asarray(ref["per_class_accuracy"])
    worst = [int(k) for k in np.argsort(a - b)[:n] if a[k] < b[k]]
    if not worst:
        return ""
    return "; the largest losses are " + ", ".join(
        f"{row['class_names'][k]} ({a[k]:.2f} against {b[k]:.2f})" for k in worst)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def _group_means(row):
    """Mean per-class accuracy over the Tetris polycubes and over the primitive surfaces."""
    from skcanon.datasets import TETRIS_SHAPES

    acc, names = row.get("per_class_accuracy"), row.get("class_names")
    if not acc or not names or len(acc) != len(names):
        return None
    tetris = [a for a, n in zip(acc, names) if n in TETRIS_SHAPES]
    other = [a for a, n in zip(acc, names) if n not in TETRIS_SHAPES]
    return float(np.mean(tetris)), float(np.mean(other))


def _explain(finite, h):
    """The closing note: where learned gains or loses against the heuristic, from the rows'
    per-class accuracies and the networks' training runs (means over the seeds)."""
    learned, heur = finite[LEARNED], finite[h]
    lines = []
    g_l, g_h = _group_means(learned), _group_means(heur)
    if g_l and g_h:
        text = (f"Where the difference lies (mean per-class test accuracy): on the eight Tetris polycubes "
                f"learned {g_l[0]:.3f} against {g_h[0]:.3f} for {h}, on the five primitive surfaces "
                f"{g_l[1]:.3f} against {g_h[1]:.3f}")
        text += _largest_losses(learned, heur)
        anchored = finite.get(ANCHORED)
        g_a = _group_means(anchored) if anchored is not None else None
        if g_a:
            text += (f". Anchored, which starts from the heuristic's frame and order and learns a correction, "
                     f"reaches {g_a[0]:.3f} on the polycubes and {g_a[1]:.3f} on the surfaces")
        lines += [text + ".", ""]
    if all(k in learned for k in ("epochs_trained", "best_epoch", "best_valid_loss")):
        from skcanon._training import TARGET_STEPS

        text = (f"Training of the learned network (defaults; means over the seeds): {learned['epochs_trained']:.0f} "
                f"epochs (the automatic budget aims at about {TARGET_STEPS:,} optimiser steps, with early "
                f"stopping), weights kept from epoch {learned['best_epoch']:.0f}, where the validation loss of "
                f"its supervised head was {learned['best_valid_loss']:.2f} (chance: ln 13 = {np.log(13):.2f})")
        anchored = finite.get(ANCHORED)
        if anchored is not None and np.isfinite(anchored.get("best_valid_loss", float("nan"))):
            text += f"; anchored's head reached {anchored['best_valid_loss']:.2f}"
        if learned["score"] < heur["score"]:
            text += (". A likely reason for the miss: the network's frames and point order are chosen to suit "
                     "the small MLP head it is trained with, which is itself far from fitting the shapes, not "
                     "the forest's axis-aligned splits; anchored, which keeps the heuristic's frame and order "
                     "as its starting point, keeps what the forest already uses")
        lines += [text + "."]
    return lines

