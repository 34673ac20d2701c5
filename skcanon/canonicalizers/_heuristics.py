"""Fixed (non-learned) canonicalizers: centroid, scale, PCA frames, image moments, sort."""

from __future__ import annotations

import numpy as np

from ..groups import CyclicGroup, DihedralGroup, EuclideanGroup, OrthogonalGroup
from ._base import Canonicalizer, attached_fields, geometric_field, geometric_points
from ._frames import SIGN_RTOL, fast_pca, pca_frames, rescale_points, sym_eig_desc, weighted_centroid

#: relative tolerance under which two sort keys count as equal (per input dtype); for
#: float32 about 800 rounding units, so that keys computed from rotated float32 points
#: (a pca frame first) do not split ties that their rounding perturbs
SORT_RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}


class CentroidCanonicalizer(Canonicalizer):
    """T(d): move the mean of the present points' positions to the origin.

    Frame: the centroid ``c(x)``; ``c(x + t) = c(x) + t``. Cost ``O(n·m·d)``.
    """

    method = "centroid"
    priority = 0

    def frames(self, P, layout):
        Y, w, is_position = geometric_points(P, layout)
        if not is_position:
            raise ValueError("method='centroid' needs a position field in the layout.")
        return weighted_centroid(Y, w)

    def canonicalize(self, P, layout):
        if P.dtype not in (np.float32, np.float64) or not layout.has_positions or 0 in P.shape[:2]:
            return super().canonicalize(P, layout)
        n, m, _ = P.shape
        sl = layout.slice_of(geometric_field(layout).name)
        T = np.ascontiguousarray(np.swapaxes(P[..., sl], 1, 2))
        with np.errstate(over="ignore", invalid="ignore"):
            c = np.einsum("nkm,m->nk", T, np.full(m, 1.0 / m, dtype=P.dtype))
        if not np.isfinite(c).all():  # absent (NaN) points: the general path weighs them out
            return super().canonicalize(P, layout)
        out = P.copy() if layout.width != sl.stop - sl.start else np.empty_like(P)
        for pos in layout.slices("position"):
            shift_columns(P[..., pos], c, out[..., pos])
        return out, c.astype(np.float64)


#: per dtype, sums of squares the scale fast path trusts (precise, not near overflow)
_SQUARE_RANGE = {np.dtype(np.float32): (1e-30, 1e36), np.dtype(np.float64): (1e-290, 1e300)}


def divide_geometric(P, layout, s):
    """``P`` with its geometric fields divided by the per-sample ``s``, in float64 so that a
    factor ``1/s`` beyond the working dtype's range (tiny float32 samples) cannot overflow."""
    out = P.copy()
    for f in layout.fields:
        if f.is_geometric:
            fs = layout.slice_of(f.name)
            out[..., fs] = (np.asarray(P[..., fs], dtype=np.float64) / s[:, None, None]).astype(P.dtype)
    return out


class ScaleCanonicalizer(Canonicalizer):
    """Scaling: divide positions and vectors by their root-mean-square norm.

    Frame: ``s(x) = sqrt(mean_i |x_i|²)`` over present points (about the origin);
    ``s(λx) = λ s(x)``. All-zero samples get ``s = 1``.
    """

    method = "scale"
    priority = 1

    def frames(self, P, layout):
        Y, w, _ = geometric_points(P, layout)
        W = np.maximum(w.sum(axis=1), 1.0)
        # from points rescaled to a largest norm of 1: no overflow or underflow in the squares
        Y, a = rescale_points(Y, w)
        s = np.sqrt(np.einsum("nm,nmd->n", w, Y**2) / W) * a
        return np.where(s > 0, s, 1.0)

    def canonicalize(self, P, layout):
        if P.dtype not in (np.float32, np.float64) or 0 in P.shape[:2]:
            return super().canonicalize(P, layout)
        n, m, _ = P.shape
        sl = layout.slice_of(geometric_field(layout).name)
        with np.errstate(over="ignore", invalid="ignore"):
            if sl.stop - sl.start == layout.width:
                flat = P.reshape(n, -1)
                ss = np.einsum("ni,ni->n", flat, flat)
            else:
                Y = P[..., sl]
                ss = np.einsum("nmd,nmd->n", Y, Y)
        # absent (NaN) points, or squares that overflow or lose precision to underflow in the
        # working dtype (all-zero samples too, which may be underflow): the general path
        # weighs them out and rescales
        low, high = _SQUARE_RANGE[P.dtype]
        if not ((ss > low) & (ss < high)).all():
            return self._divide(P, layout, self.frames(P, layout))
        s = np.sqrt(ss.astype(np.float64) / m)
        s = np.where(s > 0, s, 1.0)
        inv = (1.0 / s).astype(P.dtype)
        if all(f.is_geometric for f in layout.fields):
            return (P.reshape(n, -1) * inv[:, None]).reshape(P.shape), s
        out = P.copy()
        for f in layout.fields:
            if f.is_geometric:
                fs = layout.slice_of(f.name)
                out[..., fs] = P[..., fs] * inv[:, None, None]
        return out, s

    @staticmethod
    def _divide(P, layout, s):
        return divide_geometric(P, layout, s), s


class PCACanonicalizer(Canonicalizer):
    """O(d), SO(d), E(d), SE(d) — and C_n/D_n on 2-D points — by principal axes.

    The covariance of the present points about their centroid gives the axes (by
    decreasing variance); the sign of each axis makes the third moment along it positive,
    and for SO(d)/SE(d) the least certain axis is flipped when the determinant is -1. For
    E(d)/SE(d) the frame also carries the centroid as its translation. Repeated
    eigenvalues and symmetric shapes follow the rules in :mod:`skcanon.canonicalizers`.
    For C_n/D_n the continuous frame is rounded to the nearest group element.
    Cost ``O(n·m·d²)`` plus a batched ``d×d`` eigendecomposition.
    """

    method = "pca"

    def check_layout(self, layout):
        if getattr(layout, "kind", None) != "points":
            raise ValueError(
                f"method='pca' works on point sets; for images use method='moments'. Got {layout!r}."
            )
        self.group.check_layout(layout)

    def frames(self, P, layout):
        Y, w, _ = geometric_points(P, layout)
        if not np.isfinite(Y).all():
            raise ValueError("X has infinite coordinates (an overflow before canonicalization?): "
                             "PCA frames need finite positions.")
        # frames do not depend on size: work on points rescaled to a largest coordinate of 1
        # (no overflow or underflow in squares and cubes, whatever the input's magnitude)
        Y, a = rescale_points(Y, w)
        c = weighted_centroid(Y, w)
        g = self.group
        special = getattr(g, "special", isinstance(g, CyclicGroup))
        translating = isinstance(g, EuclideanGroup)
        E = pca_frames(Y - c[:, None, :], w, special=special, offset=None if translating else c,
                       magnitude=np.max(np.einsum("nmd,nmd->nm", Y, Y), axis=1), eps=_rounding(P),
                       attached=lambda i: attached_fields(P[i], layout, (c * a[:, None])[i] if translating else None))
        c = c * a[:, None]
        if translating:
            return g.from_parts(E, c)
        if isinstance(g, OrthogonalGroup):
            return E
        return planar_element(g, E)

    def canonicalize(self, P, layout):
        """Canonical forms and frames; a vectorized fast path serves samples without
        absent points whose axes and signs are clearly determined (generic data), the
        general path (:meth:`frames`, then the group action) all others."""
        g = self.group
        translating = isinstance(g, EuclideanGroup)
        if (P.dtype not in (np.float32, np.float64) or not isinstance(g, (OrthogonalGroup, EuclideanGroup))
                or (translating and not layout.has_positions) or 0 in P.shape[:2]):
            return super().canonicalize(P, layout)
        out, h, ok = self._fast_canonicalize(P, layout)
        rest = np.flatnonzero(~ok)
        if rest.size and P.dtype != np.float64:
            # float32 rounding leaves some signs too close to call; float64 settles most
            # (samples with absent points go straight to the general path); the tie
            # tolerances stay those of the input's rounding
            retry = rest[np.isfinite(P[rest]).all(axis=(1, 2))]
            if retry.size:
                out64, h64, ok64 = self._fast_canonicalize(P[retry].astype(np.float64), layout,
                                                           eps=_rounding(P))
                out[retry[ok64]], h[retry[ok64]] = out64[ok64], h64[ok64]
                rest = np.setdiff1d(rest, retry[ok64], assume_unique=True)
        if rest.size:
            # everything the fast path refused goes through the general path
            out[rest], h[rest] = super().canonicalize(P[rest], layout)
        return out, h

    def _fast_canonicalize(self, P, layout, eps=None):
        """``(out, frames, ok)`` from :func:`fast_pca`; rows where ``ok`` is False are
        placeholders for the general path to overwrite."""
        g = self.group
        translating = isinstance(g, EuclideanGroup)
        field = geometric_field(layout)
        sl = layout.slice_of(field.name)
        # absent points make a sample's centroid NaN: fast_pca refuses it (no separate pass)
        E, c, Z, ok = fast_pca(P[..., sl], special=g.special, centre=translating, eps=eps)
        if layout.width == sl.stop - sl.start:
            out = Z  # the frame's own field is the whole sample
        else:
            out = np.empty_like(P)
            Ed = E.astype(P.dtype)
            for f in layout.fields:
                fs = layout.slice_of(f.name)
                if not f.is_geometric:
                    out[..., fs] = P[..., fs]
                elif f.name == field.name:
                    out[..., fs] = Z
                elif f.kind == "position" and translating:
                    shift = np.einsum("nd,nde->ne", c, E).astype(P.dtype)
                    shift_columns(np.matmul(P[..., fs], Ed), shift, out[..., fs])
                else:
                    out[..., fs] = np.matmul(P[..., fs], Ed)
        return out, (g.from_parts(E, c) if translating else E), ok


def _rounding(P):
    """Rounding unit of the working array's dtype (float64's for integer input)."""
    return float(np.finfo(P.dtype).eps) if np.issubdtype(P.dtype, np.floating) else float(np.finfo(np.float64).eps)


def shift_columns(Y, c, out):
    """``out[:, :, k] = Y[:, :, k] - c[:, k]`` one column at a time (a broadcast over the
    small trailing axis is several times slower in numpy)."""
    c = c.astype(Y.dtype, copy=False)
    for k in range(Y.shape[2]):
        np.subtract(Y[:, :, k], c[:, k, None], out=out[:, :, k])
    return out


class MomentsCanonicalizer(Canonicalizer):
    """SO(2), O(2), C_n, D_n on images: orientation from intensity moments.

    Treats pixels as 2-D points weighted by ``|intensity|`` (summed over channels), with
    ``x`` to the right and ``y`` up about the image centre, and takes their PCA frame
    (third-moment signs; see :class:`PCACanonicalizer`). SO(2)/O(2) rotate by the
    continuous angle (interpolated); C_n/D_n round it to the nearest group element, which is
    exact for multiples of 90°. Isotropic images (equal second moments, e.g. a disc) fall
    back to the point rule, which for images depends on the pixel grid; blank images get
    the identity.
    """

    method = "moments"

    def check_layout(self, layout):
        if getattr(layout, "kind", None) != "image":
            raise ValueError(
                f"method='moments' works on images (layout=ImageLayout or 'image'); got {layout!r}."
            )
        self.group.check_layout(layout)

    def frames(self, P, layout):
        n, _, h, w_ = P.shape
        grid = _pixel_grid(h, w_)
        weights = np.abs(np.asarray(P, dtype=np.float64)).sum(axis=1).reshape(n, -1)
        g = self.group
        special = isinstance(g, CyclicGroup) or getattr(g, "special", False)
        E, ok = _fast_image_frames(weights, grid, special)
        if not ok.all():
            # ambiguous images (blank, isotropic, undecided signs) take the general rules
            rest = np.flatnonzero(~ok)
            Y = np.broadcast_to(grid, (rest.size,) + grid.shape)
            c = weighted_centroid(Y, weights[rest])
            E[rest] = pca_frames(Y - c[:, None, :], weights[rest], special=special, resolve_ties=False,
                                 offset=c)
        if isinstance(g, OrthogonalGroup):
            return E
        return planar_element(g, E)


def _pixel_grid(h, w):
    """Pixel centres as 2-D points: ``x`` to the right, ``y`` up, origin at the image centre."""
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return np.stack([cols - (w - 1) / 2.0, (h - 1) / 2.0 - rows], -1).reshape(-1, 2)


def _fast_image_frames(weights, grid, special):
    """The moments frame from raw moments up to order 3, obtained with one matrix product.

    Reproduces :func:`pca_frames` for images whose covariance eigenvalues are well separated
    and whose axis signs are decided by the third moments; ``ok`` is False for all others.
    """
    x, y = grid[:, 0], grid[:, 1]
    monomials = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y,
                          x**3, x * x * y, x * y * y, y**3], axis=1)
    W = weights.sum(axis=1)
    m = (weights @ monomials) / np.where(W > 0, W, 1.0)[:, None]
    cx, cy = m[:, 1], m[:, 2]
    cov = np.empty((len(m), 2, 2))
    cov[:, 0, 0] = m[:, 3] - cx * cx
    cov[:, 0, 1] = cov[:, 1, 0] = m[:, 4] - cx * cy
    cov[:, 1, 1] = m[:, 5] - cy * cy
    # central third moments
    mu30 = m[:, 6] - 3 * cx * m[:, 3] + 2 * cx**3
    mu21 = m[:, 7] - 2 * cx * m[:, 4] - cy * m[:, 3] + 2 * cx * cx * cy
    mu12 = m[:, 8] - 2 * cy * m[:, 4] - cx * m[:, 5] + 2 * cx * cy * cy
    mu03 = m[:, 9] - 3 * cy * m[:, 5] + 2 * cy**3
    lam, E, reliable = sym_eig_desc(cov)
    a, b = E[:, 0, :], E[:, 1, :]  # components of each axis, (n, 2)
    m3 = (a**3 * mu30[:, None] + 3 * a * a * b * mu21[:, None] + 3 * a * b * b * mu12[:, None]
          + b**3 * mu03[:, None])
    size = np.maximum(np.maximum(lam, 0.0).sum(axis=1, keepdims=True) ** 1.5, 1e-300)
    # the margin keeps samples near the general path's thresholds on the general path
    decided = np.abs(m3) > 100 * SIGN_RTOL * size
    E = E * np.where(decided, np.sign(m3), 1.0)[:, None, :]
    if special:
        flip = np.linalg.det(E) < 0
        weakest = np.argmin(np.abs(m3) / size, axis=1)
        rows = np.flatnonzero(flip)
        E[rows, :, weakest[rows]] *= -1
    ok = reliable & decided.all(axis=1) & (W > 0)
    return E, ok


def planar_element(group, E):
    """Round 2-D orthonormal frames ``E`` to the nearest element of C_n or D_n."""
    if isinstance(group, DihedralGroup):
        reflect = np.linalg.det(E) < 0
        # E = R(θ)·diag(-1, 1) for reflections, so R(θ) = E·diag(-1, 1)
        rot = np.where(reflect[:, None, None], E * np.array([-1.0, 1.0]), E)
        k = _nearest_step(rot, group.n)
        return k + group.n * reflect.astype(np.int64)
    if isinstance(group, CyclicGroup):
        return _nearest_step(E, group.n)
    raise TypeError(f"Cannot round a planar frame to an element of {group.name}.")


#: fraction of a step under which a frame angle counts as exactly half-way between two
#: group elements (a symmetric sample, e.g. one bright pixel on a diagonal)
STEP_TIE = 1e-6


def _nearest_step(R, n):
    """Nearest rotation step ``k`` (angle ``2πk/n``) to the frames ``R``. Half-way angles go
    up (``floor(x + 1/2)``, with a small tolerance for rounding): unlike numpy's
    round-half-to-even, this commutes with rotating by whole steps, so the canonical form of
    a sample whose frame lies exactly between two steps is invariant too."""
    theta = np.arctan2(R[:, 1, 0], R[:, 0, 0])
    return np.mod(np.floor(theta * n / (2 * np.pi) + 0.5 + STEP_TIE).astype(np.int64), n)


def sort_key_columns(layout, key_order):
    """Column order of the ``sort`` key: ``None`` for the layout's own order
    (``key_order="columns"``); for ``"scalars_first"`` the scalar fields' columns, then the
    others, each in layout order (shared with the anchored network's base order)."""
    if key_order == "columns" or not hasattr(layout, "fields"):
        return None
    scalar, other = [], []
    for f in layout.fields:
        sl = layout.slice_of(f.name)
        (scalar if f.kind == "scalar" else other).extend(range(sl.start, sl.stop))
    return None if not scalar or not other else np.array(scalar + other)


class SortCanonicalizer(Canonicalizer):
    """S_n: order the points lexicographically by their columns.

    Keys are compared column by column; values closer than a relative tolerance
    (``1e-9`` of the sample's largest magnitude for float64 input, ``1e-4`` for float32)
    count as equal so that float noise does not reorder tied points. Remaining ties
    (duplicate points) keep their input order — the canonical output is the same
    whichever duplicate comes first. Absent points (NaN rows) go last.
    Cost: one ``argsort`` per sample for generic data, one more per column where ties occur.

    Parameters
    ----------
    group : PermutationGroup
    key_order : {"columns", "scalars_first"}, default="columns"
        Which columns lead the key: the layout's own order (positions first, as the columns
        come), or the scalar fields first (e.g. atomic numbers, then coordinates), so that
        points of one kind are grouped together before their coordinates order them.
    """

    method = "sort"
    priority = 3
    #: constructor options a transformer may pass on
    options = ("key_order",)
    #: accepted values of ``key_order``
    KEY_ORDERS = ("columns", "scalars_first")

    def __init__(self, group, key_order="columns"):
        super().__init__(group)
        if key_order not in self.KEY_ORDERS:
            raise ValueError(f"key_order must be one of {self.KEY_ORDERS}; got {key_order!r}.")
        self.key_order = key_order

    def __setstate__(self, state):
        state.setdefault("key_order", "columns")  # pickled before key_order existed
        self.__dict__.update(state)

    def check_layout(self, layout):
        if getattr(layout, "kind", None) == "graph":
            raise ValueError("method='sort' orders rows only; graphs also permute adjacency columns. "
                             "Use method='wl' for graphs.")
        self.group.check_layout(layout)

    def _key_columns(self, layout):
        return sort_key_columns(layout, self.key_order)

    def frames(self, P, layout):
        cols = self._key_columns(layout)
        return tolerant_lexsort(P if cols is None else P[..., cols])

    def canonicalize(self, P, layout):
        cols = self._key_columns(layout)
        if cols is not None:
            h = self.frames(P, layout)
            return gather_points(P, h), h
        h, out = _fast_lexsort(P)
        if h is None:
            h = tolerant_lexsort(P)
            out = gather_points(P, h)
        return out, h


def gather_points(P, order):
    """``out[i] = P[i, order[i]]`` for ``(n, m, w)`` ``P``: one flat ``take`` of whole
    point rows (several times faster than ``take_along_axis`` on a small trailing axis)."""
    n, m, w = P.shape
    flat = (order + (np.arange(n, dtype=np.intp) * m)[:, None]).reshape(-1)
    rows = np.ascontiguousarray(P).reshape(n * m, w)
    return np.take(rows, flat, axis=0).reshape(n, m, w)


def _fast_lexsort(P, gather=True):
    """Order and sorted points for float input without NaN/inf, or ``(None, None)``.

    One key sort of the first column serves every sample whose first column has no
    tolerant tie — the order of distinct keys is unique, so how equal keys are ordered
    does not matter there; only samples with ties take the column-by-column refinement.
    """
    V = np.asarray(P)
    n, m, width = V.shape
    if V.dtype not in (np.float32, np.float64) or not n or m < 2 or m > _MAX_KEY_POINTS:
        return None, None
    flat = V.reshape(n, -1)
    scale = np.abs(flat).max(axis=1)   # NaN and inf propagate: one check covers them
    if not np.isfinite(scale).all():
        return None, None
    tol = (SORT_RTOL[V.dtype] * np.maximum(scale, np.finfo(V.dtype).tiny)).astype(V.dtype)
    first = V[:, :, 0]
    order = _row_argsort(first, exact=False)
    out = gather_points(V, order) if gather else None
    keys = out[:, :, 0] if gather else np.take_along_axis(first, order, axis=1)
    tied = np.flatnonzero(_rows_any(np.subtract(keys[:, 1:], keys[:, :-1]) <= tol[:, None]))
    if tied.size and V.dtype == np.float32 and width > 1:
        # most float32 ties are isolated pairs of neighbours: put each pair in the order the
        # column-by-column refinement gives, without re-sorting; chains of 3+ take the loop
        mask = np.subtract(keys[tied, 1:], keys[tied, :-1]) <= tol[tied, None]
        chain = _rows_any(mask[:, 1:] & mask[:, :-1])
        _order_tied_pairs(V, order, out, tied[~chain], mask[~chain], tol)
        tied = tied[chain]
    if tied.size:
        # float32 keys are exact: the first column's order is already the stable one
        start = order[tied] if V.dtype == np.float32 else None
        with np.errstate(invalid="ignore"):
            order[tied] = _lexsort_loop(V[tied], tol[tied], width, tied.size, order=start)
        if gather:
            out[tied] = gather_points(V[tied], order[tied])
    return order, out


def _order_tied_pairs(V, order, out, samples, mask, tol):
    """In place: for each pair of neighbours ``(j, j + 1)`` in ``order[samples]`` whose first
    column ties (``mask``), the order :func:`_lexsort_loop` gives — by the first later column
    that differs by more than ``tol``, else by the last column whose values differ at all
    (its stable sorts compose that way), else as they are."""
    if not samples.size:
        return
    k, j = np.nonzero(mask)
    s = samples[k]
    a, b = order[s, j], order[s, j + 1]
    D = (V[s, b] - V[s, a])[:, 1:]
    t = tol[s][:, None]
    big = np.abs(D) > t
    rows = np.arange(len(s))
    first = D[rows, np.argmax(big, axis=1)]
    nonzero = D != 0
    last = D[rows, D.shape[1] - 1 - np.argmax(nonzero[:, ::-1], axis=1)]
    swap = np.where(big.any(axis=1), first < 0, nonzero.any(axis=1) & (last < 0))
    s, j, a, b = s[swap], j[swap], a[swap], b[swap]
    order[s, j], order[s, j + 1] = b, a
    if out is not None:
        out[s, j], out[s, j + 1] = V[s, b], V[s, a]


#: most points per sample for the packed sort keys (the point index takes the low bits)
_MAX_KEY_POINTS = 1 << 16


def _sortable_bits(values):
    """Unsigned integers (uint32 for float32, uint64 for float64) whose order is the
    numeric order of ``values`` (finite or ±inf, no NaN), with -0.0 equal to 0.0."""
    if values.dtype == np.float32:
        bits = (values + np.float32(0.0)).view(np.int32)   # + 0.0 turns -0.0 into 0.0
        return (bits ^ ((bits >> 31) | np.int32(-2**31))).view(np.uint32)
    bits = (values + 0.0).view(np.int64)
    return (bits ^ ((bits >> 63) | np.int64(-2**63))).view(np.uint64)


def _row_argsort(values, groups=None, exact=True):
    """Per row, the stable order of ``values`` (``(n, m)``, float), first by ``groups``
    (non-negative ints below ``m``) when given.

    One sort of packed integer keys ``(group, value, position)``: unique keys, so the
    result equals numpy's stable argsort. float64 values do not fit beside the position:
    with ``exact`` they take numpy's stable argsorts, otherwise their lowest bits give
    way to the position (an order that differs from the exact one only between values
    closer than about 1e-14 relative, which the callers treat as tied anyway).
    """
    m = values.shape[1]
    b = max(1, int(m - 1).bit_length())
    position = np.arange(m, dtype=np.uint64)
    if values.dtype == np.float32 and m <= _MAX_KEY_POINTS:
        key = _sortable_bits(values).astype(np.uint64) << np.uint64(b)
        if groups is not None:
            key |= groups.astype(np.uint64) << np.uint64(32 + b)
    elif not exact and groups is None and b <= 21:
        key = _sortable_bits(values) & ~np.uint64((1 << b) - 1)
    else:
        idx = np.argsort(values, axis=1, kind="stable")
        if groups is not None:
            idx = np.take_along_axis(idx, np.argsort(np.take_along_axis(groups, idx, 1), 1, kind="stable"), 1)
        return idx
    key |= position
    key.sort(axis=1)
    return (key & np.uint64((1 << b) - 1)).astype(np.intp)


def _rows_any(mask):
    """``mask.any(axis=1)`` for a 2-D boolean array, eight flags per comparison."""
    n, w = mask.shape
    padded = np.zeros((n, w + (-w % 8)), dtype=bool)
    padded[:, :w] = mask
    return padded.view(np.uint64).any(axis=1)


def tolerant_lexsort(P):
    """Batched lexicographic order of the rows of ``P`` (``(n, m, w)``) with tolerant ties.

    Float input without NaN takes a fast path (see :func:`_fast_lexsort`); the result is
    the same as the general column-by-column refinement.
    """
    order, _ = _fast_lexsort(P, gather=False)
    return order if order is not None else _tolerant_lexsort_general(np.asarray(P))


def _tolerant_lexsort_general(V):
    n, m, width = V.shape
    if not np.issubdtype(V.dtype, np.floating):
        V = V.astype(np.float64)
    rtol = SORT_RTOL.get(V.dtype, 1e-5)
    finite = np.isfinite(V)
    scale = np.max(np.where(finite, np.abs(V), 0.0), axis=(1, 2))
    tol = (rtol * np.maximum(scale, np.finfo(V.dtype).tiny)).astype(V.dtype)
    V = np.where(finite, V, np.inf)

    with np.errstate(invalid="ignore"):  # inf - inf between absent points: a tie, as wanted
        return _lexsort_loop(V, tol, width, n)


def _lexsort_loop(V, tol, width, n, order=None):
    """Refine the stable order of the first column (``order``, computed when None) column
    by column within tolerant tie groups."""
    if order is None:
        order = _row_argsort(V[:, :, 0])
    todo = np.arange(n)
    group = None
    for col in range(width):
        sub = order[todo]
        vals = np.take_along_axis(V[todo, :, col], sub, axis=1)
        if col > 0:
            # sort by value within the tie groups of the previous columns
            idx = _row_argsort(vals, groups=group)
            sub = np.take_along_axis(sub, idx, axis=1)
            vals = np.take_along_axis(vals, idx, axis=1)
            group = np.take_along_axis(group, idx, axis=1)
            order[todo] = sub
        step = np.diff(vals, axis=1) > tol[todo, None]
        new_group = np.concatenate([np.zeros((len(todo), 1), np.int64), np.cumsum(step, axis=1)], axis=1)
        if group is not None:
            # a new group also starts wherever the previous columns' group changed
            changed = np.diff(group, axis=1) != 0
            new_group = np.concatenate(
                [np.zeros((len(todo), 1), np.int64), np.cumsum(step | changed, axis=1)], axis=1
            )
        tied = (np.diff(new_group, axis=1) == 0).any(axis=1)
        todo, group = todo[tied], new_group[tied]
        if todo.size == 0:
            break
    return order
