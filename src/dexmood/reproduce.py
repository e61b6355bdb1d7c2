"""What a reviewer needs to re-run the book: environment, data checksums, what nbval compares."""

from __future__ import annotations

import configparser
import hashlib
import importlib.metadata
import platform
import subprocess

import pandas as pd

from dexmood import paths


def environment_table() -> pd.DataFrame:
    """Pinned versions (requirements.lock) next to the versions that executed this page."""
    rows = []
    for line in (paths.PROJECT_ROOT / "requirements.lock").read_text().splitlines():
        if "==" not in line:
            continue
        name, pinned = line.strip().split("==", 1)
        try:
            running = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            running = "not installed"
        rows.append({"package": name, "pinned": pinned, "running": running})
    table = pd.DataFrame(rows)
    table["matches"] = table["pinned"] == table["running"]
    return table


def key_packages(table: pd.DataFrame) -> pd.DataFrame:
    keep = ["jupyter-book", "sphinx", "myst-nb", "numpy", "pandas", "scipy", "statsmodels", "scikit-learn",
            "pymc", "pytensor", "arviz", "nutpie", "numba", "matplotlib", "seaborn", "pandera", "nbval"]
    return table[table["package"].str.lower().isin(keep)].reset_index(drop=True)


def python_version() -> str:
    return platform.python_version()


def environment_line(table: pd.DataFrame) -> str:
    """'Python <version>; <n> pinned packages, <m> running at the pinned version' (from `environment_table`)."""
    return (f"Python {python_version()}; {len(table)} pinned packages, "
            f"{int(table.matches.sum())} running at the pinned version")


def tracked_data_files() -> list[str]:
    """Data files under version control (what a reviewer's clone contains)."""
    try:
        out = subprocess.run(["git", "ls-files", "data"], cwd=paths.PROJECT_ROOT, capture_output=True,
                             text=True, check=True).stdout
        files = [line for line in out.splitlines() if line and not line.endswith((".md", ".R", ".py"))]
    except (OSError, subprocess.CalledProcessError):
        files = []
    if not files:  # not a git checkout (e.g. an unpacked archive): fall back to the folder listing
        files = sorted(str(p.relative_to(paths.PROJECT_ROOT)) for p in paths.DATA.rglob("*")
                       if p.is_file() and "derived" not in p.parts and "private" not in p.parts
                       and p.suffix not in {".md", ".R", ".py"})
    return sorted(files)


def checksums(files: list[str]) -> pd.DataFrame:
    rows = []
    for name in files:
        path = paths.PROJECT_ROOT / name
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rows.append({"file": name, "bytes": path.stat().st_size, "sha256": digest[:16] + "…"})
    return pd.DataFrame(rows)


def sanitizer_rules() -> pd.DataFrame:
    """The nbval sanitizer: which volatile text is replaced before outputs are compared."""
    parser = configparser.ConfigParser()
    parser.read(paths.PROJECT_ROOT / "tests" / "nbval_sanitize.cfg")
    return pd.DataFrame([{"rule": section, "pattern": parser[section]["regex"],
                          "replaced by": parser[section]["replace"]} for section in parser.sections()])
