"""Inverse design of molecules: a chemical language model, iQSPR's SMC sampler and a graph GA.

- :func:`design_molecules`: new molecules whose predicted properties fall in target windows.
- :class:`NGramModel`: n-gram chemical language model over SMILES (sample, modify).
- :func:`smc_sample`: sequential Monte Carlo towards ``p(molecule | properties in windows)``.
- :func:`graph_ga`: graph-based genetic algorithm for any scalar objective.
- :mod:`~matloop.design.molecules.objectives`: window likelihoods and GuacaMol-style objectives.
- :func:`generation_metrics`: validity, uniqueness, novelty and diversity of generated SMILES.
"""

from matloop.design.molecules.api import GENERATORS, WindowLikelihood, bundled_corpus, design_molecules
from matloop.design.molecules.chem import generation_metrics, internal_diversity
from matloop.design.molecules.forward import PropertyPredictor
from matloop.design.molecules.graph_ga import GAResult, graph_ga
from matloop.design.molecules.ngram import NGramModel
from matloop.design.molecules.objectives import GUACAMOL_TASKS, guacamol_score, log_window_probability
from matloop.design.molecules.smc import SMCResult, iqspr_schedule, smc_sample

__all__ = [
    "GENERATORS",
    "GUACAMOL_TASKS",
    "GAResult",
    "NGramModel",
    "PropertyPredictor",
    "SMCResult",
    "WindowLikelihood",
    "bundled_corpus",
    "design_molecules",
    "generation_metrics",
    "graph_ga",
    "guacamol_score",
    "internal_diversity",
    "iqspr_schedule",
    "log_window_probability",
    "smc_sample",
]
