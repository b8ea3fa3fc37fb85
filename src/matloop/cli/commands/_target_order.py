"""``--target-order LABEL,LABEL,...`` on ``suggest`` and ``campaign new``: an ordinal goal given as text
labels (:mod:`matloop.design.ordinal`)."""

from __future__ import annotations

import argparse

HELP = ("the goal holds text labels of an ordinal outcome (e.g. crystal_score): give them from worst to best, "
        "comma-separated; each becomes its position 0, 1, 2, ... and the goal is to maximise it (--maximize is "
        "implied). Failures are decided on the labels first, so --failed-if \"crystal_score == 'clear_solution'\" "
        "works as written; a label outside the order on a row that did not fail is an error. With several "
        "--goal options it applies to the goal whose column holds text")


def add_target_order_argument(parser: argparse.ArgumentParser) -> None:
    """Register ``--target-order``."""
    parser.add_argument("--target-order", metavar="LABEL,LABEL,...", help=HELP)


def default_direction(args: argparse.Namespace) -> None:
    """``--target-order`` with ``--target`` and no direction: maximise the score (worst label = 0)."""
    if not getattr(args, "target_order", None) or getattr(args, "goal", None):
        return
    if not (args.maximize or args.minimize or getattr(args, "target_range", None)):
        args.maximize = True


def apply_target_order(args: argparse.Namespace, dataset, goal_columns: list[str]):
    """``dataset`` with the ordinal goal's labels scored (rows that did not fail), and the order (or
    ``(dataset, None, None)`` without ``--target-order``). Prints the scores used."""
    text = getattr(args, "target_order", None)
    if not text:
        return dataset, None, None
    from matloop.design.ordinal import order_words, parse_order, score_labels, text_goal_column

    order = parse_order(text)
    column = text_goal_column(dataset.frame, goal_columns)
    dataset.frame = score_labels(dataset.frame, column, order, dataset.rows, getattr(args, "failed_if", None))
    print(f"ordinal goal: {order_words(column, order)}")
    return dataset, column, order
