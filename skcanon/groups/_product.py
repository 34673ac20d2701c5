"""Direct products of groups whose actions commute (e.g. SE(3) × S_n on point clouds)."""

from __future__ import annotations

import functools
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
    the origin or with scalings, and factors acting in different dimensions. Two finite
    groups of the plane whose motions commute but together make one larger group
    (``D3xC2``: the half turn with the 6 motions of D3 makes the 12 of D6) are refused too:
    canonicalizing them one factor after the other is not invariant under those motions.
    So are cyclic factors whose turns make more than the largest factor has (``C2xC3``
    turns by the multiples of 60° of C6, ``C3xC4`` by those of 30° of C12: the ``lcm`` of
    their orders exceeds every factor's order); ``C2xC4``, ``C3xC6`` or ``C2xC3xC6``, whose
    turns are all the largest factor's, are accepted.

    Cyclic factors may share motions (``C2xC4``: the half turn of C2 is one of C4's, so
    ``(1, 0)`` and ``(0, 2)`` turn the points alike). :attr:`order` counts the distinct
    motions (4 for ``C2xC4``, ``lcm`` of the factors' orders), :meth:`elements` and
    :meth:`elements_on` list each once (the first tuple of each, last factor fastest) and
    :meth:`elements_close` compares elements by the motion they make.

    Parameters
    ----------
    factors : sequence of Group
    """

    def __init__(self, factors):
        factors = tuple(factors)
        if len(factors) < 2:
            raise ValueError("ProductGroup needs at least two factors.")
        for f in factors:
            if not isinstance(f, Group):
                raise TypeError(f"ProductGroup factors must be Group instances; got {f!r} "
                                f"({type(f).__name__}). Build a product from names with "
                                "get_group, e.g. get_group('OxS_n').")
        _check_commuting(factors)
        self._factors = factors
        self.name = "x".join(f.name for f in factors)
        self.exact_on_images = all(f.exact_on_images for f in factors)

    def __setstate__(self, state):
        # unpickling skips __init__: a product pickled before it was refused (C2xC3, whose
        # turns are C6's) would load and act with the wrong group law or order
        self.__dict__.update(state)
        _check_commuting(self._factors)

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

    def _shared(self):
        """Indices of the finite factors that rotate the same points (the cyclic factors of
        ``C_m × C_n``): the only factors whose elements can make the same motion."""
        shared = [i for i, f in enumerate(self._factors) if f.rotates and f.is_finite]
        return shared if len(shared) > 1 else []

    def _distinct(self, per):
        """Indices into each factor's batch in ``per``, one row per distinct element of the
        Cartesian product (last factor fastest; the first tuple of each shared motion)."""
        grids = [g.ravel() for g in np.meshgrid(*[np.arange(len(e)) for e in per], indexing="ij")]
        shared = self._shared()
        if shared:
            first = _first_of_each_motion(tuple(self._factors[i] for i in shared))
            keep = first[np.ravel_multi_index([grids[i] for i in shared],
                                              [self._factors[i].order for i in shared])]
            grids = [g[keep] for g in grids]
        return grids

    def _count(self, orders):
        """Number of distinct elements given each factor's number of elements (None: infinite);
        exact Python ints (numpy's int64 product wrapped for S_n on 20 points: ``C4xS_n``
        gave a negative order)."""
        if None in orders:
            return None
        shared = self._shared()
        n_shared = int(_first_of_each_motion(tuple(self._factors[i] for i in shared)).sum()) if shared else 1
        return n_shared * math.prod(int(o) for i, o in enumerate(orders) if i not in shared)

    @property
    def order(self):
        """Number of distinct elements: factors that share motions (``C2xC4``) count each once."""
        return self._count([f.order for f in self._factors])

    def elements(self):
        """Every element (all factors finite), each motion once: the Cartesian product, last
        factor fastest, keeping the first tuple of motions that cyclic factors share."""
        if not self.is_finite:
            return super().elements()
        per = [f.elements() for f in self._factors]
        return tuple(e[idx] for e, idx in zip(per, self._distinct(per)))

    def order_on(self, n_points):
        return self._count([f.order_on(n_points) for f in self._factors])

    def elements_on(self, n_points):
        """Every element on samples of ``n_points`` points (all factors finite there), each
        motion once (see :meth:`elements`)."""
        if self.order_on(n_points) is None:
            return super().elements()
        per = [f.elements_on(n_points) for f in self._factors]
        return tuple(e[idx] for e, idx in zip(per, self._distinct(per)))

    def take(self, g, i):
        return tuple(f.take(gi, i) for f, gi in zip(self._factors, g))

    def repeat(self, e, n):
        return tuple(f.repeat(ei, n) for f, ei in zip(self._factors, e))

    def run_order(self):
        """Indices of the factors in the order their actions run on a sample
        (``g·x = g_1·(… g_k·x)``: the last factor acts first)."""
        return range(len(self._factors) - 1, -1, -1)

    def _draw(self, n, random_state, n_points):
        rs = rng(random_state)
        return tuple(f.sample(n, rs, n_points=n_points) for f in self._factors)

    def _identity(self, n, n_points):
        return tuple(f.identity(n, n_points=n_points) for f in self._factors)

    def inverse(self, g):
        return tuple(f.inverse(gi) for f, gi in zip(self._factors, g))

    def compose(self, g, h):
        return tuple(f.compose(gi, hi) for f, gi, hi in zip(self._factors, g, h))

    def elements_close(self, g, h, atol=1e-6):
        """True where two batches make the same motion: factor by factor, except that the
        cyclic factors sharing motions are compared by the rotation they make together
        (``(1, 0)`` and ``(0, 2)`` of ``C2xC4`` are one element)."""
        shared = self._shared()
        close = [f.elements_close(gi, hi, atol)
                 for i, (f, gi, hi) in enumerate(zip(self._factors, g, h)) if i not in shared]
        if shared:
            sub = [self._factors[i] for i in shared]
            Rg = _joint_matrices(sub, [g[i] for i in shared])
            Rh = _joint_matrices(sub, [h[i] for i in shared])
            close.append(np.abs(Rg - Rh).max(axis=(1, 2)) <= atol)
        return np.logical_and.reduce(close)

    def acts_on(self, layout):
        """True when every factor acts on ``layout`` (by kind; fibres: of the size each cyclic
        factor needs, so only ``C_n × C_n`` acts on fibres, those of size ``n``)."""
        return all(f.acts_on(layout) for f in self._factors)

    def check_layout(self, layout):
        on_fibres = getattr(layout, "kind", None) == "fibre" and "fibre" in self.layout_kinds
        if on_fibres and not self.acts_on(layout):
            # C2xC4 on FibreLayout(4) passed here and failed in act ("C2 needs fibre_size=2")
            sizes = sorted({f.n for f in self._factors if isinstance(f, CyclicGroup)})
            if len(sizes) == 1:
                raise ValueError(
                    f"group {self.name!r} acts on regular-representation fibres of size {sizes[0]}, but the "
                    f"layout has fibre_size={layout.fibre_size}; use FibreLayout({sizes[0]}).")
            needs = ", ".join(f"{f.name!r} needs fibre_size={f.n}" for f in self._factors
                              if isinstance(f, CyclicGroup))
            n = math.lcm(*sizes) if sizes else None
            use = f" Its motions are those of 'C{n}': use group 'C{n}' on FibreLayout({n})." if n else ""
            raise ValueError(
                f"group {self.name!r} cannot act on {layout!r}: a cyclic factor C_m acts on "
                f"regular-representation fibres of size m only ({needs}), so a product acts on fibres only "
                f"when all its factors are the same C_n.{use}")
        for f in self._factors:
            f.check_layout(layout)

    def check_elements(self, g, P, name="g"):
        """A tuple of one batch of elements per factor, each checked by its factor."""
        if not isinstance(g, (tuple, list)) or len(g) != len(self._factors):
            raise ValueError(f"{name} must be a tuple of {len(self._factors)} element batches, one per factor of "
                             f"{self.name} ({', '.join(f.name for f in self._factors)}); got {type(g).__name__}.")
        return tuple(f.check_elements(gi, P, f"{name}[{i}]") for i, (f, gi) in enumerate(zip(self._factors, g)))

    def act(self, g, P, layout):
        for i in self.run_order():
            P = self._factors[i].act(g[i], P, layout)
        return P

    def __eq__(self, other):
        return isinstance(other, ProductGroup) and other._factors == self._factors

    def __hash__(self):
        return hash(self._factors)


def _joint_matrices(factors, g):
    """The rotation made by elements ``g`` (one batch per factor) of finite rotation groups
    acting on the same points, ``(n, d, d)`` (the first factor's applied last)."""
    R = None
    for f, gi in zip(factors, g):
        M = np.asarray(f.matrices(np.asarray(gi)), dtype=np.float64)
        R = M if R is None else R @ M
    return R


@functools.lru_cache(maxsize=64)
def _first_of_each_motion(factors):
    """For finite rotation groups acting on the same points (commuting cyclic groups), a mask
    over their Cartesian product (last factor fastest) that keeps the first tuple of each
    distinct rotation: ``C2xC4`` keeps ``(0, k)`` for ``k < 4``; ``C1xC3`` keeps all 3."""
    grids = np.meshgrid(*[np.arange(f.order) for f in factors], indexing="ij")
    R = _joint_matrices(factors, [f.elements()[idx.ravel()] for f, idx in zip(factors, grids)])
    # the entries are cosines and sines of rational multiples of 2π, equal up to rounding
    # where the motions agree; + 0.0 makes -0.0 and 0.0 one key
    keys = np.round(R.reshape(len(R), -1), 6) + 0.0
    _, first = np.unique(keys, axis=0, return_index=True)
    keep = np.zeros(len(R), dtype=bool)
    keep[first] = True
    keep.flags.writeable = False
    return keep


#: motions of the same points that two factors may not share: two rotation groups, two
#: translation groups, ... either do not commute or repeat each other's motions
_MOTIONS = (("rotates", "rotate or reflect"), ("translates", "translate"), ("rescales", "rescale"),
            ("permutes", "permute"))


def _check_commuting(factors):
    """Refuse factor pairs whose actions do not commute or repeat each other (the component-wise
    law or the order would be wrong), or that commute but make one larger group of the plane
    together (D3xC2 is D6), naming a group that has the motions wanted."""
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
    cyclic = [f for f in factors if isinstance(f, CyclicGroup)]
    n = math.lcm(*(f.n for f in cyclic)) if cyclic else 1
    if n > max((f.n for f in cyclic), default=1):
        # C2xC3: the turns commute and the law is right, but they are the 6 turns of C6, and
        # canonicalizing C2 then C3 (or C3 then C2) is not invariant under them (error 1.0)
        names = [repr(f.name) for f in cyclic]
        listed = ", ".join(names[:-1]) + " and " + names[-1] + (" both" if len(cyclic) == 2 else " all")
        hint = "x".join(g.name for g in _merge_cyclic(factors))
        raise ValueError(
            f"group {name!r} is refused: {listed} turn the same points; their turns commute, but together "
            f"they make the {n} turns of the single group 'C{n}' (multiples of 360°/{n}), more than any "
            "factor has, and canonicalizing one factor after the other is not invariant under them. "
            f"Use {hint!r} instead.")
    if not frozenset.intersection(*(frozenset(f.layout_kinds) for f in factors)):
        kinds = ", ".join(f"{f.name!r} on {sorted(f.layout_kinds)}" for f in factors)
        raise ValueError(f"group {name!r} is refused: its factors act on no common kind of data ({kinds}).")


def _clash(a, b):
    """Why factors ``a`` and ``b`` are refused as a product, and a group with the motions of
    both (None when there is none to name); None when they are accepted."""
    if a.d is not None and b.d is not None and a.d != b.d:
        return (f"its factors {a.name!r} and {b.name!r} act in {a.d} and {b.d} dimensions, but all factors "
                "of a product act on the same points"), None
    shared = [verb for cap, verb in _MOTIONS if getattr(a, cap) and getattr(b, cap)]
    if shared:
        if isinstance(a, CyclicGroup) and isinstance(b, CyclicGroup):
            # rotations of the plane by fixed angles commute (C2xC4 on images); whether all of
            # them make more turns than the largest has (C2xC3 is C6) is checked for the
            # cyclic factors together (C2xC3xC6 has only C6's turns)
            return None
        for big, small in ((a, b), (b, a)):
            if _contains(big, small):
                what = (f"the factor {a.name!r} appears twice" if a.name == b.name
                        else f"{big.name!r} already has every motion of {small.name!r}")
                return (what + " (a second factor adds no motion, and composing the two factor by factor "
                        "is wrong where they do not commute)"), big
        if _commute(a, b):
            # D3xC2: the half turn commutes with every planar motion; the law is right, but the
            # two make one larger group (D6) that a factor-by-factor canonicalization misses
            joined = _join(a, b)
            half = next((f for f in (a, b) if isinstance(f, CyclicGroup) and f.n == 2), None)
            why = (f" ({half.name!r} is the half turn, which commutes with every rotation and reflection of "
                   "the plane)" if half is not None else "")
            together = (f"together they make the {joined.order} motions of the single group "
                        f"{joined.name!r}" if joined is not None and joined.is_finite
                        else "together they make more motions than either factor")
            return (f"{a.name!r} and {b.name!r} both {shared[0]} the same points; their motions "
                    f"commute{why}, but {together}, and canonicalizing one factor after the other is not "
                    "invariant under them"), joined
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


def _commute(a, b):
    """True when ``a`` and ``b`` are finite rotation groups of the same points and every
    element of one commutes with every element of the other (``D3`` and ``C2``)."""
    if not (a.is_finite and b.is_finite and a.rotates and b.rotates):
        return False
    try:
        A, B = np.asarray(a.matrices(a.elements())), np.asarray(b.matrices(b.elements()))
    except TypeError:
        return False
    if A.shape[1:] != B.shape[1:]:
        return False
    AB = np.einsum("iab,jbc->ijac", A, B)
    BA = np.einsum("jab,ibc->ijac", B, A)
    return bool(np.abs(AB - BA).max() < 1e-9)


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
    return _merge_cyclic(fs)


def _merge_cyclic(factors):
    """The factors with the cyclic ones replaced by the one cyclic group of all their turns,
    in the first one's place, where those turns are more than the largest factor has
    (C2xC3xS_n → C6, S_n); the factors as they are otherwise."""
    cyclic = [i for i, f in enumerate(factors) if isinstance(f, CyclicGroup)]
    if not cyclic:
        return list(factors)
    n = math.lcm(*(factors[i].n for i in cyclic))
    if n == max(factors[i].n for i in cyclic):
        return list(factors)
    return [CyclicGroup(n) if i == cyclic[0] else f for i, f in enumerate(factors) if i not in cyclic[1:]]
