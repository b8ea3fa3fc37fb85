"""The element tables read without pandas hold exactly the numbers pandas reads."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from matloop.represent.element_data import SOURCES, element_array, element_table


@pytest.mark.parametrize("source", SOURCES)
def test_element_array_is_the_element_table_bit_for_bit(source):
    values, columns = element_array(source)
    table = element_table(source)
    assert columns == tuple(table.columns)
    expected = table.to_numpy(dtype=np.float64)
    assert values.shape == expected.shape == (119, len(columns))
    assert np.array_equal(np.isnan(values), np.isnan(expected))
    assert np.array_equal(values.view(np.int64)[~np.isnan(values)], expected.view(np.int64)[~np.isnan(expected)])
    assert np.isnan(values[0]).all() and not values.flags.writeable


def test_magpie_features_without_pandas():
    code = ("import sys, numpy as np\nfrom matloop.io.formula import _parse_unique\n"
            "from matloop.represent.element_property import magpie\n"
            "comps, _ = _parse_unique(['Fe2O3', 'NaCl'])\nout = np.empty((3, 132))\n"
            "magpie()._featurize_into(comps, out)\nprint(repr(out[0, 3]), 'pandas' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    from matloop.represent.element_property import magpie

    expected = magpie().transform(["Fe2O3"]).iloc[0, 3]
    assert run.stdout.split() == [repr(expected), "False"]


@pytest.mark.parametrize("source", SOURCES)
def test_features_written_as_columns_are_the_rows_transposed(source):
    """``_featurize_columns_into`` (Parquet's layout) holds exactly ``transform``'s values; rows
    without elements are NaN in both; blocks of summarize's size and beyond."""
    from matloop.io.formula import Compositions, parse_formulas
    from matloop.represent.element_property import ElementProperty
    from matloop.represent.stats import BLOCK_ROWS

    rng = np.random.default_rng(1)
    formulas = ["".join(f"{e}{rng.integers(1, 5)}" for e in rng.choice(["Fe", "O", "Na", "Cl", "H", "Pu", "Og", "Tc"],
                                                                        size=int(rng.integers(1, 5)), replace=False))
                for _ in range(BLOCK_ROWS + 300)]
    comps = parse_formulas(formulas)
    empty = np.sort(rng.choice(len(formulas) + 1, size=40, replace=False))  # rows with no elements
    indptr = np.insert(comps.indptr, empty, comps.indptr[empty])
    comps = Compositions(indptr, comps.z, comps.amount)
    featurizer = ElementProperty(source=source)
    rows = featurizer.transform(comps).to_numpy()
    columns = np.empty(rows.shape[::-1])
    assert featurizer._featurize_columns_into(comps, columns)
    assert np.isnan(rows[empty + np.arange(len(empty))]).all()
    assert np.array_equal(columns, rows.T, equal_nan=True)
    assert np.array_equal(columns.view(np.int64)[~np.isnan(columns)], rows.T.view(np.int64)[~np.isnan(rows.T)])
