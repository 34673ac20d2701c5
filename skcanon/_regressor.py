"""EquivariantRegressor: regress targets that move with the input (positions, forces)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.linear_model import Ridge
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, has_fit_parameter

from ._columns import in_caller_order, point_major_order
from ._canonicalizer import CanonicalizerTransformer
from ._estimator import PointTargetRegressorMixin, SkcanonEstimatorMixin
from ._validation import check_target_width, is_dataframe
from .layouts import PointLayout

__all__ = ["EquivariantRegressor"]


class EquivariantRegressor(SkcanonEstimatorMixin, PointTargetRegressorMixin, BaseEstimator):
    """Make any regressor equivariant for targets that move with the input.

    ``fit`` canonicalizes every sample ``x`` with its frame ``h(x)``, maps the target
    into the same frame (``h(x)⁻¹·y``, with the group's own action on ``y``'s layout) and
    fits ``regressor`` on canonical inputs → canonical targets. ``predict`` maps the
    canonical prediction back: ``f(x) = h(x)·r(h(x)⁻¹·x)``, so
    ``predict(g·X) = g·predict(X)`` for every group element ``g``.

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
    n_features_in_ : int
        Number of input features (3-D input counted flat).

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
        try:
            y = np.asarray(y.to_numpy() if is_dataframe(y) else y)
        except ValueError:  # a ragged nested list
            raise ValueError(
                f"y is a nested sequence whose rows have different lengths (ragged); expected a rectangular "
                f"array of shape (n_samples, n_target_points * {layout.width})."
            ) from None
        if y.dtype.kind in "OUSb":
            try:  # numeric object arrays and numeric strings convert, as for X
                y = y.astype(np.float64)
            except (TypeError, ValueError):
                pass  # refused below with the expected shape and dtype
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
            converted to float64, as ``X`` is). A DataFrame is read by its column names
            (``p0_x``, ``atom3_y``, ...; component-major orders too), as ``X`` is, and
            predictions come back in its column order.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Passed to the regressor's ``fit`` (which must accept it).

        Returns
        -------
        self : EquivariantRegressor
        """
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
        # a DataFrame y is read by its names, as X is (y0, y1, ... as plain target names:
        # flat, in their order); predictions come back in its column order
        self._y_order = point_major_order(n_dims, y)
        if self._y_order is not None:
            y = np.asarray(y.to_numpy())[:, self._y_order]
        Y, self._y_ndim = self._target_working(y, self.target_layout_, Xc.shape[0])
        Yc = self._act(canon.group_.inverse(frames), Y)
        self._y_shape = Y.shape[1:]
        self.regressor_ = clone(self.regressor) if self.regressor is not None else Ridge(alpha=1e-3)
        fit_params = {}
        if sample_weight is not None:
            if not has_fit_parameter(self.regressor_, "sample_weight"):
                raise ValueError(f"sample_weight was given but the regressor {type(self.regressor_).__name__} "
                                 "does not accept sample_weight in fit.")
            fit_params["sample_weight"] = _check_sample_weight(sample_weight, Xc.reshape(len(Xc), -1))
        self.regressor_.fit(self._design(Xc), Yc.reshape(Yc.shape[0], -1), **fit_params)
        return self

    def predict(self, X):
        """Predict in the canonical frame and map back: ``h(x)·r(h(x)⁻¹·x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_points, width)

        Returns
        -------
        y_pred : ndarray in the layout of the training ``y`` (2-D or 3-D)
        """
        check_is_fitted(self)
        Xc, frames = self.canonicalizer_._canonicalize(X, keep_frames=True, reporter=self)
        Yc = np.asarray(self.regressor_.predict(self._design(Xc)), dtype=np.float64)
        Yc = Yc.reshape((Yc.shape[0],) + self._y_shape)
        Y = self._act(frames, Yc)
        return in_caller_order(self.target_layout_.from_working(Y, self._y_ndim), getattr(self, "_y_order", None))



def __getattr__(name):  # lazy: skorch and torch load only when the end-to-end class is used
    if name == "EndToEndEquivariantRegressor":
        from ._end_to_end import EndToEndEquivariantRegressor

        return EndToEndEquivariantRegressor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
