"""``--validate stability`` of ``matloop screen`` and ``matloop design compositions``.

The top ``--validate-top`` hits get candidate structures (prototype substitution), a relaxation with
CHGNet and an energy above the hull (:func:`matloop.design.stability.validate_stability`). With
``--max-ehull X`` only the validated hits within X eV/atom of the hull are written (a filter); without
it every hit is written, the validated ones re-ranked: those within 0.1 eV/atom first, in their
screening order (``screen_rank`` keeps the old rank). The summary on stderr says how many survived and
why the others did not.
"""

from __future__ import annotations

import argparse
import sys

EPILOG_NOTE = """\
--validate stability: the top --validate-top hits (default 10) get candidate crystal structures by
prototype substitution, a CHGNet relaxation (cell and positions, --relax-steps limit) and an energy
above the convex hull of the bundled DFT formation energies (flla, Materials Project). CHGNet's
formation energy is corrected by its per-element error and e_hull_std is the error left (of the whole
pipeline from the formula, wrong prototypes included), both fitted on bundled compounds of known DFT
energy (design/data/stability_calibration.json); p_stable = P(E_hull <
0.1 or --max-ehull), a validation status (stable, metastable, unstable, not_converged, relax_failed,
no_structure, no_reference, not_validated) and a reason. --max-ehull X keeps only validated hits within
X eV/atom of the hull; without it the validated hits are re-ranked (within 0.1 eV/atom first).
Needs the chgnet extra: pip install "matloop[chgnet]". With --scheduler the relaxations run on the Dask
cluster too."""


def add_arguments(parser: argparse.ArgumentParser, scheduler: bool = False) -> None:
    """``--validate``, ``--validate-top``, ``--max-ehull``, ``--relax-steps``, ``--validate-structures``
    (and ``--scheduler`` for a command that has none of its own)."""
    from matloop.cli.options import int_at_least, nonnegative_float

    g = parser.add_argument_group("physics check of the hits (needs the chgnet extra)")
    g.add_argument("--validate", choices=("stability",), help="stability: structure, CHGNet relaxation and "
                   "energy above the hull for the top --validate-top hits")
    g.add_argument("--validate-top", type=int_at_least(1, 10_000), default=10, metavar="K",
                   help="hits validated (default 10; each costs a few relaxations, seconds to a minute on 2 cores)")
    g.add_argument("--max-ehull", type=nonnegative_float, metavar="X",
                   help="keep only validated hits at most X eV/atom above the hull (default: keep all, re-ranked)")
    g.add_argument("--relax-steps", type=int_at_least(1, 100_000), default=200, metavar="N",
                   help="optimiser step limit per relaxation (default 200)")
    g.add_argument("--validate-structures", type=int_at_least(1, 20), default=3, metavar="N",
                   help="candidate structures relaxed per hit (default 3)")
    if scheduler:
        g.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler for the relaxations, e.g. "
                       "tcp://127.0.0.1:8786 (default: in process)")


def check(args: argparse.Namespace) -> None:
    """Refuse early: stability options without --validate, or --validate without chgnet (exit 2)."""
    from matloop.errors import InputError

    if args.validate is None:
        if args.max_ehull is not None:
            raise InputError("--max-ehull filters on a stability check: add --validate stability")
        return
    from matloop.models.potentials.features import chgnet_available

    if not chgnet_available():
        raise InputError('--validate stability relaxes structures with CHGNet, which is not installed: '
                         'pip install "matloop[chgnet]" (the chgnet extra: chgnet and PyTorch)')
    from importlib.util import find_spec

    if find_spec("pymatgen") is None or find_spec("spglib") is None:
        raise InputError('--validate stability needs pymatgen: pip install "matloop[structure]"')


def apply(hits, formulas, args: argparse.Namespace, scheduler=None, rank_name: str = "screen_rank"):
    """``hits`` with the validation columns joined (filtered or re-ranked); prints the summary."""
    import warnings

    import pandas as pd

    from matloop.design.relax import DEFAULT_MAX_EHULL
    from matloop.design.stability import SURVIVING, summary, validate_stability
    from matloop.progress import say

    threshold = DEFAULT_MAX_EHULL if args.max_ehull is None else args.max_ehull
    k = min(args.validate_top, len(hits))
    print(f"validating the stability of the top {k} hits (structure prediction, CHGNet relaxation, "
          "energy above the hull)", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen's CIF and radius notes; the outcome is in the columns
        found = validate_stability(list(formulas), top_k=k, max_ehull=threshold, steps=args.relax_steps,
                                   structures_per_formula=args.validate_structures, scheduler=scheduler,
                                   progress=say)
    hits = hits.reset_index(drop=True)
    clash = [c for c in found.columns if c in hits.columns]
    found = found.rename(columns={c: f"{c}_relaxed" for c in clash})
    out = hits.join(found)
    status = found[f"validation{'_relaxed' if 'validation' in clash else ''}"]
    survived = status.isin(SURVIVING).to_numpy()
    print(summary(found, threshold), file=sys.stderr)
    if "rank" in out.columns:
        out = out.rename(columns={"rank": rank_name})
    if args.max_ehull is not None:
        out = out[survived].reset_index(drop=True)
    else:
        order = sorted(range(len(out)), key=lambda i: (i >= k, not survived[i], i))
        out = out.iloc[order].reset_index(drop=True)
    out.insert(0, "rank", pd.RangeIndex(1, len(out) + 1))
    return out


def show(out) -> None:
    """The validated hits, one line each, on stdout."""
    for _, row in out.iterrows():
        if row.get("validation") in (None, "not_validated"):
            continue
        formula = row.get("formula", row.get("validated_formula", ""))
        print(f"  {int(row['rank'])}. {formula}: {row['validation']} - {row['reason']}")
