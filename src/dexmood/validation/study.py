"""The simulation study of notebook 08: every scenario, the bootstrap AIPW and the Bayesian replicates,
each cached through `dexmood.cache` (key = inputs + code + package versions), and the ``study`` output file.

A study run elsewhere (``python -m dexmood study --out FILE.csv``, e.g. on a Dask cluster) writes its rows
to FILE.csv and its inputs and code key to FILE.json; `load_study_file` reads them back and refuses a file
made by other code. Notebook 08 reads such a file when ``DEXMOOD_STUDY`` names it (`study_for_book`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dexmood import cache
from dexmood.errors import DataContractError
from dexmood.settings import SETTINGS
from dexmood.validation import bayes, engines
from dexmood.validation.runner import run_replicates
from dexmood.validation.scenarios import RESULT_COLUMNS, SCENARIOS

#: Environment variable naming a ``study`` output file for notebook 08.
STUDY_ENV = "DEXMOOD_STUDY"
#: Modules whose source is part of every cache key of the study: the code that computes the replicate rows
#: (not the measures, figures or engines, which do not change them).
CODE_MODULES = ("dexmood.validation.scenarios", "dexmood.validation.kernels", "dexmood.validation.runner",
                "dexmood.validation.bayes", "dexmood.cohort", "dexmood.matching", "dexmood.mediation",
                "dexmood.diagnostics", "dexmood.settings")
#: Replicates per scenario (n = 5,000 costs ~25× a published-size replicate). 1,000 at n = 290 keeps every
#: coverage MCSE ≤ 0.01 down to a coverage of 0.89, as the verdict rule asks.
DEFAULT_REPLICATES = {"published": 1000, "published_conf0": 1000, "published_conf2": 1000, "null": 1000,
                      "null_conf2": 1000, "no_pain_to_mood": 1000, "no_pain_effect": 1000,
                      "published_n1000": 500, "published_n5000": 100}
#: Replicates with notebook 03's percentile-bootstrap AIPW interval (`SETTINGS.n_boot` draws each; costly).
DEFAULT_BOOTSTRAP_REPLICATES = {"published": 300, "published_conf2": 300}
#: Bayesian replicates of the published scenario (~2 s each here; too few for a conclusive coverage verdict,
#: see `measures.replicates_for_coverage_mcse`: run more on a cluster with the ``study`` command).
DEFAULT_BAYES_REPLICATES = 100


class StudyFileError(DataContractError):
    kind = "study file"
    contract = "the study file contract"


@dataclass
class StudyResult:
    replicates: pd.DataFrame
    bayes_diagnostics: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)

    @property
    def compute_seconds(self) -> float:
        return float(sum(self.seconds.values()))

    @property
    def failed_bayes_fits(self) -> int:
        return int((~self.bayes_diagnostics["passed"].astype(bool)).sum()) if len(self.bayes_diagnostics) else 0


def study_inputs(replicates: dict[str, int], seed: int, bootstrap: dict[str, int], bayes_scenario: str | None,
                 bayes_reps: int) -> dict:
    """Everything the study's numbers depend on besides the code (the cache key and the file's metadata)."""
    return {"replicates": dict(replicates), "seed": int(seed), "bootstrap": dict(bootstrap),
            "n_boot": SETTINGS.n_boot, "bayes_scenario": bayes_scenario, "bayes_reps": int(bayes_reps),
            "bayes_sampler": bayes.BAYES_SETTINGS, "diagnostics": SETTINGS.key()["diagnostics"],
            "designs": {key: SCENARIOS[key].to_dict() for key in {*replicates, *bootstrap}}}


def _timed(compute):
    def run():
        start = time.perf_counter()
        result = compute()
        return result, time.perf_counter() - start
    return run


def run_study(replicates: dict[str, int] | None = None, seed: int = SETTINGS.seed, n_jobs: int = 2, *,
              bootstrap: dict[str, int] | None = None, bayes_scenario: str | None = "published",
              bayes_reps: int = DEFAULT_BAYES_REPLICATES, engine: str = "local", client=None,
              use_cache: bool = True) -> StudyResult:
    """Every scenario of `replicates`, the bootstrap AIPW on the first replicates of `bootstrap`'s scenarios,
    and the Bayesian model on the first `bayes_reps` replicates of `bayes_scenario`; each part cached alone.

    All scenarios use the same seed, hence the same child streams: common random numbers, so differences
    between scenarios of the same n are not blurred by different draws (Morris et al. 2019, section 5.3).
    The engine is not part of the key: it does not change the numbers.
    """
    replicates = DEFAULT_REPLICATES if replicates is None else replicates
    bootstrap = DEFAULT_BOOTSTRAP_REPLICATES if bootstrap is None else bootstrap
    tables, seconds = [], {}
    for key, n_reps in replicates.items():
        table, seconds[key] = cache.load_or_compute(
            f"validation-{key}", {"kind": "fast", "scenario": SCENARIOS[key].to_dict(), "n_reps": n_reps,
                                  "seed": seed},
            _timed(lambda key=key, n_reps=n_reps: run_replicates(SCENARIOS[key], n_reps, seed, n_jobs,
                                                                 engine=engine, client=client)),
            modules=CODE_MODULES, enabled=use_cache, shared=True)
        tables.append(table)
    for key, n_reps in bootstrap.items():
        table, seconds[f"bootstrap_{key}"] = cache.load_or_compute(
            f"validation-bootstrap-{key}", {"kind": "bootstrap", "scenario": SCENARIOS[key].to_dict(),
                                            "n_reps": n_reps, "seed": seed, "n_boot": SETTINGS.n_boot},
            _timed(lambda key=key, n_reps=n_reps: run_replicates(SCENARIOS[key], n_reps, seed, n_jobs,
                                                                 n_boot=SETTINGS.n_boot, engine=engine,
                                                                 client=client)),
            modules=CODE_MODULES, enabled=use_cache, shared=True)
        tables.append(table[table["estimator"] == "aipw_att_bootstrap"])
    diagnostics = pd.DataFrame(columns=bayes.DIAGNOSTIC_COLUMNS)
    if bayes_scenario is not None and bayes_reps > 0:
        (table, diagnostics), seconds[f"bayes_{bayes_scenario}"] = cache.load_or_compute(
            f"validation-bayes-{bayes_scenario}", {"kind": "bayes", "scenario": SCENARIOS[bayes_scenario].to_dict(),
                                                   "n_reps": bayes_reps, "seed": seed,
                                                   "sampler": bayes.BAYES_SETTINGS,
                                                   "diagnostics": SETTINGS.key()["diagnostics"]},
            _timed(lambda: bayes.bayesian_replicates(SCENARIOS[bayes_scenario], bayes_reps, seed,
                                                     n_jobs=1 if engine == "local" else n_jobs, engine=engine,
                                                     client=client)),
            modules=CODE_MODULES, enabled=use_cache, shared=True)
        tables.append(table)
    inputs = study_inputs(replicates, seed, bootstrap, bayes_scenario, bayes_reps)
    return StudyResult(pd.concat(tables, ignore_index=True), diagnostics, seconds, inputs)


def write_study_file(result: StudyResult, path) -> Path:
    """FILE.csv (one row per replicate × scenario × estimator × outcome × estimand) and FILE.json (inputs,
    code key, timings, the Bayesian fits' diagnostics)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    result.replicates.to_csv(path, index=False, float_format="%.17g")
    meta = {"inputs": result.inputs, "code": engines.worker_code_key(), "seconds": result.seconds,
            "bayes_diagnostics": result.bayes_diagnostics.to_dict(orient="records")}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1, default=str) + "\n")
    return path


def load_study_file(path, *, require_same_code: bool = True) -> StudyResult:
    """Read a ``study`` output file back (checked: columns, metadata, and by default the code key)."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    problems = []
    if not path.exists() or not meta_path.exists():
        raise StudyFileError(str(path), [f"{p.name} not found" for p in (path, meta_path) if not p.exists()])
    meta = json.loads(meta_path.read_text())
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])  # the scenario "null" is not a missing value
    missing = [c for c in RESULT_COLUMNS if c not in table.columns]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if require_same_code and meta.get("code") != engines.worker_code_key():
        problems.append("it was made by other dexmood code or package versions (re-run the study command)")
    if problems:
        raise StudyFileError(str(path), problems)
    diagnostics = pd.DataFrame(meta.get("bayes_diagnostics", []), columns=bayes.DIAGNOSTIC_COLUMNS)
    return StudyResult(table[RESULT_COLUMNS], diagnostics, meta.get("seconds", {}), meta.get("inputs", {}))


def study_for_book(replicates: dict[str, int] | None = None, seed: int = SETTINGS.seed, n_jobs: int = 2, *,
                   bootstrap: dict[str, int] | None = None, bayes_scenario: str | None = "published",
                   bayes_reps: int = DEFAULT_BAYES_REPLICATES) -> StudyResult:
    """Notebook 08's study: from the file named by ``DEXMOOD_STUDY`` if set (e.g. a cluster run), else
    `run_study` (cached)."""
    if os.environ.get(STUDY_ENV):
        return load_study_file(os.environ[STUDY_ENV])
    return run_study(replicates, seed, n_jobs, bootstrap=bootstrap, bayes_scenario=bayes_scenario,
                     bayes_reps=bayes_reps)
