"""``matloop demo``: a simulated closed-loop campaign on bundled data, offline, in under a minute."""

from __future__ import annotations

import argparse

from matloop.cli.options import int_at_least, positive_int

DESCRIPTION = """\
Replays a closed-loop campaign on a bundled, fully measured dataset: starting from 2 random
experiments, matloop's default strategy chooses one experiment at a time and "measures" it by
looking up the recorded value. Prints a progress bar, what was found after how many experiments
against random sampling, and writes an HTML report. Runs offline.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser("demo", help="a simulated campaign on bundled data (offline, < 1 min)",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="liang_p3ht",
                        help="bundled dataset with a direction (default liang_p3ht: conductivity of P3HT/CNT films)")
    parser.add_argument("--runs", type=positive_int, default=3, help="independent runs (default 3)")
    parser.add_argument("--budget", type=int_at_least(3), default=40, help="experiments per run (default 40)")
    parser.add_argument("--strategy", default="default",
                        help="strategy name, as in 'matloop benchmark campaign' (default: matloop's default "
                             "closed-loop strategy)")
    parser.add_argument("-o", "--output", default="matloop_demo_report.html", help="HTML report to write")
    parser.set_defaults(func=run)


def read_as_user_table(bundled):
    """A bundled :class:`~matloop.io.Dataset` written to a CSV file and read back with
    :func:`matloop.io.read_table` (detection, validation, duplicate check), as a user's own table is read.

    The demo thereby exercises the table reader of the installed pandas; the bundled metadata (name,
    description, units, direction, citation...) is kept. Replicate measurements are not warned about:
    the demo averages them and says so.
    """
    import dataclasses
    import tempfile
    import warnings
    from pathlib import Path

    from matloop.datasets import export
    from matloop.errors import MatloopError
    from matloop.io import DuplicateWarning, read_table

    with tempfile.TemporaryDirectory(prefix="matloop_demo_") as tmp:
        path = export(bundled, Path(tmp) / "table.csv")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DuplicateWarning)
            ds = read_table(path, target=bundled.targets)
    if (ds.kind, ds.input) != (bundled.kind, bundled.input) or ds.target != bundled.target:
        raise MatloopError(f"reading {bundled.name} back from CSV found {ds.kind} input {ds.input!r}, not "
                           f"{bundled.kind} input {bundled.input!r}: please report this")
    meta = ("name", "description", "units", "direction", "citation", "license", "provenance")
    return dataclasses.replace(ds, **{k: getattr(bundled, k) for k in meta})


def run(args: argparse.Namespace) -> int:
    import time

    from matloop.datasets import load
    from matloop.design.acquisition import Objective
    from matloop.design.simulate import DEFAULT_STRATEGY, average_duplicates, benchmark, make_strategy
    from matloop.design.surrogate import featurize

    t0 = time.perf_counter()
    strategy = make_strategy(args.strategy)  # an unknown name is an input error before any work
    if args.strategy == "default":
        strategy.name = f"default ({DEFAULT_STRATEGY})"
    bundled = load(args.dataset)
    direction = bundled.direction.get(bundled.target)
    if direction not in ("max", "min"):
        print(f"error: {args.dataset} has no optimisation direction; pick e.g. liang_p3ht, liang_agnp, matbench_steels")
        return 1
    ds = read_as_user_table(bundled)
    print(f"1. loaded {ds.name}: {len(ds)} rows, {ds.kind} input, target {ds.target!r} ({direction}imise); "
          "written to a CSV file and read back as your own table would be")
    X = featurize(ds)
    Xu, yu, counts = average_duplicates(X, ds.y.to_numpy(dtype=float))
    print(f"2. {X.shape[1]} input features; averaged replicate measurements: pool of {len(yu)} distinct materials")
    objective = Objective(direction)
    print(f"3. simulating {args.runs} campaigns of {args.budget} experiments each (top 5% = targets)")
    result = benchmark(Xu.to_numpy(dtype=float), yu, {strategy.name: strategy}, runs=args.runs,
                       budget=args.budget, objective=objective)
    summary = result.summary().iloc[0]
    curve = result.mean_curve(strategy.name)
    found = curve[-1] * result.n_top
    print(f"4. after {args.budget} experiments matloop found {found:.1f} of the {result.n_top} top materials "
          f"on average; random sampling would find {args.budget / result.n_pool * result.n_top:.1f}.")
    if summary["evals_to_50pct"] == summary["evals_to_50pct"]:
        print(f"   half of the top materials after {summary['evals_to_50pct']:.0f} experiments "
              f"(random: ~{0.5 * result.n_pool:.0f}; acceleration x{summary['AF_50pct']:.1f})")
    print(f"   first top material after {summary['first_top_hit']:.1f} experiments on average")
    from matloop.report.campaign import simulation_report

    report = simulation_report(result, f"matloop demo: {ds.name}", _first_sentence(ds.description))
    report.write(args.output)
    print(f"5. wrote the report {args.output} ({time.perf_counter() - t0:.0f} s in all)")
    return 0


def _first_sentence(text: str) -> str:
    """The description's first sentence, whole (a subtitle is never cut mid-word)."""
    text = " ".join(str(text or "").split())
    end = text.find(". ")
    return text if end < 0 else text[:end + 1]
