"""The ``matloop`` console script."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from matloop import __version__
from matloop.errors import InputError, MatloopError, format_error_table

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with one subcommand per module of :mod:`matloop.cli.commands`."""
    parser = argparse.ArgumentParser(
        prog="matloop",
        description=(
            "Machine learning for materials science that learns from little data: featurize "
            "formulas, SMILES and crystals; fit models with calibrated uncertainty; validate them "
            "honestly; and choose the next experiments."
        ),
        epilog="Run 'matloop COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"matloop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    from matloop.cli import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):  # helpers of a command, registered by that command
            continue
        module = importlib.import_module(f"matloop.cli.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 success, 1 failure, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_OK
    try:
        return int(args.func(args) or EXIT_OK)
    except InputError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if not exc.table.empty:
            print(format_error_table(exc.table), file=sys.stderr)
        return EXIT_BAD_INPUT
    except (MatloopError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
