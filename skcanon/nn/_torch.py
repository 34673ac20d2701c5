"""Torch and skorch helpers shared by every network entry point: seeding, device resolution,
the data precision the networks' tie rules follow, and the interrupt rule.

The learned canonicalizers, the trainer (:mod:`skcanon._training`) and the end-to-end
estimators (:mod:`skcanon._end_to_end`) seed torch, resolve ``device="auto"`` and re-raise
``KeyboardInterrupt`` after skorch the same way; this module holds those rules once.
"""

from __future__ import annotations

import contextlib

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
    """``"auto"`` → ``"cuda"`` when available, else ``"cpu"``; other strings pass through."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str):
        raise TypeError(f"device must be 'auto', 'cpu', 'cuda' or a torch device string; got {device!r}.")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; use 'auto' or 'cpu'.")
    return device


def seed_from(random_state):
    """An int seed drawn from ``random_state`` (int, RandomState or None)."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


@contextlib.contextmanager
def seeded(seed):
    """Seed torch's CPU generator inside the block and restore the caller's state after."""
    with torch.random.fork_rng(devices=[]):
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


class InterruptRaisingMixin:
    """Raise ``KeyboardInterrupt`` again after skorch's ``partial_fit`` swallowed it.

    skorch stops the epoch loop on Ctrl-C, runs the ``on_train_end`` callbacks and returns
    normally, so a script cannot tell a finished fit from an interrupted one. Mixed in
    before a skorch net, the interrupt reaches the caller once skorch has cleaned up; the
    message says how many epochs ran. A ``KeyboardInterrupt`` raised by a callback (skorch's
    ``EarlyStopping`` and similar stopping rules) still just ends training.
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
