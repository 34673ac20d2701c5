"""Exact canonical labelling of graphs (S_n acting on a GraphLayout).

One concern: the ``wl`` canonicalizer — node orders of graphs by nauty or by the
pure-Python individualization–refinement search.

With ``pynauty`` installed (``pip install pynauty``, the ``graphs`` extra) labelling uses
nauty; without it, a pure-Python individualization–refinement search that is exact up to
:data:`MAX_LEAVES` search leaves per graph and warns (:class:`CanonicalFormWarning`) for the
graphs where it stops short.
"""

from __future__ import annotations

import threading
import warnings
import weakref

import numpy as np

from .._validation import batch_first_row, user_stacklevel
from ..exceptions import CanonicalFormWarning  # noqa: F401 - public in skcanon.exceptions
from ._base import Canonicalizer

#: most leaves the pure-Python individualization search visits per graph
MAX_LEAVES = 20000

#: the labelling ``fit`` records: 2 refines the search by edge weights, in- and out-edges
#: and self-loop values, and gives nauty each arc of a directed graph as an undirected path;
#: 1 (models fitted before it was recorded) did neither. Both give undirected graphs of one
#: edge weight without self-loops the same forms.
LABELLING = 2

#: canonicalizers fitted with an earlier labelling that have said so (once each; not pickled),
#: and the lock that makes "once" hold for batches in several threads
_WARNED_EARLIER_LABELLING = weakref.WeakSet()
_WARNED_LOCK = threading.Lock()


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
      respects them. Undirected graphs whose edges are not all of one weight are
      subdivided: each edge becomes a vertex coloured by its weight, joined to its ends.
      Directed graphs get tail and head copies of the nodes, an arc ``u → v`` joining the
      tail copy of ``u`` to the head copy of ``v`` (one layer of copies per bit of the arc
      weight classes; :func:`nauty_order`). Both keep isomorphism exact. Milliseconds for
      graphs of hundreds of nodes (a random directed graph of 300 nodes and 45,000 arcs:
      0.3 s), except dense undirected graphs with varying weights, whose subdivision has a
      vertex per edge: a complete graph with two edge weights took 0.1 s at 100 nodes, 5 s
      at 200 and 32 s at 300.
    * **fallback** (no ``pynauty``): node colours start from the node features (exact
      equality) and degree and are refined (1-WL) by the node's self-loop value and the
      multisets of (edge weight, colour) pairs of its out- and in-neighbours; ties are
      settled by individualization–refinement, keeping the labelling with the
      lexicographically smallest (adjacency, features) encoding. Automorphisms found on
      the way (two leaves with one encoding) prune the siblings in their orbits, which
      keeps the search small on vertex-transitive graphs. That is exact while the search
      stays below :data:`MAX_LEAVES` leaves per graph. Checked: every graph of up to 7
      nodes takes at most 22 leaves, symmetric graphs of 10 nodes (K10, K5,5, Petersen)
      at most 46, the hypercube Q7 (128 nodes) and Paley graphs of up to 61 nodes finish
      in under a second; many interchangeable nodes cost about n²/2 leaves (an edgeless
      graph of n nodes takes n(n−1)/2 + 1: past 200 nodes, more than the budget). Past
      the budget the best labelling found so far is used — deterministic, but no longer
      guaranteed canonical — and a :class:`CanonicalFormWarning` names the graphs and
      suggests installing ``pynauty``.

    The two are different canonical labellings: ``fit`` records which one it used (and
    pynauty's version), and ``transform`` keeps it wherever the fitted model is loaded — a
    model fitted with nauty raises ImportError where pynauty is missing (and warns under
    another pynauty version); one fitted without it keeps the search. ``fit`` also records
    the labelling's version (``labelling``, :data:`LABELLING`): models fitted before it
    was recorded keep the earlier labelling — the search refined by neighbour colours
    only (weighted graphs could exhaust its budget at 8 nodes and get forms that differ
    between relabelled copies), nauty took directed graphs as digraphs (on some dense
    ones of 6–7 nodes it did not return). Refit them for the current one: such a model
    says so once (a :class:`CanonicalFormWarning`) on the first graphs the labellings may
    label differently; undirected graphs of one edge weight without self-loops, and every
    undirected graph with nauty, get the same forms under both (no warning).

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
        self.labelling = LABELLING
        return self

    def _labelling(self):
        """The labelling version: the one fitted with (1 when fitted before it was recorded),
        the current one when not fitted (direct use)."""
        return self.__dict__.get("labelling", 1 if hasattr(self, "backend") else LABELLING)

    def _warn_earlier_labelling(self, P, layout, with_nauty, labelling):
        """One CanonicalFormWarning per fitted canonicalizer that keeps an earlier labelling,
        on the first graphs it labels differently from the current one (directed graphs
        with nauty; also weighted ones and self-loops in the search): it keeps that labelling
        so its forms stay those the model downstream was fitted on, but says how to refit."""
        # vectorized over the batch: it runs on every transform of such a model until it warns
        presence = layout.present_nodes(P)
        both = presence[:, :, None] & presence[:, None, :]
        A = np.where(both, np.nan_to_num(P[:, :, layout.slice_of("adj")]), 0.0)
        diagonal = np.einsum("nii->ni", A).copy()
        B = A.copy()
        np.einsum("nii->ni", B)[...] = 0.0
        different = np.zeros(len(P), bool) if with_nauty else (diagonal != 0).any(axis=1)
        different |= (B != B.transpose(0, 2, 1)).any(axis=(1, 2))
        if not with_nauty:
            # weighted: nonzero off-diagonal entries of more than one value
            big = np.where(B != 0, B, -np.inf).max(axis=(1, 2))
            small = np.where(B != 0, B, np.inf).min(axis=(1, 2))
            different |= np.isfinite(big) & (big != small)
        differ = np.flatnonzero(different).tolist()
        if not differ:
            return
        with _WARNED_LOCK:       # once, also when batches run in several threads
            if self in _WARNED_EARLIER_LABELLING:
                return
            _WARNED_EARLIER_LABELLING.add(self)
        first = batch_first_row()
        shown = ", ".join(str(first + i) for i in differ[:10]) + (", ..." if len(differ) > 10 else "")
        what = ("directed graphs, which nauty searched as digraphs (on some dense ones of 6-7 nodes it "
                "did not return)" if with_nauty else "directed or weighted graphs or graphs with "
                "self-loops, which the search refined by neighbour colours only (slower; weighted graphs "
                "of 8 nodes could exhaust its budget, giving relabelled copies different forms)")
        warnings.warn(
            f"this 'wl' canonicalizer was fitted with skcanon's labelling {labelling} (before the "
            "labelling version was recorded) and keeps it, so its canonical forms stay those the model "
            f"downstream was fitted on; {len(differ)} graph(s) here (sample {shown}) are {what}, and "
            f"labelling {LABELLING} may label them differently. Fix: refit the estimator (or the whole "
            f"pipeline) on its training data to use labelling {LABELLING}. Shown once per fitted "
            "canonicalizer.",
            CanonicalFormWarning, stacklevel=user_stacklevel())

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
        labelling = self._labelling()
        if labelling < LABELLING and self not in _WARNED_EARLIER_LABELLING:
            self._warn_earlier_labelling(P, layout, nauty is not None, labelling)
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
                order = nauty_order(A, F, nauty, labelling=labelling)
            else:
                order, exact = canonical_order(A, F, return_exact=True, labelling=labelling)
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


def nauty_order(A, F, nauty=None, labelling=LABELLING):
    """Canonical node order of the graph ``(A, F)`` with nauty (``pynauty``).

    Vertex colours: exact classes of ``[F_v, A_vv]`` in lexicographic order. Edges of one
    weight on a symmetric ``A`` make a plain graph; other symmetric ``A`` have every edge
    ``u – v`` become a vertex ``e`` coloured by its weight class (after the node classes),
    joined ``u – e – v``. A directed ``A`` gets, for every bit ``b`` of the codes ``1, 2,
    ...`` of its arc weight classes, a tail copy ``t_v`` and a head copy ``h_v`` of each
    node ``v`` (joined to ``v``; a cell per bit and side), and each arc ``u → v`` whose
    code has bit ``b`` becomes the edge ``t_u – h_v``: an undirected graph whose
    isomorphisms are those of ``A`` (nauty's layered construction for coloured edges, with
    sides for the directions). The order of the original vertices in the canonical
    labelling is returned.
    ``labelling=1`` gives directed graphs as labelled before (``u → e → v`` on a nauty
    digraph, whose search did not end on some dense digraphs of 6–7 nodes).
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
    elif symmetric or labelling < 2:
        edge_class, n_edge_classes = _value_classes(weights[:, None])
        n_edges = len(weights)
        adjacency = {v: [] for v in range(n + n_edges)}
        for k, (u, v) in enumerate(zip(src.tolist(), dst.tolist())):
            adjacency[u].append(n + k)
            adjacency[n + k].append(v)
        cells += [set((n + np.flatnonzero(edge_class == c)).tolist()) for c in range(n_edge_classes)]
        g = nauty.Graph(n + n_edges, directed=not symmetric, adjacency_dict=adjacency,
                        vertex_coloring=cells)
    else:
        # nauty's search on the subdivided digraph explodes (a 7-node tournament never
        # returned), and one vertex per arc makes dense graphs of hundreds of nodes too big
        # for nauty's dense matrices: arcs go between undirected copies of the nodes
        edge_class, n_edge_classes = _value_classes(weights[:, None])
        code = edge_class + 1
        n_layers = int(n_edge_classes).bit_length()
        adjacency = {v: [] for v in range(n * (1 + 2 * n_layers))}
        for b in range(n_layers):
            tails, heads = n * (1 + 2 * b), n * (2 + 2 * b)
            for v in range(n):
                adjacency[v] += [tails + v, heads + v]
            on = (code >> b) & 1 == 1
            for u, v in zip(src[on].tolist(), dst[on].tolist()):
                adjacency[tails + u].append(heads + v)
            cells += [set(range(tails, tails + n)), set(range(heads, heads + n))]
        g = nauty.Graph(n * (1 + 2 * n_layers), directed=False, adjacency_dict=adjacency,
                        vertex_coloring=cells)
    lab = np.asarray(nauty.canon_label(g), dtype=np.int64)
    return lab[lab < n]


def _ranks(keys):
    """Dense ranks of hashable keys, by sorted order (independent of node order)."""
    uniq = sorted(set(keys))
    lookup = {k: r for r, k in enumerate(uniq)}
    return [lookup[k] for k in keys]


def _refine_v1(A, colours):
    """1-WL colour refinement by neighbour colours only (``labelling=1``)."""
    n = len(colours)
    nbrs = [np.flatnonzero(A[v]) for v in range(n)]
    while True:
        keys = [(colours[v], tuple(sorted(colours[u] for u in nbrs[v]))) for v in range(n)]
        new = _ranks(keys)
        if len(set(new)) == len(set(colours)):
            return new
        colours = new


def _refiner(A):
    """1-WL colour refinement of the graph ``A`` to a stable partition (colours are
    canonical ranks): a node's key is its colour, its self-loop value and the sorted
    ``(weight, colour)`` pairs of its out-neighbours, then of its in-neighbours.

    What every node shares is left out of the key, which keeps the ranks of the full key:
    in-neighbours of a symmetric ``A``, weights when all edges have one, self-loops when
    there are none (so those graphs refine as with ``labelling=1``)."""
    B = np.array(A, dtype=np.float64)
    loops = np.diag(B).tolist()
    np.fill_diagonal(B, 0)
    values = B[B != 0]
    weighted = values.size > 0 and bool((values != values[0]).any())

    def neighbours(M):
        if weighted:
            return [[(row[u], u) for u in np.flatnonzero(M[v]).tolist()] for v, row in enumerate(M.tolist())]
        return [np.flatnonzero(row).tolist() for row in M]

    lists = [neighbours(B)] if bool((B == B.T).all()) else [neighbours(B), neighbours(B.T)]
    loop_keys = [(x,) for x in loops] if any(loops) else [()] * len(B)

    def refine(colours):
        while True:
            if weighted:
                around = [tuple(tuple(sorted((w, colours[u]) for w, u in nb[v])) for nb in lists)
                          for v in range(len(colours))]
            else:
                around = [tuple(tuple(sorted(colours[u] for u in nb[v])) for nb in lists)
                          for v in range(len(colours))]
            keys = [(colours[v],) + loop_keys[v] + around[v] for v in range(len(colours))]
            new = _ranks(keys)
            if len(set(new)) == len(set(colours)):
                return new
            colours = new

    return refine


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


def canonical_order(A, F, return_exact=False, labelling=LABELLING):
    """Node order giving the canonical form of the graph ``(A, F)`` by the pure-Python
    search (see :class:`GraphCanonicalizer`); with ``return_exact``, also whether the
    search finished within :data:`MAX_LEAVES` leaves (if not, the order is the best found
    so far: deterministic, not guaranteed canonical). ``labelling=1`` refines by neighbour
    colours only, as before edge weights, directions and self-loops were read."""
    A = np.asarray(A)
    n = len(A)
    refine = _refiner(A) if labelling >= 2 else (lambda colours: _refine_v1(A, colours))
    if n == 0:
        order = np.zeros(0, dtype=np.int64)
        return (order, True) if return_exact else order
    feature_class, _ = _value_classes(np.column_stack([F, np.zeros(n)]) if F.size else np.zeros((n, 1)))
    start = _ranks([(int(feature_class[v]), int(np.count_nonzero(A[v]))) for v in range(n)])
    best = {"key": None, "order": None, "leaves": 0}
    automorphisms = []   # found automorphisms σ of (A, F), as arrays: node v ↦ σ[v]

    def search(colours, path):
        colours = refine(colours)
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
