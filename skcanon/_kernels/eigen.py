"""Batched symmetric eigensolvers: closed forms for 2×2 and 3×3, LAPACK otherwise.

One concern: eigenvalues (descending) and unit eigenvectors of many small symmetric
matrices at once, given as one ``(n, d, d)`` array (:func:`sym_eig_desc`) or entry by entry
as ``(n,)`` arrays (:func:`sym_eig_columns`, the form the fast paths keep their statistics
in: numpy is slow on short trailing axes, fast on long contiguous ones).
"""

from __future__ import annotations

import numpy as np

#: relative eigenvalue gap (to the trace) above which the closed-form eigenvectors are
#: accurate and the general path would not see a repeated eigenvalue
FAST_GAP_RTOL = 1e-5


def sym_eig_desc(C):
    """Eigen-decomposition of a batch of symmetric matrices, eigenvalues descending.

    Closed form (vectorized) for ``d = 2`` and ``d = 3``, :func:`numpy.linalg.eigh`
    otherwise. Returns ``(lam, E, reliable)``: ``E[:, :, k]`` is the unit eigenvector of
    ``lam[:, k]``; ``reliable`` is False where two eigenvalues are closer than
    ``FAST_GAP_RTOL`` × trace (the closed form is then inaccurate, and those samples belong
    to the general path anyway).
    """
    C = np.asarray(C, dtype=np.float64)
    n, d, _ = C.shape
    entries = {(i, j): C[:, i, j] for i in range(d) for j in range(i, d)}
    lam, axes, reliable, _, _ = sym_eig_columns(entries, d)
    return np.stack(lam, axis=1), frame_array(axes, n, d), reliable


def frame_array(axes, n, d):
    """``(n, d, d)`` float64 frames from ``axes[k][i]`` = component ``i`` of axis ``k``."""
    E = np.empty((n, d, d))
    for k in range(d):
        for i in range(d):
            E[:, i, k] = axes[k][i]
    return E


def sym_eig_columns(S, d, eig3=None):
    """Eigenvalues (descending) and unit eigenvectors of symmetric ``d×d`` matrices given
    entry by entry (``S[i, j]``, ``i ≤ j``, ``(n,)`` float64 arrays).

    Returns ``(lam, axes, reliable, trace, gap)``: ``lam[k]`` and ``axes[k][i]`` (component
    ``i`` of eigenvector ``k``) are ``(n,)`` arrays; for ``d`` = 2 and 3 the frame has
    determinant +1. ``trace`` sums the non-negative eigenvalues, ``gap`` is the smallest
    gap between neighbours (the trace for ``d = 1``). ``eig3``: another implementation of
    the 3×3 closed form (the same formulas compiled), called as ``eig3(S)``.
    """
    if d == 3:
        lam, axes = (_eig3 if eig3 is None else eig3)(S)
        _refine_close_eigenvalues(S, lam, axes)
    elif d == 2:
        lam, axes = _eig2(S)
    else:
        n = S[0, 0].shape[0]
        C = np.empty((n, d, d))
        for (i, j), v in S.items():
            C[:, i, j] = C[:, j, i] = v
        # LAPACK refuses a batch with a non-finite matrix (absent points make NaN entries):
        # those samples get NaN eigenvalues, which mark them unreliable
        finite = np.isfinite(C).all(axis=(1, 2))
        w, V = np.linalg.eigh(np.where(finite[:, None, None], C, 0.0))
        w = np.where(finite[:, None], w, np.nan)
        lam = [w[:, k] for k in range(d - 1, -1, -1)]
        axes = [[V[:, i, k] for i in range(d)] for k in range(d - 1, -1, -1)]
    trace = np.maximum(lam[0], 0.0)
    gap = lam[0] - lam[1] if d > 1 else trace
    for k in range(1, d):
        trace = trace + np.maximum(lam[k], 0.0)
        if k < d - 1:
            gap = np.minimum(gap, lam[k] - lam[k + 1])
    with np.errstate(invalid="ignore"):
        reliable = (trace > 0) & np.isfinite(trace) & (gap > FAST_GAP_RTOL * trace)
    return lam, axes, reliable, trace, gap


#: relative eigenvalue gap (to the trace) below which the 3×3 closed form is replaced by
#: LAPACK: the trigonometric solution loses about ``eps / gap²`` in the eigenvectors (a gap
#: of 3e-5 gave frames off by 6e-9), LAPACK about ``eps / gap``
CLOSED_FORM_GAP_RTOL = 1e-2


def _refine_close_eigenvalues(S, lam, axes):
    """Recompute, in place, the samples whose eigenvalues are close with ``numpy.linalg.eigh``
    (a few percent of generic data), keeping the closed form's conventions: eigenvalues
    descending and determinant +1."""
    trace = np.maximum(lam[0], 0.0) + np.maximum(lam[1], 0.0) + np.maximum(lam[2], 0.0)
    with np.errstate(invalid="ignore"):
        close = np.minimum(lam[0] - lam[1], lam[1] - lam[2]) <= CLOSED_FORM_GAP_RTOL * trace
    idx = np.flatnonzero(close & np.isfinite(trace))
    if not idx.size:
        return
    C = np.empty((idx.size, 3, 3))
    for (i, j), v in S.items():
        C[:, i, j] = C[:, j, i] = v[idx]
    w, V = np.linalg.eigh(C)
    w, V = w[:, ::-1], V[:, :, ::-1]  # descending
    V[:, :, 2] *= np.sign(np.linalg.det(V))[:, None]  # det +1 (eigh's signs are arbitrary)
    for k in range(3):
        lam[k][idx] = w[:, k]
        for i in range(3):
            axes[k][i][idx] = V[:, i, k]


def _eig2(S):
    a, b, c = S[0, 0], S[0, 1], S[1, 1]
    mid = 0.5 * (a + c)
    rad = np.hypot(0.5 * (a - c), b)
    l1, l2 = mid + rad, mid - rad
    # eigenvector of the larger eigenvalue from whichever row of (C - λ1 I) is larger
    u, w = l1 - a, l1 - c
    first = u * u >= w * w  # rows (b, l1 − a) and (l1 − c, b): compare their norms
    v0, v1 = np.where(first, b, w), np.where(first, u, b)
    inv = 1.0 / np.maximum(np.sqrt(v0 * v0 + v1 * v1), 1e-300)
    v0, v1 = v0 * inv, v1 * inv
    return [l1, l2], [[v0, v1], [-v1, v0]]


def _eig3(S):
    # trigonometric solution of the characteristic cubic; the eigenvectors of the largest
    # and smallest eigenvalues are columns of adj(C − λI) = (λ_j − λ)(λ_k − λ) e e^T
    # (the one with the largest diagonal entry), the middle one their cross product
    a, b, c = S[0, 0], S[1, 1], S[2, 2]
    x, y, z = S[0, 1], S[0, 2], S[1, 2]
    q = (a + b + c) * (1.0 / 3.0)
    a0, b0, c0 = a - q, b - q, c - q
    xx, yy, zz = x * x, y * y, z * z
    p = np.sqrt((a0 * a0 + b0 * b0 + c0 * c0 + 2.0 * (xx + yy + zz)) * (1.0 / 6.0))
    det = a0 * (b0 * c0 - zz) - x * (x * c0 - z * y) + y * (x * z - b0 * y)
    safe_p = np.where(p > 0, p, 1.0)
    r = np.clip(det / (2.0 * safe_p * safe_p * safe_p), -1.0, 1.0)
    cosines = np.cos(np.arccos(r) * (1.0 / 3.0) + np.array([[0.0], [2.0 * np.pi / 3.0]]))
    outer = q + 2.0 * p * cosines                              # (2, n): largest, smallest
    l1, l3 = outer[0], outer[1]
    l2 = 3.0 * q - l1 - l3
    A0, A1, A2 = a - outer, b - outer, c - outer               # diagonal of C − λI
    d00, d11, d22 = A1 * A2 - zz, A0 * A2 - yy, A0 * A1 - xx   # adjugate, diagonal
    o01, o02, o12 = y * z - x * A2, x * z - y * A1, x * y - A0 * z
    t1 = d11 > d00
    t2 = d22 > np.maximum(d00, d11)
    v0 = np.where(t2, o02, np.where(t1, o01, d00))
    v1 = np.where(t2, o12, np.where(t1, d11, o01))
    v2 = np.where(t2, d22, np.where(t1, o12, o02))
    inv = 1.0 / np.maximum(np.sqrt(v0 * v0 + v1 * v1 + v2 * v2), 1e-300)
    v0, v1, v2 = v0 * inv, v1 * inv, v2 * inv
    e1 = [v0[0], v1[0], v2[0]]
    e3 = [v0[1], v1[1], v2[1]]
    dot = e3[0] * e1[0] + e3[1] * e1[1] + e3[2] * e1[2]
    e3 = [e3[k] - dot * e1[k] for k in range(3)]
    inv = 1.0 / np.maximum(np.sqrt(e3[0] * e3[0] + e3[1] * e3[1] + e3[2] * e3[2]), 1e-300)
    e3 = [v * inv for v in e3]
    e2 = _cross(e3, e1)  # det [e1, e2, e3] = +1
    return [l1, l2, l3], [e1, e2, e3]


def _cross(u, v):
    return [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]
