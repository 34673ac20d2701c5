"""Moments: (multi-)symmetric power sums and random moments Σ σ(a·x + b) (S_n)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from . import _base
from ._base import Projection, check_underflow, pure_permutation

#: the default degree is the largest giving at most this many power sums
MAX_DEFAULT_POWER_SUMS = 1000
#: most power sums an explicit ``degree`` may ask for (as ``gram_minors``' 20,000 minors)
MAX_POWER_SUMS = 20000


def _n_monomials(w, degree):
    return math.comb(w + degree, w) - 1


def _exponents(w, degree):
    """Multi-indices α with 1 ≤ |α| ≤ degree, graded then lexicographic."""
    out = []
    for total in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(w), total):
            alpha = np.bincount(combo, minlength=w)
            out.append(alpha)
    # combinations_with_replacement gives each multiset once
    return np.asarray(out, dtype=np.int64).reshape(-1, w)


class PowerSums(Projection):
    """Mean power sums ``p_α(x) = (1/m) Σ_i Π_c x_{ic}^{α_c}`` for ``1 ≤ |α| ≤ degree``.

    One channel: ``p_k = mean_i x_i^k``, ``k = 1..degree``. Several channels: all
    multisymmetric power sums (monomials) of total degree ≤ ``degree``,
    ``C(w+degree, w) − 1`` features. Lossless when ``degree ≥ m`` (the power sums of
    degree ≤ m generate the multisymmetric functions and separate multisets); the default
    ``degree=None`` takes ``m`` when that gives at most 1000 features and the largest
    smaller degree that does otherwise (then ``lossless_`` is False); an explicit
    ``degree`` giving more than 20,000 power sums is refused. Cost
    ``O(m·w·degree + m·K)``. High degrees are ill-conditioned: scale inputs to about unit size.
    """

    name = "power_sums"
    family = "moments"
    options = ("degree",)

    @classmethod
    def supports(cls, group, layout):
        return pure_permutation(group, layout)

    def fit(self, P, y=None, random_state=None):
        super().fit(P)
        m, w = self.sample_shape_
        degree = self.degree
        if degree is None:
            degree = m
            while degree > 1 and _n_monomials(w, degree) > MAX_DEFAULT_POWER_SUMS:
                degree -= 1
        n_sums = _n_monomials(w, degree)
        if n_sums > MAX_POWER_SUMS:
            # refused before the multi-indices are enumerated (one Python step each)
            largest = 1
            while _n_monomials(w, largest + 1) <= MAX_POWER_SUMS:
                largest += 1
            raise ValueError(
                f"degree={degree} would give C({w}+{degree}, {w}) - 1 = {n_sums} power sums of {w} "
                f"channel(s) (at most {MAX_POWER_SUMS}); use degree <= {largest}, or "
                "method='random_moments' for many channels."
            )
        self.degree_ = int(degree)
        self.exponents_ = _exponents(w, self.degree_)
        return self

    def transform(self, P):
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._power_sums(P)
        if not np.isfinite(out).all():
            raise ValueError(
                f"X has values up to {float(np.abs(P).max()):.3g}: its power sums up to degree "
                f"{self.degree_} overflow {P.dtype.name} (largest {float(np.finfo(P.dtype).max):.3g}), "
                "so method='power_sums' cannot return finite features; divide X by a constant "
                "(a power sum of degree k scales with its k-th power) or lower degree."
            )
        # a sample whose largest value, raised to the degree, is below the dtype's smallest
        # normal number has its higher sums rounded to 0 or to a few bits
        check_underflow("power_sums", P, self.degree_, what=f"power sums up to degree {self.degree_}",
                        hint=" or lower degree")
        return out

    def _power_sums(self, P):
        n, m, w = P.shape
        if w == 1:
            k = np.arange(1, self.degree_ + 1)
            return (P[:, :, 0, None] ** k.astype(P.dtype)).mean(axis=1)
        powers = P[..., None] ** np.arange(self.degree_ + 1).astype(P.dtype)  # (n, m, w, deg+1)
        out = np.empty((n, len(self.exponents_)), dtype=P.dtype)
        chunk = max(1, 2**22 // max(1, n * m * w))
        for start in range(0, len(self.exponents_), chunk):
            alpha = self.exponents_[start:start + chunk]                  # (K, w)
            terms = powers[:, :, np.arange(w)[None, :], alpha]             # (n, m, K, w)
            out[:, start:start + len(alpha)] = terms.prod(axis=-1).mean(axis=1)
        return out

    def feature_names(self):
        if self.sample_shape_[1] == 1:
            return [f"power_sum_{k}" for k in range(1, self.degree_ + 1)]
        return ["power_sum_" + "_".join(str(a) for a in alpha) for alpha in self.exponents_]

    @property
    def lossless(self):
        return self.degree_ >= self.sample_shape_[0]


class RandomMoments(Projection):
    """Random moments ``f_j(x) = (1/m) Σ_i tanh(a_j·x_i + b_j)``, ``j = 1..D``.

    ``a_j`` Gaussian, scaled by the per-channel spread of the training data, ``b_j``
    Gaussian. For an analytic non-polynomial activation and generic parameters,
    ``D ≥ 2mw+1`` moments separate all multisets of ``m`` points in ``R^w``
    (Amir et al., NeurIPS 2023, finite witness theorem); default ``D = 2mw+1``,
    ``lossless_`` reports ``D ≥ 2mw+1``. Smooth (unlike sorting). Cost ``O(m·w·D)``.
    """

    name = "random_moments"
    family = "moments"
    options = ("n_components",)

    @classmethod
    def supports(cls, group, layout):
        return pure_permutation(group, layout)

    def fit(self, P, y=None, random_state=None):
        super().fit(P)
        m, w = self.sample_shape_
        self.n_components_ = int(self.n_components or 2 * m * w + 1)
        _base.check_parameter_bytes(self.name, (w, self.n_components_))
        flat = np.asarray(P, dtype=np.float64).reshape(-1, w)
        # spread and centre in units of a power of two near each channel's largest value:
        # squares overflow beyond about 1e154 and underflow below 1e-154, which made every
        # feature constant at such scales (a spread of inf or 0)
        largest = np.abs(flat).max(axis=0)
        unit = np.exp2(np.floor(np.log2(np.where(largest > 0, largest, 1.0))))
        spread = (flat / unit).std(axis=0) * unit
        centre = (flat / unit).mean(axis=0) * unit
        spread = np.where(spread > 0, spread, 1.0)
        self.A_ = random_state.standard_normal((w, self.n_components_)) / (spread[:, None] * np.sqrt(w))
        self.b_ = random_state.standard_normal(self.n_components_) - centre @ self.A_
        return self

    def transform(self, P):
        A, b = self.A_.astype(P.dtype, copy=False), self.b_.astype(P.dtype, copy=False)
        F = np.empty((P.shape[0], self.n_components_), dtype=np.result_type(P.dtype, A.dtype))
        # a chunk of rows at a time: the pre-activations hold m·D values per sample (6 million
        # for 1,000 points in 3-D) against the D features kept
        step = max(1, _base.WORK_CHUNK_BYTES // max(1, P.shape[1] * self.n_components_ * F.itemsize))
        with np.errstate(over="ignore", invalid="ignore"):
            for start in range(0, P.shape[0], step):
                F[start:start + step] = np.tanh(np.matmul(P[start:start + step], A) + b).mean(axis=1)
        if not np.isfinite(F).all():  # a·x overflowed with both signs (inf − inf)
            raise ValueError(
                f"X has values up to {float(np.abs(P).max()):.3g}, far outside the spread seen in "
                f"fit: the random projections a·x overflow {P.dtype.name}, so "
                "method='random_moments' cannot return finite features; scale X as in fit."
            )
        return F

    def feature_names(self):
        return [f"random_moment_{j}" for j in range(self.n_components_)]

    @property
    def lossless(self):
        m, w = self.sample_shape_
        return self.n_components_ >= 2 * m * w + 1
