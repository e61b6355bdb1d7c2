"""`make bench`: measure what a reviewer and a user wait for; write benchmarks/results.json and print a table.

Every comparison is measured side by side in the same run, as the median of >= 3 repeats (the machine is
shared and noisy, so ratios matter more than absolute seconds). Sections:
  1. whole book, cold (fresh PyTensor/numba caches, empty execution cache) and warm (nothing changed);
  2. matching at 1e4/1e5/1e6 patients vs a scikit-learn nearest-neighbour reference at 1e4;
  3. the notebook-04 mediation model: compile, sampling and ESS/s for PyMC's default sampler (cores=1, 2) and nutpie;
  4. the simulation study: replicates per second on joblib and Dask with 1 and 2 workers (fast and Bayesian
     replicates), scaling efficiency and the estimated wall time of the full study on 32 workers.
Run one section with `python benchmarks/run.py --only matching` (book, matching, mediation, simulation,
analyze: the command line on 290 and 20,000 patients).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results.json"
REPEATS = 3


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform()}


def _build_book(build_dir: Path, env: dict) -> float:
    """`make book` without the set-up: parallel execution into the build's cache, then the HTML build."""
    start = time.perf_counter()
    subprocess.run([str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "_ext" / "execute_parallel.py"), "--cache",
                    str(build_dir / "_build" / ".jupyter_cache")], check=True, env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([str(ROOT / ".venv" / "bin" / "jupyter-book"), "build", str(ROOT), "--path-output", str(build_dir),
                    "-W", "-n", "--keep-going", "--quiet"], check=True, env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _notebook_times(build_dir: Path) -> dict[str, float]:
    """Per-notebook execution seconds from the jupyter-cache database of a build."""
    import sqlite3

    database = build_dir / "_build" / ".jupyter_cache" / "global.db"
    if not database.exists():
        return {}
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT uri, data FROM nbcache").fetchall()
    times = {}
    for uri, data in rows:
        info = json.loads(data) if isinstance(data, str) else {}
        if "execution_seconds" in info:
            times[Path(uri).name] = round(float(info["execution_seconds"]), 1)
    return times


def bench_book(repeats: int = REPEATS) -> dict:
    cold, warm, per_notebook = [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="dexmood-bench-") as tmp:
            tmp = Path(tmp)
            env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={tmp / 'pytensor'}",
                       NUMBA_CACHE_DIR=str(tmp / "numba"), MPLCONFIGDIR=str(tmp / "mpl"))
            # Derived caches (posteriors, simulation results) live in data/derived: move them away for a cold run.
            derived = ROOT / "data" / "derived"
            stash = tmp / "derived-stash"
            if derived.exists():
                shutil.move(str(derived), stash)
            try:
                cold.append(_build_book(tmp / "book", env))
                per_notebook.append(_notebook_times(tmp / "book"))
                warm.append(_build_book(tmp / "book", env))
            finally:
                if derived.exists():
                    shutil.rmtree(derived)
                if stash.exists():
                    shutil.move(str(stash), derived)
    notebooks = sorted({name for run in per_notebook for name in run})
    return {
        "book_cold_s": round(statistics.median(cold), 1),
        "book_warm_s": round(statistics.median(warm), 1),
        "book_cold_runs_s": [round(x, 1) for x in cold],
        "book_warm_runs_s": [round(x, 1) for x in warm],
        "per_notebook_cold_s": {nb: statistics.median([run.get(nb, float("nan")) for run in per_notebook])
                                for nb in notebooks},
    }


def bench_matching(repeats: int = REPEATS) -> dict:
    """Median over repeats; the speed-up compares the greedy matching step of both implementations on the
    same logit distances (the propensity fit is the same statsmodels call for both)."""
    import bench_matching

    runs = [bench_matching.run(verbose=False) for _ in range(repeats)]
    by_size: dict[int, dict[str, list[float]]] = {}
    for result in runs:
        for entry in result["runs"]:
            slot = by_size.setdefault(entry["n"], {})
            for key, value in entry.items():
                if key.startswith("seconds") or key == "sklearn_agreement":
                    slot.setdefault(key, []).append(value)
    detail = {str(n): {key: statistics.median(values) for key, values in slot.items()}
              for n, slot in sorted(by_size.items())}
    small = detail["10000"]
    return {"matching_1e6_s": round(detail["1000000"]["seconds_match_nearest"], 2),
            "matching_1e6_matching_step_s": round(detail["1000000"]["seconds_matching"], 3),
            "matching_speedup_vs_reference_1e4": round(small["seconds_sklearn_nn_greedy"]
                                                       / small["seconds_matching"], 1),
            "matching_speedup_vs_reference_1e4_whole_call": round(
                (small["seconds_propensity_fit"] + small["seconds_sklearn_nn_greedy"])
                / small["seconds_match_nearest"], 1),
            "matching_detail": detail}


def bench_mediation(repeats: int = REPEATS) -> dict:
    import bench_mediation

    detail = bench_mediation.run(repeats=repeats)
    to_result = bench_mediation.run_time_to_result(repeats=repeats)  # fresh process, warmed compile cache
    return {"mediation_ess_per_s_ratio_vs_default": detail["mediation_ess_per_s_ratio_vs_default"],
            "mediation_time_to_result_s": to_result["mediation_time_to_result_s"],
            "mediation_time_to_result_nutpie_s": to_result["mediation_time_to_result_nutpie_s"],
            "mediation_time_to_result_pymc_default_s": to_result["mediation_time_to_result_pymc_default_s"],
            "mediation_time_to_result_detail": to_result,
            "mediation_detail": detail}


def bench_simulation(repeats: int = REPEATS) -> dict:
    import bench_simulation

    detail = bench_simulation.run(repeats=repeats)
    return {"simulation_replicates_per_s_2_workers": detail["fast_replicates_per_s"]["local_2w"],
            "study_dask_2w_speedup": detail["study_dask_2w_speedup"],
            "study_dask_2w_bayes_speedup": detail["study_dask_2w_bayes_speedup"],
            "study_32_workers_estimate_s": detail["estimate_32_workers"]["total_s"],
            "simulation_detail": detail}


def bench_analyze(repeats: int = REPEATS) -> dict:
    import bench_analyze

    return bench_analyze.bench_analyze(repeats=repeats)


SECTIONS = {"matching": bench_matching, "mediation": bench_mediation, "simulation": bench_simulation,
            "analyze": bench_analyze, "book": bench_book}


def print_table(results: dict) -> None:
    rows = [(key, value) for key, value in results.items() if isinstance(value, int | float)]
    width = max(len(k) for k, _ in rows) if rows else 10
    print(f"{'measure'.ljust(width)}  value")
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    for key in ("per_notebook_cold_s",):
        if key in results:
            print("\nper-notebook cold execution (s):")
            for name, seconds in results[key].items():
                print(f"  {name.ljust(32)} {seconds}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(SECTIONS), action="append")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args(argv)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() and args.only else {}
    results["machine"] = machine()
    for name in args.only or list(SECTIONS):
        print(f"== {name} ==", flush=True)
        results.update(SECTIONS[name](repeats=args.repeats))
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
