"""The reason given for a cell that should be a number says how chemists' ways of writing one go wrong."""

import pytest

from matloop.io.number_hints import number_hint


@pytest.mark.parametrize("cell, words", [
    ("12,5", "decimal comma?"),
    ("1,200", "a decimal comma or a thousands separator?"),
    ("1,200.5", "a thousands separator?"),
    ("<5", "a detection limit?"),
    ("≤ 0.1 ppm", "a detection limit?"),
    ("45 ± 2", "a value with its error?"),
    ("45+/-2", "a value with its error?"),
    ("45%", "a percent sign?"),
    ("60 °C", "a number with its unit?"),
    ("3.2 mS/cm", "a number with its unit?"),
    ("n.d.", "not measured?"),
])
def test_each_way_gets_its_hint(cell, words):
    assert words in number_hint(cell)


@pytest.mark.parametrize("cell", ["EtOH", "Fe2O3", "CCO", "abc", "large_crystallites", ""])
def test_other_text_gets_none(cell):
    assert number_hint(cell) == ""
