"""
Graphs to invariant features
============================

A graph has no natural node order: the same molecule, road network or social circle can
be stored with its nodes numbered in any of ``n!`` ways. A model fed the adjacency matrix
as it comes sees a different input for each numbering. skcanon offers two ways to feed
networkx graphs to any scikit-learn model with the same features for every numbering:

* :class:`~skcanon.InvariantProjector` with ``method="spectrum"``: the sorted eigenvalues
  of the graph's Laplacian and adjacency matrices — invariant, cheap, but two
  non-isomorphic graphs can share a spectrum;
* :class:`~skcanon.CanonicalizerTransformer` with ``method="wl"``: an exact canonical
  labelling — the adjacency matrix in a node order that depends on the graph only, so
  isomorphic graphs give identical rows and nothing is lost.

The data are all 1,249 graphs with 3 to 7 nodes from networkx's graph atlas
(:func:`skcanon.datasets.load_graph_atlas`), each with its nodes renumbered at random, and
two labels to predict: the number of triangles and the diameter.
"""

# %%
# Graphs in arbitrary node order
# ------------------------------
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline

from skcanon import CanonicalizerTransformer, InvariantProjector
from skcanon.datasets import graphs_to_arrays, load_graph_atlas

QUICK = os.environ.get("SKCANON_EXAMPLE_QUICK", "0") not in ("", "0")  # small sizes (CI)
start = time.perf_counter()
rng = np.random.default_rng(0)

atlas = load_graph_atlas(min_nodes=3, max_nodes=7, target=["n_triangles", "diameter"])
graphs = [nx.relabel_nodes(G, dict(zip(G, rng.permutation(len(G))))) for G in atlas.graphs]
if QUICK:
    keep = rng.choice(len(graphs), 400, replace=False)
    graphs, targets = [graphs[i] for i in keep], atlas.target[keep]
else:
    targets = atlas.target
print(f"{len(graphs)} graphs; labels: {list(atlas.target_names)}")

# %%
# Three representations
# ---------------------
# ``graphs_to_arrays`` encodes each graph as its padded adjacency matrix (plus node
# degrees) in the order it comes; the other two are invariant. ``layout="graph"`` tells
# the estimators that ``X`` is a list of networkx graphs; it is required (without it a
# list of graphs is refused with an error that says to pass it).
representations = {
    "adjacency as stored": None,
    "Laplacian spectrum\n(InvariantProjector)": InvariantProjector("S_n", "spectrum", layout="graph"),
    "canonical labelling\n(CanonicalizerTransformer)": CanonicalizerTransformer("S_n", "wl", layout="graph"),
}
X_raw, _ = graphs_to_arrays(graphs, n_nodes=7, padding="zero")

forest = RandomForestRegressor(n_estimators=50 if QUICK else 200, random_state=0)
cv = KFold(3 if QUICK else 5, shuffle=True, random_state=0)
scores = {}
for label, step in representations.items():
    X, model = (X_raw, forest) if step is None else (graphs, make_pipeline(step, forest))
    scores[label] = [cross_val_score(model, X, targets[:, k], cv=cv, scoring="r2").mean()
                     for k in range(targets.shape[1])]
    print(f"{label.splitlines()[0]:>22s}: R² " + ", ".join(
        f"{name} {s:.3f}" for name, s in zip(atlas.target_names, scores[label])))

# %%
# Same graph, any numbering, one canonical form
# ---------------------------------------------
# Top: one graph in four random numberings (the number on each node is its position in
# the input). Bottom: the same four after ``CanonicalizerTransformer("S_n", "wl")``: drawn
# from the canonical adjacency rows, all four are the same numbered graph.
canon = CanonicalizerTransformer("S_n", "wl", layout="graph").fit(graphs)
six = [G for G, k in zip(atlas.graphs, atlas.target[:, 0]) if len(G) == 6 and k == 2]
G = six[len(six) // 2]                                      # a 6-node graph with 2 triangles
versions = [nx.relabel_nodes(G, dict(zip(G, rng.permutation(len(G))))) for _ in range(4)]
rows = np.asarray(canon.transform(versions), dtype=float)
n_max = 7                                                   # padded to the largest graph in fit
fig, axes = plt.subplots(2, 4, figsize=(9, 4.6))
for c, H in enumerate(versions):
    A = rows[c].reshape(n_max, -1)[:len(G), :len(G)]                      # canonical adjacency
    canonical_graph = nx.from_numpy_array(np.nan_to_num(A))
    for r, (graph, title) in enumerate(((H, "as stored"), (canonical_graph, "canonical"))):
        ax = axes[r, c]
        nx.draw_networkx(graph, pos=nx.circular_layout(sorted(graph)), ax=ax, node_size=220,
                         node_color="C0" if r == 0 else "C2", font_size=8, font_color="w")
        ax.set_title(f"{title} #{c + 1}", fontsize=8)
        ax.axis("off")
fig.tight_layout()

fig2, ax = plt.subplots(figsize=(7, 3))
width = 0.25
for i, (label, s) in enumerate(scores.items()):
    ax.bar(np.arange(len(s)) + (i - 1) * width, s, width, label=label.replace("\n", " "))
ax.set_xticks(np.arange(len(atlas.target_names)), [f"predict {t}" for t in atlas.target_names])
ax.set_ylabel("cross-validated R²")
ax.set_ylim(0, 1.05)
ax.legend(fontsize=7, loc="lower right")
ax.set_title("Random forest on three graph representations")
fig2.tight_layout()

# %%
# Both invariant representations beat the adjacency as stored, whose columns mean
# something different in every graph. The spectrum is a short, smooth summary (triangle
# counts and, for these small graphs, diameters are close to spectral quantities); the
# canonical labelling loses nothing, but leaves the forest to combine 0/1 adjacency
# entries. ``InvariantProjector("S_n", "canonical", layout="graph")`` gives the same
# canonical rows as a projection.

if __name__ == "__main__":
    here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
    fig.savefig(here / "plot_graphs_invariant_features.png", dpi=80)
    fig2.savefig(here / "plot_graphs_invariant_features_r2.png", dpi=80)
    print(f"done in {time.perf_counter() - start:.1f} s")
