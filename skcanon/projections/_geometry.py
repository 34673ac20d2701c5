"""Geometric invariants of point sets: norms, Gram matrix, distances, Gram + minors,
and sorted distance matrices for E(d)×S_n."""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..canonicalizers import tolerant_lexsort
from ..groups import EuclideanGroup
from ._base import Projection, is_points, split_geometric

#: most d×d minors ``gram_minors`` computes
MAX_MINORS = 20000


def _vectors(P, layout, geom, lazy_centre=False):
    """Stack every geometric field as vectors ``(n, m·k, d)``; positions are centred on
    their centroid when ``geom`` has translations. Returns ``(V, centre, labels, scalars,
    names)``.

    With ``lazy_centre`` and a single geometric field, ``V`` is a view of ``P`` and
    ``centre`` is True when its positions still have to be centred (the Gram kernel does
    that inside its cache-sized chunks instead of writing a centred copy); otherwise
    ``centre`` is False.
    """
    n, m, _ = P.shape
    parts, labels, centre = [], [], False
    geo_fields = [f for f in layout.fields if f.is_geometric]
    for f in geo_fields:
        Y = P[..., layout.slice_of(f.name)]
        if f.kind == "position" and isinstance(geom, EuclideanGroup):
            if lazy_centre and len(geo_fields) == 1:
                centre = True
            else:
                Y = Y - _present_centroid(Y)[:, None, :]
        parts.append(Y)
    # point-major; a single field is used as a view
    V = parts[0] if len(parts) == 1 else np.stack(parts, axis=2).reshape(n, m * len(parts), -1)
    for i in range(m):
        for f in geo_fields:
            labels.append(str(i) if len(geo_fields) == 1 else f"{i}{f.name}")
    scal = [f for f in layout.fields if f.kind == "scalar"]
    if scal:
        S = np.concatenate([P[..., layout.slice_of(f.name)] for f in scal], axis=2).reshape(n, -1)
        snames = [f"p{i}_{c}" for i in range(m) for f in scal for c in f.component_names(layout.n_dims)]
    else:
        S, snames = None, []
    return V, centre, labels, S, snames


def _present_centroid(Y):
    """Centroid of the present points (absent ones are all-NaN rows and stay NaN after
    centring, so every feature that involves them is NaN too)."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.einsum("nmd->nd", Y)
    if np.isfinite(total).all():  # no absent point anywhere (NaN would propagate)
        return total / Y.dtype.type(Y.shape[1])
    present = ~np.isnan(Y).any(axis=2)
    total = np.einsum("nmd->nd", np.where(present[..., None], Y, 0))
    return total / np.maximum(present.sum(axis=1), 1).astype(Y.dtype)[:, None]


#: entries of the ``K×K`` product matrices computed per chunk of samples (4 MB in
#: float32): large enough that a chunk costs a handful of torch calls, small enough that
#: its products stay in the cache while the triangle is gathered out of them
_GRAM_CHUNK_ENTRIES = 1 << 20
_TRIU_INDEX = {}


def _triu_index(K, strict):
    """Flat indices of the upper triangle of a ``K×K`` matrix, row by row (cached)."""
    import torch

    key = (K, strict)
    if key not in _TRIU_INDEX:
        iu = np.triu_indices(K, 1 if strict else 0)
        _TRIU_INDEX[key] = torch.from_numpy(iu[0] * K + iu[1])
    return _TRIU_INDEX[key]


def _tensor_view(A):
    """A torch view of ``A`` (a copy when ``A`` is read-only or has negative strides, which
    torch does not take)."""
    import torch

    if not A.flags.writeable or any(step < 0 for step in A.strides):
        A = np.array(A, order="C")  # a writable copy
    return torch.from_numpy(A)


def gram_triu(V, distances=False, out=None, centre=False):
    """Upper triangle of the Gram matrices of ``V`` (``(n, K, d)``) with the diagonal, or
    (``distances=True``) the strict upper triangle of the distance matrices.

    Parameters
    ----------
    V : ndarray of shape (n, K, d), float32 or float64
        Vectors (any strides). Rows of NaN give NaN entries wherever they are involved.
    distances : bool, default=False
        Distances ``‖v_i − v_j‖`` (``i < j``) instead of inner products ``⟨v_i, v_j⟩``
        (``i ≤ j``).
    out : ndarray of shape (n, n_entries) or None
        C-contiguous array of ``V``'s dtype to write into (a fresh one when None).
    centre : bool, default=False
        Subtract from every vector the centroid of its sample's present vectors first.

    Returns
    -------
    out : ndarray of shape (n, K(K+1)/2) or (n, K(K−1)/2)

    Notes
    -----
    Works in chunks of samples whose ``K×K`` products fit in the cache: one batched
    matrix product (``torch.bmm``, in ``V``'s dtype) per chunk, then one gather of the
    triangle straight into ``out``. Squared distances are ``‖v_i‖² + ‖v_j‖² − 2⟨v_i,
    v_j⟩`` (one ``baddbmm``), clipped at 0 against rounding before the square root; the
    vectors are centred first (``centre``) so that this difference loses little.
    """
    import torch

    n, K, d = V.shape
    index = _triu_index(K, distances)
    if out is None:
        out = np.empty((n, index.numel()), dtype=V.dtype)
    if n == 0:
        return out
    chunk = min(n, max(1, _GRAM_CHUNK_ENTRIES // max(K * K, 1)))
    dtype = torch.float32 if V.dtype == np.float32 else torch.float64
    products = torch.empty((chunk, K, K), dtype=dtype)
    centred = torch.empty((chunk, K, d), dtype=dtype) if centre else None
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        b = stop - start
        v = _tensor_view(V[start:stop])
        if centre:
            c = v.sum(dim=1) / K
            if not bool(torch.isfinite(c).all()):  # absent (NaN) vectors: present ones only
                c = torch.from_numpy(_present_centroid(V[start:stop]))
            v = torch.sub(v, c[:, None, :], out=centred[:b])
        G = products[:b]
        if distances:  # ‖v_i‖² − 2⟨v_i, v_j⟩ in one batched product, then + ‖v_j‖²
            sq = torch.einsum("nkd,nkd->nk", v, v)
            torch.baddbmm(sq[:, :, None], v, v.transpose(1, 2), alpha=-2, out=G)
            G.add_(sq[:, None, :])
        else:
            torch.bmm(v, v.transpose(1, 2), out=G)
        o = torch.from_numpy(out[start:stop])
        torch.index_select(G.view(b, K * K), 1, index, out=o)
        if distances:
            o.clamp_(min=0).sqrt_()
    return out


def _with_scalars(F, S):
    return F if S is None else np.concatenate([F, S.astype(F.dtype, copy=False)], axis=1)


class _Geometry(Projection):
    family = "geometry"
    absent_points_ok = True  # features of absent points come out NaN
    #: which geometric groups are allowed: "orthogonal" (O(d) and E(d)), "special" (SO/SE)
    needs = "any"
    #: ``transform`` takes ``out=`` (InvariantProjector then writes batches in place)
    supports_out = True
    #: ``_features`` centres single-field positions itself (``centre=True``) instead of
    #: receiving a centred copy
    lazy_centre = False

    @classmethod
    def supports(cls, group, layout):
        geom, perm, only = split_geometric(group)
        if not (is_points(layout) and geom is not None and not perm and only):
            return False
        if not any(f.is_geometric for f in layout.fields):
            return False
        return cls.needs != "special" or geom.special

    def fit(self, P, y=None, random_state=None):
        super().fit(P)
        self.geom_ = split_geometric(self.group)[0]
        _, _, self.labels_, _, self.scalar_names_ = _vectors(P[:1], self.layout, self.geom_)
        return self

    def transform(self, P, out=None):
        """Invariant features of ``P``; written into ``out`` (``(n, n_features)``, P's
        dtype, C-contiguous) when given."""
        V, centre, _, S, _ = _vectors(P, self.layout, self.geom_, lazy_centre=self.lazy_centre)
        F = _with_scalars(self._features(V, centre=centre, out=out if S is None else None), S)
        if out is None:
            return F
        if F is not out:
            out[...] = F
        return out

    def feature_names(self):
        return self._names(self.labels_) + self.scalar_names_


class Norms(_Geometry):
    """Euclidean norm of every vector (positions centred for E(d)/SE(d)), scalars kept.

    ``f_i(x) = ‖x_i‖``; one feature per vector, cost ``O(m·d)``. Lossless only for a
    single vector (d ≥ 2): it forgets the angles between vectors.
    """

    name = "norms"

    def _features(self, V, centre=None, out=None):
        return np.sqrt(np.einsum("nkd,nkd->nk", V, V))

    def _names(self, labels):
        return [f"norm_{a}" for a in labels]

    @property
    def lossless(self):
        return len(self.labels_) == 1 and not isinstance(self.geom_, EuclideanGroup) and self.geom_.d >= 2


class Gram(_Geometry):
    """Upper triangle (with diagonal) of the Gram matrix ``G_ij = ⟨x_i, x_j⟩``.

    Positions are centred for E(d)/SE(d). ``K(K+1)/2`` features for ``K`` vectors, cost
    ``O(K²·d)``. Lossless for O(d) and E(d): vectors with equal Gram matrices differ by an
    orthogonal map (first fundamental theorem of invariant theory). Not lossless for
    SO(d)/SE(d) (mirror images share a Gram matrix) — use ``"gram_minors"``.
    """

    name = "gram"
    lazy_centre = True

    def _features(self, V, centre=None, out=None):
        return gram_triu(V, out=out, centre=centre)

    def _names(self, labels):
        K = len(labels)
        return [f"gram_{labels[i]}_{labels[j]}" for i, j in zip(*np.triu_indices(K))]

    @property
    def lossless(self):
        return not self.geom_.special


class Distances(_Geometry):
    """Pairwise distances ``‖x_i − x_j‖``, ``i < j`` (strict upper triangle).

    ``K(K−1)/2`` features, cost ``O(K²·d)``. Invariant under O(d) and E(d)/SE(d); lossless
    for E(d) when the layout has a single position field (a point set is determined up to a
    rigid motion by its distances); for O(d) it forgets where the origin is.
    """

    name = "distances"
    lazy_centre = True

    def _features(self, V, centre=None, out=None):
        # distances ignore translations: centring (always) only reduces rounding
        return gram_triu(V, distances=True, out=out, centre=True)

    def _names(self, labels):
        K = len(labels)
        return [f"dist_{labels[i]}_{labels[j]}" for i, j in zip(*np.triu_indices(K, 1))]

    @property
    def lossless(self):
        geo = [f for f in self.layout.fields if f.is_geometric]
        return (isinstance(self.geom_, EuclideanGroup) and not self.geom_.special
                and len(geo) == 1 and geo[0].kind == "position")


class GramMinors(Gram):
    """Gram matrix plus every ``d × d`` minor ``det[x_{i1}, ..., x_{id}]`` (SO(d), SE(d)).

    Determinants are invariant under rotations and flip sign under reflections, so together
    with the Gram matrix they separate SO(d)-orbits (first fundamental theorem for SO(d)):
    lossless. ``K(K+1)/2 + C(K, d)`` features; cost ``O(K²·d + C(K,d)·d³)``. Refuses more than
    20,000 minors (use ``"canonical"`` for large sets).
    """

    name = "gram_minors"
    needs = "special"
    lazy_centre = False  # the minors need the centred vectors themselves

    def fit(self, P, y=None, random_state=None):
        super().fit(P)
        K, d = len(self.labels_), self.geom_.d
        if math.comb(K, d) > MAX_MINORS:
            raise ValueError(
                f"method='gram_minors' would compute C({K}, {d}) = {math.comb(K, d)} minors "
                f"(at most {MAX_MINORS}); use method='canonical' for sets this large."
            )
        self.combos_ = np.asarray(list(itertools.combinations(range(K), d)), dtype=np.int64).reshape(-1, d)
        return self

    def _features(self, V, centre=None, out=None):
        gram = super()._features(V)
        M = V[:, self.combos_]                       # (n, C, d, d): rows are the vectors
        if M.shape[-1] == 2:
            det = M[..., 0, 0] * M[..., 1, 1] - M[..., 0, 1] * M[..., 1, 0]
        else:
            with np.errstate(invalid="ignore"):  # minors with an absent point are NaN
                det = np.linalg.det(M)
        return np.concatenate([gram, det.astype(V.dtype, copy=False)], axis=1)

    def _names(self, labels):
        return super()._names(labels) + [
            "minor_" + "_".join(labels[i] for i in c) for c in self.combos_
        ]

    @property
    def lossless(self):
        return True


class SortedDistances(Projection):
    """E(d)×S_n (or O(d)×S_n, SE(d)×S_n) point clouds: sort each row of the distance matrix,
    then order the rows lexicographically.

    Row ``i`` holds point ``i``'s scalar fields followed by its distances to the other
    points in increasing order; rows are sorted with tolerant ties. ``m·(m−1+s)`` features
    (``s`` scalar columns), cost ``O(m²·d + m² log m)``. Invariant under rigid motions and
    permutations. Separates *generic* configurations (Boutin & Kemper 2004 show the
    distance distribution already does, up to rare exceptions) but not every one, so
    ``lossless_`` is False; use ``"canonical"`` when exact losslessness matters.
    """

    name = "sorted_distances"
    family = "geometry"
    absent_points_ok = True  # NaN distances sort last within a row; absent rows sort last

    @classmethod
    def supports(cls, group, layout):
        geom, perm, only = split_geometric(group)
        if not (is_points(layout) and geom is not None and perm and only):
            return False
        geo = [f for f in layout.fields if f.is_geometric]
        return len(geo) == 1 and (geo[0].kind == "position" or not isinstance(geom, EuclideanGroup))

    def fit(self, P, y=None, random_state=None):
        super().fit(P)
        self.geom_ = split_geometric(self.group)[0]
        self.scalar_fields_ = [f for f in self.layout.fields if f.kind == "scalar"]
        return self

    def transform(self, P):
        n, m, _ = P.shape
        geo = [f for f in self.layout.fields if f.is_geometric][0]
        Y = P[..., self.layout.slice_of(geo.name)]
        sq = np.einsum("nmd,nmd->nm", Y, Y)
        D = np.sqrt(np.maximum(sq[:, :, None] + sq[:, None, :] - 2 * np.matmul(Y, np.swapaxes(Y, 1, 2)), 0))
        off = ~np.eye(m, dtype=bool)
        rows = np.sort(D[:, off].reshape(n, m, m - 1), axis=2)
        if self.scalar_fields_:
            S = np.concatenate([P[..., self.layout.slice_of(f.name)] for f in self.scalar_fields_], axis=2)
            rows = np.concatenate([S.astype(rows.dtype, copy=False), rows], axis=2)
        order = tolerant_lexsort(rows)
        return np.take_along_axis(rows, order[:, :, None], axis=1).reshape(n, -1)

    def feature_names(self):
        m = self.sample_shape_[0]
        scal = [c for f in self.scalar_fields_ for c in f.component_names(self.layout.n_dims)]
        return [f"row{i}_{c}" for i in range(m) for c in scal + [f"dist{k}" for k in range(m - 1)]]
