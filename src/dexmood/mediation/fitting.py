"""`fit`: posterior, predictive draws and estimands, cached as netCDF; the matched and weighted fits."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import arviz as az
import pandas as pd
import xarray as xr

from dexmood import cache, matching
from dexmood.cohort import add_changes
from dexmood.mediation._common import MODEL_VERSION, OBSERVED, OUTCOMES, TREATMENT
from dexmood.mediation.data import (
    CovariateEncoding,
    MediationData,
    att_odds_weights,
    prepare_data,
    prepare_matched,
)
from dexmood.mediation.estimands import add_effects
from dexmood.mediation.model import Priors, _rho_vector
from dexmood.mediation.sampler import MediationModel, SamplerSettings, nutpie_available
from dexmood.settings import SETTINGS, Settings


def cache_inputs(data: MediationData, priors: Priors, settings: SamplerSettings, mediator_outcome_rho,
                 prior_draws: int) -> dict:
    """What a cached posterior depends on besides the code (the `dexmood.cache` key)."""
    return {"version": MODEL_VERSION, "data": data.fingerprint(), "priors": asdict(priors),
            "settings": settings.key(), "rho": _rho_vector(mediator_outcome_rho).tolist(), "prior_draws": prior_draws}


def cache_key(data: MediationData, priors: Priors, settings: SamplerSettings, mediator_outcome_rho,
              prior_draws: int = 500) -> str:
    return cache.inputs_key(cache_inputs(data, priors, settings, mediator_outcome_rho, prior_draws))


def fit(data: MediationData, *, settings: Settings | SamplerSettings | None = None, priors: Priors | None = None,
        mediator_outcome_rho=None, model: MediationModel | None = None, label: str = "mediation",
        cache_results: bool = True, prior_draws: int = 500, cores: int | None = None,
        predictive: bool = True, **legacy) -> az.InferenceData:
    """Posterior (+ prior and posterior predictive, + per-draw estimands) for `data`, cached as netCDF.

    `settings`: the book's `Settings` (default `SETTINGS`: sampler, draws, seed) or a `SamplerSettings`.
    Pass `model` to re-use a compiled model (its data and ρ are replaced by `data` and
    `mediator_outcome_rho`). The cache entry is `<cache root>/<label>_<inputs>_<code>.nc` (`dexmood.cache`);
    a cold run gives the same draws as a warm one on the same machine (fixed seed, deterministic sampler).
    `predictive=False` leaves out the prior and posterior predictive draws (one value per patient and draw:
    gigabytes for a 20,000-patient cohort); the posterior itself is the same.
    """
    if "cache" in legacy:  # the old keyword
        cache_results = legacy.pop("cache")
    if legacy:
        raise TypeError(f"unexpected keyword(s): {', '.join(legacy)}")
    settings = SamplerSettings.from_settings(settings)
    if cores is not None:
        settings = SamplerSettings(**{**settings.key(), "cores": cores})
    cores = settings.cores
    priors = priors or (model.priors if model is not None else Priors())
    if not nutpie_available() and settings.sampler == "nutpie":
        settings = SamplerSettings(**{**settings.key(), "sampler": "pymc", "cores": cores})
    inputs = cache_inputs(data, priors, settings, mediator_outcome_rho, prior_draws)
    if not predictive:
        inputs["predictive"] = False

    def compute() -> az.InferenceData:
        nonlocal model
        if model is None:
            model = MediationModel(data, priors, mediator_outcome_rho=mediator_outcome_rho,
                                   sampler="nutpie" if settings.sampler == "nutpie" else "pymc")
        else:
            if model.priors != priors:
                raise ValueError("the re-used model was built with other priors")
            model.set_data(data, mediator_outcome_rho=mediator_outcome_rho)
        idata = model.sample_posterior(settings, cores=settings.cores)
        if predictive:
            prior = model.sample_prior_predictive(prior_draws, seed=settings.seed + 1)
            idata.add_groups({"prior": prior.prior, "prior_predictive": prior.prior_predictive})
            idata.add_groups({"posterior_predictive": model.sample_posterior_predictive(idata,
                                                                                       seed=settings.seed + 2)})
        idata.add_groups({"observed_data": xr.Dataset({
            OBSERVED["nrs"]: ("obs", data.mediator),
            **{OBSERVED[k]: ("obs", data.outcomes[:, j]) for j, k in enumerate(OUTCOMES)}}),
            "constant_data": xr.Dataset({
                "dex": ("obs", data.dex), "weights": ("obs", data.weights),
                "covariates": (("obs", "covariate"), data.covariates),
                "mediator_center": data.mediator_center,
                "mediator_outcome_rho": ("outcome", _rho_vector(mediator_outcome_rho))},
                coords={"outcome": list(OUTCOMES), "covariate": data.covariate_columns})})
        add_effects(idata)
        idata.posterior.attrs.update({"model_version": MODEL_VERSION,
                                      "cache_key": f"{label}_{cache.inputs_key(inputs)}",
                                      "n": data.n, "weighted": int(data.weighted)})
        return idata

    return cache.load_or_compute(label, inputs, compute, modules=("dexmood.mediation",), codec=cache.NETCDF,
                                 enabled=cache_results)


def fit_matched(match_result, settings: Settings | SamplerSettings | None = None, *,
                model: MediationModel | None = None, priors: Priors | None = None,
                data: MediationData | None = None, cache_results: bool = True,
                predictive: bool = True) -> az.InferenceData:
    """The book's main analysis (notebook 04 and the CLI): the model on the match it is given.

    `match_result`: a `matching.MatchResult` (e.g. `matching.default_match(cohort)`, from the pipeline's
    matching stage). Compatibility: a `Cohort` is matched with the default specification first."""
    if not isinstance(match_result, matching.MatchResult):
        match_result = matching.default_match(match_result)
    data = data if data is not None else prepare_matched(match_result)
    return fit(data, settings=settings or SETTINGS, priors=priors, model=model, label="mediation_matched",
               cache_results=cache_results, predictive=predictive)


@dataclass
class WeightedFit:
    """The weighted full-cohort check: its data (ATT weights, Kish-normalised) and posterior."""
    data: MediationData
    idata: az.InferenceData

    @property
    def kish_ess(self) -> float:
        return float(self.data.weights.sum())


def fit_weighted(cohort_data: pd.DataFrame, *, encoding: CovariateEncoding, model: MediationModel | None = None,
                 settings: Settings | SamplerSettings | None = None, priors: Priors | None = None,
                 cache_results: bool = True) -> WeightedFit:
    """Every patient, LA re-weighted to the DEX group: ATT weights 1 (DEX) and e/(1 − e) (LA) from the
    default propensity model, the same covariate `encoding` as the matched fit (so a compiled `model` is
    re-used with new data)."""
    propensity = matching.fit_propensity(cohort_data)
    full = add_changes(cohort_data.loc[propensity.score.index])
    full["att_weight"] = att_odds_weights(full[TREATMENT].to_numpy(), propensity.score.to_numpy())
    data = prepare_data(full, weights="att_weight", encoding=encoding)
    idata = fit(data, settings=settings or SETTINGS, priors=priors, model=model, label="mediation_weighted",
                cache_results=cache_results)
    return WeightedFit(data, idata)
