"""The one analysis pipeline: cohort → match → effects → mediation → sensitivity → results.json.

Each stage takes the previous stage's result and the `Settings`; the command line (`python -m dexmood
analyze`), notebooks 02–05 and the landing page (notebook 09) call these functions with `SETTINGS`, so they
agree by construction. A method that cannot run on a user's cohort (too few patients, an absent column)
is reported in one sentence under `notes`; the rest still runs.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dexmood import cohort as cohort_mod
from dexmood import effects, matching, mediation, sensitivity
from dexmood.errors import AnalysisNotPossible, DiagnosticsError
from dexmood.settings import SETTINGS, Settings

#: The estimator whose interval is reported as the headline when the matched sample is balanced; when it is
#: not, the covariate-adjusted estimator on the same matched sample takes its place (and the text says why).
PRIMARY_BALANCED = "matched_difference"
PRIMARY_IMBALANCED = "matched_regression"


def load_cohort(path: str | os.PathLike | None = None, settings: Settings = SETTINGS) -> cohort_mod.Cohort:
    """Stage 1: the user's CSV (`path`, or `DEXMOOD_COHORT`), else the cohort simulated with the seed."""
    if path is not None:
        return cohort_mod.load_cohort(path)
    return cohort_mod.get_cohort(seed=settings.seed)


def match(cohort: cohort_mod.Cohort, settings: Settings = SETTINGS) -> matching.MatchResult:
    """Stage 2: the main matched sample (propensity model by `matching.propensity_terms`)."""
    return matching.match_with_settings(cohort, settings)


@dataclass
class EffectsResult:
    analysis: dict
    primary: str
    primary_reason: str
    balance_passed: bool

    @property
    def table(self):
        return self.analysis["effects"]


def primary_estimator(match_result: matching.MatchResult) -> tuple[str, str, bool]:
    """Which estimator is the headline, and the sentence that says why (the book's balance rule)."""
    balance = match_result.balance()
    if balance.passed:
        return PRIMARY_BALANCED, ("the matched sample passes the balance rule (every |SMD| < "
                                  f"{balance.smd_threshold:g} and every variance ratio within "
                                  f"{balance.variance_ratio_range[0]:g}–{balance.variance_ratio_range[1]:g}), "
                                  "so the matched difference in means is the primary estimate"), True
    failing = ", ".join(balance.failures()["term"])
    return PRIMARY_IMBALANCED, (f"the matched sample fails the balance rule on {failing}, so the "
                                "covariate-adjusted estimate on the matched sample (g-computation) is the "
                                "primary estimate"), False


def estimate_effects(match_result: matching.MatchResult, cohort: cohort_mod.Cohort,
                     settings: Settings = SETTINGS) -> EffectsResult:
    """Stage 3: every estimator for every outcome the data can answer; the primary one by balance."""
    analysis = effects.analyse(match_result, cohort, n_boot=settings.n_boot, seed=settings.seed)
    primary, reason, passed = primary_estimator(match_result)
    analysis["primary"] = primary
    return EffectsResult(analysis=analysis, primary=primary, primary_reason=reason, balance_passed=passed)


def fit_mediation(match_result: matching.MatchResult, settings: Settings = SETTINGS):
    """Stage 4: the Bayesian mediation model on the matched sample it is given; diagnostics enforced
    (`DiagnosticsError` if R-hat, ESS or divergences fail the thresholds of `settings.diagnostics`)."""
    posterior = mediation.fit_matched(match_result, settings, predictive=False)  # results.json needs no
    # predictive draws (notebook 04 checks them); the posterior draws are the same
    mediation.check_diagnostics(posterior, settings=settings)
    return posterior


def sensitivity_section(match_result: matching.MatchResult, cohort: cohort_mod.Cohort,
                        settings: Settings = SETTINGS) -> dict:
    """Stage 5: the robustness numbers of results.json."""
    return sensitivity.results_section(match_result, cohort, settings=settings)


@dataclass
class Progress:
    """Per-stage progress with elapsed time on stderr (silent with `quiet`)."""
    quiet: bool = False
    stream: object = None
    started: float = field(default_factory=time.perf_counter)

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.started:6.1f} s] {message}", file=self.stream or sys.stderr,
                  flush=True)


def _run_optional(notes: list[str], stage: str, compute: Callable):
    """Run a stage that a small or unusual cohort may not support; a user-caused failure becomes a note."""
    try:
        return compute()
    except AnalysisNotPossible as error:
        notes.append(f"{stage}: {error}")
        return None


def _mediation_outcome(match_result: matching.MatchResult, settings: Settings) -> tuple[str, object]:
    """Stage 4 for `analyze`: ("ok", results section) or ("not possible" | "diagnostics", the sentence)."""
    try:
        return "ok", mediation.results_section(fit_mediation(match_result, settings))
    except AnalysisNotPossible as error:
        return "not possible", str(error)
    except DiagnosticsError as error:
        return "diagnostics", str(error)


class _BackgroundMediation:
    """Stage 4 in a forked process while the parent estimates effects and sensitivity.

    Compiling the mediation model (numba, ~14 s, not cacheable across processes) and sampling dominate
    `analyze`; the effects bootstrap and the sensitivity fits need a core for a few seconds meanwhile. A fork
    shares the imported modules and the match without pickling them; the child sends back only the JSON-able
    section. The draws are the same as in one process (same seed, same code). Without `fork` (Windows,
    macOS default) or on one core the stage runs in the parent, in turn."""

    def __init__(self, match_result: matching.MatchResult, settings: Settings):
        self.match_result, self.settings, self._process = match_result, settings, None
        if "fork" in multiprocessing.get_all_start_methods() and (os.cpu_count() or 1) > 1:
            context = multiprocessing.get_context("fork")
            self._receive, send = context.Pipe(duplex=False)
            self._process = context.Process(target=self._child, args=(send,), daemon=True)
            self._process.start()
            send.close()

    def _child(self, send) -> None:
        try:
            outcome = _mediation_outcome(self.match_result, self.settings)
        except BaseException:  # a bug: the parent raises it with the child's traceback
            outcome = ("bug", traceback.format_exc())
        send.send(outcome)
        send.close()

    def result(self) -> tuple[str, object]:
        if self._process is None:
            return _mediation_outcome(self.match_result, self.settings)
        try:
            outcome = self._receive.recv()
        except EOFError:  # the child died (killed, out of memory) before sending
            self._process.join()
            outcome = ("bug", f"the process ended without a result (exit code {self._process.exitcode})")
        self._process.join()
        if outcome[0] == "bug":
            raise RuntimeError(f"the mediation stage failed in its process:\n{outcome[1]}")
        return outcome


def version() -> str:
    try:
        return importlib.metadata.version("dexmood")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def analyze(cohort: cohort_mod.Cohort, out_dir: Path | None = None, settings: Settings = SETTINGS, *,
            progress: Progress | None = None, with_mediation: bool = True) -> dict:
    """Run every stage on `cohort` and return (and, with `out_dir`, write) `results.json` and `matched.csv`."""
    progress = progress or Progress(quiet=True)
    notes: list[str] = []
    frame = cohort.data
    results: dict = {
        "dexmood_version": version(),
        "data": {"source": cohort.source, "simulated": cohort.simulated},
        "settings": settings.key(),
        "n": {"DEX": int((frame["group"] == "DEX").sum()), "LA": int((frame["group"] == "LA").sum()),
              "analysed": len(frame)},
        "flow": json.loads(cohort.flow.to_json(orient="records")),
    }
    progress(f"cohort: {len(frame)} patients ({cohort.source})")
    match_result = match(cohort, settings)
    results["matching"] = matching.results_section(match_result)
    progress(f"matching: {match_result.summary['pairs']} matched sets")
    background = _BackgroundMediation(match_result, settings) if with_mediation else None
    estimated = estimate_effects(match_result, cohort, settings)
    results.update(effects.results_from_analysis(estimated.analysis))
    results["primary_estimator"] = {"estimator": estimated.primary, "why": estimated.primary_reason}
    notes += sorted({note for note in estimated.table["note"] if note})
    progress("effects: done")
    sensitivity_notes: list[str] = []  # after mediation's, in stage order
    sens = _run_optional(sensitivity_notes, "sensitivity",
                         lambda: sensitivity_section(match_result, cohort, settings))
    if sens is not None:
        sensitivity_notes += [f"sensitivity: {sentence}" for sentence in sens["sensitivity"].pop("not_possible", [])]
    progress("sensitivity: done")
    results["failed_diagnostics"] = []
    if background is not None:
        status, value = background.result()
        if status == "ok":
            results.update(value)
        elif status == "not possible":
            notes.append(f"mediation: {value}")
        else:  # reported, not used; the CLI then exits 3 after writing the rest
            notes.append(f"mediation: the fit failed its convergence diagnostics, so its numbers are not "
                         f"reported ({value})")
            results["failed_diagnostics"].append("mediation")
        progress("mediation: done")
    if sens is not None:
        results.update(sens)
    results["notes"] = notes + sensitivity_notes
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        matching.write_matched_csv(match_result, out_dir / "matched.csv")
        (out_dir / "results.json").write_text(json.dumps(json_safe(results), indent=2, allow_nan=False) + "\n")
    return results


def json_safe(value):
    """NaN and infinities (an estimate that could not be computed) become null; numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
