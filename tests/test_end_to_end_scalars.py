"""Scalar and categorical fields in the end-to-end estimators keep the meaning they had in ``fit``.

* categorical fields (text or codes) are encoded with the categories seen in ``fit``, so a
  prediction does not depend on which categories the other samples of the batch contain;
* the frame network standardises numeric scalar fields with the training statistics, embeds
  integer levels and categorical codes (as :class:`~skcanon.CanonicalizerTransformer`'s
  networks do), so the frame depends on what a point *is*, not only where it is;
* both survive pickling, cloning and refits with another layout.
"""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402

from skcanon import EndToEndEquivariantRegressor  # noqa: E402
from skcanon._end_to_end import EndToEndEquivariantClassifier  # noqa: E402
from skcanon.groups import get_group  # noqa: E402
from skcanon.layouts import Field, PointLayout  # noqa: E402
from skcanon.nn._points import ScalarEncoder  # noqa: E402

ELEMENTS = np.array(["C", "H", "N", "O"])
CATEGORICAL = PointLayout(3, fields=[("pos", "position"), Field("element", "scalar", 1, categorical=True)])
NUMERIC = PointLayout(3, fields=[("pos", "position"), ("Z", "scalar")])
TINY = dict(max_epochs=2, module__hidden=8, module__backbone_hidden=16, random_state=0)


def _molecules(n=64, m=5, seed=0):
    """``(n, m, 4)`` object arrays: positions and an element symbol per point, and a label
    that depends on the elements (how many points are O)."""
    rng = np.random.default_rng(seed)
    P = np.empty((n, m, 4), dtype=object)
    P[..., :3] = rng.normal(size=(n, m, 3)) * [2.0, 1.0, 0.5]
    P[..., 3] = ELEMENTS[rng.integers(0, 4, size=(n, m))]
    y = np.where((P[..., 3] == "O").sum(1) >= 2, "many O", "few O")
    return P, y


def _encoders(model):
    return [m for m in model.module_.frame_net.modules() if isinstance(m, ScalarEncoder)]


@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
def test_categories_from_fit_make_predictions_independent_of_the_batch(estimator):
    P, y = _molecules()
    X = P.reshape(len(P), -1)
    if estimator == "classifier":
        model = EndToEndEquivariantClassifier(module__layout=CATEGORICAL, **TINY).fit(X, y)
        infer = model.predict_proba
    else:
        target = P[..., :3].astype(float).mean(1)   # a position target: the centroid
        model = EndToEndEquivariantRegressor(module__layout=CATEGORICAL, **TINY).fit(X, target)
        infer = model.predict
    assert list(model.categories_) == ["element"]
    np.testing.assert_array_equal(model.categories_["element"], ELEMENTS)
    # a batch of the samples without any N: encoded with per-batch categories, O would take
    # N's code and these predictions would change
    without_n = np.flatnonzero(~(P[..., 3] == "N").any(1))
    assert 0 < len(without_n) < len(P)
    np.testing.assert_allclose(infer(X[without_n]), infer(X)[without_n], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="element"):
        bad = P.copy()
        bad[0, 0, 3] = "Cl"                       # a category never seen in fit
        infer(bad.reshape(len(P), -1))


def test_frame_network_reads_categorical_and_numeric_scalars_with_fit_statistics():
    P, y = _molecules()
    model = EndToEndEquivariantClassifier(module__layout=CATEGORICAL, **TINY).fit(P.reshape(len(P), -1), y)
    (encoder,) = _encoders(model)
    np.testing.assert_array_equal(encoder.vocab0.numpy(), [0, 1, 2, 3])   # codes of C, H, N, O
    # the frame depends on the elements: change one point's element and the canonical
    # positions move (a frame network that saw every code as unknown would not notice)
    module = model.module_.eval()
    codes = np.searchsorted(ELEMENTS, P[..., 3]).astype(float)
    work = np.concatenate([P[..., :3].astype(float), codes[..., None]], -1)
    swapped = work.copy()
    swapped[:, 0, 3] = (swapped[:, 0, 3] + 1) % 4
    with torch.no_grad():
        a = module.frame_net.canonicalize(torch.as_tensor(work, dtype=torch.float32))[0][..., :3]
        b = module.frame_net.canonicalize(torch.as_tensor(swapped, dtype=torch.float32))[0][..., :3]
    assert (a - b).abs().amax(dim=(1, 2)).gt(1e-3).float().mean() > 0.5

    Z = np.where(P[..., 3] == "H", 1.0, np.where(P[..., 3] == "C", 6.0, np.where(P[..., 3] == "N", 7.0, 8.0)))
    X = np.concatenate([P[..., :3].astype(float), Z[..., None]], -1).reshape(len(P), -1)
    numeric = EndToEndEquivariantClassifier(module__layout=NUMERIC, **TINY).fit(X, y)
    (encoder,) = _encoders(numeric)
    assert encoder.mean.item() == pytest.approx(Z.mean())
    assert encoder.scale.item() == pytest.approx(Z.std())
    np.testing.assert_array_equal(encoder.vocab0.numpy(), [1, 6, 7, 8])   # the levels of Z
    assert not hasattr(numeric, "categories_")


def test_predictions_stay_invariant_with_scalar_fields():
    P, y = _molecules(n=48)
    model = EndToEndEquivariantClassifier(module__layout=CATEGORICAL, **TINY).fit(P.reshape(48, -1), y)
    G = get_group("SE3")
    moved = P.copy()
    moved[..., :3] = G.apply(G.sample(48, random_state=1), P[..., :3].astype(float).reshape(48, -1),
                             PointLayout(3)).reshape(48, 5, 3)
    np.testing.assert_allclose(model.predict_proba(moved.reshape(48, -1)),
                               model.predict_proba(P.reshape(48, -1)), atol=1e-4)


def test_pickle_clone_refit_and_models_from_before():
    P, y = _molecules()
    X = P.reshape(len(P), -1)
    model = EndToEndEquivariantClassifier(module__layout=CATEGORICAL, **TINY).fit(X, y)
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.categories_["element"], ELEMENTS)
    np.testing.assert_allclose(copy.predict_proba(X[:7]), model.predict_proba(X[:7]), rtol=1e-6)
    # clone keeps the fitted statistics parameter as a parameter and refits from scratch
    again = clone(model).fit(X, y)
    np.testing.assert_allclose(again.predict_proba(X), model.predict_proba(X), rtol=1e-5)
    # refit with a layout without scalars: no stale categories, no statistics
    coords = P[..., :3].astype(float).reshape(len(P), -1)
    model.set_params(module__layout=PointLayout(3)).fit(coords, y)
    assert not hasattr(model, "categories_")
    assert model.get_params()["module__scalar_stats"] is None
    # a model pickled before categories were kept (no categories_) still predicts
    del copy.__dict__["categories_"]
    assert copy.predict_proba(X).shape == (len(P), 2)
