"""Names shared by the mediation submodules: columns, outcomes, estimands, model parameters, cache version."""

#: Bump whenever the model, priors' meaning or the effect computation changes (part of the cache key).
MODEL_VERSION = "mediation-v2"

TREATMENT = "dex"
MEDIATOR = "nrs_change"
OUTCOMES = ("gad7", "phq9")
OUTCOME_COLUMNS = {"gad7": "gad7_change", "phq9": "phq9_change"}
OUTCOME_LABELS = {"gad7": "GAD-7 (anxiety)", "phq9": "PHQ-9 (depression)"}

#: Per-draw estimands added to the posterior (dimension `outcome`), in reporting order.
ESTIMANDS = ("acme_treated", "acme_control", "ade_control", "ade_treated", "total", "acme_average",
             "ade_average", "proportion_mediated")
ESTIMAND_LABELS = {
    "acme_treated": "ACME (treated)", "acme_control": "ACME (control)", "ade_control": "ADE (control)",
    "ade_treated": "ADE (treated)", "total": "Total effect", "acme_average": "ACME (average)",
    "ade_average": "ADE (average)", "proportion_mediated": "Prop. mediated (average)",
}
#: Model parameters whose convergence is checked together with the estimands.
PARAMETERS = ("mediator_intercept", "dex_on_mediator", "mediator_covariates", "mediator_sigma",
              "outcome_intercept", "direct_dex", "mediator_on_outcome", "dex_x_mediator",
              "outcome_covariates", "outcome_sigma", "residual_corr")
#: Observed variables of the model (the changes in NRS, GAD-7, PHQ-9).
OBSERVED = {"nrs": "mediator_obs", "gad7": "gad7_obs", "phq9": "phq9_obs"}
DIFFERENCE = "proportion_mediated_difference"  # GAD-7 minus PHQ-9, per draw
REPORTED = (*ESTIMANDS, DIFFERENCE)
