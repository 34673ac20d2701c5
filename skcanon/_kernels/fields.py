"""Which fields of a point layout frames are computed from, and per-sample normalisation.

One concern: reading the geometric field (positions, else vectors) and the other fields
out of a layout's working array, with presence weights for absent (all-NaN) points, and the
per-sample arithmetic on them that frames and fast paths share (centroids, rescaling to a
largest norm of 1, shifting or dividing geometric columns).
"""

from __future__ import annotations

import numpy as np

def geometric_field(layout):
    """The field frames are computed from: the first position field, else the first vector."""
    fields = [f for f in layout.fields if f.kind == "position"] or [
        f for f in layout.fields if f.kind == "vector"
    ]
    if not fields:
        raise ValueError(
            f"This method needs a position or vector field to compute frames; layout {layout!r} "
            "has only scalars."
        )
    return fields[0]


def geometric_points(P, layout):
    """Float64 points and presence weights that frames are computed from.

    Uses :func:`geometric_field` (the first position field, or, when there is none, the
    first vector field); absent points (all-NaN rows) get weight 0 and coordinates 0.

    Returns ``(Y, w, is_position)`` with ``Y`` of shape ``(n, m, d)`` and ``w`` of shape
    ``(n, m)``.
    """
    field = geometric_field(layout)
    Y = np.asarray(P[..., layout.slice_of(field.name)], dtype=np.float64)
    present = ~np.isnan(P).all(axis=2) if np.issubdtype(P.dtype, np.floating) else np.ones(P.shape[:2], bool)
    Y = np.where(present[..., None], Y, 0.0)
    return Y, present.astype(np.float64), field.kind == "position"


def attached_fields(P, layout, centroid=None):
    """The fields besides :func:`geometric_field`, for the tie rules of frames.

    Returns ``(V, S)``: ``V`` of shape ``(n, m, q, d)`` float64, the other position fields
    (minus ``centroid`` when given, as the frame's own points are) and the vector fields;
    ``S`` of shape ``(n, m, s)`` float64, the scalar fields. Absent points hold NaN.
    """
    own = geometric_field(layout)
    n, m = P.shape[:2]
    d = layout.n_dims
    vectors, scalars = [], []
    for f in layout.fields:
        if f.name == own.name:
            continue
        block = np.asarray(P[..., layout.slice_of(f.name)], dtype=np.float64)
        if f.kind == "scalar":
            scalars.append(block)
        elif f.kind == "position" and centroid is not None:
            vectors.append(block - centroid[:, None, :])
        else:
            vectors.append(block)
    V = np.stack(vectors, axis=2) if vectors else np.empty((n, m, 0, d))
    S = np.concatenate(scalars, axis=2) if scalars else np.empty((n, m, 0))
    return V, S


def weighted_centroid(Y, w):
    """``(n, m, d)`` points and ``(n, m)`` non-negative weights → ``(n, d)`` centroids."""
    W = w.sum(axis=1)
    safe = np.where(W > 0, W, 1.0)
    return np.einsum("nm,nmd->nd", w, Y) / safe[:, None]


def point_means(T):
    """``(n, k, m)`` → ``(n, k)``: each row's mean over its last axis (the points), in
    ``T``'s dtype. Summed in float64 through einsum's buffers (no float64 copy of ``T``): a
    float32 sum over many points far from the origin loses the centroid (0.23 for 100,000
    points of spread 1-3 at 3,000 from it); the weights ``1/m``, not a sum divided after,
    keep a sample's bits independent of its batch."""
    m = T.shape[-1]
    return np.einsum("nkm,m->nk", T, np.full(m, 1.0 / m), dtype=np.float64).astype(T.dtype, copy=False)


def rescale_points(Y, w):
    """``(Y / a, a)`` with ``a`` the largest norm of each sample's present points (1 where
    there is none, the largest ``|coordinate|`` where the norm itself overflows; computed
    from the largest ``|coordinate|`` first, so it does not overflow): frames do not depend
    on size, and the rescaled points neither overflow nor underflow when squared or cubed."""
    Y = np.where(w[..., None] > 0, Y, 0.0)
    top = np.max(np.abs(Y), axis=(1, 2))
    top = np.where((top > 0) & np.isfinite(top), top, 1.0)
    with np.errstate(over="ignore"):  # a norm beyond the dtype's range: see below
        a = top * np.max(np.linalg.norm(Y / top[:, None, None], axis=2), axis=1)
    # where the largest norm overflows, the largest |coordinate| still scales the points
    # into norms of at most √d
    a = np.where(np.isfinite(a), a, top)
    a = np.where(a > 0, a, 1.0)
    return Y / a[:, None, None], a


def pow2_rescale(Y, present):
    """``(Y · 2^-e, e)``: each sample scaled by the power of two that brings its largest
    present ``|coordinate|`` into ``[0.5, 1)`` (``e`` = 0 for a sample without one), so its
    squares and cubes neither overflow nor underflow. Unlike :func:`rescale_points` the
    scaling is exact: quantities that do not depend on size come out bit for bit as from
    ``Y`` itself wherever those powers of ``Y`` are normal numbers. Absent entries (NaN, or
    ``present`` 0) are kept as they are."""
    mag = np.where(present[..., None] > 0, np.abs(Y), 0.0)
    top = np.where(np.isnan(mag), 0.0, mag).max(axis=(1, 2), initial=0.0)
    e = np.where((top > 0) & np.isfinite(top), np.frexp(top)[1], 0).astype(np.int32)
    return np.ldexp(Y, -e[:, None, None]), e


def attached_vectors(P, layout, centre=None):
    """The vector fields and other position fields (about ``centre``) of the samples ``P`` as
    ``(V, present)``: ``(n, m·q, d)`` vectors, scaled by a power of two per sample
    (:func:`pow2_rescale`; the scale is returned as ``e``), and which of them belong to
    present points. Returns ``(V, present, e)``."""
    V, _ = attached_fields(P, layout, centre)
    V = V.reshape(len(V), -1, V.shape[-1])
    present = ~np.isnan(V).any(axis=2)
    V, e = pow2_rescale(np.where(present[..., None], V, 0.0), present)
    return V, present, e


def attached_radius(P, layout, centre=None):
    """RMS norm of the vector fields and other position fields (those about ``centre``;
    about the origin when None), 1 where they have none: the size of a sample whose frame
    points all coincide (or all sit at the origin)."""
    V, present, e = attached_vectors(P, layout, centre)
    ms = np.einsum("nkd,nkd->n", V, V) / np.maximum(present.sum(axis=1), 1)
    return np.where(ms > 0, np.ldexp(np.sqrt(ms), e), 1.0)


def shift_columns(Y, c, out):
    """``out[:, :, k] = Y[:, :, k] - c[:, k]`` one column at a time (a broadcast over the
    small trailing axis is several times slower in numpy)."""
    c = c.astype(Y.dtype, copy=False)
    for k in range(Y.shape[2]):
        np.subtract(Y[:, :, k], c[:, k, None], out=out[:, :, k])
    return out


def divide_geometric(P, layout, s):
    """``P`` with its geometric fields divided by the per-sample ``s``, in float64 so that a
    factor ``1/s`` beyond the working dtype's range (tiny float32 samples) cannot overflow."""
    out = P.copy()
    for f in layout.fields:
        if f.is_geometric:
            fs = layout.slice_of(f.name)
            out[..., fs] = (np.asarray(P[..., fs], dtype=np.float64) / s[:, None, None]).astype(P.dtype)
    return out
