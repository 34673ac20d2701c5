"""Invariants of graphs (S_n acting on a GraphLayout: rows and adjacency columns together)."""

from __future__ import annotations

import numpy as np

from ._base import Projection, fits


class GraphSpectrum(Projection):
    """Sorted Laplacian spectrum and sorted node features of each graph.

    ``f(G) = (λ_1 ≤ … ≤ λ_m of L = D − A, sort(features of each channel), n_nodes,
    n_edges)``, padded with NaN-free zeros up to the layout's ``n_nodes`` (absent nodes:
    all-NaN rows, or with ``padding="zero"`` all-zero rows, as
    :meth:`~skcanon.layouts.GraphLayout.present_nodes` reads them). Invariant to node relabelling; not lossless (cospectral graphs share it). Cost: one batched symmetric
    eigendecomposition of ``n_nodes × n_nodes`` matrices.

    The adjacency is read as :meth:`~skcanon.layouts.GraphLayout.encode` encodes graphs:
    a directed (asymmetric) array as its undirected version, where an edge in either
    direction is one undirected edge, of the weight of the one-way entry or the larger of
    the two (``max(A_ij, A_ji)`` for non-negative weights; symmetric arrays are unchanged),
    so a directed array and the encoding of the same ``DiGraph`` give the same features.
    ``n_edges`` counts each undirected edge and each self-loop once, as
    networkx's ``number_of_edges`` does (for weighted arrays: off-diagonal weight / 2 plus
    the diagonal); a self-loop does not change the Laplacian ``D − A``.
    """

    name = "spectrum"
    family = "graph"

    @classmethod
    def supports(cls, group, layout):
        # node relabellings (S_n) are what acts on graphs
        return getattr(layout, "kind", None) == "graph" and group.permutes and fits(group, layout)

    def transform(self, P):
        layout = self.layout
        present = layout.present_nodes(P)
        A = np.nan_to_num(P[:, :, layout.slice_of("adj")].astype(np.float64))
        A = A * present[:, :, None] * present[:, None, :]
        # a directed adjacency is read as its undirected version, as graphs are encoded (an
        # edge either way is one undirected edge): the symmetric eigensolver would read one
        # triangle, which relabelling changes. A one-way entry is kept whatever its sign, a
        # two-way pair gives its larger weight; symmetric arrays stay exactly as they are.
        At = A.transpose(0, 2, 1)
        A = np.where(At == 0, A, np.where(A == 0, At, np.maximum(A, At)))
        L = np.einsum("nij->ni", A)[:, :, None] * np.eye(A.shape[1]) - A
        # absent nodes have zero rows: they add zero eigenvalues, which sort first (with the
        # Laplacian's own zeros) where no weight is negative; move them last so graphs of
        # different sizes line up on their real spectrum
        n_absent = (~present).sum(axis=1)
        negative = (A < 0).any(axis=(1, 2)) & (n_absent > 0)
        if negative.any():
            # negative weights give negative eigenvalues, which sort before the absent nodes'
            # zeros: there the absent nodes' diagonal is set above every eigenvalue of the
            # present block (Gershgorin), so they sort last, and then read as 0
            bound = np.abs(L[negative]).sum(axis=2).max(axis=1)
            shift = np.where(bound > 0, 2.0 * bound, 1.0)
            absent = ~present[negative]
            L[negative] += (absent * shift[:, None])[:, :, None] * np.eye(L.shape[1])
        lam = np.linalg.eigvalsh(L)
        idx = (np.arange(lam.shape[1])[None, :] + np.where(negative, 0, n_absent)[:, None]) % lam.shape[1]
        lam = np.take_along_axis(lam, idx, axis=1)
        if negative.any():
            tail = np.arange(lam.shape[1])[None, :] >= (lam.shape[1] - n_absent)[:, None]
            lam = np.where(negative[:, None] & tail, 0.0, lam)
        parts = [lam]
        if layout.n_node_features:
            F = P[:, :, layout.width - layout.n_node_features:].astype(np.float64)
            F = np.where(present[:, :, None], F, np.inf)
            F = np.sort(F, axis=1)
            parts.append(np.where(np.isfinite(F), F, 0.0).transpose(0, 2, 1).reshape(len(P), -1))
        parts.append(present.sum(axis=1, keepdims=True).astype(np.float64))
        # each undirected edge is two off-diagonal entries, each self-loop one diagonal entry
        # (networkx's count); adding the trace only where there are loops keeps loop-free sums as they were
        loops = np.einsum("nii->n", A)
        total = A.sum(axis=(1, 2))
        parts.append(np.where(loops != 0, total + loops, total)[:, None] / 2)
        with np.errstate(over="ignore"):
            out = np.concatenate(parts, axis=1).astype(P.dtype if P.dtype.kind == "f" else np.float64)
        if not np.isfinite(out).all():
            raise ValueError(
                f"X has values up to {float(np.nanmax(np.abs(P))):.3g}: the Laplacian spectrum "
                f"overflows {out.dtype.name}, so method='spectrum' cannot return finite features; "
                "divide the edge weights and features by a constant."
            )
        return out

    def feature_names(self):
        m = self.layout.n_nodes
        names = [f"laplacian_eig_{i}" for i in range(m)]
        names += [f"sorted_feat{c}_{i}" for c in range(self.layout.n_node_features) for i in range(m)]
        return names + ["n_nodes", "n_edges"]

    @property
    def lossless(self):
        return False
