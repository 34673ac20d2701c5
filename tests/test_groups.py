"""Group axioms and actions, checked generically for every group and layout kind."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skcanon.groups import (
    CyclicGroup,
    DihedralGroup,
    EuclideanGroup,
    IcosahedralGroup,
    OctahedralGroup,
    OrthogonalGroup,
    PermutationGroup,
    ProductGroup,
    ScalingGroup,
    TetrahedralGroup,
    TranslationGroup,
    get_group,
    rotate_images,
)
from skcanon.layouts import FibreLayout, ImageLayout, PointLayout

POINT_GROUPS = ["SO2", "O2", "SO3", "O3", "SO4", "O5", "T2", "T3", "SE2", "E2", "SE3", "E3",
                "scaling", "S_n", "C4", "C6", "D3", "D4", "SE3xS_n", "E2xS_n", "SO3xscaling", "Sim3", "SSim2",
                "SSim3xS_n", "O", "I", "tetrahedral", "OxS_n", "IxS_n"]
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


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_rotate_images_checks_its_inputs(backend):
    """rotate_images took ``(n, H, W)`` batches for quarter turns and failed with "not enough
    values to unpack" for other angles; 3 angles for 2 images failed inside numpy's broadcast
    or torch's indexing, an empty torch batch raised IndexError and a NaN angle gave an
    all-zero image silently."""
    wrap = pytest.importorskip("torch").as_tensor if backend == "torch" else np.asarray
    X = wrap(np.random.default_rng(0).random((2, 1, 5, 5)))
    for angle in (np.pi / 2, np.pi / 6):
        with pytest.raises(ValueError, match=r"imgs must be .* \(n, C, H, W\); got shape \(2, 5, 5\)"):
            rotate_images(X[:, 0], angle)
    with pytest.raises(ValueError, match=r"angles must be a scalar or hold one angle per image \(2\)"):
        rotate_images(X, wrap([0.1, 0.2, 0.3]))
    for bad in (np.nan, np.inf, wrap([0.1, np.nan])):
        with pytest.raises(ValueError, match="angles must be finite"):
            rotate_images(X, bad)
    with pytest.raises(TypeError, match="angles must be real numbers"):
        rotate_images(X, "a")
    for angle in (0.3, np.pi / 2, wrap(np.zeros(0))):
        assert tuple(rotate_images(X[:0], angle).shape) == (0, 1, 5, 5)
    # the documented forms: one angle for all images, or one per image
    one_per_image = rotate_images(X, wrap(np.full(2, 0.3)))
    np.testing.assert_array_equal(np.asarray(rotate_images(X, 0.3)), np.asarray(one_per_image))


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


# -- finite rotation groups of 3-D point sets (tetrahedral, O, I) ------------------------------

POLYHEDRAL = [("tetrahedral", TetrahedralGroup, 12), ("O", OctahedralGroup, 24), ("I", IcosahedralGroup, 60)]
PHI = (1 + 5 ** 0.5) / 2


def _same_point_set(A, B, atol=1e-12):
    """True when the rows of A are the rows of B in some order."""
    D = np.abs(A[:, None, :] - B[None, :, :]).max(axis=2)
    return len(A) == len(B) and (D.min(axis=1) < atol).all() and (D.min(axis=0) < atol).all()


@pytest.mark.parametrize("name, cls, order", POLYHEDRAL)
def test_polyhedral_group_law(name, cls, order):
    group = get_group(name)
    assert isinstance(group, cls) and group.order == order and group.is_finite
    flags = (group.d, group.rotates, group.special, group.translates, group.permutes)
    assert flags == (3, True, True, False, False)
    assert group.layout_kinds == frozenset({"points"})
    e = group.elements()
    np.testing.assert_array_equal(e, np.arange(order))
    np.testing.assert_array_equal(group.grid(5), e)
    np.testing.assert_array_equal(group.identity(4), [0, 0, 0, 0])
    G = group.matrices(e)
    np.testing.assert_array_equal(G[0], np.eye(3))
    # every product of two elements is in the table and is what compose says
    g, h = np.repeat(e, order), np.tile(e, order)
    np.testing.assert_allclose(group.matrices(group.compose(g, h)), G[g] @ G[h], atol=1e-12)
    # identity and inverses on both sides
    np.testing.assert_array_equal(group.compose(g, group.identity(len(g))), g)
    np.testing.assert_array_equal(group.compose(group.identity(len(g)), g), g)
    np.testing.assert_array_equal(group.compose(e, group.inverse(e)), np.zeros(order))
    np.testing.assert_array_equal(group.compose(group.inverse(e), e), np.zeros(order))
    np.testing.assert_allclose(group.matrices(group.inverse(e)), np.swapaxes(G, 1, 2), atol=1e-12)
    # associativity on random triples
    a, b, c = (group.sample(500, s) for s in (0, 1, 2))
    np.testing.assert_array_equal(group.compose(group.compose(a, b), c),
                                  group.compose(a, group.compose(b, c)))
    np.testing.assert_array_equal(group.translations(a), np.zeros((500, 3)))


@pytest.mark.parametrize("name, cls, order", POLYHEDRAL)
def test_polyhedral_matrices_are_distinct_rotations(name, cls, order):
    G = get_group(name).matrices(np.arange(order))
    assert G.dtype == np.float64
    np.testing.assert_allclose(G @ np.swapaxes(G, 1, 2), np.broadcast_to(np.eye(3), G.shape), atol=1e-15)
    np.testing.assert_allclose(np.linalg.det(G), 1.0, atol=1e-15)
    assert len(np.unique(np.round(G.reshape(order, 9), 6), axis=0)) == order


def test_octahedral_group_is_the_signed_permutations_of_determinant_one():
    G = OctahedralGroup().matrices(np.arange(24))
    assert set(np.unique(G)) <= {-1.0, 0.0, 1.0}
    assert (np.abs(G).sum(axis=1) == 1).all() and (np.abs(G).sum(axis=2) == 1).all()


def test_tetrahedral_group_lies_in_both_others():
    T = TetrahedralGroup().matrices(np.arange(12))
    for big in (OctahedralGroup(), IcosahedralGroup()):
        assert _same_point_set(T.reshape(12, 9), big.matrices(big.nearest_element(T)).reshape(12, 9))


def _cube():
    return np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)


def _icosahedron():
    return np.array([np.roll([0.0, a, b * PHI], k) for a in (-1, 1) for b in (-1, 1) for k in range(3)])


def _dodecahedron():
    cube = _cube()
    rest = [np.roll([0.0, a * PHI, b / PHI], k) for a in (-1, 1) for b in (-1, 1) for k in range(3)]
    return np.concatenate([cube, rest])


@pytest.mark.parametrize("name, shapes", [("O", [_cube]), ("I", [_icosahedron, _dodecahedron]),
                                          ("tetrahedral", [_cube])])
def test_polyhedral_group_preserves_its_solid(name, shapes):
    group = get_group(name)
    layout = PointLayout(3)
    for shape in shapes:
        V = shape()
        moved = group.act(group.elements(), np.broadcast_to(V, (group.order,) + V.shape).copy(), layout)
        assert all(_same_point_set(M, V) for M in moved)
    # and it is the whole rotation group of the solid: no two elements move a generic point alike
    x = np.array([[0.3, -0.7, 1.1]])
    images = group.act(group.elements(), np.broadcast_to(x, (group.order, 1, 3)).copy(), layout)[:, 0]
    assert len(np.unique(np.round(images, 9), axis=0)) == group.order


@pytest.mark.parametrize("name, cls, order", POLYHEDRAL)
def test_polyhedral_action_is_matrix_multiplication(name, cls, order):
    group = get_group(name)
    layout = PointLayout(3, fields=[("pos", "position"), ("vel", "vector"), ("q", "scalar", 2)])
    P = np.random.default_rng(0).normal(size=(order, 4, layout.width))
    g = np.random.default_rng(1).permutation(order)
    moved = group.act(g, P, layout)
    R = group.matrices(g)
    np.testing.assert_allclose(moved[..., :3], np.einsum("nij,nmj->nmi", R, P[..., :3]), atol=1e-12)
    np.testing.assert_allclose(moved[..., 3:6], np.einsum("nij,nmj->nmi", R, P[..., 3:6]), atol=1e-12)
    np.testing.assert_array_equal(moved[..., 6:], P[..., 6:])
    assert group.act(g[:1], np.arange(12).reshape(1, 4, 3), PointLayout(3)).dtype == np.float64


@pytest.mark.parametrize("name", ["O", "I"])
def test_polyhedral_action_on_torch_tensors(name):
    torch = pytest.importorskip("torch")
    group = get_group(name)
    layout = PointLayout(3, fields=[("pos", "position"), ("q", "scalar")])
    P = np.random.default_rng(0).normal(size=(10, 5, 4))
    g = group.sample(10, 0)
    for idx in (g, torch.as_tensor(g)):
        out = group.act(idx, torch.as_tensor(P, dtype=torch.float32), layout)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
        np.testing.assert_allclose(out.numpy(), group.act(g, P, layout), atol=1e-5)


@pytest.mark.parametrize("name, cls, order", POLYHEDRAL)
def test_nearest_element_recovers_elements_and_perturbed_elements(name, cls, order):
    group = get_group(name)
    e = group.elements()
    np.testing.assert_array_equal(group.nearest_element(group.matrices(e)), e)
    # a rotation by 0.2 rad away from each element (on either side) still rounds to it
    axes = np.random.default_rng(0).normal(size=(order, 3))
    Q = np.array([_rotation(a, 0.2) for a in axes])
    np.testing.assert_array_equal(group.nearest_element(group.matrices(e) @ Q), e)
    np.testing.assert_array_equal(group.nearest_element(Q @ group.matrices(e)), e)


@pytest.mark.parametrize("name, cls, order", POLYHEDRAL)
@given(seed=st.integers(0, 2**31 - 1))
def test_nearest_element_is_equivariant_for_random_rotations(name, cls, order, seed):
    group = get_group(name)
    R = OrthogonalGroup(3, special=True).sample(20, seed)
    k = group.nearest_element(R)
    G = group.matrices(k)
    # nearest: no element does better than the chosen one
    scores = np.einsum("kij,nij->nk", group.matrices(group.elements()), R)
    np.testing.assert_allclose(np.einsum("nij,nij->n", G, R), scores.max(axis=1), atol=1e-12)
    for h in (group.sample(20, seed + 1), np.arange(20) % order):
        np.testing.assert_array_equal(group.nearest_element(group.matrices(h) @ R), group.compose(h, k))


def _rotation(axis, angle):
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K


@pytest.mark.parametrize("name, cls, order", POLYHEDRAL)
def test_nearest_element_breaks_exact_ties_equivariantly(name, cls, order):
    """Frames exactly halfway between elements (the frames of symmetric samples): the tied
    element chosen for a rotated frame is the rotated choice, for every rotation of the group."""
    group = get_group(name)
    e = group.elements()
    G = group.matrices(e)
    # halfway along each element's own rotation (ties the identity with that element), then
    # moved to every coset by left multiplication
    halves = []
    for M in G[1:]:
        angle = np.arccos(np.clip((np.trace(M) - 1) / 2, -1, 1))
        w, v = np.linalg.eig(M)
        axis = np.real(v[:, np.argmin(np.abs(w - 1))])
        half = _rotation(axis, angle / 2)
        if not np.allclose(half @ half, M):
            half = _rotation(axis, -angle / 2)
        halves.append(half)
    halves = np.array(halves)
    scores = np.einsum("kij,nij->nk", G, halves)
    # keep the truly tied ones (half of a half turn may be an element itself); 2- to 4-way ties
    halves = halves[(scores >= scores.max(axis=1, keepdims=True) - 1e-9).sum(axis=1) >= 2]
    assert len(halves) >= order / 2
    k = group.nearest_element(halves)
    for h in e:
        hh = np.full(len(halves), h)
        np.testing.assert_array_equal(group.nearest_element(G[hh] @ halves), group.compose(hh, k))


def test_nearest_element_edge_inputs():
    group = get_group("O")
    R = np.stack([np.eye(3), np.full((3, 3), np.nan)])
    np.testing.assert_array_equal(group.nearest_element(R), [0, 0])
    torch = pytest.importorskip("torch")
    g = group.sample(5, 0)
    np.testing.assert_array_equal(group.nearest_element(torch.as_tensor(group.matrices(g))), g)


@pytest.mark.parametrize("name, cls, order", POLYHEDRAL)
def test_polyhedral_sampling_is_uniform(name, cls, order):
    counts = np.bincount(get_group(name).sample(200 * order, 0), minlength=order)
    assert len(counts) == order and counts.min() > 130 and counts.max() < 270


@pytest.mark.parametrize("name, cls, order", POLYHEDRAL)
def test_polyhedral_groups_pickle_and_compare(name, cls, order):
    import pickle

    group = get_group(name)
    back = pickle.loads(pickle.dumps(group))
    assert back == group == cls() and hash(back) == hash(group) and group.__dict__ == {}
    assert group != get_group("SO3") and len({get_group("O"), get_group("I"), get_group("tetrahedral")}) == 3
    g = group.sample(7, 0)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(g)), g)
    np.testing.assert_array_equal(back.matrices(g), group.matrices(g))
    product = get_group(f"{name}xS_n")
    assert pickle.loads(pickle.dumps(product)) == product


@pytest.mark.parametrize(
    "alias, expected",
    [("O", OctahedralGroup), ("octahedral", OctahedralGroup), ("Octahedral", OctahedralGroup),
     ("I", IcosahedralGroup), ("icosahedral", IcosahedralGroup), ("tetrahedral", TetrahedralGroup),
     ("O3", OrthogonalGroup), ("SO3", OrthogonalGroup), ("O2", OrthogonalGroup)],
)
def test_polyhedral_aliases(alias, expected):
    assert type(get_group(alias)) is expected


@pytest.mark.parametrize("alias, first", [("OxS_n", OctahedralGroup), ("O×S_n", OctahedralGroup),
                                          ("IxS_n", IcosahedralGroup), ("I x S_n", IcosahedralGroup),
                                          ("icosahedralxS_n", IcosahedralGroup),
                                          ("tetrahedralxS_n", TetrahedralGroup)])
def test_polyhedral_products_with_permutations(alias, first):
    group = get_group(alias)
    assert isinstance(group, ProductGroup) and [type(f) for f in group.factors] == [first, PermutationGroup]
    assert get_group(group.name) == group  # the name parses back
    assert group.rotates and group.special and group.permutes and not group.translates and group.d == 3
    layout = PointLayout(3)
    P = np.random.default_rng(0).normal(size=(4, 6, 3))
    g = group.sample(4, 0, n_points=6)
    moved = group.act(g, P, layout)
    rotated = np.einsum("nij,nmj->nmi", group.factors[0].matrices(g[0]), P)
    np.testing.assert_allclose(np.sort(moved, axis=1), np.sort(rotated, axis=1), atol=1e-12)


def test_polyhedral_groups_are_examples_and_refuse_other_layouts():
    import skcanon.groups as groups

    assert "O" in groups.EXAMPLES and "I" in groups.EXAMPLES
    group = get_group("I")
    assert not group.acts_on(ImageLayout()) and group.acts_on(PointLayout(3))
    with pytest.raises(ValueError, match="n_dims=2"):
        group.check_layout(PointLayout(2))
    with pytest.raises(TypeError):
        group.act(np.zeros(1, int), np.zeros((1, 1, 5, 5)), ImageLayout())


@pytest.mark.parametrize("alias, m, order", [("C4", 3, 4), ("D3", 2, 6), ("S_n", 4, 24), ("O", 5, 24),
                                              ("C2xS_n", 3, 12), ("SO3", 3, None)])
def test_elements_on_n_points_enumerate_each_element_once(alias, m, order):
    g = get_group(alias)
    assert g.order_on(m) == order
    if order is None:
        return
    E = g.elements_on(m)
    rng = np.random.default_rng(0)
    P = rng.normal(size=(1, m, 2 if g.d == 2 else 3))
    layout = PointLayout(P.shape[2])
    moved = {tuple(np.round(g.act(g.repeat(g.take(E, k), 1), P, layout).ravel(), 9)) for k in range(order)}
    assert len(moved) == order  # a generic sample has a free orbit: every element moves it apart
    assert np.all(g.elements_close(g.repeat(g.take(E, 1), 3), g.repeat(g.take(E, 1), 3)))


@pytest.mark.parametrize("alias", ["C5", "D3", "D4", "O", "I"])
def test_near_ties_move_with_the_element(alias):
    """The samples a finite group calls tied are the same after any element acts."""
    g = get_group(alias)
    E = g.matrices(g.elements())
    d = E.shape[1]
    rng = np.random.default_rng(1)
    # rotations half-way between two elements (a tie) and generic ones
    if d == 2:
        half = np.pi / g.n
        R = np.stack([np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
                      for a in (half + 1e-8, half - 3e-7, 0.3, 1.1)])
    else:
        from skcanon.groups import haar_orthogonal

        A = E[0]
        B = E[1 + np.argmax(np.einsum("kij,ij->k", E[1:], A))]     # an element next to A
        U, _, Vt = np.linalg.svd(A + B)
        mid = U @ Vt   # the rotation half-way between them
        R = np.concatenate([mid[None], haar_orthogonal(3, 3, 1, special=True)])
    ties = g.near_tie(R)
    assert ties[0] and not ties[-1]
    for k in range(g.order):
        assert np.array_equal(g.near_tie(E[k] @ R), ties)
    assert not get_group("SO3").near_tie(np.eye(3)[None]).any()


@pytest.mark.parametrize("name", ["Sim0", "SSim0", "SO0", "E0"])
def test_zero_dimensional_groups_are_unknown(name):
    """"Sim0"/"SSim0" were accepted, and the later error spoke of n_dims, which the caller
    never passed."""
    from skcanon.groups import get_group

    with pytest.raises(ValueError, match="Unknown group"):
        get_group(name)


# -- products refuse factors that do not commute ----------------------------------------------

@pytest.mark.parametrize("spec, use", [
    ("SO3xO3", "'O3'"), ("SE3xSE3", "'SE3'"), ("S_nxS_n", "'S_n'"), ("C4xD4", "'D4'"), ("D4xD4", "'D4'"),
    ("SO2xC4", "'SO2'"), ("OxI", "'SO3'"), ("OxSO3xS_n", "'SO3xS_n'"), ("SE2xO2", "'E2'"), ("T3xT3", "'T3'"),
    ("T3xSE3", "'SE3'"), ("scalingxscaling", "'scaling'"), ("Sim3xscalingxS_n", "'Sim3xS_n'"),
    ("T3xSO3xS_nxscaling", "'SSim3xS_n'"), ("SO2xSO3", "factors that act in one dimension"),
])
def test_products_of_factors_that_do_not_commute_are_refused(spec, use):
    """SO3xO3, SE3xSE3, S_nxS_n, C4xD4, D4xD4 were accepted with a wrong group law
    (apply(g, apply(h, X)) != apply(compose(g, h), X)); SO2xSO3 failed only at fit."""
    import re

    with pytest.raises(ValueError, match=rf"group '{re.escape(spec)}' is refused: .*Use {re.escape(use)}"):
        get_group(spec)
    if use.startswith("'"):
        get_group(use.strip("'"))  # the advice is a valid group


def test_product_group_objects_refuse_factors_that_do_not_commute():
    with pytest.raises(ValueError, match="'O3' already has every motion of 'SO3'"):
        ProductGroup([OrthogonalGroup(3, special=True), OrthogonalGroup(3)])
    with pytest.raises(ValueError, match="do not commute"):
        ProductGroup([CyclicGroup(4), DihedralGroup(3)])
    with pytest.raises(ValueError, match="2 and 3 dimensions"):
        ProductGroup([OrthogonalGroup(2), PermutationGroup(), TranslationGroup(3)])
    # names are not groups: a clear TypeError, not "'str' object has no attribute 'name'"
    with pytest.raises(TypeError, match="must be Group instances; got 'O'.*get_group"):
        ProductGroup(["O", "S_n"])


@pytest.mark.parametrize("spec", ["SE3xS_n", "E3xS_n", "SO3xS_n", "O3xS_n", "T3xS_n", "scalingxS_n",
                                  "SO3xscaling", "OxscalingxS_n", "Sim3xS_n", "D4xS_n", "tetrahedralxS_n",
                                  "C2xC4", "SE3xS_nxscaling"])
def test_products_of_commuting_factors_keep_the_group_law(spec):
    group = get_group(spec)
    layout = _layout_for(group)
    X = _data(layout, 0)
    g, h = group.sample(len(X), 1, n_points=X.shape[1]), group.sample(len(X), 2, n_points=X.shape[1])
    np.testing.assert_allclose(group.apply(g, group.apply(h, X, layout), layout),
                               group.apply(group.compose(g, h), X, layout), atol=1e-9)
    np.testing.assert_allclose(group.apply(group.inverse(g), group.apply(g, X, layout), layout), X, atol=1e-9)


# -- constructors check their arguments -------------------------------------------------------

@pytest.mark.parametrize("make, error, match", [
    (lambda: OrthogonalGroup(0), ValueError, "d must be a positive int"),
    (lambda: OrthogonalGroup(2.7), TypeError, "d must be a positive int"),
    (lambda: OrthogonalGroup(True), TypeError, "d must be a positive int"),
    (lambda: EuclideanGroup(0), ValueError, "d must be a positive int"),
    (lambda: TranslationGroup("3"), TypeError, "d must be a positive int"),
    (lambda: OrthogonalGroup(3, special="no"), TypeError, "special must be a bool"),
    (lambda: EuclideanGroup(3, translation_scale=-1), ValueError, "translation_scale must be"),
    (lambda: ScalingGroup(max_factor=0), ValueError, "max_factor must be"),
    (lambda: ScalingGroup(max_factor=-2), ValueError, "max_factor must be"),
    (lambda: ScalingGroup(max_factor=float("nan")), ValueError, "max_factor must be"),
    (lambda: CyclicGroup(True), ValueError, "n must be a positive int"),
])
def test_group_constructors_refuse_invalid_arguments(make, error, match):
    """OrthogonalGroup(3, special="no") became SO3, OrthogonalGroup(2.7) O2; d=0, CyclicGroup(True)
    were accepted; ScalingGroup(max_factor=0) sampled non-finite factors."""
    with pytest.raises(error, match=match):
        make()


def test_group_constructors_accept_numpy_scalars():
    from skcanon.groups import SimilarityGroup

    assert OrthogonalGroup(np.int64(3), special=np.bool_(True)).name == "SO3"
    assert DihedralGroup(np.int8(3)).order == 6 and ScalingGroup(1).max_factor == 1.0
    assert np.all(np.isfinite(SimilarityGroup(2, max_factor=np.float32(3)).sample(4, 0)))
    with pytest.raises(ValueError, match="max_factor"):
        SimilarityGroup(2, max_factor=0)


# -- names ------------------------------------------------------------------------------------

def test_product_separator_is_case_insensitive_and_empty_factors_are_refused():
    assert get_group("SE3XS_n") == get_group("SE3xS_n")
    assert get_group("SO3XscalingXS_n").name == "SO3xscalingxS_n"
    for bad in ["xSE3", "SE3xxS_n", "SE3x", "x", "SE3 × × S_n"]:
        with pytest.raises(ValueError, match="empty factor"):
            get_group(bad)


def test_unknown_group_message_lists_every_name_family():
    with pytest.raises(ValueError, match="Unknown group 'tetra'") as info:
        get_group("tetra")
    for family in ["'SO<d>'", "'O<d>'", "'SE<d>'", "'E<d>'", "'T<d>'", "'Sim<d>'", "'SSim<d>'", "'scaling'",
                   "'S_n'", "'C<n>'", "'D<n>'", "'O'", "'I'", "'octahedral'", "'icosahedral'",
                   "'tetrahedral'", "'SE3xS_n'"]:
        assert family in str(info.value), family


def test_similarity_times_scaling_says_the_factor_is_redundant():
    """The message advised 'Sim3', which the caller had already written."""
    with pytest.raises(ValueError, match="'Sim3' already has every motion of 'scaling'.*Use 'Sim3' instead"):
        get_group("Sim3xscaling")


def test_registered_names_containing_x_are_found(monkeypatch):
    import skcanon.groups as groups

    for attr in ("NAMED_GROUPS", "_REGISTERED_NAMES", "EXAMPLES"):  # registration stays in this test
        value = getattr(groups, attr)
        monkeypatch.setattr(groups, attr, type(value)(value))
    groups.register_group("hexoctahedral", OctahedralGroup, example=False)
    assert type(get_group("hexoctahedral")) is OctahedralGroup
    assert type(get_group("Hexoctahedral")) is OctahedralGroup
    product = get_group("hexoctahedralxS_n")
    assert [type(f) for f in product.factors] == [OctahedralGroup, PermutationGroup]
    with pytest.raises(ValueError, match="'hexoctahedral'"):
        get_group("hexa")


def test_translations_times_scalings_names_what_the_suggested_group_adds():
    """No supported group has only translations and scalings: the advice names Sim3 as the
    smallest group containing them and says it also rotates, rather than "use Sim3"."""
    with pytest.raises(ValueError, match=r"smallest that contains them is 'Sim3', which also rotates or reflects"):
        get_group("T3xscaling")


# -- products of planar groups: true refusal reasons, each motion counted once ------------------

@pytest.mark.parametrize("spec, use, n_motions", [("D3xC2", "D6", 12), ("C2xD5", "D10", 20), ("D1xC2", "D2", 4),
                                                  ("D3xC2xS_n", "D6xS_n", 12)])
def test_commuting_planar_factors_that_make_a_larger_group_are_refused_for_that_reason(spec, use, n_motions):
    """"D3xC2" was refused saying the factors' motions do not commute; they do (C2 is the
    half turn, -I) and the component-wise law is right. The refusal now says why: together
    they make the 12 motions of D6, which one-factor-after-the-other canonicalization misses."""
    import re

    with pytest.raises(ValueError) as info:
        get_group(spec)
    msg = str(info.value)
    assert msg.startswith(f"group {spec!r} is refused: ")
    assert "do not commute" not in msg
    assert "their motions commute ('C2' is the half turn" in msg
    assert f"the {n_motions} motions of the single group {use.split('x')[0]!r}" in msg
    assert re.search(rf"Use {re.escape(repr(use))} instead\.$", msg)
    assert get_group(use.split("x")[0]).order == n_motions
    # the reason is true: every element of one factor commutes with every element of the other
    a, b = [get_group(t) for t in spec.split("x")[:2]]
    A, B = a.matrices(a.elements()), b.matrices(b.elements())
    np.testing.assert_allclose(np.einsum("iab,jbc->ijac", A, B), np.einsum("jab,ibc->ijac", B, A), atol=1e-12)


@pytest.mark.parametrize("spec", ["D2xC4", "C4xD3", "D4xC8"])
def test_planar_factors_that_do_not_commute_keep_that_reason(spec):
    with pytest.raises(ValueError, match="their motions do not commute"):
        get_group(spec)


@pytest.mark.parametrize("spec, order", [("C2xC4", 4), ("C4xC2", 4), ("C4xC4", 4), ("C8xC4", 8), ("C2xC4xC8", 8),
                                         ("C3xC6", 6), ("C1xC4", 4), ("C3xC12", 12), ("C2xC3xC6", 6)])
def test_products_of_cyclic_groups_count_each_motion_once(spec, order):
    """"C2xC4".order was 8 and elements() listed every turn twice ((1, 0) and (0, 2) are both
    the half turn); the product turns the points by the lcm(m, n) multiples of 360°/lcm."""
    g = get_group(spec)
    assert g.order == order and g.order_on(5) == order
    E = g.elements()
    assert all(len(e) == order for e in E)
    assert all(len(e) == order for e in g.elements_on(5)) and all(len(e) == order for e in g.grid(3))
    R = np.eye(2)
    for f, e in zip(g.factors, E):
        R = R @ f.matrices(e)
    turns = np.round(np.mod(np.arctan2(R[:, 1, 0], R[:, 0, 0]) * order / (2 * np.pi), order), 6)
    assert sorted(turns) == list(range(order))   # every turn of C_order, once
    assert np.all(g.elements_close(g.take(E, 0), g.identity(1)))  # the identity comes first
    # elements that make the same motion compare equal; compositions land on listed elements
    rs = np.random.RandomState(0)
    h, k = g.sample(20, rs), g.sample(20, rs)
    hk = g.compose(h, k)
    for i in range(20):
        one = g.repeat(g.take(hk, i), order)
        assert g.elements_close(one, E).sum() == 1


def test_half_turns_of_two_cyclic_factors_are_one_element():
    g = get_group("C2xC4")
    assert g.elements_close((np.array([1, 0, 1]), np.array([0, 2, 1])),
                            (np.array([0, 1, 0]), np.array([2, 3, 3]))).tolist() == [True, False, True]
    assert not g.elements_close((np.array([1]), np.array([0])), (np.array([0]), np.array([0])))[0]


@pytest.mark.parametrize("m", [2, 3])
def test_products_of_cyclic_groups_with_permutations_enumerate_each_element_once(m):
    import math

    g = get_group("C2xC4xS_n")
    assert g.order is None and g.order_on(m) == 4 * math.factorial(m)
    E = g.elements_on(m)
    assert all(len(e) == g.order_on(m) for e in E)
    layout = PointLayout(2)
    P = np.random.default_rng(0).normal(size=(1, m, 2))
    moved = {tuple(np.round(g.act(g.repeat(g.take(E, k), 1), P, layout).ravel(), 9)) for k in range(len(E[0]))}
    assert len(moved) == g.order_on(m)  # a generic sample: every listed element moves it apart


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["max_filter", "reynolds"])
def test_group_averages_of_cyclic_products_go_through_each_turn_once(method, dtype):
    """Reynolds and max filtering enumerate the group: C2xC4 went through 8 turns (each twice)
    where C4's 4 give the same map; the outputs are unchanged, the work halves."""
    from skcanon import InvariantProjector
    from skcanon.metrics import invariance_error, quotient_distance

    rs = np.random.default_rng(0)
    symmetric = np.tile(np.array([[1.0, 2.0], [2.0, 1.0]]), (2, 2)).reshape(1, 16)  # C4-invariant image
    X = np.concatenate([rs.normal(size=(5, 16)), symmetric, np.zeros((1, 16))]).astype(dtype)
    X0 = X.copy()
    proj = InvariantProjector("C2xC4", method, layout="image", random_state=0).fit(X)
    if method == "max_filter":
        assert proj.projection_.order_ == 4
    Z = proj.transform(X)
    assert Z.dtype == dtype and np.array_equal(X, X0)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert invariance_error(proj, X, "C2xC4", random_state=0, layout=proj.layout_).max < tol
    # the same map as C4's own, drawn with the same templates
    same = InvariantProjector("C4", method, layout="image", random_state=0).fit(X)
    np.testing.assert_allclose(Z, same.transform(X), rtol=tol, atol=tol)
    L = ImageLayout((1, 4, 4))
    P, Q = L.to_working(X.astype(np.float64)), L.to_working(rs.normal(size=(7, 16)))
    np.testing.assert_array_equal(quotient_distance(P, Q, "C2xC4", L), quotient_distance(P, Q, "C4", L))


@pytest.mark.parametrize("spec, first", [("C4xS_n", 4), ("D4xS_n", 8), ("IxS_n", 60), ("C2xC4xS_n", 4)])
def test_product_order_on_many_points_is_exact(spec, first):
    """order_on multiplied in int64 and wrapped: "C4xS_n".order_on(20) was -8715136041002991616
    (4·20! = 9731608032706560000)."""
    import math

    g = get_group(spec)
    for m in (3, 20, 25):
        assert g.order_on(m) == first * math.factorial(m)
        assert isinstance(g.order_on(m), int)


# -- cyclic factors that make a larger cyclic group; cyclic groups on fibres of another size -----

@pytest.mark.parametrize("spec, use, n_turns", [("C2xC3", "C6", 6), ("C3xC4", "C12", 12),
                                                ("C4xC6", "C12", 12), ("C3xC2", "C6", 6),
                                                ("C2xC3xC4", "C12", 12),
                                                ("C2xC3xS_n", "C6xS_n", 6), ("C2xS_nxC3", "C6xS_n", 6),
                                                ("C3xC2xscaling", "C6xscaling", 6)])
def test_cyclic_factors_that_make_a_larger_cyclic_group_are_refused(spec, use, n_turns):
    """"C2xC3" was accepted, but its turns are the 6 of C6 and canonicalizing C2 then C3 is
    not invariant under them (invariance error 1.0 on 2-D points with pca+pca, 1.41 on 8x8
    images); refused as D3xC2 is, naming the single group to use."""
    import re

    with pytest.raises(ValueError) as info:
        get_group(spec)
    msg = str(info.value)
    assert msg.startswith(f"group {spec!r} is refused: ")
    assert "their turns commute" in msg and "do not commute" not in msg
    assert f"the {n_turns} turns of the single group 'C{n_turns}'" in msg
    assert re.search(rf"Use {re.escape(repr(use))} instead\.$", msg)
    factors = [get_group(t) for t in spec.split("x")]
    with pytest.raises(ValueError, match=re.escape(f"Use {use!r} instead.")):
        ProductGroup(factors)
    # the reason is true: the cyclic factors' turns make exactly the n_turns turns of C_n_turns
    cyclic = [f for f in factors if isinstance(f, CyclicGroup)]
    R = np.eye(2)[None]
    for f in cyclic:
        R = (R[:, None] @ f.matrices(f.elements())[None]).reshape(-1, 2, 2)
    steps = np.mod(np.arctan2(R[:, 1, 0], R[:, 0, 0]) * n_turns / (2 * np.pi), n_turns)
    turns = np.unique(np.round(steps, 6) % n_turns)
    assert turns.tolist() == list(range(n_turns)) and n_turns > max(f.n for f in cyclic)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spec", ["C2xC4", "C4xC2", "C3xC6", "C2xC3xC6", "C6xC3xC2", "C1xC3", "C2xC4xS_n"])
def test_cyclic_products_whose_turns_are_the_largest_factors_stay_accepted(spec, dtype):
    """The lcm of the orders is the largest order: every turn is the largest factor's, and
    canonicalizing the factors one after the other is invariant (generic, C6-symmetric and
    all-zero samples)."""
    from skcanon import CanonicalizerTransformer
    from skcanon.metrics import invariance_error

    g = get_group(spec)
    n = max(f.n for f in g.factors if isinstance(f, CyclicGroup))
    assert g.order_on(5) == n * (120 if "S_n" in spec else 1)
    rs = np.random.default_rng(0)
    angles = np.arange(6) * np.pi / 3 + 0.2
    hexagon = np.stack([np.cos(angles), 2 * np.sin(angles)], axis=1) * [1.0, 0.5]  # C6-symmetric
    X = np.concatenate([rs.normal(size=(20, 12)), hexagon.reshape(1, 12), np.zeros((1, 12))]).astype(dtype)
    X0 = X.copy()
    t = CanonicalizerTransformer(group=spec, layout="points", n_dims=2).fit(X)
    Z = t.transform(X)
    assert Z.dtype == dtype and np.array_equal(X, X0)
    tol = 1e-4 if dtype == np.float32 else 1e-9
    assert invariance_error(t, X, spec).max < tol


def test_cyclic_groups_refuse_fibres_of_another_size():
    """get_group("C2xC4").acts_on(FibreLayout(4)) and check_layout accepted, then act raised
    "C2 needs fibre_size=2, got 4"; C2 alone on FibreLayout(4) the same. Now both say no."""
    import re

    from skcanon.projections._base import fits

    g = get_group("C2xC4")
    for size in (2, 4, 8):
        layout = FibreLayout(size)
        assert not g.acts_on(layout) and not fits(g, layout)
        with pytest.raises(ValueError, match=re.escape(
                f"group 'C2xC4' cannot act on FibreLayout(fibre_size={size}): a cyclic factor C_m acts on "
                "regular-representation fibres of size m only ('C2' needs fibre_size=2, "
                "'C4' needs fibre_size=4)")) as info:
            g.check_layout(layout)
        assert str(info.value).endswith("use group 'C4' on FibreLayout(4).")
    c2 = get_group("C2")
    assert not c2.acts_on(FibreLayout(4)) and c2.acts_on(FibreLayout(2))
    with pytest.raises(ValueError, match=r"C2 acts on regular-representation fibres of size 2 .* "
                                         r"fibre_size=4; use FibreLayout\(2\)"):
        c2.check_layout(FibreLayout(4))
    c2.check_layout(FibreLayout(2))
    with pytest.raises(ValueError, match=r"'C4xC4' acts on regular-representation fibres of size 4, "
                                         r".* fibre_size=2"):
        get_group("C4xC4").check_layout(FibreLayout(2))
    with pytest.raises(TypeError, match="D4 cannot act on layout FibreLayout"):
        get_group("D4").check_layout(FibreLayout(8))  # D_n acts on no fibres (act raised TypeError late)
    with pytest.raises(TypeError, match="S_n permutes points"):
        get_group("C4xS_n").check_layout(FibreLayout(4))  # unchanged: S_n acts on no fibres
    # the one product that acts on fibres: C_n x C_n, on those of size n, as C_n does
    c4, c44, layout = get_group("C4"), get_group("C4xC4"), FibreLayout(4)
    assert c44.acts_on(layout) and fits(c44, layout)
    c44.check_layout(layout)
    for dtype in (np.float64, np.float32):
        P = np.random.default_rng(0).normal(size=(6, 3, 4)).astype(dtype)
        P0 = P.copy()
        a, b = c4.sample(6, 1), c4.sample(6, 2)
        out = c44.act((a, b), P, layout)
        assert out.dtype == dtype and np.array_equal(P, P0)
        np.testing.assert_array_equal(out, c4.act(c4.compose(a, b), P, layout))


def test_refused_products_do_not_load_from_old_pickles():
    """Unpickling skips the constructor, so a product pickled before it was refused (C2xC3:
    its turns are C6's, the component-wise order 6 is right but two factors turn the same
    points) loaded and acted as before. Loading now checks the factors as the constructor does."""
    import pickle

    from skcanon.groups import get_group
    from skcanon.groups._product import ProductGroup

    old = ProductGroup.__new__(ProductGroup)
    old.__dict__.update(_factors=(get_group("C2"), get_group("C3")), name="C2xC3", exact_on_images=True)
    with pytest.raises(ValueError, match="'C2xC3' is refused"):
        pickle.loads(pickle.dumps(old))
    ok = get_group("D4xS_n")
    assert pickle.loads(pickle.dumps(ok)) == ok


# -- elements from users are checked ----------------------------------------------------------
@pytest.mark.parametrize("group, g, X, match", [
    ("S_n", np.array([[1, 0, 2]] * 2), np.ones((2, 12)), r"permutation of the 4 points .* shape \(2, 4\)"),
    ("S_n", np.array([[0, 0, 1, 2]] * 2), np.ones((2, 12)), r"g\[0\] = \[0, 0, 1, 2\] is not a permutation"),
    ("C4", np.array([0.5]), np.ones((1, 2)), "one int element of C4"),
    ("D4", np.array([9]), np.ones((1, 2)), r"outside \[0, 8\) of D4: \[9\]"),
    ("D4", np.array([-1]), np.ones((1, 2)), r"outside \[0, 8\)"),
    ("O", np.array([-1]), np.ones((1, 3)), r"outside \[0, 24\) of O"),
    ("C4", True, np.ones((1, 2)), "dtype bool"),
    ("SO3", np.eye(3)[None].repeat(3, 0), np.ones((5, 6)), r"shape \(5, 3, 3\); got shape \(3, 3, 3\)"),
    ("SO3", 2 * np.eye(3)[None], np.ones((1, 3)), "rotation matrices of SO3"),
    ("SE3", np.eye(3)[None].repeat(5, 0), np.ones((5, 6)), r"homogeneous matrices of shape \(5, 4, 4\)"),
    ("T3", np.zeros((2, 2)), np.ones((2, 3)), r"translation vectors of shape \(2, 3\)"),
    ("E3xS_n", np.eye(4)[None], np.ones((1, 6)), "tuple of 2 element batches"),
])
def test_apply_refuses_what_is_not_an_element(group, g, X, match):
    """``apply`` used whatever it was given: a 3-entry permutation dropped a point of 4-point
    clouds, ``[0, 0, 1, 2]`` acted as some permutation, C4 turned by 45° for 0.5, D4 read 9
    as r¹, O read -1 as element 23; wrong counts or shapes failed inside numpy."""
    G = get_group(group)
    n_dims = 2 if group[0] in "CD" else 3
    with pytest.raises(ValueError, match=match):
        G.apply(g, X, PointLayout(n_dims))


def test_apply_takes_a_layout_name_and_a_scalar_element():
    """Layout names, as the metrics take them (``"points"`` failed with an AttributeError),
    and one scalar element for every sample (worked for C4, an IndexError for D4)."""
    X = np.random.default_rng(0).normal(size=(3, 6))
    np.testing.assert_allclose(get_group("SO3").apply(np.eye(3)[None].repeat(3, 0), X, "points"), X)
    D4 = get_group("D4")
    np.testing.assert_allclose(D4.apply(1, X[:, :4], PointLayout(2)), D4.apply(np.ones(3, int), X[:, :4], PointLayout(2)))


@pytest.mark.parametrize("name", ["SO3", "SE3", "Sim3", "scaling", "C4", "D4", "T3"])
def test_actions_on_torch_tensors_take_numpy_or_torch_elements(name):
    """docs/architecture.md: each action works on numpy arrays and torch tensors alike.
    SO3/SE3/Sim3 with numpy elements (what ``sample`` returns) failed with an
    AttributeError, C4/D4/scaling even with torch elements."""
    torch = pytest.importorskip("torch")
    G = get_group(name)
    d = G.d or 3
    X = np.random.default_rng(0).normal(size=(4, 5, d))
    g = G.sample(4, 0)
    expect = G.act(g, X, PointLayout(d))
    for elements in (g, torch.as_tensor(g)):
        out = G.act(elements, torch.tensor(X), PointLayout(d))
        np.testing.assert_allclose(out.numpy(), expect, atol=1e-12)


@pytest.mark.parametrize("name", ["C3", "C6", "D4", "D5"])
def test_nearest_element_reads_non_finite_frames_as_the_identity(name):
    """As O and I do: a NaN frame was cast to an int (an arbitrary element, a RuntimeWarning)."""
    G = get_group(name)
    frames = np.stack([np.full((2, 2), np.nan), np.eye(2)])
    np.testing.assert_array_equal(G.nearest_element(frames), [0, 0])


@pytest.mark.parametrize("name", ["D4", "C8", "SO2"])
def test_act_refuses_images_without_a_channel_axis_and_apply_takes_them(name):
    # D4.act on (n, H, W) images with a mirror among the elements returned (n, n, H, W);
    # C8/SO2 failed inside the interpolation: act takes working arrays (n, C, H, W) only
    G = get_group(name)
    X = np.random.default_rng(0).random((3, 8, 8))
    g = G.sample(3, 0)
    with pytest.raises(ValueError, match=r"working image arrays of shape \(n, C, H, W\).*apply"):
        G.act(g, X, ImageLayout((8, 8)))
    out = G.apply(g, X, ImageLayout((8, 8)))
    assert out.shape == (3, 8, 8)
    np.testing.assert_array_equal(out[:, None], G.act(g, X[:, None], ImageLayout((8, 8))))


@pytest.mark.parametrize("group, bad", [
    ("SE3", np.diag([1.0, 1.0, -1.0, 1.0])),                       # a reflection
    ("E3", np.array([[1.0, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])),   # a shear
    ("E3", np.array([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 1, 1, 1]])),    # not [0, 0, 0, 1]
    ("Sim3", np.diag([0.0, 0.0, 0.0, 1.0])),                        # scale 0
    ("Sim3", np.diag([2.0, 1.0, 1.0, 1.0])),                        # not a multiple of a rotation
])
def test_homogeneous_elements_are_checked(group, bad):
    """E(d), SE(d) and Sim(d) checked only the shape and finiteness of their elements: a
    reflection under SE3, a shear or a wrong last row were applied silently (and taken by
    ``inverse_transform`` as frames), where SO3 refuses the same linear parts."""
    G = get_group(group)
    X = np.random.default_rng(0).normal(size=(2, 4, 3))
    with pytest.raises(ValueError, match=f"g must hold homogeneous matrices .* of {group}"):
        G.apply(np.stack([np.eye(4), bad]), X, PointLayout(3))
    good = G.sample(2, np.random.RandomState(0))
    G.apply(good, X, PointLayout(3))                                  # sampled elements pass
    G.apply(good.astype(np.float32), X.astype(np.float32), PointLayout(3))
    if G.rescales:                                                    # float32 scales of 1e20 too
        big = good.copy()
        big[:, :3, :3] *= 1e20
        G.apply(big.astype(np.float32), X.astype(np.float32), PointLayout(3))


@pytest.mark.parametrize("name", ["SO3", "O2", "SE3", "E2", "Sim3", "T3", "scaling", "S_n", "C4", "D4", "D5",
                                  "O", "I", "tetrahedral", "SE3xS_n", "SO3xscaling", "C2xC4"])
def test_group_law_on_torch_tensors(name):
    """Groups compose and invert torch tensors as numpy arrays: tensor in, tensor out, the
    same values, gradients kept. SO3.inverse raised an AttributeError ('copy'), SE3/T3/
    scaling a RuntimeError (numpy() of a tensor that requires grad), and the finite groups
    returned numpy arrays."""
    torch = pytest.importorskip("torch")
    G = get_group(name)
    g, h = G.sample(5, 0, n_points=6), G.sample(5, 1, n_points=6)
    tup = isinstance(g, tuple)
    parts = (lambda e: e) if tup else (lambda e: (e,))

    def tensor(e):
        e = np.asarray(e)
        return torch.tensor(e, requires_grad=e.dtype.kind == "f")

    tg = tuple(map(tensor, g)) if tup else tensor(g)
    th = tuple(map(tensor, h)) if tup else tensor(h)
    for out, expect in [(G.inverse(tg), G.inverse(g)), (G.compose(tg, th), G.compose(g, h)),
                        (G.compose(tg, h), G.compose(g, h)), (G.compose(g, th), G.compose(g, h))]:
        for o, e in zip(parts(out), parts(expect)):
            assert isinstance(o, torch.Tensor)
            np.testing.assert_allclose(o.detach().numpy(), e, rtol=1e-12, atol=1e-12)
            assert o.requires_grad == (np.asarray(e).dtype.kind == "f")


@pytest.mark.parametrize("scale", [1e-300, 1e-120, 1e-20, 1.0, 1e20, 1e120, 1e300])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_similarity_scales_at_extreme_magnitudes(scale, dtype):
    """``scales`` read ``|det(s·R)|^(1/d)``: det = s^d overflowed to inf at 1e120 and
    underflowed to 0 at 1e-120 (float32: beyond about 1e±12), where the elements are valid."""
    if dtype == np.float32 and not 1e-30 < scale < 1e30:
        pytest.skip("beyond float32's range")
    G = get_group("Sim3")
    g = G.sample(5, 0)
    s = np.sqrt((g[:, :3, :3] ** 2).sum(axis=(1, 2)) / 3)
    h = g.copy()
    h[:, :3, :3] *= scale
    out = G.scales(h.astype(dtype))
    assert out.dtype == dtype
    np.testing.assert_allclose(out, s * scale, rtol=1e-12 if dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("name", ["S_n", "SE3xS_n", "OxS_n", "C4xS_n"])
def test_grid_of_permutation_groups_takes_n_points(name):
    """``grid(n)`` raised "S_n.sample needs n_points" for S_n and every product with it, and
    took no ``n_points``: it takes one now, as ``sample`` does, and without it names it."""
    G = get_group(name)
    g = G.grid(8, n_points=5)
    perms = g[-1] if isinstance(g, tuple) else g
    assert perms.shape == (8, 5)
    np.testing.assert_array_equal(np.sort(perms, axis=1), np.broadcast_to(np.arange(5), (8, 5)))
    same = G.grid(8, n_points=5)
    for a, b in zip(g if isinstance(g, tuple) else (g,), same if isinstance(same, tuple) else (same,)):
        np.testing.assert_array_equal(a, b)                  # seeded
    with pytest.raises(ValueError, match=f"{name}.grid needs n_points"):
        G.grid(8)
    for other in ["SO2", "SO3", "C4", "D4", "O", "scaling"]:  # the others take it and ignore it
        H = get_group(other)
        np.testing.assert_array_equal(H.grid(6, n_points=5), H.grid(6))


@pytest.mark.parametrize("name", ["SO2", "SO3", "SE2", "SE3", "SSim3"])
def test_nearest_element_of_special_groups_is_proper(name):
    """SO2.nearest_element(diag(-1, 1)) returned the reflection itself (and SE3 of -I a
    reflecting motion), which ``apply`` then refused: a frame of negative determinant becomes
    the nearest rotation; proper frames are kept bit for bit."""
    G = get_group(name)
    d = G.d
    rs = np.random.RandomState(0)
    R = np.linalg.qr(rs.standard_normal((6, d, d)))[0]
    R[:, :, 0] *= np.sign(np.linalg.det(R))[:, None]                    # proper rotations
    flip = np.diag([1.0] * (d - 1) + [-1.0])
    bad = np.stack([np.diag([-1.0] + [1.0] * (d - 1)), -np.eye(d) if d % 2 else flip, R[0] @ flip])
    X = rs.standard_normal((3, 4, d))
    h = G.nearest_element(bad)
    A = G.matrices(h) if G.translates else h
    A = A / G.scales(h)[:, None, None] if G.rescales else A
    np.testing.assert_allclose(np.linalg.det(A), 1.0, atol=1e-12)
    np.testing.assert_allclose(A @ np.swapaxes(A, 1, 2), np.broadcast_to(np.eye(d), A.shape), atol=1e-12)
    G.apply(h, X, PointLayout(d))                                       # refused before
    # a nearest rotation: no rotation is closer to the frame (Frobenius) than the one returned
    others = get_group(f"SO{d}").sample(200, 1)
    for b, a in zip(bad, A):
        assert np.linalg.norm(b - a) <= np.linalg.norm(b[None] - others, axis=(1, 2)).min() + 1e-12
    good = G.nearest_element(R)
    np.testing.assert_array_equal(G.matrices(good) if G.translates else good, R)


@pytest.mark.parametrize("name, R", [
    ("O", np.eye(2)[None]), ("I", np.eye(3)), ("C4", np.eye(3)[None]), ("C4", np.eye(2)),
    ("D4", np.ones((1, 3, 3))), ("SO3", np.eye(2)[None]), ("O2", np.eye(2)), ("SE3", np.eye(4)[None]),
    ("T3", np.eye(2)[None]),
])
def test_nearest_element_checks_the_shape_of_its_frames(name, R):
    """Frames of the wrong shape failed inside numpy (a broadcast or axis error naming
    neither R nor the shape wanted) or, for the continuous groups, were taken as they came."""
    G = get_group(name)
    with pytest.raises(ValueError, match=rf"R must hold one {G.d}×{G.d} matrix per sample for {name}, "
                                         rf"shape \(n, {G.d}, {G.d}\); got shape {re.escape(str(R.shape))}"):
        G.nearest_element(R)
    if G.is_finite:
        with pytest.raises(ValueError, match="R must hold"):
            G.near_tie(R)
    if G.translates:
        with pytest.raises(ValueError, match=r"t must hold one translation per sample of R .*shape \(2, 3\)"):
            G.nearest_element(np.stack([np.eye(3)] * 2), np.zeros((3, 3)))


@pytest.mark.parametrize("name", ["O2", "SO2", "O3", "SO3", "E2", "SE3", "E3", "Sim3", "SSim3", "SO4"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(seed=st.integers(0, 2**31 - 1), stretch=st.floats(0.05, 20.0))
def test_nearest_element_of_continuous_groups_projects_non_orthogonal_frames(name, dtype, seed, stretch):
    """O3.nearest_element of a non-orthogonal matrix returned it as it was (|R Rᵀ − I| = 3.1
    for a stretched frame), which ``apply`` then refused; every continuous group with
    rotations passed such matrices through. They now become the nearest element: the polar
    factor of the SVD (a proper one under the special groups, times the RMS scale under
    Sim(d)); elements already are kept bit for bit; the caller's array is not modified."""
    G = get_group(name)
    d = G.d
    rs = np.random.RandomState(seed)
    Q = np.linalg.qr(rs.standard_normal((4, d, d)))[0]
    stretches = np.exp(rs.uniform(-1.0, 1.0, (4, d))) * np.array([stretch] + [1.0] * (d - 1))
    R = (Q * stretches[:, None, :] @ np.linalg.qr(rs.standard_normal((4, d, d)))[0]).astype(dtype)
    given_R = R.copy()
    h = G.nearest_element(R, np.zeros((4, d), dtype=dtype) if G.translates else None)
    np.testing.assert_array_equal(R, given_R)
    G.apply(h, rs.standard_normal((4, 3, d)), PointLayout(d))   # an element: apply accepts it
    A = G.matrices(h) if G.translates else h
    s = G.scales(h) if G.rescales else np.ones(4)
    A = A / s[:, None, None]
    np.testing.assert_allclose(A @ np.swapaxes(A, 1, 2), np.broadcast_to(np.eye(d), A.shape), atol=1e-12)
    # the nearest orthogonal (rotation) matrix: no sampled one is closer to R / s
    others = get_group(f"{'SO' if G.special else 'O'}{d}").sample(300, seed % 1000)
    R64 = R.astype(np.float64) / s[:, None, None]
    for r, a in zip(R64, A):
        assert np.linalg.norm(r - a) <= np.linalg.norm(r[None] - others, axis=(1, 2)).min() + 1e-9
    # elements are kept bit for bit (a second call changes nothing)
    again = G.nearest_element(A * s[:, None, None], np.zeros((4, d)) if G.translates else None)
    np.testing.assert_array_equal(G.matrices(again) if G.translates else again, A * s[:, None, None])


@pytest.mark.parametrize("name", ["O3", "SO2", "SE3", "Sim3"])
def test_nearest_element_refuses_singular_frames_naming_them(name):
    G = get_group(name)
    d = G.d
    R = np.stack([np.eye(d), np.diag([1.0] * (d - 1) + [0.0]), np.zeros((d, d))])
    with pytest.raises(ValueError, match=r"R\[1, 2\] are singular"):
        G.nearest_element(R, np.zeros((3, d)) if G.translates else None)
