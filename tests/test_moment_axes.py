"""Moment axes of point frame networks (``PointFrameNetwork(axes="moments")``, the default).

The rotation's axes are the eigenvectors of a learned weighted second-moment matrix, signed
by the network's output vectors. These tests check what that choice must keep: exact
equivariance on generic clouds (float64 and float32), the heuristic's tie rules where
eigenvalues or signs are tied, finite gradients at ties, PCA's axes at uniform weights, and
which objectives use which axes (also after pickling).
"""

import itertools
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skcanon import CanonicalizerTransformer
from skcanon.groups import get_group
from skcanon.layouts import PointLayout
from skcanon.nn._factory import build_frame_network
from skcanon.nn._points import PointFrameNetwork, gram_schmidt, moment_axes
from skcanon.nn._torch import seeded, set_precision

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GROUPS = [("SO3", 3), ("O3", 3), ("SE3", 3), ("E3", 3), ("SO2", 2), ("O2", 2), ("SE2", 2), ("E2", 2)]


def _network(group, d, dtype=torch.float64):
    with seeded(0):
        net = PointFrameNetwork(get_group(group), PointLayout(d), hidden=16)
    return net.to(dtype).eval()


def _frames(net, P, dtype):
    """Rotation parts of the hard frames of ``P`` ``(n, m, d)`` in ``dtype``."""
    set_precision(net, dtype)
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    with torch.no_grad():
        R, t, _ = net.to(tdt)._parts(torch.as_tensor(P.astype(dtype)), hard=True)
    return R.double().numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group,d", GROUPS)
@settings(max_examples=10, deadline=None)
@given(cloud=arrays(np.float64, (9, 3), elements=st.floats(-3, 3)), seed=st.integers(0, 10_000))
def test_frames_are_equivariant_on_generic_clouds(group, d, dtype, cloud, seed):
    """``R(g·x) = g R(x)`` for the rotation part (hard frames)."""
    P = cloud[None, :, :d]
    spread = np.linalg.svd(P[0] - P[0].mean(0), compute_uv=False)
    gaps = np.abs(np.diff(spread ** 2)) / max(spread[0] ** 2, 1e-300)
    if spread[-1] < 1e-2 * max(spread[0], 1e-300) or gaps.min() < 1e-2:
        return  # near-degenerate: the symmetric-shape tests cover those
    G, L = get_group(group), PointLayout(d)
    g = G.sample(1, random_state=seed, n_points=9)
    moved = np.asarray(G.act(g, P, L))
    net = _network(group, d)
    R0, R1 = _frames(net, P, dtype), _frames(net, moved, dtype)
    rot = np.asarray(g)[0, :d, :d]
    tol = 1e-9 if dtype == np.float64 else 2e-3
    assert np.max(np.abs(rot @ R0[0] - R1[0])) <= tol


def test_uniform_weights_give_the_pca_axes():
    """``w_i = 1`` (logits 0): the axes are the principal axes, in order of variance."""
    rs = np.random.default_rng(0)
    f = torch.as_tensor(rs.normal(size=(4, 20, 3)) * [3.0, 2.0, 1.0])
    f = f - f.mean(1, keepdim=True)
    mask = torch.ones(4, 20, dtype=torch.bool)
    U = torch.as_tensor(rs.normal(size=(4, 3, 3)))
    E = moment_axes(U, torch.zeros(4, 20, dtype=f.dtype), mask, f).numpy()
    for i in range(4):
        _, _, Vt = np.linalg.svd(f[i].numpy(), full_matrices=False)
        np.testing.assert_allclose(np.abs(E[i].T @ Vt.T), np.eye(3), atol=1e-10)
        # each axis points where the network's vector of the same rank does
        assert np.all(np.sum(E[i] * U[i].numpy(), axis=0) > 0)


def test_open_columns_where_eigenvalues_or_signs_tie():
    """Hard mode zeroes undetermined columns: all three of a cube (tied eigenvalues), the
    last two of a square pyramid's axis-symmetric spread... and the sign of an axis whose
    network vector is orthogonal to it."""
    mask = torch.ones(1, 8, dtype=torch.bool)
    cube = torch.as_tensor(np.array(list(itertools.product([-1.0, 1.0], repeat=3)))[None])
    U = torch.eye(3, dtype=torch.float64)[None]
    E = moment_axes(U, torch.zeros(1, 8, dtype=torch.float64), mask, cube, open_eps=1e-5)
    assert torch.all(E == 0)
    box = cube * torch.tensor([3.0, 1.0, 1.0], dtype=torch.float64)       # λ1 > λ2 = λ3
    E = moment_axes(U, torch.zeros(1, 8, dtype=torch.float64), mask, box, open_eps=1e-5)
    assert E[0, :, 0].abs().sum() > 0.99 and torch.all(E[0, :, 1:] == 0)
    flat = cube * torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64)      # distinct eigenvalues
    U_perp = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)[None]
    E = moment_axes(U_perp, torch.zeros(1, 8, dtype=torch.float64), mask, flat, open_eps=1e-5)
    assert torch.all(E[0, :, :2] == 0) and E[0, 2, 2] == 1.0               # first two unsigned
    _, prefix = gram_schmidt(E, return_prefix=True, eps=1e-5, atol=1e-5)
    assert int(prefix[0]) < 3                                               # the tie rules decide


@pytest.mark.parametrize("group", ["SO3", "O3", "SE3", "E3"])
def test_gradients_stay_finite_at_tied_eigenvalues(group):
    """eigh's gradient is infinite at a tie: tied samples pass none, the others do."""
    cube = np.array(list(itertools.product([-1.0, 1.0], repeat=3)))
    generic = np.random.default_rng(1).normal(size=(8, 3)) * [3.0, 2.0, 1.0]
    P = torch.as_tensor(np.stack([cube, generic, cube * [3, 1, 1]]))
    with seeded(0):
        net = PointFrameNetwork(get_group(group), PointLayout(3), hidden=16).double()
    out = net.soft_canonicalize(P)
    (out[1] ** 3).sum().backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    net.zero_grad()
    (net.soft_canonicalize(P[[0]]) ** 3).sum().backward()      # only a tied sample
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_axes_follow_the_objective_and_survive_pickling():
    rs = np.random.default_rng(0)
    X = rs.normal(size=(64, 24))
    y = (X[:, 0] > 0).astype(int)
    kw = dict(hidden=16, random_state=0, max_epochs=1)
    expected = {("learned", "auto", True): "moments", ("learned", "supervised", True): "moments",
                ("learned", "auto", False): "vectors", ("learned", "prior", False): "vectors",
                ("learned", "supervised+prior", True): "vectors", ("random", "auto", False): "moments"}
    for (method, objective, with_y), axes in expected.items():
        opts = kw if method == "learned" else dict(hidden=16, random_state=0)
        canon = CanonicalizerTransformer("SE3", method, objective=objective, **opts)
        canon.fit(X, y if with_y else None)
        inner = canon.canonicalizer_
        assert inner.network_axes_ == axes, (method, objective)
        assert inner.network_.axes == axes
        again = pickle.loads(pickle.dumps(canon))
        assert again.canonicalizer_.network_.axes == axes
        np.testing.assert_array_equal(again.transform(X), canon.transform(X))


def test_composed_and_end_to_end_networks_use_moment_axes():
    net = build_frame_network(get_group("SE3xS_n"), PointLayout(3), 16)
    assert [n.axes for n in net.nets if isinstance(n, PointFrameNetwork)] == ["moments"]
    assert build_frame_network(get_group("SE3"), PointLayout(3), 16, axes="vectors").axes == "vectors"
    assert build_frame_network(get_group("SE3"), PointLayout(3), 16, anchored=True).axes == "vectors"


def test_bad_axes_is_refused():
    with pytest.raises(ValueError, match="axes must be one of"):
        PointFrameNetwork(get_group("SO3"), PointLayout(3), axes="pca")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_skew_signs_are_equivariant_and_open_on_symmetric_clouds(dtype):
    """``signs="skew"`` (a measured variant): third-moment signs rotate with the cloud, and
    a cloud symmetric under a reflection along an axis leaves that sign to the vectors."""
    rs = np.random.default_rng(2)
    P = rs.normal(size=(1, 11, 3)) * [3.0, 2.0, 1.0]
    P = P - P.mean(1, keepdims=True)
    G = get_group("SO3")
    g = G.sample(1, random_state=4)
    net = _network("SO3", 3)
    net.signs = "skew"
    R0 = _frames(net, P, dtype)
    R1 = _frames(net, np.asarray(G.act(g, P, PointLayout(3))), dtype)
    assert np.max(np.abs(g[0] @ R0[0] - R1[0])) <= (1e-9 if dtype == np.float64 else 2e-3)
    # symmetric under z → −z: the z axis (smallest variance) has third moment 0 exactly; with an
    # output vector orthogonal to it that sign is open, the other two come from their skews
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    eps = PointFrameNetwork.HARD_EPS[np.dtype(dtype)]
    mirrored = np.concatenate([P[0], P[0] * [1.0, 1.0, -1.0]])[None].astype(dtype)
    f = torch.as_tensor(mirrored)
    mask = torch.ones(1, 22, dtype=torch.bool)
    U = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]], dtype=tdt)
    E = moment_axes(U, torch.zeros(1, 22, dtype=tdt), mask, f, open_eps=eps, signs="skew")[0]
    assert torch.all(E[:, 2] == 0)                                           # the normal: open
    assert torch.allclose(E[:, :2].norm(dim=0), torch.ones(2, dtype=E.dtype))  # decided by skew
    assert torch.all(E[2, :2].abs() < (1e-12 if dtype == np.float64 else 1e-6))  # in the mirror plane


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["random", "learned"])
@pytest.mark.parametrize("group", ["O1", "SO1", "E1", "SE1"])
def test_one_dimensional_groups(group, method, dtype):
    """One axis, no eigenvalue gaps: fits, transforms, and is invariant (a regression: the
    gap reductions failed on an empty dimension)."""
    rs = np.random.default_rng(0)
    X = rs.normal(size=(40, 5)) + 0.3
    y = (X[:, 0] > 0.3).astype(int)
    kw = dict(max_epochs=2, early_stopping=False) if method == "learned" else {}
    canon = CanonicalizerTransformer(group, method, n_dims=1, hidden=16, random_state=0, **kw).fit(X, y)
    assert canon.canonicalizer_.network_axes_ == "moments"
    G = get_group(group)
    moved = np.asarray(G.act(G.sample(40, random_state=1, n_points=5), X.reshape(40, 5, 1), PointLayout(1)))
    A = canon.transform(X.astype(dtype)).astype(np.float64)
    B = canon.transform(moved.reshape(40, 5).astype(dtype)).astype(np.float64)
    assert np.isfinite(A).all()
    assert np.max(np.abs(A - B)) / np.max(np.abs(A)) <= (1e-9 if dtype == np.float64 else 1e-5)
