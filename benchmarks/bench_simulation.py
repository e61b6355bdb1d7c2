"""Simulation study (notebook 08): replicates per second with 1 and 2 workers (same seeds, same results)."""

from __future__ import annotations

import json
import statistics


def run(repeats: int = 3, n_reps: int = 200) -> dict:
    from dexmood import validation

    per_workers: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):
        table = validation.throughput(n_reps=n_reps, n_jobs_list=(1, 2))
        for row in table.itertuples():
            per_workers[int(row.n_jobs)].append(float(row.replicates_per_s))
    rates = {str(k): round(statistics.median(v), 1) for k, v in per_workers.items()}
    return {"replicates_per_s": rates, "speedup_2_vs_1": round(rates["2"] / rates["1"], 2),
            "n_reps_per_run": n_reps, "repeats": repeats, "scenario": "published design, n = 290"}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
