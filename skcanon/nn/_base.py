"""The base class of every learned canonicalization network (Kaba et al., ICML 2023).

A :class:`FrameNetwork` is a small torch module that maps a batch of samples (the
layout's *working array*: ``(n, n_points, width)`` for points, ``(n, C, H, W)`` for
images) to one group element per sample, ``h(x)``, with ``h(g·x) = g·h(x)`` exactly (up
to float error). The canonical form ``h(x)⁻¹·x`` is then invariant.

Three methods make the contract shared by every family (points, permutations, images):

* :meth:`FrameNetwork.canonicalize` — hard and exact, used by ``transform``;
* :meth:`FrameNetwork.soft_canonicalize` — differentiable, used while training;
* :meth:`FrameNetwork.prior_loss` — the identity prior of Mondal et al. (NeurIPS 2023).
"""

from __future__ import annotations

import torch

from .._kernels.pca import FLAT_EPS

__all__ = ["FrameNetwork"]


class FrameNetwork(torch.nn.Module):
    """Equivariant network choosing a group element per sample.

    Subclasses implement :meth:`canonicalize` and :meth:`prior_loss`, and override
    :meth:`soft_canonicalize` when the hard canonical form is not differentiable
    (discrete groups).

    Parameters
    ----------
    group : Group
        The group (or product group) the network canonicalizes.
    layout : PointLayout or ImageLayout
        Layout of the input working arrays.
    hidden : int, default=64
        Width of the hidden layers.

    Attributes
    ----------
    group : Group
    layout : PointLayout or ImageLayout
    hidden : int
    """

    def __init__(self, group, layout, hidden=64):
        super().__init__()
        self.group = group
        self.layout = layout
        self.hidden = int(hidden)

    def canonicalize(self, x):
        """Hard, exact canonicalization used at ``transform``.

        Parameters
        ----------
        x : torch.Tensor
            The layout's working array, float.

        Returns
        -------
        x_canonical : torch.Tensor, same shape as ``x``
            ``h(x)⁻¹·x``.
        frames : torch.Tensor or tuple of torch.Tensor
            ``h(x)`` in skcanon's element format for :attr:`group`: rotation matrices
            ``(n, d, d)``, homogeneous matrices ``(n, d+1, d+1)``, permutation index arrays
            ``(n, m)`` (``x_canonical = x[frames]`` per sample), ints ``(n,)`` for C_n/D_n,
            a tuple in factor order for product groups.
        """
        raise NotImplementedError

    def frames(self, x):
        """The group elements ``h(x)`` (see :meth:`canonicalize`)."""
        return self.canonicalize(x)[1]

    def soft_canonicalize(self, x):
        """Differentiable canonical form (same shape as ``x``) used in training.

        The default returns the hard canonical form, which is differentiable for
        continuous groups; discrete groups override it with a relaxation.
        """
        return self.canonicalize(x)[0]

    def prior_loss(self, x):
        """Scalar identity-prior loss: small when the chosen element is the identity."""
        raise NotImplementedError

    def forward(self, x):
        return self.soft_canonicalize(x)


def coincident_floor(f):
    """Per sample, the squared spread under which the points of ``f`` (``(n, m, k)``
    coordinates as given, absent points zero) coincide up to rounding: centring equal
    points leaves last-bit noise, which normalizing to unit spread would blow up into
    axis-aligned "shape". ``(FLAT_EPS · eps · largest |coordinate|)²``, the rounding count
    the heuristics' :func:`~skcanon._kernels.pca.flat_rtol` uses."""
    eps = torch.finfo(f.dtype).eps
    return (FLAT_EPS * eps * f.detach().abs().amax(dim=(1, 2))) ** 2


def safe_sqrt(v):
    """``sqrt(v)`` where ``v > 0`` and 1 elsewhere, with finite gradients everywhere.

    ``torch.where(v > 0, v.sqrt(), 1)`` is not enough: the unused branch still
    back-propagates ``d sqrt(0) = inf`` (times 0 = NaN) into the weights. Used for the
    per-sample scales that normalize networks, which are 0 for clouds of equal points,
    single points or blank images.
    """
    return torch.where(v > 0, v, torch.ones_like(v)).sqrt()
