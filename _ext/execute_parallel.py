"""Execute the book's notebooks on every core before `jupyter-book build`.

Jupyter Book executes notebooks one after another; on a 2-core machine most of a cold build is one core
waiting for another notebook's sampler. This script fills the same jupyter-cache that the build reads
(`_build/.jupyter_cache`, execution mode "cache"), longest notebook first, so the build then only renders.
A notebook whose code is unchanged is a cache hit and is not re-executed. A failing notebook fails this step.

A build never lies (issue 14, point 7). jupyter-cache keys an execution by the notebook's code only, not by
the data it reads nor by the package it calls, so before executing this script compares a fingerprint of
everything else an output depends on (the cohort file named by `DEXMOOD_COHORT`: path and content; the
package source; the package data; the lock file) with the one stored in `_build/.cohort-source`. When it
differs, or is missing, every execution and every Sphinx state is discarded (`.jupyter_cache`,
`jupyter_execute`, `.doctrees`, `html`). Unreadable cache entries (an execution interrupted while being
stored) are removed. The Makefile then renders with a fresh Sphinx environment (`--all`), so warnings such
as a missing glue key are raised on every build, not only on the first one, and `--check-html` refuses a
built page whose glued values are blank or missing.

Usage: python _ext/execute_parallel.py [--workers N]      # prepare _build/ and execute
       python _ext/execute_parallel.py --prepare          # only discard stale state (make's _build/.cohort-source)
       python _ext/execute_parallel.py --check-html [DIR] # after the build: every glued value is there
       python _ext/execute_parallel.py --discard-html     # after a failed build: move html/ aside
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
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
BUILD = ROOT / "_build"
CACHE = BUILD / ".jupyter_cache"
HTML = BUILD / "html"
#: The fingerprint of the inputs the cached executions were made from (name kept from the first Makefile).
FINGERPRINT = BUILD / ".cohort-source"
#: Everything in _build/ that was derived from a previous state and that a build would otherwise trust.
STATE = (".jupyter_cache", "jupyter_execute", ".doctrees", "html")
COHORT_ENV = "DEXMOOD_COHORT"
GLUE_ROLE = re.compile(r"\{glue(?::text)?\}`([^`]+)`")
GLUE_DIRECTIVE = re.compile(r"^\s*(?:```|:::)\{glue(?::figure|:math|:)?\}\s*(\S+)", re.MULTILINE)
PASTED_TEXT = re.compile(r'<span class="pasted-text">(.*?)</span>', re.DOTALL)


def book_notebooks() -> list[Path]:
    """Notebooks listed in `_toc.yml`, in book order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [entry["file"] for entry in toc.get("chapters", [])]
    return [ROOT / f"{name}.ipynb" for name in files if (ROOT / f"{name}.ipynb").exists()]


def _digest_files(digest, files) -> None:
    for path in sorted(files):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())


def fingerprint(cohort: str | None = None) -> dict:
    """What the notebooks' outputs depend on besides their own code (see the module docstring)."""
    cohort = os.environ.get(COHORT_ENV, "") if cohort is None else cohort
    state: dict = {"cohort": "", "cohort_sha256": ""}
    if cohort.strip():
        path = Path(cohort).resolve()
        state["cohort"] = str(path)
        state["cohort_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    package = hashlib.sha256()
    _digest_files(package, [p for p in (ROOT / "src" / "dexmood").rglob("*.py") if "__pycache__" not in p.parts])
    state["package_sha256"] = package.hexdigest()
    data = hashlib.sha256()
    _digest_files(data, [p for p in (ROOT / "data").rglob("*") if p.is_file()
                         and not {"derived", "private", "__pycache__"} & set(p.relative_to(ROOT).parts)])
    _digest_files(data, [ROOT / "requirements.lock"])
    state["data_and_lock_sha256"] = data.hexdigest()
    return state


def prepare_build_dir(cohort: str | None = None) -> list[str]:
    """Discard every stored state of `_build/` made from other inputs; return what was removed."""
    current = fingerprint(cohort)
    try:
        stored = json.loads(FINGERPRINT.read_text())
    except (OSError, ValueError):
        stored = None
    removed = []
    if stored != current:
        for name in STATE:
            if (BUILD / name).exists():
                shutil.rmtree(BUILD / name)
                removed.append(name)
        BUILD.mkdir(parents=True, exist_ok=True)
        FINGERPRINT.write_text(json.dumps(current, indent=1) + "\n")
    return removed


def drop_unreadable_cache_entries(cache) -> int:
    """Remove cache records whose stored notebook cannot be read (an interrupted write)."""
    dropped = 0
    for record in cache.list_cache_records():
        try:
            cache.get_cache_bundle(record.pk)
        except Exception:  # noqa: BLE001  (any failure to load means the entry cannot be trusted)
            cache.remove_cache(record.pk)
            dropped += 1
    return dropped


def _source_pages() -> dict[str, str]:
    """Page name (as in the HTML) -> the Markdown text a reader sees, for intro and every toc notebook."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = {toc["root"]: (ROOT / f"{toc['root']}.md").read_text()}
    for entry in toc.get("chapters", []):
        name = entry["file"]
        if (ROOT / f"{name}.ipynb").exists():
            notebook = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
            pages[name] = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
        elif (ROOT / f"{name}.md").exists():
            pages[name] = (ROOT / f"{name}.md").read_text()
    return pages


def glue_problems(html_dir: Path = HTML) -> list[str]:
    """Every glued value a page's text refers to must be in the built page and not blank.

    A missing key renders as nothing at all, so each page's count of pasted values is compared with the
    count of `{glue:text}` references in its source; a blank value is reported by its position.
    """
    problems = []
    for page, source in _source_pages().items():
        html_file = html_dir / f"{page}.html"
        if not html_file.exists():
            problems.append(f"{page}: no page {html_file.name} was built")
            continue
        html = html_file.read_text(encoding="utf-8")
        expected = len(GLUE_ROLE.findall(source))
        values = [re.sub(r"<[^>]+>", "", v).strip() for v in PASTED_TEXT.findall(html)]
        blank = [i for i, v in enumerate(values) if not v]
        if len(values) < expected:
            problems.append(f"{page}: {expected - len(values)} of {expected} glued values are missing")
        if blank:
            problems.append(f"{page}: {len(blank)} glued value(s) are blank (pasted values no. "
                            f"{', '.join(str(i + 1) for i in blank[:10])})")
        directives = GLUE_DIRECTIVE.findall(source)
        if directives and "<table" not in html and "<img" not in html:
            problems.append(f"{page}: the glued block(s) {', '.join(directives)} (a table or figure) are not in the page")
    return problems


def discard_html() -> None:
    """After a failed build: nothing half-built stays where the book is published."""
    failed = BUILD / "html-failed"
    if failed.exists():
        shutil.rmtree(failed)
    if HTML.exists():
        HTML.rename(failed)
        print(f"the build failed: its pages were moved to {failed.relative_to(ROOT)}", file=sys.stderr)


def _execute(path: str, timeout: int) -> tuple[str, object, float, str | None]:
    notebook = nbformat.read(path, as_version=4)
    result = single_nb_execution(notebook, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False,
                                 meta_override=True)
    return path, notebook, result.time, (result.exc_string if result.err is not None else None)


#: Cold execution seconds measured on the 2-core reference machine: the schedule when the cache has no history.
MEASURED_COLD_SECONDS = {"08_validation": 600, "04_mediation": 90, "05_sensitivity": 120, "06_case_report": 80,
                         "07_trial": 40, "09_reproduce": 30, "01_cohort": 60, "03b_published_numbers": 15,
                         "02_matching": 14, "03_effects": 12}


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
    parser.add_argument("--check-html", nargs="?", const=str(HTML), metavar="DIR",
                        help="after a build: fail if a glued value of any page is missing or blank")
    parser.add_argument("--prepare", action="store_true",
                        help="only compare the inputs' fingerprint and discard stale _build/ state")
    parser.add_argument("--discard-html", action="store_true",
                        help="after a failed build: move _build/html aside to _build/html-failed")
    args = parser.parse_args(argv)

    if args.discard_html:
        discard_html()
        return 0
    if args.check_html:
        problems = glue_problems(Path(args.check_html))
        for problem in problems:
            print(f"glue check: {problem}", file=sys.stderr)
        if problems:
            discard_html()
            return 1
        print("glue check: every glued value of every page is present and not blank")
        return 0

    removed = prepare_build_dir()
    if removed:
        print(f"inputs changed since the last build (cohort, package or data): removed _build/{{{','.join(removed)}}}")
    if args.prepare:
        return 0
    cache = get_cache(args.cache)
    dropped = drop_unreadable_cache_entries(cache)
    if dropped:
        print(f"removed {dropped} unreadable execution cache entr{'y' if dropped == 1 else 'ies'}")
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
