"""Equivariant frame networks for point sets: O(d), SO(d), E(d), SE(d) and T(d).

The network is a two-stage, Vector-Neuron-style design that costs ``O(n_points)`` per
cloud (no neighbour tensors):

1. per-point *invariant* features — norms of the centred geometric fields, their mutual
   dot products and the scalar fields — go through a per-point MLP; a masked mean gives a
   global context;
2. ``K`` intermediate equivariant vectors ``V_c = mean_i w_ic(h_i) f_i`` (weighted means of
   the centred points and vector fields) give second-order invariants per point
   (``f_i · V_c``), the Gram matrix of the ``V_c`` and, for SO(d), chiral pseudo-scalars;
3. a second per-point MLP outputs the weights of ``d`` output vectors (weighted means of
   the geometric fields, hence rotation-equivariant) and a logit per point, whose softmax
   weights give a learned, translation-equivariant centroid (E(d), SE(d), T(d));
4. the rotation's axes (``axes="moments"``, the default) are the eigenvectors of the
   second-moment matrix of the centred points weighted by ``1 + tanh(logit)`` — a learned
   re-weighting of PCA that inherits its stability — each signed by the output vector of
   the same rank (:func:`moment_axes`); with ``axes="vectors"`` the output vectors
   themselves. Either goes through :func:`gram_schmidt` (with an epsilon guard and a
   deterministic fallback; never NaN) and, for SO(d), a determinant fix.

Scalar fields enter through :class:`ScalarEncoder` (training-set statistics, embeddings of
categorical fields); each sample's geometric columns are first divided by a power of two
near their magnitude (:func:`rescale_geometry`), so extreme scales neither overflow nor
underflow. Hard frames (``canonicalize``) of inputs whose symmetry leaves part of the frame
open take the PCA heuristic's rotation (:func:`resolve_open_frames`).
:class:`AnchoredPointNetwork` learns a residual rotation on top of the PCA frame.

Absent points (all-NaN rows) are masked out of every sum and stay NaN in the output.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._kernels.fields import attached_fields, geometric_field
from .._kernels.pca import pca_frames, pca_group_frames
from ..groups import EuclideanGroup
from ..groups._base import rotate_fields
from ._base import FrameNetwork, coincident_floor, safe_sqrt

__all__ = ["PointFrameNetwork", "AnchoredPointNetwork", "moment_axes", "ScalarEncoder", "scalar_statistics",
           "gram_schmidt", "present_mask", "masked_mean", "rescale_geometry", "resolve_open_frames",
           "handles_rigid_motions", "move_back"]

_TINY = 1e-12
_SHARPNESS = 1.0
#: floor of the logits' spread in :meth:`PointFrameNetwork._attend`: logits of points that a
#: symmetry makes equal differ by rounding only, and dividing by their own (tiny) spread
#: would amplify that rounding into a frame (a floor of 1e-3 turned float32 noise of 1e-7
#: into output vectors of 1e-3 on a regular triangle)
_SD_FLOOR = 0.1


def handles_rigid_motions(group):
    """True for a group whose frames :class:`PointFrameNetwork` computes: one factor that
    rotates and/or translates points continuously, without rescaling (O(d), SO(d), E(d),
    SE(d), T(d)). Finite rotation groups need frames rounded to their elements, and
    similarities a scale; no point network gives those."""
    return group.full_isometries


def move_back(x, R, t, layout):
    """``g⁻¹·x`` for rigid motions ``g = (R, t)`` on point working tensors ``x``.

    ``R`` ``(n, d, d)`` (None: no rotation) and ``t`` ``(n, d)`` (None: no translation);
    the inverse is :class:`~skcanon.groups.EuclideanGroup`'s, the action
    :func:`~skcanon.groups._base.rotate_fields` (vectors turn, positions also shift).
    """
    if t is None:
        return rotate_fields(R.transpose(1, 2), x, layout)
    n, d = t.shape
    if R is None:
        R = torch.eye(d, dtype=x.dtype, device=x.device).expand(n, d, d)
    motions = EuclideanGroup(d)
    R_inv, t_inv = motions.parts(motions.inverse(motions.from_parts(R, t)))
    return rotate_fields(R_inv, x, layout, t=t_inv)


def present_mask(x):
    """``(n, m)`` bool: True where a point row is not all-NaN."""
    return ~torch.isnan(x).all(dim=-1)


def masked_mean(values, w, count):
    """Mean over points of ``values`` (``(n, m, ...)``) with presence weights ``w`` (``(n, m)``)."""
    n, m = w.shape
    flat = values.reshape(n, m, -1)
    total = torch.bmm(w.to(flat.dtype)[:, None, :], flat)[:, 0]       # no (n, m, ...) temporaries
    return (total / count[:, None]).reshape((n,) + values.shape[2:])


def gram_schmidt(U, special=False, eps=1e-5, fallback=None, points=None, return_prefix=False, atol=_TINY):
    """Orthonormalize the columns of ``U`` (``(n, d, d)``) into rotation/orthogonal frames.

    Column ``k`` is orthogonalized against the previous ones (modified Gram–Schmidt).
    When its residual is negligible — a zero vector, or one (nearly) collinear with the
    previous columns, i.e. ``|r| <= eps * |u|`` — it is replaced by the first of the later
    columns of ``U`` and then of the ``fallback`` vectors (equivariant candidates such as the
    centroid) with a non-negligible residual, then by the residual of the ``point`` with
    the largest one (an equivariant choice, and independent of point order up to exact
    ties), and failing all that by the standard basis vector with the largest residual
    (ties to the lowest index), so the result is always finite and orthonormal and the
    choice is deterministic. For SO(2) and SO(3) the last axis is not taken from ``U`` at all: it is
    the quarter turn of the first (2-D) or the cross product of the first two (3-D), which
    is exactly equivariant also for flat inputs whose vectors all lie in a plane. Generic
    inputs never take a fallback, so ``gram_schmidt(g @ U) = g @ gram_schmidt(U)``.

    Parameters
    ----------
    U : torch.Tensor of shape (n, d, d)
        Candidate axes as columns.
    special : bool, default=False
        Determinant +1 (SO(d) frames): completion as above for d = 2, 3, otherwise the last
        column is flipped where the determinant is negative.
    eps : float, default=1e-5
        Relative threshold of the degeneracy guard.
    fallback : torch.Tensor of shape (n, d, k) or None
        Equivariant vectors (columns) tried, in order, before the standard basis.
    points : torch.Tensor of shape (n, m, d) or None
        The (centred) points, absent ones zero: after ``fallback``, the point whose residual
        is largest gives the axis, if that residual is above ``eps`` times the largest point
        norm.

    atol : float, default=1e-12
        Absolute floor of the guard: residuals up to ``eps * |u| + atol`` are negligible
        (vectors of inputs normalized to unit spread that a symmetry forces to zero come
        out at rounding level, not at exactly zero).
    return_prefix : bool, default=False
        Also return, per sample, how many leading columns were built from ``U`` and
        ``fallback`` alone (the equivariant part of the frame); ``d`` where the whole frame
        is (the SO(2)/SO(3) completion counts when the columns before it are).

    Returns
    -------
    Q : torch.Tensor of shape (n, d, d)
        Orthonormal columns.
    prefix : torch.Tensor of shape (n,), int64
        Only with ``return_prefix``.
    """
    n, d, _ = U.shape
    prefix = torch.full((n,), d, dtype=torch.int64, device=U.device)
    eye = torch.eye(d, dtype=U.dtype, device=U.device).expand(n, d, d)
    completes = special and d in (2, 3)
    if points is not None:  # residuals below this are negligible
        point_floor = eps * points.norm(dim=-1).amax(-1) + _TINY
    cols = []
    for k in range(d - 1 if completes else d):
        u = U[:, :, k]
        q, bad = _orthonormal_residual(u, cols, eps, atol)
        # equivariant replacements first: the later columns of U, then ``fallback``
        spare = [U[:, :, j] for j in range(k + 1, d)]
        if fallback is not None:
            spare += [fallback[:, :, j] for j in range(fallback.shape[2])]
        for v in spare:
            if not bool(bad.any()):
                break
            alt, alt_bad = _orthonormal_residual(v, cols, eps, atol)
            q = torch.where((bad & ~alt_bad)[:, None], alt, q)
            bad = bad & alt_bad
        prefix = torch.where(bad & (prefix == d), torch.full_like(prefix, k), prefix)
        if points is not None and bool(bad.any()):
            alt, top = _largest_residual(points, cols)
            alt_bad = top <= point_floor
            q = torch.where((bad & ~alt_bad)[:, None], alt, q)
            bad = bad & alt_bad
        if bool(bad.any()):
            pick, _ = _largest_residual(eye, cols)
            q = torch.where(bad[:, None], pick.detach(), q)
        cols.append(q)
    if completes:
        first = cols[0]
        last = (torch.stack([-first[:, 1], first[:, 0]], -1) if d == 2
                else torch.linalg.cross(cols[0], cols[1], dim=-1))
        cols.append(last)
    Q = torch.stack(cols, dim=-1)
    if special and not completes:
        det = torch.linalg.det(Q)
        sign = torch.where(det < 0, -torch.ones_like(det), torch.ones_like(det))
        Q = torch.cat([Q[:, :, :-1], Q[:, :, -1:] * sign[:, None, None]], dim=-1)
    return (Q, prefix) if return_prefix else Q


def _largest_residual(cands, cols):
    """Of candidate vectors ``(n, k, d)``, the one whose residual against ``cols`` is largest
    (ties: the first), normalized, and that residual's norm ``(n,)``."""
    res = cands
    for q in cols:
        res = res - (res * q[:, None, :]).sum(-1, keepdim=True) * q[:, None, :]
    norms = res.norm(dim=-1)
    idx = norms.argmax(-1)
    top = norms.gather(1, idx[:, None])[:, 0]
    unit = res[torch.arange(res.shape[0], device=res.device), idx] / top.clamp_min(_TINY)[:, None]
    return unit, top


def _orthonormal_residual(u, cols, eps, atol=_TINY):
    """``u`` orthogonalized against ``cols`` and normalized, and where that is negligible."""
    r = u
    for q in cols:
        r = r - (r * q).sum(-1, keepdim=True) * q
    nr = r.norm(dim=-1)
    bad = nr <= eps * u.norm(dim=-1) + atol
    return r / nr.clamp_min(_TINY)[:, None], bad


#: A numeric scalar column whose values in ``fit`` are integers with at least
#: ``LEVELS_MIN`` and at most ``LEVELS_MAX`` distinct values (atomic numbers, residue or
#: atom-type codes, small counts) is also embedded, level by level, beside its standardised
#: value: one linear feature cannot set the middle levels apart from both ends (carbon,
#: nitrogen and oxygen are 6, 7, 8). Two levels gain nothing from an embedding (a linear
#: feature of a two-valued column already separates them), hence the minimum of 3.
#: Evidence: ``docs/_static/results/choose_scalar_levels.txt`` (``benchmarks/choose_learned_selection.py``,
#: variant ``+nolevels``); ``LEVELS_MAX = 0`` turns it off.
LEVELS_MIN, LEVELS_MAX = 3, 16


def _levels(col):
    """The sorted distinct values of a numeric column that qualifies for a level embedding
    (see :data:`LEVELS_MAX`), else an empty array."""
    if not col.size or not np.all(col == np.round(col)):
        return np.empty(0)
    values = np.unique(col)
    return values if LEVELS_MIN <= len(values) <= LEVELS_MAX else np.empty(0)


def scalar_statistics(P, layout):
    """Statistics of the scalar fields of the working array ``P`` seen in ``fit``.

    Returns a dict: ``mean`` and ``scale`` (one per numeric scalar column, over present
    points with finite values; a column without spread gets scale 1), ``levels`` (one
    array per numeric scalar column: its sorted distinct values when it has few integer
    levels, :data:`LEVELS_MAX`, else empty) and ``vocab`` (one sorted array of the codes
    seen per column of the fields declared categorical, i.e. whose layout ``Field`` has a
    true ``categorical`` attribute).
    """
    P = np.asarray(P, dtype=np.float64)
    present = ~np.isnan(P).all(axis=-1) if P.size else np.zeros(P.shape[:2], bool)
    mean, scale, levels, vocab = [], [], [], []
    for f in layout.fields:
        if f.kind != "scalar":
            continue
        block = P[..., layout.slice_of(f.name)][present]
        for j in range(block.shape[-1] if block.ndim == 2 else f.size):
            col = block[:, j] if block.ndim == 2 else np.empty(0)
            col = col[np.isfinite(col)]
            if getattr(f, "categorical", False):
                vocab.append(np.unique(col))
                continue
            mu = float(col.mean()) if col.size else 0.0
            sd = float(np.sqrt(np.mean((col - mu) ** 2))) if col.size else 0.0
            mean.append(mu)
            scale.append(sd if np.isfinite(sd) and sd > 1e-12 * max(abs(mu), 1e-300) else 1.0)
            levels.append(_levels(col))
    return {"mean": np.asarray(mean, dtype=np.float64), "scale": np.asarray(scale, dtype=np.float64),
            "levels": levels, "vocab": vocab}


class ScalarEncoder(nn.Module):
    """Features of a point's scalar fields, with the meaning they had in ``fit``.

    Numeric scalar columns are standardised with the training set's mean and spread (not
    per sample: an atomic number stays an atomic number); those with a few integer levels in
    ``fit`` (:data:`LEVELS_MAX`) are also embedded, level by level. Columns of fields
    declared categorical (``Field.categorical``) are embedded only. Every embedding has one
    row per value seen in ``fit``; values never seen (and NaN) share an "unknown" row.

    Parameters
    ----------
    layout : PointLayout
    stats : dict or None
        From :func:`scalar_statistics`; ``None`` means mean 0, scale 1, no levels and no
        known code. Statistics without ``levels`` (fitted before level embeddings) embed none.
    embedding_dim : int, default=8
    """

    def __init__(self, layout, stats=None, embedding_dim=8):
        super().__init__()
        numeric, categorical = [], []
        for f in layout.fields:
            if f.kind != "scalar":
                continue
            sl = layout.slice_of(f.name)
            cols = list(range(sl.start, sl.stop))
            (categorical if getattr(f, "categorical", False) else numeric).extend(cols)
        self.numeric, self.categorical = numeric, categorical
        stats = stats or {}
        mean = np.asarray(stats.get("mean", np.zeros(len(numeric))), dtype=np.float64)
        scale = np.asarray(stats.get("scale", np.ones(len(numeric))), dtype=np.float64)
        if mean.shape != (len(numeric),) or scale.shape != (len(numeric),):
            raise ValueError("scalar statistics do not match the layout's numeric scalar columns.")
        vocab = list(stats.get("vocab", [np.empty(0)] * len(categorical)))
        if len(vocab) != len(categorical):
            raise ValueError("scalar statistics do not match the layout's categorical scalar columns.")
        levels = list(stats.get("levels", [np.empty(0)] * len(numeric)))
        if len(levels) != len(numeric):
            raise ValueError("scalar statistics do not match the layout's numeric scalar columns.")
        # copies (torch.tensor): a model loaded with joblib's mmap_mode="r" holds read-only
        # statistics, which torch.as_tensor would share with a warning
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("scale", torch.tensor(scale))
        # embedded columns: the categorical ones, then the numeric ones with levels
        self.embedded = categorical + [c for c, v in zip(numeric, levels) if len(v)]
        tables = vocab + [v for v in levels if len(v)]
        self.vocab_sizes = [int(len(v)) for v in tables]
        for j, v in enumerate(tables):
            self.register_buffer(f"vocab{j}", torch.tensor(np.asarray(v, dtype=np.float64)))
        self.embeddings = nn.ModuleList(nn.Embedding(len(v) + 1, int(embedding_dim)) for v in tables)
        self.n_out = len(numeric) + len(tables) * int(embedding_dim)

    def __setstate__(self, state):
        super().__setstate__(state)
        if "embedded" not in self.__dict__:  # pickled before level embeddings
            self.embedded = list(self.categorical)

    def codes(self, values, j):
        """Row index of each value in embedding ``j`` (the last row: unknown)."""
        vocab = getattr(self, f"vocab{j}").to(values.dtype)
        unknown = self.vocab_sizes[j]
        if unknown == 0:
            return torch.full(values.shape, unknown, dtype=torch.int64, device=values.device)
        idx = torch.searchsorted(vocab, values.contiguous()).clamp_max(unknown - 1)
        hit = vocab[idx] == values
        return torch.where(hit, idx, torch.full_like(idx, unknown))

    def forward(self, x0):
        """``x0`` ``(n, m, width)`` (absent points zero) → ``(n, m, n_out)``."""
        parts = []
        if self.numeric:
            cols = x0[..., self.numeric]
            parts.append((cols - self.mean.to(x0.dtype)) / self.scale.to(x0.dtype))
        for j, c in enumerate(self.embedded):
            parts.append(self.embeddings[j](self.codes(x0[..., c], j)).to(x0.dtype))
        if not parts:
            return x0[..., :0]
        return torch.cat(parts, -1)


def rescale_geometry(x, columns):
    """Divide the ``columns`` (geometric) of each sample by a power of two near their
    largest magnitude, so that networks see values of order one whatever the units
    (``1e-300`` or ``1e300``). Powers of two rescale exactly; frames are scale-invariant.

    Returns ``(x_scaled, s)`` with ``s`` of shape ``(n,)``.
    """
    if not columns or x.shape[0] == 0:
        return x, torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
    geo = x[..., columns]
    finite = torch.isfinite(geo)
    top = torch.where(finite, geo.abs(), torch.zeros((), dtype=x.dtype, device=x.device)).flatten(1).amax(1)
    _, exponent = torch.frexp(torch.where(top > 0, top, torch.ones_like(top)))
    s = torch.ldexp(torch.ones_like(top), exponent.to(torch.int32))
    out = x.clone()
    out[..., columns] = geo / s[:, None, None]
    return out, s


class _TripleProduct(torch.autograd.Function):
    """``det`` of a batch of 3×3 matrices, whose gradient is finite for every input.

    torch's ``det`` backward returned NaN for float32 matrices of rounding noise (the
    channel vectors of an exactly symmetric sample, such as an axis-aligned cube, about
    1e-9 and 1e-35), and training stopped as "diverged". Where torch's gradient is finite
    it is kept as it is (so training is unchanged); elsewhere the cofactor matrix, the
    gradient of the triple product ``v0·(v1×v2)``, a polynomial, takes its place."""

    @staticmethod
    def forward(ctx, V):
        ctx.save_for_backward(V)
        return torch.linalg.det(V)

    @staticmethod
    @torch.autograd.function.once_differentiable   # no second derivatives (nothing needs them)
    def backward(ctx, grad):
        (V,) = ctx.saved_tensors
        with torch.enable_grad():
            W = V.detach().requires_grad_(True)
            (usual,) = torch.autograd.grad(torch.linalg.det(W), W, grad)
        bad = ~torch.isfinite(usual).all(dim=(-2, -1))
        if not bad.any():
            return usual
        v0, v1, v2 = V[..., 0, :], V[..., 1, :], V[..., 2, :]
        cofactor = torch.stack([torch.linalg.cross(v1, v2), torch.linalg.cross(v2, v0),
                                torch.linalg.cross(v0, v1)], dim=-2) * grad[..., None, None]
        return torch.where(bad[..., None, None], cofactor, usual)


def init_weights(module):
    """He-normal weights and zero biases for every Linear layer of ``module``.

    torch's default init shrinks activations layer after layer, so at initialisation the
    per-point weights hardly vary and the output vectors are tiny and nearly collinear
    (an ill-conditioned frame, bad for the frozen ``"random"`` baseline). He init keeps
    their spread of order one.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class PointFrameNetwork(FrameNetwork):
    """Learned frames for O(d), SO(d), E(d), SE(d) or T(d) acting on point sets.

    Parameters
    ----------
    group : Group
        One that :func:`handles_rigid_motions` (O(d), SO(d), E(d), SE(d), T(d)).
    layout : PointLayout
        Positions move with rotations and translations, vectors with rotations only,
        scalars are invariant input features.
    hidden : int, default=64
        Width of the per-point MLPs.
    n_channels : int, default=8
        Number of intermediate equivariant vectors.
    axes : {"moments", "vectors"}, default="moments"
        Where the rotation's axes come from. ``"moments"``: the eigenvectors of a *learned
        weighted* second-moment matrix ``Σ w_i f_i f_iᵀ / Σ w_i`` of the (centred) first
        geometric field, with per-point invariant weights ``w_i = 1 + tanh(l_i)`` from the
        network (uniform weights would give the PCA heuristic's axes), in order of
        decreasing eigenvalue, each signed by its inner product with the network's output
        vector of the same rank. ``"vectors"``: the network's output vectors themselves,
        orthonormalized (:func:`gram_schmidt`; models saved before this option existed).
        Chosen on validation data (``docs/learned.md``): the moment axes inherit PCA's
        stability, which the frames of the output vectors lack.
        With ``"moments"`` the output vectors only choose the signs, by a hard test that
        passes no gradient, so training leaves them to the shared layers' drift (it flipped
        13–50 % of the signs of validation shapes); a straight-through gradient for the
        signs was measured and not adopted (``docs/learned.md``).

    Notes
    -----
    Frames: rotation matrices ``(n, d, d)`` for O(d)/SO(d), homogeneous matrices
    ``(n, d+1, d+1)`` for E(d)/SE(d), translations ``(n, d)`` for T(d).

    Hard frames of ``axes="moments"`` leave an axis open where two eigenvalues are tied or
    its sign is (the inner product with the network's vector is at rounding level): those
    inputs take the PCA heuristic's frame (:func:`resolve_open_frames`), as do the inputs
    whose output vectors are degenerate with ``axes="vectors"``.
    """

    #: models pickled before ``axes`` existed used the output vectors
    axes = "vectors"
    #: how moment axes are signed (``signs`` of :func:`moment_axes`): by the output vectors;
    #: ``"skew"`` (weighted third moments) was measured and not made the default
    #: (``benchmarks/choose_e2e_frame_axes.py``, ``docs/learned.md``)
    signs = "vectors"

    #: relative degeneracy threshold of hard frames, per precision of the input: below it a
    #: network vector counts as fixed by a symmetry of the input and the tie rules decide
    HARD_EPS = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 1e-3}

    def __init__(self, group, layout, hidden=64, n_channels=8, scalar_stats=None, axes="moments"):
        super().__init__(group, layout, hidden)
        if axes not in AXES:
            raise ValueError(f"axes must be one of {AXES}; got {axes!r}.")
        self.axes = axes
        #: precision of the data the hard frames are computed for (set by the canonicalizer)
        self.precision = np.dtype(np.float64)
        #: floor of the attention logits' spread (models saved by earlier versions: 1e-3)
        self.sd_floor = _SD_FLOOR
        if not handles_rigid_motions(group):
            raise TypeError(f"PointFrameNetwork handles continuous rotations and translations of points "
                            f"(O(d), SO(d), E(d), SE(d), T(d)); got {group.name!r}.")
        group.check_layout(layout)
        self.d = layout.n_dims
        self.rotate = bool(group.rotates)
        self.translate = bool(group.translates)
        self.special = bool(group.special)
        self.geo = [layout.slice_of(f.name) for f in layout.fields if f.is_geometric]
        self.geo_is_pos = [f.kind == "position" for f in layout.fields if f.is_geometric]
        self.geo_columns = [c for sl in self.geo for c in range(sl.start, sl.stop)]
        self.scalars = ScalarEncoder(layout, scalar_stats)
        if not self.geo:
            raise ValueError(f"layout {layout!r} has no position or vector field to compute frames from.")
        if self.translate and not any(self.geo_is_pos):
            raise ValueError(f"{group.name} needs a position field; layout {layout!r} has none.")
        F = len(self.geo)
        n_scal = self.scalars.n_out
        self.n_fields, self.K = F, int(n_channels)
        self.chiral = self.special and self.d in (2, 3)
        n_inv = F + F * (F - 1) // 2 + n_scal
        H, K = self.hidden, self.K
        # Per-point layers are narrow (cost is per point: 1,000-point clouds must stay
        # fast); per-cloud inputs (context, Gram matrix) go through a wider per-cloud MLP
        # evaluated once per cloud and broadcast.
        Hp = self.point_hidden = max(8, H // 4)
        self.phi1 = nn.Sequential(nn.Linear(n_inv, Hp), nn.SiLU(), nn.Linear(Hp, Hp), nn.SiLU())
        self.vec_pt = nn.Linear(Hp, K * F)
        self.vec_gl = nn.Linear(Hp, K * F, bias=False)
        n_chi = K if (self.chiral and self.d == 2) else 0
        n_glob = Hp + K * K + (1 if self.chiral and self.d == 3 else 0)
        self.mix_pt = nn.Linear(Hp + K * F + n_chi, Hp)
        self.mix_gl = nn.Sequential(nn.Linear(n_glob, H), nn.SiLU(), nn.Linear(H, Hp, bias=False))
        self.out = nn.Linear(Hp, self.d * F + 1)
        init_weights(self)

    # -- internals ------------------------------------------------------------------------
    def _fields(self, x):
        """Presence, counts, centred/normalized geometric fields and scale information."""
        mask = present_mask(x)
        w = mask.to(x.dtype)
        x0 = torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        count = w.sum(1).clamp_min(1.0)
        fields = []
        centroid = None
        for sl, is_pos in zip(self.geo, self.geo_is_pos):
            f = x0[..., sl]
            floor = coincident_floor(f)
            if is_pos:
                c = masked_mean(f, w, count)
                if centroid is None:
                    centroid = c
                f = (f - c[:, None, :]) * w[..., None]
            ms = masked_mean((f * f).sum(-1), w, count)
            # points that coincide up to rounding have no spread (not unit-sized noise)
            flat = ms <= floor
            f = torch.where(flat[:, None, None], torch.zeros((), dtype=f.dtype, device=f.device), f)
            scale = safe_sqrt(torch.where(flat, torch.zeros_like(ms), ms))
            fields.append(f / scale[:, None, None])
        return mask, w, count, x0, fields, centroid

    def _raw_outputs(self, x):
        """Output vectors ``(n, d, d)`` (columns) and per-point translation logits ``(n, m)``."""
        mask, w, count, x0, fields, centroid = self._fields(x)
        F, K, d = self.n_fields, self.K, self.d
        inv = [f.norm(dim=-1, keepdim=True) for f in fields]
        for a in range(F):
            for b in range(a + 1, F):
                inv.append((fields[a] * fields[b]).sum(-1, keepdim=True))
        if self.scalars.n_out:
            inv.append(self.scalars(x0))
        h1 = self.phi1(torch.cat(inv, -1))                                # (n, m, H)
        ctx1 = masked_mean(h1, w, count)                                   # (n, H)
        n, m = x.shape[0], x.shape[1]
        wv = (self.vec_pt(h1) + self.vec_gl(ctx1)[:, None, :]).reshape(n, m, F, K)
        stacked = torch.stack(fields, 2)                                   # (n, m, F, d)
        V = self._attend(wv, mask, stacked)                                # (n, K, d)
        proj = torch.einsum("nmfd,nkd->nmfk", stacked, V).reshape(n, m, F * K)
        gram = torch.einsum("nkd,nld->nkl", V, V).reshape(n, K * K)
        per_point, per_cloud = [h1, proj], [ctx1, gram]
        if self.chiral:
            p = fields[0]
            if d == 2:   # 2-D cross product with each channel: a pseudo-scalar per point
                per_point.append(p[..., :1] * V[:, None, :, 1] - p[..., 1:2] * V[:, None, :, 0])
            else:        # triple product of the first three channels: a global pseudo-scalar
                per_cloud.append(_TripleProduct.apply(V[:, :3, :])[:, None] if K >= 3 else
                                 torch.zeros(n, 1, dtype=x.dtype, device=x.device))
        z = self.mix_pt(torch.cat(per_point, -1)) + self.mix_gl(torch.cat(per_cloud, -1))[:, None, :]
        out = self.out(nn.functional.silu(z))                              # (n, m, d*F+1)
        a = out[..., : d * F].reshape(x.shape[0], x.shape[1], F, d)
        U = self._attend(a, mask, stacked)                                 # (n, d, d)
        U = U.transpose(1, 2)                                              # columns = vectors
        logits = out[..., -1].masked_fill(~mask, -1e9)
        return U, logits, mask, x0, centroid, fields[0]

    def _attend(self, logits, mask, stacked):
        """Per channel, a softmax-weighted mean of every field over the present points.

        Logits are standardized over the points of each cloud (spread floored at
        ``_SD_FLOOR``) and scaled by ``_SHARPNESS``, so every channel concentrates on a few points whatever the
        initialisation. ``logits`` ``(n, m, F, C)`` are invariant, so the result ``(n, C, d)`` is
        equivariant. Softmax weights single out different points per channel, which keeps
        the output vectors far from collinear (a well-conditioned frame).
        """
        w = mask.to(logits.dtype)[:, :, None, None]
        count = w.sum(1, keepdim=True).clamp_min(1.0)
        mu = (logits * w).sum(1, keepdim=True) / count
        sd = safe_sqrt((((logits - mu) ** 2) * w).sum(1, keepdim=True) / count)
        z = (logits - mu) / (sd + getattr(self, "sd_floor", _SD_FLOOR)) * _SHARPNESS
        att = torch.softmax(z.masked_fill(w == 0, -1e9), dim=1)
        return torch.einsum("nmfc,nmfd->ncd", att, stacked)

    def _parts(self, x, hard=False):
        """Rotation ``(n, d, d)`` (or None) and translation ``(n, d)`` (or None).

        ``hard``: samples whose network vectors leave part of the frame open (inputs with a
        symmetry: planar, collinear, regular, repeated points) get that part from the
        heuristics' exact tie rules (:func:`resolve_open_frames`), not from point order.
        """
        xs, unit = rescale_geometry(x, self.geo_columns)
        U, logits, mask, x0, centroid, points = self._raw_outputs(xs)
        # without translations the centroid is an equivariant vector too: the fallback for
        # axes that the (centred) points cannot give, e.g. the normal of a flat cloud; the
        # points themselves come next, for output vectors that happen to be (nearly) coplanar
        fallback = None if (self.translate or centroid is None) else centroid[:, :, None]
        R = t = None
        if self.translate:
            pos = x0[..., self.geo[self.geo_is_pos.index(True)]]
            t = torch.einsum("nm,nmd->nd", torch.softmax(logits, dim=1), pos)
        if self.rotate:
            eps = self.HARD_EPS.get(np.dtype(self.precision), 1e-3) if hard else 1e-5
            if self.axes == "moments":
                U = moment_axes(U, logits, mask, points, open_eps=eps if hard else None,
                                signs=self.signs)
            R, prefix = gram_schmidt(U, special=self.special, fallback=fallback, points=points, eps=eps,
                                     return_prefix=True, atol=eps if hard else _TINY)
            if hard:
                R = resolve_open_frames(R, prefix, xs, mask, t, self.layout, self.special, self.precision)
        if t is not None:
            t = t * unit[:, None]
        return R, t, mask

    def _apply_inverse(self, x, R, t, mask):
        x0 = torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        out = move_back(x0, R, t, self.layout)
        return torch.where(mask[..., None], out, torch.full((), float("nan"), dtype=x.dtype, device=x.device))

    def _frames_from_parts(self, R, t):
        """Frames in the group's element format: rotations, translations or homogeneous
        matrices (:meth:`~skcanon.groups.EuclideanGroup.from_parts`)."""
        if not self.translate:
            return R
        if not self.rotate:
            return t
        return self.group.from_parts(R, t)

    # -- FrameNetwork API -----------------------------------------------------------------
    def canonicalize(self, x):
        R, t, mask = self._parts(x, hard=True)
        return self._apply_inverse(x, R, t, mask), self._frames_from_parts(R, t)

    def soft_canonicalize(self, x):
        """Differentiable canonical form (the hard one without the tie rules, which only
        change frames of inputs with a symmetry)."""
        R, t, mask = self._parts(x)
        return self._apply_inverse(x, R, t, mask)

    def prior_loss(self, x):
        """``||R - I||²`` (rotation part); for T(d) alone, ``||t||²`` relative to the spread."""
        R, t, mask = self._parts(x)
        if R is not None:
            eye = torch.eye(self.d, dtype=R.dtype, device=R.device)
            return ((R - eye) ** 2).sum((1, 2)).mean()
        xs, unit = rescale_geometry(x, self.geo_columns)
        _, _, _, x0, fields, _ = self._fields(xs)
        ts = t / unit[:, None]
        return (ts ** 2).sum(-1).mean() / (1.0 + (x0[..., self.geo_columns] ** 2).sum((1, 2)).mean())


#: where :class:`PointFrameNetwork` takes its rotation axes from
AXES = ("moments", "vectors")
#: relative eigenvalue gap below which :func:`moment_axes` passes no gradient through the
#: eigenvectors (eigh's gradient grows like 1 / gap and is infinite at a tie)
_EIGEN_GRADIENT_GAP = 1e-4


def moment_axes(U, logits, mask, f, open_eps=None, signs="vectors"):
    """Axes ``(n, d, d)`` (columns) of a learned weighted second-moment matrix of ``f``.

    ``C = Σ w_i f_i f_iᵀ / Σ w_i`` over the present points, ``w_i = 1 + tanh(l_i)`` from
    the invariant per-point ``logits`` ``(n, m)``; its eigenvectors in order of decreasing
    eigenvalue, column ``k`` signed by its inner product with ``U[:, :, k]`` (the network's
    equivariant output vectors), so the axes are equivariant: ``C(g·f) = g C gᵀ``.

    ``open_eps`` (hard frames): columns the input leaves undetermined are set to zero — an
    eigenvalue tied with a neighbour (relative to the largest, within ``open_eps``) or a
    sign whose inner product is within ``open_eps · (|u_k| + 1)`` of zero —, so that
    :func:`gram_schmidt` reports them open and :func:`resolve_open_frames` applies the
    heuristic's exact tie rules. Samples whose eigenvalues are closer than
    ``_EIGEN_GRADIENT_GAP`` pass no gradient through the eigenvectors.

    ``signs="skew"``: each axis is signed by the weighted third moment of the points along
    it (``Σ w_i (e_k·f_i)³ / Σ w_i``, the PCA heuristic's rule with learned weights) where
    that is above ``open_eps · λ_max^{3/2}`` (``1e-5`` in training), and by the output
    vector otherwise.
    """
    w = mask.to(f.dtype) * (1.0 + torch.tanh(logits.masked_fill(~mask, 0.0)))
    f = torch.where(mask[..., None], f, torch.zeros((), dtype=f.dtype, device=f.device))
    C = torch.einsum("nm,nmd,nme->nde", w, f, f) / w.sum(1).clamp_min(_TINY)[:, None, None]
    if C.requires_grad:
        with torch.no_grad():
            lam = torch.linalg.eigvalsh(C)                              # ascending
            scale = lam[:, -1].abs().clamp_min(_TINY)
            gaps = lam[:, 1:] - lam[:, :-1]                             # none in one dimension
            smooth = (gaps > _EIGEN_GRADIENT_GAP * scale[:, None]).all(-1)
        C = torch.where(smooth[:, None, None], C, C.detach())
    lam, E = torch.linalg.eigh(C)
    lam, E = lam.flip(-1).detach(), E.flip(-1)                           # decreasing
    scale = lam[:, 0].abs().clamp_min(_TINY)
    dots = (E * U).sum(1).detach()                                      # (n, d)
    key, by_skew = dots, torch.zeros_like(dots, dtype=torch.bool)
    if signs == "skew":
        with torch.no_grad():
            proj = torch.einsum("nmd,ndk->nmk", f, E)
            skew = (w[..., None] * proj ** 3).sum(1) / w.sum(1).clamp_min(_TINY)[:, None]
            floor = (1e-5 if open_eps is None else open_eps) * scale[:, None] ** 1.5
            by_skew = skew.abs() > floor
            key = torch.where(by_skew, skew, dots)
    E = E * torch.where(key < 0, -torch.ones_like(key), torch.ones_like(key))[:, None, :]
    if open_eps is None:
        return E
    gap = (lam[:, :-1] - lam[:, 1:]) <= open_eps * scale[:, None]     # (n, d-1): k tied with k+1
    no_gap = torch.zeros(gap.shape[0], 1, dtype=torch.bool, device=gap.device)
    tied = torch.cat([gap, no_gap], 1) | torch.cat([no_gap, gap], 1)
    unsigned = ~by_skew & (dots.abs() <= open_eps * (U.norm(dim=1).detach() + 1.0))
    return E * (~(tied | unsigned)).to(E.dtype)[:, None, :]


def resolve_open_frames(R, prefix, x, mask, t, layout, special, precision=np.float64):
    """Frames the network leaves open, from the PCA heuristic with its exact tie rules.

    ``prefix[i] < d`` means that only the first ``prefix[i]`` columns of ``R[i]`` come from
    the network's (equivariant) vectors: the input has a symmetry that fixes every vector
    the network can output (a planar cloud's normal under reflections, the rotations about
    a collinear cloud's line or a regular polygon's axis, the whole frame of a cube), and
    any completion of the frame by point order or by rounding noise is not equivariant.
    Those samples take the rotation of ``method="pca"`` instead — from the same centred
    points, other fields and tolerances (the rounding of
    ``precision``, the dtype of the data) — whose tie rules are exactly equivariant on
    symmetric inputs. Generic float64 inputs never get here, so their frames stay learned.
    """
    open_rows = torch.nonzero(prefix < R.shape[1]).flatten()
    if open_rows.numel() == 0:
        return R
    idx = open_rows.cpu().numpy()
    P = x[open_rows].detach().cpu().double().numpy()
    present = mask[open_rows].cpu().numpy()
    own = geometric_field(layout)
    Y = np.where(present[..., None], P[..., layout.slice_of(own.name)], 0.0)
    # the rounding noise of the input grows with its coordinates as given (not centred)
    given_magnitude = np.max(np.sum(Y ** 2, axis=2), axis=1)
    # centred on the centroid exactly as the heuristic does (with translations the output
    # keeps the network's translation; the rotation only has to be equivariant)
    w = present.astype(np.float64)
    centre = np.einsum("nm,nmd->nd", w, Y) / np.maximum(w.sum(1), 1.0)[:, None]
    offset = None if t is not None else centre
    if own.kind == "position":
        Y = Y - centre[:, None, :]
    else:
        offset = None
    V, S = attached_fields(P, layout, centroid=centre)
    out = R.detach().clone()
    for j, i in enumerate(idx):
        F = _heuristic_frame(Y[j], present[j], V[j], S[j], special, precision,
                             None if offset is None else offset[j], given_magnitude[j],
                             centre[j] if (t is not None and own.kind == "position") else None)
        out[i] = torch.as_tensor(F, dtype=R.dtype, device=R.device)
    keep = torch.ones(R.shape[0], dtype=torch.bool, device=R.device)
    keep[open_rows] = False
    return torch.where(keep[:, None, None], R, out)


def _heuristic_frame(Y, present, V, S, special, precision=np.float64, offset=None, given_magnitude=None,
                     centred_from=None):
    """The PCA heuristic's frame of one sample, all its tie rules included (see
    :func:`resolve_open_frames`): :func:`~skcanon._kernels.pca.pca_frames` at the
    rounding tolerance of ``precision``. ``Y`` ``(m, d)`` centred points (absent ones
    zero), ``offset`` the centroid for groups without translations, ``V`` ``(m, q, d)`` and
    ``S`` ``(m, s)`` the other fields, ``given_magnitude`` the largest squared norm of the
    points as given (their rounding noise grows with it), ``centred_from`` the centroid
    ``Y`` was centred by, for groups with translations (see :func:`pca_frames`)."""
    w = present.astype(np.float64)
    V, S = np.nan_to_num(V), np.nan_to_num(S)
    full = Y if offset is None else Y + offset
    magnitude = np.array([given_magnitude if given_magnitude is not None else
                          float((np.sum(full ** 2, axis=1) * w).max()) if present.any() else 0.0])
    attached = (lambda i: (V[None][i], S[None][i])) if (V.size or S.size) else None
    # tie tolerances follow the input's rounding
    return pca_frames(Y[None], w[None], special, resolve_ties=True,
                      offset=None if offset is None else offset[None], magnitude=magnitude, attached=attached,
                      eps=float(np.finfo(np.dtype(precision)).eps),
                      centred_from=None if centred_from is None else centred_from[None])[0]


class AnchoredPointNetwork(PointFrameNetwork):
    """A learned residual rotation on top of the PCA heuristic's frame.

    The input is first canonicalized by ``method="pca"`` (its exact tie rules included);
    the network then sees that canonical form and outputs a residual rotation
    ``R = gram_schmidt(I + gain · U)`` (``U``: the network's output vectors)
    with ``gain`` initialised at 0, so the untrained network *is* the heuristic and
    training moves away from it only as far as the objective pays. The frame is
    ``h_pca(x) · R``; its translation is the heuristic's (the centroid). Residuals are
    proper rotations (reflections stay the heuristic's). The canonical form is a function
    of the heuristic's canonical form, so it is exactly as invariant as the heuristic, on
    symmetric inputs too.

    Parameters are those of :class:`PointFrameNetwork`; the group must rotate
    (O(d), SO(d), E(d), SE(d)).
    """

    def __init__(self, group, layout, hidden=64, n_channels=8, scalar_stats=None):
        # the residual is built from the output vectors (it must vanish at gain 0)
        super().__init__(group, layout, hidden, n_channels, scalar_stats, axes="vectors")
        if not self.rotate:
            raise TypeError(f"an anchored network needs a rotation group; got {group.name!r}.")
        self.gain = nn.Parameter(torch.zeros(()))

    def _anchor(self, x):
        """The heuristic's canonical form ``(n, m, width)`` (absent points NaN), rotation
        ``(n, d, d)``, translation ``(n, d)`` (None without translations) and presence."""
        dtype = np.float32 if np.dtype(self.precision) == np.float32 else np.float64
        h = np.asarray(pca_group_frames(self.group, x.detach().cpu().numpy().astype(dtype), self.layout),
                       dtype=np.float64)
        E = torch.as_tensor(h[:, : self.d, : self.d], dtype=x.dtype, device=x.device)
        c = (torch.as_tensor(h[:, : self.d, self.d], dtype=x.dtype, device=x.device)
             if self.translate else None)
        mask = present_mask(x)
        x0 = torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        Et = E.transpose(1, 2)
        Z = rotate_fields(Et, x0, self.layout, t=None if c is None else -torch.einsum("nij,nj->ni", Et, c))
        Z = torch.where(mask[..., None], Z, torch.full((), float("nan"), dtype=x.dtype, device=x.device))
        return Z, E, c, mask

    def _residual(self, Z):
        zs, _ = rescale_geometry(Z, self.geo_columns)
        U = self._raw_outputs(zs)[0]
        d = self.d
        eye = torch.eye(d, dtype=Z.dtype, device=Z.device).expand(Z.shape[0], d, d)
        # U is of order one (weighted means of fields normalized to unit spread) and vanishes
        # on symmetric inputs: not normalized per column, which would blow its rounding
        # noise up into a random residual there
        return gram_schmidt(eye + self.gain * U, special=True)

    def _parts(self, x, hard=False):
        Z, E, c, mask = self._anchor(x)
        return E @ self._residual(Z), c, mask

    def prior_loss(self, x):
        """``||R_residual - I||²``: the prior keeps the heuristic's frame."""
        Z = self._anchor(x)[0]
        eye = torch.eye(self.d, dtype=x.dtype, device=x.device)
        return ((self._residual(Z) - eye) ** 2).sum((1, 2)).mean()
