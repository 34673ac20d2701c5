"""Cross-section projection: canonicalize each sample, then flatten."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from ._base import Projection, exact_orthogonal_action


class Canonical(Projection):
    """Canonicalize every sample with a :class:`~skcanon.CanonicalizerTransformer` and
    flatten the canonical form: ``f(x) = vec(h(x)⁻¹·x)``.

    ``canonicalizer=None`` uses the default heuristic for the group (``method="auto"``:
    centroid/PCA frames for E(d), lexicographic sort for S_n, image moments for C_n, ...);
    any canonicalizer, learned ones included, may be passed and is cloned and fitted
    (with ``y``) inside ``fit``. A canonicalization picks one point per orbit, so the map
    is lossless (up to the documented tie rules) with as many features as the input; it
    is discontinuous near symmetric inputs. Cost: that of the canonicalizer. The entries of
    absent points (and absent graph nodes), NaN in the canonical form, are 0; one 0/1
    column per point (``present_i``, in canonical order) then tells them from real points
    at 0 — always for graphs, and for point clouds when ``fit`` saw absent points or
    ``mark_absent="always"`` (a
    canonicalizer's ``fill_value`` is not used: the projector marks absent points so). On images
    the map is lossless only where the group moves pixels exactly (``lossless_`` is False
    for C8, SO(2), and quarter turns of non-square images).
    Not available for C_n fibres (the canonicalizers take points and images).
    """

    name = "canonical"
    family = "cross-section"
    absent_points_ok = True  # absent points stay absent in the canonical form; output 0
    options = ("canonicalizer", "mark_absent")

    @classmethod
    def supports(cls, group, layout):
        kind = getattr(layout, "kind", None)
        # translations are canonicalized by the centroid of a position field (vectors do not
        # translate): without one there is no canonicalizer for them
        if kind == "points" and group.translates and not any(f.kind == "position" for f in layout.fields):
            return False
        # rotations are canonicalized by frames of a position or vector field: points with
        # scalar fields only have none (and were refused only in transform, or in fit)
        if kind == "points" and group.rotates and not any(f.is_geometric for f in layout.fields):
            return False
        return kind in ("points", "image", "graph")

    def fit(self, P, y=None, random_state=None):
        super().fit(P)
        # the estimator sits above the projections (it validates, batches and names the
        # canonical features): imported when the default canonicalizer is built
        from .._canonicalizer import CanonicalizerTransformer

        if self.canonicalizer is None:
            canon = CanonicalizerTransformer(group=self.group, method="auto", layout=self.layout,
                                             batch_size=None)
        else:
            if self.canonicalizer.get_params().get("method") == "identity":
                # the baseline that moves nothing: its "canonical forms" are the inputs
                raise ValueError(
                    "canonicalizer has method='identity', which leaves every sample as it is: its forms "
                    "are not invariant. Pass a canonicalizer with another method, or canonicalizer=None "
                    "for the default.")
            canon = clone(self.canonicalizer)
            if canon.get_params().get("layout") is None:
                canon.set_params(layout=self.layout)
            else:
                canon.set_params(layout=_sized_graph_layout(canon.get_params()["layout"], self.layout))
            if canon.get_params().get("fill_value") is not None:
                # absent points are told apart by NaN: filled, they read as present points at
                # the fill value (a cloud with an absent point and one with a real point there
                # got equal features)
                canon.set_params(fill_value=None)
        self.canonicalizer_ = canon.fit(P, y)
        if self.canonicalizer_.group_ != self.group:
            # forms canonical for another group are not invariant for this one (a grid over
            # the projector's group with a fixed canonicalizer gives exactly this)
            raise ValueError(
                f"canonicalizer canonicalizes for group {self.canonicalizer_.group_.name!r}, but the "
                f"projector's group is {self.group.name!r}: its canonical forms would not be invariant "
                f"(or would merge more). Pass a canonicalizer with group={self.group.name!r}, or "
                "canonicalizer=None for the default.")
        if not _moves_alike(self.canonicalizer_.layout_, self.layout):
            # a canonicalizer that reads the columns otherwise (a velocity as three scalars,
            # graph rows as plain points) gives forms that are not invariant for this layout
            raise ValueError(
                f"canonicalizer reads the columns with layout {self.canonicalizer_.layout_!r}, but the "
                f"projector's layout is {self.layout!r}: its canonical forms would not be invariant. "
                "Pass a canonicalizer with the projector's layout (or layout=None: it takes the "
                "projector's), or canonicalizer=None for the default.")
        # absent points come out 0, like a real point at 0 (or an isolated node): a presence
        # column per point keeps them apart, for graphs always (their sizes vary) and for
        # points when fit saw absent points or the caller asks for them always
        self.marks_presence_ = self._is_graph() or (
            getattr(self.layout, "kind", None) == "points"
            and (self.mark_absent == "always" or not self._present(P).all()))
        return self

    def _is_graph(self):
        return getattr(self.layout, "kind", None) == "graph"

    def _present(self, P):
        if self._is_graph():
            return self.layout.present_nodes(P)
        return ~np.isnan(P).all(axis=2)

    def check_transform_input(self, P):
        if self.marks_presence_ or getattr(self.layout, "kind", None) != "points":
            return
        absent = np.flatnonzero(~self._present(P).all(axis=1))
        if absent.size:
            # written as zeros without presence columns, an absent point reads as a real
            # point at 0: two orbits would get one feature vector
            shown = ", ".join(map(str, absent[:10])) + (", ..." if absent.size > 10 else "")
            raise ValueError(
                f"X has absent points (all-NaN point rows) in samples [{shown}], but fit saw none, so the "
                "features have no present_i columns to tell an absent point from a real point at 0. Fix: "
                "pass mark_absent='always' (present_i columns in every fit, e.g. for cross-validation "
                "folds of which only some hold absent points), fit on data that has absent points, or "
                "fill them before transform.")

    def transform(self, P):
        # not the public transform: its set_output container (the canonicalizer's own, or
        # scikit-learn's global transform_output) would wrap these 3-D forms in a DataFrame
        C = np.array(self.canonicalizer_._canonicalize(P, keep_frames=False)[0], copy=None)
        F = C.reshape(P.shape[0], -1)
        nan = np.isnan(F)
        if nan.any():
            F = np.where(nan, F.dtype.type(0), F)
        if self.marks_presence_:
            # in canonical order: the canonicalizer moves absent points with the others
            F = np.concatenate([F, self._present(C.reshape(P.shape)).astype(F.dtype)], axis=1)
        return F

    def feature_names(self):
        layout = self.canonicalizer_.layout_
        # the canonical forms come out in the working, point-major order, whatever the
        # order of the caller's named columns
        base = (layout.feature_names(self.canonicalizer_.n_points_, working_order=True)
                if getattr(layout, "kind", None) == "points" else self.canonicalizer_.get_feature_names_out())
        names = ["canonical_" + str(name) for name in base]
        if self.marks_presence_:
            names += [f"present_{i}" for i in range(self.sample_shape_[0])]
        return names

    @property
    def lossless(self):
        # interpolated image rotations (C8, SO(2), quarter turns of non-square images) cut
        # corners and smooth edges: the canonical form loses pixels there
        return exact_orthogonal_action(self.group, self.layout, self.sample_shape_)


def _sized_graph_layout(layout, projector_layout):
    """The canonicalizer's ``layout``, given the node count the projector's resolved graph
    layout found where it is ``"graph"`` or a GraphLayout without one: it reads the arrays
    the projector encoded (it refused them: "needs networkx graphs"). Its own node features
    and padding stay; the feature count is the projector's unless it gave one."""
    from ..layouts import GraphLayout

    if not (isinstance(projector_layout, GraphLayout) and projector_layout.resolved):
        return layout
    if isinstance(layout, str) and layout == "graph":
        layout = GraphLayout()
    if not isinstance(layout, GraphLayout) or layout.resolved:
        return layout
    given = getattr(layout, "_width_given", True)
    count = layout.n_node_features if given else projector_layout.n_node_features
    return GraphLayout(projector_layout.n_nodes, node_features=layout.node_features, n_node_features=count,
                       padding=layout.padding)


def _moves_alike(a, b):
    """Whether layouts ``a`` and ``b`` say the same about how group elements move each
    column (field names aside)."""
    kind = getattr(a, "kind", None)
    if kind != getattr(b, "kind", None):
        return False
    if kind == "points":
        return (a.n_dims == b.n_dims
                and [(f.kind, f.size) for f in a.fields] == [(f.kind, f.size) for f in b.fields])
    # graphs, images and fibres: the kind decides how columns move (sizes still open in
    # the projector's layout before fit are checked against the data)
    return type(a) is type(b)
