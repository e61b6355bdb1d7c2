"""Every contract-valid cohort runs (issue 14, points 2–4), proven from the outside.

Cohorts of many shapes are drawn by a second, deliberately different generator (`tests/other_generator.py`,
known truth, no satisfaction column, extra numeric and categorical baseline covariates) and analysed by
the command line exactly as a user would: `python -m dexmood analyze --cohort FILE --out DIR`.
For every shape: the stated exit code, no traceback, every section of `results.json`, and each ATT within
3 standard errors of the generator's truth. The analyses run in parallel (one process per core, or
`DEXMOOD_TEST_WORKERS`) once per session, for the selected shapes only; each test then reads its shape's run.
The 20,000-row shape is marked `slow` (deselect with `-m "not slow"`; `make test` runs it).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from other_generator import OPTIONAL, OtherDesign, generate, write

from dexmood import paths
from dexmood.settings import SETTINGS

SECTIONS = ("n", "matching", "effects", "effects_by_estimator", "mediation", "sensitivity")
OUTCOMES = ("gad7", "phq9", "nrs")
BASE = OtherDesign()


@dataclass(frozen=True)
class Shape:
    name: str
    design: OtherDesign
    #: 0, or 2 for a file the pipeline must refuse with a readable message.
    exit_code: int = 0
    #: A tiny cohort may also end with 3: the mediation fit failed its diagnostics (reported, the rest written).
    also_allowed: tuple[int, ...] = ()
    #: Words the one-paragraph error must contain (exit 2 shapes).
    message: tuple[str, ...] = ()
    #: Too few patients for every method: a method may report that it cannot run instead of a number.
    small: bool = False
    #: Check that most of the smaller arm is matched (not where the missing-value rule may drop rows).
    check_pairs: bool = True
    slow: bool = False
    notes: tuple[str, ...] = field(default=())


#: Each shape checks three ATTs against the truth: about 36 checks. At 3 SE each, one false alarm in the
#: family has a chance of about 9% even when every estimator is right; the Bonferroni limit for a family-wise
#: 5% is 3.45 SE, which is what a check here has to fail to mean a bug (measured: all within 3.2 SE).
Z_LIMIT = 3.45

SHAPES = [
    Shape("other-generator", BASE),
    *[Shape(f"no-{column}", BASE.with_(columns=tuple(c for c in BASE.columns if c != column)))
      for column in OPTIONAL],
    Shape("all-optional-absent", BASE.with_(columns=())),
    Shape("extra-numeric-only", BASE.with_(columns=OPTIONAL + ("crp_baseline",))),
    Shape("extra-categorical-rare-levels", BASE.with_(columns=OPTIONAL + ("smoking_baseline",),
                                                      rare_smoking={"cigar": 3, "vape": 2, "snus": 1})),
    Shape("free-text-covariate", BASE.with_(free_text_levels=260), exit_code=2,
          message=("referral_note_baseline",)),
    Shape("missing-optional-covariates", BASE.with_(missing={"bmi": 0.2, "pain_duration_months": 0.1,
                                                             "pain_diagnosis": 0.1, "crp_baseline": 0.15,
                                                             "smoking_baseline": 0.1}), check_pairs=False),
    Shape("unequal-groups-3-to-1", BASE.with_(n=400, dex_share=0.25)),
    # Few covariates, so that matching 40 patients is possible at all (with all of them the propensity
    # model separates the groups); what cannot run on ~10 pairs must say so.
    Shape("small-cohort-40", BASE.with_(n=40, columns=("bmi", "pain_duration_months", "crp_baseline")), small=True,
          also_allowed=(3,),
          check_pairs=False),
    Shape("numeric-ids", BASE.with_(ids="numeric")),
    Shape("large-20000", BASE.with_(n=20000), slow=True),
]


def _seed(shape: Shape) -> int:
    return SETTINGS.seed + [s.name for s in SHAPES].index(shape.name)


NEW_SOURCE_FILES = pytest.StashKey[list]()


@dataclass
class ShapeRun:
    shape: Shape
    csv: Path
    truth: dict
    rows: int
    analyze: subprocess.CompletedProcess
    validate: subprocess.CompletedProcess
    results: dict | None
    seconds: float


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DEXMOOD_COHORT", "DEXMOOD_CACHE_DIR")}
    env["PYTHONPATH"] = str(paths.PROJECT_ROOT / "src")  # this checkout, as the rest of the tests
    # The default cache rule applies (a user's cohort: the platformdirs cache folder, here inside the test).
    env["XDG_CACHE_HOME"] = str(home / "cache")
    return env


def _source_tree_files() -> set[str]:
    """Files under the checkout's data/ and notebooks/ (where a careless cache would write)."""
    return {str(p) for folder in (paths.DATA, paths.NOTEBOOKS) if folder.is_dir() for p in folder.rglob("*")
            if p.is_file()}


def run_shape(shape: Shape, folder: Path) -> ShapeRun:
    folder.mkdir(parents=True, exist_ok=True)
    drawn = generate(shape.design, seed=_seed(shape))
    csv = folder / f"{shape.name}.csv"
    write(drawn, csv)
    env = _env(folder)
    command = [sys.executable, "-m", "dexmood"]
    validated = subprocess.run([*command, "validate", "--cohort", str(csv)], env=env, cwd=folder,
                               capture_output=True, text=True, timeout=600)
    start = time.perf_counter()
    analysed = subprocess.run([*command, "analyze", "--cohort", str(csv), "--out", str(folder / "out")],
                              env=env, cwd=folder, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    results_file = folder / "out" / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else None
    return ShapeRun(shape, csv, drawn.truth, len(drawn.frame), analysed, validated, results, seconds)


@pytest.fixture(scope="session")
def shape_runs(request, tmp_path_factory) -> dict[str, ShapeRun]:
    """Run `analyze` on every selected shape once, in parallel (longest first)."""
    selected = {}
    for item in request.session.items:
        shape = getattr(item, "callspec", None) and item.callspec.params.get("shape")
        if isinstance(shape, Shape):
            selected[shape.name] = shape
    if not selected:  # e.g. only the source-tree test was selected: analyse the generator's default shape
        selected = {SHAPES[0].name: SHAPES[0]}
    order = sorted(selected.values(), key=lambda s: -s.design.n)
    root = tmp_path_factory.mktemp("shapes")
    workers = int(os.environ.get("DEXMOOD_TEST_WORKERS", os.cpu_count() or 1))
    before = _source_tree_files()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        runs = list(pool.map(lambda s: run_shape(s, root / s.name), order))
    request.config.stash[NEW_SOURCE_FILES] = sorted(_source_tree_files() - before)
    timings = ", ".join(f"{run.shape.name} {run.seconds:.0f} s" for run in runs)
    print(f"\nanalyze run times: {timings}", file=sys.stderr)
    return {run.shape.name: run for run in runs}


def _params(shapes):
    return [pytest.param(s, id=s.name, marks=[pytest.mark.slow] if s.slow else []) for s in shapes]


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@pytest.mark.parametrize("shape", _params(SHAPES))
def test_analyze_exits_as_stated_without_a_traceback(shape, shape_runs):
    run = shape_runs[shape.name]
    stderr = run.analyze.stderr
    assert "Traceback" not in stderr, f"{shape.name}: a traceback reached the user:\n{_tail(stderr)}"
    assert run.analyze.returncode in (shape.exit_code, *shape.also_allowed), (
        f"{shape.name}: exit {run.analyze.returncode}, expected {shape.exit_code}\n{_tail(stderr)}")
    if run.analyze.returncode == 3:
        assert run.results is not None and run.results["failed_diagnostics"], "exit 3 without the report"
    if shape.exit_code == 2:
        message = stderr.strip()
        for word in shape.message:
            assert word in message, f"{shape.name}: the error does not name {word!r}: {message}"
        assert "error" in message.lower()
        assert run.results is None, "a refused file must not leave a results.json behind"


@pytest.mark.parametrize("shape", _params(SHAPES))
def test_validate_and_analyze_agree_on_what_is_valid(shape, shape_runs):
    """A file `validate` accepts must analyse; a file `analyze` refuses as bad input, `validate` refuses."""
    run = shape_runs[shape.name]
    assert "Traceback" not in run.validate.stderr, _tail(run.validate.stderr)
    assert run.validate.returncode == shape.exit_code, (
        f"{shape.name}: validate exits {run.validate.returncode}, analyze should exit {shape.exit_code}\n"
        f"{_tail(run.validate.stdout + run.validate.stderr)}")


def _finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _status(entry) -> str:
    return entry.get("status", "") if isinstance(entry, dict) else ""


@pytest.mark.parametrize("shape", _params([s for s in SHAPES if s.exit_code == 0]))
def test_results_have_every_section_and_the_truth_within_limit(shape, shape_runs):
    run = shape_runs[shape.name]
    assert run.results is not None, f"{shape.name}: no results.json\n{_tail(run.analyze.stderr)}"
    results = run.results
    failed = results.get("failed_diagnostics", [])
    missing = [s for s in SECTIONS if s not in results and s not in failed]
    assert not missing, f"{shape.name}: sections missing from results.json: {missing}"
    for section in ("matching", "mediation", "sensitivity"):
        if section == "mediation" and "mediation" in results.get("failed_diagnostics", []):
            assert any(note.startswith("mediation:") for note in results["notes"])
            continue
        assert results[section], f"{shape.name}: section {section!r} is empty"
    n = results["n"]
    assert 0.5 * run.rows <= n["DEX"] + n["LA"] <= run.rows, f"{shape.name}: n = {n}, file has {run.rows} rows"
    if shape.check_pairs and "pairs" in results["matching"]:
        smaller_arm = min(run.truth["n_dex"], run.truth["n_la"])
        assert results["matching"]["pairs"] >= 0.6 * smaller_arm, (
            f"{shape.name}: only {results['matching']['pairs']} pairs of {smaller_arm} possible")
    effects = results["effects"]
    for outcome in OUTCOMES:
        entry = effects.get(outcome)
        assert isinstance(entry, dict), f"{shape.name}: effects[{outcome!r}] missing"
        if shape.small and "att" not in entry:
            assert _status(entry).strip(), f"{shape.name}: {outcome} has neither an ATT nor a reason"
            continue
        att, se, ci95 = entry.get("att"), entry.get("se"), entry.get("ci95")
        if shape.small and not _finite(se):  # a point estimate without an interval must say why
            assert entry.get("note", "").strip(), f"{shape.name}: {outcome}: no SE and no note: {entry}"
            continue
        assert _finite(att) and _finite(se) and se > 0, f"{shape.name}: {outcome}: att={att}, se={se}"
        assert ci95 and len(ci95) == 2 and ci95[0] <= att <= ci95[1], f"{shape.name}: {outcome}: ci95={ci95}"
        truth = run.truth["att"][outcome]
        assert abs(att - truth) <= Z_LIMIT * se, (
            f"{shape.name}: {outcome} ATT {att:.3f} (SE {se:.3f}) is more than {Z_LIMIT} SE from the truth "
            f"{truth:.3f}")
    # The generator never writes satisfaction: reported as not in the data, or left out with a note.
    if "satisfaction" in effects:
        assert "not in the data" in _status(effects["satisfaction"]), effects["satisfaction"]
    else:
        assert "satisfaction" in json.dumps(results), "satisfaction is absent without a note saying so"


def test_a_users_cohort_leaves_nothing_in_the_source_tree(shape_runs, request):
    """Issue 14, point 5: caches of a user's cohort go to the user cache folder (or under --out)."""
    new = request.config.stash[NEW_SOURCE_FILES]
    assert not new, f"analysing users' files wrote into the checkout: {new[:5]}"
