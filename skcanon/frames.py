"""Frame sets for frame averaging: several group elements per sample, with weights.

A *frame* of a sample ``x`` is a group element ``h`` with ``h(g·x) = g·h(x)``; a
*frame set* is a finite weighted set of them, ``{(h_j(x), w_j(x))}``, that moves with the
input as a whole: ``{h_j(g·x)} = {g·h_j(x)}`` with the same weights. Averaging any
function over the canonical forms ``h_j(x)⁻¹·x`` with those weights is then exactly
invariant, and mapping outputs back with ``h_j(x)`` before averaging makes it exactly
equivariant (Puny et al., ICLR 2022). This module computes frame sets for point sets
under O(d), SO(d), E(d) and SE(d), optionally × S_n (points sorted after the frame);
:class:`~skcanon.FrameAveragingClassifier` and :class:`~skcanon.FrameAveragingRegressor`
use them. One concern: computing and applying frame sets; which groups qualify is read
from their capabilities (:func:`parse_group`).

Frame sources (``kind``):

``"pca"``
    The library's canonical PCA frame ``E(x)`` (its tie rules settle repeated
    eigenvalues) with every sign choice of its axes: ``E·diag(s)`` for the ``2^d``
    sign vectors ``s`` (``2^(d-1)`` with ``prod(s) = 1`` for SO(d)/SE(d)), equal weights.
    The signs, which canonicalization decides from the third moment, are left open.
``"minimal"``
    Only the sign choices the input leaves open: an axis whose normalized third moment
    settles its sign keeps it; undecided axes (mirror-symmetric along them) take both.
    Generic inputs get one frame (= canonicalization), symmetric ones a few.
``"weighted"``
    Frames built from the points themselves, weighted continuously (in the spirit of
    Dym, Lawrence & Siegel, ICML 2024): the first axis points to point ``i`` with weight
    ``∝ u_i·exp(β·u_i)``, ``u_i = |y_i|²/mean|y|²`` (centred points), the second (3-D) to
    point ``j``'s part orthogonal to it, weighted alike; the last axis completes the
    frame, with both orientations for O(d)/E(d) weighted by ``σ(±β·skew)`` (skewness
    along it). Every weight is a continuous function of the input and vanishes where its
    axis is undefined, so nearly tied choices get nearly equal weights and the average
    is continuous. Weights below ``CUTOFF`` × the largest are dropped continuously
    (``max(w − CUTOFF·max w, 0)``, renormalized). ``d`` ≤ 3.
``"sampled"``
    ``E(x)·g_j`` for ``k`` fixed Haar-random elements ``g_j`` (stochastic frame
    averaging): in distribution the same as ``k`` Haar samples, but fixed, so every
    prediction is exactly invariant and repeatable. Equal weights.
"""

from __future__ import annotations

import itertools
from collections import namedtuple

import numpy as np

from ._kernels.fields import geometric_points, weighted_centroid
from .groups import get_group, haar_orthogonal

__all__ = ["FRAME_KINDS", "FrameSet", "GroupSpec", "parse_group", "frame_set", "canonical_forms",
           "apply_frames", "map_back", "to_frames", "haar_elements"]

FRAME_KINDS = ("pca", "minimal", "weighted", "sampled")
CUTOFF = 1e-2           # weighted frames: weights below this × the largest are dropped (continuously)
SUPPORTED = "O(d), SO(d), E(d) or SE(d) (e.g. 'O2', 'SO3', 'E3', 'SE3'), optionally × S_n ('SE3xS_n')"

GroupSpec = namedtuple("GroupSpec", ["group", "geometric", "d", "special", "translating", "permuting"])
GroupSpec.__doc__ = """A group that frame averaging supports, taken apart: the whole group, its
geometric factor (O(d)/SO(d)/E(d)/SE(d)), the dimension, whether it is special, whether it
translates and whether it permutes points."""

FrameSet = namedtuple("FrameSet", ["R", "t", "weights", "line"], defaults=(None,))
FrameSet.__doc__ = """Frames of ``n`` samples, ``k`` per sample (padded with zero weights).

``R`` : ``(n, k, d, d)`` orthogonal matrices (columns are the frame's axes);
``t`` : ``(n, d)`` translation (the centroid) or ``None`` for groups without translations;
``weights`` : ``(n, k)``, non-negative, each row sums to one;
``line`` : ``(n,)`` bool or None, samples on a line whose frames leave the rotation about
it open (weighted frames in 3-D): moving targets are averaged over those rotations."""


def parse_group(group):
    """Resolve ``group`` into a :class:`GroupSpec`, or raise a ``ValueError`` naming the
    parameter and the supported groups."""
    try:
        g = get_group(group)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"group={group!r} is not a group frame averaging supports ({SUPPORTED}): {exc}") from None
    # frame sets are orthogonal frames (and the centroid) with their sign choices: one
    # continuous factor that rotates points without rescaling them, optionally one that
    # only permutes the points (sorted after the frame)
    geometric = [f for f in g.factors if f.rotates]
    perms = [f for f in g.factors if f.permutes and not f.rotates]
    geo = geometric[0] if len(geometric) == 1 else None
    if (geo is None or geo.rescales or geo.is_finite or "points" not in geo.layout_kinds
            or len(perms) > 1 or len(geometric) + len(perms) != len(g.factors)):
        raise ValueError(f"group={g.name!r} is not supported by frame averaging; use {SUPPORTED}.")
    return GroupSpec(g, geo, geo.d, geo.special, geo.translates, bool(perms))


def _sign_table(d, special):
    signs = np.array(list(itertools.product([1.0, -1.0], repeat=d)))
    return signs[np.prod(signs, axis=1) > 0] if special else signs


def _centred(Y, w):
    W = w.sum(axis=1)
    c = weighted_centroid(Y, w)
    Yc = np.where(w[..., None] > 0, Y - c[:, None, :], 0.0)
    s = np.einsum("nm,nmd->n", w, Yc**2) / np.where(W > 0, W, 1.0)  # mean squared norm
    return Yc, c, s, np.where(W > 0, W, 1.0)


def _skew(Yc, w, axes, s, W):
    """Normalized third moment of the centred points along ``axes`` (``(n, ..., d)``)."""
    shape = (-1,) + (1,) * (axes.ndim - 2)
    root = np.sqrt(np.maximum(s, 0.0))
    safe = np.where(root > 0, root, 1.0)
    proj = np.einsum("nmd,n...d->n...m", Yc / safe[:, None, None], axes)   # in units of the spread
    m3 = np.einsum("nm,n...m->n...", w, proj**3) / W.reshape(shape)
    return np.where((root > 0).reshape(shape), m3, 0.0)


def sign_tolerance(dtype):
    """Normalized third moments below this do not decide a sign (``"minimal"`` frames):
    ``1e-6`` for float64 input, ``1e-3`` for float32 (rounding of the input dominates)."""
    return 1e-3 if np.dtype(dtype) == np.float32 else 1e-6


def frame_set(P, layout, spec, kind, *, canonical=None, elements=None, sharpness=10.0, dtype=np.float64):
    """Frame set of every sample of the working array ``P`` (``(n, m, width)``).

    Parameters
    ----------
    P : ndarray of shape (n, m, width)
        Samples in the working array of ``layout`` (absent points are NaN rows).
    layout : PointLayout
    spec : GroupSpec
        From :func:`parse_group`.
    kind : {"pca", "minimal", "weighted", "sampled"}
    canonical : ndarray of shape (n, d, d) or None
        The canonical rotation part ``E(x)`` of each sample (``"pca"``, ``"minimal"``,
        ``"sampled"``); the estimators pass the library's PCA canonicalizer's frames.
    elements : ndarray of shape (k, d, d) or None
        Fixed group elements for ``"sampled"``.
    sharpness : float, default=10.0
        ``β`` of the weighted frames: larger gives fewer frames and steeper weights.
    dtype : dtype
        Dtype of the caller's input (sets the sign tolerance of ``"minimal"``).

    Returns
    -------
    FrameSet
    """
    Y, w, _ = geometric_points(P, layout)
    Yc, c, s, W = _centred(Y, w)
    n, d = Y.shape[0], spec.d
    t = c if spec.translating else None
    if kind == "weighted":
        if not spec.translating:  # O(d)/SO(d) fix the origin, not the centroid: build on the points as given
            Yc, _, s, W = Y, c, np.einsum("nm,nmd->n", w, Y**2) / W, W
        floor = 1e-18 if np.dtype(dtype) == np.float64 else 1e-10   # squared rounding noise
        R, weights, line = _weighted(Yc, w, s, W, spec, float(sharpness), floor)
        return FrameSet(R, t, weights, line)
    if kind not in ("pca", "minimal", "sampled"):
        raise ValueError(f"frames must be one of {FRAME_KINDS}; got {kind!r}.")
    E = np.asarray(canonical, dtype=np.float64)
    signs = _sign_table(d, spec.special)                       # (K, d)
    R = E[:, None, :, :] * signs[None, :, None, :]
    if kind == "pca":
        return FrameSet(R, t, np.full((n, len(signs)), 1.0 / len(signs)))
    m3 = _skew(Yc, w, np.swapaxes(E, 1, 2), s, W)             # (n, d): along each axis of E
    decided = np.abs(m3) > sign_tolerance(dtype)
    want = np.where(m3 >= 0, 1.0, -1.0)
    ok = np.all(~decided[:, None, :] | (signs[None] == want[:, None, :]), axis=2)  # (n, K)
    stuck = ~ok.any(axis=1)
    if stuck.any():  # SO(d): the decided signs give det -1; leave the least certain one open
        weakest = np.argmin(np.where(decided, np.abs(m3), np.inf), axis=1)
        decided[stuck, weakest[stuck]] = False
        ok = np.all(~decided[:, None, :] | (signs[None] == want[:, None, :]), axis=2)
    flat = s <= 1e-20 * np.maximum(np.einsum("nmd->n", Y**2), 1e-300)  # no spread: one frame
    ok[flat] = False
    ok[flat, 0] = True
    weights = ok / ok.sum(axis=1, keepdims=True)
    if kind == "sampled":
        # the open signs (the input's mirror symmetries) times the Haar elements, so the set
        # stays equivariant where the canonical frame's sign is a free choice
        G = np.asarray(elements, dtype=np.float64)
        R = np.einsum("nKij,kjl->nKkil", R, G).reshape(n, -1, d, d)
        weights = np.repeat(weights, len(G), axis=1) / len(G)
        R, weights = _compact(R, weights)
    return FrameSet(R, t, weights)


def _cut(a):
    """Drop weights below ``CUTOFF`` × the largest of each row, continuously, and renormalize."""
    top = a.max(axis=1, keepdims=True)
    a = np.maximum(a - CUTOFF * top, 0.0)
    tot = a.sum(axis=1, keepdims=True)
    return a / np.where(tot > 0, tot, 1.0)


def _softweights(u, present, beta):
    """``∝ u·exp(β·u)`` over present entries (0 where ``u`` = 0), rows summing to one."""
    u = np.where(present, u, 0.0)
    e = np.where(present, u * np.exp(beta * (u - u.max(axis=-1, keepdims=True))), 0.0)
    tot = e.sum(axis=-1, keepdims=True)
    return e / np.where(tot > 0, tot, 1.0), tot[..., 0] > 0


def _weighted(Yc, w, s, W, spec, beta, floor=1e-18):
    n, m, d = Yc.shape
    line = np.zeros(n, bool)
    if d > 3:
        raise ValueError(
            f"frames='weighted' supports d ≤ 3; group {spec.group.name!r} acts in {d} dimensions.")
    present = w > 0
    safe_s = np.maximum(s, 1e-300)[:, None]
    norms = np.sqrt(np.einsum("nmd,nmd->nm", Yc, Yc))
    a, has = _softweights(norms**2 / safe_s, present, beta)
    a = _cut(a)
    e1 = Yc / np.where(norms > 0, norms, 1.0)[..., None]                  # (n, m, d)
    if d == 1:
        R = e1[..., None]                                                 # (n, m, 1, 1)
        weights = a
        if spec.special:
            R, weights = np.ones((n, 1, 1, 1)), np.ones((n, 1))
    elif d == 2:
        e2 = np.stack([-e1[..., 1], e1[..., 0]], axis=-1)
        R = np.stack([e1, e2], axis=-1)                                    # (n, m, 2, 2)
        weights = a
        if not spec.special:
            R, weights = _both_orientations(R, weights, Yc, w, s, W, beta)
    else:
        # second axis: point j's part orthogonal to e1_i
        r = Yc[:, None, :, :] - np.einsum("njd,nid->nij", Yc, e1)[..., None] * e1[:, :, None, :]
        r = r - np.einsum("nijd,nid->nij", r, e1)[..., None] * e1[:, :, None, :]  # once more: rounding
        rn = np.sqrt(np.einsum("nijd,nijd->nij", r, r))
        # remainders at the level of rounding noise (points on the line of e1) are no direction
        valid = present[:, None, :] & (a[..., None] > 0) & (rn**2 > floor * safe_s[..., None])
        b, _ = _softweights(rn**2 / safe_s[..., None], valid, beta)
        b = _cut(b.reshape(n * m, m)).reshape(n, m, m)
        e2 = r / np.where(rn > 0, rn, 1.0)[..., None]
        # a collinear sample: any axis perpendicular to the line gives the same positions;
        # take the coordinate axis least aligned with e1, made perpendicular
        lone = (a > 0) & ~valid.any(axis=2)
        if lone.any():
            u = np.eye(3)[np.argmin(np.abs(e1[lone]), axis=1)]
            u = u - np.einsum("kd,kd->k", u, e1[lone])[:, None] * e1[lone]
            e2[lone, 0] = u / np.linalg.norm(u, axis=1, keepdims=True)
            b[lone] = 0.0
            b[lone, 0] = 1.0
            line = lone.any(axis=1)
        e1b = np.broadcast_to(e1[:, :, None, :], e2.shape)
        R = np.stack([e1b, e2, np.cross(e1b, e2)], axis=-1).reshape(n, m * m, 3, 3)
        weights = (a[:, :, None] * b).reshape(n, m * m)
        R, weights = _compact(R, weights)         # the m² pairs, less the zero-weight ones
        if not spec.special:
            R, weights = _both_orientations(R, weights, Yc, w, s, W, beta)
    R, weights = _compact(R, weights)
    degenerate = weights.sum(axis=1) <= 0       # all points at the centroid: identity frame
    if degenerate.any():
        R[degenerate] = 0.0
        R[degenerate, 0] = np.eye(d)
        weights[degenerate] = 0.0
        weights[degenerate, 0] = 1.0
    return R, weights, line


def _both_orientations(R, weights, Yc, w, s, W, beta):
    """O(d): each frame and its mirror (last axis negated), weighted by ``σ(±β·skew)`` of the
    points along the last axis, so the choice is continuous where the skew vanishes."""
    last = R[..., :, -1]                                                    # (n, K, d)
    sk = _skew(Yc, w, last, s, W)                                         # (n, K)
    p = 0.5 * (1.0 + np.tanh(0.5 * beta * sk))                            # logistic σ(β·skew)
    mirror = R.copy()
    mirror[..., :, -1] *= -1
    return np.concatenate([R, mirror], axis=1), np.concatenate([weights * p, weights * (1 - p)], axis=1)


def _compact(R, weights):
    """Keep the columns some sample uses (frames with weight 0 everywhere are dropped)."""
    order = np.argsort(-weights, axis=1, kind="stable")
    k = max(int((weights > 0).sum(axis=1).max(initial=0)), 1)
    idx = order[:, :k]
    return (np.take_along_axis(R, idx[:, :, None, None], axis=1),
            np.take_along_axis(weights, idx, axis=1).copy())


def _elements(spec, R, t):
    """Group elements of the geometric factor for ``(N, d, d)`` rotations and ``(N, d)`` shifts
    (None for groups that do not translate)."""
    return spec.geometric.nearest_element(R, t)


def _sort_order(Q, layout):
    """Per sample, the order of points sorted by their canonical coordinates (rounded to
    1e-8 of the sample's scale, 1e-4 for float32 input, so rounding noise does not reorder
    tied points; absent points last)."""
    absent = np.isnan(Q).all(axis=2)
    Z = np.where(np.isnan(Q), 0.0, Q)
    scale = np.maximum(np.abs(Z).max(axis=(1, 2), keepdims=True), 1e-300)
    keys = np.round(Z / (scale * (1e-8 if Q.dtype == np.float64 else 1e-4)))
    keys = np.where(absent[..., None], np.inf, keys)              # absent points last
    order = np.argsort(keys[..., -1], axis=1, kind="stable")
    for col in range(Q.shape[2] - 2, -1, -1):                     # stable passes: column 0 decides first
        k = np.take_along_axis(keys[..., col], order, axis=1)
        order = np.take_along_axis(order, np.argsort(k, axis=1, kind="stable"), axis=1)
    # runs of tied points (equal keys) in sorted order: the sort leaves their order open
    ks = np.take_along_axis(keys, order[..., None], axis=1)
    same = np.all(ks[:, 1:] == ks[:, :-1], axis=2)
    runs = np.concatenate([np.zeros((len(Q), 1), np.intp), np.cumsum(~same, axis=1)], axis=1)
    return order, runs


def apply_frames(fs, P, layout, spec, rows):
    """Canonical forms ``h⁻¹·x`` for the frames ``rows = (sample index, frame index)``.

    Returns ``(Q, order)``: ``Q`` of shape ``(len, m, width)`` and, for groups with S_n,
    ``(perm, runs)``: the sorting order of each form's points and, per sorted position, the
    index of its run of tied points (``None`` without S_n).
    """
    i, j = rows
    R = fs.R[i, j]
    t = None if fs.t is None else fs.t[i]
    g = spec.geometric.inverse(_elements(spec, R, t))
    Q = spec.geometric.act(g, P[i], layout)
    if not spec.permuting:
        return Q, None
    order, runs = _sort_order(Q, layout)
    return np.take_along_axis(Q, order[..., None], axis=1), (order, runs)


def canonical_forms(fs, P, layout, spec):
    """Every frame with positive weight: ``(Q, order, rows, weights)`` where ``rows`` are
    the (sample, frame) index pairs, in sample order."""
    i, j = np.nonzero(fs.weights > 0)
    Q, order = apply_frames(fs, P, layout, spec, (i, j))
    return Q, order, (i, j), fs.weights[i, j]


def map_back(fs, Yc, target_layout, spec, rows, order):
    """Map targets ``Yc`` (``(len, mt, wt)``, in the canonical frames ``rows``) back with
    their frames: undo the sort (when ``Yc`` has one row per point of ``X``), then act
    with ``h``. :func:`map_back` after :func:`to_frames` is the identity."""
    i, j = rows
    if order is not None and Yc.shape[1] == order[0].shape[1]:
        perm, runs = order
        # tied points are interchangeable: give each the mean of its run (averaging over
        # the orders the sort leaves open keeps the output equivariant)
        N, m = runs.shape
        sums = np.zeros((N, m) + Yc.shape[2:])
        counts = np.zeros((N, m))
        rows_ = np.broadcast_to(np.arange(N)[:, None], runs.shape)
        np.add.at(sums, (rows_, runs), Yc)
        np.add.at(counts, (rows_, runs), 1.0)
        Yc = (sums / np.maximum(counts, 1.0)[..., None])[rows_, runs]
        out = np.empty_like(Yc)
        np.put_along_axis(out, perm[..., None], Yc, axis=1)
        Yc = out
    if fs.line is not None and fs.line[i].any():
        # the average over rotations about the line (the first axis) keeps the component along it
        Yc = Yc.copy()
        for f in target_layout.fields:
            if f.is_geometric:
                sl = target_layout.slice_of(f.name)
                Yc[fs.line[i], :, sl.start + 1:sl.stop] = 0.0
    t = None if fs.t is None else fs.t[i]
    return spec.geometric.act(_elements(spec, fs.R[i, j], t), Yc, target_layout)


def to_frames(fs, Y, target_layout, spec, rows, order):
    """Targets ``Y`` (``(n, mt, wt)``) in the canonical frames ``rows`` (sorted like the inputs
    when they have one row per point)."""
    i, j = rows
    t = None if fs.t is None else fs.t[i]
    g = spec.geometric.inverse(_elements(spec, fs.R[i, j], t))
    Yc = spec.geometric.act(g, Y[i], target_layout)
    if order is not None and Yc.shape[1] == order[0].shape[1]:
        Yc = np.take_along_axis(Yc, order[0][..., None], axis=1)
    return Yc


def haar_elements(k, spec, random_state):
    """``k`` Haar-random rotation parts (SO(d) for special groups) for ``"sampled"`` frames."""
    return haar_orthogonal(k, spec.d, random_state, special=spec.special)
