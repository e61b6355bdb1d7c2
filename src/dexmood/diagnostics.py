"""One guard for every MCMC fit in the book: R-hat, bulk/tail ESS and divergences (fails loudly).

Thresholds (`SETTINGS.diagnostics`) follow Vehtari et al. (2021): R-hat ≤ 1.01 and ESS ≥ 400 (100 per chain for
4 chains), and no divergent transition.
"""

from __future__ import annotations

import contextlib
import logging
import warnings

import arviz as az
import numpy as np
import pandas as pd

from dexmood.errors import DiagnosticsError
from dexmood.settings import SETTINGS


def diagnostics_table(idata: az.InferenceData, var_names) -> pd.DataFrame:
    """Worst R-hat and smallest bulk/tail ESS per variable (over all its elements)."""
    var_names = list(var_names)
    rhat = az.rhat(idata, var_names=var_names)
    ess_bulk = az.ess(idata, var_names=var_names, method="bulk")
    ess_tail = az.ess(idata, var_names=var_names, method="tail")
    rows = []
    for name in var_names:
        # np.max / np.min propagate NaN (e.g. R-hat of a stuck chain), which the guard treats as failure
        rows.append({"variable": name, "max_rhat": float(np.max(rhat[name].values)),
                     "min_ess_bulk": float(np.min(ess_bulk[name].values)),
                     "min_ess_tail": float(np.min(ess_tail[name].values))})
    return pd.DataFrame(rows).set_index("variable")


def divergences(idata: az.InferenceData) -> int:
    stats = idata.sample_stats
    return int(stats["diverging"].sum()) if "diverging" in stats else 0


def check_diagnostics(idata: az.InferenceData, var_names, rhat_max: float | None = None,
                      ess_min: float | None = None, divergences_max: int | None = None) -> pd.DataFrame:
    """Raise `DiagnosticsError` unless R-hat ≤ rhat_max and bulk and tail ESS ≥ ess_min for every element
    of every variable in `var_names`, and there are at most `divergences_max` divergent transitions
    (defaults: `SETTINGS.diagnostics`).

    Returns the diagnostics table (one row per variable) when everything passes.
    """
    thresholds = SETTINGS.diagnostics
    rhat_max = thresholds.rhat_max if rhat_max is None else rhat_max
    ess_min = thresholds.ess_min if ess_min is None else ess_min
    divergences_max = thresholds.divergences_max if divergences_max is None else divergences_max
    table = diagnostics_table(idata, var_names)
    problems = []
    n_div = divergences(idata)
    if n_div > divergences_max:
        problems.append(f"{n_div} divergent transition{'s' * (n_div != 1)}")
    for name, row in table.iterrows():
        if not row["max_rhat"] <= rhat_max:  # NaN R-hat (e.g. a stuck chain) fails too
            problems.append(f"{name}: R-hat {row['max_rhat']:.3f} > {rhat_max}")
        for kind in ("bulk", "tail"):
            ess = row[f"min_ess_{kind}"]
            if not ess >= ess_min:
                problems.append(f"{name}: {kind} ESS {ess:.0f} < {ess_min:g}")
    if problems:
        raise DiagnosticsError("sampler diagnostics failed: " + "; ".join(problems))
    return table


@contextlib.contextmanager
def quiet_sampling():
    """Silence sampler chatter whose appearance depends on caches, so stored notebook outputs are the same
    cold and warm: PyMC's "Sampling: [...]" log, PyTensor's BLAS notice when a C module compiles, and the
    recoverable FusionOptimizer traceback PyTensor's graph rewriter logs while nutpie compiles a model."""
    levels = {"pymc": logging.ERROR, "pytensor": logging.ERROR, "pytensor.graph.rewriting.basic": logging.CRITICAL}
    loggers = {name: logging.getLogger(name) for name in levels}
    previous = {name: logger.level for name, logger in loggers.items()}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*BLAS.*")
        warnings.filterwarnings("ignore", message=".*Potential.*")
        for name, logger in loggers.items():
            logger.setLevel(levels[name])
        try:
            yield
        finally:
            for name, logger in loggers.items():
                logger.setLevel(previous[name])
