"""Tabular data: canonicalize the point columns of a table with ColumnTransformer, pass the
rest through, pandas and polars in and out."""

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from skcanon import CanonicalizerTransformer
from skcanon.datasets import make_player_positions
from skcanon.groups import get_group
from skcanon.layouts import PointLayout


def _column_transformer(d, method="centroid+sort"):
    return ColumnTransformer(
        [("players", CanonicalizerTransformer(d.group, method, layout=d.layout), d.point_columns),
         ("period", OneHotEncoder(sparse_output=False), ["period"])],
        remainder="passthrough", verbose_feature_names_out=False)


def _moved(d, random_state):
    """``d.data`` (a DataFrame) with every row's players translated and re-ordered."""
    group = get_group(d.group)
    P = d.data[d.point_columns].to_numpy().reshape(len(d.data), -1, 2)
    g = group.sample(len(P), random_state=random_state, n_points=P.shape[1])
    moved = d.data.copy()
    moved[d.point_columns] = group.apply(g, P, d.layout).reshape(len(P), -1)
    return moved


def test_column_transformer_with_pandas_in_and_out():
    pytest.importorskip("pandas")
    d = make_player_positions(n_samples=60, random_state=0, as_frame=True)
    ct = _column_transformer(d).set_output(transform="pandas")
    out = ct.fit_transform(d.data)
    assert list(out.columns) == list(ct.get_feature_names_out())
    assert len(out.columns) == 10 + 4 and list(out.columns[-4:]) == ["period_1", "period_2", "minute", "home"]
    np.testing.assert_array_equal(out["minute"], d.data["minute"])        # passed through
    # the canonical player columns do not change when players move and swap slots
    again = ct.transform(_moved(d, random_state=1))
    np.testing.assert_allclose(again.to_numpy(), out.to_numpy(), atol=1e-9)


def test_column_transformer_with_polars_in_and_out():
    pl = pytest.importorskip("polars")
    pytest.importorskip("pandas")
    d = make_player_positions(n_samples=40, random_state=0, as_frame=True)
    frame = pl.from_pandas(d.data)
    ct = _column_transformer(d).set_output(transform="polars")
    out = ct.fit_transform(frame)
    assert isinstance(out, pl.DataFrame)
    assert out.columns == list(ct.get_feature_names_out())
    expected = _column_transformer(d).set_output(transform="pandas").fit_transform(d.data)
    np.testing.assert_allclose(out.to_numpy(), expected.to_numpy())
    moved = ct.transform(pl.from_pandas(_moved(d, random_state=2)))
    np.testing.assert_allclose(moved.to_numpy(), out.to_numpy(), atol=1e-9)


def test_canonicalizer_reads_point_columns_by_name_in_any_order():
    pytest.importorskip("pandas")
    d = make_player_positions(n_samples=30, random_state=0, as_frame=True)
    reordered = list(reversed(d.point_columns))                         # y before x, last player first
    layout = PointLayout.from_columns(reordered, n_dims=2)
    canon = CanonicalizerTransformer(d.group, "centroid+sort", layout=layout).fit(d.data[reordered])
    out = np.asarray(canon.transform(d.data[reordered]))
    moved = np.asarray(canon.transform(_moved(d, random_state=3)[reordered]))
    np.testing.assert_allclose(moved, out, atol=1e-9)                   # invariant
    # the same centred players as when the columns come in order, x read as x
    P = d.data[d.point_columns].to_numpy().reshape(30, -1, 2)
    centred = P - P.mean(axis=1, keepdims=True)
    x = out[:, [reordered.index(f"player{i}_x") for i in range(5)]]
    y = out[:, [reordered.index(f"player{i}_y") for i in range(5)]]
    for a, b in zip(np.stack([x, y], axis=2), centred):
        np.testing.assert_allclose(a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])], atol=1e-9)


@pytest.mark.slow
def test_canonicalizing_the_slots_helps_a_classifier():
    pytest.importorskip("pandas")
    d = make_player_positions(n_samples=600, random_state=0, as_frame=True)
    scores = {}
    for method in ("identity", "centroid+sort"):
        pipe = make_pipeline(_column_transformer(d, method),
                             RandomForestClassifier(n_estimators=50, random_state=0))
        scores[method] = cross_val_score(pipe, d.data, d.target, cv=3).mean()
    assert scores["centroid+sort"] > scores["identity"] + 0.2, scores


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_an_explicit_point_layout_with_extra_columns_is_refused(library):
    """With layout=PointLayout(2) (the data set's own layout) and two context columns, the
    names no longer fitted and the columns were read in plain order: the context columns
    became a point (translation error 5.6). Now refused, naming the extra columns."""
    lib = pytest.importorskip(library)
    from skcanon import CanonicalizerTransformer, InvariantProjector
    from skcanon.datasets import make_player_positions

    d = make_player_positions(n_samples=20, n_players=4, random_state=0, as_frame=True)
    frame = d.data.drop(columns=["home"])
    if library == "polars":
        frame = lib.from_pandas(frame)
    for est in (CanonicalizerTransformer(d.group, "centroid+sort", layout=d.layout),
                InvariantProjector(d.group, layout=d.layout)):
        with pytest.raises(ValueError, match="mixes columns that name point coordinates.*'period'"):
            est.fit(frame)
    # plain features that name no point axis are still read in column order
    plain = d.data[d.point_columns].to_numpy()
    import pandas as pd
    named = pd.DataFrame(plain, columns=[f"f{i}" for i in range(plain.shape[1])])
    np.testing.assert_array_equal(CanonicalizerTransformer(d.group, "centroid+sort", layout=d.layout).fit_transform(named),
                                  CanonicalizerTransformer(d.group, "centroid+sort", layout=d.layout).fit_transform(plain))


def test_make_player_positions_checks_formations():
    from skcanon.datasets import make_player_positions

    for bad in (5, [1, 2], ["4-4-2", "4-4-2"]):
        with pytest.raises(ValueError, match="formations must be"):
            make_player_positions(n_samples=4, formations=bad)
