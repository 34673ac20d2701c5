"""Orbit-scored image networks: a plain CNN scores every turned-back copy of the image.

The equivariant networks of :mod:`skcanon.nn._images` score the group elements with one
steerable lifting layer and pooling. The networks here use the other construction of Kaba
et al. (ICML 2023), an exhaustive search over a finite orbit: the score of element ``k`` is

    ``s_k(x) = f(k⁻¹·x)``

for a small, *unconstrained* CNN ``f`` (three 3×3 convolutions, the last two with stride 2,
then one hidden layer). Then ``s_k(g·x) = f(k⁻¹g·x) = s_{g⁻¹k}(x)``: the scores shift by the
regular representation whatever ``f`` is, so the readouts of the equivariant networks apply
unchanged (:class:`~skcanon.nn._images.GroupConvImageNetwork`'s argmax and tie rule for
C_n/D_n; :class:`~skcanon.nn._images.SO2ImageNetwork`'s axis and direction from the circular
harmonics of ``n_orientations`` sampled angles for SO(2)). Each copy goes through the same
input step as the equivariant networks (pooling by 2 with centred blocks, division by the
root-mean-square intensity, the input disk) before ``f``.

Exactness is that of the image action: quarter turns and mirrors move the copies exactly, so
the scores permute up to float rounding and frames are exactly equivariant (with the
tolerant argmax on symmetric and blank images); other angles act by bilinear interpolation
and are equivariant approximately, as for the equivariant networks. The cost is one CNN pass
per group element (or sampled orientation) and image.

Where it is used: the learned canonicalizer builds these networks for the ``"prior"``
objective (upright training images, Mondal et al.'s setting), where they posed rotated
validation images better than the equivariant network (Fashion-MNIST validation split,
``benchmarks/choose_image_network.py``, variant ``orbit CNN``: +1.6 ± 1.7 accuracy points on
12 fresh runs, better in 10). With a task loss (``"supervised"``) they were worse (−0.9,
better in 2 of 6), so the task objectives keep the equivariant network.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..groups._images import rotate_images
from ._images import (_AngleReadout, _check_orientations, _ElementReadout, _ImageNetworkBase, _seed,
                      checked_image_network_args, is_planar_rotation_group, planar_steps,
                      straight_through_canonical, turned_back_copies)

__all__ = ["build_orbit_image_network", "OrbitImageNetwork", "OrbitSO2ImageNetwork"]

_SLOPE = 0.1
#: the CNN's last feature map is averaged onto this grid (the 28×28 images' own size there)
_GRID = 4


class _CopyScorer(torch.nn.Module):
    """The plain CNN ``f``: ``(m, C, h, w)`` normalised images → ``(m,)`` scores.

    Widths ``hidden/4, hidden/2, hidden/2`` (16, 32, 32 at the default 64), a hidden layer of
    ``hidden``. Every weight is drawn from ``generator`` (torch's default scheme for
    convolutional and linear layers), so the network depends on its seed alone.
    """

    def __init__(self, in_channels, hidden, generator):
        super().__init__()
        c1, c2 = max(2, hidden // 4), max(2, hidden // 2)
        self.convs = torch.nn.ModuleList([
            torch.nn.Conv2d(in_channels, c1, 3, padding=1),
            torch.nn.Conv2d(c1, c2, 3, stride=2, padding=1),
            torch.nn.Conv2d(c2, c2, 3, stride=2, padding=1)])
        self.hidden = torch.nn.Linear(c2 * _GRID * _GRID, hidden)
        self.out = torch.nn.Linear(hidden, 1)
        with torch.no_grad():
            for layer in (*self.convs, self.hidden, self.out):
                torch.nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(layer.weight[0].numel())
                layer.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, z):
        for conv in self.convs:
            z = F.leaky_relu(conv(z), _SLOPE)
        # position-aware, any image size: an average onto a fixed grid, not a global pool
        z = F.adaptive_avg_pool2d(z, _GRID).flatten(1)
        return self.out(F.leaky_relu(self.hidden(z), _SLOPE))[:, 0]


class _OrbitScoring:
    """Scores of turned-back copies ``(m, n, C, H, W)`` → ``(n, m)``."""

    def _build_scorer(self, seed):
        self.scorer = _CopyScorer(self.in_channels, self.hidden, torch.Generator().manual_seed(seed))

    def score_copies(self, copies):
        m, n = copies.shape[:2]
        z = self.normalised(copies.reshape(m * n, *copies.shape[2:]))
        return self.scorer(z).reshape(m, n).T


class OrbitImageNetwork(_OrbitScoring, _ElementReadout, _ImageNetworkBase):
    """C_n / D_n canonicalization network for images whose element scores come from a plain
    CNN applied to the image turned back by each element (see the module notes).

    Parameters
    ----------
    group : CyclicGroup or DihedralGroup
    layout : ImageLayout
        Its ``shape`` fixes the number of channels (``None``: one channel).
    hidden : int, default=64
        Width of the CNN (``hidden/4``, ``hidden/2``, ``hidden/2`` channels, a hidden layer
        of ``hidden`` units).
    temperature : float, default=1.0
        Softmax temperature of :meth:`soft_canonicalize`.
    seed : int or None, default=None
        Seed of the weight initialisation; ``None`` draws it from torch's global generator.

    Examples
    --------
    >>> import torch
    >>> from skcanon.groups import CyclicGroup
    >>> from skcanon.layouts import ImageLayout
    >>> from skcanon.nn._orbit_images import build_orbit_image_network
    >>> net = build_orbit_image_network(CyclicGroup(4), ImageLayout((28, 28)), seed=0)
    >>> x = torch.rand(5, 1, 28, 28)
    >>> x_canon, frames = net.canonicalize(x)
    >>> x_canon.shape, frames.shape
    (torch.Size([5, 1, 28, 28]), torch.Size([5]))
    """

    def __init__(self, group, layout, hidden=64, temperature=1.0, seed=None):
        steps = planar_steps(group)
        if steps is None:
            raise TypeError(f"OrbitImageNetwork handles finite rotation/mirror groups of images (C_n, D_n); "
                            f"got {group.name!r}.")
        super().__init__(group, layout, hidden, steps[0], steps[1])
        self.temperature = float(temperature)
        self._build_scorer(_seed(seed))

    def turned_back(self, x):
        """The candidate canonical forms ``(|G|, n, C, H, W)``: copy ``k`` is ``k⁻¹·x``."""
        return turned_back_copies(self.group, self._check(x), self.order)

    def scores(self, x):
        """One score per group element, ``(n, |G|)``; ``scores(g·x)[k] = scores(x)[g⁻¹k]``."""
        return self.score_copies(self.turned_back(x))

    def soft_canonicalize(self, x):
        """Straight-through canonical form (as the equivariant network's), with the copies
        built once for the scores and the mixture."""
        copies = self.turned_back(x)
        return straight_through_canonical(self.group, self.score_copies(copies), x, self.temperature, copies)


class OrbitSO2ImageNetwork(_OrbitScoring, _AngleReadout, _ImageNetworkBase):
    """SO(2) canonicalization network for images: a plain CNN scores the image turned back
    by each of ``n_orientations`` angles ``2πk/n``; the angle is read from those scores as in
    :class:`~skcanon.nn._images.SO2ImageNetwork` (axis from the second circular harmonic,
    direction from the first). Frames are ``(n, 2, 2)`` rotation matrices.

    Parameters
    ----------
    group : OrthogonalGroup
        ``OrthogonalGroup(2, special=True)``.
    layout : ImageLayout
    hidden : int, default=64
        Width of the CNN, as for :class:`OrbitImageNetwork`.
    n_orientations : int, default=8
        Sampled angles, at least 5 (the second harmonic needs them); a multiple of 4 keeps
        quarter turns exact.
    seed : int or None, default=None
    """

    def __init__(self, group, layout, hidden=64, n_orientations=8, seed=None):
        _check_orientations(n_orientations)
        if not is_planar_rotation_group(group):
            raise TypeError(f"OrbitSO2ImageNetwork handles SO(2) on images; got {group.name!r}.")
        super().__init__(group, layout, hidden, n_orientations, False)
        self._register_phasor()
        self._build_scorer(_seed(seed))

    def turned_back(self, x):
        """The image turned back by each sampled angle, ``(n_orientations, n, C, H, W)``."""
        x = self._check(x)
        n = x.shape[0]
        return torch.stack([rotate_images(x, torch.full((n,), -2 * math.pi * k / self.n_rot, dtype=x.dtype,
                                                        device=x.device))
                            for k in range(self.n_rot)])

    def orientation_scores(self, x):
        """One score per sampled orientation ``(n, n_orientations)``; shifts with rotations."""
        return self.score_copies(self.turned_back(x))


def build_orbit_image_network(group, layout, hidden=64, **kwargs):
    """The orbit-scored network for ``group`` on images in ``layout``: as
    :func:`skcanon.nn._images.build_image_network` (same groups and errors), with
    :class:`OrbitImageNetwork` (C_n, D_n) or :class:`OrbitSO2ImageNetwork` (SO(2)).
    ``kwargs``: ``seed`` and ``temperature`` (C_n/D_n) or ``n_orientations`` (SO(2))."""
    group = checked_image_network_args("build_orbit_image_network", group, layout, hidden)
    if planar_steps(group) is not None:
        return OrbitImageNetwork(group, layout, hidden, **kwargs)
    return OrbitSO2ImageNetwork(group, layout, hidden, **kwargs)
