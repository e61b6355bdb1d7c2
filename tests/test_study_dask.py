"""The simulation study on Dask distributed gives the local run's table, row for row (issue 19).

A two-worker `LocalCluster` of processes on this machine (no network): ≥ 40 replicates equal the local
joblib run; a different chunk size changes nothing; a worker killed in the middle of a task (the scheduler
re-runs the task elsewhere) still yields the identical table.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import cloudpickle
import pandas as pd
import pytest

from dexmood.settings import SETTINGS
from dexmood.validation import engines, runner
from dexmood.validation.scenarios import SCENARIOS

distributed = pytest.importorskip("distributed", reason="the [cluster] extra is not installed")

N_REPS = 40
SCENARIO = SCENARIOS["published"]


@pytest.fixture(scope="module")
def client():
    with engines.dask_client(workers=2) as dask_client:
        yield dask_client


@pytest.fixture(scope="module")
def local_table():
    return runner.run_replicates(SCENARIO, N_REPS, SETTINGS.seed, n_jobs=1)


def test_two_dask_workers_equal_the_local_run(client, local_table):
    assert len(client.scheduler_info()["workers"]) == 2
    table = runner.run_replicates(SCENARIO, N_REPS, SETTINGS.seed, engine="dask", client=client)
    assert sorted(table["replicate"].unique()) == list(range(N_REPS))
    pd.testing.assert_frame_equal(table, local_table)


def test_chunk_size_does_not_change_results(client, local_table):
    table = runner.run_replicates(SCENARIO, N_REPS, SETTINGS.seed, engine="dask", client=client, chunk_size=3)
    pd.testing.assert_frame_equal(table, local_table)


def die_once_then_run(marker: str, function, chunk):
    """Kill this worker process the first time it gets the chunk holding replicate 20 (a crash mid-run)."""
    if any(index == 20 for index, _ in chunk) and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        os._exit(1)
    return function(chunk)


def test_killed_worker_gives_the_identical_table(client, local_table, tmp_path):
    import sys

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    marker = tmp_path / "killed"
    seeds = list(enumerate(runner.replicate_seeds(SETTINGS.seed, N_REPS)))
    chunks = runner.chunked(seeds, 4)
    work = functools.partial(runner.run_chunk, SCENARIO.design(), 0)
    results = engines.map_chunks(functools.partial(die_once_then_run, str(marker), work), chunks, engine="dask",
                                 client=client)
    assert marker.exists()  # a worker really died
    table = pd.DataFrame([row for chunk in results for row in chunk],
                         columns=["replicate", *runner.ROW_FIELDS, "n_treated", "pairs"])
    table.insert(0, "scenario", SCENARIO.key)
    pd.testing.assert_frame_equal(table[local_table.columns.tolist()], local_table)


def test_workers_with_other_code_are_refused(client):
    engines.check_workers(client)  # same checkout: accepted
    with pytest.raises(engines.EngineError, match="other dexmood code"):
        engines.check_workers(client, expected="key-of-other-code")


def test_unknown_engine_is_a_readable_error():
    with pytest.raises(engines.EngineError, match="unknown engine"):
        engines.map_chunks(len, [[1]], engine="ray")
