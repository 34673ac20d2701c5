"""Probabilistic symmetrization vs learned canonicalization end to end, on n-body.

Run ``python benchmarks/bench_symmetrize.py`` (one core; ``--quick`` for a smoke run,
``--seeds 0 1 2`` to choose seeds). It prints two markdown tables and one JSON line:

1. **n-body at small size.** ``make_nbody`` in EGNN's setting (5 charged particles, 1,000
   steps ahead), 500 train / 200 validation / 500 test systems, 20 epochs; the
   message-passing backbone of ``benchmarks/experiments/nbody.py`` (width 64, 3 layers, Adam
   at 3e-3 with a cosine schedule, batch 32) inside ``EndToEndEquivariantRegressor`` with
   ``module__frame="learned"`` (one learned frame) and ``module__frame="symmetrize"``
   (frames drawn from the learned distribution, ``n_samples`` per training step,
   ``n_samples_predict`` at prediction). Test MSE on positions, validation MSE, the
   equivariance error of the predictions (median over test systems of
   ``|f(g·x) − g·f(x)| / |f(x)|``, max over points and coordinates, one random E(3) move per
   system) and fit time; mean ± sd over seeds.
2. **Equivariance error vs k.** For the fitted symmetrization model of each seed, the same
   equivariance error with ``k`` = 1, 4, 16, 64, 256 frames at prediction: exact in
   expectation, the error of ``k`` draws shrinks like ``1/√k``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

SIZES = {"full": dict(n_train=500, n_val=200, n_test=500, epochs=20),
         "quick": dict(n_train=96, n_val=32, n_test=64, epochs=2)}
SIM = dict(n_particles=5, n_steps=1000, dt=0.001, n_burn_in=3000)
RECIPE = dict(width=64, layers=3, frame_hidden=32, lr=3e-3, batch_size=32)
KS = (1, 4, 16, 64, 256)


def _model(layout, frame, epochs, seed, **module):
    import torch
    from skorch.callbacks import LRScheduler

    from skcanon import EndToEndEquivariantRegressor

    schedule = LRScheduler(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=epochs)
    return EndToEndEquivariantRegressor(
        module__group="E3", module__layout=layout, module__target_kind="vector",
        module__backbone="message_passing", module__backbone_hidden=RECIPE["width"],
        module__backbone_layers=RECIPE["layers"], module__hidden=RECIPE["frame_hidden"],
        module__frame=frame, max_epochs=epochs, lr=RECIPE["lr"], batch_size=RECIPE["batch_size"],
        callbacks=[("lr_schedule", schedule)], random_state=seed, device="cpu",
        **{f"module__{k}": v for k, v in module.items()})


def equivariance_error(predict, X, layout, seed):
    """Median over systems of the relative equivariance error of displacement predictions."""
    from skcanon.groups import get_group
    from skcanon.layouts import PointLayout

    E3 = get_group("E3")
    disp = PointLayout(3, fields=[("disp", "vector")])
    g = E3.sample(len(X), random_state=1000 + seed)
    Y = predict(X)
    moved = predict(E3.apply(g, X, layout))
    err = np.abs(moved - E3.apply(g, Y, disp)).max(1) / np.abs(Y).max(1)
    return float(np.median(err))


def run(quick=False, seeds=(0, 1, 2), n_samples=1, n_samples_predict=16, noise_scale=0.2,
        frames=("learned", "symmetrize")):
    import torch

    torch.set_num_threads(1)
    from skcanon.datasets import make_nbody, nbody_layout

    size = SIZES["quick" if quick else "full"]
    layout = nbody_layout()

    def positions(A):
        return layout.to_working(A)[..., :3].reshape(len(A), -1)

    rows, curves = [], []
    for seed in seeds:
        X, y, Xv, yv, Xt, yt = make_nbody(size["n_train"], size["n_val"], size["n_test"], random_state=seed,
                                          return_X_y=True, **SIM)
        D = y - positions(X)
        for frame in frames:
            extra = dict(n_samples=n_samples, n_samples_predict=n_samples_predict,
                         noise_scale=noise_scale) if frame == "symmetrize" else {}
            model = _model(layout, frame, size["epochs"], seed, **extra)
            t0 = time.perf_counter()
            model.fit(X, D)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            test = float(np.mean((positions(Xt) + model.predict(Xt) - yt) ** 2))
            predict_s = time.perf_counter() - t0
            val = float(np.mean((positions(Xv) + model.predict(Xv) - yv) ** 2))
            rows.append(dict(seed=seed, frame=frame, test_mse=test, val_mse=val, fit_s=fit_s, predict_s=predict_s,
                             equivariance_error=equivariance_error(model.predict, Xt, layout, seed)))
            if frame == "symmetrize":
                curve = {}
                for k in KS:
                    model.module_.n_samples_predict = k     # the fitted module, without refitting
                    curve[k] = equivariance_error(model.predict, Xt, layout, seed)
                curves.append(dict(seed=seed, errors=curve))
    return rows, curves


def _mean_sd(values):
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.4g} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.2g}"


def tables(rows, curves):
    out = ["| frame | test MSE | validation MSE | equivariance error | fit (s) | predict test (s) |",
           "|---|---|---|---|---|---|"]
    for frame in dict.fromkeys(q["frame"] for q in rows):
        r = [q for q in rows if q["frame"] == frame]
        out.append(f"| `{frame}` | " + " | ".join(_mean_sd([q[c] for q in r]) for c in
                                                  ("test_mse", "val_mse", "equivariance_error", "fit_s",
                                                   "predict_s")) + " |")
    out += ["", "| k (frames at prediction) | " + " | ".join(str(k) for k in KS) + " |",
            "|---|" + "---|" * len(KS),
            "| equivariance error | " + " | ".join(_mean_sd([c["errors"][k] for c in curves]) for k in KS) + " |"]
    if not curves:
        out = out[:-4]
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-samples", type=int, default=1)
    parser.add_argument("--n-samples-predict", type=int, default=16)
    parser.add_argument("--noise-scale", type=float, default=0.2)
    parser.add_argument("--frames", nargs="+", default=["learned", "symmetrize"],
                        choices=["learned", "symmetrize"])
    args = parser.parse_args(argv)
    rows, curves = run(args.quick, tuple(args.seeds), args.n_samples, args.n_samples_predict, args.noise_scale,
                       tuple(args.frames))
    print(tables(rows, curves))
    print(json.dumps(dict(rows=rows, curves=curves, settings=vars(args))))


if __name__ == "__main__":
    main()
