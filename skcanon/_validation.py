"""Input validation shared by every estimator: one place decides what a valid sample is."""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import sys
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_feature_names, _check_n_features, check_array

from ._threads import _loaded_torch

FLOAT_DTYPES = (np.float64, np.float32)

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


class NumberInterval(Interval):
    """scikit-learn's ``Interval`` constraint that refuses bools: ``True`` is an int to
    Python, but as a size, a count or a rate (``hidden=True``, ``lr=True``) it is a mistake."""

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)

    def __str__(self):
        return f"{super().__str__()} (not a bool)"


class NJobs(NumberInterval):
    """scikit-learn's ``n_jobs`` values, checked by ``fit``: a positive int, or a negative one
    (``-1``: every core, ``-2``: all but one...); with ``None`` (one thread) beside it. ``0``
    (no meaning) and bools (``True`` is an int to Python) are refused here, not first by
    ``transform``."""

    def __init__(self):
        super().__init__(Integral, None, None, closed="neither")

    def is_satisfied_by(self, val):
        return super().is_satisfied_by(val) and val != 0

    def __str__(self):
        return "an int other than 0 (n_jobs == 0 has no meaning; -1: every core; not a bool)"


def check_device(device, name="device"):
    """Validate a ``device`` parameter before any work; return it normalised.

    Accepts ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (GPU index ``N``), ``"mps"``
    (any case, surrounding spaces ignored) and :class:`torch.device` objects of those
    types. Returns a lower-case string (``torch.device("cuda", 1)`` → ``"cuda:1"``).
    Does not import torch: a ``torch.device`` can only exist once torch is imported.
    Whether the device is present is checked where the network is placed.

    Raises
    ------
    ValueError
        Naming ``name`` and the accepted values.

    Examples
    --------
    >>> from skcanon._validation import check_device
    >>> check_device(" CUDA:1 ")
    'cuda:1'
    """
    expected = ("expected 'auto', 'cpu', 'cuda', 'cuda:N' (N = GPU index), 'mps' or a torch.device of "
                "those types")
    if isinstance(device, str):
        normal = device.strip().lower()
        if _DEVICE.fullmatch(normal):
            return normal
        raise ValueError(f"{name}={device!r} is not a device this library runs on; {expected}.")
    torch = _loaded_torch()
    if torch is not None and isinstance(device, torch.device):
        if device.type in ("cpu", "cuda", "mps"):
            return str(device)
        raise ValueError(f"{name}={device!r} is not a device this library runs on; {expected}.")
    raise ValueError(f"{name} must be a string or torch.device; got {type(device).__name__} {device!r}; "
                     f"{expected}.")


def available_devices():
    """The devices torch can place a network on here: ``["cpu", "cuda:0", ..., "mps"]``."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def check_device_available(device, name="device", auto=True):
    """Raise a ValueError, before any work, when the device ``check_device`` returned is
    not on this machine; ``"auto"`` and ``"cpu"`` always pass.

    torch itself fails late and obscurely (``AssertionError: Torch not compiled with CUDA
    enabled`` from ``module.to``, or a RuntimeError for ``"mps"``). The message names
    ``name``, the devices there are and the fix; ``auto=False`` where ``"auto"`` is not
    accepted (the end-to-end estimators).

    Examples
    --------
    >>> check_device_available("cpu")
    """
    kind, _, index = device.partition(":")
    if kind not in ("cuda", "mps"):
        return
    import torch

    problem, fix = None, "device='cpu'"
    if auto:
        fix += ", or device='auto' (CUDA when there is one, else the CPU)"
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            built = "" if torch.version.cuda else f" (this torch {torch.__version__} is built without CUDA)"
            problem = f"CUDA is not available{built}"
        elif index and int(index) >= count:
            problem = f"this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
            fix = f"one of those, e.g. device='cuda:0', or {fix}"
    elif "mps" not in available_devices():
        problem = "MPS (Apple-silicon GPU) is not available"
    if problem:
        raise ValueError(f"{name}={device!r} was requested but {problem}; available here: "
                         f"{', '.join(available_devices())}. Use {fix}.")


def _package_dirs():
    dirs = [os.path.dirname(os.path.abspath(__file__))]
    for mod in ("sklearn", "joblib"):
        m = sys.modules.get(mod)
        if m is not None and getattr(m, "__file__", None):
            dirs.append(os.path.dirname(os.path.abspath(m.__file__)))
    return tuple(d + os.sep for d in dirs)


#: index in the caller's X of the first row of the batch being worked on (messages that
#: name samples add it: batches are slices of X)
_first_row = contextvars.ContextVar("skcanon_batch_first_row", default=0)


@contextlib.contextmanager
def batch_starting_at(start):
    """Within the block, :func:`batch_first_row` is ``start`` past its value outside (this
    thread or task only): a batch of a batch (an estimator inside another's batch) adds."""
    token = _first_row.set(_first_row.get() + int(start))
    try:
        yield
    finally:
        _first_row.reset(token)


def batch_first_row():
    """The index in X of the current batch's first row (0 outside a batch)."""
    return _first_row.get()


def named_random_state(random_state, name="random_state"):
    """``sklearn.utils.check_random_state`` with an error that names ``name``: scikit-learn's
    "'a' cannot be used to seed a numpy.random.RandomState instance" and numpy's "Seed must
    be between 0 and 2**32 - 1" named no parameter."""
    from sklearn.utils import check_random_state

    try:
        return check_random_state(random_state)
    except ValueError:
        raise ValueError(f"{name} must be None, an int or a numpy.random.RandomState (ints in "
                         f"[0, 2**32 - 1]); got {type(random_state).__name__} {random_state!r}.") from None


def user_stacklevel():
    """``stacklevel`` for a ``warnings.warn`` in the calling function that attributes the
    warning to the first frame outside skcanon, scikit-learn and joblib: the user's line,
    whether they called ``fit``, ``fit_transform`` or a ``Pipeline``."""
    prefixes = _package_dirs()
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(prefixes):
        frame, level = frame.f_back, level + 1
    return level


def refuse_borderless_image_action(group, image_shape, result="canonical forms"):
    """A ValueError where ``group`` rotates images of ``image_shape`` by interpolation and
    they are at most 2 pixels high or wide (other than 1×1): every pixel is a border pixel,
    so there is no interior that such a turn keeps (a 45° turn keeps 79% of a constant 2×2
    image, at every pixel) and ``result`` would not be invariant even approximately."""
    if group.exact_on_image_shape(image_shape):
        return
    H, W = int(image_shape[-2]), int(image_shape[-1])
    if min(H, W) <= 2 and max(H, W) > 1:
        square = H == W
        raise ValueError(
            f"group {group.name!r} rotates images by interpolation for angles that are not multiples "
            f"of {'90' if square else '180'}°, and every pixel of a {H}×{W} image lies on its border: "
            f"such a turn changes every pixel, so the {result} would not be invariant even approximately. "
            f"Use {'C4/D4 or C2/D2' if square else 'C2/D2'} for exact image symmetries, or resample the "
            "images to at least 3×3 pixels (larger images keep more of their interior).")


def warn_inexact_image_action(group, image_shape, result="canonical forms"):
    """Warn (:class:`~skcanon.exceptions.InexactActionWarning`, at the user's line) where
    ``group`` rotates images of ``image_shape`` by interpolation: ``result`` is then
    invariant only up to resampling error (:func:`refuse_borderless_image_action` first)."""
    if group.exact_on_image_shape(image_shape):
        return
    refuse_borderless_image_action(group, image_shape, result)
    import warnings

    from .exceptions import InexactActionWarning

    square = image_shape[-1] == image_shape[-2]
    warnings.warn(
        f"group {group.name!r} rotates {'' if square else 'non-square '}images by interpolation "
        f"for angles that are not multiples of {'90' if square else '180'}°: {result} are "
        "invariant only up to resampling error (corners are cut, edges smoothed). Use "
        f"{'C4/D4' if square else 'C2/D2, or pad the images to a square for C4/D4,'} for exact "
        "image symmetries.",
        InexactActionWarning, stacklevel=user_stacklevel())  # the user's line, past sklearn


# -- data frames -------------------------------------------------------------------------------
def refuse_lazy_frame(X, name="X"):
    """A TypeError naming ``name`` for a lazy Dask DataFrame or Series: its shape and
    emptiness are lazy scalars, which dask refuses to read as booleans. Dask arrays are
    read as arrays (numpy computes them)."""
    if hasattr(X, "__dask_graph__") and (hasattr(X, "columns") or hasattr(X, "to_frame")):
        kind = "Series" if hasattr(X, "to_frame") else "DataFrame"
        raise TypeError(
            f"{name} is a lazy Dask {kind}, which skcanon's estimators do not read in place. Fix: pass "
            f"{name}.compute() (or a sample of it) to fit and to in-memory calls, and transform a Dask "
            f"DataFrame block by block with skcanon.dask.transform_dask(estimator, {name}).")


def _time_kind(dtype):
    """"dates" or "durations" for numpy, pandas and polars date/time dtypes; else None."""
    kind = getattr(dtype, "kind", None)
    if kind in ("M", "m"):   # numpy and pandas datetime64 (tz-aware too) / timedelta64
        return "dates" if kind == "M" else "durations"
    text = str(dtype)
    if text.startswith("period[") or text in ("Date", "Time") or text.startswith("Datetime"):
        return "dates"
    if text.startswith("Duration"):   # polars
        return "durations"
    return None


def refuse_time_values(X, name="X"):
    """A TypeError for dates and durations (datetime64/timedelta64 arrays, DataFrame
    columns of those dtypes): numpy reads them as counts of their unit since 1970, so
    ``datetime64[D]`` and ``[us]`` arrays of the same dates gave different canonical forms."""
    if isinstance(X, np.ndarray) or (hasattr(X, "dtype") and not hasattr(X, "columns")):
        what = _time_kind(getattr(X, "dtype", None))
        if what is not None:
            example = f"({name} - t0)" if what == "dates" else name
            raise TypeError(
                f"{name} has dtype {X.dtype} ({what}), which skcanon does not read as numbers: their "
                "values as numbers depend on the unit (e.g. days or microseconds). Convert them "
                f"first, e.g. {example} / np.timedelta64(1, 's').")
        return
    if not is_dataframe(X):
        return
    for column, dtype in zip(frame_columns(X), list(X.dtypes), strict=True):
        what = _time_kind(dtype)
        if what is not None:
            example = f"({name}[{column!r}] - t0)" if what == "dates" else f"{name}[{column!r}]"
            example = (f", e.g. {example} / pd.Timedelta(1, 's')" if hasattr(X, "iloc")
                       else " (e.g. seconds" + (" since a reference time" if what == "dates" else "") + ")")
            raise TypeError(
                f"{name} column {column!r} holds {what} (dtype {dtype}), which skcanon does not read "
                f"as numbers: their values as numbers depend on the unit. Convert the column to numbers "
                f"first{example}, or route it past with a ColumnTransformer.")


def is_dataframe(X):
    """True for pandas and polars DataFrames (anything with named columns and dtypes)."""
    return (not isinstance(X, np.ndarray) and hasattr(X, "columns") and hasattr(X, "dtypes")
            and hasattr(X, "shape") and len(getattr(X, "shape", ())) == 2)


def frame_columns(X):
    """The column names as strings; a MultiIndex's tuples (``DataFrame.pivot``: ``('x', 0)``)
    joined by ``_`` (``x_0``), so they can name points."""
    return ["_".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in X.columns]


def check_unique_columns(X, name="X"):
    """Duplicate column names make reading columns by name ambiguous: a ValueError."""
    if not is_dataframe(X):
        return
    names = frame_columns(X)
    if len(set(names)) != len(names):
        seen, dup = set(), []
        for c in names:
            if c in seen and c not in dup:
                dup.append(c)
            seen.add(c)
        raise ValueError(f"{name} has duplicate column names {dup}; every column needs a unique name. "
                         "Fix: rename or drop the duplicates (e.g. df.loc[:, ~df.columns.duplicated()]).")


def _is_numeric_dtype(dtype):
    if isinstance(dtype, np.dtype):
        return dtype.kind in "biuf"
    is_numeric = getattr(dtype, "is_numeric", None)  # polars
    if callable(is_numeric):
        return bool(is_numeric()) or str(dtype) == "Boolean"
    try:  # pandas extension dtypes (nullable Int64, Float64, boolean, category, string)
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        return bool(is_numeric_dtype(dtype) or is_bool_dtype(dtype)) and str(dtype) != "category"
    except ImportError:  # pragma: no cover
        return False


def non_numeric_columns(X):
    """Names of the DataFrame's columns whose dtype is not numeric (strings, categories: a
    ``category`` column of numbers too); an ``object`` column that holds only numbers (NaN
    included) counts as numeric (``astype(object)``, rows built from dicts: its values are
    numbers, not categories)."""
    dtypes = X.dtypes if not isinstance(X.dtypes, list) else X.dtypes  # pandas Series / polars list
    return [c for k, (c, d) in enumerate(zip(frame_columns(X), list(dtypes), strict=True))
            if not _is_numeric_dtype(d) and not (_is_object_dtype(d) and _holds_numbers(X, k))]


def _is_object_dtype(dtype):
    # pandas' category dtype has kind "O" too, but declares its values categories even where
    # they are numbers
    return (getattr(dtype, "kind", None) == "O" and str(dtype) != "category") or str(dtype) == "Object"


# infer_dtype's names for columns of ints and floats only (NaN included, None and NA not)
_NUMBER_KINDS = frozenset({"integer", "floating", "mixed-integer-float", "integer-na"})


def _holds_numbers(X, k):
    """Whether every value of the DataFrame's ``k``-th column is a real number (NaN
    included; None and pandas' NA leave the column to the categorical path, which names
    them)."""
    if hasattr(X, "iloc"):
        column = X.iloc[:, k]
        from pandas.api.types import infer_dtype

        # pandas' C scan first (a Python loop over millions of values took seconds); what it
        # does not call plain numbers (None, NA, fractions) goes through the exact loop below
        if infer_dtype(column, skipna=False) in _NUMBER_KINDS:
            return True
    else:
        column = X.to_series(k)
    return all(isinstance(v, Real) and not isinstance(v, bool) for v in column.to_numpy())


def _has_nullable_columns(X):
    """Whether a pandas DataFrame has nullable extension columns (``Float32``, ``Int64``...)."""
    return any(hasattr(d, "numpy_dtype") and type(d).__module__.startswith("pandas") for d in list(X.dtypes))


def without_pandas_na(X):
    """An object array with pandas' NA as NaN (a copy where it holds any; else ``X``)."""
    pd = sys.modules.get("pandas")   # no pandas imported: no NA in the array
    if pd is None or getattr(X, "dtype", None) is None or X.dtype.kind != "O":
        return X
    na = np.fromiter((v is pd.NA for v in X.flat), dtype=bool, count=X.size).reshape(X.shape)
    if not na.any():
        return X
    X = X.copy()
    X[na] = np.nan
    return X


def object_as_float(X, dtype):
    """``X.astype(dtype)``, with pandas' NA read as NaN as None already is (and as NA in
    pandas' nullable columns is): the same data was refused as a bare object array."""
    try:
        return X.astype(dtype)
    except TypeError:
        cleaned = without_pandas_na(X)
        if cleaned is X:
            raise
        return cleaned.astype(dtype)


def _frame_values(X):
    """The DataFrame as a 2-D object ndarray (column by column, no dtype coercion)."""
    cols = [np.asarray(X[c].to_numpy(), dtype=object) for c in X.columns]
    return np.column_stack(cols) if cols else np.empty((X.shape[0], 0), dtype=object)


def _not_numeric_error(X, name, expected, layout, columns):
    """The TypeError for input that does not convert to float, naming the first bad column."""
    flat = X.reshape(X.shape[0], -1)
    for j in range(flat.shape[1]):
        for v in flat[:, j]:
            try:
                float(v)
            except (TypeError, ValueError) as exc:
                label = repr(columns[j]) if columns is not None else str(j)
                hint = ""
                if getattr(layout, "kind", None) == "points":
                    hint = (" Per-point categories (element symbols, labels) are read by name: pass a DataFrame "
                            "with layout=None (columns like 'atom3_element'), or declare "
                            "Field('element', 'scalar', 1, categorical=True) in "
                            "layout=PointLayout.from_columns(columns, fields=[...]).")
                return TypeError(
                    f"{name} must be numeric (float or int) of shape {expected}; column {label} holds "
                    f"{v!r}, which is not a number ({exc}).{hint} Other text columns: encode them first (e.g. "
                    "OrdinalEncoder) or route them past with a ColumnTransformer."
                )
    return None


def _describe_expected(layout):
    kind = getattr(layout, "kind", None)
    if kind == "points":
        return f"(n_samples, n_points * {layout.width}) or (n_samples, n_points, {layout.width})"
    if kind == "image":
        return "(n_samples, C*H*W), (n_samples, H, W) or (n_samples, C, H, W)"
    if kind == "fibre":
        return f"(n_samples, channels * {layout.fibre_size}) or (n_samples, channels, {layout.fibre_size})"
    return "(n_samples, n_features)"


def _coerce(X, layout, name, categories=None):
    """Checks shared by estimators and functions: sparse, None, non-numeric, complex, number
    of dimensions, zero samples. Returns ``(X_2d, ndim, lead_shape)``; 3-D/4-D input is
    flattened (``lead_shape`` restores it)."""
    return _coerce_full(X, layout, name, categories)[:3]


def _column_numpy_dtype(dtype):
    """The numpy dtype of a numeric column dtype of numpy, pandas (nullable ``Float32``,
    ``Int64``...) or polars (``Float32``, ``UInt8``, ``Boolean``...); None when not numeric."""
    dtype = getattr(dtype, "numpy_dtype", dtype)      # pandas' nullable extension dtypes
    if not isinstance(dtype, np.dtype):               # polars names its dtypes as numpy does
        name = str(dtype).lower().replace("boolean", "bool")
        try:
            dtype = np.dtype(name)
        except (TypeError, ValueError):               # Datetime(...), Decimal(...), String...
            return None
    return dtype if dtype.kind in "fiub" else None


def _numeric_float_dtype(X, layout):
    """float32 when the numeric columns of ``X`` (an array or a DataFrame) promote to float32
    (numpy's rules: float32 with small integers or booleans), float64 otherwise. The columns
    of the layout's categorical fields do not count: the encoding replaces their values by
    codes, so they say nothing about the precision of the rest."""
    if not is_dataframe(X):
        return np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64
    dtypes = [_column_numpy_dtype(d) for d in X.dtypes]
    skip = set()
    if getattr(layout, "categorical_fields", ()):     # point layouts only (images have none)
        try:
            cols = layout._flat_columns(len(dtypes), False, "X")
            skip = {int(c) for f in layout.categorical_fields for c in cols[:, layout.slice_of(f.name)].ravel()}
        except ValueError:                            # a width mismatch: reported after coercion
            pass
    dtypes = [d for i, d in enumerate(dtypes) if i not in skip and d is not None]
    return np.float32 if dtypes and np.result_type(*dtypes) == np.float32 else np.float64


def check_target_width(y, layout):
    """Raise a ValueError naming ``y`` when its columns do not hold whole target points of
    ``layout`` (flat: a multiple of the width; 3-D: the width on the last axis), or holds
    no target point at all (0 columns or points: the regressor had nothing to learn, and
    the estimator's own error named no target)."""
    w = layout.width
    if y.ndim in (2, 3) and y.shape[1] == 0:
        raise ValueError(f"y has shape {y.shape}: no target point. Expected shape (n_samples, n_target_points "
                         f"* {w}) or (n_samples, n_target_points, {w}) with n_target_points >= 1 for "
                         f"target_layout {layout!r}.")
    if (y.ndim == 2 and y.shape[1] % w) or (y.ndim == 3 and y.shape[2] != w):
        what = f"{y.shape[1]} columns are not a multiple of" if y.ndim == 2 else \
            f"last axis has {y.shape[2]} entries, not"
        raise ValueError(f"y has shape {y.shape}: its {what} the {w} columns per target point of "
                         f"target_layout {layout!r}; expected (n_samples, n_target_points * {w}) or "
                         f"(n_samples, n_target_points, {w}).")


def check_object_labels(y):
    """Refuse object ``y`` that ``np.unique`` cannot sort (it raised a bare ``TypeError``)."""
    values = y.ravel()
    if any(v is None for v in values):
        raise ValueError("y contains None (a missing target); supervised training needs a class label "
                         "or a real value for every sample.")
    strings = [isinstance(v, str) for v in values]
    if any(strings) and not all(strings):
        types = sorted({type(v).__name__ for v in values})
        raise TypeError(f"y mixes strings and other values (types {types}); class labels must be all "
                        "strings or all numbers.")


def tensor_to_numpy(X):
    """A torch tensor (on any device) as a numpy array, keeping its dtype; anything else
    unchanged. Recognised without importing torch (the core install has none)."""
    if type(X).__module__.split(".")[0] == "torch" and hasattr(X, "detach"):
        return X.detach().cpu().numpy()
    return X


def frame_in_layout_order(X, layout, name="X"):
    """A DataFrame read by a layout that names its columns (``PointLayout.from_columns``),
    with its columns in the layout's order: the layout reads them by name, so a frame holding
    the same names in another order is not read by position (which scrambled the points).
    A ValueError naming the differences when the names are not the layout's."""
    wanted = getattr(layout, "columns", None)
    if wanted is None or not is_dataframe(X):
        return X
    check_unique_columns(X, name)  # before names are looked up (a repeat would be dropped)
    have = frame_columns(X)
    if have == list(wanted):
        return X
    idx = layout_column_positions(have, layout, name)
    return X.iloc[:, idx] if hasattr(X, "iloc") else X.select([X.columns[i] for i in idx])


def layout_column_positions(have, layout, name="X", what="layout"):
    """Positions in ``have`` (column names) of the names ``layout.columns``, in the layout's
    order; a ValueError naming ``name`` and the differences where they are other names."""
    wanted = layout.columns
    where = {c: i for i, c in enumerate(have)}
    missing = [c for c in wanted if c not in where]
    unexpected = [c for c in have if c not in set(wanted)]
    if missing or unexpected:
        raise ValueError(
            f"{name}'s columns are not the ones its {what} reads ({layout!r}): missing "
            f"{missing[:6]}{'...' if len(missing) > 6 else ''}, unexpected "
            f"{unexpected[:6]}{'...' if len(unexpected) > 6 else ''}. Fix: pass the columns the layout "
            "was built from, or build it from these (PointLayout.from_columns(df.columns, ...)).")
    return [where[c] for c in wanted]


def _coerce_full(X, layout, name, categories=None):
    """:func:`_coerce` plus categorical encoding: returns ``(X_2d, ndim, lead_shape,
    categories)``; categories are learned here when ``categories`` is None and the layout
    declares categorical fields (else None)."""
    refuse_lazy_frame(X, name)
    expected = _describe_expected(layout)
    if sp.issparse(X):
        raise TypeError(
            f"{name} is a sparse matrix; skcanon needs a dense array of shape {expected}. "
            "Convert it with X.toarray()."
        )
    if X is None:
        raise ValueError(f"{name} is None; expected an array of shape {expected}.")
    X = tensor_to_numpy(X)
    refuse_time_values(X, name)
    categorical = bool(getattr(layout, "categorical_fields", ()))
    columns = None
    # float32 data stays float32 when categorical codes replace some of its columns: the
    # encoding goes through an object array, and float64 would change the output dtype and
    # the tie tolerances the canonicalizers apply
    out_dtype = _numeric_float_dtype(X, layout) if categorical else np.float64
    # the columns that hold float32 numbers: categorical fields there match their categories
    # in float32
    single = getattr(X, "dtype", None) == np.float32
    if is_dataframe(X):
        check_unique_columns(X, name)
        if categorical:
            single = np.array([_column_numpy_dtype(d) == np.float32 for d in list(X.dtypes)], dtype=bool)
        if categorical or non_numeric_columns(X):
            columns = frame_columns(X)
            X = _frame_values(X)
        elif _has_nullable_columns(X):
            # pandas' nullable columns (Float32, Int64): read by their numpy dtypes, as the
            # categorical path does (scikit-learn would make Float32 float64), NA as NaN
            columns = frame_columns(X)
            X = X.to_numpy(dtype=_numeric_float_dtype(X, layout), na_value=np.nan)
    ndim = getattr(X, "ndim", None)
    if ndim is None or categorical:
        try:
            X = np.asarray(X)
        except ValueError as exc:
            if "inhomogeneous" not in str(exc) and "sequence" not in str(exc):
                raise
            raise ValueError(
                f"{name} is a nested sequence whose rows have different lengths (ragged); expected a "
                f"rectangular array of shape {expected}. Fix: pad every sample to the same number of "
                "points with all-NaN rows (absent points), or pass a 2-D array."
            ) from None
        ndim = X.ndim
    lead_shape = None
    if ndim not in (2,) and isinstance(X, np.ndarray):
        if ndim < 2:
            raise ValueError(
                f"{name} must be 2-D of shape {expected}; got an array of shape {X.shape}."
                # a single sample is the likely mistake for X only (a 1-D y is a plain target)
                + (" Reshape your data, e.g. X.reshape(1, -1) for a single sample." if name == "X" else "")
            )
        if ndim > 4 or (ndim == 4 and getattr(layout, "kind", None) != "image"):
            raise ValueError(f"{name} must have shape {expected}; got an array of shape {X.shape}.")
        lead_shape = X.shape[1:]
        X = X.reshape(X.shape[0], -1) if X.shape[0] else X.reshape(0, int(np.prod(lead_shape)))
    elif ndim != 2:
        raise ValueError(f"{name} must have shape {expected}; got {ndim} dimensions.")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has 0 sample(s); expected shape {expected} with n_samples >= 1.")
    if categorical:
        natural = lead_shape is not None
        if categories is None:
            categories = layout.learn_categories(X, natural, name)
        X = layout.encode_categories(X, categories, natural, name, single)
    else:
        categories = None
    if isinstance(X, np.ndarray) and X.dtype.kind in "OUSVc":
        if X.dtype.kind == "c":
            raise ValueError(
                f"Complex data not supported: {name} has complex dtype; expected real numbers of "
                f"shape {expected}."
            )
        try:
            X = object_as_float(X, out_dtype)
        except (TypeError, ValueError) as exc:
            # the value named is one that is not a number: not an NA, which reads as NaN
            error = _not_numeric_error(without_pandas_na(X), name, expected, layout, columns)
            if error is not None:
                raise error from None
            raise TypeError(
                f"{name} must be numeric (float or int) of shape {expected}; got dtype "
                f"{X.dtype} that cannot be converted: {exc}"
            ) from None
    return X, ndim, lead_shape, categories


def _finish(X2, lead_shape, layout, name, allow_nan):
    X_nd = X2 if lead_shape is None else X2.reshape((X2.shape[0],) + lead_shape)
    try:
        P = layout.to_working(X_nd)
    except ValueError as exc:
        if name == "X" or not re.search(r"\bX\b", str(exc)):
            raise
        # the layouts' shape messages speak of X: name the argument the caller passed
        raise ValueError(re.sub(r"\bX\b", name, str(exc), count=1)) from None
    # with NaN rows allowed, scikit-learn's finite scan is skipped and this one pass also
    # rejects inf and partial-NaN rows; otherwise the array check rejected them already
    if allow_nan:
        layout.check_absent_rows(P, name=name)
    return P


def _allows_nan(layout, allow_absent_points):
    return allow_absent_points and getattr(layout, "kind", None) in ("points", "graph")


def validate_samples(estimator, X, layout, *, reset, allow_absent_points=True, dtype=FLOAT_DTYPES,
                     name="X", reporter=None, categories=None, check_names=True):
    """Validate ``X`` and return ``(P, ndim)``: the layout's working array and the caller's
    number of dimensions (so outputs can be returned in the same layout).

    Raises ``TypeError`` for sparse, non-numeric or complex input and ``ValueError`` for
    empty, ragged, wrongly shaped or non-finite input (NaN allowed only as whole absent-point
    rows when ``allow_absent_points``) or duplicate column names, always naming ``name``
    and the expected shape. Never modifies ``X``. Records ``n_features_in_`` /
    ``feature_names_in_`` (``reset``) or checks them, as scikit-learn's ``validate_data``
    does; categorical fields of the layout are encoded with the categories learned when
    ``reset`` (stored as ``estimator.categories_``). ``reporter`` (``reset=False`` only): the
    fitted estimator the user called, whose feature names and count are checked and whose
    name the messages give, when ``estimator`` is a part of it (a meta-estimator's step).
    ``categories`` (``reset=False`` only) replaces the fitted categories, e.g. the codes
    themselves for data that already holds codes. ``check_names=False`` (``reset=False``)
    skips the feature-name check for arrays (``inverse_transform``: canonical-pose data, whose
    arrays scikit-learn's own inverse transforms take without a warning).
    """
    refuse_lazy_frame(X, name)   # before anything asks for its (lazy) shape
    check_unique_columns(X, name)  # before scikit-learn reads the names
    if reporter is None or reset:
        reporter = estimator
    # pandas column dtypes of fit: skcanon.dask reads object blocks (a Dask DataFrame's
    # to_dask_array() of mixed columns) with them, as the DataFrame itself is read
    dtypes_in = tuple(X.dtypes) if reset and is_dataframe(X) and hasattr(X, "iloc") else None
    if reset or check_names or is_dataframe(X):
        _check_feature_names(reporter, X, reset=reset)  # the caller's names, in the caller's order
    X = frame_in_layout_order(X, layout, name)
    known = None if reset else (categories if categories is not None else getattr(estimator, "categories_", None))
    X, ndim, lead_shape, categories = _coerce_full(X, layout, name, known)
    allow_nan = _allows_nan(layout, allow_absent_points)
    # scikit-learn's finiteness test sums X first: +-1e308 values warned "invalid value"
    with np.errstate(over="ignore", invalid="ignore"):
        X2 = check_array(X, input_name=name, estimator=reporter, dtype=list(dtype),
                         ensure_all_finite=not allow_nan, ensure_min_features=1)
    _check_n_features(reporter, X2, reset=reset)
    if reset:
        if categories is not None:
            estimator.categories_ = categories
        elif hasattr(estimator, "categories_"):
            del estimator.categories_
        if dtypes_in is not None:
            estimator._dtypes_in = dtypes_in
        elif hasattr(estimator, "_dtypes_in"):
            del estimator._dtypes_in
    return _finish(X2, lead_shape, layout, name, allow_nan), ndim


def check_samples(X, layout, *, allow_absent_points=True, dtype=FLOAT_DTYPES, name="X",
                  return_categories=False):
    """:func:`validate_samples` for functions (metrics, data sets): the same rules and
    messages, without an estimator's feature bookkeeping. Returns ``(P, ndim)``, and the
    categories learned from ``X`` (None without categorical fields) as a third item when
    ``return_categories``: ``P`` holds their codes."""
    refuse_lazy_frame(X, name)
    X, ndim, lead_shape, categories = _coerce_full(frame_in_layout_order(X, layout, name), layout, name)
    allow_nan = _allows_nan(layout, allow_absent_points)
    with np.errstate(over="ignore", invalid="ignore"):   # as in validate_samples
        X2 = check_array(X, dtype=list(dtype), ensure_all_finite=not allow_nan,
                         ensure_min_features=1, input_name=name)
    P = _finish(X2, lead_shape, layout, name, allow_nan)
    return (P, ndim, categories) if return_categories else (P, ndim)


def check_translations_act(group, layout, name="layout"):
    """Refuse a group with translations on a point layout without a position field: the
    translations act on nothing there (vectors only rotate), and centring the vectors as if
    they were positions broke invariance (two generic vectors under SE3: errors up to 2)."""
    fields = getattr(layout, "fields", None)
    if group.translates and fields and not any(f.kind == "position" for f in fields):
        g = group.name
        rotations = ("SO" + g[2:] if g.startswith("SE") else "O" + g[1:] if g.startswith("E")
                     else "S_n" if g.startswith("T") and g.endswith("xS_n") else f"SO{layout.n_dims}")
        raise ValueError(
            f"group {group.name!r} translates positions, but {name} {layout!r} has no position field "
            f"(only {', '.join(sorted({f.kind for f in fields}))} fields), on which translations do nothing. "
            f"Fix: a group without translations (e.g. {rotations!r}), or declare the fields that are "
            "positions with kind 'position'."
            + (" The layout was read from column names, where 'NAME_x' names a vector and only bare axes "
               "('p0_x', 'x0') or 'pos_x' name positions: rename the position columns, or pass "
               "layout=PointLayout.from_columns(columns, fields=[(NAME, 'position'), ...])."
               if getattr(layout, "columns", None) is not None else ""))


def check_samples_placed(P, group, target_layout, name="X"):
    """Refuse samples without a present point where a position target must move with them
    under a group that translates: every translation leaves such a sample unchanged but
    moves its target, so no prediction is equivariant (the origin was returned)."""
    fields = getattr(target_layout, "fields", None)
    if not (group.translates and fields and any(f.kind == "position" for f in fields)):
        return
    empty = np.flatnonzero(np.isnan(P).all(axis=tuple(range(1, P.ndim))))
    if empty.size:
        raise ValueError(
            f"{name} has {empty.size} sample(s) without any present point (samples "
            f"{empty[:5].tolist()}{', ...' if empty.size > 5 else ''}): under group {group.name!r}, "
            "which translates, a position target has no equivariant value for them (every "
            "translation leaves such a sample unchanged but moves its target). Drop those samples, "
            "or use a group without translations.")


def _shape_or_ragged(a):
    try:
        return np.shape(a)
    except ValueError:
        return "ragged"


def check_frames_length(frames, n_samples, name="frames", group=None):
    """Frames (array or tuple of arrays) must have one entry per sample; returns them.

    For a product ``group`` the frames are a tuple of one element batch per factor; a list
    of that many batches (``list(frames)``) is taken as that tuple, which is what it can
    only mean there. Anything else that is not one array per factor (ragged lists, which
    numpy cannot stack) is a ValueError naming ``name`` and the tuple expected."""
    factors = getattr(group, "factors", ())
    if len(factors) > 1:
        expected = (f"a tuple of {len(factors)} element batches, one per factor of {group.name} "
                    f"({', '.join(f.name for f in factors)}), as canonicalize and canonical_frame "
                    "return them")
        if not isinstance(frames, (tuple, list)) or len(frames) != len(factors):
            got = (f"{type(frames).__name__} of length {len(frames)}" if isinstance(frames, (tuple, list))
                   else f"{type(frames).__name__} of shape {_shape_or_ragged(frames)}")
            raise ValueError(f"{name} must be {expected}; got {got}.")
        frames = tuple(frames)
    parts = frames if isinstance(frames, tuple) else (frames,)
    for i, part in enumerate(parts):
        shape = _shape_or_ragged(part)
        if shape == "ragged":   # numpy refuses ragged sequences ("inhomogeneous shape")
            raise ValueError(
                f"{name}{f'[{i}]' if len(factors) > 1 else ''} is a ragged sequence, no array of group "
                "elements; expected "
                + f"an array of one element{f' of {factors[i].name}' if len(factors) > 1 else ''} per sample "
                f"({n_samples})"
                + ". Pass what canonical_frame(X) or canonicalize(X) returned.")
        if shape[:1] != (n_samples,):
            raise ValueError(
                f"{name} must hold one group element per sample ({n_samples}); got an array of "
                f"shape {shape}. Pass what canonical_frame(X) returned."
            )
    return frames
