"""Warnings and errors specific to skcanon."""

__all__ = ["InexactActionWarning", "CanonicalFormWarning", "ConstantModelWarning"]


class InexactActionWarning(UserWarning):
    """A group action on the data is only approximate (e.g. image rotations by angles that
    are not multiples of 90° are interpolated), so invariance holds only up to that error."""


class CanonicalFormWarning(UserWarning):
    """A graph canonical labelling is not guaranteed canonical: the pure-Python search hit
    its budget (install the ``graphs`` extra, pynauty, for exact labelling of any graph)."""


class ConstantModelWarning(UserWarning):
    """A frame-averaged model predicts the same output for every training sample although
    the targets differ: typically a linear model averaged over frames that flip every axis
    both ways, whose part in the coordinates cancels (use a non-linear estimator, or
    ``frames="minimal"``, or a group with ``×S_n``)."""
