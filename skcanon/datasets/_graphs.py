"""Small graphs: networkx's graph atlas with computed labels, and the one encoder of
graphs to padded arrays used across skcanon."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ..layouts import GraphLayout, _is_one_graph, node_order
from ._base import check_bool, check_choice, check_flat, check_n

__all__ = ["load_graph_atlas", "make_graph_latents", "graphs_to_arrays", "graph_layout", "permute_graph_arrays",
           "GRAPH_TARGETS"]


def _adjacency(G):
    return np.asarray(_nx().to_numpy_array(G, nodelist=node_order(G), weight=None) != 0,
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
    """Layout of :func:`graphs_to_arrays` output: a :class:`~skcanon.layouts.GraphLayout`.

    Each node row holds its adjacency row (``n_nodes`` columns) followed by its features
    (``n_features`` columns). Relabelling the nodes is the S_n action of
    :class:`~skcanon.groups.PermutationGroup` on this layout, which permutes the rows and
    the adjacency columns together.

    Parameters
    ----------
    n_nodes : int
        Padded number of nodes.
    n_features : int, default=1
        Node-feature columns.

    Returns
    -------
    layout : GraphLayout
    """
    n_nodes = check_n(n_nodes, "n_nodes", allow_none=False)
    n_features = check_n(n_features, "n_features", allow_none=False, minimum=0)
    return GraphLayout(n_nodes, n_node_features=n_features,
                       node_features="degree" if n_features else None)


def permute_graph_arrays(X, perms, n_nodes, n_features=1):
    """Relabel the nodes of encoded graphs: ``X`` from :func:`graphs_to_arrays`,
    ``perms`` ``(n, n_nodes)`` S_n elements (node ``i`` moves to slot ``perms[i]``).

    A shortcut for ``PermutationGroup().apply(perms, X, graph_layout(n_nodes, n_features))``.
    """
    from ..groups import PermutationGroup

    n_nodes = check_n(n_nodes, "n_nodes", allow_none=False)
    n_features = check_n(n_features, "n_features", allow_none=False, minimum=0)
    layout = graph_layout(n_nodes, n_features)
    X = np.asarray(X)
    if X.shape[1:] not in ((n_nodes * layout.width,), (n_nodes, layout.width)):
        raise ValueError(f"X must have shape (n_graphs, {n_nodes * layout.width}) or (n_graphs, {n_nodes}, "
                         f"{layout.width}) for n_nodes={n_nodes}, n_features={n_features}; got {X.shape}.")
    perms = np.asarray(perms)
    shaped = perms.shape == (len(X), n_nodes) and np.issubdtype(perms.dtype, np.integer)
    if not shaped or not (np.sort(perms, axis=1) == np.arange(n_nodes)).all():
        raise ValueError(f"perms must hold one permutation of range({n_nodes}) per graph, shape "
                         f"({len(X)}, {n_nodes}), of integers; got shape {perms.shape}, dtype "
                         f"{perms.dtype.name}{' with a row that is not a permutation' if shaped else ''}.")
    return PermutationGroup().apply(perms, X, layout)


def graphs_to_arrays(graphs, n_nodes=None, node_features="degree", *, padding="nan",
                     flat=True):
    """Encode networkx graphs as padded adjacency rows + node features, one row per node.

    A functional front end to :meth:`skcanon.layouts.GraphLayout.encode`, skcanon's single
    graph encoding. Node ``i`` of a graph (nodes in sorted order; in insertion order when
    their labels cannot be compared) becomes row ``i``:
    ``[A[i, 0], ..., A[i, n_nodes-1], features_i]``, with ``A`` the 0/1 adjacency matrix
    (edge weights, multiplicities and directions ignored: a directed graph or multigraph is
    encoded as its simple undirected version, node features included) padded with zero columns for absent nodes.
    Rows of absent nodes (graphs smaller than ``n_nodes``) are all NaN (``padding="nan"``,
    skcanon's absent-point convention) or all 0 (``padding="zero"``; an isolated node whose
    features are all zero then reads as absent too, see
    :meth:`~skcanon.layouts.GraphLayout.present_nodes`).

    Parameters
    ----------
    graphs : list of networkx.Graph
        Graphs (directed ones are read as undirected).
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
    layout : GraphLayout
        The resolved layout; node relabelling acts on it through
        :class:`~skcanon.groups.PermutationGroup`.

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
    # listed, one graph gives its nodes and a dict its keys: "must be networkx graphs, got int"
    if _is_one_graph(graphs):
        raise TypeError(f"graphs is a single graph ({type(graphs).__name__}); graphs holds one graph per "
                        "sample. Fix: pass a list of graphs, [G].")
    if isinstance(graphs, dict):
        raise TypeError("graphs is a dict; graphs holds one graph per sample. Fix: pass a list of graphs, "
                        "e.g. list(graphs.values()).")
    graphs = list(graphs)
    if not graphs:
        raise ValueError("graphs must contain at least one graph.")
    if n_nodes is not None:
        n_nodes = check_n(n_nodes, "n_nodes", allow_none=False)
        sizes = [len(g) if hasattr(g, "nodes") else 0 for g in graphs]   # others: encode names them
        if max(sizes) > n_nodes:
            big = int(np.argmax(sizes))
            raise ValueError(f"graphs[{big}] has {sizes[big]} nodes, more than n_nodes={n_nodes}. Fix: pass "
                             f"n_nodes >= {max(sizes)}, or n_nodes=None for the largest graph's size.")
    P, layout = GraphLayout(n_nodes, node_features=node_features, padding=padding).encode(graphs)
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
    min_nodes, max_nodes = _atlas_range(min_nodes, max_nodes)
    connected_only = check_bool(connected_only, "connected_only")
    return_X_y = check_bool(return_X_y, "return_X_y")
    names = _target_names(target, GRAPH_TARGETS)
    bad = [t for t in names if not isinstance(t, str) or t not in GRAPH_TARGETS]
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


def _target_names(target, known):
    """``target`` as a list of names: one name, or a list (any iterable) of them."""
    if isinstance(target, str):
        return [target]
    try:
        return list(target)
    except TypeError:
        raise ValueError(f"target must be one of {list(known)} or a list of them, got {target!r}.") from None


def _atlas_range(min_nodes, max_nodes):
    """Validated node-count range of the graph atlas (which holds graphs of 0 to 7 nodes)."""
    min_nodes = check_n(min_nodes, "min_nodes", allow_none=False, minimum=0)
    max_nodes = check_n(max_nodes, "max_nodes", allow_none=False, minimum=0)
    if max_nodes > 7 or min_nodes > max_nodes:
        raise ValueError(f"need 0 <= min_nodes <= max_nodes <= 7; got min_nodes={min_nodes}, "
                         f"max_nodes={max_nodes}.")
    return min_nodes, max_nodes


def _latent_rng(random_state):
    """The encoder's stream: the loaders' seeds (None, int, ``RandomState``) and a Generator."""
    accepted = "None, an int >= 0, a numpy.random.RandomState or a numpy.random.Generator instance"
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is np.random or isinstance(random_state, np.random.RandomState):
        return check_random_state(random_state)   # np.random: the global RandomState
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, Integral) and not isinstance(random_state, (bool, np.bool_)):
        if random_state < 0:
            raise ValueError(f"random_state must be {accepted}; got {random_state!r}.")
        return np.random.default_rng(int(random_state))
    raise TypeError(f"random_state must be {accepted}; got {type(random_state).__name__} {random_state!r}.")


def make_graph_latents(random_state=None, *, min_nodes=3, max_nodes=7, width=8):
    """Per-node latents of a random permutation-equivariant encoder on the graph atlas.

    Every graph of ``networkx.graph_atlas_g()`` with ``min_nodes`` to ``max_nodes`` nodes,
    padded to ``max_nodes``, goes through two rounds of random message passing,
    ``h ← tanh(A h W + h B)`` (absent nodes masked), ending in one scalar per node: the
    equivariant codes of Hansen et al.'s experiment (permuting the nodes permutes them).

    Parameters
    ----------
    random_state : int, RandomState instance, numpy.random.Generator or None, default=None
        Draws the encoder's weights. An int seeds ``numpy.random.default_rng`` (the stream
        the published tables use); a ``RandomState`` or ``Generator`` is used (and advanced)
        as given, so ``0`` and ``RandomState(0)`` give different weights.
    min_nodes, max_nodes : int, default=3, 7
        Node-count range of the graphs (``max_nodes <= 7``).
    width : int, default=8
        Hidden width of the encoder.

    Returns
    -------
    latent : ndarray of shape (n_graphs, max_nodes)
        One scalar per node, nodes in the atlas order; absent nodes are 0.
    target : ndarray of shape (n_graphs,)
        An invariant label: number of triangles plus number of edges.
    """
    min_nodes, max_nodes = _atlas_range(min_nodes, max_nodes)
    width = check_n(width, "width", allow_none=False)
    rng = _latent_rng(random_state)
    nx = _nx()
    graphs = [g for g in nx.graph_atlas_g() if min_nodes <= g.number_of_nodes() <= max_nodes]
    A = np.zeros((len(graphs), max_nodes, max_nodes))
    present = np.zeros((len(graphs), max_nodes, 1))
    for i, g in enumerate(graphs):
        k = g.number_of_nodes()
        A[i, :k, :k] = nx.to_numpy_array(g)
        present[i, :k] = 1.0
    target = np.array([sum(nx.triangles(g).values()) / 3 + g.number_of_edges() for g in graphs])
    W1, B1 = rng.normal(size=(1, width)), rng.normal(size=(1, width))
    W2, B2 = rng.normal(size=(width, width)) / np.sqrt(width), rng.normal(size=(width, width)) / np.sqrt(width)
    v = rng.normal(size=(width, 1))
    h = np.tanh(A @ present @ W1 + present @ B1) * present
    h = np.tanh(A @ h @ W2 + h @ B2) * present
    return (h @ v)[..., 0], target
