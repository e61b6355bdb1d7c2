"""Validation of a trial table against its pandera schema, with every problem named by column and CSV row."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from dexmood.errors import TrialDataError


def _rows_text(index: list[int], ids: pd.Series, values: list[str] | None, limit: int = 6) -> str:
    """'rows 3, 7 (patient_id T3, T7; values 2, x)' with CSV line numbers (header = line 1)."""
    rows = sorted(set(index))
    shown = rows[:limit]
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    text = f"row{'s' * (len(rows) != 1)} {', '.join(str(i + 2) for i in shown)}{more}"
    details = ["patient_id " + ", ".join(str(ids.iloc[i]) for i in shown)]
    if values:
        details.append("value" + "s" * (len(values) != 1) + " " + ", ".join(values[:limit]))
    return f"{text} ({'; '.join(details)})"


def _validate(frame: pd.DataFrame, schema: pa.DataFrameSchema, required: tuple[str, ...], source: str,
              allowed: dict[str, str]) -> pd.DataFrame:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise TrialDataError(source, [f"required column{'s' * (len(missing) != 1)} missing: " + ", ".join(missing)])
    frame = frame.reset_index(drop=True)
    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        ids = frame["patient_id"].astype(str)
        cases = err.failure_cases
        # A value that is not a number also fails the column's range check: report it once.
        not_number = {(str(c), i) for c, i, k in zip(cases["column"], cases["index"], cases["check"], strict=True)
                      if "coerce_dtype" in str(k)}
        problems: list[str] = []
        for (column, check), block in cases.groupby(["column", "check"], sort=False, dropna=False):
            check = str(check)
            if "coerce_dtype" not in check:
                block = block[[(str(column), i) not in not_number for i in block["index"]]]
                if block.empty:
                    continue
            index = [int(i) for i in block["index"].dropna()]
            if check == "field_uniqueness" or (column == "patient_id" and "unique" in check):
                dup = sorted({str(v) for v in block["failure_case"]})
                problems.append(f"column 'patient_id': duplicate IDs {', '.join(dup)}")
                continue
            if check == "not_nullable":
                what, values = "is missing", None
            elif "coerce_dtype" in check:
                what, values = "is not a number", [str(v) for v in block["failure_case"]]
            else:
                what = f"is not allowed ({allowed.get(str(column), check)})"
                values = [str(v) for v in block["failure_case"]]
            problem = f"column '{column}': value {what} in " + _rows_text(index, ids, values)
            if problem not in problems:
                problems.append(problem)
        raise TrialDataError(source, problems) from None
