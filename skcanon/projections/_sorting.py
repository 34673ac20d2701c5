"""Sorting: per-channel sort, sort after a random linear map, lexicographic row sort (S_n)."""

from __future__ import annotations

import numpy as np

from .._kernels.lexsort import tolerant_lexsort
from . import _base
from ._base import Projection, pure_permutation


class _Sorting(Projection):
    family = "sorting"

    @classmethod
    def supports(cls, group, layout):
        return pure_permutation(group, layout)


class Sort(_Sorting):
    """Sort each scalar channel over the points.

    ``f(x)_{c, k}`` = the ``k``-th smallest of ``x_{1c}, ..., x_{mc}``; ``m·w`` features.
    Cost ``O(w·m log m)``. Lossless when there is one channel (``w = 1``): then it is a
    cross-section and an *isometry* onto the quotient, ``‖sort(x) − sort(y)‖ =
    min_π ‖x − π·y‖`` (rearrangement inequality). With several channels it forgets which
    values belong to the same point.
    """

    name = "sort"

    def transform(self, P):
        return np.sort(np.swapaxes(P, 1, 2), axis=-1).reshape(P.shape[0], -1)

    def feature_names(self):
        m, w = self.sample_shape_
        return [f"sorted_c{c}_{k}" for c in range(w) for k in range(m)]

    @property
    def lossless(self):
        return self.sample_shape_[1] == 1 or self.sample_shape_[0] == 1


class RandomSort(_Sorting):
    """Sort after a random linear map: ``f(x)_{j, k}`` = ``k``-th smallest of ``a_j·x_i``.

    ``A`` is a fixed random ``w × D`` Gaussian matrix (columns ``a_j``), ``D = n_components``,
    default ``m(w−1)+1`` (the width the design states suffices for generic ``A``; the
    conservative bound proven by Dym & Gortler is ``2mw+1``). ``m·D`` features, cost
    ``O(m·w·D + D·m log m)``. Lossless for generic ``A`` of that width; ``lossless_``
    reports ``D ≥ m(w−1)+1``. Bi-Lipschitz on the quotient (sorting is 1-Lipschitz).
    """

    name = "random_sort"
    options = ("n_components",)

    def fit(self, P, y=None, random_state=None):
        super().fit(P)
        m, w = self.sample_shape_
        D = self.n_components or m * (w - 1) + 1
        self.n_components_ = int(D)
        _base.check_parameter_bytes(self.name, (w, self.n_components_))
        A = random_state.standard_normal((w, self.n_components_)) / np.sqrt(w)
        self.A_ = A
        return self

    def transform(self, P):
        A = self.A_.astype(P.dtype, copy=False)
        out = np.empty((P.shape[0], self.n_components_ * P.shape[1]), dtype=np.result_type(P.dtype, A.dtype))
        # the projections a·x_i of a chunk of rows at a time: the working arrays are as large
        # as the output (m·D values per sample) and would triple its memory
        step = max(1, _base.WORK_CHUNK_BYTES // max(1, out.shape[1] * out.itemsize))
        for start in range(0, P.shape[0], step):
            Q = np.matmul(P[start:start + step], A)
            out[start:start + step] = np.sort(np.swapaxes(Q, 1, 2), axis=-1).reshape(Q.shape[0], -1)
        return out

    def feature_names(self):
        m = self.sample_shape_[0]
        return [f"random_sort_k{j}_{k}" for j in range(self.n_components_) for k in range(m)]

    @property
    def lossless(self):
        m, w = self.sample_shape_
        return self.n_components_ >= m * (w - 1) + 1


class LexSort(_Sorting):
    """Order the points lexicographically by their channels (tolerant ties) and flatten.

    A cross-section of the S_n action (the canonical form of
    :func:`skcanon.canonicalizers.tolerant_lexsort`): lossless for every input, ``m·w``
    features, cost ``O(m log m)`` per sample plus one extra sort per column with ties.
    Not continuous: near-ties in the first channel can swap rows.
    """

    name = "lexsort"

    def transform(self, P):
        order = tolerant_lexsort(P)
        return np.take_along_axis(P, order[:, :, None], axis=1).reshape(P.shape[0], -1)

    def feature_names(self):
        m, w = self.sample_shape_
        return [f"lex_{i}_c{c}" for i in range(m) for c in range(w)]

    @property
    def lossless(self):
        return True
