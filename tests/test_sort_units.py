"""The ``sort`` heuristic with columns in different units.

Its tie tolerance is relative to a sample's largest value, so a scalar field far larger than
the coordinates (coordinates in metres beside an atomic number; a scalar of 1e5 beside
coordinates of 1 in float32) made every coordinate a tie, and the order fell to rounding
noise: pca+sort was not invariant (50 of 50 planar molecules, errors up to 4.4 times their
size). Column groups more than 2**4 below the largest are now brought level first; data
within that gap (QM9 in ångström) sort exactly as before.
"""

import numpy as np
import pytest

from skcanon import CanonicalizerTransformer
from skcanon._kernels.lexsort import magnitude_groups, scaled_by_group
from skcanon.groups import get_group
from skcanon.layouts import PointLayout

LAYOUT = PointLayout(3, fields=[("pos", "position"), ("Z", "scalar")])


def _molecules(unit, scalar, seed=0, n=40, m=6):
    rng = np.random.RandomState(seed)
    P = rng.randn(n, m, 3)
    P[..., 2] = 0.0                                         # planar: the third axis is noise
    P = get_group("SO3").apply(get_group("SO3").sample(n, rng), P, PointLayout(3)) * unit
    return np.concatenate([P, np.full((n, m, 1), scalar)], axis=2)


@pytest.mark.parametrize("dtype, unit, scalar", [(np.float64, 1e-10, 6.0), (np.float32, 1.0, 1e5)])
@pytest.mark.parametrize("key_order", ["scalars_first", "columns"])
def test_pca_sort_is_invariant_with_columns_in_other_units(dtype, unit, scalar, key_order):
    X = _molecules(unit, scalar)
    G = get_group("E3xS_n")
    g = G.sample(len(X), np.random.RandomState(1), n_points=X.shape[1])
    g = (g[0].copy(), g[1])
    g[0][:, :3, 3] *= unit                                  # translations of the molecules' size
    moved = G.apply(g, X, LAYOUT)
    canon = CanonicalizerTransformer("E3xS_n", "pca+sort", layout=LAYOUT, key_order=key_order).fit(X.astype(dtype))
    a, b = canon.transform(X.astype(dtype)), canon.transform(moved.astype(dtype))
    error = np.abs(a - b)[..., :3].max() / unit
    assert error < (1e-6 if dtype == np.float32 else 1e-9)


def test_keys_within_the_unit_gap_are_the_points_own_values():
    rng = np.random.default_rng(0)
    V = np.concatenate([rng.normal(size=(50, 9, 3)) * 2.0, rng.choice([1.0, 6.0, 9.0], size=(50, 9, 1))], axis=2)
    V[:5, 7:] = np.nan                                      # absent points
    assert scaled_by_group(V, magnitude_groups(LAYOUT)) is None
    assert magnitude_groups(PointLayout(3)) is None       # one unit: nothing to compare
    far = V.copy()
    far[..., :3] *= 1e-10
    scaled = scaled_by_group(far, magnitude_groups(LAYOUT))
    np.testing.assert_array_equal(scaled[..., 3], far[..., 3])            # the largest group stays
    ratio = scaled[..., :3] / far[..., :3]
    finite = np.isfinite(ratio)
    np.testing.assert_array_equal(np.log2(ratio[finite]) % 1, 0.0)        # powers of two: exact


@pytest.mark.parametrize("dtype, unit, scalar", [(np.float64, 1e-10, (6.0, 8.0)),
                                                 (np.float32, 1.0, (1e5, 2e5))])
def test_sorted_distances_are_invariant_with_scalars_in_other_units(dtype, unit, scalar):
    """The projection sorts rows of (scalars, distances) with the same relative tolerance:
    lattice clouds in metres beside atom types changed 58 of 200 moved samples by up to 1.4
    lattice spacings (moves with translations in the same unit)."""
    from skcanon import InvariantProjector

    rng = np.random.default_rng(0)
    n, m = 40, 6
    grid = np.array(np.meshgrid(*[np.arange(3)] * 3, indexing="ij")).reshape(3, -1).T.astype(float)
    pos = np.stack([grid[rng.choice(27, m, replace=False)] for _ in range(n)]) * unit
    X = np.concatenate([pos, rng.choice(scalar, size=(n, m, 1))], axis=2).astype(dtype)
    proj = InvariantProjector("E3xS_n", "sorted_distances", layout=LAYOUT).fit(X)
    A = proj.transform(X).astype(np.float64)
    group = get_group("E3xS_n")
    for seed in range(5):
        M, order = group.sample(n, np.random.RandomState(seed), n_points=m)
        M = M.copy()
        M[:, :3, 3] *= unit                                 # translations in the data's unit
        moved = group.apply((M, order), X.astype(np.float64), LAYOUT).astype(dtype)
        B = proj.transform(moved).astype(np.float64)
        bound = (1e-3 if dtype == np.float32 else 1e-6) * unit
        assert np.abs(A - B).max() <= bound, np.abs(A - B).max() / unit
