"""Every gallery example runs as a plain script at small sizes (``SKCANON_EXAMPLE_QUICK=1``)
and follows the gallery's conventions."""

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
#: optional packages an example needs (it is skipped without them)
NEEDS = {"plot_molecules_dataframe": ["qm9pack", "pandas"],
         "plot_rotated_images_learned": ["torch", "skorch"],
         "plot_projection_grid_search": ["pandas"], "plot_tabular_slots": ["pandas"]}


def test_gallery_has_the_promised_examples():
    names = {p.stem for p in EXAMPLES}
    assert len(names) >= 9
    for name in ("plot_molecules_dataframe", "plot_rotated_images_learned", "plot_graphs_invariant_features",
                 "plot_tabular_slots", "plot_nbody_equivariant_regressor", "plot_projection_grid_search",
                 "plot_point_cloud_canonicalization", "plot_invariant_projections", "plot_rotated_digits"):
        assert name in names, name


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_follows_the_gallery_conventions(path):
    source = path.read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(source))
    title, underline = doc.splitlines()[:2]
    assert title and set(underline) == {"="} and len(underline) >= len(title), path.name
    assert "SKCANON_EXAMPLE_QUICK" in source, f"{path.name} has no quick mode"
    assert 'matplotlib.use("Agg")' in source and 'if __name__ == "__main__":' in source


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_as_a_script_at_small_size(path, tmp_path):
    for module in NEEDS.get(path.stem, []):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{path.stem} needs {module}")
    script = tmp_path / path.name                      # figures are saved next to the script
    script.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    env = dict(os.environ, SKCANON_EXAMPLE_QUICK="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1",
               PYTHONWARNINGS="error::FutureWarning,error::DeprecationWarning:skcanon")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f"{path.name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    assert "done in" in result.stdout
    assert list(tmp_path.glob(f"{path.stem}*.png")), "no figure saved"
