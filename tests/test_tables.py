"""`dexmood.tables`: numbered, captioned tables without a meaningless index."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from dexmood import tables


def _frame(rows=3):
    return pd.DataFrame({"estimate": np.linspace(-0.0004, 1.23456, rows), "n": np.arange(rows),
                         "label": [f"row {i}" for i in range(rows)]})


def test_default_index_is_dropped_and_a_named_index_kept():
    headers, rows = tables.prepare(_frame())
    assert headers == ["estimate", "n", "label"]
    headers, rows = tables.prepare(_frame().set_index("label"))
    assert headers[0] == "label" and rows[0][0] == "row 0"
    # a non-default unnamed index (e.g. covariate names) also carries meaning
    named = _frame().set_axis(["age", "sex", "bmi"])
    assert tables.prepare(named)[1][1][0] == "sex"


def test_decimals_are_consistent_and_integers_stay_integers():
    headers, rows = tables.prepare(_frame(), decimals={"estimate": 3})
    assert [r[0] for r in rows] == ["0.000", "0.617", "1.235"]  # no "-0.000"
    assert [r[1] for r in rows] == ["0", "1", "2"]
    _, rows = tables.prepare(pd.DataFrame({"x": [1.0, np.nan, 2.5]}))
    assert [r[0] for r in rows] == ["1.00", tables.MISSING, "2.50"]


def test_units_in_headers_and_unknown_columns_rejected():
    headers, _ = tables.prepare(_frame(), units={"estimate": "points"})
    assert headers[0] == "estimate (points)"
    with pytest.raises(KeyError, match="not in the table"):
        tables.prepare(_frame(), units={"nope": "points"})
    with pytest.raises(KeyError, match="not in the table"):
        tables.prepare(_frame(), decimals={"nope": 1})


def test_label_caption_and_long_tables():
    table = tables.table(_frame(), "nb02-balance", "Balance\n before  matching.")
    assert table.ref == "tbl-nb02-balance" and table.caption == "Balance before matching."
    assert not table.long
    assert tables.table(_frame(tables.LONG_TABLE_ROWS), "x", "c").long
    with pytest.raises(ValueError, match="caption"):
        tables.table(_frame(), "x", "  ")
    with pytest.raises(ValueError, match="lower-case"):
        tables.label_for("Bad Name")


def test_myst_source_escapes_pipes_and_marks_long_tables():
    frame = pd.DataFrame({"a|b": ["x|y"]})
    source = tables.table(frame, "pipes", "Caption").to_myst()
    assert source.startswith(":::{table} Caption\n:name: tbl-pipes")
    assert "a\\|b" in source and "x\\|y" in source and source.endswith(":::")
    assert tables.LONG_TABLE_CLASS in tables.table(_frame(25), "long", "c").to_myst()


def test_show_displays_markdown_and_text(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj._repr_mimebundle_()))
    assert tables.show(_frame(), "shown", "A caption") is None  # a cell ending with show() shows it once
    assert len(shown) == 1
    assert set(shown[0]) == {"text/markdown", "text/plain"}
    assert "A caption" in shown[0]["text/plain"]


def test_sphinx_renders_a_numbered_captioned_table_that_numref_reaches(tmp_path):
    """The MyST source really becomes Table 1 with its caption and an anchor (as in the book)."""
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text("extensions = ['myst_parser']\nnumfig = True\nmyst_enable_extensions = "
                                 "['colon_fence']\n")
    table = tables.table(_frame(), "demo", "Demo of a caption")
    (src / "index.md").write_text(f"# Page\n\nSee {{numref}}`{table.ref}`.\n\n{table.to_myst()}\n")
    app = Sphinx(str(src), str(src), str(tmp_path / "out"), str(tmp_path / "doctrees"), "html",
                 status=None, warning=None, freshenv=True)
    app.build()
    html = (tmp_path / "out" / "index.html").read_text()
    assert re.search(r'<table[^>]*id="tbl-demo"', html)
    caption = re.search(r"<caption>(.*?)</caption>", html, re.S).group(1)
    assert "Table 1" in caption and "Demo of a caption" in caption
    assert 'href="#tbl-demo"' in html and "Table 1" in html.split("<caption>")[0]
    assert "<th" in html and "row 2" in html


def test_glue_text_formats_numbers_as_glue_value_does():
    import numpy as np

    from dexmood import tables

    assert tables.glue_text(0.123456) == "0.12" and tables.glue_text(np.float64(2.5), "{:.0f}") == "2"
    assert tables.glue_text(7, "{:.1f}") == "7.0"
    assert tables.glue_text(np.int64(7), "{:.1f}") == "7"  # a NumPy integer is not an int: shown as it is
    assert tables.glue_text("text", "{:.1f}") == "text"
