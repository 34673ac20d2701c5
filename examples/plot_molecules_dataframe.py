"""
Molecules from a DataFrame
==========================

A chemist's table: one row per molecule, columns ``atom{i}_x``, ``atom{i}_y``,
``atom{i}_z`` and ``atom{i}_element`` for up to 29 atoms, empty (NaN / None) where a
molecule has fewer atoms. The rows come in arbitrary orientations, and the atoms in an
arbitrary order, so ``atom0_x`` means something different in every row. Predicting a
property (here the isotropic polarizability α of QM9 molecules) from these columns asks the
model to learn rotations and re-orderings from data.

:class:`~skcanon.CanonicalizerTransformer` with ``"SE3xS_n"`` and ``"pca+sort"`` moves every
molecule to its canonical pose (centroid at the origin, principal axes along x, y, z) and
sorts its atoms, then any regressor follows. Three steps matter for such a table:

1. the layout says which columns are points (``PointLayout.from_columns``, reading the
   atom index and component from each column name, with the element as a scalar field;
   a DataFrame given without a layout is read by these names too);
2. element symbols become numbers: atomic numbers here (given the text columns, the
   canonicalizer encodes them itself, as categories);
3. absent atoms stay NaN in the canonical output; a ``SimpleImputer`` in front of models
   that refuse NaN fills them.

Needs ``qm9pack`` (``pip install -e ".[data]"`` in the skcanon checkout), which ships the QM9 data; nothing is
downloaded at run time.
"""

# %%
# The table
# ---------
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline

from skcanon import CanonicalizerTransformer
from skcanon.datasets import load_qm9
from skcanon.layouts import PointLayout

QUICK = os.environ.get("SKCANON_EXAMPLE_QUICK", "0") not in ("", "0")  # small sizes (CI)
start = time.perf_counter()
rng = np.random.default_rng(0)

qm9 = load_qm9(n=400 if QUICK else 2000, target="alpha", shuffle=True, random_state=0)
atoms = qm9.data.reshape(len(qm9.data), 29, 4)                 # x, y, z, atomic number; NaN rows absent
atoms = np.stack([a[rng.permutation(29)] for a in atoms])       # atoms in arbitrary order
symbols = {1: "H", 6: "C", 7: "N", 8: "O", 9: "F"}
columns = {}
for i in range(29):
    for k, c in enumerate("xyz"):
        columns[f"atom{i}_{c}"] = atoms[:, i, k]
    columns[f"atom{i}_element"] = [symbols[int(z)] if z == z else None for z in atoms[:, i, 3]]
df = pd.DataFrame(columns)
y = qm9.target                                                 # polarizability α (bohr³)
print(df.iloc[:2, :8])

# %%
# Elements to numbers, columns to a layout
# ----------------------------------------
# The canonicalizer can take ``df`` as it is: given a DataFrame, it reads the points by
# column name, and a text column such as ``atom3_element`` becomes a categorical scalar
# field (each symbol replaced by its position among the sorted symbols seen in ``fit``,
# ``categories_``). Here both steps are spelled out instead, so that the element scalar
# is the atomic number and the layout is visible.
auto = CanonicalizerTransformer("SE3xS_n", fill_value=0.0).fit(df)
print(auto.layout_)
atomic_number = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}
X = df.copy()
element_columns = [c for c in df.columns if c.endswith("_element")]
X[element_columns] = df[element_columns].apply(lambda col: col.map(atomic_number)).astype(float)
layout = PointLayout.from_columns(X.columns, n_dims=3,
                                  fields=[("pos", "position"), ("element", "scalar")])
print(layout)

# %%
# Raw columns vs canonical molecules
# ----------------------------------
# The same random forest, on the columns as they are and behind the canonicalizer. The
# imputer puts 0 where atoms are absent (the canonical form keeps them NaN);
# ``CanonicalizerTransformer(..., fill_value=0.0)`` does the same in one step.
forest = RandomForestRegressor(n_estimators=50 if QUICK else 200, random_state=0)
imputer = SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True)
models = {
    "raw columns": make_pipeline(imputer, forest),
    "canonical (SE3xS_n, pca+sort)": make_pipeline(
        CanonicalizerTransformer("SE3xS_n", "pca+sort", layout=layout), imputer, forest),
}
cv = KFold(3, shuffle=True, random_state=0)
predictions = {}
for name, model in models.items():
    predictions[name] = cross_val_predict(model, X, y, cv=cv)
    print(f"{name:>30s}: R² = {r2_score(y, predictions[name]):.3f}")

# %%
# What the canonicalizer does
# ---------------------------
# Left: the largest molecule among the first rows, as stored and after a random rotation.
# Right: the canonical forms of both — the same pose, the same atom order.
canon = CanonicalizerTransformer("SE3xS_n", "pca+sort", layout=layout).fit(X)
row = int(np.argmax(X.iloc[:20].notna().sum(axis=1).to_numpy()))
theta = 2.0
rotation = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
rotated = X.iloc[[row]].copy()
for i in range(29):
    xyz = [f"atom{i}_{c}" for c in "xyz"]
    rotated[xyz] = rotated[xyz].to_numpy() @ rotation.T
both = pd.concat([X.iloc[[row]], rotated])
canonical = pd.DataFrame(np.asarray(canon.transform(both)), columns=X.columns)  # input column order


def draw(ax, frame, k, title):
    P = np.stack([frame[[f"atom{i}_{c}" for c in "xyz"]].to_numpy()[k] for i in range(29)])
    Z = frame[element_columns].to_numpy()[k]
    present = ~np.isnan(P).any(axis=1)
    colors = {1: "0.8", 6: "0.25", 7: "C0", 8: "C3", 9: "C2"}
    ax.scatter(P[present, 0], P[present, 1], P[present, 2], s=[60 if z > 1 else 25 for z in Z[present]],
               c=[colors[int(z)] for z in Z[present]], edgecolors="k", linewidths=0.4, depthshade=False)
    ax.set_title(title, fontsize=9)
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_zlim(-3, 3)
    ax.set_xticklabels([])
    ax.set_yticklabels([])
    ax.set_zticklabels([])


fig = plt.figure(figsize=(10, 3.2))
centred = both.copy()
for c in "xyz":
    cols = [f"atom{i}_{c}" for i in range(29)]
    centred[cols] = both[cols].to_numpy() - np.nanmean(both[cols].to_numpy(), axis=1, keepdims=True)
for k, (frame, j, title) in enumerate([(centred, 0, "as stored"), (centred, 1, "rotated"),
                                        (canonical, 0, "canonical (as stored)"),
                                        (canonical, 1, "canonical (rotated)")]):
    draw(fig.add_subplot(1, 4, k + 1, projection="3d"), frame, j, title)
fig.suptitle(f"{qm9.smiles[row]} — hydrogen light grey, carbon dark, N blue, O red, F green",
             fontsize=9)
fig.tight_layout()
print("canonical forms identical:", np.allclose(canonical.iloc[0], canonical.iloc[1], equal_nan=True))

fig2, axes = plt.subplots(1, 2, figsize=(8, 3.6), sharex=True, sharey=True)
for ax, (name, pred) in zip(axes, predictions.items()):
    ax.scatter(y, pred, s=4, alpha=0.5)
    lims = [y.min(), y.max()]
    ax.plot(lims, lims, "k:", lw=1)
    ax.set_title(f"{name}\nR² = {r2_score(y, pred):.2f}", fontsize=9)
    ax.set_xlabel("true α (bohr³)")
axes[0].set_ylabel("predicted α (3-fold CV)")
fig2.tight_layout()

# %%
# The canonicalized model is invariant to how each molecule was stored, and learns more
# from the same rows. Exact invariance also covers reflections with ``"E3xS_n"``.
# Invariant features are an alternative to canonical poses: ``InvariantProjector("E3xS_n",
# "sorted_distances", layout=layout)`` is cheap but not lossless (``lossless_`` is False:
# some different molecules share features); ``method="canonical"`` is lossless.

if __name__ == "__main__":
    here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
    fig.savefig(here / "plot_molecules_dataframe.png", dpi=80)
    fig2.savefig(here / "plot_molecules_dataframe_fit.png", dpi=80)
    print(f"done in {time.perf_counter() - start:.1f} s")
