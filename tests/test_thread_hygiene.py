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
