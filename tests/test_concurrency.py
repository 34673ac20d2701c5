"""transform/predict called from several threads on one fitted estimator equals serial calls.

Web services share one fitted model between request threads. Each case below fits once,
then 4 threads run 24 calls on different slices (and dtypes) at the same time; every
result must equal the serial result bit for bit. This covers heuristics, projectors,
learned and random point networks (including the lazily built float64 copy of the
network, created on the first float64 call — the threads race to create it) and image
networks when available.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from skcanon import CanonicalizerTransformer, EquivariantRegressor, InvariantProjector
from skcanon.layouts import ImageLayout

torch = pytest.importorskip("torch")

try:
    import skcanon.nn._images  # noqa: F401

    HAS_IMAGE_NETS = True
except Exception:  # pragma: no cover
    HAS_IMAGE_NETS = False

TINY = dict(hidden=8, max_epochs=1, early_stopping=False, random_state=0)
X_POINTS = (np.random.default_rng(0).normal(size=(96, 6, 3)) * [3.0, 2.0, 1.0]).reshape(96, -1)
X_IMAGES = np.random.default_rng(0).random((48, 64))

CASES = {
    "heuristic": (lambda: CanonicalizerTransformer("SE3xS_n", "pca+sort", batch_size=8), X_POINTS),
    "projector": (lambda: InvariantProjector("S_n", "random_moments", n_dims=3, random_state=0), X_POINTS),
    "projector-canonical": (lambda: InvariantProjector("E3xS_n", "canonical"), X_POINTS),
    "random-points": (lambda: CanonicalizerTransformer("SO3", "random", hidden=8, random_state=0,
                                                       batch_size=8), X_POINTS),
    "learned-points": (lambda: CanonicalizerTransformer("SE3xS_n", "learned", objective="align", **TINY),
                       X_POINTS),
    "regressor": (lambda: EquivariantRegressor(), X_POINTS),
    "moments-image": (lambda: CanonicalizerTransformer("D4", "moments", layout=ImageLayout((8, 8))), X_IMAGES),
}
if HAS_IMAGE_NETS:
    CASES["random-image"] = (lambda: CanonicalizerTransformer("C4", "random", hidden=4, random_state=0,
                                                              layout=ImageLayout((8, 8))), X_IMAGES)


def _apply(est, X):
    return est.predict(X) if hasattr(est, "predict") else est.transform(X)


@pytest.mark.parametrize("case", sorted(CASES))
def test_threaded_calls_equal_serial_calls(case):
    factory, X = CASES[case]
    est = factory()
    est.fit(X, X * 1.5) if case == "regressor" else est.fit(X[:48].astype(np.float32))  # float32 fit:
    # the float64 network copy is created lazily by the first float64 call, inside the threads
    jobs = [(X[i % 6 * 8:(i % 6 + 1) * 8 + 8]).astype(np.float32 if i % 3 == 0 else np.float64)
            for i in range(24)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda A: _apply(est, A), jobs))
    serial = [_apply(est, A) for A in jobs]
    for a, b in zip(threaded, serial):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    # frames too, for canonicalizers
    if hasattr(est, "canonical_frame"):
        with ThreadPoolExecutor(max_workers=4) as pool:
            frames = list(pool.map(est.canonical_frame, jobs[:8]))
        for f, A in zip(frames, jobs[:8]):
            for x, y in zip(f if isinstance(f, tuple) else (f,),
                            est.canonical_frame(A) if isinstance(f, tuple) else (est.canonical_frame(A),)):
                np.testing.assert_array_equal(x, y)


def test_threads_do_not_change_torch_thread_settings():
    n = torch.get_num_threads()
    factory, X = CASES["learned-points"]
    est = factory().fit(X[:32])
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(est.transform, [X[:8]] * 6))
    assert torch.get_num_threads() == n


def test_limited_threads_nests_and_restores_across_threads():
    from skcanon._threads import limited_threads, n_threads_from

    before = torch.get_num_threads()
    with limited_threads(None) as n:
        assert n == 1 and torch.get_num_threads() == 1
        with limited_threads(2) as m:
            assert torch.get_num_threads() == m == n_threads_from(2)
    assert torch.get_num_threads() == before

    def work(_):
        with limited_threads(1):
            return torch.get_num_threads()

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert set(pool.map(work, range(16))) == {1}
    assert torch.get_num_threads() == before
    assert n_threads_from(-1) >= 1 and n_threads_from(-10_000) == 1
    with pytest.raises(ValueError, match="n_jobs == 0"):
        n_threads_from(0)


def test_grid_search_scores_do_not_depend_on_the_worker_count():
    """The same GridSearchCV over a learned canonicalizer gave 0.870 with n_jobs=1 and
    0.875 with n_jobs=2: loky workers run torch on fewer threads than the parent, and
    float reductions split differently. Training now runs on one thread by default."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(1)
    X = (rng.normal(size=(90, 8, 3)) * [3.0, 2.0, 1.0]).reshape(90, -1)
    y = (np.abs(X).sum(1) > np.median(np.abs(X).sum(1))).astype(int)
    pipe = make_pipeline(CanonicalizerTransformer("SO3", "learned", hidden=8, max_epochs=2, random_state=0),
                         LogisticRegression(max_iter=200))
    grid = {"canonicalizertransformer__lr": [1e-3, 1e-2]}
    scores = [GridSearchCV(pipe, grid, cv=2, n_jobs=n_jobs).fit(X, y).cv_results_["mean_test_score"]
              for n_jobs in (1, 2)]
    np.testing.assert_array_equal(scores[0], scores[1])


def test_limited_threads_caps_blas_and_openmp_pools_and_restores_them():
    from threadpoolctl import threadpool_info, threadpool_limits

    from skcanon._threads import limited_threads

    with threadpool_limits(limits=2):
        before = [d["num_threads"] for d in threadpool_info()]
        with limited_threads(None):
            assert all(d["num_threads"] == 1 for d in threadpool_info())
        assert [d["num_threads"] for d in threadpool_info()] == before
