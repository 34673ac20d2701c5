"""benchmarks/experiments/nbody_frames.py: the section pools seeds and judges the target on
the means (fake rows, no training), and the quick run gives exactly equivariant
frame-averaged rows (marked slow: it trains the backbone)."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
M = importlib.import_module("experiments.nbody_frames")


def _fake_rows(scores_by_seed):
    rows = []
    for seed, scores in scores_by_seed.items():
        for method, score in scores.items():
            rows.append(M.result_row("nbody_frames", "nbody_frames", method, "MSE", score, 1e-16, 10.0, 0.1,
                                     target="met" if score <= M.TARGET else "missed", seed=seed,
                                     valid_mse=score, frames_per_sample=8.0, epochs=8, predict_s=1.0,
                                     generation_s=3.0, symmetrization_available=1.0))
    return rows


def test_section_pools_seeds_and_judges_the_target_on_the_means(tmp_path):
    pca, sym = M.FRAME_ROWS["pca"], M.SYMMETRIZE
    # symmetrization: below the target in 2 of 3 seeds, mean above it
    rows = _fake_rows({0: {pca: 0.0050, sym: 0.0040}, 1: {pca: 0.0052, sym: 0.0044},
                       2: {pca: 0.0049, sym: 0.0060}})
    text = M.section(rows, quick=False, fig_dir=tmp_path)
    assert "mean ± sd over 3 seeds" in text or "over 3 seeds" in text
    line = next(ln for ln in text.splitlines() if ln.startswith(f"| {sym} "))
    assert "missed" in line and "2/3" in line          # judged on the mean 0.00480
    assert "misses the ≤ 0.0045 target" in text
    assert (tmp_path / "nbody_frames.png").exists()


def test_section_says_when_symmetrization_is_missing(tmp_path):
    rows = _fake_rows({0: {M.FRAME_ROWS["pca"]: 0.004}})
    for r in rows:
        r["symmetrization_available"] = 0.0
    text = M.section(rows, quick=True, fig_dir=tmp_path)
    assert "meets the ≤ 0.0045 target" in text
    assert "Probabilistic symmetrization has no row" in text


@pytest.mark.slow
def test_quick_run_rows_are_exactly_equivariant():
    pytest.importorskip("torch")
    rows = M.run(quick=True, seed=0)
    by = {r["method"]: r for r in rows}
    for frames, name in M.FRAME_ROWS.items():
        assert by[name]["invariance_error"] < 1e-6
        assert np.isfinite(by[name]["score"]) and by[name]["score"] < 0.1
    k = {frames: by[name]["frames_per_sample"] for frames, name in M.FRAME_ROWS.items()}
    assert k["minimal"] < 1.5 < k["pca"]
