"""Inputs of the end-to-end estimators and of the options around them.

* prediction checks ``X`` as ``fit`` does: a point with only some columns NaN is refused
  with a ValueError naming ``X`` (``predict``, ``predict_proba``, ``score``), for every
  frame and backbone; whole NaN rows (absent points) still predict;
* ``n_jobs`` of ``CanonicalizerTransformer`` (a learning option) is checked by ``fit``:
  ``0`` and bools are refused there, not first by ``transform``;
* a missing optional package names the checkout's extra (``pip install -e ".[dask]"``,
  ``".[fast]"`` for numba), never a PyPI package;
* a symmetrized model's eval draws do not depend on the batch; its predictions do only
  up to float32 rounding, as the documentation now says;
* the end-to-end estimators link their API page in the HTML repr (``SkcanonEstimatorMixin``)
  without any change to their parameters.
"""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from skcanon import CanonicalizerTransformer

DOCS = Path(__file__).resolve().parents[1] / "docs"
TINY = dict(max_epochs=1, module__hidden=8, module__backbone_hidden=16, random_state=0)
PARTIAL = "X contains NaN inside a point"


def _clouds(n=24, m=4, seed=0, symmetric=False):
    rng = np.random.default_rng(seed)
    if symmetric:
        # regular tetrahedra (degenerate for every moment frame), rotated and scaled
        from scipy.spatial.transform import Rotation

        tet = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)
        R = Rotation.random(n, random_state=seed).as_matrix()
        return np.einsum("nij,mj->nmi", R, tet) * rng.uniform(0.5, 2.0, size=(n, 1, 1))
    return rng.normal(size=(n, m, 3)) * [3.0, 2.0, 1.0]


@pytest.fixture(scope="module")
def torch_one_thread():
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(n)


_FITTED = {}


def _fitted(kind, frame, backbone):
    """Tiny fitted estimators, shared by the tests of this module."""
    key = (kind, frame, backbone)
    if key not in _FITTED:
        from skcanon import EndToEndEquivariantClassifier, EndToEndEquivariantRegressor

        P = _clouds()
        X = P.reshape(len(P), -1)
        params = dict(TINY, module__group="E3", module__frame=frame, module__backbone=backbone)
        if kind == "regressor":
            _FITTED[key] = EndToEndEquivariantRegressor(**params).fit(X, 2 * X)
        else:
            y = np.arange(len(X)) % 2
            _FITTED[key] = EndToEndEquivariantClassifier(**params).fit(X, y)
    return _FITTED[key]


# -- 1. partial-NaN points at prediction ----------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("frame,backbone", [("learned", "mlp"), ("learned", "message_passing"),
                                            ("symmetrize", "mlp"), ("symmetrize", "message_passing")])
def test_predict_refuses_partial_nan_point(torch_one_thread, frame, backbone, symmetric, dtype):
    reg = _fitted("regressor", frame, backbone)
    P = _clouds(n=3, seed=1, symmetric=symmetric)
    X = P.reshape(len(P), -1).astype(dtype)
    X[1, 4] = np.nan                      # y of point 1 of sample 1 missing, x and z present
    before = X.copy()
    with pytest.raises(ValueError, match=PARTIAL + r" \(sample 1, point 1"):
        reg.predict(X)
    with pytest.raises(ValueError, match=PARTIAL):
        reg.score(X, np.nan_to_num(X))
    np.testing.assert_array_equal(X, before)          # the caller's data is left alone
    # 3-D input and a DataFrame are checked the same way
    with pytest.raises(ValueError, match=PARTIAL):
        reg.predict(X.reshape(3, 4, 3))
    # whole NaN rows (absent points) still predict, as in fit
    A = P.reshape(len(P), -1).astype(dtype)
    A[1, 3:6] = np.nan
    out = reg.predict(A)
    assert out.shape == A.shape
    if backbone == "mlp":
        assert np.isfinite(out).all()
    else:                                  # one output row per point: NaN at the absent one
        assert np.isnan(out[1, 3:6]).all() and np.isfinite(np.delete(out, np.s_[3:6], axis=1)).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("frame,backbone", [("learned", "mlp"), ("symmetrize", "message_passing")])
def test_classifier_predict_proba_refuses_partial_nan_point(torch_one_thread, frame, backbone, dtype):
    clf = _fitted("classifier", frame, backbone)
    X = _clouds(n=3, seed=2).reshape(3, -1).astype(dtype)
    X[0, 0] = np.nan
    before = X.copy()
    for method in (clf.predict_proba, clf.predict, lambda X: clf.score(X, [0, 1, 0])):
        with pytest.raises(ValueError, match=PARTIAL + r" \(sample 0, point 0"):
            method(X)
    np.testing.assert_array_equal(X, before)
    X[0, :3] = np.nan                       # a whole absent point is fine
    assert np.isfinite(clf.predict_proba(X)).all()


def test_predict_refuses_partial_nan_in_named_dataframe(torch_one_thread):
    pd = pytest.importorskip("pandas")
    from skcanon import EndToEndEquivariantRegressor

    P = _clouds(n=16)
    cols = [f"{c}{i}" for c in "xyz" for i in range(4)]          # coordinate-major names
    df = pd.DataFrame(P.transpose(0, 2, 1).reshape(16, -1), columns=cols)
    reg = EndToEndEquivariantRegressor(**TINY).fit(df, P.reshape(16, -1))
    bad = df.iloc[:2].copy()
    bad.loc[bad.index[1], "z2"] = np.nan                          # point 2 of sample 1
    with pytest.raises(ValueError, match=PARTIAL + r" \(sample 1, point 2"):
        reg.predict(bad)
    assert np.isfinite(reg.predict(df.iloc[:2])).all()


def test_image_classifier_refuses_nan_at_prediction(torch_one_thread):
    from skcanon import EndToEndEquivariantClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 1, 8, 8))
    clf = EndToEndEquivariantClassifier(module__layout="image", module__group="C4", max_epochs=1,
                                        module__hidden=8, module__backbone_hidden=8,
                                        random_state=0).fit(X, np.arange(8) % 2)
    bad = X[:2].astype(np.float32)
    bad[1, 0, 3, 3] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity; images must be finite"):
        clf.predict_proba(bad)


# -- 2. n_jobs checked by fit ---------------------------------------------------------------

@pytest.mark.parametrize("n_jobs", [0, True, False, np.bool_(True), 2.5, "2"])
def test_canonicalizer_n_jobs_refused_in_fit(n_jobs):
    X = _clouds(n=10).reshape(10, -1)
    ct = CanonicalizerTransformer("SO3", "pca", n_dims=3, n_jobs=n_jobs)
    with pytest.raises(InvalidParameterError, match=r"The 'n_jobs' parameter of CanonicalizerTransformer"):
        ct.fit(X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_jobs", [None, 1, 2, -1, -2, np.int64(2)])
def test_canonicalizer_valid_n_jobs_unchanged(n_jobs, dtype):
    X = _clouds(n=10).reshape(10, -1).astype(dtype)
    out = CanonicalizerTransformer("SO3", "pca", n_dims=3, n_jobs=n_jobs).fit(X).transform(X)
    ref = CanonicalizerTransformer("SO3", "pca", n_dims=3).fit(X).transform(X)
    np.testing.assert_array_equal(out, ref)
    assert out.dtype == dtype


# -- 3. install hints of optional packages ------------------------------------------------

def test_dask_missing_names_the_checkout_extra(monkeypatch):
    from skcanon import dask as skdask

    for name in [m for m in sys.modules if m == "dask" or m.startswith("dask.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "dask", None)      # import dask -> ImportError
    monkeypatch.setitem(sys.modules, "dask.array", None)
    est = CanonicalizerTransformer("SO3", "pca", n_dims=3).fit(_clouds(n=10).reshape(10, -1))
    with pytest.raises(ImportError) as info:
        skdask.transform_dask(est, np.zeros((2, 12)))
    msg = str(info.value)
    assert 'pip install -e ".[dask]" in the skcanon checkout' in msg
    assert "skcanon[" not in msg                        # skcanon is not on PyPI
    assert "transform_dask" in msg


def test_numba_missing_names_the_fast_extra(monkeypatch):
    from skcanon._optional import EXTRAS, require

    assert EXTRAS["numba"] == "fast"
    monkeypatch.setitem(sys.modules, "numba", None)
    with pytest.raises(ImportError, match=re.escape('pip install -e ".[fast]" in the skcanon checkout')):
        require("numba", purpose="the compiled passes")
    # the extra exists in the package metadata
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert re.search(r'^fast = \["numba', pyproject, re.M)


# -- 4. batch (in)dependence of symmetrized predictions, as documented -------------------

def test_symmetrize_draws_do_not_depend_on_the_batch(torch_one_thread):
    torch = torch_one_thread
    reg = _fitted("regressor", "symmetrize", "message_passing")
    dist = reg.module_.distribution
    P = torch.as_tensor(_clouds(n=9, seed=3), dtype=torch.float32)
    k = reg.module_.n_samples_predict
    whole = dist.eval_noise(k, P).reshape(k, 9, *P.shape[1:])
    one = dist.eval_noise(k, P[4:5]).reshape(k, 1, *P.shape[1:])
    torch.testing.assert_close(whole[:, 4:5], one, rtol=0, atol=0)    # the same draws, bitwise


@pytest.mark.parametrize("frame,backbone", [("learned", "mlp"), ("learned", "message_passing"),
                                            ("symmetrize", "mlp"), ("symmetrize", "message_passing")])
def test_prediction_depends_on_batch_only_up_to_float32_rounding(torch_one_thread, frame, backbone):
    reg = _fitted("regressor", frame, backbone)
    X = _clouds(n=24, seed=4).reshape(24, -1)
    ref = reg.predict(X)
    np.testing.assert_array_equal(reg.predict(X), ref)         # the same batches: bitwise
    try:
        for bs in (1, 7):
            reg.set_params(batch_size=bs)
            out = reg.predict(X)
            rel = np.abs(out - ref).max(1) / np.abs(ref).max(1)
            assert rel.max() < 1e-5, (bs, rel.max())                # a few float32 ulps
    finally:
        reg.set_params(batch_size=64)


def test_docs_state_the_batch_guarantee_as_measured():
    from skcanon._end_to_end import EquivariantModule

    text = " ".join((DOCS / "end_to_end.md").read_text().split())
    assert "does not depend on the rest of its batch" not in text
    assert "the random draws do not depend on the batch" in text
    assert "The float32 arithmetic does depend on the batch, up to rounding" in text
    doc = " ".join(EquivariantModule.__doc__.split())
    assert "does not depend on the batch it is in" not in doc
    assert "the random draws do not depend on the batch a sample is in; the float32 arithmetic does" in doc


# -- cosmetic: the API-reference link of the HTML repr ------------------------------------

def test_end_to_end_estimators_link_their_api_page(torch_one_thread):
    from sklearn.base import clone
    from skorch import NeuralNetClassifier, NeuralNetRegressor

    from skcanon import EndToEndEquivariantClassifier, EndToEndEquivariantRegressor
    from skcanon._estimator import SkcanonEstimatorMixin

    for cls, base in ((EndToEndEquivariantRegressor, NeuralNetRegressor),
                      (EndToEndEquivariantClassifier, NeuralNetClassifier)):
        est = cls(max_epochs=3, random_state=1)
        assert isinstance(est, SkcanonEstimatorMixin)
        assert est._get_doc_link() == ("https://skcanon.readthedocs.io/en/latest/generated/"
                                       f"skcanon.{cls.__name__}.html")
        # parameters are skorch's plus random_state and n_jobs, as before (the classifier
        # drops skorch's valid_acc callback)
        params = est.get_params()
        plain = {k for k in base(module=est.module).get_params() if "valid_acc" not in k}
        assert set(params) == plain | {"random_state", "n_jobs"}
        assert clone(est).get_params()["max_epochs"] == 3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_regressor_predict_proba_is_checked_predict(torch_one_thread, dtype):
    # skorch's predict_proba of a regressor (its raw output) read X unchecked: float64 X was
    # torch's dtype error, a partial-NaN point the eigensolver's; now it is predict
    reg = _fitted("regressor", "learned", "mlp")
    X = _clouds(n=3, seed=5).reshape(3, -1).astype(dtype)
    np.testing.assert_array_equal(reg.predict_proba(X), reg.predict(X))
    X[2, 7] = np.nan
    with pytest.raises(ValueError, match=PARTIAL + r" \(sample 2, point 2"):
        reg.predict_proba(X)


# -- training parameters, torch's default dtype, labels (helper audit) ------------------------------
def _e2e_pair():
    from skcanon import EndToEndEquivariantClassifier, EndToEndEquivariantRegressor

    X = _clouds(n=20).reshape(20, -1)
    return [(EndToEndEquivariantRegressor, X, 2 * X), (EndToEndEquivariantClassifier, X, np.arange(20) % 2)]


@pytest.mark.parametrize("name, value", [("max_epochs", 0), ("max_epochs", -5), ("max_epochs", 1.5),
                                         ("max_epochs", True), ("batch_size", None), ("batch_size", 0),
                                         ("batch_size", -2), ("batch_size", 8.0)])
def test_training_ints_are_checked_before_skorch(torch_one_thread, name, value):
    # max_epochs=0 or -5 "fitted" untrained models; batch_size=None failed with a reshape
    # error inside forward (torch's loader handing over one sample at a time)
    for cls, X, y in _e2e_pair():
        est = cls(**{**TINY, name: value})
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of {cls.__name__}"):
            est.fit(X, y)
        assert not hasattr(est, "module_") or not getattr(est, "initialized_", False)


def test_numpy_int_batch_sizes_work_and_stay_as_given(torch_one_thread):
    # torch's sampler refused np.int64(16) ("should be a positive integer value, but got
    # batch_size=16"), so a GridSearchCV over np.arange values failed
    for cls, X, y in _e2e_pair():
        size = np.int64(8)
        est = cls(**{**TINY, "batch_size": size}).fit(X, y)
        assert est.batch_size is size
        np.testing.assert_array_equal(est.predict(X), cls(**{**TINY, "batch_size": 8}).fit(X, y).predict(X))


def test_another_torch_default_dtype_is_named(torch_one_thread):
    import torch

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for cls, X, y in _e2e_pair():
            with pytest.raises(RuntimeError, match=r"default dtype is torch.float64.*set_default_dtype"):
                cls(**TINY).fit(X, y)
    finally:
        torch.set_default_dtype(before)
    cls, X, y = _e2e_pair()[1]
    est = cls(**TINY).fit(X, y)
    torch.set_default_dtype(torch.float64)
    try:
        with pytest.raises(RuntimeError, match="default dtype"):
            est.predict(X)
    finally:
        torch.set_default_dtype(before)


@pytest.mark.parametrize("labels, error, match", [(["a", None], ValueError, "contains None"),
                                                  (["a", 1], TypeError, "mixes strings")])
def test_classifier_object_labels_get_the_trainers_messages(torch_one_thread, labels, error, match):
    cls, X, _ = _e2e_pair()[1]
    y = np.array(labels * 10, dtype=object)
    with pytest.raises(error, match=match):
        cls(**TINY).fit(X, y)


def test_set_params_of_the_module_unfits_for_check_is_fitted_too(torch_one_thread):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    cls, X, y = _e2e_pair()[1]
    est = cls(**TINY).fit(X, y)
    check_is_fitted(est)
    est.set_params(module__hidden=4)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_float16_input_is_read_without_an_overflow_warning(torch_one_thread):
    # comparing a float16 peak with 1e15 cast 1e15 to float16 (numpy's overflow warning)
    for cls, X, y in _e2e_pair():
        cls(**TINY).fit(X.astype(np.float16), y)


@pytest.mark.parametrize("name, value", [("warm_start", "no"), ("warm_start", 2), ("verbose", "no"),
                                         ("verbose", -1), ("optimizer", "adam"), ("criterion", "mse"),
                                         ("module", "mlp"), ("train_split", 5), ("callbacks", [1]),
                                         ("callbacks", "all"), ("callbacks", [("stop", 3)])])
def test_skorch_parameters_are_checked_by_name(torch_one_thread, name, value):
    # warm_start="no" and verbose="no" are truthy: a refit trained the fitted module further
    # and printed every epoch, silently; the others failed inside skorch with "'str' object
    # is not callable" or "'int' object has no attribute 'set_params'"
    for cls, X, y in _e2e_pair():
        est = cls(**{**TINY, name: value})
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of {cls.__name__}"):
            est.fit(X, y)
        assert not getattr(est, "initialized_", False)


def test_skorch_parameters_of_the_right_kind_still_fit(torch_one_thread):
    from skorch.callbacks import EpochScoring, PrintLog
    from skorch.dataset import ValidSplit

    for cls, X, y in _e2e_pair():
        scoring = "neg_mean_squared_error" if "Regressor" in cls.__name__ else "accuracy"
        for params in ({"warm_start": np.bool_(True), "verbose": False}, {"callbacks": "disable"},
                       {"callbacks": [PrintLog, ("s", EpochScoring(scoring))], "train_split": ValidSplit(4)},
                       {"optimizer": torch_one_thread.optim.SGD, "criterion": cls().criterion()},
                       # what skorch reads correctly though outside its documented types
                       {"warm_start": 0, "verbose": 0.0, "train_split": False,
                        "callbacks": [("quiet", _QuietCallback())]}):
            assert cls(**{**TINY, **params}).fit(X, y).predict(X).shape[0] == len(X)


class _QuietCallback:
    """A callback that is not skorch's class but has every method skorch calls."""

    def initialize(self):
        return self

    def set_params(self, **params):
        return self

    def get_params(self, deep=True):
        return {}

    def __getattr__(self, name):
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)


@pytest.mark.parametrize("group", ["C4", "S_n", "T3", "SE3xS_n"])
def test_point_set_groups_are_refused_naming_module_group(torch_one_thread, group):
    # the message ("End-to-end estimation supports O(d), ...") did not say which parameter
    for cls, X, y in _e2e_pair():
        with pytest.raises(ValueError, match=f"module__group must be .*got '{group}'"):
            cls(**{**TINY, "module__group": group}).fit(X, y)
