"""Probabilistic symmetrization end to end (``module__frame="symmetrize"``).

* the distribution over frames is equivariant draw by draw: the frames drawn for ``h·x``
  with the noise ``R_h ε`` are ``h`` times those drawn for ``x`` with ``ε`` (every group the
  end-to-end estimators support, 2-D and 3-D, float64);
* the ``k``-draw average is equivariant (regressor) / invariant (classifier) in expectation:
  its error shrinks with ``k``;
* predictions are reproducible (fixed draws per fitted model, from ``random_state``), do
  not depend on the batch, survive pickling and ``save_params``;
* clone, Pipeline, GridSearchCV over ``module__frame``; clear errors for bad parameters.
"""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

from skcanon import EndToEndEquivariantClassifier, EndToEndEquivariantRegressor  # noqa: E402
from skcanon._end_to_end import EquivariantModule, InvariantModule  # noqa: E402
from skcanon.datasets import nbody_layout  # noqa: E402
from skcanon.groups import get_group  # noqa: E402
from skcanon.groups._base import rotate_fields  # noqa: E402
from skcanon.layouts import PointLayout  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NBODY = nbody_layout()              # pos, vel, charge
GROUPS = ["O2", "SO2", "E2", "SE2", "O3", "SO3", "E3", "SE3"]
E3 = get_group("E3")
DISP = PointLayout(3, fields=[("disp", "vector")])
TINY = dict(module__group="E3", module__layout=NBODY, module__backbone="message_passing",
            module__backbone_hidden=16, module__backbone_layers=2, module__hidden=16,
            module__target_kind="vector", module__frame="symmetrize", max_epochs=2, lr=3e-3, batch_size=16)

CLS = {k: v for k, v in TINY.items() if k != "module__target_kind"}


def systems(n, m, seed, layout=NBODY, absent=0):
    """``(n, m, width)`` random states: anisotropic positions, other vectors, ±1 scalars."""
    rs = np.random.default_rng(seed)
    d = layout.n_dims
    cols = []
    for f in layout.fields:
        if f.kind == "position":
            cols.append(rs.normal(size=(n, m, d)) * np.linspace(2.0, 1.0, d))
        elif f.kind == "vector":
            cols.append(rs.normal(size=(n, m, d)))
        else:
            cols.append(rs.choice([-1.0, 1.0], size=(n, m, 1)))
    P = np.concatenate(cols, -1)
    if absent:
        P[::2, m - absent:] = np.nan
    return P


def parts(group, g):
    g = torch.as_tensor(np.asarray(g, dtype=np.float64))
    if group.translates:
        return group.parts(g)
    return g, None


def regressor_module(group="E3", layout=NBODY, n_points=5, seed=0, **kw):
    torch.manual_seed(seed)
    d = layout.n_dims
    return EquivariantModule(group=group, n_dims=d, n_points=n_points, n_outputs=n_points * d,
                             target_kind="vector", hidden=16, backbone_hidden=16, layout=layout,
                             backbone="message_passing", backbone_layers=2, frame="symmetrize", **kw).double()


# -- the distribution: equivariant draw by draw ---------------------------------------------------
@settings(max_examples=16, deadline=None)
@given(seed=st.integers(0, 10_000), name=st.sampled_from(GROUPS), with_fields=st.booleans(),
       absent=st.integers(0, 1))
def test_frames_of_moved_input_are_moved_frames(seed, name, with_fields, absent):
    group = get_group(name)
    d = group.d
    layout = (PointLayout(d, fields=[("pos", "position"), ("vel", "vector"), ("q", "scalar")])
              if with_fields else PointLayout(d))
    if not group.translates and not with_fields:
        layout = PointLayout(d)
    dist = regressor_module(name, layout, n_points=6, seed=seed % 5).eval().distribution
    P = systems(5, 6, seed, layout, absent=absent)
    g = group.sample(5, random_state=seed)
    Rg, tg = parts(group, g)
    eps = torch.as_tensor(np.random.default_rng(seed + 1).normal(size=P.shape))
    with torch.no_grad():
        R, t = dist.frames(torch.as_tensor(P), eps)
        R2, t2 = dist.frames(torch.as_tensor(group.act(g, P, layout)), rotate_fields(Rg, eps, layout))
    np.testing.assert_allclose(R2.numpy(), (Rg @ R).numpy(), atol=1e-8)
    if group.translates:
        np.testing.assert_allclose(t2.numpy(), (torch.einsum("nij,nj->ni", Rg, t) + tg).numpy(), atol=1e-8)
    else:
        assert t is None and t2 is None
    assert torch.allclose(R.transpose(1, 2) @ R, torch.eye(d, dtype=R.dtype).expand_as(R), atol=1e-10)
    if group.special:
        assert torch.allclose(torch.linalg.det(R), torch.ones(5, dtype=R.dtype))


def test_noise_is_relative_to_spread_and_spares_scalars_and_absent_points():
    dist = regressor_module(noise_scale=0.5).distribution
    P = torch.as_tensor(systems(4, 5, 0, absent=1))
    eps = torch.randn(P.shape, dtype=P.dtype)
    a, b = dist.perturb(P, eps), dist.perturb(8.0 * P, eps)
    assert torch.equal(torch.isnan(a), torch.isnan(P))                 # absent points stay absent
    present = ~torch.isnan(P).all(-1)
    assert torch.equal(a[..., 6][present], P[..., 6][present])        # charges untouched
    scaled = (b - 8.0 * P)[..., :6][present]
    assert torch.allclose(scaled, 8.0 * (a - P)[..., :6][present])     # noise scales with the sample
    assert not torch.allclose(a[..., :6][present], P[..., :6][present])
    same = torch.zeros(1, 5, 7, dtype=P.dtype)                         # no spread: no noise, no NaN
    assert torch.equal(dist.perturb(same, torch.randn(1, 5, 7, dtype=P.dtype)), same)


# -- the k-draw average: equivariant in expectation -------------------------------------------------
def _equivariance_errors(module, ks, P, group, target_layout):
    g = group.sample(len(P), random_state=11)
    n = len(P)
    out = []
    for k in ks:
        module.n_samples_predict = k
        with torch.no_grad():
            Y = module(torch.as_tensor(P.reshape(n, -1))).numpy()
            Yg = module(torch.as_tensor(group.act(g, P, NBODY).reshape(n, -1))).numpy()
        if target_layout is None:           # invariant scores
            err = np.abs(Y - Yg).max(1) / np.abs(Y).max(1)
        else:
            Y, Yg = Y.reshape(n, -1, 3), Yg.reshape(n, -1, 3)
            err = np.abs(group.act(g, Y, target_layout) - Yg).max((1, 2)) / np.abs(Y).max((1, 2))
        out.append(float(np.median(err)))
    return out


def test_equivariance_error_shrinks_with_k():
    """Exact in expectation: the error of k draws falls roughly like 1/sqrt(k)."""
    module = regressor_module(noise_scale=0.3).eval()
    errs = _equivariance_errors(module, (1, 16, 256), systems(32, 5, 3), E3, DISP)
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] <= errs[0] / 6       # 1/sqrt(256) = 1/16 of the one-draw error in theory


def test_invariance_error_of_scores_shrinks_with_k():
    torch.manual_seed(0)
    module = InvariantModule(group="E3", n_points=5, n_classes=3, hidden=16, backbone_hidden=16, layout=NBODY,
                             backbone="message_passing", backbone_layers=2, frame="symmetrize",
                             noise_scale=0.3).double().eval()
    errs = _equivariance_errors(module, (1, 16, 256), systems(32, 5, 4), E3, None)
    assert errs[0] > errs[1] > errs[2] and errs[2] <= errs[0] / 6


def test_tiny_noise_is_canonicalization():
    """As the noise vanishes the draws collapse onto the learned frame: exactly equivariant."""
    module = regressor_module(noise_scale=1e-9, n_samples_predict=4).eval()
    errs = _equivariance_errors(module, (4,), systems(16, 5, 5), E3, DISP)
    assert errs[0] <= 1e-6


def test_training_draws_fresh_frames_and_eval_draws_fixed_ones():
    module = regressor_module(n_samples=3, n_samples_predict=5)
    x = torch.as_tensor(systems(4, 5, 2).reshape(4, -1))
    with torch.no_grad():
        module.train()
        assert module(x).shape == (4, 15) and not torch.allclose(module(x), module(x))
        module.eval()
        assert torch.equal(module(x), module(x))
        # a sample's prediction does not depend on the others in its batch
        np.testing.assert_allclose(module(x[1:2]).numpy(), module(x)[1:2].numpy(), rtol=1e-10, atol=1e-12)


def test_same_weights_as_learned_for_the_same_seed():
    torch.manual_seed(0)
    a = EquivariantModule(group="E3", n_points=5, n_outputs=15, layout=NBODY, frame="learned")
    torch.manual_seed(0)
    b = EquivariantModule(group="E3", n_points=5, n_outputs=15, layout=NBODY, frame="symmetrize")
    wa, wb = a.state_dict(), b.state_dict()
    assert all(torch.equal(wa[k], wb[k.replace("frame_net.", "distribution.frame_net.", 1)
                                      if k.startswith("frame_net.") else k]) for k in wa)


# -- the estimators ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data():
    P = systems(64, 5, 7, absent=1)
    Y = np.where(np.isnan(P[..., :3]), np.nan, 0.3 * P[..., 3:6])      # a vector target per point
    return P.reshape(64, -1), Y.reshape(64, -1)


@pytest.fixture(scope="module")
def fitted(data):
    X, Y = data
    return EndToEndEquivariantRegressor(random_state=0, **TINY).fit(X, Y)


def test_regressor_fits_with_absent_points_and_is_reproducible(fitted, data):
    X, Y = data
    before = X.copy()
    pred = fitted.predict(X)
    np.testing.assert_array_equal(X, before)                            # caller's data untouched
    np.testing.assert_array_equal(np.isnan(pred), np.isnan(Y))
    np.testing.assert_array_equal(fitted.predict(X), pred)              # fixed draws per call
    again = EndToEndEquivariantRegressor(random_state=0, **TINY).fit(X, Y)
    np.testing.assert_array_equal(again.predict(X), pred)
    other = EndToEndEquivariantRegressor(random_state=1, **TINY).fit(X, Y)
    assert not np.allclose(other.predict(X), pred, equal_nan=True)
    assert fitted.module_.distribution.seed != other.module_.distribution.seed
    one = EndToEndEquivariantRegressor(random_state=0, **{**TINY, "batch_size": 7}).fit(X, Y)
    np.testing.assert_allclose(one.predict(X[5:6]), one.predict(X)[5:6], rtol=1e-5, atol=1e-6)


def test_regressor_equivariance_error_shrinks_with_k(fitted, data):
    X, _ = data
    g = E3.sample(len(X), random_state=3)
    module = fitted.module_
    errs = []
    for k in (1, 64):
        module.n_samples_predict = k
        Y = fitted.predict(X)
        moved = fitted.predict(E3.apply(g, X, NBODY))
        errs.append(np.nanmedian(np.nanmax(np.abs(moved - E3.apply(g, Y, DISP)), 1) / np.nanmax(np.abs(Y), 1)))
    module.n_samples_predict = 16
    assert errs[1] < errs[0] / 3


def test_pickle_and_save_params_keep_the_draws(fitted, data, tmp_path):
    X, _ = data
    pred = fitted.predict(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict(X), pred)
    fitted.save_params(f_params=tmp_path / "w.pt")
    fresh = EndToEndEquivariantRegressor(random_state=9, **TINY)
    fresh.set_params(module__n_points=5, module__n_outputs=15)
    fresh.initialize()
    fresh.load_params(f_params=tmp_path / "w.pt")
    np.testing.assert_array_equal(fresh.module_.distribution.seed, fitted.module_.distribution.seed)
    np.testing.assert_allclose(fresh.predict(X[:8]), pred[:8], rtol=1e-6, atol=1e-7)


def test_clone_pipeline_and_grid_search_over_frames(data):
    X, Y = data
    X, Y = np.nan_to_num(X[1::2]), Y[1::2]        # complete systems only (odd rows)
    est = EndToEndEquivariantRegressor(random_state=0, **{**TINY, "module__frame": "learned"})
    assert clone(est).get_params()["module__frame"] == "learned"
    pipe = make_pipeline(FunctionTransformer(), est)
    grid = GridSearchCV(pipe, {"endtoendequivariantregressor__module__frame": ["learned", "symmetrize"]},
                        cv=2, scoring="neg_mean_squared_error").fit(X, Y)
    assert grid.best_params_["endtoendequivariantregressor__module__frame"] in ("learned", "symmetrize")
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.predict(X).shape == Y.shape


@pytest.mark.parametrize("name", GROUPS)
def test_every_supported_group_fits(name):
    group = get_group(name)
    d = group.d
    X = systems(24, 4, 1, PointLayout(d)).reshape(24, -1)
    y = np.where(np.arange(24) % 2, "a", "b")
    model = EndToEndEquivariantClassifier(module__group=name, module__frame="symmetrize", module__n_dims=d,
                                          module__hidden=8, module__backbone_hidden=8,
                                          module__n_samples=2, module__n_samples_predict=4, max_epochs=1,
                                          random_state=0).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (24, 2) and np.isfinite(proba).all() and np.allclose(proba.sum(1), 1, atol=1e-5)


@pytest.mark.parametrize("param, value, pattern", [
    ("n_samples", 0, "module__n_samples must be a positive int"),
    ("n_samples", 2.5, "module__n_samples must be a positive int"),
    ("n_samples_predict", -1, "module__n_samples_predict must be a positive int"),
    ("noise_scale", 0.0, "module__noise_scale must be a positive finite number"),
    ("noise_scale", float("nan"), "module__noise_scale must be a positive finite number"),
    ("noise_scale", "big", "module__noise_scale must be a positive finite number"),
    ("frame", "symmetrise", "module__frame must be one of"),
])
def test_bad_parameters_give_clear_errors(data, param, value, pattern):
    X, Y = data
    with pytest.raises(ValueError, match=pattern):
        EndToEndEquivariantRegressor(**{**TINY, f"module__{param}": value}).fit(X, Y)
    with pytest.raises(ValueError, match=pattern):
        EndToEndEquivariantClassifier(**{**CLS, f"module__{param}": value}).fit(X, np.arange(len(X)) % 2)


@pytest.mark.gpu
def test_cuda_fit_predicts_like_its_cpu_copy(data):
    """On CUDA the draws live on the device; the fixed prediction draws are the CPU's, so the
    fitted module moved to the CPU predicts the same (up to float rounding)."""
    import copy

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    X, Y = data
    model = EndToEndEquivariantRegressor(random_state=0, device="cuda", **TINY).fit(X, Y)
    pred = model.predict(X)
    assert np.array_equal(np.isnan(pred), np.isnan(Y))
    cpu = copy.deepcopy(model.module_).cpu().eval()
    with torch.no_grad():
        on_cpu = cpu(torch.as_tensor(X, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(on_cpu, pred, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype, atol", [(torch.float64, 1e-8), (torch.float32, 1e-4)])
@pytest.mark.parametrize("name", ["SO3", "E3", "SE2"])
def test_frames_of_moved_symmetric_input_are_moved_frames(dtype, atol, name):
    """Symmetric inputs (a cube, a square) in float64 and float32: the noise makes each draw
    generic, so the drawn frames still move with the input."""
    group = get_group(name)
    d = group.d
    layout = PointLayout(d)
    shape = (np.array(list(np.ndindex(*(2,) * d)), dtype=np.float64) * 2 - 1)   # cube / square
    P = np.repeat(shape[None], 4, axis=0)
    dist = regressor_module(name, layout, n_points=len(shape), seed=1).to(dtype).eval().distribution
    g = group.sample(4, random_state=2)
    Rg, tg = parts(group, g)
    eps = torch.as_tensor(np.random.default_rng(3).normal(size=P.shape), dtype=dtype)
    with torch.no_grad():
        R, t = dist.frames(torch.as_tensor(P, dtype=dtype), eps)
        R2, t2 = dist.frames(torch.as_tensor(group.act(g, P, layout), dtype=dtype),
                             rotate_fields(Rg.to(dtype), eps, layout))
    np.testing.assert_allclose(R2.double().numpy(), (Rg @ R.double()).numpy(), atol=atol)
    if group.translates:
        np.testing.assert_allclose(t2.double().numpy(),
                                   (torch.einsum("nij,nj->ni", Rg, t.double()) + tg).numpy(), atol=atol * 10)
