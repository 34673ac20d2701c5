"""Choose the width of image canonicalization networks on a validation split.

Compares variants of :mod:`skcanon.nn._images` networks on rotated Fashion-MNIST images
that the results page never uses (the official *test* subset; the page draws its images
from the training subset), with the loader and classifier of
``benchmarks/choose_image_batch.py``:

* ``8 channels``: ``max(2, hidden // 8)`` channels per group element (8 at the default
  ``hidden=64``) — the network before this comparison;
* ``16 channels``: ``hidden // 4`` channels per element (16 at the default; shipped).

Only the image network's channels change (``skcanon.nn._images.CHANNEL_DIVISOR``); ``hidden``
stays 64, so the supervised objective's task head is the same in both.

Every variant trains the learned canonicalizer of both settings of ``benchmarks/experiments/
images.py`` with the library's defaults (only the objective set: ``supervised`` on rotated
training images, ``prior`` on upright ones), then the page's classifier on the canonical
images; the score is the accuracy on 1,000 rotated validation images. The same seeds draw
the images, rotations and initial weights for every variant, so differences are paired.

Run::

    python benchmarks/choose_image_network.py --groups C8 --seeds 0,1,2
    python benchmarks/choose_image_network.py --groups SO2 --seeds 0,1,2

It prints one JSON line per fit and a summary (means ± sd, paired differences against the
first variant given). The outcome and its numbers are in ``docs/learned.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time

import numpy as np

#: variant → channel divisor
VARIANTS = {"8 channels": 8, "16 channels": 4}


@contextlib.contextmanager
def _network(divisor):
    """Image networks built with ``max(2, hidden // divisor)`` channels per element."""
    from skcanon.nn import _images

    saved = _images.CHANNEL_DIVISOR
    _images.CHANNEL_DIVISOR = divisor
    try:
        yield
    finally:
        _images.CHANNEL_DIVISOR = saved


def one_fit(variant, group, setting, data, seed):
    """Validation accuracy of the page's classifier after a default learned canonicalizer
    whose network is ``variant``."""
    from choose_image_batch import _classifier

    from skcanon import CanonicalizerTransformer

    Xtr, ytr, Utr, Xva, yva = data
    objective = "supervised" if setting == "rotated" else "prior"
    fit_X = Xtr if setting == "rotated" else Utr
    canon = CanonicalizerTransformer(group, "learned", layout="image", objective=objective, random_state=seed,
                                     device="cpu")
    t0 = time.perf_counter()
    with _network(VARIANTS[variant]):
        canon.fit(fit_X, ytr if objective == "supervised" else None)
    fit_s = time.perf_counter() - t0
    clf = _classifier(seed).fit(canon.transform(fit_X), ytr)
    acc = float(np.mean(clf.predict(canon.transform(Xva)) == yva))
    info = canon.canonicalizer_
    return {"variant": variant, "group": group, "setting": setting, "seed": seed, "accuracy": acc,
            "channels": info.network_.channels,
            "epochs": len(info.history_), "best_epoch": info.best_epoch_, "fit_s": round(fit_s, 1)}


def summarize(results, variants):
    """Means ± sd per variant and setting, and paired differences against ``variants[0]``."""
    from choose_image_batch import paired_summary

    return paired_summary(results, "variant", variants, variants[0], 22, show_fit=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--groups", default="C8,SO2")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {list(VARIANTS)}")
    parser.add_argument("--settings", default="rotated,upright")
    parser.add_argument("--n-train", type=int, default=4600)
    parser.add_argument("--n-val", type=int, default=1000)
    parser.add_argument("--summarize", metavar="JSONL", nargs="*",
                        help="run nothing: summarize the JSON lines of earlier runs")
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"--variants: unknown {sorted(unknown)}; choose from {list(VARIANTS)}")
    if args.summarize is not None:
        results = [json.loads(line) for path in args.summarize for line in open(path) if line.startswith("{")]
        print(summarize(results, variants))
        return results
    import torch

    torch.set_num_threads(1)
    import warnings

    warnings.filterwarnings("ignore")
    from choose_image_batch import paired_runs

    results = paired_runs([int(x) for x in args.seeds.split(",")], args.groups.split(","),
                          args.settings.split(","), variants, args.n_train, args.n_val, one_fit)
    print(summarize(results, variants))
    return results


if __name__ == "__main__":
    sys.exit(main() and 0)
