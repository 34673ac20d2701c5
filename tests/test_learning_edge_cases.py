"""Learned, anchored and end-to-end estimators at the edges users reach.

* ``method="anchored"`` anchors the ``sort`` order of the same ``key_order`` (it always
  used ``"scalars_first"``, so with ``key_order="columns"`` the untrained canonicalizer was
  not the heuristic it documents);
* the end-to-end estimators name ``random_state`` and ``lr`` when given bad values;
* an end-to-end fit that diverges says so and leaves no half-trained model.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skcanon import CanonicalizerTransformer  # noqa: E402
from skcanon.layouts import PointLayout  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("unit, dtype", [(1.0, np.float64), (1e-10, np.float64), (1.0, np.float32)])
@pytest.mark.parametrize("key_order", ["scalars_first", "columns"])
def test_untrained_anchored_is_pca_sort_of_the_same_key_order(key_order, unit, dtype):
    """``unit=1e-10``: coordinates in metres beside atomic numbers, which the sort heuristic
    levels (B307); the anchored network's base order levels them too. float32 input: the
    same forms up to float32 rounding."""
    rng = np.random.default_rng(0)
    n, k = 40, 8
    X = np.concatenate([rng.normal(size=(n, k, 3)) * [3, 2, 1] * unit, rng.choice([1.0, 6.0, 8.0], size=(n, k, 1))],
                       axis=-1).reshape(n, -1).astype(dtype)
    layout = PointLayout(3, fields=[("pos", "position"), ("Z", "scalar")])
    heuristic = CanonicalizerTransformer("SE3xS_n", "pca+sort", layout=layout, key_order=key_order).fit(X)
    # lr=1e-12: the residual's gain stays ~1e-12, so the anchored canonicalizer is its anchor
    anchored = CanonicalizerTransformer("SE3xS_n", "anchored", layout=layout, key_order=key_order, lr=1e-12,
                                        max_epochs=1, random_state=0).fit(X, np.arange(n) % 2)
    atol = (1e-8 if dtype == np.float64 else 1e-4) * unit
    np.testing.assert_allclose(anchored.transform(X), heuristic.transform(X), atol=atol)
    assert anchored.canonicalizer_.key_order == key_order


@pytest.mark.parametrize("params, name", [({"random_state": "0"}, "random_state"), ({"random_state": 1.5}, "random_state"),
                                          ({"random_state": -1}, "random_state"), ({"random_state": True}, "random_state"),
                                          ({"lr": "0.1"}, "lr"), ({"lr": float("nan")}, "lr"), ({"lr": -1.0}, "lr")])
def test_end_to_end_parameters_are_named_in_errors(params, name):
    from sklearn.utils._param_validation import InvalidParameterError

    from skcanon import EndToEndEquivariantClassifier, EndToEndEquivariantRegressor

    X = np.random.default_rng(0).normal(size=(20, 12))
    for estimator, y in ((EndToEndEquivariantClassifier, np.arange(20) % 2), (EndToEndEquivariantRegressor, X)):
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of {estimator.__name__}"):
            estimator(max_epochs=1, **params).fit(X, y)


@pytest.mark.parametrize("frame", ["learned", "anchored", "symmetrize", "identity"])
def test_a_diverging_end_to_end_fit_says_so_and_keeps_the_previous_model(frame):
    """At ``lr=1e6`` the learned frame failed with torch's bare ``LinAlgError`` from eigh, and
    the other frames returned a "fitted" model whose predictions were all NaN."""
    from skcanon import EndToEndEquivariantRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 12)) * np.tile([3.0, 2.0, 1.0], 4)
    model = EndToEndEquivariantRegressor(module__frame=frame, max_epochs=1, random_state=0).fit(X, 2 * X)
    before = model.predict(X)
    with pytest.raises(ValueError, match="training diverged"):
        model.set_params(lr=1e6, max_epochs=5).fit(X, 2 * X)
    np.testing.assert_array_equal(model.predict(X), before)


def test_the_nothing_to_learn_warning_does_not_promise_an_untrained_network():
    """It said the canonicalizer "keeps its initial network (as method='random' would)",
    which holds for a single class only: a constant real target still trains the network."""
    X = np.random.default_rng(0).normal(size=(30, 12))
    with pytest.warns(UserWarning, match="not shaped by y") as record:
        CanonicalizerTransformer("SE3", "learned", max_epochs=2, random_state=0).fit(X, np.ones(30))
    assert not any("keeps its initial network" in str(w.message) for w in record)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group, method", [("C4", "random"), ("D4", "random"), ("SO2", "learned"), ("C4", "anchored"),
                                           ("SO2", "anchored")])
def test_image_frames_do_not_depend_on_intensity_units(group, method, dtype):
    """The image networks divided by ``rms + 1e-6``, an absolute epsilon: faint images (the
    same images in other units, ``X·2**-24``) got other frames (SO2: 270 of 300 angles moved
    by more than 1°, median 4.4°; random C4 at 1e-7: 86 of 200 frames), although training
    rescales them and learns the same weights."""
    import warnings

    from sklearn.datasets import load_digits

    from skcanon.exceptions import InexactActionWarning

    digits = load_digits()
    X, y = (digits.images[:120, None] / 16.0).astype(dtype), digits.target[:120]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InexactActionWarning)
        canon = CanonicalizerTransformer(group, method, layout="image", max_epochs=2, random_state=0).fit(X, y)
        # float32: powers of two only (X·1e-7 rounds every pixel differently)
        for scale in (2.0 ** -24, 1e-7) if dtype == np.float64 else (dtype(2.0 ** -24), dtype(2.0 ** -40)):
            frames = canon.canonical_frame(X)
            faint = canon.canonical_frame(X * scale)
            if isinstance(frames, np.ndarray) and frames.dtype.kind == "f":
                np.testing.assert_allclose(faint, frames, atol=1e-5)
            else:
                np.testing.assert_array_equal(faint, frames)


@pytest.mark.parametrize("dtype, scale", [(np.float64, 1e200), (np.float32, 1e20)])
@pytest.mark.parametrize("group", ["SO2", "C4"])
@pytest.mark.parametrize("method", ["random", "learned"])
def test_image_frames_of_bright_images_do_not_overflow(method, group, dtype, scale):
    """The image networks divided by the root-mean-square intensity, whose squares overflowed
    for bright images (float64 above ~1e154, float32 above ~1e19): x/inf = 0, the image read
    as blank, frames differed from those of the same images at unit scale and SO2 canonical
    forms were not invariant under exact quarter turns (relative error 0.95)."""
    import warnings

    X = np.random.default_rng(0).random((6, 12, 12)).astype(dtype)
    bright = (X * scale).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow on the way
        canon = CanonicalizerTransformer(group, method, layout="image", max_epochs=1, random_state=0).fit(X)
        frames, bright_frames = canon.canonical_frame(X), canon.canonical_frame(bright)
        forms = canon.transform(bright)
        turned = canon.transform(np.rot90(bright, 1, axes=(1, 2)).copy())  # an exact quarter turn
    if group == "SO2":
        np.testing.assert_allclose(bright_frames, frames, atol=1e-5)
    else:
        np.testing.assert_array_equal(bright_frames, frames)
    assert np.all(np.isfinite(forms))
    assert np.abs(turned - forms).max() <= 1e-4 * np.abs(bright).max()


@pytest.mark.parametrize("method,layout,width", [("learned", None, 18), ("anchored", None, 18),
                                                  ("random", None, 18), ("learned", "image", 64)])
def test_network_fit_refuses_a_float64_torch_default(method, layout, width):
    """Under ``torch.set_default_dtype(torch.float64)`` learned and anchored fits failed deep
    inside torch (mat1 and mat2 dtypes) and ``random`` drew other weights than its seed gives;
    fit now names the setting. A model fitted before transforms the same under it."""
    import torch

    group = "C4" if layout == "image" else "SE3"
    X = np.random.default_rng(0).normal(size=(30, width))
    y = np.arange(30) % 2
    fitted = CanonicalizerTransformer(group, method, layout=layout, max_epochs=1, random_state=0).fit(X, y)
    expected = fitted.transform(X)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        message = f"method='{method}' networks run in float32, but torch's default dtype is torch.float64"
        with pytest.raises(RuntimeError, match=message):
            CanonicalizerTransformer(group, method, layout=layout, max_epochs=1, random_state=0).fit(X, y)
        assert np.array_equal(fitted.transform(X), expected)
    finally:
        torch.set_default_dtype(before)


@pytest.mark.parametrize("method", ["learned", "anchored"])
def test_a_fit_inside_torch_inference_mode_trains_as_outside(method):
    """``fit`` called inside ``torch.inference_mode()`` failed with torch's raw "element 0
    of tensors does not require grad": training now turns autograd back on for itself,
    and gives the weights of a fit outside the block."""
    X = np.random.default_rng(0).normal(size=(40, 18))
    y = np.arange(40) % 2
    outside = CanonicalizerTransformer("SE3xS_n", method, max_epochs=2, random_state=0).fit(X, y).transform(X)
    with torch.inference_mode():
        inside = CanonicalizerTransformer("SE3xS_n", method, max_epochs=2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(inside.transform(X), outside)
