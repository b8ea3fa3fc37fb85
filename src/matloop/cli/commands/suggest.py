"""``matloop suggest``: the next experiments from one table, without a ledger."""

from __future__ import annotations

import argparse

from matloop.cli.common import add_quiet_argument, add_table_arguments
from matloop.cli.goal import add_goal_arguments, add_surrogate_argument
from matloop.cli.options import acquisition_name, constraint, positive_int, seed

DESCRIPTION = """\
Fit a model with uncertainty on the rows whose target is measured, score the rows whose target is
empty (the candidates) and write the best batch: every column of the chosen rows as given, plus
prediction, std, acquisition, rank and a short reason. Candidates are the rows of TABLE with a blank
target cell, and/or the rows of a second table given with --candidates (same kind of input; those
already measured in TABLE are left out).

A table without a formula/SMILES/structure column is a process table: its numeric columns other
than the target are the design parameters.

examples:
  matloop suggest pool.csv --target "gap expt" --maximize --batch 5 -o next.csv
  matloop suggest pool.csv --target "gap expt" --target-range 1.1 1.5 --batch 10 -o next.csv
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``suggest`` subcommand."""
    parser = subparsers.add_parser("suggest", help="rank candidate rows and suggest the next experiments",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_arguments(parser, target_required=True)
    add_design_arguments(parser)
    parser.add_argument("--candidates", metavar="TABLE",
                        help="a table of candidates (the same kind of input as TABLE: formulas, SMILES, ... or the "
                             "parameter columns); its rows join TABLE's rows with a blank target")
    parser.add_argument("--candidates-input", metavar="COL",
                        help="the material column of --candidates (detected when not given)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.csv", help="where to write the batch")
    add_quiet_argument(parser)
    parser.set_defaults(func=run)


def add_design_arguments(parser: argparse.ArgumentParser) -> None:
    """Goal, batch size, acquisition, batch method, model, constraints and seed."""
    add_goal_arguments(parser)
    g = parser.add_argument_group("strategy")
    g.add_argument("--batch", type=positive_int, default=5, metavar="K", help="how many experiments to suggest (default 5)")
    g.add_argument("--acquisition", metavar="NAME", type=acquisition_name,
                   help="ei, logei, pi, mli, ucb, lcb, mei (exploit), mu (max uncertainty), thompson, novelty; "
                        "default: logei, or the window probability with --target-range")
    g.add_argument("--batch-method", choices=("penalized", "believer", "thompson"), default="penalized",
                   help="how a batch stays diverse (default: penalized)")
    add_surrogate_argument(g)
    g.add_argument("--constraint", action="append", metavar="EXPR", type=constraint,
                   help="another measured column must satisfy this, e.g. 'density < 8' (repeatable)")
    g.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")


def run(args: argparse.Namespace) -> int:
    from matloop.cli.common import load_table
    from matloop.cli.goal import objective_from_args
    from matloop.design.suggest import suggest
    from matloop.io.write import output_format, write_table

    output_format(args.output)  # a bad output name fails now, not after the fit
    dataset = load_table(args)
    candidates = None
    if args.candidates:
        candidates = load_table(argparse.Namespace(
            table=args.candidates, input=args.candidates_input, target=None, kind=dataset.kind,
            skip_invalid=args.skip_invalid, duplicates="keep", output=args.output))
    from matloop.progress import say

    n_measured = int(dataset.labelled.sum())
    n_open = len(dataset) - n_measured
    say(f"fitting the {args.model} surrogate on {n_measured} measured rows and ranking "
        f"{n_open} candidates" + (f" and the rows of {args.candidates}" if candidates is not None else ""))
    out = suggest(dataset, objective_from_args(args), batch=args.batch, acquisition=args.acquisition,
                  batch_method=args.batch_method, model=args.model, seed=args.seed, constraints=args.constraint,
                  candidates=candidates)
    user_columns = set(dataset.frame.columns) | (set(candidates.frame.columns) if candidates is not None else set())
    write_table(out, args.output, round_columns=[c for c in out.columns if c not in user_columns])  # 6 digits
    known = out.attrs.get("n_known_left_out", 0)
    print(f"trained on {n_measured} measured rows, ranked {out.attrs.get('n_candidates', n_open)} candidates"
          + (f" ({known} rows of {args.candidates} already measured were left out)" if known else "")
          + f"; wrote the best {len(out)} to {args.output}")
    for _, row in out.iterrows():
        label = row[dataset.input] if dataset.input else ", ".join(f"{c}={row[c]:.4g}" for c in dataset.parameter_columns)
        print(f"  {int(row['rank'])}. {label}: {row['reason']}")
    return 0
