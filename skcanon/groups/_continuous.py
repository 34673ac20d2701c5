"""Continuous groups: O(d), SO(d), translations T(d), E(d)/SE(d), similarities and scaling."""

from __future__ import annotations

import numpy as np

from ._base import (
    Group,
    as_tensor_like,
    _transpose,
    check_dimension,
    checked_array,
    check_flag,
    check_real,
    checked_frames,
    float_copy,
    require_points_dims,
    rng,
    rotate_fields,
    tensor_operands,
    translate_positions,
)


def haar_orthogonal(n, d, random_state=None, special=False, *, like=None):
    """``n`` Haar-random ``d×d`` orthogonal (``special``: rotation) matrices.

    numpy by default (``random_state`` seeds it); with ``like`` a torch tensor, drawn by
    torch's generator (``random_state`` may be a ``torch.Generator``) on ``like``'s device
    and dtype — the training loops sample on the device this way, with the same rule.
    """
    if like is not None and hasattr(like, "clone"):
        import torch

        gen = random_state if isinstance(random_state, torch.Generator) else None
        A = torch.randn(n, d, d, dtype=like.dtype, device=like.device, generator=gen)
        Q, R = torch.linalg.qr(A)
        diag, det = torch.diagonal(R, dim1=1, dim2=2), torch.linalg.det
    else:
        A = rng(random_state).standard_normal((n, d, d))
        Q, R = np.linalg.qr(A)
        diag, det = np.diagonal(R, axis1=1, axis2=2), np.linalg.det
    # make the decomposition unique so Q is Haar distributed
    Q = Q * (diag / abs(diag))[:, None, :]
    if special:
        # reflections become rotations by flipping their first axis
        sign = 1.0 - 2.0 * (det(Q) < 0)
        first = Q[:, :, :1] * sign[:, None, None]
        Q = (torch.cat if hasattr(Q, "clone") else np.concatenate)([first, Q[:, :, 1:]], -1)
    return Q



#: largest |R Rᵀ − I| of an element's linear part (O(d), and E(d)/Sim(d) after the scale)
ORTHOGONALITY_TOL = 1e-4


def nearest_motions(group, R):
    """The linear parts of ``group``'s elements nearest to ``R`` (float64 ``(n, d, d)``):
    each matrix that is not one (``|A Aᵀ − I|`` beyond :data:`ORTHOGONALITY_TOL` after
    dividing out its RMS scale under Sim(d), or of negative determinant under the proper
    groups) is replaced by the nearest one in Frobenius norm, ``U Vᵀ`` of its SVD (the axis
    of the smallest singular value flipped where the determinant must be +1), times the scale
    under Sim(d). Matrices that are already elements, and non-finite ones, are kept bit for bit.

    Raises
    ------
    ValueError
        Where a matrix to replace is singular (rank < d): every orthogonal matrix at the
        same distance from its null directions is as near, so there is no nearest element.
    """
    d = R.shape[-1]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        finite = np.isfinite(R).all(axis=(1, 2))
        scale = np.ones(len(R))
        if group.rescales:
            # the RMS entry, computed on R divided by its largest entry (no over/underflow)
            peak = np.where(finite, np.abs(R).max(axis=(1, 2)), 1.0)
            unit = np.where(peak > 0, peak, 1.0)
            scale = np.sqrt(((R / unit[:, None, None]) ** 2).sum(axis=(1, 2)) / d) * unit
            scale = np.where(scale > 0, scale, 1.0)
        A = R / scale[:, None, None] if group.rescales else R
        off = np.abs(A @ np.swapaxes(A, -1, -2) - np.eye(d)).max(axis=(1, 2))
        need = finite & (off > ORTHOGONALITY_TOL)
        if group.special:
            need |= finite & (np.linalg.det(A) < 0)
    if not need.any():
        return R
    U, S, Vt = np.linalg.svd(A[need])
    singular = S[:, -1] <= S[:, 0] * d * np.finfo(np.float64).eps
    if singular.any():
        rows = np.flatnonzero(need)[singular]
        shown = ", ".join(map(str, rows[:10])) + (", ..." if rows.size > 10 else "")
        raise ValueError(
            f"R must hold invertible {d}×{d} matrices for {group.name}.nearest_element: R[{shown}] "
            f"{'is' if rows.size == 1 else 'are'} singular (rank < {d}), so no single element of "
            f"{group.name} is nearest. Pass orthogonal frames (or ones close to orthogonal).")
    if group.special:
        flip = np.linalg.det(U) * np.linalg.det(Vt) < 0
        U[flip, :, -1] *= -1.0
    R = R.copy()   # R may be the caller's array
    R[need] = (U @ Vt) * scale[need][:, None, None]
    return R


def _orthogonality_error(R):
    """``max |R Rᵀ − I|`` over a batch of ``(n, d, d)`` matrices."""
    return np.abs(R @ np.swapaxes(R, -1, -2) - np.eye(R.shape[-1])).max()

class OrthogonalGroup(Group):
    """O(d) (``special=False``) or SO(d) (``special=True``) acting linearly on vectors.

    Elements are ``(n, d, d)`` orthogonal matrices. On point sets they rotate (and reflect)
    every position and vector field about the origin; scalars are untouched. For ``d = 2``
    they also act on images, rotating about the image centre (bilinear interpolation for
    angles that are not multiples of 90°; a reflection mirrors left-right first).

    Parameters
    ----------
    d : int
        Dimension.
    special : bool, default=False
        Restrict to determinant +1.
    """

    rotates = True

    def __init__(self, d, special=False):
        self.d = check_dimension(d, "OrthogonalGroup")
        self.special = check_flag(special, "special", "OrthogonalGroup")
        self.name = f"{'SO' if special else 'O'}{self.d}"
        self.exact_on_images = False

    @property
    def layout_kinds(self):
        # a property, not an attribute: groups pickled by earlier versions keep working
        return frozenset({"points", "image"} if self.d == 2 else {"points"})

    def matrices(self, g):
        return np.asarray(g)

    def nearest_element(self, R, t=None):
        """``R`` as it is (float64) where it is orthogonal; any other matrix becomes the
        nearest orthogonal one (polar factor ``U Vᵀ`` of its SVD), and under SO(d) a matrix of
        negative determinant (a reflection, which ``apply`` refuses) the nearest rotation.
        Singular matrices raise a ValueError. ``t`` is ignored."""
        R = np.array(checked_frames(self, R)[0], dtype=np.float64)
        return nearest_motions(self, R)

    def grid(self, n, random_state=0, n_points=None):
        if self.d == 2 and self.special:
            # evenly spaced angles
            from ._base import _count, rotation_matrices_2d

            n = _count(n, "n", self)
            return rotation_matrices_2d(2 * np.pi * np.arange(n) / n)
        return self.sample(n, random_state)

    def _draw(self, n, random_state, n_points):
        return haar_orthogonal(n, self.d, random_state, self.special)

    def check_elements(self, g, P, name="g"):
        R = checked_array(self, g, P.shape[0], (self.d, self.d), name, "matrices")
        if not hasattr(R, "clone") and R.size:
            off = _orthogonality_error(R)
            if off > ORTHOGONALITY_TOL or (self.special and (np.linalg.det(R) < 0).any()):
                raise ValueError(f"{name} must hold {'rotation' if self.special else 'orthogonal'} matrices of "
                                 f"{self.name}; |R Rᵀ − I| reaches {off:.2g}"
                                 f"{' or a determinant is negative' if self.special else ''}.")
        return R

    def _identity(self, n, n_points):
        return np.broadcast_to(np.eye(self.d), (n, self.d, self.d)).copy()

    def inverse(self, g):
        if hasattr(g, "clone"):   # torch tensor: the same on its device, gradients kept
            return _transpose(g).clone()
        return np.swapaxes(g, -1, -2).copy()

    def compose(self, g, h):
        g, h, _ = tensor_operands(g, h)
        return g @ h

    def check_layout(self, layout):
        if getattr(layout, "kind", None) == "image":
            if self.d != 2:
                raise ValueError(f"{self.name} acts on images only for d=2.")
            return
        require_points_dims(self, layout, self.d)

    def _act_points(self, g, P, layout):
        require_points_dims(self, layout, self.d)
        return rotate_fields(g, P, layout)

    def _act_images(self, g, P):
        if self.d != 2:
            raise ValueError(f"{self.name} acts on images only for d=2.")
        return super()._act_images(g, P)


class TranslationGroup(Group):
    """T(d): translations of positions. Elements are ``(n, d)`` vectors.

    Parameters
    ----------
    d : int
        Dimension.
    scale : float, default=1.0
        Standard deviation of sampled translations.
    """

    translates = True
    layout_kinds = frozenset({"points"})

    def __init__(self, d, scale=1.0):
        self.d = check_dimension(d, "TranslationGroup")
        self.scale = check_real(scale, "scale", "TranslationGroup", 0.0, "std of sampled translations")
        self.name = f"T{self.d}"

    def _draw(self, n, random_state, n_points):
        return rng(random_state).standard_normal((n, self.d)) * self.scale

    def check_elements(self, g, P, name="g"):
        return checked_array(self, g, P.shape[0], (self.d,), name, "translation vectors")

    def _identity(self, n, n_points):
        return np.zeros((n, self.d))

    def inverse(self, g):
        return -g if hasattr(g, "clone") else -np.asarray(g)

    def compose(self, g, h):
        g, h, tensors = tensor_operands(g, h)
        return g + h if tensors else np.asarray(g) + np.asarray(h)

    def matrices(self, g):
        return np.broadcast_to(np.eye(self.d), (len(np.asarray(g)), self.d, self.d)).copy()

    def translations(self, g):
        return np.asarray(g)

    def nearest_element(self, R, t=None):
        R, t = checked_frames(self, R, t)
        return np.zeros((len(R), self.d)) if t is None else np.array(t, dtype=np.float64)

    def check_layout(self, layout):
        require_points_dims(self, layout, self.d)

    def _act_points(self, g, P, layout):
        require_points_dims(self, layout, self.d)
        return translate_positions(g, P, layout)


class _HomogeneousMotions(Group):
    """Shared parts of E(d) and Sim(d): ``(n, d+1, d+1)`` homogeneous matrices
    ``[[A, t], [0, 1]]`` acting by ``x ↦ A x + t`` on positions and ``v ↦ A v`` on vectors."""

    rotates = True
    translates = True
    layout_kinds = frozenset({"points"})

    def check_elements(self, g, P, name="g"):
        H = checked_array(self, g, P.shape[0], (self.d + 1, self.d + 1), name, "homogeneous matrices")
        if hasattr(H, "clone") or not H.size:
            return H
        d = self.d
        what = (f"homogeneous matrices [[A, t], [0, 1]] of {self.name} (A "
                + ("a positive multiple of " if self.rescales else "")
                + ("a rotation" if self.special else "an orthogonal matrix") + ")")
        bottom = np.abs(H[:, d, :] - np.eye(d + 1)[d]).max()
        A = np.asarray(H[:, :d, :d], dtype=np.float64)   # float64: squares of float32 scales overflow
        if self.rescales:   # Sim(d): A = s·R with s > 0
            # the RMS entry computed on A divided by its largest entry: squares of scales
            # beyond 1e±154 under- or overflowed, refusing the frames canonicalize returned
            peak = np.abs(A).max(axis=(1, 2))
            unit = np.where(peak > 0, peak, 1.0)[:, None, None]
            s = np.sqrt(((A / unit) ** 2).sum(axis=(1, 2)) / d) * unit[:, 0, 0]
            if not (s > 0).all():
                raise ValueError(f"{name} must hold {what}; a linear part is 0.")
            A = A / s[:, None, None]
        off = _orthogonality_error(A)
        if bottom > 1e-6 or off > ORTHOGONALITY_TOL or (self.special and (np.linalg.det(A) < 0).any()):
            scale = " after dividing out the scale" if self.rescales else ""
            sign = " or a determinant is negative" if self.special else ""
            raise ValueError(f"{name} must hold {what}; the last row differs from [0, ..., 0, 1] by "
                             f"{bottom:.2g}, |A Aᵀ − I| reaches {off:.2g}{scale}{sign}.")
        return H

    @staticmethod
    def from_parts(R, t):
        """Homogeneous matrices from linear parts ``(n, d, d)`` and translations ``(n, d)``
        (numpy arrays or torch tensors)."""
        n, d = t.shape
        if hasattr(R, "clone"):
            import torch

            H = torch.zeros((n, d + 1, d + 1), dtype=R.dtype, device=R.device)
        else:
            H = np.zeros((n, d + 1, d + 1), dtype=np.result_type(R, t))
        H[:, :d, :d] = R
        H[:, :d, d] = t
        H[:, d, d] = 1
        return H

    def parts(self, g):
        """Linear part and translation of homogeneous elements."""
        return g[:, : self.d, : self.d], g[:, : self.d, self.d]

    def matrices(self, g):
        return self.parts(g)[0]

    def translations(self, g):
        return self.parts(g)[1]

    def nearest_element(self, R, t=None):
        """The motion ``[[R, t], [0, 1]]`` (``t`` None: no translation). A linear part that is
        not orthogonal (under Sim(d): a positive multiple of an orthogonal matrix) becomes the
        nearest one (polar factor of its SVD, times its RMS scale under Sim(d)); under proper
        motions one of negative determinant becomes the nearest rotation. Singular linear
        parts raise a ValueError."""
        R, t = checked_frames(self, R, t)
        R = np.asarray(R, dtype=np.float64)
        return self.from_parts(nearest_motions(self, R),
                               np.zeros((len(R), self.d)) if t is None else np.asarray(t, dtype=np.float64))

    def _invert_parts(self, A, t, A_inv):
        """``(A, t)⁻¹ = (A⁻¹, -A⁻¹ t)``, numpy or torch."""
        return self.from_parts(A_inv, -(A_inv @ t[..., None])[..., 0])

    def _identity(self, n, n_points):
        return np.broadcast_to(np.eye(self.d + 1), (n, self.d + 1, self.d + 1)).copy()

    def compose(self, g, h):
        g, h, tensors = tensor_operands(g, h)
        return g @ h if tensors else np.asarray(g) @ np.asarray(h)

    def check_layout(self, layout):
        require_points_dims(self, layout, self.d)

    def _act_points(self, g, P, layout):
        require_points_dims(self, layout, self.d)
        A, t = self.parts(g)
        return rotate_fields(A, P, layout, t=t)


class EuclideanGroup(_HomogeneousMotions):
    """E(d) (``special=False``) or SE(d) (``special=True``): rigid motions ``x ↦ R x + t``.

    Elements are ``(n, d+1, d+1)`` homogeneous matrices ``[[R, t], [0, 1]]``. Positions
    move by ``R x + t``, vectors by ``R v``, scalars stay.

    Parameters
    ----------
    d : int
        Dimension.
    special : bool, default=False
        Proper motions only (no reflections).
    translation_scale : float, default=1.0
        Standard deviation of sampled translations.
    """

    def __init__(self, d, special=False, translation_scale=1.0):
        self.d = check_dimension(d, "EuclideanGroup")
        self.special = check_flag(special, "special", "EuclideanGroup")
        self.translation_scale = check_real(translation_scale, "translation_scale", "EuclideanGroup", 0.0,
                                            "std of sampled translations")
        self.name = f"{'SE' if special else 'E'}{self.d}"

    def _draw(self, n, random_state, n_points):
        rs = rng(random_state)
        R = haar_orthogonal(n, self.d, rs, self.special)
        t = rs.standard_normal((n, self.d)) * self.translation_scale
        return self.from_parts(R, t)

    def inverse(self, g):
        """Inverse rigid motions (numpy arrays or torch tensors): ``(R, t)⁻¹ = (Rᵀ, -Rᵀ t)``."""
        g = g if hasattr(g, "clone") else np.asarray(g)
        R, t = self.parts(g)
        return self._invert_parts(R, t, _transpose(R))  # rotations: the inverse is the transpose


class ScalingGroup(Group):
    """Positive scalings about the origin. Elements are ``(n,)`` positive factors.

    Positions and vectors are multiplied by the factor; scalars stay.

    Parameters
    ----------
    max_factor : float, default=2.0
        Sampled factors are log-uniform in ``[1/max_factor, max_factor]`` (at least 1).
    """

    rescales = True
    layout_kinds = frozenset({"points"})

    def __init__(self, max_factor=2.0):
        # factors are drawn log-uniform in [1/max_factor, max_factor]: below 1 the interval
        # is reversed, at 0 or below its logarithm is not finite
        self.max_factor = check_real(max_factor, "max_factor", "ScalingGroup", 1.0,
                                     "sampled factors are log-uniform in [1/max_factor, max_factor]")
        self.name = "scaling"

    def _draw(self, n, random_state, n_points):
        lim = np.log(self.max_factor)
        return np.exp(rng(random_state).uniform(-lim, lim, size=n))

    def check_elements(self, g, P, name="g"):
        s = checked_array(self, g, P.shape[0], (), name, "factors")
        if not hasattr(s, "clone") and (s <= 0).any():
            raise ValueError(f"{name} must hold positive scale factors of {self.name}; got {s[s <= 0][:3].tolist()}.")
        return s

    def _identity(self, n, n_points):
        return np.ones(n)

    def inverse(self, g):
        return 1.0 / g if hasattr(g, "clone") else 1.0 / np.asarray(g)

    def compose(self, g, h):
        g, h, tensors = tensor_operands(g, h)
        return g * h if tensors else np.asarray(g) * np.asarray(h)

    def check_layout(self, layout):
        if getattr(layout, "kind", None) != "points":
            raise TypeError(f"scaling acts on point sets; got layout {layout!r}.")

    def _act_points(self, g, P, layout):
        out = float_copy(P)
        s = as_tensor_like(g, P) if hasattr(P, "clone") else np.asarray(g, dtype=out.dtype)
        for f in layout.fields:
            if f.is_geometric:
                sl = layout.slice_of(f.name)
                out[..., sl] = P[..., sl] * s[:, None, None]
        return out


class SimilarityGroup(_HomogeneousMotions):
    """Sim(d): rigid motions and positive scalings together, ``x ↦ s·R x + t``.

    Elements are ``(n, d+1, d+1)`` homogeneous matrices ``[[s·R, t], [0, 1]]`` (the format of
    :class:`EuclideanGroup`); positions move by ``s·R x + t``, vectors by ``s·R v``, scalars
    stay. Scalings do not commute with translations, so this is one group rather than a
    product ``E(d) × scaling`` (aliases ``"Sim3"``, ``"SSim3"`` for proper motions;
    ``"SE3xscaling"`` / ``"E3xscaling"`` resolve to it). Not a subclass of
    :class:`EuclideanGroup`: maps invariant under rigid motions are not invariant here.

    Parameters
    ----------
    d : int
        Dimension.
    special : bool, default=False
        Proper rotations only.
    translation_scale : float, default=1.0
        Standard deviation of sampled translations.
    max_factor : float, default=2.0
        Sampled scale factors are log-uniform in ``[1/max_factor, max_factor]`` (at least 1).
    """

    rescales = True

    def __init__(self, d, special=False, translation_scale=1.0, max_factor=2.0):
        self.d = check_dimension(d, "SimilarityGroup")
        self.special = check_flag(special, "special", "SimilarityGroup")
        self.translation_scale = check_real(translation_scale, "translation_scale", "SimilarityGroup", 0.0,
                                            "std of sampled translations")
        self.max_factor = check_real(max_factor, "max_factor", "SimilarityGroup", 1.0,
                                     "sampled factors are log-uniform in [1/max_factor, max_factor]")
        self.name = f"{'SSim' if special else 'Sim'}{self.d}"

    def scales(self, g):
        """Scale factor ``s`` of each element (``|det(s·R)|^(1/d)``, in the elements' float dtype)."""
        A = np.asarray(g)[:, : self.d, : self.d]
        dtype = A.dtype if np.issubdtype(A.dtype, np.floating) else np.float64
        # the determinant of A divided by its largest entry: det(A) itself is s^d, which
        # over- or underflowed for scales beyond about 1e±100 (1e±12 in float32)
        A = A.astype(np.float64)
        peak = np.abs(A).max(axis=(1, 2), initial=0.0)
        unit = np.where(peak > 0, peak, 1.0)
        s = np.abs(np.linalg.det(A / unit[:, None, None])) ** (1.0 / self.d) * unit
        return s.astype(dtype, copy=False)

    def _draw(self, n, random_state, n_points):
        rs = rng(random_state)
        R = haar_orthogonal(n, self.d, rs, self.special)
        lim = np.log(self.max_factor)
        s = np.exp(rs.uniform(-lim, lim, size=n))
        t = rs.standard_normal((n, self.d)) * self.translation_scale
        return self.from_parts(R * s[:, None, None], t)

    def inverse(self, g):
        g = g if hasattr(g, "clone") else np.asarray(g)
        A, t = self.parts(g)
        inv = __import__("torch").linalg.inv if hasattr(g, "clone") else np.linalg.inv
        return self._invert_parts(A, t, inv(A))
