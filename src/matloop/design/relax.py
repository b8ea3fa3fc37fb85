"""Relaxation with an interatomic potential and energy above the convex hull against bundled references.

- :func:`relax_structures`: structures -> table (energy per atom, ``converged``, steps, largest remaining
  force, relaxed structure as pymatgen JSON, ``reason``). Any ASE calculator works (EMT in tests); the
  default is the pre-trained CHGNet of the ``chgnet`` wheel. Cell and positions relax together
  (``FrechetCellFilter``) with an ASE optimiser and a step limit; a run that hits the limit is reported
  as ``converged=False`` (its energy is still given), and a structure that fails gets a reason instead of
  stopping the batch.
- :class:`HullReference`: the convex hull per chemical system from the formation energies of the
  bundled ``flla`` set (Materials Project DFT). The elemental references are computed with the same
  potential as the candidates (the lowest energy per atom among the bundled elemental structures), so a
  candidate's formation energy is the potential's own; its E_hull comes from pymatgen's ``PhaseDiagram``.
  The potential's formation-energy error (:meth:`HullReference.formation_error`, checked on bundled
  compounds against their DFT value) is the honest uncertainty of an E_hull.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np

from matloop.errors import MatloopError

#: eV/atom: a candidate within this of the hull is called (meta)stable by default
DEFAULT_MAX_EHULL = 0.1


def chgnet_calculator():
    """CHGNet's ASE calculator on the wheel's pre-trained weights (CPU; loaded once per process)."""
    from matloop.models.potentials.features import chgnet_available, load_chgnet

    if not chgnet_available():
        raise MatloopError('relaxation with CHGNet needs chgnet and PyTorch: pip install "matloop[chgnet]"')
    import contextlib
    import io

    from chgnet.model.dynamics import CHGNetCalculator

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the device it chose
        return CHGNetCalculator(model=load_chgnet(), use_device="cpu")


def _optimizer(name: str):
    from ase import optimize

    choices = {"FIRE": optimize.FIRE, "BFGS": optimize.BFGS, "LBFGS": optimize.LBFGS}
    if name not in choices:
        raise ValueError(f"optimizer {name!r}: choose from {', '.join(choices)}")
    return choices[name]


def relax_structures(structures: Sequence, calculator=None, fmax: float = 0.1, steps: int = 300,
                     optimizer: str = "FIRE", relax_cell: bool = True):
    """Relax every structure (pymatgen ``Structure``) and return one row per structure.

    Columns: ``energy_per_atom`` (eV/atom, final), ``converged`` (largest force, cell forces included,
    below ``fmax`` eV/Å within ``steps``), ``steps``, ``max_force`` (eV/Å at the end), ``volume_change``
    (final/initial volume), ``structure`` (relaxed, pymatgen JSON) and ``reason`` (empty unless it failed).
    """
    import pandas as pd
    from ase.filters import FrechetCellFilter
    from pymatgen.io.ase import AseAtomsAdaptor

    if calculator is None:
        calculator = chgnet_calculator()
    opt_class = _optimizer(optimizer)
    rows = []
    for structure in structures:
        row = {"energy_per_atom": np.nan, "converged": False, "steps": 0, "max_force": np.nan,
               "volume_change": np.nan, "structure": "", "reason": ""}
        try:
            atoms = AseAtomsAdaptor.get_atoms(structure)
            atoms.calc = calculator
            target = FrechetCellFilter(atoms) if relax_cell else atoms
            opt = opt_class(target, logfile=None)
            converged = bool(opt.run(fmax=fmax, steps=steps))
            forces = target.get_forces()
            row.update(
                energy_per_atom=float(atoms.get_potential_energy()) / len(atoms), converged=converged,
                steps=int(opt.nsteps), max_force=float(np.sqrt((forces**2).sum(axis=1)).max()),
                volume_change=float(atoms.get_volume() / structure.volume),
                structure=json.dumps(_plain(AseAtomsAdaptor.get_structure(atoms)).as_dict()))
            if not converged:
                row["reason"] = f"not converged in {steps} steps (largest force {row['max_force']:.3g} eV/Å)"
            if not math.isfinite(row["energy_per_atom"]):
                row.update(converged=False, reason="the potential returned a non-finite energy")
        except Exception as exc:  # noqa: BLE001 - one bad structure is a row with a reason, not a failed batch
            row["reason"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        rows.append(row)
    return pd.DataFrame(rows)


def _plain(structure):
    """Lattice, species and positions only (a calculator's per-site arrays are float32: not JSON)."""
    from pymatgen.core import Structure

    return Structure(structure.lattice, structure.species, structure.frac_coords)


class HullReference:
    """Known compounds' formation energies (eV/atom) with elemental references from the potential."""

    def __init__(self, compositions: Sequence, formation_energies: Sequence[float], elemental: dict,
                 calculator=None):
        """``compositions``: pymatgen ``Composition``s with DFT ``formation_energies`` (eV/atom);
        ``elemental``: ``{symbol: [Structure, ...]}`` whose lowest potential energy per atom is the
        element's reference."""
        self.compositions = list(compositions)
        self.formation_energies = np.asarray(formation_energies, dtype=float)
        self.elemental = elemental
        self._calculator = calculator
        self._mu: dict[str, float] = {}

    @classmethod
    def from_dataset(cls, name: str = "flla", calculator=None) -> HullReference:
        """The bundled set's compounds (``formation_energy_per_atom``) and its elemental structures."""
        from pymatgen.core import Composition

        import matloop.datasets as datasets

        ds = datasets.load(name)
        frame = ds.frame
        comps = [Composition(f) for f in frame["formula"]]
        elemental: dict[str, list] = {}
        for comp, text in zip(comps, frame[ds.input], strict=True):
            if len(comp.elements) == 1:
                elemental.setdefault(comp.elements[0].symbol, []).append(text)
        return cls(comps, frame["formation_energy_per_atom"].to_numpy(float), elemental, calculator)

    @property
    def calculator(self):
        if self._calculator is None:
            self._calculator = chgnet_calculator()
        return self._calculator

    def chemical_potential(self, element: str) -> float:
        """The potential's energy per atom of ``element`` (lowest over its bundled structures, static)."""
        if element not in self._mu:
            from matloop.represent.structure_io import read_structures

            sources = self.elemental.get(element)
            if not sources:
                raise KeyError(element)
            energies = []
            for structure in read_structures(sources):
                from pymatgen.io.ase import AseAtomsAdaptor

                atoms = AseAtomsAdaptor.get_atoms(structure)
                atoms.calc = self.calculator
                energies.append(float(atoms.get_potential_energy()) / len(atoms))
            self._mu[element] = min(energies)
        return self._mu[element]

    def formation_energy(self, composition, energy_per_atom: float) -> float:
        """eV/atom relative to the potential's elemental references."""
        comp = composition.fractional_composition
        return energy_per_atom - sum(float(x) * self.chemical_potential(el.symbol) for el, x in comp.items())

    def e_above_hull(self, composition, energy_per_atom: float) -> tuple[float, str, str]:
        """(E_hull in eV/atom, decomposition products, reason) of a candidate with the potential's
        ``energy_per_atom``; negative when it lies below the known hull. NaN with a reason when an
        element has no reference."""
        from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
        from pymatgen.core import Composition

        comp = Composition(composition)
        elements = {el.symbol for el in comp.elements}
        if not math.isfinite(energy_per_atom):
            return math.nan, "", "no energy (the relaxation failed)"
        try:
            e_form = self.formation_energy(comp, energy_per_atom)
        except KeyError as exc:
            return math.nan, "", f"no elemental reference for {exc.args[0]} in the bundled set"
        entries = [PDEntry(Composition(el), 0.0) for el in sorted(elements)]
        for known, ef in zip(self.compositions, self.formation_energies, strict=True):
            if len(known.elements) > 1 and {e.symbol for e in known.elements} <= elements and np.isfinite(ef):
                entries.append(PDEntry(known, ef * known.num_atoms))
        candidate = PDEntry(comp, e_form * comp.num_atoms)
        diagram = PhaseDiagram(entries)
        decomp, ehull = diagram.get_decomp_and_e_above_hull(candidate, allow_negative=True)
        products = " + ".join(sorted(e.composition.reduced_formula for e in decomp))
        return float(ehull), products, ""

    def formation_error(self, structures: Sequence, formation_energies: Sequence[float]) -> dict:
        """The potential's formation-energy error on compounds of known DFT value (static energies of
        their DFT structures): MAE and RMSE in eV/atom and the count; the uncertainty of an E_hull."""
        from pymatgen.io.ase import AseAtomsAdaptor

        errors = []
        for structure, ef in zip(structures, formation_energies, strict=True):
            atoms = AseAtomsAdaptor.get_atoms(structure)
            atoms.calc = self.calculator
            e = float(atoms.get_potential_energy()) / len(atoms)
            try:
                errors.append(self.formation_energy(structure.composition, e) - float(ef))
            except KeyError:
                continue
        err = np.asarray(errors)
        return {"n": int(err.size), "mae": float(np.abs(err).mean()) if err.size else math.nan,
                "rmse": float(np.sqrt((err**2).mean())) if err.size else math.nan}
