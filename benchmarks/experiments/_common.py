"""What every experiment of ``benchmarks/reproduce.py`` shares: quiet warnings, timing, the
row format, and the Markdown/figure helpers that turn rows into the results page."""

from __future__ import annotations

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


def rows_of(rows, table):
    """``{method: row}`` of one table."""
    return {r["method"]: r for r in rows if r["table"] == table}


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


def markdown_table(rows, extra_cols=()):
    """A Markdown table of ``rows`` (score, invariance error, extra columns, times, target),
    followed by the rows' notes."""
    cols = ["method", "score", "invariance_error", *extra_cols, "fit_s", "transform_s", "target"]
    metric = rows[0]["metric"]
    head = {"score": metric, "invariance_error": "invariance error (median)", "fit_s": "fit s",
            "transform_s": "transform s"}
    lines = ["| " + " | ".join(head.get(c, c.replace("_", " ")) for c in cols) + " |",
             "|" + "---|" * len(cols)]
    for r in rows:
        cells = [fmt(r.get(c), 2) if c in ("fit_s", "transform_s") else fmt(r.get(c)) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"* {r['method']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(lines + ([""] + notes if notes else []))


def bar(rows, path, title, xlabel, better="higher"):
    """A horizontal bar chart of the rows' scores (green: target met, red: missed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if np.isfinite(r["score"])]
    fig, ax = plt.subplots(figsize=(6, 0.32 * len(rows) + 0.9))
    colors = ["C2" if r.get("target") == "met" else "C3" if r.get("target") == "missed" else "C0"
              for r in rows]
    ax.barh([r["method"] for r in rows][::-1], [r["score"] for r in rows][::-1], color=colors[::-1])
    ax.set_xlabel(f"{xlabel} ({better} is better)")
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    plt.close(fig)
