"""Reproduce the papers' claims through skcanon and write ``docs/results.md``.

Run::

    python benchmarks/reproduce.py            # full sizes, one seed (1–2 hours on 2 CPU cores)
    python benchmarks/reproduce.py --quick    # small sizes (a few minutes)
    python benchmarks/reproduce.py --only nbody   # one experiment (nbody, nbody_frames, images,
                                                  # images_end_to_end, qm9, qm9_classification,
                                                  # shapes, projections)
    python benchmarks/reproduce.py --only qm9 --seeds 0,1,2   # means ± sd over three seeds
    python benchmarks/reproduce.py --merge other/docs/_static/results/rows/qm9.json
                                                  # add seeds run in another checkout
    python benchmarks/reproduce.py --only images --seeds 0,1,2 --methods "learned canonicalizer" \
        --replace --tables "images-upright/*"     # after a change to one method: rerun its rows
                                                  # of some tables in place of the stored ones

Each run stores its rows (with command, mode, seeds, versions, machine, commit and date) in
``docs/_static/results/rows/<experiment>.json`` and rewrites the page from every stored
experiment, so one experiment can be re-run without re-running the others. With
``--seeds 0,1,2`` every experiment runs once per seed; the rows of every seed are stored
(each with its ``seed``, saved after each seed) and the page shows their means ± sd (the
protocol is in ``benchmarks/experiments/_common.py``).

Each experiment lives in its own module of ``benchmarks/experiments/`` with
``run(quick=False, seed=0) -> list[dict]`` (one seed) and ``section(rows, quick, fig_dir) -> str``
(the rows of every stored seed); the
test ``tests/test_reproduce.py`` calls the same functions in quick mode. Each row holds the
score (accuracy / MSE / MAE / R²), the invariance error of the fitted model
(:func:`skcanon.metrics.invariance_error`), fit and transform times and, where the brief
sets one, whether the target was ``met`` or ``missed``. Nothing on the results page is
hand-edited: the page and its figures are written by :func:`write_results`.

The runs use skcanon's numpy passes (``SKCANON_NUMBA=0`` unless the environment sets it):
left unset, the compiled kernels would take over once a process had counted a million
samples, so an experiment's last bits — and a forest's splits — would depend on which
experiments and seeds ran before it in the same process.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import hashlib
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # the experiments package beside this file

from _common import cpu_model, package_versions  # noqa: E402  (benchmarks/_common.py)
from experiments import EXPERIMENTS as _PACKAGE_EXPERIMENTS  # noqa: E402
from experiments import qm9_classification  # noqa: E402
from experiments._common import table_wanted  # noqa: E402


def _page_order(experiments):
    """The package's experiments with the QM9 ring classification right after QM9."""
    out = {}
    for name, module in experiments.items():
        out[name] = module
        if name == "qm9":
            out["qm9_classification"] = qm9_classification
    out.setdefault("qm9_classification", qm9_classification)
    return out


#: name → module, in the order of the results page
EXPERIMENTS = _page_order(_PACKAGE_EXPERIMENTS)

ROOT = Path(__file__).resolve().parents[1]
RESULTS_MD = ROOT / "docs" / "results.md"
FIG_DIR = ROOT / "docs" / "_static" / "results"
ROWS_DIR = FIG_DIR / "rows"


def _machine():
    """CPU count and model, and torch's CPU kernel level (``AVX2``, ``AVX512``...): trained
    networks follow those kernels, so network rows from machines that differ there (under
    one model name) need not agree."""
    machine = f"{os.cpu_count()} CPUs, {cpu_model()}"
    try:
        import torch

        return f"{machine}, torch CPU {torch.backends.cpu.get_cpu_capability()}"
    except (ImportError, AttributeError):
        return machine


#: what a record says of code that git cannot name
NO_CODE = "not recorded"


def _code():
    """The commit that ran (``git`` short hash), with a mark where the library or the
    benchmarks differed from it: a row that moves between two runs is then known to come
    from other code, or from the same code on another machine."""
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30,
                              check=True).stdout.strip()
    try:
        commit = git("rev-parse", "--short=7", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", "skcanon", "benchmarks")
    except (OSError, subprocess.SubprocessError):
        return f"{NO_CODE} (not a git checkout)"
    return f"{commit}{' with local changes' if changed else ''}"


def _versions():
    names = {"sklearn": "scikit-learn"}
    versions = package_versions(("numpy", "sklearn", "torch", "skcanon"))
    return ", ".join(f"{names.get(mod, mod)} {v}" for mod, v in versions.items())


def _seed_list(seeds):
    """An int or a sequence of ints as a list of distinct ints (order kept)."""
    seeds = [seeds] if isinstance(seeds, (int, np.integer)) else list(seeds)
    if not seeds or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"seeds must be an int or a non-empty sequence of ints; got {seeds!r}.")
    return list(dict.fromkeys(int(s) for s in seeds))


def parse_seeds(text):
    """``"0,1,2"`` → ``[0, 1, 2]`` (for ``--seeds``)."""
    try:
        return _seed_list([int(part) for part in str(text).split(",") if part.strip()])
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes comma-separated integers such as 0,1,2; got "
                                         f"{text!r}.") from None


def partial_name(name, methods, tables=None):
    """File stem of a ``--methods`` run's record: the experiment, its methods and tables, so
    runs of other rows in the same checkout (at the same time, say) keep records of their own."""
    key = "+".join(methods) + ("@" + "+".join(tables) if tables else "")
    slug = re.sub(r"[^A-Za-z0-9.+@-]+", "_", key)[:60]
    return f"{name}--{slug}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


@contextlib.contextmanager
def _rows_lock(rows_dir):
    """Hold an exclusive lock on ``rows_dir`` while a stored record is read and written back
    (a merge), so two runs that finish together cannot drop each other's rows."""
    rows_dir = Path(rows_dir)
    rows_dir.mkdir(parents=True, exist_ok=True)
    with open(rows_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_record(path, record):
    """Write a record whole (a temporary file renamed over it): a reader never sees half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1, default=_plain) + "\n")
    os.replace(tmp, path)


def save_rows(name, rows, command, seconds, quick, seeds, rows_dir=None, methods=None, replace=False,
              file_name=None):
    """Store one experiment's rows (of every seed in ``seeds``, an int or a list) and the
    circumstances of the run as JSON (``rows_dir/<file_name or name>.json``). Rows without a
    ``seed`` get the first of ``seeds``. ``methods`` marks a record that holds only those rows,
    ``replace`` one whose rows replace stored ones (see :func:`merge_record`)."""
    rows_dir = Path(rows_dir or ROWS_DIR)
    rows_dir.mkdir(parents=True, exist_ok=True)
    seeds = _seed_list(seeds)
    code = _code()
    # each row names its commit too: merged records pool seeds that ran on different code
    rows = [dict(r if "seed" in r else dict(r, seed=seeds[0]), code=r.get("code", code)) for r in rows]
    record = {"experiment": name, "command": command, "quick": bool(quick), "seeds": seeds,
              "seconds": seconds, "versions": _versions(), "machine": _machine(), "code": code,
              "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), "rows": rows}
    if methods:
        record["methods"] = list(methods)
    if replace:
        record["replace"] = True
    path = rows_dir / f"{file_name or name}.json"
    with _rows_lock(rows_dir):     # not in the middle of a merge into the same record
        _write_record(path, record)
    return path


def _plain(value):
    """JSON for the numpy scalars a row may hold."""
    return value.item() if hasattr(value, "item") else str(value)


def load_rows(rows_dir=None):
    """``{experiment: record}`` of every stored experiment, in page order. Records written
    before the multi-seed protocol (one ``"seed"``, rows without it) read as that one seed."""
    rows_dir = Path(rows_dir or ROWS_DIR)
    records = {}
    for name in EXPERIMENTS:
        path = rows_dir / f"{name}.json"
        if path.exists():
            rec = json.loads(path.read_text())
            if "seeds" not in rec:
                rec["seeds"] = [int(rec.get("seed", 0))]
            rec["rows"] = [r if "seed" in r else dict(r, seed=rec["seeds"][0]) for r in rec["rows"]]
            records[name] = rec
    return records


def merge_record(path, rows_dir=None):
    """Add the seeds of a record stored elsewhere (another checkout or machine: the JSON that
    :func:`save_rows` wrote there) to the stored record of the same experiment. Both must be
    in the same mode and have no seed in common; the merged record lists both commands,
    machines and versions. A record of some methods only (``--methods``) instead adds its
    rows to seeds the stored record has already, where those rows are missing, or (a
    ``--replace`` record) puts them in place of the stored rows of the same seed, table and
    method, which must exist. Returns the path of the merged record."""
    rows_dir = Path(rows_dir or ROWS_DIR)
    with _rows_lock(rows_dir):
        return _merge_record(path, rows_dir)


def _merge_record(path, rows_dir):
    new = json.loads(Path(path).read_text())
    name = new.get("experiment")
    if name not in EXPERIMENTS:
        raise ValueError(f"{path}: experiment {name!r} is not one of {list(EXPERIMENTS)}.")
    old = load_rows(rows_dir).get(name)
    new_seeds = new.get("seeds") or [int(new.get("seed", 0))]
    new_rows = [r if "seed" in r else dict(r, seed=new_seeds[0]) for r in new["rows"]]
    if "code" in new:   # rows of records written before rows named their commit
        new_rows = [r if "code" in r else dict(r, code=new["code"]) for r in new_rows]
    if old is None and new.get("methods"):
        raise ValueError(f"{path}: a --methods record adds rows to a stored record of {name!r}, and there is none "
                         "here; run every method first.")
    if old is None:
        merged_rows, seeds = new_rows, new_seeds
        old = {"command": None, "seconds": 0.0, "versions": new["versions"], "machine": new["machine"],
               "code": new.get("code", NO_CODE)}
    else:
        if bool(old["quick"]) != bool(new["quick"]):
            raise ValueError(f"{path}: cannot merge a {'quick' if new['quick'] else 'full'} run into a "
                             f"{'quick' if old['quick'] else 'full'} record of {name!r}.")
        common = sorted(set(old["seeds"]) & set(new_seeds))
        if new.get("replace"):
            merged_rows, seeds = _replaced_rows(path, name, old, new_rows), list(old["seeds"])
        elif new.get("methods"):
            _check_added_rows(path, name, old, new_rows, new_seeds)
            merged_rows, seeds = old["rows"] + new_rows, list(old["seeds"])
        elif common:
            raise ValueError(f"{path}: seeds {common} of {name!r} are stored already; merge only new seeds.")
        else:
            merged_rows, seeds = old["rows"] + new_rows, list(old["seeds"]) + list(new_seeds)
    stray = sorted({r["seed"] for r in new_rows} - set(new_seeds))
    if stray:
        raise ValueError(f"{path}: rows of seeds {stray} in a record of seeds {new_seeds}; the record is "
                         "inconsistent.")
    keys = [_row_key(r) for r in merged_rows]
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"{path}: merging would store rows {twice[:3]} of {name!r} twice.")
    record = {"experiment": name, "command": " + ".join(c for c in (old["command"], new["command"]) if c),
              "quick": bool(new["quick"]), "seeds": seeds, "seconds": old["seconds"] + new["seconds"],
              "versions": _joined(old["versions"], new["versions"]),
              "machine": _joined(old["machine"], new["machine"]),
              "code": _joined(old.get("code", NO_CODE), new.get("code", NO_CODE)),
              "date": max(old.get("date", ""), new["date"]), "rows": merged_rows}
    out = rows_dir / f"{name}.json"
    _write_record(out, record)
    return out


def _joined(*texts):
    """``texts`` joined by `` | `` without repeating a part (texts may be joined ones already)."""
    return " | ".join(dict.fromkeys(part for text in texts for part in text.split(" | ")))


def _check_added_rows(path, name, old, new_rows, new_seeds):
    """Rows of a ``--methods`` record may only fill in rows that seeds stored already lack."""
    missing = sorted(set(new_seeds) - set(old["seeds"]))
    if missing:
        raise ValueError(f"{path}: seeds {missing} of {name!r} are not stored; a --methods record adds rows "
                         "to stored seeds only (run every method for new seeds).")
    have = {(r["seed"], r["table"], r["method"]) for r in old["rows"]}
    twice = sorted({(r["seed"], r["table"], r["method"]) for r in new_rows} & have)
    if twice:
        raise ValueError(f"{path}: rows {twice[:3]} of {name!r} are stored already.")


def _row_key(r):
    return r["seed"], r["table"], r["method"]


def _replaced_rows(path, name, old, new_rows):
    """The stored rows with those of ``new_rows`` (same seed, table and method) in their
    place, in the stored order; every new row must replace one."""
    new = {_row_key(r): r for r in new_rows}
    lacking = sorted(set(new) - {_row_key(r) for r in old["rows"]})
    if lacking:
        raise ValueError(f"{path}: rows {lacking[:3]} of {name!r} are not stored; --replace only replaces "
                         "stored rows (add new ones without it).")
    return [new.get(_row_key(r), r) for r in old["rows"]]


def _check_methods_run(name, methods, seeds, quick, replace=False, tables=None):
    """Before a ``--methods`` run: the record it adds to exists, in the same mode, with those
    seeds, and without those rows (with ``--replace``: with them) in the tables of ``tables``
    (shell-style patterns; ``None``: every table) — found now rather than after the runs."""
    old = load_rows().get(name)
    if old is None:
        raise ValueError(f"--methods adds rows to the stored record of {name!r}, and there is none; run every "
                         "method first.")
    if bool(old["quick"]) != bool(quick):
        raise ValueError(f"--methods: the stored record of {name!r} is {'quick' if old['quick'] else 'full'}; "
                         "run in that mode.")
    missing = sorted(set(seeds) - set(old["seeds"]))
    if missing:
        raise ValueError(f"--methods: seeds {missing} of {name!r} are not stored; a --methods run adds rows to "
                         "stored seeds only (run every method for new seeds).")
    in_tables = [r for r in old["rows"]
                 if table_wanted(r["table"], tables)]
    if not in_tables:
        raise ValueError(f"--tables {tables}: no stored table of {name!r} matches.")
    # a method may belong to some of the matching tables only
    wanted, stored = {(s, m) for s in seeds for m in methods}, {(r["seed"], r["method"]) for r in in_tables}
    if replace and wanted - stored:
        raise ValueError(f"--replace: rows {sorted(wanted - stored)[:3]} of {name!r} are not stored; add them "
                         "without --replace.")
    if not replace and wanted & stored:
        raise ValueError(f"--methods: rows {sorted(wanted & stored)[:3]} of {name!r} are stored already "
                         "(--replace reruns them).")


def _seeds_text(rec):
    """The seeds cell of the page's run table (older records that pooled seeds inside the
    experiment say how many)."""
    text = ", ".join(str(s) for s in rec["seeds"])
    inner = max((r.get("seeds") for r in rec["rows"] if isinstance(r.get("seeds"), int)), default=None)
    if len(rec["seeds"]) == 1 and inner and inner > 1:
        text += f" to {rec['seeds'][0] + inner - 1} (pooled inside the experiment)"
    return text


def write_results(records, path=None, fig_dir=None):
    """Write the results page (default ``docs/results.md``) and its figures from stored
    experiment records (see :func:`save_rows`)."""
    path = Path(path or RESULTS_MD)
    fig_dir = Path(fig_dir or FIG_DIR)
    fig_dir.mkdir(parents=True, exist_ok=True)
    out = [
        "# Reproduced results",
        "",
        "Generated by `benchmarks/reproduce.py` from the rows it stores in "
        "`docs/_static/results/rows/`; do not edit by hand. Each experiment can be re-run alone "
        "(`--only NAME`); the table below says when and how each was run.",
        "",
        "| experiment | command | mode | seeds | wall time | date |",
        "|---|---|---|---|---|---|",
    ]
    for name, rec in records.items():
        out.append(f"| {name} | `{rec['command']}` | {'quick' if rec['quick'] else 'full'} | {_seeds_text(rec)} | "
                   f"{rec['seconds'] / 60:.1f} min | {rec['date']} |")
    environments = {}
    for name, rec in records.items():
        environments.setdefault((_joined(rec["versions"]), _joined(rec["machine"])), []).append(name)
    out += [""]
    for (versions, machine), names in sorted(environments.items()):
        # With several machines on one page, each says which experiments it ran.
        which = f" ({', '.join(names)})" if len(environments) > 1 else ""
        out += [f"* versions{which}: {versions}",
                f"* machine{which}: {machine} (shared with other jobs while this ran; times are indicative)"]
    codes = {}
    for name, rec in records.items():
        codes.setdefault(_joined(rec.get("code", NO_CODE)), []).append(name)
    for code, names in codes.items():   # commits in the order of the runs merged into a record
        which = f" ({', '.join(names)})" if len(codes) > 1 else ""
        out.append(f"* code{which}: {code}")
    out += [
        "* torch runs with `torch.set_num_threads(1)` inside the experiments (stable timings on a "
        "shared machine); scikit-learn estimators run single-threaded (`n_jobs=1`).",
        "",
        "Every row reports the median relative **invariance error** "
        "(`skcanon.metrics.invariance_error`, 2–3 random group elements per test sample) of the "
        "fitted model next to its score, **fit** time (canonicalizer or projector and downstream "
        "model together) and **transform** time (canonicalizing or projecting the test set). The "
        "**target** column says whether the claim set for that row was met on this run. Where an "
        "experiment ran with several seeds (`--seeds`), scores and invariance errors are `mean ± sd` "
        "over the seeds (sample sd), targets are judged on the means, and `met in seeds` counts the "
        "seeds in which the row met its target on its own; times are means.",
        "",
    ]
    for name, rec in records.items():
        out += [EXPERIMENTS[name].section(rec["rows"], rec["quick"], fig_dir), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out).rstrip() + "\n")
    return path


def run(quick=False, only=None, seed=0, write=True, command=None, seeds=None, methods=None, replace=False,
        tables=None):
    """Run the experiments, once per seed of ``seeds`` (default: ``[seed]``), and (optionally)
    store the rows after each seed and write the results page; returns ``{name: rows}`` (the
    rows of every seed, each with its ``seed``).

    ``methods`` (row names) runs only those rows of an experiment that offers it (it
    declares ``METHODS`` and its ``run`` takes ``methods``): a row added to an experiment joins its stored seeds without
    running the others again. The rows go to ``rows/partial/NAME--ROWS-HASH.json`` (one file per
    set of rows and tables, :func:`partial_name`) and are merged into
    the stored record (:func:`merge_record`). ``replace``: those rows are rerun in place of
    the stored ones (after a change to the method they measure). ``tables`` (shell-style
    patterns such as ``"images-upright/*"``, with ``methods`` only): only those tables, for
    experiments that offer it (their ``run`` takes ``tables``)."""
    names = list(EXPERIMENTS) if not only else [only] if isinstance(only, str) else list(only)
    seeds = _seed_list(seed if seeds is None else seeds)
    kwargs = {}
    if (replace or tables) and not methods:
        raise ValueError("--replace and --tables rerun some rows of stored seeds: name them with --methods.")
    if tables:
        for name in names:
            if "tables" not in inspect.signature(EXPERIMENTS[name].run).parameters:
                raise ValueError(f"experiment {name!r} runs all its tables together; --tables is not offered.")
        kwargs["tables"] = list(tables)
    if methods:
        for name in names:
            offered = getattr(EXPERIMENTS[name], "METHODS", None)
            if offered is None:
                raise ValueError(f"experiment {name!r} runs all its rows together; --methods is not offered.")
            unknown = sorted(set(methods) - set(offered))
            if unknown:
                raise ValueError(f"--methods {unknown} are not rows of {name!r}; its rows: {list(offered)}.")
        kwargs["methods"] = list(methods)
        if write:
            for name in names:
                _check_methods_run(name, methods, seeds, quick, replace, tables)
    results = {}
    t0 = time.perf_counter()
    for name in names:
        t1 = time.perf_counter()
        results[name] = []
        for k, s in enumerate(seeds):
            t2 = time.perf_counter()
            rows = [dict(r, seed=s) for r in EXPERIMENTS[name].run(quick=quick, seed=s, **kwargs)]
            results[name] += rows
            print(f"\n== {name}, seed {s} ({time.perf_counter() - t2:.0f} s)")
            for r in rows:
                inv = "—" if r["invariance_error"] is None else f"{r['invariance_error']:.1e}"
                print(f"  {r['table']:<24s} {r['method']:<50s} {r['metric']:>12s} {r['score']:.4f}  "
                      f"inv {inv:>8s}  fit {r['fit_s']:6.1f}s  tr {r['transform_s']:5.2f}s  "
                      f"target {r['target']}", flush=True)
            if write and methods:  # kept per seed; merged once every seed has run
                partial = save_rows(name, results[name], command or "python benchmarks/reproduce.py",
                                    time.perf_counter() - t1, quick, seeds[:k + 1],
                                    rows_dir=ROWS_DIR / "partial", methods=methods, replace=replace,
                                    file_name=partial_name(name, methods, tables))
                continue
            if write:  # after every seed: an interrupted run keeps the seeds it finished
                save_rows(name, results[name], command or "python benchmarks/reproduce.py",
                          time.perf_counter() - t1, quick, seeds[:k + 1])
                try:
                    write_results(load_rows())
                except Exception as exc:  # the rows are stored: `--rewrite` composes the page later
                    print(f"could not write the page yet ({type(exc).__name__}: {exc}); the rows are "
                          "stored, run with --rewrite once fixed", flush=True)
        if write and methods:
            print(f"stored {partial.relative_to(ROOT)}; merged into "
                  f"{merge_record(partial).relative_to(ROOT)}", flush=True)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if write:
        path = write_results(load_rows())
        print(f"wrote {path.relative_to(ROOT)}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    parser.add_argument("--only", choices=list(EXPERIMENTS), action="append",
                        help="run only this experiment (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="one seed (default 0)")
    parser.add_argument("--seeds", type=parse_seeds, default=None,
                        help="comma-separated seeds, e.g. 0,1,2: each experiment runs once per seed and "
                             "the page shows means ± sd (overrides --seed)")
    parser.add_argument("--methods", metavar="ROW", action="append",
                        help="run only this row (repeatable; experiments that offer it) and add it to "
                             "the stored seeds; the rows are also kept in rows/partial/ for --merge elsewhere")
    parser.add_argument("--replace", action="store_true",
                        help="with --methods: rerun those rows of the stored seeds in place of the stored ones")
    parser.add_argument("--tables", metavar="PATTERN", action="append",
                        help="with --methods: only tables matching this shell-style pattern (repeatable; "
                             "experiments that offer it), e.g. 'images-upright/*'")
    parser.add_argument("--no-write", action="store_true", help="print only; do not store rows or write the page")
    parser.add_argument("--rewrite", action="store_true",
                        help="run nothing: compose the page and figures again from the stored rows")
    parser.add_argument("--merge", metavar="RECORD.json", action="append",
                        help="run nothing: add the seeds of a record written by another checkout or machine "
                             "to the stored record of that experiment, then compose the page")
    args = parser.parse_args(argv)
    # results that do not depend on what ran before in this process (module docstring)
    os.environ.setdefault("SKCANON_NUMBA", "0")
    if args.merge:
        for path in args.merge:
            print(f"merged into {merge_record(path).relative_to(ROOT)}")
        args.rewrite = True
    if args.rewrite:
        print(f"wrote {write_results(load_rows()).relative_to(ROOT)}")
        return
    # quoted as a shell needs it (row names of --methods hold spaces)
    command = "python benchmarks/reproduce.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    run(quick=args.quick, only=args.only, seed=args.seed, seeds=args.seeds, write=not args.no_write,
        command=command.strip(), methods=args.methods, replace=args.replace, tables=args.tables)


if __name__ == "__main__":
    main()
