"""EndToEndEquivariantClassifier: canonicalization network + backbone trained jointly on the
cross-entropy (Kaba et al.'s setting for classification).

Contracts: invariant class scores (SE(3), and SE(3)×S_n with the message-passing backbone),
scikit-learn conventions (classes_, predict_proba, string labels, clone, GridSearchCV,
pickle/joblib), seeding, clear errors, and a CUDA fit that loads on the CPU.
"""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone, is_classifier  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from skcanon._end_to_end import EndToEndEquivariantClassifier  # noqa: E402
from skcanon.groups import get_group  # noqa: E402
from skcanon.layouts import PointLayout  # noqa: E402

TINY = dict(max_epochs=3, module__hidden=8, module__backbone_hidden=16)


def _data(n=96, m=6, seed=0):
    """Elongated vs flat clouds in random SE(3) poses: a label that only an invariant
    reading of the shape can give."""
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 2 == 0, "rod", "disk")
    scales = np.where((y == "rod")[:, None], [4.0, 0.5, 0.5], [2.5, 2.5, 0.3])
    P = rng.normal(size=(n, m, 3)) * scales[:, None, :]
    G = get_group("SE3")
    X = G.apply(G.sample(n, random_state=seed), P.reshape(n, -1), PointLayout(3))
    return X.astype(np.float32), y


def test_learns_an_invariant_label_and_follows_sklearn_conventions():
    X, y = _data(200)
    X, y, X_test, y_test = X[:150], y[:150], X[150:], y[150:]
    model = EndToEndEquivariantClassifier(max_epochs=40, lr=3e-3, random_state=0).fit(X, y)
    assert is_classifier(model)
    assert model.classes_.tolist() == ["disk", "rod"]
    proba = model.predict_proba(X_test)
    assert proba.shape == (50, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    pred = model.predict(X_test)
    assert pred.dtype.kind == "U" and set(pred) <= {"disk", "rod"}
    np.testing.assert_array_equal(pred, model.classes_[proba.argmax(1)])
    # the learned frame generalises to new poses; the same backbone without it does not
    plain = EndToEndEquivariantClassifier(max_epochs=40, lr=3e-3, random_state=0,
                                          module__frame="identity").fit(X, y)
    assert model.score(X_test, y_test) >= max(0.7, plain.score(X_test, y_test) + 0.2)


@pytest.mark.parametrize("backbone", ["mlp", "message_passing"])
def test_class_scores_are_invariant(backbone):
    X, y = _data()
    model = EndToEndEquivariantClassifier(random_state=0, module__backbone=backbone, **TINY).fit(X, y)
    n = len(X)
    G = get_group("SE3xS_n" if backbone == "message_passing" else "SE3")
    moved = G.apply(G.sample(n, random_state=3, n_points=6), X.astype(np.float64),
                    PointLayout(3)).astype(np.float32)
    a, b = model.predict_proba(X), model.predict_proba(moved)
    assert np.median(np.abs(a - b).max(1)) <= 1e-4 and np.mean(np.abs(a - b).max(1) <= 1e-3) >= 0.9


def test_seeded_pickled_cloned_and_grid_searched(tmp_path):
    import joblib

    X, y = _data()
    a = EndToEndEquivariantClassifier(random_state=5, **TINY).fit(X, y)
    b = EndToEndEquivariantClassifier(random_state=5, **TINY).fit(X, y)
    c = EndToEndEquivariantClassifier(random_state=6, **TINY).fit(X, y)
    pa = a.predict_proba(X)
    np.testing.assert_array_equal(pa, b.predict_proba(X))
    assert not np.array_equal(pa, c.predict_proba(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(a)).predict_proba(X), pa)
    joblib.dump(a, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), pa)
    np.testing.assert_array_equal(loaded.classes_, a.classes_)
    assert clone(a).get_params()["random_state"] == 5
    grid = GridSearchCV(EndToEndEquivariantClassifier(random_state=0, max_epochs=2),
                        {"module__hidden": [4, 8]}, cv=2).fit(X, y)
    assert grid.best_params_["module__hidden"] in (4, 8)


def test_integer_labels_and_explicit_classes():
    X, _ = _data()
    y = np.arange(len(X)) % 3 + 10
    model = EndToEndEquivariantClassifier(random_state=0, **TINY).fit(X, y)
    assert model.classes_.tolist() == [10, 11, 12]
    assert set(model.predict(X)) <= {10, 11, 12}
    wider = EndToEndEquivariantClassifier(random_state=0, classes=[10, 11, 12, 13], **TINY).fit(X, y)
    assert wider.predict_proba(X).shape == (len(X), 4)


def test_clear_errors():
    X, y = _data(32)
    est = EndToEndEquivariantClassifier(**TINY)
    with pytest.raises(ValueError, match="requires y"):
        est.fit(X, None)
    with pytest.raises(ValueError, match="at least 2 classes"):
        est.fit(X, np.zeros(32))
    with pytest.raises(ValueError, match="label type"):
        est.fit(X, np.linspace(0, 1, 32))
    with pytest.raises(ValueError, match="samples"):
        est.fit(X, y[:10])
    with pytest.raises(ValueError, match="multiple of the 3"):
        est.fit(X[:, :-1], y)
    with pytest.raises(ValueError, match="not in classes"):
        EndToEndEquivariantClassifier(classes=["rod"], **TINY).fit(X, y)
    with pytest.raises(ValueError, match=r"module__group must be O\(d\)"):
        EndToEndEquivariantClassifier(module__group="S_n", **TINY).fit(X, y)
    model = EndToEndEquivariantClassifier(random_state=0, **TINY).fit(X, y)
    with pytest.raises(ValueError, match="fitted on 6 points"):
        model.predict(X[:, :9])
    with pytest.raises(AttributeError, match="not fitted"):
        EndToEndEquivariantClassifier().classes_
    # a module dimension of 0 is named as the module parameter it is (it said "n_dims")
    with pytest.raises(ValueError, match="module__n_dims must be a positive int; got 0"):
        EndToEndEquivariantClassifier(module__n_dims=0, **TINY).fit(X, y)
    # a new label in a later partial_fit: the fix is to name the labels up front
    online = EndToEndEquivariantClassifier(random_state=0, **TINY)
    online.partial_fit(X, np.arange(32) % 2)
    with pytest.raises(ValueError, match=r"does not know: .*classes=\[\.\.\.\] in the first partial_fit"):
        online.partial_fit(X, np.arange(32) % 3)
    online = EndToEndEquivariantClassifier(random_state=0, **TINY)
    online.partial_fit(X, np.arange(32) % 2, classes=[0, 1, 2])
    online.partial_fit(X, np.arange(32) % 3)
    assert online.classes_.tolist() == [0, 1, 2]


def test_absent_points_and_frames():
    X, y = _data(48)
    X = X.reshape(48, 6, 3).copy()
    X[::3, -1] = np.nan   # ragged clouds: absent last point
    X = X.reshape(48, -1)
    for frame in ("learned", "identity", "augment", "symmetrize"):
        model = EndToEndEquivariantClassifier(random_state=0, module__frame=frame, **TINY).fit(X, y)
        assert np.isfinite(model.predict_proba(X)).all()


def test_fit_restores_the_callers_thread_count():
    X, y = _data(32)
    before = torch.get_num_threads()
    EndToEndEquivariantClassifier(random_state=0, **TINY).fit(X, y).predict(X)
    assert torch.get_num_threads() == before


@pytest.mark.gpu
def test_cuda_fit_loads_and_predicts_on_cpu(tmp_path):
    import subprocess
    import sys

    X, y = _data()
    model = EndToEndEquivariantClassifier(random_state=0, device="cuda", **TINY).fit(X, y)
    proba = model.predict_proba(X)
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(model))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "p.npy", proba)
    code = ("import os, pickle, numpy as np; os.environ['CUDA_VISIBLE_DEVICES']=''; "
            f"m = pickle.loads(open(r'{path}', 'rb').read()); m.set_params(device='cpu'); "
            f"X = np.load(r'{tmp_path / 'X.npy'}'); p = np.load(r'{tmp_path / 'p.npy'}'); "
            "assert np.allclose(m.predict_proba(X), p, atol=1e-4), 'CPU and CUDA scores differ'")
    subprocess.run([sys.executable, "-c", code], check=True, env={"CUDA_VISIBLE_DEVICES": "",
                                                                  "PATH": __import__("os").environ["PATH"]})


def test_sklearn_input_conventions():
    """Messages and behaviours scikit-learn's own checks look for (the remaining failures of
    check_estimator are skorch's: module__ parameters set in fit, raw partial_fit)."""
    from sklearn.exceptions import DataConversionWarning, NotFittedError

    X, y = _data(32)
    with pytest.raises(NotFittedError):
        EndToEndEquivariantClassifier().predict(X)
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        EndToEndEquivariantClassifier(**TINY).fit(X[:0], y[:0])
    with pytest.raises(ValueError, match=r"0 feature\(s\)"):
        EndToEndEquivariantClassifier(**TINY).fit(X[:, :0], y)
    with pytest.raises(ValueError, match="Complex data not supported"):
        EndToEndEquivariantClassifier(**TINY).fit(X.astype(complex), y)
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        EndToEndEquivariantClassifier(**TINY).fit(bad, y)
    with pytest.warns(DataConversionWarning):
        model = EndToEndEquivariantClassifier(random_state=0, **TINY).fit(X, y[:, None])
    assert model.n_features_in_ == X.shape[1]
    with pytest.raises(ValueError, match="X has 9 features, but"):
        model.predict_proba(X[:, :9])
    assert model.__sklearn_tags__().input_tags.allow_nan


@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
@pytest.mark.parametrize("device", ["tpu", "auto", 3])
def test_device_checked_before_any_work(estimator, device):
    from skcanon._end_to_end import EndToEndEquivariantRegressor

    X = np.random.default_rng(0).normal(size=(6, 9))
    est, y = ((EndToEndEquivariantClassifier(device=device), np.arange(6) % 2) if estimator == "classifier"
              else (EndToEndEquivariantRegressor(device=device), X))
    with pytest.raises(ValueError, match="device"):
        est.fit(X, y)


@pytest.mark.parametrize("group", ["E3", "SE3", "O3"])
def test_the_learned_frame_keeps_class_scores_of_symmetric_clouds(group):
    """The learned frame ran its tie rules with float64 tolerances on the module's float32
    data: rounding noise counted as an axis, and a cube or a regular octagon got other class
    scores in other poses (up to 0.23 after 10 epochs). The rules now follow the input's
    rounding, as the anchored frame's do."""
    rng = np.random.RandomState(0)
    cube = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], float)
    angles = np.arange(8) * 2 * np.pi / 8
    octagon = np.stack([np.cos(angles), np.sin(angles), 0 * angles], 1)
    model = EndToEndEquivariantClassifier(module__group=group, max_epochs=10, random_state=0,
                                          module__hidden=8).fit(rng.randn(40, 24), np.arange(40) % 2)
    G = get_group(group)
    for shape in (cube, octagon):
        moved = G.apply(G.sample(20, random_state=1), np.tile(shape.reshape(1, -1), (20, 1)), PointLayout(3))
        scores = model.predict_proba(moved)
        np.testing.assert_allclose(scores, np.tile(model.predict_proba(shape.reshape(1, -1)), (20, 1)), atol=1e-5)


@pytest.mark.parametrize("classes, match", [([0, 1, 1], "repeated labels"), ([[0, 1]], "1-D list"),
                                            ("ab", "1-D list")])
def test_bad_classes_are_refused_by_name(classes, match):
    """A repeated label in ``classes`` got an output column that no sample trains (three
    probability columns for two classes, ``classes_ = [0, 1, 1]``); a nested list failed as
    "only one class: array([0, 1])", a string as "y contains labels not in classes"."""
    X, y = _data(24)
    labels = np.searchsorted(np.unique(y), y)
    est = EndToEndEquivariantClassifier(classes=classes, **TINY)
    with pytest.raises(ValueError, match=f"^classes .*{match}"):
        est.fit(X, labels if classes != "ab" else np.array(list("ab"))[labels])
    assert not getattr(est, "initialized_", False)
    model = EndToEndEquivariantClassifier(classes=[1, 0], **TINY).fit(X, labels)
    assert model.classes_.tolist() == [1, 0] and model.predict_proba(X).shape == (24, 2)
