"""Run skcanon's benchmark suite: one table, one JSON line per row.

Usage::

    python benchmarks/run.py                    # full sizes (several minutes)
    python benchmarks/run.py --quick            # small sizes, under ~2 minutes
    python benchmarks/run.py --only heuristics  # suites or row names (comma-separated substrings)
    python benchmarks/run.py --write-docs       # full run, store its rows, render docs/performance.md
    python benchmarks/run.py --suite scaling --quick --write-docs   # scaling section only
    python benchmarks/run.py --device cuda --write-docs             # GPU section only
    python benchmarks/run.py --render           # measure nothing: rebuild the page from the stored rows

Suites: ``heuristics`` (every heuristic canonicalizer), ``projector`` (every
InvariantProjector method), ``pipeline`` (end-to-end ``Pipeline.fit``), ``memory``
(bounded-memory ``transform`` of 1,000,000 clouds), ``learned`` (the learned-network
benchmarks ``bench_learned_points.py`` / ``bench_learned_images.py``, run with ``--quick``).
Opt-in suites, run only when named with ``--suite`` (or ``--device cuda`` for ``gpu``):
``scaling`` (``bench_scaling.py``: transform time and memory against 10k–1M samples and
16–1,024 points) and ``gpu`` (``bench_gpu.py``: learned networks and a PCA kernel on CUDA;
rows are "not measured" without CUDA); each has its own section of the page.

``--write-docs`` stores the run's JSON rows in ``docs/_static/performance/rows.jsonl``, each
with the run that measured it (command, date, machine, load, versions): a run of whole
suites replaces their stored rows, a run with ``--only`` replaces the rows of the names it
measured and keeps the others. The page is always rendered from that file alone, so every
figure on it can be traced to a stored row and the page rebuilt with ``--render``.

Every row runs in a fresh child process (multiprocessing spawn); ``peak MB`` is that
child's ``ru_maxrss`` and ``ΔRSS MB`` its growth over the baseline measured right after the
imports. ``× copy`` is the row's time over a plain ``X.copy()`` of its input, timed in the
same child. Rows with a target are marked ``met`` or ``missed``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import (  # noqa: E402
    TABLE_COLUMNS, cpu_model, finish_row, format_table, json_row, package_versions, run_isolated, target_text)

SUITES = ("heuristics", "projector", "pipeline", "memory", "learned", "scaling", "gpu")
#: suites that run only when asked for by name (long, or needing CUDA); each has its own
#: section of docs/performance.md
OPT_IN = ("scaling", "gpu")
LEARNED_SCRIPTS = ("bench_learned_points.py", "bench_learned_images.py")


def suite_rows(suite, quick):
    """Row specifications ``(module, function, kwargs)`` of one suite."""
    if suite == "heuristics":
        import bench_heuristics

        return bench_heuristics.rows(quick)
    if suite == "projector":
        import bench_projector

        return bench_projector.rows(quick)
    if suite in ("pipeline", "memory"):
        import bench_pipeline

        if suite == "pipeline":
            return bench_pipeline.rows(quick, suite="pipeline") + bench_pipeline.rows(quick, suite="pipeline-learned")
        return bench_pipeline.rows(quick, suite=suite)
    if suite == "scaling":
        import bench_scaling

        return bench_scaling.rows(quick)
    raise ValueError(suite)


def _selected(suite, name, only):
    if not only:
        return True
    return any(tok in suite or tok in name for tok in only)


def learned_rows(only, timeout):
    """Run the learned-network benchmark scripts with ``--quick``; parse their JSON lines."""
    rows = []
    for script in LEARNED_SCRIPTS:
        label = f"learned/{Path(script).stem.replace('bench_learned_', '')}"
        if not _selected("learned", label, only):
            continue
        path = HERE / script
        if not path.exists():
            rows.append({"name": label, "status": "not available", "note": f"{script} missing"})
            continue
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        try:
            proc = subprocess.run([sys.executable, str(path), "--quick"], capture_output=True, text=True,
                                  timeout=timeout, cwd=str(ROOT), env=env)
        except subprocess.TimeoutExpired:
            rows.append({"name": label, "error": f"timed out after {timeout} s"})
            continue
        parsed = []
        for line in proc.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    parsed.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        if proc.returncode or not parsed:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no JSON output"]
            rows.append({"name": label, "status": "not available",
                         "note": f"exit {proc.returncode}: {tail[0][:120]}"})
            continue
        for rec in parsed:
            rows.append(_learned_row(label, rec))
    return rows


def _learned_row(label, rec):
    what = rec.get("task") or rec.get("group") or rec.get("bench") or "row"
    row = {"name": f"{label} {what}", "source": rec}
    per_s = [k for k in rec if k.endswith("_per_s")]
    if per_s:
        row["throughput"] = rec[per_s[0]]
        row["throughput_of"] = per_s[0]
    for key in ("n_images", "n_samples", "n_clouds"):
        if key in rec:
            row["n_samples"] = rec[key]
    if "seconds" in rec:
        row["seconds"] = rec["seconds"]
        if "n_samples" not in row and row.get("throughput"):
            row["n_samples"] = int(round(row["throughput"] * rec["seconds"]))
    if "n_points" in rec:
        row["shape"] = [rec["n_points"], 3]
    elif "n_images" in rec:
        row["shape"] = [28, 28]
    row["dtype"] = "float32"
    if "peak_rss_mb" in rec:
        row["peak_rss_mb"] = rec["peak_rss_mb"]
    if "canonicalize_images_per_s" in rec:  # inference = frames + moving the image
        row["throughput"], row["throughput_of"] = rec["canonicalize_images_per_s"], "canonicalize_images_per_s"
    target = LEARNED_TARGETS.get(row["name"])
    if target:
        row.update(target)
    return row


#: issue targets for the learned rows (throughput per second, peak resident memory)
LEARNED_TARGETS = {
    "learned/points fit (supervised)": {"target_throughput": 200, "target_peak_mb": 1024},
    "learned/points transform": {"target_throughput": 500, "target_peak_mb": 1024},
    "learned/images C4": {"target_throughput": 5000},
    "learned/images C8": {"target_throughput": 2000},
}


def gpu_rows(quick, device, timeout, budget_s=None):
    """Run ``bench_gpu.py`` in a child process; parse its JSON lines."""
    cmd = [sys.executable, str(HERE / "bench_gpu.py"), "--device", device]
    if quick:
        cmd.append("--quick")
    if budget_s:
        cmd += ["--budget-s", str(budget_s)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT), env=env)
        stdout = proc.stdout
    except subprocess.TimeoutExpired as exc:  # keep the rows printed before the limit
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        proc = None
    rows = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    if proc is None:
        rows.append({"name": "gpu/bench_gpu.py", "error": f"timed out after {timeout} s; rows after the "
                     "last one above were not measured"})
    elif not rows:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no JSON output"]
        rows.append({"name": "gpu/bench_gpu.py", "error": f"exit {proc.returncode}: {tail[0][:200]}"})
    return rows


def chosen_suites(suites=None, only=None, device="cpu"):
    """The suites a run covers: ``suites`` if given; else every main suite (those selected by
    ``only``), plus an opt-in suite named exactly in ``only`` (and ``gpu`` for a CUDA device)."""
    if suites:
        unknown = [s for s in suites if s not in SUITES]
        if unknown:
            raise SystemExit(f"unknown suite(s) {unknown}; choose from {', '.join(SUITES)}")
        return [s for s in SUITES if s in suites]
    if str(device).startswith("cuda") and not only:
        return ["gpu"]
    chosen = [s for s in SUITES if s not in OPT_IN]
    chosen += [s for s in OPT_IN if only and s in only]
    return chosen


def run(quick=False, only=None, timeout=None, echo=True, suites=None, device="cpu", gpu_budget_s=None):
    """Run the selected rows; return them (finished: ratio, throughput, status)."""
    rows = []
    selected_suites = chosen_suites(suites, only, device)
    for suite in SUITES:
        if suite not in selected_suites:
            continue
        if suite == "gpu":
            gpu_device = device if str(device).startswith("cuda") else "cuda"
            for row in gpu_rows(quick, gpu_device, timeout, gpu_budget_s):
                if only and suites is None and not any(t == "gpu" or t in row["name"] for t in only):
                    continue
                rows.append(finish_row(row) if row.get("status") != "not measured" else row)
                if echo:
                    print(f"  {row['name']}: {row.get('status')}", file=sys.stderr, flush=True)
            continue
        if suite == "learned":
            if _selected("learned", "learned/", only) or any("learned" in t for t in only or ()):
                for row in learned_rows(only, timeout):
                    rows.append(finish_row(row) if "status" not in row else row)
                    if echo:
                        print(f"  {rows[-1]['name']}: {rows[-1].get('status')}", file=sys.stderr, flush=True)
            continue
        for module, function, kwargs in suite_rows(suite, quick):
            name = kwargs.get("name", function)
            name = name if name.startswith(suite + "/") else f"{suite}/{name}"
            if not _selected(suite, name, only):
                continue
            t0 = time.perf_counter()
            learned = kwargs.get("method") == "learned"
            preload = ("torch", "skcanon.canonicalizers._learned") if learned else ()
            row = finish_row(run_isolated(module, function, kwargs, timeout=timeout, preload=preload))
            if row.get("name") is None:
                row["name"] = name
            rows.append(row)
            if echo:
                extra = f"{row['ratio']:.1f}× copy" if row.get("ratio") else row.get("error", "")
                print(f"  {row['name']}: {extra} [{row.get('status')}] ({time.perf_counter() - t0:.1f} s)",
                      file=sys.stderr, flush=True)
    if "scaling" in selected_suites:
        import bench_scaling

        scaling = [r for r in rows if r.get("series")]
        bench_scaling.add_cost_ratios(scaling)
        for row in scaling:
            finish_row(row)
    return rows


def machine_info():
    return {"cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "platform": platform.platform(),
            "load_avg_1min": round(os.getloadavg()[0], 2), "versions": package_versions(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


PAGE = ROOT / "docs" / "performance.md"


def store_path(page=PAGE):
    """The JSON-lines file the page ``page`` is rendered from (next to it, under ``_static``)."""
    return Path(page).parent / "_static" / "performance" / "rows.jsonl"


def _suite(row):
    return row.get("name", "").split("/")[0]


def _row_key(row):
    # a scaling row of one size can sit in two series (against n and against points)
    return row.get("name"), row.get("series")


def read_store(store):
    """The stored rows, in page order (each carries the ``run`` that measured it)."""
    store = Path(store)
    if not store.exists():
        return []
    return [json.loads(line) for line in store.read_text().splitlines() if line.strip()]


def update_store(rows, info, command, quick, store, replace_suites=()):
    """Store a run's rows: each replaces the stored row of the same name (and series) in place
    (a new one goes after its suite's rows); the stored rows of ``replace_suites`` that this run did not
    measure are dropped (a run of a whole suite replaces it). Returns the stored rows."""
    run_record = dict(info, command=command, mode="quick" if quick else "full")
    new = [dict(json_row(r), run=run_record) for r in rows]
    stored = [r for r in read_store(store) if _suite(r) not in replace_suites]
    index = {_row_key(r): i for i, r in enumerate(stored)}
    for row in new:
        if _row_key(row) in index:
            stored[index[_row_key(row)]] = row
        else:
            index[_row_key(row)] = len(stored)
            stored.append(row)
    order = {s: i for i, s in enumerate(SUITES)}
    stored.sort(key=lambda r: order.get(_suite(r), len(order)))  # stable: suites in SUITES order
    store = Path(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("".join(json.dumps(r, default=str) + "\n" for r in stored))
    return stored


DOC_HEADER = """# Performance

This page is rendered from the rows the benchmark suite stored in
`docs/_static/performance/rows.jsonl` (one JSON object per row, with the run that measured
it); do not edit it by hand. `python benchmarks/run.py --render` rebuilds it from that file
without measuring; a run with `--write-docs` replaces the rows it measured and renders it.

Runs whose rows this page shows (newest first):

{runs}

`× copy` is the time of the row over a plain `X.copy()` of the same input, measured in the
same process right before or after (the reference that makes numbers comparable across
machines); `samples/s` is throughput; `peak MB` is the child process's peak resident
memory and `ΔRSS MB` its growth over the baseline after imports (each row runs in a fresh
process). A target is `met` or `missed`; rows without a target show `—`.

"""


def _run_key(row):
    run_record = row.get("run") or {}
    return run_record.get("date", "?"), run_record.get("command", "?")


def runs_text(rows):
    """One bullet per run that measured some of ``rows`` (newest first): its command, date,
    machine, load and versions, and which rows it measured."""
    runs = {}
    for row in rows:
        runs.setdefault(_run_key(row), []).append(row)
    lines = []
    for (date, command), mine in sorted(runs.items(), key=lambda kv: kv[0][0], reverse=True):
        info = mine[0].get("run") or {}
        cpus = info.get("cpu_count") or 1
        load = info.get("load_avg_1min")
        noisy = " (shared with other jobs: expect noise)" if load is not None and load > cpus else ""
        versions = ", ".join(f"{k} {v}" for k, v in (info.get("versions") or {}).items())
        suites = list(dict.fromkeys(_suite(r) for r in mine))
        what = (", ".join(r["name"] for r in mine) if len(mine) <= 8 else
                f"{len(mine)} rows of " + ", ".join(suites))
        lines.append(f"* {date}: `{command}` ({info.get('mode', '?')} mode); {cpus} CPU(s), "
                     f"{info.get('cpu_model', '?')} ({info.get('platform', '?')}); 1-minute load average at "
                     f"the end of the run: {load}{noisy}; {versions}. Rows: {what}.")
    return "\n".join(lines) or "* none yet"


DOC_NOTES = """
## Notes

* **Before issue 6** (same machine, 100,000 × 64 × 3 float32, ratio to the copy):
  `pca` SE(3) 536×, `sort` 84×, `pca+sort` 474×, `centroid` 38×. The table above is after.
* Heuristic canonicalizers run a vectorized fast path for samples without absent points
  whose covariance eigenvalues are well separated and whose axis signs are clearly decided:
  points are transposed once to `(n, d, m)` so every reduction runs over a contiguous axis,
  the big arrays stay in the input dtype, a closed-form 2×2/3×3 symmetric eigensolver
  replaces `np.linalg.eigh` (kept for other `d`, and for the about 2% of 3-D samples whose
  eigenvalues lie within 1e-2 of the trace, where the closed form loses accuracy; this costs
  nothing measurable), and the output is computed directly as `(x − c)·E`. Every other
  sample (NaN rows, repeated eigenvalues, undecided or nearly tied signs) goes through
  the general path with the documented tie rules, so results are unchanged (tested: fast
  path = general path). `sort` uses one SIMD `argsort` of the
  first column, gathers whole point rows with one `take`, and refines only tied samples.
* **Compiled kernels (issue 17).** With numba installed (`pip install -e ".[fast]"` in the
  checkout) the 3-D PCA fast path runs as one compiled pass per cloud (centroid and covariance in
  float64, the 3×3 closed form, LAPACK where two eigenvalues lie within 1e-2 of the trace,
  third moments, every refusal rule of the numpy path, orientation, and the canonical
  points `(x − c)·E` written straight into the output) while the cloud stays in the CPU
  cache, and `sort` builds its packed keys and, after numpy's SIMD sort of them, the order,
  the tolerant ties, the float32 tied pairs and the gathered points in two compiled passes
  (chains of three or more tied keys still take the column-by-column refinement). The
  decisions are those of the numpy paths (tested: the same samples served, the same frames,
  the same sort orders bit for bit; canonical points to float32 rounding; batch-size
  independent bit for bit). These rows set `SKCANON_NUMBA=1`; the `compiled` field of a
  row's JSON says whether they ran, and `SKCANON_NUMBA=0 python benchmarks/run.py ...`
  measures the numpy paths. In the library they switch on by themselves once a process has
  sent 1,000,000 samples through these fast paths, decided once per call for all its
  batches (`SKCANON_NUMBA` unset, so a later call of a long-running process may differ from
  an earlier one in the last bits; `1` always, `0` never: results independent of history): loading them costs about 0.7 s per process (numba's import and the cached
  kernels; about 5 s the first time, when they are compiled into the package's
  `__pycache__`, and in every process where that cache cannot be written) and they save
  about 0.7–1 µs per 64-point cloud and fast path, so that is where the load is earned.
  Every row's warm-up call absorbs the load. Rows are one core: the heuristics never call
  BLAS on the big arrays, and the compiled kernels are single-threaded.
* Where the PCA SE(3) time still goes (compiled, 100,000 clouds; `cProfile` and CPU time
  on the shared machine): the fused pass (about 3× the copy, writing straight into
  `transform`'s output), the transformer's validation (its finite check is about 0.5× the
  copy), the frames as group elements, and the general path for the clouds (about 60 in
  100,000 here) whose signs only the tie rules settle. Each batch defers those clouds and
  `transform` canonicalizes those of all batches together at the end, in calls of at most a
  batch's rows (memory stays bounded for padded data) (about 6 ms,
  0.9× the copy; one call per batch cost about 1.3× the copy more). `pca+sort` adds the sort (about 3×
  the copy compiled: keys from one integer maximum per cloud, numpy's SIMD key sort, an
  unrolled 3-D gather). The `n_jobs=2` rows use both cores:
  `CanonicalizerTransformer(n_jobs=2)` canonicalizes `transform`'s batches in two threads
  (numpy and the compiled kernels, built with `nogil`, release the GIL; each thread runs
  torch, BLAS and OpenMP on one thread; outputs are identical).
* `gram` and `distances` are computed with torch in cache-sized chunks written straight
  into the output (their outputs are 4× the input for 64 points × 8; no temporary the size
  of the output); with numba, `distances` adds the last squared norm, clips, takes the
  square root and gathers the triangle in one compiled pass. The benchmark rows pin one
  torch thread, because two threads on a shared 2-core machine wait on each other at every
  chunk (40–140× in the same runs). Every row makes one warm-up call first: the first
  touch of an 800 MB output costs seconds on this VM. The JSON lines carry
  `ratio_preallocated`: the same computation writing into an output allocated and touched
  once, i.e. the row without the first touch of its fresh 800 MB output (which `transform`
  pays on every call). `InvariantProjector(n_jobs=k)` transforms batches in k threads.
* The memory target row streams 1,000,000 clouds; most of its overhead over
  input + output is the absent-row check, which allocates two boolean arrays of the
  input's size.
* `--quick` inputs fit in the CPU cache, so quick ratios are inflated; use full mode for
  targets. The learned rows are the learned-network benchmark scripts run with `--quick`;
  their throughput is in the unit the script reports (clouds or images per second), their
  memory is the script's own peak.
* Timings on a shared 2-core machine vary by ±30 % or more; compare ratios, not seconds.
"""


SECTION_TITLES = {"scaling": "Scaling (CPU)", "gpu": "GPU"}


def _markers(key):
    return f"<!-- begin section {key}: written by benchmarks/run.py -->", f"<!-- end section {key} -->"


def read_section(text, key):
    """The section ``key`` of a generated page (markers included), or None."""
    begin, end = _markers(key)
    i, j = text.find(begin), text.find(end)
    return text[i:j + len(end)] if i >= 0 and j > i else None


def replace_section(text, key, section):
    """``text`` with its section ``key`` replaced (or inserted before the notes)."""
    old = read_section(text, key)
    if old is not None:
        return text.replace(old, section)
    anchor = text.find("\n## Notes")
    if anchor < 0:
        return text.rstrip("\n") + "\n\n" + section + "\n"
    return text[:anchor] + "\n" + section + "\n" + text[anchor:]


def _cell(v, spec=None):
    if v is None or v == "":
        return "—"
    return format(v, spec) if spec else str(v)


def scaling_section(rows, info, command, quick):
    begin, end = _markers("scaling")
    lines = [begin, f"## {SECTION_TITLES['scaling']}", "",
             "```", command, "```", "",
             f"* date: {info['date']}; machine: {info['cpu_count']} CPU(s), {info['cpu_model']}; "
             f"1-minute load average {info['load_avg_1min']}",
             f"* mode: {'quick (1,000–100,000 samples; the 1,000,000-sample rows are not in it)' if quick else 'full'}",
             "* `cost ratio`: the row's cost per unit — per sample along `n`, per point along the number "
             "of points — over that of the previous, smaller row of its series (1 = linear; target ≤ 2, "
             "judged where the previous row's input exceeds 16 MB: inputs that fit in the CPU cache are "
             "faster per sample, and so is their copy); "
             "`growth MB`: peak resident memory during `transform` over the resident memory just before "
             "it (input excluded; output included); ΔRSS target as the memory suite: input + output + 300 MB.",
             "",
             "| name | n | points | seconds | µs/sample | ns/point | × copy | cost ratio | growth MB | "
             "ΔRSS MB | target | status |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | | | | | | | | | | | {str(r['error'])[:80]} |")
            continue
        lines.append("| " + " | ".join([
            r["name"], _cell(r.get("n_samples"), ","), _cell(r["shape"][0]), _cell(r.get("seconds"), ".3f"),
            _cell(r.get("per_sample_us"), ".2f"), _cell(r.get("per_point_ns"), ".1f"),
            _cell(r.get("ratio"), ".1f"), _cell(r.get("cost_ratio"), ".2f"),
            _cell(r.get("transform_growth_mb"), ".0f"), _cell(r.get("rss_delta_mb"), ".0f"),
            target_text(r), r.get("status", "—")]) + " |")
    series = {}
    for r in rows:
        if r.get("target_cost_ratio") is not None and r.get("cost_ratio") is not None:
            series.setdefault(r["series"], []).append(r["cost_ratio"])
    if series:
        lines.append("")
        lines.append("Cost per unit, judged steps (out of cache): " + "; ".join(
            f"{k} {', '.join(f'{v:.2f}×' for v in vals)}" for k, vals in series.items()) + ".")
    lines.append(end)
    return "\n".join(lines)


def gpu_section(rows, info, command, quick):
    begin, end = _markers("gpu")
    measured = [r for r in rows if r.get("status") != "not measured" and "error" not in r]
    first = (measured or rows or [{}])[0]
    lines = [begin, f"## {SECTION_TITLES['gpu']}", "", "```", command, "```", ""]
    if not measured:
        reason = next((r.get("note") for r in rows if r.get("note")), "no rows were run")
        lines += [f"**Not measured** ({info['date']}): {reason}. No GPU figure is reported until "
                  "`bash benchmarks/gpu_check.sh` (or `python benchmarks/run.py --device cuda --write-docs`) "
                  "runs on a machine with CUDA.", "",
                  "Planned rows: " + ", ".join(f"`{r['name']}`" for r in rows) + ".", end]
        return "\n".join(lines)
    lines += [f"* date: {first.get('date', info['date'])}; device: {first.get('device_name')} "
              f"({first.get('device_memory_gb', '?')} GB), torch {first.get('torch')}, CUDA {first.get('cuda')}",
              f"* mode: {'quick (reduced sizes)' if quick else 'full'}",
              "* `infer`: `transform` of host arrays (host → device → host, canonical forms computed by the "
              "library), `network/s` the frames alone on device-resident tensors; `train`: one epoch of `fit` "
              "(skorch loop, set-up included); `batch` b64 = 64, best = fastest of the sweep "
              "(`eff.` = the batch the network sees after the per-step element cap). PCA: a torch kernel on "
              "1,000,000 × 64 × 3 float32 clouds held on the device, `× copy` against a device-to-device "
              "clone; `decided` = share with signs decided in float32, `agree` = share of a 4,096 subset "
              "equal to the CPU `pca` (decided samples).", "",
              "| name | n | batch | eff. | samples/s | network/s | × copy | device peak MB | decided | agree | status |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r or r.get("status") == "not measured":
            lines.append(f"| {r['name']} | | | | | | | | | | {str(r.get('error') or r.get('note'))[:80]} |")
            continue
        lines.append("| " + " | ".join([
            r["name"], _cell(r.get("n_samples"), ","), _cell(r.get("batch")), _cell(r.get("effective_batch")),
            _cell(r.get("throughput"), ",.0f"), _cell(r.get("network_per_s"), ",.0f"),
            _cell(r.get("ratio"), ".1f"), _cell(r.get("peak_device_mb"), ",.0f"),
            _cell(r.get("decided_share"), ".4f"), _cell(r.get("agree_with_cpu"), ".4f"),
            r.get("status", "—") + (f" ({r['note'].split('; ', 1)[1]})" if "failed on" in r.get("note", "")
                                    else "")]) + " |")
    lines.append(end)
    return "\n".join(lines)


SECTION_WRITERS = {"scaling": scaling_section, "gpu": gpu_section}


def render(page=PAGE, store=None):
    """Write the page ``page`` from its stored rows: the main table, then a section per
    opt-in suite with stored rows. Returns the page's path."""
    page = Path(page)
    rows = read_store(store or store_path(page))
    main_rows = [r for r in rows if _suite(r) not in OPT_IN]
    text = DOC_HEADER.format(runs=runs_text(rows))
    text += format_table(main_rows, markdown=True) + "\n"
    missed = [r["name"] for r in main_rows if r.get("status") == "missed"]
    met = sum(r.get("status") == "met" for r in main_rows)
    listed = f" ({', '.join(missed)})" if missed else ""
    text += f"\nTargets met: {met}; missed: {len(missed)}{listed}.\n"
    text += DOC_NOTES
    for key in OPT_IN:
        mine = [r for r in rows if _suite(r) == key]
        if mine:
            newest = max(mine, key=_run_key)["run"]
            text = replace_section(text, key, SECTION_WRITERS[key](mine, newest, newest["command"],
                                                                 newest["mode"] == "quick"))
    page.write_text(text)
    return page


def write_docs(rows, info, command, quick, suites, merge=False, page=PAGE):
    """Store a run's rows and render the page. Without ``merge`` the run measured whole
    ``suites``, which replace their stored rows; with it (``--only``) each row replaces
    the stored row of its name and the others are kept."""
    update_store(rows, info, command, quick, store_path(page), replace_suites=() if merge else tuple(suites))
    return render(page)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (under ~2 minutes)")
    parser.add_argument("--only", default="", help="comma-separated suite or row-name substrings")
    parser.add_argument("--write-docs", action="store_true", help="write docs/performance.md")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per row (default 900)")
    parser.add_argument("--suite", default="", help="comma-separated suite names to run (exact); "
                        f"opt-in suites ({', '.join(OPT_IN)}) run only when named")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]: cuda runs the gpu suite")
    parser.add_argument("--gpu-budget-s", type=float, default=None,
                        help="seconds after which the gpu suite reports its remaining rows as not measured")
    parser.add_argument("--render", action="store_true",
                        help="measure nothing: rebuild docs/performance.md from its stored rows")
    args = parser.parse_args(argv)
    if args.render:
        print(f"wrote {render()}", file=sys.stderr)
        return 0
    only = [t.strip() for t in args.only.split(",") if t.strip()] or None
    suites = [t.strip() for t in args.suite.split(",") if t.strip()] or None
    rows = run(quick=args.quick, only=only, timeout=args.timeout, suites=suites, device=args.device,
               gpu_budget_s=args.gpu_budget_s)
    print(format_table(rows))
    for row in rows:
        print(json.dumps(json_row(row), default=str))
    if args.write_docs:
        command = "python benchmarks/run.py" + (" --quick" if args.quick else "") + \
            (f" --suite {args.suite}" if suites else "") + \
            (f" --device {args.device}" if args.device != "cpu" else "") + \
            (f" --only {args.only}" if only else "") + " --write-docs"
        chosen = chosen_suites(suites, only, args.device)
        path = write_docs(rows, machine_info(), command, args.quick, chosen, merge=only is not None)
        print(f"wrote {path} and {store_path(path)}", file=sys.stderr)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
