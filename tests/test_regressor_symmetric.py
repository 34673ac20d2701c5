"""EquivariantRegressor on inputs with a symmetry of their own, and failed refits.

A symmetric sample (a planar cloud under reflections, coincident points under S_n, a square
under C4×S_n) has several equally valid frames; predict averages the mapped-back prediction
over them (its stabilizer), so predict(g·x) = g·predict(x) holds there too, while every
other sample keeps its one-frame prediction bit for bit. ``equivariance_error`` checks the
frames, which are right either way; the direct check on the predictions is the one that
sees the difference.
"""

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcanon import CanonicalizerTransformer, FrameAveragingClassifier, FrameAveragingRegressor
from skcanon._regressor import EquivariantRegressor
from skcanon.groups import get_group
from skcanon.layouts import PointLayout
from skcanon.metrics import equivariance_error


def _polygon(k):
    a = 2 * np.pi * np.arange(k) / k
    return np.stack([np.cos(a), np.sin(a)], axis=1)


CUBE = np.array(list(itertools.product([-1.0, 1.0], repeat=3)))
TETRA = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1.0]])
PLANAR = np.array([[2, 1, 0], [-2, 1, 0], [-2, -1, 0], [2, -1, 0.0], [0.6, 0.3, 0], [-0.5, 0.2, 0]])
COLLINEAR = np.array([[0, 0, 0], [1, 1, 1], [3, 3, 3], [-2, -2, -2.0], [0.5, 0.5, 0.5]])
REPEATED = np.array([[0, 0, 0], [1, 0, 0], [1, 0, 0], [0, 2, 0.3], [3, 1, 1], [-1, -2, 0.5]])
GENERIC = np.random.default_rng(7).normal(size=(6, 3)) * [2.0, 1.0, 0.6]
SQUARE, HEXAGON, PENTAGON = _polygon(4), _polygon(6), _polygon(5)
OCTA = np.vstack([np.eye(3), -np.eye(3)])
RECT = np.array([[2, 1], [-2, 1], [-2, -1], [2, -1.0], [0.5, 0], [-0.5, 0]])
COLLINEAR2 = np.array([[0, 0], [1, 2], [3, 6], [-1, -2.0], [0.5, 1]])
REPEATED2 = np.array([[0, 0], [1, 0], [1, 0], [0, 2], [3, 1], [-1, -2.0]])
GENERIC2 = np.random.default_rng(8).normal(size=(5, 2)) * [2.0, 1.0]

# (group, shape): the reviewer's failing cases (before: relative errors 4e-2 to 2.7e-1) and
# shapes that were fine already (cube and tetrahedron without S_n, generic clouds)
CASES = [
    ("O3", PLANAR), ("E3", PLANAR), ("E3xS_n", PLANAR), ("SE3xS_n", PLANAR),
    ("SE3", COLLINEAR), ("O3", COLLINEAR), ("E3", COLLINEAR), ("E3xS_n", COLLINEAR),
    ("SE3xS_n", REPEATED), ("E3xS_n", REPEATED), ("S_n", REPEATED), ("T3xS_n", REPEATED),
    ("O2", COLLINEAR2), ("E2", COLLINEAR2), ("E2xS_n", RECT), ("SE2xS_n", REPEATED2),
    ("C4xS_n", SQUARE), ("C4xS_n", HEXAGON), ("C4xS_n", REPEATED2), ("D4xS_n", SQUARE),
    ("D4xS_n", HEXAGON),
    ("O3", CUBE), ("SE3", TETRA), ("SE3", GENERIC), ("E3xS_n", GENERIC), ("C4xS_n", GENERIC2),
    # symmetries that mix axes under continuous groups × S_n (before: 3e-2 to 3e-1): the
    # minimal frame sets now hold every frame the PCA tie rule cannot tell apart
    ("SE3xS_n", CUBE), ("E3xS_n", CUBE), ("SE3xS_n", TETRA), ("E3xS_n", TETRA), ("E3xS_n", OCTA),
    ("SE2xS_n", SQUARE), ("E2xS_n", HEXAGON), ("SE2xS_n", PENTAGON),
]
NAMES = {id(a): n for n, a in [("planar", PLANAR), ("collinear", COLLINEAR), ("repeated", REPEATED),
                               ("cube", CUBE), ("tetra", TETRA), ("generic", GENERIC), ("square", SQUARE),
                               ("hexagon", HEXAGON), ("rect", RECT), ("collinear2", COLLINEAR2),
                               ("repeated2", REPEATED2), ("generic2", GENERIC2), ("octa", OCTA),
                               ("pentagon", PENTAGON)]}


def _target(P):
    """An E(d)×S_n-equivariant target: each point pushed away from the centroid by its distance."""
    c = P.mean(axis=1, keepdims=True)
    return P + 0.3 * (P - c) * np.linalg.norm(P - c, axis=2, keepdims=True)


def _fitted(group, S, dtype, regressor=None, seed=0, target=_target, **canon):
    k, d = S.shape
    G = get_group(group)
    rs = np.random.default_rng(seed)
    base = (S[None] + 0.2 * np.abs(S).max() * rs.normal(size=(200, k, d))).reshape(200, -1)
    Xtr = G.apply(G.sample(200, seed + 3, n_points=k), base, PointLayout(d))
    ytr = target(Xtr.reshape(200, k, d)).reshape(200, -1)
    model = EquivariantRegressor(CanonicalizerTransformer(group, n_dims=d, **canon),
                                 regressor if regressor is not None else KNeighborsRegressor(3))
    return model.fit(Xtr.astype(dtype), ytr)


def _poses(group, S, n=20, seed=7):
    k, d = S.shape
    G = get_group(group)
    X0 = G.apply(G.sample(n, seed, n_points=k), np.repeat(S.reshape(1, -1), n, 0), PointLayout(d))
    g = G.sample(n, seed + 1, n_points=k)
    return X0, G.apply(g, X0, PointLayout(d)), lambda Y: G.apply(g, Y, PointLayout(d))


def _relative(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group,S", CASES, ids=[f"{g}-{NAMES[id(S)]}" for g, S in CASES])
def test_predictions_equivariant_on_symmetric_inputs(group, S, dtype):
    model = _fitted(group, S, dtype)
    X0, Xg, act = _poses(group, S)
    # the frames pass the frame metric either way (it compares forms, not predictions) ...
    tol = 1e-9 if dtype == np.float64 else 1e-5
    assert equivariance_error(model.canonicalizer_, X0.astype(dtype), group, random_state=0).max < tol
    # ... the predictions themselves: predict(g·x) = g·predict(x)
    assert _relative(model.predict(Xg.astype(dtype)), act(model.predict(X0.astype(dtype)))) < tol


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predictions_are_fixed_by_the_symmetry(dtype):
    # O(3) fixes a planar cloud by the mirror through its plane: the prediction of its
    # positions lies in that plane (before: out-of-plane part 1.005, error 1.848)
    model = _fitted("O3", PLANAR, dtype)
    pred = model.predict(PLANAR.reshape(1, -1).astype(dtype)).reshape(6, 3)
    assert np.abs(pred[:, 2]).max() < (1e-12 if dtype == np.float64 else 1e-6)
    # coincident points are exchanged by S_n: they get the same prediction
    for group in ("S_n", "SE3xS_n", "E3xS_n"):
        pred = _fitted(group, REPEATED, dtype).predict(REPEATED.reshape(1, -1).astype(dtype)).reshape(6, 3)
        np.testing.assert_allclose(pred[1], pred[2], rtol=0, atol=1e-12 if dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group,d,k", [("SE3", 3, 6), ("O3", 3, 6), ("E3", 3, 6), ("SO3", 3, 5),
                                       ("SE3xS_n", 3, 6), ("E3xS_n", 3, 8), ("O2", 2, 5),
                                       ("E2xS_n", 2, 6), ("C4xS_n", 2, 6), ("D4", 2, 5), ("S_n", 3, 6),
                                       ("T3xS_n", 3, 5)])
def test_generic_predictions_unchanged_bit_for_bit(group, d, k, dtype, monkeypatch):
    rs = np.random.default_rng(1)
    X = rs.normal(size=(2000, k * d)) * np.tile(np.linspace(1.5, 0.7, d), k)
    y = _target(X.reshape(-1, k, d)).reshape(len(X), -1)
    model = EquivariantRegressor(CanonicalizerTransformer(group, n_dims=d), Ridge(1e-3)).fit(
        X[:500].astype(dtype), y[:500])
    pred = model.predict(X.astype(dtype))
    monkeypatch.setattr(model, "_symmetry_plan", lambda: None)      # the one-frame prediction
    assert np.array_equal(pred, model.predict(X.astype(dtype)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_vector_targets_absent_points_fill_value_and_dataframes(dtype):
    # forces (vectors) of a planar cloud under E(3)×S_n, absent points filled with 0 by the
    # canonicalizer, X a DataFrame: still equivariant, and the forces stay in the plane
    k = 7
    S = np.vstack([PLANAR, np.full((1, 3), np.nan)])               # one absent point
    rs = np.random.default_rng(0)
    G = get_group("E3xS_n")
    base = (S[None] + 0.2 * rs.normal(size=(200, k, 3))).reshape(200, -1)
    Xtr = G.apply(G.sample(200, 3, n_points=k), base, PointLayout(3))
    P = Xtr.reshape(200, k, 3)
    ytr = np.where(np.isnan(P), 0.0, P - np.nanmean(P, axis=1, keepdims=True)).reshape(200, -1)
    cols = [f"p{i}_{a}" for i in range(k) for a in "xyz"]
    model = EquivariantRegressor(CanonicalizerTransformer("E3xS_n", fill_value=0.0), KNeighborsRegressor(3),
                                 target_layout=PointLayout(3, fields=[("f", "vector")]))
    model.fit(pd.DataFrame(Xtr.astype(dtype), columns=cols), ytr)
    X0, Xg, _ = _poses("E3xS_n", S)
    g_vec = get_group("E3xS_n").sample(20, 8, n_points=k)      # the same elements as _poses
    p0 = model.predict(pd.DataFrame(X0.astype(dtype), columns=cols))
    pg = model.predict(pd.DataFrame(Xg.astype(dtype), columns=cols))
    expected = get_group("E3xS_n").apply(g_vec, p0, model.target_layout_)
    tol = 1e-9 if dtype == np.float64 else 1e-5
    present = ~np.isnan(Xg.reshape(20, k, 3)).all(axis=2).repeat(3, axis=1)
    assert _relative(pg[present], expected[present]) < tol
    flat = model.predict(pd.DataFrame(S.reshape(1, -1).astype(dtype), columns=cols)).reshape(k, 3)
    assert np.abs(flat[:6, 2]).max() < (1e-12 if dtype == np.float64 else 1e-6)


def test_target_with_other_points_is_rotated_not_permuted():
    # y of one point (a position that moves with X) for a planar cloud under E(3)×S_n
    S = PLANAR
    rs = np.random.default_rng(0)
    G = get_group("E3xS_n")
    Xtr = G.apply(G.sample(200, 3, n_points=6), (S[None] + 0.2 * rs.normal(size=(200, 6, 3))).reshape(200, -1),
                  PointLayout(3))
    P = Xtr.reshape(200, 6, 3)
    c = P.mean(1, keepdims=True)
    ytr = (c + 0.1 * ((P - c) * ((P - c) ** 2).sum(2, keepdims=True)).mean(1, keepdims=True))[:, 0]
    model = EquivariantRegressor(CanonicalizerTransformer("E3xS_n"), KNeighborsRegressor(3)).fit(Xtr, ytr)
    X0, Xg, _ = _poses("E3xS_n", S)
    g = G.sample(20, 8, n_points=6)
    moved = G.factors[0].apply(g[0], model.predict(X0), PointLayout(3))
    assert _relative(model.predict(Xg), moved) < 1e-9


# -- failed refits ---------------------------------------------------------------------------

def _data(n=40, k=4):
    rs = np.random.default_rng(0)
    P = rs.normal(size=(n, k, 3)) * [3, 2, 1]
    return P.reshape(n, -1), (P + 0.5 * (P - P.mean(1, keepdims=True))).reshape(n, -1)


def test_failed_refit_leaves_equivariant_regressor_whole():
    X, y = _data()
    model = EquivariantRegressor().fit(X, y)
    before = model.predict(X)
    # a component-major DataFrame y with one NaN: rejected, and the earlier fit predicts as
    # before (before: its stored column order was replaced, predictions moved by up to 18.8)
    cm = [f"{c}{i}" for c in "xyz" for i in range(4)]
    bad = pd.DataFrame(y.reshape(40, 4, 3).transpose(0, 2, 1).reshape(40, -1), columns=cm)
    bad.iloc[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X, bad)
    np.testing.assert_array_equal(model.predict(X), before)
    # a refit on 9 columns rejected: n_features_in_ stays 12 (before: 9 with the old regressor)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X[:, :9], np.full((40, 9), np.nan))
    assert model.n_features_in_ == 12
    np.testing.assert_array_equal(model.predict(X), before)
    # a first fit that fails leaves the model unfitted (before: AttributeError)
    fresh = EquivariantRegressor()
    with pytest.raises(ValueError, match="NaN"):
        fresh.fit(X, np.full_like(y, np.nan))
    with pytest.raises(NotFittedError):
        fresh.predict(X)
    assert not hasattr(fresh, "canonicalizer_") and not hasattr(fresh, "n_features_in_")


def test_failed_refit_leaves_frame_averaging_whole():
    X, y = _data()
    reg = FrameAveragingRegressor(target="position").fit(X, y)
    before = reg.predict(X)
    # a refit as vectors with a NaN target: rejected, still positions (before: target_layout_
    # became the vectors' and the old estimator's predictions were mapped back as vectors)
    reg.set_params(target="vector")
    with pytest.raises(ValueError, match="NaN"):
        reg.fit(X, np.where(np.arange(12) == 0, np.nan, y))
    reg.set_params(target="position")
    np.testing.assert_array_equal(reg.predict(X), before)
    # a first fit refused after the frames were set up (sample_weight the estimator does not
    # take): unfitted, NotFittedError (before: AttributeError for estimator_)
    labels = (X[:, 0] > 0).astype(int)
    for est, target in [(FrameAveragingRegressor(make_pipeline(StandardScaler(), Ridge()), target="position"), y),
                        (FrameAveragingClassifier(make_pipeline(StandardScaler(), LogisticRegression())), labels)]:
        with pytest.raises(ValueError, match="sample_weight"):
            est.fit(X, target, sample_weight=np.ones(40))
        with pytest.raises(NotFittedError):
            est.predict(X)
        assert not hasattr(est, "group_") and not hasattr(est, "n_features_in_")


@pytest.mark.parametrize("factor", [1e200, 1e-150])
@pytest.mark.parametrize("group,S", [("O3", PLANAR), ("E3xS_n", REPEATED), ("SE3", COLLINEAR), ("C4xS_n", SQUARE)],
                         ids=["O3-planar", "E3xS_n-repeated", "SE3-collinear", "C4xS_n-square"])
def test_symmetric_inputs_at_extreme_magnitudes(group, S, factor):
    # moments that overflow or underflow send the sample to the frame set, which rescales
    # (DummyRegressor: the mean canonical target, safe at any magnitude)
    k, d = S.shape
    G = get_group(group)
    X0 = G.apply(G.sample(20, 7, n_points=k), np.repeat(S.reshape(1, -1) * factor, 20, 0), PointLayout(d))
    g = G.sample(20, 8, n_points=k)
    # (the PCA kernel's tie rule warns of an overflow on symmetric clouds of 1e200: not this test's)
    with np.errstate(over="ignore"):
        model = _fitted(group, S * factor, np.float64, regressor=DummyRegressor(),
                        target=lambda P: 1.5 * P - 0.5 * P.mean(axis=1, keepdims=True))
        p0, pg = model.predict(X0), model.predict(G.apply(g, X0, PointLayout(d)))
    assert np.isfinite(p0).all()
    assert _relative(pg, G.apply(g, p0, PointLayout(d))) < 1e-9


# -- network canonicalizers (learned, random, anchored): the stabilizer read by a heuristic --
NETWORK_CASES = [
    ("random", "O3", PLANAR), ("random", "SE3", COLLINEAR), ("random", "SE3xS_n", CUBE),
    ("random", "E3xS_n", REPEATED), ("random", "E2xS_n", RECT), ("random", "SE2xS_n", SQUARE),
    ("learned", "O3", PLANAR), ("learned", "E3xS_n", TETRA), ("learned", "SE3xS_n", PLANAR),
    ("anchored", "E3", PLANAR), ("anchored", "SO3", COLLINEAR), ("anchored", "E3xS_n", OCTA),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method,group,S", NETWORK_CASES,
                         ids=[f"{m}-{g}-{NAMES[id(S)]}" for m, g, S in NETWORK_CASES])
def test_network_canonicalizers_are_equivariant_on_symmetric_inputs(method, group, S, dtype):
    """A network's frame is also defined only up to a symmetric sample's stabilizer, and its
    one-frame prediction was not equivariant there (relative errors 0.2–1.8: a planar cloud
    under O3 with learned frames 1.45, a cube under SE3xS_n with random frames 0.93). The
    stabilizer is a property of the sample: a ``pca`` (``pca+sort``) canonicalizer of the same
    group reads it, and the network's prediction is averaged over it."""
    options = {} if method == "random" else {"max_epochs": 1}
    model = _fitted(group, S, dtype, Ridge(1e-3), method=method, random_state=0, **options)
    assert model.stabilizer_canonicalizer_.method == ("pca+sort" if "S_n" in group else "pca")
    X0, Xg, act = _poses(group, S, n=8)
    tol = 1e-9 if dtype == np.float64 else 1e-5
    assert _relative(model.predict(Xg.astype(dtype)), act(model.predict(X0.astype(dtype)))) < tol


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_network_canonicalizers_keep_generic_predictions_and_old_pickles(dtype):
    """Generic samples keep the network's one-frame prediction bit for bit; a model fitted
    before the stand-in existed (no ``stabilizer_canonicalizer_``) predicts as it did."""
    rs = np.random.default_rng(1)
    X = rs.normal(size=(600, 18)) * np.tile([1.5, 1.0, 0.7], 6)
    y = _target(X.reshape(-1, 6, 3)).reshape(len(X), -1)
    model = EquivariantRegressor(CanonicalizerTransformer("E3xS_n", "random", random_state=0), Ridge(1e-3))
    model.fit(X[:200].astype(dtype), y[:200])
    pred = model.predict(X.astype(dtype))
    del model.stabilizer_canonicalizer_
    assert np.array_equal(pred, model.predict(X.astype(dtype)))
