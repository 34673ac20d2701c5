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
