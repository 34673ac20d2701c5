"""Thread limits for torch, BLAS and OpenMP while skcanon trains or runs a network.

torch keeps its default intra-op thread count (all cores) inside joblib/loky workers and
next to other busy processes, so ``GridSearchCV(n_jobs=k)`` over a learned canonicalizer
runs ``k × cores`` threads and slows down many times over; and a float reduction split over
a different number of threads rounds differently, so the same ``random_state`` gave
different weights with ``n_jobs=1`` and ``n_jobs=2``. :func:`limited_threads` caps torch's
threads and every BLAS/OpenMP pool that :mod:`threadpoolctl` finds to a count derived from
``n_jobs`` (``None`` → 1, as scikit-learn's estimators count ``n_jobs``) for the duration of
a block, and restores the previous settings afterwards.

With the default (one thread) results are identical whatever the process or worker count.
With ``n_jobs > 1`` torch may split reductions differently, so weights can differ in the last
bits from a one-thread fit (they are still repeatable for the same thread count).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import threading

__all__ = ["limited_threads", "n_threads_from", "thread_budget", "within_budget"]

_lock = threading.Lock()
_blocks = {}         # token -> (thread count, owner thread) of every block inside limited_threads, entry order
_saved_torch = None  # torch's thread count before the first of those blocks
_saved_shared = {}   # process-wide pools: filepath -> (controller, thread count before the first block)
_local = threading.local()   # .depth: blocks the calling thread is inside; .before_torch: one of
                             # them began before torch had finished importing
_split = None        # (per-thread pools as a ThreadpoolController, process-wide pools' controllers)
_controller_modules = -1


def _per_thread(lib):
    # OpenMP's limit (omp_set_num_threads) is an ICV of the calling thread, also for OpenBLAS
    # built on OpenMP; OpenBLAS on pthreads, MKL and BLIS have one process-wide limit
    return lib.internal_api == "openmp" or (lib.internal_api == "openblas"
                                            and getattr(lib, "threading_layer", None) == "openmp")


def _pools():
    """The loaded BLAS/OpenMP libraries as ``(per_thread, shared)``: a
    :class:`threadpoolctl.ThreadpoolController` of those whose limit belongs to the calling
    thread and a list of the controllers of those with one process-wide limit; rebuilt when
    new modules were imported. Call with ``_lock`` held.

    Finding the loaded libraries costs milliseconds (``threadpool_limits`` does it on every
    call); limiting a known set costs microseconds, which matters for ``transform`` on a
    few samples. Native libraries arrive with Python imports, so a change in the number
    of imported modules triggers a new search.
    """
    global _split, _controller_modules
    from threadpoolctl import ThreadpoolController

    n_modules = len(sys.modules)
    if _split is None or n_modules != _controller_modules:
        controller = ThreadpoolController()
        own = [lib.filepath for lib in controller.lib_controllers if _per_thread(lib)]
        shared = [lib for lib in controller.lib_controllers if lib.filepath not in own]
        _split, _controller_modules = (controller.select(filepath=own), shared), n_modules
    return _split


def _set_shared(settings):
    """Set process-wide pools to ``[(controller, threads), ...]``.

    threadpoolctl (3.8+) lets one Python thread at a time own OpenBLAS's process-wide limit
    and ignores the others; a thread that sets it without giving ownership back would keep
    it, and every other thread's ``threadpool_limits`` would silently do nothing. Ownership
    is taken and given back around the change, as threadpoolctl's own limiter does.
    """
    import threadpoolctl

    ownership = getattr(threadpoolctl, "CONTROLLING_THREAD_OWNERSHIP", None)
    if ownership is not None:
        ownership.increment()
    try:
        for lib, n in settings:
            lib.set_num_threads(n)
    finally:
        if ownership is not None:
            ownership.decrement()


# the n_jobs of the estimator whose transform is running (set_params after fit): the
# networks it calls keep their own copy from fit, which this overrides for the call
_serving = contextvars.ContextVar("skcanon_serving_n_jobs", default=None)


@contextlib.contextmanager
def serving_n_jobs(n_jobs):
    """Networks called inside this block run on ``n_jobs`` threads (see :func:`n_jobs_for`)."""
    token = _serving.set((n_jobs,))
    try:
        yield
    finally:
        _serving.reset(token)


def n_jobs_for(own):
    """The thread count a network runs with: the calling estimator's current ``n_jobs``
    inside :func:`serving_n_jobs`, else its own (``own``, fixed at fit)."""
    current = _serving.get()
    return own if current is None else current[0]


# the most threads the calling thread's work may use: an enclosing estimator's n_jobs (an
# InvariantProjector around its canonicalizer), 1 in a batch thread; None: no enclosing bound
_budget = contextvars.ContextVar("skcanon_thread_budget", default=None)


@contextlib.contextmanager
def thread_budget(n_threads):
    """Work begun inside this block uses at most ``n_threads`` threads (batch threads,
    torch, BLAS and OpenMP; see :func:`within_budget`), whatever the ``n_jobs`` of the
    estimators it calls: an estimator inside another one (a projector's canonicalizer with
    ``n_jobs=-1``) would otherwise start its own threads in each of the outer one's.
    Nested blocks only lower the bound. The bound belongs to the calling thread's context;
    :func:`~skcanon._batching.run_batches` gives each batch thread a bound of 1."""
    current = _budget.get()
    token = _budget.set(n_threads if current is None else min(n_threads, current))
    try:
        yield
    finally:
        _budget.reset(token)


def within_budget(n_threads):
    """``n_threads``, lowered to the bound of an enclosing :func:`thread_budget` (at least 1)."""
    bound = _budget.get()
    return n_threads if bound is None else max(1, min(n_threads, bound))


def _reinit_after_fork():
    global _lock, _saved_torch
    _lock = threading.Lock()   # a lock held by another thread at fork time stays held in the child
    # only the forking thread lives on in the child: the blocks of the others never end
    # there, so they are dropped, and where none is left the limits they set are undone
    # (else every later block restored the parent's counts, not the child's own)
    me = threading.get_ident()
    for token in [t for t, (_, owner) in _blocks.items() if owner != me]:
        del _blocks[token]
    if not _blocks and (_saved_shared or _saved_torch is not None):
        try:
            _set_shared(list(_saved_shared.values()))
            torch = _loaded_torch()
            if torch is not None and _saved_torch is not None:
                torch.set_num_threads(_saved_torch)
        except Exception:   # noqa: BLE001 - a fork handler must not raise; limits then stay
            pass
        _saved_shared.clear()
        _saved_torch = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


def _loaded_torch():
    """torch where its import has finished, else None: heuristic-only callers never pay its
    import, and a call made while another thread is importing torch (the user's ``import
    torch``, a network unpickled, the first pairwise projection) leaves it alone — the module
    is in ``sys.modules`` before it has ``get_num_threads``."""
    torch = sys.modules.get("torch")
    if torch is None or getattr(getattr(torch, "__spec__", None), "_initializing", False):
        return None
    return torch


def _count_for_new_threads(torch):
    """torch's thread count as a thread that has never set one sees it: the process's count.

    Read where an enclosing block of the calling thread began before torch had finished
    importing: that block's OpenMP limit may be torch's count in this thread (where the block
    reached torch's OpenMP runtime: one shared with other libraries, or torch's own, loaded
    while its import was finishing), and saving it as the process's count would leave torch
    at that limit for good once the blocks end."""
    seen = []
    reader = threading.Thread(target=lambda: seen.append(torch.get_num_threads()), daemon=True)
    try:
        reader.start()
    except RuntimeError:   # no new threads at interpreter shutdown
        return torch.get_num_threads()
    reader.join()
    return seen[0] if seen else torch.get_num_threads()


def _cpu_count():
    """The usable cores, as scikit-learn counts them: the affinity mask, and joblib's count,
    which also honours a container's CPU quota (cgroups) and ``LOKY_MAX_CPU_COUNT``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # not on Linux
        cores = os.cpu_count() or 1
    import joblib   # ships with scikit-learn, which has imported it already

    return max(1, min(cores, joblib.cpu_count()))


def n_threads_from(n_jobs=None):
    """Threads for ``n_jobs`` counted as scikit-learn does.

    ``None`` → 1; a positive int as is (at most the usable cores); ``-1`` → all usable cores,
    ``-2`` → all but one, and so on (never fewer than 1).

    Examples
    --------
    >>> n_threads_from(None), n_threads_from(1)
    (1, 1)
    """
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) and not hasattr(n_jobs, "__index__"):
        raise TypeError(f"n_jobs must be None or an int; got {n_jobs!r}.")
    n_jobs = int(n_jobs)
    cores = _cpu_count()
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, a positive int or -1 (all cores).")
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    return min(n_jobs, cores)


@contextlib.contextmanager
def limited_threads(n_jobs=None):
    """Run the block with torch, BLAS and OpenMP limited to ``n_threads_from(n_jobs)`` threads
    (fewer inside a :func:`thread_budget` that allows fewer).

    Nested and concurrent blocks are allowed: each sets the limit it asks for, and the
    settings from before come back once no block needs them, whatever order blocks in
    different threads end in:

    * OpenMP pools (and OpenBLAS built on OpenMP) limit the calling thread only; they are
      restored when the block ends (:meth:`threadpoolctl.ThreadpoolController.limit`).
    * Process-wide pools (OpenBLAS on pthreads, MKL, BLIS) are saved when the first block
      of the process starts and restored when the last one ends; in between, the limit of
      the most recent block still running holds. Each block restoring what it found would
      let two overlapping ``transform`` calls leave the user's BLAS at one thread for good.
    * torch's count belongs to each thread, with a process-wide default for new threads:
      a nested block restores what the enclosing one set, and a thread's outermost block
      restores the count the process had before the first block of any thread (so a
      thread that had set a count of its own and overlaps another's block gets that
      process count back, not its own).

    The block costs microseconds once the libraries are known.

    Parameters
    ----------
    n_jobs : int or None, default=None
        As for scikit-learn estimators; ``None`` means one thread.

    Yields
    ------
    n_threads : int
        The thread count in force inside the block.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with limited_threads(None) as n:
    ...     n, torch.get_num_threads()
    (1, 1)
    >>> torch.get_num_threads() == before
    True
    """
    global _saved_torch
    n = within_budget(n_threads_from(n_jobs))   # an enclosing estimator's n_jobs bounds it
    depth = getattr(_local, "depth", 0)
    outer_before_torch = getattr(_local, "before_torch", False)
    token = object()
    with _lock:
        per_thread, shared = _pools()
        torch = _loaded_torch()
        # read before the OpenMP limit below, which is also torch's count in this thread
        before = None if torch is None else torch.get_num_threads()
        if before is not None and _saved_torch is None:   # also when torch arrived inside an outer block
            _saved_torch = _count_for_new_threads(torch) if outer_before_torch else before
        per_thread_limits = per_thread.limit(limits=n)
        if before is not None and torch.get_num_threads() != n:
            torch.set_num_threads(n)
        for lib in shared:
            if lib.filepath not in _saved_shared:   # also libraries loaded inside an outer block
                _saved_shared[lib.filepath] = (lib, lib.num_threads)
        _blocks[token] = (n, threading.get_ident())
        _set_shared([(lib, n) for lib in shared])
    _local.depth, _local.before_torch = depth + 1, outer_before_torch or before is None
    try:
        yield n
    finally:
        _local.depth, _local.before_torch = depth, outer_before_torch
        per_thread_limits.restore_original_limits()
        with _lock:
            del _blocks[token]
            if not _blocks:
                _set_shared(list(_saved_shared.values()))
                _saved_shared.clear()
            else:
                latest = next(reversed(_blocks.values()))[0]
                if latest != n:
                    _set_shared([(lib, latest) for lib in _pools()[1]])
            # after the OpenMP restore: torch's count of this thread is the one that stays
            torch = _loaded_torch()
            # a nested block begun before torch: the enclosing block's OpenMP limit, restored
            # above, is torch's count here (the process's count would lift that limit)
            if torch is not None and _saved_torch is not None and not (depth > 0 and before is None):
                target = before if depth > 0 else _saved_torch
                if torch.get_num_threads() != target:
                    torch.set_num_threads(target)
            if not _blocks:
                _saved_torch = None
