"""Build ``tests/io/data/real_formulas.csv``: real formulas with pymatgen's element amounts.

The formula parser's test compares matloop's parser with pymatgen (``Composition(f).get_el_amt_dict()``)
on about 600 formulas sampled from public datasets (Matbench steels, expt_gap, glass, jdft2d,
perovskites; CrabNet benchmark sets) plus hand-written hard cases (hydrates with ``·``/``*``,
nested brackets, scientific notation, whitespace). pymatgen reads neither ``·`` nor ``*`` hydrates,
so a hard case may give an equivalent that pymatgen can read: a list of ``(multiplier, formula)``
parts whose amounts are summed.

Run from the repository root (needs ``/work/shared/data`` or ``--data DIR`` and pymatgen)::

    .venv/bin/python scripts/make_formula_fixture.py

The output is committed; tests never read the shared data.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

import pandas as pd
from pymatgen.core import Composition

OUT = Path(__file__).resolve().parents[1] / "tests" / "io" / "data" / "real_formulas.csv"

#: (relative path, formula column, how many to sample)
SOURCES = [
    ("matbench_steels/matbench_steels.csv", "composition", 110),
    ("matbench_expt_gap/matbench_expt_gap.csv", "composition", 110),
    ("matbench_glass/matbench_glass.csv", "composition", 70),
    ("matbench_jdft2d/matbench_jdft2d.csv", "composition", 70),
    ("matbench_perovskites/matbench_perovskites.csv", "composition", 60),
    ("crabnet_benchmark_data/OQMD_Bandgap/test.csv.gz", "formula", 40),
    ("crabnet_benchmark_data/aflow__Egap/test.csv.gz", "formula", 30),
    ("crabnet_benchmark_data/mp_bulk_modulus/test.csv.gz", "formula", 30),
    ("crabnet_benchmark_data/CritExam__Ef/test.csv.gz", "formula", 30),
]

#: hand-written hard cases: formula -> None (pymatgen reads it as is) or its parts for pymatgen
HARD: dict[str, list[tuple[float, str]] | None] = {
    "CuSO4·5H2O": [(1, "CuSO4"), (5, "H2O")],
    "CuSO4*5H2O": [(1, "CuSO4"), (5, "H2O")],
    "CuSO4•5H2O": [(1, "CuSO4"), (5, "H2O")],
    "Na2CO3.H2O": [(1, "Na2CO3"), (1, "H2O")],
    "MgSO4·7H2O": [(1, "MgSO4"), (7, "H2O")],
    "CaSO4·0.5H2O": [(1, "CaSO4"), (0.5, "H2O")],
    "K4[Fe(CN)6]·3H2O": [(1, "K4Fe(CN)6"), (3, "H2O")],
    "Na2B4O7*10H2O": [(1, "Na2B4O7"), (10, "H2O")],
    "AlCl3·6H2O·2NH3": [(1, "AlCl3"), (6, "H2O"), (2, "NH3")],
    "Ca3(PO4)2": None,
    "(NH4)2SO4": None,
    "[Co(NH3)6]Cl3": None,
    "K3[Fe(CN)6]": None,
    "Ca10(PO4)6(OH)2": None,
    "Mg(OH)2": None,
    "{Fe(CO)5}2": None,
    "Fe((CN)2)3": None,
    "[Pt(NH3)2(Cl)2]2": None,
    "Ba(Ti0.9Zr0.1)O3": None,
    "(Li0.5Na0.5)2((Fe0.25Co0.75)(PO4))2": None,
    "(Al0.5Cr0.5)((Fe(Ni0.3Co0.7))2)0.5": None,
    "C9.53e-4Fe": None,
    "Fe0.99C1e-2": None,
    "Fe1E-3Ni": [(1, "Fe0.001Ni")],
    "Si2.5E+1O5e1": [(1, "Si25O50")],
    "H1.5e0O7.25e-1": None,
    "Hf2 Si2 Te2": None,
    "  Fe2O3  ": [(1, "Fe2O3")],
    "Li Fe P O4": None,
    "Fe\t2O3": [(1, "Fe2O3")],
    "Fe 0.5 Co 0.5": [(1, "Fe0.5Co0.5")],
    "Fe.5Co.5": [(1, "Fe0.5Co0.5")],
    "Fe5.Co": [(1, "Fe5Co")],
    "FeFeO": None,
    "OFeOFe": None,
    "Li7La3Zr2O12": None,
    "Cu0.000001Fe": None,
    "Fe123456789": None,
    "Pr0.123456789012345Ce": None,
    "Og2Ts": None,
    "2H2O": [(2, "H2O")],
    "0.5Fe2O3": [(0.5, "Fe2O3")],
}


def _amounts(formula: str, parts: list[tuple[float, str]] | None) -> dict[str, float]:
    if parts is None:
        return Composition(formula).get_el_amt_dict()
    total: dict[str, float] = {}
    for mult, part in parts:
        for el, amt in Composition(part).get_el_amt_dict().items():
            total[el] = total.get(el, 0.0) + mult * amt
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="/work/shared/data", help="folder of the public datasets")
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows = []
    for rel, column, n in SOURCES:
        frame = pd.read_csv(Path(args.data) / rel)
        formulas = sorted(set(frame[column].dropna().astype(str)))
        picked = rng.sample(formulas, min(n, len(formulas)))
        source = rel.split("/")[0] if rel.startswith("matbench") else "crabnet:" + rel.split("/")[1]
        for f in picked:
            amounts = Composition(f).get_el_amt_dict()
            if set(amounts) != set(re.findall(r"[A-Z][a-z]?", f)):  # pymatgen drops amounts below 1e-8
                print(f"left out {f!r}: pymatgen dropped an element ({sorted(amounts)})")
                continue
            rows.append({"formula": f, "source": source, "expected": amounts})
    for f, parts in HARD.items():
        rows.append({"formula": f, "source": "hand-written", "expected": _amounts(f, parts)})
    out = pd.DataFrame(rows)
    out["expected"] = [json.dumps(e, sort_keys=True) for e in out["expected"]]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(OUT, index=False)
    print(f"wrote {len(out)} formulas to {OUT}")


if __name__ == "__main__":
    main()
