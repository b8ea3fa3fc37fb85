"""What every command that reads a user's table shares: the arguments and the loading.

``add_table_arguments`` gives a subcommand the same ``TABLE --input --target --kind --skip-invalid
--duplicates`` options everywhere; ``load_table`` reads the table with :func:`matloop.io.read_table`,
prints duplicate warnings readably, and writes rows left out by ``--skip-invalid`` to a side file so
that nothing disappears silently. Heavy imports happen inside the functions (``--help`` stays instant).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

__all__ = ["add_quiet_argument", "add_table_arguments", "load_table", "skipped_path", "target_list"]

KINDS = ("composition", "molecule", "structure", "parameters", "pattern")
DUPLICATES = ("keep", "mean", "error")
STRUCTURES_ROOT_HELP = ("folder that structure files named in the table must lie in (default: the table's folder); "
                        "paths leading outside it, through '..' or symlinks, are rejected")


def add_table_arguments(parser: argparse.ArgumentParser, target_required: bool = True) -> None:
    """Add ``TABLE``, ``--input``, ``--target``, ``--kind``, ``--skip-invalid``, ``--structures-root`` and
    ``--duplicates``."""
    parser.add_argument(
        "table", metavar="TABLE",
        help="a .csv, .tsv, .xlsx, .json or .parquet file, one row per material or experiment",
    )
    group = parser.add_argument_group("reading the table")
    group.add_argument(
        "--input", metavar="COL",
        help="column holding the material (formula, SMILES or structure file path); detected when not "
             "given; a table without one is a parameter table whose numeric columns are the inputs",
    )
    group.add_argument(
        "--target", metavar="COL", action="append", required=target_required,
        help="target column; repeat the option or separate names with commas for several targets. "
             "Rows with an empty target are candidates (the pool)",
    )
    group.add_argument(
        "--kind", choices=KINDS,
        help="what the input is, when detection should not decide",
    )
    group.add_argument(
        "--skip-invalid", action="store_true",
        help="leave out rows with problems instead of stopping; they are written with their reasons to "
             "TABLE_STEM.skipped.csv (beside the output, else beside the table)",
    )
    group.add_argument("--structures-root", metavar="DIR", help=STRUCTURES_ROOT_HELP)
    add_pattern_arguments(group)
    group.add_argument(
        "--duplicates", choices=DUPLICATES, default="keep",
        help="the same material in several rows with different targets: keep all rows and warn "
             "(default), average replicates into one row (mean), or report them as errors (error)",
    )


#: the defaults of --x-unit and --wavelength (a --space campaign refuses other values: they read pool tables)
PATTERN_DEFAULTS = {"x_unit": "2theta", "wavelength": 1.5406}


def add_pattern_arguments(group) -> None:
    """``--x-unit`` and ``--wavelength``: how diffraction pattern files (input kind ``pattern``) are read."""
    group.add_argument("--x-unit", choices=("2theta", "q"), default=PATTERN_DEFAULTS["x_unit"],
                       help="pattern files (kind pattern): the first column is 2θ in degrees (default) or Q in 1/Å")
    from matloop.cli.options import positive_float

    group.add_argument("--wavelength", type=positive_float, default=PATTERN_DEFAULTS["wavelength"], metavar="ANGSTROM",
                       help="X-ray wavelength of 2θ pattern files in Å (default 1.5406, Cu Kα1; .xrdml files "
                            "state their own)")


def add_quiet_argument(parser: argparse.ArgumentParser) -> None:
    """``-q/--quiet``: no progress lines on stderr (see :mod:`matloop.progress`; ``matloop.cli.main`` reads it)."""
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress messages on stderr (results and errors are still printed)")


def comma_list(values: list[str] | None) -> list[str]:
    """A repeatable option's values with comma-separated names split (``--extra-inputs a,b --extra-inputs c``)."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def target_list(args: argparse.Namespace) -> list[str]:
    """The ``--target`` values, comma-separated names split, unless a whole value is a column name."""
    values = getattr(args, "target", None) or []
    if isinstance(values, str):  # a single-valued --target (campaign new): one name, not its letters
        values = [values]
    names: list[str] = []
    columns: list[str] | None = None
    for value in values:
        if "," in value:
            if columns is None:
                from matloop.io.files import read_columns

                try:
                    columns = read_columns(args.table)
                except Exception:  # the real read reports any problem with the file
                    columns = []
            if value in columns:
                names.append(value)
                continue
            names.extend(part.strip() for part in value.split(",") if part.strip())
        else:
            names.append(value.strip())
    return list(dict.fromkeys(names))


def skipped_path(args: argparse.Namespace) -> Path:
    """``<table stem>.skipped.csv`` beside the command's output file if it has one, else beside the table."""
    from matloop.io.files import table_stem

    output = getattr(args, "output", None)
    folder = Path(output).parent if output else Path(args.table).parent
    return folder / f"{table_stem(args.table)}.skipped.csv"


def load_table(args: argparse.Namespace, report: bool = False):
    """Read ``args.table`` as the table options say; returns the Dataset (and the report if asked).

    Duplicate warnings go to stderr as readable tables. With ``--skip-invalid``, rows left out are
    written with their reasons and original cells to :func:`skipped_path`, and stderr says how many
    and where. An :class:`matloop.InputError` propagates (``matloop.cli.main`` turns it into exit 2).
    """
    from matloop.io.table import inspect_table

    folder = None
    if getattr(args, "patterns", None):  # --patterns DIR: a table of its files, labelled by sub-folder
        from matloop.cli.pattern_input import patterns_table

        folder = patterns_table(args)
    elif not getattr(args, "table", None):
        from matloop.errors import InputError

        raise InputError("give a TABLE (or, for diffraction patterns in class sub-folders, --patterns DIR)")
    pattern_options = {"unit": getattr(args, "x_unit", None) or "2theta",
                       "wavelength": getattr(args, "wavelength", None) or 1.5406}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dataset, table_report = inspect_table(
                args.table, getattr(args, "input", None), target_list(args),
                kind=getattr(args, "kind", None), skip_invalid=getattr(args, "skip_invalid", False),
                duplicates=getattr(args, "duplicates", "keep"),
                extra_inputs=comma_list(getattr(args, "extra_inputs", None)),
                structures_root=getattr(args, "structures_root", None), pattern_options=pattern_options,
            )
    finally:
        if folder is not None:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    from matloop.errors import shorten

    for w in caught:
        print(f"warning: {shorten(_readable(w.message), 5000)}", file=sys.stderr)  # never as long as a cell
    skipped = dataset.skipped
    if skipped is not None and len(skipped):
        _write_skipped(skipped, args)
    if not report and dataset.kind == "parameters":  # a column left out of the inputs is said, not silent
        from matloop.progress import say

        for col, why in table_report.ignored.items():
            if not why.startswith(("identifier or bookkeeping", "empty column", "not among the inputs named")):
                say(f"note: column {col!r} is not an input: {why}")
    return (dataset, table_report) if report else dataset


def _readable(message: Warning) -> str:
    """A duplicate warning in command-line terms, with at most 10 rows of its table."""
    from matloop.errors import format_error_table
    from matloop.io.duplicates import DuplicateWarning

    if not isinstance(message, DuplicateWarning):
        return str(message)
    head = str(message).split(";", 1)[0]
    return (f"{head}; all rows are kept (--duplicates mean averages replicates, --duplicates error rejects "
            f"them):\n{format_error_table(message.table, max_rows=10)}")


def _write_skipped(skipped, args: argparse.Namespace) -> Path:
    path = skipped_path(args)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        skipped.to_csv(path, index=False)
    except OSError as exc:
        fallback = Path.cwd() / path.name
        print(f"warning: cannot write {path} ({exc.strerror}); writing {fallback} instead", file=sys.stderr)
        path = fallback
        skipped.to_csv(path, index=False)
    n = skipped["row"].nunique()
    print(f"skipped {n} row{'s' if n != 1 else ''} with problems ({len(skipped)} problem"
          f"{'s' if len(skipped) != 1 else ''}); rows, values and reasons are in {path}", file=sys.stderr)
    return path


def replicates_left_out(n: int) -> str:
    """What ``suggest`` prints when blank rows repeat a measured or listed input (one goal or several)."""
    return (f"{n} blank row{'s repeat' if n != 1 else ' repeats'} an input already measured or listed and "
            f"{'were' if n != 1 else 'was'} not ranked (--allow-replicates to rank them)")


def failed_rows_line(n: int, model: str) -> str:
    """What ``suggest`` prints when failed rows weight the ranking by P(success) (one goal or several)."""
    return f"{n} failed row{'s' if n != 1 else ''}; P(success) from: {model}"


def fewer_than_asked(n: int, asked: int) -> str:
    """' (N of the B asked for: no more candidates)' when a batch holds fewer rows than asked, else ''."""
    return f" ({n} of the {asked} asked for: no more candidates)" if n < asked else ""


def wrote_batch(n: int, asked: int, path) -> str:
    """'; wrote the best N to PATH', saying so when the candidates were fewer than the batch asked for."""
    return f"; wrote the best {n} to {path}{fewer_than_asked(n, asked)}"
