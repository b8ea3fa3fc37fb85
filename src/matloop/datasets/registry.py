"""What each bundled dataset means: input, target, unit, task, direction, citation, licence.

This module only holds metadata (no data is read on import). Row counts, columns and checksums
of the bundled files live in ``data/manifest.json``, written by ``scripts/bundle_datasets.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# --- citations -------------------------------------------------------------------------------
MATBENCH_PAPER = (
    "Dunn, A., Wang, Q., Ganose, A., Dopp, D., Jain, A. Benchmarking materials property prediction "
    "methods: the Matbench test set and Automatminer reference algorithm. npj Comput Mater 6, 138 "
    "(2020). https://doi.org/10.1038/s41524-020-00406-3"
)
MATERIALS_PROJECT = (
    "Jain, A. et al. Commentary: The Materials Project: A materials genome approach to accelerating "
    "materials innovation. APL Mater. 1, 011002 (2013). https://doi.org/10.1063/1.4812323"
)
CRABNET_PAPER = (
    "Wang, A. Y.-T., Kauwe, S. K., Murdock, R. J., Sparks, T. D. Compositionally restricted "
    "attention-based network for materials property predictions. npj Comput Mater 7, 77 (2021). "
    "https://doi.org/10.1038/s41524-021-00545-1"
)
OQMD = (
    "Saal, J. E., Kirklin, S., Aykol, M., Meredig, B., Wolverton, C. Materials design and discovery "
    "with high-throughput density functional theory: the Open Quantum Materials Database (OQMD). "
    "JOM 65, 1501 (2013). https://doi.org/10.1007/s11837-013-0755-4"
)
AFLOW = (
    "Curtarolo, S. et al. AFLOW: an automatic framework for high-throughput materials discovery. "
    "Comput. Mater. Sci. 58, 218 (2012). https://doi.org/10.1016/j.commatsci.2012.02.005"
)
CRITEXAM = (
    "Bartel, C. J. et al. A critical examination of compound stability predictions from "
    "machine-learned formation energies. npj Comput Mater 6, 97 (2020). "
    "https://doi.org/10.1038/s41524-020-00362-y"
)
LIANG_PAPER = (
    "Liang, Q., Gongora, A. E., Ren, Z. et al. Benchmarking the performance of Bayesian optimization "
    "across multiple experimental materials science domains. npj Comput Mater 7, 188 (2021). "
    "https://doi.org/10.1038/s41524-021-00656-9"
)
MOLECULENET = (
    "Wu, Z. et al. MoleculeNet: a benchmark for molecular machine learning. Chem. Sci. 9, 513 (2018). "
    "https://doi.org/10.1039/C7SC02664A"
)
MATBENCH_SOURCES = {
    "steels": "Original data: Citrine Informatics steel strength dataset (matminer 'steel_strength').",
    "expt_gap": "Zhuo, Y., Mansouri Tehrani, A., Brgoch, J. Predicting the band gaps of inorganic solids by "
                "machine learning. J. Phys. Chem. Lett. 9, 1668 (2018). https://doi.org/10.1021/acs.jpclett.8b00124",
    "glass": "Kawazoe, Y., Yu, J.-Z., Tsai, A.-P., Masumoto, T. (eds.) Nonequilibrium Phase Diagrams of "
             "Ternary Amorphous Alloys. Landolt-Boernstein, Group III, Vol. 37A (Springer, 1997).",
    "jdft2d": "Choudhary, K., Kalish, I., Beams, R., Tavazza, F. High-throughput identification and "
              "characterization of two-dimensional materials using density functional theory. Sci. Rep. "
              "7, 5179 (2017). https://doi.org/10.1038/s41598-017-05402-0",
    "elastic": "de Jong, M. et al. Charting the complete elastic properties of inorganic crystalline "
               "compounds. Sci. Data 2, 150009 (2015). https://doi.org/10.1038/sdata.2015.9",
    "perovskites": "Castelli, I. E. et al. New cubic perovskites for one- and two-photon water splitting "
                   "using the computational materials repository. Energy Environ. Sci. 5, 9034 (2012). "
                   "https://doi.org/10.1039/C2EE22341D",
    "mp": MATERIALS_PROJECT,
}

# --- repositories the files come from (see data/<group>/PROVENANCE.md) ------------------------
REPOS = {
    "matbench": ("materialsproject/matbench", "936176db18ca4cd7b38cbd957c017a5bac770c6b",
                 "scripts/artifacts/matbench_<task>.json.bz2 (folds rebuilt with the official "
                 "KFold/StratifiedKFold, random_state=18012019)"),
    "crabnet": ("anthony-wang/CrabNet", "457b4d4835737ecbe4dd33e53174bd818bd82143",
                "data/benchmark_data/<set>/{train,val,test}.csv"),
    "liang2021": ("PV-Lab/Benchmarking", "7585c517ad88e676c42c6bf24a8ad278e01ddb21",
                  "datasets/<name>_dataset.csv"),
    "moleculenet": ("GLambard/Molecules_Dataset_Collection", "beb35cd0b76db5adef6cb1fa55807e4cd309aaed",
                    "originals/<file>"),
    "olympus": ("aspuru-guzik-group/olympus", "440b6b58ebfc",
                "src/olympus/datasets/dataset_<name>/ (CSV with a header from its config.json)"),
    "matminer": ("pypi.org/project/matminer/0.4.1", "", "matminer/datasets/<file>.csv in the source package"),
    "cdvae": ("txie-93/cdvae", "f857f598d6f6", "data/perov_5/val.csv"),
}


@dataclass(frozen=True)
class DatasetSpec:
    """Metadata of one bundled dataset (everything :func:`matloop.datasets.load` attaches)."""

    name: str
    group: str
    kind: str
    input: str | None
    targets: tuple[str, ...]
    task: str
    units: dict[str, str]
    property: str
    source: str
    citation: str
    license: str
    description: str
    direction: dict[str, str] = field(default_factory=dict)
    fold_column: str | None = None
    source_name: str = ""
    strip: tuple[str, ...] = ()
    #: ordered labels of an ordinal classification target, worst first (empty: boolean target)
    levels: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        """Path of the bundled file relative to the ``data`` folder."""
        return f"{self.group}/{self.name}.csv.xz"


# --- Matbench v0.1 ---------------------------------------------------------------------------
_STRUCTURE_NOTE = (
    " Matbench runs this as a structure task, but the crystal structures are not bundled: the input "
    "here is the unreduced cell composition (e.g. 'K6 S6'), so kind=composition, plus the space group "
    "number (spg_num) and crystal system (crys_sys). Polymorphs share a composition with different "
    "targets; compare only with composition-based leaderboard entries."
)
_FOLD_NOTE = (
    " Column 'fold' (0-4) is the official Matbench v0.1 outer test fold of each row: for fold k, test "
    "on fold == k and train on the rest (KFold/StratifiedKFold, shuffle, random_state=18012019)."
)


def _matbench(task: str, target: str, unit: str, prop: str, what: str, source: str, *,
              structure: bool = False, classification: bool = False, direction: str = "") -> DatasetSpec:
    return DatasetSpec(
        name=f"matbench_{task}", group="matbench", kind="composition", input="composition",
        targets=(target,), task="classification" if classification else "regression",
        units={target: unit}, property=prop, source="Matbench v0.1",
        citation=f"{MATBENCH_PAPER}\n{MATBENCH_SOURCES[source]}",
        license="MIT (materialsproject/matbench repository); cite the original data source as well",
        description=what + (_STRUCTURE_NOTE if structure else "") + _FOLD_NOTE
        + (" The target is boolean (True/False)." if classification else ""),
        direction={target: direction} if direction else {}, fold_column="fold",
        source_name=f"matbench_{task}",
    )


_MATBENCH = [
    _matbench("steels", "yield strength", "MPa", "yield strength of steels",
              "Experimental yield strength (MPa) of 312 steel alloys from their composition, written "
              "with fractional amounts such as 'C0.000953'. Objective: maximise yield strength.",
              "steels", direction="max"),
    _matbench("expt_gap", "gap expt", "eV", "experimental band gap",
              "Experimental band gap (eV) of inorganic solids from their composition (metals have 0).",
              "expt_gap"),
    _matbench("expt_is_metal", "is_metal", "", "metal or not (experimental)",
              "Whether an inorganic solid is a metal (experimental band gap = 0), from its composition.",
              "expt_gap", classification=True),
    _matbench("glass", "gfa", "", "glass-forming ability",
              "Whether a ternary alloy composition forms a metallic glass by melt spinning.",
              "glass", classification=True),
    _matbench("jdft2d", "exfoliation_en", "meV/atom", "exfoliation energy (DFT)",
              "DFT exfoliation energy (meV/atom) of layered materials (JARVIS-DFT 2D).",
              "jdft2d", structure=True),
    _matbench("log_gvrh", "log10(G_VRH)", "log10(GPa)", "shear modulus (DFT, log10)",
              "Base-10 logarithm of the DFT Voigt-Reuss-Hill shear modulus (GPa) from the Materials "
              "Project elastic data.", "elastic", structure=True),
    _matbench("log_kvrh", "log10(K_VRH)", "log10(GPa)", "bulk modulus (DFT, log10)",
              "Base-10 logarithm of the DFT Voigt-Reuss-Hill bulk modulus (GPa) from the Materials "
              "Project elastic data.", "elastic", structure=True),
    _matbench("perovskites", "e_form", "eV/unit cell", "formation energy of perovskites (DFT)",
              "DFT heat of formation (eV per 5-atom unit cell) of ABX3 perovskites.",
              "perovskites", structure=True),
    _matbench("mp_gap", "gap pbe", "eV", "PBE band gap (DFT)",
              "DFT (PBE) band gap (eV) from the Materials Project.", "mp", structure=True),
    _matbench("mp_e_form", "e_form", "eV/atom", "formation energy (DFT)",
              "DFT formation energy (eV/atom) from the Materials Project.", "mp", structure=True),
    _matbench("mp_is_metal", "is_metal", "", "metal or not (DFT)",
              "Whether the Materials Project DFT (PBE) band gap is zero.", "mp", structure=True,
              classification=True),
]

# --- CrabNet composition proxy sets ----------------------------------------------------------
_CRABNET_NOTE = (
    " Formulas are unique within the set. Column 'split' holds CrabNet's own train/val/test split "
    "(not Matbench folds). The unit is inferred from the value range and the CrabNet paper: likely, "
    "not certain."
)


def _crabnet(name: str, folder: str, unit: str, prop: str, what: str, database: str) -> DatasetSpec:
    db_cite = {"OQMD": OQMD, "AFLOW": AFLOW, "Materials Project": MATERIALS_PROJECT,
               "Bartel et al., MP": f"{CRITEXAM}\n{MATERIALS_PROJECT}"}[database]
    db_name = "the Materials Project" if database in ("Materials Project", "Bartel et al., MP") else database
    missing = (" CrabNet's train file of this set was not in the public snapshot the data were copied "
               "from (too large to store there), so only its val and test rows are bundled." if name.startswith("oqmd_") and
               name != "oqmd_bandgap" else "")
    return DatasetSpec(
        name=name, group="crabnet", kind="composition", input="formula", targets=("target",),
        task="regression", units={"target": unit}, property=prop, source=f"CrabNet benchmark ({database})",
        citation=f"{CRABNET_PAPER}\n{db_cite}",
        license=f"MIT (anthony-wang/CrabNet repository); values from {db_name}, cite it as well",
        description=what + _CRABNET_NOTE + missing, source_name=folder,
    )


_CRABNET = [
    _crabnet("oqmd_bandgap", "OQMD_Bandgap", "eV", "band gap (DFT, OQMD)",
             "OQMD DFT band gap (eV) from the composition.", "OQMD"),
    _crabnet("oqmd_formation_enthalpy", "OQMD_Formation_Enthalpy", "eV/atom", "formation enthalpy (DFT, OQMD)",
             "OQMD DFT formation enthalpy (eV/atom) from the composition.", "OQMD"),
    _crabnet("oqmd_energy_per_atom", "OQMD_Energy_per_atom", "eV/atom", "total energy (DFT, OQMD)",
             "OQMD DFT total energy (eV/atom) from the composition.", "OQMD"),
    _crabnet("oqmd_volume_per_atom", "OQMD_Volume_per_atom", "angstrom^3/atom", "volume per atom (DFT, OQMD)",
             "OQMD DFT volume per atom (cubic angstrom) from the composition.", "OQMD"),
    _crabnet("critexam_ef", "CritExam__Ef", "eV/atom", "formation energy (DFT, MP)",
             "Materials Project formation energy (eV/atom), the set of Bartel et al.'s 'critical "
             "examination' of ML stability predictions.", "Bartel et al., MP"),
    _crabnet("critexam_ed", "CritExam__Ed", "eV/atom", "decomposition energy (DFT, MP)",
             "Materials Project decomposition energy (eV/atom; stability against the convex hull), "
             "the set of Bartel et al.'s 'critical examination'.", "Bartel et al., MP"),
    _crabnet("mp_e_hull", "mp_e_hull", "eV/atom", "energy above hull (DFT, MP)",
             "Materials Project energy above the convex hull (eV/atom).", "Materials Project"),
    _crabnet("mp_mu_b", "mp_mu_b", "mu_B (likely per cell)", "magnetic moment (DFT, MP)",
             "Materials Project total magnetic moment (Bohr magnetons).", "Materials Project"),
    _crabnet("mp_bulk_modulus", "mp_bulk_modulus", "GPa", "bulk modulus (DFT, MP)",
             "Materials Project Voigt-Reuss-Hill bulk modulus K_VRH (GPa).", "Materials Project"),
    _crabnet("mp_shear_modulus", "mp_shear_modulus", "GPa", "shear modulus (DFT, MP)",
             "Materials Project Voigt-Reuss-Hill shear modulus G_VRH (GPa).", "Materials Project"),
    _crabnet("mp_elastic_anisotropy", "mp_elastic_anisotropy", "unitless", "elastic anisotropy (DFT, MP)",
             "Materials Project universal elastic anisotropy index (unitless).", "Materials Project"),
    _crabnet("aflow_egap", "aflow__Egap", "eV", "band gap (DFT, AFLOW)",
             "AFLOW DFT band gap (eV) from the composition.", "AFLOW"),
    _crabnet("aflow_energy_atom", "aflow__energy_atom", "eV/atom", "energy per atom (DFT, AFLOW)",
             "AFLOW DFT energy per atom (eV/atom) from the composition.", "AFLOW"),
    _crabnet("aflow_bulk_modulus", "aflow__ael_bulk_modulus_vrh", "GPa", "bulk modulus (DFT, AFLOW AEL)",
             "AFLOW AEL Voigt-Reuss-Hill bulk modulus (GPa).", "AFLOW"),
    _crabnet("aflow_shear_modulus", "aflow__ael_shear_modulus_vrh", "GPa", "shear modulus (DFT, AFLOW AEL)",
             "AFLOW AEL Voigt-Reuss-Hill shear modulus (GPa).", "AFLOW"),
]

# --- Liang et al. 2021 Bayesian-optimisation benchmarks --------------------------------------
_LIANG_NOTE = (
    " Raw rows as published, duplicates kept: several rows share the same inputs (repeated "
    "experiments). The paper's pool-based protocol groups identical inputs and averages the "
    "objective ({pool} unique input rows)."
)


def _liang(name: str, file: str, target: str, unit: str, direction: str, prop: str, what: str,
           original: str, pool: int) -> DatasetSpec:
    return DatasetSpec(
        name=name, group="liang2021", kind="parameters", input=None, targets=(target,),
        task="regression", units={target: unit}, property=prop, source="Liang et al. 2021 (BO benchmark)",
        citation=f"{LIANG_PAPER}\nOriginal data: {original}",
        license="MIT (PV-Lab/Benchmarking LICENSE; its README says BSD-2-Clause)",
        description=what + _LIANG_NOTE.format(pool=pool), direction={target: direction},
        source_name=file,
    )


_LIANG = [
    _liang("liang_p3ht", "P3HT_dataset.csv",
           "Conductivity (measured) (S/cm)", "S/cm", "max", "conductivity of P3HT/CNT films",
           "P3HT / carbon-nanotube composite films: contents (%) of P3HT and four nanotube types (D1, D2, "
           "D6, D8) as inputs; objective: measured electrical conductivity (S/cm), to maximise.",
           "Bash, D. et al. Multi-fidelity high-throughput optimization of electrical conductivity in "
           "P3HT-CNT composites. Adv. Funct. Mater. 31, 2102606 (2021).", 178),
    _liang("liang_agnp", "AgNP_dataset.csv",
           "loss", "unitless", "min", "spectral loss of Ag nanoparticle synthesis",
           "Microfluidic silver-nanoparticle synthesis: flow-rate ratios (%) of AgNO3, PVA, trisodium "
           "citrate and seeds, and the total flow rate (uL/min) as inputs; objective: 'loss', the distance "
           "between measured and target absorbance spectra (dimensionless), to minimise.",
           "Mekki-Berrada, F. et al. Two-step machine learning enables optimized nanoparticle synthesis. "
           "npj Comput Mater 7, 55 (2021).", 164),
    _liang("liang_crossed_barrel", "Crossed barrel_dataset.csv",
           "toughness", "", "max", "toughness of 3D-printed crossed barrels",
           "3D-printed crossed-barrel structures: number of struts n, twist angle theta, strut radius r "
           "and thickness t as inputs; objective: toughness (its unit is not stated in the source file), "
           "to maximise.",
           "Gongora, A. E. et al. A Bayesian experimental autonomous researcher for mechanical design. "
           "Sci. Adv. 6, eaaz1708 (2020).", 600),
]

# --- MoleculeNet physical chemistry ----------------------------------------------------------
_MOLECULES = [
    DatasetSpec(
        name="esol", group="moleculenet", kind="molecule", input="smiles",
        targets=("measured log solubility in mols per litre",), task="regression",
        units={"measured log solubility in mols per litre": "log10(mol/L)"}, property="aqueous solubility",
        source="MoleculeNet (ESOL)",
        citation="Delaney, J. S. ESOL: estimating aqueous solubility directly from molecular structure. "
                 "J. Chem. Inf. Comput. Sci. 44, 1000 (2004). https://doi.org/10.1021/ci034243x\n" + MOLECULENET,
        license="MIT (GLambard/Molecules_Dataset_Collection); data from Delaney 2004 via MoleculeNet",
        description="Measured aqueous solubility (log10 mol/L) of 1128 organic molecules given as SMILES. "
                    "Do not use the column 'ESOL predicted log solubility in mols per litre' as a feature: "
                    "it is the output of Delaney's model. Some SMILES in the bundled file end with a space; "
                    "the loader strips surrounding whitespace from SMILES, which does not change the "
                    "molecule (the file itself keeps the raw values).",
        source_name="ESOL_delaney-processed.csv", strip=("smiles",),
    ),
    DatasetSpec(
        name="freesolv", group="moleculenet", kind="molecule", input="smiles", targets=("expt",),
        task="regression", units={"expt": "kcal/mol"}, property="hydration free energy",
        source="MoleculeNet (FreeSolv)",
        citation="Mobley, D. L., Guthrie, J. P. FreeSolv: a database of experimental and calculated "
                 "hydration free energies, with input files. J. Comput. Aided Mol. Des. 28, 711 (2014). "
                 "https://doi.org/10.1007/s10822-014-9747-x\n" + MOLECULENET,
        license="CC BY-SA 3.0 (FreeSolv, ChEMBL document CHEMBL3301361); repository packaging MIT",
        description="Experimental hydration free energy (kcal/mol) of 642 small neutral molecules given as "
                    "SMILES. Column 'calc' is the alchemical molecular-dynamics estimate: a strong baseline, "
                    "not a measurement. The loader strips surrounding whitespace from SMILES (no change "
                    "of meaning). Derived data must be shared under CC BY-SA 3.0.",
        source_name="FreeSolv_SAMPL.csv", strip=("smiles",),
    ),
]

# --- Olympus campaigns: several objectives, categorical inputs, compositions, failures ---------
OLYMPUS_PAPER = (
    "Hase, F., Aldeghi, M., Hickman, R. J. et al. Olympus: a benchmarking framework for noisy "
    "optimization and experiment planning. Mach. Learn.: Sci. Technol. 2, 035021 (2021). "
    "https://doi.org/10.1088/2632-2153/abedc8"
)
ROHR_PAPER = (
    "Rohr, B. et al. Benchmarking the acceleration of materials discovery by sequential learning. "
    "Chem. Sci. 11, 2696 (2020). https://doi.org/10.1039/C9SC05999G"
)


def _olympus(name: str, targets: dict[str, str], prop: str, what: str, *, task: str = "regression",
             citation: str = "", levels: tuple[str, ...] = ()) -> DatasetSpec:
    return DatasetSpec(
        name=name, group="olympus", kind="parameters", input=None, targets=tuple(targets), task=task,
        units={t: "V" if t == "overpotential" else "" for t in targets}, property=prop, source="Olympus (aspuru-guzik-group/olympus)",
        citation=OLYMPUS_PAPER + (f"\n{citation}" if citation else ""),
        license="MIT (aspuru-guzik-group/olympus LICENSE); cite the original data source as well",
        description=what, direction=targets, source_name=f"{name}.csv", levels=levels,
    )


_PLATE = ("High-throughput oxygen-evolution catalyst composition plate: loadings (fractions summing to 1) of "
          "six metals ({metals}) as inputs; objective: overpotential (V), to minimise. Part of the data "
          "behind Rohr et al. 2020.")
_OLYMPUS = [
    _olympus("dye_lasers", {"peak_score": "max", "spectral_overlap": "min", "fluo_rate": "max"},
             "photophysics of organic laser dyes",
             "Computed photophysical figures of merit of 3,458 symmetric pentamer laser-dye molecules built "
             "from three fragments given as SMILES (frag_a 14, frag_b 13, frag_c 19 options). Three objectives: "
             "peak_score (max), spectral_overlap (min), fluo_rate (max)."),
    _olympus("redoxmers", {"abs_lam_diff": "min", "ered": "min", "gsol": "min"},
             "redox-flow-battery molecules",
             "Computed properties of 1,408 redoxmer candidates for non-aqueous redox-flow batteries, built from "
             "four substituent positions given as labels (r1_label 2, r3_label 8, r4_label 8, r5_label 11 "
             "options). Three objectives, all minimised: abs_lam_diff (absorption wavelength difference), "
             "ered (reduction potential), gsol (solvation free energy)."),
    _olympus("oer_plate_3496", {"overpotential": "min"}, "OER overpotential",
             _PLATE.format(metals="Ni, Fe, Co, Mn, Ce, La"), citation=ROHR_PAPER),
    _olympus("oer_plate_3851", {"overpotential": "min"}, "OER overpotential",
             _PLATE.format(metals="Ni, Fe, Co, Ta, Mn, Cu"), citation=ROHR_PAPER),
    _olympus("vapdiff_crystal", {"crystal_score": "max"}, "vapour-diffusion crystallisation outcome",
             "Experimental vapour-diffusion crystallisation of metal-halide perovskites (918 experiments): organic "
             "(17 options) and solvent (3 options) as labels plus 8 numeric conditions; outcome crystal_score, an "
             "ordinal label clear_solution < fine_powder < small_crystallites < large_crystallites; "
             "clear_solution means nothing grew (a failed experiment).", task="classification",
             levels=("clear_solution", "fine_powder", "small_crystallites", "large_crystallites")),
]

# --- crystal structures (inline structure column; kind=structure) ---------------------------------
FLLA_PAPER = (
    "Faber, F., Lindmaa, A., von Lilienfeld, O. A., Armiento, R. Crystal structure representations for "
    "machine learning models of formation energies. Int. J. Quantum Chem. 115, 1094 (2015). "
    "https://doi.org/10.1002/qua.24917"
)
CDVAE_PAPER = (
    "Xie, T., Fu, X., Ganea, O.-E., Barzilay, R., Jaakkola, T. Crystal diffusion variational autoencoder for "
    "periodic material generation. ICLR (2022). https://arxiv.org/abs/2110.06197"
)
MATMINER_PAPER = (
    "Ward, L. et al. Matminer: An open source toolkit for materials data mining. Comput. Mater. Sci. 152, "
    "60-69 (2018). https://doi.org/10.1016/j.commatsci.2018.05.018"
)
_MATMINER_LICENCE = "modified BSD (matminer LICENSE, LBNL); cite the original data paper as well"
_INLINE = (" The 'structure' column holds each crystal structure inline ({fmt}; the loader strips surrounding "
           "whitespace); use it with --input structure "
           "--kind structure (or matloop.represent.read_structures).")
_STRUCTURES = [
    DatasetSpec(
        name="elastic_tensor_2015", group="matminer", kind="structure", input="structure",
        targets=("K_VRH", "G_VRH", "log10_K_VRH", "log10_G_VRH"), task="regression",
        units={"K_VRH": "GPa", "G_VRH": "GPa", "log10_K_VRH": "log10 GPa", "log10_G_VRH": "log10 GPa"},
        property="bulk and shear modulus", source="matminer 0.4.1 (elastic_tensor_2015)",
        citation=MATBENCH_SOURCES["elastic"] + "\n" + MATMINER_PAPER + "\n" + MATERIALS_PROJECT,
        license=_MATMINER_LICENCE,
        description="DFT (PBE) elastic properties of 1,181 inorganic crystals from the Materials Project: "
                    "Voigt-Reuss-Hill bulk (K_VRH) and shear (G_VRH) moduli in GPa, with their Voigt and Reuss "
                    "bounds, the symmetrised elastic tensor, Poisson ratio, anisotropy and space group. "
                    "log10_K_VRH and log10_G_VRH (added by matloop) are the targets of the matloop structure "
                    "benchmark and of Matbench's log_kvrh/log_gvrh tasks (which use a larger, newer set)."
                    + _INLINE.format(fmt="CIF text"),
        source_name="matminer-0.4.1_elastic_tensor.csv.gz", strip=("structure",),
    ),
    DatasetSpec(
        name="dielectric_constant", group="matminer", kind="structure", input="structure", targets=("n",),
        task="regression", units={"n": ""}, property="refractive index",
        source="matminer 0.4.1 (dielectric_constant)",
        citation="Petousis, I. et al. High-throughput screening of inorganic compounds for the discovery of novel "
                 "dielectric and optical materials. Sci. Data 4, 160134 (2017). https://doi.org/10.1038/sdata.2016.134"
                 "\n" + MATMINER_PAPER + "\n" + MATERIALS_PROJECT,
        license=_MATMINER_LICENCE,
        description="DFPT dielectric properties of 1,056 inorganic crystals from the Materials Project: refractive "
                    "index n (the target; the source of Matbench's dielectric task), electronic and total "
                    "polycrystalline dielectric constants and tensors, band gap (eV), a potential-ferroelectric "
                    "flag." + _INLINE.format(fmt="CIF text"),
        source_name="matminer-0.4.1_dielectric_constant.csv.gz", strip=("structure",),
    ),
    DatasetSpec(
        name="flla", group="matminer", kind="structure", input="structure", targets=("formation_energy_per_atom",),
        task="regression", units={"formation_energy_per_atom": "eV/atom"},
        property="formation energy", source="matminer 0.4.1 (flla)",
        citation=FLLA_PAPER + "\n" + MATMINER_PAPER + "\n" + MATERIALS_PROJECT,
        license=_MATMINER_LICENCE,
        description="DFT formation energy per atom (eV/atom) of 3,938 Materials Project crystals, the set of "
                    "Faber, Lindmaa, von Lilienfeld and Armiento (FLLA) 2015, with energy above the hull and the "
                    "reduced formula. Site properties (forces, magnetic moments) are kept in the structures."
                    + _INLINE.format(fmt="pymatgen Structure JSON, converted from the source's Python repr"),
        source_name="matminer-0.4.1_flla_2015.csv.gz", strip=("structure",),
    ),
    DatasetSpec(
        name="perov_5", group="cdvae", kind="structure", input="structure", targets=("heat_ref",),
        task="regression", units={"heat_ref": "eV/cell"},
        property="heat of formation", source="CDVAE perov_5 (Castelli et al. perovskites)",
        citation=MATBENCH_SOURCES["perovskites"] + "\n" + CDVAE_PAPER,
        license="MIT (txie-93/cdvae LICENSE); cite Castelli et al. 2012 as well",
        description="Heat of formation (heat_ref, eV per 5-atom cell) of 3,787 ABX3 perovskites (the validation "
                    "split of CDVAE's perov_5, from Castelli et al. 2012, the source of Matbench perovskites), "
                    "relaxed and often distorted from the cubic structure, with direct and indirect gaps (eV). "
                    "Compositions repeat with different distortions, so composition-only models cannot see "
                    "everything." + _INLINE.format(fmt="CIF text"),
        source_name="data/perov_5/val.csv", strip=("structure",),
    ),
]

SPECS: dict[str, DatasetSpec] = {s.name: s for s in (*_MATBENCH, *_CRABNET, *_LIANG, *_MOLECULES, *_OLYMPUS,
                                                     *_STRUCTURES)}
