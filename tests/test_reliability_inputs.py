"""Bad-input matrix: every public estimator × every class of bad or unusual input.

Each row of :data:`CASES` is one class of input. Its outcome is either ``"finite"``
(documented behaviour: the input is accepted and the output is finite, in the shape of a
good input) or an error ``(type, regex)``: a ``ValueError``/``TypeError`` whose message names
``X`` and matches ``regex`` (which names the expected shape or the offending property).
Rows are built from a good input of the estimator's layout, so adding an estimator (a row
of :data:`ESTIMATORS`) or an input class (a row of :data:`CASES`) is one line.

Known bugs are ``xfail(strict=True)`` rows with ``reason="bug: ..."``; when the bug is
fixed the test fails until the mark is removed.

Documented outcomes worth knowing (see ``docs/reliability.md``):

* int, bool, float16, numeric object arrays, numeric strings and nested lists are converted
  to float64; float32 stays float32.
* NaN is only accepted as a whole absent-point row in point layouts (by canonicalizers and
  by the projections that declare ``absent_points_ok``; never for images or fibres); such
  rows stay NaN in canonical output (``fill_value`` replaces them) and projections ignore
  them (finite features).
* DataFrames: a non-numeric column is a TypeError naming the column; duplicate column
  names a ValueError naming them; a ragged nested list a ValueError naming ``X`` and the
  expected shape (never numpy's or narwhals' own message).
* Magnitudes 1e30 and 1e-30 in float64 give finite output for heuristics, projections and
  frozen random networks, and learned networks train on them (the training set is rescaled
  by a power of two internally).
"""

import warnings

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import LinAlgWarning

from skcanon import CanonicalizerTransformer, EquivariantRegressor, InvariantProjector
from skcanon.layouts import GraphLayout

pytest.importorskip("torch")  # the matrix includes network estimators

TINY_LEARNED = dict(hidden=8, max_epochs=1, early_stopping=False, random_state=0)

try:  # learned image networks are being finished elsewhere: include them when importable
    import skcanon.nn._images  # noqa: F401

    HAS_IMAGE_NETS = True
except Exception:  # pragma: no cover
    HAS_IMAGE_NETS = False


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- the estimators ------------------------------------------------------------------------------
# id -> (factory, layout kind, accepts absent-point NaN rows, learns from data)
ESTIMATORS = {
    "CT-SE3-pca": (lambda: CanonicalizerTransformer("SE3", "pca"), "points", True, False),
    "CT-SE3xS_n-pca+sort": (lambda: CanonicalizerTransformer("SE3xS_n", "pca+sort"), "points", True, False),
    "CT-S_n-sort": (lambda: CanonicalizerTransformer("S_n", "sort", n_dims=3), "points", True, False),
    "CT-T3-centroid": (lambda: CanonicalizerTransformer("T3", "centroid"), "points", True, False),
    "CT-scaling-scale": (lambda: CanonicalizerTransformer("scaling", "scale", n_dims=3), "points", True, False),
    "CT-C4-moments": (lambda: CanonicalizerTransformer("C4", "moments"), "image", False, False),
    "CT-SO3-random": (lambda: CanonicalizerTransformer("SO3", "random", hidden=8, random_state=0),
                      "points", True, False),
    "CT-SE3xS_n-learned": (lambda: CanonicalizerTransformer("SE3xS_n", "learned", objective="align",
                                                            **TINY_LEARNED), "points", True, True),
    "CT-S_n-wl": (lambda: CanonicalizerTransformer("S_n", "wl", layout=GraphLayout(4)), "graph", True, False),
    "IP-S_n-sort": (lambda: InvariantProjector("S_n", "sort", n_dims=3), "points", False, False),
    "IP-E3-distances": (lambda: InvariantProjector("E3", "distances"), "points", True, False),
    "IP-C4-bispectrum": (lambda: InvariantProjector("C4", "bispectrum", layout="fibre"), "fibre", False, False),
    "IP-C4-max_filter": (lambda: InvariantProjector("C4", "max_filter", random_state=0), "image", False, False),
    "IP-E3xS_n-canonical": (lambda: InvariantProjector("E3xS_n", "canonical"), "points", True, False),
    "ER-default": (lambda: EquivariantRegressor(), "points", True, False),
}
if HAS_IMAGE_NETS:
    ESTIMATORS["CT-C4-random"] = (lambda: CanonicalizerTransformer("C4", "random", hidden=8, random_state=0),
                                  "image", False, False)


def good_input(kind, n=6, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "points":      # 5 points in 3-D
        return rng.normal(size=(n, 15))
    if kind == "image":       # 4x4 images
        return rng.normal(size=(n, 16))
    if kind == "fibre":       # 3 channels x C4 fibre
        return rng.normal(size=(n, 12))
    # graphs: 4 padded nodes, adjacency + degree; no absent nodes so every value is finite
    graphs = [nx.path_graph(4), nx.cycle_graph(4), nx.star_graph(3)] * ((n + 2) // 3)
    P, _ = GraphLayout(4).encode(graphs[:n])
    return P.reshape(n, -1)


def _target(X):
    """A target that moves with X (for EquivariantRegressor)."""
    return np.asarray(X, dtype=np.float64) * 1.5


def run(est_id, X_fit, X_apply=None):
    """Fit on X_fit and apply to X_apply (default X_fit); returns the output array."""
    factory, kind, _, _ = ESTIMATORS[est_id]
    est = factory()
    if est_id.startswith("ER"):
        n = len(X_fit) if X_fit is not None and not sp.issparse(X_fit) else (X_fit.shape[0] if X_fit is not None else 6)
        y = _target(good_input(kind, n=max(n, 1)))[:n]
        est.fit(X_fit, y)
        return np.asarray(est.predict(X_fit if X_apply is None else X_apply))
    est.fit(X_fit)
    return np.asarray(est.transform(X_fit if X_apply is None else X_apply))


# -- the input classes ---------------------------------------------------------------------------
def _with(X, value, where=(0, 0)):
    X = np.array(X, dtype=np.float64)
    X[where] = value
    return X


def _nan_row(X):
    X = np.array(X, dtype=np.float64)
    X[0, :3] = np.nan  # one whole point of the first sample (3 columns)
    return X


def _frame(X, text=None, duplicate=False):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(np.asarray(X, dtype=np.float64), columns=[f"c{i}" for i in range(X.shape[1])])
    if text is not None:
        df["c0"] = df["c0"].astype(object)
        df.loc[0, "c0"] = text
    if duplicate:
        df.columns = ["c0"] + list(df.columns[:-1])
    return df


def _ragged(X):
    rows = [list(r) for r in np.asarray(X, dtype=np.float64)]
    rows[1] = rows[1][:-1]
    return rows


def _last_axis_plus_one(X, kind):
    if kind == "image":
        return np.zeros((len(X), 5, 5))
    width = {"points": 3, "fibre": 4, "graph": 5}[kind]
    return np.zeros((len(X), 2, width + 1))


NAMES_X = r"X"
E_NAN = (ValueError, r"X contains NaN|NaN inside a point")
E_INF = (ValueError, r"X contains infinity")
E_WIDTH_FIT = (ValueError, r"multiple of .*\(n_samples, (n_points|channels) \* \d+\)|perfect square.*ImageLayout")
E_WIDTH_AFTER = (ValueError, r"X has \d+ features, but \w+ is expecting \d+ features")
E_3D = (ValueError, r"\(n_samples, n_points, \d+\)|\(n_samples, channels, \d+\)|expecting \d+ features")
E_EMPTY = (ValueError, r"X has 0 sample\(s\); expected shape \(n_samples")
E_STR = (TypeError, r"X must be numeric .* of shape \(n_samples")
E_COMPLEX = (ValueError, r"Complex data.* of shape \(n_samples")
E_SPARSE = (TypeError, r"X is a sparse matrix.*dense array of shape \(n_samples")
E_1D = (ValueError, r"X must be 2-D of shape \(n_samples.*Reshape")
E_NONE = (ValueError, r"X is None; expected an array of shape \(n_samples")
E_NAMES = (ValueError, r"feature names")
E_STR_COLUMN = (TypeError, r"X must be numeric .* of shape \(n_samples.*column 'c0' holds 'x', which is not a number")
E_DUPLICATE = (ValueError, r"X has duplicate column names \['c0'\]")
E_RAGGED = (ValueError, r"X is a nested sequence whose rows have different lengths.*shape \(n_samples")

# id -> (build(X_good, kind) -> (X_fit, X_apply), outcome)
#   X_apply None: fit and apply the same bad input; otherwise fit on good input, apply bad one
CASES = {
    "nan-in-point@fit": (lambda X, k: (_with(X, np.nan), None), E_NAN),
    "nan-in-point@transform": (lambda X, k: (X, _with(X, np.nan)), E_NAN),
    "nan-whole-point@transform": (lambda X, k: (X, _nan_row(X)), "absent"),
    "inf@fit": (lambda X, k: (_with(X, np.inf), None), E_INF),
    "-inf@transform": (lambda X, k: (X, _with(X, -np.inf)), E_INF),
    "width-not-divisible@fit": (lambda X, k: (X[:, :-1], None), E_WIDTH_FIT),
    "width-mismatch@transform": (lambda X, k: (X, np.hstack([X, X])), E_WIDTH_AFTER),
    "wrong-n_dims-3d@transform": (lambda X, k: (X, _last_axis_plus_one(X, k)), E_3D),
    "zero-samples@fit": (lambda X, k: (X[:0], None), E_EMPTY),
    "zero-samples@transform": (lambda X, k: (X, X[:0]), E_EMPTY),
    "one-sample@fit": (lambda X, k: (X[:1], None), "finite"),
    "one-sample@transform": (lambda X, k: (X, X[1:2]), "finite"),
    "int64": (lambda X, k: (np.round(X * 3).astype(np.int64), None), "finite"),
    "bool": (lambda X, k: (X > 0, None), "finite"),
    "float16": (lambda X, k: (X.astype(np.float16), None), "finite"),
    "float32": (lambda X, k: (X.astype(np.float32), None), "finite"),
    "object-numeric": (lambda X, k: (X.astype(object), None), "finite"),
    "object-non-numeric": (lambda X, k: (np.full(X.shape, "a", dtype=object), None), E_STR),
    "str-numeric": (lambda X, k: (X.astype(str), None), "finite"),
    "str-non-numeric": (lambda X, k: (np.full(X.shape, "abc"), None), E_STR),
    "complex": (lambda X, k: (X.astype(complex), None), E_COMPLEX),
    "sparse-csr@fit": (lambda X, k: (sp.csr_matrix(X), None), E_SPARSE),
    "sparse-csr@transform": (lambda X, k: (X, sp.csr_matrix(X)), E_SPARSE),
    "one-d@transform": (lambda X, k: (X, X[0]), E_1D),
    "none@fit": (lambda X, k: (None, None), E_NONE),
    "nested-list": (lambda X, k: (X.tolist(), None), "finite"),
    "ragged-nested-list@fit": (lambda X, k: (_ragged(X), None), E_RAGGED),
    "ragged-nested-list@transform": (lambda X, k: (X, _ragged(X)), E_RAGGED),
    "dataframe-text-column@fit": (lambda X, k: (_frame(X, text="x"), None), E_STR_COLUMN),
    "dataframe-text-column@transform": (lambda X, k: (_frame(X), _frame(X, text="x")), E_STR_COLUMN),
    "dataframe-duplicate-columns@fit": (lambda X, k: (_frame(X, duplicate=True), None), E_DUPLICATE),
    "huge-1e30@fit": (lambda X, k: (X * 1e30, None), "finite"),
    "huge-1e30@transform": (lambda X, k: (X, X * 1e30), "finite"),
    "tiny-1e-30@fit": (lambda X, k: (X * 1e-30, None), "finite"),
    "tiny-1e-30@transform": (lambda X, k: (X, X * 1e-30), "finite"),
}

# Cases that do not apply to a layout (not an outcome: the input class does not exist there)
NOT_APPLICABLE = {
    ("graph", "nan-whole-point@transform"),  # graph NaN rows are padding; covered in test_graphs
    ("graph", "huge-1e30@fit"), ("graph", "huge-1e30@transform"),  # adjacency is 0/1
    ("graph", "tiny-1e-30@fit"), ("graph", "tiny-1e-30@transform"),
    ("graph", "str-numeric"), ("graph", "object-numeric"), ("graph", "nested-list"),
    ("graph", "float16"), ("graph", "float32"), ("graph", "int64"), ("graph", "bool"),
}

KNOWN_BUGS = {}  # (estimator id, case id) -> "bug: ..." reason, run as strict xfail


def _matrix():
    for est_id, (_, kind, _, _) in ESTIMATORS.items():
        for case_id in CASES:
            if (kind, case_id) in NOT_APPLICABLE:
                continue
            marks = []
            if (est_id, case_id) in KNOWN_BUGS:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[est_id, case_id]))
            yield pytest.param(est_id, case_id, marks=marks, id=f"{est_id}|{case_id}")


MATRIX = list(_matrix())


@pytest.mark.parametrize("est_id, case_id", MATRIX)
def test_bad_input_matrix(est_id, case_id):
    _, kind, absent_ok, _ = ESTIMATORS[est_id]
    build, outcome = CASES[case_id]
    X_good = good_input(kind)
    X_fit, X_apply = build(X_good, kind)
    if outcome == "absent":
        outcome = "finite" if absent_ok else E_NAN
        if case_id == "nan-whole-point@transform" and est_id.startswith("IP") and "canonical" in est_id:
            # absent points fit never saw: no present_i columns to keep them apart (B279)
            outcome = (ValueError, r"absent points .* but fit saw none")
    if outcome == "finite":
        with warnings.catch_warnings():
            # the default Ridge of EquivariantRegressor (scikit-learn's) may warn about
            # conditioning on 1e30-scaled data; that warning is scikit-learn's, not ours
            # (which of the two it gives depends on the last bits of the canonical forms)
            warnings.simplefilter("ignore", LinAlgWarning)
            warnings.filterwarnings("ignore", "Singular matrix in solving dual problem", UserWarning)
            out = run(est_id, X_fit, X_apply)
        n = len(X_fit if X_apply is None else X_apply)
        assert out.shape[0] == n
        assert out.dtype.kind == "f"
        if case_id == "nan-whole-point@transform" and est_id.startswith("ER"):
            assert np.isfinite(out).all()  # absent points enter the regressor as zeros
        elif case_id == "nan-whole-point@transform" and est_id.startswith("IP"):
            # projections ignore absent points: finite invariant features
            assert np.isfinite(out).all()
        elif case_id == "nan-whole-point@transform":  # the absent point stays absent, rest finite
            ref = run(est_id, X_good)
            assert np.isnan(out).sum() == 3 and np.isfinite(out[1:]).all()
            assert out.shape == ref.shape
        else:
            assert np.isfinite(out).all()
        return
    err, pattern = outcome
    with pytest.raises(err, match=pattern) as info:
        run(est_id, X_fit, X_apply)
    if outcome is not E_EMPTY:  # scikit-learn's empty-input message; see the test below
        assert NAMES_X in str(info.value)
    assert "Traceback" not in str(info.value) and "torch" not in str(info.value).lower()


def test_zero_samples_message_names_the_parameter():
    with pytest.raises(ValueError, match=r"X .*0 sample.*\(n_samples, n_points \* 3\)"):
        CanonicalizerTransformer("SE3", "pca").fit(np.zeros((0, 15)))


@pytest.mark.parametrize("est_id", [e for e, v in ESTIMATORS.items() if v[1] == "points"])
def test_one_point_per_sample(est_id):
    """A cloud of one point: finite output of the fitted width (documented, not an error)."""
    X = good_input("points")[:, :3]
    out = run(est_id, X)
    assert out.shape[0] == len(X) and np.isfinite(out).all()


# -- DataFrames ----------------------------------------------------------------------------------
@pytest.mark.parametrize("est_id", [e for e, v in ESTIMATORS.items() if v[1] != "graph"])
def test_dataframe_with_wrong_column_names_after_fit(est_id):
    pd = pytest.importorskip("pandas")
    factory, kind, _, _ = ESTIMATORS[est_id]
    X = good_input(kind)
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    est = factory()
    est.fit(df, _target(X)) if est_id.startswith("ER") else est.fit(df)
    apply = est.predict if est_id.startswith("ER") else est.transform
    twin = factory()
    twin.fit(X, _target(X)) if est_id.startswith("ER") else twin.fit(X)
    twin_apply = twin.predict if est_id.startswith("ER") else twin.transform
    np.testing.assert_allclose(np.asarray(apply(df)), np.asarray(twin_apply(X)))
    with pytest.raises(E_NAMES[0], match=E_NAMES[1]):
        apply(df.rename(columns={"c0": "zzz"}))


# -- graphs ----------------------------------------------------------------------------------------
GRAPH_ESTIMATORS = {
    "CT-S_n-wl": lambda: CanonicalizerTransformer("S_n", "wl", layout="graph"),
    "IP-S_n-spectrum": lambda: InvariantProjector("S_n", "spectrum", layout="graph"),
}


@pytest.mark.parametrize("est_id", sorted(GRAPH_ESTIMATORS))
@pytest.mark.parametrize("case", ["no-node-graph@fit", "no-node-graph@transform", "empty-list@fit",
                                  "too-many-nodes@transform", "not-a-graph@transform",
                                  "unresolved-array@fit"])
def test_graph_inputs(est_id, case):
    est = GRAPH_ESTIMATORS[est_id]()
    small = [nx.path_graph(3), nx.cycle_graph(3)]
    if case == "no-node-graph@fit":
        # documented: an empty graph is one absent node (an all-NaN row for wl; finite spectrum)
        out = est.fit_transform([nx.Graph(), nx.path_graph(2)])
        assert out.shape[0] == 2 and np.isfinite(out[1][~np.isnan(out[1])]).all()
        if est_id.startswith("CT"):
            assert np.isnan(out[0]).all()
        else:
            assert np.isfinite(out).all()
        return
    if case == "no-node-graph@transform":
        est.fit(small)
        out = est.transform([nx.Graph()])
        assert out.shape[0] == 1
        assert np.isnan(out).all() if est_id.startswith("CT") else np.isfinite(out).all()
        return
    expected = {
        "empty-list@fit": (ValueError, r"n_nodes"),
        "too-many-nodes@transform": (ValueError, r"5 nodes, more than the n_nodes=3.*GraphLayout\(n_nodes=N\)"),
        "not-a-graph@transform": (TypeError, r"networkx graphs"),
        "unresolved-array@fit": (ValueError, r"GraphLayout\(n_nodes=\.\.\.\)"),
    }[case]
    with pytest.raises(expected[0], match=expected[1]):
        if case == "empty-list@fit":
            est.fit([])
        elif case == "unresolved-array@fit":
            est.fit(np.zeros((2, 6)))
        else:
            est.fit(small)
            est.transform([nx.path_graph(5)] if case == "too-many-nodes@transform"
                          else [nx.path_graph(2), np.eye(3)])


# -- inputs are never mutated ---------------------------------------------------------------------
@pytest.mark.parametrize("est_id", sorted(ESTIMATORS))
def test_inputs_are_never_mutated(est_id):
    """Read-only arrays go through every method; the caller's arrays equal their copies after."""
    factory, kind, _, _ = ESTIMATORS[est_id]
    X = good_input(kind)
    if kind == "points":
        X[1, 3:6] = np.nan  # an absent point where the layout allows one ...
        if not ESTIMATORS[est_id][2]:
            X = good_input(kind)  # ... and none where it does not
    y = _target(np.nan_to_num(X))
    X_copy, y_copy = X.copy(), y.copy()
    X.flags.writeable = False
    y.flags.writeable = False
    est = factory()
    if est_id.startswith("ER"):
        est.fit(X, y)
        est.predict(X)
        est.predict(X.reshape(len(X), -1, 3))
    else:
        est.fit(X)
        est.transform(X)
        if hasattr(est, "canonicalize"):
            canon, frames = est.canonicalize(X)
            frames_copy = [f.copy() for f in (frames if isinstance(frames, tuple) else (frames,))]
            canon.flags.writeable = False
            est.inverse_transform(canon, frames)
            for a, b in zip(frames_copy, frames if isinstance(frames, tuple) else (frames,)):
                np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)


def test_float32_input_is_not_upcast_in_place():
    X = good_input("points").astype(np.float32)
    X_copy = X.copy()
    out = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(X).transform(X)
    assert out.dtype == np.float32 and out is not X and not np.shares_memory(out, X)
    np.testing.assert_array_equal(X, X_copy)


# -- public functions: metrics, dask, datasets ------------------------------------------------------
def _fitted_pca():
    X = good_input("points")
    return CanonicalizerTransformer("SE3", "pca").fit(X), X


def _fitted_dist():
    X = good_input("points")
    return InvariantProjector("E3", "distances").fit(X), X


def _metrics_call(name):
    from skcanon import metrics as M
    from skcanon.layouts import PointLayout

    c, X = _fitted_pca()
    p, _ = _fitted_dist()
    return {
        "invariance_error-1d": lambda: M.invariance_error(c, X[0], "SE3"),
        "invariance_error-width": lambda: M.invariance_error(c, X[:, :14], "SE3"),
        "invariance_error-nan": lambda: M.invariance_error(c, _with(X, np.nan), "SE3"),
        "invariance_error-empty": lambda: M.invariance_error(c, X[:0], "SE3"),
        "invariance_error-group": lambda: M.invariance_error(c, X, "SU3"),
        "invariance_error-group-dims": lambda: M.invariance_error(c, X, "SO2"),
        "invariance_error-not-callable": lambda: M.invariance_error(42, X, "SE3"),
        "invariance_error-sparse": lambda: M.invariance_error(c, sp.csr_matrix(X), "SE3"),
        "invariance_error-str": lambda: M.invariance_error(c, X.astype(str), "SE3"),
        "invariance_error-n_trials-0": lambda: M.invariance_error(c, X, "SE3", n_trials=0),
        "equivariance_error-1d": lambda: M.equivariance_error(c, X[0], "SE3"),
        "equivariance_error-width": lambda: M.equivariance_error(c, X[:, :14], "SE3"),
        "equivariance_error-empty": lambda: M.equivariance_error(c, X[:0], "SE3"),
        "equivariance_error-not-callable": lambda: M.equivariance_error(42, X, "SE3"),
        "equivariance_error-n_trials-0": lambda: M.equivariance_error(c, X, "SE3", n_trials=0),
        "orbit_distortion-one-sample": lambda: M.orbit_distortion(p, X[:1], "E3"),
        "orbit_distortion-n_pairs-0": lambda: M.orbit_distortion(p, X, "E3", n_pairs=0),
        "orbit_distortion-product-group": lambda: M.orbit_distortion(p, X, "E3xS_n"),
        "orbit_separation-one-sample": lambda: M.orbit_separation(p, X[:1], "E3"),
        "orbit_separation-X_other-shape": lambda: M.orbit_separation(p, X, "E3", X_other=X[:3]),
        "quotient_distance-shape": lambda: M.quotient_distance(X.reshape(6, 5, 3), X[:3].reshape(3, 5, 3),
                                                               "E3", PointLayout(3)),
    }[name]


def _bug(reason):
    return pytest.mark.xfail(strict=True, reason="bug: " + reason)


METRIC_CASES = [
    ("invariance_error-1d", ValueError, r"X must be 2-D.*\(n_samples"),
    ("invariance_error-width", ValueError, r"multiple of the 3 columns.*\(n_samples, n_points \* 3\)"),
    ("invariance_error-nan", ValueError, r"X contains NaN inside a point"),
    ("invariance_error-empty", ValueError, r"0 sample"),
    ("invariance_error-group", ValueError, r"Unknown group 'SU3'"),
    ("invariance_error-group-dims", ValueError, r"acts in 2 dimensions.*n_dims=3"),
    ("invariance_error-not-callable", TypeError, r"estimator_or_callable"),
    ("invariance_error-sparse", TypeError, r"X .*sparse"),
    ("invariance_error-n_trials-0", ValueError, r"n_trials"),
    ("equivariance_error-1d", ValueError, r"X must be 2-D.*\(n_samples"),
    ("equivariance_error-width", ValueError, r"multiple of the 3 columns"),
    ("equivariance_error-empty", ValueError, r"0 sample"),
    ("equivariance_error-not-callable", TypeError, r"frame_function"),
    ("equivariance_error-n_trials-0", ValueError, r"n_trials"),
    ("orbit_distortion-one-sample", ValueError, r"at least 2 samples"),
    ("orbit_distortion-n_pairs-0", ValueError, r"n_pairs"),
    ("orbit_distortion-product-group", NotImplementedError, r"No exact quotient distance"),
    ("orbit_separation-one-sample", ValueError, r"at least 2 samples"),
    ("orbit_separation-X_other-shape", ValueError, r"X_other must have the shape of X"),
    ("quotient_distance-shape", ValueError, r"X and Y|same shape"),
]


@pytest.mark.parametrize("name, err, pattern", METRIC_CASES)
def test_metrics_bad_input(name, err, pattern):
    with pytest.raises(err, match=pattern):
        _metrics_call(name)()


def test_metrics_accept_numeric_strings_like_the_estimators():
    from skcanon.metrics import invariance_error

    c, X = _fitted_pca()
    assert invariance_error(c, X.astype(str), "SE3", random_state=0).max < 1e-9


def test_metrics_integer_input_is_finite():
    from skcanon.metrics import equivariance_error, invariance_error

    c, X = _fitted_pca()
    Xi = np.round(X * 3).astype(np.int64)
    for res in (invariance_error(c, Xi, "SE3", random_state=0), equivariance_error(c, Xi, "SE3", random_state=0)):
        assert np.isfinite(res.max) and res.max < 1e-9


@pytest.mark.parametrize("group", ["SO3", "T3", "scaling"])
def test_group_apply_on_integer_input_is_not_truncated(group):
    from skcanon.groups import get_group
    from skcanon.layouts import PointLayout

    G = get_group(group)
    X = np.arange(12).reshape(2, 6)
    g = G.sample(2, 0, n_points=2)
    np.testing.assert_allclose(G.apply(g, X, PointLayout(3)), G.apply(g, X.astype(float), PointLayout(3)))


DASK_CASES = ["nan", "wrong-width", "sparse-blocks", "object", "int"]


@pytest.mark.parametrize("case", DASK_CASES)
def test_transform_dask_bad_blocks(case):
    da = pytest.importorskip("dask.array")
    from skcanon.dask import transform_dask

    canon, X = _fitted_pca()
    if case == "nan":
        Xd = da.from_array(_with(X, np.nan), chunks=(3, -1))
        with pytest.raises(ValueError, match="X contains NaN inside a point"):
            transform_dask(canon, Xd).compute(scheduler="sync")
    elif case == "wrong-width":
        with pytest.raises(ValueError, match="Could not infer.*expecting 15 features"):
            transform_dask(canon, da.from_array(X[:, :12], chunks=(3, -1)))
    elif case == "sparse-blocks":
        with pytest.raises(TypeError, match="dask.array"):
            transform_dask(canon, sp.csr_matrix(X))
    else:
        Xb = np.round(X * 3).astype(np.int64) if case == "int" else X.astype(object)
        Y = transform_dask(canon, da.from_array(Xb, chunks=(3, -1)), dtype=np.float64).compute(scheduler="sync")
        np.testing.assert_allclose(Y, canon.transform(Xb))


def _datasets_call(name):
    from skcanon import datasets as D

    tiny = dict(n_train=2, n_val=0, n_test=0, n_steps=1)
    return {
        "make_nbody-n_particles-1": lambda: D.make_nbody(n_particles=1, **tiny),
        "make_nbody-n_steps--1": lambda: D.make_nbody(**{**tiny, "n_steps": -1}),
        "make_nbody-dt-nan": lambda: D.make_nbody(dt=np.nan, **tiny),
        "make_nbody-n_train-float": lambda: D.make_nbody(**{**tiny, "n_train": 1.5}),
        "make_nbody-n_train-str": lambda: D.make_nbody(**{**tiny, "n_train": "3"}),
        "make_nbody-n_dims-0": lambda: D.make_nbody(n_dims=0, **tiny),
        "make_nbody-n_val--1": lambda: D.make_nbody(**{**tiny, "n_val": -1}),
        "simulate_nbody-1d": lambda: D.simulate_nbody(np.ones(14), n_steps=1),
        "simulate_nbody-n_steps--1": lambda: D.simulate_nbody(np.ones((2, 14)), n_steps=-1),
        "simulate_nbody-zero-systems": lambda: D.simulate_nbody(np.ones((0, 14)), n_steps=1),
        "simulate_nbody-str": lambda: D.simulate_nbody(np.full((1, 14), "a"), n_steps=1),
        "make_point_shapes-n_samples-0": lambda: D.make_point_shapes(n_samples=0),
        "make_point_shapes-n_points-0": lambda: D.make_point_shapes(n_samples=4, n_points=0),
        "make_point_shapes-noise-nan": lambda: D.make_point_shapes(n_samples=4, noise=np.nan),
        "make_point_shapes-noise-inf": lambda: D.make_point_shapes(n_samples=4, noise=np.inf),
        "make_point_shapes-shapes-empty": lambda: D.make_point_shapes(n_samples=4, shapes=[]),
        "load_graph_atlas-min>max": lambda: D.load_graph_atlas(min_nodes=5, max_nodes=2),
        "load_graph_atlas-max_nodes-8": lambda: D.load_graph_atlas(max_nodes=8),
        "load_graph_atlas-target": lambda: D.load_graph_atlas(target="girth"),
        "load_graph_atlas-target-empty": lambda: D.load_graph_atlas(target=[]),
        "graphs_to_arrays-empty": lambda: D.graphs_to_arrays([]),
        "load_rotated_mnist-rotation": lambda: D.load_rotated_mnist(rotation="C0"),
    }[name]


DATASET_CASES = [
    ("make_nbody-n_particles-1", r"n_particles must be an int >= 2"),
    ("make_nbody-n_steps--1", r"n_steps must be an int >= 0"),
    ("make_nbody-dt-nan", r"dt must be finite"),
    ("make_nbody-n_train-float", r"n_train must be an int"),
    ("make_nbody-n_train-str", r"n_train must be an int"),
    ("make_nbody-n_dims-0", r"n_dims must be an int >= 1"),
    ("make_nbody-n_val--1", r"n_val must be an int >= 0"),
    ("simulate_nbody-1d", r"X must be 2-D.*\(n_samples, n_points \* 7\)"),
    ("simulate_nbody-n_steps--1", r"n_steps must be an int >= 0"),
    ("simulate_nbody-zero-systems", r"X has 0 sample"),
    ("simulate_nbody-str", r"X must be numeric"),
    ("make_point_shapes-n_samples-0", r"n_samples must be an int >= 1"),
    ("make_point_shapes-n_points-0", r"n_points must be an int >= 1"),
    ("make_point_shapes-noise-nan", r"noise must be finite"),
    ("make_point_shapes-noise-inf", r"noise must be (finite|>= 0)"),
    ("make_point_shapes-shapes-empty", r"shapes must be distinct names"),
    ("load_graph_atlas-min>max", r"min_nodes <= max_nodes <= 7"),
    ("load_graph_atlas-max_nodes-8", r"max_nodes <= 7"),
    ("load_graph_atlas-target", r"target must be one of"),
    ("load_graph_atlas-target-empty", r"target must be one of"),
    ("graphs_to_arrays-empty", r"at least one graph"),
    ("load_rotated_mnist-rotation", r"rotation must be one of"),
]


@pytest.mark.parametrize("name, pattern", DATASET_CASES)
def test_dataset_parameters(name, pattern):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning instead of an error counts as a failure
        with pytest.raises((ValueError, TypeError), match=pattern):  # TypeError: non-numeric X
            _datasets_call(name)()


@pytest.mark.parametrize("case", ["n_steps-0", "int-states", "coincident-particles", "n_points-1"])
def test_dataset_edge_values_are_finite(case):
    from skcanon import datasets as D

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if case == "n_steps-0":
            out = D.make_nbody(n_train=2, n_val=0, n_test=0, n_steps=0, random_state=0).train.data
        elif case == "int-states":
            out = D.simulate_nbody(np.ones((2, 14), dtype=np.int64), n_steps=2)
        elif case == "coincident-particles":  # zero distance: forces clipped, not NaN
            out = D.simulate_nbody(np.ones((2, 14)), n_steps=2)
        else:
            out = D.make_point_shapes(n_samples=4, n_points=1, random_state=0).data
    assert np.isfinite(out).all() and out.dtype == np.float64


# -- device ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["tpu", "opengl", "cuda:x", "cuda:", "", 3, None])
def test_device_is_validated_before_any_work(device):
    """Issue 14 item 9: device='tpu' raised torch's RuntimeError from inside the network."""
    est = CanonicalizerTransformer("SO3", "random", hidden=8, random_state=0, device=device)
    with pytest.raises(ValueError, match=r"device.*expected 'auto', 'cpu', 'cuda', 'cuda:N'"):
        est.fit(good_input("points"))


@pytest.mark.parametrize("device, expected", [
    ("auto", "auto"), ("cpu", "cpu"), (" CUDA ", "cuda"), ("cuda:1", "cuda:1"), ("mps", "mps"),
])
def test_check_device_accepts_and_normalises(device, expected):
    from skcanon._validation import check_device

    assert check_device(device) == expected


def test_check_device_takes_torch_devices_and_names_the_parameter():
    import torch

    from skcanon._validation import check_device

    assert check_device(torch.device("cuda", 1)) == "cuda:1"
    assert check_device(torch.device("cpu")) == "cpu"
    with pytest.raises(ValueError, match=r"module__device='xla'"):
        check_device("xla", name="module__device")
    with pytest.raises(ValueError, match=r"device=device\(type='meta'\)"):
        check_device(torch.device("meta"))


def test_check_device_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom skcanon._validation import check_device\n"
            "assert check_device('cuda:0') == 'cuda:0' and check_device('auto') == 'auto'\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cpu_device_spellings_fit():
    X = good_input("points")
    ref = CanonicalizerTransformer("SO3", "random", hidden=8, random_state=0, device="cpu").fit(X).transform(X)
    out = CanonicalizerTransformer("SO3", "random", hidden=8, random_state=0, device=" CPU").fit(X).transform(X)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("group,suggested", [("SE3", "SO3"), ("E3xS_n", "O3xS_n"), ("T3xS_n", "S_n"), ("Sim3", "SO3")])
def test_translating_groups_refuse_layouts_without_positions(group, suggested):
    """Vectors only (no position field) under a group with translations: the vectors were
    centred as if they were positions, and two generic vectors under SE3 got canonical forms
    that differed between poses by up to 2 (three under E3: 7 of 20 samples), as did the
    predictions of both regressors. Translations act on nothing there: refused, naming the
    group without them."""
    from skcanon import EquivariantRegressor, FrameAveragingRegressor
    from skcanon.layouts import PointLayout

    layout = PointLayout(3, fields=[("v", "vector")])
    X = np.random.default_rng(0).normal(size=(20, 6))
    match = f"group '{group}' translates positions, but layout .* no position field.*'{suggested}'"
    with pytest.raises(ValueError, match=match):
        CanonicalizerTransformer(group, layout=layout).fit(X)
    if "S_n" not in group and group != "Sim3":
        with pytest.raises(ValueError, match=match):
            FrameAveragingRegressor(group=group, frames="weighted", layout=layout).fit(X, X[:, 0])
        with pytest.raises(ValueError, match=match):
            EquivariantRegressor(CanonicalizerTransformer(group, layout=layout)).fit(X, X[:, 0])
    # the same vectors under the rotations alone are fine
    Z = CanonicalizerTransformer(suggested, layout=layout).fit_transform(X)
    assert np.isfinite(Z).all()


def test_canonical_projection_ignores_the_canonicalizers_fill_value():
    """A canonicalizer with fill_value inside InvariantProjector("canonical") filled absent
    points before the projector looked for them: they were marked present and kept the fill
    value, and under S_n with fill_value=9 a cloud with an absent point and one with a real
    point at (9, 9, 9) got equal features while lossless_ was True."""
    A = np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3], [np.nan] * 3]).reshape(1, 12)
    B = np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3], [9, 9, 9]], float).reshape(1, 12)
    for fill in (0.0, 9.0):
        proj = InvariantProjector("S_n", "canonical",
                                  canonicalizer=CanonicalizerTransformer("S_n", fill_value=fill)).fit(np.vstack([A, B]))
        FA, FB = proj.transform(A), proj.transform(B)
        assert not np.array_equal(FA, FB)
        names = list(proj.get_feature_names_out())
        assert FA[0, names.index("present_3")] == 0 and (FA[0, 9:12] == 0).all()


def test_equivariance_error_names_a_group_other_than_the_frames():
    """equivariance_error with a group other than the canonicalizer's (SO3 for SE3 frames,
    S_n for SE3xS_n ones) failed inside numpy (a core-dimension mismatch, a broadcast error)."""
    from skcanon.metrics import equivariance_error

    X = np.random.default_rng(0).normal(size=(20, 12))
    for fitted, group in ((CanonicalizerTransformer("SE3", "pca").fit(X), "SO3"),
                          (CanonicalizerTransformer("SE3xS_n").fit(X), "S_n")):
        with pytest.raises(ValueError, match=f"group '{group}' differs from the group of the frames"):
            equivariance_error(fitted, X, group, random_state=0)
    frames = CanonicalizerTransformer("SE3", "pca").fit(X).canonical_frame
    with pytest.raises(ValueError, match="not elements of group 'SO3'"):
        equivariance_error(lambda Z: frames(Z), X, "SO3", random_state=0)


@pytest.mark.parametrize("fill_value", [np.inf, -np.inf, np.nan, True])
def test_fill_value_must_be_a_finite_number(fill_value):
    """fill_value=np.inf wrote inf into the output (whose purpose is to feed estimators that
    refuse NaN); True was read as 1.0."""
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="fill_value"):
        CanonicalizerTransformer("SE3", fill_value=fill_value).fit(np.zeros((3, 6)))


@pytest.mark.parametrize("group", ["SO3", "O2", "T3", "SE3", "Sim3", "scaling", "S_n", "C4", "D4", "O",
                                   "E3xS_n"])
@pytest.mark.parametrize("n", [-1, 2.5, True, "3"])
def test_group_element_counts_are_checked(group, n):
    """``sample(-1)`` failed inside numpy ("negative dimensions"), ``sample(2.5)`` with a
    TypeError of numpy's, ``sample(True)`` drew one element."""
    from skcanon.groups import get_group

    g = get_group(group)
    for draw in (lambda: g.sample(n, random_state=0, n_points=4), lambda: g.identity(n, n_points=4)):
        with pytest.raises(ValueError, match=rf"n must be a non-negative integer.*{g.name}"):
            draw()
    with pytest.raises(ValueError, match=r"n_points must be a non-negative integer"):
        g.sample(2, random_state=0, n_points=-3)


def test_group_draws_are_unchanged_by_the_count_check():
    """The check reads the count only: the draws are those of the generators themselves,
    for ints, numpy integers and 0-d integer arrays alike."""
    from skcanon.groups import get_group, haar_orthogonal

    for n in (3, np.int64(3), np.array(3)):
        np.testing.assert_array_equal(get_group("SO3").sample(n, random_state=5),
                                      haar_orthogonal(3, 3, 5, True))
        np.testing.assert_array_equal(get_group("D4").sample(n, random_state=5),
                                      np.random.RandomState(5).randint(0, 8, size=3))
        perms = get_group("S_n").sample(n, random_state=5, n_points=np.int32(4))
        expected = np.argsort(np.random.RandomState(5).random_sample((3, 4)), axis=1)
        np.testing.assert_array_equal(perms, expected)
    assert len(get_group("SO3").sample(0, random_state=0)) == 0
    assert len(get_group("SO2").grid(np.int64(5))) == 5
    with pytest.raises(ValueError, match=r"n must be a non-negative integer.*SO2"):
        get_group("SO2").grid(2.5)
    with pytest.raises(ValueError, match=r"n_points must be a non-negative integer \(the number of points"):
        get_group("S_n").sample(2, n_points=-1)


def test_pandas_na_in_an_object_array_is_an_absent_value():
    """The same data was read as a nullable DataFrame (NA as NaN) and refused as the object
    array ``DataFrame.to_numpy()`` gives ("column 0 holds <NA>"), which None was not."""
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(0).normal(size=(6, 9))
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(9)]).astype("Float64")
    frame.iloc[1, 3:6] = pd.NA
    objects = frame.to_numpy()
    assert objects.dtype == object and objects[1, 3] is pd.NA
    kept = objects.copy()
    expected = CanonicalizerTransformer("SE3xS_n").fit_transform(frame)
    np.testing.assert_array_equal(CanonicalizerTransformer("SE3xS_n").fit_transform(objects), expected)
    np.testing.assert_array_equal(CanonicalizerTransformer("SE3xS_n").fit_transform(frame.astype(object)),
                                  expected)
    np.testing.assert_array_equal(InvariantProjector("SE3xS_n").fit_transform(objects),
                                  InvariantProjector("SE3xS_n").fit_transform(frame))
    assert all(a is b for a, b in zip(objects.ravel(), kept.ravel()))     # the caller's array untouched
    from skcanon.metrics import continuity_ratio

    fitted = CanonicalizerTransformer("SE3xS_n").fit(objects)
    assert continuity_ratio(fitted, objects, random_state=0).max == \
        continuity_ratio(fitted, frame.to_numpy(dtype=float, na_value=np.nan), random_state=0).max
    y = X[:, :3].astype(object)                                 # an NA target is a missing value
    y[0, 0] = pd.NA
    with pytest.raises(ValueError, match="y contains NaN or infinity"):
        EquivariantRegressor(CanonicalizerTransformer("SE3")).fit(X, y)
    objects[1, 3] = 1.0                                         # NA beside a value: part of a point
    with pytest.raises(ValueError, match="NaN inside a point"):
        CanonicalizerTransformer("SE3xS_n").fit(objects)
    objects[1, 3] = "a"                                         # text still named
    with pytest.raises(TypeError, match="column 3 holds 'a'"):
        CanonicalizerTransformer("SE3xS_n").fit(objects)
    objects = frame.to_numpy()
    objects[2, 7] = "b"                                         # text after the NA: it is named, not NA
    with pytest.raises(TypeError, match="column 7 holds 'b'"):
        CanonicalizerTransformer("SE3xS_n").fit(objects)
