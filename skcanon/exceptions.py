"""Warnings and errors specific to skcanon."""

__all__ = ["InexactActionWarning", "CanonicalFormWarning"]


class InexactActionWarning(UserWarning):
    """A group action on the data is only approximate (e.g. image rotations by angles that
    are not multiples of 90° are interpolated), so invariance holds only up to that error."""


class CanonicalFormWarning(UserWarning):
    """A graph canonical labelling is not guaranteed canonical: the pure-Python search hit
    its budget (install the ``graphs`` extra, pynauty, for exact labelling of any graph)."""
