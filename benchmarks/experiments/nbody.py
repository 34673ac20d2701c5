"""n-body (E(3), equivariant target): positions 1,000 steps ahead, EGNN's setting."""

from __future__ import annotations


import numpy as np

from ._common import Quiet, bar, markdown_table, result_row, rows_of, setup_torch, timed

NBODY_SIZES = {"full": dict(n_train=3000, n_val=2000, n_test=2000, learned_epochs=40, e2e_epochs=60,
                            aug_copies=4, n_inv=300),
               "quick": dict(n_train=800, n_val=200, n_test=500, learned_epochs=8, e2e_epochs=8,
                             aug_copies=2, n_inv=100)}
# published n-body reference MSEs (Satorras et al. 2021, Table 2; EGNN's version of the task)
NBODY_REFERENCE = {"linear": 0.0819, "SE(3)-Transformer": 0.0244, "GNN": 0.0107, "EGNN": 0.0071}
NBODY_SIM = dict(n_particles=5, n_steps=1000, dt=0.001, n_burn_in=3000)


def _nbody_backbone(seed):
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(),
                         MLPRegressor(hidden_layer_sizes=(64, 64), alpha=1.0, max_iter=300,
                                      early_stopping=True, n_iter_no_change=20, random_state=seed))


def run(quick=False, seed=0):
    """E(3)-equivariant n-body prediction: positions 1,000 steps ahead (EGNN's setting).

    Every row predicts the displacement ``target − position`` (a vector field: it rotates but
    does not translate) with the same MLP backbone and reports the MSE on positions.
    """
    setup_torch()
    from sklearn.linear_model import Ridge

    from skcanon import CanonicalizerTransformer, EquivariantRegressor
    from skcanon.datasets import make_nbody, nbody_layout
    from skcanon.groups import get_group
    from skcanon.layouts import PointLayout
    from skcanon.metrics import invariance_error

    size = NBODY_SIZES["quick" if quick else "full"]
    with Quiet():
        (X, y, Xv, yv, Xt, yt), gen_s = timed(
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
        rows.append(result_row("nbody", table, method, "MSE", mse, inv, fit_s, transform_s, **extra))

    with Quiet():
        # calibration row: linear regression on raw inputs (EGNN's "linear" baseline)
        lin, fs = timed(Ridge(alpha=1e-3).fit, X, y - positions(X))
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
            _, fs = timed(model.fit, X, y - positions(X))
            _, ts = timed(model.canonicalizer_.transform, Xt)
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
        _, fs = timed(aug.fit, np.concatenate(Xa), np.concatenate(Da))
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
            _, fs = timed(e2e.fit, positions(X), y - positions(X))
            add("end-to-end learned + MLP (positions only)",
                lambda A: positions(A) + e2e.predict(positions(A)), fs, 0.0,
                note="EndToEndEquivariantRegressor accepts positions only: velocities and charges are dropped")
        except Exception as exc:  # pragma: no cover - reported on the page
            rows.append(result_row("nbody", table, "end-to-end learned + MLP", "MSE", float("nan"), None, 0, 0,
                             note=f"not available: {type(exc).__name__}: {exc}"))

    r = rows_of(rows, table)
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



def section(rows, quick, fig_dir):
    """The Markdown of this experiment on the results page (figures go to ``fig_dir``)."""
    out = []
    s = NBODY_SIZES["quick" if quick else "full"]
    ref = ", ".join(f"{k} {v}" for k, v in NBODY_REFERENCE.items())
    bar(rows, fig_dir / "nbody.png", "n-body: MSE on positions", "test MSE", "lower")
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
        markdown_table(rows, extra_cols=("order",)),
        "",
        "![n-body](_static/results/nbody.png)",
        "",
    ]
    r = rows_of(rows, "nbody")
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
    return "\n".join(out)
