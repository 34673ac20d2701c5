"""Anchored image frames: the moments heuristic's frame, corrected by a learned network.

The point-set anchored networks (:class:`~skcanon.nn._points.AnchoredPointNetwork`) learn a
residual rotation on the heuristic's canonical form. Images would then be resampled twice
(heuristic, then residual), and every non-quarter turn blurs them; here the anchor is added
where the frame is *chosen* instead, so each image is resampled once:

* C_n / D_n: the frame is the argmax of ``onehot(h_moments(x)) + gain · ŝ(x)``, with
  ``ŝ`` the learned network's scores per group element divided by their mean magnitude.
* SO(2): the frame angle is that of ``e(θ_moments(x)) + gain · v₁(x) / scale``, with
  ``e(θ)`` the unit vector at the heuristic's angle and ``v₁`` the first circular harmonic
  of the network's orientation scores (see :class:`~skcanon.nn._images.SO2ImageNetwork`).

Both terms move with the image (the heuristic is equivariant, the network too), so their sum
does; ``gain`` starts at 0, where the frame *is* the heuristic's (its tie rules included, so
symmetric and blank images get its canonical forms), and training moves it only as far as
the loss pays. At gain 0 only ``gain`` receives a gradient; once it leaves 0 the network
trains as well (a zero-initialised residual gate).
"""

from __future__ import annotations

import torch

from ..canonicalizers._heuristics import MomentsCanonicalizer
from ..groups import get_group, rotation_matrices_2d
from ..groups._images import bilinear_rotate_images
from ..layouts import ImageLayout
from ._base import FrameNetwork
from ._images import (build_image_network, element_frames, element_prior_loss, inverse_act, planar_steps,
                      straight_through_canonical)

__all__ = ["AnchoredImageFrame"]

#: relative size below which a summed SO(2) direction counts as zero (the heuristic's angle
#: is kept): learned and anchor terms cancelling exactly leave no direction to read
_TINY = 1e-6


class AnchoredImageFrame(FrameNetwork):
    """Moments heuristic frame plus a learned, gated correction (C_n, D_n, SO(2) on images).

    The frame network of ``CanonicalizerTransformer(method="anchored", layout="image")`` and
    of ``EndToEndEquivariantClassifier(module__frame="anchored")`` with an image layout.

    Parameters
    ----------
    group : str or Group
        ``"C4"``, ``"C8"``, any C_n or D_n, or ``"SO2"``.
    layout : ImageLayout
        Its ``shape`` fixes the number of channels.
    hidden : int, default=64
        Width of the learned image network (as for ``build_image_network``).
    **kwargs
        Passed on to :func:`~skcanon.nn._images.build_image_network`.

    Attributes
    ----------
    net : FrameNetwork
        The learned image network whose scores correct the heuristic.
    gain : torch.nn.Parameter
        The trained gate, 0 at construction; the learned term is weighted by
        ``GAIN_RATE · gain`` (:meth:`weight`).
    """

    #: factor between the trained parameter ``gain`` and the weight of the learned term:
    #: Adam moves a parameter by about the learning rate per step, so the factor sets how
    #: far from the anchor a training budget can reach
    GAIN_RATE = 1.0

    def __init__(self, group, layout, hidden=64, **kwargs):
        super().__init__(get_group(group), layout, hidden)
        self.finite = planar_steps(self.group) is not None
        self.net = build_image_network(self.group, layout, hidden, **kwargs)
        self.heuristic = MomentsCanonicalizer(self.group)
        self.gain = torch.nn.Parameter(torch.zeros(()))

    def heuristic_frames(self, x):
        """The moments heuristic's frames of ``x`` (numpy): element indices (C_n, D_n) or
        rotation matrices ``(n, 2, 2)`` (SO(2)), on the CPU from ``x``'s values as given
        (float32 inside the classifier; moments summed in float64; tie rules included)."""
        return self.heuristic.frames(x.detach().cpu().numpy(), ImageLayout())

    def weight(self):
        """The weight of the learned term: ``GAIN_RATE · gain`` (0 at construction)."""
        return self.GAIN_RATE * self.gain

    def learned_scores(self, x):
        """The network's scores per element divided by their mean magnitude ``(n, |G|)``
        (C_n, D_n): the learned term that ``gain`` weighs against the one-hot anchor."""
        s = self.net.scores(x)
        return s / (s.abs().mean(dim=1, keepdim=True) + torch.finfo(s.dtype).tiny)

    def learned_direction(self, x):
        """The network's first circular harmonic divided by the orientation scores' L1 norm
        ``(n, 2)`` (SO(2)): the learned term that ``gain`` adds to the heuristic's unit
        direction (at most 1 in length, 0 for images whose scores do not vary)."""
        v1, _, scale = self.net.harmonics(x)
        return v1 / (scale[:, None] + torch.finfo(x.dtype).tiny)

    def _scores(self, x):
        """Anchored scores per group element ``(n, |G|)`` (C_n, D_n)."""
        s = self.learned_scores(x)
        anchor = torch.zeros_like(s)
        h = torch.as_tensor(self.heuristic_frames(x), dtype=torch.long, device=x.device)
        anchor[torch.arange(s.shape[0], device=x.device), h] = 1.0
        return anchor + self.weight().to(s.dtype) * s

    def angles(self, x):
        """Frame angle per image ``(n,)`` (SO(2)), differentiable in ``gain`` and the network."""
        E = torch.as_tensor(self.heuristic_frames(x), dtype=x.dtype, device=x.device)
        theta0 = torch.atan2(E[:, 1, 0], E[:, 0, 0])
        u = torch.stack([torch.cos(theta0), torch.sin(theta0)], 1)
        u = u + self.weight().to(x.dtype) * self.learned_direction(x)
        ok = torch.linalg.vector_norm(u, dim=1) > _TINY
        safe = torch.where(ok[:, None], u, torch.ones_like(u))  # atan2's gradient at 0 is NaN
        return torch.where(ok, torch.atan2(safe[:, 1], safe[:, 0]), theta0)

    def frames(self, x):
        """Element indices ``(n,)`` int64 (C_n, D_n) or rotation matrices ``(n, 2, 2)``
        float64 (SO(2)); ties between elements are settled as in the networks."""
        with torch.no_grad():
            if self.finite:
                return element_frames(self.group, self._scores(x), x)
            return torch.as_tensor(rotation_matrices_2d(self.angles(x).double().cpu().numpy()))

    def canonicalize(self, x):
        """Hard canonical form ``(group.act(inverse(h), x), h)`` with skcanon's image action."""
        h = self.frames(x)
        return inverse_act(self.group, h, x), h.to(x.device)

    def soft_canonicalize(self, x):
        """Differentiable canonical form. C_n, D_n: the hard canonical image with the
        gradient of the softmax-weighted mixture of all inversely moved copies
        (straight-through). SO(2): the image rotated back by the anchored angle (bilinear)."""
        if not self.finite:
            return bilinear_rotate_images(x, -self.angles(x))
        return straight_through_canonical(self.group, self._scores(x), x, self.net.temperature)

    def prior_loss(self, x, elements=None):
        """The identity prior on the anchored frame: small when the frame of ``x`` is
        ``elements`` (default: the identity). C_n, D_n: cross-entropy of the anchored scores
        (at the network's temperature); SO(2): ``mean(1 - cos(θ - t))`` of the anchored angle
        ``θ`` and the angles ``t`` (radians). With ``x, elements = self.moves(x)`` it asks for
        ``h(g·x) = g`` (see :meth:`~skcanon.nn._images.GroupConvImageNetwork.moves`). Where the
        heuristic already gives the wanted frame the gain stays near 0; elsewhere the prior
        pays for moving away from it."""
        if self.finite:
            return element_prior_loss(self._scores(x) / self.net.temperature, elements)
        theta = self.angles(x)
        t = torch.zeros_like(theta) if elements is None else torch.as_tensor(
            elements, dtype=theta.dtype, device=theta.device)
        return (1.0 - torch.cos(theta - t)).mean()

    def moves(self, x, random=True):
        """``(g·x, g)``: the learned network's moves (group elements or angles)."""
        return self.net.moves(x, random=random)

    def extra_repr(self):
        return f"group={self.group.name}, anchor=moments, gain={float(self.gain.detach()):.4g}"

