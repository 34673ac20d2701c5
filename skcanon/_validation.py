"""Input validation shared by every estimator: one place decides what a valid sample is."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_array, validate_data

FLOAT_DTYPES = (np.float64, np.float32)


def _describe_expected(layout):
    kind = getattr(layout, "kind", None)
    if kind == "points":
        return f"(n_samples, n_points * {layout.width}) or (n_samples, n_points, {layout.width})"
    if kind == "image":
        return "(n_samples, C*H*W), (n_samples, H, W) or (n_samples, C, H, W)"
    if kind == "fibre":
        return f"(n_samples, channels * {layout.fibre_size}) or (n_samples, channels, {layout.fibre_size})"
    return "(n_samples, n_features)"


def _coerce(X, layout, name):
    """Checks shared by estimators and functions: sparse, None, non-numeric, complex, number
    of dimensions, zero samples. Returns ``(X_2d, ndim, lead_shape)``; 3-D/4-D input is
    flattened (``lead_shape`` restores it)."""
    expected = _describe_expected(layout)
    if sp.issparse(X):
        raise TypeError(
            f"{name} is a sparse matrix; skcanon needs a dense array of shape {expected}. "
            "Convert it with X.toarray()."
        )
    if X is None:
        raise ValueError(f"{name} is None; expected an array of shape {expected}.")
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        X = np.asarray(X)
        ndim = X.ndim
    if isinstance(X, np.ndarray) and X.dtype.kind in "OUSVc":
        if X.dtype.kind == "c":
            raise ValueError(
                f"Complex data not supported: {name} has complex dtype; expected real numbers of "
                f"shape {expected}."
            )
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} must be numeric (float or int) of shape {expected}; got dtype "
                f"{X.dtype} that cannot be converted: {exc}"
            ) from None
    lead_shape = None
    if ndim not in (2,) and isinstance(X, np.ndarray):
        if ndim < 2:
            raise ValueError(
                f"{name} must be 2-D of shape {expected}; got an array of shape {X.shape}. "
                "Reshape your data, e.g. X.reshape(1, -1) for a single sample."
            )
        if ndim > 4 or (ndim == 4 and getattr(layout, "kind", None) != "image"):
            raise ValueError(f"{name} must have shape {expected}; got an array of shape {X.shape}.")
        lead_shape = X.shape[1:]
        X = X.reshape(X.shape[0], -1) if X.shape[0] else X.reshape(0, int(np.prod(lead_shape)))
    elif ndim != 2:
        raise ValueError(f"{name} must have shape {expected}; got {ndim} dimensions.")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has 0 sample(s); expected shape {expected} with n_samples >= 1.")
    return X, ndim, lead_shape


def _finish(X2, lead_shape, layout, name, allow_nan):
    X_nd = X2 if lead_shape is None else X2.reshape((X2.shape[0],) + lead_shape)
    P = layout.to_working(X_nd)
    # with NaN rows allowed, scikit-learn's finite scan is skipped and this one pass also
    # rejects inf and partial-NaN rows; otherwise the array check rejected them already
    if allow_nan:
        layout.check_absent_rows(P, name=name)
    return P


def _allows_nan(layout, allow_absent_points):
    return allow_absent_points and getattr(layout, "kind", None) in ("points", "graph")


def validate_samples(estimator, X, layout, *, reset, allow_absent_points=True, dtype=FLOAT_DTYPES,
                     name="X"):
    """Validate ``X`` and return ``(P, ndim)``: the layout's working array and the caller's
    number of dimensions (so outputs can be returned in the same layout).

    Raises ``TypeError`` for sparse, non-numeric or complex input and ``ValueError`` for
    empty, wrongly shaped or non-finite input (NaN allowed only as whole absent-point rows
    when ``allow_absent_points``), always naming ``name`` and the expected shape.
    Never modifies ``X``. Records ``n_features_in_`` / ``feature_names_in_`` (``reset``)
    or checks them, as scikit-learn's ``validate_data`` does.
    """
    X, ndim, lead_shape = _coerce(X, layout, name)
    allow_nan = _allows_nan(layout, allow_absent_points)
    X2 = validate_data(
        estimator,
        X,
        reset=reset,
        dtype=list(dtype),
        ensure_all_finite=not allow_nan,
        ensure_min_features=1,
    )
    return _finish(X2, lead_shape, layout, name, allow_nan), ndim


def check_samples(X, layout, *, allow_absent_points=True, dtype=FLOAT_DTYPES, name="X"):
    """:func:`validate_samples` for functions (metrics, data sets): the same rules and
    messages, without an estimator's feature bookkeeping. Returns ``(P, ndim)``."""
    X, ndim, lead_shape = _coerce(X, layout, name)
    allow_nan = _allows_nan(layout, allow_absent_points)
    X2 = check_array(X, dtype=list(dtype), ensure_all_finite=not allow_nan,
                     ensure_min_features=1, input_name=name)
    return _finish(X2, lead_shape, layout, name, allow_nan), ndim


def check_frames_length(frames, n_samples, name="frames"):
    """Frames (array or tuple of arrays) must have one entry per sample."""
    parts = frames if isinstance(frames, tuple) else (frames,)
    for part in parts:
        if np.shape(part)[:1] != (n_samples,):
            raise ValueError(
                f"{name} must hold one group element per sample ({n_samples}); got an array of "
                f"shape {np.shape(part)}. Pass what canonical_frame(X) returned."
            )
