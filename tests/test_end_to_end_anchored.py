"""``module__frame="anchored"`` of the end-to-end estimators: the PCA heuristic's frame times a
learned residual rotation whose gain starts at 0.

Contracts: untrained, the canonical inputs the backbone sees are the ``pca`` canonical forms
(so training starts from the heuristic frame); the gain moves in training; class scores stay
invariant and regression outputs equivariant after training, on generic and symmetric inputs.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skcanon import CanonicalizerTransformer  # noqa: E402
from skcanon._end_to_end import (EndToEndEquivariantClassifier,  # noqa: E402
                                 EndToEndEquivariantRegressor, InvariantModule)
from skcanon.groups import get_group  # noqa: E402
from skcanon.layouts import PointLayout  # noqa: E402

TINY = dict(max_epochs=4, lr=1e-2, module__hidden=8, module__backbone_hidden=16)


def _clouds(n=96, m=6, seed=0, group="E3"):
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 2 == 0, "rod", "disk")
    scales = np.where((y == "rod")[:, None], [4.0, 1.0, 0.5], [2.5, 1.5, 0.3])
    P = rng.normal(size=(n, m, 3)) * scales[:, None, :] + rng.normal(size=(n, m, 3)) ** 3 * 0.3
    G = get_group(group)
    X = G.apply(G.sample(n, random_state=seed), P.reshape(n, -1), PointLayout(3))
    return X.astype(np.float32), y


@pytest.mark.parametrize("group", ["E3", "SO3"])
def test_untrained_anchored_frame_is_the_pca_frame(group):
    X, _ = _clouds(group=group)
    torch.manual_seed(0)
    module = InvariantModule(group=group, n_points=6, frame="anchored", hidden=8)
    with torch.no_grad():
        Pc = module._frame_parts(torch.as_tensor(X.reshape(len(X), 6, 3)))[0].numpy()
    # float32 input: the heuristic's float32 tie rules, as CanonicalizerTransformer applies them
    ref = CanonicalizerTransformer(group, "pca").fit(X).transform(X).reshape(len(X), 6, 3)
    np.testing.assert_allclose(Pc, ref, atol=2e-5 * np.abs(ref).max())


def test_anchored_classifier_trains_its_residual_and_stays_invariant():
    X, y = _clouds(120)
    model = EndToEndEquivariantClassifier(module__group="E3", module__frame="anchored",
                                          module__backbone="message_passing", random_state=0, **TINY).fit(X, y)
    assert float(model.module_.frame_net.gain.detach()) != 0.0      # the residual was trained
    G = get_group("E3xS_n")
    moved = G.apply(G.sample(len(X), random_state=5, n_points=6), X.astype(np.float64),
                    PointLayout(3)).astype(np.float32)
    a, b = model.predict_proba(X), model.predict_proba(moved)
    assert np.median(np.abs(a - b).max(1)) <= 1e-4 and np.mean(np.abs(a - b).max(1) <= 1e-3) >= 0.9


def test_anchored_classifier_on_symmetric_clouds():
    # regular octahedra and squares: PCA's tie rules settle the frame, the residual is a
    # function of the heuristic's canonical form, so the scores stay invariant
    oct_ = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
    sq = np.array([[1, 1, 0], [1, -1, 0], [-1, 1, 0], [-1, -1, 0], [0, 0, 0.5], [0, 0, -0.5]], float)
    base = np.stack([oct_, sq] * 24) * np.linspace(1, 2, 48)[:, None, None]
    y = np.array(["oct", "sq"] * 24)
    G = get_group("E3xS_n")
    X = G.apply(G.sample(48, random_state=1, n_points=6), base.reshape(48, -1), PointLayout(3))
    model = EndToEndEquivariantClassifier(module__group="E3", module__frame="anchored",
                                          module__backbone="message_passing", random_state=0,
                                          **TINY).fit(X.astype(np.float32), y)
    moved = G.apply(G.sample(48, random_state=2, n_points=6), X, PointLayout(3))
    a = model.predict_proba(X.astype(np.float32))
    b = model.predict_proba(moved.astype(np.float32))
    assert np.abs(a - b).max() <= 1e-3


def test_anchored_regressor_is_equivariant():
    X, _ = _clouds(80, group="SE3")
    n = len(X)
    Y = X.reshape(n, 6, 3).mean(1) * 2.0             # a position target: twice the centroid
    model = EndToEndEquivariantRegressor(module__group="SE3", module__frame="anchored", random_state=0,
                                         module__n_points=6, **TINY).fit(X, Y.astype(np.float32))
    G = get_group("SE3")
    g = G.sample(n, random_state=7)
    moved = G.apply(g, X.astype(np.float64), PointLayout(3)).astype(np.float32)
    expect = G.apply(g, model.predict(X).astype(np.float64), PointLayout(3))
    np.testing.assert_allclose(model.predict(moved), expect, atol=2e-3 * np.abs(expect).max())


def test_anchored_is_refused_where_no_rotation():
    with pytest.raises((TypeError, ValueError)):
        EndToEndEquivariantClassifier(module__group="T3", module__frame="anchored").fit(*_clouds(20))



@pytest.mark.parametrize("frame", ["anchored", "learned"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", ["generic", "octahedron", "square", "planar", "collinear"])
def test_frame_canonical_inputs_are_invariant(frame, dtype, shape):
    # the canonical inputs the backbone sees (anchored: with a non-zero residual, gain 0.5),
    # in both precisions, on generic clouds and on clouds with a symmetry of their own: the
    # hard frames' tie rules follow the input's precision; the frame does not reorder
    # points, so the canonical point sets are compared as sets
    from scipy.spatial.distance import cdist

    n = 24
    base = {"generic": _clouds(n)[0].reshape(n, 6, 3).astype(np.float64),
            "octahedron": np.tile([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]],
                                  (n, 1, 1)).astype(float),
            "square": np.tile([[1, 1, 0], [1, -1, 0], [-1, 1, 0], [-1, -1, 0], [0, 0, 0.5], [0, 0, -0.5]],
                              (n, 1, 1)).astype(float),
            "planar": np.tile([[2, 0, 0], [-1, 1, 0], [-1, -1, 0], [0.5, 0.5, 0], [0, 2, 0], [-0.5, 0, 0]],
                              (n, 1, 1)).astype(float),
            "collinear": np.tile([[-2, 0, 0], [-1, 0, 0], [0, 0, 0], [0.5, 0, 0], [1.5, 0, 0], [1, 0, 0]],
                                 (n, 1, 1)).astype(float)}[shape]
    torch.manual_seed(0)
    module = InvariantModule(group="E3", n_points=6, frame=frame, hidden=8)
    module = module.double() if dtype == np.float64 else module
    if frame == "anchored":
        with torch.no_grad():
            module.frame_net.gain.fill_(0.5)
    G, layout = get_group("E3xS_n"), PointLayout(3)
    X = G.apply(G.sample(n, random_state=1, n_points=6), base.reshape(n, -1), layout)
    Y = G.apply(G.sample(n, random_state=2, n_points=6), X, layout)

    def canonical(A):
        with torch.no_grad():
            T = torch.as_tensor(A.astype(dtype).reshape(n, 6, 3))
            return module._frame_parts(T)[0].double().numpy()

    ca, cb = canonical(X), canonical(Y)
    tol = (1e-4 if dtype == np.float32 else 1e-9) * np.abs(ca).max()
    for a, b in zip(ca, cb):
        D = cdist(a, b)
        assert max(D.min(0).max(), D.min(1).max()) <= tol
