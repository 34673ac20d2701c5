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
import os
import sys
import threading

__all__ = ["limited_threads", "n_threads_from"]

_lock = threading.Lock()
_active = 0          # blocks currently inside limited_threads (all Python threads together)
_saved = None        # torch's thread count before the outermost block
_controller = None   # threadpoolctl's view of the loaded BLAS/OpenMP libraries
_controller_modules = -1


def _pools():
    """A :class:`threadpoolctl.ThreadpoolController`, rebuilt when new modules were imported.

    Finding the loaded libraries costs milliseconds (``threadpool_limits`` does it on every
    call); limiting a known set costs microseconds, which matters for ``transform`` on a
    few samples. Native libraries arrive with Python imports, so a change in the number
    of imported modules triggers a new search.
    """
    global _controller, _controller_modules
    from threadpoolctl import ThreadpoolController

    n_modules = len(sys.modules)
    if _controller is None or n_modules != _controller_modules:
        _controller, _controller_modules = ThreadpoolController(), n_modules
    return _controller


def _cpu_count():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):   # not on Linux
        return max(1, os.cpu_count() or 1)


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
    """Run the block with torch, BLAS and OpenMP limited to ``n_threads_from(n_jobs)`` threads.

    Nested and concurrent blocks are allowed: each sets the limit it asks for, and torch's
    previous thread count comes back when the outermost block ends. BLAS/OpenMP pools are
    limited with :meth:`threadpoolctl.ThreadpoolController.limit`, which restores them
    itself; the block costs microseconds once the libraries are known.

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
    global _active, _saved
    n = n_threads_from(n_jobs)
    # torch only where it is already loaded: heuristic-only callers never pay its import
    torch = sys.modules.get("torch")

    with _lock:
        if _active == 0:
            _saved = None
        if torch is not None and _saved is None:   # also when torch arrived inside an outer block
            _saved = torch.get_num_threads()
        _active += 1
        if torch is not None and torch.get_num_threads() != n:
            torch.set_num_threads(n)
        pools = _pools()
    try:
        with pools.limit(limits=n):
            yield n
    finally:
        with _lock:
            _active -= 1
            torch = sys.modules.get("torch")
            if _active == 0 and _saved is not None and torch is not None and torch.get_num_threads() != _saved:
                torch.set_num_threads(_saved)
