"""``matloop structures relax``: relax the structures of a table with a universal potential (CHGNet).

The structure column is read as every structure table is (paths, or inline CIF/POSCAR/pymatgen JSON;
bad rows reported by file row, ``--skip-invalid`` to leave them out), then relaxed with
:func:`matloop.design.relax.relax_parallel` (cell and positions, an ASE optimiser with a step limit), in
process or on the Dask cluster of ``--scheduler``. The output keeps every input column and adds the
relaxed energy, convergence, steps, the largest remaining force, the volume change, the relaxed
structure as CIF text and a reason for every row that did not converge or failed; the summary names
those rows.
"""

from __future__ import annotations

import argparse
import sys

EXAMPLE = "matloop structures relax perov.csv --input structure --steps 100 -o perov_relaxed.csv"
DESCRIPTION = """\
Relax every structure of TABLE (cell and positions) with a universal interatomic potential and an
ASE optimiser, with a step limit. Adds to each row: energy_per_atom (eV/atom, the potential's),
converged (largest force below --fmax within --steps), relax_steps, max_force (eV/Å), volume_change
(relaxed/initial volume), relaxed_structure (CIF text) and reason (why a row did not converge or
failed: the step limit, a collapsing cell, an element the potential cannot handle). Rows that did not
converge keep their last energy and are listed on stderr; nothing is dropped.

calculators: chgnet (default; the pre-trained CHGNet of the chgnet wheel, offline; pip install
"matloop[chgnet]"), emt (ASE's effective-medium theory: Al, Cu, Ag, Au, Ni, Pd, Pt and H, C, N, O
only; fast, for tests)."""


def add_parser(actions: argparse._SubParsersAction) -> None:
    """Register ``relax`` under ``matloop structures``."""
    from matloop.cli.options import int_at_least, output_file, positive_float, positive_int

    p = actions.add_parser("relax", help="relax structures with a universal potential (CHGNet)",
                           description=DESCRIPTION, epilog="examples:\n  " + EXAMPLE,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("table", metavar="TABLE", help="table with a structure column (paths or inline CIF/POSCAR/JSON)")
    p.add_argument("--input", metavar="COL", help="the structure column (default: detected)")
    p.add_argument("--structures-root", metavar="DIR", help="folder that relative structure paths are read from")
    p.add_argument("--skip-invalid", action="store_true", help="leave out unreadable rows instead of stopping; they "
                   "are written with their reasons to TABLE_STEM.skipped.csv beside the output")
    p.add_argument("-o", "--output", required=True, type=output_file, metavar="FILE", help="table to write")
    p.add_argument("--fmax", type=positive_float, default=0.05, metavar="EV_PER_A",
                   help="converged when every force (and cell force) is below this, eV/Å (default 0.05)")
    p.add_argument("--steps", type=int_at_least(1, 100_000), default=300, metavar="N",
                   help="optimiser step limit per structure (default 300)")
    p.add_argument("--optimizer", choices=("FIRE", "BFGS", "LBFGS"), default="FIRE", help="ASE optimiser (default FIRE)")
    p.add_argument("--fixed-cell", action="store_true", help="relax positions only, keep the cell")
    p.add_argument("--calculator", choices=("chgnet", "emt"), default="chgnet", help="chgnet (default) or emt")
    p.add_argument("--max-seconds", type=positive_float, metavar="S", help="wall-time cap per structure")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--batch-size", type=positive_int, default=1, metavar="N", help="structures per Dask task (default 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def calculator_for(name: str):
    """The ASE calculator of ``--calculator`` (None: CHGNet, loaded where the relaxation runs); a missing
    package raises InputError naming the extra."""
    from importlib.util import find_spec

    from matloop.errors import InputError

    if find_spec("ase") is None or find_spec("pymatgen") is None:
        raise InputError('relaxing structures needs ASE and pymatgen: pip install "matloop[chgnet]"')
    if name == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    from matloop.models.potentials.features import chgnet_available

    if not chgnet_available():
        raise InputError('--calculator chgnet needs chgnet and PyTorch, which are not installed: '
                         'pip install "matloop[chgnet]" (or --calculator emt for the few EMT elements)')
    return None


def run(args: argparse.Namespace) -> int:
    import warnings

    import numpy as np

    from matloop.cli.common import load_table
    from matloop.design.relax import relax_parallel
    from matloop.io.write import output_format, write_table
    from matloop.progress import say
    from matloop.represent.structure_io import read_structures

    output_format(args.output)
    calculator = calculator_for(args.calculator)
    table_args = argparse.Namespace(table=args.table, input=args.input, target=None, kind="structure",
                                    skip_invalid=args.skip_invalid, duplicates="keep", output=args.output,
                                    structures_root=args.structures_root)
    dataset = load_table(table_args)
    rows = dataset.rows if dataset.rows is not None else np.arange(1, len(dataset.frame) + 1)
    structures = read_structures(dataset.frame[dataset.input], column=dataset.input, rows=list(rows),
                                 base_dir=args.structures_root, allow_disorder=False)
    where = f"on {args.scheduler}" if args.scheduler else "in process"
    print(f"relaxing {len(structures)} structures from {args.table} with {args.calculator} {where} "
          f"(fmax {args.fmax:g} eV/Å, at most {args.steps} steps)", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = relax_parallel(structures, calculator=calculator, fmax=args.fmax, steps=args.steps,
                             optimizer=args.optimizer, relax_cell=not args.fixed_cell, scheduler=args.scheduler,
                             batch_size=args.batch_size, max_seconds=args.max_seconds,
                             progress=lambda done, total: say(f"relaxed {done}/{total} structures"))
        out["structure"] = [_cif(text) for text in out["structure"]]
    out = out.rename(columns={"steps": "relax_steps", "structure": "relaxed_structure"})
    frame = dataset.frame.reset_index(drop=True)
    out = out.rename(columns={c: f"{c}_relaxed" for c in out.columns if c in frame.columns})
    table = frame.join(out)
    write_table(table, args.output, round_columns=["energy_per_atom", "max_force", "volume_change"])
    converged = out["converged"].to_numpy(bool)
    failed = ~np.isfinite(out["energy_per_atom"].to_numpy(float))
    late = ~converged & ~failed
    print(f"{len(out)} structures: {int(converged.sum())} converged, {int(late.sum())} not converged "
          f"(last energy kept), {int(failed.sum())} failed -> {args.output}")
    for label, mask in (("not converged", late), ("failed", failed)):
        for row, reason in list(zip(np.asarray(rows)[mask], out["reason"][mask], strict=True))[:20]:
            print(f"  row {int(row)} {label}: {reason}", file=sys.stderr)
        if mask.sum() > 20:
            print(f"  ... and {int(mask.sum()) - 20} more {label} rows (see the reason column)", file=sys.stderr)
    return 0


def _cif(text: str) -> str:
    """Relaxed structure JSON -> CIF text ('' for a failed row)."""
    if not text:
        return ""
    import json

    from pymatgen.core import Structure

    return Structure.from_dict(json.loads(text)).to(fmt="cif")
