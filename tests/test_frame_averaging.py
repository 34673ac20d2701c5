"""FrameAveragingClassifier / FrameAveragingRegressor and the frame sets behind them.

Contracts: frame-averaged predictions are invariant (classifier, invariant regressor) or
equivariant (regressor with moving targets) for every supported group and frame source,
in float64 and float32, on generic and symmetric inputs; weights are non-negative, sum to
one and are continuous along paths through degenerate inputs; the estimators are
scikit-learn citizens; bad input gets clear errors naming the parameter.
"""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skcanon._canonicalizer import CanonicalizerTransformer
from skcanon._frame_averaging import FrameAveragingClassifier, FrameAveragingRegressor
from skcanon.frames import (
    CONTINUOUS_KINDS,
    FINITE_KINDS,
    FRAME_KINDS,
    apply_frames,
    canonical_forms,
    frame_forms,
    parse_group,
)
from skcanon.groups import EXAMPLES, get_group
from skcanon.layouts import PointLayout
from skcanon.metrics import continuity_ratio

GROUPS = ["O2", "SO2", "E2", "SE2", "O3", "SO3", "E3", "SE3", "O2xS_n", "SE3xS_n", "E3xS_n"]
N_POINTS = 8


def _supported_cases():
    """Every (group, frame source) frame averaging supports, enumerated from the example
    groups (alone and × S_n) and the kinds each group's capabilities allow."""
    cases = []
    for alias in EXAMPLES:
        g = get_group(alias)
        for name in (alias, f"{alias}xS_n") if g.d is not None else (alias,):
            try:
                spec = parse_group(name)
            except ValueError:
                continue
            for kind in FINITE_KINDS if spec.finite else CONTINUOUS_KINDS:
                if not (kind == "weighted" and spec.d > 3):
                    cases.append((name, kind))
    return cases


CASES = _supported_cases()
FINITE_CASES = [c for c in CASES if parse_group(c[0]).finite]


def _dim(group):
    return parse_group(group).d


# -- inputs: generic and symmetric ------------------------------------------------------------
def _regular_polygon(k, m=N_POINTS):
    """A regular ``k``-gon, then a half-size copy while it fits, then points at the centre."""
    a = 2 * np.pi * np.arange(k) / k
    P = np.stack([np.cos(a), np.sin(a)], axis=1)
    rows = [P] + ([0.5 * P] if m >= 2 * k else [])
    rows.append(np.zeros((m - sum(len(r) for r in rows), 2)))
    return np.vstack(rows)


def _shape(kind, d, rs):
    """One sample of ``N_POINTS`` points in ``d`` dimensions."""
    if kind == "generic":
        return rs.normal(size=(N_POINTS, d)) * np.linspace(2.0, 1.0, d)
    if kind == "polygon":       # regular polygon (+ a smaller copy), in the first plane
        P = _regular_polygon(int(rs.choice([3, 4, 5, 8])))
        return np.hstack([P, np.zeros((N_POINTS, d - 2))])
    if kind == "cube" and d == 3:
        return np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    if kind == "planar":        # generic points in a plane (3-D) / on a line (2-D)
        P = rs.normal(size=(N_POINTS, d))
        P[:, -1] = 0.0
        return P
    if kind == "collinear":
        return np.outer(rs.normal(size=N_POINTS), np.eye(d)[0])
    return rs.normal(size=(N_POINTS, d))


def _batch(kind, d, seed, n=6):
    rs = np.random.RandomState(seed)
    shapes = [_shape(kind if i % 2 else "generic", d, rs) + rs.normal(size=d) for i in range(n)]
    return np.stack(shapes).reshape(n, -1)


_FITTED = {}


def _fitted(kind, group, frames):
    key = (kind, group, frames)
    if key not in _FITTED:
        d = _dim(group)
        rs = np.random.RandomState(0)
        X = rs.normal(size=(40, N_POINTS * d)) * np.tile(np.linspace(2.0, 1.0, d), N_POINTS)
        if kind == "classifier":
            y = (np.abs(X).sum(axis=1) > np.median(np.abs(X).sum(axis=1))).astype(int)
            est = FrameAveragingClassifier(group=group, frames=frames, n_frames=4, random_state=0)
        elif kind == "regressor":
            y = X[:, 0] ** 2
            est = FrameAveragingRegressor(group=group, frames=frames, n_frames=4, random_state=0)
        else:
            P = X.reshape(40, N_POINTS, d)
            y = (P + 0.3 * (P - P.mean(axis=1, keepdims=True)) ** 2).reshape(40, -1)
            est = FrameAveragingRegressor(group=group, frames=frames, n_frames=4, random_state=0,
                                          target="position")
        _FITTED[key] = est.fit(X, y)
    return _FITTED[key]


def _tol(dtype):
    return 1e-7 if dtype == np.float64 else 2e-3


INPUTS = st.sampled_from(["generic", "polygon", "cube", "planar", "collinear"])


def test_cases_cover_every_group_with_frames():
    names = {c[0] for c in CASES}
    assert {"SO2", "E3", "SE3xS_n", "C4", "D4xS_n", "O", "I", "IxS_n"} <= names
    assert not names & {"T2", "scaling", "S_n", "Sim3", "SSim2"}


@pytest.mark.parametrize("group,frames", CASES)
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), kind=INPUTS, dtype=st.sampled_from([np.float64, np.float32]))
def test_classifier_invariant(group, frames, seed, kind, dtype):
    clf = _fitted("classifier", group, frames)
    d = _dim(group)
    X = _batch(kind, d, seed).astype(dtype)
    G = get_group(group)
    g = G.sample(len(X), random_state=seed + 1, n_points=N_POINTS)
    moved = G.apply(g, X, PointLayout(d)).astype(dtype)
    p, q = clf.predict_proba(X), clf.predict_proba(moved)
    np.testing.assert_allclose(q, p, atol=_tol(dtype) * 10 if dtype == np.float32 else _tol(dtype))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)


REGRESSOR_CASES = [c for c in CASES if c[0] in ("SO2", "E2", "SE3", "O3", "O2xS_n", "SE3xS_n")] + FINITE_CASES


@pytest.mark.parametrize("group,frames", REGRESSOR_CASES)
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), kind=INPUTS, dtype=st.sampled_from([np.float64, np.float32]))
def test_regressor_invariant_and_equivariant(group, frames, seed, kind, dtype):
    d = _dim(group)
    X = _batch(kind, d, seed).astype(dtype)
    G = get_group(group)
    g = G.sample(len(X), random_state=seed + 1, n_points=N_POINTS)
    moved = G.apply(g, X, PointLayout(d)).astype(dtype)
    inv = _fitted("regressor", group, frames)
    a, b = inv.predict(X), inv.predict(moved)
    scale = max(np.abs(a).max(), 1.0)
    assert a.shape == (len(X),)
    np.testing.assert_allclose(b, a, atol=_tol(dtype) * scale * (10 if dtype == np.float32 else 1))
    # moving targets too, symmetric inputs included: every PCA-based source takes the frames
    # of a regular shape's symmetries under S_n (B211, B217), weighted frames every
    # symmetric choice, finite groups every element or the whole coset
    eq = _fitted("equivariant", group, frames)
    Ya, Yb = eq.predict(X), eq.predict(moved)
    expected = G.apply(g, Ya, PointLayout(d))
    scale = max(np.abs(Ya).max(), 1.0)
    np.testing.assert_allclose(Yb, expected, atol=_tol(dtype) * scale * (10 if dtype == np.float32 else 1))


@pytest.mark.parametrize("group,frames", [c for c in CASES if c[0] in ("O2", "SE2", "SO3", "E3", "SE3xS_n")]
                         + FINITE_CASES)
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), kind=INPUTS)
def test_weights_nonnegative_and_sum_to_one(group, frames, seed, kind):
    clf = _fitted("classifier", group, frames)
    fs = clf.frame_weights(_batch(kind, _dim(group), seed))
    assert np.all(fs.weights >= 0)
    np.testing.assert_allclose(fs.weights.sum(axis=1), 1.0, atol=1e-12)
    R = fs.R[fs.weights > 0]
    eye = np.broadcast_to(np.eye(R.shape[-1]), R.shape)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), eye, atol=1e-9)
    if parse_group(group).special:
        np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)


def _averaged_form(group, frames, X, sharpness=10.0):
    """Frame average of the canonical forms: an invariant map, continuous when the weighted
    frame set is."""
    est = FrameAveragingRegressor(group=group, frames=frames, sharpness=sharpness).fit(X, np.zeros(len(X)))
    spec = parse_group(group)
    P = X.reshape(len(X), -1, spec.d)
    fs = est.frame_weights(X)
    Q, _, rows, w = canonical_forms(fs, P, est.layout_, spec)
    out = np.zeros((len(X),) + Q.shape[1:])
    np.add.at(out, rows[0], w[:, None, None] * Q)
    return out.reshape(len(X), -1)


@pytest.mark.parametrize("group,base", [("O2", "square"), ("SO2", "pentagon"), ("SE2", "square"),
                                        ("O3", "cube"), ("SE3", "cube"), ("SO3", "square")])
def test_weighted_frames_continuous_through_degenerate_input(group, base):
    """Along a straight path through a symmetric input (all eigenvalues tied, all third
    moments zero), the weighted average moves in proportion to the step; the single
    canonical frame jumps."""
    d = _dim(group)
    if base == "cube":
        S = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    else:
        S = _regular_polygon(4 if base == "square" else 5, 4 if base == "square" else 5)
        S = np.hstack([S, np.zeros((len(S), d - 2))])
    direction = np.random.RandomState(1).normal(size=S.shape)
    ts = np.linspace(-1e-2, 1e-2, 41)
    X = np.stack([(S + t * direction).ravel() for t in ts])
    step = np.linalg.norm(X[1] - X[0])
    F = _averaged_form(group, "weighted", X)
    jumps = np.linalg.norm(np.diff(F, axis=0), axis=1) / step
    assert jumps.max() < 20, jumps.max()
    canon = CanonicalizerTransformer(group=group, method="pca").fit(X).transform(X)
    assert (np.linalg.norm(np.diff(canon, axis=0), axis=1) / step).max() > 50


@pytest.mark.parametrize("group,base", [("D4", "square"), ("C6", "hexagon"), ("O", "cube"), ("I", "cube")])
def test_group_frames_continuous_through_symmetric_input(group, base):
    """frames="group": constant weights 1/|G| and an average over every element, so the
    averaged form moves in proportion to the input along a path through a symmetric input
    (where the single canonical element jumps)."""
    d = _dim(group)
    if base == "cube":
        S = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    else:
        S = _regular_polygon(4 if base == "square" else 6, 4 if base == "square" else 6)
    direction = np.random.RandomState(1).normal(size=S.shape)
    ts = np.linspace(-1e-2, 1e-2, 41)
    X = np.stack([(S + t * direction).ravel() for t in ts])
    step = np.linalg.norm(X[1] - X[0])
    fs = FrameAveragingRegressor(group=group, frames="group").fit(X, np.zeros(len(X))).frame_weights(X)
    np.testing.assert_allclose(fs.weights, 1.0 / fs.weights.shape[1])
    F = _averaged_form(group, "group", X)
    jumps = np.linalg.norm(np.diff(F, axis=0), axis=1) / step
    assert jumps.max() < 2.0, jumps.max()
    if base in ("square", "cube"):
        # as point sets (× S_n) these inputs are symmetric: the minimal set of one element
        # per nearby input jumps there
        M = _averaged_form(f"{group}xS_n", "minimal", X)
        assert (np.linalg.norm(np.diff(M, axis=0), axis=1) / step).max() > 50


def test_minimal_frames_one_for_generic_more_for_symmetric():
    clf = _fitted("classifier", "O2", "minimal")
    X = np.random.RandomState(3).normal(size=(5, 2 * N_POINTS)) * np.tile([2, 1], N_POINTS)
    generic = clf.frame_weights(X)
    assert np.all((generic.weights > 0).sum(axis=1) == 1)
    square = np.hstack([_regular_polygon(4, 4), np.zeros((4, 0))]).ravel()
    square = np.concatenate([square, 0.5 * square])[None]
    assert (clf.frame_weights(square).weights > 0).sum() == 4
    pca = _fitted("classifier", "O2", "pca")
    assert np.all((pca.frame_weights(square).weights > 0).sum(axis=1) == 4)


def test_weighted_classifier_is_continuous_canonicalization_is_not():
    rs = np.random.RandomState(0)
    sq = _regular_polygon(4, 4)
    X = np.stack([(sq + 0.05 * rs.normal(size=sq.shape)).ravel() for _ in range(60)])
    P = X.reshape(60, 4, 2)
    y = (np.linalg.norm(P[:, 0] - P[:, 1], axis=1) > np.linalg.norm(P[:, 2] - P[:, 3], axis=1)).astype(int)
    G = get_group("SE2")
    X = G.apply(G.sample(60, random_state=1), X, PointLayout(2))
    near = np.stack([(sq + 1e-4 * rs.normal(size=sq.shape)).ravel() for _ in range(20)])
    fa = FrameAveragingClassifier(LogisticRegression(C=10.0), group="SE2", frames="weighted").fit(X, y)
    canon = make_pipeline(CanonicalizerTransformer(group="SE2", method="pca"), LogisticRegression(C=10.0))
    canon.fit(X, y)
    r_fa = continuity_ratio(fa, near, eps=1e-4, n_pairs=100, random_state=0)
    r_canon = continuity_ratio(canon, near, eps=1e-4, n_pairs=100, random_state=0)
    assert r_fa.max < 50 < r_canon.max


# -- fitting with frames and weights -----------------------------------------------------------
def test_frame_weights_reach_sample_weight_and_pipelines_fit_unweighted():
    X = np.random.RandomState(0).normal(size=(30, 12))
    y = np.arange(30) % 2
    fa = FrameAveragingClassifier(LogisticRegression(), group="SE3", frames="weighted").fit(X, y)
    assert fa.uses_frame_weights_
    assert fa.n_frames_fit_ >= 30
    fa = FrameAveragingClassifier(make_pipeline(StandardScaler(), LogisticRegression()), group="SE3",
                                  frames="weighted").fit(X, y)
    assert not fa.uses_frame_weights_
    assert FrameAveragingClassifier(group="SE3", frames="pca").fit(X, y).n_frames_fit_ == 30 * 4
    assert not FrameAveragingClassifier(group="SE3", frames="pca").fit(X, y).uses_frame_weights_
    with pytest.raises(ValueError, match="sample_weight"):
        FrameAveragingClassifier(KNeighborsClassifier(3), group="SE3").fit(X, y, sample_weight=np.ones(30))


@pytest.mark.filterwarnings("ignore::skcanon.exceptions.ConstantModelWarning")  # mechanics only
def test_integer_sample_weight_equals_repeating_samples():
    rs = np.random.RandomState(0)
    X = rs.normal(size=(20, 12))
    y = rs.normal(size=20)
    sw = rs.randint(0, 3, size=20)
    for group, frames in [("SE3", kind) for kind in CONTINUOUS_KINDS] + [("O", "group"), ("D4", "minimal")]:
        X_ = X if parse_group(group).d == 3 else X[:, :8]
        model = FrameAveragingRegressor(Ridge(), group=group, frames=frames, random_state=0)
        a = clone(model).fit(X_, y, sample_weight=sw)
        b = clone(model).fit(np.repeat(X_, sw, 0), np.repeat(y, sw))
        np.testing.assert_allclose(a.predict(X_), b.predict(X_), atol=1e-8)


def test_predictions_do_not_depend_on_batch_size_and_input_is_untouched():
    rs = np.random.RandomState(0)
    X = rs.normal(size=(25, 15))
    y = rs.normal(size=(25, 15))
    X0, y0 = X.copy(), y.copy()
    for frames in CONTINUOUS_KINDS:
        model = FrameAveragingRegressor(group="SE3", frames=frames, target="position", random_state=0)
        a = clone(model).set_params(batch_size=None).fit(X, y)
        b = clone(model).set_params(batch_size=4).fit(X, y)
        np.testing.assert_allclose(a.predict(X), b.predict(X), atol=1e-10)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_three_d_input_and_absent_points():
    rs = np.random.RandomState(0)
    X = rs.normal(size=(20, 6, 3))
    X[::3, -1] = np.nan          # ragged sets: absent last point
    y = np.arange(20) % 2
    G = get_group("SE3xS_n")
    for frames in CONTINUOUS_KINDS:
        clf = FrameAveragingClassifier(group="SE3xS_n", frames=frames).fit(X, y)
        moved = G.apply(G.sample(20, random_state=2, n_points=6), X, PointLayout(3))
        np.testing.assert_allclose(clf.predict_proba(moved), clf.predict_proba(X), atol=1e-8)


def test_vector_targets_rotate_but_do_not_translate():
    rs = np.random.RandomState(0)
    X = rs.normal(size=(30, 15))
    P = X.reshape(30, 5, 3)
    y = (P - P.mean(axis=1, keepdims=True)).reshape(30, 15)   # vectors from the centroid
    reg = FrameAveragingRegressor(group="SE3", target="vector").fit(X, y)
    G = get_group("SE3")
    g = G.sample(30, random_state=3)
    moved = G.apply(g, X, PointLayout(3))
    rot = get_group("SO3").apply(g[:, :3, :3], reg.predict(X), PointLayout(3))
    np.testing.assert_allclose(reg.predict(moved), rot, atol=1e-8)
    np.testing.assert_allclose(reg.predict(X), y, atol=1e-3)
    flag = FrameAveragingRegressor(group="SE3", equivariant_target=True).fit(X, X)
    np.testing.assert_allclose(flag.predict(X), X, atol=1e-3)


# -- scikit-learn citizenship ---------------------------------------------------------------
def test_pipeline_gridsearch_clone_pickle():
    rs = np.random.RandomState(0)
    X = rs.normal(size=(60, 12)) * np.tile([3.0, 2.0, 1.0], 4)
    y = (np.abs(X).sum(axis=1) > np.median(np.abs(X).sum(axis=1))).astype(int)
    pipe = make_pipeline(FunctionTransformer(), FrameAveragingClassifier(group="SO3"))
    search = GridSearchCV(pipe, {"frameaveragingclassifier__frames": list(CONTINUOUS_KINDS)}, cv=2).fit(X, y)
    assert search.best_params_["frameaveragingclassifier__frames"] in CONTINUOUS_KINDS
    # finite groups: grid over the group and its frame sources
    search = GridSearchCV(FrameAveragingClassifier(), {"group": ["O", "I"], "frames": list(FINITE_KINDS)},
                          cv=2, error_score="raise").fit(X, y)
    assert search.best_params_["frames"] in FINITE_KINDS
    for est in (FrameAveragingClassifier(group="SE3xS_n", frames="sampled", random_state=0),
                FrameAveragingRegressor(group="E3", frames="weighted"),
                FrameAveragingClassifier(group="IxS_n", frames="minimal")):
        c = clone(est)
        assert c.get_params() == est.get_params()
        c.fit(X, y)
        back = pickle.loads(pickle.dumps(c))
        np.testing.assert_array_equal(back.predict(X), c.predict(X))


def test_sampled_frames_reproducible_with_random_state():
    X = np.random.RandomState(0).normal(size=(20, 12))
    y = np.arange(20) % 2
    a = FrameAveragingClassifier(group="SO3", frames="sampled", random_state=5).fit(X, y)
    b = FrameAveragingClassifier(group="SO3", frames="sampled", random_state=5).fit(X, y)
    np.testing.assert_array_equal(a.frame_elements_, b.frame_elements_)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


class _VoteOnly(ClassifierMixin, BaseEstimator):
    """A classifier with ``predict`` only (nearest class mean)."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.means_ = np.stack([X[y == c].mean(axis=0) for c in self.classes_])
        return self

    def predict(self, X):
        return self.classes_[np.argmin(((X[:, None, :] - self.means_[None]) ** 2).sum(-1), axis=1)]


@pytest.mark.filterwarnings("ignore::skcanon.exceptions.ConstantModelWarning")  # mechanics only
def test_decision_function_and_vote_paths():
    X = np.random.RandomState(0).normal(size=(30, 6))
    y = np.arange(30) % 3
    svc = FrameAveragingClassifier(LinearSVC(), group="O2").fit(X, y)
    assert not hasattr(svc, "predict_proba")
    assert svc.decision_function(X).shape == (30, 3)
    np.testing.assert_array_equal(svc.predict(X), svc.classes_[np.argmax(svc.decision_function(X), axis=1)])
    binary = FrameAveragingClassifier(LinearSVC(), group="O2").fit(X, y % 2)
    np.testing.assert_array_equal(binary.predict(X), (binary.decision_function(X) > 0).astype(int))
    votes = FrameAveragingClassifier(_VoteOnly(), group="O2", frames="pca").fit(X, y)
    assert not hasattr(votes, "decision_function") and not hasattr(votes, "predict_proba")
    assert set(votes.predict(X)) <= {0, 1, 2}


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("params,match", [
    ({"group": "C4", "frames": "pca"}, "frames"),
    ({"group": "SE3", "frames": "group"}, "frames"),
    ({"group": "S_n"}, "group"),
    ({"group": "Sim3"}, "group"),
    ({"group": "nonsense"}, "group"),
    ({"group": "O4", "frames": "weighted"}, "d ≤ 3"),
])
def test_unsupported_groups_raise_clear_errors(params, match):
    X = np.random.RandomState(0).normal(size=(10, 12))
    with pytest.raises(ValueError, match=match):
        FrameAveragingClassifier(**params).fit(X, np.arange(10) % 2)


@pytest.mark.parametrize("alias", EXAMPLES)
def test_supported_groups_follow_capabilities(alias):
    """Every example group: frame averaging takes the groups that rotate points without
    rescaling them, continuous or finite (alone or × S_n), and refuses every other with a
    clear error."""
    g = get_group(alias)
    supported = g.rotates and not g.rescales and g.acts_on(PointLayout(g.d))
    for name in (alias, f"{alias}xS_n") if g.d is not None else (alias,):
        if supported:
            spec = parse_group(name)
            assert (spec.d, spec.special, spec.translating) == (g.d, g.special, g.translates)
            assert spec.permuting == name.endswith("xS_n")
            assert spec.finite == g.is_finite
        else:
            with pytest.raises(ValueError, match="not supported by frame averaging"):
                parse_group(name)


@pytest.mark.parametrize("params,name", [
    ({"frames": "all"}, "frames"), ({"n_frames": 0}, "n_frames"), ({"sharpness": -1.0}, "sharpness"),
    ({"batch_size": 0}, "batch_size"), ({"estimator": "ridge"}, "estimator")])
def test_bad_parameters_name_the_parameter(params, name):
    with pytest.raises(InvalidParameterError, match=name):
        FrameAveragingClassifier(**params).fit(np.zeros((4, 6)), [0, 1, 0, 1])


def test_bad_data_gets_clear_errors():
    X = np.random.RandomState(0).normal(size=(10, 12))
    with pytest.raises(ValueError, match=r"multiple of the 3 columns"):
        FrameAveragingClassifier(group="SE3").fit(X[:, :10], np.arange(10) % 2)
    clf = FrameAveragingClassifier(group="SE3").fit(X, np.arange(10) % 2)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :9])
    with pytest.raises(ValueError, match="y"):
        FrameAveragingClassifier(group="SE3").fit(X, np.arange(9) % 2)
    with pytest.raises(ValueError, match="target"):
        FrameAveragingRegressor(group="SE3", target="position").fit(X, np.zeros(10))
    with pytest.raises(ValueError, match="n_dims"):
        FrameAveragingRegressor(group="SE3", target=PointLayout(2)).fit(X, np.zeros((10, 4)))


# -- scikit-learn's estimator checks -----------------------------------------------------------
WIDTH = ("check data has a column count that is not a multiple of the point width; rejected with a "
         "ValueError naming the expected shape")
PARTIAL_NAN = ("check puts NaN in single cells; NaN is only valid as a whole absent-point row, so it is "
               "rejected")
_SE3_COMMON = ["check_all_zero_sample_weights_error", "check_dtype_object", "check_estimators_dtypes",
               "check_estimators_fit_returns_self", "check_estimators_overwrite_params",
               "check_fit2d_1sample",
               "check_fit_check_is_fitted", "check_fit_idempotent", "check_n_features_in",
               "check_n_features_in_after_fitting", "check_positive_only_tag_during_fit",
               "check_readonly_memmap_input", "check_sample_weights_not_an_array",
               "check_sample_weights_not_overwritten", "check_sample_weights_pandas_series",
               "check_sample_weights_shape"]
FOREST = ("the default estimator is a random forest, whose bootstrap does not treat an integer "
          "sample weight as repeated rows (scikit-learn's own forests fail this check too)")
# estimator (by repr) → {check name: reason}; the SO(1) configurations are absent: they pass all
EXPECTED_FAILURES = {
    "FrameAveragingClassifier(frames='weighted')": {
        **{name: WIDTH for name in _SE3_COMMON + [
            "check_classifier_data_not_an_array", "check_classifiers_classes", "check_classifiers_train",
            "check_classifiers_one_label_sample_weights"]},
        "check_estimators_pickle": PARTIAL_NAN,
        "check_sample_weight_equivalence_on_dense_data": FOREST,
    },
    "FrameAveragingRegressor()": {
        **{name: WIDTH for name in _SE3_COMMON + [
            "check_regressor_data_not_an_array", "check_regressor_multioutput", "check_regressors_int",
            "check_regressors_no_decision_function", "check_regressors_train"]},
        "check_estimators_pickle": PARTIAL_NAN,
        "check_sample_weight_equivalence_on_dense_data": FOREST,
    },
}

# SO(1) is the trivial rotation group on 1-D points: any column count is a valid layout, so
# these configurations must pass every check (the frame machinery still runs); linear models,
# which weigh samples exactly as repeated rows (the SE(3) configurations keep the defaults)
CHECKED = [
    FrameAveragingClassifier(LogisticRegression(max_iter=1000), group="SO1"),
    FrameAveragingClassifier(LogisticRegression(max_iter=1000), group="SO1", frames="weighted"),
    FrameAveragingRegressor(Ridge(alpha=1e-3), group="SO1", frames="minimal"),
    FrameAveragingRegressor(Ridge(alpha=1e-3), group="SO1", frames="sampled", n_frames=2, random_state=0),
    FrameAveragingClassifier(frames="weighted"),
    FrameAveragingRegressor(),
]


def _expected(estimator):
    return EXPECTED_FAILURES.get(repr(estimator), {})


@parametrize_with_checks(CHECKED, expected_failed_checks=_expected)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_benchmark_script_runs_quick_and_prints_one_json_line():
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_frame_averaging.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 1 and rows[0]["name"] == "frame_averaging" and rows[0]["quick"]
    cont = rows[0]["continuity"]
    # weighted frames are continuous near the polyhedra, canonicalization is not
    assert cont["3-D polyhedra, SE3xS_n/weighted"] < 10 < cont["3-D polyhedra, SE3xS_n/canonicalization"]


FORM_CASES = [c for c in CASES if c[0] in ("O2", "SE2", "SO3", "E3xS_n", "SE3xS_n")] + FINITE_CASES


@pytest.mark.parametrize("group,frames", FORM_CASES)
@pytest.mark.parametrize("kind", ["generic", "polygon", "cube", "planar"])
def test_batched_forms_equal_the_forms_of_the_frames(group, frames, kind):
    """frame_forms derives every form from one canonicalization (or one product per element);
    the result equals acting with each returned frame on the input."""
    est = _fitted("classifier", group, frames)
    d = _dim(group)
    X = _batch(kind, d, 7, n=8)
    P = X.reshape(len(X), -1, d)
    canon = getattr(est, "canonicalizer_", None)
    ff = frame_forms(P, est.layout_, est._spec, frames, elements=est.frame_elements_,
                     canonicalizer=None if canon is None else canon.canonicalizer_)
    Q, _ = apply_frames(ff.frames, P, est.layout_, est._spec, ff.rows)
    np.testing.assert_allclose(ff.Q, Q, atol=1e-9)
    np.testing.assert_allclose(np.bincount(ff.rows[0], ff.weights, minlength=len(X)), 1.0, atol=1e-12)


@pytest.mark.parametrize("group", ["C4", "D3", "O", "I", "D4xS_n"])
@pytest.mark.filterwarnings("ignore::skcanon.exceptions.ConstantModelWarning")  # mechanics only
def test_group_frames_are_the_exact_group_average(group):
    """frames="group": the prediction is the mean of the model over every element's form."""
    spec = parse_group(group)
    d = spec.d
    rs = np.random.RandomState(0)
    X = rs.normal(size=(30, N_POINTS * d))
    y = X[:, 0] + X[:, 1] ** 2
    reg = FrameAveragingRegressor(Ridge(), group=group, frames="group").fit(X, y)
    G = spec.geometric.matrices(spec.geometric.elements())
    P = X.reshape(len(X), N_POINTS, d)
    forms = np.einsum("nmd,kde->nkme", P, G)            # g⁻¹·x for every element
    if spec.permuting:
        forms = np.stack([[f[np.lexsort(f.T[::-1])] for f in row] for row in forms])
    expected = reg.estimator_.predict(forms.reshape(-1, N_POINTS * d)).reshape(len(X), -1).mean(axis=1)
    np.testing.assert_allclose(reg.predict(X), expected, atol=1e-10)
    assert reg.n_frames_fit_ == len(X) * len(G)


@pytest.mark.parametrize("group,shape,n_sym", [("D4", "square", 8), ("C4", "square", 4), ("O", "cube", 24),
                                               ("D4xS_n", "square", 8), ("OxS_n", "cube", 24)])
def test_finite_minimal_frames_one_for_generic_the_symmetry_for_symmetric(group, shape, n_sym):
    d = parse_group(group).d
    S = (_regular_polygon(4, 4) if shape == "square"
         else np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float))
    rs = np.random.RandomState(0)
    generic = rs.normal(size=(3,) + S.shape)
    X = np.concatenate([S[None], generic]).reshape(4, -1)
    clf = FrameAveragingClassifier(group=group, frames="minimal").fit(X, [0, 1, 0, 1])
    counts = (clf.frame_weights(X).weights > 0).sum(axis=1)
    # the points of the square and cube are only symmetric as a set: without S_n their order
    # breaks the symmetry unless the element maps each point to itself
    expected = n_sym if parse_group(group).permuting else 1
    assert counts[0] == expected and (counts[1:] == 1).all(), counts


_SOLIDS = {"cube": np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float),
           "tetrahedron": np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1.0]]),
           "octahedron": np.vstack([np.eye(3), -np.eye(3)])}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group,shape,n_sym", [("SE3xS_n", "cube", 24), ("E3xS_n", "cube", 48),
                                               ("SE3xS_n", "tetrahedron", 12), ("E3xS_n", "tetrahedron", 24),
                                               ("E3xS_n", "octahedron", 48), ("SE2xS_n", "square", 4),
                                               ("E2xS_n", "square", 8), ("E2xS_n", "pentagon", 10),
                                               ("O3xS_n", "cube", 48), ("SE3", "cube", 4)])
@pytest.mark.parametrize("frames", ["minimal", "pca", "sampled"])
def test_continuous_minimal_frames_hold_the_symmetries_of_the_set(group, shape, n_sym, dtype, frames):
    """Under a continuous group × S_n a regular solid or polygon has symmetries that mix the
    PCA axes; "minimal" holds all of them (before: only sign choices, so moving targets
    were equivariant up to the symmetry, errors 0.17 to 0.64). Without S_n the point order
    breaks the symmetry and the sign choices stay (4 for a cube under SE(3)). Generic
    samples keep their one frame, bit for bit whatever else their batch holds. "pca"
    frames take every sign choice of each of those frames and "sampled" frames each of
    them times the fixed elements (before: of one frame), exact too."""
    spec = parse_group(group)
    d = spec.d
    S = (_SOLIDS[shape] if d == 3 else _regular_polygon(4 if shape == "square" else 5, 4 if shape == "square" else 5))
    G = get_group(group)
    rs = np.random.RandomState(0)
    generic = rs.normal(size=(3,) + S.shape) * np.linspace(2.0, 1.0, d)
    X = np.concatenate([S[None] + (0 if group.startswith("O3") else 0.7), generic]).reshape(4, -1)
    X = G.apply(G.sample(4, 1, n_points=len(S)), X, PointLayout(d)).astype(dtype)
    # a model that is a continuous function of the form (nearest neighbours would pick
    # among the symmetric sample's equal forms by rounding)
    train = (S + 0.2 * rs.normal(size=(60,) + S.shape)).reshape(60, -1)
    train = G.apply(G.sample(60, 3, n_points=len(S)), train, PointLayout(d)).astype(dtype)
    est = FrameAveragingRegressor(Ridge(1e-3), group=group, frames=frames, target="position")
    est.fit(train, (train.reshape(60, -1, d) ** 2).reshape(60, -1))
    counts = (est.frame_weights(X).weights > 0).sum(axis=1)
    if frames == "minimal":
        assert counts[0] == n_sym, counts
    elif frames == "sampled":   # each symmetry frame times the 8 fixed elements
        assert counts[0] == n_sym * est.n_frames, counts
    else:   # the symmetries' frames times the sign choices: whole cosets of the symmetry group
        n_signs = 2 ** (d - 1) if spec.special else 2 ** d
        assert counts[0] % n_sym == 0 and n_sym <= counts[0] <= n_sym * n_signs, counts
    # float32 leaves weakly skewed axes' signs open (documented): compare with the batch alone
    np.testing.assert_array_equal(counts[1:], (est.frame_weights(X[1:]).weights > 0).sum(axis=1))
    assert dtype == np.float32 or frames != "minimal" or (counts[1:] == 1).all(), counts
    # the frames are kept whatever the batch (counts above); the regressor's own products
    # may round by batch size (OpenBLAS picks float32 kernels by matrix size: rows of one
    # product differ by 1e-6 between batches on some CPUs)
    whole = est.predict(X)
    np.testing.assert_allclose(est.predict(X[1:]), whole[1:], rtol=0,
                               atol=(1e-5 if dtype == np.float32 else 1e-12) * np.abs(whole).max())
    g = G.sample(4, 2, n_points=len(S))
    moved = G.apply(g, X, PointLayout(d)).astype(dtype)
    expected = G.apply(g, est.predict(X), PointLayout(d))
    tol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(est.predict(moved), expected, atol=tol * np.abs(expected).max())


@pytest.mark.parametrize("dtype,noise,n_frames", [(np.float64, 1e-13, 24), (np.float64, 1e-6, 4),
                                                  (np.float32, 1e-6, 24), (np.float32, 1e-3, 4)])
def test_continuous_minimal_frames_of_a_nearly_symmetric_cube(dtype, noise, n_frames):
    """A cube moved off its symmetry by noise within the tie rule's tolerances keeps its 24
    frames in every pose (near-copies of one frame count once: before, a float32 cube with
    noise 1e-6 kept 32–38 frames, a count that differed between poses, error 0.11); beyond
    them the sign choices of "minimal" remain (4 under SE(3)). Either way the moving
    targets are equivariant."""
    G = get_group("SE3xS_n")
    rs = np.random.RandomState(4)
    S = _SOLIDS["cube"]
    train = (S + 0.2 * rs.normal(size=(60,) + S.shape)).reshape(60, -1)
    train = G.apply(G.sample(60, 3, n_points=8), train, PointLayout(3)).astype(dtype)
    est = FrameAveragingRegressor(Ridge(1e-3), group="SE3xS_n", frames="minimal", target="position")
    est.fit(train, (train.reshape(60, -1, 3) ** 2).reshape(60, -1))
    X = np.repeat((S + noise * rs.normal(size=S.shape)).reshape(1, -1), 20, axis=0)
    X = G.apply(G.sample(20, 5, n_points=8), X, PointLayout(3)).astype(dtype)
    g = G.sample(20, 6, n_points=8)
    moved = G.apply(g, X, PointLayout(3)).astype(dtype)
    for Z in (X, moved):
        assert ((est.frame_weights(Z).weights > 0).sum(axis=1) == n_frames).all()
    expected = G.apply(g, est.predict(X), PointLayout(3))
    tol = (1e-9 if dtype == np.float64 else 1e-5) + 10 * noise
    np.testing.assert_allclose(est.predict(moved), expected, atol=tol * np.abs(expected).max())

@pytest.mark.parametrize("group", ["SE2", "O2", "SO3", "E3", "SE3"])
def test_minimal_shortcut_equals_the_sign_table_search(group):
    """"minimal" takes the canonical frame alone where every third moment decides its axis
    (and, for special groups, the one flipped axis is the least certain); that shortcut gives
    the same weights as searching the sign table for every sample."""
    from skcanon.frames import _open_sign_weights, _open_signs, _sign_table, sign_tolerance

    spec = parse_group(group)
    d = spec.d
    rs = np.random.RandomState(0)
    P = rs.normal(size=(400, 6, d)) * np.linspace(2.0, 1.0, d)
    P[:40, :, -1] = 0.0                                   # planar: undecided last axis
    P[40:80] = np.concatenate([P[40:80, :3], -P[40:80, :3]], axis=1)   # centrally symmetric
    layout = PointLayout(d)
    canon = CanonicalizerTransformer(group=spec.geometric, method="pca", layout=layout).fit(P).canonicalizer_
    Z0, h = canon.canonicalize(P, layout)
    t = np.asarray(spec.geometric.translations(h)) if spec.translating else None
    signs = _sign_table(d, spec.special)
    Y = Z0 - Z0.mean(axis=1, keepdims=True)
    s = (Y**2).sum(axis=(1, 2)) / 6
    m3 = (Y**3).sum(axis=1) / 6 / (s * np.sqrt(s))[:, None]
    np.testing.assert_array_equal(_open_signs(Z0, layout, signs, np.float64, t)[0],
                                  _open_sign_weights(m3, signs, sign_tolerance(np.float64)))


# -- positions that leave the frame open, other fields that settle it (B90, B95) ---------------
def _with_velocities(shape, d, n=6, m=5, seed=0):
    rs = np.random.RandomState(seed)
    if shape == "collinear":
        pos = np.outer(rs.normal(size=m), rs.normal(size=d)) + rs.normal(size=d)
    elif shape == "coincident":
        pos = np.tile(rs.normal(size=d), (m, 1))
    else:
        pos = rs.normal(size=(m, d))
    one = np.concatenate([pos, rs.normal(size=(m, d)), rs.normal(size=(m, 1))], axis=1)
    return np.tile(one.reshape(1, -1), (n, 1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", ["collinear", "coincident", "generic"])
@pytest.mark.parametrize("frames", ["pca", "minimal", "weighted"])
@pytest.mark.parametrize("group", ["SE3", "E3", "O3", "SE2", "E2"])
def test_velocities_settle_frames_that_positions_leave_open(group, frames, shape, dtype):
    """Collinear or coincident positions with generic velocities: the frames come from the
    velocities where the positions leave them open, so predictions are invariant and moving
    targets equivariant for the whole sample, not only its positions."""
    d = _dim(group)
    layout = PointLayout(d, fields=[("pos", "position"), ("vel", "vector"), ("q", "scalar")])
    rs = np.random.RandomState(1)
    Xtr = rs.normal(size=(40, 5 * (2 * d + 1)))
    y = (Xtr[:, d] > 0).astype(int)
    X = _with_velocities(shape, d).astype(dtype)
    G = get_group(group)
    moved = G.apply(G.sample(len(X), random_state=2), X, layout).astype(dtype)
    tol = 1e-9 if dtype == np.float64 else 1e-3
    clf = FrameAveragingClassifier(LogisticRegression(), group=group, frames=frames, layout=layout).fit(Xtr, y)
    np.testing.assert_allclose(clf.predict_proba(moved), clf.predict_proba(X), atol=tol)
    reg = FrameAveragingRegressor(group=group, frames=frames, layout=layout,
                                  target="vector").fit(Xtr, Xtr[:, :5 * d])
    g = G.sample(len(X), random_state=2)
    expected = G.apply(g, reg.predict(X), PointLayout(d, fields=[("v", "vector")]))
    np.testing.assert_allclose(reg.predict(G.apply(g, X, layout).astype(dtype)), expected,
                               atol=tol * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("target", ["position", "vector"])
def test_moving_targets_in_a_dataframe_are_read_by_name(target):
    """A DataFrame y of moving targets was read point-major whatever its names: with
    component-major columns (x0..x3, y0..y3, z0..z3) train R² was 0.06 and the equivariance
    error 11.7. The names now order the columns (the target's kind stays `target`) and
    predictions come back in y's column order."""
    pd = pytest.importorskip("pandas")
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4, 3)) * [3.0, 2.0, 1.0]
    Y = 2.0 * (X - X.mean(1, keepdims=True)) + (X.mean(1, keepdims=True) if target == "position" else 0)
    names = [f"{c}{i}" for c in "xyz" for i in range(4)]
    frame = pd.DataFrame(Y.transpose(0, 2, 1).reshape(40, -1), columns=names)
    by_name = FrameAveragingRegressor(Ridge(alpha=1e-6), group="SE3", target=target).fit(X.reshape(40, -1), frame)
    plain = FrameAveragingRegressor(Ridge(alpha=1e-6), group="SE3", target=target).fit(X.reshape(40, -1), Y.reshape(40, -1))
    expected = plain.predict(X.reshape(40, -1)).reshape(40, 4, 3).transpose(0, 2, 1).reshape(40, -1)
    np.testing.assert_allclose(by_name.predict(X.reshape(40, -1)), expected, atol=1e-8)
    np.testing.assert_allclose(by_name.predict(X.reshape(40, -1)), frame.to_numpy(), atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("place", ["one_place", "one_present", "origin"])
@pytest.mark.parametrize("frames", ["pca", "minimal", "weighted", "sampled"])
@pytest.mark.parametrize("group", ["SE2", "E3", "SE3xS_n", "O3", "SO3", "O2", "SO2"])
def test_moving_targets_of_points_at_one_place_are_equivariant(group, frames, place, dtype):
    """All points at one place (or one point present): the frames leave every rotation open
    (translations; points at the origin) or those about the place's axis (groups without
    translations), so moving targets are averaged over them. ``minimal``, ``weighted`` and
    ``sampled`` mapped them back through one arbitrary frame (errors 0.1-0.7)."""
    d = _dim(group)
    m = 4
    rs = np.random.RandomState(0)
    Xtr = rs.normal(size=(40, m * d))
    ytr = Xtr + 0.3 + 0.3 * rs.normal(size=Xtr.shape)
    spot = np.zeros(d) if place == "origin" else rs.normal(size=d)
    X = np.tile(spot, (3, m)).astype(dtype)
    if place == "one_present":
        X[:, d:] = np.nan
    G, layout = get_group(group), PointLayout(d)
    g = G.sample(len(X), random_state=3, n_points=m)
    reg = FrameAveragingRegressor(Ridge(), group=group, frames=frames, target="position",
                                  random_state=0).fit(Xtr, ytr)
    moved = np.asarray(G.apply(g, X, layout), dtype=dtype)
    expected = np.asarray(G.apply(g, reg.predict(X), layout))
    tol = 1e-9 if dtype == np.float64 else 1e-4
    present = ~np.isnan(X)
    np.testing.assert_allclose(reg.predict(moved)[present], expected[present], atol=tol)


@pytest.mark.parametrize("frames", ["minimal", "weighted"])
def test_a_sample_is_sorted_alike_whatever_else_is_in_its_batch(frames):
    """A nearly square sample under E3xS_n: a sample with an absent point in the same batch
    sent the whole batch to a sort with another tie tolerance (1e-8 rounding against the
    sort kernel's 1e-9), so the first sample's predictions changed (by up to 0.047)."""
    rs = np.random.RandomState(0)
    Xtr = rs.normal(size=(60, 12))
    ytr = (Xtr[:, 0] > 0).astype(int)
    square = np.array([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]], float).ravel()
    other = rs.normal(size=12)
    other[:3] = np.nan
    clf = FrameAveragingClassifier(LogisticRegression(), group="E3xS_n", frames=frames).fit(Xtr, ytr)
    reg = FrameAveragingRegressor(group="E3xS_n", frames=frames, target="position").fit(Xtr, Xtr)
    for _ in range(20):
        x = square + 1e-9 * rs.normal(size=12)
        batch = np.stack([x, other])
        np.testing.assert_allclose(clf.predict_proba(batch)[0], clf.predict_proba(x[None])[0], atol=1e-12)
        np.testing.assert_allclose(reg.predict(batch)[0], reg.predict(x[None])[0], atol=1e-12)


def test_default_estimators_learn_invariant_targets():
    """The defaults (SE3, frames="pca") with a linear model learned a constant: over the
    sign frames every coordinate appears with both signs, so the linear part cancels (one
    distinct predict_proba row for 300 shapes, train accuracy at the majority rate; R² 0).
    The invariant defaults are random forests now."""
    from skcanon.datasets import make_point_shapes

    X, y = make_point_shapes(n_samples=150, n_points=8, random_state=0, return_X_y=True)
    clf = FrameAveragingClassifier().fit(X, y)
    assert len(np.unique(clf.predict_proba(X).round(10), axis=0)) > 10
    assert clf.score(X, y) > 2 * np.bincount(np.unique(y, return_inverse=True)[1]).max() / len(y)
    P = X.reshape(len(X), -1, 3)
    gyration = np.sqrt(((P - P.mean(axis=1, keepdims=True)) ** 2).sum(axis=2).mean(axis=1))
    assert FrameAveragingRegressor().fit(X, gyration).score(X, gyration) > 0.5
    # moving targets keep the linear default: a linear map stays equivariant
    assert isinstance(FrameAveragingRegressor(target="position").fit(X, X).estimator_, Ridge)


@pytest.mark.parametrize("frames,warns", [("pca", True), ("minimal", False)])
def test_linear_models_that_average_to_a_constant_warn(frames, warns):
    """A linear model averaged over frames that flip every axis keeps only its intercept:
    fit says so (ConstantModelWarning) instead of returning a constant model silently."""
    import warnings

    from skcanon.exceptions import ConstantModelWarning

    rs = np.random.RandomState(0)
    X = rs.normal(size=(40, 12)) * np.tile([3.0, 2.0, 1.0], 4)
    y = (X[:, 0] > 0).astype(int)
    model = FrameAveragingClassifier(LogisticRegression(), group="SE3", frames=frames, n_frames=4, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    assert any(issubclass(w.category, ConstantModelWarning) for w in caught) == warns


def test_pairwise_decision_functions_vote():
    """SVC(decision_function_shape="ovo") gives one score per pair of classes: its argmax
    was read as a class index (IndexError with 4 classes; with 3, labels that agreed with
    the "ovr" setting on 31 % of the samples). Such estimators vote now."""
    from sklearn.svm import SVC

    rs = np.random.RandomState(0)
    X = rs.normal(size=(90, 12))
    for n_classes in (3, 4):
        y = rs.randint(0, n_classes, 90)
        ovo = FrameAveragingClassifier(SVC(decision_function_shape="ovo"), frames="minimal").fit(X, y).predict(X)
        ovr = FrameAveragingClassifier(SVC(decision_function_shape="ovr"), frames="minimal").fit(X, y).predict(X)
        assert np.mean(ovo == ovr) > 0.9


def test_classifier_refuses_a_regressor_before_fitting_it():
    """A regressor was fitted on every frame before a bare AttributeError ('classes_')."""
    X = np.random.RandomState(0).normal(size=(20, 12))
    with pytest.raises(ValueError, match="estimator must be a classifier"):
        FrameAveragingClassifier(Ridge()).fit(X, np.arange(20) % 2)


def test_frame_weights_docstring_names_every_field_it_returns():
    from skcanon import FrameAveragingRegressor
    from skcanon.frames import FrameSet

    X = np.random.default_rng(0).normal(size=(6, 12))
    fs = FrameAveragingRegressor(group="SO3").fit(X, X[:, 0]).frame_weights(X)
    assert fs._fields == FrameSet._fields
    doc = FrameAveragingRegressor.frame_weights.__doc__
    assert "(" + ", ".join(FrameSet._fields) + ")" in doc


@pytest.mark.parametrize("group, d", [("E3xS_n", 3), ("SE2", 2)])
def test_weighted_frames_do_not_depend_on_the_batch(group, d):
    """A sample's weighted frames were sorted by weight only when some sample of its batch
    had an unused frame, so their order (and a forest's bootstrap over them) followed the
    batch: predict_proba moved by 0.021 between batch sizes."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5 * d))
    y = rng.integers(0, 2, 60)
    fits = [FrameAveragingClassifier(group=group, frames="weighted", batch_size=b).fit(X, y) for b in (None, 7, 1)]
    proba = [f.set_params(batch_size=None).predict_proba(X) for f in fits]
    for p in proba[1:]:
        np.testing.assert_array_equal(p, proba[0])
    whole, first = fits[0].frame_weights(X), fits[0].frame_weights(X[:1])
    used = first.weights[0] > 0
    np.testing.assert_array_equal(whole.weights[0][whole.weights[0] > 0], first.weights[0][used])


@pytest.mark.parametrize("frames", ["pca", "minimal", "weighted"])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-9), (np.float32, 1e-4)])
def test_symmetric_clouds_keep_their_symmetry_with_discontinuous_estimators(frames, dtype, tol):
    """Coordinates along an axis with no extent (a planar cloud's normal, every axis of
    points at one place) were rounding noise of either sign: a k-NN tie or a tree's split
    at 0 sent mirror-related forms apart, so predicted points left the plane by 0.27 and
    coincident points got equivariance errors of 0.33 with the default frames."""
    from sklearn.neighbors import KNeighborsRegressor

    rng = np.random.default_rng(0)
    m, n = 5, 12
    X = rng.normal(size=(80, m * 3))
    reg = FrameAveragingRegressor(KNeighborsRegressor(3), group="E3", frames=frames, target="position",
                                  random_state=0).fit(X.astype(dtype), X + 0.3 * np.sin(2 * X))
    plane = np.concatenate([rng.normal(size=(n, m, 2)), np.zeros((n, m, 1))], axis=2) + rng.normal(size=(n, 1, 3))
    normal = np.array([0.0, 0.0, 1.0])
    out = reg.predict(plane.reshape(n, -1).astype(dtype)).reshape(n, m, 3)
    # the mirror in the plane fixes the cloud, so the predicted points lie in its plane
    assert np.abs((out - plane[:, :1]) @ normal).max() < tol * np.abs(plane).max()
    same = np.repeat(rng.normal(size=(n, 1, 3)), m, axis=1).reshape(n, -1)
    g = get_group("E3").sample(n, random_state=1)
    act = lambda Z: np.asarray(get_group("E3").apply(g, Z, PointLayout(3)))   # noqa: E731
    moved = act(same).astype(dtype)
    err = np.abs(act(reg.predict(same.astype(dtype))) - reg.predict(moved)).max()
    assert err < tol * np.abs(same).max()


def test_a_thin_axis_far_from_the_origin_is_kept():
    """The noise-axis rule's translation term is the centring's rounding, not a fraction of
    the offset: a cloud 5.7e-7 thick at distance 1e5 kept its thickness only near 0."""
    rng = np.random.default_rng(0)
    P = np.concatenate([rng.normal(size=(6, 2)), 5.7e-7 * rng.normal(size=(6, 1))], axis=1)
    spec = parse_group("E3")
    for offset in (0.0, 1e5):
        X = (P + offset)[None]
        canon = CanonicalizerTransformer("E3", "pca").fit(X.reshape(1, -1))
        forms = frame_forms(X, PointLayout(3), spec, "pca", canonicalizer=canon)
        assert np.abs(forms.Q[..., 2]).max() > 1e-7


@pytest.mark.parametrize("group", ["O3", "E3"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_frames_with_a_forest_are_equivariant_on_generic_clouds(group, dtype):
    """Frames built on the points leave some coordinates of each form at 0 (a frame's first
    axis through a point): rounding noise of either sign, which a forest's splits at 0
    separated: 17 of 20 generic clouds under O3 were not equivariant (errors up to 0.21)."""
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 15))
    reg = FrameAveragingRegressor(RandomForestRegressor(20, random_state=0), group=group, frames="weighted",
                                  target="position").fit(X.astype(dtype), X + 0.3 * np.sin(2 * X))
    clouds = rng.normal(size=(20, 15)) + 1.0
    G = get_group(group)
    g = G.sample(20, random_state=1)
    act = lambda Z: np.asarray(G.apply(g, Z, PointLayout(3)))   # noqa: E731
    err = np.abs(act(reg.predict(clouds.astype(dtype))) - reg.predict(act(clouds).astype(dtype))).max()
    assert err < (1e-9 if dtype == np.float64 else 1e-3) * np.abs(clouds).max()


# -- audit of frame averaging (session 41) -------------------------------------------------------
@pytest.mark.parametrize("case", ["collinear", "one point", "coincident"])
@pytest.mark.parametrize("group", ["SE3", "O3"])
def test_weighted_frames_of_degenerate_samples_beside_a_scalar_field(case, group):
    """``frames="weighted"`` with a scalar field (atomic numbers) crashed with numpy's
    "zero-size array to reduction operation maximum" on a collinear molecule (CO2), a
    one-atom sample or atoms at one place: the scalar field was taken for a field of
    vectors, and its empty array of vectors reached the weights."""
    lay = PointLayout(3, fields=[("pos", "position"), ("Z", "scalar")])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3, 4))
    X[..., 3] = rng.choice([1.0, 6.0, 8.0], size=(10, 3))
    if case == "collinear":
        X[0] = [[-1.16, 0, 0, 8], [0, 0, 0, 6], [1.16, 0, 0, 8]]
    elif case == "one point":
        X[0, 1:] = np.nan
    else:
        X[0, :, :3] = 0.5
    y = np.arange(10) % 2
    for dtype in (np.float64, np.float32):
        clf = FrameAveragingClassifier(group=group, frames="weighted", layout=lay).fit(X.astype(dtype), y)
        G = get_group(group)
        g = G.sample(10, random_state=1)
        moved = G.apply(g, X, lay).astype(dtype)
        np.testing.assert_allclose(clf.predict_proba(moved), clf.predict_proba(X.astype(dtype)), atol=1e-6)


@pytest.mark.parametrize("frames", ["pca", "minimal"])
def test_points_are_sorted_with_their_units_levelled_as_the_sort_canonicalizer_does(frames):
    """Under ×S_n the forms' points were sorted (and tied) with one tolerance over every
    column: coordinates in metres (1e-10) beside atomic numbers were all ties, so
    per-point targets were averaged across distinct points (training error 2.8 of 7 for a
    target linear in the coordinates). Column groups in other units are now brought level
    first, as by ``method="sort"``."""
    rng = np.random.default_rng(0)
    pos = rng.normal(size=(200, 5, 3)) * 1e-10
    Z = rng.choice([1.0, 6.0], size=(200, 5, 1))
    lay = PointLayout(3, fields=[("pos", "position"), ("Z", "scalar")])
    X = np.concatenate([pos, Z], 2).reshape(200, -1)
    Y = (1e10 * (pos - pos.mean(1, keepdims=True))).reshape(200, -1)
    model = make_pipeline(StandardScaler(), Ridge(alpha=1e-12))
    reg = FrameAveragingRegressor(model, group="O3xS_n", frames=frames, layout=lay, target="vector").fit(X, Y)
    assert np.abs(reg.predict(X) - Y).max() < 1e-6 * np.abs(Y).max()
    runs = reg._forms_of(X.reshape(200, 5, 4), X.dtype).order[1]
    assert (np.diff(runs, axis=1) == 1).all()      # no two of these points tie


def test_a_linear_model_inside_a_pipeline_that_averages_to_a_constant_warns():
    """The constant-model check looked for ``coef_`` on the estimator itself: a
    ``make_pipeline(StandardScaler(), LogisticRegression())`` gave one output for every
    sample without the warning the bare ``LogisticRegression`` gives."""
    from skcanon.exceptions import ConstantModelWarning

    X = np.random.default_rng(0).normal(size=(40, 18)) * np.tile([3.0, 2.0, 1.0], 6)
    y = np.arange(40) % 2
    with pytest.warns(ConstantModelWarning, match="same output"):
        FrameAveragingClassifier(make_pipeline(StandardScaler(), LogisticRegression()), group="SE3",
                                 frames="pca").fit(X, y)


def test_predict_uses_the_frames_it_was_fitted_with():
    """``set_params(frames=..., sharpness=...)`` after ``fit`` changed ``predict`` at once
    (by 0.58 for "pca" → "weighted"; "sampled" crashed naming internal arguments): the
    estimator predicts with the frames it was fitted with until the next ``fit``."""
    X = np.random.default_rng(0).normal(size=(40, 18)) * np.tile([3.0, 2.0, 1.0], 6)
    y = np.arange(40) % 2
    clf = FrameAveragingClassifier(group="SE3", frames="pca", random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    for frames in ("sampled", "minimal", "weighted"):
        clf.set_params(frames=frames, sharpness=3.0)
        np.testing.assert_array_equal(clf.predict_proba(X), before)
    clf.fit(X, y)                                     # the next fit takes them
    assert clf.frame_weights(X).weights.shape[1] > 1


@pytest.mark.parametrize("dtype, big", [(np.float64, 1e9), (np.float32, 1e5)])
def test_minimal_frames_of_a_finite_group_round_each_field_in_its_own_unit(dtype, big):
    """Minimal frames of a finite group compare the poses rounded to 1e-8 (float32 1e-4) of
    the sample's largest value: beside a scalar field of 1e9 (float32 1e5) every coordinate
    rounded to 0, every pose tied, and generic samples kept all 8 elements of D4 (group
    averaging instead of one frame). Each field is now rounded in its own unit."""
    rng = np.random.default_rng(0)
    lay = PointLayout(2, fields=[("pos", "position"), ("p", "scalar")])
    X = np.concatenate([rng.normal(size=(50, 5, 2)), np.full((50, 5, 1), big)], 2)
    X = X.astype(dtype).reshape(50, -1)
    clf = FrameAveragingClassifier(group="D4", frames="minimal", layout=lay).fit(X, np.arange(50) % 2)
    assert ((clf.frame_weights(X).weights > 0).sum(axis=1) == 1).all()
    G = get_group("D4")
    g = G.sample(50, random_state=2)
    np.testing.assert_array_equal(clf.predict_proba(G.apply(g, X, lay)), clf.predict_proba(X))


def test_weighted_frames_of_small_clouds_far_from_the_origin_are_invariant():
    """Weighted frames counted a cloud as one point when its spread was below 1e-9 of its
    distance from the origin, not the canonicalizers' 1e-10: clouds of size 2 at 2e9 got
    the identity frame, and their forms stayed in their pose (invariance error 1.07 where
    ``frames="pca"`` gives 0)."""
    rng = np.random.default_rng(0)
    P = rng.normal(size=(120, 6, 3)) * [2, 1, 0.5] + 2e9 * np.array([1, 0.5, 0.3])
    y = P[:, :, 0].std(1)
    G = get_group("SO3")
    R = G.matrices(G.sample(20, random_state=1))
    c = P[:20].mean(1, keepdims=True)
    moved = np.einsum("nij,nmj->nmi", R, P[:20] - c) + c      # each turned about its own centroid
    reg = FrameAveragingRegressor(group="SE3", frames="weighted").fit(P.reshape(120, -1), y)
    assert reg.frame_weights(P[:20].reshape(20, -1)).free is None
    np.testing.assert_allclose(reg.predict(moved.reshape(20, -1)), reg.predict(P[:20].reshape(20, -1)),
                               atol=1e-6)


@pytest.mark.parametrize("frames", ["pca", "weighted"])
def test_an_absent_point_is_not_a_point_at_the_centroid(frames):
    """Absent points entered the estimator as zeros, with nothing to say they were absent:
    a sample lacking its fifth point and one whose fifth point sits at the centroid of the
    others had the same rows (held-out accuracy 0.42 for "pca", chance). Fits on data with
    absent points now mark which points are present."""
    rng = np.random.default_rng(0)
    P = rng.normal(size=(200, 5, 3)) * [2, 1, 0.5]
    y = np.arange(200) % 2
    P[:, 4] = P[:, :4].mean(1)
    P[y == 1, 4] = np.nan
    X = P.reshape(200, -1)
    clf = FrameAveragingClassifier(group="SE3", frames=frames).fit(X[:100], y[:100])
    assert clf.marks_absent_
    assert clf.score(X[100:], y[100:]) > 0.95
    G = get_group("SE3")
    moved = G.apply(G.sample(100, random_state=5), X[100:], PointLayout(3))
    np.testing.assert_array_equal(clf.predict(moved), clf.predict(X[100:]))
    whole = X[y == 0]                                 # no absent point: no marks, the width of before
    plain = FrameAveragingClassifier(group="SE3", frames=frames).fit(whole, np.arange(len(whole)) % 2)
    assert not plain.marks_absent_


def test_layout_and_target_errors_name_what_the_caller_passed():
    """A ``PointLayout(2)`` under SE3 said "n_dims=3 contradicts layout.n_dims=2", naming an
    ``n_dims`` the caller never passed (the group's own); moving targets without points got
    scikit-learn's "Found array with 0 feature(s)", naming neither ``y`` nor the shape."""
    X = np.random.default_rng(0).random((10, 6))
    with pytest.raises(ValueError, match=r"group 'SE3' acts in 3 dimensions, but the layout has n_dims=2"):
        FrameAveragingClassifier(group="SE3", layout=PointLayout(2)).fit(X, np.arange(10) % 2)
    with pytest.raises(ValueError, match=r"n_dims=3 contradicts layout.n_dims=2"):
        FrameAveragingClassifier(group="SE3", layout=PointLayout(2), n_dims=3).fit(X, np.arange(10) % 2)
    for y in (np.zeros((10, 0)), np.zeros((10, 0, 2))):
        with pytest.raises(ValueError, match=r"y has shape .*: no target point"):
            FrameAveragingRegressor(group="SE2", target="vector").fit(X, y)


# -- float32, symmetric and moved inputs for the session-41 fixes (left open in its notes) ----------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("frames", ["pca", "minimal"])
def test_unit_levelled_sorting_is_equivariant_in_both_precisions(frames, dtype):
    """The forms sorted with levelled units (B382) must keep the regressor equivariant: a
    rotated and re-ordered molecule (metres beside atomic numbers) gets its per-point
    targets rotated and re-ordered the same way, in float32 as in float64."""
    rng = np.random.default_rng(1)
    pos = rng.normal(size=(120, 5, 3)) * [3e-10, 2e-10, 1e-10]
    Z = rng.choice([1.0, 6.0, 8.0], size=(120, 5, 1))
    lay = PointLayout(3, fields=[("pos", "position"), ("Z", "scalar")])
    X = np.concatenate([pos, Z], 2).reshape(120, -1).astype(dtype)
    Y = (1e10 * (pos - pos.mean(1, keepdims=True)) * Z).reshape(120, -1).astype(dtype)
    reg = FrameAveragingRegressor(make_pipeline(StandardScaler(), Ridge(alpha=1e-6)), group="O3xS_n",
                                  frames=frames, layout=lay, target="vector").fit(X, Y)
    G = get_group("O3xS_n")
    g = G.sample(120, random_state=3, n_points=5)
    moved = np.asarray(G.apply(g, X, lay), dtype=dtype)
    pred = reg.predict(X)
    expected = np.asarray(G.apply(g, pred, PointLayout(3)))
    tol = 1e-9 if dtype == np.float64 else 1e-3
    assert np.abs(reg.predict(moved) - expected).max() <= tol * np.abs(pred).max()


@pytest.mark.parametrize("dtype, big", [(np.float64, 1e9), (np.float32, 1e5)])
def test_minimal_frames_beside_a_large_scalar_keep_a_symmetric_samples_stabilizer(dtype, big):
    """Rounding each field in its own unit (B385) must not break ties that are real: a
    square beside a scalar of 1e9 (float32 1e5) is fixed by all of D4 (with its points
    re-ordered), so its minimal frame set has all 8 rotations and mirrors, and the
    prediction is the same in every pose and order."""
    lay = PointLayout(2, fields=[("pos", "position"), ("p", "scalar")])
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(40, 4, 2)), np.full((40, 4, 1), big)], 2)
    X[0, :, :2] = [[1, 1], [-1, 1], [-1, -1], [1, -1]]
    X = X.astype(dtype).reshape(40, -1)
    clf = FrameAveragingClassifier(group="D4xS_n", frames="minimal", layout=lay).fit(X, np.arange(40) % 2)
    weights = clf.frame_weights(X).weights
    assert (weights[0] > 0).sum() == 8
    assert ((weights[1:] > 0).sum(axis=1) == 1).all()
    G = get_group("D4xS_n")
    for seed in range(4):
        moved = np.asarray(G.apply(G.sample(40, random_state=seed, n_points=4), X, lay), dtype=dtype)
        np.testing.assert_allclose(clf.predict_proba(moved), clf.predict_proba(X), atol=1e-12)


def test_weighted_frames_of_small_far_clouds_in_float32():
    """B386's rule in float32 (a cloud is one point below 8e-6 of its distance): clouds of
    size 2 at 1e4 from the origin are far above it and get frames of their own, so their
    predictions do not depend on the pose; clouds below it read as one point."""
    rng = np.random.default_rng(0)
    P = rng.normal(size=(120, 6, 3)) * [2, 1, 0.5] + 1e4 * np.array([1, 0.5, 0.3])
    y = P[:, :, 0].std(1)
    G = get_group("SO3")
    R = G.matrices(G.sample(20, random_state=1))
    c = P[:20].mean(1, keepdims=True)
    moved = np.einsum("nij,nmj->nmi", R, P[:20] - c) + c
    X = P.reshape(120, -1).astype(np.float32)
    reg = FrameAveragingRegressor(group="SE3", frames="weighted").fit(X, y)
    assert reg.frame_weights(X[:20]).free is None
    np.testing.assert_allclose(reg.predict(moved.reshape(20, -1).astype(np.float32)), reg.predict(X[:20]),
                               rtol=1e-3, atol=1e-3 * np.abs(y).max())
    tiny = (rng.normal(size=(5, 6, 3)) * 1e-3 + 2e4).reshape(5, -1).astype(np.float32)
    assert reg.frame_weights(tiny).free.all()        # one point in float32: every rotation open


@pytest.mark.parametrize("frames", ["pca", "weighted"])
def test_absent_point_marks_in_float32_and_on_symmetric_samples(frames):
    """The absent-point marks (B402) in float32, and on samples whose present points form a
    regular tetrahedron (a symmetric sample, every PCA axis tied): still invariant, and
    still told apart from the same tetrahedron with its fifth point at the centroid."""
    tet = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)
    rng = np.random.default_rng(0)
    P = rng.normal(size=(200, 5, 3)) * [2, 1, 0.5]
    P[:20, :4] = tet * rng.uniform(0.5, 2, size=(20, 1, 1))
    y = np.arange(200) % 2
    P[:, 4] = P[:, :4].mean(1)
    P[y == 1, 4] = np.nan
    X = P.reshape(200, -1).astype(np.float32)
    clf = FrameAveragingClassifier(group="SE3", frames=frames).fit(X[20:120], y[20:120])
    assert clf.marks_absent_
    assert clf.predict(X[:20]).tolist() == y[:20].tolist()
    G = get_group("SE3")
    moved = G.apply(G.sample(200, random_state=5), X, PointLayout(3)).astype(np.float32)
    held = np.r_[0:20, 120:200]
    # float32 forms move by rounding (~1e-7 relative), which can flip a split of a tree here
    # and there: probabilities agree within a few trees' votes, the tetrahedra exactly
    np.testing.assert_allclose(clf.predict_proba(moved[held]), clf.predict_proba(X[held]), atol=0.01)
    np.testing.assert_array_equal(clf.predict(moved[:20]), y[:20])


@pytest.mark.parametrize("make", [
    lambda: FrameAveragingClassifier(), lambda: FrameAveragingRegressor(),
    lambda: FrameAveragingRegressor(target="position")])
def test_empty_training_data_gets_an_error_naming_y(make):
    """Empty X and y got scikit-learn's "Found array with 0 sample(s) (shape=(0,))", which
    named neither."""
    X = np.zeros((0, 12))
    for y in (np.zeros(0), np.zeros((0, 12)), []):
        with pytest.raises(ValueError, match=r"^y has 0 samples; FrameAveraging\w+\.fit needs X and y"):
            make().fit(X, y)
    # a 0-d y has a __len__ that fails: scikit-learn's message, not "len() of unsized object"
    with pytest.raises((TypeError, ValueError), match="at least 1 dimension|1d array|1-D|2-D|scalar"):
        make().fit(np.zeros((3, 12)), np.array(1.0))
