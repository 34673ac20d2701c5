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


# -- fits in threads: torch's one generator ------------------------------------------------------
def test_seeded_regions_in_two_threads_do_not_interleave(monkeypatch):
    """``seeded`` seeded torch's one process-wide generator: a region in another thread
    re-seeded it in the middle of this one's draws, and restored its saved state over the
    caller's. Thread B is let into its region while A is inside its own; A draws again once
    B is either inside (the interleaving) or waiting for the lock (none possible)."""
    import threading

    import skcanon.nn._torch as nn_torch
    from skcanon.nn._torch import seeded

    b_ready, a_drew = threading.Event(), threading.Event()
    lock = getattr(nn_torch, "_RNG_LOCK", None)

    class SignallingLock:       # tells A that B is waiting for the region lock
        def __enter__(self):
            if threading.current_thread().name == "B":
                b_ready.set()
            return lock.__enter__()

        def __exit__(self, *exc):
            return lock.__exit__(*exc)

    if lock is not None:
        monkeypatch.setattr(nn_torch, "_RNG_LOCK", SignallingLock())
    with seeded(0):
        lone_a = torch.rand(4)
    with seeded(1):
        lone_b = torch.rand(4)
    torch.manual_seed(123)
    caller_next = torch.rand(4)
    torch.manual_seed(123)
    got = {}

    def b():
        with seeded(1):
            b_ready.set()
            got["b0"] = torch.rand(2)
            assert a_drew.wait(60)
            got["b1"] = torch.rand(2)

    thread_b = threading.Thread(target=b, name="B")
    with seeded(0):
        got["a0"] = torch.rand(2)
        thread_b.start()
        assert b_ready.wait(60)
        got["a1"] = torch.rand(2)
        a_drew.set()
    thread_b.join(60)
    assert not thread_b.is_alive()
    torch.testing.assert_close(torch.cat([got["a0"], got["a1"]]), lone_a, rtol=0, atol=0)
    torch.testing.assert_close(torch.cat([got["b0"], got["b1"]]), lone_b, rtol=0, atol=0)
    torch.testing.assert_close(torch.rand(4), caller_next, rtol=0, atol=0)   # the caller's generator
    with seeded(0):             # re-entrant: a region nests in one thread
        with seeded(1):
            torch.testing.assert_close(torch.rand(4), lone_b, rtol=0, atol=0)
        torch.testing.assert_close(torch.rand(4), lone_a, rtol=0, atol=0)


def test_seeded_lock_held_by_another_thread_does_not_deadlock_a_forked_child():
    import multiprocessing
    import threading

    from skcanon.nn._torch import seeded

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork start method")
    inside, leave = threading.Event(), threading.Event()

    def hold():
        with seeded(0):
            inside.set()
            leave.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(60)
        child = multiprocessing.get_context("fork").Process(target=_seeded_draw)
        child.start()
        child.join(60)
        alive = child.is_alive()
        if alive:
            child.kill()
        assert not alive and child.exitcode == 0
    finally:
        leave.set()
        holder.join(60)


def _seeded_draw():
    from skcanon.nn._torch import seeded

    with seeded(0):
        torch.rand(1)


def test_a_forked_child_drops_the_blocks_of_other_threads():
    # a fork while another thread was inside limited_threads left that block registered in
    # the child for ever: the child kept torch at the block's count, and every later block
    # restored the parent's saved count instead of the child's own (3 → 2)
    import multiprocessing
    import threading

    from skcanon._threads import limited_threads

    inside, leave = threading.Event(), threading.Event()

    def hold():
        with limited_threads(None):
            inside.set()
            leave.wait(60)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(60)
        child = multiprocessing.get_context("fork").Process(target=_threads_in_child, args=(2,))
        child.start()
        child.join(60)
        alive = child.is_alive()
        if alive:
            child.kill()
        assert not alive and child.exitcode == 0, f"child exit code {child.exitcode} (see _threads_in_child)"
    finally:
        leave.set()
        holder.join(60)
        torch.set_num_threads(before)


def _threads_in_child(parent_count):
    import os

    from skcanon._threads import limited_threads

    if torch.get_num_threads() != parent_count:   # the other thread's limit, undone
        os._exit(3)
    torch.set_num_threads(3)
    with limited_threads(None):
        pass
    os._exit(0 if torch.get_num_threads() == 3 else 4)


def test_fits_in_two_threads_equal_a_lone_fit_and_keep_the_caller_generator():
    """Two learned fits with random_state=0 running at once gave outputs 10-22 away from the
    same fit alone (both drew from torch's one generator), and changed the caller's state."""
    import threading

    from skcanon import EndToEndEquivariantRegressor

    X = X_POINTS[:64]
    Xf = X.astype(np.float32)
    factories = [
        (lambda: CanonicalizerTransformer("SO3", "learned", objective="align", hidden=8, max_epochs=3,
                                          early_stopping=False, random_state=0),
         lambda e: e.fit(X).transform(X)),
        (lambda: EndToEndEquivariantRegressor(max_epochs=3, module__hidden=8, module__frame="augment",
                                              random_state=0), lambda e: e.fit(Xf, Xf * 1.5).predict(Xf)),
    ]
    for make, run in factories:
        lone = run(make())
        torch.manual_seed(7)
        caller_next = torch.rand(3)
        torch.manual_seed(7)
        start, outs = threading.Barrier(2), [None, None]

        def work(i):
            start.wait(60)
            outs[i] = run(make())

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        [t.start() for t in threads]
        [t.join(300) for t in threads]
        for out in outs:
            np.testing.assert_array_equal(out, lone)
        torch.testing.assert_close(torch.rand(3), caller_next, rtol=0, atol=0)


def test_grid_search_with_the_threading_backend_equals_one_job():
    import joblib
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    X = X_POINTS[:60]
    y = np.linalg.norm(X[:, :3], axis=1) + X[:, 4] ** 2
    pipe = make_pipeline(CanonicalizerTransformer("SO3", "learned", objective="align", hidden=8, max_epochs=2,
                                                  early_stopping=False, random_state=0), Ridge())
    grid = {"ridge__alpha": [0.1, 1.0]}
    one = GridSearchCV(pipe, grid, cv=2, n_jobs=1).fit(X, y).cv_results_["mean_test_score"]
    with joblib.parallel_config(backend="threading"):
        two = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(X, y).cv_results_["mean_test_score"]
    np.testing.assert_array_equal(one, two)


def test_predict_leaves_torch_generator_alone():
    """skorch's predict DataLoader drew a base seed from torch's global generator: in a
    threaded GridSearchCV one fold's scoring moved the generator of a fold training at the
    same time, so the scores differed from n_jobs=1 (and predict moved the caller's state)."""
    from skcanon import EndToEndEquivariantRegressor

    Xf = X_POINTS[:32].astype(np.float32)
    est = EndToEndEquivariantRegressor(max_epochs=1, module__hidden=8, random_state=0).fit(Xf, Xf)
    torch.manual_seed(7)
    caller_next = torch.rand(3)
    torch.manual_seed(7)
    first = est.predict(Xf)
    torch.testing.assert_close(torch.rand(3), caller_next, rtol=0, atol=0)
    np.testing.assert_array_equal(est.predict(Xf), first)


# -- thread limits of overlapping blocks ---------------------------------------------------------
def _set_pools_elsewhere(n):
    """All pools to ``n`` from a helper thread that then ends: threadpoolctl (3.8+) gives
    OpenBLAS's process-wide limit to the thread that sets it until that thread ends, and a
    main thread holding it would hide what other threads do (the test above did)."""
    import threading

    from threadpoolctl import threadpool_limits

    t = threading.Thread(target=threadpool_limits, args=(n,))
    t.start()
    t.join()


def _pool_threads(shared):
    from threadpoolctl import threadpool_info

    return {d["filepath"]: d["num_threads"] for d in threadpool_info()
            if (d["internal_api"] != "openmp" and d.get("threading_layer") != "openmp") == shared}


def test_blocks_ending_out_of_order_in_two_threads_restore_blas_openmp_and_torch():
    """Two overlapping transform calls left the user's BLAS at one thread for good: each
    block restored the limits it found, and the block that ended last found the other's
    limit of one. A enters, B enters, A leaves, B leaves."""
    import threading

    from threadpoolctl import threadpool_info

    from skcanon._threads import limited_threads

    original = {d["filepath"]: d["num_threads"] for d in threadpool_info()}
    torch_before = torch.get_num_threads()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        torch.set_num_threads(2)
        seen["a before"] = (_pool_threads(False), torch.get_num_threads())
        with limited_threads(None):
            a_in.set()
            assert b_in.wait(60)
        seen["a after"] = (_pool_threads(False), torch.get_num_threads())
        a_out.set()

    def b():
        assert a_in.wait(60)
        torch_b = torch.get_num_threads()   # torch copies its count into this thread's OpenMP on first use
        seen["b before"] = (_pool_threads(False), torch_b)
        with limited_threads(None):
            b_in.set()
            assert a_out.wait(60)
        seen["b after"] = (_pool_threads(False), torch.get_num_threads())

    _set_pools_elsewhere(2)
    try:
        shared = _pool_threads(True)
        threads = [threading.Thread(target=a), threading.Thread(target=b)]
        [t.start() for t in threads]
        [t.join(60) for t in threads]
        assert _pool_threads(True) == shared         # process-wide pools (OpenBLAS on pthreads, MKL)
        assert seen["a after"] == seen["a before"]   # OpenMP limits and torch's count of thread A
        assert seen["b after"] == seen["b before"]
    finally:
        torch.set_num_threads(torch_before)
        from threadpoolctl import ThreadpoolController

        for path, n in original.items():
            t = threading.Thread(target=lambda p=path, k=n:
                                 ThreadpoolController().select(filepath=p).limit(limits=k))
            t.start()
            t.join()


def test_limited_threads_leaves_other_threads_free_to_set_blas():
    """threadpoolctl gives OpenBLAS's process-wide limit to one Python thread at a time: a
    block that kept it would silently cancel every later threadpool_limits of other threads."""
    import threading

    from threadpoolctl import threadpool_limits

    from skcanon._threads import limited_threads

    if not _pool_threads(True):
        pytest.skip("no process-wide BLAS pool loaded")
    with limited_threads(None):
        pass
    seen = {}

    def other():
        with threadpool_limits(limits=3):
            seen["inside"] = set(_pool_threads(True).values())

    t = threading.Thread(target=other)
    t.start()
    t.join(60)
    assert seen["inside"] == {3}


def test_network_frames_follow_n_jobs_set_after_fit():
    # the network kept its copy of n_jobs from fit: set_params(n_jobs=2) (or a model loaded
    # elsewhere) still computed frames on the fit-time thread count, against the docstring
    rs = np.random.default_rng(0)
    X = (rs.normal(size=(40, 6, 3)) * [3.0, 2.0, 1.0]).reshape(40, -1)
    est = CanonicalizerTransformer("SO3", "random", hidden=8, random_state=0, n_jobs=1).fit(X)
    ref = est.transform(X)
    net = est.canonicalizer_._network64(np.float64)
    seen, frames = [], net.frames
    net.frames = lambda x: (seen.append(torch.get_num_threads()), frames(x))[1]
    for n_jobs, expected in [(2, 2), (None, 1)]:
        seen.clear()
        out = est.set_params(n_jobs=n_jobs).transform(X)
        assert seen and set(seen) == {expected}, (n_jobs, seen)
        np.testing.assert_allclose(out, ref, atol=1e-12, rtol=0)


def test_thread_limits_leave_a_torch_still_importing_alone(monkeypatch):
    """While another thread imports torch, ``sys.modules["torch"]`` is a partly initialised
    module without ``get_num_threads``: heuristic transforms in other threads raised
    AttributeError there (a user's ``import torch``, a network unpickled, the first pairwise
    projection). They leave such a module alone."""
    import sys
    import types

    from skcanon._threads import limited_threads

    importing = types.ModuleType("torch")
    importing.__spec__ = types.SimpleNamespace(name="torch", _initializing=True)
    monkeypatch.setitem(sys.modules, "torch", importing)
    X = np.random.default_rng(0).normal(size=(50, 24))
    est = CanonicalizerTransformer("SE3xS_n", "pca+sort", n_jobs=2, batch_size=8).fit(X)
    with limited_threads(2) as n:
        assert n >= 1
    out = est.transform(X)
    monkeypatch.setitem(sys.modules, "torch", torch)
    expected = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(X).transform(X)
    assert np.array_equal(out, expected)


def test_concurrent_regressor_predicts_leave_warning_filters_alone():
    """EquivariantRegressor.predict silenced the repeated validation of its second pass with
    warnings.catch_warnings, which swaps the process's filter list: predicts in several
    threads left an 'ignore everything' filter behind for good. X is now validated once."""
    import warnings

    rs = np.random.default_rng(0)
    P = rs.normal(size=(40, 6, 3))
    P[::2, 3:] = np.nan                       # absent points: fill_value's second pass runs
    X = P.reshape(40, -1)
    y = np.nan_to_num(P[:, :2]).reshape(40, -1)
    est = EquivariantRegressor(CanonicalizerTransformer("SE3", "pca", fill_value=0.0)).fit(X, y)
    expected = est.predict(X)
    before = list(warnings.filters)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: est.predict(X), range(200)))
    assert warnings.filters == before
    assert all(np.array_equal(r, expected) for r in results)


def test_torch_arriving_inside_an_outer_block_gets_its_own_count_back(monkeypatch):
    """A block that began before torch had finished importing limits OpenMP, which can be
    torch's count in that thread (one libgomp for both); a nested block begun after the import
    saved that limit as the process's torch count, and the outer block then left torch at it
    for good. The process's own count comes back."""
    from skcanon import _threads

    real, original = _threads._loaded_torch, torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        monkeypatch.setattr(_threads, "_loaded_torch", lambda: None)   # torch still importing
        with _threads.limited_threads(None):
            if torch.get_num_threads() != 1:
                pytest.skip("threadpoolctl does not reach torch's OpenMP runtime here: the case cannot arise")
            with _threads.limited_threads(None):      # a second block begun before torch
                monkeypatch.setattr(_threads, "_loaded_torch", real)   # the import has finished
                with _threads.limited_threads(None):
                    assert torch.get_num_threads() == 1
                assert torch.get_num_threads() == 1
            assert torch.get_num_threads() == 1       # the outer blocks keep their limit
        assert torch.get_num_threads() == 3
        assert _threads._saved_torch is None and not _threads._blocks
    finally:
        torch.set_num_threads(original)


def test_copies_of_an_image_network_leave_its_mask_cache_behind():
    """A float64 copy of the image network (``_network64``) deep-copied the lazily filled mask
    cache while another thread's transform filled it: "dictionary changed size during
    iteration". Copies and pickles start with an empty cache and give the same frames."""
    import copy
    import pickle

    X = np.random.default_rng(0).random((20, 64))
    est = CanonicalizerTransformer("C4", "random", layout=ImageLayout((8, 8)), hidden=8,
                                   random_state=0).fit(X)
    net = est.canonicalizer_.network_
    x = torch.as_tensor(X.reshape(20, 1, 8, 8), dtype=torch.float32)
    expected = net.frames(x)
    assert net._mask_cache
    for other in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert other._mask_cache == {}
        assert torch.equal(other.frames(x), expected)
    assert net._mask_cache                       # the original keeps its own
