"""Stage 7 – the registered trial NCT05718544: PCA dosing, eligibility, design power and the analysis plan.

The registry record (bib key nct05718544, version of 2025-07-30) describes a randomised, quadruple-blind trial of
199 patients after scoliosis correction: sufentanil patient-controlled intravenous analgesia (PCIA) with or
without mini-dose esketamine + dexmedetomidine, primary question chronic post-surgical pain (CPSP) at 2
years. Results are pending, so this package makes the book ready for them:

1. `pca_regimen` – pump contents, concentrations and the most the pump can deliver (per kg as well), and
   `implied_bolus_use` – what the parent trial's achieved mean rates (Zhang et al. 2023) imply about boluses.
2. `assess_eligibility` – the registry's criteria as rules over a screening table, with reasons per patient.
3. `analytic_power` / `simulated_power` / `minimal_detectable_rr` – the design analysis for CPSP at 2 years.
4. `frequentist_analysis` / `bayesian_analysis` – the book's proposed analysis (the registry has none), run
   on mock data until the
   results file `data/trial/results.csv` is filled in (`get_trial_results` picks the file when it has rows).

One module per job:

- `registry` — the registered facts (`data/trial/registry.json`), seed, arm sizes, clinical threshold;
- `dosing` — the PCA pump calculator and the consistency of the published mean rates;
- `schema` — table validation that names every bad column and CSV row (`TrialDataError`);
- `eligibility` — the criteria as rules; `enrolment` — a simulated screening log and the CONSORT boxes;
- `power` — analytic and simulated power, sample size, minimal detectable RR;
- `results` — the results file: contract, loader, template, mock results;
- `analysis` — the frequentist analysis; `bayesian` — priors and the grid posterior of the RR;
- `figures` — the page's figures; `page` — the data banner, the values the page glues and its small derived
  tables; `outputs` — the results.json entry.
"""

from dexmood.errors import TrialDataError
from dexmood.trial.analysis import frequentist_analysis, risk_table
from dexmood.trial.bayesian import (
    GridPosterior,
    LogRrPrior,
    bayesian_analysis,
    beta_binomial_reference,
    grid_posterior,
    normal_posterior,
    prior_table,
    probability_curve,
    trial_priors,
)
from dexmood.trial.dosing import (
    DRUGS,
    REGISTRY_PCA,
    PcaProtocol,
    achieved_rate_consistency,
    background_only_weight,
    implied_bolus_use,
    pca_regimen,
    pump_contents,
)
from dexmood.trial.eligibility import (
    CRITERION_LABELS,
    ELIGIBILITY_RULES,
    SCREENING_COLUMNS,
    SCREENING_SCHEMA,
    EligibilityRule,
    assess_eligibility,
    eligibility_matrix,
    rules_table,
    validate_screening,
)
from dexmood.trial.enrolment import (
    SCREENING_ASSUMPTIONS,
    ScreeningFlow,
    consort_steps,
    simulate_enrolment,
    simulate_screening,
)
from dexmood.trial.figures import (
    PRIOR_COLORS,
    plot_implied_boluses,
    plot_mdrr,
    plot_power_heatmap,
    plot_probability_curve,
)
from dexmood.trial.outputs import results_section
from dexmood.trial.page import (
    BOLUS_WEIGHT_GRID,
    BOLUS_WEIGHTS_SHOWN,
    POWER_AGREEMENT,
    QUOTED_PRIORS,
    at_weights,
    bolus_values,
    frequentist_values,
    implied_bolus_table,
    limit_values,
    limits_table,
    mdrr_pivot,
    mdrr_values,
    mock_values,
    most_reasons,
    posterior_values,
    power_agreement,
    power_values,
    rate_check_table,
    rate_values,
    regimen_by_weight,
    regimen_values,
    registry_values,
    screening_values,
    show_data_banner,
    show_mock_design,
    threshold_values,
    validation_error_example,
)
from dexmood.trial.power import (
    analytic_power,
    log_rr_wald,
    mdrr_table,
    minimal_detectable_rr,
    power_grid,
    required_sample_size,
    sample_size_table,
    simulated_power,
)
from dexmood.trial.registry import (
    ARMS,
    CLINICAL_RR_THRESHOLD,
    CLINICAL_THRESHOLD_WHY,
    N_PLACEBO,
    N_SUPPLEMENT,
    REGISTRY_JSON,
    TRIAL_SEED,
    load_registry,
    registry_consistency,
    registry_table,
)
from dexmood.trial.results import (
    RESULTS_CSV,
    RESULTS_ENV,
    RESULTS_OPTIONAL,
    RESULTS_REQUIRED,
    RESULTS_SCHEMA,
    MockDesign,
    TrialResults,
    get_trial_results,
    read_results,
    simulate_results,
    validate_results,
    write_template,
)

__all__ = [
    # registry
    "ARMS", "CLINICAL_RR_THRESHOLD", "CLINICAL_THRESHOLD_WHY", "N_PLACEBO", "N_SUPPLEMENT", "REGISTRY_JSON",
    "TRIAL_SEED", "TrialDataError", "load_registry", "registry_consistency", "registry_table",
    # dosing
    "DRUGS", "REGISTRY_PCA", "PcaProtocol", "achieved_rate_consistency", "background_only_weight",
    "implied_bolus_use", "pca_regimen", "pump_contents",
    # eligibility and enrolment
    "CRITERION_LABELS", "ELIGIBILITY_RULES", "SCREENING_ASSUMPTIONS", "SCREENING_COLUMNS", "SCREENING_SCHEMA",
    "EligibilityRule", "ScreeningFlow", "assess_eligibility", "consort_steps", "eligibility_matrix",
    "rules_table", "simulate_enrolment", "simulate_screening", "validate_screening",
    # power
    "analytic_power", "log_rr_wald", "mdrr_table", "minimal_detectable_rr", "power_grid",
    "required_sample_size", "sample_size_table", "simulated_power",
    # results file
    "RESULTS_CSV", "RESULTS_ENV", "RESULTS_OPTIONAL", "RESULTS_REQUIRED", "RESULTS_SCHEMA", "MockDesign",
    "TrialResults", "get_trial_results", "read_results", "simulate_results", "validate_results",
    "write_template",
    # analysis
    "GridPosterior", "LogRrPrior", "bayesian_analysis", "beta_binomial_reference", "frequentist_analysis",
    "grid_posterior", "normal_posterior", "prior_table", "probability_curve", "risk_table", "trial_priors",
    # figures, page, results.json
    "PRIOR_COLORS", "plot_implied_boluses", "plot_mdrr", "plot_power_heatmap", "plot_probability_curve",
    "results_section", "show_data_banner",
    # page: what notebook 07 glues and the small tables it derives
    "BOLUS_WEIGHT_GRID", "BOLUS_WEIGHTS_SHOWN", "POWER_AGREEMENT", "QUOTED_PRIORS", "at_weights", "bolus_values",
    "frequentist_values", "implied_bolus_table", "limit_values", "limits_table", "mdrr_pivot", "mdrr_values",
    "mock_values", "most_reasons", "posterior_values", "power_agreement", "power_values", "rate_check_table",
    "rate_values", "regimen_by_weight", "regimen_values", "registry_values", "screening_values",
    "show_mock_design", "threshold_values", "validation_error_example",
]
