"""The network factory: which frame network canonicalizes a group on a layout.

:func:`build_frame_network` is the one place that maps a group (by its capabilities) and a
layout to a :class:`~skcanon.nn.FrameNetwork`; the learned canonicalizers and the
end-to-end estimators both build their networks here.
"""

from __future__ import annotations

from ._permutation import AnchoredSortNetwork, ComposedFrameNetwork, SortFrameNetwork
from ._points import AnchoredPointNetwork, PointFrameNetwork, handles_rigid_motions

__all__ = ["build_frame_network"]

#: position of each kind of factor network in a composed network's run order: translations,
#: then rotations (their frames are permutation-invariant), then permutations
_TRANSLATION, _ROTATION, _PERMUTATION = 0, 1, 3


def build_frame_network(group, layout, hidden=64, scalar_stats=None, anchored=False, axes="moments",
                        scorer="lifted", neighbourhood=False, key_order="scalars_first"):
    """The frame network for ``group`` acting on ``layout``.

    Point sets: :class:`~skcanon.nn._points.PointFrameNetwork` for every factor that
    rotates and/or translates continuously without rescaling (O(d), SO(d), E(d), SE(d),
    T(d)); :class:`~skcanon.nn._permutation.SortFrameNetwork` for a factor that permutes
    points (S_n); products (e.g. SE(3)×S_n) compose them, geometric factors first. Images:
    :func:`skcanon.nn._images.build_image_network` (finite planar groups C_n, D_n, and
    SO(2)).

    ``scalar_stats`` (from :func:`skcanon.nn._points.scalar_statistics`) give point
    networks the training set's statistics and codes of the scalar fields. ``anchored``
    builds residual networks on top of the heuristics instead
    (:class:`~skcanon.nn._points.AnchoredPointNetwork`,
    :class:`~skcanon.nn._permutation.AnchoredSortNetwork`: point sets, rotating and
    permuting factors only; :class:`~skcanon.nn._anchored_images.AnchoredImageFrame`:
    images, the moments heuristic plus a gated learned correction).

    ``axes`` is where pure point networks take their rotation axes from
    (:class:`~skcanon.nn._points.PointFrameNetwork`: ``"moments"`` or ``"vectors"``);
    ``scorer`` where pure image networks take their element scores from
    (``"lifted"``: :func:`skcanon.nn._images.build_image_network`, the equivariant
    networks; ``"orbit"``: :func:`skcanon.nn._orbit_images.build_orbit_image_network`).
    ``neighbourhood`` lets the pure S_n network's point scores read each point's
    neighbourhood (:class:`~skcanon.nn._permutation.SortFrameNetwork`); ``key_order`` is the
    sort heuristic's key order that an anchored S_n network starts from.

    Raises
    ------
    ValueError
        When no network family handles the group on this layout.
    """
    if scorer not in ("lifted", "orbit"):
        raise ValueError(f"scorer must be 'lifted' or 'orbit'; got {scorer!r}.")
    kind = getattr(layout, "kind", None)
    if kind == "image" and anchored:
        from ..groups import get_group
        from ._anchored_images import AnchoredImageFrame
        from ._images import is_planar_rotation_group, planar_steps

        group = get_group(group)
        if planar_steps(group) is None and not is_planar_rotation_group(group):
            raise ValueError(f"No anchored image network for group {group.name!r}: method='anchored' anchors "
                             "the moments heuristic of C_n ('C4', 'C8'), D_n ('D4') and 'SO2' on images.")
        return AnchoredImageFrame(group, layout, hidden)
    if kind == "image" and scorer == "orbit":
        from ._orbit_images import build_orbit_image_network

        return build_orbit_image_network(group, layout, hidden)
    if kind == "image":
        from ._images import build_image_network

        return build_image_network(group, layout, hidden)
    if kind != "points":
        what = "method='anchored'" if anchored else "Learned canonicalization"
        raise ValueError(f"{what} needs a PointLayout or ImageLayout; got {layout!r}.")

    nets, rank = [], []
    for f in group.factors:
        if f.permutes:
            if anchored:
                nets.append(AnchoredSortNetwork(f, layout, hidden, scalar_stats=scalar_stats,
                                                key_order=key_order))
            else:
                nets.append(SortFrameNetwork(f, layout, hidden, scalar_stats=scalar_stats,
                                             neighbourhood=neighbourhood))
            rank.append(_PERMUTATION)
        elif handles_rigid_motions(f) and (f.rotates or not anchored):
            if anchored:
                nets.append(AnchoredPointNetwork(f, layout, hidden, scalar_stats=scalar_stats))
            else:
                nets.append(PointFrameNetwork(f, layout, hidden, scalar_stats=scalar_stats, axes=axes))
            rank.append(_ROTATION if f.rotates else _TRANSLATION)
        else:
            supported = ("O(d), SO(d), E(d), SE(d), S_n and their products" if anchored else
                         "O(d), SO(d), E(d), SE(d), T(d), S_n and their products")
            raise ValueError(
                f"No {'anchored' if anchored else 'learned'} network for factor {f.name!r} of group "
                f"{group.name!r} on point sets; supported: {supported}."
            )
    if len(nets) == 1:
        return nets[0]
    if sum(r == _PERMUTATION for r in rank) > 1:
        raise ValueError(f"group {group.name!r} has more than one S_n factor.")
    order = sorted(range(len(nets)), key=lambda i: rank[i])
    return ComposedFrameNetwork(group, layout, nets, order, hidden)
