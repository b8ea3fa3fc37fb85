import numpy as np
import pandas as pd

from matloop.io.factorize import factorize_exact
from matloop.io.formula import parse_formulas


def test_strings_with_nul_characters_stay_distinct():
    # pandas alone merges these (it hashes C strings): ['', '\x00'] -> one code
    codes, uniques = factorize_exact(pd.Series(["", "\x00", "a", "a\x00b", None, "a"], dtype=object))
    assert codes.tolist() == [0, 1, 2, 3, -1, 2]
    assert list(uniques) == ["", "\x00", "a", "a\x00b"]


def test_same_answer_as_pandas_without_nul_sorted_or_not():
    values = pd.Series(["b", "a", None, "b", "c"], dtype=object)
    for sort in (False, True):
        ours, ours_u = factorize_exact(values, sort=sort)
        theirs, theirs_u = pd.factorize(values, sort=sort, use_na_sentinel=True)
        assert ours.tolist() == theirs.tolist() and list(ours_u) == list(theirs_u)
    codes, uniques = factorize_exact(np.array([3, 1, 3]), sort=True)
    assert codes.tolist() == [1, 0, 1] and list(uniques) == [1, 3]
    codes, uniques = factorize_exact(pd.Series(["b", "a\x00", "a"], dtype=object), sort=True)
    assert list(uniques) == ["a", "a\x00", "b"] and codes.tolist() == [2, 1, 0]


def test_a_formula_with_a_nul_is_reported_not_read_as_its_prefix():
    comps, table = parse_formulas(["Fe2O3", "Fe2O3\x00junk", "", "\x00"], errors="collect")
    assert table["row"].tolist() == [2, 3, 4]
    reasons = dict(zip(table["row"], table["reason"], strict=True))
    assert "control character" in reasons[2] and reasons[3] == "empty formula" and "control" in reasons[4]
