"""The README's example and the main demo run and say what the README claims."""

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_runs_and_picks_the_canonicalization(capsys):
    code = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    assert "'pca+sort'" in capsys.readouterr().out


@pytest.mark.slow
def test_demo_quick_mode_orders_the_methods():
    demo = runpy.run_path(str(ROOT / "examples" / "demo_point_shapes.py"))
    rows = {name: (acc, inv) for name, acc, inv, *_ in demo["main"](["--quick"])}
    raw = rows["raw coordinates (identity)"]
    pca = rows["PCA frame + sort (SE3xS_n)"]
    assert pca[0] > raw[0] + 0.2          # canonicalization helps the same classifier
    assert pca[1] < 1e-9 < raw[1]         # and makes it invariant
