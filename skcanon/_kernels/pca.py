"""Equivariant PCA frames of weighted point sets: every tie rule, one orientation rule.

One concern: the principal-axis frame of each sample (:func:`pca_frames`, the general path
with every tie and degeneracy rule; :func:`fast_pca` and :func:`fast_moment_frames`, the
vectorized paths for unambiguous samples), and :func:`pca_group_frames`, which turns those
frames into elements of any group that rotates without rescaling. The canonicalizers,
the networks' tie resolution and frame averaging's canonical frames all come from here.

Everything here is vectorized over samples; only samples with repeated eigenvalues (rare
for real data, the defining feature of symmetric shapes) take a per-sample path.

Tie and degeneracy rules (documented in the user guide, tested in the suite):

* **Sign of an axis** — the sign that makes the weighted third moment along the axis
  positive. When that moment vanishes (the shape is mirror-symmetric along the axis), the
  sign points to the present point with the largest ``|projection|``; exact ties go to
  the lowest point index. Both rules commute with rotations and reflections.
* **Repeated eigenvalues** (relative gap below ``EIG_RTOL``, or the float32 threshold
  below) — the eigenspace is
  re-based on the points: its first axis points to the point with the largest projection
  onto the eigenspace (ties → lowest index), the next to the largest projection orthogonal
  to it, and so on. For point sets this keeps the frame equivariant even for cubes,
  regular polygons and simplices; for images the "points" are pixels in raster order, so
  ties there depend on the pixel grid.
* **Other fields** — where the positions leave an axis or its sign open, the candidate
  frames are compared on the whole canonical sample (positions, then the point's other
  vector and scalar fields; ``attached`` in :func:`pca_frames`), so velocities or charges
  settle what the positions cannot (the normal of a planar cloud under reflections).
* **No spread at all** (all points equal, blank image) — the identity frame.

Tolerances follow the input's rounding. Besides the fixed relative thresholds below (which
serve float64 input), every "is this a tie?" decision counts as a tie anything within a
multiple of the rounding unit ``eps`` of the *input dtype* (times the condition number
1 + trace / gap where a statistic depends on the axes); the multiples never depend on the
sample's pose or size, so a decision clear in one pose is clear in all. float32 input (eps ≈
1.2e-7) thus treats relative eigenvalue gaps below 1.2e-3 as repeated, normalized third
moments below 1.2e-4 as zero and coordinates within 1.2e-3 as tied, so symmetric and nearly
symmetric shapes (real molecules, cubes, collinear clouds) take the tie rules in every pose
instead of a choice made by rounding. Candidate frames are compared first on a few
permutation-invariant features of the canonical sample (within 100 eps: a nearly symmetric
shape is told apart by its asymmetry where it exceeds the rounding), then on its rows in
point order. Frames are computed in float64 from points rescaled per sample to a largest
norm of 1, so any finite magnitude (1e-300 to 1e300) gives the same frames.
"""

from __future__ import annotations

import numpy as np

from .eigen import CLOSED_FORM_GAP_RTOL, FAST_GAP_RTOL, frame_array, sym_eig_columns, sym_eig_desc
from .fields import attached_fields, geometric_points, point_means, rescale_points, weighted_centroid
from . import _numba
from .orbit import feature_map, smallest_form_element, tolerant_smallest

EIG_RTOL = 1e-6      # eigenvalues closer than this (relative to the trace) are "repeated"
SIGN_RTOL = 1e-6     # normalized third moments below this do not decide a sign
TIE_RTOL = 1e-7      # projections closer than this (relative) count as tied
NOISE_RTOL = 1e-20   # spreads below this × the squared magnitude are rounding noise
FLAT_EPS = 64        # ... and, in coarser dtypes, below (FLAT_EPS × the rounding unit)²

#: every tie tolerance is at least this many rounding units of the input dtype (float32:
#: 1.2e-3 relative; float64: 2e-12, below the fixed thresholds above) ...
TIE_EPS = 1e4
#: ... the third-moment sign threshold at least this many (float32: 1.2e-4) ...
SIGN_EPS = 1e3
#: ... except for the set features of :func:`_set_features`, compared at this many units
#: (float32: 1.2e-5), so that nearly symmetric samples are told apart by their asymmetry,
#: and at least :data:`FEATURE_RTOL`
FEATURE_EPS = 100.0
#: the set features' fixed tolerance (float64's, where it exceeds ``FEATURE_EPS·eps``). It
#: stays well below the point sort's tolerance (``lexsort.SORT_RTOL``, 1e-9), so candidates
#: the features cannot tell apart give canonical forms that the sort cannot tell apart
#: either: at 1e-8, cubes with noise of 1e-9 to 3e-8 of their size tied in features, the
#: point order chose between their near-symmetries, and the sorted forms of two poses
#: differed by up to 2.8 under E3xS_n (1 of 3,000 QM9 molecules at 3.8)
FEATURE_RTOL = 1e-12
#: ... which, for groups that keep the origin, grows with the offset's rounding up to this
FEATURE_CAP = 1e-8
#: ... and at least this many times the rounding noise the input leaves in the statistic:
GAP_NOISE = 4000.0   # eigenvalue gaps (noise of the covariance relative to its trace)
SIGN_NOISE = 100.0   # normalized third moments and centroid projections (× condition number)
TIE_NOISE = 100.0    # projections and canonical coordinates (× condition number)
FEATURE_NOISE = 30  # the tie rule's set features (× distance from the origin / size)
#: ... and, for groups that translate, this many × the distance from the origin / size ×
#: the condition number: the fixed tolerance stays in force until the offset's rounding
#: reaches it (a nearly symmetric float32 molecule, condition number 3: ~17 sizes), so a
#: translation nearer than that does not move it; exactly symmetric shapes 20 to 1,000
#: sizes away still tie (at 0.5 instead, 275 of 720 moved regular polygons and polyhedra
#: flipped their canonical form)
FEATURE_SHIFT_NOISE = 2.0
#: the rounding bound of a PCA frame (:func:`frame_rounding`) in rounding units of the input,
#: times the offset ratio and the condition number: ties between finite-group elements closer
#: than it are settled from the data
FRAME_ROUNDING = 16.0


def flat_rtol(eps):
    """Relative squared spread under which a sample's points count as coincident: the
    fixed ``NOISE_RTOL``, or the input dtype's rounding noise where that is larger (in
    float32 a spread of a few units in the last place is rounding, not shape)."""
    return max(NOISE_RTOL, (FLAT_EPS * float(eps)) ** 2)


def gap_rtol(eps):
    """Gap between neighbouring covariance eigenvalues, relative to the trace, under which
    they count as repeated: the fixed ``EIG_RTOL`` or the input dtype's rounding (``TIE_EPS``,
    ``GAP_NOISE`` units), whichever is larger (:func:`noise_levels` adds the flat noise)."""
    return max(EIG_RTOL, TIE_EPS * float(eps), GAP_NOISE * float(eps))


def offset_reach(norm_c, trace):
    """How many times larger the input's rounding noise is than the shape's own, for groups
    that keep the origin: the distance of the centroid over the shape's size, at least 1.
    A shape far from the origin carries the rounding of its distance, so its statistics
    are that much noisier (invariant under those groups: they keep ``|c|``)."""
    return np.maximum(1.0, np.sqrt(norm_c / np.maximum(trace, 1e-300)))


def axes_condition(lam, gaps):
    """Condition number of the axes: 1 + trace / the smallest gap between neighbouring
    eigenvalues (``lam`` descending) that does not count as repeated (``gaps``); how much
    the axes, and what is measured along them, amplify the points' rounding."""
    scale = np.maximum(lam, 0.0).sum(axis=1)
    diff = lam[:, :-1] - lam[:, 1:]
    gap = np.where(gaps, np.inf, diff).min(axis=1, initial=np.inf)
    gap = np.where(np.isfinite(gap), gap, scale)
    return 1.0 + scale / np.maximum(gap, 1e-300)


def noise_levels(eps, lam, noise=0.0, reach=1.0):
    """Per-sample tie tolerances from the input's rounding (see the module notes).

    The tolerances depend only on the dtype's rounding unit and on the sample's shape
    (eigenvalue ratios) and, for groups that keep the origin, its distance from it relative
    to its size for the signs (:func:`offset_reach`): never on its pose or size, so a decision that is
    clear in one pose is clear in every pose.

    Parameters
    ----------
    eps : float
        Rounding unit of the input dtype (0: only the fixed relative thresholds).
    lam : ndarray (n, d)
        Covariance eigenvalues, descending.
    noise : float or ndarray (n,)
        Absolute eigenvalue noise floor added to the gap tolerance.
    reach : float or ndarray (n,)
        :func:`offset_reach`: the sign tolerance's noise term (``SIGN_NOISE``) grows with
        it (a small shape's third moments far from the origin are rounding, and the offset
        orients those axes instead).

    Returns
    -------
    gaps : (n, d - 1) bool, neighbouring eigenvalues that count as repeated (gap below
        ``max(EIG_RTOL, TIE_EPS·eps, GAP_NOISE·eps)`` × the trace).
    sign_rtol : (n,) normalized third moment (and centroid projection relative to the
        size) under which an axis sign is undecided: ``max(SIGN_RTOL, SIGN_EPS·eps,
        SIGN_NOISE·eps·κ)`` with ``κ`` = 1 + trace / smallest remaining gap, the condition
        number of the axes.
    tie_rtol : (n,) relative difference under which projections and canonical coordinates
        count as tied (as ``sign_rtol``, with ``TIE_RTOL`` and ``TIE_NOISE``).
    """
    scale = np.maximum(lam, 0.0).sum(axis=1)
    base = TIE_EPS * eps
    diff = lam[:, :-1] - lam[:, 1:]
    gaps = diff <= (gap_rtol(eps) * scale + noise)[:, None]
    amp = axes_condition(lam, gaps)
    # capped, so that a sample with hardly any spread still takes the tie rules; only the
    # sign tolerance reads the offset's rounding: widening the others sends generic clouds
    # far from the origin to the tie rules, whose comparisons that rounding then decides
    sign_rtol = np.minimum(np.maximum(max(SIGN_RTOL, SIGN_EPS * eps), SIGN_NOISE * eps * amp * reach), 1e-2)
    tie_rtol = np.minimum(np.maximum(max(TIE_RTOL, base), TIE_NOISE * eps * amp), 1e-2)
    return gaps, sign_rtol, tie_rtol


def pca_frames(Y, w, special, resolve_ties=True, offset=None, magnitude=None, attached=None,
               eps=0.0, return_open=False, centred_from=None, return_tied=False):
    """Equivariant orthonormal frames of already-centred points.

    Parameters
    ----------
    Y : ndarray (n, m, d), float64
        Points, centred (absent points may hold anything: their weight is 0).
    w : ndarray (n, m)
        Non-negative weights (1 for present points, intensities for images).
    special : bool
        Force determinant +1 (SO(d)).
    resolve_ties : bool, default=True
        Settle ambiguous samples (repeated eigenvalues, undecided signs) by the smallest
        canonical point set, which is invariant to point order. ``False`` (images) keeps
        the cheaper point-index rules.
    offset : ndarray (n, d) or None
        The centroid, for groups without translations (O(d), SO(d)): the canonical output
        is then ``E^T (y + offset)``, and the centroid's projection decides an axis sign
        that the third moment leaves open (e.g. the normal of a planar cloud).
    magnitude : ndarray (n,) or None
        Largest squared norm of the points before centring: spreads below
        ``flat_rtol(eps) × magnitude`` (1e-20, or ``(64·eps)²`` in float32) are rounding
        noise (e.g. identical points after a rotation).
    attached : callable or None
        The points' other fields, for the tie rules only (``resolve_ties``): called with the
        indices of the samples that need them, it returns ``(V, S)`` for those samples,
        ``V`` of shape ``(k, m, q, d)`` with ``q`` vectors per point that turn with the frame
        (other position fields already centred like ``Y``, or offset like it), ``S`` of
        shape ``(k, m, s)`` scalars that do not. Where the points leave an axis or its sign
        open (the normal of a planar cloud under reflections, the rotation about the line
        of a collinear one), these fields settle it, so the whole sample — not only its
        positions — has an invariant canonical form.
    eps : float, default=0.0
        Rounding unit of the input's dtype (``np.finfo(dtype).eps``): decisions within a
        multiple of the rounding noise it leaves count as ties (see the module notes).
        0 keeps only the fixed relative thresholds.
    return_open : bool, default=False
        Also return which samples' frames a tie rule chose (repeated eigenvalues, a sign
        the moments leave open, no spread): there the frame is equivariant only up to the
        sample's own symmetries.
    centred_from : ndarray (n, d) or None
        For groups with translations, the centroid ``Y`` was centred by. The input's
        coordinates were rounded at its distance from the origin, so a symmetric shape far
        away is symmetric only up to that rounding: the tie rule's feature tolerance grows
        with it (:func:`offset_reach`, times the axes' condition number,
        :data:`FEATURE_SHIFT_NOISE`) where it exceeds the fixed one, as
        every tolerance of groups that keep the origin reads ``offset``. Only that
        tolerance: it is used where the moments have already left the frame open, so
        clear decisions stay as they are.

    return_tied : bool, default=False
        Also return, for the samples whose repeated eigenvalues a tie rule settled (with
        ``resolve_ties``), every frame that rule could not tell from the chosen one by the
        points as a set (``tied`` of :func:`_smallest_canonical_frame`).

    Frames do not depend on the points' size: pass them rescaled (:func:`rescale_points`)
    when their magnitude may overflow or underflow in squares and cubes.

    Returns
    -------
    E : ndarray (n, d, d)
        Columns are the axes, by decreasing variance. ``E(R·Y) = R·E(Y)`` for orthogonal
        ``R`` (``R`` in SO(d) when ``special``), up to the documented tie rules.
    open : ndarray (n,) bool
        Only with ``return_open``: the samples whose frame a tie rule chose.
    tied : list of n entries
        Only with ``return_tied`` (after ``open``): an ``(k, d, d)`` array of frames for
        each sample with repeated eigenvalues and some spread, None for the others.
    """
    n, m, d = Y.shape
    W = w.sum(axis=1)
    safe_W = np.where(W > 0, W, 1.0)
    C = np.einsum("nm,nmi,nmj->nij", w, Y, Y) / safe_W[:, None, None]
    lam, E = np.linalg.eigh(C)
    lam, E = lam[:, ::-1], E[:, :, ::-1].copy()
    scale = np.maximum(lam.sum(axis=1), 0.0)
    noise = flat_rtol(eps) * (magnitude if magnitude is not None else scale) + 1e-300
    flat = scale <= noise
    reach = 1.0
    if offset is not None:  # a point cloud away from the origin still has a direction
        norm_c = np.einsum("nd,nd->n", offset, offset)
        flat &= norm_c <= noise
        reach = offset_reach(norm_c, scale)
    gaps, sign_rtol, tie_rtol = noise_levels(eps, lam, noise, reach)
    # candidates' set features closer than this tie: the points' rounding relative to the
    # shape, and for groups that translate the rounding of the input's distance from the
    # origin (groups that keep it compare the shape on its own scale instead)
    feature_tol = np.full(n, max(FEATURE_RTOL, FEATURE_EPS * eps))
    if centred_from is not None:
        # only where that rounding, which the frame's turn amplifies, exceeds the fixed
        # tolerance: a term from the origin on moved the tie edge with every translation
        # (nearly symmetric float32 benzenes flipped in 45 of 60 between 1 and 10 sizes)
        far = offset_reach(np.einsum("nd,nd->n", centred_from, centred_from), scale)
        amp = axes_condition(lam, gaps)
        feature_tol = np.minimum(np.maximum(feature_tol, FEATURE_SHIFT_NOISE * eps * far * amp), 1e-2)
    elif offset is not None:
        # groups that keep the origin: the shape's own features carry the offset's rounding
        # too (a cube of edge 1e-3 at distance 9: 2e-12 of its size), up to the tolerance
        # used before FEATURE_RTOL (1e-8), so no decision is wider than it was
        feature_tol = np.maximum(feature_tol, np.minimum(FEATURE_NOISE * eps * reach, FEATURE_CAP))

    m3, decided = _sign_statistic(Y, w, E, lam, safe_W, offset, noise, sign_rtol)
    negative = np.where(decided, m3 < 0, _extreme_point_sign(np.einsum("nmd,nde->nme", Y, E), w, tie_rtol) < 0)
    certainty = _certainty(m3, decided, lam, noise)
    _, flipped = orient_axes(E, negative, certainty, special)
    # special groups negate the least certain axis to reach determinant +1: where two axes
    # are about equally certain (a centroid projecting equally on both, a mirror-symmetric
    # cloud under SO(2)), rounding chose the axis, so those samples take the general rule
    det_rtol = _det_tie_rtol(eps)
    det_tie = (flipped != negative).any(axis=1) & _weakest_tied(certainty, det_rtol) if special else False
    # no spread: every frame fits the points, so their other fields (velocities at coincident
    # positions) choose it where there are any; else (and for samples with no present
    # point at all) the identity
    settle_flat = flat & (attached is not None and resolve_ties) & (W > 0)
    ambiguous = np.flatnonzero(((gaps.any(axis=1) | ~decided.all(axis=1) | det_tie) & ~flat) | settle_flat)
    # the other fields are read for the few samples whose frames they may settle
    V, S = attached(ambiguous) if (attached is not None and resolve_ties and ambiguous.size) else (None, None)
    tied = [None] * n
    for k, i in enumerate(ambiguous):
        if resolve_ties and flat[i]:   # positions at one point (up to rounding noise): no axis
            E[i] = _smallest_canonical_frame(np.zeros_like(Y[i]), w[i], np.eye(d), np.zeros(d),
                                             np.ones(d - 1, bool), special,
                                             None if offset is None else np.zeros(d), noise[i],
                                             (V[k], S[k]), (sign_rtol[i], tie_rtol[i], feature_tol[i]),
                                             det_rtol=det_rtol)
        elif resolve_ties:
            found = [] if return_tied and gaps[i].any() else None
            E[i] = _smallest_canonical_frame(Y[i], w[i], E[i], lam[i], gaps[i], special,
                                             None if offset is None else offset[i], noise[i],
                                             None if V is None else (V[k], S[k]),
                                             (sign_rtol[i], tie_rtol[i], feature_tol[i]), found, det_rtol)
            tied[i] = None if found is None else np.asarray(found)
        elif gaps[i].any():
            E[i] = _rebase_degenerate(Y[i], w[i], E[i], gaps[i], None if offset is None else offset[i])
            mi, di = _sign_statistic(Y[i:i + 1], w[i:i + 1], E[i:i + 1], lam[i:i + 1], safe_W[i:i + 1],
                                     None if offset is None else offset[i:i + 1], noise[i:i + 1],
                                     sign_rtol[i:i + 1])
            orient_axes(E[i:i + 1], di & (mi < 0), _certainty(mi, di, lam[i:i + 1], noise[i:i + 1]), special)
    E[flat & ~settle_flat] = np.eye(d)
    if return_open or return_tied:
        is_open = flat.copy()
        is_open[ambiguous] = True
        return (E, is_open, tied) if return_tied else (E, is_open)
    return E


def _sign_statistic(Y, w, E, lam, W, offset=None, noise=0.0, rtol=SIGN_RTOL):
    """Per axis, the equivariant statistic whose sign orients it, and whether it decides
    (above ``rtol``, a scalar or one value per sample).

    The weighted third moment along the axis; where it vanishes and an ``offset`` is given,
    the offset's projection (scaled to the same units) takes over.
    """
    rtol = np.reshape(rtol, (-1, 1))
    proj = np.einsum("nmd,nde->nme", Y, E)
    m3 = np.einsum("nm,nme->ne", w, proj**3) / W[:, None]
    decided = _normalized(m3, lam, noise) > rtol
    if offset is not None:
        first = np.einsum("nd,nde->ne", offset, E)
        size = np.sqrt(np.maximum(lam, 0.0).sum(axis=-1, keepdims=True)) + np.linalg.norm(offset, axis=-1, keepdims=True)
        use = ~decided & (np.abs(first) > rtol * np.maximum(size, 1e-300))
        # in the units of a normalized third moment (|first| / size), so that the
        # determinant fix compares scale-free strengths
        trace = np.maximum(np.maximum(lam, 0.0).sum(axis=-1, keepdims=True), np.reshape(noise, (-1, 1)))
        m3 = np.where(use, first * np.maximum(trace ** 1.5, 1e-300) / np.maximum(size, 1e-300), m3)
        decided = decided | use
    return m3, decided


def _normalized(m3, lam, noise=0.0):
    # relative to the overall size (trace, at least the noise level), so that flat
    # directions (λ ≈ 0, e.g. the normal of a planar cloud) are not "decided" by rounding
    size = np.maximum(np.maximum(lam, 0.0).sum(axis=-1, keepdims=True), np.reshape(noise, (-1, 1)))
    return np.abs(m3) / np.maximum(size ** 1.5, 1e-300)


def orient_axes(E, negative, certainty, special, det_negative=None):
    """The one orientation rule of principal axes, shared by every PCA path (in place).

    Each axis ``E[:, :, k]`` is negated where ``negative[:, k]`` (its sign statistic — third
    moment, centroid projection or extreme point — is negative). For ``special`` groups,
    where the result has determinant -1, the least certain axis is negated as well: the
    smallest ``certainty`` (a scale-free strength of each axis's sign; undecided axes
    lowest), the first on ties. ``det_negative`` says whether ``det E < 0`` before the flips
    where the caller knows it (closed-form eigenvectors have det +1); otherwise the
    determinant is computed after them.

    Returns ``(E, flipped)``: the oriented frames (the same array) and, per axis, whether it
    was negated.
    """
    flipped = np.array(negative, dtype=bool)
    E *= np.where(flipped, -1.0, 1.0)[:, None, :]
    if special:
        if det_negative is None:
            fix = np.linalg.det(E) < 0
        else:
            fix = det_negative ^ (np.count_nonzero(flipped, axis=1) % 2 == 1)
        if fix.any():
            weakest = np.argmin(certainty, axis=1)
            rows = np.flatnonzero(fix)
            E[rows, :, weakest[rows]] *= -1
            flipped[rows, weakest[rows]] ^= True
    return E, flipped


def _det_tie_rtol(eps):
    """Relative gap under which the two least certain axes tie for the determinant fix: the
    fast path's own threshold for the input's precision (:data:`FAST_TIE_RTOL`), so the
    general path never calls tied what the fast path took as decided."""
    return FAST_TIE_RTOL[np.dtype(np.float32 if eps > 1e-10 else np.float64)]


def _weakest_tied(certainty, rtol):
    """Per sample, whether its two least certain axes (:func:`_certainty`) tie: closer than
    ``rtol`` times the least (and 1e-12)."""
    if certainty.shape[1] < 2:
        return np.zeros(len(certainty), dtype=bool)
    low = np.sort(certainty, axis=1)
    return low[:, 1] - low[:, 0] <= rtol * np.abs(low[:, 0]) + 1e-12


def _certainty(m3, decided, lam, noise=0.0):
    """The general path's certainty of each axis sign for :func:`orient_axes`: the
    normalized sign statistic where it decides, -1 (least certain) where it does not."""
    return np.where(decided, _normalized(m3, lam, noise), -1.0)


def _first_max(values, present, rtol=TIE_RTOL):
    """Index of the largest value among present entries, ties (within ``rtol`` of it,
    broadcast against the leading axes) → lowest index."""
    v = np.where(present, values, -np.inf)
    top = v.max(axis=-1, keepdims=True)
    tol = np.expand_dims(rtol, -1) * np.maximum(np.abs(top), 1e-300)
    return np.argmax(v >= top - tol, axis=-1)


def _tied_max(values, present, rtol=TIE_RTOL):
    """All indices whose value ties (within ``rtol``) with the largest present value."""
    v = np.where(present, values, -np.inf)
    top = v.max()
    return np.flatnonzero(v >= top - rtol * max(abs(top), 1e-300))


def _extreme_point_sign(proj, w, rtol=TIE_RTOL):
    """Per axis: sign of the present point with the largest |projection| (ties within
    ``rtol``, one value per sample, → lowest index)."""
    present = (w > 0)[:, :, None]
    rtol = np.reshape(rtol, (-1, 1)) if np.ndim(rtol) else rtol
    idx = _first_max(np.swapaxes(np.abs(proj), 1, 2), np.swapaxes(present, 1, 2), rtol)
    chosen = np.take_along_axis(proj, idx[:, None, :], axis=1)[:, 0, :]
    s = np.sign(chosen)
    return np.where(s == 0, 1.0, s)


def _eigenspaces(gaps):
    """Column ranges of the eigenspaces given the "repeated" flags between neighbours."""
    d = len(gaps) + 1
    start = 0
    while start < d:
        stop = start + 1
        while stop < d and gaps[stop - 1]:
            stop += 1
        yield start, stop
        start = stop


def _candidate_bases(Y, present, E, gaps, fallback=None, rtol=TIE_RTOL):
    """Every basis the point rules allow, each with its noise columns: each repeated
    eigenspace is re-based on each of the tied extreme points in turn (its first axis
    through the point with the largest projection onto it, the next through the largest
    orthogonal remainder, ...).

    Projections below ``max(1e-9, rtol)`` of the largest point norm (``rtol`` is the
    sample's tie tolerance, at least ``TIE_RTOL`` = 1e-7) are noise,
    and norms within ``rtol`` of the largest are tied. Where no point leaves such noise in
    the rest of an eigenspace, the rows of ``fallback`` (``(k, d)``: the attached vectors
    of the present points) are used in the same way; where nothing does, the rest keeps
    the eigensolver's axes, which do not move with the input, and those columns are
    returned as noise (``(d,)`` bool per basis): what the points hold there is below the
    noise level, and must not choose between candidates."""
    scale = np.linalg.norm(Y[present], axis=1).max() if present.any() else 0.0
    sources = [(Y, present, max(1e-9, rtol) * scale)]
    if fallback is not None and len(fallback):
        sources.append((fallback, np.ones(len(fallback), bool),
                        max(1e-9, rtol) * np.linalg.norm(fallback, axis=1).max()))
    bases = [(E.copy(), np.zeros(E.shape[1], dtype=bool))]
    for start, stop in _eigenspaces(gaps):
        if stop - start < 2:
            continue
        expanded = []
        for base, noise in bases:
            partial = [(base.copy(), base[:, start:stop].copy(), start)]
            while partial:
                F, B, j = partial.pop()
                found = None
                if j < stop - 1:
                    for rows, keep, tol in sources:
                        coords = rows @ B
                        norms = np.linalg.norm(coords, axis=1)
                        if np.any(norms[keep] > max(tol, 1e-300)):
                            found = rows, keep, coords, norms, tol
                            break
                if found is None:
                    F[:, j:stop] = B
                    marked = noise.copy()
                    # one remaining axis is fixed up to sign by the others (equivariant):
                    # not noise; two or more are the eigensolver's choice
                    marked[j:stop] = j < stop - 1
                    expanded.append((F, marked))
                    continue
                rows, keep, coords, norms, tol = found
                for i in _tied_max(norms, keep, rtol):
                    if norms[i] <= tol:
                        continue
                    u = B @ (coords[i] / norms[i])
                    U, _, _ = np.linalg.svd(B - np.outer(u, u @ B), full_matrices=False)
                    G = F.copy()
                    G[:, j] = u
                    partial.append((G, U[:, : stop - j - 1], j + 1))
                    if len(expanded) + len(partial) > _MAX_CANDIDATES:
                        break
        bases = expanded[:_MAX_CANDIDATES]
    return bases


_MAX_CANDIDATES = 512
#: frames whose entries differ by at most this are one frame (:func:`_distinct_frames`;
#: symmetries of regular polygons of up to about 6,000 vertices differ by more)
SAME_FRAME = 1e-3


def _set_features(blocks):
    """Permutation-invariant summary of a canonical sample given as column blocks
    (positions, then any attached fields): the means over points of a few fixed random
    Fourier features of the rows, each block divided by its largest magnitude (so the
    features do not depend on size or units). Candidates related by a symmetry of the
    sample give equal features; other candidates differ by O(1) in some feature, and
    small perturbations (rounding, a nearly symmetric shape) move them only slightly, so
    comparing them with a tolerance is far more stable than comparing sorted coordinates."""
    parts = [Z / max(np.linalg.norm(Z, axis=1).max(), 1e-300) for Z in blocks if Z.size]
    Q = np.concatenate(parts, axis=1)
    omega, phase = feature_map(Q.shape[1])
    return np.cos(Q @ omega + phase).mean(axis=0)


def _point_key(blocks, tols):
    """The canonical sample's rows in point order, each block divided by its tolerance
    (differences up to 1 are ties): decides, rotation-invariantly, between candidates
    whose features tie (the frames a symmetry of the sample leaves open)."""
    return np.concatenate([(Z / max(tol, 1e-300)).ravel() for Z, tol in zip(blocks, tols) if Z.size])


def _smallest_canonical_frame(Y, w, E, lam, gaps, special, offset=None, noise=0.0, attached=None,
                              tols=(SIGN_RTOL, 1e-8, FEATURE_RTOL), tied=None, det_rtol=1e-9):
    """Among the frames the moment rules cannot tell apart, the one whose canonical sample
    (its points' rows: positions, then the ``attached`` vectors and scalars) has the
    smallest permutation-invariant features (:func:`_set_features`, compared in order,
    anchored at the least value: :func:`~skcanon._kernels.orbit.tolerant_smallest`);
    between candidates whose features tie, the one whose rows in point order are
    lexicographically smallest. Rotating the input rotates every candidate, and reordering
    the points leaves the candidate sets unchanged, so the choice is invariant under both
    (a canonical form for symmetric shapes such as cubes and regular polygons). ``tols``
    are the sample's ``(sign_rtol, tie_rtol)`` from :func:`noise_levels` and the feature
    tolerance ``ftol``: features closer than ``ftol`` and canonical values closer than
    ``tie_rtol`` (relative, at least 1e-8) compare equal.

    ``det_rtol``: under special groups, axes whose sign certainties are within this
    (relative) of the least are each a candidate for the determinant fix's negation.

    ``tied`` (a list) receives, the chosen frame first, every candidate the anchored
    comparison of the features kept, once each: the frames a symmetry of the sample *as a set of points* relates to it (the
    cube's 48 under O(3)), a set that moves with the input as a whole, whatever the order
    of its points (the minimal frame sets of :mod:`skcanon.frames` under ``×S_n``).
    """
    sign_rtol, tie_rtol, ftol = tols
    present = w > 0
    Yp = Y[present] if offset is None else Y[present] + offset
    d = E.shape[1]
    V = S = None
    if attached is not None:
        V, S = attached[0][present], attached[1][present]  # (k, q, d), (k, s)
    candidates = []   # (frame, set features, point key)
    # re-base on the points as they will appear in the output (the offset included)
    fallback = None if V is None else V.reshape(-1, d)
    key_rtol = max(1e-8, tie_rtol)
    pos_tol = key_rtol * (np.abs(Yp).max() if Yp.size else 0.0)
    v_tol = key_rtol * (np.abs(V).max() if V is not None and V.size else 0.0)
    s_tol = key_rtol * (np.abs(S).max() if S is not None and S.size else 0.0)
    placed = Y if offset is None else Y + offset
    for base, noise_columns in _candidate_bases(placed, present, E, gaps, fallback, tie_rtol):
        # the candidates are compared without the columns where the points hold only noise:
        # there the basis is the eigensolver's, which does not move with the input, and
        # offsets below the noise level (1e-7 of the size) but above the features'
        # tolerance (1e-12) chose between candidates, reversing nearly collinear lines
        seen = np.where(noise_columns, 0.0, 1.0)
        m3, decided = _sign_statistic(Y[None], w[None], base[None], lam[None], np.array([max(w.sum(), 1e-300)]),
                                      None if offset is None else offset[None], np.array([noise]), sign_rtol)
        m3, decided = m3[0], decided[0]
        free = np.flatnonzero(~decided)
        fixed = np.where(decided, np.sign(m3), 1.0)
        for bits in range(2 ** len(free)):
            signs = fixed.copy()
            for k, axis in enumerate(free):
                if bits >> k & 1:
                    signs[axis] = -1.0
            F = base * signs
            options = [F]
            if special and np.linalg.det(F) < 0:
                if len(free):
                    continue
                # negate the least certain axis; where several are about equally certain,
                # each of them is a candidate (rounding must not choose)
                cert = _certainty(m3[None], decided[None], lam[None], np.array([noise]))[0]
                weak = np.flatnonzero(cert <= cert.min() + det_rtol * abs(cert.min()) + 1e-12)
                options = [F * np.where(np.arange(d) == k, -1.0, 1.0) for k in weak]
            for F in options:
                Fs = F * seen
                blocks, tols_ = [Yp @ Fs], [pos_tol]
                if V is not None:
                    blocks += [(V @ Fs).reshape(len(Yp), -1), S]
                    tols_ += [v_tol, s_tol]
                features = _set_features(blocks)
                if offset is not None:
                    # then the shape on its own scale: next to a large offset, a small shape's
                    # differences fall below the tolerance (turns of a small cube all tie)
                    features = np.concatenate([features, _set_features([Y[present] @ Fs])])
                candidates.append((F, features, _point_key(blocks, tols_)))
    if not d or not candidates:
        if tied is not None:
            tied[:] = [E]
        return E
    # the least features, then the least point key among the candidates they tie: both
    # anchored at the least value, so the choice does not depend on the candidates' order
    features = np.array([f for _, f, _ in candidates])
    least = tolerant_smallest(features[None], ftol)[0]
    smallest = tolerant_smallest(np.array([k for _, _, k in candidates])[None], 1.0, least[None])[0]
    k = int(np.argmax(smallest))
    if tied is not None:
        # the candidates the anchored comparison kept, not those within ``ftol`` of the
        # chosen one: the point key picks among near-symmetries by the points' order, and
        # ties around another member of the set chained to other neighbours (a cube with
        # noise of 1e-12: 6 to 43 of its 48 frames, depending on the pose). The chosen frame
        # comes first: a set that is not a group (a nearly symmetric sample) moves with the
        # input, but averages relative to its first frame do only if that is the chosen one
        order = [k] + [c for c in np.flatnonzero(least) if c != k]
        tied[:] = list(_distinct_frames([candidates[c][0] for c in order]))
    return candidates[k][0]


def _distinct_frames(frames):
    """``frames`` (a list of ``(d, d)``) without repeats: candidates reached along several
    paths of :func:`_candidate_bases` are the same frame up to the sample's asymmetry
    (rounding, or noise within the tie tolerances), while frames that a symmetry relates
    differ by far more (90° for a cube, 2π/k for a regular k-gon). Entries within
    :data:`SAME_FRAME` count as the same frame: with 1e-6 instead, a float32 cube with noise
    of 1e-6 of its size kept 32–38 near-copies of its 24 frames, a count that differed
    between poses."""
    F = np.asarray(frames)
    keep = []
    for k in range(len(F)):   # one vectorized comparison with the frames kept so far
        if not keep or np.abs(F[keep] - F[k]).max(axis=(1, 2)).min() > SAME_FRAME:
            keep.append(k)
    return F[keep]


def _rebase_degenerate(Y, w, E, gaps, offset=None):
    """Re-base each eigenspace of dimension > 1 on the points, ties → lowest index; where
    no point leaves the rest of an eigenspace (all weight on one point, say), on the
    ``offset`` (the centroid, for groups without translations)."""
    present = w > 0
    E = E.copy()
    for start, stop in _eigenspaces(gaps):
        if stop - start < 2:
            continue
        B = E[:, start:stop].copy()
        j = start
        while j < stop - 1:
            coords = Y @ B  # (m, r) coordinates inside the eigenspace
            norms = np.linalg.norm(coords, axis=1)
            reach = norms[present].max(initial=0.0)
            if reach > (0.0 if offset is None else 1e-12 * np.linalg.norm(offset)):
                i = _first_max(norms, present)
                v = coords[i] / norms[i]
            elif offset is not None and np.linalg.norm(offset @ B) > 1e-9 * np.linalg.norm(offset):
                v = offset @ B / np.linalg.norm(offset @ B)
            else:
                break  # nothing leaves the eigenspace's orthogonal complement
            u = B @ v
            E[:, j] = u
            # orthonormal basis of the rest of the eigenspace, orthogonal to u
            U, _, _ = np.linalg.svd(B - np.outer(u, u @ B), full_matrices=False)
            B = U[:, : stop - j - 1]
            j += 1
        E[:, j:stop] = B
    return E


# -- fast paths ------------------------------------------------------------------------------
#
# The functions below serve the common case — samples without absent points whose
# covariance eigenvalues are well separated and whose axis signs the rules above settle
# without a tie-break (third moment, else centroid or determinant) — at close to memory
# speed. They work in the input dtype on the big arrays (points transposed to ``(n, d, m)``
# so that every reduction runs over a contiguous axis) and in float64 only on the
# per-sample d×d quantities, kept as separate ``(n,)`` arrays (one per matrix entry or
# vector component): numpy is slow on short trailing axes, fast on long contiguous ones.
# Every sample whose decisions lie within rounding error of a threshold is handed back
# (``ok=False``) to the general path above, so the documented tie and degeneracy rules are
# unchanged.
#: normalized third moment above which the fast path trusts the sign (the general path
#: decides from ``SIGN_RTOL`` = 1e-6), per working dtype. The threshold also grows with
#: the rounding error of the dtype times the condition number trace / smallest gap.
FAST_SIGN_RTOL = {np.dtype(np.float32): 3e-6, np.dtype(np.float64): SIGN_RTOL}
#: relative margin between the two least certain axes under which the fast path leaves the
#: determinant fix (flip the least certain axis) to the general path, per working dtype
FAST_TIE_RTOL = {np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-9}


def fast_pca(Y, special, centre, eps=None, kernels="auto", out=None):
    """PCA frames and canonical points, for the samples where that is unambiguous.

    Parameters
    ----------
    Y : ndarray (n, m, d), float32 or float64
        Points (any strides).
    special : bool
        Force determinant +1.
    centre : bool
        Return the centred projection ``(y − c) E`` (E(d)/SE(d)); otherwise ``y E``.
    eps : float or None
        Rounding unit of the data as the user gave it (its tie tolerances, see
        :func:`noise_levels`); None: that of ``Y.dtype``. A float64 retry of float32 input
        passes float32's.
    kernels : "auto", None or the compiled kernels
        ``"auto"``: :func:`compiled_kernels` for this call decides (3-D points only);
        None: the numpy passes; the kernels from :func:`compiled_kernels`: the fused
        compiled pass (3-D points; statistics in float64 whatever the input dtype).
    out : ndarray (n, m, d) or None
        C-contiguous, in ``Y``'s dtype, sharing no memory with ``Y``: ``Z`` is written
        there (and returned) instead of into a new array.

    Returns
    -------
    E : ndarray (n, d, d), float64
        The same frames as :func:`pca_frames` wherever ``ok``.
    c : ndarray (n, d), float64
        Centroids.
    Z : ndarray (n, m, d) in the input dtype
        ``(y − c) E`` when ``centre``, ``y E`` otherwise.
    ok : ndarray (n,), bool
        False for samples the general path must handle (absent points, repeated or
        near-repeated eigenvalues, undecided or nearly tied signs, no spread).
    """
    n, m, d = Y.shape
    if isinstance(kernels, str):
        kernels = compiled_kernels(n) if d == 3 and m > 0 else None
    eps = np.finfo(Y.dtype).eps if eps is None else eps
    if out is not None and (out.shape != Y.shape or out.dtype != Y.dtype or not out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous {Y.dtype} array of shape {Y.shape}; got "
                         f"{out.dtype} of shape {out.shape}.")
    if kernels is not None and d == 3 and m > 0:
        return _fused_pca(kernels, Y, special, centre, eps, out)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        return _fast_pca_passes(Y, special, centre, eps, None, out)


#: per working dtype, the range of the trace (mean squared centred norm) in which the fast
#: path's squares and cubes neither overflow nor lose precision to underflow; samples
#: outside it take the general path, which rescales them. float64: the closed-form 3×3
#: eigenvectors normalise cofactor vectors whose squared norm is of order trace⁴, which
#: underflowed below a trace of about 1e-77 (frames 1e240 from orthogonal, forms 1e124
#: times the input, silently, for coordinates of 1e-44); 1e±70 keeps trace⁴ normal
FAST_TRACE_RANGE = {np.dtype(np.float32): (1e-18, 1e22), np.dtype(np.float64): (1e-70, 1e70)}


def _noise_columns(eps, lam, reach=1.0):
    """:func:`noise_levels` (without a noise floor) for eigenvalues given as a list of
    ``(n,)`` columns: whether any neighbours count as repeated, the sign tolerance (its noise
    term times ``reach``, :func:`offset_reach`), and the neighbour gaps (numpy is slow on
    the short trailing axis of an ``(n, d)`` array)."""
    scale = np.maximum(lam[0], 0.0)
    for v in lam[1:]:
        scale = scale + np.maximum(v, 0.0)
    threshold = max(EIG_RTOL, TIE_EPS * eps, GAP_NOISE * eps) * scale
    diffs = [lam[k] - lam[k + 1] for k in range(len(lam) - 1)]
    repeated = np.zeros(scale.shape, bool)
    gap = np.full(scale.shape, np.inf)
    for diff in diffs:
        tie = diff <= threshold
        repeated |= tie
        gap = np.minimum(gap, np.where(tie, np.inf, diff))
    gap = np.where(np.isfinite(gap), gap, scale)
    amp = 1.0 + scale / np.maximum(gap, 1e-300)
    sign_rtol = np.minimum(np.maximum(max(SIGN_RTOL, SIGN_EPS * eps), SIGN_NOISE * eps * amp * reach), 1e-2)
    return repeated, sign_rtol, diffs


#: relative margin over the "repeated eigenvalues" threshold under which samples whose
#: statistics the compiled passes accumulated in float64 are left to the general path
FAST_GAP_MARGIN_F64 = 1.001


def _fused_pca(kernels, Y, special, centre, eps, out=None):
    """:func:`fast_pca` by the compiled fused pass: one pass per sample (centroid,
    covariance, closed-form eigenvectors, third moments, every refusal rule, orientation,
    canonical points) while its points stay in the CPU cache."""
    n, m, _ = Y.shape
    E, c = np.empty((n, 3, 3)), np.empty((n, 3))
    Z = np.empty((n, m, 3), dtype=Y.dtype) if out is None else out
    status = np.empty(n, dtype=np.int8)
    kernels.fused(np.ascontiguousarray(Y).reshape(n, 3 * m), float(eps), bool(special), bool(centre), E, c,
                  Z.reshape(n, 3 * m), status)
    return E, c, Z, status == 1


def _fast_pca_passes(Y, special, centre, eps, kernels, out=None):
    """:func:`fast_pca` by separate passes over all samples: numpy's (``kernels`` None), or
    the compiled ones (statistics in float64)."""
    n, m, d = Y.shape
    dt = Y.dtype
    T = np.swapaxes(Y, 1, 2).copy(order="C")                 # (n, d, m), one pass
    if kernels is not None:
        # one compiled pass per statistic, accumulated in float64: the thresholds below
        # are those of float64 arithmetic (as the float64 retry of the numpy path)
        wt = np.dtype(np.float64)
        c64, S6 = np.empty((n, 3)), np.empty((n, 6))
        kernels.stats(T, c64, S6)
        S = {(0, 0): S6[:, 0], (0, 1): S6[:, 1], (0, 2): S6[:, 2],
             (1, 1): S6[:, 3], (1, 2): S6[:, 4], (2, 2): S6[:, 5]}
    else:
        wt = dt
        c = point_means(T)   # summed in float64: in float32 far clouds lost the frame
        T -= c[:, :, None]
        S = {(i, j): np.multiply(np.einsum("nm,nm->n", T[:, i], T[:, j]), 1.0 / m, dtype=np.float64)
             for i in range(d) for j in range(i, d)}
        c64 = c.astype(np.float64)
    lam, axes, ok, trace, gap = sym_eig_columns(S, d, None if kernels is None else kernels.eig_columns(S6))
    norm_c = np.einsum("nd,nd->n", c64, c64)
    ok &= np.isfinite(norm_c)  # absent (NaN) points or overflow: general path
    ok &= trace > 1e-8 * (norm_c + trace)
    low, high = FAST_TRACE_RANGE[wt]
    ok &= (trace > low) & (trace < high / m)
    # the general path's tolerances for this sample (rounding of the input as given);
    # margins keep samples near a threshold on the general path
    repeated, sign_rtol, diffs = _noise_columns(eps, lam, 1.0 if centre else offset_reach(norm_c, trace))
    ok &= ~repeated
    if d > 1:  # and not close to repeated
        gap_rtol = diffs[0]
        for diff in diffs[1:]:
            gap_rtol = np.minimum(gap_rtol, diff)
        gap_rtol = gap_rtol / np.maximum(trace, 1e-300)
        # float64 statistics (compiled passes) match the general path's eigenvalues to
        # about 1e-12: a thin margin suffices there, float32 ones need a factor 2
        margin = 2.0 if kernels is None else FAST_GAP_MARGIN_F64
        ok &= gap_rtol > margin * max(EIG_RTOL, TIE_EPS * eps, GAP_NOISE * eps)
    sign_hi, sign_lo = sign_rtol * 1.01, sign_rtol * 0.99
    E = frame_array(axes, n, d)
    if kernels is not None:
        m3 = np.empty((n, 3))
        kernels.moments(T, c64, E, m3)
    else:
        proj = np.matmul(np.swapaxes(E.astype(dt), 1, 2), T)      # (n, d, m) projections
        m3 = np.einsum("nkm,nkm->nk", proj * proj, proj).astype(np.float64)
    # Signs by the rules of pca_frames: per axis the normalized third moment |m3| / trace^1.5
    # decides when above SIGN_RTOL; below it, the centroid's projection decides (groups
    # without translations), or, for SE(d) with a single such axis, the determinant does.
    # ``err`` bounds the rounding error of a strength (dtype precision × the condition
    # number trace / smallest gap); samples within ``err`` of a threshold are refused.
    err = 20 * np.finfo(wt).eps * (1 + trace / np.maximum(gap, 1e-300))
    scale = 1.0 / np.maximum(trace * np.sqrt(trace), 1e-300)
    strength = [np.abs(m3[:, k]) * (scale / m) for k in range(d)]
    strength_err = [err] * d
    negative = [m3[:, k] < 0 for k in range(d)]
    decided = [s > np.maximum(FAST_SIGN_RTOL[wt], sign_hi + err) for s in strength]
    open_axes = [s < sign_lo - err for s in strength]
    for k in range(d):
        ok &= decided[k] | open_axes[k]
    if not centre:  # the centroid's projection orients the open axes
        size = np.sqrt(trace) + np.sqrt(norm_c)
        for k in range(d):
            first = c64[:, 0] * axes[k][0]
            for i in range(1, d):
                first = first + c64[:, i] * axes[k][i]
            use = open_axes[k] & (np.abs(first) > (sign_hi + err) * size)
            ok &= ~open_axes[k] | use
            # the general path's units for a centroid-decided axis: |first| / size
            strength[k] = np.where(use, np.abs(first) / np.maximum(size, 1e-300), strength[k])
            negative[k] = np.where(use, first < 0, negative[k])
    elif special and d > 1:
        # one open axis: the determinant +1 fixes its sign — it is the least certain
        # axis, so the determinant fix below flips it when needed
        ok &= sum(a.astype(np.intp) for a in open_axes) <= 1
    else:
        for k in range(d):
            ok &= ~open_axes[k]
    if not centre and kernels is None:  # y E = (y − c) E + c E, with E and proj not yet oriented
        proj += np.einsum("nd,nde->ne", c64, E).astype(dt)[:, :, None]
    negative = np.stack(negative, axis=1)
    det_negative = None
    if special:  # the closed forms of sym_eig_desc (d = 2, 3) return det +1: the signs decide
        det_negative = np.zeros(n, bool) if d in (2, 3) else np.linalg.det(E) < 0
    E, flipped = orient_axes(E, negative, np.stack(strength, axis=1), special, det_negative)
    if special and d > 1:
        # the general path flips the least certain axis; refuse near-ties in certainty
        flip = (flipped != negative).any(axis=1)
        weakest, lowest = _weakest_axis(strength)
        second = None
        for k in range(d):
            other = np.where(weakest == k, np.inf, strength[k])
            second = other if second is None else np.minimum(second, other)
        margin = strength_err[0]
        for k in range(1, d):
            margin = np.maximum(margin, strength_err[k])
        ok &= ~flip | (second - lowest > lowest * FAST_TIE_RTOL[wt] + 2 * margin)
    Z = np.empty((n, m, d), dtype=dt) if out is None else out
    if kernels is not None:  # (y − c) E + shift with the oriented frames, in one pass
        shift = np.zeros((n, 3)) if centre else np.einsum("nd,nde->ne", c64, E)
        kernels.project(Y, c64, E, shift, Z)
        return E, c64, Z, ok
    for k in range(d):  # sign and transpose back to (n, m, d) in one pass per axis
        sign = np.where(flipped[:, k], -1.0, 1.0).astype(dt)
        np.multiply(proj[:, k], sign[:, None], out=Z[:, :, k])
    return E, c64, Z, ok


# -- optional compiled kernels (numba) -------------------------------------------------------
#
# The 3-D fast path compiled by numba when it is installed (the ``fast`` extra) and
# :mod:`~skcanon._kernels._numba` says so (``SKCANON_NUMBA``: 1 always, 0 never, unset once
# the process has sent enough samples through): ``fused`` makes every decision of
# :func:`_fast_pca_passes` in one pass per sample — centroid, covariance, the closed-form
# eigenvectors (LAPACK where eigenvalues are close), third moments, the refusal rules,
# orientation and the canonical points — with every statistic accumulated in float64 while
# the sample's points stay in the CPU cache. The separate compiled passes (``stats``,
# ``moments``, ``project``, ``eig``) serve :func:`_fast_pca_passes` with ``kernels``, the
# reference the fused pass is tested against. Their outputs differ from the numpy passes'
# by float32 rounding; the samples they serve get the same frames.


def _stats3(T, c, S):
    n, _, m = T.shape
    inv = 1.0 / m
    for s in range(n):
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        for j in range(m):
            a0 += T[s, 0, j]
            a1 += T[s, 1, j]
            a2 += T[s, 2, j]
        c0, c1, c2 = a0 * inv, a1 * inv, a2 * inv
        s00 = s01 = s02 = s11 = s12 = s22 = 0.0
        for j in range(m):
            y0, y1, y2 = T[s, 0, j] - c0, T[s, 1, j] - c1, T[s, 2, j] - c2
            s00 += y0 * y0
            s01 += y0 * y1
            s02 += y0 * y2
            s11 += y1 * y1
            s12 += y1 * y2
            s22 += y2 * y2
        c[s, 0], c[s, 1], c[s, 2] = c0, c1, c2
        S[s, 0], S[s, 1], S[s, 2] = s00 * inv, s01 * inv, s02 * inv
        S[s, 3], S[s, 4], S[s, 5] = s11 * inv, s12 * inv, s22 * inv


def _moments3(T, c, E, m3):
    n, _, m = T.shape
    for s in range(n):
        c0, c1, c2 = c[s, 0], c[s, 1], c[s, 2]
        e00, e01, e02 = E[s, 0, 0], E[s, 0, 1], E[s, 0, 2]
        e10, e11, e12 = E[s, 1, 0], E[s, 1, 1], E[s, 1, 2]
        e20, e21, e22 = E[s, 2, 0], E[s, 2, 1], E[s, 2, 2]
        t0 = 0.0
        t1 = 0.0
        t2 = 0.0
        for j in range(m):
            y0, y1, y2 = T[s, 0, j] - c0, T[s, 1, j] - c1, T[s, 2, j] - c2
            p0 = y0 * e00 + y1 * e10 + y2 * e20
            p1 = y0 * e01 + y1 * e11 + y2 * e21
            p2 = y0 * e02 + y1 * e12 + y2 * e22
            t0 += p0 * p0 * p0
            t1 += p1 * p1 * p1
            t2 += p2 * p2 * p2
        m3[s, 0], m3[s, 1], m3[s, 2] = t0, t1, t2


def _project3(Y, c, E, shift, Z):
    n, m, _ = Y.shape
    for s in range(n):
        c0, c1, c2 = c[s, 0], c[s, 1], c[s, 2]
        e00, e01, e02 = E[s, 0, 0], E[s, 0, 1], E[s, 0, 2]
        e10, e11, e12 = E[s, 1, 0], E[s, 1, 1], E[s, 1, 2]
        e20, e21, e22 = E[s, 2, 0], E[s, 2, 1], E[s, 2, 2]
        h0, h1, h2 = shift[s, 0], shift[s, 1], shift[s, 2]
        for j in range(m):
            y0, y1, y2 = Y[s, j, 0] - c0, Y[s, j, 1] - c1, Y[s, j, 2] - c2
            Z[s, j, 0] = y0 * e00 + y1 * e10 + y2 * e20 + h0
            Z[s, j, 1] = y0 * e01 + y1 * e11 + y2 * e21 + h1
            Z[s, j, 2] = y0 * e02 + y1 * e12 + y2 * e22 + h2


def _eig3_rows(S, lam, V):
    # the closed form of eigen._eig3, sample by sample (same formulas): S (n, 6) entries
    # 00 01 02 11 12 22; lam (n, 3) descending; V (n, 3, 3) columns = axes, det +1
    n = S.shape[0]
    third = 1.0 / 3.0
    for s in range(n):
        a, x, y, b, z, c = S[s, 0], S[s, 1], S[s, 2], S[s, 3], S[s, 4], S[s, 5]
        q = (a + b + c) * third
        a0, b0, c0 = a - q, b - q, c - q
        xx, yy, zz = x * x, y * y, z * z
        p = np.sqrt((a0 * a0 + b0 * b0 + c0 * c0 + 2.0 * (xx + yy + zz)) * (1.0 / 6.0))
        det = a0 * (b0 * c0 - zz) - x * (x * c0 - z * y) + y * (x * z - b0 * y)
        sp = p if p > 0 else 1.0
        r = det / (2.0 * sp * sp * sp)
        r = min(max(r, -1.0), 1.0)
        phi = np.arccos(r) * third
        l1 = q + 2.0 * p * np.cos(phi)
        l3 = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
        l2 = 3.0 * q - l1 - l3
        lam[s, 0], lam[s, 1], lam[s, 2] = l1, l2, l3
        e = np.empty((2, 3))
        for t in range(2):
            lt = l1 if t == 0 else l3
            A0, A1, A2 = a - lt, b - lt, c - lt
            d00, d11, d22 = A1 * A2 - zz, A0 * A2 - yy, A0 * A1 - xx
            o01, o02, o12 = y * z - x * A2, x * z - y * A1, x * y - A0 * z
            if d22 > max(d00, d11):
                v0, v1, v2 = o02, o12, d22
            elif d11 > d00:
                v0, v1, v2 = o01, d11, o12
            else:
                v0, v1, v2 = d00, o01, o02
            inv = 1.0 / max(np.sqrt(v0 * v0 + v1 * v1 + v2 * v2), 1e-300)
            e[t, 0], e[t, 1], e[t, 2] = v0 * inv, v1 * inv, v2 * inv
        dot = e[1, 0] * e[0, 0] + e[1, 1] * e[0, 1] + e[1, 2] * e[0, 2]
        f0, f1, f2 = e[1, 0] - dot * e[0, 0], e[1, 1] - dot * e[0, 1], e[1, 2] - dot * e[0, 2]
        inv = 1.0 / max(np.sqrt(f0 * f0 + f1 * f1 + f2 * f2), 1e-300)
        f0, f1, f2 = f0 * inv, f1 * inv, f2 * inv
        g0, g1, g2 = e[0, 0], e[0, 1], e[0, 2]
        V[s, 0, 0], V[s, 1, 0], V[s, 2, 0] = g0, g1, g2
        V[s, 0, 2], V[s, 1, 2], V[s, 2, 2] = f0, f1, f2
        # middle axis: e3 × e1, so that det [e1, e2, e3] = +1
        V[s, 0, 1] = f1 * g2 - f2 * g1
        V[s, 1, 1] = f2 * g0 - f0 * g2
        V[s, 2, 1] = f0 * g1 - f1 * g0


def _eig3_one(a, x, y, b, z, c):
    # one sample of eigen._eig3 (same formulas, same rounding): entries 00 01 02 11 12 22 →
    # eigenvalues descending and the axes' components (e1, e2, e3 as columns, det +1)
    third = 1.0 / 3.0
    q = (a + b + c) * third
    a0, b0, c0 = a - q, b - q, c - q
    xx, yy, zz = x * x, y * y, z * z
    p = np.sqrt((a0 * a0 + b0 * b0 + c0 * c0 + 2.0 * (xx + yy + zz)) * (1.0 / 6.0))
    det = a0 * (b0 * c0 - zz) - x * (x * c0 - z * y) + y * (x * z - b0 * y)
    sp = p if p > 0 else 1.0
    r = det / (2.0 * sp * sp * sp)
    r = min(max(r, -1.0), 1.0)
    phi = np.arccos(r) * third
    l1 = q + 2.0 * p * np.cos(phi)
    l3 = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    l2 = 3.0 * q - l1 - l3
    # largest (t = 0) and smallest (t = 1) eigenvalue: a column of the adjugate
    A0, A1, A2 = a - l1, b - l1, c - l1
    d00, d11, d22 = A1 * A2 - zz, A0 * A2 - yy, A0 * A1 - xx
    o01, o02, o12 = y * z - x * A2, x * z - y * A1, x * y - A0 * z
    if d22 > max(d00, d11):
        g0, g1, g2 = o02, o12, d22
    elif d11 > d00:
        g0, g1, g2 = o01, d11, o12
    else:
        g0, g1, g2 = d00, o01, o02
    inv = 1.0 / max(np.sqrt(g0 * g0 + g1 * g1 + g2 * g2), 1e-300)
    g0, g1, g2 = g0 * inv, g1 * inv, g2 * inv
    A0, A1, A2 = a - l3, b - l3, c - l3
    d00, d11, d22 = A1 * A2 - zz, A0 * A2 - yy, A0 * A1 - xx
    o01, o02, o12 = y * z - x * A2, x * z - y * A1, x * y - A0 * z
    if d22 > max(d00, d11):
        f0, f1, f2 = o02, o12, d22
    elif d11 > d00:
        f0, f1, f2 = o01, d11, o12
    else:
        f0, f1, f2 = d00, o01, o02
    inv = 1.0 / max(np.sqrt(f0 * f0 + f1 * f1 + f2 * f2), 1e-300)
    f0, f1, f2 = f0 * inv, f1 * inv, f2 * inv
    dot = f0 * g0 + f1 * g1 + f2 * g2
    f0, f1, f2 = f0 - dot * g0, f1 - dot * g1, f2 - dot * g2
    inv = 1.0 / max(np.sqrt(f0 * f0 + f1 * f1 + f2 * f2), 1e-300)
    f0, f1, f2 = f0 * inv, f1 * inv, f2 * inv
    # middle axis: e3 × e1, so that det [e1, e2, e3] = +1
    return (l1, l2, l3, g0, g1, g2, f1 * g2 - f2 * g1, f2 * g0 - f0 * g2, f0 * g1 - f1 * g0,
            f0, f1, f2)


#: the constants of the fused pass (module globals are frozen into the compiled code)
_F64_EPS = float(np.finfo(np.float64).eps)


#: the constants of the fused pass (module globals are frozen into the compiled code)
_LO64, _HI64 = FAST_TRACE_RANGE[np.dtype(np.float64)]
_FAST_SIGN64, _FAST_TIE64 = FAST_SIGN_RTOL[np.dtype(np.float64)], FAST_TIE_RTOL[np.dtype(np.float64)]
#: the closed form compiled without reassociation (set when the kernels are built; a module
#: global, so that the fused pass that calls it can be cached)
_EIG3_ONE = None


def _fused3(Y, eps, special, centre, E, C, Z, status):
    """The fused per-sample pass of the 3-D fast path over float64 statistics: every rule
    of :func:`_fast_pca_passes` (with its compiled passes) repeated sample by sample."""
    eig_rtol, tie_eps, gap_noise = EIG_RTOL, TIE_EPS, GAP_NOISE
    sign_rtol0, sign_eps, sign_noise = SIGN_RTOL, SIGN_EPS, SIGN_NOISE
    closed_gap, fast_gap = CLOSED_FORM_GAP_RTOL, FAST_GAP_RTOL
    lo64, hi64 = _LO64, _HI64
    fast_sign, fast_tie = _FAST_SIGN64, _FAST_TIE64
    margin64, eps64 = FAST_GAP_MARGIN_F64, _F64_EPS
    eig_one = _EIG3_ONE
    # Y, Z: (n, 3m), each row a sample's points one after the other (a fixed stride of
    # 3 that the compiler vectorizes); status: 1 served, 0 refused (general path)
    n = Y.shape[0]
    m = Y.shape[1] // 3
    inv_m = 1.0 / m
    thr = max(eig_rtol, tie_eps * eps, gap_noise * eps)
    sign_base = max(sign_rtol0, sign_eps * eps)
    # the sample's points, centred, in float64 coordinate by coordinate (contiguous
    # loops over points vectorize; the values are those of the separate passes)
    b0, b1, b2 = np.empty(m), np.empty(m), np.empty(m)
    for s in range(n):
        y = Y[s]
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        for j in range(m):
            v0, v1, v2 = np.float64(y[3 * j]), np.float64(y[3 * j + 1]), np.float64(y[3 * j + 2])
            b0[j], b1[j], b2[j] = v0, v1, v2
            a0 += v0
            a1 += v1
            a2 += v2
        c0, c1, c2 = a0 * inv_m, a1 * inv_m, a2 * inv_m
        s00 = 0.0
        s01 = 0.0
        s02 = 0.0
        s11 = 0.0
        s12 = 0.0
        s22 = 0.0
        for j in range(m):
            y0, y1, y2 = b0[j] - c0, b1[j] - c1, b2[j] - c2
            b0[j], b1[j], b2[j] = y0, y1, y2
            s00 += y0 * y0
            s01 += y0 * y1
            s02 += y0 * y2
            s11 += y1 * y1
            s12 += y1 * y2
            s22 += y2 * y2
        C[s, 0], C[s, 1], C[s, 2] = c0, c1, c2
        status[s] = 0
        E[s, 0, 0], E[s, 0, 1], E[s, 0, 2] = 1.0, 0.0, 0.0
        E[s, 1, 0], E[s, 1, 1], E[s, 1, 2] = 0.0, 1.0, 0.0
        E[s, 2, 0], E[s, 2, 1], E[s, 2, 2] = 0.0, 0.0, 1.0
        (l1, l2, l3, e00, e10, e20, e01, e11, e21, e02, e12, e22) = eig_one(
            s00 * inv_m, s01 * inv_m, s02 * inv_m, s11 * inv_m, s12 * inv_m, s22 * inv_m)
        trace = max(l1, 0.0) + max(l2, 0.0) + max(l3, 0.0)
        gap = min(l1 - l2, l2 - l3)
        if np.isfinite(trace) and gap <= closed_gap * trace:
            # close eigenvalues: LAPACK, as eigen._refine_close_eigenvalues (descending,
            # det +1; the signs the orientation rule sets below do not depend on its)
            A = np.empty((3, 3))
            A[0, 0], A[0, 1], A[0, 2] = s00 * inv_m, s01 * inv_m, s02 * inv_m
            A[1, 0], A[1, 1], A[1, 2] = s01 * inv_m, s11 * inv_m, s12 * inv_m
            A[2, 0], A[2, 1], A[2, 2] = s02 * inv_m, s12 * inv_m, s22 * inv_m
            w, V = np.linalg.eigh(A)
            l1, l2, l3 = w[2], w[1], w[0]
            e00, e10, e20 = V[0, 2], V[1, 2], V[2, 2]
            e01, e11, e21 = V[0, 1], V[1, 1], V[2, 1]
            e02, e12, e22 = V[0, 0], V[1, 0], V[2, 0]
            det = (e00 * (e11 * e22 - e12 * e21) - e01 * (e10 * e22 - e12 * e20)
                   + e02 * (e10 * e21 - e11 * e20))
            if det < 0:
                e02, e12, e22 = -e02, -e12, -e22
            trace = max(l1, 0.0) + max(l2, 0.0) + max(l3, 0.0)
            gap = min(l1 - l2, l2 - l3)
        d1 = l1 - l2
        d2 = l2 - l3
        norm_c = c0 * c0 + c1 * c1 + c2 * c2
        if not (trace > 0 and np.isfinite(trace) and gap > fast_gap * trace and np.isfinite(norm_c)
                and trace > 1e-8 * (norm_c + trace) and trace > lo64 and trace < hi64 / m):
            continue
        # offset_reach: the sign tolerance of groups that keep the origin reads the rounding
        # of its distance
        reach = 1.0 if centre else max(1.0, np.sqrt(norm_c / max(trace, 1e-300)))
        threshold = thr * trace
        tie1 = d1 <= threshold
        tie2 = d2 <= threshold
        if tie1 or tie2 or not (gap / max(trace, 1e-300) > margin64 * thr):
            continue
        open_gap = min(d1, d2)
        amp = 1.0 + trace / max(open_gap, 1e-300)
        sign_rtol = min(max(sign_base, sign_noise * eps * amp * reach), 1e-2)
        sign_hi, sign_lo = sign_rtol * 1.01, sign_rtol * 0.99
        err = 20 * eps64 * (1 + trace / max(gap, 1e-300))
        t0 = 0.0
        t1 = 0.0
        t2 = 0.0
        for j in range(m):
            y0, y1, y2 = b0[j], b1[j], b2[j]
            p0 = y0 * e00 + y1 * e10 + y2 * e20
            p1 = y0 * e01 + y1 * e11 + y2 * e21
            p2 = y0 * e02 + y1 * e12 + y2 * e22
            t0 += p0 * p0 * p0
            t1 += p1 * p1 * p1
            t2 += p2 * p2 * p2
        scale = 1.0 / max(trace * np.sqrt(trace), 1e-300) / m
        st0, st1, st2 = abs(t0) * scale, abs(t1) * scale, abs(t2) * scale
        neg0, neg1, neg2 = t0 < 0, t1 < 0, t2 < 0
        hi = max(fast_sign, sign_hi + err)
        lo = sign_lo - err
        open0, open1, open2 = st0 < lo, st1 < lo, st2 < lo
        if not ((st0 > hi or open0) and (st1 > hi or open1) and (st2 > hi or open2)):
            continue
        if not centre:  # the centroid's projection orients the open axes
            size = np.sqrt(trace) + np.sqrt(norm_c)
            bar = (sign_hi + err) * size
            refused = False
            if open0:
                f = c0 * e00 + c1 * e10 + c2 * e20
                if abs(f) > bar:
                    st0, neg0 = abs(f) / max(size, 1e-300), f < 0
                else:
                    refused = True
            if open1:
                f = c0 * e01 + c1 * e11 + c2 * e21
                if abs(f) > bar:
                    st1, neg1 = abs(f) / max(size, 1e-300), f < 0
                else:
                    refused = True
            if open2:
                f = c0 * e02 + c1 * e12 + c2 * e22
                if abs(f) > bar:
                    st2, neg2 = abs(f) / max(size, 1e-300), f < 0
                else:
                    refused = True
            if refused:
                continue
        elif special:
            if int(open0) + int(open1) + int(open2) > 1:
                continue
        elif open0 or open1 or open2:
            continue
        # orient_axes: the negative signs, then (special) the weakest axis where the
        # determinant (+1 before the flips) became -1; refused near a tie in certainty
        if special and (int(neg0) + int(neg1) + int(neg2)) % 2 == 1:
            weakest, lowest = 0, st0
            if st1 < lowest:
                weakest, lowest = 1, st1
            if st2 < lowest:
                weakest, lowest = 2, st2
            if weakest == 0:
                second = min(st1, st2)
                neg0 = not neg0
            elif weakest == 1:
                second = min(st0, st2)
                neg1 = not neg1
            else:
                second = min(st0, st1)
                neg2 = not neg2
            if not (second - lowest > lowest * fast_tie + 2 * err):
                continue
        if neg0:
            e00, e10, e20 = -e00, -e10, -e20
        if neg1:
            e01, e11, e21 = -e01, -e11, -e21
        if neg2:
            e02, e12, e22 = -e02, -e12, -e22
        E[s, 0, 0], E[s, 0, 1], E[s, 0, 2] = e00, e01, e02
        E[s, 1, 0], E[s, 1, 1], E[s, 1, 2] = e10, e11, e12
        E[s, 2, 0], E[s, 2, 1], E[s, 2, 2] = e20, e21, e22
        h0 = 0.0
        h1 = 0.0
        h2 = 0.0
        if not centre:
            h0 = c0 * e00 + c1 * e10 + c2 * e20
            h1 = c0 * e01 + c1 * e11 + c2 * e21
            h2 = c0 * e02 + c1 * e12 + c2 * e22
        z = Z[s]
        for j in range(m):
            y0, y1, y2 = b0[j], b1[j], b2[j]
            z[3 * j] = y0 * e00 + y1 * e10 + y2 * e20 + h0
            z[3 * j + 1] = y0 * e01 + y1 * e11 + y2 * e21 + h1
            z[3 * j + 2] = y0 * e02 + y1 * e12 + y2 * e22 + h2
        status[s] = 1


class _Kernels:
    """The compiled passes: ``stats``, ``moments``, ``project``, ``eig`` (3×3 closed form),
    and ``fused`` (all of them, with the fast path's rules, in one pass per sample)."""

    def __init__(self, jit, jit_exact):
        self.stats, self.moments, self.project = jit(_stats3), jit(_moments3), jit(_project3)
        self.eig = jit_exact(_eig3_rows)   # no reassociation: the closed form's own rounding
        global _EIG3_ONE
        _EIG3_ONE = jit_exact(_eig3_one)
        self.fused = jit(_fused3)

    def eig_columns(self, S6):
        """``eig3`` for :func:`~skcanon._kernels.eigen.sym_eig_columns`: the closed form on
        the ``(n, 6)`` covariance entries, as lists of ``(n,)`` columns (views)."""
        def eig3(_):
            lam, V = np.empty((len(S6), 3)), np.empty((len(S6), 3, 3))
            self.eig(S6, lam, V)
            return [lam[:, k] for k in range(3)], [[V[:, i, k] for i in range(3)] for k in range(3)]
        return eig3


def compiled_kernels(n=0):
    """The numba-compiled passes of the 3-D PCA fast path where ``SKCANON_NUMBA`` asks for
    them for a call over ``n`` samples (see :mod:`~skcanon._kernels._numba`: ``1`` always,
    ``0`` never, unset once the process has sent enough samples through); None where it
    does not, numba is not installed or compiling fails (the numpy passes serve then)."""
    return _numba.kernels("pca", _build_kernels) if _numba.wanted(n) else None


def _build_kernels(numba, jit, jit_exact):
    kernels = _Kernels(jit, jit_exact)
    probe = (np.zeros((1, 3, 2), np.float32), np.zeros((1, 2, 3), np.float32))
    c, S, m3, E = np.empty((1, 3)), np.empty((1, 6)), np.empty((1, 3)), np.eye(3)[None]
    kernels.stats(probe[0], c, S)
    kernels.moments(probe[0], c, E, m3)
    kernels.project(probe[1], c, E, np.zeros((1, 3)), np.empty((1, 2, 3), np.float32))
    kernels.eig(np.ones((1, 6)), np.empty((1, 3)), np.empty((1, 3, 3)))
    # compiled on its own before the fused pass: compiled first from inside it, the closed
    # form would take that pass's fastmath flags (reassociation), not its own
    _EIG3_ONE(1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    kernels.fused(probe[1].reshape(1, 6), 1e-7, True, True, np.empty((1, 3, 3)), c,
                  np.empty((1, 6), np.float32), np.empty(1, np.int8))
    return kernels


def _weakest_axis(strength):
    """Index of the smallest of the per-axis arrays (first on ties) and its value."""
    weakest = np.zeros(strength[0].shape, dtype=np.intp)
    lowest = strength[0]
    for k in range(1, len(strength)):
        smaller = strength[k] < lowest
        weakest = np.where(smaller, k, weakest)
        lowest = np.where(smaller, strength[k], lowest)
    return weakest, lowest

# -- images: pixels as weighted 2-D points ------------------------------------------------


def pixel_grid(h, w):
    """Pixel centres as 2-D points: ``x`` to the right, ``y`` up, origin at the image centre."""
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return np.stack([cols - (w - 1) / 2.0, (h - 1) / 2.0 - rows], -1).reshape(-1, 2)


def fast_moment_frames(weights, grid, special):
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
    certainty = np.abs(m3) / size
    _, flipped = orient_axes(E, decided & (m3 < 0), certainty, special)
    ok = reliable & decided.all(axis=1) & (W > 0)
    if special:
        # the determinant fix negated the less certain axis: where the two are tied up to
        # rounding (a principal axis on a diagonal of a mirror-symmetric moment pattern),
        # rounding would choose, so those images take the general rules
        fixed = (flipped != (decided & (m3 < 0))).any(axis=1)
        lo, hi = certainty.min(axis=1), certainty.max(axis=1)
        ok &= ~fixed | (hi - lo > FAST_TIE_RTOL[np.dtype(np.float64)] * hi + 1e-12)
    return E, ok


# -- frames as group elements ---------------------------------------------------------------


def rounding_unit(P):
    """Rounding unit of the working array's dtype (float64's for integer input)."""
    return float(np.finfo(P.dtype).eps) if np.issubdtype(P.dtype, np.floating) else float(np.finfo(np.float64).eps)


def frame_rounding(Z, w, eps):
    """Per sample, a bound on the rounding error of the entries of its PCA frame: ``Z``
    (``(n, m, d)``) the centred points of a sample rescaled to a largest point norm of 1
    before centring, ``w`` their weights, ``eps`` the input's rounding unit. The input's
    rounding relative to the shape's own size (``eps`` over the largest distance from the
    centroid: float32 clouds far from the origin carry their offset's rounding), amplified
    by the covariance's condition (1 + trace over the smallest gap between its
    eigenvalues), times :data:`FRAME_ROUNDING`. Infinite where the eigenvalues repeat or
    the points have no spread (those frames come from the tie rules)."""
    Z = np.where(w[..., None] > 0, Z, 0.0)                 # absent points count for nothing
    C = np.swapaxes(Z * w[..., None], 1, 2) @ Z / np.maximum(w.sum(axis=1), 1e-300)[:, None, None]
    lam = np.linalg.eigvalsh(C)
    gap = np.diff(lam, axis=1).min(axis=1)
    reach = np.sqrt(np.einsum("nmd,nmd->nm", Z, Z).max(axis=1, initial=0.0))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        bound = FRAME_ROUNDING * eps / reach * (1 + lam.sum(axis=1) / gap)
    return np.where(np.isfinite(bound) & (reach > 0) & (gap > 0), bound, np.inf)


def _group_pca(group, P, layout, tied=False, rounding=False):
    """``(E, open, tied, c, r)``: :func:`pca_frames` of the present points' geometric field
    of ``P`` with every tie rule, as :func:`pca_group_frames` uses them (``tied``: None
    unless asked for), the centroid ``c`` and the frames' :func:`frame_rounding` (None
    unless asked for)."""
    Y, w, _ = geometric_points(P, layout)
    if not np.isfinite(Y).all():
        raise ValueError("X has infinite coordinates (an overflow before canonicalization?): "
                         "PCA frames need finite positions.")
    # frames do not depend on size: work on points rescaled to a largest coordinate of 1
    # (no overflow or underflow in squares and cubes, whatever the input's magnitude)
    Y, a = rescale_points(Y, w)
    c = weighted_centroid(Y, w)
    translating = group.translates
    E, is_open, *found = pca_frames(
        Y - c[:, None, :], w, special=group.special, offset=None if translating else c,
        centred_from=c if translating else None,
        magnitude=np.max(np.einsum("nmd,nmd->nm", Y, Y), axis=1), eps=rounding_unit(P),
        attached=lambda i: attached_fields(P[i], layout, (c * a[:, None])[i] if translating else None),
        return_open=True, return_tied=tied)
    r = frame_rounding(Y - c[:, None, :], w, rounding_unit(P)) if rounding else None
    return E, is_open, (found[0] if tied else None), c * a[:, None], r


def pca_tied_frames(group, P, layout, signs=None):
    """For each sample of the working array ``P``, the frames :func:`pca_group_frames`'s tie
    rule could not tell apart by its points as a set (``(k, d, d)``, the chosen one
    first), or None where its covariance has no repeated eigenvalue (or no spread). For a
    symmetric shape under a continuous group × S_n these are the frames its symmetries
    relate, and the set moves with the input: ``tied(g·x) = g·tied(x)``. ``signs``
    (``(K, d)``): each frame with each of these sign flips of its columns, repeats removed
    (still a set that moves with the input)."""
    found = _group_pca(group, P, layout, tied=True)[2]
    if signs is None:
        return found
    return [None if f is None else _distinct_frames((f[:, None] * signs[None, :, None, :]).reshape(-1, *f.shape[1:]))
            for f in found]


def pca_group_frames(group, P, layout):
    """Group elements from the PCA frames of the working array ``P`` of a point ``layout``.

    For any group that rotates without rescaling: the frame of the present points' geometric
    field (:func:`pca_frames`, with every tie rule; the centroid as translation part for
    groups that translate, as the offset that orients open axes for groups that do not),
    turned into an element by ``group.nearest_element`` — the frame itself for O(d)/SO(d),
    a rigid motion for E(d)/SE(d), the nearest element for finite groups (rounding an
    O(d)-equivariant frame to the nearest element of a finite subgroup stays equivariant).
    Samples whose frame a tie rule chose (symmetric shapes) are equivariant only up to their
    own symmetries; for finite groups they take :func:`~skcanon._kernels.orbit.smallest_form_element`.
    """
    E, is_open, _, c, r = _group_pca(group, P, layout, rounding=group.is_finite)
    h = group.nearest_element(E, c if group.translates else None)
    # a frame a tie rule chose moves with the input only up to the sample's symmetries, and
    # rounding it to a group element does not; nor does rounding within the frame's own
    # rounding error of a tie between two elements: those samples take the element with
    # the smallest canonical form, which is exact for every input
    settle = np.zeros(0, dtype=bool)
    if group.is_finite:
        settle = is_open | group.near_tie(E, r)
    if settle.any():
        h = np.array(h)
        h[settle] = smallest_form_element(group, P[settle], layout, eps=rounding_unit(P))
    return h
