"""Shared rule of the tests of the optional compiled kernels (numba, the ``fast`` extra):
skip where numba is not installed, fail where it is installed but a kernel does not build
(the library falls back to numpy silently there, so a skip would hide a broken kernel)."""

import importlib.util

import pytest


def require_compiled():
    """Skip the test without numba; assert that every compiled kernel builds with it."""
    from skcanon._kernels import _numba, lexsort, pca, squares
    from skcanon.projections._geometry import _compiled_triangle

    if importlib.util.find_spec("numba") is None:
        pytest.skip("numba is not installed (the `fast` extra)")
    built = {"pca": pca.compiled_kernels(), "lexsort": lexsort.compiled_kernels(),
             "triangle": _compiled_triangle(0), "squares": _numba.kernels("squares", squares._build_kernels)}
    broken = sorted(name for name, k in built.items() if k is None)
    assert not broken, f"numba is installed but these compiled kernels did not build: {broken}"
    return built["pca"]
