"""Verdicts as data: a grade, the number it rests on, and the sentence — built from numbers by a tested rule.

Every computed conclusion in the book (robust or not, supported or not, trustworthy or inconclusive) is a
`Verdict`; notebooks display `verdict.sentence` and test or colour by `verdict.grade`, never by parsing text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class Grade(StrEnum):
    SUPPORTED = "supported"          # the numbers support the claim
    NOT_SUPPORTED = "not supported"  # the numbers speak against it
    INCONCLUSIVE = "inconclusive"    # the numbers cannot tell (too few patients, too much MC error, …)
    NOT_ASSESSED = "not assessed"    # the method could not run (its reason is the sentence)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Verdict:
    grade: Grade
    #: the number the grade rests on (a p-value, a Γ, a coverage …), with its name
    value: float | None
    measure: str
    sentence: str

    @property
    def ok(self) -> bool:
        return self.grade is Grade.SUPPORTED

    def to_dict(self) -> dict:
        out = asdict(self)
        out["grade"] = self.grade.value
        return out

    def __str__(self) -> str:
        return f"{self.grade.value}: {self.sentence}"
