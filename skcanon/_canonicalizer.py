"""CanonicalizerTransformer: the estimator that maps every sample to a canonical pose."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import check_is_fitted

from ._batching import (BATCH_IMAGE_VALUES, frames_of, iter_batches, layout_from_names, resolve_layout,
                        rows_per_batch, run_batches, stack_frames)
from ._estimator import SkcanonEstimatorMixin, fit_whole
from ._kernels import _numba
from ._learning_options import LEARNING_OPTIONS
from ._noise import geometric_slices, noise_candidates, zero_noise_axes_in_place
from ._threads import limited_threads, n_threads_from, serving_n_jobs
from ._validation import (NumberInterval, batch_starting_at, check_device, check_frames_length,
                          check_translations_act, user_stacklevel, validate_samples,
                          warn_inexact_image_action)
from .canonicalizers import make_canonicalizer
from .groups import Group, get_group
from .layouts import (CategoryCodes, FibreLayout, GraphLayout, ImageLayout, PointLayout, encode_if_graphs,
                      is_graph_list)

__all__ = ["CanonicalizerTransformer"]


def _check_in_range(out, P):
    """Refuse canonical forms that left the dtype's range: inputs are finite (validated), so
    an infinite output value, NaN beside finite values of a point, or a count of absent
    (all-NaN) points other than the input's is an overflow where values near the dtype's
    largest were centred or rotated. One pass over the output where it is all finite."""
    if not np.issubdtype(out.dtype, np.floating) or np.isfinite(out).all():
        return
    n = len(out)
    nan = np.isnan(out)
    absent = nan.all(axis=-1)  # points are rows of the last axis (permutations move them)
    bad = (np.isinf(out) | (nan & ~absent[..., None])).reshape(n, -1).any(axis=1)
    given = np.isnan(P).all(axis=-1) if np.issubdtype(P.dtype, np.floating) else np.zeros(absent.shape, bool)
    bad |= absent.reshape(n, -1).sum(axis=1) != given.reshape(n, -1).sum(axis=1)
    rows = np.flatnonzero(bad)
    if rows.size:
        raise ValueError(
            f"X: the canonical forms of samples {rows[:5].tolist()}{' ...' if rows.size > 5 else ''} "
            f"do not fit in {out.dtype} (values near its largest, {np.finfo(out.dtype).max:.3g}, "
            "overflow when centred or rotated); rescale X.")


class CanonicalizerTransformer(SkcanonEstimatorMixin, TransformerMixin, BaseEstimator):
    """Map each sample to a canonical pose, making any downstream model invariant.

    For every sample ``x`` a canonicalization method picks a group element ``h(x)``
    with ``h(g·x) = g·h(x)``; ``transform`` returns ``h(x)⁻¹·x``, which is the same for
    every transformed copy ``g·x``. Put it in a :class:`~sklearn.pipeline.Pipeline` ahead
    of any estimator.

    Parameters
    ----------
    group : str or Group, default="SE3"
        The symmetry: an alias such as ``"SO3"``, ``"O2"``, ``"SE3"``, ``"T3"``,
        ``"S_n"``, ``"C8"``, ``"D4"``, ``"scaling"``, a product ``"SE3xS_n"``, or a
        :class:`~skcanon.groups.Group`.
    method : str, default="auto"
        How frames are chosen. ``"auto"`` picks the default heuristic per factor;
        ``"identity"`` (baseline, output = input); ``"centroid"`` (T(d)); ``"scale"``
        (scaling); ``"pca"`` (O(d), SO(d), E(d), SE(d); finite rotation groups — C_n/D_n
        on 2-D points, ``"O"``/``"I"``/``"tetrahedral"`` on 3-D points — by rounding to the nearest element);
        ``"orbit"`` (finite groups on points: the element with the smallest canonical form);
        ``"moments"`` (SO(2), O(2), C_n, D_n on images); ``"sort"`` (S_n on points);
        ``"wl"`` (S_n on graphs: exact canonical labelling); ``"random"`` (a frozen,
        randomly initialised equivariant network — a strong baseline), ``"learned"``
        (the same network trained in ``fit`` with ``objective``), both for the whole group,
        products included, and ``"anchored"`` (point sets under O(d)/SO(d)/E(d)/SE(d)/S_n
        and their products: the ``pca``/``sort`` heuristic followed by a learned residual
        correction; images under C_n, D_n, SO(2): the ``moments`` frame plus the learned
        network's scores times a gain; the correction starts at zero, so untrained it *is*
        the heuristic). Otherwise product groups take one method per factor joined by
        ``+`` (``"pca+sort"``).
    layout : {"points", "image", "graph"}, PointLayout, GraphLayout, ImageLayout or None, \
default=None
        How columns map to points, graph nodes or pixels. With ``"graph"`` /
        :class:`~skcanon.layouts.GraphLayout`, ``X`` may be a list of networkx graphs.
        ``None``:

        * a DataFrame whose column names name points (``atom3_x``, ``p0_y``, ``x1``, ...)
          is read by name (:meth:`~skcanon.layouts.PointLayout.infer_from_columns`; stored
          as ``layout_``): extra per-point columns (``atom3_element``, ``p0_charge``) become
          scalar fields, text columns categorical fields (see ``categories_``);
        * groups that act on both 2-D point sets and images (SO(2), O(2), C_n, D_n) take
          the layout the method works on (``"moments"``: images, ``"pca"``: points) and
          otherwise raise a ValueError asking for ``layout="image"``, ``layout="points"`` or
          ``n_dims=2`` — the layout is never guessed from the data;
        * other groups: points with ``n_dims`` spatial dimensions.

        Use :class:`~skcanon.layouts.PointLayout` with fields for points carrying vectors
        and scalars; a PointLayout without ``columns`` reads a DataFrame by its column names
        when they all name its components.
    n_dims : int or None, default=None
        Spatial dimension of point sets; inferred from the group when ``None``
        (3 for groups that do not fix one: pure permutation groups, ``"scaling"`` and their
        products; pass it for 2-D points there).
    objective : {"auto", "supervised", "prior", "supervised+prior", "align"}, default="auto"
        Training objective of ``method="learned"`` (ignored by other methods).
        ``"supervised"``: end to end with a small task head on the canonical inputs
        (classification or regression inferred from ``y``); ``"prior"``: the identity prior
        (training data assumed upright); ``"supervised+prior"``: both, the prior weighted
        by ``prior_weight``; ``"align"``: no ``y``, canonical forms of the training set
        pulled towards a learned template. ``"auto"``: ``"supervised"`` when ``y`` is
        given, ``"align"`` otherwise.
    prior_weight : float, default=1.0
        Weight of the prior term in ``"supervised+prior"``.
    hidden : int, default=64
        Width of the canonicalization network (and of the task head).
    neighbourhood : bool or "auto", default="auto"
        Point sets with a permutation factor (``"E3xS_n"``...), methods ``"learned"`` and
        ``"random"``: the network that orders the points scores each point from its own
        features, the cloud's mean *and* its neighbourhood — radial functions of its
        distances to the other points times learned features of those points
        (:class:`~skcanon.nn._permutation.SortFrameNetwork`). Costs O(points²) time and
        memory per cloud, so ``"auto"`` turns it on only for clouds of at most 64 points
        with a position field *and* at least one scalar field (atom types, charges...;
        resolved in ``canonicalizer_.neighbourhood_``). Chosen on validation tasks with
        rules stated before the deciding seeds ran (``docs/learned.md``): with scalar fields
        (QM9) it lowered the gap regression error in 14 of 15 seeds and helped the QM9
        classes; on clouds of positions only (3-D point shapes) it cost 3.4 points of
        accuracy, so there it stays off.
    max_epochs : int or "auto", default="auto"
        Training epochs of learned networks. ``"auto"``: a budget of about 1,000 optimiser
        steps (at least 2 and at most 100 epochs), so small and large data sets both train
        without tuning; early stopping may end training sooner (``n_epochs_trained_`` of
        ``canonicalizer_``).
    lr : float, default=1e-3
        Learning rate (Adam) of learned networks.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training data and keep the weights of the
        best validation epoch (stopping after a fifth of the planned epochs, at least 5,
        without improvement).
    validation_fraction : float, default=0.1
        Share of the training data held out when ``early_stopping``.
    validation_score : {"loss", "knn"}, default="loss"
        What early stopping watches on the held-out share. ``"loss"``: the validation loss
        of the objective (for ``"supervised"``, the task head's). ``"knn"``: before training
        and after every epoch, the held-out samples are canonicalized and scored by a
        5-nearest-neighbour model fitted on the canonical training samples (accuracy, or R²
        for real targets); the best epoch is kept, the initial weights included, so
        ``method="anchored"`` never ends below its heuristic on that score. Needs a
        supervised objective. With a tree model after the step neither rule was better on
        validation data (``docs/learned.md``).
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"} or torch.device, default="auto"
        Where networks run; ``"auto"`` uses CUDA when available. Heuristics run on CPU and
        do not use it. Its form is checked in ``fit`` before any work; a device that is
        absent is refused there for the methods with a network. Resolved again when a fitted
        model is loaded (unpickled): there it runs on this device where present, else on the
        CPU. Setting it on a fitted model takes effect at the next fit.
    verbose : int, default=0
        ``1`` shows a progress bar and per-epoch losses while training.
    batch_size : int or None, default=4096
        Samples processed at once in ``transform``; bounds the working memory.
        ``None`` processes everything at once. Heuristic methods on point sets count a
        cloud of more than 192 values (64 points in 3-D) as several: a batch holds at most
        ``batch_size × 192`` values, so clouds of many points go in fewer clouds per batch
        (their outputs do not depend on the batch). Every method counts an image of more
        than 784 values (one 28×28 channel; a 3-channel 28×28 image is three) as several.
        Learned networks train with mini-batches of 16 to 256 samples growing with the data
        (at most ``batch_size``).
    random_state : int, RandomState instance or None, default=None
        Seed for methods with randomness (random and learned networks); a fixed seed
        gives identical weights and outputs on CPU. ``None`` draws the seed from numpy's
        global generator (``np.random.seed`` fixes it; torch's global generator is never
        used).
    n_jobs : int or None, default=None
        Threads that canonicalize the batches of ``transform`` in parallel (heuristic
        methods; their numpy code releases the GIL), each with torch, BLAS and OpenMP on
        one thread, so ``n_jobs`` bounds the cores used. ``None`` means 1, ``-1`` all cores.
        Outputs are identical for every value; peak memory grows by one batch per thread.
        Networks (``random``, ``learned``, ``anchored``) run torch, BLAS and OpenMP on
        ``n_jobs`` threads (``None`` → 1) while training and computing frames, and restore
        the previous thread settings afterwards: results do not depend on the number of
        processes (e.g. ``GridSearchCV(n_jobs=...)``), and joblib workers do not
        oversubscribe the machine.
    fill_value : finite float or None, default=None
        Value written into absent points (all-NaN rows, also absent graph nodes) of the
        output, after canonicalization, so that estimators refusing NaN can follow.
        ``None`` keeps them NaN. Absent points are ordered last by ``"sort"``, so with a
        permutation group the filled columns are the trailing ones. Give
        :meth:`inverse_transform` unfilled (NaN) absent points.
    key_order : {"scalars_first", "columns"}, default="scalars_first"
        Key order of ``"sort"`` (S_n on points, alone or in chains such as ``"pca+sort"``,
        and the order that ``"anchored"`` starts from):
        ``"scalars_first"`` sorts points by their scalar fields (atom types, charges) first,
        then by the remaining columns; ``"columns"`` by the columns in layout order. On the
        QM9 ring-class table of ``docs/results.md`` the two orders tie; a validation run on
        QM9 gap and dipole regression favoured ``"scalars_first"``. Points without scalar
        fields sort the same either way.

    Attributes
    ----------
    group_ : Group
        The resolved group.
    layout_ : PointLayout, GraphLayout or ImageLayout
        The resolved layout (read from a DataFrame's column names when ``layout=None``).
    categories_ : dict of str to ndarray
        For layouts with categorical fields only: the categories of each such field seen
        in ``fit`` (sorted); ``transform`` replaces every value by its position here and
        refuses categories not seen in ``fit``.
    canonicalizer_ : Canonicalizer
        The (fitted) frame function.
    n_epochs_trained_, best_epoch_, history_ : int, int or None, list of dict
        Network methods (``random``, ``learned``, ``anchored``, a chain with one network
        step) only: the training record of ``canonicalizer_`` (epochs run, the epoch whose
        weights were kept, per-epoch losses); heuristics have none.
    method_ : str
        The resolved method (``"auto"`` expanded).
    n_features_in_ : int
        Number of features seen in ``fit`` (3-D input counted flat).
    feature_names_in_ : ndarray of str
        Column names seen in ``fit`` when ``X`` was a DataFrame.

    See Also
    --------
    skcanon.metrics.invariance_error : Measure how invariant a fitted transformer is.

    Examples
    --------
    >>> import numpy as np
    >>> from skcanon import CanonicalizerTransformer
    >>> from skcanon.groups import get_group
    >>> from skcanon.layouts import PointLayout
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(4, 10 * 3))          # 4 clouds of 10 points in 3-D
    >>> canon = CanonicalizerTransformer(group="SE3", method="pca").fit(X)
    >>> g = get_group("SE3").sample(4, random_state=0)
    >>> X_moved = get_group("SE3").apply(g, X, PointLayout(3))
    >>> bool(np.allclose(canon.transform(X_moved), canon.transform(X), atol=1e-8))
    True
    """

    _parameter_constraints = {
        "group": [str, Group],
        "method": [str],
        "layout": [StrOptions({"points", "image", "graph"}), PointLayout, ImageLayout, None],
        "n_dims": [Interval(Integral, 1, None, closed="left"), None],
        # objective ... n_jobs: declared once with the learning options
        **LEARNING_OPTIONS.constraints(),
        # finite (the output is for estimators that refuse NaN) and not a bool
        "fill_value": [NumberInterval(Real, None, None, closed="neither"), None],
        "key_order": [StrOptions({"scalars_first", "columns"})],
    }

    def __init__(self, group="SE3", method="auto", *, layout=None, n_dims=None, objective="auto",
                 prior_weight=1.0, hidden=64, neighbourhood="auto", max_epochs="auto", lr=1e-3,
                 early_stopping=True,
                 validation_fraction=0.1, validation_score="loss", device="auto", verbose=0,
                 batch_size=4096,
                 random_state=None, n_jobs=None, fill_value=None,
                 key_order="scalars_first"):
        self.group = group
        self.method = method
        self.layout = layout
        self.n_dims = n_dims
        self.objective = objective
        self.prior_weight = prior_weight
        self.hidden = hidden
        self.neighbourhood = neighbourhood
        self.max_epochs = max_epochs
        self.lr = lr
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.validation_score = validation_score
        self.device = device
        self.verbose = verbose
        self.batch_size = batch_size
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.fill_value = fill_value
        self.key_order = key_order

    def __setstate__(self, state):
        state.setdefault("n_jobs", None)  # estimators pickled before n_jobs existed
        state.setdefault("validation_score", "loss")  # the rule of estimators pickled before it existed
        state.setdefault("neighbourhood", False)       # estimators pickled before it existed
        state.setdefault("fill_value", None)
        state.setdefault("key_order", "columns")  # the order of estimators pickled before it existed
        super().__setstate__(state)

    # -- scikit-learn protocol ------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            points = isinstance(self._resolve()[1], PointLayout)
        except (ValueError, TypeError):
            points = True
        tags.input_tags.allow_nan = points  # all-NaN rows mark absent points
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _resolve(self, X=None):
        group = get_group(self.group)
        layout = layout_from_names(group, self.layout, self.n_dims, X)
        if layout is None:
            layout = resolve_layout(group, self.layout, self.n_dims, method=self.method, ambiguous="raise")
        if isinstance(layout, FibreLayout):
            raise ValueError("CanonicalizerTransformer does not take FibreLayout; use InvariantProjector.")
        return group, layout

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Resolve group, layout and method, and train the frame function if it learns.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_points, width)
            Training samples in the layout's format.
        y : array-like of shape (n_samples,), default=None
            Targets, used by supervised learned objectives only.

        Returns
        -------
        self : CanonicalizerTransformer
        """
        # a fit that fails (bad input, a diverged or interrupted training) leaves the previous
        # fit, or the unfitted state, whole: the data attributes are set before training
        return fit_whole(self, self._fit, X, y)

    def _fit(self, X, y):
        device = check_device(self.device)
        group, layout = self._resolve(X)
        X, layout = encode_if_graphs(X, layout)
        if isinstance(layout, GraphLayout):
            layout._require_resolved()
        make_canonicalizer(group, self.method, layout)  # bad group/method/layout: fail before reading X
        check_translations_act(group, layout)
        P, _ = validate_samples(self, X, layout, reset=True)
        if isinstance(layout, ImageLayout):
            self.image_shape_ = P.shape[1:]
            layout = ImageLayout(self.image_shape_)  # later calls and networks need the shape
        else:
            self.n_points_ = P.shape[1]
        options = self._method_options()
        if "device" in options:
            options["device"] = device
        canonicalizer = make_canonicalizer(group, self.method, layout, **options)
        if isinstance(layout, ImageLayout):
            warn_inexact_image_action(group, self.image_shape_)
        canonicalizer.fit(P, layout, y)
        self.group_, self.layout_, self.canonicalizer_ = group, layout, canonicalizer
        self.method_ = getattr(canonicalizer, "method", self.method)
        return self

    def __sklearn_is_fitted__(self):
        # fitted once the canonicalizer is in place (not merely because fit set n_points_
        # before a training that was interrupted)
        return hasattr(self, "canonicalizer_")

    def _training_record(self, name):
        """``name`` of the fitted network canonicalizer (its own, or that of the one network
        step of a chain such as ``pca+learned``); AttributeError for heuristics."""
        check_is_fitted(self)
        canonicalizer = self.canonicalizer_
        networks = [s for s in getattr(canonicalizer, "steps", [canonicalizer]) if hasattr(s, name)]
        if len(networks) != 1:
            raise AttributeError(f"{type(self).__name__} with method={self.method_!r} has no {name!r}: "
                                 + ("no step trains a network" if not networks else
                                    "several steps train networks; read it from canonicalizer_.steps"))
        return getattr(networks[0], name)

    @property
    def n_epochs_trained_(self):
        """Network methods: epochs the network trained (early stopping may end it sooner)."""
        return self._training_record("n_epochs_trained_")

    @property
    def best_epoch_(self):
        """Network methods: the epoch whose weights were kept (see the canonicalizer's)."""
        return self._training_record("best_epoch_")

    @property
    def history_(self):
        """Network methods: per-epoch ``train_loss`` / ``valid_loss``."""
        return self._training_record("history_")

    def _method_options(self):
        """Parameters handed to canonicalizers (each declares in ``options`` which it takes)."""
        return {**LEARNING_OPTIONS.values(self), "key_order": self.key_order}

    def _working(self, X, name="X", reporter=None, categories=None, check_names=True):
        check_is_fitted(self)
        graphs = is_graph_list(X)
        X, _ = encode_if_graphs(X, self.layout_)
        P, ndim = validate_samples(self, X, self.layout_, reset=False, name=name, reporter=reporter,
                                   categories=categories, check_names=check_names)
        return P, (2 if graphs else ndim)  # graphs come back as flat rows, like every 2-D input

    def _canonicalize(self, X, keep_frames, reporter=None, working=None):
        """Canonical forms (and frames); ``reporter``: the meta-estimator whose ``predict``
        called this, named in messages about ``X`` (see :func:`validate_samples`);
        ``working``: ``X``'s ``_working`` result where the caller has it already."""
        threads = n_threads_from(self.n_jobs)  # checks n_jobs before any work
        P, ndim = self._working(X, reporter=reporter) if working is None else working
        in_threads = self.canonicalizer_.batches_in_threads
        # heuristics: up to n_jobs batch threads, one torch/BLAS/OpenMP thread each; networks
        # limit their own threads (torch, BLAS, OpenMP) to n_jobs. Whether the compiled
        # kernels run is chosen once for every batch of the call (_numba.decided).
        with _numba.decided(P.shape[0]), (limited_threads(None) if in_threads else serving_n_jobs(self.n_jobs)):
            out, frames = self._canonicalize_batches(P, keep_frames, threads if in_threads else 1)
        _check_in_range(out, P)
        if self.fill_value is not None and isinstance(self.layout_, PointLayout):
            out[np.isnan(out).all(axis=2)] = self.fill_value  # absent points (graph nodes)
        return self.layout_.from_working(out, ndim), frames

    #: values of one cloud that heuristic batches count as one sample (64 points in 3-D):
    #: their working arrays grow with the values, so a batch holds batch_size × this at most
    BATCH_SAMPLE_VALUES = 64 * 3

    def _batch_rows(self, P):
        """Samples per batch: ``batch_size``, fewer for heuristics on clouds of many points
        and for images of more values than one 28×28 channel (``BATCH_IMAGE_VALUES``)."""
        if isinstance(self.layout_, ImageLayout):
            return rows_per_batch(self.batch_size, P, BATCH_IMAGE_VALUES)
        if self.canonicalizer_.batches_in_threads and isinstance(self.layout_, PointLayout):
            return rows_per_batch(self.batch_size, P, self.BATCH_SAMPLE_VALUES)
        return self.batch_size

    def _canonicalize_batches(self, P, keep_frames, threads):
        """``(canonical forms, frames or None)`` of the working array, batch by batch."""
        rows_per_batch = self._batch_rows(P)
        batches = list(iter_batches(P.shape[0], rows_per_batch))
        canonicalizer = self.canonicalizer_
        # where the canonicalizer knows its output dtype beforehand, every batch writes its
        # canonical forms straight into its rows of the output (no copy of each result)
        dtype = canonicalizer.output_dtype(P.dtype, self.layout_)
        # rows a canonicalizer leaves for later (Canonicalizer.defers): gathered across
        # batches as (batch start, row indices) and redone in chunks of up to a batch's rows
        # (one call per chunk instead of one per batch; memory bounded by the batch size;
        # chunks in n_jobs threads)
        deferred = [] if canonicalizer.defers and len(batches) > 1 else None

        def call(sl, method, *args):
            if deferred is None:
                with batch_starting_at(sl.start):     # messages name samples of X
                    return method(P[sl], self.layout_, *args)
            rows = []
            with batch_starting_at(sl.start):
                result = method(P[sl], self.layout_, *args, deferred=rows)
            deferred.append((sl.start, sl.start + np.asarray(rows, dtype=np.intp)))  # thread-safe
            return result

        if dtype is not None:
            out, first, rest = np.empty(P.shape, dtype=dtype), [], batches
        else:
            # the first batch fixes the output dtype; each batch then writes its own rows
            canon, h = call(batches[0], canonicalizer.canonicalize)
            out, first, rest = np.empty(P.shape, dtype=canon.dtype), [h], batches[1:]
            out[batches[0]] = canon
            del canon
        # exact zeros where a form has no extent, batch by batch while its rows are in cache
        zero = self._zero_noise_of(out) if self._forms_carry_rounding_noise() else (lambda rows, h: None)
        if rest is not batches:
            zero(batches[0], first[0])

        def one_batch(sl):
            if dtype is not None:
                h = call(sl, canonicalizer.canonicalize_into, out[sl])
            else:
                canon, h = call(sl, canonicalizer.canonicalize)
                out[sl] = canon
            zero(sl, h)
            return h if keep_frames else None  # transform drops frames: memory stays bounded

        frames = run_batches(one_batch, rest, threads)
        frames = stack_frames(first + frames) if keep_frames else None
        if deferred:
            deferred.sort(key=lambda item: item[0])   # batch order: chunks never depend on threads
            rows = np.concatenate([r for _, r in deferred])
            del deferred[:]
            chunks = [rows[sl] for sl in iter_batches(rows.size, rows_per_batch)] if rows.size else []

            def one_chunk(chunk):
                canon, h = canonicalizer.canonicalize(P[chunk], self.layout_)
                out[chunk] = canon
                zero(chunk, h)
                if keep_frames:   # product groups' frames are tuples, one array per factor
                    wholes, parts = (frames, h) if isinstance(h, tuple) else ((frames,), (h,))
                    for whole, part in zip(wholes, parts):
                        whole[chunk] = part

            run_batches(one_chunk, chunks, threads)
        return out, frames

    def _forms_carry_rounding_noise(self):
        """Whether canonical forms can hold rounding noise where exact arithmetic gives 0: a
        group that rotates, translates or rescales point coordinates."""
        group = self.group_
        return (isinstance(self.layout_, PointLayout) and bool(geometric_slices(self.layout_))
                and getattr(self, "method_", self.method) != "identity"   # the baseline returns its input
                and (group.rotates or group.translates or group.rescales))

    def _zero_noise_of(self, out):
        """The batch job ``zero(rows, frames)`` that writes exact zeros into ``out`` where a
        canonical form has no extent along an axis
        (:func:`~skcanon._noise.zero_noise_axes_in_place`): computed, those coordinates are
        rounding noise of either sign that differs between poses, and trees split on it
        (3-point shapes in 3-D: 55–61 % of a gradient-boosting model's labels changed with
        the pose). ``frames``: the batch's frames, whose translation (in the forms' units)
        bounds the centring's rounding."""
        layout, dtype, group = self.layout_, out.dtype, self.group_
        factors = group.factors

        def removed_translation(h):
            # the translation in the forms' units: divided by the scale where the group rescales
            if not group.translates:
                return None
            parts = h if isinstance(h, tuple) else (h,)
            for factor, part in zip(factors, parts):
                if factor.translates:
                    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                        t = np.abs(np.asarray(factor.translations(part), dtype=np.float64))
                        t = np.fmax.reduce(t, axis=1)
                        if factor.rescales:
                            # the scale s of s·R is at least its largest entry (no determinant:
                            # s**d underflows for tiny samples), so t / that bounds t / s
                            A = np.abs(np.asarray(factor.matrices(part), dtype=np.float64))
                            t = t / A.reshape(len(t), -1).max(axis=1)
                        t = np.where(np.isfinite(t), t, 0.0)
                    return t
            return None

        def zero(rows, h):
            # a slice of rows is a view of out; an index array (deferred rows) a copy, written back
            forms, offset = out[rows], removed_translation(h)
            with np.errstate(over="ignore"):   # inf: the screen keeps the row for the exact test
                squared = None if offset is None else offset * offset
            found = noise_candidates(forms, layout, dtype, squared)
            zero_noise_axes_in_place(forms, layout, dtype, offset, among=found)
            if not isinstance(rows, slice) and found.size:
                out[rows] = forms
        return zero

    def canonicalize(self, X):
        """Canonical forms and the frames that produced them, in one pass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_points, width)

        Returns
        -------
        X_canonical : ndarray, same shape as ``X``
            The values :meth:`transform` returns, always as an array (``set_output`` wraps
            ``transform``'s output only): absent points hold ``fill_value`` where it is
            set. For the round trip ``inverse_transform(*canonicalize(X))`` keep them NaN:
            ``set_params(fill_value=None)`` first (no refit needed).
        frames : ndarray or tuple of ndarrays
            ``h(x)`` per sample; see :meth:`canonical_frame`.
        """
        return self._canonicalize(X, keep_frames=True)

    def transform(self, X):
        """Return the canonical form ``h(x)⁻¹·x`` of every sample, in the input's layout.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_points, width)

        Returns
        -------
        X_canonical : ndarray of the same shape (float32 input stays float32)
            Lists of networkx graphs give flat rows ``(n_samples, n_nodes * width)`` matching
            :meth:`get_feature_names_out`; absent points are NaN rows unless ``fill_value``
            is set; categorical fields hold their integer codes. Coordinates along an axis
            where a form has no extent (a planar cloud's normal, three points in 3-D) are
            exactly 0, not rounding noise of either sign, so trees and k-NN downstream see
            the same value in every pose.
        """
        out = self._canonicalize(X, keep_frames=False)[0]
        if out.ndim != 2:
            container = _get_output_config("transform", self)["dense"]
            if container != "default":   # before pandas or polars fail on a 3-D array
                raise ValueError(
                    f"set_output(transform={container!r}) needs 2-D output, but X has {out.ndim} dimensions "
                    f"and its canonical forms keep them ({out.shape[1:]} per sample). Pass X flat, "
                    "(n_samples, n_features), with the layout saying how to read it (layout='image' or "
                    "ImageLayout((H, W)) for images; points are read point-major by default).")
        return out

    def canonical_frame(self, X):
        """The group element ``h(x)`` chosen for every sample.

        Formats: rotation matrices ``(n, d, d)`` for O(d)/SO(d), homogeneous matrices
        ``(n, d+1, d+1)`` for E(d)/SE(d), translations ``(n, d)`` for T(d), factors
        ``(n,)`` for scaling, index arrays ``(n, n_points)`` for S_n (``x[h]`` is the
        sorted cloud; for a graph the adjacency columns move too: ``A[h][:, h]`` with its
        features ``F[h]``), integers ``(n,)`` for C_n/D_n, and tuples for product groups.
        """
        return self.canonicalize(X)[1]

    def inverse_transform(self, X, frames=None):
        """Map canonical-pose data back: ``x = h(x)·x_canonical``.

        Parameters
        ----------
        X : array-like, same layout as the output of :meth:`transform`
            Canonical-pose data, e.g. the output of ``transform`` or predictions made in
            the canonical frame. Absent points as NaN rows: rows that ``fill_value`` filled
            are moved as real points (a warning says so where whole point rows equal it).
            Categorical fields hold the integer codes ``transform`` writes (0 to k-1 in the
            order of ``categories_``), not the categories: a category is refused by a
            ValueError that names its code.
        frames : ndarray or tuple
            The frames of the original samples, from :meth:`canonical_frame` or
            :meth:`canonicalize`: for product groups (``SE3xS_n``) a tuple of one batch of
            elements per factor (a list of as many batches is read as that tuple). Required: a
            canonical form does not say which pose it came from, so
            ``Pipeline.inverse_transform`` and ``TransformedTargetRegressor``, which pass ``X``
            alone, get a ValueError (for targets that move with the input use
            :class:`~skcanon.EquivariantRegressor`).

        Returns
        -------
        X_original : ndarray in the layout of ``X``
            Categorical fields, which ``transform`` writes as codes, hold their categories
            again (an object array for text categories).
        """
        check_is_fitted(self)
        if frames is None:
            raise ValueError(
                "inverse_transform needs frames=, the frames h(x) of the original samples (from canonicalize "
                "or canonical_frame): a canonical form does not say which pose it came from. Pipeline."
                "inverse_transform and TransformedTargetRegressor pass X alone and cannot undo a "
                "canonicalization; for targets that move with the input, use EquivariantRegressor.")
        categories = getattr(self, "categories_", None)
        # transform wrote categorical fields as codes 0..k-1: read them as such
        codes = None if not categories else {f: CategoryCodes(known) for f, known in categories.items()}
        P, ndim = self._working(X, categories=codes, check_names=False)
        frames = check_frames_length(frames, P.shape[0], group=self.group_)
        self._check_finite_elements(frames)
        # permutations, matrices and products too (bad ones were applied silently: a
        # 3-index permutation dropped points, SO3 frames times 2 scaled the output)
        frames = self.group_.check_elements(frames, P, "frames")
        if self.fill_value is not None and isinstance(self.layout_, PointLayout) and P.size \
                and (P == self.fill_value).all(axis=2).any():
            warnings.warn(
                f"X has point rows that equal fill_value={self.fill_value!r} in every column: if they are "
                "absent points that transform or canonicalize filled, they are moved as real points here. "
                "For the round trip, canonicalize with set_params(fill_value=None), which keeps them NaN.",
                UserWarning, stacklevel=user_stacklevel())
        # batch by batch, as transform: moving all samples at once held several copies of
        # the data (400,000 clouds of 64 points: 1.5 GiB beyond the input)
        out = None
        for rows in iter_batches(P.shape[0], self._batch_rows(P)):
            moved = self.group_.act(frames_of(frames, rows), P[rows], self.layout_)
            if out is None:
                out = np.empty((P.shape[0],) + moved.shape[1:], dtype=moved.dtype)
            out[rows] = moved
        if categories:
            out = self.layout_.decode_categories(out, categories)
        return self.layout_.from_working(out, ndim)

    def _check_finite_elements(self, frames):
        """Elements of a finite rotation group are indices ``0..order-1``: a float or
        out-of-range index would be read as another (interpolated) move."""
        parts = frames if isinstance(frames, tuple) else (frames,)
        for factor, part in zip(self.group_.factors, parts):
            if not factor.is_finite or factor.permutes:
                continue
            part = np.asarray(part)
            if (part.ndim != 1 or part.dtype.kind not in "iu"
                    or (part.size and (part.min() < 0 or part.max() >= factor.order))):
                raise ValueError(
                    f"frames of group {factor.name!r} must be integer element indices in "
                    f"[0, {factor.order}), one per sample; got an array of shape {part.shape} and "
                    f"dtype {part.dtype}. Pass what canonical_frame(X) returned.")

    def get_feature_names_out(self, input_features=None):
        """Names of the canonical columns: ``p{i}_{component}`` for points, ``px_{row}_{col}``
        for one-channel images (``c{k}_px_{row}_{col}`` for several channels),
        ``n{i}_adj_{j}`` and ``n{i}_{feature}`` for graphs, and a DataFrame's own column
        names where fit read its points by name.

        Column ``i`` describes the ``i``-th point (pixel) of the *canonical* sample, which
        need not be the ``i``-th input point when the group permutes points.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Checked as scikit-learn checks it: the column names seen in ``fit``, or as
            many names as ``fit`` saw columns (ValueError otherwise). The output names do
            not depend on them.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        self._check_input_features(input_features)
        if isinstance(self.layout_, ImageLayout):
            return self.layout_.feature_names(self.image_shape_)
        return self.layout_.feature_names(self.n_points_)
