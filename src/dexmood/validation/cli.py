"""``python -m dexmood study``: run the simulation study locally or on Dask and write its table.

    python -m dexmood study --replicates 1000 --engine dask --workers 32 \\
        --address tcp://scheduler:8786 --bayesian 500 --out study.csv

The same seed gives identical rows whatever the engine, the workers and the chunking. Without
``--scenarios`` every scenario of notebook 08 runs with ``--replicates`` replicates each.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from dexmood.settings import SETTINGS
from dexmood.validation import engines, study
from dexmood.validation.scenarios import SCENARIOS


def add_study_command(subparsers) -> None:
    """Register the ``study`` subcommand on an argparse subparsers object (handler: `run_study_command`)."""
    p = subparsers.add_parser("study", help="run the simulation study (notebook 08) and write its table",
                              description=__doc__.splitlines()[0])
    p.add_argument("--replicates", type=int, default=study.DEFAULT_REPLICATES["published"],
                   help="replicates per scenario")
    p.add_argument("--seed", type=int, default=SETTINGS.seed)
    p.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS), metavar="SCENARIO",
                   help=f"scenarios to run (default: all: {', '.join(SCENARIOS)})")
    p.add_argument("--bayesian", type=int, default=0, metavar="N",
                   help="Bayesian replicates of the 'published' scenario (default 0)")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="replicates per scenario with the percentile-bootstrap AIPW interval (default 0)")
    p.add_argument("--engine", choices=engines.ENGINES, default="local")
    p.add_argument("--workers", type=int, default=2, help="worker processes (local, or a Dask LocalCluster)")
    p.add_argument("--address", help="address of a running Dask scheduler (tcp://host:8786)")
    p.add_argument("--out", required=True, help="output CSV (its metadata goes to the same name with .json)")
    p.set_defaults(func=run_study_command)


def run_study_command(args) -> int:
    """Run the study with the parsed arguments, write ``--out`` and print a one-line report; exit code 0."""
    if args.replicates < 1:
        raise engines.EngineError("--replicates must be at least 1")
    if args.address and args.engine != "dask":
        raise engines.EngineError("--address needs --engine dask")
    replicates = {key: args.replicates for key in args.scenarios}
    bootstrap = {key: args.bootstrap for key in args.scenarios} if args.bootstrap else {}
    with contextlib.ExitStack() as stack:
        client = (stack.enter_context(engines.dask_client(args.workers, args.address))
                  if args.engine == "dask" else None)
        result = study.run_study(replicates, args.seed, args.workers, bootstrap=bootstrap,
                                 bayes_scenario="published" if args.bayesian else None, bayes_reps=args.bayesian,
                                 engine=args.engine, client=client, use_cache=False)
    path = study.write_study_file(result, args.out)
    failed = f", {result.failed_bayes_fits} of {args.bayesian} Bayesian fits failed their diagnostics" \
        if args.bayesian else ""
    print(f"wrote {len(result.replicates):,} rows ({len(replicates)} scenarios × {args.replicates} replicates"
          f"{failed}) to {path} in {result.compute_seconds:.1f} s on {args.engine}", file=sys.stdout)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (the package CLI registers the same command)."""
    parser = argparse.ArgumentParser(prog="python -m dexmood.validation.cli")
    add_study_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["study", *(argv or [])])
    return args.func(args)
