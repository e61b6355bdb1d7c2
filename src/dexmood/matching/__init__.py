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

Layout: `propensity` (model, terms, transforms), `greedy` (the numba matcher on a distance), `nearest`
(matching a cohort, the book's specification and its alternatives), `balance` (bal.tab), `outputs`
(matched.csv, results.json), `figures`, `rcheck` (the stored MatchIt cross-check), `page` (what notebook 02
glues and tabulates around them).
"""

from dexmood.errors import MatchingError  # noqa: F401
from dexmood.matching.balance import (  # noqa: F401
    SMD_THRESHOLD,
    VARIANCE_RATIO_RANGE,
    BalanceTable,
    balance_sentence,
    balance_table,
    balance_terms,
    ecdf_differences,
    weighted_variance,
)
from dexmood.matching.figures import (  # noqa: F401
    AFTER_COLOR,
    BEFORE_COLOR,
    ecdf_plots,
    love_plot,
    ps_histograms,
)
from dexmood.matching.greedy import (  # noqa: F401
    match_on_distance,
    matchit_weights,
)
from dexmood.matching.nearest import (  # noqa: F401
    MatchResult,
    alternative_specifications,
    compare_specifications,
    default_match,
    match_nearest,
    match_with_settings,
)
from dexmood.matching.outputs import (  # noqa: F401
    matched_csv,
    results_section,
    write_matched_csv,
)
from dexmood.matching.page import (  # noqa: F401
    MAIN_R_SPECIFICATION,
    balance_values,
    check_crosscheck,
    cohort_values,
    counts_table,
    crosscheck_display,
    crosscheck_values,
    match_values,
    model_values,
    written_line,
)
from dexmood.matching.propensity import (  # noqa: F401
    DEFAULT_CALIPER_SD,
    ORDERS,
    SKEWNESS_FOR_LOG,
    TRANSFORMS,
    TREATED_GROUP,
    PropensityModel,
    _is_categorical,
    categorical_levels,
    covariate_table,
    design_matrix,
    fit_propensity,
    propensity_transforms,
)
from dexmood.matching.rcheck import (  # noqa: F401
    R_REFERENCE_COHORTS,
    R_REFERENCE_CONFIGS,
    R_REFERENCE_FILE,
    compare_with_r,
    load_r_reference,
    reference_cohort,
)
