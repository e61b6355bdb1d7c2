"""The package's one error hierarchy.

`DexmoodError` is what a user can cause; the command line catches it, prints its one-paragraph message and
exits with its `exit_code` (2 = bad input, 3 = a fit that failed its diagnostics). Anything else is a bug
and keeps its traceback (exit code 1).
"""

from __future__ import annotations


class DexmoodError(Exception):
    """Base class of every error a user's input or a failed fit can cause."""
    exit_code = 2


class DataContractError(DexmoodError, ValueError):
    """A data file breaks its contract: one readable message listing every problem (column, rows, values)."""

    #: How the message names the file and its contract.
    kind = "data file"
    contract = "its contract"

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{self.kind} {source!r} does not meet {self.contract} ({n} problem{'s' * (n != 1)}):"
        super().__init__("\n".join([head, *[f"  - {p}" for p in self.problems]]))


class CohortError(DataContractError):
    """A cohort file breaks the data contract of `data/README.md`; the message names every column and row."""

    kind = "cohort file"
    contract = "the data contract"


class CaseReportError(DexmoodError, ValueError):
    """A case-report data file breaks its schema; one line per problem."""


class TrialDataError(DataContractError):
    """A trial-design table breaks its contract."""

    kind = "trial file"


class MatchingError(DexmoodError, ValueError):
    """Matching cannot run on this cohort (e.g. no treated patient has a control within the caliper)."""


class AnalysisNotPossible(DexmoodError):
    """A method cannot run on this cohort (too few patients, a column absent); the message says why.

    The pipeline catches it per method, reports the sentence, and runs the rest."""


class DiagnosticsError(DexmoodError, RuntimeError):
    """An MCMC fit failed its convergence diagnostics (R-hat, ESS, divergences); its numbers are not used."""
    exit_code = 3
