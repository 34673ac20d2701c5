"""
Canonicalization jumps, weighted frames do not
==============================================

No canonicalization of point clouds under rotations is continuous (Dym, Lawrence & Siegel,
ICML 2024): near a symmetric shape, two almost identical inputs can get canonical poses
that differ by a large rotation, and a model downstream sees two very different inputs.

This example walks along a straight path through a square (all principal axes tied, all
third moments zero): ``x(t) = square + t·v`` for a fixed random direction ``v``. It shows

* two nearly identical shapes from either side of the square and their canonical forms
  (``CanonicalizerTransformer("SE2", "pca")``), which differ by a quarter turn;
* along the path, the predicted probability of a classifier on canonical forms (jumps at
  ``t = 0``) and of :class:`~skcanon.FrameAveragingClassifier` with
  ``frames="weighted"`` (continuous), both trained on the same noisy squares;
* the continuity ratio of both (:func:`skcanon.metrics.continuity_ratio`).
"""

# %%
import os
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skcanon._canonicalizer import CanonicalizerTransformer
from skcanon._frame_averaging import FrameAveragingClassifier
from skcanon.exceptions import ConstantModelWarning
from skcanon.groups import get_group
from skcanon.layouts import PointLayout
from skcanon.metrics import continuity_ratio

QUICK = os.environ.get("SKCANON_EXAMPLE_QUICK", "0") not in ("", "0")  # small sizes (CI)
start = time.perf_counter()
rng = np.random.RandomState(0)
square = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
direction = rng.normal(size=square.shape)
ts = np.linspace(-0.02, 0.02, 81 if QUICK else 201)
path = np.stack([(square + t * direction).ravel() for t in ts])

# %%
# A task on noisy squares: is edge 0–1 longer than edge 2–3? Training samples are
# randomly moved copies, so the model must be invariant to SE(2).
n_train = 200 if QUICK else 400
X = np.stack([(square + 0.1 * rng.normal(size=square.shape)).ravel() for _ in range(n_train)])
P = X.reshape(-1, 4, 2)
y = (np.linalg.norm(P[:, 0] - P[:, 1], axis=1) > np.linalg.norm(P[:, 2] - P[:, 3], axis=1)).astype(int)
G = get_group("SE2")
X = G.apply(G.sample(len(X), random_state=1), X, PointLayout(2))

canon = make_pipeline(CanonicalizerTransformer(group="SE2", method="pca"), LogisticRegression(C=10.0))
canon.fit(X, y)
weighted = FrameAveragingClassifier(LogisticRegression(C=10.0), group="SE2", frames="weighted").fit(X, y)
# A linear model over the PCA sign frames: every coordinate appears with both signs, so its
# linear part cancels and the average is a constant; fit says so (ConstantModelWarning)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", ConstantModelWarning)
    pca = FrameAveragingClassifier(LogisticRegression(C=10.0), group="SE2", frames="pca").fit(X, y)
print("pca frames + LR:", [type(w.message).__name__ for w in caught if w.category is ConstantModelWarning])

# %%
# Canonical forms on either side of the square, and predictions along the path.
left, right = path[len(ts) // 2 - 2], path[len(ts) // 2 + 2]
forms = canon[0].transform(np.stack([left, right])).reshape(2, 4, 2)

fig, axes = plt.subplots(1, 3, figsize=(13, 4))
ax = axes[0]
for shape, style, label in [(left, "o-", "x(−ε)"), (right, "s--", "x(+ε)")]:
    S = shape.reshape(4, 2)
    ax.plot(*np.vstack([S, S[:1]]).T, style, label=label, alpha=0.7)
ax.set_title("two nearly identical inputs")
ax.set_aspect("equal")
ax.legend()
ax = axes[1]
for S, style, label in [(forms[0], "o-", "canonical form of x(−ε)"),
                        (forms[1], "s--", "canonical form of x(+ε)")]:
    ax.plot(*np.vstack([S, S[:1]]).T, style, label=label, alpha=0.7)
    ax.annotate("p0", S[0])
ax.set_title("their PCA canonical forms")
ax.set_aspect("equal")
ax.legend(fontsize=8)
ax = axes[2]
for model, label in [(canon, "canonicalization + LR"), (pca, "frame averaging, pca frames"),
                     (weighted, "weighted frames")]:
    ax.plot(ts, model.predict_proba(path)[:, 1], label=label)
ax.axvline(0.0, color="grey", lw=0.5)
ax.set_xlabel("t (path through the square at t = 0)")
ax.set_ylabel("P(edge 0–1 longer)")
ax.set_title("prediction along the path")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Continuity ratios near the square: relative output change over relative input change.
near = np.stack([(square + 1e-3 * rng.normal(size=square.shape)).ravel() for _ in range(40)])
for label, model in [("canonicalization", canon), ("pca frames", pca), ("weighted frames", weighted)]:
    r = continuity_ratio(model, near, eps=1e-3, n_pairs=100 if QUICK else 300, random_state=0)
    print(f"continuity ratio, {label:16s}: median {r.median:8.3g}, max {r.max:8.3g}")
r = continuity_ratio(canon[0], near, eps=1e-3, n_pairs=100 if QUICK else 300, random_state=0)
print(f"continuity ratio, canonical form   : median {r.median:8.3g}, max {r.max:8.3g}")

if __name__ == "__main__":
    here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
    fig.savefig(here / "plot_frame_averaging.png", dpi=80)
    print(f"done in {time.perf_counter() - start:.1f} s")
