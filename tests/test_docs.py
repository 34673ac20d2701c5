"""The documentation builds without warnings, and its API reference covers the public API."""

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load_conf():
    """docs/conf.py as a module (it also writes the generated API pages)."""
    spec = importlib.util.spec_from_file_location("skcanon_docs_conf", DOCS / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx", reason="sphinx is not installed (pip install -e '.[docs]' in the checkout)")
    for extension in ("numpydoc", "myst_parser", "sphinx_gallery"):
        pytest.importorskip(extension, reason=f"{extension} is not installed (pip install -e '.[docs]' in the checkout)")
    env = dict(os.environ, SKCANON_DOCS_GALLERY="0", MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
           "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stdout}\n{result.stderr}"
    html = tmp_path / "html"
    for page in ("index.html", "user_guide.html", "api.html", "scaling.html", "auto_examples/index.html",
                 "generated/skcanon.CanonicalizerTransformer.html", "generated/skcanon.dask.transform_dask.html"):
        assert (html / page).is_file(), page
    # every Markdown topic page is part of the site
    for md in DOCS.glob("*.md"):
        assert (html / f"{md.stem}.html").is_file(), md.name
    # the gallery shows the plot_* examples only
    gallery = {p.name for p in (html / "auto_examples").glob("*.html")}
    for example in (ROOT / "examples").glob("*.py"):
        assert (f"{example.stem}.html" in gallery) == example.name.startswith("plot_"), example.name


def test_api_reference_lists_every_public_name():
    pytest.importorskip("sphinx", reason="sphinx is not installed (pip install -e '.[docs]' in the checkout)")
    conf = _load_conf()
    generated = DOCS / "generated"
    listed = (generated / "api_modules.inc").read_text(encoding="utf-8")
    for module_name, _, optional in conf.API_MODULES:
        page = generated / f"{module_name}.rst"
        if not page.exists():
            assert optional, f"required module {module_name} has no API page"
            continue
        assert f"/generated/{module_name}" in listed
        text = page.read_text(encoding="utf-8")
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if not name.startswith("__"):
                assert f"\n   {name}\n" in text, f"{module_name}.{name} missing from the API reference"


def test_methods_table_follows_registry():
    pytest.importorskip("sphinx", reason="sphinx is not installed (pip install -e '.[docs]' in the checkout)")
    _load_conf()
    from skcanon.canonicalizers import METHODS

    table = (DOCS / "generated" / "methods_table.inc").read_text(encoding="utf-8")
    for name in METHODS:
        assert f"``{name}``" in table


def test_install_instructions_do_not_claim_a_release():
    """skcanon is not on PyPI: the docs install from a clone or a built wheel, torch as an extra."""
    for path in (DOCS / "index.rst", ROOT / "README.md"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"pip install skcanon(\s|$)", text), path.name
        assert "skcanon[torch]" in text or '".[torch' in text, path.name
        assert "constraints/cpu.txt" in text, path.name
        assert "python -m build" in text, path.name


def test_gallery_runs_examples_only_when_their_optional_packages_exist():
    pytest.importorskip("sphinx", reason="sphinx is not installed (pip install -e '.[docs]' in the checkout)")
    conf = _load_conf()
    pattern = conf.sphinx_gallery_conf["filename_pattern"]
    for example in (ROOT / "examples").glob("plot_*.py"):
        runs = re.search(pattern, str(example)) is not None
        assert runs == (example.stem not in conf.NOT_EXECUTED), example.name
    for name, modules in conf.EXAMPLE_NEEDS.items():
        assert (ROOT / "examples" / f"{name}.py").is_file(), name
        missing = any(importlib.util.find_spec(m) is None for m in modules)
        assert (name in conf.NOT_EXECUTED) == missing
