"""``matloop datasets``: list, describe and export the real datasets bundled with matloop."""

from __future__ import annotations

import argparse
import textwrap

EXPORT_HELP = ".csv, .tsv, .xlsx, .json or .parquet (.csv/.tsv/.json may add .gz, .bz2 or .xz)"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``matloop datasets {list,info,export}`` to the top-level parser."""
    parser = subparsers.add_parser(
        "datasets",
        help="list, describe and export the bundled public datasets",
        description=textwrap.fill(
            "matloop ships 50 real public datasets inside the package, usable offline: the "
            "composition-level Matbench v0.1 tasks (with official folds), large DFT proxy sets "
            "(OQMD, AFLOW, Materials Project via CrabNet), the Liang et al. 2021 Bayesian-"
            "optimisation benchmarks, Olympus campaigns (several goals, catalyst plates, failed "
            "syntheses), crystal structures with properties (matminer, perovskites), diffraction "
            "patterns (thin films, a composition library), ESOL and FreeSolv for molecules, and the mlearn "
            "DFT structures with energies, forces and stresses (interatomic potentials). Each "
            "comes with its units, citation, licence and provenance. 'fetch' downloads structures "
            "from OPTIMADE providers.", width=80
        ),
        epilog=(
            "examples:\n"
            "  matloop datasets list\n"
            "  matloop datasets list --kind molecule\n"
            "  matloop datasets info matbench_steels\n"
            "  matloop datasets export liang_agnp -o agnp.xlsx"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=lambda args: _help(parser))
    actions = parser.add_subparsers(dest="action", metavar="ACTION", title="actions")

    p_list = actions.add_parser(
        "list", help="one line per dataset: rows, input kind, task, property, units, source",
        description="List every bundled dataset with its size, input kind (composition, structure, molecule or "
                    "parameters), task, property, units and source. Reads no data file.",
    )
    p_list.add_argument("--kind", choices=("composition", "structure", "molecule", "parameters", "pattern", "potential"),
                        help="only datasets whose input is of this kind")
    p_list.add_argument("--task", choices=("regression", "classification"), help="only this task type")
    p_list.add_argument("--format", choices=("table", "csv", "json"), default="table",
                        help="output format: an aligned table (default), CSV or JSON with all columns "
                             "(target column, direction, folds, licence)")
    p_list.set_defaults(func=_list)

    p_info = actions.add_parser(
        "info", help="meaning, columns, rows, units, folds, citation, licence and provenance",
        description="Describe one dataset: what it measures, its columns, row count, units, "
                    "objective direction, official folds or splits, how to cite it, its licence and "
                    "where it came from (the full PROVENANCE.md notes).",
    )
    p_info.add_argument("name", metavar="NAME", help="dataset name, e.g. matbench_steels (see 'matloop datasets list')")
    p_info.set_defaults(func=_info)

    p_export = actions.add_parser(
        "export", help="write a dataset to CSV, TSV, Excel, JSON or Parquet",
        description="Write every row and column of a bundled dataset to a file, for use in other "
                    f"tools. The format follows the file name: {EXPORT_HELP}. Remember to cite the "
                    "sources and respect the licence shown by 'matloop datasets info NAME'.",
    )
    p_export.add_argument("name", metavar="NAME", help="dataset name, e.g. esol (see 'matloop datasets list')")
    p_export.add_argument("-o", "--output", required=True, metavar="FILE",
                          help=f"file to write; its suffix picks the format: {EXPORT_HELP}")
    p_export.add_argument("-f", "--force", action="store_true", help="overwrite FILE if it exists")
    p_export.set_defaults(func=_export)

    from matloop.cli.commands._optimade_fetch import register_fetch

    register_fetch(actions)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _list(args: argparse.Namespace) -> int:
    import pandas as pd

    from matloop.datasets import list_datasets
    from matloop.datasets.patterns import pattern_set_table
    from matloop.datasets.potential_sets import potential_set_table

    table = pd.concat([list_datasets(), pattern_set_table(), potential_set_table()], ignore_index=True)
    if args.kind:
        table = table[table["kind"] == args.kind]
    if args.task:
        table = table[table["task"] == args.task]
    if args.format == "csv":
        print(table.to_csv(index=False), end="")
    elif args.format == "json":
        print(table.to_json(orient="records", indent=1))
    else:
        print(_table(table[["name", "rows", "kind", "task", "property", "units", "source"]]))
        print(f"\n{len(table)} datasets. Details, citation and licence: matloop datasets info NAME")
    return 0


def _table(frame) -> str:
    """Left-aligned text columns, right-aligned row counts with thousands separators."""
    cells = [[f"{v:,}" if col == "rows" else str(v) for col, v in row.items()] for _, row in frame.iterrows()]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(frame.columns)]
    def line(values):
        return "  ".join(v.rjust(w) if c == "rows" else v.ljust(w)
                         for c, v, w in zip(frame.columns, values, widths, strict=True)).rstrip()
    return "\n".join([line(list(frame.columns))] + [line(r) for r in cells])


def _info(args: argparse.Namespace) -> int:
    from matloop.datasets import info
    from matloop.datasets.patterns import PATTERN_SETS
    from matloop.datasets.potential_sets import POTENTIAL_SETS, describe

    if args.name in POTENTIAL_SETS:  # records of structures with energies, forces, stresses
        print(describe(args.name))
        return 0
    if args.name in PATTERN_SETS:
        s = PATTERN_SETS[args.name]
        print(f"{s.name}: {s.rows:,} patterns ({s.task}: {s.property}; axis {s.x_unit})\n\n"
              + textwrap.fill(s.description, 80) + f"\n\nsource: {s.source}\nlicence: {s.license}\ncite: "
              + s.citation + "\n\nexport writes an index table and the files: matloop datasets export "
              f"{s.name} -o {s.name}.csv")
        return 0
    print(info(args.name), end="")
    return 0


def _export(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from matloop.datasets import export, list_datasets, spec
    from matloop.datasets.patterns import PATTERN_SETS, export_patterns
    from matloop.datasets.potential_sets import POTENTIAL_SETS

    if args.name in POTENTIAL_SETS:  # the records file itself (mlearn JSON): matloop potential fit/eval read it
        return _export_potential_set(args)
    if args.name in PATTERN_SETS:  # files, not one table: an index table and a folder of pattern files
        folder = Path(args.output).with_name(Path(args.output).name.split(".")[0] + "_patterns")
        for existing in (Path(args.output), folder):
            if existing.exists() and not args.force:
                print(f"error: {existing} exists; use --force to overwrite it", file=sys.stderr)
                return 2  # a bad argument: exit 2, like all bad input
        index, folder = export_patterns(args.name, args.output, overwrite=args.force)
        p = PATTERN_SETS[args.name]
        print(f"wrote {p.rows:,} pattern files of {p.name} to {folder}/ and their index to {index}")
        print(f"licence: {p.license}\ncite: {p.citation}")
        return 0
    s = spec(args.name)  # unknown names fail here (exit 2), before anything is read
    path = Path(args.output)
    if path.exists() and not args.force:
        print(f"error: {path} exists; use --force to overwrite it", file=sys.stderr)
        return 2  # a bad argument: exit 2, like all bad input
    if not path.parent.is_dir():
        print(f"error: folder {path.parent} does not exist", file=sys.stderr)
        return 2  # a bad argument: exit 2, like all bad input
    export(s.name, path)  # checks the suffix before decompressing anything
    row = list_datasets().set_index("name").loc[s.name]
    print(f"wrote {row['rows']:,} rows of {s.name} ({row['property']}) to {path}")
    print(f"licence: {s.license}")
    print("cite: " + "\n      ".join(s.citation.splitlines()))
    return 0


def _export_potential_set(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from matloop.datasets.potential_sets import CITATION, POTENTIAL_SETS, export_potential_set

    path = Path(args.output)
    if path.exists() and not args.force:
        print(f"error: {path} exists; use --force to overwrite it", file=sys.stderr)
        return 2
    try:
        export_potential_set(args.name, path)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    s = POTENTIAL_SETS[args.name]
    print(f"wrote {s.rows} records of {s.name} (structures with energies, forces, stresses) to {path}")
    print(f"licence: BSD-3-Clause\ncite: {CITATION}")
    return 0
