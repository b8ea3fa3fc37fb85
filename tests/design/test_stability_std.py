"""Which E_hull std a row gets: the pipeline's for generated structures, the potential's for given ones.

The stored calibration holds two scales: ``e_hull_std`` (CHGNet relaxing the right, DFT, structure) and
``e_hull_std_pipeline`` (the whole pipeline from the formula, wrong prototypes included). The relaxation
test uses ASE's EMT on Cu-Au-Pt (as tests/design/test_stability.py) so it runs in seconds.
"""

from __future__ import annotations

import json
import math
import warnings

import pytest

from matloop.design.stability import default_e_hull_std, load_calibration, p_below


def test_default_std_picks_the_pipeline_or_the_structure_scale(tmp_path):
    both = tmp_path / "both.json"
    both.write_text(json.dumps({"e_hull_std": 0.11, "e_hull_std_pipeline": 0.19}))
    assert default_e_hull_std(None, generated=True, path=both) == 0.19
    assert default_e_hull_std(None, generated=False, path=both) == 0.11
    old = tmp_path / "old.json"  # a file written before the pipeline std existed
    old.write_text(json.dumps({"e_hull_std": 0.2}))
    assert default_e_hull_std(None, generated=True, path=old) == 0.2
    assert math.isnan(default_e_hull_std(object(), generated=True, path=both))  # another potential: unknown


def test_shipped_pipeline_std_has_provenance():
    cal = load_calibration()
    std, pipe = cal["e_hull_std"], cal["e_hull_std_pipeline"]
    assert 0 < std and 0 < pipe < 1 and math.isfinite(pipe)
    prov = cal["pipeline_calibration"]
    assert {"what", "source", "date", "steps", "structures_per_formula", "summary"} <= set(prov)
    assert prov["summary"]["n"] == len(prov["compounds"]) >= 50
    assert set(prov["compounds"]) <= set(cal["compounds"])  # the calibration compounds, never the evaluation's


def _setup():
    pytest.importorskip("ase")
    pytest.importorskip("pymatgen.core")
    from ase.calculators.emt import EMT
    from pymatgen.core import Composition, Lattice, Structure

    from matloop.design.relax import HullReference
    from matloop.design.structure_search import PrototypeLibrary

    lib = PrototypeLibrary()
    lib.add("t:Ni3Al", Structure(Lattice.cubic(3.57), ["Al", "Ni", "Ni", "Ni"],
                                 [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]))
    fcc = {el: [Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [el], [[0, 0, 0]]).get_primitive_structure()]
           for el, a in (("Cu", 3.6), ("Au", 4.08), ("Pt", 3.92))}
    ref = HullReference([Composition("Cu3Au")], [-0.02], fcc, EMT(), steps=60)
    given = Structure(Lattice.cubic(2.95), ["Cu", "Pt"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # B2 CuPt
    return EMT, lib, ref, given


def test_given_structures_get_the_structure_std_and_generated_the_pipeline_std(monkeypatch):
    EMT, lib, ref, given = _setup()
    from matloop.design import stability

    monkeypatch.setattr(stability, "default_e_hull_std",
                        lambda calculator=None, generated=True, **_: 0.2 if generated else 0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = stability.validate_stability(["Cu3Au", "CuPt"], top_k=2, max_ehull=0.05, structures_per_formula=1,
                                           calculator=EMT(), steps=80, library=lib, reference=ref,
                                           structures=[None, given])
    gen, mine = out.iloc[0], out.iloc[1]
    assert gen["validation"] in ("stable", "metastable", "unstable") and "prototype" in gen["reason"]
    assert mine["validation"] in ("stable", "metastable", "unstable") and "relaxed from the given structure" in mine["reason"]
    assert gen["e_hull_std"] == 0.2 and mine["e_hull_std"] == 0.05
    for row in (gen, mine):
        assert row["p_stable"] == pytest.approx(p_below(row["e_hull"], row["e_hull_std"], 0.05))
    # the given structure, not a prototype, was relaxed: its energy is EMT's relaxed B2 CuPt
    from matloop.design.relax import relax_structures

    alone = relax_structures([given], calculator=EMT(), fmax=0.1, steps=80)
    assert mine["energy_per_atom"] == pytest.approx(float(alone["energy_per_atom"].iloc[0]), abs=1e-6)
    # an explicit e_hull_std still applies to every row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = stability.validate_stability(["CuPt"], top_k=1, calculator=EMT(), e_hull_std=0.07, steps=80,
                                             reference=ref, structures=[given])  # no prototype library needed
    assert fixed["e_hull_std"].iloc[0] == 0.07


def test_a_given_structure_of_another_formula_is_refused():
    EMT, lib, ref, given = _setup()
    from matloop.design.stability import validate_stability
    from matloop.errors import InputError

    with pytest.raises(InputError) as info:
        validate_stability(["Cu3Au", "CuAu"], top_k=2, calculator=EMT(), e_hull_std=0.1, library=lib, reference=ref,
                           structures=[None, given])
    table = info.value.table
    assert table["row"].tolist() == [2] and "CuPt" in table["reason"].iloc[0]
