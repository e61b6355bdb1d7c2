"""Stage 4 – Bayesian causal mediation: how much of DEX's mood benefit runs through pain relief?

One joint PyMC model of the mediator (1-month change in NRS pain) and both outcomes (1-month change in
GAD-7 and PHQ-9), with correlated outcome residuals and a DEX × mediator interaction:

    M_i      ~ Normal(a0 + a·DEX_i + X_i γ_M, σ_M)
    Y_ik | M ~ Normal(b0_k + c'_k·DEX_i + (b_k + d_k·DEX_i)(M_i − m̄) + X_i γ_k, σ_k),  k = GAD-7, PHQ-9
    corr(Y_i,GAD-7, Y_i,PHQ-9 | M_i) = ρ_Y  (LKJ(η = 2) prior)

X are the baseline covariates, standardised. The causal estimands are the natural (in)direct effects of
Imai, Keele & Tingley (2010) and VanderWeele (2015), computed per posterior draw by g-computation over the
analysed sample: ACME(t) = E[Y(t, M(1)) − Y(t, M(0))], ADE(t) = E[Y(1, M(t)) − Y(0, M(t))],
total = ACME(1) + ADE(0), proportion mediated = mean(ACME(0), ACME(1)) / total (R `mediation`'s
"Prop. Mediated (average)").

Sensitivity hook (Imai, Keele & Yamamoto 2010): `mediator_outcome_rho` fixes the correlation between the
mediator residual and each outcome residual, which sequential ignorability sets to 0. It is a `pm.Data`
variable, so one compiled model serves every value of ρ.

The model is compiled once (nutpie, numba backend) and re-used with new data via `MediationModel.set_data`;
posteriors are cached as netCDF through `dexmood.cache` (key: the data, priors, sampler settings, seed, ρ and
the source of this package). Sampler settings, seed and diagnostics thresholds come from `dexmood.settings`.

One module per job:

- `data` — complete cases, the standardised covariate design, Kish-normalised weights (`prepare_data`);
- `model` — the priors and `build_model`; `sampler` — `SamplerSettings` and `MediationModel` (compiled once);
- `fitting` — `fit` (cached posterior + estimands) and the book's matched and weighted fits;
- `estimands` — the natural effects per draw by g-computation and their summaries;
- `checks` — convergence diagnostics and prior / posterior predictive checks;
- `frequentist` — the statsmodels `Mediation` cross-check;
- `truth` — the simulation's true effects and the published band;
- `page` — the text, tables and results.json of notebook 04; `prose` — the values it glues into its prose
  (Monte-Carlo numbers recorded with their MCSE); `figures` — its figures.
"""

from dexmood.mediation._common import (
    DIFFERENCE,
    ESTIMAND_LABELS,
    ESTIMANDS,
    MEDIATOR,
    MODEL_VERSION,
    OBSERVED,
    OUTCOME_COLUMNS,
    OUTCOME_LABELS,
    OUTCOMES,
    PARAMETERS,
    REPORTED,
    TREATMENT,
)
from dexmood.mediation.checks import (
    SCORE_LIMITS,
    DiagnosticsError,
    check_diagnostics,
    default_diagnostic_variables,
    diagnostics_table,
    divergences,
    posterior_predictive_mcse,
    posterior_predictive_table,
    prior_predictive_table,
)
from dexmood.mediation.data import (
    CovariateEncoding,
    MediationData,
    att_odds_weights,
    fit_encoding,
    kish_normalised,
    prepare_data,
    prepare_matched,
)
from dexmood.mediation.estimands import add_effects, compute_effects, effects_mcse, effects_summary
from dexmood.mediation.figures import (
    draw_dag,
    outcome_colors,
    plot_effects,
    plot_ppc,
    plot_proportion_vs_published,
)
from dexmood.mediation.fitting import WeightedFit, cache_inputs, cache_key, fit, fit_matched, fit_weighted
from dexmood.mediation.frequentist import COMPARED, comparison_table, statsmodels_fits, statsmodels_mediation
from dexmood.mediation.model import Priors, build_model
from dexmood.mediation.page import (
    display_table,
    interval_text,
    record_interval,
    recorded_display_table,
    results_document,
    results_section,
    sample_text,
    timing_text,
    weighted_text,
    write_mediation_json,
)
from dexmood.mediation.prose import (
    DIFFERENCE_MARGIN,
    QUOTED,
    central_95,
    prior_values,
    record_band_values,
    record_comparison_values,
    record_difference_values,
    record_effect_values,
    record_ppc_values,
    record_truth_values,
    record_weighted_values,
)
from dexmood.mediation.sampler import (
    MediationModel,
    SamplerSettings,
    nutpie_available,
    quiet,
    warm_compile_cache,
)
from dexmood.mediation.truth import published_band, sample_truth, truth_value

__all__ = [
    "DIFFERENCE", "ESTIMAND_LABELS", "ESTIMANDS", "MEDIATOR", "MODEL_VERSION", "OBSERVED", "OUTCOME_COLUMNS",
    "OUTCOME_LABELS", "OUTCOMES", "PARAMETERS", "REPORTED", "TREATMENT", "SCORE_LIMITS", "DiagnosticsError",
    "check_diagnostics", "default_diagnostic_variables", "diagnostics_table", "divergences",
    "posterior_predictive_mcse", "posterior_predictive_table", "prior_predictive_table", "CovariateEncoding",
    "MediationData", "att_odds_weights", "fit_encoding", "kish_normalised", "prepare_data", "prepare_matched",
    "add_effects", "compute_effects", "effects_mcse", "effects_summary", "draw_dag", "outcome_colors",
    "plot_effects", "plot_ppc", "plot_proportion_vs_published", "WeightedFit", "cache_inputs", "cache_key",
    "fit", "fit_matched", "fit_weighted", "COMPARED", "comparison_table", "statsmodels_fits",
    "statsmodels_mediation", "Priors", "build_model", "display_table", "interval_text", "record_interval",
    "recorded_display_table", "results_document", "results_section", "sample_text", "timing_text",
    "weighted_text", "write_mediation_json", "DIFFERENCE_MARGIN", "QUOTED", "central_95", "prior_values",
    "record_band_values", "record_comparison_values", "record_difference_values", "record_effect_values",
    "record_ppc_values", "record_truth_values", "record_weighted_values", "MediationModel", "SamplerSettings",
    "nutpie_available", "quiet", "warm_compile_cache", "published_band", "sample_truth", "truth_value",
]
