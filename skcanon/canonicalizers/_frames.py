"""Batched equivariant frame computations shared by the heuristic canonicalizers.

Everything here is vectorized over samples; only samples with repeated eigenvalues (rare
for real data, the defining feature of symmetric shapes) take a per-sample path.

Tie and degeneracy rules (documented in the user guide, tested in the suite):

* **Sign of an axis** — the sign that makes the weighted third moment along the axis
  positive. When that moment vanishes (the shape is mirror-symmetric along the axis), the
  sign points to the present point with the largest ``|projection|``; exact ties go to
  the lowest point index. Both rules commute with rotations and reflections.
* **Repeated eigenvalues** (relative gap below ``EIG_RTOL``) — the eigenspace is
  re-based on the points: its first axis points to the point with the largest projection
  onto the eigenspace (ties → lowest index), the next to the largest projection orthogonal
  to it, and so on. For point sets this keeps the frame equivariant even for cubes,
  regular polygons and simplices; for images the "points" are pixels in raster order, so
  ties there depend on the pixel grid.
* **No spread at all** (all points equal, blank image) — the identity frame.
"""

from __future__ import annotations

import numpy as np

EIG_RTOL = 1e-6      # eigenvalues closer than this (relative to the trace) are "repeated"
SIGN_RTOL = 1e-6     # normalized third moments below this do not decide a sign
TIE_RTOL = 1e-7      # projections closer than this (relative) count as tied
NOISE_RTOL = 1e-20   # spreads below this × the squared magnitude are rounding noise


def weighted_centroid(Y, w):
    """``(n, m, d)`` points and ``(n, m)`` non-negative weights → ``(n, d)`` centroids."""
    W = w.sum(axis=1)
    safe = np.where(W > 0, W, 1.0)
    return np.einsum("nm,nmd->nd", w, Y) / safe[:, None]


def pca_frames(Y, w, special, resolve_ties=True, offset=None, magnitude=None):
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
        ``1e-20 × magnitude`` are rounding noise (e.g. identical points after a rotation).

    Returns
    -------
    E : ndarray (n, d, d)
        Columns are the axes, by decreasing variance. ``E(R·Y) = R·E(Y)`` for orthogonal
        ``R`` (``R`` in SO(d) when ``special``), up to the documented tie rules.
    """
    n, m, d = Y.shape
    W = w.sum(axis=1)
    safe_W = np.where(W > 0, W, 1.0)
    C = np.einsum("nm,nmi,nmj->nij", w, Y, Y) / safe_W[:, None, None]
    lam, E = np.linalg.eigh(C)
    lam, E = lam[:, ::-1], E[:, :, ::-1].copy()
    scale = np.maximum(lam.sum(axis=1), 0.0)
    noise = NOISE_RTOL * (magnitude if magnitude is not None else scale) + 1e-300
    flat = scale <= noise
    if offset is not None:  # a point cloud away from the origin still has a direction
        flat &= np.einsum("nd,nd->n", offset, offset) <= noise
    gaps = (lam[:, :-1] - lam[:, 1:]) <= (EIG_RTOL * scale + noise)[:, None]

    m3, decided = _sign_statistic(Y, w, E, lam, safe_W, offset, noise)
    sign = np.where(decided, np.sign(m3), _extreme_point_sign(np.einsum("nmd,nde->nme", Y, E), w))
    E = E * sign[:, None, :]
    if special:
        _fix_determinant(E, m3, decided, lam, noise)
    ambiguous = np.flatnonzero((gaps.any(axis=1) | ~decided.all(axis=1)) & ~flat)
    for i in ambiguous:
        if resolve_ties:
            E[i] = _smallest_canonical_frame(Y[i], w[i], E[i], lam[i], gaps[i], special,
                                             None if offset is None else offset[i], noise[i])
        elif gaps[i].any():
            E[i] = _rebase_degenerate(Y[i], w[i], E[i], gaps[i])
            mi, di = _sign_statistic(Y[i:i + 1], w[i:i + 1], E[i:i + 1], lam[i:i + 1], safe_W[i:i + 1],
                                     None if offset is None else offset[i:i + 1], noise[i:i + 1])
            E[i] *= np.where(di[0], np.sign(mi[0]), 1.0)
            if special:
                _fix_determinant(E[i:i + 1], mi, di, lam[i:i + 1], noise[i:i + 1])
    E[flat] = np.eye(d)
    return E


def _sign_statistic(Y, w, E, lam, W, offset=None, noise=0.0):
    """Per axis, the equivariant statistic whose sign orients it, and whether it decides.

    The weighted third moment along the axis; where it vanishes and an ``offset`` is given,
    the offset's projection (scaled to the same units) takes over.
    """
    proj = np.einsum("nmd,nde->nme", Y, E)
    m3 = np.einsum("nm,nme->ne", w, proj**3) / W[:, None]
    decided = _normalized(m3, lam, noise) > SIGN_RTOL
    if offset is not None:
        first = np.einsum("nd,nde->ne", offset, E)
        size = np.sqrt(np.maximum(lam, 0.0).sum(axis=-1, keepdims=True)) + np.linalg.norm(offset, axis=-1, keepdims=True)
        use = ~decided & (np.abs(first) > SIGN_RTOL * np.maximum(size, 1e-300))
        m3 = np.where(use, first, m3)
        decided = decided | use
    return m3, decided


def _normalized(m3, lam, noise=0.0):
    # relative to the overall size (trace, at least the noise level), so that flat
    # directions (λ ≈ 0, e.g. the normal of a planar cloud) are not "decided" by rounding
    size = np.maximum(np.maximum(lam, 0.0).sum(axis=-1, keepdims=True), np.reshape(noise, (-1, 1)))
    return np.abs(m3) / np.maximum(size ** 1.5, 1e-300)


def _fix_determinant(E, m3, decided, lam, noise=0.0):
    """Flip, where det = -1, the axis whose sign was least certain (in place)."""
    neg = np.linalg.det(E) < 0
    if neg.any():
        weakest = np.argmin(np.where(decided, _normalized(m3, lam, noise), -1.0), axis=1)
        rows = np.flatnonzero(neg)
        E[rows, :, weakest[rows]] *= -1


def _first_max(values, present):
    """Index of the largest value among present entries, ties (relative) → lowest index."""
    v = np.where(present, values, -np.inf)
    top = v.max(axis=-1, keepdims=True)
    tol = TIE_RTOL * np.maximum(np.abs(top), 1e-300)
    return np.argmax(v >= top - tol, axis=-1)


def _tied_max(values, present):
    """All indices whose value ties with the largest present value."""
    v = np.where(present, values, -np.inf)
    top = v.max()
    return np.flatnonzero(v >= top - TIE_RTOL * max(abs(top), 1e-300))


def _extreme_point_sign(proj, w):
    """Per axis: sign of the present point with the largest |projection|."""
    present = (w > 0)[:, :, None]
    idx = _first_max(np.swapaxes(np.abs(proj), 1, 2), np.swapaxes(present, 1, 2))
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


def _candidate_bases(Y, present, E, gaps):
    """Every basis the point rules allow: each repeated eigenspace is re-based on each of
    the tied extreme points in turn (its first axis through the point with the largest
    projection onto it, the next through the largest orthogonal remainder, ...)."""
    bases = [E.copy()]
    for start, stop in _eigenspaces(gaps):
        if stop - start < 2:
            continue
        expanded = []
        for base in bases:
            partial = [(base.copy(), base[:, start:stop].copy(), start)]
            while partial:
                F, B, j = partial.pop()
                coords = Y @ B
                norms = np.linalg.norm(coords, axis=1)
                if j >= stop - 1 or not np.any(norms[present] > 1e-12 * max(norms.max(), 1e-300)):
                    F[:, j:stop] = B
                    expanded.append(F)
                    continue
                for i in _tied_max(norms, present):
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


def _set_key(Z):
    """Noise-tolerant key of a canonical point set: first its rows sorted lexicographically
    (independent of point order), then the rows in point order (to choose, rotation-
    invariantly, between candidates that give the same set)."""
    scale = max(np.abs(Z).max(), 1e-300)
    Q = np.round(Z / (scale * 1e-8)) + 0.0  # + 0.0 turns -0.0 into 0.0
    return tuple(Q[np.lexsort(Q.T[::-1])].ravel()), tuple(Q.ravel())


def _smallest_canonical_frame(Y, w, E, lam, gaps, special, offset=None, noise=0.0):
    """Among the frames the moment rules cannot tell apart, the one whose canonical point
    set is lexicographically smallest. Rotating the input rotates every candidate, and
    reordering the points leaves the candidate sets unchanged, so the choice is invariant
    under both (a canonical form for symmetric shapes such as cubes and regular polygons).
    """
    present = w > 0
    Yp = Y[present] if offset is None else Y[present] + offset
    d = E.shape[1]
    best, best_key = E, None
    # re-base on the points as they will appear in the output (the offset included)
    for base in _candidate_bases(Y if offset is None else Y + offset, present, E, gaps):
        m3, decided = _sign_statistic(Y[None], w[None], base[None], lam[None], np.array([max(w.sum(), 1e-300)]),
                                      None if offset is None else offset[None], np.array([noise]))
        m3, decided = m3[0], decided[0]
        free = np.flatnonzero(~decided)
        fixed = np.where(decided, np.sign(m3), 1.0)
        for bits in range(2 ** len(free)):
            signs = fixed.copy()
            for k, axis in enumerate(free):
                if bits >> k & 1:
                    signs[axis] = -1.0
            F = base * signs
            if special and np.linalg.det(F) < 0:
                if len(free):
                    continue
                F = F.copy()
                _fix_determinant(F[None], m3[None], decided[None], lam[None], np.array([noise]))
            key = _set_key(Yp @ F)
            if best_key is None or key < best_key:
                best, best_key = F, key
    return best if d else E


def _rebase_degenerate(Y, w, E, gaps):
    """Re-base each eigenspace of dimension > 1 on the points, ties → lowest index."""
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
            if not np.any(norms[present] > 0):
                break  # no point leaves the eigenspace's orthogonal complement
            i = _first_max(norms, present)
            u = B @ (coords[i] / norms[i])
            E[:, j] = u
            # orthonormal basis of the rest of the eigenspace, orthogonal to u
            U, _, _ = np.linalg.svd(B - np.outer(u, u @ B), full_matrices=False)
            B = U[:, : stop - j - 1]
            j += 1
        E[:, j:stop] = B
    return E
