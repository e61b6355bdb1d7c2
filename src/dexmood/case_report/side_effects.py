"""Side effects (Table 1 of the report): exact signed-rank test with a sign-flip check."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def side_effect_test(side_effects: pd.DataFrame) -> dict:
    """Exact Wilcoxon signed-rank test of after − before over the 12 symptoms, with a sign-flip check.

    Zero differences are dropped (Wilcoxon's convention), so with k changed symptoms the smallest
    attainable two-sided p-value is 2 / 2**k. The unit is a symptom of one patient, not a patient.
    """
    diff = (side_effects["after"] - side_effects["before"]).to_numpy(float)
    changed = diff[diff != 0]
    k = int(changed.size)
    result = stats.wilcoxon(side_effects["after"], side_effects["before"], zero_method="wilcox",
                            method="exact", alternative="two-sided")

    def signed_rank_sum(d, axis=-1):
        ranks = stats.rankdata(np.abs(d), axis=axis)
        return np.sum(np.sign(d) * ranks, axis=axis)

    permutation = stats.permutation_test((changed,), signed_rank_sum, permutation_type="samples",
                                         n_resamples=np.inf, alternative="two-sided")
    return {"n_symptoms": int(diff.size), "n_changed": k, "n_improved": int((changed < 0).sum()),
            "n_worse": int((changed > 0).sum()), "statistic": float(result.statistic),
            "p_exact": float(result.pvalue), "p_sign_flip": float(permutation.pvalue),
            "min_attainable_p": 2.0 / 2**k if k else 1.0}
