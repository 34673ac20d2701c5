"""Choose the training recipe of the end-to-end image table on a validation split.

The end-to-end image experiment (``benchmarks/experiments/images_end_to_end.py``) trains one
torch classifier (``EndToEndEquivariantClassifier`` with its default CNN backbone) in every
row. Its number of epochs is chosen here for the learned row, on rotated Fashion-MNIST images
that the results page never uses (the official *test* subset; 4,600 training / 1,000
validation images, the split of ``choose_image_batch.py``), and then fixed for every row.
Each candidate trains the learned frame end to end (``module__frame="learned"``) and, paired
on the same images and seed, the same CNN behind the moments canonicalizer
(``module__frame="identity"``), the best heuristic of the prototypes; the score is the
accuracy on the rotated validation images. ``--rows`` adds the anchored frame
(``module__frame="anchored"``: the moments frame plus the learned network's scores times a
gain that starts at 0).

Run::

    python benchmarks/choose_image_end_to_end.py --seeds 0,1 --groups C8,SO2 --epochs 15,30
    python benchmarks/choose_image_end_to_end.py --seeds 0,1,2 --groups C8 --epochs 30 --rows moments,anchored

It prints one JSON line per fit and a summary (means ± sd, paired differences against the
moments row of the same epochs). The outcome is in ``docs/end_to_end.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

ROWS = ("moments", "learned", "anchored")


def one_fit(row, group, data, seed, epochs):
    """Accuracy of one row on the validation images (one JSON-able dict)."""
    from experiments.images_end_to_end import classifier
    from sklearn.pipeline import make_pipeline

    from skcanon import CanonicalizerTransformer

    Xtr, ytr, _, Xva, yva = data
    if row not in ROWS:
        raise ValueError(f"row must be one of {ROWS}; got {row!r}.")
    clf = classifier("identity" if row == "moments" else row, group, len(Xtr), epochs, seed)
    model = clf if row != "moments" else make_pipeline(
        CanonicalizerTransformer(group, "moments", layout="image"), clf)
    t0 = time.perf_counter()
    model.fit(Xtr.astype(np.float32), ytr)
    fit_s = time.perf_counter() - t0
    acc = float(np.mean(model.predict(Xva.astype(np.float32)) == yva))
    return {"group": group, "setting": f"{epochs} ep", "seed": seed, "row": row, "epochs": epochs,
            "accuracy": acc, "fit_s": round(fit_s, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--groups", default="C8,SO2")
    parser.add_argument("--epochs", default="15,30")
    parser.add_argument("--n-train", type=int, default=4600)
    parser.add_argument("--n-val", type=int, default=1000)
    parser.add_argument("--rows", default="moments,learned",
                        help=f"comma-separated rows among {', '.join(ROWS)} (moments: the paired baseline)")
    args = parser.parse_args(argv)
    rows = tuple(args.rows.split(","))
    if "moments" not in rows or not set(rows) <= set(ROWS):
        parser.error(f"--rows must include moments and name only {', '.join(ROWS)}; got {args.rows!r}")
    import warnings

    import torch
    from choose_image_batch import load, paired_summary

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for group in args.groups.split(","):
            data = load(group, 1000 + seed, args.n_train, args.n_val)
            for epochs in (int(e) for e in args.epochs.split(",")):
                for row in rows:
                    r = one_fit(row, group, data, seed, epochs)
                    results.append(r)
                    print(json.dumps(r), flush=True)
    print(paired_summary(results, "row", rows, "moments", 8, show_fit=True))
    return results


if __name__ == "__main__":
    sys.exit(main() and 0)
