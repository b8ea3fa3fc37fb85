"""``matloop design compositions``: optimise element fractions for a fitted model (inverse design)."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Search a composition simplex for materials predicted to be best, with uncertainty and an
applicability-domain flag for every design. Bounds are element fractions; by default they come from
the training compositions of --seeds (a table), so designs stay near known chemistry.

examples:
  matloop design compositions --model steel.model --bounds "Fe=0.5:0.9,Ni=0:0.3,Co=0:0.25,Mo=0:0.1" \\
      --maximize --n 20 -o designs.csv
  matloop design compositions --model steel.model --seeds steels.csv --maximize --in-domain-only -o d.csv
"""


def add_parser(kinds: argparse._SubParsersAction) -> None:
    """Register ``compositions`` under the ``design`` group."""
    p = kinds.add_parser("compositions", help="element fractions predicted to be best (composition simplex)",
                         description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, metavar="MODEL", help="a model file written by 'matloop fit'")
    p.add_argument("--bounds", metavar="EL=LO:HI,...", help="element fraction bounds, e.g. Fe=0.5:0.9,Ni=0:0.3")
    p.add_argument("--seeds", metavar="TABLE", help="known compositions: start the search from them and, without "
                                                    "--bounds, take the bounds from their range")
    p.add_argument("--input", metavar="COL", help="formula column of --seeds (detected if omitted)")
    goal = p.add_mutually_exclusive_group(required=True)
    goal.add_argument("--maximize", action="store_true")
    goal.add_argument("--minimize", action="store_true")
    p.add_argument("--constraint", action="append", metavar="EXPR", help="e.g. 'Ni + Co <= 0.25' (repeatable)")
    p.add_argument("--acquisition", default="mei", help="mei (predicted value, default), ucb, ei, logei, pi")
    p.add_argument("--in-domain-only", action="store_true", help="return only designs inside the model's domain")
    p.add_argument("--n", type=int, default=10, help="number of designs (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, metavar="OUT.csv")
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


def run(args: argparse.Namespace) -> int:
    from matloop.design.inverse import composition_bounds, design_compositions
    from matloop.errors import InputError
    from matloop.io.table import read_table
    from matloop.io.write import write_table
    from matloop.models.persistence import load_model

    model = load_model(args.model)
    seeds = None
    if args.seeds:
        ds = read_table(args.seeds, input=args.input, kind="composition")
        seeds = list(ds.X)
    if args.bounds:
        bounds = _parse_bounds(args.bounds)
    elif seeds:
        bounds = composition_bounds(seeds)
    else:
        raise InputError("give --bounds or --seeds (the element fraction ranges to search)")
    out = design_compositions(model, elements_bounds=bounds, objective="max" if args.maximize else "min", n=args.n,
                              acquisition=args.acquisition, constraints=args.constraint,
                              in_domain_only=args.in_domain_only, seeds=seeds, seed=args.seed)
    write_table(out, args.output)
    print(f"wrote {len(out)} designs to {args.output} ({int(out['in_domain'].sum())} inside the model's domain)")
    for _, row in out.head(5).iterrows():
        print(f"  {int(row['rank'])}. {row['formula']}: {row['prediction']:.4g} ± {row['std']:.2g}")
    return 0
