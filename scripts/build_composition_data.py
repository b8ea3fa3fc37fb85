"""Build the element tables bundled with matloop's composition featurizers (``comp_*`` files).

Run from the repository root with the development environment (needs pymatgen and matminer, which
users of matloop do not need)::

    .venv/bin/python scripts/build_composition_data.py

Writes ``src/matloop/represent/data/comp_elements.csv`` and ``comp_oxidation_states.json``.
Values are copied as published (no imputation here; the featurizers impute at load time, exactly
as matminer does). Sources and licences: ``src/matloop/represent/data/COMPOSITION_DATA_PROVENANCE.md``.
"""

from __future__ import annotations

import csv
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "matloop" / "represent" / "data"

#: no stable isotope (Bi-209, half-life 2e19 years, is treated as stable; see the provenance file)
RADIOACTIVE_Z = [43, 61, *range(84, 119)]
#: EU RoHS 2011/65/EU Annex II metals (Pb, Hg, Cd, Cr(VI)) and IARC Group 1 elements whose
#: compounds are carcinogenic (As, Be, Cd, Cr(VI), Ni); flagged per element, any oxidation state
TOXIC = ["As", "Be", "Cd", "Cr", "Hg", "Ni", "Pb"]


def _hhi() -> dict[str, tuple[float, float]]:
    import pymatgen.analysis.hhi as hhi

    out = {}
    for line in Path(hhi.HHI_CSV_PATH).read_text().splitlines():
        if line and not line.startswith("#"):
            sym, prod, res = line.split(",")
            out[sym] = (float(prod), float(res))
    return out


def _prices() -> dict[str, float]:
    import pymatgen.analysis.cost as cost

    path = Path(cost.__file__).parent / "costdb_elements.csv"
    with open(path, encoding="utf-8") as fh:
        return {row[0]: float(row[1]) for row in csv.reader(fh, quotechar="|") if row}


def build() -> None:
    from pymatgen.core import Element

    hhi, prices = _hhi(), _prices()
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns for every element without a Pauling value
        for z in range(1, 119):
            el = Element.from_Z(z)
            x = el.X
            rows.append({
                "Z": z,
                "symbol": el.symbol,
                "pauling_electronegativity": x if x and not np.isnan(x) else math.nan,
                "atomic_mass": float(el.atomic_mass),
                "hhi_production": hhi.get(el.symbol, (math.nan, math.nan))[0],
                "hhi_reserve": hhi.get(el.symbol, (math.nan, math.nan))[1],
                "price_usd_per_kg": prices.get(el.symbol, math.nan),
                "radioactive": int(z in RADIOACTIVE_Z),
                "toxic": int(el.symbol in TOXIC),
            })
        states = {
            "common": {Element.from_Z(z).symbol: list(Element.from_Z(z).common_oxidation_states) for z in range(1, 119)},
            "icsd": {Element.from_Z(z).symbol: list(Element.from_Z(z).icsd_oxidation_states) for z in range(1, 119)},
            "all": {Element.from_Z(z).symbol: list(Element.from_Z(z).oxidation_states) for z in range(1, 119)},
        }
    unknown = set(hhi) - {r["symbol"] for r in rows} | set(prices) - {r["symbol"] for r in rows}
    if unknown:
        raise SystemExit(f"symbols in the source tables that are not elements: {sorted(unknown)}")
    OUT.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(OUT / "comp_elements.csv", index=False)  # repr floats: exact round trip
    import pymatgen.core

    doc = {"source": f"pymatgen {pymatgen.core.__version__} Element.common_oxidation_states, "
                     "icsd_oxidation_states, oxidation_states", **states}
    text = json.dumps(doc, indent=1)
    text = re.sub(r"\[\s+([^\]]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    (OUT / "comp_oxidation_states.json").write_text(text + "\n")  # one element per line
    print(f"wrote {OUT / 'comp_elements.csv'} ({len(rows)} elements) and comp_oxidation_states.json")


if __name__ == "__main__":
    build()
