"""How much the batch a sample shares changes its output, where the arithmetic depends on it.

docs/scaling.rst lists the methods whose output depends on the batch in the last bits (one
matrix product per batch) and quotes the figures printed here:

* ``moments`` under SO(2) on images (values uniform in [0, 1]): the largest difference
  between ``batch_size=3`` and one batch, per image size;
* learned point networks (SE3, 96 Gaussian clouds of 6 points with axis scales 3, 2, 1,
  2 epochs, every other option at its default) per objective: the largest difference of a
  sample alone and in the whole batch, relative to the sample's largest value.

Run (under a minute on one core)::

    python benchmarks/check_batch_rounding.py

Prints a table and one JSON line per row (saved to
``docs/_static/results/check_batch_rounding.txt`` unless ``--no-write``).
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

OUT = Path(__file__).resolve().parents[1] / "docs" / "_static" / "results" / "check_batch_rounding.txt"


def moments_gaps(sides=(28, 64, 96), n=60):
    """Largest |difference| of SO(2) ``moments`` forms between batches of 3 and one batch."""
    import numpy as np

    from skcanon import CanonicalizerTransformer

    rows = []
    for side in sides:
        X = np.random.default_rng(0).random((n, side * side))
        forms = [CanonicalizerTransformer("SO2", "moments", layout="image", batch_size=b).fit(X).transform(X)
                 for b in (3, None)]
        rows.append({"check": "SO2 moments", "size": f"{side}x{side}", "n": n,
                     "max_abs_diff": float(np.abs(forms[0] - forms[1]).max())})
    return rows


def network_gaps(objectives=("align", "prior", "supervised"), n=96):
    """Largest relative difference of learned SE3 forms of a sample alone and in the batch."""
    import numpy as np
    import torch

    from skcanon import CanonicalizerTransformer

    torch.set_num_threads(1)
    X = np.random.default_rng(0).normal(size=(n, 18)) * np.tile([3.0, 2.0, 1.0], 6)
    y = (X[:, 0] > 0).astype(int)
    rows = []
    for objective in objectives:
        est = CanonicalizerTransformer("SE3", "learned", objective=objective, max_epochs=2, random_state=0,
                                       device="cpu").fit(X, y if objective == "supervised" else None)
        whole = est.transform(X)
        alone = np.concatenate([est.transform(X[i:i + 1]) for i in range(n)])
        rel = np.abs(whole - alone).max(axis=1) / np.abs(whole).max(axis=1)
        rows.append({"check": f"SE3 learned {objective}", "size": "6 points", "n": n,
                     "max_rel_diff": float(rel.max())})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    rows = moments_gaps() + network_gaps()
    lines = [f"{'check':<26}{'size':<10}{'n':>4}  difference"]
    for r in rows:
        value = r.get("max_abs_diff", r.get("max_rel_diff"))
        kind = "abs" if "max_abs_diff" in r else "rel"
        lines.append(f"{r['check']:<26}{r['size']:<10}{r['n']:>4}  {value:.1e} ({kind})")
    lines += [json.dumps(r) for r in rows]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        OUT.write_text("# python benchmarks/check_batch_rounding.py\n" + text + "\n")
    return rows


if __name__ == "__main__":
    main()
