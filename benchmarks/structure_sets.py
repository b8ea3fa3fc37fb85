"""The five structure benchmark targets of ``benchmarks/structures.py``, read into pymatgen structures.

Read from ``../shared/data/structures`` (or ``MATLOOP_STRUCTURE_DATA``): matminer 0.4.1's elastic
tensors (log10 K_VRH, log10 G_VRH), dielectric constants (refractive index n) and FLLA formation
energies, and CDVAE's perov_5 split (heat_ref, Castelli et al.). Rows whose target is missing or
whose modulus is not positive are left out, and the counts are returned.
"""

from __future__ import annotations

import ast
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(os.environ.get("MATLOOP_STRUCTURE_DATA", Path(__file__).resolve().parents[2] / "shared/data/structures"))
SETS = ("log10_kvrh", "log10_gvrh", "dielectric_n", "flla_eform", "perov_heat")
UNITS = {"log10_kvrh": "log10 GPa", "log10_gvrh": "log10 GPa", "dielectric_n": "", "flla_eform": "eV/atom",
         "perov_heat": "eV/cell"}
SOURCE = {
    "log10_kvrh": "matminer 0.4.1 elastic_tensor (de Jong et al. 2015), K_VRH",
    "log10_gvrh": "matminer 0.4.1 elastic_tensor (de Jong et al. 2015), G_VRH",
    "dielectric_n": "matminer 0.4.1 dielectric_constant (Petousis et al. 2017), n",
    "flla_eform": "matminer 0.4.1 flla_2015 (Faber et al. 2015), formation_energy_per_atom",
    "perov_heat": "CDVAE perov_5 val split (Castelli et al. 2012), heat_ref",
}


def load_set(name: str, max_rows: int | None = None, seed: int = 0) -> tuple[list, np.ndarray, dict]:
    """``(structures, y, info)`` of one target; ``max_rows`` draws a random subsample (fixed ``seed``)."""
    from pymatgen.core import Structure

    if not ROOT.exists():
        return _load_bundled(name, max_rows, seed)
    mm = ROOT / "matminer_0.4.1"
    if name in ("log10_kvrh", "log10_gvrh"):
        frame = pd.read_csv(mm / "matminer-0.4.1_elastic_tensor.csv.gz", comment="#")
        col = "K_VRH" if name == "log10_kvrh" else "G_VRH"
        frame = frame[frame[col] > 0]
        y, texts, fmt = np.log10(frame[col].to_numpy(float)), frame["poscar"], "poscar"
    elif name == "dielectric_n":
        frame = pd.read_csv(mm / "matminer-0.4.1_dielectric_constant.csv.gz", comment="#")
        frame = frame[frame["n"].notna()]
        y, texts, fmt = frame["n"].to_numpy(float), frame["poscar"], "poscar"
    elif name == "flla_eform":
        frame = pd.read_csv(mm / "matminer-0.4.1_flla_2015.csv.gz", comment="#")
        frame = frame[frame["formation_energy_per_atom"].notna()]
        y, texts, fmt = frame["formation_energy_per_atom"].to_numpy(float), frame["structure"], "dict"
    elif name == "perov_heat":
        frame = pd.read_csv(ROOT / "cdvae_perov_5" / "val.csv.gz")
        frame = frame[frame["heat_ref"].notna()]
        y, texts, fmt = frame["heat_ref"].to_numpy(float), frame["cif"], "cif"
    else:
        raise ValueError(f"unknown set {name!r}; known: {SETS}")
    n_all = len(y)
    idx = np.arange(n_all)
    if max_rows and max_rows < n_all:
        idx = np.sort(np.random.default_rng(seed).choice(n_all, max_rows, replace=False))
    texts = texts.to_numpy()[idx]
    structures = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in texts:
            if fmt == "dict":  # a Python repr of Structure.as_dict() (literals only)
                structures.append(Structure.from_dict(ast.literal_eval(t)))
            else:
                structures.append(Structure.from_str(t, fmt=fmt))
    return structures, y[idx], {"rows_total": n_all, "rows_used": len(idx), "source": SOURCE[name],
                                "units": UNITS[name]}


BUNDLED = {"log10_kvrh": ("elastic_tensor_2015", "log10_K_VRH"), "log10_gvrh": ("elastic_tensor_2015", "log10_G_VRH"),
           "dielectric_n": ("dielectric_constant", "n"), "flla_eform": ("flla", "formation_energy_per_atom"),
           "perov_heat": ("perov_5", "heat_ref")}


def _load_bundled(name: str, max_rows: int | None, seed: int) -> tuple[list, np.ndarray, dict]:
    """The same target from matloop's bundled copy (``matloop datasets``) when the shared folder is absent."""
    from matloop.datasets import load
    from matloop.represent.structure import read_structures

    dataset, column = BUNDLED[name]
    frame = load(dataset).frame
    frame = frame[pd.to_numeric(frame[column], errors="coerce").notna()]
    n_all = len(frame)
    if max_rows and max_rows < n_all:
        frame = frame.iloc[np.sort(np.random.default_rng(seed).choice(n_all, max_rows, replace=False))]
    structures = read_structures(frame["structure"].reset_index(drop=True))
    return structures, frame[column].to_numpy(float), {"rows_total": n_all, "rows_used": len(frame),
                                                        "source": SOURCE[name] + " (bundled copy)", "units": UNITS[name]}
