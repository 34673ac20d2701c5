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
   the geometric fields, hence rotation-equivariant), turned into an orthonormal frame by
   :func:`gram_schmidt` (with an epsilon guard and a deterministic fallback; never NaN)
   and, for SO(d), a determinant fix; and a softmax logit per point whose weights give a
   learned, translation-equivariant centroid (E(d), SE(d), T(d)).

Absent points (all-NaN rows) are masked out of every sum and stay NaN in the output.
"""

from __future__ import annotations

import torch
from torch import nn

from ..groups import EuclideanGroup, OrthogonalGroup, TranslationGroup
from ..groups._base import rotate_fields
from ._base import FrameNetwork, safe_sqrt

__all__ = ["PointFrameNetwork", "gram_schmidt", "present_mask", "masked_mean"]

_TINY = 1e-12
_SHARPNESS = 1.0


def present_mask(x):
    """``(n, m)`` bool: True where a point row is not all-NaN."""
    return ~torch.isnan(x).all(dim=-1)


def masked_mean(values, w, count):
    """Mean over points of ``values`` (``(n, m, ...)``) with presence weights ``w`` (``(n, m)``)."""
    n, m = w.shape
    flat = values.reshape(n, m, -1)
    total = torch.bmm(w.to(flat.dtype)[:, None, :], flat)[:, 0]       # no (n, m, ...) temporaries
    return (total / count[:, None]).reshape((n,) + values.shape[2:])


def gram_schmidt(U, special=False, eps=1e-5, fallback=None, points=None):
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

    Returns
    -------
    Q : torch.Tensor of shape (n, d, d)
        Orthonormal columns.
    """
    n, d, _ = U.shape
    eye = torch.eye(d, dtype=U.dtype, device=U.device).expand(n, d, d)
    completes = special and d in (2, 3)
    if points is not None:  # residuals below this are negligible
        point_floor = eps * points.norm(dim=-1).amax(-1) + _TINY
    cols = []
    for k in range(d - 1 if completes else d):
        u = U[:, :, k]
        q, bad = _orthonormal_residual(u, cols, eps)
        # equivariant replacements first: the later columns of U, then ``fallback``
        spare = [U[:, :, j] for j in range(k + 1, d)]
        if fallback is not None:
            spare += [fallback[:, :, j] for j in range(fallback.shape[2])]
        for v in spare:
            if not bool(bad.any()):
                break
            alt, alt_bad = _orthonormal_residual(v, cols, eps)
            q = torch.where((bad & ~alt_bad)[:, None], alt, q)
            bad = bad & alt_bad
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
    return Q


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


def _orthonormal_residual(u, cols, eps):
    """``u`` orthogonalized against ``cols`` and normalized, and where that is negligible."""
    r = u
    for q in cols:
        r = r - (r * q).sum(-1, keepdim=True) * q
    nr = r.norm(dim=-1)
    bad = nr <= eps * u.norm(dim=-1) + _TINY
    return r / nr.clamp_min(_TINY)[:, None], bad


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
    group : OrthogonalGroup, EuclideanGroup or TranslationGroup
    layout : PointLayout
        Positions move with rotations and translations, vectors with rotations only,
        scalars are invariant input features.
    hidden : int, default=64
        Width of the per-point MLPs.
    n_channels : int, default=8
        Number of intermediate equivariant vectors.

    Notes
    -----
    Frames: rotation matrices ``(n, d, d)`` for O(d)/SO(d), homogeneous matrices
    ``(n, d+1, d+1)`` for E(d)/SE(d), translations ``(n, d)`` for T(d).
    """

    def __init__(self, group, layout, hidden=64, n_channels=8):
        super().__init__(group, layout, hidden)
        if not isinstance(group, (OrthogonalGroup, EuclideanGroup, TranslationGroup)):
            raise TypeError(f"PointFrameNetwork handles O(d), SO(d), E(d), SE(d), T(d); got {group.name!r}.")
        group.check_layout(layout)
        self.d = layout.n_dims
        self.rotate = not isinstance(group, TranslationGroup)
        self.translate = not isinstance(group, OrthogonalGroup)
        self.special = bool(getattr(group, "special", False))
        self.geo = [layout.slice_of(f.name) for f in layout.fields if f.is_geometric]
        self.geo_is_pos = [f.kind == "position" for f in layout.fields if f.is_geometric]
        self.scal = [layout.slice_of(f.name) for f in layout.fields if f.kind == "scalar"]
        if not self.geo:
            raise ValueError(f"layout {layout!r} has no position or vector field to compute frames from.")
        if self.translate and not any(self.geo_is_pos):
            raise ValueError(f"{group.name} needs a position field; layout {layout!r} has none.")
        F = len(self.geo)
        n_scal = sum(s.stop - s.start for s in self.scal)
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
            if is_pos:
                c = masked_mean(f, w, count)
                if centroid is None:
                    centroid = c
                f = (f - c[:, None, :]) * w[..., None]
            scale = safe_sqrt(masked_mean((f * f).sum(-1), w, count))
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
        inv.extend(x0[..., sl] for sl in self.scal)
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
                per_cloud.append(torch.linalg.det(V[:, :3, :])[:, None] if K >= 3 else
                                 torch.zeros(n, 1, dtype=x.dtype, device=x.device))
        z = self.mix_pt(torch.cat(per_point, -1)) + self.mix_gl(torch.cat(per_cloud, -1))[:, None, :]
        out = self.out(nn.functional.silu(z))                              # (n, m, d*F+1)
        a = out[..., : d * F].reshape(x.shape[0], x.shape[1], F, d)
        U = self._attend(a, mask, stacked)                                 # (n, d, d)
        U = U.transpose(1, 2)                                              # columns = vectors
        logits = out[..., -1].masked_fill(~mask, -1e9)
        return U, logits, mask, x0, centroid, fields[0]

    @staticmethod
    def _attend(logits, mask, stacked):
        """Per channel, a softmax-weighted mean of every field over the present points.

        Logits are standardized over the points of each cloud and scaled by
        ``_SHARPNESS``, so every channel concentrates on a few points whatever the
        initialisation. ``logits`` ``(n, m, F, C)`` are invariant, so the result ``(n, C, d)`` is
        equivariant. Softmax weights single out different points per channel, which keeps
        the output vectors far from collinear (a well-conditioned frame).
        """
        w = mask.to(logits.dtype)[:, :, None, None]
        count = w.sum(1, keepdim=True).clamp_min(1.0)
        mu = (logits * w).sum(1, keepdim=True) / count
        sd = safe_sqrt((((logits - mu) ** 2) * w).sum(1, keepdim=True) / count)
        z = (logits - mu) / (sd + 1e-3) * _SHARPNESS
        att = torch.softmax(z.masked_fill(w == 0, -1e9), dim=1)
        return torch.einsum("nmfc,nmfd->ncd", att, stacked)

    def _parts(self, x):
        """Rotation ``(n, d, d)`` (or None) and translation ``(n, d)`` (or None)."""
        U, logits, mask, x0, centroid, points = self._raw_outputs(x)
        # without translations the centroid is an equivariant vector too: the fallback for
        # axes that the (centred) points cannot give, e.g. the normal of a flat cloud; the
        # points themselves come next, for output vectors that happen to be (nearly) coplanar
        fallback = None if (self.translate or centroid is None) else centroid[:, :, None]
        R = (gram_schmidt(U, special=self.special, fallback=fallback, points=points)
             if self.rotate else None)
        t = None
        if self.translate:
            pos = x0[..., self.geo[self.geo_is_pos.index(True)]]
            t = torch.einsum("nm,nmd->nd", torch.softmax(logits, dim=1), pos)
        return R, t, mask

    def _apply_inverse(self, x, R, t, mask):
        n, d = x.shape[0], self.d
        x0 = torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        Rt = (R.transpose(1, 2) if R is not None
              else torch.eye(d, dtype=x.dtype, device=x.device).expand(n, d, d))
        shift = None if t is None else -torch.einsum("nij,nj->ni", Rt, t)
        out = rotate_fields(Rt, x0, self.layout, t=shift)
        return torch.where(mask[..., None], out, torch.full((), float("nan"), dtype=x.dtype, device=x.device))

    def _frames_from_parts(self, R, t):
        if isinstance(self.group, OrthogonalGroup):
            return R
        if isinstance(self.group, TranslationGroup):
            return t
        n, d = t.shape
        H = torch.zeros(n, d + 1, d + 1, dtype=t.dtype, device=t.device)
        H[:, :d, :d] = R
        H[:, :d, d] = t
        H[:, d, d] = 1
        return H

    # -- FrameNetwork API -----------------------------------------------------------------
    def canonicalize(self, x):
        R, t, mask = self._parts(x)
        return self._apply_inverse(x, R, t, mask), self._frames_from_parts(R, t)

    def prior_loss(self, x):
        """``||R - I||²`` (rotation part); for T(d) alone, ``||t||²`` relative to the spread."""
        R, t, mask = self._parts(x)
        if R is not None:
            eye = torch.eye(self.d, dtype=R.dtype, device=R.device)
            return ((R - eye) ** 2).sum((1, 2)).mean()
        _, _, _, x0, fields, _ = self._fields(x)
        return (t ** 2).sum(-1).mean() / (1.0 + (x0 ** 2).sum((1, 2)).mean())
