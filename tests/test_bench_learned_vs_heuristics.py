"""benchmarks/bench_learned_vs_heuristics.py runs in quick mode and prints its rows and JSON line.

Smoke test only: tiny sizes, no check of the numbers (the docs table comes from the full run).
"""

import json

import pytest
from _scripts import load_script

pytest.importorskip("torch")
pytest.importorskip("skorch")


def _module():
    return load_script("bench_learned_vs_heuristics")


def test_quick_mode_prints_every_row_and_one_json_line(capsys):
    import torch

    threads = torch.get_num_threads()
    mod = _module()
    try:
        mod.main(["--quick", "--n", "60", "--n-estimators", "10"])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["bench"] == "learned_vs_heuristics" and record["seeds"] == [0] and record["n_samples"] == 60
    datasets = ["shapes"] + (["qm9"] if mod.qm9_available() else [])
    methods = ["pca+sort", "random", "learned", "anchored", "projector"]
    rows = {(r["method"], r["data"]): r for r in record["rows"]}
    assert set(rows) == {(m, d) for m in methods for d in datasets}
    for r in rows.values():
        assert len(r["accuracy"]) == 1 and 0.0 <= r["mean"] <= 1.0 and r["fit_s"] >= 0.0
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| method | point shapes")
    for m in methods:
        assert any(line.startswith(f"| {mod.LABELS[m]} |") for line in table), m
