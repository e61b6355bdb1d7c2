"""The sampler-free numbers of the case report for `results.json`."""

from __future__ import annotations

import numpy as np

from dexmood.case_report.files import load_pain, load_regimens, load_side_effects
from dexmood.case_report.mme import cached_mme
from dexmood.case_report.regimens import check_dose_arithmetic, pump_steps
from dexmood.case_report.side_effects import side_effect_test
from dexmood.case_report.timeline import DEX_DAY


def results_section(seed: int = 0, n_draws: int = 4000) -> dict:
    """Sampler-free numbers of this stage for `results.json` (dose arithmetic, MME bands, side-effect test)."""
    regimens = load_regimens()
    check_dose_arithmetic(regimens)
    pumps = pump_steps(regimens)
    pain = load_pain()
    mme = cached_mme(regimens, n_draws=n_draws, seed=seed)
    spans = {r.segment: (r.day_start, r.day_end) for r in pain.itertuples(index=False)}
    oral_iv = mme.window_mean(*spans["oral_iv"])
    dex_week = mme.window_mean(*spans["intrathecal_dex"])
    side = side_effect_test(load_side_effects())

    def band(x):
        return {"median": float(np.median(x)), "q05": float(np.quantile(x, 0.05)),
                "q95": float(np.quantile(x, 0.95))}

    return {
        "dex_day": DEX_DAY,
        "dex_ug_per_day": float(pumps.loc[pumps["day_start"] == DEX_DAY, "dex_ug_per_day"].iloc[0]),
        "intrathecal_morphine_mg_per_day": dict(zip(pumps["mixture"], pumps["morphine_mg_per_day"], strict=True)),
        "mme_oral_iv_days": band(oral_iv),
        "mme_dex_week": band(dex_week),
        "side_effects": side,
    }
