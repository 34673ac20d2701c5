"""Degenerate geometry for every canonicalizer, learned and random networks included.

``tests/test_canonicalizer_properties.py`` covers the ``"auto"`` heuristics on 2-D/3-D
symmetric shapes. This file extends it to

* the single-factor heuristics (``centroid``, ``scale``, ``sort``) and a scaling product on
  degenerate clouds (zero cloud, ties, duplicates);
* the frozen random and briefly trained learned point networks for SO(3), O(3), SE(3), T(3),
  S_n and SE(3)×S_n;
* blank, constant and exactly symmetric images for ``moments`` and the image networks;
* training learned networks on data that contains degenerate clouds.

Contract checked everywhere: finite output on present points, absent points stay absent,
deterministic (same call twice, and a pickled copy, give identical bytes).

Invariance is asserted where the mathematics allows it, i.e. where the group acts freely
on the shape (``EXPECT`` below). Where the shape has a non-trivial stabilizer (cube,
regular simplex, a line through the origin, a single vector, a plane through the origin
under O(3)) an equivariant frame cannot exist: ``h(x) = h(s·x) = s·h(x)`` for a symmetry
``s`` of ``x``. Heuristics settle these by the documented data-based tie-break
(``skcanon.canonicalizers`` docstring) and stay invariant; **learned and random networks
give finite, deterministic output there but no invariance guarantee** (statement recorded
in ``docs/reliability.md``). Where the group acts freely, networks must be invariant.
"""

import itertools
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skcanon import CanonicalizerTransformer
from skcanon.groups import get_group
from skcanon.layouts import ImageLayout, PointLayout

torch = pytest.importorskip("torch")

try:
    import skcanon.nn._images  # noqa: F401

    HAS_IMAGE_NETS = True
except Exception:  # pragma: no cover
    HAS_IMAGE_NETS = False


pytestmark = pytest.mark.usefixtures("one_torch_thread")


M = 8  # every shape is padded to 8 points with absent (all-NaN) rows
CUBE = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], float)
TETRA = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
_r = np.random.default_rng(3)
SHAPES = {
    "cube": CUBE,
    "regular_simplex": TETRA,
    "all_equal": np.ones((5, 3)) * 2.5,
    "single_point": np.array([[1.0, 2.0, 3.0]]),
    "collinear": np.outer(np.arange(5.0), [1, 2, 3]),          # a line through the origin
    "coplanar": np.c_[_r.random((6, 2)), np.zeros(6)],        # a plane through the origin
    "duplicates": _r.normal(size=(3, 3))[[0, 1, 2, 0, 1]],
    "ties": np.array([[0, 0, 1.0], [0, 0, 2], [1, 0, 0], [1, 0, 3]]),  # tied coordinates
}

# Invariance expected (the group acts freely on the shape, or the canonical form is forced):
#   True: asserted; False: no guarantee possible (non-trivial stabilizer), finite+deterministic only.
# "ties" centred is symmetric under a half-turn about the x-axis, so it is free under SO(3)
# (not centred) but not under SE(3).
_FREE = {
    "SO3": {"coplanar", "duplicates", "ties"},
    "O3": {"duplicates"},
    "SE3": {"all_equal", "single_point", "coplanar", "duplicates"},
    "SE3xS_n": {"all_equal", "single_point", "coplanar", "duplicates"},
    "T3": set(SHAPES),
    "S_n": set(SHAPES),
}
NETWORK_GROUPS = ["SO3", "O3", "SE3", "T3", "S_n", "SE3xS_n"]
_FITTED = {}


def network(group, method):
    """Random (frozen) or learned (2 epochs, align objective) network on generic 8-point clouds."""
    key = (group, method)
    if key not in _FITTED:
        X = np.random.default_rng(0).normal(size=(32, M * 3)) * np.tile([3.0, 2.0, 1.0], M)
        kw = dict(objective="align", max_epochs=2, early_stopping=False) if method == "learned" else {}
        _FITTED[key] = CanonicalizerTransformer(group, method, hidden=8, random_state=0, **kw).fit(X)
    return _FITTED[key]


def padded(shape, n=4):
    pts = SHAPES[shape]
    P = np.full((M, 3), np.nan)
    P[: len(pts)] = pts
    return np.repeat(P.reshape(1, -1), n, axis=0), len(pts)


def _check_finite_deterministic(est, X, n_present):
    out = est.transform(X)
    P = out.reshape(len(X), M, 3)
    present = ~np.isnan(P).all(axis=2)
    assert present.sum(axis=1).tolist() == [n_present] * len(X)  # absent points stay absent
    assert np.isfinite(P[present]).all()
    np.testing.assert_array_equal(out, est.transform(X))
    np.testing.assert_array_equal(out, pickle.loads(pickle.dumps(est)).transform(X))
    return out


def _network_cases():
    for group in NETWORK_GROUPS:
        for method in ("random", "learned"):
            for shape in SHAPES:
                yield pytest.param(group, method, shape, id=f"{group}-{method}-{shape}")


@pytest.mark.parametrize("group, method, shape", list(_network_cases()))
def test_networks_on_degenerate_clouds(group, method, shape):
    est = network(group, method)
    X, n_present = padded(shape)
    out = _check_finite_deterministic(est, X, n_present)
    if shape not in _FREE[group]:
        return  # documented: no invariance guarantee on shapes with a non-trivial stabilizer
    G = get_group(group)
    scale = np.nanmax(np.abs(X))
    for trial in range(3):
        moved = G.apply(G.sample(len(X), trial, n_points=M), X, PointLayout(3))
        np.testing.assert_allclose(est.transform(moved), out, atol=1e-6 * scale, rtol=0,
                                   err_msg=f"{shape} under {group} ({method})")


# -- single-factor heuristics --------------------------------------------------------------------
HEURISTICS = [("T3", "centroid"), ("scaling", "scale"), ("S_n", "sort"), ("SO3xscaling", "pca+scale"),
              ("Sim3", "pca"), ("SE3xS_nxscaling", "auto")]
EXTRA = {"zero_cloud": np.zeros((5, 3)), "origin_and_point": np.array([[0, 0, 0], [0, 0, 0], [1.0, 0, 0]])}
def _heuristic_cases():
    for group, method in HEURISTICS:
        for shape in sorted(SHAPES) + sorted(EXTRA):
            yield pytest.param(group, method, shape, id=f"{group}-{method}-{shape}")


@pytest.mark.parametrize("group", ["SE3xscaling", "E3xscaling", "SE3xS_nxscaling", "Sim2"])
def test_similarity_products_are_invariant_on_generic_clouds(group):
    from skcanon.metrics import invariance_error

    d = 2 if group == "Sim2" else 3
    X = (np.random.default_rng(0).normal(size=(8, 5, d)) * [3.0, 2.0, 1.0][:d]).reshape(8, 5 * d)
    est = CanonicalizerTransformer(group, "auto").fit(X)
    assert invariance_error(est, X, group, random_state=0).max < 1e-9


@pytest.mark.parametrize("group, method, shape", list(_heuristic_cases()))
def test_heuristics_on_degenerate_clouds(group, method, shape):
    pts = SHAPES.get(shape, EXTRA.get(shape))
    X = np.repeat(pts.reshape(1, -1), 4, axis=0)
    est = CanonicalizerTransformer(group, method, n_dims=3).fit(X)
    out = est.transform(X)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, est.transform(X))
    G = get_group(group)
    for trial in range(3):
        moved = G.apply(G.sample(len(X), trial, n_points=len(pts)), X, PointLayout(3))
        np.testing.assert_allclose(est.transform(moved), out, atol=1e-9 * max(np.abs(X).max(), 1.0), rtol=0)


def test_sort_ties_keep_a_stable_documented_order():
    """Exact duplicates keep input order; the canonical output is the same for any order."""
    X = np.array([[1.0, 0, 0, 1, 0, 0, 0, 0, 0]])  # two equal points and the origin
    est = CanonicalizerTransformer("S_n", "sort", n_dims=3).fit(X)
    frame = est.canonical_frame(X)
    assert frame.tolist() == [[2, 0, 1]]
    np.testing.assert_array_equal(est.transform(X), [[0, 0, 0, 1, 0, 0, 1, 0, 0]])


# -- images ----------------------------------------------------------------------------------------
def _images():
    side = 9
    yy, xx = np.mgrid[-1:1:side * 1j, -1:1:side * 1j]
    disc = ((xx**2 + yy**2) < 0.6).astype(float)                 # C4- and D4-symmetric
    cross = ((np.abs(xx) < 0.2) | (np.abs(yy) < 0.2)).astype(float)
    # C4-symmetric but chiral: moments up to order three see a disc, and D4 must still
    # decide the mirror (the pixel-grid fallback used to leave it to chance)
    arm = np.zeros((side, side))
    arm[1:4, 4] = 1.0
    arm[1, 5:7] = 1.0
    pinwheel = sum(np.rot90(arm, k) for k in range(4))
    return {"blank": np.zeros((side, side)), "constant": np.full((side, side), 3.0), "disc": disc,
            "cross": cross, "single_pixel": np.eye(side)[4][:, None] * np.eye(side)[4][None, :],
            "pinwheel": pinwheel}


IMAGE_METHODS = [("C4", "moments"), ("D4", "moments")]
if HAS_IMAGE_NETS:
    IMAGE_METHODS += [("C4", "random"), ("D4", "random"), ("C4", "learned"), ("C4", "anchored"), ("D4", "anchored")]


@pytest.mark.parametrize("group, method", IMAGE_METHODS)
@pytest.mark.parametrize("image", sorted(_images()))
def test_images_blank_constant_and_symmetric(group, method, image):
    rng = np.random.default_rng(0)
    train = rng.random((16, 81))
    kw = {}
    if method in ("random", "learned", "anchored"):
        kw = dict(hidden=4, random_state=0)
    if method in ("learned", "anchored"):
        kw.update(objective="prior", max_epochs=1, early_stopping=False)
    est = CanonicalizerTransformer(group, method, layout=ImageLayout((9, 9)), **kw).fit(train)
    X = np.repeat(_images()[image].reshape(1, -1), 3, axis=0)
    out = est.transform(X)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, est.transform(X))
    G = get_group(group)
    for trial in range(3):
        g = G.sample(len(X), trial)
        moved = G.apply(g, X, est.layout_)
        # the group moves these pixels exactly, so the canonical form must not change
        # (the symmetric ones are fixed by all of C4, the pinwheel not by D4's mirrors)
        np.testing.assert_allclose(est.transform(moved), out, atol=1e-6 * max(np.abs(X).max(), 1.0))
    if image == "blank":
        np.testing.assert_array_equal(out, X)  # documented: identity frame on blank images


# -- training on data that contains degenerate clouds ----------------------------------------------
TRAIN_DEGENERATE = {
    "all_equal": lambda G: np.repeat(G[:, :1], M, 1),
    "coplanar": lambda G: np.concatenate([G[..., :2], np.zeros(G.shape[:2] + (1,))], -1),
    "collinear": lambda G: G[..., :1] * np.array([1.0, 2.0, 3.0]),
    "duplicates": lambda G: G[:, [0, 1, 2, 3, 0, 1, 2, 3]],
}


def _train_cases():
    for group in ("SO3", "SE3", "S_n", "SE3xS_n"):
        for kind in TRAIN_DEGENERATE:
            yield pytest.param(group, kind, id=f"{group}-{kind}")


@pytest.mark.parametrize("group, kind", list(_train_cases()))
def test_training_on_data_with_degenerate_clouds_keeps_weights_finite(group, kind):
    G = np.random.default_rng(0).normal(size=(16, M, 3))
    P = G.copy()
    P[:4] = TRAIN_DEGENERATE[kind](G[:4])  # a quarter of the training set is degenerate
    X = P.reshape(16, -1)
    est = CanonicalizerTransformer(group, "learned", objective="align", hidden=8, max_epochs=1,
                                   early_stopping=False, random_state=0).fit(X)
    weights = est.canonicalizer_.network_.state_dict().values()
    assert all(torch.isfinite(w).all() for w in weights)
    assert np.isfinite(est.transform(X)).all()


# -- degenerate positions, other fields attached (B21) ---------------------------------------------
FIELDS = PointLayout(3, fields=[("pos", "position"), ("vel", "vector"), ("charge", "scalar")])
_v = np.random.default_rng(5)
ATTACHED = {
    # three points span a plane: its normal's sign is left to the velocities under reflections
    "three_points": np.c_[_v.normal(size=(3, 3)) * [2, 1, 0.5], _v.normal(size=(3, 3)), [1, -1, 1]],
    # on a line, the rotation about the line is left to the velocities
    "collinear": np.c_[np.outer(np.arange(4.0), [1, 2, 3]), _v.normal(size=(4, 3)), [1, -1, 1, 1]],
    # an equilateral triangle: the charges tell its corners apart
    "triangle": np.c_[[[1, 0, 0], [-0.5, 0.75 ** 0.5, 0], [-0.5, -(0.75 ** 0.5), 0]], np.zeros((3, 3)),
                      [1.0, 2.0, 3.0]],
    # every point at one place: the whole frame is left to the velocities (B90)
    "coincident": np.c_[np.tile([1.0, 2.0, 3.0], (4, 1)), _v.normal(size=(4, 3)), [1, -1, 1, 1]],
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", sorted(ATTACHED))
@pytest.mark.parametrize("group", ["E3", "SE3", "O3", "SO3", "Sim3", "E3xS_n"])
def test_pca_settles_degenerate_positions_with_the_other_fields(group, shape, dtype):
    """Where the positions leave part of the frame open, the velocities and charges settle
    it: the canonical form of the whole sample (velocities included) is invariant."""
    from skcanon.metrics import invariance_error

    X = ATTACHED[shape][None].copy()
    if group == "O3":
        X[..., :3] += [0.3, -0.2, 0.1]  # no translations: an offset the frame must keep
    if group == "SO3" and shape == "coincident":
        X[..., :3] = 0.0                # fixed origin: the points sit on it
    est = CanonicalizerTransformer(group, layout=FIELDS).fit(X.astype(dtype))
    err = invariance_error(est, X.astype(dtype), group, n_trials=8, random_state=0)
    assert err.max < (1e-9 if dtype == np.float64 else 1e-4), err


# -- one bright pixel under the discrete rotations (issue 14, item 2) ------------------------------
@pytest.mark.parametrize("group", ["C4", "C2", "SO2"])
def test_moments_single_bright_pixel_is_invariant_under_grid_rotations(group):
    # one pixel anywhere in an 8×8 image (off-centre ones at (1, 1), (1, 2), (2, 5) gave an
    # invariance error of 1.0 under C4): the covariance vanishes, so the frame comes from
    # the centroid; on a diagonal the C4 frame lies exactly half-way between two steps
    images = np.zeros((64, 8, 8))
    images[np.arange(64), np.arange(64) // 8, np.arange(64) % 8] = 1.0
    X = images.reshape(64, -1)
    est = CanonicalizerTransformer(group, "moments", layout=ImageLayout((8, 8))).fit(X)
    out = est.transform(X)
    for k in (1, 2, 3) if group != "C2" else (2,):
        moved = np.rot90(images, k, axes=(1, 2)).reshape(64, -1)
        np.testing.assert_allclose(est.transform(moved), out, atol=1e-9, err_msg=f"rot90 × {k}")


# -- extreme magnitudes (issue 14, items 4 and 5) ---------------------------------------------------
EXTREME_CASES = [("SE3", "pca"), ("SO3", "pca"), ("O3", "pca"), ("E3", "pca"), ("SE3xS_n", "pca+sort"),
                 ("Sim3", "pca"), ("SSim3", "pca"), ("scaling", "scale"), ("SO3xscaling", "pca+scale")]


@pytest.mark.parametrize("factor", [1e300, 1e200, 1e-160, 1e-300])
@pytest.mark.parametrize("group, method", EXTREME_CASES)
def test_extreme_magnitudes_give_finite_invariant_output(group, method, factor):
    # X·1e300 raised numpy's LinAlgError in pca; X·1e-160 and smaller underflowed the
    # covariance and silently broke invariance. Frames do not depend on size: output of
    # g·(f·X) is f·(output of X) for the size-keeping groups, the same for the scale-free ones.
    rs = np.random.default_rng(0)
    X = (rs.normal(size=(12, 8, 3)) * [3.0, 2.0, 1.0] + rs.normal(size=(12, 1, 3))).reshape(12, -1)
    est = CanonicalizerTransformer(group, method).fit(X)
    ref = est.transform(X)
    moves = get_group("SO3xS_n" if "S_n" in group else "SO3")
    if group == "scaling":
        moves = get_group("S_n")
    for dtype in (np.float64,):
        moved = (moves.apply(moves.sample(12, 1, n_points=8), X, PointLayout(3)) * factor).astype(dtype)
        if group == "scaling":
            moved = (X * factor).astype(dtype)
        out = est.transform(moved)
        assert np.isfinite(out).all()
        unit = 1.0 if group in ("Sim3", "SSim3", "scaling", "SO3xscaling") else factor
        np.testing.assert_allclose(out / unit, ref, atol=1e-9 * np.abs(ref).max(), rtol=0)


@pytest.mark.parametrize("factor", [1e30, 1e-30, 1e-40])
@pytest.mark.parametrize("group, method", [("SE3", "pca"), ("SO3", "pca"), ("Sim3", "pca"), ("scaling", "scale"),
                                           ("SO3xscaling", "pca+scale")])
def test_extreme_float32_magnitudes_stay_finite_and_scale_free(group, method, factor):
    # float32 squares and cubes overflow above ~1e13 and underflow below ~1e-13: the fast
    # path hands such samples to float64 (rescaled); 1e-40 is subnormal (few digits left)
    rs = np.random.default_rng(1)
    X = (rs.normal(size=(10, 8, 3)) * [3.0, 2.0, 1.0]).reshape(10, -1).astype(np.float32)
    ref = CanonicalizerTransformer(group, method).fit(X).transform(X)
    big = (X.astype(np.float64) * factor).astype(np.float32)
    out = CanonicalizerTransformer(group, method).fit(big).transform(big)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    unit = 1.0 if group in ("Sim3", "scaling", "SO3xscaling") else factor
    tol = 1e-2 if factor < 1e-38 else 1e-5
    np.testing.assert_allclose(out / unit, ref, atol=tol * np.abs(ref).max(), rtol=0)


@pytest.mark.parametrize("factor", [1e300, 1e-160, 1e-300])
def test_equivariant_regressor_at_extreme_magnitudes(factor):
    # LinAlgError at 1e300 before; equivariance error 2.0 at 1e-160. The mean of the
    # canonical targets (DummyRegressor) is itself safe at any magnitude, so what is
    # checked is the canonicalizer's frames and their inverse on the predictions.
    from sklearn.dummy import DummyRegressor

    from skcanon import EquivariantRegressor

    rs = np.random.default_rng(2)
    X = (rs.normal(size=(30, 6, 3)) * [3.0, 2.0, 1.0]).reshape(30, -1)
    Y = X * 0.5
    small = EquivariantRegressor(CanonicalizerTransformer("SE3", "pca"), DummyRegressor()).fit(X, Y)
    big = EquivariantRegressor(CanonicalizerTransformer("SE3", "pca"), DummyRegressor()).fit(X * factor, Y * factor)
    pred = big.predict(X * factor)
    assert np.isfinite(pred).all()
    np.testing.assert_allclose(pred / factor, small.predict(X), atol=1e-9 * np.abs(X).max(), rtol=0)


@pytest.mark.parametrize("dtype, inside, beyond_scale, atol", [(np.float64, 4e307, 1e308, 1e-9),
                                                              (np.float32, 4e37, 2e38, 1e-4)])
@pytest.mark.parametrize("group, method", [("SO3", "pca"), ("E3", "pca"), ("SE3xS_n", "pca+sort"),
                                           ("E3", "random")])
def test_forms_beyond_the_dtype_range_are_refused_and_the_others_kept(group, method, dtype, inside, beyond_scale,
                                                                      atol):
    # points of norm up to 4e307·√3 (in range) and 2.1e308 (beyond float64): pca raised
    # numpy's LinAlgError (the largest norm overflowed, so frames saw unscaled points) or
    # returned inf silently; now the frames work where the norm overflows, and forms that
    # cannot be represented are refused, naming the samples
    rs = np.random.default_rng(0)
    X = rs.uniform(-1, 1, size=(3, 5, 3)) * [[[3.0, 2.0, 1.0]]]
    est = CanonicalizerTransformer(group, method, random_state=0).fit(X.reshape(3, -1).astype(dtype))
    fits = (X / np.abs(X).max() * inside).reshape(3, -1).astype(dtype)
    out = est.transform(fits)
    assert out.dtype == dtype and np.isfinite(out).all()
    np.testing.assert_allclose(out / inside, est.transform(fits / dtype(inside)), atol=atol, rtol=0)
    beyond = fits.copy()
    # sample 1 along the diagonal: its principal axis holds coordinates of ±2.1 × the scale
    # (float64: 2.1e308; float32: 4.2e38), its input coordinates ±1.2 × the scale
    beyond[1] = (np.linspace(-1, 1, 5)[:, None] * [1.2, 1.2, 1.2] + X[1] * 1e-3).ravel() * beyond_scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # numpy's own overflow warning
        with pytest.raises(ValueError, match=rf"canonical forms of samples \[1\] do not fit in {np.dtype(dtype).name}"):
            est.transform(beyond)


@pytest.mark.parametrize("method", ["sort", "random"])
def test_range_check_allows_permuted_absent_points(method):
    # S_n moves absent (all-NaN) points to the end: the output range check counts absent
    # points per sample instead of comparing their positions
    X = np.random.default_rng(1).normal(size=(3, 5, 3))
    X[:, :2] = np.nan
    out = CanonicalizerTransformer("S_n", method, random_state=0).fit_transform(X.reshape(3, -1))
    assert np.isnan(out.reshape(3, 5, 3)).all(axis=2).sum(axis=1).tolist() == [2, 2, 2]


def test_rescaling_falls_back_to_the_largest_coordinate_where_the_norm_overflows():
    from skcanon._kernels.fields import rescale_points

    Y = np.array([[[1.5e308, 1.5e308, 0.0], [-1e308, 0.0, 0.0]]])
    Z, a = rescale_points(Y, np.ones((1, 2)))
    assert a[0] == 1.5e308 and np.isfinite(Z).all()
    np.testing.assert_allclose(Z[0, 0], [1.0, 1.0, 0.0])


def test_pca_refuses_infinite_coordinates_with_a_clear_error():
    from skcanon.canonicalizers import make_canonicalizer

    canon = make_canonicalizer(get_group("SO3"), "pca", PointLayout(3))
    P = np.ones((2, 4, 3))
    P[0, 1, 2] = np.inf
    with pytest.raises(ValueError, match="X has infinite coordinates"):
        canon.frames(P, PointLayout(3))


@pytest.mark.parametrize("group", ["C4", "D4"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_moments_orbit_rule_ignores_rounding(group, dtype):
    """A pinwheel or a half-turn-symmetric image nudged by one unit of rounding keeps its
    canonical form (the orbit rule compares forms up to rounding), and stays invariant."""
    from skcanon.metrics import invariance_error

    rs = np.random.default_rng(3)
    A = rs.random((6, 9, 9))
    A = (A + np.rot90(A, 2, axes=(1, 2))) / 2
    A = np.concatenate([A, np.repeat(_images()["pinwheel"][None], 2, axis=0)]).astype(dtype)
    X = A.reshape(len(A), -1)
    nudged = X.copy()
    nudged[:, 10] = np.nextafter(nudged[:, 10], np.asarray(2, dtype=dtype))
    est = CanonicalizerTransformer(group, "moments", layout=ImageLayout((9, 9))).fit(X)
    scale = np.abs(X).max()
    np.testing.assert_allclose(est.transform(nudged), est.transform(X), atol=1e-5 * scale)
    assert invariance_error(est, nudged, group, n_trials=4, random_state=0).max < 1e-5


@pytest.mark.parametrize("group", ["S_n", "SE3xS_n"])
def test_networks_take_an_all_absent_sample_without_warnings(group):
    """An empty sample (every point row NaN, e.g. padding) stays all-NaN and raises no
    "All-NaN slice" RuntimeWarning (the S_n order took a NaN maximum of it)."""
    import warnings

    pytest.importorskip("torch")
    X = np.random.default_rng(0).normal(size=(10, 5 * 3))
    X[0] = np.nan
    canon = CanonicalizerTransformer(group, "random", hidden=8, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Z = canon.transform(X)
    assert np.isnan(Z[0]).all() and np.isfinite(Z[1:]).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fields", [["pos"], ["pos", "vel"], ["pos", "q"]])
@pytest.mark.parametrize("group, method", [("SE3", "pca"), ("E3", "pca"), ("SO3", "pca"), ("O3", "pca"),
                                           ("SE3xS_n", "pca+sort"), ("SE3", "anchored")])
def test_pca_frames_take_an_all_absent_sample(group, method, fields, dtype):
    """A sample whose points are all absent crashed every PCA frame ("cannot reshape array
    of size 0"), the anchored networks' included: the tie rule of flat samples searched an
    empty point set. It now takes the identity; the other samples are unchanged and stay
    invariant."""
    from skcanon.layouts import Field
    from skcanon.metrics import invariance_error

    kinds = {"pos": ("position", 3), "vel": ("vector", 3), "q": ("scalar", 1)}
    layout = PointLayout(3, [Field(f, *kinds[f]) for f in fields])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 5 * layout.width)).astype(dtype)
    X[1] = np.nan
    kw = {"hidden": 8, "random_state": 0} if method == "anchored" else {}
    canon = CanonicalizerTransformer(group, method, layout=layout, **kw).fit(X)
    Z = canon.transform(X)
    assert np.isnan(Z[1]).all() and np.isfinite(np.delete(Z, 1, axis=0)).all()
    rest = np.delete(X, 1, axis=0)
    # networks: equal to rounding (torch's arithmetic depends on the batch)
    np.testing.assert_allclose(np.delete(Z, 1, axis=0), canon.transform(rest), rtol=0,
                               atol=0 if method != "anchored" else 1e-5)
    if method != "anchored":
        assert invariance_error(canon, X, group, random_state=0).max < (1e-9 if dtype == np.float64 else 1e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group", ["scaling", "SO3xscaling", "scalingxS_n", "Sim3"])
@pytest.mark.parametrize("other", ["vector", "position"])
def test_scaling_reads_the_other_fields_when_positions_sit_at_the_origin(group, other, dtype):
    """With every position at 0 and velocities (or a second position field) not, the
    scaling frame fell back to s = 1: transform(3·x) was 3 × transform(x). The other
    fields now give the size, as Sim(d) already did for coincident positions."""
    layout = PointLayout(3, [("pos", "position"), ("b", other)])
    P = np.zeros((6, 4, 6))
    P[:, :, 3:] = np.random.default_rng(0).normal(size=(6, 4, 3))
    X = P.reshape(6, -1).astype(dtype)
    canon = CanonicalizerTransformer(group, layout=layout).fit(X)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(canon.transform(dtype(3) * X), canon.transform(X), atol=tol)
    np.testing.assert_allclose(canon.transform(dtype(1e-3) * X), canon.transform(X), atol=tol)


@pytest.mark.parametrize("group", ["SO3", "O3", "SO2", "O2", "Sim3", "SSim2", "O3xS_n", "SE3"])
def test_float32_points_equal_up_to_rounding_count_as_coincident(group):
    """In float32, five points that coincide up to rounding took their axes from the
    rounding (spreads of 1e-9..5e-8 relative passed the float64-sized 1e-10 test), so poses
    of one sample differed by up to 1.9 relative. Spreads within 64 rounding units are now
    no spread in float32; float64 keeps its threshold."""
    d = int(group[-1]) if group[-1].isdigit() else 3
    G, layout = get_group(group), PointLayout(d)
    worst = 0.0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        c = 2 * rng.normal(size=d)
        X = (c * (1 + 1e-9 * rng.normal(size=(5, d)))).reshape(1, -1)
        canon = CanonicalizerTransformer(group, layout=layout).fit(X)
        ref = canon.transform(X.astype(np.float32)).astype(float)
        for k in range(5):
            moved = G.apply(G.sample(1, k, n_points=5), X, layout).astype(np.float32)
            worst = max(worst, np.abs(canon.transform(moved) - ref).max() / np.linalg.norm(c))
    assert worst < 1e-5


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group, shape", [("D4", (6, 6)), ("D2", (6, 6)), ("D2", (5, 8)), ("C4", (6, 6))])
def test_moments_on_binary_glyphs_commute_with_mirrors(group, shape, dtype):
    """Small binary images often have their principal axis exactly half-way between two
    elements of D_n; rounding it commuted with turns but not with mirrors, so 39 of 3,000
    random 6×6 glyphs changed canonical form when mirrored under D4 (11 under D2). Such
    images now take the orbit rule."""
    rng = np.random.default_rng(0)
    X = (rng.random((600,) + shape) < 0.3).astype(dtype)
    canon = CanonicalizerTransformer(group, "moments", layout=ImageLayout(shape)).fit(X.reshape(600, -1))
    ref = canon.transform(X.reshape(600, -1))
    moves = [lambda A: A[:, :, ::-1], lambda A: A[:, ::-1, ::-1]]
    if shape[0] == shape[1] and group != "D2":
        moves.append(lambda A: np.rot90(A, axes=(1, 2)))
    if group == "C4":
        moves = moves[1:]
    for move in moves:
        np.testing.assert_array_equal(canon.transform(np.ascontiguousarray(move(X)).reshape(600, -1)), ref)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("centre", ["on_axis", "off_axis"])
@pytest.mark.parametrize("group", ["O3", "SO3", "O3xS_n", "SO3xS_n"])
def test_pca_small_symmetric_shape_far_from_the_origin(group, centre, dtype):
    """A cube of edge 1e-3 at distance 7-9 under a group that keeps the origin: the offset
    orients the axes the cube's rounding-level moments leave open (float32: the cube is
    only ~2,000 rounding units across), and the tie rule compares the shape apart from the
    offset (its features were lost next to it: 60° turns of the cube about the diagonal
    tied, and point order decided under S_n)."""
    cube = np.array(np.meshgrid([0, 1], [0, 1], [0, 1], indexing="ij")).reshape(3, -1).T * 1e-3
    pts = (5.0 if centre == "on_axis" else np.array([5.0, 4.0, 3.0])) + cube
    layout, G = PointLayout(3), get_group(group)
    X = np.repeat(pts[None], 60, 0).reshape(60, -1).astype(dtype)
    Xm = np.asarray(G.apply(G.sample(60, 0, n_points=8), X, layout), dtype=dtype)
    ct = CanonicalizerTransformer(group, layout=layout).fit(X)
    err = np.abs(ct.transform(Xm).astype(np.float64) - ct.transform(X)).max()
    tol = 1e-3 if dtype == np.float32 else 1e-9
    assert err <= tol * np.abs(pts).max(), err


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_moments_c4_is_invariant_on_every_small_image(dtype):
    """Every 3×3 image with pixels in {0, 1, 2}: its quarter turns get one canonical form
    under C4. Images whose principal axis lies on a diagonal with equal third-moment
    strengths on both axes left the determinant fix to rounding (4 of 19,683 images got two
    forms; also ``InvariantProjector("C4", "canonical")`` with ``lossless_`` True)."""
    import itertools

    X = np.array(list(itertools.product([0.0, 1.0, 2.0], repeat=9)), dtype=dtype).reshape(-1, 3, 3)
    ct = CanonicalizerTransformer("C4", "moments", layout=ImageLayout((3, 3))).fit(X.reshape(len(X), -1))
    out = ct.transform(X.reshape(len(X), -1))
    for k in range(1, 4):
        turned = np.ascontiguousarray(np.rot90(X, k, axes=(-2, -1))).reshape(len(X), -1)
        np.testing.assert_array_equal(ct.transform(turned), out)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group", ["O3", "SO3"])
def test_pca_generic_float32_clouds_far_from_the_origin(group, dtype):
    """Generic float32 clouds of size ~1 at distance 1000 under groups that keep the origin:
    within float32's relative tolerance of the input. Widening every tolerance with the
    offset (not only the signs') sent such clouds to the tie rules, whose comparisons
    rounding then decided (errors 2-6, one of 2,000 for SO3)."""
    from scipy.stats import special_ortho_group

    rs = np.random.default_rng(7)
    n = 150
    X = rs.normal(size=(n, 10, 3)) * rs.uniform(0.5, 2.0, size=(n, 1, 3))
    c = rs.normal(size=(n, 1, 3))
    X = X + 1000 * c / np.linalg.norm(c, axis=2, keepdims=True)
    R = special_ortho_group.rvs(3, size=n, random_state=1)
    XR = np.einsum("nmd,ned->nme", X, R)
    ct = CanonicalizerTransformer(group, n_dims=3).fit(X.reshape(n, -1).astype(dtype))
    err = np.abs(ct.transform(X.reshape(n, -1).astype(dtype)).astype(float)
                 - ct.transform(XR.reshape(n, -1).astype(dtype))).max(axis=1)
    tol = 1e-3 if dtype == np.float32 else 1e-9
    assert err.max() <= tol * np.abs(X).max(), err.max()


_MIRROR_SHAPES = {
    2: {"square and two points": np.concatenate([np.eye(2), -np.eye(2), 0.5 * np.eye(2)]),
        "kite": np.array([[0, 2], [1, 0], [-1, 0], [0, -1.0], [0.3, 0.5], [-0.3, 0.5]])},
    3: {"kite": np.array([[0, 2, 1], [1, 0, 0], [-1, 0, 0], [0, -1, 0.5], [0.3, 0.5, 2], [-0.3, 0.5, 2]]),
        "planar kite": np.array([[0, 2, 0], [1, 0, 0], [-1, 0, 0], [0, -1, 0], [0.3, 0.5, 0], [-0.3, 0.5, 0]])},
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group, method", [("E2", "pca"), ("E3", "pca"), ("SE3", "pca"), ("E3", "random")])
def test_pca_mirror_symmetric_shapes_far_from_the_origin_under_translations(group, method, dtype):
    """Mirror-symmetric clouds moved up to ~100 times their size away: in float32 the input's
    rounding at that distance made the candidates' set features differ by more than the tie
    rule's tolerance, so rounding chose the mirror (E2: 228 of 500 moved copies got the
    mirrored canonical form, error = the cloud's size; E3 83, SE3 planar 18). The tie rule's
    feature tolerance now grows with the distance (relative to the size), as the sign
    tolerance of groups that keep the origin does. The square with two points has nearly
    equal eigenvalues (condition number 52), which amplify the rounding past that
    tolerance in a few poses: at most 2 % of them flip (none for the others)."""
    from skcanon.groups import get_group

    d = int(group[-1])
    O = get_group(("O" if group[0] == "E" else "SO") + str(d))
    rng = np.random.default_rng(0)
    n = 150 if method == "pca" else 40
    for shape in _MIRROR_SHAPES[d].values():
        S = shape - shape.mean(0)
        R = O.matrices(O.sample(n, 3))
        X = np.einsum("nij,mj->nmi", R, S) + rng.normal(size=(n, 1, d)) * rng.choice([1.0, 10.0, 100.0], (n, 1, 1))
        X = X.reshape(n, -1).astype(dtype)
        ct = CanonicalizerTransformer(group, method, n_dims=d, random_state=0).fit(X)
        C = ct.transform(X).astype(np.float64)
        ref = ct.transform(S.reshape(1, -1).astype(dtype)).astype(np.float64)
        err = np.abs(C - ref).max(axis=1)
        tol = 1e-2 if dtype == np.float32 else 1e-9
        flipped = int((err > tol * np.abs(S).max()).sum())
        assert flipped <= n // 50, (flipped, np.sort(err)[-3:])


def _regular(name):
    if name == "cube":
        return np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    if name == "tetrahedron":
        return np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1.0]])
    if name == "octahedron":
        return np.vstack([np.eye(3), -np.eye(3)])
    k = {"square": 4, "pentagon": 5, "hexagon": 6}[name]
    a = 2 * np.pi * np.arange(k) / k
    return np.stack([np.cos(a), np.sin(a)], axis=1)


@pytest.mark.parametrize("dtype,noise", [(np.float64, 1e-11), (np.float64, 1e-9), (np.float64, 1e-8),
                                         (np.float64, 3e-8), (np.float32, 1e-6), (np.float32, 1e-5)])
@pytest.mark.parametrize("group,shape", [("E3xS_n", "cube"), ("SE3xS_n", "tetrahedron"), ("E3xS_n", "octahedron"),
                                         ("O3xS_n", "cube"), ("SE2xS_n", "square"), ("E2xS_n", "hexagon"),
                                         ("OxS_n", "cube"), ("C4xS_n", "square"), ("D6xS_n", "hexagon")])
def test_pca_sort_invariant_on_nearly_regular_shapes(group, shape, dtype, noise):
    """A regular shape moved off its symmetry by a little noise: the tie rule's candidates
    tie in their set features, and the point order chose between near-symmetries whose
    forms differ by about the noise; where that exceeds the sort's tolerance (float64 noise
    1e-9 to 3e-8) the sorted forms of two poses differed by up to 2.8 (40–90 % of the
    samples). The features' fixed tolerance (1e-12) now sits below the sort's, in the PCA
    tie rule and in the finite groups' smallest-form rule (OxS_n: 28 of 30 before)."""
    S = _regular(shape)
    k, d = S.shape
    G = get_group(group)
    rs = np.random.RandomState(0)
    X = np.stack([(S + noise * rs.normal(size=S.shape)).ravel() for _ in range(30)])
    X = G.apply(G.sample(30, 1, n_points=k), X, PointLayout(d))
    moved = G.apply(G.sample(30, 2, n_points=k), X, PointLayout(d))
    est = CanonicalizerTransformer(group, "pca+sort", n_dims=d).fit(X.astype(dtype))
    err = np.abs(est.transform(X.astype(dtype)) - est.transform(moved.astype(dtype))).max()
    assert err < (1e-9 if dtype == np.float64 else 1e-3), err


@pytest.mark.parametrize("factor", [1e200, 1e300])
@pytest.mark.parametrize("group,method,shape", [("D4", "pca", "square"), ("C4xS_n", "orbit+sort", "square"),
                                                ("OxS_n", "pca+sort", "cube")])
def test_finite_groups_smallest_form_at_extreme_magnitudes(group, method, shape, factor):
    """The smallest-form rule of finite groups divided each field by its largest row norm,
    whose squares overflowed from about 1e154: every candidate form became 0, the first
    element won whatever the pose (a square at 1e200 under D4 came out turned by 180° in
    one pose), with an overflow warning."""
    S = _regular(shape)
    k, d = S.shape
    G = get_group(group)
    X = (S * factor).reshape(1, -1).repeat(6, axis=0)
    moved = G.apply(G.sample(6, 3, n_points=k), X, PointLayout(d))
    est = CanonicalizerTransformer(group, method, n_dims=d).fit(X)
    Z = est.transform(X)
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(est.transform(moved) / factor, Z / factor, atol=1e-12)


def test_tolerant_smallest_does_not_depend_on_candidate_order():
    """Tolerant ties chain: ``a ≈ b`` and ``b ≈ c`` while ``a < c``. A running comparison
    kept whichever of them the order reached last; the choice is now anchored at the least
    value, the same for every order of the candidates."""
    from skcanon._kernels.orbit import tolerant_smallest

    values = np.array([[0.0, 5.0], [0.8, 0.0], [1.6, -1.0], [3.0, -9.0]])
    for order in itertools.permutations(range(4)):
        chosen = tolerant_smallest(values[list(order)][None], 1.0)[0]
        # within 1 of the least first entry: 0 and 0.8; of those, the least second entry
        assert [order[i] for i in np.flatnonzero(chosen)] == [1]
    # without the second candidate: 0 alone is within 1 of the least first entry
    keep = np.array([[True, False, True, True]])
    assert tolerant_smallest(values[None], 1.0, keep).tolist() == [[True, False, False, False]]


@pytest.mark.parametrize("group,method,shape,dtype,noise,seeds", [
    ("O", "orbit", "cube", np.float64, 1e-12, (0, 1, 2)),
    ("O", "orbit", "cube", np.float32, 1e-5, (0, 1, 2)),
    ("D4", "orbit", "octagon", np.float32, 1e-5, (0, 1)),
    ("E3xS_n", "pca+sort", "tetrahedron", np.float32, 2e-4, (0, 4)),
])
def test_tie_rules_choose_whatever_order_the_candidates_come_in(group, method, shape, dtype, noise, seeds):
    """Nearly symmetric shapes whose candidate frames tie in some set features within the
    tolerance and differ beyond it in others: the running tolerant comparison chose by the
    order the candidates came in, which follows the pose (the finite groups' orbit rule:
    about 35 of 60 noisy cubes under O had two canonical forms, in float64 and float32;
    D4 octagons 4–7 of 60; the PCA tie rule: 1 of 60 float32 tetrahedra). The choice is now
    anchored at the least features (:func:`~skcanon._kernels.orbit.tolerant_smallest`).
    Samples whose features lie at a tolerance's edge, where rounding decides, remain: these
    seeds have none."""
    S = _regular(shape) if shape != "octagon" else np.stack(
        [np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], axis=1)
    k, d = S.shape
    G = get_group(group)
    for seed in seeds:
        rs = np.random.RandomState(seed)
        X = np.stack([(S + noise * rs.normal(size=S.shape)).ravel() for _ in range(60)])
        X = G.apply(G.sample(60, 1, n_points=k), X, PointLayout(d))
        moved = G.apply(G.sample(60, 2, n_points=k), X, PointLayout(d))
        est = CanonicalizerTransformer(group, method, n_dims=d).fit(X.astype(dtype))
        err = np.abs(est.transform(X.astype(dtype)) - est.transform(moved.astype(dtype))).max(axis=1)
        assert (err < (1e-9 if dtype == np.float64 else 1e-3)).all(), (seed, np.sort(err)[-3:])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group", ["C4", "D4"])
def test_image_largest_form_rule_does_not_depend_on_the_pose(group, dtype):
    """The rule that settles images the moments leave open (exact pixel moves, C_n/D_n)
    compared candidate forms one after another with a tolerance: on 3×3 images whose
    pixels differ by fractions of that tolerance, the moves of one image got forms that
    differed by more than it (10 of 300 under C4, 9 under D4). Anchored at the largest
    value, the moves of an image agree up to the tolerance."""
    from skcanon.canonicalizers._heuristics import _form_tolerance, _largest_form_elements

    G = get_group(group)
    elements = np.asarray(G.elements())
    rs = np.random.default_rng(0)
    t = 1e3 * np.finfo(dtype).eps
    for _ in range(300):
        image = rs.choice([0.0, 0.6 * t, 1.2 * t, 1.8 * t], size=(3, 3)) + rs.choice([0, 0, 0.5], size=(3, 3))
        image[1, 1] += 1.0
        P = G.act(elements, np.repeat(image[None, None], len(elements), axis=0).astype(dtype), ImageLayout())
        h = _largest_form_elements(G, P)
        forms = G.act(G.inverse(h), P, ImageLayout()).reshape(len(P), -1)
        assert np.abs(forms - forms[0]).max() <= _form_tolerance(P)[0]


@pytest.mark.parametrize("group, n_points, dims, method", [
    ("SO3", 3, 3, "pca"), ("SE3", 3, 3, "pca"), ("O3", 5, 3, "pca"), ("E3", 5, 3, "pca"),
    ("SE4", 5, 4, "pca"), ("O4", 6, 4, "pca"), ("SO3", 3, 3, "random"), ("O3", 5, 3, "anchored")])
@pytest.mark.parametrize("offset", [1e-12, 1e-10, 1e-8])
def test_points_with_offsets_below_the_noise_level_keep_their_direction(group, n_points, dims, method,
                                                                         offset):
    """Equally spaced points on a line (3-D) or a regular polygon (4-D), moved off it by
    ``offset`` of their size: the thin axes form a repeated eigenspace in which no point
    leaves more than the tie rule's noise level (1e-7), so the rule kept the eigensolver's
    axes there, which do not move with the input, and their coordinates (above the
    features' tolerance, 1e-12) chose between candidates: the line came out reversed in
    most poses (error 2.0; SO3 3 points 38-40 of 40 clouds at each offset, SE4 polygons 30
    of 30). Those coordinates no longer take part in the choice; they stay in the output,
    in axes the tie rule cannot orient, so the forms agree to about the offset."""
    G = get_group(group)
    if dims == 3:
        shape = np.zeros((n_points, 3))
        shape[:, 0] = np.arange(n_points) - (n_points - 1) / 2
        thin = slice(1, 3)
    else:
        angles = 2 * np.pi * np.arange(n_points) / n_points
        shape = np.zeros((n_points, 4))
        shape[:, 0], shape[:, 1] = np.cos(angles), np.sin(angles)
        thin = slice(2, 4)
    train = np.random.default_rng(0).normal(size=(16, shape.size))
    est = CanonicalizerTransformer(group, method, n_dims=dims, random_state=0, hidden=8).fit(train) \
        if method != "pca" else CanonicalizerTransformer(group, "pca", n_dims=dims).fit(shape.reshape(1, -1))
    worst = 0.0
    for k in range(6):
        moved = shape.copy()
        moved[:, thin] += offset * np.random.default_rng(k).normal(size=moved[:, thin].shape)
        P = np.repeat(moved[None], 4, axis=0)
        Q = G.act(G.sample(4, random_state=k, n_points=n_points), P, est.layout_)
        A, B = est.transform(P.reshape(4, -1)), est.transform(Q.reshape(4, -1))
        worst = max(worst, float((np.abs(A - B).max(1) / np.abs(A).max(1)).max()))
    assert worst < 10 * offset


@settings(max_examples=40, deadline=None)
@given(group=st.sampled_from(["SO3", "SE3", "O3", "E3", "SE3xS_n"]), n_points=st.integers(3, 6),
       exponent=st.floats(-12.0, -8.0), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_nearly_collinear_points_are_invariant(group, n_points, exponent, seed, dtype):
    """Hypothesis: equally spaced points on a line moved sideways by 1e-12 to 1e-8 of
    their size keep their canonical form in every pose, to about the offset (float64) or
    to float32's tolerance; before the fix, SO3/SE3 reversed the line in most poses."""
    G = get_group(group)
    offset = 10.0 ** exponent
    rs = np.random.default_rng(seed)
    line = np.zeros((n_points, 3))
    line[:, 0] = np.arange(n_points) - (n_points - 1) / 2
    line[:, 1:] += offset * rs.normal(size=(n_points, 2))
    P = np.repeat(line[None], 3, axis=0)
    Q = G.act(G.sample(3, random_state=seed, n_points=n_points), P, PointLayout(3))
    est = CanonicalizerTransformer(group, "pca+sort" if "S_n" in group else "pca").fit(P.reshape(3, -1))
    A = est.transform(P.reshape(3, -1).astype(dtype))
    B = est.transform(Q.reshape(3, -1).astype(dtype))
    bound = 10 * offset if dtype == np.float64 else 1e-5
    assert float((np.abs(A - B).max(1) / np.abs(A).max(1)).max()) < max(bound, 1e-9)


def _moved_benzene_flips(group, fars, dtype=np.float32):
    """How many of 60 benzenes (coordinates to 4 decimals: nearly symmetric) get another
    canonical form in some of their poses, each pose turned and moved ``fars`` sizes from
    the origin along one direction."""
    a = np.arange(6) * np.pi / 3
    ring = np.c_[1.39 * np.cos(a), 1.39 * np.sin(a), np.zeros(6)]
    mol = np.r_[ring, ring * 2.48 / 1.39]
    G = get_group("SO3")
    flipped = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        X0 = np.round(mol @ G.matrices(G.sample(1, random_state=seed))[0].T, 4)
        X0 = X0 - X0.mean(0)
        rms = np.sqrt((X0 ** 2).sum(1).mean())
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        poses = [(X0 + far * rms * u) @ G.matrices(G.sample(1, random_state=100 * seed + k))[0].T
                 for k, far in enumerate(fars)]
        X = np.stack(poses).reshape(len(fars), -1).astype(dtype)
        Z = CanonicalizerTransformer(group).fit_transform(X)
        flipped += int(np.abs(Z - Z[0]).max() > 1e-3)
    return flipped


@pytest.mark.parametrize("group", ["SE3", "E3", "Sim3"])
def test_float32_translations_near_the_origin_keep_nearly_symmetric_molecules_frames(group):
    """Under groups that translate, the tie rule's feature tolerance grew with the distance
    from the origin on, so a translation moved its edge across the candidates' feature
    differences: float32 benzenes moved 1 to 10 sizes away flipped
    their frame in 45 (SE3), 39 (E3, Sim3) of 60. The distance term now starts only where
    the offset's rounding, amplified by the axes' condition number, reaches the fixed
    tolerance (~17 sizes for these): 1, 0, 0."""
    assert _moved_benzene_flips(group, np.geomspace(1, 10, 8)) <= 1


@pytest.mark.parametrize("group", ["SE3", "E3", "Sim3"])
def test_float64_translations_keep_nearly_symmetric_molecules_frames(group):
    """In float64 the rounding of the offset stays far below the benzenes' asymmetry: no
    flips up to 1,000 sizes from the origin."""
    assert _moved_benzene_flips(group, np.geomspace(1, 1000, 8), np.float64) == 0


@pytest.mark.parametrize("group, shape", [("SE3", "cube"), ("E3", "tetrahedron"), ("SE3", "octahedron"),
                                          ("E2", "square"), ("SE2", "pentagon"), ("E2", "hexagon")])
def test_float32_regular_shapes_far_from_the_origin_keep_their_canonical_form(group, shape):
    """Exactly symmetric shapes moved 1 to 1,000 sizes from the origin in float32: the tie
    rule's feature tolerance must still grow with the offset's rounding there (with a term
    starting at ~100 sizes instead of ~17, 275 of 720 such poses flipped their frame)."""
    d = int(group[-1])
    S = _regular(shape)
    S = S - S.mean(0)
    rms = np.sqrt((S ** 2).sum(1).mean())
    O = get_group(("SO" if group.startswith("SE") else "O") + str(d))
    fars = np.geomspace(1, 1000, 12)
    flipped = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        u = rng.normal(size=d)
        u /= np.linalg.norm(u)
        R = O.matrices(O.sample(len(fars), seed))
        X = np.stack([(S + far * rms * u) @ R[k].T for k, far in enumerate(fars)])
        X = X.reshape(len(fars), -1).astype(np.float32)
        Z = CanonicalizerTransformer(group, n_dims=d).fit_transform(X)
        flipped += int(np.abs(Z - Z[0]).max() > 1e-2 * np.abs(S).max())
    assert flipped == 0


@pytest.mark.xfail(strict=True, reason="open: in float32, beyond ~17 sizes from the origin the PCA frames' "
                   "feature tolerance grows with the distance, which a translation changes")
def test_float32_translations_keep_nearly_symmetric_molecules_frames():
    """Open problem (audit of the groups and kernels): under groups that translate, float32
    benzenes with coordinates to 4 decimals (nearly symmetric) moved to distances from 1 to
    100 sizes flip their frame in 50 of 60 molecules under SE3 (48 while the feature
    tolerance grew from the origin on; rounding the distance to a power of two only moved
    the edge to each octave). The tolerance is now constant up to ~17 sizes (see the test
    above) and grows beyond, as exactly symmetric shapes 20 to 1,000 sizes away need it.
    The candidates' features differ by 1e-6 to 1e-4, so wherever the tolerance grows it
    crosses some of them: kept constant to 100 sizes (the offset's rounding then moves the
    features by ~1e-6), 15 of 60 still flipped, and 37 of 720 moved regular polygons and
    polyhedra did."""
    assert _moved_benzene_flips("SE3", np.geomspace(1, 100, 8)) <= 6
