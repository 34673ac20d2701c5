"""How large the PCA tie rule's feature tolerance must grow with a cloud's distance from the
origin under groups with translations (``skcanon._kernels.pca.FEATURE_NOISE``), on data the
tests never use, float32:

* symmetric side: random mirror-symmetric shapes (3 points, their mirror images and one
  point on the mirror) under E2, E3 and SE3, moved 1, 10 or 100 times their size away;
  a moved copy whose canonical form is the mirrored one counts as flipped;
* near-symmetric side: QM9 molecules (1,500 drawn with seed 7) under SE3, E3 and E3xS_n
  (``pca``/``pca+sort``) moved by two random group elements; a molecule whose canonical
  form moves by more than 1e-3 relative counts.

Usage: ``python benchmarks/choose_far_feature_tolerance.py [--values 0,20,30,40,60,100]``;
one line per value (in docs/_static/results/choose_far_feature_tolerance.txt).
"""
import argparse

import numpy as np

from skcanon import CanonicalizerTransformer
from skcanon._kernels import pca
from skcanon.datasets import load_qm9
from skcanon.groups import get_group


def symmetric_flips(seed=123):
    rng = np.random.default_rng(seed)
    bad = total = 0
    for group, d in [("E2", 2), ("E3", 3), ("SE3", 3)]:
        O = get_group(("O" if group[0] == "E" else "SO") + str(d))
        mirror = np.eye(d)
        mirror[0, 0] = -1
        for k in range(12):
            half = rng.normal(size=(3, d)) * rng.uniform(0.5, 2, d)
            on_mirror = np.r_[0.0, rng.normal(size=d - 1)][None]
            S = np.concatenate([half, half @ mirror, on_mirror])
            S = S - S.mean(0)
            n = 100
            R = O.matrices(O.sample(n, k))
            X = np.einsum("nij,mj->nmi", R, S) + rng.normal(size=(n, 1, d)) * rng.choice([1., 10., 100.], (n, 1, 1))
            X = X.reshape(n, -1).astype(np.float32)
            ct = CanonicalizerTransformer(group, n_dims=d).fit(X)
            C = ct.transform(X).astype(float)
            ref = ct.transform(S.reshape(1, -1).astype(np.float32)).astype(float)
            bad += int((np.abs(C - ref).max(1) > 1e-2 * np.abs(S).max()).sum())
            total += n
    return bad, total


def qm9_moved(n=1500, seed=7):
    b = load_qm9(n, shuffle=True, random_state=seed, flat=False)
    X, lay = b.data, b.layout
    bad = total = 0
    for g, m in [("SE3", "pca"), ("E3", "pca"), ("E3xS_n", "pca+sort")]:
        G = get_group(g)
        est = CanonicalizerTransformer(g, m, layout=lay).fit(X[:5].astype(np.float32))
        ref = est.transform(X.astype(np.float32)).reshape(len(X), -1).astype(float)
        for t in range(2):
            moved = G.act(G.sample(len(X), np.random.RandomState(10 + t), n_points=X.shape[1]), X, lay)
            out = est.transform(moved.astype(np.float32)).reshape(len(X), -1).astype(float)
            diff = np.where(np.isnan(out) & np.isnan(ref), 0, out - ref)
            err = np.sqrt((diff ** 2).sum(1)) / np.sqrt(np.nansum(ref ** 2, 1))
            bad += int((err > 1e-3).sum())
            total += len(X)
    return bad, total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", default="0,20,30,40,60,100")
    args = parser.parse_args(argv)
    shipped = pca.FEATURE_NOISE
    try:
        for value in [float(v) for v in args.values.split(",")]:
            pca.FEATURE_NOISE = value
            sb, st = symmetric_flips()
            qb, qt = qm9_moved()
            mark = " (shipped)" if value == shipped else ""
            print(f"FEATURE_NOISE={value:g}{mark}: mirror-symmetric shapes flipped {sb}/{st}; "
                  f"QM9 molecules above 1e-3 {qb}/{qt}", flush=True)
    finally:
        pca.FEATURE_NOISE = shipped


if __name__ == "__main__":
    main()
