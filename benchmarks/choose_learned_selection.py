"""Choose how point-set learned canonicalizers pick their epoch, on validation data.

With a tree model after the canonicalizer, pure ``method="learned"`` (objective
"supervised": frame network + small MLP head trained end to end, head discarded) ended
below the ``pca+sort`` heuristic on the results page, and so did ``anchored`` on the QM9
ring classes although it starts exactly at the heuristic. This script compares what early
stopping watches (the ``validation_score`` option of
:class:`~skcanon.CanonicalizerTransformer`):

* ``loss``: the validation loss of the MLP head (the rule before this study);
* ``knn`` (``validation_score="knn"``; not made the default): before training ("epoch 0")
  and after every epoch the held-out validation tenth is canonicalized and a
  5-nearest-neighbour model fitted on the canonical training part scores it; the best
  epoch's weights are kept, the initial ones included;
* ``trees``: the same with a small extremely randomized forest (64 trees; a switch of this
  script, not an option of the library).

Rows ``learned+sf/knn`` and ``learned+pow3/knn`` are network variants measured here and
not shipped; ``learned+mom/loss`` was measured here as a variant and is the library's
network since, and ``learned+vec/loss`` is the network before it (see :func:`_variant`).

Outcome (``docs/learned.md``): over seeds 100–105 neither ``knn`` nor ``trees`` was better
than ``loss`` for either method, so the default stays ``"loss"``.
The task-head variants (``+stumphead``, ``+gamhead``, ``+protohead``) and trained axis
signs (``+stsign``) were measured the same way later and not adopted either
(``docs/_static/results/choose_learned_heads.txt``); ``--signs`` runs the sign diagnostic
(:func:`sign_diagnostic`). The level embeddings of numeric scalar fields (the library's
default, against ``+nolevels``) were measured on ``rings`` and ``gap`` with ``--n 3000`` and
adopted (``docs/_static/results/choose_scalar_levels.txt``).

Data the results page never uses the way it does (validation data for this choice):

* ``shapes``: ``make_point_shapes(n, n_points=16, random_state=seed)`` with seeds 100+;
  ``shapes32`` the same with 32 points per cloud (the results page's size; its draws use
  seeds 0–4);
* ``rings``: QM9 ring classes (the label of ``benchmarks/experiments/qm9_classification.py``)
  of ``n`` molecules drawn with ``random_state=1000 + seed`` (the page draws with seeds
  0, 1, 2), random E(3) pose and atom order;
* ``gap``: terciles of the QM9 HOMO–LUMO gap, molecules drawn with ``random_state=2000 +
  seed`` (the page's learned table draws with 0, 1, 2).

Each run: a stratified held-out third; the skcanon step (``SE3xS_n`` for the shapes,
``E3xS_n`` for QM9, every learning option at its default, ``random_state=seed``) is fitted
on the rest, then ``RandomForestClassifier(200, random_state=seed)`` (absent atoms as
-99); the score is its held-out accuracy. The same seed draws the data, split and initial
weights for every rule, so differences are paired.

Run::

    python benchmarks/choose_learned_selection.py                  # shapes, rings, gap; ~10 min, one core
    python benchmarks/choose_learned_selection.py --data shapes --seeds 100

It prints one JSON line per fit and a summary (means ± sd over seeds, paired differences
against ``pca+sort`` and against the ``loss`` rule of the same method).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

RULES = ("loss", "knn", "trees")
METHODS = ("learned", "anchored")
HEURISTIC = "pca+sort"


def shapes(n, seed, n_points=16):
    from skcanon.datasets import make_point_shapes

    X, y = make_point_shapes(n_samples=n, n_points=n_points, random_state=seed, return_X_y=True)
    return X, y, None, "SE3xS_n"


def shapes32(n, seed):
    return shapes(n, seed, n_points=32)


def _qm9_posed(n, draw_seed):
    from skcanon.datasets import load_qm9
    from skcanon.groups import get_group

    b = load_qm9(n, random_state=draw_seed, shuffle=True)
    G = get_group("E3xS_n")
    X = G.apply(G.sample(len(b.data), random_state=draw_seed + 7, n_points=b.data.shape[1] // 4), b.data,
                b.layout)
    return b, X


def rings(n, seed):
    from experiments.qm9_classification import ring_labels

    b, X = _qm9_posed(n, 1000 + seed)
    return X, ring_labels(b.data), b.layout, "E3xS_n"


def gap(n, seed):
    b, X = _qm9_posed(n, 2000 + seed)
    g = np.asarray(b.target, dtype=np.float64)
    return X, np.digitize(g, np.quantile(g, [1 / 3, 2 / 3])), b.layout, "E3xS_n"


LOADERS = {"shapes": shapes, "shapes32": shapes32, "rings": rings, "gap": gap}


@contextlib.contextmanager
def _trees_proxy():
    """``validation_score="knn"`` with a small extremely randomized forest instead of k-NN."""
    from skcanon import _training

    def trees(task, n_train, seed):
        from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

        cls = ExtraTreesClassifier if task == "classification" else ExtraTreesRegressor
        return cls(n_estimators=64, random_state=seed, n_jobs=1)

    original = _training._proxy_estimator
    _training._proxy_estimator = trees
    try:
        yield
    finally:
        _training._proxy_estimator = original


@contextlib.contextmanager
def _variant(name):
    """Network variants measured here and not shipped (``docs/learned.md``):

    * ``+sf``: the pure S_n network orders by the scalar fields first (equal scalars share a
      group, lexicographic like ``key_order="scalars_first"``), its learned score (squashed
      to ±0.45) orders the points within a group;
    * ``+pow3``: the pure rotation network's output vectors are multiplied three times by
      the sample's normalized second-moment matrix (power iteration towards the principal
      axes; equivariant), before Gram–Schmidt;
    * ``+mom`` (measured as a variant, the library's default since): the pure rotation
      network's axes are the eigenvectors of a learned weighted second-moment matrix,
      signed by its output vectors (:func:`skcanon.nn._points.moment_axes`); ``learned``
      rows measured before that change are the ``+vec`` variant now;
    * ``+skew``: moment axes signed by their weighted third moments
      (``choose_e2e_frame_axes`` mode ``skew``);
    * ``+lexorder`` (a diagnostic): the S_n part orders the points like the ``sort``
      heuristic (tolerant lexicographic order of the rotated points, scalar fields first)
      instead of by its learned scores, so only the rotation is learned;
    * ``+uni`` (a diagnostic): moment axes with uniform weights — PCA's axes, signed by the
      output vectors (``choose_e2e_frame_axes`` mode ``uniform``);
    * ``+centroid`` (a diagnostic): the pure network's translation is the plain centroid of
      the points (as for the heuristics) instead of its learned softmax-weighted one;
    * ``+nolevels``: numeric scalar fields are only standardised, never also embedded level by
      level (``skcanon.nn._points.LEVELS_MAX = 0``: the networks before level embeddings);
    * ``+cat`` (handled in :func:`one_fit`): the layout declares the scalar fields
      categorical (:func:`categorical_layout`);
    * ``+vec``: the pure rotation network's axes are its output vectors, orthonormalized
      (``axes="vectors"``, the library's network before; ``+pow3`` implies it, as measured);
    * ``+scatter``: the supervised objective is the within-class scatter of the canonical
      forms per mini-batch instead of the task head's cross-entropy
      (``choose_image_network._class_scatter``); ``+scatterhead``: that scatter plus the
      head's cross-entropy.
    * ``+stumphead``: the supervised objective's task head sees each canonical coordinate
      through 16 soft thresholds of its own (batch-standardized coordinate, learned
      thresholds and slopes, like a forest's axis-aligned splits) before one hidden layer
      (:class:`StumpHead`), instead of an MLP whose first layer mixes the coordinates;
      ``+gamhead``: the same soft thresholds summed by one linear layer (an additive model);
      ``+protohead``: classification by the nearest of 4 learned prototypes per class in the
      batch-standardized canonical coordinates (:class:`PrototypeHead`), which asks for canonical
      forms that cluster by class.
    * ``+stsign``: the signs of the moment axes pass a straight-through gradient to the
      output vectors (``choose_e2e_frame_axes.trained_signs``); without it the output
      vectors, which only choose the signs, get no gradient.
    * ``+pair``: the pure S_n network's point scores also read the point's neighbourhood
      (the library's ``neighbourhood=True``, :class:`~skcanon.nn._permutation.SortFrameNetwork`):
      a continuous-filter sum over the other points of the cloud, ``sum_j rbf(|z_i - z_j|) ⊗
      u(h_j)`` (8 radial channels of the per-cloud standardized positions times 8 learned
      channels of each neighbour's features), next to the point's own features and the
      cloud's mean; the DeepSets score of before sees no pair of points. Measured as this
      variant and adopted (``neighbourhood="auto"``, on for clouds of at most 64 points;
      since ``choose_neighbourhood_scalars.txt`` only for clouds with scalar fields);
      ``+nopair`` is the network before (``neighbourhood=False``), so ``learned/loss`` lines
      measured before the adoption are ``learned+nopair/loss`` now, and ``learned/loss``
      equals ``learned+nopair/loss`` on ``shapes`` (positions only) since the second rule.
    """
    import torch

    from skcanon._kernels.lexsort import tolerant_lexsort
    from skcanon.nn import _permutation, _points

    raw, scores = _points.PointFrameNetwork._raw_outputs, _permutation.SortFrameNetwork.scores

    def pow3_raw(self, x):
        U, logits, mask, x0, centroid, f0 = raw(self, x)
        if not isinstance(self, _points.AnchoredPointNetwork):
            count = mask.to(x.dtype).sum(1).clamp_min(1.0)
            C = torch.einsum("nmd,nme->nde", f0, f0) / count[:, None, None]
            C = C / C.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None]
            for _ in range(3):
                U = C @ U
        return U, logits, mask, x0, centroid, f0

    def sf_scores(self, x):
        s, mask = scores(self, x)
        cols = sorted(self.scalars.numeric + self.scalars.categorical)
        if isinstance(self, _permutation.AnchoredSortNetwork) or not cols:
            return s, mask
        S = x[..., cols].detach().cpu().double().numpy()
        present = mask.cpu().numpy()
        keys = np.where(present[..., None], S, np.inf)
        order = tolerant_lexsort(keys)
        sk = np.take_along_axis(keys, order[..., None].repeat(keys.shape[-1], -1), axis=1)
        ids = np.concatenate([np.zeros((len(S), 1)), np.cumsum(np.any(sk[:, 1:] != sk[:, :-1], -1), 1)], 1)
        group = np.empty_like(ids)
        np.put_along_axis(group, order, ids, axis=1)
        group = torch.as_tensor(np.where(present, group, 0.0), dtype=x.dtype, device=x.device)
        return 0.45 * torch.tanh(s) - group, mask

    def lex_scores(self, x):
        s, mask = scores(self, x)
        if isinstance(self, _permutation.AnchoredSortNetwork):
            return s, mask
        cols = sorted(self.scalars.numeric + self.scalars.categorical)
        cols += [c for c in range(x.shape[-1]) if c not in cols]             # scalars first
        present = mask.cpu().numpy()
        keys = np.where(present[..., None], x[..., cols].detach().cpu().double().numpy(), np.inf)
        rank = np.empty(keys.shape[:2])
        np.put_along_axis(rank, tolerant_lexsort(keys), np.arange(keys.shape[1])[None].repeat(len(keys), 0), axis=1)
        return torch.as_tensor(-rank / keys.shape[1], dtype=x.dtype, device=x.device), mask

    parts = _points.PointFrameNetwork._parts
    sort_init = _permutation.SortFrameNetwork.__init__

    def pair_init(self, group, layout, hidden=64, tau=0.1, scalar_stats=None, neighbourhood=False):
        pure = not isinstance(self, _permutation.AnchoredSortNetwork)
        sort_init(self, group, layout, hidden, tau, scalar_stats, neighbourhood=pure)

    def nopair_init(self, group, layout, hidden=64, tau=0.1, scalar_stats=None, neighbourhood=False):
        sort_init(self, group, layout, hidden, tau, scalar_stats, neighbourhood=False)

    def centroid_parts(self, x, hard=False):
        R, t, mask = parts(self, x, hard)
        if t is not None and not isinstance(self, _points.AnchoredPointNetwork):
            pos = self.geo[self.geo_is_pos.index(True)]
            w = mask.to(x.dtype)
            x0 = torch.where(mask[..., None], x[..., pos], torch.zeros((), dtype=x.dtype, device=x.device))
            t = (w[..., None] * x0).sum(1) / w.sum(1, keepdim=True).clamp_min(1.0)
        return R, t, mask

    from choose_e2e_frame_axes import axes_from, trained_signs
    from choose_image_network import _class_scatter

    levels_max = _points.LEVELS_MAX
    if "+nolevels" in name:
        _points.LEVELS_MAX = 0
    if "+centroid" in name:
        _points.PointFrameNetwork._parts = centroid_parts
    if "+lexorder" in name:
        _permutation.SortFrameNetwork.scores = lex_scores
    if "+pow3" in name:
        _points.PointFrameNetwork._raw_outputs = pow3_raw
    if "+sf" in name:
        _permutation.SortFrameNetwork.scores = sf_scores
    if "+pair" in name:
        _permutation.SortFrameNetwork.__init__ = pair_init
    if "+nopair" in name:
        _permutation.SortFrameNetwork.__init__ = nopair_init
    vectors = "+vec" in name or "+pow3" in name
    mode = "vectors" if vectors else "skew" if "+skew" in name else "uniform" if "+uni" in name else None
    head_weight = 1.0 if "+scatterhead" in name else 0.0
    scatter = _class_scatter(head_weight) if "+scatter" in name else contextlib.nullcontext()
    kind = next((k for k in HEADS if f"+{k}head" in name), None)
    head = _task_head(kind) if kind else contextlib.nullcontext()
    signs = trained_signs() if "+stsign" in name else contextlib.nullcontext()
    try:
        with axes_from(mode) if mode else contextlib.nullcontext(), scatter, head, signs:
            yield
    finally:
        _points.PointFrameNetwork._raw_outputs, _permutation.SortFrameNetwork.scores = raw, scores
        _points.PointFrameNetwork._parts = parts
        _points.LEVELS_MAX = levels_max
        _permutation.SortFrameNetwork.__init__ = sort_init


def _head_modules():
    import torch
    from torch import nn

    class StumpHead(nn.Module):
        """Task head that reads every canonical coordinate through soft thresholds of its own.

        A forest splits one coordinate at a time; an MLP head's first layer mixes them, so
        frames trained with it need not put what separates the classes along the axes. Here
        each coordinate (standardized over the mini-batch) passes ``k`` sigmoids with learned
        thresholds and slopes; a hidden layer (``deep``) or a linear layer reads them.
        """

        def __init__(self, n_in, hidden, n_out, deep=True, k=16):
            super().__init__()
            self.norm = nn.BatchNorm1d(n_in, affine=False)
            self.thresholds = nn.Parameter(torch.linspace(-2.0, 2.0, k).repeat(n_in, 1))
            self.log_slope = nn.Parameter(torch.full((n_in, k), float(np.log(4.0))))
            width = n_in * k
            self.read = (nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, n_out)) if deep
                         else nn.Linear(width, n_out))

        def forward(self, x):
            z = self.norm(x.flatten(1))
            s = torch.sigmoid((z[..., None] - self.thresholds) * self.log_slope.exp())
            return self.read(s.flatten(1))

    class PrototypeHead(nn.Module):
        """Logit of a class: soft maximum over its ``k`` prototypes of minus the squared
        distance of the (batch-standardized) canonical form, over a learned temperature."""

        def __init__(self, n_in, n_out, k=4):
            super().__init__()
            self.norm = nn.BatchNorm1d(n_in, affine=False)
            self.prototypes = nn.Parameter(torch.randn(n_out, k, n_in) * 0.1)
            self.log_temperature = nn.Parameter(torch.tensor(float(np.log(n_in))))

        def forward(self, x):
            z = self.norm(x.flatten(1))
            d2 = ((z[:, None, None, :] - self.prototypes[None]) ** 2).sum(-1)
            return torch.logsumexp(-d2 / self.log_temperature.exp(), dim=2)

    return StumpHead, PrototypeHead


#: task heads of the ``+<kind>head`` rows (see :func:`_variant`)
HEADS = ("stump", "gam", "proto")


@contextlib.contextmanager
def _task_head(kind):
    """The supervised objective's task head replaced (point sets): ``"stump"`` and ``"gam"``
    by a :class:`StumpHead` with and without its hidden layer, ``"proto"`` by a
    :class:`PrototypeHead` (classification only; regression keeps the MLP head)."""
    from skcanon import _training

    StumpHead, PrototypeHead = _head_modules()
    init = _training._ObjectiveModule.__init__

    def patched(self, network, objective, in_shape, n_out, task, prior_weight, hidden, template):
        init(self, network, objective, in_shape, n_out, task, prior_weight, hidden, template)
        n_in = int(np.prod(in_shape))
        if self.head is not None and kind in ("stump", "gam"):
            self.head = StumpHead(n_in, hidden, n_out, deep=kind == "stump")
        elif self.head is not None and task == "classification":
            self.head = PrototypeHead(n_in, n_out)

    _training._ObjectiveModule.__init__ = patched
    try:
        yield
    finally:
        _training._ObjectiveModule.__init__ = init


def categorical_layout(layout):
    """``layout`` with its scalar fields declared categorical (variant ``+cat``: QM9's atomic
    number embedded per element instead of standardized as a number)."""
    from skcanon.layouts import Field, PointLayout

    if layout is None:
        raise ValueError("the +cat variant needs data with scalar fields (rings, gap).")
    fields = [Field(f.name, f.kind, f.size, categorical=f.kind == "scalar") for f in layout.fields]
    return PointLayout(layout.n_dims, fields=fields)


def one_fit(row, data, seed, n_estimators):
    """Held-out forest accuracy after the step of ``row`` (``pca+sort`` or
    ``method[+variant]/rule``), its fit seconds, epochs trained and the epoch kept."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    from skcanon import CanonicalizerTransformer

    X, y, layout, group = data
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=1 / 3, stratify=y, random_state=seed)
    kw = {} if layout is None else {"layout": layout}
    if row == HEURISTIC:
        step, rule, variant = CanonicalizerTransformer(group, "pca+sort", **kw), None, ""
    else:
        spec, rule = row.split("/")
        method, _, rest = spec.partition("+")
        variant = "+" + rest if rest else ""
        if "+cat" in variant:
            kw["layout"] = categorical_layout(layout)
        step = CanonicalizerTransformer(group, method, random_state=seed, device="cpu",
                                        validation_score="knn" if rule == "trees" else rule, **kw)
    t0 = time.perf_counter()
    with _variant(variant), (_trees_proxy() if rule == "trees" else contextlib.nullcontext()):
        step.fit(Xtr, ytr)
        fit_s = time.perf_counter() - t0
        Ztr, Zte = (np.nan_to_num(step.transform(A), nan=-99.0) for A in (Xtr, Xte))
    forest = RandomForestClassifier(n_estimators, random_state=seed, n_jobs=1).fit(Ztr, ytr)
    c = getattr(step, "canonicalizer_", None)
    return {"row": row, "seed": seed, "accuracy": round(float(forest.score(Zte, yte)), 4),
            "fit_s": round(fit_s, 1), "epochs": getattr(c, "n_epochs_trained_", None),
            "best_epoch": getattr(c, "best_epoch_", None)}


def sign_diagnostic(seed, variants=("", "+stsign"), n=600):
    """How far training moves the pure network's rotation from its initial weights, on the
    held-out third of the validation shapes of ``seed``: the test frames of the frozen
    ``random`` network (the learned network's initial weights, same ``random_state``)
    against those of the trained ``learned`` one. ``axes_parallel``: share of axes within
    ``|cos| > 0.9`` of the initial ones; ``flipped_of_parallel``: share of those whose sign
    training reversed."""
    from sklearn.model_selection import train_test_split

    from skcanon import CanonicalizerTransformer

    X, y, _, group = shapes(n, seed)
    Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=1 / 3, stratify=y, random_state=seed)
    out = {"seed": seed}
    for variant in variants:
        with _variant(variant):
            frames = [next(f for f in CanonicalizerTransformer(group, method, random_state=seed, device="cpu")
                           .fit(Xtr, ytr).canonical_frame(Xte) if np.ndim(f) == 3)[:, :3, :3]
                      for method in ("random", "learned")]
        dots = np.einsum("ndk,ndk->nk", *frames)
        parallel = np.abs(dots) > 0.9
        flipped = float((dots[parallel] < 0).mean()) if parallel.any() else float("nan")
        out["learned" + variant] = {"axes_parallel": round(float(parallel.mean()), 3),
                                    "flipped_of_parallel": round(flipped, 3)}
    return out


#: network variants measured with the shipped rule and not shipped (see :func:`_variant`)
VARIANTS = ("learned+sf/knn", "learned+pow3/knn", "learned+vec/loss")


def rows(extra=()):
    return (HEURISTIC,) + tuple(f"{m}/{r}" for m in METHODS for r in RULES) + VARIANTS + tuple(extra)


def summarize(results):
    lines = []
    for data in sorted({r["data"] for r in results}) + ["all"]:
        sel = [r for r in results if data == "all" or r["data"] == data]
        acc = {(r["data"], r["seed"], r["row"]): r["accuracy"] for r in sel}
        for row in rows(sorted({r["row"] for r in sel} - set(rows()))):
            keys = [(r["data"], r["seed"]) for r in sel if r["row"] == row]
            if not keys:
                continue
            a = [acc[k + (row,)] for k in keys]
            sd = np.std(a, ddof=1) if len(a) > 1 else float("nan")
            line = f"{data:>6s}  {row:<16s} acc {np.mean(a):.4f} ± {sd:.4f} (n={len(a)})"
            refs = [(HEURISTIC, "pca+sort")]
            if "/" in row and not row.endswith("/loss"):
                refs.append((row.split("/")[0] + "/loss", "loss"))
            for ref, label in refs:
                if ref == row:
                    continue
                d = [acc[k + (row,)] - acc[k + (ref,)] for k in keys if k + (ref,) in acc]
                if d:
                    dsd = np.std(d, ddof=1) if len(d) > 1 else float("nan")
                    line += (f" | vs {label} {np.mean(d):+.4f} ± {dsd:.4f}, ahead {sum(x > 0 for x in d)}"
                             f" level {sum(x == 0 for x in d)} of {len(d)}")
            lines.append(line)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="shapes,rings,gap")
    parser.add_argument("--seeds", default="100,101,102,103,104,105")
    parser.add_argument("--n", type=int, default=None, help="samples (default: shapes 600, QM9 900)")
    parser.add_argument("--rows", default=None, help="comma-separated subset of rows")
    parser.add_argument("--n-estimators", type=int, default=200)
    parser.add_argument("--summarize", default=None, help="only summarize the JSON lines of this file")
    parser.add_argument("--signs", action="store_true",
                        help="only the sign diagnostic (sign_diagnostic) on the shapes of --seeds")
    args = parser.parse_args(argv)
    if args.summarize:
        with open(args.summarize) as fh:
            results = [json.loads(line) for line in fh if line.startswith("{")]
        print(summarize(results))
        return results
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import warnings

    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    if args.signs:
        for seed in [int(s) for s in args.seeds.split(",")]:
            print(json.dumps(sign_diagnostic(seed)), flush=True)
        return [True]
    chosen = rows() if args.rows is None else tuple(args.rows.split(","))
    results = []
    for name in args.data.split(","):
        n = args.n or (600 if name.startswith("shapes") else 900)
        for seed in [int(s) for s in args.seeds.split(",")]:
            data = LOADERS[name](n, seed)
            for row in chosen:
                r = {"data": name, "n": n, **one_fit(row, data, seed, args.n_estimators)}
                results.append(r)
                print(json.dumps(r), flush=True)
    print(summarize(results))
    return results


if __name__ == "__main__":
    sys.exit(main() and 0)
