"""Tolerant lexicographic order of the points of each sample, and gathering rows by it.

One concern: the batched row sort shared by the ``sort`` canonicalizer, the sorting
projections and the anchored permutation networks — keys compared column by column with a
relative tolerance per dtype (:data:`SORT_RTOL`), a packed-integer fast path for the common
untied case, and :func:`gather_points` to apply the order.
"""

from __future__ import annotations

import numpy as np

from . import _numba

#: relative tolerance under which two sort keys count as equal (per input dtype); for
#: float32 about 800 rounding units, so that keys computed from rotated float32 points
#: (a pca frame first) do not split ties that their rounding perturbs
SORT_RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}


def sort_key_columns(layout, key_order):
    """Column order of the ``sort`` key: ``None`` for the layout's own order
    (``key_order="columns"``); for ``"scalars_first"`` the scalar fields' columns, then the
    others, each in layout order (shared with the anchored network's base order)."""
    if key_order == "columns" or not hasattr(layout, "fields"):
        return None
    scalar, other = [], []
    for f in layout.fields:
        sl = layout.slice_of(f.name)
        (scalar if f.kind == "scalar" else other).extend(range(sl.start, sl.stop))
    return None if not scalar or not other else np.array(scalar + other)


def magnitude_groups(layout, key_columns=None):
    """Column groups of the sort key (positions in the key, ``key_columns`` as
    :func:`sort_key_columns` gives them) whose values share a unit: every position and
    vector column together (rotations mix them, with one rounding scale), each scalar field
    on its own. ``None`` where there is one group (nothing to rescale)."""
    if not hasattr(layout, "fields"):
        return None
    geometric, scalars = [], []
    for f in layout.fields:
        sl = layout.slice_of(f.name)
        (geometric.extend(range(sl.start, sl.stop)) if f.kind != "scalar"
         else scalars.append(list(range(sl.start, sl.stop))))
    groups = ([geometric] if geometric else []) + scalars
    if len(groups) < 2:
        return None
    where = np.arange(layout.width) if key_columns is None else np.argsort(key_columns)
    return [where[np.asarray(g)] for g in groups]


#: column groups whose largest |value| is more than this many binary orders of magnitude
#: below the sample's largest are brought up to it before the tolerant sort
UNIT_GAP = 4


def scaled_by_group(V, groups):
    """``V`` (``(n, m, w)``) with, per sample, each column group whose largest |value| is
    more than 2**:data:`UNIT_GAP` below the sample's largest multiplied by the power of two
    that brings it level (exact, order-preserving), or None where no sample has such a gap.
    The sort's tolerance is relative to a sample's largest value: columns in other units
    (coordinates in metres beside an atomic number, a scalar of 1e5 beside coordinates of 1)
    were all ties, and their order fell to rounding noise. Within the gap keys are the
    points' own values, so such data sort as they always did."""
    n = V.shape[0]
    exponents = []
    for cols in groups:
        cols = np.asarray(cols)
        if cols.size and (np.diff(cols) == 1).all():   # a view, not a copy
            cols = slice(int(cols[0]), int(cols[-1]) + 1)
        block = V[..., cols].reshape(n, -1)
        with np.errstate(invalid="ignore"):   # fmax/fmin skip absent points' NaN
            peak = np.maximum(np.fmax.reduce(block, axis=1), -np.fmin.reduce(block, axis=1))
        peak = np.nan_to_num(peak, nan=0.0, posinf=0.0)
        exponents.append(np.where(peak > 0, np.frexp(peak)[1], np.iinfo(np.int32).min))
    top = np.max(exponents, axis=0)
    lift = [np.where((e > np.iinfo(np.int32).min) & (top - e > UNIT_GAP), top - e, 0) for e in exponents]
    if not any(shift.any() for shift in lift):
        return None
    out = np.array(V, copy=True)
    for cols, shift in zip(groups, lift):
        rows = np.flatnonzero(shift)
        if rows.size:
            index = np.ix_(rows, np.arange(V.shape[1]), np.asarray(cols))
            out[index] = np.ldexp(out[index], shift[rows][:, None, None])
    return out


def gather_points(P, order, out=None):
    """``out[i] = P[i, order[i]]`` for ``(n, m, w)`` ``P``: one flat ``take`` of whole
    point rows (several times faster than ``take_along_axis`` on a small trailing axis).
    ``out``: a C-contiguous array of ``P``'s shape and dtype, sharing no memory with ``P``,
    to write into (and return) instead of a new one."""
    n, m, w = P.shape
    flat = (order + (np.arange(n, dtype=np.intp) * m)[:, None]).reshape(-1)
    rows = np.ascontiguousarray(P).reshape(n * m, w)
    if out is None:
        return np.take(rows, flat, axis=0).reshape(n, m, w)
    # the indices are in range: "clip" takes them as they are, without numpy's buffering
    np.take(rows, flat, axis=0, out=out.reshape(n * m, w), mode="clip")
    return out


def fast_lexsort(P, gather=True, out=None):
    """Order and sorted points for float input without NaN/inf, or ``(None, None)``.

    ``out``: where ``gather``, a C-contiguous array of ``P``'s shape and dtype, sharing no
    memory with ``P``, that receives the sorted points (and is returned) instead of a new
    one; untouched when the answer is ``(None, None)``.

    One key sort of the first column serves every sample whose first column has no
    tolerant tie — the order of distinct keys is unique, so how equal keys are ordered
    does not matter there; only samples with ties take the column-by-column refinement.
    """
    V = np.asarray(P)
    n, m, width = V.shape
    if V.dtype not in (np.float32, np.float64) or not n or m < 2 or m > _MAX_KEY_POINTS:
        return None, None
    kernels = compiled_kernels(n)
    if kernels is not None:
        return _compiled_lexsort(kernels, V, gather, out)
    flat = V.reshape(n, -1)
    scale = np.abs(flat).max(axis=1)   # NaN and inf propagate: one check covers them
    if not np.isfinite(scale).all():
        return None, None
    tol = (SORT_RTOL[V.dtype] * np.maximum(scale, np.finfo(V.dtype).tiny)).astype(V.dtype)
    first = V[:, :, 0]
    order = _row_argsort(first, exact=False)
    out = gather_points(V, order, out) if gather else None
    keys = out[:, :, 0] if gather else np.take_along_axis(first, order, axis=1)
    tied = np.flatnonzero(_rows_any(np.subtract(keys[:, 1:], keys[:, :-1]) <= tol[:, None]))
    if tied.size and V.dtype == np.float32 and width > 1:
        # most float32 ties are isolated pairs of neighbours: put each pair in the order the
        # column-by-column refinement gives, without re-sorting; chains of 3+ take the loop
        mask = np.subtract(keys[tied, 1:], keys[tied, :-1]) <= tol[tied, None]
        chain = _rows_any(mask[:, 1:] & mask[:, :-1])
        _order_tied_pairs(V, order, out, tied[~chain], mask[~chain], tol)
        tied = tied[chain]
    if tied.size:
        # float32 keys are exact: the first column's order is already the stable one
        start = order[tied] if V.dtype == np.float32 else None
        with np.errstate(invalid="ignore"):
            order[tied] = _lexsort_loop(V[tied], tol[tied], width, tied.size, order=start)
        if gather:
            out[tied] = gather_points(V[tied], order[tied])
    return order, out


def _order_tied_pairs(V, order, out, samples, mask, tol):
    """In place: for each pair of neighbours ``(j, j + 1)`` in ``order[samples]`` whose first
    column ties (``mask``), the order :func:`_lexsort_loop` gives — by the first later column
    that differs by more than ``tol``, else by the last column whose values differ at all
    (its stable sorts compose that way), else as they are."""
    if not samples.size:
        return
    k, j = np.nonzero(mask)
    s = samples[k]
    a, b = order[s, j], order[s, j + 1]
    D = (V[s, b] - V[s, a])[:, 1:]
    t = tol[s][:, None]
    big = np.abs(D) > t
    rows = np.arange(len(s))
    first = D[rows, np.argmax(big, axis=1)]
    nonzero = D != 0
    last = D[rows, D.shape[1] - 1 - np.argmax(nonzero[:, ::-1], axis=1)]
    swap = np.where(big.any(axis=1), first < 0, nonzero.any(axis=1) & (last < 0))
    s, j, a, b = s[swap], j[swap], a[swap], b[swap]
    order[s, j], order[s, j + 1] = b, a
    if out is not None:
        out[s, j], out[s, j + 1] = V[s, b], V[s, a]


#: most points per sample for the packed sort keys (the point index takes the low bits)
_MAX_KEY_POINTS = 1 << 16


def _sortable_bits(values):
    """Unsigned integers (uint32 for float32, uint64 for float64) whose order is the
    numeric order of ``values`` (finite or ±inf, no NaN), with -0.0 equal to 0.0."""
    if values.dtype == np.float32:
        bits = (values + np.float32(0.0)).view(np.int32)   # + 0.0 turns -0.0 into 0.0
        return (bits ^ ((bits >> 31) | np.int32(-2**31))).view(np.uint32)
    bits = (values + 0.0).view(np.int64)
    return (bits ^ ((bits >> 63) | np.int64(-2**63))).view(np.uint64)


def _row_argsort(values, groups=None, exact=True):
    """Per row, the stable order of ``values`` (``(n, m)``, float), first by ``groups``
    (non-negative ints below ``m``) when given.

    One sort of packed integer keys ``(group, value, position)``: unique keys, so the
    result equals numpy's stable argsort. float64 values do not fit beside the position:
    with ``exact`` they take numpy's stable argsorts, otherwise their lowest bits give
    way to the position (an order that differs from the exact one only between values
    closer than about 1e-14 relative, which the callers treat as tied anyway).
    """
    m = values.shape[1]
    b = max(1, int(m - 1).bit_length())
    position = np.arange(m, dtype=np.uint64)
    if values.dtype == np.float32 and m <= _MAX_KEY_POINTS:
        key = _sortable_bits(values).astype(np.uint64) << np.uint64(b)
        if groups is not None:
            key |= groups.astype(np.uint64) << np.uint64(32 + b)
    elif not exact and groups is None and b <= 21:
        key = _sortable_bits(values) & ~np.uint64((1 << b) - 1)
    else:
        idx = np.argsort(values, axis=1, kind="stable")
        if groups is not None:
            idx = np.take_along_axis(idx, np.argsort(np.take_along_axis(groups, idx, 1), 1, kind="stable"), 1)
        return idx
    key |= position
    key.sort(axis=1)
    return (key & np.uint64((1 << b) - 1)).astype(np.intp)


def _rows_any(mask):
    """``mask.any(axis=1)`` for a 2-D boolean array, eight flags per comparison."""
    n, w = mask.shape
    padded = np.zeros((n, w + (-w % 8)), dtype=bool)
    padded[:, :w] = mask
    return padded.view(np.uint64).any(axis=1)


def tolerant_lexsort(P):
    """Batched lexicographic order of the rows of ``P`` (``(n, m, w)``) with tolerant ties.

    Float input without NaN takes a fast path (see :func:`fast_lexsort`); the result is
    the same as the general column-by-column refinement.
    """
    order, _ = fast_lexsort(P, gather=False)
    return order if order is not None else _tolerant_lexsort_general(np.asarray(P))


def _tolerant_lexsort_general(V):
    n, m, width = V.shape
    if not np.issubdtype(V.dtype, np.floating):
        V = V.astype(np.float64)
    rtol = SORT_RTOL.get(V.dtype, 1e-5)
    finite = np.isfinite(V)
    scale = np.max(np.where(finite, np.abs(V), 0.0), axis=(1, 2))
    tol = (rtol * np.maximum(scale, np.finfo(V.dtype).tiny)).astype(V.dtype)
    V = np.where(finite, V, np.inf)

    with np.errstate(invalid="ignore"):  # inf - inf between absent points: a tie, as wanted
        return _lexsort_loop(V, tol, width, n)


def _lexsort_loop(V, tol, width, n, order=None):
    """Refine the stable order of the first column (``order``, computed when None) column
    by column within tolerant tie groups."""
    if order is None:
        order = _row_argsort(V[:, :, 0])
    todo = np.arange(n)
    group = None
    for col in range(width):
        sub = order[todo]
        vals = np.take_along_axis(V[todo, :, col], sub, axis=1)
        if col > 0:
            # sort by value within the tie groups of the previous columns
            idx = _row_argsort(vals, groups=group)
            sub = np.take_along_axis(sub, idx, axis=1)
            vals = np.take_along_axis(vals, idx, axis=1)
            group = np.take_along_axis(group, idx, axis=1)
            order[todo] = sub
        step = np.diff(vals, axis=1) > tol[todo, None]
        new_group = np.concatenate([np.zeros((len(todo), 1), np.int64), np.cumsum(step, axis=1)], axis=1)
        if group is not None:
            # a new group also starts wherever the previous columns' group changed
            changed = np.diff(group, axis=1) != 0
            new_group = np.concatenate(
                [np.zeros((len(todo), 1), np.int64), np.cumsum(step | changed, axis=1)], axis=1
            )
        tied = (np.diff(new_group, axis=1) == 0).any(axis=1)
        todo, group = todo[tied], new_group[tied]
        if todo.size == 0:
            break
    return order


# -- optional compiled kernels (numba) -------------------------------------------------------
#
# :func:`fast_lexsort` as two per-sample loops compiled by numba (see
# :mod:`~skcanon._kernels._numba` for when they run) around numpy's sort of the packed keys:
# ``keys`` (largest magnitude, tolerance and the first column's packed keys) and ``finish``
# (the order, the tolerant ties between neighbours, isolated float32 pairs put in the
# refinement's order, the gathered points), and ``refine``: samples with chains of three or
# more tied keys (float64: any tie) take :func:`_lexsort_loop`'s column-by-column refinement,
# compiled per sample: the orders are identical.


def _make_sort_keys(wide):
    """The packed-keys pass for float32 (``wide`` False: 32 sortable bits, then the point
    index) or float64 (``wide``: the high bits, the point index in the low ones)."""

    def sort_keys(V, bits, rtol, tiny, b, keys, tol):
        # per sample (V: (n, m·w), a sample's points one after the other): tolerance
        # rtol · max(largest |value|, tiny) in V's dtype, and the first column's packed keys;
        # False where a value is not finite (the numpy paths handle those)
        n, mw = V.shape
        m = keys.shape[1]
        w = mw // m
        shift = np.uint64(b)
        low = np.uint64((1 << b) - 1)
        # on the bits, one integer maximum (it vectorizes) gives both: the largest
        # magnitude (without the sign bit, finite floats order as their bits do) and
        # whether any value is inf or NaN (an all-ones exponent, so at least ``exponent``);
        # float comparisons would not do: they are compiled with reassociation, under
        # which x - x may be taken for 0
        exponent = np.int64(0x7FF0000000000000) if wide else np.int32(0x7F800000)
        magnitude = np.int64(0x7FFFFFFFFFFFFFFF) if wide else np.int32(0x7FFFFFFF)
        largest = np.zeros(1, dtype=bits.dtype)
        largest_value = largest.view(V.dtype)
        for s in range(n):
            v = V[s]
            u = bits[s]
            top = u[0] & magnitude
            for i in range(mw):
                top = max(top, u[i] & magnitude)
            if top >= exponent:
                return False
            largest[0] = top
            tol[s] = rtol * max(largest_value[0], tiny)
            for j in range(m):
                raw = u[j * w]
                raw = raw if v[j * w] != 0 else raw ^ raw    # -0.0 sorts as 0.0
                if wide:
                    u64 = np.uint64(raw ^ ((raw >> 63) | np.int64(-2 ** 63)))
                    keys[s, j] = (u64 & ~low) | np.uint64(j)
                else:
                    u32 = np.uint32(raw ^ ((raw >> 31) | np.int32(-2 ** 31)))
                    keys[s, j] = (np.uint64(u32) << shift) | np.uint64(j)
        return True

    return sort_keys


def _sort_finish(V, keys, tol, b, pairs, gather, order, out, loop):
    """Per sample (V, out: (n, m·w)), from the sorted keys: the order and the gathered
    points, whether neighbours' first columns tie (within ``tol``), the isolated tied
    pairs put in the refinement's order (``pairs``), and ``loop[s]`` where the
    column-by-column refinement must decide."""
    n, mw = V.shape
    m = keys.shape[1]
    w = mw // m
    low = np.uint64((1 << b) - 1)
    tied = np.zeros(m, dtype=np.bool_)
    first = np.empty(m, dtype=V.dtype)
    for s in range(n):
        v = V[s]
        o = order[s]
        z = out[s]
        if gather and w == 3:   # 3-D points: the gather unrolled (the common case, ~1.6× faster)
            for j in range(m):
                i = np.intp(keys[s, j] & low)
                o[j] = i
                x = v[3 * i]
                first[j] = x
                z[3 * j] = x
                z[3 * j + 1] = v[3 * i + 1]
                z[3 * j + 2] = v[3 * i + 2]
        else:
            for j in range(m):
                i = np.intp(keys[s, j] & low)
                o[j] = i
                first[j] = v[i * w]
                if gather:
                    for k in range(w):
                        z[j * w + k] = v[i * w + k]
        any_tie = False
        chain = False
        t_s = tol[s]
        previous = False
        for j in range(m - 1):
            t = first[j + 1] - first[j] <= t_s
            tied[j] = t
            any_tie = any_tie or t
            chain = chain or (t and previous)
            previous = t
        loop[s] = any_tie and (chain or not pairs)
        if any_tie and not loop[s]:
            for j in range(m - 1):
                if not tied[j]:
                    continue
                a, c = o[j] * w, o[j + 1] * w
                decided = False
                swap = False
                for k in range(1, w):
                    diff = v[c + k] - v[a + k]
                    if abs(diff) > t_s:
                        decided = True
                        swap = diff < 0
                        break
                if not decided:
                    for k in range(w - 1, 0, -1):
                        diff = v[c + k] - v[a + k]
                        if diff != 0:
                            swap = diff < 0
                            break
                if swap:
                    o[j], o[j + 1] = o[j + 1], o[j]
                    if gather:
                        for k in range(w):
                            z[j * w + k], z[(j + 1) * w + k] = z[(j + 1) * w + k], z[j * w + k]


def _refine_ties(V, tol, order, loop, gather, out, exact_keys):
    """For each sample with ``loop[s]`` (chains of tied first columns), the refinement of
    :func:`_lexsort_loop` per sample: the first column in exact order (value, then point
    index), then column by column a stable sort within each tie group of the previous
    columns, the groups split where neighbours differ by more than ``tol[s]``; until no
    tie is left. Insertion sorts on the gathered points (``out[s]``, which ``finish`` filled
    in key order, or a scratch row): the groups are small and the order nearly sorted.
    ``exact_keys``: the packed keys held the whole first column (float32), so its order is
    exact already."""
    n, mw = V.shape
    m = order.shape[1]
    w = mw // m
    grp = np.empty(m, dtype=np.int64)
    row = np.empty(w, dtype=V.dtype)
    scratch = np.empty(mw, dtype=V.dtype)
    for s in range(n):
        if not loop[s]:
            continue
        v = V[s]
        o = order[s]
        t = tol[s]
        z = out[s] if gather else scratch
        if not gather:
            for j in range(m):
                for k in range(w):
                    z[j * w + k] = v[o[j] * w + k]
        tied = True
        for c in range(w):
            if not tied:
                break
            # keys that hold the whole value (float32): column 0 is in exact order already
            start = m if c == 0 and exact_keys else 0
            while start < m:
                stop = start + 1
                if c > 0:   # the tie groups of the previous columns; column 0: one range
                    while stop < m and grp[stop] == grp[start]:
                        stop += 1
                else:
                    stop = m
                for j in range(start + 1, stop):
                    x = o[j]
                    xv = z[j * w + c]
                    k = j - 1
                    # column 0 by value, then point index (float64 keys dropped the lowest
                    # bits); later columns stable within the group
                    while k >= start and (z[k * w + c] > xv or (c == 0 and z[k * w] == xv and o[k] > x)):
                        k -= 1
                    k += 1
                    if k < j:
                        for q in range(w):
                            row[q] = z[j * w + q]
                        for i in range(j, k, -1):
                            o[i] = o[i - 1]
                            for q in range(w):
                                z[i * w + q] = z[(i - 1) * w + q]
                        o[k] = x
                        for q in range(w):
                            z[k * w + q] = row[q]
                start = stop
            tied = False
            previous = grp[0]
            grp[0] = 0
            for j in range(1, m):
                old = grp[j]
                g = grp[j - 1]
                if (c > 0 and old != previous) or z[j * w + c] - z[(j - 1) * w + c] > t:
                    g += 1
                else:
                    tied = True
                grp[j] = g
                previous = old


class _Kernels:
    """``keys`` (reassociated: only the largest magnitude is reduced), ``finish`` and
    ``refine``."""

    def __init__(self, jit, jit_exact):
        self.keys32, self.keys64 = jit(_make_sort_keys(False)), jit(_make_sort_keys(True))
        self.finish = jit_exact(_sort_finish)
        self.refine = jit_exact(_refine_ties)

    def keys(self, V, *args):
        return (self.keys32 if V.dtype == np.float32 else self.keys64)(V, *args)


def compiled_kernels(n=0):
    """The compiled sort kernels for a call over ``n`` samples where ``SKCANON_NUMBA`` asks
    for them (see :mod:`~skcanon._kernels._numba`), else None (the numpy path serves)."""
    return _numba.kernels("lexsort", _build_kernels) if _numba.wanted(n) else None


def _build_kernels(numba, jit, jit_exact):
    kernels = _Kernels(jit, jit_exact)
    for dt, it in ((np.float32, np.int32), (np.float64, np.int64)):
        V = np.zeros((1, 6), dt)
        keys, tol = np.empty((1, 2), np.uint64), np.empty(1, dt)
        kernels.keys(V, V.view(it), dt(1e-4), dt(1e-30), 1, keys, tol)
        order, out, loop = np.zeros((1, 2), np.intp), np.empty_like(V), np.ones(1, np.bool_)
        kernels.finish(V, keys, tol, 1, True, True, order, out, loop)
        kernels.refine(V, tol, order, loop, True, out, dt == np.float32)
    return kernels


def _compiled_lexsort(kernels, V, gather, out=None):
    """:func:`fast_lexsort` by the compiled kernels (the same orders)."""
    V = np.ascontiguousarray(V)
    n, m, width = V.shape
    dt = V.dtype
    b = max(1, int(m - 1).bit_length())
    flat = V.reshape(n, m * width)
    keys = np.empty((n, m), dtype=np.uint64)
    tol = np.empty(n, dtype=dt)
    if not kernels.keys(flat, flat.view(np.int32 if dt == np.float32 else np.int64), dt.type(SORT_RTOL[dt]),
                        np.finfo(dt).tiny, b, keys, tol):
        return None, None
    keys.sort(axis=1)
    order = np.empty((n, m), dtype=np.intp)
    if not gather:
        out = np.empty((n, 1), dtype=dt)
    elif out is None:
        out = np.empty_like(V)
    loop = np.empty(n, dtype=np.bool_)
    kernels.finish(flat, keys, tol, b, dt == np.float32 and width > 1, gather, order,
                   out.reshape(n, -1), loop)
    if loop.any():
        kernels.refine(flat, tol, order, loop, gather, out.reshape(n, -1), dt == np.float32)
    return order, (out if gather else None)
