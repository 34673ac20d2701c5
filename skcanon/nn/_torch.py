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

__all__ = ["resolve_device", "seed_from", "seeded", "set_precision", "InterruptRaisingMixin"]


def set_precision(network, dtype):
    """Tell the point networks in ``network`` the dtype of the data (numpy or torch dtype):
    the tolerances of their tie rules on symmetric inputs follow its rounding."""
    if isinstance(dtype, torch.dtype):
        dtype = torch.empty((), dtype=dtype).numpy().dtype
    for module in network.modules():
        if hasattr(module, "precision"):
            module.precision = np.dtype(dtype)


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


@contextlib.contextmanager
def seeded(seed):
    """Seed torch's CPU generator inside the block and restore the caller's state after.

    torch has one CPU generator per process. Fits running at the same time in threads
    (joblib's ``"threading"`` backend, Dask workers with several threads, a user's own
    threads) would draw from it in turn, giving other weights than the same fit alone, and
    each would restore the state it saved over the other's, changing the caller's
    generator. So every seeded region holds one process-wide re-entrant lock from seeding
    to restoring: regions in different threads run one after the other (a threaded fit
    waits for the other's seeded part, which for the networks is all of training), and
    regions nest freely in one thread. Loading (unpickling) a learned canonicalizer rebuilds
    its network in such a region, so it too waits while another thread of the process
    trains. Code inside a region must not wait for another
    thread that enters one (a skorch callback joining a thread that fits a network
    would deadlock). Draws from torch's generator outside any region, in another thread,
    still interleave: torch gives no way to keep them out.
    """
    with _RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
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
