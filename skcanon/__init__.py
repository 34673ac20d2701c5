"""skcanon: make any scikit-learn model respect the symmetries of its data.

* :class:`CanonicalizerTransformer` maps each sample to a canonical pose chosen by an
  equivariant function (a heuristic or a learned network).
* :class:`InvariantProjector` turns equivariant features into invariant ones, losslessly
  where a cheap lossless map exists.
* :mod:`skcanon.groups` holds the symmetry groups and their actions, :mod:`skcanon.layouts`
  how columns map to points and pixels, :mod:`skcanon.metrics` invariance measures.
"""

from ._canonicalizer import CanonicalizerTransformer
from ._projector import InvariantProjector

__version__ = "0.1.0.dev0"

__all__ = ["CanonicalizerTransformer", "InvariantProjector", "__version__"]
