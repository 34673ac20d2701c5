"""Samples whose points all sit at one place (a one-point sample included) take their frames
from their other fields' vectors (velocities). Those vectors can leave a symmetry open —
all parallel (the rotations about their line), all in one plane (the mirror through it,
under groups with reflections), along the axis to points off the origin (groups that keep
the origin), or all zero — and a moving target is then averaged over it. Before, the
minimal and sampled frames and ``EquivariantRegressor`` kept one arbitrary frame there
(errors up to 8.2 with a decision tree), ``"pca"`` frames left rounding noise in the forms
a mirror relates (0.82), and ``"weighted"`` frames gave zero vectors an identity frame
(errors up to 3.7)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.tree import DecisionTreeRegressor

from skcanon import CanonicalizerTransformer, EquivariantRegressor, FrameAveragingRegressor
from skcanon.groups import get_group
from skcanon.layouts import PointLayout

FRAMES = ["pca", "minimal", "weighted", "sampled"]


def _layouts(d):
    return (PointLayout(d, fields=[("pos", "position"), ("vel", "vector")]),
            PointLayout(d, fields=[("f", "vector")]))


def _models(group, layout, target_layout, regressor):
    canonicalizer = CanonicalizerTransformer(group, "pca", layout=layout)
    models = {"EquivariantRegressor": EquivariantRegressor(canonicalizer, regressor,
                                                           target_layout=target_layout)}
    for frames in FRAMES:
        models[frames] = FrameAveragingRegressor(regressor, group=group, frames=frames, target="vector",
                                                 layout=layout, random_state=0)
    return models


def _queries(case, d, k, rng, n=12):
    X = rng.normal(size=(n, k, 2 * d))
    X[..., :d] = X[:, :1, :d]                                   # points at one place
    if case == "parallel":
        X[..., d:] = rng.normal(size=(n, k, 1)) * rng.normal(size=(n, 1, d))
    elif case == "coplanar":
        normal = rng.normal(size=(n, 1, d))
        along = (X[..., d:] * normal).sum(-1, keepdims=True) / (normal**2).sum(-1, keepdims=True)
        X[..., d:] -= along * normal
    elif case == "axis":                                        # along the axis to the points
        X[..., d:] = rng.normal(size=(n, k, 1)) * X[:, :1, :d]
    elif case == "zero":
        X[..., d:] = 0.0
    return X


def _equivariance_error(model, group, X, layout, target_layout, dtype, seed):
    g = get_group(group)
    n, k = X.shape[:2]
    r0 = model.predict(X.reshape(n, -1).astype(dtype)).reshape(n, k, -1).astype(np.float64)
    moves = g.sample(n, np.random.RandomState(seed))
    moved = g.act(moves, X, layout).reshape(n, -1).astype(dtype)
    r1 = model.predict(moved).reshape(n, k, -1).astype(np.float64)
    return np.abs(r1 - g.act(moves, r0, target_layout)).max(), np.abs(r0).max()


CASES = [("SE3", "parallel", 1), ("SE3", "parallel", 4), ("E3", "coplanar", 3), ("E2", "parallel", 3),
         ("O3", "axis", 3), ("SE3", "zero", 4), ("SE3", "zero", 1)]


@pytest.mark.parametrize("group, case, k", CASES)
@pytest.mark.parametrize("regressor", ["tree", "ridge"])
def test_moving_targets_are_averaged_over_what_the_vectors_leave_open(group, case, k, regressor):
    d = get_group(group).d
    layout, target_layout = _layouts(d)
    rng = np.random.default_rng(0)
    P = rng.normal(size=(60, k, 2 * d))
    Y = 2 * P[..., d:] + 0.3 * P[..., :d]
    X = _queries(case, d, k, rng)
    est = DecisionTreeRegressor(random_state=0) if regressor == "tree" else Ridge(1e-3)
    for name, model in _models(group, layout, target_layout, est).items():
        if name == "sampled" and regressor == "tree":
            continue        # discontinuous models on exactly symmetric samples: documented
        model.fit(P.reshape(60, -1), Y.reshape(60, -1))
        err, size = _equivariance_error(model, group, X, layout, target_layout, np.float64, 1)
        assert err <= 1e-9 * max(size, 1.0), (name, err, size)
        if case == "zero":      # averaged over every rotation: no direction is left
            pred = model.predict(X.reshape(len(X), -1))
            assert np.abs(pred).max() <= 1e-9, (name, np.abs(pred).max())


@settings(max_examples=10, deadline=None)
@given(case=st.sampled_from(CASES), seed=st.integers(0, 2**31 - 1), frames=st.sampled_from(FRAMES[:3]))
def test_float32_flat_samples_with_vectors_are_equivariant(case, seed, frames):
    group, kind, k = case
    d = get_group(group).d
    layout, target_layout = _layouts(d)
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(40, k, 2 * d))
    Y = 2 * P[..., d:] + 0.3 * P[..., :d]
    X = _queries(kind, d, k, rng, n=8)
    model = FrameAveragingRegressor(Ridge(1e-3), group=group, frames=frames, target="vector", layout=layout)
    model.fit(P.reshape(40, -1).astype(np.float32), Y.reshape(40, -1))
    err, size = _equivariance_error(model, group, X, layout, target_layout, np.float32, seed % 1000)
    assert err <= 1e-3 * max(size, 1.0), (err, size)


def test_k_nearest_neighbours_on_one_point_samples_with_a_velocity():
    """The audit's case: one-point samples with a velocity under SE(3) (the rotations about
    the velocity are open) with a k-NN regressor."""
    layout, target_layout = _layouts(3)
    rng = np.random.default_rng(0)
    P = rng.normal(size=(60, 1, 6))
    Y = 2 * P[..., 3:] + 0.5 * np.cross(P[..., 3:], [0.3, 0.5, 0.7])
    X = _queries("parallel", 3, 1, rng)
    for name, model in _models("SE3", layout, target_layout, KNeighborsRegressor(3)).items():
        model.fit(P.reshape(60, -1), Y.reshape(60, -1))
        err, size = _equivariance_error(model, "SE3", X, layout, target_layout, np.float64, 0)
        bound = 0.05 if name == "sampled" else 1e-9    # sampled: k-NN ties, documented
        assert err <= bound * size, (name, err, size)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group", ["SE3", "E3", "SE2"])
@pytest.mark.parametrize("kind", ["position", "vector"])
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 5), spread=st.sampled_from([0.0, 1.0]))
def test_a_second_position_field_at_the_points_place_is_no_direction(group, kind, dtype, seed, k, spread):
    """Positions and a second position field all at one place: the centroid's rounding made
    the second field a vector of noise, from which "minimal" and "sampled" frames took a
    direction (errors of 3.8 with Ridge and trees). With the second field spread out, its
    vectors are real and still give the frame. And position targets of points at one place
    whose vectors lie on one line were averaged over rotations about a line through the
    origin instead of through the points (errors of 5.9 with one point, "minimal" frames and
    EquivariantRegressor)."""
    d = get_group(group).d
    layout = PointLayout(d, fields=[("pos", "position"), ("q", kind)])
    target_layout = PointLayout(d)
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(40, k, 2 * d))
    Y = P[..., d:] - 0.5 * P[..., :d]
    X = rng.normal(size=(6, k, 2 * d)) * 3
    X[..., :d] = X[:, :1, :d]
    X[..., d:] = X[..., :d] + spread * rng.normal(size=(6, k, d))
    for frames in FRAMES:
        for est in (Ridge(1e-3), DecisionTreeRegressor(random_state=0)):
            if frames == "sampled" and isinstance(est, DecisionTreeRegressor) and spread == 0.0:
                continue   # discontinuous models on exactly symmetric samples: documented
            model = FrameAveragingRegressor(est, group=group, frames=frames, target="position", layout=layout,
                                            random_state=0)
            model.fit(P.reshape(40, -1).astype(dtype), Y.reshape(40, -1))
            err, size = _equivariance_error(model, group, X, layout, target_layout, dtype, seed % 1000)
            tol = 1e-3 if dtype == np.float32 else 1e-9
            assert err <= tol * max(size, 1.0), (frames, type(est).__name__, err, size)
    model = EquivariantRegressor(CanonicalizerTransformer(group, "pca", layout=layout), Ridge(1e-3),
                                 target_layout=target_layout)
    model.fit(P.reshape(40, -1).astype(dtype), Y.reshape(40, -1))
    err, size = _equivariance_error(model, group, X, layout, target_layout, dtype, seed % 1000)
    tol = 1e-3 if dtype == np.float32 else 1e-9
    assert err <= tol * max(size, 1.0), ("EquivariantRegressor", err, size)
