"""skcanon inside scikit-learn workflows as data scientists build them.

* a ColumnTransformer in front (its default output names carry the step's prefix,
  ``prep__atom0_x``) and other common spellings of point columns are read by name; names
  that look like coordinates but follow no readable pattern get a warning instead of a
  silent reading in column order;
* ``InvariantProjector(method="canonical")`` under scikit-learn's pandas output (global or
  on its canonicalizer);
* ``Pipeline.inverse_transform`` through a canonicalizer says what it needs;
* a fitted network loaded with ``joblib.load(..., mmap_mode="r")`` raises no warning.
"""

import warnings

import numpy as np
import pytest

from skcanon import CanonicalizerTransformer, InvariantProjector
from skcanon.groups import get_group
from skcanon.layouts import PointLayout

pd = pytest.importorskip("pandas")


def _molecules(seed=0, n=6, m=4):
    rng = np.random.RandomState(seed)
    P = rng.normal(size=(n, m, 3)) * [3.0, 2.0, 1.0]
    group = get_group("SE3")
    return P, group.apply(group.sample(n, rng), P, PointLayout(3))


def _coordinate_major(P, form):
    """A table with one column per coordinate, all x first (``atom0_x, atom1_x, ...``)."""
    n, m, _ = P.shape
    columns = [form.format(i=i, c=c) for c in "xyz" for i in range(m)]
    return pd.DataFrame(P.transpose(0, 2, 1).reshape(n, -1), columns=columns)


@pytest.mark.parametrize("estimator", [CanonicalizerTransformer("SE3xS_n"), InvariantProjector("E3xS_n")],
                         ids=["canonicalizer", "projector"])
def test_column_transformer_prefixes_are_read_by_name(estimator):
    """``ColumnTransformer`` names its outputs ``prep__atom0_x``, which named no point: the
    columns were read in their (coordinate-major) order, silently: rotated copies of the same
    molecules differed by 5.35 (canonicalizer) and 3.2 (projector)."""
    from sklearn.base import clone
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    P, moved = _molecules()
    columns = list(_coordinate_major(P, "atom{i}_{c}").columns)
    model = make_pipeline(ColumnTransformer([("prep", SimpleImputer(), columns)]), clone(estimator))
    model.set_output(transform="pandas").fit(_coordinate_major(P, "atom{i}_{c}"))
    assert list(model[0].get_feature_names_out()[:2]) == ["prep__atom0_x", "prep__atom1_x"]
    a = np.asarray(model.transform(_coordinate_major(P, "atom{i}_{c}")))
    b = np.asarray(model.transform(_coordinate_major(moved, "atom{i}_{c}")))
    np.testing.assert_allclose(a, b, atol=1e-9)


@pytest.mark.parametrize("form", ["lig_atom{i}_{c}", "ligand.atom{i}.{c}", "Atom {i} {c}", "outer__inner__atom{i}_{c}"])
def test_more_spellings_of_point_columns_are_read_by_name(form):
    P, moved = _molecules(1)
    canon = CanonicalizerTransformer("SE3xS_n").fit(_coordinate_major(P, form))
    assert canon.layout_.columns is not None
    np.testing.assert_allclose(canon.transform(_coordinate_major(P, form)),
                               canon.transform(_coordinate_major(moved, form)), atol=1e-9)


@pytest.mark.parametrize("form", ["atom{i}_{c}_angstrom", "{c}_atom{i}", "atom{i}_{c}_coord"])
def test_names_that_look_like_coordinates_out_of_order_warn(form):
    P, _ = _molecules(2)
    with pytest.warns(UserWarning, match="look like point coordinates"):
        CanonicalizerTransformer("SE3xS_n").fit(_coordinate_major(P, form))
    with pytest.warns(UserWarning, match="look like point coordinates"):
        InvariantProjector("E3xS_n").fit(_coordinate_major(P, form))
    # the same names in the order they are read in (point-major): nothing to warn about
    point_major = [form.format(i=i, c=c) for i in range(P.shape[1]) for c in "xyz"]
    frame = pd.DataFrame(P.reshape(len(P), -1), columns=point_major)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CanonicalizerTransformer("SE3xS_n").fit(frame)
        CanonicalizerTransformer("SE3xS_n").fit(pd.DataFrame(P.reshape(len(P), -1)))   # integer names
        CanonicalizerTransformer("SE3xS_n").fit(
            pd.DataFrame(P.reshape(len(P), -1), columns=[f"f{j}" for j in range(P.shape[1] * 3)]))


@pytest.mark.parametrize("columns", [[f"{m}_atom{i}_{c}" for m in ("lig", "rec") for i in range(2) for c in "xyz"],
                                     [f"{s}__atom{i}_{c}" for s in "ab" for i in range(2) for c in "xyz"]])
def test_prefixes_that_would_merge_points_keep_the_strict_reading(columns):
    """Dropping step prefixes and reading prefixes with underscores would make
    ``lig_atom0_x`` and ``rec_atom0_x`` (or two steps' ``a__atom0_x``, ``b__atom0_x``) name one
    point; such tables keep the strict rules, under which those names name no point and the
    columns are read in their order, as before."""
    X = np.random.default_rng(0).normal(size=(5, 12))
    canon = CanonicalizerTransformer("SE3").fit(pd.DataFrame(X, columns=columns))
    assert canon.layout_.columns is None
    np.testing.assert_array_equal(canon.transform(pd.DataFrame(X, columns=columns)),
                                  CanonicalizerTransformer("SE3").fit(X).transform(X))


def test_plain_names_behind_a_step_prefix_are_read_like_an_array():
    """A ColumnTransformer on an array names its outputs ``prep__x0, prep__x1, ...``: plain
    column numbers, not the x axes of 1-D points."""
    X = np.random.default_rng(0).normal(size=(5, 12))
    frame = pd.DataFrame(X, columns=[f"prep__x{j}" for j in range(12)])
    np.testing.assert_array_equal(CanonicalizerTransformer("SE3").fit(frame).transform(frame),
                                  CanonicalizerTransformer("SE3").fit(X).transform(X))


def test_canonical_projection_under_pandas_output():
    """The canonical projection called its canonicalizer's public ``transform``, which
    scikit-learn's pandas output wraps: with ``set_config(transform_output="pandas")`` (or a
    ``canonicalizer`` with ``set_output``) it raised "needs 2-D output", also for graphs,
    whose default projection it is."""
    import sklearn

    nx = pytest.importorskip("networkx")
    X = np.random.default_rng(0).normal(size=(30, 12))
    graphs = [nx.gnp_random_graph(5, 0.5, seed=i) for i in range(12)]
    expected = InvariantProjector("E3xS_n", "canonical").fit_transform(X)
    expected_graphs = InvariantProjector("S_n", layout="graph").fit_transform(graphs)
    own = CanonicalizerTransformer("E3xS_n").set_output(transform="pandas")
    np.testing.assert_array_equal(
        InvariantProjector("E3xS_n", "canonical", canonicalizer=own).fit_transform(X), expected)
    with sklearn.config_context(transform_output="pandas"):
        out = InvariantProjector("E3xS_n", "canonical").fit_transform(X)
        out_graphs = InvariantProjector("S_n", layout="graph").fit_transform(graphs)
    assert isinstance(out, pd.DataFrame) and isinstance(out_graphs, pd.DataFrame)
    np.testing.assert_array_equal(out.to_numpy(), expected)
    np.testing.assert_array_equal(out_graphs.to_numpy(), expected_graphs)


def test_pipeline_inverse_transform_says_it_needs_the_frames():
    """``Pipeline.inverse_transform`` and ``TransformedTargetRegressor`` pass ``X`` alone:
    they got Python's "missing 1 required positional argument: 'frames'"."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.random.default_rng(0).normal(size=(20, 12))
    model = make_pipeline(CanonicalizerTransformer("SE3xS_n"), StandardScaler()).fit(X)
    with pytest.raises(ValueError, match="inverse_transform needs frames=.*EquivariantRegressor"):
        model.inverse_transform(model.transform(X))
    with pytest.raises(ValueError, match="inverse_transform needs frames="):
        TransformedTargetRegressor(Ridge(), transformer=CanonicalizerTransformer("SE3")).fit(X, X)
    canon = model[0]
    Z, frames = canon.canonicalize(X)
    np.testing.assert_allclose(canon.inverse_transform(Z, frames=frames), X, atol=1e-12)


@pytest.mark.usefixtures("one_torch_thread")
def test_a_network_loaded_with_memory_mapping_warns_nothing(tmp_path, monkeypatch):
    """``joblib.load(path, mmap_mode="r")`` gives read-only statistics, which the scalar
    encoder shared with torch: "The given NumPy array is not writable" at load. torch says
    so once per process, so the read-only weights are also caught where they reach it."""
    torch = pytest.importorskip("torch")
    import joblib

    as_tensor = torch.as_tensor

    def writable_only(data, *args, **kwargs):
        assert not isinstance(data, np.ndarray) or data.flags.writeable, "a read-only array reached torch"
        return as_tensor(data, *args, **kwargs)

    monkeypatch.setattr(torch, "as_tensor", writable_only)

    from skcanon.layouts import Field

    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(size=(60, 4, 3)), rng.choice([1.0, 6.0], size=(60, 4, 1)),
                        rng.normal(size=(60, 4, 1))], axis=2).reshape(60, -1)
    layout = PointLayout(3, fields=[("pos", "position"), Field("el", "scalar", 1, categorical=True), ("q", "scalar")])
    model = CanonicalizerTransformer("SE3xS_n", "learned", layout=layout, max_epochs=1, hidden=8,
                                     random_state=0).fit(X, (X[:, 0] > 0).astype(int))
    joblib.dump(model, tmp_path / "model.joblib")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = joblib.load(tmp_path / "model.joblib", mmap_mode="r")
        np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


def test_canonical_projection_marks_absent_points_in_every_fold_when_asked():
    """Cross-validation on ragged point sets: a fold whose training part held no absent
    point fitted without ``present_i`` columns and refused its test part (a NaN fold score,
    so a grid search ranked ``"canonical"`` last). ``mark_absent="always"`` gives every fold
    the same features; the refusal names it."""
    from sklearn.exceptions import FitFailedWarning
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 5 * 3))
    X[:8, 12:] = np.nan                              # 8 smaller clouds, listed first
    y = np.nansum(X ** 2, axis=1)
    always = InvariantProjector("E3xS_n", "canonical", mark_absent="always")
    scores = cross_val_score(make_pipeline(always, Ridge()), X, y, cv=KFold(5))
    assert np.isfinite(scores).all()
    with pytest.raises(ValueError, match="mark_absent='always'"):
        InvariantProjector("E3xS_n", "canonical").fit(X[8:]).transform(X[:8])
    # widths: present_i columns in every fit with "always", only after absent points with "auto"
    complete = X[8:]
    assert always.fit(complete).transform(complete).shape == (92, 15 + 5)
    assert InvariantProjector("E3xS_n", "canonical").fit(complete).transform(complete).shape == (92, 15)
    assert list(always.get_feature_names_out()[-5:]) == [f"present_{i}" for i in range(5)]
    with pytest.raises(ValueError, match="mark_absent"):
        InvariantProjector("E3xS_n", "canonical", mark_absent="yes").fit(complete)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.simplefilter("ignore", UserWarning)
        auto = cross_val_score(make_pipeline(InvariantProjector("E3xS_n", "canonical"), Ridge()), X, y, cv=KFold(5))
    assert np.isnan(auto[0]) and np.isfinite(auto[1:]).all()     # the documented "auto" behaviour


def test_tags_say_what_the_estimators_take():
    """``InvariantProjector`` said ``allow_nan=False`` while its geometric and canonical maps
    take absent points; moving-target regressors said ``single_output=True`` although they
    need one column per coordinate; the end-to-end estimators did not say they take 3-D X."""
    from sklearn.utils import get_tags

    from skcanon import FrameAveragingRegressor

    assert get_tags(InvariantProjector("E3xS_n")).input_tags.allow_nan
    assert get_tags(InvariantProjector("E3xS_n", "canonical")).input_tags.allow_nan
    assert not get_tags(InvariantProjector("E3xS_n", "power_sums")).input_tags.allow_nan
    assert get_tags(InvariantProjector("S_n", layout="graph")).input_tags.allow_nan
    assert not get_tags(InvariantProjector("SO2", "canonical", layout="image")).input_tags.allow_nan
    assert not get_tags(FrameAveragingRegressor(target="position")).target_tags.single_output
    assert get_tags(FrameAveragingRegressor()).target_tags.single_output
    pytest.importorskip("skorch")
    from skcanon import EndToEndEquivariantClassifier, EndToEndEquivariantRegressor

    regressor, classifier = get_tags(EndToEndEquivariantRegressor()), get_tags(EndToEndEquivariantClassifier())
    assert regressor.input_tags.three_d_array and classifier.input_tags.three_d_array
    assert regressor.target_tags.multi_output and not regressor.target_tags.single_output
    assert classifier.target_tags.single_output
