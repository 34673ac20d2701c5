"""QM9 molecules as NaN-padded point sets, read from the ``qm9pack`` package's CSV files."""

from __future__ import annotations

import ast
import csv
import functools
import os

import numpy as np
from sklearn.utils import Bunch

from ..layouts import PointLayout
from ._base import check_bool, check_flat, check_n, check_seed, package_dir, subset_indices
from ._graphs import _target_names

__all__ = ["load_qm9", "QM9_TARGETS"]

_FILES = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
_Z = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}
MAX_ATOMS = 29
#: Molecules in qm9pack's three CSV files (rows are counted where it matters).
N_MOLECULES = 130_831

#: Short target name -> (CSV column, unit).
QM9_TARGETS = {
    "mu": ("Dipole_debye", "Debye"),
    "alpha": ("Polarizability_bohr3", "bohr^3"),
    "homo": ("HOMO_au", "Hartree"),
    "lumo": ("LUMO_au", "Hartree"),
    "gap": ("HOMO_LUMO_gap_au", "Hartree"),
    "r2": ("R2_bohr2", "bohr^2"),
    "zpve": ("ZPVE_au", "Hartree"),
    "U0": ("InternalEnergy_0K_au", "Hartree"),
    "U": ("InternalEnergy_298K_au", "Hartree"),
    "H": ("Enthalphy_298K_au", "Hartree"),
    "G": ("GibbsFreeEnergy_298K_au", "Hartree"),
    "Cv": ("Heatcapacity_Cv_cal_mol_K", "cal/(mol K)"),
    "A": ("RotA_GHz", "GHz"),
    "B": ("RotB_GHz", "GHz"),
    "C": ("RotC_GHz", "GHz"),
}


def _data_dir():
    base = package_dir("qm9pack", "data", "pip install qm9pack")
    folder = os.path.join(base, "data")
    missing = [f for f in _FILES if not os.path.exists(os.path.join(folder, f))]
    if missing:
        raise ImportError(f"qm9pack is installed but its data files {missing} are missing from "
                          f"{folder}; reinstall with `pip install --force-reinstall qm9pack`.")
    return folder


@functools.lru_cache(maxsize=8)
def _count_rows(path, size, mtime):
    """Data rows in a CSV (newline count minus the header); cached per file version."""
    count = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 24), b""):
            count += chunk.count(b"\n")
    return count - 1


def _rows(path):
    st = os.stat(path)
    return _count_rows(path, st.st_size, st.st_mtime)


def _to_float(text):
    return float(text.replace("*^", "e"))


def _iter_selected(folder, wanted):
    """Yield ``(global_index, row dict)`` for the sorted global row indices ``wanted``,
    reading only up to the last wanted row and parsing only the wanted lines."""
    wanted = np.sort(np.asarray(wanted, dtype=np.int64))
    offset = 0
    pos = 0
    for name in _FILES:
        if pos >= wanted.size:
            return
        path = os.path.join(folder, name)
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader([fh.readline()]))
            local = 0
            for line in fh:
                if pos >= wanted.size:
                    return
                if offset + local == wanted[pos]:
                    values = next(csv.reader([line]))
                    yield int(wanted[pos]), dict(zip(header, values))
                    pos += 1
                local += 1
        offset += local


def _resolve_targets(target):
    names = _target_names(target, QM9_TARGETS)
    if not names:
        raise ValueError("target must name at least one QM9 property.")
    columns, units, canonical = [], [], []
    # a CSV column name is reported by its short name, as documented (each column has one)
    short_of = {col: name for name, (col, _) in QM9_TARGETS.items()}
    # short names in any case ("cv", "u0"): they stay distinct when lower-cased
    by_lower = {name.lower(): name for name in QM9_TARGETS}
    for t in names:
        t = by_lower.get(t.lower(), t) if isinstance(t, str) else t
        if not isinstance(t, str) or (t not in QM9_TARGETS and t not in short_of):
            raise ValueError(f"target must be one of {list(QM9_TARGETS)} (or their CSV column "
                             f"names; short names in any case), got {t!r}.")
        t = short_of.get(t, t)
        col, unit = QM9_TARGETS[t]
        columns.append(col)
        units.append(unit)
        canonical.append(t)
    return canonical, columns, units


def load_qm9(n=None, target="gap", random_state=None, *, shuffle=False, flat=True,
             return_X_y=False):
    """Load QM9 molecules as point sets of atoms (coordinates + atomic number).

    Reads the CSV files shipped inside the ``qm9pack`` package (located with
    :mod:`importlib` without importing it; no download). Install with
    ``pip install qm9pack`` or ``pip install -e ".[data]"`` in the skcanon checkout (about 224 MB of CSV).
    Only the requested rows are parsed: ``n=100`` costs milliseconds with
    ``shuffle=False`` and about a second with ``shuffle=True`` (one pass over the lines).

    Parameters
    ----------
    n : int or None, default=None
        Number of molecules; ``None`` loads all 130,831 (slow: every row is parsed).
    target : str or list of str, default="gap"
        Property (or properties) to return as ``target``, by short name (units as stored
        in QM9, atomic units for energies):

        ====== ========================== ============
        name   property                   unit
        ====== ========================== ============
        mu     dipole moment              Debye
        alpha  isotropic polarizability   bohr^3
        homo   HOMO energy                Hartree
        lumo   LUMO energy                Hartree
        gap    HOMO-LUMO gap              Hartree
        r2     electronic spatial extent  bohr^2
        zpve   zero-point vib. energy     Hartree
        U0     internal energy at 0 K     Hartree
        U      internal energy at 298 K   Hartree
        H      enthalpy at 298 K          Hartree
        G      free energy at 298 K       Hartree
        Cv     heat capacity at 298 K     cal/(mol K)
        A,B,C  rotational constants       GHz
        ====== ========================== ============

        (1 Hartree = 27.2114 eV.) Short names are read in any case (``"cv"`` is ``"Cv"``;
        ``target_names`` spells them as above); the CSV column names are accepted too,
        ``target_names`` giving their short names. A list gives a 2-D target
        ``(n, len(target))``.
    random_state : int, RandomState instance or None, default=None
        Seeds the random subset when ``shuffle=True``.
    shuffle : bool, default=False
        ``False``: the first ``n`` molecules in QM9 order (fast, small molecules first).
        ``True``: ``n`` molecules drawn uniformly at random, in random order.
    flat : bool, default=True
        ``True``: ``data`` is ``(n, 29 * 4)`` point-major; ``False``: ``(n, 29, 4)``.
    return_X_y : bool, default=False
        Return ``(data, target)`` only.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data``: atoms as points with layout ``PointLayout(3, [pos:position, Z:scalar])``
        — coordinates in Ångström as stored (not centred) and the atomic number; rows
        beyond a molecule's atoms are NaN (absent points). ``target``, ``target_names``,
        ``target_units``, ``n_atoms``, ``smiles``, ``index`` (QM9 molecule index),
        ``layout``, ``feature_names``, ``DESCR``.

    Raises
    ------
    ImportError
        When ``qm9pack`` is not installed (the message names the install command).

    Examples
    --------
    >>> from skcanon.datasets import load_qm9
    >>> d = load_qm9(n=3)  # doctest: +SKIP
    >>> d.data.shape, d.n_atoms  # doctest: +SKIP
    ((3, 116), array([5, 4, 3]))
    """
    n = check_n(n)
    names, columns, units = _resolve_targets(target)
    check_seed(random_state)   # before the files are read (only a shuffle uses it)
    shuffle = check_bool(shuffle, "shuffle")
    flat = check_flat(flat)
    return_X_y = check_bool(return_X_y, "return_X_y")
    folder = _data_dir()
    if shuffle or n is None or n > N_MOLECULES:
        # one fast pass over the bytes (cached per file version): an n beyond the rows is
        # refused here, before any row is parsed
        total = sum(_rows(os.path.join(folder, f)) for f in _FILES)
    else:
        total = n  # the first n rows, parsed only up to the n-th (a short file is caught below)
    idx = subset_indices(total, n, shuffle, random_state)
    order = np.argsort(idx, kind="stable")

    k = idx.size
    P = np.full((k, MAX_ATOMS, 4), np.nan)
    y = np.empty((k, len(columns)))
    n_atoms = np.zeros(k, dtype=np.int64)
    smiles = np.empty(k, dtype=object)
    index = np.zeros(k, dtype=np.int64)
    got = 0
    for slot, (_, row) in zip(order, _iter_selected(folder, idx[order])):
        xyz = np.asarray(ast.literal_eval(row["XYZ_Ang"]), dtype=np.float64).reshape(-1, 3)
        Z = [_Z[e] for e in ast.literal_eval(row["Elements"])]
        m = len(Z)
        P[slot, :m, :3] = xyz
        P[slot, :m, 3] = Z
        n_atoms[slot] = m
        y[slot] = [_to_float(row[c]) for c in columns]
        smiles[slot] = row["SMILES"]
        index[slot] = int(row["Index"])
        got += 1
    if got < k:
        raise ValueError(f"n={n} exceeds the {got} molecules available in QM9.")

    layout = PointLayout(3, fields=[("pos", "position"), ("Z", "scalar")])
    y = y[:, 0] if isinstance(target, str) else y
    data = P.reshape(k, -1) if flat else P
    if return_X_y:
        return data, y
    descr = ("QM9 (via qm9pack)\n-----------------\n"
             f"{k} small organic molecules (C, H, N, O, F; up to {MAX_ATOMS} atoms) with DFT "
             "properties (Ramakrishnan et al. 2014). Atoms are points: pos (Angstrom, position) "
             "and Z (atomic number, scalar); absent atoms are NaN rows. Targets: "
             + ", ".join(f"{a} [{u}]" for a, u in zip(names, units))
             + ". Properties are E(3)- and permutation-invariant.")
    return Bunch(data=data, target=y, target_names=np.asarray(names, dtype=object),
                 target_units=np.asarray(units, dtype=object), n_atoms=n_atoms, smiles=smiles,
                 index=index, layout=layout, feature_names=layout.feature_names(MAX_ATOMS),
                 DESCR=descr)
