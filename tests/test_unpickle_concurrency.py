"""Loading (unpickling) a fitted learned model while another thread trains.

Seeded regions (:func:`skcanon.nn._torch.seeded`: every network fit) hold one process-wide
lock around torch's generator. Unpickling a learned or random canonicalizer used to rebuild
its network inside such a region, so ``pickle.loads`` in one thread waited until a fit in
another thread had finished training (minutes). The rebuild now draws its (overwritten)
initial weights from a private generator: no lock, the caller's generator untouched, the
other thread's seeded stream undisturbed, and the loaded model equal to the saved one bit
for bit.
"""

import pickle
import threading
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skcanon import CanonicalizerTransformer, EndToEndEquivariantRegressor  # noqa: E402
from skcanon.layouts import ImageLayout  # noqa: E402
from skcanon.nn._torch import seeded  # noqa: E402

TRAIN = dict(max_epochs=1, early_stopping=False, random_state=0)
X_POINTS = (np.random.default_rng(0).normal(size=(24, 5, 3)) * [3.0, 2.0, 1.0]).reshape(24, -1)
# symmetric inputs too: a regular tetrahedron (ties in the networks' tie rules) and all zeros
_TETRA = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1], [0, 0, 0]], float)
X_POINTS = np.concatenate([X_POINTS, _TETRA.reshape(1, -1), np.zeros((1, 15))])
X_IMAGES = np.random.default_rng(0).random((16, 64))
X_IMAGES = np.concatenate([X_IMAGES, np.ones((1, 64)), np.zeros((1, 64))])   # symmetric images

CASES = {
    "random-points": (lambda: CanonicalizerTransformer("SO3", "random", hidden=8, random_state=0), X_POINTS),
    "learned-points": (lambda: CanonicalizerTransformer("SE3xS_n", "learned", objective="align", hidden=8,
                                                        **TRAIN), X_POINTS),
    "random-image": (lambda: CanonicalizerTransformer("C4", "random", hidden=4, random_state=0,
                                                      layout=ImageLayout((8, 8))), X_IMAGES),
    "learned-image": (lambda: CanonicalizerTransformer("D4", "learned", hidden=4, layout=ImageLayout((8, 8)),
                                                       **TRAIN), X_IMAGES),
    # skorch unpickles the module itself (no rebuild): guards that it stays lock-free
    "end-to-end-regressor": (lambda: EndToEndEquivariantRegressor(max_epochs=1, random_state=0), X_POINTS),
}


def _fit(case):
    factory, X = CASES[case]
    est = factory()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case.startswith("end-to-end"):
            est.fit(X.astype(np.float32), 1.5 * X.astype(np.float32))
        else:
            est.fit(X.astype(np.float32))
    return est, X


def _outputs(est, X, dtype):
    Xd = X.astype(dtype)
    return est.predict(Xd) if hasattr(est, "predict") else est.transform(Xd)


@pytest.mark.parametrize("case", sorted(CASES))
def test_loading_does_not_wait_for_a_seeded_region_of_another_thread(case):
    """Thread H sits inside ``seeded(123)`` (as a fit does while it trains) and draws before and
    after the load; the load in thread L must end while H still holds the lock, and H's draws
    must be those of ``seeded(123)`` alone."""
    est, X = _fit(case)
    blob = pickle.dumps(est)
    with seeded(123):
        lone = torch.rand(4)
    inside, leave = threading.Event(), threading.Event()
    drawn, loaded, errors = {}, {}, []

    def hold():
        with seeded(123):
            drawn["a"] = torch.rand(2)
            inside.set()
            leave.wait(120)
            drawn["b"] = torch.rand(2)

    def load():
        try:
            loaded["model"] = pickle.loads(blob)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    holder = threading.Thread(target=hold, name="holder")
    holder.start()
    try:
        assert inside.wait(60)
        loader = threading.Thread(target=load, name="loader")
        loader.start()
        loader.join(30)
        finished = not loader.is_alive()
    finally:
        leave.set()
        holder.join(60)
    loader.join(60)
    assert not holder.is_alive() and not loader.is_alive()
    assert finished, f"pickle.loads of {case} waited for the seeded region of another thread"
    assert not errors, errors
    # the load drew nothing from the holder's seeded stream
    torch.testing.assert_close(torch.cat([drawn["a"], drawn["b"]]), lone, rtol=0, atol=0)
    model = loaded["model"]
    for dtype in (np.float64, np.float32):
        want, got = _outputs(est, X, dtype), _outputs(model, X, dtype)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case", sorted(CASES))
def test_loading_leaves_the_caller_generator_alone(case):
    est, X = _fit(case)
    blob = pickle.dumps(est)
    torch.manual_seed(7)
    before = torch.get_rng_state()
    model = pickle.loads(blob)
    assert torch.equal(torch.get_rng_state(), before)
    for dtype in (np.float64, np.float32):
        np.testing.assert_array_equal(_outputs(model, X, dtype), _outputs(est, X, dtype))


def test_private_draws_gives_the_seeded_initialisation_without_the_global_generator():
    """``private_draws(seed)`` routes this thread's draws (factories, ``*_like``, Tensor
    methods, ``torch.nn.init``) to a private generator: the same values as ``seeded(seed)``
    on the CPU, the global generator neither read nor moved, explicit generators kept."""
    from skcanon.nn._torch import private_draws

    def build():
        torch.nn.Linear(3, 4)                           # kaiming_uniform_ + uniform_
        torch.nn.Embedding(5, 2)                        # init.normal_
        own = torch.Generator().manual_seed(99)
        return [torch.nn.Linear(3, 4).weight.detach().clone(), torch.nn.Embedding(5, 2).weight.detach().clone(),
                torch.randn(3), torch.rand(2, dtype=torch.float64), torch.randint(0, 9, (3,)),
                torch.randperm(5), torch.rand_like(torch.empty(2)), torch.empty(3).normal_(),
                torch.empty(3).uniform_(-1, 1), torch.rand(2, generator=own)]

    with seeded(0):
        want = build()
    torch.manual_seed(5)
    before = torch.get_rng_state()
    with private_draws(0):
        got = build()
    assert torch.equal(torch.get_rng_state(), before)
    for w, g in zip(want, got):
        torch.testing.assert_close(g, w, rtol=0, atol=0)
    torch.testing.assert_close(got[-1], torch.rand(2, generator=torch.Generator().manual_seed(99)), rtol=0, atol=0)
