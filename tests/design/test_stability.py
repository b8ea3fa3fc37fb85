"""Stability check (matloop.design.stability): formulas -> prototypes -> relaxation -> E_hull, with EMT.

EMT (ASE's effective-medium potential for Cu, Au, Ni, Pt, ...) stands in for CHGNet so the real
pipeline runs in seconds: a hand-made prototype library (L1_2 Ni3Al, B2 NiAl), fcc elemental
references relaxed with the same potential, and a hull of given formation energies.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from matloop.design.stability import nearest_formula, p_below


def test_nearest_formula_and_p_below():
    counts, err = nearest_formula({"Fe": 0.62, "Ni": 0.38})
    assert counts == {"Fe": 5, "Ni": 3} and err == pytest.approx(0.005)
    counts, err = nearest_formula({"Fe": 0.9, "Ni": 0.05, "Co": 0.05}, max_atoms=12)
    assert counts["Fe"] > counts["Ni"] == counts["Co"] == 1 and err < 0.1
    assert nearest_formula({el: 1.0 for el in "H He Li Be B".split()}, max_atoms=3)[0] == dict.fromkeys(
        "H He Li Be B".split(), 1)  # more elements than atoms allowed: one of each
    steel = {"Fe": 0.62, "Ni": 0.19, "Co": 0.146, "Ti": 0.019, "Mo": 0.018, "C": 0.007}
    counts, err = nearest_formula(steel)  # additions under half an atom in 12 are left out, counted in the error
    assert set(counts) == {"Fe", "Ni", "Co"} and counts["Fe"] > counts["Ni"] >= counts["Co"] and 0.019 <= err < 0.1
    assert p_below(0.1, 0.05, 0.1) == pytest.approx(0.5)
    assert p_below(0.0, 0.05, 0.1) == pytest.approx(0.977, abs=0.001)
    assert math.isnan(p_below(0.0, float("nan"), 0.1)) and math.isnan(p_below(float("nan"), 0.1, 0.1))


def test_hull_distance_of_known_compounds_leave_one_out():
    """flla's RbI lies on the Rb-I hull (DFT); left out of its own hull it lies below it."""
    pytest.importorskip("pymatgen.core")
    from matloop.design.relax import HullReference

    ref = HullReference.from_dataset("flla")
    frame_ef = dict(zip(ref._formulas, ref.formation_energies, strict=True))
    on, products = ref.hull_distance("RbI", frame_ef["RbI"])
    assert on == pytest.approx(0.0, abs=1e-6) and products == "RbI"
    below, _ = ref.hull_distance("RbI", frame_ef["RbI"], leave_out=["RbI"])
    assert below < -0.5  # nothing else in Rb-I is near: the elements are the hull
    above, products = ref.hull_distance("RbI", frame_ef["RbI"] + 0.25)
    assert above == pytest.approx(0.25, abs=1e-6) and products == "RbI"


@pytest.fixture(autouse=True)
def _needs_ase(request):
    """Everything below the hull test relaxes structures with ASE's EMT."""
    if request.node.name not in ("test_nearest_formula_and_p_below", "test_hull_distance_of_known_compounds_leave_one_out"):
        pytest.importorskip("ase")
        pytest.importorskip("pymatgen.core")


def _library():
    from pymatgen.core import Lattice, Structure

    from matloop.design.structure_search import PrototypeLibrary

    lib = PrototypeLibrary()
    lib.add("t:Ni3Al", Structure(Lattice.cubic(3.57), ["Al", "Ni", "Ni", "Ni"],
                                 [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]))
    lib.add("t:NiAl", Structure(Lattice.cubic(2.88), ["Ni", "Al"], [[0, 0, 0], [0.5, 0.5, 0.5]]))
    return lib


def _reference(calculator, cu3au_ef: float):
    from pymatgen.core import Composition, Lattice, Structure

    from matloop.design.relax import HullReference

    fcc = {el: [Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [el], [[0, 0, 0]]).get_primitive_structure()]
           for el, a in (("Cu", 3.6), ("Au", 4.08), ("Pt", 3.92))}
    return HullReference([Composition("Cu3Au")], [cu3au_ef], fcc, calculator, steps=60)


def _run(calculator, reference, scheduler=None, top_k=4):
    from matloop.design.stability import validate_stability

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return validate_stability(["Cu3Au", "CuPt", "CuAu2", "Cu3Al", "Au3Cu"], top_k=top_k, max_ehull=0.05,
                                  structures_per_formula=2, calculator=calculator, e_hull_std=0.04, steps=80,
                                  library=_library(), reference=reference, scheduler=scheduler)


def test_pipeline_statuses_and_hull_with_emt():
    from ase.calculators.emt import EMT
    from pymatgen.core import Structure

    ref = _reference(EMT(), cu3au_ef=-0.5)  # a known Cu3Au far below EMT's: the candidate is unstable
    out = _run(EMT(), ref)
    by = dict(zip(["Cu3Au", "CuPt", "CuAu2", "Cu3Al", "Au3Cu"], out.to_dict("records"), strict=True))
    cu3au = by["Cu3Au"]
    assert cu3au["validation"] == "unstable" and cu3au["decomposition"] == "Cu3Au"
    # E_hull = EMT formation energy - (-0.5): the relaxed energy against EMT's own fcc references
    assert cu3au["e_hull"] == pytest.approx(cu3au["formation_energy"] + 0.5, abs=1e-6)
    assert cu3au["formation_energy"] == pytest.approx(ref.formation_energy(
        Structure.from_str(cu3au["structure"], fmt="cif").composition, cu3au["energy_per_atom"]), abs=1e-6)
    assert -0.2 < cu3au["formation_energy"] < 0.05 and cu3au["relax_converged"] is True
    assert cu3au["p_stable"] < 0.01 and "above the hull" in cu3au["reason"] and "t:Ni3Al" in cu3au["prototype"]
    cupt = by["CuPt"]  # no known Cu-Pt compound: E_hull is EMT's formation energy of the B2 cell (< 0)
    assert cupt["validation"] == "stable" and cupt["decomposition"] == "Cu + Pt" and "no known Cu-Pt" in cupt["reason"]
    assert cupt["e_hull"] == pytest.approx(cupt["formation_energy"]) and cupt["e_hull"] < 0
    assert by["CuAu2"]["validation"] == "no_structure" and "AB2" in by["CuAu2"]["reason"]
    assert by["Cu3Al"]["validation"] == "no_reference" and "Al" in by["Cu3Al"]["reason"]
    assert by["Au3Cu"]["validation"] == "not_validated" and np.isnan(by["Au3Cu"]["e_hull"])
    # the same Cu3Au against a hull where it is new (known Cu3Au far above): on or below the hull, stable
    high = _run(EMT(), _reference(EMT(), cu3au_ef=0.3), top_k=1)
    assert high["validation"].iloc[0] == "stable" and high["e_hull"].iloc[0] < 0
    assert high["p_stable"].iloc[0] == pytest.approx(p_below(high["e_hull"].iloc[0], 0.04, 0.05))
    assert "on or below the hull of the known Au-Cu compounds" in high["reason"].iloc[0]


def test_dask_relaxations_equal_in_process():
    pytest.importorskip("dask.distributed")
    from ase.calculators.emt import EMT
    from dask.distributed import Client, LocalCluster
    from pymatgen.core import Lattice, Structure

    from matloop.design.relax import relax_parallel

    cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.70), ["Cu"], [[0, 0, 0]])
    structures = [Structure(cu.lattice, cu.species, cu.cart_coords + np.random.default_rng(seed).normal(0, 0.08, (4, 3)),
                            coords_are_cartesian=True) for seed in range(3)]
    local = relax_parallel(structures, calculator=EMT(), fmax=0.05, steps=60)
    seen = []
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        remote = relax_parallel(structures, calculator=EMT(), fmax=0.05, steps=60, scheduler=client,
                                progress=lambda done, total: seen.append((done, total)))
        ref = _reference(EMT(), cu3au_ef=-0.5)
        on_dask = _run(EMT(), ref, scheduler=client, top_k=2)  # the whole pipeline, relaxations on the cluster
    in_process = _run(EMT(), ref, top_k=2)
    assert on_dask["validation"].tolist() == in_process["validation"].tolist() == \
        ["unstable", "stable", "not_validated", "not_validated", "not_validated"]
    assert np.allclose(on_dask["e_hull"].iloc[:2], in_process["e_hull"].iloc[:2], atol=1e-8)
    assert np.allclose(remote["energy_per_atom"], local["energy_per_atom"], atol=1e-8)
    assert list(remote["converged"]) == list(local["converged"]) and seen[-1] == (3, 3)


def test_not_converged_and_collapse_are_reported():
    from ase.calculators.emt import EMT
    from pymatgen.core import Lattice, Structure

    from matloop.design.relax import relax_structures

    squeezed = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.2), ["Cu"], [[0, 0, 0]])  # far too large
    out = relax_structures([squeezed], calculator=EMT(), fmax=1e-4, steps=3)
    assert not out["converged"].iloc[0] and "not converged in 3 steps" in out["reason"].iloc[0]
    timed = relax_structures([squeezed], calculator=EMT(), fmax=1e-4, steps=500, max_seconds=0.0)
    assert not timed["converged"].iloc[0] and timed["reason"].iloc[0].startswith("stopped after 0 s")


def test_a_formation_energy_correction_shifts_e_hull_and_is_said():
    """The potential's predicted error is subtracted before the hull: E_hull and the formation energy move by
    exactly the correction (Cu3Au left out of its own hull, so E_hull is linear in its energy)."""
    from ase.calculators.emt import EMT

    from matloop.design.stability import validate_stability
    from matloop.design.stability_calibration import Correction

    ref = _reference(EMT(), cu3au_ef=-0.5)

    def run(correction):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return validate_stability(["Cu3Au"], top_k=1, max_ehull=0.05, structures_per_formula=1, calculator=EMT(),
                                      e_hull_std=0.04, steps=80, library=_library(), reference=ref,
                                      correction=correction, leave_out=True).iloc[0]

    plain = run(None)  # another calculator than CHGNet: no correction by default
    shifted = run(Correction("per_element", 0.1, {"Cu": 0.2, "Au": -0.4}))  # error 0.1 + 0.75*0.2 - 0.25*0.4 = 0.15
    assert "corrected" not in plain["reason"] and "corrected to" in shifted["reason"]
    assert shifted["formation_energy"] == pytest.approx(plain["formation_energy"] - 0.15, abs=1e-9)
    assert shifted["e_hull"] == pytest.approx(plain["e_hull"] - 0.15, abs=1e-9)
    assert shifted["energy_per_atom"] == pytest.approx(plain["energy_per_atom"], abs=1e-12)
    assert shifted["p_stable"] == pytest.approx(p_below(shifted["e_hull"], 0.04, 0.05))
