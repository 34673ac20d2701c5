"""Reading point columns by their names: one concern shared by every estimator, kept
below the estimators and the canonicalizers (it needs only the layouts and the DataFrame
checks), so that the end-to-end estimators can use it without an import circle."""

from __future__ import annotations

import numpy as np

from ._validation import frame_columns, is_dataframe, layout_column_positions
from .layouts import (
    Field,
    PointLayout,
    _axis_names,
    _component_owner,
    _numbered_dims,
    _parse_any_point_column,
    _parse_point_column,
    _plain_feature_names,
    _reading,
    mixes_point_and_other_columns,
)


def _named_fields(columns, n_dims=None):
    """``(dims, fields)`` that the column names describe, fields in the order the columns
    first name them, or None where they name no points: a name that is no point component
    (``a``, ``energy``), scikit-learn's ``x0, x1, ...`` (unless ``n_dims`` is 1), no axis at
    all, or axes that are not ``x`` / ``x, y`` / ``x, y, z`` (``y0, y1, ...``: plain target
    names). Unlike ``infer_from_columns``, names of vectors alone (``force_x0``,
    ``p0_force_x``) name points too."""
    if not columns or (_plain_feature_names(columns) and n_dims != 1):
        return None
    fold, lenient = _reading(columns)
    parsed = [_parse_any_point_column(c, fold, lenient) for c in columns]
    if any(p is None for p in parsed):
        return None
    # the reading of PointLayout.infer_from_columns: lettered axes, numbered ones beyond 3-D
    numbered = _numbered_dims([comp for _, comp in parsed])
    owners = [_component_owner(comp, numbered) for _, comp in parsed]
    axes = {_axis_of(comp) for (_, comp), (_, kind) in zip(parsed, owners) if kind != "scalar"}
    dims = len(axes)
    if not dims or axes != set(_axis_names(dims)):
        return None
    fields, seen = [], set()
    for name, kind in owners:
        if name not in seen:
            seen.add(name)
            fields.append(Field(name, kind, dims if kind != "scalar" else 1))
    return dims, fields


def _axis_of(comp):
    """The axis a geometric component names: ``x`` of ``vel_x``, ``x3`` of ``vel_x3``."""
    return comp.rsplit("_", 1)[-1]


def _keys(layout):
    return [key for f in layout.fields for key in f.component_names(layout.n_dims)]


def _grid(named, n_columns):
    """``(n_points, width)``: the position of each point's component among the columns."""
    return named.to_working(np.arange(n_columns, dtype=np.float64)[None])[0].astype(np.intp)


def _is_point_major(named, n_columns):
    return np.array_equal(_grid(named, n_columns).reshape(-1), np.arange(n_columns))


def named_point_layout(layout, X):
    """``layout`` (a plain ``PointLayout`` without ``columns``) reading the DataFrame ``X``
    by its column names (``x0..x3, y0..y3``, ``p0_x``...), or None: an array, another kind
    of layout, names that name no point (``a``, ``f0``, scikit-learn's ``x0..x5``) or points
    in other dimensions than the layout's (read flat, in column order: an explicit layout
    is the way to read, say, ``x0..x5`` or ``x1, y1, x2, ...`` as 3-D points).

    Raises ``ValueError`` when point columns are mixed with columns that name no point
    (context columns, say): read in column order, those would silently become points; and
    when the names name points of the layout's dimension but not its fields (``vel_x0``
    columns for a field declared ``v``), unless they are point-major in fields of the
    layout's kinds and sizes, where the column order reads them as the names say."""
    if is_dataframe(X) and type(layout) is PointLayout and layout.columns is not None:
        # the layout's names in the caller's order: fitted with that order, so that arrays
        # (read by position, as scikit-learn reads them after a DataFrame fit), Dask blocks
        # and pandas output follow the columns of fit, not the layout's own order
        columns = frame_columns(X)
        if columns != list(layout.columns) and sorted(columns) == sorted(layout.columns):
            return PointLayout(layout.n_dims, layout.fields, columns=columns)
        return None
    if not (is_dataframe(X) and type(layout) is PointLayout and layout.columns is None):
        return None
    columns = frame_columns(X)
    try:
        return PointLayout(layout.n_dims, layout.fields, columns=columns)
    except ValueError as exc:
        if mixes_point_and_other_columns(columns):
            raise ValueError(
                f"X mixes columns that name point coordinates with others, so layout {layout!r} cannot "
                f"read them by name, and read in column order the others would become points: {exc} To "
                "read the columns in their order, ignoring names, pass X.to_numpy().") from None
    found = _named_fields(columns, layout.n_dims)
    if found is None or found[0] != layout.n_dims:
        return None
    dims, fields = found
    try:
        named = PointLayout(dims, fields, columns=columns)
    except ValueError as exc:
        read_as, why = f"{dims}-D points, but not whole ones ({_without_fix(exc)})", ""
    else:
        same_kinds = ([(f.kind, f.size) for f in named.fields] == [(f.kind, f.size) for f in layout.fields])
        if same_kinds and _is_point_major(named, len(columns)):
            return None   # in column order they are read as their names say
        read_as = f"{dims}-D points with the fields [{named._describe()}]"
        why = f" (the names do not fit its components {_keys(layout)}: {_first_misfit(layout, columns)})"
    declared = [(f.name, f.kind) if f.kind != "scalar" else (f.name, f.kind, f.size) for f in fields]
    raise ValueError(
        f"X's columns name {read_as}; the layout declares [{layout._describe()}]{why}. Read in "
        "column order, ignoring the names, they would be taken for other points and fields. Fix: "
        f"declare the fields the columns name, e.g. layout=PointLayout({dims}, fields={declared}), "
        "rename the columns after the layout's components, or pass X.to_numpy() to read the columns "
        "in their order, ignoring names.") from None


def _first_misfit(layout, columns):
    """The first column name that is none of ``layout``'s components, quoted."""
    keys = _keys(layout)
    fold, lenient = _reading(columns)
    for c in columns:
        if _parse_point_column(c, keys, fold, lenient) is None:
            return f"{c!r}"
    return "every name is one, but not every point has every component"


def _without_fix(exc):
    """A layout's message without its advice (which is about ``X``), ending in no full stop."""
    return str(exc).split(" Fix:")[0].rstrip(".")


def _target_misfit(layout, known, read_as):
    keys = _keys(layout)
    target = (f"the target layout's fields [{layout._describe()}]" if known
              else f"{layout.n_dims}-D target points")
    return ValueError(
        f"y's columns name {read_as}, which do not fit {target}; read in column "
        f"order they would be taken for other points. Fix: name y's columns after the target's "
        f"components {keys} ('p0_{keys[0]}' or '{keys[0]}0', ...), give the target the fields the "
        "names name, or pass y.to_numpy() to read the columns in their order (point-major).")


def _paired_components(layout, named):
    """Per field of ``layout``, the component keys of ``named`` that fill it: the field's
    own keys where the names use them, the rest paired in order with the fields the names
    give otherwise, of equal sizes (geometric with geometric: the target's kind decides
    how they move; scalars with scalars); None where they do not pair."""
    d = layout.n_dims
    left = set(_keys(named))
    mapped, rest = {}, []
    for f in layout.fields:
        keys = f.component_names(d)
        if set(keys) <= left:
            mapped[f.name] = keys
            left -= set(keys)
        else:
            rest.append(f)
    others = [g for g in named.fields if set(g.component_names(d)) <= left]
    if sum(g.size for g in others) != len(left) or len(others) != len(rest):
        return None
    for f, g in zip(rest, others):
        if f.size != g.size or f.is_geometric != g.is_geometric:
            return None
        mapped[f.name] = g.component_names(d)
    return [key for f in layout.fields for key in mapped[f.name]]


def _order_by_names(layout, columns, known):
    """The point-major order of the target columns whose names do not fit ``layout``
    exactly (see :func:`point_major_order`)."""
    found = _named_fields(columns, layout.n_dims)
    if found is None:
        return None   # names that name no points: flat, in their order
    dims, fields = found
    if dims != layout.n_dims:
        raise _target_misfit(layout, known, f"{dims}-D points")
    try:
        named = PointLayout(dims, fields, columns=columns)
    except ValueError as exc:
        raise _target_misfit(layout, known,
                             f"{dims}-D points, but not whole ones ({_without_fix(exc)})") from None
    grid = _grid(named, len(columns))
    if not known:
        return grid.reshape(-1)   # fields as the names give them, in the order they first name them
    keys = _paired_components(layout, named)
    if keys is not None:
        named_keys = _keys(named)
        return grid[:, [named_keys.index(k) for k in keys]].reshape(-1)
    if named.width == layout.width and _is_point_major(named, len(columns)):
        return None   # point-major by their names: the column order reads whole points
    raise _target_misfit(layout, known, f"{dims}-D points with the fields [{named._describe()}]")


def point_major_order(target, y):
    """For a DataFrame ``y`` of moving targets whose column names name points
    (``x0..x5, y0..y5``, ``p0_x``, ``force_x0``, ``p0_force_x``...): the column order that
    makes it point-major, as ``X`` is read by name; None for arrays, for names that name no
    points (``y0, y1, ...``, ``a``: read flat, in their order) and for columns already
    point-major.

    ``target`` is the target's ``PointLayout`` (or only its ``n_dims``: fields as the names
    give them; for a layout with ``columns``, the order that puts ``y``'s columns in the
    layout's, which reads them itself). The target's field kinds
    stay those of its layout: the names only order the columns. Names that are the target's
    components are read as such; other names of fields pair in order with the target's
    remaining fields of the same size (``force_x0`` for a vector target ``vec``, ``x0`` for
    any single field). Raises ``ValueError`` where
    the names name points that do not fit the target (other dimensions, a missing
    component, fields that do not pair), instead of reading them flat, scrambled across
    points."""
    if not is_dataframe(y):
        return None
    known = isinstance(target, PointLayout)
    if known and type(target) is PointLayout and target.columns is not None:
        # a layout with columns reads them by position in its own order: y's columns put
        # in that order (a y with the names in another order was read scrambled)
        columns = frame_columns(y)
        if columns == list(target.columns) or not set(columns) & set(target.columns):
            return None      # the layout's order, or names that are not its (read by position)
        return np.array(layout_column_positions(columns, target, "y", what="target layout"))
    if known and type(target) is not PointLayout:
        # graphs: their rows are not named points
        return None
    layout = target if known else PointLayout(target)
    columns = frame_columns(y)
    order = _names_order(layout, columns, known)
    return None if order is None or np.array_equal(order, np.arange(len(columns))) else order


def _names_order(layout, columns, known):
    """The point-major order the names ``columns`` give the target ``layout`` (None: names
    that name no points); raises ``ValueError`` as :func:`point_major_order` does."""
    try:
        parsed = PointLayout(layout.n_dims, layout.fields, columns=columns)
    except ValueError:
        return _order_by_names(layout, columns, known)
    return _grid(parsed, len(columns)).reshape(-1)


def names_points(n_dims, y):
    """Whether the column names of the DataFrame ``y`` name points of ``n_dims`` dimensions
    (``x0..x5, y0..y5``, ``p0_x``, ``force_x0``...), in any order: what
    :func:`point_major_order` reads by name rather than by position."""
    if not is_dataframe(y):
        return False
    try:
        return _names_order(PointLayout(n_dims), frame_columns(y), False) is not None
    except ValueError:
        return False


def in_caller_order(Y, order):
    """Flat point-major predictions ``Y`` back in the caller's column order (None: as is)."""
    if order is None or Y.ndim != 2:
        return Y
    out = np.empty_like(Y)
    out[:, order] = Y
    return out
