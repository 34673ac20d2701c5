"""Training glue: the one module of skcanon that talks to skorch.

:func:`train_frame_network` trains any :class:`~skcanon.nn.FrameNetwork` with one of the
objectives of learned canonicalization:

``"supervised"``
    End to end with a small MLP task head on the (soft) canonical inputs; classification
    (cross-entropy) or regression (MSE on standardized targets) inferred from ``y`` with
    :func:`sklearn.utils.multiclass.type_of_target` (Kaba et al., ICML 2023).
``"prior"``
    The identity prior of Mondal et al. (NeurIPS 2023): the training data are assumed
    upright, so the network is pushed to pick the identity on them. Image networks get
    it on randomly moved copies (the frame of ``g·x`` should be ``g``), which keeps them
    equivariant under interpolated rotations.
``"supervised+prior"``
    Both, the prior weighted by ``prior_weight``.
``"align"``
    No ``y``: canonical forms of the training set are pulled towards a learned template
    (generalized Procrustes with a learned frame function).
``"auto"``
    ``"supervised"`` when ``y`` is given, ``"align"`` otherwise.
"""

from __future__ import annotations

import contextlib

import numpy as np
import scipy.sparse
import torch
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target
from skorch import NeuralNet, NeuralNetRegressor
from torch import nn

from ._validation import _coerce
from .groups import EuclideanGroup, OrthogonalGroup, get_group
from .layouts import PointLayout

__all__ = ["resolve_device", "seed_from", "seeded", "train_frame_network", "resolve_objective",
           "EquivariantModule", "EndToEndEquivariantRegressor"]

OBJECTIVES = ("auto", "supervised", "prior", "supervised+prior", "align")


def resolve_device(device):
    """``"auto"`` → ``"cuda"`` when available, else ``"cpu"``; other strings pass through."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str):
        raise TypeError(f"device must be 'auto', 'cpu', 'cuda' or a torch device string; got {device!r}.")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; use 'auto' or 'cpu'.")
    return device


def seed_from(random_state):
    """An int seed drawn from ``random_state`` (int, RandomState or None)."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


@contextlib.contextmanager
def seeded(seed):
    """Seed torch's CPU generator inside the block and restore the caller's state after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def resolve_objective(objective, y):
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}; got {objective!r}.")
    if objective == "auto":
        return "supervised" if y is not None else "align"
    if objective.startswith("supervised") and y is None:
        raise ValueError(f"objective={objective!r} needs y; pass y to fit or use objective='align' "
                         "or 'prior'.")
    return objective


def _encode_target(y, n_samples):
    """``(y_tensor_array, n_outputs, task, info)`` for the supervised head."""
    y = np.asarray(y)
    if y.shape[0] != n_samples:
        raise ValueError(f"y has {y.shape[0]} entries but X has {n_samples} samples; they must match.")
    kind = type_of_target(y)
    if kind in ("binary", "multiclass"):
        classes, codes = np.unique(y, return_inverse=True)
        return codes.astype(np.int64).ravel(), len(classes), "classification", {"classes": classes}
    if kind in ("continuous", "continuous-multioutput", "multilabel-indicator", "multiclass-multioutput"):
        Y = np.asarray(y, dtype=np.float64).reshape(n_samples, -1)
        if not np.isfinite(Y).all():
            raise ValueError("y contains NaN or infinity; supervised training needs finite targets.")
        mu, sd = Y.mean(0), Y.std(0)
        sd = np.where(sd > 0, sd, 1.0)
        return ((Y - mu) / sd).astype(np.float32), Y.shape[1], "regression", {"mean": mu, "std": sd}
    raise ValueError(f"Unknown label type: y of type {kind!r} is not supported; expected class labels or "
                     "real-valued targets.")


class _ObjectiveModule(nn.Module):
    """Frame network + whatever the objective trains beside it (task head, template)."""

    def __init__(self, network, objective, in_shape, n_outputs, task, prior_weight, hidden, template):
        super().__init__()
        self.network = network
        self.objective = objective
        self.task = task
        self.prior_weight = float(prior_weight)
        n_in = int(np.prod(in_shape))
        self.head = None
        if objective.startswith("supervised"):
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(n_in, hidden), nn.ReLU(),
                                      nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_outputs))
        self.template = nn.Parameter(template) if template is not None else None

    def forward(self, x):
        if self.objective == "prior":  # the loss is the prior alone: no canonical pass needed
            return None, None, self._prior(x)
        canon = self.network.soft_canonicalize(x)
        present = ~torch.isnan(canon)
        canon0 = torch.where(present, canon, torch.zeros((), dtype=canon.dtype, device=canon.device))
        out = self.head(canon0) if self.head is not None else canon0
        prior = self._prior(x) if "prior" in self.objective else None
        return out, present, prior

    def _prior(self, x):
        """The identity prior; on moved copies ``(g·x, g)`` when the network offers them.

        Image networks act by interpolation for most angles: on moved copies the prior asks
        for ``h(g·x) = g``, the identity prior under equivariance, so the network cannot
        meet it by recognising the untouched pixel grid. Validation (eval mode) moves by
        fixed elements, so its loss is deterministic.
        """
        moves = getattr(self.network, "moves", None)
        if moves is None:
            return self.network.prior_loss(x)
        moved, elements = moves(x, random=self.training)
        return self.network.prior_loss(moved, elements=elements)

    def loss(self, outputs, y):
        out, present, prior = outputs
        if self.objective == "prior":
            return prior
        if self.objective == "align":
            w = present.to(out.dtype)
            return (((out - self.template) ** 2) * w).sum() / w.sum().clamp_min(1.0)
        if self.task == "classification":
            loss = nn.functional.cross_entropy(out, y.long().reshape(-1))
        else:
            loss = nn.functional.mse_loss(out, y.to(out.dtype).reshape(out.shape))
        if prior is not None:
            loss = loss + self.prior_weight * prior
        return loss


class _ObjectiveNet(NeuralNet):
    """skorch net whose loss is computed by the objective module itself."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.module_.loss(y_pred, y_true)


def train_frame_network(network, P, y=None, *, objective="auto", prior_weight=1.0, hidden=64,
                        max_epochs=20, lr=1e-3, early_stopping=True, validation_fraction=0.1,
                        device="cpu", verbose=0, batch_size=4096, seed=0):
    """Train ``network`` in place on the working array ``P`` and return a summary.

    Parameters
    ----------
    network : FrameNetwork
    P : ndarray of shape (n_samples, ...)
        Training samples in the layout's working format (NaN rows = absent points).
    y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
    objective, prior_weight, hidden, max_epochs, lr, early_stopping, validation_fraction,
    device, verbose, batch_size
        See :class:`~skcanon.CanonicalizerTransformer`.
    seed : int
        Seeds the validation split and the torch generator (the caller seeds network
        construction with :func:`seeded`).

    Returns
    -------
    info : dict
        ``objective`` (resolved), ``task``, ``history`` (list of per-epoch dicts with
        ``epoch``, ``train_loss`` and ``valid_loss`` when validating) and ``target``
        (encoding of ``y``).
    """
    from skorch.callbacks import EarlyStopping
    from skorch.dataset import ValidSplit

    objective = resolve_objective(objective, y)
    n = P.shape[0]
    # Frame networks normalize each sample by its own scale, so dividing the whole training
    # set by a power of two changes nothing but keeps float32 in range (1e30 or 1e-30
    # inputs) and the task head well conditioned. Powers of two rescale exactly.
    X = np.array(np.asarray(P, dtype=np.float64) / _power_of_two_scale(P), dtype=np.float32)
    y_enc, n_out, task, target = None, 1, None, {}
    if objective.startswith("supervised"):
        y_enc, n_out, task, target = _encode_target(y, n)
    template = None
    if objective == "align":
        with torch.no_grad():
            first = network.soft_canonicalize(torch.as_tensor(X[: min(n, 256)]))
            template = torch.nan_to_num(first, nan=0.0).mean(0).detach().clone()
    with seeded(seed):  # the task head's initial weights
        module = _ObjectiveModule(network, objective, X.shape[1:], n_out, task, prior_weight, hidden,
                                  template)
    n_valid = int(np.floor(validation_fraction * n))
    validate = bool(early_stopping) and n_valid >= 2 and n - n_valid >= 2
    callbacks = []
    if validate:
        callbacks.append(("early_stopping", EarlyStopping(monitor="valid_loss", patience=5, load_best=True,
                                                          sink=print if verbose else _silent)))
    if verbose:
        try:
            import tqdm  # noqa: F401

            from skorch.callbacks import ProgressBar

            callbacks.append(("progress", ProgressBar(detect_notebook=False)))
        except ImportError:
            pass
    split = ValidSplit(validation_fraction, stratified=False, random_state=seed) if validate else None
    net = _ObjectiveNet(
        module,
        criterion=nn.MSELoss,  # unused: the objective module computes the loss
        optimizer=torch.optim.Adam,
        lr=lr,
        max_epochs=max_epochs,
        batch_size=int(min(batch_size or 128, 128)),
        train_split=split,
        callbacks=callbacks,
        iterator_train__shuffle=True,
        device=device,
        verbose=1 if verbose else 0,
    )
    # The CPU kernels used here are deterministic; torch.use_deterministic_algorithms is
    # not toggled because it imports torch._dynamo (seconds, hundreds of MB) on first use.
    with seeded(seed + 1):  # mini-batch order
        net.fit(X, y_enc)
    if not all(torch.isfinite(p).all() for p in network.parameters()):
        raise ValueError(
            "training the canonicalization network diverged (non-finite weights); lower lr, or check "
            "X for extreme values."
        )
    keys = ("epoch", "train_loss", "valid_loss")
    history = [{k: float(row[k]) for k in keys if k in row} for row in net.history]
    network.eval()
    return {"objective": objective, "task": task, "history": history, "target": target}


def _power_of_two_scale(P):
    """The power of two nearest to the root-mean-square of the finite entries of ``P``."""
    values = np.asarray(P, dtype=np.float64)
    finite = values[np.isfinite(values)]
    rms = float(np.sqrt(np.mean(finite**2))) if finite.size else 0.0
    return 2.0 ** round(np.log2(rms)) if rms > 0 else 1.0


def _silent(*args, **kwargs):
    pass


# -- end to end (Kaba et al.'s setting): frame network + backbone trained jointly -----------

FRAMES = ("learned", "identity", "augment")
BACKBONES = ("mlp", "message_passing")
TARGET_KINDS = ("position", "vector")


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"module__{name} must be a positive int; got {value!r}.")
    return int(value)


def _random_orthogonal(n, d, special, dtype, device):
    """``(n, d, d)`` Haar-random orthogonal matrices (rotations when ``special``), torch RNG."""
    A = torch.randn(n, d, d, dtype=dtype, device=device)
    Q, R = torch.linalg.qr(A)
    Q = Q * torch.sign(torch.diagonal(R, dim1=1, dim2=2))[:, None, :]   # QR sign fix: Haar measure
    if special:
        flip = torch.where(torch.linalg.det(Q) < 0, -1.0, 1.0).to(dtype)
        Q = torch.cat([Q[:, :, :-1], Q[:, :, -1:] * flip[:, None, None]], dim=-1)
    return Q


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
    frame : {"learned", "identity", "augment"}, default="learned"
        ``"learned"``: the frame network ``h`` (exactly equivariant). ``"identity"``:
        ``h(x) = e``, the plain backbone, e.g. as the regressor of
        :class:`~skcanon.EquivariantRegressor` behind a heuristic canonicalizer.
        ``"augment"``: data augmentation; while training, a random group element per
        sample (Haar rotation, Gaussian translation of the group's ``translation_scale``),
        so the loss is that of ``r`` on randomly moved inputs and targets; the identity at
        prediction (only approximately equivariant).
    """

    def __init__(self, group="SE3", n_dims=3, n_points=1, n_outputs=3, target_kind="position", hidden=64,
                 backbone_hidden=128, layout=None, backbone="mlp", backbone_layers=None, frame="learned"):
        super().__init__()
        self.group = get_group(group)
        if not isinstance(self.group, (OrthogonalGroup, EuclideanGroup)):
            raise ValueError(f"EndToEndEquivariantRegressor supports O(d), SO(d), E(d), SE(d); "
                             f"got {group!r}.")
        for name, value, allowed in (("frame", frame, FRAMES), ("backbone", backbone, BACKBONES),
                                     ("target_kind", target_kind, TARGET_KINDS)):
            if value not in allowed:
                raise ValueError(f"module__{name} must be one of {allowed}; got {value!r}.")
        self.layout = PointLayout(n_dims) if layout is None else layout
        if not isinstance(self.layout, PointLayout) or self.layout.kind != "points":
            raise TypeError(f"module__layout must be a PointLayout or None; got {layout!r}.")
        if self.layout.n_dims != n_dims:
            raise ValueError(f"module__layout has n_dims={self.layout.n_dims}, but module__n_dims={n_dims}.")
        self.target_layout = PointLayout(n_dims, fields=[("y", target_kind)])
        if n_outputs % n_dims:
            raise ValueError(f"y must have n_target_points * {n_dims} columns; got {n_outputs}.")
        self.n_points, self.n_dims, self.n_outputs = n_points, n_dims, n_outputs
        self.frame, self.backbone_kind = frame, backbone
        if backbone == "mlp" and backbone_layers not in (None, 2):
            raise ValueError(f"module__backbone_layers applies to backbone='message_passing' (the 'mlp' "
                             f"backbone has 2 hidden layers); got {backbone_layers!r}.")
        if backbone == "message_passing" and n_outputs != n_points * n_dims:
            raise ValueError(f"module__backbone='message_passing' predicts one target point per input point: "
                             f"y must have n_points * {n_dims} = {n_points * n_dims} columns; "
                             f"got {n_outputs}.")
        self.frame_net = None
        if frame == "learned":
            from .canonicalizers._learned import build_frame_network

            self.frame_net = build_frame_network(self.group, self.layout, hidden)
        if backbone == "mlp":
            self.backbone = nn.Sequential(nn.Linear(n_points * self.layout.width, backbone_hidden), nn.SiLU(),
                                          nn.Linear(backbone_hidden, backbone_hidden), nn.SiLU(),
                                          nn.Linear(backbone_hidden, n_outputs))
        else:
            from .nn._message_passing import MessagePassingBackbone

            n_layers = 3 if backbone_layers is None else _positive_int(backbone_layers, "backbone_layers")
            self.backbone = MessagePassingBackbone(self.layout, n_dims, _positive_int(backbone_hidden,
                                                                                      "backbone_hidden"),
                                                   n_layers)

    def _frame_parts(self, P):
        """Canonical input and the frame as ``(rotation or None, translation or None)``."""
        d = self.n_dims
        if self.frame == "learned":
            Pc, frames = self.frame_net.canonicalize(P)   # differentiable for continuous groups
            if isinstance(self.group, OrthogonalGroup):
                return Pc, frames, None
            return Pc, frames[:, :d, :d], frames[:, :d, d]
        if self.frame == "identity" or not self.training:
            return P, None, None
        from .groups._base import rotate_fields

        # augmentation: move each training sample by a random element g (canonical input g⁻¹·x)
        R = _random_orthogonal(P.shape[0], d, bool(self.group.special), P.dtype, P.device)
        t = None
        if isinstance(self.group, EuclideanGroup):
            t = torch.randn(P.shape[0], d, dtype=P.dtype, device=P.device) * self.group.translation_scale
        Rt = R.transpose(1, 2)
        shift = None if t is None else -torch.einsum("nij,nj->ni", Rt, t)
        return rotate_fields(Rt, P, self.layout, t=shift), R, t

    def forward(self, X):
        n = X.shape[0]
        P = X.reshape(n, self.n_points, self.layout.width)
        Pc, R, t = self._frame_parts(P)
        zero = torch.zeros((), dtype=Pc.dtype, device=Pc.device)
        absent = None
        if self.backbone_kind == "mlp":
            Pc = torch.where(torch.isnan(Pc), zero, Pc)
            Yc = self.backbone(Pc.reshape(n, -1)).reshape(n, -1, self.n_dims)
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
        return Y.reshape(n, -1)


class MaskedMSELoss(nn.Module):
    """Mean squared error over the finite target entries (NaN targets = absent points).

    Equal to :class:`torch.nn.MSELoss` when every target is finite. Entries are selected
    before subtracting, so NaN predictions at absent points send no NaN gradient back.
    """

    def forward(self, y_pred, y_true):
        y_true = y_true.to(y_pred.dtype).reshape(y_pred.shape)
        keep = ~torch.isnan(y_true)
        return nn.functional.mse_loss(y_pred[keep], y_true[keep])


#: largest magnitude the float32 networks accept: squares and sums of squares stay finite
_FLOAT32_SAFE = 1e15


class EndToEndEquivariantRegressor(NeuralNetRegressor):
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
    identity or augmentation baselines; see :class:`EquivariantModule`), so
    :class:`~sklearn.model_selection.GridSearchCV` reaches them; every other skorch
    parameter (``lr``, ``max_epochs``, ``batch_size``, ``device``, ``callbacks``,
    ``train_split``...) works as usual.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, mini-batch order and augmentation inside ``fit`` (the
        caller's torch generator is left as it was); ``None`` uses torch's global generator.

    Notes
    -----
    ``y`` may contain NaN only as whole target points (``n_dims`` columns), e.g. the rows
    of absent input points with the message-passing backbone; the loss ignores them.

    Examples
    --------
    >>> import numpy as np
    >>> from skcanon._regressor import EndToEndEquivariantRegressor
    >>> X = np.random.default_rng(0).normal(size=(32, 4 * 3))
    >>> model = EndToEndEquivariantRegressor(max_epochs=2, verbose=0).fit(X, 2 * X)
    >>> model.predict(X).shape
    (32, 12)
    """

    def __init__(self, module=None, *args, criterion=None, max_epochs=50, lr=1e-3, batch_size=64,
                 train_split=None, verbose=0, random_state=None, **kwargs):
        module = EquivariantModule if module is None else module
        kwargs.setdefault("optimizer", torch.optim.Adam)
        super().__init__(module, *args, criterion=criterion or MaskedMSELoss, max_epochs=max_epochs,
                         lr=lr, batch_size=batch_size, train_split=train_split, verbose=verbose, **kwargs)
        self.random_state = random_state

    def _as_float32(self, X, name, layout):
        if scipy.sparse.issparse(X):
            raise TypeError(f"{name} is a sparse matrix; pass a dense array of shape (n_samples, "
                            "n_points * width) (point coordinates are dense).")
        if np.iscomplexobj(X):
            raise TypeError(f"{name} must be real; got dtype {np.asarray(X).dtype}.")
        # None, numeric strings and objects, 2-D/3-D shapes and zero samples as everywhere
        X = np.asarray(_coerce(X, layout, name)[0])
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise TypeError(f"{name} must be numeric; got dtype {X.dtype}.")
        finite = np.abs(X[np.isfinite(X)])
        peak = finite.max() if finite.size else 0.0
        if peak > _FLOAT32_SAFE:
            # the networks compute squared distances in float32: beyond this they overflow
            raise ValueError(f"{name} has entries of magnitude up to {peak:.3g}; the "
                             f"networks run in float32 and need |{name}| <= {_FLOAT32_SAFE:.0e}. "
                             "Rescale the data (e.g. to unit scale) first.")
        return X.astype(np.float32)

    def _layout(self):
        params = self.get_params()
        return params.get("module__layout") or PointLayout(params.get("module__n_dims", 3))

    def fit(self, X, y, **fit_params):
        layout = self._layout()
        X, y = self._as_float32(X, "X", layout), self._as_float32(y, "y", PointLayout(layout.n_dims))
        if X.shape[1] % layout.width:
            raise ValueError(f"X has {X.shape[1]} columns, not a multiple of the {layout.width} columns per "
                             f"point of module__layout ({layout!r}).")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} samples but X has {X.shape[0]}; they must match.")
        d = layout.n_dims
        if y.shape[1] % d:
            raise ValueError(f"y must have n_target_points * {d} columns; got {y.shape[1]}.")
        layout.check_absent_rows(X.reshape(X.shape[0], -1, layout.width), "X")
        if np.isinf(y).any():
            raise ValueError("y contains infinity; targets must be finite (NaN only as whole absent points).")
        nan = np.isnan(y).reshape(y.shape[0], -1, d)
        if (nan.any(-1) & ~nan.all(-1)).any():
            raise ValueError(f"y contains NaN inside a target point; NaN is only allowed as a whole point "
                             f"({d} columns) marking an absent point, which the loss ignores.")
        self.set_params(module__n_points=X.shape[1] // layout.width, module__n_outputs=y.shape[1])
        random_state = getattr(self, "random_state", None)
        if random_state is None:
            return super().fit(X, y, **fit_params)
        with seeded(seed_from(random_state)):
            return super().fit(X, y, **fit_params)

    def predict(self, X):
        X = self._as_float32(X, "X", self._layout())
        module = getattr(self, "module_", None)
        if isinstance(module, EquivariantModule):
            expected = module.n_points * module.layout.width
            if X.shape[1] != expected:
                raise ValueError(f"X has {X.shape[1]} columns; this model was fitted on {module.n_points} "
                                 f"points of {module.layout.width} columns ({expected} columns).")
        return super().predict(X)
