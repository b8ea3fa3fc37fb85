"""Options shared by design commands: ``--maximize | --minimize | --target-range LO HI`` and the
surrogate ``--model``."""

from __future__ import annotations

import argparse


def goal_spec(text: str):
    """``--goal COL:max|COL:min|COL:LO..HI[@TOL]`` checked at parse time (a bad goal exits 2 naming it)."""
    from matloop.design.goals import parse_goal
    from matloop.errors import InputError

    try:
        return parse_goal(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def add_goal_arguments(parser: argparse.ArgumentParser, allow_range: bool = True, multi: bool = False) -> None:
    """Add the mutually exclusive goal options (one is required; with ``multi``, ``--goal`` may replace
    them, see :func:`goals_from_args`)."""
    if multi:
        parser.add_argument("--goal", action="append", type=goal_spec, metavar="COL:max|min|LO..HI[@TOL]",
                            help="an objective (repeatable, one per goal): COL:max, COL:min or COL:LO..HI (land "
                                 "in the window); @TOL is the goal's Chimera tolerance, a fraction of its observed "
                                 "range (e.g. yield:max@0.1). Replaces --target and --maximize/--minimize/"
                                 "--target-range")
        parser.add_argument("--scalarize", choices=("ehvi", "parego", "chimera"),
                            help="how several goals are traded off (default ehvi: expected hypervolume "
                                 "improvement, batch-aware; parego: random Chebyshev weights per pick; chimera: "
                                 "the goals in the order given, each with its tolerance)")
    group = parser.add_mutually_exclusive_group(required=not multi)
    group.add_argument("--maximize", action="store_true", help="find materials with the largest target")
    group.add_argument("--minimize", action="store_true", help="find materials with the smallest target")
    if allow_range:
        from matloop.cli.options import TargetRange

        group.add_argument("--target-range", nargs=2, action=TargetRange, metavar=("LO", "HI"),
                           help="find materials whose target lies in [LO, HI] (e.g. 1.1 1.5 eV absorbers)")


#: ``matloop.design.surrogate.SURROGATES`` and ``DEFAULT_SURROGATE``, spelled out so that building the
#: parser does not import the modelling stack (a test keeps them equal)
SURROGATE_CHOICES = ("auto", "rf", "gp", "et", "gbm", "fastgp", "etgp")
DEFAULT_SURROGATE = "etgp"
#: surrogates that read the structures themselves (matloop.design.structure_surrogate), not feature rows
STRUCTURE_SURROGATES = ("gnn",)


def add_surrogate_argument(parser) -> None:
    """The ``--model`` option of suggest and campaign suggest."""
    parser.add_argument("--model", default=DEFAULT_SURROGATE, choices=SURROGATE_CHOICES + STRUCTURE_SURROGATES,
                        help="surrogate model (default etgp: extra trees + Gaussian process mixture, the GP on "
                             "the forest's 20 most important features; the fewest experiments on the closed-loop "
                             "benchmark); auto picks a GP or a random forest by cross-validated likelihood; "
                             "rf, et, gp, gbm, fastgp (warm-started GP); gnn: the crystal graph network's ensemble "
                             "on a structure table (needs PyTorch and 10 measured structures; one fit takes up to "
                             "10 minutes)")


def objective_from_args(args: argparse.Namespace):
    """The :class:`~matloop.design.acquisition.Objective` the options describe."""
    from matloop.design.acquisition import Objective

    if getattr(args, "target_range", None):
        lo, hi = args.target_range
        return Objective("range", lo, hi)
    return Objective("max" if args.maximize else "min")


def goals_from_args(args: argparse.Namespace) -> list:
    """The :class:`~matloop.design.goals.Goal` list the options describe, checked for consistency.

    Either ``--goal`` (repeatable), or one ``--target`` with one of ``--maximize``, ``--minimize``,
    ``--target-range``. Several targets with one direction option, a direction option beside
    ``--goal``, or ``--target`` naming other columns than the goals raise
    :class:`~matloop.errors.InputError` (exit 2): a second objective is never silently dropped.
    """
    from matloop.cli.common import target_list
    from matloop.design.goals import Goal
    from matloop.errors import InputError

    goals = list(getattr(args, "goal", None) or [])
    targets = target_list(args)  # campaign new's single-valued --target is one column too
    flag = ("--maximize" if getattr(args, "maximize", False) else "--minimize" if getattr(args, "minimize", False)
            else "--target-range" if getattr(args, "target_range", None) else None)
    example = "--goal COL1:max --goal COL2:min"
    if goals:
        if flag:
            raise InputError(f"{flag} cannot be combined with --goal: give every objective as --goal "
                             f"(e.g. {example})")
        columns = [g.column for g in goals]
        if len(set(columns)) < len(columns):
            raise InputError(f"two --goal options name the same column ({', '.join(columns)})")
        if targets and set(targets) != set(columns):
            raise InputError(f"--target {', '.join(targets)} does not match the goals ({', '.join(columns)}): "
                             "leave --target out when using --goal")
        if len(goals) == 1 and goals[0].tolerance is not None:  # never silently ignored
            raise InputError(f"--goal {goals[0].text()}: @TOL is a Chimera tolerance, how much of one goal may be given up "
                             "for the next; with one goal there is nothing to trade (leave @TOL out)")
        return goals
    if getattr(args, "scalarize", None):
        raise InputError("--scalarize trades off several goals: give them with --goal (e.g. " + example + ")")
    if not targets:
        raise InputError("no goal: give --target COL with --maximize, --minimize or --target-range LO HI, or one "
                         f"--goal per objective ({example})")
    if len(targets) > 1:
        raise InputError(f"{len(targets)} targets ({', '.join(targets)}) but "
                         + (f"{flag} states the goal of one" if flag else "no goal")
                         + ": give one --goal per objective, e.g. "
                         + " ".join(f"--goal {t}:{'min' if flag == '--minimize' else 'max'}" for t in targets))
    if flag is None:
        raise InputError(f"say what to do with {targets[0]}: --maximize, --minimize or --target-range LO HI "
                         f"(or --goal {targets[0]}:max)")
    obj = objective_from_args(args)
    return [Goal(targets[0], obj.direction, obj.low, obj.high)]


def outcome_columns(table, goals: list, constraints: list[str] | None) -> list[str]:
    """The table's outcome columns (goals, then constraint columns): read as targets, not inputs.

    A constraint's column missing from ``table`` is an error naming it as a constraint's (exit 2)."""
    from matloop.design.multiobjective import parse_constraint

    constrained = [parse_constraint(c)[0] for c in constraints or []]
    if constrained:
        from matloop.io.files import read_columns

        columns = read_columns(table)
        if missing := [c for c in dict.fromkeys(constrained) if c not in columns]:
            from matloop.errors import InputError
            from matloop.io.detect import missing_column_message

            raise InputError(missing_column_message("constraint", missing, columns))
        _refuse_input_constraints(table, [g.column for g in goals], constraints)
    return list(dict.fromkeys([g.column for g in goals] + constrained))


def _refuse_input_constraints(table, goal_columns: list[str], constraints: list[str]) -> None:
    """A constraint's column with a value on every candidate (a row whose goals are blank) is an input known
    before the experiment, not an outcome to predict: modelling it would drop it from the inputs and put a
    probability on what is known. Refused, with what to do instead."""
    import numpy as np

    from matloop.design.multiobjective import parse_constraint
    from matloop.errors import InputError, error_table
    from matloop.io.files import read_raw

    raw, _ = read_raw(table)

    def blank(col):
        cells = raw[col]
        return (cells.isna() | (cells.astype(str).str.strip() == "")).to_numpy()
    goals = [c for c in goal_columns if c in raw.columns]
    if not goals:
        return
    candidates = np.logical_and.reduce([blank(c) for c in goals])
    for text in constraints:
        col = parse_constraint(text)[0]
        if candidates.any() and col not in goals and not blank(col)[candidates].any():
            raise InputError(f"--constraint {text!r}: {col!r} has a value on every candidate, so it is an input "
                             "known before the experiment, not a measured outcome to predict; leave the candidates "
                             "outside the limit out of the table (or declare the limit in a design space)",
                             error_table([{"row": 0, "column": col, "value": text,
                                           "reason": "filled on every candidate row"}]))
