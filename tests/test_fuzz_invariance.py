"""Invariance fuzzing over the registries: group × method × layout × size × dtype.

Every (group, method) pair is enumerated from :data:`skcanon.canonicalizers.METHODS` and
:data:`skcanon.projections.PROJECTIONS` (a method registered later is fuzzed without
editing this file), then hypothesis draws the pair, the layout (flat or 3-D; positions
only, or positions + a vector field + a scalar field; absent-point NaN rows), the number
of samples and points, the dtype and the data, and checks

* canonicalizers: ``transform(g·X) = transform(X)`` and ``frame(g·X) = g·frame(X)``;
* projectors: ``transform(g·X) = transform(X)``.

Tolerances (relative, per sample, see :func:`skcanon.metrics.invariance_error`):
heuristics and projections float64 ``1e-8``, float32 ``1e-3``; networks (random/learned,
run in float64 for float64 input) ``1e-6``; networks are fuzzed on float64 only (float32
tails near symmetric clouds are bounded in ``test_learned_points.py``).

Profiles: the default ``ci`` profile of ``tests/conftest.py`` (25 derandomized examples per
test, well under 60 s). For a fuzzing session::

    HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz_invariance.py

(500 random examples per test).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skcanon import CanonicalizerTransformer, InvariantProjector
from skcanon.canonicalizers import METHODS, make_canonicalizer, registered_methods
from skcanon.groups import EXAMPLES, get_group
from skcanon.layouts import FibreLayout, ImageLayout, PointLayout
from skcanon.metrics import equivariance_error, invariance_error
from skcanon.projections import PROJECTIONS, methods_for

torch = pytest.importorskip("torch")

NETWORKS = ("random", "learned")


def _point_groups():
    """(alias, n_dims): every example group acting on points (at its own dimension, 3 where
    it has none), each that moves points × S_n, and each rotation group without translations
    × scaling. A group registered in :data:`skcanon.groups.EXAMPLES` is fuzzed without edits."""
    groups = []
    for alias in EXAMPLES:
        g = get_group(alias)
        d = g.d or 3
        if not g.acts_on(PointLayout(d)):
            continue
        groups.append((alias, d))
        if g.d is not None:
            groups.append((f"{alias}xS_n", d))
        if g.rotates and not (g.translates or g.rescales):
            groups.append((f"{alias}xscaling", d))
    return groups


POINT_GROUPS = _point_groups()


def _layout(d, fields):
    if fields == "pos":
        return PointLayout(d)
    return PointLayout(d, fields=[("pos", "position"), ("vel", "vector"), ("charge", "scalar")])


def _per_factor_methods(group):
    return [sorted({n for n, _, supports, whole in registered_methods() if supports(f) and not whole})
            for f in group.factors]


def _canonicalizer_cases():
    """(group, method) pairs from METHODS that build on 3-D/2-D point layouts."""
    import itertools

    cases = []
    for name, d in POINT_GROUPS:
        group = get_group(name)
        candidates = {n for n, _, _, whole in registered_methods() if whole} | {"auto"}
        candidates |= {"+".join(c) for c in itertools.product(*_per_factor_methods(group))}
        for method in sorted(candidates):
            try:
                make_canonicalizer(group, method, PointLayout(d))
            except (ValueError, TypeError):
                continue
            cases.append((name, method, d))
    return cases


CANON_CASES = _canonicalizer_cases()
# "identity" is the non-invariant baseline: nothing to fuzz
HEURISTIC_CASES = [c for c in CANON_CASES if c[1] not in NETWORKS and "identity" not in c[1]]
NETWORK_CASES = [c for c in CANON_CASES if c[1] in NETWORKS]


def test_registry_enumeration_covers_every_method():
    used = {part for _, m, _ in HEURISTIC_CASES + NETWORK_CASES for part in m.split("+")} | {"identity"}
    # wl needs graphs, moments images: fuzzed through their own tests
    assert set(METHODS) - {"wl", "moments"} <= used
    assert {m for _, m, _ in NETWORK_CASES} == set(NETWORKS)


@st.composite
def point_data(draw, d, allow_nan=True, dtypes=(np.float64, np.float32), max_points=8):
    n = draw(st.integers(1, 6))
    m = draw(st.integers(3, max_points))
    fields = draw(st.sampled_from(["pos", "pos+vel+charge"]))
    three_d = draw(st.booleans())
    dtype = draw(st.sampled_from(dtypes))
    seed = draw(st.integers(0, 2**31 - 1))
    layout = _layout(d, fields)
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(n, m, layout.width))
    P[..., :d] = P[..., :d] * np.linspace(2.0, 0.6, d) + rng.normal(size=(n, 1, d)) * 2  # anisotropic, offset
    if allow_nan and draw(st.booleans()):
        n_absent = draw(st.integers(1, m - 3)) if m > 3 else 0
        for i in range(n):
            P[i, rng.choice(m, n_absent, replace=False)] = np.nan
    X = P if three_d else P.reshape(n, -1)
    return X.astype(dtype), layout, seed


def _tol(dtype, network=False):
    if network:
        return 1e-6
    return 1e-8 if dtype == np.float64 else 1e-3


@given(data=st.data())
def test_fuzz_heuristic_canonicalizers(data):
    group, method, d = data.draw(st.sampled_from(HEURISTIC_CASES), label="case")
    X, layout, seed = data.draw(point_data(d), label="X")
    est = CanonicalizerTransformer(group, method, layout=layout).fit(X)
    out = est.transform(X)
    assert out.shape == X.shape and out.dtype == X.dtype
    present = ~np.isnan(out.reshape(len(X), -1, layout.width)).all(axis=2)
    assert np.isfinite(out.reshape(len(X), -1, layout.width)[present]).all()
    tol = _tol(X.dtype)
    assert invariance_error(est, X, group, n_trials=2, random_state=seed).max < tol
    if X.dtype == np.float64:
        assert equivariance_error(est, X, group, n_trials=2, random_state=seed).max < tol


@pytest.mark.parametrize("spec", ["T3xscaling", "T3xSO3", "T3xSO3xS_nxscaling"])
def test_non_commuting_products_are_refused(spec):
    """Translations commute neither with scalings nor with rotations about the origin."""
    with pytest.raises(ValueError, match="do not commute"):
        CanonicalizerTransformer(spec).fit(np.zeros((2, 6)))


_NETS = {}


def _network(group, method, d, layout):
    key = (group, method, d, layout.width)
    if key not in _NETS:
        X = np.random.default_rng(1).normal(size=(24, 6, layout.width))
        kw = dict(objective="align", max_epochs=1, early_stopping=False) if method == "learned" else {}
        _NETS[key] = CanonicalizerTransformer(group, method, layout=layout, hidden=8, random_state=0,
                                              **kw).fit(X.reshape(24, -1))
    return _NETS[key]


@given(data=st.data())
def test_fuzz_network_canonicalizers(data):
    group, method, d = data.draw(st.sampled_from(NETWORK_CASES), label="case")
    X, layout, seed = data.draw(point_data(d, dtypes=(np.float64,), max_points=6), label="X")
    # networks are fitted once per (group, method, layout) on 6 points; pad the draw to 6
    P = X.reshape(len(X), -1, layout.width)
    pad = np.full((len(X), 6 - P.shape[1], layout.width), np.nan)
    P = np.concatenate([P, pad], axis=1)
    X = P if X.ndim == 3 else P.reshape(len(X), -1)
    est = _network(group, method, d, layout)
    out = est.transform(X)
    assert out.shape == X.shape
    assert invariance_error(est, X, group, n_trials=2, random_state=seed).max < _tol(X.dtype, True)
    assert equivariance_error(est, X, group, n_trials=2, random_state=seed).max < 1e-5


# -- projections -------------------------------------------------------------------------------------
def _projection_contexts():
    """(group, estimator kwargs, kind, width, layout), all from the example groups: S_n on
    points of width 1-3, every example group acting on points (and, moving points, × S_n),
    every one acting on fibres (fibre size = its order), and every one whose action on 6×6
    images is exact."""
    contexts = [("S_n", {"n_dims": w}, "points", w, PointLayout(w)) for w in (1, 2, 3)]
    image = ImageLayout((6, 6))
    for alias in EXAMPLES:
        g = get_group(alias)
        if g.d is not None and g.acts_on(PointLayout(g.d)):
            points = PointLayout(g.d)
            contexts += [(alias, {"layout": points}, "points", g.d, points),
                         (f"{alias}xS_n", {"layout": points}, "points", g.d, points)]
        if g.is_finite and g.acts_on(FibreLayout(g.order)):
            contexts.append((alias, {"layout": "fibre"}, "fibre", g.order, FibreLayout(g.order)))
        if g.acts_on(image) and g.exact_on_image_shape(image.shape):
            contexts.append((alias, {"layout": image}, "image", 0, image))
    return contexts


def _projection_cases():
    cases = []
    for group, kwargs, kind, width, layout in _projection_contexts():
        for method in methods_for(get_group(group), layout):
            cases.append((group, method, kwargs, kind, width))
    return cases


PROJ_CASES = _projection_cases()


def test_projection_enumeration_covers_registry():
    assert {c[1] for c in PROJ_CASES} | {"spectrum"} == set(PROJECTIONS)  # spectrum: graphs only


@given(data=st.data())
def test_fuzz_projections(data):
    group, method, kwargs, kind, width = data.draw(st.sampled_from(PROJ_CASES), label="case")
    dtype = data.draw(st.sampled_from([np.float64, np.float32]), label="dtype")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    n = data.draw(st.integers(1, 6), label="n")
    rng = np.random.default_rng(seed)
    small = method in ("reynolds", "max_filter") and kind == "points" and group.startswith("S_n")
    m = data.draw(st.integers(2, 4 if small else 7), label="m")
    if kind == "image":
        X = rng.normal(size=(n, 36))
    elif kind == "fibre":
        X = rng.normal(size=(n, data.draw(st.integers(1, 4), label="channels") * width))
    else:
        P = rng.normal(size=(n, m, width)) * np.linspace(1.5, 0.7, width) + rng.normal(size=(n, 1, width))
        X = P if data.draw(st.booleans(), label="3d") else P.reshape(n, -1)
    X = X.astype(dtype)
    proj = InvariantProjector(group, method, random_state=seed, **kwargs).fit(X)
    Z = proj.transform(X)
    assert Z.shape == (n, proj.n_features_out_) and Z.dtype == dtype and np.isfinite(Z).all()
    err = invariance_error(proj, X, group, n_trials=2, random_state=seed, layout=proj.layout_)
    assert err.max < (1e-8 if dtype == np.float64 else 1e-3), (group, method, err)
