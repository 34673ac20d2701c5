"""
Tabular data with exchangeable slots: player positions
======================================================

Many tables hold a *set* in a fixed number of columns: the positions of the players on the
pitch in one video frame, the items of a basket, the atoms of a molecule. The order of the
slots means nothing — player 0 of one row is not player 0 of the next — and a model that
reads ``player0_x`` as one feature learns little.

Here a :class:`~sklearn.compose.ColumnTransformer` canonicalizes only the player columns
with :class:`~skcanon.CanonicalizerTransformer` (``"T2xS_n"``: translate the team's
centroid to the origin, then sort the players) and passes the context columns through
(one-hot encoding ``period``). The data set comes from
:func:`skcanon.datasets.make_player_positions`: each row is a team in one of five
formations, anywhere on the pitch, players in random slot order. DataFrames go in and come
out (pandas here; polars works the same with ``set_output(transform="polars")``).
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
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from skcanon import CanonicalizerTransformer
from skcanon.datasets import make_player_positions

QUICK = os.environ.get("SKCANON_EXAMPLE_QUICK", "0") not in ("", "0")  # small sizes (CI)
start = time.perf_counter()

d = make_player_positions(n_samples=300 if QUICK else 1500, random_state=0, as_frame=True)
X, y = d.data, d.target
print(X.iloc[:3, :7])
print("slot columns:", d.point_columns[:4], "...", "  context columns:", d.context_columns)

# %%
# Canonicalize the slots, pass the rest through
# ---------------------------------------------
# ``d.layout`` is ``PointLayout(2)``: the player columns, in the order given to the
# ColumnTransformer, are ``x, y`` of player 0, then player 1, ... (point-major). Columns
# named by player and coordinate can also be read by name, in any order, with
# ``PointLayout.from_columns(d.point_columns, n_dims=2)``; a DataFrame whose columns all
# name points is read by name by default (``layout`` may be left out), and one that mixes
# them with other columns is refused rather than read in column order.


def slots_pipeline(method):
    columns = ColumnTransformer(
        [("players", CanonicalizerTransformer("T2xS_n", method, layout=d.layout), d.point_columns),
         ("period", OneHotEncoder(sparse_output=False), ["period"])],
        remainder="passthrough", verbose_feature_names_out=False)
    return make_pipeline(columns, RandomForestClassifier(n_estimators=100, random_state=0))


pipe = slots_pipeline("centroid+sort").set_output(transform="pandas")
canonical = pipe[0].fit_transform(X)
print(canonical.iloc[:3].round(1))

# %%
# Accuracy: raw slots vs canonical slots
# --------------------------------------
# ``"identity"`` keeps the raw columns; ``"centroid"`` removes the position on the pitch
# only; ``"sort"`` only re-orders the players; ``"centroid+sort"`` does both.
scores = {}
for method in ("identity+identity", "centroid+identity", "identity+sort", "centroid+sort"):
    scores[method] = cross_val_score(slots_pipeline(method), X, y, cv=3).mean()
    print(f"{method:>18s}: accuracy {scores[method]:.3f}")

# %%
# What the canonicalizer does
# ---------------------------
# Top: one row of each formation as recorded — anywhere on the pitch, the slot number
# written next to each player. Bottom: the same rows after ``"centroid+sort"``: centred,
# and the players re-numbered by one fixed rule, so that slot ``k`` means the same
# position in the formation in every row.
rows = [int(np.flatnonzero(y.to_numpy() == name)[0]) for name in d.target_names]
n_players = len(d.point_columns) // 2
raw_points = X[d.point_columns].to_numpy().reshape(len(X), n_players, 2)
canon_points = canonical.iloc[:, :2 * n_players].to_numpy().reshape(len(X), n_players, 2)  # players first
fig, axes = plt.subplots(2, len(rows), figsize=(2.3 * len(rows), 4.6))
for c, (row, name) in enumerate(zip(rows, d.target_names)):
    for r, points in enumerate((raw_points, canon_points)):
        ax = axes[r, c]
        P = points[row]
        ax.scatter(P[:, 0], P[:, 1], c=np.arange(n_players), cmap="viridis", s=30, vmin=0,
                   vmax=n_players - 1)
        for slot, (px, py) in enumerate(P):
            ax.annotate(str(slot), (px, py), textcoords="offset points", xytext=(3, 3), fontsize=7)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
            ax.set_xlim(0, 105)
            ax.set_ylim(0, 68)
            ax.set_title(name, fontsize=9)
        else:
            ax.set_xlim(-22, 22)
            ax.set_ylim(-22, 22)
axes[0, 0].set_ylabel("as recorded\n(pitch, random slots)", fontsize=8)
axes[1, 0].set_ylabel("canonical\n(centred, sorted)", fontsize=8)
fig.tight_layout()

fig2, ax = plt.subplots(figsize=(6, 2.8))
ax.barh(list(scores), list(scores.values()), color=["0.6", "0.6", "0.6", "C0"])
ax.axvline(1 / len(d.target_names), color="k", ls=":", lw=1, label="chance")
ax.set_xlim(0, 1)
ax.set_xlabel("3-fold accuracy (random forest)")
ax.set_title("Formation from player positions")
ax.legend(fontsize=8)
fig2.tight_layout()

# %%
# Only both steps together make the slots comparable across rows: the forest then reads
# the formation off the sorted, centred positions.

if __name__ == "__main__":
    here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
    fig.savefig(here / "plot_tabular_slots.png", dpi=80)
    fig2.savefig(here / "plot_tabular_slots_accuracy.png", dpi=80)
    print(f"done in {time.perf_counter() - start:.1f} s")
