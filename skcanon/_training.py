"""The trainer of frame networks: objectives, training budget and the skorch loop.

This is the one module of the learned canonicalizers that talks to skorch.
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

Training budget (the same defaults from 300 to 1,000,000 samples, see
:func:`training_budget`): mini-batches grow with the data (16 to 256 samples), the number of
epochs follows a budget of about :data:`TARGET_STEPS` optimiser steps (at least
:data:`MIN_EPOCHS`, at most :data:`MAX_AUTO_EPOCHS`), the learning rate warms up linearly
over the first 5 % of the steps and then follows a cosine down to zero, and early stopping
(patience: a fifth of the planned epochs, at least 5) restores the best epoch's weights.
What it watches is ``validation_score``: ``"loss"`` (the default), the validation loss of
the objective itself (for ``"supervised"`` the task head's loss on held-out samples), or
``"knn"``, a nearest-neighbour model's score of the held-out samples' canonical forms, the
initial weights ("epoch 0") included (:class:`_ProxySelection`; supervised objectives). The
task head is discarded after training, so ``"knn"`` watches something closer to what the
canonicalizer is for; with a tree model after it, neither rule was better on validation data
(``benchmarks/choose_learned_selection.py``, ``docs/learned.md``). An int ``max_epochs``
keeps the batch rule and the schedule but fixes the number of epochs. More steps make
training converge by its own validation loss and vary less between seeds; they do not by
themselves make the frames better for a tree model (``docs/learned.md`` has the measured
comparison).

Threads: training runs under :func:`skcanon._threads.limited_threads` (one thread unless
``n_jobs`` asks for more), so results do not depend on the process or worker count, and a
fit inside a joblib worker does not oversubscribe the machine.

Interrupts: skorch swallows ``KeyboardInterrupt`` and returns a half-trained net; here it
is raised again once skorch has cleaned up, so the caller's previous fit is never silently
replaced.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ._optional import import_skorch

# every network entry point (learned/random canonicalizers, end-to-end estimators) imports this
# module first: without the torch extra the user gets the install command, not a bare ImportError
import_skorch('skcanon\'s networks (method="learned" or "random", the end-to-end estimators)')

import torch  # noqa: E402
from sklearn.utils.multiclass import type_of_target  # noqa: E402
from skorch import NeuralNet  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402
from skorch.utils import to_tensor  # noqa: E402
from torch import nn  # noqa: E402

from ._learning_options import LEARNING_OPTIONS, OBJECTIVES, TRAINER_OPTIONS, VALIDATION_SCORES  # noqa: E402
from ._threads import limited_threads  # noqa: E402
from ._validation import check_object_labels, user_stacklevel  # noqa: E402
from .nn._torch import InterruptRaisingMixin, seeded  # noqa: E402

__all__ = ["train_frame_network", "resolve_objective", "resolve_validation_score", "training_budget",
           "TARGET_STEPS", "MIN_EPOCHS", "MAX_AUTO_EPOCHS"]

#: optimiser steps the automatic budget aims for (``max_epochs="auto"``)
TARGET_STEPS = 1000
#: fewest epochs of the automatic budget (large data sets: a few passes over the data)
MIN_EPOCHS = 2
#: most epochs of the automatic budget (small data sets)
MAX_AUTO_EPOCHS = 100
#: smallest and largest training mini-batch
MIN_BATCH, MAX_BATCH = 16, 256
#: fraction of the steps spent warming the learning rate up
WARMUP_FRACTION = 0.05


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
    try:
        y = np.asarray(y)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"y must be an array-like of shape (n_samples,) or (n_samples, n_targets); "
                         f"numpy could not read it as one ({exc}).") from exc
    if y.ndim == 0:
        raise ValueError(f"y must be an array-like of shape (n_samples,) or (n_samples, n_targets); got "
                         f"the scalar {y.item()!r}.")
    if y.dtype == object:
        check_object_labels(y)
    if y.shape[0] != n_samples:
        raise ValueError(f"y has {y.shape[0]} entries but X has {n_samples} samples; they must match.")
    if y.dtype.kind in "fc" and not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinity; supervised training needs finite targets.")
    with np.errstate(invalid="ignore"):  # it casts floats to int to spot integer labels: 1e160 warns
        kind = type_of_target(y)
    if kind == "multiclass-multioutput" and y.dtype.kind not in "iub":
        raise ValueError(f"y of shape {y.shape} holds several class labels per sample (multi-output "
                         "classification), which the supervised head does not support; pass one label "
                         "per sample, or numeric targets for regression.")
    if kind in ("binary", "multiclass"):
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            _warn_nothing_to_learn(f"y holds a single class ({classes[0]!r})")
        return codes.astype(np.int64).ravel(), len(classes), "classification", {"classes": classes}
    if kind in ("continuous", "continuous-multioutput", "multilabel-indicator", "multiclass-multioutput"):
        Y = np.asarray(y, dtype=np.float64).reshape(n_samples, -1)
        if not np.isfinite(Y).all():
            raise ValueError("y contains NaN or infinity; supervised training needs finite targets.")
        if (Y == Y[:1]).all():
            _warn_nothing_to_learn("y is constant")
        Z, mu, sd = _standardized(Y)
        return Z.astype(np.float32), Y.shape[1], "regression", {"mean": mu, "std": sd}
    raise ValueError(f"Unknown label type: y of type {kind!r} is not supported; expected class labels or "
                     "real-valued targets.")


def _standardized(Y):
    """``((Y - mean) / std, mean, std)`` per column, std 1 for constant columns.

    Columns whose largest magnitude is beyond 2**±256 are first divided by a power of two
    (exact), so their squares neither overflow (1e160 gave std inf and all-zero targets) nor
    underflow (1e-160 gave std 0); other columns are computed exactly as they always were.
    """
    peak = np.abs(Y).max(0, initial=0.0)
    extreme = (peak > 2.0 ** 256) | ((peak > 0) & (peak < 2.0 ** -256))
    exponent = np.where(extreme, np.frexp(peak)[1], 0)
    Z = np.ldexp(Y, -exponent)
    mu, sd = Z.mean(0), Z.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return (Z - mu) / sd, np.ldexp(mu, exponent), np.ldexp(sd, exponent)


def _warn_nothing_to_learn(reason):
    # no frame does better than another on y: whatever training changes (a constant real
    # target's head still passes gradients to the network; a "+prior" term keeps training)
    # is not shaped by y
    warnings.warn(
        f"{reason}: the supervised objective has nothing to learn from y, so the frames it trains are not "
        "shaped by y (a single class leaves the initial network as it is; a constant real target or a "
        "'+prior' term still moves it, arbitrarily or toward the prior). Pass y with at least two "
        "different values, or use objective='align' or 'prior', which need no y.",
        UserWarning, stacklevel=user_stacklevel())


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


class _ObjectiveNet(InterruptRaisingMixin, NeuralNet):
    """skorch net whose loss is computed by the objective module itself."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if y_true is not None:  # skorch's own get_loss moves targets to the device; so must this one
            y_true = to_tensor(y_true, device=self.device)
        return self.module_.loss(y_pred, y_true)


def training_budget(n_train, max_epochs="auto", batch_size=None):
    """Mini-batch size and number of epochs for ``n_train`` training samples.

    The mini-batch is the power of two at or below ``n_train / 16``, clipped to
    [:data:`MIN_BATCH`, :data:`MAX_BATCH`] (and at most ``batch_size`` when given), so small
    data sets get enough optimiser steps per epoch and large ones use the hardware well.
    ``max_epochs="auto"`` (or ``None``) gives ``ceil(TARGET_STEPS / batches_per_epoch)``
    epochs clipped to [:data:`MIN_EPOCHS`, :data:`MAX_AUTO_EPOCHS`]; an int is used as is.

    Examples
    --------
    >>> training_budget(360)        # 300-400 samples: many short epochs
    (16, 44)
    >>> training_budget(900)
    (32, 35)
    >>> training_budget(1_000_000)  # large data: a couple of passes of large batches
    (256, 2)
    >>> training_budget(900, max_epochs=10)
    (32, 10)
    """
    n_train = max(1, int(n_train))
    batch = 2 ** int(math.floor(math.log2(max(n_train / 16, 1))))
    batch = int(min(max(batch, MIN_BATCH), MAX_BATCH))
    if batch_size:
        batch = max(1, min(batch, int(batch_size)))
    batches = math.ceil(n_train / batch)
    if max_epochs is None or (isinstance(max_epochs, str) and max_epochs == "auto"):
        epochs = int(min(max(math.ceil(TARGET_STEPS / batches), MIN_EPOCHS), MAX_AUTO_EPOCHS))
    elif isinstance(max_epochs, (bool, str)) or not isinstance(max_epochs, (int, np.integer)) \
            or max_epochs < 1:
        raise ValueError(f"max_epochs must be 'auto' or a positive int; got {max_epochs!r}.")
    else:
        epochs = int(max_epochs)
    return batch, epochs


def _warmup_cosine(total_steps):
    """LambdaLR factor: linear warm-up over WARMUP_FRACTION of the steps, then a cosine to 0."""
    total = max(1, int(total_steps))
    warm = max(1, int(round(WARMUP_FRACTION * total)))

    def factor(step):
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1, total - warm))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def train_frame_network(network, P, y=None, *, device="cpu", seed=0, **options):
    """Train ``network`` in place on the working array ``P`` and return a summary.

    Parameters
    ----------
    network : FrameNetwork
    P : ndarray of shape (n_samples, ...)
        Training samples in the layout's working format (NaN rows = absent points).
    y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
    device : str, default="cpu"
        A resolved torch device (:func:`skcanon.nn._torch.resolve_device`).
    seed : int
        Seeds the validation split and the torch generator (the caller seeds network
        construction with :func:`~skcanon.nn._torch.seeded`).
    **options
        The learning options the trainer reads (:data:`skcanon._learning_options.TRAINER_OPTIONS`;
        defaults and meaning in :data:`~skcanon._learning_options.LEARNING_OPTIONS` and
        :class:`~skcanon.CanonicalizerTransformer`). ``max_epochs``: ``"auto"``/``None``
        for the budget of :func:`training_budget`, an int for that many epochs at most
        (early stopping may end sooner; the learning-rate schedule spans the planned
        epochs either way). ``batch_size``: upper bound of the training mini-batch.
        ``n_jobs``: threads for torch, BLAS and OpenMP while training (``None``: one; see
        :func:`skcanon._threads.limited_threads`). ``validation_score``: what early stopping
        watches (:func:`resolve_validation_score`).

    Returns
    -------
    info : dict
        ``objective`` (resolved), ``task``, ``history`` (list of per-epoch dicts with
        ``epoch``, ``train_loss`` and ``valid_loss`` when validating), ``target``
        (encoding of ``y``), ``batch_size`` and ``max_epochs`` (the budget used),
        ``n_epochs_trained`` and ``best_epoch`` (whose weights were kept; 0 for the initial
        weights, which ``validation_score="knn"`` also scores), ``validation_score``
        (``"loss"`` or ``"knn"``; ``None`` without validation). With ``"knn"`` the history
        rows also carry ``valid_knn``.

    Raises
    ------
    ValueError
        When training diverges (non-finite weights, or an eigendecomposition of the
        forward pass that fails on them).
    KeyboardInterrupt
        When training is interrupted; ``network`` is then half-trained and must not be
        used as a fit.

    Notes
    -----
    When ``early_stopping`` is on but ``validation_fraction * n`` is under 2 or leaves
    fewer than 2 training samples, training runs on every sample without validation
    (``best_epoch_`` stays None; 10 % of fewer than 20 samples, by default).
    """
    unknown = sorted(set(options) - set(TRAINER_OPTIONS))
    if unknown:
        raise TypeError(f"train_frame_network got unexpected options {unknown}; it reads {TRAINER_OPTIONS}.")
    opts = {**LEARNING_OPTIONS.defaults(TRAINER_OPTIONS), **options}
    # True is an int to Python, not a size or a rate: refused here too (direct calls skip the
    # transformer's parameter validation; training_budget's own check came after int())
    for name in ("hidden", "lr", "max_epochs", "batch_size", "prior_weight", "validation_fraction"):
        if isinstance(opts[name], (bool, np.bool_)):
            raise ValueError(f"{name} must be a number, not a bool; got {opts[name]!r}.")
    objective, prior_weight, verbose = opts["objective"], opts["prior_weight"], opts["verbose"]
    hidden, lr = int(opts["hidden"]), float(opts["lr"])
    early_stopping, validation_fraction = opts["early_stopping"], float(opts["validation_fraction"])
    batch_size, n_jobs = opts["batch_size"], opts["n_jobs"]
    validation_score = opts["validation_score"]
    max_epochs = opts["max_epochs"]
    if isinstance(max_epochs, numbers.Integral):  # numpy ints count as ints
        max_epochs = int(max_epochs)
    from skorch.callbacks import EarlyStopping, LRScheduler
    from skorch.dataset import ValidSplit

    objective = resolve_objective(objective, y)
    score = resolve_validation_score(validation_score, objective)
    n = P.shape[0]
    X = _rescaled_float32(P, network)
    y_enc, n_out, task, target = None, 1, None, {}
    if objective.startswith("supervised"):
        y_enc, n_out, task, target = _encode_target(y, n)
    with limited_threads(n_jobs):
        template = None
        if objective == "align":
            with torch.no_grad():
                first = network.soft_canonicalize(torch.as_tensor(X[: min(n, 256)], device=device))
                template = torch.nan_to_num(first, nan=0.0).mean(0).detach().clone()
        with seeded(seed):  # the task head's initial weights
            module = _ObjectiveModule(network, objective, X.shape[1:], n_out, task, prior_weight, hidden,
                                      template)
        # ValidSplit (a ShuffleSplit) holds out ceil(fraction * n); a share worth at least 2
        # samples, and at least 2 left to train on (the floor of it gave 1 at n=20, 0.94)
        n_valid = math.ceil(validation_fraction * n)
        # below that (fewer than 20 samples at the default 0.1) the network trains on every
        # sample without early stopping, as documented (best_epoch_ is None then)
        validate = bool(early_stopping) and validation_fraction * n >= 2 and n - n_valid >= 2
        # plan the steps the split leaves
        n_train = len(_valid_split_indices(n, validation_fraction, seed)[0]) if validate else n
        train_batch, epochs = training_budget(n_train, max_epochs, batch_size)
        total_steps = epochs * math.ceil(n_train / train_batch)
        callbacks = [("lr_schedule", LRScheduler(policy=torch.optim.lr_scheduler.LambdaLR,
                                                 lr_lambda=_warmup_cosine(total_steps),
                                                 step_every="batch"))]
        if validate:
            # patience in epochs grows with the budget: a fifth of it, at least 5
            patience = max(5, epochs // 5)
            callbacks.append(("early_stopping", EarlyStopping(monitor="valid_loss", patience=patience,
                                                              load_best=True,
                                                              sink=print if verbose else _silent)))
        if verbose:
            try:
                import tqdm  # noqa: F401

                from skorch.callbacks import ProgressBar

                callbacks.append(("progress", ProgressBar(detect_notebook=False)))
            except ImportError:
                pass
        split = ValidSplit(validation_fraction, stratified=False, random_state=seed) if validate else None
        proxy = validate and score == "knn"
        if proxy:
            # the same split ValidSplit draws, held here so the proxy sees both parts
            train_idx, valid_idx = _valid_split_indices(n, validation_fraction, seed)
            from skorch.dataset import Dataset
            from skorch.helper import predefined_split

            split = predefined_split(Dataset(X[valid_idx], y_enc[valid_idx]))
            fit_X, fit_y = X[train_idx], y_enc[train_idx]
            callbacks = [c for c in callbacks if c[0] != "early_stopping"]
            callbacks.append(("proxy_selection", _ProxySelection(
                network, X[train_idx], y_enc[train_idx], X[valid_idx], y_enc[valid_idx], task,
                patience=max(5, epochs // 5), seed=seed, device=device)))
        else:
            fit_X, fit_y = X, y_enc
        net = _ObjectiveNet(
            module,
            criterion=nn.MSELoss,  # unused: the objective module computes the loss
            optimizer=torch.optim.Adam,
            lr=lr,
            max_epochs=epochs,
            batch_size=train_batch,
            train_split=split,
            callbacks=callbacks,
            iterator_train__shuffle=True,
            device=device,
            verbose=1 if verbose else 0,
        )
        # The CPU kernels used here are deterministic for a fixed thread count (one by
        # default); torch.use_deterministic_algorithms is not toggled because it imports
        # torch._dynamo (seconds, hundreds of MB) on first use.
        with seeded(seed + 1, device=device):  # mini-batch order, and any draws on the device
            try:
                net.fit(fit_X, fit_y)
            except torch.linalg.LinAlgError as exc:
                # diverged (huge or NaN) weights break an eigendecomposition of the forward
                # pass before the finiteness check below can see them
                raise _diverged() from exc
    if not all(torch.isfinite(p).all() for p in network.parameters()):
        raise _diverged()
    keys = ("epoch", "train_loss", "valid_loss", "valid_knn")
    history = [{k: float(row[k]) for k in keys if k in row} for row in net.history]
    best = None
    if proxy:
        best = int(dict(net.callbacks_)["proxy_selection"].best_epoch_)
    elif validate and history:
        # the epoch whose weights EarlyStopping restored: the last one that improved on the
        # best loss by more than its threshold, not always the lowest loss of the history
        stopper = dict(net.callbacks_)["early_stopping"]
        best = int(stopper.best_epoch_) if getattr(stopper, "best_epoch_", None) is not None else \
            int(min(history, key=lambda row: row.get("valid_loss", np.inf))["epoch"])
    network.eval()
    return {"objective": objective, "task": task, "history": history, "target": target,
            "batch_size": train_batch, "max_epochs": epochs, "n_epochs_trained": len(history),
            "best_epoch": best, "validation_score": score if validate else None}


def _diverged():
    return ValueError("training the canonicalization network diverged (non-finite weights); lower lr, or "
                      "check X for extreme values.")


#: most training and validation samples the ``"knn"`` validation score canonicalizes per epoch
PROXY_MAX_SAMPLES = 2048
#: neighbours of the ``"knn"`` validation score
PROXY_NEIGHBOURS = 5


def resolve_validation_score(validation_score, objective):
    """``"loss"`` or ``"knn"``: what early stopping watches; ``"knn"`` needs labels."""
    if validation_score not in VALIDATION_SCORES:
        raise ValueError(f"validation_score must be one of {VALIDATION_SCORES}; got {validation_score!r}.")
    if validation_score == "knn" and not objective.startswith("supervised"):
        raise ValueError(f"validation_score='knn' scores canonical forms with the labels y and needs a "
                         f"supervised objective; objective={objective!r} has none. Use "
                         "validation_score='loss'.")
    return validation_score


def _valid_split_indices(n, fraction, seed):
    """Train and validation indices of skorch's ``ValidSplit(fraction, stratified=False,
    random_state=seed)`` (the split of ``validation_score="loss"``)."""
    from sklearn.model_selection import ShuffleSplit

    return next(ShuffleSplit(n_splits=1, test_size=fraction, random_state=seed).split(np.zeros(n)))


def _proxy_estimator(task, n_train):
    """The cheap downstream model of ``validation_score="knn"``."""
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    k = int(max(1, min(PROXY_NEIGHBOURS, n_train)))
    return KNeighborsClassifier(k) if task == "classification" else KNeighborsRegressor(k)


def _canonical_features(network, X, device):
    """Hard canonical forms of ``X`` flattened, absent entries 0 (no gradients)."""
    parts = []
    with torch.no_grad():
        for start in range(0, len(X), 1024):
            z = network.canonicalize(torch.as_tensor(X[start:start + 1024], device=device))[0]
            parts.append(z.detach().cpu().double().numpy().reshape(len(z), -1))
    Z = np.concatenate(parts) if parts else np.zeros((0, 0))
    return np.nan_to_num(Z, nan=0.0, posinf=0.0, neginf=0.0)


class _ProxySelection(Callback):
    """Early stopping on a downstream score (``validation_score="knn"``).

    Before training and after every epoch, the held-out samples and (up to
    :data:`PROXY_MAX_SAMPLES` of) the training samples are canonicalized by the network's
    hard ``canonicalize``; a nearest-neighbour model fitted on the canonical training
    samples scores the canonical held-out ones (accuracy, or R² of the standardized
    targets). The best epoch's weights are kept — the initial weights ("epoch 0")
    included, so an anchored network never ends below its heuristic on this score — and
    training stops after ``patience`` epochs without a strict improvement.
    """

    def __init__(self, network, Xtr, ytr, Xva, yva, task, patience, seed, device):
        rng = np.random.RandomState(seed)
        ktr = np.sort(rng.permutation(len(Xtr))[:PROXY_MAX_SAMPLES])
        kva = np.sort(rng.permutation(len(Xva))[:PROXY_MAX_SAMPLES])
        self.network, self.task = network, task
        self.Xtr, self.ytr, self.Xva, self.yva = Xtr[ktr], ytr[ktr], Xva[kva], yva[kva]
        self.patience, self.device = int(patience), device

    def score(self):
        """The current network's validation score."""
        was = self.network.training
        self.network.eval()
        try:
            Ztr = _canonical_features(self.network, self.Xtr, self.device)
            Zva = _canonical_features(self.network, self.Xva, self.device)
        finally:
            self.network.train(was)
        model = _proxy_estimator(self.task, len(Ztr))
        return float(model.fit(Ztr, self.ytr).score(Zva, self.yva))

    def _keep(self):
        return {k: v.detach().clone() for k, v in self.network.state_dict().items()}

    def on_train_begin(self, net, **kwargs):
        self.initial_score_ = self.best_score_ = self.score()
        self.best_epoch_, self.best_weights_, self.wait_ = 0, self._keep(), 0

    def on_epoch_end(self, net, **kwargs):
        score = self.score()
        net.history.record("valid_knn", score)
        if score > self.best_score_:
            self.best_score_, self.best_epoch_ = score, int(net.history[-1, "epoch"])
            self.best_weights_, self.wait_ = self._keep(), 0
            return
        self.wait_ += 1
        if self.wait_ >= self.patience:
            raise KeyboardInterrupt  # skorch's way of ending training (not re-raised as Ctrl-C)

    def on_train_end(self, net, **kwargs):
        self.network.load_state_dict(self.best_weights_)


#: rows converted at a time: the float64 working copies stay small whatever the set's size
_RESCALE_ROWS = 4096


def _row_blocks(values, copy=False):
    """``values`` (at least 1-D) in float64, ``_RESCALE_ROWS`` rows (first axis) at a time, a
    vector in one block; ``copy``: blocks that never share memory with ``values`` (the
    caller's data), for writing into."""
    step = _RESCALE_ROWS if values.ndim > 1 else max(1, values.shape[0])
    for start in range(0, values.shape[0], step):
        rows = values[start:start + step]
        yield start, np.array(rows, dtype=np.float64) if copy else np.asarray(rows, dtype=np.float64)


def _rescaled_float32(P, network):
    """``P`` in float32, geometric columns divided by one power of two for the whole set.

    Frame networks normalize each sample by its own scale, so dividing every position and
    vector column of the training set by a power of two changes nothing but keeps float32
    in range (1e300 or 1e-300 inputs) and the task head well conditioned; powers of two
    rescale exactly. Scalar columns (charges, atom types) keep their values: networks that
    standardise them with statistics from fit must see them as transform does. Images are
    normalized per image by their RMS intensity, so they are rescaled as a whole.

    Converted block by block: besides the float32 result, memory holds one float64 copy of
    the rescaled entries (for their scale) instead of several copies of the whole set.
    """
    values = np.asarray(P)
    shape = values.shape
    if values.ndim == 0:
        values = values.reshape(1)
    layout = getattr(network, "layout", None)
    columns = None                                   # None: every column is rescaled
    if getattr(layout, "kind", None) == "points":
        columns = np.zeros(values.shape[-1], dtype=bool)
        for sl in (sl for kind in ("position", "vector") for sl in layout.slices(kind)):
            columns[sl] = True
    rescale = columns is None or columns.any()
    scale = _power_of_two_scale(values, columns) if rescale else 1.0
    out = np.empty(values.shape, dtype=np.float32)
    for start, block in _row_blocks(values, copy=rescale and columns is not None):
        if rescale and columns is None:
            block = block / scale
        elif rescale:
            block[..., columns] = block[..., columns] / scale
        out[start:start + block.shape[0]] = block
    if np.isinf(out).any():
        raise ValueError("X has values beyond float32 range (|x| > 3.4e38) in scalar fields, which the "
                         "networks take as they are; rescale those columns first.")
    return out.reshape(shape)


def _power_of_two_scale(P, columns=None):
    """The power of two nearest to the root-mean-square of the finite entries of ``P`` (of
    its last axis's ``columns``, a boolean mask, where given).

    Computed relative to the largest magnitude, so that squaring neither overflows (1e300
    inputs used to give ``OverflowError: cannot convert float infinity to integer``) nor
    underflows (1e-300). The finite magnitudes are gathered block by block into one float64
    buffer, in the order of the whole array, so the mean is that of the whole set.
    """
    values = np.asarray(P)
    if values.ndim == 0:
        values = values.reshape(1)

    def entries(block):
        return block if columns is None else block[..., columns]

    total = sum(int(np.isfinite(entries(block)).sum()) for _, block in _row_blocks(values))
    if not total:
        return 1.0
    finite, at = np.empty(total), 0
    for _, block in _row_blocks(values):
        block = entries(block)
        kept = block[np.isfinite(block)]
        finite[at:at + kept.size] = kept
        at += kept.size
    np.abs(finite, out=finite)
    peak = float(finite.max())
    if not peak > 0:
        return 1.0
    finite /= peak
    np.square(finite, out=finite)
    log2_rms = math.log2(peak) + 0.5 * math.log2(float(np.mean(finite)))
    return 2.0 ** min(1000, max(-1000, round(log2_rms)))


def _silent(*args, **kwargs):
    pass


def __getattr__(name):
    # the end-to-end estimators moved to skcanon._end_to_end; pickles written before the move
    # name this module and still find them here (the one import from this module up to the
    # estimators, run only while unpickling such a file; the architecture test leaves this
    # edge out of its circle check: _end_to_end reaches the trainer through the estimators)
    if name in ("EndToEndEquivariantRegressor", "EquivariantModule", "MaskedMSELoss"):
        from . import _end_to_end

        return getattr(_end_to_end, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
