"""Write `environment.yml` (conda-forge) from `requirements.lock`: the same versions, conda-forge-native.

Every pinned package comes from conda-forge under its conda-forge name (the compiled stack, numpy, scipy,
numba/llvmlite, pytensor, pymc, nutpie, pyarrow, h5py ..., built against conda-forge's own libraries), at the
version of the lock file; pip installs only what conda-forge lacks (`PIP_ONLY`) and the package itself.
`make lock` runs this after regenerating the lock; tests/test_environment.py checks the two agree.
Usage: python tools/environment_yml.py [--check]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = "3.11"

#: PyPI name (lower-case, "_" -> "-") -> conda-forge name, where they differ.
CONDA_NAMES = {
    "matplotlib": "matplotlib-base",  # without the Qt backend
    "pymc": "pymc-base",  # without a compiler toolchain; the book samples with nutpie/numba
    "tzdata": "python-tzdata",
    "fastjsonschema": "python-fastjsonschema",
    "stack-data": "stack_data",
    "pure-eval": "pure_eval",
    "typing-extensions": "typing_extensions",
    "jupyter-client": "jupyter_client",
    "jupyter-core": "jupyter_core",
    "mypy-extensions": "mypy_extensions",
    "interface-meta": "interface_meta",
    "pandera": "pandera-base",
}
#: Not on conda-forge (or not at the locked version): installed by pip inside the conda environment.
PIP_ONLY = {"sphinx-mathjax-offline", "lazy-importer", "nest-asyncio2", "playwright"}

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(lock: Path = ROOT / "requirements.lock") -> list[tuple[str, str]]:
    """(name, version) of every pin in the lock file (plain pins or pip-compile's hashed format)."""
    pins = []
    for line in lock.read_text().splitlines():
        match = _PIN.match(line.strip())
        if match and not line.startswith((" ", "\t", "#")):
            pins.append((match.group(1), match.group(2)))
    return pins


def render(pins: list[tuple[str, str]]) -> str:
    conda, pip = [], []
    for name, version in sorted(pins, key=lambda p: normalize(p[0])):
        key = normalize(name)
        if key in PIP_ONLY:
            pip.append(f"{name}=={version}")
        else:
            conda.append(f"{CONDA_NAMES.get(key, key)}={version}")
    lines = ["# Conda users: `conda env create -f environment.yml`. Generated from requirements.lock by",
             "# tools/environment_yml.py (`make lock`); tests/test_environment.py checks the two stay in sync.",
             "# The compiled stack comes from conda-forge at the lock file's versions; pip only for what",
             "# conda-forge lacks, and the package itself.",
             "name: dexmood", "channels:", "  - conda-forge", "  - nodefaults", "dependencies:",
             f"  - python={PYTHON}", "  - pip"]
    lines += [f"  - {spec}" for spec in conda]
    lines += ["  - pip:"] + [f"      - {spec}" for spec in pip] + ["      - -e ."]
    return "\n".join(lines) + "\n"


def parse(text: str) -> tuple[list[str], list[str]]:
    """(conda specs, pip specs) of an environment.yml written by `render`."""
    conda = [line[4:] for line in text.splitlines() if line.startswith("  - ") and line[4:] != "pip:"]
    pip = [line[8:] for line in text.splitlines() if line.startswith("      - ")]
    return conda, pip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if environment.yml is out of date")
    args = parser.parse_args(argv)
    target = ROOT / "environment.yml"
    text = render(lock_pins())
    if args.check:
        if target.read_text() != text:
            print("environment.yml is out of date: run `python tools/environment_yml.py`")
            return 1
        return 0
    target.write_text(text)
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
