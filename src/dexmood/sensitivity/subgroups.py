"""Subgroup effects with a small-sample-valid test of effect modification (issue 16, point 2).

The matched ATT within baseline subgroups (anxiety *and* depression vs only one; severity bands) comes from
one weighted regression with a separate intercept and DEX effect per level (the cell-means form of
``outcome ~ dex * C(subgroup)``). Standard errors are pair-cluster-robust **CR2** (Bell & McCaffrey 2002, the
bias-reduced linearisation of R ``clubSandwich``), and every test uses Bell–McCaffrey / Satterthwaite degrees
of freedom from the homoskedastic working model, so that a cell of a few patients does not get a normal
reference distribution it cannot justify.

A level with fewer than `Settings.min_subgroup_arm` patients per arm gets no estimate, no p-value and no
verdict: it is reported as "too few patients (n DEX / n LA)"; the interaction test then compares only the
levels that reach the minimum, and is not run if fewer than two do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, stats

from dexmood import cohort as cohort_mod
from dexmood import effects
from dexmood.errors import AnalysisNotPossible
from dexmood.sensitivity._common import OUTCOME_COLUMNS, OUTCOMES, prepared, require_columns
from dexmood.settings import SETTINGS, Settings

#: Severity bands shared by GAD-7 and PHQ-9: mild 5–9, moderate 10–14, severe ≥ 15 (Spitzer 2006; Kroenke 2001).
SEVERITY_CUTOFFS = (10, 15)
SUBGROUP_LEVELS = {
    "comorbidity": ["both", "one only", "neither"],
    "severity": ["mild", "moderate", "severe"],
}
SUBGROUP_LABELS = {
    "comorbidity": "Anxiety and depression at baseline (GAD-7 ≥ 5 and PHQ-9 ≥ 5) vs only one",
    "severity": "Severity band of the higher of GAD-7 and PHQ-9 (mild < 10 ≤ moderate < 15 ≤ severe)",
}


def add_subgroups(frame: pd.DataFrame) -> pd.DataFrame:
    """Add `comorbidity` ("both" / "one only" / "neither" at the mild cut-off 5) and `severity`
    (band of the higher of the two baseline scores; both instruments share the 10 and 15 cut-offs)."""
    require_columns(frame, ["gad7_baseline", "phq9_baseline"], "The subgroup analysis")
    out = frame.copy()
    anxious = out["gad7_baseline"] >= cohort_mod.MILD_CUTOFF
    depressed = out["phq9_baseline"] >= cohort_mod.MILD_CUTOFF
    out["comorbidity"] = np.where(anxious & depressed, "both", np.where(anxious | depressed, "one only", "neither"))
    worst = np.maximum(out["gad7_baseline"].to_numpy(float), out["phq9_baseline"].to_numpy(float))
    moderate, severe = SEVERITY_CUTOFFS
    out["severity"] = np.where(worst >= severe, "severe", np.where(worst >= moderate, "moderate", "mild"))
    return out


# --- CR2 covariance and Bell–McCaffrey degrees of freedom ------------------------------------------------

@dataclass(frozen=True)
class CR2Fit:
    """WLS coefficients with the CR2 covariance and what the Bell–McCaffrey df need (per cluster: its rows
    of the √w-transformed design and A_g X_g (X'X)⁻¹; nothing of size n × n, so large cohorts fit)."""

    params: np.ndarray
    cov: np.ndarray
    bread: np.ndarray
    _design_blocks: list
    _adjusted_blocks: list

    def df(self, contrast) -> float:
        """Bell–McCaffrey / Satterthwaite df of c'β under the working model of independent errors of equal
        variance: (tr G)² / tr G², G = U'U with u_g = (I − H)[:, g] p_g and p_g = A_g X_g M c. Because I − H is
        idempotent, G_gh = δ_gh p_g'p_g − q_g' M q_h with q_g = X_g' p_g, so the traces need only p × p
        products: tr G = Σ d_g − Σ q_g'Mq_g and tr G² = Σ d_g² − 2 Σ d_g q_g'Mq_g + tr((M Q'Q)²)."""
        c = np.asarray(contrast, dtype=float)
        p_blocks = [adjusted @ c for adjusted in self._adjusted_blocks]
        d = np.array([pg @ pg for pg in p_blocks])
        q = np.array([xg.T @ pg for xg, pg in zip(self._design_blocks, p_blocks, strict=True)])
        qmq = np.einsum("gi,ij,gj->g", q, self.bread, q)
        mqq = self.bread @ (q.T @ q)
        trace = d.sum() - qmq.sum()
        trace_sq = np.sum(d**2) - 2 * np.sum(d * qmq) + np.trace(mqq @ mqq)
        return float(trace**2 / trace_sq)


def _inverse_root(block: np.ndarray) -> np.ndarray:
    values, vectors = linalg.eigh(block)
    scale = np.where(values > 1e-10, 1.0 / np.sqrt(np.clip(values, 1e-10, None)), 0.0)
    return (vectors * scale) @ vectors.T


def cr2_fit(y, design, weights=None, clusters=None) -> CR2Fit:
    """WLS with the CR2 cluster-robust covariance (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018).

    Each observation is its own cluster when `clusters` is None (then CR2 = HC2)."""
    y = np.asarray(y, dtype=float)
    x = np.asarray(design, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    root = np.sqrt(w)
    xs, ys = x * root[:, None], y * root
    codes = np.arange(len(y)) if clusters is None else pd.factorize(pd.Series(clusters).astype(str))[0]
    bread = np.linalg.pinv(xs.T @ xs)
    params = bread @ xs.T @ ys
    residual = ys - xs @ params
    order = np.argsort(codes, kind="stable")
    splits = np.flatnonzero(np.diff(codes[order])) + 1
    design_blocks, adjusted_blocks = [], []
    meat = np.zeros((x.shape[1], x.shape[1]))
    for rows in np.split(order, splits):
        xg = xs[rows]
        inv_root = _inverse_root(np.eye(len(rows)) - xg @ bread @ xg.T)
        design_blocks.append(xg)
        adjusted_blocks.append(inv_root @ xg @ bread)
        score = xg.T @ inv_root @ residual[rows]
        meat += np.outer(score, score)
    return CR2Fit(params, bread @ meat @ bread, bread, design_blocks, adjusted_blocks)


def wald_test(fit: CR2Fit, contrasts: np.ndarray) -> dict:
    """Test of C β = 0 with the CR2 covariance: t with Bell–McCaffrey df for one row; for q rows the F
    statistic W / q with denominator df the smallest Bell–McCaffrey df of the rows (conservative)."""
    c = np.atleast_2d(np.asarray(contrasts, dtype=float))
    diff = c @ fit.params
    q = c.shape[0]
    dfs = [fit.df(row) for row in c]
    statistic = float(diff @ np.linalg.solve(c @ fit.cov @ c.T, diff))
    df = float(min(dfs))
    p = float(stats.f.sf(statistic / q, q, df))
    return {"statistic": statistic, "q": q, "df": df, "p": p}


# --- the subgroup analysis ------------------------------------------------------------------------------

@dataclass
class SubgroupResult:
    """ATT per subgroup level and the test that all levels share one ATT (NaN when not tested)."""

    outcome: str
    subgroup: str
    table: pd.DataFrame
    statistic: float
    df_numerator: int
    df_denominator: float
    p_interaction: float
    min_arm: int
    notes: list[str] = field(default_factory=list)

    @property
    def small_levels(self) -> pd.DataFrame:
        return self.table[self.table["too_few"]]


def too_few_text(n_dex: int, n_la: int) -> str:
    return f"too few patients ({n_dex} DEX / {n_la} LA)"


def subgroup_analysis(matched: pd.DataFrame, outcome: str, subgroup: str, *, weights: str | None = "weights",
                      subclass: str | None = "subclass", settings: Settings = SETTINGS) -> SubgroupResult:
    """ATT of DEX within each level of `subgroup` in the matched sample, and a test of effect modification.

    Levels with fewer than `settings.min_subgroup_arm` patients per arm are listed with their counts only.
    The matched pairs are not re-formed within subgroups: balance inside a subgroup rests on the propensity
    model, which includes both baseline scores.
    """
    data = prepared(matched)
    require_columns(data, [outcome], "The subgroup analysis")
    data = add_subgroups(data)
    needed = [outcome, "dex", subgroup] + [c for c in (weights, subclass) if c and c in data]
    data, n_missing = effects.complete_cases(data, needed)
    minimum = settings.min_subgroup_arm
    order = SUBGROUP_LEVELS.get(subgroup, sorted(data[subgroup].astype(str).unique()))
    rows, levels = [], []
    for level in order:
        in_level = data[subgroup].astype(str) == level
        n_dex = int((in_level & (data["dex"] == 1)).sum())
        n_la = int((in_level & (data["dex"] == 0)).sum())
        if n_dex + n_la == 0:
            continue
        too_few = min(n_dex, n_la) < minimum
        rows.append({"level": level, "n": n_dex + n_la, "n_dex": n_dex, "n_la": n_la, "too_few": too_few,
                     "status": too_few_text(n_dex, n_la) if too_few else "estimated"})
        if not too_few:
            levels.append(level)
    table = pd.DataFrame(rows)
    for name in ("att", "se", "df", "ci_low", "ci_high", "p"):
        table[name] = np.nan
    notes = [f"{n_missing} patient(s) without the outcome left out"] if n_missing else []
    statistic, q, df_den, p_int = float("nan"), max(len(levels) - 1, 0), float("nan"), float("nan")
    if levels:
        data = data[data[subgroup].astype(str).isin(levels)].reset_index(drop=True)
        indicator = np.column_stack([(data[subgroup].astype(str) == lev).to_numpy(float) for lev in levels])
        dex = data["dex"].to_numpy(float)
        k = len(levels)
        fit = cr2_fit(data[outcome].to_numpy(float), np.column_stack([indicator, indicator * dex[:, None]]),
                      None if weights is None or weights not in data else data[weights].to_numpy(float),
                      None if subclass is None or subclass not in data else data[subclass].to_numpy())
        for j, level in enumerate(levels):
            contrast = np.zeros(2 * k)
            contrast[k + j] = 1.0
            est, se, df = fit.params[k + j], float(np.sqrt(fit.cov[k + j, k + j])), fit.df(contrast)
            crit = float(stats.t.ppf(0.975, df))
            table.loc[table["level"] == level, ["att", "se", "df", "ci_low", "ci_high", "p"]] = [
                est, se, df, est - crit * se, est + crit * se, float(2 * stats.t.sf(abs(est / se), df))]
        if k > 1:
            contrasts = np.zeros((k - 1, 2 * k))
            for j in range(1, k):
                contrasts[j - 1, k] = -1.0
                contrasts[j - 1, k + j] = 1.0
            test = wald_test(fit, contrasts)
            statistic, df_den, p_int = test["statistic"], test["df"], test["p"]
    return SubgroupResult(outcome=outcome, subgroup=subgroup, table=table, statistic=statistic, df_numerator=q,
                          df_denominator=df_den, p_interaction=p_int, min_arm=minimum, notes=notes)


def subgroup_table(matched: pd.DataFrame, outcomes=OUTCOMES, subgroups=tuple(SUBGROUP_LEVELS), *,
                   settings: Settings = SETTINGS) -> pd.DataFrame:
    """Every outcome × subgroup variable: per-level ATT (95% CI, t with Bell–McCaffrey df) or "too few
    patients", and the interaction test."""
    blocks = []
    for key in outcomes:
        for subgroup in subgroups:
            result = subgroup_analysis(matched, OUTCOME_COLUMNS[key], subgroup, settings=settings)
            blocks.append(result.table.assign(
                outcome=key, subgroup=subgroup, f_interaction=result.statistic / max(result.df_numerator, 1),
                df_interaction=result.df_numerator, df_denominator=result.df_denominator,
                p_interaction=result.p_interaction))
    if not blocks:
        raise AnalysisNotPossible("no outcome was available for the subgroup analysis.")
    table = pd.concat(blocks, ignore_index=True)
    return table[["outcome", "subgroup", "level", "n", "n_dex", "n_la", "status", "att", "ci_low", "ci_high", "df",
                  "p", "f_interaction", "df_interaction", "df_denominator", "p_interaction"]]
