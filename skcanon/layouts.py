"""Data layouts: how a 2-D scikit-learn array maps to points, fields and images.

scikit-learn hands estimators 2-D arrays. skcanon reads them through a layout object, so
that no other module does index arithmetic on columns:

* :class:`PointLayout` — each sample is a set of points; each point carries one or more
  :class:`Field` s (positions move with rotations *and* translations, vectors only rotate,
  scalars only follow permutations). Flat input is point-major
  (``x0, y0, z0, x1, ...``); 3-D input ``(n_samples, n_points, width)`` is accepted too and
  returned in the layout it came in. Rows of all-NaN mark absent points (ragged sets).
* :class:`GraphLayout` — each sample is a graph with up to ``n_nodes`` nodes; node ``i`` is
  one row: its adjacency row, then its features. Lists of networkx graphs are encoded into
  this layout by :meth:`GraphLayout.encode`, the library's one graph encoding.
* :class:`ImageLayout` — each sample is an image ``(C, H, W)``, given flat
  ``(n_samples, C*H*W)`` or as ``(n_samples, H, W)`` / ``(n_samples, C, H, W)``.

Internally every part of the library works on the *working array* of a layout:
``(n_samples, n_points, width)`` for points and ``(n_samples, C, H, W)`` for images.
"""

from __future__ import annotations

import collections.abc
import re
from dataclasses import dataclass

import numpy as np

__all__ = ["Layout", "Field", "PointLayout", "GraphLayout", "ImageLayout", "FibreLayout", "as_layout", "encode_if_graphs"]

_FIELD_KINDS = ("position", "vector", "scalar")
_AXIS_NAMES = ("x", "y", "z")
#: an axis beyond 3-D as skcanon names it (``x3``, ``vel_x3``): ``x`` and the axis number
_NUMBERED_AXIS = re.compile(r"(?:([A-Za-z]\w*)_)?x(0|[1-9]\d*)")


def _axis_names(n_dims):
    """Names of the axes of ``n_dims``-D points: ``x, y, z`` up to 3-D, ``x0, x1, ...`` beyond."""
    return _AXIS_NAMES[:n_dims] if n_dims <= 3 else tuple(f"x{i}" for i in range(n_dims))


def _numbered_dims(comps):
    """The dimension of the points that parsed components name by numbered axes, as skcanon
    names them beyond 3-D (``p0_x3``, ``p0_vel_x3``), or None: where a component names a
    lettered axis (``x``, ``vel_y``) or the numbers are not ``0..d-1`` for some d > 3 (up to
    3-D skcanon writes ``x, y, z``, so ``x0, x1, x2`` name no axes)."""
    numbers = set()
    for comp in comps:
        if comp in _AXIS_NAMES or re.fullmatch(r"[A-Za-z]\w*_[xyz]", comp):
            return None
        m = _NUMBERED_AXIS.fullmatch(comp)
        if m:
            numbers.add(int(m.group(2)))
    return len(numbers) if len(numbers) > 3 and numbers == set(range(len(numbers))) else None


def _component_owner(comp, numbered=None):
    """``(field name, kind)`` a parsed component belongs to: an axis (``x``; ``x3`` where
    ``numbered``, the dimension :func:`_numbered_dims` read) to the positions, ``vel_x``
    (``vel_x3``) to the vector ``vel``, anything else to a scalar of its name."""
    if numbered:
        m = _NUMBERED_AXIS.fullmatch(comp)
        if m and int(m.group(2)) < numbered:
            name = m.group(1)
            return ("pos", "position") if name in (None, "pos") else (name, "vector")
        return comp, "scalar"
    if comp in _AXIS_NAMES:
        return "pos", "position"
    if re.fullmatch(r"[A-Za-z]\w*_[xyz]", comp) and comp[:-2] != "pos":
        return comp[:-2], "vector"
    return comp, "scalar"


def _axis_case(comp):
    """A component spelled with an upper-case axis (``X``, ``vel_Y``) in the lower case the
    layouts use; other components unchanged. Upper-case axis names are as common in tables
    as lower-case ones (``X0, Y0, Z0``); they are read so only in tables that name no axis in
    lower case (:func:`_folds_axes`), where ``Z`` is more likely an atomic number."""
    if comp in ("X", "Y", "Z"):
        return comp.lower()
    if re.fullmatch(r"[A-Za-z]\w*_[XYZ]", comp):
        return comp[:-1] + comp[-1].lower()
    return comp


def _position_alias(comp):
    """``pos_x`` (the position field's own name before an axis) read as the axis ``x``:
    ``p0_pos_x`` and ``pos_x0`` name positions, as ``p0_x`` and ``x0`` do."""
    m = re.fullmatch(r"pos_([xyz])", comp)
    return m.group(1) if m else comp


def _folds_axes(columns, lenient=True):
    """Whether upper-case axis names of ``columns`` are read as axes: when no column names a
    lower-case axis (``x1``, ``p0_y``, ``vel_z1``), so ``p0_x, p0_y, p0_z, p0_Z`` keeps ``Z``
    a scalar."""
    for c in columns:
        p = _parse_any_point_column(str(c), fold=False, lenient=lenient)
        if p is not None and (p[1] in _AXIS_NAMES or re.fullmatch(r"[A-Za-z]\w*_[xyz]", p[1])):
            return False
    return True


def _plain_feature_names(columns):
    """Names that are only ``x0, x1, ...`` (scikit-learn's names for the columns of an
    array, also behind a ColumnTransformer's step prefix: ``prep__x0``): they number columns,
    they do not name the axes of 1-D points."""
    return bool(columns) and all(re.fullmatch(r"[xX]\d+", str(c).rsplit("__", 1)[-1]) for c in columns)


def _reading(columns):
    """``(fold, lenient)``: how the names of ``columns`` are read. The lenient rules drop
    scikit-learn's step prefixes (``prep__atom0_x``) and take prefixes with underscores
    (``lig_atom0_x``); where that makes two columns name the same point component
    (``lig_atom0_x`` beside ``rec_atom0_x``, two steps' ``a__x0`` and ``b__x0``), the strict
    rules of before apply, under which such names name no point (read in column order)."""
    columns = [str(c) for c in columns]
    fold = _folds_axes(columns, lenient=True)
    parsed = [p for p in (_parse_any_point_column(c, fold, lenient=True) for c in columns) if p is not None]
    if len(parsed) == len(set(parsed)):
        return fold, True
    return _folds_axes(columns, lenient=False), False


class Layout:
    """What every layout provides (the contract the rest of the library relies on).

    ``kind`` names the working array's shape family and is what groups dispatch their
    action on: ``"points"`` / ``"graph"`` ``(n, n_points, width)``, ``"image"``
    ``(n, C, H, W)``, ``"fibre"`` ``(n, channels, fibre_size)``. Subclasses implement the
    methods below; equality and hashing follow :meth:`_key`.
    """

    kind = None

    def to_working(self, X):
        """User array (flat 2-D or the layout's own multi-dimensional shape) → working array."""
        raise NotImplementedError

    def from_working(self, P, ndim):
        """Working array → the user's shape (``ndim`` of the array the user gave)."""
        raise NotImplementedError

    def check_absent_rows(self, P, name="X"):
        """Raise a ValueError naming ``name`` when ``P`` has values the layout cannot hold."""
        raise NotImplementedError

    def feature_names(self, size):
        """Output column names for flat output."""
        raise NotImplementedError

    def _key(self):
        raise NotImplementedError

    def __eq__(self, other):
        return type(other) is type(self) and other._key() == self._key()

    def __hash__(self):
        return hash((type(self).__name__,) + self._key())


@dataclass(frozen=True)
class Field:
    """One per-point quantity and how group elements move it.

    Parameters
    ----------
    name : str
        Name used in feature names (``p3_vel_x``); a non-empty str (TypeError or
        ValueError otherwise).
    kind : {"position", "vector", "scalar"}
        ``"position"`` moves with rotations, reflections, translations and scaling;
        ``"vector"`` (velocities, forces, normals) with rotations, reflections and
        scaling only; ``"scalar"`` (charges, atom types) is left alone by geometric
        groups and only follows permutations of points.
    size : int
        Number of components: the spatial dimension for positions and vectors, any
        positive count for scalars.
    categorical : bool, default=False
        Only for scalars: the values are categories (element symbols, labels), not
        quantities. Estimators learn the categories in ``fit`` and replace each value by
        its integer code (the position in the sorted categories; strings are accepted;
        float32 data holds a number learned from float64 data as float32 rounds it, and
        finds it); networks embed such fields instead of standardising them.

    Examples
    --------
    >>> from skcanon.layouts import Field
    >>> Field("element", "scalar", 1, categorical=True)
    Field(name='element', kind='scalar', size=1, categorical=True)
    """

    name: str
    kind: str
    size: int
    categorical: bool = False

    def __post_init__(self):
        # the name makes the feature names (p0_vel_x) and is read back from column names:
        # "" gave p0_, None the field "None", an int a name that is not one
        if not isinstance(self.name, str):
            raise TypeError(f"Field.name must be a non-empty str (it names the feature columns, e.g. "
                            f"'p0_vel_x' for 'vel'); got {self.name!r} of type {type(self.name).__name__}.")
        if not self.name:
            raise ValueError("Field.name must be a non-empty str (it names the feature columns, e.g. "
                             "'p0_vel_x' for 'vel'); got ''.")
        object.__setattr__(self, "name", str(self.name))   # numpy's str_ as str
        if self.kind not in _FIELD_KINDS:
            raise ValueError(f"Field.kind must be one of {_FIELD_KINDS}, got {self.kind!r}.")
        if isinstance(self.size, (bool, np.bool_)) or not isinstance(self.size, (int, np.integer)) or self.size < 1:
            raise ValueError(f"Field.size must be a positive int, got {self.size!r}.")
        if not isinstance(self.categorical, (bool, np.bool_)):
            raise ValueError(f"Field.categorical must be True or False, got {self.categorical!r}.")
        if self.categorical and self.kind != "scalar":
            raise ValueError(f"Field {self.name!r}: only scalar fields can be categorical, not {self.kind!r}.")

    @property
    def is_geometric(self):
        return self.kind in ("position", "vector")

    def component_names(self, n_dims):
        if self.kind == "scalar":
            if self.size == 1:
                return [self.name]
            return [f"{self.name}{i}" for i in range(self.size)]
        axes = _axis_names(n_dims)
        prefix = "" if self.name == "pos" else f"{self.name}_"
        return [f"{prefix}{axes[i]}" for i in range(self.size)]


def _as_field(spec, n_dims):
    if isinstance(spec, Field):
        return spec
    if isinstance(spec, (tuple, list)) and len(spec) in (2, 3):
        name, kind = spec[0], spec[1]
        size = spec[2] if len(spec) == 3 else (n_dims if kind in ("position", "vector") else 1)
        return Field(name, kind, size)
    raise TypeError(
        "fields entries must be Field objects or (name, kind[, size]) tuples, "
        f"got {spec!r}. For categories use Field(name, 'scalar', 1, categorical=True)."
    )


class PointLayout(Layout):
    """Samples made of points, each point carrying positions, vectors and scalars.

    Parameters
    ----------
    n_dims : int, default=3
        Spatial dimension of positions and vectors.
    fields : sequence of Field or (name, kind[, size]) tuples, default=None
        What each point carries, in column order. ``None`` means a single position
        field of size ``n_dims``. Geometric fields must have size ``n_dims``.
    columns : sequence of str or None, default=None
        Names of the input columns, when they name points in any order: ``x1, y1, z1, x2,
        ...``, ``x1, x2, ..., y1, y2, ...``, ``p0_x, p0_vel_x, p0_charge, ...`` or
        ``atom3_x``. Each name is a point index plus a component (``x``, ``y``, ``z`` for
        positions, ``vel_x`` for a vector field ``vel``, ``charge`` for a scalar field);
        indices may start anywhere. Input is read in this order and output is written back
        in it, so DataFrames keep their columns. ``None``: flat point-major input.

    Attributes
    ----------
    width : int
        Number of columns per point.

    Examples
    --------
    >>> from skcanon.layouts import PointLayout
    >>> layout = PointLayout(3, fields=[("pos", "position"), ("vel", "vector"),
    ...                                 ("charge", "scalar")])
    >>> layout.width
    7
    """

    kind = "points"

    def __init__(self, n_dims=3, fields=None, columns=None):
        if not isinstance(n_dims, (int, np.integer)) or isinstance(n_dims, bool) or n_dims < 1:
            raise ValueError(f"n_dims must be a positive int, got {n_dims!r}.")
        self.n_dims = int(n_dims)
        if fields is None:
            fields = [Field("pos", "position", self.n_dims)]
        fields = tuple(_as_field(f, self.n_dims) for f in fields)
        if not fields:
            raise ValueError("fields must name at least one field.")
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise ValueError(f"fields must have unique names, got {names}.")
        for f in fields:
            if f.is_geometric and f.size != self.n_dims:
                raise ValueError(
                    f"Field {f.name!r} of kind {f.kind!r} must have size n_dims={self.n_dims}, "
                    f"got {f.size}."
                )
        self.fields = fields
        keys = self._component_keys()
        clashes = sorted({k for k in keys if keys.count(k) > 1})
        if clashes:
            # one name for two columns of a point: feature names repeat and named input is ambiguous
            raise ValueError(f"fields give two columns of each point the same name {clashes} "
                             f"(components {keys}). Fix: rename a field, e.g. a scalar 'x' next to "
                             "positions, or a scalar 'a0' next to a 2-component scalar 'a'.")
        offsets = np.cumsum([0] + [f.size for f in fields])
        self._slices = {f.name: slice(int(a), int(b)) for f, a, b in zip(fields, offsets[:-1], offsets[1:])}
        self.width = int(offsets[-1])
        self.columns = None if columns is None else tuple(str(c) for c in columns)
        self._order = None if columns is None else self._column_order(self.columns)

    @classmethod
    def from_columns(cls, columns, n_dims=3, fields=None):
        """Layout reading named point columns (see ``columns``), e.g. ``df.columns``."""
        if isinstance(columns, (str, bytes)) or not hasattr(columns, "__iter__"):
            raise TypeError(f"columns must be a sequence of column names (e.g. df.columns); got {columns!r}.")
        return cls(n_dims, fields=fields, columns=list(columns))

    def _component_keys(self):
        return [key for f in self.fields for key in f.component_names(self.n_dims)]

    def _column_order(self, columns):
        """Positions of the input columns in point-major order (point, then component)."""
        keys = self._component_keys()
        found = {}
        fold, lenient = _reading(columns)
        for pos, name in enumerate(columns):
            parsed = _parse_point_column(name, keys, fold, lenient)
            if parsed is None:
                extra = _parse_any_point_column(name, fold, lenient)
                hint = (f"if every point carries {extra[1]!r}, declare it: "
                        f"fields=[('pos', 'position'), ..., ('{extra[1]}', 'scalar')] (add "
                        f"Field('{extra[1]}', 'scalar', 1, categorical=True) for categories such as "
                        "element symbols); otherwise drop the column or route the point columns with a "
                        "ColumnTransformer" if extra is not None else
                        "drop the column or route the point columns with a ColumnTransformer")
                raise ValueError(
                    f"column {name!r} does not name a point component; expected a point index and "
                    f"one of {keys}, like 'x1', 'p0_x' or 'atom3_{keys[0]}'. Fix: {hint}."
                )
            if parsed in found:
                raise ValueError(f"columns {columns[found[parsed]]!r} and {name!r} name point {parsed[0]} "
                                 f"component {parsed[1]!r} twice (step prefixes such as 'prep__' are not "
                                 "part of a point's name); every column must name a different point "
                                 "component.")
            found[parsed] = pos
        points = sorted({p for p, _ in found})
        missing = [f"{key}{p}" for p in points for key in keys if (p, key) not in found]
        if missing:
            raise ValueError(f"columns lack {missing[:6]}{'...' if len(missing) > 6 else ''}: every "
                             f"point needs the components {keys}. Fix: add the missing columns (NaN "
                             "for an absent point), or declare the fields each point carries with "
                             "PointLayout.from_columns(columns, n_dims=..., fields=[...]).")
        return np.array([found[(p, key)] for p in points for key in keys], dtype=np.intp)

    # -- structure -------------------------------------------------------------------------
    def slice_of(self, name):
        """Column slice of field ``name`` within one point."""
        return self._slices[name]

    def slices(self, kind):
        """Column slices of all fields of one kind."""
        return [self._slices[f.name] for f in self.fields if f.kind == kind]

    @property
    def has_positions(self):
        return any(f.kind == "position" for f in self.fields)

    @property
    def categorical_fields(self):
        """The scalar fields declared ``categorical=True``."""
        return tuple(f for f in self.fields if f.categorical)

    def n_points_for(self, n_features):
        if n_features % self.width:
            raise ValueError(
                f"X has {n_features} feature(s), which is not a multiple of the {self.width} "
                f"columns per point of this layout ({self._describe()}); expected shape "
                f"(n_samples, n_points * {self.width}). Fix: for named columns (atom3_x, p0_y, "
                "x1, ...) pass a DataFrame with layout=None or layout=PointLayout.from_columns(columns); "
                "declare extra per-point columns with fields=[...]; for points of another dimension "
                "pass n_dims= (groups without one, such as S_n or scaling, read 3); for images pass "
                "layout='image'."
            )
        return n_features // self.width

    def _flat_columns(self, n_features, natural, name):
        """Column index of every working entry ``(point, component)`` of a flat array with
        ``n_features`` columns; ``natural``: the array came from 3-D input (point-major)."""
        if self._order is not None and not natural:
            if n_features != len(self._order):
                raise ValueError(f"{name} has {n_features} feature(s); the layout's columns name "
                                 f"{len(self._order)}. Fix: pass the columns the layout names.")
            return self._order.reshape(-1, self.width)
        return np.arange(self.n_points_for(n_features) * self.width).reshape(-1, self.width)

    def _column_label(self, col, natural):
        if self.columns is not None and not natural:
            return repr(self.columns[col])
        return str(int(col))

    def learn_categories(self, X, natural=False, name="X"):
        """The sorted categories of every categorical field in the flat (object or numeric)
        array ``X``: ``{field name: ndarray of categories}``. Missing values (None, NaN)
        mark absent points and are not categories."""
        cols = self._flat_columns(X.shape[1], natural, name)
        out = {}
        for f in self.categorical_fields:
            values = X[:, cols[:, self._slices[f.name]].ravel()].ravel()
            seen = {_plain(v) for v in values if not _is_missing(v)}
            out[f.name] = np.array(sorted(seen, key=_category_key) + [None], dtype=object)[:-1]
        return out

    def encode_categories(self, X, categories, natural=False, name="X", single=False):
        """Copy of ``X`` (2-D) with every categorical field replaced by its integer code in
        ``categories`` (missing stays NaN), as float64. Raise on unseen categories.
        ``single`` (a bool, or one per column of ``X``): the columns that came in float32,
        whose values also match the one known number they round alike with in float32."""
        cols = self._flat_columns(X.shape[1], natural, name)
        single = np.broadcast_to(np.asarray(single, dtype=bool), (X.shape[1],))
        out = np.array(X, dtype=object, copy=True)
        for f in self.categorical_fields:
            known = categories.get(f.name) if categories is not None else None
            if known is None:
                raise ValueError(f"no categories were learned for the categorical field {f.name!r}; "
                                 "fit the estimator on data with this layout first.")
            code = {v: float(i) for i, v in enumerate(known)}
            # categories learned from float64 data (0.1) as float32 data holds them (0.10000000149)
            code32 = {}
            for i, v in enumerate(known):
                if isinstance(v, (int, float, np.integer)) and not isinstance(v, bool):
                    code32.setdefault(float(np.float32(v)), []).append(float(i))
            for col in cols[:, self._slices[f.name]].ravel():
                column = out[:, col]
                coded = np.empty(len(column), dtype=np.float64)
                for i, v in enumerate(column):
                    if _is_missing(v):
                        coded[i] = np.nan
                        continue
                    try:
                        coded[i] = code[_plain(v)]
                    except (KeyError, TypeError):
                        near = []
                        if single[col] and isinstance(v, (float, np.floating)):
                            near = code32.get(float(np.float32(v)), [])
                        if len(near) == 1:
                            coded[i] = near[0]
                            continue
                        if near:
                            raise ValueError(
                                f"{name} column {self._column_label(col, natural)} holds {_plain(v)!r} in "
                                f"float32, which matches each of the categories "
                                f"{[known[int(c)] for c in near]} of field {f.name!r} seen in fit. Fix: "
                                "pass this field in float64."
                            ) from None
                        if isinstance(known, CategoryCodes):
                            raise ValueError(known.misread(_plain(v), f.name, name,
                                                           self._column_label(col, natural))) from None
                        raise ValueError(
                            f"{name} column {self._column_label(col, natural)} holds {_plain(v)!r}, a "
                            f"category of field {f.name!r} not seen in fit (known: {list(known)}). Fix: "
                            "refit on data that includes it, or map it to a known category first."
                        ) from None
                out[:, col] = coded
        return out

    def decode_categories(self, P, categories):
        """Inverse of :meth:`encode_categories` on a working array ``(n, m, width)`` of
        codes: the categorical fields hold their categories again (absent points stay NaN).
        Numeric categories give an array of ``P``'s dtype, others an object array."""
        numeric = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                      for known in categories.values() for v in known)
        out = np.array(P, dtype=P.dtype if numeric else object, copy=True)
        for f in self.categorical_fields:
            known = np.asarray(categories[f.name], dtype=object)
            codes = np.asarray(P[..., self._slices[f.name]], dtype=np.float64)
            present = ~np.isnan(codes)
            column = out[..., self._slices[f.name]]
            column[present] = known[codes[present].astype(np.intp)]
        return out

    @classmethod
    def infer_from_columns(cls, columns, n_dims=None, categorical=()):
        """The layout that column names describe, or None when no column names a point.

        A column names a point when it holds a point index and a component: positions
        ``x``/``y``/``z`` (``atom3_x``, ``p0_y``, ``x1``, ``p0_pos_x``, ``pos_x1``,
        ``lig_atom3_x``, ``Atom 3 x``, ``prep__atom3_x`` with scikit-learn's step prefix
        dropped; upper case too: ``X1``, ``p0_Y``),
        vectors ``name_x`` (``p0_vel_x``, ``vel_x1``) and per-point
        scalars (``atom3_element``, ``p0_charge``). Positions decide ``n_dims`` (``x, y`` → 2,
        ``x, y, z`` → 3); names of vectors alone (``force_x0``, ...) describe points that
        carry vectors and no position, their axes deciding ``n_dims``. Beyond 3-D the axes
        are numbered as skcanon names them (``p0_x0..p0_x3``, ``p0_vel_x0..``). Names that
        are only ``x0, x1, ...`` (scikit-learn's names for an array's columns, as after
        ``set_output(transform="pandas")``) describe no layout unless ``n_dims=1``: they are
        read like an array.

        Parameters
        ----------
        columns : sequence of str
            Column names, e.g. ``df.columns``.
        n_dims : int or None, default=None
            Spatial dimension the caller expects; a mismatch is an error.
        categorical : collection of str, default=()
            Columns holding categories (strings): their scalar fields are declared
            ``categorical=True``.

        Returns
        -------
        layout : PointLayout or None

        Examples
        --------
        >>> from skcanon.layouts import PointLayout
        >>> PointLayout.infer_from_columns(["atom0_x", "atom0_y", "atom0_z", "atom0_element"],
        ...                                categorical={"atom0_element"})
        PointLayout(n_dims=3, fields=[pos:position[3], element:scalar[1] categorical], columns=[4 names])
        """
        columns = [str(c) for c in columns]
        if _plain_feature_names(columns) and n_dims != 1:
            return None
        fold, lenient = _reading(columns)
        parsed = [_parse_any_point_column(c, fold, lenient) for c in columns]
        numbered = _numbered_dims([p[1] for p in parsed if p is not None])
        if numbered:
            # beyond 3-D skcanon numbers the axes (p0_x3, p0_vel_x3): read its own names back
            owners = [_component_owner(p[1], numbered) for p in parsed if p is not None]
            if all(kind != "position" for _, kind in owners) and any(p is None for p in parsed):
                return None
            axes = set(_axis_names(numbered))
        else:
            axes = {comp for p in parsed if p is not None for comp in [p[1]] if comp in _AXIS_NAMES}
        if not axes:
            # vectors alone (``force_x0``, ``p0_vel_y``): their axes decide n_dims, and every
            # column must name a point component (otherwise the names describe no layout)
            if any(p is None for p in parsed):
                return None
            axes = {comp[-1] for _, comp in parsed if re.fullmatch(r"[A-Za-z]\w*_[xyz]", comp)}
            if not axes:
                return None
        bad = [c for c, p in zip(columns, parsed) if p is None]
        if bad:
            raise ValueError(
                f"columns {bad[:6]}{'...' if len(bad) > 6 else ''} do not name a point component, while "
                "other columns name point positions (like 'atom3_x', 'p0_y' or 'x1'). Fix: drop them "
                "(or route the point columns with a ColumnTransformer), pass "
                "layout=PointLayout.from_columns(point_columns, fields=[...]) yourself, or "
                "layout=PointLayout(n_dims, fields=[...]) to read the columns in their order, ignoring names."
            )
        dims = len(axes)
        if axes != set(_axis_names(dims)):
            # e.g. Z0, y0, Z1, y1: 'y' reads as an axis, 'Z' as a per-point scalar
            read = {}
            for col, (_, comp) in zip(columns, parsed):
                read.setdefault(comp, []).append(col)
            described = "; ".join(
                f"{cols[:3]}{'...' if len(cols) > 3 else ''} as "
                + (f"axis {comp!r}" if comp in _AXIS_NAMES else f"the per-point value {comp!r}")
                for comp, cols in read.items())
            declared = ", ".join(f"('{comp}', 'scalar')" for comp in read)
            raise ValueError(
                f"point columns name the axes {sorted(axes)}, but positions of {dims}-D points need the axes "
                f"{list(_axis_names(dims))} (columns read: {described}). Fix: rename the position columns "
                "(x0, y0, ... or p0_x, p0_y, ...); for a group that only permutes the points (S_n), "
                "declare every component by name: "
                f"layout=PointLayout.from_columns(columns, fields=[{declared}]); "
                "or put the columns in point-major order and pass layout=PointLayout(n_dims) to read them "
                "in their order, ignoring names.")
        if n_dims is not None and n_dims != dims:
            raise ValueError(
                f"the columns name {dims}-D points ({', '.join(_axis_names(dims))}), but {n_dims}-D points "
                f"were expected from n_dims or the group. Fix: pass n_dims={dims} with a group acting in "
                f"{dims}-D, layout=PointLayout.from_columns(columns, n_dims=..., fields=[...]), or "
                f"layout=PointLayout({n_dims}) to read the columns in their order (x0, y0, ..., x1, ...), "
                "ignoring names."
            )
        categorical = {str(c) for c in categorical}
        fields, seen = [], set()
        for col, (_, comp) in zip(columns, parsed):
            name, kind = _component_owner(comp, numbered)
            if name in seen:
                if kind == "scalar" and col in categorical:
                    fields = [Field(f.name, f.kind, f.size, True) if f.name == name else f for f in fields]
                continue
            seen.add(name)
            size = dims if kind != "scalar" else 1
            fields.append(Field(name, kind, size, kind == "scalar" and col in categorical))
        _refuse_axis_scalars(fields, dims)
        return cls(dims, fields=fields, columns=columns)

    def _describe(self):
        return ", ".join(f"{f.name}:{f.kind}[{f.size}]{' categorical' if f.categorical else ''}"
                         for f in self.fields)

    def _width_fix(self):
        """How to fix a last axis that is not this layout's width (error messages)."""
        return ("Fix: declare what each point carries with PointLayout(n_dims, fields=[...]) (or "
                "n_dims=...), or pass layout='image' for (n_samples, H, W) images.")

    # -- conversions -----------------------------------------------------------------------
    def to_working(self, X):
        """``(n, n_points*width)`` or ``(n, n_points, width)`` → ``(n, n_points, width)`` view."""
        if X.ndim == 3:
            if X.shape[2] != self.width:
                raise ValueError(
                    f"3-D X must have shape (n_samples, n_points, {self.width}) for this layout "
                    f"({self._describe()}); got last axis {X.shape[2]}. {self._width_fix()}"
                )
            return X
        if X.ndim != 2:
            raise ValueError(
                f"X must be 2-D (n_samples, n_points * {self.width}) or 3-D "
                f"(n_samples, n_points, {self.width}); got {X.ndim}-D."
            )
        if self._order is not None:
            if X.shape[1] != len(self._order):
                raise ValueError(f"X has {X.shape[1]} feature(s); the layout's columns name {len(self._order)}. "
                                 "Fix: pass the columns the layout names, or build the layout from these "
                                 "columns with PointLayout.from_columns(df.columns, fields=[...]).")
            X = X[:, self._order]
        n_points = self.n_points_for(X.shape[1])
        return X.reshape(X.shape[0], n_points, self.width)

    def from_working(self, P, ndim):
        """Inverse of :meth:`to_working`: back to the caller's number of dimensions."""
        if ndim == 3:
            return P
        flat = P.reshape(P.shape[0], -1)
        if self._order is not None:
            out = np.empty_like(flat)
            out[:, self._order] = flat
            return out
        return flat

    def check_absent_rows(self, P, name="X"):
        """Only whole-NaN rows may mark absent points; raise on partial NaN or inf."""
        if not np.issubdtype(P.dtype, np.floating):
            return
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.add.reduce(P.reshape(-1))):
                return  # a finite total means no NaN and no inf anywhere (one cheap pass)
        nan = np.isnan(P)
        if nan.any():
            any_nan = nan.any(axis=2)
            partial = any_nan & ~nan.all(axis=2)
            if np.any(partial):
                i, j = (int(k) for k in np.argwhere(partial)[0])
                raise ValueError(
                    f"{name} contains NaN inside a point (sample {i}, point {j} of this layout: "
                    f"{self._describe()}). NaN is only meaningful as a whole point row (all "
                    f"{self.width} columns NaN) marking an absent point. Fix: if your columns are "
                    "named (atom3_x, atom3_element, p0_y, ...), pass the DataFrame with layout=None or "
                    "layout=PointLayout.from_columns(df.columns, fields=[...]) so each column is read as "
                    "the component it names; otherwise fill or drop the partial rows."
                )
        if np.isinf(P).any():
            raise ValueError(f"{name} contains infinity; expected finite values or NaN rows.")

    def feature_names(self, n_points, working_order=False):
        """Names of the flat columns: the caller's (``columns``, in their order), or
        ``p{i}_{component}``. ``working_order``: the names of the point-major working array's
        flattened columns (the caller's names reordered as the layout reads them)."""
        if self.columns is not None:
            names = np.asarray(self.columns, dtype=object)
            return names[self._order] if working_order else names
        names = []
        for i in range(n_points):
            for f in self.fields:
                names.extend(f"p{i}_{c}" for c in f.component_names(self.n_dims))
        return np.asarray(names, dtype=object)

    def __repr__(self):
        cols = "" if self.columns is None else f", columns=[{len(self.columns)} names]"
        return f"PointLayout(n_dims={self.n_dims}, fields=[{self._describe()}]{cols})"

    def _key(self):
        return (self.n_dims, self.fields, self.columns)


class CategoryCodes(list):
    """The codes ``0.0 .. k-1`` that ``transform`` writes for the categories ``of`` (a
    categorical field), as the categories :meth:`PointLayout.encode_categories` reads where
    codes are expected (``inverse_transform``): its error then says that a code, not a
    category, was expected, instead of calling a category seen in fit unseen."""

    def __init__(self, of):
        super().__init__(float(i) for i in range(len(of)))
        self.of = list(of)

    def misread(self, value, field, name, column):
        """The message for ``value``, found in ``column`` of ``name`` where a code was expected."""
        try:
            index = self.of.index(value)
        except (ValueError, TypeError):
            index = None
        what = (f"{value!r}, a category of field {field!r} (seen in fit, code {index})" if index is not None
                else f"{value!r}, which is no code of field {field!r}")
        return (f"{name} column {column} holds {what}; inverse_transform expects the integer codes that "
                f"transform writes for categorical fields (0 to {len(self) - 1} for the categories "
                f"{self.of}, in that order), not the categories. Fix: pass transform's or canonicalize's "
                "output, or replace each category by its code.")


def _is_missing(v):
    return v is None or (isinstance(v, (float, np.floating)) and v != v) or \
        type(v).__name__ in ("NAType", "NaTType")


def _category_key(v):
    """Numbers sort numerically (6 before 8.0), then other values by type and value."""
    if isinstance(v, (int, float)):
        return (0, "", float(v))
    return (1, type(v).__name__, v)


def _plain(v):
    """numpy scalars as Python scalars, so 6, 6.0 and np.float64(6) are one category."""
    return v.item() if isinstance(v, np.generic) else v


def mixes_point_and_other_columns(columns):
    """True when some column names a point's axis (``p0_x``, ``x1``) and some other column
    names no point component at all (``period``, ``label``)."""
    fold, lenient = _reading(columns)
    parsed = [_parse_any_point_column(str(c), fold, lenient) for c in columns]
    comps = [p[1] for p in parsed if p is not None]
    numbered = _numbered_dims(comps)
    return (any(_component_owner(c, numbered)[1] == "position" for c in comps)
            and any(p is None for p in parsed))


def names_axes_out_of_point_order(columns, n_dims=None):
    """Whether column names that follow no pattern :meth:`PointLayout.infer_from_columns`
    reads still look like point coordinates (a lone ``x``/``y``/``z`` beside a digit:
    ``atom0_x_angstrom``, ``x_atom0``) in an order other than the point-major one the
    columns are then read in (``x, y, z, x, y, z, ...``): reading them so mixes the points
    up, which only the caller can tell."""
    columns = [str(c) for c in columns]
    if not columns or _plain_feature_names(columns):
        return False
    axes = [re.findall(r"(?<![A-Za-z])([xyzXYZ])(?![A-Za-z])", c) for c in columns]
    if not any(found and re.search(r"\d", c) for found, c in zip(axes, columns)):
        return False
    named = [found[0].lower() if len(found) == 1 else None for found in axes]
    dims = n_dims or len({a for a in named if a is not None}) or 1
    if dims > 3:
        # beyond 3-D the axes are numbered (p0_x3, p0_vel_x3): the number after a lone x
        numbers = [re.findall(r"(?<![A-Za-z])[xX](\d+)(?![A-Za-z\d])", c) for c in columns]
        return [found[0] if len(found) == 1 else None for found in numbers] != [
            str(j % dims) for j in range(len(columns))]
    return named != [_AXIS_NAMES[j % dims] for j in range(len(columns))]


def _separators_as_underscores(name, lenient=True):
    """``atom0.x``, ``x.0``, ``x[0]``, ``atom0-x``, ``Atom 0 x`` (json_normalize, pandas'
    repeat suffixes, other tools) spelled with ``_``, as the point-name patterns read them,
    after dropping (``lenient``) scikit-learn's step prefixes (``prep__atom0_x``, the default
    names out of a ColumnTransformer; nested ones too)."""
    if lenient:
        name = name.rsplit("__", 1)[-1]
    return re.sub(r"[.\-\[\]\s]+", "_", name).strip("_")


#: ``[prefix]index_component``: ``p0_x``, ``atom3_vel_x``, ``0_x``, and (lenient rules,
#: :func:`_reading`) prefixes with underscores (``lig_atom0_x``, ``ligand.atom0.x``)
_INDEX_THEN_COMPONENT = {True: r"(?:[A-Za-z][A-Za-z_]*?)?_?(\d+)_({component})",
                         False: r"[A-Za-z]*_?(\d+)_({component})"}


def _parse_any_point_column(name, fold=True, lenient=True):
    """``(point index, component)`` of a column name for any component (with ``fold``, axes
    in lower case, :func:`_axis_case`; ``lenient``: the rules of :func:`_reading`), or None."""
    case = _axis_case if fold else str
    name = _separators_as_underscores(name, lenient)
    m = re.fullmatch(_INDEX_THEN_COMPONENT[lenient].format(component=r"[A-Za-z]\w*"), name)
    if m:
        return int(m.group(1)), _position_alias(case(m.group(2)))
    m = re.fullmatch(r"([A-Za-z][A-Za-z_]*?)_?(\d+)", name)
    if m:
        return int(m.group(2)), _position_alias(case(m.group(1)))
    return None


def _parse_point_column(name, keys, fold=True, lenient=True):
    """``(point index, component key)`` of a column name, or None.

    Accepts index-then-component (``p0_x``, ``atom3_vel_x``) and component-then-index
    (``x1``, ``vel_x1``, ``charge_3``) spellings for the given component keys (``lenient``:
    the rules of :func:`_reading`).
    """
    name = _separators_as_underscores(name, lenient)
    m = re.fullmatch(_INDEX_THEN_COMPONENT[lenient].format(component=r"\w+"), name)
    if m:
        for comp in _spellings(m.group(2), fold):
            if comp in keys:
                return int(m.group(1)), comp
    m = re.fullmatch(r"(\w+?)_?(\d+)", name)
    if m:
        for comp in _spellings(m.group(1), fold):
            if comp in keys:
                return int(m.group(2)), comp
    return None


def _spellings(comp, fold):
    """The component as written, then with its axis folded to lower case, then with
    ``pos_`` dropped before an axis: exact keys first."""
    folded = _axis_case(comp) if fold else comp
    return (comp, folded, _position_alias(folded))


class GraphLayout(PointLayout):
    """Samples that are graphs: one row per node, ``[A[i, 0..n_nodes-1], features_i]``.

    Relabelling nodes permutes the rows *and* the adjacency columns (the S_n action of
    :class:`~skcanon.groups.PermutationGroup` on this layout). Absent nodes of smaller
    graphs are all-NaN rows (``padding="nan"``) or all-zero rows (``padding="zero"``).

    Parameters
    ----------
    n_nodes : int or None, default=None
        Padded node count; ``None`` takes the largest graph seen in ``fit``.
    node_features : {"degree", "ones"}, str, callable or None, default="degree"
        Per-node features when encoding networkx graphs: the degree (networkx's, so a
        self-loop counts twice), a constant 1, the name of a numeric node attribute, a
        callable ``f(G, node) -> array``, or ``None``.
    n_node_features : int or None, default=None
        Feature columns per node for already-encoded arrays (``None``: one, or none with
        ``node_features=None``); inferred when encoding graphs, and checked there only when
        given.
    padding : {"nan", "zero"}, default="nan"
        Fill of absent-node rows. With ``"zero"``, a node whose row and adjacency column
        are all zero (isolated, all features zero) reads as absent wherever it is
        labelled; see :meth:`present_nodes`.

    Examples
    --------
    >>> import networkx as nx
    >>> from skcanon.layouts import GraphLayout
    >>> X, layout = GraphLayout().encode([nx.path_graph(3), nx.complete_graph(2)])
    >>> X.shape, layout.n_nodes, layout.width
    ((2, 3, 4), 3, 4)
    """

    kind = "graph"

    def __init__(self, n_nodes=None, node_features="degree", n_node_features=None, padding="nan"):
        if padding not in ("nan", "zero"):
            raise ValueError(f"padding must be 'nan' or 'zero', got {padding!r}.")
        for name, value, low in (("n_nodes", n_nodes, 1), ("n_node_features", n_node_features, 0)):
            if value is not None and (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer))
                                      or value < low):
                raise ValueError(f"{name} must be an int >= {low} or None, got {value!r}.")
        self.n_nodes = None if n_nodes is None else int(n_nodes)
        self.node_features = node_features
        self.padding = padding
        # encode checks the features' width against a count the caller gave (or one fit
        # found), not against the default of one column
        self._width_given = n_node_features is not None
        if n_node_features is None:
            n_node_features = 0 if node_features is None else 1
        self.n_node_features = int(n_node_features)
        if self.n_nodes is not None:
            fields = [("adj", "scalar", self.n_nodes)]
            if self.n_node_features:
                fields.append(("feat", "scalar", self.n_node_features))
            super().__init__(1, fields=fields)
        else:
            self.n_dims, self.fields, self.width, self._slices = 1, (), None, {}

    @property
    def resolved(self):
        return self.n_nodes is not None

    def _require_resolved(self):
        if not self.resolved:
            raise ValueError("GraphLayout(n_nodes=None) needs networkx graphs to learn n_nodes from; "
                             "pass GraphLayout(n_nodes=...) for encoded arrays.")

    def to_working(self, X):
        self._require_resolved()
        P = super().to_working(X)
        if P.shape[1] != self.n_nodes:
            raise ValueError(
                f"X holds graphs of {P.shape[1]} node rows, but the layout has n_nodes={self.n_nodes} "
                f"(each row {self.width} columns: {self.n_nodes} adjacency + {self.n_node_features} "
                f"features); expected {self.n_nodes * self.width} columns or shape (n_samples, "
                f"{self.n_nodes}, {self.width}). Fix: pass GraphLayout(n_nodes={P.shape[1]}) if that is the size.")
        return P

    def check_absent_rows(self, P, name="X"):
        """Absent nodes are whole NaN rows; a present node holds finite adjacency entries and
        features, and no edge to an absent node (its entry there 0). Raise a ValueError
        naming ``name``, the sample and the node otherwise."""
        if not np.issubdtype(P.dtype, np.floating):
            return
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.add.reduce(P.reshape(-1))):
                return  # no NaN and no inf anywhere (one cheap pass)
        if np.isinf(P).any():
            i, j = (int(k) for k in np.argwhere(np.isinf(P).any(axis=2))[0])
            raise ValueError(f"{name} contains infinity (graph {i}, node {j}); expected finite adjacency "
                             "entries and node features, or all-NaN rows for absent nodes.")
        absent = np.isnan(P).all(axis=2)
        adj = P[..., self.slice_of("adj")]
        present = ~absent
        # entries of present nodes in the adjacency columns of absent nodes
        towards = present[:, :, None] & absent[:, None, :]
        nan_towards = np.isnan(adj) & towards
        if nan_towards.any():
            i, j, k = (int(v) for v in np.argwhere(nan_towards)[0])
            raise ValueError(
                f"{name} contains NaN in graph {i}: node {j} holds NaN in the adjacency column of absent "
                f"node {k}. "
                "An absent node is an all-NaN row; a present node's entry for it must be 0 (no edge). "
                "Fix: fill the absent nodes' adjacency columns with 0 (or pass networkx graphs).")
        edge = towards & (np.nan_to_num(adj) != 0)
        if edge.any():
            i, j, k = (int(v) for v in np.argwhere(edge)[0])
            raise ValueError(
                f"{name}: graph {i}, node {j} has an edge (adjacency entry {float(adj[i, j, k]):g}) to node "
                f"{k}, which is absent (an all-NaN row). Fix: give node {k} its features (it is present), or "
                "set the entry to 0.")
        partial = present & np.isnan(P).any(axis=2)
        if partial.any():
            i, j = (int(v) for v in np.argwhere(partial)[0])
            where = "adjacency entries" if np.isnan(adj[i, j]).any() else "node features"
            raise ValueError(
                f"{name} contains NaN inside a node: graph {i}, node {j} has NaN in its {where} "
                f"({self._describe()}). NaN is only "
                f"meaningful as a whole node row (all {self.width} columns NaN) marking an absent node; "
                "fill the missing values (e.g. a networkx node attribute that is NaN) or drop the node.")

    def _describe(self):
        return f"graph: {self.n_nodes} adjacency columns + {self.n_node_features} feature columns"

    def _width_fix(self):
        return (f"Fix: each node's row is its {self.n_nodes} adjacency entries, then its node features; "
                f"for adjacency only pass GraphLayout(n_nodes={self.n_nodes}, node_features=None), for k "
                "feature columns n_node_features=k.")

    def encode(self, graphs):
        """Encode networkx graphs; returns ``(P, layout)`` with ``P`` of shape
        ``(n_graphs, n_nodes, n_nodes + n_features)`` and the resolved layout.

        The adjacency is 0/1: edge weights, multiplicities and directions are ignored (a
        directed graph is encoded as its undirected version, node features included)."""
        import networkx as nx

        graphs = list(graphs)
        for g in graphs:
            if not isinstance(g, nx.Graph):
                raise TypeError(f"graphs must be networkx graphs, got {type(g).__name__}.")
        # the encoding is of simple undirected graphs: a directed graph is read as its
        # undirected version (features, e.g. the degree, computed on that version)
        graphs = [nx.Graph(g) if g.is_directed() or g.is_multigraph() else g for g in graphs]
        biggest = max((len(g) for g in graphs), default=0)
        n_nodes = self.n_nodes if self.n_nodes is not None else max(biggest, 1)
        if biggest > n_nodes:
            raise ValueError(
                f"a graph has {biggest} nodes, more than the n_nodes={n_nodes} of this layout (without "
                "n_nodes, the largest graph seen in fit). Fix: pass layout=GraphLayout(n_nodes=N) with N at "
                f"least the largest graph you will transform (here >= {biggest}), and refit."
            )
        orders = [node_order(g) for g in graphs]
        feats = [_node_features(g, order, self.node_features) for g, order in zip(graphs, orders)]
        widths = {f.shape[1] for f, g in zip(feats, graphs) if len(g)}
        if len(widths) > 1:
            raise ValueError(f"node features have different widths across graphs: {sorted(widths)}.")
        n_feat = widths.pop() if widths else self.n_node_features
        if self.resolved and getattr(self, "_width_given", True) and n_feat != self.n_node_features:
            raise ValueError(f"graphs have {n_feat} node features; the layout expects {self.n_node_features}.")
        fill = np.nan if self.padding == "nan" else 0.0
        P = np.full((len(graphs), n_nodes, n_nodes + n_feat), fill)
        for k, (g, f, order) in enumerate(zip(graphs, feats, orders)):
            m = len(g)
            if m:
                P[k, :m, :n_nodes] = 0.0
                P[k, :m, :m] = nx.to_numpy_array(g, nodelist=order, weight=None) != 0
                P[k, :m, n_nodes:] = f
        layout = GraphLayout(n_nodes, self.node_features, n_feat, self.padding)
        return P, layout

    def present_nodes(self, P):
        """Boolean ``(n_samples, n_nodes)`` mask of the real (non-padding) nodes of ``P``.

        With ``padding="nan"`` a node is absent when its row is all NaN. With
        ``padding="zero"`` a node is absent when its row and its adjacency column are all
        zero: an isolated node whose features are all zero cannot be told from padding, so
        it counts as absent wherever it is labelled (a rule that does not depend on the
        node order). Use ``padding="nan"``, or features that are never all zero (e.g.
        ``node_features="ones"``), to keep such nodes.
        """
        P = np.asarray(P)
        nan_rows = np.isnan(P).all(axis=-1)     # skcanon's absent-point marker, in either mode
        if self.padding == "nan":
            return ~nan_rows
        filled = np.nan_to_num(P)
        adj = filled[..., self.slice_of("adj")]
        return ~nan_rows & ((filled != 0).any(axis=-1) | (adj != 0).any(axis=-2))

    def feature_names(self, n_points):
        names = []
        for i in range(n_points):
            names.extend(f"n{i}_adj_{j}" for j in range(self.n_nodes))
            names.extend(f"n{i}_feat{k}" if self.n_node_features > 1 else f"n{i}_feat"
                         for k in range(self.n_node_features))
        return np.asarray(names, dtype=object)

    def __repr__(self):
        return (f"GraphLayout(n_nodes={self.n_nodes}, node_features={self.node_features!r}, "
                f"n_node_features={self.n_node_features}, padding={self.padding!r})")

    def __eq__(self, other):
        return isinstance(other, GraphLayout) and repr(other) == repr(self)

    def __hash__(self):
        return hash(repr(self))


def node_order(G):
    """The nodes of ``G`` in sorted order, or in insertion order where their labels cannot be
    compared (``"a"`` and ``1``); the invariant outputs do not depend on it."""
    try:
        return sorted(G.nodes())
    except TypeError:
        return list(G.nodes())


def _node_features(G, nodes, node_features):
    if node_features is None:
        return np.zeros((len(nodes), 0))
    if isinstance(node_features, str) and node_features == "degree":
        return np.array([[G.degree(v)] for v in nodes], dtype=np.float64).reshape(len(nodes), 1)
    if isinstance(node_features, str) and node_features == "ones":
        return np.ones((len(nodes), 1))
    if callable(node_features):
        return _numeric_rows([np.atleast_1d(node_features(G, v)) for v in nodes], node_features)
    if isinstance(node_features, str):
        try:
            values = [np.atleast_1d(G.nodes[v][node_features]) for v in nodes]
        except KeyError:
            raise ValueError(f"node_features={node_features!r} is not 'degree', 'ones', None "
                             "or a node attribute present on every node.") from None
        return _numeric_rows(values, node_features)
    raise TypeError("node_features must be 'degree', 'ones', None, a node attribute name or a "
                    f"callable (G, node) -> features; got {type(node_features).__name__}.")


def _numeric_rows(values, node_features):
    """Per-node feature vectors as a float64 ``(n_nodes, k)`` array; ragged or non-numeric
    ones get an error that names ``node_features``. A graph without nodes gives ``(0, 0)``:
    it has no feature values, and :meth:`GraphLayout.encode` takes the width from the other
    graphs."""
    if not values:
        return np.zeros((0, 0))
    try:
        return np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    except (TypeError, ValueError):
        raise ValueError(f"node_features={node_features!r} must give every node numbers of the same "
                         f"length; got values such as {values[:2]!r}.") from None


def is_graph_list(X):
    """True for a non-empty list/tuple of networkx graphs, or a 1-D object array or pandas
    Series of them (``np.array(graphs, dtype=object)``, a DataFrame's column)."""
    if getattr(X, "ndim", None) == 1 and hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):
        X = X.to_numpy()      # a pandas Series (a DataFrame column of graphs)
    if isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1:
        X = list(X)
    if not isinstance(X, (list, tuple)) or not X:
        return False
    try:
        import networkx as nx
    except ImportError:  # pragma: no cover
        return False
    return isinstance(X[0], nx.Graph)


def _is_one_graph(X):
    """A networkx graph passed as X (one sample, not a list of them)."""
    return type(X).__module__.split(".")[0] == "networkx"


def _is_matrix_list(X):
    """A list or tuple of scipy sparse matrices (adjacency matrices, one per graph)."""
    if not isinstance(X, (list, tuple)) or not X:
        return False
    try:
        import scipy.sparse as sparse
    except ImportError:  # pragma: no cover
        return False
    return sparse.issparse(X[0])


def encode_if_graphs(X, layout):
    """Encode a list of networkx graphs for ``layout`` (a GraphLayout); arrays pass through.

    Returns ``(X, layout)`` where ``layout`` is resolved (``n_nodes`` known) when graphs
    were given.
    """
    if isinstance(layout, GraphLayout) and isinstance(X, collections.abc.Iterator):
        # a generator would be read as one opaque object (and consumed by the attempt)
        raise TypeError(f"X is an iterator ({type(X).__name__}); graphs are read from a list or tuple of "
                        "networkx graphs (or encoded arrays). Fix: pass list(X).")
    if isinstance(layout, GraphLayout) and _is_one_graph(X):
        # one graph: read as an array it gave "needs networkx graphs" or "X must be 2-D"
        raise TypeError(f"X is a single graph ({type(X).__name__}); X holds one graph per sample. "
                        "Fix: pass a list of graphs, [G].")
    if isinstance(layout, GraphLayout) and _is_matrix_list(X):
        raise TypeError("X is a list of sparse adjacency matrices; graphs are read from networkx graphs or "
                        "encoded arrays. Fix: [networkx.from_scipy_sparse_array(A) for A in X].")
    if is_graph_list(X):
        if not isinstance(layout, GraphLayout):
            raise TypeError(
                "X is a list of networkx graphs; use layout=GraphLayout() (or layout='graph') "
                "with a permutation group such as group='S_n'."
            )
        return layout.encode(list(X))
    return X, layout


def _refuse_axis_scalars(fields, dims):
    """Scalar fields named ``vx, vy, vz`` (a stem and every axis letter) read from column
    names are most likely a vector's components: as scalars the group would not rotate them
    (an SE3 invariance error of 7.1 for velocities), so the names must say which is meant."""
    if dims < 2 or dims > 3:    # one axis letter: any name ending in x (flux, index) would match;
        return                  # beyond 3-D the axes are numbered (x0, x1, ...), not lettered
    scalars = {f.name for f in fields if f.kind == "scalar" and not f.categorical}
    axes = _AXIS_NAMES[:dims]
    for name in sorted(scalars):
        if len(name) < 2 or name[-1] != axes[0] or not name[:-1].isalpha():
            continue
        stem = name[:-1]
        if all(stem + a in scalars for a in axes):
            raise ValueError(
                f"columns name scalars {[stem + a for a in axes]}, which look like the components of a "
                f"vector {stem!r}, and scalars are not rotated. Fix: name them {stem}_{axes[0]}, ... (e.g. "
                f"p0_{stem}_x) to read them as a vector, or pass layout=PointLayout.from_columns(columns, "
                "fields=[...]) to say what they are.")


def _looks_channels_last(shape):
    """Whether 4-D images of shape ``(C, H, W)`` after the samples axis are more likely
    ``(H, W, C)``: a last axis of at most 4 (gray, RGB, RGBA), smaller than both others."""
    C, H, W = shape
    return W <= 4 and W < H and W < C


class ImageLayout(Layout):
    """Samples that are images.

    Parameters
    ----------
    shape : tuple of int, default=None
        ``(H, W)`` or ``(C, H, W)``. ``None`` infers it: from 3-D input ``(n, H, W)``,
        4-D input ``(n, C, H, W)``, or flat input whose width is a perfect square
        (one channel). 4-D input that looks channels-last (a last axis of at most 4,
        smaller than the two others) is refused rather than guessed: move the channels
        first, or declare the shape.

    Examples
    --------
    >>> from skcanon.layouts import ImageLayout
    >>> ImageLayout((28, 28)).shape
    (1, 28, 28)
    """

    kind = "image"

    def __init__(self, shape=None):
        if shape is not None:
            given = shape
            if (isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__")
                    or not all(isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_))
                               for s in shape)):
                raise ValueError(f"ImageLayout shape must be a tuple (H, W) or (C, H, W) of positive "
                                 f"ints, got {given!r}.")
            shape = tuple(int(s) for s in shape)
            if len(shape) == 2:
                shape = (1,) + shape
            if len(shape) != 3 or min(shape) < 1:
                raise ValueError(f"ImageLayout shape must be (H, W) or (C, H, W), got {given!r}.")
        self.shape = shape

    def resolve(self, X, param="layout"):
        """Return the ``(C, H, W)`` shape for input ``X`` (``param``: the caller's name of
        this layout, for the error message)."""
        if X.ndim == 3:
            shape = (1,) + X.shape[1:]
        elif X.ndim == 4:
            shape = X.shape[1:]
            if self.shape is None and _looks_channels_last(shape):
                C, H, W = shape
                raise ValueError(
                    f"X has shape (n_samples, {C}, {H}, {W}), which looks like channels-last images "
                    f"(n_samples, H, W, C) of {C}×{H} pixels and {W} channel(s); images are read channels "
                    f"first (n_samples, C, H, W), as {C} channels of {H}×{W} pixels. Fix: "
                    "X = np.moveaxis(X, -1, 1) for channels-last images, or, if X does hold "
                    f"{C} channels of {H}×{W} pixels, {param}=ImageLayout(({C}, {H}, {W})).")
        elif X.ndim == 2:
            if self.shape is not None:
                shape = self.shape
            else:
                side = int(round(np.sqrt(X.shape[1])))
                if side * side != X.shape[1]:
                    raise ValueError(
                        f"Cannot infer the image shape of flat X with {X.shape[1]} feature(s) (not a "
                        "perfect square); "
                        f"pass {param}=ImageLayout((H, W)) or ImageLayout((C, H, W))."
                    )
                shape = (1, side, side)
        else:
            raise ValueError(f"Image X must be 2-, 3- or 4-D; got {X.ndim}-D.")
        if self.shape is not None and tuple(shape) != self.shape:
            C, H, W = self.shape
            hint = (" (channels last? X = np.moveaxis(X, -1, 1) puts the channels first)"
                    if X.ndim == 4 and tuple(shape) == (H, W, C) else "")
            raise ValueError(f"X has image shape {tuple(shape)}, but the layout expects {self.shape}{hint}.")
        if X.ndim == 2 and int(np.prod(shape)) != X.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} features; image shape {shape} needs {int(np.prod(shape))}."
            )
        return tuple(int(s) for s in shape)

    def to_working(self, X):
        shape = self.resolve(X)
        return X.reshape((X.shape[0],) + shape)

    def from_working(self, P, ndim):
        if ndim == 4:
            return P
        if ndim == 3:
            return P.reshape(P.shape[0], P.shape[2], P.shape[3])
        return P.reshape(P.shape[0], -1)

    def check_absent_rows(self, P, name="X"):
        if np.issubdtype(P.dtype, np.floating) and not np.isfinite(P).all():
            raise ValueError(f"{name} contains NaN or infinity; images must be finite.")

    def feature_names(self, shape):
        c, h, w = shape
        if c == 1:
            return np.asarray([f"px_{r}_{q}" for r in range(h) for q in range(w)], dtype=object)
        return np.asarray(
            [f"c{k}_px_{r}_{q}" for k in range(c) for r in range(h) for q in range(w)], dtype=object
        )

    def __repr__(self):
        return f"ImageLayout(shape={self.shape})"

    def _key(self):
        return (self.shape,)


class FibreLayout(Layout):
    """Features in the regular representation of a cyclic group: ``channels × fibre_size``.

    Each sample is ``(n_samples, channels * fibre_size)`` channel-major (or 3-D
    ``(n_samples, channels, fibre_size)``); the cyclic group ``C_fibre_size`` acts by the
    same cyclic shift on every channel's fibre. This is the layout of group-convolution
    feature maps after spatial pooling.

    Parameters
    ----------
    fibre_size : int
        Order of the cyclic group (length of each fibre).
    """

    kind = "fibre"

    def __init__(self, fibre_size):
        if not isinstance(fibre_size, (int, np.integer)) or isinstance(fibre_size, bool) or fibre_size < 1:
            raise ValueError(f"fibre_size must be a positive int, got {fibre_size!r}.")
        self.fibre_size = int(fibre_size)

    def to_working(self, X):
        if X.ndim == 3:
            if X.shape[2] != self.fibre_size:
                raise ValueError(
                    f"3-D X must have shape (n_samples, channels, {self.fibre_size}); "
                    f"got last axis {X.shape[2]}."
                )
            return X
        if X.ndim != 2:
            raise ValueError(
                f"X must be 2-D (n_samples, channels * {self.fibre_size}); got {X.ndim}-D."
            )
        if X.shape[1] % self.fibre_size:
            raise ValueError(
                f"X has {X.shape[1]} features, not a multiple of fibre_size={self.fibre_size}; "
                f"expected shape (n_samples, channels * {self.fibre_size})."
            )
        return X.reshape(X.shape[0], -1, self.fibre_size)

    def from_working(self, P, ndim):
        return P if ndim == 3 else P.reshape(P.shape[0], -1)

    def check_absent_rows(self, P, name="X"):
        if np.issubdtype(P.dtype, np.floating) and not np.isfinite(P).all():
            raise ValueError(f"{name} contains NaN or infinity; fibre features must be finite.")

    def feature_names(self, channels):
        return np.asarray(
            [f"c{k}_g{j}" for k in range(channels) for j in range(self.fibre_size)], dtype=object
        )

    def __repr__(self):
        return f"FibreLayout(fibre_size={self.fibre_size})"

    def _key(self):
        return (self.fibre_size,)


def as_layout(layout, default):
    """Resolve a ``layout`` parameter: a layout object, ``"points"``, ``"image"`` or None."""
    if layout is None:
        return default
    if isinstance(layout, Layout):
        return layout
    if layout == "image":
        return ImageLayout()
    if layout == "graph":
        return GraphLayout()
    if layout == "points":
        return default if isinstance(default, PointLayout) else PointLayout()
    raise ValueError(
        "layout must be None, 'points', 'image', 'graph', or a PointLayout, GraphLayout, ImageLayout "
        "or FibreLayout; "
        f"got {layout!r}."
    )
