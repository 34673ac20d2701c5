"""Random invariant maps of finite groups (every element enumerated): Reynolds projection
and max filtering."""

from __future__ import annotations

import numpy as np

from ._base import (
    WORK_CHUNK_BYTES,
    Projection,
    act_each,
    element_batch,
    exact_orthogonal_action,
    finite_group_order,
    fits,
    is_points,
    permutes_only,
)


#: the stacked template orbits (``dim × |G| × n_components`` float64 entries) may take at
#: most this many bytes: beyond, ``fit`` refuses by name instead of failing to allocate
#: (max filtering of 3×64×64 images under D4 with the default 2·dim templates: 18 GiB)
MAX_TEMPLATE_BYTES = 2 << 30
#: ``method="auto"`` takes max filtering only where its default templates stay below this
#: (larger images, about 40×40 pixels under D4, take the canonical cross-section: each
#: sample would cost |G|·dim·2·dim products)
AUTO_TEMPLATE_BYTES = 256 << 20
#: ``transform`` computes the scores ``⟨g·x, t_j⟩`` in chunks of rows of at most this many
#: bytes (S_n on 7 points × 3 channels: 5,040 × 42 scores, 1.6 MiB per sample)
SCORE_CHUNK_BYTES = WORK_CHUNK_BYTES


def template_bytes(group, sample_shape, n_components):
    """Bytes of the template orbits of ``n_components`` templates for samples of
    ``sample_shape`` (``None`` where the group's order there is unknown)."""
    try:
        order = finite_group_order(group, sample_shape)
    except (TypeError, ValueError):
        return None
    return 8 * int(np.prod(sample_shape)) * int(order) * int(n_components)


class _FiniteGroupMap(Projection):
    """Maps built from the orbit ``{g⁻¹·t : g ∈ G}`` of random templates ``t``.

    For an orthogonal action ``⟨g·x, t⟩ = ⟨x, g⁻¹·t⟩``, so one matrix product of the flat
    sample with the stacked template orbits gives every ``⟨g·x, t_j⟩``.
    """

    family = "random invariant"
    options = ("n_components",)

    @classmethod
    def supports(cls, group, layout):
        # every finite group that acts on the layout; S_n on points too, whose elements are
        # enumerated for the number of points in the data (refused in fit beyond 7 points)
        if permutes_only(group):
            return is_points(layout)
        return group.is_finite and fits(group, layout)

    def _template_orbits(self, T):
        """``T`` (K, *sample_shape) → ``(dim, |G|·K)`` columns ``g⁻¹·t_j``, group-major."""
        inverses = self.group.inverse(element_batch(self.group, self.sample_shape_))
        order = finite_group_order(self.group, self.sample_shape_)
        cols = [act_each(self.group, self.group.take(inverses, i), T, self.layout).reshape(T.shape[0], -1)
                for i in range(order)]
        return np.concatenate(cols, axis=0).T, order

    def fit(self, P, y=None, random_state=None):
        super().fit(P)
        finite_group_order(self.group, self.sample_shape_)  # raises for unsupported groups
        self.dim_ = int(np.prod(self.sample_shape_))
        self.n_components_ = int(self.n_components or self._default_components())
        size = template_bytes(self.group, self.sample_shape_, self.n_components_)
        if size is not None and size > MAX_TEMPLATE_BYTES:
            raise ValueError(
                f"method={self.name!r} on samples of shape {self.sample_shape_} needs {size / 2**30:.1f} GiB "
                f"of template orbits ({self.dim_} values × the group's "
                f"{finite_group_order(self.group, self.sample_shape_)} elements × n_components="
                f"{self.n_components_}); at most {MAX_TEMPLATE_BYTES / 2**30:.0f} GiB. Fix: a smaller "
                "n_components (not lossless below 2·dim for max_filter), or method='canonical'.")
        T = random_state.standard_normal((self.n_components_,) + self.sample_shape_)
        T /= np.sqrt(self.dim_)
        self.exact_ = exact_orthogonal_action(self.group, self.layout, self.sample_shape_)
        self._build(T)
        return self

    def feature_names(self):
        return [f"{self.name}_{j}" for j in range(self.n_components_)]


class Reynolds(_FiniteGroupMap):
    """Linear Reynolds projection ``f(x) = A · (1/|G|) Σ_g ρ(g) x`` of a random Gaussian
    ``A`` (``n_components × dim``, default ``min(dim, 64)`` rows).

    The group average maps onto the fixed subspace of the representation, so this keeps
    only the invariant *linear* part of ``x`` (for C_n fibres: the channel means; for C4
    images: the image averaged over its four rotations). Never lossless for a non-trivial
    group; cheapest of the random maps: one ``dim × K`` product, ``A`` being averaged over
    the group once in ``fit``. Not offered for rotation groups on points (C_n, D_n on 2-D
    points, the polyhedral groups on 3-D points), whose fixed subspace holds no position.
    """

    name = "reynolds"

    @classmethod
    def supports(cls, group, layout):
        # rotations of points fix only the origin: the projection would be zero
        if group.rotates and is_points(layout):
            return False
        return super().supports(group, layout)

    def _default_components(self):
        return min(self.dim_, 64)

    def _build(self, T):
        W, order = self._template_orbits(T)
        self.W_ = W.reshape(self.dim_, order, self.n_components_).mean(axis=1)

    def transform(self, P):
        return P.reshape(P.shape[0], -1) @ self.W_.astype(P.dtype, copy=False)


class MaxFilter(_FiniteGroupMap):
    """Max filtering ``f_j(x) = max_g ⟨g·x, t_j⟩`` with random Gaussian templates ``t_j``.

    For a finite group acting orthogonally, ``n_components ≥ 2·dim`` generic templates
    separate all orbits (Cahill, Iverson, Mixon, "Max filtering"; Dym et al.); default
    ``2·dim``, ``lossless_`` reports ``n_components ≥ 2·dim`` and an exact action (image
    rotations by other than multiples of 90° interpolate, so C8 on images is only
    approximately invariant and never reported lossless). Lipschitz. Cost
    ``O(|G|·dim·K)`` per sample.
    """

    name = "max_filter"

    def _default_components(self):
        return 2 * self.dim_

    def _build(self, T):
        self.W_, self.order_ = self._template_orbits(T)

    def transform(self, P):
        flat = P.reshape(P.shape[0], -1)
        W = self.W_.astype(P.dtype, copy=False)
        out = np.empty((P.shape[0], self.n_components_), dtype=np.result_type(flat.dtype, W.dtype))
        # the scores of every element and template, a chunk of rows at a time (memory)
        step = max(1, SCORE_CHUNK_BYTES // (W.shape[1] * out.itemsize))
        for start in range(0, P.shape[0], step):
            S = flat[start:start + step] @ W
            out[start:start + step] = S.reshape(-1, self.order_, self.n_components_).max(axis=1)
        return out

    @property
    def lossless(self):
        return self.exact_ and self.n_components_ >= 2 * self.dim_
