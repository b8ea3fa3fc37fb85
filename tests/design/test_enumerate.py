"""Enumeration of chemical spaces and the SMACT chemistry rules."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from matloop.design.chemistry_rules import ChemistryRules, oxidation_state_set, smact_valid
from matloop.design.enumerate import (
    ElementSpace,
    StoichiometrySpace,
    enumerate_compositions,
    integer_formulas,
    parse_elements,
    parse_ranges,
)
from matloop.errors import InputError
from matloop.io.elements import ATOMIC_NUMBER
from matloop.io.formula import parse_formulas


def _rows(comps):
    """Each composition as a sorted tuple of (Z, count)."""
    out = []
    for i in range(len(comps)):
        a, b = comps.indptr[i], comps.indptr[i + 1]
        out.append(tuple(zip(comps.z[a:b].tolist(), comps.amount[a:b].astype(int).tolist(), strict=True)))
    return out


def _brute_force(elements, max_atoms, min_el, max_el):
    zs = sorted(ATOMIC_NUMBER[e] for e in elements)
    out = set()
    for s in range(min_el, max_el + 1):
        for sub in itertools.combinations(zs, s):
            for counts in itertools.product(range(1, max_atoms + 1), repeat=s):
                if sum(counts) <= max_atoms and math.gcd(*counts) == 1:
                    out.add(tuple(zip(sub, counts, strict=True)))
    return out


def test_element_space_is_every_reduced_formula_once():
    space = ElementSpace(["O", "Li", "Fe", "P"], max_atoms=9, max_elements=3)
    comps = space.block(0, space.n_raw)
    rows = _rows(comps)
    assert len(rows) == len(set(rows)) == space.count()
    assert set(rows) == _brute_force(["Li", "Fe", "P", "O"], 9, 2, 3)
    assert np.all(np.diff(comps.z.astype(int))[np.diff(comps.row) == 0] > 0)  # ascending Z per row
    assert space.n_raw == sum(math.comb(4, s) * math.comb(9, s) for s in (2, 3))


def test_chunks_and_random_access_agree_with_one_block():
    space = ElementSpace(["Li", "Fe", "Mn", "P", "O"], max_atoms=12)
    whole = _rows(space.block(0, space.n_raw))
    for size in (997, 5000):
        chunked = [r for c in space.chunks(size) for r in _rows(c)]
        assert chunked == whole
    part = _rows(space.block(1234, 4321))
    assert part == _rows(space.block(0, 4321))[len(_rows(space.block(0, 1234))):]


def test_huge_space_is_lazy():
    space = ElementSpace(["Li", "Na", "K", "Mg", "Ca", "Fe", "Mn", "Co", "Ni", "Cu", "P", "S", "O", "F", "Cl"],
                         max_atoms=40, max_elements=4)
    assert space.n_raw > 10**8
    first = next(space.chunks(10_000))
    assert 0 < len(first) <= 10_000
    tail = space.block(space.n_raw - 50, space.n_raw + 10)  # the last raw indices, clipped
    assert len(tail) <= 50 and np.all(tail.n_elements == 4)


def test_stoichiometry_ranges_keep_smallest_multiple_in_range():
    space = StoichiometrySpace({"Li": (0, 2), "Fe": (1, 2), "P": (1, 2), "O": (4, 8)})
    formulas = set(integer_formulas(space.block(0, space.n_raw)))
    assert {"LiFePO4", "FePO4", "Fe2P2O4", "Li2FeP2O8"} <= formulas
    assert "Fe2P2O8" not in formulas and "Li2Fe2P2O8" not in formulas  # = FePO4, LiFePO4
    only_big = StoichiometrySpace({"Fe": 2, "O": (6, 6)})  # Fe2O6: FeO3 itself is out of range
    assert integer_formulas(only_big.block(0, only_big.n_raw)) == ["Fe2O6"]
    capped = StoichiometrySpace({"Li": (0, 3), "O": (1, 3)}, max_atoms=3)
    assert max(capped.block(0, capped.n_raw).total) <= 3


def test_enumerate_compositions_and_parsers():
    n = sum(len(c) for c in enumerate_compositions(["Na", "Cl"], max_atoms=6, chunk_size=4))
    assert n == len(_brute_force(["Na", "Cl"], 6, 2, 2))
    assert parse_elements("Li, Fe Mn,P,O") == ["Li", "Fe", "Mn", "P", "O"]
    assert parse_ranges("Li=0:2, Fe=1;O=3-5") == {"Li": (0, 2), "Fe": (1, 1), "O": (3, 5)}
    for bad in ("Xx,O", "Li,Li"):
        with pytest.raises(InputError):
            parse_elements(bad)
    with pytest.raises(InputError) as err:
        parse_ranges("Li=a:b,Fe")
    assert len(err.value.table) == 2
    with pytest.raises(InputError):
        StoichiometrySpace({"Li": (2, 1)})
    with pytest.raises(InputError):
        ElementSpace(["Li", "O"], max_atoms=20, min_elements=3)


def test_integer_formulas_order_by_electronegativity():
    comps = parse_formulas(["O4PFeLi", "O3Fe2", "ClNa", "Fe0.5O0.75"])
    assert integer_formulas(comps) == ["LiFePO4", "Fe2O3", "NaCl", "Fe0.5O0.75"]
    assert integer_formulas(comps, order="z") == ["LiO4PFe", "O3Fe2", "NaCl", "O0.75Fe0.5"]


# --------------------------------------------------------------------------- chemistry rules
def test_smact_rules_hand_cases():
    rules = ChemistryRules()
    formulas = ["LiFePO4", "NaCl2", "Fe2O3", "NaCl", "Fe3O4", "SiCl", "Fe", "FeNi", "HeO", "Fe0.4O0.6"]
    assert rules.valid(formulas).tolist() == [True, False, True, True, False, False, True, False, False, True]
    # SiCl is charge neutral only as Si(-3) Cl(+3): chlorine is more electronegative than silicon
    assert ChemistryRules(pauling=False).valid(["SiCl"]).tolist() == [True]
    assert ChemistryRules(allow_alloys=True).valid(["FeNi", "Fe3Al", "FeO"]).all()
    assert smact_valid(["Fe3O4"], oxidation_states="common").tolist() == [False]  # one state per element
    assert rules.explain(["LiFePO4", "Fe2O3", "NaCl2", "Fe"]) == ["Li+1 O-2 P+5 Fe+2", "O-2 Fe+3", "", "element"]


def test_rules_vectorised_equal_one_at_a_time():
    space = ElementSpace(["Li", "Mn", "Fe", "P", "O", "F"], max_atoms=8, max_elements=4)
    comps = space.block(0, space.n_raw)
    rules = ChemistryRules("smact14")
    together = rules.valid(comps)
    picks = np.random.default_rng(0).choice(len(comps), 300, replace=False)
    alone = [bool(ChemistryRules("smact14").valid(comps.take([i]))[0]) for i in picks]
    assert together[picks].tolist() == alone
    assert 0 < together.mean() < 1


# counts of smact.screening.smact_filter(els, threshold=6, species_unique=False, oxidation_states_set=SET)
# with SMACT 4.0.2: every ratio with coefficients 1..6 and no common divisor, all elements present
SMACT_COUNTS = [
    ("icsd24", ("Li", "Fe", "P", "O"), 916),
    ("icsd24", ("Cs", "Pb", "I"), 23),
    ("icsd24", ("Cu", "Zn", "Sn", "S"), 879),
    ("icsd24", ("Ba", "Ti", "O"), 24),
    ("smact14", ("Li", "Fe", "P", "O"), 927),
    ("smact14", ("Cu", "Zn", "Sn", "S"), 553),
    ("smact14", ("Ba", "Ti", "O"), 53),
    ("icsd16", ("Cs", "Pb", "I"), 9),
    ("icsd16", ("Ba", "Ti", "O"), 36),
]


@pytest.mark.parametrize(("oxidation_states", "elements", "expected"), SMACT_COUNTS)
def test_counts_equal_smact_filter(oxidation_states, elements, expected):
    space = StoichiometrySpace(dict.fromkeys(elements, (1, 6)))
    comps = space.block(0, space.n_raw)
    assert int(ChemistryRules(oxidation_states).valid(comps).sum()) == expected


def test_same_compositions_as_installed_smact():
    screening = pytest.importorskip("smact.screening")
    from smact import Element

    elements = ("Li", "Mn", "P", "O")
    ref = screening.smact_filter([Element(e) for e in elements], threshold=5, species_unique=False)
    theirs = {tuple(sorted((ATOMIC_NUMBER[e], n) for e, n in zip(els, ratio, strict=True))) for els, ratio in ref}
    comps = StoichiometrySpace(dict.fromkeys(elements, (1, 5))).block(0, 5**4)
    ok = ChemistryRules("icsd24").valid(comps)
    assert set(_rows(comps.take(np.flatnonzero(ok)))) == theirs


def test_oxidation_state_sets_and_errors():
    assert oxidation_state_set("icsd24")["Fe"] == [1, 2, 3, 4, 5, 6]
    assert oxidation_state_set("common")["O"] == [-2]
    custom = ChemistryRules({"Na": [1], "Cl": [-1]})
    assert custom.valid(["NaCl", "NaCl2", "NaO"]).tolist() == [True, False, False]
    from matloop.errors import MatloopError

    with pytest.raises(MatloopError):
        ChemistryRules("nonsense")
    with pytest.raises(MatloopError):
        ChemistryRules({"Xx": [1]})
