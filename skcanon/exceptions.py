"""Warnings and errors specific to skcanon."""

__all__ = ["InexactActionWarning"]


class InexactActionWarning(UserWarning):
    """A group action on the data is only approximate (e.g. image rotations by angles that
    are not multiples of 90° are interpolated), so invariance holds only up to that error."""
