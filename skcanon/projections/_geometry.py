"""Geometric invariants of point sets under subgroups of E(d) (rotations, reflections,
translations; O(d), SE(d), T(d), C_n, the polyhedral groups, ...): norms, Gram matrix,
distances, Gram + minors, sorted distance matrices with S_n, and their kernels."""

from __future__ import annotations

import contextlib

import itertools
import math

import numpy as np

from .._kernels.lexsort import scaled_by_group, tolerant_lexsort
from ._base import (Projection, check_underflow, fits, full_rotations, is_points, overflow_error,
                    split_geometric, underflow_error)

#: most d×d minors ``gram_minors`` computes
MAX_MINORS = 20000


def _vectors(P, layout, geom, lazy_centre=False):
    """Stack every geometric field as vectors ``(n, m·k, d)``; positions are centred on
    the first position field's centroid when ``geom`` has translations. Returns ``(V,
    centre, labels, scalars, names)``.

    With ``lazy_centre`` and a single geometric field, ``V`` is a view of ``P`` and
    ``centre`` is True when its positions still have to be centred (the Gram kernel does
    that inside its cache-sized chunks instead of writing a centred copy); otherwise
    ``centre`` is False.
    """
    n, m, _ = P.shape
    parts, labels, centre = [], [], False
    geo_fields = [f for f in layout.fields if f.is_geometric]
    origin = None
    for f in geo_fields:
        Y = P[..., layout.slice_of(f.name)]
        if f.kind == "position" and geom.translates:
            if lazy_centre and len(geo_fields) == 1:
                centre = True
            else:
                # one origin for every position field (the first one's centroid, as the
                # canonicalizers take): centring each field on its own centroid would
                # forget where the fields sit relative to each other
                origin = _present_centroid(Y) if origin is None else origin
                Y = Y - origin[:, None, :]
        parts.append(Y)
    # point-major; a single field is used as a view
    V = parts[0] if len(parts) == 1 else np.stack(parts, axis=2).reshape(n, m * len(parts), -1)
    for i in range(m):
        for f in geo_fields:
            labels.append(str(i) if len(geo_fields) == 1 else f"{i}{f.name}")
    scal = [f for f in layout.fields if f.kind == "scalar"]
    if scal:
        S = np.concatenate([P[..., layout.slice_of(f.name)] for f in scal], axis=2).reshape(n, -1)
        snames = [f"p{i}_{c}" for i in range(m) for f in scal for c in f.component_names(layout.n_dims)]
    else:
        S, snames = None, []
    return V, centre, labels, S, snames


def _geometric_magnitude(P, layout):
    """``(n,)`` float64: each sample's largest |coordinate| over its geometric fields
    (absent points ignored)."""
    largest = np.zeros(len(P))
    for f in layout.fields:
        if f.is_geometric:
            block = np.abs(P[..., layout.slice_of(f.name)]).reshape(len(P), -1)
            with np.errstate(invalid="ignore"):
                largest = np.fmax(largest, np.fmax.reduce(block, axis=1, initial=0.0))
    return largest


def _rounding_noise(P, layout, dtype):
    """``(n,)``: per sample, the magnitude up to which centred coordinates are rounding of
    the input's (4 units of its largest geometric coordinate); None without ``P``."""
    return None if P is None else 4 * np.finfo(dtype).eps * _geometric_magnitude(P, layout)


def _field_labels(m, layout):
    """Unambiguous labels ``p{i}_{field}`` of the vectors of :func:`_vectors` (point-major),
    for names where its short labels would repeat (see ``_Geometry.feature_names``)."""
    geo_fields = [f for f in layout.fields if f.is_geometric]
    return [f"p{i}_{f.name}" for i in range(m) for f in geo_fields]


def _present_centroid(Y):
    """Centroid of the present points (absent ones are all-NaN rows; they stay NaN after
    centring and the callers set what involves them to 0)."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = point_sums(Y)[:, 0]
    if np.isfinite(total).all():  # no absent point anywhere (NaN would propagate)
        return (total / Y.shape[1]).astype(Y.dtype, copy=False)
    present = ~np.isnan(Y).any(axis=2)
    count = np.maximum(present.sum(axis=1), 1).astype(np.float64)[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        centroid = point_sums(np.where(present[..., None], Y, 0))[:, 0] / count
    if not np.isfinite(centroid).all():
        # the sum overflowed (float64 coordinates near its limit) though the mean fits:
        # divided first, here only, so other samples keep their rounding
        centroid = point_sums(np.where(present[..., None], Y / count[:, None].astype(Y.dtype), 0))[:, 0]
    return centroid.astype(Y.dtype, copy=False)


# -- magnitudes --------------------------------------------------------------------------------
def _safe_range(dtype):
    """``(lo, hi)``: per-sample largest magnitudes between which squares, their sums over a
    few thousand terms and their square roots stay normal numbers of ``dtype``."""
    info = np.finfo(dtype)
    return (np.ldexp(dtype.type(1), info.minexp // 2 + 8),
            np.ldexp(dtype.type(1), info.maxexp // 2 - 8))


def sample_exponents(amax, dtype):
    """Power-of-two exponents ``e`` (one per sample, int) such that ``x·2^-e`` has largest
    magnitude in ``[0.5, 1)`` for the samples whose largest magnitude ``amax`` lies outside
    the safe range of :func:`_safe_range`, 0 for the others (and for all-zero samples).
    ``None`` when every sample is in range (the common case: nothing to rescale)."""
    lo, hi = _safe_range(np.dtype(dtype))
    amax = np.asarray(amax)
    outside = (amax > hi) | ((amax < lo) & (amax > 0))
    if not outside.any():
        return None
    return np.where(outside, np.frexp(amax.astype(np.float64))[1], 0).astype(np.int64)


#: entries of the ``K×K`` product matrices computed per chunk of samples (4 MB in
#: float32): large enough that a chunk costs a handful of library calls, small enough that
#: its products stay in the cache while the triangle is gathered out of them
_GRAM_CHUNK_ENTRIES = 1 << 20
_TRIU_INDEX = {}


def _torch():
    """torch when it can be imported (the Gram kernels use its batched products), else
    None (a numpy path gives the same results to rounding)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def _triu_index(K, strict):
    """Flat indices (numpy int64) of the upper triangle of a ``K×K`` matrix, row by row
    (cached)."""
    key = (K, strict)
    if key not in _TRIU_INDEX:
        iu = np.triu_indices(K, 1 if strict else 0)
        _TRIU_INDEX[key] = (iu[0] * K + iu[1]).astype(np.int64)
    return _TRIU_INDEX[key]


def _tensor_view(torch, A):
    """A torch view of ``A`` (a copy when ``A`` is read-only or has negative strides, which
    torch does not take)."""
    if not A.flags.writeable or any(step < 0 for step in A.strides):
        A = np.array(A, order="C")  # a writable copy
    return torch.from_numpy(A)


class _TorchKernel:
    """Batched products of one chunk with torch (``bmm``/``baddbmm`` in ``V``'s dtype)."""

    def __init__(self, torch, chunk, K, d, dtype, index, centre):
        self.torch = torch
        tdt = torch.float32 if dtype == np.float32 else torch.float64
        self.products = torch.empty((chunk, K, K), dtype=tdt)
        self.centred = torch.empty((chunk, K, d), dtype=tdt) if centre else None
        self.index = torch.from_numpy(index)
        self.K = K
        #: the compiled triangle pass for distances (None: torch's gather, clamp, sqrt)
        self.triangle = None

    def __call__(self, v, o, distances, centre):
        torch, K, b = self.torch, self.K, v.shape[0]
        if centre:   # numpy's centring, as _prepare_chunk's: a sample's result never depends on its chunk
            v = torch.from_numpy(centre_into(v, self.centred[:b].numpy()))
        else:
            v = _tensor_view(torch, v)
        G = self.products[:b]
        if distances:  # ‖v_i‖² − 2⟨v_i, v_j⟩ in one batched product, then + ‖v_j‖²
            sq = torch.einsum("nkd,nkd->nk", v, v)
            self.vectors, self.norms = v.numpy(), sq.numpy()   # for the short distances
            torch.baddbmm(sq[:, :, None], v, v.transpose(1, 2), alpha=-2, out=G)
            if self.triangle is not None:   # + ‖v_j‖², gather, clamp, root, short ones: one pass
                self.triangle(G.numpy(), self.norms, o, self.vectors, short_limits(self.norms))
                self.vectors = None
                return
            G.add_(sq[:, None, :])
        else:
            torch.bmm(v, v.transpose(1, 2), out=G)
        o = torch.from_numpy(o)
        torch.index_select(G.view(b, K * K), 1, self.index, out=o)
        if distances:
            o.clamp_(min=0).sqrt_()


class _NumpyKernel:
    """The same products with numpy's batched ``matmul`` (used when torch is absent)."""

    def __init__(self, chunk, K, d, dtype, index, centre):
        self.products = np.empty((chunk, K, K), dtype=dtype)
        self.centred = np.empty((chunk, K, d), dtype=dtype) if centre else None
        self.index = index
        self.K = K
        self.triangle = None

    def __call__(self, v, o, distances, centre):
        K, b = self.K, v.shape[0]
        if centre:
            v = centre_into(v, self.centred[:b])
        G = np.matmul(v, v.transpose(0, 2, 1), out=self.products[:b])
        if distances:
            sq = np.einsum("nkd,nkd->nk", v, v)
            self.vectors, self.norms = v, sq   # for the short distances
            G *= -2
            G += sq[:, :, None]
            if self.triangle is not None:
                self.triangle(G, sq, o, v, short_limits(sq))
                self.vectors = None
                return
            G += sq[:, None, :]
        np.take(G.reshape(b, K * K), self.index, axis=1, out=o)
        if distances:
            np.maximum(o, 0, out=o)
            np.sqrt(o, out=o)


def centre_into(v, out):
    """``v`` (``(b, K, d)``) minus each sample's centroid, written into ``out``. The one
    centring formula of the kernels and of :func:`_prepare_chunk`: a sample gets the same
    bits whichever chunk it is in, and whatever else that chunk holds."""
    return np.subtract(v, (point_sums(v) / v.shape[1]).astype(v.dtype, copy=False), out=out)


def point_sums(v):
    """Each sample's sum of its vectors, ``(b, 1, d)`` float64, added in order: ``einsum`` is
    3–5× faster than ``v.sum(axis=1)`` here (whose outer-axis loop runs ``d`` entries at a
    time), and, like it, gives a sample the same bits in any chunk. Summed in float64
    through einsum's buffers (no float64 copy of ``v``): a float32 sum over many points far
    from the origin loses the centroid (by 0.88 for 100,000 points of spread 1-3 at 3,000)."""
    return np.einsum("nkd->nd", v, dtype=np.float64)[:, None, :]


def _prepare_chunk(v, centre):
    """Absent vectors and magnitudes of one chunk ``v`` (``(b, K, d)``).

    Returns ``(v, centre, absent, exps)``: ``absent`` (``(b, K)`` bool) or None when every
    vector is present; ``exps`` from :func:`sample_exponents` or None. When either is not
    None, ``v`` is a fresh array, rescaled by ``2^-exps`` (exact), with absent vectors set
    to 0 and already centred on the present ones (``centre`` False).
    """
    with np.errstate(invalid="ignore"):
        amax = np.maximum(v.max(axis=(1, 2)), -v.min(axis=(1, 2)))  # NaN: an absent vector
    absent = None
    if np.isnan(amax).any():
        absent = np.isnan(v).any(axis=2)
        v = np.where(absent[..., None], 0, v)
        amax = np.maximum(v.max(axis=(1, 2)), -v.min(axis=(1, 2)))
    exps = sample_exponents(amax, v.dtype)
    if absent is None and exps is None:
        return v, centre, None, None
    if exps is not None:
        v = np.ldexp(v, -exps.astype(np.int32)[:, None, None]).astype(v.dtype, copy=False)
    if centre:
        if absent is None:
            v = centre_into(v, np.empty_like(v))
        else:   # the centroid of the present vectors (absent ones are 0 here); the same
            # operations as centre_into, so a sample without absent vectors gets its bits
            count = np.maximum((~absent).sum(axis=1), 1).astype(np.float64)
            v = v - (point_sums(v) / count[:, None, None]).astype(v.dtype, copy=False)
            v[absent] = 0
    return v, False, absent, exps


#: distances shorter than this fraction of their sample's largest (centred) norm are
#: recomputed from coordinate differences: the Gram formula's rounding, about
#: ``eps·max‖v‖²`` on a squared distance, leaves a distance ``r`` an absolute error of about
#: ``eps·max‖v‖²/r``, which stays below ``32·eps·max‖v‖`` only for ``r`` above this fraction
#: (and reaches ``√eps·max‖v‖`` for coincident points)
SHORT_DISTANCE = 1 / 16


def short_limits(sq):
    """Per sample, the length under which a distance is recomputed from differences
    (:data:`SHORT_DISTANCE` of the largest norm, from the squared norms ``sq`` ``(b, K)``)."""
    return np.sqrt(sq.max(axis=1)) * sq.dtype.type(SHORT_DISTANCE)   # a power of two: exact


def _refine_short_distances(v, sq, o, pairs):
    """Recompute, from the differences ``v_i − v_j``, the distances of ``o`` (``(b, P)``, the
    strict upper triangle of each sample's ``v`` ``(b, K, d)``, whose squared norms are ``sq``
    ``(b, K)``) that are shorter than :func:`short_limits`. The sum of squares runs
    coordinate by coordinate, in order, in ``v``'s dtype (as the compiled triangle pass)."""
    limit = short_limits(sq)
    samples = np.flatnonzero(o.min(axis=1) < limit)   # one reduction; short pairs are rare
    if samples.size == 0:
        return
    s, p = np.nonzero(o[samples] < limit[samples, None])
    s = samples[s]
    diff = v[s, pairs[0][p]] - v[s, pairs[1][p]]
    total = diff[:, 0] * diff[:, 0]
    for k in range(1, diff.shape[1]):
        total += diff[:, k] * diff[:, k]
    o[s, p] = np.sqrt(total)


def gram_triu(V, distances=False, out=None, centre=False, method=None, noise=None):
    """Upper triangle of the Gram matrices of ``V`` (``(n, K, d)``) with the diagonal, or
    (``distances=True``) the strict upper triangle of the distance matrices.

    Parameters
    ----------
    V : ndarray of shape (n, K, d), float32 or float64
        Vectors (any strides). All-NaN rows are absent vectors: every entry that involves
        one is 0, and centring uses the present vectors only.
    distances : bool, default=False
        Distances ``‖v_i − v_j‖`` (``i < j``) instead of inner products ``⟨v_i, v_j⟩``
        (``i ≤ j``).
    out : ndarray of shape (n, n_entries) or None
        C-contiguous array of ``V``'s dtype to write into (a fresh one when None).
    centre : bool, default=False
        Subtract from every vector the centroid of its sample's present vectors first.
    method : str or None
        Named in the error raised when Gram entries overflow.
    noise : ndarray of shape (n,) or None
        Per sample, the magnitude up to which the (centred) vectors are rounding of the
        input's coordinates (centred copies of coincident points): a sample whose vectors
        are all within it counts as all zeros for the underflow check, whatever the pose.

    Returns
    -------
    out : ndarray of shape (n, K(K+1)/2) or (n, K(K−1)/2)

    Raises
    ------
    ValueError
        When Gram entries exceed the dtype's range (distances never do short of
        coordinates near the dtype's largest number: they are computed rescaled), or fall
        below its smallest normal number for a sample that is more than rounding ``noise``.

    Notes
    -----
    Works in chunks of samples whose ``K×K`` products fit in the cache: one batched
    matrix product (``torch.bmm`` when torch is importable, else numpy's ``matmul``; in
    ``V``'s dtype) per chunk, then one gather of the triangle straight into ``out``.
    Squared distances are ``‖v_i‖² + ‖v_j‖² − 2⟨v_i, v_j⟩``, clipped at 0 against rounding
    before the square root; the vectors are centred first (``centre``) so that this
    difference loses little. Distances shorter than :data:`SHORT_DISTANCE` of the sample's
    largest norm, where that difference would lose most digits, are recomputed from
    ``v_i − v_j``: every distance is accurate to a few dozen rounding units of the sample's
    size (without this, about ``√eps`` of it for nearly coincident points). Samples whose
    largest coordinate is outside ``[2^(e_min/2+8), 2^(e_max/2−8)]`` of the dtype are
    multiplied by a power of two first (exact) and their features scaled back, so squares
    neither overflow nor underflow on the way.
    """
    n, K, d = V.shape
    index = _triu_index(K, distances)
    if out is None:
        out = np.empty((n, index.size), dtype=V.dtype)
    if n == 0 or index.size == 0:
        return out
    chunk = min(n, max(1, _GRAM_CHUNK_ENTRIES // max(K * K, 1)))
    torch = _torch()
    kernel = (_TorchKernel(torch, chunk, K, d, V.dtype, index, centre) if torch is not None
              else _NumpyKernel(chunk, K, d, V.dtype, index, centre))
    if distances:
        kernel.triangle = _compiled_triangle(n)
    with _one_thread(torch):
        _gram_chunks(V, out, kernel, index, chunk, distances, centre, method, noise)
    return out


# -- optional compiled pass (numba; see skcanon._kernels._numba for when it runs) --------------
def _compiled_triangle(n):
    """The compiled triangle pass of squared distances for a call over ``n`` samples, or
    None (torch's or numpy's gather, clamp and square root serve)."""
    from .._kernels import _numba

    return _numba.kernels("triangle", _build_triangle) if _numba.wanted(n) else None


def _triangle_sqrt(D, sq, out, v, limit):
    """``out[s]`` = the square roots of the strict upper triangle of ``D[s] + sq[s]`` (``D``
    ``(b, K, K)`` holds ``‖v_i‖² − 2⟨v_i, v_j⟩``, ``sq`` ``(b, K)`` the ``‖v_j‖²`` still to add,
    row by row; negative rounding clipped to 0) in one pass; a distance under ``limit[s]``
    is recomputed from the differences of ``v`` (``(b, K, d)``) as
    :func:`_refine_short_distances` does."""
    b, K, _ = D.shape
    d = v.shape[2]
    zero = np.float32(0)   # max(x, 0) vectorizes (a conditional does not); D is finite here
    for s in range(b):
        o = out[s]
        lim = limit[s]
        short = 0
        pos = 0
        for i in range(K - 1):
            row = D[s, i, i + 1:]
            add = sq[s, i + 1:]
            dest = o[pos:pos + K - 1 - i]
            for j in range(K - 1 - i):     # 0-based loops over slices vectorize
                dest[j] = np.sqrt(max(row[j] + add[j], zero))
                short += dest[j] < lim     # (an integer count vectorizes; a float minimum does not)
            pos += K - 1 - i
        if short == 0:                     # short pairs are rare: most samples end here
            continue
        pos = 0
        for i in range(K - 1):
            for j in range(i + 1, K):
                if o[pos] < lim:
                    diff = v[s, i, 0] - v[s, j, 0]
                    total = diff * diff
                    for k in range(1, d):
                        diff = v[s, i, k] - v[s, j, k]
                        total += diff * diff
                    o[pos] = np.sqrt(total)
                pos += 1


def _build_triangle(numba, jit, jit_exact):
    kernel = jit_exact(_triangle_sqrt)
    for dt in (np.float32, np.float64):
        kernel(np.ones((1, 3, 3), dt), np.ones((1, 3), dt), np.empty((1, 3), dt), np.ones((1, 3, 2), dt),
               np.ones(1, dt))
    return kernel


def _one_thread(torch):
    """One torch/OpenMP thread for the batched products: the calls are small, so more threads
    only wait for each other, badly so once other OpenMP code has run in the process or
    other jobs hold the cores (restored afterwards)."""
    if torch is None:
        return contextlib.nullcontext()
    from .._threads import limited_threads

    return limited_threads(None)


def _gram_chunks(V, out, kernel, index, chunk, distances, centre, method, noise=None):
    n, K = V.shape[:2]
    pairs = np.unravel_index(index, (K, K))
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        v, c, absent, exps = _prepare_chunk(V[start:stop], centre)
        o = out[start:stop]
        kernel(v, o, distances, c)
        if distances and kernel.vectors is not None:   # (the compiled pass did it already)
            _refine_short_distances(kernel.vectors, kernel.norms, o, pairs)
        if absent is not None and absent.any():
            o[absent[:, pairs[0]] | absent[:, pairs[1]]] = 0
        if exps is not None:
            top = np.abs(o).max(axis=1, initial=0.0)
            with np.errstate(over="ignore", under="ignore"):
                np.ldexp(o, (exps if distances else 2 * exps).astype(np.int32)[:, None], out=o)
            if np.isinf(o).any():
                amax = np.abs(np.nan_to_num(V[start:stop])).max()
                raise overflow_error(method or ("distances" if distances else "gram"), V.dtype,
                                     amax, 1 if distances else 2)
            # Gram entries of tiny samples below the smallest normal number: rounded to 0
            lost = (top > 0) & (np.abs(o).max(axis=1, initial=0.0) < np.finfo(o.dtype).tiny)
            values = "values"
            if noise is not None and lost.any():
                # centred coincident points are rounding of the input's magnitude: whether
                # it was exactly 0 decided by pose whether they were refused (as for gram_minors)
                about = np.ldexp(np.abs(v).max(axis=(1, 2), initial=0.0).astype(np.float64),
                                 exps.astype(np.int32))
                lost &= about > noise[start:stop]
                values = "coordinates about its centroid"
            if lost.any():
                amax = (about[lost].min() if values != "values"
                        else np.abs(np.nan_to_num(V[start:stop][lost])).max())
                raise underflow_error(method or ("distances" if distances else "gram"), o.dtype,
                                      amax, 1 if distances else 2,
                                      what="distances" if distances
                                      else "Gram entries (products of two coordinates)",
                                      hint=", or use method='distances', which rescales internally"
                                      if not distances else "", values=values)


def _with_scalars(F, S):
    """Append the scalar fields; those of absent points (NaN) become 0."""
    if S is None:
        return F
    S = S.astype(F.dtype, copy=False)
    return np.concatenate([F, np.where(np.isnan(S), F.dtype.type(0), S)], axis=1)


class _Geometry(Projection):
    """Maps of the vectors of a point set that no isometry changes: invariant for every
    group whose only factor is a subgroup of E(d) on points of that d (positions are
    centred when it translates); lossless only for the whole of O(d)/E(d) or SO(d)/SE(d),
    as each class says."""

    family = "geometry"
    absent_points_ok = True  # features that involve an absent point are 0
    #: which geometric groups are allowed: "any" subgroup of E(d), or "special" (proper
    #: rotations only: SO/SE and their finite subgroups)
    needs = "any"
    #: ``transform`` takes ``out=`` (InvariantProjector then writes batches in place)
    supports_out = True
    #: ``_features`` centres single-field positions itself (``centre=True``) instead of
    #: receiving a centred copy
    lazy_centre = False

    @classmethod
    def supports(cls, group, layout):
        geom, perm, only = split_geometric(group)
        if not (is_points(layout) and geom is not None and not perm and only and fits(group, layout)):
            return False
        if not any(f.is_geometric for f in layout.fields):
            return False
        return cls.needs != "special" or (geom.rotates and geom.special)

    def fit(self, P, y=None, random_state=None):
        super().fit(P)
        self.geom_ = split_geometric(self.group)[0]
        _, _, self.labels_, _, self.scalar_names_ = _vectors(P[:1], self.layout, self.geom_)
        return self

    def transform(self, P, out=None):
        """Invariant features of ``P``; written into ``out`` (``(n, n_features)``, P's
        dtype, C-contiguous) when given."""
        V, centre, _, S, _ = _vectors(P, self.layout, self.geom_, lazy_centre=self.lazy_centre)
        F = _with_scalars(self._features(V, centre=centre, out=out if S is None else None, P=P), S)
        if out is None:
            return F
        if F is not out:
            out[...] = F
        return out

    def feature_names(self):
        """Vectors are labelled by point (``gram_0_1``) or, with several geometric fields,
        point and field (``gram_0pos_1vel``), joined by ``_``. Field names that start with
        digits or hold ``_`` can make two of these names one (``11v``: point 1 of field ``1v``
        or point 11 of ``v``); then every vector is labelled ``p{i}_{field}`` and labels are
        joined by ``__`` (``gram_p0_pos__p1_vel``). Scalars are ``p{i}_{component}``."""
        names = self._names(self.labels_, "_")
        if len(set(names)) != len(names):
            names = self._names(_field_labels(self.sample_shape_[0], self.layout), "__")
        return names + self.scalar_names_


class Norms(_Geometry):
    """Euclidean norm of every vector (positions centred for groups that translate: E(d),
    SE(d), T(d)), scalars kept.

    ``f_i(x) = ‖x_i‖``; one feature per vector, cost ``O(m·d)``. Lossless only for a
    single vector under O(d) or SO(d) (d ≥ 2): it forgets the angles between vectors.
    """

    name = "norms"

    def _features(self, V, centre=None, out=None, P=None):
        # absent vectors are zeroed; samples beyond the dtype's safe range are rescaled
        V, _, _, exps = _prepare_chunk(V, False)
        F = np.sqrt(np.einsum("nkd,nkd->nk", V, V))
        if exps is not None:
            with np.errstate(over="ignore"):
                F = np.ldexp(F, exps.astype(np.int32)[:, None]).astype(V.dtype, copy=False)
            if np.isinf(F).any():
                raise overflow_error(self.name, V.dtype, np.abs(V).max(), 1)
        return F

    def _names(self, labels, sep):
        return [f"norm_{a}" for a in labels]

    @property
    def lossless(self):
        geom = self.geom_
        return len(self.labels_) == 1 and full_rotations(geom) and not geom.translates and geom.d >= 2


class Gram(_Geometry):
    """Upper triangle (with diagonal) of the Gram matrix ``G_ij = ⟨x_i, x_j⟩``.

    Positions are centred for groups that translate (E(d), SE(d), T(d)). ``K(K+1)/2``
    features for ``K`` vectors, cost ``O(K²·d)``. Lossless for O(d) and E(d): vectors with
    equal Gram matrices differ by an orthogonal map (first fundamental theorem of invariant
    theory). Not lossless for SO(d)/SE(d) (mirror images share a Gram matrix) — use
    ``"gram_minors"`` — nor for smaller subgroups of E(d) (T(d), C_n, D_n, the polyhedral
    groups), for which it is invariant too.
    """

    name = "gram"
    lazy_centre = True

    def _features(self, V, centre=None, out=None, P=None):
        noise = _rounding_noise(P, self.layout, V.dtype) if self.geom_.translates else None
        return gram_triu(V, out=out, centre=centre, method=self.name, noise=noise)

    def _names(self, labels, sep):
        K = len(labels)
        return [f"gram_{labels[i]}{sep}{labels[j]}" for i, j in zip(*np.triu_indices(K))]

    @property
    def lossless(self):
        return full_rotations(self.geom_) and not self.geom_.special


class Distances(_Geometry):
    """Pairwise distances ``‖x_i − x_j‖``, ``i < j`` (strict upper triangle).

    ``K(K−1)/2`` features, cost ``O(K²·d)``. Invariant under every subgroup of E(d); lossless
    for E(d) when the layout has a single position field (a point set is determined up to a
    rigid motion by its distances); for O(d) it forgets where the origin is.
    """

    name = "distances"
    lazy_centre = True

    def _features(self, V, centre=None, out=None, P=None):
        # distances ignore translations: centring (always) only reduces rounding
        noise = _rounding_noise(P, self.layout, V.dtype)
        return gram_triu(V, distances=True, out=out, centre=True, noise=noise)

    def _names(self, labels, sep):
        K = len(labels)
        return [f"dist_{labels[i]}{sep}{labels[j]}" for i, j in zip(*np.triu_indices(K, 1))]

    def _lossless_layout(self):
        geom = split_geometric(self.group)[0]
        geo = [f for f in self.layout.fields if f.is_geometric]
        return (full_rotations(geom) and geom.translates and not geom.special
                and len(geo) == 1 and geo[0].kind == "position")

    @property
    def lossless(self):
        return self._lossless_layout()


class GramMinors(Gram):
    """Gram matrix plus every ``d × d`` minor ``det[x_{i1}, ..., x_{id}]`` (SO(d), SE(d), and
    their rotating subgroups without reflections, e.g. C_n or the polyhedral groups; not
    T(d), whose centred coordinates ``"canonical"`` keeps whole).

    Determinants are invariant under rotations and flip sign under reflections, so together
    with the Gram matrix they separate SO(d)-orbits (first fundamental theorem for SO(d)):
    lossless for SO(d) and SE(d). ``K(K+1)/2 + C(K, d)`` features; cost ``O(K²·d + C(K,d)·d³)``. Refuses more than
    20,000 minors (use ``"canonical"`` for large sets).
    """

    name = "gram_minors"
    needs = "special"
    lazy_centre = False  # the minors need the centred vectors themselves

    def fit(self, P, y=None, random_state=None):
        super().fit(P)
        K, d = len(self.labels_), self.geom_.d
        if math.comb(K, d) > MAX_MINORS:
            raise ValueError(
                f"method='gram_minors' would compute C({K}, {d}) = {math.comb(K, d)} minors "
                f"(at most {MAX_MINORS}); use method='canonical' for sets this large."
            )
        self.combos_ = np.asarray(list(itertools.combinations(range(K), d)), dtype=np.int64).reshape(-1, d)
        return self

    def _features(self, V, centre=None, out=None, P=None):
        gram = super()._features(V, P=P)  # raises when Gram entries overflow
        if np.isnan(V).any():  # absent vectors: minors that involve them are 0
            V = np.where(np.isnan(V), V.dtype.type(0), V)
        # minors of degree d from vectors scaled per sample by a power of two (exact), then
        # scaled back: tiny or huge samples neither underflow nor overflow on the way
        k = V.shape[-1]
        top = np.abs(V).reshape(len(V), -1).max(axis=1, initial=0.0)
        e = np.where(top > 0, np.frexp(top)[1], 0).astype(np.int32)
        M = np.ldexp(V, -e[:, None, None])[:, self.combos_]     # (n, C, d, d): rows are the vectors
        if k == 2:
            det = M[..., 0, 0] * M[..., 1, 1] - M[..., 0, 1] * M[..., 1, 0]
        else:
            det = np.linalg.det(M)
        with np.errstate(over="ignore", under="ignore"):
            det = np.ldexp(det, (k * e)[:, None])
        if not np.isfinite(det).all():
            raise overflow_error(self.name, V.dtype, np.abs(V).max(), k)
        # decided on the scale (the largest coordinate to the power k), not on the minors:
        # a planar cloud's minors are 0 up to rounding in any pose
        noise, values = None, "values"
        if P is not None and self.geom_.translates:
            # centred coincident points are rounding of the input's magnitude, which decided
            # by pose whether they were refused: within a few ulps of it they count as 0
            noise = _rounding_noise(P, self.layout, V.dtype)
            values = "coordinates about its centroid"
        check_underflow(self.name, V, k, what=f"{k}×{k} minors", noise=noise, values=values)
        return np.concatenate([gram, det.astype(V.dtype, copy=False)], axis=1)

    def _names(self, labels, sep):
        return super()._names(labels, sep) + [
            "minor_" + sep.join(labels[i] for i in c) for c in self.combos_
        ]

    @property
    def lossless(self):
        return full_rotations(self.geom_)


#: entries of the ``(b, m, m, d)`` difference arrays of one chunk of ``sorted_distances``
_DIFF_CHUNK_ENTRIES = 1 << 20


def distance_matrices(Y, dtype=None):
    """Distance matrices ``‖y_i − y_j‖`` of point sets ``Y`` (``(n, m, d)``).

    Computed in ``Y``'s float dtype from the differences themselves (not ``‖y_i‖² +
    ‖y_j‖² − 2⟨y_i, y_j⟩``, whose cancellation leaves ``√eps`` × scale where points
    coincide: here duplicated points give exact zeros), in chunks of samples, each centred
    and multiplied by a power of two (exact) where needed so that no square overflows or
    underflows; distances are scaled back and stored as ``dtype`` (default: ``Y``'s;
    entries beyond its range become inf). Entries that involve an absent (all-NaN) point
    are NaN.
    """
    n, m, d = Y.shape
    work = Y.dtype if Y.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    D = np.empty((n, m, m), dtype=dtype or work)
    chunk = max(1, _DIFF_CHUNK_ENTRIES // max(m * m, 1))
    for start in range(0, n, chunk):
        y = np.asarray(Y[start:start + chunk], dtype=work)
        y, _, absent, exps = _prepare_chunk(y, True)
        if absent is None and exps is None:  # centring alone (fast path of _prepare_chunk)
            y = centre_into(y, np.empty_like(y))
        sq = np.zeros((y.shape[0], m, m), dtype=work)
        for k in range(d):  # one coordinate at a time: no (b, m, m, d) temporary
            diff = y[:, :, None, k] - y[:, None, :, k]
            diff *= diff
            sq += diff
        dist = np.sqrt(sq, out=sq)
        if exps is not None:
            with np.errstate(over="ignore"):
                dist = np.ldexp(dist, exps.astype(np.int32)[:, None, None])
        if absent is not None:
            dist[absent[:, :, None] | absent[:, None, :]] = np.nan
        with np.errstate(over="ignore"):
            D[start:start + chunk] = dist
    return D


class SortedDistances(Projection):
    """E(d)×S_n point clouds (or any subgroup of E(d) times S_n: O(d)×S_n, SE(d)×S_n,
    T(d)×S_n, a finite rotation group × S_n): sort each row of the distance matrix, then
    order the rows lexicographically.

    Row ``i`` holds point ``i``'s scalar fields followed by its distances to the other
    points in increasing order; rows are sorted with tolerant ties (relative ``1e-9`` in
    float64, ``1e-4`` in float32, as :func:`~skcanon.canonicalizers.tolerant_lexsort`), so
    duplicated points and other exact ties do not decide the order by rounding. Distances
    are computed from coordinate differences (exact zeros for duplicated points), rescaled
    by powers of two for extreme magnitudes. ``m·(m−1+s)`` features
    (``s`` scalar columns), cost ``O(m²·d + m² log m)``. Invariant under rigid motions and
    permutations. Separates *generic* E(d)×S_n orbits (Boutin & Kemper 2004 show the
    distance distribution already does, up to rare exceptions) but not every one; under a
    subgroup it keeps E(d)×S_n invariants only, so it merges that subgroup's orbits (a
    chiral cloud and its mirror image under SE(d)×S_n, a cloud and its translates under
    O(d)×S_n: ``"auto"`` picks ``"canonical"`` there). So
    ``lossless_`` is False (True for clouds of one point under a group that translates it,
    whose only invariants are then its scalars); use ``"canonical"`` when exact losslessness matters.

    Absent (all-NaN) points are ignored: a present point's row lists its distances to the
    other present points, then zeros; the rows of absent points (scalars included) are all
    zero and come after the present ones.
    """

    name = "sorted_distances"
    family = "geometry"
    absent_points_ok = True  # absent points' entries are 0, placed after the present ones

    @classmethod
    def supports(cls, group, layout):
        geom, perm, only = split_geometric(group)
        if not (is_points(layout) and geom is not None and perm and only and fits(group, layout)):
            return False
        # one geometric field: distances of positions, or of vectors (which translations
        # leave as they are, so any subgroup of E(d) x S_n keeps them)
        return sum(f.is_geometric for f in layout.fields) == 1

    def fit(self, P, y=None, random_state=None):
        super().fit(P)
        self.geom_ = split_geometric(self.group)[0]
        self.scalar_fields_ = [f for f in self.layout.fields if f.kind == "scalar"]
        return self

    def transform(self, P):
        n, m, _ = P.shape
        geo = [f for f in self.layout.fields if f.is_geometric][0]
        Y = P[..., self.layout.slice_of(geo.name)]
        D = distance_matrices(Y)   # in P's dtype: the tie tolerance follows its rounding
        off = ~np.eye(m, dtype=bool)
        rows = np.sort(D[:, off].reshape(n, m, m - 1), axis=2)   # NaN (absent) sort last
        if self.scalar_fields_:
            S = np.concatenate([P[..., self.layout.slice_of(f.name)] for f in self.scalar_fields_], axis=2)
            rows = np.concatenate([S.astype(rows.dtype, copy=False), rows], axis=2)
        if rows.shape[2] == 0:
            return np.empty((n, 0), dtype=P.dtype)
        # the tie tolerance is relative to a row's largest entry: distances and each scalar
        # field in other units (metres beside an atomic number) are brought level first
        groups, start = [], 0
        for f in self.scalar_fields_:
            groups.append(np.arange(start, start + f.size))
            start += f.size
        groups = [g for g in groups + [np.arange(start, rows.shape[2])] if g.size]
        keys = scaled_by_group(rows, groups) if len(groups) > 1 else None
        order = tolerant_lexsort(rows if keys is None else keys)
        F = np.take_along_axis(rows, order[:, :, None], axis=1).reshape(n, -1)
        if np.isnan(Y[..., 0]).any():  # absent points: their entries are 0
            F[np.isnan(F)] = 0
        if np.isinf(F).any():
            raise overflow_error(self.name, P.dtype, np.abs(np.nan_to_num(Y)).max(), 1)
        return F

    def feature_names(self):
        """``row{i}_{component}`` for the scalars, ``row{i}_dist{k}`` for the distances; when a
        scalar component is itself called ``dist{k}`` (a scalar field ``dist`` of size 2, or
        ``dist0``), the distances are ``row{i}_sorted_dist{k}`` instead (then
        ``_sorted_dist{k}``, ... while that clashes too), so no two columns share a name."""
        m = self.sample_shape_[0]
        scal = [c for f in self.scalar_fields_ for c in f.component_names(self.layout.n_dims)]
        stem, taken = "dist", set(scal)
        while any(f"{stem}{k}" in taken for k in range(m - 1)):
            stem = "sorted_dist" if stem == "dist" else "_" + stem
        return [f"row{i}_{c}" for i in range(m) for c in scal + [f"{stem}{k}" for k in range(m - 1)]]

    @property
    def lossless(self):
        # one point: only its scalars are invariant when the group translates it anywhere;
        # rotations alone keep its norm, which no distance holds (nor a vector's, which
        # translations do not move)
        geo = [f for f in self.layout.fields if f.is_geometric][0]
        return self.sample_shape_[0] == 1 and self.geom_.translates and geo.kind == "position"
