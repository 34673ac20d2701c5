"""The optional compiled kernels (numba, the ``fast`` extra): the fused 3-D PCA pass and the
compiled point sort make the numpy paths' decisions, and when they run (``SKCANON_NUMBA``).

Skipped where numba is not installed, except the switch's own rules.
"""

import numpy as np
import pytest

from skcanon import CanonicalizerTransformer
from skcanon._kernels import _numba, lexsort, pca
from _compiled import require_compiled

EPS32 = float(np.finfo(np.float32).eps)


@pytest.fixture
def compiled(monkeypatch):
    monkeypatch.setenv("SKCANON_NUMBA", "1")
    return require_compiled()


def _clouds(kind, n=1500, m=64, seed=0):
    rs = np.random.default_rng(seed)
    if kind == "gaussian":   # third moments near zero: signs often nearly tied
        return (rs.normal(size=(n, m, 3)) * [3.0, 2.0, 1.0]).astype(np.float32)
    if kind == "skewed":
        return (rs.exponential(size=(n, m, 3)) * [3.0, 2.0, 1.0]).astype(np.float32)
    if kind == "moved":      # far from the origin, rotated
        P = rs.normal(size=(n, m, 3)) * [3.0, 2.0, 1.0] + rs.normal(size=(n, 1, 3)) * 50
        return P.astype(np.float32)
    if kind == "close":      # two eigenvalues within 1% of the trace: LAPACK decides there
        G = rs.exponential(size=(n, m, 3))
        G -= G.mean(axis=1, keepdims=True)
        lam, V = np.linalg.eigh(np.einsum("nmi,nmj->nij", G, G) / m)
        G = np.einsum("nmi,nij->nmj", G, V) / np.sqrt(lam)[:, None, :]     # covariance I
        widths = np.stack([np.full(n, 3.0), 1.0 + rs.uniform(0, 0.06, n), np.ones(n)], axis=1)
        Q = np.linalg.qr(rs.normal(size=(n, 3, 3)))[0]
        return np.einsum("nmi,nji->nmj", G * widths[:, None, :], Q).astype(np.float32)
    if kind == "special":    # symmetric and degenerate shapes, absent points, magnitudes
        cube = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T
        shapes = [np.pad(cube, ((0, m - 8), (0, 0)), mode="wrap"),
                  np.c_[rs.normal(size=(m, 2)), np.zeros(m)],                  # planar
                  np.outer(rs.normal(size=m), [1.0, 2.0, 3.0]),                # collinear
                  np.ones((m, 3)),                                             # no spread
                  rs.normal(size=(m, 3)) * [3, 2, 1] * 1e-20,
                  rs.normal(size=(m, 3)) * [3, 2, 1] * 1e18]
        P = np.array([shapes[i % len(shapes)] for i in range(n)], dtype=np.float64)
        P[5::7, 3] = np.nan
        return P.astype(np.float32)
    raise ValueError(kind)


KINDS = ["gaussian", "skewed", "moved", "close", "special"]
GROUPS = [(True, True), (True, False), (False, True), (False, False)]   # (special, centre)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("special,centre", GROUPS)
def test_fused_pass_decides_as_the_separate_passes(compiled, kind, special, centre):
    """Sample by sample, the fused pass serves exactly the samples the separate compiled
    passes serve, with the same frames and canonical points (to rounding)."""
    Y = _clouds(kind)
    with np.errstate(all="ignore"):
        E, c, Z, ok = pca.fast_pca(Y, special, centre, kernels=compiled)
        E1, c1, Z1, ok1 = pca._fast_pca_passes(Y, special, centre, EPS32, compiled)
    assert ok.dtype == bool and ok.shape == (len(Y),)
    np.testing.assert_array_equal(ok, ok1)
    assert ok.any()
    np.testing.assert_allclose(E[ok], E1[ok], atol=1e-12)
    np.testing.assert_allclose(c[ok], c1[ok], rtol=1e-12, atol=1e-12 * np.abs(c1[ok]).max())
    scale = np.abs(Z1[ok]).max(axis=(1, 2), keepdims=True)
    assert np.all(np.abs(Z[ok] - Z1[ok]) <= 4 * EPS32 * scale)
    assert Z.dtype == Y.dtype


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("special,centre", GROUPS)
def test_fused_pass_gives_the_numpy_frames(compiled, kind, special, centre):
    """Where both serve a sample, the numpy passes' frame is the fused pass's (float32
    statistics round at about 1e-6); the fused pass refuses no more than numpy does."""
    Y = _clouds(kind)
    with np.errstate(all="ignore"):
        E, _, Z, ok = pca.fast_pca(Y, special, centre, kernels=compiled)
        E0, _, Z0, ok0 = pca.fast_pca(Y, special, centre, kernels=None)
    both = ok & ok0
    assert both.sum() >= 0.5 * ok0.sum()
    np.testing.assert_allclose(E[both], E0[both], atol=2e-4)
    if kind != "special":   # generic data: float64 statistics decide at least as often
        assert ok.sum() >= ok0.sum()


def test_fused_pass_handles_float64_and_strided_points(compiled):
    Y = _clouds("skewed", n=500).astype(np.float64)
    wide = np.concatenate([Y, np.ones(Y.shape[:2] + (2,))], axis=2)[..., :3]   # not contiguous
    E, c, Z, ok = pca.fast_pca(wide, True, True, kernels=compiled)
    E1, c1, Z1, ok1 = pca._fast_pca_passes(Y, True, True, float(np.finfo(np.float64).eps), compiled)
    np.testing.assert_array_equal(ok, ok1)
    np.testing.assert_allclose(Z[ok], Z1[ok], atol=1e-12 * np.abs(Z1).max())
    assert Z.dtype == np.float64


@pytest.mark.parametrize("kind", ["gaussian", "skewed", "special"])
@pytest.mark.parametrize("group,method", [("SE3", "pca"), ("SO3", "pca"), ("O3", "pca"),
                                          ("SE3xS_n", "pca+sort")])
def test_transform_matches_numpy_to_float32_rounding(monkeypatch, compiled, kind, group, method):
    """The whole transform, compiled against numpy: the same canonical forms (float32
    rounding of the coordinates; pca+sort: the same order too), float32 in, float32 out."""
    n = 84 if kind == "special" else 800     # symmetric shapes take the (slow) general path
    X = _clouds(kind, n=n).reshape(n, -1)
    est = CanonicalizerTransformer(group, method, n_dims=3).fit(X)
    out1 = est.transform(X)
    monkeypatch.setenv("SKCANON_NUMBA", "0")
    out0 = est.transform(X)
    assert out1.dtype == out0.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(out1), np.isnan(out0))
    scale = np.nanmax(np.abs(out0), axis=1, keepdims=True)
    err = np.nan_to_num(np.abs(out1 - out0)) / np.maximum(scale, 1e-30)
    assert err.max() < 1e-4, err.max()


def test_results_do_not_depend_on_the_batch(compiled):
    X = _clouds("gaussian", n=1000).reshape(1000, -1)
    for method, group in [("pca", "SE3"), ("pca+sort", "SE3xS_n")]:
        whole = CanonicalizerTransformer(group, method, n_dims=3, batch_size=None).fit(X).transform(X)
        parts = CanonicalizerTransformer(group, method, n_dims=3, batch_size=37).fit(X).transform(X)
        np.testing.assert_array_equal(whole, parts)   # every sample is computed alone
        threads = CanonicalizerTransformer(group, method, n_dims=3, batch_size=100, n_jobs=2).fit(X).transform(X)
        np.testing.assert_array_equal(whole, threads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_distance_triangle_gives_the_same_distances(monkeypatch, compiled, dtype):
    """The compiled triangle pass (gather, clip, square root) returns the distances of the
    torch/numpy path to the last bit of the square root (numpy's and the compiled one are
    correctly rounded, torch's is not for about 1 in 6 float32 values), absent points and
    rescaled magnitudes included."""
    from skcanon import InvariantProjector

    rs = np.random.default_rng(5)
    X = rs.normal(size=(300, 12, 3)).astype(dtype)
    X[::7, 4] = np.nan                       # absent points
    X[1::11] *= dtype(1e18) if dtype == np.float32 else 1e150   # rescaled inside
    X[2::13, 3] = X[2::13, 5]                # coincident points: distance 0 (clipped)
    X = X.reshape(300, -1)
    proj = InvariantProjector("E3", "distances").fit(X)
    out1 = proj.transform(X)
    monkeypatch.setenv("SKCANON_NUMBA", "0")
    out0 = proj.transform(X)
    np.testing.assert_allclose(out1, out0, rtol=2 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_array_equal(out1 == 0, out0 == 0)
    assert out1.dtype == dtype and np.isfinite(out1).all() and (out1 >= 0).all()


# -- the compiled sort ---------------------------------------------------------------------------
def _sort_inputs():
    rs = np.random.default_rng(3)
    yield "gaussian", _clouds("gaussian", n=2000)
    yield "pairs and chains", (np.round(rs.normal(size=(3000, 16, 3)) * 2) / 2).astype(np.float32)
    yield "near ties", (rs.normal(size=(2000, 32, 3)) * [1, 1e-5, 1]).astype(np.float32)
    yield "negative zero", np.where(rs.random((1000, 8, 2)) < 0.3, -0.0,
                                    np.round(rs.normal(size=(1000, 8, 2)))).astype(np.float32)
    yield "one column", np.round(rs.normal(size=(1000, 20, 1)) * 4).astype(np.float32)
    yield "float64", rs.normal(size=(1000, 32, 4))
    yield "float64 ties", np.round(rs.normal(size=(1000, 32, 2)) * 3) / 3
    yield "wide", np.round(rs.normal(size=(500, 12, 7))).astype(np.float32)
    # chains in almost every sample (1,024 points): the compiled refinement serves them
    yield "many points", (rs.normal(size=(40, 1024, 3)) * [3, 2, 1]).astype(np.float32)
    yield "many points float64", rs.normal(size=(40, 1024, 3)) * [3, 2, 1] * 1e-4
    # float64 first columns that differ only in the bits the packed keys drop, equal later
    base = np.repeat(np.round(rs.normal(size=(300, 8, 1)), 1), 2, axis=1)
    base[:, 1::2, 0] *= 1 + 2e-16 * rs.integers(1, 4, size=(300, 8))
    yield "float64 below the key bits", np.concatenate([base, np.zeros_like(base)], axis=2)


@pytest.mark.parametrize("gather", [True, False])
def test_compiled_sort_gives_the_numpy_order(monkeypatch, compiled, gather):
    for name, V in _sort_inputs():
        order1, out1 = lexsort.fast_lexsort(V, gather)
        monkeypatch.setenv("SKCANON_NUMBA", "0")
        order0, out0 = lexsort.fast_lexsort(V, gather)
        monkeypatch.setenv("SKCANON_NUMBA", "1")
        np.testing.assert_array_equal(order1, order0, err_msg=name)
        if gather:
            np.testing.assert_array_equal(out1, out0, err_msg=name)
            np.testing.assert_array_equal(out1, lexsort.gather_points(V, order1), err_msg=name)
        else:
            assert out1 is None


def test_compiled_sort_leaves_non_finite_input_to_the_general_path(compiled):
    V = _clouds("gaussian", n=50)
    V[3, 5, 1] = np.inf
    assert lexsort.fast_lexsort(V) == (None, None)
    order = lexsort.tolerant_lexsort(V)   # the general path serves it
    assert sorted(order[3]) == list(range(V.shape[1]))


# -- when the compiled kernels run ------------------------------------------------------------------
def test_switch_modes(monkeypatch):
    monkeypatch.setattr(_numba, "_STATE", {"samples": 0})
    monkeypatch.setenv("SKCANON_NUMBA", "0")
    assert not _numba.wanted(10 ** 9)
    monkeypatch.setenv("SKCANON_NUMBA", "1")
    assert _numba.wanted(0)
    for value in ("auto", ""):
        monkeypatch.setenv("SKCANON_NUMBA", value)
        monkeypatch.setattr(_numba, "_STATE", {"samples": 0})
        assert not _numba.wanted(_numba.AUTO_SAMPLES - 1)   # small jobs stay on numpy
        assert _numba.wanted(1)                             # the load is earned
        assert _numba.wanted(0)
    monkeypatch.delenv("SKCANON_NUMBA")
    assert _numba.mode() == "auto"


def test_auto_switch_changes_outputs_only_by_rounding(monkeypatch, compiled):
    """Unset, the process switches to the compiled kernels after AUTO_SAMPLES samples:
    a transform across the switch equals the numpy one to float32 rounding."""
    X = _clouds("skewed", n=600).reshape(600, -1)
    monkeypatch.setenv("SKCANON_NUMBA", "0")
    est = CanonicalizerTransformer("SE3xS_n", "pca+sort", n_dims=3, batch_size=100).fit(X)
    reference = est.transform(X)
    monkeypatch.setenv("SKCANON_NUMBA", "auto")
    monkeypatch.setattr(_numba, "_STATE", {"samples": _numba.AUTO_SAMPLES - 250})
    out = est.transform(X)
    assert _numba._STATE["samples"] >= _numba.AUTO_SAMPLES
    np.testing.assert_allclose(out, reference, atol=1e-4 * np.abs(reference).max())


def test_cache_files_are_cleared_when_a_source_file_of_the_kernels_changes(tmp_path):
    # numba keys a cached kernel on its own file only: a constant the kernels import from
    # eigen.py, edited in place, was still served from the cache (FAST_GAP_RTOL 1e-5 → 10
    # still passed 200 of 200 samples through the fused pass)
    (tmp_path / "pca.py").write_text("X = 1\n")
    (tmp_path / "eigen.py").write_text("GAP = 1e-5\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()

    def write_cache():
        for name in ("pca._fused3-1.py311.nbi", "pca._fused3-1.py311.1.nbc"):
            (cache / name).write_text("compiled")

    write_cache()
    assert _numba.clear_stale_cache(tmp_path)            # no record of the sources yet
    assert not list(cache.glob("*.nb*"))
    write_cache()
    assert not _numba.clear_stale_cache(tmp_path)        # unchanged sources: cache kept
    assert len(list(cache.glob("*.nb*"))) == 2
    (tmp_path / "eigen.py").write_text("GAP = 10.0\n")   # another module than the kernel's
    assert _numba.clear_stale_cache(tmp_path)
    assert not list(cache.glob("*.nb*"))


@pytest.mark.parametrize("numba", ["0", "1"])
def test_float32_clouds_of_many_points_far_from_the_origin_keep_their_centroid(monkeypatch, numba):
    """The numpy passes summed a float32 centroid in float32: 100,000 points of spread 1-3 at
    3,000 from the origin came out 0.23 off centre, and moved copies of a 50,000-point cloud got
    canonical forms 0.05 apart (the compiled pass sums in float64 and was right)."""
    monkeypatch.setenv("SKCANON_NUMBA", numba)
    if numba == "1":
        require_compiled()
    rs = np.random.default_rng(0)
    G = rs.exponential(size=(50_000, 3)) * [3.0, 2.0, 1.0]
    R = np.linalg.qr(rs.normal(size=(3, 3)))[0]
    R *= np.linalg.det(R)
    A = (G + [3000.0, -2000.0, 1000.0]).astype(np.float32)
    B = (G @ R.T + [-1000.0, 2500.0, 500.0]).astype(np.float32)    # the same cloud, moved
    if numba == "0":
        _, c, Z, ok = pca.fast_pca(A[None], True, True, kernels=None)
        assert ok[0] and np.abs(c[0] - A.astype(np.float64).mean(0)).max() < 1e-3
    est = CanonicalizerTransformer("SE3", "pca", n_dims=3).fit(A.reshape(1, -1))
    a, b = est.transform(A.reshape(1, -1)), est.transform(B.reshape(1, -1))
    assert a.dtype == np.float32 and np.abs(a - b).max() < 5e-3        # input rounding: about 2e-4
    assert np.abs(a.reshape(-1, 3).astype(np.float64).mean(0)).max() < 1e-3


def test_the_closed_form_inside_the_fused_pass_keeps_its_own_rounding(compiled):
    """The 3×3 closed form is compiled without reassociation (its rounding is the numpy
    closed form's); compiled first from inside the fastmath fused pass it took that pass's
    flags: (1, 1, 0) where the formulas give (1 + 4e-9, 1 - 4e-9, -1e-16)."""
    row = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)     # a repeated eigenvalue: where the rounding shows
    assert tuple(pca._EIG3_ONE(*row)) == tuple(pca._eig3_one(*row))


def test_compiled_sums_of_squares_of_float32_points_are_float64_sums(compiled):
    """numba's ``float()`` keeps a float32 a float32: the compiled squares overflowed to inf
    (1e20² → inf) and underflowed to 0 where the docstring promises float64 sums."""
    from skcanon._kernels import squares

    F = np.array([[1e20, 3.0, 1e-30, 2.0, 0.0, 1e-30]], np.float32)
    ss, count = squares.axis_squares(F, [slice(0, 6)], 3)
    exact = (F.astype(np.float64).reshape(2, 3) ** 2).sum(axis=0)
    np.testing.assert_allclose(ss[0], exact, rtol=1e-12)
    assert count == 2
