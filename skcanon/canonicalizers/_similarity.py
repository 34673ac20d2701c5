"""Sim(d): centre, normalize the size, then the PCA frame of the rigid motions.

One concern: the ``pca`` canonicalizer of groups that rotate, translate and rescale.
"""

from __future__ import annotations

import numpy as np

from .._kernels.fields import attached_radius, divide_geometric, geometric_points, rescale_points
from .._kernels.pca import flat_rtol, rounding_unit
from ..groups import EuclideanGroup
from ._base import Canonicalizer
from ._heuristics import PCACanonicalizer


class SimilarityPCACanonicalizer(Canonicalizer):
    """Sim(d) / SSim(d) by centroid, root-mean-square radius and principal axes.

    Frame: ``[[s(x)·E(x), c(x)], [0, 1]]`` with ``c`` the centroid of the present points,
    ``s`` their root-mean-square distance from it (when they all coincide, the RMS norm of
    the other vector and position fields, else 1) and ``E`` the
    PCA frame of :class:`PCACanonicalizer` for E(d)/SE(d), which does not depend on size.
    ``h(g·x) = g·h(x)`` for every similarity ``g``. Canonical forms have unit RMS radius.
    """

    method = "pca"

    @classmethod
    def supports(cls, group, layout=None):
        return (group.rotates and group.translates and group.rescales
                and (layout is None or getattr(layout, "kind", None) == "points"))

    @classmethod
    def default_for(cls, group, layout=None):
        return cls.supports(group) and getattr(layout, "kind", None) != "image"

    def __init__(self, group):
        super().__init__(group)
        self._rigid = PCACanonicalizer(EuclideanGroup(group.d, special=group.special))

    def check_layout(self, layout):
        self._rigid.check_layout(layout)

    def frames(self, P, layout):
        H = self._rigid.frames(P, layout)
        return self._scaled(P, layout, H)[0]

    def canonicalize(self, P, layout):
        """The rigid canonical form (its fast path included) divided by the radius, in
        float64, so that tiny samples (a radius near the dtype's underflow) neither overflow
        nor lose their frames to an inverted matrix."""
        out, H = self._rigid.canonicalize(P, layout)
        H, s = self._scaled(P, layout, H)
        return divide_geometric(out, layout, s), H

    def _scaled(self, P, layout, H):
        """The rigid frames ``H`` with their linear part multiplied by the radius, and it."""
        H = np.array(H, dtype=np.float64)
        Y, w, _ = geometric_points(P, layout)
        # the radius from points rescaled to a largest norm of 1 (no overflow or underflow
        # in the squares, whatever the input's magnitude), then scaled back
        Y, a = rescale_points(Y, w)
        c = H[:, : self.group.d, self.group.d] / a[:, None]
        spread = np.einsum("nm,nmd->n", w, (Y - c[:, None, :]) ** 2) / np.maximum(w.sum(axis=1), 1.0)
        magnitude = np.max(np.einsum("nmd,nmd->nm", Y, Y), axis=1)
        # spreads at rounding level (all points equal after a move) count as no spread
        spread_out = spread > flat_rtol(rounding_unit(P)) * magnitude
        s = np.where(spread_out, np.sqrt(spread) * a, 1.0)
        flat = np.flatnonzero(~spread_out)
        if flat.size and len(layout.fields) > 1:
            s[flat] = attached_radius(P[flat], layout, H[flat, : self.group.d, self.group.d])
        H[:, : self.group.d, : self.group.d] *= s[:, None, None]
        return H, s
