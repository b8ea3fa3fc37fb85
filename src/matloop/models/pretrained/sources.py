"""The source properties of the pre-trained library: which bundled dataset, which column, how.

Each :class:`SourceSpec` names a bundled proxy dataset (:mod:`matloop.datasets`), its target
column, the task, and a target transform that makes the distribution easier to fit (log for
moduli, ``asinh`` for the signed magnetic moment). The library is rebuilt from these by
``scripts/pretrain.py``; adding a source here and rerunning the script is all it takes.
"""

from __future__ import annotations

from dataclasses import dataclass

#: target transforms, applied before standardisation and inverted on prediction
TRANSFORMS = ("none", "log1p", "asinh")


@dataclass(frozen=True)
class SourceSpec:
    """One pre-training source: a bundled dataset column turned into a composition model."""

    name: str
    dataset: str
    target: str
    property: str
    units: str
    task: str = "regression"
    transform: str = "none"


def _spec(name, dataset, target, prop, units, task="regression", transform="none") -> SourceSpec:
    return SourceSpec(name, dataset, target, prop, units, task, transform)


SOURCES: dict[str, SourceSpec] = {s.name: s for s in (
    _spec("mp_e_form", "matbench_mp_e_form", "e_form", "formation energy (DFT, MP)", "eV/atom"),
    _spec("mp_gap", "matbench_mp_gap", "gap pbe", "PBE band gap (DFT, MP)", "eV"),
    _spec("mp_is_metal", "matbench_mp_is_metal", "is_metal", "probability of being a metal (DFT, MP)", "-",
          task="classification"),
    _spec("oqmd_bandgap", "oqmd_bandgap", "target", "band gap (DFT, OQMD)", "eV"),
    _spec("oqmd_formation_enthalpy", "oqmd_formation_enthalpy", "target", "formation enthalpy (DFT, OQMD)",
          "eV/atom"),
    _spec("oqmd_volume_per_atom", "oqmd_volume_per_atom", "target", "volume per atom (DFT, OQMD)",
          "angstrom^3/atom"),
    _spec("critexam_ef", "critexam_ef", "target", "formation energy (DFT, MP; Bartel et al.)", "eV/atom"),
    _spec("critexam_ed", "critexam_ed", "target", "decomposition energy (DFT, MP; Bartel et al.)", "eV/atom"),
    _spec("mp_e_hull", "mp_e_hull", "target", "energy above the convex hull (DFT, MP)", "eV/atom",
          transform="log1p"),
    _spec("mp_mu_b", "mp_mu_b", "target", "magnetic moment (DFT, MP)", "mu_B", transform="asinh"),
    _spec("mp_bulk_modulus", "mp_bulk_modulus", "target", "bulk modulus (DFT, MP)", "GPa", transform="log1p"),
    _spec("mp_shear_modulus", "mp_shear_modulus", "target", "shear modulus (DFT, MP)", "GPa", transform="log1p"),
    _spec("mp_elastic_anisotropy", "mp_elastic_anisotropy", "target", "elastic anisotropy (DFT, MP)", "-",
          transform="log1p"),
    _spec("mp_log_kvrh", "matbench_log_kvrh", "log10(K_VRH)", "bulk modulus, log10 (DFT, MP; Matbench)",
          "log10(GPa)"),
    _spec("mp_log_gvrh", "matbench_log_gvrh", "log10(G_VRH)", "shear modulus, log10 (DFT, MP; Matbench)",
          "log10(GPa)"),
    _spec("aflow_egap", "aflow_egap", "target", "band gap (DFT, AFLOW)", "eV"),
    _spec("aflow_energy_atom", "aflow_energy_atom", "target", "energy per atom (DFT, AFLOW)", "eV/atom"),
    _spec("aflow_bulk_modulus", "aflow_bulk_modulus", "target", "bulk modulus (DFT, AFLOW AEL)", "GPa",
          transform="log1p"),
    _spec("aflow_shear_modulus", "aflow_shear_modulus", "target", "shear modulus (DFT, AFLOW AEL)", "GPa",
          transform="log1p"),
)}


def forward_transform(values, transform: str):
    """Apply a target transform (``log1p`` clips negatives to 0 first; see :data:`TRANSFORMS`)."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    if transform == "none":
        return values
    if transform == "log1p":
        return np.log1p(np.maximum(values, 0.0))
    if transform == "asinh":
        return np.arcsinh(values)
    raise ValueError(f"unknown target transform {transform!r}; known: {TRANSFORMS}")


def inverse_transform(values, transform: str):
    """Undo :func:`forward_transform` (back to the property's units)."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    if transform == "none":
        return values
    if transform == "log1p":
        return np.expm1(values)
    if transform == "asinh":
        return np.sinh(values)
    raise ValueError(f"unknown target transform {transform!r}; known: {TRANSFORMS}")
