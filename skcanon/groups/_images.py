"""Rotations and reflections of image batches.

Convention: angles are counter-clockwise as displayed (row 0 at the top), about the
pixel-grid centre ``((H-1)/2, (W-1)/2)``. Multiples of 90° on square images use exact
``rot90``; every other angle uses bilinear interpolation with zeros outside the image
(so corners are cut and the action is approximate: rotating by ``a`` then ``-a``
smooths the image slightly and loses what fell outside).
"""

from __future__ import annotations

import numpy as np

_EXACT_TOL = 1e-9
_CHUNK = 2048


def quarter_turns(angles):
    """Integer quarter turns for angles that are exact multiples of 90°, else -1."""
    q = np.asarray(angles) / (np.pi / 2)
    r = np.round(q)
    exact = np.abs(q - r) < _EXACT_TOL
    return np.where(exact, np.mod(r, 4).astype(np.int64), -1)


def rotate_images(imgs, angles):
    """Rotate each image ``imgs[i]`` (``(n, C, H, W)``) by ``angles[i]`` radians.

    Exact for multiples of 90° on square images and of 180° on the others; bilinear
    otherwise. Returns a new array
    of the input dtype (float inputs) or float64 (integer inputs).
    """
    imgs = np.asarray(imgs)
    angles = np.broadcast_to(np.asarray(angles, dtype=np.float64), (imgs.shape[0],))
    dtype = imgs.dtype if np.issubdtype(imgs.dtype, np.floating) else np.float64
    out = np.empty(imgs.shape, dtype=dtype)
    q = quarter_turns(angles)
    if imgs.shape[-1] != imgs.shape[-2]:  # a quarter turn would change the shape
        q = np.where(q % 2 == 1, -1, q)
    for k in range(4):
        idx = np.flatnonzero(q == k)
        if idx.size:
            out[idx] = np.rot90(imgs[idx], k, axes=(-2, -1))
    idx = np.flatnonzero(q < 0)
    for start in range(0, idx.size, _CHUNK):
        part = idx[start:start + _CHUNK]
        out[part] = _bilinear_rotate(imgs[part], angles[part]).astype(dtype, copy=False)
    return out


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


def flip_images(imgs):
    """Mirror left-right (``x ↦ -x`` about the vertical centre line)."""
    return np.flip(imgs, axis=-1).copy()
