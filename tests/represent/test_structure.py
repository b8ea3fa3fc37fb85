"""Tests of crystal-structure reading and featurization on structures built with pymatgen.

Fixtures in data/structures/ come from data/structures/make_fixtures.py (which also wrote the matminer
reference values in matminer_reference.json, so these tests do not need matminer installed).
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymatgen.core")
from pymatgen.core import Lattice, Molecule, Structure  # noqa: E402
from sklearn.base import BaseEstimator, clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from matloop import InputError  # noqa: E402
from matloop.represent.structure import SOAPFeaturizer, StructureFeaturizer, read_structures  # noqa: E402

DATA = Path(__file__).parent / "data" / "structures"
from standins import crystals  # noqa: E402

REFERENCE = json.loads((DATA / "matminer_reference.json").read_text())


def build() -> dict[str, Structure]:
    """The six test crystals (tests/standins.py)."""
    return crystals()


CRYSTALS = build()
NAMES = list(CRYSTALS)


@pytest.fixture(scope="module")
def featurized() -> pd.DataFrame:
    featurizer = StructureFeaturizer(composition=None)
    return featurizer.fit_transform(pd.Series(list(CRYSTALS.values()), index=NAMES))


# ---------------------------------------------------------------------------------------- reading
@pytest.mark.parametrize(
    ("filename", "name"),
    [("NaCl.cif", "NaCl"), ("SrTiO3.POSCAR", "SrTiO3"), ("ZnO.json", "ZnO"), ("Si.vasp", "Si"),
     ("CONTCAR", "Fe"), ("Cu.cif.gz", "Cu")],
)  # fmt: skip
def test_read_each_file_format(filename, name):
    (structure,) = read_structures([str(DATA / filename)])
    reference = CRYSTALS[name]
    assert structure.composition == reference.composition
    np.testing.assert_allclose(structure.lattice.abc, reference.lattice.abc, atol=1e-6)
    assert structure.matches(reference)


@pytest.mark.parametrize("fmt", ["cif", "poscar", "json"])
def test_round_trip_through_files_and_text(tmp_path, fmt):
    zno = CRYSTALS["ZnO"]
    suffix = {"cif": "cif", "poscar": "vasp", "json": "json"}[fmt]
    (tmp_path / f"zno.{suffix}").write_text(zno.to(fmt=fmt))
    # relative path against base_dir, the text itself, and a Path object
    from_file, from_text, from_pathlike = read_structures(
        [f"zno.{suffix}", zno.to(fmt=fmt), tmp_path / f"zno.{suffix}"], base_dir=tmp_path
    )
    for structure in (from_file, from_text, from_pathlike):
        assert structure.composition == zno.composition
        np.testing.assert_allclose(structure.frac_coords % 1.0, zno.frac_coords % 1.0, atol=1e-6)
        np.testing.assert_allclose(structure.lattice.matrix, zno.lattice.matrix, atol=1e-6)


def test_objects_dicts_and_poscar_without_known_suffix(tmp_path):
    nacl = CRYSTALS["NaCl"]
    (tmp_path / "nacl_structure.txt").write_text(nacl.to(fmt="poscar"))  # format sniffed from content
    out = read_structures([nacl, nacl.as_dict(), "nacl_structure.txt"], base_dir=tmp_path)
    assert out[0] is nacl
    assert all(s.composition.reduced_formula == "NaCl" and len(s) == 8 for s in out)


def test_bad_rows_are_all_reported_with_paths_and_reasons():
    values = [
        str(DATA / "NaCl.cif"),  # 1 good
        "does_not_exist.cif",  # 2
        str(DATA / "broken.cif"),  # 3
        str(DATA / "vasp4_POSCAR"),  # 4
        str(DATA / "overlap.json"),  # 5
        str(DATA / "foreign_module.json"),  # 6
        str(DATA / "empty.cif"),  # 7
        str(DATA / "two_blocks.cif"),  # 8
        None,  # 9
        Molecule(["H", "H"], [[0, 0, 0], [0, 0, 0.74]]),  # 10
        str(DATA / "ZnO.json"),  # 11 good
    ]
    with pytest.raises(InputError) as info:
        read_structures(pd.DataFrame({"cif_path": values}), base_dir=DATA)
    table = info.value.table
    assert list(table.columns) == ["row", "column", "value", "reason"]
    assert table["row"].tolist() == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert set(table["column"]) == {"cif_path"}
    assert table["value"].iloc[0] == "does_not_exist.cif"
    reasons = dict(zip(table["row"], table["reason"], strict=True))
    assert "file not found" in reasons[2] and str(DATA) in reasons[2]  # resolved against base_dir
    assert "not a readable CIF" in reasons[3]
    assert "does not name its elements" in reasons[4]
    assert "overlapping atoms" in reasons[5] and "0.100 A" in reasons[5]
    assert "outside pymatgen (os)" in reasons[6]
    assert "empty" in reasons[7]
    assert "2 structures" in reasons[8]
    assert reasons[9] == "missing value"
    assert "Molecule" in reasons[10]
    assert "9 problems" in str(info.value)


def test_custom_row_numbers_and_self_overlap():
    tiny = Structure(Lattice.cubic(0.3), ["Cu"], [[0, 0, 0]])  # atom 0.3 A from its own image
    with pytest.raises(InputError) as info:
        read_structures([CRYSTALS["Cu"], tiny], rows=[10, 12], column="cell")
    assert info.value.table[["row", "column"]].values.tolist() == [[12, "cell"]]
    assert "own periodic image" in info.value.table["reason"].iloc[0]


# ---------------------------------------------------------------------------- hand-checked values
def test_density_volume_per_atom_and_packing_fraction(featurized):
    nacl = featurized.loc["NaCl"]
    # 4 NaCl units of 58.443 amu in (5.64 A)^3; 1 amu/A^3 = 1.66054 g/cm^3
    assert nacl["density"] == pytest.approx(4 * (22.98977 + 35.453) / 5.64**3 * 1.66054, rel=1e-5)
    assert nacl["density"] == pytest.approx(2.16, abs=0.005)
    assert nacl["vpa"] == pytest.approx(5.64**3 / 8)
    # fcc Cu: 4 spheres of pymatgen's atomic radius 1.35 A in a^3
    assert featurized.loc["Cu", "packing fraction"] == pytest.approx(4 * 4 / 3 * math.pi * 1.35**3 / 3.615**3)
    for name in NAMES:  # matminer DensityFeatures
        np.testing.assert_allclose(
            featurized.loc[name, ["density", "vpa", "packing fraction"]].to_numpy(float),
            REFERENCE[name]["density"], rtol=1e-12,
        )  # fmt: skip


def test_space_groups_crystal_systems_and_point_groups(featurized):
    expected = {"NaCl": 225, "SrTiO3": 221, "ZnO": 186, "Fe": 229, "Cu": 225, "Si": 227}
    assert featurized["spacegroup_num"].to_dict() == expected
    assert all(
        featurized.loc[n, "spacegroup_num"] == REFERENCE[n]["symmetry"]["spacegroup_num"] for n in NAMES
    )
    onehot = featurized.filter(like="crystal_system=")
    assert (onehot.sum(axis=1) == 1).all()
    assert onehot.idxmax(axis=1).to_dict() == {
        n: f"crystal_system={REFERENCE[n]['symmetry']['crystal_system']}" for n in NAMES
    }
    assert featurized.loc["ZnO", "crystal_system=hexagonal"] == 1
    assert featurized["point_group_order"].to_dict() == {n: 12 if n == "ZnO" else 48 for n in NAMES}
    assert featurized["is_centrosymmetric"].to_dict() == {n: float(n != "ZnO") for n in NAMES}
    assert featurized["n_sites_primitive"].to_dict() == {
        "NaCl": 2,
        "SrTiO3": 5,
        "ZnO": 4,
        "Fe": 1,
        "Cu": 1,
        "Si": 2,
    }


def test_lattice_statistics_use_the_conventional_cell():
    featurizer = StructureFeaturizer(features=["lattice"], composition=None)
    out = featurizer.fit_transform([CRYSTALS["NaCl"].get_primitive_structure(), CRYSTALS["ZnO"]])
    np.testing.assert_allclose(out.iloc[0, :6], [5.64, 5.64, 5.64, 90, 90, 90], atol=1e-8)
    np.testing.assert_allclose(out.iloc[1, :6], [3.25, 3.25, 5.207, 90, 90, 120], atol=1e-8)
    assert out.loc[1, "lattice c/a"] == pytest.approx(5.207 / 3.25)
    assert out.loc[1, "lattice b/a"] == pytest.approx(1.0)


def test_coordination_numbers_and_nearest_neighbour_distances(featurized):
    cn = {"NaCl": 6, "ZnO": 4, "Fe": 8, "Cu": 12, "Si": 4}
    for name, value in cn.items():
        assert featurized.loc[name, ["cn mean", "cn min", "cn max"]].tolist() == [value] * 3, name
        assert featurized.loc[name, "cn std"] == 0
    # perovskite: Sr 12 O, Ti 6 O, each O 2 Ti  -> mean (12 + 6 + 3 * 2) / 5
    assert featurized.loc["SrTiO3", ["cn mean", "cn min", "cn max"]].tolist() == [4.8, 2, 12]
    nn = {
        "NaCl": 5.64 / 2,
        "Fe": 2.866 * math.sqrt(3) / 2,
        "Cu": 3.615 / math.sqrt(2),
        "Si": 5.431 * math.sqrt(3) / 4,
    }
    for name, value in nn.items():
        assert featurized.loc[name, "nn distance mean"] == pytest.approx(value), name


def test_covalent_radius_coordination():
    featurizer = StructureFeaturizer(features=["coordination"], coordination="covalent", composition=None)
    out = featurizer.fit_transform([CRYSTALS[n] for n in ("NaCl", "Si", "Cu", "ZnO", "Fe")])
    # bcc counts its second shell (6 more at a = 2.866 A < 1.1 x 2 x 1.42 A) by this rule
    assert out["cn mean"].tolist() == [6, 4, 12, 4, 14]


def test_rdf_first_peak_at_nearest_neighbour_distance(featurized):
    rdf = featurized.filter(like="rdf ")
    assert rdf.shape[1] == 20  # 0-10 A in 0.5 A bins
    for name in NAMES:
        nn = featurized.loc[name, "nn distance min"]
        first = int(np.flatnonzero(rdf.loc[name].to_numpy() > 0)[0])
        assert first * 0.5 <= nn < (first + 1) * 0.5, name
    # NaCl: 6 neighbours at 2.82 A in the [2.5, 3.0) shell, number density 8 / 5.64^3
    shell = 4 / 3 * math.pi * (3.0**3 - 2.5**3)
    assert rdf.loc["NaCl"].iloc[5] == pytest.approx(6 / shell / (8 / 5.64**3))
    for name in NAMES:  # matminer RadialDistributionFunction is ours times the number of sites
        ours = _merge_bins_at_exact_edges(rdf.loc[name].to_numpy() * len(CRYSTALS[name]), CRYSTALS[name])
        theirs = _merge_bins_at_exact_edges(np.asarray(REFERENCE[name]["rdf"]), CRYSTALS[name])
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def _merge_bins_at_exact_edges(rdf: np.ndarray, structure: Structure) -> np.ndarray:
    """Pair counts per shell, with the two shells around an edge that a pair distance lies on (to
    1e-6 A) merged: which side such a pair falls on depends on the last bit of the neighbour search
    (wurtzite's 2a = 6.5 A), so only the merged count is comparable between codes."""
    edges = np.linspace(0.0, 10.0, 21)
    counts = rdf * 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3) * len(structure) / structure.volume
    distances = structure.get_neighbor_list(10.0)[3]
    on_edge = [i for i in range(1, 20) if np.any(np.abs(distances - edges[i]) < 1e-6)]
    groups = np.cumsum([i not in on_edge for i in range(20)])
    return np.bincount(groups, weights=counts)


def test_sine_coulomb_eigenvalues():
    structures = list(CRYSTALS.values())
    primitive = StructureFeaturizer(features=["sine_coulomb"], composition=None).fit(structures)
    assert primitive.n_sine_eigenvalues_ == 5  # SrTiO3 has the largest primitive cell
    out = primitive.transform(structures)
    assert out.shape == (6, 5)
    # a one-atom primitive cell is a 1x1 matrix 0.5 Z^2.4, padded with zeros
    np.testing.assert_allclose(out.iloc[4], [0.5 * 29**2.4, 0, 0, 0, 0])
    as_given = StructureFeaturizer(features=["sine_coulomb"], composition=None, primitive=False).fit(
        structures
    )
    out = as_given.transform(structures)
    assert out.shape == (6, 8)  # 8 sites in the conventional NaCl and Si cells
    for name, row in zip(NAMES, out.to_numpy(), strict=True):  # matminer's SineCoulombMatrix, sorted
        n = len(CRYSTALS[name])
        np.testing.assert_allclose(row[:n], REFERENCE[name]["sine_coulomb"], rtol=1e-10)
        assert np.all(row[n:] == 0)
    assert np.all(np.diff(np.abs(out.iloc[0])) <= 1e-9)  # sorted by decreasing magnitude
    truncated = StructureFeaturizer(features=["sine_coulomb"], composition=None, n_sine_eigenvalues=2)
    np.testing.assert_allclose(truncated.fit_transform([CRYSTALS["SrTiO3"]]).iloc[0], out.iloc[1, :2])


@pytest.mark.parametrize(
    ("group", "lattice", "species", "coords"),
    [
        ("R-3c", Lattice.hexagonal(4.76, 12.99), ["Al", "O"], [[0, 0, 0.352], [0.306, 0, 0.25]]),
        ("C2/m", Lattice.monoclinic(5, 3, 4, 100), ["Na", "Cl"], [[0.1, 0, 0.3], [0.3, 0, 0.8]]),
        ("Amm2", Lattice.orthorhombic(3, 4, 5), ["Na", "Cl"], [[0, 0, 0], [0.5, 0, 0.3]]),
        ("I4/mmm", Lattice.tetragonal(3, 9), ["Ba", "Fe"], [[0, 0, 0], [0, 0.5, 0.25]]),
        ("Fddd", Lattice.orthorhombic(5, 7, 9), ["S"], [[0.1, 0.2, 0.3]]),
    ],
)
@pytest.mark.filterwarnings("ignore:.*OLD_ERROR_HANDLING:DeprecationWarning")
def test_primitive_cell_matches_spglib_for_every_centring(group, lattice, species, coords):
    import spglib

    from matloop.represent import structure_math as sm

    conventional = Structure.from_spacegroup(group, lattice, species, coords)
    shuffled = Structure.from_sites(
        [conventional[i] for i in np.random.default_rng(0).permutation(len(conventional))]
    )
    dataset = sm.symmetry_analysis(shuffled, 0.01, 5.0)
    ours = sm.primitive_cell(dataset, np.array(shuffled.atomic_numbers))
    cell = (shuffled.lattice.matrix, shuffled.frac_coords, np.array(shuffled.atomic_numbers))
    reference = spglib.standardize_cell(cell, to_primitive=True, symprec=0.01)
    assert len(ours[2]) == len(reference[2]) < len(conventional)
    np.testing.assert_allclose(ours[0] @ ours[0].T, reference[0] @ reference[0].T, atol=1e-8)  # same metric
    np.testing.assert_allclose(sm.sine_coulomb_eigenvalues(*ours), sm.sine_coulomb_eigenvalues(*reference))


def test_features_do_not_depend_on_cell_choice_or_origin():
    nacl = CRYSTALS["NaCl"]
    shifted = nacl.copy()
    shifted.translate_sites(range(len(nacl)), [0.11, 0.23, 0.37])
    cells = [nacl, nacl.get_primitive_structure(), nacl * (2, 1, 1), shifted]
    out = StructureFeaturizer(composition=None).fit_transform(cells)
    np.testing.assert_allclose(out.to_numpy() - out.iloc[0].to_numpy(), 0, atol=1e-9)


def test_transform_keeps_columns_and_index_of_fit(featurized):
    featurizer = StructureFeaturizer(composition=None).fit(list(CRYSTALS.values()))
    out = featurizer.transform(pd.Series([CRYSTALS["Cu"]], index=["row-a"]))
    assert list(out.columns) == list(featurizer.get_feature_names_out()) == list(featurized.columns)
    assert out.index.tolist() == ["row-a"]
    np.testing.assert_allclose(out.iloc[0], featurized.loc["Cu"])
    assert len(featurizer.feature_labels()) == out.shape[1]
    assert "density (g/cm^3)" in featurizer.feature_labels()
    assert any("Faber" in c for c in featurizer.citations())


def test_paths_in_featurizer_and_disordered_rows():
    alloy = Structure(
        Lattice.cubic(3.56),
        [{"Fe": 0.5, "Ni": 0.5}] * 4,
        [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )
    with pytest.raises(InputError) as info:
        StructureFeaturizer(composition=None).fit_transform(["NaCl.cif", alloy, "Si.vasp"])
    assert info.value.table["row"].tolist() == [1, 2, 3]  # relative paths need base_dir; disorder reported too
    with pytest.raises(InputError) as info:
        StructureFeaturizer(composition=None, base_dir=DATA).fit_transform(["NaCl.cif", alloy, "Si.vasp"])
    assert info.value.table["row"].tolist() == [2]
    assert "disordered" in info.value.table["reason"].iloc[0]
    ordered_ok = StructureFeaturizer(
        features=("density", "symmetry", "lattice"), composition=None, base_dir=DATA
    )
    out = ordered_ok.fit_transform(["NaCl.cif", alloy])
    mass = 2 * 55.845 + 2 * 58.6934  # 4 sites of half Fe, half Ni
    assert out.loc[1, "density"] == pytest.approx(mass / 3.56**3 * 1.66054, rel=1e-5)
    assert out.loc[1, "spacegroup_num"] == 225


def test_parameter_checks_and_sklearn_api():
    with pytest.raises(NotFittedError):
        StructureFeaturizer(composition=None).transform([CRYSTALS["Cu"]])
    with pytest.raises(ValueError, match="unknown feature groups"):
        StructureFeaturizer(features=["density", "voronoi"], composition=None).fit([CRYSTALS["Cu"]])
    featurizer = StructureFeaturizer(features=["density"], composition=None, symprec=0.1)
    copy = clone(featurizer)
    assert copy.get_params()["symprec"] == 0.1
    assert copy.fit_transform([CRYSTALS["Cu"]]).shape == (1, 3)


class _CountElements(BaseEstimator):
    """A stand-in composition featurizer: number of elements in the formula."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        from matloop.io.formula import parse_formulas

        return pd.DataFrame({"n_elements": parse_formulas(np.asarray(X, dtype=object)).n_elements})

    def get_feature_names_out(self, input_features=None):
        return np.array(["n_elements"], dtype=object)


def test_composition_featurizer_of_the_cell():
    featurizer = StructureFeaturizer(features=["density"], composition=_CountElements())
    out = featurizer.fit_transform([CRYSTALS["SrTiO3"], CRYSTALS["Cu"]])
    assert list(out.columns) == ["density", "vpa", "packing fraction", "n_elements"]
    assert out["n_elements"].tolist() == [3, 1]


@pytest.mark.skipif(
    importlib.util.find_spec("matloop.represent.element_property") is None,
    reason="the magpie composition featurizer (matloop.represent.element_property) is not written yet",
)
def test_magpie_composition_preset_of_the_cell():
    featurizer = StructureFeaturizer(features=["density"], composition="magpie")
    out = featurizer.fit_transform([CRYSTALS["NaCl"]])
    assert out.shape[1] == 3 + 132
    assert out.loc[0, "MagpieData mean Number"] == pytest.approx((11 + 17) / 2)


# -------------------------------------------------------------------------------------------- SOAP
SOAP_PARAMS = {"r_cut": 4.0, "n_max": 3, "l_max": 2, "sigma": 0.5}


@pytest.mark.parametrize("average", ["outer", "inner"])
def test_soap_shape_and_invariance(average):
    pytest.importorskip("dscribe")
    nacl, zno = CRYSTALS["NaCl"], CRYSTALS["ZnO"]
    featurizer = SOAPFeaturizer(average=average, **SOAP_PARAMS).fit([nacl, zno])
    assert featurizer.species_ == ["O", "Na", "Cl", "Zn"]  # by atomic number
    n = 4 * SOAP_PARAMS["n_max"]
    expected_width = n * (n + 1) // 2 * (SOAP_PARAMS["l_max"] + 1)
    base = featurizer.transform([nacl, zno])
    assert base.shape == (2, expected_width)
    assert base.columns.is_unique and base.columns[0] == "soap O-O 0"
    assert (base.filter(like="soap Na-Cl").iloc[0] != 0).any()
    assert (base.filter(like="soap O-Zn").iloc[0] == 0).all()  # no O or Zn in NaCl
    shifted = nacl.copy()
    shifted.translate_sites(range(len(nacl)), [0.13, 0.27, 0.41])
    other = featurizer.transform([shifted, zno * (2, 2, 1)])
    np.testing.assert_allclose(other.to_numpy(), base.to_numpy(), atol=1e-10)
    primitive = featurizer.transform([nacl.get_primitive_structure()])
    np.testing.assert_allclose(primitive.to_numpy()[0], base.to_numpy()[0], atol=1e-10)


def test_soap_species_are_fixed_at_fit():
    pytest.importorskip("dscribe")
    featurizer = SOAPFeaturizer(**SOAP_PARAMS).fit([CRYSTALS["Cu"], CRYSTALS["Si"]])
    with pytest.raises(InputError) as info:
        featurizer.transform([CRYSTALS["Cu"], CRYSTALS["NaCl"]])
    assert info.value.table["row"].tolist() == [2]
    assert "Cl, Na" in info.value.table["reason"].iloc[0]
    fixed = SOAPFeaturizer(species=["Cu", "Si", "Na", "Cl"], **SOAP_PARAMS)
    a = fixed.fit([CRYSTALS["Cu"]]).transform([CRYSTALS["NaCl"]])
    b = clone(fixed).fit([CRYSTALS["Si"]]).transform([CRYSTALS["NaCl"]])
    assert list(a.columns) == list(b.columns)
    np.testing.assert_allclose(a, b)
    assert any("DScribe" in c for c in fixed.citations())


def test_soap_without_dscribe_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dscribe", None)
    monkeypatch.setitem(sys.modules, "dscribe.descriptors", None)
    with pytest.raises(ImportError, match=r"matloop\[soap\]"):
        SOAPFeaturizer().fit([CRYSTALS["Cu"]])
