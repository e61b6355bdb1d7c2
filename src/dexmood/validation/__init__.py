"""Stage 8 – does the pipeline recover the truth? A Monte-Carlo simulation study (notebook 08).

Many cohorts are drawn from the notebook-01 simulator at the published design and at larger n, with the
true effects and the strength of confounding varied; every replicate runs the book's pipeline and each
estimator is scored against its own target in its own replicate (Morris, White & Crowther 2019).

Modules, one job each:

* `scenarios` – the data-generating scenarios and the simulator with every patient's potential outcomes;
* `kernels` – fast NumPy versions of the book's estimators (``kernel_*``), checked against `reference`;
* `runner` – one replicate through the pipeline; many replicates on an engine (`engines`: joblib or Dask);
* `bayes` – the notebook-04 PyMC model on replicates, compiled once per process;
* `measures` – bias, RMSE, coverage, MCSE and the verdicts (`dexmood.verdict.Verdict`);
* `study` – the study of notebook 08, cached (`dexmood.cache`), and the ``study`` output file;
* `figures` – the notebook's figures; `cli` – ``python -m dexmood study``.

Same seed → identical tables whatever the engine, the number of workers or the chunk size.
"""

from dexmood.validation.figures import plot_bias, plot_coverage
from dexmood.validation.kernels import Z95, MatchedSample, kernel_match
from dexmood.validation.measures import (
    MIN_COVERAGE,
    VERDICT_SCENARIOS,
    coverage_band,
    family_sentence,
    measure,
    names_with_grade,
    performance_table,
    power_table,
    rejection_pivot,
    results_section,
    summarise,
    verdict_table,
    verdicts,
    worst_case_ties,
)
from dexmood.validation.reference import compare_with_reference, reference_replicate
from dexmood.validation.runner import analyse_replicate, replicate_seeds, run_replicates
from dexmood.validation.scenarios import (
    ATT_ESTIMATORS,
    ATT_OUTCOMES,
    ESTIMAND_LABELS,
    ESTIMATORS,
    MAIN_ESTIMATOR,
    MEDIATION_ESTIMANDS,
    MEDIATION_OUTCOMES,
    RESULT_COLUMNS,
    SCENARIOS,
    SHORT_LABELS,
    Replicate,
    Scenario,
    group_sizes,
    individual_effects,
    mediation_truth,
    published_mediation_range,
    scenario_table,
    simulate_replicate,
)


def __getattr__(name: str):
    # The Bayesian part imports PyMC (seconds); a worker process that only runs fast replicates never needs it.
    if name in ("BAYES_SETTINGS", "bayesian_replicates"):
        from dexmood.validation import bayes

        return getattr(bayes, name)
    if name in ("run_study", "study_for_book", "load_study_file", "write_study_file", "StudyResult",
                "DEFAULT_REPLICATES", "DEFAULT_BOOTSTRAP_REPLICATES", "DEFAULT_BAYES_REPLICATES"):
        from dexmood.validation import study

        return getattr(study, name)
    raise AttributeError(f"module 'dexmood.validation' has no attribute {name!r}")


__all__ = [
    "ATT_ESTIMATORS", "ATT_OUTCOMES", "BAYES_SETTINGS", "DEFAULT_BAYES_REPLICATES", "DEFAULT_BOOTSTRAP_REPLICATES",
    "DEFAULT_REPLICATES", "StudyResult", "load_study_file", "run_study", "study_for_book", "write_study_file", "ESTIMAND_LABELS", "ESTIMATORS", "MAIN_ESTIMATOR",
    "MEDIATION_ESTIMANDS", "MEDIATION_OUTCOMES", "MIN_COVERAGE", "RESULT_COLUMNS", "SCENARIOS", "SHORT_LABELS",
    "VERDICT_SCENARIOS", "Z95", "MatchedSample", "Replicate", "Scenario", "analyse_replicate",
    "bayesian_replicates", "compare_with_reference", "coverage_band", "family_sentence", "group_sizes",
    "individual_effects", "kernel_match", "measure", "mediation_truth", "names_with_grade", "performance_table",
    "plot_bias", "plot_coverage", "power_table", "published_mediation_range", "reference_replicate",
    "rejection_pivot", "replicate_seeds", "results_section", "run_replicates", "scenario_table",
    "simulate_replicate", "summarise", "verdict_table", "verdicts", "worst_case_ties",
]
