"""Stage 8 – does the pipeline recover the truth? A Monte-Carlo simulation study.

Many cohorts are drawn from the notebook-01 simulator (`dexmood.cohort`) at the published design and at
larger n, with the true effects and the strength of confounding varied. Every replicate runs the book's
pipeline: propensity model and 1:1 caliper matching (`dexmood.matching`, the main specification of
`default_match`), the ATT estimators of `dexmood.effects`, and a frequentist mediation analysis; a smaller
set of replicates also runs the Bayesian mediation model of `dexmood.mediation`. Performance measures and
their Monte-Carlo standard errors follow Morris, White & Crowther (2019).

**Fast kernels, checked against the real code.** One replicate through the pandas/statsmodels code of
notebooks 02–04 costs about 0.1 s, too slow for thousands of replicates inside a book build. The replicate
runner therefore uses NumPy versions of the same computations – Newton–Raphson for the logistic propensity
model, the closed-form (pair-)cluster-robust sandwich – and calls `matching.match_on_distance` itself.
`compare_with_reference` runs replicates through both paths and reports the largest difference (zero to
rounding error; tested in `tests/test_validation.py` and shown in notebook 08). Also the simulator is re-run
without its pandera validation (`simulate_replicate`, tested to give `cohort.simulate`'s data and truth) so
that every patient's potential outcomes are available: each estimator is scored against *its own* target in
*this* replicate – the ATT of the matched treated for the matched estimators, the ATT of all treated for
IPW/AIPW, the overlap-weighted effect for overlap weights, the natural effects averaged over the analysed
sample for mediation.

**Estimators per replicate** (outcomes: 1-month change in GAD-7, PHQ-9 and NRS):

* ``matched_difference`` – difference in means in the matched sample, pair-cluster-robust (CR1) SE;
* ``matched_regression`` – g-computation with treatment × covariate interactions in the matched sample, CR1;
* ``ipw_att`` / ``overlap`` – ATT / overlap weights on the full cohort, HC1 SE (weights treated as known);
* ``aipw_att`` – augmented IPW for the ATT with the plug-in influence-function SE (the book's bootstrap is too
  slow for thousands of replicates; the ATT score is Neyman-orthogonal, so nuisance estimation does not
  change the first-order variance when both models are right);
* ``naive_difference`` – unadjusted full-cohort difference (a reference that shows the confounding bias);
* ``mediation_delta`` – natural effects (Imai, Keele & Tingley 2010) from the two OLS models of the book
  (mediator ~ DEX + X; outcome ~ DEX × mediator + X) on the matched sample, closed form, delta-method CIs
  (the same point estimates as statsmodels ``Mediation``; its simulation CIs are replaced by the delta method);
* ``mediation_bayes`` – the joint PyMC model of notebook 04, compiled once and re-used with `set_data`.

**Reproducible in parallel.** `run_replicates` gives replicate *i* the *i*-th child of
``numpy.random.SeedSequence(seed).spawn(n_reps)``; results do not depend on the number of workers. Chunks
of replicates run through ``joblib.Parallel`` without a fixed backend, so the caller chooses the engine. On
a cluster (10^5 replicates at the published design cost about 15 core-minutes here), with no change to
this module::

    from dask.distributed import Client          # pip install "dask[distributed]"
    import joblib
    from dexmood import validation

    client = Client("tcp://scheduler:8786")       # or dask_jobqueue.SLURMCluster(...) + Client(cluster)
    with joblib.parallel_config(backend="dask"):
        table = validation.run_replicates(validation.SCENARIOS["published"], n_reps=100_000,
                                          seed=20250222, n_jobs=-1, chunk_size=500)

With Ray: ``from ray.util.joblib import register_ray; register_ray()`` and ``backend="ray"``. Every worker
needs this package installed (``pip install -e .``). The result is identical to a local run with the same seed.

**Cached.** `run_study` stores each scenario's replicate table under ``data/derived/`` keyed by a hash of
the source code of the modules involved, the scenario's design and the seeds, so re-rendering the book does
not re-run the study unless one of them changed.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from dexmood import cohort as cohort_mod
from dexmood import matching, paths

Z95 = float(stats.norm.ppf(0.975))
DEFAULT_SEED = 20250222
#: Treated share of the published design (106 DEX of 290).
TREATED_SHARE = 106 / 290
CALIPER_SD = matching.DEFAULT_CALIPER_SD

#: Covariates of the book's main specification, in `cohort.baseline_covariates` order.
COVARIATES = ("age", "sex", "nrs_baseline", "gad7_baseline", "phq9_baseline", "bmi", "pain_duration_months",
              "pain_diagnosis", "procedure")
NUMERIC_COVARIATES = ("age", "nrs_baseline", "gad7_baseline", "phq9_baseline", "bmi", "pain_duration_months")
ATT_OUTCOMES = ("gad7", "phq9", "nrs")
MEDIATION_OUTCOMES = ("gad7", "phq9")

#: Estimator key -> (label, estimand of its own target).
ESTIMATORS = {
    "matched_difference": ("Matched: difference in means (pair-cluster SE)", "att"),
    "matched_regression": ("Matched: covariate-adjusted (pair-cluster SE)", "att"),
    "ipw_att": ("Full cohort: ATT weights (HC1 SE)", "att"),
    "overlap": ("Full cohort: overlap weights (HC1 SE)", "ato"),
    "aipw_att": ("Full cohort: augmented IPW (influence-function SE)", "att"),
    "naive_difference": ("Full cohort: unadjusted difference (reference)", "att"),
    "mediation_delta": ("Mediation, OLS + delta method (matched)", "mediation"),
    "mediation_bayes": ("Mediation, Bayesian PyMC model (matched)", "mediation"),
}
#: Short names for figure axes.
SHORT_LABELS = {"matched_difference": "matched difference", "matched_regression": "matched regression",
                "ipw_att": "IPW (ATT weights)", "overlap": "overlap weights", "aipw_att": "AIPW",
                "naive_difference": "unadjusted", "mediation_delta": "OLS + delta method",
                "mediation_bayes": "Bayesian model"}
ATT_ESTIMATORS = ("matched_difference", "matched_regression", "ipw_att", "overlap", "aipw_att", "naive_difference")
#: The headline estimator of the book (notebook 03).
MAIN_ESTIMATOR = "matched_difference"
MEDIATION_ESTIMANDS = ("acme_treated", "ade_control", "total", "proportion_mediated")
ESTIMAND_LABELS = {"att": "ATT", "ato": "ATO", "acme_treated": "ACME (treated)", "ade_control": "ADE (control)",
                   "total": "total effect", "proportion_mediated": "proportion mediated"}
OUTCOME_LABELS = {"gad7": "GAD-7 change", "phq9": "PHQ-9 change", "nrs": "NRS pain change"}

#: Columns of the replicate table (one row per replicate × estimator × outcome × estimand).
RESULT_COLUMNS = ["scenario", "replicate", "estimator", "outcome", "estimand", "estimate", "se", "ci_low",
                  "ci_high", "truth", "truth_all_treated", "n_treated", "pairs"]


# --------------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------------

def group_sizes(n: int) -> tuple[int, int]:
    """(DEX, LA) for a cohort of n patients with the published treated share (106 of 290)."""
    n_dex = int(round(n * TREATED_SHARE))
    return n_dex, n - n_dex


@dataclass(frozen=True)
class Scenario:
    """One data-generating scenario: cohort size and changes to the calibrated `SimulationDesign`."""

    key: str
    label: str
    n: int = 290
    changes: tuple[tuple[str, float], ...] = ()
    #: "published": the published effect sizes; "null": no effect at all; "no_indirect": no mediated effect.
    effects: str = "published"

    def design(self) -> cohort_mod.SimulationDesign:
        n_dex, n_la = group_sizes(self.n)
        return cohort_mod.with_design(n_dex=n_dex, n_la=n_la, **dict(self.changes))

    def to_dict(self) -> dict:
        return {"key": self.key, "label": self.label, "n": self.n, "changes": dict(self.changes),
                "effects": self.effects, "design": self.design().to_dict()}


NULL_EFFECTS = (("effect_nrs", 0.0), ("direct_gad7", 0.0), ("direct_phq9", 0.0))
NO_PAIN_TO_MOOD = (("pain_to_gad7", 0.0), ("pain_to_phq9", 0.0))

#: The scenarios of notebook 08.
SCENARIOS = {s.key: s for s in (
    Scenario("published", "published effects, confounding ×1"),
    Scenario("published_conf0", "published effects, no confounding", changes=(("confounding", 0.0),)),
    Scenario("published_conf2", "published effects, confounding ×2", changes=(("confounding", 2.0),)),
    Scenario("null", "no effect, confounding ×1", changes=NULL_EFFECTS, effects="null"),
    Scenario("null_conf2", "no effect, confounding ×2", changes=(*NULL_EFFECTS, ("confounding", 2.0)),
             effects="null"),
    Scenario("no_pain_to_mood", "no indirect effect (pain → mood = 0)", changes=NO_PAIN_TO_MOOD,
             effects="no_indirect"),
    Scenario("no_pain_effect", "no indirect effect (DEX → pain = 0)", changes=(("effect_nrs", 0.0),),
             effects="no_indirect"),
    Scenario("published_n1000", "published effects, n = 1,000", n=1000),
    Scenario("published_n5000", "published effects, n = 5,000", n=5000),
)}


# --------------------------------------------------------------------------------------------------
# The simulator with potential outcomes
# --------------------------------------------------------------------------------------------------

@dataclass
class Replicate:
    """One simulated cohort as arrays, with every patient's potential outcomes (changes from baseline).

    ``potential[outcome][(t, t_m)]`` is the 1-month change in GAD-7/PHQ-9 under treatment t with the pain
    change the patient would have under t_m; ``potential["nrs"][t]`` is the NRS change under t.
    """

    design: cohort_mod.SimulationDesign
    covariates: pd.DataFrame  # baseline covariates as `cohort.simulate` draws them
    dex: np.ndarray  # bool
    changes: dict[str, np.ndarray]  # observed changes (NaN = missing 1-month visit)
    potential: dict
    satisfaction: np.ndarray
    truth: dict
    seed: object = None

    @property
    def n(self) -> int:
        return len(self.dex)

    def frame(self) -> pd.DataFrame:
        """The cohort table exactly as `cohort.simulate(design, seed).data` returns it."""
        n = self.n
        data = pd.DataFrame({"patient_id": [f"SIM{i + 1:04d}" for i in range(n)],
                             "group": np.where(self.dex, "DEX", "LA")})
        data = pd.concat([data, self.covariates], axis=1)
        for outcome in cohort_mod.OUTCOMES:
            data[f"{outcome}_1m"] = self.covariates[f"{outcome}_baseline"].to_numpy() + self.changes[outcome]
        data["satisfaction"] = self.satisfaction
        data = data[list(cohort_mod.REQUIRED_COLUMNS) + list(cohort_mod.OPTIONAL_COLUMNS)]
        for column in cohort_mod.CATEGORICAL_COVARIATES:
            data[column] = data[column].astype("string")
        return data

    def design_matrix(self) -> tuple[np.ndarray, list[str]]:
        """Covariates as `matching.design_matrix` codes them (no intercept): numbers as they are, one 0/1
        column per non-reference level (levels sorted, the first is the reference)."""
        columns, names = [], []
        for name in COVARIATES:
            values = self.covariates[name].to_numpy()
            if name in NUMERIC_COVARIATES:
                columns.append(values.astype(float))
                names.append(name)
            else:
                values = values.astype(str)
                for level in np.unique(values)[1:]:
                    columns.append((values == level).astype(float))
                    names.append(f"{name}_{level}")
        return np.column_stack(columns), names


def simulate_replicate(design: cohort_mod.SimulationDesign, seed) -> Replicate:
    """One simulated cohort as arrays, with every patient's potential outcomes (no pandera validation).

    Uses `cohort.draw_world`, the same structural model as `cohort.simulate`, so
    ``simulate_replicate(d, s).frame()`` equals ``cohort.simulate(d, s).data`` (tested).
    ``seed`` is anything `numpy.random.default_rng` accepts.
    """
    world = cohort_mod.draw_world(design, seed)
    cov = world.covariates
    treated = world.dex == 1
    potential = {"nrs": dict(world.pain_change)}
    changes = {"nrs": np.where(treated, world.pain_change[1], world.pain_change[0])}
    for outcome in ("gad7", "phq9"):
        base = cov[f"{outcome}_baseline"].to_numpy()
        potential[outcome] = {key: score - base for key, score in world.mood[outcome].items()}
        changes[outcome] = np.where(treated, potential[outcome][(1, 1)], potential[outcome][(0, 0)])
    changes = {k: np.where(world.missing_visit, np.nan, v) for k, v in changes.items()}
    observed_sat = np.where(world.missing_visit, np.nan,
                            np.where(treated, world.satisfaction[1], world.satisfaction[0]))
    return Replicate(design=design, covariates=cov, dex=treated, changes=changes, potential=potential,
                     satisfaction=observed_sat, truth=world.truth(), seed=seed)


def individual_effects(replicate: Replicate, outcome: str) -> np.ndarray:
    """Each patient's total effect Y(1, M(1)) − Y(0, M(0)) on the change (score points)."""
    potential = replicate.potential[outcome]
    if outcome == "nrs":
        return potential[1] - potential[0]
    return potential[(1, 1)] - potential[(0, 0)]


def mediation_truth(replicate: Replicate, outcome: str, rows: np.ndarray) -> dict[str, float]:
    """Natural effects averaged over the patients `rows` (the analysed sample), from potential outcomes."""
    y = {key: values[rows] for key, values in replicate.potential[outcome].items()}
    acme_treated = float(np.mean(y[1, 1] - y[1, 0]))
    acme_control = float(np.mean(y[0, 1] - y[0, 0]))
    total = float(np.mean(y[1, 1] - y[0, 0]))
    return {"acme_treated": acme_treated, "ade_control": float(np.mean(y[1, 0] - y[0, 0])), "total": total,
            "proportion_mediated": (acme_treated + acme_control) / 2 / total if total != 0 else float("nan")}


# --------------------------------------------------------------------------------------------------
# Fast kernels (NumPy versions of matching / effects; equal to them to rounding error, see tests)
# --------------------------------------------------------------------------------------------------

def fit_logit(design: np.ndarray, treated: np.ndarray, *, tol: float = 1e-10, max_iter: int = 50) -> np.ndarray:
    """Maximum-likelihood logistic regression by Newton–Raphson (the model of `matching.fit_propensity`,
    whose statsmodels fit uses the same algorithm); returns the coefficients. ``design`` has the intercept."""
    y = np.asarray(treated, dtype=float)
    beta = np.zeros(design.shape[1])
    for _ in range(max_iter):
        eta = design @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        hessian = (design * (p * (1.0 - p))[:, None]).T @ design
        step = np.linalg.solve(hessian, design.T @ (y - p))
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return beta


def _sandwich_coef(y: np.ndarray, design: np.ndarray, weights: np.ndarray | None = None,
                   clusters: np.ndarray | None = None, index: int = 1) -> tuple[float, float]:
    """WLS coefficient `index` and its robust SE as statsmodels computes them: HC1 without clusters, CR1
    (factor G/(G−1)·(N−1)/(N−K), as `sandwich::vcovCL`) with cluster codes 0..G−1."""
    n, k = design.shape
    weighted = design if weights is None else design * weights[:, None]
    bread = _inverse(weighted.T @ design)
    coef = bread @ (weighted.T @ y)
    scores = weighted * (y - design @ coef)[:, None]  # w_i e_i x_i
    if clusters is None:
        meat = scores.T @ scores * (n / (n - k))
    else:
        order = np.argsort(clusters, kind="stable")
        sorted_codes = clusters[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        summed = np.add.reduceat(scores[order], starts, axis=0)  # one score sum per cluster
        g = len(starts)
        meat = summed.T @ summed * (g / (g - 1)) * ((n - 1) / (n - k))
    row = bread[index]
    return float(coef[index]), float(np.sqrt(row @ meat @ row))


def _inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric cross-product matrix; the pseudo-inverse (as statsmodels uses) if singular."""
    try:
        return np.linalg.inv(matrix)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(matrix)


def _drop_constant(x: np.ndarray) -> np.ndarray:
    """Drop columns constant in this sample (as `effects.covariate_matrix` does)."""
    return x[:, x.std(axis=0) > 0]


def _att_row(estimate: float, se: float) -> tuple[float, float, float, float]:
    return estimate, se, estimate - Z95 * se, estimate + Z95 * se


def matched_difference(y, dex, pair):
    """`effects.matched_difference` on a 1:1 matched sample (all weights 1), complete cases."""
    design = np.column_stack([np.ones(len(y)), dex])
    return _att_row(*_sandwich_coef(y, design, clusters=pair))


def matched_regression(y, dex, x, pair):
    """`effects.matched_regression`: outcome ~ dex * (X − mean of treated X), pair-cluster SE."""
    x = _drop_constant(x)
    centred = x - x[dex == 1].mean(axis=0)
    design = np.column_stack([np.ones(len(y)), dex, centred, dex[:, None] * centred])
    return _att_row(*_sandwich_coef(y, design, clusters=pair))


def weighted_difference(y, dex, weights=None):
    """`effects.weighted_difference`: weighted difference in means with HC1 SE (weights treated as known)."""
    design = np.column_stack([np.ones(len(y)), dex])
    return _att_row(*_sandwich_coef(y, design, weights=weights))


def aipw_att(y, dex, x, propensity):
    """`effects.aipw_att` point estimate with the plug-in influence-function SE instead of the bootstrap.

    ATT = mean over treated of R − (e/(1−e))-weighted mean over controls of R, R = Y − m0(X), m0 the OLS fit
    among controls. Var = Σ_T (R − R̄_T)²/n_T² + Σ_C w²(R − R̄_w)²/(Σ_C w)² (nuisances treated as known).
    """
    treated = dex == 1
    x = _drop_constant(x)
    design = np.column_stack([np.ones(len(y)), x])
    controls = design[~treated]
    coef = _inverse(controls.T @ controls) @ (controls.T @ y[~treated])
    residual = y - design @ coef
    w = propensity[~treated] / (1.0 - propensity[~treated])
    r_t, r_c = residual[treated], residual[~treated]
    mean_c = np.sum(w * r_c) / np.sum(w)
    estimate = float(r_t.mean() - mean_c)
    variance = np.sum((r_t - r_t.mean()) ** 2) / len(r_t) ** 2 + np.sum(w**2 * (r_c - mean_c) ** 2) / np.sum(w) ** 2
    return _att_row(estimate, float(np.sqrt(variance)))


def _ols(y: np.ndarray, design: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients and their classical covariance σ̂²(X'X)⁻¹ (statsmodels' default)."""
    n, k = design.shape
    xtx_inv = _inverse(design.T @ design)
    coef = xtx_inv @ (design.T @ y)
    residual = y - design @ coef
    return coef, xtx_inv * (residual @ residual / (n - k))


def mediation_delta(mediator: np.ndarray, outcome: np.ndarray, dex: np.ndarray, x: np.ndarray) -> dict:
    """Natural effects from the book's two linear models, with delta-method SEs.

    Mediator model M = a0 + a·T + Xγ; outcome model Y = b0 + c'·T + (b + d·T)(M − m̄) + Xγ_Y (m̄ = sample
    mean of M). G-computation over the sample gives closed forms: ACME(t) = a(b + d·t),
    ADE(t) = c' + d(μ_M(t) − m̄) with μ_M(t) = a0 + a·t + X̄γ, total = ACME(1) + ADE(0), proportion
    mediated = mean(ACME(0), ACME(1)) / total. The two models are fitted separately, so their estimates are
    independent and Var = g_Mᵀ V_M g_M + g_Yᵀ V_Y g_Y (classical OLS covariances, as statsmodels `Mediation`
    draws from). Returns {estimand: (estimate, se)}.
    """
    x = _drop_constant(x)
    n, p = x.shape
    ones = np.ones(n)
    theta_m, cov_m = _ols(mediator, np.column_stack([ones, dex, x]))
    centred = mediator - mediator.mean()
    theta_y, cov_y = _ols(outcome, np.column_stack([ones, dex, centred, dex * centred, x]))
    a = theta_m[1]
    x_bar = x.mean(axis=0)
    u0 = theta_m[0] + x_bar @ theta_m[2:] - mediator.mean()  # μ_M(0) − m̄
    c, b, d = theta_y[1], theta_y[2], theta_y[3]

    def grads(da=0.0, du0=0.0, dc=0.0, db=0.0, dd=0.0):
        g_m = np.zeros(2 + p)
        g_m[1] = da
        g_m[0] = du0
        g_m[2:] = du0 * x_bar
        g_y = np.zeros(len(theta_y))
        g_y[1], g_y[2], g_y[3] = dc, db, dd
        return g_m, g_y

    acme_treated = a * (b + d)
    ade_control = c + d * u0
    total = acme_treated + ade_control
    acme_average = a * (b + d / 2)
    parts = {
        "acme_treated": (acme_treated, grads(da=b + d, db=a, dd=a)),
        "ade_control": (ade_control, grads(du0=d, dc=1.0, dd=u0)),
        "total": (total, grads(da=b + d, du0=d, dc=1.0, db=a, dd=a + u0)),
    }
    g_avg_m, g_avg_y = grads(da=b + d / 2, db=a, dd=a / 2)
    g_tot_m, g_tot_y = parts["total"][1]
    parts["proportion_mediated"] = (acme_average / total,
                                    ((g_avg_m * total - acme_average * g_tot_m) / total**2,
                                     (g_avg_y * total - acme_average * g_tot_y) / total**2))
    out = {}
    for name, (value, (g_m, g_y)) in parts.items():
        out[name] = (float(value), float(np.sqrt(g_m @ cov_m @ g_m + g_y @ cov_y @ g_y)))
    return out


# --------------------------------------------------------------------------------------------------
# One replicate through the pipeline
# --------------------------------------------------------------------------------------------------

@dataclass
class MatchedSample:
    """What the pipeline keeps of matching: logit PS, the matched rows and their pair ids."""

    logit: np.ndarray
    rows: np.ndarray  # matched rows (treated, then controls)
    pair: np.ndarray  # pair id of each matched row (0..pairs−1)
    pairs: int


def match_replicate(x: np.ndarray, dex: np.ndarray, caliper_sd: float = CALIPER_SD) -> MatchedSample:
    """`matching.default_match`: logistic PS on every covariate, 1:1 greedy nearest neighbour on the logit,
    no replacement, caliper `caliper_sd` × SD of the logit, largest PS first (`match_on_distance`)."""
    design = np.column_stack([np.ones(len(dex)), x])
    logit = design @ fit_logit(design, dex)
    caliper = caliper_sd * float(np.std(logit, ddof=1))
    match_matrix = matching.match_on_distance(logit, dex, ratio=1, replace=False, caliper=caliper)
    rows_t = np.flatnonzero(dex)
    found = match_matrix[:, 0] >= 0
    treated_rows, control_rows = rows_t[found], match_matrix[found, 0]
    pairs = int(found.sum())
    if pairs == 0:
        raise matching.MatchingError("no treated patient has a control within the caliper")
    pair_id = np.arange(pairs)
    return MatchedSample(logit=logit, rows=np.concatenate([treated_rows, control_rows]),
                         pair=np.concatenate([pair_id, pair_id]), pairs=pairs)


def analyse_replicate(replicate: Replicate) -> tuple[list[tuple], int, int]:
    """Run the pipeline on one replicate. Returns (rows, number of treated, matched pairs); a row is
    (estimator, outcome, estimand, estimate, se, ci_low, ci_high, truth, truth_all_treated)."""
    x, _ = replicate.design_matrix()
    dex = replicate.dex
    dex_f = dex.astype(float)
    matched = match_replicate(x, dex)
    propensity = 1.0 / (1.0 + np.exp(-matched.logit))
    rows = []
    for outcome in ATT_OUTCOMES:
        y = replicate.changes[outcome]
        tau = individual_effects(replicate, outcome)
        truth_all = float(tau[dex].mean())  # = cohort.truth["att"][outcome]
        observed = ~np.isnan(y)
        # matched sample, complete cases
        m_rows = matched.rows[observed[matched.rows]]
        m_pair = matched.pair[observed[matched.rows]]
        _, m_pair = np.unique(m_pair, return_inverse=True)
        truth_matched = float(tau[m_rows][dex[m_rows]].mean())
        rows.append(("matched_difference", outcome, "att",
                     *matched_difference(y[m_rows], dex_f[m_rows], m_pair), truth_matched, truth_all))
        rows.append(("matched_regression", outcome, "att",
                     *matched_regression(y[m_rows], dex_f[m_rows], x[m_rows], m_pair), truth_matched, truth_all))
        # full cohort, complete cases
        yo, do, eo, xo = y[observed], dex_f[observed], propensity[observed], x[observed]
        truth_att = float(tau[observed & dex].mean())
        h = eo * (1 - eo)
        truth_ato = float(np.sum(h * tau[observed]) / np.sum(h))
        rows.append(("ipw_att", outcome, "att",
                     *weighted_difference(yo, do, np.where(do == 1, 1.0, eo / (1 - eo))), truth_att, truth_all))
        rows.append(("overlap", outcome, "ato",
                     *weighted_difference(yo, do, np.where(do == 1, 1 - eo, eo)), truth_ato, truth_all))
        # AIPW: propensity fitted on every patient (the matching model), outcome model on complete cases
        rows.append(("aipw_att", outcome, "att", *aipw_att(yo, do, xo, eo), truth_att, truth_all))
        rows.append(("naive_difference", outcome, "att", *weighted_difference(yo, do), truth_att, truth_all))

    # mediation on the matched sample (complete cases in the mediator and both outcomes)
    complete = ~np.isnan(replicate.changes["nrs"])
    for outcome in MEDIATION_OUTCOMES:
        complete &= ~np.isnan(replicate.changes[outcome])
    med_rows = matched.rows[complete[matched.rows]]
    treated_rows = med_rows[dex[med_rows]]
    for outcome in MEDIATION_OUTCOMES:
        effects = mediation_delta(replicate.changes["nrs"][med_rows], replicate.changes[outcome][med_rows],
                                  dex_f[med_rows], x[med_rows])
        truth = mediation_truth(replicate, outcome, med_rows)
        truth_treated = mediation_truth(replicate, outcome, treated_rows)  # close to cohort.truth (all treated)
        for estimand in MEDIATION_ESTIMANDS:
            estimate, se = effects[estimand]
            rows.append(("mediation_delta", outcome, estimand, *_att_row(estimate, se), truth[estimand],
                         truth_treated[estimand]))
    return rows, int(dex.sum()), matched.pairs


# --------------------------------------------------------------------------------------------------
# Running many replicates
# --------------------------------------------------------------------------------------------------

_ROW_FIELDS = ["estimator", "outcome", "estimand", "estimate", "se", "ci_low", "ci_high", "truth",
               "truth_all_treated"]


def _run_chunk(design: cohort_mod.SimulationDesign, indexed_seeds: list) -> list[tuple]:
    out = []
    for index, seed in indexed_seeds:
        rows, n_treated, pairs = analyse_replicate(simulate_replicate(design, seed))
        out.extend((index, *row, n_treated, pairs) for row in rows)
    return out


def replicate_seeds(seed: int, n_reps: int) -> list[np.random.SeedSequence]:
    """Independent child streams: replicate i gets the i-th child of SeedSequence(seed) (the first k
    children do not depend on how many are spawned, so replicate i is the same in every run)."""
    return np.random.SeedSequence(seed).spawn(n_reps)


def run_replicates(scenario: Scenario, n_reps: int, seed: int = DEFAULT_SEED, n_jobs: int = 2, *,
                   chunk_size: int | None = None) -> pd.DataFrame:
    """Simulate `n_reps` cohorts of `scenario` and run the pipeline on each, in parallel with joblib.

    Replicate i uses child i of ``SeedSequence(seed)``: the table is identical for any `n_jobs` and
    `chunk_size`. No backend is fixed here: the default is loky (processes); wrap the call in
    ``joblib.parallel_config(backend="dask")`` (or "ray") to run on a cluster. Replicate i can be
    re-created alone as ``cohort.simulate(scenario.design(), seed=replicate_seeds(seed, n_reps)[i])``.
    """
    from joblib import Parallel, delayed

    design = scenario.design()
    seeds = list(enumerate(replicate_seeds(seed, n_reps)))
    if chunk_size is None:  # a few chunks per worker: balanced load, little dispatch overhead
        workers = max(1, n_jobs if n_jobs > 0 else 8)
        chunk_size = max(1, int(np.ceil(n_reps / (4 * workers))))
    chunks = [seeds[i:i + chunk_size] for i in range(0, n_reps, chunk_size)]
    results = Parallel(n_jobs=n_jobs)(delayed(_run_chunk)(design, chunk) for chunk in chunks)
    table = pd.DataFrame([row for chunk in results for row in chunk],
                         columns=["replicate", *_ROW_FIELDS, "n_treated", "pairs"])
    table.insert(0, "scenario", scenario.key)
    return table[RESULT_COLUMNS]


# --------------------------------------------------------------------------------------------------
# Reference path: the book's own functions (pandas / statsmodels), for the equivalence check
# --------------------------------------------------------------------------------------------------

def reference_replicate(design: cohort_mod.SimulationDesign, seed) -> pd.DataFrame:
    """One replicate through the public code of notebooks 01–04: `cohort.simulate`, `matching.default_match`,
    the `effects` estimators (AIPW: point estimate only) and the mediation models fitted with statsmodels."""
    import statsmodels.api as sm

    from dexmood import effects

    cohort = cohort_mod.simulate(design, seed=seed)
    match = matching.default_match(cohort)
    matched = effects.prepare(match.data)
    full = effects.prepare(match.full).reset_index(drop=True)
    covariates = list(match.propensity.covariates)
    propensity = 1.0 / (1.0 + np.exp(-full["distance"].to_numpy()))
    rows = []
    for outcome in ATT_OUTCOMES:
        column = effects.OUTCOME_COLUMNS[outcome]
        adjust = effects.outcome_covariates(covariates, outcome)
        results = {
            "matched_difference": effects.matched_difference(matched, column),
            "matched_regression": effects.matched_regression(matched, column, adjust),
            "ipw_att": effects.ipw_att(full, column, propensity),
            "overlap": effects.overlap_effect(full, column, propensity),
            "aipw_att": effects.aipw_att(full, column, adjust, n_boot=0),
            "naive_difference": effects.weighted_difference(full, column),
        }
        for estimator, result in results.items():
            rows.append({"estimator": estimator, "outcome": outcome, "estimand": ESTIMATORS[estimator][1],
                         "estimate": result.estimate, "se": result.se})
    data = matched.dropna(subset=["nrs_change", "gad7_change", "phq9_change"])
    x = effects.covariate_matrix(data, covariates)
    for outcome in MEDIATION_OUTCOMES:
        frame = x.assign(dex=data["dex"].to_numpy(float), mediator=data["nrs_change"].to_numpy(),
                         y=data[f"{outcome}_change"].to_numpy())
        frame["mediator"] -= frame["mediator"].mean()
        frame.columns = [f"x{j}" if j < x.shape[1] else name for j, name in enumerate(frame.columns)]
        rhs = " + ".join(f"x{j}" for j in range(x.shape[1]))
        med = sm.OLS.from_formula(f"mediator ~ dex + {rhs}", frame).fit()
        out = sm.OLS.from_formula(f"y ~ dex * mediator + {rhs}", frame).fit()
        a, c, b, d = med.params["dex"], out.params["dex"], out.params["mediator"], out.params["dex:mediator"]
        u0 = float(np.mean(med.fittedvalues - a * frame["dex"]))  # μ_M(0) − m̄ (mediator already centred)
        values = {"acme_treated": a * (b + d), "ade_control": c + d * u0}
        values["total"] = values["acme_treated"] + values["ade_control"]
        values["proportion_mediated"] = a * (b + d / 2) / values["total"]
        for estimand, value in values.items():
            rows.append({"estimator": "mediation_delta", "outcome": outcome, "estimand": estimand,
                         "estimate": float(value), "se": np.nan})
    table = pd.DataFrame(rows)
    table.attrs["pairs"] = int(match.summary["pairs"])
    return table


def compare_with_reference(scenario: Scenario, n_reps: int = 5, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Largest |fast − reference| per estimator over the first `n_reps` replicates of `scenario`.

    Point estimates of every estimator and SEs of all but AIPW (bootstrap in the book) and mediation
    (simulation CIs in statsmodels) must agree to rounding error; AIPW's propensity model is fitted by
    scikit-learn in `effects` and by Newton–Raphson here, so its estimate agrees to the solvers' tolerance.
    """
    design = scenario.design()
    rows = []
    for index, seed_i in enumerate(replicate_seeds(seed, n_reps)):
        fast_rows, _, pairs = analyse_replicate(simulate_replicate(design, seed_i))
        fast = pd.DataFrame(fast_rows, columns=_ROW_FIELDS)
        reference = reference_replicate(design, seed_i)
        merged = fast.merge(reference, on=["estimator", "outcome", "estimand"], suffixes=("", "_reference"))
        merged["replicate"] = index
        merged["pairs_equal"] = pairs == reference.attrs["pairs"]
        rows.append(merged)
    merged = pd.concat(rows, ignore_index=True)
    merged["estimate_diff"] = (merged["estimate"] - merged["estimate_reference"]).abs()
    merged["se_diff"] = (merged["se"] - merged["se_reference"]).abs()
    return (merged.groupby("estimator", sort=False)
            .agg(max_abs_estimate_diff=("estimate_diff", "max"), max_abs_se_diff=("se_diff", "max"),
                 pairs_equal=("pairs_equal", "all"))
            .reset_index())


# --------------------------------------------------------------------------------------------------
# Bayesian mediation on a subset of replicates
# --------------------------------------------------------------------------------------------------

#: Sampler settings of the Bayesian replicates: 2 chains (one per core) × 500 draws after 300 tuning steps.
BAYES_SETTINGS = {"chains": 2, "tune": 300, "draws": 500}


def bayesian_replicates(scenario: Scenario, n_reps: int, seed: int = DEFAULT_SEED, *,
                        draws: int = BAYES_SETTINGS["draws"], tune: int = BAYES_SETTINGS["tune"],
                        chains: int = BAYES_SETTINGS["chains"]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The notebook-04 PyMC model on the matched sample of the first `n_reps` replicates (the same data sets
    as `run_replicates` with the same seed). The model is built and compiled once (nutpie) and the data of
    every replicate swapped in. Returns (rows in `RESULT_COLUMNS`, per-replicate sampler diagnostics:
    divergences, worst R-hat and smallest bulk ESS over the reported estimands)."""
    import arviz as az
    import xarray as xr

    from dexmood import mediation

    design = scenario.design()
    model = None
    rows, diagnostics = [], []
    for index, child in enumerate(replicate_seeds(seed, n_reps)):
        replicate = simulate_replicate(design, child)
        x, _ = replicate.design_matrix()
        matched = match_replicate(x, replicate.dex)
        frame = cohort_mod.add_changes(replicate.frame().iloc[matched.rows].reset_index(drop=True))
        data = mediation.prepare_data(frame, list(COVARIATES))
        if model is None:
            model = mediation.MediationModel(data)
        else:
            model.set_data(data)
        # the sampler's own stream: a grandchild of the replicate's seed
        sampler_seed = int(np.random.SeedSequence(child.entropy, spawn_key=(*child.spawn_key, 1))
                           .generate_state(1)[0])
        settings = mediation.SamplerSettings(draws=draws, tune=tune, chains=chains, seed=sampler_seed)
        with mediation.quiet():
            idata = model.sample_posterior(settings)
        constant = xr.Dataset({"covariates": (("obs", "covariate"), data.covariates),
                               "weights": ("obs", data.weights), "mediator_center": data.mediator_center},
                              coords={"covariate": data.covariate_columns})
        effects = mediation.compute_effects(idata.posterior, constant)
        analysed = matched.rows[~np.isnan(frame[["nrs_change", "gad7_change", "phq9_change"]]).any(axis=1)
                                .to_numpy()]
        treated_rows = analysed[replicate.dex[analysed]]
        rhat = az.rhat(effects[list(MEDIATION_ESTIMANDS)])
        ess = az.ess(effects[list(MEDIATION_ESTIMANDS)], method="bulk")
        diagnostics.append({"replicate": index, "divergences": mediation.divergences(idata),
                            "max_rhat": float(max(np.nanmax(rhat[v].values) for v in rhat.data_vars)),
                            "min_ess_bulk": float(min(np.nanmin(ess[v].values) for v in ess.data_vars)),
                            "sampling_seconds": float(idata.posterior.attrs["sampling_seconds"])})
        for outcome in MEDIATION_OUTCOMES:
            truth = mediation_truth(replicate, outcome, analysed)
            truth_treated = mediation_truth(replicate, outcome, treated_rows)
            for estimand in MEDIATION_ESTIMANDS:
                values = effects[estimand].sel(outcome=outcome).values.ravel()
                low, median, high = np.quantile(values, [0.025, 0.5, 0.975])
                rows.append((scenario.key, index, "mediation_bayes", outcome, estimand, float(median),
                             float(np.std(values, ddof=1)), float(low), float(high), truth[estimand],
                             truth_treated[estimand], int(replicate.dex.sum()), matched.pairs))
    return pd.DataFrame(rows, columns=RESULT_COLUMNS), pd.DataFrame(diagnostics)


# --------------------------------------------------------------------------------------------------
# Study: scenarios, cache, timing
# --------------------------------------------------------------------------------------------------

#: Modules whose source is part of the cache key (the pipeline the study validates).
CODE_MODULES = ("dexmood.validation", "dexmood.cohort", "dexmood.matching", "dexmood.effects")


def code_version(modules=CODE_MODULES) -> str:
    """SHA-256 (16 hex digits) of the source files of `modules`."""
    import importlib

    digest = hashlib.sha256()
    for name in modules:
        module = importlib.import_module(name)
        digest.update(name.encode())
        with open(module.__file__, "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()[:16]


def cache_key(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _cached(name: str, payload: dict, compute, use_cache: bool = True):
    """Load `data/derived/validation_<name>_<key>.parquet` or compute it (compute() -> (tables, seconds))."""
    key = cache_key(payload)
    stem = f"validation_{name}_{key}"
    meta_path = paths.derived(f"{stem}.json")
    if use_cache and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        tables = [pd.read_parquet(paths.derived(f"{stem}_{i}.parquet")) for i in range(meta["tables"])]
        return tables, meta["seconds"]
    tables, seconds = compute()
    for old in paths.DERIVED.glob(f"validation_{name}_*"):  # stale versions of this entry
        old.unlink()
    for i, table in enumerate(tables):
        table.to_parquet(paths.derived(f"{stem}_{i}.parquet"), index=False)
    meta_path.write_text(json.dumps({**payload, "tables": len(tables), "seconds": seconds}, indent=1,
                                    default=str) + "\n")
    return tables, seconds


#: Replicates per scenario in notebook 08 (n = 5,000 costs ~25× a published-size replicate).
DEFAULT_REPLICATES = {"published": 1000, "published_conf0": 500, "published_conf2": 500, "null": 500,
                      "null_conf2": 500, "no_pain_to_mood": 500, "no_pain_effect": 500,
                      "published_n1000": 500, "published_n5000": 100}


@dataclass
class StudyResult:
    replicates: pd.DataFrame
    bayes_diagnostics: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def compute_seconds(self) -> float:
        return float(sum(self.seconds.values()))


def run_study(replicates: dict[str, int] | None = None, seed: int = DEFAULT_SEED, n_jobs: int = 2, *,
              bayes_scenario: str | None = "published", bayes_reps: int = 50, use_cache: bool = True) -> StudyResult:
    """Every scenario of `replicates` (default `DEFAULT_REPLICATES`), each cached on its own, plus the
    Bayesian mediation model on the first `bayes_reps` replicates of `bayes_scenario`.

    All scenarios use the same seed, hence the same child streams: common random numbers, so differences
    between scenarios of the same n are not blurred by different draws (Morris et al. 2019, section 5.3).
    """
    replicates = replicates or DEFAULT_REPLICATES
    version = code_version()
    tables, seconds = [], {}
    for key, n_reps in replicates.items():
        scenario = SCENARIOS[key]
        payload = {"kind": "fast", "code": version, "scenario": scenario.to_dict(), "n_reps": n_reps,
                   "seed": seed}

        def compute(scenario=scenario, n_reps=n_reps):
            start = time.perf_counter()
            table = run_replicates(scenario, n_reps, seed, n_jobs)
            return [table], time.perf_counter() - start

        (table,), seconds[key] = _cached(key, payload, compute, use_cache)
        tables.append(table)
    diagnostics = pd.DataFrame()
    if bayes_scenario is not None and bayes_reps > 0:
        scenario = SCENARIOS[bayes_scenario]
        payload = {"kind": "bayes", "code": code_version((*CODE_MODULES, "dexmood.mediation")),
                   "scenario": scenario.to_dict(), "n_reps": bayes_reps, "seed": seed, "sampler": BAYES_SETTINGS}

        def compute_bayes():
            start = time.perf_counter()
            table, diag = bayesian_replicates(scenario, bayes_reps, seed)
            return [table, diag], time.perf_counter() - start

        (table, diagnostics), seconds[f"bayes_{bayes_scenario}"] = _cached(f"bayes_{bayes_scenario}", payload,
                                                                           compute_bayes, use_cache)
        tables.append(table)
    return StudyResult(pd.concat(tables, ignore_index=True), diagnostics, seconds)


def throughput(scenario: Scenario | None = None, n_reps: int = 200, seed: int = DEFAULT_SEED,
               n_jobs_list=(1, 2)) -> pd.DataFrame:
    """Replicates per second of `run_replicates` for each worker count (after a warm-up run that starts
    the workers and loads numba's cache). For `make bench`."""
    scenario = scenario or SCENARIOS["published"]
    rows = []
    for n_jobs in n_jobs_list:
        run_replicates(scenario, min(n_reps, 4 * max(n_jobs, 1)), seed + 1, n_jobs)  # warm-up
        start = time.perf_counter()
        run_replicates(scenario, n_reps, seed, n_jobs)
        elapsed = time.perf_counter() - start
        rows.append({"n_jobs": n_jobs, "n_reps": n_reps, "seconds": elapsed, "replicates_per_s": n_reps / elapsed})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Performance measures (Morris, White & Crowther 2019, table 6)
# --------------------------------------------------------------------------------------------------

def summarise(replicates: pd.DataFrame) -> pd.DataFrame:
    """Per scenario × estimator × outcome × estimand: bias (vs the estimator's own target in each
    replicate), empirical and model SE, RMSE, 95% coverage, rejection rate of "no effect" (type-I error when
    the truth is 0, power otherwise), each with its Monte-Carlo SE; and the share of treated retained."""
    groups = replicates.groupby(["scenario", "estimator", "outcome", "estimand"], sort=False)
    records = []
    for (scenario, estimator, outcome, estimand), g in groups:
        ok = g[np.isfinite(g["estimate"]) & np.isfinite(g["se"])]
        n = len(ok)
        error = ok["estimate"].to_numpy() - ok["truth"].to_numpy()
        emp_se = float(np.std(ok["estimate"], ddof=1)) if n > 1 else np.nan
        mse = float(np.mean(error**2))
        covered = ((ok["ci_low"] <= ok["truth"]) & (ok["truth"] <= ok["ci_high"])).to_numpy()
        reject = ((ok["ci_low"] > 0) | (ok["ci_high"] < 0)).to_numpy()
        coverage, rejection = float(covered.mean()), float(reject.mean())
        records.append({
            "scenario": scenario, "estimator": estimator, "outcome": outcome, "estimand": estimand,
            "n_reps": n, "n_failed": len(g) - n,
            "mean_truth": float(ok["truth"].mean()), "truth_is_zero": bool(np.all(ok["truth"] == 0)),
            "mean_estimate": float(ok["estimate"].mean()),
            "bias": float(error.mean()), "bias_mcse": float(np.std(error, ddof=1) / np.sqrt(n)),
            "bias_vs_all_treated": float(np.mean(ok["estimate"] - ok["truth_all_treated"])),
            "empirical_se": emp_se, "mean_model_se": float(ok["se"].mean()),
            "rmse": float(np.sqrt(mse)),
            "rmse_mcse": float(np.std(error**2, ddof=1) / np.sqrt(n) / (2 * np.sqrt(mse))) if mse > 0 else np.nan,
            "coverage": coverage, "coverage_mcse": float(np.sqrt(coverage * (1 - coverage) / n)),
            "rejection": rejection, "rejection_mcse": float(np.sqrt(rejection * (1 - rejection) / n)),
            "mean_ci_width": float(np.mean(ok["ci_high"] - ok["ci_low"])),
            "treated_retained": float(np.mean(g["pairs"] / g["n_treated"])),
        })
    table = pd.DataFrame(records)
    table["standardized_bias"] = table["bias"] / table["empirical_se"]
    table["se_ratio"] = table["mean_model_se"] / table["empirical_se"]
    return table


def scenario_table(replicates: dict[str, int]) -> pd.DataFrame:
    """The data-generating mechanisms: cohort size, groups, confounding, true structural effects, replicates."""
    rows = []
    for key, n_reps in replicates.items():
        scenario = SCENARIOS[key]
        design = scenario.design()
        rows.append({"scenario": key, "description": scenario.label, "n": design.n, "DEX": design.n_dex,
                     "LA": design.n_la, "confounding": design.confounding, "DEX → ΔNRS": design.effect_nrs,
                     "direct → ΔGAD-7": design.direct_gad7, "direct → ΔPHQ-9": design.direct_phq9,
                     "ΔNRS → ΔGAD-7": design.pain_to_gad7, "ΔNRS → ΔPHQ-9": design.pain_to_phq9,
                     "replicates": n_reps})
    return pd.DataFrame(rows).set_index("scenario")


def performance_table(summary: pd.DataFrame, scenarios, estimators, estimands=None) -> pd.DataFrame:
    """Readable performance table: mean truth, bias, empirical and model SE, RMSE, coverage and rejection
    rate (each with its Monte-Carlo SE in brackets), rounded to 3 decimals."""
    table = summary[summary["scenario"].isin(scenarios) & summary["estimator"].isin(estimators)]
    if estimands is not None:
        table = table[table["estimand"].isin(estimands)]
    table = table.assign(order=table["estimator"].map({e: i for i, e in enumerate(estimators)}),
                         s_order=table["scenario"].map({s: i for i, s in enumerate(scenarios)}))
    table = table.sort_values(["s_order", "order"], kind="stable")
    return pd.DataFrame({
        "scenario": table["scenario"], "estimator": table["estimator"].map(lambda e: ESTIMATORS[e][0]),
        "outcome": table["outcome"], "estimand": table["estimand"].map(ESTIMAND_LABELS),
        "reps": table["n_reps"], "truth": table["mean_truth"].round(3),
        "bias": [f"{b:.3f} ({m:.3f})" for b, m in zip(table["bias"], table["bias_mcse"], strict=True)],
        "empirical SE": table["empirical_se"].round(3), "model SE": table["mean_model_se"].round(3),
        "RMSE": table["rmse"].round(3),
        "coverage": [f"{c:.3f} ({m:.3f})" for c, m in zip(table["coverage"], table["coverage_mcse"], strict=True)],
        "rejects 0": [f"{r:.3f} ({m:.3f})" for r, m in zip(table["rejection"], table["rejection_mcse"],
                                                            strict=True)],
    }).reset_index(drop=True)


def coverage_band(n_reps: int, nominal: float = 0.95) -> tuple[float, float]:
    """Coverage expected from Monte-Carlo error alone: nominal ± 2 · sqrt(nominal(1 − nominal)/n_reps)."""
    half = 2 * np.sqrt(nominal * (1 - nominal) / n_reps)
    return nominal - half, nominal + half


#: The n = 290 scenarios whose numbers decide whether an estimator is trustworthy.
VERDICT_SCENARIOS = ("published", "published_conf0", "published_conf2", "null", "null_conf2",
                     "no_pain_to_mood", "no_pain_effect")
#: Bradley's (1978) liberal criterion: a 95% interval is acceptable if its coverage is at least 92.5%.
MIN_COVERAGE = 0.925
#: Largest |bias| / empirical SE called negligible (Collins, Schafer & Kam 2001 saw coverage suffer from
#: about 0.4 on; we ask for much less).
MAX_STANDARDIZED_BIAS = 0.1


def verdict(summary: pd.DataFrame, scenarios=VERDICT_SCENARIOS, min_coverage: float = MIN_COVERAGE,
            max_standardized_bias: float = MAX_STANDARDIZED_BIAS) -> pd.DataFrame:
    """Per estimator × estimand at n = 290: is it trustworthy in every scenario of `scenarios` and every
    outcome? Coverage: not significantly below `min_coverage` (coverage + 1.96 MCSE ≥ 0.925, Bradley's
    liberal criterion for a 95% interval, 1978). Bias: not significantly larger than `max_standardized_bias`
    empirical SEs (|bias| − 1.96 MCSE ≤ 0.1 · empirical SE). Judging "not significantly worse than" keeps an
    estimator with exactly nominal behaviour from failing by Monte-Carlo chance over many checks; with few
    replicates (the Bayesian model) the test is weak, which the `replicates` column shows.

    The proportion mediated is not judged where the true total effect is 0 (it is undefined there).
    """
    rows = []
    table = summary[summary["scenario"].isin(scenarios)]
    undefined = (table["estimand"] == "proportion_mediated") & table["scenario"].isin(("null", "null_conf2"))
    for (estimator, estimand), g in table[~undefined].groupby(["estimator", "estimand"], sort=False):
        coverage_ok = (g["coverage"] + 1.96 * g["coverage_mcse"] >= min_coverage).to_numpy()
        bias_ok = (g["bias"].abs() - 1.96 * g["bias_mcse"] <= max_standardized_bias * g["empirical_se"]).to_numpy()
        worst = g.iloc[int(np.argmin(g["coverage"].to_numpy()))]
        rows.append({"estimator": estimator, "estimand": estimand, "scenarios": int(g["scenario"].nunique()),
                     "replicates": int(g["n_reps"].min()), "min_coverage": float(g["coverage"].min()),
                     "worst_case": f"{worst['scenario']} / {worst['outcome']}",
                     "max_abs_standardized_bias": float(g["standardized_bias"].abs().max()),
                     "coverage_ok": bool(coverage_ok.all()), "bias_ok": bool(bias_ok.all()),
                     "trustworthy": bool(coverage_ok.all() and bias_ok.all())})
    return pd.DataFrame(rows)


def published_mediation_range() -> tuple[float, float]:
    """The published share of the mood improvement attributed to pain relief (18–32%, Ren et al. 2025)."""
    low, high = cohort_mod.published()["ren2025_cohort"]["proportion_mediated_by_pain_relief"]["range"]
    return float(low), float(high)


def power_table(summary: pd.DataFrame, estimators=ATT_ESTIMATORS + ("mediation_delta", "mediation_bayes"),
                estimands=("att", "ato", "acme_treated", "ade_control", "total")) -> pd.DataFrame:
    """Share of 95% CIs that exclude 0, by scenario (type-I error where the truth is 0, power elsewhere)."""
    table = summary[summary["estimator"].isin(estimators) & summary["estimand"].isin(estimands)]
    table = table.assign(measure=np.where(table["truth_is_zero"], "type-I error", "power"))
    return table[["scenario", "estimator", "outcome", "estimand", "mean_truth", "measure", "rejection",
                  "rejection_mcse", "n_reps"]]


def results_section(summary: pd.DataFrame) -> dict:
    """The ``"validation"`` block of results.json (rounded, JSON-able)."""
    def pick(scenario, estimator, estimand, column):
        rows = summary[(summary["scenario"] == scenario) & (summary["estimator"] == estimator)
                       & (summary["estimand"] == estimand)]
        return {row.outcome: round(float(getattr(row, column)), 4) for row in rows.itertuples(index=False)}

    judged = verdict(summary)
    main = summary[(summary["scenario"] == "published") & (summary["estimator"] == MAIN_ESTIMATOR)]
    block = {
        "n_replicates": {k: int(v) for k, v in summary.groupby("scenario", sort=False)["n_reps"].max().items()},
        "coverage_main_att_n290": pick("published", MAIN_ESTIMATOR, "att", "coverage"),
        "coverage_main_att_n290_mcse": pick("published", MAIN_ESTIMATOR, "att", "coverage_mcse"),
        "bias_main_att_n290": pick("published", MAIN_ESTIMATOR, "att", "bias"),
        "power_main_att_n290": pick("published", MAIN_ESTIMATOR, "att", "rejection"),
        "type1_main_att_n290": pick("null", MAIN_ESTIMATOR, "att", "rejection"),
        "treated_retained_n290": round(float(main["treated_retained"].mean()), 4) if len(main) else None,
        "coverage_acme_n290": pick("published", "mediation_delta", "acme_treated", "coverage"),
        "power_acme_n290": pick("published", "mediation_delta", "acme_treated", "rejection"),
        "type1_acme_n290": pick("no_pain_to_mood", "mediation_delta", "acme_treated", "rejection"),
        "rmse_proportion_mediated_n290": pick("published", "mediation_delta", "proportion_mediated", "rmse"),
        "ci_width_proportion_mediated_n290": pick("published", "mediation_delta", "proportion_mediated",
                                                  "mean_ci_width"),
        "bias_unadjusted_att_n290": pick("published", "naive_difference", "att", "bias"),
        "coverage_acme_bayes_n290": pick("published", "mediation_bayes", "acme_treated", "coverage"),
        "trustworthy_n290": sorted(f"{r.estimator}:{r.estimand}" for r in judged.itertuples() if r.trustworthy),
        "not_trustworthy_n290": sorted(f"{r.estimator}:{r.estimand}" for r in judged.itertuples()
                                       if not r.trustworthy),
    }
    return {"validation": block}


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------

SCENARIO_STYLE = {  # colour and marker per scenario (Okabe–Ito)
    "published": (0, "o"), "published_conf0": (4, "v"), "published_conf2": (5, "^"), "null": (7, "s"),
    "null_conf2": (3, "D"), "no_pain_to_mood": (2, "P"), "no_pain_effect": (1, "X"),
    "published_n1000": (4, "<"), "published_n5000": (7, ">"),
}


def _dot_panels(summary, rows, outcomes, value, mcse, reference, xlabel, scenarios, band=None, width=8.0):
    from dexmood import plots

    fig, axes = plots.new_figure(ncols=len(outcomes), width=width, height=0.42 * len(rows) + 1.8, sharey=True)
    axes = np.atleast_1d(axes)
    offsets = np.linspace(-0.3, 0.3, len(scenarios)) if len(scenarios) > 1 else np.zeros(1)
    for ax, outcome in zip(axes, outcomes, strict=True):
        if band is not None:
            ax.axvspan(*band, color="#DDDDDD", lw=0, zorder=0)
        ax.axvline(reference, color="#333333", lw=1, ls="--", zorder=1)
        for s, scenario in enumerate(scenarios):
            colour_index, marker = SCENARIO_STYLE.get(scenario, (7, "o"))
            for r, (estimator, estimand) in enumerate(rows):
                hit = summary[(summary["scenario"] == scenario) & (summary["estimator"] == estimator)
                              & (summary["estimand"] == estimand) & (summary["outcome"] == outcome)]
                if hit.empty:
                    continue
                y = len(rows) - 1 - r + offsets[s]
                ax.errorbar(hit[value].iloc[0], y, xerr=1.96 * hit[mcse].iloc[0], fmt=marker, ms=5,
                            color=plots.OKABE_ITO[colour_index], capsize=2, lw=1, label=SCENARIOS[scenario].label)
        ax.set_title(OUTCOME_LABELS[outcome])
        ax.set_xlabel(xlabel)
    labels = [SHORT_LABELS[e] + (f": {ESTIMAND_LABELS[k]}" if ESTIMATORS[e][1] == "mediation" else "")
              for e, k in rows]
    axes[0].set_yticks(range(len(rows))[::-1], labels, fontsize=8)
    handles, seen = [], set()
    for handle, label in zip(*axes[0].get_legend_handles_labels(), strict=True):
        if label not in seen:
            seen.add(label)
            handles.append((handle, label))
    fig.legend([h for h, _ in handles], [lab for _, lab in handles], loc="outside lower center", ncols=2,
               fontsize=8)
    return fig, axes


def plot_coverage(summary: pd.DataFrame, rows, outcomes, scenarios, n_reps_band: int = 500, width: float = 8.0):
    """Coverage of the 95% intervals (error bars: ±1.96 Monte-Carlo SE) against the nominal 95%; the grey
    band is what Monte-Carlo error alone allows with `n_reps_band` replicates."""
    return _dot_panels(summary, rows, outcomes, "coverage", "coverage_mcse", 0.95,
                       "coverage of the 95% interval", scenarios, band=coverage_band(n_reps_band), width=width)


def plot_bias(summary: pd.DataFrame, rows, outcomes, scenarios, width: float = 8.0):
    """Bias against each estimator's own target (error bars: ±1.96 Monte-Carlo SE)."""
    return _dot_panels(summary, rows, outcomes, "bias", "bias_mcse", 0.0, "bias (score points)", scenarios,
                       width=width)
