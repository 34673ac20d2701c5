"""Exact canonical labelling of small graphs (S_n acting on a GraphLayout)."""

from __future__ import annotations

import numpy as np

from ._base import Canonicalizer

#: most leaves the individualization search visits per graph before falling back
MAX_LEAVES = 20000


class GraphCanonicalizer(Canonicalizer):
    """S_n on graphs: colour refinement, then the lexicographically smallest labelling.

    Node colours start from the node features and degree and are refined by the multiset
    of neighbour colours (1-WL) until stable; colour classes give the coarse order. Ties
    are settled by individualization–refinement: each node of the first non-trivial class
    is tried in turn, refinement is rerun, and among the resulting discrete labellings the
    one with the lexicographically smallest (adjacency, features) encoding is kept. That is
    an exact canonical form — isomorphic graphs get identical outputs — as long as the
    search stays below ``MAX_LEAVES`` leaves per graph (always for graphs of up to ~10
    nodes; highly symmetric large graphs may hit it, and then the remaining ties go by
    input index, which is deterministic but no longer invariant). Absent nodes go last.
    Cost: one Python-level search per graph (graphs are small).
    """

    method = "wl"
    priority = 3

    def check_layout(self, layout):
        if getattr(layout, "kind", None) != "graph":
            raise ValueError(f"method='wl' canonicalizes graphs (layout=GraphLayout()); got {layout!r}.")
        self.group.check_layout(layout)

    def frames(self, P, layout):
        adj_sl = layout.slice_of("adj")
        feat = P[:, :, layout.width - layout.n_node_features:] if layout.n_node_features else None
        out = np.empty(P.shape[:2], dtype=np.int64)
        for i in range(P.shape[0]):
            present = ~np.isnan(P[i]).all(axis=1) if layout.padding == "nan" else _present_zero(P[i], layout)
            idx = np.flatnonzero(present)
            A = P[i][np.ix_(idx, idx + adj_sl.start)]
            F = feat[i][idx] if feat is not None else np.zeros((len(idx), 0))
            order = idx[canonical_order(A, F)]
            out[i] = np.concatenate([order, np.flatnonzero(~present)])
        return out


def _present_zero(rows, layout):
    # with zero padding a node is absent when its row is all zero AND no edge points to it;
    # isolated nodes with zero features are indistinguishable from padding, so we keep the
    # convention that padding rows come after every real node of the input
    nonzero = np.any(rows != 0, axis=1)
    last = np.flatnonzero(nonzero)
    n_real = last[-1] + 1 if last.size else 0
    present = np.zeros(len(rows), bool)
    present[:n_real] = True
    return present


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


def canonical_order(A, F):
    """Node order giving the canonical form of the graph ``(A, F)`` (see the class docstring)."""
    n = len(A)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    start = _ranks([(tuple(np.round(F[v], 12).tolist()), int(A[v].sum())) for v in range(n)])
    best = {"key": None, "order": None, "leaves": 0}

    def search(colours):
        colours = _refine(A, colours)
        if len(set(colours)) == n or best["leaves"] >= MAX_LEAVES:
            order = np.lexsort((np.arange(n), colours))
            best["leaves"] += 1
            key = _encode(A, F, order)
            if best["key"] is None or key < best["key"]:
                best["key"], best["order"] = key, order
            return
        counts = np.bincount(colours)
        target = int(np.flatnonzero(counts > 1)[0])  # first non-trivial class, canonically
        for v in np.flatnonzero(np.asarray(colours) == target):
            # individualize v: it gets a colour just below its class, others keep theirs
            new = [2 * c + (0 if u == v else 1) for u, c in enumerate(colours)]
            search(_ranks(new))

    search(start)
    return best["order"]
