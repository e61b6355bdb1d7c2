"""Command line of the dexmood package: validate, simulate and analyse a cohort.

Exit codes: 0 success; 2 bad input (a readable one-paragraph message, never a traceback); 3 a Bayesian fit
failed its convergence diagnostics (its numbers are not reported); 1 a bug (the traceback is then shown).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dexmood import cache, pipeline
from dexmood import cohort as cohort_mod
from dexmood.errors import DexmoodError, DiagnosticsError
from dexmood.settings import SETTINGS
from dexmood.validation.cli import add_study_command

EXAMPLES = """\
examples:
  python -m dexmood validate --cohort my_cohort.csv
  python -m dexmood simulate --out cohort.csv --truth truth.json
  python -m dexmood analyze --cohort my_cohort.csv --out results/
  python -m dexmood analyze --out results/            # the simulated cohort

exit codes:
  0  success
  2  bad input: the message names the column, rows and values (nothing is dropped silently)
  3  a Bayesian fit failed its convergence diagnostics (R-hat, ESS, divergences)
  1  a bug in dexmood (please report it with the traceback)

The data contract (columns, ranges, optional columns) is documented in data/README.md.
"""


def _cmd_validate(args) -> int:
    cohort = cohort_mod.load_cohort(args.cohort)
    frame = cohort.data
    counts = frame["group"].value_counts()
    print(f"{args.cohort}: valid cohort, {len(frame)} patients "
          f"(DEX {int(counts.get('DEX', 0))}, LA {int(counts.get('LA', 0))}).")
    for row in cohort.flow.itertuples(index=False):
        if ("not" in row.stage or row.stage.startswith("covariate")) and row.n:
            print(f"  {row.stage}: {row.n} ({row.reason})")
    return 0


def _cmd_simulate(args) -> int:
    simulated = cohort_mod.simulate(seed=args.seed)
    out = cohort_mod.write_csv(simulated.data, args.out)
    print(f"wrote {len(simulated.data)} SIMULATED patients (seed {args.seed}) to {out}")
    if args.truth:
        Path(args.truth).write_text(cohort_mod.truth_json(simulated.truth))
        print(f"wrote the simulation truth to {args.truth}")
    return 0


def _cmd_analyze(args) -> int:
    out = Path(args.out)
    progress = pipeline.Progress(quiet=args.quiet)
    if args.cohort and not os.environ.get(cache.CACHE_ENV):
        # a user's cohort: its caches go under --out, never into the source tree
        os.environ[cache.CACHE_ENV] = str((out / "cache").resolve())
    settings = SETTINGS.updated(seed=args.seed)
    cohort = pipeline.load_cohort(args.cohort, settings)
    results = pipeline.analyze(cohort, out, settings, progress=progress)
    for note in results["notes"]:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {out / 'results.json'} and {out / 'matched.csv'}")
    if results["failed_diagnostics"]:
        print(f"error: {', '.join(results['failed_diagnostics'])} failed its convergence diagnostics; "
              "the other results were written", file=sys.stderr)
        return DiagnosticsError.exit_code
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dexmood", description=__doc__.splitlines()[0],
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"dexmood {pipeline.version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a cohort CSV against the data contract")
    p.add_argument("--cohort", required=True, help="path to the cohort CSV")
    p.set_defaults(func=_cmd_validate)
    p = sub.add_parser("simulate", help="write the simulated (synthetic) cohort CSV")
    p.add_argument("--seed", type=int, default=SETTINGS.seed, help="simulation seed (default: the book's)")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.add_argument("--truth", help="also write the simulation truth (JSON) here")
    p.set_defaults(func=_cmd_simulate)
    p = sub.add_parser("analyze", help="run the whole pipeline and write DIR/results.json and DIR/matched.csv",
                       epilog="Progress per stage goes to stderr; --quiet silences it.")
    p.add_argument("--cohort", help="cohort CSV (default: the simulated cohort)")
    p.add_argument("--seed", type=int, default=SETTINGS.seed,
                   help="seed of the simulation (without --cohort) and of the bootstrap and sampler")
    p.add_argument("--out", required=True, help="output folder (caches of a user's cohort go to OUT/cache)")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
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
