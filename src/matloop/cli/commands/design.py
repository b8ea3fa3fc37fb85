"""``matloop design``: inverse design, i.e. new candidates predicted to meet targets.

``matloop design molecules`` generates molecules whose predicted properties fall in target windows
(iQSPR's sequential Monte Carlo with an n-gram chemical language model, or a graph genetic
algorithm). ``design`` is a group so that other kinds (e.g. compositions) can be added beside it.
"""

from __future__ import annotations

import argparse
import sys

from matloop.cli.options import int_at_least, positive_int, seed

MOLECULES_DESCRIPTION = """\
Generate new molecules whose predicted properties fall in target windows.

Forward models with uncertainty are trained on TABLE (a random forest on the default molecule
features: Morgan counts + RDKit descriptors) unless --model gives saved ones. A generator then
proposes molecules and keeps those most likely to have every property in its window, where the
likelihood is the probability, under each model's predicted mean and std, that the property lies
in the window:

  smc  iQSPR (Ikebata et al. 2017): sequential Monte Carlo whose moves cut and regrow SMILES with an
       n-gram chemical language model trained on TABLE plus ~1,700 bundled ESOL/FreeSolv molecules
  ga   graph genetic algorithm (Jensen 2019): crossover and mutation of molecular graphs

The output has one row per molecule, best first: rank, smiles, for each target COL_pred, COL_std and
COL_p_window (probability in the window), then likelihood (product over targets), in_window (every
predicted mean inside its window), nearest_train_similarity and nearest_train_smiles (Tanimoto,
Morgan radius 2), in_domain (similarity >= 0.4: trust predictions of molecules unlike any training
molecule less), generator and step. Every molecule is valid (RDKit), distinct and not in TABLE.

A window is COL=LO:HI; leave a side empty for an open end (COL=:-5 is "at most -5").

examples:
  matloop design molecules --train esol.csv --target "measured log solubility in mols per litre=-2:-1" \\
      --n 50 -o soluble.csv
  matloop design molecules --train esol.csv --target "measured log solubility in mols per litre=-6:-5" \\
      --target "Molecular Weight=:300" --generator ga -o hits.csv
  matloop fit esol.csv --target "measured log solubility in mols per litre" -o logS.model
  matloop design molecules --train esol.csv --target "measured log solubility in mols per litre=-2:-1" \\
      --model "measured log solubility in mols per litre=logS.model" -o hits.csv
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``matloop design molecules`` and ``matloop design compositions``."""
    parser = subparsers.add_parser("design", help="generate new candidates predicted to meet targets (inverse design)",
                                   description="Inverse design: generate new candidates whose predicted properties "
                                               "meet targets. Choose what to design.")
    kinds = parser.add_subparsers(dest="design_kind", metavar="KIND", title="what to design")
    parser.set_defaults(func=lambda args: _help(parser))
    from matloop.cli.commands._design_compositions import add_parser as add_compositions

    add_compositions(kinds)
    m = kinds.add_parser("molecules", help="molecules with properties in target windows (SMC or graph GA)",
                         description=MOLECULES_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("--train", required=True, metavar="TABLE",
                   help="known molecules: a .csv, .tsv, .xlsx, .json or .parquet file with a SMILES column "
                        "(and the target columns, unless --model is given)")
    m.add_argument("--input", metavar="COL", help="the SMILES column (detected when not given)")
    m.add_argument("--skip-invalid", action="store_true",
                   help="leave out rows with problems instead of stopping; they are written with their reasons "
                        "to TABLE_STEM.skipped.csv beside the output")
    m.add_argument("--duplicates", choices=("keep", "mean", "error"), default="keep",
                   help="a molecule in several rows with different targets: keep all rows and warn (default), "
                        "average them (mean), or report them as errors (error)")
    m.add_argument("--target", action="append", required=True, metavar="COL=LO:HI",
                   help="a target window; repeat for several targets (all must be met)")
    m.add_argument("--n", type=positive_int, default=50, metavar="N", help="molecules to write (default 50)")
    m.add_argument("-o", "--output", required=True, metavar="OUT.csv",
                   help="where to write them (.csv, .tsv, .xlsx, .json or .parquet)")
    g = m.add_argument_group("models and generator")
    g.add_argument("--model", action="append", metavar="[COL=]MODEL",
                   help="a saved model file (matloop fit) for a target instead of training one here; "
                        "give one per target (COL= may be left out when the file names its target or "
                        "there is one target)")
    g.add_argument("--featurizer", default="molecule", choices=("molecule", "morgan", "rdkit2d", "maccs"),
                   help="features of the models trained here: molecule (default: Morgan counts + RDKit "
                        "descriptors), morgan (fastest), rdkit2d or maccs")
    g.add_argument("--generator", choices=("smc", "ga"), default="smc", help="smc (default) or ga")
    g.add_argument("--steps", type=positive_int, metavar="K", help="SMC steps or GA generations (default 30)")
    g.add_argument("--population", type=int_at_least(2), metavar="P",
                   help="SMC particles or GA population (default max(100, N)); each step evaluates up to P "
                        "new molecules (GA: 2P)")
    g.add_argument("--no-corpus", action="store_true",
                   help="train the language model on TABLE only, without the bundled ESOL/FreeSolv molecules")
    g.add_argument("--seed", type=seed, default=0, help="random seed (default 0): same inputs, same molecules")
    g.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    m.set_defaults(func=run_molecules)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def parse_window(text: str) -> tuple[str, float | None, float | None]:
    """``"COL=LO:HI"`` -> (column, lo, hi); empty LO or HI is an open end."""
    from matloop.errors import InputError

    usage = f"--target {text!r}: expected COL=LO:HI, e.g. logS=-2:-1 (leave LO or HI empty for an open end)"
    if "=" not in text:
        raise InputError(usage)
    column, bounds = text.rsplit("=", 1)
    parts = bounds.split(":")
    if not column.strip() or len(parts) != 2:
        raise InputError(usage)
    values = []
    for part in parts:
        part = part.strip()
        try:
            values.append(None if part == "" else float(part))
        except ValueError:
            raise InputError(f"{usage}; {part!r} is not a number") from None
    lo, hi = values
    if lo is None and hi is None:
        raise InputError(f"--target {text!r}: give at least one bound")
    if any(v is not None and not abs(v) < float("inf") for v in values):
        raise InputError(f"--target {text!r}: bounds must be finite numbers (leave a side empty for an open end)")
    if lo is not None and hi is not None and not lo < hi:
        raise InputError(f"--target {text!r}: the window is empty (need LO < HI)")
    return column.strip(), lo, hi


def _model_target(path: str) -> str | None:
    """The target a saved model predicts: its ``target_name``, or the ``target`` 'matloop fit' records."""
    from matloop.models.persistence import read_model_metadata

    meta = read_model_metadata(path)
    return meta.get("target_name") or (meta.get("metadata") or {}).get("target")


def _models(args: argparse.Namespace, targets: list[str]):
    """Loaded models per target from ``--model``, or None; featurizer or None (models take SMILES)."""
    from matloop.errors import InputError, MatloopError

    if not args.model:
        return None
    from matloop.models.persistence import load_model

    given: dict[str, str] = {}
    for item in args.model:
        column, path = item.rsplit("=", 1) if "=" in item else (None, item)
        if column is None:
            recorded = _model_target(path)
            column = recorded if len(targets) > 1 else targets[0]
            if len(targets) == 1 and recorded is not None and recorded != column:
                print(f"note: {path} was fitted on the target {recorded!r}; it is used for {column!r} as asked",
                      file=sys.stderr)
        if column not in targets:
            raise InputError(f"--model {item!r}: cannot tell which target it predicts; write --model COL=PATH "
                             f"with COL one of {', '.join(targets)}")
        given[column] = path
    missing = [t for t in targets if t not in given]
    if missing:
        raise InputError(f"give --model for every target or for none; missing: {', '.join(missing)}")
    models = {t: load_model(p) for t, p in given.items()}
    for t, model in models.items():
        if getattr(model, "kind", "molecule") != "molecule" or not hasattr(model, "features"):
            raise MatloopError(f"the model for {t!r} ({given[t]}) is not a molecule model saved by matloop fit "
                               f"(it must take SMILES); got {type(model).__name__}")
    return models


def run_molecules(args: argparse.Namespace) -> int:
    import warnings

    import numpy as np

    from matloop.cli.common import load_table
    from matloop.design.molecules import design_molecules
    from matloop.io.write import output_format, write_table
    from matloop.represent.registry import get_featurizer

    output_format(args.output)  # a bad output name fails now, not after the run
    if args.n < 1:
        from matloop.errors import InputError

        raise InputError(f"--n must be at least 1, got {args.n}")
    windows = {}
    for text in args.target:
        column, lo, hi = parse_window(text)
        windows[column] = (lo, hi)
    targets = list(windows)
    models = _models(args, targets)
    table_args = argparse.Namespace(table=args.train, input=args.input, target=None if models else targets,
                                    kind="molecule", skip_invalid=args.skip_invalid, duplicates=args.duplicates,
                                    output=args.output)
    dataset = load_table(table_args)
    featurizer = None if models else get_featurizer(args.featurizer)
    steps = 30 if args.steps is None else args.steps
    what = "SMC steps" if args.generator == "smc" else "GA generations"

    def progress(step: int, trace) -> None:
        if args.quiet or (step % 5 and step != steps):
            return
        last = trace.iloc[-1]
        best = np.exp(last["max_log_likelihood"]) if "max_log_likelihood" in trace else last["best"]
        print(f"  {what} {step}/{steps}: best likelihood {best:.3f}", file=sys.stderr)

    if not args.quiet:
        source = "the given models" if models else f"random forests on {args.featurizer} features, trained now"
        print(f"{len(dataset)} known molecules; forward models: {source}; generator {args.generator}",
              file=sys.stderr)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        out = design_molecules(dataset, dataset.input, windows, n=args.n, generator=args.generator, model=models,
                               featurizer=featurizer, seed=args.seed, steps=steps, population=args.population,
                               corpus=None if args.no_corpus else "bundled", callback=progress)
    for w in caught:
        if issubclass(w.category, RuntimeWarning):
            print(f"warning: {w.message}", file=sys.stderr)
    write_table(out, args.output, round_columns=list(out.columns))  # computed: 6 significant digits
    info = out.attrs.get("design", {})
    print(f"evaluated {info.get('n_evaluated', 0)} distinct molecules ({info.get('n_new', 0)} not in the table); "
          f"wrote {len(out)} to {args.output}: {int(out['in_window'].sum())} predicted inside every window, "
          f"{int(out['in_domain'].sum())} in the models' domain")
    for _, row in out.head(5).iterrows():
        preds = ", ".join(f"{t} {row[f'{t}_pred']:.3g} ± {row[f'{t}_std']:.2g}" for t in targets)
        print(f"  {int(row['rank'])}. {row['smiles']}: {preds}; likelihood {row['likelihood']:.3f}")
    return 0
