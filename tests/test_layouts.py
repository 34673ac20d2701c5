"""Layouts: how columns map to points, fields, graph nodes and pixels, and what their errors say."""

import re

import numpy as np
import pytest

from skcanon.layouts import FibreLayout, Field, GraphLayout, ImageLayout, PointLayout, as_layout


# -- Field -----------------------------------------------------------------------------------------
def test_field_categorical_flag():
    assert Field("charge", "scalar", 1).categorical is False
    f = Field("element", "scalar", 1, categorical=True)
    assert f.categorical is True and f.component_names(3) == ["element"]
    with pytest.raises(ValueError, match="only scalar fields can be categorical"):
        Field("vel", "vector", 3, categorical=True)
    with pytest.raises(ValueError, match="categorical must be True or False"):
        Field("element", "scalar", 1, categorical="yes")


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "a", "kind": "tensor", "size": 1}, "Field.kind"),
    ({"name": "a", "kind": "scalar", "size": 0}, "positive int"),
])
def test_field_rejects_bad_kinds_and_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Field(**kwargs)


@pytest.mark.parametrize("name, error, shown", [("", ValueError, "''"), (None, TypeError, "None of type NoneType"),
                                                (1, TypeError, "1 of type int"), (b"q", TypeError, "b'q'")])
def test_field_name_must_be_a_non_empty_str(name, error, shown):
    """Field names were not checked: "" gave feature names ``p0_``, None became the field
    "None" (through a tuple) and Field(3, "scalar", 1) kept an int name."""
    match = r"Field.name must be a non-empty str .*got " + re.escape(shown)
    with pytest.raises(error, match=match):
        PointLayout(3, fields=[("pos", "position"), (name, "scalar")])
    with pytest.raises(error, match=match):
        Field(name, "scalar", 1)
    assert type(Field(np.str_("q"), "scalar", 1).name) is str


def test_point_layout_fields_and_slices():
    layout = PointLayout(3, fields=[("pos", "position"), ("vel", "vector"), ("charge", "scalar"),
                                    Field("element", "scalar", 1, categorical=True)])
    assert layout.width == 8
    assert layout.slice_of("vel") == slice(3, 6)
    assert [f.name for f in layout.categorical_fields] == ["element"]
    assert "element:scalar[1] categorical" in repr(layout)
    assert list(layout.feature_names(1)) == ["p0_x", "p0_y", "p0_z", "p0_vel_x", "p0_vel_y", "p0_vel_z",
                                              "p0_charge", "p0_element"]
    with pytest.raises(ValueError, match="size n_dims=3"):
        PointLayout(3, fields=[("pos", "position", 2)])
    with pytest.raises(ValueError, match="unique names"):
        PointLayout(3, fields=[("a", "scalar"), ("a", "scalar")])
    with pytest.raises(TypeError, match="categorical=True"):
        PointLayout(3, fields=["element"])


def test_flat_and_3d_round_trip():
    layout = PointLayout(2)
    X = np.arange(12.0).reshape(2, 6)
    P = layout.to_working(X)
    assert P.shape == (2, 3, 2)
    np.testing.assert_array_equal(layout.from_working(P, 2), X)
    np.testing.assert_array_equal(layout.from_working(layout.to_working(P), 3), P)


def test_width_error_suggests_the_fix():
    with pytest.raises(ValueError, match=r"not a multiple.*PointLayout\.from_columns.*fields=.*layout='image'"):
        PointLayout(3).to_working(np.zeros((2, 7)))


def test_partial_nan_error_points_at_names():
    P = np.zeros((2, 3, 3))
    P[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN inside a point \(sample 1, point 2.*PointLayout\.from_columns"):
        PointLayout(3).check_absent_rows(P)


# -- columns by name ---------------------------------------------------------------------------------
def test_from_columns_reads_any_order_and_writes_back():
    cols = ["x1", "x2", "y1", "y2", "z1", "z2"]
    layout = PointLayout.from_columns(cols)
    X = np.array([[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]])
    np.testing.assert_array_equal(layout.to_working(X), [[[1, 2, 3], [4, 5, 6]]])
    np.testing.assert_array_equal(layout.from_working(layout.to_working(X), 2), X)
    assert list(layout.feature_names(2)) == cols


def test_from_columns_errors_suggest_fields():
    cols = ["atom0_x", "atom0_y", "atom0_z", "atom0_element"]
    with pytest.raises(ValueError, match=r"'atom0_element' does not name.*fields=\[.*'element', 'scalar'\).*"
                                         r"categorical=True"):
        PointLayout.from_columns(cols)
    layout = PointLayout.from_columns(cols, fields=[("pos", "position"),
                                                    Field("element", "scalar", 1, categorical=True)])
    assert layout.width == 4
    with pytest.raises(ValueError, match=r"lack.*PointLayout\.from_columns\(columns, n_dims=\.\.\., fields"):
        PointLayout.from_columns(["x0", "y0", "z0", "x1"])
    for bad in (None, "x0"):   # None failed with "'NoneType' object is not iterable"
        with pytest.raises(TypeError, match="columns must be a sequence of column names"):
            PointLayout.from_columns(bad)


@pytest.mark.parametrize("columns, n_dims, fields", [
    (["atom0_x", "atom0_y", "atom0_z", "atom1_x", "atom1_y", "atom1_z"], 3, ["pos"]),
    (["x1", "y1", "x2", "y2"], 2, ["pos"]),
    (["p0_x", "p0_y", "p0_vel_x", "p0_vel_y", "p0_charge"], 2, ["pos", "vel", "charge"]),
    (["vel_x1", "x1", "y1", "vel_y1", "charge_1"], 2, ["vel", "pos", "charge"]),
    # the position field's own name before the axis (before: a scalar 'pos_x', or no layout)
    (["p0_pos_x", "p0_pos_y", "p0_vel_x", "p0_vel_y"], 2, ["pos", "vel"]),
    (["pos_x0", "pos_x1", "pos_y0", "pos_y1"], 2, ["pos"]),
    # vectors alone (before: no layout, so read in column order as positions)
    (["vel_x0", "vel_x1", "vel_y0", "vel_y1", "charge_0", "charge_1"], 2, ["vel", "charge"]),
])
def test_infer_from_columns(columns, n_dims, fields):
    layout = PointLayout.infer_from_columns(columns)
    assert layout.n_dims == n_dims and [f.name for f in layout.fields] == fields
    assert layout.columns == tuple(columns)
    kinds = {f.name: f.kind for f in layout.fields}
    assert kinds.get("vel", "vector") == "vector" and kinds.get("charge", "scalar") == "scalar"


def test_infer_from_columns_marks_text_columns_categorical():
    cols = ["atom0_x", "atom0_y", "atom0_z", "atom0_element", "atom1_x", "atom1_y", "atom1_z", "atom1_element"]
    layout = PointLayout.infer_from_columns(cols, categorical={"atom0_element", "atom1_element"})
    (element,) = layout.categorical_fields
    assert element.name == "element" and element.kind == "scalar"


def test_infer_from_columns_without_point_names_is_none():
    assert PointLayout.infer_from_columns(["col_0", "col_1", "col_2"]) is None
    assert PointLayout.infer_from_columns(["0", "1", "2"]) is None


@pytest.mark.parametrize("columns, n_dims, match", [
    (["x0", "y0", "z0", "label"], None, r"\['label'\] do not name a point component.*ColumnTransformer"),
    (["x0", "z0"], None, r"axes \['x', 'z'\]"),
    (["x0", "y0"], 3, r"2-D points.*n_dims=2"),
])
def test_infer_from_columns_errors_suggest_the_fix(columns, n_dims, match):
    with pytest.raises(ValueError, match=match):
        PointLayout.infer_from_columns(columns, n_dims)


# -- categories --------------------------------------------------------------------------------------
def _molecule_rows():
    cols = ["atom0_x", "atom0_element", "atom1_x", "atom1_element"]
    layout = PointLayout(1, fields=[("pos", "position"), Field("element", "scalar", 1, categorical=True)],
                         columns=cols)
    X = np.array([[0.5, "O", 1.5, "C"], [2.0, "H", np.nan, None]], dtype=object)
    return layout, X


def test_categories_are_learned_sorted_and_encoded():
    layout, X = _molecule_rows()
    cats = layout.learn_categories(X)
    assert list(cats["element"]) == ["C", "H", "O"]
    codes = layout.encode_categories(X, cats).astype(float)
    np.testing.assert_array_equal(codes[0], [0.5, 2.0, 1.5, 0.0])
    assert codes[1, 1] == 1.0 and np.isnan(codes[1, 2:]).all()  # absent atom stays absent
    assert X[0, 1] == "O"  # the caller's array is untouched


def test_unknown_category_is_a_clear_error():
    layout, X = _molecule_rows()
    cats = layout.learn_categories(X[:1])
    with pytest.raises(ValueError, match=r"column 'atom0_element' holds 'H', a category of field 'element' "
                                         r"not seen in fit \(known: \['C', 'O'\]\)"):
        layout.encode_categories(X, cats)


def test_numeric_categories_merge_int_and_float():
    layout = PointLayout(1, fields=[("pos", "position"), Field("z", "scalar", 1, categorical=True)])
    X = np.array([[0.0, 6, 1.0, 8.0]], dtype=object)
    cats = layout.learn_categories(X)
    assert list(cats["z"]) == [6, 8]
    np.testing.assert_array_equal(layout.encode_categories(np.array([[0.0, 6.0, 1.0, 8]]), cats).astype(float),
                                  [[0.0, 0.0, 1.0, 1.0]])


# -- graphs, images, fibres -------------------------------------------------------------------------
def test_graph_layout_encodes_and_refuses_larger_graphs():
    nx = pytest.importorskip("networkx")
    P, layout = GraphLayout().encode([nx.path_graph(3), nx.complete_graph(2)])
    assert P.shape == (2, 3, 4) and layout.n_nodes == 3
    assert np.isnan(P[1, 2]).all()  # absent node
    with pytest.raises(ValueError, match=r"4 nodes, more than the n_nodes=3.*GraphLayout\(n_nodes=N\)"):
        layout.encode([nx.path_graph(4)])
    with pytest.raises(ValueError, match=r"GraphLayout\(n_nodes=\.\.\.\)"):
        GraphLayout().to_working(np.zeros((1, 4)))
    assert len(layout.feature_names(3)) == 12


def test_image_layout_shapes_and_errors():
    assert ImageLayout().resolve(np.zeros((2, 16))) == (1, 4, 4)
    assert ImageLayout().resolve(np.zeros((2, 3, 4, 5))) == (3, 4, 5)
    with pytest.raises(ValueError, match=r"not a perfect square.*ImageLayout\(\(H, W\)\)"):
        ImageLayout().resolve(np.zeros((2, 15)))
    assert list(ImageLayout((2, 2)).feature_names((1, 2, 2))) == ["px_0_0", "px_0_1", "px_1_0", "px_1_1"]


def test_fibre_layout_and_as_layout():
    assert FibreLayout(4).to_working(np.zeros((2, 8))).shape == (2, 2, 4)
    assert isinstance(as_layout("graph", PointLayout()), GraphLayout)
    assert as_layout("points", PointLayout(2)) == PointLayout(2)
    with pytest.raises(ValueError, match="layout must be"):
        as_layout("pixels", PointLayout())


@pytest.mark.parametrize("shape", [(28.7, 28), (True, 5, 5), 28, "28x28", (28,), (0, 5), (-3, 4)])
def test_image_layout_shape_is_checked(shape):
    """(28.7, 28) was truncated to 28×28 and (True, 5, 5) read as one channel silently; 28 and
    "28x28" failed with Python's own errors."""
    from skcanon.layouts import ImageLayout

    with pytest.raises(ValueError, match="ImageLayout shape must be"):
        ImageLayout(shape)


def _cloud_frames(columns, P):
    import pandas as pd

    return pd.DataFrame(P.reshape(len(P), -1), columns=columns)


def test_upper_case_axis_names_are_read_by_name():
    """``X0..X3, Y0..Y3, Z0..Z3`` (coordinate-major) and ``p0_X``: read like their lower-case
    spellings (they were read in plain column order: SO(3) invariance error 3.9)."""
    from skcanon import CanonicalizerTransformer
    from skcanon.groups import get_group

    rng = np.random.default_rng(0)
    P = rng.normal(size=(6, 4, 3))
    Pg = np.einsum("nij,nmj->nmi", get_group("SO3").sample(6, 1), P)
    cols = [f"{a}{i}" for a in "XYZ" for i in range(4)]
    X, Xg = (_cloud_frames(cols, Q.transpose(0, 2, 1)) for Q in (P, Pg))
    ct = CanonicalizerTransformer("SO3", "pca").fit(X)
    assert ct.layout_.n_dims == 3 and ct.layout_.columns == tuple(cols)
    np.testing.assert_allclose(ct.transform(Xg), ct.transform(X), atol=1e-9)
    layout = PointLayout.infer_from_columns(["p0_X", "p0_Y", "p0_vel_X", "p0_vel_Y", "p0_Q"])
    assert [(f.name, f.kind) for f in layout.fields] == [("pos", "position"), ("vel", "vector"), ("Q", "scalar")]


@pytest.mark.parametrize("group", ["S_n", "SE3xS_n"])
def test_scikit_learn_default_names_read_like_an_array(group):
    """``x0..x5`` (scikit-learn's names after ``set_output(transform="pandas")``) are
    column numbers, not the axes of 1-D points: S_n sorted each coordinate on its own."""
    from skcanon import CanonicalizerTransformer

    cols = [f"x{i}" for i in range(6)]
    A = _cloud_frames(cols, np.array([[1.0, 2, 3, 4, 5, 6]]))
    B = _cloud_frames(cols, np.array([[1.0, 5, 3, 4, 2, 6]]))
    ct = CanonicalizerTransformer(group).fit(A)
    assert ct.layout_.n_dims == 3 and ct.layout_.columns is None
    as_array = CanonicalizerTransformer(group).fit(A.to_numpy())
    for Z in (A, B):
        np.testing.assert_array_equal(ct.transform(Z), as_array.transform(Z.to_numpy()))
    if group == "S_n":   # two different sets of 3-D points
        assert not np.allclose(ct.transform(A), ct.transform(B))
    assert PointLayout.infer_from_columns(cols, n_dims=1).n_dims == 1


def test_scalar_names_made_of_axis_letters_are_scalars():
    layout = PointLayout.infer_from_columns(["p0_x", "p0_y", "p0_xy", "p1_x", "p1_y", "p1_xy"])
    assert layout.n_dims == 2 and [f.name for f in layout.fields] == ["pos", "xy"]


@pytest.mark.parametrize("fields", [[("pos", "position"), ("x", "scalar")],
                                    [("a", "scalar", 2), ("a0", "scalar")]])
def test_fields_whose_column_names_clash_are_refused(fields):
    with pytest.raises(ValueError, match="same name"):
        PointLayout(3, fields=fields)


@pytest.mark.parametrize("size", [2.7, True, 0, "2"])
def test_field_size_must_be_a_positive_int(size):
    with pytest.raises(ValueError, match="Field.size must be a positive int"):
        PointLayout(3, fields=[("pos", "position"), ("q", "scalar", size)])


def test_an_upper_case_scalar_beside_lower_case_axes_stays_a_scalar():
    """``atom0_x, atom0_y, atom0_z, atom0_Z`` (Z an atomic number, as in the QM9 layout's own
    output ``p0_Z``): upper-case axis names are read as axes only in tables that name no
    axis in lower case."""
    cols = [f"atom{i}_{c}" for i in range(3) for c in ("x", "y", "z", "Z")]
    layout = PointLayout.infer_from_columns(cols)
    assert layout.n_dims == 3 and [(f.name, f.kind) for f in layout.fields] == [("pos", "position"), ("Z", "scalar")]
    explicit = PointLayout.from_columns(cols, fields=[("pos", "position"), ("Z", "scalar")])
    assert explicit.width == 4
    assert PointLayout.infer_from_columns(["p0_X", "p0_Y", "p0_Z", "p1_X", "p1_Y", "p1_Z"]).n_dims == 3


def test_position_and_vector_only_names_are_read_by_name():
    """``p0_pos_x`` with ``p0_vel_x`` was read flat as positions (velocities centred as extra
    points: an SE3 form moved by 4.6 under a translation); ``pos_x0, pos_x1, ...`` and
    vector-only ``force_x0, ...`` in coordinate-major order were read in column order."""
    pd = pytest.importorskip("pandas")
    from skcanon import CanonicalizerTransformer, InvariantProjector

    rng = np.random.default_rng(0)
    pos, vel = rng.normal(size=(5, 4, 3)), rng.normal(size=(5, 4, 3))

    def frame(pos):
        return pd.DataFrame({f"p{i}_{f}_{a}": v[:, i, k] for i in range(4) for f, v in (("pos", pos), ("vel", vel))
                             for k, a in enumerate("xyz")})
    canon = CanonicalizerTransformer("SE3", "pca").fit(frame(pos))
    assert [f.kind for f in canon.layout_.fields] == ["position", "vector"]
    moved = canon.transform(frame(pos + np.array([5.0, -3.0, 2.0])))
    np.testing.assert_allclose(moved, canon.transform(frame(pos)), atol=1e-9)
    truth = InvariantProjector("O3", "gram").fit_transform(pos.reshape(5, 12))
    for prefix in ("pos_", "force_"):
        coord_major = pd.DataFrame(pos.transpose(0, 2, 1).reshape(5, 12),
                                   columns=[f"{prefix}{a}{i}" for a in "xyz" for i in range(4)])
        np.testing.assert_allclose(InvariantProjector("O3", "gram").fit_transform(coord_major), truth, atol=1e-12)


def test_width_error_of_groups_without_a_dimension_names_n_dims():
    """'scaling' on 8 columns said "not a multiple of the 3 columns per point" without naming
    n_dims, the parameter that fixes it."""
    from skcanon import CanonicalizerTransformer

    X = np.random.default_rng(0).standard_normal((2, 8))
    with pytest.raises(ValueError, match=r"pass n_dims= \(groups without one, such as S_n or scaling, read 3\)"):
        CanonicalizerTransformer("scaling").fit(X)
    assert CanonicalizerTransformer("scaling", n_dims=2).fit(X).transform(X).shape == (2, 8)


@pytest.mark.parametrize("fields", [[("pos", "position"), ("vel", "vector")], [("pos", "position")],
                                    [("pos", "position"), ("vel", "vector"), ("q", "scalar")]])
def test_names_skcanon_writes_beyond_3d_are_read_back(fields):
    """Beyond 3-D skcanon names the axes ``p0_x0..p0_x3`` and ``p0_vel_x0..``, but only
    ``x, y, z`` were read back: a pandas-output pipeline read 4-D positions and velocities as
    10 points of positions alone (velocities taken for points) and warned that the names follow
    no pattern skcanon reads, even for plain 4-D positions."""
    import warnings

    from sklearn.pipeline import make_pipeline

    from skcanon import CanonicalizerTransformer

    layout = PointLayout(4, fields=fields)
    X = np.random.default_rng(0).normal(size=(20, 5 * layout.width))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chained = make_pipeline(CanonicalizerTransformer("T4", layout=layout),
                                CanonicalizerTransformer("SO4"))
        chained.set_output(transform="pandas").fit(X)
        out = chained.transform(X)
    assert chained[-1].n_points_ == 5
    assert chained[-1].layout_.fields == layout.fields and chained[-1].layout_.n_dims == 4
    declared = make_pipeline(CanonicalizerTransformer("T4", layout=layout),
                             CanonicalizerTransformer("SO4", layout=layout)).fit(X)
    np.testing.assert_allclose(out.to_numpy(), declared.transform(X), atol=1e-12)
    names = list(layout.feature_names(2))
    assert PointLayout.infer_from_columns(names) == PointLayout(4, fields=fields, columns=names)


def test_numbered_axes_up_to_3d_keep_their_reading():
    """``x0, x1, x2`` are not how skcanon names 3-D axes (it writes ``x, y, z``): such names
    still describe no layout, and 4-D names for a 3-D group are refused by name."""
    cols3 = [f"p{i}_x{k}" for i in range(2) for k in range(3)]
    assert PointLayout.infer_from_columns(cols3) is None
    cols4 = [f"p{i}_x{k}" for i in range(2) for k in range(4)]
    with pytest.raises(ValueError, match=r"name 4-D points \(x0, x1, x2, x3\), but 3-D points were expected"):
        PointLayout.infer_from_columns(cols4, n_dims=3)


def test_columns_naming_one_axis_and_other_values_say_how_to_read_them():
    """Columns Z0..Z2, y0..y2 under S_n were refused with "point columns name the axes ['y'];
    positions need ['x']", which named neither the columns nor a layout that reads them; the
    layout the message suggests reads them, and S_n acts on those points."""
    pd = pytest.importorskip("pandas")
    from skcanon import CanonicalizerTransformer, InvariantProjector

    X = np.random.default_rng(0).normal(size=(5, 6))
    frame = pd.DataFrame(X, columns=["Z0", "Z1", "Z2", "y0", "y1", "y2"])
    for est in (CanonicalizerTransformer("S_n"), InvariantProjector("S_n", "sort")):
        read = "(columns read: ['Z0', 'Z1', 'Z2'] as the per-point value 'Z'; ['y0', 'y1', 'y2'] as axis 'y')"
        declared = "layout=PointLayout.from_columns(columns, fields=[('Z', 'scalar'), ('y', 'scalar')])"
        with pytest.raises(ValueError, match=re.escape(read) + ".*" + re.escape(declared)):
            est.fit(frame)
    layout = PointLayout.from_columns(frame.columns, fields=[("Z", "scalar"), ("y", "scalar")])
    canon = CanonicalizerTransformer("S_n", layout=layout).fit(frame)
    out = canon.transform(frame)
    # the points are (Z_i, y_i): relabelling them leaves the canonical form unchanged
    moved = frame[["Z2", "Z0", "Z1", "y2", "y0", "y1"]].set_axis(frame.columns, axis=1)
    np.testing.assert_array_equal(canon.transform(moved), out)
    pairs = np.stack([out[:, :3], out[:, 3:]], axis=-1)   # the output keeps the caller's columns
    for i in range(5):
        expected = sorted(zip(X[i, :3], X[i, 3:]))
        np.testing.assert_array_equal(sorted(map(tuple, pairs[i])), expected)


@pytest.mark.parametrize("shape", [(8, 8, 3), (28, 28, 1), (5, 6, 4)])
def test_channels_last_images_are_refused_not_read_as_channels(shape):
    """(n, H, W, C) images fitted with layout="image" were read as H channels of W×C pixels
    (only a warning about non-square C4 rotations); a last axis of at most 4, smaller than
    both others, is refused unless the layout declares that shape."""
    from skcanon import CanonicalizerTransformer, InvariantProjector

    X = np.random.default_rng(0).random((3,) + shape)
    before = X.copy()
    H, W, C = shape
    for est in (CanonicalizerTransformer("C2", layout="image"), InvariantProjector("C2", layout="image")):
        looks = re.escape(f"X has shape (n_samples, {H}, {W}, {C}), which looks like channels-last images")
        with pytest.raises(ValueError, match=looks + r".*np\.moveaxis\(X, -1, 1\)"):
            est.fit(X)
        fitted = type(est)("C2", layout="image").fit(np.moveaxis(X, -1, 1))
        assert fitted.layout_.shape == (C, H, W)
        with pytest.raises(ValueError, match=r"but the layout expects .*channels last\?"):
            fitted.transform(X)
        # declared, the shape is read as given
        declared = type(est)("C2", layout=ImageLayout(shape)).fit(X)
        assert declared.layout_.shape == shape
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("shape", [(3, 8, 8), (3, 8, 4), (4, 8, 4), (8, 2, 2), (1, 5, 3), (2, 3, 3)])
def test_channels_first_images_are_read_as_before(shape):
    layout = ImageLayout()
    assert layout.resolve(np.zeros((2,) + shape)) == shape
