"""OPTIMADE structure entries -> table rows with an inline pymatgen structure.

An OPTIMADE ``structures`` entry (Andersen et al., Sci. Data 8, 217 (2021); Evans et al., Digital
Discovery 3, 1509 (2024)) gives a lattice (``lattice_vectors``), Cartesian positions
(``cartesian_site_positions``), the species name at each site (``species_at_sites``) and what each
species is (``species``: chemical symbols and concentrations, so disordered sites and vacancies can
be described). :func:`entry_row` turns one entry into one table row: the structure as the JSON of a
pymatgen ``Structure.as_dict()`` (built here with NumPy, so the io layer needs no pymatgen), the
provider's id and every other property it returned. An entry that cannot be a 3-D periodic
structure keeps its row, with the structure left empty and the reason in ``problem``: nothing a
provider returned is silently dropped, and ``matloop check`` reports those rows like any bad input.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = ["STRUCTURE_FIELDS", "entry_row", "reduced_formula", "structure_dict"]

#: attributes that make up the structure itself (folded into the ``structure`` column)
STRUCTURE_FIELDS = frozenset({
    "lattice_vectors", "cartesian_site_positions", "species_at_sites", "species", "assemblies",
    "structure_features", "dimension_types", "nperiodic_dimensions", "nsites",
})
#: chemical symbols that stand for no element (OPTIMADE's ``X`` = unknown, ``vacancy``)
_UNKNOWN, _VACANCY = "X", "vacancy"
#: OPTIMADE allows this much slack in summed concentrations
_OCC_TOL = 1e-6


class EntryProblem(ValueError):
    """Why one entry cannot become a periodic structure (kept in the row's ``problem`` column)."""


def structure_dict(attributes: dict[str, Any]) -> dict[str, Any]:
    """The pymatgen ``Structure.as_dict()`` of an OPTIMADE entry's attributes; raises :class:`EntryProblem`."""
    if attributes.get("assemblies"):
        raise EntryProblem("the entry uses OPTIMADE assemblies (alternative site groups), which are not supported")
    lattice = attributes.get("lattice_vectors")
    positions = attributes.get("cartesian_site_positions")
    names = attributes.get("species_at_sites")
    if lattice is None or positions is None or names is None:
        missing = [k for k, v in (("lattice_vectors", lattice), ("cartesian_site_positions", positions),
                                  ("species_at_sites", names)) if v is None]
        raise EntryProblem(f"the provider returned no {', '.join(missing)} (not a periodic structure, or the "
                           "field was not requested)")
    matrix = _matrix(lattice, "lattice_vectors", (3, 3))
    cart = _matrix(positions, "cartesian_site_positions", (len(positions), 3))
    if len(names) != len(cart) or not len(cart):
        raise EntryProblem(f"{len(names)} species_at_sites for {len(cart)} positions")
    volume = float(abs(np.linalg.det(matrix)))
    if not volume > 1e-6:
        raise EntryProblem(f"the lattice has zero volume ({volume:.3g} Å³)")
    species = _species_table(attributes.get("species"), set(names))
    frac = np.linalg.solve(matrix.T, cart.T).T
    sites = []
    for name, abc, xyz in zip(names, frac.tolist(), cart.tolist(), strict=True):
        if name not in species:
            raise EntryProblem(f"site species {name!r} is not described in 'species'")
        sites.append({"species": species[name], "abc": abc, "xyz": xyz, "label": name, "properties": {}})
    return {"@module": "pymatgen.core.structure", "@class": "Structure", "charge": 0.0,
            "lattice": {"matrix": matrix.tolist(), "pbc": [True, True, True]}, "properties": {}, "sites": sites}


def _matrix(value, field: str, shape: tuple[int, int]) -> np.ndarray:
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise EntryProblem(f"{field} holds missing or non-numeric values (a non-periodic direction?)") from None
    if array.shape != shape:
        raise EntryProblem(f"{field} has shape {array.shape}; expected {shape}")
    if not np.all(np.isfinite(array)):
        raise EntryProblem(f"{field} holds missing or non-numeric values (a non-periodic direction?)")
    return array


def _species_table(species, used: set[str]) -> dict[str, list[dict]]:
    """Species name -> pymatgen site ``species`` list (element, occupancy); plain symbols when absent."""
    if not species:  # OPTIMADE makes `species` optional: names are then chemical symbols
        return {name: _occupancy(name, [name], [1.0]) for name in used}
    table = {}
    for entry in species:
        if not isinstance(entry, dict) or "name" not in entry:
            raise EntryProblem("a 'species' item has no name")
        if entry.get("attached"):
            raise EntryProblem(f"species {entry['name']!r} has attached atoms, which are not supported")
        symbols = entry.get("chemical_symbols") or []
        conc = entry.get("concentration") or [1.0] * len(symbols)
        if len(conc) != len(symbols):
            raise EntryProblem(f"species {entry['name']!r}: {len(symbols)} symbols, {len(conc)} concentrations")
        table[entry["name"]] = _occupancy(entry["name"], symbols, conc)
    return table


def _occupancy(name: str, symbols: list[str], conc: list[float]) -> list[dict]:
    occupancy = []
    for symbol, c in zip(symbols, conc, strict=True):
        if symbol == _VACANCY:
            continue
        if symbol == _UNKNOWN or not isinstance(symbol, str) or not symbol[:1].isupper():
            raise EntryProblem(f"species {name!r} has an unknown element {symbol!r}")
        try:
            value = float(c)
        except (TypeError, ValueError):
            raise EntryProblem(f"species {name!r} has concentration {c!r}") from None
        if not (0.0 < value <= 1.0 + _OCC_TOL):
            raise EntryProblem(f"species {name!r} has concentration {c!r} for {symbol}")
        occupancy.append({"element": symbol, "occu": min(value, 1.0)})
    if not occupancy:
        raise EntryProblem(f"species {name!r} holds no element (only vacancies)")
    if sum(o["occu"] for o in occupancy) > 1.0 + _OCC_TOL:
        raise EntryProblem(f"species {name!r}: concentrations sum to more than 1")
    return occupancy


def reduced_formula(structure: dict[str, Any]) -> str:
    """OPTIMADE-style reduced formula (elements in alphabetical order, counts divided by their gcd)."""
    counts: dict[str, float] = {}
    for site in structure["sites"]:
        for sp in site["species"]:
            counts[sp["element"]] = counts.get(sp["element"], 0.0) + sp["occu"]
    values = np.array(list(counts.values()))
    if np.allclose(values, np.round(values), atol=1e-6):
        divisor = np.gcd.reduce(np.round(values).astype(np.int64))
        values = np.round(values).astype(np.int64) // max(int(divisor), 1)
    parts = []
    for element, n in sorted(zip(counts, values.tolist(), strict=True)):
        text = "" if n == 1 else (f"{n:g}" if isinstance(n, float) else str(n))
        parts.append(f"{element}{text}")
    return "".join(parts)


def _cell(value: Any) -> Any:
    """A property value as a table cell: scalars as they are, lists and objects as compact JSON."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def entry_row(entry: dict[str, Any], provider: str, base_url: str, retrieved: str) -> dict[str, Any]:
    """One output row: structure JSON (or empty with the reason in ``problem``), ids, provenance, properties."""
    attributes = entry.get("attributes") or {}
    entry_id = str(entry.get("id") or attributes.get("immutable_id") or "")
    row: dict[str, Any] = {"structure": None, "formula": attributes.get("chemical_formula_reduced"),
                           "optimade_id": entry_id, "provider": provider,
                           "url": f"{base_url}/structures/{entry_id}", "retrieved": retrieved}
    try:
        structure = structure_dict(attributes)
        row["structure"] = json.dumps(structure, separators=(",", ":"))
        row["problem"] = None
        if not row["formula"]:  # providers may leave the formula fields empty: read it off the sites
            row["formula"] = reduced_formula(structure)
    except EntryProblem as exc:
        row["problem"] = str(exc)
    for key, value in attributes.items():
        if key not in STRUCTURE_FIELDS and key not in row:
            row[key] = _cell(value)
    return row
