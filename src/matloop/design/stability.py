"""Does a predicted hit exist? Structure, relaxation and energy above the hull for compositions.

A screened or designed composition is only a formula. :func:`validate_stability` checks the best ones
with physics, the way a computational materials scientist would before anyone makes them:

1. candidate crystal structures by ionic substitution into known prototypes
   (:mod:`matloop.design.structure_search`; a fractional composition is first approximated by the
   nearest whole-number formula with at most :data:`MAX_APPROX_ATOMS` atoms, said in the reason);
2. relaxation of every candidate (cell and positions) with a universal potential, CHGNet by default
   (:func:`matloop.design.relax.relax_parallel`: in process or on a Dask cluster);
3. the lowest relaxed energy among the converged candidates, turned into a formation energy against
   elemental references computed with the same potential, and the energy above the convex hull of
   the bundled DFT formation energies of that chemical system (:class:`matloop.design.relax.HullReference`,
   pymatgen's ``PhaseDiagram``);
4. an honest uncertainty: ``e_hull_std`` is the potential's formation-energy error measured on bundled
   compounds whose DFT energy is known (:data:`CALIBRATION_PATH`, written by ``benchmarks/stability.py``
   with its provenance), and ``p_stable`` = P(E_hull < ``max_ehull``) under a normal error of that size.

Every formula gets a ``validation`` status and a ``reason`` in words; nothing is dropped here (the
CLI filters or re-ranks). Statuses: ``stable`` (on or below the known hull), ``metastable`` (above it
by at most ``max_ehull``), ``unstable``, ``not_converged`` (no candidate converged within the step limit:
the E_hull of the lowest energy reached is given, an upper estimate), ``relax_failed``, ``no_structure``
(no prototype), ``no_reference`` (an element without a reference energy) and ``not_validated`` (beyond
the top ``top_k``). A substituted prototype need not be the ground state, so a high E_hull may also
mean that the right structure was not among the candidates; the reason says which prototype was used.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from matloop.design.relax import DEFAULT_MAX_EHULL, HullReference, relax_parallel

#: the potential's measured error, written by benchmarks/stability.py
CALIBRATION_PATH = Path(__file__).with_name("data") / "stability_calibration.json"
#: a fractional composition is validated as the nearest formula with at most this many atoms
MAX_APPROX_ATOMS = 12
#: candidate structures relaxed per composition by default
DEFAULT_STRUCTURES = 3
#: wall-time cap (s) of one candidate's relaxation (a pathological one must not stall the batch)
MAX_SECONDS = 300.0
#: hits validated by default (each costs a few relaxations: seconds to a minute on 2 cores)
DEFAULT_TOP = 10
STATUSES = ("stable", "metastable", "unstable", "not_converged", "relax_failed", "no_structure",
            "no_reference", "not_validated")
#: statuses that pass a stability filter
SURVIVING = ("stable", "metastable")
COLUMNS = ["validation", "reason", "validated_formula", "e_hull", "e_hull_std", "p_stable", "decomposition",
           "formation_energy", "energy_per_atom", "relax_converged", "relax_steps", "structures_relaxed",
           "prototype", "structure"]


def load_calibration(path: str | Path = CALIBRATION_PATH) -> dict:
    """The stored calibration of the default potential (``e_hull_std`` in eV/atom and its provenance)."""
    return json.loads(Path(path).read_text())


def nearest_formula(composition: dict[str, float], max_atoms: int = MAX_APPROX_ATOMS) -> tuple[dict[str, int], float]:
    """The whole-number formula with at most ``max_atoms`` atoms closest to ``composition`` in atomic
    fractions: (counts, largest fraction difference, left-out elements included). Elements below half an
    atom in ``max_atoms`` (dopants, minor alloying additions) are left out; every other element gets at
    least one atom. The smallest formula within 0.01 of the best difference wins (simpler first)."""
    total_amount = sum(a for a in composition.values() if a > 0)
    everything = {el: a / total_amount for el, a in composition.items() if a > 0}
    cut = 0.5 / max_atoms
    elements = [el for el, x in everything.items() if x >= cut] or [max(everything, key=everything.get)]
    amounts = np.array([everything[el] for el in elements], dtype=float)
    fractions = amounts / amounts.sum()
    dropped = max((x for el, x in everything.items() if el not in elements), default=0.0)
    best: list[tuple[float, int, dict[str, int]]] = []
    for total in range(len(elements), max(max_atoms, len(elements)) + 1):
        counts = np.maximum(1, np.floor(fractions * total).astype(int))
        while counts.sum() < total:  # largest remainder first
            counts[np.argmax(fractions * total - counts)] += 1
        while counts.sum() > total:
            spare = np.where(counts > 1, counts - fractions * total, -np.inf)
            counts[np.argmax(spare)] -= 1
        error = max(float(np.abs(counts / counts.sum() - amounts).max()), dropped)
        best.append((error, total, dict(zip(elements, (int(c) for c in counts), strict=True))))
    lowest = min(e for e, _, _ in best)
    error, _, counts = min((b for b in best if b[0] <= lowest + 0.01), key=lambda b: b[1])
    return counts, error


def p_below(e_hull: float, std: float, threshold: float) -> float:
    """P(true E_hull < threshold) for a normal error of ``std`` around ``e_hull`` (NaN without a std)."""
    if not (math.isfinite(e_hull) and math.isfinite(std) and std > 0):
        return math.nan
    return 0.5 * math.erfc((e_hull - threshold) / (std * math.sqrt(2)))


def _formula_text(counts: dict[str, int]) -> str:
    return "".join(f"{el}{'' if n == 1 else n}" for el, n in counts.items())


def _compositions(formulas: Sequence) -> list:
    """``{element: amount}`` per formula (strings parsed with matloop's formula reader; dicts as given)."""
    from matloop.io.formula import parse_formula

    return [dict(f) if isinstance(f, dict) else parse_formula(str(f)) for f in formulas]


def validate_stability(formulas: Sequence, top_k: int = DEFAULT_TOP, max_ehull: float = DEFAULT_MAX_EHULL, *,
                       structures_per_formula: int = DEFAULT_STRUCTURES, calculator=None,
                       e_hull_std: float | None = None, fmax: float = 0.1, steps: int = 200,
                       max_seconds: float | None = MAX_SECONDS,
                       library=None, reference: HullReference | None = None, scheduler=None,
                       leave_out: bool = False, progress: Callable[[str], None] | None = None):
    """One row per formula (input order; the first ``top_k`` validated, the rest ``not_validated``) with
    the columns :data:`COLUMNS`. ``calculator`` None: CHGNet (needs the ``chgnet`` extra), whose error
    from :data:`CALIBRATION_PATH` is ``e_hull_std`` unless given; another calculator has no known error
    (``e_hull_std`` NaN unless given). ``library`` (a :class:`~matloop.design.structure_search.PrototypeLibrary`)
    and ``reference`` default to the bundled sets. ``leave_out``: each formula's own known entries are
    left out of its prototypes and of its hull (for checks on known compounds). ``scheduler``: a Dask
    address or client for the relaxations. ``progress(message)`` reports each stage."""
    import pandas as pd

    from matloop.design.structure_search import (
        PrototypeLibrary,
        anonymous_formula,
        candidates_for,
        reduced_counts,
    )

    say = progress or (lambda message: None)
    comps = _compositions(formulas)
    if e_hull_std is None:
        e_hull_std = float(load_calibration()["e_hull_std"]) if calculator is None else math.nan
    rows = [dict.fromkeys(COLUMNS, "") | {"validation": "not_validated", "reason": f"beyond the top {top_k}"}
            for _ in comps]
    chosen = list(range(min(top_k, len(comps))))
    if chosen and library is None:
        say("prototype library (bundled structure sets)")
        library = PrototypeLibrary.from_datasets()
    jobs: list[tuple[int, object]] = []  # (formula index, Candidate)
    counts_of: dict[int, dict[str, int]] = {}
    for i in chosen:
        counts = reduced_counts(comps[i])
        note = ""
        if counts is None:
            counts, error = nearest_formula(comps[i])
            left = [el for el in comps[i] if comps[i][el] > 0 and el not in counts]
            note = f"validated as {_formula_text(counts)}, the nearest formula with at most {MAX_APPROX_ATOMS} atoms " \
                   f"(atomic fractions within {error:.3f}" + (f"; left out: {', '.join(left)}" if left else "") + "); "
        counts_of[i] = counts
        rows[i].update(validated_formula=_formula_text(counts), reason=note)
        exclude = {e.ident for e in library.entries(anonymous_formula(counts)) if e.counts == counts} if leave_out else ()
        found, _, why = candidates_for(counts, library, top=structures_per_formula, exclude=exclude)
        if not found:
            rows[i].update(validation="no_structure", reason=note + why)
        jobs += [(i, cand) for cand in found]
    if jobs:
        say(f"relaxing {len(jobs)} candidate structures of {len(chosen)} compositions "
            + (f"on {scheduler}" if isinstance(scheduler, str) else "on Dask" if scheduler else "in process"))
        relaxed = relax_parallel([c.structure for _, c in jobs], calculator=calculator, fmax=fmax, steps=steps,
                                 scheduler=scheduler, max_seconds=max_seconds,
                                 progress=lambda done, total: say(f"relaxed {done}/{total} structures"))
        if reference is None:
            reference = HullReference.from_dataset(calculator=calculator, fmax=min(fmax, 0.05), steps=steps)
        say("energies above the hull")
        for i in sorted({i for i, _ in jobs}):
            picks = [k for k, (j, _) in enumerate(jobs) if j == i]
            _judge(rows[i], counts_of[i], [jobs[k][1] for k in picks], relaxed.iloc[picks], reference,
                   e_hull_std, max_ehull, leave_out)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("e_hull", "e_hull_std", "p_stable", "formation_energy", "energy_per_atom"):
        frame[col] = pd.to_numeric(frame[col].replace("", np.nan), errors="coerce").astype(float)
    return frame


def _judge(row: dict, counts: dict[str, int], candidates: list, relaxed, reference: HullReference,
           std: float, max_ehull: float, leave_out: bool) -> None:
    """Fill one formula's row from its relaxed candidates."""
    from pymatgen.core import Composition, Structure

    energies = relaxed["energy_per_atom"].to_numpy(float)
    converged = relaxed["converged"].to_numpy(bool) & np.isfinite(energies)
    note = row["reason"]
    n = len(candidates)
    if not np.isfinite(energies).any():
        row.update(validation="relax_failed", reason=note + f"all {n} candidate relaxations failed: "
                   + relaxed["reason"].iloc[0], structures_relaxed=n)
        return
    pool = np.where(converged)[0] if converged.any() else np.where(np.isfinite(energies))[0]
    k = int(pool[np.argmin(energies[pool])])
    cand, best = candidates[k], relaxed.iloc[k]
    comp = Composition(counts)
    formula = comp.reduced_formula
    ehull, products, why = reference.e_above_hull(comp, float(best["energy_per_atom"]),
                                                  leave_out=[formula] if leave_out else ())
    proto = f"{cand.prototype.spacegroup} from {cand.template.ident} ({_formula_text(cand.template.counts)})"
    row.update(energy_per_atom=float(best["energy_per_atom"]), relax_converged=bool(best["converged"]),
               relax_steps=int(best["steps"]), structures_relaxed=n, prototype=proto,
               structure=Structure.from_dict(json.loads(best["structure"])).to(fmt="cif"), e_hull_std=std)
    if why:
        row.update(validation="no_reference", reason=note + why)
        return
    row.update(e_hull=ehull, decomposition=products, p_stable=p_below(ehull, std, max_ehull),
               formation_energy=reference.formation_energy(comp, float(best["energy_per_atom"])))
    pm = f" ± {std:.2g}" if math.isfinite(std) else ""
    chance = f"; P(E_hull < {max_ehull:g}) = {row['p_stable']:.2f}" if math.isfinite(row["p_stable"]) else ""
    where = f"best of {n} relaxed prototype{'s' if n > 1 else ''}: {proto}"
    if not converged.any():
        row.update(validation="not_converged",
                   reason=note + f"no candidate converged ({best['reason']}); E_hull {ehull:.3f}{pm} eV/atom at "
                   f"the last step is an upper estimate{chance}; {where}")
    elif ehull <= 0:
        known = reference.known_in_system(comp, leave_out=[formula] if leave_out else ())
        what = f"the known {_system(comp)} compounds" if known else \
            f"the elements (no known {_system(comp)} compound in the reference: E_hull is the formation energy)"
        row.update(validation="stable", reason=note + f"on or below the hull of {what} "
                   f"(E_hull {ehull:.3f}{pm} eV/atom{chance}); {where}")
    elif ehull <= max_ehull:
        row.update(validation="metastable", reason=note + f"{ehull:.3f}{pm} eV/atom above the hull, within "
                   f"{max_ehull:g} (decomposes to {products}){chance}; {where}")
    else:
        row.update(validation="unstable", reason=note + f"{ehull:.3f}{pm} eV/atom above the hull, beyond "
                   f"{max_ehull:g}: decomposes to {products}{chance}; {where} (another structure might lie lower)")


def _system(comp) -> str:
    return "-".join(sorted(el.symbol for el in comp.elements))


def summary(frame, max_ehull: float = DEFAULT_MAX_EHULL) -> str:
    """One paragraph: how many validated hits survived (E_hull <= ``max_ehull``) and why the others did not."""
    counts = frame["validation"].value_counts()
    validated = int(len(frame) - counts.get("not_validated", 0))
    survived = int(sum(counts.get(s, 0) for s in SURVIVING))
    words = {"stable": "on or below the hull", "metastable": f"within {max_ehull:g} eV/atom of it",
             "unstable": f"more than {max_ehull:g} eV/atom above it", "not_converged": "relaxation not converged",
             "relax_failed": "relaxation failed", "no_structure": "no prototype structure",
             "no_reference": "no elemental reference", "not_validated": "not validated (beyond the top K)"}
    parts = [f"{int(counts[s])} {words[s]}" for s in STATUSES if counts.get(s, 0)]
    return f"stability: {survived} of {validated} validated hits survived (E_hull <= {max_ehull:g} eV/atom); " \
           + ", ".join(parts)
