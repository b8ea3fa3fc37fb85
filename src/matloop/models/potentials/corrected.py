"""CHGNet plus a fitted Δ-correction (:mod:`matloop.models.potentials.soap_delta`): one potential for
``matloop potential eval``, ``relax`` and ``md``, stored in one ``.pot`` file.

Why a separate class: the base network and the correction are fitted apart (the correction learns what
the base gets wrong), and their sum must behave as one potential everywhere a
:class:`~matloop.models.potentials.finetune.FineTunedPotential` is used: :meth:`CorrectedPotential.predict`
and :meth:`~CorrectedPotential.evaluate` add the correction's energy, forces and stress to the base's, and
:meth:`~CorrectedPotential.calculator` is an ASE calculator doing the same for relaxations and MD.

File format: like a fine-tuned ``.pot`` (a NumPy ``.npz`` read with ``allow_pickle=False``: the base
network's state dict under ``w/``, a JSON card, a SHA-256 over arrays and card) at format version 2, with
the correction's arrays under ``c/`` and its card under ``"correction"``; matloop versions that only know
version 1 refuse such a file instead of silently dropping the correction.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

VERSION = 2


def is_corrected(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a ``.pot`` file of a corrected potential (format version 2)."""
    from matloop.models.potentials.potfile import FORMAT

    try:
        with np.load(Path(path), allow_pickle=False) as data:
            card = json.loads(bytes(data["__card__"]).decode())
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError):
        return False
    return isinstance(card, dict) and card.get("format") == FORMAT and card.get("version") == VERSION


class CorrectedPotential:
    """A base potential (CHGNet, pre-trained or fine-tuned) plus a correction: ``(1 + beta) * base +
    correction``, beta the correction's ``base_scale`` (0 unless the fit chose another)."""

    def __init__(self, base, correction, meta: dict | None = None):
        self.base = base
        self.correction = correction
        self.meta = dict(meta or {})

    def _add(self, structure, pred: dict) -> dict:
        from pymatgen.io.ase import AseAtomsAdaptor

        from matloop.models.potentials.soap_delta import EV_PER_A3_IN_GPA

        atoms = AseAtomsAdaptor.get_atoms(structure)
        energy, forces = self.correction.energy_forces(atoms)
        scale = 1.0 + self.correction.base_scale
        out = {"energy_per_atom": scale * pred["energy_per_atom"] + energy / len(atoms),
               "forces": scale * np.asarray(pred["forces"]) + forces, "stress": None}
        if pred.get("stress") is not None:
            out["stress"] = scale * np.asarray(pred["stress"]) + EV_PER_A3_IN_GPA * self.correction.stress(atoms)
        return out

    def predict(self, records: Sequence, batch_size: int = 8, n_threads: int | None = None) -> list[dict]:
        """Energy per atom (eV/atom), forces (eV/Å) and stress (GPa, tensile +) of every record."""
        self._check_species(records)
        base = self.base.predict(records, batch_size, n_threads)
        return [self._add(r.structure(), p) for r, p in zip(records, base, strict=True)]

    def _check_species(self, records: Sequence) -> None:
        """Refuse, naming each record, structures with elements the correction was not fitted on."""
        from matloop.errors import InputError, error_table

        known = set(self.correction.species)
        bad = [{"row": r.row or k + 1, "column": "structure", "value": ", ".join(sorted(set(r.species) - known)),
                "reason": f"element(s) the SOAP correction was not fitted on (it knows {', '.join(sorted(known))})"}
               for k, r in enumerate(records) if set(r.species) - known]
        if bad:
            raise InputError(f"{len(bad)} structure(s) hold elements the correction was not fitted on", error_table(bad))

    def evaluate(self, records: Sequence, batch_size: int = 8, n_threads: int | None = None) -> dict:
        """Errors on ``records``, as :meth:`FineTunedPotential.evaluate` reports them."""
        from matloop.models.potentials.finetune import errors_with_offsets

        return errors_with_offsets(records, self.predict(records, batch_size, n_threads))

    def calculator(self):
        """An ASE calculator: the base's energy, forces and stress plus the correction's."""
        return CorrectedCalculator(self.base.calculator(), self.correction)

    # ------------------------------------------------------------------ persistence (no pickle)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path`` (.pot, format version 2): base weights, correction arrays, JSON card, SHA-256."""
        from matloop.models.gnn.weights import state_arrays
        from matloop.models.potentials.potfile import FORMAT, digest, jsonable, write_pot

        c_arrays, c_card = self.correction.to_arrays()
        arrays = {**{f"w/{k}": v for k, v in state_arrays(self.base.model).items()},
                  **{f"c/{k}": v for k, v in c_arrays.items()}}
        card = {"format": FORMAT, "version": VERSION, "model_args": jsonable(self.base.model.model_args),
                "meta": jsonable(self.base.meta), "correction": jsonable(c_card),
                "corrected_meta": jsonable(self.meta)}
        card["sha256"] = digest(arrays, card)
        return write_pot(path, card, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CorrectedPotential:
        """Read a file written by :meth:`save`, refusing one whose checksum or shapes do not match."""
        from matloop.models.gnn.weights import WeightsError
        from matloop.models.potentials.finetune import FineTunedPotential, require_chgnet
        from matloop.models.potentials.potfile import chgnet_from, digest, read_pot
        from matloop.models.potentials.soap_delta import SoapCorrection

        require_chgnet()
        card, arrays = read_pot(path, VERSION, " (corrected)")
        arrays = {k: v for k, v in arrays.items() if k.startswith(("w/", "c/"))}
        if digest(arrays, card) != card.get("sha256"):
            raise WeightsError(f"{path} does not match its SHA-256 checksum (altered or damaged); refusing it")
        model = chgnet_from(card["model_args"], {k[2:]: v for k, v in arrays.items() if k.startswith("w/")})
        correction = SoapCorrection.from_arrays({k[2:]: v for k, v in arrays.items() if k.startswith("c/")},
                                                card["correction"])
        return cls(FineTunedPotential(model, card.get("meta") or {}), correction, card.get("corrected_meta"))


def _calculator_base():
    from ase.calculators.calculator import Calculator

    return Calculator


class CorrectedCalculator(_calculator_base()):
    """ASE calculator summing a base calculator (times ``1 + base_scale``) and a correction (energy, forces and,
    for periodic cells, stress). Every call computes all three, so a relaxation asking for forces then stress pays once."""

    implemented_properties = ("energy", "free_energy", "forces", "stress")

    def __init__(self, base, correction):
        super().__init__()
        self.base = base
        self.correction = correction

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        from ase.calculators.calculator import all_changes
        from ase.stress import full_3x3_to_voigt_6_stress

        system_changes = all_changes if system_changes is None else system_changes
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        periodic = bool(np.all(atoms.pbc))
        base_props = ["energy", "forces"] + (["stress"] if periodic else [])
        self.base.calculate(atoms.copy(), base_props, all_changes)
        base = self.base.results
        energy, forces = self.correction.energy_forces(atoms)
        scale = 1.0 + self.correction.base_scale
        self.results = {"energy": scale * float(np.asarray(base["energy"]).ravel()[0]) + energy,
                        "forces": scale * np.asarray(base["forces"], dtype=float) + forces}
        self.results["free_energy"] = self.results["energy"]
        if periodic:
            stress = scale * np.asarray(base["stress"], dtype=float)
            own = self.correction.stress(atoms)
            self.results["stress"] = stress + (own if stress.shape == (3, 3) else full_3x3_to_voigt_6_stress(own))
