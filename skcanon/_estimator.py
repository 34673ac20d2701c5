"""What every skcanon estimator shares beyond scikit-learn's base classes."""

import numpy as np
from sklearn.base import RegressorMixin

DOCS_URL = "https://skcanon.readthedocs.io/en/latest"


class SkcanonEstimatorMixin:
    """Links the HTML repr (notebooks) to the estimator's page in skcanon's API reference."""

    _doc_link_module = "skcanon"
    _doc_link_template = DOCS_URL + "/generated/{estimator_module}.{estimator_name}.html"

    def _check_input_features(self, input_features):
        """scikit-learn's check of ``get_feature_names_out(input_features)``: the names
        seen in ``fit`` (or as many names as columns then); a ValueError otherwise. The
        output names do not depend on them (they name canonical points or invariants)."""
        if input_features is not None:
            from sklearn.utils.validation import _check_feature_names_in

            _check_feature_names_in(self, input_features, generate_names=False)


def fit_whole(estimator, fit, *args):
    """``fit(*args)``; where it fails (bad input, a regressor that raises, a diverged or
    interrupted training) the estimator's previous fit, or its unfitted state, is put back
    whole, since fits set their attributes as they go."""
    before = dict(estimator.__dict__)
    try:
        return fit(*args)
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(before)
        raise


class PointTargetRegressorMixin(RegressorMixin):
    """scikit-learn's regressor mixin for targets that may come as ``(n_samples,
    n_target_points, width)`` (the shape ``fit`` and ``predict`` take): ``score`` is R² over
    the flattened target columns, as for the same targets flat. A DataFrame ``y`` whose
    names name points is read by name, as ``fit`` reads it."""

    def score(self, X, y, sample_weight=None):
        from sklearn.metrics import r2_score

        from ._columns import is_dataframe, point_major_order

        pred = np.asarray(self.predict(X))
        layout = getattr(self, "target_layout_", None)
        if is_dataframe(y) and layout is not None and pred.ndim == 2:
            # both point-major: the predictions come in the column order of fit's y
            order = point_major_order(layout, y)
            y = y.to_numpy() if order is None else np.asarray(y.to_numpy())[:, order]
            fitted = getattr(self, "_y_order", None)
            pred = pred if fitted is None else pred[:, fitted]
        y = np.asarray(y)
        if y.ndim == 3 or pred.ndim == 3:
            y, pred = y.reshape(len(y), -1), pred.reshape(len(pred), -1)
        return r2_score(y, pred, sample_weight=sample_weight)
