"""A learned distribution over group elements for probabilistic symmetrization (Kim et al.,
NeurIPS 2023).

Canonicalization picks one frame ``h(x)`` per sample; symmetrization draws frames
``g ~ p(g | x)`` from a distribution that is *equivariant in distribution*,
``p(g | h·x) = p(h⁻¹g | x)``, and averages a backbone ``r`` over ``k`` of them:

``f(x) = (1/k) Σ_j g_j · r(g_j⁻¹ · x)``

whose expectation over the draws is exactly equivariant for any ``r``.

:class:`FrameDistribution` builds ``p(g | x)`` from an exactly equivariant frame network
``h`` (:class:`~skcanon.nn._points.PointFrameNetwork`): a draw is ``g = h(x + ε)`` with
``ε`` i.i.d. isotropic Gaussian noise on every geometric field of every present point,
of standard deviation ``noise_scale`` times that field's spread in the sample (root mean
square distance to the centroid for positions, root mean square norm for vectors).
Isotropic noise is rotation-invariant in distribution and the spreads are invariant, so
``h(h·x + R_h ε) = h·h(x + ε)`` draw by draw, and ``R_h ε`` has the law of ``ε``: the
distribution is equivariant. Its shape is learned: the frame network is trained with the
backbone on the task, so it decides how far the noise moves the frames.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import nn

from ._points import masked_mean, present_mask

__all__ = ["FrameDistribution"]


def check_noise_scale(value, name="module__noise_scale"):
    """A positive, finite float (or a clear error naming the parameter)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number; got {value!r}.")
    return float(value)


class FrameDistribution(nn.Module):
    """``p(g | x)``: frames of an equivariant frame network on noisy copies of the input.

    Parameters
    ----------
    frame_net : PointFrameNetwork
        An exactly equivariant network for O(d), SO(d), E(d) or SE(d) on points (its
        parameters are trained with the backbone).
    noise_scale : float, default=0.2
        Standard deviation of the noise relative to each geometric field's spread.
    seed : int, default=0
        Seed of the fixed noise draws used in eval mode (:meth:`eval_noise`), so that
        predictions are reproducible; saved in the ``state_dict``.

    Notes
    -----
    Samples are working tensors ``(n, n_points, width)`` with absent points as all-NaN
    rows; noise never touches absent points or scalar fields.
    """

    def __init__(self, frame_net, noise_scale=0.2, seed=0):
        super().__init__()
        if not hasattr(frame_net, "_parts"):
            raise TypeError(f"FrameDistribution needs a point frame network; got {type(frame_net).__name__}.")
        self.frame_net = frame_net
        self.layout = frame_net.layout
        self.noise_scale = check_noise_scale(noise_scale)
        self.seed = int(seed)
        geo = [f for f in self.layout.fields if f.is_geometric]
        self._slices = [self.layout.slice_of(f.name) for f in geo]
        self._is_position = [f.kind == "position" for f in geo]
        self._cache = {}

    # the eval noise is a cache, rebuilt from ``seed``: not pickled, not in the state_dict
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def get_extra_state(self):
        return {"seed": self.seed, "noise_scale": self.noise_scale}

    def set_extra_state(self, state):
        self.seed = int(state["seed"])
        self.noise_scale = float(state["noise_scale"])
        self._cache = {}

    def perturb(self, x, noise):
        """``x + ε``: ``noise`` ``(n, m, width)`` standard normal draws (only geometric
        columns are used), scaled per sample and field by ``noise_scale`` × spread."""
        mask = present_mask(x)
        w = mask.to(x.dtype)
        count = w.sum(1).clamp_min(1.0)
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        x0 = torch.where(mask[..., None], x, zero)
        parts = []
        last = 0
        for sl, is_pos in zip(self._slices, self._is_position):
            f = x0[..., sl]
            if is_pos:
                f = (f - masked_mean(f, w, count)[:, None, :]) * w[..., None]
            # (n,), invariant; the data carry no gradient, and sqrt's is infinite at 0
            spread = masked_mean((f * f).sum(-1), w, count).detach().clamp_min(0).sqrt()
            eps = noise[..., sl] * (self.noise_scale * spread)[:, None, None] * w[..., None]
            parts += [x0[..., last:sl.start], x0[..., sl] + eps]
            last = sl.stop
        parts.append(x0[..., last:])
        out = torch.cat(parts, -1)
        return torch.where(mask[..., None], out, torch.full((), float("nan"), dtype=x.dtype, device=x.device))

    def frames(self, x, noise):
        """One draw per sample: rotation ``(n, d, d)`` (or None) and translation ``(n, d)``
        (or None) of ``h(x + ε)``; differentiable."""
        R, t, _ = self.frame_net._parts(self.perturb(x, noise), hard=False)
        return R, t

    def train_noise(self, k, x):
        """``k`` fresh standard normal draws per sample, ``(k * n, m, width)``, on ``x``'s
        device from torch's generator (seeded by the estimator's ``random_state``)."""
        n, m, width = x.shape
        return torch.randn(k * n, m, width, dtype=x.dtype, device=x.device)

    def eval_noise(self, k, x):
        """``k`` fixed standard normal draws shared by every sample, ``(k * n, m, width)``.

        Drawn on the CPU from :attr:`seed` (identical on every device) and kept per device,
        so a sample's draws depend neither on the call nor on the batch it is in (its
        prediction depends on the batch only through the float32 arithmetic, up to rounding).
        """
        n, m, width = x.shape
        key = (k, m, width, x.dtype, str(x.device))
        base = self._cache.get(key)
        if base is None:
            gen = torch.Generator().manual_seed(self.seed)
            base = torch.randn(k, 1, m, width, generator=gen, dtype=torch.float64)
            base = self._cache[key] = base.to(dtype=x.dtype, device=x.device)
        return base.expand(k, n, m, width).reshape(k * n, m, width)
