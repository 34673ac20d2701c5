"""The element of a finite group whose canonical form is smallest: an exact canonicalization.

One concern: for a group that lists its elements (``group.elements()``), choose for each
sample ``x`` the element ``g`` whose candidate canonical form ``g⁻¹·x`` is smallest under a
tolerant key. Moving the input by ``h`` in the group only reorders the candidates
(``g⁻¹·(h·x) = (h⁻¹g)⁻¹·x``), so the smallest form is the same and the chosen element moves
with ``h``: the frame is equivariant and the canonical form invariant, for every input,
symmetric ones included (elements that tie give the same form).

The key compares, in order,

1. a few permutation-invariant features of the candidate's points (means over the present
   points of fixed random Fourier features of their rows, each field divided by its largest
   row norm, which the group does not change), within ``FEATURE_EPS`` rounding units —
   so the choice does not depend on the order of the points, and a later S_n step sees the
   same point set whatever order the points came in;
2. the candidate's rows in point order, values within ``TIE_EPS`` rounding units (relative
   to each field's largest row norm) counting as equal — for the candidates whose point
   sets coincide (a symmetry of the sample), so that the output array itself is invariant.

"Smallest" under a tolerance is anchored at the least value (:func:`tolerant_smallest`):
the candidates within the tolerance of the least first entry, of those the ones within it
of the least second entry, and so on. A running comparison is not a choice of the set:
tolerant ties chain, and the winner followed the order the candidates came in, which the
pose sets.

Cost: one action of the group per element (``order`` × the sample size), vectorized over
samples. The heuristic ``pca`` frames of finite groups use it for the samples whose
principal axes leave the frame open (symmetric shapes), where rounding a frame to the
nearest element would not be equivariant.
"""

from __future__ import annotations

import numpy as np

#: number of random Fourier features in the key
N_FEATURES = 6
#: features within this many rounding units of the input dtype (at least
#: :data:`FEATURE_RTOL`) are tied
FEATURE_EPS = 100.0
#: below the point sort's tolerance (1e-9 in float64), as the PCA tie rule's
#: (``pca.FEATURE_RTOL``): at 1e-8, cubes with noise of 1e-9 to 1e-8 of their size tied in
#: features under OxS_n, the element order chose between near-symmetries, and the sorted
#: forms of two poses differed (28 of 30 samples)
FEATURE_RTOL = 1e-12
#: canonical values within this many rounding units (at least 1e-7), relative to their
#: field's largest row norm, are tied
TIE_EPS = 1e4

_FEATURE_MAPS = {}


def feature_map(width):
    """The fixed random Fourier feature map ``(omega, phase)`` for rows of ``width`` values
    (seeded by the width, so every call and every process gets the same map)."""
    if width not in _FEATURE_MAPS:
        rs = np.random.default_rng(12345 + width)
        _FEATURE_MAPS[width] = (3.0 * rs.standard_normal((width, N_FEATURES)),
                                rs.uniform(0.0, 2 * np.pi, N_FEATURES))
    return _FEATURE_MAPS[width]


def _field_blocks(layout, width):
    """Column slices of the layout's fields (one block for layouts without fields)."""
    fields = getattr(layout, "fields", None)
    if not fields:
        return [slice(0, width)]
    return [layout.slice_of(f.name) for f in fields]


def tolerant_smallest(values, tol, keep=None):
    """Per sample, the candidates whose values are smallest in order, entries within
    ``tol`` of the smallest counting as equal: of the candidates left, those within ``tol``
    of the least first entry, then of the least second entry, and so on.

    Anchored at the least value, the choice does not depend on the order the candidates
    come in (which follows the input's pose and point order). A running comparison with
    the same tolerance does: ties chain (``a ≈ b``, ``b ≈ c``, ``a < c``), and which of
    ``a`` and ``c`` wins depended on which came first — a nearly regular tetrahedron in
    float32 got two canonical forms in 11 of 30 poses.

    Parameters
    ----------
    values : ndarray (n, c, f)
        ``f`` entries of each of ``c`` candidates.
    tol : float or ndarray (n,)
    keep : ndarray (n, c) of bool, optional
        Candidates taking part (default: all).

    Returns
    -------
    ndarray (n, c) of bool: the smallest candidates (at least one per sample with any).
    """
    n, c, f = values.shape
    keep = np.ones((n, c), bool) if keep is None else np.array(keep, dtype=bool)
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), (n,))
    for j in range(f):
        open_ = keep.sum(axis=1) > 1
        if not open_.any():
            break
        col = values[open_, :, j]
        low = np.where(keep[open_], col, np.inf).min(axis=1)
        keep[open_] &= col <= (low + tol[open_])[:, None]
    return keep


def smallest_form_element(group, P, layout, eps=None):
    """Per sample, the element ``g`` of the finite ``group`` whose ``g⁻¹·x`` has the smallest
    key (see the module notes).

    Parameters
    ----------
    group : Group
        A finite group (``group.elements()``) that does not translate.
    P : ndarray (n, m, width)
        Working array of a point ``layout``; absent points are all-NaN rows.
    layout : layout
    eps : float or None
        Rounding unit of the data as the user gave it (None: that of ``P``'s dtype,
        float64's for integers).

    Returns
    -------
    ndarray
        ``n`` group elements.
    """
    if not group.is_finite or group.translates:
        raise TypeError(f"{group.name} is not a finite group without translations.")
    P = np.asarray(P)
    if eps is None:
        eps = float(np.finfo(P.dtype if np.issubdtype(P.dtype, np.floating) else np.float64).eps)
    X = np.asarray(P, dtype=np.float64)
    n, m, width = X.shape
    present = ~np.isnan(X).all(axis=2)
    weight = present / np.maximum(present.sum(axis=1, keepdims=True), 1)
    X = np.where(present[..., None], X, 0.0)
    blocks = _field_blocks(layout, width)
    # each field's largest row norm: the group moves rows, it does not change their norms
    scale = np.ones((n, width))
    for sl in blocks:
        # the norms of rows divided by their largest entry: squares of 1e200 would overflow
        # (every form became 0 and the first element won, whatever the pose)
        # (by a power of two: exact, so ordinary inputs keep their bits)
        amax = np.abs(X[..., sl]).max(axis=(1, 2), initial=0.0)
        unit = np.ldexp(1.0, np.where(amax > 0, np.frexp(amax)[1], 0))
        top = np.linalg.norm(X[..., sl] / unit[:, None, None], axis=2).max(axis=1, initial=0.0) * unit
        scale[:, sl] = np.where(top > 0, top, 1.0)[:, None]
    ftol = max(FEATURE_RTOL, FEATURE_EPS * eps)
    ktol = max(1e-7, TIE_EPS * eps)
    omega, phase = feature_map(width)

    elements = group.elements()
    inverses = np.asarray(group.inverse(elements))

    def turned_back(j, rows):
        g = np.repeat(inverses[j:j + 1], len(rows), axis=0)
        return np.asarray(group.act(g, X[rows], layout), dtype=np.float64) / scale[rows, None, :]

    every = np.arange(n)
    features = np.stack([np.einsum("nm,nmf->nf", weight, np.cos(turned_back(j, every) @ omega + phase))
                         for j in range(len(elements))], axis=1)         # (n, elements, features)
    smallest = tolerant_smallest(features, ftol)
    # between elements whose features tie (a symmetry of the sample), the smallest
    # canonical values in point order; in chunks, as only these samples need the forms
    open_ = np.flatnonzero(smallest.sum(axis=1) > 1)
    step = max(1, 4_000_000 // max(len(elements) * m * width, 1))
    for start in range(0, len(open_), step):
        rows = open_[start:start + step]
        keys = np.stack([turned_back(j, rows).reshape(len(rows), -1) / ktol for j in range(len(elements))], axis=1)
        smallest[rows] = tolerant_smallest(keys, 1.0, smallest[rows])
    best = np.argmax(smallest, axis=1)
    return np.asarray(elements)[best]
