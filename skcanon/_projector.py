"""InvariantProjector, the estimator: equivariant features in, invariant features out
(the maps themselves live in :mod:`skcanon.projections`)."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ._batching import (BATCH_IMAGE_VALUES, iter_batches, layout_from_names, resolve_layout, rows_per_batch,
                        run_batches)
from ._canonicalizer import CanonicalizerTransformer
from ._estimator import SkcanonEstimatorMixin, fit_whole
from ._kernels import _numba
from ._threads import limited_threads, n_threads_from, thread_budget
from ._validation import (NJobs, NumberInterval, batch_starting_at, check_translations_act, validate_samples,
                          warn_inexact_image_action)
from .groups import Group, get_group
from .layouts import FibreLayout, GraphLayout, ImageLayout, PointLayout, encode_if_graphs
from .projections import PROJECTIONS, auto_method, make_projection, methods_for
from .projections._base import overflow_error, unique_names


class InvariantProjector(SkcanonEstimatorMixin, TransformerMixin, BaseEstimator):
    """Project equivariant features onto invariant ones, losslessly where possible.

    Equivariant features (point sets, per-node latents, vectors, C_n regular-representation
    fibres, images) carry an ambiguity: every transformed copy ``g·x`` codes the same
    object. ``transform`` applies a map ``f`` with ``f(g·x) = f(x)``, so any downstream
    model sees one code per orbit (Hansen, Calissano & Feragen, ICML 2024). Prefer lossless
    maps (``lossless_`` is True: different orbits get different features).

    ============  ============================================  =====================  ==========
    family        method                                        group                  lossless
    ============  ============================================  =====================  ==========
    pooling       ``"sum"``, ``"mean"``, ``"max"``              S_n                    no
    sorting       ``"sort"``                                    S_n                    1 channel
    sorting       ``"random_sort"``                             S_n                    generic A
    sorting       ``"lexsort"``                                 S_n                    yes
    moments       ``"power_sums"`` (``"moments"``)              S_n                    degree ≥ m
    moments       ``"random_moments"``                          S_n                    D ≥ 2mw+1
    geometry      ``"norms"``                                   subgroups of E(d)      no
    geometry      ``"gram"``                                    subgroups of E(d)      O(d), E(d)
    geometry      ``"distances"``                               subgroups of E(d)      E(d)
    geometry      ``"gram_minors"``                             SO(d), SE(d), C_n, O,  SO(d), SE(d)
                                                                I, tetrahedral (no
                                                                reflections)
    geometry      ``"sorted_distances"``                        E(d)×S_n, O(d)×S_n,    generic for
                                                                (subgroup × S_n)       E(d)×S_n
    spectral      ``"group_pool"``                              C_n fibres             no
    spectral      ``"power_spectrum"``                          C_n fibres             no
    spectral      ``"bispectrum"``                              C_n fibres             generic
    random        ``"reynolds"``                                finite groups (not     no
                                                                rotations of points),
                                                                small S_n
    random        ``"max_filter"``                              finite groups (C_n,    K ≥ 2·dim
                                                                D_n, O, I), small S_n
    graph         ``"spectrum"``                                S_n on graphs          no
    section       ``"canonical"``                               any (points, images,   yes
                                                                graphs)
    ============  ============================================  =====================  ==========

    Subgroups of E(d): O(d), SO(d), E(d), SE(d), T(d), and the finite rotation groups C_n,
    D_n (2-D points), O, I and tetrahedral (3-D points) — every group that rotates and/or translates
    points without rescaling. Which methods apply is decided by the group's capabilities, so a newly registered group
    gets them without edits (:func:`skcanon.projections.methods_for`).

    Formulas and costs are in :doc:`the user guide </projections>` and in the classes of
    :mod:`skcanon.projections`. Absent points (all-NaN rows) are ignored by the geometry
    maps, ``"canonical"`` and the graph maps: every feature that involves one is 0. The
    output is always finite; where finite features cannot exist (Gram entries of
    coordinates beyond the dtype's range) ``transform`` raises a ``ValueError``.

    Parameters
    ----------
    group : str or Group, default="S_n"
        The symmetry the output must be invariant to (``"S_n"``, ``"O3"``, ``"SE2"``,
        ``"E3xS_n"``, ``"C8"``, ``"D4"``, ...).
    method : str, default="auto"
        The invariant map; see the table. Grid-searchable. ``"auto"`` picks per group and
        layout (resolved name in ``method_``): ``"sort"`` for S_n on points,
        ``"gram"`` for O(d), ``"distances"`` for E(d), ``"gram_minors"`` for SO(d)/SE(d)
        (``"canonical"`` above 20,000 minors), ``"sorted_distances"`` for E(d)×S_n (these
        four: ``"canonical"`` above 20,000 pairs of a sample's vectors, about 200 points),
        ``"bispectrum"`` for C_n fibres, ``"max_filter"`` for finite groups (C_n/D_n on
        images and 2-D points, O, I and tetrahedral on 3-D points), ``"canonical"`` for graphs and
        everything else (see
        :func:`skcanon.projections.auto_method`).
    layout : {"points", "image", "fibre", "graph"}, PointLayout, ImageLayout, FibreLayout, \
GraphLayout or None, default=None
        How columns map to points, pixels, fibres or graph nodes. ``None``: images for
        C_n/D_n, points otherwise. ``"fibre"`` means ``FibreLayout(n)`` for ``C_n``: input
        ``(n_samples, channels * n)`` channel-major. ``"graph"``: a list of networkx graphs
        (or encoded arrays), S_n relabelling nodes.
    n_dims : int or None, default=None
        Columns per point: the spatial dimension for geometric groups, and for pure S_n the
        number of scalar channels per point (``None`` → 3, as for
        :class:`~skcanon.CanonicalizerTransformer`).
    degree : int or None, default=None
        Highest degree of ``"power_sums"`` (``None``: the number of points, capped so that
        there are at most 1000 power sums). A degree giving more than 20,000 power sums
        (``C(w+degree, w) − 1`` for ``w`` channels) is refused.
    n_components : int or None, default=None
        Width of the random maps (``"random_sort"``, ``"random_moments"``, ``"reynolds"``,
        ``"max_filter"``); ``None`` gives the lossless width where one is known.
    canonicalizer : CanonicalizerTransformer or None, default=None
        Cross-section used by ``"canonical"``; ``None`` uses the default heuristic for the
        group. Cloned and fitted (with ``y``) in ``fit``.
    mark_absent : {"auto", "always"}, default="auto"
        For ``"canonical"`` on point clouds: when to add one 0/1 column per point
        (``present_i``) that tells an absent point (all-NaN row, written as zeros) from a real
        point at 0. ``"auto"``: when ``fit`` sees absent points, so data without any keep
        their width, and ``transform`` refuses absent points after a fit without them;
        ``"always"``: in every fit, so every fold of a cross-validation gets the same
        features whether or not its training part holds absent points. Graphs always get
        them; other methods ignore this parameter.
    batch_size : int or None, default=4096
        Samples transformed at once; bounds working memory. ``None``: all at once. An
        image of more than 784 values (one 28×28 channel) counts as several.
    random_state : int, RandomState instance or None, default=None
        Seed of the random maps.
    n_jobs : int or None, default=None
        Threads that transform the batches in parallel (the kernels release the GIL).
        ``None`` means 1, ``-1`` all cores. Inside, torch, BLAS and OpenMP keep one thread
        per batch thread, so ``n_jobs`` bounds the cores used and joblib workers do not
        oversubscribe. It also bounds a ``canonicalizer``'s threads, in ``fit`` (training) and
        ``transform``, whatever that canonicalizer's own ``n_jobs``: ``n_jobs=None`` runs it
        on one thread. Outputs are identical for every value, but for a network
        ``canonicalizer`` trained in ``fit``: it trains on ``n_jobs`` torch threads, and
        torch's sums round by their thread count (last bits: 2e-8 after 3 epochs). Peak
        memory grows by one batch's working arrays per thread.

    Attributes
    ----------
    group_ : Group
        Resolved group.
    layout_ : PointLayout, ImageLayout or FibreLayout
        Resolved layout.
    method_ : str
        The method used (``method``, or what ``"auto"`` picked).
    projection_ : Projection
        The fitted map (see :mod:`skcanon.projections`).
    lossless_ : bool
        Whether the map separates the orbits of ``group_`` for inputs of the fitted size
        (for "generic" rules: all inputs outside a measure-zero set).
    n_features_in_ : int
        Number of input features (3-D input counted flat).
    feature_names_in_ : ndarray of str
        Input column names when ``X`` was a DataFrame.
    n_features_out_ : int
        Number of invariant features.

    See Also
    --------
    skcanon.CanonicalizerTransformer : Canonicalization (used by ``method="canonical"``).
    skcanon.metrics.orbit_distortion : How well feature distances follow the quotient distance.
    skcanon.metrics.orbit_separation : How often non-equivalent samples get distinct features.

    Examples
    --------
    >>> import numpy as np
    >>> from skcanon._projector import InvariantProjector
    >>> X = np.array([[3.0, 1.0, 2.0], [2.0, 3.0, 1.0]])   # two orderings of one set
    >>> proj = InvariantProjector(group="S_n", n_dims=1).fit(X)   # method="auto": "sort"
    >>> proj.transform(X)
    array([[1., 2., 3.],
           [1., 2., 3.]])
    >>> proj.method_, proj.lossless_, list(proj.get_feature_names_out())
    ('sort', True, ['sorted_c0_0', 'sorted_c0_1', 'sorted_c0_2'])
    """

    _parameter_constraints = {
        "group": [str, Group],
        "method": [str],
        "layout": [StrOptions({"points", "image", "fibre", "graph"}), PointLayout, ImageLayout, FibreLayout, None],
        "n_dims": [NumberInterval(Integral, 1, None, closed="left"), None],
        "degree": [NumberInterval(Integral, 1, None, closed="left"), None],
        "n_components": [NumberInterval(Integral, 1, None, closed="left"), None],
        "canonicalizer": [CanonicalizerTransformer, None],
        "mark_absent": [StrOptions({"auto", "always"})],
        "batch_size": [NumberInterval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "n_jobs": [NJobs(), None],
    }

    def __init__(self, group="S_n", method="auto", *, layout=None, n_dims=None, degree=None,
                 n_components=None, canonicalizer=None, mark_absent="auto", batch_size=4096,
                 random_state=None, n_jobs=None):
        self.group = group
        self.method = method
        self.layout = layout
        self.n_dims = n_dims
        self.degree = degree
        self.n_components = n_components
        self.canonicalizer = canonicalizer
        self.mark_absent = mark_absent
        self.batch_size = batch_size
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __setstate__(self, state):
        state.setdefault("n_jobs", None)  # projectors pickled before n_jobs existed
        state.setdefault("mark_absent", "auto")   # ... and before mark_absent
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:   # all-NaN rows are absent points for the maps that take them (graphs: absent nodes)
            group, layout = self._resolve()
            method = auto_method(group, layout) if self.method == "auto" else self.method
            tags.input_tags.allow_nan = (getattr(layout, "kind", None) in ("points", "graph")
                                         and self._absent_ok(PROJECTIONS[method], layout))
        except (ValueError, TypeError, KeyError):
            pass   # parameters fit will refuse
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = False
        return tags

    def _resolve(self, X=None):
        group = get_group(self.group)
        # a DataFrame whose columns name points is read by those names, as everywhere
        named = layout_from_names(group, self.layout, self.n_dims, X)
        layout = self.layout if named is None else named
        if named is not None and (self.layout is None or isinstance(self.layout, str)):
            # names read as vectors only ('p0_r_x': a position field named r is read as a
            # vector r) under a group that translates: invariants of vectors would not be
            # translation-invariant for positions, so the names must be said (as the
            # canonicalizer requires)
            check_translations_act(group, named)
        # regular-representation fibres: C_n is the one group (a single factor) that acts on them
        on_fibres = len(group.factors) == 1 and "fibre" in group.layout_kinds
        if layout == "fibre":
            if not on_fibres:
                raise ValueError(f"layout='fibre' needs a cyclic group C_n; got group {group.name!r}.")
            layout = FibreLayout(group.order)
        if isinstance(layout, FibreLayout):
            if not on_fibres:
                raise ValueError(f"layout={layout!r} needs a cyclic group C_n; got group {group.name!r}.")
            if layout.fibre_size != group.order:
                raise ValueError(
                    f"layout.fibre_size={layout.fibre_size} does not match group {group.name!r}; "
                    f"use FibreLayout({group.order})."
                )
        else:
            layout = resolve_layout(group, layout, self.n_dims)
            try:
                group.check_layout(layout)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"layout={layout!r} does not fit group {group.name!r}: {exc}") from None
        return group, layout

    @staticmethod
    def _absent_ok(projection, layout):
        """NaN rows are absent graph nodes, or absent points for projections that allow them."""
        return isinstance(layout, GraphLayout) or bool(projection.absent_points_ok)

    def _validated(self, X, layout, projection, reset, absent_ok=None):
        """The working array of ``X``; NaN where ``projection`` refuses absent points is named
        as such (scikit-learn's own message suggests imputers and other estimators).
        ``absent_ok=True`` takes absent points whatever the projection."""
        absent_ok = self._absent_ok(projection, layout) if absent_ok is None else absent_ok
        try:
            return validate_samples(self, X, layout, reset=reset, allow_absent_points=absent_ok)[0]
        except ValueError as exc:
            if absent_ok or getattr(layout, "kind", None) != "points" or "contains NaN" not in str(exc):
                raise
            takes = [m for m in methods_for(projection.group, layout) if PROJECTIONS[m].absent_points_ok]
            chosen = (f"'auto' (here {projection.name!r})" if self.method == "auto"
                      else repr(self.method) + ("" if self.method == projection.name
                                                else f" (here {projection.name!r})"))
            raise ValueError(
                f"X contains NaN. Absent points (all-NaN point rows) are read only by methods that "
                f"ignore them, and method={chosen} does not"
                + (f"; for this group and layout: {takes}" if takes else "")
                + ". Other NaN values are refused by every method.") from None

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Resolve group, layout and method; draw the random maps.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or the layout's 3-D/4-D shape
            Equivariant features.
        y : array-like of shape (n_samples,), default=None
            Passed to a learned ``canonicalizer`` only.

        Returns
        -------
        self : InvariantProjector
        """
        # a refit the projection refuses must not leave n_features_in_ (set while validating)
        # describing the refused data beside the earlier projection_
        return fit_whole(self, self._fit, X, y)

    def _fit(self, X, y):
        group, layout = self._resolve(X)
        X, layout = encode_if_graphs(X, layout)
        if isinstance(layout, GraphLayout):
            layout._require_resolved()
        projection = make_projection(self.method, group, layout, degree=self.degree,
                                     n_components=self.n_components,
                                     canonicalizer=self.canonicalizer, mark_absent=self.mark_absent)
        auto = self.method == "auto"
        # 'auto' reads absent points until the number of points has chosen the projection
        P = self._validated(X, layout, projection, reset=True, absent_ok=True if auto else None)
        if auto:
            name = auto_method(group, layout, n_points=P.shape[1], sample_shape=P.shape[1:],
                               n_components=self.n_components)
            if name != projection.name:
                projection = make_projection(name, group, layout, degree=self.degree,
                                             n_components=self.n_components,
                                             canonicalizer=self.canonicalizer, mark_absent=self.mark_absent)
            if not self._absent_ok(projection, layout) and np.isnan(P).any():
                self._validated(X, layout, projection, reset=True)   # refuses them by name
        # n_jobs bounds the canonicalizer's training too, whatever its own n_jobs
        with thread_budget(n_threads_from(self.n_jobs)):
            projection.fit(P, y, check_random_state(self.random_state))
        if isinstance(layout, ImageLayout) and layout.shape is None:
            # transform checks the image shape against the fitted one (an image of another
            # shape with as many pixels would be read scrambled) and reads flat X with it,
            # as CanonicalizerTransformer does
            layout = ImageLayout(P.shape[1:])
        if isinstance(layout, ImageLayout) and projection.name != "canonical":
            # (the canonical cross-section's canonicalizer has warned about its forms)
            warn_inexact_image_action(group, P.shape[1:], result="features")
        self.group_, self.layout_, self.projection_ = group, layout, projection
        self.method_ = projection.name
        self.lossless_ = bool(projection.lossless)
        # distinct names (pandas output and ColumnTransformer need them): the built-in maps
        # choose them; a registered map whose names repeat gets ``__2``, ... on the repeats
        self._names = np.asarray(unique_names(projection.feature_names()), dtype=object)
        self.n_features_out_ = len(self._names)
        return self

    def transform(self, X):
        """Invariant features of every sample.

        Parameters
        ----------
        X : array-like in the fitted layout

        Returns
        -------
        X_invariant : ndarray of shape (n_samples, n_features_out_)
            float32 input stays float32.
        """
        check_is_fitted(self)
        threads = n_threads_from(self.n_jobs)  # checks n_jobs before any work
        X, _ = encode_if_graphs(X, self.layout_)
        P = self._validated(X, self.layout_, self.projection_, reset=False)
        projection = self.projection_
        projection.check_transform_input(P)
        # images of more values than one 28×28 channel count as several, as in the
        # canonicalizer (a 128×128 image takes megabytes to orient and rotate)
        image = isinstance(self.layout_, ImageLayout)
        rows = rows_per_batch(self.batch_size, P, BATCH_IMAGE_VALUES) if image else self.batch_size
        batches = list(iter_batches(P.shape[0], rows))
        # projections that take out= (Gram, distances: outputs wider than the input) write
        # each batch into the result instead of a fresh array copied over; otherwise the
        # first batch fixes the output's dtype
        into = getattr(projection, "supports_out", False)

        def one_batch(sl):
            # overflows become one ValueError below, not warnings (set per thread: numpy's
            # error state does not follow into the batch threads)
            with np.errstate(over="ignore", invalid="ignore"), batch_starting_at(sl.start):
                if into:
                    projection.transform(P[sl], out=out[sl])
                else:
                    out[sl] = projection.transform(P[sl])

        # one kernel choice for the whole call, the first batch included (run_batches
        # keeps it): the kernels never depend on batch_size (the BLAS products of reynolds
        # and max_filter still round by the batch's row count, docs/scaling.rst)
        # n_jobs bounds every thread of the call: a canonicalizer inside runs its batches,
        # torch, BLAS and OpenMP within it whatever its own n_jobs (one thread per batch thread)
        with thread_budget(threads), limited_threads(None), _numba.decided(P.shape[0]):
            if into:
                out, rest = np.empty((P.shape[0], self.n_features_out_), dtype=P.dtype), batches
            else:
                with np.errstate(over="ignore", invalid="ignore"), batch_starting_at(batches[0].start):
                    first = projection.transform(P[batches[0]])
                out, rest = np.empty((P.shape[0], first.shape[1]), dtype=first.dtype), batches[1:]
                out[batches[0]] = first
                del first
            run_batches(one_batch, rest, threads)
        if not np.isfinite(out).all():
            # the maps refuse the overflows they can foresee; this catches the others (sums
            # and products of values near the dtype's limit), so no NaN or inf is returned
            raise overflow_error(self.method_, out.dtype, np.nanmax(np.abs(P)) if P.size else 0.0, 1,
                                 what="features")
        return out

    def get_feature_names_out(self, input_features=None):
        """Names of the invariant features, e.g. ``sorted_c0_3``, ``dist_0_1``,
        ``power_spectrum_c2_k1``.

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
        return self._names.copy()

    @staticmethod
    def available_methods(group, layout=None, n_dims=None):
        """Methods invariant for ``group`` on ``layout`` (resolved as in ``fit``)."""
        proj = InvariantProjector(group=group, layout=layout, n_dims=n_dims)
        g, lay = proj._resolve()
        return methods_for(g, lay)

