"""The vectorized fast paths of the heuristic canonicalizers agree with the general path.

Each heuristic has a general implementation (``frames`` then the group action, float64,
per-sample tie rules) and a fast ``canonicalize`` for the common case. These tests run both
on the same random data — float32 and float64, with and without absent (NaN) points, with
vector and scalar fields, with ambiguous samples mixed in — and require the same output and
frames.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skcanon.canonicalizers import Canonicalizer, make_canonicalizer
from skcanon._kernels.eigen import sym_eig_desc
from skcanon._kernels.lexsort import _tolerant_lexsort_general, tolerant_lexsort
from skcanon._kernels.pca import fast_pca
from skcanon.groups import get_group
from skcanon.layouts import PointLayout

TOL = {np.float64: 1e-9, np.float32: 2e-4}

FIELDS = {
    "pos": None,
    "pos+vel+charge": [("pos", "position"), ("vel", "vector"), ("charge", "scalar")],
    "pos+pos": [("a", "position"), ("b", "position"), ("q", "scalar", 2)],
    "vel_only": [("vel", "vector"), ("q", "scalar")],
}


def _data(n, m, layout, dtype, seed, nan_rows=False, ambiguous=False):
    rs = np.random.default_rng(seed)
    d = layout.n_dims
    P = rs.normal(size=(n, m, layout.width)) * np.resize([3.0, 2.0, 1.0, 0.5], layout.width)
    P += rs.normal(size=(n, 1, layout.width))
    if ambiguous and n >= 4:
        # repeated eigenvalues (a regular polygon / cube-like set) and a mirror-symmetric set
        k = np.arange(m)
        ring = np.zeros((m, d))
        ring[:, 0], ring[:, 1 % d] = np.cos(2 * np.pi * k / m), np.sin(2 * np.pi * k / m)
        sl = layout.slice_of(layout.fields[0].name)
        P[0, :, sl] = ring
        half = rs.normal(size=((m + 1) // 2, d)) * [3.0, 2.0, 1.0][:d]
        P[1, :, sl] = np.concatenate([half, -half])[:m]  # centrally symmetric: m3 = 0
        P[2, :, sl] = 1.0  # all points equal
    if nan_rows:
        P[rs.random(n) < 0.3, -1, :] = np.nan
    return P.astype(dtype)


def _both(canon, P, layout):
    fast_out, fast_h = canon.canonicalize(P, layout)
    gen_out, gen_h = Canonicalizer.canonicalize(canon, P, layout)
    return fast_out, fast_h, gen_out, gen_h


def _assert_same(a, b, tol):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    if np.issubdtype(a.dtype, np.integer):
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=0, atol=tol * max(1.0, np.nanmax(np.abs(b))))


@pytest.mark.parametrize("group", ["SE3", "SO3", "O3", "E3", "SE2", "O2"])
@pytest.mark.parametrize("fields", ["pos", "pos+vel+charge", "pos+pos"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nan_rows", [False, True])
def test_pca_fast_path_equals_general_path(group, fields, dtype, nan_rows, pca_kernels):
    g = get_group(group)
    layout = PointLayout(g.d, fields=FIELDS[fields])
    canon = make_canonicalizer(g, "pca", layout)
    P = _data(60, 10, layout, dtype, seed=len(group) + len(fields), nan_rows=nan_rows, ambiguous=True)
    out, h, gen_out, gen_h = _both(canon, P, layout)
    assert out.dtype == P.dtype and np.isfinite(out[~np.isnan(P)]).all()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(gen_out))
    _assert_same(np.nan_to_num(out), np.nan_to_num(gen_out), TOL[dtype])
    _assert_same(h, gen_h, TOL[dtype] * 10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pca_fast_path_on_vector_only_layout(dtype, pca_kernels):
    g = get_group("SO3")
    layout = PointLayout(3, fields=FIELDS["vel_only"])
    canon = make_canonicalizer(g, "pca", layout)
    P = _data(40, 7, layout, dtype, seed=3)
    out, h, gen_out, gen_h = _both(canon, P, layout)
    _assert_same(out, gen_out, TOL[dtype])
    _assert_same(h, gen_h, TOL[dtype] * 10)


@pytest.mark.parametrize("fields", ["pos", "pos+vel+charge", "pos+pos"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nan_rows", [False, True])
def test_centroid_fast_path_equals_general_path(fields, dtype, nan_rows):
    layout = PointLayout(3, fields=FIELDS[fields])
    canon = make_canonicalizer(get_group("T3"), "centroid", layout)
    P = _data(30, 6, layout, dtype, seed=1, nan_rows=nan_rows)
    out, h, gen_out, gen_h = _both(canon, P, layout)
    assert out.dtype == P.dtype
    _assert_same(np.nan_to_num(out), np.nan_to_num(gen_out), TOL[dtype])
    _assert_same(h, gen_h, TOL[dtype])


@pytest.mark.parametrize("fields", ["pos", "pos+vel+charge", "vel_only"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nan_rows", [False, True])
def test_scale_fast_path_equals_general_path(fields, dtype, nan_rows):
    layout = PointLayout(3, fields=FIELDS[fields])
    canon = make_canonicalizer(get_group("scaling"), "scale", layout)
    P = _data(30, 6, layout, dtype, seed=7, nan_rows=nan_rows)
    P[0] = 0.0  # all-zero sample: factor 1
    out, h, gen_out, gen_h = _both(canon, P, layout)
    assert out.dtype == P.dtype
    _assert_same(np.nan_to_num(out), np.nan_to_num(gen_out), TOL[dtype])
    _assert_same(h, gen_h, TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nan_rows", [False, True])
def test_sort_fast_path_equals_general_path(dtype, nan_rows):
    layout = PointLayout(3, fields=FIELDS["pos+vel+charge"])
    canon = make_canonicalizer(get_group("S_n"), "sort", layout)
    P = _data(80, 12, layout, dtype, seed=2, nan_rows=nan_rows)
    P[:10, 3] = P[:10, 5]                      # exact duplicate points
    P[10:20, 4, 0] = P[10:20, 7, 0]            # ties in the first column only
    P[20:30, 2, 0] = P[20:30, 8, 0] * (1 + 1e-12)  # ties within the tolerance
    out, h, gen_out, gen_h = _both(canon, P, layout)
    np.testing.assert_array_equal(out, gen_out)
    np.testing.assert_array_equal(h, gen_h)
    np.testing.assert_array_equal(tolerant_lexsort(P), _tolerant_lexsort_general(P))


def test_chain_fast_paths_equal_general_path():
    g = get_group("SE3xS_n")
    layout = PointLayout(3)
    canon = make_canonicalizer(g, "pca+sort", layout)
    P = _data(50, 10, layout, np.float64, seed=4)
    out, h = canon.canonicalize(P, layout)
    # the general path: frames of each step, then the group action
    pca, sort = canon.steps
    Q, h0 = Canonicalizer.canonicalize(pca, P, layout)
    R, h1 = Canonicalizer.canonicalize(sort, Q, layout)
    _assert_same(out, R, 1e-9)
    _assert_same(h[0], h0, 1e-9)
    np.testing.assert_array_equal(h[1], h1)


@settings(max_examples=40, deadline=None)
@given(d=st.sampled_from([2, 3, 4]), seed=st.integers(0, 2**31 - 1),
       degenerate=st.sampled_from(["none", "double", "triple", "zero"]))
def test_sym_eig_desc_matches_eigh(d, seed, degenerate):
    rs = np.random.default_rng(seed)
    A = rs.normal(size=(8, d, d))
    C = A @ np.swapaxes(A, 1, 2)
    if degenerate == "double":
        C[:] = np.diag([2.0, 2.0] + [1.0] * (d - 2))
    elif degenerate == "triple":
        C[:] = np.eye(d)
    elif degenerate == "zero":
        C[:] = 0.0
    lam, E, reliable = sym_eig_desc(C)
    ref = np.linalg.eigvalsh(C)[:, ::-1]
    np.testing.assert_allclose(lam, ref, atol=1e-9 * max(1.0, np.abs(ref).max()))
    if degenerate != "none":
        assert not reliable.any()
    ok = reliable
    # reliable eigenvectors are orthonormal eigenvectors
    np.testing.assert_allclose(np.swapaxes(E[ok], 1, 2) @ E[ok], np.broadcast_to(np.eye(d), (ok.sum(), d, d)),
                               atol=1e-9)
    np.testing.assert_allclose(C[ok] @ E[ok], E[ok] * lam[ok][:, None, :],
                               atol=1e-8 * max(1.0, np.abs(ref).max()))


@pytest.mark.parametrize("method,group", [("pca", "SE3"), ("pca", "O3"), ("sort", "S_n"), ("centroid", "T3"),
                                          ("scale", "scaling")])
def test_fast_paths_do_not_modify_input_and_accept_read_only(method, group):
    layout = PointLayout(3)
    canon = make_canonicalizer(get_group(group), method, layout)
    P = _data(20, 5, layout, np.float32, seed=5)
    P.setflags(write=False)
    before = P.copy()
    out, _ = canon.canonicalize(P, layout)
    np.testing.assert_array_equal(P, before)
    assert out is not P and not np.shares_memory(out, P)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_pca_serves_generic_samples_and_refuses_ambiguous_ones(dtype, pca_kernels):
    layout = PointLayout(3)
    P = _data(200, 16, layout, dtype, seed=6, ambiguous=True)
    _, _, Z, ok = fast_pca(P, special=True, centre=True)
    assert Z.dtype == P.dtype
    assert not ok[:3].any()          # ring, centrally symmetric, all equal
    assert ok[3:].mean() > 0.9       # generic clouds take the fast path


@pytest.mark.parametrize("special", [True, False])
def test_image_moments_fast_path_matches_the_general_rules(special):
    from sklearn.datasets import load_digits

    from skcanon._kernels.fields import weighted_centroid
    from skcanon._kernels.pca import fast_moment_frames, pca_frames, pixel_grid

    X = load_digits().data[:400]
    weights = X.reshape(len(X), -1)
    grid = pixel_grid(8, 8)
    E, ok = fast_moment_frames(weights, grid, special)
    Y = np.broadcast_to(grid, (len(X),) + grid.shape)
    c = weighted_centroid(Y, weights)
    general = pca_frames(Y - c[:, None, :], weights, special=special, resolve_ties=False, offset=c)
    assert ok.mean() > 0.9  # real digits take the fast path
    np.testing.assert_allclose(E[ok], general[ok], atol=1e-12)
    blank = fast_moment_frames(np.zeros((2, 64)), grid, special)[1]
    assert not blank.any()  # blank images are left to the general rules
