"""Canonical forms written straight into the output (``Canonicalizer.canonicalize_into``).

``transform`` preallocates its result and lets the PCA fast path, the sort and the chain
behind ``pca+sort`` write each batch's canonical forms into their rows, instead of copying
every batch's result. The values must be those of :meth:`canonicalize` bit for bit (numpy
passes and compiled kernels alike), the input must stay untouched, and every other
canonicalizer keeps its behaviour through the base class's copying fallback.
"""

import numpy as np
import pytest

from skcanon import CanonicalizerTransformer
from skcanon._kernels import lexsort, pca
from skcanon.canonicalizers._base import Canonicalizer, ChainCanonicalizer
from skcanon.canonicalizers._heuristics import PCACanonicalizer, SortCanonicalizer
from skcanon.layouts import PointLayout
from _compiled import require_compiled


@pytest.fixture(params=["0", "1"])
def numba_mode(request, monkeypatch):
    """Both paths: numpy's passes ("0") and the compiled kernels ("1", where installed)."""
    monkeypatch.setenv("SKCANON_NUMBA", request.param)
    if request.param == "1":
        require_compiled()
    return request.param


def _clouds(kind, dtype, n=300, m=16, seed=0):
    rs = np.random.default_rng(seed)
    if kind == "skewed":
        P = rs.exponential(size=(n, m, 3)) * [3.0, 2.0, 1.0]
    else:
        P = rs.normal(size=(n, m, 3)) * [3.0, 2.0, 1.0] + 2.0
    if kind == "nan":       # absent points: the general path writes those samples' rows
        P[::4, -3:] = np.nan
    if kind == "symmetric":  # cubes, rotated: the tie rules write those samples' rows
        cube = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
        Q = np.linalg.qr(rs.normal(size=(30, 3, 3)))[0]
        P[:30] = np.einsum("nij,mj->nmi", Q, np.concatenate([cube, 2 * cube])[:m])
    return P.astype(dtype)


def _fitted(group, method, X, **kw):
    n, m, w = X.shape
    return CanonicalizerTransformer(group, method, **kw).fit(X.reshape(n, m * w))


def count_general_path(monkeypatch):
    """The sizes of the PCA canonicalizer's general-path calls from now on (a list that
    fills as they happen): where deferred rows are redone, and in calls of what size."""
    calls = []
    general = PCACanonicalizer.frames

    def counted(self, Q, layout):
        calls.append(len(Q))
        return general(self, Q, layout)

    monkeypatch.setattr(PCACanonicalizer, "frames", counted)
    return calls


def _same_frames(a, b):
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("kind", ["gaussian", "skewed", "nan", "symmetric"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("group,method", [("SE3", "pca"), ("O3", "pca"), ("SO3", "pca"),
                                          ("SE3xS_n", "pca+sort"), ("S_n", "sort")])
def test_into_equals_canonicalize_bit_for_bit(numba_mode, kind, dtype, group, method):
    P = _clouds(kind, dtype)
    est = _fitted(group, method, P, n_dims=3)
    canonicalizer, layout = est.canonicalizer_, est.layout_
    assert canonicalizer.output_dtype(P.dtype, layout) == P.dtype
    P0 = P.copy()
    expected, frames = canonicalizer.canonicalize(P, layout)
    out = np.full_like(P, 7.0)
    got = canonicalizer.canonicalize_into(P, layout, out)
    assert np.array_equal(out, expected, equal_nan=True)
    assert _same_frames(got, frames)
    assert np.array_equal(P, P0, equal_nan=True)       # the input is never written


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("group,method", [("SE3", "pca"), ("O3", "pca"), ("SE3xS_n", "pca+sort")])
def test_into_with_other_fields(numba_mode, dtype, group, method):
    """Positions, a vector and a scalar per point: every field lands in its columns."""
    rs = np.random.default_rng(4)
    P = rs.normal(size=(200, 10, 7)).astype(dtype)
    P[..., :3] += rs.exponential(size=(200, 10, 3)).astype(dtype)
    layout = PointLayout(3, fields=[("pos", "position"), ("vel", "vector"), ("q", "scalar")])
    est = _fitted(group, method, P, layout=layout)
    expected, frames = est.canonicalizer_.canonicalize(P, est.layout_)
    out = np.empty_like(P)
    got = est.canonicalizer_.canonicalize_into(P, est.layout_, out)
    assert np.array_equal(out, expected) and _same_frames(got, frames)


def test_pca_fast_path_writes_into_the_given_array(numba_mode):
    """No copy of the result: the fast path's canonical points are ``out`` itself."""
    P = _clouds("skewed", np.float32)
    out = np.empty_like(P)
    E, c, Z, ok = pca.fast_pca(P, special=True, centre=True, out=out)
    assert Z is out and ok.any()
    E2, c2, Z2, ok2 = pca.fast_pca(P, special=True, centre=True)
    assert np.array_equal(Z2[ok2], out[ok2]) and np.array_equal(ok, ok2) and np.array_equal(E, E2)


def test_fast_pca_rejects_a_wrong_out():
    P = _clouds("skewed", np.float32)
    with pytest.raises(ValueError, match="out must be"):
        pca.fast_pca(P, special=True, centre=True, out=np.empty(P.shape, np.float64))


def test_sort_writes_into_the_given_array(numba_mode):
    P = _clouds("gaussian", np.float32)
    out = np.empty_like(P)
    order, sorted_ = lexsort.fast_lexsort(P, out=out)
    assert sorted_ is out
    assert np.array_equal(out, lexsort.gather_points(P, order))
    again = np.empty_like(P)
    assert lexsort.gather_points(P, order, out=again) is again and np.array_equal(again, out)


def test_chain_hands_out_to_its_last_step(monkeypatch):
    """``pca+sort``: the sort gathers into the output; the pca step's result is the only
    intermediate array."""
    P = _clouds("skewed", np.float64)
    est = _fitted("SE3xS_n", "pca+sort", P, n_dims=3)
    chain = est.canonicalizer_
    assert isinstance(chain, ChainCanonicalizer)
    seen = []
    original = SortCanonicalizer.canonicalize_into

    def spy(self, Q, layout, out):
        seen.append(out)
        return original(self, Q, layout, out)

    monkeypatch.setattr(SortCanonicalizer, "canonicalize_into", spy)
    out = np.empty_like(P)
    chain.canonicalize_into(P, est.layout_, out)
    assert len(seen) == 1 and seen[0] is out


def test_transform_writes_batches_in_place(monkeypatch):
    """``transform`` never asks the PCA canonicalizer for a separate result array."""
    P = _clouds("gaussian", np.float32)
    est = _fitted("SE3", "pca", P, n_dims=3, batch_size=64)
    expected = est.transform(P.reshape(len(P), -1))

    def refuse(self, *args, **kwargs):
        raise AssertionError("canonicalize called: the batch's result would be copied")

    monkeypatch.setattr(PCACanonicalizer, "canonicalize", refuse)
    assert np.array_equal(est.transform(P.reshape(len(P), -1)), expected)


class _Doubling(Canonicalizer):
    """A canonicalizer without its own ``canonicalize_into``: the base class copies."""

    def canonicalize(self, P, layout):
        return (2 * P).astype(np.float64), np.zeros(len(P))


def test_base_fallback_copies_canonicalize():
    P = _clouds("gaussian", np.float32, n=10)
    c = _Doubling(group=None)
    assert c.output_dtype(P.dtype, None) is None
    out = np.empty(P.shape, np.float64)
    h = c.canonicalize_into(P, None, out)
    assert np.array_equal(out, 2 * P.astype(np.float64)) and h.shape == (10,)


@pytest.mark.parametrize("group,method", [("T3", "centroid"), ("scaling", "scale"), ("C4", "pca")])
def test_other_canonicalizers_keep_the_copying_path(group, method):
    """Where the output dtype is not known beforehand, transform keeps the first batch's."""
    P = _clouds("skewed", np.float32, n=100)
    n_dims = 2 if group == "C4" else 3
    X = P[..., :n_dims].copy()
    est = _fitted(group, method, X, n_dims=n_dims, batch_size=32)
    assert est.canonicalizer_.output_dtype(X.dtype, est.layout_) is None
    flat = X.reshape(len(X), -1)
    whole = CanonicalizerTransformer(group, method, n_dims=n_dims, batch_size=None).fit(flat)
    assert np.array_equal(est.transform(flat), whole.transform(flat))


@pytest.mark.parametrize("n_jobs,batch_size", [(1, 50), (2, 50), (1, None), (2, None)])
def test_transform_batches_and_threads_agree(numba_mode, n_jobs, batch_size):
    P = _clouds("nan", np.float32, n=400)
    X = P.reshape(len(P), -1)
    X0 = X.copy()
    one = _fitted("SE3xS_n", "pca+sort", P, n_dims=3, batch_size=None)
    est = _fitted("SE3xS_n", "pca+sort", P, n_dims=3, n_jobs=n_jobs, batch_size=batch_size)
    expected, frames = one.canonicalizer_.canonicalize(P, one.layout_)
    Xt, F = est.canonicalize(X)
    assert np.array_equal(Xt, expected.reshape(len(P), -1), equal_nan=True)
    assert np.array_equal(est.transform(X), Xt, equal_nan=True)
    assert _same_frames(F, frames)
    assert np.array_equal(X, X0, equal_nan=True)


@pytest.mark.parametrize("group,method", [("SE3", "pca"), ("SE3xS_n", "pca+sort")])
@pytest.mark.parametrize("kind", ["nan", "symmetric"])
@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_general_path_rows_of_all_batches_run_in_one_call(numba_mode, monkeypatch, group, method, kind, n_jobs,
                                                          dtype):
    """Rows the PCA fast path refuses (absent points, symmetric clouds) are deferred by each
    batch and canonicalized together at the end: one general-path call per transform, and
    the same outputs and frames bit for bit as one batch without deferral."""
    P = _clouds(kind, dtype, n=400)
    P = P[np.random.default_rng(1).permutation(len(P))]   # refused rows in every batch
    X = P.reshape(len(P), -1)
    one = _fitted(group, method, P, n_dims=3, batch_size=None)
    expected, frames = one.canonicalize(X)           # one batch: nothing is deferred
    est = _fitted(group, method, P, n_dims=3, batch_size=50, n_jobs=n_jobs)
    calls = count_general_path(monkeypatch)
    Xt, F = est.canonicalize(X)
    assert max(calls) <= 50 and sum(calls) >= 30     # refused rows gathered, in calls of at most a batch
    assert np.array_equal(Xt, expected, equal_nan=True)
    assert _same_frames(F, frames)
    calls.clear()
    assert np.array_equal(est.transform(X), expected, equal_nan=True) and max(calls) <= 50


@pytest.mark.parametrize("m,batch_size,rows", [(64, 4096, 4096), (1024, 4096, 256), (5, 4096, 4096),
                                               (1024, 100, 6), (4096, 10, 1), (1024, None, None)])
def test_heuristic_batches_hold_a_bounded_number_of_values(m, batch_size, rows):
    """A batch of a heuristic holds at most batch_size × 192 values (64 3-D points per
    sample), so many-point clouds go in fewer samples per batch; outputs do not change."""
    P = _clouds("gaussian", np.float32, n=40, m=m)
    est = _fitted("SE3xS_n", "pca+sort", P, n_dims=3, batch_size=batch_size)
    assert est._batch_rows(P) == rows
    one = _fitted("SE3xS_n", "pca+sort", P, n_dims=3, batch_size=None)
    X = P.reshape(len(P), -1)
    assert np.array_equal(est.transform(X), one.transform(X))


def test_network_batches_keep_batch_size():
    pytest.importorskip("torch")
    P = _clouds("gaussian", np.float32, n=20, m=1024)
    est = _fitted("SO3", "random", P, n_dims=3, batch_size=4096, hidden=4, random_state=0)
    assert est._batch_rows(P) == 4096
