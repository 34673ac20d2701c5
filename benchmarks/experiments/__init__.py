"""The experiments of ``benchmarks/reproduce.py``, one module each.

Every module has ``run(quick=False, seed=0) -> list[dict]`` (one seed; rows made by
:func:`._common.result_row`) and ``section(rows, quick, fig_dir) -> str`` (its part of
``docs/results.md``, written from the rows of every stored seed: no number on the page is
typed by hand). The multi-seed protocol is in the docstring of :mod:`._common`.
"""

from . import images, images_end_to_end, nbody, nbody_frames, projections, qm9, shapes

#: name → module, in the order of the results page
EXPERIMENTS = {"nbody": nbody, "nbody_frames": nbody_frames, "images": images,
               "images_end_to_end": images_end_to_end, "qm9": qm9, "shapes": shapes, "projections": projections}
