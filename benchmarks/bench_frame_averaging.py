"""Frame averaging vs canonicalization on near-symmetric shapes: continuity, accuracy, cost.

Run ``python benchmarks/bench_frame_averaging.py`` (about 2 minutes on one core;
``--quick`` for a smaller run). It prints three markdown tables and one JSON line:

1. **Continuity.** Near-regular shapes (regular polygons and polyhedra plus noise of
   ``1e-3`` of their size) and, per method, the ratio of relative output change to
   relative input change for perturbations of ``1e-3`` (:func:`skcanon.metrics.continuity_ratio`,
   median and max over pairs, mean ± sd over 3 seeds). Outputs are the predicted class
   probabilities of a model fitted on the shape-classification task below, and for
   canonicalization also the canonical form itself.
2. **Accuracy under small noise.** Classify which near-regular shape a noisy, randomly
   moved, randomly ordered point set is (six shapes of 6 points in 2-D under SE(2)×S_n,
   five of 8 points in 3-D under SE(3)×S_n); canonicalization (PCA + sort) vs frame
   averaging with each frame source; mean ± sd of test accuracy over 3 seeds.
3. **Cost.** ``predict`` time of frame averaging relative to the canonicalization
   pipeline (same classifier; best of 7 runs each, the two timed alternately), with the
   mean number of frames ``k`` per sample; the target is at most ``k`` ×
   canonicalization + 20 %.
4. **Memory.** Peak traced allocation of ``predict_proba`` on ``n`` and ``4n`` samples
   (bounded by the batch size, not the data size).

``--cost-only`` runs the cost and memory tables alone (one noise level, no continuity or
accuracy tables).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from skcanon._canonicalizer import CanonicalizerTransformer  # noqa: E402
from skcanon._frame_averaging import FrameAveragingClassifier  # noqa: E402
from skcanon.groups import get_group  # noqa: E402
from skcanon.layouts import PointLayout  # noqa: E402
from skcanon.metrics import continuity_ratio  # noqa: E402

SEEDS = (0, 1, 2)
METHODS = ("canonicalization", "pca", "minimal", "weighted", "sampled")


def _polygon(k, r=1.0, phase=0.0):
    a = 2 * np.pi * np.arange(k) / k + phase
    return r * np.stack([np.cos(a), np.sin(a)], axis=1)


def shapes_2d():
    """Six near-symmetric shapes of 6 points in the plane (unit RMS radius)."""
    hexagon = _polygon(6)
    triangle_mid = np.vstack([_polygon(3), 0.5 * _polygon(3, phase=np.pi / 3)])
    pentagon_centre = np.vstack([_polygon(5), [[0.0, 0.0]]])
    two_triangles = np.vstack([_polygon(3), 0.6 * _polygon(3)])
    square_pair = np.vstack([_polygon(4), [[0.3, 0.0], [-0.3, 0.0]]])
    rectangle = np.vstack([_polygon(4) * [1.2, 0.8], [[0.0, 0.8], [0.0, -0.8]]])
    return [_unit(s) for s in (hexagon, triangle_mid, pentagon_centre, two_triangles, square_pair, rectangle)]


def shapes_3d():
    """Five near-symmetric shapes of 8 points in space: cube, square antiprism, two
    tetrahedra (a stellated pair), octahedron plus two poles, hexagonal bipyramid."""
    cube = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    sq = _polygon(4)
    antiprism = np.vstack([np.c_[sq, np.full(4, 0.6)], np.c_[_polygon(4, phase=np.pi / 4), np.full(4, -0.6)]])
    tet = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
    two_tets = np.vstack([tet, -0.5 * tet])
    octa = np.vstack([np.eye(3), -np.eye(3), [[0.5, 0.5, 0.5], [-0.5, -0.5, -0.5]]])
    bipyramid = np.vstack([np.c_[_polygon(6), np.zeros(6)], [[0, 0, 1.3], [0, 0, -1.3]]])
    return [_unit(s) for s in (cube, antiprism, two_tets, octa, bipyramid)]


def _unit(S):
    S = S - S.mean(axis=0)
    return S / np.sqrt((S**2).sum(axis=1).mean())


def make_data(shapes, group, n_per_class, noise, rng):
    """Noisy copies of each shape, moved by a random element of ``group`` (points permuted)."""
    d = shapes[0].shape[1]
    X, y = [], []
    for label, S in enumerate(shapes):
        Z = S[None] + noise * rng.standard_normal((n_per_class,) + S.shape)
        X.append(Z)
        y.append(np.full(n_per_class, label))
    X, y = np.concatenate(X), np.concatenate(y)
    G = get_group(group)
    g = G.sample(len(X), rng, n_points=X.shape[1])
    X = G.apply(g, X.reshape(len(X), -1), PointLayout(d))
    return X, y


def models(group, random_state):
    clf = LogisticRegression(C=10.0, max_iter=2000)
    out = {"canonicalization": make_pipeline(CanonicalizerTransformer(group=group, method="pca+sort"), clf)}
    for frames in METHODS[1:]:
        out[frames] = FrameAveragingClassifier(clf, group=group, frames=frames, n_frames=8,
                                               random_state=random_state)
    return out


def _ms(values):
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.3g} ± {values.std(ddof=1):.2g}" if len(values) > 1 else f"{values.mean():.3g}"


def run(quick=False, cost_only=False):
    n_train, n_test, n_near = (30, 30, 30) if quick else (80, 100, 60)
    settings = [("2-D polygons, SE2xS_n", shapes_2d(), "SE2xS_n"),
                ("3-D polyhedra, SE3xS_n", shapes_3d(), "SE3xS_n")]
    noise_levels = (0.02,) if cost_only else (0.02, 0.05, 0.1)
    acc, cont, cont_canon, cost, frames_per_sample, memory = {}, {}, {}, {}, {}, {}
    for title, shapes, group in settings:
        for seed in SEEDS:
            rng = np.random.RandomState(seed)
            for noise in noise_levels:
                Xtr, ytr = make_data(shapes, group, n_train, noise, rng)
                Xte, yte = make_data(shapes, group, n_test, noise, rng)
                fitted = {name: m.fit(Xtr, ytr) for name, m in models(group, seed).items()}
                for name, m in fitted.items():
                    acc.setdefault((title, noise, name), []).append(float(np.mean(m.predict(Xte) == yte)))
                if noise != noise_levels[0]:
                    continue
                # continuity near the symmetric shapes themselves (noise 1e-3)
                Xn, _ = make_data(shapes, group, n_near // len(shapes) + 1, 1e-3, rng)
                if not cost_only:
                    for name, m in fitted.items():
                        r = continuity_ratio(m.predict_proba, Xn, eps=1e-3, n_pairs=200, random_state=seed)
                        cont.setdefault((title, name), []).append((r.median, r.max))
                    canon = fitted["canonicalization"][0]
                    r = continuity_ratio(canon.transform, Xn, eps=1e-3, n_pairs=200, random_state=seed)
                    cont_canon.setdefault(title, []).append((r.median, r.max))
                # cost of predict relative to the canonicalization pipeline
                Xc, _ = make_data(shapes, group, (1200 if quick else 6000) // len(shapes), noise, rng)
                base = fitted["canonicalization"]
                for name, m in fitted.items():
                    if name == "canonicalization":
                        continue
                    k = float(np.mean((m.frame_weights(Xc).weights > 0).sum(axis=1)))
                    frames_per_sample.setdefault((title, name), []).append(k)
                    cost.setdefault((title, name), []).append(
                        _ratio(lambda m=m: m.predict_proba(Xc), lambda: base.predict_proba(Xc)))
                if seed == SEEDS[0]:
                    # memory: peak traced allocation of predict_proba at n and 4n samples, same batch size
                    for name, m in fitted.items():
                        if name != "canonicalization":
                            memory[(title, name)] = (_peak_mib(m, Xc), _peak_mib(m, np.concatenate([Xc] * 4)))
                    memory[title] = 4 * Xc.nbytes / 2**20
                    memory["batch_size"] = fitted["pca"].batch_size
    return acc, cont, cont_canon, cost, frames_per_sample, noise_levels, settings, memory


def _peak_mib(model, X):
    tracemalloc.start()
    try:
        model.predict_proba(X)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _ratio(fn, ref, repeats=7):
    """Best time of ``fn`` over best time of ``ref``, the two timed alternately (so a change
    of load on a shared machine hits both alike)."""
    fn(), ref()
    a, b = [], []
    for _ in range(repeats):
        for f, out in ((fn, a), (ref, b)):
            t = time.perf_counter()
            f()
            out.append(time.perf_counter() - t)
    return min(a) / min(b)


def _best(fn, repeats=5):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data (for tests)")
    parser.add_argument("--cost-only", action="store_true", help="only the cost and memory tables")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    acc, cont, cont_canon, cost, kps, noise_levels, settings, memory = run(args.quick, args.cost_only)
    titles = [s[0] for s in settings]
    summary = {"continuity": {}, "accuracy": {}, "cost": {}, "memory_mib": {}}
    if not args.cost_only:
        _quality_tables(titles, cont, cont_canon, acc, noise_levels, summary)
    print("\n### Cost of predict_proba relative to canonicalization (mean ± sd over 3 seeds)\n")
    print("| shapes | frames | k (mean frames per sample) | time ratio | target k × 1.2 | status |\n"
          "|---|---|---|---|---|---|")
    for title in titles:
        for name in METHODS[1:]:
            k, r = np.mean(kps[(title, name)]), np.array(cost[(title, name)])
            status = "met" if r.mean() <= 1.2 * max(k, 1.0) else "missed"
            print(f"| {title} | {name} | {k:.2f} | {_ms(r)} | {1.2 * max(k, 1.0):.2f} | {status} |")
            summary["cost"][f"{title}/{name}"] = {"k": float(k), "ratio": float(r.mean()), "status": status}
    print("\n### Memory: peak traced allocation of predict_proba (MiB; the estimators' default batch_size "
          f"{memory['batch_size']}, first seed)\n")
    print("| shapes | frames | n samples | 4 × n samples | size of the 4 × n input |\n"
          "|---|---|---|---|---|")
    n_cost = 1200 if args.quick else 6000
    input_mib = {title: memory[title] for title in titles}
    for title in titles:
        for name in METHODS[1:]:
            a, b = memory[(title, name)]
            print(f"| {title} | {name} | {a:.1f} (n = {n_cost:,}) | {b:.1f} | {input_mib[title]:.1f} |")
            summary["memory_mib"][f"{title}/{name}"] = [round(a, 2), round(b, 2)]
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    summary["quick"] = bool(args.quick)
    summary["cost_only"] = bool(args.cost_only)
    print()
    print(json.dumps({"name": "frame_averaging", **summary}))


def _quality_tables(titles, cont, cont_canon, acc, noise_levels, summary):
    print("### Continuity near symmetric shapes (ratio of relative output change to relative input change; "
          "eps = 1e-3; median / max over 200 pairs, mean ± sd over 3 seeds)\n")
    print("| shapes | output | median ratio | max ratio |\n|---|---|---|---|")
    for title in titles:
        c = np.array(cont_canon[title])
        print(f"| {title} | canonical form (transform) | {_ms(c[:, 0])} | {_ms(c[:, 1])} |")
        summary["continuity"][f"{title}/canonical form"] = float(c[:, 1].mean())
        for name in METHODS:
            c = np.array(cont[(title, name)])
            print(f"| {title} | predict_proba, {name} | {_ms(c[:, 0])} | {_ms(c[:, 1])} |")
            summary["continuity"][f"{title}/{name}"] = float(c[:, 1].mean())
    print("\n### Accuracy under noise (test accuracy, mean ± sd over 3 seeds; noise relative to the "
          "shape's size)\n")
    print("| shapes | noise | " + " | ".join(METHODS) + " |\n|---|---|" + "---|" * len(METHODS))
    for title in titles:
        for noise in noise_levels:
            cells = [_ms(acc[(title, noise, name)]) for name in METHODS]
            print(f"| {title} | {noise} | " + " | ".join(cells) + " |")
            for name in METHODS:
                summary["accuracy"][f"{title}/{noise}/{name}"] = float(np.mean(acc[(title, noise, name)]))


if __name__ == "__main__":
    main()
