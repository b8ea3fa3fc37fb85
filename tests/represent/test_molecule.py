"""Tests of SMILES parsing and the RDKit molecule/polymer featurizers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("rdkit")

from rdkit import Chem  # noqa: E402
from rdkit.Chem import Descriptors, rdFingerprintGenerator  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.model_selection import KFold, cross_val_predict  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from matloop import InputError  # noqa: E402
from matloop.represent.molecule import (  # noqa: E402
    MACCSKeys,
    MoleculeFeatureUnion,
    MorganCounts,
    RDKitDescriptors,
    UndefinedDescriptorWarning,
    canonical_smiles,
    cap_end_groups,
    default_molecule_featurizer,
    parse_smiles,
)
from matloop.represent.registry import get_featurizer  # noqa: E402

POLYMERS = [
    "*CC(*)c1ccccc1",  # polystyrene
    "*OCC*",  # poly(ethylene oxide)
    "*c1ccc(*)cc1",  # poly(p-phenylene)
    "*CC(*)(C)C(=O)OC",  # PMMA
    "*OCCOC(=O)c1ccc(cc1)C(*)=O",  # PET
    "*Oc1ccc(cc1)C(C)(C)c1ccc(cc1)OC(=O)*",  # bisphenol-A polycarbonate
    "*CCNC(=O)CCC*",  # a nylon cut at a C-C bond
    "*=CC=*",  # double-bonded end groups
    "[*:1]CC[*:2]",  # atom-mapped end groups
]


def esol_like() -> tuple[list[str], np.ndarray]:
    """About 50 small organic molecules with a target from atom counts (a logS-like trend)."""
    smiles = []
    for n in range(1, 9):
        chain = "C" * n
        smiles += [chain, chain + "O", chain + "N", chain + "Cl", "c1ccccc1" + chain, chain + "C(=O)O"]
    smiles += ["c1ccccc1", "c1ccc2ccccc2c1", "Oc1ccccc1", "Nc1ccccc1"]
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    carbons = np.array([sum(a.GetSymbol() == "C" for a in m.GetAtoms()) for m in mols])
    polar = np.array([sum(a.GetSymbol() in "ON" for a in m.GetAtoms()) for m in mols])
    return smiles, 1.0 - 0.6 * carbons + 0.8 * polar


# ---------------------------------------------------------------- parsing


def test_parse_valid_smiles_and_strip_whitespace():
    mols = parse_smiles(["CCO", "  c1ccccc1 ", "OCC\t", "[NH4+]"])
    assert [m.GetNumAtoms() for m in mols] == [3, 6, 3, 1]
    assert Chem.MolToSmiles(mols[2]) == "CCO"


def test_each_distinct_string_is_parsed_once():
    mols = parse_smiles(["CCO", "CCC", "CCO ", "CCO"])
    assert mols[0] is mols[2] is mols[3]
    assert mols[0] is not mols[1]


def test_invalid_smiles_give_one_table_with_reasons():
    values = ["CCO", "CC(C", "N(C)(C)(C)(C)C", "c1cccc1", "C1CC", "CC O", "", None, np.nan, "Xx", 7]
    with pytest.raises(InputError) as info:
        parse_smiles(values, column="solvent")
    table = info.value.table
    assert list(table.columns) == ["row", "column", "value", "reason"]
    assert table["row"].tolist() == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert set(table["column"]) == {"solvent"}
    reasons = dict(zip(table["row"], table["reason"], strict=True))
    assert reasons[2] == "SMILES parse error: extra open parentheses (near position 3)"
    assert reasons[3] == "explicit valence of atom 1 N is 5, greater than permitted"
    assert reasons[4] == "can't kekulize aromatic atoms 1 2 3 4 5"
    assert reasons[5] == "SMILES parse error: unclosed ring"
    assert "whitespace" in reasons[6]
    assert reasons[7] == "empty SMILES"
    assert reasons[8] == reasons[9] == "missing SMILES"
    assert reasons[10].startswith("SMILES parse error: syntax error")
    assert "expected a SMILES string" in reasons[11]
    assert table["value"].tolist()[:2] == ["CC(C", "N(C)(C)(C)(C)C"]
    assert "solvent" in str(info.value)


def test_rdkit_error_log_is_silenced(capfd):
    with pytest.raises(InputError):
        parse_smiles(["CC(C", "N(C)(C)(C)(C)C"])
    captured = capfd.readouterr()
    assert "SMILES Parse Error" not in captured.err
    assert "valence" not in captured.err


def test_collect_mode_and_custom_row_numbers():
    mols, table = parse_smiles(["CCO", "C1CC", "CCN"], rows=[10, 11, 12], errors="collect")
    assert mols[1] is None and mols[0] is not None and mols[2] is not None
    assert table["row"].tolist() == [11]
    with pytest.raises(ValueError, match="errors must be"):
        parse_smiles(["CCO"], errors="ignore")


def test_canonical_smiles_detects_duplicates_and_keeps_end_groups():
    canon = canonical_smiles(["OCC", "C(O)C", "*CC(*)c1ccccc1", "*C(c1ccccc1)C*", "CCc1ccccc1"])
    assert canon[0] == canon[1] == "CCO"
    assert canon[2] == canon[3]
    assert canon[2] != canon[4] and "*" in canon[2]
    out, table = canonical_smiles(["CCO", "C("], errors="collect")
    assert out == ["CCO", None] and table["row"].tolist() == [2]


# ---------------------------------------------------------------- polymers


def test_polymer_units_featurize_with_finite_descriptors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedDescriptorWarning)
        frame = RDKitDescriptors().transform(POLYMERS)
    assert np.isfinite(frame.to_numpy()).all()
    # dummy atoms kept as such would make the Gasteiger-charge descriptors NaN
    assert frame["MaxPartialCharge"].notna().all()


def test_methyl_caps_keep_the_chain_chemistry():
    frame = RDKitDescriptors(names=["MolWt", "NumHDonors", "fr_COO", "fr_ester", "fr_Al_OH"]).transform(
        ["*OCC*", "*OCCOC(=O)c1ccc(cc1)C(*)=O", "*CC*", "CCCC"]
    )
    # hydrogen caps would turn PEO into ethanol and PET's ends into an alcohol and an aldehyde
    assert frame.loc[0, "NumHDonors"] == 0 and frame.loc[0, "fr_Al_OH"] == 0
    assert frame.loc[1, "fr_COO"] == 0 and frame.loc[1, "fr_ester"] == 1
    assert frame.loc[2].tolist() == frame.loc[3].tolist()  # *CC* is featurized as butane
    assert Chem.MolToSmiles(cap_end_groups(Chem.MolFromSmiles("*=CC=*"))) == "C=CC=C"
    assert Chem.MolToSmiles(cap_end_groups(Chem.MolFromSmiles("*C[C@H](*)Cl"))) == "CC[C@H](C)Cl"
    ethanol = Chem.MolFromSmiles("CCO")
    assert cap_end_groups(ethanol) is ethanol


def test_misplaced_stars_are_bad_rows():
    with pytest.raises(InputError) as info:
        parse_smiles(["*CC*", "c1cc*cc1", "*", "**"])
    table = info.value.table
    assert table["row"].tolist() == [2, 3, 4]
    assert "bonded to 2 atoms" in table["reason"].iloc[0]
    assert "bonded to 0 atoms" in table["reason"].iloc[1]
    assert "another '*'" in table["reason"].iloc[2]


def test_polymer_fingerprints_see_the_backbone():
    fp = MorganCounts(n_bits=2048).transform(["*CC(*)c1ccccc1", "CCc1ccccc1"]).to_numpy()
    assert fp[0].sum() > fp[1].sum()  # the caps make the CH2 and CH backbone atoms non-terminal
    keys = MACCSKeys().transform(["*CC*", "CCCC"]).to_numpy()
    np.testing.assert_array_equal(keys[0], keys[1])  # no dummy counted as a hetero atom


# ---------------------------------------------------------------- known values


def test_known_descriptor_values():
    frame = RDKitDescriptors().transform(["c1ccccc1", "CCO"])
    assert frame.loc[0, "MolWt"] == pytest.approx(78.114, abs=1e-3)
    assert frame.loc[1, "HeavyAtomCount"] == 3
    assert frame.loc[1, "NumHDonors"] == 1
    assert frame.loc[0, "RingCount"] == 1
    assert frame.loc[1, "TPSA"] == pytest.approx(20.23, abs=1e-2)
    names = [n for n, _ in Descriptors._descList]
    assert list(frame.columns) == ["Ipc_log1p" if n == "Ipc" else n for n in names]


def test_ipc_log_and_raw():
    smiles = ["c1ccc2ccccc2c1", "CCCCCC"]
    logged = RDKitDescriptors(names=["Ipc", "MolWt"]).transform(smiles)
    raw = RDKitDescriptors(names=["Ipc", "MolWt"], log_ipc=False).transform(smiles)
    assert list(logged.columns) == ["Ipc_log1p", "MolWt"] and list(raw.columns) == ["Ipc", "MolWt"]
    expected = [Descriptors.Ipc(Chem.MolFromSmiles(s)) for s in smiles]
    np.testing.assert_allclose(raw["Ipc"], expected)
    np.testing.assert_allclose(logged["Ipc_log1p"], np.log1p(expected))


def test_morgan_counts_of_ethanol():
    frame = MorganCounts(radius=2, n_bits=2048).transform(["CCO"])
    # 3 atoms at radius 0, 3 distinct radius-1 environments, radius 2 adds no new bond set
    assert frame.to_numpy().sum() == 6
    assert MorganCounts(radius=0).transform(["CCO"]).to_numpy().sum() == 3
    assert list(frame.columns[:2]) == ["morgan_r2_0000", "morgan_r2_0001"]


def test_morgan_matches_rdkit_sparse_counts_folded():
    smiles, _ = esol_like()
    fp = MorganCounts(radius=2, n_bits=512).transform(smiles).to_numpy()
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=512)
    for i, s in enumerate(smiles[::7]):
        expected = np.zeros(512)
        for key, count in gen.GetSparseCountFingerprint(Chem.MolFromSmiles(s)).GetNonzeroElements().items():
            expected[key % 512] += count
        np.testing.assert_array_equal(fp[i * 7], expected)


def test_morgan_variants():
    plain = MorganCounts(n_bits=256).transform(["CCl", "CBr"]).to_numpy()
    feat = MorganCounts(n_bits=256, use_features=True)
    assert not np.array_equal(plain[0], plain[1])
    values = feat.transform(["CCl", "CBr"]).to_numpy()
    np.testing.assert_array_equal(values[0], values[1])  # both are "halogen" features
    assert feat.get_feature_names_out()[0] == "morgan_feat_r2_0000"
    chiral = MorganCounts(n_bits=1024, use_chirality=True)
    values = chiral.transform(["C[C@H](N)O", "C[C@@H](N)O"]).to_numpy()
    assert not np.array_equal(values[0], values[1])
    assert chiral.get_feature_names_out()[0] == "morgan_chiral_r2_0000"
    with pytest.raises(ValueError, match="n_bits"):
        MorganCounts(n_bits=0).fit(["CCO"])


def test_maccs_keys():
    frame = MACCSKeys().transform(["c1ccccc1", "CCO"])
    assert frame.shape == (2, 167)
    assert frame.columns[0] == "maccs_000" and frame.columns[-1] == "maccs_166"
    assert set(np.unique(frame.to_numpy())) <= {0.0, 1.0}
    assert frame["maccs_000"].sum() == 0
    assert frame.loc[0, "maccs_163"] == 1 and frame.loc[1, "maccs_163"] == 0  # six-membered ring
    assert frame.loc[1, "maccs_164"] == 1 and frame.loc[0, "maccs_164"] == 0  # oxygen
    labels = MACCSKeys().feature_labels()
    assert len(labels) == 167 and labels[164] == "MACCS 164: [#8]"


# ---------------------------------------------------------------- undefined values


def test_undefined_descriptors_are_nan_with_a_warning():
    with pytest.warns(UndefinedDescriptorWarning, match=r"MaxPartialCharge.*\(row 2\)"):
        frame = RDKitDescriptors().transform(["CCO", "C[Sn](C)(C)C"])
    assert np.isnan(frame.loc[1, "MaxPartialCharge"])
    assert frame.loc[1, "MolWt"] == pytest.approx(178.85, abs=0.01)
    assert frame.loc[0].notna().all()
    assert not np.isinf(frame.to_numpy()).any()


def test_unknown_descriptor_name():
    with pytest.raises(ValueError, match="MolWt"):
        RDKitDescriptors(names=["MolWeight"]).fit(["CCO"])


# ---------------------------------------------------------------- API


def test_default_featurizer_names_are_stable_and_unique():
    featurizer = get_featurizer("molecule")
    names = list(featurizer.get_feature_names_out())
    assert len(names) == len(set(names)) == 1024 + len(Descriptors._descList)
    assert names[:2] == ["morgan_r2_0000", "morgan_r2_0001"] and "MolWt" in names
    assert names == list(default_molecule_featurizer().get_feature_names_out())
    assert len(featurizer.feature_labels()) == len(names)
    text = " ".join(featurizer.citations())
    assert "Rogers" in text and "rdkit" in text.lower()
    assert "Durant" in " ".join(get_featurizer("maccs").citations())
    assert isinstance(get_featurizer("morgan"), MorganCounts)
    assert isinstance(get_featurizer("rdkit2d"), RDKitDescriptors)
    frame = featurizer.fit_transform(["CCO", "c1ccccc1"])
    assert list(frame.columns) == names


def test_union_matches_members_and_rejects_repeated_names():
    smiles = ["CCO", "c1ccccc1O", "CCO"]
    union = MoleculeFeatureUnion([MorganCounts(n_bits=128), MACCSKeys()])
    expected = pd.concat([MorganCounts(n_bits=128).transform(smiles), MACCSKeys().transform(smiles)], axis=1)
    pd.testing.assert_frame_equal(union.transform(smiles), expected)
    with pytest.raises(ValueError, match="repeated"):
        MoleculeFeatureUnion([MACCSKeys(), MACCSKeys()]).get_feature_names_out()


def test_inputs_series_dataframe_and_mols():
    series = pd.Series(["CCO", "c1ccccc1"], index=[10, 20], name="smi")
    by_series = MACCSKeys().transform(series)
    assert list(by_series.index) == [10, 20]
    pd.testing.assert_frame_equal(MACCSKeys().transform(series.to_frame()), by_series)
    by_mols = MACCSKeys().transform([Chem.MolFromSmiles("CCO"), Chem.MolFromSmiles("c1ccccc1")])
    np.testing.assert_array_equal(by_mols.to_numpy(), by_series.to_numpy())
    with pytest.raises(ValueError, match="one column"):
        MACCSKeys().transform(pd.DataFrame({"a": ["C"], "b": ["C"]}))
    with pytest.raises(InputError) as info:
        MorganCounts().transform(pd.DataFrame({"solvent": ["CCO", "C1CC"]}))
    assert info.value.table[["row", "column"]].values.tolist() == [[2, "solvent"]]


def test_sklearn_pipeline_on_generated_molecules():
    smiles, y = esol_like()
    pipe = make_pipeline(default_molecule_featurizer(), SimpleImputer(strategy="median"), StandardScaler(),
                         Ridge(alpha=1.0))
    pred = cross_val_predict(pipe, pd.Series(smiles), y, cv=KFold(4, shuffle=True, random_state=0))
    r2 = 1 - np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2)
    assert r2 > 0.9
    cloned = clone(pipe)
    assert cloned.get_params()["moleculefeatureunion__featurizers"][0].n_bits == 1024
