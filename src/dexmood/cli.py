"""Command line: `python -m dexmood validate | simulate | analyze`.

Exit codes: 0 success, 2 bad input (a readable one-paragraph message on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dexmood import cohort as cohort_mod
from dexmood import effects, matching, mediation, sensitivity
from dexmood.errors import DexmoodError
from dexmood.validation.cli import add_study_command


def _cmd_validate(args) -> int:
    frame = cohort_mod.load(args.cohort)
    flow = cohort_mod.flow_table(frame)
    counts = frame["group"].value_counts()
    print(f"{args.cohort}: valid cohort, {len(frame)} patients "
          f"(DEX {int(counts.get('DEX', 0))}, LA {int(counts.get('LA', 0))}).")
    for _, row in flow.iterrows():
        if "not" in row["stage"] and row["n"]:
            print(f"  {row['stage']}: {row['n']} ({row['reason']})")
    return 0


def _cmd_simulate(args) -> int:
    simulated = cohort_mod.simulate(seed=args.seed)
    out = cohort_mod.write_csv(simulated.data, args.out)
    print(f"wrote {len(simulated.data)} SIMULATED patients (seed {args.seed}) to {out}")
    if args.truth:
        Path(args.truth).write_text(cohort_mod.truth_json(simulated.truth))
        print(f"wrote the simulation truth to {args.truth}")
    return 0


def analyze(cohort: cohort_mod.Cohort, out_dir: Path) -> dict:
    """Run the pipeline on a cohort and write `results.json` (and `matched.csv`) into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = cohort.data
    results: dict = {
        "data": {"source": cohort.source, "simulated": cohort.simulated},
        "n": {"DEX": int((frame["group"] == "DEX").sum()), "LA": int((frame["group"] == "LA").sum()),
              "analysed": len(frame)},
    }
    match_result = matching.default_match(cohort)
    results["matching"] = matching.results_section(match_result)
    matching.write_matched_csv(match_result, out_dir / "matched.csv")
    results.update(effects.results_section(match_result, cohort))
    posterior = mediation.fit_matched(cohort)
    mediation.check_diagnostics(posterior)  # a poor fit stops the run with a readable message
    results.update(mediation.results_section(posterior))
    results.update(sensitivity.results_section(match_result, cohort))
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _cmd_analyze(args) -> int:
    if args.cohort:
        frame = cohort_mod.load(args.cohort)
        data = cohort_mod.Cohort(data=frame, flow=cohort_mod.flow_table(frame), source=Path(args.cohort).name,
                                 simulated=False)
    else:
        data = cohort_mod.simulate(seed=args.seed)
    results = analyze(data, Path(args.out))
    print(f"wrote {Path(args.out) / 'results.json'} ({', '.join(results)})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dexmood", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a cohort CSV against the data contract")
    p.add_argument("--cohort", required=True, help="path to the cohort CSV")
    p.set_defaults(func=_cmd_validate)
    p = sub.add_parser("simulate", help="write the simulated (synthetic) cohort CSV")
    p.add_argument("--seed", type=int, default=cohort_mod.DEFAULT_SEED)
    p.add_argument("--out", required=True)
    p.add_argument("--truth", help="also write the simulation truth (JSON) here")
    p.set_defaults(func=_cmd_simulate)
    p = sub.add_parser("analyze", help="run the analysis pipeline and write DIR/results.json")
    p.add_argument("--cohort", help="cohort CSV (default: the simulated cohort)")
    p.add_argument("--seed", type=int, default=cohort_mod.DEFAULT_SEED, help="simulation seed without --cohort")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=_cmd_analyze)
    add_study_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DexmoodError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
