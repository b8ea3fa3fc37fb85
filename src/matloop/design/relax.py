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
  compounds against their DFT value) is the honest uncertainty of an E_hull. Elemental structures come
  from the bundled sets that hold them (``flla``, ``elastic_tensor_2015``) and are relaxed like the
  candidates (the two lowest by static energy), so both sides of a formation energy see the same
  potential and settings. An element without a bundled structure gets a *fitted* reference: the value
  that makes the potential's formation energies of (at most three) small bundled compounds of that
  element equal their DFT values (:attr:`HullReference.notes` says which).
- :func:`relax_parallel`: :func:`relax_structures` in batches, in process or on a Dask cluster through
  :func:`matloop.represent.dask_map.map_batches` (the path screening uses), with progress.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from matloop.errors import MatloopError

#: eV/atom: a candidate within this of the hull is called (meta)stable by default
DEFAULT_MAX_EHULL = 0.1
#: the columns of a relaxation table, in order
RELAX_COLUMNS = ["energy_per_atom", "converged", "steps", "max_force", "volume_change", "structure", "reason"]
#: PyTorch and BLAS threads during a relaxation: a few-atom cell gains nothing from more, and on a loaded
#: machine spinning threads made one CHGNet evaluation 30x slower (21.5 s vs 0.74 s, load average 28, 2
#: cores) and an EMT relaxation of 4 Cu atoms 20x slower (BLAS in the cell filter's matrix logarithm)
RELAX_THREADS = 1
#: a relaxation whose cell volume leaves (low, high) x the start is stopped (collapse or explosion)
VOLUME_LIMITS = (0.55, 2.5)
#: bundled structure sets whose single-element structures are the elemental references
ELEMENTAL_DATASETS = ("flla", "elastic_tensor_2015")
#: elemental structures evaluated per element (fewest sites first) and, of those, relaxed (lowest static first)
ELEMENTAL_SCANNED, ELEMENTAL_RELAXED = 12, 2
#: bundled compounds a fitted elemental reference is fitted on (fewest sites first)
FITTED_COMPOUNDS = 3


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


@contextlib.contextmanager
def _torch_threads(n: int = RELAX_THREADS):
    """PyTorch and the BLAS/OpenMP pools on ``n`` threads inside the block (restored after)."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)


def _optimizer(name: str):
    from ase import optimize

    choices = {"FIRE": optimize.FIRE, "BFGS": optimize.BFGS, "LBFGS": optimize.LBFGS}
    if name not in choices:
        raise ValueError(f"optimizer {name!r}: choose from {', '.join(choices)}")
    return choices[name]


def relax_structures(structures: Sequence, calculator=None, fmax: float = 0.1, steps: int = 300,
                     optimizer: str = "FIRE", relax_cell: bool = True, max_seconds: float | None = None,
                     threads: int | None = RELAX_THREADS):
    """Relax every structure (pymatgen ``Structure``) and return one row per structure.

    Columns: ``energy_per_atom`` (eV/atom, final), ``converged`` (largest force, cell forces included,
    below ``fmax`` eV/Å within ``steps``), ``steps``, ``max_force`` (eV/Å at the end), ``volume_change``
    (final/initial volume), ``structure`` (relaxed, pymatgen JSON) and ``reason`` (empty unless it failed).
    A cell whose volume leaves :data:`VOLUME_LIMITS` times the start (a collapse or explosion: the
    potential is outside its domain) stops with a reason and no energy; ``max_seconds`` caps one
    structure's wall time (reported as not converged). ``threads``: PyTorch/BLAS threads during the run
    (default :data:`RELAX_THREADS`; None leaves the caller's setting).
    """
    import pandas as pd

    if calculator is None:
        calculator = chgnet_calculator()
    opt_class = _optimizer(optimizer)
    rows = []
    with _torch_threads(threads) if threads is not None else contextlib.nullcontext():
        for structure in structures:
            rows.append(_relax_one(structure, calculator, opt_class, fmax, steps, relax_cell, max_seconds))
    return pd.DataFrame(rows, columns=RELAX_COLUMNS)


def _relax_one(structure, calculator, opt_class, fmax, steps, relax_cell, max_seconds) -> dict:
    """One row of :func:`relax_structures`."""
    from ase.filters import FrechetCellFilter
    from pymatgen.io.ase import AseAtomsAdaptor

    row = {"energy_per_atom": np.nan, "converged": False, "steps": 0, "max_force": np.nan,
           "volume_change": np.nan, "structure": "", "reason": ""}
    try:
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.calc = calculator
        target = FrechetCellFilter(atoms) if relax_cell else atoms
        opt = opt_class(target, logfile=None)
        converged, why = _run(opt, atoms, fmax, steps, max_seconds)
        forces = target.get_forces()
        row.update(
            energy_per_atom=float(atoms.get_potential_energy()) / len(atoms), converged=converged,
            steps=int(opt.nsteps), max_force=float(np.sqrt((forces**2).sum(axis=1)).max()),
            volume_change=float(atoms.get_volume() / structure.volume),
            structure=json.dumps(_plain(AseAtomsAdaptor.get_structure(atoms)).as_dict()))
        if not math.isfinite(row["energy_per_atom"]):
            row.update(converged=False, reason="the potential returned a non-finite energy")
        elif why:  # a collapsed or exploded cell has no meaningful energy; a timed-out one keeps its last
            row.update(reason=why, energy_per_atom=np.nan if why.startswith("the cell") else row["energy_per_atom"])
        elif not converged:
            row["reason"] = f"not converged in {steps} steps (largest force {row['max_force']:.3g} eV/Å)"
    except Exception as exc:  # noqa: BLE001 - one bad structure is a row with a reason, not a failed batch
        row["reason"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return row


def _run(opt, atoms, fmax: float, steps: int, max_seconds: float | None) -> tuple[bool, str]:
    """Run the optimiser step by step: (converged, reason it was stopped early or '')."""
    import time

    start, volume = time.perf_counter(), atoms.get_volume()
    converged = False
    for converged in opt.irun(fmax=fmax, steps=steps):
        ratio = atoms.get_volume() / volume
        if not VOLUME_LIMITS[0] < ratio < VOLUME_LIMITS[1]:
            return False, (f"the cell {'collapsed' if ratio < 1 else 'exploded'} to {ratio:.2f} x its volume "
                           f"after {opt.nsteps} steps: the potential is outside its domain here")
        if max_seconds is not None and time.perf_counter() - start > max_seconds and not converged:
            return False, f"stopped after {max_seconds:g} s ({opt.nsteps} steps), not converged"
    return bool(converged), ""


def _plain(structure):
    """Lattice, species and positions only (a calculator's per-site arrays are float32: not JSON)."""
    from pymatgen.core import Structure

    return Structure(structure.lattice, structure.species, structure.frac_coords)


class HullReference:
    """Known compounds' formation energies (eV/atom) with elemental references from the potential."""

    def __init__(self, compositions: Sequence, formation_energies: Sequence[float], elemental: dict,
                 calculator=None, *, structures: Sequence | None = None, relax_references: bool = True,
                 fmax: float = 0.05, steps: int = 200):
        """``compositions``: pymatgen ``Composition``s with DFT ``formation_energies`` (eV/atom);
        ``elemental``: ``{symbol: [Structure or text, ...]}`` whose lowest potential energy per atom is
        the element's reference (relaxed with ``fmax``/``steps`` when ``relax_references``);
        ``structures``: the compounds' structures (text or ``Structure``), needed only for fitted
        references of elements without an elemental structure."""
        self.compositions = list(compositions)
        self.formation_energies = np.asarray(formation_energies, dtype=float)
        self.elemental = elemental
        self.structures = list(structures) if structures is not None else None
        self.relax_references, self.fmax, self.steps = relax_references, fmax, steps
        self._calculator = calculator
        self._mu: dict[str, float] = {}
        #: element -> how its reference was obtained (shown in reports)
        self.notes: dict[str, str] = {}
        self._formulas = [c.reduced_formula for c in self.compositions]
        self._systems = [frozenset(e.symbol for e in c.elements) for c in self.compositions]

    @classmethod
    def from_dataset(cls, name: str = "flla", calculator=None,
                     elemental_from: Sequence[str] = ELEMENTAL_DATASETS, **options) -> HullReference:
        """The bundled set's compounds (``formation_energy_per_atom``) and the elemental structures of
        ``elemental_from``; ``options`` go to the constructor."""
        from pymatgen.core import Composition

        import matloop.datasets as datasets

        ds = datasets.load(name)
        frame = ds.frame
        comps = [Composition(f) for f in frame["formula"]]
        elemental: dict[str, list] = {}
        for other in dict.fromkeys([name, *elemental_from]):
            ods = ds if other == name else datasets.load(other)
            if "formula" not in ods.frame:
                continue
            for formula, text in zip(ods.frame["formula"], ods.frame[ods.input], strict=True):
                comp = Composition(formula)
                if len(comp.elements) == 1 and isinstance(text, str):
                    elemental.setdefault(comp.elements[0].symbol, []).append(text)
        return cls(comps, frame["formation_energy_per_atom"].to_numpy(float), elemental, calculator,
                   structures=frame[ds.input].tolist(), **options)

    @property
    def calculator(self):
        if self._calculator is None:
            self._calculator = chgnet_calculator()
        return self._calculator

    def _energies(self, structures: Sequence, relax: bool) -> list[float]:
        if relax:
            out = relax_structures(structures, calculator=self.calculator, fmax=self.fmax, steps=self.steps)
            return out["energy_per_atom"].tolist()
        with _torch_threads():
            return [_static_energy(s, self.calculator) for s in structures]

    def chemical_potential(self, element: str) -> float:
        """The potential's energy per atom of ``element``: the lowest over its bundled structures (the
        :data:`ELEMENTAL_SCANNED` smallest evaluated, the :data:`ELEMENTAL_RELAXED` lowest relaxed), else
        fitted on bundled compounds; ``KeyError`` when neither is possible."""
        if element not in self._mu:
            from matloop.represent.structure_io import read_structures

            sources = self.elemental.get(element)
            if sources:
                structures = sorted(read_structures(sources), key=len)[:ELEMENTAL_SCANNED]
                energies = self._energies(structures, relax=False)
                if self.relax_references:
                    order = np.argsort(np.nan_to_num(energies, nan=np.inf))[:ELEMENTAL_RELAXED]
                    energies += self._energies([structures[i] for i in order], relax=True)
                finite = [e for e in energies if math.isfinite(e)]
                if not finite:
                    raise KeyError(element)
                self._mu[element] = min(finite)
                self.notes[element] = f"lowest of {len(structures)} bundled {element} structures"
            else:
                self._mu[element] = self._fitted(element)
        return self._mu[element]

    def _fitted(self, element: str) -> float:
        """The reference that reproduces the DFT formation energy of small bundled compounds of ``element``
        whose other elements have structures (median over at most :data:`FITTED_COMPOUNDS`)."""
        from pymatgen.core import Composition

        from matloop.represent.structure_io import read_structures

        if self.structures is None:
            raise KeyError(element)
        picks = [i for i, (c, system) in enumerate(zip(self.compositions, self._systems, strict=True))
                 if element in system and len(system) > 1 and np.isfinite(self.formation_energies[i])
                 and all(self.elemental.get(e) for e in system - {element})]
        picks = sorted(picks, key=lambda i: (self.compositions[i].num_atoms, self._formulas[i]))[:FITTED_COMPOUNDS]
        if not picks:
            raise KeyError(element)
        structures = read_structures([self.structures[i] for i in picks])
        energies = self._energies(structures, relax=self.relax_references)
        values = []
        for i, e in zip(picks, energies, strict=True):
            comp = Composition(self.compositions[i]).fractional_composition
            x = float(comp[element])
            rest = sum(float(a) * self.chemical_potential(el.symbol) for el, a in comp.items()
                       if el.symbol != element)
            if math.isfinite(e):
                values.append((e - rest - float(self.formation_energies[i])) / x)
        if not values:
            raise KeyError(element)
        self.notes[element] = ("no bundled elemental structure: fitted to the DFT formation energies of "
                               + ", ".join(self._formulas[i] for i in picks))
        return float(np.median(values))

    def formation_energy(self, composition, energy_per_atom: float) -> float:
        """eV/atom relative to the potential's elemental references."""
        comp = composition.fractional_composition
        return energy_per_atom - sum(float(x) * self.chemical_potential(el.symbol) for el, x in comp.items())

    def e_above_hull(self, composition, energy_per_atom: float, leave_out: Collection[str] = ()
                     ) -> tuple[float, str, str]:
        """(E_hull in eV/atom, decomposition products, reason) of a candidate with the potential's
        ``energy_per_atom``; negative when it lies below the known hull. NaN with a reason when an
        element has no reference. Known compounds whose reduced formula is in ``leave_out`` are left out
        of the hull (leave-one-out checks)."""
        from pymatgen.core import Composition

        comp = Composition(composition)
        if not math.isfinite(energy_per_atom):
            return math.nan, "", "no energy (the relaxation failed)"
        e_form, why = self.formation_energy_or_reason(comp, energy_per_atom)
        if why:
            return math.nan, "", why
        ehull, products = self.hull_distance(comp, e_form, leave_out)
        return ehull, products, ""

    def formation_energy_or_reason(self, composition, energy_per_atom: float) -> tuple[float, str]:
        """(formation energy in eV/atom, "") or (NaN, why) when an element has no bundled reference."""
        try:
            return self.formation_energy(composition, energy_per_atom), ""
        except KeyError as exc:
            return math.nan, f"no elemental reference for {exc.args[0]} in the bundled sets"

    def hull_distance(self, composition, formation_energy: float, leave_out: Collection[str] = ()
                      ) -> tuple[float, str]:
        """(E_hull, decomposition products) of a compound with ``formation_energy`` (eV/atom, already
        relative to the elements) against the known compounds of its chemical system."""
        from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
        from pymatgen.core import Composition

        comp = Composition(composition)
        elements = frozenset(el.symbol for el in comp.elements)
        skip = set(leave_out)
        entries = [PDEntry(Composition(el), 0.0) for el in sorted(elements)]
        for known, ef, formula, system in zip(self.compositions, self.formation_energies, self._formulas,
                                              self._systems, strict=True):
            if len(system) > 1 and system <= elements and np.isfinite(ef) and formula not in skip:
                entries.append(PDEntry(known, ef * known.num_atoms))
        candidate = PDEntry(comp, formation_energy * comp.num_atoms)
        decomp, ehull = PhaseDiagram(entries).get_decomp_and_e_above_hull(candidate, allow_negative=True)
        return float(ehull), " + ".join(sorted(e.composition.reduced_formula for e in decomp))

    def known_in_system(self, composition, leave_out: Collection[str] = ()) -> int:
        """How many known compounds (not elements) of ``composition``'s chemical system form its hull."""
        from pymatgen.core import Composition

        elements = frozenset(el.symbol for el in Composition(composition).elements)
        return sum(1 for system, formula, ef in zip(self._systems, self._formulas, self.formation_energies, strict=True)
                   if len(system) > 1 and system <= elements and formula not in leave_out and np.isfinite(ef))

    def formation_error(self, structures: Sequence, formation_energies: Sequence[float]) -> dict:
        """The potential's formation-energy error on compounds of known DFT value (static energies of
        their DFT structures): MAE and RMSE in eV/atom and the count; the uncertainty of an E_hull."""
        errors = []
        for structure, ef in zip(structures, formation_energies, strict=True):
            with _torch_threads():
                e = _static_energy(structure, self.calculator)
            try:
                errors.append(self.formation_energy(structure.composition, e) - float(ef))
            except KeyError:
                continue
        err = np.asarray(errors)
        return {"n": int(err.size), "mae": float(np.abs(err).mean()) if err.size else math.nan,
                "rmse": float(np.sqrt((err**2).mean())) if err.size else math.nan}


def _static_energy(structure, calculator) -> float:
    """Energy per atom of ``structure`` as it is (NaN when the calculator fails on it)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    try:
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.calc = calculator
        return float(atoms.get_potential_energy()) / len(atoms)
    except Exception:  # noqa: BLE001 - a structure the potential cannot evaluate does not set the reference
        return math.nan


@dataclass
class RelaxSettings:
    """What every relaxation task needs: the calculator (``None``: CHGNet, loaded where the task runs)."""

    calculator: object = None
    fmax: float = 0.1
    steps: int = 300
    optimizer: str = "FIRE"
    relax_cell: bool = True
    max_seconds: float | None = None


def _relax_batch(settings: RelaxSettings, structures: list):
    """One task: relax ``structures`` (a private copy of a given calculator; CHGNet loaded once per process)."""
    import copy

    calc = copy.deepcopy(settings.calculator) if settings.calculator is not None else chgnet_calculator()
    return relax_structures(structures, calculator=calc, fmax=settings.fmax, steps=settings.steps,
                            optimizer=settings.optimizer, relax_cell=settings.relax_cell,
                            max_seconds=settings.max_seconds)


def relax_parallel(structures: Sequence, calculator=None, fmax: float = 0.1, steps: int = 300,
                   optimizer: str = "FIRE", relax_cell: bool = True, scheduler=None, batch_size: int = 1,
                   progress: Callable[[int, int], None] | None = None, max_seconds: float | None = None):
    """:func:`relax_structures` of every structure, ``batch_size`` per task: in process, or on the Dask
    cluster of ``scheduler`` (an address or a ``Client``) through :func:`matloop.represent.dask_map.map_batches`.
    Rows come back in input order whichever finishes first; ``progress(done, total)`` after each batch."""
    import pandas as pd

    _optimizer(optimizer)  # a bad name fails here, not on a worker
    settings = RelaxSettings(calculator, fmax, steps, optimizer, relax_cell, max_seconds)
    total = len(structures)
    batches = [(a, min(a + batch_size, total)) for a in range(0, total, max(1, batch_size))]
    parts: dict[int, object] = {}
    done = [0]

    def collect(batch, frame) -> None:
        parts[batch[0]] = frame
        done[0] += batch[1] - batch[0]
        if progress is not None:
            progress(done[0], total)

    if scheduler is None:
        if calculator is None:
            settings.calculator = chgnet_calculator()  # loaded once here, not once per batch
        for batch in batches:
            collect(batch, relax_structures(list(structures[batch[0]:batch[1]]), calculator=settings.calculator,
                                            fmax=fmax, steps=steps, optimizer=optimizer, relax_cell=relax_cell,
                                            max_seconds=max_seconds))
    else:
        from matloop.represent.dask_map import map_batches

        map_batches(scheduler, _relax_batch, settings, batches,
                    lambda b: list(structures[b[0]:b[1]]), collect)
    if not parts:
        return pd.DataFrame(columns=RELAX_COLUMNS)
    return pd.concat([parts[a] for a, _ in batches], ignore_index=True)
