"""Direct products of groups whose actions commute (e.g. SE(3) × S_n on point clouds)."""

from __future__ import annotations

import numpy as np

from ._base import Group, rng


class ProductGroup(Group):
    """Direct product ``G_1 × … × G_k`` acting by ``g·x = g_1·(g_2·(… g_k·x))``.

    Elements are tuples of per-factor element batches. The factors' actions must commute
    (true for rotations/rigid motions with permutations of points, and for rotations with
    scaling); the group law is then component-wise.

    Parameters
    ----------
    factors : sequence of Group
    """

    def __init__(self, factors):
        factors = tuple(factors)
        if len(factors) < 2:
            raise ValueError("ProductGroup needs at least two factors.")
        _check_commuting(factors)
        self._factors = factors
        self.name = "x".join(f.name for f in factors)
        self.exact_on_images = all(f.exact_on_images for f in factors)

    def exact_on_image_shape(self, shape):
        return all(f.exact_on_image_shape(shape) for f in self._factors)

    @property
    def factors(self):
        return self._factors

    # capabilities: what any factor does (the factors act on the same sample)
    @property
    def d(self):
        return next((f.d for f in self._factors if f.d is not None), None)

    rotates = property(lambda self: any(f.rotates for f in self._factors))
    special = property(lambda self: all(f.special for f in self._factors if f.rotates))
    translates = property(lambda self: any(f.translates for f in self._factors))
    rescales = property(lambda self: any(f.rescales for f in self._factors))
    permutes = property(lambda self: any(f.permutes for f in self._factors))

    @property
    def layout_kinds(self):
        return frozenset.intersection(*(frozenset(f.layout_kinds) for f in self._factors))

    @property
    def order(self):
        orders = [f.order for f in self._factors]
        return None if None in orders else int(np.prod(orders))

    def elements(self):
        """Every element (all factors finite): the Cartesian product, last factor fastest."""
        if not self.is_finite:
            return super().elements()
        grids = np.meshgrid(*[np.arange(f.order) for f in self._factors], indexing="ij")
        return tuple(f.elements()[idx.ravel()] for f, idx in zip(self._factors, grids))

    def order_on(self, n_points):
        orders = [f.order_on(n_points) for f in self._factors]
        return None if None in orders else int(np.prod(orders))

    def elements_on(self, n_points):
        """Every element on samples of ``n_points`` points (all factors finite there)."""
        if self.order_on(n_points) is None:
            return super().elements()
        per = [f.elements_on(n_points) for f in self._factors]
        grids = np.meshgrid(*[np.arange(len(e)) for e in per], indexing="ij")
        return tuple(e[idx.ravel()] for e, idx in zip(per, grids))

    def take(self, g, i):
        return tuple(f.take(gi, i) for f, gi in zip(self._factors, g))

    def repeat(self, e, n):
        return tuple(f.repeat(ei, n) for f, ei in zip(self._factors, e))

    def run_order(self):
        """Indices of the factors in the order their actions run on a sample
        (``g·x = g_1·(… g_k·x)``: the last factor acts first)."""
        return range(len(self._factors) - 1, -1, -1)

    def sample(self, n, random_state=None, n_points=None):
        rs = rng(random_state)
        return tuple(f.sample(n, rs, n_points=n_points) for f in self._factors)

    def identity(self, n, n_points=None):
        return tuple(f.identity(n, n_points=n_points) for f in self._factors)

    def inverse(self, g):
        return tuple(f.inverse(gi) for f, gi in zip(self._factors, g))

    def compose(self, g, h):
        return tuple(f.compose(gi, hi) for f, gi, hi in zip(self._factors, g, h))

    def elements_close(self, g, h, atol=1e-6):
        return np.logical_and.reduce(
            [f.elements_close(gi, hi, atol) for f, gi, hi in zip(self._factors, g, h)]
        )

    def check_layout(self, layout):
        for f in self._factors:
            f.check_layout(layout)

    def act(self, g, P, layout):
        for i in self.run_order():
            P = self._factors[i].act(g[i], P, layout)
        return P

    def __eq__(self, other):
        return isinstance(other, ProductGroup) and other._factors == self._factors

    def __hash__(self):
        return hash(self._factors)


def _check_commuting(factors):
    """Refuse factor pairs whose actions do not commute (the product law would be wrong)."""
    pairs = [(f, h) for i, f in enumerate(factors) for j, h in enumerate(factors) if i != j]
    if any(f.translates and h.rescales for f, h in pairs):
        raise ValueError(
            "translations and scalings do not commute, so they cannot be factors of a direct product; "
            "use the similarity group ('Sim3', or 'SSim3' for proper rotations) for rigid motions "
            "with scaling."
        )
    if any(f.translates and not f.rotates and h.rotates for f, h in pairs):
        raise ValueError(
            "translations and rotations about the origin do not commute, so they cannot be factors "
            "of a direct product; use the Euclidean group ('SE3' or 'E3')."
        )
