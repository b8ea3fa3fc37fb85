"""``matloop benchmark``: measure strategies on your own data before spending lab time."""

from __future__ import annotations

import argparse

from matloop.cli.common import add_quiet_argument

CAMPAIGN_DESCRIPTION = """\
Replay a closed-loop campaign on a fully measured table, as in Liang et al. 2021 (npj Comput Mater
7, 188): duplicate inputs are averaged, the best ceil(5%) of the pool are the top candidates, each run
starts from --initial random measurements and a strategy picks the next one until --budget. Reports
Top%(i) (fraction of top candidates found after i experiments), the enhancement factor EF and the
acceleration factor AF against analytic random sampling, for every strategy. --initial 0 replays a
cold start: a model strategy's first picks are the space-filling design suggest gives with fewer than
2 results (numeric settings spread, categories in turn), the random strategy's are random.

strategies: random, default, or MODEL-ACQUISITION with MODEL in auto, rf, et, gp, gbm and
ACQUISITION in ei, logei, pi, mli, ucb, lcb, mei, mu, thompson (e.g. gp-ei rf-lcb).

example:
  matloop benchmark campaign p3ht.csv --target "Conductivity (measured) (S/cm)" --maximize \\
      --runs 20 --strategies default gp-ei random --json res.json --plot res.png

failed experiments (--failed-if, as on suggest; failed rows stay in the pool and cost an experiment) and
an ordinal text target (--target-order, worst to best); strategies default (with the feasibility model),
no-feasibility (without it), random; the summary counts the failed experiments (failed_mean):
  matloop datasets export vapdiff_crystal -o vapdiff.csv
  matloop benchmark campaign vapdiff.csv --target crystal_score --maximize --failed-if "crystal_score == 'clear_solution'" \\
      --target-order clear_solution,fine_powder,small_crystallites,large_crystallites --strategies default no-feasibility random \\
      --runs 2 --budget 12 --batch 4

several goals (--goal, one per objective): the fraction of the pool's hypervolume reached (each goal
scaled by the pool's range) and the experiments to 50 % and 90 % of it; strategies default (EHVI),
parego, chimera, random:
  matloop benchmark campaign redoxmers.csv --goal abs_lam_diff:min --goal ered:min --goal gsol:min --runs 2 \\
      --budget 12 --initial 4
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``benchmark`` and its ``campaign`` subcommand."""
    parser = subparsers.add_parser("benchmark", help="simulated campaigns on fully measured data")
    sub = parser.add_subparsers(dest="benchmark_command", metavar="KIND", title="benchmarks")
    parser.set_defaults(func=lambda args: parser.print_help() or 0)
    camp = sub.add_parser("campaign", help="replay closed-loop strategies on a measured table",
                          description=CAMPAIGN_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    from matloop.cli.common import add_table_arguments
    from matloop.cli.goal import add_goal_arguments
    from matloop.cli.options import fraction, int_at_least, output_file, positive_int, seed

    add_table_arguments(camp, target_required=False)  # --goal may name the targets instead
    add_goal_arguments(camp, multi=True)
    camp.add_argument("--initial", type=int_at_least(0), default=2,
                      help="random experiments before the first model (default 2); 0 or 1: a cold start, whose first "
                           "picks are the space-filling design suggest gives with fewer than 2 results (random picks "
                           "for the random strategy)")
    camp.add_argument("--runs", type=positive_int, default=50, help="independent runs with different seeds (default 50)")
    camp.add_argument("--budget", type=positive_int, help="experiments per run (default: the whole pool)")
    camp.add_argument("--top-fraction", type=fraction, default=0.05, help="share of the pool that is 'top' (default 0.05)")
    camp.add_argument("--strategies", nargs="+", default=["default", "random"], metavar="NAME",
                      help="strategies to compare (default: default random)")
    camp.add_argument("--batch", type=positive_int, default=1,
                      help="experiments per round (default 1); a round of several is chosen as matloop suggest "
                           "chooses a batch (the fantasy method)")
    camp.add_argument("--seed", type=seed, default=0, help="seed of the first run (default 0)")
    camp.add_argument("--same", action="append", metavar="COL",
                      help="every round of --batch shares this column's value, as suggest --same chooses it: what "
                           "one oven run per batch costs on your data (repeatable; one goal or several, without failures)")
    camp.add_argument("--json", metavar="OUT.json", type=output_file, help="write curves and figures of merit as JSON")
    camp.add_argument("--plot", metavar="OUT.png", type=output_file, help="plot Top%% vs experiments for each strategy")
    from matloop.cli.commands._benchmark_failures import add_failure_benchmark_arguments

    add_failure_benchmark_arguments(camp)  # --failed-if, --target-order
    add_quiet_argument(camp)
    camp.set_defaults(func=run_campaign)


def run_campaign(args: argparse.Namespace) -> int:

    from matloop.cli.common import load_table
    from matloop.cli.goal import goals_from_args
    from matloop.design.encode import category_features
    from matloop.design.simulate import average_duplicates, benchmark, make_strategy
    from matloop.design.surrogate import featurize

    goals = goals_from_args(args)  # one objective or several (--goal); inconsistent options exit 2
    args.target = [g.column for g in goals]
    from matloop.design.outcomes import STATUS_COLUMN
    from matloop.io.files import read_columns

    status = STATUS_COLUMN in read_columns(args.table)  # failed experiments marked as suggest reads them
    if status and len(goals) > 1 and not getattr(args, "failed_if", None):
        from matloop.errors import InputError

        raise InputError(f"the table has a {STATUS_COLUMN!r} column (failed experiments): benchmark campaign replays "
                         "failures with one goal; give one --target, or leave the failed rows and the column out")
    if args.same and (getattr(args, "failed_if", None) or getattr(args, "target_order", None) or status):
        from matloop.errors import InputError, error_table

        raise InputError("benchmark campaign --same replays numeric goals without failures (suggest and campaign "
                         "suggest take --same with failures too)", error_table(
                             [{"row": 0, "column": "--same", "value": c, "reason": "failures or labels: not "
                               "replayed with --same"} for c in args.same]))
    if getattr(args, "failed_if", None) or getattr(args, "target_order", None) or status:  # failures, ordinal targets
        from matloop.cli.commands._benchmark_failures import run_failure_benchmark

        return run_failure_benchmark(args, goals)
    if len(goals) > 1:
        from matloop.cli.commands._suggest_multi import run_multi_benchmark

        return run_multi_benchmark(args, goals)
    dataset = measured_rows(load_table(args))
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(dataset.frame[dataset.target]):  # labels: --target-order says their order
        from matloop.cli.commands._benchmark_failures import text_target_error

        raise text_target_error(dataset.target)
    objective = goals[0].objective
    X = featurize(dataset)
    y = dataset.y.to_numpy(dtype=float)
    Xu, yu, counts = average_duplicates(X, y)
    if (counts > 1).any():
        print(f"averaged {int((counts - 1).sum())} duplicate rows (the same inputs, or inputs with the same features, "
              f"such as two spellings of one molecule): pool of {len(yu)} distinct inputs")
    if args.initial >= len(yu):
        from matloop.errors import InputError

        raise InputError(f"--initial {args.initial} leaves nothing to choose from a pool of {len(yu)} distinct inputs; "
                         f"give at most {len(yu) - 1}")
    strategies = {name: make_strategy(name, args.seed) for name in args.strategies}
    groups = None
    if args.same:  # one label per distinct input (average_duplicates keeps first appearances in order)
        from matloop.design.batch_groups import same_groups

        firsts = ~X.duplicated(keep="first").to_numpy()
        groups = same_groups(dataset.frame, args.same)[firsts]
    result = benchmark(Xu.to_numpy(dtype=float), yu, strategies, runs=args.runs, n_initial=args.initial,
                       budget=args.budget, top_fraction=args.top_fraction, batch=args.batch, seed=args.seed,
                       objective=objective, progress=not args.quiet, categories=category_features(dataset),
                       groups=groups)
    summary = result.summary()
    print(f"pool {result.n_pool}, top candidates {result.n_top} (best {args.top_fraction:.0%}), {args.runs} runs"
          + (f"; every round of {args.batch} shares {', '.join(args.same)} (--same)" if args.same else ""))
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if args.json:
        write_json(args.json, result, dataset)
    if args.plot:
        plot_curves(result, args.plot, "top candidates found (%)", analytic_random=True)
    return 0


def measured_rows(dataset):
    """The rows of ``dataset`` with every goal measured: the pool a benchmark replays. The others are left
    out, and the note on stderr says how many (a failed experiment needs status = failed or --failed-if)."""
    import sys

    out = dataset.training()
    n = len(dataset.frame) - len(out.frame)
    if n:
        goals = " or ".join(repr(t) for t in dataset.targets)
        print(f"note: {n} row{'s' if n != 1 else ''} with no {goals} value {'are' if n != 1 else 'is'} left out of "
              "the replay (a benchmark replays measured rows; mark a failed experiment with a status column of "
              "'failed' or --failed-if)", file=sys.stderr)
    return out


def write_json(path: str, result, dataset, **extra) -> None:
    """The benchmark's JSON: its results, ``extra`` entries and how the parameters were encoded (design.encode)."""
    import json

    payload = {**result.to_dict(), **extra}
    if getattr(dataset, "encoding", None) is not None:
        payload["encoding"] = dataset.encoding.records()
    with open(path, "w") as fh:
        json.dump(payload, fh, indent=1, default=lambda v: None if v != v else v)
    print(f"wrote {path}")


def plot_curves(result, path: str, ylabel: str, analytic_random: bool = False, baseline=None) -> None:
    """Mean curve of each strategy vs experiments (percent), and the analytic random baseline
    when the result has one (or ``baseline``, a curve of random picks); written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in result.curves:
        curve = result.mean_curve(name)
        ax.plot(np.arange(1, len(curve) + 1), 100 * curve, label=name)
    if analytic_random:
        ax.plot(np.arange(1, len(curve) + 1), 100 * result.random_curve(len(curve)), "k--", label="random (analytic)")
    if baseline is not None:
        ax.plot(np.arange(1, len(baseline) + 1), 100 * np.asarray(baseline), "k--", label="random picks (mean)")
    ax.set_xlabel("experiments")
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")
