"""The group protocol every symmetry implements once."""

from __future__ import annotations

import operator
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from ..layouts import PointLayout, as_layout


class Group:
    """A symmetry group acting on samples.

    A *batch of elements* is an array whose first axis indexes samples; each group
    documents its element format (rotation matrices, permutation index arrays, integers
    for cyclic groups, tuples for products). All methods are batched: ``compose(g, h)[i]``
    is ``g[i] ∘ h[i]`` (``h`` acts first).

    The action is written once per layout kind, on the layout's *working array*
    (``(n, n_points, width)`` for points, ``(n, C, H, W)`` for images). :meth:`apply`
    wraps it for arrays in any accepted user layout.
    """

    #: short name, e.g. ``"SO3"``
    name = "group"
    #: True when the action on square images is exact (no interpolation) for every element
    exact_on_images = True

    # -- capabilities ------------------------------------------------------------------------
    # Code outside ``skcanon.groups`` asks these instead of testing for concrete classes, so a
    # new group is one class that states what it does (see docs/architecture.md).

    #: dimension of the space whose points the group moves; None when it has no geometry of
    #: its own (permutations, scaling)
    d = None
    #: an orthogonal linear part acts on every geometric field (rotations, reflections)
    rotates = False
    #: only proper rotations (determinant +1); meaningful when ``rotates``
    special = False
    #: positions move by a translation part
    translates = False
    #: geometric fields are multiplied by a positive factor
    rescales = False
    #: points (rows) or graph nodes are reordered
    permutes = False
    #: working-layout kinds the group acts on (``"points"``, ``"image"``, ``"fibre"``, ``"graph"``)
    layout_kinds = frozenset()

    @property
    def order(self):
        """Number of elements of a finite group; None for continuous groups and for S_n
        (whose order depends on the number of points in the data)."""
        return None

    @property
    def is_finite(self):
        """True when the group has a fixed, finite number of elements (:meth:`elements`)."""
        return self.order is not None

    @property
    def full_isometries(self):
        """True for O(d), SO(d), E(d), SE(d) and T(d): all rotations (proper ones when
        ``special``) and/or all translations of d-space, nothing finite, scaled or permuted —
        the groups whose frames a continuous equivariant map (PCA, a point network) gives
        directly, with no rounding to a finite set of elements."""
        return ((self.rotates or self.translates) and not (self.rescales or self.permutes or self.is_finite)
                and self.d is not None)

    def elements(self):
        """Every element of a finite group, as one batch of length :attr:`order`."""
        raise TypeError(f"{self.name} is not a finite group: it has no list of elements "
                        "(use sample or grid).")

    def order_on(self, n_points):
        """Number of elements acting on samples of ``n_points`` points: :attr:`order`, or
        ``n_points!`` for S_n; None when the group is continuous."""
        return self.order

    def elements_on(self, n_points):
        """Every element acting on samples of ``n_points`` points, one batch
        (:meth:`elements`; all permutations for S_n)."""
        return self.elements()

    def take(self, g, i):
        """Element ``i`` of the batch ``g``."""
        return np.asarray(g)[i]

    def repeat(self, e, n):
        """A batch of ``n`` copies of the single element ``e``."""
        e = np.asarray(e)
        return np.repeat(e[None], n, axis=0)

    def grid(self, n, random_state=0, n_points=None):
        """``n`` elements that cover the group: all elements of a finite group (``n`` is then
        ignored), evenly spaced ones where the group has a natural grid, otherwise a seeded
        sample (deterministic for a given ``random_state``). ``n_points``, the number of
        points per sample, is needed by permutation groups (S_n and products with it) only,
        as for :meth:`sample`."""
        if self.is_finite:
            return self.elements()
        if n_points is None and self.permutes:
            # sample's own message named sample, not the argument grid lacked
            raise ValueError(f"{self.name}.grid needs n_points (the number of points per sample): "
                             "its permutations act on that many points.")
        return self.sample(n, random_state, n_points=n_points)

    def acts_on(self, layout):
        """True when the group acts on data of ``layout`` (by kind, and for C_n fibres by their
        size; :meth:`check_layout` then checks dimensions)."""
        return getattr(layout, "kind", None) in self.layout_kinds

    def matrices(self, g):
        """Linear part of each element, ``(n, d, d)`` (rotating groups; identity matrices for
        pure translations). Rescaling groups include their factor (``s·R``)."""
        raise TypeError(f"{self.name} has no linear part on {self.d}-D points.")

    def translations(self, g):
        """Translation part of each element, ``(n, d)`` (zeros for groups that do not translate)."""
        if self.d is None:
            raise TypeError(f"{self.name} has no translation part.")
        return np.zeros((len(np.asarray(g)), self.d))

    def nearest_element(self, R, t=None):
        """The element closest to the motion ``x ↦ R x + t`` (``R``: ``(n, d, d)`` orthogonal,
        ``t``: ``(n, d)`` or None). Continuous groups take the motion as it is (dropping what
        they do not have; a frame of negative determinant becomes the nearest rotation under
        SO(d), SE(d) and SSim(d)); finite groups round to their nearest element — how a frame
        built from the data (a PCA basis, a network's output) becomes a group element. Other
        shapes of ``R`` or ``t`` raise a ValueError."""
        raise TypeError(f"{self.name} cannot turn a rotation into one of its elements.")

    def near_tie(self, R, rounding=None):
        """True per sample where :meth:`nearest_element` of ``R`` is within rounding of a tie
        between two elements (finite groups): there the rounding rule cannot be equivariant
        under every element (a reflection maps "round half up" to "round half down"), so
        callers settle those samples from the data. ``rounding`` (per sample, optional): how
        far the entries of ``R`` may be from the exact frame (a frame computed from float32
        points far from the origin), which widens the band. Continuous groups never tie."""
        return np.zeros(len(R), dtype=bool)

    def factor(self, capability):
        """The first factor that has ``capability`` (``"rotates"``, ``"permutes"``, ...), or None."""
        return next((f for f in self.factors if getattr(f, capability)), None)

    def exact_on_image_shape(self, shape):
        """True when every element acts exactly (no interpolation) on images of ``shape``
        (``(..., H, W)``)."""
        return bool(self.exact_on_images)

    def exact_image_elements(self, shape):
        """The elements that move images of ``shape`` (``(..., H, W)``) exactly, by whole
        pixels: the quarter turns (half turns where H != W), each with its mirror where the
        group has mirrors. A subgroup (the identity at least); interpolated elements are out."""
        from ._images import _exact_turns

        if "image" not in self.layout_kinds:
            raise TypeError(f"{self.name} does not act on images; exact_image_elements is for groups "
                            "that do (C_n, D_n, SO2, O2).")
        turns = np.arange(4) * (np.pi / 2)
        mirrors = [False] if self.special else [False, True]
        wanted = [(a, m) for m in mirrors for a in turns]
        M = np.stack([rotation_matrices_2d(np.array([a]))[0] @ np.diag([-1.0 if m else 1.0, 1.0])
                      for a, m in wanted])
        E = self.nearest_element(M)
        angles, mirrored = self.image_motion(E)
        keep = [i for i, (a, m) in enumerate(wanted)
                if mirrored[i] == m and abs(np.angle(np.exp(1j * (angles[i] - a)))) < 1e-9
                and _exact_turns(np.array([a]), shape)[0] >= 0]
        return E[keep]

    # -- elements ---------------------------------------------------------------------------
    def sample(self, n, random_state=None, n_points=None):
        """Draw ``n`` elements (uniformly where the group is compact).

        ``n_points`` is needed by permutation groups only.
        """
        return self._draw(_count(n, "n", self), random_state, _points_count(n_points, self))

    def identity(self, n, n_points=None):
        """``n`` copies of the identity element."""
        return self._identity(_count(n, "n", self), _points_count(n_points, self))

    def _draw(self, n, random_state, n_points):
        raise NotImplementedError

    def _identity(self, n, n_points):
        raise NotImplementedError

    def inverse(self, g):
        raise NotImplementedError

    def compose(self, g, h):
        raise NotImplementedError

    def elements_close(self, g, h, atol=1e-6):
        """True where two batches of elements agree (per sample)."""
        g, h = np.asarray(g), np.asarray(h)
        axes = tuple(range(1, g.ndim))
        if np.issubdtype(g.dtype, np.integer):
            return np.all(g == h, axis=axes) if axes else g == h
        return np.all(np.abs(g - h) <= atol, axis=axes) if axes else np.abs(g - h) <= atol

    # -- action -----------------------------------------------------------------------------
    def act(self, g, P, layout):
        """Act with ``g`` on the working array ``P`` of ``layout``; returns a new array."""
        kind = getattr(layout, "kind", None)
        if kind == "image":
            if getattr(P, "ndim", None) != 4:
                # (n, H, W) broadcast to (n, n, H, W) under mirrors and failed under
                # interpolated turns: working images always carry a channel axis
                raise ValueError(f"{self.name}.act takes working image arrays of shape (n, C, H, W); "
                                 f"got shape {tuple(getattr(P, 'shape', ()))}. Use apply(g, X, layout) "
                                 "for images as you hold them (flat rows, (n, H, W) or (n, C, H, W)).")
            return self._act_images(g, P)
        action = {"points": self._act_points, "graph": self._act_graphs, "fibre": self._act_fibres}.get(kind)
        if action is None:
            raise TypeError(f"{self.name} cannot act on layout {layout!r}.")
        return action(g, P, layout)

    def apply(self, g, X, layout):
        """Act on user data ``X`` (flat or multi-dimensional) and return it in the same shape.

        ``g``: one element per sample (:meth:`check_elements`); ``layout``: a layout or its
        name (``"points"``, ``"image"``...)."""
        X = np.asarray(X)
        layout = as_layout(layout, PointLayout(getattr(self, "d", None) or 3))
        P = layout.to_working(X)
        return layout.from_working(self.act(self.check_elements(g, P), P, layout), X.ndim)

    def check_elements(self, g, P, name="g"):
        """``g`` checked as one element of this group per sample of the working array ``P``
        (discrete groups: ints in range, a scalar for every sample; S_n: permutations of the
        points; matrix groups: shapes and finite entries, orthogonality for O(d)/SO(d));
        a ValueError naming ``name`` otherwise. Used where elements come from users
        (``apply``, the frames :func:`~skcanon.metrics.equivariance_error` checks), not on
        internal paths (its cost). The base class takes ``g`` as it is."""
        return g

    def _act_points(self, g, P, layout):
        raise TypeError(f"{self.name} does not act on point sets.")

    def image_motion(self, g):
        """Rotation angles ``(n,)`` and mirror flags ``(n,)`` of elements acting on images
        ("mirror left-right where flagged, then rotate about the centre"), read from the
        2-D linear parts; groups with exact angles (C_n, D_n) say so themselves."""
        from ._images import motion_from_matrices

        return motion_from_matrices(g if hasattr(g, "clone") else self.matrices(g))

    def _act_images(self, g, P):
        if "image" not in self.layout_kinds:
            raise TypeError(f"{self.name} does not act on images.")
        from ._images import act_on_images

        return act_on_images(self, g, P)

    def _act_graphs(self, g, P, layout):
        raise TypeError(f"{self.name} does not act on graphs (only node permutations do).")

    def _act_fibres(self, g, P, layout):
        raise TypeError(f"{self.name} does not act on regular-representation fibres.")

    def check_layout(self, layout):
        """Raise a clear error when this group cannot act on ``layout``."""

    # -- misc -------------------------------------------------------------------------------
    @property
    def factors(self):
        return (self,)

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self):
        return hash((type(self).__name__, self.name))


def _count(n, name, group, what="elements"):
    """``n`` as an int: a non-negative integer (0-d integer arrays too, bools refused).
    numpy's own message for a negative or fractional size named neither the group nor the
    parameter, and True drew one element."""
    try:
        value = None if isinstance(n, (bool, np.bool_)) else operator.index(n)
    except TypeError:
        value = None
    if value is None or value < 0:
        described = f"the number of {what} " + ("of " if what == "elements" else "for ") + group.name
        raise ValueError(f"{name} must be a non-negative integer ({described}); got {n!r}.")
    return int(value)


def _points_count(n_points, group):
    return None if n_points is None else _count(n_points, "n_points", group, "points per sample")


def rng(random_state):
    return check_random_state(random_state)


def rotation_matrices_2d(angles):
    """``(n,)`` angles in radians → ``(n, 2, 2)`` counter-clockwise rotation matrices."""
    c, s = np.cos(angles), np.sin(angles)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def rotate_fields(R, P, layout, t=None):
    """Apply ``x ↦ R x (+ t)`` to every geometric field of point working array ``P``.

    ``R`` is ``(n, d, d)``; ``t`` (``(n, d)``) moves positions only. Works for numpy
    arrays and torch tensors alike (the torch networks reuse it).
    """
    out = float_copy(P)
    if hasattr(P, "clone"):
        R = as_tensor_like(R, P)   # numpy elements too (``sample``)
        if t is not None:
            t = as_tensor_like(t, P)
    else:
        R = np.asarray(R, dtype=out.dtype)
    for f in layout.fields:
        if not f.is_geometric:
            continue
        sl = layout.slice_of(f.name)
        moved = P[..., sl] @ _transpose(R)
        if t is not None and f.kind == "position":
            moved = moved + t[:, None, :]
        out[..., sl] = moved
    return out


def _transpose(R):
    return R.transpose(-1, -2) if hasattr(R, "clone") else np.swapaxes(R, -1, -2)


def float_copy(P):
    """A copy of ``P`` that can hold the moved values: float input keeps its dtype, integer
    input becomes float64 (a rotation of integer coordinates is not an integer)."""
    if hasattr(P, "clone"):
        return P.clone()
    return P.copy() if np.issubdtype(P.dtype, np.floating) else P.astype(np.float64)


def as_tensor_like(a, P):
    """``a`` (numpy or torch) as a tensor of the torch tensor ``P``'s dtype and device:
    elements drawn by ``sample`` are numpy arrays, and the actions take them on tensors too."""
    import torch

    return torch.as_tensor(a, dtype=P.dtype, device=P.device)


def checked_frames(group, R, t=None):
    """``R`` (and ``t``) unchanged where ``R`` holds one ``d×d`` matrix per sample,
    ``(n, d, d)``, and ``t`` is None or ``(n, d)``: a ValueError naming them otherwise (numpy's
    broadcast and axis errors named neither). numpy arrays, lists or torch tensors."""
    d = group.d
    shape = tuple(R.shape) if hasattr(R, "shape") else np.shape(R)
    if len(shape) != 3 or shape[1:] != (d, d):
        raise ValueError(f"R must hold one {d}×{d} matrix per sample for {group.name}, shape (n, {d}, {d}); "
                         f"got shape {shape}.")
    if t is not None:
        t_shape = tuple(t.shape) if hasattr(t, "shape") else np.shape(t)
        if t_shape != (shape[0], d):
            raise ValueError(f"t must hold one translation per sample of R for {group.name}, shape "
                             f"({shape[0]}, {d}); got shape {t_shape}.")
    return R, t


def tensor_operands(g, h):
    """``(g, h, True)`` with both as torch tensors where either one is (the other moved to
    its dtype and device: elements drawn by ``sample`` are numpy arrays), else
    ``(g, h, False)`` unchanged: the group laws take tensors as the actions do."""
    if hasattr(g, "clone"):
        return g, (h if hasattr(h, "clone") else as_tensor_like(h, g)), True
    if hasattr(h, "clone"):
        return as_tensor_like(g, h), h, True
    return g, h, False


def translate_positions(t, P, layout):
    out = float_copy(P)
    if hasattr(P, "clone"):
        t = as_tensor_like(t, P)
    for sl in layout.slices("position"):
        out[..., sl] = P[..., sl] + t[:, None, :]
    return out


def check_dimension(d, cls):
    """``d`` as a positive int; a float, bool or string would be truncated or misread silently
    (``OrthogonalGroup(2.7)`` became O2)."""
    if isinstance(d, (bool, np.bool_)) or not isinstance(d, (Integral, np.integer)):
        raise TypeError(f"{cls}: d must be a positive int (the dimension), got {type(d).__name__} {d!r}.")
    if d < 1:
        raise ValueError(f"{cls}: d must be a positive int (the dimension), got {d!r}.")
    return int(d)


def check_flag(value, name, cls):
    """A yes/no option: a truthy string such as ``"no"`` must not pass for True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{cls}: {name} must be a bool, got {type(value).__name__} {value!r}.")
    return bool(value)


def check_real(value, name, cls, minimum, what):
    """A finite real number ``>= minimum``; ``what`` says what it controls."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.integer, np.floating)):
        raise TypeError(f"{cls}: {name} must be a real number ({what}), "
                        f"got {type(value).__name__} {value!r}.")
    value = float(value)
    if not (np.isfinite(value) and value >= minimum):
        raise ValueError(f"{cls}: {name} must be a finite number >= {minimum:g} ({what}), got {value!r}.")
    return value


def require_points_dims(group, layout, d):
    if getattr(layout, "kind", None) == "graph":
        raise TypeError(f"{group.name} does not act on graphs; graphs only have node permutations (S_n).")
    if not isinstance(layout, PointLayout):
        raise TypeError(f"{group.name} acts on point sets; got layout {layout!r}.")
    if layout.n_dims != d:
        raise ValueError(
            f"group {group.name!r} acts in {d} dimensions, but the layout has n_dims={layout.n_dims}."
        )


def checked_indices(group, g, n_samples, order, name="g"):
    """Discrete elements ``g`` (ints in ``[0, order)``) for ``n_samples`` samples: a scalar
    applies to every sample; a ValueError naming ``name`` for other counts, non-integers
    (``0.5`` turned C4 points by 45°) or indices out of range (D4 read 9 as r¹)."""
    arr = np.asarray(g)
    if arr.ndim == 0:
        arr = np.broadcast_to(arr, (n_samples,))
    integral = np.issubdtype(arr.dtype, np.integer) or (
        np.issubdtype(arr.dtype, np.floating) and np.isfinite(arr).all() and (arr == np.round(arr)).all())
    if arr.shape != (n_samples,) or not integral or isinstance(g, (bool, np.bool_)) \
            or np.issubdtype(arr.dtype, np.bool_):
        raise ValueError(f"{name} must hold one int element of {group.name} per sample ({n_samples}), in "
                         f"[0, {order}); got {'dtype ' + arr.dtype.name if not integral else 'shape ' + str(arr.shape)}.")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= order):
        raise ValueError(f"{name} holds elements outside [0, {order}) of {group.name}: "
                         f"{arr[(arr < 0) | (arr >= order)][:5].tolist()}.")
    return arr


def checked_array(group, g, n_samples, shape, name="g", what="elements"):
    """Elements given as arrays (matrices, translations, factors): numpy ``g`` must have shape
    ``(n_samples, *shape)`` and finite entries; a ValueError naming ``name`` otherwise
    (numpy's broadcast and index errors named neither). torch tensors pass unchecked."""
    if hasattr(g, "clone"):
        return g
    arr = np.asarray(g)
    finite = np.issubdtype(arr.dtype, np.number) and bool(np.isfinite(arr).all())
    if arr.shape != (n_samples, *shape) or not finite:
        raise ValueError(f"{name} must hold one element of {group.name} per sample: finite {what} of shape "
                         f"({n_samples}, {', '.join(map(str, shape))}); got shape {arr.shape}"
                         f"{'' if finite else ' with non-finite or non-numeric entries'}.")
    return arr
