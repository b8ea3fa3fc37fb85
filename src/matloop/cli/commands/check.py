"""``matloop check TABLE``: validate a table and say what matloop will make of it."""

from __future__ import annotations

import argparse

from matloop.cli.common import add_table_arguments

DESCRIPTION = """\
Read a table the way every matloop command reads it, report every problem at once (row, column,
value, reason) and summarise it: the input column and its kind, the targets and their task,
labelled rows versus candidates (empty target), duplicates and skipped rows.

Exit status: 0 when the table is usable, 2 when it has problems (the table of problems goes to
stderr). With --skip-invalid the bad rows are written to a side file and the status is 0.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``check`` subcommand."""
    parser = subparsers.add_parser(
        "check", help="validate a table and summarise it", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_table_arguments(parser, target_required=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate, print the summary, return 0 (problems raise InputError -> exit 2 in main)."""
    from matloop.cli.common import load_table

    _, report = load_table(args, report=True)
    print(report.summary())
    return 0
