"""Scale-out on Dask: apply fitted skcanon estimators to arrays larger than memory.

Install the optional ``dask`` extra (``dask[array,distributed]`` and ``dask-ml``) with
``pip install -e ".[dask]"`` in the skcanon checkout. Importing this module does not need
Dask; calling :func:`transform_dask` does (without it, an ImportError says that command).

Every skcanon transformer works sample by sample, so a fitted estimator can be applied to
a :class:`dask.array.Array` chunked along the samples axis (or a Dask DataFrame, partition
by partition), block by block, on any Dask scheduler (threads, processes, or a
``dask.distributed`` cluster), with results identical
to the in-memory ``transform`` for heuristics and projections (networks: see
:func:`transform_dask`). Three patterns, see the "Scaling out" page of the
documentation:

* :func:`transform_dask` — this module's helper: ``map_blocks`` with exact output
  metadata (dtype, chunks, shape), for 2-D and 3-D arrays.
* ``dask_ml.wrappers.ParallelPostFit(CanonicalizerTransformer(...))`` — fit in memory,
  transform / predict on Dask arrays.
* ``GridSearchCV(pipeline, ..., n_jobs=-1)`` inside
  ``joblib.parallel_config(backend="dask")`` — cross-validation fits spread over a cluster.
"""

from __future__ import annotations

import sys

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._optional import require

__all__ = ["transform_dask"]

_METHODS = ("transform", "predict", "predict_proba", "predict_log_proba", "decision_function",
            "score_samples")


def _import_dask_array():
    # the install hint names the checkout's extra (skcanon is not on PyPI): see _optional
    return require("dask.array", extra="dask", purpose="skcanon.dask.transform_dask")


def _as_fitted_input(estimator, block):
    """A 2-D block as a DataFrame with the column names the estimator was fitted on, so that
    an estimator (or pipeline) fitted on a DataFrame reads the block by name and without
    scikit-learn's "X does not have valid feature names" warning: a Dask DataFrame converted
    with ``to_dask_array`` reaches :func:`transform_dask` as an array, which drops its names.
    An object block (``to_dask_array()`` of mixed columns: text, nullable ``Float32``) gets
    back the column dtypes of fit, which it lost (read as float64, float32 data met float64
    tie tolerances). A DataFrame partition is passed as it is (its names and dtypes are the
    data's)."""
    names = getattr(estimator, "feature_names_in_", None)
    if (names is None or not isinstance(block, np.ndarray) or block.ndim != 2
            or block.shape[1] != len(names)):
        return block
    import pandas as pd   # the estimator was fitted on a DataFrame, so pandas is installed

    frame = pd.DataFrame(block, columns=names, copy=False)
    return _with_fitted_dtypes(estimator, frame) if block.dtype == object else frame


def _with_fitted_dtypes(estimator, frame):
    """``frame``'s numeric columns cast to their dtypes at fit (recorded by skcanon's
    estimators; for a pipeline, by its first step); a column that does not cast is left as
    it is, for the estimator to report."""
    import pandas as pd

    dtypes = getattr(estimator, "_dtypes_in", None)
    if dtypes is None and hasattr(estimator, "steps"):
        dtypes = getattr(estimator.steps[0][1], "_dtypes_in", None)
    if dtypes is None or len(dtypes) != frame.shape[1]:
        return frame
    for k, dtype in enumerate(dtypes):
        if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            try:
                frame.isetitem(k, frame.iloc[:, k].astype(dtype))
            except (TypeError, ValueError):
                pass
    return frame


def _call(estimator, method, block):
    return np.asarray(getattr(estimator, method)(_as_fitted_input(estimator, block)))


def _apply_block(block, estimator, method, tail_shape, dtype):
    """Run ``estimator.<method>`` on one block of samples (executed on the workers)."""
    if block.shape[0] == 0:
        return np.empty((0,) + tail_shape, dtype=dtype)
    out = _call(estimator, method, block)
    if out.shape[1:] != tail_shape:
        raise ValueError(
            f"{type(estimator).__name__}.{method} returned blocks of shape {out.shape}, but "
            f"(n, {', '.join(map(str, tail_shape))}) was expected (from output_shape= or, when it is "
            f"not given, from a probe sample); pass the output_shape= of one sample's output."
        )
    try:
        cast = out.astype(dtype, copy=False)
    except (TypeError, ValueError) as exc:   # UnicodeEncodeError included (non-ASCII to bytes)
        raise TypeError(f"dtype={np.dtype(dtype)} cannot hold the {out.dtype} output of "
                        f"{type(estimator).__name__}.{method}: {exc}; pass a dtype that holds it, "
                        "or dtype=None.") from None
    lost = _lost_in_cast(out, cast)
    if lost.any():
        # float coordinates cast to int8 were truncated and wrapped silently
        i = np.flatnonzero(lost.reshape(-1))[0]
        raise TypeError(
            f"dtype={np.dtype(dtype)} cannot hold the {out.dtype} output of "
            f"{type(estimator).__name__}.{method}: "
            f"{int(lost.sum())} value(s) change in the cast (e.g. {out.reshape(-1)[i]!r} becomes "
            f"{cast.reshape(-1)[i]!r}); pass a dtype that holds them, or dtype=None.")
    return cast


def _lost_in_cast(out, cast):
    """Entries whose value the cast changed. Narrower floats only round (a precision the
    caller chose), so there only finite values that became infinite count."""
    if cast.dtype == out.dtype:
        return np.zeros(out.shape, dtype=bool)
    if cast.dtype.kind == "f" and out.dtype.kind in "fO":
        try:   # object numbers as floats: rounding is the precision asked for here too
            return np.isfinite(out.astype(np.float64)) & ~np.isfinite(cast)
        except (TypeError, ValueError):
            pass
    try:
        back = cast.astype(out.dtype)
    except (TypeError, ValueError):
        return np.ones(out.shape, dtype=bool)
    if object in (out.dtype, back.dtype):   # one value at a time (pd.NA has no truth value)
        return np.frompyfunc(lambda a, b: not _same_value(a, b), 2, 1)(back, out).astype(bool)
    with np.errstate(invalid="ignore"):
        return (back != out) & ~((back != back) & (out != out))   # NaN stays NaN


def _same_value(a, b):
    """``a == b`` for any two values, NaN (and pandas' NA) equal to itself."""
    if a is b:
        return True
    try:
        return bool(a == b) or bool(a != a and b != b)
    except (TypeError, ValueError):
        return False


def _first_sample(X):
    """The first sample of ``X`` as ``(1, ...)``, read block by block: slicing an array whose
    chunk sizes are unknown (``dask_dataframe.to_dask_array()``) is refused by dask."""
    if _is_dask_frame(X):
        for i in range(X.npartitions):
            part = X.partitions[i].compute()
            if len(part):
                return part.iloc[:1]
        return _ones_like(X)   # no samples: the probe's ones
    if not any(np.isnan(c) for c in X.chunks[0]):
        return np.asarray(X[:1].compute())
    for block in X.blocks:
        values = np.asarray(block.compute())
        if len(values):
            return values[:1]
    return _ones_like(X)   # no samples: the probe's ones


def _ones_like(X):
    """One synthetic sample of ones: of ``X``'s dtype, or for a Dask DataFrame a one-row
    pandas DataFrame with its columns and their dtypes."""
    if not _is_dask_frame(X):
        return np.ones((1,) + tuple(X.shape[1:]), dtype=X.dtype)
    import pandas as pd

    meta = X._meta
    return pd.DataFrame({c: [1] for c in meta.columns}).astype(meta.dtypes.to_dict())


def _is_dask_frame(X):
    # a Dask DataFrame was built with dask.dataframe, so it is imported when X is one
    dd = sys.modules.get("dask.dataframe")
    return dd is not None and isinstance(X, dd.DataFrame)


def _probe(estimator, method, X):
    """Output shape after the samples axis, and dtype, from one synthetic sample of ones,
    or, where the estimator refuses ones (a categorical field without the code 1), from
    the first sample of ``X`` (which computes that sample's block)."""
    try:
        sample = _ones_like(X)
        out = _call(estimator, method, sample)
    except Exception:
        sample = _first_sample(X)
        try:
            out = _call(estimator, method, sample)
        except TypeError as exc:
            # X's values are refused (dates, text): every block would be, whatever output_shape says
            raise TypeError(
                f"{type(estimator).__name__}.{method} refuses the first sample of X: {exc}") from exc
        except Exception as exc:
            raise ValueError(
                f"Could not infer the output of {type(estimator).__name__}.{method} from a "
                f"sample of ones or from the first sample of X (shape {sample.shape}): {exc}. "
                "Pass output_shape= and dtype= to transform_dask."
            ) from exc
    if out.ndim == 0 or out.shape[0] != 1:
        raise ValueError(
            f"{type(estimator).__name__}.{method} returned shape {out.shape} for one sample; "
            f"transform_dask needs one output row per sample."
        )
    return tuple(out.shape[1:]), out.dtype


def transform_dask(estimator, X, *, method="transform", output_shape=None, dtype=None):
    """Apply a fitted estimator to a Dask array or DataFrame, block by block along the samples.

    Each block of samples is passed to ``estimator.<method>`` on a Dask worker with
    :func:`dask.array.map_blocks`; the result is a lazy Dask array with exact metadata
    (dtype, chunks, shape), so it can be fed into further Dask computations without
    computing anything. Works for 2-D input ``(n_samples, n_features)`` and for 3-D /
    4-D input (``(n_samples, n_points, width)`` point clouds, ``(n_samples, H, W)``
    images); the output keeps the samples chunking of ``X``. A Dask DataFrame is transformed
    partition by partition, each a pandas DataFrame with the columns' own dtypes, exactly as
    the in-memory ``transform`` reads the same DataFrame (float32 and nullable ``Float32``
    columns stay float32, text columns are read as categories).

    Parameters
    ----------
    estimator : fitted estimator
        Any fitted scikit-learn compatible estimator, e.g. a
        :class:`~skcanon.CanonicalizerTransformer` or a
        :class:`~sklearn.pipeline.Pipeline` containing one. It is shipped to the
        workers once (as a single task of the graph), so it must be picklable.
    X : dask.array.Array of shape (n_samples, ...) or dask.dataframe.DataFrame
        The samples. Axes other than the first are rechunked to a single chunk if needed
        (a sample is never split across blocks); the samples axis keeps its chunks, which
        may be of unknown size. After a fit on a DataFrame (``feature_names_in_``), each 2-D
        block reaches the estimator as a DataFrame with those column names, so the columns
        of ``X`` must be in the fit's order (as ``dask_dataframe[names].to_dask_array()``
        gives them). A Dask DataFrame is passed to the estimator partition by partition, with
        its column names and dtypes. ``to_dask_array()`` of columns that mix text or nullable
        ``Float32`` columns with numbers is an array of dtype object, which has lost the
        columns' dtypes: its blocks get back the dtypes of fit for skcanon's estimators and
        pipelines that begin with one (other estimators read them as float64).
    method : {"transform", "predict", "predict_proba", "predict_log_proba", \
"decision_function", "score_samples"}, default="transform"
        The estimator method to apply; it must return one output row per input sample.
    output_shape : tuple of int or None, default=None
        Shape of the output after the samples axis, e.g. ``(90,)`` or ``(30, 3)`` (``()``
        for ``predict``). ``None``: inferred, together with ``dtype``, by calling
        ``method`` once on a synthetic sample of ones in memory (on the first sample of
        ``X`` where the estimator refuses ones, e.g. a categorical field without code 1).
    dtype : numpy dtype or None, default=None
        Output dtype; ``None`` infers it as above. Blocks are cast to it; a cast that
        changes values (floats to integers, integers out of range, strings cut short,
        finite floats that overflow a narrower float) raises ``TypeError`` when the block
        is computed. Narrower floats round, as asked.

    Returns
    -------
    Y : dask.array.Array of shape (n_samples,) + output_shape
        Lazy result; ``Y.compute()`` equals ``estimator.<method>(X.compute())``. For a Dask
        DataFrame its chunks are the partitions, of unknown sizes (``nan``, as
        ``to_dask_array()`` gives them; ``Y.compute_chunk_sizes()`` computes them). For
        learned and random network canonicalizers (and estimators with BLAS products, such
        as PCA) it agrees to floating-point rounding instead (about 1e-15 relative in
        float64): torch's arithmetic depends on how many samples share a batch, as it does
        for the in-memory ``batch_size``.

    Raises
    ------
    TypeError
        If ``X`` is neither a Dask array nor a Dask DataFrame, ``estimator`` lacks
        ``method``, or (inferring the output) it refuses the first sample's values, e.g.
        date or duration columns; when computed, if ``dtype`` cannot hold the output's values.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    ValueError
        If ``X`` has fewer than 2 dimensions, or the output cannot be inferred.

    See Also
    --------
    dask_ml.wrappers.ParallelPostFit : Wrapper doing the same for ``predict``/``transform``
        of 2-D arrays.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from skcanon import CanonicalizerTransformer
    >>> from skcanon.dask import transform_dask
    >>> X = np.random.default_rng(0).normal(size=(100, 8 * 3))
    >>> canon = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(X)
    >>> Xd = da.from_array(X, chunks=(25, -1))
    >>> Y = transform_dask(canon, Xd)
    >>> Y.shape, Y.chunks[0], Y.dtype
    ((100, 24), (25, 25, 25, 25), dtype('float64'))
    >>> bool(np.array_equal(Y.compute(scheduler="sync"), canon.transform(X)))
    True
    """
    da = _import_dask_array()
    import dask

    frame = _is_dask_frame(X)
    if not (frame or isinstance(X, da.Array)):
        raise TypeError(
            f"X must be a dask.array.Array of shape (n_samples, ...) or a dask DataFrame, got "
            f"{type(X).__name__}; "
            + ("turn a dask Series into a DataFrame with X.to_frame()"
               if hasattr(X, "__dask_graph__") and hasattr(X, "to_frame") else
               "wrap it with dask.array.from_array(X, chunks=(block_size, -1))")
            + f", or call estimator.{method}(X) directly for in-memory data."
        )
    if X.ndim < 2:
        raise ValueError(f"X must have at least 2 dimensions (n_samples, ...), got shape {X.shape}.")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    if output_shape is not None and (
            not isinstance(output_shape, tuple)
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in output_shape)):
        # (-18,) built a graph of shape (n, -18) that failed only at compute, blaming the probe
        raise ValueError(f"output_shape must be a tuple of ints >= 0 (the shape of one sample's output, "
                         f"e.g. (18,)); got {output_shape!r}.")
    if not hasattr(estimator, method):
        raise TypeError(f"estimator {type(estimator).__name__} has no method {method!r}.")
    check_is_fitted(estimator)

    if not frame and any(len(c) > 1 for c in X.chunks[1:]):
        X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    if output_shape is None or dtype is None:
        inferred_shape, inferred_dtype = _probe(estimator, method, X)
        output_shape = inferred_shape if output_shape is None else output_shape
        dtype = inferred_dtype if dtype is None else dtype
    tail = tuple(int(s) for s in output_shape)
    dtype = np.dtype(dtype)

    out_ndim = 1 + len(tail)
    # One task holds the estimator; every block depends on it instead of embedding a copy.
    est = dask.delayed(estimator, pure=True, traverse=False)
    meta = np.empty((0,) * out_ndim, dtype=dtype)
    if frame:
        # per pandas partition, so that each column keeps its dtype (an array of mixed
        # columns is of dtype object, which the estimator reads as float64)
        apply = dask.delayed(_apply_block, pure=True)
        return da.concatenate([
            da.from_delayed(apply(part, est, method, tail, dtype), shape=(np.nan,) + tail, dtype=dtype,
                            meta=meta)
            for part in X.to_delayed()], axis=0)
    kwargs = {}
    if out_ndim < X.ndim:
        kwargs["drop_axis"] = list(range(out_ndim, X.ndim))
    elif out_ndim > X.ndim:
        kwargs["new_axis"] = list(range(X.ndim, out_ndim))
    chunks = (X.chunks[0],) + tuple((s,) for s in tail)
    return da.map_blocks(
        _apply_block, X, est, method, tail, dtype,
        dtype=dtype, chunks=chunks, meta=meta,
        token=f"skcanon-{method}", **kwargs,
    )
