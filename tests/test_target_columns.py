"""DataFrame targets are read with the target layout's own fields (EquivariantRegressor and
FrameAveragingRegressor), and frame-averaging options refuse bools."""

import numpy as np
import pandas as pd
import pytest

from skcanon import EquivariantRegressor, FrameAveragingRegressor
from skcanon.layouts import PointLayout


def _data(n=100, k=4):
    rng = np.random.default_rng(0)
    P = rng.normal(size=(n, k, 3)) * [3, 2, 1]
    return P, 0.5 * (P - P.mean(1, keepdims=True))


@pytest.mark.parametrize("make", [lambda L: EquivariantRegressor(target_layout=L),
                                  lambda L: FrameAveragingRegressor(group="SE3", target=L)])
def test_target_layout_from_columns_reads_a_dataframe_y_once(make):
    """A target layout built from y's own (component-major) column names: y was reordered
    twice (by the names, then by the layout's columns), training error 10.4 / 11.9."""
    P, F = _data()
    n, k = P.shape[:2]
    names = [f"{c}{i}" for c in "xyz" for i in range(k)]
    y = pd.DataFrame((P + F).transpose(0, 2, 1).reshape(n, -1), columns=names)
    model = make(PointLayout.from_columns(names)).fit(P.reshape(n, -1), y)
    assert np.abs(model.predict(P.reshape(n, -1)) - y.to_numpy()).max() < 1e-3


@pytest.mark.parametrize("make", [lambda L: EquivariantRegressor(target_layout=L),
                                  lambda L: FrameAveragingRegressor(group="SE3", target=L)])
def test_point_major_y_naming_fields_in_another_order_is_read_by_name(make):
    """Target ``[pos, vel]``, y's point-major columns list ``vel`` first: vel was read as
    pos (training error 4.3 / 4.1)."""
    P, F = _data()
    n, k = P.shape[:2]
    V = 0.3 * (P - P.mean(1, keepdims=True))
    cols = [f"p{i}_{c}" for i in range(k) for c in ["vel_x", "vel_y", "vel_z", "x", "y", "z"]]
    y = pd.DataFrame(np.concatenate([V, P], 2).reshape(n, -1), columns=cols)
    L = PointLayout(3, fields=[("pos", "position"), ("vel", "vector")])
    model = make(L).fit(P.reshape(n, -1), y)
    assert np.abs(model.predict(P.reshape(n, -1)) - y.to_numpy()).max() < 1e-3


@pytest.mark.parametrize("param", ["batch_size", "n_frames", "n_dims", "sharpness"])
def test_frame_averaging_options_refuse_bools(param):
    """scikit-learn's Interval takes True as 1: batch_size=True ran one sample per batch."""
    from sklearn.utils._param_validation import InvalidParameterError

    P, F = _data(20)
    with pytest.raises(InvalidParameterError, match=param):
        FrameAveragingRegressor(group="SE3", **{param: True}).fit(P.reshape(20, -1), (P + F).reshape(20, -1))
