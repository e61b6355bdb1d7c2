"""Benchmark of dexmood.matching at 10^4, 10^5 and 10^6 patients (10% treated, 1:1, caliper 0.2 SD).

Prints wall-clock times of the propensity fit, the greedy matching itself and the whole `match_nearest`
call; at 10^4 also a scikit-learn NearestNeighbors-based greedy matcher (same data, same run) and the
agreement of the two. Usage:  .venv/bin/python benchmarks/bench_matching.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import pandas as pd

from dexmood import matching

SIZES = (10_000, 100_000, 1_000_000)
SEED = 20250222


def synthetic_cohort(n: int, seed: int = SEED, treated_share: float = 0.10) -> pd.DataFrame:
    """A cohort-shaped table with confounded assignment; exactly round(n * treated_share) are DEX."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "patient_id": np.char.add("P", np.arange(n).astype(str)),
        "age": np.round(rng.normal(56, 12, n)),
        "sex": np.where(rng.random(n) < 0.62, "F", "M"),
        "nrs_baseline": np.clip(np.round(rng.normal(6.3, 1.2, n)), 0, 10),
        "gad7_baseline": np.clip(np.round(rng.normal(9.5, 3.6, n)), 0, 21),
        "phq9_baseline": np.clip(np.round(rng.normal(11, 4, n)), 0, 27),
        "bmi": np.round(rng.normal(23.8, 3.3, n), 1),
        "procedure": rng.choice(["epidural_injection", "nerve_block", "radiofrequency"], n),
    })
    index = (-0.03 * (frame["age"] - 56) + 0.25 * (frame["nrs_baseline"] - 6.3) + 0.08 * (frame["gad7_baseline"] - 9.5)
             + 0.7 * (frame["procedure"] == "radiofrequency") + rng.logistic(size=n))
    dex = np.zeros(n, dtype=bool)
    dex[np.argsort(-index.to_numpy(), kind="stable")[: round(n * treated_share)]] = True
    frame.insert(1, "group", np.where(dex, "DEX", "LA"))
    return frame


def sklearn_greedy(distance: np.ndarray, treated: np.ndarray, caliper: float) -> np.ndarray:
    """Reference: greedy 1:1 matching with scikit-learn's radius search (largest distance first)."""
    from sklearn.neighbors import NearestNeighbors

    rows_t, rows_c = np.flatnonzero(treated), np.flatnonzero(~treated)
    tree = NearestNeighbors().fit(distance[rows_c, None])
    _, neighbours = tree.radius_neighbors(distance[rows_t, None], radius=caliper, sort_results=True)
    used = np.zeros(len(rows_c), dtype=bool)
    out = np.full(len(rows_t), -1)
    for t in np.argsort(-distance[rows_t], kind="stable"):
        for j in neighbours[t]:
            if not used[j]:
                used[j] = True
                out[t] = rows_c[j]
                break
    return out


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def run(sizes=SIZES, seed: int = SEED, json_path: str | None = None, verbose: bool = True) -> dict:
    """Time every size; returns (and optionally writes) the numbers as a dict."""
    # Compile the numba kernels first so that no timing includes compilation.
    warm = synthetic_cohort(2_000, seed)
    matching.match_nearest(warm, ratio=1)
    results = {"machine": platform.machine(), "python": platform.python_version(), "seed": seed, "runs": []}
    for n in sizes:
        frame = synthetic_cohort(n, seed)
        covariates = [c for c in frame.columns if c not in ("patient_id", "group")]
        model, t_fit = _timed(matching.fit_propensity, frame, covariates)
        distance = model.logit.to_numpy()
        treated = model.treated.to_numpy()
        caliper = 0.2 * np.std(distance, ddof=1)
        mm, t_match = _timed(matching.match_on_distance, distance, treated, caliper=caliper)
        result, t_total = _timed(matching.match_nearest, frame, covariates, caliper_sd=0.2)
        run_info = {"n": n, "n_treated": int(treated.sum()), "pairs": int(result.summary["pairs"]),
                    "seconds_propensity_fit": t_fit, "seconds_matching": t_match, "seconds_match_nearest": t_total}
        if n <= 10_000:
            reference, t_ref = _timed(sklearn_greedy, distance, treated, caliper)
            run_info["seconds_sklearn_nn_greedy"] = t_ref
            run_info["sklearn_agreement"] = float(np.mean(reference == mm[:, 0]))
        results["runs"].append(run_info)
        if verbose:
            extra = (f"; sklearn NN greedy {run_info['seconds_sklearn_nn_greedy']:.3f} s "
                     f"(same pairs for {100 * run_info['sklearn_agreement']:.1f}% of treated)" if n <= 10_000 else "")
            print(f"n = {n:>9,}: PS fit {t_fit:.3f} s, matching {t_match:.3f} s, match_nearest {t_total:.3f} s, "
                  f"{run_info['pairs']:,} pairs{extra}", flush=True)
    if json_path:
        with open(json_path, "w") as handle:
            json.dump(results, handle, indent=2)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the timings to this JSON file")
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args()
    run(args.sizes, json_path=args.json)
