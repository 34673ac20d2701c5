"""The options of learned canonicalization, declared once.

Each :class:`LearningOption` gives a name, its default, its scikit-learn parameter constraint
and a one-line description. :class:`~skcanon.CanonicalizerTransformer` takes its
``_parameter_constraints`` and the options it hands to canonicalizers from here,
:class:`~skcanon.canonicalizers._learned.LearnedCanonicalizer` its parameters and defaults,
and the trainer (:func:`skcanon._training.train_frame_network`) the options it reads. The
transformer's ``__init__`` still spells the parameters out (scikit-learn reads them from
the signature); a test checks that the three agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

from sklearn.utils._param_validation import StrOptions

from ._validation import NJobs, NumberInterval

__all__ = ["LearningOption", "LearningOptions", "LEARNING_OPTIONS", "OBJECTIVES", "VALIDATION_SCORES",
           "TRAINER_OPTIONS"]

#: training objectives of learned canonicalization (see :mod:`skcanon._training`)
OBJECTIVES = ("auto", "supervised", "prior", "supervised+prior", "align")
#: what early stopping watches on the validation split (see :mod:`skcanon._training`)
VALIDATION_SCORES = ("loss", "knn")


@dataclass(frozen=True)
class LearningOption:
    """One option: ``name``, ``default``, scikit-learn ``constraint`` and a one-line ``doc``."""

    name: str
    default: object
    constraint: object
    doc: str


def _positive_int():
    return NumberInterval(Integral, 1, None, closed="left")


class LearningOptions:
    """An ordered set of :class:`LearningOption` read by name.

    ``options.names`` lists them, ``options["lr"]`` gives one, ``options.defaults()``,
    ``options.constraints()`` and ``options.values(obj)`` read defaults, scikit-learn
    constraints and an object's attributes for all of them (or for ``which``).
    """

    def __init__(self, options):
        self._by_name = {opt.name: opt for opt in options}

    @property
    def names(self):
        return tuple(self._by_name)

    def __iter__(self):
        return iter(self._by_name.values())

    def __len__(self):
        return len(self._by_name)

    def __contains__(self, name):
        return name in self._by_name

    def __getitem__(self, name):
        return self._by_name[name]

    def defaults(self, which=None):
        """``{name: default}`` for ``which`` (names; default: every option)."""
        return {name: self._by_name[name].default for name in (self.names if which is None else which)}

    def constraints(self):
        """``{name: constraint}``, for a scikit-learn ``_parameter_constraints`` dict."""
        return {opt.name: opt.constraint for opt in self}

    def values(self, obj, which=None):
        """``{name: getattr(obj, name)}`` for ``which`` (default: every option)."""
        return {name: getattr(obj, name) for name in (self.names if which is None else which)}


#: every option of learned canonicalization, in the order of the transformer's signature
LEARNING_OPTIONS = LearningOptions((
    LearningOption("objective", "auto", [StrOptions(set(OBJECTIVES))],
                   "training objective: supervised, prior, supervised+prior, align, or auto by y"),
    LearningOption("prior_weight", 1.0, [NumberInterval(Real, 0, None, closed="left")],
                   "weight of the identity prior in 'supervised+prior'"),
    LearningOption("hidden", 64, [_positive_int()],
                   "width of the canonicalization network and of the task head"),
    LearningOption("neighbourhood", "auto", ["boolean", StrOptions({"auto"})],
                   "pure point-set networks of S_n: each point's score also reads its neighbours' "
                   "distances and features (O(points²) per cloud); 'auto': for clouds of at most "
                   "64 points with positions and scalar fields"),
    LearningOption("max_epochs", "auto", [_positive_int(), StrOptions({"auto"})],
                   "training epochs, or 'auto' for a budget of about 1,000 optimiser steps"),
    LearningOption("lr", 1e-3, [NumberInterval(Real, 0, None, closed="neither")],
                   "learning rate (Adam)"),
    LearningOption("early_stopping", True, ["boolean"],
                   "hold out validation_fraction and keep the best validation epoch's weights"),
    LearningOption("validation_fraction", 0.1, [NumberInterval(Real, 0, 1, closed="neither")],
                   "share of the training data held out when early_stopping"),
    LearningOption("validation_score", "loss", [StrOptions(set(VALIDATION_SCORES))],
                   "what early stopping watches: 'loss' (the objective's validation loss) or 'knn' "
                   "(nearest-neighbour score of the held-out canonical forms, initial weights "
                   "included; supervised objectives)"),
    # checked in fit by _validation.check_device: strings and torch.device objects
    LearningOption("device", "auto", "no_validation",
                   "where networks run: 'auto' (CUDA when available), 'cpu', 'cuda', ..."),
    LearningOption("verbose", 0, ["verbose"],
                   "1 shows a progress bar and per-epoch losses while training"),
    LearningOption("batch_size", 4096, [_positive_int(), None],
                   "samples per transform batch; bound of the training mini-batch"),
    LearningOption("random_state", None, ["random_state"],
                   "seeds initial weights, validation split and mini-batch order"),
    LearningOption("n_jobs", None, [NJobs(), None],
                   "torch, BLAS and OpenMP threads while training and computing frames (None: 1)"),
))


#: options the trainer reads (the others are the canonicalizer's: device and seed are
#: resolved by it, n_jobs and batch_size are passed on, random_state becomes the seed)
TRAINER_OPTIONS = ("objective", "prior_weight", "hidden", "max_epochs", "lr", "early_stopping",
                   "validation_fraction", "validation_score", "verbose", "batch_size", "n_jobs")
