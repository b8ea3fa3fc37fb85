"""The benchmark-only tables in ``benchmarks/data``: each one documented, and readable as documented."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"
TABLES = sorted(DATA.glob("*.csv.xz"))


def test_every_table_has_its_provenance():
    provenance = (DATA / "PROVENANCE.md").read_text()
    assert TABLES, "no benchmark tables found"
    missing = [p.name for p in TABLES if p.name not in provenance]
    assert not missing, f"tables without a provenance entry: {missing}"
    if any(p.name.startswith("olympus_") for p in TABLES):
        assert (DATA / "OLYMPUS_LICENSE").read_text().startswith("MIT License")


@pytest.mark.parametrize("path", [p for p in TABLES if p.name.startswith("olympus_")], ids=lambda p: p.name)
def test_olympus_tables_are_numeric_with_a_header(path):
    """Header built from the dataset's config (inputs, then the one objective); every value a number."""
    frame = pd.read_csv(path)
    stated = {"olympus_photo_pce10.csv.xz": 1040, "olympus_photo_wf3.csv.xz": 1040, "olympus_hplc.csv.xz": 1386,
              "olympus_fullerenes.csv.xz": 246, "olympus_suzuki.csv.xz": 247, "olympus_colors_bob.csv.xz": 241,
              "olympus_snar.csv.xz": 66, "olympus_benzylation.csv.xz": 73, "olympus_colors_n9.csv.xz": 102}
    assert len(frame) == stated[path.name]
    assert frame.shape[1] >= 4
    assert all(pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns)
    assert not frame.isna().any().any()
