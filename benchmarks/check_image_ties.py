"""How often the tie rule of the C_n/D_n image networks decides a canonical form.

Element scores within the tie tolerance go to the tied element whose canonical form is
smallest (an equivariant rule); before, they went to the lowest element index. On the
validation split of ``diagnose_image_frames.py`` (rotated Fashion-MNIST from the official
*test* subset or rotated MNIST; 4,600 training / 1,000 validation images, never used by the
results page), one default learned C8 canonicalizer per setting (``prior`` on upright
images, ``supervised`` on rotated ones) canonicalizes its training images and the rotated
and upright validation images with both rules; the line counts the images whose canonical
form differs between them. Zero means the image tables of the results page, computed with
the old rule, are unaffected by the change on such data.

Run::

    python benchmarks/check_image_ties.py --datasets fashion,mnist --seeds 0

One JSON line per dataset × setting × seed (appended to
``docs/_static/results/check_image_ties.jsonl`` unless ``--no-write``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

OUT = Path(__file__).resolve().parents[1] / "docs" / "_static" / "results" / "check_image_ties.jsonl"


def lowest_index_forms(canon, X):
    """Canonical forms of ``X`` with ties settled by the lowest element index (the old rule)."""
    from skcanon.nn import _images

    rule = _images._tolerant_argmax
    _images._tolerant_argmax = lambda s, rtol=_images._TIE_RTOL, copies=None: rule(s, rtol)
    try:
        return canon.transform(X)
    finally:
        _images._tolerant_argmax = rule


def check(dataset, setting, seed, n_train=4600, n_val=1000, group="C8"):
    from diagnose_image_frames import default_fit

    b, _, va, fit_X, canon, fit_s = default_fit(group, setting, seed, n_train, n_val, dataset)
    out = {"dataset": dataset, "group": group, "setting": setting, "seed": seed, "fit_s": round(fit_s, 1)}
    for name, X in (("train", fit_X), ("val_rotated", b.data[va]), ("val_upright", b.upright[va])):
        new, old = canon.transform(X), lowest_index_forms(canon, X)
        out[name] = {"n": len(X), "forms_changed": int((new != old).reshape(len(X), -1).any(axis=1).sum())}
    return out


def main(argv=None):
    import warnings

    import torch

    from skcanon.exceptions import InexactActionWarning

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="fashion,mnist")
    p.add_argument("--settings", default="upright,rotated")
    p.add_argument("--seeds", default="0")
    p.add_argument("--n-train", type=int, default=4600)
    p.add_argument("--n-val", type=int, default=1000)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", InexactActionWarning)   # C8 turns interpolate, as the tables'
    rows = []
    for dataset in args.datasets.split(","):
        for setting in args.settings.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                row = check(dataset, setting, seed, args.n_train, args.n_val)
                print(json.dumps(row), flush=True)
                rows.append(row)
                if not args.no_write:
                    with OUT.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    return rows


if __name__ == "__main__":
    main()
