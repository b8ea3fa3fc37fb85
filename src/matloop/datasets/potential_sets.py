"""Bundled interatomic-potential datasets: the mlearn benchmark (Zuo et al. 2020), as records files.

A potential's data are structures with energies, forces and stresses, not one table, so these sets
are exported as the records file itself (mlearn-style JSON, read by
:func:`matloop.io.potential_data.read_potential_data`): ``matloop datasets export mlearn_si_train -o
si_train.json``, then ``matloop potential fit si_train.json -o si.pot``.

Names: ``mlearn_<element>_<train|test>`` for Si, Ge, Li (both splits) and Cu, Ni (test only).
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

__all__ = ["CITATION", "POTENTIAL_SETS", "PotentialSet", "export_potential_set", "open_potential_set",
           "potential_set_path", "potential_set_table"]

CITATION = ("Zuo, Y., Chen, C., Li, X. et al. Performance and Cost Assessment of Machine Learning Interatomic "
            "Potentials. J. Phys. Chem. A 124, 731-745 (2020). https://doi.org/10.1021/acs.jpca.9b08723")
SOURCE = "materialsvirtuallab/mlearn @ 10c427a5480c, data/"


@dataclass(frozen=True)
class PotentialSet:
    """One bundled records file."""

    name: str
    element: str
    split: str  # "train" or "test"
    rows: int

    @property
    def file(self) -> str:
        return f"{self.element}_{'training' if self.split == 'train' else 'test'}.json.gz"


_COUNTS = {("Si", "train"): 214, ("Si", "test"): 25, ("Ge", "train"): 228, ("Ge", "test"): 25,
           ("Li", "train"): 241, ("Li", "test"): 29, ("Cu", "test"): 31, ("Ni", "test"): 31}
POTENTIAL_SETS = {f"mlearn_{el.lower()}_{split}": PotentialSet(f"mlearn_{el.lower()}_{split}", el, split, n)
                  for (el, split), n in _COUNTS.items()}


def _resource(name: str):
    return resources.files("matloop.datasets").joinpath("data", "mlearn", POTENTIAL_SETS[name].file)


def potential_set_path(name: str) -> Path:
    """The bundled file of ``name`` on disk (the package is installed as files, not a zip)."""
    return Path(str(_resource(name)))


def open_potential_set(name: str):
    """The records of ``name`` (a list of :class:`~matloop.io.potential_data.PotentialRecord`)."""
    from matloop.io.potential_data import read_potential_data

    return read_potential_data(potential_set_path(name))


def describe(name: str) -> str:
    s = POTENTIAL_SETS[name]
    return (f"{s.name}: {s.rows} DFT structures of {s.element} ({s.split} set of the mlearn benchmark) with total "
            "energies (eV), forces (eV/Å) and virial stresses (kbar, VASP convention; read as GPa)\n\n"
            f"source: {SOURCE}\nlicence: BSD-3-Clause (Materials Virtual Lab)\ncite: {CITATION}\n\n"
            f"export the records (mlearn JSON): matloop datasets export {s.name} -o {s.name}.json")


def potential_set_table() -> pd.DataFrame:
    """One row per set, with the columns of ``matloop datasets list``."""
    return pd.DataFrame([{"name": s.name, "rows": s.rows, "kind": "potential", "task": "regression",
                          "property": "energy, forces, stress", "units": "eV, eV/Å, GPa", "source": "mlearn (Zuo 2020)",
                          "license": "BSD-3-Clause"} for s in POTENTIAL_SETS.values()])


def export_potential_set(name: str, output: str | Path) -> Path:
    """Write the records of ``name`` to ``output`` (``.json`` plain, ``.json.gz`` as bundled)."""
    output = Path(output)
    if not output.name.lower().endswith((".json", ".json.gz")):
        raise ValueError(f"{output}: a potential dataset is written as JSON records (.json or .json.gz)")
    with _resource(name).open("rb") as raw:
        if output.name.lower().endswith(".gz"):
            with open(output, "wb") as out:
                shutil.copyfileobj(raw, out)
        else:
            with gzip.open(raw, "rb") as unzipped, open(output, "wb") as out:
                shutil.copyfileobj(unzipped, out)
    return output
