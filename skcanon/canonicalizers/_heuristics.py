"""Fixed (non-learned) canonicalizers: centroid, scale, PCA frames, orbit, image moments, sort.

One concern: the heuristic canonicalizer classes — which groups each supports (by the
groups' capabilities), when it is the default, and its fast ``canonicalize``. The numeric
work lives in :mod:`skcanon._kernels`.
"""

from __future__ import annotations

import numpy as np

from .._kernels.fields import (
    attached_radius,
    divide_geometric,
    geometric_field,
    geometric_points,
    point_means,
    rescale_points,
    shift_columns,
    weighted_centroid,
)
from .._kernels.lexsort import (fast_lexsort, gather_points, magnitude_groups, scaled_by_group,
                               sort_key_columns, tolerant_lexsort)
from .._kernels.orbit import smallest_form_element, tolerant_smallest
from .._kernels.pca import (
    compiled_kernels,
    fast_moment_frames,
    fast_pca,
    pca_frames,
    pca_group_frames,
    pixel_grid,
    rounding_unit,
)
from ..layouts import ImageLayout
from ._base import Canonicalizer



class CentroidCanonicalizer(Canonicalizer):
    """T(d): move the mean of the present points' positions to the origin.

    Frame: the centroid ``c(x)``; ``c(x + t) = c(x) + t``. Cost ``O(n·m·d)``.
    """

    method = "centroid"
    priority = 0

    @classmethod
    def supports(cls, group, layout=None):
        # translations alone: groups that also rotate or rescale have their own frames
        return (group.translates and not group.rotates and not group.rescales
                and (layout is None or group.acts_on(layout)))

    @classmethod
    def default_for(cls, group, layout=None):
        return cls.supports(group)

    def frames(self, P, layout):
        Y, w, is_position = geometric_points(P, layout)
        if not is_position:
            raise ValueError("method='centroid' needs a position field in the layout.")
        return weighted_centroid(Y, w)

    def canonicalize(self, P, layout):
        if P.dtype not in (np.float32, np.float64) or not layout.has_positions or 0 in P.shape[:2]:
            return super().canonicalize(P, layout)
        n, m, _ = P.shape
        sl = layout.slice_of(geometric_field(layout).name)
        T = np.ascontiguousarray(np.swapaxes(P[..., sl], 1, 2))
        with np.errstate(over="ignore", invalid="ignore"):
            c = point_means(T)   # summed in float64: a float32 sum lost far clouds' centroids
        bad = ~np.isfinite(c).all(axis=1)
        if bad.any():  # absent (NaN) points: the general path weighs them out, for those samples only
            return _split_paths(P, bad, lambda Q: self.canonicalize(Q, layout),
                                lambda Q: super(CentroidCanonicalizer, self).canonicalize(Q, layout))
        out = P.copy() if layout.width != sl.stop - sl.start else np.empty_like(P)
        for pos in layout.slices("position"):
            shift_columns(P[..., pos], c, out[..., pos])
        return out, c.astype(np.float64)


def _split_paths(P, bad, fast, general):
    """``(out, frames)`` with the ``bad`` samples from ``general`` and the others from
    ``fast``, so a sample's output does not depend on what else is in its batch."""
    good = np.flatnonzero(~bad)
    out_b, h_b = general(P[bad])
    if not good.size:
        return out_b, h_b
    out_g, h_g = fast(P[good])
    out = np.empty(P.shape, dtype=out_g.dtype)
    h = np.empty((len(P),) + h_g.shape[1:], dtype=h_g.dtype)
    out[good], h[good] = out_g, h_g
    out[bad], h[bad] = out_b, h_b
    return out, h


#: per dtype, sums of squares the scale fast path trusts (precise, not near overflow)
_SQUARE_RANGE = {np.dtype(np.float32): (1e-30, 1e36), np.dtype(np.float64): (1e-290, 1e300)}


class ScaleCanonicalizer(Canonicalizer):
    """Scaling: divide positions and vectors by their root-mean-square norm.

    Frame: ``s(x) = sqrt(mean_i |x_i|²)`` over present points (about the origin);
    ``s(λx) = λ s(x)``. Where those points are all at the origin the other vector and
    position fields give the size the same way; all-zero samples get ``s = 1``.
    """

    method = "scale"
    priority = 1

    @classmethod
    def supports(cls, group, layout=None):
        return (group.rescales and not group.rotates and not group.translates
                and (layout is None or group.acts_on(layout)))

    @classmethod
    def default_for(cls, group, layout=None):
        return cls.supports(group)

    def frames(self, P, layout):
        Y, w, _ = geometric_points(P, layout)
        W = np.maximum(w.sum(axis=1), 1.0)
        # from points rescaled to a largest norm of 1: no overflow or underflow in the squares
        Y, a = rescale_points(Y, w)
        s = np.sqrt(np.einsum("nm,nmd->n", w, Y**2) / W) * a
        # every frame point at the origin: the other fields give the size (velocities of
        # particles at rest at 0 scale with the sample too); 1 when they are zero as well
        zero = ~(s > 0)
        if zero.any():
            s[zero] = attached_radius(P[zero], layout)
        return s

    def canonicalize(self, P, layout):
        if P.dtype not in (np.float32, np.float64) or 0 in P.shape[:2]:
            return super().canonicalize(P, layout)
        n, m, _ = P.shape
        sl = layout.slice_of(geometric_field(layout).name)
        with np.errstate(over="ignore", invalid="ignore"):
            if sl.stop - sl.start == layout.width:
                flat = P.reshape(n, -1)
                ss = np.einsum("ni,ni->n", flat, flat)
            else:
                Y = P[..., sl]
                ss = np.einsum("nmd,nmd->n", Y, Y)
        # absent (NaN) points, or squares that overflow or lose precision to underflow in the
        # working dtype (all-zero samples too, which may be underflow): the general path
        # weighs them out and rescales
        low, high = _SQUARE_RANGE[P.dtype]
        bad = ~((ss > low) & (ss < high))
        if bad.any():   # those samples only: each sample's path depends on it alone
            return _split_paths(P, bad, lambda Q: self.canonicalize(Q, layout),
                                lambda Q: self._divide(Q, layout, self.frames(Q, layout)))
        s = np.sqrt(ss.astype(np.float64) / m)
        s = np.where(s > 0, s, 1.0)
        inv = (1.0 / s).astype(P.dtype)
        if all(f.is_geometric for f in layout.fields):
            return (P.reshape(n, -1) * inv[:, None]).reshape(P.shape), s
        out = P.copy()
        for f in layout.fields:
            if f.is_geometric:
                fs = layout.slice_of(f.name)
                out[..., fs] = P[..., fs] * inv[:, None, None]
        return out, s

    @staticmethod
    def _divide(P, layout, s):
        return divide_geometric(P, layout, s), s


class PCACanonicalizer(Canonicalizer):
    """Any group of rotations (with or without translations) on points, by principal axes.

    O(d), SO(d), E(d), SE(d), and finite rotation groups (C_n/D_n on 2-D points, and any
    other that rounds a rotation to its nearest element). The covariance of the present
    points about their centroid gives the axes (by decreasing variance); the sign of each
    axis makes the third moment along it positive, and for special groups the least
    certain axis is flipped when the determinant is -1. For groups that translate the
    frame also carries the centroid as its translation. Repeated eigenvalues and symmetric
    shapes follow the rules in :mod:`skcanon.canonicalizers`. Finite groups round the
    continuous frame to the nearest group element (``group.nearest_element``), which keeps
    the frame equivariant. Cost ``O(n·m·d²)`` plus a batched ``d×d`` eigendecomposition.
    """

    method = "pca"

    @classmethod
    def supports(cls, group, layout=None):
        return (group.rotates and not group.rescales and "points" in group.layout_kinds
                and (layout is None or getattr(layout, "kind", None) == "points"))

    @classmethod
    def default_for(cls, group, layout=None):
        return cls.supports(group) and getattr(layout, "kind", None) != "image"

    def check_layout(self, layout):
        if getattr(layout, "kind", None) != "points":
            raise ValueError(
                f"method='pca' works on point sets; for images use method='moments'. Got {layout!r}."
            )
        self.group.check_layout(layout)

    def frames(self, P, layout):
        return pca_group_frames(self.group, P, layout)

    def _takes_fast_path(self, dtype, layout, shape):
        # the fast path returns continuous frames as they are; finite groups round them
        g = self.group
        return (np.dtype(dtype) in (np.float32, np.float64) and not g.is_finite
                and (layout.has_positions or not g.translates) and 0 not in shape[:2])

    def output_dtype(self, dtype, layout):
        """The input's dtype wherever the fast path runs (the general path's rows are
        written into its output)."""
        return np.dtype(dtype) if self._takes_fast_path(dtype, layout, (1, 1)) else None

    #: the general path's rows may be deferred (see :attr:`Canonicalizer.defers`)
    defers = True

    def canonicalize(self, P, layout, deferred=None):
        """Canonical forms and frames; a vectorized fast path serves samples without
        absent points whose axes and signs are clearly determined (generic data), the
        general path (:meth:`frames`, then the group action) all others — or, with a
        ``deferred`` list, leaves them to the caller (:attr:`Canonicalizer.defers`)."""
        if not self._takes_fast_path(P.dtype, layout, P.shape):
            return super().canonicalize(P, layout)
        return self._canonicalize_fast(P, layout, None, deferred)

    def canonicalize_into(self, P, layout, out, deferred=None):
        """:meth:`canonicalize` writing the canonical forms straight into ``out`` (the same
        values; no copy of the result where the fast path runs)."""
        if (not self._takes_fast_path(P.dtype, layout, P.shape) or out.dtype != P.dtype
                or out.shape != P.shape or not out.flags.c_contiguous):
            return super().canonicalize_into(P, layout, out)
        return self._canonicalize_fast(P, layout, out, deferred)[1]

    def _canonicalize_fast(self, P, layout, out, deferred=None):
        # the compiled fused pass (3-D points, where SKCANON_NUMBA and numba allow), decided
        # once per call; otherwise numpy's passes
        sl = layout.slice_of(geometric_field(layout).name)
        kernels = compiled_kernels(P.shape[0]) if sl.stop - sl.start == 3 else None
        out, h, ok = self._fast_canonicalize(P, layout, kernels=kernels, out=out)
        rest = np.flatnonzero(~ok)
        if rest.size and P.dtype != np.float64 and kernels is None:
            # float32 rounding leaves some signs too close to call; float64 settles most
            # (samples with absent points go straight to the general path); the tie
            # tolerances stay those of the input's rounding. The compiled kernels already
            # accumulate in float64: what they refuse, a retry would refuse too
            retry = rest[np.isfinite(P[rest]).all(axis=(1, 2))]
            if retry.size:
                out64, h64, ok64 = self._fast_canonicalize(P[retry].astype(np.float64), layout,
                                                           eps=rounding_unit(P), kernels=None)
                out[retry[ok64]], h[retry[ok64]] = out64[ok64], h64[ok64]
                rest = np.setdiff1d(rest, retry[ok64], assume_unique=True)
        if rest.size and deferred is not None:
            # placeholders: the input rows (ordinary data for the steps after this one)
            out[rest] = P[rest]
            deferred.extend(rest.tolist())
        elif rest.size:
            # everything the fast path refused goes through the general path
            out[rest], h[rest] = super().canonicalize(P[rest], layout)
        return out, h

    def _fast_canonicalize(self, P, layout, eps=None, kernels=None, out=None):
        """``(out, frames, ok)`` from :func:`fast_pca` (``kernels``: its compiled pass or
        None); rows where ``ok`` is False are placeholders for the general path to
        overwrite. ``out``: a C-contiguous array of ``P``'s shape and dtype to write into
        (None: a new one)."""
        g = self.group
        translating = g.translates
        field = geometric_field(layout)
        sl = layout.slice_of(field.name)
        whole = layout.width == sl.stop - sl.start   # the frame's own field is the whole sample
        # absent points make a sample's centroid NaN: fast_pca refuses it (no separate pass)
        E, c, Z, ok = fast_pca(P[..., sl], special=g.special, centre=translating, eps=eps, kernels=kernels,
                               out=out if whole else None)
        if whole:
            out = Z
        else:
            out = np.empty_like(P) if out is None else out
            Ed = E.astype(P.dtype)
            for f in layout.fields:
                fs = layout.slice_of(f.name)
                if not f.is_geometric:
                    out[..., fs] = P[..., fs]
                elif f.name == field.name:
                    out[..., fs] = Z
                elif f.kind == "position" and translating:
                    shift = np.einsum("nd,nde->ne", c, E).astype(P.dtype)
                    shift_columns(np.matmul(P[..., fs], Ed), shift, out[..., fs])
                else:
                    out[..., fs] = np.matmul(P[..., fs], Ed)
        # refused rows hold placeholder frames (zeros: not elements) until the general path
        # overwrites them: the identity stands in so that nearest_element reads elements only
        if not ok.all():
            E = np.where(ok[:, None, None], E, np.eye(E.shape[-1], dtype=E.dtype))
        return out, g.nearest_element(E, c if translating else None), ok




class OrbitCanonicalizer(Canonicalizer):
    """Any finite group of point-set symmetries without translations, by its whole orbit.

    The frame is the element ``g`` whose candidate canonical form ``g⁻¹·x`` is smallest
    under a tolerant, point-order-independent key
    (:func:`~skcanon._kernels.orbit.smallest_form_element`): exact for every input,
    symmetric ones included, and it needs nothing from the group but its list of elements
    and its action. Cost: ``order`` actions of the group per sample, so it suits small
    groups (C_n, D_n, the polyhedral groups); ``pca`` is the faster default.
    """

    method = "orbit"

    @classmethod
    def supports(cls, group, layout=None):
        return (group.is_finite and not group.translates and "points" in group.layout_kinds
                and (layout is None or getattr(layout, "kind", None) == "points"))

    def check_layout(self, layout):
        if getattr(layout, "kind", None) != "points":
            raise ValueError(f"method='orbit' works on point sets; got {layout!r}.")
        self.group.check_layout(layout)

    def frames(self, P, layout):
        return smallest_form_element(self.group, P, layout, eps=rounding_unit(P))


class MomentsCanonicalizer(Canonicalizer):
    """SO(2), O(2), C_n, D_n on images: orientation from intensity moments.

    Treats pixels as 2-D points weighted by ``|intensity|`` (summed over channels), with
    ``x`` to the right and ``y`` up about the image centre, and takes their PCA frame
    (third-moment signs; see :class:`PCACanonicalizer`). SO(2)/O(2) rotate by the
    continuous angle (interpolated); C_n/D_n round it to the nearest group element, which is
    exact for multiples of 90°. Isotropic images (equal second moments, e.g. a disc) fall
    back to the point rule, which for images depends on the pixel grid; blank images get
    the identity. For groups that move pixels exactly (C_n, D_n with n dividing 4), an
    image whose fallback canonical form changes (beyond rounding) along its orbit — a
    pinwheel under D4, or under D_n an axis exactly half-way between two elements (common
    in small binary glyphs), where rounding cannot commute with the mirrors — takes the
    orbit's own rule instead: the element whose moved image is lexicographically largest.
    Groups with interpolated moves (C8, D8, C6, D6, D3, SO(2), O(2), and C4/D4 on
    non-square images) apply a rule on the orbit of their exact moves (quarter turns, or
    half turns and mirrors on non-square images;
    :meth:`~skcanon.groups.Group.exact_image_elements`): such an image is oriented by the
    moments of each of its exact moves, and the candidate with the largest canonical form
    wins, so the exact moves change its canonical form by rounding at most; the
    interpolated moves still leave the orientation of a pinwheel, a single pixel or a
    C2-symmetric shape to the pixel grid.
    """

    method = "moments"

    @classmethod
    def supports(cls, group, layout=None):
        # rotations about the image centre; check_layout names what a point layout lacks
        return (group.rotates and "image" in group.layout_kinds and not group.translates and not group.rescales
                and (layout is None or (getattr(layout, "kind", None) == "image" and group.acts_on(layout))))

    @classmethod
    def default_for(cls, group, layout=None):
        return cls.supports(group) and getattr(layout, "kind", None) == "image"

    def check_layout(self, layout):
        if getattr(layout, "kind", None) != "image":
            raise ValueError(
                f"method='moments' works on images (layout=ImageLayout or 'image'); got {layout!r}."
            )
        self.group.check_layout(layout)

    def frames(self, P, layout):
        P = np.asarray(P)
        E, ambiguous = self._moment_elements(P)
        if not ambiguous.size:
            return E
        G = self.group
        if G.is_finite and G.exact_on_image_shape(P.shape):
            # moments up to order three cannot orient some images at all (a pinwheel is
            # C4-symmetric but not mirror-symmetric: the pixel-grid fallback leaves its D4
            # mirror to chance). Where the group moves pixels exactly, an image whose
            # fallback canonical form changes along its orbit takes the orbit's own rule,
            # exact for every image; the others keep the fallback (as consistent across
            # samples as before: on rotated digits it classified better).
            undecided = ambiguous[~self._same_form_on_orbit(P[ambiguous], G.elements())]
            if undecided.size:
                E[undecided] = _largest_form_elements(G, P[undecided])
            return E
        exact = G.exact_image_elements(P.shape)
        if len(exact) > 1:
            # the elements that move pixels exactly (quarter turns of C8 or SO(2) on square
            # images, half turns and mirrors of D4 on others) get a rule of their own orbits:
            # an undecided image is oriented by the moments of each of its exact moves, and
            # the candidate whose canonical form is largest wins. An exact move of the image
            # permutes the candidates' forms, so it gets the same form (a first version took
            # the largest move only, and tied moves then chose among different forms)
            undecided = ambiguous[~self._same_form_on_orbit(P[ambiguous], exact)]
            if undecided.size:
                E[undecided] = self._largest_moment_form(P[undecided], exact)
        return E

    def _largest_moment_form(self, P, exact):
        """Per image, the element ``g = h·k`` (``h`` among the ``exact`` moves, ``k`` the
        moments' element of ``h⁻¹·x``) whose canonical form ``g⁻¹·x`` is largest, up to
        :func:`_form_tolerance` (ties: the first candidate)."""
        G, n, image = self.group, len(P), ImageLayout()
        candidates, forms = [], []
        for h in exact:
            h = G.repeat(h, n)
            g = G.compose(h, self._moment_elements(G.act(G.inverse(h), P, image))[0])
            candidates.append(g)
            forms.append(G.act(G.inverse(g), P, image).reshape(n, -1))
        largest = tolerant_smallest(-np.stack(forms, axis=1), _form_tolerance(P))
        pick = np.argmax(largest, axis=1)
        return np.stack(candidates, axis=1)[np.arange(n), pick]

    def _moment_elements(self, P):
        """Group elements from the moments (fast path, then the general rules for the
        ambiguous images) and the indices of those ambiguous images."""
        n, _, h, w_ = P.shape
        grid = pixel_grid(h, w_)
        weights = np.abs(np.asarray(P, dtype=np.float64)).sum(axis=1).reshape(n, -1)
        special = self.group.special
        E, ok = fast_moment_frames(weights, grid, special)
        rest = np.flatnonzero(~ok)
        if rest.size:
            # ambiguous images (blank, isotropic, undecided signs) take the general rules
            Y = np.broadcast_to(grid, (rest.size,) + grid.shape)
            c = weighted_centroid(Y, weights[rest])
            E[rest] = pca_frames(Y - c[:, None, :], weights[rest], special=special, resolve_ties=False,
                                 offset=c)
        if self.group.is_finite and not special:
            # an axis half-way between two elements: rounding it cannot commute with the
            # mirrors (half up becomes half down), so these images are ambiguous too
            rest = np.union1d(rest, np.flatnonzero(self.group.near_tie(E)))
        return self.group.nearest_element(E), rest

    def _same_form_on_orbit(self, P, elements):
        """True per image where every move of it by ``elements`` (a subgroup: the group, or
        the elements that move pixels exactly) gets the same canonical form from
        :meth:`_moment_elements`, up to rounding (:func:`_form_tolerance`). The spread is
        taken over the whole orbit, so the images of one orbit all decide alike."""
        G, n, image = self.group, len(P), ImageLayout()
        forms = []
        for g in elements:
            moved = G.act(G.repeat(g, n), P, image)
            h = self._moment_elements(moved)[0]
            forms.append(G.act(G.inverse(h), moved, image).reshape(n, -1))
        forms = np.stack(forms)
        return (forms.max(axis=0) - forms.min(axis=0)).max(axis=1) <= _form_tolerance(P)


def _form_tolerance(P):
    """Per image, the difference between canonical forms that counts as rounding: 1e3 units
    of the dtype's rounding times the image's largest magnitude (unchanged by the moves)."""
    scale = np.abs(P).reshape(len(P), -1).max(axis=1, initial=0.0)
    return 1e3 * rounding_unit(P) * np.where(scale > 0, scale, 1.0)


def _largest_form_elements(group, P):
    """For a finite group acting on images by exact pixel moves (C_n, D_n with n | 4), the
    element ``g`` per image whose candidate canonical form ``g⁻¹·x`` is lexicographically
    largest (pixels in C-order, channels first; differences within :func:`_form_tolerance`
    count as equal, anchored at the largest value as in the point-set ``orbit`` rule, so
    the choice does not depend on the order of the candidates); ties (the image's own
    symmetries) go to the lowest element index, so a blank image keeps the identity.
    Invariant: a moved image has the same orbit of forms.
    """
    elements = np.asarray(group.elements())
    inverse = group.inverse(elements)
    n = len(P)
    forms = np.stack([group.act(group.repeat(e, n), P, ImageLayout()).reshape(n, -1) for e in inverse], axis=1)
    largest = tolerant_smallest(-forms, _form_tolerance(P))
    return elements[np.argmax(largest, axis=1)]


class SortCanonicalizer(Canonicalizer):
    """S_n: order the points lexicographically by their columns.

    Keys are compared column by column; values closer than a relative tolerance
    (``1e-9`` of the sample's largest magnitude for float64 input, ``1e-4`` for float32)
    count as equal so that float noise does not reorder tied points. Remaining ties
    (duplicate points) keep their input order — the canonical output is the same
    whichever duplicate comes first. Absent points (NaN rows) go last.
    Cost: one ``argsort`` per sample for generic data, one more per column where ties occur.

    Parameters
    ----------
    group : PermutationGroup
    key_order : {"columns", "scalars_first"}, default="columns"
        Which columns lead the key: the layout's own order (positions first, as the columns
        come), or the scalar fields first (e.g. atomic numbers, then coordinates), so that
        points of one kind are grouped together before their coordinates order them.
    """

    method = "sort"
    priority = 3
    #: constructor options a transformer may pass on
    options = ("key_order",)
    #: accepted values of ``key_order``
    KEY_ORDERS = ("columns", "scalars_first")

    @classmethod
    def supports(cls, group, layout=None):
        # check_layout explains why graphs need "wl"; with a layout given, graphs are out
        return (group.permutes and not (group.rotates or group.translates or group.rescales)
                and (layout is None or getattr(layout, "kind", None) == "points"))

    @classmethod
    def default_for(cls, group, layout=None):
        return cls.supports(group) and getattr(layout, "kind", None) != "graph"

    def __init__(self, group, key_order="columns"):
        super().__init__(group)
        if key_order not in self.KEY_ORDERS:
            raise ValueError(f"key_order must be one of {self.KEY_ORDERS}; got {key_order!r}.")
        self.key_order = key_order

    def __setstate__(self, state):
        state.setdefault("key_order", "columns")  # pickled before key_order existed
        self.__dict__.update(state)

    def check_layout(self, layout):
        if getattr(layout, "kind", None) == "graph":
            raise ValueError("method='sort' orders rows only; graphs also permute adjacency columns. "
                             "Use method='wl' for graphs.")
        self.group.check_layout(layout)

    def _key_columns(self, layout):
        return sort_key_columns(layout, self.key_order)

    def _keys(self, P, layout):
        """The sort keys of ``P``, or None where they are ``P`` itself: the columns in key
        order, with column groups in other units brought level (:func:`scaled_by_group`)."""
        cols = self._key_columns(layout)
        keys = P if cols is None else P[..., cols]
        groups = magnitude_groups(layout, cols)
        scaled = None if groups is None else scaled_by_group(keys, groups)
        if scaled is not None:
            return scaled
        return None if cols is None else keys

    def frames(self, P, layout):
        keys = self._keys(P, layout)
        return tolerant_lexsort(P if keys is None else keys)

    def canonicalize(self, P, layout):
        keys = self._keys(P, layout)
        if keys is not None:
            h = tolerant_lexsort(keys)
            return gather_points(P, h), h
        h, out = fast_lexsort(P)
        if h is None:
            h = tolerant_lexsort(P)
            out = gather_points(P, h)
        return out, h

    def output_dtype(self, dtype, layout):
        """The input's dtype (a permutation of its rows)."""
        return np.dtype(dtype) if np.dtype(dtype) in (np.float32, np.float64) else None

    def canonicalize_into(self, P, layout, out):
        """:meth:`canonicalize` gathering the sorted points straight into ``out`` (the same
        values, no copy of the result)."""
        if out.dtype != P.dtype or out.shape != P.shape or not out.flags.c_contiguous:
            return super().canonicalize_into(P, layout, out)
        keys = self._keys(P, layout)
        if keys is not None:
            h = tolerant_lexsort(keys)
        else:
            h, _ = fast_lexsort(P, out=out)
            if h is not None:
                return h
            h = tolerant_lexsort(P)
        gather_points(P, h, out=out)
        return h


