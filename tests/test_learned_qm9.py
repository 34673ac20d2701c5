"""Invariance of network canonicalization on real molecules (QM9: positions + atomic number).

The first QM9 molecules are the small textbook ones with point-group symmetry (methane,
ammonia, water, acetylene, ethylene, ...), and many later ones are planar: exactly the
inputs whose network vectors a symmetry fixes. Before the hard frames took the heuristic's
tie rules there, 1-2 % of molecules (5 % under E(3) in float32) got different canonical
forms in two poses, up to an error of 2.
"""

import importlib.util

import numpy as np
import pytest

from skcanon import CanonicalizerTransformer
from skcanon.groups import get_group

HAS_QM9 = importlib.util.find_spec("qm9pack") is not None
pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.skipif(not HAS_QM9, reason="qm9pack not installed (pip install -e '.[data]' in the checkout)")]


@pytest.fixture(scope="module")
def molecules():
    from skcanon.datasets import load_qm9

    first = load_qm9(n=150)                                   # small, symmetric
    later = load_qm9(n=150, shuffle=True, random_state=0)     # typical, many planar
    X = np.concatenate([first.data, later.data])
    y = np.concatenate([first.target, later.target])
    return X, (y > np.median(y)).astype(int), first.layout


def _errors(canon, X, group, dtype, seed=5):
    G = get_group(group)
    P = X.astype(dtype).reshape(len(X), 29, -1)
    moved = G.act(G.sample(len(X), random_state=seed, n_points=29), P.astype(np.float64), canon.layout_)
    A = canon.transform(P.reshape(len(X), -1)).astype(np.float64)
    B = canon.transform(moved.astype(dtype).reshape(len(X), -1)).astype(np.float64)
    return np.nanmax(np.abs(A - B), axis=1) / np.nanmax(np.abs(A), axis=1)


@pytest.mark.parametrize("group", ["SE3", "E3", "SE3xS_n"])
@pytest.mark.parametrize("method", ["random", "learned"])
def test_qm9_invariance(molecules, group, method):
    X, y, layout = molecules
    kw = dict(random_state=0, hidden=32)
    if method == "learned":
        kw.update(max_epochs=2, early_stopping=False)
    canon = CanonicalizerTransformer(group=group, method=method, layout=layout, **kw).fit(X, y)
    err64 = _errors(canon, X, group, np.float64)
    assert err64.max() <= 1e-9                     # every molecule
    err32 = _errors(canon, X, group, np.float32)
    assert np.mean(err32 > 1e-3) <= 0.001          # 0 of these 300 (measured: 0 of 2,300)


@pytest.mark.parametrize("group", ["SE3", "SE3xS_n"])
def test_qm9_invariance_anchored(molecules, group):
    """The anchored method is as invariant as the heuristic it starts from."""
    X, y, layout = molecules
    canon = CanonicalizerTransformer(group=group, method="anchored", layout=layout, hidden=32, max_epochs=2,
                                     early_stopping=False, random_state=0).fit(X, y)
    assert _errors(canon, X, group, np.float64).max() <= 1e-9
