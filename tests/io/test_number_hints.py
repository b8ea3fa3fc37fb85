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


def test_a_semicolon_file_from_a_comma_decimal_spreadsheet_reads_its_numbers(tmp_path, capsys):
    """';'-separated with decimal commas (Excel in a German or French locale): the numbers are read, and
    stderr says which columns; a column that mixes '1,5' and '1.5' stays text (its cells get the hint)."""
    from matloop.io import read_table

    path = tmp_path / "export.csv"
    path.write_text("temperature;time;yield;note\n60;1,5;20,1;a\n80;2;35,5;b\n100;2,5;;c\n")
    with pytest.warns(UserWarning, match="semicolon-separated with decimal commas: 'time', 'yield' read as numbers"):
        table = read_table(path, target="yield")
    assert table.frame["time"].tolist() == [1.5, 2.0, 2.5]
    assert table.frame["yield"].iloc[:2].tolist() == [20.1, 35.5] and table.frame["yield"].isna().iloc[2]
    from matloop.cli.main import main

    assert main(["suggest", str(path), "--target", "yield", "--maximize", "--batch", "1", "-o",
                 str(tmp_path / "next.csv")]) == 0  # the command says it on stderr
    assert "note: export.csv is semicolon-separated with decimal commas" in capsys.readouterr().err
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("temperature;yield\n60;20,1\n80;35.5\n100;\n")
    from matloop.errors import InputError

    with pytest.raises(InputError) as err:
        read_table(mixed, target="yield")
    assert "decimal comma?" in str(err.value)
    quoted = tmp_path / "quoted.csv"  # comma-separated: a quoted decimal comma stays an error with its hint
    quoted.write_text('temperature,yield\n60,"20,1"\n80,35.5\n100,\n')
    with pytest.raises(InputError) as err:
        read_table(quoted, target="yield")
    assert "decimal comma?" in str(err.value)
