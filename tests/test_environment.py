"""The environment files agree: requirements.lock (pip, hashed), environment.yml (conda-forge), pyproject.toml.

Another Python: the package declares `requires-python` wider than the lock's 3.11. To try one,
`python3.12 -m venv /tmp/venv312 && /tmp/venv312/bin/pip install -r requirements.lock` (every pin has wheels for
3.11-3.13, and the hashes cover them), then `PYTHONPATH=src /tmp/venv312/bin/pytest -q tests --ignore=tests/book`.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
import tomllib

import pytest

from dexmood import paths

ROOT = paths.PROJECT_ROOT


def _tool(name):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _lock_pins():
    return _tool("environment_yml").lock_pins(ROOT / "requirements.lock")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_is_generated_from_the_lock_file():
    env = _tool("environment_yml")
    text = (ROOT / "environment.yml").read_text()
    assert text == env.render(_lock_pins()), "environment.yml is stale: run `python tools/environment_yml.py`"
    conda, pip = env.parse(text)
    assert "python=3.11" in conda and "conda-forge" in text
    # every lock pin appears once, at the same version, from conda-forge unless conda-forge lacks it
    pinned = {env.normalize(n): v for n, v in _lock_pins()}
    conda_versions = {spec.split("=")[0]: spec.split("=")[1] for spec in conda if "=" in spec}
    pip_versions = {env.normalize(spec.split("==")[0]): spec.split("==")[1] for spec in pip if "==" in spec}
    for name, version in pinned.items():
        conda_name = env.CONDA_NAMES.get(name, name)
        assert conda_versions.get(conda_name, pip_versions.get(name)) == version, name
    assert set(pip_versions) == {n for n in pinned if n in env.PIP_ONLY}
    for compiled in ("numpy", "scipy", "numba", "llvmlite", "pytensor", "pyarrow", "nutpie", "h5py"):
        assert compiled in conda_versions, f"{compiled} should come from conda-forge"


def test_every_pin_is_exact_and_the_lock_is_sorted():
    pins = _lock_pins()
    assert pins and len({n.lower() for n, _ in pins}) == len(pins)
    # pip-compile's layout: sorted entries, then the "unsafe" build tools (pip, setuptools, wheel) at the end
    main = (ROOT / "requirements.lock").read_text().split("# The following packages are considered to be unsafe")[0]
    names = [n.lower() for n, _ in pins if re.search(rf"^{re.escape(n)}==", main, re.M)]
    assert names == sorted(names), "keep requirements.lock sorted (one pin per entry), as `make lock` writes it"


def test_the_lock_records_its_recipe():
    """`make lock` (pip-compile --generate-hashes) regenerates it; with hashes, pip verifies every download."""
    text = (ROOT / "requirements.lock").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lock:", makefile, re.M) and "--generate-hashes" in makefile
    if "--hash=sha256:" in text:
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n\n", 1)[-1].strip())
        unhashed = [b.split()[0] for b in blocks if "==" in b and "--hash=sha256:" not in b]
        assert not unhashed, f"pins without a hash: {unhashed}"
        assert "make lock" in text.split("\n\n", 1)[0], "the header should name the command that made it"
    else:
        pytest.xfail("requirements.lock has no hashes yet: run `make lock` (needs the package index)")


def test_requirements_in_pins_are_in_the_lock():
    locked = {n.lower().replace("_", "-"): v for n, v in _lock_pins()}
    for line in (ROOT / "requirements.in").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        key = name.lower().replace("_", "-")
        assert key in locked, f"{name} is in requirements.in but not in the lock"
        if version:
            assert locked[key] == version, name


def _imports(files, top_level_only=False):
    found = set()
    for file in files:
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in (tree.body if top_level_only else ast.walk(tree)):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"dexmood", "conftest"}


def _distributions(modules):
    mapping = importlib.metadata.packages_distributions()
    return {modules_dist.lower().replace("_", "-") for m in modules for modules_dist in mapping.get(m, [m])}


def _declared(*extras):
    project = _pyproject()["project"]
    names = list(project["dependencies"])
    for extra in extras:
        names += project["optional-dependencies"][extra]
    return {re.split(r"[<>=\[; ]", n)[0].lower().replace("_", "-") for n in names}


def test_every_imported_package_is_declared():
    sources = list((ROOT / "src" / "dexmood").rglob("*.py"))
    package = _distributions(_imports(sources, top_level_only=True))
    assert package <= _declared(), f"imported by src/dexmood but not in [project] dependencies: " \
                                   f"{sorted(package - _declared())}"
    # imported inside a function (notebook helpers such as myst_nb.glue; the Dask engine): in an extra
    lazy = _distributions(_imports(sources))
    extras = _declared("book", "cluster")
    assert lazy <= extras, f"imported by src/dexmood in no extra: {sorted(lazy - extras)}"
    tooling = _distributions(_imports([*(ROOT / "tests").rglob("*.py"), *(ROOT / "_ext").glob("*.py"),
                                       *(ROOT / "tools").glob("*.py")]))
    local = {path.stem.replace("_", "-") for path in (ROOT / "tests").rglob("*.py")}  # test helpers (other_generator)
    missing = tooling - _declared("book", "test") - {"dexmood"} - local
    assert not missing, f"imported by tests/_ext/tools but in no extra: {sorted(missing)}"


def test_python_range_includes_the_lock_python():
    spec = _pyproject()["project"]["requires-python"]
    assert ">=3.11" in spec and "<3.12" not in spec
    assert "python=3.11" in (ROOT / "environment.yml").read_text()
    assert set(_pyproject()["project"]["optional-dependencies"]) >= {"book", "test", "cluster"}


def test_private_data_is_ignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in ("data/private/", "data/derived/", ".venv/", "_build/"):
        assert entry in ignored


def test_environment_line_counts_pins_and_matches():
    import pandas as pd

    from dexmood import reproduce

    table = pd.DataFrame({"package": ["a", "b", "c"], "pinned": ["1", "2", "3"], "running": ["1", "9", "3"]})
    table["matches"] = table["pinned"] == table["running"]
    line = reproduce.environment_line(table)
    assert line == f"Python {reproduce.python_version()}; 3 pinned packages, 2 running at the pinned version"
    assert reproduce.environment_line(table.iloc[:0]).endswith("0 pinned packages, 0 running at the pinned version")
