"""A ``device`` this machine lacks is a ValueError naming ``device``, the devices there are and
the fix, before any work, for every estimator that runs a network.

``EndToEndEquivariantRegressor/Classifier(device="cuda")`` without CUDA raised torch's raw
``AssertionError: Torch not compiled with CUDA enabled`` from inside skorch, and ``"mps"``
a RuntimeError from every network estimator, while ``CanonicalizerTransformer`` already
said what was wrong for ``"cuda"``.
"""

import numpy as np
import pytest

from skcanon import CanonicalizerTransformer, EndToEndEquivariantClassifier, EndToEndEquivariantRegressor
from skcanon.layouts import ImageLayout

torch = pytest.importorskip("torch")

X = np.random.default_rng(0).normal(size=(16, 18))
IMAGES = np.random.default_rng(0).random((8, 64))


def _missing_devices():
    """Devices this machine does not have, as strings and torch.device objects."""
    n_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = [f"cuda:{n_cuda}", torch.device("cuda", n_cuda)]
    if n_cuda == 0:
        missing += ["cuda", torch.device("cuda")]
    if not torch.backends.mps.is_available():
        missing += ["mps"]
    return missing


FITS = {
    "learned": lambda d: CanonicalizerTransformer("SO3", "learned", objective="align", hidden=8, max_epochs=1,
                                                  device=d).fit(X),
    "random": lambda d: CanonicalizerTransformer("SO3", "random", hidden=8, device=d).fit(X),
    "random-image": lambda d: CanonicalizerTransformer("C4", "random", hidden=4, layout=ImageLayout((8, 8)),
                                                       device=d).fit(IMAGES),
    "end-to-end-regressor": lambda d: EndToEndEquivariantRegressor(max_epochs=1, module__hidden=8, device=d)
    .fit(X.astype(np.float32), X.astype(np.float32)),
    "end-to-end-classifier": lambda d: EndToEndEquivariantClassifier(max_epochs=1, module__hidden=8, device=d)
    .fit(X.astype(np.float32), np.arange(16) % 2),
}


@pytest.mark.parametrize("device", _missing_devices(), ids=str)
@pytest.mark.parametrize("case", sorted(FITS))
def test_a_missing_device_is_a_clear_value_error(case, device):
    if case == "random-image":
        pytest.importorskip("skcanon.nn._images")
    with pytest.raises(ValueError, match=r"device='(cuda|mps)[:0-9]*' was requested but .*available here: cpu"
                                         r".*Use device='cpu'") as err:
        FITS[case](device)
    # "auto" is a fix only where it is accepted (not skorch's end-to-end estimators)
    assert ("device='auto'" in str(err.value)) == (not case.startswith("end-to-end"))


def test_the_end_to_end_check_comes_before_any_work(monkeypatch):
    from skorch import NeuralNet

    def fail(*args, **kwargs):
        raise AssertionError("skorch was reached")

    monkeypatch.setattr(NeuralNet, "initialize", fail)
    est = EndToEndEquivariantRegressor(max_epochs=1, device=_missing_devices()[0])
    with pytest.raises(ValueError, match="device="):
        est.fit(X.astype(np.float32), X.astype(np.float32))
    assert not getattr(est, "initialized_", False)


def test_a_cuda_index_beyond_the_gpus_names_the_ones_there(monkeypatch):
    from skcanon._validation import check_device_available

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    check_device_available("cuda:0")
    check_device_available("cuda")
    with pytest.raises(ValueError, match=r"device='cuda:1' .* 1 CUDA device\(s\), cuda:0 to cuda:0; "
                                         r"available here: cpu, cuda:0\. Use one of those"):
        check_device_available("cuda:1")


def test_available_devices_pass():
    from skcanon._validation import available_devices, check_device_available
    from skcanon.nn._torch import resolve_device

    for device in available_devices():
        check_device_available(device)
        assert resolve_device(device) == device
    assert resolve_device("auto") in available_devices() + ["cuda"]
    assert resolve_device(torch.device("cpu")) == "cpu"


# -- seeded fits and torch's CUDA generators ----------------------------------------------------
@pytest.mark.parametrize("case", ["learned", "random", "end-to-end-regressor", "end-to-end-classifier"])
def test_a_seeded_fit_leaves_an_unstarted_cuda_alone(monkeypatch, case):
    """A seeded region called ``torch.manual_seed``, which, while CUDA is not initialized,
    queues its seed for CUDA's start: a CPU fit reseeded the caller's CUDA generators later
    (a user's ``torch.manual_seed(0)`` before the fit was overridden by the fit's seed)."""
    seeds = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", seeds.append)
    monkeypatch.setattr(torch.cuda, "manual_seed", seeds.append)
    if torch.cuda.is_available():
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    est = FITS[case]("cpu")
    est.set_params(random_state=3).fit(*([X.astype(np.float32)] + ([np.arange(16) % 2] if "classifier" in case
                                       else [X.astype(np.float32)] if "regressor" in case else [])))
    assert seeds == []


@pytest.mark.parametrize("initialized, device, expected, inits", [
    (False, None, [], 0),        # CUDA not started and not used: left alone
    (False, "cpu", [], 0),
    (False, " CUDA:1 ", [0, 1], 1),   # a region whose work runs on CUDA starts it, then seeds every device
    (True, None, [0, 1], 0),     # once started, every device's generator is saved, seeded and restored
    (True, "cpu", [0, 1], 0),
])
def test_which_cuda_generators_a_seeded_region_covers(monkeypatch, initialized, device, expected, inits):
    from skcanon.nn._torch import _cuda_generators

    state = {"initialized": initialized, "inits": 0}
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: state["initialized"])
    monkeypatch.setattr(torch.cuda, "init", lambda: state.update(initialized=True, inits=state["inits"] + 1))
    assert _cuda_generators(device) == expected
    assert state["inits"] == inits


def test_a_cpu_region_asks_the_cuda_driver_nothing(monkeypatch):
    """``torch.cuda.is_available()`` starts the CUDA driver (a process forked after it cannot
    use CUDA): a region whose work runs on the CPU must not call it, nor start CUDA."""
    from skcanon.nn._torch import _cuda_generators, seeded

    def refuse(*args):
        raise AssertionError("the CUDA driver was asked")

    for name in ("is_available", "init", "device_count", "manual_seed_all"):
        monkeypatch.setattr(torch.cuda, name, refuse)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    assert _cuda_generators(None) == [] and _cuda_generators("cpu") == []
    with seeded(3, device="cpu"):
        torch.rand(2)
