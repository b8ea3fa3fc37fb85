"""``matloop suggest`` with several ``--goal`` options: the multi-objective path
(:func:`matloop.design.multi_suggest.suggest_multi`)."""

from __future__ import annotations

import argparse


def run_multi(args: argparse.Namespace, goals: list) -> int:
    """Load the table with every goal as a target, rank, write the batch and print one line per pick."""
    from matloop.design.multi_suggest import suggest_multi
    from matloop.errors import InputError
    from matloop.io.write import write_table
    from matloop.progress import say

    if getattr(args, "candidates", None):
        raise InputError("--candidates is not supported with several goals yet: add the candidates to the table "
                         "as rows whose goal cells are empty")
    if getattr(args, "history", None):
        raise InputError("--history is not supported with several goals yet")
    if getattr(args, "acquisition", None):
        raise InputError(f"--acquisition {args.acquisition} scores one goal; with several goals choose "
                         "--scalarize ehvi, parego or chimera")
    from matloop.design.multiobjective import parse_constraint

    constrained = [parse_constraint(c)[0] for c in args.constraint or []]
    # constraint columns are outcomes measured on some rows, not inputs: read them as targets too
    args.target = list(dict.fromkeys([g.column for g in goals] + constrained))
    from matloop.cli.commands.suggest import load_with_outcomes

    dataset = load_with_outcomes(args)  # the columns a --failed-if rule reads are outcomes, not inputs
    say(f"fitting one {args.model} surrogate per goal ({', '.join(g.text() for g in goals)}) and ranking the rows "
        f"whose goals are all empty by {args.scalarize or 'ehvi'}")
    out = suggest_multi(dataset, goals, batch=args.batch, scalarize=args.scalarize, model=args.model,
                        seed=args.seed, constraints=args.constraint, failed_if=getattr(args, "failed_if", None),
                        retry_failed=getattr(args, "retry_failed", False))  # failed rows: design/outcomes.py
    write_table(out, args.output, round_columns=[c for c in out.columns if c not in set(dataset.frame.columns)])
    print(f"goals: {'; '.join(g.words() for g in goals)}")
    print(f"trained on {out.attrs.get('n_measured')} measured rows (each goal on the rows where it is measured), "
          f"ranked {out.attrs.get('n_candidates')} candidates; wrote the best {len(out)} to {args.output}")
    inputs = dataset.parameter_columns if dataset.kind == "parameters" else [dataset.input]
    inputs = [c for c in inputs if c not in {g.column for g in goals}]
    for _, row in out.iterrows():
        label = ", ".join(f"{c}={row[c]:.4g}" if isinstance(row[c], int | float) else f"{c}={row[c]}"
                          for c in inputs)
        print(f"  {int(row['rank'])}. {label}: {row['reason']}")
    return 0


def run_multi_benchmark(args: argparse.Namespace, goals: list) -> int:
    """``matloop benchmark campaign --goal ... --goal ...``: hypervolume fraction vs experiments."""
    import json

    from matloop.cli.common import load_table
    from matloop.design.multi_simulate import multi_benchmark
    from matloop.design.surrogate import featurize

    dataset = load_table(args).training()
    X = featurize(dataset).to_numpy(dtype=float)
    Y = dataset.frame[[g.column for g in goals]].to_numpy(dtype=float)
    strategies = ["default" if s == "default" else s for s in args.strategies]
    initial = max(args.initial, 2)
    result = multi_benchmark(X, Y, goals, strategies, runs=args.runs, n_initial=initial, budget=args.budget,
                             batch=args.batch, seed=args.seed, progress=not args.quiet)
    print(f"pool {result.n_pool}, goals: {'; '.join(g.words() for g in goals)}; {args.runs} runs; fraction of the "
          "pool's hypervolume reached (goals scaled by the pool's range)")
    print(result.summary().to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result.to_dict(), fh, indent=1, default=lambda v: None if v != v else v)
        print(f"wrote {args.json}")
    if args.plot:
        from matloop.cli.commands.benchmark import plot_curves

        plot_curves(result, args.plot, "pool's hypervolume reached (%)")
    return 0
