"""How likely the results page's "learned at least as good as the best heuristic" targets are
met by a method that is truly better by a given margin, from the stored per-seed rows.

For every table with that target (issue 13: the eight MLP image tables, QM9 ring classes,
3-D point shapes; the image tables' targets also ask for "within 2 points of upright", which
this does not model, so for them it gives the chance of the heuristic part only) the stored
rows give, per seed, learned minus that seed's best heuristic
(accuracy, so higher is better). Their mean is what the page reports; their sample sd is the
paired spread between seeds. If the true difference were ``delta`` in every table and the
seed-to-seed spread what the rows show, the mean over ``n`` seeds would be at least 0 with
probability ``Φ(delta · √n / sd)`` (normal approximation); the product over the tables is the
chance that *every* table meets the target. (The page judges the means against the best
heuristic *mean*, which is at most the mean of the per-seed bests, so this is a slightly
strict reading; the paired sd is the spread that matters for that comparison.)

Run::

    python benchmarks/target_power.py
    python benchmarks/target_power.py --deltas 0,0.01,0.02 --seeds 3,5,10

It prints a table per stored experiment and one JSON line with the probabilities.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs", "_static", "results", "rows")

#: experiment -> (learned row, heuristic rows) of the tables whose target is "learned ≥ best heuristic"
TARGETS = {
    "images": ("learned canonicalizer", ("raw", "moments orientation", "random canonicalizer")),
    "qm9_classification": ("learned (supervised, defaults)", ("pca+sort (defaults)", 'pca+sort, key_order="columns"')),
    "shapes": ("learned (supervised, defaults)", ("pca+sort (defaults)",)),
}


def paired_differences(rows, learned, heuristics):
    """``{table: array of per-seed (learned − best heuristic of that seed)}``."""
    out = {}
    for table in sorted({r["table"] for r in rows}):
        diffs = []
        for seed in sorted({r["seed"] for r in rows if r["table"] == table}):
            same = [r for r in rows if r["table"] == table and r["seed"] == seed]
            ours = [r["score"] for r in same if r["method"] == learned]
            best = [r["score"] for r in same if r["method"] in heuristics]
            if ours and best:
                diffs.append(ours[0] - max(best))
        if len(diffs) >= 2:
            out[table] = np.asarray(diffs)
    return out


def chance_all_met(sds, delta, n_seeds):
    """Probability that the mean over ``n_seeds`` is ≥ 0 in every table (true difference ``delta``)."""
    from scipy.stats import norm

    return float(np.prod([norm.cdf(delta * np.sqrt(n_seeds) / sd) for sd in sds]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", default="0,0.005,0.01,0.02,0.03", help="true advantages (accuracy)")
    parser.add_argument("--seeds", default="3,5,10", help="numbers of seeds to evaluate")
    parser.add_argument("--results", default=RESULTS, help="folder of the stored rows")
    args = parser.parse_args(argv)
    diffs = {}
    for name, (learned, heuristics) in TARGETS.items():
        path = os.path.join(args.results, f"{name}.json")
        if not os.path.exists(path):
            print(f"{name}: no stored rows at {path}", file=sys.stderr)
            continue
        with open(path) as fh:
            rows = json.load(fh)["rows"]
        diffs.update(paired_differences(rows, learned, heuristics))
    if not diffs:
        raise SystemExit("no stored rows with the learned target found")
    print(f"{'table':30s} {'seeds':>5s} {'mean diff':>10s} {'paired sd':>10s}")
    for table, d in diffs.items():
        print(f"{table:30s} {len(d):5d} {d.mean():+10.4f} {d.std(ddof=1):10.4f}")
    sds = [d.std(ddof=1) for d in diffs.values()]
    deltas = [float(x) for x in args.deltas.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")]
    print(f"\nchance that all {len(sds)} tables meet 'learned ≥ best heuristic' (means over n seeds), "
          "if learned were truly better by delta in every table:")
    print("delta    " + "".join(f"n={n:<8d}" for n in seeds))
    chances = {}
    for delta in deltas:
        values = [chance_all_met(sds, delta, n) for n in seeds]
        chances[str(delta)] = dict(zip(map(str, seeds), [round(v, 4) for v in values]))
        print(f"{delta:<9.3f}" + "".join(f"{v:<10.3f}" for v in values))
    record = {"name": "target_power", "tables": len(sds),
              "median_paired_sd": round(float(np.median(sds)), 4),
              "mean_differences": {t: round(float(d.mean()), 4) for t, d in diffs.items()},
              "chance_all_met": chances}
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    main()
