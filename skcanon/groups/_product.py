"""Direct products of groups whose actions commute (e.g. SE(3) × S_n on point clouds)."""

from __future__ import annotations

import math

import numpy as np

from ._base import Group, rng
from ._continuous import EuclideanGroup, OrthogonalGroup, SimilarityGroup
from ._finite import CyclicGroup, DihedralGroup, _PlanarFiniteGroup


class ProductGroup(Group):
    """Direct product ``G_1 × … × G_k`` acting by ``g·x = g_1·(g_2·(… g_k·x))``.

    Elements are tuples of per-factor element batches. The factors' actions must commute
    (true for rotations/rigid motions with permutations of points, and for rotations with
    scaling); the group law is then component-wise. Factors that do not commute, or that
    repeat each other's motions, are refused with the group to use instead: two factors
    that rotate or reflect, translate, rescale or permute the same points (except cyclic
    groups ``C_m × C_n``, whose planar rotations commute), translations with rotations about
    the origin or with scalings, and factors acting in different dimensions.

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


#: motions of the same points that two factors may not share: two rotation groups, two
#: translation groups, ... either do not commute or repeat each other's motions
_MOTIONS = (("rotates", "rotate or reflect"), ("translates", "translate"), ("rescales", "rescale"),
            ("permutes", "permute"))


def _check_commuting(factors):
    """Refuse factor pairs whose actions do not commute or repeat each other (the component-wise
    law or the order would be wrong), naming a group that has the motions wanted."""
    name = "x".join(f.name for f in factors)
    for i, a in enumerate(factors):
        for b in factors[i + 1:]:
            clash = _clash(a, b)
            if clash is None:
                continue
            suggested = _suggestion(factors)
            hint = None if suggested is None else "x".join(g.name for g in suggested)
            extra = _extra_motions(suggested, factors) if suggested else []
            if hint and extra:
                # no supported group has exactly these motions: name the smallest that has
                # them and say what it adds (it would make the model invariant to more)
                advice = (f"No supported group has exactly these motions; the smallest that contains "
                          f"them is {hint!r}, which also {' and '.join(extra)} the points.")
            elif hint:
                advice = f"Use {hint!r} instead."
            elif a.d is not None and b.d is not None and a.d != b.d:
                advice = "Use factors that act in one dimension."
            else:
                advice = "Use one group that has the motions of both factors."
            raise ValueError(f"group {name!r} is refused: {clash[0]}. {advice}")
    if not frozenset.intersection(*(frozenset(f.layout_kinds) for f in factors)):
        kinds = ", ".join(f"{f.name!r} on {sorted(f.layout_kinds)}" for f in factors)
        raise ValueError(f"group {name!r} is refused: its factors act on no common kind of data ({kinds}).")


def _clash(a, b):
    """Why factors ``a`` and ``b`` cannot form a direct product, and a group with the motions of
    both (None when there is none to name); None when they can."""
    if a.d is not None and b.d is not None and a.d != b.d:
        return (f"its factors {a.name!r} and {b.name!r} act in {a.d} and {b.d} dimensions, but all factors "
                "of a product act on the same points"), None
    shared = [verb for cap, verb in _MOTIONS if getattr(a, cap) and getattr(b, cap)]
    if shared:
        if isinstance(a, CyclicGroup) and isinstance(b, CyclicGroup):
            return None  # rotations of the plane by fixed angles commute (C2xC4 on images)
        for big, small in ((a, b), (b, a)):
            if _contains(big, small):
                what = (f"the factor {a.name!r} appears twice" if a.name == b.name
                        else f"{big.name!r} already has every motion of {small.name!r}")
                return (what + " (a second factor adds no motion, and composing the two factor by factor "
                        "is wrong where they do not commute)"), big
        return (f"{a.name!r} and {b.name!r} both {shared[0]} the same points and their motions do not "
                "commute, so composing elements factor by factor does not match the action"), _join(a, b)
    for t, o in ((a, b), (b, a)):
        if t.translates and (o.rotates or o.rescales):
            motion = "rotations about the origin" if o.rotates else "scalings"
            return (f"translations ({t.name!r}) and {motion} ({o.name!r}) do not commute, so composing "
                    "elements factor by factor does not match the action"), _join(a, b)
    return None


def _contains(a, b):
    """True when every motion of ``b`` is one of ``a``'s (on points of the same dimension)."""
    if type(a) is type(b) and a.name == b.name:
        return True
    if any(getattr(b, cap) and not getattr(a, cap) for cap, _ in _MOTIONS):
        return False
    if b.rotates and a.special and not b.special:
        return False
    if not a.is_finite:
        return True  # SO3 ⊃ O, SE3 ⊃ T3, Sim3 ⊃ scaling, S_n ⊃ any permutations
    if not (b.is_finite and b.rotates):
        return False
    try:  # finite rotation groups: compare their matrices (C2 ⊂ C4 ⊂ D4, tetrahedral ⊂ O)
        A, B = np.asarray(a.matrices(a.elements())), np.asarray(b.matrices(b.elements()))
    except TypeError:
        return False
    return bool(np.all(np.abs(B[:, None] - A[None]).max(axis=(2, 3)).min(axis=1) < 1e-9))


def _join(a, b):
    """A group with the motions of both ``a`` and ``b`` (rotations, translations, scalings of
    the same points), for the error's advice; None when there is none to name."""
    if isinstance(a, _PlanarFiniteGroup) and isinstance(b, _PlanarFiniteGroup):
        n = math.lcm(a.n, b.n)
        return CyclicGroup(n) if a.special and b.special else DihedralGroup(n)
    d = a.d if a.d is not None else b.d
    if d is None or a.permutes or b.permutes:
        return None
    rotating = [f for f in (a, b) if f.rotates]
    special = bool(rotating) and all(f.special for f in rotating)
    if a.rescales or b.rescales:
        return SimilarityGroup(d, special=special)
    if a.translates or b.translates:
        return EuclideanGroup(d, special=special)
    return OrthogonalGroup(d, special=special)


def _extra_motions(suggested, factors):
    """The motions of the ``suggested`` factors that none of ``factors`` has (rotations and
    reflections of a similarity group suggested for translations × scalings)."""
    third = {"rotate or reflect": "rotates or reflects", "translate": "translates", "rescale": "rescales",
             "permute": "permutes"}
    extra = [third[verb] for cap, verb in _MOTIONS
             if any(getattr(g, cap) for g in suggested) and not any(getattr(f, cap) for f in factors)]
    rotating = [f for f in factors if f.rotates]
    if rotating and all(f.special for f in rotating) and any(g.rotates and not g.special for g in suggested):
        extra.append("reflects")
    return extra


def _suggestion(factors):
    """The factors of the product with every clashing pair replaced by the group holding both
    (T3xSO3xS_n → SE3, S_n); None when some pair has no such group."""
    fs = list(factors)
    for _ in range(len(fs)):
        found = next(((i, j, c) for i in range(len(fs)) for j in range(i + 1, len(fs))
                      if (c := _clash(fs[i], fs[j])) is not None), None)
        if found is None:
            break
        i, j, (_, joined) = found
        if joined is None:
            return None
        fs[i] = joined
        del fs[j]
    return fs
