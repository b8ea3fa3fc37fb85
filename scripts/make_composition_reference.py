"""Write the matminer reference table that ``tests/represent/test_composition.py`` checks against.

Runs matminer's ``Stoichiometry``, ``ValenceOrbital``, ``IonProperty`` (default and ``fast=True``)
and ``ElementFraction``, and pymatgen's ``HHIModel``, on ~300 real formulas drawn from the Matbench
sets in ``/work/shared/data`` (experimental band gaps, metallic glasses, steels, Materials Project
cells, perovskites): integer, fractional, bracketed, many-element and cell formulas.

    .venv/bin/python scripts/make_composition_reference.py

Output: ``tests/represent/data/composition_reference.csv.gz``, one row per formula with column
``formula`` and ``source``, then matminer's feature names. Notes on the columns:

- ``compound possible`` is matminer's default ``IonProperty`` (pymatgen ``oxi_state_guesses`` with
  common oxidation states). pymatgen refuses fractional amounts, so it is empty for fractional
  formulas; formulas whose search takes more than 5 s (cells with many atoms of elements with many
  states) are left out of the sample.
- ``max ionic char`` / ``avg ionic char`` come from the same featurizer, or from ``fast=True``
  where the default raised (the ionic-character code is identical in both modes).
- ``compound possible (fast)``: ``IonProperty(fast=True)``, one state per element.
- ``hhi production`` / ``hhi reserve``: pymatgen ``HHIModel().get_hhi`` (weight-fraction means),
  empty where an element has no HHI value.
"""

from __future__ import annotations

import signal
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data")
OUT = ROOT / "tests" / "represent" / "data" / "composition_reference.csv.gz"
SOURCES = {  # file, number of formulas drawn
    "matbench_expt_gap/matbench_expt_gap.csv": 90,
    "matbench_glass/matbench_glass.csv": 50,
    "matbench_steels/matbench_steels.csv": 25,
    "matbench_mp_e_form/matbench_mp_e_form.csv.gz": 100,
    "matbench_perovskites/matbench_perovskites.csv": 35,
}
HAND_PICKED = ["NaCl", "Fe2O3", "Fe3O4", "NaCl2", "Fe", "Li2O2", "CO2", "LiFePO4", "Ca3(PO4)2", "XeF2",
               "Mn3O4", "Pb3O4", "NeO", "Cl2O7", "Cu2S", "Ba0.9La0.1TiO3"]
SEED = 20240517
TIMEOUT_S = 5


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def main() -> None:
    from matminer.featurizers.composition import ElementFraction, IonProperty, Stoichiometry, ValenceOrbital
    from pymatgen.analysis.hhi import HHIModel
    from pymatgen.core import Composition

    from matloop.io.formula import parse_formulas

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(SEED)
    picked: list[tuple[str, str]] = [(f, "hand-picked") for f in HAND_PICKED]
    for rel, k in SOURCES.items():
        frame = pd.read_csv(DATA / rel)
        formulas = frame["composition"].drop_duplicates().to_numpy()
        picked += [(str(f), rel.split("/")[0]) for f in rng.choice(formulas, size=k, replace=False)]

    featurizers = [Stoichiometry(), ValenceOrbital(), ElementFraction()]
    ion, ion_fast = IonProperty(), IonProperty(fast=True)
    hhi = HHIModel()
    rows, skipped = [], []
    signal.signal(signal.SIGALRM, _alarm)
    start = time.perf_counter()
    for formula, source in picked:
        comp = Composition(formula)
        ours = parse_formulas([formula])
        theirs = {el.Z: float(amt) for el, amt in comp.element_composition.items()}
        mine = dict(zip(ours.z.tolist(), ours.amount.tolist(), strict=True))
        if mine.keys() != theirs.keys() or not all(np.isclose(mine[z], theirs[z], rtol=1e-12) for z in mine):
            skipped.append((formula, "pymatgen reads the formula differently"))
            continue
        row = {"formula": formula, "source": source}
        for feat in featurizers:
            row.update(zip(feat.feature_labels(), feat.featurize(comp), strict=True))
        fast = ion_fast.featurize(comp)
        signal.alarm(TIMEOUT_S)
        try:
            full = ion.featurize(comp)
        except _Timeout:
            skipped.append((formula, f"oxi_state_guesses took more than {TIMEOUT_S} s"))
            continue
        except ValueError:  # fractional amounts: pymatgen's guesser refuses them
            full = [np.nan, *fast[1:]]
        finally:
            signal.alarm(0)
        row.update({"compound possible": float(full[0]), "max ionic char": full[1], "avg ionic char": full[2],
                    "compound possible (fast)": float(fast[0])})
        p, r = hhi.get_hhi(comp)
        row.update({"hhi production": np.nan if p is None else p, "hhi reserve": np.nan if r is None else r})
        rows.append(row)
    table = pd.DataFrame(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT, index=False, compression={"method": "gzip", "mtime": 0})
    print(f"wrote {OUT.relative_to(ROOT)}: {len(table)} formulas x {table.shape[1] - 2} columns "
          f"in {time.perf_counter() - start:.1f} s")
    for formula, why in skipped:
        print(f"  skipped {formula!r}: {why}", file=sys.stderr)


if __name__ == "__main__":
    main()
