"""Rounding noise of canonical forms: coordinates that are 0 in exact arithmetic made 0.

A canonical form has coordinates that exact arithmetic makes 0: along an axis where the
form has no extent (a planar cloud's normal, every axis of points at one place, the third
axis of three points in 3-D), and, for frames built on the points, the coordinates a
frame's axis through a point leaves at 0. Computed, they come out as rounding noise of
either sign that differs between poses, and models that split or tie at 0 (trees,
gradient boosting, k-NN) then send the forms of one orbit to different places. The
helpers here find those coordinates and write exact zeros; the canonicalizer estimator
and frame averaging both use them.
"""

from __future__ import annotations

import numpy as np

from ._kernels.squares import axis_squares

__all__ = ["NOISE_AXIS", "OFFSET_ROUNDING", "geometric_slices", "noise_tolerance", "noise_axes",
           "noise_candidates", "zero_noise_axes", "zero_noise_axes_in_place", "zero_noise_entries"]

#: canonical coordinates along an axis whose whole extent (every present point's position
#: and attached vectors) is at most this fraction of the form's largest coordinate are
#: rounding noise (float64; float32's value below): :func:`zero_noise_axes`
NOISE_AXIS = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}
#: ... or at most this many rounding units of the translation the form's centring removed
OFFSET_ROUNDING = 8


def geometric_slices(layout):
    """The column slices of the layout's position and vector fields."""
    return [layout.slice_of(f.name) for f in layout.fields if f.is_geometric]


def noise_tolerance(Q, layout, dtype, offset=None):
    """``(extent, tol)``: the largest |coordinate| of each form ``Q[k]`` along each axis
    (``(n, d)``, present points' positions and attached vectors) and the size under which a
    coordinate of it is rounding noise (``(n, 1)``): :data:`NOISE_AXIS` of its largest
    coordinate, or :data:`OFFSET_ROUNDING` rounding units of ``offset[k]`` (the largest
    coordinate of the translation that translating groups removed), whichever is larger."""
    n = Q.shape[0]
    d = layout.n_dims
    extent = np.zeros((n, d), dtype=Q.dtype)
    for sl in geometric_slices(layout):
        A = np.abs(Q[..., sl]).reshape(n, -1, d)
        top = A.max(axis=1)                          # NaN where a sample has absent points
        gaps = np.isnan(top).any(axis=1)
        if gaps.any():
            top[gaps] = np.fmax.reduce(A[gaps], axis=1)
        np.fmax(extent, top, out=extent)
    extent = np.nan_to_num(extent, nan=0.0)
    tol = NOISE_AXIS.get(np.dtype(dtype), 1e-5) * extent.max(axis=1, keepdims=True)
    if offset is not None:
        # the centring's own rounding (a few units in the last place of the offset), not a
        # fraction of it: far from the origin a real thin axis is not noise
        eps = float(np.finfo(dtype).eps) if np.issubdtype(np.dtype(dtype), np.floating) else 2.2e-16
        tol = np.maximum(tol, OFFSET_ROUNDING * eps * np.nan_to_num(offset, nan=0.0)[:, None])
    return extent, tol


def noise_axes(Q, layout, dtype, offset=None):
    """``(n, d)`` bool: the canonical axes along which form ``Q[k]`` has no extent (every
    coordinate along it within :func:`noise_tolerance`)."""
    extent, tol = noise_tolerance(Q, layout, dtype, offset)
    return (extent <= tol) & (extent > 0)


def zero_noise_entries(Q, layout, dtype, offset=None):
    """``Q`` with every position or vector coordinate within :func:`noise_tolerance` of 0
    set to exactly 0: the coordinates that frames built on the points make zero (a frame's
    first axis through a point leaves that point's other coordinates at 0) come out as
    rounding noise of either sign, and a forest's splits at 0 sent the same form of two poses
    to different leaves (``"weighted"`` frames under O3: 17 of 20 generic clouds' moving
    targets were not equivariant, errors up to 0.21)."""
    if not geometric_slices(layout) or Q.size == 0:
        return Q
    _, tol = noise_tolerance(Q, layout, dtype, offset)
    bound = tol.reshape((-1,) + (1,) * (Q.ndim - 1))
    Q = Q.copy()
    for sl in geometric_slices(layout):
        block = Q[..., sl]
        with np.errstate(invalid="ignore"):
            block[np.abs(block) <= bound] = 0.0          # NaN (absent points) compares False
        Q[..., sl] = block
    return Q


def noise_candidates(Q, layout, dtype, offset_squared=None):
    """Indices of the forms that can have an axis of no extent (:func:`noise_axes`), by a
    screen that is cheap on generic forms: along such an axis every coordinate is within
    the tolerance, so its sum of squares is at most ``m·tol²``, and ``tol²`` is at most
    :data:`NOISE_AXIS`² times the form's total sum of squares, or the offset's rounding term
    (``offset_squared``: per form, at least the square of the offset :func:`noise_tolerance`
    takes, e.g. the input's sum of squared position coordinates)."""
    slices = geometric_slices(layout)
    if not slices or Q.size == 0:
        return np.empty(0, dtype=np.intp)
    d = layout.n_dims
    ss, m = axis_squares(Q, slices, d)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        # column by column: numpy reduces a short last axis slowly
        columns = [ss[:, k] for k in range(d)]
        total = sum(columns[1:], columns[0].copy())
        bound = NOISE_AXIS.get(np.dtype(dtype), 1e-5) ** 2 * total
        if offset_squared is not None:
            eps = float(np.finfo(dtype).eps) if np.issubdtype(np.dtype(dtype), np.floating) else 2.2e-16
            rounding = (OFFSET_ROUNDING * eps) ** 2 * np.nan_to_num(offset_squared, nan=np.inf)
            bound = np.maximum(bound, rounding)
        smallest = columns[0].copy()
        for column in columns[1:]:
            np.minimum(smallest, column, out=smallest)
        # room for the sums' own rounding (float32 sums of the numpy pass: m units at most)
        unit = np.finfo(ss.dtype if np.issubdtype(ss.dtype, np.floating) else np.float64).eps
        margin = 1 + 1e-6 + 2 * m * float(unit)
        # squares beyond the dtype's range (forms near its largest values) leave the decision
        # to the exact test
        return np.flatnonzero((smallest <= m * bound * margin) | ~np.isfinite(total))


def _noise_rows(Q, layout, dtype, offset, among):
    """``(rows, noise)``: the rows of ``Q`` with an axis of no extent and those axes, or None."""
    if not geometric_slices(layout) or Q.size == 0:
        return None
    rows = np.arange(len(Q)) if among is None else np.asarray(among)
    if not rows.size:
        return None
    noise = noise_axes(Q[rows], layout, dtype, None if offset is None else offset[rows])
    keep = noise.any(axis=1)
    return (rows[keep], noise[keep]) if keep.any() else None


def _write_zeros(Q, layout, rows, noise):
    sub = Q[rows]                                    # a copy, written back once
    for sl in geometric_slices(layout):
        block = sub[..., sl].reshape(len(rows), Q.shape[1], -1, layout.n_dims)
        block[np.broadcast_to(noise[:, None, None, :], block.shape) & ~np.isnan(block)] = 0.0
        sub[..., sl] = block.reshape(len(rows), Q.shape[1], -1)
    Q[rows] = sub


def zero_noise_axes_in_place(Q, layout, dtype, offset=None, among=None):
    """Set the coordinates of ``Q`` along the canonical axes where a form has no extent
    (:func:`noise_axes`) to exactly 0, writing into ``Q``; ``among``: the only rows that can
    have such axes (None: every row)."""
    found = _noise_rows(Q, layout, dtype, offset, among)
    if found is not None:
        _write_zeros(Q, layout, *found)


def zero_noise_axes(Q, layout, dtype, offset=None, among=None):
    """``Q`` (a copy where anything changes) with the coordinates along canonical axes where
    a form has no extent (:func:`noise_axes`: a planar cloud's normal, every axis of points
    at one place) set to exactly 0. Those are rounding noise of either sign, which differs
    between poses: a tree's split at 0 or a k-NN tie then sent mirror-related forms to
    different leaves, and the average over the frames that flip such an axis lost its
    symmetry (a planar cloud's predicted points left the plane by 0.27). ``among``: the only
    rows that can have such axes (None: every row)."""
    found = _noise_rows(Q, layout, dtype, offset, among)
    if found is None:
        return Q
    Q = Q.copy()
    _write_zeros(Q, layout, *found)
    return Q
