"""What a user waits for: `python -m dexmood analyze` on a 290-patient and a 20,000-patient cohort file.

Each run is a fresh process with a fresh `--out` (so the user-cohort cache under OUT/cache starts empty and
the mediation model is compiled and sampled), after set-up (the PyTensor compile cache warmed by `make`).
Targets (issue 14): analyze_290_s <= 20 s, analyze_20000_s <= 180 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dexmood import cohort

SIZES = {"290": {}, "20000": {"n_dex": 7000, "n_la": 13000}}


def _time_analyze(path: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dexmood", "analyze", "--cohort", str(path), "--out", str(out),
                    "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def bench_analyze(repeats: int = 3, sizes=("290", "20000")) -> dict:
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="dexmood-analyze-") as tmp:
        tmp = Path(tmp)
        for size in sizes:
            design = cohort.with_design(**SIZES[size]) if SIZES[size] else None
            path = cohort.write_csv(cohort.simulate(design, seed=11).data, tmp / f"cohort_{size}.csv")
            times = [_time_analyze(path, tmp / f"out_{size}_{i}") for i in range(repeats if size == "290" else 1)]
            results[f"analyze_{size}_s"] = round(statistics.median(times), 1)
            results[f"analyze_{size}_runs_s"] = [round(t, 1) for t in times]
    return results


if __name__ == "__main__":
    print(bench_analyze())
