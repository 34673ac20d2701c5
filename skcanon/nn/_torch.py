"""Torch and skorch helpers shared by every network entry point: seeding, device resolution,
the data precision the networks' tie rules follow, and the interrupt rule.

The learned canonicalizers, the trainer (:mod:`skcanon._training`) and the end-to-end
estimators (:mod:`skcanon._end_to_end`) seed torch, resolve ``device="auto"`` and re-raise
``KeyboardInterrupt`` after skorch the same way; this module holds those rules once.
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = ["check_default_dtype", "resolve_device", "seed_from", "seeded", "private_draws", "set_precision",
           "InterruptRaisingMixin"]


def set_precision(network, dtype):
    """Tell the point networks in ``network`` the dtype of the data (numpy or torch dtype):
    the tolerances of their tie rules on symmetric inputs follow its rounding."""
    if isinstance(dtype, torch.dtype):
        dtype = torch.empty((), dtype=dtype).numpy().dtype
    for module in network.modules():
        if hasattr(module, "precision"):
            module.precision = np.dtype(dtype)


def check_default_dtype(who):
    """Refuse a torch default dtype other than float32: the networks and their inputs are
    float32, and some of their tensors are made in the default dtype, so under another one
    they clash deep inside torch (or, for a frozen ``random`` network, draw other weights)."""
    if torch.get_default_dtype() != torch.float32:
        raise RuntimeError(f"{who} run in float32, but torch's default dtype is "
                           f"{torch.get_default_dtype()} (torch.set_default_dtype). Set it back with "
                           "torch.set_default_dtype(torch.float32) around fit and predict.")


def resolve_device(device):
    """``"auto"`` → ``"cuda"`` when available, else ``"cpu"``; other devices are normalised by
    :func:`~skcanon._validation.check_device` and must be on this machine (a ValueError
    naming ``device`` and the fix otherwise, before any work)."""
    from .._validation import check_device, check_device_available

    device = check_device(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    check_device_available(device)
    return device


def seed_from(random_state):
    """An int seed drawn from ``random_state`` (int, RandomState or None)."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


#: held for the whole of every seeded region; re-entrant, so regions nest in one thread
_RNG_LOCK = threading.RLock()


def _reinit_after_fork():
    # the forking thread keeps a lock it holds; one held by another thread (which does not
    # exist in the child) would stay held for ever
    global _RNG_LOCK
    if not _RNG_LOCK._is_owned():
        _RNG_LOCK = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


def _cuda_generators(device=None):
    """Indices of the CUDA devices whose generators a :func:`seeded` region saves, seeds and
    restores: all of them once CUDA is initialized in this process. A region whose work runs
    on CUDA (``device``) initializes CUDA first, so its draws there are seeded too; any other
    region leaves an uninitialized CUDA alone (``torch.manual_seed`` would queue its seed for
    CUDA's start, reseeding the caller's CUDA generators later)."""
    cuda = torch.cuda
    # is_initialized() asks no driver: is_available() would start it (cuInit) in a CPU fit,
    # and a process forked after that cannot use CUDA
    if str(device).strip().lower().startswith("cuda") and not cuda.is_initialized():
        cuda.init()
    return list(range(cuda.device_count())) if cuda.is_initialized() else []


@contextlib.contextmanager
def seeded(seed, device=None):
    """Seed torch's CPU generator (and the CUDA ones in use, see :func:`_cuda_generators`)
    inside the block and restore the caller's state after.

    torch has one CPU generator per process. Fits running at the same time in threads
    (joblib's ``"threading"`` backend, Dask workers with several threads, a user's own
    threads) would draw from it in turn, giving other weights than the same fit alone, and
    each would restore the state it saved over the other's, changing the caller's
    generator. So every seeded region holds one process-wide re-entrant lock from seeding
    to restoring: regions in different threads run one after the other (a threaded fit
    waits for the other's seeded part, which for the networks is all of training), and
    regions nest freely in one thread. Loading (unpickling) a learned canonicalizer needs no
    region: it rebuilds its network under :func:`private_draws`, which takes no lock and
    leaves this generator alone. Code inside a region must not wait for another
    thread that enters one (a skorch callback joining a thread that fits a network
    would deadlock). Draws from torch's generator outside any region, in another thread,
    still interleave: torch gives no way to keep them out.
    """
    with _RNG_LOCK:
        cuda = _cuda_generators(device)
        with torch.random.fork_rng(devices=cuda):
            torch.random.default_generator.manual_seed(seed)
            if cuda:
                torch.cuda.manual_seed_all(seed)
            yield


#: torch functions and Tensor methods that draw from a generator and take ``generator=``
_DRAWING_NAMES = ("rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like",
                  "normal", "bernoulli", "multinomial", "poisson", "binomial")
_DRAWING_METHODS = ("uniform_", "normal_", "random_", "exponential_", "cauchy_", "log_normal_",
                    "geometric_", "bernoulli_", "bernoulli", "multinomial")
_DRAWING = None
_TAKES_GENERATOR = {}


def _draws(func):
    """Whether ``func`` (as a torch function mode sees it) draws from a generator it takes as
    ``generator=``: the builtins above, and Python functions with a ``generator`` parameter
    (``torch.nn.init``'s initialisers)."""
    global _DRAWING
    if _DRAWING is None:
        _DRAWING = ({getattr(torch, n) for n in _DRAWING_NAMES if hasattr(torch, n)}
                    | {getattr(torch.Tensor, n) for n in _DRAWING_METHODS if hasattr(torch.Tensor, n)})
    try:
        if func in _DRAWING:
            return True
    except TypeError:   # pragma: no cover - an unhashable callable
        return False
    takes = _TAKES_GENERATOR.get(func)
    if takes is None:
        import inspect

        try:
            takes = "generator" in inspect.signature(func).parameters and inspect.isfunction(func)
        except (TypeError, ValueError):
            takes = False
        _TAKES_GENERATOR[func] = takes
    return takes


def _device_of(args, kwargs):
    device = kwargs.get("device")
    if device is not None:
        return torch.device(device)
    for a in args:
        if isinstance(a, torch.Tensor):
            return a.device
    default = getattr(torch, "get_default_device", None)     # torch >= 2.3
    return default() if default is not None else torch.device("cpu")


class _PrivateDraws(torch.overrides.TorchFunctionMode):
    def __init__(self, seed):
        super().__init__()
        self.seed = int(seed)
        self.generators = {}

    def generator(self, device):
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        gen = self.generators.get(device)
        if gen is None:
            gen = self.generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return gen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if (kwargs.get("generator") is None and _draws(func)
                and not any(isinstance(a, torch.Generator) for a in args)):
            kwargs["generator"] = self.generator(_device_of(args, kwargs))
        return func(*args, **kwargs)


@contextlib.contextmanager
def private_draws(seed=0):
    """Give this thread's draws inside the block private generators (one per device, seeded
    with ``seed``) instead of torch's global one.

    For building a network whose weights are then overwritten (a ``load_state_dict`` on
    unpickling): the initialisers' draws neither read nor move the caller's generator and
    need no :func:`seeded` region, so the build does not wait for a fit training in another
    thread and does not disturb its stream. On the CPU the network gets the same initial
    weights as one built in ``seeded(seed)``. The routing is a torch function mode, which
    is per thread: draws of other threads keep using the global generator. Draws that the
    block passes a generator to explicitly keep it. Before torch 2.2 ``torch.nn.init`` took
    no generator: there the block is a :func:`seeded` region (it waits for the lock).
    """
    import inspect

    if "generator" not in inspect.signature(torch.nn.init.kaiming_uniform_).parameters:  # pragma: no cover
        with seeded(seed):
            yield
        return
    with _PrivateDraws(seed):
        yield


def _raised_by_callback(exc):
    """Whether ``exc`` was raised inside a skorch callback (e.g. ``EarlyStopping``).

    skorch's callbacks stop training by raising ``KeyboardInterrupt`` on purpose; Ctrl-C
    arrives wherever the loop is, almost always in the forward or backward pass.
    """
    from skorch.callbacks import Callback

    tb = exc.__traceback__
    while tb is not None:
        if isinstance(tb.tb_frame.f_locals.get("self"), Callback):
            return True
        tb = tb.tb_next
    return False


@contextlib.contextmanager
def unseeded():
    """Hold :func:`seeded`'s lock without seeding: a fit that draws from the caller's
    generator (``random_state=None``) advances it as before but does not interleave with
    seeded fits in other threads."""
    with _RNG_LOCK:
        yield


class _InferenceGeneratorMixin:
    """Keep skorch's inference DataLoaders (``predict``, ``score``) off torch's global generator.

    Every DataLoader iteration draws a base seed from torch's global generator, shuffled or
    not. Outside a seeded region (a fitted model's ``predict``) that draw lands in the
    middle of a fit's seeded stream when a fit runs in another thread, as in
    ``GridSearchCV`` with joblib's ``"threading"`` backend (one fold scores while the next
    trains), and it moves the caller's generator. Such iterators get a generator of their
    own; batches and predictions are the same. Inside a seeded region (scoring during
    ``fit``) the draw stays in the fit's stream, so fits give the weights they always gave.
    """

    def get_iterator(self, dataset, training=False):
        iterator = super().get_iterator(dataset, training=training)
        if (not training and not _RNG_LOCK._is_owned() and isinstance(iterator, torch.utils.data.DataLoader)
                and iterator.generator is None):
            iterator.generator = torch.Generator()
        return iterator


class InterruptRaisingMixin(_InferenceGeneratorMixin):
    """Raise ``KeyboardInterrupt`` again after skorch's ``partial_fit`` swallowed it.

    skorch stops the epoch loop on Ctrl-C, runs the ``on_train_end`` callbacks and returns
    normally, so a script cannot tell a finished fit from an interrupted one. Mixed in
    before a skorch net, the interrupt reaches the caller once skorch has cleaned up; the
    message says how many epochs ran. A ``KeyboardInterrupt`` raised by a callback (skorch's
    ``EarlyStopping`` and similar stopping rules) still just ends training.

    Every skorch net of skcanon mixes this in, so it also carries
    :class:`_InferenceGeneratorMixin` (``predict`` leaves torch's global generator alone).
    """

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt as exc:
            if not _raised_by_callback(exc):
                self.__dict__["_interrupted_"] = True    # trailing "_": not a parameter
            raise

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        self.__dict__.pop("_interrupted_", None)
        # epochs of earlier calls (warm starts, partial_fit) are not this call's
        earlier = len(self.history) if getattr(self, "initialized_", False) else 0
        super().partial_fit(X, y, classes=classes, **fit_params)
        if self.__dict__.pop("_interrupted_", False):
            done = sum(1 for row in self.history[earlier:] if "train_loss" in row)
            raise KeyboardInterrupt(f"training interrupted after {done} complete epoch(s); the "
                                    "half-trained weights were not kept as a fit.")
        return self
