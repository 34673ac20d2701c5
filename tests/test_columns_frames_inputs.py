"""Reading DataFrame columns by name (skcanon._columns) and the input checks of the public
frame-set functions (skcanon.frames).

* a DataFrame ``y`` whose columns name a vector field (``force_x0``, ``p0_force_x``) in
  component-major order was read flat, in column order (train error 4.18 against |F| 4.79);
* an explicit ``PointLayout`` whose field names are not the DataFrame's (``v`` declared,
  ``vel_x0`` columns) read component-major columns flat, silently;
* ``skcanon.frames`` did not check its inputs: a missing canonicalizer or ``elements``, the
  public fitted transformer, a flat or too narrow ``P`` failed deep inside or not at all.
"""

import re

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skcanon import CanonicalizerTransformer, EquivariantRegressor, FrameAveragingRegressor
from skcanon import frames as F
from skcanon._columns import named_point_layout, point_major_order
from skcanon.layouts import PointLayout

pd = pytest.importorskip("pandas")

N, K = 60, 4


def _clouds(n=N, k=K, seed=0, kind="generic"):
    rng = np.random.default_rng(seed)
    if kind == "generic":
        return rng.normal(size=(n, k, 3)) * [3.0, 2.0, 1.0]
    # a square in the xy-plane, turned and shifted: mirror-symmetric along two axes
    square = np.array([[1.0, 1, 0], [-1, 1, 0], [-1, -1, 0], [1, -1, 0]])[:k]
    Q = np.linalg.qr(rng.normal(size=(n, 3, 3)))[0]
    return np.einsum("mk,nlk->nml", square, Q) + rng.normal(size=(n, 1, 3))


def _component_major(A, names):
    """``(n, k, 3)`` as a DataFrame whose columns are ``names`` (component-major)."""
    return pd.DataFrame(A.transpose(0, 2, 1).reshape(len(A), -1), columns=names)


# -- 1. y whose columns name a vector field, component-major -------------------------------------
SPELLINGS = {"force_x0": lambda k: [f"force_{c}{i}" for c in "xyz" for i in range(k)],
             "p0_force_x": lambda k: [f"p{i}_force_{c}" for c in "xyz" for i in range(k)]}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
@pytest.mark.parametrize("estimator", ["equivariant", "equivariant_force", "frame_averaging"])
def test_vector_named_targets_are_read_by_name(estimator, spelling, dtype):
    """Force columns named ``force_x0..force_z3`` (or ``p0_force_x``...) in component-major
    order did not parse as positions and were read flat: train error 4.18
    (EquivariantRegressor) / 4.89 (FrameAveragingRegressor) against |F| 4.79; the same data
    as an array: 1.7e-5. They are read by name now, predictions in y's column order."""
    P = _clouds()
    Fo = 0.5 * (P - P.mean(1, keepdims=True))
    ydf = _component_major(Fo, SPELLINGS[spelling](K)).astype(dtype)
    before = ydf.copy()
    X = P.reshape(N, -1).astype(dtype)
    if estimator == "frame_averaging":
        make = lambda: FrameAveragingRegressor(group="SE3", target="vector")  # noqa: E731
    else:
        target = PointLayout(3, fields=[("force", "vector")]) if estimator == "equivariant_force" else None
        make = lambda: EquivariantRegressor(target_layout=target)  # noqa: E731
    by_name = make().fit(X, ydf)
    plain = make().fit(X, Fo.reshape(N, -1).astype(dtype))
    expected = plain.predict(X).reshape(N, K, 3).transpose(0, 2, 1).reshape(N, -1)
    tol = 1e-8 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(by_name.predict(X), expected, atol=tol * np.abs(Fo).max())
    if estimator != "equivariant":   # a vector target (the default target is positions)
        np.testing.assert_allclose(by_name.predict(X), ydf.to_numpy(), atol=1e-3 * np.abs(Fo).max())
    pd.testing.assert_frame_equal(ydf, before)   # the caller's data is left alone


@pytest.mark.parametrize("kind", ["generic", "square"])
def test_target_names_pair_with_the_target_layout(kind):
    """With the target's layout (what the estimators pass), its own components are read by
    name, other field names pair with its fields of the same size, and names that do not
    fit are refused instead of read flat."""
    P = _clouds(5, kind=kind)
    vec = PointLayout(3, fields=[("vec", "vector")])
    for names in (SPELLINGS["force_x0"](K), SPELLINGS["p0_force_x"](K),
                  [f"{c}{i}" for c in "xyz" for i in range(K)],
                  [f"vec_{c}{i}" for c in "xyz" for i in range(K)]):
        ydf = _component_major(P, names)
        for target in (vec, 3, PointLayout(3)):
            order = point_major_order(target, ydf)
            np.testing.assert_array_equal(ydf.to_numpy()[:, order].reshape(5, K, 3), P)
    # two fields, component-major, named as the target's
    q = np.arange(5 * K, dtype=float).reshape(5, K)
    both = pd.concat([_component_major(P, [f"{c}{i}" for c in "xyz" for i in range(K)]),
                      pd.DataFrame(q, columns=[f"q{i}" for i in range(K)])], axis=1)
    layout = PointLayout(3, fields=[("pos", "position"), ("q", "scalar")])
    order = point_major_order(layout, both)
    np.testing.assert_array_equal(both.to_numpy()[:, order].reshape(5, K, 4),
                                  np.concatenate([P, q[..., None]], axis=2))
    # point-major, but the fields in another order than the target's: read by name
    V = -P
    cols = [f"p{i}_{c}" for i in range(K) for c in ["vel_x", "vel_y", "vel_z", "x", "y", "z"]]
    frame = pd.DataFrame(np.concatenate([V, P], 2).reshape(5, -1), columns=cols)
    order = point_major_order(PointLayout(3, fields=[("pos", "position"), ("vel", "vector")]), frame)
    np.testing.assert_array_equal(frame.to_numpy()[:, order].reshape(5, K, 6), np.concatenate([P, V], 2))
    # a target layout with columns reads them itself: no second reordering
    named = PointLayout.from_columns(list(both.columns), fields=layout.fields)
    assert point_major_order(named, both) is None
    # names that name no points stay flat, in their order; so do point-major ones
    for cols in ([f"y{i}" for i in range(12)], [f"x{i}" for i in range(12)], list("abcdefghijkl"),
                 [f"p{i}_force_{c}" for i in range(K) for c in "xyz"]):
        assert point_major_order(vec, pd.DataFrame(np.zeros((2, 12)), columns=cols)) is None
    one_point = pd.DataFrame(np.zeros((2, 3)), columns=["force_x0", "force_y0", "force_z0"])
    assert point_major_order(vec, one_point) is None
    # names that name points which do not fit: an error naming y and the target's fields
    misfits = ([f"{c}{i}" for c in "xy" for i in range(6)],                  # 2-D points
               [f"{c}{i}" for c in "xyz" for i in range(K)][:-1],            # z3 missing
               list(both.columns))                                            # a field too many
    for cols in misfits:
        frame = pd.DataFrame(np.zeros((2, len(cols))), columns=cols)
        with pytest.raises(ValueError, match=r"y's columns name .*vec:vector\[3\].*y\.to_numpy\(\)"):
            point_major_order(vec, frame)


def test_estimators_refuse_target_names_that_do_not_fit():
    """Two-dimensional point names for 3-D targets were read flat (x0, x1, x2 as one point)."""
    P = _clouds()
    ydf = pd.DataFrame(np.random.default_rng(1).normal(size=(N, 12)),
                       columns=[f"{c}{i}" for c in "xy" for i in range(6)])
    for est in (EquivariantRegressor(), FrameAveragingRegressor(group="SE3", target="position")):
        with pytest.raises(ValueError, match=r"y's columns name 2-D points.*(3-D|position\[3\])"):
            est.fit(P.reshape(N, -1), ydf)


# -- 2. an explicit PointLayout whose field names are not the DataFrame's ---------------------------
def _pos_vel(n=20, kind="generic"):
    P = _clouds(n, kind=kind)
    V = np.random.default_rng(1).normal(size=P.shape)
    names = ([f"{c}{i}" for c in "xyz" for i in range(K)] + [f"vel_{c}{i}" for c in "xyz" for i in range(K)])
    values = np.concatenate([P.transpose(0, 2, 1).reshape(n, -1), V.transpose(0, 2, 1).reshape(n, -1)], 1)
    df = pd.DataFrame(values, columns=names)
    return P, V, df


@pytest.mark.parametrize("kind", ["generic", "square"])
def test_explicit_layout_with_other_field_names_is_refused(kind):
    """``fields=[..., ("v", "vector")]`` with ``vel_x0..`` columns (component-major): the
    names were not read and the table was read flat, in column order — wrong canonical
    forms, no warning. Now a ValueError names the fields the columns name."""
    P, V, df = _pos_vel(kind=kind)
    before = df.copy()
    layout = PointLayout(3, fields=[("pos", "position"), ("v", "vector")])
    with pytest.raises(ValueError, match=r"pos:position\[3\], vel:vector\[3\].*'vel_x0'.*"
                                         r"fields=\[\('pos', 'position'\), \('vel', 'vector'\)\].*to_numpy"):
        CanonicalizerTransformer("SE3", layout=layout).fit(df)
    with pytest.raises(ValueError, match=r"vel:vector"):
        named_point_layout(layout, df)
    pd.testing.assert_frame_equal(df, before)
    # the same names declared: read by name, as before
    good = PointLayout(3, fields=[("pos", "position"), ("vel", "vector")])
    out = CanonicalizerTransformer("SE3", layout=good).fit(df).transform(df)
    ref = CanonicalizerTransformer("SE3", layout=good).fit_transform(
        np.concatenate([P, V], 2).reshape(len(P), -1))
    np.testing.assert_allclose(out.reshape(len(P), 2, 3, K).transpose(0, 3, 1, 2).reshape(len(P), -1), ref,
                               atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_explicit_layout_keeps_reading_other_names_in_column_order(dtype):
    """Names that name no point (``a``..., ``f0``..., scikit-learn's ``x0..x11``), points in
    other dimensions (documented: ``PointLayout(3)`` reads ``x1, y1, x2...`` in order) and
    point-major names of fields of the layout's kinds keep the flat reading."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 24)).astype(dtype)
    layout = PointLayout(3, fields=[("pos", "position"), ("v", "vector")])
    flat = CanonicalizerTransformer("SE3", layout=layout).fit(X).transform(X)
    point_major = [f"p{i}_{c}" for i in range(K) for c in ["x", "y", "z", "vel_x", "vel_y", "vel_z"]]
    for cols in (list("abcdefghijklmnopqrstuvwx"), [f"f{i}" for i in range(24)], [f"x{i}" for i in range(24)],
                 [f"{c}{i}" for i in range(12) for c in "xy"], point_major):
        df = pd.DataFrame(X, columns=cols)
        assert named_point_layout(layout, df) is None
        out = CanonicalizerTransformer("SE3", layout=layout).fit(df).transform(df)
        np.testing.assert_array_equal(out, flat)


# -- 3. skcanon.frames checks its inputs --------------------------------------------------------------
SPEC = F.parse_group("SE3")
LAYOUT = PointLayout(3)


def _fitted(P):
    return CanonicalizerTransformer(SPEC.geometric, "pca").fit(P.reshape(len(P), -1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["generic", "square"])
@pytest.mark.parametrize("frames", ["pca", "minimal", "sampled"])
def test_frame_functions_take_the_public_transformer(frames, kind, dtype):
    """Only the private ``canonicalizer_`` worked; the fitted transformer raised TypeError
    (its ``canonicalize`` takes other arguments)."""
    P = _clouds(6, kind=kind).astype(dtype)
    before = P.copy()
    ct = _fitted(P)
    el = F.haar_elements(3, SPEC, 0) if frames == "sampled" else None
    a = F.frame_forms(P, LAYOUT, SPEC, frames, canonicalizer=ct, elements=el)
    b = F.frame_forms(P, LAYOUT, SPEC, frames, canonicalizer=ct.canonicalizer_, elements=el)
    np.testing.assert_array_equal(a.Q, b.Q)
    np.testing.assert_array_equal(a.weights, b.weights)
    fs = F.frame_set(P, LAYOUT, SPEC, frames, canonicalizer=ct, elements=el)
    np.testing.assert_array_equal(fs.R, a.frames.R)
    np.testing.assert_array_equal(P, before)


def test_frame_functions_name_a_missing_or_wrong_canonicalizer_and_elements():
    P = _clouds(6)
    with pytest.raises(ValueError, match=r"frames='pca'.*needs canonicalizer=.*CanonicalizerTransformer"):
        F.frame_set(P, LAYOUT, SPEC, "pca")   # was AttributeError: 'NoneType' ... 'canonicalize'
    with pytest.raises(NotFittedError, match="canonicalizer is a CanonicalizerTransformer that is not"):
        F.frame_set(P, LAYOUT, SPEC, "pca", canonicalizer=CanonicalizerTransformer("SE3", "pca"))
    for other in (CanonicalizerTransformer("SO3", "pca").fit(P.reshape(6, -1)),
                  CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(P.reshape(6, -1)), "pca"):
        with pytest.raises(TypeError, match=r"canonicalizer must be the PCA canonicalizer of spec"):
            F.frame_set(P, LAYOUT, SPEC, "minimal", canonicalizer=other)
    ct = _fitted(P)
    with pytest.raises(ValueError, match=r"frames='sampled' needs elements=.*\(k, 3, 3\)"):
        F.frame_set(P, LAYOUT, SPEC, "sampled", canonicalizer=ct)   # was TypeError: len() of unsized object
    bad = {"shape": (np.eye(3), r"shape \(k, 3, 3\).*got shape \(3, 3\)"),
           "not orthogonal": (2 * F.haar_elements(2, SPEC, 0), "orthogonal"),
           "reflection": (-F.haar_elements(2, SPEC, 0), "determinant"),
           "nan": (np.full((2, 3, 3), np.nan), "finite")}
    for elements, match in bad.values():
        with pytest.raises(ValueError, match=match):
            F.frame_set(P, LAYOUT, SPEC, "sampled", canonicalizer=ct, elements=elements)
    with pytest.raises(ValueError, match="sharpness must be a positive"):
        F.frame_set(P, LAYOUT, SPEC, "weighted", sharpness=0.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_frame_functions_check_the_shape_of_p_against_the_layout(dtype):
    """A flat P raised numpy's AxisError; a width-2 P with PointLayout(3) returned 2x2 frames."""
    P = _clouds(6).astype(dtype)
    for frames in ("weighted", "pca"):
        ct = _fitted(P) if frames == "pca" else None
        for shape, bad in (("flat", P.reshape(6, -1)), ("narrow", P[..., :2]), ("1-D", P.reshape(-1))):
            with pytest.raises(ValueError, match=r"P must have shape \(n_samples, n_points, 3\).*got shape"):
                F.frame_set(bad, LAYOUT, SPEC, frames, canonicalizer=ct)
    with pytest.raises(ValueError, match=r"layout has n_dims=2.*3 dimensions"):
        F.frame_set(P[..., :2], PointLayout(2), SPEC, "weighted")
    with pytest.raises(TypeError, match="layout must be a PointLayout"):
        F.frame_set(P, "points", SPEC, "weighted")
    with pytest.raises(TypeError, match=r"spec must be a GroupSpec from parse_group"):
        F.frame_set(P, LAYOUT, "SE3", "weighted")
    with pytest.raises(TypeError, match="P must be a real numeric array"):
        F.frame_set(P.astype(complex), LAYOUT, SPEC, "weighted")
    # the functions that apply a frame set check their arrays against it too
    ff = F.frame_forms(P, LAYOUT, SPEC, "weighted")
    with pytest.raises(ValueError, match=r"P has 5 samples; expected 6"):
        F.canonical_forms(ff.frames, P[:5], LAYOUT, SPEC)
    with pytest.raises(ValueError, match=r"P must have shape"):
        F.apply_frames(ff.frames, P.reshape(6, -1), LAYOUT, SPEC, ff.rows)
    with pytest.raises(ValueError, match=r"Y must have shape"):
        F.to_frames(ff.frames, P[..., :2], LAYOUT, SPEC, ff.rows, ff.order)
    with pytest.raises(ValueError, match=r"Yc has 6 samples; expected \d+, the rows of rows"):
        F.map_back(ff.frames, P, LAYOUT, SPEC, ff.rows, ff.order)
    # valid calls are unchanged: map_back after to_frames is the identity
    Y = F.to_frames(ff.frames, P, LAYOUT, SPEC, ff.rows, ff.order)
    back = F.map_back(ff.frames, Y, LAYOUT, SPEC, ff.rows, ff.order)
    np.testing.assert_allclose(back, P[ff.rows[0]], atol=1e-9 if dtype == np.float64 else 1e-4)


def test_a_layout_from_columns_reads_a_frame_by_name():
    """``PointLayout.from_columns(names)`` on a DataFrame holding the same names in another
    order was applied by position: the points were scrambled (Gram matrices off by up to 7.5),
    silently. The frame is read by name now; other names are refused."""
    from skcanon import InvariantProjector
    from skcanon.metrics import invariance_error

    P = np.random.default_rng(0).normal(size=(5, 4, 3))
    point_major = [f"{a}{i}" for i in range(4) for a in "xyz"]
    coord_major = [f"{a}{i}" for a in "xyz" for i in range(4)]
    frame = pd.DataFrame(P.transpose(0, 2, 1).reshape(5, 12), columns=coord_major)
    layout = PointLayout.from_columns(point_major)
    truth = InvariantProjector("O3", "gram").fit_transform(P.reshape(5, 12))
    proj = InvariantProjector("O3", "gram", layout=layout).fit(frame)
    np.testing.assert_allclose(proj.transform(frame), truth, atol=1e-12)
    assert list(proj.feature_names_in_) == coord_major  # the caller's names, in the caller's order
    canon = CanonicalizerTransformer("SO3", "pca", layout=layout).fit(frame)
    forms = CanonicalizerTransformer("SO3", "pca").fit_transform(P.reshape(5, 12))
    # the output's columns are the fit's (the caller's order), as with layout=None
    in_frame_order = forms.reshape(5, 4, 3).transpose(0, 2, 1).reshape(5, 12)
    np.testing.assert_allclose(canon.transform(frame), in_frame_order, atol=1e-12)
    # an array in the fit's column order is read as the frame was (it was read in the
    # layout's order: off by up to 3.4), and the pandas output goes back through inverse_transform
    with pytest.warns(UserWarning, match="valid feature names"):
        np.testing.assert_allclose(canon.transform(frame.to_numpy()), in_frame_order, atol=1e-12)
        np.testing.assert_allclose(proj.transform(frame.to_numpy()), truth, atol=1e-12)
    assert list(canon.get_feature_names_out()) == coord_major
    out, frames = canon.set_output(transform="pandas").canonicalize(frame)
    canon.set_output(transform="default")
    np.testing.assert_allclose(canon.inverse_transform(pd.DataFrame(out, columns=coord_major), frames), frame,
                               atol=1e-12)
    # functions read it the same way
    assert invariance_error(lambda X: proj.transform(X), frame, "O3", layout=layout, random_state=0).max < 1e-9
    renamed = frame.rename(columns={"x0": "a0"})
    with pytest.raises(ValueError, match=r"missing \['x0'\], unexpected \['a0'\]"):
        InvariantProjector("O3", "gram", layout=layout).fit(renamed)


@pytest.mark.parametrize("dtype", ["Float64", "Int64"])
def test_nullable_frames_of_images_and_fibres_are_read(dtype):
    """pandas' nullable columns on image and fibre layouts failed with a bare
    AttributeError ('ImageLayout' object has no attribute '_flat_columns')."""
    from skcanon import InvariantProjector

    values = np.random.default_rng(0).integers(0, 9, size=(5, 16))
    frame = pd.DataFrame(values).astype(dtype)
    plain = pd.DataFrame(values.astype(np.float64))
    canon = CanonicalizerTransformer("C4", "moments", layout="image")
    np.testing.assert_array_equal(canon.fit_transform(frame), canon.fit_transform(plain))
    proj = InvariantProjector("C4", "bispectrum", layout="fibre")
    np.testing.assert_array_equal(proj.fit_transform(frame), proj.fit_transform(plain))


def test_a_one_dimensional_target_gets_no_advice_meant_for_x():
    """A 1-D ``y`` for point targets was told to ``X.reshape(1, -1)``."""
    pytest.importorskip("skorch")
    from skcanon import EndToEndEquivariantRegressor

    X = np.random.default_rng(0).normal(size=(40, 12))
    with pytest.raises(ValueError, match=r"y must be 2-D .* got an array of shape \(40,\)\.$") as info:
        EndToEndEquivariantRegressor(max_epochs=1).fit(X, X[:, 0])
    assert "reshape" not in str(info.value)


def test_frame_sets_refuse_nan_inside_points_and_infinity():
    """A NaN coordinate (not a whole absent row) gave NaN weights and dropped the sample's
    forms silently with ``"weighted"`` frames; infinity gave NaN frames; ``"pca"`` called
    a NaN an infinite coordinate; no points at all failed inside numpy."""
    spec = F.parse_group("E3")
    P = np.random.default_rng(0).normal(size=(2, 5, 3))
    for bad, match in ((np.nan, "NaN inside a point"), (np.inf, "infinity")):
        Q = P.copy()
        Q[0, 1, 2] = bad
        for kind in ("weighted", "pca"):
            with pytest.raises(ValueError, match=match):
                F.frame_set(Q, PointLayout(3), spec, kind)
    with pytest.raises(ValueError, match="no points"):
        F.frame_set(np.zeros((1, 0, 3)), PointLayout(3), spec, "weighted")


def test_public_frame_helpers_check_their_arguments():
    spec = F.parse_group("SE3")
    for call in (lambda: F.check_kind("SE3", "pca"), lambda: F.haar_elements(2, "SE3", 0),
                 lambda: F.symmetric_candidates(np.zeros((1, 3, 3)), PointLayout(3), "SE3")):
        with pytest.raises(TypeError, match="spec must be a GroupSpec"):
            call()
    for k in (-1, 0):   # zero frames were accepted here and refused by frame_forms
        with pytest.raises(ValueError, match="k must be an int >= 1"):
            F.haar_elements(k, spec, 0)
    with pytest.raises(ValueError, match="float32 or float64"):
        F.tie_runs(np.zeros((1, 3, 3), dtype=int))
    with pytest.raises(ValueError, match=r"shape \(n_samples, n_points, 3\)"):
        F.repeated_spread(np.zeros((1, 3, 2)), PointLayout(3))
    assert "average over what the frame leaves" in F.map_back.__doc__


def _sorted_frame_forms(dtype, tie=True):
    """Frame forms under SE3xS_n of 4 clouds of 5 points, the second with a repeated point."""
    P = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(dtype)
    if tie:
        P[1, 1] = P[1, 0]
    spec = F.parse_group("SE3xS_n")
    ct = CanonicalizerTransformer("SE3", "pca").fit(P.reshape(4, -1))
    return P, spec, F.frame_forms(P, LAYOUT, spec, "pca", canonicalizer=ct)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_map_back_keeps_the_dtype_of_yc_with_tied_points(dtype):
    """Tied points share the mean of their run, which was computed in float64: float32 Yc
    came back float64 only where a sample had tied points."""
    _, spec, ff = _sorted_frame_forms(dtype)
    assert ff.Q.dtype == dtype
    runs = ff.order[1]
    assert (runs[:, -1] < runs.shape[1] - 1).any()    # the repeated point is a tie
    back = F.map_back(ff.frames, ff.Q, LAYOUT, spec, ff.rows, ff.order)
    assert back.dtype == dtype
    keep = ff.rows[0] != 1                            # without the tie: as before
    rows, order = (ff.rows[0][keep], ff.rows[1][keep]), ff.order.select(keep)
    assert F.map_back(ff.frames, ff.Q[keep], LAYOUT, spec, rows, order).dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_frame_functions_check_rows_and_order(dtype):
    """rows and order were used unchecked: indices out of range, float or mismatched rows and
    orders of the wrong shape gave numpy's IndexError or broadcast/reshape errors, and
    negative indices wrapped silently."""
    P, spec, ff = _sorted_frame_forms(dtype, tie=False)
    fs, n = ff.frames, len(ff.rows[0])
    i, j = ff.rows
    bad_rows = {
        "none": (None, TypeError, "rows must be a pair"),
        "one array": (i, TypeError, "rows must be a pair"),
        "frame out of range": ((i, j + 99), ValueError, r"rows\[1\] holds indices .*fs\.weights has shape"),
        "sample out of range": ((i + 9, j), ValueError, r"rows\[0\] holds indices .* 4 samples"),
        "negative": ((i - 1, j), ValueError, r"rows\[0\] holds indices from -1"),
        "float": ((i.astype(float), j), TypeError, r"rows\[0\] has dtype float64"),
        "2-D": ((i[:, None], j), ValueError, r"rows\[0\] has shape"),
        "lengths": ((i, j[:-1]), ValueError, "equal length.*got lengths"),
    }
    for rows, error, match in bad_rows.values():
        with pytest.raises(error, match=match):
            F.apply_frames(fs, P, LAYOUT, spec, rows)
        with pytest.raises(error, match=match):
            F.to_frames(fs, P, LAYOUT, spec, rows, None)
        with pytest.raises(error, match=match):
            F.map_back(fs, ff.Q, LAYOUT, spec, rows, None)
    perm = np.asarray(ff.order[0])
    bad_orders = {
        "few rows": ((np.zeros((2, 5), int), np.zeros((2, 5), int)), ValueError,
                     rf"\({n}, n_points\).*order\[0\]"),
        "no runs": ((perm, None), ValueError, r"order\[1\] is NoneType"),
        "runs of another shape": ((perm, perm[:, :2]), ValueError, r"order\[1\] is ndarray of shape"),
        "float perm": ((perm.astype(float), perm), TypeError, r"order\[0\] has dtype float64"),
        "perm out of range": ((perm + 5, perm), ValueError, r"order\[0\] \(perm\) must order the 5 points"),
        "one array": (perm, TypeError, "order must be None or a pair"),
    }
    for order, error, match in bad_orders.values():
        with pytest.raises(error, match=match):
            F.to_frames(fs, P, LAYOUT, spec, ff.rows, order)
        with pytest.raises(error, match=match):
            F.map_back(fs, ff.Q, LAYOUT, spec, ff.rows, order)
    # valid rows and orders, frame_forms' own or as plain arrays, are read as before
    for order in (ff.order, (perm, np.asarray(ff.order[1])), [perm, np.asarray(ff.order[1])]):
        Y = F.to_frames(fs, P, LAYOUT, spec, list(ff.rows), order)
        np.testing.assert_array_equal(Y, ff.Q)
        back = F.map_back(fs, Y, LAYOUT, spec, ff.rows, order)
        np.testing.assert_allclose(back, P[i], atol=1e-9 if dtype == np.float64 else 1e-4)
    empty = (np.array([], dtype=int), np.array([], dtype=int))
    assert F.apply_frames(fs, P, LAYOUT, spec, empty)[0].shape == (0, 5, 3)


def test_tie_candidates_and_stabilizer_rows_check_their_arguments():
    """tie_candidates raised AttributeError on a list and "not enough values to unpack" on a
    2-D array; stabilizer_rows raised AttributeError on anything but frame forms."""
    W = [[[0.0, 1.0, 0.0], [0.0, 2.0, 0.0]]]
    np.testing.assert_array_equal(F.tie_candidates(W), F.tie_candidates(np.array(W)))
    for bad in (np.zeros((3, 6)), np.array(["a", "b"], dtype=object).reshape(1, 2, 1)):
        with pytest.raises(ValueError, match=r"W must be sorted canonical forms.*\(n_samples, n_points"):
            F.tie_candidates(bad)
    _, _, ff = _sorted_frame_forms(np.float64)
    for bad in (np.zeros((3, 2, 3)), ff.Q, tuple(ff)[:4]):
        with pytest.raises(TypeError, match="forms must be a FrameForms"):
            F.stabilizer_rows(bad, np.float64)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        F.stabilizer_rows(ff, np.int64)
    assert F.stabilizer_rows(ff, np.float64).shape == (len(ff.rows[0]),)


@pytest.mark.parametrize("kind", ["equivariant", "frame_averaging"])
def test_a_target_layout_with_columns_reads_y_by_name(kind):
    """A DataFrame y holding a target layout's names in another order was read by position:
    R² fell from 0.95 to 0.30 for an exactly equivariant target."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 12))
    point_major = [f"t{i}_{a}" for i in range(4) for a in "xyz"]
    coord_major = [f"t{i}_{a}" for a in "xyz" for i in range(4)]
    y = pd.DataFrame(2.0 * X, columns=point_major)
    target = PointLayout.from_columns(point_major)

    def make():
        if kind == "equivariant":
            return EquivariantRegressor(CanonicalizerTransformer("SE3", "pca"), LinearRegression(), target_layout=target)
        return FrameAveragingRegressor(LinearRegression(), group="SE3", target=target)

    reference = make().fit(X, y)
    reordered = make().fit(X, y[coord_major])
    assert reordered.score(X, y[coord_major]) == pytest.approx(reference.score(X, y), abs=1e-9)
    with pytest.raises(ValueError, match=r"y's columns are not the ones its target layout reads"):
        make().fit(X, y.rename(columns={"t0_x": "a"}))


@pytest.mark.parametrize("spelling", ["multiindex", "x.0", "atom0.x", "x[0]", "atom0-x"])
def test_point_names_of_common_table_shapes_are_read_by_name(spelling):
    """A pivoted table's MultiIndex columns (('x', 0), ...) and names such as atom0.x were
    read in column order, silently (Gram error 5.9)."""
    from skcanon import InvariantProjector

    P = np.random.default_rng(1).normal(size=(6, 4, 3))
    values = P.transpose(0, 2, 1).reshape(6, 12)                # coordinate-major columns
    pairs = [(a, i) for a in "xyz" for i in range(4)]
    names = {"multiindex": None, "x.0": "{a}.{i}", "atom0.x": "atom{i}.{a}", "x[0]": "{a}[{i}]",
             "atom0-x": "atom{i}-{a}"}[spelling]
    columns = (pd.MultiIndex.from_tuples(pairs) if names is None
               else [names.format(a=a, i=i) for a, i in pairs])
    frame = pd.DataFrame(values, columns=columns)
    truth = InvariantProjector("O3", "gram").fit_transform(P.reshape(6, 12))
    np.testing.assert_allclose(InvariantProjector("O3", "gram").fit_transform(frame), truth, atol=1e-12)


def test_names_read_as_vectors_or_axis_scalars_are_refused():
    """``vx, vy, vz`` were three scalars that SE3 did not rotate (invariance error 7.1), and
    a position field's own names ``p0_r_x`` read back as a vector gave the projector
    features that were not translation-invariant (error 59)."""
    from skcanon import InvariantProjector

    rng = np.random.default_rng(0)
    cols = {}
    for i in range(3):
        for a in "xyz":
            cols[f"p{i}_{a}"] = rng.normal(size=5)
        for a in "xyz":
            cols[f"p{i}_v{a}"] = rng.normal(size=5)
    with pytest.raises(ValueError, match=r"look like the components of a vector 'v'.*v_x"):
        CanonicalizerTransformer("SE3").fit(pd.DataFrame(cols))
    layout = PointLayout(3, fields=[("r", "position"), ("v", "vector")])
    names = list(layout.feature_names(3))
    frame = pd.DataFrame(rng.normal(size=(5, 18)), columns=names)
    with pytest.raises(ValueError, match=r"read from column names.*'position'"):
        InvariantProjector("E3", "gram").fit(frame)
    InvariantProjector("E3", "gram", layout=PointLayout.from_columns(names, fields=layout.fields)).fit(frame)


def test_inverse_transform_warns_about_filled_absent_points():
    X = np.random.default_rng(0).normal(size=(3, 4, 3))
    X[0, 3] = np.nan
    canon = CanonicalizerTransformer("SE3", "pca", fill_value=0.0).fit(X.reshape(3, -1))
    forms, frames = canon.canonicalize(X.reshape(3, -1))
    with pytest.warns(UserWarning, match="equal fill_value=0.0"):
        canon.inverse_transform(forms, frames)
    forms, frames = canon.set_params(fill_value=None).canonicalize(X.reshape(3, -1))
    np.testing.assert_allclose(canon.inverse_transform(forms, frames), X.reshape(3, -1), atol=1e-12)


def test_inputs_the_name_rules_must_keep_reading():
    """Cases that name fixes of this file must not refuse: object columns with integer
    labels, 1-D scalars whose names end in x, and a y with default labels for a target
    layout with columns (read by position, as an array)."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 6))
    out = CanonicalizerTransformer("SO2", layout=PointLayout(2)).fit_transform(pd.DataFrame(X).astype(object))
    np.testing.assert_allclose(out, CanonicalizerTransformer("SO2", layout=PointLayout(2)).fit_transform(X))
    layout = PointLayout.infer_from_columns(["p0_x", "p0_flux", "p1_x", "p1_flux"])
    assert [f.kind for f in layout.fields] == ["position", "scalar"]
    names = [f"t{i}_{a}" for i in range(2) for a in "xyz"]
    Y = 2.0 * X
    reg = EquivariantRegressor(CanonicalizerTransformer("SO3"), LinearRegression(),
                               target_layout=PointLayout.from_columns(names))
    assert reg.fit(X, pd.DataFrame(Y)).score(X, Y) == pytest.approx(1.0)


def test_inverse_transform_of_arrays_after_a_frame_fit_does_not_warn():
    """The documented round trip after a DataFrame fit warned "X does not have valid feature
    names" (canonicalize returns arrays; scikit-learn's inverse transforms take them)."""
    import warnings

    P = np.random.default_rng(0).normal(size=(5, 4, 3))
    frame = pd.DataFrame(P.reshape(5, 12), columns=[f"p{i}_{a}" for i in range(4) for a in "xyz"])
    canon = CanonicalizerTransformer("SE3", "pca").fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = canon.inverse_transform(*canon.canonicalize(frame))
    np.testing.assert_allclose(back, frame.to_numpy(), atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda n: pd.to_datetime(np.arange(n), unit="D"),
    lambda n: pd.to_datetime(np.arange(n), unit="D", utc=True),
    lambda n: pd.to_timedelta(np.arange(n), unit="s"),
], ids=["datetime64", "datetime64-utc", "timedelta64"])
def test_date_and_duration_columns_are_refused_by_name(make):
    """Date and duration columns reached a "not a number" message that spoke of categories
    and text; they are refused by dtype, naming the column and how to convert it."""
    from skcanon import InvariantProjector

    X = np.random.default_rng(0).normal(size=(6, 6))
    frame = pd.DataFrame(X, columns=["x0", "x1", "x2", "y0", "y1", "y2"])
    timed = frame.copy()
    timed["y1"] = make(6)
    before = timed.copy()
    what = "durations" if timed["y1"].dtype.kind == "m" else "dates"
    message = rf"X column 'y1' holds {what} \(dtype .*\).*Convert the column to numbers first, e.g."
    for est in (CanonicalizerTransformer("SO2", n_dims=2), InvariantProjector("S_n", "sort", n_dims=2)):
        with pytest.raises(TypeError, match=message):
            est.fit(timed)
        with pytest.raises(TypeError, match=message):
            est.fit(frame).transform(timed)
    pd.testing.assert_frame_equal(timed, before)


@pytest.mark.parametrize("dtype", ["datetime64[D]", "datetime64[us]", "timedelta64[s]"])
def test_date_and_duration_arrays_are_refused_not_read_as_counts(dtype):
    """A datetime64 array was read as counts of its unit since 1970: the same dates in days
    and in microseconds gave different canonical forms, without a word."""
    X = np.arange(12).reshape(2, 6).astype(dtype)
    with pytest.raises(TypeError, match=rf"X has dtype {re.escape(dtype)} \((dates|durations)\).*Convert"):
        CanonicalizerTransformer("SO2", n_dims=2).fit(X)
    fitted = CanonicalizerTransformer("SO2", n_dims=2).fit(np.ones((2, 6)))
    with pytest.raises(TypeError, match=rf"X has dtype {re.escape(dtype)}"):
        fitted.transform(X)


@pytest.mark.parametrize("kind", ["weighted", "pca", "minimal"])
def test_integer_points_get_frames_and_a_non_float_dtype_is_named(kind):
    """Integer P passed the checks of frame_set, then failed with numpy's "data type <class
    'numpy.int64'> not inexact" for "weighted" frames; so did dtype=int, without naming dtype."""
    spec = SPEC
    P = np.random.default_rng(0).integers(-5, 6, size=(4, 6, 3))
    ct = _fitted(P.astype(np.float64)) if kind != "weighted" else None
    ff = F.frame_forms(P, LAYOUT, spec, kind, canonicalizer=ct)
    fl = F.frame_forms(P.astype(np.float64), LAYOUT, spec, kind, canonicalizer=ct)
    np.testing.assert_array_equal(ff.frames.weights, fl.frames.weights)
    np.testing.assert_array_equal(ff.Q, fl.Q)
    assert P.dtype.kind == "i"
    for bad in (int, "int32", "nonsense"):
        with pytest.raises(ValueError, match="dtype must be a floating dtype"):
            F.frame_set(P.astype(np.float64), LAYOUT, spec, kind, canonicalizer=ct, dtype=bad)


@pytest.mark.parametrize("bad", ["seed", 1.5, -1, np.random.default_rng(0)])
def test_haar_elements_name_a_bad_random_state(bad):
    """scikit-learn's "'seed' cannot be used to seed a numpy.random.RandomState instance"
    (and "Seed must be between 0 and 2**32 - 1") named no parameter."""
    with pytest.raises(ValueError, match="random_state must be None, an int"):
        F.haar_elements(2, SPEC, bad)
    rs = np.random.RandomState(0)
    np.testing.assert_array_equal(F.haar_elements(2, SPEC, rs),
                                  F.haar_elements(2, SPEC, np.random.RandomState(0)))
