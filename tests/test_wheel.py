"""`pip install .` works without the repository: the built wheel carries its data and runs the CLI.

Builds the wheel from a copy of the sources (so no build folder lands in the checkout), installs it without
dependencies into a temporary target and runs `simulate` and `validate` from there, with PYTHONPATH pointing
at the target, not at `src/`, and the working directory outside the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dexmood import paths

pytestmark = pytest.mark.skipif(paths.SOURCE_ROOT is None, reason="needs the source checkout to build from")

IGNORED = shutil.ignore_patterns("__pycache__", "*.egg-info", "derived", "private", ".ipynb_checkpoints")


def _copy_sources(dest: Path) -> Path:
    root = paths.SOURCE_ROOT
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, dest / name)
    shutil.copytree(root / "src", dest / "src", symlinks=True, ignore=IGNORED)
    shutil.copytree(root / "data", dest / "data", ignore=IGNORED)
    return dest


def _run(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict, Path]:
    work = tmp_path_factory.mktemp("wheel")
    sources = _copy_sources(work / "sources")
    wheels = work / "wheels"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DEXMOOD_COHORT", "DEXMOOD_CACHE_DIR")}
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                  "--disable-pip-version-check", "-q", "-w", str(wheels), str(sources)], env, work)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("dexmood-*.whl")
    target = work / "site"
    done = _run([sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", "-q",
                 "--target", str(target), str(wheel)], env, work)
    assert done.returncode == 0, done.stderr
    run_env = {**env, "PYTHONPATH": str(target), "XDG_CACHE_HOME": str(work / "cache"),
               "XDG_DATA_HOME": str(work / "data-home")}
    return wheel, run_env, work


def test_wheel_carries_the_package_data(installed):
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for relative in ("published.json", "cohort_truth.json", "case_report/pain.csv", "trial/results.csv"):
        assert f"dexmood/data/{relative}" in names, f"{relative} is not in the wheel"
    assert not any("/derived/" in n or "/private/" in n for n in names)


def test_installed_package_finds_its_data_outside_the_checkout(installed):
    _, env, work = installed
    code = ("import dexmood, dexmood.paths as p, dexmood.cohort as c;"
            "print(dexmood.__file__); print(p.INSTALLED); print(p.DATA); print(p.DERIVED);"
            "print(sorted(c.published()))")
    out = _run([sys.executable, "-c", code], env, work)
    assert out.returncode == 0, out.stderr
    module_file, installed_flag, data, derived, published = out.stdout.splitlines()
    site = str(work / "site")
    assert module_file.startswith(site), "the test imported the checkout, not the installed wheel"
    assert installed_flag == "True"
    assert data.startswith(site) and Path(data, "published.json").is_file()
    assert not derived.startswith(site) and derived.startswith(str(work / "cache")), "derived data in site-packages"
    assert "ren2025_cohort" in published


def test_installed_cli_simulates_and_validates(installed):
    _, env, work = installed
    csv = work / "simulated.csv"
    simulated = _run([sys.executable, "-m", "dexmood", "simulate", "--out", str(csv)], env, work)
    assert simulated.returncode == 0, simulated.stderr
    assert csv.is_file() and "SIMULATED" in simulated.stdout
    validated = _run([sys.executable, "-m", "dexmood", "validate", "--cohort", str(csv)], env, work)
    assert validated.returncode == 0, validated.stderr
    assert "valid cohort" in validated.stdout
    assert "Traceback" not in simulated.stderr + validated.stderr
