"""CanonicalizerTransformer as a scikit-learn citizen, and its error messages."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skcanon import CanonicalizerTransformer, InvariantProjector
from skcanon.groups import get_group
from skcanon.layouts import ImageLayout, PointLayout


def _clouds(n=90, m=8, seed=0):
    """Two classes of 3-D clouds (elongated vs flat), randomly rotated and translated."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    scales = np.where(y[:, None] == 0, [4.0, 1.0, 0.3], [1.5, 1.5, 1.5])
    P = rng.normal(size=(n, m, 3)) * scales[:, None, :]
    P += np.array([0.5, 0, 0])  # break the sign symmetry
    G = get_group("SE3")
    X = G.apply(G.sample(n, seed), P.reshape(n, -1), PointLayout(3))
    return X, y


def test_pipeline_and_grid_search_over_method():
    X, y = _clouds()
    pipe = make_pipeline(CanonicalizerTransformer("SE3xS_n", "identity"),
                         RandomForestClassifier(n_estimators=50, random_state=0))
    search = GridSearchCV(pipe, {"canonicalizertransformer__method": ["identity", "pca+sort"]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["canonicalizertransformer__method"] == "pca+sort"
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] + 0.15 and scores[1] > 0.85, scores


def test_clone_pickle_joblib_round_trip(tmp_path):
    X, _ = _clouds()
    est = CanonicalizerTransformer("SE3xS_n", "pca+sort", batch_size=7).fit(X)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "group_")
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.transform(X), est.transform(X))
    joblib.dump(est, tmp_path / "c.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "c.joblib").transform(X), est.transform(X))


def test_batching_does_not_change_results():
    X, _ = _clouds(n=50)
    a = CanonicalizerTransformer("SE3xS_n", "pca+sort", batch_size=7).fit(X)
    b = CanonicalizerTransformer("SE3xS_n", "pca+sort", batch_size=None).fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    fa, fb = a.canonical_frame(X), b.canonical_frame(X)
    for x, z in zip(fa, fb):
        np.testing.assert_array_equal(x, z)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group, method", [("T3", "centroid"), ("scaling", "scale")])
def test_one_odd_sample_does_not_change_the_others(group, method, dtype):
    """One sample with an absent point (or all zero) sent the whole batch to the general
    path of ``centroid``/``scale``, changing the last bits of every other sample."""
    X = np.random.default_rng(0).normal(size=(300, 12)).astype(dtype)
    X[0, :3] = np.nan
    X[1] = 0.0
    est = CanonicalizerTransformer(group, method).fit(X)
    whole = est.transform(X)
    for i in range(2, 300, 37):
        np.testing.assert_array_equal(whole[i], est.transform(X[i:i + 1])[0])
    np.testing.assert_array_equal(whole, est.set_params(batch_size=128).transform(X))


@pytest.mark.parametrize("categorical", [False, True])
def test_nullable_float32_columns_stay_float32(categorical):
    """pandas' nullable ``Float32`` columns: float32 output with or without a categorical
    field (without one they became float64), ``NA`` read as an absent value."""
    pd = pytest.importorskip("pandas")
    cols = [f"p{i}_{a}" for i in range(2) for a in "xyz"]
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(5, 6)), columns=cols).astype("Float32")
    df.iloc[1, 3:] = pd.NA
    if categorical:
        df = df.assign(p0_el=list("CHCHC"), p1_el=["H", None, "H", "C", "H"])
    est = CanonicalizerTransformer("SE3xS_n").fit(df)
    out = est.transform(df)
    assert out.dtype == np.float32 and list(est.feature_names_in_) == list(df.columns)
    plain = df.astype({c: "float32" for c in cols})
    np.testing.assert_array_equal(out, CanonicalizerTransformer("SE3xS_n").fit(plain).transform(plain))


def test_pandas_output_and_feature_names():
    pd = pytest.importorskip("pandas")
    layout = PointLayout(3, fields=[("pos", "position"), ("vel", "vector"), ("charge", "scalar")])
    X = np.random.default_rng(0).normal(size=(5, 2 * 7))
    est = CanonicalizerTransformer("SE3", "pca", layout=layout).set_output(transform="pandas").fit(X)
    out = est.transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns[:7]) == ["p0_x", "p0_y", "p0_z", "p0_vel_x", "p0_vel_y", "p0_vel_z", "p0_charge"]
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(14)])
    est2 = CanonicalizerTransformer("SE3", "pca", layout=layout).fit(df)
    assert list(est2.feature_names_in_) == list(df.columns)
    assert est2.get_feature_names_out().shape == (14,)


def test_image_feature_names_and_layouts():
    X = np.random.default_rng(0).random((4, 3, 5, 5))
    est = CanonicalizerTransformer("C4", "moments", layout="image").fit(X)
    assert est.transform(X).shape == X.shape  # 4-D in, 4-D out
    assert est.get_feature_names_out()[0] == "c0_px_0_0"
    flat = CanonicalizerTransformer("D4", layout=ImageLayout((3, 5, 5))).fit(X.reshape(4, -1))
    np.testing.assert_array_equal(flat.transform(X.reshape(4, -1)).reshape(X.shape),
                                  CanonicalizerTransformer("D4", layout="image").fit(X).transform(X))


def test_three_d_input_round_trips_and_matches_flat():
    X, _ = _clouds(n=10)
    X3 = X.reshape(10, -1, 3)
    est = CanonicalizerTransformer("SE3", "pca").fit(X3)
    out3 = est.transform(X3)
    assert out3.shape == X3.shape
    np.testing.assert_allclose(out3.reshape(10, -1), CanonicalizerTransformer("SE3", "pca").fit(X).transform(X))


def test_canonical_frame_formats():
    X, _ = _clouds(n=5, m=6)
    assert CanonicalizerTransformer("SO3", "pca").fit(X).canonical_frame(X).shape == (5, 3, 3)
    assert CanonicalizerTransformer("SE3", "pca").fit(X).canonical_frame(X).shape == (5, 4, 4)
    assert CanonicalizerTransformer("T3", "centroid").fit(X).canonical_frame(X).shape == (5, 3)
    perm = CanonicalizerTransformer("S_n", "sort").fit(X).canonical_frame(X)
    assert perm.shape == (5, 6) and perm.dtype.kind == "i"
    rot, perm = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(X).canonical_frame(X)
    assert rot.shape == (5, 4, 4) and perm.shape == (5, 6)


def test_inverse_transform_maps_back():
    X, _ = _clouds(n=6)
    est = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(X)
    canon, frames = est.canonicalize(X)
    np.testing.assert_allclose(est.inverse_transform(canon, frames), X, atol=1e-10)
    with pytest.raises(ValueError, match="one group element per sample"):
        est.inverse_transform(canon, tuple(f[:2] for f in frames))


def test_inputs_are_never_modified():
    X, _ = _clouds(n=6)
    X.flags.writeable = False  # any in-place write would raise
    est = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(X)
    est.transform(X)
    canon, frames = est.canonicalize(X)
    before = [f.copy() for f in frames]
    est.inverse_transform(canon, frames)
    for a, b in zip(before, frames):
        np.testing.assert_array_equal(a, b)


def test_random_state_reproducible_and_params_untouched():
    est = CanonicalizerTransformer("SE3", "pca", random_state=3)
    X, _ = _clouds(n=5)
    est.fit(X)
    assert est.random_state == 3 and est.method == "pca" and est.method_ == "pca"


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "X, err, match",
    [
        (np.zeros((4, 7)), ValueError, r"7 feature\(s\).*multiple of the 3"),
        (np.zeros((0, 6)), ValueError, "0 sample"),
        (np.array([[np.inf] * 6]), ValueError, "infinity"),
        (np.array([[np.nan, 0, 0, 1, 1, 1]]), ValueError, "NaN inside a point"),
        (np.array([["a"] * 6]), TypeError, "must be numeric"),
        (np.zeros(6), ValueError, "Reshape your data"),
        (np.zeros((2, 3, 4)), ValueError, r"\(n_samples, n_points, 3\)"),
        (np.zeros((2, 6), dtype=complex), ValueError, "Complex data"),
    ],
)
def test_bad_input_is_a_clear_error(X, err, match):
    with pytest.raises(err, match=match):
        CanonicalizerTransformer("SE3", "pca").fit(X)


def test_sparse_input_is_a_type_error():
    sp = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="sparse"):
        CanonicalizerTransformer("SE3", "pca").fit(sp.csr_matrix(np.ones((2, 6))))


def test_width_mismatch_after_fit():
    est = CanonicalizerTransformer("SE3", "pca").fit(np.random.rand(3, 6))
    with pytest.raises(ValueError, match="expecting 6 features"):
        est.transform(np.random.rand(3, 9))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"group": "SU3"}, "Unknown group"),
        ({"group": "SE3", "method": "sort"}, "not available for group 'SE3'"),
        ({"group": "SE3xS_n", "method": "pca"}, "one method per factor"),
        ({"group": "SO3", "n_dims": 2}, "n_dims=2 does not match"),
        ({"group": "SO3", "method": "moments"}, "not available for group 'SO3'"),  # images are 2-D
        ({"group": "C4", "method": "pca", "layout": "image"}, "works on point sets"),
        ({"group": "SO3", "layout": "bogus"}, "layout"),
        ({"group": "SO3", "batch_size": 0}, "batch_size"),
    ],
)
def test_bad_parameters_are_clear_errors(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        CanonicalizerTransformer(**params).fit(np.random.rand(3, 12))


def test_untrusted_fitted_state_is_required():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        CanonicalizerTransformer().transform(np.zeros((1, 3)))


# -- dataframes -----------------------------------------------------------------------------------
def _named_frame(pd, n=6, m=4, seed=0):
    """Point columns named x1..x4, y1..y4, z1..z4 (component-major, not point-major)."""
    P = np.random.default_rng(seed).normal(size=(n, m, 3))
    cols = [f"{axis}{i + 1}" for axis in "xyz" for i in range(m)]
    return P, pd.DataFrame(P.transpose(0, 2, 1).reshape(n, -1), columns=cols)


def test_named_point_columns_in_any_order():
    pd = pytest.importorskip("pandas")
    P, df = _named_frame(pd)
    layout = PointLayout.from_columns(df.columns)
    est = CanonicalizerTransformer("SE3", "pca", layout=layout).set_output(transform="pandas").fit(df)
    out = est.transform(df)
    assert list(out.columns) == list(df.columns)  # same columns back, now in canonical pose
    reference = CanonicalizerTransformer("SE3", "pca").fit_transform(P.reshape(len(P), -1)).reshape(P.shape)
    np.testing.assert_allclose(out[[f"{a}{i + 1}" for i in range(4) for a in "xyz"]].to_numpy(),
                               reference.reshape(len(P), -1))


@pytest.mark.parametrize("make", [
    lambda: CanonicalizerTransformer("SE3xS_n", "pca+sort"),
    lambda: InvariantProjector("E3xS_n"),
    lambda: InvariantProjector("E3xS_n", "canonical"),
])
def test_every_transformer_reads_dataframes_by_their_point_names(make):
    """Columns named x1..x4, y1..y4, z1..z4 (component-major) mean the same points to every
    estimator (B91): the output is invariant to rotating the points, and equals the output
    for the same points as a point-major array."""
    pd = pytest.importorskip("pandas")
    from scipy.spatial.transform import Rotation

    P, df = _named_frame(pd)
    turned = P @ Rotation.random(random_state=1).as_matrix().T
    df_turned = pd.DataFrame(turned.transpose(0, 2, 1).reshape(len(P), -1), columns=df.columns)
    est = make().fit(df)
    assert est.layout_.columns is not None
    a, b = np.asarray(est.transform(df)), np.asarray(est.transform(df_turned))
    np.testing.assert_allclose(a, b, atol=1e-9)
    if not isinstance(est, CanonicalizerTransformer):   # same features as the point-major array
        flat = make().fit(P.reshape(len(P), -1)).transform(P.reshape(len(P), -1))
        np.testing.assert_allclose(a, flat, atol=1e-9)


def test_frame_averaging_reads_dataframes_by_their_point_names():
    pd = pytest.importorskip("pandas")
    from scipy.spatial.transform import Rotation
    from sklearn.linear_model import LogisticRegression

    from skcanon import FrameAveragingClassifier

    P, df = _named_frame(pd, n=12)
    turned = P @ Rotation.random(random_state=1).as_matrix().T
    df_turned = pd.DataFrame(turned.transpose(0, 2, 1).reshape(len(P), -1), columns=df.columns)
    y = np.arange(12) % 2
    clf = FrameAveragingClassifier(LogisticRegression(), group="SE3xS_n").fit(df, y)
    np.testing.assert_allclose(clf.predict_proba(df), clf.predict_proba(df_turned), atol=1e-9)
    flat = FrameAveragingClassifier(LogisticRegression(), group="SE3xS_n").fit(P.reshape(12, -1), y)
    np.testing.assert_allclose(clf.predict_proba(df), flat.predict_proba(P.reshape(12, -1)), atol=1e-9)


@pytest.mark.parametrize(
    "columns, match",
    [(["x1", "y1", "z1", "x2", "y2"], "lack"), (["x1", "y1", "z1", "w1"], "does not name"),
     (["x1", "y1", "z1", "x1"], "twice")],
)
def test_bad_point_column_names(columns, match):
    with pytest.raises(ValueError, match=match):
        PointLayout.from_columns(columns)


def test_dataframe_with_other_column_names_after_fit():
    pd = pytest.importorskip("pandas")
    _, df = _named_frame(pd)
    est = CanonicalizerTransformer("SE3", "pca", layout=PointLayout.from_columns(df.columns)).fit(df)
    with pytest.raises(ValueError, match="feature names"):
        est.transform(df.rename(columns={"x1": "a1"}))


def test_inside_column_transformer_next_to_tabular_columns():
    pd = pytest.importorskip("pandas")
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import StandardScaler

    P, df = _named_frame(pd)
    df["temperature"] = np.linspace(250, 300, len(df))
    point_cols = [c for c in df.columns if c != "temperature"]
    ct = ColumnTransformer([
        ("points", CanonicalizerTransformer("SE3xS_n", "pca+sort", layout=PointLayout.from_columns(point_cols)),
         point_cols),
        ("scalars", StandardScaler(), ["temperature"]),
    ]).set_output(transform="pandas")
    out = ct.fit_transform(df)
    assert "points__x1" in out.columns and "scalars__temperature" in out.columns
    # rotating the points leaves the whole output unchanged
    moved = df.copy()
    G = get_group("SE3")
    P_moved = G.apply(G.sample(len(P), 1), P.reshape(len(P), -1), PointLayout(3)).reshape(P.shape)
    moved[point_cols] = P_moved.transpose(0, 2, 1).reshape(len(P), -1)
    np.testing.assert_allclose(ct.transform(moved).to_numpy(), out.to_numpy(), atol=1e-9)


def test_polars_output():
    pl = pytest.importorskip("polars")
    X, _ = _clouds(n=5, m=4)
    out = CanonicalizerTransformer("SE3", "pca").set_output(transform="polars").fit(X).transform(X)
    assert isinstance(out, pl.DataFrame) and out.columns[:3] == ["p0_x", "p0_y", "p0_z"]


def test_interpolated_image_actions_warn_and_exact_ones_do_not():
    import warnings

    from skcanon.exceptions import InexactActionWarning

    X = np.random.default_rng(0).random((4, 64))
    with pytest.warns(InexactActionWarning, match="interpolation"):
        CanonicalizerTransformer("C8", "moments").fit(X)
    with pytest.warns(InexactActionWarning):
        CanonicalizerTransformer("SO2", "moments", layout="image").fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CanonicalizerTransformer("C4", "moments").fit(X)
        CanonicalizerTransformer("SO2", "pca").fit(X)  # points: rotations are exact


@pytest.mark.parametrize("method", ["max_filter", "canonical", "reynolds"])
def test_projections_of_interpolated_images_warn_as_canonical_forms_do(method):
    """``InvariantProjector("C4", layout=ImageLayout((5, 8)))`` rotated the non-square
    images by interpolation, silently: its features are invariant only up to resampling
    error, which ``CanonicalizerTransformer`` warns about on the same data."""
    import warnings

    from skcanon import InvariantProjector
    from skcanon.exceptions import InexactActionWarning
    from skcanon.layouts import ImageLayout

    X = np.random.default_rng(0).random((4, 40))
    expected = "non-square images .*(features|canonical forms) are invariant"
    with pytest.warns(InexactActionWarning, match=expected) as record:
        InvariantProjector("C4", method, layout=ImageLayout((5, 8))).fit(X)
    assert [w.filename for w in record if w.category is InexactActionWarning] == [__file__]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        InvariantProjector("C2", method, layout=ImageLayout((5, 8))).fit(X)
        square = np.random.default_rng(0).random((4, 64))
        InvariantProjector("D4", method, layout=ImageLayout((8, 8))).fit(square)


def test_html_repr_links_to_the_api_reference():
    from skcanon import EquivariantRegressor, InvariantProjector

    for est in (CanonicalizerTransformer(), InvariantProjector(), EquivariantRegressor()):
        link = est._get_doc_link()
        assert link.endswith(f"/generated/skcanon.{type(est).__name__}.html"), link
        assert link in est._repr_html_()


def test_non_square_images_are_exact_for_half_turns_only():
    import warnings

    from skcanon.exceptions import InexactActionWarning
    from skcanon.groups import get_group
    from skcanon.layouts import ImageLayout

    rng = np.random.default_rng(1)
    images = rng.random((6, 5, 8))  # 5×8: a quarter turn cannot keep the shape
    layout = ImageLayout((5, 8))
    X = images.reshape(6, -1)
    with pytest.warns(InexactActionWarning, match="non-square"):
        CanonicalizerTransformer("C4", "moments", layout=layout).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = CanonicalizerTransformer("C2", "moments", layout=layout).fit(X)
    C2 = get_group("C2")
    turned = C2.apply(np.ones(6, dtype=int), images, layout)
    np.testing.assert_array_equal(turned, images[:, ::-1, ::-1])  # exact half turn, no resampling
    np.testing.assert_allclose(est.transform(turned.reshape(6, -1)), est.transform(X), atol=1e-12)


@pytest.mark.parametrize("method, group", [("pca+sort", "SE3xS_n"), ("sort", "S_n"), ("random", "SO3")])
def test_n_jobs_gives_identical_outputs_and_frames(method, group):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 7 * 3))
    kwargs = {"n_dims": 3, "random_state": 0, "hidden": 8} if method == "random" else {"n_dims": 3}
    serial = CanonicalizerTransformer(group, method, batch_size=7, **kwargs).fit(X)
    threaded = CanonicalizerTransformer(group, method, batch_size=7, n_jobs=2, **kwargs).fit(X)
    c1, f1 = serial.canonicalize(X)
    c2, f2 = threaded.canonicalize(X)
    # heuristics: bit-identical; networks run torch on n_jobs threads, whose reductions may
    # differ in the last bits (float64 frames here)
    same = np.testing.assert_array_equal if method != "random" else (
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12))
    same(c1, c2)
    for a, b in zip(f1 if isinstance(f1, tuple) else (f1,), f2 if isinstance(f2, tuple) else (f2,)):
        same(a, b)
    same(threaded.transform(X), c1)


def test_n_jobs_is_validated():
    with pytest.raises(ValueError, match="n_jobs"):
        CanonicalizerTransformer("SE3", "pca", n_jobs="two").fit(np.zeros((3, 6)))
    with pytest.raises(ValueError, match="n_jobs == 0"):
        CanonicalizerTransformer("SE3", "pca", n_jobs=0).fit_transform(np.ones((3, 6)))


# -- points or images: never guessed (issue 14 item 11, issue 18 item 2) ------------------------------
@pytest.mark.parametrize("group, method", [("SO2", "auto"), ("O2", "auto"), ("C4", "auto"), ("D4", "identity"),
                                           ("SO2", "random"), ("SO2", "learned")])
def test_groups_acting_on_points_and_images_need_a_layout(group, method):
    """144-pixel rows were silently read as 72 two-dimensional points."""
    X = np.random.default_rng(0).random((6, 144))
    with pytest.raises(ValueError, match=r"acts on both 2-D point sets and images.*layout='image'.*"
                                         r"layout='points' / n_dims=2"):
        CanonicalizerTransformer(group, method).fit(X)


@pytest.mark.parametrize("params, kind", [
    ({"group": "SO2", "method": "moments"}, "image"),   # the method works on images only
    ({"group": "C4", "method": "moments"}, "image"),
    ({"group": "SO2", "method": "pca"}, "points"),      # ... on points only
    ({"group": "C8", "method": "random"}, "image"),     # C_n networks exist for images only
    ({"group": "C4", "layout": "image"}, "image"),
    ({"group": "SO2", "layout": "points"}, "points"),
    ({"group": "SO2", "n_dims": 2}, "points"),
    ({"group": "SE2"}, "points"),                       # translations act on points only
])
def test_layout_follows_from_parameters(params, kind):
    X = np.random.default_rng(0).random((6, 64))
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")  # interpolated SO2 image rotations warn
        est = CanonicalizerTransformer(**params).fit(X)
    assert est.layout_.kind == kind


def test_grid_search_over_image_methods_with_layout_given():
    """The researcher's search over ["moments", "random"] reads images in every candidate."""
    rng = np.random.default_rng(0)
    X = rng.random((40, 64))
    y = rng.integers(0, 2, 40)
    pipe = make_pipeline(CanonicalizerTransformer("C4", layout="image"), RandomForestClassifier(n_estimators=5))
    grid = GridSearchCV(pipe, {"canonicalizertransformer__method": ["moments", "identity"]}, cv=2,
                        error_score="raise").fit(X, y)
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize("call", ["fit", "fit_transform", "pipeline"])
def test_inexact_action_warning_points_at_the_callers_line(call):
    from skcanon.exceptions import InexactActionWarning

    X = np.random.default_rng(0).random((4, 64))
    est = CanonicalizerTransformer("C8", "moments")
    with pytest.warns(InexactActionWarning) as record:
        if call == "fit":
            est.fit(X)
        elif call == "fit_transform":
            est.fit_transform(X)
        else:
            make_pipeline(est, RandomForestClassifier(n_estimators=2)).fit(X, [0, 1, 0, 1])
    assert [w.filename for w in record if w.category is InexactActionWarning] == [__file__]


# -- absent points downstream (issue 18 item 3) ---------------------------------------------------------
def _ragged_clouds(n=30, m=5, seed=0):
    X, y = _clouds(n=n, m=m, seed=seed)
    X = X.copy()
    X[::2, 3:6] = np.nan  # point 1 absent in every other sample
    return X, y


def test_fill_value_writes_absent_points_after_sorting():
    X, _ = _ragged_clouds()
    plain = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(X).transform(X)
    filled = CanonicalizerTransformer("SE3xS_n", "pca+sort", fill_value=0.0).fit(X).transform(X)
    assert np.isnan(plain).any() and np.isfinite(filled).all()
    np.testing.assert_array_equal(filled, np.where(np.isnan(plain), 0.0, plain))
    # absent points are sorted last: the filled columns are the trailing point
    assert (filled[::2, -3:] == 0).all() and np.isnan(plain[::2, -3:]).all()


def test_fill_value_lets_a_nan_refusing_estimator_follow():
    from sklearn.linear_model import LogisticRegression

    X, y = _ragged_clouds(n=40)
    with pytest.raises(ValueError, match="NaN"):
        make_pipeline(CanonicalizerTransformer("SE3xS_n", "pca+sort"), LogisticRegression()).fit(X, y)
    pipe = make_pipeline(CanonicalizerTransformer("SE3xS_n", "pca+sort", fill_value=0.0),
                         LogisticRegression()).fit(X, y)
    assert 0 <= pipe.score(X, y) <= 1


def test_fill_value_is_validated_and_kept_by_clone():
    est = CanonicalizerTransformer(fill_value=-1.0)
    assert clone(est).fill_value == -1.0
    with pytest.raises(ValueError, match="fill_value"):
        CanonicalizerTransformer(fill_value="zero").fit(np.random.rand(3, 6))


# -- graphs: flat output (issue 18 item 4) ------------------------------------------------------------
def _graphs(n=12, seed=0):
    nx = pytest.importorskip("networkx")
    return [nx.gnp_random_graph(5, 0.5, seed=seed + i) for i in range(n)]


def test_graph_lists_give_flat_rows_matching_feature_names():
    graphs = _graphs()
    est = CanonicalizerTransformer("S_n", layout="graph").fit(graphs)
    out = est.transform(graphs)
    assert out.shape == (12, 5 * (5 + 1)) and len(est.get_feature_names_out()) == out.shape[1]
    canon, frames = est.canonicalize(graphs)
    np.testing.assert_array_equal(canon, out)
    # encoded 3-D arrays keep their layout, as point sets do
    P, layout = est.layout_.encode(graphs)
    assert est.transform(P).shape == P.shape
    np.testing.assert_array_equal(est.transform(P).reshape(12, -1), out)


def test_graph_pandas_output_and_larger_graphs():
    nx = pytest.importorskip("networkx")
    pytest.importorskip("pandas")
    graphs = _graphs()
    est = CanonicalizerTransformer("S_n", layout="graph").set_output(transform="pandas").fit(graphs)
    df = est.transform(graphs)
    assert list(df.columns) == list(est.get_feature_names_out())
    with pytest.raises(ValueError, match=r"7 nodes, more than the n_nodes=5.*layout=GraphLayout\(n_nodes=N\)"):
        est.transform([nx.path_graph(7)])
    from skcanon.layouts import GraphLayout

    big = CanonicalizerTransformer("S_n", layout=GraphLayout(n_nodes=7)).fit(graphs)
    assert big.transform([nx.path_graph(7)]).shape == (1, 7 * 8)


# -- DataFrames read by name (issue 18 item 1) -----------------------------------------------------------
def test_dataframe_columns_are_read_by_name_without_a_layout():
    pd = pytest.importorskip("pandas")
    P, df = _named_frame(pd)  # component-major x1..x4, y1..y4, z1..z4
    est = CanonicalizerTransformer("SE3", "pca").set_output(transform="pandas").fit(df)
    assert est.layout_ == PointLayout.from_columns(df.columns)
    reference = CanonicalizerTransformer("SE3", "pca").fit_transform(P.reshape(len(P), -1))
    out = est.transform(df)
    np.testing.assert_allclose(out[[f"{a}{i + 1}" for i in range(4) for a in "xyz"]].to_numpy(), reference)
    # a PointLayout without columns also reads the names when they all fit its fields
    explicit = CanonicalizerTransformer("SE3", "pca", layout=PointLayout(3)).fit(df)
    assert explicit.layout_.columns == tuple(df.columns)


def test_generic_feature_names_keep_the_flat_reading_or_say_how():
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(0).normal(size=(5, 6))
    flat = CanonicalizerTransformer("SE3", "pca").fit(X).transform(X)
    for cols in (["f0", "f1", "f2", "f3", "f4", "f5"], list(range(6))):
        df = pd.DataFrame(X, columns=cols)
        np.testing.assert_array_equal(CanonicalizerTransformer("SE3", "pca").fit(df).transform(df), flat)
    # scikit-learn's own names for an array's columns (pandas output of an earlier step)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    np.testing.assert_array_equal(CanonicalizerTransformer("SE3", "pca").fit(df).transform(df), flat)
    df = pd.DataFrame(X, columns=["x1", "y1", "x2", "y2", "x3", "y3"])  # 2-D points by name, not 3-D
    with pytest.raises(ValueError, match=r"2-D points.*layout=PointLayout\(3\) to read the columns in their order"):
        CanonicalizerTransformer("SE3", "pca").fit(df)
    np.testing.assert_array_equal(
        CanonicalizerTransformer("SE3", "pca", layout=PointLayout(3)).fit(df).transform(df), flat)


def test_points_mixed_with_other_columns_name_them():
    pd = pytest.importorskip("pandas")
    _, df = _named_frame(pd)
    df["label"] = 1.0
    with pytest.raises(ValueError, match=r"\['label'\] do not name a point component.*ColumnTransformer"):
        CanonicalizerTransformer("SE3", "pca").fit(df)


def test_key_order_reaches_the_sort_step_and_defaults_to_scalars_first():
    from skcanon.layouts import PointLayout

    layout = PointLayout(3, fields=[("pos", "position"), ("q", "scalar")])
    rng = np.random.default_rng(0)
    P = rng.normal(size=(5, 6, 4))
    P[..., 3] = rng.integers(1, 4, size=(5, 6))  # atom types with ties
    X = P.reshape(5, -1)
    default = CanonicalizerTransformer("SE3xS_n", "pca+sort", layout=layout).fit(X)
    first = CanonicalizerTransformer("SE3xS_n", "pca+sort", layout=layout, key_order="scalars_first").fit(X)
    columns = CanonicalizerTransformer("SE3xS_n", "pca+sort", layout=layout, key_order="columns").fit(X)
    np.testing.assert_array_equal(default.transform(X), first.transform(X))
    out = first.transform(X).reshape(5, 6, 4)
    assert (np.diff(out[..., 3], axis=1) >= 0).all()  # points grouped by their scalar, ascending
    assert not np.array_equal(columns.transform(X), first.transform(X))
    with pytest.raises(ValueError, match="key_order"):
        CanonicalizerTransformer("S_n", "sort", key_order="bogus").fit(X)


def test_learning_options_are_declared_once_and_agree():
    """The transformer's signature, its parameter constraints and the canonicalizers read
    the one declaration of the learning options (skcanon._learning_options)."""
    import inspect

    from skcanon._learning_options import LEARNING_OPTIONS, TRAINER_OPTIONS
    from skcanon.canonicalizers._learned import (AnchoredCanonicalizer, LearnedCanonicalizer,
                                                 RandomCanonicalizer)

    signature = inspect.signature(CanonicalizerTransformer.__init__).parameters
    constraints = CanonicalizerTransformer._parameter_constraints
    assert set(constraints) == set(signature) - {"self"}
    for opt in LEARNING_OPTIONS:
        assert opt.name in signature, opt.name
        assert signature[opt.name].default == opt.default or (
            signature[opt.name].default is None and opt.default is None), opt.name
        assert constraints[opt.name] is opt.constraint, opt.name
        assert opt.doc and "\n" not in opt.doc, opt.name
        assert f"{opt.name} :" in CanonicalizerTransformer.__doc__, opt.name  # documented
    # the transformer hands every option to the canonicalizers; they take them by name
    canon = CanonicalizerTransformer("SO3", "learned", hidden=7, lr=0.5, n_jobs=2)
    options = canon._method_options()
    assert {k: options[k] for k in LEARNING_OPTIONS.names} == LEARNING_OPTIONS.values(canon)
    learned = LearnedCanonicalizer(get_group("SO3"), **{k: options[k] for k in LEARNING_OPTIONS.names})
    assert LEARNING_OPTIONS.values(learned) == LEARNING_OPTIONS.values(canon)
    assert LEARNING_OPTIONS.values(LearnedCanonicalizer(get_group("SO3"))) == LEARNING_OPTIONS.defaults()
    for cls in (LearnedCanonicalizer, RandomCanonicalizer):
        assert set(cls.options) <= set(LEARNING_OPTIONS.names)
    # anchored also takes the key order of the sort heuristic it anchors (B301)
    assert set(AnchoredCanonicalizer.options) == set(LEARNING_OPTIONS.names) | {"key_order"}
    with pytest.raises(TypeError, match="unexpected options"):
        LearnedCanonicalizer(get_group("SO3"), hiden=8)
    # the trainer reads a subset, with the same defaults
    assert set(TRAINER_OPTIONS) <= set(LEARNING_OPTIONS.names)
    assert "objective" in TRAINER_OPTIONS and "random_state" not in TRAINER_OPTIONS


@pytest.mark.parametrize("shape, params", [((6, 4, 3), dict(group="SE3")),
                                           ((6, 8, 8), dict(group="C4", method="moments"))])
def test_container_output_of_3d_input_says_to_pass_flat_rows(shape, params):
    pytest.importorskip("pandas")
    X = np.random.default_rng(0).random(shape)
    est = CanonicalizerTransformer(**params).set_output(transform="pandas")
    with pytest.raises(ValueError, match=r"set_output\(transform='pandas'\) needs 2-D output.*Pass X flat"):
        est.fit_transform(X)
    flat = X.reshape(len(X), -1)
    assert est.fit_transform(flat).shape == flat.shape


@pytest.mark.parametrize("bad", [lambda F: F + 0.5, lambda F: F + 99, lambda F: F - 99, lambda F: F[:, None]])
def test_inverse_transform_checks_finite_group_elements(bad):
    """Frames of C_n/D_n are element indices: a float index was applied as an interpolated
    45° turn, 99 or -1 as some other element, and a column of indices gave a numpy error."""
    from skcanon.layouts import ImageLayout

    X = np.random.default_rng(0).random((4, 36))
    canon = CanonicalizerTransformer("D4", "moments", layout=ImageLayout((6, 6))).fit(X)
    out, frames = canon.canonicalize(X)
    np.testing.assert_allclose(canon.inverse_transform(out, frames), X, atol=1e-12)
    with pytest.raises(ValueError, match=r"frames of group 'D4' must be integer element indices in \[0, 8\)"):
        canon.inverse_transform(out, bad(frames))


@pytest.mark.parametrize("group, bad, match", [
    ("S_n", lambda F: np.zeros_like(F), r"frames\[0\] = \[0, 0, 0, 0, 0\] is not a permutation"),
    ("S_n", lambda F: F[:, :3], "one permutation of the 5 points"),
    ("SO3", lambda F: 2 * F, "rotation matrices of SO3"),
    ("SO3", lambda F: np.full_like(F, np.nan), "finite matrices"),
    ("SE3xS_n", lambda F: F[0], "tuple of 2 element batches"),
])
def test_inverse_transform_checks_every_kind_of_frame(group, bad, match):
    """Only C_n/D_n indices were checked: a permutation with repeats or 3 of 5 indices, SO3
    frames times 2 (output scaled, error 2.33) and NaN frames were applied silently, a
    product's frames given as one array failed inside numpy."""
    X = np.random.default_rng(0).normal(size=(4, 15))
    canon = CanonicalizerTransformer(group, n_dims=3).fit(X)
    out, frames = canon.canonicalize(X)
    np.testing.assert_allclose(canon.inverse_transform(out, frames), X, atol=1e-9)
    with pytest.raises(ValueError, match=match):
        canon.inverse_transform(out, bad(frames))


@pytest.mark.parametrize("group", ["SE3xS_n", "OxS_n"])
def test_inverse_transform_reads_a_list_of_factor_frames_and_names_ragged_ones(group):
    """A product's frames as a list (``list(frames)``) or with a ragged batch failed inside
    numpy ("setting an array element with a sequence ... inhomogeneous"). A list of one batch
    per factor is read as the tuple; other shapes are a ValueError naming frames."""
    X = np.random.default_rng(0).normal(size=(5, 12))
    canon = CanonicalizerTransformer(group, n_dims=3).fit(X)
    out, frames = canon.canonicalize(X)
    np.testing.assert_array_equal(canon.inverse_transform(out, list(frames)),
                                  canon.inverse_transform(out, frames))
    with pytest.raises(ValueError, match=r"frames must be a tuple of 2 element batches, one per factor of "
                                         r".*got list of length 5"):
        canon.inverse_transform(out, list(zip(*frames)))          # one (R, perm) per sample
    ragged = (frames[0], [list(p) for p in frames[1][:3]] + [[0, 1]] * 2)
    with pytest.raises(ValueError, match=r"frames\[1\] is a ragged sequence.*one element of S_n per sample"):
        canon.inverse_transform(out, ragged)


@pytest.mark.parametrize("method", ["learned", "anchored", "random", "pca+learned"])
def test_network_training_record_is_read_on_the_transformer(method):
    """``n_epochs_trained_``, ``best_epoch_`` and ``history_`` of a network method are read on
    the transformer (they were only on ``canonicalizer_``): the values of its network step;
    unfitted, the transformer has none (NotFittedError, so hasattr is False)."""
    X = np.random.default_rng(0).normal(size=(40, 18))
    est = CanonicalizerTransformer("E3xS_n", method, max_epochs=3, random_state=0)
    assert not hasattr(est, "n_epochs_trained_")
    est.fit(X, np.arange(40.0))
    chain = getattr(est.canonicalizer_, "steps", None)
    network = chain[1] if chain else est.canonicalizer_
    for name in ("n_epochs_trained_", "best_epoch_", "history_"):
        assert getattr(est, name) == getattr(network, name)
    assert est.n_epochs_trained_ == (0 if method == "random" else 3)


def test_heuristics_have_no_training_record():
    est = CanonicalizerTransformer("E3xS_n", "pca+sort").fit(np.random.default_rng(0).normal(size=(10, 18)))
    with pytest.raises(AttributeError, match="'pca\\+sort' has no 'best_epoch_': no step trains a network"):
        est.best_epoch_
    assert not hasattr(est, "history_")


def test_an_unavailable_method_lists_the_methods_for_the_layout():
    """``method="orbit"`` under SO2 on images listed ``pca`` among the methods to use
    instead, which refuses images: the list now holds the methods that take the layout."""
    from skcanon.layouts import ImageLayout

    X = np.random.default_rng(0).random((4, 64))
    with pytest.raises(ValueError, match=r"SO2: \['anchored', 'identity', 'learned', 'moments', 'random'\]"):
        CanonicalizerTransformer("SO2", "orbit", layout=ImageLayout((8, 8))).fit(X)
    with pytest.raises(ValueError, match=r"SE2: \[.*'pca'.*\]"):
        CanonicalizerTransformer("SE2", "orbit").fit(X[:, :12])


SUPPORT_GROUPS = ["SO2", "O2", "SO3", "O3", "SE3", "E2", "T3", "scaling", "S_n", "C4", "C6", "D4", "Sim3",
                  "C4xS_n", "D8xS_n", "D4xS_n", "C2xC4xS_n", "OxS_n", "IxS_n", "tetrahedralxS_n", "C2xC4",
                  "D4xscaling", "SE3xS_n", "E2xS_n", "SO2xS_n", "T3xS_n", "O2xS_n"]


@pytest.mark.parametrize("name", SUPPORT_GROUPS)
def test_whole_group_methods_support_what_fit_accepts(name):
    """``supports`` of the network methods said True for finite products with S_n (C4xS_n,
    D8xS_n, D4xS_n, C2xC4xS_n, C2xC4) without a layout, though no layout of theirs has a
    network, and True for O2 on images, whose fit then failed ("No learned image network")."""
    pytest.importorskip("torch")
    import warnings

    from skcanon.canonicalizers import METHODS

    group = get_group(name)
    d = ({getattr(f, "d", None) for f in group.factors} - {None} or {3}).pop()
    rng = np.random.default_rng(0)
    data = {"points": (PointLayout(n_dims=d), rng.normal(size=(12, 5 * d))),
            "image": (ImageLayout((8, 8)), rng.normal(size=(12, 8, 8)))}
    for method in ("learned", "random", "anchored"):
        supports = [s for cls, s, whole in METHODS[method] if whole]
        works = []
        for kind in sorted(group.layout_kinds & set(data)):
            layout, X = data[kind]
            said = any(s(group, layout) for s in supports)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est = CanonicalizerTransformer(group, method, layout=layout, max_epochs=1, random_state=0)
                    est.fit(X)
                fitted = True
            except (ValueError, TypeError):
                fitted = False
            assert said == fitted, (name, method, kind, said)
            works.append(fitted)
        # without a layout: True exactly where some layout of the group has a network
        assert any(s(group, None) for s in supports) == any(works), (name, method)


@pytest.mark.parametrize("name", ["C4xS_n", "D8xS_n", "C2xC4xS_n", "OxS_n", "SE3xS_n", "E2xS_n", "T3xS_n"])
def test_method_error_suggests_only_what_the_layout_can_use(name):
    """The hint for a product group listed every whole-product method (``['anchored',
    'identity', 'learned', 'random']``) whatever the group and layout: for C4xS_n on points
    'learned' and 'random' were then refused in their turn."""
    import re
    import warnings

    group = get_group(name)
    d = ({getattr(f, "d", None) for f in group.factors} - {None} or {3}).pop()
    X = np.random.default_rng(0).normal(size=(12, 5 * d))
    with pytest.raises(ValueError, match="not available for group") as info:
        CanonicalizerTransformer(name, "bogus", n_dims=d).fit(X)
    message = str(info.value)
    whole = re.search(r"or one of (\[[^\]]*\])", message)
    example = re.search(r"\(e\.g\. '([^']+)'\)", message)
    suggested = (eval(whole.group(1)) if whole else []) + ([example.group(1)] if example else [])
    assert suggested, message
    if name in ("C4xS_n", "D8xS_n", "C2xC4xS_n", "OxS_n"):
        assert not {"learned", "random", "anchored"} & set(suggested), message
    for method in suggested:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            CanonicalizerTransformer(name, method, n_dims=d, max_epochs=1, random_state=0).fit(X)
