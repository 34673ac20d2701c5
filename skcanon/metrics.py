"""Metrics of symmetry: how invariant or equivariant a map is on given data."""

from __future__ import annotations

import numbers
import warnings
from collections import namedtuple

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

from ._validation import check_samples, is_dataframe, named_random_state, object_as_float
from .groups import get_group
from .layouts import FibreLayout, GraphLayout, Layout, PointLayout, as_layout, encode_if_graphs, is_graph_list

__all__ = [
    "InvarianceError",
    "invariance_error",
    "equivariance_error",
    "OrbitDistortion",
    "orbit_distortion",
    "orbit_separation",
    "quotient_distance",
    "ContinuityRatio",
    "continuity_ratio",
]

InvarianceError = namedtuple("InvarianceError", ["max", "median"])
InvarianceError.__doc__ = """Relative invariance error over samples and trials: ``max`` and ``median``."""


def _as_function(estimator_or_callable, name="estimator_or_callable"):
    if hasattr(estimator_or_callable, "transform"):
        return _row_outputs(estimator_or_callable.transform, name)
    if callable(estimator_or_callable):
        return _row_outputs(estimator_or_callable, name)
    raise TypeError(
        f"{name} must be a fitted transformer or a callable X -> features; "
        f"got {type(estimator_or_callable).__name__}."
    )


def _private_copy(X):
    # the maps get a copy: one that edits its input in place edited the caller's data (and
    # the working array the next trials move)
    return X.copy() if hasattr(X, "copy") else X


def _row_outputs(f, name):
    """``f`` whose outputs are dense arrays with one row per sample: scipy sparse outputs
    (``KBinsDiscretizer``, ``OneHotEncoder`` in a pipeline) failed inside numpy, and a map
    that returned fewer rows than samples was scored on those rows alone (0.0 for a map that
    is not invariant)."""
    def outputs(X):
        out = f(_private_copy(X))
        if sp.issparse(out):
            out = out.toarray()
        n = len(X)
        if out is None or not hasattr(out, "__len__") or len(out) != n:
            got = "None" if out is None else f"{len(out)} row(s)" if hasattr(out, "__len__") else type(out).__name__
            raise ValueError(f"{name} must return one output row per sample ({n}); got {got}.")
        return out

    return outputs


def _layout_of(estimator_or_callable, layout, group):
    if layout is not None:
        return _check_layout(layout, group)
    fitted = _fitted_layout(estimator_or_callable)
    # a plain callable: points in the group's dimension, as layout="points" reads them (3-D
    # points for 2-D groups gave errors that named neither the group nor layout)
    return fitted if fitted is not None else _check_layout("points", group)


_LAYOUT_NAMES = ("points", "image", "graph", "fibre")


def _check_layout(layout, group, name="layout"):
    """A ``layout`` parameter as a layout object: layout objects pass, and the names the
    estimators take are read as they read them (``"points"``: a point layout in the
    group's dimension, 3 for pure permutations; ``"image"``; ``"graph"``: a GraphLayout
    whose size graphs give; ``"fibre"``: ``FibreLayout(n)`` for ``C_n``)."""
    if isinstance(layout, Layout):
        return layout
    if not isinstance(layout, str):
        raise TypeError(
            f"{name} must be a layout object (PointLayout, GraphLayout, ImageLayout, FibreLayout) or one of "
            f"{list(_LAYOUT_NAMES)}; got {type(layout).__name__} {layout!r}.")
    if layout not in _LAYOUT_NAMES:
        raise ValueError(f"{name} must be a layout object or one of {list(_LAYOUT_NAMES)}; got {layout!r}.")
    g_obj = get_group(group)
    if layout == "fibre":
        if len(g_obj.factors) != 1 or "fibre" not in g_obj.layout_kinds:
            raise ValueError(f"{name}='fibre' needs a cyclic group C_n; got group {g_obj.name!r}.")
        return FibreLayout(g_obj.order)
    dims = {getattr(f, "d", None) for f in g_obj.factors} - {None}
    return as_layout(layout, PointLayout(dims.pop() if len(dims) == 1 else 3))


def _fitted_layout(obj, depth=0):
    """The ``layout_`` of the skcanon step that reads ``X``: the estimator's own, that of a
    bound method's estimator, a search's best estimator, or a pipeline's first step (a
    default 3-D layout would move, say, velocities as positions)."""
    if obj is None or depth > 8:
        return None
    fitted = getattr(obj, "layout_", None)
    if fitted is not None:
        return fitted
    for attr in ("__self__", "best_estimator_"):
        inner = getattr(obj, attr, None)
        if inner is not None and inner is not obj:
            return _fitted_layout(inner, depth + 1)
    steps = getattr(obj, "steps", None)
    if isinstance(steps, list):
        first = next((step for _, step in steps if step not in (None, "passthrough")), None)
        return _fitted_layout(first, depth + 1)
    return None


def _relative(a, b, reference_scale=None, complete=None, norm_of=None):
    """Per-sample ``‖a − b‖ / max(‖a‖, floor)`` (``‖norm_of‖`` in place of ``‖a‖`` where
    given: an array of the same samples). The floor is 1e-9 × the largest of the finite
    denominators and ``reference_scale`` (by default the largest finite norm of a sample of
    ``b``), at least the smallest normal number. Entries that are NaN in both (absent
    points or nodes in both outputs) count as equal; a sample where an entry is NaN in
    only one of ``a`` and ``b`` (an output gained or lost an absent point, or the map gave
    NaN for one input only), or infinite in either (an overflow), has error ``inf``: no
    tolerance accepts it. So has a sample marked in ``complete`` (its input has no absent
    point) with NaN anywhere in ``a`` or ``b``: the map failed on it, whatever the other
    side holds."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    both_nan = nan_a & nan_b
    # samples of extreme magnitude divided by their largest finite entry, so squares of
    # outputs near 1e200 neither overflow nor underflow (the ratio does not depend on it;
    # others are divided by 1: their errors keep their bits)
    size = np.maximum(np.where(np.isfinite(a), np.abs(a), 0.0).max(axis=1, initial=0.0),
                      np.where(np.isfinite(b), np.abs(b), 0.0).max(axis=1, initial=0.0))
    size = np.where((size > 1e-100) & (size < 1e100) | (size == 0), 1.0, size)[:, None]
    with np.errstate(invalid="ignore", over="ignore"):   # inf − inf: such samples are inf below
        diff = np.where(both_nan, 0.0, a / size - b / size)
        num = np.sqrt(np.sum(diff**2, axis=1)) * size[:, 0]
    if norm_of is None:
        with np.errstate(over="ignore", invalid="ignore"):
            den = np.sqrt(np.sum(np.where(nan_a, 0.0, a / size) ** 2, axis=1)) * size[:, 0]
    else:
        den = _row_norms(np.asarray(norm_of, dtype=np.float64).reshape(len(a), -1))
    # floor: samples whose output is ~0 (all points equal, say) are compared on the scale
    # of the batch, not divided by their own rounding noise
    # (from finite outputs only: an overflowing sample would make every other error 0)
    # (relative only: an absolute minimum made maps that are not invariant look invariant
    # wherever their outputs are small, e.g. coordinates in metres; the smallest normal
    # number only keeps all-zero outputs from 0/0)
    # (outputs' own scale by default: an input scale floored maps of degree >= 2 on data in
    # small units, whose outputs are far smaller than their inputs, to an error of ~0)
    if reference_scale is None:
        reference_scale = _finite_max(_row_norms(b))
    floor = max(1e-9 * max(_finite_max(den), reference_scale), float(np.finfo(np.float64).tiny))
    with np.errstate(invalid="ignore"):
        out = num / np.maximum(den, floor)
    failed = (nan_a != nan_b).any(axis=1) | np.isinf(a).any(axis=1) | np.isinf(b).any(axis=1)
    if complete is not None:
        failed |= complete & (nan_a | nan_b).any(axis=1)
    out[failed] = np.inf
    return out


def _finite_max(values):
    return float(values[np.isfinite(values)].max(initial=0.0))


def _complete(P):
    """``(n,)`` bool: samples of the working array without NaN (no absent point)."""
    if not np.issubdtype(P.dtype, np.floating):
        return np.ones(P.shape[0], dtype=bool)
    return ~np.isnan(P).reshape(P.shape[0], -1).any(axis=1)


def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")


def _samples(X, layout, name="X"):
    """Validated copy of ``X`` in the caller's shape, its working array ``P``,
    ``to_caller``: a working array (``P`` moved by the group) back in the caller's shape,
    and the layout (resolved: a GraphLayout learns its size from networkx graphs).
    Categorical fields are codes in ``P`` and their categories again in what ``to_caller``
    returns, since the estimator encodes them with its own categories from ``fit``.
    A list of networkx graphs is encoded as the estimators encode it, and the map gets
    the encoded flat rows (as ``transform`` returns graphs)."""
    graphs = is_graph_list(X)
    X, layout = _encode_graphs(X, layout, name)
    P, ndim, categories = check_samples(X, layout, return_categories=True, name=name)
    if graphs:
        ndim = 2
    frame = X if is_dataframe(X) else None

    def to_caller(W):
        if categories:
            W = layout.decode_categories(W, categories)
        W = layout.from_working(W, ndim)
        # a DataFrame goes back as one with the same column names: an estimator fitted on
        # names reads them (and warns about a bare array)
        return W if frame is None else _as_frame_like(frame, W, layout)

    return to_caller(P), P, to_caller, layout


def _encode_graphs(X, layout, name="X"):
    """``(X, layout)``: networkx graphs encoded for a GraphLayout (which learns its size
    from them when it has none); anything else passes through."""
    if is_graph_list(X) and not isinstance(layout, GraphLayout):
        raise TypeError(
            f"{name} is a list of networkx graphs, but the layout is {layout!r}. Fix: pass layout='graph' "
            "(or a GraphLayout), or a map fitted on graphs (its layout_ is used).")
    return encode_if_graphs(X, layout)


def _as_frame_like(frame, W, layout):
    """``W`` (flat rows in the layout's column order) as a DataFrame of ``frame``'s type."""
    named = getattr(layout, "columns", None)
    if named is None:
        columns = {name: W[:, k] for k, name in enumerate(frame.columns)}
    else:  # the layout's names, put back in the caller's column order (the input was read by name)
        position = {name: k for k, name in enumerate(named)}
        columns = {name: W[:, position[str(name)]] for name in frame.columns}
    if hasattr(frame, "index"):      # pandas; decoded categories leave object columns to infer
        index = frame.index if len(frame.index) == len(W) else None   # rows drawn as pairs
        return type(frame)(columns, index=index).infer_objects()
    return type(frame)(columns)      # polars


def _row_norms(X):
    """Euclidean norms of the rows of 2-D ``X`` (NaN entries as 0), computed on ``X`` divided
    by its largest finite magnitude so that squares of 1e200 do not overflow (an infinite
    reference scale made every error 0) nor those of 1e-170 underflow."""
    X = np.where(np.isnan(X), 0.0, np.asarray(X, dtype=np.float64))
    finite = np.abs(X[np.isfinite(X)])
    peak = float(finite.max()) if finite.size else 0.0
    if peak == 0.0:
        return np.sqrt(np.sum(X**2, axis=1))
    return np.sqrt(np.sum((X / peak) ** 2, axis=1)) * peak


def _scale(X):
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    return float(np.max(_row_norms(X))) if X.size else 0.0


def _sample_like_data(group, P, layout, rs):
    """One element of ``group`` per sample, its translations drawn at the data's order of
    magnitude (the power of 16 nearest the root-mean-square coordinate of its positions: 1
    for coordinates from about 0.25 to 4) instead of 1 whatever the data: moves of unit size
    on data in small units (atoms in metres) measured float64's rounding, not invariance."""
    scale = _position_scale(P, layout) if group.translates else 1.0
    scale = float(16.0 ** np.round(np.log(scale) / np.log(16.0)))

    def draw(g_obj):
        if len(g_obj.factors) > 1:              # a product: its factors' elements in turn
            return tuple(draw(f) for f in g_obj.factors)
        g = g_obj.sample(P.shape[0], rs, n_points=P.shape[1])
        if not g_obj.translates or scale == 1.0:
            return g
        if hasattr(g_obj, "from_parts"):
            R, t = g_obj.parts(g)
            return g_obj.from_parts(R, t * scale)
        return np.asarray(g) * scale            # translations alone

    return draw(group)


def _position_scale(P, layout):
    """The root-mean-square coordinate of the position fields of ``P`` (1 where there is
    none, or none finite and non-zero)."""
    fields = [f for f in getattr(layout, "fields", ()) if f.kind == "position"]
    if not fields or P.ndim != 3:
        return 1.0
    pos = np.concatenate([P[..., layout.slice_of(f.name)] for f in fields], axis=-1).astype(np.float64)
    scale = _root_mean_square(pos[np.isfinite(pos)])
    return scale if scale > 0 else 1.0


def _root_mean_square(values):
    """Root mean square of a flat array of finite values (0 when empty), computed on the values
    divided by their largest magnitude, so squares of 1e200 do not overflow."""
    peak = float(np.abs(values).max()) if values.size else 0.0
    return peak * float(np.sqrt(np.mean((values / peak) ** 2))) if peak > 0 else 0.0


def invariance_error(estimator_or_callable, X, group, n_trials=5, random_state=None, layout=None):
    """Relative change of ``f(X)`` when every sample is moved by a random group element.

    For each trial, every sample ``x`` is replaced by ``g·x`` with ``g`` drawn from
    ``group`` and the error ``‖f(g·x) − f(x)‖ / max(‖f(x)‖, ε)`` is recorded, with ``ε`` = 1e-9 × the
    largest finite norm of an output, ``f(x)`` or ``f(g·x)``, in the trial's batch (so outputs
    that are zero up to rounding do not blow up), at least the smallest normal number. The
    floor is on the outputs' scale, not the inputs': features of degree 2 or more (Gram
    minors, say) of data in small units are far smaller than the data and would read as
    invariant against it.
    The norms are over the whole feature vector, so where its features have different
    degrees (``"gram_minors"``: Gram entries of degree 2 beside d×d minors of degree d), a
    part of higher degree counts by its size: under ``O3``, which flips the minors' signs,
    ``gram_minors`` of data at scale 1 reads 1.6 but at scale 1e-5 2.8e-5 and at 1e-10
    2.8e-10. Check such maps on data of unit scale, or each part on its own (a callable
    returning those columns). Scaling each feature column by its own size instead would
    read 1.8, 1.8 and 0.17 there, but raises the reading of invariant maps with columns that
    are rounding noise (``gram_minors`` of planar clouds under ``SO3``: 5e-8 instead of
    7e-16), so the whole-vector norm is kept; :func:`equivariance_error` compares canonical
    samples (all of degree 1) in the same way.
    Translations are drawn at the data's order of magnitude (standard normal times the power
    of 16 nearest the root-mean-square coordinate of the positions), so data in any unit is
    moved by about its own size.

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
    layout : layout object, {"points", "image", "graph", "fibre"} or None
        Defaults to the fitted ``layout_`` of the estimator (of a bound method's estimator,
        a search's ``best_estimator_`` or a pipeline's first step), else points in the
        group's dimension (as ``"points"``; 3-D for pure permutations).
        Names are read as the estimators read them (``"points"``: points in the group's
        dimension; ``"fibre"``: ``FibreLayout(n)`` for ``C_n``). A list of networkx graphs
        is encoded with a GraphLayout (the map gets the encoded flat rows).

    Returns
    -------
    InvarianceError
        Named tuple ``(max, median)`` over all samples and trials. Output entries that are
        NaN in both ``f(x)`` and ``f(g·x)`` (absent points or nodes) count as equal; a
        sample whose output is NaN at an entry in only one of them has error ``inf``, and
        so has a sample without absent points whose output holds NaN at all.

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
    layout = _layout_of(estimator_or_callable, layout, g_obj)
    _check_count(n_trials, "n_trials")
    X, P, to_caller, layout = _samples(X, layout)
    rs = named_random_state(random_state)
    ref = f(X)
    complete = _complete(P)
    errors = []
    for _ in range(int(n_trials)):
        g = _sample_like_data(g_obj, P, layout, rs)
        moved = to_caller(g_obj.act(g, P, layout))
        errors.append(_relative(ref, f(moved), complete=complete))
    errors = np.concatenate(errors) if errors else np.zeros(1)
    return InvarianceError(float(np.max(errors)), float(np.median(errors)))


def equivariance_error(frame_function, X, group, n_trials=5, random_state=None, layout=None):
    """Relative error of ``h(g·x) = g·h(x)`` for a frame function (e.g. ``canonical_frame``).

    Frames are compared through their action on the data: the error is
    ``‖h(g·x)·c − (g·h(x))·c‖ / ‖c‖`` with ``c`` the canonical sample
    ``h(x)⁻¹·x``, which is well defined for every group (also for permutation frames
    of point sets with exact duplicates, where several frames are equally valid).
    ``‖c‖`` is floored at 1e-9 × the largest sample norm of ``X``: where the canonical
    sample is about zero (one point, or coincident points, under a group with translations)
    the error is float rounding relative to that floor (about 1e-7 in float64). Data far
    from the origin read their rounding relative to their own extent, not to their offset
    (float32 coordinates at 1e4 from the origin: about 1e-2).
    ``layout`` is read as in :func:`invariance_error`.

    Returns
    -------
    InvarianceError
        ``(max, median)`` over samples and trials; a sample whose two sides are NaN
        (absent) at different entries has error ``inf``.
    """
    if hasattr(frame_function, "canonical_frame"):
        check_is_fitted(frame_function)
        frame_function = frame_function.canonical_frame   # its estimator's layout_ is found
    if not callable(frame_function):
        raise TypeError(
            "frame_function must be a fitted CanonicalizerTransformer or a callable X -> frames; "
            f"got {type(frame_function).__name__}."
        )
    g_obj = get_group(group)
    # frames are elements of the canonicalizer's own group: compared with another group's
    # elements (a subgroup such as SO3 for SE3 frames) they failed inside numpy
    own = getattr(getattr(frame_function, "__self__", None), "group_", None)
    if own is not None and own != g_obj:
        raise ValueError(
            f"group {g_obj.name!r} differs from the group of the frames, {own.name!r} (the canonicalizer's "
            f"group_): equivariance compares frames as elements of one group. Fix: group={own.name!r}; "
            "for a subgroup, invariance_error(canonicalizer, X, group) checks the canonical forms.")
    layout = _layout_of(frame_function, layout, g_obj)
    _check_count(n_trials, "n_trials")
    X, P, to_caller, layout = _samples(X, layout)
    rs = named_random_state(random_state)
    h = frame_function(_private_copy(X))
    try:
        h = g_obj.check_elements(h, P, "the frames returned by frame_function")
        g_obj.act(g_obj.inverse(h), P, layout)
    except (ValueError, IndexError, TypeError) as error:
        raise ValueError(f"the frames returned by frame_function are not elements of group {g_obj.name!r} "
                         f"acting on these samples ({error}). Fix: pass the group the frames belong to.") from error
    errors = []
    complete = _complete(P)
    for _ in range(int(n_trials)):
        g = _sample_like_data(g_obj, P, layout, rs)
        moved = to_caller(g_obj.act(g, P, layout))
        h_moved = frame_function(moved)
        canon = g_obj.act(g_obj.inverse(h), P, layout)
        lhs = g_obj.act(h_moved, canon, layout)
        rhs = g_obj.act(g_obj.compose(g, h), canon, layout)
        # divided by ‖c‖, as documented: ‖g·x‖ grows with the data's offset and the move's
        # translation, which made broken frames look equivariant on off-centre data (the
        # floor stays on the input's scale: canonical forms of one point are all zeros)
        errors.append(_relative(rhs, lhs, _scale(P), complete, norm_of=canon))
    errors = np.concatenate(errors)
    return InvarianceError(float(np.max(errors)), float(np.median(errors)))


# -- orbit metrics for invariant projections --------------------------------------------------
OrbitDistortion = namedtuple(
    "OrbitDistortion", ["correlation", "distortion", "min_ratio", "max_ratio", "n_pairs"]
)
OrbitDistortion.__doc__ = """How feature distances follow the quotient distance over sampled pairs.

``correlation``: Pearson correlation of feature and quotient distances; ``distortion``:
``max_ratio / min_ratio`` of ``‖f(x) − f(y)‖ / d_G(x, y)`` (1 for an isometry up to scale,
``inf`` when some non-equivalent pair gets equal features); ``n_pairs``: pairs used
(pairs with ``d_G ≈ 0`` are skipped)."""


def quotient_distance(X, Y, group, layout):
    """``d_G(x_i, y_i) = min_g ‖x_i − g·y_i‖`` for paired working arrays ``X``, ``Y``.

    Exact for: finite groups (C_n, D_n, the polyhedral groups; brute force over all
    elements, using the library's action, so approximate for interpolated image rotations),
    S_n on point sets (optimal matching with :func:`scipy.optimize.linear_sum_assignment`),
    O(d)/SO(d) on matched point sets (orthogonal Procrustes, with a determinant fix for
    SO(d)), T(d) and E(d)/SE(d) (the centroids of all position fields' points matched, then
    Procrustes), S_n on graphs of at most 8 nodes (every relabelling tried; absent nodes
    count as isolated nodes with zero features). Raises ``NotImplementedError`` for other
    groups (products such as E(3)×S_n, whose quotient distance is a hard matching problem;
    similarities; larger graphs; continuous groups on images, such as SO(2), whose image
    rotations are interpolated).

    ``X`` and ``Y`` are working arrays ``(n_samples, n_points, layout.width)`` (as
    ``layout.to_working`` returns); point sets with absent points are refused. ``layout``
    is a layout object or a name the estimators take (``"points"``, ``"image"``,
    ``"graph"``, ``"fibre"``); a GraphLayout without ``n_nodes`` reads it from ``X``.
    """
    from scipy.optimize import linear_sum_assignment

    g_obj = get_group(group)
    if layout is None:
        raise TypeError("layout must be given: a layout object (PointLayout, GraphLayout, ImageLayout, "
                        f"FibreLayout) or one of {list(_LAYOUT_NAMES)}; got None.")
    layout = _check_layout(layout, g_obj)
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.shape != Y.shape:
        raise ValueError(f"X and Y must have the same shape (row i of X is paired with row i of Y); "
                         f"got {X.shape} and {Y.shape}.")
    if isinstance(layout, GraphLayout) and not layout.resolved and X.ndim == 3 and X.shape[2] >= X.shape[1]:
        layout = GraphLayout(X.shape[1], layout.node_features, X.shape[2] - X.shape[1], layout.padding)
    if isinstance(layout, GraphLayout) and not layout.resolved:
        raise ValueError("X and Y must be working arrays of shape (n_samples, n_nodes, n_nodes + "
                         f"n_features) for a GraphLayout; got {X.shape}.")
    width = getattr(layout, "width", None)
    if getattr(layout, "kind", None) in ("points", "graph") and (X.ndim != 3 or X.shape[2] != width):
        raise ValueError(f"X and Y must be working arrays of shape (n_samples, n_points, {width}) for "
                         f"layout {layout!r}; got {X.shape}. Fix: pass layout.to_working(X).")
    kind = getattr(layout, "kind", None)
    working = {"image": (4, "(n_samples, channels, height, width)"), "fibre": (3, "(n_samples, channels, fibre_size)")}
    if kind in working and X.ndim != working[kind][0]:
        # flat rows failed inside numpy (not enough values to unpack, an AxisError)
        raise ValueError(f"X and Y must be working arrays of shape {working[kind][1]} for layout {layout!r}; "
                         f"got {X.shape}. Fix: pass layout.to_working(X).")
    n = X.shape[0]
    graph = getattr(layout, "kind", None) == "graph"
    if np.isinf(X).any() or np.isinf(Y).any():
        raise ValueError("X and Y contain infinity: the quotient distance, and the orbit metrics built on "
                         "it, need finite values.")
    if graph:   # padding reads as isolated nodes with zero features
        X, Y = np.nan_to_num(X), np.nan_to_num(Y)
    elif np.isnan(X).any() or np.isnan(Y).any():
        raise ValueError("X and Y contain NaN (absent points): the quotient distance, and the orbit "
                         "metrics built on it, need point sets without absent points.")

    # every distance here scales with the data: each pair is compared divided by a power of
    # two at most its largest entry (exact), so squares of 1e200 do not overflow (the SVD
    # failed) nor those of 1e-200 underflow (NaN ratios), and multiplied back
    peak = np.maximum(np.abs(X).reshape(n, -1).max(axis=1, initial=0.0),
                      np.abs(Y).reshape(n, -1).max(axis=1, initial=0.0))
    unit = np.where(peak > 0, np.ldexp(0.5, np.frexp(peak)[1]), 1.0)   # finite up to the largest float
    X, Y = X / unit.reshape((n,) + (1,) * (X.ndim - 1)), Y / unit.reshape((n,) + (1,) * (Y.ndim - 1))

    def dist(Z):
        return np.sqrt(np.sum((X - Z).reshape(n, -1) ** 2, axis=1)) * unit

    if graph and g_obj.permutes and len(g_obj.factors) == 1:
        return _graph_quotient_distance(X, Y, g_obj, layout, dist)
    if g_obj.is_finite:
        elements = g_obj.elements()
        return np.min([dist(g_obj.act(g_obj.repeat(g_obj.take(elements, k), n), Y, layout))
                       for k in range(g_obj.order)], axis=0)
    if not isinstance(layout, PointLayout):
        # the closed forms below move points; an image rotation by an arbitrary angle is an
        # interpolation, with no exact optimum to find
        raise NotImplementedError(
            f"No exact quotient distance for group {g_obj.name!r} on {layout!r}: only finite groups "
            "(C_n, D_n, ...) have one on images and fibres (every element tried).")
    # the closed forms below are for one group, not products
    single = len(g_obj.factors) == 1 and not g_obj.rescales
    if single and g_obj.permutes:
        perms = np.empty(X.shape[:2], dtype=np.int64)
        for i in range(n):
            cost = np.sum((Y[i][:, None, :] - X[i][None, :, :]) ** 2, axis=2)
            rows, cols = linear_sum_assignment(cost)
            perms[i, rows] = cols  # point i of y moves to slot cols[i]
        return dist(g_obj.act(perms, Y, layout))
    if single and g_obj.translates and not g_obj.rotates:
        return dist(g_obj.act(_position_centroid(X, layout) - _position_centroid(Y, layout), Y, layout))
    if single and g_obj.rotates:
        geo = [layout.slice_of(f.name) for f in layout.fields if f.is_geometric]
        Xc, Yc = X.copy(), Y.copy()
        cx = cy = None
        if g_obj.translates:
            # one translation moves every position field: the optimal one matches the
            # centroids of all their points together
            cx, cy = _position_centroid(X, layout), _position_centroid(Y, layout)
            for sl in layout.slices("position"):
                Xc[..., sl] -= cx[:, None]
                Yc[..., sl] -= cy[:, None]
        M = sum(np.einsum("nmi,nmj->nij", Xc[..., sl], Yc[..., sl]) for sl in geo)
        U, _, Vt = np.linalg.svd(M)
        if g_obj.special:
            s = np.sign(np.linalg.det(U @ Vt))
            s = np.where(s == 0, 1.0, s)
            U = U.copy()
            U[:, :, -1] *= s[:, None]
        R = U @ Vt
        t = None if cx is None else cx - np.einsum("nij,nj->ni", R, cy)
        return dist(g_obj.act(g_obj.nearest_element(R, t), Y, layout))
    raise NotImplementedError(
        f"No exact quotient distance for group {g_obj.name!r}; supported: finite groups (C_n, D_n, "
        "O, I, ...), S_n, O(d), SO(d), T(d), E(d), SE(d)."
    )


def _position_centroid(P, layout):
    """``(n, d)`` centroid of the points of every position field together (0 without one:
    vectors do not translate)."""
    slices = layout.slices("position")
    if not slices:
        return np.zeros((P.shape[0], layout.n_dims))
    return np.mean([P[..., sl].mean(1) for sl in slices], axis=0)


def _graph_quotient_distance(X, Y, g_obj, layout, dist):
    """Smallest distance over every relabelling of ``Y``'s nodes (rows and adjacency columns)."""
    from itertools import permutations

    n, m = X.shape[:2]
    if m > 8:
        raise NotImplementedError(f"The quotient distance of graphs tries all {m}! relabellings; "
                                  "supported up to 8 nodes.")
    best = np.full(n, np.inf)
    for perm in permutations(range(m)):
        best = np.minimum(best, dist(g_obj.act(np.tile(perm, (n, 1)), Y, layout)))
    return best


def _refuse_absent(P, layout, name):
    """The quotient distance refuses absent points (graphs' NaN padding aside): refused for
    the whole of ``X``, not only where the drawn pairs happen to meet them (a sample with
    absent points went unnoticed in about 1 draw of 100 of 4 pairs among 3 samples)."""
    if getattr(layout, "kind", None) != "graph" and np.isnan(P).any():
        raise ValueError(f"{name} contains NaN (absent points): the orbit metrics need point sets "
                         "without absent points.")


def _pairs(X, n_pairs, random_state, X_other, layout):
    """``(A, B, PA, PB, layout)``: paired samples in the caller's form (for the map), as
    working arrays (for the quotient distance), and the layout (resolved for graphs)."""
    _check_count(n_pairs, "n_pairs")
    if getattr(layout, "categorical_fields", ()):
        raise ValueError(
            f"orbit metrics measure distances between samples, and the categorical field(s) "
            f"{[f.name for f in layout.categorical_fields]} of layout {layout!r} have none. Fix: pass "
            "a layout (or data) with numeric scalar fields.")
    _, P, to_caller, layout = _samples(X, layout)
    _refuse_absent(P, layout, "X")
    if X_other is not None:
        _, P_other, to_other, _ = _samples(X_other, layout, name="X_other")
        _refuse_absent(P_other, layout, "X_other")
        if P_other.shape != P.shape:
            raise ValueError(
                f"X_other must have the shape of X {P.shape} (row i is paired with X[i]); "
                f"got {P_other.shape}."
            )
        return to_caller(P), to_other(P_other), P, P_other, layout
    if P.shape[0] < 2:
        raise ValueError(f"X needs at least 2 samples to form pairs; got {P.shape[0]}.")
    rs = named_random_state(random_state)
    i = rs.randint(0, P.shape[0], size=int(n_pairs))
    j = (i + rs.randint(1, P.shape[0], size=int(n_pairs))) % P.shape[0]
    return to_caller(P[i]), to_caller(P[j]), P[i], P[j], layout


def _feature_distances(f, A, B):
    """``‖f(a) − f(b)‖`` per pair and the feature scale. NaN features (the rows of absent
    graph nodes) read as zeros, as the quotient distance reads absent nodes: graphs of
    different sizes are compared, not given a NaN distance (never "separated")."""
    FA = np.asarray(f(A), dtype=np.float64).reshape(len(A), -1)
    FB = np.asarray(f(B), dtype=np.float64).reshape(len(B), -1)
    FA, FB = np.where(np.isnan(FA), 0.0, FA), np.where(np.isnan(FB), 0.0, FB)
    with np.errstate(over="ignore", invalid="ignore"):
        return _row_norms(FA - FB), max(_scale(FA), _scale(FB))


def orbit_distortion(projector, X, group, n_pairs=200, random_state=None, layout=None,
                     X_other=None):
    """Compare feature distances ``‖f(x) − f(y)‖`` with the quotient distance
    ``d_G(x, y) = min_g ‖x − g·y‖`` over random pairs of samples.

    An isometric projection (sorting one scalar per node) gives ``distortion == 1`` and
    ``correlation == 1``; a bi-Lipschitz one a bounded distortion; a lossy one ``inf``
    distortion on pairs it merges.

    Parameters
    ----------
    projector : fitted transformer or callable
        The invariant map.
    X : array-like
        Samples in the layout of ``layout``.
    group : str or Group
        The group of the quotient (see :func:`quotient_distance` for the supported ones;
        others raise its ``NotImplementedError``).
    n_pairs : int, default=200
        Random pairs ``(x_i, x_j)``, ``i ≠ j``, drawn from ``X``.
    random_state : int, RandomState instance or None
    layout : layout object, {"points", "image", "graph", "fibre"} or None
        Defaults to the projector's fitted ``layout_``; names as in :func:`invariance_error`.
    X_other : array-like or None, default=None
        When given, pair ``X[i]`` with ``X_other[i]`` instead of drawing pairs.

    Returns
    -------
    OrbitDistortion
        ``(correlation, distortion, min_ratio, max_ratio, n_pairs)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skcanon._projector import InvariantProjector
    >>> from skcanon.metrics import orbit_distortion
    >>> X = np.random.default_rng(0).normal(size=(50, 6))
    >>> proj = InvariantProjector("S_n", "sort", n_dims=1).fit(X)
    >>> round(orbit_distortion(proj, X, "S_n", random_state=0).distortion, 6)
    1.0
    """
    f = _as_function(projector, "projector")
    layout = _layout_of(projector, layout, group)
    A, B, PA, PB, layout = _pairs(X, n_pairs, random_state, X_other, layout)
    dq = quotient_distance(PA, PB, group, layout)
    df, _ = _feature_distances(f, A, B)
    keep = dq > 1e-9 * max(_scale(PA), _scale(PB), 1e-300)
    if not keep.any():
        return OrbitDistortion(float("nan"), float("nan"), float("nan"), float("nan"), 0)
    ratio = df[keep] / dq[keep]
    lo, hi = float(ratio.min()), float(ratio.max())
    corr = float("nan")
    top = float(df[keep].max())
    if keep.sum() > 1 and top > 0 and np.std(df[keep] / top) > 0:
        # divided by their largest (the correlation does not depend on it): products of
        # distances near 1e200 overflowed
        corr = float(np.corrcoef(df[keep] / top, dq[keep] / dq[keep].max())[0, 1])
    return OrbitDistortion(corr, hi / lo if lo > 0 else float("inf"), lo, hi, int(keep.sum()))


def orbit_separation(projector, X, group, n_pairs=200, random_state=None, layout=None,
                     X_other=None, rtol=1e-6):
    """Share of non-equivalent pairs of samples that get distinct features.

    A pair counts as separated when ``‖f(x) − f(y)‖ > rtol · s`` with ``s`` the largest
    feature norm; as non-equivalent when ``d_G(x, y) > rtol ·`` the largest input norm.
    1.0 means every orbit pair was told apart: the retained-information score of Hansen
    et al. Random pairs are easy for most maps; pass ``X_other`` with hard pairs (same
    pooled statistics, say) for a sharper test.

    Where :func:`quotient_distance` has no exact value (products such as E(3)×S_n, graphs
    of more than 8 nodes, continuous groups on images), equivalence cannot be told and
    every pair is counted as non-equivalent. For an invariant map the rate is then a lower
    bound: exact when every pair gets distinct features (random pairs of generic data are
    almost surely non-equivalent), and too low by the share of equivalent pairs otherwise
    (an exactly invariant map scores 0.0 on pairs that are all equivalent). A
    ``UserWarning`` naming the group says so whenever some pair got equal features. The
    bound is returned rather than ``nan`` because it is exact in the common case, and the
    warning flags the cases where it may not be.

    Parameters
    ----------
    projector : fitted transformer or callable
    X : array-like
    group : str or Group
    n_pairs : int, default=200
    random_state : int, RandomState instance or None
    layout : layout object or None
    X_other : array-like or None, default=None
        Pair ``X[i]`` with ``X_other[i]`` instead of drawing random pairs.
    rtol : float, default=1e-6
        Relative tolerance deciding "distinct" (use ~1e-4 for float32 features).

    Returns
    -------
    rate : float
        In ``[0, 1]``; ``nan`` when no pair is non-equivalent.
    """
    if isinstance(rtol, (bool, np.bool_)) or not isinstance(rtol, numbers.Real) or not (np.isfinite(rtol) and rtol >= 0):
        # rtol=-1 made a constant map, which merges every orbit, score 1.0
        raise ValueError(f"rtol must be a finite float >= 0, got {rtol!r}.")
    f = _as_function(projector, "projector")
    layout = _layout_of(projector, layout, group)
    A, B, PA, PB, layout = _pairs(X, n_pairs, random_state, X_other, layout)
    unknown = None
    try:
        dq = quotient_distance(PA, PB, group, layout)
        distinct_inputs = dq > rtol * max(_scale(PA), _scale(PB), 1e-300)
    except NotImplementedError as exc:
        distinct_inputs = np.ones(len(A), dtype=bool)
        unknown = exc
    df, fscale = _feature_distances(f, A, B)
    if not distinct_inputs.any():
        return float("nan")
    separated = df[distinct_inputs] > rtol * max(fscale, 1e-300)
    if unknown is not None and not separated.all():
        warnings.warn(
            f"orbit_separation: no exact quotient distance for group {get_group(group).name!r} ({unknown}), "
            f"so every pair counted as non-equivalent; {int((~separated).sum())} of {len(separated)} pairs "
            "got equal features and may be equivalent ones, which an invariant map must merge: the rate "
            f"{float(np.mean(separated))!r} is only a lower bound. Pass X_other with pairs known to lie in "
            "different orbits for an exact score.", UserWarning, stacklevel=2)
    return float(np.mean(separated))


ContinuityRatio = namedtuple("ContinuityRatio", ["max", "median", "ratios"])
ContinuityRatio.__doc__ = """Ratios of relative output change to relative input change over pairs of nearby
inputs: ``max``, ``median`` and the per-pair ``ratios`` (ndarray)."""


def _output_function(estimator_or_callable):
    for name in ("transform", "predict_proba", "predict"):
        if hasattr(estimator_or_callable, name):
            return _row_outputs(getattr(estimator_or_callable, name), "estimator_or_callable")
    if callable(estimator_or_callable):
        return _row_outputs(estimator_or_callable, "estimator_or_callable")
    raise TypeError(
        "estimator_or_callable must be a fitted estimator (transform, predict_proba or predict) or a "
        f"callable X -> outputs; got {type(estimator_or_callable).__name__}."
    )


def _rms(Z):
    """Root mean square of the rows' norms of 2-D ``Z`` (NaN entries as 0)."""
    return _root_mean_square(_row_norms(Z)) if Z.size else 0.0


def continuity_ratio(estimator_or_callable, X, eps=1e-3, n_pairs=200, random_state=None, X_other=None,
                     layout=None):
    """How much the output of a map jumps between nearby inputs.

    Each pair is a sample ``x`` drawn from ``X`` and ``x' = x + δ``, with ``δ`` a random
    direction of length ``eps`` × the root-mean-square norm of the samples (absent-point
    NaN entries stay NaN). The ratio of a pair is the *relative* output change over the
    *relative* input change,

    ``(‖f(x') − f(x)‖ / s_f) / (‖x' − x‖ / s_x)``,

    with ``s_x`` and ``s_f`` the root-mean-square norms of the inputs and of their
    outputs. A continuous (Lipschitz) map gives ratios of order one that do not grow as
    ``eps`` shrinks; a map that jumps near some inputs gives ratios near
    ``jump / eps`` there. Canonicalization of point clouds under rotations jumps near
    symmetric inputs (Dym, Lawrence & Siegel, ICML 2024); weighted frame averaging does not.

    Parameters
    ----------
    estimator_or_callable : fitted estimator or callable
        ``transform`` is used when present, else ``predict_proba``, else ``predict``;
        callables map ``X`` to outputs. Outputs must be numbers (not class labels); NaN
        outputs are compared only where both inputs of a pair give them (absent points),
        other NaN and infinite outputs raise a ``ValueError``.
    X : array-like of shape (n_samples, n_features) or (n_samples, n_points, width)
        Inputs to perturb (use near-symmetric ones to look for jumps). float32 data stay
        float32 (the map gets float32 pairs), anything else becomes float64. A list of
        networkx graphs is encoded with the map's fitted GraphLayout (the map gets the
        encoded flat rows). For a map fitted with categorical fields, ``X`` is read with
        its fitted layout: categorical entries are never perturbed and do not count in the
        input distances and norms (also with ``X_other``), and the map gets its
        categories back.
    eps : float, default=1e-3
        Size of the perturbation relative to the typical sample norm.
    n_pairs : int, default=200
        Pairs drawn (samples of ``X`` with replacement, each with its own direction).
    random_state : int, RandomState instance or None
    X_other : array-like or None, default=None
        Pair ``X[i]`` with ``X_other[i]`` (same shape) instead of drawing perturbations;
        ``eps`` and ``n_pairs`` are then unused.
    layout : Layout or None, default=None
        The layout ``X`` is read with, as a fitted estimator's ``layout_`` is (categorical
        fields kept unperturbed, graph lists encoded): for callables, which have none.
        None: the estimator's fitted layout, if any. A layout object (``PointLayout``,
        ``GraphLayout``, ...); names such as ``"points"`` are refused here, since this
        function takes no group to read them with.

    Returns
    -------
    ContinuityRatio
        Named tuple ``(max, median, ratios)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skcanon.metrics import continuity_ratio
    >>> X = np.random.default_rng(0).normal(size=(20, 6))
    >>> round(continuity_ratio(lambda Z: 2 * Z, X, random_state=0).max, 6)   # linear: ratio 1
    1.0
    >>> X[:, 0] = 1e-9                                   # np.sign jumps at 0
    >>> continuity_ratio(np.sign, X, random_state=0).max > 100
    True
    """
    f = _output_function(estimator_or_callable)
    if layout is None:
        layout = _fitted_layout(estimator_or_callable)
    elif not isinstance(layout, Layout):
        raise TypeError(
            "layout must be a layout object (PointLayout, GraphLayout, ImageLayout, FibreLayout) or None; "
            f"got {type(layout).__name__} {layout!r} (continuity_ratio takes no group to read a layout "
            "name with).")
    for name, Z in (("X", X), ("X_other", X_other)):
        if Z is not None and not is_graph_list(Z) and _is_complex(Z):
            # the imaginary part was dropped with a ComplexWarning only
            raise ValueError(f"{name} holds complex values ({np.asarray(Z).dtype}); expected real numbers.")
    if getattr(layout, "categorical_fields", ()):
        return _continuity_categorical(f, X, layout, eps, n_pairs, random_state, X_other)
    if is_graph_list(X) or is_graph_list(X_other):
        # encoded as the estimator encodes them: its fitted GraphLayout gives the size
        if not isinstance(layout, GraphLayout):
            raise TypeError(
                "X is a list of networkx graphs, but the map has no fitted GraphLayout to encode them "
                "with. Fix: pass an estimator fitted on graphs, or encode them first "
                "(P, layout = GraphLayout().encode(graphs)) and pass P.reshape(len(P), -1).")
        if is_graph_list(X):
            X, layout = _encode_graphs(X, layout)
            X = X.reshape(len(X), -1)
        if is_graph_list(X_other):
            X_other, _ = _encode_graphs(X_other, layout, "X_other")
            X_other = np.reshape(X_other, (len(X_other), -1))
    X_frame = X
    X = _float_copy(X, "X")  # a copy: the caller's array is never touched
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(f"X must have shape (n_samples, n_features) with n_samples >= 1; got {X.shape}.")
    if np.isinf(X).any():
        raise ValueError("X contains infinity; expected finite values (NaN only for absent points).")
    if X_other is not None:
        if is_dataframe(X_frame) and is_dataframe(X_other):
            # read by name, as the map reads X: the same columns in another order are the
            # same data (a positional read handed X_other's values to X's names)
            if set(X_other.columns) != set(X_frame.columns):
                raise ValueError(
                    "X_other must have X's columns (row i is paired with X[i]); its columns differ: "
                    f"missing {sorted(map(str, set(X_frame.columns) - set(X_other.columns)))[:5]}, extra "
                    f"{sorted(map(str, set(X_other.columns) - set(X_frame.columns)))[:5]}.")
            X_other = X_other[list(X_frame.columns)]
        B = _float_copy(X_other, "X_other", X.dtype)
        if B.shape != X.shape:
            raise ValueError(
                f"X_other must have the shape of X {X.shape} (row i is paired with X[i]); got {B.shape}.")
        # as for X: infinity made every ratio NaN (with a RuntimeWarning only)
        if np.isinf(B).any():
            raise ValueError("X_other contains infinity; expected finite values (NaN only for absent "
                             "points).")
        A = X
    else:
        _check_count(n_pairs, "n_pairs")
        _check_eps(eps)
        A, B = _perturbed_pairs(X.reshape(len(X), -1), eps, n_pairs, random_state,
                                frozen=_padding_entries(X, layout))
        A, B = A.reshape((len(A),) + X.shape[1:]), B.reshape((len(B),) + X.shape[1:])
    a2, b2 = A.reshape(len(A), -1), B.reshape(len(B), -1)
    # a DataFrame reaches the map as one with its column names (an estimator fitted on
    # names warns about bare arrays)
    frame = X_frame if is_dataframe(X_frame) else None
    FA = f(A if frame is None else _as_frame_like(frame, a2, None))
    FB = f(B if frame is None else _as_frame_like(frame, b2, None))
    return _continuity(a2, b2, FA, FB)


def _is_complex(Z):
    """True for complex arrays and DataFrames with a complex column (ragged or non-numeric
    input is left to the checks that name it)."""
    if is_dataframe(Z):
        return any(getattr(dt, "kind", "") == "c" for dt in getattr(Z, "dtypes", ()))
    try:
        return bool(np.iscomplexobj(Z))
    except (TypeError, ValueError):
        return False


def _float_copy(X, name, dtype=None):
    """A float copy of ``X``: float32 stays float32 (as the estimators keep it), anything
    else becomes float64; non-numeric or ragged data gets an error naming ``name``."""
    try:
        X = np.array(X)
        return object_as_float(X, dtype or (np.float32 if X.dtype == np.float32 else np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be numeric, of shape (n_samples, n_features) or (n_samples, n_points, width) "
            f"({exc}). Categorical fields are read through a map fitted with a layout that declares them "
            "(Field(..., categorical=True), or a DataFrame's non-numeric columns).") from None


def _check_eps(eps):
    # any real number but a bool (np.int64(1) was refused while 1 and True passed)
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, numbers.Real) or not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive float, got {eps!r}.")


def _padding_entries(X, layout):
    """``(n, n_features)`` bool: the entries of graph samples ``X`` that belong to absent
    nodes — their rows and the present nodes' adjacency columns for them — which a
    perturbation must leave alone (moved, zero padding became present nodes and NaN
    padding edges to absent nodes); None for other layouts."""
    if not isinstance(layout, GraphLayout) or layout.n_nodes is None:
        return None
    P = X.reshape(len(X), layout.n_nodes, layout.width)
    absent = ~layout.present_nodes(P)
    frozen = np.broadcast_to(absent[:, :, None], P.shape).copy()
    adj = np.zeros(layout.width, dtype=bool)
    adj[layout.slice_of("adj")] = True
    frozen[:, :, adj] |= absent[:, None, :]
    return frozen.reshape(len(X), -1)


def _perturbed_pairs(flat, eps, n_pairs, random_state, fixed=None, frozen=None):
    """Rows of ``flat`` drawn with replacement and the same rows moved by ``eps`` × the rms
    sample norm in random directions; NaN entries (absent points), the columns in ``fixed``
    (categorical codes) and the entries ``frozen`` (per sample: graphs' padding) are not
    moved. Returned in ``flat``'s dtype."""
    rs = named_random_state(random_state)
    rows = rs.randint(0, flat.shape[0], size=int(n_pairs))
    A = flat[rows]
    numeric = flat if fixed is None else np.where(fixed, np.nan, flat)
    delta = rs.standard_normal(A.shape)
    delta[np.isnan(A)] = 0.0
    if frozen is not None:
        delta[frozen[rows]] = 0.0
    if fixed is not None:
        delta[:, fixed] = 0.0
    norms = np.linalg.norm(delta, axis=1, keepdims=True)
    delta = delta / np.where(norms > 0, norms, 1.0) * eps * _rms(numeric.astype(np.float64, copy=False))
    B = (A + delta).astype(flat.dtype, copy=False)
    _check_moves_survive_rounding(A, B, delta, eps)
    return A, B


def _check_moves_survive_rounding(A, B, delta, eps):
    """Refuse an ``eps`` whose moves the data's dtype cannot hold: below its resolution
    most pairs round back to their first sample (dropped as identical) or move in
    directions rounding chose, which would go unnoticed in the ratios."""
    intended = _row_norms(delta)
    moved = B.astype(np.float64) - A.astype(np.float64)
    actual = _row_norms(moved)
    rows = intended > 0
    if not rows.any():
        return
    error = _row_norms(moved - delta)[rows] / intended[rows]   # NaN (absent) entries count as 0
    if np.median(error) > 0.25:
        still = int(np.sum(actual[rows] == 0))
        raise ValueError(
            f"eps={eps!r} is too small for {A.dtype} X: rounding to {A.dtype} changes the typical "
            f"move by {np.median(error):.0%} of its length ({still} of {int(rows.sum())} moved copies "
            "round back to their sample); pass a larger eps"
            + (", or X as float64." if A.dtype != np.float64 else "."))


def _continuity(a2, b2, FA, FB):
    """The ratios of flat input pairs ``a2``, ``b2`` (NaN entries ignored) and outputs."""
    a2, b2 = a2.astype(np.float64, copy=False), b2.astype(np.float64, copy=False)
    dx = _row_norms(a2 - b2)
    FA, FB = _numeric_outputs(FA, len(a2)), _numeric_outputs(FB, len(b2))
    keep = dx > 0
    if not keep.any():
        raise ValueError("every pair has identical inputs; nothing to compare (X_other equals X, "
                         "or every sample is empty).")
    _check_outputs_comparable(FA[keep], FB[keep])
    with np.errstate(invalid="ignore", over="ignore"):
        df = _row_norms(FA - FB)
    sx = max(_rms(np.concatenate([a2, b2])), 1e-300)
    sf = max(_rms(np.concatenate([FA, FB])), 1e-300)
    ratios = (df[keep] / sf) / (dx[keep] / sx)
    return ContinuityRatio(float(ratios.max()), float(np.median(ratios)), ratios)


def _numeric_outputs(F, n):
    """The outputs ``F`` as float64 rows, or a ValueError naming the map (class labels of a
    classifier without ``predict_proba`` failed inside numpy)."""
    try:
        return np.asarray(F, dtype=np.float64).reshape(n, -1)
    except (TypeError, ValueError):
        kind = getattr(np.asarray(F), "dtype", None)
        raise ValueError(
            f"estimator_or_callable must return numbers; got outputs of dtype {kind} (class labels?), "
            "whose distances are not defined. Fix: pass a callable that returns scores, e.g. "
            "clf.decision_function, or an estimator with predict_proba.") from None


def _check_outputs_comparable(FA, FB):
    """Refuse output pairs whose change cannot be measured: NaN entries count as 0 in the
    distances, so a map that returned NaN for a sample scored ratio 0 (perfectly continuous),
    and infinity made every ratio NaN."""
    if np.isinf(FA).any() or np.isinf(FB).any():
        raise ValueError("estimator_or_callable returned infinity; the output changes cannot be measured.")
    nan_a, nan_b = np.isnan(FA), np.isnan(FB)
    bad = (nan_a != nan_b).any(axis=1)
    if FA.shape[1]:
        bad |= nan_a.all(axis=1)
    if bad.any():
        raise ValueError(
            f"estimator_or_callable returned NaN for {int(bad.sum())} of {len(bad)} pairs (a whole output "
            "row, or entries NaN for one input of a pair but not the other), whose output change cannot "
            "be measured; NaN outputs are only compared where both inputs of a pair give them (absent "
            "points).")


def _continuity_categorical(f, X, layout, eps, n_pairs, random_state, X_other):
    """:func:`continuity_ratio` for a map fitted with categorical fields: the data are read
    as the estimator reads them, categorical entries are never perturbed and do not count
    in the input distances and norms, and the map gets its categories back."""
    _, P, to_caller, layout = _samples(X, layout)
    if np.isinf(P).any():
        raise ValueError("X contains infinity; expected finite values (NaN only for absent points).")
    fixed = np.zeros(P.shape[2], dtype=bool)
    for field in layout.categorical_fields:
        fixed[layout.slice_of(field.name)] = True
    fixed = np.tile(fixed, P.shape[1])
    flat = P.reshape(len(P), -1)
    if X_other is not None:
        _, Q, to_other, _ = _samples(X_other, layout, name="X_other")
        if Q.shape != P.shape:
            raise ValueError(
                f"X_other must have the shape of X {P.shape} (row i is paired with X[i]); got {Q.shape}.")
        A, B, to_b = flat, Q.reshape(len(Q), -1), to_other
    else:
        _check_count(n_pairs, "n_pairs")
        _check_eps(eps)
        A, B = _perturbed_pairs(flat, eps, n_pairs, random_state, fixed)
        to_b = to_caller
    FA = f(to_caller(A.reshape((len(A),) + P.shape[1:])))
    FB = f(to_b(B.reshape((len(B),) + P.shape[1:])))
    return _continuity(np.where(fixed, np.nan, A), np.where(fixed, np.nan, B), FA, FB)
