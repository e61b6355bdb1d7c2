"""Every analysis setting, defined once.

The command line, the notebooks and the landing page take their seed, caliper, bootstrap size, sampler and
diagnostics thresholds from `SETTINGS` (or a copy made with `SETTINGS.updated(...)`), so they agree by
construction. A literal copy of one of these values anywhere else in `src/` or `notebooks/` is a bug
(`tests/test_settings.py` looks for them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType

#: The published article's date (2025-02-22) as the book's one seed.
SEED = 20250222

#: Outcome key -> instrument name, the one label table of the book.
OUTCOME_NAMES = MappingProxyType({
    "gad7": "GAD-7", "phq9": "PHQ-9", "nrs": "NRS pain", "satisfaction": "satisfaction (1–5)"})
#: Outcome key -> what it measures (for headings that name the construct).
OUTCOME_CONSTRUCTS = MappingProxyType({
    "gad7": "anxiety", "phq9": "depression", "nrs": "pain", "satisfaction": "satisfaction"})
#: The mood outcomes of the mediation analysis (mediator: NRS pain change).
MOOD_OUTCOMES = ("gad7", "phq9")


def outcome_label(key: str, *, change: bool = False, construct: bool = False) -> str:
    """'GAD-7', 'GAD-7 change' or 'GAD-7 (anxiety)' — every label in the book is built here."""
    name = OUTCOME_NAMES[key]
    if change and key != "satisfaction":
        name = f"{name} change"
    if construct:
        name = f"{name} ({OUTCOME_CONSTRUCTS[key]})"
    return name


@dataclass(frozen=True)
class DiagnosticsThresholds:
    """A posterior is used only if every R-hat ≤ `rhat_max`, bulk and tail ESS ≥ `ess_min`, and it has at
    most `divergences_max` divergent transitions (stricter than pymc-examples' usual R-hat < 1.01)."""
    rhat_max: float = 1.01
    ess_min: float = 400.0
    divergences_max: int = 0


@dataclass(frozen=True)
class SamplerConfig:
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    sampler: str = "nutpie"  # "nutpie" or "pymc" (PyMC's default NUTS)


@dataclass(frozen=True)
class Settings:
    """The analysis settings of one run of the pipeline."""
    seed: int = SEED
    #: Propensity-score matching: caliper in SDs of the logit of the propensity score (MatchIt's rule).
    caliper_sd: float = 0.2
    ratio: int = 1
    replace: bool = False
    #: Bootstrap replicates for the AIPW / g-computation intervals.
    n_boot: int = 500
    #: Bootstrap replicates per specification of the specification curve (notebook 05).
    n_boot_specification: int = 300
    #: Monte-Carlo draws of the Bayesian bias analysis and sign-flip randomisation test.
    n_bias_draws: int = 20000
    n_permutations: int = 10000
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    diagnostics: DiagnosticsThresholds = field(default_factory=DiagnosticsThresholds)
    #: Subgroup cells smaller than this (patients per arm) get no test and no verdict.
    min_subgroup_arm: int = 10
    #: Seed of the case report's Monte-Carlo and MCMC (notebook 06): the day DEX was added, 2019-12-16.
    case_report_seed: int = 20191216
    #: Seeds over which notebook 01 shows the simulator's calibration (the unit test uses 200).
    calibration_seeds: int = 100

    def updated(self, **changes) -> Settings:
        """A copy with some settings changed (the object itself is frozen)."""
        return dataclasses.replace(self, **changes)

    replace_ = updated  # early spelling, kept for callers written against it

    def key(self) -> dict:
        """Plain-data form (part of every cache key and of `results.json`)."""
        return dataclasses.asdict(self)

    def describe_matching(self) -> str:
        with_replacement = " with replacement" if self.replace else ""
        return f"1:{self.ratio}{with_replacement}, caliper {self.caliper_sd:g} SD of the logit"


#: The book's settings.
SETTINGS = Settings()
