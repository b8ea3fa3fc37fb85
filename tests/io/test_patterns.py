"""Reading pattern files as instruments write them: headers, comments, separators, XRDML, bad lines."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from matloop.errors import InputError
from matloop.io.patterns import (
    PatternProblem,
    index_folder,
    looks_like_pattern_path,
    read_pattern,
    read_patterns,
)

OVIEDO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "xrd" / "autoXRD_oviedo2019" / "Experimental"
X = np.round(np.arange(10, 20, 0.5), 3)


def _write(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes(newline.join(lines).encode())
    return path


@pytest.mark.parametrize("sep", [" ", "\t", ",", ";", "  ,  "])
def test_two_columns_with_header_and_comments(tmp_path, sep):
    lines = ["Instrument: D8", "2theta intensity", "# a comment"]
    lines += [f"{x}{sep}{10 * i}" for i, x in enumerate(X)]
    lines.insert(8, "! another comment")
    p = read_pattern(_write(tmp_path / "a.xy", lines, "\r\n"))
    np.testing.assert_allclose(p.x, X)
    np.testing.assert_allclose(p.y, 10 * np.arange(len(X)))
    assert p.header_lines == 2 and p.unit == "2theta" and p.wavelength == pytest.approx(1.5406)


def test_xye_sigma_gzip_and_falling_axis(tmp_path):
    text = "\n".join(f"{x} {i} {0.5 * i}" for i, x in enumerate(X[::-1]))
    path = tmp_path / "b.xye.gz"
    path.write_bytes(gzip.compress(text.encode()))
    p = read_pattern(path)
    np.testing.assert_allclose(p.x, X)  # read in rising order, the same curve
    np.testing.assert_allclose(p.sigma, 0.5 * p.y)


@pytest.mark.parametrize(("lines", "reason"), [
    ([f"{x} 1" for x in X[:5]] + ["junk here"] + [f"{x} 1" for x in X[5:]], "line 6: 'junk here' is not two"),
    ([f"{x} 1" for x in X[:5]] + ["12.3"] + [f"{x} 1" for x in X[5:]], "line 6: '12.3' is not two"),
    ([f"{x} 1 2" for x in X[:5]] + [f"{x} 1" for x in X[5:]], "line 6: 2 numbers where the data has 3"),
    ([f"{x} nan" for x in X], "line 1: a value is not finite"),
    ([f"{x} 1" for x in [*X[:5], X[3], *X[6:]]], "not strictly increasing"),
    ([f"{x} 1" for x in X[:4]], "4 data points"),
    ([f"{x + 170} 1" for x in X], "use --x-unit q"),
    (["header only"], "no numeric data lines"),
])
def test_bad_files_name_the_problem(tmp_path, lines, reason):
    with pytest.raises(PatternProblem, match=None) as info:
        read_pattern(_write(tmp_path / "c.xy", lines))
    assert reason in str(info.value)


def test_skip_invalid_drops_bad_lines_and_keeps_their_numbers(tmp_path):
    lines = [f"{x} 1" for x in X[:5]] + ["14.168110228"] + [f"{x} 1" for x in X[5:]] + ["19.9"]
    p = read_pattern(_write(tmp_path / "d.xy", lines), skip_invalid=True)
    assert len(p) == len(X) and p.meta["dropped_lines"] == [6, len(X) + 2]


def test_xrdml(tmp_path):
    counts = " ".join(str(v) for v in range(100, 100 + 30))
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.5"><xrdMeasurement>
<usedWavelength intended="K-Alpha 1"><kAlpha1 unit="Angstrom">1.5405980</kAlpha1></usedWavelength>
<scan><dataPoints><positions axis="2Theta" unit="deg"><startPosition>10.00</startPosition>
<endPosition>39.00</endPosition></positions><positions axis="Omega" unit="deg"><startPosition>5</startPosition>
<endPosition>19.5</endPosition></positions><commonCountingTime unit="seconds">1.0</commonCountingTime>
<counts unit="counts">{counts}</counts></dataPoints></scan></xrdMeasurement></xrdMeasurements>"""
    p = read_pattern(_write(tmp_path / "e.xrdml", [xml]))
    np.testing.assert_allclose(p.x, np.linspace(10, 39, 30))
    assert p.y[0] == 100 and p.wavelength == pytest.approx(1.540598) and p.meta["counting_time"] == "1.0"
    with pytest.raises(PatternProblem, match="not valid XML"):
        read_pattern(_write(tmp_path / "f.xrdml", ["<xrdMeasurements><broken"]))


def test_table_of_files_reports_every_bad_row(tmp_path):
    good = _write(tmp_path / "good.xy", [f"{x} 1" for x in X])
    _write(tmp_path / "bad.xy", ["a b", "1"])
    with pytest.raises(InputError) as info:
        read_patterns(["good.xy", "bad.xy", "missing.xy", ""], rows=[2, 3, 4, 5], base_dir=tmp_path)
    table = info.value.table
    assert table["row"].tolist() == [3, 4, 5]
    assert "no numeric data" in table["reason"][0] and table["reason"][1] == "no such file"
    assert "empty cell" in table["reason"][2]
    assert len(read_patterns([str(good)])) == 1


def test_folder_index_labels_by_subfolder(tmp_path):
    for label in ("cubic", "tetragonal"):
        (tmp_path / label).mkdir()
        _write(tmp_path / label / f"{label}_1.xy", [f"{x} 1" for x in X])
    _write(tmp_path / "notes.md", ["not a pattern"])
    files, labels, other = index_folder(tmp_path)
    assert labels == ["cubic", "tetragonal"] and other == ["notes.md"] and len(files) == 2
    assert looks_like_pattern_path("a/b.xye.gz") and not looks_like_pattern_path("a.cif")


@pytest.mark.skipif(not OVIEDO.is_dir(), reason="shared XRD data not available")
def test_real_thin_film_patterns():
    files, labels, _ = index_folder(OVIEDO)
    assert len(files) == 88 and len(set(labels)) == 7
    with pytest.raises(InputError) as info:
        read_patterns(files)
    assert len(info.value.table) == 4  # four files hold glued numbers and lone angles
    patterns = read_patterns(files, skip_invalid=True)
    assert sum(bool(p.meta.get("dropped_lines")) for p in patterns) == 4
    assert all(p.x[0] >= 3 and p.x[-1] <= 80.1 for p in patterns)
