"""Per-axis sums of squares of the point coordinates of each sample.

One concern: the statistic that screens canonical forms for an axis of no extent
(:func:`skcanon._noise.noise_candidates`) — for each sample and each of the ``d`` axes, the
sum of the squares of every coordinate along that axis, over the given column blocks
(position and vector fields laid out point-major, ``d`` columns per point). Absent points
(NaN) count as zeros; an infinite coordinate gives a sum that is not finite (infinite, or
NaN on the numpy pass), which the screen keeps for the exact test.

Where the compiled kernels run (:mod:`~skcanon._kernels._numba`) this is one pass over the
rows with float64 sums and no temporary; the numpy pass squares a block in the input's
dtype and sums it with one matrix product. Their sums differ by rounding only; the screen
is followed by an exact test, so which pass ran never changes a canonical form.
"""

from __future__ import annotations

import numpy as np

from . import _numba

__all__ = ["axis_squares"]


def axis_squares(Q, slices, d):
    """``(ss, count)``: ``ss`` of shape ``(n, d)``, the sums of squares of ``Q[k]``'s
    coordinates along each axis over the column ``slices`` (each ``d`` columns per point),
    and ``count``, the number of coordinates summed per axis and sample."""
    n = Q.shape[0]
    blocks = [Q[..., sl].reshape(n, -1) for sl in slices]
    count = sum(b.shape[1] // d for b in blocks)
    kernels = _numba.kernels("squares", _build_kernels) if d in (2, 3) and _numba.wanted(0) else None
    if kernels is not None and Q.dtype in (np.float32, np.float64):
        ss = np.zeros((n, d))
        for block in blocks:
            kernels.add(block, d, ss)
        return ss, count
    return _numpy_squares(blocks, d), count


def _numpy_squares(blocks, d):
    total = _squares_by_product(blocks, d)
    gaps = np.flatnonzero(np.isnan(total).any(axis=1))
    if gaps.size:   # absent points (NaN rows) count as zeros
        # (an infinite coordinate still gives NaN here, times the selector's zeros: the
        # screen then keeps the sample for the exact test)
        total[gaps] = _squares_by_product([np.where(np.isnan(F[gaps]), 0, F[gaps]) for F in blocks], d)
    return total


def _squares_by_product(blocks, d):
    # per axis, one matrix product of the squared coordinates with a 0/1 selector (a
    # reduction over the short-strided point axis is several times slower)
    total = 0
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for F in blocks:
            selector = np.tile(np.eye(d, dtype=F.dtype), (F.shape[1] // d, 1))
            total = total + np.square(F) @ selector
    return total


def _add_squares(F, d, ss):
    n, w = F.shape
    for s in range(n):
        if d == 3:     # running sums the compiler keeps in registers
            a0 = a1 = a2 = 0.0
            for j in range(0, w, 3):
                x, y, z = np.float64(F[s, j]), np.float64(F[s, j + 1]), np.float64(F[s, j + 2])
                a0 += x * x
                a1 += y * y
                a2 += z * z
            if a0 == a0 and a1 == a1 and a2 == a2:
                ss[s, 0] += a0
                ss[s, 1] += a1
                ss[s, 2] += a2
                continue
        elif d == 2:
            a0 = a1 = 0.0
            for j in range(0, w, 2):
                x, y = np.float64(F[s, j]), np.float64(F[s, j + 1])
                a0 += x * x
                a1 += y * y
            if a0 == a0 and a1 == a1:
                ss[s, 0] += a0
                ss[s, 1] += a1
                continue
        # samples with absent points (NaN rows count as zeros)
        for j in range(0, w, d):
            for k in range(d):
                v = np.float64(F[s, j + k])   # numba's float() keeps float32
                if v == v:
                    ss[s, k] += v * v


class _Kernels:
    def __init__(self, jit):
        self.add = jit(_add_squares)


def _build_kernels(numba, jit, jit_exact):
    kernels = _Kernels(jit)
    for dt in (np.float32, np.float64):
        kernels.add(np.zeros((1, 3), dt), 3, np.zeros((1, 3)))
    return kernels
