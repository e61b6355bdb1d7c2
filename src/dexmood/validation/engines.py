"""Where the chunks of a simulation study run: joblib on this machine, or a Dask distributed cluster.

Both engines map one function over a list of chunks and return the results in chunk order, so the study
table never depends on the engine, the number of workers or how replicates are chunked. No scheduler is
written here: ``dask`` is `dask.distributed` (a `LocalCluster` of worker processes, or an existing
scheduler at ``tcp://host:8786``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from joblib import Parallel, delayed

from dexmood import cache
from dexmood.errors import DexmoodError

ENGINES = ("local", "dask")
#: The modules a worker must run in the same version as the client (checked before any task runs).
WORKER_CODE_MODULES = ("dexmood.validation", "dexmood.cohort", "dexmood.matching", "dexmood.mediation")


class EngineError(DexmoodError):
    """The requested engine cannot run the study (package missing, scheduler unreachable, code differs)."""


def _require_distributed():
    try:  # optional dependency: the [cluster] extra
        import distributed
    except ImportError as err:
        raise EngineError('the dask engine needs the [cluster] extra: pip install "dexmood[cluster]"') from err
    return distributed


def worker_code_key(modules: tuple[str, ...] = WORKER_CODE_MODULES) -> str:
    """Hash of the source files of `modules` (a subpackage with all its files) and of the numerical packages'
    versions, as `cache.code_key` computes it but without importing the modules (a worker stays light)."""
    digest = hashlib.sha256()
    for name in sorted(modules):
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin)
        files = sorted(origin.parent.glob("*.py")) if origin.name == "__init__.py" else [origin]
        for path in files:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    for package in cache.NUMERICAL_PACKAGES:
        try:
            digest.update(f"{package}=={importlib.metadata.version(package)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{package} absent".encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def dask_client(workers: int = 2, address: str | None = None) -> Iterator:
    """A `distributed.Client`: to the scheduler at `address`, or to a `LocalCluster` of `workers` single-threaded
    worker processes on this machine. Every worker must run the same code as this process (checked)."""
    distributed = _require_distributed()
    if address:
        try:
            client = distributed.Client(address, timeout="20s")
        except OSError as err:
            raise EngineError(f"cannot reach the Dask scheduler at {address}: {err}") from err
        cluster = None
    else:
        # spawned workers import this checkout of dexmood, not another install on the same machine
        source = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH", "")
        if source not in path.split(os.pathsep):
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (source, path) if p)
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=40)
        client = distributed.Client(cluster)
    try:
        check_workers(client)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def check_workers(client, expected: str | None = None) -> None:
    """Raise `EngineError` unless every worker has the client's code and package versions (`expected`:
    the key to compare with, by default this process's)."""
    expected = expected or worker_code_key()
    found = client.run(worker_code_key)
    different = sorted(worker for worker, key in found.items() if key != expected)
    if different:
        raise EngineError(f"{len(different)} Dask worker(s) run other dexmood code or package versions than "
                          f"this process ({', '.join(different)}); install the same version everywhere")


def map_chunks(function: Callable, chunks: list, *, engine: str = "local", n_jobs: int = 2,
               client=None, retries: int = 3) -> list:
    """``[function(chunk) for chunk in chunks]`` on the chosen engine, in chunk order.

    ``local``: joblib with `n_jobs` processes (loky). ``dask``: one task per chunk on `client`; a task whose
    worker dies is re-run elsewhere (the scheduler's rule, plus `retries`), and since a chunk is a pure
    function of its seeds, the re-run gives the same rows.
    """
    if engine == "local":
        return list(Parallel(n_jobs=n_jobs)(delayed(function)(chunk) for chunk in chunks))
    if engine != "dask":
        raise EngineError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if client is None:
        raise EngineError("the dask engine needs a client (see `dask_client`)")
    futures = client.map(function, chunks, pure=False, retries=retries)
    return client.gather(futures)
