"""Where the axes of a learned end-to-end frame come from, on validation shapes (a study,
not a library option).

The end-to-end table of the results page (``benchmarks/experiments/shapes.py``) has the
learned frame (``module__frame="learned"``) 0.07 below the PCA canonicalizer in front of
the same backbone. This script swaps, by a patch of
:meth:`skcanon.nn._points.PointFrameNetwork._raw_outputs` that lives only in this process,
where the frame network's output axes come from, and trains the table's recipe
(:func:`experiments.shapes.validate_e2e`, 25 epochs) on validation clouds
(``make_point_shapes`` seeds ≥ 100, never the table's):

* ``learned``: the network's own output vectors (the library as it ships);
* ``moments``: the eigenvectors of a *learned weighted* second-moment matrix of the cloud,
  ``Σ w_i x_i x_iᵀ / Σ w_i`` with ``w_i = 1 + tanh(l_i)`` from the network's invariant
  per-point logits ``l_i`` (its translation logits), in order of decreasing eigenvalue,
  each signed by its inner product with the network's corresponding output vector;
* ``uniform``: the same with ``w_i = 1`` — PCA's axes with the network's signs (a control:
  what the learned weights add).

Not shipped: symmetric clouds (tied eigenvalues, inner products near 0) would need the
degeneracy rules of the hard frames, and the eigendecomposition's gradient diverges at
tied eigenvalues; the patch ignores both. Run (about 2–3 minutes per fit on one core)::

    python benchmarks/choose_e2e_frame_axes.py --modes moments,uniform --seeds 100,101,102

One JSON line per fit. Measured 2026-12-02 (seed: accuracy): ``moments`` 100: 0.842,
101: 0.819, 102: 0.803 (mean 0.821); ``uniform`` 100: 0.834; against ``learned`` 0.791,
0.748, 0.738 (0.759) and the PCA frame 0.858, 0.817, 0.838 (0.838) recorded in
``experiments.shapes.E2E_VALIDATION`` / ``E2E_DIAGNOSTICS``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MODES = ("learned", "moments", "uniform")


def moment_axes(U, logits, mask, f, learned_weights=True):
    """Axes ``(n, d, d)`` (columns) from the weighted second-moment matrix of ``f``
    (``(n, m, d)``, absent points masked), signed by the columns of ``U``."""
    import torch

    present = mask.to(f.dtype)
    w = present * (1.0 + torch.tanh(logits.masked_fill(~mask, 0.0))) if learned_weights else present
    f = torch.where(mask[..., None], f, torch.zeros((), dtype=f.dtype, device=f.device))
    C = torch.einsum("nm,nmd,nme->nde", w, f, f) / w.sum(1).clamp_min(1e-12)[:, None, None]
    E = torch.linalg.eigh(C)[1].flip(-1)                 # decreasing eigenvalue
    sign = torch.sign((E * U).sum(1, keepdim=True))
    return E * torch.where(sign == 0, torch.ones_like(sign), sign)


@contextlib.contextmanager
def axes_from(mode):
    """Patch the point frame network's output axes for ``mode`` (see the module notes)."""
    from skcanon.nn import _points

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}.")
    original = _points.PointFrameNetwork._raw_outputs

    def patched(self, x):
        U, logits, mask, x0, centroid, f0 = original(self, x)
        if not isinstance(self, _points.AnchoredPointNetwork):
            U = moment_axes(U, logits, mask, f0, learned_weights=mode == "moments")
        return U, logits, mask, x0, centroid, f0

    if mode != "learned":
        _points.PointFrameNetwork._raw_outputs = patched
    try:
        yield
    finally:
        _points.PointFrameNetwork._raw_outputs = original


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="moments,uniform")
    parser.add_argument("--seeds", default="100,101,102")
    parser.add_argument("--epochs", type=int, default=25)
    args = parser.parse_args(argv)
    import torch

    from experiments.shapes import validate_e2e

    torch.set_num_threads(1)
    for mode in args.modes.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            start = time.perf_counter()
            with axes_from(mode):
                row = validate_e2e(3e-3, 32, 32, args.epochs, seed=seed)
            row.update(mode=mode, seconds=round(time.perf_counter() - start, 1))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
