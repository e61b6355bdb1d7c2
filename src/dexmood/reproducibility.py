"""Monte-Carlo numbers are checked within their Monte-Carlo error, deterministic ones exactly (issue 20).

Sampling on another CPU (other SIMD width, FMA, BLAS kernel) cannot give bit-identical draws, so a stored
posterior summary cannot be demanded digit for digit. A notebook therefore records every Monte-Carlo number it
shows — through `book.glue_value(..., mcse=...)`, `record_value` or `record_table` — with its Monte-Carlo
standard error (MCSE) and its display format, and writes them with `save(notebook)` to a small JSON. The stored
reference is `tests/mc_reference/<notebook>.json`; `tests/test_mc_reproducibility.py` re-executes the notebook
under an emulated other CPU and checks every recorded number with `compare`:

    |new − stored| ≤ K · sqrt(MCSE_stored² + MCSE_new²) + ½ display unit          (K = 4)

(the difference of two independent Monte-Carlo estimates has SD sqrt(MCSE₁² + MCSE₂²); 4 SD is exceeded by
chance with probability 6e-5 per number). A number with an explicit `tolerance` (e.g. an effective sample size,
which has no MCSE) uses it instead of K·MCSE; `mcse=0` means deterministic: its text must be equal.

Cells whose output is Monte-Carlo carry the cell tag `nbval-ignore-output` (nbval then skips their exact
comparison); `coverage_problems` checks that every number such a cell prints is the text of a value recorded
in that cell, so no number goes unchecked.
"""

from __future__ import annotations

import configparser
import json
import math
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from dexmood import paths

#: Tolerance multiplier on the Monte-Carlo SE of a difference of two runs.
K = 4.0
#: Environment variable naming the folder notebooks write their record to (default `data/derived/mc`).
RECORD_ENV = "DEXMOOD_MC_DIR"
REFERENCE_DIR = paths.PROJECT_ROOT / "tests" / "mc_reference"
SANITIZE_CFG = paths.PROJECT_ROOT / "tests" / "nbval_sanitize.cfg"
#: The cell tag that excludes a cell from nbval's exact comparison.
IGNORE_TAG = "nbval-ignore-output"
#: An emulated other CPU: another OpenBLAS kernel and another numba code path (each alone changes draws).
OTHER_CPU_ENV = {"OPENBLAS_CORETYPE": "Prescott", "NUMBA_CPU_NAME": "generic"}

NUMBER = re.compile(r"(?<![\w.])[-−]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Entry:
    """One displayed number: its value (in the displayed unit), MCSE, format, text and the cell showing it."""
    name: str
    value: float | None
    text: str
    fmt: str
    mcse: float | None  # None: a label (checked as text); 0: deterministic (checked as text)
    tolerance: float | None  # absolute tolerance replacing K·MCSE (stated where recorded)
    cell: int | None  # execution count of the cell that recorded it
    #: a choice among Monte-Carlo estimates (`record_choice`): the labels tied with `text` within K·MCSE
    alternatives: tuple[str, ...] | None = None

    @property
    def exact(self) -> bool:
        return self.tolerance is None and (self.mcse is None or self.mcse == 0)


_RECORD: dict[str, Entry] = {}


def _current_cell() -> int | None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the book's environment
        return None
    shell = get_ipython()
    if shell is None:
        return None
    # the input history holds the running cell (its prompt number); `execution_count` is already the next one
    return len(shell.user_ns["In"]) - 1 if "In" in shell.user_ns else int(shell.execution_count) - 1


def display_unit(fmt: str) -> float:
    """The value of one unit in the last displayed digit ('{:.2f}' → 0.01, '{:.0f}%' → 1, '{:.1%}' → 0.001)."""
    match = re.search(r"\.(\d+)([f%e])", fmt)
    if match:
        digits = int(match.group(1))
        return 10.0 ** -(digits + (2 if match.group(2) == "%" else 0))
    return 1.0  # '{:d}', '{:g}' of whole numbers, plain '{}'


def _key(name: str) -> str:
    if name in _RECORD:
        raise ValueError(f"Monte-Carlo value {name!r} recorded twice in this notebook")
    return name


def record_value(name: str, value, fmt: str = "{:.2f}", *, mcse: float | None = None,
                 tolerance: float | None = None) -> str:
    """Record one displayed number (value in the displayed unit, e.g. percent) and return its text.

    `mcse`: its Monte-Carlo SE (same unit); 0 for a deterministic number shown in a Monte-Carlo cell.
    `tolerance`: an absolute tolerance instead of K·MCSE, for a Monte-Carlo number without an MCSE (say why
    where you call it)."""
    if mcse is None and tolerance is None:
        raise ValueError(f"{name}: give its mcse (0 if deterministic) or a tolerance")
    value = float(value)
    text = fmt.format(int(round(value)) if re.search(r":d}", fmt) else value)
    _RECORD[_key(name)] = Entry(name, value, text, fmt, None if mcse is None else float(mcse),
                                None if tolerance is None else float(tolerance), _current_cell())
    return text


def record_label(name: str, text: str) -> str:
    """Record a deterministic text shown in a Monte-Carlo cell (a row label, a count); compared exactly."""
    _RECORD[_key(name)] = Entry(name, None, str(text), "{}", None, None, _current_cell())
    return str(text)


def record_choice(name: str, chosen: str, tied=()) -> str:
    """Record a label picked by a Monte-Carlo comparison (e.g. the scenario with the lowest coverage) and
    the labels statistically tied with it (`tied`: within K·MCSE of the chosen one's value, so another run
    may pick any of them). A re-execution agrees if either run's choice is among the other's ties."""
    alternatives = tuple(dict.fromkeys(str(t) for t in tied if str(t) != str(chosen)))
    _RECORD[_key(name)] = Entry(name, None, str(chosen), "{}", None, None, _current_cell(), alternatives)
    return str(chosen)


def record_table(name: str, values, fmt="{:.2f}", *, mcse=None, tolerance=None):
    """Record every cell of a displayed table and return the table of texts to display.

    `values`: a numeric DataFrame in displayed units; `fmt`: one format or {column: format}; `mcse` and
    `tolerance`: a DataFrame like `values`, a {column: number or None} dict or one number (0 = deterministic
    column). Index and column labels are recorded as labels (exact)."""
    def per_cell(spec, row, column):
        if spec is None:
            return None
        if isinstance(spec, pd.DataFrame):
            if column not in spec.columns or pd.isna(spec.loc[row, column]):
                return None
            return float(spec.loc[row, column])
        if isinstance(spec, dict):
            return spec.get(column)
        return float(spec)

    texts = pd.DataFrame(index=values.index, columns=values.columns, dtype=object)
    for row in values.index:
        for column in values.columns:
            column_fmt = fmt.get(column, "{:.2f}") if isinstance(fmt, dict) else fmt
            value = values.loc[row, column]
            cell_name = f"{name}[{row}|{column}]"
            if isinstance(value, str):
                texts.loc[row, column] = record_label(cell_name, value)
                continue
            texts.loc[row, column] = record_value(cell_name, value, column_fmt,
                                                  mcse=per_cell(mcse, row, column),
                                                  tolerance=per_cell(tolerance, row, column))
    labels = [*map(str, values.index), *map(str, values.columns),
              *(str(n) for n in values.index.names if n is not None)]
    record_label(f"{name}[labels]", " ".join(labels))
    return texts


def entries() -> dict[str, Entry]:
    return dict(_RECORD)


def clear() -> None:
    _RECORD.clear()


def record_dir() -> Path:
    folder = Path(os.environ[RECORD_ENV]) if os.environ.get(RECORD_ENV) else paths.derived("mc")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save(notebook: str) -> Path:
    """Write this notebook's record (`<record_dir>/<notebook>.json`); the last cell of the notebook calls it."""
    path = record_dir() / f"{notebook}.json"
    payload = {"notebook": notebook, "k": K, "entries": [asdict(e) for e in _RECORD.values()]}
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    os.replace(partial, path)
    return path


def load(path: str | os.PathLike) -> dict[str, Entry]:
    payload = json.loads(Path(path).read_text())
    return {e["name"]: Entry(**{**e, "alternatives": tuple(e["alternatives"]) if e.get("alternatives") else None})
            for e in payload["entries"]}


def reference_path(notebook: str) -> Path:
    return REFERENCE_DIR / f"{notebook}.json"


# --------------------------------------------------------------------------------------------------
# Monte-Carlo standard errors
# --------------------------------------------------------------------------------------------------

def _as_chains(draws) -> np.ndarray:
    array = np.asarray(draws, dtype=float)
    return array[None, :] if array.ndim == 1 else array  # iid draws count as one chain


def mcse_quantile(draws, prob: float) -> float:
    """ArviZ's MCSE of a quantile of (chain, draw) draws (1-D: independent draws)."""
    return float(np.ravel(az.mcse(_as_chains(draws), method="quantile", prob=prob))[0])


def mcse_mean(draws) -> float:
    """ArviZ's MCSE of a mean (also of a probability, as the mean of an indicator)."""
    array = _as_chains(draws)
    if np.ptp(array) == 0:
        return 0.0
    return float(np.ravel(az.mcse(array, method="mean"))[0])


def mcse_batch(statistic: Callable[..., float], *draws, n_batches: int = 20) -> float:
    """MCSE of any statistic of one or more (chain, draw[, …]) draw arrays by batch means: each chain is cut
    into contiguous batches, the statistic is computed per batch, and MCSE = SD(batch values)/√(batches).
    For derived numbers (a ratio, a maximum gap, a product of medians) that ArviZ has no formula for."""
    arrays = [np.asarray(d, dtype=float) for d in draws]
    arrays = [a[None, ...] if a.ndim == 1 else a for a in arrays]
    chains, n_draws = arrays[0].shape[:2]
    per_chain = max(1, n_batches // chains)
    edges = np.linspace(0, n_draws, per_chain + 1).astype(int)
    values = []
    for c in range(chains):
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            values.append(statistic(*[a[c, lo:hi].reshape(hi - lo, *a.shape[2:]) for a in arrays]))
    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=1) / np.sqrt(len(values)))


# --------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    name: str
    stored: str
    new: str
    difference: float | None
    allowed: float | None
    #: |difference| / sqrt(MCSE_stored² + MCSE_new²) (None for exact entries and tolerance entries)
    z: float | None
    ok: bool


def compare_entry(stored: Entry, new: Entry | None, k: float = K) -> Comparison:
    if new is None:
        return Comparison(stored.name, stored.text, "(missing)", None, None, None, False)
    if stored.exact or stored.value is None or new.value is None:
        same = (stored.text == new.text or new.text in (stored.alternatives or ())
                or stored.text in (new.alternatives or ()))
        return Comparison(stored.name, stored.text, new.text, None, None, None, same)
    difference = new.value - stored.value
    half_unit = display_unit(stored.fmt) / 2
    if stored.tolerance is not None:
        allowed, z = max(stored.tolerance, new.tolerance or 0.0) + half_unit, None
    else:
        se = math.hypot(stored.mcse or 0.0, new.mcse or 0.0)
        allowed = k * se + half_unit
        z = abs(difference) / se if se > 0 else (0.0 if difference == 0 else math.inf)
    return Comparison(stored.name, stored.text, new.text, difference, allowed, z, abs(difference) <= allowed + 1e-12)


def compare(stored: dict[str, Entry], new: dict[str, Entry], k: float = K) -> list[Comparison]:
    """Every stored entry against the new run (a missing or extra entry fails)."""
    out = [compare_entry(entry, new.get(name), k) for name, entry in stored.items()]
    out += [Comparison(name, "(missing)", entry.text, None, None, None, False)
            for name, entry in new.items() if name not in stored]
    return out


def comparison_frame(comparisons: list[Comparison]):
    return pd.DataFrame([asdict(c) for c in comparisons]).set_index("name")


def _sanitizers(cfg: Path = SANITIZE_CFG) -> list[tuple[re.Pattern, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(cfg)
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def _output_texts(output: dict) -> list[str]:
    if output.get("output_type") == "stream":
        return ["".join(output.get("text", ""))]
    data = output.get("data", {})
    # what nbval compares: every text mime type (HTML repeats text/plain's numbers)
    return ["".join(v) if isinstance(v, list) else str(v) for key, v in data.items()
            if key.startswith("text/plain") or key.endswith("/text/plain")]


def numbers_in(text: str) -> set[str]:
    return {m.group(0).replace("−", "-").lstrip("-") for m in NUMBER.finditer(text)}


def coverage_problems(notebook: dict, record: dict[str, Entry], cfg: Path = SANITIZE_CFG) -> list[str]:
    """Numbers printed by `nbval-ignore-output` cells that no recorded entry of the same cell shows.

    `notebook`: the notebook JSON (with outputs); a cell is matched to its entries by execution count."""
    sanitizers = _sanitizers(cfg)
    covered: dict[int | None, set[str]] = {}
    for entry in record.values():
        covered.setdefault(entry.cell, set()).update(numbers_in(entry.text))
    problems = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code" or IGNORE_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        shown = set()
        for output in cell.get("outputs", []):
            for text in _output_texts(output):
                for pattern, replacement in sanitizers:
                    text = pattern.sub(replacement, text)
                shown |= numbers_in(text)
        missing = sorted(shown - covered.get(cell.get("execution_count"), set()))
        if missing:
            problems.append(f"cell {index} (execution count {cell.get('execution_count')}) shows numbers no "
                            f"recorded value covers: {', '.join(missing[:12])}")
    return problems


def reference_table(notebook: str):
    """The stored reference of `notebook` as a table for the reproduce page: each number as displayed, its
    MCSE (or tolerance) and the largest difference a re-execution may show (K·√2·MCSE + half a display unit,
    taking the new run's MCSE equal to the stored one)."""
    rows = []
    for e in load(reference_path(notebook)).values():
        if e.value is None:
            continue
        if e.exact:
            allowed = "identical"
        elif e.tolerance is not None:
            allowed = f"± {e.tolerance + display_unit(e.fmt) / 2:.3g} (stated tolerance)"
        else:
            allowed = f"± {K * math.sqrt(2) * e.mcse + display_unit(e.fmt) / 2:.3g}"
        rows.append({"number": e.name, "stored": e.text, "MCSE": e.mcse, "allowed difference": allowed})
    return pd.DataFrame(rows).set_index("number")


def update_reference(notebook: str) -> Path:
    """Copy the latest record of `notebook` to its stored reference (after re-executing it on purpose)."""
    source = record_dir() / f"{notebook}.json"
    REFERENCE_DIR.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(source, reference_path(notebook)))


def main(argv: list[str] | None = None) -> int:
    """`python -m dexmood.reproducibility update NB` stores the reference; `check NB` compares the latest record."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("update", "check"):
        print("usage: python -m dexmood.reproducibility update|check NOTEBOOK (e.g. 04_mediation)")
        return 2
    action, notebook = argv
    if action == "update":
        print(f"stored {update_reference(notebook)}")
        return 0
    frame = comparison_frame(compare(load(reference_path(notebook)), load(record_dir() / f"{notebook}.json")))
    print(frame.to_string())
    return 0 if frame["ok"].all() else 1


if __name__ == "__main__":
    raise SystemExit(main())


def reference_summary():
    """One row per notebook with a stored Monte-Carlo reference: how many displayed numbers it checks within
    their Monte-Carlo error, by a stated tolerance, or as exact text, and the median allowed difference."""
    rows = []
    for path in sorted(REFERENCE_DIR.glob("*.json")):
        entries = list(load(path).values())
        with_mcse = [e for e in entries if e.value is not None and not e.exact and e.tolerance is None]
        allowed = [K * math.sqrt(2) * e.mcse + display_unit(e.fmt) / 2 for e in with_mcse]
        rows.append({"notebook": path.stem, "within MC error": len(with_mcse),
                     "stated tolerance": sum(1 for e in entries if e.tolerance is not None),
                     "exact": sum(1 for e in entries if e.exact or e.value is None),
                     "median allowed difference": float(np.median(allowed)) if allowed else float("nan")})
    return pd.DataFrame(rows)
