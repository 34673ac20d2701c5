"""Exact canonical labelling of graphs with nauty (pynauty) and the pure-Python fallback.

Issue 18 item 4: the hand-written individualization–refinement was exact only below 20,000
search leaves; on the 64-node hypercube Q6 with relabelled nodes it took 54 s and returned
two different canonical forms, silently.
"""

import sys
import warnings
import time

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skcanon import CanonicalizerTransformer, InvariantProjector
from skcanon.canonicalizers import _graphs
from skcanon.layouts import GraphLayout


def _relabel(G, seed):
    perm = np.random.default_rng(seed).permutation(len(G)).tolist()
    return nx.relabel_nodes(G, dict(zip(G.nodes(), perm)))


def _forms(canon, graphs):
    X = np.asarray(canon.transform(graphs))
    return np.nan_to_num(X.reshape(len(graphs), -1), nan=-1.0)


@pytest.fixture
def no_nauty(monkeypatch):
    """Hide pynauty: ``import pynauty`` fails as when it is not installed."""
    monkeypatch.setitem(sys.modules, "pynauty", None)
    assert _graphs._nauty() is None


def _hard_graphs():
    q6 = nx.convert_node_labels_to_integers(nx.hypercube_graph(6))
    cubic = nx.random_regular_graph(3, 200, seed=1)
    return q6, cubic


def test_nauty_canonical_forms_of_hard_graphs():
    pytest.importorskip("pynauty")
    for G in _hard_graphs():
        copies = [G] + [_relabel(G, seed) for seed in range(3)]
        canon = CanonicalizerTransformer("S_n", layout="graph").fit(copies)
        start = time.perf_counter()
        X = _forms(canon, copies)
        assert time.perf_counter() - start < 30   # milliseconds with nauty (the fallback: minutes)
        for row in X[1:]:
            np.testing.assert_array_equal(row, X[0])


def test_nauty_respects_node_features():
    """Features give vertex colours: isomorphic graphs with matching features agree, the same
    graph with features on non-corresponding nodes does not."""
    pytest.importorskip("pynauty")
    G = nx.convert_node_labels_to_integers(nx.hypercube_graph(4))
    nx.set_node_attributes(G, {v: float(v % 3 == 0) + 0.5 * (v == 5) for v in G}, "charge")
    H = _relabel(G, 0)   # attributes move with their nodes
    K = G.copy()
    nx.set_node_attributes(K, {v: float(v % 3 == 1) for v in K}, "charge")
    layout = GraphLayout(node_features="charge")
    canon = CanonicalizerTransformer("S_n", layout=layout).fit([G, H, K])
    X = _forms(canon, [G, H, K])
    np.testing.assert_array_equal(X[0], X[1])
    assert not np.array_equal(X[0], X[2])


@pytest.mark.parametrize("use_nauty", [True, False])
def test_weighted_and_directed_graphs(use_nauty, monkeypatch):
    """Encoded arrays may hold edge weights or directed adjacency: both labellings handle them
    (nauty through subdivided edges coloured by weight)."""
    if use_nauty:
        pytest.importorskip("pynauty")
    else:
        monkeypatch.setitem(sys.modules, "pynauty", None)
    rng = np.random.default_rng(0)
    n = 7
    W = np.triu(rng.choice([0.0, 1.0, 2.5], size=(n, n)), 1)
    D = (rng.random((n, n)) < 0.3).astype(float)
    np.fill_diagonal(D, 0)
    for A in (W + W.T, D):
        F = rng.choice([0.0, 1.0], size=(n, 1))
        samples = []
        for seed in range(4):
            p = np.random.default_rng(seed).permutation(n)
            samples.append(np.hstack([A[np.ix_(p, p)], F[p]]))
        X = np.stack(samples).reshape(4, -1)
        layout = GraphLayout(n_nodes=n, n_node_features=1)
        canon = CanonicalizerTransformer("S_n", "wl", layout=layout).fit(X)
        Z = np.asarray(canon.transform(X)).reshape(4, -1)
        for row in Z[1:]:
            np.testing.assert_array_equal(row, Z[0])
    # a weight change is a different graph
    A2 = W + W.T
    A2[A2 == 2.5] = 3.0
    X2 = np.hstack([A2, np.zeros((n, 1))]).reshape(1, -1)
    X1 = np.hstack([W + W.T, np.zeros((n, 1))]).reshape(1, -1)
    canon = CanonicalizerTransformer("S_n", "wl", layout=GraphLayout(n_nodes=n, n_node_features=1)).fit(X1)
    assert not np.array_equal(canon.transform(X1), canon.transform(X2))


def test_fallback_without_pynauty_is_exact_on_small_graphs(no_nauty):
    graphs = [nx.petersen_graph(), nx.cycle_graph(8), nx.complete_bipartite_graph(3, 3),
              nx.convert_node_labels_to_integers(nx.hypercube_graph(3))]
    canon = CanonicalizerTransformer("S_n", layout="graph").fit(graphs)
    X = _forms(canon, graphs)
    for seed in range(3):
        np.testing.assert_array_equal(_forms(canon, [_relabel(G, seed) for G in graphs]), X)


def test_fallback_is_exact_on_relabelled_hypercube(no_nauty):
    """Q6 took 54 s and gave two different forms; automorphism pruning keeps its search
    far below the budget: exact, no warning, well under a few seconds per graph."""
    import warnings

    q6 = nx.convert_node_labels_to_integers(nx.hypercube_graph(6))
    copies = [q6, _relabel(q6, 0), _relabel(q6, 1)]
    canon = CanonicalizerTransformer("S_n", layout="graph").fit(copies)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X = _forms(canon, copies)
    for row in X[1:]:
        np.testing.assert_array_equal(row, X[0])


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 12), p=st.floats(0.1, 0.9))
def test_fallback_and_nauty_are_both_canonical_on_random_graphs(seed, n, p):
    """Each labelling maps relabelled copies (with node features) to one form."""
    rng = np.random.default_rng(seed)
    A = nx.to_numpy_array(nx.gnp_random_graph(n, p, seed=seed))
    F = rng.integers(0, 2, size=(n, 1)).astype(float)
    perm = rng.permutation(n)
    B, G = A[np.ix_(perm, perm)], F[perm]
    fns = [_graphs.canonical_order]
    if _graphs._nauty() is not None:
        fns.append(_graphs.nauty_order)
    for fn in fns:
        o1, o2 = fn(A, F), fn(B, G)
        np.testing.assert_array_equal(A[np.ix_(o1, o1)], B[np.ix_(o2, o2)])
        np.testing.assert_array_equal(F[o1], G[o2])


def test_fallback_budget_counts_leaves_exactly(monkeypatch):
    """A search that needs exactly MAX_LEAVES leaves is complete (exact); one more is not."""
    A = nx.to_numpy_array(nx.path_graph(4))   # two leaves: the path's two directions
    F = np.zeros((4, 0))
    monkeypatch.setattr(_graphs, "MAX_LEAVES", 1)
    assert _graphs.canonical_order(A, F, return_exact=True)[1] is False
    monkeypatch.setattr(_graphs, "MAX_LEAVES", 2)
    assert _graphs.canonical_order(A, F, return_exact=True)[1] is True


def test_fallback_warns_when_its_budget_is_exceeded(no_nauty, monkeypatch):
    """Past the search budget the fallback's output is not guaranteed canonical: it says so
    and names pynauty (it used to return different forms for relabelled Q6 silently)."""
    monkeypatch.setattr(_graphs, "MAX_LEAVES", 5)
    q4 = nx.convert_node_labels_to_integers(nx.hypercube_graph(4))
    canon = CanonicalizerTransformer("S_n", layout="graph").fit([q4, nx.path_graph(3)])
    with pytest.warns(_graphs.CanonicalFormWarning, match=r"1 graph\(s\) \(sample 0\).*pip install pynauty") as rec:
        canon.transform([q4, nx.path_graph(3)])
    assert rec[0].filename == __file__   # attributed to the caller's line, not to skcanon or sklearn


def test_nauty_and_fallback_agree_on_being_canonical():
    """Both paths are canonical labellings (not the same one): each maps all relabellings of
    the atlas graphs to one form, and distinct graphs to distinct forms."""
    pytest.importorskip("pynauty")
    from skcanon.datasets import load_graph_atlas

    graphs = load_graph_atlas(min_nodes=1, max_nodes=5).graphs
    F = np.zeros((0, 0))
    for G in graphs:
        A = nx.to_numpy_array(G)
        F = np.ones((len(A), 1))
        p = np.random.default_rng(len(A)).permutation(len(A))
        B = A[np.ix_(p, p)]
        for order_fn in (_graphs.nauty_order, _graphs.canonical_order):
            o1, o2 = order_fn(A, F), order_fn(B, F[p])
            np.testing.assert_array_equal(A[np.ix_(o1, o1)], B[np.ix_(o2, o2)])
    assert F.shape[1] == 1


def test_graph_projections_with_nauty_on_large_symmetric_graphs():
    pytest.importorskip("pynauty")
    q6, cubic = _hard_graphs()
    graphs = [q6, _relabel(q6, 1)]
    Z = InvariantProjector("S_n", layout="graph").fit_transform(graphs)
    np.testing.assert_array_equal(Z[0], Z[1])


@pytest.mark.parametrize("graph", [nx.empty_graph(16), nx.star_graph(15), nx.complete_bipartite_graph(4, 6)])
def test_fallback_on_graphs_with_many_interchangeable_nodes(no_nauty, graph):
    """The orbit pruning rebuilt its union-find for every sibling (39 s for an edgeless
    graph of 30 nodes); it is now kept per search node. Same forms, exact, for relabellings."""
    from skcanon.canonicalizers._graphs import _encode, canonical_order

    A = nx.to_numpy_array(graph)
    F = np.zeros((len(A), 0))
    order, exact = canonical_order(A, F, return_exact=True)
    p = np.random.default_rng(0).permutation(len(A))
    B = A[np.ix_(p, p)]
    assert exact and _encode(B, F, canonical_order(B, F)) == _encode(A, F, order)


def test_the_labelling_fitted_with_is_kept_wherever_the_model_is_loaded(monkeypatch):
    """nauty and the search are different canonical labellings: a model fitted with one and
    loaded where only the other exists fed its downstream model other forms, silently (51
    of 190 atlas graphs of 5–6 nodes changed)."""
    import pickle

    from skcanon.datasets import load_graph_atlas

    pytest.importorskip("pynauty")
    graphs = load_graph_atlas(min_nodes=5, max_nodes=6).graphs
    fitted_with = CanonicalizerTransformer("S_n", layout="graph").fit(graphs)
    nauty_forms = _forms(fitted_with, graphs)
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "pynauty", None)
        with pytest.raises(ImportError, match=r"fitted with pynauty.*pip install pynauty"):
            pickle.loads(pickle.dumps(fitted_with)).transform(graphs)
        fitted_without = CanonicalizerTransformer("S_n", layout="graph").fit(graphs)
        search_forms = _forms(fitted_without, graphs)
    assert (search_forms != nauty_forms).any(axis=1).sum() > 10      # the two labellings differ
    # pynauty installed again: the model fitted without it keeps the search's forms
    np.testing.assert_array_equal(_forms(pickle.loads(pickle.dumps(fitted_without)), graphs), search_forms)
    np.testing.assert_array_equal(_forms(fitted_with, graphs), nauty_forms)
    fitted_with.canonicalizer_.nauty_version = "0.0"
    with pytest.warns(_graphs.CanonicalFormWarning, match="fitted with pynauty 0.0"):
        fitted_with.transform(graphs[:2])


def test_budget_warning_names_samples_of_x_in_every_batch(no_nauty, monkeypatch):
    """The warning named the sample's index within its batch (X[3] with batch_size=2 was
    "sample 1")."""
    monkeypatch.setattr(_graphs, "MAX_LEAVES", 3)
    easy, hard = nx.path_graph(6), nx.cycle_graph(6)
    graphs = [easy, easy, easy, hard, easy, easy]
    canon = CanonicalizerTransformer("S_n", layout="graph", batch_size=2).fit(graphs)
    with pytest.warns(_graphs.CanonicalFormWarning, match=r"\(sample 3\)"):
        canon.transform(graphs)


def test_budget_warning_of_the_projector_names_samples_of_x(no_nauty, monkeypatch):
    monkeypatch.setattr(_graphs, "MAX_LEAVES", 3)
    easy, hard = nx.path_graph(6), nx.cycle_graph(6)
    graphs = [easy, easy, easy, hard, easy, easy]
    proj = InvariantProjector("S_n", layout="graph", method="canonical", batch_size=2).fit(graphs)
    with pytest.warns(_graphs.CanonicalFormWarning, match=r"\(sample 3\)"):
        proj.transform(graphs)


def _paley_tournament(p):
    squares = {(x * x) % p for x in range(1, p)}
    return np.array([[1.0 if (j - i) % p in squares else 0.0 for j in range(p)] for i in range(p)])


def _directed_weighted_looped_graphs():
    """Graphs of every kind the arrays may hold, with node features: directed, weighted
    (undirected and directed), with self-loop values, and the dense digraphs nauty's
    digraph search did not finish (a tournament of 7 nodes, K6 minus one arc)."""
    rng = np.random.default_rng(3)
    n = 8
    k6 = np.ones((6, 6)) - np.eye(6)
    k6[1, 2] = 0
    W = rng.random((n, n))
    D = (rng.random((n, n)) < 0.4) * rng.choice([1.0, 2.5], size=(n, n))
    L = np.triu(rng.choice([0.0, 1.0, 2.0], size=(n, n)), 1)
    L = L + L.T
    np.fill_diagonal(L, rng.choice([0.0, 1.0, -1.0], size=n))
    np.fill_diagonal(D, rng.choice([0.0, 3.0], size=n))
    return [_paley_tournament(7), k6, np.triu(W, 1) + np.triu(W, 1).T, D, L]


def _check_relabelled_copies_agree(use_nauty, dtype):
    """Every graph of ``_directed_weighted_looped_graphs`` and four relabelled copies get one
    canonical form, without a warning (run in a subprocess for nauty: see below)."""
    import sys
    import warnings

    import numpy as np

    from skcanon import CanonicalizerTransformer
    from skcanon.canonicalizers import _graphs
    from skcanon.layouts import GraphLayout

    if not use_nauty:
        sys.modules["pynauty"] = None
    assert (_graphs._nauty() is not None) == use_nauty
    for k, A in enumerate(_directed_weighted_looped_graphs()):
        n = len(A)
        # features that split nodes would spare the search the weights' work on some
        F = np.arange(n, dtype=float)[:, None] % 2 if k > 2 else np.ones((n, 1))
        samples = []
        for seed in range(5):
            p = np.random.default_rng(seed).permutation(n) if seed else np.arange(n)
            samples.append(np.hstack([A[np.ix_(p, p)], F[p]]))
        X = np.stack(samples).reshape(5, -1).astype(dtype)
        canon = CanonicalizerTransformer("S_n", "wl", layout=GraphLayout(n_nodes=n, n_node_features=1)).fit(X)
        assert canon.canonicalizer_.backend == ("nauty" if use_nauty else "search")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            Z = np.asarray(canon.transform(X)).reshape(5, -1)
        for row in Z[1:]:
            np.testing.assert_array_equal(row, Z[0])


def _run_guarded(call, timeout=60):
    """Run ``call`` (source of a call of this module's functions) in a subprocess: nauty's C
    search cannot be interrupted, so a labelling that stops returning fails the test after
    ``timeout`` seconds instead of hanging it."""
    import inspect
    import subprocess

    module = sys.modules[__name__]
    code = f"import sys\nsys.path[:0] = {sys.path!r}\n{inspect.getsource(module)}\n{call}\n"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        done = None
    assert done is not None, f"{call} did not return within {timeout} s"
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nauty_labels_dense_directed_graphs(dtype):
    """Directed graphs went to nauty as digraphs (each arc ``u → e → v``), whose search did
    not return on a 7-node tournament nor on K6 minus one arc (K5 minus one arc: 6-12 s)."""
    pytest.importorskip("pynauty")
    _run_guarded(f"_check_relabelled_copies_agree(True, np.{np.dtype(dtype).name})")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_search_reads_weights_directions_and_self_loops(no_nauty, dtype):
    """The search refined by neighbour colours only: a weighted complete graph of 8 nodes
    was one colour class to the end, exhausted the budget (warned) and relabelled copies
    got forms 0.91 apart."""
    _check_relabelled_copies_agree(False, dtype)


def test_weighted_complete_graphs_are_exact_and_fast_in_the_search():
    rng = np.random.default_rng(0)
    for n in (8, 10, 30):
        W = np.triu(rng.random((n, n)), 1)
        W = W + W.T
        start = time.perf_counter()
        order, exact = _graphs.canonical_order(W, np.zeros((n, 0)), return_exact=True)
        assert exact and time.perf_counter() - start < 5     # milliseconds (K8 used to take 4 s)
        p = rng.permutation(n)
        B = W[np.ix_(p, p)]
        other = _graphs.canonical_order(B, np.zeros((n, 0)))
        np.testing.assert_array_equal(B[np.ix_(other, other)], W[np.ix_(order, order)])


def _check_models_fitted_before_keep_their_labelling(use_nauty):
    """A model fitted before ``labelling`` was recorded (the attribute deleted) transforms
    with the earlier labelling; a refit takes the current one. Undirected graphs of one
    edge weight get the same forms under both."""
    import pickle
    import sys

    import numpy as np

    from skcanon import CanonicalizerTransformer
    from skcanon.canonicalizers import _graphs
    from skcanon.datasets import load_graph_atlas
    from skcanon.layouts import GraphLayout

    if not use_nauty:
        sys.modules["pynauty"] = None
    order = _graphs.nauty_order if use_nauty else _graphs.canonical_order
    graphs = load_graph_atlas(min_nodes=4, max_nodes=6).graphs
    fitted = CanonicalizerTransformer("S_n", layout="graph").fit(graphs)
    assert fitted.canonicalizer_.labelling == _graphs.LABELLING == 2
    before = pickle.loads(pickle.dumps(fitted))
    del before.canonicalizer_.labelling
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # labelled alike by both: nothing to say
        np.testing.assert_array_equal(before.transform(graphs), fitted.transform(graphs))
    # a directed weighted graph with self-loops, small enough for nauty's digraph search
    A = np.array([[2.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 1.0, 2.0], [1.0, 1.0, 2.0, 1.0]])
    X = np.hstack([A, np.zeros((4, 1))]).reshape(1, -1)
    layout = GraphLayout(n_nodes=4, n_node_features=1)
    fitted = CanonicalizerTransformer("S_n", "wl", layout=layout).fit(X)
    before = pickle.loads(pickle.dumps(fitted))
    del before.canonicalizer_.labelling
    # the earlier labelling is kept silently no more: one warning per fitted model, naming the refit
    earlier = r"fitted with skcanon's labelling 1 .*1 graph\(s\) here \(sample 0\).*Fix: refit the estimator"
    with pytest.warns(_graphs.CanonicalFormWarning, match=earlier):
        before.transform(X)
    for model, labelling in ((fitted, 2), (before, 1)):
        o = order(A, np.zeros((4, 1)), labelling=labelling)
        expected = np.hstack([A[np.ix_(o, o)], np.zeros((4, 1))]).reshape(1, -1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")   # once: the second call of `before` is quiet
            np.testing.assert_array_equal(model.transform(X), expected)
    with pytest.warns(_graphs.CanonicalFormWarning, match="labelling 1"):   # loaded again: says it again
        pickle.loads(pickle.dumps(before)).transform(X)
    o1, o2 = (order(A, np.zeros((4, 1)), labelling=v) for v in (1, 2))
    assert not np.array_equal(A[np.ix_(o1, o1)], A[np.ix_(o2, o2)])   # the labellings differ here


@pytest.mark.parametrize("use_nauty", [True, False])
def test_models_fitted_before_the_labelling_was_recorded_keep_theirs(use_nauty):
    if use_nauty:
        pytest.importorskip("pynauty")
    _run_guarded(f"_check_models_fitted_before_keep_their_labelling({use_nauty})")
