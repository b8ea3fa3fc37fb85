"""``matloop suggest`` with several ``--goal`` options: the multi-objective path
(:func:`matloop.design.multi_suggest.suggest_multi`)."""

from __future__ import annotations

import argparse


def run_multi(args: argparse.Namespace, goals: list) -> int:
    """Load the table with every goal as a target, rank, write the batch and print one line per pick."""
    from matloop.cli.common import wrote_batch
    from matloop.design.multi_options import check_batch_method, read_goal_history, resolve_acquisition
    from matloop.design.multi_suggest import suggest_multi
    from matloop.io.write import write_table
    from matloop.progress import say

    check_batch_method(getattr(args, "batch_method", None))  # several goals: always fantasies (never ignored)
    from matloop.design.multi_options import default_scalarize

    # an impossible combination exits 2 now; @TOL tolerances without --scalarize select Chimera
    scalarize, _ = resolve_acquisition(default_scalarize(goals, args.scalarize), args.acquisition)
    history = read_goal_history(getattr(args, "history", None), [g.column for g in goals])
    from matloop.cli.goal import outcome_columns

    # constraint columns are outcomes measured on some rows, not inputs: read them as targets too
    args.target = outcome_columns(args.table, goals, args.constraint)
    from matloop.cli.commands.suggest import load_with_outcomes

    dataset = load_with_outcomes(args)  # the columns a --failed-if rule reads are outcomes, not inputs
    from matloop.cli.commands._target_order import apply_target_order

    dataset = apply_target_order(args, dataset, [g.column for g in goals])[0]  # an ordinal goal's labels scored
    from matloop.cli.commands._benchmark_failures import check_numeric_goals

    check_numeric_goals(dataset, [g.column for g in goals], getattr(args, "failed_if", None))
    candidates = None
    if getattr(args, "candidates", None):  # a second table: its rows join with every goal blank
        from matloop.cli.common import load_table

        candidates = load_table(argparse.Namespace(
            table=args.candidates, input=args.candidates_input, target=None, kind=dataset.kind,
            skip_invalid=args.skip_invalid, duplicates="keep", output=args.output))
    say(f"fitting one {args.model} surrogate per goal ({', '.join(g.text() for g in goals)}) and ranking the rows "
        f"whose goals are all empty by {scalarize or 'ehvi'}")
    out = suggest_multi(dataset, goals, batch=args.batch, scalarize=args.scalarize, model=args.model,
                        seed=args.seed, constraints=args.constraint, failed_if=getattr(args, "failed_if", None),
                        retry_failed=getattr(args, "retry_failed", False),  # failed rows: design/outcomes.py
                        candidates=candidates, history=history, acquisition=args.acquisition,
                        allow_replicates=getattr(args, "allow_replicates", False),  # design/multi_options.py
                        transfer=getattr(args, "transfer", "none"), same=getattr(args, "same", None))
    user_columns = set(dataset.frame.columns) | (set(candidates.frame.columns) if candidates is not None else set())
    write_table(out, args.output, round_columns=[c for c in out.columns if c not in user_columns])
    from matloop.design.multi_options import goals_words

    print(f"goals: {goals_words(goals, scalarize, args.constraint)}")
    if out.attrs.get("acquisition_note"):
        print(f"acquisition: {out.attrs['acquisition_note']}")
    if out.attrs.get("history"):
        print(f"history: {out.attrs['history']}")
    known, reps = out.attrs.get("n_known_left_out", 0), out.attrs.get("n_replicates_left_out", 0)
    cold = len(out) and out["reason"].astype(str).str.startswith("space-filling").all()
    print((f"cold start: fewer than 2 results of a goal ({out.attrs.get('n_measured')} measured rows), so no model "
           f"was fitted; a space-filling batch from {out.attrs.get('n_candidates')} candidates" if cold else
           f"trained on {out.attrs.get('n_measured')} measured rows (each goal on the rows where it is measured), "
           f"ranked {out.attrs.get('n_candidates')} candidates")
          + (f" (with the rows of {args.candidates}; {known} of them already measured were left out)"
             if candidates is not None else "") + wrote_batch(len(out), args.batch, args.output))
    if reps:
        from matloop.cli.common import replicates_left_out

        print(replicates_left_out(reps))
    if out.attrs.get("feasibility_model"):
        from matloop.cli.common import failed_rows_line

        print(failed_rows_line(out.attrs.get("n_failed", 0), out.attrs["feasibility_model"]))
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

    from matloop.cli.commands.benchmark import measured_rows
    from matloop.cli.common import load_table
    from matloop.design.encode import category_features
    from matloop.design.multi_simulate import multi_benchmark
    from matloop.design.surrogate import featurize

    dataset = measured_rows(load_table(args))
    X = featurize(dataset).to_numpy(dtype=float)
    Y = dataset.frame[[g.column for g in goals]].to_numpy(dtype=float)
    strategies = ["default" if s == "default" else s for s in args.strategies]
    initial = args.initial
    groups = None
    if args.same:  # --same: every round of --batch shares these columns (design/batch_groups.py)
        from matloop.design.batch_groups import same_groups

        groups = same_groups(dataset.frame, args.same)
    result = multi_benchmark(X, Y, goals, strategies, runs=args.runs, n_initial=initial, budget=args.budget,
                             batch=args.batch, seed=args.seed, progress=not args.quiet,
                             categories=category_features(dataset), groups=groups)
    print(f"pool {result.n_pool}, goals: {'; '.join(g.words() for g in goals)}; {args.runs} runs; fraction of the "
          "pool's hypervolume reached (goals scaled by the pool's range)"
          + (f"; every round of {args.batch} shares {', '.join(args.same)} (--same)" if args.same else ""))
    print(result.summary().to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result.to_dict(), fh, indent=1, default=lambda v: None if v != v else v)
        print(f"wrote {args.json}")
    if args.plot:
        from matloop.cli.commands.benchmark import plot_curves
        from matloop.design.multi_simulate import random_baseline

        base = random_baseline(Y, goals, initial, args.budget, seed=args.seed)  # drawn even without 'random'
        plot_curves(result, args.plot, "pool's hypervolume reached (%)", baseline=base)
    return 0
