"""Stage 3 – treatment effects of DEX on the 1-month change in anxiety, depression, pain and on satisfaction.

Estimators (each returns an `Estimate`; `estimate_effects` collects them in one tidy table):

1. `matched_difference` – difference in means in the matched sample, weighted regression of the outcome on
   group with pair-cluster-robust standard errors (MatchIt vignette "Estimating Effects After Matching";
   valid after matching without replacement, Abadie & Spiess 2022).
2. `matched_regression` – the same regression adjusted for the baseline score and the matching covariates,
   as g-computation of the ATT with treatment-by-covariate interactions (covariates centred at the matched
   treated mean, so the coefficient of `dex` is the ATT); pair-cluster-robust standard errors.
3. On the full cohort: `ipw_att` (treated 1, controls e/(1-e)), `overlap_effect` (overlap weights; target:
   the overlap population, Li, Morgan & Zaslavsky 2018), both with heteroskedasticity-robust (HC1) standard
   errors that treat the weights as known; and `aipw_att`, augmented IPW for the ATT with a seeded
   nonparametric bootstrap (propensity and outcome models refitted in every replicate).
4. `group_means` – per-group mean change with a 95% t interval (what Ren et al. 2025 report), and
   `welch_difference`, the unpaired difference of those means.

Plus a responder analysis (`responder_effects`: risk difference and ratio) and satisfaction as an ordinal
outcome (`ordinal_satisfaction`, proportional odds). Outcomes with a missing 1-month value are analysed as
complete cases; every estimate reports how many rows it dropped (`n_missing`).

Layout: `estimands` (outcomes, estimator labels, the `Estimate` record), `estimators` (1–4 above),
`responders` (responders, ordinal satisfaction), `combined` (every estimator on every outcome, failures as
notes, comparisons with the published figures and the truth), `figures`, `results` (results.json).
"""

from dexmood.effects.combined import (  # noqa: F401
    estimate_effects,
    group_mean_table,
    outcome_covariates,
    published_comparison,
    truth_comparison,
)
from dexmood.effects.estimands import (  # noqa: F401
    DEFAULT_BOOTSTRAP,
    DEFAULT_SEED,
    ESTIMATORS,
    NOT_IN_DATA,
    OUTCOME_COLUMNS,
    OUTCOME_LABELS,
    PRIMARY_ESTIMATOR,
    TIDY_COLUMNS,
    Z95,
    Estimate,
    available_outcomes,
    prepare,
)
from dexmood.effects.estimators import (  # noqa: F401
    aipw_att,
    aipw_att_many,
    att_weights,
    complete_cases,
    covariate_matrix,
    fit_logistic_propensity,
    group_means,
    ipw_att,
    matched_difference,
    matched_regression,
    overlap_effect,
    overlap_weights,
    weighted_difference,
    welch_difference,
)
from dexmood.effects.figures import (  # noqa: F401
    forest_plot,
)
from dexmood.effects.responders import (  # noqa: F401
    RESPONDER_DEFINITIONS,
    ResponderDefinition,
    ordinal_satisfaction,
    responder_effects,
    risk_difference_ratio,
)
from dexmood.effects.results import (  # noqa: F401
    analyse,
    matching_covariates,
    results_from_analysis,
    results_section,
    write_effects_json,
)
