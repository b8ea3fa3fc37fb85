"""Candidate crystal structures for a composition by ionic substitution into known prototypes.

A composition such as ``SrTiO3`` has no structure; discovery needs one before any physics can check it.
The classic answer (Hautier et al. 2011; pymatgen's ``StructurePredictor``) is substitution: take every
known crystal with the same *anonymous* formula (ABC3), replace its elements by the new ones, rescale the
cell, and rank the results by how often such substitutions are seen in real crystals.

- The prototype library is every structure of the bundled structure datasets (``matloop datasets list
  --kind structure``) plus the user's templates (CIF/POSCAR). Structures are parsed lazily, only for the
  anonymous formulas asked for; each is described by its space group and Wyckoff letters (spglib), and
  structures with the same description form one *prototype*, whose frequency is the number of distinct
  compounds in it.
- For one composition and one prototype, the member most similar to the composition (element-level
  substitution likelihood) is the template; every assignment of elements with equal amounts is tried with
  oxidation states from SMACT (or pymatgen) and scored by Hautier's conditional ion-substitution
  probabilities (:mod:`matloop.design.substitution`); the cell volume is scaled by the ratio of summed
  cubed ionic (else atomic) radii.
- Score = substitution probability x prototype frequency; ``probability`` is the score's share among all
  candidates of that composition. Candidates that pymatgen's ``StructureMatcher`` finds identical are
  merged (scores added), so the top-k are distinct structures.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matloop.design.substitution import mapping_probability, mappings, oxidation_states, volume_ratio

#: the bundled structure datasets whose structures form the default prototype library
DEFAULT_DATASETS = ("elastic_tensor_2015", "dielectric_constant", "flla", "perov_5")
#: spglib tolerance (Å) for the space group and Wyckoff letters of a prototype
SYMPREC = 0.1
#: members of one prototype scored in full for a composition (the most similar ones by element)
MEMBERS_SCORED = 3
#: score = substitution probability x frequency ** FREQUENCY_POWER (chosen on benchmarks/structure_prediction.py)
FREQUENCY_POWER = 1.0
_CIF_FORMULA = re.compile(r"_chemical_formula_sum\s+['\"]?([^'\"\n]+)")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def reduced_counts(composition: dict[str, float]) -> dict[str, int] | None:
    """Integer amounts divided by their greatest common divisor; ``None`` when an amount is not (close to)
    a whole number times the smallest ratio (a doped or fractional composition has no ordered prototype)."""
    amounts = {el: float(a) for el, a in composition.items() if a > 0}
    if not amounts:
        return None
    for scale in range(1, 13):  # Fe0.5O0.75 -> Fe2O3: smallest multiplier that makes every amount whole
        scaled = {el: a * scale for el, a in amounts.items()}
        if all(abs(v - round(v)) < 1e-3 and round(v) >= 1 for v in scaled.values()):
            ints = {el: int(round(v)) for el, v in scaled.items()}
            g = 0
            for v in ints.values():
                g = math.gcd(g, v)
            return {el: v // g for el, v in ints.items()}
    return None


def anonymous_formula(counts: dict[str, int]) -> str:
    """``AB3`` style: amounts sorted ascending, letters in that order (pymatgen's convention)."""
    return "".join(f"{_LETTERS[i]}{'' if n == 1 else n}" for i, n in enumerate(sorted(counts.values())))


def _formula(counts: dict[str, int]) -> str:
    return "".join(f"{el}{'' if n == 1 else n}" for el, n in counts.items())


@dataclass
class _Entry:
    ident: str
    counts: dict[str, int]
    source: object  # inline text, path or Structure; parsed on first use
    structure: object = None
    key: tuple | None = None
    spacegroup: str = ""


@dataclass
class Prototype:
    """Structures sharing an anonymous formula, a space group and Wyckoff letters."""

    key: tuple
    spacegroup: str
    members: list = field(default_factory=list)

    @property
    def frequency(self) -> int:
        """Distinct compounds of this prototype in the library."""
        return len({tuple(sorted(m.counts.items())) for m in self.members})


def _describe(structure, counts: dict[str, int]) -> tuple[tuple, str]:
    """Prototype key (space group number, per-element Wyckoff letters ordered by amount) and symbol."""
    import spglib

    cell = (structure.lattice.matrix, structure.frac_coords, [site.specie.Z for site in structure])
    data = spglib.get_symmetry_dataset(cell, symprec=SYMPREC)
    if data is None:
        return (1, tuple(sorted((n, "a" * 1) for n in counts.values()))), "P1"
    number, symbol = int(data.number), str(data.international)
    letters: dict[str, list[str]] = {}
    seen = set()
    for i, site in enumerate(structure):
        orbit = int(data.equivalent_atoms[i])
        if orbit in seen:
            continue
        seen.add(orbit)
        letters.setdefault(site.specie.symbol, []).append(str(data.wyckoffs[i]))
    signature = tuple(sorted((counts[el], "".join(sorted(ls))) for el, ls in letters.items()))
    return (number, signature), symbol


class PrototypeLibrary:
    """Known structures grouped into prototypes, indexed by anonymous formula; parsed on demand."""

    def __init__(self):
        self._by_anon: dict[str, list[_Entry]] = {}
        self._groups: dict[str, list[Prototype]] = {}
        self.skipped: list[tuple[str, str]] = []  # (id, reason) of library structures that could not be used

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_anon.values())

    def add(self, ident: str, source: object, composition: dict[str, float] | None = None) -> None:
        """Add one structure (text, path or pymatgen ``Structure``); ``composition`` saves parsing it now."""
        structure = None
        if composition is None:
            structure = _parse(source)
            composition = {el.symbol: amt for el, amt in structure.composition.element_composition.items()}
        counts = reduced_counts(composition)
        if counts is None:
            self.skipped.append((ident, "fractional composition"))
            return
        anon = anonymous_formula(counts)
        self._by_anon.setdefault(anon, []).append(_Entry(ident, counts, source, structure))
        self._groups.pop(anon, None)

    @classmethod
    def from_datasets(cls, names: Sequence[str] = DEFAULT_DATASETS) -> PrototypeLibrary:
        """Every structure of the named bundled datasets (ids ``dataset:material_id`` or ``dataset:row``)."""
        from pymatgen.core import Composition

        import matloop.datasets as datasets

        library = cls()
        for name in names:
            ds = datasets.load(name)
            frame = ds.frame
            texts = frame[ds.input].tolist()
            ids = frame["material_id"].astype(str).tolist() if "material_id" in frame else None
            formulas = frame["formula"].tolist() if "formula" in frame else [None] * len(frame)
            for i, (text, formula) in enumerate(zip(texts, formulas, strict=True)):
                ident = f"{name}:{ids[i] if ids else i + 1}"
                if not isinstance(formula, str) and isinstance(text, str):
                    match = _CIF_FORMULA.search(text[:5000])
                    formula = match.group(1) if match else None
                try:
                    comp = Composition(formula) if isinstance(formula, str) else None
                    library.add(ident, text, {el.symbol: a for el, a in comp.items()} if comp else None)
                except Exception as exc:  # noqa: BLE001 - a library structure we cannot use is skipped, counted
                    library.skipped.append((ident, str(exc)[:200]))
        return library

    def add_templates(self, folder: str | Path) -> int:
        """Add the CIF/POSCAR/``.vasp``/JSON files of ``folder`` (ids ``template:NAME``); bad files raise
        :class:`matloop.InputError` with one row per file."""
        from matloop.errors import InputError
        from matloop.represent.structure_io import read_structures

        root = Path(folder)
        if not root.is_dir():
            raise InputError(f"--templates {folder}: not a folder")
        paths = sorted(p for p in root.iterdir() if p.is_file() and (
            p.suffix.lower() in (".cif", ".vasp", ".json", ".poscar") or p.name.upper().startswith(("POSCAR", "CONTCAR"))))
        if not paths:
            raise InputError(f"--templates {folder}: no CIF, POSCAR, .vasp or JSON structure files in it")
        structures = read_structures([str(p) for p in paths], column="template", allow_disorder=False)
        for path, structure in zip(paths, structures, strict=True):
            self.add(f"template:{path.name}", structure)
        return len(paths)

    def prototypes(self, anon: str, exclude: Collection[str] = ()) -> list[Prototype]:
        """The prototypes with anonymous formula ``anon`` (structures parsed and described on first use);
        entries whose id is in ``exclude`` are left out."""
        if anon not in self._groups:
            groups: dict[tuple, Prototype] = {}
            for entry in self._by_anon.get(anon, []):
                if entry.key is None:
                    try:
                        if entry.structure is None:
                            entry.structure = _parse(entry.source)
                        if not entry.structure.is_ordered:
                            raise ValueError("partial occupancies")
                        entry.key, entry.spacegroup = _describe(entry.structure, entry.counts)
                    except Exception as exc:  # noqa: BLE001 - skipped and counted, never fatal
                        entry.key = ("bad",)
                        self.skipped.append((entry.ident, str(exc)[:200]))
                        continue
                if entry.key == ("bad",):
                    continue
                groups.setdefault(entry.key, Prototype(entry.key, entry.spacegroup)).members.append(entry)
            self._groups[anon] = list(groups.values())
        if not exclude:
            return self._groups[anon]
        out = []
        for proto in self._groups[anon]:
            members = [m for m in proto.members if m.ident not in exclude]
            if members:
                out.append(Prototype(proto.key, proto.spacegroup, members))
        return out

    def entry(self, ident: str) -> _Entry | None:
        for entries in self._by_anon.values():
            for e in entries:
                if e.ident == ident:
                    return e
        return None

    def entries(self, anon: str) -> list[_Entry]:
        return list(self._by_anon.get(anon, []))


def _parse(source):
    """A pymatgen ``Structure`` from inline CIF/POSCAR/JSON text, a path, or a ``Structure``."""
    from matloop.represent.structure_io import read_structures

    if hasattr(source, "lattice"):
        return source
    return read_structures([source])[0]


@dataclass
class Candidate:
    """One substituted structure for a composition."""

    structure: object
    score: float
    prototype: Prototype
    template: _Entry
    merged: list = field(default_factory=list)


def candidates_for(composition: dict[str, float], library: PrototypeLibrary, top: int = 5,
                   exclude: Collection[str] = ()) -> tuple[list[Candidate], float, str]:
    """Ranked, distinct candidate structures for one composition.

    Returns (candidates best first, total score of all candidates before the cut, reason when none).
    """
    counts = reduced_counts(composition)
    if counts is None:
        return [], 0.0, "fractional composition: no ordered prototype (use whole-number amounts)"
    anon = anonymous_formula(counts)
    protos = library.prototypes(anon, exclude)
    if not protos:
        return [], 0.0, f"no prototype with anonymous formula {anon} in the library"
    new_states = oxidation_states(tuple(counts.items()))
    scored = []
    for proto in protos:
        best = None
        for member in _closest(proto.members, counts):
            old_states = oxidation_states(tuple(member.counts.items()))
            for mapping in mappings(counts, member.counts):
                p, ns, os_ = mapping_probability(mapping, new_states, old_states)
                if best is None or p > best[0]:
                    best = (p, member, mapping, ns, os_)
        if best is not None:
            scored.append((best[0] * proto.frequency**FREQUENCY_POWER, proto, *best[1:]))
    scored.sort(key=lambda item: -item[0])
    total = float(sum(item[0] for item in scored))
    kept: list[Candidate] = []
    matcher = None
    for score, proto, member, mapping, ns, os_ in scored:
        structure = _substitute(member, mapping, ns, os_)
        if matcher is None:
            from pymatgen.analysis.structure_matcher import StructureMatcher

            matcher = StructureMatcher()
        twin = next((c for c in kept if matcher.fit(c.structure, structure)), None)
        if twin is not None:
            twin.score += score
            twin.merged.append(member.ident)
            continue
        if len(kept) >= top:
            break
        kept.append(Candidate(structure, score, proto, member))
    kept.sort(key=lambda c: -c.score)
    return kept, total, ""


def _closest(members: list[_Entry], counts: dict[str, int]) -> list[_Entry]:
    """The members whose elements substitute most readily into ``counts`` (a member with exactly these
    elements first), at most :data:`MEMBERS_SCORED`."""
    from matloop.design.substitution import substitution_table

    table = substitution_table()

    def similarity(member: _Entry) -> float:
        best = 0.0
        for mapping in mappings(counts, member.counts, limit=24):
            p = 1.0
            for old, new in mapping.items():
                p *= table.element_cond_prob(new, old)
            best = max(best, p)
        return best

    return sorted(members, key=lambda m: (-similarity(m), m.ident))[:MEMBERS_SCORED]


def _substitute(member: _Entry, mapping: dict[str, str], new_states, old_states):
    """The member's structure with ``mapping`` applied and its volume rescaled."""
    from pymatgen.core import Structure

    source = member.structure  # plain elements: a template may carry oxidation states or per-site arrays
    structure = Structure(source.lattice, [site.specie.symbol for site in source], source.frac_coords)
    structure.replace_species(mapping)
    ratio = volume_ratio(mapping, member.counts, new_states, old_states)
    if np.isfinite(ratio) and ratio > 0 and abs(ratio - 1) > 1e-9:
        structure.scale_lattice(structure.volume * ratio)
    return structure


def predict_structures(compositions: Sequence[dict[str, float] | None], library: PrototypeLibrary, top: int = 5,
                       exclude: Collection[str] = ()):
    """One row per candidate (``input_index`` 0-based into ``compositions``), plus one row with a
    ``reason`` for every composition without candidates (never dropped). ``None`` compositions are
    skipped by the caller (bad formulas)."""
    import pandas as pd

    rows = []
    for i, comp in enumerate(compositions):
        if comp is None:
            continue
        found, total, reason = candidates_for(comp, library, top=top, exclude=exclude)
        if not found:
            rows.append({"input_index": i, "rank": None, "reason": reason})
            continue
        for rank, cand in enumerate(found, start=1):
            rows.append({
                "input_index": i, "rank": rank, "probability": cand.score / total if total > 0 else np.nan,
                "likelihood": cand.score, "prototype_id": cand.template.ident,
                "prototype_formula": _formula(cand.template.counts),
                "prototype_spacegroup": f"{cand.prototype.spacegroup} ({cand.prototype.key[0]})",
                "prototype_frequency": cand.prototype.frequency, "merged_with": ";".join(cand.merged),
                "formula": cand.structure.composition.reduced_formula,
                "structure": cand.structure.to(fmt="cif"), "reason": "",
            })
    columns = ["input_index", "rank", "probability", "likelihood", "prototype_id", "prototype_formula",
               "prototype_spacegroup", "prototype_frequency", "merged_with", "formula", "structure", "reason"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["rank"] = frame["rank"].astype("Int64")
    return frame
