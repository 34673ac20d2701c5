"""Categorical scalar fields keep the caller's precision and meaning.

* float32 data with a categorical field stays float32 (the encoding goes through an object
  array), so canonical forms of symmetric molecules stay invariant in float32; integer
  codes of a categorical field and pandas' or polars' ``Float32`` columns keep it float32;
* ``invariance_error`` and ``equivariance_error`` hand the estimator the caller's categories
  (it encodes them with its own, from ``fit``), not codes learned from the evaluation data,
  and a DataFrame back as a DataFrame with its column names;
* orbit metrics refuse categorical layouts (a category has no distance);
* ``PointLayout.decode_categories`` inverts ``encode_categories``.
"""

import warnings

import numpy as np
import pytest

from skcanon import CanonicalizerTransformer, InvariantProjector
from skcanon.groups import get_group
from skcanon.layouts import Field, PointLayout
from skcanon.metrics import equivariance_error, invariance_error, orbit_distortion

LAYOUT = PointLayout(3, [Field("pos", "position", 3), Field("el", "scalar", 1, categorical=True)])


def _methanes(n=6, seed=0):
    """Regular tetrahedra of hydrogens (code 1) around a carbon (code 6), in random poses:
    every sample has a 12-element symmetry group, the hard case for tie rules."""
    tetra = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float) * 0.63
    atoms = np.concatenate([np.zeros((1, 3)), tetra])
    P = np.concatenate([np.repeat(atoms[None], n, 0), np.array([6, 1, 1, 1, 1], float)[None, :, None].repeat(n, 0)], 2)
    G = get_group("E3xS_n")
    return G.apply(G.sample(n, seed, n_points=5), P.reshape(n, -1), LAYOUT)


def _clouds(values, n=20, m=5, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(size=(n, m, 3)), rng.choice(values, size=(n, m, 1))], 2).reshape(n, -1)


@pytest.mark.parametrize("method", ["pca+sort", "random"])
def test_float32_with_a_categorical_field_stays_float32_and_invariant(method):
    pytest.importorskip("torch")
    X = _methanes()
    canon = CanonicalizerTransformer("E3xS_n", method, layout=LAYOUT, hidden=16, random_state=0).fit(X)
    out = canon.transform(X.astype(np.float32))
    assert out.dtype == np.float32
    G = get_group("E3xS_n")
    for k in range(4):
        moved = G.apply(G.sample(len(X), k + 1, n_points=5), X, LAYOUT).astype(np.float32)
        assert np.abs(canon.transform(moved).astype(float) - out).max() < 1e-4


def test_float32_dataframe_with_text_categories_stays_float32():
    pd = pytest.importorskip("pandas")
    layout = PointLayout.infer_from_columns(
        [f"a{i}_{c}" for i in range(2) for c in ("x", "y", "z", "element")], categorical={"a0_element", "a1_element"})
    df = pd.DataFrame({"a0_x": [0.0, 1.0], "a0_y": [0.0, 2.0], "a0_z": [1.0, 0.5], "a0_element": ["C", "O"],
                       "a1_x": [1.0, 0.0], "a1_y": [0.5, 1.0], "a1_z": [0.0, 2.0], "a1_element": ["H", "C"]})
    df32 = df.astype({c: np.float32 for c in df.columns if not c.endswith("element")})
    out = CanonicalizerTransformer("E3xS_n", "pca+sort", layout=layout).fit(df32).transform(df32)
    assert out.dtype == np.float32
    mixed = CanonicalizerTransformer("E3xS_n", "pca+sort", layout=layout).fit(df).transform(df32.astype({"a0_x": np.float64}))
    assert mixed.dtype == np.float64


def test_invariance_metrics_pass_the_callers_categories():
    X = _clouds([1.0, 6.0, 8.0])
    canon = CanonicalizerTransformer("E3xS_n", "pca+sort", layout=LAYOUT).fit(X)
    assert invariance_error(canon, X, "E3xS_n", n_trials=2, random_state=0).max < 1e-9
    assert equivariance_error(canon, X, "E3xS_n", n_trials=2, random_state=0).max < 1e-9
    # fitted on {0, 1, 2}, evaluated on data holding {1, 2} only: codes learned from the
    # evaluation data (0, 1) would silently relabel the atoms
    canon = CanonicalizerTransformer("E3xS_n", "pca+sort", layout=LAYOUT).fit(_clouds([0.0, 1.0, 2.0], seed=1))
    X12 = _clouds([1.0, 2.0], seed=2)
    seen = []
    invariance_error(lambda A: seen.append(np.unique(np.asarray(A).reshape(20, 5, 4)[..., 3])) or canon.transform(A),
                     X12, "E3xS_n", n_trials=1, random_state=0, layout=LAYOUT)
    assert all(set(s) == {1.0, 2.0} for s in seen) and len(seen) == 2


def test_invariance_error_with_text_categories():
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(size=(10, 4, 3)).astype(object),
                        rng.choice(["C", "H", "O"], size=(10, 4, 1)).astype(object)], 2).reshape(10, -1)
    canon = CanonicalizerTransformer("E3xS_n", "pca+sort", layout=LAYOUT).fit(X)
    assert invariance_error(canon, X, "E3xS_n", n_trials=2, random_state=0).max < 1e-9


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_invariance_metrics_hand_dataframes_back_with_their_names(library):
    """An estimator fitted on a DataFrame gets the moved samples as a DataFrame with the
    same column names (B92): no feature-name warnings, and named columns in any order."""
    lib = pytest.importorskip(library)
    rng = np.random.default_rng(4)
    cols = [f"atom{a}_{c}" for c in "xyz" for a in range(4)] + [f"atom{a}_element" for a in range(4)]
    data = {c: rng.normal(size=10) for c in cols[:12]}
    data.update({c: rng.choice(["C", "H", "O"], size=10) for c in cols[12:]})
    df = lib.DataFrame(data)
    canon = CanonicalizerTransformer("E3xS_n", "pca+sort").fit(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert invariance_error(canon, df, "E3xS_n", n_trials=2, random_state=0).max < 1e-9
        assert equivariance_error(canon, df, "E3xS_n", n_trials=2, random_state=0).max < 1e-9


def test_orbit_metrics_refuse_categorical_layouts():
    X = _clouds([1.0, 6.0])
    with pytest.raises(ValueError, match="categorical field.*'el'"):
        orbit_distortion(lambda A: A, X, "S_n", n_pairs=5, random_state=0, layout=LAYOUT)


@pytest.mark.parametrize("values", [[1.0, 6.0, 8.0], ["C", "H", "O"]])
def test_decode_inverts_encode(values):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(5, 3, 3)).astype(object), rng.choice(values, size=(5, 3, 1)).astype(object)],
                       2).reshape(5, -1)
    X[0, 4:8] = np.nan                                                 # an absent point
    categories = LAYOUT.learn_categories(X)
    codes = LAYOUT.encode_categories(X, categories).astype(np.float64)
    back = LAYOUT.decode_categories(codes.reshape(5, 3, 4), categories).reshape(5, -1)
    present = ~np.isnan(codes)
    assert (back[present] == X[present]).all() and np.isnan(codes[0, 4:8]).all()
    assert back.dtype == (np.float64 if isinstance(values[0], float) else object)


def test_float32_stays_float32_with_integer_codes_and_extension_dtypes():
    """Integer columns of a categorical field say nothing about the precision of the other
    columns; pandas' ``Float32`` and polars' ``Float32`` columns are float32 as numpy's are."""
    pd = pytest.importorskip("pandas")
    layout = PointLayout.infer_from_columns(
        [f"a{i}_{c}" for i in range(2) for c in ("x", "y", "z", "element")], categorical={"a0_element", "a1_element"})
    data = {"a0_x": [0.0, 1.0], "a0_y": [0.0, 2.0], "a0_z": [1.0, 0.5], "a0_element": [6, 8],
            "a1_x": [1.0, 0.0], "a1_y": [0.5, 1.0], "a1_z": [0.0, 2.0], "a1_element": [1, 6]}
    floats = [c for c in data if not c.endswith("element")]
    df = pd.DataFrame(data)
    canon = CanonicalizerTransformer("E3xS_n", "pca+sort", layout=layout).fit(df)
    assert canon.transform(df.astype({c: np.float32 for c in floats})).dtype == np.float32
    assert canon.transform(df.astype({c: "Float32" for c in floats})).dtype == np.float32
    assert canon.transform(df).dtype == np.float64
    # other columns follow numpy's promotion: int64 beside float32 needs float64
    ints = df.astype({c: np.float32 for c in floats}).astype({"a1_z": np.int64})
    assert canon.transform(ints).dtype == np.float64
    pl = pytest.importorskip("polars")
    assert canon.transform(pl.DataFrame(data).cast({c: pl.Float32 for c in floats})).dtype == np.float32
    # a polars column numpy cannot name (Datetime) gets the error about X, not numpy's
    import datetime

    bad = pl.DataFrame(data).with_columns(pl.Series("a1_z", [datetime.datetime(2020, 1, 1)] * 2))
    with pytest.raises(TypeError, match=r"X column 'a1_z' holds dates \(dtype Datetime.*\).*Convert the "
                                        r"column to numbers first \(e.g. seconds since a reference time\)"):
        canon.transform(bad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("codes", [[1.0, 6.0, 8.0], [0.0, 2.0, 5.0]])
def test_inverse_transform_gives_the_categories_back(codes, dtype):
    """transform writes codes 0..k-1; inverse_transform encoded them again as categories: a
    crash for categories {1, 6, 8} (0 unseen) and, for {0, 2, 5}, 5 came back as 1."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(6, 5, 3)), rng.choice(codes, size=(6, 5, 1))], 2).reshape(6, -1)
    X[0, 3::4] = codes[0]                           # one sample with a single category
    X = X.astype(dtype)
    canon = CanonicalizerTransformer("SE3xS_n", "pca+sort", layout=LAYOUT).fit(X)
    out, frames = canon.canonicalize(X)
    back = canon.inverse_transform(out, frames)
    P, B = X.reshape(6, 5, 4), np.asarray(back, dtype=np.float64).reshape(6, 5, 4)
    # the same points, up to their order (S_n), categories included
    for p, b in zip(P, B):
        key = lambda rows: rows[np.lexsort(np.round(rows, 4).T[::-1])]
        np.testing.assert_allclose(key(b), key(p.astype(np.float64)), atol=1e-9 if dtype == np.float64 else 1e-4)
    bad = out.copy()
    bad[0, 3] = 7.0                                 # not a code of this layout
    with pytest.raises(ValueError, match="el"):
        canon.inverse_transform(bad, frames)


def test_inverse_transform_given_categories_says_it_reads_codes():
    """inverse_transform given the categories ('C', 'H') instead of the codes transform writes
    called them categories "not seen in fit (known: [0.0, 1.0])" and said to refit."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({f"atom{i}_{c}": rng.normal(size=6) if c != "element" else rng.choice(["C", "H"], 6)
                       for i in range(3) for c in ("x", "y", "z", "element")})
    canon = CanonicalizerTransformer("SE3xS_n").fit(df)
    out, frames = canon.canonicalize(df)
    expected = (r"holds 'C', a category of field 'element' \(seen in fit, code 0\); "
                r"inverse_transform expects the integer codes .* \['C', 'H'\]")
    with pytest.raises(ValueError, match=expected) as err:
        canon.inverse_transform(df, frames)
    assert "not seen in fit" not in str(err.value) and "refit" not in str(err.value)
    bad = np.array(out, dtype=np.float64)
    bad[0, 3] = 7.0
    with pytest.raises(ValueError, match=r"holds 7.0, which is no code of field 'element'.*0 to 1"):
        canon.inverse_transform(bad, frames)


def test_object_columns_of_numbers_stay_numeric():
    """An object column that holds numbers (``astype(object)``, rows built from dicts) was
    read as a categorical field: charges became rank codes, and new values were refused."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    cols = {}
    for i in range(3):
        for a in "xyz":
            cols[f"atom{i}_{a}"] = rng.normal(size=6)
        cols[f"atom{i}_charge"] = np.round(rng.normal(size=6), 2)
    df = pd.DataFrame(cols)
    dfo = df.astype({f"atom{i}_charge": object for i in range(3)})
    fitted = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(dfo)
    assert not any(f.categorical for f in fitted.layout_.fields)
    reference = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(df)
    np.testing.assert_array_equal(fitted.transform(dfo), reference.transform(df))
    new = dfo.copy()
    new.loc[0, "atom0_charge"] = 0.123                 # a value fit never saw: a number, not a category
    np.testing.assert_array_equal(fitted.transform(new), reference.transform(new.astype(float)))
    text = df.astype({"atom0_charge": object})
    text["atom0_charge"] = ["a", "b", "a", "c", "b", "a"]
    assert any(f.categorical for f in CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(text).layout_.fields)


def test_which_object_columns_count_as_numbers():
    """The kinds of object column the fast path (pandas' scan) and the exact loop must agree
    on: numbers with NaN are numbers; None, NA, booleans and text are not."""
    pd = pytest.importorskip("pandas")
    from fractions import Fraction

    from skcanon._validation import non_numeric_columns

    columns = {"ints": [1, 2], "mixed": [1, 2.5], "int_nan": [1, np.nan], "numpy": [np.float32(1), np.int64(2)],
               "fraction": [Fraction(1, 2), 1], "none": [1.0, None], "na": [1, pd.NA], "bool": [True, 1],
               "text": [1, "a"]}
    frame = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})
    assert non_numeric_columns(frame) == ["none", "na", "bool", "text"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_category_columns_of_numbers_are_categorical(dtype):
    """A pandas ``category`` column of numbers (atomic numbers) has dtype kind "O" and was read
    as an object column of numbers: the field became a plain scalar (the values, not codes),
    float32 positions came out float64, and a category fit never saw passed silently."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    cols = {}
    for i in range(3):
        for a in "xyz":
            cols[f"atom{i}_{a}"] = rng.normal(size=6).astype(dtype)
        cols[f"atom{i}_element"] = pd.Categorical(rng.choice([1, 6, 8], size=6))
    df = pd.DataFrame(cols)
    before = df.copy()
    for Estimator in (CanonicalizerTransformer, InvariantProjector):
        fitted = Estimator("E3xS_n").fit(df)
        assert [f.categorical for f in fitted.layout_.fields] == [False, True]
        assert list(fitted.categories_["element"]) == [1, 6, 8]
        out = fitted.transform(df)
        assert out.dtype == dtype
        if Estimator is CanonicalizerTransformer:     # codes, not the atomic numbers
            assert set(np.unique(out.reshape(6, 3, 4)[..., 3])) == {0.0, 1.0, 2.0}
        unseen = df.copy()
        unseen["atom0_element"] = pd.Categorical([7] + list(df["atom0_element"][1:]))
        with pytest.raises(ValueError, match="'atom0_element' holds 7.*not seen in fit"):
            fitted.transform(unseen)
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize("frame", [False, True])
def test_float32_data_finds_categories_learned_in_float64(frame):
    """Categories fit learned from float64 data (0.1) are held as float32 rounds them
    (0.10000000149) in float32 data: transform refused them as unseen."""
    pd = pytest.importorskip("pandas")
    X = _clouds([0.1, 0.2, 0.7])
    if frame:
        X = pd.DataFrame(X, columns=[f"p{i}_{c}" for i in range(5) for c in ("x", "y", "z", "el")])
    canon = CanonicalizerTransformer("E3xS_n", "pca+sort", layout=LAYOUT).fit(X)
    X32 = X.astype(np.float32)
    before = np.asarray(X32).copy()
    out = canon.transform(X32)
    assert out.dtype == np.float32
    # the codes of float64 data (positions rounded to float32 may break a near tie otherwise)
    codes = np.sort(out.reshape(20, 5, 4)[..., 3], 1)
    np.testing.assert_array_equal(codes, np.sort(canon.transform(X).reshape(20, 5, 4)[..., 3], 1))
    np.testing.assert_array_equal(np.asarray(X32), before)
    # float64 data keeps matching exactly: a number near a category is a new category
    near = np.array(X)
    near[0, 3] = np.nextafter(near[0, 3], 1.0)
    near = pd.DataFrame(near, columns=X.columns) if frame else near
    with pytest.raises(ValueError, match="not seen in fit"):
        canon.transform(near)
    # two categories that float32 cannot tell apart: refused, not guessed
    close = _clouds([0.1, 0.1 + 1e-12])
    canon = CanonicalizerTransformer("E3xS_n", "pca+sort", layout=LAYOUT).fit(close)
    with pytest.raises(ValueError, match=r"column 3 holds .* in float32, which matches each of the categories"):
        canon.transform(close.astype(np.float32))
