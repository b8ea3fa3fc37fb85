"""Options shared by design commands: ``--maximize | --minimize | --target-range LO HI`` and the
surrogate ``--model``."""

from __future__ import annotations

import argparse


def add_goal_arguments(parser: argparse.ArgumentParser, allow_range: bool = True) -> None:
    """Add the mutually exclusive goal options (one is required)."""
    group = parser.add_mutually_exclusive_group(required=True)
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


def add_surrogate_argument(parser) -> None:
    """The ``--model`` option of suggest and campaign suggest."""
    parser.add_argument("--model", default=DEFAULT_SURROGATE, choices=SURROGATE_CHOICES,
                        help="surrogate model (default etgp: extra trees + Gaussian process mixture, the GP on "
                             "the forest's 20 most important features; the fewest experiments on the closed-loop "
                             "benchmark); auto picks a GP or a random forest by cross-validated likelihood; "
                             "rf, et, gp, gbm, fastgp (warm-started GP)")


def objective_from_args(args: argparse.Namespace):
    """The :class:`~matloop.design.acquisition.Objective` the options describe."""
    from matloop.design.acquisition import Objective

    if getattr(args, "target_range", None):
        lo, hi = args.target_range
        return Objective("range", lo, hi)
    return Objective("max" if args.maximize else "min")
