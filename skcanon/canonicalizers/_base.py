"""The canonicalizer protocol and the chain that composes canonicalizers for product groups.

One concern: what a canonicalizer is — its frames, canonical form, the capabilities-based
``supports``/``default_for`` by which the registry in :mod:`skcanon.canonicalizers` finds it —
and how the per-factor canonicalizers of a product group run in sequence.
"""

from __future__ import annotations

import numpy as np

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
    #: True when the class handles a product group at once (a learned network for
    #: E(3)×S_n, say) instead of one factor of it
    whole_group = False
    #: True when :meth:`fit` learns from the samples (a network's weights, a scalar field's
    #: statistics); a chain canonicalizes its training set for such a later step only
    learns_from_data = False

    def __init__(self, group):
        self.group = group

    @classmethod
    def supports(cls, group, layout=None):
        """True when this method canonicalizes ``group`` — one factor of a product, or the
        whole product for :attr:`whole_group` classes — judged from the group's capabilities
        (``rotates``, ``translates``, ``permutes``, ...), never from its class. With a
        ``layout``, also True only where the method works on that kind of data; without
        one, :meth:`check_layout` later names what the layout lacks."""
        return False

    @classmethod
    def default_for(cls, group, layout=None):
        """True when ``method="auto"`` picks this method for ``group`` (one factor) on
        ``layout`` (None: not known). Baselines and networks are never the default."""
        return False

    def check_layout(self, layout):
        self.group.check_layout(layout)

    def fit(self, P, layout, y=None):
        return self

    def frames(self, P, layout):
        raise NotImplementedError

    #: whether :meth:`canonicalize` and :meth:`canonicalize_into` take ``deferred``: a list
    #: into which they may put the rows (indices into ``P``) that they leave for later, with
    #: placeholders in their outputs and frames; the caller then gathers those rows across
    #: its batches and canonicalizes them in :meth:`canonicalize` calls (which defer nothing)
    #: of up to a batch's rows. For rows with a fixed cost per call (pca's general path, a
    #: few samples per batch): one call for many batches' rows, not one per batch; every
    #: row's result is the same as without deferral
    defers = False

    def canonicalize(self, P, layout):
        """Return ``(h(x)⁻¹·x, h(x))`` for the working array ``P``."""
        h = self.frames(P, layout)
        return self.group.act(self.group.inverse(h), P, layout), h

    def output_dtype(self, dtype, layout):
        """The dtype :meth:`canonicalize` returns for a working array of ``dtype``, where the
        class knows it before running (then :meth:`canonicalize_into` may write straight
        into a preallocated output); None where it does not."""
        return None

    def canonicalize_into(self, P, layout, out):
        """:meth:`canonicalize` with the canonical forms written into ``out`` (an array of
        ``P``'s shape that shares no memory with ``P``); returns the frames. This fallback
        copies :meth:`canonicalize`'s result; classes whose fast paths can write in place
        override it (with :meth:`output_dtype`) and give the same values bit for bit."""
        canon, h = self.canonicalize(P, layout)
        out[...] = canon
        return h

    def __repr__(self):
        return f"{type(self).__name__}(group={self.group.name!r})"


class IdentityCanonicalizer(Canonicalizer):
    """The baseline: every frame is the identity, the output is the input."""

    method = "identity"
    whole_group = True

    @classmethod
    def supports(cls, group, layout=None):
        return True

    def frames(self, P, layout):
        return self.group.identity(P.shape[0], n_points=P.shape[1])

    def canonicalize(self, P, layout):
        return P.copy(), self.frames(P, layout)


class ChainCanonicalizer(Canonicalizer):
    """Canonicalize a direct product one factor at a time.

    Steps run by increasing ``priority`` (centre, then scale, then rotate, then sort);
    each step sees the output of the previous ones, so its frame is invariant under the
    factors already handled. In ``fit`` that holds for steps that learn from the samples
    (``learns_from_data``); the others are fitted on the training set as given. The frames
    are returned as a tuple in the product's factor
    order, and ``h(x)⁻¹·x`` equals the chained canonical form because the factors'
    actions commute.
    """

    def __init__(self, group, steps):
        super().__init__(group)
        self.steps = list(steps)
        self.method = "+".join(s.method for s in self.steps)
        self.batches_in_threads = all(s.batches_in_threads for s in self.steps)
        self.defers = any(s.defers for s in self.steps)
        self.learns_from_data = any(s.learns_from_data for s in self.steps)

    def check_layout(self, layout):
        for step in self.steps:
            step.check_layout(layout)

    def _order(self):
        return sorted(range(len(self.steps)), key=lambda i: self.steps[i].priority)

    def fit(self, P, layout, y=None):
        order = self._order()
        for k, i in enumerate(order):
            self.steps[i].fit(P, layout, y)
            # a later step that learns sees the earlier steps' canonical forms; a chain of
            # heuristics does not canonicalize (and throw away) the whole training set
            if any(self.steps[j].learns_from_data for j in order[k + 1:]):
                P, _ = self.steps[i].canonicalize(P, layout)
        return self

    @staticmethod
    def _step_options(step, deferred):
        # a row a step defers goes on through the later steps as a placeholder; the caller
        # redoes it through the whole chain
        return {"deferred": deferred} if deferred is not None and step.defers else {}

    def canonicalize(self, P, layout, deferred=None):
        frames = [None] * len(self.steps)
        for i in self._order():
            P, frames[i] = self.steps[i].canonicalize(P, layout, **self._step_options(self.steps[i], deferred))
        return P, tuple(frames)

    def output_dtype(self, dtype, layout):
        """Known when every step knows its own (each step's output feeds the next)."""
        for i in self._order():
            if dtype is None:
                return None
            dtype = self.steps[i].output_dtype(dtype, layout)
        return dtype

    def canonicalize_into(self, P, layout, out, deferred=None):
        """The steps in order, the last one writing into ``out``: no copy of the result,
        and no array beyond the intermediate steps' own outputs."""
        order = self._order()
        frames = [None] * len(self.steps)
        for i in order[:-1]:
            P, frames[i] = self.steps[i].canonicalize(P, layout, **self._step_options(self.steps[i], deferred))
        last = self.steps[order[-1]]
        frames[order[-1]] = last.canonicalize_into(P, layout, out, **self._step_options(last, deferred))
        return tuple(frames)

    def frames(self, P, layout):
        return self.canonicalize(P, layout)[1]
