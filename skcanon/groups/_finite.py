"""Finite groups: permutations S_n, cyclic C_n and dihedral D_n."""

from __future__ import annotations

import itertools
import math

import numpy as np

from ._base import (Group, checked_frames, checked_indices, require_points_dims, rng, rotate_fields,
                    rotation_matrices_2d, tensor_operands)
from ._images import quarter_turns


class PermutationGroup(Group):
    """S_n: permutations of the points (rows, graph nodes) of each sample.

    Elements are ``(n, n_points)`` integer arrays ``p``; the action is the left action
    ``(p·x)[p[i]] = x[i]`` — point ``i`` moves to slot ``p[i]``. Then
    ``compose(p, q) = p[q]`` and ``p⁻¹ = argsort(p)``. ``n_points`` comes from the data.
    """

    name = "S_n"
    permutes = True
    layout_kinds = frozenset({"points", "graph"})

    def _draw(self, n, random_state, n_points):
        if n_points is None:
            raise ValueError("S_n.sample needs n_points.")
        rs = rng(random_state)
        return np.argsort(rs.random_sample((n, n_points)), axis=1)

    def _identity(self, n, n_points):
        if n_points is None:
            raise ValueError("S_n.identity needs n_points.")
        return np.broadcast_to(np.arange(n_points), (n, n_points)).copy()

    def inverse(self, g):
        if hasattr(g, "gather"):   # torch tensor (numpy's argsort of one is deprecated)
            return g.argsort(dim=1)
        return np.argsort(g, axis=1)

    def compose(self, g, h):
        g, h, tensors = tensor_operands(g, h)
        if tensors:
            return g.gather(1, h.long())
        return np.take_along_axis(np.asarray(g), np.asarray(h), axis=1)

    def order_on(self, n_points):
        return math.factorial(n_points)

    def elements_on(self, n_points):
        """All ``n_points!`` permutations, in lexicographic order."""
        perms = itertools.permutations(range(n_points))
        return np.array(list(perms), dtype=np.int64).reshape(math.factorial(n_points), n_points)

    def check_layout(self, layout):
        if getattr(layout, "kind", None) not in ("points", "graph"):
            raise TypeError(f"S_n permutes points or graph nodes; got layout {layout!r}.")

    def check_elements(self, g, P, name="g"):
        """One permutation of the ``P.shape[1]`` points per sample (a shorter one dropped
        points, a row with repeats was read as another permutation)."""
        arr = np.asarray(g)
        n, m = P.shape[0], P.shape[1]
        if arr.shape != (n, m) or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must hold one permutation of the {m} points per sample, an int array of "
                             f"shape ({n}, {m}); got shape {arr.shape} and dtype {arr.dtype.name}.")
        bad = np.flatnonzero((np.sort(arr, axis=1) != np.arange(m)).any(axis=1))
        if bad.size:
            raise ValueError(f"{name}[{bad[0]}] = {arr[bad[0]].tolist()[:12]} is not a permutation of "
                             f"0..{m - 1}.")
        return arr

    def _act_graphs(self, g, P, layout):
        """Relabel nodes: rows move as points do, adjacency columns the same way."""
        out = self._act_points(g, P, layout)
        adj = layout.slice_of("adj")
        inv = self.inverse(g)
        if hasattr(out, "gather"):  # torch tensor (as _act_points)
            import torch

            idx = torch.as_tensor(inv, device=out.device)[:, None, :].expand(-1, out.shape[1], -1)
            out[:, :, adj] = torch.gather(out[:, :, adj], 2, idx)
            return out
        out[:, :, adj] = np.take_along_axis(out[:, :, adj], np.asarray(inv)[:, None, :], axis=2)
        return out

    def _act_points(self, g, P, layout):
        inv = self.inverse(g)
        if hasattr(P, "gather"):  # torch tensor
            import torch

            idx = torch.as_tensor(inv, device=P.device)[:, :, None].expand(-1, -1, P.shape[2])
            return torch.gather(P, 1, idx)
        return np.take_along_axis(P, inv[:, :, None], axis=1)


class _PlanarFiniteGroup(Group):
    """Shared parts of C_n and D_n: they act on images, on 2-D points and (C_n) on fibres."""

    d = 2
    rotates = True

    def __init__(self, n):
        # bool is an int subclass: CyclicGroup(True) used to become C1
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{type(self).__name__}: group order n must be a positive int, got {n!r}.")
        self.n = int(n)
        self.name = f"{self._prefix}{self.n}"
        self.exact_on_images = 4 % self.n == 0

    def angles(self, g):
        return 2 * np.pi * (np.asarray(g) % self.n) / self.n

    def check_elements(self, g, P, name="g"):
        return checked_indices(self, g, P.shape[0], self.order, name)

    def elements(self):
        return np.arange(self.order)

    def grid(self, n=None, random_state=0, n_points=None):
        return self.elements()

    def _steps(self, R):
        """Angle of the rotation part of each ``R`` in steps of ``2π/n``, and reflection flags
        (D_n: a reflection is ``R(θ)·diag(-1, 1)``; C_n takes ``R`` as a rotation). Rows with
        non-finite entries read as the identity, as for the polyhedral groups (a NaN angle
        cast to an int was an arbitrary element, with a RuntimeWarning)."""
        R = np.asarray(checked_frames(self, R)[0])
        finite = np.isfinite(R).all(axis=(1, 2))
        if not finite.all():
            R = np.where(finite[:, None, None], R, np.eye(2, dtype=R.dtype))
        reflect = np.zeros(len(R), dtype=bool) if self.special else np.linalg.det(R) < 0
        rot = np.where(reflect[:, None, None], R * np.array([-1.0, 1.0]), R)
        return np.arctan2(rot[:, 1, 0], rot[:, 0, 0]) * self.n / (2 * np.pi), reflect

    def _round_steps(self, x):
        """Nearest step ``k`` to ``x`` steps. Half-way angles go up (``floor(x + 1/2)``, with a
        small tolerance for rounding): unlike numpy's round-half-to-even, this commutes with
        rotating by whole steps (reflections are settled by :meth:`near_tie`'s callers)."""
        return np.mod(np.floor(x + 0.5 + STEP_TIE).astype(np.int64), self.n)

    def near_tie(self, R, rounding=None):
        # |frac - 1/2| is unchanged by whole steps (x + k) and by reflections (x -> -x),
        # so the set of tied samples moves with the input; the band holds the rounding's
        # own tolerance with room to spare, and the angle's error where R's entries may be
        # off by ``rounding`` (about √2 · rounding radians, n / 2π steps per radian)
        x = self._steps(R)[0]
        spread = 0.0 if rounding is None else 2 ** 0.5 * np.asarray(rounding) * self.n / (2 * np.pi)
        return np.abs(x - np.floor(x) - 0.5) < 2 * np.maximum(STEP_TIE, spread)

    def check_layout(self, layout):
        kind = getattr(layout, "kind", None)
        if kind == "points":
            require_points_dims(self, layout, 2)
        elif kind == "fibre" and "fibre" in self.layout_kinds:
            if layout.fibre_size != self.n:
                # C2 on FibreLayout(4) passed here and failed in act
                raise ValueError(
                    f"{self.name} acts on regular-representation fibres of size {self.n} (one entry per "
                    f"element), but the layout has fibre_size={layout.fibre_size}; "
                    f"use FibreLayout({self.n}).")
        elif kind not in self.layout_kinds:
            raise TypeError(f"{self.name} cannot act on layout {layout!r}.")

    def exact_on_image_shape(self, shape):
        # a quarter turn of a non-square image changes its shape: only half turns and
        # flips stay exact there
        square = shape[-1] == shape[-2]
        return (4 if square else 2) % self.n == 0

    def exact_for(self, g):
        """True per element when its image action is exact (a multiple of 90°)."""
        return quarter_turns(self.angles(g)) >= 0


#: fraction of a step under which a frame angle counts as exactly half-way between two
#: elements of C_n or D_n (a symmetric sample, e.g. one bright pixel on a diagonal)
STEP_TIE = 1e-6


class CyclicGroup(_PlanarFiniteGroup):
    """C_n: rotations by multiples of 360°/n. Elements are ints ``k`` in ``[0, n)``.

    Acts on images (exact when ``4 % n == 0`` i.e. C1, C2, C4; bilinear interpolation for
    other angles, e.g. the odd multiples of 45° of C8), on 2-D point sets, and on regular
    representation fibres (:class:`~skcanon.layouts.FibreLayout`) by cyclic shift
    ``(k·f)[j] = f[j - k]``.
    """

    _prefix = "C"
    special = True
    layout_kinds = frozenset({"points", "image", "fibre"})

    @property
    def order(self):
        return self.n

    def acts_on(self, layout):
        """By kind, as every group; on fibres only those of size ``n`` (its regular
        representation: C2 does not act on ``FibreLayout(4)``)."""
        if getattr(layout, "kind", None) == "fibre":
            return getattr(layout, "fibre_size", None) == self.n
        return super().acts_on(layout)

    def nearest_element(self, R, t=None):
        return self._round_steps(self._steps(R)[0])

    def _draw(self, n, random_state, n_points):
        return rng(random_state).randint(0, self.n, size=n)

    def _identity(self, n, n_points):
        return np.zeros(n, dtype=np.int64)

    def inverse(self, g):
        if hasattr(g, "clone"):   # torch tensor: % is floor-mod there too (as np.mod)
            return (-g) % self.n
        return np.mod(-np.asarray(g), self.n)

    def compose(self, g, h):
        g, h, tensors = tensor_operands(g, h)
        return (g + h) % self.n if tensors else np.mod(np.asarray(g) + np.asarray(h), self.n)

    def matrices(self, g):
        return rotation_matrices_2d(self.angles(g))

    def _act_points(self, g, P, layout):
        require_points_dims(self, layout, 2)
        return rotate_fields(self.matrices(g), P, layout)

    def image_motion(self, g):
        return self.angles(g), np.zeros(np.shape(g), dtype=bool)

    def _act_fibres(self, g, P, layout):
        if layout.fibre_size != self.n:
            raise ValueError(f"{self.name} needs fibre_size={self.n}, got {layout.fibre_size}.")
        j = np.arange(self.n)
        src = np.mod(j[None, :] - np.asarray(g)[:, None], self.n)
        return np.take_along_axis(P, src[:, None, :], axis=2)


class DihedralGroup(_PlanarFiniteGroup):
    """D_n: the n rotations of C_n and n reflections. Elements are ints ``e`` in ``[0, 2n)``.

    ``e = k + n·f`` stands for ``r^k s^f``: mirror left-right when ``f = 1`` (``x ↦ -x``),
    then rotate by ``k·360°/n``. Composition follows ``s r^k = r^{-k} s``.
    """

    _prefix = "D"
    layout_kinds = frozenset({"points", "image"})

    @property
    def order(self):
        return 2 * self.n

    def nearest_element(self, R, t=None):
        x, reflect = self._steps(R)
        return self._round_steps(x) + self.n * reflect.astype(np.int64)

    def _split(self, g):
        g = np.asarray(g)
        return g % self.n, g // self.n

    def _draw(self, n, random_state, n_points):
        return rng(random_state).randint(0, 2 * self.n, size=n)

    def _identity(self, n, n_points):
        return np.zeros(n, dtype=np.int64)

    def inverse(self, g):
        if hasattr(g, "clone"):   # torch tensor: % and // are floor-mod and floor division there too
            return g.where(g // self.n == 1, (-g) % self.n)
        k, f = self._split(g)
        return np.where(f == 1, g, np.mod(-k, self.n))

    def compose(self, g, h):
        g, h, tensors = tensor_operands(g, h)
        if tensors:
            (k1, f1), (k2, f2) = (g % self.n, g // self.n), (h % self.n, h // self.n)
            return (k1 + k2.where(f1 != 1, -k2)) % self.n + self.n * (f1 ^ f2)
        k1, f1 = self._split(g)
        k2, f2 = self._split(h)
        k = np.mod(k1 + np.where(f1 == 1, -k2, k2), self.n)
        return k + self.n * np.bitwise_xor(f1, f2)

    def angles(self, g):
        return 2 * np.pi * self._split(g)[0] / self.n

    def matrices(self, g):
        _, f = self._split(g)
        S = np.where(f[:, None, None] == 1, np.diag([-1.0, 1.0]), np.eye(2))
        return rotation_matrices_2d(self.angles(g)) @ S

    def _act_points(self, g, P, layout):
        require_points_dims(self, layout, 2)
        return rotate_fields(self.matrices(g), P, layout)

    def image_motion(self, g):
        return self.angles(g), self._split(g)[1] == 1
