"""Training and test records of interatomic potentials: structures with DFT energies, forces, stresses.

Two formats are read, both as a user's own DFT output is usually kept:

- **mlearn JSON** (``.json`` or ``.json.gz``; the format of the mlearn benchmark, Zuo et al. 2020): a
  list of ``{"structure": <pymatgen Structure dict>, "outputs": {"energy": <total eV>, "forces":
  [[eV/Å] x n], "virial_stress": [6 numbers]}, "group": "..."}``. ``virial_stress`` is VASP's stress in
  **kbar** with VASP's sign (positive = compressive), in VASP's Voigt order ``xx yy zz xy yz zx``: that
  is what mlearn copied from the OUTCARs (checked on the bundled Si set: CHGNet's own stresses follow
  ``-0.1 x virial_stress`` with slope -0.083 over 75 diagonal entries, and CHGNet's ``StructureData``
  applies the same ``-0.1`` factor to VASP stresses). It is converted to **GPa** in the ASE/CHGNet
  sign convention (positive = tensile): ``stress_GPa = -0.1 * virial_stress``.
- **extended XYZ** (``.extxyz``/``.xyz``, read by ASE): the energy in ``info`` (``energy``), the forces
  in ``arrays`` (``forces``), the stress in ``info`` (``stress``, ASE convention, eV/Å³, 6 Voigt numbers
  or 3x3), converted to GPa (x 160.218).

Records are plain arrays (lattice, species, Cartesian positions), checked without pymatgen or ASE
(the JSON path works in a plain install), so every bad record is reported at once: an
:class:`~matloop.errors.InputError` whose table holds the record number (1-based), the field, the value
and the reason. Nothing is dropped or coerced silently.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matloop.errors import InputError, MatloopError, error_table

__all__ = ["EV_PER_A3_IN_GPA", "KBAR_IN_GPA", "PotentialRecord", "read_potential_data", "records_to_json"]

EV_PER_A3_IN_GPA = 160.21766208
KBAR_IN_GPA = 0.1
#: VASP's Voigt order of the six stress components (mlearn's ``virial_stress``)
VOIGT = ((0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (0, 2))


@dataclass
class PotentialRecord:
    """One structure with its DFT labels: energy (total, eV), forces (eV/Å), stress (3x3, GPa, tensile +)."""

    lattice: np.ndarray
    species: list[str]
    positions: np.ndarray  # Cartesian, Å
    energy: float
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    group: str = ""
    row: int = 0  # 1-based record number in its file
    extra: dict = field(default_factory=dict)

    @property
    def n_atoms(self) -> int:
        return len(self.species)

    @property
    def energy_per_atom(self) -> float:
        return self.energy / self.n_atoms

    def structure(self):
        """The record as a pymatgen ``Structure`` (needs pymatgen)."""
        from pymatgen.core import Lattice, Structure

        return Structure(Lattice(self.lattice), self.species, self.positions, coords_are_cartesian=True)

    def atoms(self):
        """The record as an ASE ``Atoms`` with periodic boundaries (needs ASE)."""
        from ase import Atoms

        return Atoms(symbols=self.species, positions=self.positions, cell=self.lattice, pbc=True)


def _elements() -> set[str]:
    from matloop.io.elements import SYMBOLS

    return set(SYMBOLS[1:])


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115 - closed by the caller's with


def _matrix(value, shape: tuple[int, ...]) -> np.ndarray | None:
    """``value`` as a finite float array of ``shape``, or None."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    if arr.shape != shape or not np.isfinite(arr).all():
        return None
    return arr


def _stress_from_voigt(value, scale: float) -> np.ndarray | None:
    """Six Voigt numbers (VASP order) or a 3x3 matrix, times ``scale``, as a symmetric 3x3."""
    six = _matrix(value, (6,))
    if six is not None:
        out = np.zeros((3, 3))
        for v, (i, j) in zip(six, VOIGT, strict=True):
            out[i, j] = out[j, i] = v
        return out * scale
    full = _matrix(value, (3, 3))
    return None if full is None else full * scale


def _parse_json_record(i: int, rec, known: set[str], problems: list[dict]) -> PotentialRecord | None:
    def bad(column: str, value, reason: str) -> None:
        problems.append({"row": i, "column": column, "value": value, "reason": reason})

    if not isinstance(rec, dict):
        bad("record", type(rec).__name__, "a record must be an object with 'structure' and 'outputs'")
        return None
    struct, outputs = rec.get("structure"), rec.get("outputs")
    if not isinstance(struct, dict):
        bad("structure", struct, "missing or not a pymatgen Structure dict")
        return None
    if not isinstance(outputs, dict):
        bad("outputs", outputs, "missing or not an object with 'energy' (total eV) and 'forces'")
        return None
    lattice = struct.get("lattice")
    matrix = _matrix(lattice.get("matrix") if isinstance(lattice, dict) else None, (3, 3))
    if matrix is None or abs(np.linalg.det(matrix)) < 1e-6:
        bad("structure.lattice", lattice, "the lattice 'matrix' must be 3x3 finite numbers of non-zero volume (Å)")
        return None
    sites = struct.get("sites")
    if not isinstance(sites, list) or not sites:
        bad("structure.sites", sites, "no sites")
        return None
    species, coords, n_before = [], [], len(problems)
    for k, site in enumerate(sites, start=1):
        spec = site.get("species") if isinstance(site, dict) else None
        if not (isinstance(spec, list) and len(spec) == 1 and isinstance(spec[0], dict)):
            bad(f"structure.sites[{k}].species", spec, "one species per site expected (disordered sites "
                "have no DFT forces)")
            continue
        element, occu = spec[0].get("element"), spec[0].get("occu", 1)
        if element not in known:
            bad(f"structure.sites[{k}].species", element, "not a chemical element symbol")
        if not isinstance(occu, int | float) or abs(float(occu) - 1.0) > 1e-6:
            bad(f"structure.sites[{k}].occu", occu, "partial occupancy: one atom per site expected")
        xyz = _matrix(site.get("xyz"), (3,))
        abc = _matrix(site.get("abc"), (3,))
        if xyz is None and abc is None:
            bad(f"structure.sites[{k}].xyz", site.get("xyz"), "needs 'xyz' (Cartesian, Å) or 'abc' (fractional)")
            continue
        species.append(element)
        coords.append(xyz if xyz is not None else abc @ matrix)
    if len(problems) > n_before:
        return None
    n = len(species)
    energy = outputs.get("energy")
    if isinstance(energy, bool) or not isinstance(energy, int | float) or not math.isfinite(energy):
        bad("outputs.energy", energy, "the total energy (eV) must be a finite number")
    forces = outputs.get("forces")
    if forces is not None:
        forces = _matrix(forces, (n, 3))
        if forces is None:
            bad("outputs.forces", outputs.get("forces"), f"must be {n} x 3 finite numbers (eV/Å), one row per site")
    stress = outputs.get("virial_stress", outputs.get("stress"))
    if stress is not None:
        stress = _stress_from_voigt(stress, -KBAR_IN_GPA)
        if stress is None:
            bad("outputs.virial_stress", outputs.get("virial_stress", outputs.get("stress")),
                "must be 6 finite numbers (kbar, VASP order xx yy zz xy yz zx) or 3x3")
    num = rec.get("num_atoms")
    if num is not None and num != n:
        bad("num_atoms", num, f"the structure has {n} sites")
    if len(problems) > n_before:
        return None
    return PotentialRecord(matrix, species, np.asarray(coords, dtype=float), float(energy), forces, stress,
                           str(rec.get("group") or ""), i)


def _read_json(path: Path) -> list[PotentialRecord]:
    try:
        with _open_text(path) as handle:
            data = json.load(handle)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError, gzip.BadGzipFile) as err:
        raise InputError(f"cannot read {path} as JSON records: {err}") from err
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
    if not isinstance(data, list) or not data:
        raise InputError(f"{path}: expected a non-empty JSON list of records "
                         '{"structure": ..., "outputs": {"energy": ..., "forces": ...}}')
    known, problems, records = _elements(), [], []
    for i, rec in enumerate(data, start=1):
        parsed = _parse_json_record(i, rec, known, problems)
        if parsed is not None:
            records.append(parsed)
    if problems:
        raise InputError(f"{path}: {len({p['row'] for p in problems})} of {len(data)} records are invalid",
                         error_table(problems))
    return records


def _read_extxyz(path: Path) -> list[PotentialRecord]:
    try:
        from ase.io import read
    except ImportError as err:
        raise MatloopError('reading extended XYZ needs ASE: pip install "matloop[chgnet]"') from err
    try:
        frames = read(str(path), index=":", format="extxyz")
    except Exception as err:  # noqa: BLE001 - ASE raises many kinds for a malformed file
        raise InputError(f"cannot read {path} as extended XYZ: {type(err).__name__}: {err}") from err
    problems, records = [], []
    for i, atoms in enumerate(frames, start=1):
        info, arrays = dict(atoms.info), atoms.arrays
        calc = atoms.calc  # ASE moves energy/forces/stress of a frame into a SinglePointCalculator
        results = dict(getattr(calc, "results", {}) or {})
        energy = results.get("energy", info.get("energy", info.get("free_energy")))
        forces = results.get("forces", arrays.get("forces"))
        stress = results.get("stress", info.get("stress"))
        n_before = len(problems)
        if energy is None or not math.isfinite(float(energy)):
            problems.append({"row": i, "column": "energy", "value": energy,
                             "reason": "each frame needs a finite total energy (eV) in its comment line"})
        cell = np.asarray(atoms.cell.array, dtype=float)
        if abs(np.linalg.det(cell)) < 1e-6 or not atoms.pbc.all():
            problems.append({"row": i, "column": "Lattice", "value": cell.tolist(),
                             "reason": "a periodic cell (Lattice=..., pbc=\"T T T\") is needed"})
        if forces is not None and _matrix(forces, (len(atoms), 3)) is None:
            problems.append({"row": i, "column": "forces", "value": np.shape(forces),
                             "reason": f"must be {len(atoms)} x 3 finite numbers (eV/Å)"})
        stress_gpa = None
        if stress is not None:
            stress_gpa = _stress_from_voigt(_ase_voigt(stress), EV_PER_A3_IN_GPA)
            if stress_gpa is None:
                problems.append({"row": i, "column": "stress", "value": np.shape(stress),
                                 "reason": "must be 6 (Voigt) or 3x3 finite numbers (eV/Å³)"})
        if len(problems) > n_before:
            continue
        records.append(PotentialRecord(cell, atoms.get_chemical_symbols(), atoms.positions.astype(float),
                                       float(energy), None if forces is None else np.asarray(forces, float),
                                       stress_gpa, str(info.get("group", info.get("config_type", ""))), i))
    if problems:
        raise InputError(f"{path}: {len({p['row'] for p in problems})} of {len(frames)} frames are invalid",
                         error_table(problems))
    if not records:
        raise InputError(f"{path}: no frames")
    return records


def _ase_voigt(stress):
    """ASE's Voigt order is xx yy zz yz xz xy; reorder to VASP's xx yy zz xy yz zx for one parser."""
    arr = np.asarray(stress, dtype=float)
    if arr.shape == (6,):
        return arr[[0, 1, 2, 5, 3, 4]]
    return arr


def read_potential_data(path: str | os.PathLike) -> list[PotentialRecord]:
    """Records of ``path``: mlearn-style JSON (``.json``, ``.json.gz``) or extended XYZ (``.extxyz``, ``.xyz``).

    Raises :class:`~matloop.errors.InputError` with one row per bad field of every bad record.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith((".extxyz", ".xyz", ".extxyz.gz", ".xyz.gz")):
        return _read_extxyz(path)
    if name.endswith((".json", ".json.gz")):
        return _read_json(path)
    raise InputError(f"{path}: unknown format; give mlearn-style JSON records (.json, .json.gz) or extended XYZ "
                     "(.extxyz)")


def records_to_json(records: list[PotentialRecord]) -> list[dict]:
    """Records back to mlearn-style dicts (stress returned to kbar, VASP sign and order)."""
    out = []
    for r in records:
        sites = [{"species": [{"element": el, "occu": 1}], "xyz": xyz.tolist(), "label": el}
                 for el, xyz in zip(r.species, r.positions, strict=True)]
        outputs: dict = {"energy": r.energy}
        if r.forces is not None:
            outputs["forces"] = r.forces.tolist()
        if r.stress is not None:
            outputs["virial_stress"] = [float(r.stress[i, j] / -KBAR_IN_GPA) for i, j in VOIGT]
        out.append({"structure": {"@module": "pymatgen.core.structure", "@class": "Structure", "charge": 0,
                                  "lattice": {"matrix": r.lattice.tolist()}, "sites": sites},
                    "outputs": outputs, "group": r.group, "num_atoms": r.n_atoms})
    return out
