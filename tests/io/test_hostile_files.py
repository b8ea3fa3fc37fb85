"""Hostile table files (issue 16, items 3, 5, 7, 11): every unreadable or crafted file is an InputError.

NUL bytes and other control characters are reported with row and column before pandas can cut a
cell at them; compressed tables and workbooks are size-capped before they are inflated (checked
under a memory limit in a subprocess); messages never grow with the input; corrupt, empty,
header-only, oddly encoded or deeply nested files never raise anything but InputError. The last
test feeds random bytes, encodings and cells through ``read_table`` (hypothesis).
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import json
import lzma
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile import hostile_files
from matloop import InputError
from matloop.errors import error_table, format_error_table, shorten
from matloop.io import read_table
from matloop.io.files import read_columns, read_raw
from matloop.io.guard import MAX_ZIP_RATIO

TABLE = "formula,y\nFe2O3,1.5\nNiO,2\nCuO,3\n"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def problems(exc: pytest.ExceptionInfo) -> list[tuple]:
    return [tuple(r) for r in exc.value.table[["row", "column", "value"]].itertuples(index=False)]


# ------------------------------------------------------------------ item 3: control characters
def test_nul_bytes_are_reported_with_row_and_column_not_truncated(tmp_path):
    path = write(tmp_path, "nul.csv", b"formula,y\nFe2O3\x00junk,1\nNiO,1\x00999\nCuO,3\n")
    with pytest.raises(InputError) as exc:
        read_table(path, target="y")
    assert problems(exc) == [(1, "formula", "Fe2O3\x00junk"), (2, "y", "1\x00999")]
    assert "U+0000 (NUL)" in exc.value.table["reason"][0]
    assert "'Fe2O3\\x00junk'" in str(exc.value)  # shown escaped, not as a raw NUL


@pytest.mark.parametrize("char", ["\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f"])
def test_other_c0_controls_are_rejected_but_tab_is_a_separator(tmp_path, char):
    path = write(tmp_path, "c.csv", f"formula,y\nFe2O3,1\nNi{char}O,2\n".encode())
    with pytest.raises(InputError) as exc:
        read_table(path, target="y")
    assert problems(exc) == [(2, "formula", f"Ni{char}O")]
    tsv = write(tmp_path, "t.tsv", b"formula\ty\nFe2O3\t1\nNiO\t2\n")
    assert read_table(tsv, target="y").frame["formula"].tolist() == ["Fe2O3", "NiO"]


def test_control_characters_in_compressed_text_quoted_cells_and_header(tmp_path):
    gz = write(tmp_path, "t.csv.gz", gzip.compress(b'formula,y\n"Fe2O3",1\n"Ni\nO\x00",2\nCuO,3\n'))
    with pytest.raises(InputError) as exc:
        read_table(gz, target="y")
    assert problems(exc) == [(2, "formula", "Ni\nO\x00")]  # a quoted cell spanning lines is one row
    header = write(tmp_path, "h.csv", b"formula,y\x00\nFe2O3,1\n")
    with pytest.raises(InputError, match="header line contains the control character U\\+0000"):
        read_raw(header)


def test_control_characters_in_json_xlsx_and_parquet_cells(tmp_path):
    js = write(tmp_path, "t.json", json.dumps([{"formula": "Fe2O3\u0000x", "y": 1}, {"formula": "NiO", "y": 2}])
               .encode())
    with pytest.raises(InputError) as exc:
        read_table(js, target="y")
    assert problems(exc) == [(1, "formula", "Fe2O3\x00x")]
    frame = pd.DataFrame({"formula": ["Fe2O3", "Ni\x07O"], "y": [1.0, 2.0]})
    frame.to_parquet(tmp_path / "t.parquet")
    with pytest.raises(InputError) as exc:
        read_table(tmp_path / "t.parquet", target="y")
    assert problems(exc) == [(2, "formula", "Ni\x07O")]


def test_nested_and_binary_parquet_cells_and_a_damaged_workbook(tmp_path):
    frame = pd.DataFrame({"formula": ["Fe2O3", "NiO"], "y": [1.0, 2.0], "tags": [[1, 2], [3]],
                          "blob": [b"\x00\x01", b"ok"]})
    frame.to_parquet(tmp_path / "n.parquet")
    with pytest.raises(InputError) as exc:
        read_raw(tmp_path / "n.parquet")
    assert sorted(problems(exc)) == [(1, "blob", "<byte string of 2 items>"), (1, "tags", "<list of 2 items>"),
                                     (2, "blob", "<byte string of 2 items>"), (2, "tags", "<list of 1 item>")]
    pd.DataFrame({"formula": pd.Categorical(["Fe2O3", "Ni\x00O"]), "y": [1.0, 2.0]}).to_parquet(tmp_path / "c.parquet")
    with pytest.raises(InputError) as exc:
        read_raw(tmp_path / "c.parquet")
    assert problems(exc) == [(2, "formula", "Ni\x00O")]  # categorical columns are looked at too
    pd.DataFrame({"formula": ["Fe2O3", "NiO"], "y": [1.0, 2.0]}).set_index("formula").to_parquet(tmp_path / "i.parquet")
    assert read_raw(tmp_path / "i.parquet")[0]["formula"].tolist() == ["Fe2O3", "NiO"]  # a named index is kept
    good = tmp_path / "good.xlsx"
    pd.DataFrame({"formula": ["Fe2O3"], "y": [1.0]}).to_excel(good, index=False)
    damaged = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            dst.writestr(item, b"<worksheet><sheetData><row" if item.filename.endswith("sheet1.xml") else data)
    with pytest.raises(InputError, match="cannot read damaged.xlsx as an Excel workbook"):
        read_raw(damaged)


def test_a_binary_file_lists_at_most_a_bounded_number_of_problems(tmp_path):
    path = write(tmp_path, "bin.csv", b"a,b\n" + b"\x00\x01,\x02\n" * 50_000)
    with pytest.raises(InputError) as exc:
        read_raw(path)
    assert len(exc.value.table) == 1000 and "99000 more" in exc.value.message
    assert len(str(exc.value)) < 20_000


# ------------------------------------------------------------------ item 5: size caps and bombs
def _bomb_gz(path: Path, gib: float) -> None:
    """A multi-member gzip of zeros inflating to ``gib`` GiB, built without compressing that much."""
    member = gzip.compress(b"formula,y\n" + b"0" * ((64 << 20) - 10), compresslevel=9)
    with open(path, "wb") as fh:
        for _ in range(int(gib * 16)):
            fh.write(member)


def _read_raw_script(path: Path) -> str:
    """A child script that reads ``path`` with ``read_raw`` and prints REJECTED and the message on InputError."""
    return f"""
        from matloop import InputError
        from matloop.io.files import read_raw
        try:
            read_raw({str(path)!r})
        except InputError as exc:
            print("REJECTED", exc.message)
    """


def _run_capped(script: str, extra_mib: int, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run ``script`` with the address space limited to what it uses after imports + ``extra_mib``."""
    code = textwrap.dedent(f"""
        import resource, re
        import pandas, matloop.io.files, matloop.io.table
        vm = int(re.search(r"VmSize:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
        limit = vm + {extra_mib} * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    """) + textwrap.dedent(script)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memory cap via /proc and RLIMIT_AS")
def test_gzip_bomb_is_stopped_at_the_cap_under_a_memory_limit(tmp_path):
    bomb = tmp_path / "bomb.csv.gz"
    _bomb_gz(bomb, 2)  # 2 GiB of zeros in ~4 MB
    assert bomb.stat().st_size < 10 << 20
    script = _read_raw_script(bomb)
    done = _run_capped(script, 400, {"MATLOOP_MAX_TABLE_BYTES": "100M"})  # the size cap stops it
    assert "REJECTED" in done.stdout, done.stderr[-2000:]
    assert "decompresses to more than 100.0 MiB" in done.stdout and "MATLOOP_MAX_TABLE_BYTES" in done.stdout
    done = _run_capped(script, 900, {})  # default 1 GiB cap: the ratio stops it at ~400 MiB
    assert "REJECTED" in done.stdout, done.stderr[-2000:]
    assert "inflate more than 200-fold" in done.stdout and "like a decompression bomb" in done.stdout
    # the memory limit bites: read without these checks, the same file dies of MemoryError
    done = _run_capped(f"import gzip\ngzip.open({str(bomb)!r}).read()\n", 900, {})
    assert done.returncode != 0 and "MemoryError" in done.stderr


@pytest.mark.parametrize("compress,suffix", [(bz2.compress, ".bz2"), (lzma.compress, ".xz")])
def test_other_compressions_are_capped(tmp_path, monkeypatch, compress, suffix):
    path = write(tmp_path, f"t.csv{suffix}", compress(b"formula,y\n" + b"Fe2O3,1\n" * 300_000))
    monkeypatch.setenv("MATLOOP_MAX_TABLE_BYTES", "1M")
    with pytest.raises(InputError, match="decompresses to more than 1.0 MiB"):
        read_raw(path)
    monkeypatch.setenv("MATLOOP_MAX_TABLE_BYTES", "4M")
    assert len(read_raw(path)[0]) == 300_000


def test_uncompressed_file_over_the_cap_is_refused_before_reading(tmp_path, monkeypatch):
    path = write(tmp_path, "t.csv", TABLE.encode() * 1000)
    monkeypatch.setenv("MATLOOP_MAX_TABLE_BYTES", "10K")
    with pytest.raises(InputError, match="the file holds 31.2 KiB, more than the limit of 10.0 KiB"):
        read_raw(path)
    monkeypatch.setenv("MATLOOP_MAX_TABLE_BYTES", "lots")
    with pytest.raises(InputError, match="is not a size in bytes"):
        read_raw(path)


def _xlsx_bomb(path: Path, mib: int) -> None:
    """A real workbook whose sheet XML is padded with ``mib`` MiB of spaces (inflates ~1000-fold)."""
    good = path.with_name("good.xlsx")
    pd.DataFrame({"formula": ["Fe2O3"], "y": [1.0]}).to_excel(good, index=False)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                with dst.open(item.filename, "w", force_zip64=True) as fh:
                    head, _, tail = data.partition(b"<sheetData>")
                    fh.write(head + b"<sheetData>")
                    for _ in range(mib):
                        fh.write(b" " * (1 << 20))
                    fh.write(tail)
            else:
                dst.writestr(item, data)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memory cap via /proc and RLIMIT_AS")
def test_xlsx_bomb_is_refused_from_the_zip_directory_under_a_memory_limit(tmp_path):
    bomb = tmp_path / "bomb.xlsx"
    _xlsx_bomb(bomb, 64)
    assert bomb.stat().st_size < 1 << 20
    script = _read_raw_script(bomb)
    done = _run_capped(script, 40, {})  # far less memory than the 64 MiB the sheet inflates to
    assert "REJECTED" in done.stdout, done.stderr[-2000:]
    assert "like a decompression bomb" in done.stdout and f"less than {MAX_ZIP_RATIO}-fold" in done.stdout


def test_xlsx_entity_expansion_is_refused(tmp_path):
    """"Billion laughs" in a worksheet: the XML parser's amplification limit stops it; exit 2, not a hang."""
    good = tmp_path / "good.xlsx"
    pd.DataFrame({"formula": ["Fe2O3"], "y": [1]}).to_excel(good, index=False)
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    dtd = f'<?xml version="1.0"?>\n<!DOCTYPE z [<!ENTITY l0 "lollollollollol">{entities}]>'
    bomb = tmp_path / "laughs.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("sheet1.xml"):
                text = data.decode().split("?>", 1)[-1].replace("<v>1</v>", "<v>&l9;</v>", 1)
                data = (dtd + text).encode()
            dst.writestr(item, data)
    with pytest.raises(InputError, match="cannot read laughs.xlsx as an Excel workbook"):
        read_raw(bomb)


def test_xlsx_declared_total_over_the_cap_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "t.xlsx"
    pd.DataFrame({"formula": ["Fe2O3"] * 2000, "y": range(2000)}).to_excel(path, index=False)
    assert len(read_raw(path)[0]) == 2000
    monkeypatch.setenv("MATLOOP_MAX_TABLE_BYTES", str(path.stat().st_size + 1))  # the file fits, its parts not
    with pytest.raises(InputError, match="its parts inflate to .* KiB, more than the limit of"):
        read_raw(path)


def test_parquet_declared_cells_over_the_cap_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"y": [0.0] * 500_000}).to_parquet(path)  # run-length encoded: a tiny file
    monkeypatch.setenv("MATLOOP_MAX_TABLE_BYTES", "2M")
    with pytest.raises(InputError, match="declares 500,000 rows x 1 columns, more than the 262,144 cells"):
        read_raw(path)


# ------------------------------------------------------------------ item 7: bounded messages
def test_error_messages_do_not_grow_with_the_input(tmp_path):
    cell = "Q" * 10_000_000
    table = error_table([{"row": 3, "column": "c" * 10_000, "value": cell, "reason": f"unknown element {cell!r}"}])
    assert len(table["value"][0]) < 250 and table["value"][0].endswith("… (10,000,000 characters)")
    assert len(table["reason"][0]) < 550 and len(table["column"][0]) < 250
    error = InputError("bad " + cell, table)
    assert len(str(error)) < 5_000 and len(error.message) < 2_100
    assert shorten("abc") == "abc" and shorten(12.5) == 12.5
    raw = pd.DataFrame({"row": [1], "column": ["x"], "value": [cell], "reason": [cell]})  # not via error_table
    assert len(format_error_table(raw)) < 1_000 and len(str(InputError("m", raw))) < 1_000
    nested = error_table([{"row": 1, "column": "x", "value": list(range(10**6)), "reason": "r"}])
    assert len(format_error_table(nested)) < 500


def test_a_ten_megabyte_bad_target_cell_gives_a_short_message(tmp_path):
    path = write(tmp_path, "big.csv", (TABLE + "ZnO," + "9" * 5_000_000 + "x\n").encode())
    with pytest.raises(InputError) as exc:
        read_table(path, target="y")
    assert exc.value.table["row"].tolist() == [4]
    assert len(str(exc.value)) < 3_000


# ------------------------------------------------------------------ item 11: unreadable files
UNREADABLE = {
    "empty.csv": b"",
    "empty.csv.gz": b"",
    "empty.xlsx": b"",
    "empty.parquet": b"",
    "empty.json": b"",
    "corrupt.xlsx": b"PK\x03\x04" + os.urandom(200),
    "text.xlsx": TABLE.encode(),
    "corrupt.parquet": b"PAR1" + os.urandom(200) + b"PAR1",
    "text.parquet": TABLE.encode(),
    "truncated.csv.gz": gzip.compress(TABLE.encode() * 50)[:-30],
    "notgz.csv.gz": TABLE.encode(),
    "truncated.csv.bz2": bz2.compress(TABLE.encode() * 50)[:-30],
    "truncated.csv.xz": lzma.compress(TABLE.encode() * 50)[:-30],
    "nested.json": b"[" * 100_000 + b"]" * 100_000,
    "nested_obj.json": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "malformed.json": b'[{"formula": "Fe2O3", "y": 1},',
    "scalar.json": b"42",
    "split_bad.json": b'{"columns": ["formula", "y"], "data": [["Fe2O3", 1, 2, 3]]}',
    "split_scalar.json": b'{"columns": "formula", "data": 7}',
    "objects.json": b'[{"formula": {"Fe": 2, "O": 3}, "y": 1}, {"formula": "NiO", "y": [1, 2]}]',
    "dupkey.json": b'[{"formula": "Fe2O3", "y": 1, "y": 2}]',
    "dupkey.jsonl": b'{"formula": "Fe2O3", "y": 1}\n{"formula": "NiO", "formula": "CuO", "y": 2}\n',
    "longint.json": b'[{"formula": "Fe2O3", "y": ' + b"9" * 5000 + b"}]",
    "notrecords.jsonl": b"[1, 2]\n[3, 4]\n",
    "latin.csv": b"formula,y\nFe2O3,1\nNi\x81O,2\n",  # 0x81 is neither UTF-8 nor Windows-1252
    "utf16_bad.csv": codecs.BOM_UTF16_LE + b"f\x00,\x00\x00\xd8",  # lone surrogate
    "header_only.csv": b"formula,y\n",
    "header_only.json": b"[]",
    "header_only.jsonl": b"\n\n",
    "header_only.parquet": None,
    "header_only.xlsx": None,
    "unbalanced.csv": b'formula,y\n"Fe2O3,1\nNiO,2\n',
    "ragged.csv": b"formula,y\nFe2O3,1,5\nNiO\n",
    "spaces.txt": b"a b c\n1 2 3 4 5\n",
}


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_unreadable_files_raise_input_error(tmp_path, name):
    path = tmp_path / name
    if UNREADABLE[name] is None:
        empty = pd.DataFrame({"formula": pd.Series([], dtype=object), "y": pd.Series([], dtype=float)})
        empty.to_parquet(path) if name.endswith(".parquet") else empty.to_excel(path, index=False)
    else:
        path.write_bytes(UNREADABLE[name])
    with pytest.raises(InputError) as exc:
        read_table(path, target="y")
    assert "Traceback" not in str(exc.value) and len(str(exc.value)) < 3_000


def test_specific_messages_for_json_problems(tmp_path):
    with pytest.raises(InputError, match="the key 'y' appears twice"):
        read_raw(write(tmp_path, "d.json", UNREADABLE["dupkey.json"]))
    with pytest.raises(InputError, match="the key 'formula' appears twice .*line 2"):
        read_raw(write(tmp_path, "d.jsonl", UNREADABLE["dupkey.jsonl"]))
    with pytest.raises(InputError, match="nested too deeply"):
        read_raw(write(tmp_path, "n.json", UNREADABLE["nested.json"]))
    with pytest.raises(InputError) as exc:
        read_raw(write(tmp_path, "o.json", UNREADABLE["objects.json"]))
    assert problems(exc) == [(1, "formula", "<JSON object of 2 items>"), (2, "y", "<list of 2 items>")]


def test_missing_file_and_directory_are_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_raw(tmp_path / "nope.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(FileNotFoundError, match="not a file"):
        read_raw(tmp_path / "dir.csv")


# ------------------------------------------------------------------ encodings and line endings
ENCODED = {
    "crlf": TABLE.replace("\n", "\r\n").encode(),
    "cr_only": TABLE.replace("\n", "\r").encode(),
    "utf8_bom": codecs.BOM_UTF8 + TABLE.encode(),
    "utf16_le_bom": TABLE.encode("utf-16"),
    "utf16_be_bom": codecs.BOM_UTF16_BE + TABLE.encode("utf-16-be"),
    "utf16_le_no_bom": TABLE.encode("utf-16-le"),
    "utf16_be_no_bom": TABLE.encode("utf-16-be"),
    "utf32_bom": TABLE.encode("utf-32"),
    "utf16_cr_only": TABLE.replace("\n", "\r").encode("utf-16"),
}


@pytest.mark.parametrize("name", sorted(ENCODED))
def test_line_endings_and_unicode_encodings_read_the_same_table(tmp_path, name):
    path = write(tmp_path, f"{name}.csv", ENCODED[name])
    ds = read_table(path, target="y")
    assert ds.frame["formula"].tolist() == ["Fe2O3", "NiO", "CuO"]
    assert ds.frame["y"].tolist() == [1.5, 2.0, 3.0]
    assert read_columns(path) == ["formula", "y"]


def test_windows_1252_is_read_with_a_warning(tmp_path):
    path = write(tmp_path, "w.csv", "formula,y,note\nFe2O3,1,caf\u00e9\nNiO,2,\u20ac\n".encode("cp1252"))
    with pytest.warns(UserWarning, match="not UTF-8 text; it was read as Windows-1252"):
        frame, _ = read_raw(path)
    assert frame["note"].tolist() == ["caf\u00e9", "\u20ac"]


# ------------------------------------------------------------------ property: random files
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(hostile_files(), st.sampled_from([None, "y", "formula"]))
def test_random_files_give_a_dataset_or_input_error(tmp_path, file, target):
    suffix, data = file
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    try:
        ds = read_table(path, target=target)
    except InputError as exc:
        assert len(str(exc)) < 20_000
        return
    for column in ds.frame.columns:  # what was read holds no control characters
        for value in ds.frame[column]:
            assert not (isinstance(value, str) and any(ord(c) < 32 and c not in "\t\r\n" for c in value))
