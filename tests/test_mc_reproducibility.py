"""Issue 20: Monte-Carlo numbers are checked within their Monte-Carlo error, on an emulated other CPU.

- the rules of `dexmood.reproducibility` (tolerance, exact labels, coverage) on small made-up records;
- every stored notebook with a reference in `tests/mc_reference/`: each number printed by a cell excluded from
  nbval's exact comparison (`nbval-ignore-output`) is covered by a recorded value of that cell;
- **the reviewer**: each such notebook is re-executed whole, in a temporary copy, by nbval (deterministic cells
  still compared exactly) with a PyTensor/numba compile cache and a result cache that start empty in the test
  session (then shared by the notebooks in book order, as a reviewer's would be) and
  `OPENBLAS_CORETYPE=Prescott NUMBA_CPU_NAME=generic`; its new record must agree with the stored reference
  within K·MCSE plus half a display unit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from dexmood import paths
from dexmood import reproducibility as mc

REFERENCES = sorted(p.stem for p in mc.REFERENCE_DIR.glob("*.json"))


def entry(name, value, text, fmt="{:.2f}", mcse=0.01, tolerance=None, cell=1):
    return mc.Entry(name, value, text, fmt, mcse, tolerance, cell)


def test_display_unit():
    assert mc.display_unit("{:.2f}") == pytest.approx(0.01)
    assert mc.display_unit("{:.0f}%") == 1
    assert mc.display_unit("{:.1%}") == pytest.approx(0.001)
    assert mc.display_unit("{:d}") == 1


def test_tolerance_is_k_mcse_of_the_difference_plus_half_a_unit():
    stored = entry("x", 1.00, "1.00", mcse=0.01)
    # allowed: 4·√(0.01² + 0.01²) + 0.005 = 0.0616
    assert mc.compare_entry(stored, entry("x", 1.06, "1.06", mcse=0.01)).ok
    far = mc.compare_entry(stored, entry("x", 1.07, "1.07", mcse=0.01))
    assert not far.ok and far.z == pytest.approx(0.07 / np.hypot(0.01, 0.01))
    assert mc.compare_entry(stored, None).ok is False


def test_deterministic_and_label_entries_must_match_exactly():
    exact = entry("n", 181, "181", "{:d}", mcse=0.0)
    assert mc.compare_entry(exact, entry("n", 181, "181", "{:d}", mcse=0.0)).ok
    assert not mc.compare_entry(exact, entry("n", 182, "182", "{:d}", mcse=0.0)).ok
    label = mc.Entry("v", None, "bracket the observed ones", "{}", None, None, 1)
    assert not mc.compare_entry(label, mc.Entry("v", None, "miss one", "{}", None, None, 1)).ok


def test_a_choice_agrees_with_any_label_tied_with_it():
    mc.clear()
    mc.record_choice("worst", "published / gad7", ["published / gad7", "published / phq9"])
    stored = mc.entries()["worst"]
    mc.clear()
    assert stored.alternatives == ("published / phq9",)
    assert mc.compare_entry(stored, mc.Entry("worst", None, "published / phq9", "{}", None, None, 1)).ok
    assert not mc.compare_entry(stored, mc.Entry("worst", None, "null / nrs", "{}", None, None, 1)).ok


def test_explicit_tolerance_replaces_mcse():
    stored = entry("ess", 3000, "3000", "{:.0f}", mcse=None, tolerance=750)
    assert mc.compare_entry(stored, entry("ess", 3700, "3700", "{:.0f}", mcse=None, tolerance=925)).ok
    assert not mc.compare_entry(stored, entry("ess", 1000, "1000", "{:.0f}", mcse=None, tolerance=250)).ok


def test_missing_and_extra_entries_fail():
    stored = {"a": entry("a", 1.0, "1.00")}
    new = {"b": entry("b", 1.0, "1.00")}
    assert [c.ok for c in mc.compare(stored, new)] == [False, False]


def test_record_value_needs_an_mcse_and_refuses_duplicates():
    mc.clear()
    with pytest.raises(ValueError, match="mcse"):
        mc.record_value("a", 1.0)
    assert mc.record_value("a", 0.123, "{:.1f}", mcse=0.01) == "0.1"
    with pytest.raises(ValueError, match="twice"):
        mc.record_value("a", 1.0, mcse=0.1)
    mc.clear()


def test_record_table_returns_the_texts_it_records():
    mc.clear()
    values = pd.DataFrame({"group": ["DEX", "LA"], "mean": [-3.431, -2.9], "p": [0.5, 0.76]})
    texts = mc.record_table("t", values, {"mean": "{:.2f}", "p": "{:.2f}"},
                            mcse=pd.DataFrame({"mean": [0.01, 0.02], "p": [0.0, 0.01]}))
    assert texts.loc[0, "mean"] == "-3.43" and texts.loc[1, "group"] == "LA"
    recorded = mc.entries()
    assert recorded["t[0|mean]"].mcse == 0.01 and recorded["t[0|p]"].exact and recorded["t[1|group]"].exact
    assert "mean" in recorded["t[labels]"].text
    mc.clear()


def _notebook(outputs, tags=(mc.IGNORE_TAG,), count=3):
    return {"cells": [{"cell_type": "code", "execution_count": count, "metadata": {"tags": list(tags)},
                       "outputs": outputs, "source": ""}]}


def test_coverage_finds_an_unrecorded_number():
    stream = {"output_type": "stream", "name": "stdout", "text": "ACME -0.33 (-0.72 to -0.06); took 2.5 s\n"}
    record = {"m": entry("m", -0.33, "-0.33", cell=3), "l": entry("l", -0.72, "-0.72", cell=3)}
    problems = mc.coverage_problems(_notebook([stream]), record)
    assert len(problems) == 1 and "0.06" in problems[0] and "2.5" not in problems[0]  # timings are sanitized
    record["h"] = entry("h", -0.06, "-0.06", cell=3)
    assert mc.coverage_problems(_notebook([stream]), record) == []
    # a value recorded in another cell does not cover this one
    record["h"] = entry("h", -0.06, "-0.06", cell=4)
    assert mc.coverage_problems(_notebook([stream]), record) != []
    # cells compared exactly by nbval need no record
    assert mc.coverage_problems(_notebook([stream], tags=()), {}) == []


def test_batch_mcse_agrees_with_arviz_for_a_mean():
    draws = np.random.default_rng(0).normal(size=(4, 2000))
    assert mc.mcse_batch(np.mean, draws) == pytest.approx(mc.mcse_mean(draws), rel=0.4)
    assert mc.mcse_mean(np.ones((4, 10))) == 0.0


@pytest.mark.parametrize("notebook", REFERENCES)
def test_every_number_of_an_ignored_cell_is_recorded(notebook):
    """No number goes unchecked: the stored notebook's `nbval-ignore-output` cells print only recorded values."""
    stored = json.loads((paths.NOTEBOOKS / f"{notebook}.ipynb").read_text())
    reference = mc.load(mc.reference_path(notebook))
    assert mc.coverage_problems(stored, reference) == []
    ignored = [c for c in stored["cells"] if mc.IGNORE_TAG in c.get("metadata", {}).get("tags", [])]
    assert ignored, "a notebook with a Monte-Carlo reference excludes its Monte-Carlo cells from nbval"
    monte_carlo = [e for e in reference.values() if not e.exact]
    assert monte_carlo and all((e.mcse or 0) > 0 or e.tolerance is not None for e in monte_carlo)


@pytest.fixture(scope="session")
def reviewer_caches(tmp_path_factory):
    """The reviewer's compile and result caches: empty at the start of the session, then shared by the
    notebooks in book order, as on a reviewer's machine (notebook 04's posterior serves 05 and 09)."""
    root = tmp_path_factory.mktemp("reviewer")
    return {"PYTENSOR_FLAGS": f"base_compiledir={root / 'pytensor'}", "NUMBA_CACHE_DIR": str(root / "numba"),
            "DEXMOOD_CACHE_DIR": str(root / "cache")}


@pytest.mark.parametrize("notebook", REFERENCES)
def test_notebook_reproduces_on_another_cpu(notebook, tmp_path, reviewer_caches):
    """The reviewer: whole notebook, caches that start empty, emulated other CPU; nbval exact on deterministic
    cells, the Monte-Carlo record within K·MCSE + half a display unit of the stored reference."""
    copy = tmp_path / f"{notebook}.ipynb"
    copy.write_bytes((paths.NOTEBOOKS / f"{notebook}.ipynb").read_bytes())
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = dict(os.environ, **mc.OTHER_CPU_ENV,
               PYTHONPATH=os.pathsep.join([str(paths.PROJECT_ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
               **reviewer_caches, **{mc.RECORD_ENV: str(tmp_path / "mc")})
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c",
                          str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), "--nbval", str(copy),
                          "--nbval-sanitize-with", str(mc.SANITIZE_CFG)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    new_path = tmp_path / "mc" / f"{notebook}.json"
    comparisons = mc.compare(mc.load(mc.reference_path(notebook)), mc.load(new_path)) if new_path.exists() else []
    if comparisons:
        frame = mc.comparison_frame(comparisons)
        summary = {"notebook": notebook, "numbers": len(frame),
                   "moved": int((frame["stored"] != frame["new"]).sum()),
                   "max_abs_difference_over_mcse": float(frame["z"].max()), "failed": int((~frame["ok"]).sum()),
                   "moved_names": frame.index[frame["stored"] != frame["new"]].tolist()}
        (mc.record_dir() / f"{notebook}.other-cpu.json").write_text(json.dumps(summary, indent=1) + "\n")
    assert run.returncode == 0, f"nbval on the emulated CPU failed:\n{run.stdout[-6000:]}"
    assert comparisons, f"the notebook wrote no Monte-Carlo record to {new_path}"
    failed = frame[~frame["ok"]]
    assert failed.empty, f"outside K·MCSE + half a display unit:\n{failed.to_string()}"
