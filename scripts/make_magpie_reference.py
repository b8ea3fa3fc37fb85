"""Produce the committed reference table that proves matloop's ``magpie`` equals matminer's.

Samples about 1,000 real formulas from the Matbench sets in ``/work/shared/data`` (every steel,
with its tiny fractions such as ``C0.000953``; experimental band gaps; metallic glasses, written
with brackets such as ``Al(NiB)2``; Materials Project cells written with spaces such as
``Pt1 C1``), featurizes them with matminer's ``ElementProperty.from_preset("magpie")`` (single
process, ``impute_nan=True`` as in matminer's default) and writes
``tests/represent/data/magpie_reference.csv.gz``: ``formula`` + matminer's 132 columns at full
precision (shortest round-trip repr).

A formula is kept only when pymatgen and matloop read the same elements and amounts, so the
reference tests featurization, not two parsers' opinions on odd input. Run from the repository
root (needs matminer and the shared data, which the tests do not)::

    .venv/bin/python scripts/make_magpie_reference.py
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data")
OUT = ROOT / "tests" / "represent" / "data" / "magpie_reference.csv.gz"

#: (dataset folder, file, rows to sample or None for all)
SAMPLES = [
    ("matbench_steels", "matbench_steels.csv", None),
    ("matbench_expt_gap", "matbench_expt_gap.csv", 300),
    ("matbench_glass", "matbench_glass.csv", 200),
    ("matbench_mp_e_form", "matbench_mp_e_form.csv.gz", 120),
    ("matbench_log_gvrh", "matbench_log_gvrh.csv", 80),
]


def sample_formulas(seed: int = 20240601) -> list[str]:
    """Distinct formulas drawn from the shared Matbench sets, in a fixed order."""
    rng = np.random.default_rng(seed)
    picked: list[str] = []
    for folder, name, count in SAMPLES:
        formulas = pd.read_csv(DATA / folder / name)["composition"].astype(str).drop_duplicates().to_numpy()
        if count is not None and count < len(formulas):
            formulas = formulas[np.sort(rng.choice(len(formulas), size=count, replace=False))]
        picked.extend(formulas.tolist())
    return list(dict.fromkeys(picked))


def same_composition(formulas: list[str]) -> list[str]:
    """The formulas that pymatgen and matloop parse to the same element amounts."""
    from pymatgen.core import Composition

    from matloop.io.formula import parse_formulas

    comps, errors = parse_formulas(formulas, errors="collect")
    bad_rows = set((errors["row"] - 1).tolist())
    keep = []
    for i, text in enumerate(formulas):
        if i in bad_rows:
            continue
        try:
            theirs = {el.Z: amt for el, amt in Composition(text).element_composition.items()}
        except Exception:  # pymatgen rejects it: not a fair test case
            continue
        lo, hi = comps.indptr[i], comps.indptr[i + 1]
        ours = dict(zip(comps.z[lo:hi].tolist(), comps.amount[lo:hi].tolist(), strict=True))
        if ours.keys() == theirs.keys() and all(abs(ours[z] - theirs[z]) <= 1e-12 * abs(theirs[z]) for z in ours):
            keep.append(text)
    return keep


def matminer_magpie(formulas: list[str]) -> pd.DataFrame:
    """matminer's magpie features of the formulas (one process)."""
    from matminer.featurizers.composition import ElementProperty
    from pymatgen.core import Composition

    featurizer = ElementProperty.from_preset("magpie")
    featurizer.set_n_jobs(1)
    frame = pd.DataFrame({"formula": formulas, "composition": [Composition(f) for f in formulas]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = featurizer.featurize_dataframe(frame, "composition", pbar=False)
    return frame.drop(columns="composition")


def main() -> None:
    """Sample, check, featurize with matminer and write the reference table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    formulas = sample_formulas()
    kept = same_composition(formulas)
    table = matminer_magpie(kept)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format=None, lineterminator="\n",
                 compression={"method": "gzip", "mtime": 0})
    print(f"{len(formulas)} formulas sampled, {len(formulas) - len(kept)} dropped (parsers disagree), "
          f"{len(kept)} x {table.shape[1] - 1} features written to {args.out} "
          f"(matminer {md.version('matminer')}, pymatgen {md.version('pymatgen')})")


if __name__ == "__main__":
    main()
