"""The projection protocol and the group/layout helpers every family shares."""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..groups import (
    CyclicGroup,
    DihedralGroup,
    EuclideanGroup,
    OrthogonalGroup,
    PermutationGroup,
)

#: most elements a finite group may have for the orbit-enumerating methods
MAX_GROUP_ORDER = 5040


class Projection:
    """An invariant map ``f`` with ``f(g·x) = f(x)`` for every ``g`` of its group.

    Subclasses work on the layout's working array ``P`` and return a 2-D array
    ``(n_samples, n_features_out)`` of ``P``'s float dtype. ``fit`` only records shapes and
    draws the random parameters of the random methods; it never sees targets.

    Parameters
    ----------
    group : Group
    layout : PointLayout, ImageLayout or FibreLayout
    **options
        Only the names in the class's ``options`` tuple are kept.
    """

    #: name used by ``InvariantProjector(method=...)``
    name = None
    #: family, for the user guide
    family = None
    #: options this projection reads (``degree``, ``n_components``, ``canonicalizer``)
    options = ()
    #: accepts point sets padded with all-NaN rows (absent points); features that involve
    #: an absent point are NaN
    absent_points_ok = False

    def __init__(self, group, layout, **options):
        self.group = group
        self.layout = layout
        for key in self.options:
            setattr(self, key, options.get(key))

    @classmethod
    def supports(cls, group, layout):
        """True when this map is invariant for ``group`` acting on ``layout``."""
        raise NotImplementedError

    def fit(self, P, y=None, random_state=None):
        self.sample_shape_ = tuple(P.shape[1:])
        return self

    def transform(self, P):
        raise NotImplementedError

    def feature_names(self):
        raise NotImplementedError

    @property
    def lossless(self):
        """True when the map separates all orbits (or, where stated, generic orbits)."""
        return False

    def __repr__(self):
        return f"{type(self).__name__}(group={self.group.name!r})"


# -- group classification --------------------------------------------------------------------
def is_points(layout):
    return getattr(layout, "kind", None) == "points"


def pure_permutation(group, layout):
    return isinstance(group, PermutationGroup) and is_points(layout)


def split_geometric(group):
    """``(geometric factor or None, has S_n factor, only these?)`` of a group."""
    geom, perm, other = None, False, False
    for f in group.factors:
        if isinstance(f, (OrthogonalGroup, EuclideanGroup)) and geom is None:
            geom = f
        elif isinstance(f, PermutationGroup) and not perm:
            perm = True
        else:
            other = True
    return geom, perm, not other


def finite_group_order(group, sample_shape):
    if isinstance(group, CyclicGroup):
        return group.n
    if isinstance(group, DihedralGroup):
        return 2 * group.n
    if isinstance(group, PermutationGroup):
        return math.factorial(sample_shape[0])
    raise TypeError(f"{group.name} is not a finite group with enumerable elements.")


def group_elements(group, sample_shape):
    """All elements of a finite group as a list of single elements (batch-of-one arrays
    broadcast later): ints for C_n/D_n, index arrays for S_n on ``sample_shape[0]`` points."""
    order = finite_group_order(group, sample_shape)
    if order > MAX_GROUP_ORDER:
        raise ValueError(
            f"{group.name} on {sample_shape[0]} points has {order} elements; methods that "
            f"enumerate the group need at most {MAX_GROUP_ORDER} (at most 7 points for S_n). "
            "Use 'sort', 'random_sort' or 'lexsort' for larger sets."
        )
    if isinstance(group, PermutationGroup):
        return [np.asarray(p) for p in itertools.permutations(range(sample_shape[0]))]
    return list(range(order))


def act_each(group, element, P, layout):
    """Act with one element on every sample of ``P``."""
    n = P.shape[0]
    if isinstance(group, PermutationGroup):
        g = np.broadcast_to(element, (n, element.shape[0]))
    else:
        g = np.full(n, element, dtype=np.int64)
    return group.act(g, P, layout)


def exact_orthogonal_action(group, layout, sample_shape):
    """True when the finite group's action on this layout is an exact orthogonal map
    (a permutation of coordinates, or an orthogonal matrix on 2-D points). Image rotations
    are exact by multiples of 90° on square images, by half turns on the others."""
    if getattr(layout, "kind", None) == "image":
        return group.exact_on_image_shape(sample_shape)
    return True
