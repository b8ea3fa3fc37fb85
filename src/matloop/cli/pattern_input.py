"""``--patterns DIR`` for ``matloop fit`` and ``validate``: a folder of diffraction patterns as the table.

Each sub-folder of DIR is a class (its name is the label, the value of the ``--target`` column); the
pattern files in it are the rows. Files that are not patterns (a README, a ``.png``) are listed on
stderr, never silently ignored; pattern files at the top level have no label and are reported too.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_patterns_argument", "patterns_table"]


def add_patterns_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--patterns DIR`` and make the ``TABLE`` positional optional (one of them is needed)."""
    for action in parser._actions:
        if action.dest == "table":
            action.nargs, action.default = "?", None
            action.help = (action.help or "") + " (or give --patterns DIR instead)"
    parser.add_argument("--patterns", metavar="DIR",
                        help="a folder of diffraction pattern files (.xy, .xye, .xrdml, two-column .csv/.txt) in "
                             "one sub-folder per class: the sub-folder's name is the label (the --target column); "
                             "read with --x-unit and --wavelength")


def patterns_table(args: argparse.Namespace) -> str:
    """Write the table of ``args.patterns`` to a temporary folder, point ``args.table`` at it and return
    the folder (the caller removes it). Non-pattern files and unlabelled files are reported on stderr."""
    import tempfile
    from pathlib import Path

    from matloop.errors import InputError
    from matloop.io.pattern_table import folder_table

    if getattr(args, "table", None):
        raise InputError("give either a TABLE or --patterns DIR, not both")
    targets = getattr(args, "target", None) or ["label"]
    target = targets[0] if isinstance(targets, list) else str(targets)
    table, other = folder_table(args.patterns, target)
    if other:
        shown = "\n  ".join(other[:20]) + (f"\n  ... and {len(other) - 20} more" if len(other) > 20 else "")
        print(f"warning: {len(other)} file{'s' if len(other) != 1 else ''} under {args.patterns} "
              f"{'are' if len(other) != 1 else 'is'} not a pattern file (not read):\n  {shown}", file=sys.stderr)
    unlabelled = table[target].isna()
    if unlabelled.any():
        names = ", ".join(Path(f).name for f in table.loc[unlabelled, "file"][:10])
        print(f"warning: {int(unlabelled.sum())} pattern file(s) at the top level of {args.patterns} have no label "
              f"(not in a sub-folder) and are not used for training: {names}", file=sys.stderr)
    folder = tempfile.mkdtemp(prefix="matloop-patterns-")
    name = Path(args.patterns).resolve().name or "patterns"
    path = Path(folder) / f"{name}.csv"
    table.to_csv(path, index=False)
    args.table, args.input, args.kind = str(path), "file", "pattern"
    return folder


#: augmented copies written per simulated structure (strain, broadening, texture, noise, background)
SIMULATED_COPIES = 5


def add_simulate_argument(parser: argparse.ArgumentParser) -> None:
    """``--simulate-from DIR`` (``matloop fit`` on pattern input)."""
    parser.add_argument("--simulate-from", metavar="DIR",
                        help="pattern input: a folder of structures (CIF, POSCAR, .vasp; needs pymatgen) whose "
                             f"simulated patterns, {SIMULATED_COPIES} augmented copies each, join the training "
                             "patterns; the label is the sub-folder's name, else the file name's stem")


def simulated_training(dataset, args: argparse.Namespace):
    """(inputs, labels, temporary folder): the dataset's pattern files plus ``.xy`` files of patterns
    simulated from the structures under ``args.simulate_from`` on the experimental patterns' grid."""
    import tempfile
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from matloop.errors import InputError
    from matloop.io.detect import looks_like_structure_path
    from matloop.io.rows import attach_source_rows
    from matloop.progress import say
    from matloop.represent.diffraction import Grid
    from matloop.represent.diffraction_sim import augment, simulate_patterns
    from matloop.represent.pattern_features import PatternFeatureSet

    if dataset.kind != "pattern" or dataset.task != "classification":
        raise InputError("--simulate-from adds simulated diffraction patterns: it needs pattern input and class labels")
    folder = Path(args.simulate_from)
    if not folder.is_dir():
        raise InputError(f"--simulate-from: {folder} is not a folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    structures = [p for p in files if looks_like_structure_path(p.name)]
    other = [str(p.relative_to(folder)) for p in files if not looks_like_structure_path(p.name)]
    if other:
        print(f"warning: {len(other)} file(s) under {folder} are not structure files (not read): "
              + ", ".join(other[:10]), file=sys.stderr)
    if not structures:
        raise InputError(f"--simulate-from: no structure files (.cif, POSCAR, .vasp, .json) under {folder}")
    try:
        from matloop.represent.structure_io import read_structures
    except ImportError:
        raise InputError('--simulate-from needs pymatgen: pip install "matloop[structure]"') from None
    read = read_structures([str(p) for p in structures], column="structure file")
    labels = [p.relative_to(folder).parts[0] if len(p.relative_to(folder).parts) > 1 else p.stem for p in structures]
    unit, wavelength = getattr(args, "x_unit", "2theta") or "2theta", getattr(args, "wavelength", 1.5406) or 1.5406
    values = dataset.inputs
    grid_of = PatternFeatureSet(unit=unit, wavelength=wavelength, skip_invalid=bool(args.skip_invalid)).fit(values)
    grid = Grid(grid_of.grid_start_, grid_of.grid_stop_, grid_of.grid_step_, unit, wavelength if unit == "2theta" else None)
    curves = simulate_patterns(read, grid)
    copies, source = augment(curves, grid, SIMULATED_COPIES, np.random.default_rng(getattr(args, "seed", 0)))
    out = Path(tempfile.mkdtemp(prefix="matloop-simulated-"))
    paths = []
    for i, (curve, s) in enumerate(zip(np.vstack([curves, copies]), np.concatenate([np.arange(len(curves)), source]),
                                       strict=True)):
        path = out / f"{structures[s].stem}_{i}.xy"
        np.savetxt(path, np.column_stack([grid.points, curve * 1000 + 1e-6]), fmt="%.6g")
        paths.append(str(path))
    sim_labels = [labels[s] for s in np.concatenate([np.arange(len(curves)), source])]
    known = set(map(str, dataset.y.unique()))
    new = sorted(set(labels) - known)
    say(f"simulated {len(curves)} structures x {1 + SIMULATED_COPIES} patterns from {folder}"
        + (f"; labels not among the measured classes: {', '.join(new)}" if new else ""))
    column = values.name if isinstance(values, pd.Series) else dataset.input
    X = pd.Series([*values.tolist(), *paths], name=column, dtype=object)
    rows = [*np.asarray(dataset.rows).tolist(), *range(len(dataset.rows) + 1, len(dataset.rows) + 1 + len(paths))]
    measured = dataset.y.to_numpy()
    try:  # labels of the measured classes' type (a space-group number stays a number)
        simulated = pd.Series(sim_labels, dtype=object).astype(measured.dtype).to_numpy()
    except (ValueError, TypeError):
        raise InputError(f"--simulate-from: labels {sorted(set(labels))[:5]} are not of the type of the measured "
                         f"classes ({measured.dtype})") from None
    y = np.concatenate([measured, simulated])
    return attach_source_rows(X, rows), y, str(out)
