"""The numeric kernels of ``skcanon._kernels``: orientation rule, eigensolvers, fields, the
lexsort helpers, the smallest-form element of finite groups, and their place in the layering.

Groups are drawn from :data:`skcanon.groups.EXAMPLES` by capability, so a newly registered
group is checked without edits.
"""

import ast
from pathlib import Path

import numpy as np
import pytest

from skcanon._kernels.eigen import sym_eig_columns, sym_eig_desc
from skcanon._kernels.fields import geometric_points, rescale_points, weighted_centroid
from skcanon._kernels.lexsort import gather_points, tolerant_lexsort
from skcanon._kernels.orbit import smallest_form_element
from skcanon._kernels.pca import fast_pca, orient_axes, pca_frames, pca_group_frames
from skcanon.groups import EXAMPLES, get_group
from skcanon.layouts import PointLayout

KERNELS = Path(__file__).resolve().parents[1] / "skcanon" / "_kernels"


def _examples(predicate):
    return [a for a in EXAMPLES if predicate(get_group(a))]


FINITE_ON_POINTS = _examples(lambda g: g.is_finite and not g.translates and g.acts_on(PointLayout(g.d or 3)))
ROTATING_ON_POINTS = _examples(lambda g: g.rotates and not g.rescales and g.d in (2, 3) and g.acts_on(PointLayout(g.d)))


# -- layering -------------------------------------------------------------------------------------
def test_kernels_import_only_numpy_and_each_other():
    """Floor 3: nothing above (canonicalizers, projections, networks, estimators) is imported,
    not even lazily."""
    for path in KERNELS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 1 or node.module in ("__future__", "numpy"), (path.name, node.module)
            elif isinstance(node, ast.Import):
                # the standard library's importlib/os/threading load the optional compiled
                # kernels once per process; hashlib keeps their disk cache fresh
                assert all(a.name in ("numpy", "importlib", "os", "threading", "hashlib") for a in node.names), (
                    path.name, [a.name for a in node.names])


# -- the orientation rule ---------------------------------------------------------------------------
def test_orient_axes_flips_negative_axes_then_the_least_certain_for_det_plus_one():
    E = np.eye(3)[None].repeat(3, axis=0)
    negative = np.array([[True, False, False], [True, True, False], [False, False, False]])
    certainty = np.array([[0.5, 0.2, 0.9], [0.5, 0.2, 0.9], [0.3, 0.3, 0.3]])
    out, flipped = orient_axes(E.copy(), negative, certainty, special=False)
    np.testing.assert_array_equal(np.diagonal(out, axis1=1, axis2=2), np.where(negative, -1.0, 1.0))
    np.testing.assert_array_equal(flipped, negative)
    out, flipped = orient_axes(E.copy(), negative, certainty, special=True)
    assert (np.linalg.det(out) > 0).all()
    # sample 0: one flip gives det -1, the least certain axis (1) is flipped as well
    np.testing.assert_array_equal(flipped[0], [True, True, False])
    np.testing.assert_array_equal(flipped[1], [True, True, False])     # det +1 already
    np.testing.assert_array_equal(flipped[2], [False, False, False])
    # a known determinant gives the same result as the computed one
    again, flipped_known = orient_axes(E.copy(), negative, certainty, special=True,
                                       det_negative=np.zeros(3, bool))
    np.testing.assert_array_equal(again, out)
    np.testing.assert_array_equal(flipped_known, flipped)
    # ties in certainty go to the first axis
    mirror = np.diag([-1.0, 1.0, 1.0])[None]
    out, flipped = orient_axes(mirror.copy(), np.zeros((1, 3), bool), np.full((1, 3), 0.1), special=True)
    np.testing.assert_array_equal(flipped, [[True, False, False]])
    np.testing.assert_array_equal(out[0], np.eye(3))


@pytest.mark.parametrize("d", [2, 3, 4])
@pytest.mark.parametrize("special", [False, True])
def test_fast_and_general_pca_share_the_orientation(d, special):
    rs = np.random.default_rng(d)
    Y = rs.normal(size=(40, 9, d)) * np.linspace(2.0, 0.5, d)
    E_fast, c, _, ok = fast_pca(Y, special=special, centre=True)
    w = np.ones(Y.shape[:2])
    E = pca_frames(Y - c[:, None, :], w, special=special, eps=np.finfo(float).eps)
    assert ok.mean() > 0.8
    np.testing.assert_allclose(E_fast[ok], E[ok], atol=1e-9)
    if special:
        assert (np.linalg.det(E) > 0).all()


# -- eigensolvers -----------------------------------------------------------------------------------
def test_large_eigenproblems_with_non_finite_entries_are_marked_unreliable():
    """Absent points make NaN covariances; LAPACK refused the whole batch for d > 3."""
    rs = np.random.default_rng(0)
    A = rs.normal(size=(5, 4, 4))
    C = A @ np.swapaxes(A, 1, 2)
    C[2] = np.nan
    lam, E, reliable = sym_eig_desc(C)
    assert not reliable[2] and np.isnan(lam[2]).all()
    for i in (0, 1, 3, 4):
        np.testing.assert_allclose(lam[i], np.linalg.eigvalsh(C[i])[::-1], rtol=0, atol=1e-12 * np.trace(C[i]))
    entries = {(i, j): C[:, i, j] for i in range(4) for j in range(i, 4)}
    assert not sym_eig_columns(entries, 4)[2][2]
    P = rs.normal(size=(3, 6, 4))
    P[1, 4:] = np.nan
    assert fast_pca(P, special=True, centre=False)[3].tolist() == [True, False, True]


# -- fields -------------------------------------------------------------------------------------------
def test_geometric_points_weigh_out_absent_rows_and_rescaling_is_size_free():
    layout = PointLayout(2, fields=[("q", "scalar"), ("pos", "position"), ("vel", "vector")])
    P = np.arange(2 * 3 * 5, dtype=float).reshape(2, 3, 5)
    P[1, 2] = np.nan
    Y, w, is_position = geometric_points(P, layout)
    assert is_position and w.tolist() == [[1, 1, 1], [1, 1, 0]]
    np.testing.assert_array_equal(Y[0], P[0, :, 1:3])
    np.testing.assert_array_equal(Y[1, 2], [0.0, 0.0])
    np.testing.assert_allclose(weighted_centroid(Y, w)[1], P[1, :2, 1:3].mean(axis=0))
    Z, a = rescale_points(Y * 1e300, w)
    np.testing.assert_allclose(Z, rescale_points(Y, w)[0], rtol=1e-12)
    assert np.isfinite(a).all()


# -- lexsort ------------------------------------------------------------------------------------------
def test_gather_points_and_tolerant_lexsort():
    rs = np.random.default_rng(1)
    P = rs.normal(size=(4, 6, 3))
    P[0, 1, 0] = P[0, 3, 0] + 1e-12   # a tolerant tie in the first column
    order = tolerant_lexsort(P)
    np.testing.assert_array_equal(gather_points(P, order), np.take_along_axis(P, order[..., None], axis=1))
    first, second = sorted([1, 3], key=lambda i: P[0, i, 1])
    pos = list(order[0])
    assert pos.index(first) < pos.index(second)   # the tie is settled by the next column


# -- finite groups: the smallest canonical form -------------------------------------------------------
def _symmetric_shapes(d):
    if d == 2:
        a = np.arange(6) * np.pi / 3
        return {"hexagon": np.c_[np.cos(a), np.sin(a)], "square": np.array([[1, 0], [0, 1], [-1, 0], [0, -1.0]]),
                "line": np.outer([1.0, 2.0, 3.0], [1.0, 0.5])}
    cube = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], float)
    phi = (1 + 5 ** 0.5) / 2
    ico = np.array([p for s1 in (-1, 1) for s2 in (-1, 1)
                    for p in ([0, s1, s2 * phi], [s1, s2 * phi, 0], [s2 * phi, 0, s1])], float)
    return {"cube": cube, "icosahedron": ico, "line": np.outer([1.0, 2.0, 3.0], [1.0, 0.5, 0.2]),
            "one_point": np.array([[1.0, 2.0, 3.0]])}


@pytest.mark.parametrize("group", FINITE_ON_POINTS)
def test_smallest_form_element_is_exactly_equivariant(group):
    G = get_group(group)
    d = G.d
    layout = PointLayout(d)
    rs = np.random.default_rng(0)
    shapes = [rs.normal(size=(7, d))] + list(_symmetric_shapes(d).values())
    for pts in shapes:
        P = np.repeat(pts[None], G.order if G.order < 30 else 30, axis=0)
        g = G.elements()[: len(P)]
        moved = G.act(g, P, layout)
        h = smallest_form_element(G, P, layout)
        h_moved = smallest_form_element(G, moved, layout)
        out = G.act(G.inverse(h), P, layout)
        np.testing.assert_allclose(G.act(G.inverse(h_moved), moved, layout), out, atol=1e-12)
        if pts is shapes[0]:   # generic: no symmetry, the frame itself moves with the input
            assert G.elements_close(h_moved, G.compose(g, h)).all()


@pytest.mark.parametrize("group", ROTATING_ON_POINTS)
def test_pca_group_frames_give_invariant_forms_on_symmetric_shapes(group):
    G = get_group(group)
    d = G.d
    layout = PointLayout(d)
    for name, pts in _symmetric_shapes(d).items():
        P = np.repeat((pts + (0.0 if G.translates else 0.3))[None], 6, axis=0)
        g = G.sample(6, 1)
        moved = G.act(g, P, layout)
        out = G.act(G.inverse(pca_group_frames(G, P, layout)), P, layout)
        again = G.act(G.inverse(pca_group_frames(G, moved, layout)), moved, layout)
        np.testing.assert_allclose(again, out, atol=1e-9, err_msg=f"{name} under {group}")
