"""The Bayesian replicates of the simulation study: one compiled model per process, the diagnostics guard
on every fit, failed fits counted and reported (never dropped)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dexmood import validation as v
from dexmood.settings import SETTINGS
from dexmood.validation import bayes

SCENARIO = v.SCENARIOS["published"]


@pytest.fixture(scope="module")
def too_short():
    """Two replicates with far too few draws for the book's ESS ≥ 400 rule: both fits must fail the guard."""
    return bayes.bayesian_replicates(SCENARIO, 2, SETTINGS.seed, sampler={"chains": 2, "tune": 100, "draws": 50})


def test_failed_fits_are_counted_not_dropped(too_short):
    rows, diagnostics = too_short
    assert len(diagnostics) == 2 and not diagnostics["passed"].any()
    assert diagnostics["problem"].str.contains("ESS").all()
    assert len(rows) == 2 * len(v.MEDIATION_OUTCOMES) * len(v.MEDIATION_ESTIMANDS)  # rows kept, numbers NaN
    assert rows["estimate"].isna().all() and rows["truth"].notna().all()
    summary = v.summarise(rows)
    assert (summary["n_failed"] == 2).all() and (summary["n_reps"] == 0).all()


def test_one_compiled_model_per_process_and_reproducible(too_short):
    assert len(bayes._MODELS) == 1
    model = next(iter(bayes._MODELS.values()))
    again, diagnostics = bayes.bayesian_replicates(SCENARIO, 2, SETTINGS.seed,
                                                   sampler={"chains": 2, "tune": 100, "draws": 50})
    assert next(iter(bayes._MODELS.values())) is model  # data swapped in, not recompiled
    pd.testing.assert_frame_equal(again, too_short[0])
    np.testing.assert_array_equal(diagnostics["max_rhat"], too_short[1]["max_rhat"])
