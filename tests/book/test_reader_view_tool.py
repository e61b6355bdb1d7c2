"""`tools/reader_view.py`: the rule that tags plumbing cells, tried on copies of the notebooks.

`test_every_notebook_follows_the_reader_view_rule` FAILS UNTIL THE NOTEBOOKS ARE TAGGED: run
`.venv/bin/python tools/reader_view.py` once after merging (it changes only cell tags), then commit.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import load_tool

from dexmood import paths

reader_view = load_tool("reader_view")

STAGES = frozenset({"matching", "cohort_module"})


@pytest.mark.parametrize(("source", "tag"), [
    ("from dexmood import book\n\nbook.setup_notebook()\nimport pandas as pd\n", "remove-cell"),
    ("RANDOM_SEED = 20250222\nrng = np.random.default_rng(RANDOM_SEED)\n", "remove-cell"),
    ("%matplotlib inline\npd.set_option('display.precision', 3)\n", "remove-cell"),
    ('book.glue_value("a", 1.0)\n_ = book.glue_value("b", 2, "{:d}")\n', "remove-cell"),
    ('n = int((frame["group"] == "DEX").sum())\nbook.glue_value("n", n, "{:d}")\n', "remove-cell"),
    ("print(book.versions())\n", "remove-input"),
    ("import pandas as pd\ncohort = cohort_module.get_cohort(seed=RANDOM_SEED)\n", "hide-input"),
    ('matched = matching.default_match(cohort)\nbook.glue_value("n", 1)\nmatched.summary\n', "hide-input"),
    ('matched = matching.default_match(cohort)\nbook.glue_value("n", len(matched.pairs))\n', "hide-input"),
    ("\n".join(f"x{i} = matching.step({i})" for i in range(reader_view.LONG_CELL_LINES + 1)), "hide-input"),
    ("ax = matching.love_plot(balance)\nplt.show()\n", None),
    ("balance.display()[columns]\n", None),
])
def test_rule(source, tag):
    assert reader_view.decide(source, STAGES).tag == tag


def test_stage_modules_are_read_from_the_imports():
    found = reader_view.stage_modules_of(["from dexmood import book, matching\nfrom dexmood import cohort as c\n"])
    assert found == {"matching", "c"}


def test_other_tags_are_kept_and_manual_cells_left_alone():
    cell = {"cell_type": "code", "metadata": {"tags": ["hide-output", "remove-input"]},
            "source": "import numpy as np\n"}
    assert reader_view.tagged(cell) == ["hide-output", "remove-cell"]
    manual = {"cell_type": "code", "metadata": {"tags": ["reader-view-manual"]}, "source": "import numpy\n"}
    assert reader_view.tagged(manual) == ["reader-view-manual"]


def test_tool_on_copies_changes_only_tags_and_is_idempotent(tmp_path):
    for notebook in sorted(paths.NOTEBOOKS.glob("*.ipynb")):
        shutil.copy(notebook, tmp_path / notebook.name)
    copies = sorted(tmp_path.glob("*.ipynb"))
    assert copies
    reader_view.main([str(p) for p in copies])
    assert all(reader_view.apply(p, write=False) == [] for p in copies), "a second run changed tags"
    assert reader_view.main(["--check", *map(str, copies)]) == 0

    def without_tags(path):
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            cell["metadata"].pop("tags", None)
        return notebook

    removed = 0
    for copy in copies:
        assert without_tags(copy) == without_tags(paths.NOTEBOOKS / copy.name), f"{copy.name}: more than tags"
        cells = json.loads(copy.read_text())["cells"]
        removed += sum("remove-cell" in c["metadata"].get("tags", []) for c in cells)
        for cell in cells:  # no visible cell shows a glue call
            source = "".join(cell["source"]) if cell["cell_type"] == "code" else ""
            if re.search(r"\bglue(_value)?\(", source):
                assert set(cell["metadata"].get("tags", [])) & {"remove-cell", "hide-input", "remove-input"}, (
                    f"{copy.name}: a cell with a glue call stays visible:\n{source[:200]}")
    assert removed > 0


def test_every_notebook_follows_the_reader_view_rule():
    """FAILS UNTIL THE LEAD RUNS `.venv/bin/python tools/reader_view.py` (only cell tags change)."""
    pending = [line for notebook in sorted(paths.NOTEBOOKS.glob("*.ipynb"))
               for line in reader_view.apply(notebook, write=False)]
    assert not pending, ("notebooks are not tagged for the reader view; run `.venv/bin/python "
                         "tools/reader_view.py` and commit:\n" + "\n".join(pending))


figure_alt = load_tool("figure_alt")


def test_figure_alt_texts_cover_every_figure_and_only_touch_metadata(tmp_path):
    import yaml

    texts = yaml.safe_load(figure_alt.ALT_TEXTS.read_text())
    assert all(len(t.split()) >= 8 for t in texts.values()), "an alt text should describe the figure"
    for notebook in sorted(paths.NOTEBOOKS.glob("*.ipynb")):
        copy = tmp_path / notebook.name
        shutil.copy(notebook, copy)
        changed, missing = figure_alt.apply(copy, texts)
        assert not missing, f"{notebook.name}: figures without alt text in tools/figure_alt.yml: {missing}"
        assert figure_alt.apply(copy, texts) == ([], [])
        after, before = json.loads(copy.read_text()), json.loads(notebook.read_text())
        for cell_after, cell_before in zip(after["cells"], before["cells"], strict=True):
            assert cell_after["source"] == cell_before["source"]
            assert cell_after.get("outputs") == cell_before.get("outputs")


def test_every_figure_has_its_alt_text_in_the_notebook():
    """FAILS UNTIL THE LEAD RUNS `.venv/bin/python tools/figure_alt.py` (only cell metadata change)."""
    assert figure_alt.main(["--check"]) == 0, "run `.venv/bin/python tools/figure_alt.py` and commit"
