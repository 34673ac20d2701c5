"""Frame-averaging meta-estimators: average any estimator over a set of frames per sample.

One concern: the estimators (fit, predict, the sklearn contract); the frame sets
themselves come from :mod:`skcanon.frames`.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    _fit_context,
    clone,
    is_regressor,
)
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    column_or_1d,
    has_fit_parameter,
)

from ._batching import iter_batches, layout_from_names, resolve_layout
from ._columns import in_caller_order, point_major_order
from ._canonicalizer import CanonicalizerTransformer
from ._estimator import PointTargetRegressorMixin, SkcanonEstimatorMixin, fit_whole
from ._kernels import _numba
from ._validation import (NumberInterval, check_samples_placed, check_target_width, check_translations_act,
                          user_stacklevel, validate_samples)
from .exceptions import ConstantModelWarning
from .frames import (
    FRAME_KINDS,
    check_kind,
    frame_forms,
    haar_elements,
    map_back,
    parse_group,
    to_frames,
)
from .groups import Group
from .layouts import PointLayout

__all__ = ["FrameAveragingClassifier", "FrameAveragingRegressor"]


def _design(Q, marks=False):
    """The estimator's rows: the forms flat, absent points as zeros, and where ``marks`` one
    0/1 column per point (present or not) after them, so that an absent point is not read as
    a real point at the origin (the centroid under translations)."""
    flat = Q.reshape(Q.shape[0], -1)
    flat = np.where(np.isnan(flat), 0.0, flat)
    if not marks:
        return flat
    present = ~np.isnan(Q).all(axis=2)
    return np.concatenate([flat, present.astype(flat.dtype)], axis=1)


def _sum_rows(F, i, n):
    """Per sample, the sum of its rows of ``F`` (rows come in sample order, each sample has
    at least one): one ``reduceat`` instead of scattered adds."""
    starts = np.searchsorted(i, np.arange(n))
    return np.add.reduceat(F, starts, axis=0)


def _estimator_has(attr):
    def check(self):
        est = self.estimator_ if hasattr(self, "estimator_") else self._default_estimator()
        return hasattr(est, attr)

    return check


class _BaseFrameAveraging(SkcanonEstimatorMixin, MetaEstimatorMixin, BaseEstimator):
    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "group": [str, Group],
        "frames": [StrOptions(set(FRAME_KINDS))],
        "n_frames": [NumberInterval(Integral, 1, None, closed="left")],
        "sharpness": [NumberInterval(Real, 0, None, closed="neither")],
        "layout": [PointLayout, None],
        "n_dims": [NumberInterval(Integral, 1, None, closed="left"), None],
        "batch_size": [NumberInterval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # whole-NaN rows mark absent points
        tags.input_tags.three_d_array = True
        return tags

    # -- frames ---------------------------------------------------------------------------
    def _setup(self, X):
        spec = parse_group(self.group)
        check_kind(spec, self.frames)
        # frame averaging works on point sets: C_n/D_n take 2-D points, not images
        n_dims = self.n_dims if self.n_dims is not None else spec.d
        # a DataFrame whose columns name points is read by those names, as everywhere
        layout = layout_from_names(spec.group, self.layout, n_dims, X)
        if layout is None:
            # a given PointLayout is checked against the group below, which names both; the
            # group's own dimension is no n_dims of the caller's to contradict it
            layout = resolve_layout(spec.group, self.layout,
                                    self.n_dims if isinstance(self.layout, PointLayout) else n_dims)
        spec.group.check_layout(layout)
        check_translations_act(spec.group, layout)
        self.group_ = spec.group
        self.layout_ = layout
        self._spec = spec
        # predict uses the frames fitted with (set_params after fit waits for the next fit)
        self._fitted_frames = (self.frames, self.sharpness)
        P, ndim = validate_samples(self, X, layout, reset=True)
        # absent points (all-NaN rows) in the training data: the design marks which points
        # are present (a sample lacking a point and one with a point at the centroid had
        # the same row, and no estimator could tell them apart)
        self.marks_absent_ = bool(np.isnan(P).any())
        check_samples_placed(P, spec.group, getattr(self, "target_layout_", None))
        if self.frames in ("pca", "minimal", "sampled") and not spec.finite:
            self.canonicalizer_ = CanonicalizerTransformer(
                group=spec.geometric, method="pca", layout=layout).fit(P)
        else:                               # a refit with other frames: none is used
            self.__dict__.pop("canonicalizer_", None)
        self.frame_elements_ = (haar_elements(self.n_frames, spec, check_random_state(self.random_state))
                                if self.frames == "sampled" else None)
        return P, ndim

    def _marks(self):
        return getattr(self, "marks_absent_", False)   # pickled before the marks existed

    def _forms_of(self, P, dtype):
        canon = getattr(self, "canonicalizer_", None)
        frames, sharpness = getattr(self, "_fitted_frames", (self.frames, self.sharpness))
        return frame_forms(P, self.layout_, self._spec, frames,
                           canonicalizer=None if canon is None else canon.canonicalizer_,
                           elements=self.frame_elements_, sharpness=sharpness, dtype=dtype)

    def frame_weights(self, X):
        """The frames and their weights for each sample of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_points, width)

        Returns
        -------
        frames : FrameSet
            Named tuple ``(R, t, weights, line, free, axis)``: ``R`` of shape
            ``(n_samples, k, d, d)`` (the frames' rotation parts; columns are axes), ``t``
            the translations (centroids, ``None`` for groups without translations),
            ``weights`` of shape ``(n_samples, k)`` (non-negative, each row sums to one;
            padded with zeros), ``line`` (weighted 3-D frames: samples on a line, ``None``
            otherwise), and ``free`` and ``axis`` as ``skcanon.frames.FrameSet``
            describes them.
        """
        check_is_fitted(self)
        P, _ = validate_samples(self, X, self.layout_, reset=False)
        with _numba.decided(P.shape[0]):
            return self._forms_of(P, P.dtype).frames

    def _iter_frames(self, P):
        """Per batch: (sample slice, frame set, canonical design rows, frame indices, weights,
        order); every batch of the call with the same kernels (numpy or compiled), chosen
        once for all of ``P``."""
        decision = _numba.choice_for(P.shape[0])
        for sl in iter_batches(P.shape[0], self.batch_size):
            with _numba.carried(decision):
                fs, Q, order, rows, w = self._forms_of(P[sl], P.dtype)
            yield sl, fs, Q, rows, w, order

    def _default_estimator(self):
        return self.estimator

    def __sklearn_is_fitted__(self):
        # fitted once the estimator is in place (the last step of fit)
        return hasattr(self, "estimator_")

    def _fit_frames(self, X, y, sample_weight, target=None):
        P, _ = self._setup(X)
        n = P.shape[0]
        if len(y) != n:
            raise ValueError(f"y has {len(y)} samples but X has {n}; they must match.")
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, np.ones(n))
        est = clone(self._default_estimator())
        design, targets, frame_w, weights, samples = [], [], [], [], []
        for sl, fs, Q, rows, w, order in self._iter_frames(P):
            i = rows[0] + sl.start
            samples.append(i)
            design.append(_design(Q, self.marks_absent_))
            targets.append(y[i] if target is None else target(fs, rows, order, sl))
            frame_w.append(w)
            weights.append(w if sw is None else w * sw[i])
        Xd, yd, wd = np.concatenate(design), np.concatenate(targets), np.concatenate(weights)
        frame_w = np.concatenate(frame_w)
        # unweighted rows only where every row weighs one after the scaling below (over all
        # samples, not per batch): all-symmetric samples of "minimal" frames (two rows at 1/2)
        # still weigh one each, as with sample_weight=ones
        uniform = bool(np.allclose(frame_w * self._row_scale(), 1.0))
        supports = has_fit_parameter(est, "sample_weight")
        if sw is not None and not supports:
            raise ValueError(f"sample_weight was given but the estimator {type(est).__name__} does not "
                             "accept sample_weight in fit.")
        self.uses_frame_weights_ = bool(supports and (sw is not None or not uniform))
        if self.uses_frame_weights_:
            # a sample's rows weigh what its frames weigh, times the frame count of the
            # equal-weight sources (pca, sampled), so equal weights mean unweighted rows
            est.fit(Xd, yd, sample_weight=wd * self._row_scale())
        else:
            est.fit(Xd, yd)
        self.estimator_ = est
        self.n_frames_fit_ = len(Xd)
        if target is None:
            self._warn_if_constant(Xd, yd, frame_w, np.concatenate(samples))
        return self

    #: training samples whose averaged outputs the constant-model check compares
    CONSTANT_CHECK_SAMPLES = 256

    def _warn_if_constant(self, Xd, yd, frame_w, samples):
        """Warn where an averaged linear model gives one output for the first training
        samples although their targets differ (an invariant target;
        :class:`ConstantModelWarning`)."""
        est = self.estimator_
        sel = samples < self.CONSTANT_CHECK_SAMPLES
        # linear models (coef_): where their part in the coordinates cancels. Other models
        # may be constant for good reasons (samples with nothing invariant to tell apart).
        # A pipeline's last step (after a scaler) and a search's best estimator count too
        final = est
        while isinstance(final, Pipeline) or hasattr(final, "best_estimator_"):
            final = final[-1] if isinstance(final, Pipeline) else final.best_estimator_
        if not hasattr(final, "coef_") or len(np.unique(yd[sel])) < 2:
            return
        method = next((m for m in ("predict_proba", "decision_function") if hasattr(est, m)), "predict")
        try:
            F = np.asarray(getattr(est, method)(Xd[sel]), dtype=np.float64).reshape(int(sel.sum()), -1)
        except (TypeError, ValueError):   # outputs that are not numbers (class labels as strings)
            return
        n = int(samples[sel].max()) + 1
        avg = np.zeros((n, F.shape[1]))
        np.add.at(avg, samples[sel], frame_w[sel, None] * F)
        spread = np.ptp(avg, axis=0).max(initial=0.0)
        if np.isfinite(spread) and spread <= 1e-9 * max(np.abs(avg).max(initial=0.0), 1.0):
            warnings.warn(
                f"{type(self).__name__}: the frame-averaged {type(est).__name__} gives the same output for "
                f"every one of the first {n} training samples although their targets differ. A linear model "
                f"averaged over frames that flip every axis both ways (frames={self.frames!r} under "
                f"{self._spec.group.name}) keeps only its intercept. Fix: a non-linear estimator (e.g. "
                "RandomForestClassifier / RandomForestRegressor), frames='minimal', or a group with xS_n.",
                ConstantModelWarning, stacklevel=user_stacklevel())

    def _row_scale(self):
        if self.frames == "sampled":
            return float(self.n_frames)
        if self.frames == "pca":
            return float(2 ** (self._spec.d - int(self._spec.special)))
        if self.frames == "group":
            return float(len(self._spec.geometric.matrices(self._spec.geometric.elements())))
        return 1.0

    @staticmethod
    def _require_y(y, name):
        if y is None:
            raise ValueError(f"{name} requires y to be passed, but the target y is None.")
        # scikit-learn's "Found array with 0 sample(s) (shape=(0,))" named neither y nor X
        if hasattr(y, "__len__") and not isinstance(y, str) and getattr(y, "ndim", 1) >= 1 and len(y) == 0:
            raise ValueError(f"y has 0 samples; {name}.fit needs X and y with n_samples >= 1 "
                             "(one target per sample of X).")

    def _average(self, X, method):
        """Weighted average over frames of ``estimator_.<method>`` on the canonical forms."""
        check_is_fitted(self)
        P, _ = validate_samples(self, X, self.layout_, reset=False)
        out = None
        for sl, fs, Q, rows, w, order in self._iter_frames(P):
            design = _design(Q, self._marks())
            F = np.asarray(getattr(self.estimator_, method)(design), dtype=np.float64)
            if out is None:
                out = np.zeros((P.shape[0],) + F.shape[1:])
            out[sl] = _sum_rows(w.reshape((-1,) + (1,) * (F.ndim - 1)) * F, rows[0], sl.stop - sl.start)
        return out


_PARAMS_DOC = """
    group : str or Group, default="SE3"
        The symmetry: O(d), SO(d), E(d) or SE(d) (``"O2"``, ``"SO3"``, ``"E3"``, ``"SE3"``)
        or a finite rotation group on points (``"C4"``, ``"D3"``, ``"O"``, ``"I"``),
        optionally times S_n (``"SE3xS_n"``, ``"IxS_n"``: the points of each canonical form
        are then sorted by their coordinates). Other groups raise a ``ValueError``.
    frames : {"pca", "minimal", "weighted", "sampled", "group"}, default="pca"
        Where the frames come from (see :mod:`skcanon.frames`). Continuous groups:
        ``"pca"`` the canonical PCA frame with all ``2^d`` axis signs (``2^(d-1)`` for
        special groups), equal weights (Puny et al. 2022); ``"minimal"`` only the signs the
        input leaves open (one frame for most generic float64 inputs); ``"weighted"`` frames
        built on the points with weights continuous in the input (the averaged output is
        continuous, moving targets of 3-D clouds near a line excepted; Dym, Lawrence &
        Siegel 2024); ``"sampled"`` the canonical frame
        composed with ``n_frames`` fixed Haar-random elements (stochastic frame averaging).
        Finite groups: ``"group"`` every element with weight ``1/|G|`` (exact group
        averaging); ``"minimal"`` the elements whose canonical form is smallest (one for
        generic inputs, the input's whole symmetry coset for symmetric ones). Other
        combinations raise a ``ValueError`` naming ``frames``.
    n_frames : int, default=8
        Number of random elements for ``frames="sampled"`` (unused otherwise, but checked:
        an int ≥ 1).
    sharpness : float, default=10.0
        ``β`` of ``frames="weighted"``: larger means fewer frames with steeper weights
        (closer to a canonicalization), smaller a smoother, costlier average.
    layout : PointLayout or None, default=None
        Layout of ``X``; ``None`` means positions only, in the group's dimension.
    n_dims : int or None, default=None
        Spatial dimension when ``layout`` is None (defaults to the group's).
    batch_size : int or None, default=4096
        Samples whose frames are processed together in ``predict`` (memory grows with
        ``batch_size × frames per sample``); ``None`` processes all at once.
    random_state : int, RandomState instance or None, default=None
        Seed of the Haar elements of ``frames="sampled"``."""

_NOTES_DOC = """
    ``fit`` trains ``estimator`` on the canonical form of every sample under each of its
    frames (frames with weight 0 are skipped). When the frames' weights differ
    (``"weighted"``, ``"minimal"``) or ``sample_weight`` is given, they are passed as
    ``sample_weight`` to estimators whose ``fit`` accepts it: each sample's frame weights
    (which sum to one) times its own weight, and for the equal-weight sources (``"pca"``,
    ``"sampled"``, ``"group"``) times the frame count, so their rows weigh what unweighted
    rows do. A sample of ``"weighted"`` or ``"minimal"`` frames thus weighs one in all, however
    many rows it has, while a sample of ``"pca"`` frames weighs its frame count: compare
    regularisation strengths (``C``, ``alpha``) within one frame source. Estimators that do
    not accept it (a :class:`~sklearn.pipeline.Pipeline`, say) are fitted on all frames with
    positive weight equally (``uses_frame_weights_`` tells which happened), and
    ``sample_weight`` then raises. Prediction always uses the weights; ``batch_size`` bounds
    memory only and does not change the fit."""


class FrameAveragingClassifier(ClassifierMixin, _BaseFrameAveraging):
    __doc__ = """Make any classifier invariant by averaging it over a set of frames per sample.

    For every sample ``x`` a frame set ``{(h_j(x), w_j(x))}`` is computed that moves with
    the input (``h_j(g·x) = g·h_j(x)``); the prediction averages the wrapped classifier
    over the canonical forms ``h_j(x)⁻¹·x``: ``p(x) = Σ_j w_j(x) · c(h_j(x)⁻¹·x)``, which
    is exactly invariant to the group. Unlike a single canonicalization, the set keeps
    every choice the input leaves open (the signs of principal axes, near-ties), and
    ``frames="weighted"`` makes the output continuous in the input.

    Parameters
    ----------
    estimator : classifier or None, default=None
        Any scikit-learn classifier (cloned in ``fit``); ``None`` means
        ``RandomForestClassifier(n_estimators=100, random_state=0)``. Not a linear model:
        averaged over frames that flip every axis both ways (the sign choices of
        ``"pca"``, sampled rotations, a whole finite group; without ``×S_n``, whose sort
        is not linear), a linear model's part in the coordinates cancels and the averaged
        classifier predicts one class for every input (``fit`` warns where that happens).""" + _PARAMS_DOC + """

    Attributes
    ----------
    estimator_ : classifier
        The classifier fitted on the canonical forms.
    classes_ : ndarray of shape (n_classes,)
    group_ : Group
    layout_ : PointLayout
    canonicalizer_ : CanonicalizerTransformer
        The PCA canonicalizer giving the base frame (not for ``frames="weighted"`` or
        finite groups).
    frame_elements_ : ndarray of shape (n_frames, d, d) or None
        The Haar elements of ``frames="sampled"``.
    uses_frame_weights_ : bool
        Whether ``fit`` passed frame weights to ``estimator`` as ``sample_weight``.
    marks_absent_ : bool
        Whether the training data had absent points (all-NaN rows): the estimator's rows then
        end with one 0/1 column per point saying whether it is present.
    n_frames_fit_ : int
        Rows ``estimator_`` was fitted on (samples × their frames).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names seen in ``fit`` when ``X`` was a DataFrame.

    Notes
    -----""" + _NOTES_DOC + """

    See Also
    --------
    FrameAveragingRegressor : The same for regression (and targets that move with ``X``).
    skcanon.CanonicalizerTransformer : One frame per sample (cheaper, discontinuous).
    skcanon.metrics.continuity_ratio : Measure the jumps of a prediction function.

    Examples
    --------
    >>> import numpy as np
    >>> from skcanon import FrameAveragingClassifier
    >>> from skcanon.groups import get_group
    >>> from skcanon.layouts import PointLayout
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 6 * 2)) * np.tile([2.0, 1.0], 6)
    >>> y = (X[:, ::2].std(axis=1) > 1.9).astype(int)
    >>> clf = FrameAveragingClassifier(group="SE2", frames="weighted").fit(X, y)
    >>> g = get_group("SE2").sample(60, random_state=1)
    >>> moved = get_group("SE2").apply(g, X, PointLayout(2))
    >>> bool(np.allclose(clf.predict_proba(moved), clf.predict_proba(X)))
    True
    """

    def __init__(self, estimator=None, *, group="SE3", frames="pca", n_frames=8, sharpness=10.0,
                 layout=None, n_dims=None, batch_size=4096, random_state=None):
        self.estimator = estimator
        self.group = group
        self.frames = frames
        self.n_frames = n_frames
        self.sharpness = sharpness
        self.layout = layout
        self.n_dims = n_dims
        self.batch_size = batch_size
        self.random_state = random_state

    def _default_estimator(self):
        # not a linear model: averaged over frames that flip every axis both ways (sign
        # choices, sampled or whole groups without ×S_n), its linear part cancels and the
        # averaged classifier is a constant
        if self.estimator is not None:
            return self.estimator
        return RandomForestClassifier(n_estimators=100, random_state=0)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit ``estimator`` on the canonical forms of every sample under each of its frames.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_points, width)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,) or None, default=None

        Returns
        -------
        self : FrameAveragingClassifier
        """
        return fit_whole(self, self._fit, X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        self._require_y(y, type(self).__name__)
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        if y.ndim == 2 and y.shape[1] != 1:
            raise ValueError(f"y must be 1-D of shape (n_samples,); got shape {y.shape}.")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if is_regressor(self._default_estimator()):
            raise ValueError(f"estimator must be a classifier; got the regressor {self.estimator!r}. Fix: pass a "
                             "classifier, or use FrameAveragingRegressor for this estimator.")
        self._fit_frames(X, y, sample_weight)
        if not hasattr(self.estimator_, "classes_"):
            raise ValueError(f"estimator must be a classifier with classes_ after fit; {self.estimator!r} has "
                             "none. Fix: pass a scikit-learn classifier.")
        self.classes_ = self.estimator_.classes_
        return self

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Frame-weighted average of the class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_points, width)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return self._average(X, "predict_proba")

    @available_if(_estimator_has("predict_proba"))
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Frame-weighted average of the decision function.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_points, width)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        return self._average(X, "decision_function")

    def predict(self, X):
        """Class with the largest averaged probability (else averaged decision function,
        else the largest frame-weighted vote).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_points, width)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        est = self.estimator_
        # decision functions of one column per pair of classes (SVC's "ovo") do not name a
        # class by their argmax: those estimators vote, as estimators without scores do
        per_pair = getattr(est, "decision_function_shape", None) == "ovo" and len(self.classes_) > 2
        if hasattr(est, "predict_proba"):
            scores = self.predict_proba(X)
        elif hasattr(est, "decision_function") and not per_pair:
            scores = self.decision_function(X)
            if scores.ndim == 1:
                return self.classes_[(scores > 0).astype(int)]
        else:
            P, _ = validate_samples(self, X, self.layout_, reset=False)
            scores = np.zeros((P.shape[0], len(self.classes_)))
            for sl, fs, Q, rows, w, order in self._iter_frames(P):
                design = _design(Q, self._marks())
                votes = np.searchsorted(self.classes_, self.estimator_.predict(design))
                np.add.at(scores, (rows[0] + sl.start, votes), w)
        return self.classes_[np.argmax(scores, axis=1)]


class FrameAveragingRegressor(PointTargetRegressorMixin, _BaseFrameAveraging):
    __doc__ = """Make any regressor invariant or equivariant by averaging it over frames.

    Invariant targets (energies, labels; ``target="invariant"``): ``f(x) = Σ_j w_j(x) ·
    r(h_j(x)⁻¹·x)``. Targets that move with the input (positions, forces;
    ``target="position"``, ``"vector"`` or a :class:`~skcanon.layouts.PointLayout`):
    ``fit`` maps ``y`` into each frame (``h_j(x)⁻¹·y``) and ``predict`` maps each frame's
    prediction back before averaging, ``f(x) = Σ_j w_j(x) · h_j(x)·r(h_j(x)⁻¹·x)``, so
    ``predict(g·X) = g·predict(X)`` exactly (to rounding), with two exceptions. Under
    ``×S_n``, the rows of per-point targets at absent points (all-NaN rows of ``X``) are the
    regressor's output for those slots, not NaN, and are not equivariant among themselves
    (two absent points swapped leave ``X`` unchanged but not the required output). And on
    exactly symmetric samples (planar or collinear clouds, points at one place) a regressor
    that is not continuous (trees, k-NN) needs the canonical forms of the frames the symmetry
    relates to be equal: coordinates along axes where a form has no extent are set to 0 for
    that reason (``"weighted"`` frames, built on the points, also have such coordinates in
    generic forms: every coordinate within rounding of 0 is set to 0 there). ``"sampled"``
    frames turn those axes off the coordinate axes, and in float32 their rounding noise can
    still split such forms (equivariance errors up to 0.14 were measured with k-NN).

    Parameters
    ----------
    estimator : regressor or None, default=None
        Any scikit-learn regressor (cloned in ``fit``; multi-output for moving targets);
        ``None`` means ``Ridge(alpha=1e-3)`` for targets that move with ``X`` (a linear
        map stays equivariant under the average) and ``RandomForestRegressor(
        n_estimators=100, random_state=0)`` for invariant ones (a linear model's part in
        the coordinates cancels over frames that flip every axis both ways, and the
        average is a constant; ``fit`` warns where that happens).""" + _PARAMS_DOC + """
    target : {"invariant", "position", "vector"} or PointLayout, default="invariant"
        How ``y`` moves with the group: not at all, like positions (rotated and
        translated), like vectors (rotated only: forces, velocities), or as described by a
        layout. When the group permutes points, a moving ``y`` with one row per point of
        ``X`` is permuted with it.
    equivariant_target : bool, default=False
        Shorthand: ``True`` with ``target="invariant"`` means ``target="position"``.

    Attributes
    ----------
    estimator_ : regressor
        The regressor fitted on the canonical forms.
    target_layout_ : PointLayout or None
        The layout ``y`` moves in (``None`` for invariant targets).
    group_ : Group
    layout_ : PointLayout
    canonicalizer_ : CanonicalizerTransformer
        The PCA canonicalizer giving the base frame (not for ``frames="weighted"`` or
        finite groups).
    frame_elements_ : ndarray of shape (n_frames, d, d) or None
    uses_frame_weights_ : bool
        Whether ``fit`` passed frame weights to ``estimator`` as ``sample_weight``.
    marks_absent_ : bool
        Whether the training data had absent points (all-NaN rows): the estimator's rows then
        end with one 0/1 column per point saying whether it is present.
    n_frames_fit_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names seen in ``fit`` when ``X`` was a DataFrame.

    Notes
    -----""" + _NOTES_DOC + """

    See Also
    --------
    FrameAveragingClassifier : The same for classification.
    skcanon.EquivariantRegressor : One frame per sample.

    Examples
    --------
    >>> import numpy as np
    >>> from skcanon import FrameAveragingRegressor
    >>> from skcanon.groups import get_group
    >>> from skcanon.layouts import PointLayout
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 5 * 3))
    >>> P = X.reshape(40, 5, 3)
    >>> y = (P + 0.5 * (P - P.mean(1, keepdims=True))).reshape(40, 15)  # moves with X
    >>> reg = FrameAveragingRegressor(group="SE3", target="position").fit(X, y)
    >>> g = get_group("SE3").sample(40, random_state=1)
    >>> act = lambda Z: get_group("SE3").apply(g, Z, PointLayout(3))
    >>> bool(np.allclose(reg.predict(act(X)), act(reg.predict(X))))
    True
    """

    _parameter_constraints = {
        **_BaseFrameAveraging._parameter_constraints,
        "target": [StrOptions({"invariant", "position", "vector"}), PointLayout],
        "equivariant_target": ["boolean"],
    }

    def __init__(self, estimator=None, *, group="SE3", frames="pca", n_frames=8, sharpness=10.0,
                 layout=None, n_dims=None, batch_size=4096, random_state=None, target="invariant",
                 equivariant_target=False):
        self.estimator = estimator
        self.group = group
        self.frames = frames
        self.n_frames = n_frames
        self.sharpness = sharpness
        self.layout = layout
        self.n_dims = n_dims
        self.batch_size = batch_size
        self.random_state = random_state
        self.target = target
        self.equivariant_target = equivariant_target

    def _default_estimator(self):
        if self.estimator is not None:
            return self.estimator
        # targets that move: a linear map averaged over frames stays equivariant; invariant
        # targets: a linear model's part in the coordinates cancels over frames that flip
        # every axis both ways, so the average would be a constant
        moving = self.equivariant_target or not (isinstance(self.target, str) and self.target == "invariant")
        return Ridge(alpha=1e-3) if moving else RandomForestRegressor(n_estimators=100, random_state=0)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        # a moving target (points or vectors, one column per coordinate) is never 1-D
        tags.target_tags.single_output = self.target == "invariant" and not self.equivariant_target
        return tags

    def _resolve_target(self, d):
        target = self.target
        if target == "invariant" and self.equivariant_target:
            target = "position"
        if isinstance(target, PointLayout):
            if target.n_dims != d:
                raise ValueError(
                    f"target layout has n_dims={target.n_dims}, but the group acts in {d} dimensions.")
            return target
        if target == "invariant":
            return None
        return PointLayout(d, fields=[("pos" if target == "position" else "vec", target)])

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit ``estimator`` on canonical forms (and canonical targets) under every frame.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_points, width)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            For moving targets: ``(n_samples, n_target_points * width)`` or 3-D, in
            ``target``'s layout.
        sample_weight : array-like of shape (n_samples,) or None, default=None

        Returns
        -------
        self : FrameAveragingRegressor
        """
        return fit_whole(self, self._fit, X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        self._require_y(y, type(self).__name__)
        spec = parse_group(self.group)
        self.target_layout_ = self._resolve_target(spec.d)
        # moving targets in a DataFrame are read by their names, as X is
        self._y_order = None if self.target_layout_ is None else point_major_order(self.target_layout_, y)
        if self._y_order is not None:
            y = np.asarray(y.to_numpy())[:, self._y_order]
        y_arr = check_array(y, ensure_2d=False, allow_nd=True, dtype="numeric", input_name="y",
                            ensure_min_features=0)
        if self.target_layout_ is not None and y_arr.ndim in (2, 3) and y_arr.shape[0]:
            # moving targets without points: named with the shape expected (scikit-learn's
            # "Found array with 0 feature(s)" named neither)
            check_target_width(y_arr, self.target_layout_)
        if y_arr.ndim == 0 or y_arr.size == 0:
            raise ValueError(f"y must have one entry per sample; got shape {y_arr.shape}.")
        y_arr = y_arr.astype(np.float64)
        if self.target_layout_ is None:
            self._y_ndim = y_arr.ndim
            self._fit_frames(X, y_arr, sample_weight)
            return self
        layout = self.target_layout_
        if y_arr.ndim not in (2, 3):
            raise ValueError(
                f"y must have shape (n_samples, n_target_points * {layout.width}) or (n_samples, "
                f"n_target_points, {layout.width}) for target={self.target!r}; got shape {y_arr.shape}. "
                "For invariant targets use target='invariant'.")
        check_target_width(y_arr, layout)
        Y = layout.to_working(y_arr)
        self._y_ndim, self._y_shape = y_arr.ndim, Y.shape[1:]

        def target(fs, rows, order, sl):
            Yc = to_frames(fs, Y[sl], layout, self._spec, rows, order)
            return Yc.reshape(Yc.shape[0], -1)

        return self._fit_frames(X, Y[:, 0, 0], sample_weight, target=target)

    def predict(self, X):
        """Frame-weighted average of the predictions (mapped back through each frame for
        moving targets).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_points, width)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs), or in the layout
            of the training ``y`` for moving targets
        """
        check_is_fitted(self)
        if self.target_layout_ is None:
            out = self._average(X, "predict")
            return out.ravel() if self._y_ndim == 1 and out.ndim == 2 and out.shape[1] == 1 else out
        P, _ = validate_samples(self, X, self.layout_, reset=False)
        check_samples_placed(P, self.group_, self.target_layout_)
        out = np.zeros((P.shape[0],) + self._y_shape)
        for sl, fs, Q, rows, w, order in self._iter_frames(P):
            Yc = np.asarray(self.estimator_.predict(_design(Q, self._marks())), dtype=np.float64)
            Yc = Yc.reshape((Yc.shape[0],) + self._y_shape)
            Yb = map_back(fs, Yc, self.target_layout_, self._spec, rows, order)
            out[sl] = _sum_rows(w[:, None, None] * Yb, rows[0], sl.stop - sl.start)
        return in_caller_order(self.target_layout_.from_working(out, self._y_ndim), getattr(self, "_y_order", None))
