"""Invariant projections — maps ``f`` with ``f(g·x) = f(x)``, one class per method: the
registry of methods and the choice of one per group and layout.

Each method is one :class:`Projection` subclass (formula, cost and losslessness in its
docstring) registered by name in :data:`PROJECTIONS`; :class:`~skcanon._projector.InvariantProjector`
looks methods up here. Adding a method means writing the class and one
:func:`register_projection` call.

=====================  ==========================================  ==============================
family                 methods                                     group / layout
=====================  ==========================================  ==============================
pooling                ``sum``, ``mean``, ``max``                  S_n on points
sorting                ``sort``, ``random_sort``, ``lexsort``      S_n on points
moments                ``power_sums`` (alias ``moments``),         S_n on points
                       ``random_moments``
geometry               ``norms``, ``gram``, ``distances``,         subgroups of E(d) on points:
                       ``gram_minors`` (rotating, no mirrors)      O(d), SO(d), E(d), SE(d),
                                                                   T(d), C_n, D_n, O, I
geometry × S_n         ``sorted_distances``                        E(d)×S_n, O(d)×S_n, ... on
                                                                   points
spectral               ``group_pool``, ``power_spectrum``,         C_n on regular fibres
                       ``bispectrum``
random invariant       ``reynolds``, ``max_filter``                finite groups where they act:
                                                                   C_n (fibres, images, 2-D
                                                                   points), D_n (images, 2-D
                                                                   points), O and I (3-D
                                                                   points; ``max_filter``
                                                                   only), small S_n
graph                  ``spectrum``                                S_n on graphs
cross-section          ``canonical``                               any group on points, graphs,
                                                                   images
=====================  ==========================================  ==============================

Which group a method applies to is asked of the group's capabilities (``rotates``,
``translates``, ``is_finite``, ``acts_on``, ...), never of its class, so a newly registered
group gets every method that applies to it without edits here.
"""

from ._base import Projection, group_elements
from ._canonical import Canonical
from ._geometry import Distances, Gram, GramMinors, Norms, SortedDistances
from ._graphs import GraphSpectrum
from ._moments import PowerSums, RandomMoments
from ._pooling import MaxPooling, MeanPooling, SumPooling
from ._random import MaxFilter, Reynolds
from ._sorting import LexSort, RandomSort, Sort
from ._spectral import Bispectrum, GroupPool, PowerSpectrum

__all__ = [
    "Projection",
    "PROJECTIONS",
    "register_projection",
    "make_projection",
    "methods_for",
    "auto_method",
    "group_elements",
]

#: method name → Projection subclass
PROJECTIONS = {}


def register_projection(name, cls):
    """Make ``cls`` available as ``InvariantProjector(method=name)``."""
    PROJECTIONS[name] = cls


for _cls in (SumPooling, MeanPooling, MaxPooling, Sort, RandomSort, LexSort, PowerSums,
             RandomMoments, Norms, Gram, Distances, GramMinors, SortedDistances, GroupPool,
             PowerSpectrum, Bispectrum, Reynolds, MaxFilter, GraphSpectrum, Canonical):
    register_projection(_cls.name, _cls)
register_projection("moments", PowerSums)


def methods_for(group, layout):
    """Names of the methods invariant for ``group`` acting on ``layout``."""
    return sorted(name for name, cls in PROJECTIONS.items() if cls.supports(group, layout))


def auto_method(group, layout, n_points=None, sample_shape=None, n_components=None):
    """The method ``method="auto"`` picks for ``group`` on ``layout``: a lossless map
    where a cheap one exists, else the canonical cross-section.

    ===============================================  ==========================================
    group / layout                                   method
    ===============================================  ==========================================
    S_n on graphs                                    ``"canonical"`` (canonical labelling)
    C_n on fibres                                    ``"bispectrum"``
    S_n on points                                    ``"sort"``
    O(d) on points                                   ``"gram"``
    E(d) on points (one position field)              ``"distances"`` (else ``"gram"``)
    SO(d), SE(d) on points                           ``"gram_minors"`` (``"canonical"`` above
                                                     20,000 minors)
    E(d)×S_n on points                               ``"sorted_distances"``
    SE(d)×S_n, O(d)×S_n on points                    ``"canonical"`` (sorted distances would
                                                     merge mirror images or translates)
    (the pairwise rows above, above 20,000 pairs     ``"canonical"``
    of a sample's vectors: about 200 points)
    C_n, D_n, O, I (finite) on images or points      ``"max_filter"`` (``"canonical"`` where
                                                     its templates would exceed 256 MiB)
    anything else                                    ``"canonical"``
    ===============================================  ==========================================

    ``n_points``: points per sample, when known (decides the pairwise maps and
    ``gram_minors`` vs ``canonical``).
    ``sample_shape``: the shape of one sample, when known: ``max_filter`` only where its
    template orbits (``dim × |G| × n_components`` numbers, ``2·dim`` templates by default)
    stay below :data:`~skcanon.projections._random.AUTO_TEMPLATE_BYTES` (larger samples —
    images above about 40×40 pixels under D4, 3×32×32 under C4, 200 points under the
    icosahedral group — take ``"canonical"``).
    """
    import math

    from ._base import full_rotations, split_geometric
    from ._geometry import MAX_MINORS

    kind = getattr(layout, "kind", None)
    available = methods_for(group, layout)

    def first(*names):
        for name in names:
            if name in available:
                return name
        return "canonical" if "canonical" in available or not available else available[0]

    geom, perm, only = split_geometric(group)
    if kind == "graph":
        return first("canonical", "spectrum")
    if kind == "fibre":
        return first("bispectrum")
    # the lossless geometric maps need all of O(d)/SO(d); T(d) and finite rotation groups
    # fall through to the finite-group maps or the cross-section
    if geom is not None and full_rotations(geom) and only and kind == "points":
        n_vectors = None if n_points is None else n_points * sum(f.is_geometric for f in layout.fields)
        # the pairwise maps grow with the square of the points: 2,000 points gave 2 to 4
        # million features per sample (a batch of 4,096 clouds, 30 to 60 GiB)
        if n_vectors is not None and math.comb(n_vectors, 2) > MAX_MINORS:
            return first()
        if perm:
            # sorted distances are E(d)×S_n invariants: under a subgroup they merge its
            # distinct orbits (mirror images under SE(d)×S_n, translates under O(d)×S_n),
            # so only E(d)×S_n gets them
            full = not geom.special and geom.translates
            return first("sorted_distances") if full else first()
        if geom.special:
            if n_vectors is not None and math.comb(n_vectors, geom.d) > MAX_MINORS:
                return first()
            return first("gram_minors")
        return first("distances" if Distances(group, layout)._lossless_layout() else "gram", "gram")
    if len(group.factors) > 1:
        # products of finite groups: the cross-section (group averages go through every distinct
        # element once, but there are as many as the product of the factors' orders, e.g. 4·m!
        # for C4xS_n on m points; only cyclic factors' shared turns count once: C2xC4 has 4)
        return first()
    if sample_shape is not None and "sort" not in available and "max_filter" in available:
        from ._random import AUTO_TEMPLATE_BYTES, template_bytes

        dim = math.prod(int(k) for k in sample_shape)
        size = template_bytes(group, tuple(sample_shape), n_components or 2 * dim)
        if size is not None and size > AUTO_TEMPLATE_BYTES:
            return first()
    return first("sort", "max_filter")


def make_projection(method, group, layout, **options):
    """Build the (unfitted) projection ``method`` for ``group`` on ``layout``."""
    asked = method
    if method == "auto":
        method = auto_method(group, layout, options.pop("n_points", None))
    options.pop("n_points", None)
    if not isinstance(method, str) or method not in PROJECTIONS:
        raise ValueError(
            f"method={method!r} is unknown; choose 'auto' or one of {sorted(PROJECTIONS)}. "
            f"For group {group.name!r} on {layout!r}: {methods_for(group, layout)}."
        )
    cls = PROJECTIONS[method]
    if not cls.supports(group, layout):
        available = methods_for(group, layout)
        if asked == "auto" and not available:
            raise ValueError(
                f"method='auto' found no invariant map for group {group.name!r} on layout {layout!r}: "
                "no method applies there (the group moves nothing this layout holds, or the layout "
                "has no field it acts on). Check the layout's fields and the group.")
        raise ValueError(
            f"method={method!r} is not invariant for group {group.name!r} on layout {layout!r}; "
            f"available there: {available}."
        )
    return cls(group, layout, **options)
