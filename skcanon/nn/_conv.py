"""A small convolutional backbone for images (the task network of end-to-end image models).

Used as ``r`` in ``f(x) = r(h(x)⁻¹·x)``: the frame network ``h`` turns each image into its
canonical pose, so ``r`` need not be rotation-equivariant; a plain CNN reads the canonical
image. Two 3×3 convolutions with ReLU, each followed by a 2×2 max pool while the image is
at least 2 pixels on a side, then a hidden layer and the output layer.
"""

from __future__ import annotations

import numbers

from torch import nn

__all__ = ["ConvBackbone"]


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}.")
    return int(value)


class ConvBackbone(nn.Module):
    """Convolutional classifier (or regressor) on ``(n, C, H, W)`` images.

    Parameters
    ----------
    in_shape : tuple of int
        ``(C, H, W)`` of the input images.
    n_outputs : int
        Output columns (class scores or targets).
    hidden : int, default=128
        Width of the fully connected hidden layer.
    channels : tuple of int, default=(32, 64)
        Output channels of the convolutions, one 3×3 convolution each.

    Examples
    --------
    >>> import torch
    >>> from skcanon.nn import ConvBackbone
    >>> net = ConvBackbone((1, 28, 28), n_outputs=10)
    >>> net(torch.zeros(4, 1, 28, 28)).shape
    torch.Size([4, 10])
    """

    def __init__(self, in_shape, n_outputs, hidden=128, channels=(32, 64)):
        super().__init__()
        try:
            c, h, w = (_positive(s, "in_shape entries") for s in in_shape)
        except TypeError:
            raise ValueError(f"in_shape must be (C, H, W); got {in_shape!r}.") from None
        n_outputs, hidden = _positive(n_outputs, "n_outputs"), _positive(hidden, "hidden")
        if isinstance(channels, numbers.Integral) or not len(channels):
            raise ValueError(f"channels must be a non-empty tuple of positive ints; got {channels!r}.")
        layers = []
        for k in channels:
            k = _positive(k, "channels entries")
            layers += [nn.Conv2d(c, k, 3, padding=1), nn.ReLU()]
            if min(h, w) >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c = k
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(),
                                  nn.Linear(hidden, n_outputs))

    def forward(self, x):
        return self.head(self.features(x))
