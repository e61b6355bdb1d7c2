"""Simulation study (notebook 08): replicates per second on joblib (local) and Dask distributed with 1 and 2
workers, fast and Bayesian replicates, scaling efficiency, and the estimated wall time of the full study on
a 32-worker cluster. Same seeds, same results on every engine (tests/test_study_dask.py)."""

from __future__ import annotations

import json
import os
import statistics
import time

from dexmood.settings import SETTINGS
from dexmood.validation import bayes, engines, runner, study
from dexmood.validation.scenarios import SCENARIOS

SCENARIO = SCENARIOS["published"]
#: Cost of one replicate relative to the published design (≈ linear in n, measured once: n = 5,000 ≈ 25×).
RELATIVE_COST = {"published_n1000": 3.5, "published_n5000": 25.0}


def fast_rate(engine: str, workers: int, n_reps: int, client=None) -> float:
    return runner.throughput(SCENARIO, n_reps, workers=workers, engine=engine, client=client)["replicates_per_s"]


def bayes_rate(engine: str, workers: int, n_reps: int, client=None) -> float:
    """Bayesian fits per second after every worker has compiled the model (a warm-up fit each)."""
    bayes.bayesian_replicates(SCENARIO, workers, SETTINGS.seed + 1, n_jobs=workers, engine=engine, client=client,
                              chunk_size=1)
    start = time.perf_counter()
    bayes.bayesian_replicates(SCENARIO, n_reps, SETTINGS.seed, n_jobs=workers, engine=engine, client=client)
    return n_reps / (time.perf_counter() - start)


def full_study_estimate(fast_per_s_per_worker: float, bayes_per_s_per_worker: float, efficiency: float,
                        workers: int = 32, bayes_reps: int = 1000) -> dict:
    """Wall time of notebook 08's fast scenarios (as configured) plus `bayes_reps` Bayesian fits on `workers`
    workers with the measured per-worker rates and 2-worker scaling efficiency (assumed to hold at 32)."""
    units = sum(n * RELATIVE_COST.get(key, 1.0) for key, n in study.DEFAULT_REPLICATES.items())
    rate = workers * efficiency
    fast_s = units / (fast_per_s_per_worker * rate)
    bayes_s = bayes_reps / (bayes_per_s_per_worker * rate)
    return {"workers": workers, "fast_replicate_units": units, "bayes_replicates": bayes_reps,
            "fast_s": round(fast_s, 1), "bayes_s": round(bayes_s, 1), "total_s": round(fast_s + bayes_s, 1)}


def run(repeats: int = 3, n_reps: int = 2000, n_bayes: int = 6) -> dict:
    """`n_reps` fast replicates per run: ~20 s on one worker, so that start-up and scheduling are a small share."""
    load_before = os.getloadavg()[0]  # the machine is shared: a high load makes the ratios unreliable
    fast: dict[str, list[float]] = {}
    slow: dict[str, list[float]] = {}
    for _ in range(repeats):
        for workers in (1, 2):
            fast.setdefault(f"local_{workers}w", []).append(fast_rate("local", workers, n_reps))
            with engines.dask_client(workers) as client:
                fast.setdefault(f"dask_{workers}w", []).append(fast_rate("dask", workers, n_reps, client))
                slow.setdefault(f"dask_{workers}w", []).append(bayes_rate("dask", workers, n_bayes, client))
        slow.setdefault("local_1w", []).append(bayes_rate("local", 1, n_bayes))
    fast_rates = {k: round(statistics.median(v), 2) for k, v in fast.items()}
    bayes_rates = {k: round(statistics.median(v), 3) for k, v in slow.items()}
    speedup = fast_rates["dask_2w"] / fast_rates["dask_1w"]
    bayes_speedup = bayes_rates["dask_2w"] / bayes_rates["dask_1w"]
    efficiency = min(speedup, bayes_speedup) / 2
    return {
        "fast_replicates_per_s": fast_rates, "bayes_replicates_per_s": bayes_rates,
        "study_dask_2w_speedup": round(speedup, 2), "study_dask_2w_bayes_speedup": round(bayes_speedup, 2),
        "study_local_2w_speedup": round(fast_rates["local_2w"] / fast_rates["local_1w"], 2),
        "scaling_efficiency_2w": round(efficiency, 2),
        "estimate_32_workers": full_study_estimate(fast_rates["dask_1w"], bayes_rates["dask_1w"], efficiency),
        "load_average_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "n_reps_per_run": n_reps, "n_bayes_per_run": n_bayes, "repeats": repeats,
        "scenario": "published design, n = 290",
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
