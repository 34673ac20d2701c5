"""Symmetry groups and their actions on data.

Every group is an object with a batched group law (``sample``, ``identity``,
``inverse``, ``compose``) and an action on data in a given layout (``act`` on working
arrays, ``apply`` on user arrays). Everything else in skcanon — canonicalizers,
projectors, metrics, tests, augmentation — uses these actions, so each is written once.

String aliases accepted by :func:`get_group` and by every ``group=`` parameter:

==========================  ============================================================
alias                       group
==========================  ============================================================
``"SO2"``, ``"SO(3)"``      rotations :class:`OrthogonalGroup` (``special=True``)
``"O2"``, ``"O3"``          rotations and reflections :class:`OrthogonalGroup`
``"T3"``                    translations :class:`TranslationGroup`
``"SE3"``, ``"E2"``         rigid motions :class:`EuclideanGroup`
``"scaling"``               :class:`ScalingGroup`
``"S_n"``, ``"Sn"``         permutations of points :class:`PermutationGroup`
``"C4"``, ``"C_8"``         :class:`CyclicGroup`
``"D4"``, ``"D_8"``         :class:`DihedralGroup`
``"Sim3"``, ``"SSim3"``     rigid motions and scaling :class:`SimilarityGroup`
                            (``"SE3xscaling"`` means ``"SSim3"``)
``"O"``, ``"octahedral"``   the 24 rotations of a cube :class:`OctahedralGroup`
``"I"``, ``"icosahedral"``  the 60 rotations of an icosahedron :class:`IcosahedralGroup`
``"tetrahedral"``           the 12 rotations of a tetrahedron :class:`TetrahedralGroup`
``"SE3xS_n"``               :class:`ProductGroup` (``x``, ``X`` or ``×`` separates factors)
==========================  ============================================================
"""

import re

from ._base import Group, rotation_matrices_2d
from ._continuous import (
    EuclideanGroup,
    OrthogonalGroup,
    ScalingGroup,
    SimilarityGroup,
    TranslationGroup,
    haar_orthogonal,
)
from ._finite import CyclicGroup, DihedralGroup, PermutationGroup
from ._images import rotate_images
from ._polyhedral import FiniteRotationGroup, IcosahedralGroup, OctahedralGroup, TetrahedralGroup
from ._product import ProductGroup

__all__ = [
    "Group",
    "OrthogonalGroup",
    "TranslationGroup",
    "EuclideanGroup",
    "ScalingGroup",
    "SimilarityGroup",
    "PermutationGroup",
    "CyclicGroup",
    "DihedralGroup",
    "ProductGroup",
    "FiniteRotationGroup",
    "TetrahedralGroup",
    "OctahedralGroup",
    "IcosahedralGroup",
    "get_group",
    "register_group",
    "EXAMPLES",
    "haar_orthogonal",
    "rotate_images",
    "rotation_matrices_2d",
]

#: named groups without a dimension in their alias: lower-case name → factory
NAMED_GROUPS = {}
#: the names as registered (their spelling), for the "Unknown group" message
_REGISTERED_NAMES = []
#: one alias for each kind of group, in the order docs and tests go through them; generic
#: property tests draw their groups from here, so a registered group is tested without edits
EXAMPLES = ["SO2", "O2", "SO3", "O3", "SO4", "SE2", "E2", "SE3", "E3", "T2", "T3", "scaling", "S_n",
            "C4", "C6", "D3", "D4", "Sim3", "SSim2"]


def register_group(names, factory, example=True):
    """Make ``get_group(name)`` return ``factory()`` for each of ``names`` (case-insensitive);
    ``example=True`` adds the first name to :data:`EXAMPLES`."""
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        NAMED_GROUPS[name.lower()] = factory
        if name not in _REGISTERED_NAMES:
            _REGISTERED_NAMES.append(name)
    if example and names[0] not in EXAMPLES:
        EXAMPLES.append(names[0])


register_group(("O", "octahedral"), OctahedralGroup)
register_group(("I", "icosahedral"), IcosahedralGroup)
register_group("tetrahedral", TetrahedralGroup)


_SINGLE = re.compile(r"^(SSim|Sim|SO|O|SE|E|T|C|D)_?\(?(\d+)\)?$", re.IGNORECASE)


def _parse_single(token):
    t = token.strip()
    if t.lower() in NAMED_GROUPS:
        return NAMED_GROUPS[t.lower()]()
    if t.replace("_", "").lower() in ("sn", "s(n)", "perm", "permutation", "permutations"):
        return PermutationGroup()
    if t.lower() in ("scaling", "scale"):
        return ScalingGroup()
    m = _SINGLE.match(t)
    if not m:
        return None
    kind, d = m.group(1).upper(), int(m.group(2))
    if d < 1:
        return None
    if kind in ("SIM", "SSIM"):
        return SimilarityGroup(d, special=kind == "SSIM")
    return {
        "SO": lambda: OrthogonalGroup(d, special=True),
        "O": lambda: OrthogonalGroup(d),
        "SE": lambda: EuclideanGroup(d, special=True),
        "E": lambda: EuclideanGroup(d),
        "T": lambda: TranslationGroup(d),
        "C": lambda: CyclicGroup(d),
        "D": lambda: DihedralGroup(d),
    }[kind]()


def _merge_similarity(groups):
    """``E(d) × scaling`` written as a product means the similarity group Sim(d)."""
    eu = [g for g in groups if type(g) is EuclideanGroup]
    sc = [g for g in groups if isinstance(g, ScalingGroup)]
    if len(eu) == 1 and len(sc) == 1:
        sim = SimilarityGroup(eu[0].d, special=eu[0].special)
        return [sim if g is eu[0] else g for g in groups if g is not sc[0]]
    return groups


#: what joins the factors of a product ("SE3xS_n", "SE3XS_n", "SE3×S_n", "SE3*S_n", "SE3 x S_n")
_SEPARATOR = re.compile(r"\s*[x×*]\s*", re.IGNORECASE)


def _parse_product(spec):
    """The groups named by ``spec``, one per factor, or None. A whole name is looked up first
    and every way of splitting at a separator is tried, so a registered name containing an
    ``x`` ("hexoctahedral", "hexoctahedralxS_n") is found."""
    whole = _parse_single(spec)
    if whole is not None:
        return [whole]
    for m in _SEPARATOR.finditer(spec):
        left, right = spec[: m.start()], spec[m.end():]
        if not left.strip() or not right.strip():
            continue
        first = _parse_single(left)
        rest = _parse_product(right) if first is not None else None
        if rest is not None:
            return [first] + rest
    return None


def _unknown_group(spec):
    # a separator at either end or twice in a row leaves an empty factor ("xSE3", "SE3xxS_n")
    if re.search(r"^\s*[x×*]|[x×*]\s*$|[x×*]\s*[x×*]", spec, re.IGNORECASE):
        return ValueError(
            f"Unknown group {spec!r}: it has an empty factor (a separator 'x' at the start, at the end "
            "or twice in a row); join the factors of a product with one 'x', e.g. 'SE3xS_n'."
        )
    named = ", ".join(repr(n) for n in _REGISTERED_NAMES)
    return ValueError(
        f"Unknown group {spec!r}. Use 'SO<d>' or 'O<d>' (rotations, with reflections), 'SE<d>' or 'E<d>' "
        "(rigid motions), 'T<d>' (translations), 'SSim<d>' or 'Sim<d>' (similarities), 'scaling', 'S_n' "
        f"(permutations), 'C<n>' or 'D<n>' (cyclic, dihedral), {named}, where <d> and <n> are positive "
        "integers (e.g. 'SO3', 'C8'), or a product of these joined by 'x', e.g. 'SE3xS_n'."
    )


def get_group(spec):
    """Return the :class:`Group` named by ``spec`` (a Group passes through).

    Examples
    --------
    >>> from skcanon.groups import get_group
    >>> get_group("SE3xS_n").name
    'SE3xS_n'
    """
    if isinstance(spec, Group):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"group must be a string alias or a Group object, got {type(spec).__name__}.")
    groups = _parse_product(spec.strip())
    if groups is None:
        raise _unknown_group(spec)
    groups = _merge_similarity(groups)
    return groups[0] if len(groups) == 1 else ProductGroup(groups)
