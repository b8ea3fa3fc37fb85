"""Reading labelled structures for interatomic potentials (mlearn JSON, extended XYZ): units and bad records."""

from __future__ import annotations

import gzip
import importlib.util
import json

import numpy as np
import pytest

from matloop.datasets.potential_sets import POTENTIAL_SETS, open_potential_set, potential_set_path
from matloop.errors import InputError
from matloop.io.potential_data import read_potential_data, records_to_json


def _raw(name: str) -> list[dict]:
    with gzip.open(potential_set_path(name), "rt") as handle:
        return json.load(handle)


def test_bundled_sets_have_their_documented_counts_and_units():
    for name, spec in POTENTIAL_SETS.items():
        records = open_potential_set(name)
        assert len(records) == spec.rows, name
        assert {el for r in records for el in r.species} == {spec.element}
    raw = _raw("mlearn_si_test")[0]
    rec = open_potential_set("mlearn_si_test")[0]
    # virial_stress is kbar with VASP's sign, Voigt xx yy zz xy yz zx -> GPa, tensile positive
    v = raw["outputs"]["virial_stress"]
    assert rec.stress[0, 0] == pytest.approx(-0.1 * v[0])
    assert rec.stress[0, 1] == rec.stress[1, 0] == pytest.approx(-0.1 * v[3])
    assert rec.stress[1, 2] == pytest.approx(-0.1 * v[4])
    assert rec.stress[0, 2] == pytest.approx(-0.1 * v[5])
    assert rec.energy == raw["outputs"]["energy"] and rec.n_atoms == len(raw["structure"]["sites"])
    assert rec.forces.shape == (rec.n_atoms, 3) and rec.group == raw["group"]


def test_records_round_trip_through_json(tmp_path):
    records = open_potential_set("mlearn_li_test")[:4]
    path = tmp_path / "li.json"
    path.write_text(json.dumps(records_to_json(records)))
    again = read_potential_data(path)
    for a, b in zip(records, again, strict=True):
        assert a.species == b.species and a.energy == b.energy
        np.testing.assert_allclose(a.positions, b.positions)
        np.testing.assert_allclose(a.stress, b.stress)
        np.testing.assert_allclose(a.forces, b.forces)


def test_every_bad_record_is_reported_with_its_field(tmp_path):
    good = _raw("mlearn_li_test")[:6]
    bad = json.loads(json.dumps(good))
    del bad[1]["outputs"]["energy"]
    bad[2]["outputs"]["forces"] = bad[2]["outputs"]["forces"][:-1]
    bad[3]["structure"]["sites"][0]["species"][0]["element"] = "Xx"
    bad[4]["outputs"]["virial_stress"] = [1, 2, "a"]
    bad[5]["structure"]["lattice"]["matrix"] = [[0, 0, 0], [0, 0, 0], [0, 0, 0]]
    path = tmp_path / "bad.json.gz"
    with gzip.open(path, "wt") as handle:
        json.dump(bad, handle)
    with pytest.raises(InputError) as info:
        read_potential_data(path)
    table = info.value.table
    assert "5 of 6 records" in info.value.message
    assert dict(zip(table["row"], table["column"], strict=True)) == {
        2: "outputs.energy", 3: "outputs.forces", 4: "structure.sites[1].species", 5: "outputs.virial_stress",
        6: "structure.lattice"}
    assert all(table["reason"].str.len() > 10)


@pytest.mark.parametrize("text, message", [("{}", "non-empty JSON list"), ("[1, 2", "cannot read"),
                                           ("[]", "non-empty JSON list")])
def test_unreadable_files_are_input_errors(tmp_path, text, message):
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_potential_data(path)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_potential_data(tmp_path / "none.json")
    (tmp_path / "x.csv").write_text("a\n1\n")
    with pytest.raises(InputError, match="unknown format"):
        read_potential_data(tmp_path / "x.csv")


def test_partial_occupancy_is_refused(tmp_path):
    recs = _raw("mlearn_li_test")[:1]
    recs[0]["structure"]["sites"][0]["species"][0]["occu"] = 0.5
    path = tmp_path / "x.json"
    path.write_text(json.dumps(recs))
    with pytest.raises(InputError) as info:
        read_potential_data(path)
    assert list(info.value.table["column"]) == ["structure.sites[1].occu"]


@pytest.mark.skipif(importlib.util.find_spec("ase") is None, reason="extended XYZ needs ASE")
def test_extxyz_energy_forces_stress_in_ase_units(tmp_path):
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    records = open_potential_set("mlearn_li_test")[:3]
    frames = []
    for r in records:
        atoms = r.atoms()
        voigt = r.stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]] / 160.21766208  # ASE: eV/Å³, xx yy zz yz xz xy
        atoms.calc = SinglePointCalculator(atoms, energy=r.energy, forces=r.forces, stress=voigt)
        frames.append(atoms)
    path = tmp_path / "li.extxyz"
    write(path, frames, format="extxyz")
    again = read_potential_data(path)
    for a, b in zip(records, again, strict=True):
        assert b.energy == pytest.approx(a.energy)
        np.testing.assert_allclose(b.forces, a.forces, atol=1e-6)
        np.testing.assert_allclose(b.stress, a.stress, atol=1e-5)
    text = path.read_text().replace(f"energy={records[1].energy!r}", "")
    (tmp_path / "bad.extxyz").write_text(text)
    with pytest.raises(InputError) as info:
        read_potential_data(tmp_path / "bad.extxyz")
    assert list(info.value.table["row"]) == [2] and list(info.value.table["column"]) == ["energy"]
