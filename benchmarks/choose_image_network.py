"""Choose the image canonicalization network and its training on a validation split.

Compares variants of the learned image canonicalizer (:mod:`skcanon.nn._images`) on rotated
Fashion-MNIST images that the results page never uses (the official *test* subset; the page
draws its images from the training subset), with the loader and classifier of
``benchmarks/choose_image_batch.py``. Every variant changes one thing against the shipped
``16 channels``:

* ``8 channels``: ``max(2, hidden // 8)`` channels per group element (8 at the default
  ``hidden=64``) — the network before the width comparison; ``16 channels``: ``hidden // 4``
  (16 at the default; shipped). Only ``skcanon.nn._images.CHANNEL_DIVISOR`` changes;
  ``hidden`` stays 64, so the supervised objective's task head is the same in both.
* ``align objective``: rotated training with ``objective="align"`` (canonical images pulled
  towards a learned template, no labels) instead of ``"supervised"``.
* ``supervised+prior``: upright training with the task head *and* the identity prior
  (``objective="supervised+prior"``) instead of the prior alone.
* ``2x steps`` (upright, prior): twice the automatic number of epochs (``max_epochs``; same
  batch rule, schedule and early stopping).
* ``orientation mixture`` (SO(2), supervised): the straight-through canonical image takes
  its gradient from the softmax-weighted mixture of the image turned back by each sampled
  orientation (as the C_n networks do) instead of from the bilinear turn by the read angle.
* ``softmax readout`` (SO(2), prior): the harmonics are read from ``softmax(scores)``
  instead of the raw scores, and the prior is a cross-entropy towards a von Mises profile
  (concentration 2) around the target angle instead of the cosine loss on the harmonics.
* ``16 orientations`` (SO(2), prior): 16 sampled filter orientations instead of 8.
* ``rotation-averaged readout`` (SO(2)): the shipped network and training, but at
  ``transform`` the harmonics are averaged over the image turned by 0°, 30° and 60° (each
  turned back), to smooth the interpolation error between sampled orientations.
* ``class scatter`` (rotated, supervised): the loss is the within-class scatter of the
  canonical images in each mini-batch instead of the task head's cross-entropy, asking
  directly for the pose consistency the frame diagnosis found missing; ``class scatter +
  head`` adds the head's cross-entropy (weight 1).
* ``knn selection`` (rotated, supervised): ``validation_score="knn"`` — early stopping keeps
  the epoch whose canonical validation images a nearest-neighbour model scores best, the
  initial (random) network included, instead of the head's validation loss.
* ``moments``: the moments heuristic (no network), the anchor of the next two.
* ``anchored``: ``method="anchored"`` (the moments frame plus the network's normalised
  scores times a gain that starts at 0) with the same objective and defaults.
* ``anchored wider reach``: ``anchored`` with a learned term that one unit of gain can set
  against the anchor: C_n/D_n scores centred before they are divided by their mean
  magnitude (the shipped term spreads over about 0.25 at initialisation, so the gain must
  pass about 4 before a frame changes), SO(2) the first harmonic divided by its own length
  plus 5 % of the scores' L1 norm (the shipped term, divided by the L1 norm alone, is about
  0.18 long).
* ``anchored fast gain``: ``anchored`` with the learned term weighted by 10 × ``gain``
  (``AnchoredImageFrame.GAIN_RATE``): Adam moves ``gain`` by about the learning rate per
  step, so with the shipped rate a default budget ends near a weight of 0.5 in every prior
  fit, where an SO(2) angle is still a blend of the heuristic's and the network's.
* ``anchored axis`` (SO(2)): the anchored angle read as the pure network reads its own: an
  axis from the heuristic's doubled angle plus the weighted second harmonic, its direction
  from the heuristic's direction plus the weighted first harmonic (the shipped anchored
  frame adds the first harmonic only); the prior on both phases, the supervised gradient
  through the axis and a straight-through choice of the direction.
* ``moment axis`` (SO(2), pure ``learned``): the axis is read from the image's *learned
  weighted* second moments instead of the second harmonic of the orientation scores — the
  intensity of each pixel of the network's pooled input times ``1 + tanh(m(p))``, with
  ``m(p)`` a learned channel combination of the lifted response maps averaged over the
  sampled orientations (a per-pixel invariant); the first harmonic still picks the
  direction along it. The point networks' moment axes (``PointFrameNetwork(axes="moments")``)
  won over the network's own vectors the same way: uniform weights give the ``moments``
  heuristic's axis, so the learned frame inherits its stability.
* ``orbit CNN`` (C_n/D_n and SO(2), pure ``learned``): the scores come from a plain,
  not equivariant, small CNN (three 3×3 convolutions of 16, 32, 32 channels, the last two
  with stride 2, then a hidden layer of 64) applied to the image turned back by every group
  element (C_n/D_n) or sampled orientation (SO(2)), after the shipped network's pooling,
  disk mask and RMS normalisation: ``s_k(x) = f(k⁻¹·x)``, so ``s(g·x)`` is ``s(x)`` permuted
  (exactly for quarter turns, up to resampling in between). This is canonicalization as a
  search over the orbit with an unconstrained energy (Kaba et al.'s optimisation-based
  canonicalizer, exhaustive over a finite group): a deeper view of the image than the
  shipped single lifting layer, for the price of one CNN pass per element. The readouts
  (argmax, circular harmonics) and objectives are the shipped ones.
* ``orbit wide`` (upright, prior): the shipped orbit-scored network twice as wide
  (``hidden=128``: convolutions of 32, 64, 64 channels, a hidden layer of 128). A
  diagnosis (seed 0, C8) found the shipped one under-fitted: it undid the applied element
  for 97.8 % of rotated *training* images and 96.3 % of validation images, and oracle
  frames (the applied rotation undone) score as upright images do (0.840 against 0.841),
  so nearly all of the distance to upright accuracy is in the frames the detector misses.
  ``2x steps`` asks the same question of the budget.
* ``orbit align`` and ``orbit supervised`` (rotated training, pure ``learned``): the
  library's orbit-scored network (:mod:`skcanon.nn._orbit_images`, shipped for the prior)
  with ``objective="align"`` (canonical images pulled towards a learned template, no
  labels) or with the shipped ``"supervised"`` objective, instead of the equivariant network.

Every variant trains the learned canonicalizer of the settings of ``benchmarks/experiments/
images.py`` with the library's defaults (only the objective set: ``supervised`` on rotated
training images, ``prior`` on upright ones) except for its own change, then the page's
classifier on the canonical images; the score is the accuracy on 1,000 rotated validation
images. Variants that do not apply to a group or setting are skipped there. The same seeds
draw the images, rotations and initial weights for every variant, so differences are paired.

Run::

    python benchmarks/choose_image_network.py --groups C8,SO2 --seeds 0,1,2
    python benchmarks/choose_image_network.py --variants "16 channels,align objective" --settings rotated

It prints one JSON line per fit and a summary (means ± sd, paired differences against the
first variant given). The outcomes and their numbers are in ``docs/learned.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
import typing

import numpy as np


class Variant(typing.NamedTuple):
    """One change against the shipped image canonicalizer (see the module docstring)."""

    divisor: int = 4                  #: channels per element: ``max(2, hidden // divisor)``
    objectives: tuple = ()            #: ``(setting, objective)`` pairs replacing the default
    epochs_factor: int = 1            #: times the automatic number of epochs
    patch: object = None              #: context manager around fit and transform
    options: tuple = ()               #: ``(name, value)`` learning options set on the transformer
    readout: object = None            #: context manager around transform only
    groups: tuple = ("C8", "SO2")
    settings: tuple = ("rotated", "upright")
    method: str = "learned"           #: the transformer's method (``"anchored"``, ``"moments"``)


@contextlib.contextmanager
def _patched(owner, **attributes):
    saved = {name: getattr(owner, name) for name in attributes}
    for name, value in attributes.items():
        setattr(owner, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(owner, name, value)


def _orientation_mixture():
    """SO(2) straight-through canonical image with the C_n networks' softmax-mixture gradient."""
    import torch

    from skcanon.groups import rotate_images
    from skcanon.nn._images import SO2ImageNetwork

    def soft_canonicalize(self, x):
        s = self.orientation_scores(x)
        p = torch.softmax(s, dim=1)
        n = x.shape[0]
        turned = torch.stack([rotate_images(x, torch.full((n,), -2 * math.pi * k / self.n_rot, dtype=x.dtype))
                              for k in range(self.n_rot)], 1)
        soft = torch.einsum("nk,nkchw->nchw", p, turned)
        with torch.no_grad():
            hard = rotate_images(x, -self.angles(x).to(x.dtype))
        return hard + soft - soft.detach()

    return _patched(SO2ImageNetwork, soft_canonicalize=soft_canonicalize)


def _softmax_readout(concentration=2.0):
    """SO(2) harmonics of ``softmax(scores)``; prior: cross-entropy towards a von Mises profile."""
    import torch
    import torch.nn.functional as F

    from skcanon.nn._images import SO2ImageNetwork

    def harmonics(self, x):
        s = self.orientation_scores(x)
        h = torch.softmax(s, dim=1) @ self.phasor.to(s.dtype)
        return h[:, :2], h[:, 2:], torch.ones_like(s[:, 0])  # the probabilities sum to one

    def prior_loss(self, x, elements=None):
        s = self.orientation_scores(x)
        t = torch.zeros_like(s[:, 0]) if elements is None else torch.as_tensor(elements, dtype=s.dtype)
        theta = torch.arange(self.n_rot, dtype=s.dtype) * (2 * math.pi / self.n_rot)
        target = torch.softmax(concentration * torch.cos(theta[None] - t[:, None]), dim=1)
        return -(target * F.log_softmax(s, dim=1)).sum(1).mean()

    return _patched(SO2ImageNetwork, harmonics=harmonics, prior_loss=prior_loss)


def _orientations(n):
    """SO(2) image networks built with ``n`` sampled orientations."""
    from skcanon.nn import _images

    build = _images.build_image_network

    def build_image_network(group, layout, hidden=64, **kwargs):
        if _images.is_planar_rotation_group(group if not isinstance(group, str) else _images.get_group(group)):
            kwargs.setdefault("n_orientations", n)
        return build(group, layout, hidden, **kwargs)

    return _patched(_images, build_image_network=build_image_network)


def _rotation_averaged_readout(n_turns=3):
    """SO(2) harmonics averaged over the image turned by ``k·90°/n_turns`` (each turned back)."""
    import torch

    from skcanon.groups import rotate_images
    from skcanon.nn._images import SO2ImageNetwork

    plain = SO2ImageNetwork.harmonics

    def harmonics(self, x):
        v1s = v2s = scale = 0
        for k in range(n_turns):
            a = (math.pi / 2) * k / n_turns
            xk = x if k == 0 else rotate_images(x, torch.full((x.shape[0],), a, dtype=x.dtype))
            v1, v2, sk = plain(self, xk)
            c1, s1, c2, s2 = math.cos(a), math.sin(a), math.cos(2 * a), math.sin(2 * a)
            v1s = v1s + torch.stack([c1 * v1[:, 0] + s1 * v1[:, 1], c1 * v1[:, 1] - s1 * v1[:, 0]], 1)
            v2s = v2s + torch.stack([c2 * v2[:, 0] + s2 * v2[:, 1], c2 * v2[:, 1] - s2 * v2[:, 0]], 1)
            scale = scale + sk
        return v1s / n_turns, v2s / n_turns, scale / n_turns

    return _patched(SO2ImageNetwork, harmonics=harmonics)


def _class_scatter(cross_entropy_weight=0.0):
    """Supervised classification objective replaced by the within-class scatter of the canonical
    images in each mini-batch (plus ``cross_entropy_weight`` times the task head's loss).

    Turning an image preserves its pixel norm, so the scatter cannot collapse: it is smallest
    when the images of a class are turned to look alike — the pose consistency the
    diagnosis found missing.
    """
    import torch
    import torch.nn.functional as F

    from skcanon import _training

    forward, plain = _training._ObjectiveModule.forward, _training._ObjectiveModule.loss

    def forward_canonical(self, x):
        if self.objective != "supervised" or self.task != "classification":
            return forward(self, x)
        canon = self.network.soft_canonicalize(x)
        present = ~torch.isnan(canon)
        canon0 = torch.where(present, canon, torch.zeros((), dtype=canon.dtype, device=canon.device))
        return canon0, present, None

    def loss(self, outputs, y):
        if self.objective != "supervised" or self.task != "classification":
            return plain(self, outputs, y)
        z, present, _ = outputs
        z, w = z.flatten(1), present.flatten(1).to(z.dtype)
        codes = y.long().reshape(-1)
        onehot = F.one_hot(codes, self.head[-1].out_features).to(z.dtype)
        means = (onehot.T @ z) / onehot.sum(0).clamp_min(1.0)[:, None]
        scatter = (((z - means[codes]) ** 2) * w).sum() / w.sum().clamp_min(1.0)
        if cross_entropy_weight:
            scatter = scatter + cross_entropy_weight * F.cross_entropy(self.head(z), codes)
        return scatter

    return _patched(_training._ObjectiveModule, forward=forward_canonical, loss=loss)


def _wider_reach(floor=0.05):
    """Anchored learned terms that one unit of gain can set against the anchor."""
    import torch

    from skcanon.nn._anchored_images import AnchoredImageFrame

    def learned_scores(self, x):
        s = self.net.scores(x)
        s = s - s.mean(dim=1, keepdim=True)
        return s / (s.abs().mean(dim=1, keepdim=True) + torch.finfo(s.dtype).tiny)

    def learned_direction(self, x):
        v1, _, scale = self.net.harmonics(x)
        norm = torch.linalg.vector_norm(v1, dim=1, keepdim=True)
        return v1 / (norm + floor * scale[:, None] + torch.finfo(x.dtype).tiny)

    return _patched(AnchoredImageFrame, learned_scores=learned_scores, learned_direction=learned_direction)


def _fast_gain(rate):
    """Anchored frames whose learned term is weighted by ``rate × gain``."""
    from skcanon.nn._anchored_images import AnchoredImageFrame

    return _patched(AnchoredImageFrame, GAIN_RATE=rate)


def _anchored_axis():
    """SO(2) anchored frames read like the pure network: an axis from the heuristic's
    doubled angle plus the weighted second harmonic, its direction from the heuristic's
    direction plus the weighted first harmonic; prior on both harmonics' phases; the
    supervised gradient through the axis and a straight-through choice of the direction."""
    import math

    import torch

    from skcanon.groups._images import bilinear_rotate_images
    from skcanon.nn._anchored_images import AnchoredImageFrame

    def terms(self, x):
        E = torch.as_tensor(self.heuristic_frames(x), dtype=x.dtype, device=x.device)
        theta0 = torch.atan2(E[:, 1, 0], E[:, 0, 0])
        v1, v2, scale = self.net.harmonics(x)
        s = scale[:, None] + torch.finfo(x.dtype).tiny
        w = self.weight().to(x.dtype)
        d = torch.stack([torch.cos(theta0), torch.sin(theta0)], 1) + w * v1 / s
        a = torch.stack([torch.cos(2 * theta0), torch.sin(2 * theta0)], 1) + w * v2 / s
        return theta0, d, a

    def safe_angle(v, fallback):
        ok = torch.linalg.vector_norm(v, dim=1) > 1e-6
        v = torch.where(ok[:, None], v, torch.ones_like(v))
        return torch.where(ok, torch.atan2(v[:, 1], v[:, 0]), fallback), ok

    def axis_and_sign(self, x):
        theta0, d, a = terms(self, x)
        direction, _ = safe_angle(d, theta0)
        phi, has_axis = safe_angle(a, 2 * theta0)
        phi = torch.where(has_axis, 0.5 * phi, direction)
        proj = d[:, 0] * torch.cos(phi) + d[:, 1] * torch.sin(phi)
        return phi, proj

    def angles(self, x):
        phi, proj = axis_and_sign(self, x)
        return torch.where(proj < 0, phi + math.pi, phi)

    def soft_canonicalize(self, x):
        phi, proj = axis_and_sign(self, x)
        a = bilinear_rotate_images(x, -phi)
        b = a.flip(-2, -1)
        p = torch.sigmoid(proj)[:, None, None, None]
        soft = p * a + (1 - p) * b
        hard = torch.where(proj[:, None, None, None] < 0, b, a)
        return hard + soft - soft.detach()

    def prior_loss(self, x, elements=None):
        theta0, d, a = terms(self, x)
        t = torch.zeros_like(theta0) if elements is None else torch.as_tensor(elements, dtype=x.dtype,
                                                                              device=x.device)
        loss = 0.0
        for v, k in ((d, 1.0), (a, 2.0)):
            cos = (v[:, 0] * torch.cos(k * t) + v[:, 1] * torch.sin(k * t)) / (torch.linalg.vector_norm(v, dim=1) + 1e-8)
            loss = loss + (1.0 - cos).mean()
        return loss

    return _patched(AnchoredImageFrame, angles=angles, soft_canonicalize=soft_canonicalize, prior_loss=prior_loss)


@contextlib.contextmanager
def _moment_axis():
    """SO(2): the axis from learned weighted image moments (see the module notes)."""
    import torch

    from skcanon.nn._images import SO2ImageNetwork

    init, lifted = SO2ImageNetwork.__init__, SO2ImageNetwork.lifted_maps

    def patched_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.moment_readout = torch.nn.Parameter(torch.randn(self.channels) / math.sqrt(self.channels))

    def lifted_maps(self, x):
        # keep the pooled input and the response maps for the weighted moments
        self._moment_inputs = lifted(self, x)
        return self._moment_inputs

    def harmonics(self, x):
        s = self.orientation_scores(x)
        v1 = s @ self.phasor.to(s.dtype)[:, :2]
        scale = s.abs().sum(dim=1)
        xp, f = self._moment_inputs
        n, _, hp, wp = xp.shape
        m = torch.einsum("ngcp,c->np", f, self.moment_readout.to(f.dtype)) / f.shape[1]
        q = xp.sum(1).reshape(n, -1).clamp_min(0) * (1 + torch.tanh(m))
        rows = (hp - 1) / 2.0 - torch.arange(hp, dtype=q.dtype, device=q.device)   # y up
        cols = torch.arange(wp, dtype=q.dtype, device=q.device) - (wp - 1) / 2.0   # x right
        yy, xx = torch.meshgrid(rows, cols, indexing="ij")
        xx, yy = xx.reshape(-1), yy.reshape(-1)
        total = q.sum(1).clamp_min(1e-12)
        dx = xx - ((q * xx).sum(1) / total)[:, None]
        dy = yy - ((q * yy).sum(1) / total)[:, None]
        re, im = (q * (dx ** 2 - dy ** 2)).sum(1), (q * 2 * dx * dy).sum(1)
        trace = (q * (dx ** 2 + dy ** 2)).sum(1).clamp_min(1e-12)
        v2 = scale[:, None] * torch.stack([re, im], 1) / trace[:, None]
        return v1, v2, scale

    with _patched(SO2ImageNetwork, __init__=patched_init, lifted_maps=lifted_maps, harmonics=harmonics):
        yield


def _orbit_cnn_module(network, seed):
    """The plain (not equivariant) CNN of the ``orbit CNN`` variant; its convolutions are drawn
    from ``seed + 7``, its lazy hidden layer when the patched ``__init__`` first calls it."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed + 7)
        return torch.nn.Sequential(
            torch.nn.Conv2d(network.in_channels, 16, 3, padding=1), torch.nn.LeakyReLU(0.1),
            torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.LeakyReLU(0.1),
            torch.nn.Conv2d(32, 32, 3, stride=2, padding=1), torch.nn.LeakyReLU(0.1),
            torch.nn.Flatten(), torch.nn.LazyLinear(64), torch.nn.LeakyReLU(0.1),
            torch.nn.Linear(64, 1))


def _orbit_scores(network, copies):
    """Scores ``(n, m)`` of ``copies`` ``(m, n, C, H, W)`` (one turned-back image per element):
    the shipped network's pooling, disk mask and RMS normalisation, then ``network.orbit_cnn``."""
    import torch.nn.functional as F

    m, n, c, h, w = copies.shape
    z = copies.reshape(m * n, c, h, w)
    if min(h, w) >= 12:
        z = F.avg_pool2d(z, 2)
    mask, _, _, _ = network._masks(h, w, z.device, z.dtype)
    rms = (z.square().mean(dim=(1, 2, 3), keepdim=True) + 1e-12).sqrt()
    z = z * mask / (rms + 1e-6)
    return network.orbit_cnn.to(z.dtype)(z).reshape(m, n).T


@contextlib.contextmanager
def _orbit_cnn():
    """C_n/D_n and SO(2): orientation scores from a plain CNN applied to every turned-back copy."""
    import numpy as np
    import torch

    from skcanon.groups import rotate_images
    from skcanon.groups._images import act_on_images
    from skcanon.nn import _images

    inits = {cls: cls.__init__ for cls in (_images.GroupConvImageNetwork, _images.SO2ImageNetwork)}

    def patched(cls):
        def init(self, *args, **kwargs):
            inits[cls](self, *args, **kwargs)
            seed = kwargs.get("seed")
            self.orbit_cnn = _orbit_cnn_module(self, 0 if seed is None else int(seed))
            shape = getattr(self.layout, "shape", None)
            h, w = (shape[1:] if shape is not None else (28, 28))
            with torch.no_grad():  # materialise the lazy layer for the pooled image size
                self.orbit_cnn(torch.zeros(1, self.in_channels, _images._pooled_size(h), _images._pooled_size(w)))
        return init

    def scores(self, x):
        x = self._check(x)
        n = x.shape[0]
        inv = self.group.inverse(np.arange(self.order))
        copies = torch.stack([act_on_images(self.group, np.full(n, inv[e]), x) for e in range(self.order)])
        return _orbit_scores(self, copies)

    def orientation_scores(self, x):
        x = self._check(x)
        n = x.shape[0]
        copies = torch.stack([rotate_images(x, torch.full((n,), -2 * math.pi * k / self.n_rot, dtype=x.dtype))
                              for k in range(self.n_rot)])
        return _orbit_scores(self, copies)

    with _patched(_images.GroupConvImageNetwork, __init__=patched(_images.GroupConvImageNetwork), scores=scores), \
            _patched(_images.SO2ImageNetwork, __init__=patched(_images.SO2ImageNetwork),
                     orientation_scores=orientation_scores):
        yield


@contextlib.contextmanager
def _library_orbit():
    """The library's orbit-scored network (:mod:`skcanon.nn._orbit_images`, shipped for the
    prior) for every objective of a pure learned image canonicalizer."""
    from skcanon.canonicalizers import _learned

    original = _learned.LearnedCanonicalizer._image_scorer

    def scorer(self, layout, y):
        chosen = original(self, layout, y)
        return "orbit" if chosen == "lifted" and self._trains else chosen

    with _patched(_learned.LearnedCanonicalizer, _image_scorer=scorer):
        yield


#: variant name → what it changes (the first two are the width comparison)
VARIANTS = {
    "8 channels": Variant(divisor=8),
    "16 channels": Variant(),
    "align objective": Variant(objectives=(("rotated", "align"),), settings=("rotated",)),
    "supervised+prior": Variant(objectives=(("upright", "supervised+prior"),), settings=("upright",)),
    "2x steps": Variant(epochs_factor=2, settings=("upright",)),
    "orientation mixture": Variant(patch=_orientation_mixture, groups=("SO2",), settings=("rotated",)),
    "softmax readout": Variant(patch=_softmax_readout, groups=("SO2",), settings=("upright",)),
    "16 orientations": Variant(patch=lambda: _orientations(16), groups=("SO2",), settings=("upright",)),
    "rotation-averaged readout": Variant(readout=_rotation_averaged_readout, groups=("SO2",)),
    "class scatter": Variant(patch=_class_scatter, settings=("rotated",)),
    "class scatter + head": Variant(patch=lambda: _class_scatter(1.0), settings=("rotated",)),
    "knn selection": Variant(options=(("validation_score", "knn"),), settings=("rotated",)),
    "moments": Variant(method="moments"),
    "anchored": Variant(method="anchored"),
    "anchored wider reach": Variant(method="anchored", patch=_wider_reach),
    "anchored fast gain": Variant(method="anchored", patch=lambda: _fast_gain(10.0)),
    "anchored axis": Variant(method="anchored", patch=_anchored_axis, groups=("SO2",)),
    "moment axis": Variant(patch=_moment_axis, groups=("SO2",)),
    "orbit CNN": Variant(patch=_orbit_cnn),
    "orbit align": Variant(patch=_library_orbit, objectives=(("rotated", "align"),), settings=("rotated",)),
    "orbit wide": Variant(options=(("hidden", 128),), settings=("upright",)),
    "orbit supervised": Variant(patch=_library_orbit, settings=("rotated",)),
}


@contextlib.contextmanager
def _network(variant):
    """Image networks built and trained as ``variant`` says (width and ``patch``)."""
    from skcanon.nn import _images

    with _patched(_images, CHANNEL_DIVISOR=variant.divisor), (variant.patch or contextlib.nullcontext)():
        yield


def _auto_epochs(n_samples):
    """The automatic number of epochs of a default fit on ``n_samples`` (validation split held out)."""
    from skcanon._learning_options import LEARNING_OPTIONS
    from skcanon._training import training_budget

    fraction = LEARNING_OPTIONS["validation_fraction"].default
    n_train = n_samples - int(math.floor(fraction * n_samples))
    return training_budget(n_train)[1]


def one_fit(name, group, setting, data, seed):
    """Validation accuracy of the page's classifier after a default learned canonicalizer
    changed as ``name`` says; ``None`` where the variant does not apply."""
    from choose_image_batch import _classifier

    from skcanon import CanonicalizerTransformer

    variant = VARIANTS[name]
    if group not in variant.groups or setting not in variant.settings:
        return None
    Xtr, ytr, Utr, Xva, yva = data
    objective = dict(variant.objectives).get(setting, "supervised" if setting == "rotated" else "prior")
    fit_X = Xtr if setting == "rotated" else Utr
    options = dict(variant.options)
    if variant.epochs_factor != 1:
        options["max_epochs"] = variant.epochs_factor * _auto_epochs(len(fit_X))
    if variant.method == "moments":
        canon = CanonicalizerTransformer(group, "moments", layout="image")
    else:
        canon = CanonicalizerTransformer(group, variant.method, layout="image", objective=objective,
                                         random_state=seed, device="cpu", **options)
    with _network(variant):
        t0 = time.perf_counter()
        canon.fit(fit_X, ytr if objective.startswith("supervised") else None)
        fit_s = time.perf_counter() - t0
        with (variant.readout or contextlib.nullcontext)():
            clf = _classifier(seed).fit(canon.transform(fit_X), ytr)
            acc = float(np.mean(clf.predict(canon.transform(Xva)) == yva))
    info = canon.canonicalizer_
    row = {"variant": name, "group": group, "setting": setting, "seed": seed, "accuracy": acc,
           "fit_s": round(fit_s, 1)}
    if variant.method == "moments":
        return row
    network = info.network_
    row.update(channels=getattr(getattr(network, "net", network), "channels", None),  # None: orbit-scored
               scorer=getattr(info, "image_scorer_", None), epochs=len(info.history_),
               best_epoch=info.best_epoch_)
    if variant.method == "anchored":
        # how far training moved from the heuristic: the gain, and the share of validation
        # images whose frame is not the heuristic's
        from skcanon import CanonicalizerTransformer as CT

        heuristic = CT(group, "moments", layout="image").fit(Xva).canonical_frame(Xva)
        with _network(variant):
            frames = canon.canonical_frame(Xva)
        moved = (frames != heuristic) if frames.ndim == 1 else \
            np.abs(np.arctan2(frames[:, 1, 0], frames[:, 0, 0]) - np.arctan2(heuristic[:, 1, 0], heuristic[:, 0, 0]))
        if frames.ndim > 1:
            moved = np.minimum(moved, 2 * np.pi - moved) > np.radians(10)
        with _network(variant):
            weight = float(network.weight())
        row.update(gain=round(weight, 4), moved_from_heuristic=round(float(np.mean(moved)), 4))
    return row


def summarize(results, variants):
    """Means ± sd per variant and setting, and paired differences against ``variants[0]``."""
    from choose_image_batch import paired_summary

    return paired_summary(results, "variant", variants, variants[0], 22, show_fit=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--groups", default="C8,SO2")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {list(VARIANTS)}")
    parser.add_argument("--settings", default="rotated,upright")
    parser.add_argument("--n-train", type=int, default=4600)
    parser.add_argument("--n-val", type=int, default=1000)
    parser.add_argument("--summarize", metavar="JSONL", nargs="*",
                        help="run nothing: summarize the JSON lines of earlier runs")
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"--variants: unknown {sorted(unknown)}; choose from {list(VARIANTS)}")
    if args.summarize is not None:
        results = [json.loads(line) for path in args.summarize for line in open(path) if line.startswith("{")]
        print(summarize(results, variants))
        return results
    import torch

    torch.set_num_threads(1)
    import warnings

    warnings.filterwarnings("ignore")
    from choose_image_batch import paired_runs

    results = paired_runs([int(x) for x in args.seeds.split(",")], args.groups.split(","),
                          args.settings.split(","), variants, args.n_train, args.n_val, one_fit)
    print(summarize(results, variants))
    return results


if __name__ == "__main__":
    sys.exit(main() and 0)
