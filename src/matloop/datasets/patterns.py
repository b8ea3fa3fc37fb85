"""Bundled diffraction-pattern datasets: exported as an index table plus a folder of pattern files.

A pattern dataset is files, not one table, so ``matloop datasets export NAME -o INDEX.csv`` writes
``INDEX.csv`` (one row per pattern: the file's path relative to the index, and the labels) and the
files themselves into ``INDEX_patterns/`` beside it, exactly as an instrument group would keep
them; every pattern command then reads them the way it reads a user's own (``--input file``).

- ``xrd_oviedo2019``: 88 experimental thin-film XRD patterns with their space group (Oviedo et al.,
  npj Comput. Mater. 5, 60 (2019); Apache-2.0). The file texts are unchanged, including the glued
  numbers and lone angles four of them carry: the reader reports those (``--skip-invalid`` drops them).
- ``xrd_alli_fe_o``: the 231-sample Al-Li-Fe-O composition library of DRNets (Chen et al., Nat.
  Mach. Intell. 3, 812 (2021); MIT) with compositions and the ground-truth fractions of its 6 phases,
  written as two-column Q (Å⁻¹) files: the benchmark of ``matloop phases map``.
"""

from __future__ import annotations

import json
import lzma
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["PATTERN_SETS", "PatternSet", "export_patterns", "pattern_set_table"]

#: folder names of the Oviedo data -> Hermann-Mauguin symbols
_SPACE_GROUPS = {"Fm-3m": "Fm-3m", "I4Imcm": "I4/mcm", "P21a": "P2_1/a", "P3m1": "P-3m1", "P61mmc": "P6_3/mmc",
                 "Pc": "Pc", "pm-3m": "Pm-3m"}


@dataclass(frozen=True)
class PatternSet:
    """Metadata of one bundled pattern dataset."""

    name: str
    rows: int
    task: str
    property: str
    units: str
    source: str
    description: str
    citation: str
    license: str
    x_unit: str


PATTERN_SETS = {
    "xrd_oviedo2019": PatternSet(
        "xrd_oviedo2019", 88, "classification", "space_group", "", "Oviedo et al. 2019 (PV-Lab/autoXRD)",
        "Experimental thin-film XRD patterns of metal-halide perovskites and related phases (2θ in degrees, "
        "Cu Kα, counts) and their space group (7 classes: Pm-3m 47, I4/mcm 17, P-3m1 13, Fm-3m 4, P6_3/mmc 4, "
        "Pc 2, P2_1/a 1). Files as exported by the instruments: four hold glued numbers and lone angles.",
        "Oviedo, F., Ren, Z., Sun, S. et al. Fast and interpretable classification of small X-ray diffraction "
        "datasets using data augmentation and deep neural networks. npj Comput. Mater. 5, 60 (2019). "
        "https://doi.org/10.1038/s41524-019-0196-x", "Apache-2.0", "2theta"),
    "xrd_alli_fe_o": PatternSet(
        "xrd_alli_fe_o", 231, "phase mapping", "phase fractions", "", "DRNets (gomes-lab)",
        "An Al-Li-Fe-O composition library: 231 XRD patterns over Q = 1.5-7.99 Å⁻¹ (650 points), the Al, Li, Fe "
        "fractions of every sample, the ground-truth phase concentrations of its 6 phases (true_fraction_1..6, "
        "DRNets' normalized_weights_sol) and the unnormalized solution weights (true_weight_1..6, its weights_sol).",
        "Chen, D., Bai, Y., Ament, S. et al. Automating crystal-structure phase mapping by combining deep "
        "learning with constraint reasoning. Nat. Mach. Intell. 3, 812 (2021). "
        "https://doi.org/10.1038/s42256-021-00384-1", "MIT", "q"),
}


def _data(name: str):
    return resources.files("matloop.datasets").joinpath("data", "xrd", name)


def pattern_set_table() -> pd.DataFrame:
    """One row per pattern dataset, with the columns of ``matloop datasets list``."""
    return pd.DataFrame([{"name": s.name, "rows": s.rows, "kind": "pattern", "task": s.task, "property": s.property,
                          "units": s.units, "source": s.source, "license": s.license} for s in PATTERN_SETS.values()])


def _folder(index: Path) -> Path:
    return index.with_name(index.name.split(".")[0] + "_patterns")


def export_patterns(name: str, index: str | Path, overwrite: bool = False) -> tuple[Path, Path]:
    """Write the index table ``index`` and the pattern files in ``INDEX_patterns/``; returns both paths."""
    from matloop.io.write import write_table

    index = Path(index)
    folder = _folder(index)
    if folder.exists() and not overwrite:
        raise FileExistsError(f"{folder} exists; use --force to overwrite it")
    folder.mkdir(exist_ok=True)
    if name == "xrd_oviedo2019":
        with _data("oviedo2019_patterns.json.xz").open("rb") as raw, lzma.open(raw, "rt", encoding="utf-8") as fh:
            files = json.load(fh)["files"]
        rows = []
        for relative, text in files.items():
            group, file_name = relative.split("/", 1)
            (folder / group).mkdir(exist_ok=True)
            (folder / group / file_name).write_text(text, encoding="utf-8", newline="")
            rows.append({"file": f"{folder.name}/{group}/{file_name}", "space_group": _SPACE_GROUPS[group]})
        table = pd.DataFrame(rows)
    elif name == "xrd_alli_fe_o":
        with _data("alli_fe_o_library.npz").open("rb") as raw, np.load(raw, allow_pickle=False) as npz:
            q, X, comp, fractions, weights = (npz[k] for k in ("Q", "XRD", "composition",
                                                                "normalized_weights_sol", "weights_sol"))
        q_per_angstrom = q.astype(float) / 10.0
        rows = []
        for i, intensity in enumerate(X.astype(float)):
            path = folder / f"sample_{i + 1:03d}.xy"
            body = "\n".join(f"{a:.4f} {b:.6g}" for a, b in zip(q_per_angstrom, intensity, strict=True))
            path.write_text("# Q (1/Angstrom) intensity\n" + body + "\n", encoding="utf-8")
            row = {"file": f"{folder.name}/{path.name}", "Al": comp[i, 0], "Li": comp[i, 1], "Fe": comp[i, 2]}
            row.update({f"true_fraction_{k + 1}": float(fractions[i, k]) for k in range(fractions.shape[1])})
            row.update({f"true_weight_{k + 1}": float(weights[i, k]) for k in range(weights.shape[1])})
            rows.append(row)
        table = pd.DataFrame(rows)
    else:
        raise KeyError(name)
    write_table(table, index)
    return index, folder
