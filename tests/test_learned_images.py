"""Learned canonicalization networks for images (skcanon.nn._images).

Contracts checked here, with the group actions of skcanon.groups:

* frames are equivariant, ``h(g·x) = g∘h(x)``: exactly for C4 and D4 (before and after a
  training step), for at least 90% of smooth images under the interpolated 45° rotations of
  C8, and within a few degrees for SO(2) on smooth, circularly masked images;
* the canonical form is invariant (float32, relative 1e-4) and equals
  ``group.act(group.inverse(h), x)`` exactly;
* ties are deterministic (a blank image gets element 0 / angle 0);
* the image actions on torch tensors used in training (the same functions of
  ``skcanon.groups._images``) match the numpy ones.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from skcanon.groups import get_group, rotate_images  # noqa: E402
from skcanon.groups._images import act_on_images  # noqa: E402
from skcanon.layouts import ImageLayout, PointLayout  # noqa: E402
from skcanon.nn._images import GroupConvImageNetwork, SO2ImageNetwork, build_image_network  # noqa: E402

LAYOUT = ImageLayout((1, 20, 20))


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny networks run fastest on one thread (and do not spin on a shared machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

# a score gap below this (relative) counts as a tie: the frame may then legitimately differ
TIE_GAP = 1e-4  # > the network's own tie tolerance (1e-5)


def _images(seed, n, size=20, kind="uniform", channels=1):
    rs = np.random.RandomState(seed)
    if kind == "uniform":
        X = rs.rand(n, channels, size, size)
    elif kind == "sparse":
        X = rs.rand(n, channels, size, size) * (rs.rand(n, channels, size, size) > 0.9)
    else:  # smooth blobs
        X = _smooth_blobs(rs, n, size)
    return X.astype(np.float32)


def _smooth_blobs(rs, n, size, n_blobs=3):
    """Sums of anisotropic Gaussian blobs inside the inscribed disk: smooth, no symmetry."""
    c = (size - 1) / 2.0
    rows, cols = np.meshgrid(np.arange(size) - c, np.arange(size) - c, indexing="ij")
    X = np.zeros((n, 1, size, size))
    for _ in range(n_blobs):
        r = rs.uniform(0, size / 4, n)[:, None, None]
        a = rs.uniform(0, 2 * np.pi, n)[:, None, None]
        s1 = rs.uniform(1.0, 2.5, n)[:, None, None]
        s2 = rs.uniform(1.0, 2.5, n)[:, None, None]
        w = rs.uniform(0.5, 1.5, n)[:, None, None]
        dx = cols[None] - r * np.cos(a)
        dy = rows[None] - r * np.sin(a)
        X[:, 0] += w * np.exp(-(dx ** 2) / (2 * s1 ** 2) - (dy ** 2) / (2 * s2 ** 2))
    return X


def _smooth_digits(n, size=28, sigma=1.0):
    """sklearn digits upsampled to 20×20, centred on a size×size canvas and blurred."""
    from scipy.ndimage import gaussian_filter, zoom
    from sklearn.datasets import load_digits

    X = load_digits().images[:n]
    up = zoom(X, (1, 20 / 8, 20 / 8), order=1)
    out = np.zeros((n, size, size))
    o = (size - 20) // 2
    out[:, o:o + 20, o:o + 20] = up
    return gaussian_filter(out, (0, sigma, sigma))[:, None].astype(np.float32)


def _net(group, seed=0, layout=LAYOUT, **kw):
    return build_image_network(group, layout, hidden=32, seed=seed, **kw)


def _train_step(net, x, steps=1, lr=0.05):
    """A tiny training step: identity prior plus a task-like loss on the soft canonical form."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    target = torch.linspace(0, 1, x.shape[-1])
    for _ in range(steps):
        opt.zero_grad()
        out = net.soft_canonicalize(x)
        loss = net.prior_loss(x) + ((out * target).mean(dim=(1, 2, 3)) - 0.3).square().mean()
        loss.backward()
        opt.step()
    return net


def _check_exact_equivariance(net, group, X, g):
    x, xg = torch.from_numpy(X), torch.from_numpy(group.act(g, X, LAYOUT))
    with torch.no_grad():
        s = net.scores(x).numpy()
        h = net.frames(x).numpy()
        hg = net.frames(xg).numpy()
        xc, _ = net.canonicalize(x)
        xgc, _ = net.canonicalize(xg)
    top2 = np.sort(s, axis=1)[:, -2:]
    gap = (top2[:, 1] - top2[:, 0]) / (np.abs(s).max(axis=1) + 1e-12)
    generic = gap > TIE_GAP
    assert generic.mean() > 0.5  # the check below must not be vacuous
    np.testing.assert_array_equal(hg[generic], group.compose(g, h)[generic])
    # invariance of the canonical form, float32, relative 1e-4 (ties included)
    scale = np.abs(X).max() + 1e-12
    assert np.max(np.abs(xgc.numpy() - xc.numpy())) <= 1e-4 * scale


# -- torch actions match skcanon's ---------------------------------------------------------------
@given(seed=st.integers(0, 2**31 - 1), h=st.integers(3, 12), w=st.integers(3, 12),
       quarter=st.booleans())
@settings(max_examples=25, deadline=None)
def test_torch_rotation_matches_rotate_images(seed, h, w, quarter):
    rs = np.random.RandomState(seed)
    X = rs.rand(4, 2, h, w)
    angles = rs.randint(-4, 5, 4) * np.pi / 2 if quarter else rs.uniform(-np.pi, np.pi, 4)
    out = rotate_images(torch.from_numpy(X), angles).numpy()
    np.testing.assert_allclose(out, rotate_images(X, angles), atol=1e-12)


@pytest.mark.parametrize("name", ["C4", "C8", "D4", "D8", "SO2"])
def test_torch_act_matches_group_act(name):
    group = get_group(name)
    X = np.random.RandomState(1).rand(12, 1, 10, 10)
    g = group.sample(12, random_state=2)
    out = act_on_images(group, g, torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(out, group.act(g, X, LAYOUT), atol=1e-12)


@pytest.mark.parametrize("name", ["C4", "C8", "D4", "D8", "O2", "SO2"])
def test_image_action_is_one_function_for_both_backends(name):
    """act_on_images on numpy arrays is the group's own action (bit for bit); on torch
    tensors the same rules, elements given as numpy or (matrices) as tensors."""
    group = get_group(name)
    X = np.random.RandomState(3).rand(9, 2, 11, 11)
    g = group.sample(9, random_state=4)
    ref = group.act(g, X, LAYOUT)
    np.testing.assert_array_equal(act_on_images(group, g, X), ref)
    if np.asarray(g).ndim == 3:
        g = torch.from_numpy(np.asarray(g))
    np.testing.assert_allclose(act_on_images(group, g, torch.from_numpy(X)).numpy(), ref, atol=1e-12)


def test_half_turns_of_non_square_images_are_exact_in_torch_too():
    """A half turn of a non-square image is a flip of both axes in numpy and in torch (the
    torch backend used to interpolate it)."""
    x = torch.rand(3, 1, 6, 9, dtype=torch.float32)
    out = rotate_images(x, np.full(3, np.pi))
    assert torch.equal(out, torch.flip(x, dims=(-2, -1)))
    np.testing.assert_array_equal(out.numpy(), rotate_images(x.numpy(), np.full(3, np.pi)))


@pytest.mark.parametrize("h, w", [(5, 1), (1, 5), (1, 1)])
def test_torch_rotation_of_one_pixel_wide_images_matches_numpy(h, w):
    """grid_sample with align_corners maps every coordinate of an axis one pixel wide onto
    that pixel: torch smeared a 1×5 row over the whole column at a quarter turn (numpy: zeros
    outside), and differed from numpy by 0.59 on a 5×1 image at 0.5 rad."""
    X = np.random.RandomState(0).rand(3, 2, h, w)
    for angles in (np.full(3, 0.5), np.array([np.pi / 2, -0.5, 2.0])):
        x = torch.from_numpy(X).requires_grad_()
        out = rotate_images(x, angles)
        np.testing.assert_allclose(out.detach().numpy(), rotate_images(X, angles), atol=1e-12)
        out.sum().backward()   # still differentiable
        assert torch.isfinite(x.grad).all()


def test_torch_rotation_is_differentiable():
    x = torch.rand(3, 1, 9, 9, requires_grad=True)
    ang = torch.tensor([0.3, np.pi / 2, -1.1], requires_grad=True)
    rotate_images(x, ang).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert ang.grad is not None and torch.isfinite(ang.grad).all()


# -- exact frame equivariance: C4, D4 ------------------------------------------------------------
@pytest.mark.parametrize("name", ["C4", "D4"])
@pytest.mark.parametrize("trained", [False, True])
@given(seed=st.integers(0, 2**31 - 1), kind=st.sampled_from(["uniform", "sparse", "smooth"]))
@settings(max_examples=6, deadline=None)
def test_frames_exactly_equivariant(name, trained, seed, kind):
    group = get_group(name)
    torch.manual_seed(0)
    net = _net(group, seed=seed % 7)
    if trained:
        _train_step(net, torch.from_numpy(_images(seed + 1, 16, kind=kind)))
    X = _images(seed, 24, kind=kind)
    g = group.sample(len(X), random_state=seed)
    _check_exact_equivariance(net, group, X, g)


@pytest.mark.parametrize("name", ["C4", "D4", "C8"])
def test_canonicalize_uses_skcanon_action(name):
    group = get_group(name)
    net = _net(group)
    X = _images(3, 10, kind="smooth")
    xc, h = net.canonicalize(torch.from_numpy(X))
    expected = group.act(group.inverse(h.numpy()), X, LAYOUT)
    assert xc.dtype == torch.float32 and h.dtype == torch.int64
    np.testing.assert_array_equal(xc.numpy(), expected)


@pytest.mark.parametrize("scorer", ["lifted", "orbit"])
def test_odd_image_size_and_channels_equivariant(scorer):
    """Both image networks (the orbit-scored one: skcanon.nn._orbit_images)."""
    from skcanon.nn._factory import build_frame_network

    layout = ImageLayout((3, 17, 17))
    group = get_group("D4")
    torch.manual_seed(1)
    net = build_frame_network(group, layout, 16, scorer=scorer)
    X = np.random.RandomState(0).rand(20, 3, 17, 17).astype(np.float32)
    g = group.sample(20, random_state=0)
    with torch.no_grad():
        h = net.frames(torch.from_numpy(X)).numpy()
        hg = net.frames(torch.from_numpy(group.act(g, X, layout))).numpy()
    np.testing.assert_array_equal(hg, group.compose(g, h))


# -- ties ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["C4", "C8", "D4"])
def test_blank_image_gets_identity(name):
    net = _net(get_group(name))
    x = torch.zeros(3, 1, 20, 20)
    xc, h = net.canonicalize(x)
    np.testing.assert_array_equal(h.numpy(), 0)
    assert torch.equal(xc, x)


def test_blank_image_so2_identity():
    net = _net("SO2")
    R = net.frames(torch.zeros(2, 1, 20, 20)).numpy()
    np.testing.assert_array_equal(R, np.broadcast_to(np.eye(2), (2, 2, 2)))
    # blank images in a training batch leave the gradients finite (atan2 of a zero vector)
    x = torch.cat([torch.zeros(2, 1, 20, 20), torch.from_numpy(_images(0, 2, kind="smooth"))])
    (net.soft_canonicalize(x).sum() + net.prior_loss(x)).backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_so2_half_turn_symmetric_image():
    """No direction (first harmonic 0): the axis decides; either end gives the same canonical
    image, since the image maps onto itself under a half turn."""
    net = _net("SO2")
    X = _images(4, 3, kind="smooth")
    X = X + X[..., ::-1, ::-1]  # symmetric under a half turn about the grid centre
    x = torch.from_numpy(np.ascontiguousarray(X))
    v1, v2, scale = net.harmonics(x)
    assert (torch.linalg.vector_norm(v1, dim=1) < 1e-4 * scale).all()
    assert (torch.linalg.vector_norm(v2, dim=1) > 1e-3 * scale).all()
    a0 = net.angles(x).detach().numpy()
    moved = torch.from_numpy(rotate_images(X, np.full(3, 1.0)).astype(np.float32))
    a1 = net.angles(moved).detach().numpy()
    # the axis turns with the image (modulo a half turn, which maps the image onto itself)
    err = np.degrees(np.abs(np.angle(np.exp(2j * (a1 - a0 - 1.0))))) / 2
    assert (err < 6.0).all(), err


def test_same_seed_same_network():
    x = torch.from_numpy(_images(0, 8))
    a, b = _net("C8", seed=5), _net("C8", seed=5)
    torch.testing.assert_close(a.scores(x), b.scores(x), rtol=0, atol=0)
    torch.manual_seed(3)
    c = build_image_network("C4", LAYOUT)
    torch.manual_seed(3)
    d = build_image_network("C4", LAYOUT)
    torch.testing.assert_close(c.scores(x), d.scores(x), rtol=0, atol=0)


# -- C8: interpolated 45° rotations --------------------------------------------------------------
@pytest.fixture(scope="module")
def smooth_digits():
    return _smooth_digits(160)


def _shift_rate(net, group, X, g):
    layout = ImageLayout(X.shape[1:])
    with torch.no_grad():
        h = net.frames(torch.from_numpy(X)).numpy()
        hg = net.frames(torch.from_numpy(group.act(g, X, layout))).numpy()
    return np.mean(hg == group.compose(g, h))


@pytest.mark.parametrize("seed", [0, 1])
def test_c8_frames_shift_on_smooth_images(smooth_digits, seed):
    group = get_group("C8")
    layout = ImageLayout((28, 28))
    net = build_image_network(group, layout, seed=seed)
    odd = np.random.RandomState(seed).choice([1, 3, 5, 7], len(smooth_digits))  # 45° + k·90°
    assert _shift_rate(net, group, smooth_digits, odd) >= 0.9
    _train_step(net, torch.from_numpy(smooth_digits[:64]), steps=3, lr=0.01)
    assert _shift_rate(net, group, smooth_digits, odd) >= 0.9
    even = np.random.RandomState(seed).choice([0, 2, 4, 6], len(smooth_digits))  # exact turns
    assert _shift_rate(net, group, smooth_digits, even) >= 0.99


# -- SO(2) ---------------------------------------------------------------------------------------
def _angle_errors(net, X, g):
    group = get_group("SO2")
    layout = ImageLayout(X.shape[1:])
    with torch.no_grad():
        a = net.angles(torch.from_numpy(X)).double().numpy()
        ag = net.angles(torch.from_numpy(group.act(g, X, layout))).double().numpy()
    rot = np.arctan2(g[:, 1, 0], g[:, 0, 0])
    return np.abs(np.angle(np.exp(1j * (ag - a - rot))))


def test_so2_frames_equivariant_on_smooth_images(smooth_digits):
    group = get_group("SO2")
    net = build_image_network(group, ImageLayout((28, 28)), seed=0)
    g = group.sample(len(smooth_digits), random_state=0)
    err = np.degrees(_angle_errors(net, smooth_digits, g))
    # stated tolerance: median ≤ 3°, 90% of samples within 10°
    assert np.median(err) <= 3.0
    assert np.mean(err <= 10.0) >= 0.9
    # frames are rotation matrices with frame(g·x) ≈ g∘frame(x)
    X = smooth_digits[:20]
    R = net.frames(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(2), R.shape), atol=1e-12)


@given(seed=st.integers(0, 2**31 - 1))
@settings(max_examples=6, deadline=None)
def test_so2_quarter_turns_exact(seed):
    net = _net("SO2", seed=seed % 5)
    X = _images(seed, 12, kind="smooth")
    c4 = get_group("C4")
    R = c4.matrices(c4.sample(12, random_state=seed))  # quarter turns as SO(2) elements
    err = _angle_errors(net, X, R)
    assert np.max(err) <= 1e-4


def test_so2_canonicalize_and_soft():
    group = get_group("SO2")
    net = _net(group)
    X = _images(0, 6, kind="smooth")
    x = torch.from_numpy(X)
    xc, R = net.canonicalize(x)
    np.testing.assert_array_equal(xc.numpy(), group.act(group.inverse(R.numpy()), X, LAYOUT))
    soft = net.soft_canonicalize(x)
    np.testing.assert_allclose(soft.detach().numpy(), xc.numpy(), atol=1e-4)
    loss = net.prior_loss(x)
    v1, v2, _ = (h.detach() for h in net.harmonics(x))
    t1, t2 = torch.atan2(v1[:, 1], v1[:, 0]), torch.atan2(v2[:, 1], v2[:, 0])
    torch.testing.assert_close(loss.detach(), (1 - torch.cos(t1)).mean() + (1 - torch.cos(t2)).mean(),
                               rtol=1e-4, atol=1e-5)
    loss.backward()
    assert net.coef.grad is not None and net.coef.grad.abs().sum() > 0
    # the angle is the axis of the second harmonic, on the side the first one points to
    a = net.angles(x).detach()
    np.testing.assert_allclose(torch.cos(2 * a - t2).numpy(), 1.0, atol=1e-5)
    assert (torch.cos(a - t1) >= 0).all()


def test_so2_soft_canonical_form_trains_the_direction():
    """The straight-through half-turn choice passes a task gradient to the readout."""
    net = _net(get_group("SO2"))
    x = torch.from_numpy(_images(3, 6, kind="smooth"))
    target = net.soft_canonicalize(x).detach().flip(-2, -1)  # the other direction everywhere
    ((net.soft_canonicalize(x) - target) ** 2).mean().backward()
    assert net.readout.grad is not None and net.readout.grad.abs().sum() > 0


def test_so2_network_from_before_the_axis_readout_is_refused():
    import pickle

    net = _net("SO2")
    x = torch.from_numpy(_images(0, 3, kind="smooth"))
    again = pickle.loads(pickle.dumps(net))
    torch.testing.assert_close(again.angles(x), net.angles(x), rtol=0, atol=0)
    net._buffers["phasor"] = net.phasor[:, :2]  # the state an earlier version pickled
    with pytest.raises(ValueError, match="earlier skcanon.*Fit the canonicalizer again"):
        pickle.loads(pickle.dumps(net))


@pytest.mark.parametrize("n", [4, 2.0, True])
def test_so2_needs_five_orientations(n):
    with pytest.raises(ValueError, match="n_orientations must be an int >= 5"):
        build_image_network("SO2", LAYOUT, 16, n_orientations=n)


# -- training glue -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["C4", "C8", "D4"])
def test_soft_canonicalize_value_and_gradient(name):
    group = get_group(name)
    net = _net(group)
    x = torch.from_numpy(_images(2, 6, kind="smooth"))
    soft = net.soft_canonicalize(x)
    hard, _ = net.canonicalize(x)
    # straight-through: forward value is the hard canonical form (torch vs numpy bilinear)
    np.testing.assert_allclose(soft.detach().numpy(), hard.numpy(), atol=1e-5)
    (soft * torch.linspace(0, 1, 20)).sum().backward()
    assert net.coef.grad is not None and net.coef.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["C4", "D4"])
def test_prior_loss_is_cross_entropy_to_identity(name):
    net = _net(name)
    x = torch.from_numpy(_images(4, 8, kind="smooth"))
    s = net.scores(x)
    expected = -torch.log_softmax(s, dim=1)[:, 0].mean()
    torch.testing.assert_close(net.prior_loss(x), expected)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    before = net.prior_loss(x).item()
    for _ in range(10):
        opt.zero_grad()
        net.prior_loss(x).backward()
        opt.step()
    assert net.prior_loss(x).item() < before


@pytest.mark.parametrize("name", ["C4", "C8", "D4"])
def test_moves_and_prior_towards_elements(name):
    """``moves`` acts with skcanon's action; the prior on moved copies asks for h(g·x) = g."""
    group = get_group(name)
    net = _net(group)
    x = torch.from_numpy(_images(5, 12, kind="smooth"))
    moved, g = net.moves(x, random=False)
    np.testing.assert_array_equal(g.numpy(), np.arange(12) % net.order)
    np.testing.assert_allclose(moved.numpy(), group.act(g.numpy(), x.numpy(), LAYOUT), atol=1e-5)
    s = net.scores(moved)
    expected = -torch.log_softmax(s, dim=1)[torch.arange(12), g].mean()
    torch.testing.assert_close(net.prior_loss(moved, elements=g), expected)
    torch.manual_seed(0)
    _, g1 = net.moves(x)
    torch.manual_seed(0)
    _, g2 = net.moves(x)
    assert torch.equal(g1, g2) and 0 <= g1.min() and g1.max() < net.order


def test_so2_moves_and_prior_towards_angles():
    net = _net("SO2")
    x = torch.from_numpy(_images(6, 10, kind="smooth"))
    moved, ang = net.moves(x, random=False)
    np.testing.assert_allclose(ang.numpy(), 2 * np.pi * (np.arange(10) % 16) / 16, atol=1e-6)
    loss = net.prior_loss(moved, elements=ang)
    v1, v2, _ = (h.detach() for h in net.harmonics(moved))
    t1, t2 = torch.atan2(v1[:, 1], v1[:, 0]), torch.atan2(v2[:, 1], v2[:, 0])
    expected = (1 - torch.cos(t1 - ang)).mean() + (1 - torch.cos(t2 - 2 * ang)).mean()
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-4, atol=1e-5)
    # without targets it is the identity prior
    torch.testing.assert_close(net.prior_loss(moved), net.prior_loss(moved, elements=torch.zeros(10)))


@pytest.mark.parametrize("quarter", [0, 1, 2, 3])
@pytest.mark.parametrize("mirror", [False, True])
def test_oriented_pooling_basis_turns_with_the_group(quarter, mirror):
    """Weights of element g are those of the identity transformed by g, exactly for quarter
    turns and mirrors (odd and even grids), so the pooled features permute exactly."""
    from skcanon.nn._images import _oriented_pooling_basis

    for h in (9, 10):
        base = _oriented_pooling_basis(h, h, 0.0, False).reshape(-1, h, h)
        turned = _oriented_pooling_basis(h, h, quarter * np.pi / 2, mirror).reshape(-1, h, h)
        expected = np.flip(base, axis=-1) if mirror else base  # mirror first, then rotate
        expected = np.rot90(expected, quarter, axes=(-2, -1))
        np.testing.assert_array_equal(turned, expected)
        np.testing.assert_allclose(np.abs(base).sum(axis=(-2, -1)), 1.0)


def test_prior_objective_recovers_c8_rotations():
    """Trained on upright images only (identity prior on moved copies), the learned C8
    canonicalizer picks the applied rotation on held-out images, 45° steps included.

    Smooth sklearn digits, 600 training / 100 held-out images, 10 epochs: in our runs
    (one torch thread) 0.79 of held-out upright digits got the identity and 0.77 of the
    held-out digits rotated by 45° + k·90° got their rotation back (chance: 1/8).
    """
    pytest.importorskip("skcanon.canonicalizers._learned")
    from skcanon import CanonicalizerTransformer

    group, layout = get_group("C8"), ImageLayout((28, 28))
    digits = _smooth_digits(700)
    X = digits.reshape(len(digits), -1).astype(np.float64)
    canon = CanonicalizerTransformer("C8", "learned", layout="image", objective="prior", max_epochs=10,
                                     lr=3e-3, early_stopping=False, random_state=0, device="cpu")
    with pytest.warns(Warning, match="interpolation"):  # 45° rotations are interpolated
        canon.fit(X[:600])
    odd = np.random.RandomState(0).choice([1, 3, 5, 7], 100)
    upright_rate = np.mean(canon.canonical_frame(X[600:]) == 0)
    odd_rate = np.mean(canon.canonical_frame(group.apply(odd, X[600:], layout)) == odd)
    assert upright_rate >= 0.65
    assert odd_rate >= 0.65


@pytest.mark.parametrize("name", ["C4", "D4"])
@given(seed=st.integers(0, 2**31 - 1))
@settings(max_examples=3, deadline=None)
def test_prior_objective_is_seeded_and_invariant(name, seed):
    """objective="prior" (moved copies drawn from torch's generator): the same random_state
    gives the same network, and the fitted transformer is exactly invariant under C4/D4."""
    pytest.importorskip("skcanon.canonicalizers._learned")
    from skcanon import CanonicalizerTransformer

    group, layout = get_group(name), ImageLayout((12, 12))
    X = _images(seed, 40, size=12, kind="smooth").reshape(40, -1).astype(np.float64)

    def fit():
        return CanonicalizerTransformer(name, "learned", layout="image", objective="prior", hidden=16,
                                        max_epochs=2, random_state=seed % 97, device="cpu").fit(X)

    a, b = fit(), fit()
    np.testing.assert_array_equal(a.canonical_frame(X), b.canonical_frame(X))
    assert a.canonicalizer_.history_[-1]["valid_loss"] == b.canonicalizer_.history_[-1]["valid_loss"]
    g = group.sample(len(X), random_state=seed)
    np.testing.assert_allclose(a.transform(group.apply(g, X, layout)), a.transform(X), atol=1e-9)


def test_float64_input():
    net = _net("C4")
    X = _images(0, 5).astype(np.float64)
    xc, h = net.canonicalize(torch.from_numpy(X))
    assert xc.dtype == torch.float64
    np.testing.assert_array_equal(h.numpy(), net.frames(torch.from_numpy(X.astype(np.float32))).numpy())


# -- bad input -----------------------------------------------------------------------------------
def _orbit_builder():
    from skcanon.nn._orbit_images import build_orbit_image_network

    return build_orbit_image_network


@pytest.mark.parametrize("orbit", [False, True])
def test_bad_input_errors(orbit):
    """Both image networks (orbit: the orbit-scored ones, skcanon.nn._orbit_images)."""
    build = _orbit_builder() if orbit else build_image_network
    with pytest.raises(ValueError, match="No learned image network"):
        build("SO3", LAYOUT)
    with pytest.raises(TypeError, match="ImageLayout"):
        build("C4", PointLayout(2))
    with pytest.raises(ValueError, match="hidden"):
        build("C4", LAYOUT, hidden=0)
    with pytest.raises(ValueError, match="n_orientations must be an int >= 5"):
        build("SO2", LAYOUT, n_orientations=4)
    net = build("C4", LAYOUT, hidden=16, seed=0)
    with pytest.raises(ValueError, match="channels"):
        net.frames(torch.zeros(2, 3, 20, 20))
    with pytest.raises(ValueError, match=r"\(n_samples, C, H, W\)"):
        net.frames(torch.zeros(2, 20, 20))
    if not orbit:
        assert isinstance(net, GroupConvImageNetwork)
        assert isinstance(_net("SO2"), SO2ImageNetwork)


@pytest.mark.parametrize("orbit", [False, True])
def test_input_not_modified(orbit):
    net = (_orbit_builder() if orbit else build_image_network)("C8", LAYOUT, hidden=16, seed=0)
    x = torch.from_numpy(_images(0, 4))
    before = x.clone()
    net.canonicalize(x)
    net.soft_canonicalize(x)
    assert torch.equal(x, before)


# -- end to end through CanonicalizerTransformer ------------------------------------------------
def test_learned_c4_pipeline_on_rotated_digits():
    """method="learned" on C4-rotated sklearn digits beats the image-moments heuristic.

    Same downstream classifier (logistic regression), fixed seeds, pixel values scaled to
    [0, 1]. In our runs (hidden=128, i.e. 32 channels per element, 8 epochs, one torch
    thread) the learned canonicalizer scored 0.928 / 0.954 / 0.941 for seeds 0 / 1 / 2
    against 0.914 for moments and 0.756 for no canonicalization (with 16 channels, before
    the image networks widened: 0.910 / 0.939 / 0.954). Single seeds can fall below the
    heuristic, so the test asserts the mean over three seeds is at least the heuristic's
    (margin ≈ 0.03).
    The fitted pipeline must also be exactly C4-invariant.
    """
    pytest.importorskip("skcanon.canonicalizers._learned")
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    from skcanon import CanonicalizerTransformer

    X, y = load_digits(return_X_y=True)
    group, layout = get_group("C4"), ImageLayout((8, 8))
    Xr = group.apply(group.sample(len(X), random_state=0), X / 16.0, layout)
    Xtr, Xte, ytr, yte = train_test_split(Xr, y, test_size=0.5, random_state=0)

    def score(method, **kw):
        canon = CanonicalizerTransformer(group="C4", method=method, layout="image", **kw)
        pipe = make_pipeline(canon, LogisticRegression(max_iter=1000))
        return pipe.fit(Xtr, ytr).score(Xte, yte), pipe

    acc_identity, _ = score("identity")
    acc_moments, _ = score("moments")
    learned = [score("learned", hidden=128, max_epochs=8, lr=1e-2, early_stopping=False,
                     random_state=seed) for seed in (0, 1, 2)]
    accs = [acc for acc, _ in learned]
    print(f"C4 digits accuracy: identity {acc_identity:.3f}, moments {acc_moments:.3f}, "
          f"learned {accs}")
    assert min(accs) >= acc_identity + 0.1
    assert np.mean(accs) >= acc_moments
    # the fitted pipeline is invariant: rotated test digits give the same canonical forms
    canon = learned[0][1][0]
    g = group.sample(len(Xte), random_state=1)
    np.testing.assert_allclose(canon.transform(group.apply(g, Xte, layout)), canon.transform(Xte),
                               atol=1e-9)


@pytest.mark.parametrize("name", ["C4", "D4", "SO2"])
def test_random_method_pickle_and_seed(name):
    """method="random" (the frozen network) through the transformer: seeded, picklable."""
    pytest.importorskip("skcanon.canonicalizers._learned")
    import pickle

    from skcanon import CanonicalizerTransformer

    X = _images(0, 30, size=12, kind="smooth").reshape(30, -1).astype(np.float64)
    fit = [CanonicalizerTransformer(group=name, method="random", layout="image", random_state=3).fit(X)
           for _ in range(2)]
    out = fit[0].transform(X)
    np.testing.assert_array_equal(out, fit[1].transform(X))
    np.testing.assert_array_equal(out, pickle.loads(pickle.dumps(fit[0])).transform(X))
    other = CanonicalizerTransformer(group=name, method="random", layout="image", random_state=4).fit(X)
    assert not np.array_equal(fit[0].canonical_frame(X), other.canonical_frame(X))


@pytest.mark.parametrize("name", ["C4", "D4", "SO2"])
def test_network_first_used_under_inference_mode_can_be_trained(name):
    """Masks built on first use under ``torch.inference_mode()`` (as ``transform`` runs) used
    to be inference tensors, and training the same network afterwards raised "Inference
    tensors cannot be saved for backward"."""
    net = _net(get_group(name))
    x = torch.as_tensor(_images(0, 8, kind="smooth"))
    with torch.inference_mode():
        before = net.frames(x)
    _train_step(net, x, steps=2)
    with torch.inference_mode():
        after = net.frames(x)
    assert before.shape == after.shape


def test_default_width_is_16_channels_and_pickles_keep_theirs():
    """Image networks have ``hidden // 4`` channels (16 at the default); a network built
    with another width keeps it through pickling (networks saved before the change do)."""
    import pickle

    from skcanon.nn import _images

    net = build_image_network("C8", LAYOUT, seed=0)
    assert net.channels == 16
    assert build_image_network("C8", LAYOUT, hidden=32, seed=0).channels == 8
    saved = _images.CHANNEL_DIVISOR
    try:
        _images.CHANNEL_DIVISOR = 8
        narrow = build_image_network("C8", LAYOUT, seed=0)
    finally:
        _images.CHANNEL_DIVISOR = saved
    x = torch.rand(3, 1, 20, 20)
    back = pickle.loads(pickle.dumps(narrow))
    assert back.channels == 8
    torch.testing.assert_close(back.scores(x), narrow.scores(x))


@pytest.mark.parametrize("name", ["C4", "D4"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(seed=st.integers(0, 2**31 - 1), kind=st.sampled_from(["uniform", "smooth", "symmetric", "blank"]))
@settings(max_examples=5, deadline=None)
def test_default_width_canonical_forms_invariant(name, dtype, seed, kind):
    """The default (16-channel) random canonicalizer: canonical forms of moved images equal
    those of the originals, in float32 and float64, on generic images, on images symmetric
    under the whole group (every frame ties) and on blank ones."""
    from skcanon import CanonicalizerTransformer

    group = get_group(name)
    X = _images(seed, 12, kind="smooth" if kind == "symmetric" else ("uniform" if kind == "blank" else kind))
    if kind == "symmetric":  # average over the orbit: invariant under every element
        X = np.mean([group.act(np.full(len(X), e), X, LAYOUT) for e in range(group.order)], axis=0)
    elif kind == "blank":
        X = np.zeros_like(X)
    X = X.reshape(len(X), -1).astype(dtype)
    canon = CanonicalizerTransformer(name, "random", layout=ImageLayout((1, 20, 20)), random_state=seed % 5,
                                     device="cpu").fit(X)
    assert canon.canonicalizer_.network_.channels == 16
    g = group.sample(len(X), random_state=seed)
    moved = group.apply(g, X, ImageLayout((1, 20, 20)))
    Z, Zg = canon.transform(X), canon.transform(moved)
    assert Z.dtype == dtype
    np.testing.assert_allclose(Zg, Z, atol=1e-4 * (np.abs(X).max() + 1e-12), rtol=0)


# -- method="anchored": the moments heuristic's frame plus a gated learned correction ---------
def _anchored(name, objective="prior", **kw):
    from skcanon import CanonicalizerTransformer

    opts = dict(objective=objective, hidden=8, max_epochs=1, early_stopping=False, random_state=0, device="cpu")
    return CanonicalizerTransformer(name, "anchored", layout=ImageLayout((1, 20, 20)), **{**opts, **kw})


def _mixed_images(dtype):
    """Generic, smooth, orbit-averaged (C4-symmetric) and blank 20×20 images, flat."""
    group = get_group("C4")
    smooth = _images(1, 6, kind="smooth")
    symmetric = np.mean([group.act(np.full(6, e), smooth, LAYOUT) for e in range(4)], axis=0)
    X = np.concatenate([_images(0, 6), smooth, symmetric, np.zeros_like(smooth)])
    return X.reshape(len(X), -1).astype(dtype)


@pytest.mark.parametrize("name", ["C4", "D4", "C8", "SO2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_anchored_method_at_gain_zero_is_moments_and_pickles(name, dtype):
    """``CanonicalizerTransformer(method="anchored")`` on images: with its gain at 0 its
    canonical forms are the moments heuristic's (tie rules included: symmetric and blank
    images), in the input's dtype; with the gain off 0 the learned scores change some
    frames; the fitted transformer pickles."""
    import pickle

    from skcanon import CanonicalizerTransformer

    X = _mixed_images(dtype)
    heuristic = CanonicalizerTransformer(name, "moments", layout=ImageLayout((1, 20, 20))).fit(X)
    canon = _anchored(name).fit(X)
    net = canon.canonicalizer_.network_
    assert float(net.gain) != 0.0  # the prior trained it
    with torch.no_grad():
        net.gain.fill_(0.0)
    Z = canon.transform(X)
    assert Z.dtype == dtype
    atol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(Z, heuristic.transform(X), atol=atol)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(canon)).transform(X), Z)

    moved = _anchored(name).fit(X)
    with torch.no_grad():
        moved.canonicalizer_.network_.gain.fill_(20.0)
    assert np.abs(moved.transform(X) - heuristic.transform(X)).max() > 1e-3


@pytest.mark.parametrize("name", ["C4", "D4"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(seed=st.integers(0, 2**31 - 1), kind=st.sampled_from(["uniform", "smooth", "symmetric", "blank"]),
       gain=st.sampled_from([0.0, 0.5, 3.0, 20.0]))
@settings(max_examples=5, deadline=None)
def test_anchored_canonical_forms_invariant(name, dtype, seed, kind, gain):
    """Heuristic and learned terms move with the image, so their sum does: canonical forms
    of moved images equal those of the originals at any gain, in float32 and float64, on
    generic images, on images symmetric under the whole group and on blank ones."""
    group = get_group(name)
    X = _images(seed, 8, kind="smooth" if kind == "symmetric" else ("uniform" if kind == "blank" else kind))
    if kind == "symmetric":
        X = np.mean([group.act(np.full(len(X), e), X, LAYOUT) for e in range(group.order)], axis=0)
    elif kind == "blank":
        X = np.zeros_like(X)
    X = X.reshape(len(X), -1).astype(dtype)
    canon = _anchored(name, random_state=seed % 5).fit(_mixed_images(dtype))
    with torch.no_grad():
        canon.canonicalizer_.network_.gain.fill_(gain)
    g = group.sample(len(X), random_state=seed)
    Z, Zg = canon.transform(X), canon.transform(group.apply(g, X, ImageLayout((1, 20, 20))))
    np.testing.assert_allclose(Zg, Z, atol=1e-4 * (np.abs(X).max() + 1e-12), rtol=0)


@pytest.mark.parametrize("objective", ["prior", "supervised", "align"])
def test_anchored_method_trains_with_every_objective(objective):
    """Every objective trains the gain (and through it the network); the identity prior on
    upright images moves the frames of upright digits towards the identity, which the
    moments heuristic alone never picks for them."""
    X = _smooth_digits(96, size=20).reshape(96, -1)
    y = np.arange(96) % 3
    canon = _anchored("C4", objective, max_epochs=20, lr=1e-2).fit(X, y)
    assert float(canon.canonicalizer_.network_.gain) != 0.0
    assert canon.canonicalizer_.objective_ == objective
    if objective == "prior":
        from skcanon import CanonicalizerTransformer

        moments = CanonicalizerTransformer("C4", "moments", layout=ImageLayout((1, 20, 20))).fit(X)
        identity = np.mean(canon.canonical_frame(X) == 0)
        assert identity >= np.mean(moments.canonical_frame(X) == 0) + 0.3, identity


def test_anchored_method_supports_image_groups_only():
    from skcanon.canonicalizers._learned import AnchoredCanonicalizer

    image = ImageLayout((1, 20, 20))
    for name in ("C4", "C8", "D4", "SO2"):
        assert AnchoredCanonicalizer.supports(get_group(name), image)
    assert not AnchoredCanonicalizer.supports(get_group("C2xC4"), image)
    assert not AnchoredCanonicalizer.supports(get_group("SE3"), image)
    assert AnchoredCanonicalizer.supports(get_group("SE3"), PointLayout(3))
    assert not AnchoredCanonicalizer.supports(get_group("C4"), PointLayout(2))


@pytest.mark.parametrize("group, method", [("C4", "learned"), ("D4", "random"), ("SO2", "anchored")])
def test_a_loaded_image_network_transforms_float32_under_a_float64_default(group, method):
    """A fitted image canonicalizer unpickled under ``torch.set_default_dtype(torch.float64)``
    was rebuilt with float64 parameters (``load_state_dict`` keeps a parameter's dtype) and
    refused float32 images ("expected scalar type Float but found Double"), although a
    fitted model transforms under any default. It now loads in the saved dtypes."""
    import pickle
    import warnings

    from skcanon import CanonicalizerTransformer

    X = np.random.default_rng(0).normal(size=(40, 64))
    y = np.arange(40) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        canon = CanonicalizerTransformer(group, method=method, layout="image", random_state=0,
                                         max_epochs=1).fit(X, y)
    expected = canon.transform(X.astype(np.float32))
    saved = pickle.dumps(canon)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        loaded = pickle.loads(saved)
        np.testing.assert_array_equal(loaded.transform(X.astype(np.float32)), expected)
    finally:
        torch.set_default_dtype(default)


@pytest.mark.parametrize("shape, message", [((6, 10), "need square images"), ((1, 1), "at least 2×2")])
def test_random_image_networks_refuse_shapes_they_cannot_take_in_fit(shape, message):
    """``method="random"`` runs no forward pass in ``fit``: a non-square or one-pixel image
    shape was "fitted" and refused only at the first ``transform`` (a pipeline fitted, then
    failed at predict)."""
    from skcanon import CanonicalizerTransformer

    X = np.random.default_rng(0).normal(size=(20, shape[0] * shape[1]))
    with pytest.raises(ValueError, match=message):
        CanonicalizerTransformer("C2", method="random", layout=ImageLayout(shape), random_state=0).fit(X)
