"""Tag the notebooks' plumbing cells so that the rendered book shows the analysis, not the wiring.

Usage (from the repository root; idempotent, only cell tags change, never code or outputs):

    python tools/reader_view.py                 # tag every notebook in notebooks/
    python tools/reader_view.py --check         # exit 1 and list the cells whose tags differ from the rule
    python tools/reader_view.py notebooks/02_matching.ipynb ...

The rule (deterministic: it reads only a cell's code). Every top-level statement of a code cell is one of
  plumbing  an import; a seed (`RANDOM_SEED = ...`, `rng = np.random.default_rng(...)`, `SEED`, `*_SEED`);
            a display option or notebook set-up (`book.setup_notebook()`, `plots.set_theme()`,
            `pd.set_option(...)`, `warnings.*(...)`, `plt.rcParams...`, `%matplotlib`/`%config` magics);
            a glue (`book.glue_value(...)`, `glue(...)`, alone or assigned, e.g. `_ = book.glue_value(...)`)
  versions  `print(book.versions())`
  quiet     an assignment, `assert` or `del` that calls no function of a dexmood stage module imported by the
            notebook (e.g. `n_dex = int((frame["group"] == "DEX").sum())`, `summary = matched.summary`)
  analysis  anything else (a call of a stage function, a displayed value, a print, a plot)
and the cell gets, first match wins:
  1. only plumbing, or glue with only plumbing and quiet statements (it computes numbers for the text and
     shows nothing)                                 -> `remove-cell`  (not on the page at all)
  2. only `versions` (and plumbing)                 -> `remove-input` (the versions are shown, not the call)
  3. plumbing mixed with analysis (set-up cells, and analysis cells that also glue, at any depth) -> `hide-input`
     (collapsed behind a "Show code" toggle; a glue call is never visible. Better: split such a cell into an
     analysis cell and a glue-only cell; `--check` lists them)
  4. more than LONG_CELL_LINES non-blank lines      -> `hide-input`  (long analysis cell, collapsed)
  5. otherwise                                      -> no tag        (short analysis code stays visible)
The tool owns only the tags `remove-cell`, `remove-input` and `hide-input`; it keeps every other tag. A cell
tagged `reader-view-manual` is left exactly as it is (for the rare cell whose author knows better).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LONG_CELL_LINES = 15
MANAGED_TAGS = ("remove-cell", "remove-input", "hide-input")
MANUAL_TAG = "reader-view-manual"

SEED_NAME = re.compile(r"^(RANDOM_SEED|SEED|[A-Z_]*_SEED|rng|RNG)$")
SETUP_CALLS = {"book.setup_notebook", "setup_notebook", "mc.save", "reproducibility.save", "plots.set_theme", "set_theme", "pd.set_option",
               "pandas.set_option", "np.set_printoptions", "numpy.set_printoptions", "sns.set_theme",
               "az.style.use", "plt.style.use", "mpl.rcParams.update", "plt.rcParams.update",
               "matplotlib.rcParams.update", "logging.getLogger", "logging.basicConfig"}
SETUP_PREFIXES = ("warnings.",)
GLUE_CALLS = {"book.glue_value", "glue_value", "glue", "myst_nb.glue", "book.glue", "book.glue_all", "glue_all",
              "report.glue", "page.glue_page", "summary.glue_findings"}
SEED_CALLS = {"np.random.default_rng", "numpy.random.default_rng", "np.random.seed", "random.seed"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    return ""


def _call_name(node: ast.AST) -> str:
    return _dotted(node.func) if isinstance(node, ast.Call) else ""


def _calls_stage(node: ast.AST, stage_modules: frozenset[str]) -> bool:
    return any(isinstance(n, ast.Call) and _dotted(n.func).split(".")[0] in stage_modules for n in ast.walk(node))


def stage_modules_of(sources: list[str]) -> frozenset[str]:
    """Names under which a notebook imports dexmood modules other than `book` (`from dexmood import x as y`)."""
    names = set()
    for source in sources:
        try:
            tree = ast.parse(_code_without_magics(source)[0])
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dexmood"):
                names |= {a.asname or a.name for a in node.names if a.name != "book"}
            elif isinstance(node, ast.Import):
                names |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("dexmood.")}
    return frozenset(names)


def statement_kind(stmt: ast.stmt, stage_modules: frozenset[str] = frozenset()) -> str:
    """'plumbing', 'versions', 'quiet' or 'analysis' for one top-level statement."""
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return "plumbing"
    value = stmt.value if isinstance(stmt, ast.Expr | ast.Assign | ast.AnnAssign) else None
    if isinstance(stmt, ast.Assign | ast.AnnAssign):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        subscripts = [_dotted(t.value) for t in targets if isinstance(t, ast.Subscript)]
        if names and all(SEED_NAME.match(n) for n in names):
            if isinstance(value, ast.Constant) or _call_name(value) in SEED_CALLS or "seed" in ast.unparse(value):
                return "plumbing"
        if subscripts and all(s.endswith("rcParams") for s in subscripts):
            return "plumbing"
        if names == ["_"] and _call_name(value) in GLUE_CALLS:
            return "plumbing"
    if isinstance(stmt, ast.Expr):
        name = _call_name(value)
        if name in GLUE_CALLS or name in SETUP_CALLS or name in SEED_CALLS or name.startswith(SETUP_PREFIXES):
            return "plumbing"
        if name == "print" and value.args and _call_name(value.args[0]).endswith("versions"):
            return "versions"
    if isinstance(stmt, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Assert | ast.Delete | ast.Pass):
        if not _calls_stage(stmt, stage_modules):
            return "quiet"
    return "analysis"


@dataclass(frozen=True)
class Decision:
    tag: str | None
    reason: str
    mixed_glue: bool = False


def _code_without_magics(source: str) -> tuple[str, int]:
    """The cell's Python (IPython magics and shell lines removed) and the number of magic lines."""
    kept, magics = [], 0
    for line in source.splitlines():
        if line.lstrip().startswith(("%", "!")):
            magics += 1
            kept.append("")
        else:
            kept.append(line)
    return "\n".join(kept), magics


def decide(source: str, stage_modules: frozenset[str] = frozenset()) -> Decision:
    """The reader-view tag of one code cell (see the module docstring)."""
    code, magics = _code_without_magics(source)
    lines = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return Decision("remove-cell", "empty")
    try:
        statements = ast.parse(code).body
    except SyntaxError:
        return Decision(None, "not Python; left visible")
    kinds = [statement_kind(s, stage_modules) for s in statements]
    has_glue = any(_call_name(n) in GLUE_CALLS for s in statements for n in ast.walk(s))
    if all(k == "plumbing" for k in kinds) or (has_glue and set(kinds) <= {"plumbing", "quiet"}):
        return Decision("remove-cell", "plumbing only (imports, seeds, display options, glue)")
    if "analysis" not in kinds and "versions" in kinds:
        return Decision("remove-input", "versions cell")
    if has_glue:
        return Decision("hide-input", "glue mixed with analysis", mixed_glue=True)
    if "plumbing" in kinds:
        return Decision("hide-input", "set-up cell")
    if len(lines) > LONG_CELL_LINES:
        return Decision("hide-input", f"long analysis cell ({len(lines)} lines)")
    return Decision(None, "analysis")


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def tagged(cell: dict, stage_modules: frozenset[str] = frozenset()) -> list[str]:
    """The cell's tags after applying the rule (other tags kept, in their order)."""
    tags = list(cell.get("metadata", {}).get("tags", []))
    if cell.get("cell_type") != "code" or MANUAL_TAG in tags:
        return tags
    decision = decide(_source(cell), stage_modules)
    tags = [t for t in tags if t not in MANAGED_TAGS]
    return [*tags, decision.tag] if decision.tag else tags


def apply(path: Path, write: bool = True) -> list[str]:
    """Tag one notebook; returns a line per cell whose tags changed (empty when already tagged)."""
    text = path.read_text(encoding="utf-8")
    notebook = json.loads(text)
    modules = stage_modules_of([_source(c) for c in notebook["cells"] if c.get("cell_type") == "code"])
    changes = []
    for number, cell in enumerate(notebook["cells"], start=1):
        before = list(cell.get("metadata", {}).get("tags", []))
        after = tagged(cell, modules)
        if after != before:
            changes.append(f"{path.name} cell {number}: {before} -> {after}")
            metadata = cell.setdefault("metadata", {})
            if after:
                metadata["tags"] = after
            else:
                metadata.pop("tags", None)
    if changes and write:
        # The same layout as nbformat/Jupyter (indent 1, sorted keys), so the diff is only the tags.
        path.write_text(json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return changes


def cells_to_split(path: Path) -> list[str]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    modules = stage_modules_of([_source(c) for c in notebook["cells"] if c.get("cell_type") == "code"])
    return [f"{path.name} cell {n}" for n, cell in enumerate(notebook["cells"], start=1)
            if cell.get("cell_type") == "code" and decide(_source(cell), modules).mixed_glue]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a tag differs")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    changes = [line for path in notebooks for line in apply(path, write=not args.check)]
    for line in changes:
        print(("needs " if args.check else "tagged ") + line)
    split = [line for path in notebooks for line in cells_to_split(path)]
    if split:
        print(f"{len(split)} cell(s) mix glue with analysis (collapsed; consider splitting): " + ", ".join(split))
    if args.check:
        return 1 if changes else 0
    print(f"{len(changes)} cell(s) re-tagged in {len(notebooks)} notebook(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
