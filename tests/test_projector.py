"""InvariantProjector as a scikit-learn citizen: model selection, compatibility, bad input."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skcanon import CanonicalizerTransformer
from skcanon._projector import InvariantProjector
from skcanon.groups import get_group
from skcanon.layouts import FibreLayout, GraphLayout, ImageLayout, PointLayout
from skcanon.projections import PROJECTIONS

# Expected failures of scikit-learn's estimator checks: none for these instances. (Inputs
# must have a number of columns divisible by the per-point width, which n_dims=1 allows.)
EXPECTED_FAILED_CHECKS = {}
# with one column per point a NaN cell is a whole absent point, which "canonical" accepts
# (infinity is still rejected)
ABSENT_POINTS_OK = {"check_estimators_nan_inf": "a NaN cell is an absent point (n_dims=1), which this method accepts"}


@parametrize_with_checks(
    [
        InvariantProjector("S_n", "sum", n_dims=1),
        InvariantProjector("S_n", "sort", n_dims=1),
        InvariantProjector("S_n", "lexsort", n_dims=1),
        InvariantProjector("S_n", "random_sort", n_dims=1, n_components=2, random_state=0),
        InvariantProjector("S_n", "power_sums", n_dims=1, degree=3),
        InvariantProjector("S_n", "canonical", n_dims=1),
        InvariantProjector("S_n", "auto", n_dims=1),
    ],
    expected_failed_checks=lambda est: ABSENT_POINTS_OK if est.method == "canonical" else EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_grid_search_picks_a_lossless_projection_when_pooling_loses_the_target():
    # target: the median of 5 per-node values. Sorting exposes it linearly; sum/mean/max
    # pooling cannot recover it from what they keep.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y = np.median(X, axis=1)
    grid = GridSearchCV(
        make_pipeline(InvariantProjector("S_n", n_dims=1), Ridge(alpha=1e-3)),
        {"invariantprojector__method": ["sum", "mean", "max", "sort", "power_sums"]},
        cv=KFold(4, shuffle=True, random_state=0),
    )
    grid.fit(X, y)
    scores = dict(zip(grid.cv_results_["param_invariantprojector__method"],
                      grid.cv_results_["mean_test_score"]))
    best = grid.best_params_["invariantprojector__method"]
    assert grid.best_estimator_[0].lossless_
    assert best == "sort"
    assert scores["sort"] > 0.99
    assert scores["sort"] > max(scores["sum"], scores["mean"], scores["max"]) + 0.3
    # the selected pipeline is invariant: permuting the nodes changes no prediction
    perm = get_group("S_n").sample(len(X), 1, n_points=5)
    X_perm = get_group("S_n").apply(perm, X, PointLayout(1))
    np.testing.assert_allclose(grid.predict(X_perm), grid.predict(X), atol=1e-12)


def test_clone_pickle_and_random_state_reproducibility():
    X = np.random.default_rng(0).normal(size=(30, 12))
    proj = InvariantProjector("S_n", "random_moments", n_dims=3, random_state=7).fit(X)
    again = clone(proj).fit(X)
    np.testing.assert_array_equal(proj.transform(X), again.transform(X))
    loaded = pickle.loads(pickle.dumps(proj))
    np.testing.assert_array_equal(loaded.transform(X), proj.transform(X))
    assert clone(proj).get_params() == proj.get_params()
    other = InvariantProjector("S_n", "random_moments", n_dims=3, random_state=8).fit(X)
    assert not np.allclose(other.transform(X), proj.transform(X))


@pytest.mark.parametrize("group, method, kwargs, n_features, expected", [
    ("S_n", "sort", {"n_dims": 1}, 5, ["sorted_c0_0", "sorted_c0_4"]),
    ("S_n", "sort", {"n_dims": 2}, 8, ["sorted_c0_3", "sorted_c1_0"]),
    ("E3", "distances", {}, 12, ["dist_0_1", "dist_2_3"]),
    ("O2", "gram", {}, 6, ["gram_0_0", "gram_1_2"]),
    ("SO3", "gram_minors", {}, 12, ["minor_0_1_2"]),
    ("C4", "power_spectrum", {"layout": "fibre"}, 12, ["power_spectrum_c2_k1", "power_spectrum_c0_k2"]),
    ("C4", "bispectrum", {"layout": "fibre"}, 8, ["bispectrum_c1_k1_im", "bispectrum_c0_mean"]),
    ("C4", "group_pool", {"layout": "fibre"}, 8, ["pool_max_c1"]),
])
def test_pandas_output_has_meaningful_names(group, method, kwargs, n_features, expected):
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(0).normal(size=(6, n_features))
    proj = InvariantProjector(group, method, **kwargs).set_output(transform="pandas")
    out = proj.fit_transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(proj.get_feature_names_out())
    assert len(set(out.columns)) == out.shape[1]
    for name in expected:
        assert name in out.columns


def _encoded_graphs(layout):
    import networkx as nx

    P, _ = layout.encode([nx.path_graph(4), nx.cycle_graph(4), nx.star_graph(3), nx.path_graph(2)])
    return P.reshape(len(P), -1)


def test_every_registered_method_has_names_matching_its_output():
    rng = np.random.default_rng(0)
    data = {
        "points": ("S_n", {"n_dims": 2}, rng.normal(size=(4, 8))),
        "geo": ("SE3", {}, rng.normal(size=(4, 15))),
        "o3": ("O3", {}, rng.normal(size=(4, 15))),
        "product": ("E3xS_n", {}, rng.normal(size=(4, 15))),
        "fibre": ("C4", {"layout": "fibre"}, rng.normal(size=(4, 12))),
        "image": ("C4", {}, rng.normal(size=(4, 16))),
        "graph": ("S_n", {"layout": GraphLayout(4)}, _encoded_graphs(GraphLayout(4))),
    }
    covered = set()
    for group, kwargs, X in data.values():
        for method in InvariantProjector.available_methods(group, kwargs.get("layout"), kwargs.get("n_dims")):
            proj = InvariantProjector(group, method, random_state=0, **kwargs).fit(X)
            assert proj.transform(X).shape[1] == len(proj.get_feature_names_out()), method
            covered.add(method)
    assert covered == set(PROJECTIONS)


def test_float32_preserved_and_batches_agree():
    X = np.random.default_rng(0).normal(size=(50, 24)).astype(np.float32)
    for method in ("sum", "sort", "random_sort", "power_sums"):
        full = InvariantProjector("S_n", method, n_dims=3, batch_size=None, random_state=0).fit(X)
        small = clone(full).set_params(batch_size=7).fit(X)
        assert full.transform(X).dtype == np.float32
        np.testing.assert_array_equal(full.transform(X), small.transform(X))
    X3 = X.reshape(50, 8, 3)
    proj = InvariantProjector("S_n", "sort", n_dims=3).fit(X3)
    np.testing.assert_array_equal(proj.transform(X3), proj.transform(X))


def test_input_is_not_modified():
    X = np.random.default_rng(0).normal(size=(10, 12))
    X0 = X.copy()
    for group, method in [("E3", "distances"), ("S_n", "lexsort"), ("E3xS_n", "canonical")]:
        InvariantProjector(group, method).fit(X).transform(X)
    np.testing.assert_array_equal(X, X0)


def test_canonical_accepts_any_canonicalizer():
    X = np.random.default_rng(0).normal(size=(20, 15))
    canon = CanonicalizerTransformer("SE3", "pca")
    proj = InvariantProjector("SE3", "canonical", canonicalizer=canon).fit(X)
    assert proj.lossless_
    assert proj.projection_.canonicalizer_ is not canon          # cloned, not mutated
    np.testing.assert_allclose(proj.transform(X), canon.fit(X).transform(X))
    assert proj.get_feature_names_out()[0] == "canonical_p0_x"


@pytest.mark.parametrize("group", ["SE3", "SO3", "E3xS_n", "S_n"])
def test_canonical_refuses_the_identity_canonicalizer(group):
    """``method="identity"`` moves nothing, yet the projection reported ``lossless_`` and
    its features changed by up to 2.9 under the group."""
    X = np.random.default_rng(0).normal(size=(20, 15))
    with pytest.raises(ValueError, match="canonicalizer has method='identity'.*not invariant"):
        InvariantProjector(group, "canonical", canonicalizer=CanonicalizerTransformer(group, "identity")).fit(X)


# -- bad input ------------------------------------------------------------------------------------
def test_wrong_fibre_size_is_named():
    X = np.random.default_rng(0).normal(size=(5, 10))
    with pytest.raises(ValueError, match="fibre_size=4"):
        InvariantProjector("C4", "bispectrum", layout="fibre").fit(X)
    with pytest.raises(ValueError, match="fibre_size=6 does not match group 'C4'"):
        InvariantProjector("C4", "bispectrum", layout=FibreLayout(6)).fit(np.ones((3, 12)))
    proj = InvariantProjector("C4", "power_spectrum", layout="fibre").fit(np.ones((3, 8)))
    with pytest.raises(ValueError, match="features"):
        proj.transform(np.ones((3, 12)))


@pytest.mark.parametrize("group, method, layout, match", [
    ("S_n", "bispectrum", None, "method='bispectrum' is not invariant for group 'S_n'"),
    ("SO3", "distances_typo", None, "method='distances_typo' is unknown"),
    ("O3", "gram_minors", None, "available there"),
    ("C4", "power_spectrum", ImageLayout((4, 4)), "not invariant"),
    ("S_n", "sort", "fibre", "layout='fibre' needs a cyclic group"),
    ("SO3", "gram", FibreLayout(4), "needs a cyclic group"),
    ("SO3", "gram", ImageLayout((4, 4)), "layout="),
])
def test_layout_or_method_mismatch_is_named(group, method, layout, match):
    X = np.random.default_rng(0).normal(size=(4, 48))
    with pytest.raises(ValueError, match=match):
        InvariantProjector(group, method, layout=layout).fit(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("group, method, kwargs", [
    ("S_n", "sort", {"n_dims": 2}), ("E3", "distances", {}), ("C4", "bispectrum", {"layout": "fibre"}),
    ("C4", "max_filter", {}),
])
def test_non_finite_input_is_rejected(bad, group, method, kwargs):
    X = np.random.default_rng(0).normal(size=(5, 12 if group != "C4" or kwargs else 16))
    proj = InvariantProjector(group, method, **kwargs).fit(X)
    X_bad = X.copy()
    X_bad[1, 0] = bad          # one coordinate: never valid (absent points are whole NaN rows)
    with pytest.raises(ValueError, match="X"):
        proj.transform(X_bad)
    with pytest.raises(ValueError, match="X"):
        clone(proj).fit(X_bad)


def test_point_width_mismatch_and_bad_parameters():
    with pytest.raises(ValueError, match="multiple of the 3 columns per point"):
        InvariantProjector("E3", "gram").fit(np.ones((4, 10)))
    with pytest.raises(ValueError, match="n_components"):
        InvariantProjector("S_n", "random_sort", n_components=0).fit(np.ones((4, 6)))
    with pytest.raises(TypeError, match="sparse"):
        import scipy.sparse as sp

        InvariantProjector("S_n", "sum", n_dims=1).fit(sp.csr_matrix(np.ones((4, 6))))
    with pytest.raises(ValueError, match="at most 7 points"):
        InvariantProjector("S_n", "max_filter", n_dims=1).fit(np.ones((4, 9)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group, method", [
    ("E3", "distances"), ("O3", "gram"), ("SE3", "gram_minors"), ("E3", "norms"),
    ("E3xS_n", "sorted_distances"), ("E3xS_n", "canonical"), ("O3", "distances"), ("E3", "canonical"),
])
def test_absent_points_in_geometry_projections(group, method, dtype):
    """NaN rows (absent points, e.g. molecules padded to 29 atoms) are ignored: the output
    is finite and invariant, every entry that involves an absent point is 0, and the other
    entries are those of the present points alone (issue 14 item 7: they were NaN)."""
    from skcanon.metrics import invariance_error

    P = np.random.default_rng(0).normal(size=(12, 7, 3)).astype(dtype)
    P[:, 5:] = np.nan
    X = P.reshape(12, -1)
    proj = InvariantProjector(group, method).fit(X)
    Z = proj.transform(X)
    assert Z.dtype == dtype and np.isfinite(Z).all()
    assert invariance_error(proj, X, group, random_state=0).max < (1e-9 if dtype == np.float64 else 1e-4)
    alone_proj = InvariantProjector(group, method).fit(P[:, :5].reshape(12, -1))
    alone = alone_proj.transform(P[:, :5].reshape(12, -1))
    if method == "sorted_distances":   # rows: 4 distances to present points, then 0, 0; then 2 zero rows
        expected = np.zeros((12, 7, 6), dtype)
        expected[:, :5, :4] = alone.reshape(12, 5, 4)
    elif method == "canonical":        # the canonical points, the absent ones as zeros, then presence
        expected = np.zeros((12, 7, 3), dtype)
        expected[:, :5] = alone.reshape(12, 5, 3)
        presence = np.zeros((12, 7), dtype)
        presence[:, :5] = 1
        expected = np.concatenate([expected.reshape(12, -1), presence], axis=1)
    else:                              # named per point: entries of points 5, 6 are 0
        names = list(proj.get_feature_names_out())
        expected = np.zeros_like(Z)
        expected[:, [names.index(c) for c in alone_proj.get_feature_names_out()]] = alone
    np.testing.assert_allclose(Z, expected.reshape(12, -1), atol=1e-9 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("group, method", [
    ("E3", "distances"), ("O3", "gram"), ("SO3", "gram_minors"), ("O3", "norms"), ("E3xS_n", "sorted_distances"),
])
def test_absent_points_anywhere_are_ignored(group, method):
    """Absent points in the middle of a sample and differently per sample: still finite,
    invariant, and 0 wherever an absent point is involved."""
    from skcanon.metrics import invariance_error

    rng = np.random.default_rng(1)
    P = rng.normal(size=(30, 6, 3))
    for i in range(30):
        P[i, rng.choice(6, size=i % 4, replace=False)] = np.nan
    X = P.reshape(30, -1)
    proj = InvariantProjector(group, method).fit(X)
    Z = proj.transform(X)
    assert np.isfinite(Z).all()
    assert invariance_error(proj, X, group, random_state=0).max < 1e-9
    if method in ("distances", "gram"):
        names = proj.get_feature_names_out()
        for i in range(30):
            absent = {str(j) for j in np.flatnonzero(np.isnan(P[i, :, 0]))}
            involved = [k for k, nm in enumerate(names) if set(nm.split("_")[1:]) & absent]
            assert (Z[i, involved] == 0).all()


def test_projector_output_never_nan_with_absent_points_and_scalars():
    """Scalar fields of absent points (NaN) come out 0 as well."""
    from skcanon.layouts import PointLayout

    layout = PointLayout(3, fields=[("pos", "position", 3), ("charge", "scalar", 1)])
    P = np.random.default_rng(2).normal(size=(5, 4, 4))
    P[:, 3] = np.nan
    for method in ("gram", "distances", "norms", "sorted_distances"):
        group = "E3xS_n" if method == "sorted_distances" else "E3"
        Z = InvariantProjector(group, method, layout=layout).fit_transform(P.reshape(5, -1))
        assert np.isfinite(Z).all(), method


def test_methods_without_absent_point_support_refuse_nan_rows():
    P = np.random.default_rng(0).normal(size=(4, 5, 3))
    P[:, 4] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        InvariantProjector("S_n", "sum").fit(P.reshape(4, -1))


# -- issue 14 items 3 and 4: ties, one point, extreme magnitudes ------------------------------
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_sorted_distances_is_invariant_with_duplicated_points(dtype, tol):
    """Duplicated points used to give rounding-sized distances (√eps × scale from
    ‖a‖² + ‖b‖² − 2⟨a, b⟩) that decided the row order: invariance error 6.2e-2 (0.37 here)."""
    from skcanon.metrics import invariance_error

    base = np.random.default_rng(0).normal(size=(20, 5, 3))
    X = np.concatenate([base, base[:, :3], base[:, :1]], axis=1).reshape(20, -1).astype(dtype)
    proj = InvariantProjector("E3xS_n", "sorted_distances").fit(X)
    assert invariance_error(proj, X, "E3xS_n", n_trials=10, random_state=0).max < tol
    Z = proj.transform(X).reshape(20, 9, 8)
    assert (Z[:, :, 0] == 0).sum() == 20 * 7   # exact zeros: 3 pairs + 1 triple duplicated


def test_sorted_distances_on_one_point_clouds():
    """A 1-point cloud raised numpy's 'zero-size array to reduction operation maximum'."""
    from skcanon.layouts import PointLayout

    X = np.random.default_rng(0).normal(size=(4, 3))
    proj = InvariantProjector("E3xS_n", "sorted_distances").fit(X)
    assert proj.transform(X).shape == (4, 0) and proj.lossless_
    layout = PointLayout(3, fields=[("pos", "position", 3), ("q", "scalar", 1)])
    Xq = np.random.default_rng(1).normal(size=(4, 4))
    Z = InvariantProjector("E3xS_n", "sorted_distances", layout=layout).fit_transform(Xq)
    np.testing.assert_array_equal(Z, Xq[:, 3:])


@pytest.mark.parametrize("dtype, big, tiny", [(np.float64, 1e300, 1e-300), (np.float32, 1e36, 1e-36)])
@pytest.mark.parametrize("group, method", [("E3", "distances"), ("E3xS_n", "sorted_distances"), ("O3", "norms")])
def test_scale_covariant_methods_rescale_extreme_magnitudes(group, method, dtype, big, tiny):
    """X * 1e300 gave all-inf output without a word; distances and norms are homogeneous of
    degree 1, so they are computed rescaled and come out finite, exactly scaled."""
    X = np.random.default_rng(0).normal(size=(6, 15))
    proj = InvariantProjector(group, method).fit(X.astype(dtype))
    Z = proj.transform(X.astype(dtype)).astype(np.float64)
    for c in (big, tiny):
        Zc = proj.transform((X * c).astype(dtype))
        assert Zc.dtype == dtype and np.isfinite(Zc).all()
        np.testing.assert_allclose(Zc / dtype(c), Z, rtol=1e-12 if dtype == np.float64 else 2e-5)


@pytest.mark.parametrize("dtype, big", [(np.float64, 1e300), (np.float32, 1e30)])
@pytest.mark.parametrize("group, method, kwargs", [
    ("O3", "gram", {}), ("E3", "gram", {}), ("SO3", "gram_minors", {}), ("S_n", "power_sums", {"n_dims": 1}),
])
def test_overflowing_features_are_refused_by_name(group, method, kwargs, dtype, big):
    """Gram entries, minors and power sums of degree ≥ 2 cannot be finite at this scale:
    a ValueError names X and the reason instead of all-inf/NaN output."""
    X = np.random.default_rng(0).normal(size=(6, 15))
    proj = InvariantProjector(group, method, **kwargs).fit(X.astype(dtype))
    with pytest.raises(ValueError, match=rf"X has (coordinates|values) up to .*overflow {np.dtype(dtype).name}"):
        proj.transform((X * big).astype(dtype))


def test_gram_of_large_but_representable_values_is_exact():
    """Coordinates of 1e140: squares (1e280) fit float64 but the fast kernel's safe range
    ends at 2^504 ≈ 5e151 only for magnitudes; 2^k scaling keeps every entry exact."""
    X = np.random.default_rng(0).normal(size=(6, 15))
    proj = InvariantProjector("O3", "gram").fit(X)
    c = 2.0 ** 500
    np.testing.assert_allclose(proj.transform(X * c) / c ** 2, proj.transform(X), rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("distances", [False, True])
def test_gram_kernel_without_torch_matches_torch(monkeypatch, distances, dtype):
    """The numpy kernel (used when torch cannot be imported) gives the torch results to
    rounding, absent points and rescaled samples included."""
    from skcanon.projections import _geometry

    rng = np.random.default_rng(0)
    V = rng.normal(size=(300, 9, 3)).astype(dtype)
    V[5, 2] = np.nan
    # beyond the fast kernel's safe range (2^56 / 2^504) yet with representable features
    V[7] *= dtype(2.0 ** (60 if dtype == np.float32 else 506)) if not distances else dtype(
        1e30 if dtype == np.float32 else 1e200)
    with_torch = _geometry.gram_triu(V, distances=distances, centre=True)
    monkeypatch.setattr(_geometry, "_torch", lambda: None)
    without = _geometry.gram_triu(V, distances=distances, centre=True)
    ref = np.abs(with_torch).max(axis=1, keepdims=True)
    np.testing.assert_allclose(without / ref, with_torch / ref, atol=1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kernel", ["torch", "numpy", "compiled"])
def test_short_distances_are_accurate_to_rounding_of_the_cloud_size(monkeypatch, kernel, dtype):
    """``"distances"`` come from Gram products, whose rounding used to leave nearly
    coincident points only ``√eps`` of the cloud's size (3e-4 in float32: relative errors
    up to 100 for a pair 1e-4 apart); short distances are recomputed from differences, so
    every distance is within a few dozen rounding units of the size, in every pose."""
    from scipy.spatial.transform import Rotation

    from skcanon.projections import _geometry

    if kernel == "numpy":
        monkeypatch.setattr(_geometry, "_torch", lambda: None)
    if kernel == "compiled":
        pytest.importorskip("numba")
        monkeypatch.setenv("SKCANON_NUMBA", "1")
        assert _geometry._compiled_triangle(1) is not None
    else:
        monkeypatch.setenv("SKCANON_NUMBA", "0")
    rs = np.random.default_rng(0)
    n, m = 200, 16
    X = rs.normal(size=(n, m, 3)) * 3
    X[:, 1] = X[:, 0] + rs.normal(size=(n, 3)) * 1e-4     # nearly coincident
    X[:, 2] = X[:, 3] + rs.normal(size=(n, 3)) * 1e-2
    X[::5, 4] = X[::5, 5]                                   # coincident
    R = Rotation.random(n, random_state=1).as_matrix()
    Y = (np.einsum("nkd,ned->nke", X, R) + rs.normal(size=(n, 1, 3))).astype(dtype)
    Y[::9, 7] = np.nan                                      # an absent point
    Yd = Y.astype(np.float64)                               # the input as the projector sees it
    iu = np.triu_indices(m, 1)
    exact = np.linalg.norm(Yd[:, iu[0]] - Yd[:, iu[1]], axis=2)
    exact[np.isnan(exact)] = 0
    size = np.nanmax(np.linalg.norm(Yd - np.nanmean(Yd, axis=1, keepdims=True), axis=2), axis=1)
    F = InvariantProjector("E3", "distances").fit(Y.reshape(n, -1)).transform(Y.reshape(n, -1))
    assert F.dtype == dtype
    err = np.abs(F.astype(np.float64) - exact) / size[:, None]
    assert err.max() <= 64 * np.finfo(dtype).eps, err.max()
    assert (F[::5, _pair_column(m, 4, 5)] == 0).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kernel", ["torch", "numpy"])
@pytest.mark.parametrize("group, method", [("E3", "distances"), ("E3", "gram"), ("O3", "distances"),
                                           ("E3xS_n", "sorted_distances")])
def test_geometry_features_of_a_sample_do_not_depend_on_the_rest_of_its_batch(monkeypatch, kernel, dtype,
                                                                              group, method):
    """One sample with an absent point (or a huge magnitude) used to move the whole chunk to
    another centring formula: the other samples' features changed in their last bits (52 of
    63 samples, up to 2.3e-5 for float32 Gram entries of a cloud at distance 5)."""
    from skcanon.projections import _geometry

    if kernel == "numpy":
        monkeypatch.setattr(_geometry, "_torch", lambda: None)
    rs = np.random.default_rng(0)
    X = (rs.normal(size=(64, 12, 3)) * 3 + 5).astype(dtype)
    X[::4] = np.round(X[::4])                    # symmetric-ish, tie-prone samples too
    proj = InvariantProjector(group, method, n_dims=3, batch_size=None).fit(X.reshape(64, -1))
    alone = proj.transform(X.reshape(64, -1))
    for change in ("absent", "huge"):
        Y = X.copy()
        if change == "absent":
            Y[0, 3] = np.nan
        else:
            Y[0] *= dtype(2.0 ** 60) if dtype == np.float32 else 2.0 ** 506   # rescaled inside
        with_it = proj.transform(Y.reshape(64, -1))
        np.testing.assert_array_equal(with_it[1:], alone[1:])
    np.testing.assert_array_equal(proj.set_params(batch_size=5).transform(X.reshape(64, -1)), alone)


def _pair_column(m, i, j):
    iu = np.triu_indices(m, 1)
    return int(np.flatnonzero((iu[0] == i) & (iu[1] == j))[0])


def test_every_projection_imports_and_runs_without_torch():
    """Light install (issue 18 item 5): with torch (and skorch) not importable,
    ``import skcanon`` and every projection work (a fresh interpreter)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        class _Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "skorch"):
                    raise ModuleNotFoundError(f"No module named {name!r}")
        sys.meta_path.insert(0, _Block())
        import networkx as nx
        import numpy as np
        from skcanon import InvariantProjector
        from skcanon.projections import PROJECTIONS
        rng = np.random.default_rng(0)
        cases = [("S_n", m, {"n_dims": 1}, (5, 4)) for m in
                 ("sum", "mean", "max", "sort", "random_sort", "lexsort", "power_sums",
                  "random_moments", "reynolds", "max_filter", "canonical", "auto")]
        cases += [(g, m, {}, (5, 12)) for g, m in
                  (("O3", "gram"), ("E3", "distances"), ("SO3", "gram_minors"), ("O3", "norms"),
                   ("E3xS_n", "sorted_distances"), ("E3", "canonical"), ("SE3", "auto"))]
        cases += [("C4", m, {"layout": "fibre"}, (5, 8)) for m in
                  ("group_pool", "power_spectrum", "bispectrum", "reynolds", "max_filter")]
        cases += [("C4", m, {}, (5, 16)) for m in ("reynolds", "max_filter", "canonical")]
        seen = set()
        for group, method, kwargs, shape in cases:
            Z = InvariantProjector(group, method, **kwargs).fit_transform(rng.normal(size=shape))
            assert np.isfinite(Z).all(), (group, method)
            seen.add(method)
        graphs = [nx.cycle_graph(5), nx.path_graph(4)]
        for method in ("spectrum", "canonical"):
            InvariantProjector("S_n", method, layout="graph").fit_transform(graphs)
            seen.add(method)
        assert set(PROJECTIONS) <= seen | {"moments"}, set(PROJECTIONS) - seen
        assert "torch" not in sys.modules
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


# -- issue 18: a default method valid for every layout ----------------------------------------
@pytest.mark.parametrize("group, kwargs, shape, expected", [
    ("S_n", {"n_dims": 1}, (5, 6), "sort"), ("O3", {}, (5, 12), "gram"), ("E3", {}, (5, 12), "distances"),
    ("SO3", {}, (5, 12), "gram_minors"), ("SE2", {}, (5, 12), "gram_minors"),
    ("E3xS_n", {}, (5, 12), "sorted_distances"), ("C4", {"layout": "fibre"}, (5, 8), "bispectrum"),
    ("C4", {}, (5, 16), "max_filter"), ("D4", {}, (5, 16), "max_filter"),
    ("SO3", {}, (3, 3 * 60), "canonical"),   # C(60, 3) = 34,220 minors: too many
    # pairwise maps: C(200, 2) = 19,900 pairs pass; C(201, 2) = 20,100 are too many
    ("O3", {}, (3, 3 * 200), "gram"), ("O3", {}, (3, 3 * 201), "canonical"),
    ("E3", {}, (3, 3 * 200), "distances"), ("E3", {}, (3, 3 * 201), "canonical"),
    ("E3xS_n", {}, (3, 3 * 200), "sorted_distances"), ("E3xS_n", {}, (3, 3 * 201), "canonical"),
    # sorted distances would merge mirror images (SE3) and translates (O3): the cross-section
    ("SE3xS_n", {}, (5, 12), "canonical"), ("O3xS_n", {}, (5, 12), "canonical"),
    # two position fields: 2 × 101 vectors, 20,301 pairs
    ("O3", {"layout": PointLayout(3, fields=[("a", "position"), ("b", "position")])}, (3, 6 * 101),
     "canonical"),
])
def test_auto_method_picks_per_group_and_layout(group, kwargs, shape, expected):
    X = np.random.default_rng(0).normal(size=shape)
    proj = InvariantProjector(group, **kwargs).fit(X)
    assert proj.method == "auto" and proj.method_ == expected
    from skcanon.metrics import invariance_error

    assert invariance_error(proj, X, group, random_state=0, layout=proj.layout_).max < 1e-9


def test_default_method_works_on_graphs_and_is_grid_searchable():
    """InvariantProjector("S_n", layout="graph") failed with its default method "sort"."""
    import networkx as nx
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    graphs = [nx.cycle_graph(6), nx.path_graph(6), nx.star_graph(5), nx.complete_graph(4)] * 3
    y = [0, 1, 0, 1] * 3
    proj = InvariantProjector("S_n", layout="graph").fit(graphs)
    assert proj.method_ == "canonical" and np.isfinite(proj.transform(graphs)).all()
    search = GridSearchCV(make_pipeline(InvariantProjector("S_n", layout="graph"),
                                        RandomForestClassifier(n_estimators=5, random_state=0)),
                          {"invariantprojector__method": ["auto", "spectrum", "canonical"]}, cv=2)
    search.fit(graphs, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_torch_gram_kernel_runs_on_one_thread_and_restores_the_callers(monkeypatch):
    """Small batched products only wait for each other on more threads (12× slower once other
    OpenMP code had run in the process); the caller's thread count comes back afterwards."""
    torch = pytest.importorskip("torch")
    from skcanon.projections import _geometry

    seen = []
    call = _geometry._TorchKernel.__call__

    def recording(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return call(self, *args, **kwargs)

    monkeypatch.setattr(_geometry._TorchKernel, "__call__", recording)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        X = np.random.default_rng(0).normal(size=(50, 8 * 3))
        InvariantProjector("E3", "distances").fit(X).transform(X)
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


# -- issue 15: methods follow the group's capabilities ------------------------------------------
@pytest.mark.parametrize("group, n_dims", [("T3", 3), ("C4", 2), ("D3", 2), ("O", 3), ("I", 3)])
def test_geometric_maps_apply_to_every_subgroup_of_the_euclidean_group(group, n_dims):
    """T(d) and the finite rotation groups get the distance/Gram maps (invariant, never
    reported lossless: they forget more than the group does); the proper rotation groups get
    the minors too; reynolds is not offered where rotations fix no position."""
    from skcanon.metrics import invariance_error

    G = get_group(group)
    X = np.random.default_rng(0).normal(size=(8, 5 * n_dims))
    methods = InvariantProjector.available_methods(group, "points", n_dims)
    assert {"norms", "gram", "distances"} <= set(methods)
    assert ("gram_minors" in methods) == (G.rotates and G.special)
    assert ("max_filter" in methods) == G.is_finite
    assert "reynolds" not in methods
    for method in methods:
        proj = InvariantProjector(group, method, layout="points", n_dims=n_dims, random_state=0).fit(X)
        assert proj.lossless_ == (method in ("canonical", "max_filter")), method
        assert invariance_error(proj, X, group, random_state=0).max < 1e-9, method
    assert InvariantProjector(group, layout="points", n_dims=n_dims).fit(X).method_ == (
        "max_filter" if G.is_finite else "canonical")


def test_products_of_finite_groups_get_group_averages_but_auto_keeps_the_cross_section():
    X = np.random.default_rng(0).normal(size=(6, 16))
    assert {"reynolds", "max_filter"} <= set(InvariantProjector.available_methods("C2xC4", "image"))
    assert InvariantProjector("C2xC4", layout="image").fit(X).method_ == "canonical"
    from skcanon.metrics import invariance_error

    proj = InvariantProjector("C2xC4", "max_filter", layout="image", random_state=0).fit(X)
    assert invariance_error(proj, X, "C2xC4", random_state=0, layout=proj.layout_).max < 1e-9


@pytest.mark.parametrize("group, lossless", [("E3xS_n", True), ("T3xS_n", True), ("O3xS_n", False),
                                             ("OxS_n", False)])
def test_one_point_sorted_distances_is_lossless_only_when_the_group_translates(group, lossless):
    """One point and no scalars: its position is an invariant unless translations move it
    anywhere (O3xS_n was reported lossless while its output, empty, forgets the norm)."""
    proj = InvariantProjector(group, "sorted_distances").fit(np.random.default_rng(0).normal(size=(4, 3)))
    assert proj.transform(np.ones((2, 3))).shape == (2, 0)
    assert proj.lossless_ is lossless


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group", ["E3xS_n", "SE3xS_n", "T3xS_n"])
def test_translating_products_on_vector_only_points_keep_sorted_distances(group, dtype):
    """Translations leave vectors where they are, so sorted distances of a vector field are
    invariant under E3xS_n as under O3xS_n; with translations they were refused, no method
    was left and "auto" said the group moved nothing the layout holds. One vector's norm is
    an invariant they drop: not lossless."""
    from skcanon.layouts import PointLayout
    from skcanon.metrics import invariance_error

    layout = PointLayout(3, fields=[("vel", "vector"), ("q", "scalar")])
    X = np.random.default_rng(0).normal(size=(6, 5 * 4)).astype(dtype)
    X0 = X.copy()
    assert "sorted_distances" in InvariantProjector.available_methods(group, layout=layout)
    for method in ["sorted_distances", "auto"]:
        proj = InvariantProjector(group, method, layout=layout).fit(X)
        Z = proj.transform(X)
        assert proj.method_ == "sorted_distances" and Z.dtype == dtype
        assert Z.shape[1] == len(proj.get_feature_names_out())
        ref = InvariantProjector("O3xS_n", "sorted_distances", layout=layout).fit(X).transform(X)
        np.testing.assert_array_equal(Z, ref)
        tol = 1e-12 if dtype == np.float64 else 1e-5
        assert invariance_error(proj, X, group=group, random_state=0).max < tol
        assert not proj.lossless_
    np.testing.assert_array_equal(X, X0)
    one = InvariantProjector(group, "sorted_distances", layout=PointLayout(3, fields=[("vel", "vector")]))
    assert not one.fit(X[:, :3]).lossless_
    # symmetric and degenerate vector clouds: a regular octahedron, a square with two equal
    # vectors beside it, all vectors equal (ties between distances go by the same rule)
    octa = np.vstack([np.eye(3), -np.eye(3)])[:5]
    square = np.array([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0], [1, 0, 0.0]])
    same = np.ones((5, 3))
    S = np.stack([np.hstack([V, np.arange(5.0)[:, None] % 2]) for V in (octa, square, same)]).reshape(3, -1)
    proj = InvariantProjector(group, "sorted_distances", layout=layout).fit(S.astype(dtype))
    assert invariance_error(proj, S.astype(dtype), group=group, random_state=0).max < tol


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group, method", [("E2", "gram"), ("SE2", "gram_minors"), ("E2", "auto")])
def test_two_position_fields_keep_their_offset(group, method, dtype):
    """gram/gram_minors centred each position field on its own centroid, so moving one
    field against the other changed nothing while lossless_ was True (E2 "auto" picks
    gram here). One origin for all position fields keeps the offset; invariance holds."""
    from skcanon.layouts import PointLayout
    from skcanon.metrics import invariance_error

    layout = PointLayout(2, fields=[("a", "position"), ("b", "position")])
    P = np.random.default_rng(0).normal(size=(6, 4, 4)).astype(dtype)
    Q = P.copy()
    Q[..., 2:] += dtype(3.0)                      # field b moved, field a kept
    proj = InvariantProjector(group, method, layout=layout).fit(P.reshape(6, -1))
    assert proj.lossless_
    A, B = proj.transform(P.reshape(6, -1)), proj.transform(Q.reshape(6, -1))
    assert np.abs(A - B).max(axis=1).min() > 0.1
    # a translation of both fields together, and a rotation, change nothing
    assert invariance_error(proj, P.reshape(6, -1), group, random_state=0).max < (1e-9 if dtype == np.float64 else 1e-4)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_power_spectrum_is_never_lossless(n):
    """power_spectrum reported lossless_=True for fibres of n <= 2, but x and -x (and, for
    several channels, their relative shifts) share it."""
    from skcanon.layouts import FibreLayout

    X = np.random.default_rng(0).normal(size=(3, 2 * n))
    proj = InvariantProjector(f"C{n}", "power_spectrum", layout=FibreLayout(n)).fit(X)
    assert not proj.lossless_
    np.testing.assert_allclose(proj.transform(-X), proj.transform(X), atol=1e-12)


def test_canonical_refuses_a_canonicalizer_of_another_group():
    """A canonicalizer for another group was fitted and used: the output was not invariant
    (errors 9.6-14.9 for SO3 or S_n canonicalizers under E3xS_n) while lossless_ was True."""
    from skcanon import CanonicalizerTransformer

    X = np.random.default_rng(0).normal(size=(20, 12))
    for other in ("SO3", "S_n"):
        with pytest.raises(ValueError, match=f"canonicalizes for group '{other}'.*'E3xS_n'"):
            InvariantProjector("E3xS_n", "canonical", canonicalizer=CanonicalizerTransformer(other)).fit(X)
    proj = InvariantProjector("E3xS_n", "canonical", canonicalizer=CanonicalizerTransformer("E3xS_n")).fit(X)
    assert proj.lossless_


def test_canonical_on_interpolated_image_rotations_is_not_lossless():
    """C8 (and SO(2)) turn images by interpolation, which cuts the corners: 197 of 300 images
    kept their features when a corner pixel changed, while lossless_ was True."""
    import warnings

    from skcanon.layouts import ImageLayout

    X = np.random.default_rng(0).random((20, 81))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not InvariantProjector("C8", "canonical", layout=ImageLayout((9, 9))).fit(X).lossless_
    assert InvariantProjector("C4", "canonical", layout=ImageLayout((9, 9))).fit(X).lossless_


def test_translations_of_vector_only_layouts():
    """T3 on a layout of vectors only: "auto" chose canonical, which fitted and then failed in
    transform (its centroid needs positions); the quotient distance crashed too."""
    from skcanon.layouts import PointLayout
    from skcanon.metrics import quotient_distance

    layout = PointLayout(3, fields=[("vel", "vector")])
    X = np.random.default_rng(0).normal(size=(6, 15))
    proj = InvariantProjector("T3", layout=layout).fit(X)
    assert proj.method_ != "canonical" and np.isfinite(proj.transform(X)).all()
    P = X.reshape(6, 5, 3)
    assert np.isfinite(quotient_distance(P, P[::-1], "SE3", layout)).all()


@pytest.mark.parametrize("group, d", [("O2", 2), ("SO2", 2), ("C4", 2), ("D4", 2), ("O3", 3), ("SO3", 3),
                                      ("O", 3), ("C4xS_n", 2), ("O3xS_n", 3)])
def test_canonical_is_not_offered_for_rotations_of_scalar_only_points(group, d):
    """Rotations are canonicalized by frames of a position or vector field: ``canonical``
    was listed by ``available_methods`` for points with scalar fields only, then failed in
    ``transform`` ("needs a position or vector field") or in ``fit``."""
    from skcanon.layouts import PointLayout

    layout = PointLayout(d, [("c", "scalar", 2)])
    assert "canonical" not in InvariantProjector.available_methods(group, layout=layout)
    X = np.random.default_rng(0).normal(size=(5, 8))
    with pytest.raises(ValueError, match="method='canonical' is not invariant for group"):
        InvariantProjector(group, "canonical", layout=layout).fit(X)


@pytest.mark.parametrize("method", ["reynolds", "max_filter", "random_moments", "random_sort", "sort", "mean",
                                    "power_sums", "lexsort"])
def test_batch_size_changes_only_the_rounding_the_docs_name(method):
    """docs/scaling.rst: projections do not depend on ``batch_size`` bit for bit, except
    ``reynolds`` and ``max_filter``, whose one matrix product rounds by the batch's row
    count (the projector's comment said no output depended on it; up to 8.9e-16 measured)."""
    X = np.random.default_rng(0).normal(size=(64, 12))
    proj = InvariantProjector("S_n", method, n_dims=3, random_state=0).fit(X)
    full = proj.transform(X)
    for batch_size in (1, 7):
        part = proj.set_params(batch_size=batch_size).transform(X)
        if method in ("reynolds", "max_filter"):
            np.testing.assert_allclose(part, full, rtol=0, atol=1e-14)
        else:
            np.testing.assert_array_equal(part, full)


@pytest.mark.parametrize("group, other", [("SE3xS_n", lambda P: P * [1.0, 1.0, -1.0]),
                                          ("O3xS_n", lambda P: P + 5.0)])
def test_auto_separates_what_sorted_distances_merge_under_subgroups(group, other):
    """"auto" picked sorted distances for SE(d)×S_n and O(d)×S_n, documented as lossless for
    generic clouds there, but they are E(d)×S_n invariants: a chiral cloud and its mirror
    image (SE3xS_n), a cloud and its translate (O3xS_n) got the same features."""
    P = np.random.default_rng(0).normal(size=(5, 3))
    A = np.stack([P.ravel(), other(P).ravel()])
    merged = InvariantProjector(group, "sorted_distances").fit_transform(A)
    np.testing.assert_allclose(merged[0], merged[1], atol=1e-12)      # what the old default gave
    proj = InvariantProjector(group).fit(A)
    F = proj.transform(A)
    assert proj.method_ == "canonical" and np.abs(F[0] - F[1]).max() > 0.1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group, method, m", [("E3", "norms", 20000), ("T3", "auto", 20000),
                                              ("SE3", "gram", 1000), ("SE2", "gram_minors", 200)])
def test_float32_clouds_far_from_the_origin_are_centred_in_float64(group, method, m, dtype):
    """Centroids were summed in float32: clouds of spread 1-3 at 3,000 from the origin got
    invariance errors of 0.16 (E3 norms, 20,000 points), 0.033 (T3, the centroid
    canonicalizer) and 2e-3 (SE3 gram, SE2 gram_minors); about the input's rounding now.
    One sample has an absent point (the centroid of the present points)."""
    from skcanon.metrics import invariance_error

    rng = np.random.default_rng(0)
    d = int(group[-1])
    P = rng.normal(size=(3, m, d)) * np.arange(1, d + 1) + 3000.0
    P[1, 7] = np.nan
    X = P.reshape(3, -1).astype(dtype)
    proj = InvariantProjector(group, method).fit(X)
    tol = 1e-9 if dtype == np.float64 else 1e-3          # float32 input rounding: about 1e-4
    assert invariance_error(proj, X, group, n_trials=2, random_state=0).max < tol


@pytest.mark.parametrize("group, method", [("E3", "gram"), ("SE3", "gram"), ("E3", "distances"),
                                           ("SE3", "gram_minors")])
@pytest.mark.parametrize("dtype, scale", [(np.float32, 1e-12), (np.float32, 1e-18), (np.float32, 1e-33),
                                          (np.float64, 1e-140), (np.float64, 1e-160), (np.float64, 1e-300)])
def test_gram_triu_of_coincident_points_does_not_underflow_by_pose(group, method, dtype, scale):
    """gram_triu's underflow check read the centring's rounding noise as the sample's size:
    five points coinciding up to rounding were refused in 39 of 40 rigid motions under SE3
    'gram' at 1e-160 (float64) and in 12 of 40 under 'gram_minors' at 1e-12 (float32; its
    Gram part), the message naming the uncentred coordinates; 'gram' and 'distances' at
    smaller scales refused every pose. Within 4 rounding units of the sample's largest
    coordinate the centred values count as zeros: no pose is refused. A cloud that is tiny
    about its centroid is still refused, its message naming those coordinates."""
    from skcanon.groups import get_group

    rng = np.random.default_rng(0)
    eps = np.finfo(dtype).eps
    X = np.array([0.3, -0.2, 0.5]) * scale + rng.normal(size=(5, 3)) * 0.3 * eps * scale
    proj = InvariantProjector(group, method).fit(rng.normal(size=(2, 15)).astype(dtype))
    g = get_group(group)
    for seed in range(40):
        R, t = g.parts(g.sample(1, np.random.RandomState(seed)))
        F = proj.transform(((X @ R[0].T) + t[0] * scale).astype(dtype).reshape(1, -1))
        assert np.isfinite(F).all()
    # points 1e-25 (1e-170) apart, 1e-20 (1e-165) from the origin: Gram entries underflow
    small = 1e-20 if dtype == np.float32 else 1e-165
    tiny = (rng.normal(size=(1, 15)) * small * 1e-5 + small).astype(dtype)
    if method != "distances":
        with pytest.raises(ValueError, match="coordinates about its centroid are at most .*underflow"):
            proj.transform(tiny)


@pytest.mark.parametrize("dtype, scale", [(np.float32, 1e-6), (np.float64, 1e-90)])
def test_gram_minors_of_coincident_points_do_not_underflow_by_pose(dtype, scale):
    """Five points that coincide up to the input's rounding: their centred copies (a few
    ulps of the coordinates) were taken as the sample's scale, so 36 of 40 rigid motions
    were refused for minors that underflow and 4 were not; the message reported the
    rounding as the data's values. A cloud that is tiny about its centroid is still refused."""
    from skcanon.groups import get_group

    rng = np.random.default_rng(0)
    eps = np.finfo(dtype).eps
    X = np.array([0.3, -0.2, 0.5]) * scale + rng.normal(size=(5, 3)) * 0.3 * eps * scale
    generic = rng.normal(size=(1, 15)) * scale
    proj = InvariantProjector("SE3", "gram_minors").fit(np.r_[X.reshape(1, -1), generic].astype(dtype))
    g = get_group("SE3")
    for seed in range(40):
        R, t = g.parts(g.sample(1, np.random.RandomState(seed)))
        F = proj.transform(((X @ R[0].T) + t[0] * scale).astype(dtype).reshape(1, -1))
        assert np.isfinite(F).all()
    tiny = (generic / scale * np.cbrt(np.finfo(dtype).tiny) / 10).astype(dtype)   # a real tiny cloud
    with pytest.raises(ValueError, match="coordinates about its centroid are at most .*minors underflow"):
        proj.transform(tiny)
