"""The README's example and the main demo run and say what the README claims."""

import os
import re
import runpy
import shutil
import subprocess
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


def _bash_blocks():
    return re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_commands_run_as_root_and_as_a_user_and_match_ci():
    main, tests = _bash_blocks()[:2]
    for command in (main, tests):
        assert "sudo" not in command            # root has no sudo; .ci/system-data decides
    assert "-e . &&" in main and "torch" not in main  # the demo needs the core install only
    ci = (ROOT / ".ci" / "run").read_text()
    system_data, rest = tests.strip().split("; ", 1)
    assert system_data == ".ci/system-data" and system_data in ci
    install = re.search(r'-e "(\.\[[^"]+\])"', rest).group(1)
    assert install in ci and "torch" in install
    assert "python -m pytest -n 2" in rest and "python -m pytest -n 2" in ci
    assert os.access(ROOT / ".ci" / "system-data", os.X_OK) and os.access(ROOT / ".ci" / "run", os.X_OK)
    assert "sphinx -W" in ci and "SKCANON_EXAMPLE_QUICK=1" in ci and "python -m build" in ci


def test_system_data_script_never_fails_without_root_or_sudo(tmp_path):
    # a PATH with bash tools but no apt-get/sudo: the script notes it and exits 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("id", "bash", "dirname"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    result = subprocess.run(["bash", str(ROOT / ".ci" / "system-data")], env={"PATH": str(bin_dir)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
