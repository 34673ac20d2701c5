"""Synthetic 3-D point-cloud shape classification under rigid motions and permutations."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from ..groups import EuclideanGroup, PermutationGroup
from ..layouts import PointLayout
from ._base import check_bool, check_choice, check_flat, check_float, check_n, check_seed

__all__ = ["make_point_shapes", "TETRIS_SHAPES", "PRIMITIVE_SHAPES"]

#: The eight 3-D "Tetris" polycubes of the equivariance literature (unit-cube centres).
#: ``chiral_1`` and ``chiral_2`` are mirror images of each other: distinguishable under
#: SE(3) but not under E(3).
TETRIS_SHAPES = {
    "chiral_1": ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 0)),
    "chiral_2": ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, -1, 0)),
    "square": ((0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)),
    "line": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3)),
    "corner": ((0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0)),
    "L": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)),
    "T": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1)),
    "zigzag": ((0, 0, 0), (1, 0, 0), (1, 1, 0), (2, 1, 0)),
}

#: Noisy primitive surfaces (unit size).
PRIMITIVE_SHAPES = ("sphere", "cube", "cylinder", "cone", "torus")

_GROUPS = ("SE3", "E3", "SO3", "O3", None)


def _tetris(cubes, n, m, rs):
    """Points uniform in the volume of the unit cubes centred at ``cubes``."""
    cubes = np.asarray(cubes, dtype=np.float64)
    which = rs.randint(0, len(cubes), size=(n, m))
    return cubes[which] + rs.uniform(-0.5, 0.5, size=(n, m, 3))


def _sphere(n, m, rs):
    v = rs.standard_normal((n, m, 3))
    return v / np.linalg.norm(v, axis=2, keepdims=True)


def _cube(n, m, rs):
    """Uniform on the surface of the cube [-1, 1]^3 (six faces of equal area)."""
    p = rs.uniform(-1.0, 1.0, size=(n, m, 3))
    axis = rs.randint(0, 3, size=(n, m))
    sign = rs.choice(np.array([-1.0, 1.0]), size=(n, m))
    np.put_along_axis(p, axis[..., None], sign[..., None], axis=2)
    return p


def _cylinder(n, m, rs):
    """Lateral surface, radius 1, height 2."""
    a = rs.uniform(0, 2 * np.pi, size=(n, m))
    return np.stack([np.cos(a), np.sin(a), rs.uniform(-1.0, 1.0, size=(n, m))], axis=2)


def _cone(n, m, rs):
    """Lateral surface, apex at z = 1, base radius 1 at z = -1 (area-uniform)."""
    a = rs.uniform(0, 2 * np.pi, size=(n, m))
    r = np.sqrt(rs.uniform(0.0, 1.0, size=(n, m)))
    return np.stack([r * np.cos(a), r * np.sin(a), 1.0 - 2.0 * r], axis=2)


def _torus(n, m, rs, R=1.0, r=0.4):
    """Area-uniform on a torus (rejection on the tube angle)."""
    phi = rs.uniform(0, 2 * np.pi, size=(n, m))
    theta = np.empty((n, m))
    todo = np.ones((n, m), dtype=bool)
    while todo.any():
        k = int(todo.sum())
        t = rs.uniform(0, 2 * np.pi, size=k)
        ok = rs.uniform(0, 1, size=k) < (R + r * np.cos(t)) / (R + r)
        pos = np.flatnonzero(todo)[ok]
        theta.flat[pos] = t[ok]
        todo.flat[pos] = False
    w = R + r * np.cos(theta)
    return np.stack([w * np.cos(phi), w * np.sin(phi), r * np.sin(theta)], axis=2)


_PRIMITIVES = {"sphere": _sphere, "cube": _cube, "cylinder": _cylinder, "cone": _cone,
               "torus": _torus}


def _resolve_shapes(shapes):
    # a string is compared as a whole (an array of names would compare element-wise)
    groups = {"all": list(TETRIS_SHAPES) + list(PRIMITIVE_SHAPES), "tetris": list(TETRIS_SHAPES),
              "primitives": list(PRIMITIVE_SHAPES)}
    if isinstance(shapes, str) and shapes in groups:
        return groups[shapes]
    if isinstance(shapes, str) or not hasattr(shapes, "__iter__"):
        raise ValueError("shapes must be 'all', 'tetris', 'primitives' or a list of names from "
                         f"{list(TETRIS_SHAPES) + list(PRIMITIVE_SHAPES)}; got {shapes!r}.")
    names = [str(s) if isinstance(s, str) else s for s in shapes]
    known = set(TETRIS_SHAPES) | set(PRIMITIVE_SHAPES)
    bad = [s for s in names if s not in known]
    if bad or not names or len(set(names)) != len(names):
        raise ValueError(f"shapes must be distinct names from {sorted(known)}; got {names!r}.")
    return names


def make_point_shapes(n_samples=1000, n_points=32, noise=0.05, random_state=None, *,
                      shapes="all", group="SE3", permute=True, translation_scale=1.0,
                      flat=True, return_X_y=False):
    """Generate a 3-D point-cloud shape classification task.

    Each sample is ``n_points`` points on one shape class, jittered by Gaussian
    ``noise``, centred at its centroid, moved by a random rigid motion and shuffled by a random
    permutation of the points (both through :mod:`skcanon.groups` actions). The label is
    the shape class, balanced across classes (round robin, then shuffled).

    Classes:

    * the eight 3-D Tetris polycubes (:data:`TETRIS_SHAPES`: ``chiral_1``, ``chiral_2``,
      ``square``, ``line``, ``corner``, ``L``, ``T``, ``zigzag``), points uniform in the
      volume of their four unit cubes. ``chiral_1``/``chiral_2`` are a mirror pair: under
      ``group="E3"`` or ``"O3"`` they are the same shape up to symmetry and cannot be told
      apart by an invariant model.
    * primitive surfaces (:data:`PRIMITIVE_SHAPES`): unit sphere, surface of the cube
      ``[-1, 1]^3``, cylinder side (radius 1, height 2), cone side (radius 1, height 2) and
      torus (radii 1 and 0.4), area-uniform samples.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of point clouds.
    n_points : int, default=32
        Points per cloud.
    noise : float, default=0.05
        Standard deviation of isotropic Gaussian jitter added to every point. The jitter
        is drawn for every value, 0 included, so a sweep over ``noise`` with one
        ``random_state`` keeps the shapes, motions and permutations.
    random_state : int, RandomState instance or None, default=None
        Seeds shapes, points, noise, motions and permutations.
    shapes : {"all", "tetris", "primitives"} or list of str, default="all"
        Which classes to generate (13 for ``"all"``).
    group : {"SE3", "E3", "SO3", "O3", None}, default="SE3"
        Random motion applied: rotations (``SO3``) or rotations and reflections
        (``O3``), plus Gaussian translations of std ``translation_scale`` for ``SE3``/
        ``E3``; ``None`` leaves the canonical pose.
    permute : bool, default=True
        Shuffle the points of every cloud (a uniformly random S_n element).
    translation_scale : float, default=1.0
        Standard deviation of the translations (``SE3``/``E3``).
    flat : bool, default=True
        ``True``: ``data`` is ``(n_samples, n_points * 3)`` point-major; ``False``:
        ``(n_samples, n_points, 3)``.
    return_X_y : bool, default=False
        Return ``(data, target)`` only.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data``, ``target`` (int class index), ``target_names``, ``motions`` (the
        ``(n, 4, 4)`` homogeneous matrices applied), ``permutations`` (``(n, n_points)``
        S_n elements, identity when ``permute=False``), ``layout``
        (``PointLayout(3)``, one position field), ``feature_names`` and ``DESCR``.

    Examples
    --------
    >>> from skcanon.datasets import make_point_shapes
    >>> d = make_point_shapes(n_samples=26, n_points=16, random_state=0)
    >>> d.data.shape, len(d.target_names)
    ((26, 48), 13)
    """
    n_samples = check_n(n_samples, "n_samples", allow_none=False)
    n_points = check_n(n_points, "n_points", allow_none=False)
    noise = check_float(noise, "noise")
    translation_scale = check_float(translation_scale, "translation_scale")
    check_choice(group, "group", _GROUPS)
    flat = check_flat(flat)
    permute = check_bool(permute, "permute")
    return_X_y = check_bool(return_X_y, "return_X_y")
    names = _resolve_shapes(shapes)
    rs = check_seed(random_state)

    y = rs.permutation(np.arange(n_samples) % len(names))
    P = np.empty((n_samples, n_points, 3))
    for k, name in enumerate(names):
        idx = np.flatnonzero(y == k)
        if not idx.size:
            continue
        if name in TETRIS_SHAPES:
            pts = _tetris(TETRIS_SHAPES[name], idx.size, n_points, rs)
        else:
            pts = _PRIMITIVES[name](idx.size, n_points, rs)
        P[idx] = pts
    # drawn even for noise=0, so a sweep through 0 keeps the motions and permutations
    P += noise * rs.standard_normal(P.shape)
    P -= P.mean(axis=1, keepdims=True)  # canonical pose: centroid at the origin

    layout = PointLayout(3)
    if group is None:
        motions = EuclideanGroup(3).identity(n_samples)
    else:
        special = group in ("SE3", "SO3")
        G = EuclideanGroup(3, special=special, translation_scale=translation_scale)
        motions = G.sample(n_samples, rs)
        if group in ("SO3", "O3"):
            motions[:, :3, 3] = 0.0
    P = EuclideanGroup(3).act(motions, P, layout)
    S = PermutationGroup()
    perms = S.sample(n_samples, rs, n_points=n_points) if permute else S.identity(
        n_samples, n_points=n_points)
    P = S.act(perms, P, layout)

    data = P.reshape(n_samples, -1) if flat else P
    if return_X_y:
        return data, y
    moved = f"random {group} motion" if group else "no motion (canonical pose)"
    invariant = " x ".join(([group] if group else []) + (["S_n"] if permute else []))
    descr = ("Point shapes\n------------\n"
             f"{n_samples} clouds of {n_points} 3-D points from {len(names)} classes "
             f"({', '.join(names)}), noise std {noise}, {moved}"
             f"{', random point permutation' if permute else ''}. "
             + (f"Labels are invariant to {invariant}." if invariant
                else "The clouds are neither moved nor permuted."))
    return Bunch(data=data, target=y, target_names=np.asarray(names, dtype=object),
                 motions=motions, permutations=perms, layout=layout,
                 feature_names=layout.feature_names(n_points), DESCR=descr)
