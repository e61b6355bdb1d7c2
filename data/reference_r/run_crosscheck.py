"""Regenerate matchit_crosscheck.json: R's MatchIt on the book's simulated cohorts (needs Rscript + MatchIt).

Run from the project root:  .venv/bin/python data/reference_r/run_crosscheck.py
The JSON is committed so that the book (which never needs R) can show the agreement, recomputed from it.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from dexmood import cohort, paths
from dexmood.matching import R_REFERENCE_COHORTS, R_REFERENCE_CONFIGS, reference_cohort

HERE = paths.DATA / "reference_r"


def run(out: Path = HERE / "matchit_crosscheck.json", rscript: str = "Rscript") -> dict:
    combined: dict = {"_about": "R MatchIt results for dexmood.matching's cross-check; produced by "
                                "data/reference_r/run_crosscheck.py with matchit_crosscheck.R.",
                      "cohorts": {}, "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in R_REFERENCE_COHORTS.items():
            frame = reference_cohort(name)
            csv = cohort.write_csv(frame, Path(tmp) / f"{name}.csv")
            configs = [dict(cfg, name=key) for key, cfg in R_REFERENCE_CONFIGS.items() if cfg["cohort"] == name]
            for cfg in configs:
                cfg["covariates"] = cohort.baseline_covariates(frame)
            cfg_path = Path(tmp) / f"{name}_configs.json"
            cfg_path.write_text(json.dumps(configs))
            out_path = Path(tmp) / f"{name}_out.json"
            subprocess.run([rscript, str(HERE / "matchit_crosscheck.R"), str(csv), str(cfg_path), str(out_path)],
                           check=True)
            r_out = json.loads(out_path.read_text())
            combined["r_version"] = r_out["r_version"]
            combined["matchit_version"] = r_out["matchit_version"]
            first = next(iter(r_out["results"].values()))
            combined["cohorts"][name] = dict(spec, n=len(frame), sha256=cohort.file_sha256(csv),
                                             glm_logit=first["glm_logit"] if name == "default" else None)
            for key, res in r_out["results"].items():
                general = res["matchit_general"]
                entry = {"cohort": name, "config": R_REFERENCE_CONFIGS[key],
                         "caliper_logit": general["caliper_logit"] or None,
                         "pairs": general["pairs"], "default_routine_pairs": res["matchit_default"]["pairs"],
                         "balance_before": general["balance_before"], "balance_after": general["balance_after"]}
                combined["results"][key] = entry
    out.write_text(json.dumps(combined, separators=(",", ":")) + "\n")
    return combined


if __name__ == "__main__":
    result = run()
    print(f"wrote {len(result['results'])} configurations")
