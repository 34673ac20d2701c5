"""Choose the mini-batch rule of image canonicalization networks on a validation split.

The automatic training budget (:func:`skcanon._training.training_budget`) grows the
mini-batch with the data up to 256 samples; before it, image networks trained with a fixed
batch of 128 and a constant learning rate. This script compares, on rotated Fashion-MNIST
images that the results page never uses (the official *test* subset of Fashion-MNIST; the
results page draws its train and test images from the training subset), the three rules:

* ``auto (cap 256)``: the automatic budget as shipped (4,600 training images: batches of
  256 in both settings), warm-up + cosine learning rate;
* ``cap 128``: the same budget with mini-batches capped at 128;
* ``old: fixed 128, constant lr``: batches of 128 and a constant learning rate;
* ``library defaults``: nothing but the objective set — the automatic number of epochs
  (about 1,000 optimiser steps) and early stopping for both objectives, as a user gets them.

Each rule trains the learned canonicalizer of both settings of ``benchmarks/experiments/
images.py`` — rotated training with ``objective="supervised"`` and upright training with
``objective="prior"`` — then the page's classifier (``MLPClassifier((128,),
early_stopping=True, max_iter=50)``) on the canonical images; the score is the accuracy on
1,000 rotated validation images. The same seeds draw the images, rotations and initial
weights for every rule, so differences are paired. The three fixed-epoch rules train for
``--epochs`` (12: what the results page used on Fashion-MNIST before it switched to the
library's defaults), with early stopping for the prior only, as the page did then.

Run::

    python benchmarks/choose_image_batch.py                 # ~10 min on one core
    python benchmarks/choose_image_batch.py --seeds 0,1,2 --groups C8

It prints one JSON line per fit and a summary (means ± sd over seeds, and paired differences).
The outcome (no separate image rule) and its numbers are in ``docs/learned.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time

import numpy as np

RULES = ("auto (cap 256)", "cap 128", "old: fixed 128, constant lr", "library defaults")


@contextlib.contextmanager
def _constant_lr():
    """The trainer's warm-up + cosine factor replaced by a constant (the rule before the budget)."""
    from skcanon import _training

    original = _training._warmup_cosine
    _training._warmup_cosine = lambda total_steps: (lambda step: 1.0)
    try:
        yield
    finally:
        _training._warmup_cosine = original


@contextlib.contextmanager
def _recorded_budget():
    """Record the ``(batch, epochs)`` the trainer's budget returns."""
    from skcanon import _training

    original, calls = _training.training_budget, []

    def recording(*args, **kwargs):
        calls.append(original(*args, **kwargs))
        return calls[-1]

    _training.training_budget = recording
    try:
        yield calls
    finally:
        _training.training_budget = original


def _classifier(seed):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(128,), alpha=1e-4, max_iter=50, early_stopping=True,
                         n_iter_no_change=8, random_state=seed)


def one_fit(rule, group, setting, data, seed, epochs):
    """Validation accuracy of the page's classifier after a learned canonicalizer trained by
    ``rule`` (see the module docstring), and the batch and epochs it trained with."""
    from skcanon import CanonicalizerTransformer

    Xtr, ytr, Utr, Xva, yva = data
    objective = "supervised" if setting == "rotated" else "prior"
    fit_X = Xtr if setting == "rotated" else Utr
    if rule == "library defaults":
        options = dict(objective=objective, random_state=seed, device="cpu")
    else:
        options = dict(objective=objective, max_epochs=epochs, early_stopping=objective == "prior",
                       random_state=seed, device="cpu")
    if rule in RULES[1:3]:
        options["batch_size"] = 128
    canon = CanonicalizerTransformer(group, "learned", layout="image", **options)
    t0 = time.perf_counter()
    with _recorded_budget() as budget, (_constant_lr() if rule == RULES[2] else contextlib.nullcontext()):
        canon.fit(fit_X, ytr if objective == "supervised" else None)
    fit_s = time.perf_counter() - t0
    clf = _classifier(seed).fit(canon.transform(fit_X), ytr)
    acc = float(np.mean(clf.predict(canon.transform(Xva)) == yva))
    info = canon.canonicalizer_
    return {"rule": rule, "group": group, "setting": setting, "seed": seed, "accuracy": acc,
            "batch_size": budget[-1][0] if budget else None,
            "epochs": len(info.history_), "best_epoch": info.best_epoch_, "fit_s": round(fit_s, 1)}


def load(group, seed, n_train, n_val):
    from skcanon.datasets import load_rotated_fashion_mnist

    b = load_rotated_fashion_mnist(n_train + n_val, rotation=group, random_state=seed, return_upright=True,
                                   subset="test")
    tr, va = slice(0, n_train), slice(n_train, n_train + n_val)
    return b.data[tr], b.target[tr], b.upright[tr], b.data[va], b.target[va]


def paired_summary(results, key, names, base_label, width, show_fit=False):
    """Means ± sd of ``results`` per ``names`` (the values of ``results[key]``) and setting, and
    paired differences (same group, setting and seed) against ``names[0]``. Shared with
    ``choose_image_network.py``."""
    lines = []
    keys = sorted({(r["group"], r["setting"]) for r in results})
    for group, setting in keys + [("all", "all")]:
        sel = [r for r in results if group == "all" or (r["group"], r["setting"]) == (group, setting)]
        base = {(r["group"], r["setting"], r["seed"]): r["accuracy"] for r in sel if r[key] == names[0]}
        for name in names:
            mine = [r for r in sel if r[key] == name]
            if not mine:
                continue
            acc = [r["accuracy"] for r in mine]
            diffs = [r["accuracy"] - base[(r["group"], r["setting"], r["seed"])] for r in mine
                     if (r["group"], r["setting"], r["seed"]) in base]
            sd = np.std(acc, ddof=1) if len(acc) > 1 else float("nan")
            line = f"{group:>4s} {setting:>8s}  {name:<{width}s} acc {np.mean(acc):.4f} ± {sd:.4f} (n={len(acc)})"
            if show_fit:
                line += f", fit {np.mean([r['fit_s'] for r in mine]):.0f} s"
            if name != names[0] and diffs:
                dsd = np.std(diffs, ddof=1) if len(diffs) > 1 else float("nan")
                line += (f"  vs {base_label} {np.mean(diffs):+.4f} ± {dsd:.4f}, "
                         f"better in {sum(d > 0 for d in diffs)}/{len(diffs)}")
            lines.append(line)
    return "\n".join(lines)


def summarize(results):
    """Means ± sd per rule and setting, and paired differences against the shipped rule."""
    return paired_summary(results, "rule", RULES, "auto", 30)


def paired_runs(seeds, groups, settings, names, n_train, n_val, fit):
    """``fit(name, group, setting, data, seed)`` for every seed × group × setting × name, on
    the same validation data per seed and group; prints and returns the result dicts (a fit
    that returns ``None`` does not apply to that group or setting and is left out)."""
    results = []
    for seed in seeds:
        for group in groups:
            data = load(group, 1000 + seed, n_train, n_val)
            for setting in settings:
                for name in names:
                    r = fit(name, group, setting, data, seed)
                    if r is None:
                        continue
                    results.append(r)
                    print(json.dumps(r), flush=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--groups", default="C8,SO2")
    parser.add_argument("--n-train", type=int, default=4600)
    parser.add_argument("--n-val", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=12, help="epochs of the fixed-epoch rules (the results page's former Fashion-MNIST epochs)")
    parser.add_argument("--rules", default=",".join(RULES[:3]), help=f"comma-separated, from {RULES}")
    parser.add_argument("--settings", default="rotated,upright")
    args = parser.parse_args(argv)
    unknown = set(args.rules.split(",")) - set(RULES)
    if unknown:
        parser.error(f"--rules: unknown {sorted(unknown)}; choose from {RULES}")
    import torch

    torch.set_num_threads(1)
    import warnings

    warnings.filterwarnings("ignore")
    results = paired_runs([int(s) for s in args.seeds.split(",")], args.groups.split(","),
                          args.settings.split(","), args.rules.split(","), args.n_train, args.n_val,
                          lambda rule, *rest: one_fit(rule, *rest, args.epochs))
    print(summarize(results))
    return results


if __name__ == "__main__":
    sys.exit(main() and 0)
