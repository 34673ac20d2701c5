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
  the better choice made in hindsight would have.

The choice is made once per estimator call, before its batches (:class:`decided`, entered
by ``CanonicalizerTransformer``'s ``transform``/``canonicalize``, by
``InvariantProjector.transform`` and by the batch runner): every batch of one call — in
any thread, with any ``n_jobs`` or ``batch_size`` — uses the same kernels, so a call's
output never depends on how its batches were scheduled. Unset, a call uses the compiled
kernels where the samples counted before it plus its own samples reach
:data:`AUTO_SAMPLES`; the count is exact (locked), so the same sequence of calls makes the
same choices. The two paths serve the same samples with the
same frames and sort orders, but their canonical coordinates differ in the last bits (the
compiled statistics are float64; on 64-point clouds up to about 5e-14 of the cloud's size
in float64 and 3e-6 in float32, plus, in float32, the rounding of the cloud's offset from
the origin, which the numpy passes subtract in float32: clouds of size 3–14 at 1e4–4e4 from
the origin differ by up to 2.6e-4 of their size). So, unset, a later call of a long-running process may
return results that differ in the last bits from an earlier call on the same data, once
the process has crossed the threshold between them — the same holds between the blocks of
a Dask array that one worker transforms one after another. ``SKCANON_NUMBA=0`` or ``1``
makes results independent of the process's history.
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
_COUNT_LOCK = threading.Lock()
#: ``.decision``: ``(choice, counting)`` of the estimator call this thread works for
#: (:class:`decided`, :func:`carried`); absent outside one
_LOCAL = threading.local()
#: reassociation lets the compiler vectorize sums over points (results do not depend on the
#: batch: every sample is summed alone); no "finite-math" flag, so NaN still propagates
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


def mode():
    """``"on"``, ``"off"`` or ``"auto"`` from ``SKCANON_NUMBA`` (unknown values: ``"auto"``)."""
    value = os.environ.get("SKCANON_NUMBA", "auto").strip().lower()
    return "on" if value in _ON else "off" if value in _OFF else "auto"


def _count(n):
    """The samples counted so far, ``n`` more included (exact under threads)."""
    with _COUNT_LOCK:
        _STATE["samples"] += int(n)
        return _STATE["samples"]


def wanted(n=0):
    """Whether a call over ``n`` samples should use the compiled kernels (counts them for
    ``auto``). Inside :class:`decided`, the choice made there, whatever ``n``."""
    decision = current()
    if decision is not None:
        choice, counting = decision
        if counting:
            _count(n)   # later calls' choices see every sample of this one
        return choice
    mode_now = mode()
    if mode_now != "auto":
        return mode_now == "on"
    return _count(n) >= AUTO_SAMPLES


def current():
    """The choice of the estimator call this thread works for, or None: what a batch runner
    hands to its threads with :func:`carried`."""
    return getattr(_LOCAL, "decision", None)


class decided:
    """Within, :func:`wanted` gives one answer for an estimator call over ``n`` samples:
    chosen on entry (``auto``: the samples counted before it plus ``n`` reach
    :data:`AUTO_SAMPLES`), so every batch of the call uses the same kernels. Inside another
    call's choice (a transformer inside a projection), that one holds. The choice belongs to
    the thread that enters; batch threads take it over with :func:`carried`."""

    def __init__(self, n=0, decision=None, choose=True):
        self.n, self.decision, self.choose = int(n), decision, choose

    def __enter__(self):
        self.outer = current()
        if self.outer is None and self.decision is None and self.choose:
            mode_now = mode()
            with _COUNT_LOCK:
                choice = mode_now == "on" or (mode_now == "auto"
                                              and _STATE["samples"] + self.n >= AUTO_SAMPLES)
            self.decision = (choice, mode_now == "auto")
        if self.outer is None and self.decision is not None:
            _LOCAL.decision = self.decision
        return self

    def __exit__(self, *exc):
        _LOCAL.decision = self.outer
        return False


def choice_for(n):
    """The choice a call over ``n`` samples makes on entering :class:`decided` (the
    enclosing call's, inside one), for callers whose batches run lazily (a generator):
    each batch enters :func:`carried` with it, so no context stays open across a yield."""
    with decided(n):
        return current()


def carried(decision):
    """The choice ``decision`` (from :func:`current` in the thread that made it) in force in
    this thread, unless the thread already works under one; None: nothing changes."""
    return decided(decision=decision, choose=False)


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


def clear_stale_cache(package=None):
    """Delete the package's numba cache files where any source file of ``package`` (default:
    this one, ``skcanon/_kernels``) changed since they were written.

    numba keys a cached kernel on its own source file only, while the kernels freeze
    constants imported from the other modules here (``eigen.py``'s gaps): after an edit of
    those (an editable install) the cache served the old values. A digest of every source
    file, kept beside the cache, tells. Best effort: an unwritable directory is left alone.
    """
    import hashlib

    here = package if package is not None else os.path.dirname(os.path.abspath(__file__))
    sources = sorted(f for f in os.listdir(here) if f.endswith(".py"))
    digest = hashlib.sha256()
    for name in sources:
        with open(os.path.join(here, name), "rb") as f:
            digest.update(f.read())
    digest = digest.hexdigest()
    cache = os.path.join(here, "__pycache__")
    stamp = os.path.join(cache, "skcanon_kernels.sources")
    try:
        with open(stamp) as f:
            if f.read() == digest:
                return False
    except OSError:
        pass
    try:
        os.makedirs(cache, exist_ok=True)
        for name in os.listdir(cache):
            if name.endswith((".nbi", ".nbc")):
                os.remove(os.path.join(cache, name))
        with open(stamp, "w") as f:
            f.write(digest)
    except OSError:
        return False
    return True


def _build(build):
    import importlib

    try:
        numba = importlib.import_module("numba")
    except ImportError:
        return None
    clear_stale_cache()
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
