"""Sampling: the sampler settings and `MediationModel`, compiled once (nutpie) and re-used with new data."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from dexmood import cohort, diagnostics, matching
from dexmood.mediation._common import OBSERVED, PARAMETERS
from dexmood.mediation.data import MediationData, prepare_data
from dexmood.mediation.model import Priors, _rho_vector, build_model
from dexmood.settings import SETTINGS, SamplerConfig, Settings

try:  # optional at run time: without nutpie every fit falls back to PyMC's own sampler
    import nutpie

    from dexmood.mediation import compiled
except ImportError:
    nutpie = compiled = None


@dataclass
class SamplerSettings:
    """Compatibility form of `SETTINGS.sampler` + `SETTINGS.seed` (new code passes a `Settings`)."""
    draws: int = SETTINGS.sampler.draws
    tune: int = SETTINGS.sampler.tune
    chains: int = SETTINGS.sampler.chains
    seed: int = SETTINGS.seed
    sampler: str = SETTINGS.sampler.sampler  # "nutpie" or "pymc"
    cores: int | None = None  # PyMC's sampler only; None = PyMC's default (it does not change the draws)

    def key(self) -> dict:
        """What changes the draws (cores do not): part of every posterior's cache key."""
        return {k: v for k, v in asdict(self).items() if k != "cores"}

    @classmethod
    def from_settings(cls, settings: Settings | SamplerSettings | None = None) -> SamplerSettings:
        """The sampler part of a `Settings` (default: the book's `SETTINGS`)."""
        if isinstance(settings, SamplerSettings):
            return settings
        settings = settings or SETTINGS
        config: SamplerConfig = settings.sampler
        return cls(draws=config.draws, tune=config.tune, chains=config.chains, seed=settings.seed,
                   sampler=config.sampler)


#: Silence cache-dependent sampler chatter (see `dexmood.diagnostics.quiet_sampling`).
quiet = diagnostics.quiet_sampling


def warm_compile_cache() -> float:
    """Compile the notebook-04 model once so that PyTensor's on-disk compile cache holds it; returns seconds.

    For speed only: every later process loads the compiled C/numba modules and nutpie's two callbacks
    (`dexmood.mediation.compiled`) instead of compiling them (≈ 3.5 s instead of ≈ 15 s). Measured here: the
    first nutpie compile on an empty cache can give a (valid) logp function whose floating-point rounding differs
    from a later one (PyTensor's rewrites run in an order that varies between processes), so that first process
    may sample other draws — as any other CPU does. Monte-Carlo outputs are therefore checked within their
    Monte-Carlo error (`dexmood.reproducibility`), not bit for bit.
    """
    data = prepare_data(cohort.add_changes(matching.default_match(cohort.simulate()).data), weights="weights")
    if not nutpie_available():
        return 0.0
    return MediationModel(data)._compile()


def nutpie_available() -> bool:
    return nutpie is not None


@dataclass
class MediationModel:
    """A model built once; data and ρ are swapped in with `set_data` (no recompilation with nutpie)."""

    data: MediationData
    priors: Priors = field(default_factory=Priors)
    mediator_outcome_rho: object = None
    sampler: str = "auto"

    def __post_init__(self):
        self.model = build_model(self.data, self.priors, mediator_outcome_rho=self.mediator_outcome_rho)
        if self.sampler == "auto":
            self.sampler = "nutpie" if nutpie_available() else "pymc"
        self._compiled = None
        self.compile_seconds: float | None = None

    def _data_values(self) -> dict[str, np.ndarray]:
        return {"dex": self.data.dex, "covariates": self.data.covariates, "mediator": self.data.mediator,
                "outcomes": self.data.outcomes,
                "inverse_root_weights": 1.0 / np.sqrt(self.data.weights),
                "mediator_center": np.asarray(self.data.mediator_center),
                "extra_weight": np.asarray(self.data.extra_weight),
                "mediator_outcome_rho": _rho_vector(self.mediator_outcome_rho)}

    def set_data(self, data: MediationData | None = None, *, mediator_outcome_rho="unchanged") -> None:
        """Swap in another sample (same covariate columns) and/or another sensitivity ρ."""
        if data is not None:
            if data.covariate_columns != self.data.covariate_columns:
                raise ValueError("new data must have the same covariate columns; pass encoding=... to "
                                 "prepare_data")
            self.data = data
        if not (isinstance(mediator_outcome_rho, str) and mediator_outcome_rho == "unchanged"):
            self.mediator_outcome_rho = mediator_outcome_rho
        values = self._data_values()
        with self.model:
            pm.set_data(values)
        if self._compiled is not None:
            self._compiled = self._compiled.with_data(**values)

    def _compile(self) -> float:
        """Compile once (nutpie, numba backend; its callbacks from the on-disk cache when there, see
        `dexmood.mediation.compiled`); returns the seconds spent now (0 when already compiled)."""
        if self._compiled is not None:
            return 0.0
        start = time.perf_counter()
        with quiet():
            self._compiled = compiled.compile_model(self.model).with_data(**self._data_values())
        self.compile_seconds = time.perf_counter() - start
        return self.compile_seconds

    def sample_posterior(self, settings: SamplerSettings, cores: int | None = None) -> az.InferenceData:
        """NUTS draws (nutpie if available, else PyMC's sampler); timings stored in `posterior.attrs`.

        `cores` is passed to `pm.sample` (None = PyMC's default); it does not change the draws."""
        if settings.sampler == "nutpie" and self.sampler == "nutpie":
            compile_seconds = self._compile()
            start = time.perf_counter()
            idata = nutpie.sample(self._compiled, draws=settings.draws, tune=settings.tune,
                                  chains=settings.chains, seed=settings.seed, progress_bar=False,
                                  save_warmup=False)
            sampling = time.perf_counter() - start
        else:
            start = time.perf_counter()
            with self.model, quiet():
                idata = pm.sample(draws=settings.draws, tune=settings.tune, chains=settings.chains,
                                  random_seed=settings.seed, progressbar=False, compute_convergence_checks=False,
                                  **({"cores": cores} if cores else {}))
            total = time.perf_counter() - start
            sampling = float(idata.posterior.attrs.get("sampling_time", total))
            compile_seconds = total - sampling
        # keep the draws and sampler statistics only; `fit` adds the data groups the same way for both samplers
        idata = az.InferenceData(posterior=idata.posterior, sample_stats=idata.sample_stats)
        idata.posterior.attrs.update({"compile_seconds": float(compile_seconds),
                                      "sampling_seconds": float(sampling),
                                      "sampler": settings.sampler if self.sampler == settings.sampler
                                      else self.sampler})
        return idata

    def sample_prior_predictive(self, draws: int, seed: int) -> az.InferenceData:
        with self.model, quiet():
            return pm.sample_prior_predictive(draws=draws, random_seed=seed,
                                              var_names=[*OBSERVED.values(), *PARAMETERS])

    def sample_posterior_predictive(self, idata: az.InferenceData, seed: int) -> xr.Dataset:
        with self.model, quiet():
            predictive = pm.sample_posterior_predictive(idata, var_names=list(OBSERVED.values()),
                                                        random_seed=seed, progressbar=False)
        return predictive.posterior_predictive
