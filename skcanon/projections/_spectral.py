"""Spectral invariants of C_n regular-representation fibres (cyclic shifts of each
channel): group pooling, power spectrum, bispectrum."""

from __future__ import annotations

import numpy as np

from ._base import Projection, check_underflow, fits, overflow_error


class _Spectral(Projection):
    family = "spectral"

    @classmethod
    def supports(cls, group, layout):
        # a fibre layout is the regular representation of C_n, acted on by cyclic shifts
        return getattr(layout, "kind", None) == "fibre" and fits(group, layout)


class GroupPool(_Spectral):
    """Mean and max of every channel over its fibre: ``(mean_g z_c(g), max_g z_c(g))``.

    ``2·C`` features, cost ``O(C·n)``. Lossless only for ``n = 1``.
    """

    name = "group_pool"

    def transform(self, P):
        with np.errstate(over="ignore"):
            mean = P.mean(axis=2)
        if np.isinf(mean).any():
            # the sum overflowed (values near the dtype's largest), the mean fits: average
            # values scaled down by a power of two (exact) and scale back
            e = int(P.shape[2]).bit_length()
            mean = np.ldexp(np.ldexp(P, -e).mean(axis=2), e).astype(P.dtype, copy=False)
        return np.stack([mean, P.max(axis=2)], axis=2).reshape(P.shape[0], -1)

    def feature_names(self):
        return [f"pool_{op}_c{c}" for c in range(self.sample_shape_[0]) for op in ("mean", "max")]

    @property
    def lossless(self):
        return self.sample_shape_[1] == 1


class PowerSpectrum(_Spectral):
    """Power spectrum of every channel: ``|F_c(k)|²``, ``k = 0..⌊n/2⌋``, with
    ``F_c(k) = Σ_j z_c(j) e^{−2πijk/n}``.

    ``C·(⌊n/2⌋+1)`` features, cost ``O(C·n log n)``. Loses the phases (and the relative
    shifts between channels) and the overall sign (``x`` and ``−x`` share it): never
    lossless, for any ``n``.
    """

    name = "power_spectrum"

    def transform(self, P):
        with np.errstate(over="ignore", invalid="ignore"):
            F = np.fft.rfft(P, axis=2)
            out = (F.real**2 + F.imag**2).astype(P.dtype, copy=False).reshape(P.shape[0], -1)
        if not np.isfinite(out).all():  # squares beyond the dtype: no finite features exist
            raise overflow_error(self.name, P.dtype, np.abs(P).max(), 2,
                                 what="power spectrum entries (squared Fourier magnitudes)",
                                 alternative=None)
        check_underflow(self.name, P, 2, what="power spectrum entries (squared Fourier magnitudes)")
        return out

    def feature_names(self):
        C, n = self.sample_shape_
        return [f"power_spectrum_c{c}_k{k}" for c in range(C) for k in range(n // 2 + 1)]

    @property
    def lossless(self):
        return False


class Bispectrum(_Spectral):
    """Reference-channel bispectrum: ``B_c(k) = F_0(1) · F_c(k) · conj(F_c(k+1))``
    (indices mod ``n``), real and imaginary parts, plus the channel means ``F_c(0)/n``.

    A shift by ``s`` multiplies ``F_c(k)`` by ``ω^{−ks}``, so the phases cancel
    (``1 + k − (k+1) = 0``): exactly invariant. Channel 0's first harmonic is the common
    phase reference, so the relative shifts between channels are kept. Lossless for generic
    signals: fixing the phase of ``F_0(1)``, ``|F_0(1)|`` comes from ``B_0(0)`` and the
    mean, and ``F_c(k+1)`` from ``B_c(k)`` recursively whenever no ``F_c(k)`` vanishes.

    Only what real signals leave free is emitted: ``F_c(n−k) = conj(F_c(k))`` makes
    ``B_c(n−1−k) = B_c(k)``, so ``k < ⌈n/2⌉`` suffices; imaginary parts that vanish
    identically (``B_0(0) = |F_0(1)|²·F_0(0)``, and every ``B`` when ``n ≤ 2``) are dropped,
    so no constant column reaches a downstream scaler. ``C·(2⌈n/2⌉+1) − 1`` features
    (``2C`` when ``n ≤ 2``), cost ``O(C·n log n)``. Cubic in the input: scale it to
    about unit size.
    """

    name = "bispectrum"

    def _kept_imaginary(self):
        """``(C, ⌈n/2⌉)`` mask of the imaginary parts that are not identically zero."""
        C, n = self.sample_shape_
        keep = np.full((C, (n + 1) // 2), n > 2)
        keep[0, 0] = False
        return keep

    def transform(self, P):
        n_s, C, n = P.shape
        half = (n + 1) // 2
        keep = self._kept_imaginary()
        with np.errstate(over="ignore", invalid="ignore"):
            F = np.fft.fft(P, axis=2)
            ref = F[:, 0:1, 1 % n][:, :, None]
            B = ref * F[:, :, :half] * np.conj(np.roll(F, -1, axis=2)[:, :, :half])
            out = np.empty((n_s, C, 1 + half + half), dtype=P.dtype)
            out[:, :, 0] = P.mean(axis=2)
            out[:, :, 1:1 + half] = B.real
            out[:, :, 1 + half:] = B.imag
        columns = np.concatenate([np.ones((C, 1 + half), bool), keep], axis=1)
        out = out[:, columns]
        if not np.isfinite(out).all():  # cubic products beyond the dtype: no finite features exist
            raise overflow_error(self.name, P.dtype, np.abs(P).max(), 3,
                                 what="bispectrum entries (products of three Fourier coefficients)",
                                 alternative=None)
        check_underflow(self.name, P, 3, what="bispectrum entries (products of three Fourier coefficients)")
        return out

    def feature_names(self):
        C, n = self.sample_shape_
        keep = self._kept_imaginary()
        half = (n + 1) // 2
        return [
            name
            for c in range(C)
            for name in [f"bispectrum_c{c}_mean"]
            + [f"bispectrum_c{c}_k{k}_re" for k in range(half)]
            + [f"bispectrum_c{c}_k{k}_im" for k in range(half) if keep[c, k]]
        ]

    @property
    def lossless(self):
        return True
