"""Time line of the case report: day numbers, phases, NRS segments and the vocabularies of the data files.

Day 0 = 1 December 2019 (the paper's Fig. 1).
"""

from __future__ import annotations

import math

import pandas as pd

DAY_ZERO = pd.Timestamp("2019-12-01")
FIRST_DAY = -365.0  # December 2018, first pain-clinic visit
HORIZON_DAY = 182.0  # end of May 2020, the time of writing
DEX_DAY = 15.0  # 16 December 2019, the fourth day of intrathecal therapy (ambiguity A8)
#: The three phases of the paper's Fig. 1 as [start, end) in days.
PHASES = {"oral": (FIRST_DAY, 10.0), "oral_iv": (10.0, 12.0), "oral_intrathecal": (12.0, HORIZON_DAY)}
PHASE_LABELS = {"oral": "oral", "oral_iv": "oral + IV", "oral_intrathecal": "oral + intrathecal"}
#: NRS segments: one level each, in time order; the last one is the intrathecal level plus the DEX change.
SEGMENTS = ("oral_early", "oral_escalating", "oral_iv", "intrathecal", "intrathecal_dex")
LEVEL_SEGMENTS = SEGMENTS[:4]
SEGMENT_LABELS = {"oral_early": "oral, first regimen", "oral_escalating": "oral, escalating",
                  "oral_iv": "oral + IV PCIA", "intrathecal": "intrathecal, before DEX",
                  "intrathecal_dex": "intrathecal + DEX"}

#: Vocabularies of the data files: routes, drug roles, how a date is known, source passages, Table 1's scale.
ROUTES = ("oral", "iv", "intrathecal")
ROLES = ("opioid", "adjuvant", "antidepressant", "oncology", "local_anaesthetic", "steroid", "alpha2_agonist")
TIMINGS = ("stated", "relative", "month", "approximate", "inferred", "attested", "not_reported")
SOURCE_PATTERN = r"^(Abstract|Introduction|Case Report|Discussion|Conclusion|Table 1|Fig\. [123])"
SIDE_EFFECT_SCALE = {1: "never", 2: "seldom", 3: "sometimes", 4: "usually", 5: "always"}


def day_to_date(day: float) -> pd.Timestamp:
    """Calendar date of a day number (day 0 = 1 December 2019)."""
    return DAY_ZERO + pd.Timedelta(days=math.floor(day))
