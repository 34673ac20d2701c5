"""Helpers shared by the estimators: which layout a group/layout/n_dims triple means, and
how samples are split into batches.

:class:`~skcanon.CanonicalizerTransformer`, :class:`~skcanon.InvariantProjector` and the
frame-averaging estimators resolve their layout and walk their samples in batches with these
functions, so the rules are the same everywhere.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._columns import named_point_layout
from ._kernels import _numba
from ._threads import limited_threads, thread_budget, within_budget
from .canonicalizers import make_canonicalizer
from ._validation import (check_unique_columns, frame_columns, is_dataframe, non_numeric_columns,
                          user_stacklevel)
from .layouts import ImageLayout, PointLayout, as_layout, names_axes_out_of_point_order

__all__ = ["resolve_layout", "layout_from_names", "iter_batches", "run_batches", "stack_frames", "group_dims"]


def group_dims(group):
    """Spatial dimensions a group acts in (C_n/D_n: 2); empty for pure permutations."""
    return {getattr(f, "d", None) for f in group.factors} - {None}


def _images_by_default(group):
    """Finite groups of the image plane (C_n, D_n) read data as images when nothing says
    otherwise (the historical rule of ``ambiguous="guess"``)."""
    return all(f.is_finite and f.d == 2 and f.acts_on(ImageLayout()) for f in group.factors)


def _acts_on(group, layout):
    try:
        group.check_layout(layout)
    except (TypeError, ValueError):
        return False
    return True


def _method_works_on(group, method, layout):
    try:
        make_canonicalizer(group, method, layout)
    except (TypeError, ValueError):
        return False
    except ImportError:  # pragma: no cover - a missing optional backend says nothing about the layout
        return True
    return True


def resolve_layout(group, layout, n_dims, *, method=None, ambiguous="guess"):
    """The layout a ``group``/``layout``/``n_dims`` triple means (shared by all estimators).

    With ``ambiguous="raise"`` (CanonicalizerTransformer), a group that acts on both 2-D
    point sets and images (SO(2), O(2), C_n, D_n), given neither ``layout`` nor ``n_dims``,
    takes the one layout ``method`` works on (``"moments"`` → images, ``"pca"`` → points)
    and otherwise raises a ValueError naming ``layout``. ``"guess"`` keeps the historical
    rule (images for C_n/D_n, points otherwise).
    """
    if isinstance(layout, PointLayout):
        if n_dims is not None and n_dims != layout.n_dims:
            raise ValueError(f"n_dims={n_dims} contradicts layout.n_dims={layout.n_dims}.")
        return layout
    images_by_default = n_dims is None and _images_by_default(group)
    dims = group_dims(group)
    given_dims = n_dims
    if n_dims is None:
        n_dims = dims.pop() if len(dims) == 1 else 3
    elif dims and n_dims not in dims:
        raise ValueError(f"n_dims={n_dims} does not match group {group.name!r}, which acts in {sorted(dims)} "
                         "dimensions.")
    if (layout is None and given_dims is None and ambiguous == "raise"
            and _acts_on(group, ImageLayout()) and _acts_on(group, PointLayout(2))):
        works = [lay for lay in (ImageLayout(), PointLayout(2)) if _method_works_on(group, method, lay)]
        if len(works) == 1:
            return works[0]
        raise ValueError(
            f"group {group.name!r} acts on both 2-D point sets and images, and method={method!r} works on "
            "both, so the layout of X cannot be told from the parameters (a row of 144 pixels is also 72 "
            "points). Say which: layout='image' for images (flat rows of H*W pixels, (n, H, W) or "
            "(n, C, H, W); ImageLayout((H, W)) for non-square ones), or layout='points' / n_dims=2 for 2-D "
            "point sets (x0, y0, x1, y1, ...; PointLayout(2, fields=[...]) for extra columns). A DataFrame "
            "whose columns name points (p0_x, p0_y, ...) is read as points."
        )
    default = ImageLayout() if (images_by_default and layout is None) else PointLayout(n_dims)
    return as_layout(layout, default)


def layout_from_names(group, layout, n_dims, X):
    """The PointLayout that reads the DataFrame ``X`` by its column names, or None (an array,
    columns that name no point, or a ``layout`` that already says how to read them).

    Shared by every estimator, so a DataFrame's columns mean the same points everywhere:
    with ``layout`` None or ``"points"`` the names decide the fields (``atom3_x``,
    ``atom3_element``...); a ``PointLayout`` without ``columns`` reads its fields from the
    columns of those names where they name them all."""
    if X is None or not is_dataframe(X):
        return None
    if layout is None or (isinstance(layout, str) and layout == "points"):
        dims = group_dims(group)
        expected = n_dims if n_dims is not None else (min(dims) if len(dims) == 1 else None)
        check_unique_columns(X)
        columns = frame_columns(X)
        inferred = PointLayout.infer_from_columns(columns, expected, categorical=non_numeric_columns(X))
        if inferred is None and names_axes_out_of_point_order(columns, expected):
            shown = ", ".join(repr(str(c)) for c in columns[:4]) + (", ..." if len(columns) > 4 else "")
            warnings.warn(
                f"the columns of X ({shown}) look like point coordinates, but their names follow no "
                "pattern skcanon reads (a point index and a component: 'atom3_x', 'p0_vel_y', 'x1'), so "
                "they are read in their order as x0, y0, z0, x1, ..., which these names do not follow. "
                "Rename them, or pass layout=PointLayout.from_columns(names, ...) mapped to the columns.",
                UserWarning, stacklevel=user_stacklevel())
        return inferred
    return named_point_layout(layout, X)


def run_batches(one_batch, batches, threads):
    """``[one_batch(b) for b in batches]``, in ``threads`` threads when that is more than
    one (``one_batch`` releases the GIL in numpy or compiled code and writes only its own
    rows, so results do not depend on ``threads``). ``batches``: slices or arrays of row
    indices. Callers hold :func:`~skcanon._threads.limited_threads` around it; each batch
    thread enters it too (OpenMP's limit belongs to the thread that sets it), so every batch
    runs torch, BLAS and OpenMP on one thread and nested parallelism never oversubscribes.

    Whether the compiled kernels run is chosen once for all the batches, before any of them
    (:class:`skcanon._kernels._numba.decided`; the caller's choice where it made one), and
    every batch thread takes that choice over: which batches use which kernels never
    depends on thread timing."""
    with _numba.decided(sum(_rows_in(b) for b in batches)):
        threads = within_budget(min(threads, len(batches)))
        if threads <= 1:
            return [one_batch(b) for b in batches]
        decision = _numba.current()

        def limited(b):
            # a budget of one thread: estimators called from a batch (a projector's
            # canonicalizer) start no threads of their own, whatever their n_jobs
            with thread_budget(1), limited_threads(None), _numba.carried(decision):
                return one_batch(b)

        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(limited, batches))


def _rows_in(batch):
    return batch.stop - batch.start if isinstance(batch, slice) else len(batch)


#: values of one image that batches count as one sample (one 28×28 channel): a 128×128
#: image takes about 2.7 MiB to orient and rotate (SO(2) moments, random networks), so the
#: default batch of 4,096 took about 11 GiB. Images up to this size keep ``batch_size`` as
#: before (SO(2) moment frames round differently in their last bits in other batches)
BATCH_IMAGE_VALUES = 28 * 28


def rows_per_batch(batch_size, P, unit):
    """Samples per batch: ``batch_size`` samples of ``unit`` values, fewer where the
    samples of ``P`` (working array) hold more (None or 0: one batch)."""
    if not batch_size:
        return batch_size
    values = max(1, int(np.prod(P.shape[1:])))
    return max(1, min(batch_size, batch_size * unit // values))


def iter_batches(n, batch_size):
    """Slices of ``range(n)`` of at most ``batch_size`` samples (None or 0: one slice)."""
    step = n if not batch_size else int(batch_size)
    for start in range(0, n, max(step, 1)):
        yield slice(start, min(start + step, n))


def frames_of(frames, rows):
    """The frames of the samples ``rows`` (a slice): arrays, or tuples of arrays (product
    groups)."""
    return tuple(f[rows] for f in frames) if isinstance(frames, tuple) else frames[rows]


def stack_frames(parts):
    """Frames of consecutive batches joined: arrays, or tuples of arrays (product groups)."""
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(len(parts[0])))
    return np.concatenate(parts)
