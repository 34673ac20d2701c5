"""The learned, random and anchored canonicalizers: a frame network as a canonicalization
method (Kaba et al., ICML 2023).

:class:`LearnedCanonicalizer` wraps any :class:`~skcanon.nn.FrameNetwork`, built by
:func:`skcanon.nn._factory.build_frame_network` from the group and layout, and trains it in
``fit`` (through :mod:`skcanon._training`, the one module that talks to skorch).
:class:`RandomCanonicalizer` is the same network frozen at its seeded random initialisation
— a strong baseline in the papers. At ``transform`` both compute hard, exact frames in
float32 batches and return them in skcanon's element formats; the canonical form is then
computed by the group's own action in the input's dtype. Their options are declared once,
in :data:`skcanon._learning_options.LEARNING_OPTIONS`.

torch is imported lazily (in ``fit``, ``frames`` and unpickling): registering these methods
costs nothing until one is used.
"""

from __future__ import annotations

import numpy as np

from .._learning_options import LEARNING_OPTIONS, TRAINER_OPTIONS
from ._base import Canonicalizer
from ._heuristics import SortCanonicalizer

__all__ = ["LearnedCanonicalizer", "RandomCanonicalizer", "AnchoredCanonicalizer"]

#: points (x width) or pixels evaluated at once at transform: bounds working memory
_INFERENCE_ELEMENTS = 2**18


def _image_plane(f):
    """A group of the image plane that the image networks may handle (C_n, D_n, SO(2)); the
    network factory checks the rest (element order, proper rotations)."""
    # continuous: proper rotations only (SO(2)); O(2)'s reflections have no image network
    return f.d == 2 and "image" in f.layout_kinds and (f.is_finite or (f.rotates and f.special))


def _to_numpy(h, float_dtype):
    if isinstance(h, (tuple, list)):
        return tuple(_to_numpy(part, float_dtype) for part in h)
    a = h.detach().cpu().numpy()
    return a.astype(float_dtype) if np.issubdtype(a.dtype, np.floating) else a.astype(np.int64)


class LearnedCanonicalizer(Canonicalizer):
    """Frames from an equivariant network trained in ``fit``.

    Parameters
    ----------
    group : Group
        The whole group (products included) the network canonicalizes.
    **options
        The learning options, by name (``objective``, ``prior_weight``, ``hidden``,
        ``max_epochs``, ``lr``, ``early_stopping``, ``validation_fraction``,
        ``validation_score``, ``device``,
        ``verbose``, ``batch_size``, ``random_state``, ``n_jobs``), each with its default
        and meaning in :data:`skcanon._learning_options.LEARNING_OPTIONS` and
        :class:`~skcanon.CanonicalizerTransformer`. ``batch_size`` bounds transform batches
        (training mini-batches: 16 to 256 by data size, at most this); ``random_state``
        seeds the initial weights, the validation split and the mini-batch order.

    Attributes
    ----------
    network_ : FrameNetwork
        The trained network (evaluation mode, on ``device_``).
    device_ : str
        The resolved device.
    history_ : list of dict
        Per-epoch ``train_loss`` / ``valid_loss``.
    n_epochs_trained_ : int
        Epochs run (early stopping may end training before the budget).
    best_epoch_ : int or None
        The epoch whose weights were kept (0: the initial weights, which
        ``validation_score="knn"`` also considers). With the validation loss, the last
        epoch that lowered it by more than early stopping's relative threshold (1e-4), so
        a later epoch may have a loss lower by less than that.
    objective_ : str
        The resolved objective (``None`` for the random method).
    network_axes_ : {"moments", "vectors"}
        Where the point network's rotation axes come from (``axes`` of
        :class:`~skcanon.nn._points.PointFrameNetwork`): ``"moments"`` for the task
        objectives and the random method, ``"vectors"`` for ``"prior"`` and ``"align"``.
    image_scorer_ : {"lifted", "orbit"} or None
        Images: where the network's element scores come from
        (:func:`skcanon.nn._images.build_image_network`): ``"orbit"`` (a plain CNN scoring
        every turned-back copy, :mod:`skcanon.nn._orbit_images`) for the ``"prior"``
        objective, ``"lifted"`` (the equivariant lifting network) otherwise; ``None`` for
        point sets and for ``method="anchored"`` (its residual network scores no elements).
    neighbourhood_ : bool
        Whether the pure S_n network scores each point from its neighbourhood too (the
        ``neighbourhood`` option resolved: ``"auto"`` is on for clouds of at most 64 points
        with a position field and at least one scalar field; always off for anchored networks, images and groups that do
        not permute points).
    scalar_stats_ : dict or None
        Point sets: the training set's mean and spread of each numeric scalar column, its
        levels when it has a few integer values (3 to 16: atomic numbers, type codes), and
        the codes of each categorical one (:func:`skcanon.nn._points.scalar_statistics`); the
        networks standardise numeric scalars with them and embed levels and codes, so an atom
        type keeps its meaning.

    Notes
    -----
    At ``transform``, point networks on the CPU compute frames in float64 whatever the
    input's dtype; samples whose network vectors leave part of the frame open (inputs with
    a symmetry) take the PCA heuristic's rotation with its exact tie rules
    (:func:`skcanon.nn._points.resolve_open_frames`).
    """

    method = "learned"
    priority = 2
    batches_in_threads = False
    whole_group = True
    learns_from_data = True
    #: the options make_canonicalizer hands to this class (every learning option)
    options = LEARNING_OPTIONS.names
    _trains = True
    _anchored = False

    def __init__(self, group, **options):
        super().__init__(group)
        unknown = sorted(set(options) - set(LEARNING_OPTIONS.names))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected options {unknown}; the learning options "
                            f"are {LEARNING_OPTIONS.names}.")
        for name, value in {**LEARNING_OPTIONS.defaults(), **options}.items():
            setattr(self, name, value)

    @classmethod
    def supports(cls, group, layout=None):
        """Groups whose every factor a network handles: continuous rotations/translations
        and permutations of points, the finite and rotation groups of the image plane."""
        kinds = set()
        if all(f.permutes or f.full_isometries for f in group.factors):
            kinds.add("points")
        if len(group.factors) == 1 and _image_plane(group.factors[0]):
            kinds.add("image")
        kind = getattr(layout, "kind", None)
        # without a layout: some layout must work (C4xS_n has none: C4's networks take
        # images, which the product cannot act on, and the point networks need O(d)/S_n)
        return bool(kinds) if kind is None else kind in kinds

    def check_layout(self, layout):
        from ..nn._factory import build_frame_network
        from ..nn._torch import private_draws

        self.group.check_layout(layout)
        # building is cheap; it surfaces unsupported group/layout pairs early (off torch's
        # global generator: no lock, the caller's stream untouched)
        with private_draws(0):
            build_frame_network(self.group, layout, 2, anchored=self._anchored)

    def fit(self, P, layout, y=None):
        from .._optional import import_torch

        torch = import_torch(f"method={self.method!r}")

        # training needs autograd: a fit called inside torch.inference_mode() (or no_grad())
        # builds and trains its network all the same
        with torch.inference_mode(False), torch.enable_grad():
            return self._fit(P, layout, y)

    def _fit(self, P, layout, y=None):
        from .._training import train_frame_network
        from ..nn._torch import check_default_dtype, resolve_device, seed_from, seeded, set_precision

        # fitted networks transform under any default; building or training one does not
        check_default_dtype(f"method={self.method!r} networks")
        supervised = self.objective != "auto" and self.objective.startswith("supervised")
        if self._trains and supervised and y is None:
            raise ValueError(f"objective={self.objective!r} needs y; pass y to fit or use objective='align'.")
        # fitted state is assigned only once training has returned: an interrupted refit
        # (Ctrl-C re-raised by the trainer) leaves the previous fit as it was
        device = resolve_device(self.device)
        seed = seed_from(self.random_state)
        stats = self._statistics(P, layout)
        axes, scorer = self._axes(y), self._image_scorer(layout, y)
        neighbourhood = self._neighbourhood(P, layout)
        with seeded(seed):
            network = self._build(layout, stats, axes=axes, scorer=scorer, neighbourhood=neighbourhood)
        if hasattr(network, "_check"):
            # image shapes the network cannot take (non-square, one pixel) are refused here,
            # not at the first transform: "random" runs no forward pass in fit
            import torch

            network._check(torch.zeros((0,) + tuple(P.shape[1:])))
        network = network.to(device)
        history, objective, n_epochs, best = [], None, 0, None
        if self._trains:
            set_precision(network, np.float32)  # the trainer works in float32
            info = train_frame_network(network, P, y, device=device, seed=seed,
                                       **LEARNING_OPTIONS.values(self, TRAINER_OPTIONS))
            history, objective = info["history"], info["objective"]
            n_epochs, best = info["n_epochs_trained"], info["best_epoch"]
        network.eval()
        for p in network.parameters():
            p.requires_grad_(False)
        self.__dict__.pop("_net64", None)
        self.device_, self.scalar_stats_ = device, stats
        self.history_, self.objective_ = history, objective
        self.n_epochs_trained_, self.best_epoch_ = n_epochs, best
        self.network_, self.layout_, self.network_axes_ = network, layout, axes
        self.image_scorer_, self.neighbourhood_ = scorer, neighbourhood
        return self

    def _neighbourhood(self, P, layout):
        """Whether the pure S_n network scores points from their neighbourhood too: the
        option, with ``"auto"`` on for clouds of at most
        :data:`~skcanon.nn._permutation.NEIGHBOURHOOD_MAX_POINTS` points that have a position
        field and at least one scalar field; never for anchored
        networks (the heuristic's order) or off point sets."""
        from ..nn._permutation import NEIGHBOURHOOD_MAX_POINTS

        option = getattr(self, "neighbourhood", False)
        if self._anchored or getattr(layout, "kind", None) != "points" or not self.group.permutes:
            return False
        if isinstance(option, str):
            # "auto": small clouds with positions *and* scalar fields; on clouds of positions
            # only the scores lost 3.4 points to the plain ones on validation shapes
            # (docs/_static/results/choose_neighbourhood_scalars.txt)
            fields = getattr(layout, "fields", None) or ()
            kinds = {f.kind for f in fields}
            return {"position", "scalar"} <= kinds and P.shape[1] <= NEIGHBOURHOOD_MAX_POINTS
        return bool(option)

    def _statistics(self, P, layout):
        if getattr(layout, "kind", None) != "points":
            return None
        from ..nn._points import scalar_statistics

        return scalar_statistics(P, layout)

    def _axes(self, y):
        """Where pure point networks take their rotation axes from
        (:class:`~skcanon.nn._points.PointFrameNetwork`): the learned weighted second-moment
        axes, chosen on validation data for ``"supervised"`` (and the frozen network, the
        ablation of the learned one); the output vectors for ``"prior"``,
        ``"supervised+prior"`` and ``"align"``, whose targets (the given pose, a template)
        need frames that moment axes cannot reach."""
        from .._training import resolve_objective

        if not self._trains:
            return "moments"
        objective = resolve_objective(self.objective, y)
        return "vectors" if ("prior" in objective or objective == "align") else "moments"

    def _image_scorer(self, layout, y):
        """Where pure image networks take their element scores from: a plain CNN over the
        turned-back copies (``"orbit"``) for the ``"prior"`` objective, where it posed
        rotated validation images better; the equivariant lifting network (``"lifted"``)
        for the task objectives, ``"align"`` and the frozen network
        (``benchmarks/choose_image_network.py``, docs/learned.md). ``None`` off images."""
        from .._training import resolve_objective

        if getattr(layout, "kind", None) != "image" or self._anchored:
            return None
        if self._trains and resolve_objective(self.objective, y) == "prior":
            return "orbit"
        return "lifted"

    def _build(self, layout, scalar_stats=None, axes="moments", scorer=None, neighbourhood=False):
        from ..nn._factory import build_frame_network

        if getattr(layout, "kind", None) != "points":
            return build_frame_network(self.group, layout, int(self.hidden), anchored=self._anchored,
                                       scorer=scorer or "lifted")
        return build_frame_network(self.group, layout, int(self.hidden), scalar_stats=scalar_stats,
                                   anchored=self._anchored, axes=axes, neighbourhood=neighbourhood,
                                   key_order=getattr(self, "key_order", "scalars_first"))

    def frames(self, P, layout):
        import torch

        from ..nn._torch import set_precision

        if not hasattr(self, "network_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit first.")
        float_dtype = P.dtype if np.issubdtype(P.dtype, np.floating) else np.float64
        network, torch_dtype = self.network_, torch.float32
        points = getattr(layout, "kind", None) == "points"
        # float64 input, and point sets on the CPU whatever their dtype: frames computed in
        # float64 (float32 rounding inside the network would otherwise be amplified near
        # symmetric inputs; the input's own rounding is what the tie tolerances allow for)
        if float_dtype == np.float64 or (points and not str(self.device_).startswith("cuda")):
            network, torch_dtype = self._network64(float_dtype), torch.float64
        else:  # the trained network itself: only float32 data come here
            set_precision(network, float_dtype)
        per_sample = max(1, int(np.prod(P.shape[1:])))
        step = max(1, _INFERENCE_ELEMENTS // per_sample)
        if self.batch_size:
            step = min(step, int(self.batch_size))
        from .._threads import limited_threads, n_jobs_for

        parts = []
        with limited_threads(n_jobs_for(getattr(self, "n_jobs", None))), torch.inference_mode():
            for start in range(0, P.shape[0], step):
                x = torch.tensor(P[start:start + step], dtype=torch_dtype, device=self.device_)  # a copy
                parts.append(_to_numpy(network.frames(x), float_dtype))
        if not parts:
            return self.group.identity(0, n_points=P.shape[1] if P.ndim > 1 else None)
        if isinstance(parts[0], tuple):
            return tuple(np.concatenate([p[i] for p in parts]) for i in range(len(parts[0])))
        return np.concatenate(parts)

    def _network64(self, precision=np.float64):
        """A float64 copy of the network for data of ``precision``, whose rounding sets its
        tie tolerances. One copy per precision: a copy shared by threads that canonicalize
        float32 and float64 data at once would switch tolerances under one of them (the
        tolerances are state of the network)."""
        import copy

        from ..nn._torch import set_precision

        cache = self.__dict__.get("_net64")
        if not isinstance(cache, dict):
            cache = self._net64 = {}
        key = np.dtype(precision)
        net = cache.get(key)
        if net is None:
            net = copy.deepcopy(self.network_).double()
            set_precision(net, key)
            cache[key] = net
        return net

    # -- pickling: weights travel on the CPU, so a CUDA fit loads on a CPU-only machine ----
    def __getstate__(self):
        state = self.__dict__.copy()
        network = state.pop("network_", None)
        state.pop("_net64", None)
        if network is not None:
            # numpy arrays, not tensors: unpickling then reaches __setstate__ without torch,
            # which names the install instead of a bare "No module named 'torch'"
            state["_network_state"] = {k: v.detach().cpu().numpy() for k, v in network.state_dict().items()}
        return state

    def __setstate__(self, state):
        weights = state.pop("_network_state", None)
        state.setdefault("n_jobs", None)  # pickled before networks took n_jobs
        state.setdefault("validation_score", "loss")  # pickled before it existed: the rule of then
        state.setdefault("neighbourhood", False)      # pickled before it existed: no neighbourhood
        state.setdefault("neighbourhood_", False)
        self.__dict__.update(state)
        if weights is not None:
            from .._optional import import_torch

            torch = import_torch(f"loading a fitted {type(self).__name__} (a network canonicalizer)")
            from ..nn._torch import private_draws, resolve_device

            # saved as numpy arrays (tensors by models pickled before); read-only ones (joblib's
            # mmap_mode) are copied, which torch would warn about (once per process, so whether
            # a load warned depended on what ran before it)
            weights = {k: torch.as_tensor(np.array(v) if isinstance(v, np.ndarray) and not v.flags.writeable
                                          else v) for k, v in weights.items()}

            # the machine that loads the model decides: its `device` where present there
            # ("auto": a GPU when there is one), else the CPU, so a model fitted on a GPU
            # loads on a CPU-only client and runs on a GPU worker again
            try:
                self.device_ = resolve_device(getattr(self, "device", "auto"))
            except (ValueError, RuntimeError, AssertionError):
                self.device_ = "cpu"
            # the weights below overwrite the initial ones: their draws go to a private
            # generator, so loading takes no lock (it does not wait for a fit training in
            # another thread) and leaves the caller's generator alone
            with private_draws(0):
                # pickled before moment axes existed: the output vectors of then
                # pickled before orbit scorers existed: the lifting network of then
                network = self._build(self.layout_, getattr(self, "scalar_stats_", None),
                                      axes=getattr(self, "network_axes_", "vectors"),
                                      scorer=getattr(self, "image_scorer_", None),
                                      neighbourhood=self.neighbourhood_)
            _saved_dtypes(network, weights)
            if "scalar_stats_" in state or getattr(self.layout_, "kind", None) != "points":
                network.load_state_dict(weights)
            else:
                _load_legacy(network, weights)
            network.eval()
            for p in network.parameters():
                p.requires_grad_(False)
            self.network_ = network.to(self.device_)


def _saved_dtypes(network, weights):
    """Give ``network``'s parameters and buffers the dtypes of the saved ``weights``: it was
    rebuilt under the caller's default dtype (float64 after ``torch.set_default_dtype``),
    and ``load_state_dict`` keeps a parameter's dtype, so a loaded float32 image network
    refused float32 images ("expected scalar type Float but found Double")."""
    for name, tensor in [*network.named_parameters(), *network.named_buffers()]:
        saved = weights.get(name)
        if saved is not None and saved.is_floating_point() and tensor.dtype != saved.dtype:
            tensor.data = tensor.data.to(saved.dtype)


def _load_legacy(network, weights):
    """Weights of a point network saved before scalar fields were encoded with the training
    set's statistics: raw scalars (mean 0, scale 1, the encoder's defaults), the earlier
    attention floor and the earlier per-column standardization of the scoring network, so
    the saved model gives the outputs it gave."""
    missing, unexpected = network.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith(("scalars.mean", "scalars.scale"))]
    if missing or unexpected:
        raise RuntimeError(f"saved weights do not fit the network: missing {missing}, unexpected {unexpected}.")
    for module in network.modules():
        if hasattr(module, "sd_floor"):
            module.sd_floor = 1e-3
        if hasattr(module, "legacy_standardize"):
            module.legacy_standardize = True


class RandomCanonicalizer(LearnedCanonicalizer):
    """The learned network frozen at its random initialisation (seeded by ``random_state``).

    A strong baseline (Kaba et al.): equivariant by construction, but not trained.
    """

    method = "random"
    options = ("hidden", "neighbourhood", "device", "batch_size", "random_state", "n_jobs")  # nothing of training
    _trains = False


class AnchoredCanonicalizer(LearnedCanonicalizer):
    """A network that starts from the best heuristic and learns a correction to it.

    Point sets: the PCA frame (``method="pca"``, exact tie rules included) is followed by a
    learned residual rotation, and the ``sort`` order by a learned residual score; both
    residuals start at zero (the untrained canonicalizer *is* ``pca+sort``). Groups O(d),
    SO(d), E(d), SE(d), S_n and their products.

    Images (C_n, D_n, SO(2)): the frame of the ``moments`` heuristic plus a learned
    correction added where the frame is chosen, weighted by a gain that starts at 0
    (:class:`~skcanon.nn._anchored_images.AnchoredImageFrame`; the untrained canonicalizer
    *is* ``moments``, its tie rules included), so each image is resampled once.

    Training moves away from the heuristic only where the objective pays. Options and
    attributes as :class:`LearnedCanonicalizer`.
    """

    method = "anchored"
    _anchored = True
    #: the learning options and the sort heuristic's key order, which the residual score anchors
    options = LEARNING_OPTIONS.names + ("key_order",)

    def __init__(self, group, key_order="scalars_first", **options):
        super().__init__(group, **options)
        if key_order not in SortCanonicalizer.KEY_ORDERS:
            raise ValueError(f"key_order must be one of {SortCanonicalizer.KEY_ORDERS}; got {key_order!r}.")
        self.key_order = key_order

    def __setstate__(self, state):
        state.setdefault("key_order", "scalars_first")   # pickled before anchored took it: its order then
        super().__setstate__(state)

    @classmethod
    def supports(cls, group, layout=None):
        """Point sets whose every factor rotates continuously (O(d), SO(d), E(d), SE(d)) or
        permutes points (S_n): the factors the pca and sort heuristics anchor; images under
        one group of the image plane (C_n, D_n, SO(2)), which the moments heuristic anchors."""
        kind = getattr(layout, "kind", None)
        images = len(group.factors) == 1 and _image_plane(group.factors[0])
        if kind == "image":
            return images
        points = all(f.permutes or (f.rotates and f.full_isometries) for f in group.factors)
        if kind == "points":
            return points
        return kind is None and (points or images)

