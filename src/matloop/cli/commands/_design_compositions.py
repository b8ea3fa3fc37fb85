"""``matloop design compositions``: optimise element fractions for a fitted model (inverse design)."""

from __future__ import annotations

import argparse

from matloop.cli.commands._validate_stability import EPILOG_NOTE as VALIDATE_NOTE
from matloop.cli.commands._validate_stability import add_arguments as add_validate_arguments
from matloop.cli.common import add_quiet_argument
from matloop.cli.options import acquisition_name, finite_float, nonnegative_float, positive_int, seed

DESCRIPTION = """\
Search a composition simplex for materials predicted to be best, with uncertainty and an
applicability-domain flag for every design. Bounds are element fractions; by default they come from
the training compositions of --seeds (a table), so designs stay near known chemistry.

When --seeds holds the model's target column (or --best is given), every design is compared with
the best measured value: p_above_best is the predicted probability of beating it, and the summary
counts the in-domain designs predicted above it and those whose lower 95% bound is above it.

output columns: rank, formula, one column per element (atomic fractions), prediction, std, lower_95,
upper_95, in_domain, domain_distance (1 = edge of the domain), score, p_above_best (with a best value).

examples:
  matloop fit steels.csv --target "yield strength" -o steel.model
  matloop design compositions --model steel.model --bounds "Fe=0.5:0.9,Ni=0:0.3,Co=0:0.25,Mo=0:0.1" \\
      --maximize --n 20 -o designs.csv
  matloop design compositions --model steel.model --seeds steels.csv --maximize --in-domain-only -o d.csv
  matloop design compositions --model steel.model --seeds steels.csv --maximize --method random -o baseline.csv
  matloop design compositions --model steel.model --seeds steels.csv --maximize --n 3 --validate stability \\
      --validate-top 1 -o checked.csv

A fractional design is validated as the nearest whole-number formula with at most 12 atoms
(validated_formula; the reason says how far it is).
"""
DESCRIPTION += "\n" + VALIDATE_NOTE + "\n"


def add_parser(kinds: argparse._SubParsersAction) -> None:
    """Register ``compositions`` under the ``design`` group."""
    p = kinds.add_parser("compositions", help="element fractions predicted to be best (composition simplex)",
                         description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, metavar="MODEL", help="a model file written by 'matloop fit'")
    p.add_argument("--bounds", metavar="EL=LO:HI,...", help="element fraction bounds, e.g. Fe=0.5:0.9,Ni=0:0.3")
    p.add_argument("--seeds", metavar="TABLE", help="known compositions: start the search from them and, without "
                                                    "--bounds, take the bounds from their range")
    p.add_argument("--input", metavar="COL", help="formula column of --seeds (detected if omitted)")
    p.add_argument("--skip-invalid", action="store_true", help="leave out --seeds rows with problems instead of "
                   "stopping; they are written with their reasons to TABLE_STEM.skipped.csv beside the output")
    goal = p.add_mutually_exclusive_group(required=True)
    goal.add_argument("--maximize", action="store_true")
    goal.add_argument("--minimize", action="store_true")
    p.add_argument("--constraint", action="append", metavar="EXPR", help="e.g. 'Ni + Co <= 0.25' (repeatable)")
    p.add_argument("--acquisition", default="mei", type=acquisition_name, help="mei (predicted value, default), ucb, ei, logei, pi")
    p.add_argument("--best", type=finite_float, metavar="VALUE",
                   help="best measured value (default: the best of the model's target column in --seeds)")
    p.add_argument("--in-domain-only", action="store_true", help="return only designs inside the model's domain")
    p.add_argument("--method", choices=("evolution", "random"), default="evolution",
                   help="evolution (default) or random: the same number of model evaluations on random points "
                        "of the simplex (a baseline)")
    p.add_argument("--budget", type=positive_int, metavar="N", help="model evaluations of --method random "
                                                          "(default: the optimiser's, about 5000)")
    p.add_argument("--min-change", type=nonnegative_float, default=0.05, metavar="X",
                   help="designs differ from each other by at least X in some atomic fraction (default 0.05 = "
                        "5 at.%%, so a batch holds distinct experiments; 0 keeps every distinct optimum) and from "
                        "every seed by at least 0.0005")
    p.add_argument("--n", type=positive_int, default=10, help="number of designs (default 10)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.csv")
    add_validate_arguments(p, scheduler=True)
    add_quiet_argument(p)
    p.set_defaults(func=run)


def _parse_bounds(text: str) -> dict[str, tuple[float, float]]:
    from matloop.errors import InputError, error_table

    out, bad = {}, []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        el, _, rng = item.partition("=")
        lo, _, hi = rng.partition(":")
        try:
            out[el.strip()] = (float(lo), float(hi if hi else lo))
        except ValueError:
            bad.append({"row": 0, "column": "--bounds", "value": item, "reason": "write ELEMENT=LO:HI, e.g. Ni=0:0.3"})
    if bad:
        raise InputError("cannot read --bounds", error_table(bad))
    return out


def _seeds(args: argparse.Namespace, meta: dict, maximize: bool):
    """Formulas of --seeds and, when the table holds the model's target, its best measured value."""
    import numpy as np
    import pandas as pd

    from matloop.cli.common import load_table

    target = meta.get("target")
    table_args = argparse.Namespace(table=args.seeds, input=args.input, target=None,
                                    kind="composition", skip_invalid=args.skip_invalid, duplicates="keep",
                                    output=args.output)
    ds = load_table(table_args)
    best = None
    if target is not None and target in ds.frame.columns:
        values = pd.to_numeric(ds.frame[target], errors="coerce").to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if len(values):
            best = float(values.max() if maximize else values.min())
    return list(ds.X), best, target


def run(args: argparse.Namespace) -> int:
    from matloop.design.inverse import composition_bounds, design_compositions
    from matloop.errors import InputError
    from matloop.io.write import output_format, write_table
    from matloop.models.persistence import load_model, read_model_metadata

    output_format(args.output)  # a bad output name fails now, not after the run
    if args.n < 1:
        raise InputError(f"--n must be at least 1, got {args.n}")
    if args.budget is not None and args.budget < 1:
        raise InputError(f"--budget must be at least 1, got {args.budget}")
    from matloop.cli.commands import _validate_stability as validate

    validate.check(args)
    meta = read_model_metadata(args.model).get("metadata") or {}
    model = load_model(args.model)
    maximize = bool(args.maximize)
    seeds, best, target = _seeds(args, meta, maximize) if args.seeds else (None, None, meta.get("target"))
    if args.best is not None:
        best = args.best
    if args.bounds:
        bounds = _parse_bounds(args.bounds)
    elif seeds:
        bounds = composition_bounds(seeds)
    else:
        raise InputError("give --bounds or --seeds (the element fraction ranges to search)")
    out = design_compositions(model, elements_bounds=bounds, objective="max" if maximize else "min", n=args.n,
                              acquisition=args.acquisition, best=best, constraints=args.constraint,
                              in_domain_only=args.in_domain_only, seeds=seeds, seed=args.seed, method=args.method,
                              budget=args.budget, min_change=args.min_change)
    info = out.attrs.get("design", {})
    design_columns = list(out.columns)
    if args.validate:
        out = validate.apply(out, out["formula"], args, scheduler=args.scheduler, rank_name="design_rank")
    write_table(out, args.output, round_columns=design_columns + (  # computed: 6 significant digits
        ["e_hull", "e_hull_std", "p_stable", "formation_energy", "energy_per_atom"] if args.validate else []))
    print(f"{args.method}: {info.get('n_evaluated', 0):,} model evaluations; wrote {len(out)} designs to "
          f"{args.output} ({int(out['in_domain'].sum())} inside the model's domain)")
    if best is not None and len(out):
        sign = 1.0 if maximize else -1.0
        above = sign * (out["prediction"].to_numpy() - best) > 0
        sure = sign * ((out["lower_95"] if maximize else out["upper_95"]).to_numpy() - best) > 0
        inside = out["in_domain"].to_numpy(dtype=bool)
        word = "above" if maximize else "below"
        print(f"best measured {target or 'value'}: {best:.4g}; in-domain designs predicted {word} it: "
              f"{int((above & inside).sum())}, with the 95% bound {word} it: {int((sure & inside).sum())} "
              f"(all designs: {int(above.sum())}, {int(sure.sum())})")
    if args.validate:
        validate.show(out)
        return 0
    for _, row in out.head(5).iterrows():
        flag = "" if row["in_domain"] else "  [outside the domain]"
        print(f"  {int(row['rank'])}. {row['formula']}: {row['prediction']:.4g} ± {row['std']:.2g} "
              f"(95%: {row['lower_95']:.4g} to {row['upper_95']:.4g}){flag}")
    return 0
