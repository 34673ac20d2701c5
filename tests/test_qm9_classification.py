"""The QM9 ring-class experiment of benchmarks/reproduce.py: labels from geometry on
hand-made molecules, and the rows of its quick mode."""

import importlib.util
import math

import numpy as np
import pytest
from _scripts import load_reproduce


R = load_reproduce()
Q = R.EXPERIMENTS["qm9_classification"]


def _ring(n_atoms, bond, element=6, hydrogens=2, ch=1.09):
    """A planar regular ring of ``n_atoms`` heavy atoms with ``hydrogens`` H on each, as
    rows ``(x, y, z, Z)``."""
    radius = bond / (2 * np.sin(np.pi / n_atoms))
    atoms = []
    for k in range(n_atoms):
        a = 2 * np.pi * k / n_atoms
        u = np.array([np.cos(a), np.sin(a), 0.0])
        atoms.append([*(radius * u), element])
        if hydrogens == 1:
            atoms.append([*((radius + ch) * u), 1])
        elif hydrogens == 2:  # one above, one below the ring plane, pointing outwards
            for s in (1, -1):
                d = np.array([0.55 * u[0], 0.55 * u[1], 0.83 * s])
                atoms.append([*(radius * u + ch * d / np.linalg.norm(d)), 1])
    return np.array(atoms)


def _benzene():
    return _ring(6, 1.39, hydrogens=1)


def _cyclopropane():
    return _ring(3, 1.51, hydrogens=2)


def _propane():
    """A zig-zag chain of three carbons (C–C 1.53 Å, angle 112°) with its hydrogens."""
    half = np.deg2rad(112) / 2
    C = np.array([[-1.53 * np.sin(half), -1.53 * np.cos(half), 0], [0, 0, 0],
                  [1.53 * np.sin(half), -1.53 * np.cos(half), 0]])
    atoms = [[*c, 6] for c in C]
    for i, c in enumerate(C):
        out = c - C[1] if i != 1 else np.array([0.0, 1.0, 0.0])
        out = out / max(np.linalg.norm(out), 1e-12)
        for h in range(3 if i != 1 else 2):
            z = [0.0, 0.9, -0.9][h] if i != 1 else [0.9, -0.9][h]
            d = np.array([out[0], out[1], z])
            atoms.append([*(c + 1.09 * d / np.linalg.norm(d)), 1])
    return np.array(atoms)


def _naphthalene_skeleton():
    """Two fused regular hexagons of carbons (no hydrogens): two rings, smallest of six."""
    b = 1.40
    hexagon = np.array([[b * np.cos(np.pi / 6 + k * np.pi / 3), b * np.sin(np.pi / 6 + k * np.pi / 3), 0]
                        for k in range(6)])
    second = hexagon + np.array([b * np.sqrt(3), 0, 0])
    both = np.unique(np.round(np.vstack([hexagon, second]), 6), axis=0)
    return np.column_stack([both, np.full(len(both), 6)])


def _padded(*molecules, n_atoms=29):
    out = np.full((len(molecules), n_atoms, 4), np.nan)
    for i, m in enumerate(molecules):
        out[i, : len(m)] = m
    return out


def test_bond_rule_on_known_molecules():
    adj = Q.bond_graph(_benzene())
    assert adj.sum() // 2 == 12  # six C–C and six C–H
    assert Q.cycle_rank(adj) == 1 and Q.smallest_ring(adj) == 6
    adj = Q.bond_graph(_cyclopropane())
    assert adj.sum() // 2 == 9  # three C–C and six C–H
    assert Q.cycle_rank(adj) == 1 and Q.smallest_ring(adj) == 3
    adj = Q.bond_graph(_propane())
    assert adj.sum() // 2 == 10  # two C–C and eight C–H
    assert Q.cycle_rank(adj) == 0 and Q.smallest_ring(adj) == 0
    adj = Q.bond_graph(_naphthalene_skeleton())
    assert Q.cycle_rank(adj) == 2 and Q.smallest_ring(adj) == 6


def test_ring_labels_of_known_molecules_in_any_pose_and_order():
    from skcanon.groups import get_group
    from skcanon.layouts import PointLayout

    X = _padded(_benzene(), _cyclopropane(), _propane(), _naphthalene_skeleton())
    expected = [Q.RING_CLASSES.index("6+-ring"), Q.RING_CLASSES.index("3-ring"),
                Q.RING_CLASSES.index("no ring"), Q.RING_CLASSES.index("6+-ring")]
    assert Q.ring_labels(X).tolist() == expected
    assert Q.ring_labels(X, kind="count").tolist() == [1, 1, 0, 2]
    # flat input, random E(3) poses and shuffled rows (absent atoms included) give the same labels
    layout = PointLayout(3, fields=[("pos", "position"), ("Z", "scalar")])
    G = get_group("E3xS_n")
    moved = G.apply(G.sample(len(X), 0, n_points=29), X.reshape(len(X), -1), layout)
    assert Q.ring_labels(moved).tolist() == expected
    assert Q.ring_labels(moved, kind="count").tolist() == [1, 1, 0, 2]
    counts = Q.element_counts(moved)
    assert counts[0].tolist() == [6, 6, 0, 0, 0] and counts[2].tolist() == [8, 3, 0, 0, 0]


def test_smallest_ring_and_cycle_rank_match_networkx():
    nx = pytest.importorskip("networkx")
    rng = np.random.default_rng(0)
    for trial in range(60):
        n = int(rng.integers(1, 14))
        adj = np.triu(rng.random((n, n)) < rng.uniform(0.05, 0.5), 1)
        adj = adj | adj.T
        G = nx.from_numpy_array(adj.astype(int))
        basis = nx.minimum_cycle_basis(G)
        assert Q.smallest_ring(adj) == (min(map(len, basis)) if basis else 0), trial
        assert Q.cycle_rank(adj) == len(basis), trial


def test_smiles_ring_closures():
    assert Q.smiles_ring_closures("CCC") == 0
    assert Q.smiles_ring_closures("C1CC1") == 1
    assert Q.smiles_ring_closures("c1ccc2ccccc2c1") == 2
    assert Q.smiles_ring_closures("[NH3+]CC(=O)[O-]") == 0  # digits inside brackets are not closures
    assert Q.smiles_ring_closures("C1C%10CC1%10") == 2


def test_ring_labels_refuse_bad_input():
    with pytest.raises(ValueError, match="kind"):
        Q.ring_labels(_padded(_benzene()), kind="size")
    with pytest.raises(ValueError, match="4 columns"):
        Q.ring_labels(np.zeros((2, 7)))
    with pytest.raises(ValueError, match="covalent radius"):
        Q.ring_labels(np.array([[[0, 0, 0, 17.0], [1.8, 0, 0, 6.0]]]))


@pytest.fixture(scope="module")
def quick_rows():
    if importlib.util.find_spec("qm9pack") is None:  # located, never imported (see load_qm9)
        pytest.skip("QM9 data not installed: pip install qm9pack")
    return Q.run(quick=True, seed=0)


@pytest.mark.slow
def test_quick_experiment_rows(quick_rows, tmp_path):
    from skcanon.canonicalizers import METHODS

    names = [r["method"] for r in quick_rows]
    expected = [Q.COMPOSITION, Q.RAW, Q.PCA_SORT, Q.PCA_SORT_COLUMNS, Q.RANDOM, Q.LEARNED, Q.LEARNED_CAT,
                *([Q.ANCHORED] if "anchored" in METHODS else []), Q.PROJECTOR]
    assert names == expected
    for r in quick_rows:
        assert r["table"] == "qm9-rings" and r["metric"] == "accuracy"
        assert r["target"] in ("met", "missed", "—")
        assert math.isfinite(r["score"]), r.get("note")
        assert 0.0 <= r["score"] <= 1.0
    r = {row["method"]: row for row in quick_rows}
    counts = r[Q.RAW]["class_counts"]
    assert len(counts) == len(Q.RING_CLASSES) and sum(counts) == Q.SIZES["quick"]["n"]
    assert min(counts) > 0
    assert r[Q.RAW]["smiles_agreement"] > 0.99  # the bond rule agrees with QM9's SMILES rings
    # canonicalized and projected pipelines are invariant; raw coordinates are not
    for name in (Q.COMPOSITION, Q.PCA_SORT, Q.PCA_SORT_COLUMNS, Q.PROJECTOR):
        assert r[name]["invariance_error"] < 1e-8, name
    assert r[Q.RAW]["invariance_error"] > 1e-2
    assert r[Q.LEARNED]["target"] in ("met", "missed")
    # distances see the rings; element counts alone do not (a wide margin even at quick size)
    assert r[Q.PROJECTOR]["score"] > r[Q.COMPOSITION]["score"] + 0.05
    # the results page gets the section, written from the stored rows
    rows_dir = tmp_path / "rows"
    R.save_rows("qm9_classification", quick_rows, "python benchmarks/reproduce.py --quick", 1.0, True, 0,
                rows_dir=rows_dir)
    text = R.write_results(R.load_rows(rows_dir), path=tmp_path / "results.md",
                           fig_dir=tmp_path / "fig").read_text()
    assert "## QM9 ring classes" in text and "| qm9_classification |" in text
    assert "| method |" in text and Q.LEARNED in text
    assert (tmp_path / "fig" / "qm9_rings.png").stat().st_size > 0
