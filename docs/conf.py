"""Sphinx configuration for skcanon.

Build (warnings are errors)::

    sphinx-build -W --keep-going -b html docs docs/_build/html            # full, runs the gallery
    SKCANON_DOCS_GALLERY=0 sphinx-build -W --keep-going -b html docs docs/_build/html   # fast

``SKCANON_DOCS_GALLERY=0`` still renders every gallery page (code and text) but does not
execute the examples, so there are no figures (the test suite builds this way).
``SKCANON_EXAMPLE_QUICK=1`` runs the examples at small sizes (CI's ``.ci/run`` builds with
the gallery executed this way). An example whose optional package is not installed
(``qm9pack`` from the ``data`` extra, ``torch`` from the ``torch`` extra) is shown but not
executed.

The API reference is generated from the ``__all__`` of each public module at build time
(into ``docs/generated/``, git-ignored), so every public class and function is documented
and nothing can be forgotten. Modules that are still being written and fail to import are
left out with a note instead of failing the build.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

import skcanon  # noqa: E402

# -- Project -------------------------------------------------------------------------------------
project = "skcanon"
author = "skcanon developers"
copyright = "skcanon developers, BSD-3-Clause"
release = skcanon.__version__
version = ".".join(release.split(".")[:2])

# -- Extensions ----------------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "generated/*.inc"]
suppress_warnings = []

# autodoc / autosummary / numpydoc
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False, "undoc-members": False}
autodoc_typehints = "none"
add_module_names = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# MyST (the topic pages written in Markdown)
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath", "colon_fence"]

# -- Gallery -------------------------------------------------------------------------------------
GALLERY = os.environ.get("SKCANON_DOCS_GALLERY", "1").strip().lower() not in ("0", "false", "no", "off")

#: examples that need an optional package; without it they are shown, not executed
EXAMPLE_NEEDS = {
    "plot_molecules_dataframe": ("qm9pack",),               # skcanon[data]
    "plot_rotated_images_learned": ("torch", "skorch"),     # skcanon[torch]
}
NOT_EXECUTED = sorted(name for name, modules in EXAMPLE_NEEDS.items()
                      if any(importlib.util.find_spec(m) is None for m in modules))
_EXECUTE = r"plot_" if not NOT_EXECUTED else (
    r"[\\/]plot_(?!(?:" + "|".join(n[len("plot_"):] for n in NOT_EXECUTED) + r")\.py)")

if not GALLERY:
    # topic pages may embed gallery figures (auto_examples/images/...), which exist only
    # when the examples run; the built page then shows the figure's alt text instead
    suppress_warnings.append("image.not_readable")

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": _EXECUTE,            # execute plot_*.py ...
    "ignore_pattern": r"^(?!plot_).*\.py$|__init__\.py",  # ... and show nothing else
    "plot_gallery": GALLERY,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
}

# -- HTML ----------------------------------------------------------------------------------------
try:
    import pydata_sphinx_theme  # noqa: F401

    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        "navbar_align": "left",
        "show_toc_level": 2,
        "navigation_with_keys": False,
        "secondary_sidebar_items": ["page-toc"],
    }
except ImportError:  # pragma: no cover - fallback theme shipped with Sphinx
    html_theme = "alabaster"
    html_theme_options = {}
html_title = f"skcanon {release}"
html_static_path = []
html_show_sourcelink = False

# -- Generated API pages -------------------------------------------------------------------------
#: Public modules documented in the API reference, in order, with a one-line summary.
#: ``optional`` modules (still being written) are skipped when they do not import.
API_MODULES = [
    ("skcanon", "Estimators", False),
    ("skcanon.groups", "Symmetry groups and their actions", False),
    ("skcanon.layouts", "Data layouts", False),
    ("skcanon.canonicalizers", "Canonicalization methods", False),
    ("skcanon.projections", "Invariant projections", True),
    ("skcanon.metrics", "Invariance and orbit metrics", False),
    ("skcanon.frames", "Frame sets for frame averaging", False),
    ("skcanon.datasets", "Datasets", False),
    ("skcanon.nn", "Equivariant networks (torch)", False),
    ("skcanon.dask", "Scale-out on Dask", False),
]

GENERATED = DOCS / "generated"


def _public_objects(module):
    """``(classes, functions, data)`` names of ``module.__all__`` (without dunders)."""
    classes, functions, data = [], [], []
    for name in getattr(module, "__all__", []):
        if name.startswith("__"):
            continue
        obj = getattr(module, name)
        if inspect.isclass(obj):
            classes.append(name)
        elif callable(obj):
            functions.append(name)
        else:
            data.append(name)
    return classes, functions, data


def _autosummary(module_name, names, template, title):
    if not names:
        return ""
    lines = [title, "-" * len(title), "", f".. currentmodule:: {module_name}", "",
             ".. autosummary::", "   :toctree: .", f"   :template: {template}", "", ]
    lines += [f"   {name}" for name in names]
    return "\n".join(lines) + "\n\n"


def _write_if_changed(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def write_api_pages():
    """One page per public module under ``generated/``, plus the toctree ``api.rst`` includes."""
    toctree, missing = [], []
    for module_name, summary, optional in API_MODULES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - a module being written must not break the build
            if not optional:
                raise
            missing.append(f"``{module_name}`` ({type(exc).__name__})")
            continue
        classes, functions, data = _public_objects(module)
        title = f"``{module_name}``: {summary}"
        text = "\n".join([
            title, "=" * len(title), "",
            f".. automodule:: {module_name}", "   :no-members:", "", "",
        ])
        text += _autosummary(module_name, classes, "class.rst", "Classes")
        text += _autosummary(module_name, functions, "function.rst", "Functions")
        text += _autosummary(module_name, data, "data.rst", "Constants")
        _write_if_changed(GENERATED / f"{module_name}.rst", text)
        toctree.append(f"   /generated/{module_name}")
    inc = [".. toctree::", "   :maxdepth: 1", ""] + toctree + [""]
    if missing:
        inc += ["", "Not documented in this build (not importable): " + ", ".join(missing) + ".", ""]
    _write_if_changed(GENERATED / "api_modules.inc", "\n".join(inc))


def write_topic_toctree():
    """Toctree of the Markdown topic pages present in ``docs/`` (datasets, projections, ...)."""
    order = ["projections", "learned", "datasets"]
    pages = sorted((p.stem for p in DOCS.glob("*.md")),
                   key=lambda s: (order.index(s) if s in order else len(order), s))
    lines = [".. toctree::", "   :maxdepth: 2", "   :caption: Topics", ""]
    lines += [f"   /{page}" for page in pages] + [""]
    _write_if_changed(GENERATED / "topics.inc", "\n".join(lines))


def write_methods_table():
    """Groups × methods table of the user guide, read from the live ``METHODS`` registry."""
    from skcanon import canonicalizers, groups

    for optional in ("skcanon.canonicalizers._learned",):  # registers "learned"/"random" once written
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(optional)
        except Exception:  # noqa: BLE001
            pass
    # one column per kind of group, each asked through an example (registration decides,
    # so a newly registered group gets its column without an edit here)
    columns = [
        ("SO(d), O(d)", "SO3"), ("SE(d), E(d)", "SE3"), ("Sim(d)", "Sim3"), ("T(d)", "T3"),
        ("scaling", "scaling"), ("S_n", "S_n"), ("C_n", "C4"), ("D_n", "D4"),
    ]
    named = [a for a in groups.EXAMPLES if a.lower() in groups.NAMED_GROUPS]
    columns += [(f"{a} (3-D)", a) for a in named]
    data = {"identity": "any", "centroid": "points", "scale": "points",
            "pca": "points (finite groups: rounded to the nearest element)", "anchored": "points",
            "moments": "images", "orbit": "points (finite groups)", "sort": "points", "wl": "graphs", "learned": "points, images",
            "random": "points, images"}
    header = ["method"] + [c for c, _ in columns] + ["data", "whole product"]
    rows = []
    for name in canonicalizers.METHODS:
        entries = [(supports, whole) for n, _, supports, whole in canonicalizers.registered_methods() if n == name]
        row = [f"``{name}``"]
        row += ["✓" if any(supports(groups.get_group(alias)) for supports, _ in entries) else ""
                for _, alias in columns]
        row += [data.get(name, ""), "yes" if any(whole for _, whole in entries) else ""]
        rows.append(row)
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header] + rows:
        lines.append("   * - " + (row[0] or " "))
        lines += ["     - " + (cell or " ") for cell in row[1:]]
    _write_if_changed(GENERATED / "methods_table.inc", "\n".join(lines) + "\n")


write_api_pages()
write_topic_toctree()
write_methods_table()
