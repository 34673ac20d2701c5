"""InvariantProjector on inputs it must refuse by name (or read correctly): image shapes
other than the fitted one, spectral features beyond the dtype's range, power sums of a
degree too high to enumerate, booleans for integer parameters."""

import time
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils._param_validation import InvalidParameterError

from skcanon._projector import InvariantProjector
from skcanon.layouts import ImageLayout


# -- image shapes ------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["max_filter", "reynolds", "auto", "canonical"])
def test_images_of_another_shape_are_refused(method):
    """After fitting on (n, 2, 3, 3), images with the same number of pixels in another
    shape were read as the fitted one (scrambled pixels) by max_filter and reynolds."""
    X = np.random.default_rng(0).standard_normal((5, 2, 3, 3))
    proj = InvariantProjector("C4", method, random_state=0).fit(X)
    assert proj.layout_.shape == (2, 3, 3)
    for other in (np.moveaxis(X, 1, -1), X.reshape(5, 2, 9), X.reshape(5, 1, 3, 6)):
        with pytest.raises(ValueError, match=r"X has image shape \(.*\), but the layout expects \(2, 3, 3\)"):
            proj.transform(other)


@pytest.mark.parametrize("method", ["max_filter", "reynolds", "canonical"])
def test_flat_images_are_read_with_the_fitted_shape(method):
    """Flat input of the fitted width (not a perfect square) was refused with "Cannot
    infer the image shape"; it is read with the fitted shape, as CanonicalizerTransformer
    reads it."""
    X = np.random.default_rng(0).standard_normal((5, 2, 3, 3))
    proj = InvariantProjector("C4", method, random_state=0).fit(X)
    np.testing.assert_array_equal(proj.transform(X.reshape(5, -1)), proj.transform(X))
    with pytest.raises(ValueError, match="18 features"):
        proj.transform(X.reshape(5, -1)[:, :16])


def test_non_square_single_channel_images_keep_their_orientation():
    X = np.random.default_rng(1).standard_normal((4, 4, 6))
    proj = InvariantProjector("C2", "max_filter", random_state=0).fit(X)
    assert proj.layout_.shape == (1, 4, 6)
    np.testing.assert_array_equal(proj.transform(X.reshape(4, -1)), proj.transform(X))
    expected = r"X has image shape \(1, 6, 4\), but the layout expects \(1, 4, 6\)"
    with pytest.raises(ValueError, match=expected):
        proj.transform(X.reshape(4, 6, 4))


def test_a_given_image_shape_is_kept():
    X = np.random.default_rng(2).standard_normal((4, 2, 3, 3))
    proj = InvariantProjector("C4", "max_filter", layout=ImageLayout((2, 3, 3)), random_state=0).fit(X)
    assert proj.layout_ == ImageLayout((2, 3, 3))


# -- spectral features beyond the dtype's range -----------------------------------------------
@pytest.mark.parametrize("method, dtype, big", [
    ("bispectrum", np.float64, 1e120), ("bispectrum", np.float32, 1e13),
    ("power_spectrum", np.float64, 1e160), ("power_spectrum", np.float32, 1e20),
    ("bispectrum", np.float64, 1e300),
])
def test_spectral_features_that_overflow_are_refused_by_name(method, dtype, big):
    """C8 fibres this large gave inf/NaN features with only a RuntimeWarning; the power
    spectrum (degree 2) and the bispectrum (degree 3) cannot be finite there."""
    X = np.random.default_rng(0).standard_normal((4, 3 * 8))
    proj = InvariantProjector("C8", method, layout="fibre").fit(X.astype(dtype))
    name = np.dtype(dtype).name
    with pytest.raises(ValueError, match=rf"X has coordinates up to .* overflow {name} .*method='{method}'"):
        proj.transform((X * big).astype(dtype))


@pytest.mark.parametrize("method", ["bispectrum", "power_spectrum", "group_pool"])
@pytest.mark.parametrize("dtype, big", [(np.float64, 1e60), (np.float32, 1e6)])
def test_spectral_features_that_fit_the_dtype_stay_finite(method, dtype, big):
    X = np.random.default_rng(0).standard_normal((4, 3 * 8))
    proj = InvariantProjector("C8", method, layout="fibre").fit(X.astype(dtype))
    Z = proj.transform((X * big).astype(dtype))
    assert Z.dtype == dtype and np.isfinite(Z).all()


@pytest.mark.parametrize("dtype, big", [(np.float64, 1e308), (np.float32, 3e38)])
def test_group_pool_means_of_values_near_the_largest_are_finite(dtype, big):
    """The mean's sum overflowed (inf features) though every mean fits the dtype."""
    X = np.full((2, 8), big, dtype=dtype)
    X[1] *= -1
    X[1, 3] = 1
    Z = InvariantProjector("C8", "group_pool", layout="fibre").fit(X).transform(X)
    assert Z.dtype == dtype and np.isfinite(Z).all()
    exact = [float(sum(Fraction(float(v)) for v in row) / 8) for row in X]
    np.testing.assert_allclose(Z[:, 0], exact, rtol=1e-6 if dtype == np.float32 else 1e-15)
    np.testing.assert_array_equal(Z[:, 1], X.max(axis=1))


# -- power sums of too high a degree -----------------------------------------------------------
def test_power_sums_above_the_monomial_limit_are_refused_by_degree():
    """8 channels: degree 8 gives 12,869 power sums, degree 9 gives 24,309 (over 20,000)."""
    X = np.random.default_rng(0).standard_normal((4, 5 * 8))
    assert InvariantProjector("S_n", "power_sums", n_dims=8, degree=8).fit(X).n_features_out_ == 12869
    expected = r"degree=9 would give .* 24309 power sums .*at most 20000.*degree <= 8"
    with pytest.raises(ValueError, match=expected):
        InvariantProjector("S_n", "power_sums", n_dims=8, degree=9).fit(X)


def test_power_sums_of_a_huge_degree_are_refused_at_once():
    """degree=30 on 8 channels enumerated 48.9 million monomials in a Python loop."""
    X = np.random.default_rng(0).standard_normal((4, 5 * 8))
    start = time.perf_counter()
    for degree in (30, 10**6):
        with pytest.raises(ValueError, match=rf"degree={degree} would give"):
            InvariantProjector("S_n", "power_sums", n_dims=8, degree=degree).fit(X)
    assert time.perf_counter() - start < 5


# -- booleans for integer parameters -----------------------------------------------------------
@pytest.mark.parametrize("param, kwargs", [
    ("n_components", {"group": "C4", "method": "max_filter", "layout": "fibre"}),
    ("n_components", {"group": "S_n", "method": "random_sort", "n_dims": 2}),
    ("degree", {"group": "S_n", "method": "power_sums", "n_dims": 2}),
    ("batch_size", {"group": "C4", "method": "bispectrum", "layout": "fibre"}),
    ("n_dims", {"group": "S_n", "method": "sort"}),
    ("n_jobs", {"group": "S_n", "method": "sort", "n_dims": 2}),
])
@pytest.mark.parametrize("value", [True, np.True_])
def test_booleans_are_refused_for_integer_parameters(param, kwargs, value):
    """True passed Interval(Integral) checks and meant 1 (one template, one sample per batch)."""
    X = np.random.default_rng(0).standard_normal((4, 8))
    with pytest.raises(InvalidParameterError, match=rf"'{param}' parameter .*not a bool\).* Got"):
        InvariantProjector(**kwargs, **{param: value}).fit(X)


@pytest.mark.parametrize("value", [1, np.int64(2)])
def test_integer_parameters_accept_ints(value):
    X = np.random.default_rng(0).standard_normal((4, 8))
    proj = InvariantProjector("C4", "max_filter", layout="fibre", n_components=value,
                              batch_size=value, n_jobs=value, random_state=0).fit(X)
    assert proj.transform(X).shape == (4, int(value))


# -- a refit the projection refuses ------------------------------------------------------------
def test_refused_refit_leaves_the_projector_whole():
    """A refit refused by the projection (max_filter on 8 points: 40,320 elements) set
    ``n_features_in_`` to the refused data's width while ``projection_`` kept the old fit:
    the data it was fitted on was then refused, and after ``set_params(method=...)`` the
    old map ran on the refused data silently."""
    rng = np.random.default_rng(0)
    X5, X8 = rng.normal(size=(6, 5)), rng.normal(size=(6, 8))
    proj = InvariantProjector("S_n", "max_filter", n_dims=1, random_state=0).fit(X5)
    before = proj.transform(X5)
    with pytest.raises(ValueError, match="40320 elements"):
        proj.fit(X8)
    assert proj.n_features_in_ == 5
    np.testing.assert_array_equal(proj.transform(X5), before)
    # grid-search style: another method whose refit is refused keeps the earlier fit whole
    sorted_ = InvariantProjector("S_n", "sort", n_dims=1).fit(X5)
    sorted_.set_params(method="max_filter")
    with pytest.raises(ValueError):
        sorted_.fit(X8)
    assert sorted_.method_ == "sort" and sorted_.n_features_in_ == 5
    with pytest.raises(ValueError, match="8 features"):
        sorted_.transform(X8)
    # a first fit that is refused leaves it unfitted
    fresh = InvariantProjector("S_n", "max_filter", n_dims=1)
    with pytest.raises(ValueError):
        fresh.fit(X8)
    assert not hasattr(fresh, "n_features_in_") and not hasattr(fresh, "projection_")


@pytest.mark.parametrize("n_jobs", [0, True, False])
def test_n_jobs_without_meaning_is_refused_by_fit(n_jobs):
    """``n_jobs=0`` passed ``fit`` and failed only in ``transform`` (as B195 was for the
    canonicalizer): refused by ``fit`` now, with the canonicalizer's constraint."""
    X = np.random.default_rng(0).normal(size=(4, 12))
    with pytest.raises(InvalidParameterError, match="n_jobs.*an int other than 0"):
        InvariantProjector("S_n", n_jobs=n_jobs).fit(X)


# -- extreme scales of the moment maps ---------------------------------------------------------
@pytest.mark.parametrize("scale", [1e160, 1e200, 1e-170, 1e-200])
def test_random_moments_keep_their_information_at_extreme_scales(scale):
    """The spread of the data overflowed (inf, so every a_j was 0) or underflowed (0, taken
    as 1) beyond about 1e±154: one distinct output row of 50 while ``lossless_`` said True."""
    X = np.random.default_rng(0).normal(size=(50, 12))
    base = InvariantProjector("S_n", "random_moments", n_dims=3, random_state=0).fit_transform(X)
    F = InvariantProjector("S_n", "random_moments", n_dims=3, random_state=0).fit_transform(X * scale)
    assert len(np.unique(F, axis=0)) == 50
    np.testing.assert_allclose(F, base, atol=1e-12)  # the same features as at unit scale


@pytest.mark.parametrize("dtype, scale", [(np.float64, 1e-100), (np.float64, 1e-200), (np.float32, 1e-11)])
def test_power_sums_that_underflow_are_refused(dtype, scale):
    """Sums of degree 4 underflowed to 0: {1, 2, 3, 4} and {0, 2.5, 3.5, 4} (same mean) got
    equal features at 1e-200 while ``lossless_`` said True."""
    X = (np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 2.5, 3.5, 4.0]]) * scale).astype(dtype)
    with pytest.raises(ValueError, match=rf"underflow {np.dtype(dtype).name}.*multiply X by a constant"):
        InvariantProjector("S_n", "power_sums", n_dims=1).fit_transform(X)
    F = InvariantProjector("S_n", "power_sums", n_dims=1).fit_transform(X / np.array(scale, dtype=dtype))
    assert not np.array_equal(F[0], F[1])


@pytest.mark.parametrize("group, method, layout, shape", [
    ("S_n", "sum", None, (1, 4)), ("S_n", "reynolds", None, (1, 4)),
    ("S_n", "max_filter", None, (1, 4)), ("C4", "reynolds", "fibre", (1, 4)), ("C4", "max_filter", "image", (1, 2, 2)),
])
def test_features_beyond_the_dtype_are_refused_not_returned(group, method, layout, shape):
    """Sums of finite values near the dtype's limit returned inf (all entries 1e308), though
    the docs promise no NaN or infinity in the output."""
    kwargs = {"n_dims": 1} if layout is None else {"layout": layout}
    proj = InvariantProjector(group, method, random_state=0, **kwargs).fit(np.ones(shape))
    with pytest.raises(ValueError, match=rf"overflow float64.*method='{method}'"):
        proj.transform(np.full(shape, 1e308))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_mean_pooling_near_the_dtype_limit_is_the_mean(dtype, data):
    """The mean's sum overflowed for finite values near the dtype's limit (4 points of
    1.5e308), and the features were refused as overflowing although the mean is finite
    (|mean| <= max |x|): large entries are now summed scaled by an exact power of two."""
    m = data.draw(st.integers(1, 40), label="m")
    top = float(np.finfo(dtype).max)
    frac = st.floats(-1.0, 1.0, allow_nan=False, width=32)
    U = np.array(data.draw(st.lists(frac, min_size=2 * m * 2, max_size=2 * m * 2)), dtype=np.float64)
    X = (U.reshape(2, m * 2) * top).astype(dtype)
    X[1] = X[1] / dtype(2.0 ** 600 if dtype == np.float64 else 2.0 ** 60)   # a sample far from the limit
    X_before = X.copy()
    proj = InvariantProjector("S_n", "mean", n_dims=2).fit(X)
    F = proj.transform(X)
    np.testing.assert_array_equal(X, X_before)
    assert F.dtype == dtype and np.isfinite(F).all()
    exact = X.reshape(2, m, 2).astype(np.longdouble).mean(axis=1)
    # rounding is relative to the summands, not to the mean (values that cancel to ~0)
    scale = np.abs(X.reshape(2, m, 2)).astype(np.longdouble).max(axis=1)
    error = np.abs(F.astype(np.longdouble) - exact)
    assert (error <= 4 * m * np.finfo(dtype).eps * scale + np.finfo(dtype).tiny).all(), (error, scale)


def test_mean_pooling_of_a_sample_at_1_5e308_is_finite():
    """... and without numpy's "invalid value" warning from scikit-learn's finiteness test."""
    X = np.array([[1.5e308, 1.5e308, 1.5e308, 1.5e308], [-1.5e308, 1.5e308, -1.5e308, -1.5e308]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F = InvariantProjector("S_n", "mean", n_dims=1).fit_transform(X)
    np.testing.assert_array_equal(F, [[1.5e308], [-0.75e308]])
    X32 = np.full((1, 4), 3e38, dtype=np.float32)
    np.testing.assert_array_equal(InvariantProjector("S_n", "mean", n_dims=1).fit_transform(X32),
                                  np.full((1, 1), 3e38, dtype=np.float32))


def test_centroids_of_huge_coordinates_do_not_overflow():
    """The centroid's sum overflowed for coordinates near 1e307 (29 points): E3 distances of
    positions with velocities came out all NaN, norms were refused for 'coordinates up to inf'."""
    from skcanon.layouts import PointLayout

    rng = np.random.default_rng(0)
    X = 1.0 + 0.1 * rng.random(size=(2, 29, 6))
    layout = PointLayout(3, fields=[("pos", "position"), ("vel", "vector")])
    proj = InvariantProjector("E3", "distances", layout=layout).fit(X.reshape(2, -1))
    unit = proj.transform(X.reshape(2, -1))
    huge = proj.transform((X * 2.0**1019).reshape(2, -1))
    assert np.isfinite(huge).all()
    np.testing.assert_allclose(huge / 2.0**1019, unit, rtol=1e-12)
    norms = InvariantProjector("E3", "norms", n_dims=3).fit(X[:, :, :3].reshape(2, -1))
    assert np.isfinite(norms.transform((X[:, :, :3] * 2.0**1019).reshape(2, -1))).all()


def test_projection_refusing_absent_points_says_so():
    """The refusal was scikit-learn's generic NaN message (imputers, other estimators)."""
    X = np.random.default_rng(0).normal(size=(4, 3, 3))
    X[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"Absent points .*method='sort' does not; .*\['canonical'\]"):
        InvariantProjector("S_n", "sort", n_dims=3).fit(X.reshape(4, -1))
    fitted = InvariantProjector("S_n", "sort", n_dims=3).fit(X[1:].reshape(3, -1))
    with pytest.raises(ValueError, match=r"method='sort' does not"):
        fitted.transform(X.reshape(4, -1))


def test_auto_reads_absent_points_where_its_final_choice_takes_them():
    """'auto' checked absent points against the projection it picked before the number of
    points was known: under I on 200 points it refused them naming 'max_filter' although its
    final choice, 'canonical', reads them."""
    X = np.random.default_rng(0).normal(size=(6, 200, 3))
    X[0, 1] = np.nan
    proj = InvariantProjector("I", n_dims=3, random_state=0).fit(X.reshape(6, -1))
    assert proj.method_ == "canonical"
    assert np.isfinite(proj.transform(X.reshape(6, -1))).all()
    few = X[:, :5].copy()
    with pytest.raises(ValueError, match=r"method='auto' \(here 'max_filter'\) does not"):
        InvariantProjector("I", n_dims=3, random_state=0).fit(few.reshape(6, -1))


def test_canonical_features_refuse_absent_points_that_fit_never_saw():
    """Fitted without absent points the features have no presence columns: an absent point
    read as a real point at 0, and two orbits got one feature vector."""
    X = np.array([[[-1.0, -2.0, -3.0], [0.0, 0.0, 0.0]], [[1.0, 2.0, 0.5], [0.3, 0.1, 0.2]]])
    proj = InvariantProjector("S_n", "canonical", n_dims=3).fit(X.reshape(2, -1))
    assert proj.lossless_
    gap = X.copy()
    gap[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"absent points .* in samples \[0\], but fit saw none"):
        proj.transform(gap.reshape(2, -1))
    with_absent = InvariantProjector("S_n", "canonical", n_dims=3).fit(gap.reshape(2, -1))
    F = with_absent.transform(np.concatenate([X, gap]).reshape(4, -1))
    assert not np.array_equal(F[0], F[2])


@pytest.mark.parametrize("method, dtype, scale", [
    ("gram", np.float64, 1e-170), ("gram", np.float64, 1e-300), ("gram", np.float32, 1e-25),
    ("gram_minors", np.float64, 1e-170), ("gram_minors", np.float64, 1e-110),
    ("gram_minors", np.float32, 1e-14)])
def test_gram_features_that_underflow_are_refused(method, dtype, scale):
    """Gram entries (degree 2) and 3×3 minors (degree 3) of tiny clouds underflowed to 0
    silently: two different clouds got equal (all-zero) features while ``lossless_`` said
    True, and at 1e-110 a cloud and its mirror image merged (their minors were 0)."""
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(2, 5, 3)) * scale).astype(dtype)
    with pytest.raises(ValueError, match=rf"underflow {np.dtype(dtype).name}.*multiply X by a constant"):
        InvariantProjector("O3" if method == "gram" else "SO3", method, n_dims=3).fit_transform(X)


def test_gram_minors_are_exact_powers_of_the_scale():
    """Minors from vectors scaled by a power of two: the features of 2**-190·X are those of
    X times 2**-380 (Gram) and 2**-570 (minors), bit for bit, where the unscaled cubes
    underflowed."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4, 5, 3))
    proj = InvariantProjector("SO3", "gram_minors", n_dims=3)
    F = proj.fit_transform(X)
    minors = np.array(["minor" in name for name in proj.get_feature_names_out()])
    G = proj.transform(X * 2.0**-190)
    np.testing.assert_array_equal(G[:, minors], F[:, minors] * 2.0**-570)
    np.testing.assert_array_equal(G[:, ~minors], F[:, ~minors] * 2.0**-380)


@pytest.mark.parametrize("method, dtype, scale", [("bispectrum", np.float64, 1e-120),
                                                  ("bispectrum", np.float32, 1e-22),
                                                  ("power_spectrum", np.float64, 1e-170)])
def test_spectra_that_underflow_are_refused(method, dtype, scale):
    """Products of two or three Fourier coefficients of tiny fibres underflowed to 0: two
    different C8 orbits got equal features while ``lossless_`` said True."""
    from skcanon.layouts import FibreLayout

    rng = np.random.default_rng(0)
    X = (rng.normal(size=(2, 8)) * scale).astype(dtype)
    with pytest.raises(ValueError, match=rf"underflow {np.dtype(dtype).name}.*multiply X by a constant"):
        InvariantProjector("C8", method, layout=FibreLayout(8)).fit_transform(X)


def test_a_canonicalizer_that_reads_the_columns_otherwise_is_refused():
    """``method="canonical"`` kept a canonicalizer's own layout that contradicted the
    projector's: a velocity read as three scalars (invariance error 1.7) or graph rows read
    as plain points by ``sort`` (0.80), while ``lossless_`` said True. A layout that only
    renames the fields, or none (it takes the projector's), is accepted."""
    import networkx as nx

    from skcanon import CanonicalizerTransformer
    from skcanon.layouts import PointLayout

    X = np.random.default_rng(0).normal(size=(10, 24))
    own = PointLayout(3, fields=[("pos", "position"), ("vel", "vector")])
    other = PointLayout(3, fields=[("pos", "position"), ("s", "scalar", 3)])
    with pytest.raises(ValueError, match="canonicalizer reads the columns with layout"):
        InvariantProjector("SE3", "canonical", layout=own,
                           canonicalizer=CanonicalizerTransformer("SE3", "pca", layout=other)).fit(X)
    graphs = [nx.gnp_random_graph(5, 0.5, seed=i) for i in range(6)]
    with pytest.raises(ValueError, match="canonicalizer reads the columns with layout"):
        InvariantProjector("S_n", "canonical", layout="graph", canonicalizer=CanonicalizerTransformer(
            "S_n", "sort", layout=PointLayout(6, fields=[("a", "scalar", 6)]))).fit(graphs)
    renamed = PointLayout(3, fields=[("x", "position"), ("v", "vector")])
    for canon_layout in (renamed, None):
        proj = InvariantProjector("SE3", "canonical", layout=own,
                                  canonicalizer=CanonicalizerTransformer("SE3", "pca", layout=canon_layout))
        assert proj.fit_transform(X).shape[0] == 10


def test_messages_name_the_method_the_caller_passed():
    """An alias with an absent point was reported as method='auto'; 'auto' where no method
    applies blamed method='canonical', which the caller never chose."""
    from skcanon.layouts import PointLayout

    X = np.arange(12.0).reshape(2, 6)
    X[0, :3] = np.nan
    with pytest.raises(ValueError, match=r"method='moments' \(here 'power_sums'\) does not"):
        InvariantProjector("S_n", "moments").fit(X)
    with pytest.raises(ValueError, match="method='auto' found no invariant map for group 'E3'"):
        InvariantProjector("E3", layout=PointLayout(3, fields=[("q", "scalar", 3)])).fit(np.zeros((3, 9)))


def test_max_filter_memory_is_bounded_or_refused_by_name():
    """``auto`` took max filtering for any image size (3×64×64 under D4: 18 GiB of template
    orbits, 6 GiB of scores per default batch), and S_n on 7 points × 3 channels held
    1.6 MiB of scores per sample, a whole batch at once."""
    from skcanon.layouts import ImageLayout
    from skcanon.projections import _random

    rng = np.random.default_rng(0)
    big = rng.random((2, 1, 48, 48))
    assert InvariantProjector("D4", layout=ImageLayout()).fit(big).projection_.name == "canonical"
    small = rng.random((2, 1, 16, 16))
    assert InvariantProjector("D4", layout=ImageLayout()).fit(small).projection_.name == "max_filter"
    with pytest.raises(ValueError, match=r"needs 18.0 GiB of template orbits .*n_components"):
        InvariantProjector("D4", "max_filter", layout=ImageLayout()).fit(rng.random((2, 3, 64, 64)))
    # scores in chunks: the same features as one product (up to the product's rounding)
    X = rng.normal(size=(300, 21))
    proj = InvariantProjector("S_n", "max_filter", n_dims=3, random_state=0).fit(X)
    whole = proj.transform(X)
    chunk = _random.SCORE_CHUNK_BYTES
    try:
        _random.SCORE_CHUNK_BYTES = 1            # one row at a time
        np.testing.assert_allclose(proj.transform(X), whole, rtol=1e-12, atol=1e-12)
    finally:
        _random.SCORE_CHUNK_BYTES = chunk


def test_planar_clouds_keep_their_zero_minors_and_auto_honours_n_components():
    """Review of B312/B317: the minors' underflow was decided on the minors themselves, so a
    planar ring (minors 0 up to rounding) at 3e-11 in float32 was refused in 19 of 20 poses;
    ``auto`` sized max filtering by 2·dim templates whatever ``n_components`` said."""
    from skcanon.groups import get_group
    from skcanon.layouts import PointLayout

    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    ring = np.stack([np.cos(angles), np.sin(angles), np.zeros(12)], axis=1)
    g = get_group("SO3")
    moved = g.act(g.sample(20, 0), np.broadcast_to(ring, (20, 12, 3)), PointLayout(3))
    for dtype, scale in ((np.float32, 3e-11), (np.float64, 1e-100)):
        F = InvariantProjector("SO3", "gram_minors", n_dims=3).fit_transform((moved * scale).astype(dtype))
        assert np.isfinite(F).all()
    images = np.random.default_rng(0).random((3, 1, 48, 48))
    proj = InvariantProjector("D4", "auto", layout=ImageLayout(), n_components=50).fit(images)
    assert proj.projection_.name == "max_filter" and proj.transform(images).shape == (3, 50)


@pytest.mark.parametrize("method", ["random_moments", "random_sort"])
def test_random_sort_and_moments_work_a_chunk_of_rows_at_a_time(monkeypatch, method):
    """The per-point projections ``a_j·x_i`` of a whole batch were held at once: ``m·D``
    values per sample, ``D = 2mw+1`` by default for random moments, so 4,096 clouds of
    1,000 points (one default batch) took 196 GB; random sort held three arrays of the
    output's size. Now a chunk of rows at a time, with the same features."""
    import tracemalloc

    from skcanon.projections import _base

    X = np.random.default_rng(0).normal(size=(40, 200 * 3))
    proj = InvariantProjector("S_n", method, n_dims=3, random_state=0).fit(X)
    whole = proj.transform(X)
    monkeypatch.setattr(_base, "WORK_CHUNK_BYTES", 1)            # one row at a time
    np.testing.assert_allclose(proj.transform(X), whole, rtol=1e-13, atol=1e-13)
    monkeypatch.setattr(_base, "WORK_CHUNK_BYTES", 1 << 20)
    tracemalloc.start()
    try:
        proj.transform(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    working = X.shape[0] * 200 * proj.projection_.n_components_ * 8    # one batch's a_j·x_i
    output = whole.nbytes     # held twice: the projection's result and the projector's
    assert peak < 2 * output + 0.25 * working + (8 << 20), (peak, output, working)


@pytest.mark.parametrize("method", ["random_moments", "random_sort"])
def test_random_sort_and_moments_refuse_parameters_beyond_memory_by_name(method):
    """A huge ``n_components`` failed with numpy's raw MemoryError when drawing ``A``."""
    with pytest.raises(ValueError, match=r"n_components=10000000000 needs 223\.5 GiB .*smaller n_components"):
        InvariantProjector("S_n", method, n_dims=3, n_components=10**10).fit(np.zeros((3, 9)))


@pytest.mark.parametrize("group", ["C8", "D8", "C16", "D16", "C3"])
@pytest.mark.parametrize("shape", [(2, 2), (2, 5), (1, 4)])
def test_interpolated_turns_of_images_without_interior_are_refused(group, shape):
    """C8/D8/C16/D16 on 2×2 images ran with the usual "invariant up to resampling error"
    warning, but a 45° turn changes every pixel of a 2×2 image (a constant one keeps 79%):
    canonical forms moved by half their size (max relative error 0.47 to 0.69)."""
    from skcanon import CanonicalizerTransformer

    X = np.random.default_rng(0).random((5,) + shape)
    H, W = shape
    for est in (CanonicalizerTransformer(group, layout="image"), InvariantProjector(group, layout="image")):
        with pytest.raises(ValueError, match=rf"group '{group}' rotates images by interpolation "
                                             rf".*every pixel of a {H}×{W} image lies on its border.*Use C"):
            est.fit(X)


@pytest.mark.parametrize("group", ["C4", "D4", "C2", "D2"])
def test_exact_turns_of_2x2_images_are_still_invariant(group):
    from skcanon import CanonicalizerTransformer
    from skcanon.groups import get_group

    X = np.random.default_rng(0).random((5, 2, 2))
    G = get_group(group)
    for est in (CanonicalizerTransformer(group, layout="image"), InvariantProjector(group, layout="image")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            Y = est.fit(X).transform(X)
        for k in range(G.order):
            moved = G.apply(np.full(len(X), k), X, est.layout_)
            np.testing.assert_allclose(est.transform(moved), Y, atol=1e-12)


def test_interpolated_turns_of_1x1_and_3x3_images_still_run():
    from skcanon import CanonicalizerTransformer
    from skcanon.exceptions import InexactActionWarning

    rng = np.random.default_rng(0)
    CanonicalizerTransformer("C8", layout="image").fit(rng.random((4, 1, 1)))
    with pytest.warns(InexactActionWarning):
        CanonicalizerTransformer("C8", layout="image").fit(rng.random((4, 3, 3)))
