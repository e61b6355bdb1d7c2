"""Write the alt text of every figure (tools/figure_alt.yml) into the notebooks' cell metadata.

myst-nb reads `mystnb.image.alt` from a cell's metadata and puts it on the figure's <img> (a screen reader
reads it; the caption is shown to everyone). This tool sets that key on each cell whose `mystnb.figure.name` is
in the YAML file; it changes only that metadata (no code, no outputs) and is idempotent.
Usage: python tools/figure_alt.py [--check] [notebooks ...]   (--check: exit 1 if a figure lacks its text)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ALT_TEXTS = Path(__file__).with_name("figure_alt.yml")


def figure_cells(notebook: dict):
    for cell in notebook["cells"]:
        figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
        if cell["cell_type"] == "code" and figure.get("name"):
            yield figure["name"], cell


def apply(path: Path, texts: dict[str, str], write: bool = True) -> tuple[list[str], list[str]]:
    """(changed figure names, figures without a text) for one notebook."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    changed, missing = [], []
    for name, cell in figure_cells(notebook):
        text = " ".join(str(texts.get(name, "")).split())
        if not text:
            missing.append(name)
            continue
        image = cell["metadata"]["mystnb"].setdefault("image", {})
        if image.get("alt") != text:
            image["alt"] = text
            changed.append(name)
    if changed and write:
        path.write_text(json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed, missing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    texts = yaml.safe_load(ALT_TEXTS.read_text(encoding="utf-8"))
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    pending, missing, seen = [], [], set()
    for path in notebooks:
        changed, lacking = apply(path, texts, write=not args.check)
        pending += [f"{path.name}: {n}" for n in changed]
        missing += [f"{path.name}: {n}" for n in lacking]
        seen |= {n for n, _ in figure_cells(json.loads(path.read_text(encoding="utf-8")))}
    unused = sorted(set(texts) - seen)
    print(f"{'needs' if args.check else 'wrote'} alt text: {len(pending)}; without a text in figure_alt.yml: "
          f"{len(missing)}; texts for no figure: {len(unused)}")
    for line in missing:
        print(f"  missing: {line}")
    for name in unused:
        print(f"  unused: {name}")
    return 1 if (missing or (args.check and pending)) else 0


if __name__ == "__main__":
    sys.exit(main())
