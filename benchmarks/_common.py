"""Shared helpers of the benchmark suite: timing, data, child processes, peak memory.

Every row runs in a fresh child process (``multiprocessing`` spawn), so its peak resident
memory (``ru_maxrss``) belongs to that row alone. The child records its baseline right after
the imports, runs the row function and reports ``peak`` and ``peak - baseline``.

A row function takes ``quick`` (bool) and returns a dict with at least::

    name, n_samples, shape (per-sample shape, a list), dtype, seconds

and optionally ``copy_seconds`` (a plain copy of the input array, timed in the same child),
``target_ratio`` (largest acceptable seconds / copy_seconds), ``target_mb`` (largest
acceptable peak-RSS increase in MB), ``note``.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import platform
import resource
import time
import traceback
from pathlib import Path

import numpy as np

MB = 1024.0 * 1024.0


def cpu_model():
    """The CPU's model name from ``/proc/cpuinfo`` (``"unknown"`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def package_versions(modules=("numpy", "scipy", "sklearn", "torch", "skcanon")):
    """``{"python": ..., module: version}`` for the modules that import (others are left out)."""
    versions = {"python": platform.python_version()}
    for mod in modules:
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing optional package is just not listed
            pass
    return versions


def peak_rss_mb():
    """Peak resident set size of this process in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def best_time(fn, repeats=3, warmup=True):
    """Fastest of ``repeats`` wall-clock timings of ``fn()`` (after one warm-up call).

    A warm-up call that takes longer than 2 s counts as the first timing (slow rows are
    not repeated)."""
    times = []
    if warmup:
        t0 = time.perf_counter()
        fn()
        first = time.perf_counter() - t0
        if first > 2.0:
            times.append(first)
            repeats = 0
    for _ in range(max(0 if times else 1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def copy_time(X, repeats=5):
    """The reference: a plain copy of the same array."""
    return best_time(X.copy, repeats)


def point_clouds(n, m=64, d=3, dtype=np.float32, seed=0, chunk=8_192):
    """``(n, m*d)`` anisotropic Gaussian clouds (axis scales 3, 2, 1, ...), randomly moved.

    Generated in chunks directly in ``dtype`` so that creating a large input does not
    inflate the peak memory of the row beyond the input itself.
    """
    rs = np.random.default_rng(seed)
    scales = np.resize(np.array([3.0, 2.0, 1.0]), d)
    X = np.empty((n, m * d), dtype=dtype)
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        P = rs.normal(size=(k, m, d)) * scales + rs.normal(size=(k, 1, d))
        X[start:start + k] = P.reshape(k, -1)
    return X


def images(n, size=28, dtype=np.float32, seed=0):
    """``(n, size*size)`` smooth blobs with an off-centre bright spot (an orientation)."""
    rs = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2.0
    X = np.empty((n, size * size), dtype=dtype)
    for start in range(0, n, 10_000):
        k = min(10_000, n - start)
        cx, cy = rs.normal(scale=4, size=(2, k, 1, 1))
        a = rs.uniform(2, 6, size=(k, 1, 1))
        img = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2 / 4) / (2 * a**2))
        img += 0.5 * np.exp(-((xx - cx - 4) ** 2 + (yy - cy) ** 2) / 4)
        X[start:start + k] = img.reshape(k, -1)
    return X


#: imported by every child before its baseline is taken
PRELOAD = ("numpy", "sklearn", "sklearn.pipeline", "sklearn.linear_model", "sklearn.ensemble", "skcanon")


def _child(module, function, kwargs, preload=()):
    """Run one row in this (fresh) process and attach its memory figures."""
    try:
        for name in PRELOAD + tuple(preload):
            importlib.import_module(name)
        mod = importlib.import_module(module)
        baseline = peak_rss_mb()
        row_baseline = {"baseline_rss_mb": round(baseline, 1)}
        row = getattr(mod, function)(**kwargs)
        peak = peak_rss_mb()
        row.setdefault("peak_rss_mb", round(peak, 1))
        row.setdefault("rss_delta_mb", round(peak - baseline, 1))
        row.update(row_baseline)
        return row
    except Exception as exc:  # a failing row is reported, the suite goes on
        return {"name": kwargs.get("name", function), "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=3)}


def run_isolated(module, function, kwargs, timeout=None, preload=()):
    """Run ``module.function(**kwargs)`` in a fresh spawned process; return its row.

    ``preload``: extra modules imported before the memory baseline (e.g. torch)."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        result = pool.apply_async(_child, (module, function, kwargs, tuple(preload)))
        try:
            return result.get(timeout)
        except mp.TimeoutError:
            return {"name": kwargs.get("name", function), "error": f"timed out after {timeout} s"}


def finish_row(row):
    """Derived columns: ratio to the copy, throughput, and whether targets are met."""
    if "error" in row:
        row["status"] = "error"
        return row
    secs, copy = row.get("seconds"), row.get("copy_seconds")
    if secs and row.get("n_samples") and "throughput" not in row:
        row["throughput"] = row["n_samples"] / secs
    if secs and copy:
        row["ratio"] = secs / copy
    checks = []
    if row.get("target_throughput") is not None and row.get("throughput") is not None:
        checks.append(row["throughput"] >= row["target_throughput"])
    if row.get("target_peak_mb") is not None and row.get("peak_rss_mb") is not None:
        checks.append(row["peak_rss_mb"] <= row["target_peak_mb"])
    if row.get("target_seconds") is not None and row.get("seconds") is not None:
        checks.append(row["seconds"] <= row["target_seconds"])
    if row.get("target_ratio") is not None and row.get("ratio") is not None:
        checks.append(row["ratio"] <= row["target_ratio"])
    if row.get("target_mb") is not None and row.get("rss_delta_mb") is not None:
        checks.append(row["rss_delta_mb"] <= row["target_mb"])
    if row.get("target_cost_ratio") is not None and row.get("cost_ratio") is not None:
        checks.append(row["cost_ratio"] <= row["target_cost_ratio"])
    row["status"] = "—" if not checks else ("met" if all(checks) else "missed")
    return row


def target_text(row):
    parts = []
    if row.get("target_throughput") is not None:
        parts.append(f"≥ {row['target_throughput']:,.0f}/s")
    if row.get("target_peak_mb") is not None:
        parts.append(f"peak ≤ {row['target_peak_mb']:.0f} MB")
    if row.get("target_seconds") is not None:
        parts.append(f"≤ {row['target_seconds']:g} s")
    if row.get("target_ratio") is not None:
        parts.append(f"≤ {row['target_ratio']:g}× copy")
    if row.get("target_mb") is not None:
        parts.append(f"ΔRSS ≤ {row['target_mb']:.0f} MB")
    if row.get("target_cost_ratio") is not None:
        parts.append(f"cost/unit ≤ {row['target_cost_ratio']:g}× previous")
    return ", ".join(parts) or "—"


def _fmt(v, spec):
    return "—" if v is None else format(v, spec)


TABLE_COLUMNS = ("name", "n", "shape", "dtype", "seconds", "samples/s", "× copy",
                 "peak MB", "ΔRSS MB", "target", "status")


def table_cells(row):
    if "error" in row or row.get("status") in ("not available", "not measured"):
        text = str(row.get("error") or row.get("note") or row.get("status"))
        return [row.get("name", "?"), "", "", "", "", "", "", "", "", "",
                text if len(text) <= 70 else text[:67] + "..."]
    shape = row.get("shape")
    return [
        row["name"],
        _fmt(row.get("n_samples"), ","),
        "×".join(str(s) for s in shape) if shape else "—",
        row.get("dtype", "—"),
        _fmt(row.get("seconds"), ".3f"),
        _fmt(row.get("throughput"), ",.0f"),
        _fmt(row.get("ratio"), ".1f"),
        _fmt(row.get("peak_rss_mb"), ".0f"),
        _fmt(row.get("rss_delta_mb"), ".0f"),
        target_text(row),
        row.get("status", "—"),
    ]


def format_table(rows, markdown=False):
    cells = [list(TABLE_COLUMNS)] + [[str(c) for c in table_cells(r)] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---" for _ in cells[0]) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in cells[1:]]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(len(cells[0]))]
    out = []
    for r in cells:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


def json_row(row):
    """The row as the JSON object printed per line (rounded floats, no traceback)."""
    keep = {}
    for k, v in row.items():
        if k == "traceback":
            continue
        if isinstance(v, (float, np.floating)):
            v = float(f"{float(v):.6g}")
        elif isinstance(v, (np.integer,)):
            v = int(v)
        elif isinstance(v, tuple):
            v = list(v)
        keep[k] = v
    return keep
