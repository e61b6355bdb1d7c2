"""Stage 4 – Bayesian causal mediation: how much of DEX's mood benefit runs through pain relief?

One joint PyMC model of the mediator (1-month change in NRS pain) and both outcomes (1-month change in
GAD-7 and PHQ-9), with correlated outcome residuals and a DEX × mediator interaction:

    M_i      ~ Normal(a0 + a·DEX_i + X_i γ_M, σ_M)
    Y_ik | M ~ Normal(b0_k + c'_k·DEX_i + (b_k + d_k·DEX_i)(M_i − m̄) + X_i γ_k, σ_k),  k = GAD-7, PHQ-9
    corr(Y_i,GAD-7, Y_i,PHQ-9 | M_i) = ρ_Y  (LKJ(η = 2) prior)

X are the baseline covariates, standardised. The causal estimands are the natural (in)direct effects of
Imai, Keele & Tingley (2010) and VanderWeele (2015), computed per posterior draw by g-computation over the
analysed sample: ACME(t) = E[Y(t, M(1)) − Y(t, M(0))], ADE(t) = E[Y(1, M(t)) − Y(0, M(t))],
total = ACME(1) + ADE(0), proportion mediated = mean(ACME(0), ACME(1)) / total (R `mediation`'s
"Prop. Mediated (average)").

Sensitivity hook (Imai, Keele & Yamamoto 2010): `mediator_outcome_rho` fixes the correlation between the
mediator residual and each outcome residual, which sequential ignorability sets to 0. It is a `pm.Data`
variable, so one compiled model serves every value of ρ.

The model is compiled once (nutpie, numba backend) and re-used with new data via `MediationModel.set_data`;
posteriors are cached as netCDF through `dexmood.cache` (key: the data, priors, sampler settings, seed, ρ and
the source of this module). Sampler settings, seed and diagnostics thresholds come from `dexmood.settings`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from dexmood import cache, diagnostics
from dexmood.cohort import baseline_covariates
from dexmood.settings import SETTINGS, SamplerConfig, Settings

#: Bump whenever the model, priors' meaning or the effect computation changes (part of the cache key).
MODEL_VERSION = "mediation-v2"

TREATMENT = "dex"
MEDIATOR = "nrs_change"
OUTCOMES = ("gad7", "phq9")
OUTCOME_COLUMNS = {"gad7": "gad7_change", "phq9": "phq9_change"}
OUTCOME_LABELS = {"gad7": "GAD-7 (anxiety)", "phq9": "PHQ-9 (depression)"}

#: Per-draw estimands added to the posterior (dimension `outcome`), in reporting order.
ESTIMANDS = ("acme_treated", "acme_control", "ade_control", "ade_treated", "total", "acme_average",
             "ade_average", "proportion_mediated")
ESTIMAND_LABELS = {
    "acme_treated": "ACME (treated)", "acme_control": "ACME (control)", "ade_control": "ADE (control)",
    "ade_treated": "ADE (treated)", "total": "Total effect", "acme_average": "ACME (average)",
    "ade_average": "ADE (average)", "proportion_mediated": "Prop. mediated (average)",
}
#: Model parameters whose convergence is checked together with the estimands.
PARAMETERS = ("mediator_intercept", "dex_on_mediator", "mediator_covariates", "mediator_sigma",
              "outcome_intercept", "direct_dex", "mediator_on_outcome", "dex_x_mediator",
              "outcome_covariates", "outcome_sigma", "residual_corr")
#: Observed variables of the model (the changes in NRS, GAD-7, PHQ-9).
OBSERVED = {"nrs": "mediator_obs", "gad7": "gad7_obs", "phq9": "phq9_obs"}
DIFFERENCE = "proportion_mediated_difference"  # GAD-7 minus PHQ-9, per draw
REPORTED = (*ESTIMANDS, DIFFERENCE)


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CovariateEncoding:
    """How covariates become the standardised design matrix X (dummies, then centre and scale)."""

    covariates: tuple[str, ...]
    columns: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]
    means: tuple[float, ...]
    scales: tuple[float, ...]

    def raw_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        blocks = []
        for covariate in self.covariates:
            if covariate in self.levels:
                values = frame[covariate].astype(str).to_numpy()
                # treatment coding: the first (alphabetical) level is the reference
                blocks.extend((values == level).astype(float) for level in self.levels[covariate][1:])
            else:
                blocks.append(frame[covariate].astype(float).to_numpy())
        return np.column_stack(blocks) if blocks else np.zeros((len(frame), 0))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.raw_matrix(frame) - np.asarray(self.means)) / np.asarray(self.scales)


def fit_encoding(frame: pd.DataFrame, covariates: list[str]) -> CovariateEncoding:
    """Learn dummy levels and the mean/SD used to standardise each design column from `frame`."""
    levels, columns = {}, []
    for covariate in covariates:
        series = frame[covariate]
        if series.dtype.kind in "fiub":
            columns.append(covariate)
        else:
            levels[covariate] = tuple(sorted(series.dropna().astype(str).unique()))
            columns.extend(f"{covariate}[{level}]" for level in levels[covariate][1:])
    encoding = CovariateEncoding(tuple(covariates), tuple(columns), levels, (), ())
    raw = encoding.raw_matrix(frame)
    means = raw.mean(axis=0)
    scales = raw.std(axis=0, ddof=1)
    scales = np.where(scales > 0, scales, 1.0)  # a constant column stays 0 after centring
    return CovariateEncoding(tuple(covariates), tuple(columns), levels,
                             tuple(float(m) for m in means), tuple(float(s) for s in scales))


@dataclass
class MediationData:
    """Complete cases ready for the model (arrays) and for statsmodels (`frame`)."""

    frame: pd.DataFrame
    dex: np.ndarray
    mediator: np.ndarray
    outcomes: np.ndarray  # n × 2, columns in OUTCOMES order
    covariates: np.ndarray  # n × p, standardised
    weights: np.ndarray  # sum = Kish effective sample size (1 each when unweighted)
    mediator_center: float
    encoding: CovariateEncoding
    n_dropped: int = 0
    weighted: bool = False

    @property
    def n(self) -> int:
        return len(self.dex)

    @property
    def extra_weight(self) -> float:
        return float(np.sum(self.weights) - self.n)

    @property
    def covariate_columns(self) -> list[str]:
        return list(self.encoding.columns)

    def fingerprint(self) -> str:
        """SHA-256 of every array the model sees (the data part of the cache key)."""
        digest = hashlib.sha256()
        for array in (self.dex, self.mediator, self.outcomes, self.covariates, self.weights,
                      np.array([self.mediator_center])):
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        digest.update(json.dumps(self.covariate_columns).encode())
        return digest.hexdigest()


def kish_normalised(weights: np.ndarray) -> np.ndarray:
    """Scale weights so they sum to Kish's effective sample size (sum w)² / sum w².

    A weighted likelihood with weights summing to n would claim the information of n independent
    patients; scaling to the effective sample size keeps the posterior width honest (equal weights: n).
    """
    weights = np.asarray(weights, dtype=float)
    if np.any(~np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    ess = weights.sum() ** 2 / np.sum(weights**2)
    return weights * ess / weights.sum()


def prepare_data(frame: pd.DataFrame, covariates: list[str] | None = None, *, weights: str | None = None,
                 encoding: CovariateEncoding | None = None) -> MediationData:
    """Select complete cases and build the arrays of the model.

    `frame` needs `dex` (0/1), `nrs_change`, `gad7_change`, `phq9_change` (see `cohort.add_changes`) and
    the covariates (default: `cohort.baseline_covariates`). `weights` names an optional weight column
    (e.g. matching or ATT weights). `encoding` re-uses another sample's dummy levels and scaling.
    """
    if covariates is None:
        covariates = list(encoding.covariates) if encoding is not None else baseline_covariates(frame)
    needed = [TREATMENT, MEDIATOR, *OUTCOME_COLUMNS.values(), *covariates] + ([weights] if weights else [])
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise KeyError(f"mediation data lacks column(s): {', '.join(missing)} (use cohort.add_changes first)")
    complete = frame.dropna(subset=needed)
    if weights:
        complete = complete[complete[weights] > 0]  # rows with weight 0 carry no information
    complete = complete.reset_index(drop=True)
    if len(complete) < 10:
        raise ValueError(f"only {len(complete)} complete cases; mediation needs more")
    dex = complete[TREATMENT].astype(float).to_numpy()
    if set(np.unique(dex)) != {0.0, 1.0}:
        raise ValueError("column 'dex' must be 0/1 with both groups present")
    encoding = encoding or fit_encoding(complete, covariates)
    mediator = complete[MEDIATOR].astype(float).to_numpy()
    raw_weights = complete[weights].to_numpy(dtype=float) if weights else np.ones(len(complete))
    return MediationData(
        frame=complete,
        dex=dex,
        mediator=mediator,
        outcomes=complete[[OUTCOME_COLUMNS[k] for k in OUTCOMES]].astype(float).to_numpy(),
        covariates=encoding.transform(complete),
        weights=kish_normalised(raw_weights),
        mediator_center=float(np.mean(mediator)),
        encoding=encoding,
        n_dropped=len(frame) - len(complete),
        weighted=bool(np.ptp(raw_weights) > 0),  # equal weights (e.g. 1:1 matching) = unweighted
    )


def att_odds_weights(dex: np.ndarray, propensity: np.ndarray) -> np.ndarray:
    """ATT weights: 1 for treated, e/(1 − e) for controls (the control group re-weighted to the treated)."""
    dex = np.asarray(dex)
    propensity = np.asarray(propensity, dtype=float)
    return np.where(dex == 1, 1.0, propensity / (1.0 - propensity))


# --------------------------------------------------------------------------------------------------
# Priors and model
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Priors:
    """Weakly informative priors on the score scale (changes are 1-month minus baseline).

    Every scale lets the data dominate while ruling out effects larger than the instruments allow:
    NRS runs 0–10, GAD-7 0–21, PHQ-9 0–27, so a change cannot exceed ±10, ±21, ±27.
    """

    #: NRS change in the LA group at the covariate means: 95% within ±6 of the 0–10 scale's points.
    mediator_intercept_sd: float = 3.0
    #: DEX effect on the NRS change: 95% within ±4 points, more than any analgesic adjunct shows.
    dex_on_mediator_sd: float = 2.0
    #: NRS change per SD of a covariate: 95% within ±1 point (11 covariates together can still move it a lot).
    mediator_covariate_sd: float = 0.5
    #: Residual SD of the NRS change (half-normal): 95% below 6 points.
    mediator_sigma_sd: float = 3.0
    #: Mood change in LA at the covariate means and the mean pain change: 95% within ±10 points.
    outcome_intercept_sd: float = 5.0
    #: Direct DEX effect c' on GAD-7 / PHQ-9 change: 95% within ±6 points (twice a large effect).
    direct_dex_sd: float = 3.0
    #: Mood points per NRS point of pain change (path b): 95% within ±2.
    mediator_on_outcome_sd: float = 1.0
    #: DEX × pain-change interaction d: 95% within ±1 point per NRS point.
    interaction_sd: float = 0.5
    #: Mood change per SD of a covariate: 95% within ±2 points.
    outcome_covariate_sd: float = 1.0
    #: Residual SD of the mood changes (half-normal): 95% below 10 points.
    outcome_sigma_sd: float = 5.0
    #: LKJ concentration of the 2×2 residual correlation (η = 2: (ρ + 1)/2 ~ Beta(2, 2)).
    lkj_eta: float = 2.0

    def table(self) -> pd.DataFrame:
        rows = [
            ("a0 (mediator intercept)", f"Normal(0, {self.mediator_intercept_sd:g})", "NRS points"),
            ("a (DEX → ΔNRS)", f"Normal(0, {self.dex_on_mediator_sd:g})", "NRS points"),
            ("γ_M (covariates → ΔNRS)", f"Normal(0, {self.mediator_covariate_sd:g})", "NRS points per SD"),
            ("σ_M", f"HalfNormal({self.mediator_sigma_sd:g})", "NRS points"),
            ("b0_k (outcome intercepts)", f"Normal(0, {self.outcome_intercept_sd:g})", "score points"),
            ("c'_k (direct DEX effect)", f"Normal(0, {self.direct_dex_sd:g})", "score points"),
            ("b_k (ΔNRS → Δmood)", f"Normal(0, {self.mediator_on_outcome_sd:g})", "score points per NRS point"),
            ("d_k (DEX × ΔNRS)", f"Normal(0, {self.interaction_sd:g})", "score points per NRS point"),
            ("γ_k (covariates → Δmood)", f"Normal(0, {self.outcome_covariate_sd:g})", "score points per SD"),
            ("σ_k", f"HalfNormal({self.outcome_sigma_sd:g})", "score points"),
            ("ρ_Y (GAD-7/PHQ-9 residuals)", f"LKJ(η = {self.lkj_eta:g})", "correlation"),
        ]
        return pd.DataFrame(rows, columns=["parameter", "prior", "unit"])


def _rho_vector(mediator_outcome_rho) -> np.ndarray:
    rho = np.zeros(len(OUTCOMES)) if mediator_outcome_rho is None else np.broadcast_to(
        np.asarray(mediator_outcome_rho, dtype=float), (len(OUTCOMES),)).copy()
    if np.any(np.abs(rho) >= 1):
        raise ValueError("mediator_outcome_rho must lie strictly between -1 and 1")
    return rho


def build_model(data: MediationData, priors: Priors | None = None, *, mediator_outcome_rho=None):
    """The joint PyMC model (see the module docstring). All data are `pm.Data` (re-usable via `set_data`).

    `mediator_outcome_rho` (scalar or one value per outcome) fixes corr(mediator residual, outcome residual)
    for a sensitivity analysis; None (= 0) is sequential ignorability. With ρ ≠ 0 the outcome residual is
    split as ρ·σ_k/σ_M·ε_M + sqrt(1 − ρ²)·σ_k·u_k, which keeps σ_k the marginal residual SD and the
    3 × 3 residual covariance positive definite for every ρ in (−1, 1).
    """
    import pymc as pm
    import pytensor.tensor as pt

    priors = priors or Priors()
    coords = {"outcome": list(OUTCOMES), "covariate": data.covariate_columns}
    with pm.Model(coords=coords) as model:
        dex = pm.Data("dex", data.dex)
        covariates = pm.Data("covariates", data.covariates)
        mediator = pm.Data("mediator", data.mediator)
        outcomes = pm.Data("outcomes", data.outcomes)
        # 1/√w as data: a weighted normal row is N(μ, σ/√w) (see below)
        inv_root_w = pm.Data("inverse_root_weights", 1.0 / np.sqrt(data.weights))
        mediator_center = pm.Data("mediator_center", data.mediator_center)
        rho = pm.Data("mediator_outcome_rho", _rho_vector(mediator_outcome_rho))
        extra_weight = pm.Data("extra_weight", data.extra_weight)  # Σw − n

        a0 = pm.Normal("mediator_intercept", 0.0, priors.mediator_intercept_sd)
        a = pm.Normal("dex_on_mediator", 0.0, priors.dex_on_mediator_sd)
        gamma_m = pm.Normal("mediator_covariates", 0.0, priors.mediator_covariate_sd, dims="covariate")
        sigma_m = pm.HalfNormal("mediator_sigma", priors.mediator_sigma_sd)

        b0 = pm.Normal("outcome_intercept", 0.0, priors.outcome_intercept_sd, dims="outcome")
        c = pm.Normal("direct_dex", 0.0, priors.direct_dex_sd, dims="outcome")
        b = pm.Normal("mediator_on_outcome", 0.0, priors.mediator_on_outcome_sd, dims="outcome")
        d = pm.Normal("dex_x_mediator", 0.0, priors.interaction_sd, dims="outcome")
        gamma_y = pm.Normal("outcome_covariates", 0.0, priors.outcome_covariate_sd,
                            dims=("covariate", "outcome"))
        sigma_y = pm.HalfNormal("outcome_sigma", priors.outcome_sigma_sd, dims="outcome")
        # LKJ(η) for a 2 × 2 correlation is (ρ + 1)/2 ~ Beta(η, η)
        corr_unit = pm.Beta("residual_corr_unit", priors.lkj_eta, priors.lkj_eta)
        residual_corr = pm.Deterministic("residual_corr", 2.0 * corr_unit - 1.0)

        # Weighted likelihood (each row's log-density times w_i): for a normal density,
        # w·log N(y | μ, σ) = log N(y | μ, σ/√w) − (w − 1)·log σ + const, so the observed nodes use σ/√w
        # and one scalar Potential adds −(Σw − n)·log σ (zero when unweighted). Cheaper than a per-row
        # Potential, which would differentiate the likelihood twice.

        mu_m = a0 + a * dex + pt.dot(covariates, gamma_m)
        pm.Normal("mediator_obs", mu_m, sigma_m * inv_root_w, observed=mediator)

        m_c = (mediator - mediator_center)[:, None]
        mu_y = (b0 + c * dex[:, None] + (b + d * dex[:, None]) * m_c + pt.dot(covariates, gamma_y)
                + rho * sigma_y / sigma_m * (mediator - mu_m)[:, None])
        conditional_sd = sigma_y * pt.sqrt(1.0 - rho**2)
        # The bivariate normal of (ΔGAD-7, ΔPHQ-9) written as GAD-7, then PHQ-9 given GAD-7: the same
        # likelihood as MvNormal, cheaper to differentiate, and posterior predictive draws keep ρ_Y.
        phq9_sd = conditional_sd[1] * pt.sqrt(1.0 - residual_corr**2)
        gad7_obs = pm.Normal("gad7_obs", mu_y[:, 0], conditional_sd[0] * inv_root_w, observed=outcomes[:, 0])
        phq9_mean = mu_y[:, 1] + residual_corr * conditional_sd[1] / conditional_sd[0] * (gad7_obs - mu_y[:, 0])
        pm.Normal("phq9_obs", phq9_mean, phq9_sd * inv_root_w, observed=outcomes[:, 1])
        pm.Potential("weight_adjustment",
                     -extra_weight * (pt.log(sigma_m) + pt.log(conditional_sd[0]) + pt.log(phq9_sd)))
    return model


# --------------------------------------------------------------------------------------------------
# Sampling, caching
# --------------------------------------------------------------------------------------------------

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

    For speed only: every later process loads the compiled C/numba modules instead of compiling them. Measured
    here: the first nutpie compile on an empty cache gives a (valid) logp function whose floating-point rounding
    differs from the cached one, so that first process samples other draws — as any other CPU does. Monte-Carlo
    outputs are therefore checked within their Monte-Carlo error (`dexmood.reproducibility`), not bit for bit.
    """
    from dexmood import cohort, matching

    data = prepare_data(cohort.add_changes(matching.default_match(cohort.simulate()).data), weights="weights")
    if not nutpie_available():
        return 0.0
    return MediationModel(data)._compile()


def nutpie_available() -> bool:
    try:
        import nutpie  # noqa: F401
    except ImportError:
        return False
    return True


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
        import pymc as pm

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
        """Compile once (nutpie, numba backend); returns the seconds spent now (0 when already compiled)."""
        import nutpie

        if self._compiled is not None:
            return 0.0
        start = time.perf_counter()
        with quiet():
            self._compiled = nutpie.compile_pymc_model(self.model).with_data(**self._data_values())
        self.compile_seconds = time.perf_counter() - start
        return self.compile_seconds

    def sample_posterior(self, settings: SamplerSettings, cores: int | None = None) -> az.InferenceData:
        """NUTS draws (nutpie if available, else PyMC's sampler); timings stored in `posterior.attrs`.

        `cores` is passed to `pm.sample` (None = PyMC's default); it does not change the draws."""
        import pymc as pm

        if settings.sampler == "nutpie" and self.sampler == "nutpie":
            import nutpie

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
        import pymc as pm

        with self.model, quiet():
            return pm.sample_prior_predictive(draws=draws, random_seed=seed,
                                              var_names=[*OBSERVED.values(), *PARAMETERS])

    def sample_posterior_predictive(self, idata: az.InferenceData, seed: int) -> xr.Dataset:
        import pymc as pm

        with self.model, quiet():
            predictive = pm.sample_posterior_predictive(idata, var_names=list(OBSERVED.values()),
                                                        random_seed=seed, progressbar=False)
        return predictive.posterior_predictive


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


def prepare_matched(match_result) -> MediationData:
    """The analysed sample of a match: matched patients with a complete 1-month visit, matching weights.

    Uses only the mediator and the two mood changes (GAD-7, PHQ-9, NRS); other outcome columns (e.g.
    `satisfaction`) may be absent, and every baseline covariate of the cohort is adjusted for."""
    from dexmood.cohort import add_changes

    return prepare_data(add_changes(match_result.data), weights="weights")


def fit_matched(match_result, settings: Settings | SamplerSettings | None = None, *,
                model: MediationModel | None = None, priors: Priors | None = None,
                data: MediationData | None = None, cache_results: bool = True,
                predictive: bool = True) -> az.InferenceData:
    """The book's main analysis (notebook 04 and the CLI): the model on the match it is given.

    `match_result`: a `matching.MatchResult` (e.g. `matching.default_match(cohort)`, from the pipeline's
    matching stage). Compatibility: a `Cohort` is matched with the default specification first."""
    from dexmood import matching

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
    from dexmood import matching
    from dexmood.cohort import add_changes

    propensity = matching.fit_propensity(cohort_data)
    full = add_changes(cohort_data.loc[propensity.score.index])
    full["att_weight"] = att_odds_weights(full[TREATMENT].to_numpy(), propensity.score.to_numpy())
    data = prepare_data(full, weights="att_weight", encoding=encoding)
    idata = fit(data, settings=settings or SETTINGS, priors=priors, model=model, label="mediation_weighted",
                cache_results=cache_results)
    return WeightedFit(data, idata)


# --------------------------------------------------------------------------------------------------
# Estimands by g-computation
# --------------------------------------------------------------------------------------------------

def compute_effects(posterior: xr.Dataset, constant_data: xr.Dataset) -> xr.Dataset:
    """Natural effects per draw by g-computation over the analysed sample (weighted if weights vary).

    For every patient i and draw: E[M_i(t')] = a0 + a·t' + X_i γ_M and, because the outcome model is linear
    in M, E[Y_i(t, M_i(t'))] = b0 + c'·t + (b + d·t)(E[M_i(t')] − m̄) + X_i γ_k (the ρ term has mean 0).
    Averages over patients use the likelihood weights (ATT weights target the treated population).
    """
    x = constant_data["covariates"]
    w = constant_data["weights"]
    w = w / w.sum()
    centre = constant_data["mediator_center"]
    # Both models are linear in the covariates, so the weighted average over patients of X_i γ is x̄·γ with
    # x̄ = Σ w_i X_i: the same numbers without a (chain, draw, patient) array, which for 20,000 patients
    # would not fit in memory.
    x_mean = (x * w).sum("obs")  # covariate
    linear_m = (x_mean * posterior["mediator_covariates"]).sum("covariate")  # chain, draw
    linear_y = (x_mean * posterior["outcome_covariates"]).sum("covariate")  # chain, draw, outcome

    def mean_mediator(t):
        return posterior["mediator_intercept"] + posterior["dex_on_mediator"] * t + linear_m

    def mean_outcome(t, t_m):
        slope = posterior["mediator_on_outcome"] + posterior["dex_x_mediator"] * t
        return (posterior["outcome_intercept"] + posterior["direct_dex"] * t
                + slope * (mean_mediator(t_m) - centre) + linear_y)

    y = {(t, t_m): mean_outcome(t, t_m) for t in (0, 1) for t_m in (0, 1)}
    effects = {
        "acme_treated": y[1, 1] - y[1, 0],
        "acme_control": y[0, 1] - y[0, 0],
        "ade_control": y[1, 0] - y[0, 0],
        "ade_treated": y[1, 1] - y[0, 1],
        "total": y[1, 1] - y[0, 0],
    }
    effects["acme_average"] = (effects["acme_treated"] + effects["acme_control"]) / 2
    effects["ade_average"] = (effects["ade_treated"] + effects["ade_control"]) / 2
    effects["proportion_mediated"] = effects["acme_average"] / effects["total"]
    dataset = xr.Dataset(effects).transpose("chain", "draw", "outcome")
    dataset[DIFFERENCE] = (dataset["proportion_mediated"].sel(outcome="gad7")
                           - dataset["proportion_mediated"].sel(outcome="phq9")).drop_vars("outcome", errors="ignore")
    return dataset


def add_effects(idata: az.InferenceData) -> az.InferenceData:
    """Add the per-draw estimands (`ESTIMANDS`, `DIFFERENCE`) to `idata.posterior` in place."""
    effects = compute_effects(idata.posterior, idata.constant_data)
    for name in effects.data_vars:
        idata.posterior[name] = effects[name]
    return idata


def effects_summary(idata: az.InferenceData) -> pd.DataFrame:
    """Posterior median, 95% equal-tailed interval, mean and SD of every estimand per outcome."""
    rows = []
    for outcome in OUTCOMES:
        for estimand in ESTIMANDS:
            values = idata.posterior[estimand].sel(outcome=outcome).values.ravel()
            rows.append(_summary_row(outcome, estimand, values))
    rows.append(_summary_row("gad7 − phq9", "proportion_mediated",
                             idata.posterior[DIFFERENCE].values.ravel()))
    return pd.DataFrame(rows).set_index(["outcome", "estimand"])


def _summary_row(outcome: str, estimand: str, values: np.ndarray) -> dict:
    low, median, high = np.quantile(values, [0.025, 0.5, 0.975])
    return {"outcome": outcome, "estimand": estimand, "median": median, "ci95_low": low, "ci95_high": high,
            "mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1))}


def effects_mcse(idata: az.InferenceData) -> pd.DataFrame:
    """ArviZ's Monte-Carlo SE of the median and the 2.5% / 97.5% quantiles in `effects_summary` (same index)."""
    from dexmood import reproducibility as mc

    def row(outcome, estimand, draws):
        return {"outcome": outcome, "estimand": estimand, "median": mc.mcse_quantile(draws, 0.5),
                "ci95_low": mc.mcse_quantile(draws, 0.025), "ci95_high": mc.mcse_quantile(draws, 0.975)}

    rows = [row(o, e, idata.posterior[e].sel(outcome=o).values) for o in OUTCOMES for e in ESTIMANDS]
    rows.append(row("gad7 − phq9", "proportion_mediated", idata.posterior[DIFFERENCE].values))
    return pd.DataFrame(rows).set_index(["outcome", "estimand"])


def record_interval(name: str, summary: pd.DataFrame, mcse: pd.DataFrame, outcome: str, estimand: str,
                    percent: bool = False) -> str:
    """`interval_text`, with its three numbers recorded with their MCSE (`dexmood.reproducibility`)."""
    from dexmood import reproducibility as mc

    scale, fmt = (100.0, "{:.0f}%") if percent else (1.0, "{:.2f}")
    for column in ("median", "ci95_low", "ci95_high"):
        mc.record_value(f"{name}.{column}", scale * summary.loc[(outcome, estimand), column], fmt,
                        mcse=scale * mcse.loc[(outcome, estimand), column])
    return interval_text(summary, outcome, estimand, percent=percent)


def recorded_display_table(name: str, summary: pd.DataFrame, mcse: pd.DataFrame) -> pd.DataFrame:
    """`display_table` with every number recorded with its MCSE (for a cell excluded from nbval's exact check)."""
    from dexmood import reproducibility as mc

    for outcome in OUTCOMES:
        for estimand in ESTIMANDS:
            record_interval(f"{name}[{outcome}|{estimand}]", summary, mcse, outcome, estimand,
                            percent=estimand == "proportion_mediated")
    table = display_table(summary)
    mc.record_label(f"{name}[labels]", " ".join([*table.index, *table.columns, table.index.name]))
    return table


def posterior_predictive_mcse(idata: az.InferenceData) -> pd.DataFrame:
    """Monte-Carlo SE of every number of `posterior_predictive_table` (0 for the observed statistic)."""
    from dexmood import reproducibility as mc

    dex = idata.constant_data["dex"].values == 1
    chains, draws = idata.posterior_predictive.sizes["chain"], idata.posterior_predictive.sizes["draw"]
    rows = []
    for variable in OBSERVED.values():
        observed = idata.observed_data[variable].values
        replicated = idata.posterior_predictive[variable].values.reshape(chains, draws, -1)
        for mask in (dex, ~dex):
            for func in (np.mean, lambda v, axis=None: np.std(v, axis=axis, ddof=1)):
                obs = float(func(observed[mask]))
                rep = func(replicated[:, :, mask], axis=2)
                rows.append({"observed": 0.0, "replicated median": mc.mcse_quantile(rep, 0.5),
                             "replicated 2.5%": mc.mcse_quantile(rep, 0.025),
                             "replicated 97.5%": mc.mcse_quantile(rep, 0.975), "p": mc.mcse_mean(rep >= obs)})
    return pd.DataFrame(rows)


def interval_text(summary: pd.DataFrame, outcome: str, estimand: str, percent: bool = False) -> str:
    """'-0.35 (-0.71 to -0.09)' or, for shares, '20% (6% to 37%)': posterior median (95% interval)."""
    row = summary.loc[(outcome, estimand)]
    values = [row["median"], row["ci95_low"], row["ci95_high"]]
    text = [f"{100 * v:.0f}%" for v in values] if percent else [f"{v:.2f}" for v in values]
    return f"{text[0]} ({text[1]} to {text[2]})"


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Estimands × outcomes, each cell 'median (95% interval)' (shares in %)."""
    table = {}
    for outcome in OUTCOMES:
        table[OUTCOME_LABELS[outcome]] = [interval_text(summary, outcome, e, percent=e == "proportion_mediated")
                                          for e in ESTIMANDS]
    frame = pd.DataFrame(table, index=[ESTIMAND_LABELS[e] for e in ESTIMANDS])
    frame.index.name = "posterior median (95% interval)"
    return frame


def results_section(idata_or_summary) -> dict:
    """`results.json` block: {"mediation": {outcome: {estimand: {"estimate", "ci95"}}}}.

    "acme" is ACME(treated) (the total natural indirect effect), "ade" is ADE(control) (the pure natural
    direct effect), so acme + ade = total; "acme_control" and "ade_treated" complete the decomposition.
    """
    posterior = isinstance(idata_or_summary, az.InferenceData)
    summary = effects_summary(idata_or_summary) if posterior else idata_or_summary
    mcse = effects_mcse(idata_or_summary) if posterior else None
    keys = {"acme": "acme_treated", "acme_control": "acme_control", "ade": "ade_control",
            "ade_treated": "ade_treated", "total": "total", "proportion_mediated": "proportion_mediated"}
    block = {}
    for outcome in OUTCOMES:
        block[outcome] = {}
        for key, estimand in keys.items():
            row = summary.loc[(outcome, estimand)]
            block[outcome][key] = {"estimate": round(float(row["median"]), 4),
                                   "ci95": [round(float(row["ci95_low"]), 4), round(float(row["ci95_high"]), 4)]}
            if mcse is not None:  # Monte-Carlo SE of the three numbers (for tolerance checks on another CPU)
                err = mcse.loc[(outcome, estimand)]
                block[outcome][key]["mcse"] = [round(float(err[c]), 5) for c in ("median", "ci95_low", "ci95_high")]
    return {"mediation": block}


# --------------------------------------------------------------------------------------------------
# Diagnostics
# --------------------------------------------------------------------------------------------------

DiagnosticsError = diagnostics.DiagnosticsError
divergences = diagnostics.divergences


def default_diagnostic_variables(idata: az.InferenceData) -> list[str]:
    """The model's parameters and reported estimands present in `idata`."""
    return [v for v in (*PARAMETERS, *REPORTED) if v in idata.posterior]


def diagnostics_table(idata: az.InferenceData, var_names=None) -> pd.DataFrame:
    return diagnostics.diagnostics_table(idata, var_names or default_diagnostic_variables(idata))


def check_diagnostics(idata: az.InferenceData, var_names=None, rhat_max: float | None = None,
                      ess_min: float | None = None, settings: Settings = SETTINGS) -> pd.DataFrame:
    """`dexmood.diagnostics.check_diagnostics` on the parameters and reported estimands by default, with the
    thresholds of `settings.diagnostics` (R-hat, ESS, divergences) unless given."""
    thresholds = settings.diagnostics
    return diagnostics.check_diagnostics(
        idata, var_names or default_diagnostic_variables(idata),
        rhat_max=thresholds.rhat_max if rhat_max is None else rhat_max,
        ess_min=thresholds.ess_min if ess_min is None else ess_min,
        divergences_max=thresholds.divergences_max)


def timing_text(idata: az.InferenceData) -> str:
    """'model compile took 11.2 s, sampling took 0.8 s (nutpie, 4 chains × 1000 draws)'."""
    attrs = idata.posterior.attrs
    chains, draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    return (f"model compile took {attrs['compile_seconds']:.1f} s, sampling took "
            f"{attrs['sampling_seconds']:.2f} s ({attrs['sampler']}, {chains} chains × {draws} draws)")


# --------------------------------------------------------------------------------------------------
# Checks: predictive summaries, statsmodels cross-check, truth
# --------------------------------------------------------------------------------------------------

SCORE_LIMITS = {"nrs": 10, "gad7": 21, "phq9": 27}


def prior_predictive_table(idata: az.InferenceData) -> pd.DataFrame:
    """Prior predictive changes: central 95% range and share inside the instrument's possible range."""
    rows = []
    predictive = idata.prior_predictive
    series = {name: predictive[variable].values.ravel() for name, variable in OBSERVED.items()}
    for name, values in series.items():
        low, high = np.quantile(values, [0.025, 0.975])
        limit = SCORE_LIMITS[name]
        rows.append({"change in": name.upper(), "2.5%": low, "97.5%": high,
                     "possible range": f"±{limit}", "share possible": float(np.mean(np.abs(values) <= limit))})
    return pd.DataFrame(rows)


def posterior_predictive_table(idata: az.InferenceData) -> pd.DataFrame:
    """Observed mean and SD of each change per group next to their posterior predictive distribution.

    p = share of replicated data sets with a statistic at least as large as observed (near 0 or 1 = misfit).
    """
    dex = idata.constant_data["dex"].values == 1
    observed = {name: idata.observed_data[variable].values for name, variable in OBSERVED.items()}
    replicated = {name: idata.posterior_predictive[variable].values.reshape(-1, dex.size)
                  for name, variable in OBSERVED.items()}
    rows = []
    for name in observed:
        for group, mask in (("DEX", dex), ("LA", ~dex)):
            for statistic, func in (("mean", np.mean), ("SD", lambda v, axis=None: np.std(v, axis=axis, ddof=1))):
                obs = float(func(observed[name][mask]))
                rep = func(replicated[name][:, mask], axis=1)
                rows.append({"change in": name.upper(), "group": group, "statistic": statistic, "observed": obs,
                             "replicated median": float(np.median(rep)),
                             "replicated 2.5%": float(np.quantile(rep, 0.025)),
                             "replicated 97.5%": float(np.quantile(rep, 0.975)),
                             "p": float(np.mean(rep >= obs))})
    return pd.DataFrame(rows)


def _interaction_ols():
    """statsmodels OLS whose `predict` recomputes the DEX × mediator column from the exposure and mediator
    columns. `Mediation` sets those two columns to counterfactual values; without a formula it would leave
    the product column stale (with a formula it rebuilds the design, which is ~50 times slower)."""
    import statsmodels.api as sm

    class InteractionOLS(sm.OLS):
        def predict(self, params, exog=None, *args, **kwargs):
            exog = np.array(self.exog if exog is None else exog, dtype=float, copy=True)
            exog[:, 3] = exog[:, 1] * exog[:, 2]  # columns: const, dex, mediator, dex:mediator, covariates
            return super().predict(params, exog, *args, **kwargs)

    return InteractionOLS


def statsmodels_mediation(data: MediationData, outcome: str, *, n_rep: int = 1000, seed: int = 0,
                          method: str = "parametric", with_mcse: bool = False):
    """statsmodels `Mediation` (Imai, Keele & Tingley 2010, algorithm 1 = "parametric", 2 = "bootstrap") with
    OLS models on the same covariates and DEX × mediator interaction; its summary table (estimate, 95% CI, p).
    `with_mcse=True` also returns the Monte-Carlo SE of each estimate and bound (from its draws).
    """
    import statsmodels.api as sm
    from statsmodels.stats.mediation import Mediation

    if data.weighted:
        raise ValueError("statsmodels Mediation has no likelihood weights; use an unweighted sample")
    covariates = pd.DataFrame(data.covariates, columns=[f"x{j}" for j in range(data.covariates.shape[1])])
    mediator = data.mediator - data.mediator_center
    outcome_exog = pd.concat([pd.DataFrame({"const": 1.0, "dex": data.dex, "mediator": mediator,
                                            "dex:mediator": data.dex * mediator}), covariates], axis=1)
    mediator_exog = pd.concat([pd.DataFrame({"const": 1.0, "dex": data.dex}), covariates], axis=1)
    y = pd.Series(data.outcomes[:, OUTCOMES.index(outcome)], name=outcome)
    outcome_model = _interaction_ols()(y, outcome_exog)
    mediator_model = sm.OLS(pd.Series(mediator, name="mediator"), mediator_exog)
    result = Mediation(outcome_model, mediator_model, "dex", "mediator").fit(
        method=method, n_rep=n_rep, rng=np.random.default_rng(seed))
    if not with_mcse:
        return result.summary()
    from dexmood import reproducibility as mc

    draws = {"ACME (control)": result.ACME_ctrl, "ACME (treated)": result.ACME_tx,
             "ADE (control)": result.ADE_ctrl, "ADE (treated)": result.ADE_tx, "Total effect": result.total_effect,
             "Prop. mediated (control)": result.prop_med_ctrl, "Prop. mediated (treated)": result.prop_med_tx,
             "ACME (average)": result.ACME_avg, "ADE (average)": result.ADE_avg,
             "Prop. mediated (average)": result.prop_med_avg}
    # statsmodels' estimate is the mean of its independent draws, its bounds their 2.5% / 97.5% quantiles
    mcse = pd.DataFrame({name: {"Estimate": mc.mcse_mean(v), "Lower CI bound": mc.mcse_quantile(v, 0.025),
                                "Upper CI bound": mc.mcse_quantile(v, 0.975)} for name, v in draws.items()}).T
    return result.summary(), mcse


COMPARED = {"acme_treated": "ACME (treated)", "acme_control": "ACME (control)", "ade_control": "ADE (control)",
            "ade_treated": "ADE (treated)", "total": "Total effect",
            "proportion_mediated": "Prop. mediated (average)"}


def comparison_table(idata: az.InferenceData, statsmodels_tables: dict[str, pd.DataFrame],
                     truth: dict | None = None, *, mcse: tuple[pd.DataFrame, dict] | None = None):
    """Posterior median [95% CrI] next to statsmodels' estimate [95% CI] (and the simulation truth).

    `mcse=(effects_mcse(idata), {outcome: statsmodels MCSE table})` also returns a table of the Monte-Carlo SE
    of every number (0 for the truth), for `reproducibility.record_table`."""
    if mcse is not None:
        table = comparison_table(idata, statsmodels_tables, truth)
        post, sm = mcse
        rows = []
        for outcome in OUTCOMES:
            for estimand, sm_name in COMPARED.items():
                row = {"posterior median": post.loc[(outcome, estimand), "median"],
                       "CrI 2.5%": post.loc[(outcome, estimand), "ci95_low"],
                       "CrI 97.5%": post.loc[(outcome, estimand), "ci95_high"]}
                if outcome in sm:
                    row.update({"statsmodels": sm[outcome].loc[sm_name, "Estimate"],
                                "CI 2.5%": sm[outcome].loc[sm_name, "Lower CI bound"],
                                "CI 97.5%": sm[outcome].loc[sm_name, "Upper CI bound"]})
                if truth is not None:
                    row["truth"] = 0.0
                rows.append(row)
        errors = pd.DataFrame(rows, index=table.index)
        errors.insert(0, "outcome", np.nan)
        errors.insert(1, "estimand", np.nan)
        return table, errors
    names = {"acme_treated": "ACME (treated)", "acme_control": "ACME (control)", "ade_control": "ADE (control)",
             "ade_treated": "ADE (treated)", "total": "Total effect",
             "proportion_mediated": "Prop. mediated (average)"}
    summary = effects_summary(idata)
    rows = []
    for outcome in OUTCOMES:
        sm_table = statsmodels_tables.get(outcome)
        for estimand, sm_name in names.items():
            post = summary.loc[(outcome, estimand)]
            row = {"outcome": outcome, "estimand": ESTIMAND_LABELS[estimand],
                   "posterior median": post["median"], "CrI 2.5%": post["ci95_low"],
                   "CrI 97.5%": post["ci95_high"]}
            if sm_table is not None:
                row.update({"statsmodels": float(sm_table.loc[sm_name, "Estimate"]),
                            "CI 2.5%": float(sm_table.loc[sm_name, "Lower CI bound"]),
                            "CI 97.5%": float(sm_table.loc[sm_name, "Upper CI bound"])})
            if truth is not None:
                row["truth"] = truth_value(truth, outcome, estimand)
            rows.append(row)
    return pd.DataFrame(rows)


def truth_value(truth: dict, outcome: str, estimand: str) -> float:
    """The simulation's true value of an estimand (`sample_truth(...)`, `cohort.truth["mediation_treated"]`)."""
    block = truth[outcome]
    return float(block[estimand] if estimand in block else {
        "ade_average": (block["ade_treated"] + block["ade_control"]) / 2}[estimand])


def sample_truth(cohort, data: MediationData) -> dict | None:
    """True natural effects for the patients the estimate averages over (simulated data only, else None).

    The posterior estimands average over the analysed sample (matched DEX *and* LA patients with a complete
    visit, with their likelihood weights), so their truth is the same average of each patient's potential
    outcomes Y(t, M(t′)), re-drawn with `cohort.draw_world` from the cohort's design and seed — not the mean
    over all DEX patients (`cohort.truth["mediation_treated"]`), which is another population. Raises if the
    re-drawn world does not reproduce the analysed patients' observed scores."""
    if not getattr(cohort, "simulated", False) or not cohort.truth:
        return None
    from dexmood import cohort as cohort_module

    def as_tuples(value):
        return tuple(as_tuples(v) for v in value) if isinstance(value, list | tuple) else value

    design = cohort_module.SimulationDesign(**{k: as_tuples(v) for k, v in cohort.truth["design"].items()})
    world = cohort_module.draw_world(design, seed=cohort.truth["seed"])
    world_frame = world.frame()
    rows = pd.Index(world_frame["patient_id"]).get_indexer(data.frame["patient_id"])
    if np.any(rows < 0):
        raise ValueError("the analysed patients are not in the re-drawn simulated world")
    for column in ("gad7_1m", "phq9_1m", "nrs_1m"):
        if not np.allclose(world_frame[column].to_numpy()[rows], data.frame[column].to_numpy()):
            raise ValueError(f"the re-drawn simulated world does not reproduce {column} of the analysed patients")
    weights = data.weights / data.weights.sum()
    truth = {}
    for outcome in OUTCOMES:
        y = {key: values[rows] for key, values in world.mood[outcome].items()}

        def mean(diff):
            return float(np.sum(weights * diff))

        block = {"acme_treated": mean(y[1, 1] - y[1, 0]), "acme_control": mean(y[0, 1] - y[0, 0]),
                 "ade_control": mean(y[1, 0] - y[0, 0]), "ade_treated": mean(y[1, 1] - y[0, 1]),
                 "total": mean(y[1, 1] - y[0, 0])}
        block["acme_average"] = (block["acme_treated"] + block["acme_control"]) / 2
        block["ade_average"] = (block["ade_treated"] + block["ade_control"]) / 2
        block["proportion_mediated"] = block["acme_average"] / block["total"] if block["total"] else float("nan")
        truth[outcome] = block
    return truth


def published_band() -> tuple[float, float]:
    """The published 18–32% share of mood improvement attributed to pain relief (Ren et al. 2025)."""
    from dexmood.cohort import published

    low, high = published()["ren2025_cohort"]["proportion_mediated_by_pain_relief"]["range"]
    return float(low), float(high)


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------

def draw_dag(ax=None):
    """The assumed causal structure, drawn with matplotlib (no graphviz needed)."""
    from dexmood import plots

    if ax is None:
        _, ax = plots.new_figure(width=7.0, height=3.9)
    ax.set_axis_off()
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.4, 5.6)
    nodes = {
        "T": (1.3, 2.0, "DEX vs LA\n(treatment)"),
        "M": (5.0, 4.3, "ΔNRS pain\n(mediator, 1 month)"),
        "Y": (8.6, 2.0, "ΔGAD-7 and ΔPHQ-9\n(outcomes, 1 month;\nresidual correlation ρ_Y)"),
        "X": (5.0, 0.1, "baseline covariates X: age, sex, baseline scores, BMI, pain history, procedure"),
        "U": (8.6, 4.95, "U: unmeasured\npain–mood confounders"),
    }
    colors = {"T": plots.GROUP_COLORS["DEX"], "M": plots.OKABE_ITO[4], "Y": "#333333", "X": "#777777",
              "U": "#AAAAAA"}
    boxes = {}
    for key, (x, y, text) in nodes.items():
        style = {"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": colors[key],
                 "linewidth": 1.6, "linestyle": "--" if key == "U" else "-"}
        boxes[key] = ax.text(x, y, text, ha="center", va="center", fontsize=8.5, bbox=style, zorder=3)

    def arrow(a, b, label=None, style="-", color="#333333", label_at=0.5, start=None, end=None):
        x0, y0 = start or nodes[a][:2]
        x1, y1 = end or nodes[b][:2]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=2, xycoords="data",
                    arrowprops={"arrowstyle": "-|>", "color": color, "linestyle": style, "lw": 1.4,
                                "patchA": None if start else boxes[a].get_bbox_patch(),
                                "patchB": None if end else boxes[b].get_bbox_patch(),
                                "shrinkA": 2, "shrinkB": 2})
        if label:
            ax.text(x0 + label_at * (x1 - x0), y0 + label_at * (y1 - y0), label, fontsize=9.5, color=color,
                    ha="center", va="center", bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
                    zorder=4)

    arrow("T", "M", "a")
    arrow("M", "Y", "b, d")
    arrow("T", "Y", "c′ (direct)", label_at=0.3)
    grey = "#999999"
    arrow("X", "T", start=(3.0, 0.42), end=(1.6, 1.45), color=grey)
    arrow("X", "M", start=(4.4, 0.42), end=(4.4, 3.8), color=grey)
    arrow("X", "Y", start=(7.0, 0.42), end=(8.3, 1.3), color=grey)
    arrow("U", "M", style="--", color="#AAAAAA")
    arrow("U", "Y", style="--", color="#AAAAAA")
    ax.text(1.3, 3.35, "d: DEX × pain interaction\n(ACME treated ≠ control)", fontsize=8, color="#555555",
            ha="center", va="center")
    return ax


def outcome_colors() -> dict[str, str]:
    """GAD-7 green, PHQ-9 reddish purple (Okabe–Ito): distinct from the DEX/LA group colours and the truth."""
    from dexmood import plots

    return {"gad7": plots.OKABE_ITO[2], "phq9": plots.OKABE_ITO[3]}


def plot_ppc(idata: az.InferenceData, n_replicates: int = 60, seed: int = 0):
    """Observed changes (black step histogram, 1-point bins) against data sets replicated from the posterior
    (thin blue lines, same bins): the check of Gabry et al. (2019) for integer-valued scores."""
    from dexmood import plots

    labels = {"nrs": "change in NRS", "gad7": "change in GAD-7", "phq9": "change in PHQ-9"}
    rng = np.random.default_rng(seed)
    fig, axes = plots.new_figure(ncols=3, width=10.0, height=3.2)
    n_samples = idata.posterior_predictive.sizes["chain"] * idata.posterior_predictive.sizes["draw"]
    picks = rng.choice(n_samples, size=min(n_replicates, n_samples), replace=False)
    for ax, (name, variable) in zip(axes, OBSERVED.items(), strict=True):
        observed = idata.observed_data[variable].values
        replicated = idata.posterior_predictive[variable].values.reshape(n_samples, -1)[picks]
        low = np.floor(min(observed.min(), np.quantile(replicated, 0.001))) - 0.5
        high = np.ceil(max(observed.max(), np.quantile(replicated, 0.999))) + 0.5
        bins = np.arange(low, high + 1)
        for k, row in enumerate(replicated):
            density, _ = np.histogram(row, bins=bins, density=True)
            ax.stairs(density, bins, color=plots.OKABE_ITO[4], alpha=0.25, lw=0.8,
                      label="replicated from the posterior" if k == 0 else None)
        density, _ = np.histogram(observed, bins=bins, density=True)
        ax.stairs(density, bins, color="black", lw=1.6, label="observed")
        ax.set_title(labels[name])
        ax.set_xlabel("score points (1 month − baseline)")
        ax.set_yticks([])
    axes[0].set_ylabel("share of patients per point")
    handles, legend_labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, legend_labels, loc="lower center", ncol=2, bbox_to_anchor=(0.5, -0.1))
    return fig, axes


def plot_effects(idata: az.InferenceData, truth: dict | None = None):
    """Posterior densities of ACME (treated/control), ADE (control), total and proportion per outcome."""
    import matplotlib.pyplot as plt
    from scipy.stats import gaussian_kde

    from dexmood import plots

    panels = [("acme_treated", "ACME (treated)"), ("acme_control", "ACME (control)"),
              ("ade_control", "ADE (control)"), ("total", "Total effect"),
              ("proportion_mediated", "Proportion mediated")]
    fig, axes = plots.new_figure(ncols=len(panels), nrows=1, width=11.0, height=3.2)
    colors = outcome_colors()
    for ax, (name, title) in zip(axes, panels, strict=True):
        for outcome in OUTCOMES:
            values = idata.posterior[name].sel(outcome=outcome).values.ravel()
            low, high = np.quantile(values, [0.005, 0.995])
            grid = np.linspace(low, high, 200)
            ax.plot(grid, gaussian_kde(values)(grid), color=colors[outcome], label=OUTCOME_LABELS[outcome])
            if truth is not None:
                ax.axvline(truth_value(truth, outcome, name), color=colors[outcome], linestyle="--", lw=1)
        ax.axvline(0, color="#333333", lw=0.8)
        ax.set_title(title)
        ax.set_xlabel("share" if name == "proportion_mediated" else "score points")
        ax.set_yticks([])
    axes[0].set_ylabel("posterior density")
    handles, labels = axes[0].get_legend_handles_labels()
    if truth is not None:
        handles.append(plt.Line2D([], [], color="#333333", linestyle="--", lw=1))
        labels.append("simulation truth")
    fig.legend(handles, labels, loc="lower center", ncol=3, bbox_to_anchor=(0.5, -0.12))
    return fig, axes


def plot_proportion_vs_published(summaries: dict[str, pd.DataFrame], truth: dict | None = None):
    """Posterior median and 95% interval of the proportion mediated per outcome and sample, with the
    published 18–32% band (Ren et al. 2025)."""
    from matplotlib.ticker import PercentFormatter

    from dexmood import plots

    low, high = published_band()
    fig, ax = plots.new_figure(width=7.0, height=3.6)
    ax.axvspan(low, high, color=plots.PUBLISHED_COLOR, alpha=0.18, lw=0,
               label=f"published {100 * low:.0f}–{100 * high:.0f}%")
    markers = ["o", "s", "^", "D"]
    y_labels, y = [], 0
    for s, (sample_label, summary) in enumerate(summaries.items()):
        for outcome in OUTCOMES:
            row = summary.loc[(outcome, "proportion_mediated")]
            ax.errorbar(row["median"], y, xerr=[[row["median"] - row["ci95_low"]], [row["ci95_high"] - row["median"]]],
                        fmt=markers[s % len(markers)], color=outcome_colors()[outcome],
                        capsize=3)
            if truth is not None:
                ax.plot(truth_value(truth, outcome, "proportion_mediated"), y, marker="|", markersize=16,
                        color=plots.TRUTH_COLOR, mew=2, label="simulation truth" if y == 0 else None)
            y_labels.append(f"{OUTCOME_LABELS[outcome]}\n{sample_label}")
            y += 1
    ax.set_yticks(range(len(y_labels)), y_labels, fontsize=8.5)
    ax.invert_yaxis()
    ax.axvline(0, color="#333333", lw=0.8)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xlabel("share of the total effect mediated by pain relief (posterior median, 95% interval)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=8.5)
    return fig, ax
