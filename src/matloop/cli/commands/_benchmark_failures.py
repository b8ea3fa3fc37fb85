"""``matloop benchmark campaign --failed-if RULE`` (and ``--target-order``): simulated campaigns on a
table where some experiments fail (:mod:`matloop.design.simulate_failures`)."""

from __future__ import annotations

import argparse


def add_failure_benchmark_arguments(parser: argparse.ArgumentParser) -> None:
    """``--failed-if`` and ``--target-order`` of ``benchmark campaign``."""
    from matloop.cli.commands.suggest import failure_rule

    parser.add_argument("--failed-if", metavar="RULE", type=failure_rule,
                        help="rows whose outcome matches are failed experiments (as on suggest and campaign), e.g. "
                             "\"crystal_score == 'clear_solution'\"; a row with status 'failed' too. Failed rows "
                             "stay in the pool (a pick costs an experiment and yields nothing); strategies use the "
                             "feasibility model as suggest does, no-feasibility is the default without it, and "
                             "the summary counts the failed experiments (failed_mean)")
    parser.add_argument("--target-order", metavar="LABEL,LABEL,...",
                        help="a text target (an ordinal outcome such as crystal_score): its labels from worst to "
                             "best, scored 0, 1, 2, ...")


def text_target_error(column: str):
    """The error for a target of text labels without --target-order."""
    from matloop.errors import InputError

    return InputError(f"the target {column!r} holds text labels, not numbers: give their order from worst to best "
                      f"with --target-order (e.g. --target-order clear_solution,fine_powder,small_crystallites,"
                      "large_crystallites), and --failed-if for the labels that mean the experiment failed")


def run_failure_benchmark(args: argparse.Namespace, goals: list) -> int:
    """Load, mark failures, score the target (ordinal labels with --target-order), replay, print."""

    import numpy as np
    import pandas as pd

    from matloop.cli.commands.suggest import load_with_outcomes
    from matloop.design.encode import category_features
    from matloop.design.ordinal import top_score
    from matloop.design.outcomes import STATUS_COLUMN, failure_outcomes, without_outcome_columns
    from matloop.design.simulate_failures import failure_benchmark, ordinal_scores
    from matloop.design.surrogate import featurize
    from matloop.errors import InputError, error_table

    if len(goals) > 1:
        raise InputError("--failed-if and --target-order in benchmark campaign work with one goal; give one "
                         "--target (or one --goal)")
    rule = args.failed_if
    dataset = without_outcome_columns(load_with_outcomes(args), rule)
    frame, rows, col = dataset.frame, np.asarray(dataset.rows), dataset.target
    failed = (failure_outcomes(frame, rows, rule)[0] if rule is not None or STATUS_COLUMN in frame.columns
              else np.zeros(len(frame), dtype=bool))
    if args.target_order:
        order = [s.strip() for s in str(args.target_order).split(",") if s.strip()]
        if len(order) < 2 or len(set(order)) < len(order):
            raise InputError(f"--target-order needs at least 2 distinct labels, got {args.target_order!r}")
        y = ordinal_scores(frame[col].to_numpy(dtype=object), order, col, rows)
    else:
        y = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        texts = frame[col].notna().to_numpy() & np.isnan(y) & ~failed
        if texts.any():
            raise text_target_error(col)
    missing = np.isnan(y) & ~failed
    if missing.any():
        raise InputError(f"{int(missing.sum())} rows that did not fail have no {col!r} value: a benchmark needs every "
                         "experiment's outcome (a value, or a failure)", error_table(
                             [{"row": int(r), "column": col, "value": None, "reason": "no value and not failed"}
                              for r in rows[missing][:200]]))
    X = featurize(dataset).to_numpy(dtype=float)
    objective = goals[0].objective
    result = failure_benchmark(X, y, failed, list(args.strategies), runs=args.runs, n_initial=args.initial,
                               budget=args.budget, top_fraction=args.top_fraction, batch=args.batch, seed=args.seed,
                               objective=objective, progress=not args.quiet,
                               top_score=top_score(order if args.target_order else None, objective),
                               categories=category_features(dataset))
    ok = int((~failed).sum())
    print(f"pool {result.n_pool} experiments ({result.n_failed_pool} failed, {ok} succeeded; duplicate inputs kept), "
          f"top candidates {result.n_top} (best {args.top_fraction:.0%} of the successes, ties included), "
          f"{args.runs} runs")
    summary = result.summary()
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("failed_mean: failed experiments among each run's picks (the random start excluded); first_top_hit: "
          "experiments to the first top candidate")
    if args.json:
        from matloop.cli.commands.benchmark import write_json

        write_json(args.json, result, dataset, failed_if=rule, target_order=args.target_order)
    if args.plot:
        from matloop.cli.commands.benchmark import plot_curves

        plot_curves(result, args.plot, "top candidates found (%)", analytic_random=True)
    return 0


def check_numeric_goals(dataset, columns: list[str], rule: str | None) -> None:
    """``suggest``: a goal column holding text in a row that did not fail is an error (exit 2), never read
    as "not measured" (which would propose measured rows again)."""
    import numpy as np
    import pandas as pd

    from matloop.design.outcomes import STATUS_COLUMN, failure_outcomes
    from matloop.errors import InputError, error_table
    from matloop.io.validate import number_hint

    frame = dataset.frame
    failed = None
    for col in columns:
        if col not in frame.columns or pd.api.types.is_numeric_dtype(frame[col]):
            continue
        cells = frame[col]
        text = (cells.notna() & (cells.astype(str).str.strip() != "")
                & pd.to_numeric(cells, errors="coerce").isna()).to_numpy()
        if failed is None:
            failed = (failure_outcomes(frame, dataset.rows, rule)[0] if rule is not None or STATUS_COLUMN in frame
                      else np.zeros(len(frame), dtype=bool))
        bad = text & ~failed
        if bad.any():
            rows = np.asarray(dataset.rows)[bad]
            raise InputError(f"the goal column {col!r} holds text in {int(bad.sum())} rows that did not fail: a goal "
                             "needs numbers (for an ordinal outcome such as crystal_score, give its labels from worst "
                             "to best with --target-order, or add a numeric score column as the goal and keep the "
                             "labels for --failed-if)", error_table(
                                 [{"row": int(r), "column": col, "value": v, "reason": "not a number" + number_hint(v)}
                                  for r, v in zip(rows[:200], cells[bad].head(200), strict=False)]))
