"""Shared test configuration: hypothesis profiles and data helpers.

Profiles (select with ``HYPOTHESIS_PROFILE``): ``ci`` (default, bounded examples so the
suite stays fast) and ``long`` (for fuzzing sessions: ``HYPOTHESIS_PROFILE=long pytest``).
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
settings.register_profile(
    "long", max_examples=500, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# --import-mode=importlib leaves tests/ off sys.path; the shared test helpers (`_scripts`)
# are imported from there.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

# The compiled kernels switch on by themselves once a process has canonicalized 1,000,000
# samples (skcanon._kernels._numba); pin the numpy path so a test's output never depends on
# what ran before it in the same worker. The `pca_kernels` fixture and the compiled-kernel
# tests set the variable themselves.
os.environ.setdefault("SKCANON_NUMBA", "0")


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run torch on one thread for a module: tiny networks are fastest single-threaded on a
    shared 2-core machine. Restores the caller's setting afterwards."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(params=["compiled", "numpy"])
def pca_kernels(request, monkeypatch):
    """Run a test with the compiled 3-D PCA passes (skipped without numba) and with numpy's."""
    monkeypatch.setenv("SKCANON_NUMBA", "1" if request.param == "compiled" else "0")
    if request.param == "compiled":
        from _compiled import require_compiled

        require_compiled()
    return request.param
