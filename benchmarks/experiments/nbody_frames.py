"""n-body with frame averaging: several frames per system around the message-passing backbone.

The data, sizes, backbone and training recipe are those of :mod:`.nbody` (imported from it):
:class:`~skcanon.nn.MessagePassingBackbone` inside
:class:`~skcanon.EndToEndEquivariantRegressor` with the identity frame, predicting the
displacement ``target − position``. Each row puts a
:class:`~skcanon.FrameAveragingRegressor` around that backbone with one frame source
(``"pca"``: the PCA frame with all 8 axis signs; ``"minimal"``: only the signs the input
leaves open; ``"weighted"``: frames built on the particles with continuous weights), so the
backbone is trained on every system under each of its frames and its predictions are mapped
back through each frame and averaged: exactly E(3)-equivariant. A probabilistic
symmetrization row (a learned distribution over E(3) elements trained with the backbone,
``k`` samples averaged at prediction) is added when the end-to-end estimators offer it.

Training budget: frame averaging multiplies the training rows by the mean number of frames
``k`` of the training systems; every row gets the same number of gradient steps as the
single-frame rows of :mod:`.nbody` (``epochs / k`` epochs over ``k`` times as many rows,
rounded up), so the comparison is at equal optimizer work and wall time stays bounded.
"""

from __future__ import annotations

import math

import numpy as np

from ._common import Quiet, bar, markdown_table, n_seeds_of, pool_seeds, result_row, setup_torch, timed
from .nbody import NBODY_SIM, NBODY_SIZES, RECIPE, _backbone, joint_distances, nbody_data, positions

#: published n-body MSEs (charged 5-body, EGNN's setting): EGNN (Satorras et al. 2021),
#: frame-averaged GNN (Puny et al. 2022), learned canonicalization (Kaba et al. 2023),
#: minimal frame averaging (Lin et al. 2024)
FRAMES_REFERENCE = {"EGNN": 0.0071, "FA-GNN": 0.0057, "learned canonicalization (Kaba et al.)": 0.0043,
                    "minimal frame averaging": 0.0036}
TARGET = 0.0045          # the target: at least one row at or below this MSE
FRAME_ROWS = {"pca": "frame averaging, PCA frames (8 signs)",
              "minimal": "frame averaging, minimal frames",
              "weighted": "weighted frames"}
SYMMETRIZE = "probabilistic symmetrization (end to end)"


def _symmetrize_option():
    """The end-to-end frame option for probabilistic symmetrization, or None before it exists."""
    from skcanon import _end_to_end

    frames = getattr(_end_to_end, "FRAMES", ())
    for name in ("symmetrize", "symmetrization", "probabilistic"):
        if name in frames:
            return name
    return None


def run(quick=False, seed=0):
    """Frame-averaged message passing on n-body: positions 1,000 steps ahead."""
    setup_torch()
    from sklearn.linear_model import Ridge

    from skcanon import FrameAveragingRegressor
    from skcanon.datasets import nbody_layout
    from skcanon.groups import get_group
    from skcanon.layouts import PointLayout
    from skcanon.metrics import invariance_error

    size, (X, y, Xv, yv, Xt, yt), gen_s = nbody_data(quick, seed)
    epochs = size["epochs"]
    layout = nbody_layout()
    disp_layout = PointLayout(3, fields=[("disp", "vector")])
    E3 = get_group("E3")
    D = y - positions(X)

    Xi = Xt[: size["n_inv"]]
    rows = []
    table = "nbody_frames"

    def add(method, predict_displacement, fit_s, transform_s, **extra):
        extra.setdefault("frames_per_sample", None)
        def predict_positions(A):
            return positions(A) + predict_displacement(A)

        (pred, pred_s) = timed(predict_positions, Xt)
        mse = float(np.mean((pred - yt) ** 2))
        extra["valid_mse"] = float(np.mean((predict_positions(Xv) - yv) ** 2))
        inv = invariance_error(joint_distances(predict_positions), Xi, E3, n_trials=2,
                               random_state=seed, layout=layout).median
        rows.append(result_row("nbody_frames", table, method, "MSE", mse, inv, fit_s, transform_s,
                               predict_s=pred_s, **extra))

    with Quiet():
        for frames, name in FRAME_ROWS.items():
            # k from a linear fit on the same frames (cheap): rows fitted per training system
            probe = FrameAveragingRegressor(Ridge(), group="E3", frames=frames, layout=layout,
                                            target=disp_layout).fit(X, D)
            k = probe.n_frames_fit_ / len(X)
            row_epochs = max(1, math.ceil(epochs / k))
            model = FrameAveragingRegressor(_backbone(layout, "identity", row_epochs, seed), group="E3",
                                            frames=frames, layout=layout, target=disp_layout)
            _, fs = timed(model.fit, X, D)
            _, ts = timed(model.frame_weights, Xt)
            add(name, model.predict, fs, ts, frames_per_sample=k, epochs=row_epochs,
                train_rows=int(model.n_frames_fit_))

        option = _symmetrize_option()
        if option is not None:
            sym = _backbone(layout, option, epochs, seed)
            _, fs = timed(sym.fit, X, D)
            add(SYMMETRIZE, sym.predict, fs, 0.0, epochs=epochs,
                frames_per_sample=float(sym.module_.n_samples_predict))

    for r in rows:
        r["target"] = "met" if r["score"] <= TARGET else "missed"
        r["generation_s"] = gen_s
        r["symmetrization_available"] = 1.0 if option is not None else 0.0
    return rows


def section(rows, quick, fig_dir):
    """The Markdown of this experiment on the results page (figures go to ``fig_dir``)."""
    s = NBODY_SIZES["quick" if quick else "full"]
    rows = pool_seeds(rows)
    for r in rows:  # verdicts on the means over seeds
        r["target"] = "met" if r["score"] <= TARGET else "missed"
    n = n_seeds_of(rows)
    bar(rows, fig_dir / "nbody_frames.png", "n-body with frame averaging: MSE on positions", "test MSE",
        "lower")
    ref = ", ".join(f"{k} {v}" for k, v in FRAMES_REFERENCE.items())
    ranked = sorted(rows, key=lambda q: q["score"])
    best = ranked[0]
    seeds = f"mean over {n} seeds" if n > 1 else "one seed"
    out = [
        "## n-body with frame averaging (E(3), equivariant target)",
        "",
        f"The data and sizes of the n-body section ({s['n_train']:,} train / {s['n_val']:,} validation / "
        f"{s['n_test']:,} test systems, {NBODY_SIM['n_particles']} charged particles, 1,000 steps ahead) "
        f"and its message-passing backbone and recipe ({RECIPE['layers']} layers, width {RECIPE['width']}, "
        f"Adam {RECIPE['lr']:g} with a cosine schedule, batch size {RECIPE['batch_size']}), wrapped "
        "in `FrameAveragingRegressor(backbone, group=\"E3\", frames=..., target=PointLayout(3, "
        "fields=[(\"disp\", \"vector\")]))`: the backbone is trained on every system under each of its "
        "frames and its predicted displacements are mapped back through each frame and averaged. "
        "`frames per sample` is the mean number `k` of frames of the training systems; each "
        f"frame-averaging row runs `ceil({s['epochs']} / k)` epochs over `k` times as many rows, the "
        "number of gradient steps of the single-frame rows of the n-body section. The probabilistic "
        "symmetrization row is `EndToEndEquivariantRegressor(module__frame=\"symmetrize\")` with the "
        f"same backbone and {s['epochs']} epochs: frames drawn from the learned frame network on noisy "
        "copies of each system (one per sample and step in training, 16 fixed draws averaged at "
        "prediction). `transform s` is the time to compute the test set's frames, `predict s` the "
        "whole prediction (every frame through the backbone). Invariance error as in the n-body "
        "section (pairwise distances of input and predicted positions under random E(3) moves): 0 "
        "up to rounding when the prediction is exactly equivariant; `valid mse` is on the "
        "validation split (not used for training).",
        "",
        f"Published MSEs on EGNN's version of the task: {ref}. Target: at least one row ≤ {TARGET} "
        f"(column `target`, judged on the {seeds}).",
        "",
        markdown_table(rows, extra_cols=("valid_mse", "frames_per_sample", "epochs", "predict_s")),
        "",
        "![n-body with frame averaging](_static/results/nbody_frames.png)",
        "",
    ]
    verdict = "meets" if best["score"] <= TARGET else "misses"
    text = [f"Best row ({seeds}): {best['method']} with {best['score']:.4f}, which {verdict} the "
            f"≤ {TARGET} target. Ranking: " + ", ".join(f"{q['method']} {q['score']:.4f}" for q in ranked)
            + f"; published: {ref}."]
    if not any(r.get("symmetrization_available") for r in rows):
        text.append("Probabilistic symmetrization has no row: the end-to-end estimators of this version "
                    "do not offer it.")
    out += [" ".join(text), ""]
    return "\n".join(out)
