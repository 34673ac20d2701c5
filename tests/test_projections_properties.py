"""Property tests of every invariant projection: invariance, separation, isometry.

Tolerances (relative to the feature norm of each sample, see
:func:`skcanon.metrics.invariance_error`): float64 ``1e-9``; float32 ``1e-4`` (rotations of
float32 coordinates carry ~1e-7 relative rounding, which Gram/distances/determinants and
high power sums amplify by at most a few orders). Inputs are generic Gaussian samples;
degenerate inputs (ties, all-equal points, zeros) have their own finiteness test.

"Lossless" methods are checked on *hard* pairs — pairs that the lossy methods of the same
group provably merge (same per-channel multisets, same norms, mirror images, same power
spectra) — and the lossy ones are checked to merge them, so the test would fail if a lossy
map were reported lossless or a lossless one lost information.
"""

import itertools
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from skcanon._projector import InvariantProjector
from skcanon.groups import EXAMPLES, get_group
from skcanon.layouts import FibreLayout, ImageLayout, PointLayout
from skcanon.metrics import invariance_error, orbit_distortion, orbit_separation
from skcanon.projections import PROJECTIONS, methods_for

# float32: the moved inputs themselves are rounded at eps × |coordinates|; relative to a small
# output (two points 0.04 apart, translated by a few units) that reaches 2e-4 (long profile)
TOL = {np.float64: 1e-9, np.float32: 1e-3}

#: square images: every group whose image action is exact there is checked on them
IMAGE_SHAPE = (6, 6)
#: maps that enumerate the group: S_n is enumerated for the points of the data (m! elements)
ENUMERATING = ("reynolds", "max_filter")


def _contexts():
    """``(group, projector kwargs, kind of data, per-point width)`` for every group of
    :data:`skcanon.groups.EXAMPLES` on every layout kind it acts on (points of its ``d``;
    images where its action is exact; regular fibres of its order), and for ``G×S_n`` on the
    points of every example ``G`` that moves points in d-space: a group registered later is
    checked here without edits. Graphs have their own tests."""
    contexts = []
    for name in EXAMPLES:
        g = get_group(name)
        if "points" in g.layout_kinds:
            for w in ([g.d] if g.d is not None else [1, 3]):
                contexts.append((name, {"layout": "points", "n_dims": w}, "points", w))
            if g.d is not None and not g.permutes and not g.rescales:
                contexts.append((f"{name}xS_n", {"layout": "points", "n_dims": g.d}, "points", g.d))
        if "image" in g.layout_kinds and g.exact_on_image_shape(IMAGE_SHAPE):
            contexts.append((name, {"layout": ImageLayout(IMAGE_SHAPE)}, "image", 0))
        if "fibre" in g.layout_kinds:
            contexts.append((name, {"layout": "fibre"}, "fibre", g.order))
    return contexts


def _cases():
    """``(group, method, kwargs, kind, width)`` for every method invariant in a context."""
    cases = []
    for group, kwargs, kind, width in _contexts():
        for method in methods_for(get_group(group), _layout(group, kwargs, kind, width)):
            small = method in ENUMERATING and not get_group(group).is_finite
            cases.append((group, method, kwargs, "small_points" if small else kind, width))
    return cases


def _layout(group, kwargs, kind, width):
    if kind == "fibre":
        return FibreLayout(get_group(group).order)
    if kind == "image":
        return kwargs["layout"]
    return PointLayout(width)


def _data(kind, width, seed, n, m, dtype):
    rng = np.random.default_rng(seed)
    if kind == "image":
        return rng.normal(size=(n, 36)).astype(dtype)
    if kind == "small_points":
        m = min(m, 4)
    if kind == "fibre":
        return rng.normal(size=(n, 3 * width)).astype(dtype)
    X = rng.normal(size=(n, m, width)) * np.linspace(1.5, 0.7, width) + rng.normal(size=(n, 1, width))
    return X.reshape(n, -1).astype(dtype)


def _ids(case):
    return f"{case[0]}-{case[1]}-{case[3]}{case[4]}"


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(2, 7))
def test_projection_is_invariant(case, dtype, seed, m):
    group, method, kwargs, kind, width = case
    X = _data(kind, width, seed, 6, m, dtype)
    layout = _layout(group, kwargs, kind, width)
    proj = InvariantProjector(group, method, random_state=seed, **kwargs)
    Z = proj.fit(X).transform(X)
    assert proj.layout_ == layout
    assert Z.dtype == dtype and np.isfinite(Z).all()
    assert Z.shape == (X.shape[0], proj.n_features_out_)
    err = invariance_error(proj, X, group, n_trials=3, random_state=seed, layout=proj.layout_)
    assert err.max < TOL[dtype], (method, err)


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_degenerate_inputs_give_finite_output(case):
    group, method, kwargs, kind, width = case
    X = _data(kind, width, 0, 4, 4, np.float64)
    proj = InvariantProjector(group, method, random_state=0, **kwargs)
    proj.fit(X)
    for X_bad in (np.zeros_like(X), np.ones_like(X), np.repeat(X[:, :1], X.shape[1], axis=1)):
        Z = proj.transform(X_bad)
        assert np.isfinite(Z).all()
        np.testing.assert_array_equal(Z, proj.transform(X_bad))  # deterministic


# -- losslessness on hard pairs -----------------------------------------------------------------
def _shuffle_channels_independently(X, m, w, rng):
    """Same multiset in every channel, different joint: per-channel maps cannot tell."""
    P = X.reshape(len(X), m, w).copy()
    for c in range(1, w):
        P[:, :, c] = np.take_along_axis(P[:, :, c], np.argsort(rng.random((len(X), m)), 1), 1)
    return P.reshape(len(X), -1)


@given(seed=st.integers(0, 2**31 - 1), m=st.integers(3, 5))
def test_lossless_permutation_maps_separate_channel_shuffles(seed, m):
    rng = np.random.default_rng(seed)
    w = 2
    X = rng.normal(size=(20, m * w))
    Y = _shuffle_channels_independently(X, m, w, rng)
    # keep the pairs whose shuffle really left the orbit: a shuffle that only swaps two
    # nearly equal values gives (almost) the same set (seen: relative difference 1.3e-6)
    perms = np.array(list(itertools.permutations(range(m))))
    Px, Py = X.reshape(-1, m, w), Y.reshape(-1, m, w)
    gap = np.array([np.abs(px[perms] - py[None]).max(axis=(1, 2)).min() for px, py in zip(Px, Py)])
    X, Y = X[gap > 1e-3], Y[gap > 1e-3]
    assume(len(X) > 0)
    for method in ("random_sort", "lexsort", "power_sums", "random_moments", "max_filter", "canonical"):
        proj = InvariantProjector("S_n", method, n_dims=w, random_state=seed).fit(X)
        assert proj.lossless_, method
        assert orbit_separation(proj, X, "S_n", X_other=Y) == 1.0, method
    for method in ("sum", "mean", "max", "sort"):
        proj = InvariantProjector("S_n", method, n_dims=w).fit(X)
        assert not proj.lossless_
        assert orbit_separation(proj, X, "S_n", X_other=Y) == 0.0, method


@given(seed=st.integers(0, 2**31 - 1), m=st.integers(2, 6))
def test_gram_separates_equal_norm_sets_under_O3(seed, m):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(15, m, 3))
    # rotate every point on its own: norms kept, angles between points changed
    R = get_group("SO3").sample(15 * m, rng.integers(2**31)).reshape(15, m, 3, 3)
    Y = np.einsum("nmij,nmj->nmi", R, X)
    X, Y = X.reshape(15, -1), Y.reshape(15, -1)
    gram = InvariantProjector("O3", "gram").fit(X)
    norms = InvariantProjector("O3", "norms").fit(X)
    assert gram.lossless_ and not norms.lossless_
    assert orbit_separation(gram, X, "O3", X_other=Y) == 1.0
    assert orbit_separation(norms, X, "O3", X_other=Y) == 0.0


#: examples that are all proper rotations (SO(d), SE(d)): where gram_minors is lossless
PROPER_ROTATIONS = [n for n in EXAMPLES if get_group(n).rotates and get_group(n).special
                    and not get_group(n).is_finite and not get_group(n).rescales]


@pytest.mark.parametrize("group", PROPER_ROTATIONS)
@given(seed=st.integers(0, 2**31 - 1), extra=st.integers(0, 2))
def test_minors_separate_mirror_images(group, seed, extra):
    # m ≥ d + 2: fewer (centred) points span a hyperplane and equal their mirror image
    d = get_group(group).d
    m = d + 2 + extra
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(15, m, d))
    Y = X * np.r_[-1.0, np.ones(d - 1)]         # mirror image: same Gram, different SO(d)-orbit
    X, Y = X.reshape(15, -1), Y.reshape(15, -1)
    minors = InvariantProjector(group, "gram_minors").fit(X)
    gram = InvariantProjector(group, "gram").fit(X)
    assert minors.lossless_ and not gram.lossless_
    assert orbit_separation(minors, X, group, X_other=Y) == 1.0
    assert orbit_separation(gram, X, group, X_other=Y) == 0.0


@given(seed=st.integers(0, 2**31 - 1), n=st.sampled_from([3, 4, 6, 8]))
def test_bispectrum_separates_what_power_spectrum_merges(seed, n):
    rng = np.random.default_rng(seed)
    C = 3
    X = rng.normal(size=(20, C, n))
    # shift each channel by its own amount: per-channel spectra and pools unchanged
    shifts = rng.integers(1, n, size=(20, C))
    Y = np.stack([np.stack([np.roll(X[i, c], shifts[i, c]) for c in range(C)]) for i in range(20)])
    Y[:, 0] = X[:, 0]
    X, Y = X.reshape(20, -1), Y.reshape(20, -1)
    group = f"C{n}"
    for method in ("bispectrum", "max_filter"):
        proj = InvariantProjector(group, method, layout="fibre", random_state=seed).fit(X)
        assert proj.lossless_
        assert orbit_separation(proj, X, group, X_other=Y) == 1.0, method
    for method in ("power_spectrum", "group_pool"):
        proj = InvariantProjector(group, method, layout="fibre").fit(X)
        assert not proj.lossless_
        assert orbit_separation(proj, X, group, X_other=Y) == 0.0, method


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8])
def test_bispectrum_emits_no_constant_or_repeated_column(n):
    # real fibres make half of B_c(k) repeat and some imaginary parts vanish identically;
    # none of those may be emitted (a downstream StandardScaler would blow up their noise)
    X = np.random.default_rng(n).normal(size=(200, 3 * n))
    proj = InvariantProjector(f"C{n}", "bispectrum", layout="fibre").fit(X)
    Z = proj.transform(X)
    assert Z.shape[1] == len(proj.get_feature_names_out())
    assert Z.std(axis=0).min() > 1e-3
    corr = np.corrcoef(Z, rowvar=False)
    assert np.abs(corr[~np.eye(len(corr), dtype=bool)]).max() < 0.999


@pytest.mark.parametrize("method", ["max_filter", "canonical"])
@given(seed=st.integers(0, 2**31 - 1))
def test_lossless_image_maps_separate_mirror_images(method, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(12, 25))
    Y = X.reshape(12, 5, 5)[:, :, ::-1].reshape(12, 25)   # mirror: not a C4 element
    proj = InvariantProjector("C4", method, layout=ImageLayout((5, 5)), random_state=seed).fit(X)
    assert proj.lossless_
    assert orbit_separation(proj, X, "C4", X_other=Y) == 1.0
    reyn = InvariantProjector("C4", "reynolds", layout=ImageLayout((5, 5)), random_state=seed).fit(X)
    assert not reyn.lossless_


@given(seed=st.integers(0, 2**31 - 1), m=st.integers(3, 6))
def test_distances_separate_E3_orbits_and_sorted_distances_generic_clouds(seed, m):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, m * 3))
    dist = InvariantProjector("E3", "distances").fit(X)
    assert dist.lossless_
    assert orbit_separation(dist, X, "E3", random_state=seed) == 1.0
    sd = InvariantProjector("E3xS_n", "sorted_distances").fit(X)
    assert orbit_separation(sd, X, "E3xS_n", random_state=seed) == 1.0


# -- isometry of the scalar sort ----------------------------------------------------------------
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(2, 12))
def test_scalar_sort_is_isometric_to_the_quotient(seed, m):
    X = np.random.default_rng(seed).normal(size=(40, m))
    proj = InvariantProjector("S_n", "sort", n_dims=1).fit(X)
    res = orbit_distortion(proj, X, "S_n", n_pairs=60, random_state=seed)
    assert res.n_pairs > 0
    assert abs(res.distortion - 1) < 1e-9 and abs(res.min_ratio - 1) < 1e-9
    # a lossy map is not: pooling contracts some pairs far more than others
    pooled = InvariantProjector("S_n", "sum", n_dims=1).fit(X)
    assert orbit_distortion(pooled, X, "S_n", n_pairs=60, random_state=seed).distortion > 1.01


# -- repeated and absent points, extreme magnitudes (issue 14 items 3, 4, 7) ------------------
GEOMETRIC = [c for c in CASES if c[3] == "points" and PROJECTIONS[c[1]].family == "geometry"]
# the canonical cross-section inherits the canonicalizers' tie rules (their own property
# tests, see test_canonicalizer_properties.py), so only the closed-form maps are checked here
CLOSED_FORM = [c for c in GEOMETRIC if c[1] != "canonical"]


@pytest.mark.parametrize("case", CLOSED_FORM, ids=[_ids(c) for c in CLOSED_FORM])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(1, 7), n_dup=st.integers(0, 3), n_absent=st.integers(0, 3))
def test_repeated_and_absent_points_stay_invariant_and_finite(case, dtype, seed, m, n_dup, n_absent):
    """Duplicated points (ties) and absent (all-NaN) points anywhere in a sample: the output
    is finite, invariant to the same tolerance as generic input, and unchanged by the
    positions of the absent rows. Points 0 and 1 stay present (when a sample's present
    points all coincide its features are 0 up to the rounding of the group action itself,
    which no relative tolerance covers)."""
    group, method, kwargs, kind, width = case
    rng = np.random.default_rng(seed)
    P = _data(kind, width, seed, 6, m, np.float64).reshape(6, m, width)
    if n_dup and m > 1:
        src = rng.integers(0, m, size=n_dup)
        P = np.concatenate([P, P[:, src]], axis=1)
    k = P.shape[1]
    for i in range(6):
        P[i, 2 + rng.choice(max(k - 2, 0), size=min(n_absent, max(k - 2, 0)), replace=False)] = np.nan
    P = P[:, rng.permutation(k)]  # absent rows anywhere
    X = P.reshape(6, -1).astype(dtype)
    proj = InvariantProjector(group, method, random_state=seed, **kwargs).fit(X)
    Z = proj.transform(X)
    assert Z.dtype == dtype and np.isfinite(Z).all()
    err = invariance_error(proj, X, group, n_trials=3, random_state=seed, layout=proj.layout_)
    tol = TOL[dtype]
    if method == "distances" and n_dup and m > 1:
        # ‖a‖² + ‖b‖² − 2⟨a, b⟩ from one batched product: the product's entries for a point and
        # its copy may differ in the last bit (seen in 4-D), which the square root turns into
        # √eps × scale instead of 0 ("sorted_distances" uses coordinate differences instead)
        tol = max(tol, float(np.sqrt(np.finfo(dtype).eps)))
    assert err.max < tol, (method, err)


SCALE_FREE = {"distances": 1, "norms": 1, "sorted_distances": 1, "gram": 2}


@pytest.mark.parametrize("case", [c for c in GEOMETRIC if c[1] in SCALE_FREE], ids=_ids)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(seed=st.integers(0, 2**31 - 1), e=st.integers(-1000, 1000))
def test_extreme_magnitudes_give_scaled_features_or_a_clear_error(case, dtype, seed, e):
    """``f(2^e·x) = 2^(k·e)·f(x)`` for a map homogeneous of degree ``k``, computed rescaled
    (powers of two are exact), as long as the result is a normal number of the dtype;
    beyond that, a ValueError naming X, never inf or NaN."""
    group, method, kwargs, kind, width = case
    info = np.finfo(dtype)
    e = int(np.clip(e, info.minexp + 4, info.maxexp - 4))   # 2^e·x itself representable
    X = _data(kind, width, seed, 5, 4, dtype)
    proj = InvariantProjector(group, method, **kwargs).fit(X)
    Z = proj.transform(X).astype(np.float64)
    k = SCALE_FREE[method]
    Xe = np.ldexp(X, e).astype(dtype)
    top = k * e + np.log2(max(np.abs(Z).max(), 1e-300))   # log2 of the largest feature
    if k == 2 and top > info.maxexp + 1:                    # cannot be finite
        with pytest.raises(ValueError, match="X has coordinates up to"):
            proj.transform(Xe)
        return
    if not info.minexp + 8 < top < info.maxexp - 8:         # near the edges: finite or refused
        try:
            assert np.isfinite(proj.transform(Xe)).all()
        except ValueError as exc:
            # overflow at the top, underflow of a sample's largest feature at the bottom
            assert ("X has coordinates up to" in str(exc)) if top > 0 else ("underflow" in str(exc))
        return
    Ze = proj.transform(Xe)
    assert np.isfinite(Ze).all()
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(np.ldexp(Ze.astype(np.float64), -k * e), Z, rtol=rtol,
                               atol=rtol * np.abs(Z).max())
