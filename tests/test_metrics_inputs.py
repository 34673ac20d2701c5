"""skcanon.metrics on the inputs the estimators take: absent points, graph lists, images,
layout names, categorical fields, float32; and the orbit_separation fallback warning."""

import warnings

import networkx as nx
import numpy as np
import pytest

from skcanon import CanonicalizerTransformer
from skcanon._projector import InvariantProjector
from skcanon.datasets import load_graph_atlas
from skcanon.layouts import Field, FibreLayout, GraphLayout, ImageLayout, PointLayout
from skcanon.metrics import (continuity_ratio, equivariance_error, invariance_error, orbit_distortion,
                             orbit_separation, quotient_distance)

DTYPES = [np.float64, np.float32]


def _identity(Z):
    return np.array(Z, dtype=np.float64)


# -- 1. absent points: a NaN in only one of f(x), f(g·x) is an error, not NaN ------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("degenerate", [False, True])
def test_invariance_error_of_a_map_that_moves_absent_points_is_inf(dtype, degenerate):
    """The identity map is not S_n-invariant; with one absent point per cloud the error
    was NaN (max=nan, so `err.max > tol` was False)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 5, 3)).astype(dtype)
    if degenerate:                      # all present points equal: only the absent row moves
        X[:] = X[:, :1]
    X[:, 4] = np.nan
    before = X.copy()
    err = invariance_error(_identity, X, "S_n", random_state=0, layout=PointLayout(3))
    assert err.max == np.inf and err.max > 1e-3
    assert not np.isnan(err.median)
    np.testing.assert_array_equal(X, before)            # the caller's data is untouched


@pytest.mark.parametrize("dtype", DTYPES)
def test_invariance_error_of_an_overflowing_output_is_inf_and_leaves_the_others_alone(dtype):
    """An output that is infinite on both sides (an overflow) gave NaN (``inf - inf``),
    and its infinite norm raised the batch's floor so that every other sample's error
    read 0: now that sample's error is ``inf`` and the others are as without it."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 4, 3)).astype(dtype)

    def norms(Z):   # S_n-invariant except for a deliberate rounding-size leak, inf at sample 0
        P = np.asarray(Z, dtype=np.float64).reshape(len(Z), 4, 3)
        out = np.sort(np.linalg.norm(P, axis=2), axis=1) + 1e-3 * P[:, :1, 0]
        out[np.abs(P[:, :, 0]).sum(axis=1) == np.abs(X[0, :, 0].astype(np.float64)).sum()] = np.inf
        return out

    err = invariance_error(norms, X, "S_n", n_trials=1, random_state=0, layout=PointLayout(3))
    alone = invariance_error(norms, X[1:], "S_n", n_trials=1, random_state=0, layout=PointLayout(3))
    assert err.max == np.inf
    assert 0 < alone.max < np.inf
    assert 0 < err.median < np.inf      # the others were 0 (median 0) before

@pytest.mark.parametrize("dtype", DTYPES)
def test_invariance_error_is_zero_where_both_outputs_are_absent_at_the_same_places(dtype):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 5, 3)).astype(dtype)
    X[:, 3:] = np.nan                                   # two absent points
    canon = CanonicalizerTransformer("S_n", "sort").fit(X)
    assert np.isnan(canon.transform(X)).any()           # the canonical forms keep them absent
    err = invariance_error(canon, X, "S_n", random_state=0)
    assert err.max == 0.0
    # a map whose NaN follows the data the same way on both sides: the absent rows of
    # the sorted output are at the end on both sides
    err = invariance_error(lambda Z: np.sort(np.asarray(Z, dtype=np.float64), axis=1), X, "S_n",
                           random_state=0, layout=PointLayout(3))
    assert err.max == 0.0


def test_equivariance_error_of_a_wrong_frame_with_absent_points_is_inf():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(15, 4, 3))
    X[:, 3] = np.nan
    identity_frames = lambda Z: np.tile(np.arange(4), (len(Z), 1))   # noqa: E731 - not equivariant
    err = equivariance_error(identity_frames, X, "S_n", random_state=0, layout=PointLayout(3))
    assert err.max == np.inf
    canon = CanonicalizerTransformer("S_n", "sort").fit(X)
    assert equivariance_error(canon, X, "S_n", random_state=0).max < 1e-12


# -- 2. lists of networkx graphs, as the estimators take them -----------------------------------
@pytest.fixture(scope="module")
def atlas():
    graphs = load_graph_atlas(min_nodes=3, max_nodes=4).graphs     # mixed sizes, symmetric graphs
    canon = CanonicalizerTransformer("S_n", "wl", layout="graph").fit(graphs)
    P, _ = canon.layout_.encode(graphs)
    return graphs, canon, P.reshape(len(P), -1)


def test_metrics_take_graph_lists_as_the_estimators_do(atlas):
    graphs, canon, flat = atlas
    assert invariance_error(canon, graphs, "S_n", random_state=0) == invariance_error(canon, flat, "S_n",
                                                                                      random_state=0)
    assert invariance_error(canon, graphs, "S_n", random_state=0).max < 1e-12
    assert equivariance_error(canon, graphs, "S_n", random_state=0).max < 1e-12
    sep = orbit_separation(canon, graphs, "S_n", random_state=0)
    assert sep == orbit_separation(canon, flat, "S_n", random_state=0) == 1.0
    assert orbit_separation(canon, graphs, "S_n", X_other=graphs[::-1]) == 1.0
    dist = orbit_distortion(canon, graphs, "S_n", random_state=0)
    assert dist == orbit_distortion(canon, flat, "S_n", random_state=0)
    r = continuity_ratio(canon, graphs, random_state=0)
    np.testing.assert_array_equal(r.ratios, continuity_ratio(canon, flat, random_state=0).ratios)
    # a callable reads graphs with layout="graph"; without one, the error says so
    assert invariance_error(_identity, graphs, "S_n", random_state=0, layout="graph").max > 0.1
    with pytest.raises(TypeError, match="layout='graph'"):
        invariance_error(_identity, graphs, "S_n")
    with pytest.raises(TypeError, match="no fitted GraphLayout"):
        continuity_ratio(_identity, graphs)


def test_orbit_metrics_compare_graphs_of_different_sizes(atlas):
    """Absent nodes gave NaN feature distances: pairs of graphs of different sizes were
    never "separated" (0.45 for the exact WL canonical form) and min_ratio was NaN."""
    _, canon, flat = atlas
    assert orbit_separation(canon, flat, "S_n", random_state=0) == 1.0
    d = orbit_distortion(canon, flat, "S_n", random_state=0)
    assert np.isfinite(d.min_ratio) and np.isfinite(d.distortion) and d.min_ratio > 0


# -- 3. continuous groups on images: no exact quotient distance --------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_orbit_metrics_of_so2_on_images_fall_back_or_say_why(dtype):
    X = np.random.default_rng(3).normal(size=(12, 49)).astype(dtype)
    layout = ImageLayout((7, 7))
    P = layout.to_working(X)
    with pytest.raises(NotImplementedError, match="SO2"):
        quotient_distance(P[:6], P[6:], "SO2", layout)
    with pytest.raises(NotImplementedError, match="SO2"):
        orbit_distortion(_identity, X, "SO2", layout=layout, random_state=0)
    assert orbit_separation(_identity, X, "SO2", layout=layout, random_state=0) == 1.0
    with pytest.warns(UserWarning, match="'SO2'.*lower bound"):
        rate = orbit_separation(lambda Z: np.zeros((len(Z), 1)), X, "SO2", layout=layout, random_state=0)
    assert rate == 0.0
    # finite groups keep their exact distance on images
    assert (quotient_distance(P, np.rot90(P, 1, axes=(2, 3)), "C4", layout) < 1e-6).all()


# -- 4. orbit_separation without an exact quotient distance warns ------------------------------
def test_orbit_separation_warns_when_equivalence_is_unknown():
    """An exactly invariant map scored 0.0, silently, on isomorphic pairs of 9-node graphs."""
    from skcanon.datasets import graphs_to_arrays, permute_graph_arrays

    gs = [nx.gnp_random_graph(9, 0.4, seed=i) for i in range(10)]
    X, L = graphs_to_arrays(gs)
    perms = np.argsort(np.random.default_rng(0).random((10, 9)), axis=1)
    X_other = permute_graph_arrays(X, perms, 9)
    proj = InvariantProjector("S_n", "canonical", layout=L).fit(X)
    with pytest.warns(UserWarning, match=r"'S_n'.*10 of 10 pairs.*lower bound"):
        assert orbit_separation(proj, X, "S_n", X_other=X_other) == 0.0
    # products: the score is kept (a lower bound), with the warning when pairs merge
    Y = np.random.default_rng(1).normal(size=(10, 12))
    with pytest.warns(UserWarning, match="'E3xS_n'"):
        assert orbit_separation(lambda Z: np.zeros((len(Z), 1)), Y, "E3xS_n", random_state=0) == 0.0
    # every pair told apart: the score is exact, nothing to warn about
    sd = InvariantProjector("E3xS_n", "sorted_distances").fit(Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert orbit_separation(sd, Y, "E3xS_n", random_state=0) == 1.0


# -- 5. the layout parameter --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_layout_names_are_read_as_the_estimators_read_them(dtype):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(8, 12)).astype(dtype)
    for group, layout in [("SO3", PointLayout(3)), ("SO2", PointLayout(2)), ("S_n", PointLayout(3))]:
        assert (invariance_error(_identity, X, group, random_state=0, layout="points")
                == invariance_error(_identity, X, group, random_state=0, layout=layout))
    img = rng.normal(size=(8, 16)).astype(dtype)
    assert (invariance_error(_identity, img, "C4", random_state=0, layout="image")
            == invariance_error(_identity, img, "C4", random_state=0, layout=ImageLayout()))
    assert (invariance_error(_identity, X, "C4", random_state=0, layout="fibre")
            == invariance_error(_identity, X, "C4", random_state=0, layout=FibreLayout(4)))
    P = X.reshape(8, 4, 3)
    np.testing.assert_array_equal(quotient_distance(P[:4], P[4:], "SO3", "points"),
                                  quotient_distance(P[:4], P[4:], "SO3", PointLayout(3)))
    G, L = GraphLayout().encode([nx.cycle_graph(4), nx.path_graph(4)])
    np.testing.assert_array_equal(quotient_distance(G[:1], G[1:], "S_n", "graph"),
                                  quotient_distance(G[:1], G[1:], "S_n", L))


@pytest.mark.parametrize("bad, error, match", [
    (3, TypeError, "layout must be a layout object.*got int 3"),
    (PointLayout, TypeError, "layout must be a layout object"),
    ("pointz", ValueError, "layout must be a layout object or one of"),
])
def test_bad_layouts_get_errors_naming_layout(bad, error, match):
    X = np.random.default_rng(5).normal(size=(5, 12))
    for call in (lambda: invariance_error(_identity, X, "SO3", layout=bad),
                 lambda: equivariance_error(_identity, X, "SO3", layout=bad),
                 lambda: orbit_distortion(_identity, X, "SO3", layout=bad),
                 lambda: orbit_separation(_identity, X, "SO3", layout=bad),
                 lambda: quotient_distance(X.reshape(5, 4, 3), X.reshape(5, 4, 3), "SO3", bad)):
        with pytest.raises(error, match=match):
            call()
    with pytest.raises(TypeError, match="layout must be given"):
        quotient_distance(X.reshape(5, 4, 3), X.reshape(5, 4, 3), "SO3", None)
    with pytest.raises(ValueError, match="fibre.*cyclic group"):
        invariance_error(_identity, X, "SO3", layout="fibre")
    with pytest.raises(ValueError, match="n_nodes"):      # encoded arrays need the graph size
        invariance_error(_identity, X, "S_n", layout="graph")


# -- 6. continuity_ratio: categorical fields and float32 ---------------------------------------
def _molecules(dtype=np.float64, n=20, m=4, seed=0):
    rng = np.random.default_rng(seed)
    pos = rng.normal(size=(n, m, 3)).astype(dtype)
    el = rng.choice(np.array(["C", "H"], dtype=object), size=(n, m, 1))
    X = np.concatenate([pos.astype(object), el], axis=2).reshape(n, -1)
    layout = PointLayout(3, fields=[("pos", "position"), Field("element", "scalar", 1, categorical=True)])
    return X, layout


class _Spy:
    """A fitted map that records what it is given."""

    def __init__(self, inner):
        self.inner, self.layout_, self.seen = inner, inner.layout_, []

    def transform(self, Z):
        self.seen.append(Z)
        return self.inner.transform(Z)


def test_continuity_ratio_reads_categorical_fields_without_perturbing_them():
    X, layout = _molecules()
    before = X.copy()
    canon = CanonicalizerTransformer("SE3", "pca", layout=layout).fit(X)
    spy = _Spy(canon)
    r = continuity_ratio(spy, X, random_state=0)
    assert np.isfinite(r.ratios).all() and r.median < 10
    A, B = (np.asarray(Z, dtype=object).reshape(len(Z), 4, 4) for Z in spy.seen)
    np.testing.assert_array_equal(A[..., 3], B[..., 3])            # elements untouched, as strings
    assert set(A[..., 3].ravel()) == {"C", "H"}
    assert np.abs(A[..., :3].astype(float) - B[..., :3].astype(float)).max() > 0
    np.testing.assert_array_equal(X, before)
    Y = X.copy().reshape(20, 4, 4)
    Y[..., :3] = Y[..., :3].astype(float) + 1e-3
    assert np.isfinite(continuity_ratio(canon, X, X_other=Y.reshape(20, -1)).max)
    # without a fitted layout that declares them, strings are refused by name
    with pytest.raises(ValueError, match="X must be numeric"):
        continuity_ratio(_identity, X)


def test_continuity_ratio_takes_a_layout_for_callables():
    """A callable has no fitted layout: ``layout=`` reads categorical fields (before: no
    such parameter, and strings were refused as non-numeric) and graph lists for it."""
    X, layout = _molecules()
    canon = CanonicalizerTransformer("SE3", "pca", layout=layout).fit(X)
    seen = []

    def f(Z):
        seen.append(Z)
        return canon.transform(Z)

    r = continuity_ratio(f, X, random_state=0, layout=layout)
    assert np.isfinite(r.ratios).all()
    A, B = (np.asarray(Z, dtype=object).reshape(len(Z), 4, 4) for Z in seen)
    np.testing.assert_array_equal(A[..., 3], B[..., 3])            # elements untouched
    assert r.ratios.tolist() == continuity_ratio(canon, X, random_state=0).ratios.tolist()
    with pytest.raises(TypeError, match="layout must be a layout object"):
        continuity_ratio(f, X, layout="points")

def test_continuity_ratio_reads_dataframes_with_categorical_columns():
    pd = pytest.importorskip("pandas")
    X, _ = _molecules()
    columns = [f"atom{i}_{c}" for i in range(4) for c in ("x", "y", "z", "element")]
    frame = pd.DataFrame(X, columns=columns).infer_objects()
    canon = CanonicalizerTransformer("SE3", "pca").fit(frame)
    assert canon.layout_.categorical_fields
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # no feature-name warnings either
        r = continuity_ratio(canon, frame, random_state=0)
    assert np.isfinite(r.ratios).all()


def test_continuity_ratio_keeps_float32():
    X = np.random.default_rng(6).normal(size=(20, 12))
    seen = []

    def f(Z):
        seen.append(np.asarray(Z).dtype)
        return 2 * np.asarray(Z, dtype=np.float64)

    r64 = continuity_ratio(f, X, random_state=0)
    assert seen == [np.float64, np.float64]
    np.testing.assert_allclose(r64.ratios, 1.0, rtol=1e-9)
    seen.clear()
    r32 = continuity_ratio(f, X.astype(np.float32), random_state=0)
    assert seen == [np.float32, np.float32]
    np.testing.assert_allclose(r32.ratios, 1.0, rtol=1e-6)
    seen.clear()
    continuity_ratio(f, X.astype(np.float32), X_other=X.astype(np.float32) + 1e-3)
    assert seen == [np.float32, np.float32]
    canon = CanonicalizerTransformer("SO3", "pca").fit(X.astype(np.float32))
    assert continuity_ratio(canon, X.astype(np.float32), random_state=0).median < 10


@pytest.mark.parametrize("scale", [1e200, 1e160])
def test_invariance_error_at_extreme_output_magnitudes_is_finite_and_scale_free(scale):
    """Squares of outputs near 1e200 overflowed: the error was NaN (``inf / inf``)."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(10, 4, 3))
    leak = lambda Z: np.asarray(Z, dtype=np.float64).reshape(len(Z), -1) * 1e-3 + 1.0  # noqa: E731
    ref = invariance_error(leak, X, "SO3", n_trials=1, random_state=0, layout=PointLayout(3))
    big = invariance_error(lambda Z: leak(Z) * scale, X, "SO3", n_trials=1, random_state=0,
                           layout=PointLayout(3))
    assert np.isfinite(big.max) and big.max > 0
    np.testing.assert_allclose([big.max, big.median], [ref.max, ref.median], rtol=1e-9)


@pytest.mark.parametrize("scale", [1e-13, 1e-16, 1e-20])
def test_errors_of_small_outputs_are_not_floored_to_zero(scale):
    """An absolute floor of 1e-12 on ‖f(x)‖ made maps that are not invariant look invariant
    wherever their outputs were small: the identity map under SO3 scored 1.94 at unit scale,
    0.95 at 1e-13 and 9.5e-4 at 1e-16 (identity frames in equivariance_error alike)."""
    from skcanon.groups import get_group

    X = np.random.default_rng(0).normal(size=(20, 15))

    def identity_frames(Z):
        return get_group("SO3").identity(len(Z))
    for metric, f in ((invariance_error, lambda Z: Z), (equivariance_error, identity_frames)):
        unit = metric(f, X, "SO3", random_state=0).max
        assert unit > 1.0
        assert metric(f, X * scale, "SO3", random_state=0).max == pytest.approx(unit, rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scale", [1e-6, 1e-10, 1e-12])
def test_errors_of_maps_of_higher_degree_on_small_data_are_not_floored(dtype, scale):
    """The floor was 1e-9 × the largest input norm: outputs of degree 2 or 3 on coordinates
    ~1e-10 fell below it and read as invariant (cube: 2.92 at unit scale, 1.9e-10 at 1e-10;
    outer products: 1.41, 0.0073 at 1e-12)."""
    X = np.random.default_rng(0).normal(size=(50, 12))
    cube = lambda Z: np.asarray(Z) ** 3   # noqa: E731
    outer = lambda Z: np.einsum("ni,nj->nij", np.asarray(Z), np.asarray(Z)).reshape(len(Z), -1)  # noqa: E731
    for f in (cube, outer):
        unit = invariance_error(f, X.astype(dtype), "SO3", random_state=0)
        small = invariance_error(f, (X * scale).astype(dtype), "SO3", random_state=0)
        assert unit.max > 1.0
        rtol = 1e-6 if dtype == np.float64 else 1e-3
        np.testing.assert_allclose([small.max, small.median], [unit.max, unit.median], rtol=rtol)


def test_sparse_outputs_and_row_counts_of_maps():
    """Sparse outputs (``KBinsDiscretizer``'s default) failed inside numpy in every metric;
    a map returning fewer rows than samples scored 0.0 though it is not invariant."""
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import KBinsDiscretizer

    X = np.random.default_rng(0).normal(size=(40, 12))
    proj = InvariantProjector("E3xS_n", "sorted_distances")
    sparse = make_pipeline(proj, KBinsDiscretizer(n_bins=3, encode="onehot", strategy="uniform")).fit(X)
    dense = make_pipeline(clone(proj), KBinsDiscretizer(n_bins=3, encode="onehot-dense", strategy="uniform")).fit(X)
    assert invariance_error(sparse, X, "E3xS_n", random_state=0) == invariance_error(dense, X, "E3xS_n", random_state=0)
    other = np.random.default_rng(1).normal(size=(40, 12))
    assert orbit_separation(sparse, X, "E3xS_n", X_other=other) == orbit_separation(dense, X, "E3xS_n", X_other=other)
    assert continuity_ratio(sparse, X, random_state=0).max == continuity_ratio(dense, X, random_state=0).max
    for bad, got in ((lambda Z: np.ones((1, 2)), "1 row"), (lambda Z: None, "None")):
        with pytest.raises(ValueError, match=rf"estimator_or_callable must return one output row per sample \(40\); got {got}"):
            invariance_error(bad, X, "SO3", random_state=0)


@pytest.mark.parametrize("kwargs, match", [({"rtol": -1}, "rtol must be"), ({"rtol": float("nan")}, "rtol must be"),
                                           ({"rtol": "1e-6"}, "rtol must be"), ({"rtol": True}, "rtol must be")])
def test_orbit_separation_checks_rtol(kwargs, match):
    """``rtol=-1`` made a constant map (which merges every orbit) score 1.0; NaN gave NaN."""
    X = np.random.default_rng(0).normal(size=(20, 4))
    with pytest.raises(ValueError, match=match):
        orbit_separation(lambda Z: np.zeros((len(Z), 1)), X, "S_n", layout=PointLayout(1), random_state=0, **kwargs)


def test_continuity_eps_takes_any_real_but_a_bool():
    X = np.random.default_rng(0).normal(size=(20, 4))
    assert continuity_ratio(lambda Z: 2 * Z, X, eps=np.int64(1), random_state=0).max == pytest.approx(1.0)
    with pytest.raises(ValueError, match="eps must be"):
        continuity_ratio(lambda Z: Z, X, eps=True, random_state=0)


@pytest.mark.parametrize("dtype, small", [(np.float32, 1e-9), (np.float64, 1e-17)])
def test_continuity_refuses_an_eps_below_the_dtypes_resolution(dtype, small):
    """float32 with eps=1e-9: most moved copies rounded back to their sample and were
    dropped silently; the rest moved in directions rounding chose."""
    X = np.random.default_rng(0).normal(size=(50, 30)).astype(dtype)
    with pytest.raises(ValueError, match=r"eps=1e-\d+ is too small for float\d\d X"):
        continuity_ratio(lambda Z: 2 * Z, X, eps=small, random_state=0)
    layout = PointLayout(3, fields=[("pos", "position"), Field("kind", "scalar", 1, categorical=True)])
    P = np.random.default_rng(1).normal(size=(30, 5, 4)).astype(dtype)
    P[:, :, 3] = np.arange(5) % 2
    canon = CanonicalizerTransformer("E3xS_n", "pca+sort", layout=layout).fit(P.reshape(30, -1))
    with pytest.raises(ValueError, match="eps=.* is too small"):
        continuity_ratio(canon, P.reshape(30, -1), eps=small, random_state=0)
    # a small eps the dtype holds still measures the linear map exactly
    r = continuity_ratio(lambda Z: 2 * Z, X, eps=1e-6 if dtype == np.float32 else 1e-14, random_state=0)
    assert len(r.ratios) == 200 and r.max == pytest.approx(1.0, rel=1e-3)


@pytest.mark.parametrize("group, layout, width", [("C4", ImageLayout((5, 5)), 25), ("C4", FibreLayout(4), 8)])
def test_quotient_distance_names_flat_rows_of_images_and_fibres(group, layout, width):
    """Flat rows failed inside numpy (not enough values to unpack, an AxisError)."""
    from skcanon.metrics import quotient_distance

    X = np.random.default_rng(0).normal(size=(3, width))
    with pytest.raises(ValueError, match=r"working arrays of shape .*Fix: pass layout.to_working\(X\)"):
        quotient_distance(X, X, group, layout)


def test_equivariance_error_refuses_frames_that_are_not_permutations():
    """Frames of 3 entries for 4-point clouds were scored (1.63) on truncated clouds."""
    X = np.random.default_rng(0).normal(size=(5, 12))
    with pytest.raises(ValueError, match="frames returned by frame_function.*permutation of the 4 points"):
        equivariance_error(lambda Z: np.tile(np.arange(3), (len(Z), 1)), X, "S_n", layout=PointLayout(3), random_state=0)


def test_nan_outputs_for_complete_inputs_are_failures_not_agreement():
    # entries NaN on both sides counted as equal for every sample, so a map returning all
    # NaN for finite clouds scored 0.0 (perfectly invariant); samples with absent points
    # keep the rule (their NaN rows are the absent points)
    from skcanon.metrics import equivariance_error, invariance_error

    X = np.random.default_rng(0).normal(size=(10, 12))
    nan_map = lambda Z: np.full((len(Z), 3), np.nan)  # noqa: E731
    assert invariance_error(nan_map, X, "SO3", random_state=0).max == np.inf
    def half(Z):   # NaN for the first five samples only
        out = (np.asarray(Z)[:, :3] ** 2).sum(axis=1, keepdims=True)
        out[:5] = np.nan
        return out

    err = invariance_error(half, X, "S_n", random_state=0)
    assert err.max == np.inf
    absent = X.copy()
    absent[:, -3:] = np.nan
    canon = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(absent)
    assert invariance_error(canon, absent, "SE3xS_n", random_state=0).max < 1e-9
    assert equivariance_error(canon, absent, "SE3xS_n", random_state=0).max < 1e-9


def test_a_plain_callable_is_read_as_points_of_the_groups_dimension():
    """With a plain callable and no layout, 2-D groups read X as 3-D points: SO2 on 8 columns
    failed with "not a multiple of the 3 columns per point", C4 with "the layout has
    n_dims=3", naming neither the group's dimension nor ``layout``."""
    from skcanon.metrics import invariance_error, orbit_separation

    X = np.random.default_rng(0).normal(size=(10, 8))

    def f(Z):
        return np.linalg.norm(Z.reshape(len(Z), -1, 2), axis=2).sum(axis=1, keepdims=True)

    for group in ("SO2", "C4"):
        assert invariance_error(f, X, group, random_state=0).max < 1e-12
    assert 0.0 <= orbit_separation(f, X, "SO2", random_state=0) <= 1.0


def test_a_badly_shaped_x_other_is_named():
    """Image shape errors about ``X_other`` said ``X has 25 features``."""
    from skcanon import InvariantProjector
    from skcanon.layouts import ImageLayout
    from skcanon.metrics import orbit_distortion, orbit_separation

    rng = np.random.default_rng(0)
    X = rng.random((6, 36))
    proj = InvariantProjector("D4", layout=ImageLayout((6, 6))).fit(X)
    for fn in (orbit_separation, orbit_distortion):
        with pytest.raises(ValueError, match=r"^X_other has 25 features"):
            fn(proj, X, "D4", X_other=rng.random((6, 25)))


# -- data scales: the metrics measure the map, not the data's units ----------------------------
def test_invariance_error_moves_data_in_its_own_units():
    """Translations were drawn of size ~1 whatever the data: an SE3-invariant canonicalizer
    scored (1.91, 1.21) on clouds in metres (1e-10) and 2.8e-4 on float32 clouds of size
    1e-3; the identity map scored 0 beyond 1e154 (the reference scale overflowed)."""
    X = np.random.default_rng(0).normal(size=(6, 15))
    ident = _identity
    cases = [(1e-10, np.float64, 1e-9), (1e-170, np.float64, 1e-9), (1e160, np.float64, 1e-9),
             (1e-3, np.float32, 1e-5), (1e-4, np.float32, 1e-5)]
    for scale, dtype, tol in cases:
        Xs = (X * scale).astype(dtype)
        canon = CanonicalizerTransformer("SE3").fit(Xs)
        assert invariance_error(canon, Xs, "SE3", random_state=0).max < tol
        assert invariance_error(ident, Xs, "SE3", random_state=0).median > 0.5
    frames = CanonicalizerTransformer("SE3").fit(X * 1e-10)
    assert equivariance_error(frames, X * 1e-10, "SE3", random_state=0).max < 1e-9


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e200, 1e300])
def test_orbit_and_continuity_metrics_do_not_depend_on_the_data_scale(scale):
    """At 1e±200 and beyond: orbit_separation 0.0 or NaN, orbit_distortion NaN, the
    quotient distance's SVD did not converge, continuity_ratio NaN or "identical inputs"."""
    X = np.random.default_rng(0).normal(size=(10, 15))
    proj = InvariantProjector("E3", "distances").fit(X)
    ref_sep = orbit_separation(proj, X, "E3", n_pairs=20, random_state=0)
    ref_dist = orbit_distortion(proj, X, "E3", n_pairs=20, random_state=0)
    ref_cont = continuity_ratio(np.tanh, X, n_pairs=20, random_state=0)
    Xs = X * scale
    proj_s = InvariantProjector("E3", "distances").fit(Xs)
    assert orbit_separation(proj_s, Xs, "E3", n_pairs=20, random_state=0) == ref_sep
    dist = orbit_distortion(proj_s, Xs, "E3", n_pairs=20, random_state=0)
    np.testing.assert_allclose([dist.correlation, dist.distortion],
                               [ref_dist.correlation, ref_dist.distortion], rtol=1e-9)
    cont = continuity_ratio(lambda Z: Z * 2.0, Xs, n_pairs=20, random_state=0)
    assert cont.max == pytest.approx(1.0, rel=1e-9) and len(cont.ratios) == len(ref_cont.ratios)
    P = Xs.reshape(10, 5, 3)
    d = quotient_distance(P[:5], P[5:], "SO3", PointLayout(3))
    np.testing.assert_allclose(d / scale, quotient_distance(X.reshape(10, 5, 3)[:5], X.reshape(10, 5, 3)[5:],
                                                            "SO3", PointLayout(3)), rtol=1e-12)


def test_quotient_distance_refuses_infinity_by_name():
    P = np.random.default_rng(0).normal(size=(2, 4, 3))
    Q = P.copy()
    Q[0, 1, 2] = np.inf
    with pytest.raises(ValueError, match="X and Y contain infinity"):
        quotient_distance(P, Q, "SO3", PointLayout(3))


def test_continuity_refuses_complex_inputs():
    """Complex X lost its imaginary part with a ComplexWarning only (every other entry point
    refuses it)."""
    X = np.random.default_rng(0).normal(size=(6, 15)) + 1j
    with pytest.raises(ValueError, match=r"X holds complex values \(complex128\)"):
        continuity_ratio(lambda Z: Z, X, random_state=0)
    with pytest.raises(ValueError, match=r"X_other holds complex values"):
        continuity_ratio(lambda Z: Z, X.real, X_other=X, random_state=0)
    import pandas as pd

    with pytest.raises(ValueError, match=r"X holds complex values"):   # DataFrames too
        continuity_ratio(lambda Z: Z, pd.DataFrame(X), random_state=0)
    layout = PointLayout(3, fields=[("pos", "position"), Field("kind", "scalar", 1, categorical=True)])
    P = np.random.default_rng(1).normal(size=(6, 5, 4))
    P[:, :, 3] = np.arange(5) % 2
    canon = CanonicalizerTransformer("E3xS_n", "pca+sort", layout=layout).fit(P.reshape(6, -1))
    with pytest.raises(ValueError, match=r"X holds complex values"):   # failed on '<' between complex
        continuity_ratio(canon, P.reshape(6, -1) + 1j, random_state=0)


def test_maps_that_edit_their_input_leave_the_callers_data_alone():
    """A callable that edits its input in place got the caller's X: ``invariance_error``
    changed the caller's data, and the working array the later trials moved, so its score
    was not that of the same map without the edit."""
    X = np.random.default_rng(0).normal(size=(6, 12))
    kept = X.copy()

    def editing(A):
        A += 1.0
        return np.linalg.norm(A, axis=1, keepdims=True)

    def pure(A):
        return np.linalg.norm(A + 1.0, axis=1, keepdims=True)

    assert invariance_error(editing, X, "SO3", random_state=0) == \
        invariance_error(pure, X, "SO3", random_state=0)
    np.testing.assert_array_equal(X, kept)
    assert orbit_distortion(editing, X, "SO3", random_state=0).correlation == \
        orbit_distortion(pure, X, "SO3", random_state=0).correlation
    np.testing.assert_array_equal(X, kept)
    # a map whose edit changes its output: the old continuity_ratio gave it 1.0, the same
    # map without the edit 2.2-2.4
    def editing_columns(A):
        A[:, 0] += 5.0 * A[:, 1]
        return A.reshape(len(A), -1)

    def pure_columns(A):
        B = A.copy()
        B[:, 0] += 5.0 * B[:, 1]
        return B.reshape(len(B), -1)

    near = X + 1e-3 * np.random.default_rng(1).normal(size=X.shape)
    for other in (None, near):
        got = continuity_ratio(editing_columns, X, random_state=0, X_other=other)
        assert got.max == continuity_ratio(pure_columns, X, random_state=0, X_other=other).max > 2.0
    np.testing.assert_array_equal(X, kept)
    frames = CanonicalizerTransformer("SO3", "pca").fit(X).canonical_frame

    def editing_frames(A):
        A[:] = 0.0 if isinstance(A, np.ndarray) else A
        return frames(kept)

    equivariance_error(editing_frames, X, "SO3", random_state=0)
    np.testing.assert_array_equal(X, kept)


def test_equivariance_error_does_not_shrink_with_the_data_offset():
    """The error was divided by ‖g·x‖ instead of the documented ‖c‖ (the canonical sample):
    the same broken frame scored 1.16 on centred data and 0.0017 at an offset of 1000."""
    X = np.random.default_rng(0).normal(size=(20, 24))
    errors = []
    for offset in (0.0, 1000.0):
        canonicalizer = CanonicalizerTransformer("SE3", "pca").fit(X + offset)

        def shifted(Z, c=canonicalizer):   # its frames moved by one unit: not equivariant
            H = np.array(c.canonical_frame(Z), dtype=float)
            H[:, :3, 3] += [1.0, 0.0, 0.0]
            return H

        errors.append(equivariance_error(shifted, X + offset, "SE3", random_state=0).max)
        assert equivariance_error(canonicalizer, X + offset, "SE3", random_state=0).max < 1e-9
    assert errors[0] > 0.1 and errors[1] == pytest.approx(errors[0], rel=1e-6)
    # canonical forms of one repeated point are all zeros: rounding, read against the floor
    point = np.repeat(X[:, None, :3] * 10 + [3.3, 1.7, -5.1], 3, axis=1).reshape(20, 9)
    one_point = CanonicalizerTransformer("SE3").fit(point)
    assert equivariance_error(one_point, point, "SE3", random_state=0).max < 1e-5


def test_invariance_error_weighs_mixed_degree_features_by_size_as_documented():
    """invariance_error's norms are over the whole feature vector (the docstring says so and
    why per-column scaling was not taken): gram_minors under O3 (not invariant: reflections
    flip the minors) reads O(1) at unit scale and about the scale itself at 1e-10, while an
    invariant map with noise columns (planar clouds under SO3) stays at rounding."""
    X = np.random.default_rng(0).normal(size=(30, 5, 3))
    readings = []
    for scale in (1.0, 1e-10):
        Xs = (X * scale).reshape(30, -1)
        readings.append(invariance_error(InvariantProjector("SO3", "gram_minors").fit(Xs), Xs, "O3",
                                         random_state=0).max)
    assert readings[0] > 0.5 and 1e-11 < readings[1] < 1e-8
    planar = X.copy()
    planar[..., 2] = 0
    P = planar.reshape(30, -1)
    proj = InvariantProjector("SO3", "gram_minors").fit(P)
    assert invariance_error(proj, P, "SO3", random_state=0).max < 1e-12


@pytest.mark.parametrize("bad", ["seed", 1.5, np.random.default_rng(0)])
def test_a_bad_random_state_is_named(bad):
    """scikit-learn's "'seed' cannot be used to seed a numpy.random.RandomState instance"
    named no parameter (a numpy Generator got the same)."""
    from sklearn.preprocessing import StandardScaler

    X = np.random.RandomState(0).normal(size=(6, 12))
    proj = StandardScaler().fit(X)
    calls = (lambda: continuity_ratio(np.tanh, X, random_state=bad),
             lambda: invariance_error(np.tanh, X, "SE3", random_state=bad),
             lambda: orbit_distortion(proj, X, "SE3", random_state=bad),
             lambda: orbit_separation(proj, X, "SE3", random_state=bad))
    for call in calls:
        with pytest.raises(ValueError, match="random_state must be None, an int or a numpy"):
            call()
