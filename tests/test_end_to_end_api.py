"""The end-to-end estimators as scikit-learn and skorch users drive them.

* ``PointLayout(columns=...)``: named columns in any order are read point by point, so
  predictions stay equivariant;
* ``warm_start=True`` trains the fitted module further (a refit with ``lr=0`` changes
  nothing); a refit never draws from the caller's global torch RNG; data that no longer
  fit the module get a clear error;
* ``partial_fit`` continues training (``classes`` on the first call), whatever
  ``warm_start`` says;
* skorch's ``EpochScoring`` callbacks score during ``fit``;
* pandas' nullable dtypes (``Float64`` with NA) are accepted;
* ``score`` of the regressor is R² over the finite targets (absent points are NaN), so
  ``cross_val_score`` works with absent points; finite targets at absent input points
  are refused (the network predicts nothing there);
* ``predict`` gives the caller's labels outside ``fit`` (skorch ``Dataset`` input included),
  and snapshots taken during ``fit`` carry nothing of the class codes used there;
* a DataFrame's column names are checked at prediction (``feature_names_in_``); torch
  tensors are accepted.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skorch.callbacks import Callback  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402

from skcanon._end_to_end import EndToEndEquivariantClassifier, EndToEndEquivariantRegressor  # noqa: E402
from skcanon.groups import get_group  # noqa: E402
from skcanon.layouts import PointLayout  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(max_epochs=2, module__hidden=8, module__backbone_hidden=16, random_state=0)


def _clouds(n=40, m=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, m, 3)) * [3.0, 2.0, 1.0]


def test_columns_layout_is_read_point_by_point():
    P = _clouds()
    n, m = P.shape[:2]
    cols = [f"{c}{i}" for c in "xyz" for i in range(m)]           # x0 x1 x2 x3 y0 ... z3
    layout = PointLayout(3, columns=cols)
    by_axis = lambda Q: Q.transpose(0, 2, 1).reshape(len(Q), -1)  # noqa: E731
    G = get_group("SE3")
    g = G.sample(n, random_state=1)
    moved = G.apply(g, P.reshape(n, -1), PointLayout(3)).reshape(n, m, 3)
    reg = EndToEndEquivariantRegressor(module__layout=layout, **TINY).fit(by_axis(P), P.mean(1))
    err = np.abs(reg.predict(by_axis(moved)) - G.apply(g, reg.predict(by_axis(P)), PointLayout(3))).max()
    assert err < 1e-4
    # the same model as one fitted on point-major columns
    plain = EndToEndEquivariantRegressor(**TINY).fit(P.reshape(n, -1), P.mean(1))
    np.testing.assert_allclose(reg.predict(by_axis(P)), plain.predict(P.reshape(n, -1)), atol=1e-5)
    clf = EndToEndEquivariantClassifier(module__layout=layout, **TINY).fit(by_axis(P), np.arange(n) % 2)
    np.testing.assert_allclose(clf.predict_proba(by_axis(moved)), clf.predict_proba(by_axis(P)), atol=1e-4)


def test_warm_start_trains_the_fitted_module_further():
    X = _clouds().reshape(40, -1)
    reg = EndToEndEquivariantRegressor(warm_start=True, **TINY).fit(X, 2 * X)
    before = reg.predict(X)
    reg.set_params(lr=0.0).fit(X, 2 * X)
    np.testing.assert_array_equal(reg.predict(X), before)
    reg.set_params(lr=1e-2).fit(X, 2 * X)
    assert np.abs(reg.predict(X) - before).max() > 1e-4          # it does train
    with pytest.raises(ValueError, match="warm_start=True.*n_points: fitted 4, now 3"):
        reg.fit(X[:, :9], 2 * X[:, :9])
    clf = EndToEndEquivariantClassifier(warm_start=True, **TINY).fit(X, np.arange(40) % 2)
    with pytest.raises(ValueError, match="labels the fitted model does not know"):
        clf.fit(X, np.arange(40) % 3)


def test_refit_leaves_the_callers_torch_rng_alone():
    X = _clouds().reshape(40, -1)
    reg = EndToEndEquivariantRegressor(**TINY).fit(X, 2 * X)
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    reg.fit(X, 2 * X)
    assert torch.equal(torch.rand(3), expected)


def test_partial_fit_continues_training():
    X = _clouds().reshape(40, -1).astype(np.float32)
    reg = EndToEndEquivariantRegressor(**TINY)
    reg.partial_fit(X, 2 * X)
    before = reg.predict(X)
    reg.set_params(lr=0.0).partial_fit(X, 2 * X)
    np.testing.assert_array_equal(reg.predict(X), before)
    assert reg.warm_start is False
    y = np.where(np.arange(40) % 2, "a", "b")
    clf = EndToEndEquivariantClassifier(**TINY).partial_fit(X[:20], y[:20], classes=["a", "b", "c"])
    assert clf.classes_.tolist() == ["a", "b", "c"]
    clf.partial_fit(X, np.where(np.arange(40) % 3 == 0, "c", y))     # "c" first seen here
    assert clf.predict_proba(X).shape == (40, 3)
    ints = EndToEndEquivariantClassifier(**TINY).fit(X, np.arange(40) % 2 + 1).partial_fit(X, np.arange(40) % 2 + 1)
    assert set(ints.predict(X)) <= {1, 2}


def test_epoch_scoring_callbacks_score_during_fit():
    from skorch.callbacks import EpochScoring
    from skorch.dataset import ValidSplit

    X = _clouds().reshape(40, -1)
    for est, y, scoring in ((EndToEndEquivariantClassifier, np.where(np.arange(40) % 2, "a", "b"), "accuracy"),
                            (EndToEndEquivariantRegressor, 2 * X, "r2")):
        model = est(train_split=ValidSplit(0.25), callbacks=[EpochScoring(scoring, lower_is_better=False, name="s")],
                    **TINY).fit(X, y)
        scores = model.history[:, "s"]
        assert len(scores) == 2 and np.isfinite(scores).all() and max(scores) <= 1.0


def test_pandas_nullable_dtypes():
    pd = pytest.importorskip("pandas")
    X = _clouds().reshape(40, -1)
    X[0, 9:12] = np.nan                                                  # an absent point
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(12)]).astype("Float64")
    df.iloc[0, 9:12] = pd.NA
    reg = EndToEndEquivariantRegressor(module__backbone="message_passing", **TINY).fit(df, X)
    np.testing.assert_array_equal(reg.predict(df), reg.predict(pd.DataFrame(X, columns=df.columns)))
    clf = EndToEndEquivariantClassifier(**TINY).fit(df, pd.Series(np.arange(40) % 2, dtype="Int64"))
    assert clf.predict(df).shape == (40,)


def test_score_with_absent_points_and_clashing_targets():
    P = _clouds(30, 5)
    P[::3, -1] = np.nan
    X = P.reshape(30, -1)
    reg = EndToEndEquivariantRegressor(module__backbone="message_passing", **TINY).fit(X, 2 * X)
    pred, y = reg.predict(X), 2 * X
    cols = [r2_score(y[np.isfinite(y[:, k]), k], pred[np.isfinite(y[:, k]), k]) for k in range(y.shape[1])]
    assert reg.score(X, y) == pytest.approx(np.mean(cols))
    full = EndToEndEquivariantRegressor(**TINY).fit(X[1::3], 2 * X[1::3])
    assert full.score(X[1::3], 2 * X[1::3]) == pytest.approx(r2_score(2 * X[1::3], full.predict(X[1::3])))
    assert np.isfinite(cross_val_score(EndToEndEquivariantRegressor(module__backbone="message_passing", **TINY),
                                       X, y, cv=3)).all()
    with pytest.raises(ValueError, match="finite target at point 4 of sample 0, which X marks absent"):
        EndToEndEquivariantRegressor(module__backbone="message_passing", **TINY).fit(X, np.nan_to_num(y))


def test_set_params_of_the_module_on_a_fitted_estimator_waits_for_fit():
    """skorch rebuilt the module inside ``set_params`` with the shapes of the last fit, so a
    valid new setting (another backbone, images instead of points) raised there. Now the
    estimator is unfitted until the next ``fit`` builds the module; other parameters (``lr``)
    keep the fit."""
    from sklearn.exceptions import NotFittedError

    X = _clouds().reshape(40, -1)
    reg = EndToEndEquivariantRegressor(**TINY).fit(X, X[:, :3])
    reg.set_params(lr=1e-2)
    reg.predict(X)
    reg.set_params(module__backbone="message_passing")
    with pytest.raises(NotFittedError):
        reg.predict(X)
    assert reg.fit(X, 2 * X).predict(X).shape == (40, 12)
    clf = EndToEndEquivariantClassifier(**TINY).fit(X, np.arange(40) % 2)
    clf.set_params(module__layout="image", module__group="C4")
    images = np.random.default_rng(0).random((20, 8 * 8))
    assert clf.fit(images, np.arange(20) % 2).predict(images).shape == (20,)


def test_set_params_with_the_values_it_has_keeps_the_fit():
    """``set_params(**get_params())`` (or a grid point repeating the fitted values) passed
    every ``module__`` value back, which unfitted the estimator (before that, skorch rebuilt
    the module with fresh weights). Unchanged values now keep the trained module; a changed
    one still waits for ``fit``."""
    from sklearn.exceptions import NotFittedError

    X = _clouds().reshape(40, -1)
    for est, y in ((EndToEndEquivariantRegressor(**TINY), X[:, :3]),
                   (EndToEndEquivariantClassifier(**TINY), np.arange(40) % 2)):
        est.fit(X, y)
        before = est.predict(X)
        module = est.module_
        est.set_params(**est.get_params())
        est.set_params(module__hidden=8, module__n_points=4)
        assert est.module_ is module
        np.testing.assert_array_equal(est.predict(X), before)
        est.set_params(module__hidden=est.get_params()["module__hidden"] + 1)
        with pytest.raises(NotFittedError):
            est.predict(X)


class _Snapshot(Callback):
    """Snapshots the net at the end of each epoch (as skorch's Checkpoint does)."""
    seen = {}

    def on_epoch_end(self, net, **kwargs):
        import copy
        import pickle

        self.seen.update(params=net.get_params(deep=False), pickle=pickle.dumps(net), copy=copy.deepcopy(net))


def test_labels_outside_fit_and_nothing_of_fit_in_snapshots():
    """During ``fit`` skorch's scoring callbacks see the class codes the network trains on;
    outside it ``predict`` gives the caller's labels, a skorch ``Dataset`` included, and a
    snapshot taken during ``fit`` (a Checkpoint's pickle, ``get_params``, a deepcopy) carries
    nothing of that switch."""
    import pickle

    from skorch.dataset import Dataset

    X = _clouds().reshape(40, -1).astype(np.float32)
    y = np.where(np.arange(40) % 2, "a", "b")
    seen = _Snapshot.seen
    clf = EndToEndEquivariantClassifier(**TINY).fit(X, y)
    assert set(clf.predict(Dataset(X, None))) <= {"a", "b"}
    np.testing.assert_array_equal(clf.predict(Dataset(X, None)), clf.predict(X))
    clf = EndToEndEquivariantClassifier(callbacks=[_Snapshot()], warm_start=True, **TINY).fit(X, y).fit(X, y)
    assert not any("codes" in name for name in seen["params"])
    for snap in (pickle.loads(seen["pickle"]), seen["copy"]):
        assert snap.classes_.tolist() == ["a", "b"]
        assert set(snap.predict(X)) <= {"a", "b"}


def test_dataframe_columns_are_checked_at_predict():
    """Columns in another order would be read as other points: refused, as scikit-learn's
    estimators refuse them; the names of fit are kept in ``feature_names_in_``."""
    pd = pytest.importorskip("pandas")
    X = _clouds().reshape(40, -1)
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(12)])
    shuffled = df[df.columns[::-1]]
    reg = EndToEndEquivariantRegressor(**TINY).fit(df, X)
    clf = EndToEndEquivariantClassifier(**TINY).fit(df, np.arange(40) % 2)
    for model, method in ((reg, "predict"), (clf, "predict"), (clf, "predict_proba")):
        assert list(model.feature_names_in_) == list(df.columns)
        getattr(model, method)(df)
        with pytest.raises(ValueError, match="feature names"):
            getattr(model, method)(shuffled)
        with pytest.warns(UserWarning, match="does not have valid feature names"):
            getattr(model, method)(X)
    with pytest.raises(ValueError, match="feature names"):
        reg.set_params(warm_start=True).fit(shuffled, X)
    assert not hasattr(EndToEndEquivariantRegressor(**TINY).fit(X, X), "feature_names_in_")


def test_torch_tensors_are_accepted():
    X = _clouds().reshape(40, -1).astype(np.float32)
    T = torch.from_numpy(X)
    reg = EndToEndEquivariantRegressor(**TINY).fit(T, T[:, :3])
    np.testing.assert_array_equal(reg.predict(T), EndToEndEquivariantRegressor(**TINY).fit(X, X[:, :3]).predict(X))
    y = np.arange(40) % 2
    clf = EndToEndEquivariantClassifier(**TINY).fit(T, torch.from_numpy(y))
    np.testing.assert_array_equal(clf.predict_proba(T), EndToEndEquivariantClassifier(**TINY).fit(X, y).predict_proba(X))
    images = torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    img = EndToEndEquivariantClassifier(module__layout="image", module__group="C4", **TINY)
    assert img.fit(images, torch.arange(20) % 2).predict(images).shape == (20,)
    # the canonicalizer reads tensors as arrays too, keeping float32
    from skcanon import CanonicalizerTransformer

    canon = CanonicalizerTransformer("SE3", "pca").fit(X)
    out = canon.transform(T)
    assert out.dtype == np.float32 and isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, canon.transform(X))


# -- review fixes -----------------------------------------------------------------------------
def test_3d_input_with_another_point_width_is_refused():
    """A 3-D X whose last axis is not the layout's point width was flattened and read as
    other points (fit, predict and predict_proba accepted (n, 6, 2) for 3-D points)."""
    P = _clouds(16)
    bad = P.reshape(16, 6, 2)
    with pytest.raises(ValueError, match=r"3-D X must have shape \(n_samples, n_points, 3\)"):
        EndToEndEquivariantRegressor(**TINY).fit(bad, P.reshape(16, -1))
    reg = EndToEndEquivariantRegressor(**TINY).fit(P, P.reshape(16, -1))
    with pytest.raises(ValueError, match="3-D X must have shape"):
        reg.predict(bad)
    with pytest.raises(ValueError, match="3-D y must have shape"):
        EndToEndEquivariantRegressor(**TINY).fit(P, P.reshape(16, 2, 6))
    clf = EndToEndEquivariantClassifier(**TINY).fit(P, np.arange(16) % 2)
    with pytest.raises(ValueError, match="3-D X must have shape"):
        clf.predict_proba(P.reshape(16, 2, 6))


@pytest.mark.parametrize("name, value", [("hidden", 0), ("hidden", -1), ("hidden", 2.5), ("hidden", True),
                                         ("backbone_hidden", 0), ("backbone_hidden", 2.5)])
@pytest.mark.parametrize("cls", [EndToEndEquivariantRegressor, EndToEndEquivariantClassifier])
def test_widths_are_checked(cls, name, value):
    """module__hidden=0/True fitted silently; -1 failed deep in torch."""
    P = _clouds(12)
    y = P.reshape(12, -1) if cls is EndToEndEquivariantRegressor else np.arange(12) % 2
    with pytest.raises(ValueError, match=f"module__{name} must be a positive int"):
        cls(**{**TINY, f"module__{name}": value}).fit(P, y)


def test_batches_without_finite_targets_keep_the_loss_finite():
    """A batch whose targets were all absent made the loss NaN (the mean of nothing), and an
    all-NaN y fitted without a word."""
    P = _clouds(16)
    y = P.reshape(16, -1).copy()
    y[:8] = np.nan                                  # the first batch has no target at all
    reg = EndToEndEquivariantRegressor(**{**TINY, "batch_size": 8}, train_split=None,
                                       iterator_train__shuffle=False).fit(P, y)
    assert all(np.isfinite(h["train_loss"]) for h in reg.history_)
    with pytest.raises(ValueError, match="no finite entry"):
        EndToEndEquivariantRegressor(**TINY).fit(P, np.full_like(y, np.nan))


def test_score_checks_y_and_sample_weight():
    P = _clouds(16)
    reg = EndToEndEquivariantRegressor(**TINY).fit(P, P.reshape(16, -1))
    with pytest.raises(ValueError, match=r"y must have shape \(16, 12\)"):
        reg.score(P, P.reshape(16, -1)[:, :6])
    with pytest.raises(ValueError, match=r"y must have shape \(16, 12\)"):
        reg.score(P, P.reshape(16, -1)[:10])
    with pytest.raises(ValueError, match="sample_weight"):
        reg.score(P, P.reshape(16, -1), sample_weight=np.ones(3))


class _PickleEachEpoch(Callback):
    def initialize(self):
        self.snapshots = []
        return self

    def on_epoch_end(self, net, **kwargs):
        import pickle

        self.snapshots.append(pickle.dumps(net))


def test_a_snapshot_taken_during_fit_is_a_fitted_model():
    """A net pickled during its first fit (skorch's Checkpoint) had no labels_ or
    categories_: its predict raised, or re-learned the categories from the batch."""
    import pickle

    from skcanon.layouts import Field

    layout = PointLayout(3, [Field("pos", "position", 3), Field("el", "scalar", 1, categorical=True)])
    rng = np.random.default_rng(0)
    X = np.concatenate([_clouds(16), rng.choice([1.0, 6.0, 8.0], size=(16, 4, 1))], 2).reshape(16, -1)
    labels = np.array(["cat", "dog"])[np.arange(16) % 2]
    saver = _PickleEachEpoch()
    clf = EndToEndEquivariantClassifier(**{**TINY, "max_epochs": 1}, module__layout=layout,
                                        callbacks=[saver]).fit(X, labels)
    snap = pickle.loads(saver.snapshots[-1])
    assert set(snap.predict(X)) <= {"cat", "dog"}
    np.testing.assert_allclose(snap.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    only_ones = X.copy()
    only_ones[:, 3::4] = 1.0                        # a batch with one element: codes as in fit
    np.testing.assert_allclose(snap.predict_proba(only_ones), clf.predict_proba(only_ones), atol=1e-6)
    unseen = X.copy()
    unseen[0, 3] = 7.0
    with pytest.raises(ValueError, match="not seen in fit"):
        snap.predict(unseen)


class _FailAtEpochEnd(Callback):
    def on_epoch_end(self, net, **kwargs):
        raise RuntimeError("callback failed")


@pytest.mark.parametrize("cls", [EndToEndEquivariantRegressor, EndToEndEquivariantClassifier])
def test_sample_weight_is_refused_and_a_failed_fit_leaves_no_half_model(cls):
    """fit(sample_weight=w) failed in the module's forward with a torch message and left
    initialized_=True, so predict answered from an untrained module; any failing fit did."""
    from sklearn.exceptions import NotFittedError

    P = _clouds(12)
    y = P.reshape(12, -1) if cls is EndToEndEquivariantRegressor else np.arange(12) % 2
    est = cls(**TINY)
    with pytest.raises(ValueError, match="does not take sample_weight"):
        est.fit(P, y, sample_weight=np.ones(12))
    with pytest.raises(NotFittedError):
        est.predict(P)
    fitted = cls(**TINY).fit(P, y)
    before = fitted.predict(P)
    fitted.set_params(callbacks=[_FailAtEpochEnd()])
    with pytest.raises(RuntimeError, match="callback failed"):
        fitted.fit(P, y)
    np.testing.assert_array_equal(fitted.predict(P), before)


def test_dataframes_are_read_by_their_point_names():
    """Every other estimator reads x0..x3, y0..y3, z0..z3 by name; the end-to-end ones read
    them in column order, so their outputs stopped being invariant (0.19) or equivariant."""
    pd = pytest.importorskip("pandas")
    P = _clouds(30)
    names = [f"{c}{i}" for c in "xyz" for i in range(4)]
    frame = lambda Q: pd.DataFrame(Q.transpose(0, 2, 1).reshape(len(Q), -1), columns=names)  # noqa: E731
    G = get_group("SO3")
    g = G.sample(30, random_state=1)
    moved = G.apply(g, P.reshape(30, -1), PointLayout(3)).reshape(30, 4, 3)
    clf = EndToEndEquivariantClassifier(**TINY).fit(frame(P), np.arange(30) % 2)
    np.testing.assert_allclose(clf.predict_proba(frame(moved)), clf.predict_proba(frame(P)), atol=1e-5)
    # targets in a DataFrame are read by name too, and predictions come back in its order
    reg = EndToEndEquivariantRegressor(**TINY).fit(frame(P), frame(P))
    plain = EndToEndEquivariantRegressor(**TINY).fit(P.reshape(30, -1), P.reshape(30, -1))
    expected = plain.predict(P.reshape(30, -1)).reshape(30, 4, 3).transpose(0, 2, 1).reshape(30, -1)
    np.testing.assert_allclose(reg.predict(frame(P)), expected, atol=1e-5)


@pytest.mark.parametrize("group, kind", [("SE3", "position"), ("E3", "vector")])
def test_predictions_keep_their_precision_far_from_the_origin(group, kind):
    # the cast to float32 happened before the frame network subtracted the centroid: at an
    # offset of 1e6 (spread 3) regressor predictions moved by up to 7.1 and 35 % of the
    # classifier's labels flipped. Translating groups now centre in float64 first.
    rs = np.random.default_rng(0)
    X = rs.normal(size=(40, 12)) * np.tile([3.0, 2.0, 1.0], 4)
    kw = dict(TINY, lr=1e-2, module__group=group)
    reg = EndToEndEquivariantRegressor(module__target_kind=kind, **kw).fit(X, 2 * X)
    clf = EndToEndEquivariantClassifier(**kw).fit(X, np.arange(40) % 2)
    t = np.tile([1e6, -1e6, 5e5], 4)
    moves = t if kind == "position" else 0.0   # vectors do not translate
    pred = reg.predict(X)
    assert pred.dtype == np.float64
    np.testing.assert_allclose(reg.predict(X + t), pred + moves, atol=1e-6, rtol=0)
    np.testing.assert_allclose(clf.predict_proba(X + t), clf.predict_proba(X), atol=1e-6, rtol=0)
    # training on the moved data learns what training at the origin does, up to float32
    # rounding that training amplifies (before: the moved data reached it with a resolution
    # of 0.06, the cloud's size was lost)
    far = EndToEndEquivariantRegressor(module__target_kind=kind, **kw).fit(X + t, 2 * X + moves)
    np.testing.assert_allclose(far.predict(X + t) - moves, pred, atol=0.02 * np.abs(pred).max(), rtol=0)


@pytest.mark.parametrize("cls", [EndToEndEquivariantRegressor, EndToEndEquivariantClassifier])
def test_parameters_are_stored_as_given(cls):
    """The documented defaults ``module=None`` and ``criterion=None`` were replaced by classes
    in ``__init__``, so ``get_params()`` did not return what the signature and the docs said
    (scikit-learn's convention: ``__init__`` stores its arguments unchanged)."""
    import inspect

    signature = inspect.signature(cls.__init__).parameters
    params = cls().get_params()
    for name in ("module", "criterion", "max_epochs", "lr", "batch_size", "train_split", "random_state", "n_jobs"):
        assert params[name] is signature[name].default, name
        assert f"{name} : " in cls.__doc__
    doc = cls.__doc__
    assert f"default={signature['criterion'].default.__name__}" in doc
    assert doc.index("module : ") < doc.index("criterion : ") < doc.index("max_epochs : ")


def test_arrays_after_a_dataframe_fit_are_read_in_the_columns_order():
    """After a fit on named columns (``x0..x3, y0..y3, z0..z3``, read by name) an array was
    read point-major, so ``predict(df)`` and ``predict(df.to_numpy())`` differed by 3.5 with
    only scikit-learn's warning; ``score`` read a ``y`` DataFrame by position (R² 0.99 against
    −1.96 for the same targets with reordered columns); ``partial_fit`` read an array ``y``
    after a named ``y`` point-major."""
    import copy
    import warnings

    pd = pytest.importorskip("pandas")
    P = _clouds(20)
    names = [f"{c}{i}" for c in "xyz" for i in range(4)]
    point_major = [f"{c}{i}" for i in range(4) for c in "xyz"]
    frame = lambda Q: pd.DataFrame(Q.transpose(0, 2, 1).reshape(len(Q), -1), columns=names)  # noqa: E731
    X = P.reshape(20, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # scikit-learn's note on the missing names
        reg = EndToEndEquivariantRegressor(**TINY).fit(frame(P), X)
        np.testing.assert_array_equal(reg.predict(frame(P).to_numpy()), reg.predict(frame(P)))
        clf = EndToEndEquivariantClassifier(**TINY).fit(frame(P), np.arange(20) % 2)
        np.testing.assert_array_equal(clf.predict_proba(frame(P).to_numpy()), clf.predict_proba(frame(P)))
        # and the other way round: fit on an array, predict on the named DataFrame
        plain = EndToEndEquivariantRegressor(**TINY).fit(X, X)
        np.testing.assert_allclose(plain.predict(frame(P)), plain.predict(X), atol=1e-6)
    Y = frame(2 * P)
    reg = EndToEndEquivariantRegressor(max_epochs=40, lr=1e-2, random_state=0).fit(X, Y)
    assert reg.score(X, Y) == pytest.approx(reg.score(X, Y[point_major]), abs=1e-9)
    a, b = reg, copy.deepcopy(reg)
    a.partial_fit(X, Y)
    b.partial_fit(X, Y.to_numpy())
    np.testing.assert_allclose(b.predict(X), a.predict(X), atol=1e-6)
    # y DataFrames whose names name no points are read by position, as arrays
    assert a.score(X, pd.DataFrame(Y.to_numpy())) == pytest.approx(a.score(X, Y), abs=1e-9)
    with pytest.raises(ValueError, match="n_outputs: fitted 12, now 9"):   # another width: refused
        a.partial_fit(X, Y.to_numpy()[:, :9])


def test_monitoring_callbacks_need_a_validation_split():
    """``EarlyStopping()`` under the default ``train_split=None`` failed after the first
    epoch with skorch's ``KeyError: 'valid_loss'``."""
    from skorch.callbacks import EarlyStopping
    from skorch.dataset import ValidSplit

    X = _clouds(20).reshape(20, -1)
    with pytest.raises(ValueError, match="train_split"):
        EndToEndEquivariantRegressor(callbacks=[EarlyStopping()], **TINY).fit(X, X)
    with pytest.raises(ValueError, match="train_split"):
        EndToEndEquivariantClassifier(callbacks=[("stop", EarlyStopping())], **TINY).fit(X, np.arange(20) % 2)
    EndToEndEquivariantRegressor(callbacks=[EarlyStopping(monitor="train_loss")], **TINY).fit(X, X)
    EndToEndEquivariantRegressor(callbacks=[EarlyStopping()], train_split=ValidSplit(4), **TINY).fit(X, X)


def test_module_instances_and_your_own_modules():
    """An instance of the package's module was silently rebuilt from fit's shapes with the
    default settings (its group and width lost); a module class of your own failed with
    ``TypeError: unexpected keyword argument 'n_points'``."""
    from skcanon._end_to_end import EquivariantModule

    X = _clouds(20).reshape(20, -1).astype(np.float32)
    with pytest.raises(ValueError, match="instance of EquivariantModule.*module__"):
        EndToEndEquivariantRegressor(module=EquivariantModule(group="O3", n_points=4, n_outputs=12),
                                     max_epochs=1).fit(X, X)

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(12, 12)

        def forward(self, X):
            return self.linear(X)

    class Sized(torch.nn.Module):
        def __init__(self, n_outputs=1):
            super().__init__()
            self.linear = torch.nn.Linear(12, n_outputs)

        def forward(self, X):
            return self.linear(X)

    assert EndToEndEquivariantRegressor(module=Linear, max_epochs=1).fit(X, X).predict(X).shape == (20, 12)
    assert EndToEndEquivariantRegressor(module=Linear(), max_epochs=1).fit(X, X).predict(X).shape == (20, 12)
    sized = EndToEndEquivariantRegressor(module=Sized, max_epochs=1).fit(X, X)
    assert sized.module_.linear.out_features == 12    # the shape fit derives, where the module takes it
    sized.partial_fit(X, X)                           # a warm start checks only what the module takes
    instance = Sized(n_outputs=12)
    assert EndToEndEquivariantRegressor(module=instance, max_epochs=1).fit(X, X).module_ is instance
    # another module after a fit: the earlier fit's shapes go only where the new one takes them
    switched = EndToEndEquivariantRegressor(max_epochs=1).fit(X, X).set_params(module=Linear).fit(X, X)
    assert isinstance(switched.module_, Linear)


def test_targets_come_back_in_the_shape_they_came_in():
    """``y`` of shape ``(n, n_target_points, 3)`` was predicted flat ``(n, 12)``, unlike
    ``EquivariantRegressor`` (the layout contract: output keeps the layout it came in)."""
    P = _clouds(20)
    model = EndToEndEquivariantRegressor(**TINY).fit(P, 2 * P)
    flat = EndToEndEquivariantRegressor(**TINY).fit(P.reshape(20, -1), 2 * P.reshape(20, -1))
    assert model.predict(P).shape == (20, 4, 3) and flat.predict(P).shape == (20, 12)
    np.testing.assert_array_equal(model.predict(P).reshape(20, -1), flat.predict(P))
    assert model.score(P, 2 * P) == pytest.approx(flat.score(P, 2 * P.reshape(20, -1)))
    model.partial_fit(P.reshape(20, -1), 2 * P.reshape(20, -1))   # a warm start keeps the shape of fit
    assert model.predict(P).shape == (20, 4, 3)


def test_image_shape_errors_name_the_module_parameter():
    """A flat image of a non-square width said "pass layout=ImageLayout(...)", a parameter
    the end-to-end classifier does not have (it is ``module__layout``)."""
    X = np.random.default_rng(0).normal(size=(6, 50))
    with pytest.raises(ValueError, match=r"pass module__layout=ImageLayout"):
        EndToEndEquivariantClassifier(module__layout="image", module__group="C4", **TINY).fit(
            X, np.arange(6) % 2)


def test_fit_keeps_the_derived_module_shapes_out_of_the_parameters():
    """``fit`` wrote the shapes it derived from the data into public ``module__``
    parameters (``module__n_points``, ``module__n_outputs``/``n_classes``,
    ``module__scalar_stats``): ``get_params()`` grew after ``fit`` (scikit-learn's
    ``check_dont_overwrite_parameters``), and ``clone`` of a fitted estimator carried the
    old data's shapes. They are now kept in ``derived_module_params_``."""
    from sklearn.base import clone

    X = _clouds().reshape(40, -1)
    for est, y in ((EndToEndEquivariantRegressor(**TINY), X[:, :3]),
                   (EndToEndEquivariantClassifier(**TINY), np.arange(40) % 2)):
        before = est.get_params()
        est.fit(X, y)
        after = est.get_params()
        assert set(after) == set(before)
        assert all(after[k] is before[k] for k in before if k.startswith("module__"))
        assert est.derived_module_params_["n_points"] == 4
        assert {"n_points", "scalar_stats"} <= set(est.derived_module_params_)
        fresh = clone(est)
        assert not hasattr(fresh, "derived_module_params_")
        assert not any(k.startswith("module__n_") for k in fresh.get_params())
        # the clone fits data of another shape from scratch
        fresh.fit(X.reshape(40, 4, 3)[:, :3].reshape(40, -1), y)
        assert fresh.derived_module_params_["n_points"] == 3


@pytest.mark.parametrize("frame", ["augment", "identity"])
def test_frames_without_a_frame_network_check_the_group_against_the_layout(frame):
    """``module__frame="augment"`` and ``"identity"`` under SE2 without ``module__n_dims=2``
    read 2-D points as 3-D ones (3 points of 6 columns became 2 points) and drew 3-D
    rotations, silently: only the frames that build a frame network checked the group's
    dimension against the layout."""
    X = np.random.default_rng(0).random((30, 6)).astype(np.float32)
    est = EndToEndEquivariantRegressor(module__group="SE2", module__frame=frame, max_epochs=1,
                                       module__backbone="message_passing")
    with pytest.raises(ValueError, match=r"acts in 2 dimensions, but the layout has n_dims=3.*module__n_dims=2"):
        est.fit(X, X)
    assert est.set_params(module__n_dims=2).fit(X, X).predict(X).shape == (30, 6)


_PLANAR = np.array([[2, 1, 0], [-2, 1, 0], [-2, -1, 0], [2, -1, 0.0], [0.6, 0.3, 0], [-0.5, 0.2, 0]])
_COLLINEAR = np.array([[0, 0, 0], [1, 1, 1], [3, 3, 3], [-2, -2, -2.0], [0.5, 0.5, 0.5], [1.5, 1.5, 1.5]])
_SQUARE_POLES = np.array([[1, 1, 0], [-1, 1, 0], [-1, -1, 0], [1, -1, 0], [0, 0, 1], [0, 0, -1.0]])


@pytest.mark.parametrize("group, frame, backbone, kind", [
    ("O3", "learned", "mlp", "vector"), ("E3", "learned", "message_passing", "position"),
    ("SE3", "anchored", "mlp", "position"), ("E3", "anchored", "message_passing", "vector")])
def test_regressor_predictions_are_equivariant_on_symmetric_clouds(group, frame, backbone, kind):
    """One frame gives one of a symmetric sample's equally valid answers: predictions of
    planar, collinear and square clouds moved by up to 2.1 times their size between poses
    (a planar cloud under O3 got vectors out of its plane). They are averaged over the
    stabilizer the ``pca`` heuristic reads; generic samples keep theirs bit for bit, and a
    model fitted before (without ``stabilizer_canonicalizer_``) predicts as it did."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 6, 3))
    Y = X * rng.normal(size=(64, 6, 1)) + 0.3 * X ** 2
    model = EndToEndEquivariantRegressor(
        module__group=group, module__layout=PointLayout(3), module__target_kind=kind, module__frame=frame,
        module__backbone=backbone, max_epochs=2, random_state=0, verbose=0)
    model.fit(X.reshape(64, -1).astype(np.float32), Y.reshape(64, -1).astype(np.float32))
    name = f"{group}xS_n" if backbone == "message_passing" else group
    G = get_group(name)
    target = PointLayout(3, fields=[("t", kind)])
    P = np.stack([_PLANAR, _COLLINEAR, _SQUARE_POLES]).reshape(3, -1)
    pred = model.predict(P)
    for seed in range(4):
        g = G.sample(3, random_state=seed, n_points=6)
        moved = model.predict(np.asarray(G.apply(g, P, PointLayout(3))))
        expected = np.asarray(G.apply(g, pred, target))
        assert (np.abs(moved - expected).max(axis=1) / np.abs(expected).max(axis=1)).max() < 1e-5
    if group == "O3":      # the mirror through the plane fixes the planar cloud: so its vectors
        assert np.abs(pred[0].reshape(6, 3)[:, 2]).max() < 1e-6 * np.abs(pred[0]).max()
    generic = rng.normal(size=(50, 18))
    before = model.predict(generic)
    del model.stabilizer_canonicalizer_
    np.testing.assert_array_equal(model.predict(generic), before)


@pytest.mark.parametrize("frame", ["symmetrize", "augment", "identity"])
def test_frames_that_do_not_canonicalize_get_no_stabilizer_averaging(frame):
    """Only the exactly canonicalizing frames get the stabilizer average: symmetrization is
    equivariant in expectation, the baselines are not equivariant at all."""
    X = np.random.default_rng(0).normal(size=(20, 12)).astype(np.float32)
    model = EndToEndEquivariantRegressor(module__frame=frame, max_epochs=1, random_state=0, verbose=0).fit(X, X)
    assert "stabilizer_canonicalizer_" not in vars(model)


@pytest.mark.parametrize("cls", [EndToEndEquivariantRegressor, EndToEndEquivariantClassifier])
def test_none_module_and_criterion_are_stored_as_given_and_read_as_the_defaults(cls):
    """``module=None`` and ``criterion=None`` (documented as the defaults) were replaced by the
    classes in ``__init__``, so ``clone`` of an estimator given ``set_params(module=None)``
    raised "the constructor either does not set or modifies parameter module", and a fit
    after ``set_params(criterion=None)`` (a grid over criteria) failed inside skorch with
    "'NoneType' object is not callable"."""
    from sklearn.base import clone

    X = _clouds(20).reshape(20, -1)
    y = 2 * X if cls is EndToEndEquivariantRegressor else np.arange(20) % 2
    expected = cls(**TINY).fit(X, y).predict(X)
    for est in (cls(module=None, criterion=None, **TINY),
                cls(**TINY).set_params(module=None, criterion=None)):
        est = clone(est)
        assert est.get_params()["module"] is None and est.get_params()["criterion"] is None
        np.testing.assert_array_equal(est.fit(X, y).predict(X), expected)
        assert isinstance(est.criterion_, type(cls(**TINY).fit(X, y).criterion_))


@pytest.mark.parametrize("group, frame", [("SE3", "learned"), ("O3", "anchored")])
def test_stabilizer_average_keeps_the_absent_rows_of_message_passing_nan(group, frame):
    """The message-passing backbone predicts NaN at absent points; a sample without any
    present point (fixed by every rotation) came back from the stabilizer average as zeros,
    a made-up prediction, while samples with some points present kept their NaN rows."""
    X = _clouds(24, 4).reshape(24, -1)
    model = EndToEndEquivariantRegressor(module__group=group, module__frame=frame,
                                         module__backbone="message_passing", **TINY).fit(X, 2 * X)
    Q = X[:3].copy()
    Q[0] = np.nan
    Q[1, 3:6] = np.nan
    pred = model.predict(Q)
    assert np.isnan(pred[0]).all()
    np.testing.assert_array_equal(np.isnan(pred[1]), np.isnan(Q[1]))
    assert np.isfinite(pred[2]).all()
    del model.stabilizer_canonicalizer_     # the module's own output, without the average
    np.testing.assert_array_equal(model.predict(Q)[:2], pred[:2])


@pytest.mark.parametrize("frame", ["learned", "anchored", "symmetrize"])
def test_samples_without_points_have_no_equivariant_position_under_translations(frame):
    """A sample without any present point is left unchanged by every translation, which moves
    its position target: the MLP answered zeros (the stabilizer average) or what it learned,
    silently; ``EquivariantRegressor`` refuses such samples. Refused alike in ``predict`` and
    in ``fit`` (unless the sample's targets are absent too); vector targets, groups without
    translations and the message-passing backbone (NaN there) still predict."""
    X = _clouds(24, 4).reshape(24, -1)
    Q = X[:3].copy()
    Q[1] = np.nan
    model = EndToEndEquivariantRegressor(module__frame=frame, **TINY).fit(X, 2 * X)
    with pytest.raises(ValueError, match=r"1 sample\(s\) without any present point \(samples \[1\]\)"):
        model.predict(Q)
    with pytest.raises(ValueError, match="without any present point"):
        EndToEndEquivariantRegressor(module__frame=frame, **TINY).fit(Q, 2 * X[:3])
    absent = np.where(np.isnan(Q), np.nan, 2 * X[:3])
    model = EndToEndEquivariantRegressor(module__frame=frame, **TINY).fit(Q, absent)
    assert model.predict(X[:2]).shape == (2, 12)
    # score ignores absent targets as fit's loss does, so it takes what fit takes (and so
    # does cross-validation); a finite target of such a sample is still refused
    data = np.vstack([Q, X[3:]])
    targets = np.vstack([absent, 2 * X[3:]])
    assert np.isfinite(model.score(data, targets))
    assert np.isfinite(cross_val_score(EndToEndEquivariantRegressor(module__frame=frame, **TINY), data, targets,
                                       cv=2, error_score="raise")).all()
    with pytest.raises(ValueError, match="without any present point"):
        model.score(data, np.vstack([2 * X[:3], 2 * X[3:]]))
    for params in ({"module__target_kind": "vector"}, {"module__group": "O3"},
                   {"module__backbone": "message_passing"}, {"module__frame": "identity"}):
        model = EndToEndEquivariantRegressor(**{**TINY, "module__frame": frame, **params}).fit(X, 2 * X)
        pred = model.predict(Q)
        assert np.isfinite(pred[[0, 2]]).all()


@pytest.mark.parametrize("cls", [EndToEndEquivariantRegressor, EndToEndEquivariantClassifier])
def test_set_params_of_module_or_optimizer_on_a_fitted_estimator(cls):
    """``set_params(module=...)`` with another module class (or ``None``) on a fitted estimator
    had skorch rebuild an untrained module at once, which then predicted as if fitted (2.2
    off); it now unfits, as ``module__`` parameters do. ``set_params(optimizer=...)`` failed
    inside skorch ("Something went wrong, please open an issue"); it now builds the new
    optimizer over the trained weights."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from skcanon._end_to_end import EquivariantModule

    X = _clouds(20).reshape(20, -1)
    y = 2 * X if cls is EndToEndEquivariantRegressor else np.arange(20) % 2
    fresh = cls(**TINY).fit(X, y).predict(X)
    for module in (None, type("Other", (EquivariantModule if cls is EndToEndEquivariantRegressor
                                        else cls().module,), {})):
        est = cls(**TINY).fit(X, y)
        est.set_params(module=module)
        with pytest.raises(NotFittedError):
            check_is_fitted(est)
        with pytest.raises(NotFittedError):
            est.predict(X)
        np.testing.assert_array_equal(est.fit(X, y).predict(X), fresh)
    est = cls(**TINY).fit(X, y)
    before = est.predict(X)
    est.set_params(optimizer=torch.optim.SGD, lr=0.0)
    assert isinstance(est.optimizer_, torch.optim.SGD)
    np.testing.assert_array_equal(est.predict(X), before)
    np.testing.assert_array_equal(est.partial_fit(X, y).predict(X), before)    # lr=0: nothing moves
    # the new optimizer's options given in the same call are its own, and kept for later fits
    est.set_params(optimizer=torch.optim.RMSprop, optimizer__momentum=0.5)
    assert isinstance(est.optimizer_, torch.optim.RMSprop) and est.optimizer_.param_groups[0]["momentum"] == 0.5
    assert est.get_params()["optimizer__momentum"] == 0.5
    assert est.partial_fit(X, y).optimizer_.param_groups[0]["momentum"] == 0.5


def test_stabilizer_average_reads_named_columns_once():
    """With ``module__layout=PointLayout(columns=...)`` the stabilizer's ``pca`` stand-in got
    that layout and read the (already point-major) input through the column order a second
    time: a planar cloud under O(3) was averaged over another point set's stabilizer, 0.45
    off equivariance and 0.31 from the same model fitted on point-major columns."""
    rng = np.random.default_rng(0)
    m = 5
    cols = [f"{c}{i}" for c in "xyz" for i in range(m)]
    by_axis = lambda Q: Q.transpose(0, 2, 1).reshape(len(Q), -1)  # noqa: E731
    P = rng.normal(size=(40, m, 3)) * [3.0, 2.0, 1.0]
    kw = dict(TINY, module__group="O3", module__target_kind="vector")
    named = EndToEndEquivariantRegressor(module__layout=PointLayout(3, columns=cols), **kw)
    named.fit(by_axis(P), P.reshape(40, -1))
    plain = EndToEndEquivariantRegressor(**kw).fit(P.reshape(40, -1), P.reshape(40, -1))
    planar = np.c_[rng.normal(size=(m, 2)), np.zeros(m)][None]
    pred = named.predict(by_axis(planar))
    np.testing.assert_allclose(pred, plain.predict(planar.reshape(1, -1)), atol=1e-6)
    G, target = get_group("O3"), PointLayout(3, fields=[("v", "vector")])
    for seed in range(3):
        g = G.sample(1, random_state=seed)
        moved = np.asarray(G.apply(g, planar.reshape(1, -1), PointLayout(3))).reshape(1, m, 3)
        np.testing.assert_allclose(named.predict(by_axis(moved)), G.apply(g, pred, target), atol=1e-5)


def test_score_refuses_finite_targets_where_the_model_predicts_nan():
    """``score`` with a finite target at a point that ``X`` marks absent (the message-passing
    backbone predicts NaN there) failed inside ``r2_score`` with a bare "Input contains NaN";
    ``fit`` refuses the same targets naming them."""
    P = _clouds(30, 5)
    P[::3, -1] = np.nan
    X = P.reshape(30, -1)
    reg = EndToEndEquivariantRegressor(module__backbone="message_passing", **TINY).fit(X, 2 * X)
    y = np.nan_to_num(2 * X)
    with pytest.raises(ValueError, match=r"finite target in column 12 of sample 0, where the model predicts"):
        reg.score(X, y)
    assert np.isfinite(reg.score(X, 2 * X))
