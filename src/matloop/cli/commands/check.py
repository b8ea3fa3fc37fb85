"""``matloop check TABLE``: validate a table and say what matloop will make of it."""

from __future__ import annotations

import argparse

from matloop.cli.common import add_table_arguments

DESCRIPTION = """\
Read a table the way every matloop command reads it, report every problem at once (row, column,
value, reason) and summarise it: the input column and its kind, the targets and their task,
labelled rows versus candidates (empty target), duplicates and skipped rows. Crystal structures are
parsed as fit and predict will parse them: unreadable files or text, overlapping atoms, zero cell
volume and unknown elements are reported per row.

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

    dataset, report = load_table(args, report=True)
    print(report.summary())
    if dataset.kind == "structure" and dataset.input is not None:
        print(_structure_summary(dataset, args))
    return 0


def _structure_summary(dataset, args: argparse.Namespace) -> str:
    """Parse every structure (as fit/predict will): unreadable or broken ones are bad rows, listed all at
    once (exit 2; with --skip-invalid they are listed on stderr and the table still counts as usable)."""
    import sys

    import numpy as np

    from matloop.errors import InputError, format_error_table
    from matloop.represent.structure import read_structures

    try:
        structures = read_structures(dataset.X)
    except InputError as exc:
        if not getattr(args, "skip_invalid", False):
            raise
        print(f"warning: {exc.message}:\n{format_error_table(exc.table)}", file=sys.stderr)
        return f"structures: {len(exc.table)} of {len(dataset.X)} cannot be read (listed above); commands will refuse them"
    sites = np.array([len(s) for s in structures])
    disordered = sum(not s.is_ordered for s in structures)
    line = (f"structures: {len(structures)} read, {sites.min()}-{sites.max()} sites per cell "
            f"(median {int(np.median(sites))})")
    if disordered:
        line += (f"; {disordered} with partial occupancies (the default structure features, the GNN and CHGNet "
                 "need ordered cells)")
    return line
