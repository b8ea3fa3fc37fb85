"""``matloop structures predict``: candidate crystal structures for compositions by prototype substitution."""

from __future__ import annotations

import argparse
import sys

from matloop.cli.options import int_at_least, output_file

EXAMPLE = ("matloop structures predict --formulas perov.csv --input formula --library elastic_tensor_2015 "
           "--top 3 -o perov_structures.csv")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``matloop structures predict`` and ``matloop structures relax``."""
    parser = subparsers.add_parser("structures", help="candidate crystal structures for compositions",
                                   description="Crystal structures for compositions.",
                                   epilog="examples:\n  " + EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=lambda args: parser.print_help() or 0)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", title="actions")
    p = actions.add_parser(
        "predict", help="candidate structures by ionic substitution into known prototypes",
        description="For every composition of FILE, candidate crystal structures from known prototypes: every "
                    "bundled structure (and --templates) with the same anonymous formula (ABC3 ...), grouped "
                    "by space group and Wyckoff letters, gets the composition's elements (oxidation states "
                    "from SMACT or pymatgen), a volume scaled by ionic/atomic radii, and a likelihood: Hautier's "
                    "ionic substitution probability times the prototype's frequency. Identical results "
                    "(pymatgen StructureMatcher) are merged. Writes one row per candidate: the input row, rank, "
                    "probability (share of the composition's total likelihood), the prototype and the "
                    "structure as CIF text; a composition without candidates keeps one row with a reason.",
        epilog="examples:\n  " + EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--formulas", required=True, metavar="FILE", help="table with a formula column (.csv, .xlsx, ...)")
    p.add_argument("--input", metavar="COL", help="the formula column (default: detected)")
    p.add_argument("-o", "--output", required=True, type=output_file, metavar="FILE", help="table to write")
    p.add_argument("--top", type=int_at_least(1, 100), default=5, metavar="K",
                   help="distinct candidates per composition (default 5)")
    p.add_argument("--templates", metavar="DIR", help="folder of your own prototype structures (CIF, POSCAR, .vasp, "
                   "pymatgen JSON), added to the library")
    p.add_argument("--library", default="all", metavar="NAMES",
                   help="bundled structure datasets to use as prototypes, comma-separated, 'all' (default) or "
                        "'none' (only --templates); see 'matloop datasets list --kind structure'")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_predict)
    from matloop.cli.commands._structures_relax import add_parser as add_relax

    add_relax(actions)


def _library_names(text: str) -> list[str]:
    from matloop.design.structure_search import DEFAULT_DATASETS
    from matloop.errors import InputError

    if text.strip() == "all":
        return list(DEFAULT_DATASETS)
    if text.strip() == "none":
        return []
    import matloop.datasets as datasets

    names = [n.strip() for n in text.split(",") if n.strip()]
    known = [n for n in datasets.names() if datasets.spec(n).kind == "structure"]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise InputError(f"--library {text!r}: unknown dataset(s) {', '.join(bad) or '(none given)'}; "
                         f"choose from {', '.join(known)}, 'all' or 'none'")
    return names


def _predict(args: argparse.Namespace) -> int:
    import warnings
    from importlib.util import find_spec

    from matloop import progress
    from matloop.design.structure_search import PrototypeLibrary, predict_structures
    from matloop.errors import InputError
    from matloop.io import read_table
    from matloop.io.formula import parse_formula
    from matloop.io.write import output_format, write_table

    if find_spec("pymatgen") is None or find_spec("spglib") is None:
        from matloop.errors import MatloopError

        raise MatloopError('structure prediction needs pymatgen: pip install "matloop[structure]"')
    output_format(args.output)
    names = _library_names(args.library)
    if not names and not args.templates:
        raise InputError("--library none without --templates: no prototypes to substitute into")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicates are fine here; pymatgen's radius notes are noise
        ds = read_table(args.formulas, input=args.input, kind="composition")
    formulas = ds.frame[ds.input].tolist()
    compositions = [parse_formula(str(f)) for f in formulas]
    with progress.task(f"prototype library ({', '.join(names) or 'templates only'})"):
        library = PrototypeLibrary.from_datasets(names) if names else PrototypeLibrary()
        if args.templates:
            library.add_templates(args.templates)
    with progress.task(f"substituting {len(compositions)} compositions into {len(library)} known structures"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = predict_structures(compositions, library, top=args.top)
    frame = ds.frame.reset_index(drop=True)
    added = found.drop(columns="input_index")
    clash = [c for c in added.columns if c in frame.columns]
    added = added.rename(columns={c: f"{c}_predicted" for c in clash})
    out = frame.iloc[found["input_index"].to_numpy()].reset_index(drop=True)
    out = out.join(added.reset_index(drop=True))
    write_table(out, args.output, round_columns=[c for c in ("probability", "likelihood") if c in out])
    n_without = int(added["rank"].isna().sum())
    print(f"{len(compositions)} compositions: {int(added['rank'].notna().sum())} candidate structures, "
          f"{n_without} compositions without a prototype (see the reason column) -> {args.output}")
    if library.skipped and not args.quiet:
        print(f"note: {len(library.skipped)} library structures could not be used (unparseable or disordered)",
              file=sys.stderr)
    return 0
