"""The faster kernels behind pca, sort, gram and distances keep the general path's results.

* PCA: the vectorized path now also settles axes whose third moment vanishes (mirror-
  symmetric clouds) where the documented rules need no tie-break — the centroid's
  projection for groups without translations, the determinant for SE(d) with a single
  such axis — and float32 samples whose signs are too close to call in float32 are
  retried in float64 before the general path.
* sort: packed integer sort keys reproduce numpy's stable argsort, ties, -0.0 and
  infinities included.
* gram / distances: the chunked torch kernel matches a float64 reference, writes into a
  caller's array, and does not depend on batch size, chunk size or torch's thread count.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skcanon import InvariantProjector
from skcanon.canonicalizers import Canonicalizer, make_canonicalizer
from skcanon._kernels.lexsort import _row_argsort
from skcanon._kernels import pca
from skcanon._kernels.pca import fast_pca
from skcanon.groups import get_group
from skcanon.layouts import PointLayout
from skcanon.projections import _geometry
from _compiled import require_compiled

torch = pytest.importorskip("torch")

TOL = {np.float64: 1e-9, np.float32: 2e-4}


def _mirror_clouds(n, m, seed, offset_scale=0.0):
    """Random clouds symmetric under z → −z in their own frame (third moment 0 along z),
    then rotated and moved."""
    rs = np.random.default_rng(seed)
    half = rs.normal(size=(n, m // 2, 3)) * [3.0, 2.0, 1.0]
    P = np.concatenate([half, half * [1.0, 1.0, -1.0]], axis=1)
    P = P + offset_scale * rs.normal(size=(n, 1, 3))
    R = get_group("SO3").sample(n, random_state=seed)
    return P @ np.swapaxes(R, 1, 2)


def _assert_same(a, b, tol):
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * max(1.0, np.abs(b).max()))


@pytest.mark.parametrize("group", ["SE3", "SO3", "O3"])
def test_pca_fast_path_settles_mirror_symmetric_clouds_by_the_rules(group, pca_kernels):
    g = get_group(group)
    layout = PointLayout(3)
    # SO3/O3 keep the centroid: it orients the symmetric axis; SE3 centres it away
    P = _mirror_clouds(40, 16, seed=1, offset_scale=0.0 if group == "SE3" else 2.0)
    _, _, _, ok = fast_pca(P, special=g.special, centre=group == "SE3")
    assert ok.mean() > 0.9  # the fast path serves them ...
    canon = make_canonicalizer(g, "pca", layout)
    for dtype in (np.float64, np.float32):
        out, h = canon.canonicalize(P.astype(dtype), layout)
        gen_out, gen_h = Canonicalizer.canonicalize(canon, P.astype(dtype), layout)
        _assert_same(out, gen_out, TOL[dtype])  # ... with the general path's result
        _assert_same(h, gen_h, TOL[dtype] * 10)


def test_pca_fast_path_leaves_two_open_axes_and_E3_ties_to_the_general_path():
    P = _mirror_clouds(10, 16, seed=2)
    _, _, _, ok = fast_pca(P, special=False, centre=True)  # E3: the sign is a tie-break
    assert not ok.any()
    sym = np.concatenate([P[:, :8, :], -P[:, :8, :]], axis=1)  # centrally symmetric: 3 open axes
    _, _, _, ok = fast_pca(sym, special=True, centre=True)
    assert not ok.any()


@pytest.mark.parametrize("group", ["SE3", "SO3"])
@pytest.mark.parametrize("magnitude", [1e-12, 1e13])
def test_pca_float32_retry_in_float64_matches_general_path(group, magnitude, pca_kernels):
    g = get_group(group)
    layout = PointLayout(3)
    # float32 clouds whose squares and cubes would underflow or overflow in float32: the
    # float32 kernel refuses them, the float64 retry (float32's tie tolerances) serves them
    P = _mirror_clouds(60, 16, seed=3, offset_scale=0.0 if group == "SE3" else 2.0) * magnitude
    P[:, 0, :] += 2e-1 * magnitude * np.random.default_rng(4).normal(size=(60, 3))
    P32 = P.astype(np.float32)
    _, _, _, ok32 = fast_pca(P32, special=g.special, centre=group == "SE3")
    _, _, _, ok64 = fast_pca(P32.astype(np.float64), special=g.special, centre=group == "SE3",
                             eps=float(np.finfo(np.float32).eps))  # the tolerances of float32 input
    if pca_kernels == "numpy":
        assert not ok32.any() and ok64.sum() >= 40  # the retry has work to do
    else:  # the compiled passes accumulate in float64: no retry needed
        np.testing.assert_array_equal(ok32, ok64)
        assert ok32.sum() >= 40
    canon = make_canonicalizer(g, "pca", layout)
    out, h = canon.canonicalize(P32, layout)
    gen_out, gen_h = Canonicalizer.canonicalize(canon, P32, layout)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    _assert_same(out / magnitude, gen_out / magnitude, TOL[np.float32])
    _assert_same(h[..., :3, :3] if group == "SE3" else h, gen_h[..., :3, :3] if group == "SE3" else gen_h,
                 TOL[np.float32] * 10)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(1, 70), levels=st.sampled_from([3, 20, 0]),
       dtype=st.sampled_from([np.float32, np.float64]), grouped=st.booleans())
def test_row_argsort_equals_numpy_stable_argsort(seed, m, levels, dtype, grouped):
    rs = np.random.default_rng(seed)
    values = rs.normal(size=(7, m)) * 10
    if levels:  # many exact ties
        values = np.round(values / 10 * levels)
    values[rs.random(values.shape) < 0.1] = -0.0
    values[rs.random(values.shape) < 0.05] = np.inf
    values[rs.random(values.shape) < 0.05] = -np.inf
    values = values.astype(dtype)
    groups = np.sort(rs.integers(0, max(m, 1), size=(7, m)), axis=1) if grouped else None
    expected = np.argsort(values, axis=1, kind="stable")
    if grouped:
        expected = np.take_along_axis(
            expected, np.argsort(np.take_along_axis(groups, expected, 1), 1, kind="stable"), 1)
    np.testing.assert_array_equal(_row_argsort(values, groups=groups), expected)
    if not grouped:  # the inexact float64 keys still sort distinct values correctly
        loose = _row_argsort(values, exact=False)
        np.testing.assert_array_equal(np.take_along_axis(values, loose, 1), np.sort(values, axis=1))


def _reference(V, distances, centre):
    V = V.astype(np.float64)
    if centre:
        V = V - np.nanmean(V, axis=1, keepdims=True)
    G = np.einsum("nid,njd->nij", V, V)
    iu = np.triu_indices(V.shape[1], 1 if distances else 0)
    if distances:
        sq = np.einsum("nii->ni", G)
        G = np.sqrt(np.maximum(sq[:, :, None] + sq[:, None, :] - 2 * G, 0))
    return np.nan_to_num(G[:, iu[0], iu[1]])  # entries involving an absent vector are 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("distances", [False, True])
@pytest.mark.parametrize("centre", [False, True])
def test_gram_kernel_matches_float64_reference_in_place_and_chunked(dtype, distances, centre, monkeypatch):
    rs = np.random.default_rng(5)
    V = (rs.normal(size=(37, 9, 4)) * [3.0, 2.0, 1.0, 0.5] + 5.0).astype(dtype)
    V[4, 2] = np.nan  # an absent vector: 0 exactly where it is involved
    expected = _reference(V, distances, centre)
    monkeypatch.setattr(_geometry, "_GRAM_CHUNK_ENTRIES", 5 * 81)  # 5 samples a chunk
    out = np.full(expected.shape, -1.0, dtype=dtype)
    got = _geometry.gram_triu(V, distances=distances, out=out, centre=centre)
    assert got is out and got.dtype == dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    scale = np.nanmax(np.abs(expected))
    np.testing.assert_allclose(np.nan_to_num(got), np.nan_to_num(expected), rtol=0,
                               atol=(1e-5 if dtype == np.float32 else 1e-12) * scale)
    read_only = V.copy()
    read_only.setflags(write=False)  # torch takes neither read-only nor reversed arrays
    np.testing.assert_array_equal(_geometry.gram_triu(read_only, distances=distances, centre=centre), got)
    reversed_view = _geometry.gram_triu(V[::-1], distances=distances, centre=centre)[::-1]
    np.testing.assert_array_equal(np.isnan(reversed_view), np.isnan(got))  # other chunks: rounding
    np.testing.assert_allclose(np.nan_to_num(reversed_view), np.nan_to_num(got), rtol=0,
                               atol=(1e-6 if dtype == np.float32 else 1e-13) * scale)


@pytest.mark.parametrize("method,group", [("gram", "O3"), ("gram", "E3"), ("distances", "E3"), ("distances", "O3")])
def test_projector_batches_thread_counts_and_batch_sizes_agree(method, group):
    X = np.random.default_rng(6).normal(size=(300, 12 * 3)).astype(np.float32)
    full = InvariantProjector(group, method, batch_size=None).fit(X).transform(X)
    batched = InvariantProjector(group, method, batch_size=64).fit(X).transform(X)
    np.testing.assert_allclose(batched, full, rtol=1e-5, atol=1e-5 * np.abs(full).max())
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = InvariantProjector(group, method, batch_size=64).fit(X).transform(X)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_allclose(single, full, rtol=1e-5, atol=1e-5 * np.abs(full).max())


def test_close_eigenvalues_get_accurate_frames():
    """Gaps of 1e-5 to 1e-2 of the trace: the closed-form 3×3 eigenvectors lose about
    eps / gap² (frames off by 6e-9 at a gap of 3e-5, found by the long fuzzing profile);
    LAPACK takes over there, so frames stay equivariant to rounding and keep det +1."""
    from skcanon._kernels.eigen import sym_eig_desc

    rs = np.random.default_rng(7)
    n = 50
    gaps = 10.0 ** rs.uniform(-4.9, -2.1, n)
    lam = np.stack([np.full(n, 3.0), 1.0 + gaps * 4.0, np.ones(n)], axis=1)  # λ2 − λ3 = 4·gap
    Q = get_group("SO3").sample(n, random_state=1)
    C = np.einsum("nij,nj,nkj->nik", Q, lam, Q)
    _, E, reliable = sym_eig_desc(C)
    assert reliable.all()
    np.testing.assert_allclose(np.linalg.det(E), 1.0, atol=1e-12)
    # each column is ± the true axis, to the rounding of C amplified by 1 / gap
    cos = np.einsum("nik,nik->nk", E, Q)
    off = np.linalg.norm(E - np.sign(cos)[:, None, :] * Q, axis=1)  # first order in the angle
    assert off.max() < 1e-10, off.max()  # eps / gap; the closed form alone: 1.4e-8


def _gaussian_clouds(n, m=64, seed=0):
    """The issue's plain Gaussian clouds: third moments near zero, signs often nearly tied."""
    return np.random.default_rng(seed).normal(size=(n, m, 3)) * [3.0, 2.0, 1.0]


@pytest.mark.parametrize("group", ["SE3", "SO3", "O3"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pca_fast_path_serves_gaussian_clouds_with_the_general_result(group, dtype, pca_kernels):
    g = get_group(group)
    layout = PointLayout(3)
    P = _gaussian_clouds(1500, seed=7).astype(dtype)
    _, _, _, ok = fast_pca(P, special=g.special, centre=g.translates)
    assert ok.mean() > 0.98
    canon = make_canonicalizer(g, "pca", layout)
    out, h = canon.canonicalize(P, layout)
    gen_out, gen_h = Canonicalizer.canonicalize(canon, P, layout)
    _assert_same(out, gen_out, TOL[dtype])
    _assert_same(h, gen_h, TOL[dtype] * 10)


@pytest.mark.parametrize("special, centre", [(True, True), (True, False), (False, False)])
def test_compiled_and_numpy_pca_passes_agree(special, centre, monkeypatch):
    monkeypatch.setenv("SKCANON_NUMBA", "1")
    require_compiled()
    P = _gaussian_clouds(3000, seed=8).astype(np.float32)
    P[:500] = np.random.default_rng(9).exponential(size=(500, 64, 3)) * [3.0, 2.0, 1.0]  # skewed
    P[7, 3] = np.nan                                                     # an absent point
    E, c, Z, ok = fast_pca(P, special=special, centre=centre)
    monkeypatch.setenv("SKCANON_NUMBA", "0")
    E0, c0, Z0, ok0 = fast_pca(P, special=special, centre=centre)
    assert not ok[7] and not ok0[7]
    # float64 statistics serve every sample the float32 numpy pass serves, and more
    assert (ok | ~ok0).all() and ok.sum() >= ok0.sum()
    both = ok & ok0
    # the same frames and signs; values differ by the numpy pass's float32 rounding only
    np.testing.assert_allclose(E[both], E0[both], rtol=0, atol=1e-5)
    np.testing.assert_allclose(Z[both], Z0[both], rtol=0, atol=2e-5 * np.abs(Z0[both]).max())
    assert Z.dtype == np.float32


def test_compiled_pca_results_do_not_depend_on_the_batch(monkeypatch):
    monkeypatch.setenv("SKCANON_NUMBA", "1")
    require_compiled()
    P = _gaussian_clouds(600, seed=10).astype(np.float32)
    E, _, Z, ok = fast_pca(P, special=True, centre=True)
    for sl in (slice(0, 1), slice(5, 300), slice(300, 600)):
        Eb, _, Zb, okb = fast_pca(P[sl], special=True, centre=True)
        np.testing.assert_array_equal(okb, ok[sl])
        np.testing.assert_array_equal(Zb, Z[sl])
        np.testing.assert_array_equal(Eb, E[sl])



@pytest.mark.parametrize("group", ["SO3", "E3", "SE3xS_n", "Sim3", "SO2"])
@pytest.mark.parametrize("exponent", [-49, -46, -43, -40, 0, 40, 60])
def test_frames_stay_orthogonal_at_every_magnitude(group, exponent):
    """Clouds of float64 coordinates near 1e-44 took the fast path, whose closed-form 3×3
    eigenvectors normalise cofactor vectors with a squared norm of order trace⁴: it
    underflowed, and frames came out up to 1e256 from orthogonal (forms 1e124 times the
    input), silently."""
    from skcanon import CanonicalizerTransformer

    width = 16 if group == "SO2" else 24
    X = np.random.default_rng(0).normal(size=(20, width)) * 10.0**exponent
    method = "pca+sort" if "S_n" in group else "pca"
    T = CanonicalizerTransformer(group, method).fit(X).transform(X)
    P, Q = X.reshape(20, -1, width // 8), T.reshape(20, -1, width // 8)
    if group == "Sim3":   # unit RMS radius about the centroid
        radius = np.sqrt((Q**2).sum(-1).mean(-1))
        np.testing.assert_allclose(radius, 1.0, rtol=1e-9)
    else:   # rigid: each point's distance to the centroid is kept
        def radii(A):
            return np.sort(np.linalg.norm(A - A.mean(1, keepdims=True), axis=-1), axis=1)
        np.testing.assert_allclose(radii(Q), radii(P), rtol=1e-9)


@pytest.mark.parametrize("scale", [1e-160, 1e160])
def test_similarity_frames_round_trip_at_extreme_scales(scale):
    """Sim(3)'s element check squared the linear part s·R: beyond 1e±154 the squares under-
    or overflowed and ``inverse_transform`` refused the frames ``canonicalize`` returned."""
    from skcanon import CanonicalizerTransformer

    X = np.random.default_rng(0).normal(size=(2, 24)) * scale
    canonicalizer = CanonicalizerTransformer("Sim3", "pca").fit(X)
    forms, frames = canonicalizer.canonicalize(X)
    np.testing.assert_allclose(canonicalizer.inverse_transform(forms, frames), X, rtol=1e-12, atol=0)


_TINY = [(np.float64, 1e-44), (np.float64, 1.0), (np.float32, 1e-20), (np.float32, 1.0)]


@pytest.mark.parametrize("dtype, scale, shape", [(*c, shape) for c in _TINY for shape in ("generic", "cube")]
                         + [(np.float32, 1e-42, "generic")])
def test_invariance_at_tiny_magnitudes_in_both_precisions(dtype, scale, shape):
    """The same magnitudes in float32 (subnormal samples retried in float64 were refused as
    "near float32's largest") and on a symmetric input (a cube's corners, which the tie
    rules decide): canonical forms stay invariant under SE3xS_n. No subnormal cube: moved
    and rounded to float32's subnormal grid (3 digits) it is no longer a cube, but a
    near-symmetric cloud whose forms may jump (docs/reliability.md, B212)."""
    from skcanon import CanonicalizerTransformer
    from skcanon.metrics import invariance_error

    rng = np.random.default_rng(0)
    if shape == "cube":
        corners = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], dtype=float)
        P = np.repeat(corners[None], 10, axis=0)
    else:
        P = rng.normal(size=(10, 8, 3))
    X = (P.reshape(10, -1) * scale).astype(dtype)
    canonicalizer = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(X)
    T = canonicalizer.transform(X)
    assert T.dtype == dtype and np.isfinite(T).all()
    # subnormal float32 input holds only a few digits (spacing 1.4e-45): moving it rounds it
    tol = max(1e-9 if dtype == np.float64 else 1e-3, 20 * np.finfo(dtype).smallest_subnormal / scale)
    assert invariance_error(canonicalizer, X, "SE3xS_n", random_state=0).max < tol
