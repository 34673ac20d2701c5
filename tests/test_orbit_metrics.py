"""orbit_distortion, orbit_separation and the quotient distance they rest on."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skcanon._projector import InvariantProjector
from skcanon.groups import EXAMPLES, get_group
from skcanon.layouts import FibreLayout, ImageLayout, PointLayout
from skcanon.metrics import OrbitDistortion, orbit_distortion, orbit_separation, quotient_distance

def _quotient_cases():
    """``(group, layout, flat width per sample)`` for every group of
    :data:`skcanon.groups.EXAMPLES` with an exact quotient distance, on every layout kind it
    acts on exactly (points of its ``d``, or 2-D for S_n; square images for finite groups
    whose image action is exact; regular fibres), plus points with several fields: a group
    registered later is checked without edits."""
    cases = []
    for name in EXAMPLES:
        G = get_group(name)
        layouts = []
        if "points" in G.layout_kinds:
            layouts.append((PointLayout(G.d or 2), 5 * (G.d or 2)))
        if "image" in G.layout_kinds and G.is_finite and G.exact_on_image_shape((4, 4)):
            layouts.append((ImageLayout((4, 4)), 16))
        if "fibre" in G.layout_kinds:
            layouts.append((FibreLayout(G.order), 3 * G.order))
        for layout, width in layouts:
            P = layout.to_working(np.zeros((1, width)))
            try:
                quotient_distance(P, P, G, layout)
            except NotImplementedError:  # products and similarities: no closed form
                continue
            cases.append((name, layout, width))
    cases.append(("E2", PointLayout(2, fields=[("pos", "position"), ("vel", "vector"), ("q", "scalar")]), 20))
    return cases


GROUPS = _quotient_cases()


def _pair(seed, width, n=6):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, width)), rng.normal(size=(n, width))


@pytest.mark.parametrize("group, layout, width", GROUPS, ids=[f"{g}-{lay.kind}" for g, lay, _ in GROUPS])
@given(seed=st.integers(0, 2**31 - 1))
def test_quotient_distance_is_a_distance_on_orbits(group, layout, width, seed):
    X, Y = _pair(seed, width)
    P, Q = layout.to_working(X), layout.to_working(Y)
    G = get_group(group)
    g = G.sample(len(X), seed, n_points=P.shape[1])
    h = G.sample(len(X), seed + 1, n_points=P.shape[1])
    d = quotient_distance(P, Q, G, layout)
    scale = np.linalg.norm(X, axis=1) + np.linalg.norm(Y, axis=1)
    # zero on an orbit, never above the plain distance, invariant in both arguments, symmetric
    assert np.all(quotient_distance(P, G.act(g, P, layout), G, layout) <= 1e-9 * scale)
    assert np.all(d <= np.linalg.norm(X - Y, axis=1) + 1e-12)
    np.testing.assert_allclose(quotient_distance(G.act(g, P, layout), G.act(h, Q, layout), G, layout), d,
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(quotient_distance(Q, P, G, layout), d, rtol=1e-9, atol=1e-12)


@given(seed=st.integers(0, 2**31 - 1), m=st.integers(2, 5))
def test_permutation_distance_matches_brute_force(seed, m):
    X, Y = _pair(seed, 2 * m, n=4)
    layout = PointLayout(2)
    P, Q = layout.to_working(X), layout.to_working(Y)
    brute = np.min([np.linalg.norm(P - Q[:, list(p)], axis=(1, 2)) for p in itertools.permutations(range(m))],
                   axis=0)
    np.testing.assert_allclose(quotient_distance(P, Q, "S_n", layout), brute, rtol=1e-12)


@pytest.mark.parametrize("group", ["O3", "SO3"])
def test_procrustes_beats_random_rotations(group):
    X, Y = _pair(0, 15, n=3)
    layout = PointLayout(3)
    P, Q = layout.to_working(X), layout.to_working(Y)
    G = get_group(group)
    d = quotient_distance(P, Q, G, layout)
    for seed in range(200):
        R = G.sample(3, seed)
        assert np.all(d <= np.linalg.norm(P - G.act(R, Q, layout), axis=(1, 2)) + 1e-12)


def test_orbit_distortion_result_and_errors():
    X = np.random.default_rng(0).normal(size=(30, 12))
    proj = InvariantProjector("E3", "distances").fit(X)
    res = orbit_distortion(proj, X, "E3", n_pairs=50, random_state=0)
    assert isinstance(res, OrbitDistortion) and res.n_pairs == 50
    assert 1.0 <= res.distortion < np.inf and 0 < res.correlation <= 1
    assert res.max_ratio / res.min_ratio == pytest.approx(res.distortion)
    # the same pairs for the same seed
    assert orbit_distortion(proj, X, "E3", n_pairs=50, random_state=0) == res
    with pytest.raises(ValueError, match="X_other must have the shape"):
        orbit_distortion(proj, X, "E3", X_other=X[:5])
    with pytest.raises(ValueError, match="at least 2 samples"):
        orbit_distortion(proj, X[:1], "E3")
    prod = InvariantProjector("E3xS_n", "sorted_distances").fit(X)
    with pytest.raises(NotImplementedError, match="E3xS_n"):
        orbit_distortion(prod, X, "E3xS_n")


def test_equivalent_pairs_are_skipped_and_lossy_maps_score_below_one():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4, 2))
    # pairs in the same orbit: nothing to separate
    Y = get_group("S_n").apply(get_group("S_n").sample(40, 0, n_points=4), X, PointLayout(2))
    proj = InvariantProjector("S_n", "sort", n_dims=2).fit(X)
    assert np.isnan(orbit_separation(proj, X, "S_n", X_other=Y))
    assert orbit_distortion(proj, X, "S_n", X_other=Y).n_pairs == 0
    # half the pairs shuffled within a channel (sort merges those), half generic
    Z = rng.normal(size=X.shape)
    Z[:20] = X[:20]
    Z[:20, :, 1] = X[:20, ::-1, 1]
    rate = orbit_separation(proj, X, "S_n", X_other=Z)
    assert rate == pytest.approx(0.5)
    lossless = InvariantProjector("S_n", "lexsort", n_dims=2).fit(X)
    assert orbit_separation(lossless, X, "S_n", X_other=Z) == 1.0
    assert orbit_distortion(proj, X, "S_n", X_other=Z).distortion == np.inf


def test_metrics_accept_callables():
    X = np.random.default_rng(0).normal(size=(20, 6))
    rate = orbit_separation(lambda A: np.sort(A, axis=1), X, "S_n", layout=PointLayout(1), random_state=0)
    assert rate == 1.0
    with pytest.raises(TypeError, match="transformer or a callable"):
        orbit_separation(3, X, "S_n", layout=PointLayout(1))
