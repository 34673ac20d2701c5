"""Inputs of the trainer that used to fail badly or silently.

* a diverging supervised fit raised torch's bare ``LinAlgError`` (from an eigendecomposition
  of the forward pass) instead of skcanon's "diverged ...; lower lr" error;
* regression targets beyond ~1e155 (or below ~1e-155) were standardized with an overflowing
  (vanishing) std: every encoded target became 0 and training had nothing to learn;
* early stopping without a usable validation split (fewer than 20 samples by default) was
  dropped without a word;
* object ``y`` mixing types or holding ``None``, and a scalar ``y``, gave numpy's errors;
* ``True`` was taken as 1 for ``max_epochs``, ``hidden``, ``batch_size``, ``lr`` and
  ``prior_weight``.
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skcanon import CanonicalizerTransformer  # noqa: E402
from skcanon._training import _ObjectiveModule, _encode_target, train_frame_network  # noqa: E402
from skcanon.groups import get_group  # noqa: E402
from skcanon.layouts import PointLayout  # noqa: E402
from skcanon.nn._factory import build_frame_network  # noqa: E402


def _data(n=40, seed=0, classes=2):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6 * 3)), rng.integers(0, classes, n)


def _canon(**options):
    base = dict(hidden=8, max_epochs=2, device="cpu", random_state=0)
    return CanonicalizerTransformer("SE3", "learned", **{**base, **options})


def test_diverging_supervised_fit_gives_the_diverged_error():
    """At lr=1e12 the weights blow up and reach linalg.eigh before the trainer's own
    finiteness check: the user gets that check's error, the torch one as its cause."""
    X, y = _data(n=100, classes=3)
    with pytest.raises(ValueError, match=r"diverged .*lower lr") as info:
        _canon(lr=1e12, max_epochs=3).fit(X, y)
    assert isinstance(info.value.__cause__, torch.linalg.LinAlgError)


def test_other_training_errors_are_not_turned_into_divergence(monkeypatch):
    def loss(self, outputs, y):
        raise RuntimeError("an unrelated failure")

    monkeypatch.setattr(_ObjectiveModule, "loss", loss)
    X, y = _data()
    with pytest.raises(RuntimeError, match="an unrelated failure"):
        _canon().fit(X, y)


@pytest.mark.parametrize("scale", [1e160, 1e300, 1e-160, 1e-300])
def test_extreme_regression_targets_are_standardized(scale):
    """y * 1e160 used to give std = inf (numpy's overflow warning) and all-zero targets;
    y * 1e-160 a std of 0 and targets of ~1e-160 (0 in float32)."""
    y = np.random.default_rng(1).normal(size=40)
    reference, _, _, info = _encode_target(y, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encoded, _, task, info = _encode_target(y * scale, 40)
    assert task == "regression"
    np.testing.assert_allclose(encoded, reference, rtol=1e-5, atol=1e-6)
    assert np.isfinite(info["mean"]).all() and np.isfinite(info["std"]).all() and info["std"] > 0


def test_target_encoding_of_ordinary_and_power_of_two_scales_is_exact():
    """Columns inside 2**±256 are standardized as they always were; beyond it the power of
    two taken out rescales exactly, so y * 2**600 encodes bit for bit like y."""
    rng = np.random.default_rng(2)
    Y = rng.normal(size=(30, 2)) * [1e100, 1e-3]
    encoded, _, _, info = _encode_target(Y, 30)
    mu, sd = Y.mean(0), Y.std(0)
    assert np.array_equal(encoded, ((Y - mu) / sd).astype(np.float32))
    assert np.array_equal(info["mean"], mu) and np.array_equal(info["std"], sd)
    big, _, _, big_info = _encode_target(Y * 2.0 ** 600, 30)
    assert np.array_equal(big, encoded) and np.array_equal(big_info["std"], sd * 2.0 ** 600)


def test_fit_on_huge_targets_learns_like_on_ordinary_ones():
    X, _ = _data()
    y = np.random.default_rng(1).normal(size=40)
    plain = _canon().fit(X, y).canonicalizer_.history_
    huge = _canon().fit(X, y * 2.0 ** 540).canonicalizer_.history_  # about 3.6e162
    assert [row["train_loss"] for row in huge] == [row["train_loss"] for row in plain]


def test_early_stopping_needs_two_held_out_samples():
    """Default validation_fraction=0.1 needs 20 samples for 2 held out: below that the fit
    trains on everything, without early stopping (documented; ``best_epoch_`` is None)."""
    X, y = _data(n=19)
    fitted = _canon().fit(X, y).canonicalizer_
    assert fitted.best_epoch_ is None and "valid_loss" not in fitted.history_[0]
    X, y = _data(n=20)
    fitted = _canon().fit(X, y).canonicalizer_  # 2 held out: validates, no warning
    assert fitted.best_epoch_ is not None and "valid_loss" in fitted.history_[0]


@pytest.mark.parametrize("y, error, message", [
    (np.array(["a", 1] * 20, dtype=object), TypeError, r"y mixes strings and other values .*'int', 'str'"),
    (np.array(["a", None] * 20, dtype=object), ValueError, "y contains None"),
    (np.array([1.5, None] * 20, dtype=object), ValueError, "y contains None"),
    (1, ValueError, r"y must be an array-like of shape \(n_samples,\).*scalar 1"),
    ([[1.0, 2.0], [3.0]] * 20, ValueError, r"y must be an array-like of shape"),
])
def test_bad_targets_get_errors_that_name_y(y, error, message):
    X, _ = _data()
    with pytest.raises(error, match=message):
        _canon().fit(X, y)


def test_object_labels_of_one_type_still_train():
    X, _ = _data()
    y = np.array(["a", "b"] * 20, dtype=object)
    assert _canon(max_epochs=1).fit(X, y).canonicalizer_.objective_ == "supervised"


@pytest.mark.parametrize("name", ["max_epochs", "hidden", "batch_size", "lr", "prior_weight"])
def test_bools_are_not_numbers_for_learning_options(name):
    X, y = _data()
    with pytest.raises(ValueError, match=f"'{name}' parameter of CanonicalizerTransformer .*Got True"):
        _canon(**{name: True}).fit(X, y)


def test_trainer_refuses_bools_itself():
    """Direct calls skip the transformer's validation; train_frame_network turned a bool
    max_epochs into 1 before training_budget's check could see it."""
    net = build_frame_network(get_group("SO3"), PointLayout(3), 8)
    P = np.random.default_rng(0).normal(size=(30, 6, 3))
    for name in ("max_epochs", "hidden", "lr", "batch_size"):
        with pytest.raises(ValueError, match=f"{name} must be a number, not a bool"):
            train_frame_network(net, P, None, early_stopping=False, **{name: True})
