"""``matloop potential fit|eval|relax|md``: interatomic potentials fine-tuned on the user's own DFT data.

``fit`` fine-tunes the universal CHGNet on structures with DFT energies, forces and stresses (mlearn-style
JSON records or extended XYZ; :mod:`matloop.io.potential_data`) and writes a ``.pot`` file (arrays + JSON
+ SHA-256, no pickle; :mod:`matloop.models.potentials.finetune`). ``eval`` reports energy, force and
stress errors of a ``.pot`` or of the pre-trained ``chgnet`` (zero-shot) on labelled records. ``relax``
relaxes structures with the potential through :func:`matloop.design.relax.relax_structures`; ``md`` runs
a short NVT (Langevin) molecular dynamics through ASE. All need the ``chgnet`` extra; without it they
exit 2 saying so.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import warnings

from matloop.cli.options import int_at_least, nonnegative_float, output_file, positive_float, seed

EXAMPLES = ("matloop datasets export mlearn_li_train -o li_train.json\n"
            "  matloop datasets export mlearn_li_test -o li_test.json\n"
            "  matloop potential fit li_train.json -o li.pot --epochs 20 --patience 4\n"
            "  matloop potential eval li.pot li_test.json --json li_errors.json\n"
            "  matloop potential relax li.pot li_test.json --records 25-29 -o li_relaxed.csv --steps 50\n"
            "  matloop potential md li.pot li_test.json --record 5 --temperature 300 --steps 200 --timestep 1 "
            "-o li_md.extxyz")
DATA_HELP = "labelled structures: mlearn-style JSON records (.json, .json.gz) or extended XYZ (.extxyz)"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``matloop potential {fit,eval,relax,md}``."""
    raw = argparse.RawDescriptionHelpFormatter
    parser = subparsers.add_parser(
        "potential", help="fine-tune the universal potential (CHGNet) on your DFT data; evaluate, relax, run MD",
        description="Interatomic potentials from your own DFT data: fine-tune the pre-trained CHGNet on "
                    "energies, forces and stresses, measure its errors, relax structures and run short NVT "
                    'molecular dynamics with it. Needs the chgnet extra: pip install "matloop[chgnet]".',
        epilog="examples:\n  " + EXAMPLES, formatter_class=raw)
    parser.set_defaults(func=lambda args: parser.print_help() or 0)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", title="actions")

    p = actions.add_parser(
        "fit", help="fine-tune CHGNet on structures with DFT energies, forces and stresses",
        description="Fine-tune the pre-trained CHGNet: first per-element energy offsets (least squares) bring "
                    "it to your energy reference, then its energy readout is refitted on cached atom features "
                    "(a minute or two for ~200 structures), then energy, force and stress training with a "
                    "validation split, a cosine "
                    "learning-rate decay over the epochs that fit the time budget and early stopping. The "
                    "learning curve (train/validation energy and force MAE per epoch) is "
                    "shown as progress and stored in the file. Energies are total energies (eV), forces eV/Å, "
                    "mlearn's virial_stress kbar (VASP sign; converted to GPa).",
        epilog="examples:\n  " + EXAMPLES, formatter_class=raw)
    p.add_argument("training", metavar="TRAINING", help=DATA_HELP)
    p.add_argument("-o", "--output", required=True, type=output_file, metavar="FILE.pot", help="potential to write")
    p.add_argument("--epochs", type=int_at_least(0, 1000), default=None, metavar="N",
                   help="most epochs of energy+force training (default 30, or 0 with --correction soap; 0: offsets "
                        "and readout refit only, or with --correction soap the pre-trained network unchanged)")
    p.add_argument("--val-fraction", type=positive_float, default=0.1, metavar="F",
                   help="share of structures held out for validation and early stopping (default 0.1)")
    p.add_argument("--patience", type=int_at_least(1, 1000), default=5, metavar="N",
                   help="stop after N epochs without validation improvement (default 5)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the split and the shuffling (default 0)")
    p.add_argument("--learning-rate", type=positive_float, default=3e-4, metavar="LR", help="Adam's (default 3e-4)")
    p.add_argument("--batch-size", type=int_at_least(1, 256), default=4, metavar="N", help="structures per step")
    p.add_argument("--force-weight", type=nonnegative_float, default=1.0, metavar="W", help="force loss weight (default 1; "
                   "0 trains on energies only, much faster)")
    p.add_argument("--stress-weight", type=nonnegative_float, default=0.1, metavar="W", help="stress loss weight (default 0.1)")
    p.add_argument("--freeze", choices=("none", "embeddings", "backbone"), default="embeddings",
                   help="pre-trained parts kept fixed: the embeddings (default), the whole backbone (only the "
                        "readout learns) or nothing")
    p.add_argument("--max-structures", type=int_at_least(2), default=None, metavar="N",
                   help="train on a random N of the structures (a quick trial before the full fit)")
    p.add_argument("--time-budget", type=positive_float, default=600.0, metavar="S",
                   help="stop when S seconds have passed (the epoch ends after its current batch; default 600, "
                        "about 3 epochs of 200 60-atom structures on one busy core)")
    p.add_argument("--no-readout-refit", dest="readout_refit", action="store_false",
                   help="skip the readout refit on cached features before the energy+force epochs")
    p.add_argument("--correction", choices=("none", "soap"), default="none",
                   help="soap: fit a GAP-style SOAP kernel correction (Δ-learning) to the residual energies and "
                        "forces of CHGNet (the pre-trained network unless --epochs N is given), with GAP's two-body "
                        "term; matloop's best mlearn errors (benchmarks/results/potentials_soap_cli.md) but 1-3 s of "
                        "descriptor derivatives per 64-atom structure at fit time and at every force call. Needs the "
                        "soap extra (dscribe)")
    p.add_argument("--sparse", type=int_at_least(10, 20000), default=4000, metavar="M",
                   help="sparse environments of the SOAP correction (default 4000)")
    p.add_argument("--second-kernel", type=int_at_least(0, 20000), default=2000, metavar="M",
                   help="the SOAP correction's second, short-range kernel (r_cut 3.5 Å, n_max = l_max = 8) with M "
                        "sparse environments (default 2000; 0: none, up to about 8 minutes faster for the ~220 mlearn "
                        "Si/Ge structures on one core: benchmarks/results/potentials_soap_weights.md)")
    p.add_argument("--keep-base", action="store_true",
                   help="keep CHGNet's own energies and forces as they are under the SOAP correction (by default "
                        "the fit also chooses their scale by the same cross-validation: universal potentials are "
                        "systematically soft, and a few hundred structures can replace much of them)")
    p.add_argument("--no-stress-fit", action="store_true",
                   help="fit the SOAP correction to energies and forces only (by default the training structures' "
                        "stresses join the fit too, their noise level chosen by the same cross-validation)")
    p.add_argument("--folds", type=int_at_least(1, 20), default=5, metavar="K",
                   help="the SOAP correction's noise levels are chosen by K-fold cross-validation over the "
                        "training structures (default 5; 1: on the --val-fraction split only)")
    _threads(p)
    p.set_defaults(func=_fit)

    p = actions.add_parser(
        "eval", help="energy, force and stress errors of a potential on labelled structures",
        description="Energy MAE (meV/atom), force MAE (eV/Å, over force components) and stress MAE (GPa) of a "
                    ".pot file, or of the pre-trained universal potential ('chgnet', zero-shot), on labelled "
                    "structures. The energy MAE is also given after per-element offsets fitted on these "
                    "structures (separating a shifted energy reference from real error; optimistic, since it "
                    "uses their labels).",
        epilog="examples:\n  " + EXAMPLES, formatter_class=raw)
    p.add_argument("potential", metavar="POTENTIAL", help="a .pot file, or chgnet (the pre-trained potential)")
    p.add_argument("data", metavar="DATA", help=DATA_HELP)
    p.add_argument("--json", type=output_file, metavar="FILE", help="write the errors as JSON (energy_mae in "
                   "meV/atom, force_mae in eV/Å, stress_mae in GPa)")
    _threads(p)
    p.set_defaults(func=_eval)

    p = actions.add_parser(
        "relax", help="relax structures (cell and positions) with a potential",
        description="Relax every structure with the potential (ASE FIRE on cell and positions, FrechetCellFilter) "
                    "and write its energy per atom, whether it converged, the steps, the largest remaining force, "
                    "the volume change and the relaxed structure (pymatgen JSON).",
        epilog="examples:\n  " + EXAMPLES, formatter_class=raw)
    p.add_argument("potential", metavar="POTENTIAL", help="a .pot file, or chgnet")
    p.add_argument("structures", metavar="STRUCTURES", help="a table with a structure column (CIF/POSCAR paths or "
                   "inline text), a structure file (.cif, POSCAR) or labelled records (.json, .extxyz)")
    p.add_argument("-o", "--output", required=True, type=output_file, metavar="FILE", help="table to write")
    p.add_argument("--input", metavar="COL", help="the table's structure column (detected when not given)")
    p.add_argument("--records", type=_record_list, metavar="LIST", help="only these records or rows (1-based), "
                   "e.g. 1,3,10-20 (default: all)")
    p.add_argument("--fmax", type=positive_float, default=0.05, metavar="eV/Å", help="force criterion (default 0.05)")
    p.add_argument("--steps", type=int_at_least(1), default=300, metavar="N", help="step limit (default 300)")
    p.add_argument("--fixed-cell", action="store_true", help="relax positions only")
    _threads(p)
    p.set_defaults(func=_relax)

    p = actions.add_parser(
        "md", help="short NVT molecular dynamics (Langevin) with a potential",
        description="Run NVT molecular dynamics through ASE (Langevin thermostat, velocities drawn from "
                    "Maxwell-Boltzmann at the temperature) and write the trajectory as extended XYZ with energies "
                    "and forces; prints the mean and spread of the temperature over the second half and the drift "
                    "of the total energy.",
        epilog="examples:\n  " + EXAMPLES, formatter_class=raw)
    p.add_argument("potential", metavar="POTENTIAL", help="a .pot file, or chgnet")
    p.add_argument("structure", metavar="STRUCTURE", help="a structure file (.cif, POSCAR, pymatgen JSON) or "
                   "labelled records (.json, .extxyz; see --record)")
    p.add_argument("-o", "--output", required=True, type=output_file, metavar="FILE.extxyz", help="trajectory")
    p.add_argument("--record", type=int_at_least(1), default=1, metavar="N", help="which record of a records "
                   "file (default 1)")
    p.add_argument("--temperature", type=positive_float, default=300.0, metavar="K", help="default 300 K")
    p.add_argument("--steps", type=int_at_least(1), default=500, metavar="N", help="MD steps (default 500)")
    p.add_argument("--timestep", type=positive_float, default=1.0, metavar="FS", help="femtoseconds (default 1)")
    p.add_argument("--friction", type=positive_float, default=0.01, metavar="1/FS",
                   help="Langevin friction (default 0.01 fs⁻¹)")
    p.add_argument("--interval", type=int_at_least(1), default=10, metavar="N", help="write every N steps")
    p.add_argument("--seed", type=seed, default=0, help="seed of the velocities and the thermostat noise")
    _threads(p)
    p.set_defaults(func=_md)


def _record_list(text: str) -> list[int]:
    """``1,3,10-20`` -> [1, 3, 10, ..., 20] (1-based, sorted, each once)."""
    out: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: give record numbers such as 1,3,10-20") from None
        if a < 1 or b < a:
            raise argparse.ArgumentTypeError(f"{part!r}: record numbers start at 1 and ranges go upwards")
        out.update(range(a, b + 1))
    return sorted(out)


def _threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int_at_least(1, 256), default=1, metavar="N",
                   help="PyTorch threads (default 1: fastest on a shared or busy machine; more on an idle one)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def _chgnet_missing() -> bool:
    from matloop.models.potentials.features import chgnet_available

    if chgnet_available():
        return False
    print('error: matloop potential needs CHGNet and PyTorch, the chgnet extra: pip install "matloop[chgnet]"',
          file=sys.stderr)
    return True


def _fit(args: argparse.Namespace) -> int:
    from matloop.io.potential_data import read_potential_data

    records = read_potential_data(args.training)  # bad records: exit 2 before anything heavy
    if _chgnet_missing():
        return 2
    if not 0 < args.val_fraction < 1:
        print("error: --val-fraction must be between 0 and 1", file=sys.stderr)
        return 2
    import numpy as np

    if args.correction == "soap" and importlib.util.find_spec("dscribe") is None:
        from matloop.models.potentials.soap_delta import DSCRIBE_HINT

        print(f"error: --correction soap: {DSCRIBE_HINT}", file=sys.stderr)
        return 2
    if args.max_structures and args.max_structures < len(records):
        keep = np.sort(np.random.default_rng(args.seed).choice(len(records), args.max_structures, replace=False))
        records = [records[i] for i in keep]
    if args.epochs is None:
        args.epochs = 0 if args.correction == "soap" else 30
    if args.correction == "soap":
        return _fit_corrected(args, records)
    pot = _finetune(args, records)
    pot.meta["training_file"] = str(args.training)
    pot.save(args.output)
    best = next(c for c in pot.meta["learning_curve"] if c["epoch"] == pot.meta["best_epoch"])
    print(f"wrote {args.output}: CHGNet fine-tuned on {pot.meta['n_train']} structures ({pot.meta['stopped']}; "
          f"best epoch {best['epoch']}); validation energy MAE {best['val_energy_mae']:.2f} meV/atom, force MAE "
          f"{best['val_force_mae']:.4f} eV/Å; per-element offsets "
          + ", ".join(f"{k} {v:+.4f}" for k, v in pot.meta["energy_offsets_ev_per_atom"].items()) + " eV/atom")
    return 0


def _finetune(args: argparse.Namespace, records: list):
    """``finetune`` with the command line's settings."""
    from matloop.models.potentials.finetune import finetune

    return finetune(records, epochs=args.epochs, val_fraction=args.val_fraction, patience=args.patience,
                    seed=args.seed, learning_rate=args.learning_rate, batch_size=args.batch_size,
                    force_weight=args.force_weight, stress_weight=args.stress_weight, freeze=args.freeze,
                    time_budget=args.time_budget, n_threads=args.threads, readout_refit=args.readout_refit)


def _fit_corrected(args: argparse.Namespace, records: list) -> int:
    """CHGNet (pre-trained, or fine-tuned with --epochs N) plus a SOAP Δ-correction fitted to its residuals."""
    import numpy as np

    from matloop import progress
    from matloop.models.potentials.corrected import CorrectedPotential
    from matloop.models.potentials.features import _threads
    from matloop.models.potentials.finetune import FineTunedPotential
    from matloop.models.potentials.soap_fit import fit_correction

    base = _finetune(args, records) if args.epochs > 0 else FineTunedPotential.pretrained()
    progress.say(f"CHGNet predictions on the {len(records)} training structures")
    predictions = base.predict(records, batch_size=2, n_threads=args.threads)
    energies = np.array([r.energy - p["energy_per_atom"] * r.n_atoms for r, p in zip(records, predictions, strict=True)])
    forces = [None if r.forces is None else np.asarray(r.forces) - p["forces"]
              for r, p in zip(records, predictions, strict=True)]
    stresses = [None if r.stress is None or p.get("stress") is None else np.asarray(r.stress) - p["stress"]
                for r, p in zip(records, predictions, strict=True)]
    with _threads(args.threads):
        own = None if args.keep_base else (np.array([p["energy_per_atom"] * r.n_atoms for r, p in
                                                      zip(records, predictions, strict=True)]),
                                            [np.asarray(p["forces"]) for p in predictions],
                                            [p.get("stress") for p in predictions])
        correction = fit_correction([r.atoms() for r in records], energies, forces, n_sparse=args.sparse,
                                    folds=args.folds, val_fraction=args.val_fraction, seed=args.seed,
                                    settings={"sparse2": args.second_kernel}, base=own, say=progress.say,
                                    stresses=None if args.no_stress_fit else stresses)
    pot = CorrectedPotential(base, correction, {"training_file": str(args.training), "base_epochs": args.epochs})
    pot.save(args.output)
    best = correction.meta["chosen"]
    print(f"wrote {args.output}: CHGNet ({'fine-tuned' if args.epochs > 0 else 'pre-trained'}) + SOAP correction "
          f"fitted on {len(records)} structures ({correction.meta['n_sparse']} sparse environments, "
          f"{correction.meta['fit_seconds']:.0f} s); {correction.meta['validation']}: held-out energy MAE "
          f"{best['val_energy_mae']:.2f} meV/atom, "
          f"force MAE {best['val_force_mae']:.4f} eV/Å; CHGNet's own energies and forces scaled by "
          f"{1 + correction.base_scale:.3f}" + (" (--keep-base)" if args.keep_base else " (chosen by the same validation)"))
    return 0


def _eval(args: argparse.Namespace) -> int:
    import json

    from matloop.io.potential_data import read_potential_data

    records = read_potential_data(args.data)
    if _chgnet_missing():
        return 2
    from matloop.models.potentials.finetune import load_potential

    pot = load_potential(args.potential)
    result = pot.evaluate(records, n_threads=args.threads)
    name = "CHGNet (pre-trained, zero-shot)" if args.potential.lower() == "chgnet" else args.potential
    print(f"{name} on {result['n_structures']} structures ({result['n_atoms']} atoms) of {args.data}:")
    print(f"  energy MAE  {result['energy_mae']:8.2f} meV/atom")
    print(f"              {result['energy_mae_offset']:8.2f} meV/atom after per-element offsets fitted on these "
          "structures (optimistic)")
    print(f"  force MAE   {result['force_mae']:8.4f} eV/Å")
    print(f"  stress MAE  {result['stress_mae']:8.4f} GPa")
    if args.json:
        out = {"potential": args.potential, "data": str(args.data), **result,
               "units": {"energy_mae": "meV/atom", "energy_mae_offset": "meV/atom", "force_mae": "eV/Å",
                         "stress_mae": "GPa"}}
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(out, handle, indent=1, allow_nan=True)
    return 0


def _structures(path: str, column: str | None) -> tuple[list, list]:
    """(structures, ids) from records, a structure file or a table with a structure column."""
    from pathlib import Path

    name = path.lower()
    if name.endswith((".json", ".json.gz", ".extxyz", ".xyz")) and not name.endswith("structure.json"):
        from matloop.io.potential_data import read_potential_data

        records = read_potential_data(path)
        return [r.structure() for r in records], [r.row for r in records]
    from matloop.represent.structure_io import read_structures

    if name.endswith((".cif", ".vasp")) or Path(path).name.upper().startswith(("POSCAR", "CONTCAR")):
        return read_structures([path]), [1]
    from matloop.io.table import read_table

    ds = read_table(path, input=column, kind="structure")
    return read_structures(ds.frame[ds.input], column=ds.input, base_dir=Path(path).parent,
                           allow_disorder=False), list(range(1, len(ds.frame) + 1))


def _relax(args: argparse.Namespace) -> int:
    structures, ids = _structures(args.structures, args.input)
    if args.records:
        missing = [n for n in args.records if n > len(structures)]
        if missing:
            print(f"error: --records {missing[0]}: {args.structures} holds {len(structures)} structures",
                  file=sys.stderr)
            return 2
        structures, ids = [structures[n - 1] for n in args.records], [ids[n - 1] for n in args.records]
    if _chgnet_missing():
        return 2
    from matloop.design.relax import relax_structures
    from matloop.io.write import write_table
    from matloop.models.potentials.finetune import load_potential

    pot = load_potential(args.potential)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")  # inside chgnet
        table = relax_structures(structures, calculator=pot.calculator(), fmax=args.fmax, steps=args.steps,
                                 relax_cell=not args.fixed_cell, threads=args.threads)
    table.insert(0, "formula", [s.composition.reduced_formula for s in structures])
    table.insert(0, "record", ids)
    write_table(table, args.output)
    n_ok = int(table["converged"].sum())
    print(f"relaxed {len(table)} structures: {n_ok} converged (largest force < {args.fmax} eV/Å within "
          f"{args.steps} steps), {len(table) - n_ok} not; wrote {args.output}")
    for _, row in table[table["reason"] != ""].head(10).iterrows():
        print(f"  record {row['record']}: {row['reason']}")
    return 0


def _md(args: argparse.Namespace) -> int:
    structures, _ = _structures(args.structure, None)
    if args.record > len(structures):
        print(f"error: --record {args.record}: {args.structure} holds {len(structures)} structures", file=sys.stderr)
        return 2
    if _chgnet_missing():
        return 2
    from matloop.models.potentials.finetune import load_potential
    from matloop.models.potentials.md import run_nvt

    pot = load_potential(args.potential)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")  # inside chgnet
        warnings.filterwarnings("ignore", message="Only FixAtoms and FixCartesian")  # FixCom: not for pymatgen
        summary = run_nvt(structures[args.record - 1], pot.calculator(), args.output, temperature=args.temperature,
                          steps=args.steps, timestep=args.timestep, friction=args.friction, interval=args.interval,
                          seed=args.seed, n_threads=args.threads)
    print(f"NVT (Langevin) at {args.temperature:g} K, {args.steps} steps of {args.timestep:g} fs "
          f"({summary['n_atoms']} atoms): temperature {summary['temperature_mean']:.0f} ± "
          f"{summary['temperature_std']:.0f} K over the second half; potential energy "
          f"{summary['epot_mean']:.4f} eV/atom; total-energy drift {summary['etot_drift']:+.2f} meV/atom/ps "
          f"(thermostatted: not conserved); {summary['frames']} frames written to {args.output}")
    return 0
