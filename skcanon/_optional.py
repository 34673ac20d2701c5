"""Optional dependencies: import them on first use, or say exactly what to install.

The core install of skcanon (heuristic canonicalizers, invariant projections, layouts,
metrics, data generators) needs only NumPy, SciPy, scikit-learn and NetworkX. The
equivariant networks (``method="learned"`` / ``"random"``,
:class:`~skcanon.EndToEndEquivariantRegressor`, :mod:`skcanon.nn`) need PyTorch and skorch,
installed by the ``torch`` extra; exact graph canonical labelling with nauty uses the
``graphs`` extra. Entry points call :func:`require` (or :func:`import_torch`) before they
touch such a package, so a missing one raises an :class:`ImportError` that names the
``pip`` command instead of a bare ``No module named 'torch'``.

>>> from skcanon._optional import require
>>> require("numpy", extra="torch", purpose="this example").__name__
'numpy'
>>> print(install_hint("torch"))  # doctest: +NORMALIZE_WHITESPACE
pip install -e ".[torch]" in the skcanon checkout (CPU-only machine: pip install -c
constraints/cpu.txt -e ".[torch]" there, or first pip install torch --index-url
https://download.pytorch.org/whl/cpu, so pip does not fetch several GB of CUDA packages)
"""

from __future__ import annotations

import importlib

__all__ = ["require", "import_torch", "import_skorch", "install_hint", "EXTRAS"]

#: the extra that installs each optional top-level package
EXTRAS = {
    "torch": "torch",
    "skorch": "torch",
    "pynauty": "graphs",
    "qm9pack": "data",
    "mlxtend": "data",
    "dask": "dask",
    "dask_ml": "dask",
    "numba": "fast",
}

_CPU_HINT = (
    ' (CPU-only machine: pip install -c constraints/cpu.txt -e ".[torch]" there, or first'
    " pip install torch --index-url https://download.pytorch.org/whl/cpu, so pip does not fetch"
    " several GB of CUDA packages)"
)


def install_hint(extra):
    """The ``pip`` command that installs ``extra`` (with CPU advice for ``"torch"``)."""
    # skcanon is installed from its source checkout (it is not on PyPI, where another
    # package could hold the name)
    hint = f'pip install -e ".[{extra}]" in the skcanon checkout'
    if extra == "torch":
        hint += _CPU_HINT
    return hint


def require(module, extra=None, purpose=None):
    """Import ``module`` or raise an :class:`ImportError` naming the extra to install.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"torch"`` or ``"skorch.callbacks"``.
    extra : str, optional
        skcanon extra that installs it; looked up in :data:`EXTRAS` from the top-level
        package name when not given.
    purpose : str, optional
        What needs it, e.g. ``'method="learned"'``; goes into the message.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    ImportError
        When ``module`` (or a package it needs) cannot be imported. The message says
        ``pip install -e ".[<extra>]"``; the original error is chained.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = extra or EXTRAS.get(top)
        what = purpose or "this part of skcanon"
        message = f"{what} needs {top}, which is not installed"
        missing = getattr(exc, "name", None)
        if missing and missing.split(".")[0] != top:
            message = f"{what} needs {top}, which could not be imported (missing {missing!r})"
        if extra:
            message += f". Install it with: {install_hint(extra)}"
        raise ImportError(message, name=getattr(exc, "name", None) or top) from exc


def import_torch(purpose=None):
    """``torch``, or an :class:`ImportError` saying ``pip install -e ".[torch]"``."""
    return require("torch", extra="torch", purpose=purpose)


def import_skorch(purpose=None):
    """``skorch`` (and torch), or an :class:`ImportError` saying ``pip install -e ".[torch]"``."""
    import_torch(purpose)
    return require("skorch", extra="torch", purpose=purpose)
