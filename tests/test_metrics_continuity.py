"""skcanon.metrics.continuity_ratio: bounded for continuous maps, large where a map jumps."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.preprocessing import StandardScaler

from skcanon._canonicalizer import CanonicalizerTransformer
from skcanon.metrics import ContinuityRatio, continuity_ratio


@given(seed=st.integers(0, 2**16), scale=st.floats(0.1, 10.0), eps=st.sampled_from([1e-2, 1e-4, 1e-6]))
def test_linear_maps_have_ratio_one_and_lipschitz_maps_stay_bounded(seed, scale, eps):
    X = np.random.RandomState(seed).normal(size=(15, 6))
    r = continuity_ratio(lambda Z: scale * Z, X, eps=eps, n_pairs=20, random_state=seed)
    assert isinstance(r, ContinuityRatio)
    np.testing.assert_allclose(r.ratios, 1.0, rtol=1e-6)
    smooth = continuity_ratio(np.tanh, X, eps=eps, n_pairs=20, random_state=seed)
    assert smooth.max < 5.0


def test_jumps_grow_as_eps_shrinks():
    X = np.random.RandomState(0).normal(size=(10, 4))
    X[:, 0] = 0.0                                   # np.sign jumps exactly here
    big = continuity_ratio(np.sign, X, eps=1e-2, random_state=0).max
    small = continuity_ratio(np.sign, X, eps=1e-5, random_state=0).max
    assert small > 10 * big and small > 1e3


def test_canonicalization_jumps_near_a_square():
    square = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    rs = np.random.RandomState(0)
    near = np.stack([(square + 1e-4 * rs.normal(size=square.shape)).ravel() for _ in range(20)])
    canon = CanonicalizerTransformer(group="SE2", method="pca").fit(near)
    assert continuity_ratio(canon, near, eps=1e-4, n_pairs=100, random_state=0).max > 100


def test_estimators_are_read_through_transform_or_predict():
    X = np.random.RandomState(0).normal(size=(20, 3))
    scaler = StandardScaler().fit(X)
    assert continuity_ratio(scaler, X, random_state=0).max < 10


def test_explicit_pairs_absent_points_and_untouched_input():
    X = np.random.RandomState(0).normal(size=(8, 3, 2))
    X[0, 2] = np.nan                                # an absent point stays absent
    X0 = X.copy()
    r = continuity_ratio(lambda Z: np.nan_to_num(Z).reshape(len(Z), -1), X, random_state=0)
    assert np.isfinite(r.max)
    np.testing.assert_array_equal(X, X0)
    other = np.nan_to_num(X) + 1e-3
    r = continuity_ratio(lambda Z: np.nan_to_num(Z).reshape(len(Z), -1), np.nan_to_num(X), X_other=other)
    assert len(r.ratios) == 8


@pytest.mark.parametrize("kwargs,match", [
    ({"eps": 0.0}, "eps"), ({"eps": -1.0}, "eps"), ({"n_pairs": 0}, "n_pairs"),
    ({"X_other": np.zeros((3, 2))}, "X_other")])
def test_bad_arguments_name_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        continuity_ratio(np.tanh, np.ones((4, 2)), **kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="n_samples"):
        continuity_ratio(np.tanh, np.ones(3))
    with pytest.raises(ValueError, match="infinity"):
        continuity_ratio(np.tanh, np.array([[np.inf, 1.0]]))
    with pytest.raises(TypeError, match="estimator_or_callable"):
        continuity_ratio(3, np.ones((4, 2)))
    with pytest.raises(ValueError, match="identical"):
        continuity_ratio(np.tanh, np.ones((4, 2)), X_other=np.ones((4, 2)))


@pytest.mark.parametrize("padding", ["nan", "zero"])
def test_graphs_of_different_sizes_keep_their_padding_unperturbed(padding):
    """The perturbation moved absent nodes' entries: with NaN padding the adjacency entries
    pointing to them (the map refused the perturbed rows, blaming the caller's graphs), with
    zero padding their rows (an empty slot became a present node: ratios 1.07e3 instead of
    1 for the same 3-node graphs padded to 4 nodes)."""
    import networkx as nx

    from skcanon.datasets import graphs_to_arrays

    same = [nx.path_graph(3), nx.complete_graph(3)] * 10
    medians = []
    for n_nodes in (3, 4):
        X, layout = graphs_to_arrays(same, n_nodes=n_nodes, padding=padding)
        canon = CanonicalizerTransformer("S_n", "wl", layout=layout).fit(X)
        medians.append(continuity_ratio(canon, X.reshape(len(X), -1), random_state=0).median)
    assert medians[1] == pytest.approx(medians[0], rel=0.5) and medians[1] < 10
    mixed = [nx.path_graph(3), nx.cycle_graph(4), nx.star_graph(3), nx.path_graph(4)]
    canon = CanonicalizerTransformer("S_n", "wl", layout="graph").fit(mixed)
    assert np.isfinite(continuity_ratio(canon, mixed, random_state=0).max)


def test_a_dataframe_x_other_is_read_by_column_name():
    """``X_other`` with X's columns in another order was read by position: the map got its
    values under X's names (an SO3 ``pca`` jump of 10.9 measured as 1.3)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 12))
    names = [f"p{i}_{a}" for i in range(4) for a in "xyz"]
    A = pd.DataFrame(X, columns=names)
    B = pd.DataFrame(X + 1e-3 * rng.normal(size=X.shape), columns=names)
    canon = CanonicalizerTransformer("SO3", "pca").fit(A)
    same = continuity_ratio(canon, A, X_other=B)
    shuffled = continuity_ratio(canon, A, X_other=B[names[::-1]])
    np.testing.assert_array_equal(shuffled.ratios, same.ratios)
    with pytest.raises(ValueError, match="X_other must have X's columns"):
        continuity_ratio(canon, A, X_other=B.rename(columns={"p0_x": "q0_x"}))


def test_x_other_with_infinity_is_refused_by_name():
    """Infinity in X_other (refused in X) gave max=nan with a RuntimeWarning only."""
    X = np.random.RandomState(0).normal(size=(6, 4))
    other = X + 1e-3
    other[2, 1] = np.inf
    with pytest.raises(ValueError, match="X_other contains infinity"):
        continuity_ratio(np.tanh, X, X_other=other)


def test_class_labels_as_outputs_are_refused_by_name():
    """A classifier without predict_proba is read through predict: its string labels failed
    with numpy's "could not convert string to float"."""
    from sklearn.svm import LinearSVC

    X = np.random.RandomState(0).normal(size=(20, 4))
    clf = LinearSVC().fit(X, np.where(X[:, 0] > 0, "a", "b"))
    with pytest.raises(ValueError, match="estimator_or_callable must return numbers.*decision_function"):
        continuity_ratio(clf, X, random_state=0)
    assert np.isfinite(continuity_ratio(clf.decision_function, X, random_state=0).max)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_outputs_whose_change_cannot_be_measured_are_refused(dtype):
    """NaN outputs counted as 0: a map returning NaN for every sample scored max=0.0 (perfectly
    continuous), one that returns NaN only past a threshold hid its jump there; infinity
    gave max=nan. NaN where both inputs of a pair give it (absent points) is still compared."""
    X = np.random.RandomState(0).normal(size=(20, 4)).astype(dtype)
    for f in (lambda Z: np.full(len(Z), np.nan),
              lambda Z: np.where(Z[:, :1] > 0, np.nan, Z),
              lambda Z: np.where(Z > 1, np.inf, Z)):
        with pytest.raises(ValueError, match="estimator_or_callable returned"):
            continuity_ratio(f, X, random_state=0)
    P = X.reshape(20, 2, 2).copy()
    P[:5, 1] = np.nan                      # absent points: NaN outputs on both sides
    r = continuity_ratio(lambda Z: Z.reshape(len(Z), -1), P, random_state=0)
    assert np.isfinite(r.max) and r.max == pytest.approx(1.0, rel=1e-3 if dtype == np.float32 else 1e-9)
