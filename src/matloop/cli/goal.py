"""The ``--maximize | --minimize | --target-range LO HI`` options shared by design commands."""

from __future__ import annotations

import argparse


def add_goal_arguments(parser: argparse.ArgumentParser, allow_range: bool = True) -> None:
    """Add the mutually exclusive goal options (one is required)."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--maximize", action="store_true", help="find materials with the largest target")
    group.add_argument("--minimize", action="store_true", help="find materials with the smallest target")
    if allow_range:
        group.add_argument("--target-range", nargs=2, type=float, metavar=("LO", "HI"),
                           help="find materials whose target lies in [LO, HI] (e.g. 1.1 1.5 eV absorbers)")


def objective_from_args(args: argparse.Namespace):
    """The :class:`~matloop.design.acquisition.Objective` the options describe."""
    from matloop.design.acquisition import Objective

    if getattr(args, "target_range", None):
        lo, hi = args.target_range
        return Objective("range", lo, hi)
    return Objective("max" if args.maximize else "min")
