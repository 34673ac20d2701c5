"""skcanon: make any scikit-learn model respect the symmetries of its data.

* :class:`CanonicalizerTransformer` maps each sample to a canonical pose chosen by an
  equivariant function (a heuristic or a learned network).
* :class:`InvariantProjector` turns equivariant features into invariant ones, losslessly
  where a cheap lossless map exists.
* :class:`EquivariantRegressor` predicts targets that move with the input (positions,
  forces) with any regressor, through the input's canonical frame.
* :class:`FrameAveragingClassifier` and :class:`FrameAveragingRegressor` average any
  estimator over a set of frames per sample (all PCA frames, minimal frames, continuously
  weighted frames or sampled frames) instead of picking one.
* :class:`EndToEndEquivariantRegressor` and :class:`EndToEndEquivariantClassifier` train a
  canonicalization network and a torch backbone (MLP or message passing) jointly (imported
  on first use: they need the ``torch`` extra).
* :mod:`skcanon.groups` holds the symmetry groups and their actions, :mod:`skcanon.layouts`
  how columns map to points and pixels, :mod:`skcanon.metrics` invariance measures.
"""

from ._canonicalizer import CanonicalizerTransformer
from ._frame_averaging import FrameAveragingClassifier, FrameAveragingRegressor
from ._projector import InvariantProjector
from ._regressor import EquivariantRegressor

__version__ = "0.1.0.dev0"

__all__ = ["CanonicalizerTransformer", "InvariantProjector", "EquivariantRegressor",
           "FrameAveragingClassifier", "FrameAveragingRegressor",
           "EndToEndEquivariantRegressor", "EndToEndEquivariantClassifier", "__version__"]


def __getattr__(name):  # keeps torch and skorch out of `import skcanon`
    if name in ("EndToEndEquivariantRegressor", "EndToEndEquivariantClassifier"):
        from . import _end_to_end

        return getattr(_end_to_end, name)
    raise AttributeError(f"module 'skcanon' has no attribute {name!r}")
