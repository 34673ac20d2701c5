"""Frame sets for frame averaging: several group elements per sample, with weights.

A *frame* of a sample ``x`` is a group element ``h`` with ``h(g·x) = g·h(x)``; a
*frame set* is a finite weighted set of them, ``{(h_j(x), w_j(x))}``, that moves with the
input as a whole: ``{h_j(g·x)} = {g·h_j(x)}`` with the same weights. Averaging any
function over the canonical forms ``h_j(x)⁻¹·x`` with those weights is then exactly
invariant, and mapping outputs back with ``h_j(x)`` before averaging makes it exactly
equivariant (Puny et al., ICLR 2022). This module computes frame sets for point sets
under O(d), SO(d), E(d) and SE(d), and under finite rotation groups (C_n, D_n, the
octahedral and icosahedral groups, any group that lists its ``elements()``), optionally
× S_n (points sorted after the frame);
:class:`~skcanon.FrameAveragingClassifier` and :class:`~skcanon.FrameAveragingRegressor`
use them. One concern: computing and applying frame sets; which groups qualify is read
from their capabilities (:func:`parse_group`).

Frame sources (``kind``):

``"pca"``
    The library's canonical PCA frame ``E(x)`` (its tie rules settle repeated
    eigenvalues) with every sign choice of its axes: ``E·diag(s)`` for the ``2^d``
    sign vectors ``s`` (``2^(d-1)`` with ``prod(s) = 1`` for SO(d)/SE(d)), equal weights.
    The signs, which canonicalization decides from the third moment, are left open.
    Under ``×S_n``, a sample with repeated covariance eigenvalues takes every sign choice
    of each frame of its symmetries (see ``"minimal"``), so the set moves with the input.
``"minimal"``
    Only the sign choices the input leaves open: an axis whose normalized third moment
    settles its sign keeps it; undecided axes (mirror-symmetric along them) take both.
    Most generic inputs get one frame (= canonicalization) in float64, symmetric ones a
    few; nearly flat clouds (the thin axis's third moment is normalized by the whole
    cloud's spread) and float32 inputs (``sign_tolerance``) leave open more signs. Under
    ``×S_n``, a sample whose covariance has repeated eigenvalues (a regular polygon, a cube)
    takes instead every frame the PCA tie rule cannot tell from its choice by the points
    as a set: its symmetries' frames, which mix axes (24 for a cube under SE(3)); the set
    moves with the input, so moving targets are exact there too.
``"weighted"``
    Frames built from the points themselves, weighted continuously (in the spirit of
    Dym, Lawrence & Siegel, ICML 2024): the first axis points to point ``i`` with weight
    ``∝ u_i·exp(β·u_i)``, ``u_i = |y_i|²/mean|y|²`` (centred points), the second (3-D) to
    point ``j``'s part orthogonal to it, weighted alike; the last axis completes the
    frame, with both orientations for O(d)/E(d) weighted by ``σ(±β·skew)`` (skewness
    along it). Every weight is a continuous function of the input and vanishes where its
    axis is undefined, so nearly tied choices get nearly equal weights and the average
    is continuous (for invariant outputs; moving targets of 3-D clouds near a line are not).
    Weights below ``CUTOFF`` × the largest are dropped continuously
    (``max(w − CUTOFF·max w, 0)``, renormalized). ``d`` ≤ 3.
``"sampled"``
    ``E(x)·g_j`` for ``k`` fixed Haar-random elements ``g_j`` (stochastic frame
    averaging): in distribution the same as ``k`` Haar samples, but fixed, so every
    prediction is exactly invariant and repeatable. Equal weights. Under ``×S_n`` a sample
    with repeated covariance eigenvalues takes each frame of its symmetries (see
    ``"minimal"``) times the ``g_j``.
``"group"``
    Finite groups: every element, weights ``1/|G|`` (exact group averaging).

Finite groups take ``"group"`` and ``"minimal"``; there ``"minimal"`` keeps the elements
whose canonical form (points sorted under S_n) is the smallest: one for generic inputs,
the whole coset of the input's symmetry for symmetric ones, so it is exactly invariant
and equivariant on symmetric inputs too.

Cost: :func:`frame_forms` computes a frame set and every canonical form under it in one
pass. The PCA-based sources canonicalize once and derive each further form from the
canonical one (a sign flip of columns, or one small matrix product), so ``k`` frames cost
about one canonicalization plus ``k`` copies; all forms of a batch are sorted by one call
of the tolerant row sort.
"""

from __future__ import annotations

import functools
import itertools
from collections import namedtuple

import numpy as np

from ._kernels.fields import attached_vectors, geometric_field, geometric_points, pow2_rescale, weighted_centroid
from ._kernels.lexsort import (SORT_RTOL, fast_lexsort, gather_points, magnitude_groups, scaled_by_group,
                               tolerant_lexsort)
from ._kernels.pca import flat_rtol, gap_rtol, pca_tied_frames
from .groups import get_group, haar_orthogonal
from .groups._base import rotate_fields
from ._noise import geometric_slices as _geometric_slices
from ._noise import noise_axes as _noise_axes
from ._noise import zero_noise_axes as _zero_noise_axes
from ._noise import zero_noise_entries as _zero_noise_entries
from ._validation import named_random_state
from .layouts import PointLayout

__all__ = ["FRAME_KINDS", "CONTINUOUS_KINDS", "FINITE_KINDS", "FrameSet", "FrameForms", "GroupSpec",
           "parse_group", "check_kind", "frame_set", "frame_forms", "canonical_forms", "apply_frames",
           "map_back", "to_frames", "haar_elements", "repeated_spread", "symmetric_candidates",
           "tie_candidates", "tie_runs", "stabilizer_rows"]

FRAME_KINDS = ("pca", "minimal", "weighted", "sampled", "group")
CONTINUOUS_KINDS = ("pca", "minimal", "weighted", "sampled")   # continuous rotation groups
FINITE_KINDS = ("group", "minimal")                             # finite rotation groups
CUTOFF = 1e-2           # weighted frames: weights below this × the largest are dropped (continuously)
SUPPORTED = ("O(d), SO(d), E(d) or SE(d) (e.g. 'O2', 'SO3', 'E3', 'SE3') or a finite rotation group "
             "('C4', 'D3', 'O', 'I'), optionally × S_n ('SE3xS_n', 'D4xS_n')")

GroupSpec = namedtuple("GroupSpec", ["group", "geometric", "d", "special", "translating", "permuting",
                                     "finite"], defaults=(False,))
GroupSpec.__doc__ = """A group that frame averaging supports, taken apart: the whole group, its
geometric factor (O(d)/SO(d)/E(d)/SE(d) or a finite rotation group), the dimension, whether
it is special, whether it translates, whether it permutes points and whether it is finite."""

FrameForms = namedtuple("FrameForms", ["frames", "Q", "order", "rows", "weights"])
FrameForms.__doc__ = """A frame set and every canonical form with positive weight (:func:`frame_forms`).

``frames`` : :class:`FrameSet`; ``Q`` : ``(N, m, width)`` canonical forms, one per row
``rows = (sample index, frame index)`` (in sample order); ``order`` : for groups with S_n,
``(perm, runs)`` — each form's sorting order and, per sorted position, the index of its run
of tied points (``None`` without S_n); ``weights`` : ``(N,)`` the rows' frame weights."""

FrameSet = namedtuple("FrameSet", ["R", "t", "weights", "line", "free", "axis"], defaults=(None, None, None))
FrameSet.__doc__ = """Frames of ``n`` samples, ``k`` per sample (padded with zero weights).

``R`` : ``(n, k, d, d)`` orthogonal matrices (columns are the frame's axes);
``t`` : ``(n, d)`` translation (the centroid) or ``None`` for groups without translations;
``weights`` : ``(n, k)``, non-negative, each row sums to one;
``line`` : ``(n,)`` bool or None, samples on a line whose frames leave the rotation about
it (their first axis) open (weighted frames in 3-D): moving targets are averaged over
those rotations;
``free`` : ``(n,)`` bool or None, samples whose frames leave every rotation open (all points
at one place, the origin for groups without translations, and no other field to go by):
moving targets are averaged over every rotation, which keeps only their translation;
``axis`` : ``(n, d)`` or None, for ``"minimal"`` and ``"sampled"`` frames of points at one
place off the origin (groups without translations), the unit vector to that place, zero
for other samples: moving targets are averaged over the rotations about it."""


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
    if (geo is None or geo.rescales or "points" not in geo.layout_kinds
            or (geo.is_finite and geo.translates)
            or len(perms) > 1 or len(geometric) + len(perms) != len(g.factors)):
        raise ValueError(f"group={g.name!r} is not supported by frame averaging; use {SUPPORTED}.")
    return GroupSpec(g, geo, geo.d, geo.special, geo.translates, bool(perms), bool(geo.is_finite))


def check_kind(spec, kind):
    """Raise a ``ValueError`` naming ``frames`` when ``spec``'s group has no frames of ``kind``."""
    _check_spec(spec)
    kinds = FINITE_KINDS if spec.finite else CONTINUOUS_KINDS
    if kind not in kinds:
        what = "finite" if spec.finite else "continuous"
        raise ValueError(f"frames={kind!r} is not available for the {what} group {spec.group.name!r}; "
                         f"use one of {kinds}.")


@functools.lru_cache(maxsize=None)
def _signs(d, special):
    signs = np.array(list(itertools.product([1.0, -1.0], repeat=d)))
    signs = signs[np.prod(signs, axis=1) > 0] if special else signs
    signs.setflags(write=False)
    return signs


def _sign_table(d, special):
    return _signs(int(d), bool(special))


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


def frame_set(P, layout, spec, kind, *, canonicalizer=None, elements=None, sharpness=10.0, dtype=None):
    """Frame set of every sample of the working array ``P`` (``(n, m, width)``).

    The frames of :func:`frame_forms` (same parameters, checked the same way), without
    keeping the canonical forms.
    """
    return frame_forms(P, layout, spec, kind, canonicalizer=canonicalizer, elements=elements,
                       sharpness=sharpness, dtype=dtype).frames


def frame_forms(P, layout, spec, kind, *, canonicalizer=None, elements=None, sharpness=10.0, dtype=None):
    """Frame set of every sample and its canonical form under each frame of positive weight.

    Coordinates along canonical axes where a form has no extent (a planar cloud's normal,
    every axis of points at one place) are rounding noise and come out as exactly 0, so the
    forms a sample's symmetry relates are equal (continuous groups; see
    :func:`_zero_noise_axes`).

    Parameters
    ----------
    P : ndarray of shape (n, m, width)
        Samples in the working array of ``layout`` (absent points are NaN rows; integers are
        read as float64).
    layout : PointLayout
    spec : GroupSpec
        From :func:`parse_group`.
    kind : {"pca", "minimal", "weighted", "sampled", "group"}
        Checked against the group with :func:`check_kind`.
    canonicalizer : CanonicalizerTransformer, Canonicalizer or None
        The PCA canonicalizer of ``spec.geometric``, required for ``"pca"``, ``"minimal"``
        and ``"sampled"`` on continuous groups (ignored otherwise): a fitted
        ``CanonicalizerTransformer(spec.geometric, "pca")`` or its ``canonicalizer_``. Its
        canonical form and frame are computed once and every other frame's form derived
        from them.
    elements : ndarray of shape (k, d, d) or None
        Fixed orthogonal rotation parts, required for ``"sampled"`` (determinant +1 for
        special groups), e.g. :func:`haar_elements`.
    sharpness : float, default=10.0
        ``β`` of the weighted frames (positive): larger gives fewer frames and steeper weights.
    dtype : floating dtype or None
        Dtype of the caller's input (sign and tie tolerances); None: that of ``P``.

    Returns
    -------
    FrameForms

    Raises
    ------
    TypeError, ValueError
        Naming the parameter and what it should be, for a ``spec`` not from
        :func:`parse_group`, a ``layout`` that is not a ``PointLayout`` in ``spec``'s
        dimensions, a ``P`` that is not ``(n, m, layout.width)``, a missing, unfitted or
        other canonicalizer, missing or malformed ``elements``, and a ``dtype`` that is not
        a floating one.
    """
    P, canonicalizer, elements = _check_frame_inputs(P, layout, spec, kind, canonicalizer, elements,
                                                     sharpness)
    dtype = P.dtype if dtype is None else _check_dtype(dtype)
    if spec.finite:
        return _finite_forms(P, layout, spec, kind, dtype)
    if kind == "weighted":
        Y, w, _ = geometric_points(P, layout)
        Y, e = pow2_rescale(Y, w)   # weights do not depend on size; squares of 1e160 would overflow
        Yc, c, s, W = _centred(Y, w)
        t = np.ldexp(c, e[:, None]) if spec.translating else None
        if not spec.translating:  # O(d)/SO(d) fix the origin, not the centroid: build on the points as given
            Yc, s = Y, np.einsum("nm,nmd->n", w, Y**2) / W
        floor = 1e-18 if dtype == np.float64 else 1e-10   # squared rounding noise
        # points that coincide up to rounding (after a move) have no spread, not noise axes:
        # a cloud within 1e-10 of its distance from the origin (8e-6 in float32), the rule
        # of the canonicalizers (user guide); 1e-9 had clouds of size 2 at 2e9 count as one
        # point, given the identity frame (invariance error 1.07 where "pca" gives 0)
        one_point = flat_rtol(np.finfo(dtype).eps)
        flat = s <= one_point * np.max(np.einsum("nmd,nmd->nm", Y, Y), axis=1)
        if flat.any():
            Yc, s = Yc.copy(), s.copy()
            Yc[flat], s[flat] = 0.0, 0.0
        centre = t if spec.translating else None

        def attached(rows):   # the other fields, for samples whose positions leave the frame open
            at = None if centre is None else centre[rows]
            return _attached_without_noise(P[rows], layout, at, at, dtype)[:2]

        # only geometric fields give directions: scalar fields (atomic numbers) alone left
        # collinear, one-point and coincident samples with an empty array of vectors
        others = [f for f in layout.fields if f.is_geometric and f.name != geometric_field(layout).name]
        R, weights, line, free = _weighted(Yc, w, s, W, spec, float(sharpness), floor,
                                           attached if others else None)
        fs = FrameSet(R, t, weights, line, free if free.any() else None)
        i, j = np.nonzero(weights > 0)
        Q = _forms(P[i], R[i, j], None if t is None else t[i], layout)
        return _finish(fs, Q, (i, j), spec, layout, dtype, entries=True)
    # PCA-based sources: one canonicalization, then each frame relative to it
    Z0, h = canonicalizer.canonicalize(P, layout)
    E = np.asarray(spec.geometric.matrices(h), dtype=np.float64)
    t = np.asarray(spec.geometric.translations(h), dtype=np.float64) if spec.translating else None
    n, d = E.shape[0], spec.d
    signs = _sign_table(d, spec.special)                       # (K, d)
    # the samples with an axis of no extent in the canonical frame: only their forms (sign
    # flips of it, or frames a symmetry relates) can have one (_finish)
    screened = _noise_axes(Z0, layout, dtype, None if t is None else np.abs(t).max(axis=1)).any(axis=1)
    flat = None
    if kind == "pca":
        weights = np.full((n, len(signs)), 1.0 / len(signs))
        if len(layout.fields) > 1:
            flat = _open_signs(Z0, layout, signs, dtype, t)[1]
    else:
        weights, flat = _open_signs(Z0, layout, signs, dtype, t)
        axis, free = _open_rotations(flat, P, layout, spec, t, dtype)
    # positions without spread whose frame the other fields' vectors gave: every coordinate
    # that is rounding noise is zeroed, as for frames built on points (_finish)
    on_vectors = False if flat is None or len(layout.fields) < 2 else flat
    R = E[:, None, :, :] * signs[None, :, None, :]              # E·diag(s): a column sign flip
    R, weights, idx = _compact(R, weights, return_index=True)   # only the open signs
    if kind == "sampled":
        # the open signs (the input's mirror symmetries) times the Haar elements, so the set
        # stays equivariant where the canonical frame's sign is a free choice
        G = np.asarray(elements, dtype=np.float64)
        k = len(G)
        n_open = R.shape[1]
        R = np.matmul(R[:, :, None], G[None, None]).reshape(n, n_open * k, d, d)
        weights = np.repeat(weights, k, axis=1) / k
        rows, sets = _symmetric_sets(Z0, P, layout, spec, flat, t, dtype) if spec.permuting else ((), ())
        if len(rows):   # regular shapes under S_n: each symmetry frame times the elements
            R, weights = _with_frame_sets(R, weights, rows, [(f[:, None] @ G[None]).reshape(-1, d, d)
                                                             for f in sets])
        fs = FrameSet(R, t, weights, None, free, axis)
        i, j = _rows_of(weights)
        # relative frame of row (open sign a, element b): diag(s_a)·G_b
        Q = _forms_with_sets(Z0, E, R, rows, (i, j), layout,
                             lambda a, b: _relative(Z0[a], signs[idx[a, b // k]][:, :, None] * G[b % k], layout))
        return _finish(fs, Q, (i, j), spec, layout, dtype, screened, on_vectors)
    if kind in ("minimal", "pca") and spec.permuting:
        # "pca": every sign choice of each of those frames
        rows, sets = _symmetric_sets(Z0, P, layout, spec, None if kind == "pca" else flat, t, dtype,
                                     signs if kind == "pca" else None)
        if rows.size:      # their symmetries' frames instead of the sign choices
            R2, weights = _with_frame_sets(R, weights, rows, sets)
            fs = FrameSet(R2, t, weights, None, free, axis) if kind == "minimal" else FrameSet(R2, t, weights)
            i, j = _rows_of(weights)
            # the other samples' forms as without these (a sign flip: the same bits in any batch)
            Q = _forms_with_sets(Z0, E, R2, rows, (i, j), layout,
                                 lambda a, b: _flip(Z0[a], signs[idx[a, b]], layout))
            return _finish(fs, Q, (i, j), spec, layout, dtype, screened, on_vectors)
    fs = FrameSet(R, t, weights, None, free, axis) if kind == "minimal" else FrameSet(R, t, weights)
    i, j = _rows_of(weights)
    if len(i) == n and (signs[idx[i, j]] > 0).all():
        Q = Z0                     # one frame per sample, the canonical one (generic "minimal")
    else:  # sign flips of columns: no product needed
        Q = _flip(Z0[i], signs[idx[i, j]], layout)
    return _finish(fs, Q, (i, j), spec, layout, dtype, screened, on_vectors)


def _check_spec(spec):
    if not isinstance(spec, GroupSpec):
        raise TypeError(f"spec must be a GroupSpec from parse_group(group) (e.g. parse_group('SE3')); "
                        f"got {type(spec).__name__} {spec!r}.")


def _check_points(P, layout, spec, name="P", layout_name="layout"):
    """``P`` as an array: the working array ``(n, m, width)`` of ``layout``, a ``PointLayout``
    in ``spec``'s dimensions; else a TypeError or ValueError naming ``name`` or ``layout_name``."""
    if not isinstance(layout, PointLayout):
        raise TypeError(f"{layout_name} must be a PointLayout (e.g. PointLayout({spec.d})); got "
                        f"{type(layout).__name__} {layout!r}.")
    if layout.n_dims != spec.d:
        raise ValueError(f"{layout_name} has n_dims={layout.n_dims}, but the group {spec.group.name!r} acts "
                         f"in {spec.d} dimensions; pass a PointLayout({spec.d}, ...).")
    if not isinstance(P, np.ndarray):
        try:
            P = np.asarray(P)
        except ValueError:       # ragged nested sequences
            P = None
    expected = f"(n_samples, n_points, {layout.width})"
    if P is None or P.dtype.kind not in "fiu":
        what = "a ragged sequence" if P is None else f"dtype {P.dtype}"
        raise TypeError(f"{name} must be a real numeric array of shape {expected} (the working array of "
                        f"{layout_name}: {layout._describe()}); got {what}.")
    if P.ndim != 3 or P.shape[2] != layout.width:
        raise ValueError(
            f"{name} must have shape {expected}, the working array of {layout_name} "
            f"({layout._describe()}); got shape {P.shape}. Fix: for flat rows (n_samples, "
            f"n_points * {layout.width}) pass {layout_name}.to_working(X); for points with other "
            f"fields pass the PointLayout({spec.d}, fields=[...]) that describes them.")
    if P.shape[1] == 0:
        raise ValueError(f"{name} has no points (shape {P.shape}); frames need at least one point per sample.")
    # NaN only as whole absent-point rows, no infinity (a NaN coordinate gave NaN weights
    # and dropped the sample's forms silently), as the estimators check
    layout.check_absent_rows(P, name=name)
    # integer coordinates are read as float64, as the estimators read them (their dtype has
    # no rounding to set tolerances with: "weighted" frames failed inside np.finfo)
    return P.astype(np.float64) if P.dtype.kind in "iu" else P


def _check_dtype(dtype):
    """``dtype`` of :func:`frame_forms` as a floating numpy dtype, or a ValueError naming it."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind != "f":
        raise ValueError(f"dtype must be a floating dtype (np.float32 or np.float64), the dtype of the "
                         f"caller's input, or None; got {dtype!r}.")
    return dt


def _pca_canonicalizer(canonicalizer, spec, kind):
    """The PCA canonicalizer of ``spec.geometric`` that ``canonicalizer`` gives (a fitted
    ``CanonicalizerTransformer`` gives its ``canonicalizer_``), or a clear error."""
    example = f"CanonicalizerTransformer(spec.geometric, 'pca').fit(X) for {spec.geometric.name!r}"
    if canonicalizer is None:
        raise ValueError(f"frames={kind!r} on the group {spec.group.name!r} needs canonicalizer=, the PCA "
                         f"canonicalizer of spec.geometric: {example} (or its canonicalizer_).")
    from ._canonicalizer import CanonicalizerTransformer   # lazy: no import circle through the estimators

    if isinstance(canonicalizer, CanonicalizerTransformer):
        fitted = canonicalizer.__dict__.get("canonicalizer_")
        if fitted is None:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"canonicalizer is a CanonicalizerTransformer that is not fitted yet; "
                                 f"fit it first: {example}.")
        canonicalizer = fitted
    method, group = getattr(canonicalizer, "method", None), getattr(canonicalizer, "group", None)
    usable = callable(getattr(canonicalizer, "canonicalize", None))
    if method != "pca" or group != spec.geometric or not usable:
        got = (f"method={method!r} for {getattr(group, 'name', group)!r}" if usable
               else f"{type(canonicalizer).__name__} {canonicalizer!r}")
        raise TypeError(f"canonicalizer must be the PCA canonicalizer of spec.geometric "
                        f"({spec.geometric.name!r}): {example} or its canonicalizer_; got {got}.")
    return canonicalizer


def _check_elements(elements, spec):
    """``elements`` as a float64 ``(k, d, d)`` array of orthogonal matrices (rotations for
    special groups), or a ValueError naming ``elements``."""
    d = spec.d
    expected = f"an array of shape (k, {d}, {d}) of orthogonal matrices"
    if elements is None:
        raise ValueError(f"frames='sampled' needs elements=, {expected} (e.g. haar_elements(k, spec, "
                         "random_state)); got None.")
    try:
        G = np.asarray(elements, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"elements must be {expected}; got {type(elements).__name__}.") from None
    if G.ndim != 3 or G.shape[1:] != (d, d) or not len(G):
        raise ValueError(f"elements must be {expected} (k >= 1); got shape {G.shape}.")
    if not np.isfinite(G).all():
        raise ValueError("elements must be finite orthogonal matrices; got NaN or infinity.")
    off = np.abs(np.matmul(G, np.swapaxes(G, 1, 2)) - np.eye(d)).max()
    if off > 1e-5:
        raise ValueError(f"elements must be orthogonal matrices (G @ G.T = I); they are off by {off:.2g}. "
                         "Use haar_elements(k, spec, random_state).")
    if spec.special and (np.linalg.det(G) < 0).any():
        raise ValueError(f"elements must be rotations (determinant +1) for the special group "
                         f"{spec.group.name!r}; use haar_elements(k, spec, random_state).")
    return G


def _check_frame_inputs(P, layout, spec, kind, canonicalizer, elements, sharpness):
    """The checks of :func:`frame_forms`: ``(P, canonicalizer, elements)`` ready for use."""
    _check_spec(spec)
    check_kind(spec, kind)
    P = _check_points(P, layout, spec)
    if not spec.finite and kind in ("pca", "minimal", "sampled"):
        canonicalizer = _pca_canonicalizer(canonicalizer, spec, kind)
    if not spec.finite and kind == "sampled":
        elements = _check_elements(elements, spec)
    if kind == "weighted":
        real = isinstance(sharpness, (int, float, np.integer, np.floating))
        if isinstance(sharpness, (bool, np.bool_)) or not real or not (0 < sharpness < np.inf):
            raise ValueError(f"sharpness must be a positive finite number; got {sharpness!r}.")
    return P, canonicalizer, elements


def _rows_of(weights):
    """(sample, frame) index pairs of the positive weights, in sample order."""
    n, K = weights.shape
    if (weights > 0).all():
        return np.repeat(np.arange(n), K), np.tile(np.arange(K), n)
    return np.nonzero(weights > 0)


def _finish(fs, Q, rows, spec, layout, dtype, screened=None, entries=False):
    """Zero the coordinates that are rounding noise (:func:`_zero_noise_axes`; ``screened``:
    the samples that can have any, None for all; ``entries``: every such coordinate,
    :func:`_zero_noise_entries`, for frames built on the points), sort the forms' points
    (S_n) and bundle the rows."""
    i, j = rows
    order = None
    offset = None if fs.t is None else np.abs(fs.t).max(axis=1)[i]
    if entries is True:
        Q = _zero_noise_entries(Q, layout, dtype, offset)
    else:
        Q = _zero_noise_axes(Q, layout, dtype, offset, None if screened is None else np.flatnonzero(screened[i]))
        if entries is not False and entries[i].any():
            # samples whose frame was built on their vectors (positions without spread):
            # an axis through a vector leaves its other coordinates 0 in exact arithmetic
            at = np.flatnonzero(entries[i])
            Q = Q.copy()
            Q[at] = _zero_noise_entries(Q[at], layout, dtype, None if offset is None else offset[at])
    if spec.permuting:
        Q, order = _sorted_forms(Q, layout)
    return FrameForms(fs, Q, order, rows, fs.weights[i, j])


def _open_signs(Z0, layout, signs, dtype, t=None):
    """``"minimal"`` weights: the sign vectors of ``signs`` that agree with every axis the
    canonical form's third moments decide (equal weights over them)."""
    n, m = Z0.shape[:2]
    A = np.ascontiguousarray(Z0[..., layout.slice_of(geometric_field(layout).name)], dtype=np.float64)
    present = ~np.isnan(Z0).all(axis=2)
    # third moments decide signs whatever the size: cubes of 1e110 would overflow
    A, e = pow2_rescale(A, present)
    t_given = t
    if t is not None:
        t = np.ldexp(t, -e[:, None])
    d = A.shape[2]
    if not np.isnan(A.reshape(-1)).any():
        # no absent points: moments by matrix products (reductions over the short point and
        # coordinate axes are several times slower in numpy)
        per_axis = np.tile(np.eye(d), (m, 1)) / m                 # (m·d, d): mean over points
        flat = A.reshape(n, m * d)
        if t is None:
            Yc = A - (flat @ per_axis)[:, None, :]
        else:      # translating groups: the canonical form is centred already
            Yc = A
        sq = Yc * Yc
        s = sq.reshape(n, m * d) @ np.full(m * d, 1.0 / m)
        m3 = (sq * Yc).reshape(n, m * d) @ per_axis               # (n, d): along each canonical axis
        # squared norms of the points as given: about the centroid plus the centroid's own
        total = (flat * flat) @ np.ones(m * d) if t is None else m * (s + np.einsum("nd,nd->n", t, t))
    else:
        w = present.astype(np.float64)
        Y = np.where(present[..., None], A, 0.0)
        Yc, _, s, W = _centred(Y, w)
        m3 = np.einsum("nm,nmd->nd", w, Yc * Yc * Yc) / W[:, None]
        total = np.einsum("nm,nmd->n", w, np.where(w[..., None] > 0, Y, 0.0) ** 2)
    root = np.sqrt(np.maximum(s, 0.0))
    m3 = np.where((root > 0)[:, None], m3 / np.where(root > 0, s * root, 1.0)[:, None], 0.0)
    # no spread (points that coincide up to the input's rounding): one frame
    flat = s <= (1e-20 if np.dtype(dtype) == np.float64 else 1e-10) * np.maximum(total, 1e-300)
    tol = sign_tolerance(dtype)
    # the common case: every axis decided and already oriented (positive third moment), so
    # only the canonical frame (signs all +1, the table's first row) is left open
    strength = np.abs(m3)
    decided = (strength > tol).all(axis=1)
    negative = m3 < 0
    easy = decided & ~negative.any(axis=1)
    if len(signs) < 2 ** m3.shape[1]:
        # special groups: the canonical frame flipped its least certain axis to reach
        # determinant +1; that axis is the one left open, and the canonical frame the only one
        weakest = np.argmin(strength, axis=1)
        one = negative.sum(axis=1) == 1
        easy |= decided & one & negative[np.arange(len(m3)), weakest]
    if flat.any() and len(layout.fields) > 1:
        # positions without spread whose other fields' vectors (velocities) gave the frame:
        # the vectors' third moments decide its signs (zero along an axis that every vector
        # is perpendicular to: the mirror through their plane is open)
        rows = np.flatnonzero(flat)
        m3_v, moving = _vector_moments(Z0[rows], layout, None if t_given is None else t_given[rows], dtype)
        m3[rows[moving]] = m3_v[moving]
        easy[rows[moving]] = False                  # the general rule below
        easy[rows[~moving]] = True                  # no vector either: one frame
    else:
        easy |= flat
    weights = np.zeros((len(m3), len(signs)))
    weights[easy, 0] = 1.0
    rest = np.flatnonzero(~easy)
    if rest.size:
        weights[rest] = _open_sign_weights(m3[rest], signs, tol)
    return weights, flat


def _vector_moments(Z, layout, t, dtype):
    """``(m3, moving)`` of canonical forms ``Z`` whose positions have no spread: the third
    moments of their vector fields (and other position fields, about the points) along each
    canonical axis, normalized as the positions' are, and which forms have a nonzero vector.
    ``t``: the translations that centred the forms' points at the origin (translating
    groups), else None."""
    centre = None
    if t is None:
        Y, w, _ = geometric_points(Z, layout)
        centre = weighted_centroid(Y, w)
    V, present, _ = _attached_without_noise(Z, layout, centre, centre if t is None else t, dtype)
    count = np.maximum(present.sum(axis=1), 1)
    ms = np.einsum("nkd,nkd->n", V, V) / count
    moving = ms > 0
    scale = np.where(moving, ms, 1.0) ** 1.5
    return np.einsum("nkd->nd", V ** 3) / (count * scale)[:, None], moving


#: the screen for repeated eigenvalues takes gaps up to this many times the PCA tie rule's
#: own threshold (a superset: the canonical forms' rounding moves the spreads far less)
REPEATED_MARGIN = 4.0


def repeated_spread(Z, layout, t=None, dtype=None):
    """Samples of the PCA-canonical forms ``Z`` (``(n, m, width)``, absent points NaN) whose
    spreads along two neighbouring canonical axes are within :data:`REPEATED_MARGIN` times
    the PCA tie rule's gap tolerance (:func:`skcanon._kernels.pca.gap_rtol` of ``dtype``, the
    caller's; and its flat-noise term, from the points' distance to the origin, ``t`` the
    translations of groups that translate): a superset of those whose frame that rule chose
    among repeated eigenvalues (a cube, a regular polygon or simplex), whose symmetries
    may then mix axes."""
    if np.ndim(Z) != 3 or not isinstance(layout, PointLayout) or np.shape(Z)[2] != layout.width:
        raise ValueError(f"Z must be canonical forms of shape (n_samples, n_points, {getattr(layout, 'width', '?')}) "
                         f"for layout {layout!r}; got shape {np.shape(Z)}.")
    A = np.ascontiguousarray(Z[..., layout.slice_of(geometric_field(layout).name)], dtype=np.float64)
    n, m, d = A.shape
    if d < 2 or n == 0:
        return np.zeros(n, bool)
    eps = np.finfo(np.dtype(Z.dtype if dtype is None else dtype)).eps
    flat = A.reshape(n, m * d)
    top = np.fmax.reduce(np.abs(flat), axis=1)          # absent points (NaN) ignored
    if t is not None:
        t = np.asarray(t, dtype=np.float64)
        top = np.maximum(top, np.abs(t).max(axis=1))
    extreme = ~((top > 1e-100) & (top < 1e100))          # squares would lose or overflow
    if extreme.any():   # those samples scaled by a power of two (exact), with their offset
        e = np.where((top > 0) & np.isfinite(top), np.frexp(top)[1], 0)[extreme]
        A = A.copy()
        A[extreme] = np.ldexp(A[extreme], -e[:, None, None])
        if t is not None:
            t = t.copy()
            t[extreme] = np.ldexp(t[extreme], -e[:, None])
        flat = A.reshape(n, m * d)
    mean = np.tile(np.eye(d), (m, 1)) / m                # (m·d, d): mean over points
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isnan(flat).any():   # absent points: weighted moments
            Y, w, _ = geometric_points(A, PointLayout(d))
            Yc, _, _, W = _centred(np.where(w[..., None] > 0, Y, 0.0), w)
            var = np.einsum("nm,nmd->nd", w, Yc * Yc) / W[:, None]
            norms = np.where(w > 0, np.einsum("nmd,nmd->nm", Y, Y), 0.0)
        else:  # moments by matrix products (numpy's reductions over short axes are slower)
            Yc = A if t is not None else A - (flat @ mean)[:, None, :]   # forms of groups that translate are centred
            var = (Yc * Yc).reshape(n, m * d) @ mean
            norms = (A * A).reshape(n * m, d) @ np.ones(d)
            norms = norms.reshape(n, m)
        reach = norms.max(axis=1)
        if t is not None:   # the points as given: the shape plus its offset, at most
            reach = (np.sqrt(reach) + np.sqrt(np.einsum("nd,nd->n", t, t))) ** 2
        trace = var @ np.ones(d)
        tol = REPEATED_MARGIN * (gap_rtol(eps) * trace + flat_rtol(eps) * reach)
        close = np.abs(var[:, 1:] - var[:, :-1]) <= tol[:, None]
    return (close.any(axis=1) | ~np.isfinite(trace)) & (trace != 0)


def symmetric_candidates(W, layout, spec, t=None, per_point=False):
    """Samples of the canonical forms ``W`` (``(n, m, width)``, points sorted under S_n,
    absent points NaN) that may have a symmetry of their own: a superset, cheap to compute,
    of the samples whose minimal frame set (:func:`frame_forms`) holds more than one frame
    under which their form is the same. Finite groups: an element other than the identity
    fixes the centroid. Continuous groups: an axis with no third moment or no spread
    (``t``: the frames' translations, groups that translate), or, under S_n, repeated
    spreads (:func:`repeated_spread`). ``per_point``: also coincident points
    (:func:`tie_candidates`), which S_n exchanges."""
    _check_spec(spec)
    candidates = tie_candidates(W) if per_point else np.zeros(W.shape[0], bool)
    if spec.finite:
        return candidates | _fixed_centroid(W, layout, spec)
    candidates |= _unskewed_axis(W, layout, t)
    if spec.permuting:   # repeated eigenvalues: symmetries that mix axes (a tetrahedron's)
        candidates |= repeated_spread(W, layout, t)
    return candidates


def tie_candidates(W):
    """Samples of the sorted canonical forms ``W`` with two neighbouring points equal in their
    first column (within the sort's tolerance): a superset of those with tied points."""
    W = np.asarray(W)
    if W.ndim != 3 or W.dtype.kind not in "fiu":
        raise ValueError(f"W must be sorted canonical forms, a real array of shape (n_samples, n_points, "
                         f"width); got shape {W.shape} and dtype {W.dtype}.")
    n, m, width = W.shape
    if m < 2:
        return np.zeros(n, bool)
    scale = np.fmax.reduce(np.abs(W.reshape(n, m * width)), axis=1)    # NaN (absent) ignored
    tol = SORT_RTOL.get(W.dtype, SORT_RTOL[np.dtype(np.float64)])
    with np.errstate(over="ignore", invalid="ignore"):
        return (np.abs(np.diff(W[..., 0], axis=1)) <= tol * scale[:, None]).any(axis=1)


def _unskewed_axis(W, layout, t=None):
    """Samples of the PCA-canonical forms ``W`` that a sign flip of their axes may map onto
    themselves: an axis along which the points' third moment vanishes within the minimal
    frame set's sign tolerance (relative to the axis's own spread, so the thin axis of a
    generic cloud does not qualify), or no spread at all next to their distance from the
    origin (``t``: the frames' translations, groups that translate). A superset of the
    samples with such a symmetry (overflowing moments included); the frame set decides."""
    n, m = W.shape[:2]
    # float32 moments are precise enough for float32's tolerance
    dtype = np.float32 if W.dtype == np.float32 else np.float64
    A = np.ascontiguousarray(W[..., layout.slice_of(geometric_field(layout).name)], dtype=dtype)
    d = A.shape[2]
    flat = A.reshape(n, m * d)
    out = np.zeros(n, bool)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        t2 = None if t is None else np.einsum("nd,nd->n", t, t)
        if np.isnan(flat).any():        # absent points: weighted moments
            Y, w, _ = geometric_points(W, layout)
            count = np.maximum(w.sum(axis=1), 1.0)[:, None]
            c = weighted_centroid(Y, w)
            Yc = (Y - c[:, None, :]) * w[..., None]
            sq = Yc * Yc
            _moments_screen(c, sq.sum(axis=1) / count, (sq * Yc).sum(axis=1) / count, t2,
                            sign_tolerance(W.dtype), out)
            return out
    # raw moments along each axis by matrix products, a block of samples at a time in one
    # buffer (numpy's reductions over short axes, and fresh arrays of every sample, cost
    # several times more); a symmetry's axis holds the centroid at 0, so its central
    # moments lose nothing to cancellation
    # (extreme magnitudes overflow or underflow here: such samples go to the frame set)
    mean = (np.tile(np.eye(d), (m, 1)) / m).astype(dtype)     # (m·d, d): mean over points
    buf = np.empty((min(n, _BLOCK), m * d), dtype)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for start in range(0, n, _BLOCK):
            rows = slice(start, min(start + _BLOCK, n))
            f = flat[rows]
            sq = buf[:len(f)]
            c = f @ mean
            r2 = np.multiply(f, f, out=sq) @ mean
            r3 = np.multiply(sq, f, out=sq) @ mean
            _moments_screen(c, np.maximum(r2 - c * c, 0), r3 - c * (3 * r2 - 2 * c * c),
                            None if t2 is None else t2[rows], sign_tolerance(W.dtype), out[rows])
    return out


def _moments_screen(c, lam, m3, t2, tol, out):
    """``out |=`` an axis with third moment ``m3`` below ``tol`` of its spread ``lam`` (or of
    the whole spread cubed), no spread next to the distance from the origin (centroid ``c``,
    squared translation ``t2``), or moments that overflow."""
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        ones = np.ones(lam.shape[1], lam.dtype)
        s = lam @ ones
        total = s + np.einsum("nd,nd->n", c, c)
        if t2 is not None:
            total += t2
        unskewed = np.abs(m3) <= tol * lam * np.sqrt(lam) + (tol ** 3 * s * np.sqrt(s))[:, None]
        out |= (s <= tol ** 2 * total) | ~np.isfinite(m3 @ ones + total)
        for k in range(lam.shape[1]):
            out |= unskewed[:, k]


_BLOCK = 1024   # samples whose moments _unskewed_axis computes at once


def _fixed_centroid(W, layout, spec):
    """Samples of the canonical forms ``W`` whose centroid an element of the finite group
    other than the identity fixes (within the minimal frame set's sign tolerance of their
    size): every symmetry of a point set fixes its centroid. A superset of the symmetric
    samples; the frame set decides."""
    G = np.asarray(spec.geometric.matrices(spec.geometric.elements()), dtype=np.float64)
    G = G[~np.all(np.isclose(G, np.eye(spec.d)), axis=(1, 2))]
    n, m = W.shape[:2]
    A = np.ascontiguousarray(W[..., layout.slice_of(geometric_field(layout).name)], dtype=np.float64)
    d = A.shape[2]
    flat = A.reshape(n, m * d)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if np.isnan(flat).any():
            Y, w, _ = geometric_points(W, layout)
            c = weighted_centroid(Y, w)
        else:
            c = flat @ (np.tile(np.eye(d), (m, 1)) / m)
        size = np.fmax.reduce(np.abs(flat), axis=1)                     # absent points ignored
        # how far each element moves the centroid, coordinate by coordinate: one matrix
        # product (numpy's reductions over short axes cost several times more)
        shift = np.abs(c @ (G - np.eye(d)).transpose(2, 0, 1).reshape(d, -1)).reshape(n, len(G), d)
        moved = shift[..., 0].copy()
        for k in range(1, d):
            np.maximum(moved, shift[..., k], out=moved)
        fixed = (moved <= sign_tolerance(W.dtype) * size[:, None]) @ np.ones(len(G))
        return (fixed > 0) | ~np.isfinite(size)


def _symmetric_sets(Z0, P, layout, spec, flat, t, dtype, signs=None):
    """``(rows, sets)``: the samples whose PCA frame the tie rule chose among repeated
    eigenvalues, and for each every frame that rule cannot tell from it by the points as a
    set (:func:`skcanon._kernels.pca.pca_tied_frames`): under ``×S_n`` their symmetries'
    frames, which mix axes (a cube's 48 under E(3)), so the sign choices miss them."""
    screened = repeated_spread(Z0, layout, t, dtype)
    rows = np.flatnonzero(screened if flat is None else screened & ~flat)
    if not rows.size:
        return rows, []
    found = pca_tied_frames(spec.geometric, P[rows], layout, signs)
    keep = [k for k, f in enumerate(found) if f is not None and len(f) > 1]
    return rows[keep], [found[k] for k in keep]


def _forms_with_sets(Z0, E, R, rows, pairs, layout, others):
    """Canonical forms of the (sample, frame) ``pairs``: those of the samples ``rows`` (which
    took their symmetries' frames, :func:`_with_frame_sets`) from ``Z0`` and the frame
    relative to the canonical one, ``Eᵀ·R``; the others by ``others(samples, frames)``."""
    i, j = pairs
    mixed = np.isin(i, rows)
    Q = np.empty((len(i),) + Z0.shape[1:], dtype=Z0.dtype)
    Q[~mixed] = others(i[~mixed], j[~mixed])
    a, b = i[mixed], j[mixed]
    Q[mixed] = _relative(Z0[a], np.swapaxes(E[a], 1, 2) @ R[a, b], layout)
    return Q


def _with_frame_sets(R, weights, rows, sets):
    """``R``, ``weights`` with the frames of samples ``rows`` replaced by ``sets`` (equal
    weights), padded to the largest set."""
    n, K, d = R.shape[:3]
    k = max(K, max(len(f) for f in sets))
    R2 = np.broadcast_to(np.eye(d), (n, k, d, d)).copy()
    R2[:, :K] = R
    w2 = np.zeros((n, k))
    w2[:, :K] = weights
    for r, f in zip(rows, sets):
        R2[r, :len(f)] = f
        w2[r] = 0.0
        w2[r, :len(f)] = 1.0 / len(f)
    return R2, w2


def _attached_without_noise(P, layout, centre, offset, dtype):
    """:func:`attached_vectors` of ``P`` about ``centre``, with the vectors of other position
    fields that are rounding noise of ``offset`` (the centroid they were taken about, or the
    translation that centred them) set to exactly 0: a second position field at the points'
    own place otherwise gave the frame a direction chosen by rounding (errors of 3.8 for
    "minimal" and "sampled" frames). Vector fields (velocities) are exact and kept."""
    V, present, e = attached_vectors(P, layout, centre)
    own = geometric_field(layout).name
    kinds = [f.kind == "position" for f in layout.fields if f.name != own and f.kind != "scalar"]
    if offset is None or not any(kinds) or not V.shape[1]:
        return V, present, e
    is_position = np.tile(kinds, V.shape[1] // len(kinds))
    size = np.ldexp(np.linalg.norm(V, axis=2), e[:, None])
    reach = np.linalg.norm(np.asarray(offset, dtype=np.float64), axis=1)[:, None]
    noise = is_position[None, :] & (size <= 16 * float(np.finfo(dtype).eps) * (size + reach))
    return np.where(noise[..., None], 0.0, V), present, e


def _open_rotations(flat, P, layout, spec, t, dtype):
    """``(axis, free)`` of :class:`FrameSet` for the ``flat`` samples (positions without
    spread) of the PCA-based frames, which keep one frame for them: where no other field
    gives a direction, the points' stabilizer is every rotation (points at the centroid
    under translations, at the origin otherwise: ``free``) or, for points at one place off
    the origin, the rotations about the axis to it (``axis``; SO(2) has none). ``None``
    where no sample needs either."""
    d = spec.d
    rows = np.flatnonzero(flat)
    if not rows.size or (spec.special and d == 1):   # SO(1): no rotation to average over
        return None, None
    axis, free = np.zeros((len(flat), d)), np.zeros(len(flat), bool)
    if len(layout.fields) > 1:   # velocities (or other positions) give the frame a direction
        centre = None if t is None else t[rows]
        V, present, _ = _attached_without_noise(P[rows], layout, centre, centre, dtype)
        V = np.where(present[..., None], V, 0.0)
        moving = (np.einsum("nkd,nkd->nk", V, V) > 0).any(axis=1)
        if d == 3 and moving.any():
            # vectors all along one line leave the rotations about it open (about the axis
            # to the points as well, for groups that keep the origin: then only where the
            # line is that axis)
            line, u = _common_line(V[moving], float(np.finfo(dtype).eps))
            at = rows[moving][line]
            u = u[line]
            if not spec.translating:
                Y, w, _ = geometric_points(P[at], layout)
                c = weighted_centroid(np.where(w[..., None] > 0, Y, 0.0), w)
                c, _ = pow2_rescale(c[:, None], np.ones((len(at), 1)))
                c = c[:, 0]
                cn = np.linalg.norm(c, axis=1)
                off = cn > 0
                along = np.linalg.norm(np.cross(u, c / np.where(off, cn, 1.0)[:, None]), axis=1) ** 2
                keep = ~off | (along <= _line_rtol(float(np.finfo(dtype).eps)))
                at, u = at[keep], u[keep]
            axis[at] = u
        rows = rows[~moving]
    if spec.translating:
        free[rows] = True
    elif rows.size:
        Y, w, _ = geometric_points(P[rows], layout)
        c, _ = pow2_rescale(weighted_centroid(np.where(w[..., None] > 0, Y, 0.0), w)[:, None], np.ones((len(rows), 1)))
        c = c[:, 0]
        norm = np.linalg.norm(c, axis=1)
        free[rows[norm == 0]] = True
        if not (spec.special and d == 2):
            off = norm > 0
            axis[rows[off]] = c[off] / norm[off, None]
    return (axis if axis.any() else None), (free if free.any() else None)


def _line_rtol(eps):
    """Relative squared spread across a line under which vectors count as along it."""
    return 1e-20 if eps < 1e-10 else 1e-10


def _common_line(V, eps):
    """``(line, u)``: which samples' vectors ``V`` (``(n, k, 3)``, absent ones zero) all lie
    along one line through the origin (their second moment has rank one, up to rounding),
    and that line's unit direction (either sign)."""
    M = np.einsum("nki,nkj->nij", V, V)
    lam, U = np.linalg.eigh(M)
    line = lam[:, 1] <= _line_rtol(eps) * lam[:, 2]
    return line, U[:, :, 2]


def _open_sign_weights(m3, signs, tol):
    decided = np.abs(m3) > tol
    want = np.where(m3 >= 0, 1.0, -1.0)
    ok = np.all(~decided[:, None, :] | (signs[None] == want[:, None, :]), axis=2)  # (n, K)
    stuck = ~ok.any(axis=1)
    if stuck.any():  # SO(d): the decided signs give det -1; leave the least certain one open
        weakest = np.argmin(np.where(decided, np.abs(m3), np.inf), axis=1)
        decided[stuck, weakest[stuck]] = False
        ok = np.all(~decided[:, None, :] | (signs[None] == want[:, None, :]), axis=2)
    return ok / ok.sum(axis=1, keepdims=True)


def _flip(Z, s, layout):
    """``Z`` with each geometric field's columns times the signs ``s`` (``(N, d)``)."""
    col = np.ones((len(Z), Z.shape[2]), dtype=Z.dtype)
    for sl in _geometric_slices(layout):
        col[:, sl] = s
    return Z * col[:, None, :]


def _rows_times(Z, M):
    """``Z @ M`` for ``(N, m, d)`` rows and ``(N, d, d)`` matrices."""
    return np.matmul(Z, M)


def _relative(Z, M, layout):
    """Each geometric field of ``Z`` (rows of coordinates) times ``M`` (``(N, d, d)``)."""
    out = Z.copy()
    Mt = M.astype(Z.dtype) if np.issubdtype(Z.dtype, np.floating) else M
    for sl in _geometric_slices(layout):
        out[..., sl] = _rows_times(Z[..., sl], Mt)
    return out


def _forms(P, R, t, layout):
    """Canonical forms ``R⁻¹(x − t)`` of the rows of ``P`` for frames ``(R, t)``: rows
    ``(x − t)ᵀ R`` of each geometric field (``t`` moves positions only)."""
    out = P.astype(np.result_type(P.dtype, np.float32), copy=True)
    Rt = R.astype(out.dtype)
    for f in layout.fields:
        if not f.is_geometric:
            continue
        sl = layout.slice_of(f.name)
        Z = out[..., sl]
        if t is not None and f.kind == "position":
            Z = Z - t[:, None, :].astype(out.dtype)
        out[..., sl] = _rows_times(Z, Rt)
    return out


def _finite_forms(P, layout, spec, kind, dtype):
    """Finite groups: the forms under every element (``"group"``), or under the elements
    whose form is smallest (``"minimal"``: one for generic inputs, the coset of the input's
    symmetry for symmetric ones)."""
    G = np.asarray(spec.geometric.matrices(spec.geometric.elements()), dtype=np.float64)
    n, K = P.shape[0], len(G)
    i, j = np.repeat(np.arange(n), K), np.tile(np.arange(K), n)
    R = np.broadcast_to(G[None], (n, K) + G.shape[1:])
    # forms under each element: rows of points times the element's matrix (g⁻¹·x)
    Q = _relative(np.repeat(P, K, axis=0), G[j], layout)
    order = None
    if spec.permuting:
        Q, order = _sorted_forms(Q, layout)
    if kind == "group":
        fs = FrameSet(R.copy(), None, np.full((n, K), 1.0 / K))
        return FrameForms(fs, Q, order, (i, j), fs.weights[i, j])
    keys = _rounded_keys(Q, dtype, layout).reshape(n, K, -1)
    best = np.zeros((n, K), bool)
    best[:, 0] = True
    smallest = keys[:, 0].copy()
    for k in range(1, K):              # lexicographic minimum of the rounded forms
        with np.errstate(invalid="ignore"):   # inf - inf where both forms lack a point
            diff = np.where(keys[:, k] == smallest, 0.0, keys[:, k] - smallest)
        nz = diff != 0
        first = np.argmax(nz, axis=1)
        sign = np.where(nz.any(axis=1), np.sign(diff[np.arange(n), first]), 0.0)
        less = sign < 0
        best[less] = False
        best[less, k] = True
        best[sign == 0, k] = True
        smallest[less] = keys[less, k]
    weights = best / best.sum(axis=1, keepdims=True)
    keep = best.reshape(-1)
    fs = FrameSet(R.copy(), None, weights)
    if order is not None:
        order = order.select(keep) if isinstance(order, _Order) else (order[0][keep], order[1][keep])
    return FrameForms(fs, Q[keep], order, (i[keep], j[keep]), weights.reshape(-1)[keep])


def _rounded_keys(Q, dtype, layout=None):
    """Forms flattened and rounded to ``1e-8`` of their sample's size (``1e-4`` for float32
    input), absent points as +inf: forms that agree up to rounding noise get equal keys.
    With a ``layout``, each column group in its own unit (positions and vectors, each
    scalar field: :func:`magnitude_groups`) is rounded relative to its own size: a scalar
    of 1e9 beside coordinates of 1 rounded every coordinate away, and every pose tied."""
    Z = np.where(np.isnan(Q), 0.0, Q).astype(np.float64)
    groups = None if layout is None else magnitude_groups(layout)
    if groups is None:
        scale = np.abs(Z).max(axis=(1, 2), keepdims=True)
    else:
        scale = np.empty((len(Z), 1, Z.shape[2]))
        for cols in groups:
            scale[:, :, cols] = np.abs(Z[:, :, cols]).max(axis=(1, 2))[:, None, None]
    scale = np.maximum(scale, 1e-300)
    keys = np.round(Z / (scale * (1e-8 if np.dtype(dtype) == np.float64 else 1e-4)))
    keys = np.where(np.isnan(Q), np.inf, keys)
    return keys.reshape(len(Q), -1)


def stabilizer_rows(forms, dtype, layout=None):
    """Which rows of ``forms`` (:class:`FrameForms`, rows grouped by sample in order) belong
    to their sample's stabilizer: the frames ``h_j`` under which the canonical form is that
    of the sample's first frame ``h_1`` up to rounding (the same rounded key, as the finite
    groups' minimal frames compare them), so that ``h_j·h_1⁻¹`` fixes the sample. Pass the
    forms' ``layout`` to round each field in its own unit, as those frames do."""
    if not isinstance(forms, FrameForms):
        raise TypeError(f"forms must be a FrameForms (what frame_forms(...) returns); got "
                        f"{_described(forms)}.")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64 (the precision of the forms' input, whose "
                         f"rounding it sets); got {np.dtype(dtype)}.")
    i = forms.rows[0]
    first = np.searchsorted(i, np.arange(i.max(initial=-1) + 1))
    keys = _rounded_keys(forms.Q, dtype, layout)
    return np.all(keys == keys[first][i], axis=1)


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


def _with_rows(R, weights, rows, R2, w2):
    """The frame set with the frames of samples ``rows`` replaced by ``(R2, w2)``."""
    n, K = weights.shape
    K2 = w2.shape[1]
    if K2 > K:
        R = np.concatenate([R, np.zeros((n, K2 - K) + R.shape[2:])], axis=1)
        weights = np.concatenate([weights, np.zeros((n, K2 - K))], axis=1)
    else:
        R, weights = R.copy(), weights.copy()
    weights[rows] = 0.0
    R[rows, :K2] = R2
    weights[rows, :K2] = w2
    return R, weights


def _second_axes_from_vectors(e1, a, V, present, beta, floor):
    """Frames ``(e1_i, e2, e1_i × e2)`` of collinear samples with ``e2`` from the other
    fields' vectors ``V`` (``(k, q, 3)``) perpendicular to each axis ``e1_i`` (``(k, m, 3)``,
    weights ``a``), weighted like the points' own second axes; ``ok``: the samples some
    vector leaves the line of (the others keep the line's frames)."""
    k, m, _ = e1.shape
    s_v = np.einsum("kqd,kqd->k", V, V) / np.maximum(present.sum(axis=1), 1)
    safe = np.maximum(s_v, 1e-300)[:, None, None]
    r = V[:, None, :, :] - np.einsum("kqd,kid->kiq", V, e1)[..., None] * e1[:, :, None, :]
    r = r - np.einsum("kiqd,kid->kiq", r, e1)[..., None] * e1[:, :, None, :]   # once more: rounding
    rn = np.sqrt(np.einsum("kiqd,kiqd->kiq", r, r))
    valid = present[:, None, :] & (a[..., None] > 0) & (rn**2 > floor * safe)
    b, _ = _softweights(rn**2 / safe, valid, beta)
    b = _cut(b.reshape(k * m, -1)).reshape(b.shape)
    e2 = r / np.where(rn > 0, rn, 1.0)[..., None]
    e1b = np.broadcast_to(e1[:, :, None, :], e2.shape)
    R = np.stack([e1b, e2, np.cross(e1b, e2)], axis=-1).reshape(k, -1, 3, 3)
    weights = (a[:, :, None] * b).reshape(k, -1)
    ok = valid.any(axis=(1, 2))
    return R, weights, ok


def _weighted(Yc, w, s, W, spec, beta, floor=1e-18, attached=None):
    """Weighted frames of centred points ``Yc``; ``attached(rows)`` gives the other fields'
    vectors (:func:`~skcanon._kernels.fields.attached_vectors`) for samples whose points leave the frame open (collinear
    points: the rotation about the line; all points at one place: every axis)."""
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
        rows = np.flatnonzero(line)
        if rows.size and attached is not None:
            # the other fields' vectors (velocities) settle the rotation about the line
            V, present = attached(rows)
            R2, w2, ok = _second_axes_from_vectors(e1[rows], a[rows], V, present, beta, floor)
            if ok.any():
                R2, w2 = _compact(R2[ok], w2[ok])
                R, weights = _with_rows(R, weights, rows[ok], R2, w2)
                line[rows[ok]] = False
        if not spec.special:
            R, weights = _both_orientations(R, weights, Yc, w, s, W, beta)
    R, weights = _compact(R, weights)
    degenerate = weights.sum(axis=1) <= 0       # all points at the centroid
    rows = np.flatnonzero(degenerate)
    if rows.size and attached is not None:
        # the other fields' vectors, as the points, give the frames
        V, present = attached(rows)
        pw = present.astype(np.float64)
        Wv = np.maximum(pw.sum(axis=1), 1.0)
        R2, w2, line2, none2 = _weighted(V, pw, np.einsum("kqd,kqd->k", V, V) / Wv, Wv, spec, beta, floor)
        ok = (w2.sum(axis=1) > 0) & ~none2       # zero vectors as well: nothing to go by
        if ok.any():
            R2, w2 = _compact(R2[ok], w2[ok])
            R, weights = _with_rows(R, weights, rows[ok], R2, w2)
            line[rows[ok]] = line2[ok]
            degenerate[rows[ok]] = False
    if degenerate.any():                        # nothing to go by: the identity frame
        R[degenerate] = 0.0
        R[degenerate, 0] = np.eye(d)
        weights[degenerate] = 0.0
        weights[degenerate, 0] = 1.0
    if spec.special and d == 1:                  # SO(1): nothing to average over
        degenerate[:] = False
    return R, weights, line, degenerate


def _both_orientations(R, weights, Yc, w, s, W, beta):
    """O(d): each frame and its mirror (last axis negated), weighted by ``σ(±β·skew)`` of the
    points along the last axis, so the choice is continuous where the skew vanishes."""
    last = R[..., :, -1]                                                    # (n, K, d)
    sk = _skew(Yc, w, last, s, W)                                         # (n, K)
    p = 0.5 * (1.0 + np.tanh(0.5 * beta * sk))                            # logistic σ(β·skew)
    mirror = R.copy()
    mirror[..., :, -1] *= -1
    return np.concatenate([R, mirror], axis=1), np.concatenate([weights * p, weights * (1 - p)], axis=1)


def _compact(R, weights, return_index=False):
    """Keep the columns some sample uses (frames with weight 0 everywhere are dropped)."""
    positive = weights > 0
    if positive.all():           # every frame used by every sample ("pca", "sampled", "group")
        idx = np.broadcast_to(np.arange(weights.shape[1]), weights.shape)
        out = (R, weights)
        return out + (idx,) if return_index else out
    k = max(int(positive.sum(axis=1).max(initial=0)), 1)
    if k == 1:     # one frame per sample (generic "minimal"): no sort needed
        idx = np.argmax(weights, axis=1)[:, None]
    else:
        # each sample's used frames in their own order, whatever the other rows: a sort by
        # weight applied only when some sample of the batch had an unused frame, so the
        # order of a sample's "weighted" frames (and a forest's fit on them) followed its
        # batch mates and batch_size
        idx = np.argsort(~positive, axis=1, kind="stable")[:, :k]
    out = (np.take_along_axis(R, idx[:, :, None, None], axis=1),
           np.take_along_axis(weights, idx, axis=1).copy())
    return out + (idx,) if return_index else out


class _Order(tuple):
    """``(perm, runs)`` of sorted forms; the runs of tied points (needed only to map moving
    targets back) are computed on first use."""

    def __new__(cls, perm, sorted_forms):
        obj = super().__new__(cls, (perm, None))
        obj._Q = sorted_forms
        obj._runs = None
        return obj

    def __getitem__(self, key):
        if key == 1 or key == -1:
            if self._runs is None:
                self._runs = tie_runs(self._Q)
            return self._runs
        return tuple.__getitem__(self, key)

    def __iter__(self):
        yield self[0]
        yield self[1]

    def select(self, keep):
        return _Order(self[0][keep], self._Q[keep])


def tie_runs(out):
    """Per sorted position, the index of its run of points tied (within the sort's tolerance;
    the scale, as the sort's, over the present points)."""
    out = np.asarray(out)
    if out.ndim != 3 or out.dtype not in SORT_RTOL:
        raise ValueError(f"out must be sorted canonical forms, a float32 or float64 array of shape "
                         f"(n_samples, n_points, width); got shape {out.shape} and dtype {out.dtype}.")
    scale = np.where(np.isfinite(out), np.abs(out), 0.0).reshape(len(out), -1).max(axis=1)
    tol = SORT_RTOL[out.dtype] * np.maximum(scale, np.finfo(out.dtype).tiny)
    same = np.all(np.abs(out[:, 1:] - out[:, :-1]) <= tol[:, None, None], axis=2)
    runs = np.zeros(same.shape[:1] + (same.shape[1] + 1,), np.intp)
    np.cumsum(~same, axis=1, out=runs[:, 1:])
    return runs


def _sorted_forms(Q, layout):
    """Each form's points in tolerant lexicographic order (the ``sort`` canonicalizer's
    rule: ties within ``SORT_RTOL`` of the sample's size, absent points last, column groups
    in other units brought level first), with the runs of tied points: ``(sorted Q,
    (perm, runs))``. Each form is sorted by the same rule whatever else is in the batch."""
    groups = magnitude_groups(layout)
    keys = None if groups is None else scaled_by_group(Q, groups)
    if keys is not None:
        # coordinates in metres beside atomic numbers: sorted (and tied) on levelled keys,
        # or every point tied and targets averaged across distinct points
        order = tolerant_lexsort(keys)
        return gather_points(Q, order), _Order(order, gather_points(keys, order))
    order, out = fast_lexsort(Q)
    if order is None:          # absent points (NaN rows): the general refinement, same rule
        order = tolerant_lexsort(Q)
        out = gather_points(Q, order)
    return out, _Order(order, out)


def _check_applied(fs, P, layout, spec, name, layout_name, rows=None):
    """``P`` checked against ``layout`` and the frame set ``fs``: one sample per sample of
    ``fs`` (one row per frame of ``rows`` where given)."""
    if not isinstance(fs, FrameSet):
        raise TypeError(f"fs must be a FrameSet (frame_set(...) or frame_forms(...).frames); got "
                        f"{type(fs).__name__}.")
    _check_spec(spec)
    P = _check_points(P, layout, spec, name, layout_name)
    n = len(fs.weights) if rows is None else len(rows[0])
    if len(P) != n:
        what = "samples of the frame set fs" if rows is None else "rows of rows (one per frame)"
        raise ValueError(f"{name} has {len(P)} samples; expected {n}, the {what}.")
    return P


def _described(x):
    shape = getattr(x, "shape", None)
    return f"{type(x).__name__}" + ("" if shape is None else f" of shape {shape}")


def _check_rows(fs, rows):
    """``rows`` as ``(i, j)``: 1-D integer arrays of equal length, indices of samples and of
    frames within ``fs.weights.shape`` (negative ones would wrap silently)."""
    expected = ("a pair (sample indices, frame indices) of 1-D integer arrays of equal length, as "
                "frame_forms(...).rows or canonical_forms(...) give")
    if not isinstance(rows, (tuple, list)) or len(rows) != 2:
        raise TypeError(f"rows must be {expected}; got {_described(rows)}"
                        + (f" of length {len(rows)}" if isinstance(rows, (tuple, list)) else "") + ".")
    pair = []
    for k, (r, size, what) in enumerate(zip(rows, fs.weights.shape, ("samples", "frames per sample"))):
        r = np.asarray(r)
        if r.ndim != 1:
            raise ValueError(f"rows must be {expected}; rows[{k}] has shape {r.shape}.")
        if r.size == 0:
            r = r.astype(np.intp)
        elif r.dtype.kind not in "iu":
            raise TypeError(f"rows must be {expected}; rows[{k}] has dtype {r.dtype}.")
        elif r.min() < 0 or r.max() >= size:
            raise ValueError(f"rows[{k}] holds indices from {r.min()} to {r.max()}, but fs has {size} "
                             f"{what} (fs.weights has shape {fs.weights.shape}); rows must be {expected}.")
        pair.append(r)
    if len(pair[0]) != len(pair[1]):
        raise ValueError(f"rows must be {expected}; got lengths {len(pair[0])} and {len(pair[1])}.")
    return tuple(pair)


def _check_order(order, n_rows):
    """``order``: None, or ``(perm, runs)`` of integer arrays of shape ``(n_rows, m)``, each
    ``perm`` row an order of the ``m`` points."""
    if order is None:
        return None
    expected = (f"None or a pair (perm, runs) of integer arrays of shape (len(rows[0]), n_points) = "
                f"({n_rows}, n_points), as frame_forms(...).order or apply_frames give")
    if not isinstance(order, (tuple, list)) or len(order) != 2:
        raise TypeError(f"order must be {expected}; got {_described(order)}"
                        + (f" of length {len(order)}" if isinstance(order, (tuple, list)) else "") + ".")
    # frame_forms' own order computes its runs when first read: they follow from its forms
    parts = order[:1] if isinstance(order, _Order) else order
    for k, a in enumerate(parts):
        a = np.asarray(a) if a is not None else a
        if a is None or a.ndim != 2 or a.shape[0] != n_rows or (k and a.shape != np.shape(order[0])):
            raise ValueError(f"order must be {expected}; order[{k}] is {_described(a)}.")
        if a.size and a.dtype.kind not in "iu":
            raise TypeError(f"order must be {expected}; order[{k}] has dtype {a.dtype}.")
        if k == 0 and a.size and (a.min() < 0 or a.max() >= a.shape[1]):
            raise ValueError(f"order[0] (perm) must order the {a.shape[1]} points of each form; it holds "
                             f"indices from {a.min()} to {a.max()}.")
    return order


def apply_frames(fs, P, layout, spec, rows):
    """Canonical forms ``h⁻¹·x`` for the frames ``rows = (sample index, frame index)``,
    computed from the frames directly (the reference for :func:`frame_forms`, which also
    sets coordinates that are rounding noise along axes without extent to 0).

    Returns ``(Q, order)``: ``Q`` of shape ``(len, m, width)`` and, for groups with S_n,
    ``(perm, runs)``: the sorting order of each form's points and, per sorted position, the
    index of its run of tied points (``None`` without S_n).
    """
    P = _check_applied(fs, P, layout, spec, "P", "layout")
    i, j = _check_rows(fs, rows)
    Q = _forms(P[i], fs.R[i, j], None if fs.t is None else fs.t[i], layout)
    if not spec.permuting:
        return Q, None
    return _sorted_forms(Q, layout)


def canonical_forms(fs, P, layout, spec):
    """Every frame with positive weight: ``(Q, order, rows, weights)`` where ``rows`` are
    the (sample, frame) index pairs, in sample order."""
    P = _check_applied(fs, P, layout, spec, "P", "layout")
    i, j = np.nonzero(fs.weights > 0)
    Q, order = apply_frames(fs, P, layout, spec, (i, j))
    return Q, order, (i, j), fs.weights[i, j]


def map_back(fs, Yc, target_layout, spec, rows, order):
    """Map targets ``Yc`` (``(len, mt, wt)``, in the canonical frames ``rows``) back with
    their frames: undo the sort (when ``Yc`` has one row per point of ``X``), then act
    with ``h``. :func:`map_back` after :func:`to_frames` is the identity on samples whose
    frame leaves nothing open; elsewhere it gives the average over what the frame leaves
    open, which keeps the output equivariant: tied points of a sorted form share the mean
    of their run, and components about a line (or an axis, or every direction) that the
    frame cannot orient are averaged away."""
    if isinstance(fs, FrameSet):   # else _check_applied names fs
        rows = _check_rows(fs, rows)
        order = _check_order(order, len(rows[0]))
    Yc = _check_applied(fs, Yc, target_layout, spec, "Yc", "target_layout", rows)
    i, j = rows
    if order is not None and Yc.shape[1] == order[0].shape[1]:
        perm, runs = order
        # tied points are interchangeable: give each the mean of its run (averaging over
        # the orders the sort leaves open keeps the output equivariant)
        if (runs[:, -1] < runs.shape[1] - 1).any():
            N, m = runs.shape
            flat = (runs + (np.arange(N) * m)[:, None]).reshape(-1)
            sums = np.zeros((N * m,) + Yc.shape[2:])
            np.add.at(sums, flat, Yc.reshape((N * m,) + Yc.shape[2:]))
            counts = np.bincount(flat, minlength=N * m)
            # summed in float64; the mean in Yc's dtype, as without ties
            Yc = (sums / np.maximum(counts, 1)[:, None])[flat].reshape(Yc.shape).astype(Yc.dtype, copy=False)
        out = np.empty_like(Yc)
        np.put_along_axis(out, perm[..., None], Yc, axis=1)
        Yc = out
    for open_rows, kept in ((fs.line, 1), (fs.free, 0)):
        if open_rows is not None and open_rows[i].any():
            # the average over the rotations the frame leaves open: about the line (the
            # first axis) it keeps the component along the line; over every rotation, none
            Yc = Yc.copy()
            for f in target_layout.fields:
                if f.is_geometric:
                    sl = target_layout.slice_of(f.name)
                    Yc[open_rows[i], :, sl.start + kept:sl.stop] = 0.0
    out = rotate_fields(fs.R[i, j], Yc, target_layout, None if fs.t is None else fs.t[i])
    if fs.axis is not None and fs.axis[i].any():
        # the average over rotations about the axis keeps each vector's part along it;
        # positions are vectors from the axis' point: the origin, or under translations the
        # points' place t (a one-point sample with a velocity: the rotations about the line
        # through it along the velocity)
        u = fs.axis[i]
        on = u.any(axis=1)
        t = None if fs.t is None else np.asarray(fs.t, dtype=np.float64)[i][on][:, None, :]
        for f in target_layout.fields:
            if f.is_geometric:
                sl = target_layout.slice_of(f.name)
                base = t if (f.kind == "position" and t is not None) else 0.0
                v = out[on, :, sl] - base
                out[on, :, sl] = base + np.einsum("kmd,kd->km", v, u[on])[..., None] * u[on][:, None, :]
    return out


def to_frames(fs, Y, target_layout, spec, rows, order):
    """Targets ``Y`` (``(n, mt, wt)``) in the canonical frames ``rows`` (sorted like the inputs
    when they have one row per point)."""
    Y = _check_applied(fs, Y, target_layout, spec, "Y", "target_layout")
    i, j = _check_rows(fs, rows)
    order = _check_order(order, len(i))
    Yc = _forms(Y[i], fs.R[i, j], None if fs.t is None else fs.t[i], target_layout)
    if order is not None and Yc.shape[1] == order[0].shape[1]:
        Yc = gather_points(Yc, order[0])
    return Yc


def haar_elements(k, spec, random_state):
    """``k`` Haar-random rotation parts (SO(d) for special groups) for ``"sampled"`` frames."""
    _check_spec(spec)
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an int >= 1 (the number of sampled frames, as frames='sampled' "
                         f"needs); got {k!r}.")
    return haar_orthogonal(k, spec.d, named_random_state(random_state), special=spec.special)
