"""Short NVT molecular dynamics with an interatomic potential (ASE's Langevin integrator).

Why: after fitting a potential the first physical check is whether it runs stably at temperature (no
exploding forces, no atoms flying apart) and holds the target temperature. :func:`run_nvt` draws
Maxwell-Boltzmann velocities, integrates with a Langevin thermostat, writes every ``interval``-th frame
(positions, energy, forces) as extended XYZ and returns a summary: mean and spread of the temperature
over the second half, mean potential energy and the drift of the total energy (a linear fit; with a
thermostat the total energy is not conserved, so the drift is a health check, not a conservation test).
"""

from __future__ import annotations

import math
import os

import numpy as np


def run_nvt(structure, calculator, output: str | os.PathLike, *, temperature: float = 300.0, steps: int = 500,
            timestep: float = 1.0, friction: float = 0.01, interval: int = 10, seed: int = 0,
            n_threads: int | None = None) -> dict:
    """Run ``steps`` Langevin steps of ``timestep`` fs at ``temperature`` K on ``structure`` (pymatgen)."""
    from ase import units
    from ase.constraints import FixCom
    from ase.io import write
    from ase.md import velocitydistribution
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from pymatgen.io.ase import AseAtomsAdaptor

    from matloop.models.potentials.features import _threads

    thermalize_momenta = getattr(velocitydistribution, "thermalize_momenta", None)
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = calculator
    rng = np.random.default_rng(seed)
    if thermalize_momenta is not None:  # ASE >= 3.28
        thermalize_momenta(atoms, temperature, rng=rng)
    else:
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())  # no drift of the centre of mass (ASE's recommended way with Langevin)
    dyn = Langevin(atoms, timestep * units.fs, temperature_K=temperature, friction=friction / units.fs, rng=rng,
                   fixcm=False)
    temps, epots, etots, frames = [], [], [], 0
    if os.path.exists(output):
        os.remove(output)

    def record() -> None:
        nonlocal frames
        n = len(atoms)
        epot = float(atoms.get_potential_energy()) / n
        temps.append(float(atoms.get_temperature()))
        epots.append(epot)
        etots.append(epot + float(atoms.get_kinetic_energy()) / n)
        if dyn.nsteps % interval == 0:
            snapshot = atoms.copy()
            snapshot.info.update({"energy": epot * n, "temperature": temps[-1], "step": dyn.nsteps})
            snapshot.arrays["forces"] = atoms.get_forces().copy()
            write(str(output), snapshot, format="extxyz", append=True)
            frames += 1

    with _threads(n_threads):
        dyn.attach(record, interval=1)  # ASE calls it at step 0 too
        dyn.run(steps)
    half = len(temps) // 2
    t_ps = np.arange(len(etots)) * timestep / 1000.0
    drift = float(np.polyfit(t_ps, etots, 1)[0]) * 1000.0 if len(etots) > 2 else math.nan
    return {"n_atoms": len(atoms), "temperature_mean": float(np.mean(temps[half:])),
            "temperature_std": float(np.std(temps[half:])), "epot_mean": float(np.mean(epots)),
            "etot_drift": drift, "frames": frames, "steps": steps}
