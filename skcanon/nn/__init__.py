"""Torch networks for learned canonicalization (imported lazily: torch is heavy).

:class:`FrameNetwork` is the shared base; :mod:`skcanon.nn._points` holds the O(d), SO(d),
E(d), SE(d) networks on point sets, :mod:`skcanon.nn._permutation` the S_n scoring network
and its composition with a rotation network, :mod:`skcanon.nn._images` the image networks.
:class:`MessagePassingBackbone` (:mod:`skcanon.nn._message_passing`) is a task network, not
a frame network: the permutation-equivariant backbone of end-to-end canonicalized models.
"""

from ._base import FrameNetwork
from ._message_passing import MessagePassingBackbone

__all__ = ["FrameNetwork", "MessagePassingBackbone"]
