"""Predictions on samples with a symmetry of their own, averaged over their stabilizers.

A sample with a symmetry of its own (a planar cloud under reflections, a rectangle under
E(2)×S_n, coincident points under S_n) has several equally valid frames: the frames of its
minimal frame set (:mod:`skcanon.frames`, as ``FrameAveragingRegressor(frames="minimal")``)
under which its canonical form is the same, ``h·s`` for ``s`` in its stabilizer. One frame
maps a prediction back in one of them, so ``predict(g·x) ≠ g·predict(x)``; the equivariant
answer is the average over the stabilizer, ``(1/|S|)·Σ_s s·predict(x)``. A cheap screen on
the canonical forms picks the samples whose frame set is computed; every other sample keeps
its one-frame prediction bit for bit.

The stabilizer is a property of the sample, not of the frame that canonicalized it: where
the frames come from a network (learned, random, anchored; ``EquivariantRegressor`` and the
end-to-end regressor), a ``pca`` (``pca+sort``) canonicalizer of the same group reads it
(:func:`stabilizer_stand_in`), and the network's prediction is averaged over it.
"""

from __future__ import annotations

import numpy as np

from ._batching import iter_batches
from ._canonicalizer import CanonicalizerTransformer
from .frames import frame_forms, map_back, parse_group, stabilizer_rows, symmetric_candidates, to_frames

__all__ = ["average_over_stabilizers", "heuristic_stand_in", "screened_forms", "stabilizer_stand_in",
           "symmetry_plan"]


def symmetry_plan(canon):
    """``(kind, spec, step)`` saying how the symmetric samples of the fitted
    :class:`~skcanon.CanonicalizerTransformer` ``canon`` are averaged, or None where the
    frame-set code cannot tell their symmetries. ``kind``: ``"frames"`` (a rotation group
    the frame-set code supports, canonicalized by the ``pca`` or ``orbit`` heuristic, points
    sorted by ``sort``: the stabilizer from the minimal frame set) or ``"ties"`` (no
    rotations, points permuted by ``sort``: coincident points exchanged); ``spec`` the
    :class:`~skcanon.frames.GroupSpec` and ``step`` the canonicalizer's PCA step
    (continuous groups), else None."""
    group, inner = canon.group_, canon.canonicalizer_
    factors = list(group.factors)
    steps = [inner] if len(factors) == 1 else list(getattr(inner, "steps", ()))
    if len(steps) != len(factors):
        return None                     # one network for the whole product
    methods = [getattr(step, "method", None) for step in steps]
    if any(f.permutes and not f.rotates and m != "sort" for f, m in zip(factors, methods)):
        return None                     # coincident points are adjacent in sorted forms only
    rotating = [k for k, f in enumerate(factors) if f.rotates]
    if not rotating:
        # translations, scalings and permutations fix a point set only by exchanging
        # coincident points
        return ("ties", None, None) if any(f.permutes for f in factors) else None
    try:
        spec = parse_group(group)
    except ValueError:
        return None
    k = rotating[0]
    if methods[k] == "pca" or (spec.finite and methods[k] == "orbit"):
        return "frames", spec, None if spec.finite else steps[k]
    return None                         # learned, random, anchored


def stabilizer_stand_in(canon, Xc):
    """A fitted ``pca`` (``pca+sort`` under S_n) canonicalizer of ``canon``'s group and
    layout that reads the stabilizers where ``canon`` (a fitted
    :class:`~skcanon.CanonicalizerTransformer`) cannot: a network of a group that rotates
    (:func:`heuristic_stand_in`, fitted on ``canon``'s canonical forms ``Xc``). None where
    ``canon``'s own frames give a plan."""
    if symmetry_plan(canon) is not None:
        return None
    return heuristic_stand_in(canon.group_, canon.layout_, Xc, fill_value=canon.fill_value,
                              batch_size=canon.batch_size, n_jobs=canon.n_jobs, key_order=canon.key_order)


def heuristic_stand_in(group, layout, X, **options):
    """A ``pca`` (``pca+sort`` where ``group`` permutes) canonicalizer of ``group`` and
    ``layout`` whose minimal frame sets read the stabilizers of symmetric samples, fitted
    on ``X`` (heuristics learn nothing from data but the layout's width; ``options``: more
    :class:`~skcanon.CanonicalizerTransformer` parameters). None where ``group`` does not
    rotate or the frame-set code cannot read its symmetries (groups that rescale)."""
    if not any(f.rotates for f in group.factors):
        return None
    method = "pca+sort" if any(f.permutes for f in group.factors) else "pca"
    heuristic = CanonicalizerTransformer(group, method, layout=layout, **options)
    try:
        heuristic.fit(X)
    except (TypeError, ValueError):
        return None                     # no heuristic of that method for this group
    plan = symmetry_plan(heuristic)
    return heuristic if plan is not None and plan[0] == "frames" else None


def screened_forms(canon, P, Xc, n_target_points):
    """``(W, per_point)``: ``canon``'s canonical forms ``Xc`` as a working array with
    absent points NaN, and whether ``y`` has one row per point of ``X`` (permuted with
    them); ``P``: the input's working array."""
    W = canon.layout_.to_working(Xc)
    permutes = any(f.permutes for f in canon.group_.factors)
    if canon.fill_value is not None:
        # the canonical forms hold fill_value for absent points: put NaN back, so that
        # absent points are neither moments nor ties
        absent = np.isnan(P).all(axis=2)
        if absent.any():
            if permutes:                # sorted forms: absent points last
                m = absent.shape[1]
                absent = np.arange(m) >= (m - absent.sum(axis=1))[:, None]
            W = np.where(absent[..., None], np.nan, W)
    return W, permutes and n_target_points == W.shape[1]


def average_over_stabilizers(plan, canon, P, Xc, frames, Y, target_layout):
    """The mapped-back predictions ``Y`` (working array of ``target_layout``) averaged over
    the stabilizer of the samples that have a symmetry, read from ``canon``'s canonical
    forms ``Xc`` and ``frames`` (a ``"frames"`` plan of ``canon``); ``P``: the input's
    working array. Rows of other samples are returned unchanged (``Y`` is updated in
    place)."""
    _, spec, _ = plan
    factors = canon.group_.factors
    W, per_point = screened_forms(canon, P, Xc, Y.shape[1])
    permutes = any(f.permutes for f in factors)
    parts = frames if isinstance(frames, tuple) else (frames,)
    h = parts[[f.rotates for f in factors].index(True)]                # the rotations' frames
    order = parts[[f.permutes for f in factors].index(True)] if permutes else None
    t = spec.geometric.translations(h) if spec.translating and not spec.finite else None
    candidates = symmetric_candidates(W, canon.layout_, spec, t, per_point)
    rows = np.flatnonzero(candidates)
    if rows.size:
        P = P[rows]
        for sl in iter_batches(rows.size, canon.batch_size):
            r = rows[sl]
            given = None
            if not spec.finite:
                # the PCA step's canonical forms (before the sort) and frames of these
                # samples, computed already: the frame set starts from them
                Z = W[r]
                if order is not None:
                    Z = np.empty_like(Z)
                    np.put_along_axis(Z, order[r][..., None], W[r], axis=1)
                given = _Canonicalized(plan[2], Z, h[r])
            averaged, changed = _stabilizer_average(plan, canon, P[sl], Y[r], per_point, target_layout, given)
            Y[r[changed]] = averaged[changed]
    return Y


def _stabilizer_average(plan, canon, P, Y, per_point, target_layout, given=None):
    """``(averaged, changed)`` for the samples ``P`` (working array) with one-frame
    predictions ``Y``: ``Y`` averaged over each sample's stabilizer ``h_j·h_1⁻¹`` — the
    frames ``h_j`` of its minimal frame set under which its canonical form is that of
    its first frame ``h_1`` (the same rounded form, as the finite groups' minimal frames
    compare them) — and which samples that changes (a symmetry, points left free, or tied
    points of a per-point ``y``)."""
    _, spec, step = plan
    n = P.shape[0]
    forms = frame_forms(P, canon.layout_, spec, "minimal", canonicalizer=step if given is None else given,
                        dtype=P.dtype)
    fs, (i, j), order = forms.frames, forms.rows, forms.order
    first = np.searchsorted(i, np.arange(n))
    keep = stabilizer_rows(forms, P.dtype, canon.layout_)
    i, j, f1 = i[keep], j[keep], first[i[keep]]
    if order is not None:
        order = (order[0][keep], order[1][keep])
    count = np.bincount(i, minlength=n)
    changed = count > 1
    if fs.free is not None:
        changed |= fs.free
    if fs.axis is not None:
        changed |= fs.axis.any(axis=1)
    if per_point and order is not None:
        runs = order[1]
        changed |= np.bincount(i, weights=runs[:, -1] < runs.shape[1] - 1, minlength=n) > 0
    if not changed.any():
        return Y, changed
    # the prediction in each sample's first frame, mapped back with each of its frames
    F = to_frames(fs, Y, target_layout, spec, (i, j[np.searchsorted(i, i)]),
                  None if order is None else (forms.order[0][f1], forms.order[1][f1]))
    back = map_back(fs, F, target_layout, spec, (i, j), order)
    averaged = np.add.reduceat(back / count[i][:, None, None], np.searchsorted(i, np.arange(n)), axis=0)
    return averaged, changed


class _Canonicalized:
    """The canonical forms ``Z`` and frames ``h`` that the PCA step ``step`` gave some samples
    already, handed to :func:`skcanon.frames.frame_forms` as the PCA canonicalizer of those
    samples (the general path of nearly symmetric samples is the costly one: not twice)."""

    method = "pca"

    def __init__(self, step, Z, h):
        self.group, self._Z, self._h = step.group, Z, h

    def canonicalize(self, P, layout, **_):
        if len(P) != len(self._Z):
            raise ValueError(f"canonical forms of {len(self._Z)} samples were given; P has {len(P)}.")
        return self._Z, self._h
