"""The four bundled crystal-structure sets: inline structures that parse, targets as the sources say."""

from __future__ import annotations

import json

import numpy as np
import pytest

from matloop.datasets import info, list_datasets, load

SETS = {"elastic_tensor_2015": "data_", "dielectric_constant": "data_", "flla": "{", "perov_5": "data_"}


@pytest.mark.parametrize("name", list(SETS))
def test_inline_structure_column_of_the_right_format(name):
    ds = load(name)
    column = ds.frame["structure"]
    assert ds.kind == "structure" and ds.input == "structure"
    assert column.map(lambda v: SETS[name] in v[:1000]).all()
    assert column.notna().all() and column.is_unique or name == "flla"
    text = info(name)
    assert "Licence:" in text and "Provenance:" in text and "Citation" in text


def test_elastic_log10_targets_match_the_moduli():
    frame = load("elastic_tensor_2015").frame
    for column in ("K_VRH", "G_VRH"):
        assert (frame[column] > 0).all()
        np.testing.assert_allclose(10 ** frame[f"log10_{column}"], frame[column], rtol=1e-12)
    assert "poscar" not in frame and "compliance_tensor" not in frame


def test_flla_structures_are_json_dicts_not_python_reprs():
    frame = load("flla").frame
    first = json.loads(frame["structure"].iloc[0])
    assert first["@class"] == "Structure" and set(first["lattice"]) == {"matrix"}
    assert "xyz" not in first["sites"][0] and "abc" in first["sites"][0]
    assert "'" not in frame["structure"].iloc[0]  # no Python repr quoting left
    assert frame["formula"].iloc[0] == "As"  # was "{'As': 1.0}"
    assert frame["formula"].str.fullmatch(r"([A-Z][a-z]?[0-9.]*)+").all()


def test_list_filters_structure_sets():
    table = list_datasets()
    assert sorted(table.loc[table["kind"] == "structure", "name"]) == sorted(SETS)


@pytest.mark.parametrize("name", list(SETS))
def test_a_sample_of_each_set_reads_into_pymatgen(name):
    pytest.importorskip("pymatgen.core")
    from matloop.represent.structure import read_structures

    ds = load(name)
    sample = ds.frame["structure"].iloc[:: max(1, len(ds.frame) // 25)]
    structures = read_structures(sample)
    nsites = ds.frame["nsites"].iloc[:: max(1, len(ds.frame) // 25)] if "nsites" in ds.frame else None
    if nsites is not None:
        assert [len(s) for s in structures] == list(nsites)
    if name == "perov_5":
        assert {len(s) for s in structures} == {5}
    if name == "flla":  # the JSON keeps the source's lattice (pymatgen rebuilds a, b, c from it)
        first = json.loads(ds.frame["structure"].iloc[0])
        np.testing.assert_allclose(structures[0].lattice.matrix, first["lattice"]["matrix"])
