"""The pure-Python graph labelling (``method="wl"`` without pynauty) on highly symmetric
graphs, where its automorphism pruning does most of the work.

Run ``python benchmarks/bench_graph_fallback.py`` (one core; ``--quick`` for small graphs,
``--sizes 20`` for chosen node counts).
For edgeless graphs, stars and complete bipartite graphs of growing size it prints a
markdown table (best of 3 wall times of ``canonical_order``, whether the search finished
within its leaf budget, leaves visited) and one JSON line. The labelling is checked against
a relabelled copy (same canonical form) on every row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

SIZES = {"full": (10, 20, 30), "quick": (8, 12)}


def _graphs(n):
    import networkx as nx

    return {"edgeless": nx.empty_graph(n), "star": nx.star_graph(n - 1),
            "complete bipartite": nx.complete_bipartite_graph(n // 2, n - n // 2)}


def run(quick=False, sizes=None):
    import networkx as nx

    from skcanon._threads import limited_threads
    from skcanon.canonicalizers._graphs import _encode, canonical_order

    rows = []
    with limited_threads(1):
        for n in sizes or SIZES["quick" if quick else "full"]:
            for name, graph in _graphs(n).items():
                A = nx.to_numpy_array(graph)
                F = np.zeros((n, 0))
                times = []
                for _ in range(3):
                    t = time.perf_counter()
                    order, exact = canonical_order(A, F, return_exact=True)
                    times.append(time.perf_counter() - t)
                p = np.random.default_rng(0).permutation(n)
                B = A[np.ix_(p, p)]
                same = _encode(B, F, canonical_order(B, F)) == _encode(A, F, order)
                rows.append({"graph": name, "nodes": n, "seconds": min(times), "exact": bool(exact),
                             "relabelling_agrees": bool(same)})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", help="node counts (default 10 20 30)")
    args = parser.parse_args(argv)
    rows = run(quick=args.quick, sizes=args.sizes)
    print("| graph | nodes | seconds (best of 3) | exact | relabelling agrees |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['graph']} | {r['nodes']} | {r['seconds']:.3f} | {r['exact']} | {r['relabelling_agrees']} |")
    print(json.dumps({"benchmark": "graph_fallback", "rows": rows}))


if __name__ == "__main__":
    main()
