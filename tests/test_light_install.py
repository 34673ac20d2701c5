"""The core install works without torch and skorch (they come with the ``torch`` extra).

Each test runs a fresh interpreter in which a meta-path finder makes ``import torch`` and
``import skorch`` fail, as on a machine where only ``pip install skcanon`` was run.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BLOCK = textwrap.dedent("""
    import importlib.abc, sys, warnings
    warnings.simplefilter("error")
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    class _NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "skorch"):
                raise ImportError(f"No module named {name!r} (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, _NoTorch())
    for _name in [m for m in sys.modules if m.split(".")[0] in ("torch", "skorch")]:
        del sys.modules[_name]

    def assert_no_torch():
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "skorch"))
        assert not loaded, loaded
""")


def run_python(code, block=True, timeout=300):
    """Run ``code`` in a fresh interpreter (torch/skorch blocked when ``block``); its stdout."""
    source = (BLOCK if block else "") + textwrap.dedent(code)
    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
           "MPLBACKEND": "Agg", "HOME": str(Path.home())}
    result = subprocess.run([sys.executable, "-c", source], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def test_import_skcanon_does_not_import_torch_in_a_normal_install():
    out = run_python("""
        import sys
        import skcanon, skcanon.layouts, skcanon.groups, skcanon.metrics, skcanon.datasets
        import skcanon.projections, skcanon.canonicalizers
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "skorch")))
    """, block=False)
    assert out.strip() == "[]"


def test_public_modules_import_without_torch():
    run_python("""
        import skcanon
        from skcanon import CanonicalizerTransformer, InvariantProjector, EquivariantRegressor
        import skcanon.canonicalizers, skcanon.datasets, skcanon.groups, skcanon.layouts
        import skcanon.metrics, skcanon.projections, skcanon._optional
        assert "learned" in skcanon.canonicalizers.METHODS   # registered, loads torch lazily
        assert_no_torch()
    """)


def test_heuristic_demo_path_runs_without_torch():
    out = run_python("""
        import numpy as np
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.model_selection import cross_val_score
        from sklearn.pipeline import make_pipeline
        from skcanon import CanonicalizerTransformer, EquivariantRegressor
        from skcanon.datasets import make_point_shapes, make_nbody, make_player_positions
        from skcanon.metrics import invariance_error

        X, y = make_point_shapes(n_samples=260, n_points=16, random_state=0, return_X_y=True)
        pipe = make_pipeline(CanonicalizerTransformer("SE3xS_n", "pca+sort"),
                             RandomForestClassifier(n_estimators=20, random_state=0))
        score = cross_val_score(pipe, X, y, cv=3).mean()
        err = invariance_error(pipe.fit(X, y)[0], X[:20], "SE3xS_n", n_trials=2, random_state=0)
        assert err.max < 1e-9, err

        data = make_nbody(n_train=20, n_val=0, n_test=0, n_steps=20, random_state=0)
        from sklearn.linear_model import Ridge
        canon = CanonicalizerTransformer("SE3", "pca", layout=data.layout)
        EquivariantRegressor(canon, Ridge()).fit(data.train.data, data.train.target)
        make_player_positions(n_samples=20, random_state=0)
        assert_no_torch()
        print(f"{score:.3f}")
    """)
    assert float(out) > 0.2   # 13 classes: chance is 0.08


def test_projections_and_metrics_without_torch():
    run_python("""
        import numpy as np
        from skcanon import InvariantProjector
        from skcanon.datasets import make_point_shapes, load_graph_atlas
        from skcanon.layouts import GraphLayout
        from skcanon.metrics import invariance_error

        X, _ = make_point_shapes(n_samples=40, n_points=8, random_state=0, return_X_y=True)
        for group, method in [("S_n", "sort"), ("S_n", "power_sums"), ("S_n", "mean"),
                              ("S_n", "lexsort"), ("SE3", "norms"), ("E3xS_n", "sorted_distances"),
                              ("SE3xS_n", "canonical")]:
            proj = InvariantProjector(group, method, random_state=0).fit(X)
            err = invariance_error(proj, X[:10], group, n_trials=2, random_state=0)
            assert err.max < 1e-6, (group, method, err)

        graphs = load_graph_atlas(min_nodes=2, max_nodes=5).graphs
        F = InvariantProjector("S_n", "spectrum", layout="graph").fit_transform(graphs)
        assert np.isfinite(F).all()
        assert_no_torch()
    """)


def test_gram_and_distance_projections_without_torch():
    run_python("""
        from skcanon import InvariantProjector
        from skcanon.datasets import make_point_shapes
        X, _ = make_point_shapes(n_samples=20, n_points=6, random_state=0, return_X_y=True)
        for method in ("gram", "distances", "gram_minors"):
            InvariantProjector("SE3", method).fit_transform(X)
        assert_no_torch()
    """)


def test_networks_without_torch_say_what_to_install():
    run_python("""
        import pytest
        import skcanon
        from skcanon import CanonicalizerTransformer
        from skcanon.datasets import make_point_shapes
        X, y = make_point_shapes(n_samples=30, n_points=8, random_state=0, return_X_y=True)
        for method in ("learned", "random"):
            with pytest.raises(ImportError, match=r'pip install -e "\\.\\[torch\\]" in the skcanon checkout'):
                CanonicalizerTransformer("SE3xS_n", method).fit(X, y)
        with pytest.raises(ImportError, match=r'pip install -e "\\.\\[torch\\]" in the skcanon checkout'):
            skcanon.EndToEndEquivariantRegressor
    """)


def test_optional_helper_names_the_extra_and_the_cpu_wheels():
    run_python("""
        import pytest
        from skcanon._optional import import_skorch, import_torch, require
        with pytest.raises(ImportError, match=r'pip install -e "\\.\\[torch\\]" in the skcanon checkout') as info:
            import_torch('method="learned"')
        message = str(info.value)
        assert message.startswith('method="learned" needs torch')
        assert "download.pytorch.org/whl/cpu" in message and "constraints/cpu.txt" in message
        assert isinstance(info.value.__cause__, ImportError)
        with pytest.raises(ImportError, match=r'-e "\\.\\[torch\\]"'):
            import_skorch()
        with pytest.raises(ImportError, match=r'pip install -e "\\.\\[graphs\\]"'):
            require("pynauty_not_installed_here", extra="graphs", purpose="nauty labelling")
        assert require("numpy").__name__ == "numpy"
    """)


def test_optional_helper_returns_torch_when_installed():
    pytest.importorskip("torch")
    from skcanon._optional import import_torch

    assert import_torch().__name__ == "torch"


def test_a_pickled_network_canonicalizer_loads_without_torch_to_a_clear_error(tmp_path):
    """A fitted learned/random canonicalizer saved its weights as torch tensors: unpickling
    without torch failed inside pickle with a bare "No module named 'torch'". The weights
    are now numpy arrays, and loading names the install."""
    import pickle

    import numpy as np

    from skcanon import CanonicalizerTransformer
    from skcanon.datasets import make_point_shapes

    X, y = make_point_shapes(n_samples=30, n_points=8, random_state=0, return_X_y=True)
    path = tmp_path / "models.pkl"
    models = [CanonicalizerTransformer("SE3xS_n", "learned", max_epochs=1, hidden=8,
                                       random_state=0).fit(X, y),
              CanonicalizerTransformer("SE3xS_n", "random", hidden=8, random_state=0).fit(X, y)]
    path.write_bytes(pickle.dumps(models))
    again = pickle.loads(path.read_bytes())        # with torch: the same outputs
    for model, loaded in zip(models, again):
        np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    run_python(f"""
        import pickle, pytest
        from pathlib import Path
        with pytest.raises(ImportError, match="LearnedCanonicalizer .*needs torch.* in the skcanon checkout"):
            pickle.loads(Path({str(path)!r}).read_bytes())
    """)
