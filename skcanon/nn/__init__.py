"""Torch networks for learned canonicalization (imported lazily: torch is heavy).

:class:`FrameNetwork` is the shared base; :mod:`skcanon.nn._points` holds the O(d), SO(d),
E(d), SE(d) networks on point sets, :mod:`skcanon.nn._permutation` the S_n scoring network
and its composition with a rotation network, :mod:`skcanon.nn._images` the image networks.
:class:`MessagePassingBackbone` (:mod:`skcanon.nn._message_passing`) is a task network, not
a frame network: the permutation-equivariant backbone of end-to-end canonicalized models.
"""

from .._optional import import_torch

import_torch("skcanon.nn (the networks of method=\"learned\", \"random\" and \"anchored\")")

from ._base import FrameNetwork  # noqa: E402
from ._message_passing import MessagePassingBackbone  # noqa: E402

__all__ = ["FrameNetwork", "MessagePassingBackbone"]
