"""A build never lies (issue 14, points 3 and 7): `make book` builds the right book or fails, whatever
state `_build/` is in.

One sequence, run once per session on a copy of the checkout (so the book that the other tests in
`tests/book` check is not touched), as a new user would:
1. `make book`, interrupted (SIGINT to the process group, as Ctrl-C) once Sphinx is reading the pages;
2. `make book COHORT=their_cohort.csv` on a small cohort drawn at test time by the second generator (never
   committed; it has no `satisfaction` column): every chapter renders, every chapter that analyses the cohort
   names the file, a box says that satisfaction is not in the data;
3. `make book` (switch back to the simulated cohort): nothing of the user's file is left on any page;
4. `make book` again (nothing changed): no notebook is executed again, and the pages are still complete.
After every successful build, every glued value on every page is present and not blank.

Slow by nature: step 2 and 3 each execute every notebook (measured on 2 cores: see the report in the
commit); the copy reuses the checkout's execution cache and derived data, so step 1 only renders.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
import yaml

from dexmood import paths
from dexmood.settings import SETTINGS

ROOT = paths.PROJECT_ROOT
sys.path.insert(0, str(ROOT / "tests"))
from other_generator import OtherDesign, generate, write  # noqa: E402

GLUE_ROLE = re.compile(r"\{glue(?::text)?\}`([^`]+)`")
PASTED = re.compile(r'<span class="pasted-text">(.*?)</span>', re.DOTALL)
TAG = re.compile(r"<[^>]+>")
#: The moment to interrupt step 1: Sphinx has started reading the pages (its environment is being made).
INTERRUPT_AT = re.compile(r"reading sources")
ABSENT_WORDS = ("not in the data", "absent", "not available", "no column", "does not contain", "missing")


@dataclass
class Build:
    name: str
    returncode: int
    output: str
    seconds: float
    pages: dict[str, str] = field(default_factory=dict)  # page -> HTML (when the build succeeded)


def _copy_checkout(dest: Path) -> Path:
    """The tracked files (symlinks kept), the whole data folder (warm derived caches) and the execution
    cache of the last `make book`, plus the shared virtual environment."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source, target = ROOT / name, dest / name
        if not source.exists() and not source.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        elif source.is_file():
            shutil.copy2(source, target)
    shutil.copytree(ROOT / "data", dest / "data", dirs_exist_ok=True, symlinks=True,
                    ignore=shutil.ignore_patterns("private", "__pycache__"))
    for name in (".jupyter_cache", ".cohort-source"):
        source = ROOT / "_build" / name
        if source.is_dir():
            shutil.copytree(source, dest / "_build" / name)
        elif source.is_file():
            (dest / "_build").mkdir(exist_ok=True)
            shutil.copy2(source, dest / "_build" / name)
    os.symlink((ROOT / ".venv").resolve(), dest / ".venv")
    return dest


def _env(copy: Path, home: Path) -> dict:
    drop = ("DEXMOOD_COHORT", "DEXMOOD_CACHE_DIR", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "COHORT")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = str(copy / "src")  # the kernels import the copy's package
    env["XDG_CACHE_HOME"] = str(home / "cache")  # a user's cohort caches (platformdirs) stay in the test
    return env


def _pages(html: Path) -> dict[str, str]:
    return {str(p.relative_to(html).with_suffix("")): p.read_text(encoding="utf-8") for p in html.rglob("*.html")
            if "_static" not in p.parts and "_sources" not in p.parts}


def make_book(copy: Path, env: dict, name: str, cohort: Path | None = None, interrupt: bool = False,
              timeout: float = 3600) -> Build:
    command = ["make", "--no-print-directory", "book"] + ([f"COHORT={cohort}"] if cohort else [])
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    lines: list[str] = []
    seen = threading.Event()

    def read():
        for line in process.stdout:
            lines.append(line)
            if INTERRUPT_AT.search(line):
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if interrupt:
        seen.wait(timeout)
        time.sleep(1)  # inside Sphinx's reading phase (rendering every page takes ~20 s)
        try:
            os.killpg(process.pid, signal.SIGINT)
        except ProcessLookupError:  # the build ended first: the test then sees exit 0 and says so
            pass
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    reader.join(10)
    build = Build(name, process.returncode, "".join(lines), time.perf_counter() - start)
    html = copy / "_build" / "html"
    if build.returncode == 0 and html.is_dir():
        build.pages = _pages(html)
    print(f"\n{name}: exit {build.returncode} in {build.seconds:.0f} s", file=sys.stderr)
    return build


def _source_glue_counts(copy: Path) -> dict[str, int]:
    """Page -> number of `{glue:text}` references its text makes (intro and every toc notebook)."""
    toc = yaml.safe_load((copy / "_toc.yml").read_text())
    counts = {toc["root"]: len(GLUE_ROLE.findall((copy / f"{toc['root']}.md").read_text()))}
    for entry in toc.get("chapters", []):
        path = copy / f"{entry['file']}.ipynb"
        if path.exists():
            text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
            counts[entry["file"]] = len(GLUE_ROLE.findall(text))
    return counts


def _cohort_chapters(copy: Path) -> list[str]:
    """Chapters that analyse the cohort: they show the cohort's data banner (`book.data_banner(cohort)`)."""
    toc = yaml.safe_load((copy / "_toc.yml").read_text())
    found = []
    for entry in toc.get("chapters", []):
        path = copy / f"{entry['file']}.ipynb"
        if path.exists() and "book.data_banner(" in path.read_text():
            found.append(entry["file"])
    return found


@pytest.fixture(scope="session")
def sequence(tmp_path_factory) -> dict:
    if shutil.which("make") is None or not (ROOT / ".git").exists():
        pytest.skip("needs make and a git checkout")
    work = tmp_path_factory.mktemp("build-states")
    copy = _copy_checkout(work / "book")
    env = _env(copy, work)
    dry = subprocess.run(["make", "-n", "book"], cwd=copy, env=env, capture_output=True, text=True)
    if "pip install" in dry.stdout:
        pytest.fail("the environment is not set up for this checkout (make would reinstall .venv): "
                    "run `make setup` first (make test does)")
    their_file = work / "their_cohort.csv"
    write(generate(OtherDesign(n=160), seed=SETTINGS.seed), their_file)
    builds = {
        "interrupted": make_book(copy, env, "1 make book, interrupted", interrupt=True),
        "their_cohort": make_book(copy, env, "2 make book COHORT=their_cohort.csv", cohort=their_file),
        "switched_back": make_book(copy, env, "3 make book (switch back)"),
        "again": make_book(copy, env, "4 make book (again, nothing changed)"),
    }
    return {"copy": copy, "their_file": their_file, "builds": builds,
            "glue_counts": _source_glue_counts(copy), "cohort_chapters": _cohort_chapters(copy)}


def _tail(build: Build, lines: int = 40) -> str:
    return "\n".join(build.output.strip().splitlines()[-lines:])


def _glue_problems(build: Build, counts: dict[str, int]) -> list[str]:
    problems = []
    for page, expected in counts.items():
        html = build.pages.get(page)
        if html is None:
            problems.append(f"{page}: not built")
            continue
        values = [TAG.sub("", v).strip() for v in PASTED.findall(html)]
        if len(values) < expected:
            problems.append(f"{page}: {expected - len(values)} of {expected} glued values missing")
        blank = sum(1 for v in values if not v)
        if blank:
            problems.append(f"{page}: {blank} glued values blank")
    return problems


@pytest.mark.slow
def test_interrupted_build_did_not_claim_success(sequence):
    assert sequence["builds"]["interrupted"].returncode != 0


@pytest.mark.slow
@pytest.mark.parametrize("step", ["their_cohort", "switched_back", "again"])
def test_every_build_after_the_interruption_succeeds_with_every_glued_value(sequence, step):
    build = sequence["builds"][step]
    assert build.returncode == 0, f"{build.name} failed:\n{_tail(build)}"
    problems = _glue_problems(build, sequence["glue_counts"])
    assert not problems, f"{build.name}: " + "; ".join(problems)
    intro = build.pages["intro"]
    assert "<table" in intro, f"{build.name}: the landing page has no findings table"


@pytest.mark.slow
def test_their_cohort_every_chapter_renders_and_names_the_file(sequence):
    build = sequence["builds"]["their_cohort"]
    assert build.returncode == 0, _tail(build)
    name = sequence["their_file"].name
    for page in sequence["glue_counts"]:
        html = build.pages.get(page, "")
        assert "<h1" in html, f"{page} did not render"
        assert "Traceback" not in html, f"{page} shows a traceback"
    assert sequence["cohort_chapters"], "no chapter shows the data banner"
    for page in sequence["cohort_chapters"] + ["intro"]:
        assert name in build.pages[page], f"{page} does not say that it analyses {name}"
        assert "Data: SIMULATED" not in build.pages[page], f"{page} still says the data are simulated"


@pytest.mark.slow
def test_their_cohort_a_box_says_satisfaction_is_not_in_the_data(sequence):
    build = sequence["builds"]["their_cohort"]
    assert build.returncode == 0, _tail(build)
    boxes = []
    for html in build.pages.values():
        for match in re.finditer(r'<div class="admonition', html):
            end = html.find("</div>", match.start())
            boxes.append(TAG.sub(" ", html[match.start(): end if end > 0 else None]))
    assert any("satisfaction" in box.lower() and any(w in box.lower() for w in ABSENT_WORDS) for box in boxes), (
        "no box on any page says that the satisfaction column is not in the data")


@pytest.mark.slow
def test_switching_back_leaves_nothing_of_their_cohort(sequence):
    for step in ("switched_back", "again"):
        build = sequence["builds"][step]
        assert build.returncode == 0, _tail(build)
        stale = [page for page, html in build.pages.items() if sequence["their_file"].name in html]
        assert not stale, f"{build.name}: pages still mention the user's file: {stale}"
        for page in sequence["cohort_chapters"]:
            assert "SIMULATED" in build.pages[page], f"{build.name}: {page} does not say the data are simulated"


@pytest.mark.slow
def test_an_unchanged_rebuild_executes_nothing(sequence):
    build = sequence["builds"]["again"]
    assert "all notebooks are cached" in build.output, _tail(build)


# --------------------------------------------------------------------------------------------------
# The two rules of `_ext/execute_parallel.py` that the sequence relies on, checked fast (no build)
# --------------------------------------------------------------------------------------------------

def _execute_parallel():
    import importlib.util

    spec = importlib.util.spec_from_file_location("execute_parallel", ROOT / "_ext" / "execute_parallel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_any_change_of_inputs_discards_every_stored_state(tmp_path, monkeypatch):
    ep = _execute_parallel()
    build = tmp_path / "_build"
    monkeypatch.setattr(ep, "BUILD", build)
    monkeypatch.setattr(ep, "FINGERPRINT", build / ".cohort-source")

    def stored_state():
        for name in ep.STATE:
            (build / name).mkdir(parents=True, exist_ok=True)

    their = tmp_path / "their.csv"
    their.write_text("patient_id\n1\n")
    stored_state()
    assert set(ep.prepare_build_dir("")) == set(ep.STATE)  # no fingerprint yet: nothing is trusted
    stored_state()
    assert ep.prepare_build_dir("") == []  # same inputs: the caches are kept
    assert set(ep.prepare_build_dir(str(their))) == set(ep.STATE)  # switch cohort: Sphinx env included
    stored_state()
    their.write_text("patient_id\n2\n")  # same path, other content
    assert set(ep.prepare_build_dir(str(their))) == set(ep.STATE)
    stored_state()
    assert set(ep.prepare_build_dir("")) == set(ep.STATE)  # switch back
    monkeypatch.setattr(ep, "fingerprint", lambda cohort=None: {"package_sha256": "edited"})
    stored_state()
    assert set(ep.prepare_build_dir("")) == set(ep.STATE)  # the package changed


def test_glue_check_finds_blank_and_missing_values(tmp_path):
    ep = _execute_parallel()
    pages = ep._source_pages()
    html = tmp_path / "html"
    for page, source in pages.items():
        n = len(ep.GLUE_ROLE.findall(source))
        path = html / f"{page}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("<table></table>" + '<span class="pasted-text">1.0</span>' * n)
    assert ep.glue_problems(html) == []
    root_page = next(iter(pages))
    page = html / f"{root_page}.html"
    page.write_text(page.read_text().replace(">1.0<", "><", 1))  # the landing page with a blank number
    assert any("blank" in p for p in ep.glue_problems(html))
    page.write_text("<table></table>")  # every glued value missing (a key that was never produced)
    assert any("missing" in p for p in ep.glue_problems(html))
