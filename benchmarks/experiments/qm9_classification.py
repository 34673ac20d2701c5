"""QM9 ring classes (E(3)×S_n, invariant labels): a 3-D classification task whose classes
come from the molecules' geometry, not from their composition.

Each molecule's bonds are read off its geometry (two atoms are bonded when their distance is
at most ``BOND_SCALE`` times the sum of their covalent radii); the label is the size of its
smallest ring (the girth of the bond graph): no ring, 3, 4, 5, or 6 and more atoms. Every
molecule is put in a random E(3) pose with its atom rows shuffled (absent-atom rows included),
and every row of the table is one skcanon step followed by the same random forest.
"""

from __future__ import annotations

import re
from collections import deque

import numpy as np

from ._common import (VERDICT_COLUMNS, bar, best_heuristic, by_seed, classification_rows, fmt, markdown_table,
                      n_seeds_of, pool_seeds, result_row, rows_of, set_heuristic_verdicts, setup_torch)

#: Covalent radii in Ångström (Cordero et al., Dalton Trans. 2008; carbon: sp3) by atomic number.
COVALENT_RADII = {1: 0.31, 6: 0.76, 7: 0.71, 8: 0.66, 9: 0.57}
#: Two atoms are bonded when their distance is ≤ BOND_SCALE × (sum of covalent radii).
BOND_SCALE = 1.15
#: Class index → name of :func:`ring_labels` (``kind="smallest"``).
RING_CLASSES = ("no ring", "3-ring", "4-ring", "5-ring", "6+-ring")
#: Elements of QM9, in the column order of :func:`element_counts`.
ELEMENTS = (1, 6, 7, 8, 9)

SIZES = {"full": dict(n=4000, test_size=0.25, n_estimators=300, n_inv=150),
         "quick": dict(n=500, test_size=0.3, n_estimators=100, n_inv=40)}
ABSENT = -99.0  # value given to NaN features (absent atoms) before the forest

COMPOSITION = "composition only (element counts)"
RAW = "raw coordinates"
PCA_SORT = "pca+sort (defaults)"
PCA_SORT_COLUMNS = "pca+sort, key_order=\"columns\""
RANDOM = "random (frozen network)"
LEARNED = "learned (supervised, defaults)"
LEARNED_CAT = "learned (supervised, defaults), Z declared categorical"
ANCHORED = "anchored (supervised, defaults)"
PROJECTOR = "InvariantProjector: sorted distances (E3xS_n)"
#: the predefined heuristics the learned rows are compared with
HEURISTICS = (PCA_SORT, PCA_SORT_COLUMNS)


# -- labels from geometry -------------------------------------------------------------------------
def _molecules(X):
    """``(n, m, 4)`` rows ``(x, y, z, Z)`` from flat ``(n, 4m)`` or 3-D input."""
    A = np.asarray(X, dtype=np.float64)
    if A.ndim == 2:
        if A.shape[1] % 4:
            raise ValueError("flat molecules need 4 columns per atom (x, y, z, Z); "
                             f"got {A.shape[1]} columns.")
        A = A.reshape(len(A), -1, 4)
    if A.ndim != 3 or A.shape[2] != 4:
        raise ValueError(f"molecules must be (n, 4 * n_atoms) or (n, n_atoms, 4); got shape {A.shape}.")
    return A


def bond_graph(atoms, scale=BOND_SCALE):
    """Adjacency matrix ``(k, k)`` of the bonds of one molecule, from its geometry.

    ``atoms``: ``(m, 4)`` rows ``(x, y, z, Z)``; rows with NaN are absent atoms and dropped
    (``k`` present atoms remain, in input order). Atoms ``i ≠ j`` are bonded when
    ``|p_i − p_j| ≤ scale · (r_i + r_j)`` with the covalent radii of :data:`COVALENT_RADII`.
    """
    atoms = np.asarray(atoms, dtype=np.float64)
    atoms = atoms[~np.isnan(atoms).any(axis=1)]
    try:
        r = np.array([COVALENT_RADII[int(round(z))] for z in atoms[:, 3]])
    except KeyError as exc:
        raise ValueError(f"no covalent radius for atomic number {exc.args[0]}; "
                         f"known: {sorted(COVALENT_RADII)}.") from None
    d = np.linalg.norm(atoms[:, None, :3] - atoms[None, :, :3], axis=-1)
    adj = d <= scale * (r[:, None] + r[None, :])
    np.fill_diagonal(adj, False)
    return adj


def _components(adj):
    seen = np.zeros(len(adj), dtype=bool)
    count = 0
    for s in range(len(adj)):
        if seen[s]:
            continue
        count += 1
        seen[s] = True
        stack = [s]
        while stack:
            u = stack.pop()
            for v in np.flatnonzero(adj[u] & ~seen):
                seen[v] = True
                stack.append(v)
    return count


def cycle_rank(adj):
    """Number of independent rings: bonds − atoms + connected components."""
    adj = np.asarray(adj, dtype=bool)
    return int(adj.sum() // 2 - len(adj) + _components(adj))


def smallest_ring(adj):
    """Size of the smallest ring (girth of the bond graph), 0 when there is none.

    Breadth-first search from every atom; a non-tree edge ``(u, v)`` closes a cycle of at
    most ``dist(u) + dist(v) + 1`` atoms, and the minimum over all roots is the girth.
    """
    adj = np.asarray(adj, dtype=bool)
    neighbours = [np.flatnonzero(row) for row in adj]
    best = 0
    for s in range(len(adj)):
        dist = {s: 0}
        parent = {s: -1}
        queue = deque([s])
        while queue:
            u = queue.popleft()
            if best and 2 * dist[u] >= best:
                break  # an edge from u closes a walk of at least 2·dist(u) atoms
            for v in neighbours[u]:
                v = int(v)
                if v not in dist:
                    dist[v] = dist[u] + 1
                    parent[v] = u
                    queue.append(v)
                elif parent[u] != v:
                    length = dist[u] + dist[v] + 1
                    if not best or length < best:
                        best = length
    return best


def ring_labels(X, kind="smallest", scale=BOND_SCALE):
    """Structural class of each molecule, from its geometry only.

    Parameters
    ----------
    X : array of shape (n, 4 * n_atoms) or (n, n_atoms, 4)
        Atoms as rows ``(x, y, z, Z)`` in Ångström (the layout of
        :func:`skcanon.datasets.load_qm9`); NaN rows are absent atoms. Pose and atom order
        do not matter.
    kind : {"smallest", "count"}, default="smallest"
        ``"smallest"``: the size of the smallest ring as a class index into
        :data:`RING_CLASSES` (0 no ring, 1 three-, 2 four-, 3 five-, 4 six-membered or larger).
        ``"count"``: the number of independent rings (cycle rank), uncapped.
    scale : float, default=BOND_SCALE
        Bond rule: atoms are bonded when their distance is at most ``scale`` times the sum of
        their covalent radii (:data:`COVALENT_RADII`).

    Returns
    -------
    labels : ndarray of int, shape (n,)
    """
    if kind not in ("smallest", "count"):
        raise ValueError(f"kind must be 'smallest' or 'count', got {kind!r}.")
    out = np.empty(len(_molecules(X)), dtype=np.int64)
    for i, atoms in enumerate(_molecules(X)):
        adj = bond_graph(atoms, scale)
        if kind == "count":
            out[i] = cycle_rank(adj)
        else:
            size = smallest_ring(adj)
            out[i] = 0 if size == 0 else min(size, 6) - 2
    return out


def smiles_ring_closures(smiles):
    """Ring-closure bonds written in a SMILES string (each closure digit, or ``%nn``, appears
    twice outside bracket atoms): the number of independent rings of a connected molecule.
    Used only to check the geometric bond rule against QM9's own SMILES."""
    plain = re.sub(r"\[[^\]]*\]", "", smiles)
    two_digit = re.findall(r"%\d\d", plain)
    one_digit = re.findall(r"\d", re.sub(r"%\d\d", "", plain))
    return (len(two_digit) + len(one_digit)) // 2


def element_counts(X):
    """Per-molecule counts of H, C, N, O, F (invariant under E(3) and atom order)."""
    Z = _molecules(X)[:, :, 3]
    return np.stack([(Z == z).sum(axis=1) for z in ELEMENTS], axis=1).astype(np.float64)


def _absent_to_sentinel(F):
    return np.where(np.isnan(F), ABSENT, F)


# -- experiment -----------------------------------------------------------------------------------
def _forest(size, seed):
    """The classifier of every row: NaN features to a sentinel, then a random forest."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.preprocessing import FunctionTransformer

    return [FunctionTransformer(_absent_to_sentinel),
            RandomForestClassifier(n_estimators=size["n_estimators"], random_state=seed, n_jobs=1)]


def _steps(layout, seed):
    """``{row name: (preprocessing before the forest or None, skcanon step or None)}``."""
    from sklearn.preprocessing import FunctionTransformer

    from skcanon import CanonicalizerTransformer, InvariantProjector
    from skcanon.canonicalizers import METHODS
    from skcanon.layouts import Field, PointLayout

    z_categorical = PointLayout(3, fields=[Field("pos", "position", 3),
                                           Field("Z", "scalar", 1, categorical=True)])
    steps = {
        COMPOSITION: (FunctionTransformer(element_counts), None),
        RAW: (None, None),
        PCA_SORT: (None, CanonicalizerTransformer("E3xS_n", "pca+sort", layout=layout)),
        PCA_SORT_COLUMNS: (None, CanonicalizerTransformer("E3xS_n", "pca+sort", layout=layout,
                                                          key_order="columns")),
        RANDOM: (None, CanonicalizerTransformer("E3xS_n", "random", layout=layout, random_state=seed,
                                                device="cpu")),
        LEARNED: (None, CanonicalizerTransformer("E3xS_n", "learned", layout=layout, objective="supervised",
                                                 random_state=seed, device="cpu")),
        LEARNED_CAT: (None, CanonicalizerTransformer("E3xS_n", "learned", layout=z_categorical,
                                                     objective="supervised", random_state=seed,
                                                     device="cpu")),
    }
    if "anchored" in METHODS:
        steps[ANCHORED] = (None, CanonicalizerTransformer("E3xS_n", "anchored", layout=layout,
                                                          objective="supervised", random_state=seed,
                                                          device="cpu"))
    steps[PROJECTOR] = (None, InvariantProjector("E3xS_n", "sorted_distances", layout=layout))
    return steps


def load_ring_data(n, seed):
    """``n`` random QM9 molecules in random E(3) poses with shuffled atom rows, their ring
    labels (from the stored geometry), the layout, and the share of molecules whose ring count
    by the bond rule equals the ring closures of QM9's SMILES."""
    from skcanon.datasets import load_qm9
    from skcanon.groups import get_group

    b = load_qm9(n, random_state=seed, shuffle=True)
    y = ring_labels(b.data)
    agree = float(np.mean(ring_labels(b.data, kind="count")
                          == np.array([smiles_ring_closures(s) for s in b.smiles])))
    G = get_group("E3xS_n")
    X = G.apply(G.sample(len(b.data), seed + 1000, n_points=b.data.shape[1] // 4), b.data, b.layout)
    return X, y, b.layout, agree


def _run_one(size, seed):
    from sklearn.model_selection import train_test_split

    X, y, layout, agree = load_ring_data(size["n"], seed)
    split = train_test_split(X, y, test_size=size["test_size"], random_state=seed, stratify=y)
    ytr, yte = split[2:]
    rows = classification_rows("qm9_classification", "qm9-rings", _steps(layout, seed),
                               lambda: _forest(size, seed), split, "E3xS_n", layout, size["n_inv"], seed)
    counts = np.bincount(y, minlength=len(RING_CLASSES))
    for r in rows:
        r["class_counts"] = [int(c) for c in counts]
        r["n_train"], r["n_test"] = len(ytr), len(yte)
        r["smiles_agreement"] = agree
        r["default_key_order"] = _default_key_order()
    return rows


def _default_key_order():
    from skcanon import CanonicalizerTransformer

    return CanonicalizerTransformer().get_params().get("key_order", "columns")


def _best_heuristic(r):
    return best_heuristic(r, HEURISTICS)


def _set_targets(rows, per_seed):
    """Issue 13's targets on the means over seeds: the learned row (pure, not anchored) at
    least as accurate as the best heuristic (``target``), and better by more than one sd
    (the larger of the two rows' sds across seeds); the same columns for the anchored and the
    categorical learned rows, which carry no target. ``wins``: seeds in which the row beat
    that seed's best heuristic (:func:`._common.set_heuristic_verdicts`)."""
    set_heuristic_verdicts(rows, per_seed, "qm9-rings", HEURISTICS, (LEARNED, LEARNED_CAT, ANCHORED), LEARNED)


def _pool(rows):
    """Rows of every seed pooled (:func:`._common.pool_seeds`), class counts summed over the
    seeds' draws, targets set on the means."""
    per_seed = list(by_seed(rows).values())
    pooled = pool_seeds(rows)
    if len(per_seed) > 1:
        counts = [int(c) for c in np.sum([seed_rows[0]["class_counts"] for seed_rows in per_seed
                                          if seed_rows[0].get("class_counts")], axis=0)]
        for r in pooled:
            r["class_counts"] = counts
    _set_targets(pooled, per_seed)
    return pooled


def run(quick=False, seed=0):
    """Smallest-ring class of QM9 molecules in random poses with shuffled atoms, one seed;
    rows as :func:`._common.result_row` with that seed's targets."""
    setup_torch()
    size = SIZES["quick" if quick else "full"]
    try:
        rows = _run_one(size, seed)
    except (ImportError, FileNotFoundError) as exc:
        return [result_row("qm9_classification", "qm9-rings", "(data missing)", "accuracy", float("nan"),
                           None, 0, 0, note=str(exc).splitlines()[0])]
    _set_targets(rows, [rows])
    return rows


def section(rows, quick, fig_dir):
    """The Markdown of this experiment on the results page (figures go to ``fig_dir``)."""
    s = SIZES["quick" if quick else "full"]
    rows = _pool(rows)
    r = rows_of(rows, "qm9-rings")
    first = rows[0]
    bar(rows, fig_dir / "qm9_rings.png", "QM9 smallest ring: test accuracy", "accuracy")
    seeds = n_seeds_of(rows)
    counts = first.get("class_counts")
    count_text = (", ".join(f"{c:,} {name}" for name, c in zip(RING_CLASSES, counts))
                  if counts else "not recorded")
    radii = ", ".join(f"{_SYMBOL[z]} {r_:.2f}" for z, r_ in COVALENT_RADII.items())
    out = [
        "## QM9 ring classes (E(3)×S_n, classification from geometry)",
        "",
        f"{s['n']:,} QM9 molecules drawn at random per seed "
        f"({first.get('n_train', '?'):,} train / {first.get('n_test', '?'):,} test, stratified), "
        "positions + atomic number as a scalar field (the layout of `load_qm9`), each molecule "
        "in a random E(3) pose with its 29 atom rows (absent-atom rows included) shuffled. "
        "Label, from the stored geometry only: two atoms are bonded when their distance is at most "
        f"{BOND_SCALE:g} × the sum of their covalent radii (Cordero et al. 2008: {radii} Å); "
        "the class is the size of the smallest ring of the bond graph (its girth): "
        + ", ".join(RING_CLASSES) + ". Check of the bond rule: the ring count it gives "
        "(bonds − atoms + connected components) equals the number of ring closures in QM9's "
        f"SMILES for {100 * first.get('smiles_agreement', float('nan')):.2f} % of the molecules. "
        f"Class counts over the {seeds} draw{'s' if seeds > 1 else ''}: {count_text}.",
        "",
        "Same classifier in every row: `RandomForestClassifier(n_estimators="
        f"{s['n_estimators']})`, after a step that sets NaN features (absent atoms) to {ABSENT:g}. "
        "Rows: element counts alone (H, C, N, O, F per molecule — what composition gives away); "
        "the raw padded coordinates; `pca+sort` with its defaults (sort key "
        f"`key_order=\"{first.get('default_key_order', '?')}\"`) and with `key_order=\"columns\"` "
        "(x, y, z, then Z); the "
        "frozen `random` network; `learned` and `anchored` with `objective=\"supervised\"` and "
        "every other parameter at its default (the networks standardise the atomic number with the "
        "training set's statistics and, since it has a few integer levels, also embed each level; "
        "`learned` once more with the atomic number declared "
        "a categorical field, `Field(\"Z\", \"scalar\", 1, categorical=True)`, which the network "
        "embeds only); `InvariantProjector(\"E3xS_n\", "
        "\"sorted_distances\")`. Invariance error: `predict_proba` of the whole pipeline under "
        f"random E(3)×S_n moves of {s['n_inv']} test molecules."
        + (f" Every number is the mean over {seeds} seeds (a seed draws the molecules, their poses "
           "and atom orders, the split, the networks' initial weights and the forest), ± the "
           "standard deviation across seeds (ddof=1); `wins` is the number "
           "of seeds in which the row beat that seed's best heuristic." if seeds > 1 else
           " One seed.")
        + " Targets (issue 13), on the means: learned (pure) ≥ the best `pca+sort` row "
        "(`target`), and better by more than one sd (the larger sd of the two rows; "
        "`better by 1 sd`). The anchored and the categorical learned rows get the same columns "
        "but carry no target.",
        "",
        markdown_table(rows, extra_cols=tuple(c for c in VERDICT_COLUMNS if any(c in x for x in rows))),
        "",
        "![qm9 rings](_static/results/qm9_rings.png)",
        "",
    ]
    finite = {k: v for k, v in r.items() if np.isfinite(v["score"])}
    if finite:
        ranking = sorted(finite, key=lambda k: -finite[k]["score"])
        out += ["Ranking: " + ", ".join(f"{k} {fmt(finite[k]['score'])}" for k in ranking) + ".", ""]
        best = ranking[0]
        comp = finite.get(COMPOSITION)
        if comp is not None and best != COMPOSITION:
            gap = finite[best]["score"] - comp["score"]
            sd = max(finite[best].get("score_sd") or 0.0, comp.get("score_sd") or 0.0)
            clear = gap > max(0.05, 2 * sd)
            text = (f"Composition alone reaches {comp['score']:.3f} against {finite[best]['score']:.3f} "
                    f"for the best row ({best}): "
                    + ("the element counts do not give the classes away." if clear else
                       "the element counts give away much of the classes (gap not above 0.05 "
                       "and two sd)."))
            if LEARNED in finite:   # the row this table is for may be much closer than the best
                d = 100 * (finite[LEARNED]["score"] - comp["score"])
                text += (f" It is {abs(d):.1f} points {'below' if d > 0 else 'above'} the learned row "
                         f"({finite[LEARNED]['score']:.3f}).")
            out += [text, ""]
        learned = finite.get(LEARNED)
        h = _best_heuristic(finite)
        if learned is not None and h is not None:
            verdict = learned.get("target")
            text = (f"Learned (pure) {learned['score']:.3f} against {finite[h]['score']:.3f} for the best "
                    f"heuristic ({h}): target {verdict}")
            by_sd = learned.get("better_by_1_sd")
            if by_sd in ("met", "missed"):
                text += f"; better by more than one sd: {by_sd}"
            text += "."
            canon = [k for k in (PCA_SORT, PCA_SORT_COLUMNS, RANDOM, LEARNED, LEARNED_CAT, ANCHORED)
                     if k in finite]
            proj = finite.get(PROJECTOR)
            if proj is not None and canon and all(proj["score"] > finite[k]["score"] for k in canon):
                top = max(finite[k]["score"] for k in canon)
                text += (f" Every canonicalization row (best {top:.3f}) stays below the sorted "
                         f"distances ({proj['score']:.3f}). A likely reason: whatever frame and order a "
                         "canonicalizer picks, the forest still has to find bonds and rings from "
                         "coordinates one axis-aligned split at a time, while pairwise distances hand it "
                         "the bond lengths directly.")
            out += [text]
    out += [""]
    return "\n".join(out)


_SYMBOL = {1: "H", 6: "C", 7: "N", 8: "O", 9: "F"}
