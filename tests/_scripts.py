"""Load the repository's scripts (``benchmarks/*.py``) as modules, for the tests that check them.

The scripts are not a package: ``benchmarks/`` goes on ``sys.path`` (their shared
``_common`` and ``experiments`` modules import from there) and each load executes the file
afresh under the given module name.
"""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def load_script(name, module_name=None, register=False):
    """``benchmarks/<name>.py`` executed as a module named ``module_name`` (default
    ``_bench_<name>``); ``register`` also lists it in ``sys.modules`` (first load wins), which
    dataclasses and pickling inside the script need."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    module_name = module_name or f"_bench_{name}"
    spec = importlib.util.spec_from_file_location(module_name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules.setdefault(module_name, module)
    spec.loader.exec_module(module)
    return module


def load_reproduce():
    """``benchmarks/reproduce.py`` (registered as ``skcanon_reproduce``)."""
    return load_script("reproduce", "skcanon_reproduce", register=True)
