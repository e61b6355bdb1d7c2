"""The package's one cache for slow results (posteriors, sensitivity fits, the simulation study, MC draws).

- **Key** = the inputs (any JSON-able dict) + the source code of the modules that compute the result + the
  versions of the numerical packages. An entry is `<root>/<name>_<inputs>_<code>.<suffix>`.
- **Atomic**: written to a temporary file in the same folder, then renamed, so a notebook executing in
  parallel never reads half a file.
- **Stale entries removed**: writing `name` deletes entries of the same name made by other code/versions.
- **One location rule** (`root()`): `DEXMOOD_CACHE_DIR` if set; else, while a user's cohort is analysed
  (`DEXMOOD_COHORT`), the user cache folder (platformdirs), never the source tree; else `data/derived/`
  (the regenerable derived data of the simulated book). Results that do not depend on the analysed cohort
  (`shared=True`: the simulation study, the simulator's calibration, the case report) stay in `data/derived/`
  unless `DEXMOOD_CACHE_DIR` says otherwise, so switching the book to a user's file does not recompute them.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import os
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from dexmood import paths

CACHE_ENV = "DEXMOOD_CACHE_DIR"
#: Packages whose version changes numerical results (part of every key).
NUMERICAL_PACKAGES = ("numpy", "pandas", "scipy", "statsmodels", "scikit-learn", "pymc", "pytensor", "arviz",
                      "nutpie", "numba")


def root(shared: bool = False) -> Path:
    """The cache folder, by the one location rule of the module docstring (created on demand)."""
    if os.environ.get(CACHE_ENV):
        folder = Path(os.environ[CACHE_ENV])
    elif os.environ.get(paths.COHORT_ENV) and not shared:
        folder = Path(platformdirs.user_cache_dir("dexmood")) / "user-cohort"
    else:
        folder = paths.DERIVED
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:16]


def inputs_key(inputs: dict) -> str:
    return _digest(json.dumps(inputs, sort_keys=True, default=str).encode())


def code_key(modules: tuple[str, ...]) -> str:
    """Hash of the source files of `modules` (a subpackage counts with every file in it) and of the
    numerical packages' versions."""
    digest = hashlib.sha256()
    for name in sorted(modules):
        module = importlib.import_module(name)
        files = [Path(module.__file__)]
        if files[0].name == "__init__.py":
            files = sorted(files[0].parent.glob("*.py"))
        for path in files:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    for package in NUMERICAL_PACKAGES:
        try:
            digest.update(f"{package}=={importlib.metadata.version(package)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{package} absent".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Codec:
    """How an object is written and read back."""
    suffix: str
    save: Callable[[Any, Path], None]
    load: Callable[[Path], Any]


def _pickle_save(obj, path: Path) -> None:
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=5)


def _pickle_load(path: Path):
    with open(path, "rb") as handle:
        return pickle.load(handle)


def _netcdf_save(idata, path: Path) -> None:
    idata.to_netcdf(str(path))


def _netcdf_load(path: Path):
    import arviz as az  # heavy; only the posterior caches need it

    stored = az.from_netcdf(path)
    groups = {}
    for group in stored.groups():  # read fully into memory and release the file (it may be replaced)
        dataset = getattr(stored, group)
        groups[group] = dataset.load()
        dataset.close()
    return az.InferenceData(**groups)


#: Python objects (data frames, dicts, arrays): pickle; safe here because the key pins code and versions.
PICKLE = Codec(".pkl", _pickle_save, _pickle_load)
#: ArviZ InferenceData as netCDF.
NETCDF = Codec(".nc", _netcdf_save, _netcdf_load)


def entry_path(name: str, inputs: dict, modules: tuple[str, ...], codec: Codec = PICKLE,
               shared: bool = False) -> Path:
    return root(shared) / f"{name}_{inputs_key(inputs)}_{code_key(modules)}{codec.suffix}"


def load_or_compute(name: str, inputs: dict, compute: Callable[[], Any], *, modules: tuple[str, ...],
                    codec: Codec = PICKLE, enabled: bool = True, shared: bool = False) -> Any:
    """Return the cached result of `compute()` for (`name`, `inputs`, code of `modules`), computing and
    storing it on a miss. `enabled=False` computes without reading or writing."""
    if not enabled:
        return compute()
    path = entry_path(name, inputs, modules, codec, shared)
    if path.exists():
        return codec.load(path)
    result = compute()
    store(path, result, codec)
    return result


def store(path: Path, obj, codec: Codec = PICKLE) -> Path:
    """Write atomically, then remove entries of the same name made by other code or package versions."""
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".partial")
    os.close(handle)
    try:
        codec.save(obj, Path(partial))
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    name, _inputs, code = path.stem.rsplit("_", 2)
    for old in path.parent.glob(f"{name}_*{path.suffix}"):
        parts = old.stem.rsplit("_", 2)
        if len(parts) == 3 and parts[0] == name and parts[2] != code:
            old.unlink(missing_ok=True)
    return path
