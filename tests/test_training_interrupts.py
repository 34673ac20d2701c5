"""Ctrl-C during the training of a learned network is never swallowed.

skorch catches ``KeyboardInterrupt`` inside ``partial_fit`` and returns normally, so an
interrupted ``fit`` used to look like a finished one with half-trained weights. Now the
interrupt reaches the caller and the estimator keeps its previous fit (or stays unfitted).
Interrupts are simulated by a loss or a skorch callback that raises mid-training.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skorch.callbacks import Callback  # noqa: E402

from skcanon import CanonicalizerTransformer  # noqa: E402
from skcanon._end_to_end import EndToEndEquivariantClassifier, EndToEndEquivariantRegressor  # noqa: E402
from skcanon._training import _ObjectiveModule, train_frame_network  # noqa: E402

X = (np.random.default_rng(0).normal(size=(60, 6, 3)) * [3.0, 2.0, 1.0]).reshape(60, -1)
Y = np.arange(60) % 3


class _InterruptAt(Callback):
    """A stopping rule in skorch's idiom: raises KeyboardInterrupt from a callback."""

    def __init__(self, epoch=2):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) >= self.epoch:
            raise KeyboardInterrupt


def _ctrl_c_criterion(base, after):
    """A criterion that raises KeyboardInterrupt on its ``after+1``-th call, as Ctrl-C during
    the forward pass would."""

    class Interrupting(base):
        calls = 0

        def forward(self, *args):
            type(self).calls += 1
            if type(self).calls > after:
                raise KeyboardInterrupt
            return super().forward(*args)

    return Interrupting


def _interrupting_loss(monkeypatch, after=3):
    calls = {"n": 0}
    original = _ObjectiveModule.loss

    def loss(self, outputs, y):
        calls["n"] += 1
        if calls["n"] > after:
            raise KeyboardInterrupt
        return original(self, outputs, y)

    monkeypatch.setattr(_ObjectiveModule, "loss", loss)
    return calls


def test_train_frame_network_reraises_keyboard_interrupt(monkeypatch):
    from skcanon.nn._factory import build_frame_network
    from skcanon.groups import get_group
    from skcanon.layouts import PointLayout

    net = build_frame_network(get_group("SO3"), PointLayout(3), 8)
    _interrupting_loss(monkeypatch)
    with pytest.raises(KeyboardInterrupt, match="interrupted after"):
        train_frame_network(net, X.reshape(60, 6, 3), Y, max_epochs=5, early_stopping=False)


@pytest.mark.parametrize("method", ["learned"])
def test_interrupted_refit_keeps_the_previous_fit(monkeypatch, method):
    canon = CanonicalizerTransformer("SE3", method, hidden=8, max_epochs=2, early_stopping=False,
                                     random_state=0).fit(X, Y)
    before = canon.transform(X)
    _interrupting_loss(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        canon.fit(X, Y)
    np.testing.assert_array_equal(canon.transform(X), before)


def test_interrupted_first_fit_does_not_transform(monkeypatch):
    canon = CanonicalizerTransformer("SE3", "learned", hidden=8, max_epochs=3, random_state=0)
    _interrupting_loss(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        canon.fit(X, Y)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        canon.transform(X)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_end_to_end_interrupt_reraised_and_previous_fit_restored(kind):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from skcanon._end_to_end import MaskedMSELoss

    Xf = X.astype(np.float32)
    if kind == "regressor":
        make, y, out, loss = EndToEndEquivariantRegressor, 1.5 * Xf, "predict", MaskedMSELoss
    else:
        make, y, out, loss = EndToEndEquivariantClassifier, Y, "predict_proba", torch.nn.CrossEntropyLoss
    fresh = make(max_epochs=4, random_state=0, module__hidden=8, criterion=_ctrl_c_criterion(loss, 2))
    with pytest.raises(KeyboardInterrupt, match="interrupted after 2 complete"):
        fresh.fit(Xf, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(fresh)

    model = make(max_epochs=3, random_state=0, module__hidden=8).fit(Xf, y)
    before = getattr(model, out)(Xf)
    model.set_params(criterion=_ctrl_c_criterion(loss, 1), max_epochs=5)
    with pytest.raises(KeyboardInterrupt):
        model.fit(Xf, y)
    np.testing.assert_array_equal(getattr(model, out)(Xf), before)
    assert len(model.history) == 3


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_end_to_end_stopping_callbacks_still_just_stop(kind):
    """skorch's EarlyStopping (and user stopping rules) raise KeyboardInterrupt from a
    callback to end training; that stays a normal end of fit."""
    from skorch.callbacks import EarlyStopping

    Xf = X.astype(np.float32)
    make, y = (EndToEndEquivariantRegressor, 1.5 * Xf) if kind == "regressor" else \
        (EndToEndEquivariantClassifier, Y)
    model = make(max_epochs=6, random_state=0, module__hidden=8, callbacks=[("stop", _InterruptAt(2))])
    assert len(model.fit(Xf, y).history) == 2
    stopper = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)
    model = make(max_epochs=6, random_state=0, module__hidden=8, callbacks=[("es", stopper)])
    assert len(model.fit(Xf, y).history) < 6


def test_interrupt_message_counts_the_epochs_of_this_call():
    from skcanon._end_to_end import MaskedMSELoss

    Xf = X.astype(np.float32)
    model = EndToEndEquivariantRegressor(max_epochs=2, random_state=0, module__hidden=8).fit(Xf, 1.5 * Xf)
    model.set_params(criterion=_ctrl_c_criterion(MaskedMSELoss, 1), max_epochs=4)
    with pytest.raises(KeyboardInterrupt, match="interrupted after 1 complete epoch"):
        model.partial_fit(Xf, 1.5 * Xf)
    assert len(model.history) == 2


def test_a_failed_refit_keeps_the_previous_fit_whole():
    """A refit that failed during training (here: y of the wrong length) kept the previous
    network but took the new data's n_features_in_, n_points_ and categories: transform of
    the surviving fit's data failed, and the new data's codes reached the old network."""
    import numpy as np

    from skcanon import CanonicalizerTransformer
    from skcanon.layouts import Field, PointLayout

    layout = PointLayout(3, [Field("pos", "position", 3), Field("Z", "scalar", 1, categorical=True)])
    rng = np.random.default_rng(0)

    def clouds(m, codes):
        return np.concatenate([rng.normal(size=(30, m, 3)), rng.choice(codes, size=(30, m, 1))], 2).reshape(30, -1)

    X6, X4 = clouds(6, [1.0, 2.0, 3.0]), clouds(4, [5.0, 6.0, 7.0])
    canon = CanonicalizerTransformer("SE3", "learned", layout=layout, objective="supervised", hidden=8,
                                     max_epochs=1, random_state=0).fit(X6, np.arange(30) % 2)
    before = canon.transform(X6)
    with pytest.raises(ValueError, match="y has 29 entries"):
        canon.fit(X4, np.arange(29) % 2)
    assert canon.n_features_in_ == 24 and canon.n_points_ == 6
    np.testing.assert_array_equal(canon.transform(X6), before)
    with pytest.raises(ValueError, match="not seen in fit"):
        canon.transform(X4)
