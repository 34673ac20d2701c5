"""Learned and random canonicalization on symmetric inputs, extreme scales and scalar fields.

Network frames are built from equivariant output vectors (``"align"``, ``"prior"``) or the
eigenvectors of a learned weighted second-moment matrix signed by them (the other
objectives and the random method); a symmetry of the input fixes those vectors (a regular polygon leaves none but its axis, a cube none at all), so part of
the frame is left open. The hard frames settle that part with the PCA heuristic's exact
tie rules; these property tests check that the canonical forms are then invariant on
regular polygons and polyhedra, planar and collinear clouds and repeated points, for every
network group, in float64 and float32.
"""

import itertools
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skcanon import CanonicalizerTransformer
from skcanon.groups import get_group
from skcanon.layouts import Field, ImageLayout, PointLayout
from skcanon.nn._factory import build_frame_network
from skcanon.nn._permutation import SortFrameNetwork
from skcanon.nn._points import ScalarEncoder, scalar_statistics

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _polygon(k, d):
    a = 2 * np.pi * np.arange(k) / k
    P = np.zeros((k, d))
    P[:, 0], P[:, 1] = np.cos(a), np.sin(a)
    return P


def _shapes(d):
    rs = np.random.default_rng(3)
    generic = rs.normal(size=(5, d))
    line = np.zeros((5, d))
    line[:, 0] = np.arange(5) - 1.3
    shapes = {
        "triangle": _polygon(3, d), "square": _polygon(4, d), "hexagon": _polygon(6, d),
        "line": line, "repeated": np.concatenate([generic, generic[:2], generic[:1]]),
    }
    if d == 3:
        p = (1 + 5 ** 0.5) / 2
        icosa = [[0, s1, s2 * p] for s1 in (-1, 1) for s2 in (-1, 1)]
        icosa = np.array([np.roll(v, r) for v in icosa for r in range(3)], float)
        planar = np.zeros((7, 3))
        planar[:, :2] = rs.normal(size=(7, 2))
        shapes.update({
            "tetrahedron": np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float),
            "cube": np.array(list(itertools.product([-1, 1], repeat=3)), float),
            "octahedron": np.concatenate([np.eye(3), -np.eye(3)]),
            "icosahedron": icosa,
            "planar": planar,
            "square_pyramid": np.concatenate([_polygon(4, 3), [[0, 0, 1.3]]]),
        })
    return shapes


GROUPS = [("SO3", 3), ("O3", 3), ("SE3", 3), ("E3", 3), ("SE3xS_n", 3), ("E3xS_n", 3),
          ("SO2", 2), ("O2", 2), ("SE2", 2), ("S_n", 3)]
SHAPES = {d: _shapes(d) for d in (2, 3)}
_FITTED = {}


#: the levels of an atomic-number-like scalar field, which the networks embed
_LEVELS = np.array([1.0, 6.0, 7.0, 8.0])


def fitted(group, d, method, m, levels=False, neighbourhood=False):
    """A network fitted on 48 generic clouds of ``m`` points; with ``levels``, each point also
    carries a scalar with the levels 1, 6, 7, 8, so the scalar encoder embeds them; with
    ``neighbourhood``, the S_n network's scores also read each point's neighbourhood."""
    key = (group, method, m, levels, neighbourhood)
    if key not in _FITTED:
        rs = np.random.default_rng(0)
        P = rs.normal(size=(48, m, d))
        kw = dict(hidden=16, random_state=0, neighbourhood=neighbourhood)
        if levels:
            P = np.concatenate([P, rs.choice(_LEVELS, size=(48, m, 1))], axis=2)
            kw["layout"] = PointLayout(d, [("pos", "position", d), ("Z", "scalar", 1)])
        else:
            kw["n_dims"] = d
        X, y = P.reshape(48, -1), (P[:, 0, 0] > 0).astype(int)
        if method != "random":
            kw.update(max_epochs=2, early_stopping=False, lr=3e-3)
        if method == "align":  # no y: the output vectors' axes (the others: moment axes)
            canon = CanonicalizerTransformer(group=group, method="learned", objective="align", **kw).fit(X)
        else:
            canon = CanonicalizerTransformer(group=group, method=method, **kw).fit(X, y)
        if levels:
            assert np.array_equal(canon.canonicalizer_.scalar_stats_["levels"][0], _LEVELS)
        _FITTED[key] = canon
    return _FITTED[key]


def rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(a))


def _check_shape(group, d, method, name, dtype, seed, Z=None, neighbourhood=False):
    """Three copies of a shape (with the scalars ``Z`` per point, if given) in two random
    poses of ``group`` give the same finite canonical forms (float64: 1e-9 relative,
    float32: 1e-3)."""
    S = SHAPES[d][name] * 1.7 + 0.3
    canon = fitted(group, d, method, len(S), levels=Z is not None, neighbourhood=neighbourhood)
    rows = S if Z is None else np.concatenate([S, Z[:, None]], axis=1)
    G, P = get_group(group), np.repeat(rows[None], 3, axis=0)
    moved = [G.act(G.sample(3, random_state=seed + k, n_points=len(S)), P, canon.layout_) for k in range(2)]
    A, B = (canon.transform(Q.reshape(3, -1).astype(dtype)).astype(np.float64) for Q in moved)
    assert np.isfinite(A).all()
    assert rel(A, B) <= (1e-9 if dtype == np.float64 else 1e-3), (group, method, name, Z)


@pytest.mark.parametrize("levels", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["random", "learned", "align"])
@pytest.mark.parametrize("group,d", GROUPS)
@settings(max_examples=4, deadline=None)
@given(data=st.data())
def test_symmetric_shapes_invariant(group, d, method, dtype, levels, data):
    """Regular polygons/polyhedra, planar, collinear and repeated points: invariant forms.
    With ``levels`` each point also carries a level-embedded scalar: one level for every
    point (the symmetry kept) or levels drawn per point (part of it broken)."""
    _check_shape(group, d, method, dtype=dtype, **_draw_shape(d, levels, data))


def _draw_shape(d, levels, data):
    """A shape's name, a seed for the poses and, with ``levels``, the scalars of its points."""
    name = data.draw(st.sampled_from(sorted(SHAPES[d])))
    seed = data.draw(st.integers(0, 10_000))
    m = len(SHAPES[d][name])
    Z = None if not levels else data.draw(st.one_of(
        st.sampled_from(_LEVELS).map(lambda z: np.full(m, z)),
        st.lists(st.sampled_from(_LEVELS), min_size=m, max_size=m).map(np.array)))
    return dict(name=name, seed=seed, Z=Z)


@pytest.mark.parametrize("levels", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["random", "learned"])
@pytest.mark.parametrize("group,d", [g for g in GROUPS if "S_n" in g[0]])
@settings(max_examples=4, deadline=None)
@given(data=st.data())
def test_symmetric_shapes_invariant_with_neighbourhood_scores(group, d, method, dtype, levels, data):
    """The same shapes with ``neighbourhood=True``: the S_n network's point scores also sum
    radial functions of the distances to the other points; on a symmetric shape equivalent
    points get equal scores up to rounding, which the tie rule of the order settles."""
    shape = _draw_shape(d, levels, data)
    _check_shape(group, d, method, dtype=dtype, neighbourhood=True, **shape)
    m = len(SHAPES[d][shape["name"]])
    assert hasattr(_sort_network(fitted(group, d, method, m, levels, True)), "pair_u")


def _sort_network(canon):
    net = canon.canonicalizer_.network_
    return next(m for m in net.modules() if isinstance(m, SortFrameNetwork))


@pytest.mark.parametrize("group", ["SE3", "E3", "SE3xS_n"])
@settings(max_examples=6, deadline=None)
@given(data=st.data())
def test_symmetric_shapes_invariant_anchored(group, data):
    """The anchored method inherits the heuristic's tie rules (float64)."""
    name = data.draw(st.sampled_from(sorted(SHAPES[3])))
    _check_shape(group, 3, "anchored", name, np.float64, data.draw(st.integers(0, 10_000)))


def test_cube_fixes_every_network_vector():
    """Regression: a cube's network vectors are rounding noise, not zero; they must count as
    open (before, the noise itself chose the frame: invariance error 2.0)."""
    _check_shape("SE3", 3, "random", "cube", np.float64, 0)
    _check_shape("SE3", 3, "random", "triangle", np.float32, 0)


# -- extreme magnitudes --------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e300])
@pytest.mark.parametrize("group", ["SE3", "O3", "SE3xS_n"])
def test_random_network_scale_safe(group, scale):
    """Frames are scale-invariant: the output at ``X * s`` is the output at ``X`` times ``s``
    (before: all-NaN at 1e-300, with no error)."""
    X = np.random.default_rng(0).normal(size=(12, 8 * 3))
    canon = CanonicalizerTransformer(group=group, method="random", n_dims=3, hidden=16, random_state=0).fit(X)
    Z = canon.transform(X * scale)
    assert np.isfinite(Z).all()
    assert rel(canon.transform(X), Z / scale) <= 1e-9


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_learned_fit_scale_safe(scale):
    X = np.random.default_rng(1).normal(size=(40, 6 * 3))
    y = (X[:, 0] > 0).astype(int)
    canon = CanonicalizerTransformer(group="SE3xS_n", method="learned", n_dims=3, hidden=16, max_epochs=2,
                                     early_stopping=False, random_state=0).fit(X * scale, y)
    Z = canon.transform(X * scale)
    assert np.isfinite(Z).all()
    G, L = get_group("SE3xS_n"), PointLayout(3)
    moved = G.act(G.sample(40, random_state=2, n_points=6), X.reshape(40, 6, 3), L) * scale
    assert rel(Z, canon.transform(moved.reshape(40, -1))) <= 1e-9


# -- scalar fields ---------------------------------------------------------------------------

LAYOUT_Z = PointLayout(3, [("pos", "position", 3), ("Z", "scalar", 1)])


def _molecules(n=40, m=6, seed=0):
    rs = np.random.default_rng(seed)
    pos = rs.normal(size=(n, m, 3))
    Z = rs.choice([1.0, 6.0, 7.0, 8.0], size=(n, m, 1))
    return np.concatenate([pos, Z], axis=2)


def test_sort_scores_see_absolute_scalar_values():
    """Atom types keep their meaning: clouds whose scalars are an affine image of each other
    (1,1,6 versus 6,6,8) got identical scores when scalars were z-scored per sample."""
    P = _molecules(2, 3)
    P[0, :, 3] = [1.0, 1.0, 6.0]
    P[1, :, :3] = P[0, :, :3]
    P[1, :, 3] = [6.0, 6.0, 8.0]
    stats = scalar_statistics(_molecules(), LAYOUT_Z)
    torch.manual_seed(0)
    net = SortFrameNetwork(get_group("S_n"), LAYOUT_Z, hidden=16, scalar_stats=stats).double()
    s, _ = net.scores(torch.tensor(P))
    assert not torch.allclose(s[0], s[1])


def test_scalar_statistics_and_encoder():
    P = _molecules()
    stats = scalar_statistics(P, LAYOUT_Z)
    z = P[..., 3].ravel()
    assert np.allclose(stats["mean"], [z.mean()]) and np.allclose(stats["scale"], [z.std()])
    enc = ScalarEncoder(LAYOUT_Z, stats).double()
    out = enc(torch.tensor(P)).detach()
    assert np.allclose(out.numpy()[..., 0], (P[..., 3] - z.mean()) / z.std())


def test_numeric_scalars_with_few_integer_levels_are_also_embedded():
    """Atomic numbers 1, 6, 7, 8 keep their standardised value and get a level embedding
    (one linear feature cannot set 7 apart from both 6 and 8); two levels, non-integers or
    too many levels do not; the embedding separates what the linear feature cannot."""
    from skcanon.nn import _points

    P = _molecules()
    stats = scalar_statistics(P, LAYOUT_Z)
    assert np.array_equal(stats["levels"][0], [1.0, 6.0, 7.0, 8.0])
    enc = ScalarEncoder(LAYOUT_Z, stats).double()
    assert enc.n_out == 1 + 8 and enc.embedded == [3]
    assert enc.codes(torch.tensor([1.0, 7.0, 9.0, 0.0], dtype=torch.float64), 0).tolist() == [0, 2, 4, 4]
    out = enc(torch.tensor(P)).detach().numpy()
    same = P[..., 3] == 7.0
    assert np.allclose(out[same][:, 1:], out[same][0, 1:])
    assert not np.allclose(out[P[..., 3] == 6.0][0, 1:], out[same][0, 1:])
    for values in ([-1.0, 1.0], [0.5, 1.0, 2.0], np.arange(_points.LEVELS_MAX + 1.0)):
        Q = P.copy()
        Q[..., 3] = np.resize(values, Q.shape[:2])
        assert scalar_statistics(Q, LAYOUT_Z)["levels"][0].size == 0, values
        assert ScalarEncoder(LAYOUT_Z, scalar_statistics(Q, LAYOUT_Z)).n_out == 1
    # absent points (NaN rows) and NaN values do not count as levels
    Q = P.copy()
    Q[0, 0] = np.nan
    Q[1, 0, 3] = np.nan
    assert np.array_equal(scalar_statistics(Q, LAYOUT_Z)["levels"][0], [1.0, 6.0, 7.0, 8.0])


def test_encoder_from_statistics_without_levels():
    """Statistics fitted before level embeddings (no ``levels`` key) embed nothing, and an
    encoder unpickled from before (no ``embedded`` attribute) embeds its categorical columns."""
    P = _molecules()
    stats = scalar_statistics(P, LAYOUT_Z)
    old = {k: v for k, v in stats.items() if k != "levels"}
    enc = ScalarEncoder(LAYOUT_Z, old)
    assert enc.n_out == 1 and enc.embedded == []
    state = pickle.loads(pickle.dumps(enc)).__dict__
    state.pop("embedded")
    restored = ScalarEncoder.__new__(ScalarEncoder)
    restored.__setstate__(state)
    assert restored.embedded == [] and restored(torch.tensor(P)).shape == (len(P), P.shape[1], 1)
    with pytest.raises(ValueError, match="numeric scalar columns"):
        ScalarEncoder(LAYOUT_Z, {**stats, "levels": []})


def test_categorical_scalars_are_embedded():
    """Codes seen in fit get their own rows; unseen codes share the "unknown" row."""
    layout = PointLayout(3, [Field("pos", "position", 3), Field("Z", "scalar", 1, categorical=True)])
    P = _molecules()
    stats = scalar_statistics(P, layout)
    assert np.array_equal(stats["vocab"][0], [1.0, 6.0, 7.0, 8.0])
    enc = ScalarEncoder(layout, stats)
    codes = enc.codes(torch.tensor([1.0, 8.0, 9.0, 2.5]), 0)
    assert codes.tolist() == [0, 3, 4, 4]
    assert enc.n_out == 8
    X = P.reshape(len(P), -1)
    y = (P[:, 0, 3] > 5).astype(int)
    canon = CanonicalizerTransformer(group="SE3xS_n", method="learned", layout=layout, hidden=16, max_epochs=2,
                                     early_stopping=False, random_state=0).fit(X, y)
    Z = canon.transform(X)
    again = pickle.loads(pickle.dumps(canon)).transform(X)
    assert np.array_equal(Z, again)
    G = get_group("SE3xS_n")
    moved = G.act(G.sample(len(X), random_state=1, n_points=6), P, canon.layout_)
    assert rel(Z, canon.transform(moved.reshape(len(X), -1))) <= 1e-9


def test_training_sees_scalars_in_fit_units(monkeypatch):
    """The trainer divides the training array by a power of two; the scalar encoder must see
    atom types in the same units in training as at transform."""
    seen = {"train": set(), "transform": set()}
    phase = {"now": "train"}
    original = ScalarEncoder.forward

    def spy(self, x0):
        vals = x0[..., self.numeric].detach().cpu().numpy().ravel()
        seen[phase["now"]].update(np.round(vals[vals != 0], 6).tolist())
        return original(self, x0)

    monkeypatch.setattr(ScalarEncoder, "forward", spy)
    P = _molecules() * np.array([5.0, 5.0, 5.0, 1.0])  # positions large: power-of-two scale > 1
    X = P.reshape(len(P), -1)
    y = (P[:, 0, 3] > 5).astype(int)
    canon = CanonicalizerTransformer(group="SE3", method="learned", layout=LAYOUT_Z, hidden=16, max_epochs=1,
                                     early_stopping=False, random_state=0).fit(X, y)
    phase["now"] = "transform"
    canon.transform(X)
    assert seen["train"] <= {1.0, 6.0, 7.0, 8.0}
    assert seen["transform"] <= {1.0, 6.0, 7.0, 8.0}


# -- anchored --------------------------------------------------------------------------------

@pytest.mark.parametrize("group", ["SE3", "E3", "SO3", "SE3xS_n"])
def test_untrained_anchored_is_the_heuristic(group):
    """The residuals start at zero: an untrained anchored network gives pca(+sort)."""
    P = _molecules(20, 7, seed=4)
    X = P.reshape(20, -1)
    heuristic = "pca+sort" if "S_n" in group else "pca"
    ref = CanonicalizerTransformer(group=group, method=heuristic, layout=LAYOUT_Z).fit(X).transform(X)
    torch.manual_seed(0)
    net = build_frame_network(get_group(group), LAYOUT_Z, 16, scalar_statistics(P, LAYOUT_Z), anchored=True)
    net = net.double().eval()
    with torch.no_grad():
        out, _ = net.canonicalize(torch.tensor(P))
    assert np.allclose(out.numpy().reshape(20, -1), ref, atol=1e-10)


def test_anchored_trains_pickles_and_refuses_other_layouts():
    P = _molecules(60, 6, seed=5)
    X = P.reshape(60, -1)
    y = (P[:, :, 3].sum(1) > 25).astype(int)
    canon = CanonicalizerTransformer(group="SE3xS_n", method="anchored", layout=LAYOUT_Z, hidden=16, max_epochs=3,
                                     early_stopping=False, lr=1e-2, random_state=0).fit(X, y)
    gains = [float(mod.gain) for mod in canon.canonicalizer_.network_.modules() if hasattr(mod, "gain")]
    assert len(gains) == 2 and any(g != 0 for g in gains)  # the residuals moved
    Z = canon.transform(X)
    assert np.array_equal(Z, pickle.loads(pickle.dumps(canon)).transform(X))
    # images take the moments heuristic as their anchor (tests/test_learned_images.py); a
    # product of image groups has no anchored network
    with pytest.raises(ValueError, match="anchored"):
        CanonicalizerTransformer(group="C2xC4", method="anchored", layout=ImageLayout((8, 8))).fit(
            np.random.default_rng(0).normal(size=(4, 64)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group, d", [("SO3", 3), ("SE3", 3), ("SE2", 2), ("O2", 2), ("E3xS_n", 3)])
@pytest.mark.parametrize("method", ["random", "learned"])
def test_points_at_one_position_with_velocities_are_invariant(group, d, method, dtype):
    """All present points at one position, velocities generic (the group acts freely): the
    networks normalized the last-bit noise that centring leaves to unit spread, so their
    axes were axis-aligned noise (errors 0.9-2.0 in float64). Points that coincide up to
    rounding now have no spread, and the velocities decide."""
    from skcanon.metrics import invariance_error

    layout = PointLayout(d, [Field("pos", "position", d), Field("vel", "vector", d)])
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 5, 2 * d))
    X[:3, :, :d] = X[:3, :1, :d]                     # three samples: every point at one position
    X[3, 2:] = np.nan                                # ... one more with absent points too
    X[3, :2, :d] = X[3, :1, :d]
    kw = dict(hidden=8, random_state=0) if method == "random" else dict(hidden=8, max_epochs=2, objective="align",
                                                                       random_state=0)
    canon = CanonicalizerTransformer(group, method, layout=layout, **kw).fit(X.reshape(12, -1))
    Xc = X[:4].reshape(4, -1).astype(dtype)
    assert invariance_error(canon, Xc, group, random_state=0).max < (1e-9 if dtype == np.float64 else 1e-3)


def test_anchored_networks_train_on_exactly_symmetric_samples():
    """``method="anchored"`` under SE3 reported "diverged" on axis-aligned cubes of several
    sizes at any ``lr``: on their canonical pose the network's channel vectors are rounding
    noise, and torch's ``det`` backward (the chiral triple product) gave NaN. The gradient
    is now the cofactor matrix where torch's is not finite, and unchanged elsewhere."""
    from skcanon.nn._points import _TripleProduct

    cube = np.array(list(itertools.product([-1, 1], repeat=3)), float)
    X = (cube[None] * np.random.default_rng(0).uniform(0.5, 2, (40, 1, 1))).reshape(40, -1)
    y = np.arange(40) % 2
    for group in ("SE3", "SE3xS_n"):
        canon = CanonicalizerTransformer(group, method="anchored", max_epochs=3, random_state=0).fit(X, y)
        assert np.isfinite(canon.transform(X)).all()
    noise = torch.tensor([[[0.0, -5.3418e-09, 5.958e-35]] * 2 + [[-1.4901e-08, -5.3418e-09, 5.958e-35]]],
                         requires_grad=True)
    _TripleProduct.apply(noise).sum().backward()
    assert torch.isfinite(noise.grad).all()
    generic = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_TripleProduct.apply, (generic,))
