"""Three newcomers' first attempts (issue 18): each works, or fails with a message naming the fix.

* a chemist with a DataFrame of atoms (``atom{i}_x/y/z``, ``atom{i}_element`` symbols, NaN
  for absent atoms);
* a researcher with flat rows of rotated digit images and no ``layout``;
* a graph user with networkx graphs who wants a classifier and pandas output.
"""

import warnings

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skcanon import CanonicalizerTransformer
from skcanon.exceptions import InexactActionWarning
from skcanon.groups import get_group
from skcanon.layouts import PointLayout

pd = pytest.importorskip("pandas")
nx = pytest.importorskip("networkx")

ELEMENTS = np.array(["C", "H", "O", "N"])


def molecules(n=60, max_atoms=5, seed=0, rotate=True):
    """Two classes of small molecules (elongated / compact), randomly moved, atoms shuffled,
    as the DataFrame a chemist would write: NaN coordinates and element for absent atoms."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    P = rng.normal(size=(n, max_atoms, 3)) * np.where(y[:, None, None] == 0, [3.0, 1.0, 0.5], [1.0, 1.0, 1.0])
    el = rng.choice(ELEMENTS, size=(n, max_atoms)).astype(object)
    n_atoms = rng.integers(3, max_atoms + 1, n)
    for i, k in enumerate(n_atoms):
        perm = rng.permutation(max_atoms)
        P[i], el[i] = P[i, perm], el[i, perm]
        P[i, k:] = np.nan
        el[i, k:] = np.nan
    if rotate:
        G = get_group("SE3")
        P = G.apply(G.sample(n, seed + 1), P.reshape(n, -1), PointLayout(3)).reshape(P.shape)
    columns = {}
    for a in range(max_atoms):
        for d, axis in enumerate("xyz"):
            columns[f"atom{a}_{axis}"] = P[:, a, d]
        columns[f"atom{a}_element"] = el[:, a]
    return pd.DataFrame(columns), y, P, el


# -- the chemist ------------------------------------------------------------------------------------
def test_chemist_first_attempt_reads_columns_by_name():
    df, y, P, el = molecules()
    canon = CanonicalizerTransformer("SE3xS_n")  # no layout: the names say what each column is
    out = canon.fit_transform(df)
    assert canon.layout_.n_dims == 3 and [f.name for f in canon.layout_.fields] == ["pos", "element"]
    assert list(canon.categories_["element"]) == ["C", "H", "N", "O"]
    assert list(canon.get_feature_names_out()) == list(df.columns)
    # absent atoms stay absent (whole NaN rows), present ones are finite
    n_absent = int(np.isnan(P[:, :, 0]).sum())
    assert np.isnan(out).sum() == 4 * n_absent
    # moving and relabelling the atoms does not change the canonical form
    moved, _, _, _ = molecules(seed=0, rotate=False)
    np.testing.assert_allclose(canon.transform(moved), out, atol=1e-8)


def test_chemist_nan_free_output_for_estimators_that_refuse_nan():
    df, y, _, _ = molecules()
    # HistGradientBoosting takes NaN as it is ...
    make_pipeline(CanonicalizerTransformer("SE3xS_n"), HistGradientBoostingClassifier(max_iter=5)).fit(df, y)
    # ... LogisticRegression needs fill_value (documented in the user guide)
    pipe = make_pipeline(CanonicalizerTransformer("SE3xS_n", fill_value=0.0), LogisticRegression(max_iter=500))
    assert pipe.fit(df, y).score(df, y) > 0.5
    out = pipe[0].set_output(transform="pandas").transform(df)
    assert list(out.columns) == list(df.columns) and not out.isna().any().any()


def test_chemist_unknown_element_and_polars():
    df, y, _, _ = molecules()
    canon = CanonicalizerTransformer("SE3xS_n").fit(df)
    bad = df.copy()
    bad.loc[0, "atom0_element"] = "Xe"
    with pytest.raises(ValueError, match=r"'Xe', a category of field 'element' not seen in fit"):
        canon.transform(bad)
    pl = pytest.importorskip("polars")
    out = CanonicalizerTransformer("SE3xS_n").set_output(transform="polars").fit(pl.from_pandas(df)).transform(
        pl.from_pandas(df))
    np.testing.assert_allclose(out.to_numpy(), canon.transform(df))


def test_chemist_message_names_the_fix_for_an_explicit_layout():
    """An explicit PointLayout without the element field: the error says to declare it."""
    df, _, _, _ = molecules()
    with pytest.raises(ValueError, match=r"'atom0_element' does not name a point component.*categorical=True"):
        CanonicalizerTransformer("SE3xS_n", layout=PointLayout.from_columns(df.columns)).fit(df)
    # flat ndarray of the same data: the error names the text column's fix
    with pytest.raises(TypeError, match=r"column 3 holds .* not a number.*categorical=True"):
        CanonicalizerTransformer("SE3xS_n").fit(df.to_numpy())


# -- the image researcher ---------------------------------------------------------------------------
def digits(n=40, side=12, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    imgs = np.zeros((n, side, side))
    for i in range(n):
        imgs[i, 2:10, 5:7] = 1.0                       # a stroke
        if y[i]:
            imgs[i, 2:4, 3:9] = 1.0                    # class 1 has a bar on top
        imgs[i] = np.rot90(imgs[i], rng.integers(4))
    return imgs.reshape(n, -1) + 0.01 * rng.random((n, side * side)), y


def test_image_researcher_without_layout_gets_a_clear_error():
    X, y = digits()
    with pytest.raises(ValueError, match=r"layout='image'"):
        CanonicalizerTransformer("SO2").fit(X)
    grid = GridSearchCV(make_pipeline(CanonicalizerTransformer("SO2"), LogisticRegression()),
                        {"canonicalizertransformer__method": ["moments", "identity"]}, cv=2,
                        error_score="raise")
    with pytest.raises(ValueError, match=r"layout='image'"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InexactActionWarning)
            grid.fit(X, y)


def test_image_researcher_with_layout_image():
    X, y = digits()
    grid = GridSearchCV(make_pipeline(CanonicalizerTransformer("SO2", layout="image"),
                                      LogisticRegression(max_iter=500)),
                        {"canonicalizertransformer__method": ["moments", "identity"]}, cv=2,
                        error_score="raise")
    with pytest.warns(InexactActionWarning) as record:
        grid.fit(X, y)
    assert {w.filename for w in record} == {__file__}  # the researcher's own line
    assert grid.best_params_["canonicalizertransformer__method"] == "moments"


# -- the graph user ---------------------------------------------------------------------------------
def graphs(n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    out = []
    for i in range(n):
        g = nx.cycle_graph(6) if y[i] else nx.path_graph(6)
        mapping = dict(zip(g.nodes, rng.permutation(6)))
        out.append(nx.relabel_nodes(g, mapping))
    return out, y


def test_graph_pipeline_with_pandas_output():
    G, y = graphs()
    pipe = make_pipeline(CanonicalizerTransformer("S_n", layout="graph"),
                         RandomForestClassifier(n_estimators=10, random_state=0)).set_output(transform="pandas")
    assert pipe.fit(G, y).score(G, y) == 1.0
    features = pipe[0].transform(G)
    assert isinstance(features, pd.DataFrame)
    assert list(features.columns) == list(pipe[0].get_feature_names_out())
    # relabelled nodes give the same rows
    G2, _ = graphs(seed=5)
    f2 = pipe[0].transform(G2)
    assert len({tuple(r) for r in np.vstack([features.to_numpy(), f2.to_numpy()]).tolist()}) == 2
    with pytest.raises(ValueError, match=r"GraphLayout\(n_nodes=N\)"):
        pipe.predict([nx.path_graph(8)])
