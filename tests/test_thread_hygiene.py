"""n_jobs bounds the cores a heuristic transform or a projector uses: batch threads, with
torch (where loaded), BLAS and OpenMP at one thread each inside them, restored afterwards;
outputs do not depend on n_jobs; heuristics never import torch."""

import os
import subprocess
import sys

import numpy as np
import pytest

from skcanon import CanonicalizerTransformer, InvariantProjector
from skcanon.canonicalizers._heuristics import PCACanonicalizer

X_POINTS = (np.random.default_rng(0).normal(size=(300, 8, 3)) * [3.0, 2.0, 1.0]).reshape(300, -1)

PROJECTORS = [("S_n", "sort"), ("S_n", "random_sort"), ("S_n", "power_sums"), ("O3", "gram"),
              ("E3", "distances"), ("E3xS_n", "sorted_distances"), ("E3xS_n", "canonical"),
              ("SO3", "gram_minors")]


def _pool_threads():
    from threadpoolctl import threadpool_info

    return [d["num_threads"] for d in threadpool_info()]


@pytest.mark.parametrize("group,method", PROJECTORS)
def test_projector_n_jobs_gives_the_same_features(group, method):
    X = X_POINTS.astype(np.float32)
    ref = InvariantProjector(group, method, n_dims=3, random_state=0, batch_size=None).fit(X).transform(X)
    for n_jobs in (1, 2, -1):
        est = InvariantProjector(group, method, n_dims=3, random_state=0, batch_size=32, n_jobs=n_jobs).fit(X)
        assert np.array_equal(est.transform(X), ref)


@pytest.mark.parametrize("bad,error", [(0, ValueError), ("2", ValueError), (1.5, ValueError)])
def test_projector_refuses_a_bad_n_jobs_naming_it(bad, error):
    with pytest.raises(error, match="n_jobs"):
        InvariantProjector("S_n", "sort", n_dims=3, n_jobs=bad).fit(X_POINTS).transform(X_POINTS)


def test_n_jobs_minus_one_counts_cores_as_joblib_does(monkeypatch):
    """n_jobs=-1 read only the affinity mask: in a container with a CPU quota of one core,
    where joblib and scikit-learn count 1, it ran a thread per core of the machine."""
    import joblib

    from skcanon._threads import n_threads_from

    monkeypatch.setattr(joblib, "cpu_count", lambda *args, **kwargs: 1)
    assert n_threads_from(-1) == 1 and n_threads_from(4) == 1 and n_threads_from(-2) == 1
    monkeypatch.setattr(joblib, "cpu_count", lambda *args, **kwargs: 10_000)   # never past the mask
    mask = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert n_threads_from(-1) == mask
    X = X_POINTS[:40].astype(np.float32)
    ref = InvariantProjector("E3xS_n", "sorted_distances", n_dims=3).fit(X).transform(X)
    monkeypatch.setattr(joblib, "cpu_count", lambda *args, **kwargs: 1)
    est = InvariantProjector("E3xS_n", "sorted_distances", n_dims=3, n_jobs=-1, batch_size=8)
    out = est.fit(X).transform(X)
    assert out.dtype == np.float32 and np.array_equal(out, ref)


def test_heuristic_batches_run_with_one_blas_and_torch_thread_each(monkeypatch):
    torch = pytest.importorskip("torch")
    from threadpoolctl import threadpool_limits

    seen = []
    into = PCACanonicalizer.canonicalize_into

    def spy(self, *args, **kwargs):
        seen.append((_pool_threads(), torch.get_num_threads()))
        return into(self, *args, **kwargs)

    monkeypatch.setattr(PCACanonicalizer, "canonicalize_into", spy)
    before_torch = torch.get_num_threads()
    with threadpool_limits(limits=2):
        before = _pool_threads()
        est = CanonicalizerTransformer("SE3", "pca", n_dims=3, batch_size=50, n_jobs=2).fit(X_POINTS)
        est.transform(X_POINTS)
        assert _pool_threads() == before
    assert len(seen) == 6 and all(set(pools) <= {1} and t == 1 for pools, t in seen)
    assert torch.get_num_threads() == before_torch


def test_projector_batches_run_with_one_blas_thread_each(monkeypatch):
    from threadpoolctl import threadpool_limits

    est = InvariantProjector("S_n", "sort", n_dims=3, batch_size=50, n_jobs=2).fit(X_POINTS)
    seen = []
    transform = type(est.projection_).transform

    def spy(self, *args, **kwargs):
        seen.append(_pool_threads())
        return transform(self, *args, **kwargs)

    monkeypatch.setattr(type(est.projection_), "transform", spy)
    with threadpool_limits(limits=2):
        before = _pool_threads()
        est.transform(X_POINTS)
        assert _pool_threads() == before
    assert len(seen) == 6 and all(set(pools) <= {1} for pools in seen)


def test_heuristics_and_projectors_do_not_import_torch():
    code = ("import sys, numpy as np\n"
            "from skcanon import CanonicalizerTransformer, InvariantProjector\n"
            "X = np.random.default_rng(0).normal(size=(64, 24))\n"
            "CanonicalizerTransformer('SE3xS_n', 'pca+sort', n_dims=3, batch_size=16, n_jobs=2).fit_transform(X)\n"
            "InvariantProjector('S_n', 'sort', n_dims=3, batch_size=16, n_jobs=2).fit_transform(X)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def _peak_concurrent_calls(monkeypatch, obj, names):
    """Spy on ``obj``'s methods ``names``: a list whose first entry is the most calls seen
    running at once (each call waits a little so that threads overlap)."""
    import threading
    import time

    lock, live, peak = threading.Lock(), [0], [0]

    def spying(method):
        def spy(*args, **kwargs):
            with lock:
                live[0] += 1
                peak[0] = max(peak[0], live[0])
            try:
                time.sleep(0.005)
                return method(*args, **kwargs)
            finally:
                with lock:
                    live[0] -= 1
        return spy

    for name in names:
        monkeypatch.setattr(obj, name, spying(getattr(obj, name)))
    return peak


@pytest.mark.parametrize("outer", [None, 1, 2])
def test_projector_n_jobs_bounds_its_canonicalizers_threads(monkeypatch, outer):
    """A canonicalizer with n_jobs=-1 inside InvariantProjector(n_jobs=2) started its own
    batch threads in each of the projector's: 2 × cores threads at once (16 with 8 cores)."""
    from skcanon import _threads

    monkeypatch.setattr(_threads, "_cpu_count", lambda: 8)
    X = X_POINTS[:64].astype(np.float32)
    canon = CanonicalizerTransformer("E3xS_n", n_dims=3, n_jobs=-1, batch_size=1)
    est = InvariantProjector("E3xS_n", "canonical", n_dims=3, canonicalizer=canon, batch_size=8, n_jobs=outer)
    ref = est.fit(X).transform(X)
    inner = est.projection_.canonicalizer_.canonicalizer_
    peak = _peak_concurrent_calls(monkeypatch, inner, ["canonicalize", "canonicalize_into"])
    assert np.array_equal(est.transform(X), ref)
    assert 1 <= peak[0] <= (outer or 1)


def test_network_canonicalizer_inside_a_projector_keeps_to_its_n_jobs(monkeypatch):
    """A network canonicalizer with n_jobs=-1 ran torch on every core in fit and in each of
    the projector's batch threads, whatever the projector's n_jobs."""
    torch = pytest.importorskip("torch")
    from skcanon import _threads

    monkeypatch.setattr(_threads, "_cpu_count", lambda: 8)
    import contextlib

    from skcanon import _training

    seen = []
    limited = _threads.limited_threads

    @contextlib.contextmanager
    def spy(n_jobs=None):
        with limited(n_jobs) as n:
            seen.append((n, torch.get_num_threads()))
            yield n

    monkeypatch.setattr(_threads, "limited_threads", spy)
    monkeypatch.setattr(_training, "limited_threads", spy)
    X = X_POINTS[:32]
    canon = CanonicalizerTransformer("SO3", "random", n_dims=3, n_jobs=-1, random_state=0)
    est = InvariantProjector("SO3", "canonical", n_dims=3, canonicalizer=canon, batch_size=8, n_jobs=2).fit(X)
    est.transform(X)
    assert seen and max(max(pair) for pair in seen) <= 2
    with _threads.thread_budget(2):
        with _threads.limited_threads(-1) as n:
            assert n == 2
        with _threads.thread_budget(5), _threads.limited_threads(-1) as n:
            assert n == 2   # nested budgets only lower the bound
