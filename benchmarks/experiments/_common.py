"""What every experiment of ``benchmarks/reproduce.py`` shares: quiet warnings, timing, the
row format, pooling over seeds, and the Markdown/figure helpers that turn rows into the
results page.

Multi-seed protocol (``python benchmarks/reproduce.py --seeds 0,1,2``)
----------------------------------------------------------------------
An experiment module has two functions; ``reproduce.py`` does the looping and the storing.

``run(quick=False, seed=0) -> list[dict]``
    Runs **one seed**: the seed draws the data (samples, poses, splits), the networks' initial
    weights and the downstream model's randomness. Returns rows made by :func:`result_row`,
    one per ``(table, method)``, in the same order for every seed. ``run`` may set per-seed
    verdicts (``target`` and any other ``"met"``/``"missed"`` column) on its own rows; they
    are tallied, never averaged. ``run`` must not loop over seeds itself.

``reproduce.py``
    Calls ``run(quick, seed)`` once per seed of ``--seeds`` (default ``0``), tags each row with
    ``row["seed"]``, and stores the rows of **every** seed in
    ``docs/_static/results/rows/<experiment>.json`` (``"seeds": [0, 1, 2]``), saving after each
    seed so an interrupted run keeps the seeds it finished. Records written before this
    protocol (one ``"seed"`` for the record, rows without ``seed``) are read as one seed.

``section(rows, quick, fig_dir) -> str``
    Receives the rows of every stored seed and must:

    1. pool them with :func:`pool_seeds`: one row per ``(table, method)``, in first-seen
       order; every numeric value (score, invariance error, times, extra numeric columns;
       equal-length lists element-wise) becomes its **mean** over the seeds that hold a finite
       value of it (a failed seed is left out, never stood in for by another);
       ``score_sd`` and ``invariance_error_sd`` are the sample sds (ddof=1; ``None`` with one
       seed); ``n_seeds`` and ``seeds`` say which seeds have a score; each per-seed verdict
       column ``key`` becomes ``key_seeds = "k/n"`` (met in k of the n judged seeds) and
       ``key`` itself is reset to ``"—"``;
    2. set its verdicts (``target``, ...) again **on the means** (with :func:`mean_sd` /
       :func:`by_seed` where it needs the spread or per-seed comparisons, e.g. "better by more
       than one sd", "wins in k of n seeds");
    3. print tables with :func:`markdown_table`, which shows ``mean ± sd`` for scores and
       invariance errors, says the number of seeds in the header, and adds a ``met in seeds``
       column when rows carry ``target_seeds``; prose numbers come from the pooled rows (say
       "mean over n seeds" where it matters).

With one seed everything reads as before (no ``±``, no sd columns). A new experiment
registers itself in ``EXPERIMENTS`` of ``benchmarks/experiments/__init__.py``.
"""

from __future__ import annotations

import fnmatch
import time
import warnings

import numpy as np


def setup_torch():
    import torch

    torch.set_num_threads(1)  # stable timings on a shared machine


class Quiet:
    """Silence the expected warnings of the experiments (interpolated image rotations,
    convergence notices of capped MLP training) without touching global filters."""

    def __enter__(self):
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        from sklearn.exceptions import ConvergenceWarning

        from skcanon.exceptions import InexactActionWarning

        warnings.simplefilter("ignore", InexactActionWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def timed(fn, *args, **kwargs):
    """``(fn(*args, **kwargs), seconds)``."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def result_row(experiment, table, method, metric, score, inv, fit_s, transform_s, target="—", **extra):
    """One result row: the format every experiment returns and every table prints."""
    out = {"experiment": experiment, "table": table, "method": method, "metric": metric,
           "score": float(score), "invariance_error": None if inv is None else float(inv),
           "fit_s": float(fit_s), "transform_s": float(transform_s), "target": target}
    out.update(extra)
    return out


#: values of a per-seed verdict column
VERDICTS = ("met", "missed")


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def seed_of(row):
    """The seed of a stored row (rows of records older than the multi-seed protocol: 0)."""
    return int(row.get("seed", 0) or 0)


def by_seed(rows):
    """``{seed: rows of that seed}``, seeds in increasing order."""
    out = {}
    for r in rows:
        out.setdefault(seed_of(r), []).append(r)
    return dict(sorted(out.items()))


def mean_sd(rows, key):
    """``(mean, sd, n)`` of ``key`` over the finite values of ``rows`` (sd: ddof=1, ``None``
    when fewer than two values; mean ``nan`` when there are none)."""
    values = [float(r[key]) for r in rows if _is_number(r.get(key)) and np.isfinite(r[key])]
    if not values:
        return float("nan"), None, 0
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return float(np.mean(values)), sd, len(values)


def pool_seeds(rows):
    """One row per ``(table, method)``: the means over seeds (see the module docstring).

    A number is averaged over the seeds whose rows hold a finite value of it (a seed that
    failed, with no value or ``nan``, is left out, never read as another seed's value);
    equal-length lists of numbers element-wise; ``score_sd`` / ``invariance_error_sd`` are
    sample sds; ``n_seeds`` counts the seeds with a finite score (what the mean ± sd is over)
    and ``seeds`` lists them; a per-seed verdict column ``key`` (``"met"``/``"missed"``, ``"—"``
    where a seed was not judged) becomes ``key_seeds = "k/n"`` over the judged seeds and
    ``key = "—"``, to be judged again on the means by the section. Rows of a single seed come
    back unchanged (apart from ``n_seeds``/``seeds``).
    """
    groups = {}
    for r in rows:
        groups.setdefault((r["table"], r["method"]), []).append(r)
    out = []
    for same in groups.values():
        first = dict(same[0])
        if len(same) == 1 and isinstance(first.get("seeds"), int):
            # a row pooled inside its experiment before this protocol: keep its seed count
            first["n_seeds"] = first["seeds"]
        else:
            scored = sorted({seed_of(r) for r in same
                             if _is_number(r.get("score")) and np.isfinite(r["score"])})
            first["n_seeds"], first["seeds"] = len(scored), scored or sorted({seed_of(r) for r in same})
        if len(same) == 1:
            out.append(first)
            continue
        for key in dict.fromkeys(k for r in same for k in r):   # every column, also one seed 0 lacks
            if key in ("seed", "seeds", "n_seeds"):
                continue
            values = [r[key] for r in same if r.get(key) is not None]
            if not values:
                continue
            if len(values) == len(same) and all(v == values[0] for v in values[1:]) \
                    and not isinstance(values[0], float) and values[0] not in VERDICTS:
                continue  # the same in every seed (sizes, counts): kept as it is
            if all(_is_number(v) for v in values):
                finite = [float(v) for v in values if np.isfinite(v)]
                first[key] = float(np.mean(finite)) if finite else float("nan")
            elif all(isinstance(v, list) and v and all(_is_number(x) for x in v) for v in values) \
                    and len({len(v) for v in values}) == 1:
                first[key] = [float(x) for x in np.mean(np.asarray(values, dtype=float), axis=0)]
            elif all(v in (*VERDICTS, "—") for v in values) and any(v in VERDICTS for v in values):
                judged = [v for v in values if v in VERDICTS]
                first[f"{key}_seeds"] = f"{judged.count('met')}/{len(judged)}"
                first[key] = "—"
            elif key == "code":
                first[key] = " | ".join(dict.fromkeys(values))   # the commits the seeds ran on
            else:
                first[key] = None   # differs between seeds and cannot be pooled: not one seed's value
        for key in ("score", "invariance_error"):
            first[f"{key}_sd"] = mean_sd(same, key)[1]
        notes = list(dict.fromkeys(r["note"] for r in same if r.get("note")))
        if notes:
            first["note"] = "; ".join(notes)
        first.pop("seed", None)
        out.append(first)
    return out


def compare(rows, table, method, against, lower_is_better=False):
    """``method`` against the best of ``against`` in one table of seed-tagged rows.

    Returns ``None`` when a row is missing, else a dict: ``best`` (the best of ``against`` on
    the means), ``diff`` (mean of ``method`` − mean of ``best``; positive is better whatever
    the metric's direction), ``at_least`` (as good on the means), ``by_1sd`` (better by more
    than the larger of the two sds, ``sd``; ``None`` with one seed) and ``wins`` (``"k/n"``: seeds in
    which ``method`` beat that seed's best of ``against``)."""
    sign = -1.0 if lower_is_better else 1.0
    here = [r for r in rows if r["table"] == table and np.isfinite(r["score"])]
    mine = [r for r in here if r["method"] == method]
    others = {name: [r for r in here if r["method"] == name] for name in against}
    others = {k: v for k, v in others.items() if v}
    if not mine or not others:
        return None
    means = {k: mean_sd(v, "score") for k, v in others.items()}
    best = max(means, key=lambda k: sign * means[k][0])
    m, sd, n = mean_sd(mine, "score")
    diff = sign * (m - means[best][0])
    spread = max(sd or 0.0, means[best][1] or 0.0)
    wins = 0
    seeds = by_seed(here)
    for seed_rows in seeds.values():
        score = {r["method"]: r["score"] for r in seed_rows}
        if method in score and any(k in score for k in others):
            wins += sign * score[method] > max(sign * score[k] for k in others if k in score)
    return {"best": best, "diff": diff, "at_least": diff >= 0, "by_1sd": diff > spread if n > 1 else None,
            "sd": spread, "wins": f"{wins}/{len(seeds)}"}


def classification_rows(experiment, table, steps, classifier, split, group, layout, n_inv, seed, n_trials=2,
                        extra=None):
    """One seed's rows of a classification table: every row is ``pre → step → classifier``.

    ``steps``: ``{row name: (preprocessing or None, skcanon step or None)}``; ``classifier``:
    a callable giving a fresh list of the pipeline's last steps (the same model in every row);
    ``split``: ``(X_train, X_test, y_train, y_test)``. Scores are test accuracies; the
    invariance error is that of ``predict_proba`` of the whole pipeline under ``n_trials``
    random elements of ``group`` per sample on the first ``n_inv`` test samples (median);
    fit time is the whole pipeline's, transform time the steps before the classifier on the
    test set. ``extra(model, X_test, y_test) -> dict``, when given, adds columns to each row from
    its fitted pipeline. A row that fails is reported with its error in ``note``, never dropped."""
    from sklearn.pipeline import make_pipeline

    from skcanon.metrics import invariance_error

    Xtr, Xte, ytr, yte = split
    rows = []
    with Quiet():
        for name, (pre, step) in steps.items():
            parts = [p for p in (pre, step) if p is not None]
            last = classifier()
            model = make_pipeline(*parts, *last)
            try:
                _, fs = timed(model.fit, Xtr, ytr)
                ts = timed(model[:-len(last)].transform, Xte)[1] if parts else 0.0
                acc = float(np.mean(model.predict(Xte) == yte))
                inv = invariance_error(model.predict_proba, Xte[:n_inv], group, n_trials=n_trials,
                                       random_state=seed, layout=layout).median
                more = extra(model, Xte, yte) if extra is not None else {}
                rows.append(result_row(experiment, table, name, "accuracy", acc, inv, fs, ts, **more))
            except Exception as exc:  # reported on the page, never hidden
                rows.append(result_row(experiment, table, name, "accuracy", float("nan"), None, 0, 0,
                                       note=f"failed: {type(exc).__name__}: {str(exc)[:200]}"))
    return rows


def table_wanted(table, patterns):
    """Whether ``table`` matches one of the shell-style ``patterns`` (``reproduce.py
    --tables``; ``None``: every table)."""
    return patterns is None or any(fnmatch.fnmatchcase(table, p) for p in patterns)


def best_heuristic(r, heuristics, lower_is_better=False):
    """The name of the best finite row of ``heuristics`` in ``r`` (``{method: row}``), or
    ``None``."""
    sign = -1.0 if lower_is_better else 1.0
    finite = [k for k in heuristics if k in r and np.isfinite(r[k]["score"])]
    return max(finite, key=lambda k: sign * r[k]["score"]) if finite else None


def set_heuristic_verdicts(rows, per_seed, table, heuristics, compared, target_row):
    """Issue 13's verdicts of the rows ``compared`` against the best of ``heuristics`` in one
    table (higher scores better), on ``rows`` (one seed's rows, or rows pooled over the seeds
    of ``per_seed``, a list of each seed's rows): ``vs_best_heuristic`` (difference of the
    means), ``at_least_best_heuristic`` (as good on the means), ``better_by_1_sd`` (better by
    more than the larger of the two rows' sds across seeds; ``"—"`` with one seed) and
    ``wins`` (``"k/n"``: seeds in which the row beat that seed's best heuristic). Only
    ``target_row`` gets a ``target`` (= ``at_least_best_heuristic``)."""
    r = rows_of(rows, table)
    best = best_heuristic(r, heuristics)
    if best is None:
        return
    h = r[best]
    for name in compared:
        row = r.get(name)
        if row is None or not np.isfinite(row["score"]):
            continue
        at_least = row["score"] >= h["score"]
        sd = max(row.get("score_sd") or 0.0, h.get("score_sd") or 0.0)
        pooled_inside = len(per_seed) == 1 and n_seeds_of(rows) > 1  # a record older than --seeds
        by_sd = row["score"] - h["score"] > sd if len(per_seed) > 1 or pooled_inside else None
        row["vs_best_heuristic"] = f"{row['score'] - h['score']:+.4f}"
        row["at_least_best_heuristic"] = "met" if at_least else "missed"
        row["better_by_1_sd"] = "—" if by_sd is None else "met" if by_sd else "missed"
        if name == target_row:
            row["target"] = "met" if at_least else "missed"
        if pooled_inside:
            continue  # its wins were counted when it was stored
        won = counted = 0
        for seed_rows in per_seed:
            rs = rows_of(seed_rows, table)
            if name not in rs:  # a row added to some seeds only (reproduce.py --methods)
                continue
            bs = max(rs[k]["score"] for k in heuristics if k in rs and np.isfinite(rs[k]["score"]))
            won += rs[name]["score"] > bs
            counted += 1
        row["wins"] = f"{won}/{counted}"


#: the verdict columns :func:`set_heuristic_verdicts` adds, in table order
VERDICT_COLUMNS = ("score_sd", "vs_best_heuristic", "at_least_best_heuristic", "better_by_1_sd", "wins")


def rows_of(rows, table):
    """``{method: row}`` of one table."""
    return {r["method"]: r for r in rows if r["table"] == table}


def table_rows(rows, table, methods):
    """The rows of one table in the order of ``methods`` (an experiment's ``METHODS``), so
    rows added to stored seeds later (``reproduce.py --methods``) take their page place;
    rows not in ``methods`` go last."""
    order = {m: k for k, m in enumerate(methods)}
    return sorted((r for r in rows if r["table"] == table), key=lambda r: order.get(r["method"], len(order)))


def fmt(v, digits=4):
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not np.isfinite(v):
            return "n/a"
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
            return f"{v:.1e}"
        return f"{v:.{digits}f}"
    return str(v)


def n_seeds_of(rows):
    """How many seeds the (pooled) rows average: ``n_seeds``, or the ``seeds`` count of rows
    pooled inside an experiment before the multi-seed protocol."""
    counts = []
    for r in rows:
        n = r.get("n_seeds")
        if n is None and isinstance(r.get("seeds"), int):
            n = r["seeds"]
        counts.append(int(n or 1))
    return max(counts) if counts else 1


def fmt_mean_sd(mean, sd, digits=4):
    """``"mean ± sd"`` (just the mean when there is no sd)."""
    if sd is None or not _is_number(mean) or not np.isfinite(mean):
        return fmt(mean, digits)
    return f"{fmt(float(mean), digits)} ± {fmt(float(sd), digits)}"


def markdown_table(rows, extra_cols=()):
    """A Markdown table of ``rows`` (score, invariance error, extra columns, times, target),
    followed by the rows' notes. Pooled rows (:func:`pool_seeds`) show ``mean ± sd`` for the
    score and the invariance error (a row over fewer seeds than the header's says how many),
    and a ``met in seeds`` column when they carry ``target_seeds``."""
    n = n_seeds_of(rows)
    tally = ("target_seeds",) if any(r.get("target_seeds") for r in rows) else ()
    cols = ["method", "score", "invariance_error", *[c for c in extra_cols if c != "score_sd"],
            "fit_s", "transform_s", "target", *tally]
    metric = rows[0]["metric"]
    over = f", mean ± sd over {n} seeds" if n > 1 else ""
    head = {"score": metric + over, "invariance_error": "invariance error (median" + over + ")",
            "fit_s": "fit s", "transform_s": "transform s", "target": "target (on the means)" if n > 1
            else "target", "target_seeds": "met in seeds"}
    lines = ["| " + " | ".join(head.get(c, c.replace("_", " ")) for c in cols) + " |",
             "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            if c in ("fit_s", "transform_s"):
                cells.append(fmt(r.get(c), 2))
            elif c in ("score", "invariance_error"):
                cell = fmt_mean_sd(r.get(c), r.get(f"{c}_sd"))
                k = r.get("n_seeds")
                if c == "score" and isinstance(k, int) and 0 < k < n:   # fewer seeds than the header says
                    cell += f" ({k} seed{'s' if k > 1 else ''})"
                cells.append(cell)
            else:
                cells.append(fmt(r.get(c)))
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"* {r['method']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(lines + ([""] + notes if notes else []))


def bar(rows, path, title, xlabel, better="higher"):
    """A horizontal bar chart of the rows' scores (green: target met, red: missed; error bars:
    ``score_sd`` of pooled rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if np.isfinite(r["score"])]
    fig, ax = plt.subplots(figsize=(6, 0.32 * len(rows) + 0.9))
    colors = ["C2" if r.get("target") == "met" else "C3" if r.get("target") == "missed" else "C0"
              for r in rows]
    sds = [r.get("score_sd") or 0.0 for r in rows]
    ax.barh([r["method"] for r in rows][::-1], [r["score"] for r in rows][::-1], color=colors[::-1],
            xerr=sds[::-1] if any(sds) else None, error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.set_xlabel(f"{xlabel} ({better} is better)")
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=60, bbox_inches="tight")  # long method names stay whole
    plt.close(fig)
