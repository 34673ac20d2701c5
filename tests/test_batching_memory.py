"""``transform``'s batches: memory bounded by ``batch_size`` for every input, outputs that
depend neither on ``batch_size`` nor on ``n_jobs``, and one choice of kernels per call.

Rows the PCA fast path refuses (absent points, symmetric clouds) are deferred by each batch
and canonicalized in chunks of at most a batch's rows, in ``n_jobs`` threads — not all in one
call on a copy of every such row (with padded data, the whole data set). Whether the compiled
(numba) kernels run is chosen once per call, before its batches, so no batch of a call uses
other kernels than the others, whatever the threads' timing.
"""

import threading
import tracemalloc

import numpy as np
import pytest

import skcanon._canonicalizer as canonicalizer_module
from skcanon import CanonicalizerTransformer, InvariantProjector
from skcanon._kernels import _numba
from _compiled import require_compiled
from test_inplace_output import _same_frames, count_general_path

CUBE = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)


def _clouds(kind, dtype, n, m=16, seed=0):
    """``(n, m * 3)`` rows: ``generic`` (the fast path serves nearly all), ``ragged`` (every
    cloud has an absent point), ``symmetric`` (point-symmetric clouds: every third moment
    is zero, so no sign is decided), all deferred; ``mixed``: generic, ragged, symmetric
    clouds and a few rotated cubes (all eigenvalues equal: the tie rules' slowest case)."""
    rs = np.random.default_rng(seed)
    P = rs.normal(size=(n, m, 3)) * [3.0, 2.0, 1.0]
    if kind in ("symmetric", "mixed"):
        rows = slice(None) if kind == "symmetric" else slice(1, None, 3)
        P[rows, m // 2:] = -P[rows, :m // 2]
    Q = np.linalg.qr(rs.normal(size=(n, 3, 3)))[0]
    P = np.einsum("nij,nmj->nmi", Q, P) + rs.normal(size=(n, 1, 3))
    if kind == "symmetric":   # about the origin: symmetric for O(3)'s uncentred moments too
        P -= P.mean(axis=1, keepdims=True)
    if kind in ("ragged", "mixed"):
        P[:: 1 if kind == "ragged" else 3, -1] = np.nan
    if kind == "mixed":
        shape = np.concatenate([CUBE * (1 + k) for k in range(-(-m // 8))])[:m]
        P[2:20:3] = np.einsum("nij,mj->nmi", Q[2:20:3], shape) + 1.0
    return P.reshape(n, m * 3).astype(dtype)


@pytest.mark.parametrize("kind", ["generic", "ragged", "symmetric", "mixed"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("group,method", [("SE3", "pca"), ("O3", "pca"), ("SE3xS_n", "pca+sort")])
def test_outputs_do_not_depend_on_batch_size_or_n_jobs(monkeypatch, kind, dtype, group, method):
    """batch_size None / 1 / 7 / 256 × n_jobs 1 / 2: the same canonical forms and frames bit
    for bit (deferred rows are redone in chunks, in threads, with the same values)."""
    monkeypatch.setenv("SKCANON_NUMBA", "0")
    X = _clouds(kind, dtype, n=300)
    X0 = X.copy()
    reference = CanonicalizerTransformer(group, method, n_dims=3, batch_size=None).fit(X[:10])
    expected, frames = reference.canonicalize(X)
    for batch_size in (1, 7, 256):
        for n_jobs in (1, 2):
            est = CanonicalizerTransformer(group, method, n_dims=3, batch_size=batch_size,
                                           n_jobs=n_jobs).fit(X[:10])
            assert np.array_equal(est.transform(X), expected, equal_nan=True), (batch_size, n_jobs)
            out, got = est.canonicalize(X)
            assert np.array_equal(out, expected, equal_nan=True) and _same_frames(got, frames)
    assert np.array_equal(X, X0, equal_nan=True)   # the caller's data is never written


def _overhead(est, X):
    """Peak traced memory of ``est.transform(X)`` beyond its output."""
    tracemalloc.start()
    try:
        out = est.transform(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - out.nbytes


@pytest.mark.parametrize("kind", ["ragged", "symmetric"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("group,method", [("SE3", "pca"), ("O3", "pca"), ("SE3xS_n", "pca+sort")])
def test_deferred_rows_keep_memory_bounded_by_batch_size(monkeypatch, kind, dtype, group, method):
    """Every cloud deferred (each has an absent point, or is a cube): the working memory
    beyond the output stays that of a few batches, as for generic clouds, instead of a copy
    of all the deferred rows and the general path's arrays over them (before: about 10× the
    output for 4,000 16-point clouds with batch_size=256)."""
    monkeypatch.setenv("SKCANON_NUMBA", "0")   # no numba import inside the measurement
    n = 4_000
    X = _clouds(kind, dtype, n=n)
    generic = _clouds("generic", dtype, n=n)
    est = CanonicalizerTransformer(group, method, n_dims=3, batch_size=256).fit(X[:10])
    est.transform(X[:600])   # first-call allocations (imports, caches) outside the measurement
    calls = count_general_path(monkeypatch)
    overhead = _overhead(est, X)
    assert sum(calls) >= n // 2                 # (most clouds did take the general path)
    baseline = _overhead(est, generic)
    # generous: a few batches (256 × 16 × 3 values) and the deferred rows' indices, against
    # the whole input for the former single call
    assert overhead <= baseline + 0.5 * X.nbytes + 2e6, (overhead, baseline, X.nbytes)
    assert max(calls) <= 256                    # the general path never sees more than a batch


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_deferred_chunks_run_in_the_batch_threads(monkeypatch, n_jobs):
    """The deferred rows go to the batch runner in chunks of at most a batch's rows, with
    ``n_jobs`` threads (before: one call over all of them in the calling thread)."""
    monkeypatch.setenv("SKCANON_NUMBA", "0")
    X = _clouds("ragged", np.float64, n=1000)
    est = CanonicalizerTransformer("SE3", "pca", n_dims=3, batch_size=100, n_jobs=n_jobs).fit(X[:10])
    runs = []
    run = canonicalizer_module.run_batches

    def spied(one_batch, batches, threads):
        runs.append(([b.stop - b.start if isinstance(b, slice) else len(b) for b in batches], threads))
        return run(one_batch, batches, threads)

    expected = CanonicalizerTransformer("SE3", "pca", n_dims=3, batch_size=None).fit(X[:10]).transform(X)
    monkeypatch.setattr(canonicalizer_module, "run_batches", spied)
    assert np.array_equal(est.transform(X), expected, equal_nan=True)
    assert len(runs) == 2                                 # the batches, then the deferred chunks
    sizes, threads = runs[1]
    assert sizes == [100] * 10 and threads == n_jobs


# -- one choice of kernels per call --------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("group,method", [("SE3", "pca"), ("SE3xS_n", "pca+sort")])
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_kernels_are_chosen_once_per_call(monkeypatch, dtype, group, method, n_jobs):
    """``SKCANON_NUMBA`` unset, with the switch's threshold crossed inside one call: every
    batch uses the kernels chosen before the first one, so the output is that of
    ``SKCANON_NUMBA=1`` for n_jobs 1 and 2 alike (before: the batches before the crossing ran
    numpy, those after it the compiled kernels, and with n_jobs=2 which ones depended on the
    threads' timing)."""
    monkeypatch.setenv("SKCANON_NUMBA", "1")
    require_compiled()
    X = _clouds("mixed", dtype, n=1200)
    est = CanonicalizerTransformer(group, method, n_dims=3, batch_size=100, n_jobs=n_jobs).fit(X[:10])
    monkeypatch.setenv("SKCANON_NUMBA", "1")
    compiled = est.transform(X)
    monkeypatch.setenv("SKCANON_NUMBA", "0")
    numpy_only = est.transform(X)
    assert not np.array_equal(compiled, numpy_only, equal_nan=True)   # the test can tell them apart
    monkeypatch.setenv("SKCANON_NUMBA", "auto")
    monkeypatch.setattr(_numba, "AUTO_SAMPLES", 600)                  # crossed half-way through
    monkeypatch.setattr(_numba, "_STATE", {"samples": 0})
    assert np.array_equal(est.transform(X), compiled, equal_nan=True)
    # below the threshold for the whole call: numpy for every batch
    monkeypatch.setattr(_numba, "AUTO_SAMPLES", 10 ** 9)
    monkeypatch.setattr(_numba, "_STATE", {"samples": 0})
    assert np.array_equal(est.transform(X), numpy_only, equal_nan=True)
    # the count is exact under threads: every fast-path sample of the call counted
    assert _numba._STATE["samples"] >= len(X) * (2 if "sort" in method else 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_projector_kernels_are_chosen_once_per_call(monkeypatch, dtype):
    """The same for InvariantProjector's batches (the compiled ``distances`` pass)."""
    monkeypatch.setenv("SKCANON_NUMBA", "1")
    require_compiled()
    X = _clouds("generic", dtype, n=1200) * 1e3
    est = InvariantProjector("E3", "distances", n_dims=3, batch_size=100, n_jobs=2).fit(X[:10])
    monkeypatch.setenv("SKCANON_NUMBA", "1")
    compiled = est.transform(X)
    monkeypatch.setenv("SKCANON_NUMBA", "auto")
    monkeypatch.setattr(_numba, "AUTO_SAMPLES", 600)
    monkeypatch.setattr(_numba, "_STATE", {"samples": 0})
    assert np.array_equal(est.transform(X), compiled)



@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["generic", "symmetric"])
def test_projector_first_batch_shares_the_call_choice(monkeypatch, dtype, kind):
    """Projections whose first batch fixes the output's dtype (``canonical``) ran that
    batch outside the call's choice: across the switch it took numpy while the rest ran
    compiled, so the output depended on batch_size."""
    monkeypatch.setenv("SKCANON_NUMBA", "1")
    require_compiled()
    X = _clouds(kind, dtype, n=600)
    est = InvariantProjector("SE3", "canonical", n_dims=3, batch_size=100).fit(X[:10])
    compiled = est.transform(X)
    monkeypatch.setenv("SKCANON_NUMBA", "auto")
    monkeypatch.setattr(_numba, "AUTO_SAMPLES", 500)
    monkeypatch.setattr(_numba, "_STATE", {"samples": 0})
    assert np.array_equal(est.transform(X), compiled)

def test_decided_holds_the_outer_choice_and_leaves_direct_calls_alone(monkeypatch):
    monkeypatch.setenv("SKCANON_NUMBA", "auto")
    monkeypatch.setattr(_numba, "AUTO_SAMPLES", 100)
    monkeypatch.setattr(_numba, "_STATE", {"samples": 0})
    with _numba.decided(10):                  # 0 + 10 < 100: numpy for the whole call
        assert not _numba.wanted(500)         # crossing inside the call changes nothing
        with _numba.decided(10 ** 6):         # a nested call keeps the outer choice
            assert not _numba.wanted(1)
    assert _numba._STATE["samples"] == 501    # but every sample is counted
    monkeypatch.setattr(_numba, "_STATE", {"samples": 0})
    with _numba.decided(10):                  # a batch thread takes the caller's choice over
        decision = _numba.current()
    seen = []

    def batch_thread():
        seen.append(_numba.current())         # a new thread: no choice of its own
        with _numba.carried(decision):
            seen.append(_numba.wanted(10 ** 6))

    worker = threading.Thread(target=batch_thread)
    worker.start()
    worker.join()
    assert seen == [None, False] and _numba.current() is None
    with _numba.carried(None):                # nothing to carry: nothing chosen
        assert _numba.current() is None
    assert _numba.wanted(0)                   # outside a call: as before, per call
    monkeypatch.setenv("SKCANON_NUMBA", "0")
    with _numba.decided(10 ** 9):
        assert not _numba.wanted(10 ** 9)
    monkeypatch.setenv("SKCANON_NUMBA", "1")
    with _numba.decided(0):
        assert _numba.wanted(0)


@pytest.mark.parametrize("group, method", [("SO2", "moments"), ("C4", "moments"), ("SO2", "random")])
def test_large_images_count_as_several_in_a_batch(group, method):
    """Images kept ``batch_size`` whatever their size: 128×128 SO(2) images took about 2.7
    MiB each to orient and rotate, so the default batch of 4,096 took about 11 GiB. Images
    larger than one 28×28 channel now count as several; 28×28 images keep ``batch_size``."""
    pytest.importorskip("torch") if method == "random" else None
    rs = np.random.default_rng(0)
    kwargs = dict(layout="image", batch_size=64, random_state=0)
    calls = []
    for side, expected in ((28, 64), (56, 16), (64, 12)):
        X = rs.random((40, side * side))
        est = CanonicalizerTransformer(group, method, **kwargs).fit(X[:4])
        assert est._batch_rows(est.layout_.to_working(X)[0]) == expected
        seen = []
        real = est.canonicalizer_.canonicalize

        def spy(P, layout, *args, **kw):
            seen.append(len(P))
            return real(P, layout, *args, **kw)

        est.canonicalizer_.canonicalize = spy
        est.transform(X)
        calls.append(max(seen))
        del est.canonicalizer_.canonicalize
        one_batch = CanonicalizerTransformer(group, method, **dict(kwargs, batch_size=None)).fit(X[:4])
        np.testing.assert_allclose(est.transform(X), one_batch.transform(X), rtol=0, atol=1e-12)
    assert calls == [40, 16, 12]


@pytest.mark.parametrize("group, method, layout, width", [
    ("SE3xS_n", "pca+sort", "points", 48), ("O3", "pca", "points", 48), ("SO2", "moments", "image", 64 * 64),
    ("C4", "moments", "image", 28 * 28)])
def test_inverse_transform_moves_batch_by_batch(monkeypatch, group, method, layout, width):
    """``inverse_transform`` moved every sample at once whatever ``batch_size`` (400,000
    clouds of 64 points: 1.5 GiB beyond the input); now batch by batch, with the same bits
    as one batch."""
    X = np.random.default_rng(0).random((30, width))
    est = CanonicalizerTransformer(group, method, layout=layout, batch_size=4).fit(X)
    Z, frames = est.canonicalize(X)
    sizes = []
    act = type(est.group_).act

    def spy(self, g, P, lay):
        sizes.append(len(P))
        return act(self, g, P, lay)

    monkeypatch.setattr(type(est.group_), "act", spy)
    back = est.inverse_transform(Z, frames=frames)
    assert max(sizes) == est._batch_rows(est.layout_.to_working(X)[0]) < 30
    np.testing.assert_array_equal(back, est.set_params(batch_size=None).inverse_transform(Z, frames=frames))
    if layout == "points":
        np.testing.assert_allclose(back, X, atol=1e-12)


def test_projector_counts_large_images_as_several():
    """``InvariantProjector`` batched images by ``batch_size`` whatever their size (its
    default canonicalizer has no batches of its own), so ``"canonical"`` on 128×128 SO(2)
    images kept the ~11 GiB batches the canonicalizer no longer has."""
    X = np.random.default_rng(0).random((40, 64 * 64))
    for side, expected in ((64, 12), (28, 40)):
        Xs = X[:, :side * side]
        proj = InvariantProjector("SO2", "canonical", layout="image", batch_size=64).fit(Xs)
        seen = []
        real = proj.projection_.transform

        def spy(P, *args, **kw):
            seen.append(len(P))
            return real(P, *args, **kw)

        proj.projection_.transform = spy
        out = proj.transform(Xs)
        del proj.projection_.transform
        assert max(seen) == expected
        np.testing.assert_allclose(out, proj.set_params(batch_size=None).transform(Xs), rtol=0, atol=1e-10)


def _spy_canonicalize(monkeypatch, classes):
    """Record the rows of every ``canonicalize`` call of ``classes`` (by class name)."""
    calls = []
    for cls in classes:
        original = cls.canonicalize

        def spy(self, P, layout, *args, _original=original, **kwargs):
            calls.append((type(self).__name__, P.shape[0]))
            return _original(self, P, layout, *args, **kwargs)

        monkeypatch.setattr(cls, "canonicalize", spy)
    return calls


@pytest.mark.parametrize("group", ["E3xS_n", "SE3xS_n", "O3xS_n"])
def test_heuristic_chain_fit_does_not_canonicalize_the_training_set(monkeypatch, group):
    """``pca+sort``'s fit learns nothing from the samples: it does not canonicalize the whole
    training set in one unbatched pass (at 1,000,000 clouds of 64 points, gigabytes thrown
    away), and the fitted transformer gives the same canonical forms as before."""
    from skcanon.canonicalizers._heuristics import PCACanonicalizer, SortCanonicalizer

    X = _clouds("mixed", np.float64, 90).reshape(90, -1)
    calls = _spy_canonicalize(monkeypatch, [PCACanonicalizer, SortCanonicalizer])
    est = CanonicalizerTransformer(group, "pca+sort", n_dims=3).fit(X)
    assert calls == []
    Z = est.transform(X)
    assert calls, "transform canonicalizes"
    again = CanonicalizerTransformer(group, "pca+sort", n_dims=3).fit_transform(X)
    assert np.array_equal(Z, again, equal_nan=True)


def test_chain_fit_hands_a_learning_step_the_earlier_canonical_forms(monkeypatch):
    """``pca+learned``: the network after the PCA step is fitted on the PCA canonical forms
    (the inputs it sees at transform), not on the raw poses."""
    from skcanon.canonicalizers._heuristics import PCACanonicalizer
    from skcanon.canonicalizers._learned import LearnedCanonicalizer

    X = _clouds("generic", np.float64, 40, m=6).reshape(40, -1)
    y = np.arange(40.0)
    seen = []
    original = LearnedCanonicalizer.fit

    def spy(self, P, layout, y=None):
        seen.append(P.copy())
        return original(self, P, layout, y)

    monkeypatch.setattr(LearnedCanonicalizer, "fit", spy)
    est = CanonicalizerTransformer("E3xS_n", "pca+learned", n_dims=3, max_epochs=1, random_state=0).fit(X, y)
    assert est.canonicalizer_.learns_from_data
    pca = est.canonicalizer_.steps[0]
    assert isinstance(pca, PCACanonicalizer) and len(seen) == 1
    expected, _ = pca.canonicalize(X.reshape(40, 6, 3), est.layout_)
    assert np.array_equal(seen[0], expected)


@pytest.mark.parametrize("kind", ["frame_averaging", "frame_weights", "regressor"])
def test_frame_averaging_and_regressor_choose_kernels_once_per_call(monkeypatch, kind):
    """The same for frame averaging (its batches asked the switch one by one: one predict
    crossing the threshold gave numpy rows first and compiled rows after), its
    ``frame_weights``, and EquivariantRegressor.predict (its second pass over symmetric
    samples asked again)."""
    from sklearn.kernel_ridge import KernelRidge

    from skcanon import EquivariantRegressor, FrameAveragingRegressor

    monkeypatch.setenv("SKCANON_NUMBA", "1")
    require_compiled()
    rs = np.random.default_rng(0)
    P = _clouds("mixed", np.float32, 300).reshape(300, 16, 3) + np.float32(30.0)
    X = P.reshape(300, -1)
    if kind != "regressor":
        est = FrameAveragingRegressor(KernelRidge(kernel="rbf", gamma=0.01), group="SE3", frames="pca",
                                      batch_size=16).fit(X, rs.normal(size=300))
        if kind == "frame_weights":
            def frames_of(X):
                fs = est.frame_weights(X)
                return np.concatenate([fs.R.ravel(), fs.t.ravel(), fs.weights.ravel()])
            est.predict = frames_of
    else:
        est = EquivariantRegressor(CanonicalizerTransformer("SE3", "pca", n_dims=3, batch_size=16),
                                   KernelRidge(kernel="rbf", gamma=0.01))
        est.fit(X, np.nan_to_num(P[:, :2] - np.nanmean(P, axis=1, keepdims=True)).reshape(300, -1))
    outputs = {}
    for mode in ("1", "0"):
        monkeypatch.setenv("SKCANON_NUMBA", mode)
        outputs[mode] = est.predict(X)
    assert not np.array_equal(outputs["1"], outputs["0"])            # the test can tell them apart
    monkeypatch.setenv("SKCANON_NUMBA", "auto")
    monkeypatch.setattr(_numba, "AUTO_SAMPLES", 2000)
    monkeypatch.setattr(_numba, "_STATE", {"samples": 1900})          # crossed inside the call
    assert np.array_equal(est.predict(X), outputs["1"])
