"""Cross-section projection: canonicalize each sample, then flatten."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from ._base import Projection


class Canonical(Projection):
    """Canonicalize every sample with a :class:`~skcanon.CanonicalizerTransformer` and
    flatten the canonical form: ``f(x) = vec(h(x)⁻¹·x)``.

    ``canonicalizer=None`` uses the default heuristic for the group (``method="auto"``:
    centroid/PCA frames for E(d), lexicographic sort for S_n, image moments for C_n, ...);
    any canonicalizer, learned ones included, may be passed and is cloned and fitted
    (with ``y``) inside ``fit``. A canonicalization picks one point per orbit, so the map
    is lossless (up to the documented tie rules) with as many features as the input; it
    is discontinuous near symmetric inputs. Cost: that of the canonicalizer. The entries of
    absent points (and absent graph nodes), NaN in the canonical form, are 0.
    Not available for C_n fibres (the canonicalizers take points and images).
    """

    name = "canonical"
    family = "cross-section"
    absent_points_ok = True  # absent points stay absent in the canonical form; output 0
    options = ("canonicalizer",)

    @classmethod
    def supports(cls, group, layout):
        return getattr(layout, "kind", None) in ("points", "image", "graph")

    def fit(self, P, y=None, random_state=None):
        super().fit(P)
        # the estimator sits above the projections (it validates, batches and names the
        # canonical features): imported when the default canonicalizer is built
        from .._canonicalizer import CanonicalizerTransformer

        if self.canonicalizer is None:
            canon = CanonicalizerTransformer(group=self.group, method="auto", layout=self.layout,
                                             batch_size=None)
        else:
            canon = clone(self.canonicalizer)
            if canon.get_params().get("layout") is None:
                canon.set_params(layout=self.layout)
        self.canonicalizer_ = canon.fit(P, y)
        return self

    def transform(self, P):
        F = np.array(self.canonicalizer_.transform(P), copy=None).reshape(P.shape[0], -1)
        # absent points (all-NaN rows, sorted last by the S_n canonicalizers) come out 0
        nan = np.isnan(F)
        if nan.any():
            F = np.where(nan, F.dtype.type(0), F)
        return F

    def feature_names(self):
        return ["canonical_" + str(name) for name in self.canonicalizer_.get_feature_names_out()]

    @property
    def lossless(self):
        return True
