"""``neighbourhood=True``: the S_n network scores each point from its neighbourhood too.

Contracts: the option reaches the pure S_n network of ``learned`` and ``random`` (not
``anchored``, whose order is the heuristic's); a seed draws the same base layers with or
without it; scores stay permutation-equivariant and read the neighbours; canonical forms of
real molecules stay invariant; pickling keeps the option, and models saved before it load
without it; bad values and layouts without positions get clear errors. (Invariance on
symmetric shapes: ``tests/test_learned_symmetric.py``.)
"""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skcanon import CanonicalizerTransformer  # noqa: E402
from skcanon.groups import get_group  # noqa: E402
from skcanon.layouts import PointLayout  # noqa: E402
from skcanon.nn._permutation import SortFrameNetwork  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LAYOUT = PointLayout(3, [("pos", "position", 3), ("Z", "scalar", 1)])


def _molecules(n=60, m=7, seed=0):
    rng = np.random.default_rng(seed)
    P = np.concatenate([rng.normal(size=(n, m, 3)) * [2.0, 1.2, 0.6],
                        rng.choice([1.0, 6.0, 7.0, 8.0], size=(n, m, 1))], axis=2)
    P[::3, -2:] = np.nan                                     # absent atoms in every third sample
    return P.reshape(n, -1), (np.nansum(P[..., 3], 1) > np.nanmedian(np.nansum(P[..., 3], 1))).astype(int)


def _sort_net(canon):
    return next(m for m in canon.canonicalizer_.network_.modules() if isinstance(m, SortFrameNetwork))


def _fit(method, neighbourhood, **kw):
    X, y = _molecules()
    kw = {"max_epochs": 2, **kw} if method != "random" else kw
    return CanonicalizerTransformer("E3xS_n", method, layout=LAYOUT, hidden=16, random_state=0,
                                    neighbourhood=neighbourhood, **kw).fit(X, y)


@pytest.mark.parametrize("method", ["random", "learned"])
def test_option_reaches_the_pure_network_and_keeps_the_base_draw(method):
    with_pairs, without = _fit(method, True), _fit(method, False)
    net, base = _sort_net(with_pairs), _sort_net(without)
    assert net.neighbourhood and hasattr(net, "pair_u")
    assert not base.neighbourhood and not hasattr(base, "pair_u")
    if method == "random":  # untrained: the base layers are the same draw
        for a, b in zip(net.phi.parameters(), base.phi.parameters()):
            torch.testing.assert_close(a, b)
    assert with_pairs.get_params()["neighbourhood"] is True
    anchored = _fit("anchored", True)
    assert not hasattr(_sort_net(anchored), "pair_u")         # the heuristic's order, corrected


def test_scores_read_the_neighbours_and_stay_equivariant():
    torch.manual_seed(0)
    net = SortFrameNetwork(get_group("S_n"), LAYOUT, hidden=16, neighbourhood=True).double()
    rng = np.random.default_rng(1)
    x = torch.as_tensor(np.concatenate([rng.normal(size=(4, 6, 3)), rng.choice([1.0, 6.0], size=(4, 6, 1))], 2))
    s = net.scores(x)[0]
    perm = torch.as_tensor(rng.permutation(6))
    torch.testing.assert_close(net.scores(x[:, perm])[0], s[:, perm], rtol=1e-12, atol=1e-12)
    # the neighbourhood channels carry information: moving one point changes the other
    # points' scores differently once those channels are silenced (the cloud's mean and the
    # standardization still react to the move)
    moved = x.clone()
    moved[:, 5, :3] += 0.3
    frozen = SortFrameNetwork(get_group("S_n"), LAYOUT, hidden=16, neighbourhood=True).double()
    frozen.load_state_dict(net.state_dict())
    with torch.no_grad():
        frozen.pair_u.weight.zero_()
        frozen.pair_u.bias.zero_()
    change = (net.scores(moved)[0] - s)[:, :5].abs().max()
    change_without_pairs = (frozen.scores(moved)[0] - frozen.scores(x)[0])[:, :5].abs().max()
    assert change > 0 and change_without_pairs > 0
    assert not torch.allclose(net.scores(moved)[0] - s, frozen.scores(moved)[0] - frozen.scores(x)[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_molecules_in_two_poses_give_the_same_canonical_forms(dtype):
    canon = _fit("learned", True)
    X, _ = _molecules(30, seed=5)
    G = get_group("E3xS_n")
    A, B = (canon.transform(G.act(G.sample(30, random_state=k, n_points=7), X.reshape(30, 7, 4), LAYOUT)
                            .reshape(30, -1).astype(dtype)).astype(np.float64) for k in (1, 2))
    scale = np.nanmax(np.abs(A))
    np.testing.assert_array_equal(np.isnan(A), np.isnan(B))
    assert np.nanmax(np.abs(A - B)) / scale <= (1e-9 if dtype == np.float64 else 1e-3)


def test_pickle_keeps_the_option_and_old_models_load_without_it():
    canon = _fit("learned", True)
    X, _ = _molecules(10, seed=7)
    copy = pickle.loads(pickle.dumps(canon))
    np.testing.assert_array_equal(copy.transform(X), canon.transform(X))
    assert copy.canonicalizer_.neighbourhood is True
    old = _fit("learned", False)
    state = old.canonicalizer_.__getstate__()
    state.pop("neighbourhood"), state.pop("neighbourhood_")    # as saved before the option
    restored = type(old.canonicalizer_).__new__(type(old.canonicalizer_))
    restored.__setstate__(state)
    assert restored.neighbourhood is False
    P = X.reshape(10, 7, 4)
    np.testing.assert_array_equal(restored.frames(P, LAYOUT)[1], old.canonicalizer_.frames(P, LAYOUT)[1])


def test_auto_is_on_for_small_clouds_with_scalar_fields_only():
    """The default ``"auto"``: on for clouds of at most 64 points (their cost grows with the
    square of the points) that have positions and at least one scalar field, off above and
    off for clouds of positions only (where the scores lost accuracy on validation shapes);
    off for anchored networks and groups without S_n."""
    rng = np.random.default_rng(0)
    for m, expected in ((64, True), (65, False)):
        X = rng.normal(size=(6, m * 4))
        canon = CanonicalizerTransformer("SE3xS_n", "random", layout=LAYOUT, hidden=8, random_state=0).fit(X)
        assert canon.neighbourhood == "auto" and canon.canonicalizer_.neighbourhood_ is expected
        assert hasattr(_sort_net(canon), "pair_u") is expected
    positions_only = CanonicalizerTransformer("SE3xS_n", "random", hidden=8, random_state=0).fit(rng.normal(size=(6, 8 * 3)))
    assert positions_only.canonicalizer_.neighbourhood_ is False and not hasattr(_sort_net(positions_only), "pair_u")
    forced = CanonicalizerTransformer("SE3xS_n", "random", hidden=8, neighbourhood=True, random_state=0).fit(rng.normal(size=(6, 8 * 3)))
    assert forced.canonicalizer_.neighbourhood_ is True and hasattr(_sort_net(forced), "pair_u")
    X = rng.normal(size=(6, 5 * 4))
    assert CanonicalizerTransformer("SE3", "random", layout=LAYOUT, random_state=0).fit(X).canonicalizer_.neighbourhood_ is False
    anchored = CanonicalizerTransformer("SE3xS_n", "anchored", layout=LAYOUT, max_epochs=1,
                                        random_state=0).fit(X, np.arange(6) % 2)
    assert anchored.canonicalizer_.neighbourhood_ is False


def test_bad_values_and_layouts_without_positions():
    X, y = _molecules(12)
    with pytest.raises(ValueError, match="neighbourhood"):
        CanonicalizerTransformer("E3xS_n", "learned", layout=LAYOUT, neighbourhood="yes").fit(X, y)
    vectors = PointLayout(3, [("v", "vector", 3), ("Z", "scalar", 1)])
    with pytest.raises(ValueError, match="neighbourhood=True needs a position field"):
        SortFrameNetwork(get_group("S_n"), vectors, hidden=8, neighbourhood=True)
    # the default leaves such layouts alone
    V = np.random.default_rng(0).normal(size=(6, 5 * 4))
    canon = CanonicalizerTransformer("S_n", "random", layout=vectors, random_state=0).fit(V)
    assert canon.canonicalizer_.neighbourhood_ is False
