"""Stage 1 – the cohort: data contract, validation of a user's CSV, and the calibrated simulation.

The contract (one row per patient) is written once, as the pandera schema `COHORT_SCHEMA`; the human
codebook is `data/README.md`. The simulation is a structural model with confounded treatment assignment,
calibrated to Ren et al. (2025), whose true effects are computed from both potential outcomes of every
simulated patient.

Layout: `contract` (the schema, validation, reading a CSV), `prepare` (covariates made usable, changes,
the flow table), `dataset` (the `Cohort` object, loading, CSV writing), `simulation` (the structural model
and its truth), `describe` (Table 1, change summaries, the published figures), `figures`.
"""

from dexmood.cohort.contract import (  # noqa: F401
    CATEGORICAL_COVARIATES,
    COHORT_SCHEMA,
    GROUPS,
    INSTRUMENT_NAMES,
    MAX_CATEGORY_LEVELS,
    MAX_MISSING_SHARE,
    MILD_CUTOFF,
    MISSING_LEVEL,
    OPTIONAL_COLUMNS,
    OTHER_LEVEL,
    OUTCOMES,
    RARE_LEVEL_MIN,
    REQUIRED_COLUMNS,
    SCORE_RANGES,
    load,
    read_csv,
    read_csv_as_text,
    validate,
)
from dexmood.cohort.dataset import (  # noqa: F401
    Cohort,
    file_sha256,
    load_cohort,
    make_cohort,
    to_csv_bytes,
    truth_json,
    write_csv,
    write_truth,
)
from dexmood.cohort.describe import (  # noqa: F401
    change_summary,
    compare_with_published,
    published,
    published_changes,
    smd_table,
)
from dexmood.cohort.figures import (  # noqa: F401
    plot_changes_vs_published,
    plot_distributions,
)
from dexmood.cohort.prepare import (  # noqa: F401
    add_changes,
    baseline_covariates,
    flow_table,
    prepare_covariates,
)
from dexmood.cohort.simulation import (  # noqa: F401
    ASSIGNMENT_COEFS,
    DEFAULT_SEED,
    OUTCOME_COEFS,
    SimulatedWorld,
    SimulationDesign,
    draw_world,
    get_cohort,
    simulate,
    with_design,
)
from dexmood.errors import CohortError, DataContractError  # noqa: F401
