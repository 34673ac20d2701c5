"""Finite rotation groups of 3-D point sets: the chiral tetrahedral, octahedral and
icosahedral groups, each a table of rotation matrices."""

from __future__ import annotations

import functools

import numpy as np

from ._base import (Group, checked_frames, checked_indices, require_points_dims, rng, rotate_fields,
                    tensor_operands)

#: golden ratio: the icosahedron's vertices are the cyclic permutations of (0, ±1, ±φ)
PHI = (1.0 + 5.0 ** 0.5) / 2.0

#: score (``trace(Gᵀ R)``, between -1 and 3) and residual-entry difference under which two
#: group elements count as equally near a frame ``R`` — a symmetric sample whose frame lies
#: exactly between two elements, up to rounding (the 3-D counterpart of C_n's ``STEP_TIE``)
ROTATION_TIE = 1e-6


class FiniteRotationGroup(Group):
    """A finite subgroup of SO(3) given by its rotation matrices, acting on 3-D point sets.

    Elements are ints ``k`` in ``[0, order)`` indexing the table :meth:`rotations`;
    ``0`` is the identity. The table is the closure of the class's ``generators`` (computed
    once per class, entries snapped to the closed-form values in ``entries`` so that they are
    exact where floats allow), sorted by decreasing row-major entries, which puts the identity
    first and makes an element's index independent of how the closure was computed.
    ``compose`` and ``inverse`` read a Cayley table built once from the matrices.

    Rotations act on every position and vector field about the origin; scalars are
    untouched. A subclass states ``name``, ``generators`` and ``entries`` (the non-negative
    values its matrix entries take) and nothing else.
    """

    d = 3
    rotates = True
    special = True
    layout_kinds = frozenset({"points"})
    #: the action is on points only; images never reach it (``layout_kinds``)
    exact_on_images = False
    #: rotation matrices whose products give every element
    generators = ()
    #: non-negative values the matrix entries take (their signed copies and 0 are added)
    entries = (1.0,)

    # -- the table ---------------------------------------------------------------------------
    @classmethod
    def rotations(cls):
        """All rotation matrices, ``(order, 3, 3)`` float64 (read-only; index = element)."""
        return _tables(cls)[0]

    @classmethod
    def cayley(cls):
        """Cayley table: ``cayley()[g, h]`` is ``g ∘ h`` (``h`` acts first)."""
        return _tables(cls)[1]

    def check_elements(self, g, P, name="g"):
        return checked_indices(self, g, P.shape[0], self.order, name)

    @property
    def order(self):
        return len(self.rotations())

    def elements(self):
        return np.arange(self.order)

    def grid(self, n=None, random_state=0, n_points=None):
        return self.elements()

    # -- group law ---------------------------------------------------------------------------
    def _draw(self, n, random_state, n_points):
        """``n`` elements drawn uniformly."""
        return rng(random_state).randint(0, self.order, size=n)

    def _identity(self, n, n_points):
        return np.zeros(n, dtype=np.int64)

    def inverse(self, g):
        if hasattr(g, "clone"):   # torch tensor: the table moves to its device
            return _on_device(_tables(type(self))[2], g)[g.long()]
        return _tables(type(self))[2][np.asarray(g)]

    def compose(self, g, h):
        g, h, tensors = tensor_operands(g, h)
        if tensors:
            return _on_device(self.cayley(), g)[g.long(), h.long()]
        return self.cayley()[np.asarray(g), np.asarray(h)]

    def matrices(self, g):
        return self.rotations()[np.asarray(g)]

    def nearest_element(self, R, t=None):
        """Element whose rotation is nearest to each ``R`` (``(n, 3, 3)``): the one that
        maximizes ``trace(G_kᵀ R)`` (least Frobenius distance). ``t`` is ignored.

        Equivariance: ``nearest_element(G_h R) = h ∘ nearest_element(R)`` for every ``h``,
        ties included. Left-multiplying ``R`` by ``G_h`` permutes the scores
        (``trace(G_{hk}ᵀ G_h R) = trace(G_kᵀ R)``) and leaves each candidate's *residual*
        ``G_kᵀ R`` unchanged, so elements whose scores tie (within :data:`ROTATION_TIE`) are
        told apart by their residuals, never by their index: the winner is the candidate
        whose residual has the greatest first row-major entry, then second, and so on (each
        compared within :data:`ROTATION_TIE`). An index-order rule (``argmax``) would send a
        frame halfway between two elements and its rotated copy to elements that do not
        correspond. Rows with non-finite entries give the identity.
        """
        checked_frames(self, R)
        if hasattr(R, "detach"):  # torch tensor (a network's output): rounding is not differentiable
            R = R.detach().cpu().numpy()
        R = np.asarray(R, dtype=np.float64)
        G = self.rotations()
        scores = np.einsum("kij,nij->nk", G, R)
        finite = np.isfinite(scores).all(axis=1)
        scores[~finite] = 0.0
        cand = scores >= scores.max(axis=1, keepdims=True) - ROTATION_TIE
        tied = np.flatnonzero(finite & (cand.sum(axis=1) > 1))
        if tied.size:
            # residuals G_kᵀ R of the tied rows only (generic frames have no ties)
            res = np.einsum("kji,njl->nkil", G, R[tied]).reshape(tied.size, len(G), 9)
            c = cand[tied]
            for j in range(9):
                vals = np.where(c, res[:, :, j], -np.inf)
                c &= vals >= vals.max(axis=1, keepdims=True) - ROTATION_TIE
            cand[tied] = c
        out = np.argmax(cand, axis=1).astype(np.int64)
        out[~finite] = 0
        return out

    def near_tie(self, R, rounding=None):
        checked_frames(self, R)
        R = np.asarray(R.detach().cpu().numpy() if hasattr(R, "detach") else R, dtype=np.float64)
        scores = np.sort(np.einsum("kij,nij->nk", self.rotations(), R), axis=1)
        # a score moves by at most Σ|G_ij| ≤ 3√3 times the largest change of an entry of R
        band = 2 * np.maximum(ROTATION_TIE, 0.0 if rounding is None else 3 ** 1.5 * np.asarray(rounding))
        return np.isfinite(scores).all(axis=1) & (scores[:, -1] - scores[:, -2] < band)

    # -- action ------------------------------------------------------------------------------
    def check_layout(self, layout):
        require_points_dims(self, layout, 3)

    def _act_points(self, g, P, layout):
        require_points_dims(self, layout, 3)
        if hasattr(P, "clone"):  # torch tensor: the table moves to its device and dtype
            import torch

            # torch.tensor copies: the table is read-only
            R = torch.tensor(self.rotations(), dtype=P.dtype, device=P.device)
            return rotate_fields(R[torch.as_tensor(g, device=P.device).long()], P, layout)
        return rotate_fields(self.matrices(g), P, layout)


def _on_device(table, like):
    """A read-only table as a torch tensor on ``like``'s device (torch.tensor copies it)."""
    import torch

    return torch.tensor(table, device=like.device)


@functools.lru_cache(maxsize=None)
def _tables(cls):
    """``(rotations, cayley, inverse)`` of a :class:`FiniteRotationGroup` subclass, computed
    once: closure of the generators, snapped entries, sorted, then the Cayley table."""
    mags = np.asarray(cls.entries, dtype=np.float64)
    values = np.unique(np.concatenate([-mags, [0.0], mags]))

    def snap(M):
        idx = np.argmin(np.abs(M[..., None] - values), axis=-1)
        if np.abs(values[idx] - M).max() > 1e-9:
            raise ValueError(f"{cls.__name__}: a product of generators has an entry outside {cls.entries}.")
        return values[idx], tuple(idx.ravel())

    gens = [snap(np.asarray(G, dtype=np.float64))[0] for G in cls.generators]
    first, key = snap(np.eye(3))
    found = {key: first}
    frontier = [first]
    while frontier:
        new = []
        for M in frontier:
            for G in gens:
                P, key = snap(G @ M)
                if key not in found:
                    found[key] = P
                    new.append(P)
        frontier = new
    table = np.stack(list(found.values()))
    flat = table.reshape(len(table), 9)
    # decreasing lexicographic order of the row-major entries (np.lexsort: last key primary)
    table = table[np.lexsort(-flat.T[::-1])]
    assert np.array_equal(table[0], np.eye(3)), "the identity must come first"
    # each product G_g G_h is the element that matches it exactly (trace(Gᵀ P) = 3)
    prods = np.einsum("aij,bjl->abil", table, table)
    cayley = np.argmax(np.einsum("kil,abil->abk", table, prods), axis=2).astype(np.int64)
    inverse = np.argmax(cayley == 0, axis=1).astype(np.int64)
    for a in (table, cayley, inverse):
        a.setflags(write=False)
    return table, cayley, inverse


_CYCLE = [[0, 0, 1], [1, 0, 0], [0, 1, 0]]  # 120° about (1, 1, 1): x → y → z → x


class TetrahedralGroup(FiniteRotationGroup):
    """T: the 12 rotations of a regular tetrahedron (vertices (1, 1, 1), (1, -1, -1),
    (-1, 1, -1), (-1, -1, 1)): cyclic permutations of the axes with an even number of sign
    changes. Alias ``"tetrahedral"`` (``"T3"`` means translations)."""

    name = "tetrahedral"
    generators = (_CYCLE, np.diag([1.0, -1.0, -1.0]))
    entries = (1.0,)


class OctahedralGroup(FiniteRotationGroup):
    """O: the 24 rotations of a cube (vertices (±1, ±1, ±1)) or octahedron — the signed
    permutation matrices of determinant +1 (entries 0 and ±1, exact). Aliases ``"O"``,
    ``"octahedral"``; ``"O3"`` stays the orthogonal group."""

    name = "O"
    generators = (_CYCLE, [[0, -1, 0], [1, 0, 0], [0, 0, 1]])  # and 90° about z
    entries = (1.0,)


class IcosahedralGroup(FiniteRotationGroup):
    """I: the 60 rotations of a regular icosahedron with vertices the cyclic permutations
    of (0, ±1, ±φ) (or of the dodecahedron dual to it). Entries are 0, ±1/2, ±φ/2, ±1/(2φ)
    and ±1, each the float nearest its closed form (orthonormal to about 1e-16). Aliases
    ``"I"``, ``"icosahedral"``."""

    name = "I"
    generators = (
        _CYCLE,
        np.diag([1.0, -1.0, -1.0]),
        # 72° about the vertex (0, 1, φ)
        0.5 * np.array([[PHI - 1, -PHI, 1.0], [PHI, 1.0, PHI - 1], [-1.0, PHI - 1, PHI]]),
    )
    entries = (0.5, PHI / 2, (PHI - 1) / 2, 1.0)
