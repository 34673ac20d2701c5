"""``power_steps`` of the learned point frame network (``module__power_steps`` of the
end-to-end estimators): the network's output vectors are multiplied ``k`` times by the
sample's normalized second-moment matrix before Gram–Schmidt.

Contracts: the canonical inputs stay invariant under E(3)×S_n, in float32 and float64, on
generic clouds and clouds with a symmetry of their own; ``0`` (default) is the plain
network; the parameter reaches the frame network; bad values are refused by name; the
frame leans towards the principal axes as ``k`` grows; networks pickled before the
parameter existed still load and compute their old frames.
"""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skcanon._end_to_end import EndToEndEquivariantClassifier, InvariantModule  # noqa: E402
from skcanon.groups import get_group  # noqa: E402
from skcanon.layouts import PointLayout  # noqa: E402
from skcanon.nn._points import PointFrameNetwork  # noqa: E402


def _clouds(n=24, m=6, seed=0):
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(n, m, 3)) * [3.0, 1.5, 0.5] + rng.normal(size=(n, m, 3)) ** 3 * 0.3
    return P


_SHAPES = {
    "octahedron": [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]],
    "square": [[1, 1, 0], [1, -1, 0], [-1, 1, 0], [-1, -1, 0], [0, 0, 0.5], [0, 0, -0.5]],
    "planar": [[2, 0, 0], [-1, 1, 0], [-1, -1, 0], [0.5, 0.5, 0], [0, 2, 0], [-0.5, 0, 0]],
    "collinear": [[-2, 0, 0], [-1, 0, 0], [0, 0, 0], [0.5, 0, 0], [1.5, 0, 0], [1, 0, 0]],
}


def _module(power_steps, dtype, frame="learned"):
    torch.manual_seed(0)
    module = InvariantModule(group="E3", n_points=6, frame=frame, hidden=8, power_steps=power_steps)
    return module.double() if dtype == np.float64 else module


def _canonical(module, A, dtype):
    n = len(A)
    with torch.no_grad():
        T = torch.as_tensor(A.astype(dtype).reshape(n, 6, 3))
        return module._frame_parts(T)[0].double().numpy()


@pytest.mark.parametrize("power_steps", [1, 3, 12])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", ["generic", "octahedron", "square", "planar", "collinear"])
def test_canonical_inputs_are_invariant(power_steps, dtype, shape):
    # the frame does not reorder points, so canonical point sets are compared as sets
    from scipy.spatial.distance import cdist

    n = 24
    base = _clouds(n) if shape == "generic" else np.tile(_SHAPES[shape], (n, 1, 1)).astype(float)
    module = _module(power_steps, dtype)
    G, layout = get_group("E3xS_n"), PointLayout(3)
    X = G.apply(G.sample(n, random_state=1, n_points=6), base.reshape(n, -1), layout)
    Y = G.apply(G.sample(n, random_state=2, n_points=6), X, layout)
    ca, cb = _canonical(module, X, dtype), _canonical(module, Y, dtype)
    # float32: each step squeezes the output vectors towards the principal axis (by the
    # ratio of the second-moment eigenvalues), so Gram–Schmidt loses more digits than
    # without steps (measured up to 8e-4 relative on these clouds with 3 steps, 1e-4 without)
    tol = (2e-3 if dtype == np.float32 else 1e-9) * np.abs(ca).max()
    for a, b in zip(ca, cb):
        D = cdist(a, b)
        assert max(D.min(0).max(), D.min(1).max()) <= tol


def test_zero_steps_is_the_plain_network_and_steps_change_the_frame():
    X = _clouds().reshape(24, -1)
    plain = _canonical(_module(0, np.float64), X, np.float64)
    torch.manual_seed(0)
    default = InvariantModule(group="E3", n_points=6, frame="learned", hidden=8).double()
    np.testing.assert_array_equal(_canonical(default, X, np.float64), plain)
    powered = _module(3, np.float64)
    # the weights are drawn as without power steps; only the frame differs
    for a, b in zip(default.state_dict().values(), powered.state_dict().values()):
        assert torch.equal(a, b)
    assert np.abs(_canonical(powered, X, np.float64) - plain).max() > 1e-3


def test_many_steps_lean_to_the_principal_axes():
    # distinct principal variances: after many steps the canonical clouds' second-moment
    # matrices are (nearly) diagonal, the frame's axes are the principal axes
    X = _clouds(seed=3).reshape(24, -1)
    C = _canonical(_module(200, np.float64), X, np.float64)
    C = C - C.mean(1, keepdims=True)
    M = np.einsum("nmd,nme->nde", C, C)
    off = np.abs(M - np.einsum("ndd->nd", M)[:, :, None] * np.eye(3)).max((1, 2))
    assert off.max() <= 1e-6 * np.abs(M).max()


def test_reaches_the_network_through_the_estimator():
    X = _clouds(40).reshape(40, -1).astype(np.float32)
    y = np.arange(40) % 2
    model = EndToEndEquivariantClassifier(module__group="E3", module__power_steps=2, module__hidden=8,
                                          module__backbone_hidden=8, max_epochs=1, random_state=0).fit(X, y)
    assert model.module_.frame_net.power_steps == 2
    assert model.get_params()["module__power_steps"] == 2
    G = get_group("E3")
    moved = G.apply(G.sample(40, random_state=5), X.astype(np.float64), PointLayout(3)).astype(np.float32)
    assert np.abs(model.predict_proba(X) - model.predict_proba(moved)).max() <= 1e-3


def test_symmetrize_gets_the_steps():
    module = _module(4, np.float64, frame="symmetrize")
    nets = [m for m in module.modules() if isinstance(m, PointFrameNetwork)]
    assert nets and all(m.power_steps == 4 for m in nets)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3", None])
def test_bad_values_are_refused(bad):
    with pytest.raises(ValueError, match="power_steps"):
        InvariantModule(group="E3", n_points=6, power_steps=bad)
    with pytest.raises(ValueError, match="power_steps"):
        PointFrameNetwork(get_group("E3"), PointLayout(3), power_steps=bad)
    X = _clouds(20).reshape(20, -1).astype(np.float32)
    with pytest.raises(ValueError, match="module__power_steps"):
        EndToEndEquivariantClassifier(module__group="E3", module__power_steps=bad, max_epochs=1).fit(
            X, np.arange(20) % 2)


@pytest.mark.parametrize("frame", ["anchored", "identity", "augment"])
def test_refused_without_a_learned_frame_network(frame):
    with pytest.raises(ValueError, match="module__power_steps"):
        InvariantModule(group="E3", n_points=6, frame=frame, power_steps=2)
    InvariantModule(group="E3", n_points=6, frame=frame, power_steps=0)


def test_networks_pickled_before_the_parameter_load():
    net = PointFrameNetwork(get_group("E3"), PointLayout(3), hidden=8)
    X = torch.as_tensor(_clouds(8), dtype=torch.float32)
    with torch.no_grad():
        before = net.canonicalize(X)[0]
    del net.__dict__["power_steps"]          # as a network saved by an earlier version
    loaded = pickle.loads(pickle.dumps(net))
    assert loaded.power_steps == 0
    with torch.no_grad():
        assert torch.equal(loaded.canonicalize(X)[0], before)
