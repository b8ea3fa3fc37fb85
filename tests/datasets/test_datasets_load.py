"""Every bundled dataset loads, with the row counts stated in the PROVENANCE.md tables.

The expected numbers below are copied by hand from the PROVENANCE.md files that sit beside the
data (and that were written when the data were collected), so a wrong or truncated bundle fails.
Each dataset is decompressed once, in one test that checks everything about it.
"""

from __future__ import annotations

import hashlib
import lzma
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matloop import InputError
from matloop.datasets import SPECS, UnknownDatasetError, info, list_datasets, load, names
from matloop.datasets import loader as loader_module
from matloop.io import INPUT_KINDS, Dataset

# name -> (rows, columns) from the PROVENANCE.md tables.
MATBENCH = {
    "matbench_steels": (312, ["mbid", "composition", "yield strength", "fold"]),
    "matbench_expt_gap": (4604, ["mbid", "composition", "gap expt", "fold"]),
    "matbench_expt_is_metal": (4921, ["mbid", "composition", "is_metal", "fold"]),
    "matbench_glass": (5680, ["mbid", "composition", "gfa", "fold"]),
    "matbench_jdft2d": (636, ["mbid", "composition", "spg_num", "crys_sys", "exfoliation_en", "fold"]),
    "matbench_log_gvrh": (10987, ["mbid", "composition", "spg_num", "crys_sys", "log10(G_VRH)", "fold"]),
    "matbench_log_kvrh": (10987, ["mbid", "composition", "spg_num", "crys_sys", "log10(K_VRH)", "fold"]),
    "matbench_perovskites": (18928, ["mbid", "composition", "spg_num", "crys_sys", "e_form", "fold"]),
    "matbench_mp_gap": (106113, ["mbid", "composition", "spg_num", "crys_sys", "gap pbe", "fold"]),
    "matbench_mp_e_form": (132752, ["mbid", "composition", "spg_num", "crys_sys", "e_form", "fold"]),
    "matbench_mp_is_metal": (106113, ["mbid", "composition", "spg_num", "crys_sys", "is_metal", "fold"]),
}
# name -> {split: rows} from the CrabNet table ("rows (train/val/test)"; OQMD_Bandgap 341,608 total).
CRABNET = {
    "oqmd_bandgap": {"train": 239125, "val": 51241, "test": 51242},
    "oqmd_formation_enthalpy": {"val": 51255, "test": 51255},
    "oqmd_energy_per_atom": {"val": 51255, "test": 51255},
    "oqmd_volume_per_atom": {"val": 51255, "test": 51255},
    "critexam_ef": {"train": 59509, "val": 12752, "test": 12753},
    "critexam_ed": {"train": 59509, "val": 12752, "test": 12753},
    "mp_e_hull": {"train": 39663, "val": 8499, "test": 8500},
    "mp_mu_b": {"train": 39663, "val": 8499, "test": 8500},
    "mp_bulk_modulus": {"train": 4414, "val": 946, "test": 947},
    "mp_shear_modulus": {"train": 4328, "val": 928, "test": 928},
    "mp_elastic_anisotropy": {"train": 4431, "val": 950, "test": 950},
    "aflow_egap": {"train": 19330, "val": 4125, "test": 4122},
    "aflow_energy_atom": {"train": 19346, "val": 4118, "test": 4115},
    "aflow_bulk_modulus": {"train": 3428, "val": 732, "test": 736},
    "aflow_shear_modulus": {"train": 3428, "val": 732, "test": 736},
}
# name -> (raw rows, unique input rows, columns): Liang et al. table and the MoleculeNet table.
LIANG = {
    "liang_p3ht": (233, 178, ["P3HT content (%)", "D1 content (%)", "D2 content (%)", "D6 content (%)",
                              "D8 content (%)", "Conductivity (measured) (S/cm)"]),
    "liang_agnp": (3295, 164, ["QAgNO3(%)", "Qpva(%)", "Qtsc(%)", "Qseed(%)", "Qtot(uL/min)", "loss"]),
    "liang_crossed_barrel": (1800, 600, ["n", "theta", "r", "t", "toughness"]),
}
MOLECULES = {
    "esol": (1128, ["Compound ID", "ESOL predicted log solubility in mols per litre", "Minimum Degree",
                    "Molecular Weight", "Number of H-Bond Donors", "Number of Rings",
                    "Number of Rotatable Bonds", "Polar Surface Area",
                    "measured log solubility in mols per litre", "smiles"]),
    "freesolv": (642, ["iupac", "smiles", "expt", "calc"]),
}
MOLECULE_MD5 = {"esol": "0c90a51668d446b9e3ab77e67662bd1c", "freesolv": "e47fa32674f670b4cdd3935c704a85d2"}
# Olympus campaigns (PROVENANCE_round2.md): rows and columns
OLYMPUS = {
    "dye_lasers": (3458, ["frag_a", "frag_b", "frag_c", "peak_score", "spectral_overlap", "fluo_rate"]),
    "redoxmers": (1408, ["r1_label", "r3_label", "r4_label", "r5_label", "abs_lam_diff", "ered", "gsol"]),
    "oer_plate_3496": (2121, ["ni_load", "fe_load", "co_load", "mn_load", "ce_load", "la_load", "overpotential"]),
    "oer_plate_3851": (2119, ["ni_load", "fe_load", "co_load", "ta_load", "mn_load", "cu_load", "overpotential"]),
    "vapdiff_crystal": (918, ["organic", "organic_molarity", "solvent", "solvent_molarity", "inorganic_molarity",
                              "acid_molarity", "alpha_vial_volume", "beta_vial_volume", "reaction_time",
                              "reaction_temperature", "crystal_score"]),
}
# crystal-structure sets (PROVENANCE_round2.md): rows and targets
STRUCTURES = {
    "elastic_tensor_2015": (1181, ["K_VRH", "G_VRH", "log10_K_VRH", "log10_G_VRH"]),
    "dielectric_constant": (1056, ["n"]),
    "flla": (3938, ["formation_energy_per_atom"]),
    "perov_5": (3787, ["heat_ref"]),
}
EXPECTED_ROWS = {
    **{n: r for n, (r, _) in STRUCTURES.items()},
    **{n: r for n, (r, _) in OLYMPUS.items()},
    **{n: r for n, (r, _) in MATBENCH.items()},
    **{n: sum(s.values()) for n, s in CRABNET.items()},
    **{n: r for n, (r, _, _) in LIANG.items()},
    **{n: r for n, (r, _) in MOLECULES.items()},
}
DIRECTIONS = {
    "dye_lasers": {"peak_score": "max", "spectral_overlap": "min", "fluo_rate": "max"},
    "redoxmers": {"abs_lam_diff": "min", "ered": "min", "gsol": "min"},
    "oer_plate_3496": {"overpotential": "min"},
    "oer_plate_3851": {"overpotential": "min"},
    "vapdiff_crystal": {"crystal_score": "max"},
    "liang_p3ht": {"Conductivity (measured) (S/cm)": "max"},
    "liang_agnp": {"loss": "min"},
    "liang_crossed_barrel": {"toughness": "max"},
    "matbench_steels": {"yield strength": "max"},
}
CLASSIFICATION = {"matbench_expt_is_metal", "matbench_glass", "matbench_mp_is_metal"}


def _raw_bytes(name: str) -> bytes:
    node = resources.files("matloop.datasets").joinpath("data")
    for part in SPECS[name].file.split("/"):
        node = node.joinpath(part)
    return lzma.decompress(node.read_bytes())


def test_the_stable_names_are_exactly_the_documented_ones():
    assert sorted(names()) == sorted(EXPECTED_ROWS)
    assert len(names()) == 40
    assert EXPECTED_ROWS["oqmd_bandgap"] == 341_608


def test_list_datasets_reports_provenance_counts_without_reading_data(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("list_datasets/info must not decompress a data file")

    monkeypatch.setattr(loader_module, "_read", refuse)
    loader_module._small.cache_clear()
    table = list_datasets()
    assert {"name", "rows", "kind", "task", "target", "units", "source"} <= set(table.columns)
    assert dict(zip(table["name"], table["rows"], strict=True)) == EXPECTED_ROWS
    assert set(table["kind"]) == {"composition", "molecule", "parameters", "structure"}
    assert "oqmd_bandgap" in info("oqmd_bandgap")


@pytest.mark.parametrize("name", list(EXPECTED_ROWS))
def test_dataset_loads_with_provenance_rows_and_metadata(name):
    ds = load(name)
    frame = ds.frame
    assert isinstance(ds, Dataset) and ds.name == name
    assert len(frame) == EXPECTED_ROWS[name]
    assert ds.kind in INPUT_KINDS
    assert ds.citation.strip() and ds.license.strip() and ds.description.strip()
    assert "PROVENANCE" in ds.provenance or "Source repo" in ds.provenance
    assert set(ds.targets) <= set(frame.columns) and ds.targets
    assert set(ds.units) == set(ds.targets)
    assert ds.direction == DIRECTIONS.get(name, {})
    y = frame[ds.target]
    if name in OLYMPUS:
        assert list(frame.columns) == OLYMPUS[name][1]
    if name == "vapdiff_crystal":  # ordinal labels; clear_solution (nothing grew) is a failure
        assert ds.task == "classification"
        assert set(y) == {"clear_solution", "fine_powder", "small_crystallites", "large_crystallites"}
    elif name in CLASSIFICATION:
        assert ds.task == "classification" and y.dtype == bool
        assert 0 < y.sum() < len(y)  # both classes present
    else:
        assert ds.task == "regression" and y.dtype == np.float64
        assert np.isfinite(y.to_numpy(dtype=float)).all()
    if ds.input is not None:
        x = frame[ds.input]
        assert x.map(lambda v: isinstance(v, str) and v.strip() == v and v != "").all()

    if name in MATBENCH:
        assert list(frame.columns) == MATBENCH[name][1]
        assert ds.kind == "composition" and ds.input == "composition" and ds.fold_column == "fold"
        counts = frame["fold"].value_counts()
        assert sorted(counts.index) == [0, 1, 2, 3, 4]
        assert (abs(counts - len(frame) / 5) <= 1).all()
        assert frame["mbid"].is_unique
    elif name in CRABNET:
        assert list(frame.columns) == ["formula", "target", "split"]
        assert ds.fold_column is None
        assert frame["split"].value_counts().to_dict() == CRABNET[name]
        assert list(pd.unique(frame["split"])) == list(CRABNET[name])  # train, val, test order
        assert frame["formula"].is_unique  # as stated in PROVENANCE.md
    elif name in LIANG:
        rows, unique_inputs, columns = LIANG[name]
        assert list(frame.columns) == columns and ds.kind == "parameters" and ds.input is None
        assert list(ds.X.columns) == columns[:-1] and ds.target == columns[-1]
        assert len(frame[columns[:-1]].drop_duplicates()) == unique_inputs  # duplicates kept raw
    elif name in STRUCTURES:
        assert ds.kind == "structure" and ds.input == "structure" and ds.targets == STRUCTURES[name][1]
    elif name in MOLECULES:
        assert list(frame.columns) == MOLECULES[name][1]
        assert ds.kind == "molecule" and ds.input == "smiles"


def test_bundled_files_match_their_manifest_checksums():
    manifest = loader_module._manifest()
    for name in names():
        raw = _raw_bytes(name)
        assert hashlib.sha256(raw).hexdigest() == manifest[name]["sha256"], name


@pytest.mark.parametrize("name", list(MOLECULE_MD5))
def test_molecule_files_are_byte_identical_to_the_source(name):
    assert hashlib.md5(_raw_bytes(name)).hexdigest() == MOLECULE_MD5[name]


def test_esol_file_keeps_raw_smiles_and_loader_strips_whitespace():
    raw = pd.read_csv(pd.io.common.BytesIO(_raw_bytes("esol")))
    assert raw["smiles"].str.endswith(" ").any()  # the shipped file is faithful
    smiles = load("esol").frame["smiles"]
    assert not smiles.str.contains(r"^\s|\s$").any()
    assert (smiles == raw["smiles"].str.strip()).all()
    assert "strip" in load("esol").description


def test_liang_values_are_read_exactly_as_written():
    raw = _raw_bytes("liang_agnp").decode().splitlines()
    first = [float(v) for v in raw[1].split(",")]
    assert load("liang_agnp").frame.iloc[0].tolist() == first
    assert raw[1].split(",")[-1] == "0.57959227"


def test_sodium_nitride_formula_is_not_read_as_missing():
    frame = load("mp_e_hull").frame
    assert (frame["formula"] == "NaN").sum() == 1
    assert frame["formula"].notna().all()


def test_matbench_structure_tasks_say_the_structures_are_not_bundled():
    text = info("matbench_jdft2d")
    assert "not bundled" in text and "kind=composition" in text
    assert "Folds:" in text and "0: 128" in text


def test_small_tables_are_handed_out_as_copies():
    first = load("matbench_steels")
    first.frame.loc[0, "yield strength"] = -1.0
    assert load("matbench_steels").frame.loc[0, "yield strength"] == 2411.5


@pytest.mark.parametrize("alias", ["OQMD_Bandgap", "oqmd-bandgap", " Oqmd_Bandgap "])
def test_source_folder_names_are_accepted(alias):
    assert SPECS[loader_module.spec(alias).name].source_name == "OQMD_Bandgap"


def test_unknown_name_lists_close_matches():
    with pytest.raises(UnknownDatasetError) as err:
        load("matbench_steel")
    assert isinstance(err.value, InputError) and isinstance(err.value, LookupError)
    assert "matbench_steels" in str(err.value) and "matloop datasets list" in str(err.value)
    with pytest.raises(UnknownDatasetError, match="Did you mean: oqmd_bandgap"):
        info("bandgap")


@pytest.mark.parametrize("name", ["matbench_steels", "oqmd_volume_per_atom", "liang_agnp", "freesolv"])
def test_info_shows_description_units_citation_licence_and_provenance(name):
    s = SPECS[name]
    text = info(name)
    manifest = loader_module._manifest()
    assert f"{EXPECTED_ROWS[name]:,}" in text
    assert "Licence:" in text and s.license in text.replace("\n" + " " * 13, " ")
    assert "Citation" in text and "Provenance:" in text
    assert manifest[name]["sha256"] in text
    for unit in s.units.values():
        assert unit in text
    assert ", ".join(manifest[name]["columns"])[:60] in text.replace("\n" + " " * 13, " ")
    if name == "freesolv":
        assert "CC BY-SA 3.0" in text
    if name == "oqmd_volume_per_atom":
        assert "val: 51,255, test: 51,255" in text


DOCS = Path(__file__).resolve().parents[2] / "docs" / "datasets.md"


@pytest.mark.skipif(not DOCS.exists(), reason="docs/ is not part of an installed package")
def test_docs_table_lists_every_dataset_with_its_rows():
    text = DOCS.read_text(encoding="utf-8")
    for name, rows in EXPECTED_ROWS.items():
        assert f"| `{name}` | {rows:,} |" in text, name
