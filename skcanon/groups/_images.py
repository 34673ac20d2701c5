"""Rotations and reflections of image batches, for numpy arrays and torch tensors alike.

Each action is one function that dispatches on its input: numpy arrays give numpy arrays
(what the groups' ``act`` uses), torch tensors give tensors on the same device, with
gradients (what the image networks use while training). Both backends follow the same
rules, so a network trained in torch sees the action that ``transform`` applies in numpy.

Convention: angles are counter-clockwise as displayed (row 0 at the top), about the
pixel-grid centre ``((H-1)/2, (W-1)/2)``. Multiples of 90° on square images (of 180° on
the others) use exact ``rot90``; every other angle uses bilinear interpolation with zeros
outside the image (so corners are cut and the action is approximate: rotating by ``a``
then ``-a`` smooths the image slightly and loses what fell outside). Mirroring is
left-right (``x ↦ -x`` about the vertical centre line); "mirror, then rotate" is how
C_n, D_n and O(2) elements act.
"""

from __future__ import annotations

import numpy as np

__all__ = ["quarter_turns", "rotate_images", "bilinear_rotate_images", "flip_images", "mirror_rotate_images",
           "motion_from_matrices", "image_motion", "act_on_images"]

_EXACT_TOL = 1e-9
_CHUNK = 2048


def _is_tensor(x):
    return hasattr(x, "clone") and hasattr(x, "device")


def quarter_turns(angles):
    """Integer quarter turns for angles that are exact multiples of 90°, else -1."""
    q = np.asarray(angles) / (np.pi / 2)
    r = np.round(q)
    exact = np.abs(q - r) < _EXACT_TOL
    return np.where(exact, np.mod(r, 4).astype(np.int64), -1)


def _exact_turns(angles, shape):
    """Quarter turns per angle that rotate images of ``shape`` exactly, else -1 (a quarter
    turn of a non-square image would change its shape)."""
    q = quarter_turns(angles)
    if shape[-1] != shape[-2]:
        q = np.where(q % 2 == 1, -1, q)
    return q


def _check_images(imgs):
    # a batch without its channel axis rotated by quarter turns but failed to unpack otherwise
    if imgs.ndim != 4:
        raise ValueError(
            f"imgs must be a batch of images of shape (n, C, H, W); got shape {tuple(imgs.shape)}.")
    if not _is_tensor(imgs) and imgs.dtype.kind not in "biuf":
        raise TypeError(f"imgs must hold real numbers; got dtype {imgs.dtype}.")


def _angles_per_image(angles, n):
    """``angles`` (a scalar or one per image) as ``(n,)`` float64, checked."""
    try:
        a = np.asarray(angles, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"angles must be real numbers (radians); got {type(angles).__name__}.") from None
    if a.size != 1 and a.shape != (n,):
        raise ValueError(f"angles must be a scalar or hold one angle per image ({n}); got shape {a.shape}.")
    if not np.all(np.isfinite(a)):
        # NaN gave an all-zero image silently
        raise ValueError("angles must be finite; got NaN or infinity.")
    return np.broadcast_to(a.reshape(-1), (n,))


def rotate_images(imgs, angles):
    """Rotate each image ``imgs[i]`` (``(n, C, H, W)``) by ``angles[i]`` radians.

    Exact for multiples of 90° on square images and of 180° on the others; bilinear
    otherwise. numpy input: a new array of the input dtype (float inputs) or float64
    (integer inputs). torch input: a new tensor, differentiable with respect to the images
    and (for angles given as a tensor) to the angles, except at exact turns.

    ``angles`` is one finite angle for all images or one per image; an empty batch gives an
    empty result. Raises ValueError for images that are not 4-D, for another number of
    angles and for non-finite angles.
    """
    if _is_tensor(imgs):
        _check_images(imgs)
        return _rotate_torch(imgs, angles)
    imgs = np.asarray(imgs)
    _check_images(imgs)
    angles = _angles_per_image(angles, imgs.shape[0])
    dtype = imgs.dtype if np.issubdtype(imgs.dtype, np.floating) else np.float64
    out = np.empty(imgs.shape, dtype=dtype)
    q = _exact_turns(angles, imgs.shape)
    for k in range(4):
        idx = np.flatnonzero(q == k)
        if idx.size:
            out[idx] = np.rot90(imgs[idx], k, axes=(-2, -1))
    idx = np.flatnonzero(q < 0)
    for start in range(0, idx.size, _CHUNK):
        part = idx[start:start + _CHUNK]
        out[part] = _bilinear_rotate(imgs[part], angles[part]).astype(dtype, copy=False)
    return out


def flip_images(imgs, where=None):
    """Mirror left-right (``x ↦ -x`` about the vertical centre line); a new array or tensor.

    ``where`` (bool per image) mirrors only those images and copies the others.
    """
    tensor = _is_tensor(imgs)
    if where is None:
        return imgs.flip(-1) if tensor else np.flip(imgs, axis=-1).copy()
    where = np.asarray(where, dtype=bool)
    if tensor:
        import torch

        mask = torch.as_tensor(where, device=imgs.device)[:, None, None, None]
        return torch.where(mask, imgs.flip(-1), imgs)
    return np.where(where[:, None, None, None], np.flip(imgs, axis=-1), imgs)


def mirror_rotate_images(imgs, angles, mirror=None):
    """Mirror the images where ``mirror`` (bool per image; None: none), then rotate each by
    its angle: the image action of C_n, D_n and O(2) elements, numpy or torch."""
    if mirror is not None and np.any(mirror):
        imgs = flip_images(imgs, mirror)
    return rotate_images(imgs, angles)


def bilinear_rotate_images(imgs, angles):
    """Rotate by bilinear interpolation for every angle, quarter turns included (numpy or
    torch): unlike :func:`rotate_images`, differentiable in the angles everywhere."""
    if _is_tensor(imgs):
        import torch

        return _bilinear_rotate_torch(imgs, torch.as_tensor(angles, dtype=imgs.dtype, device=imgs.device))
    return _bilinear_rotate(np.asarray(imgs), np.asarray(angles, dtype=np.float64))


def motion_from_matrices(M):
    """Rotation angles ``(n,)`` and mirror flags ``(n,)`` of 2-D linear parts ``M`` acting on
    images (numpy arrays or torch tensors): a reflection is "mirror left-right, then rotate",
    ``M = R(θ)·diag(-1, 1)``."""
    if _is_tensor(M):
        import torch

        reflect = torch.linalg.det(M) < 0
        flip = torch.tensor([-1.0, 1.0], dtype=M.dtype, device=M.device)
        rot = torch.where(reflect[:, None, None], M * flip, M)
        return torch.atan2(rot[:, 1, 0], rot[:, 0, 0]), reflect.cpu().numpy()
    M = np.asarray(M)
    reflect = np.linalg.det(M) < 0
    rot = np.where(reflect[:, None, None], M @ np.diag([-1.0, 1.0]), M)
    return np.arctan2(rot[:, 1, 0], rot[:, 0, 0]), reflect


def image_motion(group, g):
    """Rotation angles and mirror flags of ``group``'s elements ``g`` on images
    (:meth:`~skcanon.groups.Group.image_motion`; integer elements given as tensors are read
    on the host)."""
    if _is_tensor(g) and not g.is_floating_point():
        g = g.cpu().numpy()
    return group.image_motion(g)


def act_on_images(group, g, imgs):
    """``group``'s action of elements ``g`` on image batches, numpy arrays or torch tensors
    (:func:`image_motion`, then :func:`mirror_rotate_images`)."""
    angles, mirror = image_motion(group, g)
    return mirror_rotate_images(imgs, angles, mirror)


def _bilinear_rotate(imgs, angles):
    n, c, h, w = imgs.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    x = (cols - cx)[None]
    y = (cy - rows)[None]
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    # source of each output pixel: rotate the output grid by -angle
    xs = cos * x + sin * y
    ys = -sin * x + cos * y
    src_r = cy - ys
    src_c = xs + cx
    r0 = np.floor(src_r).astype(np.int64)
    c0 = np.floor(src_c).astype(np.int64)
    fr = src_r - r0
    fc = src_c - c0
    flat = imgs.reshape(n, c, h * w).astype(np.float64, copy=False)
    result = np.zeros((n, c, h, w))
    for dr, dc, wgt in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc),
                        (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        rr, cc = r0 + dr, c0 + dc
        inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        lin = np.where(inside, rr * w + cc, 0)
        vals = np.take_along_axis(flat, lin.reshape(n, 1, h * w).repeat(c, axis=1), axis=2)
        result += (vals.reshape(n, c, h, w) * (wgt * inside)[:, None])
    return result


# -- torch backend ------------------------------------------------------------------------------
def _rotate_torch(x, angles):
    import torch

    n = x.shape[0]
    if torch.is_tensor(angles):
        ang_np = _angles_per_image(angles.detach().cpu().double().numpy(), n)
        ang_t = angles.to(x.dtype).reshape(-1).expand(n) if angles.numel() == 1 else angles.to(x.dtype)
    else:
        ang_np = np.array(_angles_per_image(angles, n))
        ang_t = torch.as_tensor(ang_np, dtype=x.dtype, device=x.device)
    if n == 0:
        return x.clone()
    q = _exact_turns(ang_np, x.shape)
    if np.all(q >= 0) and np.all(q == q[0]):
        return torch.rot90(x, int(q[0]), dims=(-2, -1)) if q[0] else x.clone()
    pieces, index = [], []
    for k in range(4):
        idx = np.flatnonzero(q == k)
        if idx.size:
            pieces.append(torch.rot90(x[torch.as_tensor(idx, device=x.device)], k, dims=(-2, -1)))
            index.append(idx)
    idx = np.flatnonzero(q < 0)
    if idx.size:
        it = torch.as_tensor(idx, device=x.device)
        pieces.append(_bilinear_rotate_torch(x[it], ang_t[it]))
        index.append(idx)
    order = np.argsort(np.concatenate(index))
    return torch.cat(pieces, 0)[torch.as_tensor(order, device=x.device)]


def _bilinear_rotate_torch(x, angles):
    """Bilinear rotation by ``angles`` (a tensor, ``(n,)``) with ``grid_sample``: the same
    sampling grid as :func:`_bilinear_rotate`, differentiable in images and angles."""
    import torch
    import torch.nn.functional as F

    n, c, h, w = x.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    rows = torch.arange(h, dtype=x.dtype, device=x.device)
    cols = torch.arange(w, dtype=x.dtype, device=x.device)
    yy = (cy - rows)[:, None].expand(h, w)
    xx = (cols - cx)[None, :].expand(h, w)
    cos, sin = torch.cos(angles)[:, None, None], torch.sin(angles)[:, None, None]
    xs = cos * xx + sin * yy  # source of each output pixel: the grid rotated by -angle
    ys = -sin * xx + cos * yy
    src_c = xs + cx
    src_r = cy - ys
    gx = src_c * (2.0 / max(w - 1, 1)) - 1.0
    gy = src_r * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    # along an axis one pixel wide align_corners maps every coordinate onto that pixel; numpy's
    # rule (zeros outside) weighs it by 1 - |offset| instead
    for size, src in ((w, src_c), (h, src_r)):
        if size == 1:
            out = out * torch.clamp(1.0 - src.abs(), min=0.0)[:, None]
    return out
