"""Torch networks for learned canonicalization, and the torch helpers they share (imported
lazily: torch is heavy).

:class:`FrameNetwork` is the shared base; :mod:`skcanon.nn._points` holds the O(d), SO(d),
E(d), SE(d), T(d) networks on point sets, :mod:`skcanon.nn._permutation` the S_n scoring
network and its composition with a rotation network, :mod:`skcanon.nn._images` the image
networks, and :mod:`skcanon.nn._factory` picks one from a group's capabilities and a layout
(:func:`~skcanon.nn._factory.build_frame_network`). :class:`MessagePassingBackbone`
(:mod:`skcanon.nn._message_passing`) is a task network, not a frame network: the
permutation-equivariant backbone of end-to-end canonicalized models; :class:`ConvBackbone`
(:mod:`skcanon.nn._conv`) is the small CNN behind end-to-end image classifiers.
:mod:`skcanon.nn._torch` holds seeding, device resolution and the interrupt rule of skorch
fits. Nothing here imports the canonicalizers: the heuristics' kernels come from
:mod:`skcanon._kernels`.
"""

from .._optional import import_torch

import_torch("skcanon.nn (the networks of method=\"learned\", \"random\" and \"anchored\")")

from ._base import FrameNetwork  # noqa: E402
from ._conv import ConvBackbone  # noqa: E402
from ._message_passing import MessagePassingBackbone  # noqa: E402

__all__ = ["FrameNetwork", "MessagePassingBackbone", "ConvBackbone"]
