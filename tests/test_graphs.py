"""Graphs: GraphLayout encoding, the S_n action on graphs, exact canonical labelling."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skcanon import CanonicalizerTransformer, InvariantProjector
from skcanon.datasets import load_graph_atlas
from skcanon.groups import PermutationGroup
from skcanon.layouts import GraphLayout
from skcanon.metrics import invariance_error


def _relabel(graphs, seed):
    rng = np.random.default_rng(seed)
    return [nx.relabel_nodes(G, dict(zip(G.nodes(), rng.permutation(len(G)).tolist()))) for G in graphs]


def _rows(X):
    return [tuple(np.nan_to_num(r, nan=-1.0).ravel().tolist()) for r in X]


@pytest.fixture(scope="module")
def atlas():
    return load_graph_atlas(min_nodes=1, max_nodes=6)


def test_encoding_and_action_agree_with_networkx_relabelling():
    G = nx.Graph([(0, 1), (1, 2), (2, 3), (1, 3)])
    P, layout = GraphLayout(n_nodes=5).encode([G])
    perm = np.array([[2, 0, 3, 1, 4]])  # node i moves to slot perm[i]
    moved = PermutationGroup().act(perm, P, layout)
    relabelled = nx.relabel_nodes(G, {i: int(perm[0, i]) for i in range(4)})
    expected, _ = GraphLayout(n_nodes=5).encode([relabelled])
    np.testing.assert_array_equal(np.nan_to_num(moved, nan=-1), np.nan_to_num(expected, nan=-1))
    assert np.isnan(P[0, 4]).all() and layout.width == 6


@given(seed=st.integers(0, 2**31 - 1))
def test_graph_action_axioms(seed):
    rng = np.random.default_rng(seed)
    graphs = [nx.gnp_random_graph(6, 0.4, seed=int(s)) for s in rng.integers(0, 10**6, 4)]
    P, layout = GraphLayout(n_nodes=6).encode(graphs)
    S = PermutationGroup()
    g, h = S.sample(4, seed, n_points=6), S.sample(4, seed + 1, n_points=6)
    np.testing.assert_array_equal(S.act(S.compose(g, h), P, layout), S.act(g, S.act(h, P, layout), layout))
    np.testing.assert_array_equal(S.act(S.inverse(g), S.act(g, P, layout), layout), P)


def test_canonical_forms_are_exact_on_the_atlas(atlas):
    canon = CanonicalizerTransformer("S_n", layout="graph").fit(atlas.graphs)
    assert canon.method_ == "wl"
    X = canon.transform(atlas.graphs)
    # the atlas lists each graph once up to isomorphism: all canonical forms differ
    assert len(set(_rows(X))) == len(atlas.graphs)
    # and relabelled copies get exactly the same canonical form
    for seed in range(3):
        np.testing.assert_array_equal(_rows(canon.transform(_relabel(atlas.graphs, seed))), _rows(X))


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 9), p=st.floats(0.1, 0.9))
def test_canonical_form_is_invariant_on_random_graphs(seed, n, p):
    graphs = [nx.gnp_random_graph(n, p, seed=seed + k) for k in range(3)]
    canon = CanonicalizerTransformer("S_n", layout=GraphLayout(node_features="ones")).fit(graphs)
    X = canon.transform(graphs)
    np.testing.assert_array_equal(_rows(canon.transform(_relabel(graphs, seed))), _rows(X))
    assert invariance_error(canon, X, "S_n", random_state=seed).max == 0


def test_highly_symmetric_graphs():
    graphs = [nx.petersen_graph(), nx.cycle_graph(8), nx.complete_bipartite_graph(3, 3), nx.hypercube_graph(3)]
    graphs = [nx.convert_node_labels_to_integers(G) for G in graphs]
    canon = CanonicalizerTransformer("S_n", layout="graph").fit(graphs)
    X = canon.transform(graphs)
    for seed in range(3):
        np.testing.assert_array_equal(_rows(canon.transform(_relabel(graphs, seed))), _rows(X))


def test_node_attributes_and_feature_names():
    G = nx.path_graph(3)
    nx.set_node_attributes(G, {0: 1.0, 1: 5.0, 2: 2.0}, "charge")
    canon = CanonicalizerTransformer("S_n", layout=GraphLayout(node_features="charge")).fit([G])
    assert canon.get_feature_names_out()[:4].tolist() == ["n0_adj_0", "n0_adj_1", "n0_adj_2", "n0_feat"]
    out = canon.transform([G]).reshape(3, 4)
    assert sorted(out[:, 3].tolist()) == [1.0, 2.0, 5.0]


def test_graph_projections_are_invariant(atlas):
    for method, lossless in [("spectrum", False), ("canonical", True)]:
        proj = InvariantProjector("S_n", method, layout="graph").fit(atlas.graphs)
        assert proj.lossless_ is lossless
        Z = proj.transform(atlas.graphs)
        np.testing.assert_allclose(np.nan_to_num(proj.transform(_relabel(atlas.graphs, 0))), np.nan_to_num(Z),
                                   atol=1e-9)
    # point-set methods are not invariant on graphs (columns move too): refused
    with pytest.raises(ValueError, match="not invariant"):
        InvariantProjector("S_n", "sort", layout="graph").fit(atlas.graphs)


def test_graph_errors():
    with pytest.raises(ValueError, match="method='wl'"):
        CanonicalizerTransformer("S_n", "sort", layout="graph").fit([nx.path_graph(3)])
    with pytest.raises(TypeError, match="layout=GraphLayout"):
        CanonicalizerTransformer("S_n").fit([nx.path_graph(3)])
    with pytest.raises(TypeError, match="'SO3' does not act on graph data"):
        CanonicalizerTransformer("SO3", layout=GraphLayout(3)).fit(np.zeros((1, 12)))
    with pytest.raises(TypeError, match="'C4' does not act on graph data.*group='S_n'"):
        CanonicalizerTransformer("C4", layout="graph").fit([nx.path_graph(3)])
    with pytest.raises(TypeError, match="does not act on graphs"):
        from skcanon.groups import get_group
        get_group("SO3").check_layout(GraphLayout(3))
    canon = CanonicalizerTransformer("S_n", layout="graph").fit([nx.path_graph(3)])
    with pytest.raises(ValueError, match="n_nodes=3"):
        canon.transform([nx.path_graph(4)])


def test_graph_spectrum_is_the_same_with_zero_padding():
    """With padding="zero" the padding rows were counted as isolated nodes: zero eigenvalues
    sorted among the real spectrum and n_nodes counted the padding (difference 3.6)."""
    graphs = [nx.path_graph(3), nx.cycle_graph(5), nx.star_graph(3)]
    nan_pad = InvariantProjector("S_n", "spectrum", layout=GraphLayout(n_nodes=6)).fit_transform(graphs)
    zero_pad = InvariantProjector("S_n", "spectrum", layout=GraphLayout(n_nodes=6, padding="zero"))
    np.testing.assert_allclose(zero_pad.fit_transform(graphs), nan_pad, atol=1e-12)
    assert nan_pad[:, -2].tolist() == [3, 5, 4]


def test_graph_projections_never_return_nan():
    graphs = [nx.path_graph(2), nx.petersen_graph()]
    for method in ("auto", "spectrum", "canonical"):
        Z = InvariantProjector("S_n", method, layout="graph").fit_transform(graphs)
        assert np.isfinite(Z).all(), method


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), p=st.floats(0.0, 0.7))
def test_zero_padding_is_relabelling_invariant_with_isolated_nodes(dtype, seed, n, p):
    """With padding="zero" an isolated node (degree feature 0) labelled last read as
    padding, labelled first as a real node: the spectrum (n_nodes, spectrum) and the
    canonical form changed with the labels. Such nodes now read as absent wherever they
    are, so every labelling gives the same features and the same canonical form."""
    G = nx.gnp_random_graph(n, p, seed=seed)
    G.add_nodes_from(range(n, n + 2))          # two isolated nodes, labelled last
    graphs = [G] + _relabel([G] * 3, seed)
    layout = GraphLayout(n_nodes=n + 3, padding="zero")
    X, layout = layout.encode(graphs)
    X = X.astype(dtype)
    canon = CanonicalizerTransformer("S_n", layout=layout).fit(X)
    C = canon.transform(X)
    assert all(np.array_equal(C[0], c) for c in C[1:])
    for method in ("spectrum", "canonical"):
        Z = InvariantProjector("S_n", method, layout=layout).fit(X).transform(X)
        np.testing.assert_allclose(Z, np.broadcast_to(Z[0], Z.shape), atol=1e-9 if dtype == np.float64 else 1e-4)
    assert (layout.present_nodes(X).sum(axis=1) == sum(d > 0 for _, d in G.degree())).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_canonical_projection_tells_sizes_apart(dtype):
    """The canonical projection wrote absent nodes and points as 0, like real isolated nodes
    and real points at 0, while it reported lossless_=True: edgeless graphs of 1, 2 and 3
    nodes (and one point against two coincident points) had the same features."""
    proj = InvariantProjector("S_n", "canonical", layout=GraphLayout(n_nodes=3))
    Z = proj.fit_transform([nx.empty_graph(k) for k in (1, 2, 3)])
    assert proj.lossless_ and len({tuple(z) for z in Z}) == 3
    assert list(proj.get_feature_names_out()[-3:]) == ["present_0", "present_1", "present_2"]
    P = np.zeros((2, 2, 3), dtype)
    P[0, 1] = np.nan                             # one point, then two coincident points
    for group in ("E3", "E3xS_n"):
        proj = InvariantProjector(group, "canonical").fit(P.reshape(2, -1))
        Z = proj.transform(P.reshape(2, -1))
        assert Z.dtype == dtype and not np.array_equal(Z[0], Z[1])
    # without absent points in fit there is nothing to mark: the features are unchanged
    full = np.random.default_rng(0).normal(size=(4, 3, 3)).reshape(4, -1)
    assert InvariantProjector("E3", "canonical").fit(full).transform(full).shape == (4, 9)


def test_directed_graphs_are_encoded_undirected():
    """graphs_to_arrays documented edge directions as ignored but kept them (and the out+in
    degree), so a DiGraph and its undirected version gave different rows."""
    D = nx.DiGraph([(0, 1), (1, 2), (2, 0), (0, 3)])
    Xd, _ = GraphLayout().encode([D])
    Xu, _ = GraphLayout().encode([D.to_undirected()])
    np.testing.assert_array_equal(Xd, Xu)
    A = Xd[0, :, :4]
    assert (A == A.T).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spectrum_of_directed_arrays_is_relabelling_invariant(dtype):
    """Encoded directed adjacencies (which wl and canonical accept) gave spectra that
    changed with the node labels: the symmetric eigensolver read one triangle."""
    A = np.zeros((2, 3, 4), dtype)
    A[0, 0, 1] = A[0, 1, 2] = 1                      # 0 -> 1 -> 2
    A[1, 2, 1] = A[1, 1, 0] = 1                      # the same path, labels reversed
    A[..., 3] = 1
    Z = InvariantProjector("S_n", "spectrum", layout=GraphLayout(n_nodes=3, n_node_features=1)).fit_transform(A)
    np.testing.assert_allclose(Z[0], Z[1], atol=1e-6)


def test_zero_padding_layout_reads_nan_rows_as_absent():
    """NaN-padded arrays given to a padding="zero" layout counted the NaN rows as nodes, so
    wl and canonical changed with the labels."""
    graphs = [nx.path_graph(3), nx.relabel_nodes(nx.path_graph(3), {0: 2, 2: 0})]
    X, _ = GraphLayout(n_nodes=5).encode(graphs)              # NaN padding
    layout = GraphLayout(n_nodes=5, n_node_features=1, padding="zero")
    assert layout.present_nodes(X).sum(axis=1).tolist() == [3, 3]
    for method in ("spectrum", "canonical"):
        Z = InvariantProjector("S_n", method, layout=layout).fit_transform(X)
        np.testing.assert_array_equal(Z[0], Z[1])


def test_graph_layout_checks_its_arguments_and_inputs():
    """n_nodes=2.7 was truncated, True read as 1, -1 named Field.size; a layout of another
    node count failed with numpy index errors; mixed node labels ("a", 1) crashed sorting;
    a MultiGraph's degree counted parallel edges."""
    from skcanon.datasets import permute_graph_arrays

    for bad in (2.7, True, -1):
        with pytest.raises(ValueError, match="n_nodes must be an int >= 1"):
            GraphLayout(n_nodes=bad)
    with pytest.raises(ValueError, match="n_node_features must be an int >= 0"):
        GraphLayout(n_nodes=3, n_node_features=-1)
    X, layout = GraphLayout(n_nodes=3).encode([nx.path_graph(3)])
    with pytest.raises(ValueError, match="layout has n_nodes=2"):
        CanonicalizerTransformer("S_n", layout=GraphLayout(n_nodes=2, n_node_features=2)).fit(X)
    mixed = nx.Graph([("a", 1), (1, 2.5)])
    Xm, _ = GraphLayout().encode([mixed])
    assert np.nansum(Xm[0, :, :3]) == 4
    multi = nx.MultiGraph([(0, 1), (0, 1), (1, 2)])
    np.testing.assert_array_equal(GraphLayout().encode([multi])[0], GraphLayout().encode([nx.Graph(multi)])[0])
    flat = X.reshape(1, -1)
    with pytest.raises(ValueError, match="not a permutation"):
        permute_graph_arrays(flat, [[0, 0, 1]], 3)
    with pytest.raises(ValueError, match="n_nodes=2"):
        permute_graph_arrays(flat, [[0, 1]], 2)


def test_node_features_that_are_not_numbers_name_node_features():
    """Ragged or text node attributes failed with numpy's own conversion errors."""
    G = nx.path_graph(3)
    nx.set_node_attributes(G, {0: "C", 1: "N", 2: "O"}, "element")
    with pytest.raises(ValueError, match="node_features='element' must give every node numbers"):
        GraphLayout(node_features="element").encode([G])
    with pytest.raises(ValueError, match="must give every node numbers of the same length"):
        GraphLayout(node_features=lambda g, v: [1.0] * (v + 1)).encode([G])


@pytest.mark.parametrize("make", [lambda: CanonicalizerTransformer("S_n", method="wl", layout=GraphLayout()),
                                  lambda: InvariantProjector("S_n", "spectrum", layout="graph")])
def test_an_iterator_of_graphs_gets_an_error_that_says_pass_a_list(make):
    graphs = [nx.path_graph(4), nx.cycle_graph(4)]
    with pytest.raises(TypeError, match=r"X is an iterator .*list\(X\)"):
        make().fit(g for g in graphs)
    est = make().fit(graphs)
    with pytest.raises(TypeError, match=r"X is an iterator .*list\(X\)"):
        est.transform(iter(graphs))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spectrum_reads_arrays_as_graphs_are_encoded(dtype):
    """The spectrum halved one-way edges (0.5 * (A + A.T)): the directed path 0->1->2 as an
    array gave [0, 0.5, 1.5, 3, 1] where the same DiGraph encoded gave [0, 1, 3, 3, 2]; and
    a self-loop counted half an edge (n_edges 2.5 where networkx counts 3)."""
    layout = GraphLayout(n_nodes=3, n_node_features=0)
    proj = InvariantProjector("S_n", "spectrum", layout=layout).fit(np.zeros((1, 9), dtype))
    D = np.zeros((1, 3, 3), dtype)
    D[0, 0, 1] = D[0, 1, 2] = 1
    encoded, _ = GraphLayout(node_features=None).encode([nx.DiGraph([(0, 1), (1, 2)])])
    np.testing.assert_allclose(proj.transform(D), proj.transform(encoded.astype(dtype)), atol=1e-6)
    np.testing.assert_allclose(proj.transform(D)[0], [0, 1, 3, 3, 2], atol=1e-6)
    # a one-way entry is one undirected edge whatever its sign (averaging halved it)
    np.testing.assert_allclose(proj.transform(-D), proj.transform(-encoded.astype(dtype)), atol=1e-6)
    loop = nx.Graph([(0, 0), (0, 1), (1, 2)])
    S, _ = GraphLayout(node_features=None).encode([loop])
    Z = proj.transform(S.astype(dtype))
    assert Z.dtype == dtype and Z[0, -1] == loop.number_of_edges() == 3
    np.testing.assert_allclose(Z[0, :3], [0, 1, 3], atol=1e-6)     # a self-loop leaves D - A as it is
    # symmetric, loop-free arrays: the path P3 as before (spectrum 0, 1, 3; 2 edges)
    P, _ = GraphLayout(node_features=None).encode([nx.path_graph(3)])
    np.testing.assert_allclose(proj.transform(P.astype(dtype))[0], [0, 1, 3, 3, 2], atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spectrum_of_directed_weighted_arrays_with_loops_is_relabelling_invariant(dtype):
    rng = np.random.default_rng(3)
    n, m = 50, 6
    A = (rng.random((n, m, m)) < 0.4) * rng.integers(1, 4, (n, m, m)).astype(np.float64)
    A[:10] = np.triu(A[:10], 1) + np.triu(A[:10], 1).transpose(0, 2, 1)   # symmetric ones too
    P = np.concatenate([A, rng.normal(size=(n, m, 1))], axis=2).astype(dtype)
    perms = np.argsort(rng.random((n, m)), axis=1)
    layout = GraphLayout(n_nodes=m, n_node_features=1)
    Q = PermutationGroup().apply(perms, P, layout)
    proj = InvariantProjector("S_n", "spectrum", layout=layout).fit(P.reshape(n, -1))
    Z, Zq = proj.transform(P.reshape(n, -1)), proj.transform(np.asarray(Q).reshape(n, -1))
    assert Z.dtype == dtype
    np.testing.assert_allclose(Z, Zq, rtol=1e-5, atol=1e-5)
    sym = np.maximum(A, A.transpose(0, 2, 1))
    expected = (sym.sum(axis=(1, 2)) - np.einsum("nii->n", sym)) / 2 + np.einsum("nii->n", sym)
    np.testing.assert_allclose(Z[:, -1], expected, rtol=1e-6)


@pytest.mark.parametrize("feats", ["x", lambda G, v: [1.0, 2.0]])
def test_an_empty_graph_next_to_attribute_or_callable_features(feats):
    """An empty graph failed with "must give every node numbers of the same length; got
    values such as []" for attribute or callable features ("degree" worked)."""
    from skcanon.datasets import graphs_to_arrays

    g = nx.path_graph(3)
    nx.set_node_attributes(g, 1.0, "x")
    X, layout = graphs_to_arrays([g, nx.Graph()], node_features=feats, flat=False)
    X1, _ = graphs_to_arrays([g], node_features=feats, flat=False)
    np.testing.assert_array_equal(X[0], X1[0])
    assert np.isnan(X[1]).all() and layout.n_node_features == X1.shape[2] - 3
    assert graphs_to_arrays([nx.Graph()], node_features=feats)[0].shape == (1, 2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spectrum_of_padded_graphs_with_negative_weights_lines_up(dtype):
    """Absent nodes add zero eigenvalues, which the spectrum moves last. With a negative
    weight the Laplacian has negative eigenvalues, which sorted before those zeros: the
    shift moved them last instead ([0, 0, 4.1, -1.1] for a padded triangle whose spectrum
    is [-1.1, 0, 4.1]), so graphs of different sizes did not line up."""
    from skcanon import InvariantProjector
    from skcanon.layouts import GraphLayout

    A = np.array([[0, -1.0, 2], [-1.0, 0, 0.5], [2, 0.5, 0]])

    def padded(first):
        P = np.full((4, 4), np.nan)
        rows = [i for i in range(4) if first <= i < first + 3]
        P[rows] = 0.0
        P[first:first + 3, first:first + 3] = A
        return P.reshape(1, -1).astype(dtype)

    alone = InvariantProjector("S_n", "spectrum", layout=GraphLayout(3, n_node_features=0)).fit(
        A.reshape(1, -1).astype(dtype)).transform(A.reshape(1, -1).astype(dtype))
    four = InvariantProjector("S_n", "spectrum", layout=GraphLayout(4, n_node_features=0)).fit(padded(0))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for first in (0, 1):
        out = four.transform(padded(first))
        np.testing.assert_allclose(out[0, :3], alone[0, :3], atol=tol)
        assert out[0, 3] == 0
        np.testing.assert_allclose(out[0, 4:], alone[0, 3:], atol=tol)


def test_an_object_array_of_graphs_is_read_as_graphs():
    """``np.array(graphs, dtype=object)`` (a pandas column's ``.to_numpy()``) was not read as
    graphs: the error said GraphLayout "needs networkx graphs to learn n_nodes from"."""
    graphs = [nx.cycle_graph(4), nx.path_graph(5), nx.star_graph(3)]
    array = np.empty(len(graphs), dtype=object)
    array[:] = graphs
    expected = CanonicalizerTransformer("S_n", layout="graph").fit_transform(graphs)
    np.testing.assert_array_equal(CanonicalizerTransformer("S_n", layout="graph").fit_transform(array), expected)
    projected = InvariantProjector("S_n", layout="graph").fit(graphs).transform(graphs)
    np.testing.assert_array_equal(InvariantProjector("S_n", layout="graph").fit(array).transform(array), projected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_zero_padding_orders_both_kinds_of_absent_rows_the_same_way(dtype):
    """Under padding="zero" an isolated node with zero features and a NaN padding row are
    both absent; they were appended in input order, so relabelling changed the form."""
    from skcanon.datasets import graphs_to_arrays, permute_graph_arrays

    g = nx.Graph([(0, 1), (1, 2)])
    g.add_node(3)
    X, _ = graphs_to_arrays([g], n_nodes=5, flat=False)            # row 4: NaN padding
    X = X.astype(dtype)
    Xp = permute_graph_arrays(X, np.array([[0, 1, 2, 4, 3]]), 5)   # the isolated node after it
    canon = CanonicalizerTransformer("S_n", layout=GraphLayout(n_nodes=5, padding="zero")).fit(X)
    np.testing.assert_array_equal(canon.transform(X), canon.transform(Xp))


def test_a_pandas_column_of_graphs_is_read_as_graphs(atlas):
    pd = pytest.importorskip("pandas")
    graphs = atlas.graphs[:20]
    column = pd.Series(graphs, name="graph")
    for est in (CanonicalizerTransformer("S_n", layout="graph"), InvariantProjector("S_n", layout="graph")):
        np.testing.assert_array_equal(est.fit(column).transform(column), est.fit(graphs).transform(graphs))


def test_node_relabelling_of_graph_tensors_takes_torch_permutations():
    torch = pytest.importorskip("torch")
    from skcanon.datasets import graph_layout

    layout = graph_layout(3, 1)
    P = np.array([[[0, 1, 0, 1], [1, 0, 1, 2], [0, 1, 0, 1]]], dtype=np.float64)
    g = np.array([[2, 0, 1]])
    expected = PermutationGroup().act(g, P, layout)
    out = PermutationGroup().act(torch.as_tensor(g), torch.as_tensor(P), layout)
    np.testing.assert_array_equal(out.numpy(), expected)
    # point sets too: the inverse of a torch permutation is torch's (numpy's is deprecated)
    from skcanon.layouts import PointLayout

    pts = PermutationGroup().act(torch.as_tensor(g), torch.as_tensor(P[..., :3]), PointLayout(3))
    np.testing.assert_array_equal(pts.numpy(), PermutationGroup().act(g, P[..., :3], PointLayout(3)))


def test_graph_errors_name_the_graph_fix():
    from skcanon.datasets import graphs_to_arrays, permute_graph_arrays

    A = np.array([[[0, 1, 0], [1, 0, 1], [0, 1, 0]]], float)
    with pytest.raises(ValueError, match=r"GraphLayout\(n_nodes=3, node_features=None\)"):
        CanonicalizerTransformer("S_n", layout=GraphLayout(n_nodes=3)).fit(A)
    CanonicalizerTransformer("S_n", layout=GraphLayout(n_nodes=3, node_features=None)).fit(A)
    with pytest.raises(ValueError, match=r"graphs\[1\] has 4 nodes, more than n_nodes=3.*n_nodes >= 4"):
        graphs_to_arrays([nx.path_graph(2), nx.path_graph(4)], n_nodes=3)
    X, _ = graphs_to_arrays([nx.path_graph(3)])
    with pytest.raises(ValueError, match=r"perms must hold.*of integers; got shape \(1, 3\), dtype float64"):
        permute_graph_arrays(X, np.array([[2.0, 0.0, 1.0]]), 3)


def test_encoded_graphs_with_edges_to_absent_nodes_or_nan_entries_are_refused_by_node():
    """A present node with an edge to an absent (all-NaN) node made ``canonical`` features
    depend on the labels (max |f(g·x) − f(x)| = 1 while ``lossless_`` said True), and NaN in
    a node attribute or in an absent node's adjacency column got a message about points and
    column names."""
    layout = GraphLayout(n_nodes=3, n_node_features=1)

    def graph(adjacency, features):
        return np.concatenate([np.array(adjacency, float), np.array(features, float)], axis=1).reshape(1, -1)

    edge = graph([[0, 1, 1], [1, 0, 0], [np.nan] * 3], [[2.0], [2.0], [np.nan]])
    nan_column = graph([[0, 1, np.nan], [1, 0, np.nan], [np.nan] * 3], [[1.0], [1.0], [np.nan]])
    nan_feature = graph([[0, 1, 0], [1, 0, 1], [0, 1, 0]], [[1.0], [np.nan], [3.0]])
    good = graph([[0, 1, 0], [1, 0, 0], [np.nan] * 3], [[2.0], [2.0], [np.nan]])
    for X, message in [(edge, r"graph 0, node 0 has an edge .* to node 2, which is absent"),
                       (nan_column, r"NaN in graph 0: node 0 holds NaN in the adjacency column of absent"),
                       (nan_feature, r"graph 0, node 1 has NaN in its node features")]:
        for method in ("canonical", "spectrum"):
            with pytest.raises(ValueError, match=message):
                InvariantProjector("S_n", method, layout=layout).fit(X)
    assert InvariantProjector("S_n", "canonical", layout=layout).fit_transform(good).shape[0] == 1
    g = nx.path_graph(3)
    nx.set_node_attributes(g, {0: 1.0, 1: float("nan"), 2: 3.0}, "charge")
    with pytest.raises(ValueError, match="graph 0, node 1 has NaN in its node features"):
        InvariantProjector("S_n", layout=GraphLayout(node_features="charge")).fit([g])


def test_one_graph_or_sparse_matrices_instead_of_a_list_say_so():
    import scipy.sparse as sparse

    g = nx.path_graph(3)
    for layout in ("graph", GraphLayout(n_nodes=3)):
        with pytest.raises(TypeError, match="X is a single graph .*pass a list of graphs"):
            InvariantProjector("S_n", layout=layout).fit(g)
    fitted = CanonicalizerTransformer("S_n", "wl", layout="graph").fit([g, nx.cycle_graph(3)])
    with pytest.raises(TypeError, match="X is a single graph"):
        fitted.transform(g)
    with pytest.raises(TypeError, match="list of sparse adjacency matrices"):
        InvariantProjector("S_n", layout="graph").fit([sparse.csr_matrix(nx.to_numpy_array(g))] * 2)


def test_several_node_features_with_a_given_node_count():
    """``graphs_to_arrays(..., n_nodes=4)`` refused node features of more than one column
    ("the layout expects 1") although they worked without ``n_nodes``."""
    from skcanon.datasets import graphs_to_arrays

    G = nx.path_graph(3)
    nx.set_node_attributes(G, {0: [1.0, 2.0], 1: [3.0, 4.0], 2: [5.0, 6.0]}, "v")
    for features in (lambda g, n: [n, 2 * n], "v"):
        X, layout = graphs_to_arrays([G], n_nodes=4, node_features=features)
        assert X.shape == (1, 4 * (4 + 2)) and layout.n_node_features == 2
        np.testing.assert_array_equal(layout.encode([G])[0].reshape(1, -1), X)
    with pytest.raises(ValueError, match="expects 1"):   # a count the caller gave is checked
        GraphLayout(4, node_features="v", n_node_features=1).encode([G])


@pytest.mark.parametrize("canon_layout", ["graph", GraphLayout(), GraphLayout(padding="zero")])
def test_canonical_projector_sizes_a_graph_canonicalizer_without_a_node_count(canon_layout):
    """A ``wl`` canonicalizer with ``layout="graph"`` (as the user guide writes it) inside the
    canonical projector failed in fit: "GraphLayout(n_nodes=None) needs networkx graphs",
    networkx graphs given. It takes the projector's node count and keeps its own padding."""
    graphs = [nx.path_graph(3), nx.cycle_graph(4), nx.star_graph(3)]
    canon = CanonicalizerTransformer("S_n", method="wl", layout=canon_layout)
    proj = InvariantProjector("S_n", method="canonical", layout="graph", canonicalizer=canon).fit(graphs)
    layout = proj.projection_.canonicalizer_.layout_
    assert (layout.n_nodes, layout.n_node_features) == (4, 1)
    assert layout.padding == getattr(canon_layout, "padding", "nan")
    assert canon.get_params()["layout"] is canon_layout          # the caller's estimator is untouched
    default = InvariantProjector("S_n", method="canonical", layout="graph").fit(graphs)
    relabelled = [nx.relabel_nodes(G, dict(zip(G, np.random.default_rng(0).permutation(len(G)).tolist())))
                  for G in graphs]
    np.testing.assert_array_equal(proj.transform(relabelled), default.transform(graphs))


def test_graphs_to_arrays_of_one_graph_or_a_dict_says_pass_a_list():
    """``graphs_to_arrays(G)`` listed the graph's nodes and said "graphs must be networkx
    graphs, got int"; a dict of graphs said the same of its keys."""
    from skcanon.datasets import graphs_to_arrays

    with pytest.raises(TypeError, match=r"graphs is a single graph \(Graph\).*pass a list of graphs, \[G\]"):
        graphs_to_arrays(nx.path_graph(3))
    with pytest.raises(TypeError, match=r"graphs is a single graph \(DiGraph\)"):
        graphs_to_arrays(nx.DiGraph([(0, 1)]), n_nodes=3)
    with pytest.raises(TypeError, match=r"graphs is a dict.*list\(graphs.values\(\)\)"):
        graphs_to_arrays({"a": nx.path_graph(3)})
    X, _ = graphs_to_arrays(G for G in [nx.path_graph(3)])    # other iterables of graphs still work
    assert X.shape == (1, 12)
