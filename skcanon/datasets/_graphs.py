"""Small graphs: networkx's graph atlas with computed labels, and the one encoder of
graphs to padded arrays used across skcanon."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from ..layouts import PointLayout
from ._base import check_choice, check_flat, check_n

__all__ = ["load_graph_atlas", "graphs_to_arrays", "graph_layout", "permute_graph_arrays",
           "GRAPH_TARGETS"]


def _adjacency(G):
    return np.asarray(_nx().to_numpy_array(G, nodelist=sorted(G.nodes()), weight=None) != 0,
                      dtype=np.float64)


def _nx():
    import networkx as nx

    return nx


def _laplacian_eigs(G):
    A = _adjacency(G)
    return np.linalg.eigvalsh(np.diag(A.sum(1)) - A) if A.size else np.zeros(0)


def _diameter(G):
    nx = _nx()
    if G.number_of_nodes() == 0 or not nx.is_connected(G):
        return -1.0
    return float(nx.diameter(G))


def _algebraic_connectivity(G):
    ev = _laplacian_eigs(G)
    return float(max(ev[1], 0.0)) if ev.size > 1 else 0.0


#: Graph-property labels: name -> (function of a networkx graph, description).
GRAPH_TARGETS = {
    "n_nodes": (lambda G: G.number_of_nodes(), "number of nodes"),
    "n_edges": (lambda G: G.number_of_edges(), "number of edges"),
    "n_triangles": (lambda G: sum(_nx().triangles(G).values()) // 3, "number of triangles"),
    "n_components": (lambda G: _nx().number_connected_components(G) if len(G) else 0,
                     "number of connected components"),
    "is_connected": (lambda G: int(len(G) > 0 and _nx().is_connected(G)),
                     "1 if connected (the empty graph counts as disconnected)"),
    "is_bipartite": (lambda G: int(_nx().is_bipartite(G)), "1 if bipartite (2-colourable)"),
    "is_tree": (lambda G: int(len(G) > 0 and _nx().is_tree(G)), "1 if a tree"),
    "diameter": (_diameter, "diameter, -1 for disconnected graphs"),
    "max_degree": (lambda G: max((d for _, d in G.degree()), default=0), "maximum degree"),
    "algebraic_connectivity": (_algebraic_connectivity,
                               "second-smallest Laplacian eigenvalue (0 iff disconnected; 0 "
                               "for graphs with fewer than 2 nodes)"),
    "spectral_radius": (lambda G: float(np.linalg.eigvalsh(_adjacency(G))[-1]) if len(G) else 0.0,
                        "largest adjacency eigenvalue"),
}


def graph_layout(n_nodes, n_features=1):
    """Layout of :func:`graphs_to_arrays` output: one point per node.

    Each node row holds its adjacency row (scalar field ``adj`` of size ``n_nodes``)
    followed by its features (scalar field ``feat`` of size ``n_features``, omitted when
    0). Relabelling the nodes of a graph by a permutation ``p`` is the S_n action on the
    rows *and* the same permutation of the ``adj`` columns; use
    :func:`permute_graph_arrays` for it (the plain S_n point action moves rows only).

    Parameters
    ----------
    n_nodes : int
        Padded number of nodes.
    n_features : int, default=1
        Node-feature columns.

    Returns
    -------
    layout : PointLayout
    """
    fields = [("adj", "scalar", int(n_nodes))]
    if n_features:
        fields.append(("feat", "scalar", int(n_features)))
    return PointLayout(1, fields=fields)


def permute_graph_arrays(X, perms, n_nodes, n_features=1):
    """Relabel the nodes of encoded graphs: ``X`` from :func:`graphs_to_arrays`,
    ``perms`` ``(n, n_nodes)`` S_n elements (node ``i`` moves to slot ``perms[i]``).

    Rows move with :class:`~skcanon.groups.PermutationGroup`'s action; the adjacency
    columns are permuted the same way. Returns a new array in the layout of ``X``.
    """
    from ..groups import PermutationGroup

    layout = graph_layout(n_nodes, n_features)
    X = np.asarray(X)
    P = PermutationGroup().act(perms, layout.to_working(X), layout)
    adj = P[:, :, layout.slice_of("adj")]
    inv = PermutationGroup().inverse(np.asarray(perms))
    P[:, :, layout.slice_of("adj")] = np.take_along_axis(adj, inv[:, None, :], axis=2)
    return layout.from_working(P, X.ndim)


def _node_features(G, nodes, node_features):
    if node_features is None:
        return np.zeros((len(nodes), 0))
    if node_features == "degree":
        return np.array([[G.degree(v)] for v in nodes], dtype=np.float64)
    if node_features == "ones":
        return np.ones((len(nodes), 1))
    if callable(node_features):
        return np.asarray([np.atleast_1d(node_features(G, v)) for v in nodes],
                          dtype=np.float64).reshape(len(nodes), -1)
    if isinstance(node_features, str):
        try:
            return np.array([np.atleast_1d(G.nodes[v][node_features]) for v in nodes],
                            dtype=np.float64).reshape(len(nodes), -1)
        except KeyError:
            raise ValueError(f"node_features={node_features!r} is not 'degree', 'ones', None "
                             "or a node attribute present on every node.") from None
    raise TypeError("node_features must be 'degree', 'ones', None, a node attribute name or a "
                    f"callable (G, node) -> features; got {type(node_features).__name__}.")


def graphs_to_arrays(graphs, n_nodes=None, node_features="degree", *, padding="nan",
                     flat=True):
    """Encode networkx graphs as padded adjacency rows + node features, one row per node.

    This is skcanon's single graph encoding. Node ``i`` of a graph (nodes in sorted
    order) becomes point ``i``: ``[A[i, 0], ..., A[i, n_nodes-1], features_i]``, with
    ``A`` the 0/1 adjacency matrix (edge weights and directions ignored) padded with
    zero columns for absent nodes. Rows of absent nodes (graphs smaller than
    ``n_nodes``) are all NaN (``padding="nan"``, skcanon's absent-point convention) or all
    0 (``padding="zero"``, for models that cannot take NaN).

    Parameters
    ----------
    graphs : list of networkx.Graph
        Undirected graphs.
    n_nodes : int or None, default=None
        Padded size; ``None`` uses the largest graph. Larger graphs raise ValueError.
    node_features : {"degree", "ones"}, str, callable or None, default="degree"
        Per-node features: the degree, a constant 1, a node attribute name (numeric, same
        length on every node), a callable ``f(G, node) -> array``, or ``None`` for none.
    padding : {"nan", "zero"}, default="nan"
        Value filling absent-node rows.
    flat : bool, default=True
        ``True``: ``(n_graphs, n_nodes * (n_nodes + n_features))`` point-major;
        ``False``: ``(n_graphs, n_nodes, n_nodes + n_features)``.

    Returns
    -------
    X : ndarray
        The encoded graphs.
    layout : PointLayout
        :func:`graph_layout` ``(n_nodes, n_features)``; node relabelling acts on it via
        :func:`permute_graph_arrays`.

    Examples
    --------
    >>> import networkx as nx
    >>> from skcanon.datasets import graphs_to_arrays
    >>> X, layout = graphs_to_arrays([nx.path_graph(3), nx.complete_graph(2)], n_nodes=3)
    >>> X.shape
    (2, 12)
    """
    check_choice(padding, "padding", ("nan", "zero"))
    flat = check_flat(flat)
    graphs = list(graphs)
    if not graphs:
        raise ValueError("graphs must contain at least one graph.")
    nx = _nx()
    for g in graphs:
        if not isinstance(g, nx.Graph):
            raise TypeError(f"graphs must be networkx graphs, got {type(g).__name__}.")
    biggest = max(len(g) for g in graphs)
    if n_nodes is None:
        n_nodes = max(biggest, 1)
    n_nodes = check_n(n_nodes, "n_nodes", allow_none=False)
    if biggest > n_nodes:
        raise ValueError(f"a graph has {biggest} nodes, more than n_nodes={n_nodes}.")
    feats = [_node_features(g, sorted(g.nodes()), node_features) for g in graphs]
    widths = {f.shape[1] for f, g in zip(feats, graphs) if len(g)}
    if len(widths) > 1:
        raise ValueError(f"node features have different widths across graphs: {sorted(widths)}.")
    n_feat = widths.pop() if widths else (0 if node_features is None else 1)
    fill = np.nan if padding == "nan" else 0.0
    P = np.full((len(graphs), n_nodes, n_nodes + n_feat), fill)
    for k, (g, f) in enumerate(zip(graphs, feats)):
        m = len(g)
        if m:
            P[k, :m, :n_nodes] = 0.0
            P[k, :m, :m] = _adjacency(g)
            P[k, :m, n_nodes:] = f
    layout = graph_layout(n_nodes, n_feat)
    return (P.reshape(len(graphs), -1) if flat else P), layout


def load_graph_atlas(min_nodes=0, max_nodes=7, target="n_triangles", *, connected_only=False,
                     return_X_y=False):
    """All graphs with up to 7 nodes from networkx's graph atlas, with property labels.

    ``networkx.graph_atlas_g()`` lists all 1,253 undirected graphs with 0 to 7 nodes up to
    isomorphism (Read & Wilson, "An Atlas of Graphs"), ordered by nodes, then edges. Every
    label is a graph invariant, so a model should be invariant to node relabelling; encode
    the graphs with :func:`graphs_to_arrays`.

    Parameters
    ----------
    min_nodes, max_nodes : int, default=0, 7
        Keep graphs whose node count is in ``[min_nodes, max_nodes]`` (``max_nodes <= 7``).
    target : str or list of str, default="n_triangles"
        Property label(s), from :data:`GRAPH_TARGETS`: ``n_nodes``, ``n_edges``,
        ``n_triangles``, ``n_components``, ``is_connected``, ``is_bipartite``, ``is_tree``,
        ``diameter`` (-1 if disconnected), ``max_degree``, ``algebraic_connectivity``,
        ``spectral_radius``. A list gives a 2-D target.
    connected_only : bool, default=False
        Keep connected graphs only.
    return_X_y : bool, default=False
        Return ``(graphs, target)`` only.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``graphs`` (list of networkx.Graph), ``target`` (float array), ``target_names``,
        ``atlas_index`` (position in ``graph_atlas_g()``) and ``DESCR``.

    Examples
    --------
    >>> from skcanon.datasets import load_graph_atlas
    >>> d = load_graph_atlas(min_nodes=3, max_nodes=3)
    >>> len(d.graphs), d.target.tolist()
    (4, [0.0, 0.0, 0.0, 1.0])
    """
    min_nodes = check_n(min_nodes, "min_nodes", allow_none=False, minimum=0)
    max_nodes = check_n(max_nodes, "max_nodes", allow_none=False, minimum=0)
    if max_nodes > 7 or min_nodes > max_nodes:
        raise ValueError(f"need 0 <= min_nodes <= max_nodes <= 7; got min_nodes={min_nodes}, "
                         f"max_nodes={max_nodes}.")
    names = [target] if isinstance(target, str) else list(target)
    bad = [t for t in names if t not in GRAPH_TARGETS]
    if bad or not names:
        raise ValueError(f"target must be one of {list(GRAPH_TARGETS)}, got {target!r}.")
    nx = _nx()
    atlas = nx.graph_atlas_g()
    keep = [i for i, g in enumerate(atlas) if min_nodes <= len(g) <= max_nodes
            and (not connected_only or (len(g) > 0 and nx.is_connected(g)))]
    graphs = [atlas[i] for i in keep]
    y = np.array([[float(GRAPH_TARGETS[t][0](g)) for t in names] for g in graphs],
                 dtype=np.float64).reshape(len(graphs), len(names))
    y = y[:, 0] if isinstance(target, str) else y
    if return_X_y:
        return graphs, y
    descr = ("Graph atlas\n-----------\n"
             f"{len(graphs)} non-isomorphic graphs with {min_nodes}..{max_nodes} nodes "
             f"(networkx.graph_atlas_g){', connected only' if connected_only else ''}. Targets: "
             + "; ".join(f"{t}: {GRAPH_TARGETS[t][1]}" for t in names) + ".")
    return Bunch(graphs=graphs, target=y, target_names=np.asarray(names, dtype=object),
                 atlas_index=np.asarray(keep, dtype=np.int64), DESCR=descr)
