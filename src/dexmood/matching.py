"""Stage 2 – propensity-score matching, a port of R's MatchIt (nearest neighbour) and cobalt's bal.tab.

What is ported, and from where (MatchIt 4.x, Ho, Imai, King & Stuart; cobalt, Greifer):

* Propensity model: unpenalised logistic regression (statsmodels) of DEX on the baseline covariates.
  Categorical covariates are dummy-coded as R's ``glm`` does: levels sorted, the first level is the
  reference (R names the column ``sexM``; here it is ``sex_M``). The matching distance is the **logit** of
  the propensity score (MatchIt ``distance = "glm", link = "linear.logit"``).
* Greedy nearest-neighbour matching for the ATT (MatchIt ``method = "nearest"``):
  treated patients are visited in decreasing distance (``m.order = "largest"``; ties in data order);
  each takes the closest control still available that lies within the caliper (``|Δlogit| <= caliper``;
  when several are equally close, the earlier row wins, as in ``MatchIt:::nn_matchC``); for 1:k matching
  every treated patient takes one control per round, k rounds. The caliper is ``caliper_sd`` × the SD
  (n − 1) of the logit over all patients (``std.caliper = TRUE``). Exact matching restricts candidates to
  controls with the same values of the named columns. With replacement, each treated patient takes its k
  closest controls within the caliper.
* Weights as ``match.data()``: matched treated 1; a control gets Σ 1/kᵢ over the treated patients i it was
  matched to (kᵢ = number of controls of i), then control weights are rescaled to sum to the number of
  distinct matched controls.
* Balance as ``summary.matchit`` / ``cobalt::bal.tab`` for the ATT: means by group (weighted after
  matching), standardized mean difference with the denominator = SD of the treated group in the full sample
  (binary: sqrt(p(1 − p))), the same before and after; variance ratio treated/control (not for binary);
  eCDF mean and max differences evaluated at the unique values of the full sample.

The search uses the controls sorted by distance and two union–find "next available" structures, so one
match costs near O(log n) instead of O(n): a million patients match in about a second. The order of the
greedy visits is MatchIt's, so the matched sets are MatchIt's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numba
import numpy as np
import pandas as pd

from dexmood.cohort import baseline_covariates
from dexmood.errors import MatchingError
from dexmood.settings import SETTINGS

#: Balance thresholds (Austin 2009; Rubin 2001): |SMD| below, variance ratio within.
SMD_THRESHOLD = 0.1
VARIANCE_RATIO_RANGE = (0.5, 2.0)
DEFAULT_CALIPER_SD = SETTINGS.caliper_sd
ORDERS = ("largest", "smallest", "data")
TREATED_GROUP = "DEX"


# --------------------------------------------------------------------------------------------------
# Propensity model
# --------------------------------------------------------------------------------------------------

def _is_categorical(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def categorical_levels(series: pd.Series) -> list[str]:
    """Levels of a categorical covariate in R's default order (sorted; the first is the reference)."""
    return sorted(str(v) for v in series.dropna().unique())


#: Transforms a propensity term may apply to a numeric covariate (see `propensity_terms`).
TRANSFORMS = {"log": np.log, "log1p": np.log1p}


def design_matrix(frame: pd.DataFrame, covariates: list[str],
                  transforms: dict[str, str] | None = None) -> pd.DataFrame:
    """Model matrix as R's ``model.matrix``: an intercept, numeric columns as they are (or transformed by
    ``transforms[column]``, e.g. ``"log"``, named ``log(<column>)``), and one 0/1 column per non-reference
    level of each categorical covariate (named ``<column>_<level>``)."""
    transforms = transforms or {}
    columns: dict[str, np.ndarray] = {"Intercept": np.ones(len(frame))}
    for name in covariates:
        series = frame[name]
        if _is_categorical(series):
            values = series.astype("string").to_numpy(dtype=object)
            for level in categorical_levels(series)[1:]:
                columns[f"{name}_{level}"] = (values == level).astype(float)
        elif name in transforms:
            columns[f"{transforms[name]}({name})"] = TRANSFORMS[transforms[name]](series.to_numpy(dtype=float))
        else:
            columns[name] = series.to_numpy(dtype=float)
    return pd.DataFrame(columns, index=frame.index)


@dataclass
class PropensityModel:
    """A fitted propensity model: P(DEX | covariates), its logit (the matching distance) and its AUC."""

    covariates: list[str]
    formula: str | None
    result: object  # statsmodels LogitResults
    score: pd.Series
    logit: pd.Series
    treated: pd.Series
    auc: float
    converged: bool
    notes: list[str] = field(default_factory=list)

    def coefficients(self) -> pd.DataFrame:
        """Coefficient table: log-odds estimate, SE, z, p and the odds ratio with its 95% CI."""
        params, bse = self.result.params, self.result.bse
        ci = self.result.conf_int()
        return pd.DataFrame({
            "term": params.index, "log_odds": params.to_numpy(), "se": bse.to_numpy(),
            "z": self.result.tvalues.to_numpy(), "p": self.result.pvalues.to_numpy(),
            "odds_ratio": np.exp(params.to_numpy()), "or_low": np.exp(ci.iloc[:, 0].to_numpy()),
            "or_high": np.exp(ci.iloc[:, 1].to_numpy()),
        })

    def overlap(self) -> pd.DataFrame:
        """Range of the propensity score by group and how many patients fall outside the other group's range."""
        rows = []
        for group, mask in ((TREATED_GROUP, self.treated), ("LA", ~self.treated)):
            other = self.score[~mask]
            values = self.score[mask]
            outside = int(((values < other.min()) | (values > other.max())).sum())
            rows.append({"group": group, "n": int(mask.sum()), "ps_min": values.min(), "ps_median": values.median(),
                         "ps_max": values.max(), "outside_other_range": outside})
        return pd.DataFrame(rows)


def _complete_rows(frame: pd.DataFrame, covariates: list[str]) -> pd.Series:
    return frame[covariates].notna().all(axis=1)


def fit_propensity(frame: pd.DataFrame, covariates: list[str] | None = None,
                   formula: str | None = None, transforms: dict[str, str] | None = None) -> PropensityModel:
    """Fit the logistic propensity model of DEX (``group == "DEX"``) on the covariates.

    ``covariates`` defaults to `dexmood.cohort.baseline_covariates(frame)`. A ``formula`` (right-hand side,
    e.g. ``"age + sex + np.log(pain_duration_months)"``, or a full ``"dex ~ ..."``) replaces the main-effects
    model; ``covariates`` then lists the CSV columns it uses (for balance). Rows with a missing covariate
    are left out (MatchIt would stop); their number is in ``notes``.
    """
    import statsmodels.api as sm
    import statsmodels.formula.api as smf
    from sklearn.metrics import roc_auc_score

    if "group" not in frame:
        raise MatchingError("the data have no 'group' column (DEX or LA): nothing to match on")
    if formula is not None and covariates is None:
        covariates = [c for c in frame.columns if c != "group" and _mentions(formula, c)]
    explicit = covariates is not None
    covariates = list(covariates) if explicit else baseline_covariates(frame)
    missing_columns = [c for c in covariates if c not in frame.columns]
    if missing_columns:
        raise MatchingError(f"covariate column(s) not in the data: {', '.join(missing_columns)}")
    notes = []
    constant = [c for c in covariates if frame[c].nunique(dropna=True) < 2]
    if constant and explicit:
        raise MatchingError(f"the propensity model cannot be fitted: constant covariate(s): {', '.join(constant)} "
                            "(a covariate needs at least two values); remove them")
    if constant:  # default list: a covariate without variation carries no information, as R's glm would say
        notes.append(f"constant covariate(s) left out: {', '.join(constant)}")
        covariates = [c for c in covariates if c not in constant]
    complete = _complete_rows(frame, covariates)
    if not complete.all():
        notes.append(f"{int((~complete).sum())} patient(s) with a missing covariate left out of matching")
    data = frame.loc[complete]
    treated = data["group"] == TREATED_GROUP
    if treated.sum() == 0 or (~treated).sum() == 0:
        raise MatchingError(f"matching needs both groups: {int(treated.sum())} DEX and {int((~treated).sum())} "
                            "LA patients with complete covariates")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if formula is not None:
                rhs = formula.split("~", 1)[1] if "~" in formula else formula
                model_data = data.assign(dex=treated.astype(float))
                result = smf.logit(f"dex ~ {rhs}", data=model_data).fit(disp=0, maxiter=100)
            else:
                design = design_matrix(data, covariates, transforms)
                result = sm.Logit(treated.astype(float), design).fit(disp=0, maxiter=100)
        except np.linalg.LinAlgError:
            constant = [c for c in covariates if data[c].nunique() < 2]
            detail = (f"constant covariate(s): {', '.join(constant)}" if constant
                      else "some covariates are linear combinations of others")
            raise MatchingError(f"the propensity model cannot be fitted: its design matrix is singular ({detail}); "
                                "remove the redundant covariates") from None
    notes += sorted({str(w.message).splitlines()[0] for w in caught})
    linear = pd.Series(np.asarray(result.fittedvalues, dtype=float), index=data.index, name="distance")
    score = pd.Series(1.0 / (1.0 + np.exp(-linear.to_numpy())), index=data.index, name="propensity")
    auc = float(roc_auc_score(treated.to_numpy(), score.to_numpy()))
    converged = bool(result.mle_retvals.get("converged", True))
    if formula is None and transforms:
        formula = " + ".join(f"{transforms[c]}({c})" if c in transforms else c for c in covariates)
    return PropensityModel(covariates=covariates, formula=formula, result=result, score=score, logit=linear,
                           treated=treated, auc=auc, converged=converged, notes=notes)


def _mentions(formula: str, column: str) -> bool:
    import re

    return re.search(rf"(?<![A-Za-z0-9_.]){re.escape(column)}(?![A-Za-z0-9_])", formula) is not None


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


# --------------------------------------------------------------------------------------------------
# Matching a cohort
# --------------------------------------------------------------------------------------------------

@dataclass
class MatchResult:
    """A matched sample, like MatchIt's ``matchit`` object plus ``match.data()``.

    ``data``: matched patients (all cohort columns in data order) with ``distance`` (logit PS), ``subclass``
    (matched set id, numbered by the treated patient's data order; with replacement a reused control shows
    the subclass of its first treated patient) and ``weights``. ``full``: every patient used for matching
    with ``distance``, ``weights`` (0 = unmatched), ``matched``. ``pairs``: one row per treated–control
    pair (like ``get_matches()``). ``match_matrix``: MatchIt's match matrix as row positions of ``full``.
    """

    data: pd.DataFrame
    full: pd.DataFrame
    pairs: pd.DataFrame
    match_matrix: np.ndarray
    propensity: PropensityModel
    summary: dict
    unmatched: pd.DataFrame

    def balance(self) -> BalanceTable:
        return balance_table(self.full, self.propensity.covariates, weights=self.full["weights"].to_numpy(),
                             distance=self.full["distance"].to_numpy())


def _exact_codes(frame: pd.DataFrame, exact: list[str]) -> np.ndarray:
    keys = frame[exact].astype("string").fillna("<NA>")
    return keys.groupby(exact, sort=True, dropna=False).ngroup().to_numpy(dtype=np.int64)


def _within_caliper_counts(distance, treated, codes, caliper) -> np.ndarray:
    """For each treated patient, how many controls of its exact stratum lie within the caliper."""
    counts = np.zeros(int(treated.sum()), dtype=np.int64)
    t_rows = np.flatnonzero(treated)
    for code in np.unique(codes[t_rows]):
        c_vals = np.sort(distance[~treated & (codes == code)])
        t_sel = codes[t_rows] == code
        x = distance[t_rows[t_sel]]
        if caliper is None:
            counts[t_sel] = len(c_vals)
        else:
            counts[t_sel] = (np.searchsorted(c_vals, x + caliper, side="right")
                             - np.searchsorted(c_vals, x - caliper, side="left"))
    return counts


def match_nearest(frame: pd.DataFrame, covariates: list[str] | None = None, *, ratio: int = 1,
                  replace: bool = False, caliper_sd: float | None = DEFAULT_CALIPER_SD,
                  exact: list[str] | str | None = None, formula: str | None = None,
                  transforms: dict[str, str] | None = None,
                  order: str = "largest") -> MatchResult:
    """1:k greedy nearest-neighbour matching on the logit propensity score for the ATT (DEX = treated).

    Equivalent to ``MatchIt::matchit(dex ~ covariates, method = "nearest", distance = "glm",
    link = "linear.logit", ratio = ratio, replace = replace, caliper = caliper_sd, std.caliper = TRUE,
    exact = exact, m.order = order)``. ``caliper_sd=None`` matches without a caliper.
    Raises `MatchingError` if no treated patient can be matched.
    """
    if isinstance(exact, str):
        exact = [exact]
    exact = list(exact or [])
    missing = [c for c in exact if c not in frame.columns]
    if missing:
        raise MatchingError(f"exact-matching column(s) not in the data: {', '.join(missing)}")
    propensity = fit_propensity(frame, covariates, formula, transforms)
    full = frame.loc[propensity.logit.index].copy()
    full["distance"] = propensity.logit.to_numpy()
    full = full.reset_index(drop=True)
    treated = (full["group"] == TREATED_GROUP).to_numpy()
    distance = full["distance"].to_numpy()
    caliper = None
    if caliper_sd is not None:
        if caliper_sd <= 0:
            raise MatchingError(f"caliper_sd must be positive (or None for no caliper), got {caliper_sd}")
        caliper = float(caliper_sd) * float(np.std(distance, ddof=1))
    codes = _exact_codes(full, exact) if exact else np.zeros(len(full), dtype=np.int64)
    match_matrix = match_on_distance(distance, treated, ratio=ratio, replace=replace, caliper=caliper,
                                     exact_codes=codes, order=order)
    rows_t = np.flatnonzero(treated)
    has_match = (match_matrix >= 0).any(axis=1)
    scale = (f"{caliper_sd} SD of the logit propensity score = {caliper:.4f} logit units"
             if caliper is not None else "no caliper")
    if not has_match.any():
        where = f" with exact matching on {', '.join(exact)}" if exact else ""
        raise MatchingError(
            f"no treated (DEX) patient has a control within the caliper ({scale}){where}: "
            f"{len(rows_t)} DEX and {int((~treated).sum())} LA patients, none matched. "
            "Widen caliper_sd, drop exact matching, or check the overlap of the propensity scores."
            + (f" The propensity model reported: {'; '.join(propensity.notes)}." if propensity.notes else ""))

    weights = matchit_weights(match_matrix, treated)
    full["weights"] = weights
    full["matched"] = weights > 0
    subclass = np.full(len(full), -1, dtype=np.int64)
    set_id = np.cumsum(has_match)  # 1, 2, ... for matched treated in data order
    subclass[rows_t[has_match]] = set_id[has_match]
    pair_rows = []
    for r in range(match_matrix.shape[1]):
        found = match_matrix[:, r] >= 0
        pair_rows.append(pd.DataFrame({"subclass": set_id[found], "treated_row": rows_t[found],
                                       "control_row": match_matrix[found, r], "round": r + 1}))
    pairs = pd.concat(pair_rows, ignore_index=True).sort_values(["subclass", "round"], kind="stable")
    # first (lowest) subclass of each control
    first = pairs.drop_duplicates("control_row", keep="first")
    subclass[first["control_row"].to_numpy()] = first["subclass"].to_numpy()
    full["subclass"] = pd.array(np.where(subclass > 0, subclass, 0), dtype="Int64")
    full.loc[subclass <= 0, "subclass"] = pd.NA
    ids = full["patient_id"].to_numpy()
    pairs = pairs.assign(
        treated_id=ids[pairs["treated_row"].to_numpy()], control_id=ids[pairs["control_row"].to_numpy()],
        treated_distance=distance[pairs["treated_row"].to_numpy()],
        control_distance=distance[pairs["control_row"].to_numpy()])
    pairs["abs_difference"] = (pairs["treated_distance"] - pairs["control_distance"]).abs()
    pairs = pairs.reset_index(drop=True)

    # Why were treated patients left unmatched?
    in_caliper = _within_caliper_counts(distance, treated, codes, caliper)
    unmatched_t = ~has_match
    reasons = np.where(in_caliper[unmatched_t] == 0, "no control within the caliper",
                       "every control within the caliper was already used")
    unmatched = pd.DataFrame({"patient_id": ids[rows_t[unmatched_t]], "distance": distance[rows_t[unmatched_t]],
                              "controls_within_caliper": in_caliper[unmatched_t], "reason": reasons})

    data = full.loc[full["matched"]].drop(columns="matched").reset_index(drop=True)
    n_controls_matched = int((full["matched"] & ~treated).sum())
    summary = {
        "n": int(len(full)), "n_treated": int(treated.sum()), "n_control": int((~treated).sum()),
        "pairs": int(has_match.sum()), "treated_unmatched": int(unmatched_t.sum()),
        "controls_matched": n_controls_matched, "controls_unmatched": int((~treated).sum()) - n_controls_matched,
        "ratio": int(ratio), "replace": bool(replace), "caliper_sd": caliper_sd,
        "caliper_logit": caliper, "caliper_text": scale, "order": order, "exact": exact,
        "covariates": list(propensity.covariates), "formula": propensity.formula,
        "distance": "logit of the propensity score (logistic regression)", "estimand": "ATT",
        "excluded_missing": int(len(frame) - len(full)), "auc": propensity.auc,
        "unmatched_reasons": {str(k): int(v) for k, v in pd.Series(reasons).value_counts().items()},
    }
    return MatchResult(data=data, full=full, pairs=pairs, match_matrix=match_matrix, propensity=propensity,
                       summary=summary, unmatched=unmatched)


#: A numeric covariate at least this right-skewed (sample skewness), with no negative values and more than
#: two values, enters the default propensity model on the log scale.
SKEWNESS_FOR_LOG = 1.0


def propensity_transforms(frame: pd.DataFrame, covariates: list[str] | None = None
                           ) -> tuple[list[str], dict[str, str]]:
    """The default propensity model's covariates and transforms, by a rule that does not look at treatment:

    - categorical covariates enter as indicator columns, numeric ones linearly;
    - a numeric covariate with more than two values, none negative, and sample skewness above
      `SKEWNESS_FOR_LOG` (durations, counts, laboratory values) enters as log(x), or log(1 + x) when it
      has zeros: a linear logit in a long-tailed covariate lets its extreme values dominate the score, and
      matching then balances its mean but not its spread (variance ratios far from 1).
    Constant covariates are left out (they carry no information)."""
    covariates = list(covariates) if covariates is not None else baseline_covariates(frame)
    kept, transforms = [], {}
    for name in covariates:
        series = frame[name].dropna()
        if series.nunique() < 2:
            continue
        kept.append(name)
        if _is_categorical(series):
            continue
        values = series.to_numpy(dtype=float)
        if values.min() >= 0 and series.nunique() > 2 and float(series.astype(float).skew()) > SKEWNESS_FOR_LOG:
            transforms[name] = "log1p" if values.min() == 0 else "log"
    return kept, transforms


def match_with_settings(cohort, settings=None, **overrides) -> MatchResult:
    """The book's main specification (used by notebooks 02–05, the command line and the sensitivity
    analyses): greedy nearest neighbour on the logit of the default propensity model
    (`propensity_transforms`), largest propensity first, with ratio, replacement and caliper from
    `dexmood.settings.SETTINGS` unless overridden."""
    settings = settings or SETTINGS
    frame = cohort.data if hasattr(cohort, "data") else cohort
    covariates, transforms = propensity_transforms(frame, overrides.pop("covariates", None))
    transforms = overrides.pop("transforms", transforms)
    options = {"ratio": settings.ratio, "replace": settings.replace, "caliper_sd": settings.caliper_sd}
    options.update(overrides)
    return match_nearest(frame, covariates, transforms=transforms, **options)


def default_match(cohort, settings=None) -> MatchResult:
    """The book's main matched sample (`match_with_settings` with the book's settings)."""
    return match_with_settings(cohort, settings)


# --------------------------------------------------------------------------------------------------
# Balance (summary.matchit / cobalt::bal.tab)
# --------------------------------------------------------------------------------------------------

def balance_sentence(balance: BalanceTable) -> str:
    """One sentence on the book's balance rule for a matched sample, from the table."""
    if balance.passed:
        return (f"every term is balanced (|SMD| < {balance.smd_threshold:g}, variance ratios within "
                f"{balance.variance_ratio_range[0]:g}–{balance.variance_ratio_range[1]:g})")
    failing = balance.failures()
    return (f"{len(failing)} of {len(balance.covariate_rows)} terms are not balanced "
            f"({', '.join(failing['term'])}), so the covariate-adjusted estimate is the primary one")


def balance_terms(frame: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """Numeric columns for balance: numeric covariates as they are; a two-level categorical as its
    non-reference level (``sex_M``); a categorical with more levels as one 0/1 column per level."""
    terms: dict[str, np.ndarray] = {}
    for name in covariates:
        series = frame[name]
        if _is_categorical(series):
            levels = categorical_levels(series)
            values = series.astype("string").to_numpy(dtype=object)
            for level in (levels[1:] if len(levels) == 2 else levels):
                terms[f"{name}_{level}"] = (values == level).astype(float)
        else:
            terms[name] = series.to_numpy(dtype=float)
    return pd.DataFrame(terms, index=frame.index)


def weighted_variance(x: np.ndarray, weights: np.ndarray | None = None, binary: bool | None = None) -> float:
    """MatchIt's ``wvar``: p(1 − p) for 0/1 variables, else the reliability-weighted variance of
    ``cov.wt`` (the usual n − 1 variance when all weights are equal)."""
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if binary is None:
        binary = bool(np.all((x == 0) | (x == 1)))
    w = w / w.sum()
    mean = float(np.sum(w * x))
    if binary:
        return mean * (1 - mean)
    return float(np.sum(w * (x - mean) ** 2) / (1 - np.sum(w**2)))


def ecdf_differences(x: np.ndarray, treated: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Mean and max |eCDF_treated − eCDF_control| at the unique values of x in the full sample (MatchIt
    ``qqsum``); for 0/1 variables both are the absolute difference in proportions."""
    x = np.asarray(x, dtype=float)
    treated = np.asarray(treated, dtype=bool)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if np.all((x == 0) | (x == 1)) and len(np.unique(x)) == 2:
        diff = abs(np.average(x[treated], weights=w[treated]) - np.average(x[~treated], weights=w[~treated]))
        return float(diff), float(diff)
    w = np.where(treated, w / w[treated].sum(), -w / w[~treated].sum())
    order = np.argsort(x, kind="stable")
    xs = x[order]
    cumulative = np.abs(np.cumsum(w[order]))
    last_of_value = np.append(xs[1:] != xs[:-1], True)
    ediff = cumulative[last_of_value]
    return float(ediff.mean()), float(ediff.max())


def _balance_row(x, treated, weights, denominator_sd, binary):
    w = np.ones_like(x) if weights is None else weights
    t, c = treated, ~treated
    mean_t = float(np.average(x[t], weights=w[t]))
    mean_c = float(np.average(x[c], weights=w[c]))
    diff = mean_t - mean_c
    smd = diff / denominator_sd if abs(diff) > np.sqrt(np.finfo(float).eps) else diff
    vr = np.nan if binary else weighted_variance(x[t], w[t], False) / weighted_variance(x[c], w[c], False)
    ecdf_mean, ecdf_max = ecdf_differences(x, treated, w)
    return mean_t, mean_c, smd, vr, ecdf_mean, ecdf_max


@dataclass
class BalanceTable:
    """Covariate balance before and after matching (one row per term), with thresholds and a verdict."""

    table: pd.DataFrame
    smd_threshold: float = SMD_THRESHOLD
    variance_ratio_range: tuple[float, float] = VARIANCE_RATIO_RANGE

    @property
    def covariate_rows(self) -> pd.DataFrame:
        return self.table[self.table["term"] != "distance"]

    @property
    def passed(self) -> bool:
        return bool(self.covariate_rows["balanced"].all())

    def max_abs_smd(self, when: str = "after") -> float:
        return float(self.covariate_rows[f"smd_{when}"].abs().max())

    def failures(self) -> pd.DataFrame:
        return self.covariate_rows.loc[~self.covariate_rows["balanced"]]

    def verdict(self) -> str:
        rows = self.covariate_rows
        n_smd = int(rows["smd_ok"].sum())
        vr_rows = rows[rows["type"] == "continuous"]
        n_vr = int(vr_rows["vr_ok"].sum())
        word = "PASS" if self.passed else "FAIL"
        lo, hi = self.variance_ratio_range
        return (f"{word}: {n_smd}/{len(rows)} terms with |SMD| < {self.smd_threshold}; "
                f"{n_vr}/{len(vr_rows)} continuous terms with variance ratio in [{lo}, {hi}]")

    def display(self, digits: int = 3) -> pd.DataFrame:
        """The table as bal.tab prints it (rounded; thresholds as Balanced/Not balanced)."""
        shown = self.table.copy()
        numeric = shown.select_dtypes("number").columns
        shown[numeric] = shown[numeric].round(digits)
        shown["smd_ok"] = np.where(shown["term"] == "distance", "",
                                   np.where(shown["smd_ok"], "Balanced", "Not balanced"))
        shown["vr_ok"] = np.where(shown["type"] == "continuous",
                                  np.where(shown["vr_ok"], "Balanced", "Not balanced"), "")
        shown.loc[shown["term"] == "distance", "vr_ok"] = ""
        return shown.drop(columns=["balanced"]).set_index("term")


def balance_table(frame: pd.DataFrame, covariates: list[str], weights: np.ndarray | None = None,
                  distance: np.ndarray | None = None, smd_threshold: float = SMD_THRESHOLD,
                  variance_ratio_range: tuple[float, float] = VARIANCE_RATIO_RANGE) -> BalanceTable:
    """bal.tab for the ATT on the full sample ``frame`` (all patients used for matching).

    ``weights`` are the matching weights (0 = not in the matched sample); None gives only the
    "before" columns equal to "after". SMD denominator: SD of the treated group in the full sample
    (sqrt(p(1 − p)) for 0/1 terms), identical before and after matching.
    """
    treated = (frame["group"] == TREATED_GROUP).to_numpy()
    terms = balance_terms(frame, covariates)
    if distance is not None:
        terms.insert(0, "distance", np.asarray(distance, dtype=float))
    rows = []
    for term in terms.columns:
        x = terms[term].to_numpy(dtype=float)
        binary = bool(np.all((x == 0) | (x == 1)))
        sd = float(np.sqrt(weighted_variance(x[treated], None, binary)))
        if not np.isfinite(sd) or sd < np.sqrt(np.finfo(float).eps):  # MatchIt falls back to the pooled SD
            sd = float(np.sqrt((weighted_variance(x[treated], None, binary)
                                + weighted_variance(x[~treated], None, binary)) / 2))
        before = _balance_row(x, treated, None, sd, binary)
        after = _balance_row(x, treated, weights, sd, binary) if weights is not None else before
        covariate = term if term in frame.columns or term == "distance" else term.rsplit("_", 1)[0]
        for name in covariates:  # the CSV column this term comes from
            if term == name or term.startswith(f"{name}_"):
                covariate = name
        row = {"term": term, "covariate": covariate, "type": "binary" if binary else "continuous",
               "sd_treated_full": sd}
        for label, stats in (("before", before), ("after", after)):
            for key, value in zip(("mean_treated", "mean_control", "smd", "variance_ratio", "ecdf_mean",
                                   "ecdf_max"), stats, strict=True):
                row[f"{key}_{label}"] = value
        rows.append(row)
    table = pd.DataFrame(rows)
    lo, hi = variance_ratio_range
    table["smd_ok"] = table["smd_after"].abs() < smd_threshold
    vr = table["variance_ratio_after"]
    table["vr_ok"] = (table["type"] == "binary") | ((vr >= lo) & (vr <= hi))
    table["balanced"] = table["smd_ok"] & table["vr_ok"]
    return BalanceTable(table=table, smd_threshold=smd_threshold, variance_ratio_range=variance_ratio_range)


def covariate_table(frame: pd.DataFrame, covariates: list[str] | None = None,
                    transforms: dict[str, str] | None = None) -> pd.DataFrame:
    """How each covariate enters the propensity model (type, reference level, model terms)."""
    covariates = covariates or baseline_covariates(frame)
    transforms = transforms or {}
    rows = []
    for name in covariates:
        series = frame[name]
        if _is_categorical(series):
            levels = categorical_levels(series)
            rows.append({"covariate": name, "type": f"categorical ({len(levels)} levels)",
                         "reference": levels[0], "model terms": ", ".join(f"{name}_{lv}" for lv in levels[1:]),
                         "missing": int(series.isna().sum())})
        else:
            term = f"{transforms[name]}({name})" if name in transforms else name
            rows.append({"covariate": name, "type": "numeric", "reference": "",
                         "model terms": term, "missing": int(series.isna().sum())})
    return pd.DataFrame(rows)


def alternative_specifications(settings=None) -> dict[str, dict]:
    """The main specification and the alternatives notebook 02 compares (keyword arguments of
    `match_with_settings`), named from the settings so no caliper is written twice."""
    settings = settings or SETTINGS
    caliper = settings.caliper_sd
    return {
        f"{settings.describe_matching()} (main)": {},
        f"1:1, caliper {caliper / 2:g} SD": {"caliper_sd": caliper / 2},
        "1:1, no caliper": {"caliper_sd": None},
        f"1:2, caliper {caliper:g} SD": {"ratio": 2},
        f"1:1 with replacement, caliper {caliper:g} SD": {"replace": True},
        f"1:1, caliper {caliper:g} SD, exact on procedure": {"exact": ["procedure"]},
        f"{settings.describe_matching()}, main effects only (no log terms)": {"transforms": {}},
    }


def compare_specifications(frame: pd.DataFrame, specifications: dict[str, dict], settings=None) -> pd.DataFrame:
    """Run several matching specifications (name → keyword arguments of `match_with_settings`) and tabulate
    the matched sample size and balance of each; a specification that cannot match shows its error."""
    rows = []
    for name, options in specifications.items():
        try:
            result = match_with_settings(frame, settings, **options)
        except MatchingError as error:
            rows.append({"specification": name, "error": str(error)})
            continue
        balance = result.balance()
        rows.append({"specification": name, "DEX matched": result.summary["pairs"],
                     "DEX unmatched": result.summary["treated_unmatched"],
                     "LA used": result.summary["controls_matched"],
                     "max |SMD| after": balance.max_abs_smd("after"),
                     "terms not balanced": len(balance.failures()), "balanced": balance.passed})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Outputs for the CLI and later notebooks
# --------------------------------------------------------------------------------------------------

def matched_csv(match_result: MatchResult) -> pd.DataFrame:
    """The matched sample for other tools: patient_id, group, subclass, weight, distance (logit PS)."""
    data = match_result.data
    return pd.DataFrame({"patient_id": data["patient_id"].astype(str).to_numpy(),
                         "group": data["group"].astype(str).to_numpy(),
                         "subclass": data["subclass"].to_numpy(), "weight": data["weights"].to_numpy(),
                         "distance": data["distance"].to_numpy()})


def write_matched_csv(match_result: MatchResult, path=None):
    """Write `matched_csv` (default ``data/derived/matched.csv``) with the cohort's fixed CSV encoding."""
    from dexmood import cohort, paths

    return cohort.write_csv(matched_csv(match_result), path or paths.derived("matched.csv"))


def results_section(match_result: MatchResult) -> dict:
    """The ``"matching"`` block of ``results.json``."""
    balance = match_result.balance()
    return {
        "covariates": list(match_result.summary["covariates"]),
        "pairs": int(match_result.summary["pairs"]),
        "treated_unmatched": int(match_result.summary["treated_unmatched"]),
        "max_abs_smd_before": round(balance.max_abs_smd("before"), 6),
        "max_abs_smd_after": round(balance.max_abs_smd("after"), 6),
        "balance_passed": balance.passed,
        "failing_terms": list(balance.failures()["term"]),
        "caliper_sd": match_result.summary["caliper_sd"],
        "propensity_formula": match_result.summary["formula"],
    }


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------

BEFORE_COLOR = "#999999"
AFTER_COLOR = "#009E73"


def love_plot(balance: BalanceTable, ax=None, threshold: float | None = None):
    """Absolute SMD of every term before and after matching, with the threshold line (cobalt love.plot)."""
    from dexmood import plots

    rows = balance.covariate_rows.iloc[::-1]
    threshold = balance.smd_threshold if threshold is None else threshold
    if ax is None:
        _, ax = plots.new_figure(height=0.32 * len(rows) + 1.4)
    y = np.arange(len(rows))
    before = rows["smd_before"].abs().to_numpy()
    after = rows["smd_after"].abs().to_numpy()
    ax.hlines(y, np.minimum(before, after), np.maximum(before, after), color="#DDDDDD", lw=1.5, zorder=1)
    ax.scatter(before, y, facecolors="none", edgecolors=BEFORE_COLOR, s=40, lw=1.5, label="before matching",
               zorder=2)
    ax.scatter(after, y, color=AFTER_COLOR, s=40, label="after matching", zorder=3)
    ax.axvline(threshold, color="#333333", ls="--", lw=1)
    ax.set_yticks(y, rows["term"])
    ax.set_xlabel("absolute standardized mean difference (SD of DEX group)")
    ax.set_xlim(left=0)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2)
    return ax


def ps_histograms(match_result: MatchResult, scale: str = "probability", bins: int = 25):
    """Mirrored histograms of the propensity score by group, before and after matching (weighted)."""
    from dexmood import plots

    full = match_result.full
    values = (1 / (1 + np.exp(-full["distance"])) if scale == "probability" else full["distance"]).to_numpy()
    edges = np.histogram_bin_edges(values, bins=bins)
    treated = (full["group"] == TREATED_GROUP).to_numpy()
    fig, axes = plots.new_figure(ncols=2, sharey=True, height=3.8)
    for ax, (title, w) in zip(axes, (("before matching", np.ones(len(full))),
                                     ("after matching", full["weights"].to_numpy())), strict=True):
        up, _ = np.histogram(values[treated], bins=edges, weights=w[treated])
        down, _ = np.histogram(values[~treated], bins=edges, weights=w[~treated])
        ax.bar(edges[:-1], up, width=np.diff(edges), align="edge", color=plots.GROUP_COLORS["DEX"],
               label="DEX", edgecolor="white", lw=0.4)
        ax.bar(edges[:-1], -down, width=np.diff(edges), align="edge", color=plots.GROUP_COLORS["LA"],
               label="LA", edgecolor="white", lw=0.4)
        ax.axhline(0, color="#333333", lw=0.8)
        ax.set_title(title)
        ax.set_xlabel("propensity score P(DEX)" if scale == "probability" else "logit propensity score")
    axes[0].set_ylabel("patients (LA below the line; weighted after matching)")
    axes[0].yaxis.set_major_formatter(lambda v, _: f"{abs(v):g}")
    axes[1].legend(loc="upper left")
    return fig, axes


def ecdf_plots(match_result: MatchResult, covariates: list[str] | None = None, ncols: int = 3):
    """eCDF of each continuous covariate by group: before (dashed) and after matching (solid, weighted)."""
    from dexmood import plots

    full = match_result.full
    if covariates is None:
        covariates = [c for c in match_result.propensity.covariates if not _is_categorical(full[c])]
    nrows = int(np.ceil(len(covariates) / ncols))
    fig, axes = plots.new_figure(ncols=ncols, nrows=nrows, height=2.3 * nrows + 0.6, squeeze=False)
    treated = (full["group"] == TREATED_GROUP).to_numpy()
    weights = full["weights"].to_numpy()
    for ax, name in zip(axes.flat, covariates, strict=False):
        x = full[name].to_numpy(dtype=float)
        for group, mask in ((TREATED_GROUP, treated), ("LA", ~treated)):
            color = plots.GROUP_COLORS[group]
            for w, style in ((np.ones(len(x)), "--"), (weights, "-")):
                sel = mask & (w > 0)
                order = np.argsort(x[sel], kind="stable")
                xs = x[sel][order]
                cdf = np.cumsum(w[sel][order]) / w[sel].sum()
                ax.step(xs, cdf, where="post", color=color, ls=style, lw=1.3,
                        alpha=0.55 if style == "--" else 1.0)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(0, 1.02)
    for ax in list(axes.flat)[len(covariates):]:
        ax.set_axis_off()
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=plots.GROUP_COLORS["DEX"], label="DEX"),
               Line2D([], [], color=plots.GROUP_COLORS["LA"], label="LA"),
               Line2D([], [], color="#555555", ls="--", label="before matching"),
               Line2D([], [], color="#555555", ls="-", label="after matching")]
    fig.legend(handles=handles, loc="outside lower center", ncols=4)
    for ax in axes[:, 0]:
        ax.set_ylabel("cumulative proportion")
    return fig, axes


# --------------------------------------------------------------------------------------------------
# Cross-check against R's MatchIt (stored results; R itself is only needed to regenerate them)
# --------------------------------------------------------------------------------------------------

#: Cohorts of the R cross-check: the book's default simulation and a larger one (same seed).
R_REFERENCE_COHORTS = {
    "default": {"seed": SETTINGS.seed, "design": {}},
    "large": {"seed": SETTINGS.seed, "design": {"n_dex": 1000, "n_la": 2000}},
}
#: Matching specifications compared with MatchIt (names are keys of the stored JSON).
R_REFERENCE_CONFIGS = {
    "1:1, caliper 0.2": {"cohort": "default", "ratio": 1, "replace": False, "caliper_sd": 0.2, "exact": []},
    "1:1, no caliper": {"cohort": "default", "ratio": 1, "replace": False, "caliper_sd": None, "exact": []},
    "1:2, caliper 0.2": {"cohort": "default", "ratio": 2, "replace": False, "caliper_sd": 0.2, "exact": []},
    "1:3, caliper 0.2": {"cohort": "default", "ratio": 3, "replace": False, "caliper_sd": 0.2, "exact": []},
    "1:2 with replacement, caliper 0.2": {"cohort": "default", "ratio": 2, "replace": True, "caliper_sd": 0.2,
                                          "exact": []},
    "1:1, caliper 0.2, exact on sex": {"cohort": "default", "ratio": 1, "replace": False, "caliper_sd": 0.2,
                                       "exact": ["sex"]},
    "1:1, caliper 0.2 (3,000 patients)": {"cohort": "large", "ratio": 1, "replace": False, "caliper_sd": 0.2,
                                          "exact": []},
}
R_REFERENCE_FILE = "reference_r/matchit_crosscheck.json"


def reference_cohort(name: str) -> pd.DataFrame:
    """The simulated cohort a stored R cross-check was run on (always simulated, whatever DEXMOOD_COHORT)."""
    from dexmood import cohort

    spec = R_REFERENCE_COHORTS[name]
    return cohort.simulate(cohort.with_design(**spec["design"]), seed=spec["seed"]).data


def load_r_reference(path=None) -> dict:
    import json

    from dexmood import paths

    return json.loads((path or paths.DATA / R_REFERENCE_FILE).read_text())


def _r_term(term: str, covariates: list[str]) -> str:
    """R's name of a balance term: ``sex_M`` is ``sexM`` in MatchIt's summary."""
    for name in covariates:
        if term.startswith(f"{name}_"):
            return name + term[len(name) + 1:]
    return term


def _sets(treated_ids, control_ids) -> dict[str, frozenset]:
    sets: dict[str, set] = {}
    for t, c in zip(treated_ids, control_ids, strict=True):
        sets.setdefault(str(t), set()).add(str(c))
    return {k: frozenset(v) for k, v in sets.items()}


def compare_with_r(reference: dict | None = None) -> pd.DataFrame:
    """Re-run every stored MatchIt specification with dexmood.matching and compare, one row per spec:
    matched sets identical for how many treated patients, largest |difference| of the logit, caliper and
    balance statistics, and how many pairs Debian's default MatchIt routine put outside the caliper."""
    reference = reference or load_r_reference()
    rows = []
    frames: dict[str, pd.DataFrame] = {}
    for key, entry in reference["results"].items():
        cfg = entry["config"]
        frame = frames.setdefault(entry["cohort"], reference_cohort(entry["cohort"]))
        result = match_nearest(frame, ratio=cfg["ratio"], replace=cfg["replace"], caliper_sd=cfg["caliper_sd"],
                               exact=cfg["exact"] or None)
        ours = _sets(result.pairs["treated_id"], result.pairs["control_id"])
        r_pairs = entry["pairs"]
        theirs = _sets(r_pairs["treated_id"], r_pairs["control_id"])
        treated_ids = result.full.loc[result.full["group"] == TREATED_GROUP, "patient_id"].astype(str)
        identical = sum(ours.get(t, frozenset()) == theirs.get(t, frozenset()) for t in treated_ids)
        row = {"specification": key, "treated": len(treated_ids), "identical_sets": int(identical),
               "matched_python": len(ours), "matched_r": len(theirs)}
        glm_logit = reference["cohorts"][entry["cohort"]].get("glm_logit")
        if glm_logit:
            r_logit = pd.Series(glm_logit["logit"], index=glm_logit["patient_id"])
            ours_logit = result.full.set_index("patient_id")["distance"]
            row["max_abs_logit_diff"] = float((ours_logit - r_logit.loc[ours_logit.index]).abs().max())
        else:
            row["max_abs_logit_diff"] = np.nan
        caliper = result.summary["caliper_logit"]
        row["caliper_diff"] = abs(caliper - entry["caliper_logit"]) if caliper is not None else 0.0
        balance = result.balance().table
        covariates = result.propensity.covariates
        diffs = []
        for when, r_table in (("before", entry["balance_before"]), ("after", entry["balance_after"])):
            r_frame = pd.DataFrame(r_table).set_index("term")
            for _, b in balance.iterrows():
                r_row = r_frame.loc[_r_term(b["term"], covariates)]
                for stat in ("smd", "variance_ratio", "ecdf_mean", "ecdf_max"):
                    mine, other = b[f"{stat}_{when}"], r_row[stat]
                    other = np.nan if other in (None, "NA", "NaN") else float(other)
                    if np.isnan(mine) and np.isnan(other):
                        continue
                    diffs.append(abs(mine - other))
        row["max_abs_balance_diff"] = float(np.nanmax(diffs)) if diffs else np.nan
        default_pairs = pd.DataFrame(entry["default_routine_pairs"])
        lookup = result.full.set_index("patient_id")["distance"]
        gaps = (lookup.loc[default_pairs["treated_id"]].to_numpy()
                - lookup.loc[default_pairs["control_id"]].to_numpy())
        row["default_routine_pairs"] = len(default_pairs)
        row["default_routine_outside_caliper"] = (int((np.abs(gaps) > caliper + 1e-12).sum())
                                                  if caliper is not None else 0)
        rows.append(row)
    return pd.DataFrame(rows)
