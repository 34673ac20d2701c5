"""Where the axes of a learned end-to-end frame come from, on validation shapes (the study
behind ``PointFrameNetwork(axes="moments")``, the default since it).

The end-to-end table of the results page (``benchmarks/experiments/shapes.py``) had the
learned frame (``module__frame="learned"``) 0.07 below the PCA canonicalizer in front of
the same backbone. This script switches, inside this process only, where the frame
network's rotation axes come from, and trains the table's recipe
(:func:`experiments.shapes.validate_e2e`, 25 epochs) on validation clouds
(``make_point_shapes`` seeds ≥ 100, never the table's):

* ``vectors``: the network's own output vectors, orthonormalized (the library before; the
  study called it ``learned``);
* ``moments``: the eigenvectors of a *learned weighted* second-moment matrix of the cloud,
  ``Σ w_i x_i x_iᵀ / Σ w_i`` with ``w_i = 1 + tanh(l_i)`` from the network's invariant
  per-point logits ``l_i`` (its translation logits), in order of decreasing eigenvalue,
  each signed by its inner product with the network's corresponding output vector
  (:func:`skcanon.nn._points.moment_axes`; the library's default now);
* ``uniform``: the same with ``w_i = 1`` — PCA's axes with the network's signs (a control:
  what the learned weights add);
* ``skew``: ``moments`` with each axis signed by the weighted third moment along it (the
  PCA heuristic's sign rule with the learned weights), the output vector deciding only where
  that is near zero (``signs="skew"`` of :func:`skcanon.nn._points.moment_axes`);
* ``stsign``: ``moments`` whose signs pass a straight-through gradient to the output
  vectors (:func:`trained_signs`); with ``moments`` alone the output vectors, which only
  choose the signs, get no gradient at all.

``--data nbody`` trains n-body's end-to-end row instead (the results page's recipe, the
systems of seeds ≥ 100, scored on their validation split).

Run (about 2–3 minutes per fit on one core)::

    python benchmarks/choose_e2e_frame_axes.py --modes moments,vectors,uniform --seeds 100,101,102
    python benchmarks/choose_e2e_frame_axes.py --data nbody --modes moments,vectors

One JSON line per fit. Measured 2026-12-02 with a first version of the moment axes (a patch
without the tie rules of symmetric clouds; seed: accuracy): ``moments`` 100: 0.842,
101: 0.819, 102: 0.803 (mean 0.821); ``uniform`` 100: 0.834; against ``vectors`` 0.791,
0.748, 0.738 (0.759) and the PCA frame 0.858, 0.817, 0.838 (0.838) recorded in
``experiments.shapes.E2E_VALIDATION`` / ``E2E_DIAGNOSTICS``. n-body (validation MSE on
positions; measured with the same first version of the moment axes against the output
vectors, 2026-12-02): ``moments`` 0.00650 / 0.00760 / 0.00581, ``vectors`` 0.00722 / 0.00616 /
0.00588 for seeds 100 / 101 / 102.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MODES = ("vectors", "moments", "uniform", "skew", "stsign")


@contextlib.contextmanager
def axes_from(mode):
    """Point frame networks built inside this block take their rotation axes from ``mode``
    (see the module notes); anchored networks keep their residual vectors."""
    import torch

    from skcanon.nn import _points

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}.")
    init, axes_fn = _points.PointFrameNetwork.__init__, _points.moment_axes

    def patched_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if not isinstance(self, _points.AnchoredPointNetwork):
            self.axes = "vectors" if mode == "vectors" else "moments"
            if mode == "skew":
                self.signs = "skew"

    def uniform_axes(U, logits, mask, f, open_eps=None, signs="vectors"):
        return axes_fn(U, torch.zeros_like(logits), mask, f, open_eps=open_eps, signs=signs)

    _points.PointFrameNetwork.__init__ = patched_init
    if mode == "uniform":
        _points.moment_axes = uniform_axes
    try:
        with trained_signs() if mode == "stsign" else contextlib.nullcontext():
            yield
    finally:
        _points.PointFrameNetwork.__init__, _points.moment_axes = init, axes_fn


@contextlib.contextmanager
def trained_signs(temperature=0.5):
    """Moment axes whose signs pass a straight-through gradient to the output vectors.

    :func:`skcanon.nn._points.moment_axes` signs each axis by its inner product with the
    network's output vector of the same rank, a hard choice without gradient. Here each
    column ``k`` of the rotation that :func:`~skcanon.nn._points.gram_schmidt` returns is
    multiplied by ``1 + (s_k − s_k)`` (exactly 1 in value) with ``s_k = tanh(cos θ_k /
    temperature)``, ``θ_k`` the angle between the column and that output vector, so the
    gradient of a sign flip's linearisation reaches the vectors (after Gram–Schmidt, whose
    normalisation would cancel a change of a column's length). Frames are unchanged.
    """
    import torch

    from skcanon.nn import _points

    axes_fn, schmidt = _points.moment_axes, _points.gram_schmidt
    pending = []

    def remembering_axes(U, *args, **kwargs):
        pending.append(U)
        return axes_fn(U, *args, **kwargs)

    def signed_schmidt(U, *args, **kwargs):
        out = schmidt(U, *args, **kwargs)
        vectors = pending.pop() if pending else None
        R = out[0] if isinstance(out, tuple) else out
        if vectors is None or not vectors.requires_grad:
            return out
        cos = (R.detach() * vectors).sum(1) / vectors.norm(dim=1).detach().clamp_min(1e-12)
        soft = torch.tanh(cos / temperature)
        R = R * (1.0 + (soft - soft.detach()))[:, None, :]
        return (R,) + tuple(out[1:]) if isinstance(out, tuple) else R

    _points.moment_axes, _points.gram_schmidt = remembering_axes, signed_schmidt
    try:
        yield
    finally:
        _points.moment_axes, _points.gram_schmidt = axes_fn, schmidt


def validate_nbody(seed):
    """n-body's end-to-end row (``experiments.nbody``: message-passing backbone, the table's
    epochs) trained on the systems of ``seed`` and scored on their validation split (MSE on
    positions; the table scores the test split of seeds 0–2)."""
    import numpy as np
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    from experiments.nbody import _backbone, nbody_data, positions
    from skcanon.datasets import nbody_layout

    size, (X, y, Xv, yv, _, _), _ = nbody_data(False, seed)
    valid = predefined_split(Dataset(Xv.astype(np.float32), (yv - positions(Xv)).astype(np.float32)))
    net = _backbone(nbody_layout(), "learned", size["epochs"], seed, train_split=valid)
    net.fit(X, y - positions(X))
    return {"seed": seed, "valid_mse": float(np.mean((positions(Xv) + net.predict(Xv) - yv) ** 2))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="moments,vectors")
    parser.add_argument("--seeds", default="100,101,102")
    parser.add_argument("--epochs", type=int, default=25, help="shapes only (n-body: the table's)")
    parser.add_argument("--data", default="shapes", choices=("shapes", "nbody"))
    args = parser.parse_args(argv)
    import torch

    from experiments.shapes import validate_e2e

    torch.set_num_threads(1)
    for mode in args.modes.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            start = time.perf_counter()
            with axes_from(mode):
                row = (validate_e2e(3e-3, 32, 32, args.epochs, seed=seed) if args.data == "shapes"
                       else validate_nbody(seed))
            row.update(data=args.data, mode=mode, seconds=round(time.perf_counter() - start, 1))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
