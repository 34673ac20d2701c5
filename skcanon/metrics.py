"""Metrics of symmetry: how invariant or equivariant a map is on given data."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from sklearn.utils import check_random_state

from .groups import get_group
from .layouts import PointLayout

__all__ = ["InvarianceError", "invariance_error", "equivariance_error"]

InvarianceError = namedtuple("InvarianceError", ["max", "median"])
InvarianceError.__doc__ = """Relative invariance error over samples and trials: ``max`` and ``median``."""


def _as_function(estimator_or_callable):
    if hasattr(estimator_or_callable, "transform"):
        return estimator_or_callable.transform
    if callable(estimator_or_callable):
        return estimator_or_callable
    raise TypeError(
        "estimator_or_callable must be a fitted transformer or a callable X -> features; "
        f"got {type(estimator_or_callable).__name__}."
    )


def _layout_of(estimator_or_callable, layout):
    if layout is not None:
        return layout
    fitted = getattr(estimator_or_callable, "layout_", None)
    if fitted is not None:
        return fitted
    return PointLayout(3)


def _relative(a, b, reference_scale=0.0):
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    both_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(both_nan, 0.0, a - b)
    num = np.sqrt(np.sum(diff**2, axis=1))
    den = np.sqrt(np.sum(np.where(np.isnan(a), 0.0, a) ** 2, axis=1))
    # floor: samples whose output is ~0 (all points equal, say) are compared on the scale
    # of the batch, not divided by their own rounding noise
    floor = max(1e-9 * max(float(den.max(initial=0.0)), reference_scale), 1e-12)
    return num / np.maximum(den, floor)


def _scale(X):
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    return float(np.sqrt(np.nanmax(np.nansum(X**2, axis=1)))) if X.size else 0.0


def invariance_error(estimator_or_callable, X, group, n_trials=5, random_state=None, layout=None):
    """Relative change of ``f(X)`` when every sample is moved by a random group element.

    For each trial, every sample ``x`` is replaced by ``g·x`` with ``g`` drawn from
    ``group`` and the error ``‖f(g·x) − f(x)‖ / max(‖f(x)‖, ε)`` is recorded, with ``ε`` = 1e-9 × the
    largest norm of an input or output sample (so outputs that are zero up to rounding do not blow up).

    Parameters
    ----------
    estimator_or_callable : fitted transformer or callable
        ``transform`` is used for estimators; callables map ``X`` to features.
    X : array-like
        Samples in the layout of ``layout``.
    group : str or Group
        The symmetry to test (its action is the library's single implementation).
    n_trials : int, default=5
        Random group elements per sample.
    random_state : int, RandomState instance or None
    layout : layout object or None
        Defaults to the estimator's fitted ``layout_`` or a 3-D point layout.

    Returns
    -------
    InvarianceError
        Named tuple ``(max, median)`` over all samples and trials.

    Examples
    --------
    >>> import numpy as np
    >>> from skcanon import CanonicalizerTransformer
    >>> from skcanon.metrics import invariance_error
    >>> X = np.random.default_rng(0).normal(size=(20, 30))
    >>> canon = CanonicalizerTransformer("SO3", "pca").fit(X)
    >>> invariance_error(canon, X, "SO3", random_state=0).max < 1e-8
    True
    """
    f = _as_function(estimator_or_callable)
    g_obj = get_group(group)
    layout = _layout_of(estimator_or_callable, layout)
    rs = check_random_state(random_state)
    X = np.asarray(X)
    P = layout.to_working(X)
    ref = f(X)
    errors = []
    for _ in range(int(n_trials)):
        g = g_obj.sample(P.shape[0], rs, n_points=P.shape[1])
        moved = layout.from_working(g_obj.act(g, P, layout), X.ndim)
        errors.append(_relative(ref, f(moved), _scale(X)))
    errors = np.concatenate(errors) if errors else np.zeros(1)
    return InvarianceError(float(np.max(errors)), float(np.median(errors)))


def equivariance_error(frame_function, X, group, n_trials=5, random_state=None, layout=None):
    """Relative error of ``h(g·x) = g·h(x)`` for a frame function (e.g. ``canonical_frame``).

    Frames are compared through their action on the data: the error is
    ``‖h(g·x)·c − (g·h(x))·c‖ / ‖c‖`` with ``c`` the canonical sample
    ``h(x)⁻¹·x``, which is well defined for every group (also for permutation frames
    of point sets with exact duplicates, where several frames are equally valid).

    Returns
    -------
    InvarianceError
        ``(max, median)`` over samples and trials.
    """
    if hasattr(frame_function, "canonical_frame"):
        layout = layout or frame_function.layout_
        frame_function = frame_function.canonical_frame
    g_obj = get_group(group)
    layout = layout or PointLayout(3)
    rs = check_random_state(random_state)
    X = np.asarray(X)
    P = layout.to_working(X)
    h = frame_function(X)
    errors = []
    for _ in range(int(n_trials)):
        g = g_obj.sample(P.shape[0], rs, n_points=P.shape[1])
        moved = layout.from_working(g_obj.act(g, P, layout), X.ndim)
        h_moved = frame_function(moved)
        canon = g_obj.act(g_obj.inverse(h), P, layout)
        lhs = g_obj.act(h_moved, canon, layout)
        rhs = g_obj.act(g_obj.compose(g, h), canon, layout)
        errors.append(_relative(rhs, lhs, _scale(X)))
    errors = np.concatenate(errors)
    return InvarianceError(float(np.max(errors)), float(np.median(errors)))
