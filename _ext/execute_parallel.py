"""Execute the book's notebooks on every core before `jupyter-book build`.

Jupyter Book executes notebooks one after another; on a 2-core machine most of a cold build is one core
waiting for another notebook's sampler. This script fills the same jupyter-cache that the build reads
(`_build/.jupyter_cache`, execution mode "cache"), longest notebook first, so the build then only renders.
A notebook whose code is unchanged is a cache hit and is not re-executed. A failing notebook fails this step.
Usage: python _ext/execute_parallel.py [--workers N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml
from jupyter_cache import get_cache
from jupyter_cache.cache.main import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "_build" / ".jupyter_cache"


def book_notebooks() -> list[Path]:
    """Notebooks listed in `_toc.yml`, in book order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [entry["file"] for entry in toc.get("chapters", [])]
    return [ROOT / f"{name}.ipynb" for name in files if (ROOT / f"{name}.ipynb").exists()]


def _execute(path: str, timeout: int) -> tuple[str, object, float, str | None]:
    notebook = nbformat.read(path, as_version=4)
    result = single_nb_execution(notebook, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False,
                                 meta_override=True)
    return path, notebook, result.time, (result.exc_string if result.err is not None else None)


#: Cold execution seconds measured on the 2-core reference machine: the schedule when the cache has no history.
MEASURED_COLD_SECONDS = {"08_validation": 80, "04_mediation": 79, "05_sensitivity": 60, "06_case_report": 21,
                         "02_matching": 8, "09_reproduce": 7, "03_effects": 6, "07_trial": 6, "01_cohort": 4}


def expected_seconds(cache, path: Path) -> float:
    """Last known execution time of this notebook (any version), to schedule the longest first."""
    times = [record.data.get("execution_seconds", 0.0) for record in cache.list_cache_records()
             if record.uri == str(path)]
    return max(times) if times else MEASURED_COLD_SECONDS.get(path.stem, 60.0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=int, default=1200)
    parser.add_argument("--cache", default=str(CACHE), help="jupyter-cache folder the build will read")
    args = parser.parse_args(argv)

    cache = get_cache(args.cache)
    todo = []
    for path in book_notebooks():
        notebook = nbformat.read(path, as_version=4)
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            cache.add_nb_to_project(str(path))
            todo.append(path)
    if not todo:
        print("all notebooks are cached; nothing to execute")
        return 0
    todo.sort(key=lambda p: expected_seconds(cache, p), reverse=True)
    print(f"executing {len(todo)} notebook(s) with {args.workers} worker(s): {', '.join(p.stem for p in todo)}",
          flush=True)
    start = time.perf_counter()
    failed = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(_execute, str(path), args.timeout) for path in todo]
        for future in as_completed(futures):
            path, notebook, seconds, error = future.result()
            name = Path(path).name
            if error:
                failed.append(name)
                print(f"FAILED {name} after {seconds:.1f} s:\n{error}", file=sys.stderr, flush=True)
                continue
            cache.cache_notebook_bundle(CacheBundleIn(notebook, path, data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            print(f"  {name}: {seconds:.1f} s", flush=True)
    print(f"executed in {time.perf_counter() - start:.1f} s wall time")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
