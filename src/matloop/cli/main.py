"""The ``matloop`` console script.

Exit status: 0 success, 1 failure, 2 bad input. Bad input includes a missing or unreadable input file
(``FileNotFoundError``, ``PermissionError``, a directory given as a file), not only a bad table. A
closed standard output (``matloop ... | head``) ends the command quietly, as Python's documentation
recommends for ``BrokenPipeError``.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import os
import pkgutil
import sys

from matloop import __version__
from matloop.errors import MAX_MESSAGE_CHARS, InputError, MatloopError, format_error_table, shorten

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
#: command modules that register exactly the command of their own name (fit.py also registers
#: predict and validate: those words, and anything else, get the full parser)
_COMMAND_MODULES = frozenset({"featurize"})


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, with one subcommand per module of :mod:`matloop.cli.commands`; with ``only``
    (a module's name), just that module's subcommands: :func:`main` parses ``matloop featurize ...``
    without importing every other command (0.04 s of its start-up)."""
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
        if info.name.startswith("_") or only not in (None, info.name):  # helpers: registered by their command
            continue
        module = importlib.import_module(f"matloop.cli.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 success, 1 failure, 2 bad input)."""
    if argv is None:  # the command line itself, not a call from Python: see _quick_exit
        atexit.register(_quick_exit)
    words = sys.argv[1:] if argv is None else argv
    # `matloop COMMAND ...` where a module of that name registers COMMAND: parse with that module alone
    # (the same subparser, so the same options, help and errors); anything else: the full parser
    only = words[0] if words and words[0] in _COMMAND_MODULES else None
    parser = build_parser(only)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_OK
    try:
        from matloop import progress

        # long work reports its steps on stderr (matloop.progress); --quiet switches that off
        with progress.reporting(_progress_prefix(args), quiet=bool(getattr(args, "quiet", False))):
            code = int(args.func(args) or EXIT_OK)
        sys.stdout.flush()  # a closed pipe shows here, not as a traceback at interpreter exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_FAILURE
    except InputError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if not exc.table.empty:
            print(format_error_table(exc.table), file=sys.stderr)
        return EXIT_BAD_INPUT
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        print(f"error: {shorten(_os_message(exc), MAX_MESSAGE_CHARS)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MatloopError as exc:
        print(f"error: {shorten(str(exc), MAX_MESSAGE_CHARS)}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:  # disk full, I/O error: a failure, reported without a traceback
        print(f"error: {shorten(_os_message(exc), MAX_MESSAGE_CHARS)}", file=sys.stderr)
        return EXIT_FAILURE
    except MemoryError:
        print("error: out of memory", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _quick_exit() -> None:
    """At interpreter exit, spare the final garbage collections the objects of the imported modules.

    Python's shutdown runs full cyclic collections over every live object (pandas, pyarrow, numpy
    and matloop's modules: about 0.13 s of CPU, a tenth of ``matloop featurize`` on 200,000 formulas).
    :func:`gc.freeze` moves them out of the collector's reach; they are still freed by reference
    counting as the modules are torn down, so files are closed and buffers flushed as before.
    """
    gc.freeze()


def _progress_prefix(args: argparse.Namespace) -> str:
    """``fit``, ``campaign suggest``...: the command whose progress lines are shown."""
    sub = getattr(args, "campaign_command", None) or getattr(args, "benchmark_command", None) \
        or getattr(args, "design_kind", None)
    return f"{args.command} {sub}" if sub else str(args.command)


def _os_message(exc: OSError) -> str:
    """``no such file: PATH`` style text for an OS error (its own text when it has no file name)."""
    if exc.filename is None or not exc.strerror:
        return str(exc)
    return f"{exc.strerror.lower()}: {exc.filename}"


def _silence_stdout() -> None:
    """After ``BrokenPipeError``: point stdout at devnull so that the exit flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. captured in tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
