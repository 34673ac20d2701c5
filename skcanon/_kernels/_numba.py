"""When the optional compiled (numba) kernels run, and building them once per process.

One concern: the switch between the numpy passes and the numba-compiled per-sample loops
of :mod:`~skcanon._kernels.pca` (the 3-D PCA fast path) and :mod:`~skcanon._kernels.lexsort`
(the tolerant point sort), which make the same decisions and differ in their outputs only
by float32 rounding.

``SKCANON_NUMBA`` chooses:

* ``1`` (``true``, ``yes``, ``on``) — always, where numba is installed (the ``fast`` extra);
* ``0`` (``false``, ``no``, ``off``) — never;
* unset or ``auto`` — once the process has sent :data:`AUTO_SAMPLES` samples through these
  fast paths (a ``pca+sort`` sample counts twice). Loading the compiled kernels costs about
  0.7 s per process (numba's import and the cached kernels; about 5 s the first time, when
  they are compiled, and in every process where their compile cache cannot be written) and
  saves about 0.7–1 µs per 64-point cloud and fast path, so small jobs stay on numpy and
  large ones pay the load once it is earned: a job never costs much more than twice what
  the better choice made in hindsight would have. Results do not depend on the
  choice beyond float32 rounding: which path served a batch depends on how many samples
  the process canonicalized before it, never on the batch's own contents.
"""

from __future__ import annotations

import os
import threading

#: samples a process sends through the fast paths before ``auto`` loads the compiled kernels
#: (load time / time saved per sample, measured in benchmarks/README.md)
AUTO_SAMPLES = 1_000_000

_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")
_STATE = {"samples": 0}
_BUILT = {}
_LOCK = threading.Lock()
#: reassociation lets the compiler vectorize sums over points (results do not depend on the
#: batch: every sample is summed alone); no "finite-math" flag, so NaN still propagates
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


def mode():
    """``"on"``, ``"off"`` or ``"auto"`` from ``SKCANON_NUMBA`` (unknown values: ``"auto"``)."""
    value = os.environ.get("SKCANON_NUMBA", "auto").strip().lower()
    return "on" if value in _ON else "off" if value in _OFF else "auto"


def wanted(n=0):
    """Whether a call over ``n`` samples should use the compiled kernels (counts them for
    ``auto``)."""
    current = mode()
    if current != "auto":
        return current == "on"
    _STATE["samples"] += int(n)   # a lost update between threads only delays the switch
    return _STATE["samples"] >= AUTO_SAMPLES


def kernels(name, build):
    """The kernels ``build(numba, jit, jit_exact)`` returns, built once per process; None
    where numba is missing or building fails (the numpy passes serve then). ``jit`` compiles
    with :data:`FASTMATH`, ``jit_exact`` without; both release the GIL (transform's batches
    run in threads with ``n_jobs``) and divide as numpy does (inf/NaN, no exception)."""
    if name in _BUILT:
        return _BUILT[name]
    with _LOCK:
        if name not in _BUILT:
            _BUILT[name] = _build(build)
    return _BUILT[name]


def _build(build):
    import importlib

    try:
        numba = importlib.import_module("numba")
    except ImportError:
        return None
    for cache in (True, False):  # an unwritable cache directory: compile in memory
        try:
            def jit(f, cache=cache):
                return numba.njit(cache=cache, nogil=True, fastmath=FASTMATH, boundscheck=False,
                                  error_model="numpy")(f)

            def jit_exact(f, cache=cache):
                return numba.njit(cache=cache, nogil=True, boundscheck=False, error_model="numpy")(f)

            return build(numba, jit, jit_exact)
        except Exception:  # noqa: BLE001 - any failure leaves the numpy passes in charge
            continue
    return None
