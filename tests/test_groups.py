"""Group axioms and actions, checked generically for every group and layout kind."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skcanon.groups import (
    CyclicGroup,
    DihedralGroup,
    EuclideanGroup,
    OrthogonalGroup,
    PermutationGroup,
    ProductGroup,
    ScalingGroup,
    TranslationGroup,
    get_group,
    rotate_images,
)
from skcanon.layouts import FibreLayout, ImageLayout, PointLayout

POINT_GROUPS = ["SO2", "O2", "SO3", "O3", "SO4", "O5", "T2", "T3", "SE2", "E2", "SE3", "E3",
                "scaling", "S_n", "C4", "C6", "D3", "D4", "SE3xS_n", "E2xS_n", "SO3xscaling", "Sim3", "SSim2",
                "SSim3xS_n"]
EXACT_IMAGE_GROUPS = ["C1", "C2", "C4", "D1", "D2", "D4"]
FIBRE_GROUPS = ["C3", "C4", "C8"]


def _layout_for(group):
    d = next((getattr(f, "d", None) for f in group.factors if getattr(f, "d", None)), None)
    if any(isinstance(f, (CyclicGroup, DihedralGroup)) for f in group.factors):
        d = 2
    d = d or 3
    return PointLayout(d, fields=[("pos", "position"), ("vel", "vector"), ("q", "scalar", 2)])


def _data(layout, seed, n=6, m=5):
    return np.random.default_rng(seed).normal(size=(n, m, layout.width))


@pytest.mark.parametrize("name", POINT_GROUPS)
@given(seed=st.integers(0, 2**31 - 1))
def test_group_axioms_on_points(name, seed):
    group = get_group(name)
    layout = _layout_for(group)
    P = _data(layout, seed)
    n, m = P.shape[:2]
    g = group.sample(n, seed, n_points=m)
    h = group.sample(n, seed + 1, n_points=m)
    e = group.identity(n, n_points=m)
    act = lambda a, X: group.act(a, X, layout)  # noqa: E731
    np.testing.assert_allclose(act(e, P), P, atol=1e-12)
    np.testing.assert_allclose(act(group.inverse(g), act(g, P)), P, atol=1e-10)
    np.testing.assert_allclose(act(group.compose(g, h), P), act(g, act(h, P)), atol=1e-10)
    assert np.all(group.elements_close(group.compose(g, group.inverse(g)), e, atol=1e-10))
    # scalars never move under geometric groups; they only follow permutations
    moved = act(g, P)
    q = layout.slice_of("q")
    np.testing.assert_allclose(np.sort(moved[..., q], axis=1), np.sort(P[..., q], axis=1))


@pytest.mark.parametrize("name", POINT_GROUPS)
def test_action_preserves_absent_points(name):
    group = get_group(name)
    layout = _layout_for(group)
    P = _data(layout, 0)
    P[:, -1] = np.nan
    g = group.sample(P.shape[0], 0, n_points=P.shape[1])
    moved = group.act(g, P, layout)
    absent = np.isnan(moved).all(axis=2)
    assert absent.sum(axis=1).tolist() == [1] * P.shape[0]
    assert not np.isnan(moved[~absent]).any()


def test_vectors_rotate_but_do_not_translate():
    group = get_group("SE3")
    layout = PointLayout(3, fields=[("pos", "position"), ("vel", "vector")])
    P = _data(layout, 1)
    g = group.sample(P.shape[0], 1)
    R, t = group.parts(g)
    moved = group.act(g, P, layout)
    np.testing.assert_allclose(moved[..., 3:], np.einsum("nij,nmj->nmi", R, P[..., 3:]), atol=1e-12)
    np.testing.assert_allclose(moved[..., :3], np.einsum("nij,nmj->nmi", R, P[..., :3]) + t[:, None], atol=1e-12)


@pytest.mark.parametrize("name", EXACT_IMAGE_GROUPS)
@given(seed=st.integers(0, 2**31 - 1))
def test_group_axioms_on_images_exact(name, seed):
    group = get_group(name)
    layout = ImageLayout()
    P = np.random.default_rng(seed).random((5, 2, 7, 7))
    g, h = group.sample(5, seed), group.sample(5, seed + 1)
    act = lambda a, X: group.act(a, X, layout)  # noqa: E731
    np.testing.assert_array_equal(act(group.identity(5), P), P)
    np.testing.assert_array_equal(act(group.inverse(g), act(g, P)), P)
    np.testing.assert_array_equal(act(group.compose(g, h), P), act(g, act(h, P)))


def test_image_rotation_matches_point_rotation():
    """Rotating an image moves its intensity centroid like a 2-D point (same convention)."""
    img = np.zeros((1, 1, 21, 21))
    img[0, 0, 4, 15] = 1.0  # row 4, col 15 → (x, y) = (5, 6) about the centre
    out = rotate_images(img, np.array([np.pi / 2]))
    r, c = np.unravel_index(np.argmax(out[0, 0]), (21, 21))
    x, y = c - 10, 10 - r
    assert (x, y) == (-6, 5)  # counter-clockwise quarter turn of (5, 6)


def test_interpolated_rotation_is_close_for_smooth_images():
    yy, xx = np.mgrid[-1:1:41j, -1:1:41j]
    blob = np.exp(-((xx - 0.3) ** 2 + (yy + 0.1) ** 2) / 0.05)[None, None]
    there = rotate_images(blob, np.array([0.7]))
    back = rotate_images(there, np.array([-0.7]))
    assert np.abs(back - blob).max() < 0.05
    assert not get_group("C8").exact_on_images and get_group("C4").exact_on_images


@pytest.mark.parametrize("name", FIBRE_GROUPS)
def test_cyclic_action_on_fibres(name):
    group = get_group(name)
    layout = FibreLayout(group.n)
    P = np.random.default_rng(0).normal(size=(4, 3, group.n))
    g, h = group.sample(4, 0), group.sample(4, 1)
    act = lambda a, X: group.act(a, X, layout)  # noqa: E731
    np.testing.assert_array_equal(act(group.compose(g, h), P), act(g, act(h, P)))
    np.testing.assert_array_equal(act(np.ones(4, int), P), np.roll(P, 1, axis=2))


def test_dihedral_matches_matrices_on_points():
    group = DihedralGroup(4)
    layout = PointLayout(2)
    P = np.random.default_rng(0).normal(size=(8, 3, 2))
    g = np.arange(8)
    np.testing.assert_allclose(group.act(g, P, layout), np.einsum("nij,nmj->nmi", group.matrices(g), P), atol=1e-12)
    assert np.allclose(np.linalg.det(group.matrices(g)), [1] * 4 + [-1] * 4)


def test_haar_samples_are_orthogonal_with_right_determinant():
    R = OrthogonalGroup(3, special=True).sample(200, 0)
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    Q = OrthogonalGroup(3).sample(400, 0)
    dets = np.linalg.det(Q)
    assert 0.35 < np.mean(dets < 0) < 0.65


@pytest.mark.parametrize(
    "alias, expected",
    [("SO3", OrthogonalGroup), ("O(2)", OrthogonalGroup), ("SE3", EuclideanGroup), ("T3", TranslationGroup),
     ("S_n", PermutationGroup), ("Sn", PermutationGroup), ("C8", CyclicGroup), ("C_8", CyclicGroup),
     ("D4", DihedralGroup), ("scaling", ScalingGroup), ("SE3xS_n", ProductGroup), ("E3×S_n", ProductGroup)],
)
def test_aliases(alias, expected):
    assert isinstance(get_group(alias), expected)


@pytest.mark.parametrize("bad", ["SU3", "", "Q8", "SO0"])
def test_unknown_alias_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="Unknown group"):
        get_group(bad)


def test_group_type_error():
    with pytest.raises(TypeError, match="group must be"):
        get_group(3)


def test_dimension_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="n_dims=2"):
        get_group("SO3").act(np.eye(3)[None], np.zeros((1, 4, 2)), PointLayout(2))
