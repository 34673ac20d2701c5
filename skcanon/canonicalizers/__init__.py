"""Canonicalizers: equivariant choices of a group element per sample.

A canonicalizer for group ``G`` returns frames ``h(x)`` with ``h(g·x) = g·h(x)``; the
canonical form ``h(x)⁻¹·x`` is then ``G``-invariant. This package holds the method
registry used by :class:`~skcanon.CanonicalizerTransformer`: one concern, which method
serves which group. Each method is one class that says, from the group's capabilities,
which groups it ``supports`` and where it is the ``default_for`` ``method="auto"``; adding
one means writing the class and one :func:`register_method` call. The numeric kernels the
classes share live in :mod:`skcanon._kernels`.

Degenerate inputs
-----------------
Frames are built from the data, so symmetric inputs have several equally valid frames.
The rules (all deterministic, none producing NaN):

* all points equal, or a blank image — identity frame (after centring);
* repeated covariance eigenvalues (cube, regular polygon, regular simplex, sphere-like
  clouds) — the eigenspace is re-based on the data points: its first axis points to the
  point with the largest projection onto it, ties going to the lowest point index. This
  stays rotation-equivariant for point sets; it depends on the pixel grid for images;
* third moment zero along an axis (mirror symmetry) — the axis points to the point with
  the largest ``|projection|``;
* positions that leave part of the frame open (a planar cloud under reflections, a
  collinear one under rotations about its line) — the point's other fields (vectors,
  other positions, scalars) settle it: candidate frames are compared on the whole
  canonical sample, first on permutation-invariant features of the canonical point set,
  then row by row in point order;
* ties in ``sort`` keys (within a relative tolerance) — compared on the next column;
  exact duplicates keep their input order, which does not change the canonical output;
* finite groups (C_n, D_n, the polyhedral groups) round the PCA frame to the nearest
  element; C_n/D_n frames exactly half-way between two elements round up
  (``floor(x + 1/2)``), which commutes with whole rotation steps. Where a tie rule above
  chose the frame (a symmetric point set), rounding would not commute with the group, so
  those samples take the element whose canonical form is smallest (``method="orbit"``
  does so for every sample); a single bright pixel is oriented by its centroid;
* graphs (``wl``) — exact canonical labelling by nauty when pynauty is installed (the
  ``graphs`` extra); otherwise colour refinement and individualization, exact up to a
  search budget per graph (beyond it a ``CanonicalFormWarning``).

What counts as a tie follows the input's dtype: eigenvalue gaps below ``1e-6`` of the
trace (or ``1e4·eps``, whichever is larger: ``eps`` of float64 or float32) count as
repeated, third moments below ``1e-6`` (or ``1e3·eps``) as zero, PCA's point ties within
``1e-7`` (or ``1e4·eps``) relative, ``sort`` keys within ``1e-9`` (float64) or ``1e-4``
(float32) relative, so float32 input gets tolerances above its own rounding. Each sample is
rescaled to a largest norm of 1 before its covariance is formed, so any finite magnitude
works.

Near (not exactly) symmetric inputs sit close to a discontinuity: every canonicalization
of a non-free action has one (no continuous invariant cross-section exists), so tiny
perturbations there can switch the frame.
"""

from .._kernels.lexsort import tolerant_lexsort
from ._base import Canonicalizer, ChainCanonicalizer, IdentityCanonicalizer
from ._graphs import GraphCanonicalizer
from ._heuristics import (
    CentroidCanonicalizer,
    MomentsCanonicalizer,
    OrbitCanonicalizer,
    PCACanonicalizer,
    ScaleCanonicalizer,
    SortCanonicalizer,
)
from ._learned import AnchoredCanonicalizer, LearnedCanonicalizer, RandomCanonicalizer  # torch loads lazily
from ._similarity import SimilarityPCACanonicalizer

__all__ = [
    "Canonicalizer",
    "ChainCanonicalizer",
    "IdentityCanonicalizer",
    "CentroidCanonicalizer",
    "ScaleCanonicalizer",
    "PCACanonicalizer",
    "MomentsCanonicalizer",
    "OrbitCanonicalizer",
    "SortCanonicalizer",
    "GraphCanonicalizer",
    "METHODS",
    "register_method",
    "registered_methods",
    "make_canonicalizer",
    "default_method",
    "tolerant_lexsort",
]

#: method name → list of ``(canonicalizer class, supports, whole_group)`` in registration
#: order; ``supports(group, layout=None)`` is the class's own :meth:`Canonicalizer.supports`.
#: One name may have a class per kind of group ("pca" for E(d) and for Sim(d)).
METHODS = {}


def register_method(name, cls):
    """Make ``cls`` available as ``method=name`` for every group ``cls.supports``.

    The class states what it handles: ``supports(group, layout=None)`` (from the group's
    capabilities), ``default_for(group, layout)`` (whether ``method="auto"`` picks it) and
    ``whole_group`` (True when it takes a product group at once, a learned network for
    E(3)×S_n, say, instead of one factor). Registration order breaks ties between defaults.
    """
    METHODS.setdefault(name, []).append((cls, cls.supports, bool(cls.whole_group)))


def registered_methods():
    """``(name, class, supports, whole_group)`` for every registered method entry;
    ``supports(group, layout=None)`` says whether the entry handles ``group``."""
    for name, entries in METHODS.items():
        for cls, supports, whole in entries:
            yield name, cls, supports, whole


def _lookup(name, group):
    """The (class, whole_group) registered under ``name`` for ``group``, or None."""
    for cls, supports, whole in METHODS.get(name, ()):
        if supports(group):
            return cls, whole
    return None


register_method("identity", IdentityCanonicalizer)
register_method("centroid", CentroidCanonicalizer)
register_method("scale", ScaleCanonicalizer)
register_method("pca", PCACanonicalizer)
register_method("pca", SimilarityPCACanonicalizer)
register_method("orbit", OrbitCanonicalizer)
register_method("moments", MomentsCanonicalizer)
register_method("sort", SortCanonicalizer)
register_method("wl", GraphCanonicalizer)
register_method("learned", LearnedCanonicalizer)
register_method("random", RandomCanonicalizer)
register_method("anchored", AnchoredCanonicalizer)


def default_method(group, layout):
    """The heuristic used for ``method="auto"`` on one (non-product) group.

    The first registered method whose class claims the default (``default_for``) for this
    group on this layout; where none does, the first that supports the group at all (its
    ``check_layout`` then explains what the layout lacks); None when no method supports it.
    """
    for name, entries in METHODS.items():
        for cls, supports, whole in entries:
            if not whole and cls.default_for(group, layout) and supports(group):
                return name
    for name, entries in METHODS.items():
        for cls, supports, whole in entries:
            if not whole and supports(group):
                return name
    return None


def _methods_for(group, layout=None):
    # with a layout, only the methods that work on that kind of data (pca takes no images)
    return sorted(name for name in METHODS
                  if any(supports(group, layout) for _, supports, _ in METHODS[name]))


def _is_whole(name):
    return any(whole for _, _, whole in METHODS.get(name, ()))


def make_canonicalizer(group, method, layout, **options):
    """Build the canonicalizer for ``group`` and ``method`` (``"auto"``, a name, or
    ``"a+b"`` with one method per factor of a product group).

    ``options`` are passed to canonicalizers that accept them (the learned ones).
    """
    factors = group.factors
    if layout is not None and getattr(layout, "kind", None) not in group.layout_kinds:
        # before any method's own check, which would name the method instead of the group
        # (sizes, such as C_n's fibres, are the group's check_layout's)
        kinds = sorted(group.layout_kinds)
        raise TypeError(
            f"group {group.name!r} does not act on {getattr(layout, 'kind', None)} data ({layout!r}); "
            f"it acts on {', '.join(kinds) or 'no layout'}."
            + (" Graphs are relabelled by permutations only: group='S_n'."
               if getattr(layout, "kind", None) == "graph" else ""))
    if method == "auto":
        names = [default_method(f, layout) for f in factors]
    elif method in METHODS and (_is_whole(method) or len(factors) == 1):
        names = [method]
    else:
        names = method.split("+")
    if len(names) == 1 and len(factors) > 1:
        # whole-group canonicalizers take the product itself; they check its factors
        whole = [(cls, supports) for cls, supports, is_whole in METHODS.get(names[0], ()) if is_whole]
        if not whole:
            raise ValueError(_method_error(group, method, layout))
        # the entry that supports the product; else the first, whose constructor names the
        # factor it cannot handle
        cls = next((c for c, supports in whole if supports(group)), whole[0][0])
        canon = _build(cls, group, options)
        canon.check_layout(layout)
        return canon
    if len(names) != len(factors):
        raise ValueError(_method_error(group, method, layout))
    steps = []
    for factor, name in zip(factors, names):
        found = _lookup(name, factor)
        if not found:
            raise ValueError(_method_error(group, method, layout))
        steps.append(_build(found[0], factor, options))
    canon = steps[0] if len(steps) == 1 else ChainCanonicalizer(group, steps)
    canon.check_layout(layout)
    return canon


def _build(cls, group, options):
    accepted = getattr(cls, "options", ())
    return cls(group, **{k: v for k, v in options.items() if k in accepted})


def _method_error(group, method, layout=None):
    per_factor = "; ".join(f"{f.name}: {_methods_for(f, layout)}" for f in group.factors)
    # only the whole-product methods and defaults this group has on this layout (C4xS_n on
    # points has no network: suggesting 'learned' sent the caller to another refusal)
    whole = sorted(n for n in METHODS
                   if any(is_whole and supports(group, layout) for _, supports, is_whole in METHODS[n]))
    defaults = [default_method(f, layout) for f in group.factors]
    usable = all(d in _methods_for(f, layout) for d, f in zip(defaults, group.factors))
    example = f" (e.g. '{'+'.join(defaults)}')" if usable else ""
    hint = (
        f" For a product group give one method per factor joined by '+', in factor order{example}"
        + (f", or one of {whole} for the whole product." if whole else ".")
        if len(group.factors) > 1 else ""
    )
    return (
        f"method={method!r} is not available for group {group.name!r}. "
        f"Methods per factor: {per_factor}.{hint} 'auto' picks the default heuristic."
    )

