"""ElementProperty: magpie equals matminer (committed reference), xenonpy definitions, API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from matloop import InputError
from matloop.io.compat import EXACT_FLOATS
from matloop.io.formula import parse_formulas
from matloop.represent import base
from matloop.represent.element_data import element_table, impute_mean, property_info
from matloop.represent.element_property import (
    MAGPIE_PROPERTIES,
    ElementProperty,
    magpie,
    xenonpy,
)
from matloop.represent.registry import get_featurizer

REFERENCE = Path(__file__).parent / "data" / "magpie_reference.csv.gz"


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(REFERENCE, **EXACT_FLOATS)


def test_magpie_equals_matminer_reference(reference):
    """~1,000 real Matbench formulas featurized by matminer 0.10.1 (scripts/make_magpie_reference.py)."""
    assert len(reference) > 900
    expected = reference.drop(columns="formula")
    got = magpie().transform(reference["formula"])
    assert list(got.columns) == list(expected.columns)  # same names, same order
    assert got.shape == (len(reference), 132)
    a, b = got.to_numpy(), expected.to_numpy()
    diff = np.abs(a - b)
    within = (diff <= 1e-9) | (diff <= 1e-9 * np.abs(b))
    bad = np.argwhere(~within)
    assert within.all(), [(reference["formula"][i], expected.columns[j], a[i, j], b[i, j]) for i, j in bad[:5]]


def test_magpie_reference_covers_hard_cases(reference):
    formulas = reference["formula"]
    assert formulas.str.contains(r"0\.0000", regex=True).any()  # steels' trace fractions
    assert formulas.str.contains(r"\(", regex=True).any()  # brackets (glasses, expt_gap)
    assert formulas.str.contains(" ").any()  # Materials Project "Pt1 C1"


def test_magpie_hand_checked_values():
    got = magpie().transform(["Fe2O3"]).iloc[0]
    assert got["MagpieData mean Number"] == pytest.approx((2 * 26 + 3 * 8) / 5)
    assert got["MagpieData avg_dev Number"] == pytest.approx((2 * 10.8 + 3 * 7.2) / 5)
    assert got["MagpieData mode Number"] == 8  # O is the most abundant
    assert got["MagpieData range Electronegativity"] == pytest.approx(3.44 - 1.83)


def test_magpie_imputes_missing_element_values_with_the_column_mean():
    raw = element_table("magpie")["Electronegativity"]
    assert np.isnan(raw[2])  # helium has no Pauling electronegativity
    mean = np.nanmean(raw.to_numpy()[1:])
    got = magpie().transform(["He"])
    assert got["MagpieData mean Electronegativity"].iloc[0] == mean
    assert np.isnan(magpie(impute=None).transform(["He"])["MagpieData mean Electronegativity"].iloc[0])
    imputed = impute_mean(element_table("magpie"))
    assert not np.isnan(imputed[1:]).any() and np.isnan(imputed[0]).all()


def test_element_table_layout():
    table = element_table("magpie")
    assert list(table.index) == list(range(119)) and table.loc[0].isna().all()
    assert list(table.columns[:22]) == list(MAGPIE_PROPERTIES)
    for name in ("NsValence", "NpValence", "NdValence", "NfValence", "Electronegativity", "HHIp", "HHIr"):
        assert name in table.columns
    assert table.loc[26, "NdValence"] == 6 and table.loc[8, "Number"] == 8
    table.loc[26, "NdValence"] = -1  # callers get a copy: the cache is untouched
    assert element_table("magpie").loc[26, "NdValence"] == 6
    xen = element_table("xenonpy")
    assert xen.shape == (119, 58) and not xen.loc[1:94].isna().any().any()
    info = property_info("xenonpy")
    assert list(info.index) == list(xen.columns) and (info["package"] != "").all()
    with pytest.raises(ValueError, match="unknown element data source"):
        element_table("xenon")


def test_xenonpy_shape_names_and_order():
    featurizer = xenonpy()
    names = list(featurizer.get_feature_names_out())
    assert len(names) == 58 * 7
    assert names[0] == "ave:atomic_number" and names[57] == "ave:Polarizability"
    assert [n.split(":")[0] for n in names[::58]] == ["ave", "sum", "var", "gmean", "hmean", "max", "min"]
    assert "var:en_pauling" in names and "hmean:sound_velocity" in names


def test_xenonpy_hand_checked_values():
    got = xenonpy().transform(["Fe2O3", "Li", "B", "Be"])
    fe2o3 = got.iloc[0]
    ave = (2 * 26 + 3 * 8) / 5
    assert fe2o3["ave:atomic_number"] == pytest.approx(15.2)
    assert fe2o3["sum:atomic_number"] == pytest.approx(76.0)  # amounts as written
    assert fe2o3["var:atomic_number"] == pytest.approx((2 * (26 - ave) ** 2 + 3 * (8 - ave) ** 2) / 5)
    assert fe2o3["max:atomic_number"] == 26 and fe2o3["min:atomic_number"] == 8
    assert fe2o3["gmean:atomic_number"] == pytest.approx((26.0**2 * 8.0**3) ** (1 / 5))
    assert fe2o3["hmean:atomic_number"] == pytest.approx(5 / (2 / 26 + 3 / 8))
    # XenonPy's gmean of an all-negative property: (-a)^2 (-b)^3 < 0, fifth root not real -> NaN
    assert np.isnan(fe2o3["gmean:gs_energy"])
    # values shown in XenonPy's own elements_completed table (same sources)
    assert got["ave:sound_velocity"].tolist()[1:] == [6000.0, 16200.0, 13000.0]
    assert got["ave:vdw_radius_uff"].iloc[2] == 408.3
    assert got["ave:covalent_radius_cordero"].iloc[1] == 128.0
    assert got["ave:c6_gb"].iloc[3] == 214.0


def test_xenonpy_beyond_plutonium():
    got = xenonpy().transform(["Am"])
    assert not got.isna().any().any()  # imputed with the column mean
    raw = xenonpy(impute=None).transform(["Am"])
    assert np.isnan(raw["ave:hhi_p"].iloc[0])


def test_labels_and_citations():
    labels = magpie().feature_labels()
    assert len(labels) == 132 and "mean electronegativity (Pauling)" in labels
    assert "maximum melting temperature (K)" in labels
    assert any("16028" in c for c in magpie().citations())
    assert any("1717" in c for c in xenonpy().citations())
    assert len(xenonpy().feature_labels()) == 406


def test_sklearn_api_and_inputs():
    featurizer = magpie()
    assert clone(featurizer).get_params() == featurizer.get_params()
    frame = pd.DataFrame({"formula": ["NaCl", "Fe2O3"]}, index=[10, 20])
    out = featurizer.fit(frame).transform(frame)
    assert list(out.index) == [10, 20]
    np.testing.assert_array_equal(out.to_numpy(), featurizer.transform(parse_formulas(["NaCl", "Fe2O3"])).to_numpy())
    np.testing.assert_array_equal(out.to_numpy(), featurizer.transform(pd.Series(["NaCl", "Fe2O3"])).to_numpy())
    assert isinstance(get_featurizer("magpie"), ElementProperty)
    assert get_featurizer("xenonpy", stats=["ave"]).transform(["NaCl"]).shape == (1, 58)


def test_custom_properties_and_stats():
    featurizer = ElementProperty("magpie", properties=["Electronegativity", "HHIp"], stats=["mean", "var"])
    assert list(featurizer.get_feature_names_out()) == [
        "MagpieData mean Electronegativity", "MagpieData var Electronegativity",
        "MagpieData mean HHIp", "MagpieData var HHIp"]
    got = featurizer.transform(["NaCl"]).iloc[0]
    assert got["MagpieData mean Electronegativity"] == pytest.approx((0.93 + 3.16) / 2)
    with pytest.raises(ValueError, match="did you mean"):
        ElementProperty("magpie", properties=["Electronegativty"]).transform(["NaCl"])
    with pytest.raises(ValueError, match="unknown statistic"):
        ElementProperty("magpie", stats=["median"]).transform(["NaCl"])
    with pytest.raises(ValueError, match="impute"):
        ElementProperty("magpie", impute="median").transform(["NaCl"])


def test_bad_formulas_are_reported_row_by_row():
    with pytest.raises(InputError) as info:
        magpie().transform(["NaCl", "Xx2", "", "Fe2O3"])
    assert info.value.table["row"].tolist() == [2, 3]


def test_bad_rows_are_numbered_across_chunks(monkeypatch):
    monkeypatch.setattr(base, "CHUNK_ROWS", 2)
    with pytest.raises(InputError) as info:
        magpie().transform(pd.Series(["NaCl", "Fe2O3", "Xx", "KCl", "Na2+"], name="recipe"))
    assert info.value.table["row"].tolist() == [3, 5]
    assert (info.value.table["column"] == "recipe").all()


def test_chunks_give_the_same_result(monkeypatch, reference):
    formulas = reference["formula"].iloc[:300]
    whole = xenonpy().transform(formulas)
    monkeypatch.setattr(base, "CHUNK_ROWS", 37)
    np.testing.assert_array_equal(xenonpy().transform(formulas).to_numpy(), whole.to_numpy())
