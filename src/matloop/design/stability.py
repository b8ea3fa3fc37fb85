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
4. a correction and an honest uncertainty, both fitted once on bundled compounds whose DFT energy is
   known and that the stability benchmark leaves out of its evaluation (:data:`CALIBRATION_PATH`,
   written by ``benchmarks/stability.py --calibrate`` with its provenance; see
   :mod:`matloop.design.stability_calibration`): the potential's systematic formation-energy error is
   subtracted before the hull, ``e_hull_std`` is the scatter left, and ``p_stable`` = P(E_hull <
   ``max_ehull``) under a normal error of that size. The scatter depends on where the structure came
   from (:func:`default_e_hull_std`): from prototype substitution a wrong prototype adds error, so those
   rows get the pipeline's std (``e_hull_std_pipeline``, measured by running this function on the
   calibration compounds: ``benchmarks/stability_pipeline_cal.py``); a structure the caller gives
   (``structures=``) gets the potential's std on the right structure (``e_hull_std``).

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
from matloop.design.stability_calibration import Correction

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


def load_correction(path: str | Path = CALIBRATION_PATH, calibration: dict | None = None) -> Correction:
    """The stored formation-energy correction of the default potential (none in an older file).
    ``calibration``: the file's contents when the caller has already read them."""
    return Correction.from_dict((load_calibration(path) if calibration is None else calibration).get("correction"))


def default_e_hull_std(calculator=None, generated: bool = True, path: str | Path = CALIBRATION_PATH,
                       calibration: dict | None = None) -> float:
    """The stored E_hull std (eV/atom) of the default potential (``calculator`` None; NaN for another one,
    whose error is unknown). ``generated``: the structure came from prototype substitution, so the
    pipeline's measured std (``e_hull_std_pipeline``; ``e_hull_std`` in an older file without it); else the
    caller gave the structure and the potential's own std on known structures (``e_hull_std``) applies.
    ``calibration``: the file's contents when the caller has already read them."""
    if calculator is not None:
        return math.nan
    calibration = load_calibration(path) if calibration is None else calibration
    key = "e_hull_std_pipeline" if generated and "e_hull_std_pipeline" in calibration else "e_hull_std"
    return float(calibration[key])


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
                       e_hull_std: float | None = None, correction: Correction | None = None,
                       fmax: float = 0.1, steps: int = 200,
                       max_seconds: float | None = MAX_SECONDS,
                       library=None, reference: HullReference | None = None, scheduler=None,
                       leave_out: bool = False, structures: Sequence | None = None,
                       progress: Callable[[str], None] | None = None):
    """One row per formula (input order; the first ``top_k`` validated, the rest ``not_validated``) with
    the columns :data:`COLUMNS`. ``calculator`` None: CHGNet (needs the ``chgnet`` extra), whose error
    from :data:`CALIBRATION_PATH` (:func:`default_e_hull_std`: the pipeline's for generated structures,
    the potential's own for given ones) is ``e_hull_std`` unless given; another calculator has no known
    error (``e_hull_std`` NaN unless given). ``structures``: one entry per formula, a pymatgen
    ``Structure`` to relax instead of prototype candidates, or None to generate them (its reduced
    formula must be the formula's; a mismatch raises :class:`~matloop.errors.InputError`).
    ``correction``: the potential's formation-energy correction
    (:class:`~matloop.design.stability_calibration.Correction`), by default the stored one for CHGNet and
    none for another calculator. ``library`` (a :class:`~matloop.design.structure_search.PrototypeLibrary`)
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
    if structures is not None and len(structures) != len(comps):
        raise ValueError(f"structures: {len(structures)} entries for {len(comps)} formulas")
    given = list(structures) if structures is not None else [None] * len(comps)
    chosen = list(range(min(top_k, len(comps))))
    _check_given(formulas, comps, given, chosen)
    stored = load_calibration() if calculator is None and (e_hull_std is None or correction is None) else None
    std_of = {flag: default_e_hull_std(calculator, generated=flag, calibration=stored) if e_hull_std is None
              else float(e_hull_std) for flag in (True, False)}
    if correction is None:
        correction = load_correction(calibration=stored) if calculator is None else Correction()
    rows = [dict.fromkeys(COLUMNS, "") | {"validation": "not_validated", "reason": f"beyond the top {top_k}"}
            for _ in comps]
    if library is None and any(given[i] is None for i in chosen):
        say("prototype library (bundled structure sets)")
        library = PrototypeLibrary.from_datasets()
    jobs: list[tuple[int, object, str]] = []  # (formula index, structure, where it came from)
    counts_of: dict[int, dict[str, int]] = {}
    for i in chosen:
        counts = reduced_counts(comps[i])
        note = ""
        if given[i] is not None:  # _check_given: its composition is this formula's
            counts_of[i] = counts
            rows[i].update(validated_formula=_formula_text(counts_of[i]), reason="")
            jobs.append((i, given[i], f"the given structure ({given[i].composition.reduced_formula})"))
            continue
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
        jobs += [(i, c.structure, f"{c.prototype.spacegroup} from {c.template.ident} ({_formula_text(c.template.counts)})")
                 for c in found]
    if jobs:
        say(f"relaxing {len(jobs)} candidate structures of {len(chosen)} compositions "
            + (f"on {scheduler}" if isinstance(scheduler, str) else "on Dask" if scheduler else "in process"))
        relaxed = relax_parallel([st for _, st, _ in jobs], calculator=calculator, fmax=fmax, steps=steps,
                                 scheduler=scheduler, max_seconds=max_seconds,
                                 progress=lambda done, total: say(f"relaxed {done}/{total} structures"))
        if reference is None:
            reference = HullReference.from_dataset(calculator=calculator, fmax=min(fmax, 0.05), steps=steps)
        say("energies above the hull")
        for i in sorted({i for i, _, _ in jobs}):
            picks = [k for k, job in enumerate(jobs) if job[0] == i]
            _judge(rows[i], counts_of[i], [jobs[k][2] for k in picks], relaxed.iloc[picks], reference,
                   std_of[given[i] is None], max_ehull, leave_out, correction, given=given[i] is not None)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("e_hull", "e_hull_std", "p_stable", "formation_energy", "energy_per_atom"):
        frame[col] = pd.to_numeric(frame[col].replace("", np.nan), errors="coerce").astype(float)
    return frame


def _check_given(formulas: Sequence, comps: list, given: list, chosen: list[int]) -> None:
    """A given structure must have the formula's composition (InputError listing every mismatch)."""
    from matloop.design.structure_search import reduced_counts
    from matloop.errors import InputError, error_table

    bad = []
    for i in chosen:
        if given[i] is None:
            continue
        wanted = reduced_counts(comps[i])
        if wanted is None:
            bad.append({"row": i + 1, "column": "structure", "value": str(formulas[i]),
                        "reason": "the formula has fractional amounts, so no structure (whole atoms) matches it; "
                                  "give the structure's own formula"})
        elif reduced_counts(given[i].composition.get_el_amt_dict()) != wanted:
            bad.append({"row": i + 1, "column": "structure", "value": str(formulas[i]),
                        "reason": f"the structure is {given[i].composition.reduced_formula}, not this formula"})
    if bad:
        raise InputError(f"{len(bad)} given structure(s) do not match their formula", error_table(bad))


def _judge(row: dict, counts: dict[str, int], candidates: list[str], relaxed, reference: HullReference,
           std: float, max_ehull: float, leave_out: bool, correction: Correction, given: bool = False) -> None:
    """Fill one formula's row from its relaxed candidates (``candidates``: where each structure came from)."""
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
    proto, best = candidates[k], relaxed.iloc[k]
    comp = Composition(counts)
    formula = comp.reduced_formula
    raw, why = reference.formation_energy_or_reason(comp, float(best["energy_per_atom"]))
    fractions = {el.symbol: float(x) for el, x in comp.items()}
    e_form = correction.apply(raw, fractions) if not why else math.nan
    row.update(energy_per_atom=float(best["energy_per_atom"]), relax_converged=bool(best["converged"]),
               relax_steps=int(best["steps"]), structures_relaxed=n, prototype=proto,
               structure=Structure.from_dict(json.loads(best["structure"])).to(fmt="cif"), e_hull_std=std)
    if why:
        row.update(validation="no_reference", reason=note + why)
        return
    ehull, products = reference.hull_distance(comp, e_form, leave_out=[formula] if leave_out else ())
    row.update(e_hull=ehull, decomposition=products, p_stable=p_below(ehull, std, max_ehull), formation_energy=e_form)
    if correction.kind != "none":
        note += f"formation energy {raw:.3f} corrected to {e_form:.3f} eV/atom ({correction.describe()}); "
    pm = f" ± {std:.2g}" if math.isfinite(std) else ""
    chance = f"; P(E_hull < {max_ehull:g}) = {row['p_stable']:.2f}" if math.isfinite(row["p_stable"]) else ""
    where = f"relaxed from {proto}" if given else f"best of {n} relaxed prototype{'s' if n > 1 else ''}: {proto}"
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
