"""float32 invariance of every heuristic on real molecules (QM9), symmetric ones included.

Issue 14: float32 ``pca`` was not invariant on small molecules with point-group symmetry
(59 % of a set of textbook molecules above 1e-3). Here: the first 300 QM9 molecules (the
smallest, most of them symmetric: methane, ammonia, water, acetylene, ...) and 700 drawn
at random, positions + atomic number as a scalar field, NaN-padded to 29 atoms, each moved
by a random element of the group (E(3) × S_n: rotation, reflection, translation and atom
shuffle) in float64 and then rounded to float32, like data a user would store.

Target (issue 14): relative invariance error ≤ 1e-3 for ≥ 99.9 % of the molecules in
float32 (here: at most one of 1,000 over two poses), and ≤ 1e-9 for all in float64.
Networks are tested elsewhere (``tests/test_learned_points.py``).
"""

import importlib.util

import numpy as np
import pytest

from skcanon import CanonicalizerTransformer
from skcanon.groups import get_group

pytestmark = pytest.mark.skipif(importlib.util.find_spec("qm9pack") is None,
                                reason="QM9 data not installed: pip install qm9pack")

# (group the transformer canonicalizes, method, group the molecules are moved by)
CASES = [
    ("SE3", "pca", "SE3"), ("E3", "pca", "E3"), ("SO3", "pca", "SO3"), ("O3", "pca", "O3"),
    ("SE3xS_n", "pca+sort", "SE3xS_n"), ("E3xS_n", "pca+sort", "E3xS_n"), ("E3xS_n", "auto", "E3xS_n"),
    ("S_n", "sort", "S_n"), ("T3", "centroid", "T3"), ("scaling", "scale", "scaling"),
    ("Sim3", "pca", "Sim3"), ("SSim3", "pca", "SSim3"), ("SO3xscaling", "pca+scale", "SO3xscaling"),
]


@pytest.fixture(scope="module")
def molecules():
    from skcanon.datasets import load_qm9

    small = load_qm9(n=300, flat=False)
    drawn = load_qm9(n=700, shuffle=True, random_state=0, flat=False)
    return np.concatenate([small.data, drawn.data]).astype(np.float64), small.layout


def _relative(a, b):
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    diff = np.where(np.isnan(a) & np.isnan(b), 0.0, a - b)
    norm = np.sqrt(np.nansum(a**2, axis=1))
    return np.sqrt(np.sum(diff**2, axis=1)) / np.maximum(norm, 1e-12)


def _errors(molecules, group, method, moved_by, dtype, trials=2):
    X, layout = molecules
    est = CanonicalizerTransformer(group, method, layout=layout).fit(X[:5].astype(dtype))
    ref = est.transform(X.astype(dtype))
    assert ref.dtype == dtype
    G = get_group(moved_by)
    errors = []
    for trial in range(trials):
        moved = G.act(G.sample(len(X), np.random.RandomState(trial), n_points=X.shape[1]), X, layout)
        errors.append(_relative(ref, est.transform(moved.astype(dtype))))
    return np.max(errors, axis=0)


@pytest.mark.parametrize("group, method, moved_by", CASES)
def test_float32_invariance_on_qm9(molecules, group, method, moved_by):
    err = _errors(molecules, group, method, moved_by, np.float32)
    above = np.flatnonzero(err > 1e-3)
    assert above.size <= 1, f"{above.size} of {len(err)} molecules above 1e-3 (first: {above[:5]})"


@pytest.mark.parametrize("group, method, moved_by", CASES)
def test_float64_invariance_on_qm9(molecules, group, method, moved_by):
    err = _errors(molecules, group, method, moved_by, np.float64, trials=1)
    assert err.max() < 1e-9
