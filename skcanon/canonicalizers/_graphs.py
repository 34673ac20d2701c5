"""Exact canonical labelling of graphs (S_n acting on a GraphLayout).

One concern: the ``wl`` canonicalizer — node orders of graphs by nauty or by the
pure-Python individualization–refinement search.

With ``pynauty`` installed (``pip install pynauty``, the ``graphs`` extra) labelling uses
nauty; without it, a pure-Python individualization–refinement search that is exact up to
:data:`MAX_LEAVES` search leaves per graph and warns (:class:`CanonicalFormWarning`) for the
graphs where it stops short.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._validation import batch_first_row, user_stacklevel
from ..exceptions import CanonicalFormWarning  # noqa: F401 - public in skcanon.exceptions
from ._base import Canonicalizer

#: most leaves the pure-Python individualization search visits per graph
MAX_LEAVES = 20000


def _nauty():
    """The ``pynauty`` module, or None when it is not installed."""
    try:
        import pynauty
    except ImportError:
        return None
    return pynauty


class GraphCanonicalizer(Canonicalizer):
    """S_n on graphs: exact canonical labelling (nauty when available).

    The canonical form of a graph is its adjacency matrix and node features reordered by a
    canonical labelling, so isomorphic graphs — same adjacency up to relabelling, and the
    same feature row on corresponding nodes — get identical outputs. Absent nodes go last.

    * **nauty** (``pynauty`` installed): node features and self-loop values define vertex
      colours by exact equality of their rows; the colour classes are ordered by sorting
      the distinct rows lexicographically, so the cells are canonical and nauty's labelling
      respects them. Graphs whose edges are not all of one weight (or that are directed)
      are subdivided: each edge becomes a vertex coloured by its weight, joined to its
      ends (``u → e → v`` when directed), which keeps isomorphism exact. Milliseconds for
      graphs of hundreds of nodes.
    * **fallback** (no ``pynauty``): node colours start from the node features (exact
      equality) and degree and are refined by the multiset of neighbour colours (1-WL);
      ties are settled by individualization–refinement, keeping the labelling with the
      lexicographically smallest (adjacency, features) encoding. Automorphisms found on
      the way (two leaves with one encoding) prune the siblings in their orbits, which
      keeps the search small on vertex-transitive graphs. That is exact while the search
      stays below :data:`MAX_LEAVES` leaves per graph (always for graphs of up to ~10
      nodes). Highly symmetric large graphs (hypercubes, strongly regular graphs) can
      exceed it: then the best labelling found so far is used — deterministic, but no
      longer guaranteed canonical — and a :class:`CanonicalFormWarning` names the graphs
      and suggests installing ``pynauty``.

    The two are different canonical labellings: ``fit`` records which one it used (and
    pynauty's version), and ``transform`` keeps it wherever the fitted model is loaded — a
    model fitted with nauty raises ImportError where pynauty is missing (and warns under
    another pynauty version); one fitted without it keeps the search.

    Cost: one nauty call or one Python-level search per graph.
    """

    method = "wl"
    priority = 3

    @classmethod
    def supports(cls, group, layout=None):
        return (group.permutes and not (group.rotates or group.translates or group.rescales)
                and (layout is None or getattr(layout, "kind", None) == "graph"))

    @classmethod
    def default_for(cls, group, layout=None):
        return cls.supports(group) and getattr(layout, "kind", None) == "graph"

    def check_layout(self, layout):
        if getattr(layout, "kind", None) != "graph":
            raise ValueError(f"method='wl' canonicalizes graphs (layout=GraphLayout()); got {layout!r}.")
        self.group.check_layout(layout)

    def fit(self, P, layout, y=None):
        # nauty and the search give different (each canonical) labellings: the fitted model
        # keeps the one it was fitted with, wherever it is loaded
        nauty = _nauty()
        self.backend = "search" if nauty is None else "nauty"
        self.nauty_version = None if nauty is None else getattr(nauty, "__version__", None)
        return self

    def _labeller(self):
        """The ``pynauty`` module for a canonicalizer fitted with it, None for the search."""
        nauty = _nauty()
        backend = getattr(self, "backend", None)     # None: not fitted (direct use)
        if backend == "search":
            return None
        if backend == "nauty" and nauty is None:
            raise ImportError(
                f"this 'wl' canonicalizer was fitted with pynauty's labelling (pynauty "
                f"{self.nauty_version or '(version unknown)'}), and pynauty is not installed here; the "
                "pure-Python search gives other canonical forms, which the fitted model downstream "
                "has not seen. Fix: pip install pynauty (the 'graphs' extra), or refit without it.")
        version = getattr(nauty, "__version__", None) if nauty is not None else None
        if backend == "nauty" and version != self.nauty_version:
            warnings.warn(
                f"this 'wl' canonicalizer was fitted with pynauty {self.nauty_version} and runs with "
                f"pynauty {version}: if nauty's labelling changed between them, canonical forms differ "
                "from those the model was fitted on. Refit, or install the version it was fitted with.",
                CanonicalFormWarning, stacklevel=user_stacklevel())
        return nauty

    def frames(self, P, layout):
        adj_sl = layout.slice_of("adj")
        feat = P[:, :, layout.width - layout.n_node_features:] if layout.n_node_features else None
        out = np.empty(P.shape[:2], dtype=np.int64)
        nauty = self._labeller()
        inexact = []
        presence = layout.present_nodes(P)
        # absent rows go last, rows with fewer NaN first (a count that relabelling keeps):
        # under padding="zero" an isolated node with zero features and a NaN padding row are
        # both absent, and their input order is the labelling's
        nan_count = np.isnan(P).sum(axis=2)
        for i in range(P.shape[0]):
            present = presence[i]
            idx = np.flatnonzero(present)
            A = P[i][np.ix_(idx, idx + adj_sl.start)]
            F = feat[i][idx] if feat is not None else np.zeros((len(idx), 0))
            if nauty is not None:
                order = nauty_order(A, F, nauty)
            else:
                order, exact = canonical_order(A, F, return_exact=True)
                if not exact:
                    inexact.append(i)
            absent = np.flatnonzero(~present)
            out[i] = np.concatenate([idx[order], absent[np.argsort(nan_count[i, absent], kind="stable")]])
        if inexact:
            first = batch_first_row()     # sample indices of X, not of this batch
            shown = ", ".join(str(first + i) for i in inexact[:10]) + (", ..." if len(inexact) > 10 else "")
            warnings.warn(
                f"{len(inexact)} graph(s) (sample {shown}) needed more than {MAX_LEAVES} search "
                "leaves of the pure-Python canonical labelling: their canonical forms are "
                "deterministic but not guaranteed canonical (isomorphic graphs may differ). "
                "Install pynauty (pip install pynauty) for exact labelling.",
                CanonicalFormWarning, stacklevel=user_stacklevel(),
            )
        return out


def _value_classes(rows):
    """Dense class index of each row of ``rows`` (exact equality), classes ordered by the
    lexicographic order of their rows (so independent of the node order)."""
    keys = [tuple(r) for r in np.asarray(rows, dtype=np.float64).tolist()]
    uniq = sorted(set(keys))
    lookup = {k: c for c, k in enumerate(uniq)}
    return np.asarray([lookup[k] for k in keys], dtype=np.int64), len(uniq)


def nauty_order(A, F, nauty=None):
    """Canonical node order of the graph ``(A, F)`` with nauty (``pynauty``).

    Vertex colours: exact classes of ``[F_v, A_vv]`` in lexicographic order. Edges of one
    weight on a symmetric ``A`` make a plain graph; otherwise every edge ``(u, v)`` becomes
    a vertex coloured by its weight class (after the node classes), joined ``u → e → v``
    (undirected ``u – e – v`` for symmetric ``A``), and the order of the original
    vertices in the canonical labelling is returned.
    """
    nauty = nauty or _nauty()
    A = np.asarray(A, dtype=np.float64)
    n = len(A)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    node_class, n_classes = _value_classes(np.column_stack([F, np.diag(A)]))
    B = A.copy()
    np.fill_diagonal(B, 0)
    symmetric = bool((B == B.T).all())
    src, dst = np.nonzero(np.triu(B) if symmetric else B)
    weights = B[src, dst]
    cells = [set(np.flatnonzero(node_class == c).tolist()) for c in range(n_classes)]
    if weights.size == 0 or (symmetric and (weights == weights[0]).all()):
        adjacency = {v: [] for v in range(n)}
        for u, v in zip(src.tolist(), dst.tolist()):
            adjacency[u].append(v)
        g = nauty.Graph(n, directed=False, adjacency_dict=adjacency, vertex_coloring=cells)
    else:
        edge_class, n_edge_classes = _value_classes(weights[:, None])
        n_edges = len(weights)
        adjacency = {v: [] for v in range(n + n_edges)}
        for k, (u, v) in enumerate(zip(src.tolist(), dst.tolist())):
            adjacency[u].append(n + k)
            adjacency[n + k].append(v)
        cells += [set((n + np.flatnonzero(edge_class == c)).tolist()) for c in range(n_edge_classes)]
        g = nauty.Graph(n + n_edges, directed=not symmetric, adjacency_dict=adjacency,
                        vertex_coloring=cells)
    lab = np.asarray(nauty.canon_label(g), dtype=np.int64)
    return lab[lab < n]


def _ranks(keys):
    """Dense ranks of hashable keys, by sorted order (independent of node order)."""
    uniq = sorted(set(keys))
    lookup = {k: r for r, k in enumerate(uniq)}
    return [lookup[k] for k in keys]


def _refine(A, colours):
    """1-WL colour refinement to a stable partition; colours are canonical ranks."""
    n = len(colours)
    nbrs = [np.flatnonzero(A[v]) for v in range(n)]
    while True:
        keys = [(colours[v], tuple(sorted(colours[u] for u in nbrs[v]))) for v in range(n)]
        new = _ranks(keys)
        if len(set(new)) == len(set(colours)):
            return new
        colours = new


def _encode(A, F, order):
    B = A[np.ix_(order, order)]
    return tuple(B.ravel().tolist()) + tuple(F[order].ravel().tolist())


class _BudgetExceeded(Exception):
    pass


class _PathOrbits:
    """Orbits of the group generated by the found automorphisms that fix every node of a
    search ``path``, kept as a union-find that takes in only the automorphisms found since
    it was last asked (rebuilding it for every sibling cost about n⁶ on highly symmetric
    graphs; see ``benchmarks/bench_graph_fallback.py``)."""

    def __init__(self, n, path):
        self.parent = list(range(n))
        self.path = path
        self.merged = 0          # automorphisms already taken in (found ones are only appended)

    def _root(self, x):
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def in_orbit(self, v, explored, automorphisms):
        """Whether ``v`` is in the orbit of an ``explored`` node."""
        for g in automorphisms[self.merged:]:
            if all(g[p] == p for p in self.path):
                for x in range(len(self.parent)):
                    a, b = self._root(x), self._root(int(g[x]))
                    if a != b:
                        self.parent[a] = b
        self.merged = len(automorphisms)
        r = self._root(v)
        return any(self._root(u) == r for u in explored)


def canonical_order(A, F, return_exact=False):
    """Node order giving the canonical form of the graph ``(A, F)`` by the pure-Python
    search (see :class:`GraphCanonicalizer`); with ``return_exact``, also whether the
    search finished within :data:`MAX_LEAVES` leaves (if not, the order is the best found
    so far: deterministic, not guaranteed canonical)."""
    A = np.asarray(A)
    n = len(A)
    if n == 0:
        order = np.zeros(0, dtype=np.int64)
        return (order, True) if return_exact else order
    feature_class, _ = _value_classes(np.column_stack([F, np.zeros(n)]) if F.size else np.zeros((n, 1)))
    start = _ranks([(int(feature_class[v]), int(np.count_nonzero(A[v]))) for v in range(n)])
    best = {"key": None, "order": None, "leaves": 0}
    automorphisms = []   # found automorphisms σ of (A, F), as arrays: node v ↦ σ[v]

    def search(colours, path):
        colours = _refine(A, colours)
        if len(set(colours)) == n:
            if best["leaves"] >= MAX_LEAVES:  # one leaf more than the budget: stop
                raise _BudgetExceeded
            order = np.lexsort((np.arange(n), colours))
            best["leaves"] += 1
            key = _encode(A, F, order)
            if best["key"] is None or key < best["key"]:
                best["key"], best["order"] = key, order
            elif key == best["key"]:  # two labellings give one form: an automorphism
                sigma = np.empty(n, dtype=np.int64)
                sigma[best["order"]] = order
                automorphisms.append(sigma)
            return
        counts = np.bincount(colours)
        target = int(np.flatnonzero(counts > 1)[0])  # first non-trivial class, canonically
        explored = []
        orbits = _PathOrbits(n, path)
        for v in np.flatnonzero(np.asarray(colours) == target):
            # automorphisms that fix the path map the subtree of an explored sibling onto
            # that of v (same encodings): skip v when it lies in such a sibling's orbit
            if explored and orbits.in_orbit(int(v), explored, automorphisms):
                continue
            explored.append(int(v))
            # individualize v: it gets a colour just below its class, others keep theirs
            new = [2 * c + (0 if u == v else 1) for u, c in enumerate(colours)]
            search(_ranks(new), path + [int(v)])

    exact = True
    try:
        search(start, [])
    except _BudgetExceeded:
        exact = False
    order = best["order"]
    return (order, exact) if return_exact else order
