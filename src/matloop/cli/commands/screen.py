"""``matloop screen``: rank enumerated or listed compositions with a saved model, keep the top K."""

from __future__ import annotations

import argparse
import sys
import time

from matloop.cli.commands._validate_stability import EPILOG_NOTE as VALIDATE_NOTE
from matloop.cli.common import add_quiet_argument
from matloop.cli.options import (
    acquisition_name,
    featurizer_name,
    finite_float,
    nonnegative_float,
    nonnegative_int,
    positive_int,
    seed,
)

DESCRIPTION = """\
Virtual screening: enumerate the compositions of a chemical space (or read a table of candidate
formulas), keep the chemically plausible ones, predict the property with a saved model (with its
uncertainty and applicability domain), score and keep the best K. Candidates stream through in
chunks, so memory stays flat for 10^7 candidates and more.

candidates (give one):
  --elements Li,Fe,Mn,P,O --max-atoms 20   every reduced integer formula over these elements with at
                                           most 20 atoms per formula unit (2 to --max-elements elements)
  --ranges "Li=0:2,Fe=1,P=1,O=3:5"         integer atom counts per element (0 = may be absent)
  --candidates TABLE [--input COL]         formulas from a table; its other columns are carried along

chemistry rules (--rules; default 'smact' for enumerated spaces, 'none' for tables):
  smact    charge neutrality over known oxidation states and Pauling electronegativity order
           (cations less electronegative than anions), as in SMACT (Davies et al., Chem 2016)
  neutral  charge neutrality only
  --oxidation-states: icsd24 (default; SMACT's default: states seen > 5 times in the 2024 ICSD),
           icsd16, smact14 (SMACT's original set), or pymatgen's common / icsd / all

objectives (--objective, repeatable):
  max | min | LO:HI    goal for the predicted property (default max; LO:HI: land in a window)
  hhi=W                penalise supply risk: score -= W * HHI_production / 10000
  price=W              penalise raw element cost: score -= W * log10(USD/kg)
  toxic=W              penalise toxic elements: score -= W * (atomic fraction of As, Be, Cd, Cr, Hg, Ni, Pb)
  radioactive=W        penalise radioactive elements: score -= W * (atomic fraction of Tc, Pm, Po and heavier)
  (--exclude-toxic, --exclude-radioactive, --max-hhi and --max-price are the same as hard filters)
  --acquisition mei (default: the prediction itself), ucb, lcb, ei, logei, pi, mli, thompson, mu; ei/
  logei/pi/mli need --best VALUE (the best measured value). With LO:HI the score is the probability of
  landing in the window (window; thompson and mu also apply).

output columns: rank, formula, prediction, std, in_domain, domain_distance (1 = edge of the domain),
score, hhi_production, hhi_reserve, price_usd_per_kg, toxic, radioactive, oxidation_states (one passing
assignment, with --rules). A table's own columns follow its row number.

examples:
  matloop screen --elements Li,Fe,Mn,P,O --max-atoms 20 --model gap.model --top 50 -o hits.csv
  matloop screen --elements Li,Na,Mg,Fe,Mn,Si,P,S,O --max-atoms 12 --max-elements 4 --model gap.model \\
      --top 100 --objective 1.1:1.5 --exclude-toxic --max-hhi 3000 --scheduler tcp://10.0.0.5:8786 -o hits.csv
  matloop screen --candidates candidates.csv --input composition --model gap.model --top 20 --objective min -o best.csv
  matloop screen --candidates candidates.csv --input composition --model gap.model --top 5 --validate stability \\
      --validate-top 2 -o stable_hits.csv

The model is a file written by 'matloop fit' (or matloop.models.save_model of a MaterialModel). 'fit'
also writes MODEL.screen, a 64-tree forest distilled from the model: it ranks every candidate (5-10x
faster than the default model), and the full model re-scores the best --shortlist of every chunk, so
the reported prediction, std and domain flag are the full model's (--exact: the full model for all;
the accuracy cost is measured in benchmarks/results/screening.md). With
--scheduler the chunks run on an existing Dask cluster (dask.distributed); results equal the
in-process ones. Workers started with MALLOC_TRIM_THRESHOLD_ unset use 1.25-1.4x less CPU than with
Dask's default (dask config distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_: null).
Exit status: 0 success, 1 failure, 2 bad input.
"""
DESCRIPTION += "\n" + VALIDATE_NOTE + "\n"


PENALTIES = ("hhi", "price", "toxic", "radioactive")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``screen`` subcommand."""
    parser = subparsers.add_parser(
        "screen", help="enumerate or read candidate compositions, predict, rank and keep the top K",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = parser.add_argument_group("candidates")
    one = src.add_mutually_exclusive_group(required=True)
    one.add_argument("--elements", metavar="LIST", help="elements of the space, e.g. Li,Fe,Mn,P,O")
    one.add_argument("--ranges", metavar="SPEC", help="atom-count ranges, e.g. 'Li=0:2,Fe=1,P=1,O=3:5'")
    one.add_argument("--candidates", metavar="TABLE", help="a table with a column of formulas")
    src.add_argument("--input", metavar="COL", help="formula column of --candidates (detected if not given)")
    src.add_argument("--skip-invalid", action="store_true",
                     help="leave out --candidates rows with problems instead of stopping; they are written with "
                          "their reasons to TABLE_STEM.skipped.csv beside the output")
    src.add_argument("--max-atoms", type=positive_int, metavar="N", help="most atoms per formula unit (default 20 with "
                     "--elements; no limit with --ranges)")
    src.add_argument("--max-elements", type=positive_int, metavar="K", help="most distinct elements per composition "
                     "(default: all given)")
    src.add_argument("--min-elements", type=positive_int, default=2, metavar="K",
                     help="fewest distinct elements with --elements (default 2)")
    model = parser.add_argument_group("model and scoring")
    model.add_argument("--model", required=True, metavar="MODEL", help="saved model file (matloop fit -o MODEL)")
    model.add_argument("--featurizer", metavar="NAME", type=featurizer_name, help="featurizer of a bare saved regressor (a model "
                       "saved by 'matloop fit' knows its own)")
    model.add_argument("--top", type=positive_int, default=100, metavar="K", help="how many hits to keep (default 100)")
    model.add_argument("--objective", action="append", metavar="GOAL",
                       help="max, min, LO:HI, hhi=W, price=W, toxic=W or radioactive=W; repeatable (see above)")
    model.add_argument("--acquisition", default="mei", metavar="NAME", type=acquisition_name,
                       help="score: mei (prediction, default), ucb, ei, logei, pi, mli, thompson, mu")
    model.add_argument("--best", type=finite_float, metavar="VALUE", help="best measured value (for ei/logei/pi/mli)")
    model.add_argument("--in-domain-only", action="store_true",
                       help="keep only candidates inside the model's applicability domain")
    model.add_argument("--exact", action="store_true",
                       help="score every candidate with the full model, ignoring the compact screening model "
                            "MODEL.screen that 'matloop fit' saves beside it (slower, misses nothing)")
    model.add_argument("--shortlist", type=nonnegative_int, default=0, metavar="N",
                       help="candidates per chunk that the full model re-scores after the compact model ranked "
                            "them (default max(20 x --top, 2000))")
    rules = parser.add_argument_group("chemistry, sustainability and safety filters")
    rules.add_argument("--rules", choices=("smact", "neutral", "none"),
                       help="chemistry filter (default: smact for enumerated spaces, none for tables)")
    rules.add_argument("--oxidation-states", default="icsd24", metavar="SET",
                       choices=("icsd24", "icsd16", "smact14", "common", "icsd", "all"),
                       help="icsd24 (default), icsd16, smact14, common, icsd, all")
    rules.add_argument("--allow-alloys", action="store_true", help="all-metal compositions pass the rules")
    rules.add_argument("--max-hhi", type=nonnegative_float, metavar="X", help="largest HHI of production (0-10000)")
    rules.add_argument("--max-price", type=nonnegative_float, metavar="USD", help="largest raw element cost, USD/kg")
    rules.add_argument("--exclude-toxic", action="store_true", help="no As, Be, Cd, Cr, Hg, Ni, Pb")
    rules.add_argument("--exclude-radioactive", action="store_true", help="no Tc, Pm, Po and heavier")
    run_g = parser.add_argument_group("execution and output")
    run_g.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://127.0.0.1:8786")
    run_g.add_argument("--jobs", type=positive_int, default=1, metavar="N", help="threads in process (default 1)")
    run_g.add_argument("--chunk-size", type=positive_int, default=100_000, metavar="N",
                       help="candidates per chunk (default 100000)")
    run_g.add_argument("--seed", type=seed, default=0, help="random seed (thompson; default 0)")
    run_g.add_argument("-o", "--output", required=True, metavar="OUT",
                       help="hits file (.csv, .tsv, .xlsx, .json, .parquet)")
    from matloop.cli.commands._validate_stability import add_arguments as add_validate_arguments

    add_validate_arguments(parser)
    add_quiet_argument(parser)
    parser.set_defaults(func=run)


def parse_objectives(values: list[str] | None):
    """(Objective, Penalties) from ``--objective`` values; bad ones raise InputError."""
    from matloop.design.acquisition import Objective
    from matloop.design.screen import Penalties
    from matloop.errors import InputError, error_table

    goal, weights, records = None, {}, []
    for text in values or ["max"]:
        item = text.strip().lower()
        try:
            if item in ("max", "maximize", "maximise", "min", "minimize", "minimise"):
                new = Objective("max" if item.startswith("max") else "min")
            elif "=" in item:
                name, _, w = item.partition("=")
                if name.strip() not in PENALTIES:
                    raise ValueError(f"penalties are {', '.join(p + '=W' for p in PENALTIES)}")
                weights[name.strip()] = float(w)
                continue
            elif ":" in item:
                lo, hi = (float(v) for v in item.split(":"))
                new = Objective("range", lo, hi)
            else:
                raise ValueError("expected max, min, LO:HI, hhi=W, price=W, toxic=W or radioactive=W")
            if goal is not None:
                raise ValueError("only one of max, min, LO:HI may be given")
            goal = new
        except ValueError as exc:
            records.append({"row": 0, "column": "--objective", "value": text, "reason": str(exc)})
    if records:
        raise InputError("could not read --objective", error_table(records))
    return goal or Objective("max"), Penalties(**weights)


def _load(args):
    from matloop.errors import InputError
    from matloop.models.persistence import load_model, read_model_metadata

    model = load_model(args.model)
    featurizer = args.featurizer
    if hasattr(model, "featurizer_") and featurizer:
        raise InputError(f"{args.model} featurizes formulas itself (with {model.featurizer or 'the default'}); "
                         "drop --featurizer")
    if not hasattr(model, "featurizer_"):
        featurizer = featurizer or (read_model_metadata(args.model).get("metadata") or {}).get("featurizer")
        if featurizer is None:
            raise InputError(f"{args.model} holds a bare {type(model).__name__} that does not say how to "
                             "featurize formulas: give --featurizer NAME (e.g. magpie)")
    return model, featurizer


def _source(args):
    from matloop.design.enumerate import ElementSpace, StoichiometrySpace, parse_elements, parse_ranges
    from matloop.errors import InputError

    if args.elements:
        return ElementSpace(parse_elements(args.elements), 20 if args.max_atoms is None else args.max_atoms,
                            args.max_elements, args.min_elements), None
    if args.ranges:
        return StoichiometrySpace(parse_ranges(args.ranges), args.max_atoms, 1, args.max_elements), None
    from matloop.cli.common import load_table
    from matloop.io.formula import parse_formulas

    table_args = argparse.Namespace(table=args.candidates, input=args.input, target=None, kind="composition",
                                    skip_invalid=args.skip_invalid, duplicates="keep", output=args.output)
    from matloop.io.validate import keep_parsed, take_parsed

    with keep_parsed():  # the parsed formulas are reused below instead of parsed again
        dataset = load_table(table_args)
    if dataset.kind != "composition" or dataset.input is None:
        raise InputError(f"{args.candidates}: no formula column found; name it with --input COL")
    comps = take_parsed(dataset.frame[dataset.input], dataset.rows)  # parsed once, while validating
    if comps is None:
        comps = parse_formulas(dataset.frame[dataset.input].to_numpy(dtype=object), column=dataset.input,
                               rows=dataset.rows)
    return comps, dataset


def run(args: argparse.Namespace) -> int:
    """Build the candidates, screen them, write the hits."""
    import numpy as np

    from matloop.design.chemistry_rules import ChemistryRules
    from matloop.design.screen import Filters, check_acquisition, check_feasible, screen
    from matloop.errors import InputError
    from matloop.io.write import output_format, write_table

    output_format(args.output)  # refuse an unsupported output name before any work
    if args.top < 1 or args.chunk_size < 1 or args.jobs < 1 or args.shortlist < 0:
        raise InputError("--top, --chunk-size and --jobs must be at least 1 (--shortlist at least 0)")
    objective, penalties = parse_objectives(args.objective)
    check_acquisition(args.acquisition, objective, args.best)
    from matloop.cli.commands import _validate_stability as validate

    validate.check(args)
    if args.candidates is None:  # an enumerated space: refuse a hopeless one before loading anything
        source, dataset = _source(args)
        check_feasible(source)
        model, featurizer = _load(args)
        if getattr(model, "kind", None) == "structure":
            raise InputError(f"{args.model} predicts from crystal structures: screen a table of structures with "
                             "--candidates TABLE (paths or inline CIF/POSCAR/JSON)")
    else:
        model, featurizer = _load(args)
        if getattr(model, "kind", None) == "structure":  # structures stream through design.screen_structures
            from matloop.cli.commands._screen_structures import run_structures

            if args.validate:
                raise InputError("--validate stability checks composition hits; these hits are structures "
                                 "already: relax them with 'matloop structures relax'")

            return run_structures(args, model, objective)
        source, dataset = _source(args)
    compact = None
    if not args.exact:
        from matloop.models.compact import load_screening_model, supports_screening_model

        if supports_screening_model(model):
            compact, why = load_screening_model(args.model)
            print(why + ("" if compact is not None else "; every candidate is scored with the full model"),
                  file=sys.stderr)
    rule = args.rules or ("none" if dataset is not None else "smact")
    rules = None if rule == "none" else ChemistryRules(args.oxidation_states, pauling=rule == "smact",
                                                       allow_alloys=args.allow_alloys)
    filters = Filters(args.max_hhi, args.max_price, args.exclude_toxic, args.exclude_radioactive)
    from matloop.progress import say

    last = [time.perf_counter()]

    def progress(done: int, total: int, counts: dict) -> None:
        now = time.perf_counter()
        if now - last[0] > 5 or done == total:
            last[0] = now
            say(f"chunk {done}/{total}: {counts.get('candidates', 0):,} candidates screened")

    where = f"on {args.scheduler}" if args.scheduler else "in process"
    if rules is not None:
        print(rules.describe(), file=sys.stderr)
    print(f"screening {source!r} {where}" if dataset is None else
          f"screening {len(source):,} formulas from {args.candidates} {where}", file=sys.stderr)
    result = screen(source, model, top=args.top, featurizer=featurizer, objective=objective,
                    acquisition=args.acquisition, best=args.best, rules=rules, filters=filters,
                    penalties=penalties, in_domain_only=args.in_domain_only, chunk_size=args.chunk_size,
                    scheduler=args.scheduler, n_jobs=args.jobs, seed=args.seed, progress=progress,
                    compact=compact, shortlist=args.shortlist)
    hits = result.hits
    ids = hits.pop("_id").to_numpy(dtype=np.int64)
    if dataset is not None:
        frame = dataset.frame.iloc[ids].reset_index(drop=True)
        rows = dataset.rows[ids] if dataset.rows is not None else ids + 1
        hits["formula"] = frame[dataset.input].to_numpy(dtype=object)
        extra = frame.drop(columns=[dataset.input])
        extra = extra[[c for c in extra.columns if c not in hits.columns]]
        hits = hits.iloc[:, :2].assign(row=rows).join(extra).join(hits.iloc[:, 2:])
    computed = ["prediction", "std", "domain_distance", "score", "hhi_production", "hhi_reserve", "price_usd_per_kg"]
    if args.validate:
        print(result.summary())
        hits = validate.apply(hits, hits["formula"], args, scheduler=args.scheduler)
        computed += ["e_hull", "e_hull_std", "p_stable", "formation_energy", "energy_per_atom"]
    write_table(hits, args.output, round_columns=computed)  # 6 significant digits; the table's own columns as read
    if args.validate:
        validate.show(hits)
    else:
        print(result.summary())
    if len(hits) and not args.validate:
        cols = [c for c in ("rank", "formula", "prediction", "std", "in_domain", "score") if c in hits.columns]
        print(hits[cols].head(10).to_string(index=False))
    print(f"wrote {len(hits)} hits to {args.output}")
    return 0
