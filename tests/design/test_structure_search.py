"""Prototype substitution (matloop.design.structure_search): rock salt for KBr, merging, reasons, bundled library."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("pymatgen.core")

from pymatgen.core import Lattice, Structure  # noqa: E402

from matloop.design.structure_search import (  # noqa: E402
    PrototypeLibrary,
    anonymous_formula,
    candidates_for,
    predict_structures,
    reduced_counts,
)
from matloop.design.substitution import SubstitutionTable, mappings, oxidation_states  # noqa: E402
from matloop.represent.structure_io import read_structures  # noqa: E402


def rock_salt(a: float, cation: str = "Na", anion: str = "Cl") -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]])


def caesium_chloride(a: float, cation: str = "Cs", anion: str = "Cl") -> Structure:
    return Structure.from_spacegroup("Pm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]])


def library(*structures: Structure) -> PrototypeLibrary:
    lib = PrototypeLibrary()
    for i, s in enumerate(structures):
        lib.add(f"t{i}", s)
    return lib


def test_reduced_and_anonymous_formulas():
    assert reduced_counts({"Fe": 0.5, "O": 0.75}) == {"Fe": 2, "O": 3}
    assert reduced_counts({"Sr": 2, "Ti": 2, "O": 6}) == {"Sr": 1, "Ti": 1, "O": 3}
    assert reduced_counts({"Fe": 0.913, "Ni": 0.087}) is None  # a doped composition: no ordered prototype
    assert anonymous_formula({"Sr": 1, "Ti": 1, "O": 3}) == "ABC3"
    assert anonymous_formula({"Al": 2, "O": 3}) == "A2B3"


def test_lambda_table_matches_pymatgen():
    from pymatgen.analysis.structure_prediction.substitution_probability import SubstitutionProbability
    from pymatgen.core import Species

    ours, theirs = SubstitutionTable(), SubstitutionProbability()
    for a, b in [("Na1+", "K1+"), ("Fe3+", "Al3+"), ("O2-", "S2-"), ("Na1+", "Na1+"), ("Xe8+", "Cl1-")]:
        ref = theirs.cond_prob(Species.from_str(a.replace("1+", "+").replace("1-", "-")),
                               Species.from_str(b.replace("1+", "+").replace("1-", "-")))
        assert ours.cond_prob(a, b) == pytest.approx(ref, rel=1e-9)


def test_oxidation_states_and_mappings():
    states = oxidation_states((("Sr", 1), ("Ti", 1), ("O", 3)))
    assert {"Sr": 2, "Ti": 4, "O": -2} in states
    assert all(sum(q * n for q, n in zip(s.values(), (1, 1, 3), strict=True)) == 0 for s in states)
    # equal amounts may swap, different amounts may not
    assert len(mappings({"K": 1, "Br": 1}, {"Na": 1, "Cl": 1})) == 2
    assert mappings({"Al": 2, "O": 3}, {"Fe": 2, "O": 3}) == [{"Fe": "Al", "O": "O"}]
    assert mappings({"Al": 2, "O": 3}, {"Na": 1, "Cl": 1}) == []


def test_rock_salt_ranked_first_scaled_and_written_as_cif():
    lib = library(rock_salt(5.64), rock_salt(6.29, "K", "Cl"), caesium_chloride(4.12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found, total, reason = candidates_for({"K": 1, "Br": 1}, lib, top=5)
    assert reason == "" and len(found) == 2
    best = found[0]
    assert best.prototype.spacegroup == "Fm-3m" and best.structure.composition.reduced_formula == "KBr"
    # the template is KCl (closest relative, a = 6.29 Å); Br- is larger than Cl-: the cell grows (KBr: 6.60 Å)
    assert best.template.ident == "t1" and best.prototype.frequency == 2
    a = best.structure.lattice.a
    assert 6.35 < a < 6.9
    frame = predict_structures([{"K": 1, "Br": 1}], lib)
    assert frame["rank"].tolist() == [1, 2]
    assert frame["probability"].sum() == pytest.approx(1.0)
    again = read_structures(frame["structure"].tolist())
    assert again[0].composition.reduced_formula == "KBr"
    assert again[0].volume == pytest.approx(best.structure.volume, rel=1e-4)


def test_same_prototype_counts_frequency_and_duplicates_merge():
    # three rock salts form one prototype (frequency 3, the most similar member is the template);
    # a rock salt in a conventional and a primitive cell are one prototype, never two candidates
    lib = library(rock_salt(5.64), rock_salt(4.21, "Mg", "O"), rock_salt(6.6, "K", "Br").get_primitive_structure(),
                  caesium_chloride(4.12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found, _, _ = candidates_for({"Rb": 1, "Br": 1}, lib, top=5)
    protos = [c.prototype for c in found]
    assert len(found) == 2 and protos[0].frequency == 3 and protos[0].spacegroup == "Fm-3m"
    assert found[0].template.ident == "t2"  # KBr is the closest relative of RbBr


def test_no_prototype_and_leave_one_out_keep_a_reason():
    lib = library(rock_salt(5.64))
    frame = predict_structures([{"Al": 2, "O": 3}, {"Fe": 0.913, "Ni": 0.087}, {"K": 1, "Cl": 1}], lib)
    assert frame["input_index"].tolist() == [0, 1, 2]
    assert "A2B3" in frame["reason"].iloc[0] and "fractional" in frame["reason"].iloc[1]
    assert frame["reason"].iloc[2] == "" and frame["rank"].iloc[2] == 1
    left_out = predict_structures([{"K": 1, "Cl": 1}], lib, exclude={"t0"})
    assert "no prototype" in left_out["reason"].iloc[0]


def test_bundled_library_finds_perovskite_for_left_out_srtio3():
    lib = PrototypeLibrary.from_datasets(["elastic_tensor_2015"])
    own = [e.ident for e in lib.entries("ABC3") if e.counts == {"Sr": 1, "Ti": 1, "O": 3}]
    assert own  # SrTiO3 is in the elastic set
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found, _, _ = candidates_for({"Sr": 1, "Ti": 1, "O": 3}, lib, top=3, exclude=set(own))
    assert found[0].prototype.spacegroup == "Pm-3m"  # the cubic perovskite, from other ABO3 compounds
    assert all(c.template.ident not in own for c in found)


def test_template_with_oxidation_states_and_site_properties_is_substituted():
    decorated = rock_salt(5.64)
    decorated.add_oxidation_state_by_element({"Na": 1, "Cl": -1})
    decorated.add_site_property("magmom", [0.0] * len(decorated))
    frame = predict_structures([{"K": 1, "Br": 1}], library(decorated))
    assert frame["rank"].tolist() == [1] and frame["reason"].tolist() == [""]
    assert read_structures(frame["structure"].tolist())[0].composition.reduced_formula == "KBr"
