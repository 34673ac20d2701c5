"""The canonicalizer protocol and the chain that composes canonicalizers for product groups."""

from __future__ import annotations

import numpy as np

#: parameters of CanonicalizerTransformer that it hands to canonicalizers which train; each
#: canonicalizer class lists the ones it takes in its ``options``
LEARNING_OPTIONS = ("objective", "prior_weight", "hidden", "max_epochs", "lr", "early_stopping",
                    "validation_fraction", "device", "verbose", "batch_size", "random_state", "n_jobs")


class Canonicalizer:
    """Chooses, per sample, a group element ``h(x)`` with ``h(g·x) = g·h(x)``.

    The canonical form is ``h(x)⁻¹·x``; it is the same for every ``g·x``. Subclasses
    implement :meth:`frames` on a layout's working array and declare the groups and
    layouts they support. Fitted state (learned networks) lives on the instance.

    Parameters
    ----------
    group : Group
        The group (one factor of a product) this canonicalizer handles.
    """

    #: name used by ``CanonicalizerTransformer(method=...)``
    method = None
    #: order inside a chain: lower runs first. A step must be invariant under the
    #: factors that run after it (translations → scaling → rotations → permutations).
    priority = 2
    #: numpy code that releases the GIL: ``transform`` may run its batches in threads
    #: (torch networks already use torch's own threads, so they say False)
    batches_in_threads = True

    def __init__(self, group):
        self.group = group

    def check_layout(self, layout):
        self.group.check_layout(layout)

    def fit(self, P, layout, y=None):
        return self

    def frames(self, P, layout):
        raise NotImplementedError

    def canonicalize(self, P, layout):
        """Return ``(h(x)⁻¹·x, h(x))`` for the working array ``P``."""
        h = self.frames(P, layout)
        return self.group.act(self.group.inverse(h), P, layout), h

    def __repr__(self):
        return f"{type(self).__name__}(group={self.group.name!r})"


class IdentityCanonicalizer(Canonicalizer):
    """The baseline: every frame is the identity, the output is the input."""

    method = "identity"

    def frames(self, P, layout):
        return self.group.identity(P.shape[0], n_points=P.shape[1])

    def canonicalize(self, P, layout):
        return P.copy(), self.frames(P, layout)


class ChainCanonicalizer(Canonicalizer):
    """Canonicalize a direct product one factor at a time.

    Steps run by increasing ``priority`` (centre, then scale, then rotate, then sort);
    each step sees the output of the previous ones, so its frame is invariant under the
    factors already handled. The frames are returned as a tuple in the product's factor
    order, and ``h(x)⁻¹·x`` equals the chained canonical form because the factors'
    actions commute.
    """

    def __init__(self, group, steps):
        super().__init__(group)
        self.steps = list(steps)
        self.method = "+".join(s.method for s in self.steps)
        self.batches_in_threads = all(s.batches_in_threads for s in self.steps)

    def check_layout(self, layout):
        for step in self.steps:
            step.check_layout(layout)

    def _order(self):
        return sorted(range(len(self.steps)), key=lambda i: self.steps[i].priority)

    def fit(self, P, layout, y=None):
        for i in self._order():
            self.steps[i].fit(P, layout, y)
            P, _ = self.steps[i].canonicalize(P, layout)
        return self

    def canonicalize(self, P, layout):
        frames = [None] * len(self.steps)
        for i in self._order():
            P, frames[i] = self.steps[i].canonicalize(P, layout)
        return P, tuple(frames)

    def frames(self, P, layout):
        return self.canonicalize(P, layout)[1]


def geometric_field(layout):
    """The field frames are computed from: the first position field, else the first vector."""
    fields = [f for f in layout.fields if f.kind == "position"] or [
        f for f in layout.fields if f.kind == "vector"
    ]
    if not fields:
        raise ValueError(
            f"This method needs a position or vector field to compute frames; layout {layout!r} "
            "has only scalars."
        )
    return fields[0]


def geometric_points(P, layout):
    """Float64 points and presence weights that frames are computed from.

    Uses :func:`geometric_field` (the first position field, or, when there is none, the
    first vector field); absent points (all-NaN rows) get weight 0 and coordinates 0.

    Returns ``(Y, w, is_position)`` with ``Y`` of shape ``(n, m, d)`` and ``w`` of shape
    ``(n, m)``.
    """
    field = geometric_field(layout)
    Y = np.asarray(P[..., layout.slice_of(field.name)], dtype=np.float64)
    present = ~np.isnan(P).all(axis=2) if np.issubdtype(P.dtype, np.floating) else np.ones(P.shape[:2], bool)
    Y = np.where(present[..., None], Y, 0.0)
    return Y, present.astype(np.float64), field.kind == "position"


def attached_fields(P, layout, centroid=None):
    """The fields besides :func:`geometric_field`, for the tie rules of frames.

    Returns ``(V, S)``: ``V`` of shape ``(n, m, q, d)`` float64, the other position fields
    (minus ``centroid`` when given, as the frame's own points are) and the vector fields;
    ``S`` of shape ``(n, m, s)`` float64, the scalar fields. Absent points hold NaN.
    """
    own = geometric_field(layout)
    n, m = P.shape[:2]
    d = layout.n_dims
    vectors, scalars = [], []
    for f in layout.fields:
        if f.name == own.name:
            continue
        block = np.asarray(P[..., layout.slice_of(f.name)], dtype=np.float64)
        if f.kind == "scalar":
            scalars.append(block)
        elif f.kind == "position" and centroid is not None:
            vectors.append(block - centroid[:, None, :])
        else:
            vectors.append(block)
    V = np.stack(vectors, axis=2) if vectors else np.empty((n, m, 0, d))
    S = np.concatenate(scalars, axis=2) if scalars else np.empty((n, m, 0))
    return V, S
