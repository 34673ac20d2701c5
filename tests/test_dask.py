"""Scale-out on Dask: results on a real multi-process cluster equal the in-memory ones.

One ``dask.distributed.LocalCluster`` (2 worker processes, 1 thread each) serves the whole
module. Skipped when the ``dask`` extra is not installed.
"""

import logging
import warnings

import numpy as np
import pytest

pytest.importorskip("dask.array", reason="dask is not installed (pip install -e '.[dask]' in the checkout)")
distributed = pytest.importorskip(
    "dask.distributed", reason="dask.distributed is not installed (pip install -e '.[dask]' in the checkout)"
)

import dask.array as da  # noqa: E402
import pandas as pd  # noqa: E402
import joblib  # noqa: E402
from sklearn.base import BaseEstimator, TransformerMixin  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

from skcanon import CanonicalizerTransformer  # noqa: E402
from skcanon.dask import transform_dask  # noqa: E402
from skcanon.datasets import make_point_shapes  # noqa: E402
from skcanon.groups import get_group  # noqa: E402
from skcanon.layouts import ImageLayout  # noqa: E402


@pytest.fixture(scope="module")
def client():
    """A 2-process local cluster; its shutdown chatter must not fail the suite."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           dashboard_address=":0", silence_logs=logging.ERROR)
        client = distributed.Client(cluster, set_as_default=True)
    try:
        yield client
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client.close()
            cluster.close()


@pytest.fixture(scope="module")
def clouds():
    X, y = make_point_shapes(n_samples=120, n_points=12, shapes="tetris", random_state=0,
                             return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def digits_c4():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16.0, y[:300]
    group, layout = get_group("C4"), ImageLayout((8, 8))
    X = group.apply(group.sample(len(X), random_state=0), X, layout)
    return X, y


def test_transform_dask_flat_points_identical(client, clouds):
    X, _ = clouds
    canon = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(X)
    Xd = da.from_array(X, chunks=(35, X.shape[1]))
    Y = transform_dask(canon, Xd)
    # metadata is exact before anything is computed
    assert Y.shape == X.shape and Y.dtype == np.float64
    assert Y.chunks == ((35, 35, 35, 15), (X.shape[1],))
    out = Y.compute()
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, canon.transform(X))
    assert len(client.scheduler_info()["workers"]) == 2


def test_transform_dask_refuses_a_dtype_that_loses_the_output(client, clouds):
    """dtype=np.int8 truncated and wrapped float coordinates (errors up to 257), silently."""
    X, _ = clouds
    canon = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(X)
    Xd = da.from_array(X * 100, chunks=(35, X.shape[1]))
    with pytest.raises(TypeError, match="dtype=int8 cannot hold the float64 output"):
        transform_dask(canon, Xd, dtype=np.int8).compute()
    out = transform_dask(canon, Xd, dtype=np.float32).compute()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, canon.transform(X * 100), rtol=1e-6, atol=1e-4)
    # labels: a dtype that holds them is fine (object or strings from object output, small
    # ints as int8); one that cuts or wraps them is refused
    y = np.array(["cat", "dog", "bird"], dtype=object)[np.arange(len(X)) % 3]
    pipe = make_pipeline(CanonicalizerTransformer("SE3xS_n", "pca+sort"), LogisticRegression(max_iter=200))
    pipe.fit(X, y)
    Xd = da.from_array(X, chunks=(35, X.shape[1]))
    expected = pipe.predict(X).tolist()
    for dtype in (str, "U4", object):
        assert transform_dask(pipe, Xd, method="predict", dtype=dtype).compute().tolist() == expected
    with pytest.raises(TypeError, match=r"dtype=<U2 cannot hold the object output"):
        transform_dask(pipe, Xd, method="predict", dtype="U2").compute()
    pipe.fit(X, np.arange(len(X)) % 3 * 100)
    wide = transform_dask(pipe, Xd, method="predict", dtype=np.int16).compute()
    assert wide.tolist() == pipe.predict(X).tolist()
    with pytest.raises(TypeError, match="dtype=int8 cannot hold the int64 output"):
        transform_dask(pipe, Xd, method="predict", dtype=np.int8).compute()



class _ObjectOutput(TransformerMixin, BaseEstimator):
    """Object output holding pandas' NA (nullable columns): no truth value to compare."""

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X):
        out = np.asarray(X, dtype=float)[:, :3].astype(object)
        out[::2, 0] = pd.NA
        return out


def test_transform_dask_keeps_object_output_with_missing_values(client, clouds):
    """The value check compared pd.NA entries (no truth value) and refused every block, also
    with dtype=None; object numbers cast to float32 round as asked."""
    X, _ = clouds
    est = _ObjectOutput().fit(X)
    Xd = da.from_array(X, chunks=(35, X.shape[1]))
    for dtype in (None, object):
        out = transform_dask(est, Xd, dtype=dtype, output_shape=(3,)).compute()
        assert out.dtype == object and out[0, 0] is pd.NA and out[1, 0] == X[1, 0]
    floats = transform_dask(est, Xd, dtype=np.float32, output_shape=(3,))
    with pytest.raises(TypeError, match="cannot hold the object output"):   # NA is no float
        floats.compute()


def test_transform_dask_3d_float32_and_rechunk(client, clouds):
    X, _ = clouds
    X3 = X.reshape(len(X), -1, 3).astype(np.float32)
    canon = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(X3)
    # the points axis is split on purpose: transform_dask must never split a sample
    Xd = da.from_array(X3, chunks=(50, 5, 3))
    Y = transform_dask(canon, Xd)
    assert Y.shape == X3.shape and Y.dtype == np.float32
    assert Y.chunks == ((50, 50, 20), (12,), (3,))
    out = Y.compute()
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, canon.transform(X3))


def test_transform_dask_images_and_frames_of_work(client, digits_c4):
    X, _ = digits_c4
    canon = CanonicalizerTransformer("C4", "moments", layout=ImageLayout((8, 8))).fit(X)
    Y = transform_dask(canon, da.from_array(X, chunks=100))
    np.testing.assert_array_equal(Y.compute(), canon.transform(X))


def test_transform_dask_changes_width_and_rank(client, clouds):
    X, y = clouds
    pipe = make_pipeline(CanonicalizerTransformer("SE3xS_n", "pca+sort"), PCA(n_components=5)).fit(X)
    Y = transform_dask(pipe, da.from_array(X, chunks=40))
    assert Y.shape == (len(X), 5) and Y.chunks == ((40, 40, 40), (5,))
    np.testing.assert_allclose(Y.compute(), pipe.transform(X), rtol=0, atol=1e-12)

    # predict: 2-D in, 1-D out (a dropped axis); labels keep their dtype
    clf = make_pipeline(CanonicalizerTransformer("SE3xS_n", "pca+sort"), KNeighborsClassifier(3)).fit(X, y)
    labels = transform_dask(clf, da.from_array(X, chunks=40), method="predict")
    assert labels.shape == (len(X),) and labels.dtype == clf.predict(X[:1]).dtype
    np.testing.assert_array_equal(labels.compute(), clf.predict(X))
    proba = transform_dask(clf, da.from_array(X, chunks=40), method="predict_proba")
    np.testing.assert_array_equal(proba.compute(), clf.predict_proba(X))


def test_transform_dask_3d_to_2d_projector(client, clouds):
    projector_module = pytest.importorskip("skcanon._projector", reason="InvariantProjector not available yet")
    X, _ = clouds
    X3 = X.reshape(len(X), -1, 3)
    proj = projector_module.InvariantProjector(group="S_n", method="sort").fit(X3)
    Y = transform_dask(proj, da.from_array(X3, chunks=(60, 12, 3)))
    expected = proj.transform(X3)
    assert Y.ndim == 2 and Y.shape == expected.shape
    np.testing.assert_array_equal(Y.compute(), expected)


def test_transform_dask_bad_input():
    X = np.random.default_rng(0).normal(size=(20, 9))
    canon = CanonicalizerTransformer("SO3", "pca")
    with pytest.raises(NotFittedError):
        transform_dask(canon, da.from_array(X, chunks=10))
    canon.fit(X)
    with pytest.raises(TypeError, match="dask.array"):
        transform_dask(canon, X)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        transform_dask(canon, da.zeros(9, chunks=3))
    with pytest.raises(ValueError, match="method must be one of"):
        transform_dask(canon, da.from_array(X, chunks=10), method="fit")
    with pytest.raises(TypeError, match="no method 'predict'"):
        transform_dask(canon, da.from_array(X, chunks=10), method="predict")
    with pytest.raises(ValueError, match="Could not infer"):  # 9 columns are not 2-D points
        transform_dask(CanonicalizerTransformer("SO2", "pca").fit(X[:, :8]), da.from_array(X, chunks=10))
    # the input is never modified
    X_before = X.copy()
    transform_dask(canon, da.from_array(X, chunks=10)).compute(scheduler="sync")
    np.testing.assert_array_equal(X, X_before)


def test_parallel_post_fit(client, clouds):
    wrappers = pytest.importorskip("dask_ml.wrappers", reason="dask-ml is not installed")
    X, y = clouds
    Xd = da.from_array(X, chunks=40)
    wrapped = wrappers.ParallelPostFit(CanonicalizerTransformer("SE3xS_n", "pca+sort")).fit(X)
    plain = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(X)
    out = wrapped.transform(Xd)
    assert isinstance(out, da.Array)
    np.testing.assert_array_equal(out.compute(), plain.transform(X))

    pipe = make_pipeline(CanonicalizerTransformer("SE3xS_n", "pca+sort"), KNeighborsClassifier(3))
    wrapped = wrappers.ParallelPostFit(pipe).fit(X, y)
    np.testing.assert_array_equal(wrapped.predict(Xd).compute(), pipe.fit(X, y).predict(X))


def test_grid_search_on_dask_backend(client, digits_c4):
    X, y = digits_c4
    pipe = make_pipeline(CanonicalizerTransformer("C4", layout=ImageLayout((8, 8))),
                         LogisticRegression(max_iter=300))
    grid = {"canonicalizertransformer__method": ["identity", "moments"],
            "logisticregression__C": [0.1, 1.0]}
    cv = KFold(3, shuffle=True, random_state=0)
    local = GridSearchCV(pipe, grid, cv=cv, n_jobs=1).fit(X, y)
    with joblib.parallel_config(backend="dask"):
        remote = GridSearchCV(pipe, grid, cv=cv, n_jobs=-1).fit(X, y)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"],
                               rtol=0, atol=1e-12)
    # the symmetry-aware pipeline wins on rotated digits
    assert remote.best_params_["canonicalizertransformer__method"] == "moments"


def test_transform_dask_with_a_categorical_field_and_a_network(client):
    """The output probe used a sample of ones, which a categorical field without code 1
    refuses: transform_dask failed. It now falls back to the first sample of X. Network
    canonicalizers agree with in-memory output to rounding (as a different batch_size does)."""
    from skcanon.layouts import Field, PointLayout

    layout = PointLayout(3, [Field("pos", "position", 3), Field("el", "scalar", 1, categorical=True)])
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(40, 5, 3)), rng.choice([6.0, 7.0, 8.0], size=(40, 5, 1))], 2).reshape(40, -1)
    canon = CanonicalizerTransformer("E3xS_n", "pca+sort", layout=layout).fit(X)
    np.testing.assert_array_equal(transform_dask(canon, da.from_array(X, chunks=10)).compute(),
                                  canon.transform(X))
    pytest.importorskip("torch")
    net = CanonicalizerTransformer("E3xS_n", "random", layout=layout, hidden=16, random_state=0).fit(X)
    out = transform_dask(net, da.from_array(X, chunks=10)).compute()
    np.testing.assert_allclose(out, net.transform(X), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(-18,), 18, (18.0,), [18]])
def test_transform_dask_checks_output_shape_when_called(shape):
    """``(-18,)`` built a graph of shape (n, -18) that failed only at ``compute``, blaming a
    probe although the shape was given; ``18`` failed with "'int' object is not iterable"."""
    from skcanon.dask import transform_dask

    X = np.random.default_rng(0).normal(size=(20, 18))
    canon = CanonicalizerTransformer("SO3", "pca").fit(X)
    with pytest.raises(ValueError, match="output_shape must be a tuple of ints >= 0"):
        transform_dask(canon, da.from_array(X, chunks=10), output_shape=shape)


def test_transform_dask_probes_arrays_of_unknown_chunk_sizes():
    """Where the estimator refuses a sample of ones (a categorical field without code 1),
    the probe took X[:1], which dask refuses on unknown chunk sizes (a dask DataFrame's
    to_dask_array()); a dask DataFrame's error advised a conversion that fails."""
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    from skcanon.layouts import Field, PointLayout

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(40, 4, 3)), rng.choice([6.0, 8.0], size=(40, 4, 1))], axis=2).reshape(40, -1)
    layout = PointLayout(3, fields=[("pos", "position"), Field("element", "scalar", 1, categorical=True)])
    canon = CanonicalizerTransformer("SE3xS_n", "pca+sort", layout=layout).fit(X)
    frame = dd.from_pandas(pd.DataFrame(X), npartitions=4)
    unknown = frame.to_dask_array()
    assert np.isnan(unknown.chunks[0][0])
    np.testing.assert_array_equal(transform_dask(canon, unknown).compute(scheduler="sync"), canon.transform(X))
    # the DataFrame itself is read partition by partition (see the tests of dask DataFrames)
    np.testing.assert_array_equal(transform_dask(canon, frame).compute(scheduler="sync"), canon.transform(X))
    with pytest.raises(TypeError, match=r"to_frame\(\)"):
        transform_dask(canon, frame[0])


def test_transform_dask_after_a_dataframe_fit_reads_blocks_by_the_fitted_names():
    """A Dask DataFrame reaches transform_dask as an array, so every block of a model fitted
    on a DataFrame raised scikit-learn's "X does not have valid feature names" warning (an
    error under this suite's filters), in the probe too, for pipelines with scikit-learn
    steps as well."""
    pd = pytest.importorskip("pandas")
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 12))
    frame = pd.DataFrame(X, columns=[f"p{i}_{axis}" for i in range(4) for axis in "xyz"])
    canon = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(frame)
    blocks = da.from_array(X, chunks=(10, -1))
    np.testing.assert_array_equal(transform_dask(canon, blocks).compute(scheduler="sync"),
                                  canon.transform(frame))
    model = make_pipeline(CanonicalizerTransformer("SE3xS_n", "pca+sort"), Ridge()).fit(frame, X[:, 0])
    # Ridge's BLAS products round by block size (documented in transform_dask)
    np.testing.assert_allclose(transform_dask(model, blocks, method="predict").compute(scheduler="sync"),
                               model.predict(frame), rtol=1e-12, atol=1e-14)


def _molecules(dtype, n=24):
    """Symmetric molecules (methane) in random poses, one column per coordinate and a text
    column per atom's element: mixed columns, an object array after ``to_dask_array()``."""
    from skcanon.layouts import PointLayout

    tet = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float) * 0.63
    mol = np.vstack([[0, 0, 0], tet])
    group = get_group("SE3")
    P = group.apply(group.sample(n, random_state=1), np.repeat(mol[None], n, 0).reshape(n, -1),
                    PointLayout(3)).reshape(n, 5, 3).astype(dtype)
    data = {}
    for i, element in enumerate("CHHHH"):
        for k, axis in enumerate("xyz"):
            data[f"atom{i}_{axis}"] = P[:, i, k]
        data[f"atom{i}_element"] = [element] * n
    return pd.DataFrame(data)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("columns", ["numpy", "Float", "pyarrow"])
def test_transform_dask_reads_a_dask_dataframe_with_its_column_dtypes(client, dtype, columns):
    """A Dask DataFrame had to be converted with to_dask_array(), an object array where its
    columns mix text (elements) or nullable Float32 columns with numbers: blocks read as
    float64 gave float64 where pandas gives float32, and on symmetric float32 molecules
    canonical forms that differed between poses by 1.78. The DataFrame is now transformed
    partition by partition, as the in-memory transform reads it."""
    dd = pytest.importorskip("dask.dataframe")
    from skcanon import InvariantProjector

    frame = _molecules(dtype)
    if columns != "numpy":
        width = 32 if dtype == np.float32 else 64
        kind = f"Float{width}" if columns == "Float" else f"float{width}[pyarrow]"
        if columns == "pyarrow":
            pytest.importorskip("pyarrow")
        frame = frame.astype({c: kind for c in frame.columns if not c.endswith("element")})
    lazy = dd.from_pandas(frame, npartitions=4)
    canon = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(frame)
    expected = canon.transform(frame)
    Y = transform_dask(canon, lazy)
    assert Y.dtype == expected.dtype == dtype and Y.shape[1:] == expected.shape[1:]
    out = Y.compute()   # on the cluster's worker processes
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, expected)
    # every pose of the molecule has one canonical form
    assert np.abs(out - out[0]).max() < (1e-5 if dtype == np.float32 else 1e-12)
    proj = InvariantProjector("E3xS_n").fit(frame)
    invariants = transform_dask(proj, lazy).compute(scheduler="sync")
    assert invariants.dtype == proj.transform(frame).dtype == dtype
    np.testing.assert_array_equal(invariants, proj.transform(frame))
    # its to_dask_array() is of dtype object; the blocks get back the column dtypes of fit
    blocks = lazy.to_dask_array(lengths=True)
    assert blocks.dtype == object
    pipe = make_pipeline(CanonicalizerTransformer("SE3xS_n", "pca+sort"), FunctionTransformer()).fit(frame)
    for est, expected in ((canon, expected), (proj, proj.transform(frame)), (pipe, expected)):
        Y = transform_dask(est, blocks)
        assert Y.dtype == dtype
        np.testing.assert_array_equal(Y.compute(scheduler="sync"), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_estimators_refuse_a_lazy_dask_dataframe_by_name(dtype):
    """A Dask DataFrame passed to fit or transform was taken for an in-memory one and failed
    on its lazy shape with dask's "Trying to convert ... Scalar to a boolean value". It is
    now refused by name, with the way out; a Dask array is read as an array, as before."""
    dd = pytest.importorskip("dask.dataframe")
    from skcanon import InvariantProjector

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(20, 12)).astype(dtype),
                         columns=[f"{axis}{i}" for axis in "xyz" for i in range(4)])
    lazy = dd.from_pandas(frame, npartitions=2)
    canon = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(frame)
    hint = r"X is a lazy Dask DataFrame.*X\.compute\(\).*skcanon\.dask\.transform_dask"
    for call in (lambda: CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(lazy),
                 lambda: canon.transform(lazy), lambda: InvariantProjector("E3xS_n").fit(lazy)):
        with pytest.raises(TypeError, match=hint):
            call()
    with pytest.raises(TypeError, match="X is a lazy Dask Series"):
        canon.transform(lazy["x0"])
    plain = CanonicalizerTransformer("SE3xS_n", "pca+sort").fit(frame.to_numpy())
    out = plain.transform(da.from_array(frame.to_numpy(), chunks=(5, -1)))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, plain.transform(frame.to_numpy()))


@pytest.mark.parametrize("kind", ["frame", "array"])
def test_transform_dask_refuses_dates_by_name_not_asking_for_output_shape(kind):
    """Date columns were refused inside a "could not infer the output ... pass output_shape="
    ValueError, although any output_shape fails the same way at compute."""
    dd = pytest.importorskip("dask.dataframe")
    X = np.random.default_rng(0).normal(size=(6, 6))
    frame = pd.DataFrame(X, columns=["x0", "x1", "x2", "y0", "y1", "y2"])
    if kind == "frame":
        canon = CanonicalizerTransformer("SO2", n_dims=2).fit(frame)
        frame["x1"] = pd.to_datetime(np.arange(6), unit="D")
        lazy, match = dd.from_pandas(frame, npartitions=2), r"column 'x1' holds dates"
    else:
        canon = CanonicalizerTransformer("SO2", n_dims=2).fit(X)
        lazy, match = da.from_array(X.astype("datetime64[s]"), chunks=(3, -1)), r"dtype datetime64\[s\]"
    refused = r"CanonicalizerTransformer.transform refuses the first sample of X: .*" + match
    with pytest.raises(TypeError, match=refused) as info:
        transform_dask(canon, lazy)
    assert "output_shape" not in str(info.value)
