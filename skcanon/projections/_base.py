"""The projection protocol, and the questions every family asks a group about a layout
(asked through the group's capabilities, never its class)."""

from __future__ import annotations

import numpy as np

#: most elements a finite group may have for the orbit-enumerating methods
MAX_GROUP_ORDER = 5040
#: a projection's working arrays (scores, per-point projections) cover a chunk of a batch's
#: rows of at most this many bytes: batches are counted in samples (4,096 by default), and
#: random moments of 4,096 clouds of 1,000 points took 4,096 × 1,000 × 6,001 values (196 GB)
WORK_CHUNK_BYTES = 64 << 20
#: the random parameters a projection draws in ``fit`` may take at most this many bytes
MAX_PARAMETER_BYTES = 2 << 30


def check_parameter_bytes(method, shape):
    """Refuse, naming ``n_components``, random parameters of ``shape`` (float64, the last
    axis one per component) beyond :data:`MAX_PARAMETER_BYTES`, before drawing them."""
    size = 8 * int(np.prod(shape, dtype=np.float64))
    if size > MAX_PARAMETER_BYTES:
        raise ValueError(
            f"method={method!r} with n_components={shape[-1]} needs {size / 2**30:.1f} GiB of random "
            f"parameters ({' × '.join(str(k) for k in shape)} float64); at most "
            f"{MAX_PARAMETER_BYTES / 2**30:.0f} GiB. Fix: a smaller n_components (None takes the "
            "lossless default).")


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
    #: options this projection reads (``degree``, ``n_components``, ``canonicalizer``, ``mark_absent``)
    options = ()
    #: accepts point sets padded with all-NaN rows (absent points); features that involve
    #: an absent point are 0
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

    def check_transform_input(self, P):
        """Raise where the fitted map cannot represent the validated working array ``P`` (all
        of ``transform``'s samples, before batching; indices name samples of X)."""

    def feature_names(self):
        """One distinct name per output column (``InvariantProjector`` makes repeats unique
        with :func:`unique_names`, but the built-in maps never repeat one)."""
        raise NotImplementedError

    @property
    def lossless(self):
        """True when the map separates all orbits (or, where stated, generic orbits)."""
        return False

    def __repr__(self):
        return f"{type(self).__name__}(group={self.group.name!r})"


# -- feature names -----------------------------------------------------------------------------
def unique_names(names):
    """``names`` as a list with every repeat made unique: the first occurrence keeps its name,
    later ones get ``__2``, ``__3``, ... (the first suffix no other name has). Names that are
    already unique are returned unchanged. The built-in projections choose unique names
    themselves; this is the guarantee for any other (a registered projection whose names
    repeat), since pandas output and ColumnTransformer need distinct column names."""
    names = [str(n) for n in names]
    if len(set(names)) == len(names):
        return names
    taken, out = set(names), []
    seen = set()
    for name in names:
        if name in seen:
            k = 2
            while f"{name}__{k}" in taken:
                k += 1
            name = f"{name}__{k}"
            taken.add(name)
        seen.add(name)
        out.append(name)
    return out


# -- features beyond the dtype's range ---------------------------------------------------------
def overflow_error(method, dtype, amax, degree, *, what=None,
                   alternative="method='distances', which rescales internally"):
    """The ``ValueError`` for features that exceed ``dtype``'s range however they are
    computed (a ``degree``-homogeneous map of coordinates up to ``amax``). ``what`` names
    the features (default: distances/norms, Gram entries or degree-k features);
    ``alternative``, a method that avoids the overflow, is suggested for ``degree > 1``
    (None: none)."""
    dtype = np.dtype(dtype)
    if what is None:
        what = {1: "distances/norms", 2: "Gram entries (products of two coordinates)"}.get(
            degree, f"degree-{degree} features")
    hint = ("cast X to float64 or " if dtype == np.float32 else "") + "divide X by a constant first"
    if degree > 1:
        hint += f" (these features scale with the power {degree} of X's scale)"
        if alternative is not None:
            hint += f", or use {alternative}"
    return ValueError(
        f"X has coordinates up to {float(amax):.3g}: its {what} overflow {dtype.name} "
        f"(largest {float(np.finfo(dtype).max):.3g}), so method={method!r} cannot return finite "
        f"features; {hint}."
    )


def underflow_error(method, dtype, amax, degree, *, what=None, hint="", values="values"):
    """The ``ValueError`` for ``degree``-homogeneous features of a sample whose values are
    at most ``amax`` that fall below ``dtype``'s smallest normal number (rounded to 0 or to
    a few bits: different inputs got equal features while ``lossless_`` said True).
    ``what`` names the features; ``hint`` ends the message (a way out besides rescaling);
    ``values`` names what ``amax`` bounds."""
    dtype = np.dtype(dtype)
    what = what or f"degree-{degree} features"
    return ValueError(
        f"X has a sample whose {values} are at most {float(amax):.3g}: its {what} underflow "
        f"{dtype.name} (smallest normal {float(np.finfo(dtype).tiny):.3g}), so method={method!r} "
        f"would lose them; multiply X by a constant (these features scale with the power {degree} "
        f"of X's scale){hint}."
    )


def check_underflow(method, P, degree, *, what=None, hint="", noise=None, values="values"):
    """Raise :func:`underflow_error` where a sample of ``P`` (``(n, ...)``) has its largest
    |value|, raised to ``degree``, below the dtype's smallest normal number. ``noise``
    (``(n,)``, optional): per sample, the magnitude up to which its values are rounding
    (centred copies of coincident points): such a sample counts as all zeros."""
    dtype = np.dtype(P.dtype)
    if not np.issubdtype(dtype, np.floating) or P.size == 0:
        return
    with np.errstate(invalid="ignore"):
        largest = np.fmax.reduce(np.abs(P).reshape(len(P), -1), axis=1).astype(np.float64)
    if noise is not None:
        largest = np.where(largest > noise, largest, 0.0)
    with np.errstate(divide="ignore"):
        vanishing = (largest > 0) & (degree * np.log2(np.where(largest > 0, largest, 1.0))
                                     < np.log2(np.finfo(dtype).tiny))
    if vanishing.any():
        raise underflow_error(method, dtype, largest[vanishing].min(), degree, what=what, hint=hint,
                              values=values)


# -- what a group does to a layout -------------------------------------------------------------
def is_points(layout):
    return getattr(layout, "kind", None) == "points"


def fits(group, layout):
    """True when ``group`` acts on ``layout``: a kind it acts on, with the dimension
    (points) and fibre size (a regular-representation fibre has one entry per element) it
    needs."""
    if not group.acts_on(layout):
        return False
    if getattr(layout, "kind", None) == "fibre" and layout.fibre_size != group.order:
        return False
    try:
        group.check_layout(layout)
    except (TypeError, ValueError):
        return False
    return True


def permutes_only(group):
    """True for S_n: a single factor that reorders points and does nothing else (its order
    depends on the number of points in the data)."""
    return len(group.factors) == 1 and group.permutes and not group.is_finite


def pure_permutation(group, layout):
    return permutes_only(group) and is_points(layout)


def euclidean(group):
    """True for a group of isometries of d-space: rotations (and reflections) and/or
    translations, no rescaling — a subgroup of E(d), whose distances and centred Gram
    matrices are invariant."""
    return group.d is not None and (group.rotates or group.translates) and not group.rescales


def full_rotations(geom):
    """True when ``geom``'s linear part is all of O(d) or SO(d) (not a finite subgroup, not
    translations alone): the orbit-separation results for Gram matrices, distances and
    minors need the whole group."""
    return geom.rotates and not geom.is_finite


def split_geometric(group):
    """``(geometric factor or None, has S_n factor, only these?)`` of a group; the
    geometric factor is the first :func:`euclidean` one."""
    geom, perm, other = None, False, False
    for f in group.factors:
        if euclidean(f) and geom is None:
            geom = f
        elif permutes_only(f) and not perm:
            perm = True
        else:
            other = True
    return geom, perm, not other


# -- enumerating a finite group ----------------------------------------------------------------
def finite_group_order(group, sample_shape):
    """Number of elements the orbit-enumerating methods go through: the order of a finite
    group, ``m!`` for S_n on ``m = sample_shape[0]`` points."""
    order = group.order_on(sample_shape[0]) if group.is_finite or permutes_only(group) else None
    if order is not None:
        return order
    raise TypeError(f"{group.name} is not a finite group with enumerable elements.")


def element_batch(group, sample_shape):
    """Every element of a finite group (or of S_n on ``sample_shape[0]`` points) as one
    batch, in the order of ``group.elements()`` (S_n: lexicographic permutations)."""
    order = finite_group_order(group, sample_shape)
    if order > MAX_GROUP_ORDER:
        raise ValueError(
            f"{group.name} on {sample_shape[0]} points has {order} elements; methods that "
            f"enumerate the group need at most {MAX_GROUP_ORDER} (at most 7 points for S_n). "
            "Use 'sort', 'random_sort' or 'lexsort' for larger sets."
        )
    return group.elements_on(sample_shape[0])


def group_elements(group, sample_shape):
    """All elements of a finite group as a list of single elements (broadcast later by
    :func:`act_each`), as ``group.elements()`` gives them: ints for C_n, D_n and the
    polyhedral groups, tuples for products of finite groups, index arrays for S_n on
    ``sample_shape[0]`` points."""
    batch = element_batch(group, sample_shape)
    return [group.take(batch, i) for i in range(finite_group_order(group, sample_shape))]


def act_each(group, element, P, layout):
    """Act with one element on every sample of ``P``."""
    return group.act(group.repeat(element, P.shape[0]), P, layout)


def exact_orthogonal_action(group, layout, sample_shape):
    """True when the finite group's action on this layout is an exact orthogonal map
    (a permutation of coordinates, or an orthogonal matrix on points). Image rotations
    are exact by multiples of 90° on square images, by half turns on the others."""
    if getattr(layout, "kind", None) == "image":
        return group.exact_on_image_shape(sample_shape)
    return True
