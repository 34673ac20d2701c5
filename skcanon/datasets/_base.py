"""Helpers shared by the dataset loaders: argument checks, subsetting, optional data."""

from __future__ import annotations

import importlib.util
import os
from numbers import Integral

import numpy as np


def check_n(n, name="n", allow_none=True, minimum=1):
    """Validate a positive sample count (``None`` allowed when ``allow_none``)."""
    if n is None and allow_none:
        return None
    if isinstance(n, bool) or not isinstance(n, Integral) or n < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}{' or None' if allow_none else ''}, "
                         f"got {n!r}.")
    return int(n)


def check_float(x, name, minimum=0.0, strict=False, allow_inf=False):
    if isinstance(x, bool) or not isinstance(x, (Integral, float, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}.")
    x = float(x)
    if not (np.isfinite(x) or (allow_inf and x == np.inf)):
        raise ValueError(f"{name} must be finite, got {x!r}.")
    if (x < minimum) or (strict and x == minimum):
        op = ">" if strict else ">="
        raise ValueError(f"{name} must be {op} {minimum}, got {x!r}.")
    return x


def check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}.")
    return value


def check_bool(value, name):
    """A yes/no option: a truthy string such as "no" must not pass for True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}.")
    return bool(value)


def check_flat(flat):
    return check_bool(flat, "flat")


def check_seed(random_state, name="random_state"):
    """``sklearn.utils.check_random_state`` (the same stream for every valid seed), with
    errors that name ``name`` and the accepted types: numpy's own ("Seed must be between 0
    and 2**32 - 1") named neither."""
    from sklearn.utils import check_random_state

    accepted = "None, an int in [0, 2**32 - 1] or a numpy.random.RandomState instance"
    if random_state is None or random_state is np.random or isinstance(random_state, np.random.RandomState):
        return check_random_state(random_state)
    if isinstance(random_state, Integral) and not isinstance(random_state, (bool, np.bool_)):
        if not 0 <= random_state <= 2 ** 32 - 1:
            raise ValueError(f"{name} must be {accepted}; got {random_state!r}.")
        return check_random_state(random_state)
    if isinstance(random_state, np.random.Generator):
        raise TypeError(f"{name} must be {accepted}; got a numpy.random.Generator, which cannot seed the "
                        "RandomState these data are drawn from: pass an int (e.g. "
                        "int(rng.integers(2**32))) or np.random.RandomState(seed).")
    raise TypeError(f"{name} must be {accepted}; got {type(random_state).__name__} {random_state!r}.")


def subset_indices(n_total, n, shuffle, random_state):
    """Sorted-or-shuffled indices of ``n`` out of ``n_total`` (all when ``n`` is None)."""
    if n is not None and n > n_total:
        raise ValueError(f"n={n} exceeds the {n_total} samples available.")
    k = n_total if n is None else n
    if not shuffle:
        return np.arange(k)
    return check_seed(random_state).choice(n_total, size=k, replace=False)


def package_dir(module, extra, install_hint):
    """Directory of an installed package *without importing it* (some data packages have
    import-time dependencies we do not need). Raises an ImportError naming the install."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"This loader needs the {module!r} package, which is not installed. "
            f"Install it with `{install_hint}` (or `pip install -e '.[{extra}]'` in the skcanon checkout)."
        )
    return os.fspath(list(spec.submodule_search_locations)[0])
