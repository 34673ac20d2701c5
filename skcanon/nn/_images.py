"""Learned canonicalization networks for images: C_n, D_n and SO(2).

The networks only; the image actions they train with (rotations and mirrors of torch
tensors) are the groups' own, :mod:`skcanon.groups._images`.

Kaba et al. (ICML 2023) canonicalize with a small equivariant network ``h``; the canonical
form ``h(x)⁻¹·x`` is invariant because ``h(g·x) = g·h(x)``. For rotations and reflections
of images the network here is a *group convolution*:

1. **Downsample** by 2 (images of side ≥ 12) with an average pool whose blocks are placed
   symmetrically about the centre (2×2 blocks on even sides, 3×3 windows with stride 2 on
   odd sides), which keeps the exact equivariance under quarter turns and mirrors.
2. **Normalise and mask.** Each image is divided by its root-mean-square intensity (scale
   invariance; a blank image stays blank) and multiplied by a smooth disk (a sigmoid of the
   distance to the pixel-grid centre ``((H-1)/2, (W-1)/2)``), so that the corners, which a
   45° rotation cuts off, are ignored.
3. **Lifting convolution with rotated filters.** The filters are *steerable*: a learned
   combination of fixed continuous functions (Gaussian rings × circular harmonics of order
   ≤ 2, support inside a disk of radius ``kernel_size/2``), evaluated on the kernel grid.
   The filter for group element ``g`` is the continuous filter transformed by ``g``
   (``W_g(u) = W(g⁻¹u)``). Angles below 90° are evaluated analytically — so 45° filters
   are exact rotations of the continuous filter, not interpolated pixels — and all others
   are obtained from those by exact ``rot90`` / ``flip`` of the filter tensors. The image
   itself is never rotated inside the network. The convolution is zero-padded ("same"),
   so its output grid keeps the pooled image's resolution and stays centred.
4. **Leaky ReLU, spatial pooling per group element**: mean and root-mean-square over a
   disk, and *oriented pooling*: smooth polar weights (Gaussian rings × circular harmonics
   of order ≤ 2 on the output grid) turned by the same group element as the filter
   (``B_g(u) = B(g⁻¹u)``). A global average only says which orientations respond; the
   oriented weights also say where (above or below the centre, relative to the filter's
   orientation), which the pose of a digit depends on. This gives a feature vector per
   group element ``(n, features, |G|)`` that shifts by the regular representation when the
   input is transformed.
5. **Two group convolutions over the fibre** (``out(g) = Σ_h w(g⁻¹h) in(h)``, built from
   the group's own ``compose``/``inverse``) ending in one score per group element.

``canonicalize`` takes the argmax of the scores (ties go to the lowest element index: a
blank image gets element 0) and applies the inverse element with skcanon's own image action
(:meth:`skcanon.groups.CyclicGroup.act` etc.), so the canonical form equals
``group.act(group.inverse(frames), x)`` exactly. ``soft_canonicalize`` is differentiable:
a straight-through estimator whose forward value is the hard canonical form and whose
gradient is that of the softmax-weighted average of the inversely transformed images
(the same image action on torch tensors, :func:`skcanon.groups._images.act_on_images`).

Identity prior. ``prior_loss(x, elements)`` asks for the frame ``elements`` (default the
identity); ``moves(x)`` returns randomly moved copies ``(g·x, g)``. Training with the prior
uses both (:mod:`skcanon._training`): on upright images alone a network can meet the plain
prior by recognising the untouched pixel grid and then keep the identity on 45°-rotated
images. On rotated MNIST (C8, 4,000 upright training digits, 30 epochs, 1,000 rotated test
digits) the plain prior recovered the rotation of 99% of test digits at multiples of 90°
but 22% at the odd multiples of 45°; on moved copies, 92% and 93%.

Exactness. Every element that is a multiple of 90° or a mirror acts exactly (C4 and D4
entirely, the quarter turns of C8, C12, ...): for those the scores permute up to float
rounding (~1e-6 relative), so frames are exactly equivariant except on (near-)symmetric
images — scores within ``1e-5`` of each other count as tied and the lowest element index
wins, and an exactly symmetric image has the same canonical form either way. Other angles
(the odd multiples of 45° in C8) act by bilinear interpolation and equivariance is
approximate: on smooth images (blurred, upsampled sklearn digits) the predicted C8 element
of a freshly initialised network shifts correctly for about 95% of samples (82–100% over
12 seeds; the oriented pooling is more sensitive to resampling than global averages, which
gave about 98%); tested at ≥ 90% for seeds 0 and 1, before and after a few training steps.

SO(2). The network samples ``n_orientations`` (default 8) filter orientations; the pooled
features ``P_c(θ_k)`` are samples of a function of the filter angle that shifts continuously
with the image rotation. One group convolution over the sampled orientations (with a leaky
ReLU) is appended to them, and a learned channel combination gives one score per sampled
orientation, ``s(θ_k) = Σ_c a_c P_c(θ_k)``. Its first and second Fourier coefficients
``v₁ = Σ_k s(θ_k) e^{iθ_k}`` and ``v₂ = Σ_k s(θ_k) e^{2iθ_k}`` turn by ``θ`` and ``2θ`` when the
image turns by ``θ``. The frame angle is read like a principal axis with a skewness sign: the
axis ``φ = arg(v₂)/2`` (defined modulo π), turned by π where ``v₁`` points the other way.
Reading the angle from ``v₁`` alone was much less precise on elongated shapes whose two
ends look alike: on upright-trained Fashion-MNIST (prior objective, 10,000 images, 12
epochs) 31% of rotated test images got a frame within 10° of the applied rotation with
``v₁`` alone and 73% with the axis and sign (MNIST: 49% and 54%). The differentiable
canonical form is a straight-through choice between the image turned by ``-φ`` and its
half turn, so a task loss also trains the sign. Frames are rotation matrices ``(n, 2, 2)``.
Equivariance is exact for multiples of 90° (up to float rounding), approximate in between
(bilinear interpolation of the image, aliasing of the sampled orientations): on smooth,
circularly masked images the median angle error is about 0.5° and 90% of samples are
within 3° (tested: median ≤ 3°, 90% within 10°). The canonical form of a non-quarter
angle is interpolated, so it is invariant only approximately (smoothing, cut corners).
Images symmetric under a half turn have ``v₁ = 0``: the axis alone decides, and either
direction gives the same canonical image. When ``v₂`` vanishes too (blank images, images
symmetric under turns by 120° or 90°) the angle is 0, so such images are not canonicalized
(their canonical form turns with them); when only ``v₂`` vanishes the phase of ``v₁`` is used.

Orbit-scored networks. :mod:`skcanon.nn._orbit_images` scores each element with a plain CNN
applied to the turned-back image instead of the lifting layer; it shares the input step
(:meth:`_ImageNetworkBase.normalised`) and the two readouts above (``_ElementReadout``,
``_AngleReadout``). The learned canonicalizer uses it for the ``"prior"`` objective.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..groups import CyclicGroup, get_group, rotation_matrices_2d
from ..groups._images import act_on_images, bilinear_rotate_images, rotate_images
from ..layouts import ImageLayout
from ._base import FrameNetwork, safe_sqrt

__all__ = [
    "build_image_network",
    "GroupConvImageNetwork",
    "SO2ImageNetwork",
    "planar_steps",
    "is_planar_rotation_group",
]

# Ring radii (in pixels of the kernel grid) and the highest circular harmonic per ring.
_RINGS = ((0.0, 0), (1.0, 1), (2.0, 2), (3.0, 2))
_RING_SIGMA = 0.8
# Disks (margin to the grid border and softness, in pixels) of the input mask and of the
# spatial pooling weights; a small pooling disk keeps away from the border of the
# convolution output, where 45° rotations are least accurate.
_IN_MARGIN, _IN_SOFT = 0.5, 1.0
_POOL_MARGIN, _POOL_SOFT = 1.5, 0.5
# Oriented pooling (see _oriented_pooling_basis): rings at these fractions of the output
# grid's radius, each with circular harmonics up to the given order.
_POS_RINGS = ((0.0, 0), (0.5, 2), (1.0, 2))
_POS_SIGMA = 0.35  # ring width, as a fraction of the grid radius
_POS_MARGIN = 1.5
# leaky ReLU: units never die, so training cannot collapse all scores into a tie
_SLOPE = 0.1
# scores this close (relative) to the maximum tie; ties go to the lowest element index
_TIE_RTOL = 1e-5
#: channels per group element: ``max(2, hidden // CHANNEL_DIVISOR)`` (16 at the default
#: ``hidden=64``; chosen on validation data, ``benchmarks/choose_image_network.py``)
CHANNEL_DIVISOR = 4


# --------------------------------------------------------------------------------------------
# which groups the networks handle (by capabilities)
# --------------------------------------------------------------------------------------------
def planar_steps(group):
    """``(n, mirrors)`` for a finite group of the image plane whose element ``k < n`` turns
    by ``2πk/n`` and element ``k + n`` mirrors left-right first (C_n: mirrors False, D_n:
    True); None for any other group.

    The group convolution builds its filters in this element order, so the order is checked
    on the group's own matrices rather than assumed from its class.
    """
    if not (len(group.factors) == 1 and group.is_finite and group.d == 2 and group.acts_on(ImageLayout())):
        return None
    mirrors = not group.special
    order = int(group.order)
    if mirrors and order % 2:
        return None
    n = order // 2 if mirrors else order
    k = np.arange(order)
    expected = rotation_matrices_2d(2 * np.pi * (k % n) / n)
    expected = np.where((k >= n)[:, None, None], expected @ np.diag([-1.0, 1.0]), expected)
    if not np.allclose(group.matrices(group.elements()), expected, atol=1e-9):
        return None
    return n, mirrors


def is_planar_rotation_group(group):
    """True for SO(2) acting on images: continuous proper rotations of the image plane."""
    return (len(group.factors) == 1 and group.d == 2 and group.rotates and group.special
            and not (group.is_finite or group.translates or group.rescales)
            and group.acts_on(ImageLayout()))


# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------
def _disk(h, w, margin, softness=1.0):
    """Smooth disk mask on an ``(h, w)`` grid, symmetric under quarter turns and mirrors."""
    rows = np.arange(h) - (h - 1) / 2.0
    cols = np.arange(w) - (w - 1) / 2.0
    r = np.sqrt(rows[:, None] ** 2 + cols[None, :] ** 2)
    radius = min(h, w) / 2.0 - margin
    return 1.0 / (1.0 + np.exp(-(radius - r) / softness))


def _steerable_basis(kernel_size, angle):
    """Basis filters evaluated at ``R(-angle)·u`` on the kernel grid: ``(n_basis, k, k)``.

    Gaussian rings × circular harmonics (cos and sin of order m), tapered to a disk of radius
    ``kernel_size / 2``. Only angles below the group's exact turns are evaluated this way;
    the others are exact ``rot90`` copies (see :meth:`_LiftedImageNetwork.filters`).
    """
    k = kernel_size
    half = (k - 1) / 2.0
    cols, rows = np.meshgrid(np.arange(k) - half, half - np.arange(k))  # x right, y up
    c, s = math.cos(angle), math.sin(angle)
    xr = c * cols + s * rows
    yr = -s * cols + c * rows
    r = np.hypot(xr, yr)
    taper = 1.0 / (1.0 + np.exp((r - (k / 2.0 - 0.25)) / 0.25))
    z = np.where(r > 0, (xr + 1j * yr) / np.where(r > 0, r, 1.0), 0.0)
    sigma = _RING_SIGMA
    out = []
    for rho, m_max in _RINGS:
        if rho > half:
            continue
        radial = np.exp(-((r - rho) ** 2) / (2 * sigma ** 2)) * taper
        out.append(radial)
        for m in range(1, m_max + 1):
            zm = z ** m
            out.append(radial * zm.real)
            out.append(radial * zm.imag)
    return np.stack(out)


def _snap(v):
    """Round cos/sin of multiples of 90° to exact 0/±1, so quarter turns permute exactly."""
    r = round(v)
    return float(r) if abs(v - r) < 1e-12 else v


def _oriented_pooling_basis(h, w, angle, mirror):
    """Pooling weights on an ``(h, w)`` grid turned by a group element: ``(n_basis, h*w)``.

    Smooth polar functions (Gaussian rings × circular harmonics, inside a disk) evaluated at
    ``g⁻¹u`` with ``g`` = mirror left-right (when ``mirror``), then rotate by ``angle``.
    Pooling the response map of filter orientation ``g`` with the weights of the same ``g``
    keeps *where* a response occurs relative to that orientation (e.g. "strokes above the
    centre"), which global averages lose; the pooled features still shift by the regular
    representation. Each function has unit L1 norm.
    """
    rows = (h - 1) / 2.0 - np.arange(h)  # y up
    cols = np.arange(w) - (w - 1) / 2.0  # x right
    y, x = np.meshgrid(rows, cols, indexing="ij")
    c, s = _snap(math.cos(angle)), _snap(math.sin(angle))
    xr, yr = c * x + s * y, -s * x + c * y  # R(-angle)·u
    if mirror:
        xr = -xr
    r = np.hypot(xr, yr)
    radius = max(min(h, w) / 2.0 - _POS_MARGIN, 1.0)
    envelope = _disk(h, w, margin=_POS_MARGIN, softness=_IN_SOFT)
    z = np.where(r > 0, (xr + 1j * yr) / np.where(r > 0, r, 1.0), 0.0)
    out = []
    for frac, m_max in _POS_RINGS:
        radial = np.exp(-((r - frac * radius) ** 2) / (2 * (_POS_SIGMA * radius) ** 2)) * envelope
        out.append(radial)
        for m in range(1, m_max + 1):
            zm = z ** m
            out.append(radial * zm.real)
            out.append(radial * zm.imag)
    out = np.stack(out).reshape(len(out), h * w)
    return out / np.abs(out).sum(axis=1, keepdims=True)


def _n_pooling_basis():
    return sum(1 + 2 * m for _, m in _POS_RINGS)


def _seed(seed):
    """An explicit seed, or one drawn from torch's global generator (``torch.manual_seed``)."""
    if seed is None:
        return int(torch.randint(0, 2**31 - 1, (1,)).item())
    return int(seed)


def _cayley_index(group, order):
    """``idx[g, h] = index of g⁻¹h``: the gather table of a regular group convolution."""
    g = np.repeat(np.arange(order), order)
    h = np.tile(np.arange(order), order)
    return group.compose(group.inverse(g), h).reshape(order, order)


class _FibreConv(torch.nn.Module):
    """Group convolution on regular-representation fibres ``(n, c_in, |G|) → (n, c_out, |G|)``."""

    def __init__(self, index, c_in, c_out, generator):
        super().__init__()
        order = index.shape[0]
        scale = 1.0 / math.sqrt(c_in * order)
        self.weight = torch.nn.Parameter(
            (torch.rand(c_out, c_in, order, generator=generator) * 2 - 1) * scale)
        self.bias = torch.nn.Parameter(torch.zeros(c_out))
        self.register_buffer("index", torch.as_tensor(index, dtype=torch.long), persistent=False)

    def forward(self, f):
        c_out, c_in, order = self.weight.shape
        kernel = self.weight[:, :, self.index]  # (c_out, c_in, g, h) = w(g⁻¹h)
        kernel = kernel.permute(0, 2, 1, 3).reshape(c_out * order, c_in * order)
        out = f.reshape(f.shape[0], c_in * order) @ kernel.T.to(f.dtype)
        return out.reshape(f.shape[0], c_out, order) + self.bias.to(f.dtype)[None, :, None]


# --------------------------------------------------------------------------------------------
# networks
# --------------------------------------------------------------------------------------------
class _ImageNetworkBase(FrameNetwork):
    """What every image network shares: the group's rotation steps, the input check and the
    input step (steps 1–2 of the module notes: pool, normalise, mask)."""

    def __init__(self, group, layout, hidden, n_rot, dihedral):
        super().__init__(group, layout, hidden)
        self.n_rot = int(n_rot)
        self.dihedral = bool(dihedral)
        self.order = self.n_rot * (2 if dihedral else 1)
        shape = getattr(layout, "shape", None)
        self.in_channels = int(shape[0]) if shape is not None else 1
        self._mask_cache = {}

    # the masks are derived from the grid and filled lazily, also by other threads: copies and
    # pickles start without them (copying a cache another thread is filling raised
    # "dictionary changed size during iteration" when a float64 copy was made)
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_mask_cache"] = {}
        return state

    def _check(self, x):
        if not torch.is_tensor(x) or x.ndim != 4:
            raise ValueError(
                "x must be a float tensor of shape (n_samples, C, H, W) (the image layout's "
                f"working array); got {type(x).__name__} with shape {tuple(getattr(x, 'shape', ()))}.")
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"x has {x.shape[1]} channels, but this network was built for {self.in_channels} "
                f"(layout {self.layout!r}).")
        if min(x.shape[-2:]) < 2:
            # a one-pixel grid has no orientation: its pooling harmonics are all zero
            raise ValueError(f"learned image networks need images of at least 2×2 pixels; got "
                             f"{x.shape[-2]}×{x.shape[-1]}.")
        if x.shape[-1] != x.shape[-2]:
            # the pooling masks and the oriented poolings are built on a centred square grid
            raise ValueError(
                f"learned image networks need square images; got {x.shape[-2]}×{x.shape[-1]}. Pad "
                "the images to a square, or use method='moments' (or the end-to-end frame "
                "'identity'/'augment'), which take any size.")
        if not torch.is_floating_point(x):
            x = x.float()
        return x

    def _input_mask(self, hp, wp, device, dtype):
        """The smooth disk of the (pooled) input grid ``(hp, wp)``, cached."""
        key = ("input", hp, wp, str(device), dtype)
        mask = self._mask_cache.get(key)
        if mask is None:
            with torch.inference_mode(False):  # see _LiftedImageNetwork._masks
                mask = torch.as_tensor(_disk(hp, wp, margin=_IN_MARGIN, softness=_IN_SOFT), dtype=dtype,
                                       device=device)
            self._mask_cache[key] = mask
        return mask

    def normalised(self, x):
        """Steps 1–2: ``x`` ``(n, C, H, W)`` average-pooled by 2 (sides ≥ 12, blocks placed
        symmetrically about the centre), divided by its root-mean-square intensity (a blank
        image stays blank; faint images are first scaled up, bright ones down, by a power of
        two) and multiplied by the input disk: ``(n, C, h', w')``."""
        x = self._check(x)
        # faint images (largest |value| below 2**-10) first scaled up by a power of two (exact),
        # so that the 1e-6 below stays negligible and frames do not depend on intensity units
        # (a fit on X·2**-24 trains the same weights, and now gives the same frames); other
        # images pass unchanged
        peak = x.detach().abs().amax(dim=(1, 2, 3), keepdim=True)
        faint = (peak > 0) & (peak < 2.0 ** -10)
        bright = peak >= 2.0 ** 50
        # one host-device round trip for both tests (the training hot path counts them)
        any_faint, any_bright = torch.stack([faint.any(), bright.any()]).tolist()
        if any_faint:
            exponent = torch.where(faint, torch.frexp(peak)[1], torch.zeros_like(peak, dtype=torch.int32))
            # at most 2**100 at once (float32 would overflow for subnormal peaks); twice covers them
            for step in (torch.clamp(-exponent, max=100), torch.clamp(-exponent - 100, min=0)):
                x = torch.ldexp(x, step.to(x.dtype))
        # bright images (largest |value| at or above 2**50) scaled down by a power of two (exact) to
        # a peak in [0.5, 1): the squares below overflowed (float64 above ~1e154, float32 above
        # ~1e19) and the image read as blank; ordinary images pass unchanged
        if any_bright:
            remaining = torch.where(bright, torch.frexp(peak)[1], torch.zeros_like(peak, dtype=torch.int32))
            # steps of at most 2**-100, so each factor stays a normal number (float32: 2**-128 is not)
            while bool((remaining > 0).any()):
                step = torch.clamp(remaining, max=100)
                x = torch.ldexp(x, (-step).to(x.dtype))
                remaining = remaining - step
        h, w = x.shape[-2:]
        if min(h, w) >= 12:
            kh, kw = (2 if h % 2 == 0 else 3), (2 if w % 2 == 0 else 3)
            x = F.avg_pool2d(x, (kh, kw), stride=2)
        mask = self._input_mask(x.shape[-2], x.shape[-1], x.device, x.dtype)
        rms = safe_sqrt(x.square().mean(dim=(1, 2, 3), keepdim=True))
        return x * mask / (rms + 1e-6)


class _LiftedImageNetwork(_ImageNetworkBase):
    """Shared trunk of the equivariant networks: steerable lifting convolution of the
    normalised input, spatial pooling per group element."""

    def __init__(self, group, layout, hidden, kernel_size, n_rot, dihedral, seed):
        super().__init__(group, layout, hidden, n_rot, dihedral)
        self.kernel_size = int(kernel_size)
        self.channels = max(2, self.hidden // CHANNEL_DIVISOR)
        # per channel: mean, RMS and the oriented poolings
        self.n_features = self.channels * (2 + _n_pooling_basis())
        generator = torch.Generator().manual_seed(_seed(seed))
        # exact turns in the group: 4 (quarter turns), 2 (half turns) or 1; filters for the
        # first n/exact angles are evaluated analytically, the rest are rot90 copies
        self._exact_turns = math.gcd(self.n_rot, 4)
        self._n_analytic = self.n_rot // self._exact_turns
        basis = np.stack([
            _steerable_basis(self.kernel_size, 2 * np.pi * j / self.n_rot) for j in range(self._n_analytic)
        ])  # (n_analytic, n_basis, k, k)
        basis /= np.sqrt((basis[0] ** 2).sum(axis=(-2, -1), keepdims=True))
        self.register_buffer("basis", torch.as_tensor(basis, dtype=torch.float32), persistent=False)
        n_basis = basis.shape[1]
        self.coef = torch.nn.Parameter(
            torch.randn(self.channels, self.in_channels, n_basis, generator=generator)
            * math.sqrt(2.0 / (self.in_channels * n_basis)))
        self.bias = torch.nn.Parameter(torch.full((self.channels,), -0.1))

    # -- filters ------------------------------------------------------------------------------
    def filters(self):
        """Filters for all group elements: ``(order, channels, C, k, k)`` (element-major)."""
        base = torch.einsum("ocb,jbxy->jocxy", self.coef, self.basis)  # analytic rotations
        step, quarter = self._n_analytic, 4 // self._exact_turns
        rots = torch.stack([
            torch.rot90(base[j % step], quarter * (j // step), dims=(-2, -1)) for j in range(self.n_rot)
        ])
        if not self.dihedral:
            return rots
        # element k + n: mirror first, then rotate by k steps: r^k s W = s r^{-k} W
        flips = torch.flip(rots[(-torch.arange(self.n_rot)) % self.n_rot], dims=(-1,))
        return torch.cat([rots, flips], 0)

    # -- trunk --------------------------------------------------------------------------------
    def _masks(self, h, w, device, dtype):
        key = (h, w, str(device), dtype)
        cached = self._mask_cache.get(key)
        if cached is not None:
            return cached
        # built outside inference mode even when first asked for under it (transform), so the
        # same network can be trained afterwards: inference tensors cannot be saved for backward
        with torch.inference_mode(False):
            hp, wp = _pooled_size(h), _pooled_size(w)
            # "same" convolution: the response map keeps the (pooled) image's resolution, which the
            # oriented pooling needs; the zero padding matches the masked-out border, and the
            # symmetric padding keeps the grid centred, so equivariance is kept
            pad = self.kernel_size // 2
            ho, wo = hp + 2 * pad - self.kernel_size + 1, wp + 2 * pad - self.kernel_size + 1
            inp = self._input_mask(hp, wp, device, dtype)
            pool = _disk(ho, wo, margin=_POOL_MARGIN, softness=_POOL_SOFT)
            pool = torch.as_tensor(pool, dtype=dtype, device=device)
            oriented = np.stack([
                _oriented_pooling_basis(ho, wo, 2 * np.pi * (e % self.n_rot) / self.n_rot, e >= self.n_rot)
                for e in range(self.order)])  # (order, n_basis, ho*wo)
            oriented = torch.as_tensor(oriented, dtype=dtype, device=device)
            self._mask_cache[key] = (inp, pool / pool.sum(), pad, oriented)
        return self._mask_cache[key]

    def lifted_maps(self, x):
        """Steps 1–3: the pooled, normalised, masked input ``(n, C, h', w')`` and the lifted
        response maps ``(n, order, channels, h'·w')`` (one map per group element and channel,
        on the same grid)."""
        x = self.normalised(x)  # checks the input
        n, c = x.shape[:2]
        W = self.filters().to(x.dtype)
        W = W.reshape(self.order * self.channels, c, self.kernel_size, self.kernel_size)
        bias = self.bias.to(x.dtype).repeat(self.order)
        # "same" padding, as the masks of _masks assume
        f = F.leaky_relu_(F.conv2d(x, W, bias, padding=self.kernel_size // 2), _SLOPE)
        return x, f.reshape(n, self.order, self.channels, f.shape[-2] * f.shape[-1])

    def features(self, x):
        """Pooled lifted features ``(n, n_features, order)``: mean, RMS and oriented poolings."""
        x = self._check(x)
        h, w = x.shape[-2:]  # the masks are keyed by the input's size
        x, f = self.lifted_maps(x)
        n, hw = f.shape[0], f.shape[-1]
        _, mask_pool, _, oriented = self._masks(h, w, x.device, x.dtype)
        weights = mask_pool.reshape(hw, 1)
        mean = (f @ weights)[..., 0].transpose(1, 2)
        energy = (f.square() @ weights)[..., 0].transpose(1, 2)
        # each orientation's map pooled with the weights turned by the same element
        placed = torch.einsum("ngcp,gbp->ncbg", f, oriented).reshape(n, -1, self.order)
        return torch.cat([mean, (energy + 1e-12).sqrt(), placed], dim=1)


def _tolerant_argmax(s, rtol=_TIE_RTOL, copies=None):
    """Index of the row maximum, scores within ``rtol·max|s|`` of it counting as tied.

    Ties go to the lowest index, or with ``copies`` (a callable: row indices → their
    :func:`turned_back_copies`, ``(|G|, r, C, H, W)``) to the tied element whose canonical
    form is smallest in tolerant lexicographic order (lowest index among equal forms). The
    forms of every pose of an image are the same set, so that choice is invariant: lowest
    index was not for images whose scores only nearly tie (a turned copy's scores are the
    same values shifted, and the first of the near-tied ones moved with them)."""
    top = s.max(dim=1, keepdim=True).values
    tol = rtol * s.abs().max(dim=1, keepdim=True).values
    tied = s >= top - tol
    h = torch.argmax(tied.to(torch.uint8), dim=1)
    rows = torch.nonzero(tied.sum(dim=1) > 1).flatten()
    if copies is None or rows.numel() == 0:
        return h
    forms = copies(rows)
    for j, i in enumerate(rows.tolist()):
        best = None
        for e in torch.nonzero(tied[i]).flatten().tolist():
            if best is None or _lexicographically_less(forms[e, j], forms[best, j]):
                best = e
        h[i] = best
    return h


def element_frames(group, s, x):
    """Frames ``(n,)`` from per-element scores ``s`` of the images ``x``: the tolerant argmax,
    ties settled by the turned-back copies of the tied rows only (:func:`_tolerant_argmax`)."""
    return _tolerant_argmax(s, copies=lambda rows: turned_back_copies(group, x[rows], s.shape[1]))


def _lexicographically_less(a, b):
    """``a < b`` at their first entry differing by more than rounding (``1e-6`` of their
    largest magnitude: bilinear turns of one image differ in the last bits)."""
    d = (a - b).flatten()
    tol = 1e-6 * torch.maximum(a.abs().max(), b.abs().max())
    differs = torch.nonzero(d.abs() > tol).flatten()
    return bool(differs.numel()) and bool(d[differs[0]] < 0)


def inverse_act(group, h, x):
    """Hard canonical images ``group.act(inverse(h), x)`` with skcanon's image action (numpy,
    so exactly the canonicalizer's), back on ``x``'s device and dtype."""
    h = h.cpu().numpy() if torch.is_tensor(h) else np.asarray(h)
    xc = group.act(group.inverse(h), x.detach().cpu().numpy(), ImageLayout())
    return torch.as_tensor(xc, dtype=x.dtype, device=x.device)


def element_prior_loss(s, elements=None):
    """Cross-entropy of per-element scores ``s`` ``(n, |G|)`` towards ``elements`` (ints
    ``(n,)``; default: the identity, element 0): the identity prior of C_n/D_n frames."""
    if elements is None:
        elements = torch.zeros(s.shape[0], dtype=torch.long, device=s.device)
    return F.cross_entropy(s, torch.as_tensor(elements, dtype=torch.long, device=s.device))


def turned_back_copies(group, x, order):
    """Every image turned back by every element, ``(|G|, n, C, H, W)``: copy ``k`` is
    ``group.act(inverse(k), x)`` (the candidate canonical form for frame ``k``)."""
    n = x.shape[0]
    inv = group.inverse(np.arange(order))
    return torch.stack([act_on_images(group, np.full(n, inv[e]), x) for e in range(order)])


def straight_through_canonical(group, s, x, temperature=1.0, copies=None):
    """Straight-through canonical images from scores ``s`` ``(n, |G|)`` over a finite group:
    the hard value of the (tolerant) argmax element, the gradient of the softmax-weighted
    mixture of every inversely moved copy (``copies``: :func:`turned_back_copies` of ``x``,
    when the caller has them already)."""
    p = torch.softmax(s / temperature, dim=1)
    n, order = x.shape[0], s.shape[1]
    if copies is None:
        copies = turned_back_copies(group, x, order)
    soft = torch.einsum("ng,gnchw->nchw", p, copies)
    h = _tolerant_argmax(s.detach(), copies=lambda rows: copies[:, rows].detach())
    hard = copies[h, torch.arange(n, device=x.device)]
    return hard + soft - soft.detach()


def _or_unit_x(v, keep):
    """``v`` where ``keep``, else ``(1, 0)``: a safe atan2 argument (its gradient at 0 is NaN)."""
    unit = torch.zeros_like(v)
    unit[:, 0] = 1.0
    return torch.where(keep[:, None], v, unit)


def _pooled_size(s):
    if s < 12:
        return s
    return s // 2 if s % 2 == 0 else (s - 3) // 2 + 1


class _ElementReadout:
    """Frames, canonical forms and prior of C_n/D_n networks from their per-element scores
    (``self.scores(x)`` ``(n, |G|)``, shifting by the regular representation)."""

    def frames(self, x):
        """Argmax element per sample, ``(n,)`` int64 tensor.

        Scores within ``1e-5`` (relative to the largest magnitude) of the maximum count as
        tied, and ties go to the element whose canonical form is smallest (lowest index
        among equal forms): float rounding cannot make the choice for a blank or exactly
        symmetric image arbitrary (a blank image gets element 0), and an image whose scores
        only nearly tie gets the same canonical form in every pose.
        """
        with torch.no_grad():
            return element_frames(self.group, self.scores(x), x)

    def canonicalize(self, x):
        """Hard canonical form ``(group.act(inverse(h), x), h)`` with skcanon's image action."""
        h = self.frames(x)
        return inverse_act(self.group, h, x), h

    def soft_canonicalize(self, x):
        """Straight-through canonical form: hard value, softmax-weighted gradient."""
        return straight_through_canonical(self.group, self.scores(x), x, self.temperature)

    def prior_loss(self, x, elements=None):
        """Cross-entropy of the scores towards ``elements`` (default: the identity, element 0).

        With ``x, elements = self.moves(x)`` this is the identity prior on the moved images:
        the frame of ``g·x`` should be ``g`` (see :meth:`moves`).
        """
        return element_prior_loss(self.scores(x), elements)

    def moves(self, x, random=True):
        """``(g·x, g)``: each image moved by a group element (ints ``(n,)``).

        The identity prior only says "pick the identity on these (upright) images"; a
        network can meet it by recognising the pixel grid rather than the pose, and then
        fail on the interpolated rotations (45° in C8) it never saw. Asking for ``h(g·x) = g``
        on moved copies is the same prior under equivariance and closes that gap.
        ``random=False`` cycles through the elements by sample index (a deterministic
        validation set); ``random=True`` draws them from torch's generator.
        """
        n = x.shape[0]
        if random:
            g = torch.randint(0, self.order, (n,)).numpy()
        else:
            g = np.arange(n) % self.order
        return act_on_images(self.group, g, x), torch.as_tensor(g, device=x.device)


def _check_orientations(n_orientations):
    if not isinstance(n_orientations, (int, np.integer)) or isinstance(n_orientations, bool) \
            or n_orientations < 5:
        raise ValueError(f"n_orientations must be an int >= 5 (the axis is read from the second "
                         f"harmonic of the orientation scores); got {n_orientations!r}.")


class _AngleReadout:
    """The SO(2) angle readout from per-orientation scores (``self.orientation_scores(x)``
    ``(n, n_rot)``, at the angles ``2πk/n_rot``): an axis from their second circular harmonic,
    its direction from the first (see the module notes)."""

    def _register_phasor(self):
        theta = 2 * np.pi * np.arange(self.n_rot) / self.n_rot
        # first and second circular harmonics over the sampled orientations, snapped so that
        # quarter turns permute them exactly
        phasor = np.stack([np.cos(theta), np.sin(theta), np.cos(2 * theta), np.sin(2 * theta)], 1)
        phasor = np.where(np.abs(phasor - np.round(phasor)) < 1e-12, np.round(phasor), phasor)
        self.register_buffer("phasor", torch.as_tensor(phasor, dtype=torch.float32), persistent=False)

    def __setstate__(self, state):
        phasor = state.get("_buffers", {}).get("phasor")
        if phasor is not None and phasor.shape[1] != 4:
            raise ValueError(
                "This SO(2) image canonicalization network was saved by an earlier skcanon, which read "
                "its angle from the first harmonic only; the current one also reads an axis from the "
                "second. Fit the canonicalizer again.")
        super().__setstate__(state)

    def harmonics(self, x):
        """First and second circular harmonics of the orientation scores, ``(n, 2)`` each.

        Under a rotation of the image by ``θ`` the first turns by ``θ`` (a direction), the
        second by ``2θ`` (an axis); also returns the scores' L1 norm ``(n,)`` as a scale.
        """
        s = self.orientation_scores(x)
        h = s @ self.phasor.to(s.dtype)
        return h[:, :2], h[:, 2:], s.abs().sum(dim=1)

    def _axis_and_sign(self, x):
        """The axis angle ``φ ∈ (-π/2, π/2]`` and the signed projection choosing ``φ`` or ``φ + π``.

        The axis comes from the second harmonic (like a principal axis, it is well defined for
        elongated shapes whose direction is ambiguous); the first harmonic picks one of its
        two directions (like a skewness sign). When the second harmonic vanishes
        (rotationally symmetric at order 2) the first one gives the angle alone.
        """
        v1, v2, scale = self.harmonics(x)
        tiny = 1e-6 * scale
        has_axis = torch.linalg.vector_norm(v2, dim=1) > tiny
        v2 = _or_unit_x(v2, has_axis)
        phi = 0.5 * torch.atan2(v2[:, 1], v2[:, 0])
        has_dir = torch.linalg.vector_norm(v1, dim=1) > tiny
        v1 = _or_unit_x(v1, has_dir)
        direction = torch.atan2(v1[:, 1], v1[:, 0])
        phi = torch.where(has_axis, phi, torch.where(has_dir, direction, torch.zeros_like(phi)))
        proj = v1[:, 0] * torch.cos(phi) + v1[:, 1] * torch.sin(phi)
        proj = torch.where(has_dir, proj, torch.zeros_like(proj))
        return phi, proj

    def angles(self, x):
        """Frame angle in radians per sample, ``(n,)``: the axis, turned by π where the first
        harmonic points the other way; 0 when both harmonics vanish."""
        phi, proj = self._axis_and_sign(x)
        return torch.where(proj < 0, phi + math.pi, phi)

    def frames(self, x):
        """Rotation matrices ``(n, 2, 2)`` float64."""
        with torch.no_grad():
            ang = self.angles(x).double().cpu().numpy()
        return torch.as_tensor(rotation_matrices_2d(ang))

    def canonicalize(self, x):
        """Hard canonical form: ``group.act(R⁻¹, x)`` (bilinear for non-quarter angles)."""
        R = self.frames(x)
        return inverse_act(self.group, R, x), R.to(x.device)

    def soft_canonicalize(self, x):
        """Differentiable canonical form: rotate by ``-φ`` with torch bilinear sampling, then
        a straight-through choice between that image and its half turn (hard value, gradient
        of the mixture weighted by ``sigmoid(projection)``), so a task loss also trains the
        first harmonic that picks the direction."""
        phi, proj = self._axis_and_sign(x)
        a = bilinear_rotate_images(x, -phi)
        b = a.flip(-2, -1)  # rotated by π more, exactly
        p = torch.sigmoid(proj)[:, None, None, None]
        soft = p * a + (1 - p) * b
        hard = torch.where(proj[:, None, None, None] < 0, b, a)
        return hard + soft - soft.detach()

    def prior_loss(self, x, elements=None):
        """``mean(1 - cos(θ₁ - t)) + mean(1 - cos(θ₂ - 2t))``: ``θ₁``, ``θ₂`` the phases of the
        first and second harmonics, ``t`` the angle of ``elements`` (radians ``(n,)`` as
        returned by :meth:`moves`; default 0). Small when the predicted frame is the identity
        (or the given rotation).
        """
        v1, v2, _ = self.harmonics(x)
        if elements is None:
            t = torch.zeros_like(v1[:, 0])
        else:
            t = torch.as_tensor(elements, dtype=v1.dtype, device=v1.device)
        loss = 0.0
        for v, k in ((v1, 1.0), (v2, 2.0)):
            cos = (v[:, 0] * torch.cos(k * t) + v[:, 1] * torch.sin(k * t)) / (
                torch.linalg.vector_norm(v, dim=1) + 1e-8)
            loss = loss + (1.0 - cos).mean()
        return loss

    def moves(self, x, random=True):
        """``(g·x, angles)``: each image rotated by an angle (radians ``(n,)``).

        See :meth:`GroupConvImageNetwork.moves`; angles are uniform on the circle
        (``random=False``: evenly spaced by sample index, modulo 16 steps).
        """
        n = x.shape[0]
        if random:
            ang = 2 * np.pi * torch.rand(n, dtype=torch.float64).numpy()
        else:
            ang = 2 * np.pi * (np.arange(n) % 16) / 16
        return rotate_images(x, ang), torch.as_tensor(ang, dtype=x.dtype, device=x.device)


class GroupConvImageNetwork(_ElementReadout, _LiftedImageNetwork):
    """C_n / D_n canonicalization network for images (one score per group element).

    Parameters
    ----------
    group : CyclicGroup or DihedralGroup
    layout : ImageLayout
        Its ``shape`` fixes the number of channels (``None``: one channel).
    hidden : int, default=64
        Width: ``max(2, hidden // 4)`` channels per group element (16 for the default), so
        the lifted representation has ``|G|·hidden/4`` maps.
    kernel_size : int, default=7
        Side of the (disk-shaped) lifting filters, applied after downsampling by 2.
    temperature : float, default=1.0
        Softmax temperature of :meth:`soft_canonicalize`.
    seed : int or None, default=None
        Seed of the weight initialisation; ``None`` draws it from torch's global generator
        (so ``torch.manual_seed`` makes construction reproducible).

    Examples
    --------
    >>> import torch
    >>> from skcanon.groups import CyclicGroup
    >>> from skcanon.layouts import ImageLayout
    >>> from skcanon.nn._images import build_image_network
    >>> net = build_image_network(CyclicGroup(4), ImageLayout((28, 28)), hidden=32)
    >>> x = torch.rand(5, 1, 28, 28)
    >>> x_canon, frames = net.canonicalize(x)
    >>> x_canon.shape, frames.shape
    (torch.Size([5, 1, 28, 28]), torch.Size([5]))
    """

    def __init__(self, group, layout, hidden=64, kernel_size=7, temperature=1.0, seed=None):
        steps = planar_steps(group)
        if steps is None:
            raise TypeError(f"GroupConvImageNetwork handles finite rotation/mirror groups of images "
                            f"(C_n, D_n); got {group.name!r}.")
        seed = _seed(seed)
        super().__init__(group, layout, hidden, kernel_size, steps[0], steps[1], seed)
        self.temperature = float(temperature)
        index = _cayley_index(group, self.order)
        generator = torch.Generator().manual_seed(_seed(seed) + 1)
        self.mix = _FibreConv(index, self.n_features, self.channels, generator)
        self.head = _FibreConv(index, self.channels, 1, generator)

    def scores(self, x):
        """One score per group element, ``(n, |G|)``; ``scores(g·x)[k] = scores(x)[g⁻¹k]``."""
        f = self.features(x)
        return self.head(F.leaky_relu(self.mix(f), _SLOPE))[:, 0]

class SO2ImageNetwork(_AngleReadout, _LiftedImageNetwork):
    """SO(2) canonicalization network for images: a continuous angle per sample.

    The lifted features at ``n_orientations`` filter angles are combined over channels into
    one score per orientation; the second Fourier coefficient of the scores gives an axis
    and the first one its direction (see the module notes). Frames are ``(n, 2, 2)``
    rotation matrices (skcanon's SO(2) element format).

    Parameters
    ----------
    group : OrthogonalGroup
        ``OrthogonalGroup(2, special=True)``.
    layout : ImageLayout
    hidden : int, default=64
        Width: ``max(2, hidden // 4)`` channels per orientation (16 for the default).
    kernel_size : int, default=7
    n_orientations : int, default=8
        Number of sampled filter orientations, at least 5 (the second harmonic needs them);
        a multiple of 4 keeps quarter turns exact.
    seed : int or None, default=None
        As for :class:`GroupConvImageNetwork`.
    """

    def __init__(self, group, layout, hidden=64, kernel_size=7, n_orientations=8, seed=None):
        _check_orientations(n_orientations)
        seed = _seed(seed)
        super().__init__(group, layout, hidden, kernel_size, n_orientations, False, seed)
        generator = torch.Generator().manual_seed(seed + 1)
        # a group convolution over the sampled orientations (exactly equivariant for their
        # steps, approximately in between) gives the readout a nonlinear view of the features
        index = _cayley_index(CyclicGroup(self.n_rot), self.n_rot)
        self.mix = _FibreConv(index, self.n_features, self.channels, generator)
        width = self.n_features + self.channels
        self.readout = torch.nn.Parameter(torch.randn(width, generator=generator) / math.sqrt(width))
        self._register_phasor()

    def orientation_scores(self, x):
        """One score per sampled orientation ``(n, n_orientations)``; shifts with rotations."""
        f = self.features(x)
        f = torch.cat([f, F.leaky_relu(self.mix(f), _SLOPE)], dim=1)
        return torch.einsum("ncg,c->ng", f, self.readout.to(f.dtype))

def build_image_network(group, layout, hidden=64, **kwargs):
    """Canonicalization network for ``group`` acting on images in ``layout``.

    Parameters
    ----------
    group : str or Group
        ``CyclicGroup`` (``"C4"``, ``"C8"``, ...), ``DihedralGroup`` (``"D4"``) or
        ``OrthogonalGroup(2, special=True)`` (``"SO2"``).
    layout : ImageLayout
        Image layout; ``layout.shape`` fixes the number of input channels (``None``: 1).
    hidden : int, default=64
        Network width: ``max(2, hidden // 4)`` channels per group element.
    **kwargs
        ``kernel_size``, ``seed`` and (C_n/D_n) ``temperature`` or (SO(2))
        ``n_orientations``.

    Returns
    -------
    FrameNetwork
        :class:`GroupConvImageNetwork` or :class:`SO2ImageNetwork`. (The orbit-scored
        networks are built by :func:`skcanon.nn._orbit_images.build_orbit_image_network`.)
    """
    group = checked_image_network_args("build_image_network", group, layout, hidden)
    if planar_steps(group) is not None:
        return GroupConvImageNetwork(group, layout, hidden, **kwargs)
    return SO2ImageNetwork(group, layout, hidden, **kwargs)


def checked_image_network_args(builder, group, layout, hidden):
    """The group (resolved by :func:`~skcanon.groups.get_group`) once ``layout``, ``hidden``
    and the group are fit for an image network; clear errors otherwise."""
    group = get_group(group)
    if getattr(layout, "kind", None) != "image":
        raise TypeError(f"{builder} needs an ImageLayout; got layout={layout!r}.")
    if not isinstance(hidden, (int, np.integer)) or isinstance(hidden, bool) or hidden < 1:
        raise ValueError(f"hidden must be a positive int, got {hidden!r}.")
    if planar_steps(group) is None and not is_planar_rotation_group(group):
        raise ValueError(
            f"No learned image network for group {group.name!r}; supported: C_n ('C4', 'C8'), "
            "D_n ('D4') and 'SO2'.")
    return group
