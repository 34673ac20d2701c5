"""EquivariantRegressor: regress targets that move with the input (positions, forces)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.linear_model import Ridge
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, has_fit_parameter

from ._batching import iter_batches
from ._columns import in_caller_order, point_major_order
from ._canonicalizer import CanonicalizerTransformer
from ._estimator import PointTargetRegressorMixin, SkcanonEstimatorMixin, fit_whole
from ._kernels import _numba
from ._validation import check_samples_placed, check_target_width, is_dataframe, object_as_float
from ._stabilizers import average_over_stabilizers, screened_forms, stabilizer_stand_in, symmetry_plan
from .frames import FrameSet, GroupSpec, map_back, tie_candidates, tie_runs
from .layouts import PointLayout

__all__ = ["EquivariantRegressor"]


class EquivariantRegressor(SkcanonEstimatorMixin, PointTargetRegressorMixin, BaseEstimator):
    """Make any regressor equivariant for targets that move with the input.

    ``fit`` canonicalizes every sample ``x`` with its frame ``h(x)``, maps the target
    into the same frame (``h(x)⁻¹·y``, with the group's own action on ``y``'s layout) and
    fits ``regressor`` on canonical inputs → canonical targets. ``predict`` maps the
    canonical prediction back: ``f(x) = h(x)·r(h(x)⁻¹·x)``, so
    ``predict(g·X) = g·predict(X)`` for every group element ``g`` (up to rounding). A sample
    with a symmetry of its own has its frame only up to that symmetry; there ``predict``
    averages over it, in the cases the notes list.

    Parameters
    ----------
    canonicalizer : CanonicalizerTransformer or None, default=None
        Unfitted transformer choosing the frames (cloned in ``fit``); ``None`` means
        ``CanonicalizerTransformer(group="SE3")`` (centroid + PCA). A learned
        canonicalizer is fitted without ``y`` (its ``"auto"`` objective is then the
        unsupervised ``"align"``), since ``y`` is not invariant.
    regressor : regressor or None, default=None
        Any scikit-learn regressor supporting multi-output ``y`` (cloned in ``fit``);
        ``None`` means ``Ridge(alpha=1e-3)``.
    target_layout : PointLayout or None, default=None
        Layout of ``y``: e.g. ``PointLayout(3)`` for positions (the default, with ``X``'s
        spatial dimension), ``PointLayout(3, fields=[("force", "vector")])`` for forces
        (rotate, do not translate). When the group permutes points, ``y`` with the same
        number of points as ``X`` is permuted with it; other ``y`` is left unpermuted.

    Attributes
    ----------
    canonicalizer_ : CanonicalizerTransformer
        The fitted canonicalizer.
    regressor_ : regressor
        The regressor fitted in the canonical frame.
    target_layout_ : PointLayout
        The resolved layout of ``y``.
    stabilizer_canonicalizer_ : CanonicalizerTransformer
        Only where ``canonicalizer`` is a network (learned, random, anchored) of a group
        that rotates: the ``pca`` (``pca+sort``) canonicalizer that reads the stabilizers of
        symmetric samples (see the notes).
    n_features_in_ : int
        Number of input features (3-D input counted flat).

    Notes
    -----
    **Symmetric inputs.** A sample fixed by group elements other than the identity (its
    stabilizer ``S``: a planar cloud under reflections, a collinear one under rotations about
    its line, coincident points under permutations) has a frame only up to ``S``, and one
    frame maps the prediction back in one of them. ``predict`` returns the equivariant
    answer there, the average over the stabilizer ``(1/|S|)·Σ_s s·h(x)·r(h(x)⁻¹·x)``, with
    ``S`` read from the minimal frame set of :mod:`skcanon.frames` (as
    ``FrameAveragingRegressor(frames="minimal")``): its frames under which the sample's
    canonical form is the same up to rounding (``1e-8`` of its size in float64, ``1e-4``
    in float32). Every other sample keeps the one-frame prediction bit for bit; a cheap test
    on the canonical forms picks the samples whose frame set is computed. Covered:

    * ``canonicalizer`` of method ``"pca"`` (O(d), SO(d), E(d), SE(d), finite rotation
      groups such as ``"C4"``, ``"D4"``, ``"O"``) or ``"orbit"`` (finite groups), with
      ``"sort"`` for ``×S_n``: sign flips of the principal axes that leave the canonical form
      unchanged (planar and mirror-symmetric clouds, collinear clouds — for positions and
      vectors the half turn about the line averages as every turn does —, all points at one
      place, and points at one place whose velocities or other vectors leave a rotation
      or mirror open: all parallel, all in one plane), every element of a finite group
      that maps the cloud onto itself (a square
      under ``"C4xS_n"``), under continuous groups ``× S_n`` every symmetry of a shape
      whose covariance is isotropic in a plane or in space (a regular polygon under
      ``"SE2xS_n"``, a cube, regular tetrahedron or octahedron under ``"E3xS_n"``: the
      frames the PCA tie rule cannot tell apart), and coincident points under ``×S_n``;
    * groups without rotations whose points are sorted (``"S_n"``, ``"T3xS_n"``):
      coincident points, the only symmetry there, get the mean of their predictions;
    * network canonicalizers (``"learned"``, ``"random"``, ``"anchored"``) of the groups
      above that rotate: their canonical forms are invariant on symmetric samples too, so
      a prediction is equivariant up to the stabilizer, which is a property of the sample,
      not of its frame. A ``pca`` canonicalizer of the same group (``pca+sort`` under
      ``×S_n``; fitted attribute ``stabilizer_canonicalizer_``) reads it, and the network's
      prediction is averaged over it as above; generic samples keep the network's
      prediction bit for bit.

    Not covered (the one-frame prediction, not equivariant on such samples): groups the
    frame-set code does not take (groups that rescale). Samples that the minimal frame set
    gives several frames only because a third moment is small (not a symmetry: their
    canonical forms differ) keep their one frame, which the canonicalizer settles
    consistently; ``FrameAveragingRegressor(frames="minimal")`` averages over those too
    (in float32, float32's wider sign tolerance: 17–39 % of random 6-point O(3) clouds,
    depending on how they are drawn: uniform, standard normal, or scaled (3, 2, 1)).

    Near-symmetric samples whose departure from a symmetry is about the tie rule's feature
    tolerance (a cube moved by noise of 1e-12 of its size in float64, 1e-5 in float32) get
    only some of their near-symmetries' frames as ties, the same ones in every pose, and
    the average over them is equivariant; where a feature lies at the tolerance's edge the
    input's rounding decides, and the prediction can differ between poses by up to the
    sample's size (a cube: 1 of 30 poses at noise 1e-12, 3 of 30 in float32 at 1e-5).

    **Absent points with per-point targets.** The rows of ``predict`` at absent points (all-NaN
    rows of ``X``) are the regressor's output for those slots, not NaN, and are not
    equivariant among themselves: two samples that differ only by the order of their absent
    points can get those rows in another order. Mask them (as ``X``'s absent rows mark them).

    Examples
    --------
    >>> import numpy as np
    >>> from skcanon import EquivariantRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = (rng.normal(size=(50, 5, 3)) * [3, 2, 1]).reshape(50, 15)
    >>> P = X.reshape(50, 5, 3)
    >>> y = (P + 0.5 * (P - P.mean(1, keepdims=True))).reshape(50, 15)  # moves with X
    >>> model = EquivariantRegressor().fit(X, y)
    >>> bool(np.allclose(model.predict(X), y, atol=1e-2))
    True
    """

    _parameter_constraints = {
        "canonicalizer": [HasMethods(["fit", "canonicalize"]), None],
        "regressor": [HasMethods(["fit", "predict"]), None],
        "target_layout": [PointLayout, None],
    }

    def __init__(self, canonicalizer=None, regressor=None, target_layout=None):
        self.canonicalizer = canonicalizer
        self.regressor = regressor
        self.target_layout = target_layout

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.three_d_array = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        tags.target_tags.required = True
        return tags

    def _target_working(self, y, layout, n_samples):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None; expected "
                f"targets that move with X, of shape (n_samples, n_target_points * {layout.width}) or "
                f"(n_samples, n_target_points, {layout.width}) for target_layout {layout!r}."
            )
        if sp.issparse(y):
            raise TypeError(f"y is a sparse {type(y).__name__}; targets that move with X are dense: pass "
                            "y.toarray().")
        if is_dataframe(y):
            try:   # pandas' missing values (pd.NA) as NaN, refused below by name
                y = y.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                y = y.to_numpy()   # numeric strings convert below, as for X
        try:
            y = np.asarray(y)
        except ValueError:  # a ragged nested list
            raise ValueError(
                f"y is a nested sequence whose rows have different lengths (ragged); expected a rectangular "
                f"array of shape (n_samples, n_target_points * {layout.width})."
            ) from None
        if y.dtype.kind in "OUSb":
            try:  # numeric object arrays and numeric strings convert, as for X
                y = object_as_float(y, np.float64)   # pandas' NA as NaN, as None
            except (TypeError, ValueError):
                pass  # refused below with the expected shape and dtype
        if np.iscomplexobj(y):   # the imaginary part was dropped with a ComplexWarning only
            raise ValueError(f"y is complex ({y.dtype}); targets must be real numbers.")
        if y.ndim not in (2, 3) or not np.issubdtype(y.dtype, np.number):
            raise ValueError(
                f"y must be a numeric array of shape (n_samples, n_target_points * {layout.width}) or "
                f"(n_samples, n_target_points, {layout.width}) for target_layout {layout!r}; got shape "
                f"{y.shape} and dtype {y.dtype}. For invariant targets use a Pipeline with "
                "CanonicalizerTransformer instead."
            )
        if y.shape[0] != n_samples:
            raise ValueError(f"y has {y.shape[0]} samples but X has {n_samples}; they must match.")
        check_target_width(y, layout)
        Y = layout.to_working(y.astype(np.float64))
        if not np.isfinite(Y).all():
            raise ValueError("y contains NaN or infinity; targets must be finite.")
        return Y, y.ndim

    def _act(self, frames, Y):
        group = self.canonicalizer_.group_
        factors = group.factors
        elems = frames if len(factors) > 1 else (frames,)
        for i in (group.run_order() if len(factors) > 1 else (0,)):
            f, g = factors[i], elems[i]
            if f.permutes and np.shape(g)[1] != Y.shape[1]:
                continue  # y does not have one row per point of X: permutations leave it alone
            Y = f.act(g, Y, self.target_layout_)
        return Y

    @staticmethod
    def _design(Xc):
        flat = Xc.reshape(Xc.shape[0], -1)
        return np.where(np.isnan(flat), 0.0, flat)  # absent points enter as zeros

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the canonicalizer on ``X`` and the regressor on canonical ``X`` → canonical ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_points, width)
        y : array-like of shape (n_samples, n_target_points * width) or 3-D
            Targets in ``target_layout`` (required; numeric object or string arrays are
            converted to float64, as ``X`` is; at least one target point). A DataFrame is read by its column names
            (``p0_x``, ``atom3_y``, ...; component-major orders too), as ``X`` is, and
            predictions come back in its column order.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Non-negative; passed to the regressor's ``fit`` (which must accept it).

        Returns
        -------
        self : EquivariantRegressor
        """
        return fit_whole(self, self._fit, X, y, sample_weight)

    def __sklearn_is_fitted__(self):
        # fitted once the regressor is in place (the last step of fit)
        return hasattr(self, "regressor_")

    def _fit(self, X, y, sample_weight):
        if y is None:  # before any work, in scikit-learn's words
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None; y holds targets "
                "that move with X (positions, forces), of shape (n_samples, n_target_points * width) in "
                "target_layout. For invariant targets use a Pipeline with CanonicalizerTransformer."
            )
        canon = (CanonicalizerTransformer(group="SE3") if self.canonicalizer is None
                 else clone(self.canonicalizer))
        objective = canon.get_params().get("objective")
        if isinstance(objective, str) and objective.startswith("supervised"):
            raise ValueError(
                f"canonicalizer has objective={objective!r}, which trains on labels, but EquivariantRegressor "
                "fits its canonicalizer on X alone (y moves with X and is not a label). Use "
                "objective='align' or 'prior' (or 'auto'), or a heuristic method such as 'pca'.")
        canon.fit(X)
        self.canonicalizer_ = canon
        self.n_features_in_ = canon.n_features_in_
        if hasattr(canon, "feature_names_in_"):
            self.feature_names_in_ = canon.feature_names_in_
        else:                               # a refit on an array: the earlier names are gone
            self.__dict__.pop("feature_names_in_", None)
        n_dims = getattr(canon.layout_, "n_dims", None)
        if n_dims is None:
            raise ValueError("EquivariantRegressor needs point-set input (a PointLayout).")
        self.target_layout_ = self.target_layout if self.target_layout is not None else PointLayout(n_dims)
        if getattr(self.target_layout_, "n_dims", None) != n_dims:
            raise ValueError(
                f"target_layout {self.target_layout_!r} has n_dims={getattr(self.target_layout_, 'n_dims', None)}, "
                f"but X's points have {n_dims} dimensions: the targets must move with X. Pass a "
                f"PointLayout({n_dims}, ...).")
        Xc, frames = canon.canonicalize(X)
        check_samples_placed(Xc, canon.group_, self.target_layout_)
        # a DataFrame y is read by its names, as X is (y0, y1, ... as plain target names:
        # flat, in their order); predictions come back in its column order
        self._y_order = point_major_order(self.target_layout_, y)
        if self._y_order is not None:
            y = np.asarray(y.to_numpy())[:, self._y_order]
        Y, self._y_ndim = self._target_working(y, self.target_layout_, Xc.shape[0])
        Yc = self._act(canon.group_.inverse(frames), Y)
        self.__dict__.pop("stabilizer_canonicalizer_", None)
        heuristic = stabilizer_stand_in(canon, Xc)
        if heuristic is not None:
            self.stabilizer_canonicalizer_ = heuristic
        self._y_shape = Y.shape[1:]
        self.regressor_ = clone(self.regressor) if self.regressor is not None else Ridge(alpha=1e-3)
        fit_params = {}
        if sample_weight is not None:
            if not has_fit_parameter(self.regressor_, "sample_weight"):
                raise ValueError(f"sample_weight was given but the regressor {type(self.regressor_).__name__} "
                                 "does not accept sample_weight in fit.")
            fit_params["sample_weight"] = _checked_sample_weight(sample_weight, Xc.reshape(len(Xc), -1))
        self.regressor_.fit(self._design(Xc), Yc.reshape(Yc.shape[0], -1), **fit_params)
        return self

    def predict(self, X):
        """Predict in the canonical frame and map back: ``h(x)·r(h(x)⁻¹·x)``, averaged over
        the frames a symmetric sample leaves open (see the class notes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_points, width)

        Returns
        -------
        y_pred : ndarray in the layout of the training ``y`` (2-D or 3-D)
        """
        check_is_fitted(self)
        # X is validated once: the symmetric samples' second pass reads the same working
        # array (validating again would repeat the warnings, and silencing them is not
        # thread-safe: warnings.catch_warnings swaps the process's filters)
        working = self.canonicalizer_._working(X, reporter=self)
        # one choice of kernels for the whole call, the symmetric samples' second pass included
        with _numba.decided(working[0].shape[0]):
            Xc, frames = self.canonicalizer_._canonicalize(X, keep_frames=True, reporter=self,
                                                           working=working)
            check_samples_placed(Xc, self.canonicalizer_.group_, self.target_layout_)
            Yc = np.asarray(self.regressor_.predict(self._design(Xc)), dtype=np.float64)
            Yc = Yc.reshape((Yc.shape[0],) + self._y_shape)
            plan = self._symmetry_plan()
            if plan is not None:
                Y = self._symmetric_predict(plan, working[0], Xc, frames, Yc)
            else:
                Y = self._act(frames, Yc)
                heuristic = self.__dict__.get("stabilizer_canonicalizer_")   # None: fitted before it existed
                if heuristic is not None:
                    # a network's frames: its prediction averaged over the stabilizer that the
                    # heuristic reads (a property of the sample, not of its frame)
                    Xh, frames_h = heuristic._canonicalize(X, True, reporter=self, working=working)
                    Y = average_over_stabilizers(symmetry_plan(heuristic), heuristic, working[0], Xh,
                                                 frames_h, Y, self.target_layout_)
        return in_caller_order(self.target_layout_.from_working(Y, self._y_ndim), getattr(self, "_y_order", None))

    # -- symmetric inputs: see skcanon._stabilizers ------------------------------------------

    def _symmetry_plan(self):
        return symmetry_plan(self.canonicalizer_)

    def _symmetric_predict(self, plan, P, Xc, frames, Yc):
        """The mapped-back predictions (working array), averaged over the stabilizer of the
        samples that have a symmetry; ``P``: the input's working array."""
        canon = self.canonicalizer_
        if plan[0] == "frames":
            return average_over_stabilizers(plan, canon, P, Xc, frames, self._act(frames, Yc),
                                            self.target_layout_)
        # "ties": coincident points, the only symmetry without rotations, share their mean
        W, per_point = screened_forms(canon, P, Xc, Yc.shape[1])
        candidates = tie_candidates(W) if per_point else np.zeros(W.shape[0], bool)
        rows = np.flatnonzero(candidates)
        runs = tie_runs(W[rows]) if rows.size else None
        tied = np.zeros(0, bool) if runs is None else runs[:, -1] < W.shape[1] - 1
        if tied.any():
            Yc = Yc.copy()
            Yc[rows[tied]] = self._tie_average(Yc[rows[tied]], runs[tied])
        return self._act(frames, Yc)

    def _tie_average(self, Yc, runs):
        """Predictions of tied (coincident) points replaced by their mean (frames.map_back's
        rule, with identity frames): ``Yc`` in the sorted canonical order."""
        n, m = runs.shape
        d = self.target_layout_.n_dims
        group = self.canonicalizer_.group_
        spec = GroupSpec(group, None, d, False, any(f.translates for f in group.factors), True, False)
        fs = FrameSet(np.broadcast_to(np.eye(d), (n, 1, d, d)), None, np.ones((n, 1)))
        order = (np.broadcast_to(np.arange(m), (n, m)), runs)
        return map_back(fs, Yc, self.target_layout_, spec, (np.arange(n), np.zeros(n, np.intp)), order)


def _checked_sample_weight(sample_weight, X):
    """``sample_weight`` checked as scikit-learn checks it, non-negative: Ridge, the default,
    failed on negative weights with "array must not contain infs or NaNs", and other
    regressors (a random forest) fitted on them silently."""
    try:
        return _check_sample_weight(sample_weight, X, ensure_non_negative=True)
    except (TypeError, ValueError) as exc:
        if "sample_weight" in str(exc) or "Sample weights" in str(exc):
            raise
        raise ValueError(f"sample_weight must be a scalar or a 1-D array of {X.shape[0]} non-negative finite "
                         f"numbers; {exc}") from None


def __getattr__(name):  # lazy: skorch and torch load only when the end-to-end class is used
    if name == "EndToEndEquivariantRegressor":
        from ._end_to_end import EndToEndEquivariantRegressor

        return EndToEndEquivariantRegressor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
