"""Early stopping on a downstream score (``validation_score``).

* the default is the objective's validation loss, as before the option existed (images and
  point sets alike); ``"knn"`` watches the k-NN score of the held-out canonical forms;
* the initial weights ("epoch 0") are a candidate: when no epoch beats them, they are kept,
  so an anchored canonicalizer ends exactly at its heuristic;
* the kept weights are those of the best-scoring epoch, and training stops after the
  patience without improvement (quietly, not as Ctrl-C);
* ``"knn"`` without labels is refused with an error naming the option.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skcanon import CanonicalizerTransformer  # noqa: E402
from skcanon import _training  # noqa: E402
from skcanon._training import resolve_validation_score, train_frame_network  # noqa: E402
from skcanon.groups import get_group  # noqa: E402
from skcanon.layouts import ImageLayout, PointLayout  # noqa: E402
from skcanon.nn._factory import build_frame_network  # noqa: E402
from skcanon.nn._torch import seeded  # noqa: E402

RNG = np.random.default_rng(0)
P = RNG.normal(size=(60, 6, 3)) * [3.0, 2.0, 1.0]
Y = np.arange(60) % 3


def _net(group="SO3", layout=None, seed=0, anchored=False):
    with seeded(seed):
        return build_frame_network(get_group(group), layout or PointLayout(3), 8, anchored=anchored)


def _weights(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_default_is_the_loss_and_knn_is_explicit():
    from skcanon._learning_options import LEARNING_OPTIONS

    assert LEARNING_OPTIONS["validation_score"].default == "loss"
    assert resolve_validation_score("loss", "supervised") == "loss"
    assert resolve_validation_score("loss", "align") == "loss"
    assert resolve_validation_score("knn", "supervised+prior") == "knn"
    for bad in ("auto", "trees"):
        with pytest.raises(ValueError, match="validation_score"):
            resolve_validation_score(bad, "supervised")
    info = train_frame_network(_net(), P, Y, max_epochs=3)
    assert info["validation_score"] == "loss" and "valid_knn" not in info["history"][0]


def test_knn_needs_labels_and_says_so():
    with pytest.raises(ValueError, match="validation_score='knn'.*supervised"):
        train_frame_network(_net(), P, None, max_epochs=2, validation_score="knn")
    canon = CanonicalizerTransformer("SO3", "learned", objective="align", validation_score="knn",
                                     max_epochs=2, random_state=0, device="cpu")
    with pytest.raises(ValueError, match="validation_score='knn'"):
        canon.fit(P.reshape(60, -1))


def test_invalid_value_is_rejected_by_name():
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="validation_score"):
        CanonicalizerTransformer("SO3", "learned", validation_score="bogus").fit(P.reshape(60, -1), Y)


def test_auto_on_points_records_the_knn_score_and_keeps_the_best_epoch(monkeypatch):
    """The kept weights are exactly those of the best-scoring epoch; training stops after the
    patience without improvement; ``valid_knn`` is in the history."""
    seen = []
    original = _training._ProxySelection.score

    def recording(self):
        value = original(self)
        seen.append((value, _weights(self.network)))
        return value

    monkeypatch.setattr(_training._ProxySelection, "score", recording)
    net = _net()
    info = train_frame_network(net, P, Y, max_epochs=30, lr=5e-2, validation_fraction=0.3,
                               validation_score="knn")
    assert info["validation_score"] == "knn"
    scores = [v for v, _ in seen]
    assert [row["valid_knn"] for row in info["history"]] == scores[1:]
    best = int(np.argmax(scores))  # the first maximum: later ties are no improvement
    assert info["best_epoch"] == best
    assert _same(_weights(net), seen[best][1])
    patience = max(5, 30 // 5)
    assert info["n_epochs_trained"] == min(30, best + patience)


def test_initial_weights_are_kept_when_no_epoch_beats_them(monkeypatch):
    """Epoch 0 is a candidate: a score that never improves keeps the initial weights."""
    calls = []

    def falling(self):
        calls.append(len(calls))
        return 1.0 - 0.01 * len(calls)

    monkeypatch.setattr(_training._ProxySelection, "score", falling)
    net = _net()
    before = _weights(net)
    info = train_frame_network(net, P, Y, max_epochs=20, lr=5e-2, validation_score="knn")
    assert info["best_epoch"] == 0
    assert info["n_epochs_trained"] == 5  # patience max(5, 20 // 5), then a quiet stop
    assert _same(_weights(net), before)


def test_anchored_that_keeps_epoch_zero_is_the_heuristic(monkeypatch):
    monkeypatch.setattr(_training._ProxySelection, "score", lambda self: 0.5)
    X = P.reshape(60, -1)
    anchored = CanonicalizerTransformer("SE3xS_n", "anchored", random_state=0, device="cpu",
                                        max_epochs=6, validation_score="knn").fit(X, Y)
    heuristic = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(X)
    assert anchored.canonicalizer_.best_epoch_ == 0
    np.testing.assert_allclose(anchored.transform(X), heuristic.transform(X), atol=1e-9)


def test_loss_rule_is_unchanged_and_selects_by_validation_loss():
    net = _net()
    info = train_frame_network(net, P, Y, max_epochs=30, lr=5e-2, validation_fraction=0.2,
                               validation_score="loss")
    valid = [row["valid_loss"] for row in info["history"]]
    assert "valid_knn" not in info["history"][0]
    assert info["validation_score"] == "loss"
    best = info["best_epoch"]              # the lowest loss, up to EarlyStopping's 1e-4 threshold
    assert valid[best - 1] <= min(valid) * (1 + 1e-4) and all(v >= valid[best - 1] * (1 - 1e-4) for v in valid[best:])


def test_images_train_by_default_exactly_as_with_the_loss_rule():
    """Image networks: the default is the validation loss, bit for bit."""
    layout = ImageLayout((1, 12, 12))
    X = np.random.default_rng(1).random((40, 1, 12, 12)).astype(np.float32)
    y = np.arange(40) % 2
    out = []
    for options in ({}, {"validation_score": "loss"}):
        net = _net("C4", layout)
        info = train_frame_network(net, X, y, max_epochs=3, validation_fraction=0.25, **options)
        out.append((_weights(net), info))
    assert _same(out[0][0], out[1][0])
    assert out[0][1]["history"] == out[1][1]["history"]
    assert out[0][1]["validation_score"] == "loss"
    # the k-NN score is available to image networks too, when asked for
    info = train_frame_network(_net("C4", layout), X, y, max_epochs=2, validation_fraction=0.25,
                               validation_score="knn")
    assert info["validation_score"] == "knn" and "valid_knn" in info["history"][-1]


def test_same_seed_same_result_with_knn():
    X = P.reshape(60, -1)
    kw = dict(random_state=3, device="cpu", max_epochs=4, validation_score="knn")
    a = CanonicalizerTransformer("SO3xS_n", "learned", **kw).fit(X, Y)
    b = CanonicalizerTransformer("SO3xS_n", "learned", **kw).fit(X, Y)
    assert a.canonicalizer_.history_[0]["valid_knn"] == b.canonicalizer_.history_[0]["valid_knn"]
    assert a.canonicalizer_.best_epoch_ == b.canonicalizer_.best_epoch_
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_pickles_from_before_the_option_refit_with_the_loss_rule():
    canon = CanonicalizerTransformer("SO3", "learned", random_state=0, device="cpu")
    state = canon.__getstate__()
    state.pop("validation_score")
    old = CanonicalizerTransformer.__new__(CanonicalizerTransformer)
    old.__setstate__(state)
    assert old.validation_score == "loss"
