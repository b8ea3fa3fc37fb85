"""The formula parser against pymatgen on real formulas, on generated strings, and on every error."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matloop import InputError
from matloop.io.elements import SYMBOLS
from matloop.io.formula import _parse_slow, parse_formula, parse_formulas

FIXTURE = Path(__file__).parent / "data" / "real_formulas.csv"
HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _rows(comps) -> list[dict[str, float]]:
    ip = comps.indptr
    return [{SYMBOLS[z]: float(a) for z, a in zip(comps.z[ip[i]:ip[i + 1]], comps.amount[ip[i]:ip[i + 1]],
                                                   strict=True)} for i in range(len(comps))]


def _close(got: dict[str, float], expected: dict[str, float], rel: float = 1e-12) -> bool:
    return set(got) == set(expected) and all(abs(got[k] - expected[k]) <= rel * abs(expected[k]) for k in expected)


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    frame = pd.read_csv(FIXTURE, keep_default_na=False)
    frame["expected"] = [json.loads(e) for e in frame["expected"]]
    return frame


# ----------------------------------------------------------------------------- real formulas
def test_fixture_covers_the_sources(real):
    counts = real["source"].value_counts()
    assert len(real) >= 550
    for source in ("matbench_steels", "matbench_expt_gap", "matbench_glass", "matbench_jdft2d",
                   "matbench_perovskites", "hand-written"):
        assert counts[source] >= 30
    assert counts[[s for s in counts.index if s.startswith("crabnet:")]].sum() >= 100


def test_real_formulas_match_pymatgen(real):
    got = _rows(parse_formulas(real["formula"].tolist()))
    wrong = [(f, g, e) for f, g, e in zip(real["formula"], got, real["expected"], strict=True) if not _close(g, e)]
    assert not wrong, wrong[:5]


def test_real_formulas_do_not_depend_on_their_neighbours(real):
    """The column is parsed as one byte buffer: shuffling it must not change any row."""
    order = list(range(len(real)))
    random.Random(0).shuffle(order)
    shuffled = real["formula"].iloc[order].tolist()
    got = _rows(parse_formulas(shuffled))
    for g, i in zip(got, order, strict=True):
        assert _close(g, real["expected"].iloc[i]), real["formula"].iloc[i]


def test_fast_and_slow_paths_agree_on_real_formulas(real):
    batch = _rows(parse_formulas(real["formula"].tolist()))
    for formula, fast in zip(real["formula"], batch, strict=True):
        assert _close(fast, _parse_slow(formula)), formula


def test_steels_scientific_and_decimal_amounts_are_exact():
    got = parse_formula("Fe0.620C0.000953Mn0.000521")
    assert got == {"Fe": 0.620, "C": 0.000953, "Mn": 0.000521}
    assert parse_formula("C9.53e-4Fe") == {"C": 9.53e-4, "Fe": 1.0}


def test_hydrates_nested_brackets_and_whitespace():
    assert parse_formula("CuSO4·5H2O") == {"Cu": 1, "S": 1, "O": 9, "H": 10}
    assert parse_formula("CuSO4*5H2O") == parse_formula("CuSO4·5H2O")
    assert parse_formula("Na2CO3.H2O") == {"Na": 2, "C": 1, "O": 4, "H": 2}
    assert parse_formula("K4[Fe(CN)6]·3H2O") == {"K": 4, "Fe": 1, "C": 6, "N": 6, "H": 6, "O": 3}
    assert parse_formula("((Fe)2O)3") == {"Fe": 6, "O": 3}
    assert parse_formula(" Hf2 Si2\tTe2 ") == {"Hf": 2, "Si": 2, "Te": 2}


def test_a_row_starting_with_a_number_does_not_touch_the_row_before():
    """Regression: the leading '2' of '2H2O' was once read as the amount of the previous row's Ts."""
    rows = _rows(parse_formulas(["Og2Ts", "2H2O", "Fe", ".5O"]))
    assert rows == [{"Og": 2, "Ts": 1}, {"H": 4, "O": 2}, {"Fe": 1}, {"O": 0.5}]
    _, table = parse_formulas(["3", "1.5"], errors="collect")  # no element anywhere in the column
    assert table["reason"].tolist() == ["'3' is a number, not a formula", "'1.5' is a number, not a formula"]


def test_non_text_values_are_errors_not_crashes():
    _, table = parse_formulas(["Fe", 5, 2.5, b"Fe", None, np.nan], errors="collect")
    assert table["row"].tolist() == [2, 3, 4, 5, 6]
    assert "found int 5" in table["reason"].iloc[0]
    assert table["reason"].iloc[3] == "empty formula"


# ----------------------------------------------------------------------------- every error reason
ERRORS = [
    ("Xx2O3", "unknown element 'Xx'"),
    ("FE2O3", "did you mean 'Fe'"),
    ("fe2o3", "symbols start with a capital letter"),
    ("Fe2o3", "symbols start with a capital letter"),
    ("", "empty formula"),
    ("   ", "empty formula"),
    ("Fe0O", "amount of Fe is 0"),
    ("Fe2O0.0", "amount of O is 0"),
    ("Fe1..5O", "unparseable number '1..5'"),
    ("Fe1.5.2", "unparseable number"),
    ("Fe1e", "unparseable number"),
    ("Fe1e999", "not a finite number"),
    ("Fe2+", "charges are not supported"),
    ("O2-", "charges are not supported"),
    ("Fe^3+", "charges are not supported"),
    ("SO4²⁻", "charges are not supported"),
    ("Fe-0.5O", "negative amount '-0.5'"),
    ("YBa2Cu3O7-xF", "variable amounts"),
    ("Ca3(PO4", "'(' is never closed"),
    ("Ca3PO4)2", "')' has no opening bracket"),
    ("Ca3(PO4]2", "mismatched brackets"),
    ("Fe()2", "empty brackets"),
    ("(" * 40 + "Fe" + ")" * 40, "nested more than"),
    ("CuSO4·", "nothing follows the hydrate separator"),
    ("Fe2O3, Al2O3", "unexpected character ','"),
    ("12", "a number, not a formula"),
    ("Fe\x1fO", "control character"),
]


@pytest.mark.parametrize(("formula", "reason"), ERRORS)
def test_each_error_has_its_reason(formula, reason):
    with pytest.raises(InputError) as info:
        parse_formula(formula)
    assert reason in info.value.table["reason"].iloc[0]


def test_errors_are_reported_all_at_once_with_rows_and_values():
    values = ["Fe2O3"] + [f for f, _ in ERRORS] + ["NaCl"]
    with pytest.raises(InputError) as info:
        parse_formulas(values, column="composition", rows=np.arange(101, 101 + len(values)))
    table = info.value.table
    assert list(table.columns) == ["row", "column", "value", "reason"]
    assert table["row"].tolist() == list(range(102, 102 + len(ERRORS)))
    assert table["value"].tolist() == [f for f, _ in ERRORS]
    assert (table["column"] == "composition").all()
    for (_, reason), got in zip(ERRORS, table["reason"], strict=True):
        assert reason in got
    comps, collected = parse_formulas(values, errors="collect")
    assert len(collected) == len(ERRORS)
    assert comps.n_elements.tolist()[1:-1] == [0] * len(ERRORS)  # bad rows are empty compositions
    assert _rows(comps)[0] == {"Fe": 2, "O": 3} and _rows(comps)[-1] == {"Na": 1, "Cl": 1}


# ----------------------------------------------------------------------------- property-based
TOKENS = st.sampled_from(
    ["Fe", "O", "H", "C", "Co", "Na", "Cl", "Og", "Xx", "e", "E", "o", "(", ")", "[", "]", "{", "}", ".", "·", "*",
     "+", "-", "^", " ", "\t", "0", "1", "2", "5", "9", "0.5", "e-3", "\x1f", "Ä", "٣", "²"]
)
STRINGS = st.one_of(st.text(max_size=16), st.lists(TOKENS, max_size=14).map("".join))


@settings(HYPOTHESIS, max_examples=250)
@given(st.lists(STRINGS, min_size=1, max_size=6))
def test_random_strings_parse_or_raise_input_error(values):
    try:
        comps = parse_formulas(values)
    except InputError as exc:
        assert len(exc.table) >= 1
        assert set(exc.table["row"]) <= set(range(1, len(values) + 1))
    else:
        assert len(comps) == len(values)
        assert np.all(comps.amount > 0) and np.all(np.isfinite(comps.amount))


@settings(HYPOTHESIS, max_examples=80)
@given(st.lists(STRINGS, min_size=2, max_size=6))
def test_a_batch_parses_like_its_rows_one_by_one(values):
    comps, table = parse_formulas(values, errors="collect")
    batch = _rows(comps)
    bad = dict(zip(table["row"], table["reason"], strict=True))
    for i, value in enumerate(values):
        alone, alone_table = parse_formulas([value], errors="collect")
        if len(alone_table):
            assert bad.get(i + 1) == alone_table["reason"].iloc[0]
        else:
            assert i + 1 not in bad and batch[i] == _rows(alone)[0]


AMOUNT = st.one_of(
    st.integers(1, 10**6).map(lambda n: (str(n), float(n))),
    st.tuples(st.integers(1, 10**6), st.integers(1, 7)).map(
        lambda t: (f"{t[0] / 10 ** t[1]:.{t[1]}f}", float(f"{t[0] / 10 ** t[1]:.{t[1]}f}"))),
    st.tuples(st.integers(1, 999), st.integers(-9, 3)).map(lambda t: (f"{t[0]}e{t[1]}", float(f"{t[0]}e{t[1]}"))),
    st.just(("", 1.0)),
)
SYMBOL = st.sampled_from([s for s in SYMBOLS if s])


@HYPOTHESIS
@given(st.dictionaries(SYMBOL, AMOUNT, min_size=1, max_size=6), st.booleans())
def test_generated_formulas_round_trip_exactly(parts, spaced):
    formula = (" " if spaced else "").join(sym + text for sym, (text, _) in parts.items())
    assert parse_formula(formula) == {sym: value for sym, (_, value) in parts.items()}


@HYPOTHESIS
@given(st.dictionaries(SYMBOL, st.integers(1, 50), min_size=1, max_size=4),
       st.dictionaries(SYMBOL, st.integers(1, 50), min_size=1, max_size=4),
       st.integers(1, 20), st.sampled_from(["()", "[]", "{}", "·", "*"]))
def test_groups_and_hydrates_multiply_exactly(outer, inner, mult, joiner):
    a = "".join(f"{s}{n}" for s, n in outer.items())
    b = "".join(f"{s}{n}" for s, n in inner.items())
    formula = f"{a}{joiner[0]}{b}{joiner[1]}{mult}" if len(joiner) == 2 else f"{a}{joiner}{mult}{b}"
    expected = {s: float(n) for s, n in outer.items()}
    for s, n in inner.items():
        expected[s] = expected.get(s, 0.0) + float(n * mult)
    assert parse_formula(formula) == expected
