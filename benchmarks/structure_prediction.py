"""Leave-one-out check of prototype substitution (``matloop structures predict``).

For N known compounds drawn (seeded) from a bundled structure set, every library structure with the same
reduced formula is removed (the compound's own entries in all four bundled sets), candidates are
predicted from the rest, and the compound's true prototype (its own structure's space group + Wyckoff
letters, :func:`matloop.design.structure_search._describe`) is looked up among the ranked candidates (a
candidate that absorbed the true prototype through StructureMatcher merging counts as a hit). Reported:
top-1 and top-5 hit rates, how many had no candidate at all (true prototype absent from the rest of the
library is counted separately: no method could find it), and seconds per composition.

usage: python benchmarks/structure_prediction.py [--set flla] [--n 20] [--seed 0] [--top 5]
"""

from __future__ import annotations

import argparse
import json
import random
import time
import warnings

from matloop.design.structure_search import PrototypeLibrary, anonymous_formula, candidates_for


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="flla")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    library = PrototypeLibrary.from_datasets()
    pool = [e for entries in library._by_anon.values() for e in entries
            if e.ident.startswith(args.set + ":") and len(e.counts) >= 2]
    random.Random(args.seed).shuffle(pool)
    rows, hits1, hits5, absent, none, seconds = [], 0, 0, 0, 0, []
    for entry in pool:
        if len(rows) == args.n:
            break
        anon = anonymous_formula(entry.counts)
        library.prototypes(anon)  # describe the group (parses the structures once)
        if entry.key in (None, ("bad",)):
            continue
        same = {e.ident for e in library.entries(anon) if e.counts == entry.counts}
        rest_keys = {p.key for p in library.prototypes(anon, exclude=same)}
        t = time.perf_counter()
        found, _, reason = candidates_for(dict(entry.counts), library, top=args.top, exclude=same)
        seconds.append(time.perf_counter() - t)
        ranks = [i + 1 for i, c in enumerate(found)
                 if c.prototype.key == entry.key or any(library.entry(m).key == entry.key for m in c.merged)]
        rank = ranks[0] if ranks else None
        in_rest = entry.key in rest_keys
        absent += not in_rest
        none += not found
        hits1 += rank == 1
        hits5 += rank is not None and rank <= args.top
        rows.append({"id": entry.ident, "formula": "".join(f"{k}{v if v > 1 else ''}" for k, v in entry.counts.items()),
                     "spacegroup": entry.spacegroup, "true_prototype_in_rest": in_rest, "rank": rank,
                     "n_candidates": len(found), "reason": reason})
    n = len(rows)
    reachable = n - absent
    print(json.dumps(rows, indent=1))
    print(f"{args.set}, {n} compounds (seed {args.seed}): true prototype ranked first {hits1}/{n}, "
          f"in the top {args.top} {hits5}/{n}; true prototype absent from the rest of the library for {absent} "
          f"(of the {reachable} where it exists: top-1 {hits1}/{reachable}, top-{args.top} {hits5}/{reachable}); "
          f"no candidate at all {none}; {sum(seconds) / max(n, 1):.2f} s per composition (after parsing)")


if __name__ == "__main__":
    main()
