"""The cached nutpie callbacks (`dexmood.mediation.compiled`): nutpie's draws, a stable key, a cache that hits."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pymc as pm
import pytest

nutpie = pytest.importorskip("nutpie")
from dexmood.mediation import compiled  # noqa: E402  (needs nutpie)


def small_model(prior_sd: float = 1.0, n: int = 40, seed: int = 3) -> pm.Model:
    """A regression with data containers (vector, matrix, scalar), a transformed scale and a deterministic."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = x @ np.array([0.5, -1.0]) + rng.normal(size=n)
    with pm.Model() as model:
        covariates = pm.Data("covariates", x)
        outcome = pm.Data("outcome", y)
        shift = pm.Data("shift", 0.0)
        beta = pm.Normal("beta", 0.0, prior_sd, shape=2)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Deterministic("beta_sum", beta.sum())
        pm.Normal("y", covariates @ beta + shift, sigma, observed=outcome, shape=covariates.shape[0])
    return model


def draws(compiled_model, seed: int = 11) -> np.ndarray:
    idata = nutpie.sample(compiled_model, draws=200, tune=200, chains=2, seed=seed, progress_bar=False)
    return np.concatenate([np.asarray(idata.posterior[name]).ravel() for name in ("beta", "sigma", "beta_sum")])


@pytest.fixture(scope="module")
def both_compiled():
    """The same model compiled here and by nutpie itself (each compile takes seconds: once per module)."""
    model = small_model()
    return compiled.compile_model(model), nutpie.compile_pymc_model(model)


def test_draws_identical_to_nutpies_own_compile(both_compiled):
    ours, theirs = both_compiled
    assert np.array_equal(draws(ours), draws(theirs))


def test_with_data_swaps_the_data_as_nutpie_does(both_compiled):
    ours, theirs = both_compiled
    rng = np.random.default_rng(8)
    new = {"covariates": rng.normal(size=(25, 2)), "outcome": rng.normal(size=25), "shift": np.asarray(0.3)}
    swapped = draws(ours.with_data(**new))
    assert np.array_equal(swapped, draws(theirs.with_data(**new)))
    assert not np.array_equal(swapped, draws(ours))


def test_model_key_is_structural():
    assert compiled.model_key(small_model()) == compiled.model_key(small_model())
    assert compiled.model_key(small_model(seed=4)) == compiled.model_key(small_model())  # data are not in the key
    assert compiled.model_key(small_model(prior_sd=2.0)) != compiled.model_key(small_model())


def test_describe_refuses_memory_addresses():
    with pytest.raises(ValueError, match="process-independent"):
        compiled._describe(object())


def test_a_model_without_a_stable_key_falls_back_to_nutpies_compile(monkeypatch, both_compiled):
    def no_key(model):
        raise ValueError("no process-independent description")

    monkeypatch.setattr(compiled, "model_key", no_key)
    fallback = compiled.compile_model(small_model())
    assert fallback.compiled_logp_func.cache_hits == 0
    assert np.array_equal(draws(fallback), draws(both_compiled[1]))


@pytest.mark.skipif(not __import__("pytensor").config.numba__cache, reason="PyTensor's numba cache is off")
def test_second_process_loads_the_callbacks_from_the_cache():
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_mediation_compiled import small_model
        from dexmood.mediation import compiled
        model = compiled.compile_model(small_model(prior_sd=1.2345))
        print(json.dumps([model.compiled_logp_func.cache_hits, model.compiled_expand_func.cache_hits]))
    """)
    hits = [json.loads(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                                      text=True).stdout.strip().splitlines()[-1]) for _ in range(2)]
    assert hits[1] == [1, 1], hits
