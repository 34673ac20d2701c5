"""The benchmark suite runs and prints one parseable JSON line per row (no timing checks)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
