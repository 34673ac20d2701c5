"""EquivariantRegressor: predictions move with the input, f(g·x) = g·f(x)."""

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

import skcanon.canonicalizers._learned  # noqa: F401  (registers "learned" and "random")
from skcanon import CanonicalizerTransformer
from skcanon._regressor import EquivariantRegressor
from skcanon.groups import get_group
from skcanon.layouts import PointLayout

M = 6


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def data(n, seed, d=3):
    """Clouds and an equivariant target: each point pushed away from the centroid, plus a
    shift along the cloud's longest axis direction through its first point."""
    rs = np.random.default_rng(seed)
    X = rs.normal(size=(n, M, d)) * np.arange(d, 0, -1) * 2
    c = X.mean(1, keepdims=True)
    Y = X + 0.5 * (X - c) + 0.3 * (X[:, :1] - c)
    return X.reshape(n, -1), Y.reshape(n, -1)


@pytest.fixture(scope="module")
def model():
    X, Y = data(300, 0)
    return EquivariantRegressor().fit(X, Y)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), group=st.sampled_from(["SE3", "SO3", "E3"]))
def test_predictions_equivariant(model, seed, group):
    X, _ = data(8, seed)
    G, L = get_group(group), PointLayout(3)
    g = G.sample(8, random_state=seed)
    P = model.predict(X)
    Pg = model.predict(G.apply(g, X, L))
    assert np.allclose(Pg, G.apply(g, P, L), atol=1e-6 * np.abs(P).max())


def test_fits_equivariant_target(model):
    X, Y = data(200, 1)
    G, L = get_group("SE3"), PointLayout(3)
    Xg = G.apply(G.sample(200, random_state=2), X, L)
    Yg = G.apply(G.sample(200, random_state=2), Y, L)
    assert model.score(X, Y) > 0.99
    assert model.score(Xg, Yg) > 0.99  # unseen poses: the target moves, the fit holds


def test_vector_targets_and_learned_canonicalizer():
    """Forces (vectors) rotate but do not translate; a learned E(3)×S_n canonicalizer."""
    X, Y = data(120, 3)
    Xw = X.reshape(120, M, 3)
    F = (Xw - Xw.mean(1, keepdims=True)).reshape(120, -1)  # vector target per point
    canon = CanonicalizerTransformer(group="SE3xS_n", method="learned", hidden=16, max_epochs=2,
                                     early_stopping=False, random_state=0)
    model = EquivariantRegressor(canon, target_layout=PointLayout(3, fields=[("f", "vector")])).fit(X, F)
    G, L = get_group("SE3xS_n"), PointLayout(3)
    g = G.sample(10, random_state=4, n_points=M)
    P = model.predict(X[:10])
    Lf = PointLayout(3, fields=[("f", "vector")])
    assert np.allclose(model.predict(G.apply(g, X[:10], L)), G.apply(g, P, Lf), atol=1e-5)
    assert model.score(X, F) > 0.99


def test_global_target_not_permuted():
    """A single vector per sample (e.g. a dipole) with a permutation group in the product."""
    X, _ = data(100, 5)
    Xw = X.reshape(100, M, 3)
    dip = Xw.mean(1) - Xw[:, 0]  # depends on point 0: not permutation invariant, fine for SE3
    model = EquivariantRegressor(CanonicalizerTransformer(group="SE3xS_n", method="pca+sort"),
                                 target_layout=PointLayout(3, fields=[("p", "vector")])).fit(X, dip)
    assert model.predict(X).shape == dip.shape


def test_pickle_clone_grid_search_and_3d():
    X, Y = data(60, 6)
    model = EquivariantRegressor().fit(X, Y)
    again = pickle.loads(pickle.dumps(model))
    assert np.array_equal(again.predict(X), model.predict(X))
    assert clone(model).get_params()["regressor"] is None
    grid = GridSearchCV(EquivariantRegressor(), {"canonicalizer": [
        CanonicalizerTransformer(group="SE3", method="identity"), CanonicalizerTransformer(group="SE3")]},
        cv=2).fit(X, Y)
    assert len(grid.cv_results_["params"]) == 2 and grid.best_score_ > 0.9
    m3 = EquivariantRegressor().fit(X.reshape(60, M, 3), Y.reshape(60, M, 3))
    assert m3.predict(X.reshape(60, M, 3)).shape == (60, M, 3)


def test_bad_targets():
    X, Y = data(20, 7)
    with pytest.raises(ValueError, match="y must be"):
        EquivariantRegressor().fit(X, Y[:, 0])
    with pytest.raises(ValueError, match="not a multiple"):
        EquivariantRegressor().fit(X, Y[:, :4])
    Yn = Y.copy()
    Yn[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        EquivariantRegressor().fit(X, Yn)


@pytest.mark.parametrize("shape", [(6, 0), (6, 0, 3)])
def test_target_without_points_is_refused_naming_y(shape):
    """y with no column (or no point) reached Ridge, whose error ("Found array with 0
    feature(s)") named neither y nor the shape the regressor expects."""
    X, _ = data(6, 7)
    with pytest.raises(ValueError, match=r"y has shape \(6, 0(, 3)?\): no target point\. Expected shape "
                                         r"\(n_samples, n_target_points \* 3\) .* n_target_points >= 1"):
        EquivariantRegressor().fit(X, np.zeros(shape))


def test_numeric_object_target_is_converted_like_x():
    """Issue 14 item 10: object X was converted while a numeric object y was refused."""
    X, Y = data(40, 3)
    reference = EquivariantRegressor().fit(X, Y).predict(X)
    for y in (Y.astype(object), Y.astype(str), Y.tolist()):
        np.testing.assert_allclose(EquivariantRegressor().fit(X.astype(object), y).predict(X), reference)
    with pytest.raises(ValueError, match=r"y must be a numeric array of shape \(n_samples"):
        EquivariantRegressor().fit(X, np.full(Y.shape, "a", dtype=object))


def test_missing_target_says_y_is_required():
    """scikit-learn's wording (check_requires_y_none), before any work is done."""
    X, _ = data(10, 4)
    with pytest.raises(ValueError, match="requires y to be passed, but the target y is None"):
        EquivariantRegressor().fit(X, None)
    with pytest.raises(ValueError, match="requires y to be passed"):
        EquivariantRegressor().fit(X)
    assert EquivariantRegressor().__sklearn_tags__().target_tags.required


def test_end_to_end_regressor_equivariant_and_grid_search():
    from skcanon._regressor import EndToEndEquivariantRegressor

    X, Y = data(96, 8)
    torch.manual_seed(0)
    model = EndToEndEquivariantRegressor(max_epochs=30, lr=3e-3, module__hidden=16).fit(X, Y)
    assert model.score(X, Y) > 0.5
    G, L = get_group("SE3"), PointLayout(3)
    g = G.sample(96, random_state=9)
    P = model.predict(X)
    errs = np.abs(model.predict(G.apply(g, X, L)) - G.apply(g, P, L)).max(1) / np.abs(P).max(1)
    assert np.median(errs) <= 1e-5 and np.mean(errs <= 1e-4) >= 0.9  # float32 network
    again = pickle.loads(pickle.dumps(model))
    assert np.array_equal(again.predict(X), P)
    grid = GridSearchCV(EndToEndEquivariantRegressor(max_epochs=2), {"module__hidden": [8, 16]}, cv=2)
    grid.fit(X, Y)
    assert grid.best_params_["module__hidden"] in (8, 16)
    with pytest.raises(ValueError, match=r"module__group must be O\(d\)"):
        EndToEndEquivariantRegressor(max_epochs=1, module__group="S_n").fit(X, Y)


def test_end_to_end_takes_points_with_velocities_and_charges():
    """module__layout: positions set the frame, velocities rotate with it, charges stay."""
    from skcanon import EndToEndEquivariantRegressor
    from skcanon.datasets import make_nbody, nbody_layout
    from skcanon.groups import get_group
    from skcanon.layouts import PointLayout

    data = make_nbody(n_train=64, n_val=1, n_test=16, n_steps=20, random_state=0)
    layout = nbody_layout()
    model = EndToEndEquivariantRegressor(module__layout=layout, max_epochs=2, verbose=0)
    model.fit(data.train.data, data.train.target)
    G = get_group("SE3")
    g = G.sample(16, 1)
    moved = model.predict(G.apply(g, data.test.data, layout))
    expected = G.apply(g, model.predict(data.test.data), PointLayout(3))
    np.testing.assert_allclose(moved, expected, atol=1e-4)
    with pytest.raises(ValueError, match="module__layout"):
        EndToEndEquivariantRegressor(module__layout=layout, max_epochs=1).fit(np.zeros((4, 34)), np.zeros((4, 15)))


# -- review fixes -----------------------------------------------------------------------------
def test_dataframe_targets_are_read_by_their_names():
    """y's DataFrame columns were taken point-major whatever their names: component-major
    targets (x0..x5, y0..y5, z0..z5) were read as other points (train R² 0.16, equivariance
    error 9.2). They are read by name now, and predictions come back in y's column order."""
    pd = pytest.importorskip("pandas")
    X, Y = data(200, 1)
    P = Y.reshape(200, M, 3)
    names = [f"{c}{i}" for c in "xyz" for i in range(M)]
    frame = pd.DataFrame(P.transpose(0, 2, 1).reshape(200, -1), columns=names)
    by_name = EquivariantRegressor().fit(X, frame)
    plain = EquivariantRegressor().fit(X, Y)
    pred = by_name.predict(X)
    np.testing.assert_allclose(pred, plain.predict(X).reshape(200, M, 3).transpose(0, 2, 1).reshape(200, -1),
                               atol=1e-8)
    # plain target names that do not name whole points stay flat, in their order
    flat = EquivariantRegressor().fit(X, pd.DataFrame(Y, columns=[f"y{i}" for i in range(Y.shape[1])]))
    np.testing.assert_allclose(flat.predict(X), plain.predict(X), atol=1e-8)


def test_sample_weight_and_target_dimensions():
    """fit had no sample_weight (score had one), and a target_layout in other dimensions than
    X failed inside the group action without naming target_layout."""
    from sklearn.linear_model import Ridge

    X, Y = data(60, 2)
    w = np.random.default_rng(0).random(60)
    weighted = EquivariantRegressor(regressor=Ridge(alpha=1e-3)).fit(X, Y, sample_weight=w)
    assert not np.allclose(weighted.predict(X), EquivariantRegressor().fit(X, Y).predict(X))
    np.testing.assert_allclose(EquivariantRegressor().fit(X, Y, sample_weight=np.ones(60)).predict(X),
                               EquivariantRegressor().fit(X, Y).predict(X), atol=1e-10)
    from sklearn.neighbors import KNeighborsRegressor
    with pytest.raises(ValueError, match="does not accept sample_weight"):
        EquivariantRegressor(regressor=KNeighborsRegressor()).fit(X, Y, sample_weight=w)
    with pytest.raises(ValueError, match="target_layout .* n_dims=2"):
        EquivariantRegressor(target_layout=PointLayout(2)).fit(X, Y)


@pytest.mark.parametrize("weights, match", [
    (-np.ones(40), "Negative values in data passed to `sample_weight`"),
    (np.r_[-0.5, np.ones(39)], "Negative values.*sample_weight"),
    (np.array(["a"] * 40), "sample_weight must be a scalar or a 1-D")])
def test_bad_sample_weights_are_refused_by_name(weights, match):
    """Negative weights failed inside Ridge (the default) with "array must not contain infs
    or NaNs", and a random forest fitted on them silently; non-numeric ones failed with
    numpy's "could not convert string to float"."""
    from sklearn.ensemble import RandomForestRegressor

    X, Y = data(40, 3)
    given = weights.copy()
    for regressor in (None, RandomForestRegressor(n_estimators=2, random_state=0)):
        model = EquivariantRegressor(regressor=regressor)
        with pytest.raises(ValueError, match=match):
            model.fit(X, Y, sample_weight=weights)
        assert not hasattr(model, "regressor_")
    np.testing.assert_array_equal(weights, given)
    # zero weights still leave samples out, as scikit-learn's regressors read them
    w = np.r_[np.zeros(5), np.ones(35)]
    np.testing.assert_allclose(EquivariantRegressor().fit(X, Y, sample_weight=w).predict(X),
                               EquivariantRegressor().fit(X[5:], Y[5:]).predict(X), atol=1e-8)
