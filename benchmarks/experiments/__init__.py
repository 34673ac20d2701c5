"""The experiments of ``benchmarks/reproduce.py``, one module each.

Every module has ``run(quick=False, seed=0) -> list[dict]`` (rows made by
:func:`._common.result_row`) and ``section(rows, quick, fig_dir) -> str`` (its part of
``docs/results.md``, written from the rows: no number on the page is typed by hand).
"""

from . import images, nbody, projections, qm9

#: name → module, in the order of the results page
EXPERIMENTS = {"nbody": nbody, "images": images, "qm9": qm9, "projections": projections}
