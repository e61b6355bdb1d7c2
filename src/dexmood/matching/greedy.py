"""Greedy nearest-neighbour matching on a distance, MatchIt's algorithm (numba, union–find search)."""

from __future__ import annotations

import numba
import numpy as np

from dexmood.errors import MatchingError
from dexmood.matching.propensity import ORDERS

# --------------------------------------------------------------------------------------------------
# Greedy nearest-neighbour matching on a distance (the MatchIt algorithm, fast)
# --------------------------------------------------------------------------------------------------

@numba.njit(cache=True)
def _root(parent, i):
    """Union–find root with path compression: the nearest still-available sorted position."""
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        following = parent[i]
        parent[i] = root
        i = following
    return root


@numba.njit(cache=True)
def _greedy_without_replacement(t_value, t_stratum, visit, ratio, c_value, c_row, c_lo, c_hi,
                                block_start, block_end, caliper):
    """Greedy matching without replacement; returns (n_treated × ratio) sorted control positions or -1.

    Controls are sorted by (stratum, distance, row); ``c_lo/c_hi`` bound each stratum, ``block_start/end``
    bound runs of equal (stratum, distance). ``right``/``left`` are union–find forests whose roots are the
    next available position to the right / left (left is shifted by one so that 0 means "none").
    """
    n_t = t_value.shape[0]
    m = c_value.shape[0]
    out = np.full((n_t, ratio), -1, dtype=np.int64)
    right = np.arange(m + 1)
    left = np.arange(m + 1)
    use_caliper = caliper >= 0.0
    for r in range(ratio):
        for step in range(visit.shape[0]):
            t = visit[step]
            s = t_stratum[t]
            if s < 0:
                continue
            lo = c_lo[s]
            hi = c_hi[s]
            if lo >= hi:
                continue
            x = t_value[t]
            p = lo + np.searchsorted(c_value[lo:hi], x)
            li = _root(left, p) - 1 if p > lo else -1
            if li < lo:
                li = -1
            ri = _root(right, p) if p < hi else hi
            if ri >= hi:
                ri = -1
            d_left = abs(c_value[li] - x) if li >= 0 else np.inf
            d_right = abs(c_value[ri] - x) if ri >= 0 else np.inf
            if use_caliper:
                if d_left > caliper:
                    d_left = np.inf
                if d_right > caliper:
                    d_right = np.inf
            d_min = min(d_left, d_right)
            if d_min == np.inf:
                continue
            best_row = np.iinfo(np.int64).max
            best_pos = -1
            if d_left == d_min:
                j = li
                while True:  # equal distances: earliest available row of each tied block
                    b = block_start[j]
                    q = _root(right, b)
                    if c_row[q] < best_row:
                        best_row = c_row[q]
                        best_pos = q
                    if b - 1 < lo:
                        break
                    j = _root(left, b) - 1
                    if j < lo or abs(c_value[j] - x) != d_min:
                        break
            if d_right == d_min:
                j = ri
                while True:
                    q = _root(right, block_start[j])
                    if c_row[q] < best_row:
                        best_row = c_row[q]
                        best_pos = q
                    e = block_end[j]
                    if e + 1 >= hi:
                        break
                    j = _root(right, e + 1)
                    if j >= hi or abs(c_value[j] - x) != d_min:
                        break
            out[t, r] = best_pos
            right[best_pos] = best_pos + 1  # remove: roots now skip this position
            left[best_pos + 1] = best_pos
    return out


@numba.njit(cache=True)
def _nearest_with_replacement(t_value, t_stratum, ratio, c_value, c_row, c_lo, c_hi, caliper):
    """Each treated patient's ``ratio`` closest controls within the caliper (ties: earlier row)."""
    n_t = t_value.shape[0]
    out = np.full((n_t, ratio), -1, dtype=np.int64)
    use_caliper = caliper >= 0.0
    for t in range(n_t):
        s = t_stratum[t]
        if s < 0:
            continue
        lo = c_lo[s]
        hi = c_hi[s]
        if lo >= hi:
            continue
        x = t_value[t]
        p = lo + np.searchsorted(c_value[lo:hi], x)
        li = p - 1
        ri = p
        positions = []
        distances = []
        kth = np.inf
        while True:
            d_left = abs(c_value[li] - x) if li >= lo else np.inf
            d_right = abs(c_value[ri] - x) if ri < hi else np.inf
            d_next = min(d_left, d_right)
            if d_next == np.inf or (use_caliper and d_next > caliper):
                break
            if len(positions) >= ratio and d_next > kth:
                break
            if d_left <= d_right:
                positions.append(li)
                distances.append(d_left)
                li -= 1
            else:
                positions.append(ri)
                distances.append(d_right)
                ri += 1
            if len(positions) == ratio:
                kth = d_next
        if len(positions) == 0:
            continue
        # Sort the few candidates by (distance, row): insertion sort, stable and numba-friendly.
        n_cand = len(positions)
        pos = np.empty(n_cand, dtype=np.int64)
        dist = np.empty(n_cand)
        for j in range(n_cand):
            pos[j] = positions[j]
            dist[j] = distances[j]
        for j in range(1, n_cand):
            pj, dj = pos[j], dist[j]
            k = j - 1
            while k >= 0 and (dist[k] > dj or (dist[k] == dj and c_row[pos[k]] > c_row[pj])):
                pos[k + 1] = pos[k]
                dist[k + 1] = dist[k]
                k -= 1
            pos[k + 1] = pj
            dist[k + 1] = dj
        for j in range(min(ratio, n_cand)):
            out[t, j] = pos[j]
    return out


def match_on_distance(distance: np.ndarray, treated: np.ndarray, *, ratio: int = 1, replace: bool = False,
                      caliper: float | None = None, exact_codes: np.ndarray | None = None,
                      order: str = "largest") -> np.ndarray:
    """Greedy nearest-neighbour matching on a precomputed distance (MatchIt's algorithm).

    Parameters are arrays over all patients: ``distance`` (e.g. logit PS), ``treated`` (bool), optional
    integer ``exact_codes`` (same code = may match). ``caliper`` is in distance units (None = no caliper).
    Returns the match matrix: one row per treated patient in data order, ``ratio`` columns of control row
    numbers (positions in the input), -1 where no control was found.
    """
    distance = np.asarray(distance, dtype=np.float64)
    treated = np.asarray(treated, dtype=bool)
    if ratio < 1 or int(ratio) != ratio:
        raise MatchingError(f"ratio must be a positive whole number, got {ratio}")
    if order not in ORDERS:
        raise MatchingError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    if not np.isfinite(distance).all():
        raise MatchingError("the distance has missing or infinite values (perfect separation?)")
    rows_t = np.flatnonzero(treated)
    rows_c = np.flatnonzero(~treated)
    codes = np.zeros(len(distance), dtype=np.int64) if exact_codes is None else np.asarray(exact_codes, np.int64)
    # Controls sorted by (stratum, distance, row); np.lexsort is stable, so equal keys stay in row order.
    sort = np.lexsort((rows_c, distance[rows_c], codes[rows_c]))
    c_row = rows_c[sort]
    c_value = distance[c_row]
    c_code = codes[c_row]
    strata = np.unique(codes)
    c_lo = np.searchsorted(c_code, strata, side="left").astype(np.int64)
    c_hi = np.searchsorted(c_code, strata, side="right").astype(np.int64)
    t_stratum = np.searchsorted(strata, codes[rows_t]).astype(np.int64)
    t_value = distance[rows_t]
    cal = -1.0 if caliper is None else float(caliper)
    if replace:
        positions = _nearest_with_replacement(t_value, t_stratum, int(ratio), c_value, c_row, c_lo, c_hi, cal)
    else:
        new_block = np.ones(len(c_row), dtype=bool)
        if len(c_row) > 1:
            new_block[1:] = (c_value[1:] != c_value[:-1]) | (c_code[1:] != c_code[:-1])
        starts = np.flatnonzero(new_block)
        block_id = np.cumsum(new_block) - 1
        ends = np.append(starts[1:] - 1, len(c_row) - 1)
        block_start = starts[block_id].astype(np.int64)
        block_end = ends[block_id].astype(np.int64)
        if order == "largest":  # R's order(decreasing = TRUE) is stable: ties keep data order
            visit = np.argsort(-t_value, kind="stable")
        elif order == "smallest":
            visit = np.argsort(t_value, kind="stable")
        else:
            visit = np.arange(len(rows_t))
        positions = _greedy_without_replacement(t_value, t_stratum, visit.astype(np.int64), int(ratio), c_value,
                                                c_row, c_lo, c_hi, block_start, block_end, cal)
    return np.where(positions >= 0, c_row[np.maximum(positions, 0)], -1)


def matchit_weights(match_matrix: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """ATT weights of MatchIt's ``match.data()`` from a match matrix (rows = treated in data order)."""
    treated = np.asarray(treated, dtype=bool)
    weights = np.zeros(len(treated))
    rows_t = np.flatnonzero(treated)
    found = match_matrix >= 0
    n_found = found.sum(axis=1)
    has = n_found > 0
    weights[rows_t[has]] = 1.0
    share = np.broadcast_to((1.0 / np.maximum(n_found, 1))[:, None], match_matrix.shape)
    np.add.at(weights, match_matrix[found], share[found])
    controls = ~treated & (weights > 0)
    if controls.any():
        weights[controls] *= controls.sum() / weights[controls].sum()
    return weights
