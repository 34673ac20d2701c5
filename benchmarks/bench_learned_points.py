"""Throughput and memory of learned SO(3) canonicalization of 1,024-point clouds.

Prints a table, then one JSON line per row::

    python benchmarks/bench_learned_points.py            # full
    python benchmarks/bench_learned_points.py --quick    # a few seconds
    python benchmarks/bench_learned_points.py --threads 1

Rows: ``transform`` (hard frames + canonical forms, batches of 64, float32) and ``fit``
(supervised objective through skorch: forward, backward and Adam step, mini-batches of 64).
Throughput is clouds per second of wall time; peak RSS is ``ru_maxrss`` of this process.
"""

import argparse
import json
import resource
import time

import numpy as np
import torch

import skcanon.canonicalizers._learned  # noqa: F401  (registers "learned")
from skcanon import CanonicalizerTransformer


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--points", type=int, default=1024)
    parser.add_argument("--hidden", type=int, default=64)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    n_train = 256 if args.quick else 1024
    n_infer = 512 if args.quick else 4096
    epochs = 1 if args.quick else 3
    rs = np.random.default_rng(0)
    m = args.points
    X = (rs.normal(size=(max(n_train, n_infer), m, 3)) * [3, 2, 1]).astype(np.float32)
    y = rs.integers(0, 4, len(X))

    rows = []
    canon = CanonicalizerTransformer(group="SO3", method="learned", objective="supervised",
                                     hidden=args.hidden, max_epochs=epochs, early_stopping=False,
                                     batch_size=64, random_state=0, device="cpu")
    # warm-up: imports (skorch) and first-call allocations are not part of the throughput
    CanonicalizerTransformer(group="SO3", method="learned", objective="supervised", hidden=args.hidden,
                             max_epochs=1, early_stopping=False, batch_size=64, random_state=0,
                             device="cpu").fit(X[:64].reshape(64, -1), y[:64])
    t0 = time.perf_counter()
    canon.fit(X[:n_train].reshape(n_train, -1), y[:n_train])
    fit_s = time.perf_counter() - t0
    rows.append({"task": "fit (supervised)", "n_points": m, "batch": 64, "threads": args.threads,
                 "clouds_per_s": n_train * epochs / fit_s, "seconds": fit_s, "peak_rss_mb": peak_rss_mb()})

    canon.transform(X[:64].reshape(64, -1))  # warm-up
    t0 = time.perf_counter()
    Xc = canon.transform(X[:n_infer].reshape(n_infer, -1))
    inf_s = time.perf_counter() - t0
    assert np.isfinite(Xc).all()
    rows.append({"task": "transform", "n_points": m, "batch": 64, "threads": args.threads,
                 "clouds_per_s": n_infer / inf_s, "seconds": inf_s, "peak_rss_mb": peak_rss_mb()})

    print(f"{'task':<18}{'points':>8}{'threads':>8}{'clouds/s':>12}{'seconds':>10}{'peak RSS MB':>13}")
    for r in rows:
        print(f"{r['task']:<18}{r['n_points']:>8}{r['threads']:>8}{r['clouds_per_s']:>12.1f}"
              f"{r['seconds']:>10.2f}{r['peak_rss_mb']:>13.0f}")
    for r in rows:
        print(json.dumps({"bench": "learned_points_SO3", **{k: (round(v, 3) if isinstance(v, float) else v)
                                                             for k, v in r.items()}}))


if __name__ == "__main__":
    main()
