"""Permutation (S_n) frame networks and their composition with rotation networks.

:class:`SortFrameNetwork` scores every point with a DeepSets network (per-point MLP on the
point's features plus a pooled context), and orders the points by decreasing score:

* hard (``canonicalize``): a stable ``argsort`` — ties keep their input order, absent
  (all-NaN) points go last;
* soft (``soft_canonicalize``): straight-through SoftSort — the forward value is the hard
  canonical form, the gradient flows through the relaxed permutation matrix
  ``P[j, i] = softmax_i(-|s_(j) - s_i| / tau)`` where ``s_(j)`` is the ``j``-th largest score.

:class:`ComposedFrameNetwork` handles products such as E(3)×S_n: the rotation network
runs first (its frame is permutation-invariant), the scoring network then orders the
rotation-canonicalized points.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._kernels.lexsort import magnitude_groups, scaled_by_group, sort_key_columns, tolerant_lexsort
from ._base import FrameNetwork, coincident_floor, safe_sqrt
from ._points import ScalarEncoder, init_weights, masked_mean, present_mask, rescale_geometry

__all__ = ["SortFrameNetwork", "AnchoredSortNetwork", "tolerant_order", "ComposedFrameNetwork", "soft_sort_matrix"]

#: neighbourhood scores (``SortFrameNetwork(neighbourhood=True)``): radial functions, learned
#: channels per neighbour, the largest centre and the width, in units of the cloud's spread
PAIR_RADII, PAIR_CHANNELS, PAIR_REACH, PAIR_WIDTH = 8, 8, 2.5, 0.35
#: ``neighbourhood="auto"`` turns the neighbourhood scores on for clouds of at most this many
#: points (their cost grows with the square of the points)
NEIGHBOURHOOD_MAX_POINTS = 64


def soft_sort_matrix(scores, mask, tau=1.0):
    """Relaxed permutation matrix ``(n, m, m)`` sorting ``scores`` in decreasing order.

    Row ``j`` is a softmax over the present points ``i`` of ``-|s_(j) - s_i| / tau``; rows
    of absent slots are zero.
    """
    order = hard_order(scores, mask)
    sorted_s = torch.gather(scores.masked_fill(~mask, 0.0), 1, order)
    logits = -(sorted_s[:, :, None] - scores[:, None, :]).abs() / tau
    logits = logits.masked_fill(~mask[:, None, :], -1e9)
    P = torch.softmax(logits, dim=-1)
    row_present = torch.gather(mask, 1, order)
    return P * row_present[:, :, None].to(P.dtype), order


def hard_order(scores, mask):
    """Indices ordering points by decreasing score; ties by input index; absent points last."""
    key = torch.where(mask, -scores, torch.full_like(scores, float("inf")))
    return torch.sort(key.detach(), dim=1, stable=True).indices


class SortFrameNetwork(FrameNetwork):
    """S_n canonicalization by learned per-point scores (DeepSets) and a stable argsort.

    Parameters
    ----------
    group : Group
        One that permutes points (S_n).
    layout : PointLayout
        All columns of a point are features of its score (they must be invariant under
        the groups canonicalized before; see :class:`ComposedFrameNetwork`).
    hidden : int, default=64
    tau : float, default=0.1
        Temperature of the SoftSort relaxation used for gradients.
    scalar_stats : dict or None, default=None
        Training statistics of the scalar fields (:class:`~skcanon.nn._points.ScalarEncoder`).
    neighbourhood : bool, default=False
        Each point's score also reads its neighbourhood: a continuous-filter sum over the
        other points of the cloud, ``sum_j rbf(|z_i - z_j|) ⊗ u(h_j)`` — :data:`PAIR_RADII`
        Gaussian radial functions of the distance between the per-cloud standardized
        positions, times :data:`PAIR_CHANNELS` learned channels of each neighbour's features
        — next to the point's own features and the cloud's mean. Costs O(points²) per cloud
        in time and memory (``(n, points, points, PAIR_RADII)`` values per batch of ``n``).

    Notes
    -----
    Frames are index arrays ``(n, m)`` with ``x_canonical = x[frame]`` per sample — the
    skcanon S_n element format (see :class:`~skcanon.groups.PermutationGroup`).
    """

    #: models pickled before the option existed score points without their neighbourhood
    neighbourhood = False

    def __init__(self, group, layout, hidden=64, tau=0.1, scalar_stats=None, neighbourhood=False):
        super().__init__(group, layout, hidden)
        if not (group.permutes and len(group.factors) == 1):
            raise TypeError(f"SortFrameNetwork handles the permutations of points (S_n); got {group.name!r}.")
        group.check_layout(layout)
        H = self.hidden
        self.tau = float(tau)
        #: precision of the data hard orders are computed for (set by the canonicalizer)
        self.precision = np.dtype(np.float64)
        #: models saved by earlier versions standardize every column per cloud
        self.legacy_standardize = False
        fields = getattr(layout, "fields", None)
        if fields is None:  # a layout without fields: every column is a coordinate
            self.geo_columns = list(range(layout.width))
            self.geo_groups = [list(range(layout.width))]
            self.scalars = ScalarEncoder(_NoScalars(), None)
        else:
            self.geo_groups, self.geo_columns = [], []
            for f in fields:
                if f.kind != "scalar":
                    sl = layout.slice_of(f.name)
                    # positions within self.geo_columns of this field's columns
                    self.geo_groups.append(list(range(len(self.geo_columns),
                                                      len(self.geo_columns) + sl.stop - sl.start)))
                    self.geo_columns.extend(range(sl.start, sl.stop))
            self.scalars = ScalarEncoder(layout, scalar_stats)
        n_in = len(self.geo_columns) + self.scalars.n_out
        self.phi = nn.Sequential(nn.Linear(n_in, H), nn.SiLU(), nn.Linear(H, H), nn.SiLU())
        self.rho = nn.Sequential(nn.Linear(2 * H, H), nn.SiLU(), nn.Linear(H, 1))
        init_weights(self)
        self.neighbourhood = bool(neighbourhood)
        if self.neighbourhood:
            # drawn after the layers above, so that a seed gives the same phi either way
            pos = [c for f in (fields or ()) if f.kind == "position"
                   for c in range(layout.slice_of(f.name).start, layout.slice_of(f.name).stop)]
            #: positions within the standardized geometric columns (no fields: every column)
            self.pair_columns = ([i for i, c in enumerate(self.geo_columns) if c in pos] if fields is not None
                                 else list(range(len(self.geo_columns))))
            if not self.pair_columns:
                raise ValueError(f"neighbourhood=True needs a position field; layout {layout!r} has none.")
            self.pair_u = nn.Linear(H, PAIR_CHANNELS)
            self.rho = nn.Sequential(nn.Linear(2 * H + PAIR_RADII * PAIR_CHANNELS, H), nn.SiLU(), nn.Linear(H, 1))
            init_weights(self.pair_u)
            init_weights(self.rho)

    def scores(self, x):
        """Per-point scores ``(n, m)`` (permutation-equivariant) and the presence mask."""
        mask, w, x0, count = self._present(x)
        if getattr(self, "legacy_standardize", False):
            return self._legacy_scores(x0, w, count), mask
        feats = self._point_inputs(x0, w, count)
        h = self.phi(feats * w[..., None])
        ctx = masked_mean(h, w, count)
        parts = [h, ctx[:, None, :].expand_as(h)]
        if self.neighbourhood:
            parts.append(self._neighbourhood(feats, h, w, count))
        return self.rho(torch.cat(parts, -1))[..., 0], mask

    def _neighbourhood(self, feats, h, w, count):
        """``(n, m, PAIR_RADII * PAIR_CHANNELS)``: per point, the radial basis of its distances
        to the other present points (positions of unit spread per cloud: the first columns of
        ``feats``) times learned channels of their features, averaged over the cloud."""
        zp = feats[..., self.pair_columns] * w[..., None]
        d2 = ((zp[:, :, None, :] - zp[:, None, :, :]) ** 2).sum(-1)
        d = torch.where(d2 > 0, safe_sqrt(d2), torch.zeros((), dtype=h.dtype, device=h.device))
        centres = torch.linspace(0.0, PAIR_REACH, PAIR_RADII, dtype=h.dtype, device=h.device)
        rbf = torch.exp(-((d[..., None] - centres) / PAIR_WIDTH) ** 2) * w[:, None, :, None]
        u = self.pair_u(h) * w[..., None]
        n, m = w.shape
        return torch.einsum("nijk,njc->nikc", rbf, u).reshape(n, m, -1) / count[:, None, None]

    def _present(self, x):
        """Presence mask and weights, the input with its geometry rescaled and absent points
        zeroed, and the number of present points per cloud."""
        mask = present_mask(x)
        w = mask.to(x.dtype)
        xs, _ = rescale_geometry(x, self.geo_columns)
        x0 = torch.where(mask[..., None], xs, torch.zeros((), dtype=x.dtype, device=x.device))
        return mask, w, x0, w.sum(1).clamp_min(1.0)

    def _point_inputs(self, x0, w, count):
        """Each point's input features: its geometric columns standardized per cloud, then
        its scalar fields' features."""
        # coordinates standardized per cloud (invariant) so scores do not depend on the units
        g = x0[..., self.geo_columns]
        mu = masked_mean(g, w, count)
        var = masked_mean((g - mu[:, None]) ** 2 * w[..., None], w, count)
        # one spread per field (not per column): a column with (almost) no spread — the flat
        # axis of a planar cloud after the geometric frame — must not be blown up from its
        # rounding noise (float32 noise standardized to order one reorders points)
        spread = torch.zeros_like(var)
        coincide = torch.zeros_like(var, dtype=torch.bool)
        for cols in self.geo_groups:
            total = var[:, cols].sum(-1, keepdim=True)
            spread[:, cols] = total.expand(-1, len(cols))
            # points that coincide up to rounding: no spread, not unit-sized noise
            coincide[:, cols] = (total <= coincident_floor(g[..., cols])[:, None]).expand(-1, len(cols))
        sd = safe_sqrt(torch.where(coincide, torch.zeros_like(spread), spread))
        z = torch.where(coincide[:, None], torch.zeros((), dtype=g.dtype, device=g.device),
                        (g - mu[:, None]) / sd[:, None])
        # scalar fields keep the meaning they had in fit (training-set statistics, embeddings)
        return torch.cat([z, self.scalars(x0)], -1) if self.scalars.n_out else z

    def _legacy_scores(self, x0, w, count):
        """Scores of models saved before scalar fields kept their meaning: every column,
        scalars included, standardized per cloud and per column."""
        mu = masked_mean(x0, w, count)
        var = masked_mean((x0 - mu[:, None]) ** 2 * w[..., None], w, count)
        var = torch.where(var > 1e-24 * var.amax(-1, keepdim=True), var, torch.zeros_like(var))
        z = (x0 - mu[:, None]) / safe_sqrt(var)[:, None]
        h = self.phi(z * w[..., None])
        ctx = masked_mean(h, w, count)
        return self.rho(torch.cat([h, ctx[:, None, :].expand_as(h)], -1))[..., 0]

    def canonicalize(self, x):
        s, mask = self.scores(x)
        order = tolerant_order(s, x, mask, self.precision)
        return torch.gather(x, 1, order[:, :, None].expand(-1, -1, x.shape[2])), order

    def soft_canonicalize(self, x):
        s, mask = self.scores(x)
        P, order = soft_sort_matrix(s, mask, self.tau)
        x0 = torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        soft = torch.einsum("njm,nmw->njw", P, x0)
        hard = torch.gather(x0, 1, order[:, :, None].expand(-1, -1, x.shape[2]))
        out = hard + soft - soft.detach()  # straight-through: exact value, relaxed gradient
        present = torch.gather(mask, 1, order)
        nan = torch.full((), float("nan"), dtype=x.dtype, device=x.device)
        return torch.where(present[..., None], out, nan)

    def prior_loss(self, x):
        """Cross-entropy of the relaxed permutation towards the identity ordering."""
        s, mask = self.scores(x)
        P, _ = soft_sort_matrix(s, mask, self.tau)
        diag = torch.diagonal(P, dim1=1, dim2=2).clamp_min(1e-12)
        w = mask.to(x.dtype)  # present points come first in the identity ordering too
        return -(torch.log(diag) * w).sum() / w.sum().clamp_min(1.0)


class ComposedFrameNetwork(FrameNetwork):
    """Canonicalize a product group one factor network at a time.

    Parameters
    ----------
    group : ProductGroup
    layout : PointLayout
    networks : sequence of FrameNetwork
        One per factor, in the product's factor order.
    order : sequence of int
        Indices of ``networks`` in the order they run (rotations before permutations:
        a step must be invariant under the factors handled after it).
    """

    def __init__(self, group, layout, networks, order, hidden=64):
        super().__init__(group, layout, hidden)
        self.nets = nn.ModuleList(networks)
        self.run_order = [int(i) for i in order]

    def canonicalize(self, x):
        frames = [None] * len(self.nets)
        for i in self.run_order:
            x, frames[i] = self.nets[i].canonicalize(x)
        return x, tuple(frames)

    def soft_canonicalize(self, x):
        for i in self.run_order:
            x = self.nets[i].soft_canonicalize(x)
        return x

    def prior_loss(self, x):
        total = 0.0
        for i in self.run_order:
            total = total + self.nets[i].prior_loss(x)
            x = self.nets[i].canonicalize(x)[0]
        return total


class _NoScalars:
    fields = ()


def tolerant_order(scores, x, mask, precision=np.float64):
    """Hard order by decreasing score, near-ties settled by the ``sort`` heuristic's rule.

    Scores within float noise of each other (points related by a symmetry of the input,
    or close by chance) are compared on the points' own columns with
    :func:`~skcanon._kernels.lexsort.tolerant_lexsort` — the key is the score (rescaled to
    the columns' magnitude), then the columns — at the tolerance of ``precision`` (the
    dtype of the data). Absent points go last.
    """
    if x.shape[1] < 2:
        return hard_order(scores, mask)
    S = scores.detach().cpu().double().numpy()
    X = x.detach().cpu().double().numpy()
    present = mask.cpu().numpy()
    # largest finite magnitude per sample (0, then 1, for an all-absent one: no NaN warning)
    mag = np.max(np.where(np.isfinite(X), np.abs(X), 0.0), axis=(1, 2)) if X.size else np.zeros(0)
    mag = np.where(mag > 0, mag, 1.0)
    top = np.max(np.where(present, np.abs(S), 0.0), axis=1)
    top = np.where(top > 0, top, 1.0)
    key0 = np.where(present, -S * (mag / top)[:, None], np.nan)
    K = np.concatenate([key0[..., None], np.where(present[..., None], X, np.nan)], axis=-1)
    dtype = np.float32 if np.dtype(precision) == np.float32 else np.float64
    order = tolerant_lexsort(K.astype(dtype))
    return torch.as_tensor(np.ascontiguousarray(order), dtype=torch.int64, device=scores.device)


class AnchoredSortNetwork(SortFrameNetwork):
    """A learned residual score on top of the ``sort`` heuristic's order.

    Each point's score is ``-rank / n_points + gain · s(x)_i``, where ``rank`` is the
    point's position in the order of ``method="sort"`` with the same ``key_order``
    (``"scalars_first"``: tolerant lexicographic order of its scalar fields, then its other
    columns; ``"columns"``: the columns in layout order) and ``s`` the DeepSets score of
    :class:`SortFrameNetwork`; ``gain`` starts at
    0, so the untrained network orders the points exactly as the heuristic does.
    """

    def __init__(self, group, layout, hidden=64, tau=0.1, scalar_stats=None, key_order="scalars_first"):
        super().__init__(group, layout, hidden, tau, scalar_stats)
        self.gain = nn.Parameter(torch.zeros(()))
        self._key_columns = sort_key_columns(layout, key_order)
        self._key_groups = magnitude_groups(layout, self._key_columns)   # as the sort heuristic levels units

    def scores(self, x):
        s, mask = super().scores(x)
        dtype = np.float32 if np.dtype(self.precision) == np.float32 else np.float64
        keys = x.detach().cpu().numpy().astype(dtype)
        keys = keys if self._key_columns is None else keys[..., self._key_columns]
        groups = getattr(self, "_key_groups", None)
        levelled = None if groups is None else scaled_by_group(keys, groups)
        order = tolerant_lexsort(keys if levelled is None else levelled)
        n, m = order.shape
        rank = np.empty((n, m), dtype=np.float64)
        np.put_along_axis(rank, order, np.arange(m, dtype=np.float64)[None, :].repeat(n, 0), axis=1)
        base = -torch.as_tensor(rank / max(m, 1), dtype=x.dtype, device=x.device)
        return base + self.gain * s, mask

    def prior_loss(self, x):
        """``gain²``: the prior keeps the heuristic's order."""
        return self.gain ** 2
