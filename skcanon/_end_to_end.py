"""The end-to-end equivariant estimators (Kaba et al.'s setting): frame network and backbone
trained jointly with skorch.

A canonicalization network ``h`` and a torch backbone ``r`` are trained jointly:

* :class:`EndToEndEquivariantRegressor`: ``f(x) = h(x)·r(h(x)⁻¹·x)`` for targets that move
  with the input (positions, displacements, forces);
* :class:`EndToEndEquivariantClassifier`: ``f(x) = r(h(x)⁻¹·x)``, class scores that are
  invariant to the group (``predict_proba``, ``classes_``); point sets, or images with an
  image layout (:mod:`skcanon._end_to_end_images`).

With ``module__frame="symmetrize"`` both average over ``k`` frames drawn from a learned,
equivariant distribution ``p(g | x)`` instead (probabilistic symmetrization, Kim et al.,
NeurIPS 2023; :mod:`skcanon.nn._symmetrize`): ``f(x) = (1/k) Σ_j g_j·r(g_j⁻¹·x)``, exactly
equivariant in expectation over the draws.

Both validate their input like every skcanon estimator, seed everything from
``random_state``, run torch/BLAS/OpenMP on ``n_jobs`` threads (one by default, see
:mod:`skcanon._threads`), raise ``KeyboardInterrupt`` instead of keeping a half-trained fit
(the previous fit, if any, is restored), and pickle like any skorch net (CUDA weights load
on a CPU-only machine).
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import scipy.sparse

from ._optional import import_skorch

import_skorch("skcanon's end-to-end estimators")

import torch  # noqa: E402
from skorch import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402
from skorch.utils import is_dataset  # noqa: E402
from sklearn.utils import check_array  # noqa: E402
from sklearn.utils.validation import _check_feature_names, _get_feature_names  # noqa: E402
from torch import nn  # noqa: E402

from ._columns import (in_caller_order, is_dataframe, named_point_layout, names_points,  # noqa: E402
                       point_major_order)
from ._end_to_end_images import ImageInvariantModule, module_positive_int  # noqa: E402
from ._estimator import SkcanonEstimatorMixin  # noqa: E402
from ._stabilizers import average_over_stabilizers, heuristic_stand_in, symmetry_plan  # noqa: E402
from ._threads import limited_threads  # noqa: E402
from ._validation import (  # noqa: E402
    _coerce_full,
    check_device,
    check_object_labels,
    refuse_borderless_image_action,
    tensor_to_numpy,
)
from .groups import get_group, haar_orthogonal  # noqa: E402
from .layouts import ImageLayout, PointLayout, as_layout  # noqa: E402
from .nn._factory import build_frame_network  # noqa: E402
from .nn._message_passing import MessagePassingBackbone  # noqa: E402
from .nn._points import handles_rigid_motions, move_back, present_mask, scalar_statistics  # noqa: E402
from .nn._symmetrize import FrameDistribution, check_noise_scale  # noqa: E402
from .nn._torch import (InterruptRaisingMixin, check_default_dtype, seed_from, seeded,  # noqa: E402
                        set_precision, unseeded)

__all__ = ["EquivariantModule", "InvariantModule", "MaskedMSELoss", "EndToEndEquivariantRegressor",
           "EndToEndEquivariantClassifier"]

FRAMES = ("learned", "anchored", "identity", "augment", "symmetrize")
BACKBONES = ("mlp", "message_passing")
TARGET_KINDS = ("position", "vector")


#: the skorch parameters both end-to-end estimators set their own defaults for (``{loss}``:
#: the default loss), filled into their docstrings
_SKORCH_PARAMETERS_DOC = """\
module : torch module class, default={module}
    The network; its hyper-parameters are set with ``module__`` prefixes. ``fit`` builds it
    with the shapes it derives from the data (``n_points``, ``n_outputs`` or ``n_classes``,
    ``scalar_stats``, ``image_shape``; kept in ``derived_module_params_``, not among the
    parameters, and taking precedence over ``module__`` values of the same names). A
    ``torch.nn.Module`` class of your own gets those of them its constructor names; an
    instance of your own is used as it is. ``None`` is read as this default.
criterion : torch loss class, default={criterion}
    {loss} (``None`` is read as this default).
max_epochs : int, default=50
    skorch's, with this estimator's default.
lr : float, default=1e-3
    Learning rate of the optimizer (Adam by default).
batch_size : int, default=64
    Mini-batch size.
train_split : callable or None, default=None
    skorch's validation split. ``None`` (this estimator's default): every sample
    trains and there is no validation split: ``EpochScoring(..., on_train=False)``
    records nothing, and ``fit`` refuses callbacks that monitor a validation score
    (``EarlyStopping()``, ``Checkpoint()``: ``valid_loss``); pass
    ``train_split=skorch.dataset.ValidSplit(5)`` for them.
verbose : int, default=0
    skorch's progress printing (off by default)."""


def _fill_skorch_parameters(cls, loss):
    defaults = inspect.signature(cls.__init__).parameters
    text = (_SKORCH_PARAMETERS_DOC.replace("{loss}", loss)
            .replace("{module}", defaults["module"].default.__name__)
            .replace("{criterion}", defaults["criterion"].default.__name__))
    cls.__doc__ = cls.__doc__.replace("{skorch_parameters}", text.replace("\n", "\n    "))


def _refuse_sample_weight(estimator, fit_params):
    # skorch hands fit parameters to the module's forward, which takes none: say so first
    if fit_params.get("sample_weight") is not None:
        raise ValueError(
            f"{type(estimator).__name__}.fit does not take sample_weight: its loss weighs every "
            "sample equally. Repeat or subsample the samples instead, or use EquivariantRegressor / "
            "FrameAveragingClassifier, whose fit passes sample_weight to the model.")


def _check_skorch_device(device):
    """skorch's ``device`` checked before any work (``None`` keeps tensors where they are): a
    device this machine lacks is a ValueError here, not torch's error from inside skorch."""
    if device is None:
        return
    device = check_device(device)
    if device == "auto":
        raise ValueError("device='auto' is not supported by the end-to-end estimators (skorch places the "
                         "module itself); pass 'cpu', 'cuda' or 'cuda:N'.")
    from ._validation import check_device_available

    check_device_available(device, auto=False)



def _same_value(a, b):
    """Whether a parameter value is unchanged: the same object, or equal where ``==`` gives
    one truth value (arrays and other objects compare as changed)."""
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


class EquivariantModule(nn.Module):
    """``f(x) = h(x)·r(h(x)⁻¹·x)`` with a frame ``h`` and a backbone ``r``.

    Parameters (reach them as ``module__<name>``)
    ----------
    group : str, default="SE3"
        O(d), SO(d), E(d) or SE(d).
    n_dims : int, default=3
    n_points : int
        Points per input sample (set by ``fit`` from ``X``).
    n_outputs : int
        Target columns (set by ``fit`` from ``y``).
    target_kind : {"position", "vector"}, default="position"
        Positions move with rotations and translations, vectors (displacements, forces)
        with rotations only.
    hidden : int, default=64
        Width of the frame network.
    backbone_hidden : int, default=128
        Width of the backbone.
    layout : PointLayout or None, default=None
        What each input point carries (positions, vectors such as velocities, scalars such
        as charges); ``None`` is positions only. Frames come from the positions, every
        geometric field is canonicalized with them, and the backbone sees all columns.
    backbone : {"mlp", "message_passing"}, default="mlp"
        ``"mlp"``: two hidden layers on all columns of all points, flattened (absent points
        enter as zeros). ``"message_passing"``: :class:`~skcanon.nn.MessagePassingBackbone`,
        one output row per input point (``y`` must have ``n_points * n_dims`` columns; rows
        of absent points are NaN); it is permutation-equivariant, so with a learned frame
        the model is E(d)×S_n-equivariant.
    backbone_layers : int or None, default=None
        Message-passing layers (``None``: 3). The ``"mlp"`` backbone has two hidden layers
        and takes only ``None`` or 2.
    frame : {"learned", "anchored", "identity", "augment", "symmetrize"}, default="learned"
        ``"learned"``: the frame network ``h`` (exactly equivariant). ``"anchored"``: the
        PCA heuristic's frame times a learned residual rotation whose gain starts at 0
        (:class:`~skcanon.nn._points.AnchoredPointNetwork`), so training starts from the
        heuristic frame and moves away only as far as the loss pays (exactly equivariant,
        on symmetric inputs too; the heuristic part runs in numpy on the CPU). ``"identity"``:
        ``h(x) = e``, the plain backbone, e.g. as the regressor of
        :class:`~skcanon.EquivariantRegressor` behind a heuristic canonicalizer.
        ``"augment"``: data augmentation; while training, a random group element per
        sample (Haar rotation, Gaussian translation of the group's ``translation_scale``),
        so the loss is that of ``r`` on randomly moved inputs and targets; the identity at
        prediction (only approximately equivariant). ``"symmetrize"``: probabilistic
        symmetrization, the mean of ``g·r(g⁻¹·x)`` over ``k`` frames ``g = h(x + ε)`` of the
        frame network on noisy copies of the input
        (:class:`~skcanon.nn._symmetrize.FrameDistribution`; exactly equivariant in
        expectation, the error of ``k`` draws shrinks like ``1/√k``).
    n_samples : int, default=1
        Frames drawn per sample and training step (``frame="symmetrize"`` only).
    n_samples_predict : int, default=16
        Frames per sample in eval mode (prediction, validation). These draws are fixed
        (the same ``k`` noise draws for every sample, from a seed drawn at construction,
        i.e. from the estimator's ``random_state``), so predictions are reproducible and
        the random draws do not depend on the batch a sample is in; the float32 arithmetic
        does, up to rounding (``batch_size`` 64 vs 1: relative differences up to about
        1e-6, a few units in the last place).
    noise_scale : float, default=0.2
        Standard deviation of the noise ``ε``, relative to each geometric field's spread
        in the sample (``frame="symmetrize"`` only).
    scalar_stats : dict or None, default=None
        Statistics of the layout's scalar fields in the training data (set by ``fit``
        from ``X``; :func:`~skcanon.nn._points.scalar_statistics`): the frame network
        standardises numeric scalar fields with them, embeds those with a few integer
        levels, and embeds categorical fields by the codes seen in ``fit``, as the frame
        networks of :class:`~skcanon.CanonicalizerTransformer` do. ``None``: scalars enter
        as they are and categorical codes all look alike (unknown). The backbone reads the
        scalar columns as they are.
    """

    def __init__(self, group="SE3", n_dims=3, n_points=1, n_outputs=3, target_kind="position", hidden=64,
                 backbone_hidden=128, layout=None, backbone="mlp", backbone_layers=None, frame="learned",
                 n_samples=1, n_samples_predict=16, noise_scale=0.2, scalar_stats=None):
        super().__init__()
        self.group = get_group(group)
        if not (handles_rigid_motions(self.group) and self.group.rotates):
            raise ValueError(f"module__group must be O(d), SO(d), E(d) or SE(d) ('O3', 'SE2'...) for point "
                             f"sets; got {group!r}.")
        for name, value, allowed in (("frame", frame, FRAMES), ("backbone", backbone, BACKBONES),
                                     ("target_kind", target_kind, TARGET_KINDS)):
            if value not in allowed:
                raise ValueError(f"module__{name} must be one of {allowed}; got {value!r}.")
        self.layout = PointLayout(n_dims) if layout is None else layout
        if not isinstance(self.layout, PointLayout) or self.layout.kind != "points":
            raise TypeError(f"module__layout must be a PointLayout or None; got {layout!r}.")
        if self.layout.n_dims != n_dims:
            raise ValueError(f"module__layout has n_dims={self.layout.n_dims}, but module__n_dims={n_dims}.")
        # every frame, not only those that build a frame network: "augment" and "identity"
        # read 2-D points as 3-D ones under SE2 (and drew 3-D rotations) without it
        try:
            self.group.check_layout(self.layout)
        except ValueError as exc:
            raise ValueError(f"{exc} Fix: module__n_dims={self.group.d} for this module__group.") from None
        self.target_layout = PointLayout(n_dims, fields=[("y", target_kind)])
        if n_outputs % n_dims:
            raise ValueError(f"y must have n_target_points * {n_dims} columns; got {n_outputs}.")
        self.n_points, self.n_dims, self.n_outputs = n_points, n_dims, n_outputs
        self.frame, self.backbone_kind = frame, backbone
        hidden = module_positive_int(hidden, "hidden")
        backbone_hidden = module_positive_int(backbone_hidden, "backbone_hidden")
        self.n_samples = module_positive_int(n_samples, "n_samples")
        self.n_samples_predict = module_positive_int(n_samples_predict, "n_samples_predict")
        noise_scale = check_noise_scale(noise_scale)
        if backbone == "mlp" and backbone_layers not in (None, 2):
            raise ValueError(f"module__backbone_layers applies to backbone='message_passing' (the 'mlp' "
                             f"backbone has 2 hidden layers); got {backbone_layers!r}.")
        if backbone == "message_passing" and n_outputs != n_points * n_dims:
            raise ValueError(f"module__backbone='message_passing' predicts one target point per input point: "
                             f"y must have n_points * {n_dims} = {n_points * n_dims} columns; "
                             f"got {n_outputs}.")
        self.frame_net = self.distribution = None
        if frame in ("learned", "anchored"):
            self.frame_net = build_frame_network(self.group, self.layout, hidden, scalar_stats=scalar_stats,
                                                 anchored=frame == "anchored")
        elif frame == "symmetrize":
            # the symmetrization was measured with the output vectors' frames (its noise, not
            # the axes' stability, is what it relies on); moment axes are not measured there
            self.distribution = FrameDistribution(build_frame_network(self.group, self.layout, hidden,
                                                                      scalar_stats=scalar_stats,
                                                                      axes="vectors"), noise_scale)
        if backbone == "mlp":
            self.backbone = nn.Sequential(nn.Linear(n_points * self.layout.width, backbone_hidden), nn.SiLU(),
                                          nn.Linear(backbone_hidden, backbone_hidden), nn.SiLU(),
                                          nn.Linear(backbone_hidden, n_outputs))
        else:
            n_layers = 3 if backbone_layers is None else module_positive_int(backbone_layers, "backbone_layers")
            self.backbone = MessagePassingBackbone(self.layout, n_dims, module_positive_int(backbone_hidden,
                                                                                      "backbone_hidden"),
                                                   n_layers)
        if type(self)._SEED_AFTER_BACKBONE:
            self._draw_seed()

    #: subclasses that rebuild the backbone draw the seed themselves, after it
    _SEED_AFTER_BACKBONE = True

    def _draw_seed(self):
        # last, so the weights are those of frame="learned" for the same random_state
        if self.distribution is not None:
            self.distribution.seed = int(torch.randint(0, 2**31 - 1, (1,)).item())

    def _n_draws(self):
        """Frames averaged per sample: ``k`` for symmetrization, 1 otherwise."""
        if self.frame != "symmetrize":
            return 1
        return self.n_samples if self.training else self.n_samples_predict

    def _frame_parts(self, P):
        """Canonical input and the frame as ``(rotation or None, translation or None)``.

        With ``frame="symmetrize"`` the batch is repeated ``k`` times (draw ``j`` of sample
        ``i`` at row ``j * n + i``), one frame per row.
        """
        if self.frame == "symmetrize":
            k = self._n_draws()
            Pk = P.repeat(k, 1, 1) if k > 1 else P
            dist = self.distribution
            noise = dist.train_noise(k, P) if self.training else dist.eval_noise(k, P)
            R, t = dist.frames(Pk, noise)
            mask = present_mask(Pk)[..., None]
            x0 = torch.where(mask, Pk, torch.zeros((), dtype=P.dtype, device=P.device))
            Pc = torch.where(mask, move_back(x0, R, t, self.layout),
                             torch.full((), float("nan"), dtype=P.dtype, device=P.device))
            return Pc, R, t
        if self.frame in ("learned", "anchored"):
            # the tie rules of symmetric clouds follow the input's rounding (float32 here): with
            # float64 tolerances the learned frame took float32 noise for axes, and a cube or a
            # regular polygon got other class scores in other poses (up to 0.23)
            set_precision(self.frame_net, P.dtype)
            Pc, frames = self.frame_net.canonicalize(P)   # differentiable for continuous groups
            if not self.group.translates:
                return Pc, frames, None
            R, t = self.group.parts(frames)
            return Pc, R, t
        if self.frame == "identity" or not self.training:
            return P, None, None
        # augmentation: move each training sample by a random element g (canonical input g⁻¹·x)
        n, d = P.shape[0], self.n_dims
        R = haar_orthogonal(n, d, special=bool(self.group.special), like=P)
        t = None
        if self.group.translates:
            t = torch.randn(n, d, dtype=P.dtype, device=P.device) * self.group.translation_scale
        return move_back(P, R, t, self.layout), R, t

    def forward(self, X):
        n = X.shape[0]
        P = X.reshape(n, self.n_points, self.layout.width)
        Pc, R, t = self._frame_parts(P)
        nk = Pc.shape[0]                                # n, or k * n draws when symmetrizing
        zero = torch.zeros((), dtype=Pc.dtype, device=Pc.device)
        absent = None
        if self.backbone_kind == "mlp":
            Pc = torch.where(torch.isnan(Pc), zero, Pc)
            Yc = self.backbone(Pc.reshape(nk, -1)).reshape(nk, -1, self.n_dims)
        else:
            Yc = self.backbone(Pc)                      # (n, n_points, d), NaN rows at absent points
            # zeros through the frame map, NaN again after: a NaN row times the frame would
            # send NaN (0 · NaN) into the frame's gradient
            absent = torch.isnan(Yc).all(-1, keepdim=True)
            Yc = torch.where(absent, zero, Yc)
        Y = Yc if R is None else Yc @ R.transpose(1, 2)
        if t is not None and self.target_layout.fields[0].kind == "position":
            Y = Y + t[:, None, :]
        if absent is not None:
            Y = torch.where(absent, torch.full((), float("nan"), dtype=Y.dtype, device=Y.device), Y)
        return Y.reshape(nk // n, n, -1).mean(0) if nk != n else Y.reshape(n, -1)


class InvariantModule(EquivariantModule):
    """``f(x) = r(h(x)⁻¹·x)``: class scores (logits) that are invariant to the group.

    Parameters (reach them as ``module__<name>``) are those of :class:`EquivariantModule`,
    with ``n_classes`` (set by ``fit`` from ``y``) in place of ``n_outputs`` and
    ``target_kind``. The ``"mlp"`` backbone reads all columns of all points, flattened; the
    ``"message_passing"`` backbone is followed by a mean over the present points and a
    linear layer, so with a learned frame the scores are E(d)×S_n-invariant.
    """

    _SEED_AFTER_BACKBONE = False

    def __init__(self, group="SE3", n_dims=3, n_points=1, n_classes=2, hidden=64, backbone_hidden=128,
                 layout=None, backbone="mlp", backbone_layers=None, frame="learned", n_samples=1,
                 n_samples_predict=16, noise_scale=0.2, scalar_stats=None):
        n_classes = module_positive_int(n_classes, "n_classes")
        # the parent builds frame network and backbone; outputs are re-sized below
        super().__init__(group=group, n_dims=n_dims, n_points=n_points, n_outputs=n_dims, hidden=hidden,
                         backbone_hidden=backbone_hidden, layout=layout, backbone="mlp",
                         backbone_layers=None if backbone == "message_passing" else backbone_layers,
                         frame=frame, n_samples=n_samples, n_samples_predict=n_samples_predict,
                         noise_scale=noise_scale, scalar_stats=scalar_stats)
        if backbone not in BACKBONES:
            raise ValueError(f"module__backbone must be one of {BACKBONES}; got {backbone!r}.")
        self.n_classes, self.n_outputs, self.backbone_kind = n_classes, n_classes, backbone
        H = module_positive_int(backbone_hidden, "backbone_hidden")
        if backbone == "mlp":
            self.backbone = nn.Sequential(nn.Linear(n_points * self.layout.width, H), nn.SiLU(),
                                          nn.Linear(H, H), nn.SiLU(), nn.Linear(H, n_classes))
            self.pool_head = None
        else:
            n_layers = 3 if backbone_layers is None else module_positive_int(backbone_layers, "backbone_layers")
            self.backbone = MessagePassingBackbone(self.layout, H, H, n_layers)
            self.pool_head = nn.Sequential(nn.SiLU(), nn.Linear(H, n_classes))
        self._draw_seed()

    def forward(self, X):
        n = X.shape[0]
        P = X.reshape(n, self.n_points, self.layout.width)
        Pc = self._frame_parts(P)[0]
        nk = Pc.shape[0]                                # n, or k * n draws when symmetrizing
        zero = torch.zeros((), dtype=Pc.dtype, device=Pc.device)
        if self.backbone_kind == "mlp":
            logits = self.backbone(torch.where(torch.isnan(Pc), zero, Pc).reshape(nk, -1))
        else:
            H = self.backbone(Pc)                               # (nk, n_points, H), NaN rows at absent points
            present = ~torch.isnan(H).all(-1, keepdim=True)
            pooled = torch.where(present, H, zero).sum(1) / present.sum(1).clamp_min(1).to(H.dtype)
            logits = self.pool_head(pooled)
        # symmetrization: the mean of the k draws' scores (invariant in expectation)
        return logits.reshape(nk // n, n, -1).mean(0) if nk != n else logits


class MaskedMSELoss(nn.Module):
    """Mean squared error over the finite target entries (NaN targets = absent points).

    Equal to :class:`torch.nn.MSELoss` when every target is finite. Entries are selected
    before subtracting, so NaN predictions at absent points send no NaN gradient back.
    """

    def forward(self, y_pred, y_true):
        y_true = y_true.to(y_pred.dtype).reshape(y_pred.shape)
        keep = ~torch.isnan(y_true)
        if not keep.any():
            # a batch whose targets are all absent: no error to learn from (the mean of an
            # empty selection would be NaN and poison the epoch's loss)
            return (y_pred.nan_to_num() * 0).sum()
        return nn.functional.mse_loss(y_pred[keep], y_true[keep])


#: largest magnitude the float32 networks accept: squares and sums of squares stay finite
_FLOAT32_SAFE = 1e15


def _training_int(est, name, minimum=1, also=()):
    """``est.<name>`` checked as an int >= ``minimum`` (or one of ``also``) before skorch uses it."""
    import numbers

    from sklearn.utils._param_validation import InvalidParameterError

    value = getattr(est, name)
    if (isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
            and (value >= minimum or value in also)):
        return
    extra = "".join(f" or {v}" for v in also)
    raise InvalidParameterError(f"The '{name}' parameter of {type(est).__name__} must be an int in the range "
                                f"[{minimum}, inf){extra}; got {value!r}.")


def _diverged():
    return ValueError("training diverged (non-finite weights); lower lr, or check X and y for extreme "
                      "values. The estimator is left as it was before fit.")


def _check_training_parameters(est):
    """The parameters skorch and the seeding use, checked with errors that name them (skorch
    and numpy failed with "'<=' not supported between 'float' and 'str'" or "'0' cannot be
    used to seed a numpy.random.RandomState instance")."""
    import numbers

    from sklearn.utils import check_random_state
    from sklearn.utils._param_validation import InvalidParameterError

    _training_int(est, "max_epochs")
    _training_int(est, "batch_size", also=(-1,))   # skorch: -1 is the whole data set
    lr = est.lr
    if not (isinstance(lr, numbers.Real) and not isinstance(lr, (bool, np.bool_))
            and np.isfinite(lr) and lr >= 0):
        raise InvalidParameterError(f"The 'lr' parameter of {type(est).__name__} must be a finite float "
                                    f">= 0; got {lr!r}.")
    seed = est.random_state
    try:
        if isinstance(seed, (bool, np.bool_)):
            raise ValueError
        check_random_state(seed)
    except (ValueError, TypeError):
        raise InvalidParameterError(
            f"The 'random_state' parameter of {type(est).__name__} must be an int in the range "
            f"[0, 2**32 - 1], a numpy RandomState or None; got {seed!r}.") from None
    _check_skorch_parameters(est)
    _check_monitors_have_split(est)
    if isinstance(est.module, (EquivariantModule, ImageInvariantModule)):
        kind = type(est.module).__name__
        raise ValueError(f"module is an instance of {kind}, but fit builds the module for the data's shape, "
                         f"so the instance's settings would be lost: pass the class (module={kind}) and its "
                         "settings as module__ parameters (module__group='O3', module__hidden=32).")


def _check_skorch_parameters(est):
    """skorch's own parameters checked with errors that name them: ``warm_start="no"`` and
    ``verbose="no"`` are truthy, so they warm-started and printed silently; ``optimizer``,
    ``criterion``, ``train_split`` and ``callbacks`` of the wrong kind failed inside skorch
    with "'str' object is not callable" or "'int' object has no attribute 'set_params'"."""
    import numbers

    from sklearn.utils._param_validation import InvalidParameterError
    from skorch.callbacks import Callback

    def refuse(name, expected):
        raise InvalidParameterError(f"The '{name}' parameter of {type(est).__name__} must be {expected}; "
                                    f"got {getattr(est, name)!r}.")

    # what skorch reads correctly passes: 0/1 for warm_start, any number >= 0 for verbose,
    # train_split=False (no split), callbacks that are not skorch's classes but act as them
    if not (isinstance(est.warm_start, (bool, np.bool_))
            or (isinstance(est.warm_start, numbers.Integral) and est.warm_start in (0, 1))):
        refuse("warm_start", "a bool")
    verbose = est.verbose
    if not isinstance(verbose, (numbers.Real, np.bool_)) or not verbose >= 0:
        refuse("verbose", "an int >= 0 or a bool")
    if est.module is not None and not callable(est.module):
        refuse("module", "a torch module class or instance, or None")
    if not callable(est.optimizer):
        refuse("optimizer", "a torch optimizer class (e.g. torch.optim.Adam)")
    if est.criterion is not None and not callable(est.criterion):
        refuse("criterion", "a torch loss class or instance (e.g. torch.nn.MSELoss), or None")
    if est.train_split not in (None, False) and not callable(est.train_split):
        refuse("train_split", "None or a callable such as skorch.dataset.ValidSplit(5)")
    callbacks = est.callbacks
    if callbacks is None or (isinstance(callbacks, str) and callbacks == "disable"):
        return
    if not isinstance(callbacks, (list, tuple)):
        refuse("callbacks", "None, 'disable' or a list of skorch callbacks or (name, callback) pairs")
    for item in callbacks:
        pair = isinstance(item, (tuple, list))
        name, cb = item if pair and len(item) == 2 else (None, item)
        # skorch's classes, or objects (classes) with the methods skorch calls on them
        ok = isinstance(cb, Callback) or (isinstance(cb, type) and issubclass(cb, Callback)) \
            or all(callable(getattr(cb, m, None)) for m in ("initialize", "set_params", "on_epoch_end"))
        if not ok or (pair and (len(item) != 2 or not isinstance(name, str))):
            raise InvalidParameterError(
                f"The 'callbacks' parameter of {type(est).__name__} must be a list of skorch callbacks "
                f"(instances or classes) or (name, callback) pairs; got the item {item!r}.")


def _check_monitors_have_split(est):
    """A callback that monitors a validation score (``EarlyStopping()``, ``Checkpoint()``,
    ``ReduceLROnPlateau`` on ``valid_loss``) with ``train_split=None`` would fail after the
    first epoch with skorch's ``KeyError: 'valid_loss'``: refused up front, naming the fix."""
    if est.train_split is not None:
        return
    for item in est.callbacks or ():
        name, callback = item if isinstance(item, tuple) and len(item) == 2 else (type(item).__name__, item)
        monitor = getattr(callback, "monitor", None)
        if isinstance(monitor, str) and monitor.startswith("valid_"):
            raise ValueError(f"callback {name} monitors {monitor!r}, but train_split=None (this estimator's "
                             "default) holds out no validation data, so nothing records it. Pass "
                             "train_split=skorch.dataset.ValidSplit(5), or monitor a training score "
                             "(monitor='train_loss').")


#: the module parameters ``fit`` derives from the data (``_EndToEndMixin._set_module_shape``)
_DERIVED_SHAPES = ("n_points", "n_outputs", "n_classes", "scalar_stats", "image_shape")


def _shape(y):
    """Shape of array-like ``y`` (``None`` for a DataFrame, or where it is ragged: ``fit``
    says so later)."""
    if is_dataframe(y):
        return None
    try:
        return np.shape(tensor_to_numpy(y))
    except (ValueError, TypeError):
        return None


def _position_slices(layout):
    return [layout.slice_of(f.name) for f in layout.fields if f.kind == "position"]


def _point_centres(X, layout):
    """``(n, d)`` float64 centroids of each sample's present points (0 for a sample without
    any), from the first position field; ``None`` where the layout has no position field."""
    slices = _position_slices(layout)
    if not slices or X.shape[1] % layout.width:
        return None
    P = np.asarray(X, dtype=np.float64).reshape(len(X), -1, layout.width)
    # points with a NaN coordinate are left out (absent ones; partial NaN is refused later,
    # naming the point, which the shift must not spread to the sample's other points)
    pos = P[..., slices[0]]
    present = np.isfinite(pos).all(axis=2)
    count = np.maximum(present.sum(axis=1), 1)[:, None]
    pos = np.where(present[..., None], pos, 0.0)
    return (pos / count[:, None]).sum(axis=1)   # divided first: no overflow in the sum


def _shifted(X, layout, shift):
    """``X`` (flat, float64 where shifted) with ``shift`` ``(n, d)`` subtracted from every
    position field of each point; the caller's array is not modified."""
    slices = _position_slices(layout)
    if not slices or X.shape[1] % layout.width or len(X) != len(shift):
        return X   # shapes that do not fit are refused after this, naming them
    P = np.array(X, dtype=np.float64).reshape(len(X), -1, layout.width)
    for sl in slices:
        P[..., sl] -= shift[:, None, :]
    return P.reshape(len(X), -1)


class _EndToEndMixin(InterruptRaisingMixin):
    """Input checks, seeding, thread limits and interrupt safety shared by both estimators."""

    def _as_float32(self, X, name, layout, categories=None, return_categories=False, shift=None,
                    centre=None):
        """``X`` checked and as float32 (flat). Categorical fields of ``layout`` are encoded with
        ``categories`` (those of ``fit``), learned from ``X`` when ``None``; with
        ``return_categories`` the categories used come back too. ``shift`` (``(n, d)``)
        is subtracted from the position fields in float64 before the cast; with ``centre``
        (True or False) the result comes back as ``(result, centroids or None)``, and True
        subtracts each sample's centroid (see :meth:`_centres_inputs`)."""
        if scipy.sparse.issparse(X):
            raise TypeError(f"{name} is a sparse matrix; pass a dense array of shape (n_samples, "
                            "n_points * width) (point coordinates are dense).")
        X = tensor_to_numpy(X)
        dtype = getattr(X, "dtype", None)
        if dtype is not None and np.dtype(dtype).kind == "c":
            raise ValueError(f"Complex data not supported; {name} must be real, got dtype {dtype}.")
        # None, numeric strings and objects, 2-D/3-D shapes and zero samples as everywhere
        X, ndim, lead_shape, categories = _coerce_full(X, layout, name, categories)
        if (lead_shape is not None and getattr(layout, "kind", None) == "points"
                and tuple(lead_shape[1:]) != (layout.width,)):
            # flattening would read the rows as other points
            raise ValueError(f"3-D {name} must have shape (n_samples, n_points, {layout.width}) for this "
                             f"layout; got shape (n_samples,) + {tuple(lead_shape)}.")
        if not isinstance(X, np.ndarray):
            # numeric DataFrames, pandas' nullable dtypes (Float64, Int64: NA becomes NaN) too
            X = check_array(X, dtype=(np.float64, np.float32), ensure_all_finite=False, input_name=name)
        X = np.asarray(X)
        if ndim == 2 and getattr(layout, "_order", None) is not None:
            # PointLayout(columns=...): the modules read points point-major, so put the
            # named columns in that order (3-D input is point-major already)
            X = layout.to_working(X).reshape(len(X), -1)
        if X.dtype.kind == "c":
            raise ValueError(f"Complex data not supported; {name} must be real, got dtype {X.dtype}.")
        if X.ndim == 2 and X.shape[0] == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is "
                             f"required ({name}).")
        if X.ndim == 2 and X.shape[1] == 0:
            raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is "
                             f"required ({name}).")
        if np.isinf(X).any():
            raise ValueError(f"{name} contains infinity; only finite values (and NaN for whole absent "
                             "points) are accepted.")
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise TypeError(f"{name} must be numeric; got dtype {X.dtype}.")
        offsets = None
        if centre:
            shift = offsets = _point_centres(X, layout)
        if shift is not None:
            X = _shifted(X, layout, shift)
        finite = np.abs(X[np.isfinite(X)])
        peak = float(finite.max()) if finite.size else 0.0   # float: no float16 comparison
        if peak > _FLOAT32_SAFE:
            # the networks compute squared distances in float32: beyond this they overflow
            raise ValueError(f"{name} has entries of magnitude up to {peak:.3g}; the "
                             f"networks run in float32 and need |{name}| <= {_FLOAT32_SAFE:.0e}. "
                             "Rescale the data (e.g. to unit scale) first.")
        out = (X.astype(np.float32), categories) if return_categories else X.astype(np.float32)
        return out if centre is None else (out, offsets)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # all-NaN rows mark absent points
        tags.input_tags.three_d_array = True   # (n_samples, n_points, width) is read as such
        return tags

    def _layout(self):
        params = self.get_params()
        n_dims = module_positive_int(params.get("module__n_dims", 3), "n_dims")
        return as_layout(params.get("module__layout"), PointLayout(n_dims))

    def _reading_layout(self, X, fitted=True):
        """The layout that reads ``X``: for a DataFrame whose column names name the points
        of the module's layout (``x0..x3, y0..y3``, ``p0_x``...), the same fields read by
        name, as every other estimator reads them; else the module's layout (flat). With
        ``fitted``, the layout ``fit`` read with is the base (``reading_layout_``): an array
        after a fit on named columns is read by position in those columns' order, as
        scikit-learn reads arrays after a DataFrame fit, not as point-major coordinates."""
        layout = self.__dict__.get("reading_layout_") if fitted else None
        if layout is None:   # fit itself, or a model pickled before it was kept
            layout = self._layout()
        return named_point_layout(layout, X) or layout

    def _check_X(self, X, layout, categories=None):
        """Training point sets: ``(X, categories, scalar_stats, centroids)`` — flat float32
        (centred where :meth:`_centres_inputs`), the categories of the layout's categorical
        fields (``None`` without any), the statistics of its scalar fields (``None`` without
        any) that the frame network standardises and embeds them with
        (:func:`~skcanon.nn._points.scalar_statistics`), and the centroids subtracted
        (``None``: not centred)."""
        if layout.kind != "points":
            raise TypeError(f"module__layout must be a PointLayout (or an ImageLayout for "
                            f"EndToEndEquivariantClassifier); got {layout!r}.")
        (X, categories), offsets = self._as_float32(X, "X", layout, categories, return_categories=True,
                                                    centre=self._centres_inputs(layout))
        if X.shape[1] % layout.width:
            raise ValueError(f"X has {X.shape[1]} columns, not a multiple of the {layout.width} columns per "
                             f"point of module__layout ({layout!r}).")
        P = X.reshape(X.shape[0], -1, layout.width)
        layout.check_absent_rows(P, "X")
        has_scalars = any(f.kind == "scalar" for f in layout.fields)
        return X, categories, scalar_statistics(P, layout) if has_scalars else None, offsets

    def _module(self):
        """``module``, with ``None`` read as this estimator's default module class."""
        return self._DEFAULT_MODULE if self.module is None else self.module

    def initialize_module(self):
        # skorch's, with module=None read as the default
        self.module_ = self.initialized_instance(self._module(), self.get_params_for("module"))
        return self

    def initialize_criterion(self):
        # skorch's, with criterion=None read as the default
        criterion = self._DEFAULT_CRITERION if self.criterion is None else self.criterion
        self.criterion_ = self.initialized_instance(criterion, self.get_params_for("criterion"))
        return self

    def _own_module(self):
        """Whether the module is this package's (class or instance), whose frames and
        parameters the estimator knows."""
        module = self._module()
        return (isinstance(module, type) and issubclass(module, EquivariantModule)) \
            or isinstance(module, EquivariantModule)

    def _centres_inputs(self, layout):
        """Whether the point sets are centred (in float64) before the cast to float32: for
        this package's modules whose frames are translation-equivariant (``learned``,
        ``anchored``, ``symmetrize`` under a group with translations) the model is unchanged
        in exact arithmetic, and float32 keeps the sample's shape instead of its offset (at an
        offset of 1e6 the cast alone moved predictions by up to 7 for a spread of 3)."""
        if not self._own_module() or layout.kind != "points":
            return False
        params = self.get_params()
        if params.get("module__frame", "learned") not in ("learned", "anchored", "symmetrize"):
            return False
        try:
            return bool(get_group(params.get("module__group", "SE3")).translates)
        except (ValueError, TypeError):
            return False   # the module refuses the group with its own message

    def set_params(self, **params):
        # the statistics describe the fields of the layout they were computed for; a new
        # layout drops them (skorch rebuilds the module at once; fit computes new ones)
        if getattr(self, "initialized_", False):
            # values it has already (set_params(**get_params()), a grid that repeats them)
            # change nothing: skorch would rebuild the module (and criterion, optimizer)
            # from them all the same
            current = {**self.get_params(deep=False), **{f"module__{k}": v for k, v in self._derived().items()}}
            params = {k: v for k, v in params.items() if not (k in current and _same_value(current[k], v))}
        if "module__layout" in params and "module__scalar_stats" not in params:
            params["module__scalar_stats"] = None
            self._derived().pop("scalar_stats", None)
        module_changes = any(k == "module" or k.startswith("module__") for k in params)
        if getattr(self, "initialized_", False) and module_changes:
            # skorch would rebuild the module at once, from the new values and the shapes of
            # the last fit (refusing valid settings such as another backbone; a new module
            # class left an untrained network that predicted as if fitted); the trained
            # module is gone either way, so the estimator is unfitted and fit builds it
            self.__dict__["initialized_"] = False
        if getattr(self, "initialized_", False) and "optimizer" in params:
            # skorch's set_params has no branch for another optimizer on an initialized net
            # ("Something went wrong, please open an issue"): a new one over the trained weights
            self.__dict__["optimizer"] = optimizer = params.pop("optimizer")
            # its options are stored for it (skorch would apply them to the old optimizer's
            # groups alone, as "virtual" parameters, and the new one would lose them)
            vars(self).update({k: params.pop(k) for k in list(params) if k.startswith("optimizer__")})
            super().set_params(**params)
            if callable(optimizer):          # else fit refuses it by name
                self._initialize_optimizer()
            return self
        return super().set_params(**params)

    def _continues(self):
        """Whether this ``fit`` trains the fitted module further (``warm_start=True``)."""
        return bool(getattr(self, "warm_start", False)) and bool(getattr(self, "initialized_", False)) \
            and isinstance(getattr(self, "module_", None), nn.Module)

    def _set_module_shape(self, **params):
        """Store what ``fit`` derived from the data for the module (``n_points``,
        ``n_outputs``, ``scalar_stats``...). Not through ``set_params``: on a fitted net skorch
        rebuilds the module there at once, drawing its weights from the caller's global torch
        RNG outside the seeded fit and discarding the module that ``warm_start`` trains
        further; skorch's ``fit`` builds the module from these values instead. A warm start
        keeps the module (and the scalar statistics it standardises with) and checks that the
        new data still fit it."""
        params = {k: v for k, v in params.items() if k in self._module_accepts(params)}
        if self._continues():
            fitted = self._derived()
            changed = [f"{k}: fitted {fitted.get(k)!r}, now {v!r}" for k, v in params.items()
                       if k != "scalar_stats" and fitted.get(k) != v]
            if changed:
                raise ValueError(f"warm_start=True trains the fitted module further, and the data no longer fit "
                                 f"it ({'; '.join(changed)}). Fix: pass data of the fitted shape, or set "
                                 "warm_start=False to train a new module.")
            return
        # kept apart from the parameters: get_params() stays what the caller set (scikit-learn's
        # contract), and clone() of a fitted estimator carries no shapes of the old data
        vars(self)["derived_module_params_"] = dict(params)

    def _derived(self):
        """The module parameters the last ``fit`` derived from the data (a model pickled
        before they were kept apart holds them as ``module__`` attributes)."""
        derived = self.__dict__.get("derived_module_params_")
        if derived is None:   # (not stored: an attribute ending in "_" marks a fitted estimator)
            derived = {k: self.__dict__[key] for k in _DERIVED_SHAPES if (key := f"module__{k}") in self.__dict__}
        return derived

    def _module_accepts(self, names):
        """Which of the shapes ``fit`` derives (``n_points``, ``n_outputs``, ``n_classes``,
        ``scalar_stats``, ``image_shape``) the module takes: all for this package's modules,
        those its constructor names (all with ``**kwargs``) for a module class of your own,
        none for an instance of your own (used as it is)."""
        module = self._module()
        if not isinstance(module, type):
            # skorch rebuilds an instance given module__ values, from its class with those
            # values alone: the instance's own settings would be lost, so it gets none
            return set()
        if issubclass(module, (EquivariantModule, ImageInvariantModule)):
            return set(names)
        cls = module
        try:
            accepted = inspect.signature(cls).parameters
        except (TypeError, ValueError):
            return set(names)
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
            return set(names)
        return {n for n in names if n in accepted}

    def get_params_for(self, prefix):
        params = super().get_params_for(prefix)
        if prefix == "module":
            params.update(self._derived())
            # shapes an earlier fit derived for another module (set_params(module=...) after
            # fit) go only where the module takes them
            derived = [k for k in _DERIVED_SHAPES if k in params]
            refused = set(derived) - self._module_accepts(derived)
            params = {k: v for k, v in params.items() if k not in refused}
        return params

    def _warm(self, fit):
        """Run ``fit()`` with ``warm_start=True`` (``partial_fit``)."""
        warm = self.__dict__.get("warm_start", False)
        self.__dict__["warm_start"] = True
        try:
            return fit()
        finally:
            self.__dict__["warm_start"] = warm

    def _fitted_categories(self):
        """The categories learned in ``fit`` (``None``: no categorical field, or a model
        pickled before they were kept)."""
        return self.__dict__.get("categories_")

    def _keep_fitted(self, **attributes):
        """Store what ``fit`` found about the data (``categories_``, ``feature_names_in_``);
        a ``None`` removes an attribute an earlier fit left."""
        for name, value in attributes.items():
            if value is None:
                self.__dict__.pop(name, None)
            else:
                self.__dict__[name] = value

    def _feature_names_for_fit(self, X):
        """The column names of a DataFrame ``X`` (None for arrays), kept by ``fit`` as
        ``feature_names_in_``; a warm start checks them against the fitted ones."""
        if self._continues():
            self._check_names(X)
        return _get_feature_names(X)

    def _check_names(self, X):
        # columns in another order would be read as other points: refused (scikit-learn's
        # rule and messages; a warning where only one of fit and X has names)
        if not is_dataset(X):
            _check_feature_names(self, X, reset=False)

    def _check_images(self, X, layout, shape=None):
        """Flat float32 images and their ``(C, H, W)`` (resolved from ``X``, or checked against
        ``shape``, the fitted one); 3-D ``(n, H, W)`` and 4-D ``(n, C, H, W)`` input too."""
        X = tensor_to_numpy(X)
        raw = X if getattr(X, "ndim", None) in (2, 3, 4) and hasattr(X, "shape") else None
        if raw is None and X is not None and not scipy.sparse.issparse(X):
            try:
                raw = np.asarray(X)
            except ValueError:
                raw = None   # ragged: _as_float32 says so
        if shape is not None:
            layout = ImageLayout(shape)
        flat = self._as_float32(X, "X", layout)
        resolved = layout.resolve(raw if raw is not None and raw.ndim in (2, 3, 4) else flat,
                                  param="module__layout")
        layout.check_absent_rows(flat, "X")
        return flat, resolved

    def __sklearn_is_fitted__(self):
        # set_params(module__...) on a fitted estimator unfits it (the module is rebuilt at
        # the next fit): check_is_fitted says so, as predict does
        return bool(getattr(self, "initialized_", False))

    def _check_fitted(self):
        if not getattr(self, "initialized_", False):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet; call fit first.")

    def _check_fitted_width(self, X):
        self._check_fitted()
        module = getattr(self, "module_", None)
        if isinstance(module, EquivariantModule):
            expected = module.n_points * module.layout.width
            if X.shape[1] != expected:
                raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                                 f"{expected} features as input: this model was fitted on {module.n_points} "
                                 f"points of {module.layout.width} columns.")

    def _check_points(self, X, layout):
        """Point sets to predict on, checked as ``fit`` checks them (after
        :meth:`_check_fitted_width`): NaN only as whole absent points. A point with some
        coordinates NaN would reach the networks (a learned frame's eigensolver fails, a
        symmetrized model returns numbers or NaN) instead of this ValueError naming ``X``."""
        if layout.kind == "points" and X.shape[1] % layout.width == 0:
            layout.check_absent_rows(X.reshape(X.shape[0], -1, layout.width), "X")
        return X

    def get_iterator(self, dataset, training=False):
        # numpy integers (a grid of np.arange values) as batch_size: torch's sampler takes
        # Python ints only; the parameter itself is left as the caller set it
        size = self.__dict__.get("batch_size")
        if not isinstance(size, np.integer):
            return super().get_iterator(dataset, training=training)
        self.__dict__["batch_size"] = int(size)
        try:
            return super().get_iterator(dataset, training=training)
        finally:
            self.__dict__["batch_size"] = size

    def _guarded_fit(self, fit, before):
        """Run skorch's ``fit`` seeded and under the thread limit; when it fails or is
        interrupted (Ctrl-C) put ``before`` back, so no half-built model looks fitted.

        skorch's ``fit`` builds a new module, criterion and optimizer but clears the history
        in place, so a shallow copy of the attributes plus a copy of the history keeps the
        previous fit intact (a deep copy with ``warm_start``, which trains the existing
        module in place).
        """
        check_default_dtype("The end-to-end estimators")
        random_state = getattr(self, "random_state", None)
        try:
            try:
                with limited_threads(getattr(self, "n_jobs", None)):
                    if random_state is None:
                        with unseeded():
                            result = fit()
                    else:
                        with seeded(seed_from(random_state), device=getattr(self, "device", None)):
                            result = fit()
            except torch.linalg.LinAlgError as exc:   # eigh of non-finite frames: diverged
                raise _diverged() from exc
            # a diverging run ends with non-finite weights and NaN predictions, silently
            module = getattr(self, "module_", None)
            if module is not None and not all(bool(torch.isfinite(p).all()) for p in module.parameters()):
                raise _diverged()
            return result
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _snapshot(self):
        if getattr(self, "warm_start", False) and getattr(self, "initialized_", False):
            return copy.deepcopy(self.__dict__)
        state = dict(self.__dict__)
        if state.get("history_") is not None:
            state["history_"] = copy.deepcopy(state["history_"])
        return state

    def _infer_guarded(self, method, X):
        check_default_dtype("The end-to-end estimators")
        with limited_threads(getattr(self, "n_jobs", None)):
            return method(X)


class EndToEndEquivariantRegressor(SkcanonEstimatorMixin, _EndToEndMixin, NeuralNetRegressor):
    """Train a canonicalization network and a torch backbone jointly (skorch).

    ``f(x) = h(x)·r(h(x)⁻¹·x)``: the frame network ``h`` (see
    :mod:`skcanon.nn._points`) and the backbone ``r`` (an MLP, or
    :class:`~skcanon.nn.MessagePassingBackbone` with ``module__backbone="message_passing"``)
    are trained end to end on the MSE of ``f``; predictions are exactly equivariant for
    O(d), SO(d), E(d), SE(d) (and for permutations of the points with the message-passing
    backbone). Hyper-parameters of the module are routed with ``module__`` prefixes
    (``module__group``, ``module__hidden``, ``module__backbone``,
    ``module__backbone_hidden``, ``module__backbone_layers``, ``module__target_kind``,
    ``module__layout`` for points with velocities or charges, ``module__frame`` for the
    identity or augmentation baselines or probabilistic symmetrization with
    ``module__n_samples``, ``module__n_samples_predict``, ``module__noise_scale``; see
    :class:`EquivariantModule`), so
    :class:`~sklearn.model_selection.GridSearchCV` reaches them; every other skorch
    parameter (``lr``, ``max_epochs``, ``batch_size``, ``device``, ``callbacks``,
    ``train_split``...) works as usual.

    Parameters
    ----------
    {skorch_parameters}
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, mini-batch order and augmentation inside ``fit`` (the
        caller's torch generator is left as it was); ``None`` uses torch's global generator.
    n_jobs : int or None, default=None
        Threads for torch, BLAS and OpenMP in ``fit`` and ``predict`` (``None``: one, so
        results do not depend on the machine or the worker count; ``-1``: every core).

    Attributes
    ----------
    categories_ : dict of str to ndarray
        Only for a ``module__layout`` with categorical fields: the categories of each such
        field seen in ``fit`` (sorted); ``predict`` encodes with them and refuses others.
    derived_module_params_ : dict
        The module parameters ``fit`` derived from the data (``n_points``, ``n_outputs`` or
        ``n_classes``, ``scalar_stats``, ``image_shape``: those the module takes), kept out of
        ``get_params()``.
    feature_names_in_ : ndarray of str
        Only when ``X`` in ``fit`` was a DataFrame: its column names, which prediction checks
        (columns in another order are refused).
    stabilizer_canonicalizer_ : CanonicalizerTransformer
        Only for the learned and anchored frames of this package's module: the ``pca``
        (``pca+sort`` with the message-passing backbone) canonicalizer that reads the
        stabilizers of symmetric samples (see the notes).

    Notes
    -----
    Ctrl-C during ``fit`` raises ``KeyboardInterrupt`` and puts the estimator back as it was
    before ``fit`` (skorch alone would keep the half-trained weights and return normally).
    ``y`` may contain NaN only as whole target points (``n_dims`` columns), e.g. the rows
    of absent input points with the message-passing backbone; the loss ignores them. Under a
    group that translates, a sample without any present point has no equivariant position
    target: with the learned, anchored or symmetrized frame and the MLP backbone, ``predict``
    refuses it, and ``fit`` and ``score`` do unless its targets are absent (NaN) too.

    **Symmetric inputs.** A sample fixed by group elements other than the identity (a
    planar cloud under O(3), a collinear one, a square whose points the message-passing
    backbone may exchange) has a frame only up to that stabilizer, and one frame gives one
    of several equally valid predictions. With the learned or anchored frame, ``predict``
    averages the prediction over the stabilizer, read as by
    :class:`~skcanon.EquivariantRegressor`; other samples keep theirs bit for bit.

    Examples
    --------
    >>> import numpy as np
    >>> from skcanon import EndToEndEquivariantRegressor
    >>> X = np.random.default_rng(0).normal(size=(32, 4 * 3))
    >>> model = EndToEndEquivariantRegressor(max_epochs=2, verbose=0).fit(X, 2 * X)
    >>> model.predict(X).shape
    (32, 12)
    """

    _DEFAULT_MODULE, _DEFAULT_CRITERION = EquivariantModule, MaskedMSELoss

    # the defaults are the classes themselves, so that get_params() returns what was passed
    def __init__(self, module=EquivariantModule, *args, criterion=MaskedMSELoss, max_epochs=50, lr=1e-3,
                 batch_size=64, train_split=None, verbose=0, random_state=None, n_jobs=None, **kwargs):
        kwargs.setdefault("optimizer", torch.optim.Adam)
        # stored as given (None too: clone checks that): resolved where the module is built
        super().__init__(module, *args, criterion=criterion, max_epochs=max_epochs,
                         lr=lr, batch_size=batch_size, train_split=train_split, verbose=verbose, **kwargs)
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # y holds the predicted points' coordinates: 2-D, one column per coordinate
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags

    def __setstate__(self, state):
        state.setdefault("n_jobs", None)  # pickled before n_jobs existed
        super().__setstate__(state)

    def partial_fit(self, X, y, **fit_params):
        """Train the fitted module further on ``(X, y)`` for ``max_epochs`` epochs (the first
        call fits a new module): :meth:`fit` with ``warm_start=True``, so the data must keep the
        fitted number of points and targets."""
        if "_routing_method" in fit_params:     # skorch's fit, training the module it built
            return super().partial_fit(X, y, **fit_params)
        return self._warm(lambda: self.fit(X, y, **fit_params))

    def fit(self, X, y, **fit_params):
        _refuse_sample_weight(self, fit_params)
        before = self._snapshot()
        _check_skorch_device(self.device)
        _check_training_parameters(self)
        layout = self._reading_layout(X, fitted=self._continues())
        if layout.kind != "points":
            raise TypeError(f"EndToEndEquivariantRegressor takes point sets: module__layout must be a "
                            f"PointLayout or None; got {layout!r} (images: EndToEndEquivariantClassifier).")
        names = self._feature_names_for_fit(X)
        X, categories, stats, centres = self._check_X(X, layout,
                                                      self._fitted_categories() if self._continues() else None)
        # targets given as (n_samples, n_target_points, n_dims) are predicted in that shape
        y_shape = _shape(y)
        target_ndim = 3 if y_shape is not None and len(y_shape) == 3 else None
        if self._continues():   # a warm start predicts in the shape of the first fit's y
            target_ndim = self.__dict__.get("target_ndim_")
        # a DataFrame of targets is read by its names, as X is; predict answers in its order
        target_order = point_major_order(layout.n_dims, y)
        if target_order is not None:
            y = np.asarray(y.to_numpy())[:, target_order]
        elif self._continues() and self.__dict__.get("target_order_") is not None \
                and y_shape is not None and y_shape[1:] == (len(self.target_order_),):
            # flat targets after a fit on named target columns come in those columns' order
            # (the order predict answers in): read as that fit read them (another width is
            # refused below, as the fitted module's)
            target_order = self.target_order_
            y = np.asarray(tensor_to_numpy(y))[:, target_order]
        y = self._as_float32(y, "y", PointLayout(layout.n_dims), shift=self._target_shift(centres))
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} samples but X has {X.shape[0]}; they must match.")
        d = layout.n_dims
        if y.shape[1] % d:
            raise ValueError(f"y must have n_target_points * {d} columns; got {y.shape[1]}.")
        if np.isinf(y).any():
            raise ValueError("y contains infinity; targets must be finite (NaN only as whole absent points).")
        if not np.isfinite(y).any():
            raise ValueError("y has no finite entry: every target point is absent (NaN), so there is "
                             "nothing to fit.")
        nan = np.isnan(y).reshape(y.shape[0], -1, d)
        if (nan.any(-1) & ~nan.all(-1)).any():
            raise ValueError(f"y contains NaN inside a target point; NaN is only allowed as a whole point "
                             f"({d} columns) marking an absent point, which the loss ignores.")
        n_points = X.shape[1] // layout.width
        if self.get_params().get("module__backbone", "mlp") == "message_passing" and y.shape[1] == n_points * d:
            # one output per point, NaN where the point is absent: its target must be absent too
            absent = np.isnan(X.reshape(len(X), n_points, layout.width)).all(-1)
            clash = np.argwhere(absent & ~nan.all(-1))
            if len(clash):
                i, j = clash[0]
                raise ValueError(f"y has a finite target at point {j} of sample {i}, which X marks absent "
                                 f"(an all-NaN row; {len(clash)} such point(s) in all). The message-passing "
                                 "backbone predicts nothing there: set those targets to NaN too.")
        self._check_samples_placed(X, layout, nan.all(-1).all(-1))
        self._set_module_shape(n_points=n_points, n_outputs=y.shape[1], scalar_stats=stats)

        def fit():
            # stored before training, so that a snapshot taken during it (a Checkpoint's
            # pickle) is a usable model; a failed fit puts everything back (_guarded_fit)
            self._keep_fitted(n_features_in_=X.shape[1], feature_names_in_=names,
                              categories_=categories, target_order_=target_order, reading_layout_=layout,
                              target_ndim_=target_ndim,
                              stabilizer_canonicalizer_=self._stabilizer_stand_in(X))
            NeuralNetRegressor.fit(self, X, y, **fit_params)
            return self

        return self._guarded_fit(fit, before)

    def score(self, X, y, sample_weight=None):
        """R² of ``predict(X)`` against ``y``, over the finite target entries (NaN targets mark
        absent points, as in ``fit``): the mean over the target columns of each column's R²
        on its finite rows, which is scikit-learn's ``r2_score`` when every target is finite."""
        from sklearn.metrics import r2_score
        from sklearn.utils.validation import _check_sample_weight

        # samples whose targets are all absent are ignored by the score, as by fit's loss: one
        # without any present point is accepted then (predict alone refuses it)
        pred = np.asarray(self._predict(X, absent_targets=_all_nan_rows(y)), dtype=np.float64)
        pred = pred.reshape(pred.shape[0], -1)
        if is_dataframe(y) and names_points(self._layout().n_dims, y):
            # a DataFrame of targets named by points is read by its names, as fit reads it:
            # both point-major (other names: read in their order, as an array)
            order = point_major_order(self._layout().n_dims, y)
            y = y.to_numpy() if order is None else np.asarray(y.to_numpy())[:, order]
            fitted = self.__dict__.get("target_order_")
            pred = pred if fitted is None else pred[:, fitted]
        y = np.asarray(self._as_float32(y, "y", PointLayout(self._layout().n_dims)), dtype=np.float64)
        if y.shape != pred.shape:
            raise ValueError(f"y must have shape {pred.shape} (one row of {pred.shape[1]} targets per "
                             f"sample of X, as in fit); got {y.shape}.")
        clash = np.argwhere(np.isnan(pred) & np.isfinite(y))
        if len(clash):
            # refused as fit refuses it, not as r2_score's bare "Input contains NaN"
            i, k = clash[0]
            raise ValueError(f"y has a finite target in column {k} of sample {i}, where the model predicts "
                             f"NaN (a point that X marks absent, with the message-passing backbone; "
                             f"{len(clash)} such entries in all): set those targets to NaN too, as fit "
                             "requires.")
        w = None if sample_weight is None else _check_sample_weight(sample_weight, y)
        scores = []
        for k in range(y.shape[1]):
            rows = np.isfinite(y[:, k])
            if rows.sum() >= 2:
                scores.append(r2_score(y[rows, k], pred[rows, k], sample_weight=None if w is None else w[rows]))
        if not scores:
            raise ValueError("y has no target column with at least 2 finite entries to score.")
        return float(np.mean(scores))

    def predict(self, X):
        return self._predict(X)

    def _predict(self, X, absent_targets=None):
        """``predict``; ``absent_targets`` (``score``): samples whose targets are all NaN, which
        may have no present point (see :meth:`_check_samples_placed`)."""
        if is_dataset(X):     # skorch's scoring callbacks in fit: the checked training data
            return self._infer_guarded(super().predict_proba, X)
        self._check_fitted()
        self._check_names(X)
        layout = self._reading_layout(X)
        X, centres = self._as_float32(X, "X", layout, self._fitted_categories(),
                                      centre=self._centres_inputs(layout))
        self._check_fitted_width(X)
        self._check_points(X, layout)
        if absent_targets is not None and len(absent_targets) != len(X):
            absent_targets = None      # score refuses the mismatch with its own message
        self._check_samples_placed(X, layout, absent_targets)
        # skorch's predict of a regressor is its predict_proba: the module's output, moved
        # back by the centroids in float64 where X was centred
        out = np.asarray(self._infer_guarded(super().predict_proba, X), dtype=np.float64)
        heuristic = self.__dict__.get("stabilizer_canonicalizer_")   # None: fitted before it existed
        if heuristic is not None:
            out = self._averaged_over_stabilizers(heuristic, X, out)
        shift = self._target_shift(centres)
        if shift is not None and out.shape[1] % shift.shape[1] == 0:
            out = (out.reshape(len(out), -1, shift.shape[1]) + shift[:, None, :]).reshape(len(out), -1)
        if self.__dict__.get("target_ndim_") == 3:
            return out.reshape(len(out), -1, layout.n_dims)
        return in_caller_order(out, self.__dict__.get("target_order_"))

    def _check_samples_placed(self, X, layout, absent_targets=None):
        """Refuse samples without any present point where the model is meant to be
        equivariant (:meth:`_centres_inputs`), under a group that translates, for position
        targets from the ``"mlp"`` backbone (the message-passing one predicts NaN there):
        every translation leaves such a sample unchanged but moves its target, so no answer
        is equivariant (the MLP answered zeros after the stabilizer average, or whatever it
        learned). ``absent_targets`` (``fit``, ``score``): samples whose targets are all NaN,
        which the loss and the score ignore, are accepted."""
        params = self.get_params()
        if (not self._centres_inputs(layout) or params.get("module__target_kind", "position") != "position"
                or params.get("module__backbone", "mlp") != "mlp"):
            return
        from ._validation import check_samples_placed

        P = X if absent_targets is None else np.where(absent_targets[:, None], 0.0, X)
        check_samples_placed(P, get_group(params.get("module__group", "SE3")),
                             PointLayout(layout.n_dims, fields=[("y", "position")]))

    def _stabilizer_stand_in(self, X):
        """The heuristic that reads the stabilizers of symmetric samples ``X`` (flat, in the
        module's layout: named columns are in point order by now; see
        :mod:`skcanon._stabilizers`), where the module is one of this package's with a frame
        that canonicalizes exactly (``"learned"``, ``"anchored"``) under a group that rotates:
        ``group × S_n`` with the message-passing backbone (the model is permutation-equivariant
        too), else ``group``. None otherwise (another module, the baselines, symmetrization:
        equivariant in expectation only)."""
        params = self.get_params()
        if not self._own_module() or params.get("module__frame", "learned") not in ("learned", "anchored"):
            return None
        try:
            group = get_group(params.get("module__group", "SE3"))
            if params.get("module__backbone", "mlp") == "message_passing":
                group = get_group(f"{group.name}xS_n")
        except (TypeError, ValueError):
            return None
        layout = self._layout()
        # X is point-major by now: a layout that names columns (PointLayout(columns=...))
        # would reorder it a second time, and symmetric samples were averaged over the
        # stabilizer of another point set (0.45 off equivariance for a planar cloud)
        return heuristic_stand_in(group, PointLayout(layout.n_dims, layout.fields), X)

    def _averaged_over_stabilizers(self, heuristic, X, out):
        """The predictions ``out`` (flat, float64) of the samples ``X`` (flat float32, as the
        module read them) averaged over the stabilizer of those with a symmetry of their own:
        one frame gives one of several equally valid answers there (a planar cloud under O(3)
        got vectors out of its plane); every other sample keeps its prediction bit for bit."""
        P = heuristic.layout_.to_working(X)
        forms, frames = heuristic._canonicalize(X, True, reporter=self, working=(P, 2))
        kind = self.get_params().get("module__target_kind", "position")
        target_layout = PointLayout(heuristic.layout_.n_dims,
                                    fields=[("pos" if kind == "position" else "vec", kind)])
        # NaN rows (absent points of the message-passing backbone) stay NaN: a sample without
        # any present point is fixed by every rotation, and its average came back as zeros
        absent = np.isnan(out)
        Y = average_over_stabilizers(symmetry_plan(heuristic), heuristic, P, forms, frames,
                                     target_layout.to_working(out), target_layout)
        return np.where(absent, np.nan, target_layout.from_working(Y, 2))

    def _target_shift(self, centres):
        """The centroids that position targets move by (``None``: vector targets, or X was
        not centred)."""
        if centres is None or self.get_params().get("module__target_kind", "position") != "position":
            return None
        return centres

    def predict_proba(self, X):
        """skorch's raw module output, which for this regressor is :meth:`predict` (``X``
        checked and read the same way)."""
        if is_dataset(X):     # skorch's own calls, on the checked training data
            return self._infer_guarded(super().predict_proba, X)
        return self.predict(X)


def _all_nan_rows(y):
    """Samples (rows) of ``y`` whose targets are all NaN, or None where ``y`` is not numeric
    (``score`` then refuses it with its own message)."""
    try:
        values = np.asarray(y.to_numpy() if is_dataframe(y) and hasattr(y, "to_numpy") else y, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if values.ndim == 0 or len(values) == 0:
        return None
    return np.isnan(values.reshape(len(values), -1)).all(axis=1)


def _checked_classes(classes):
    """The classifier's ``classes`` as a 1-D array of distinct labels: a repeated label got
    an output column of its own that no sample trains, and a string or a nested list failed
    later as "y contains labels not in classes" or "only one class"."""
    labels = None if isinstance(classes, str) else np.asarray(classes)
    if labels is None or labels.ndim != 1:
        raise ValueError(f"classes must be a 1-D list of the class labels (e.g. [0, 1] or ['a', 'b']); "
                         f"got {classes!r}.")
    try:
        distinct = len(np.unique(labels))
    except TypeError:
        raise ValueError(f"classes must hold labels of one kind (numbers or strings); "
                         f"got {classes!r}.") from None
    if distinct != len(labels):
        raise ValueError(f"classes has repeated labels; each class must be listed once; got {classes!r}.")
    return labels


# classes_ while the classifier's fit runs; the trailing "_" keeps it out of get_params
_CODES_IN_FIT = "_codes_in_fit_"


class EndToEndEquivariantClassifier(SkcanonEstimatorMixin, _EndToEndMixin, NeuralNetClassifier):
    """Train a canonicalization network and a torch classifier jointly (skorch).

    ``f(x) = r(h(x)⁻¹·x)``: the frame network ``h`` canonicalizes each sample, the backbone
    ``r`` (an MLP, or :class:`~skcanon.nn.MessagePassingBackbone` followed by a mean over the
    points with ``module__backbone="message_passing"``) reads the canonical form, and both
    are trained on the cross-entropy of the class scores (Kaba et al., ICML 2023). Scores
    and predictions are invariant for O(d), SO(d), E(d), SE(d) (and for permutations of the
    points with the message-passing backbone). With ``module__layout=ImageLayout(...)`` (or
    ``"image"``) and ``module__group`` C_n, D_n or ``"SO2"`` it classifies images instead:
    the image frame network and a CNN (:class:`~skcanon.nn.ConvBackbone`, or your own
    torch module through ``module__backbone``) trained jointly; see
    :class:`~skcanon._end_to_end_images.ImageInvariantModule`. Hyper-parameters of the module are routed
    with ``module__`` prefixes (``module__group``, ``module__hidden``, ``module__backbone``,
    ``module__backbone_hidden``, ``module__backbone_layers``, ``module__layout``,
    ``module__frame``, and for ``module__frame="symmetrize"`` ``module__n_samples``,
    ``module__n_samples_predict``, ``module__noise_scale``; see :class:`InvariantModule`), so
    :class:`~sklearn.model_selection.GridSearchCV` reaches them; every other skorch
    parameter (``lr``, ``max_epochs``, ``batch_size``, ``device``, ``callbacks``,
    ``train_split``...) works as usual.

    Parameters
    ----------
    {skorch_parameters}
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, mini-batch order and augmentation inside ``fit`` (the
        caller's torch generator is left as it was); ``None`` uses torch's global generator.
    n_jobs : int or None, default=None
        Threads for torch, BLAS and OpenMP in ``fit`` and prediction (``None``: one).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit`` (any labels: ints, strings...); ``predict`` returns
        them and the columns of ``predict_proba`` follow their order.
    categories_ : dict of str to ndarray
        Only for a ``module__layout`` with categorical fields: the categories of each such
        field seen in ``fit`` (sorted); prediction encodes with them and refuses others.
    derived_module_params_ : dict
        The module parameters ``fit`` derived from the data (``n_points``, ``n_outputs`` or
        ``n_classes``, ``scalar_stats``, ``image_shape``: those the module takes), kept out of
        ``get_params()``.
    feature_names_in_ : ndarray of str
        Only when ``X`` in ``fit`` was a DataFrame: its column names, which prediction checks
        (columns in another order are refused).

    Notes
    -----
    Ctrl-C during ``fit`` raises ``KeyboardInterrupt`` and puts the estimator back as it was
    before ``fit``. A model fitted on CUDA loads and predicts on a CPU-only machine (skorch
    maps the weights).

    Examples
    --------
    >>> import numpy as np
    >>> from skcanon._end_to_end import EndToEndEquivariantClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(32, 4 * 3)) * np.tile([3.0, 2.0, 1.0], 4)
    >>> y = np.where(np.arange(32) % 2, "long", "short")
    >>> model = EndToEndEquivariantClassifier(max_epochs=2, random_state=0).fit(X, y)
    >>> model.predict_proba(X).shape, model.classes_.tolist()
    ((32, 2), ['long', 'short'])
    """

    _DEFAULT_MODULE, _DEFAULT_CRITERION = InvariantModule, nn.CrossEntropyLoss

    # the defaults are the classes themselves, so that get_params() returns what was passed
    def __init__(self, module=InvariantModule, *args, criterion=nn.CrossEntropyLoss, max_epochs=50, lr=1e-3,
                 batch_size=64, train_split=None, verbose=0, random_state=None, n_jobs=None, **kwargs):
        kwargs.setdefault("optimizer", torch.optim.Adam)
        # stored as given (None too: clone checks that): resolved where the module is built
        super().__init__(module, *args, criterion=criterion, max_epochs=max_epochs,
                         lr=lr, batch_size=batch_size, train_split=train_split, verbose=verbose, **kwargs)
        self.random_state = random_state
        self.n_jobs = n_jobs

    @property
    def _default_callbacks(self):
        # skorch's valid_acc would compare encoded labels with decoded predictions
        return [(name, cb) for name, cb in super()._default_callbacks if name != "valid_acc"]

    @property
    def classes_(self):
        fitting = self.__dict__.get(_CODES_IN_FIT)
        if fitting is not None:   # skorch's scoring callbacks score the class codes fit trains on
            return fitting
        if self.classes is not None:
            return np.asarray(self.classes)
        try:
            return self.__dict__["labels_"]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} is not fitted; it has no classes_ yet.") from None

    def initialize_module(self):
        """The module for the layout: :class:`InvariantModule` for point sets,
        :class:`~skcanon._end_to_end_images.ImageInvariantModule` for images (when ``module``
        is the default)."""
        kwargs = self.get_params_for("module")
        module = self._module()
        if module is InvariantModule and self._layout().kind == "image":
            module = ImageInvariantModule
        # what fit set for the other kind of input (a refit with another layout) does not apply
        stale = ("n_points", "scalar_stats") if module is ImageInvariantModule else ("image_shape",)
        for name in stale:
            kwargs.pop(name, None)
        self.module_ = self.initialized_instance(module, kwargs)
        return self

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train the fitted module further on ``(X, y)`` for ``max_epochs`` epochs (the first
        call fits a new module): :meth:`fit` with ``warm_start=True``. ``classes``: on the first
        call, every label the later calls may hold (default: the labels of this ``y``)."""
        if "_routing_method" in fit_params:     # skorch's fit, training the module it built
            return super().partial_fit(X, y, classes=classes, **fit_params)
        return self._warm(lambda: self._fit(X, y, classes, fit_params))

    def fit(self, X, y, **fit_params):
        return self._fit(X, y, None, fit_params)

    def _refuse_borderless_images(self, image_shape):
        """Interpolated turns of images with no interior pixel (2×2, 2×W) are refused before
        training, as the canonicalizers refuse them."""
        if not self._own_module():
            return
        try:
            group = get_group(self.get_params().get("module__group", "SE3"))
        except (ValueError, TypeError):
            return   # the module refuses the group with its own message
        if "image" in group.layout_kinds:
            refuse_borderless_image_action(group, image_shape, result="predictions")

    def _fit(self, X, y, classes, fit_params):
        _refuse_sample_weight(self, fit_params)
        before = self._snapshot()
        _check_skorch_device(self.device)
        _check_training_parameters(self)
        layout = self._reading_layout(X, fitted=self._continues())
        image_shape = categories = stats = None
        names = self._feature_names_for_fit(X)
        if layout.kind == "image":
            X, image_shape = self._check_images(X, layout)
            self._refuse_borderless_images(image_shape)
        else:
            X, categories, stats, _ = self._check_X(X, layout,
                                                    self._fitted_categories() if self._continues() else None)
        if y is None:
            raise ValueError("EndToEndEquivariantClassifier requires y to be passed, but the target y "
                             "is None.")
        if scipy.sparse.issparse(y):
            raise TypeError("y is a sparse matrix; pass a 1-D array of class labels.")
        y = np.asarray(tensor_to_numpy(y))
        if y.ndim == 2 and y.shape[1] == 1:
            import warnings

            from sklearn.exceptions import DataConversionWarning

            warnings.warn("A column-vector y was passed when a 1d array was expected; it is raveled.",
                          DataConversionWarning, stacklevel=2)
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D (one class label per sample); got shape {y.shape}.")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} samples but X has {X.shape[0]}; they must match.")
        from sklearn.utils.multiclass import type_of_target

        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity; class labels must be finite.")
        if y.dtype == object:
            check_object_labels(y)   # None or mixed types: numpy's bare TypeError when sorting
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"Unknown label type: {kind!r}; EndToEndEquivariantClassifier needs class "
                             "labels (for real-valued targets use EndToEndEquivariantRegressor).")
        if self.classes is not None:
            labels = _checked_classes(self.classes)
            unknown = ~np.isin(y, labels)
            if unknown.any():
                raise ValueError(f"y contains labels not in classes: {np.unique(y[unknown])[:5]!r}.")
        elif self._continues():
            labels = self.labels_                # a warm start keeps the fitted classes
            unknown = ~np.isin(y, labels)
            if unknown.any():
                raise ValueError(f"y contains labels the fitted model does not know: {np.unique(y[unknown])[:5]!r} "
                                 f"(known: {labels[:10]!r}). Fix: name every label up front, with classes=[...] in "
                                 "the first partial_fit or the constructor, or set warm_start=False to train "
                                 "a new module.")
        elif classes is not None:
            labels = np.unique(np.asarray(classes))
            unknown = ~np.isin(y, labels)
            if unknown.any():
                raise ValueError(f"y contains labels not in classes: {np.unique(y[unknown])[:5]!r}.")
        else:
            labels = np.unique(y)
        if len(labels) < 2:
            raise ValueError(f"This solver needs samples of at least 2 classes in the data, but the data "
                             f"contains only one class: {labels[0]!r}.")
        codes = np.searchsorted(labels, y) if self.classes is None else \
            np.array([np.flatnonzero(labels == v)[0] for v in y])
        if image_shape is not None:
            self._set_module_shape(image_shape=image_shape, n_classes=len(labels))
        else:
            self._set_module_shape(n_points=X.shape[1] // layout.width, n_classes=len(labels), scalar_stats=stats)

        def fit():
            self.__dict__[_CODES_IN_FIT] = np.arange(len(labels))
            try:
                # stored before training: see the regressor's fit
                self._keep_fitted(labels_=labels, n_features_in_=X.shape[1], feature_names_in_=names,
                                  categories_=categories, reading_layout_=layout)
                NeuralNetClassifier.fit(self, X, codes.astype(np.int64), **fit_params)
            finally:
                del self.__dict__[_CODES_IN_FIT]
            return self

        return self._guarded_fit(fit, before)

    def predict_proba(self, X):
        self._check_fitted()
        if is_dataset(X):     # skorch's scoring callbacks in fit: the checked training data
            return self._infer_guarded(super().predict_proba, X)
        self._check_names(X)
        module = self.module_
        if isinstance(module, ImageInvariantModule):
            X = self._check_images(X, module.layout, module.image_shape)[0]
        else:
            layout = self._reading_layout(X)
            X, _ = self._as_float32(X, "X", layout, self._fitted_categories(),
                                    centre=self._centres_inputs(layout))
            self._check_fitted_width(X)
            self._check_points(X, layout)
        return self._infer_guarded(super().predict_proba, X)

    def predict(self, X):
        # classes_ is the class codes while fit runs (skorch's scoring callbacks), labels after
        proba = self.predict_proba(X)       # first: it says when the model is not fitted
        return self.classes_[np.argmax(proba, axis=1)]

    def __getstate__(self):
        # a snapshot taken during fit (a Checkpoint's pickle, a deepcopy) is a fitted model
        state = super().__getstate__()
        state.pop(_CODES_IN_FIT, None)
        return state


_fill_skorch_parameters(EndToEndEquivariantRegressor, "Mean squared error over the finite target points")
_fill_skorch_parameters(EndToEndEquivariantClassifier, "Cross-entropy of the class scores")
