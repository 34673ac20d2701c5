"""A message-passing backbone for point sets (permutation-equivariant, not E(d)-equivariant).

Used as the task network ``r`` of canonicalized models ``f(x) = h(x)·r(h(x)⁻¹·x)``: the frame
``h`` removes rotations and translations, so ``r`` need not respect them, and a backbone that
is only permutation-equivariant makes the whole model E(d)×S_n-equivariant. Compared with
an MLP on the flattened points it shares its weights across points and pairs, which is what
lets GNN-style models learn pairwise interactions (n-body forces) from a few thousand
systems.

Each layer sends a message along every ordered pair ``(i, j)`` of distinct *present* points
(a fully connected graph; absent, all-NaN points neither send nor receive):

``m_ij = φ_e(h_i, h_j, e_ij)``, ``h_i ← h_i + φ_h(h_i, Σ_j m_ij)``

with edge features ``e_ij``: for every position field the relative position ``x_i − x_j``
and its squared length, and for every scalar field the product ``s_i s_j`` (e.g. the
product of two charges, the sign of a Coulomb interaction). Nodes start from an MLP on all
columns of their point, and a per-point MLP reads the outputs. No feature depends on a
point's index, so permuting the input points permutes the outputs the same way.

Cost and memory are ``O(n_points²)`` per sample and layer: meant for systems of tens of
points, not for 1,000-point clouds.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from ._points import present_mask

__all__ = ["MessagePassingBackbone"]


class MessagePassingBackbone(nn.Module):
    """Fully connected message passing over the present points of each sample.

    Parameters
    ----------
    layout : PointLayout
        What each point carries; position fields give relative-position edge features,
        scalar fields give product edge features, and every column is a node feature.
    n_outputs : int
        Output columns per point.
    hidden : int, default=64
        Width of node states, messages and every hidden layer.
    n_layers : int, default=3
        Message-passing layers.

    Notes
    -----
    Input ``(n, n_points, layout.width)``, float, absent points as all-NaN rows; output
    ``(n, n_points, n_outputs)`` with NaN rows at absent points.

    Examples
    --------
    >>> import torch
    >>> from skcanon.layouts import PointLayout
    >>> from skcanon.nn import MessagePassingBackbone
    >>> net = MessagePassingBackbone(PointLayout(3), n_outputs=3, hidden=16, n_layers=2)
    >>> net(torch.randn(4, 5, 3)).shape
    torch.Size([4, 5, 3])
    """

    def __init__(self, layout, n_outputs, hidden=64, n_layers=3):
        super().__init__()
        for name, value in (("n_outputs", n_outputs), ("hidden", hidden), ("n_layers", n_layers)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"MessagePassingBackbone {name} must be a positive int; got {value!r}.")
        if getattr(layout, "kind", None) != "points":
            raise TypeError(f"MessagePassingBackbone needs a PointLayout; got {layout!r}.")
        self.layout = layout
        self.n_outputs, self.hidden, self.n_layers = int(n_outputs), int(hidden), int(n_layers)
        self.position_slices = layout.slices("position")
        self.scalar_slices = layout.slices("scalar")
        n_edge = (layout.n_dims + 1) * len(self.position_slices)
        n_edge += sum(s.stop - s.start for s in self.scalar_slices)
        H = self.hidden
        self.embed = nn.Sequential(nn.Linear(layout.width, H), nn.SiLU(), nn.Linear(H, H))
        self.layers = nn.ModuleList(_MessageLayer(H, n_edge) for _ in range(self.n_layers))
        self.readout = nn.Sequential(nn.Linear(H, H), nn.SiLU(), nn.Linear(H, self.n_outputs))

    def edge_features(self, x0):
        """``(n, m, m, n_edge)`` features of the ordered pairs ``(i, j)``."""
        feats = []
        for sl in self.position_slices:
            p = x0[..., sl]
            rel = p[:, :, None, :] - p[:, None, :, :]
            feats += [rel, (rel * rel).sum(-1, keepdim=True)]
        for sl in self.scalar_slices:
            s = x0[..., sl]
            feats.append(s[:, :, None, :] * s[:, None, :, :])
        return torch.cat(feats, -1)

    def forward(self, x):
        if x.ndim != 3 or x.shape[2] != self.layout.width:
            raise ValueError(f"MessagePassingBackbone expects input of shape (n, n_points, "
                             f"{self.layout.width}) for {self.layout!r}; got {tuple(x.shape)}.")
        mask = present_mask(x)
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        x0 = torch.where(mask[..., None], x, zero)
        m = x.shape[1]
        # pair (i, j) exchanges a message when both points are present and i != j
        not_self = ~torch.eye(m, dtype=torch.bool, device=x.device)
        pair = (mask[:, :, None] & mask[:, None, :] & not_self).to(x.dtype)[..., None]
        edges = self.edge_features(x0)
        h = self.embed(x0)
        for layer in self.layers:
            h = layer(h, edges, pair)
        out = self.readout(h)
        return torch.where(mask[..., None], out, torch.full((), float("nan"), dtype=x.dtype, device=x.device))


class _MessageLayer(nn.Module):
    """One round: edge MLP on (h_i, h_j, e_ij), masked sum over j, residual node update."""

    def __init__(self, hidden, n_edge):
        super().__init__()
        H = hidden
        # the first edge layer is split by input so that the node terms are computed once
        # per point rather than once per pair
        self.edge_i = nn.Linear(H, H)
        self.edge_j = nn.Linear(H, H, bias=False)
        self.edge_e = nn.Linear(n_edge, H, bias=False)
        self.edge_out = nn.Sequential(nn.SiLU(), nn.Linear(H, H), nn.SiLU())
        self.node = nn.Sequential(nn.Linear(2 * H, H), nn.SiLU(), nn.Linear(H, H))

    def forward(self, h, edges, pair):
        pre = self.edge_i(h)[:, :, None, :] + self.edge_j(h)[:, None, :, :] + self.edge_e(edges)
        messages = (self.edge_out(pre) * pair).sum(2)
        return h + self.node(torch.cat([h, messages], -1))
