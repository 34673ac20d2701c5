"""Pooling over points: sum, mean, max (S_n)."""

from __future__ import annotations

import numpy as np

from ._base import Projection, pure_permutation


class _Pooling(Projection):
    """Pool each per-point channel over the points.

    Formula ``f_c(x) = op_i x_{ic}`` with ``op`` = sum, mean or max; output one number
    per channel (``width`` features). Cost ``O(m·w)`` per sample. Lossless only for
    single-point sets: pooling forgets which values occur together and (sum/mean) all
    but one moment of each channel.
    """

    family = "pooling"

    @classmethod
    def supports(cls, group, layout):
        return pure_permutation(group, layout)

    def transform(self, P):
        return self._op(P)

    def feature_names(self):
        return [f"{self.name}_c{c}" for c in range(self.sample_shape_[1])]

    @property
    def lossless(self):
        return self.sample_shape_[0] == 1


class SumPooling(_Pooling):
    name = "sum"

    @staticmethod
    def _op(P):
        # einsum reduces the strided point axis several times faster than ``sum(axis=1)``
        return np.einsum("nmc->nc", P)


class MeanPooling(_Pooling):
    name = "mean"

    @staticmethod
    def _op(P):
        m = P.shape[1]
        with np.errstate(over="ignore", invalid="ignore"):
            S = np.einsum("nmc->nc", P)
        out = S / P.dtype.type(m)
        bad = ~np.isfinite(S)
        if bad.any() and m > 1:
            # the sum of finite values near the dtype's limit overflowed, their mean cannot
            # (|mean| <= max |x|): sum them scaled by 2**-k >= 1/m (exact) for those entries only
            rows = np.flatnonzero(bad.any(axis=1))
            k = int(np.ceil(np.log2(m)))
            with np.errstate(over="ignore", invalid="ignore"):
                T = np.einsum("nmc->nc", np.ldexp(P[rows], -k)) / P.dtype.type(m * 2.0 ** -k)
            out[rows] = np.where(bad[rows], T, out[rows])
        return out


class MaxPooling(_Pooling):
    name = "max"

    @staticmethod
    def _op(P):
        # pairwise halving on contiguous blocks: faster than a strided ``max(axis=1)``
        A = P
        while A.shape[1] > 1:
            half = A.shape[1] // 2
            M = np.maximum(A[:, :half], A[:, half:2 * half])
            A = M if A.shape[1] % 2 == 0 else np.concatenate([M, A[:, 2 * half:]], axis=1)
        return A[:, 0].copy()
