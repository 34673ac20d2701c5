"""Reading point columns by their names: one concern shared by every estimator, kept
below the estimators and the canonicalizers (it needs only the layouts and the DataFrame
checks), so that the end-to-end estimators can use it without an import circle."""

from __future__ import annotations

import numpy as np

from ._validation import frame_columns, is_dataframe
from .layouts import PointLayout, mixes_point_and_other_columns


def named_point_layout(layout, X):
    """``layout`` (a plain ``PointLayout`` without ``columns``) reading the DataFrame ``X``
    by its column names (``x0..x3, y0..y3``, ``p0_x``...), or None: an array, another kind
    of layout, or names that do not fit it (read flat, in column order: an explicit layout
    is the way to read, say, ``x0..x5`` as two 3-D points).

    Raises ``ValueError`` when point columns are mixed with columns that name no point
    (context columns, say): read in column order, those would silently become points."""
    if not (is_dataframe(X) and type(layout) is PointLayout and layout.columns is None):
        return None
    columns = frame_columns(X)
    try:
        return PointLayout(layout.n_dims, layout.fields, columns=columns)
    except ValueError as exc:
        if not mixes_point_and_other_columns(columns):
            return None
        raise ValueError(
            f"X mixes columns that name point coordinates with others, so layout {layout!r} cannot "
            f"read them by name, and read in column order the others would become points: {exc} To "
            "read the columns in their order, ignoring names, pass X.to_numpy().") from None


def point_major_order(n_dims, y):
    """For a DataFrame ``y`` of moving targets whose column names name points
    (``x0..x5, y0..y5``, ``p0_x``, ...): the column order that makes it point-major, as
    ``X`` is read by name; None for arrays, for names that name no whole points (read flat,
    in their order) and for columns already point-major. The target's field kinds stay
    those of its layout: the names only order the columns."""
    if not is_dataframe(y):
        return None
    columns = frame_columns(y)
    try:
        parsed = PointLayout(n_dims, columns=columns)
    except ValueError:
        return None
    order = parsed.to_working(np.arange(len(columns), dtype=np.float64)[None]).reshape(-1).astype(np.intp)
    return None if np.array_equal(order, np.arange(len(columns))) else order


def in_caller_order(Y, order):
    """Flat point-major predictions ``Y`` back in the caller's column ``order`` (None: as is)."""
    if order is None or Y.ndim != 2:
        return Y
    out = np.empty_like(Y)
    out[:, order] = Y
    return out
