"""``matloop screen --candidates TABLE`` with a model fitted on crystal structures.

The candidates table's structure column (paths, or inline CIF/POSCAR/pymatgen JSON) is read and
validated like every table (bad rows reported by file row), then streamed through
:func:`matloop.design.screen_structures.screen_structures`, in process or on the Dask cluster of
``--scheduler``. The hits keep every column of their rows; the structure text itself is written to
the output file and shown on the terminal by a short label (CIF block name, POSCAR comment).
"""

from __future__ import annotations

import argparse
import sys


def run_structures(args: argparse.Namespace, model, objective) -> int:
    """Screen the structures of ``args.candidates`` with ``model``; write the top hits."""
    from matloop.cli.common import load_table
    from matloop.design.screen_structures import screen_structures
    from matloop.errors import InputError
    from matloop.io.detect import material_label
    from matloop.io.write import write_table
    from matloop.progress import say

    filters = [name for name in ("max_hhi", "max_price") if getattr(args, name, None) is not None]
    filters += [name for name in ("exclude_toxic", "exclude_radioactive", "allow_alloys") if getattr(args, name, False)]
    if filters or (args.rules not in (None, "none")):
        raise InputError("chemistry rules and sustainability filters apply to enumerated formulas, not to a "
                         f"structure model's candidates: drop {', '.join('--' + f.replace('_', '-') for f in filters) or '--rules'}")
    table_args = argparse.Namespace(table=args.candidates, input=args.input, target=None, kind="structure",
                                    skip_invalid=args.skip_invalid, duplicates="keep", output=args.output,
                                    structures_root=getattr(args, "structures_root", None))
    dataset = load_table(table_args)
    values = dataset.frame[dataset.input].to_numpy(dtype=object)
    where = f"on {args.scheduler}" if args.scheduler else "in process"
    print(f"screening {len(values):,} structures from {args.candidates} {where}", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        say(f"chunk {done}/{total} of structures screened")

    hits, where, seconds = screen_structures(
        values, model, top=args.top, objective=objective, acquisition=args.acquisition, best=args.best,
        in_domain_only=args.in_domain_only, chunk_size=min(args.chunk_size, 2000), scheduler=args.scheduler,
        seed=args.seed, rows=dataset.rows, column=dataset.input, progress=progress)
    ids = hits.pop("_id").to_numpy(dtype=int)
    frame = dataset.frame.iloc[ids].reset_index(drop=True)
    rows = dataset.rows[ids] if dataset.rows is not None else ids + 1
    out = hits[["rank"]].assign(row=rows).join(frame).join(hits.drop(columns=["rank"]), rsuffix="_predicted")
    write_table(out, args.output, round_columns=["prediction", "std", "domain_distance", "score"])
    print(f"screened {len(values):,} structures {where} in {seconds:.1f} s; kept the best {len(out)}")
    for _, row in out.head(10).iterrows():
        print(f"  {int(row['rank'])}. row {int(row['row'])} {material_label(row[dataset.input])}: "
              f"predicted {row['prediction']:.4g} ± {row['std']:.2g}, score {row['score']:.4g}"
              + ("" if row["in_domain"] else " (outside the applicability domain)"))
    print(f"wrote {len(out)} hits to {args.output}")
    return 0
