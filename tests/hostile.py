"""Hypothesis strategy for hostile table files, shared by tests/io/test_hostile_files.py and
tests/cli/test_hostile_cli.py (importable as ``hostile``: pytest's pythonpath).

A file is either random bytes under a table suffix, or a small table whose header and cells are drawn
from awkward values (control characters, quotes, separators, unicode), joined with a random line
ending and separator, encoded in a random encoding, and for compressed suffixes compressed and
sometimes truncated.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma

from hypothesis import strategies as st

CELLS = st.one_of(
    st.sampled_from(["Fe2O3", "NiO", "1", "2.5", "", "NaN", "inf", "-", '"', '""', "a,b", "\t", " ", "\u00e9"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.text(alphabet="\x00\x01\x0b\x0c\x1b\r\n,;\"'\\{}[]:", max_size=6),
)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "cp1252", "latin-1"])
SUFFIXES = st.sampled_from([".csv", ".tsv", ".txt", ".csv.gz", ".csv.bz2", ".csv.xz", ".json", ".jsonl",
                            ".xlsx", ".parquet"])


@st.composite
def hostile_files(draw) -> tuple[str, bytes]:
    suffix = draw(SUFFIXES)
    if draw(st.booleans()):
        return suffix, draw(st.binary(max_size=300))
    ncols = draw(st.integers(1, 3))
    header = ["formula", "y", "z"][:ncols] if draw(st.booleans()) else draw(st.lists(CELLS, min_size=1, max_size=3))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=4), max_size=5))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    sep = "\t" if suffix == ".tsv" else draw(st.sampled_from([",", ";", "\t"]))
    text = newline.join(sep.join(r) for r in [header, *rows])
    if suffix.startswith((".json", ".jsonl")) and draw(st.booleans()):
        records = [dict(zip(header, r, strict=False)) for r in rows]
        text = json.dumps(records) if suffix == ".json" else "\n".join(json.dumps(r) for r in records)
    data = text.encode(draw(ENCODINGS), errors="replace")
    compress = {".csv.gz": gzip.compress, ".csv.bz2": bz2.compress, ".csv.xz": lzma.compress}.get(suffix)
    if compress:
        data = compress(data)
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]
    return suffix, data
