"""Why raw coordinates beat the canonicalizers on the QM9 gap table: pose or atom order?

QM9 stores every molecule in a conventional pose and lists its atoms in a conventional
order (heavy atoms first, in the order of its SMILES string; then the hydrogens), the same
for training and test molecules. The results page's QM9 table (``benchmarks/experiments/
qm9.py``) finds raw padded coordinates ahead of every canonicalizer. This script takes the
stored pose and the stored order away one at a time, and puts canonical ones in their
place one at a time, with the table's sizes and regressor on draws the page never uses
(``load_qm9(20000, shuffle=True, random_state=seed)`` with seeds 100+, the last 2,000
molecules for testing):

* ``stored pose, file order``: the raw row of the page;
* ``stored pose, shuffled atoms`` / ``random pose, file order`` / ``random pose, shuffled``:
  one or both conventions removed (a random E(3) move per molecule, a random order of its
  29 atom rows, absent rows included);
* ``pca, file order``: the ``pca`` canonical pose (group ``E3``) of randomly posed molecules,
  atoms in file order; ``learned (E3), file order``: the same with ``method="learned"``;
* ``stored pose, sort``: the stored pose, atoms ordered by the ``sort`` heuristic (group
  ``S_n``, scalar fields first);
* ``pca+sort`` and ``learned`` (``E3xS_n``): the page's canonicalizer rows, on randomly
  posed and shuffled molecules (they are invariant, so only the random draw differs).

Learned canonicalizers use every option at its default (supervised on the gap);
``--variant`` runs them as a network variant of ``choose_learned_selection.py`` instead
(rows named ``learned+nopair``...): ``+nopair`` is the network before neighbourhood scores
became the default (``neighbourhood=False``), ``+pair`` the default since for these
29-atom molecules (the stored lines in ``docs/_static/results/diagnose_qm9_raw.txt`` were
measured before: their ``learned`` rows are ``+nopair``, their ``learned+pair`` rows the
default of now). Prints a table of MAE (eV) means ± sd over
seeds and one JSON line per fit.

Run (about 8 minutes on one core)::

    python benchmarks/diagnose_qm9_raw.py --seeds 100,101,102
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from experiments._common import Quiet, setup_torch, timed  # noqa: E402
from experiments.qm9 import QM9_SIZES, _qm9_regressor  # noqa: E402

ROWS = ("stored pose, file order", "stored pose, shuffled atoms", "random pose, file order",
        "random pose, shuffled", "pca, file order", "learned (E3), file order", "stored pose, sort",
        "pca+sort", "learned")


def _moved(X, layout, seed, pose, shuffle):
    """``X`` with a random E(3) move per molecule (``pose``) and/or its atom rows in a random
    order (``shuffle``)."""
    from skcanon.groups import get_group

    n, width = len(X), layout.width
    if pose:
        G = get_group("E3")
        X = G.apply(G.sample(n, random_state=seed), X, layout)
    if shuffle:
        rng = np.random.default_rng(seed + 1)
        P = X.reshape(n, -1, width)
        order = np.argsort(rng.random(P.shape[:2]), axis=1)
        X = np.take_along_axis(P, order[..., None], axis=1).reshape(n, -1)
    return X


def one_seed(seed, rows=ROWS, variant=""):
    from sklearn.pipeline import make_pipeline

    from skcanon import CanonicalizerTransformer
    from skcanon.datasets import load_qm9

    size = QM9_SIZES["full"]
    b = load_qm9(size["n"], target="gap", random_state=seed, shuffle=True)
    X, y, layout = b.data, b.target * 27.2114, b.layout  # Hartree → eV
    n_test = size["n_test"]
    posed, shuffled, both = (_moved(X, layout, 1000 + seed, p, s) for p, s in
                             ((True, False), (False, True), (True, True)))
    learned = dict(layout=layout, random_state=seed, device="cpu")
    plans = {
        "stored pose, file order": (X, None),
        "stored pose, shuffled atoms": (shuffled, None),
        "random pose, file order": (posed, None),
        "random pose, shuffled": (both, None),
        "pca, file order": (posed, CanonicalizerTransformer("E3", "pca", layout=layout)),
        "learned (E3), file order": (posed, CanonicalizerTransformer("E3", "learned", **learned)),
        "stored pose, sort": (X, CanonicalizerTransformer("S_n", "sort", layout=layout)),
        "pca+sort": (both, CanonicalizerTransformer("E3xS_n", "pca+sort", layout=layout)),
        "learned": (both, CanonicalizerTransformer("E3xS_n", "learned", **learned)),
    }
    from choose_learned_selection import _variant

    out = []
    with Quiet():
        for name in rows:
            data, step = plans[name]
            reg = _qm9_regressor(size, seed)
            model = reg if step is None else make_pipeline(step, reg)
            switch = variant and name.startswith("learned")
            with _variant(variant) if switch else contextlib.nullcontext():
                _, fit_s = timed(model.fit, data[:-n_test], y[:-n_test])
                mae = float(np.mean(np.abs(model.predict(data[-n_test:]) - y[-n_test:])))
            label = name.replace("learned", "learned" + variant, 1) if switch else name
            out.append({"seed": seed, "row": label, "mae": round(mae, 4), "fit_s": round(fit_s, 1)})
            print(json.dumps(out[-1]), flush=True)
    return out


def summarize(results):
    lines = ["| inputs | MAE (eV), mean ± sd | vs stored pose, file order |", "|---|---|---|"]
    ref = {r["seed"]: r["mae"] for r in results if r["row"] == ROWS[0]}
    for row in ROWS + tuple(sorted({r["row"] for r in results} - set(ROWS))):
        v = {r["seed"]: r["mae"] for r in results if r["row"] == row}
        if not v:
            continue
        a = np.array(list(v.values()))
        d = [v[s] - ref[s] for s in v if s in ref]
        sd = f"{a.std(ddof=1):.3f}" if len(a) > 1 else "–"
        lines.append(f"| {row} | {a.mean():.3f} ± {sd} | {np.mean(d):+.3f} |" if d else
                     f"| {row} | {a.mean():.3f} ± {sd} | – |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="100,101,102")
    parser.add_argument("--rows", default=None, help="subset of rows, separated by semicolons")
    parser.add_argument("--variant", default="", help="network variant of the learned rows, e.g. +pair")
    args = parser.parse_args(argv)
    setup_torch()
    rows = ROWS if args.rows is None else tuple(r.strip() for r in args.rows.split(";"))
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        results += one_seed(seed, rows, args.variant)
    print(summarize(results))


if __name__ == "__main__":
    main()
