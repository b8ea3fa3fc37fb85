"""OPTIMADE entries -> rows: ordered, disordered and unusable structures (no server needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from matloop.io.optimade_convert import EntryProblem, entry_row, reduced_formula, structure_dict

CUBIC = [[4.0, 0, 0], [0, 4.0, 0], [0, 0, 4.0]]


def _entry(**attributes):
    base = {"lattice_vectors": CUBIC, "cartesian_site_positions": [[0, 0, 0], [2, 2, 2]],
            "species_at_sites": ["Cs", "Cl"], "species": [
                {"name": "Cs", "chemical_symbols": ["Cs"], "concentration": [1.0]},
                {"name": "Cl", "chemical_symbols": ["Cl"], "concentration": [1.0]}],
            "nelements": 2, "_prov_band_gap": 5.1, "elements": ["Cl", "Cs"]}
    base.update(attributes)
    return {"id": "x-1", "type": "structures", "attributes": base}


def test_ordered_structure_round_trips_with_fractional_coordinates():
    row = entry_row(_entry(), "prov", "https://p.org/v1", "2026-01-01T00:00:00+00:00")
    data = json.loads(row["structure"])
    assert row["problem"] is None and row["formula"] == "ClCs" and row["optimade_id"] == "x-1"
    assert row["url"] == "https://p.org/v1/structures/x-1" and row["_prov_band_gap"] == 5.1
    assert row["elements"] == '["Cl","Cs"]' and "lattice_vectors" not in row
    np.testing.assert_allclose(data["sites"][1]["abc"], [0.5, 0.5, 0.5])
    pymatgen = pytest.importorskip("pymatgen.core")
    structure = pymatgen.Structure.from_dict(data)
    assert structure.composition.reduced_formula == "CsCl" and abs(structure.volume - 64.0) < 1e-9


def test_disorder_and_vacancies_become_partial_occupancies():
    species = [{"name": "A", "chemical_symbols": ["Sr", "Ba"], "concentration": [0.5, 0.5]},
               {"name": "B", "chemical_symbols": ["Ti", "vacancy"], "concentration": [0.9, 0.1]}]
    data = structure_dict(_entry(species_at_sites=["A", "B"], species=species)["attributes"])
    assert data["sites"][0]["species"] == [{"element": "Sr", "occu": 0.5}, {"element": "Ba", "occu": 0.5}]
    assert data["sites"][1]["species"] == [{"element": "Ti", "occu": 0.9}]
    assert reduced_formula(data) == "Ba0.5Sr0.5Ti0.9"


@pytest.mark.parametrize(("change", "reason"), [
    ({"lattice_vectors": None}, "no lattice_vectors"),
    ({"lattice_vectors": [[4, 0, 0], [0, 4, 0], [None, None, None]]}, "non-numeric"),
    ({"lattice_vectors": [[4, 0, 0], [8, 0, 0], [0, 0, 4]]}, "zero volume"),
    ({"species": [{"name": "Cs", "chemical_symbols": ["X"], "concentration": [1.0]},
                  {"name": "Cl", "chemical_symbols": ["Cl"], "concentration": [1.0]}]}, "unknown element 'X'"),
    ({"species_at_sites": ["Cs", "Br"]}, "'Br' is not described"),
    ({"assemblies": [{"sites_in_groups": [[0], [1]], "group_probabilities": [0.5, 0.5]}]}, "assemblies"),
    ({"cartesian_site_positions": [[0, 0, 0]]}, "species_at_sites for 1 positions"),
])
def test_unusable_entries_keep_their_row_with_the_reason(change, reason):
    row = entry_row(_entry(**change), "prov", "https://p.org/v1", "now")
    assert row["structure"] is None and reason in row["problem"] and row["optimade_id"] == "x-1"
    with pytest.raises(EntryProblem):
        structure_dict(_entry(**change)["attributes"])


def test_missing_species_means_plain_symbols():
    data = structure_dict(_entry(species=None)["attributes"])
    assert [s["species"] for s in data["sites"]] == [[{"element": "Cs", "occu": 1.0}], [{"element": "Cl", "occu": 1.0}]]
