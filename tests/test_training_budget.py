"""The training budget, learning-rate schedule, thread limits and extreme scales of the trainer.

* :func:`skcanon._training.training_budget`: mini-batch and epochs from 300 to 1,000,000
  samples (an explicit ``max_epochs`` is kept);
* the learning rate warms up and then follows a cosine to zero over the planned steps;
* early stopping restores the epoch with the best validation loss (by EarlyStopping's
  threshold), and ``best_epoch_`` names that epoch;
* the schedule plans the mini-batches left by the validation split;
* training runs on one torch thread by default whatever the caller's setting, and restores
  that setting (results do not depend on the thread or worker count);
* ``X * 1e300`` trains (it used to raise ``OverflowError: cannot convert float infinity to
  integer`` in the rescale).
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skcanon import CanonicalizerTransformer  # noqa: E402
from skcanon._training import (  # noqa: E402
    MAX_AUTO_EPOCHS,
    MAX_BATCH,
    MIN_BATCH,
    MIN_EPOCHS,
    TARGET_STEPS,
    _ObjectiveModule,
    _power_of_two_scale,
    _warmup_cosine,
    train_frame_network,
    training_budget,
)
from skcanon.groups import get_group  # noqa: E402
from skcanon.layouts import PointLayout  # noqa: E402
from skcanon.nn._factory import build_frame_network  # noqa: E402

P = np.random.default_rng(0).normal(size=(60, 6, 3)) * [3.0, 2.0, 1.0]
Y = np.arange(60) % 3


def _net(seed=0):
    from skcanon.nn._torch import seeded

    with seeded(seed):
        return build_frame_network(get_group("SO3"), PointLayout(3), 8)


@pytest.mark.parametrize("n", [1, 10, 300, 400, 1000, 10_000, 100_000, 1_000_000])
def test_budget_covers_small_and_large_data(n):
    batch, epochs = training_budget(n)
    assert MIN_BATCH <= batch <= MAX_BATCH and MIN_EPOCHS <= epochs <= MAX_AUTO_EPOCHS
    steps = epochs * math.ceil(n / batch)
    if n >= 300:
        # enough optimiser steps on small data (the old cap of 128 gave ~60 for 20 epochs
        # of 350 samples), and a bounded number of passes over large data
        assert steps >= min(TARGET_STEPS, MAX_AUTO_EPOCHS * math.ceil(n / batch))
        assert (epochs - 1) * n <= max(TARGET_STEPS * MAX_BATCH, (MIN_EPOCHS - 1) * n)


def test_budget_keeps_explicit_epochs_and_batch_bound():
    assert training_budget(900, max_epochs=7) == (32, 7)
    assert training_budget(900, max_epochs=None) == training_budget(900, "auto")
    assert training_budget(100_000, batch_size=64)[0] == 64
    for bad in (0, -1, 2.5, "many", True):
        with pytest.raises(ValueError, match="max_epochs"):
            training_budget(100, max_epochs=bad)


def test_warmup_then_cosine_to_zero():
    f = _warmup_cosine(200)
    values = np.array([f(s) for s in range(201)])
    warm = int(np.argmax(values))
    assert 1 <= warm <= 20 and values[warm] == pytest.approx(1.0)
    assert np.all(np.diff(values[:warm + 1]) > 0) and np.all(np.diff(values[warm:]) <= 1e-12)
    assert values[-1] == pytest.approx(0.0, abs=1e-12)


def test_learning_rate_follows_the_schedule(monkeypatch):
    lrs = []
    original = _ObjectiveModule.loss

    def loss(self, outputs, y):
        if self.training:
            lrs.append(current["optimizer"].param_groups[0]["lr"])
        return original(self, outputs, y)

    current = {}
    original_init = torch.optim.Adam.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        current["optimizer"] = self

    monkeypatch.setattr(_ObjectiveModule, "loss", loss)
    monkeypatch.setattr(torch.optim.Adam, "__init__", init)
    info = train_frame_network(_net(), P, Y, max_epochs=10, lr=1e-2, early_stopping=False)
    steps = 10 * math.ceil(60 / info["batch_size"])
    assert len(lrs) == steps
    expected = [1e-2 * _warmup_cosine(steps)(i) for i in range(steps)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)


def test_early_stopping_keeps_the_best_epoch_and_is_not_an_interrupt():
    """skorch's EarlyStopping stops training by raising KeyboardInterrupt: that must end
    training quietly, not reach the caller as Ctrl-C."""
    net = _net()
    info = train_frame_network(net, P, Y, max_epochs=60, lr=5e-2, early_stopping=True,
                               validation_fraction=0.2)
    valid = [row["valid_loss"] for row in info["history"]]
    assert info["n_epochs_trained"] == len(valid) <= 60
    assert info["best_epoch"] == _kept_epoch(valid)


def _kept_epoch(valid, threshold=1e-4):
    """The epoch skorch's EarlyStopping restores: the last one whose validation loss beat the
    best so far by more than ``threshold`` (relative, its default)."""
    best, kept = np.inf, None
    for epoch, loss in enumerate(valid, 1):
        if loss < best * (1 - threshold):
            best, kept = loss, epoch
    return kept


def test_best_epoch_names_the_epoch_whose_weights_were_kept():
    """Here the lowest validation loss (epoch 20) beat epoch 18's by less than EarlyStopping's
    threshold, so epoch 18's weights are the ones kept, and ``best_epoch_`` says so."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6 * 3))
    y = X[:, 0] ** 2 + 0.1 * rng.normal(size=120)
    canon = CanonicalizerTransformer("S_n", "learned", hidden=8, random_state=7, neighbourhood=False).fit(X, y)
    valid = [row["valid_loss"] for row in canon.canonicalizer_.history_]
    assert canon.canonicalizer_.best_epoch_ == _kept_epoch(valid) != int(np.argmin(valid)) + 1


def test_schedule_plans_the_steps_the_validation_split_leaves(monkeypatch):
    """skorch's ValidSplit holds out ceil(fraction * n) samples: with n=36 and 0.1, 32 train
    in 2 mini-batches per epoch, and the cosine must reach zero at the last of them."""
    import skcanon._training as training

    calls = []
    original = training._warmup_cosine

    def spy(total):
        f = original(total)
        return lambda step: calls.append((step, total)) or f(step)

    monkeypatch.setattr(training, "_warmup_cosine", spy)
    rng = np.random.default_rng(0)
    canon = CanonicalizerTransformer("S_n", "learned", hidden=8, random_state=0, max_epochs=5).fit(
        rng.normal(size=(36, 5 * 3)), rng.normal(size=36))
    assert canon.canonicalizer_.n_epochs_trained_ == 5
    step, total = calls[-1]
    assert step == total == 10


def test_training_uses_one_thread_by_default_and_restores_the_setting(monkeypatch):
    threads = []
    original = _ObjectiveModule.loss

    def loss(self, outputs, y):
        threads.append(torch.get_num_threads())
        return original(self, outputs, y)

    monkeypatch.setattr(_ObjectiveModule, "loss", loss)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train_frame_network(_net(), P, Y, max_epochs=2, early_stopping=False)
        assert set(threads) == {1}
        assert torch.get_num_threads() == 2
        threads.clear()
        train_frame_network(_net(), P, Y, max_epochs=1, early_stopping=False, n_jobs=2)
        assert set(threads) == {min(2, len(__import__("os").sched_getaffinity(0)))}
    finally:
        torch.set_num_threads(before)


def test_same_weights_whatever_the_callers_thread_count():
    before = torch.get_num_threads()
    weights = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            net = _net()
            train_frame_network(net, P, Y, max_epochs=3, early_stopping=False, seed=4)
            weights.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(weights[0], weights[1])


@pytest.mark.parametrize("scale", [1e300, 1e200, 1e-300])
def test_extreme_scales_train_like_unit_scale(scale):
    """The training set is divided by a power of two; at 1e300 the mean of squares used to
    overflow and ``round(log2(inf))`` raised OverflowError."""
    k = int(round(math.log2(scale)))
    a, b = _net(), _net()
    train_frame_network(a, P, Y, max_epochs=2, early_stopping=False)
    train_frame_network(b, P * 2.0 ** k, Y, max_epochs=2, early_stopping=False)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)  # powers of two rescale exactly
    assert np.isfinite(_power_of_two_scale(P * scale))


def test_learned_transformer_fits_1e300_input():
    X = P.reshape(60, -1) * 1e300
    canon = CanonicalizerTransformer("SE3", "learned", hidden=8, max_epochs=2, random_state=0).fit(X, Y)
    out = canon.transform(X)
    assert out.shape == X.shape and np.isfinite(out).all()


def test_scalar_columns_are_not_rescaled():
    """Networks that standardise scalar fields with statistics from fit must see the same
    scalar values in training as at transform: only geometric columns are rescaled."""
    from skcanon._training import _rescaled_float32

    layout = PointLayout(3, fields=[("pos", "position"), ("q", "scalar")])
    net = build_frame_network(get_group("SE3"), layout, 8)
    Q = np.concatenate([P * 1e6, np.full((60, 6, 1), 6.0)], axis=2)
    R = _rescaled_float32(Q, net)
    assert np.all(R[..., 3] == 6.0)
    assert 0.1 < np.sqrt(np.mean(R[..., :3] ** 2)) < 10


def test_trainer_reads_the_declared_learning_options_only():
    """train_frame_network takes the trainer's learning options by name, with the defaults
    of skcanon._learning_options, and refuses any other."""
    from skcanon._learning_options import LEARNING_OPTIONS, TRAINER_OPTIONS

    P = np.random.default_rng(0).normal(size=(40, 5, 3))
    with pytest.raises(TypeError, match="unexpected options"):
        train_frame_network(_net(), P, None, max_epoch=2)
    with pytest.raises(TypeError, match="unexpected options"):
        train_frame_network(_net(), P, None, random_state=0)  # the caller turns it into seed
    info = train_frame_network(_net(), P, None, max_epochs=np.int64(1), early_stopping=False)
    assert info["max_epochs"] == 1 and info["objective"] == "align"
    assert LEARNING_OPTIONS.defaults(TRAINER_OPTIONS)["batch_size"] == 4096


@pytest.mark.parametrize("y, message", [
    (np.r_[np.nan, np.arange(29.0)], "y contains NaN or infinity"),
    (np.array([["a", "x"], ["b", "y"]] * 15), r"several class labels per sample"),
    (np.array(["a", "b"] * 14 + ["a"]), "y has 29 entries but X has 30 samples"),
])
def test_supervised_targets_get_errors_that_name_y(y, message):
    """Bad targets of the supervised objective: a message about ``y``, not numpy's or
    scikit-learn's about an anonymous input (and no cast warning before it)."""
    import warnings

    X = np.random.default_rng(0).normal(size=(30, 15))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=message):
            CanonicalizerTransformer("S_n", "learned", hidden=8, max_epochs=1, random_state=0).fit(X, y)


def test_validation_guard_counts_the_samples_the_split_holds_out(monkeypatch):
    """ValidSplit holds out ceil(0.94 * 20) = 19 samples: the guard used floor (18) and let
    training run on 1 sample. Now it counts the same 19 and trains on all 20 without a
    split; 0.9 of 20 (18 held out, 2 left) still validates on the same split."""
    import skcanon._training as training

    seen = []
    original = training._ObjectiveNet.train_step
    monkeypatch.setattr(training._ObjectiveNet, "train_step",
                        lambda self, batch, **kw: seen.append(len(batch[0])) or original(self, batch, **kw))
    X = np.random.default_rng(0).normal(size=(20, 5 * 3))
    y = np.arange(20) % 2
    canon = CanonicalizerTransformer("S_n", "learned", hidden=8, max_epochs=2, random_state=0,
                                     validation_fraction=0.94).fit(X, y)
    assert sum(seen) == 2 * 20 and canon.canonicalizer_.best_epoch_ is None
    seen.clear()
    canon = CanonicalizerTransformer("S_n", "learned", hidden=8, max_epochs=2, random_state=0,
                                     validation_fraction=0.9).fit(X, y)
    assert seen == [2, 2] and canon.canonicalizer_.best_epoch_ is not None


def _rescaled_reference(P, columns):
    """The whole-array computation: float64 copy, the power of two of the finite entries'
    RMS, every geometric column divided by it, then float32."""
    values = np.array(P, dtype=np.float64)
    part = values[..., columns]
    finite = np.abs(part[np.isfinite(part)])
    if finite.size and finite.max() > 0:
        peak = float(finite.max())
        k = round(math.log2(peak) + 0.5 * math.log2(float(np.mean((finite / peak) ** 2))))
        values[..., columns] = part / 2.0 ** min(1000, max(-1000, k))
    return values.astype(np.float32)


@pytest.mark.parametrize("n", [1, 4095, 4096, 4097, 60000])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_set_is_rescaled_block_by_block_like_the_whole_array(n, dtype):
    """The float32 training copy is made a block of rows at a time (one float64 copy of the
    geometric entries instead of several of the whole set): the same bits as the
    whole-array computation, across block boundaries, and the caller's array untouched."""
    import tracemalloc

    from skcanon._training import _rescaled_float32

    rs = np.random.default_rng(n)
    layout = PointLayout(3, fields=[("pos", "position"), ("q", "scalar"), ("v", "vector")])
    net = build_frame_network(get_group("SE3"), layout, 8)
    Q = (rs.normal(size=(n, 5, 7)) * 777.0).astype(dtype)
    Q[::3, -1] = np.nan
    before = Q.copy()
    columns = np.array([True] * 3 + [False] + [True] * 3)
    tracemalloc.start()
    R = _rescaled_float32(Q, net)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.array_equal(Q, before, equal_nan=True)
    assert R.dtype == np.float32 and np.array_equal(R, _rescaled_reference(Q, columns), equal_nan=True)
    if n >= 60000:  # the result, one float64 copy of the geometric entries, a few blocks' copies
        assert peak < R.nbytes + Q[..., columns].size * 8 + 6 * 2**20
