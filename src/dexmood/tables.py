"""Numbered, captioned tables for the book: `show(frame, name, caption)`.

A notebook cell that ends with a bare DataFrame renders as an unnumbered HTML table with pandas' index.
`show` renders it instead as a MyST ``{table}`` directive (the notebook's Markdown outputs are parsed as MyST,
`nb_render_markdown_format: myst` in `_config.yml`), so the book numbers it ("Table 2.1"), prints its caption,
and the text can refer to it with ``{numref}`tbl-<name>` `` (or ``{ref}`tbl-<name>` ``). The rules:

* **Index.** A default 0..n-1 index carries no meaning and is dropped; a named or non-default index (e.g.
  covariate names) becomes the first column.
* **Decimals.** One number of decimals per column (default `DEFAULT_DECIMALS`, or `decimals=` an int or a
  {column: int} mapping); integer columns are shown without decimals; missing values as an en dash.
* **Units.** `units={"column": "points"}` appends the unit to the column header: "column (points)".
* **Long tables** (at least `LONG_TABLE_ROWS` rows) get the class `dexmood-long-table`: the book shows them in a
  box of fixed height that scrolls (caption and header stay visible; `_static/book.css`), printed in full.

Pattern for a notebook cell (the lead applies it; the label is ``tbl-<name>``)::

    tables.show(balance.display()[columns], "nb02-balance",
                "Covariate balance before and after matching (SMD: standardised mean difference).",
                decimals={"smd_before": 2, "smd_after": 2}, units={"mean_treated_before": "years"})

and in the prose: ``... is balanced ({numref}`tbl-nb02-balance`).``
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_DECIMALS = 2
LONG_TABLE_ROWS = 20
LONG_TABLE_CLASS = "dexmood-long-table"
MISSING = "–"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Table:
    """A table ready for the book: its label, caption, the cells as text, and its MyST source."""

    label: str
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    long: bool

    @property
    def ref(self) -> str:
        """The cross-reference target, for ``{numref}`<ref>` `` in the text."""
        return self.label

    def to_myst(self) -> str:
        header = "| " + " | ".join(_escape(c) for c in self.columns) + " |"
        rule = "|" + "|".join(":--" if i == 0 else "--:" for i in range(len(self.columns))) + "|"
        body = ["| " + " | ".join(_escape(c) for c in row) + " |" for row in self.rows]
        options = [f":name: {self.label}", ":align: center"]
        if self.long:
            options.append(f":class: {LONG_TABLE_CLASS}")
        return "\n".join([f":::{{table}} {_escape_caption(self.caption)}", *options, "", header, rule, *body,
                          ":::"])

    def to_text(self) -> str:
        """Plain-text rendering (what a terminal, and nbval's text comparison, sees)."""
        widths = [max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c)
                  for i, c in enumerate(self.columns)]
        lines = [f"Table {self.label}: {self.caption}",
                 "  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in self.rows]
        return "\n".join(lines)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/markdown": self.to_myst(), "text/plain": self.to_text()}


def label_for(name: str) -> str:
    """The cross-reference label of table `name` ("nb02-balance" -> "tbl-nb02-balance")."""
    name = name.removeprefix("tbl-")
    if not _NAME.match(name):
        raise ValueError(f"table name {name!r}: use lower-case letters, digits and hyphens (e.g. 'nb02-balance')")
    return f"tbl-{name}"


def format_value(value, decimals: int) -> str:
    """One cell as text: fixed decimals for real numbers, integers as integers, missing as an en dash."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)) or value is pd.NA:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        text = f"{float(value):.{decimals}f}"
        return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text  # no "-0.00"
    return str(value)


def glue_text(value, fmt: str = "{:.2f}") -> str:
    """A value as `book.glue_value` glues it: a Python or NumPy float, or a Python int, through `fmt`;
    anything else (text, a NumPy integer) as `str(value)`. Page helpers build their glue texts with it."""
    return fmt.format(value) if isinstance(value, int | float) else str(value)


def _flat(column) -> str:
    if isinstance(column, tuple):
        return " — ".join(str(part) for part in column if str(part) != "")
    return str(column)


def prepare(frame: pd.DataFrame, *, decimals: int | Mapping[str, int] | None = None,
            units: Mapping[str, str] | None = None, index: bool | None = None) -> tuple[list[str], list[list[str]]]:
    """Column headers and cells as text, by the rules in the module docstring."""
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    keep_index = index if index is not None else not _meaningless_index(frame.index)
    data = frame.reset_index() if keep_index else frame.reset_index(drop=True)
    data.columns = [_flat(c) for c in data.columns]
    units = dict(units or {})
    unknown = set(units) - set(data.columns)
    if unknown:
        raise KeyError(f"units given for columns that are not in the table: {sorted(unknown)}")
    per_column = dict(decimals) if isinstance(decimals, Mapping) else {}
    unknown = set(per_column) - set(data.columns)
    if unknown:
        raise KeyError(f"decimals given for columns that are not in the table: {sorted(unknown)}")
    default = decimals if isinstance(decimals, int) else DEFAULT_DECIMALS
    headers = [f"{c} ({units[c]})" if c in units else c for c in data.columns]
    rows = [[format_value(v, per_column.get(c, default)) for c, v in zip(data.columns, values, strict=True)]
            for values in data.itertuples(index=False, name=None)]
    return headers, rows


def _meaningless_index(idx: pd.Index) -> bool:
    """A 0..n-1 index without a name says nothing about the rows."""
    if isinstance(idx, pd.MultiIndex) or any(n is not None for n in idx.names):
        return False
    return isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1 or (
        pd.api.types.is_integer_dtype(idx) and list(idx) == list(range(len(idx))))


def table(frame: pd.DataFrame, name: str, caption: str, *, decimals: int | Mapping[str, int] | None = None,
          units: Mapping[str, str] | None = None, index: bool | None = None,
          long_rows: int = LONG_TABLE_ROWS) -> Table:
    """Build the `Table` (without displaying it); see `show`."""
    caption = " ".join(str(caption).split())
    if not caption:
        raise ValueError(f"table {name!r} needs a caption")
    headers, rows = prepare(frame, decimals=decimals, units=units, index=index)
    if not headers:
        raise ValueError(f"table {name!r} has no columns")
    return Table(label=label_for(name), caption=caption, columns=tuple(headers),
                 rows=tuple(tuple(r) for r in rows), long=len(rows) >= long_rows)


def show(frame: pd.DataFrame, name: str, caption: str, **options) -> None:
    """Display `frame` as a numbered, captioned table labelled ``tbl-<name>``.

    Options as in `table`: `decimals` (int or {column: int}), `units` ({column: unit}), `index` (None = keep
    only a meaningful index), `long_rows` (collapse threshold). Returns None, so that a cell ending with
    `tables.show(...)` shows the table once (a returned object would be displayed a second time, and Sphinx
    would see its label twice); `table(...)` builds the same `Table` without showing it.
    """
    from IPython.display import display

    display(table(frame, name, caption, **options))


def _escape(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _escape_caption(text: str) -> str:
    return str(text).replace("\n", " ")
