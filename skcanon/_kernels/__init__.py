"""Numeric kernels shared by canonicalizers, projections, networks and frame averaging.

One concern: batched numpy arithmetic that several higher floors need and that belongs to
none of them. Each module holds one kind of kernel:

* :mod:`~skcanon._kernels.eigen` — closed-form and batched symmetric eigensolvers;
* :mod:`~skcanon._kernels.lexsort` — tolerant lexicographic order of points, gathering rows;
* :mod:`~skcanon._kernels.fields` — the geometric field of a layout, presence weights,
  centroids and per-sample rescaling;
* :mod:`~skcanon._kernels.pca` — equivariant PCA frames with their tie rules and the one
  axis orientation rule, and group elements from them.
* :mod:`~skcanon._kernels.squares` — per-axis sums of squares of point coordinates (the
  screen for canonical axes of no extent).

The package imports only numpy and the floors below it (layouts through the layout objects
passed in, groups through their capabilities), never a canonicalizer, projection or network.
"""
