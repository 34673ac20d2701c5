"""InvariantProjector.get_feature_names_out: one distinct, readable name per output column
for every method and layout (pandas output and ColumnTransformer need distinct names)."""

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer

from skcanon import CanonicalizerTransformer
from skcanon._projector import InvariantProjector
from skcanon.layouts import PointLayout
from skcanon.projections import PROJECTIONS
from skcanon.projections._base import unique_names

RANDOM = {"random_sort", "random_moments", "reynolds", "max_filter"}


def _fit(group, method, layout, n_points, dtype=np.float64, seed=0):
    X = np.random.default_rng(seed).normal(size=(5, n_points * layout.width)).astype(dtype)
    proj = InvariantProjector(group, method, layout=layout, random_state=0,
                              n_components=4 if method in RANDOM else None).fit(X)
    return proj, X


def _assert_distinct_and_matching(proj, X):
    names = list(proj.get_feature_names_out())
    repeated = sorted({n for n in names if names.count(n) > 1})
    assert not repeated, f"{proj.method_}: repeated names {repeated[:5]}"
    assert len(names) == proj.transform(X).shape[1] == proj.n_features_out_
    return names


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fields, scalar_names, distance_names", [
    # a scalar field "dist" of size 2 has the components dist0, dist1: the distances move aside
    ([("pos", "position"), ("dist", "scalar", 2)], ["row0_dist0", "row0_dist1"], ["row0_sorted_dist0"]),
    ([("pos", "position"), ("dist0", "scalar")], ["row0_dist0"], ["row0_sorted_dist0", "row3_sorted_dist2"]),
    # and aside again when "sorted_dist" is taken as well
    ([("pos", "position"), ("dist", "scalar", 2), ("sorted_dist1", "scalar")],
     ["row0_dist0", "row0_sorted_dist1"], ["row0__sorted_dist0", "row0__sorted_dist1"]),
    # no clash: today's names
    ([("pos", "position"), ("charge", "scalar"), ("dist", "scalar")], ["row0_charge", "row0_dist"], ["row0_dist0"]),
])
def test_sorted_distances_names_stay_distinct_from_scalars_called_dist(fields, scalar_names, distance_names,
                                                                       dtype):
    pd = pytest.importorskip("pandas")
    layout = PointLayout(3, fields=fields)
    proj, X = _fit("E3xS_n", "sorted_distances", layout, 4, dtype)
    names = _assert_distinct_and_matching(proj, X)
    assert len(names) == 4 * (layout.width - 3 + 3)
    for name in scalar_names + distance_names:
        assert name in names
    out = proj.set_output(transform="pandas").transform(X)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == names
    assert out.dtypes.iloc[0] == dtype


def test_sorted_distances_names_from_dataframe_columns_called_dist():
    """A DataFrame whose points carry columns ``atom3_dist0`` (read as a scalar field
    ``dist0``) gave two columns ``row0_dist0``: pandas output then had repeated columns."""
    pd = pytest.importorskip("pandas")
    cols = [f"atom{i}_{c}" for i in range(3) for c in ("x", "y", "z", "dist0", "dist1")]
    df = pd.DataFrame(np.random.default_rng(1).normal(size=(6, len(cols))), columns=cols)
    proj = InvariantProjector("E3xS_n").set_output(transform="pandas")
    out = proj.fit_transform(df)
    assert proj.method_ == "sorted_distances"
    assert list(out.columns[:4]) == ["row0_dist0", "row0_dist1", "row0_sorted_dist0", "row0_sorted_dist1"]
    assert out.columns.is_unique and out.shape == (6, 12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group, method", [
    ("O3", "norms"), ("O3", "gram"), ("E3", "distances"), ("SO3", "gram_minors"), ("SE3", "gram_minors"),
])
@pytest.mark.parametrize("fields, n_points, expected", [
    # "11v": point 1 of field "1v" or point 11 of field "v"
    ([("v", "vector"), ("1v", "vector")], 12, ["p1_1v", "p11_v"]),
    ([("pos", "position"), ("0", "vector"), ("00", "vector")], 11, ["p1_00", "p10_0"]),
    # "gram_0v_1v_1v": (0v, 1v_1v) or (0v_1v, 1v); the norms stay distinct ("norm_0v_1v")
    ([("pos", "position"), ("v", "vector"), ("v_1v", "vector")], 2, ["p0_v", "p1_v_1v"]),
])
def test_geometry_names_stay_distinct_for_digits_and_underscores_in_field_names(group, method, fields,
                                                                              n_points, expected, dtype):
    layout = PointLayout(3, fields=fields)
    proj, X = _fit(group, method, layout, n_points, dtype)
    names = _assert_distinct_and_matching(proj, X)
    if method == "norms":
        if n_points == 2:   # distinct already: unchanged
            assert names[:3] == ["norm_0pos", "norm_0v", "norm_0v_1v"]
        else:               # every vector labelled p{i}_{field}
            assert {f"norm_{label}" for label in expected} <= set(names)
    else:                   # ... and the labels of a pair joined by "__"
        prefix = "dist_" if method == "distances" else "gram_"
        assert f"{prefix}{expected[0]}__{expected[1]}" in names


def test_geometry_names_from_dataframe_columns_with_underscores():
    pd = pytest.importorskip("pandas")
    cols = [f"p{i}_{c}" for i in range(2) for c in ("x", "y", "z", "v_x", "v_y", "v_z", "v_1v_x", "v_1v_y", "v_1v_z")]
    df = pd.DataFrame(np.random.default_rng(2).normal(size=(5, len(cols))), columns=cols)
    out = InvariantProjector("O3", "gram").set_output(transform="pandas").fit_transform(df)
    assert out.columns.is_unique and out.shape == (5, 21)
    assert "gram_p0_v__p1_v_1v" in out.columns and "gram_p0_v_1v__p1_v" in out.columns


@pytest.mark.parametrize("group, method, fields, n_points, first, last", [
    # names that were already distinct are unchanged
    ("O3", "gram", None, 3, "gram_0_0", "gram_2_2"),
    ("E3", "distances", [("pos", "position"), ("vel", "vector"), ("charge", "scalar")], 2,
     "dist_0pos_0vel", "p1_charge"),
    ("SO3", "gram_minors", [("pos", "position"), ("vel", "vector")], 2, "gram_0pos_0pos", "minor_0vel_1pos_1vel"),
    ("O3", "norms", [("pos", "position"), ("my_vel", "vector")], 2, "norm_0pos", "norm_1my_vel"),
    ("E3xS_n", "sorted_distances", [("pos", "position"), ("charge", "scalar")], 3, "row0_charge", "row2_dist1"),
])
def test_names_that_were_distinct_do_not_change(group, method, fields, n_points, first, last):
    proj, X = _fit(group, method, PointLayout(3, fields=fields), n_points)
    names = _assert_distinct_and_matching(proj, X)
    assert (names[0], names[-1]) == (first, last)


_FIELD_SETS = [
    None,
    [("pos", "position"), ("charge", "scalar")],
    [("pos", "position"), ("dist", "scalar", 2)],
    [("pos", "position"), ("dist0", "scalar"), ("row0", "scalar")],
    [("pos", "position"), ("vel", "vector"), ("force", "vector"), ("q", "scalar", 2)],
    [("pos", "position"), ("v", "vector"), ("v_1v", "vector")],
    [("v", "vector"), ("1v", "vector")],
    [("1", "position"), ("2", "vector"), ("12", "vector"), ("3", "scalar", 3)],
    [("pos", "position"), ("_1", "vector"), ("a", "scalar", 2), ("a_", "scalar")],
    [("c", "scalar", 2), ("c_", "scalar")],
]


@pytest.mark.parametrize("fields", _FIELD_SETS, ids=lambda f: "default" if f is None else "-".join(x[0] for x in f))
@pytest.mark.parametrize("n_dims, groups", [
    (2, ["S_n", "O2", "SO2", "E2", "C4", "D4", "C4xS_n", "E2xS_n"]),
    (3, ["S_n", "O3", "SO3", "E3", "SE3", "T3", "O", "E3xS_n", "SO3xS_n"]),
])
def test_every_method_names_distinct_columns_on_every_layout(fields, n_dims, groups):
    layout = PointLayout(n_dims, fields=fields)
    covered = 0
    for group in groups:
        try:
            methods = InvariantProjector.available_methods(group, layout)
        except ValueError:   # the layout does not fit the group
            continue
        for method in methods:
            for n_points in (1, 3, 12):
                if method in ("reynolds", "max_filter") and group.endswith("S_n") and n_points > 3:
                    continue   # enumerates S_n
                if method == "canonical" and group != "S_n" and not any(f.is_geometric for f in layout.fields):
                    continue   # no frames without a geometric field (refused in transform)
                proj, X = _fit(group, method, layout, n_points)
                _assert_distinct_and_matching(proj, X)
                covered += 1
    assert covered


def test_column_transformer_takes_sorted_distances_next_to_scalars_called_dist():
    pd = pytest.importorskip("pandas")
    layout = PointLayout(3, fields=[("pos", "position"), ("dist", "scalar", 2)])
    X = np.random.default_rng(3).normal(size=(6, 3 * layout.width))
    ct = ColumnTransformer([("proj", InvariantProjector("E3xS_n", layout=layout), list(range(X.shape[1])))])
    out = ct.set_output(transform="pandas").fit_transform(X)
    assert out.columns.is_unique and out.shape == (6, 3 * (2 + 2))
    assert "proj__row0_dist0" in out.columns and "proj__row0_sorted_dist0" in out.columns


def test_unique_names_keeps_distinct_names_and_suffixes_repeats():
    assert unique_names(["a", "b"]) == ["a", "b"]
    assert unique_names(["a", "a", "a__2", "a"]) == ["a", "a__3", "a__2", "a__4"]


def test_projector_names_are_distinct_even_when_a_projection_repeats_names(monkeypatch):
    """The guarantee covers registered projections: repeated names get ``__2``, ..."""
    cls = PROJECTIONS["sort"]
    monkeypatch.setattr(cls, "feature_names", lambda self: ["f"] * (self.sample_shape_[0] * self.sample_shape_[1]))
    proj = InvariantProjector("S_n", "sort", n_dims=1).fit(np.arange(6.0).reshape(2, 3))
    assert list(proj.get_feature_names_out()) == ["f", "f__2", "f__3"]


@pytest.mark.parametrize("make", [lambda: CanonicalizerTransformer("SE3", "pca"),
                                  lambda: InvariantProjector("E3", "distances")])
def test_get_feature_names_out_checks_input_features(make):
    """scikit-learn's convention: ``input_features`` must be the names seen in ``fit`` (or
    as many names as columns); before, anything was accepted and ignored."""
    import pandas as pd

    X = np.random.default_rng(0).normal(size=(6, 12))
    est = make().fit(X)
    names = est.get_feature_names_out()
    np.testing.assert_array_equal(est.get_feature_names_out([f"x{i}" for i in range(12)]), names)
    with pytest.raises(ValueError, match="input_features should have length equal to number of features"):
        est.get_feature_names_out(["a", "b"])
    frame = pd.DataFrame(X, columns=[f"p{i}_{a}" for i in range(4) for a in "xyz"])
    est.fit(frame)
    np.testing.assert_array_equal(est.get_feature_names_out(list(frame.columns)), names)
    with pytest.raises(ValueError, match="input_features is not equal to feature_names_in_"):
        est.get_feature_names_out([f"q{i}" for i in range(12)])


def test_canonical_projection_names_follow_its_point_major_values():
    """On a DataFrame in coordinate-major order (x0..x3, y0..) the ``canonical`` projection's
    values came out point-major but were named in the input's order: every column but the
    first was mislabelled (``canonical_x1`` held the canonical ``y0``)."""
    pd = pytest.importorskip("pandas")
    P = np.random.default_rng(0).normal(size=(5, 4, 3))
    frame = pd.DataFrame(P.transpose(0, 2, 1).reshape(5, 12), columns=[f"{a}{i}" for a in "xyz" for i in range(4)])
    features = InvariantProjector("SO3", "canonical").set_output(transform="pandas").fit_transform(frame)
    forms = CanonicalizerTransformer("SO3", "pca").set_output(transform="pandas").fit_transform(frame)
    for name in forms.columns:
        np.testing.assert_allclose(features["canonical_" + name], forms[name], atol=1e-12)
