"""Stage 5 – sensitivity analyses: how robust are the effects of notebooks 03–04?

One module per job:

- `subgroups` — ATT within baseline subgroups, CR2 standard errors and a Bell–McCaffrey interaction test;
  cells under `Settings.min_subgroup_arm` per arm get counts only;
- `specification` — the effect under other matching and weighting choices (the ATO row labelled apart);
- `confounding` — E-values, Rosenbaum bounds, Bayesian bias analysis;
- `medsens` — ACME(ρ) in closed form (Imai, Keele & Yamamoto 2010) and a port of medsens' iteration;
- `medsens_monte_carlo` — Monte-Carlo sensitivity analysis over a prior on ρ with the joint PyMC model;
- `missing` — multiple imputation and a δ tipping point clipped to the scale;
- `randomisation` — the within-pair randomisation test (Γ = 1), not a robustness check;
- `verdicts` — every verdict as a `dexmood.verdict.Verdict` built from numbers;
- `dashboard` — `run_sensitivity` (each method on its own; `AnalysisNotPossible` caught per method),
  the robustness dashboard and `results_section` (the ``"sensitivity"`` block of results.json);
- `report` — the numbers notebook 05 glues; `figures` — its figures.
"""

from dexmood.sensitivity._common import (
                                         ALPHA,
                                         MEDIATED_OUTCOMES,
                                         MEDIATOR_COLUMN,
                                         OUTCOME_COLUMNS,
                                         OUTCOME_LABELS,
                                         OUTCOMES,
                                         Z95,
                                         pooled_sd,
)
from dexmood.sensitivity.confounding import (
                                         BiasAnalysis,
                                         EValue,
                                         RosenbaumBound,
                                         bias_analysis,
                                         bias_priors,
                                         bias_table,
                                         confounding_shift,
                                         critical_gamma,
                                         evalue_md,
                                         evalue_mean_difference,
                                         evalue_rr,
                                         evalue_threshold,
                                         normal_bias_posterior,
                                         pair_differences,
                                         rosenbaum_long_table,
                                         rosenbaum_table,
                                         tipping_bias,
                                         unmeasured_confounding_table,
                                         wilcoxon_sensitivity,
)
from dexmood.sensitivity.dashboard import (
                                         SensitivityResults,
                                         dashboard,
                                         dashboard_counts,
                                         display_board,
                                         header,
                                         results_section,
                                         run_sensitivity,
                                         subgroup_verdict,
)
from dexmood.sensitivity.medsens import (
                                         RHO_GRID,
                                         LinearMediationFit,
                                         MedsensResult,
                                         acme_at_rho,
                                         acme_se,
                                         fit_linear_mediation,
                                         mediator_slope_at_rho,
                                         medsens,
                                         medsens_check,
                                         medsens_iterative,
                                         rho_at_zero_acme,
)
from dexmood.sensitivity.medsens_monte_carlo import (
                                         RHO_PRIOR_SD,
                                         gauss_hermite_rho,
                                         hook_acme,
                                         hook_check_table,
                                         hook_fits,
                                         monte_carlo_medsens,
                                         monte_carlo_table,
                                         quadrature_agreement,
                                         transformed_acme,
)
from dexmood.sensitivity.missing import (
                                         IMPUTATION_ORDER,
                                         N_IMPUTATIONS,
                                         Imputations,
                                         TippingPoint,
                                         change_bounds,
                                         delta_tipping_point,
                                         impute_changes,
                                         missing_data_table,
                                         multiple_imputation_att,
                                         rubin_combine,
)
from dexmood.sensitivity.randomisation import randomisation_table, randomisation_test
from dexmood.sensitivity.specification import (
                                         MAIN_SPECIFICATION,
                                         SPECIFICATIONS,
                                         Specification,
                                         specification_curve,
                                         specification_summary,
)
from dexmood.sensitivity.subgroups import (
                                         SUBGROUP_LABELS,
                                         SUBGROUP_LEVELS,
                                         SubgroupResult,
                                         add_subgroups,
                                         cr2_fit,
                                         subgroup_analysis,
                                         subgroup_table,
                                         wald_test,
)
from dexmood.sensitivity.verdicts import (
                                         EVALUE_STRONG,
                                         GAMMA_STRONG,
                                         RHO_STRONG,
                                         verdict_bias,
                                         verdict_evalue,
                                         verdict_gamma,
                                         verdict_medsens_check,
                                         verdict_missing,
                                         verdict_rho,
                                         verdict_specification,
                                         verdict_subgroup,
)

__all__ = [
    "ALPHA", "MEDIATED_OUTCOMES", "MEDIATOR_COLUMN", "OUTCOME_COLUMNS", "OUTCOME_LABELS", "OUTCOMES", "Z95",
    "pooled_sd", "BiasAnalysis", "EValue", "RosenbaumBound", "bias_analysis", "bias_priors", "bias_table",
    "confounding_shift", "critical_gamma", "evalue_md", "evalue_mean_difference", "evalue_rr", "evalue_threshold",
    "normal_bias_posterior", "pair_differences", "rosenbaum_long_table", "rosenbaum_table", "tipping_bias",
    "unmeasured_confounding_table", "wilcoxon_sensitivity", "SensitivityResults", "dashboard", "dashboard_counts",
    "display_board", "header", "results_section", "run_sensitivity", "subgroup_verdict", "RHO_GRID", "LinearMediationFit",
    "MedsensResult", "acme_at_rho", "acme_se", "fit_linear_mediation", "mediator_slope_at_rho", "medsens",
    "medsens_check", "medsens_iterative", "rho_at_zero_acme", "RHO_PRIOR_SD", "gauss_hermite_rho", "hook_acme",
    "hook_check_table", "hook_fits", "monte_carlo_medsens", "monte_carlo_table", "quadrature_agreement",
    "transformed_acme", "IMPUTATION_ORDER", "N_IMPUTATIONS", "Imputations", "TippingPoint", "change_bounds",
    "delta_tipping_point", "impute_changes", "missing_data_table", "multiple_imputation_att", "rubin_combine",
    "randomisation_table", "randomisation_test", "MAIN_SPECIFICATION", "SPECIFICATIONS", "Specification",
    "specification_curve", "specification_summary", "SUBGROUP_LABELS", "SUBGROUP_LEVELS", "SubgroupResult",
    "add_subgroups", "cr2_fit", "subgroup_analysis", "subgroup_table", "wald_test", "EVALUE_STRONG", "GAMMA_STRONG",
    "RHO_STRONG", "verdict_bias", "verdict_evalue", "verdict_gamma", "verdict_medsens_check", "verdict_missing",
    "verdict_rho", "verdict_specification", "verdict_subgroup",
]
