"""The module of end-to-end image classifiers: ``f(x) = r(h(x)⁻¹·x)`` on images.

Kaba et al.'s image setting: the canonicalization network ``h`` of
:mod:`skcanon.nn._images` (C_n, D_n or SO(2)) and a convolutional backbone ``r`` are
trained together on the cross-entropy of the class scores. While training, the canonical
image is ``h``'s differentiable (straight-through) canonical form, so the task loss reaches
the frame network; in eval mode (prediction, validation) it is the hard canonical form of
:meth:`~skcanon.nn.FrameNetwork.canonicalize`, the one
``CanonicalizerTransformer(method="learned")`` gives, so the class scores are invariant
exactly for quarter turns and mirrors and up to resampling error for other angles.

:class:`~skcanon.EndToEndEquivariantClassifier` builds this module instead of the point-set
:class:`~skcanon._end_to_end.InvariantModule` when ``module__layout`` is an
:class:`~skcanon.layouts.ImageLayout` (or ``"image"``).
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from .groups import get_group
from .groups._images import act_on_images
from .layouts import ImageLayout, as_layout
from .nn._anchored_images import AnchoredImageFrame
from .nn._conv import ConvBackbone
from .nn._images import build_image_network, is_planar_rotation_group, planar_steps

__all__ = ["ImageInvariantModule", "IMAGE_FRAMES"]

#: frames of the image module (``"symmetrize"`` is point-set only)
IMAGE_FRAMES = ("learned", "anchored", "identity", "augment")


def module_positive_int(value, name):
    """``value`` as an int, or a ValueError naming ``module__<name>`` (shared by both
    end-to-end modules)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"module__{name} must be a positive int; got {value!r}.")
    return int(value)


class ImageInvariantModule(nn.Module):
    """``f(x) = r(h(x)⁻¹·x)`` on images: class scores invariant to rotations (and mirrors).

    Parameters (reach them as ``module__<name>``)
    ----------
    group : str or Group, default="C4"
        ``"C4"``, ``"C8"``, any C_n or D_n (``"D4"``), or ``"SO2"``.
    layout : ImageLayout or "image", default=None
        The images' layout (``None``: ``ImageLayout()``); its shape is resolved by ``fit``.
    image_shape : tuple of int
        ``(C, H, W)``, set by ``fit`` from ``X``.
    n_classes : int
        Set by ``fit`` from ``y``.
    hidden : int, default=64
        Width of the frame network (``max(2, hidden // 4)`` channels per group element, as
        for ``CanonicalizerTransformer(method="learned")``).
    backbone : "cnn" or callable, default="cnn"
        ``"cnn"``: :class:`~skcanon.nn.ConvBackbone` (two 3×3 convolutions of 32 and 64
        channels with 2×2 max pooling, a hidden layer of ``backbone_hidden`` units). A
        callable ``backbone(image_shape, n_classes)`` returning a torch module that maps
        ``(n, C, H, W)`` images to ``(n, n_classes)`` scores uses your own network (a
        ResNet, say); it need not respect any symmetry.
    backbone_hidden : int, default=128
        Hidden width of the ``"cnn"`` backbone.
    frame : {"learned", "anchored", "identity", "augment"}, default="learned"
        ``"learned"``: the frame network, trained with the backbone. ``"anchored"``: the
        moments heuristic's frame plus the frame network's scores times a gain that starts
        at 0 (:class:`~skcanon.nn._anchored_images.AnchoredImageFrame`): untrained, the
        backbone reads the heuristic's canonical images. ``"identity"``: the
        plain backbone (e.g. behind a heuristic ``CanonicalizerTransformer`` in a
        ``Pipeline``). ``"augment"``: a random group element per training image and step,
        the identity at prediction (invariant only approximately).
    """

    def __init__(self, group="C4", layout=None, image_shape=None, n_classes=2, hidden=64, backbone="cnn",
                 backbone_hidden=128, frame="learned"):
        super().__init__()
        self.group = get_group(group)
        if planar_steps(self.group) is None and not is_planar_rotation_group(self.group):
            raise ValueError(f"module__group {self.group.name!r} does not act on images; end-to-end image "
                             "classification supports C_n ('C4', 'C8'), D_n ('D4') and 'SO2'.")
        self.layout = as_layout(layout, ImageLayout())
        if not isinstance(self.layout, ImageLayout):
            raise TypeError(f"module__layout must be an ImageLayout or 'image' here; got {layout!r}.")
        if image_shape is None:
            image_shape = self.layout.shape
        if image_shape is None:
            raise ValueError("module__image_shape is unknown: fit sets it from X (or pass "
                             "module__layout=ImageLayout((C, H, W))).")
        if len(tuple(image_shape)) != 3:
            raise ValueError(f"module__image_shape must be (C, H, W); got {image_shape!r}.")
        self.image_shape = tuple(module_positive_int(s, "image_shape entries") for s in image_shape)
        self.n_classes = module_positive_int(n_classes, "n_classes")
        if frame not in IMAGE_FRAMES:
            raise ValueError(f"module__frame must be one of {IMAGE_FRAMES} for images; got {frame!r}.")
        self.frame = frame
        self.frame_net = None
        if frame == "learned":
            self.frame_net = build_image_network(self.group, ImageLayout(self.image_shape),
                                                 module_positive_int(hidden, "hidden"))
        elif frame == "anchored":
            self.frame_net = AnchoredImageFrame(self.group, ImageLayout(self.image_shape),
                                                module_positive_int(hidden, "hidden"))
        if backbone == "cnn":
            self.backbone = ConvBackbone(self.image_shape, self.n_classes,
                                         module_positive_int(backbone_hidden, "backbone_hidden"))
        elif callable(backbone) and not isinstance(backbone, str):
            self.backbone = backbone(self.image_shape, self.n_classes)
            if not isinstance(self.backbone, nn.Module):
                raise TypeError(f"module__backbone(image_shape, n_classes) must return a torch.nn.Module; "
                                f"got {type(self.backbone).__name__}.")
        else:
            raise ValueError(f"module__backbone must be 'cnn' or a callable (image_shape, n_classes) -> "
                             f"torch module for images; got {backbone!r}.")

    def canonical_images(self, x):
        """The images the backbone reads: canonical (learned, anchored), as given, or moved
        (augment)."""
        if self.frame_net is not None:
            if self.training:
                return self.frame_net.soft_canonicalize(x)
            return self.frame_net.canonicalize(x)[0]
        if self.frame == "augment" and self.training:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())   # from fit's seeded generator
            g = self.group.sample(x.shape[0], seed)
            return act_on_images(self.group, g, x)
        return x

    def forward(self, X):
        x = X.reshape((X.shape[0],) + self.image_shape)
        logits = self.backbone(self.canonical_images(x))
        if logits.ndim != 2 or logits.shape[1] != self.n_classes:
            raise ValueError(f"The backbone must return (n_samples, {self.n_classes}) class scores; "
                             f"got shape {tuple(logits.shape)}.")
        return logits
