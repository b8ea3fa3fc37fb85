"""``matloop phases map``: phase fractions across a composition library from its diffraction patterns."""

from __future__ import annotations

import argparse
import sys

from matloop.cli.options import int_at_least, output_file, positive_float

EXAMPLE = ("matloop datasets export xrd_alli_fe_o -o library.csv\n"
           "  matloop phases map library.csv --input file --x-unit q --components auto -o phases.csv")


def _components(text: str) -> str | int:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'auto' nor a whole number") from None
    if not 1 <= value <= 20:
        raise argparse.ArgumentTypeError(f"{value} components: choose 1 to 20 (or auto)")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``matloop phases map``."""
    parser = subparsers.add_parser("phases", help="phase mapping of a composition library from its patterns",
                                   description="Phase mapping of combinatorial libraries.",
                                   epilog="examples:\n  " + EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=lambda args: parser.print_help() or 0)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", title="actions")
    p = actions.add_parser(
        "map", help="phase fractions of every sample by shift-tolerant NMF",
        description="Factorise a library of diffraction patterns (one file per row of INDEX) into a few basis "
                    "patterns (the phases) and the fraction of each in every sample. Peaks may move with the "
                    "lattice parameter (up to --max-shift), so a phase that alloys stays one phase (shift-tolerant "
                    "NMF on a log-Q axis). Writes INDEX's rows with phase_1..phase_K and their bootstrap "
                    "phase_K_std, and OUTPUT_STEM.components.csv (the basis patterns on Q). With --references, "
                    "each phase is named after the reference pattern it matches best.",
        epilog="examples:\n  " + EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("index", metavar="INDEX", help="table with one pattern file per row (.csv, .xlsx, ...)")
    p.add_argument("--input", required=True, metavar="COL", help="column with the pattern file paths "
                   "(relative to INDEX's folder)")
    p.add_argument("-o", "--output", required=True, type=output_file, metavar="FILE", help="table to write")
    p.add_argument("--x-unit", choices=("2theta", "q"), default="2theta",
                   help="axis of the files: 2θ in degrees (default) or Q in Å⁻¹")
    p.add_argument("--wavelength", type=positive_float, default=1.5406, metavar="Å",
                   help="X-ray wavelength for 2θ files (default Cu Kα1 1.5406 Å; XRDML files carry their own)")
    p.add_argument("--components", type=_components, default="auto", metavar="auto|K",
                   help="number of phases, or auto: chosen by held-out reconstruction (default)")
    p.add_argument("--max-components", type=int_at_least(2, 20), default=8, metavar="K",
                   help="largest number of phases auto considers (default 8)")
    p.add_argument("--max-shift", type=positive_float, default=0.03, metavar="FRAC",
                   help="largest lattice change of one phase across the library (default 0.03 = ±3 %%)")
    p.add_argument("--restarts", type=int_at_least(1, 50), default=3, metavar="N",
                   help="random restarts; the best reconstruction is kept (default 3)")
    p.add_argument("--bootstrap", type=int_at_least(0, 500), default=20, metavar="N",
                   help="bootstrap refits for the fractions' std (default 20; 0 = none)")
    p.add_argument("--references", metavar="DIR",
                   help="folder of reference patterns (.xy ...) or structures (.cif) to name the phases after")
    p.add_argument("--skip-invalid", action="store_true", help="drop bad data lines in pattern files (reported)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default 0)")
    p.add_argument("--report", metavar="FILE.html", type=output_file,
                   help="also write an HTML report: the phase map over the composition triangle and the basis patterns")
    p.add_argument("--composition", metavar="A,B,C",
                   help="the three composition columns of INDEX for the report's triangle (default: the three "
                        "numeric columns whose rows sum to 1)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="read and resample the patterns on a Dask cluster (dask.distributed; the files must be "
                        "readable by the workers): large libraries; the same result as in process")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_map)
    r = actions.add_parser(
        "report", help="an HTML report of a phases map result (phase map over the composition triangle)",
        description="Draw the output of 'phases map' (PHASES.csv and PHASES.components.csv beside it): the phase "
                    "fractions over the ternary composition triangle, one panel per phase and the dominant phase, "
                    "and the basis patterns.",
        epilog="examples:\n  matloop phases report phases.csv --composition Al,Li,Fe -o phase_map.html",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("phases", metavar="PHASES", help="the table 'phases map' wrote")
    r.add_argument("--composition", metavar="A,B,C", help="the three composition columns (default: detected)")
    r.add_argument("-o", "--output", required=True, type=output_file, metavar="FILE.html", help="report to write")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    r.set_defaults(func=_report)


def composition_columns(frame, given: str | None, exclude=()) -> list[str]:
    """The three composition columns: ``given`` (comma-separated), else the only three numeric columns
    (not phase columns) with values in [0, 1] (or [0, 100]) whose rows sum to 1 (or 100) within 2 %."""
    import numpy as np
    import pandas as pd

    from matloop.errors import InputError

    if given:
        names = [c.strip() for c in given.split(",") if c.strip()]
        missing = [c for c in names if c not in frame.columns]
        if len(names) != 3 or missing:
            raise InputError(f"--composition needs three columns of the table; got {names}"
                             + (f" ({', '.join(missing)} not in it)" if missing else ""))
        values = frame[names].apply(pd.to_numeric, errors="coerce")
        bad = [(i, c) for c in names for i in np.flatnonzero(values[c].isna() | (values[c] < 0))]
        if bad:
            from matloop.errors import error_table

            raise InputError(f"{len(bad)} composition cells are not non-negative numbers", error_table(
                [{"row": int(i) + 1, "column": c, "value": frame[c].iloc[i], "reason": "not a non-negative number"}
                 for i, c in bad[:50]]))
        return names
    values = frame.apply(pd.to_numeric, errors="coerce")
    answers = ("phase_", "true_fraction", "true_weight")  # fractions written by us or the dataset, not compositions
    numeric = [c for c in frame.columns if c not in exclude and not str(c).startswith(answers)
               and values[c].notna().all() and (values[c] >= 0).all()]
    from itertools import combinations

    def sums_to(cols: list, total: float) -> bool:  # every part reaches 5 % somewhere: a thickness is not one
        part = values[cols]
        return bool(np.allclose(part.sum(axis=1), total, atol=0.02 * total) and (part.max() >= 0.05 * total).all())

    found = [list(t) for t in combinations(numeric, 3) if sums_to(list(t), 1.0) or sums_to(list(t), 100.0)]
    if len(found) != 1:
        raise InputError("cannot tell the three composition columns of the triangle "
                         f"({'no' if not found else len(found)} sets of three numeric columns sum to 1 on every "
                         "row); give --composition A,B,C")
    return found[0]


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from matloop.errors import InputError
    from matloop.io.files import read_raw
    from matloop.report.diffraction import phase_map_report

    frame, _ = read_raw(Path(args.phases))
    phases = sorted((c for c in frame.columns if str(c).startswith("phase_") and not str(c).endswith("_std")),
                    key=lambda c: int(str(c).split("_")[1]) if str(c).split("_")[1].isdigit() else 0)
    if not phases:
        raise InputError(f"{args.phases}: no phase_1 ... phase_K columns (is it the output of 'phases map'?)")
    comp_path = _components_path(args.phases)
    components = read_raw(comp_path)[0] if comp_path.is_file() else None
    composition = composition_columns(frame, args.composition)
    report = phase_map_report(frame, composition, phases, components, title=f"Phase map: {Path(args.phases).name}")
    report.write(args.output)
    print(f"wrote the phase map of {len(frame)} samples ({len(phases)} phases) to {args.output}")
    return 0


def _components_path(output):
    from pathlib import Path

    return Path(output).with_name(Path(output).name.split(".")[0] + ".components.csv")


def _references(folder: str, grid_q, wavelength: float):
    """Reference patterns on ``grid_q``: pattern files as measured, CIFs simulated (pymatgen)."""
    from pathlib import Path

    import numpy as np

    from matloop.errors import InputError
    from matloop.io.patterns import looks_like_pattern_path, read_pattern
    from matloop.represent.diffraction import Grid, resample

    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"--references {folder}: not a folder")
    names, curves = [], []
    grid = Grid(float(grid_q[0]), float(grid_q[-1]), float(grid_q[1] - grid_q[0]), "q", None)
    for path in sorted(root.iterdir()):
        if looks_like_pattern_path(path.name):
            curves.append(resample([read_pattern(path, wavelength=wavelength)], grid)[0])
            names.append(path.stem)
        elif path.suffix.lower() in (".cif", ".vasp") or path.name.upper().startswith("POSCAR"):
            from matloop.represent.diffraction_sim import simulate_patterns
            from matloop.represent.structure_io import read_structures

            structure = read_structures([str(path)])[0]
            curves.append(simulate_patterns([structure], Grid(grid.start, grid.stop, grid.step, "q", wavelength))[0])
            names.append(path.stem)
    if not curves:
        raise InputError(f"--references {folder}: no pattern files or CIFs in it")
    return np.vstack(curves), names


def _map(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from matloop import progress
    from matloop.errors import InputError
    from matloop.io.files import read_raw
    from matloop.io.write import output_format, write_table
    from matloop.models.phase_mapping import PhaseMapper
    from matloop.represent.pattern_dask import library_on_grid

    output_format(args.output)
    index = Path(args.index)
    frame, _ = read_raw(index)
    if args.input not in frame.columns:
        raise InputError(f"no column {args.input!r} in {index.name}; columns: {', '.join(map(str, frame.columns))}")
    composition = composition_columns(frame, args.composition, exclude=(args.input,)) if args.report else None
    where = f" on the Dask cluster at {args.scheduler}" if args.scheduler else ""
    with progress.task(f"reading {len(frame)} patterns{where}"):
        X, grid, dropped = library_on_grid(frame[args.input].tolist(), base_dir=index.parent, unit=args.x_unit,
                                           wavelength=args.wavelength, column=args.input,
                                           skip_invalid=args.skip_invalid, scheduler=args.scheduler)
    for source, lines in dropped.items():
        print(f"warning: {source}: dropped {len(lines)} bad data line(s) (first: line {lines[0]})", file=sys.stderr)
    if len(X) < 3:
        raise InputError(f"{len(X)} patterns: phase mapping needs a library (at least 3)")
    q = grid.points
    mapper = PhaseMapper(n_components=args.components, max_shift=args.max_shift, max_components=args.max_components,
                         n_restarts=args.restarts, n_bootstrap=args.bootstrap, random_state=args.seed)
    progress.say(f"factorising {len(X)} patterns x {len(q)} Q points ({args.components} components, "
                 f"shifts up to ±{100 * args.max_shift:g} %)")
    mapper.fit(X, q)
    matches = None
    if args.references:
        refs, names = _references(args.references, q, args.wavelength)
        matches = mapper.match_references(refs, names, q)
    out = frame.copy()
    for k in range(mapper.n_components_):
        out[f"phase_{k + 1}"] = mapper.fractions_[:, k]
        out[f"phase_{k + 1}_std"] = mapper.fractions_std_[:, k]
    added = [c for c in out.columns if c.startswith("phase_") and c not in frame.columns]
    write_table(out, args.output, round_columns=added)
    components = pd.DataFrame({"q": mapper.grid_})
    for k in range(mapper.n_components_):
        components[f"phase_{k + 1}"] = mapper.components_[k]
    comp_path = _components_path(args.output)
    write_table(components, comp_path, round_columns=list(components.columns))
    if mapper.cv_errors_:
        from matloop.models.phase_mapping import DUPLICATE_CORRELATION

        sim = mapper.basis_similarity_
        cv = ", ".join(f"K={k}: {e:.3f}" + (f" (two bases correlate {sim[k]:.2f}: not distinct)"
                                           if sim.get(k, 0) >= DUPLICATE_CORRELATION else "")
                       for k, e in mapper.cv_errors_.items())
        print(f"phases: {mapper.n_components_} chosen by held-out reconstruction error among K whose basis "
              f"patterns are distinct ({cv})")
    else:
        print(f"phases: {mapper.n_components_} (as given)")
    print(f"reconstruction error {mapper.reconstruction_err_:.3f} (relative); mean bootstrap std of the fractions "
          f"{float(np.mean(mapper.fractions_std_)):.3f}")
    if matches:
        for k, (name, corr) in enumerate(matches, 1):
            print(f"  phase_{k}: best reference {name} (correlation {corr:.2f})")
    print(f"wrote {len(out)} rows to {args.output} and the basis patterns to {comp_path}")
    if args.report:
        from matloop.report.diffraction import phase_map_report

        phases = [f"phase_{k + 1}" for k in range(mapper.n_components_)]
        phase_map_report(out, composition, phases, components, title=f"Phase map: {index.name}",
                         names=list(mapper.component_names_)).write(args.report)
        print(f"wrote the report to {args.report}")
    return 0
