"""``design_molecules``: new molecules whose predicted properties fall in target windows.

One call does what a chemist asks for ("molecules with logS between -2 and -1, unlike the ones I
have"): it checks the table, trains forward models with uncertainty (or takes given ones), runs a
generator, and returns the best distinct, valid molecules that are not in the training table, each
with its predicted mean and std per target, the window probabilities, and flags.

Generators:

* ``"smc"``: iQSPR's sequential Monte Carlo with the n-gram chemical language model
  (:mod:`~matloop.design.molecules.smc`); the language model is trained on the table's SMILES
  plus, by default, the bundled ESOL and FreeSolv molecules (about 1,700 small organic molecules).
* ``"ga"``: the graph genetic algorithm (:mod:`~matloop.design.molecules.graph_ga`), maximising the
  window likelihood, started from the table's best molecules.

The output's flags are there to be read: ``in_window`` (every predicted mean inside its window),
``in_domain`` (Tanimoto similarity to the nearest training molecule at least ``domain_threshold``;
predictions far from any training molecule deserve less trust than their std suggests).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from matloop.design.molecules.chem import (
    canonical_or_none,
    fingerprint_matrix,
    nearest_similarity,
    without_stereo,
)
from matloop.design.molecules.forward import PropertyPredictor
from matloop.design.molecules.objectives import log_window_probability
from matloop.errors import InputError, error_table

__all__ = ["design_molecules", "bundled_corpus", "WindowLikelihood", "GENERATORS"]

GENERATORS = ("smc", "ga")


def bundled_corpus() -> list[str]:
    """Canonical SMILES of the bundled ESOL and FreeSolv molecules (the default language-model corpus)."""
    return list(_bundled())


@functools.lru_cache(maxsize=1)
def _bundled() -> tuple[str, ...]:
    from matloop.datasets import load

    smiles = [str(s).strip() for name in ("esol", "freesolv") for s in load(name).frame["smiles"]]
    return tuple(dict.fromkeys(c for c in (canonical_or_none(s) for s in smiles) if c is not None))


class WindowLikelihood:
    """Log-probability that every target lies in its window, from a :class:`PropertyPredictor`."""

    def __init__(self, predictor: PropertyPredictor, targets: Mapping[str, tuple[float | None, float | None]]):
        self.predictor = predictor
        self.targets = dict(targets)

    def table(self, smiles: Sequence[str]) -> pd.DataFrame:
        """Per molecule: ``<target>_pred``, ``<target>_std``, ``<target>_p_window``, ``log_likelihood``."""
        mean, std = self.predictor.predict(smiles)
        out = pd.DataFrame(index=range(len(smiles)))
        total = np.zeros(len(smiles))
        for j, name in enumerate(self.predictor.targets):
            lo, hi = self.targets[name]
            logp = log_window_probability(mean[:, j], std[:, j], lo, hi)
            out[f"{name}_pred"], out[f"{name}_std"], out[f"{name}_p_window"] = mean[:, j], std[:, j], np.exp(logp)
            total += logp
        out["log_likelihood"] = total
        return out

    def __call__(self, smiles: Sequence[str]) -> np.ndarray:
        return self.table(smiles)["log_likelihood"].to_numpy()


def design_molecules(train_frame, smiles_column: str = "smiles",
                     targets: Mapping[str, tuple[float | None, float | None]] | None = None, n: int = 50,
                     generator: str = "smc", model=None, featurizer=None, seed: int = 0, steps: int | None = None,
                     population: int | None = None, corpus: str | Sequence[str] | None = "bundled", ngram=None,
                     domain_threshold: float = 0.4, move: str = "metropolis", callback=None) -> pd.DataFrame:
    """Generate ``n`` new molecules predicted to have every target in its window.

    Parameters
    ----------
    train_frame : DataFrame or matloop.io.Dataset
        Known molecules (a SMILES column) and, unless ``model`` is given, the measured targets.
    smiles_column : str
        The SMILES column (a Dataset's input column is used when it has one).
    targets : mapping of column -> (lo, hi)
        Target windows; ``None`` for an open end (``(None, -5)`` = "below -5").
    n : int
        Molecules to return (fewer, with a warning, if the run found fewer new ones).
    generator : {"smc", "ga"}
    model : PropertyPredictor, estimator or mapping of column -> estimator, optional
        Fitted forward models with ``predict(X, return_std=True)``. Without ``featurizer`` they are
        given SMILES (e.g. a loaded :class:`matloop.models.pipeline.MaterialModel`). Default: a
        random forest with uncertainty per target, trained here on ``featurizer`` features.
    featurizer : transformer, optional
        Molecule featurizer for the forward models (default: the default molecule featurizer).
    seed : int
        Seeds the models, the language model and the generator: same inputs, same molecules.
    steps : int, optional
        SMC steps (default 30) or GA generations (default 30).
    population : int, optional
        Particles (SMC, default ``max(100, n)``) or population size (GA, default ``max(100, n)``).
    corpus : "bundled", sequence of SMILES or None
        Extra molecules for the language model besides the table (SMC only).
    ngram : NGramModel, optional
        A fitted language model to use instead of training one.
    domain_threshold : float
        Nearest-training-neighbour Tanimoto similarity below which ``in_domain`` is False.
    move : {"metropolis", "iqspr"}
        SMC move (see :mod:`matloop.design.molecules.smc`).
    callback : callable, optional
        Progress hook ``callback(step, trace)`` passed to the generator.

    Returns
    -------
    DataFrame
        One row per molecule, best first: ``rank, smiles``, per target ``<t>_pred, <t>_std,
        <t>_p_window``, then ``likelihood, log_likelihood, in_window, nearest_train_similarity,
        nearest_train_smiles, in_domain, generator, step``. ``attrs["design"]`` holds the run's
        figures (molecules evaluated, proposal validity, the per-step trace).
    """
    if generator not in GENERATORS:
        raise ValueError(f"generator must be one of {GENERATORS}, got {generator!r}")
    if int(n) < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    frame, rows, smiles_column = _frame(train_frame, smiles_column)
    windows = _check_windows(targets, frame, model is None)
    known = _known_smiles(frame, smiles_column, rows)
    predictor = _predictor(model, featurizer, frame, smiles_column, rows, windows, seed)
    likelihood = WindowLikelihood(predictor, windows)
    training = [c for c in dict.fromkeys(known) if c is not None]
    size = int(population or max(100, int(n)))
    if generator == "smc":
        from matloop.design.molecules.ngram import NGramModel
        from matloop.design.molecules.smc import smc_sample

        lm_corpus = training + (bundled_corpus() if isinstance(corpus, str) and corpus == "bundled"
                                else list(corpus or []))
        lm = ngram if ngram is not None else NGramModel(random_state=seed).fit(lm_corpus)
        start = [s for s in training if lm.supports(s)] or training
        result = smc_sample(likelihood, lm, start, n_particles=size, steps=int(steps or 30), move=move,
                            random_state=seed, callback=callback)
        found, step = result.molecules, "step"
        trace = result.trace
    else:
        from matloop.design.molecules.graph_ga import graph_ga

        result = graph_ga(lambda s: np.exp(likelihood(s)), training, population_size=size,
                          offspring_size=2 * size, generations=int(steps or 30), random_state=seed,
                          callback=callback)
        found = result.molecules.rename(columns={"generation": "step"})
        found["log_likelihood"] = np.log(np.maximum(found["score"].to_numpy(), 1e-300))
        step, trace = "step", result.trace
    return _output(found, step, training, likelihood, int(n), generator, domain_threshold, trace, predictor)


# ---------------------------------------------------------------------- input checks
def _frame(train_frame, smiles_column: str) -> tuple[pd.DataFrame, np.ndarray, str]:
    from matloop.io.dataset import Dataset

    if isinstance(train_frame, Dataset):
        column = train_frame.input or smiles_column
        return train_frame.frame.reset_index(drop=True), np.asarray(train_frame.rows), column
    if not isinstance(train_frame, pd.DataFrame):
        raise TypeError(f"train_frame must be a DataFrame or a Dataset, got {type(train_frame).__name__}")
    return train_frame.reset_index(drop=True), np.arange(1, len(train_frame) + 1), smiles_column


def _check_windows(targets, frame: pd.DataFrame, need_columns: bool) -> dict[str, tuple[float | None, float | None]]:
    if not targets:
        raise ValueError("give at least one target window, e.g. targets={'logS': (-2, -1)}")
    windows = {}
    for name, bounds in targets.items():
        try:
            lo, hi = bounds
        except (TypeError, ValueError):
            raise ValueError(f"target {name!r}: give the window as (lo, hi), got {bounds!r}") from None
        lo = None if lo is None or (isinstance(lo, float) and np.isneginf(lo)) else float(lo)
        hi = None if hi is None or (isinstance(hi, float) and np.isposinf(hi)) else float(hi)
        if lo is None and hi is None:
            raise ValueError(f"target {name!r}: the window needs at least one bound")
        if lo is not None and hi is not None and not lo < hi:
            raise ValueError(f"target {name!r}: need lo < hi, got [{lo}, {hi}]")
        if need_columns and name not in frame.columns:
            raise InputError(f"target column {name!r} is not in the table (columns: {', '.join(map(str, frame.columns))})")
        windows[str(name)] = (lo, hi)
    return windows


def _known_smiles(frame: pd.DataFrame, column: str, rows: np.ndarray) -> list[str]:
    """Canonical SMILES of every row; every unreadable row reported at once."""
    from matloop.represent.molecule_smiles import canonical_smiles

    if column not in frame.columns:
        raise InputError(f"SMILES column {column!r} is not in the table (columns: {', '.join(map(str, frame.columns))})")
    canon, table = canonical_smiles(frame[column].to_numpy(dtype=object), column=column, rows=rows, errors="collect")
    star = [i for i, c in enumerate(canon) if c is not None and ("*" in c or "." in c)]
    if star:
        extra = error_table([{"row": rows[i], "column": column, "value": frame[column].iloc[i],
                              "reason": "polymer end groups (*) and multi-fragment SMILES (.) cannot be designed"}
                             for i in star])
        table = pd.concat([table, extra], ignore_index=True).sort_values("row", kind="stable")
    if len(table):
        raise InputError(f"Could not read column '{column}' as SMILES", table)
    return canon


def _target_frame(frame: pd.DataFrame, names: list[str], rows: np.ndarray) -> pd.DataFrame:
    """Numeric target columns; text or infinite cells are errors, empty cells are unmeasured rows."""
    out, records = {}, []
    for name in names:
        raw = frame[name]
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        blank = raw.isna() | raw.astype(str).str.strip().eq("")
        bad = (values.isna() & ~blank) | np.isinf(values)
        records += [{"row": rows[i], "column": name, "value": raw.iloc[i],
                     "reason": "not a finite number"} for i in np.flatnonzero(bad.to_numpy())]
        out[name] = values
    if records:
        raise InputError("Target columns hold values that are not numbers", error_table(records))
    return pd.DataFrame(out)


def _predictor(model, featurizer, frame, column, rows, windows, seed) -> PropertyPredictor:
    names = list(windows)
    if model is None:
        y = _target_frame(frame, names, rows)
        return PropertyPredictor.train(frame[column].astype(str).str.strip().tolist(), y, featurizer=featurizer,
                                       random_state=seed)
    if isinstance(model, PropertyPredictor):
        missing = [t for t in names if t not in model.targets]
        if missing:
            raise ValueError(f"the predictor has no model for {missing}; it predicts {model.targets}")
        return model
    if isinstance(model, Mapping):
        missing = [t for t in names if t not in model]
        if missing:
            raise ValueError(f"no model given for targets {missing}")
        return PropertyPredictor({t: model[t] for t in names}, featurizer)
    if len(names) != 1:
        raise ValueError("with several targets give model as a mapping {target: model}")
    return PropertyPredictor({names[0]: model}, featurizer)


# ---------------------------------------------------------------------- output
def _is_new(smiles: pd.Series, training: list[str]) -> np.ndarray:
    """Whether each canonical SMILES is new: not a training molecule, as written or without stereo tags
    (``CCCC[C@@H](O)CC`` is the training molecule ``CCCCC(O)CC`` with a tag added, not a new one)."""
    known = set(training) | {without_stereo(s) for s in training}
    return np.array([s not in known and without_stereo(s) not in known for s in smiles], dtype=bool)


def _output(found: pd.DataFrame, step: str, training: list[str], likelihood: WindowLikelihood, n: int,
            generator: str, threshold: float, trace: pd.DataFrame, predictor: PropertyPredictor) -> pd.DataFrame:
    is_new = _is_new(found["smiles"], training)
    fresh = found[is_new]
    fresh = fresh.sort_values(["log_likelihood", step], ascending=[False, True], kind="stable").head(n)
    if len(fresh) < n:
        warnings.warn(f"found {len(fresh)} new molecules, fewer than the {n} asked for; run more steps or a "
                      "larger population", RuntimeWarning, stacklevel=3)
    smiles = fresh["smiles"].tolist()
    table = likelihood.table(smiles)
    out = pd.DataFrame({"rank": np.arange(1, len(smiles) + 1), "smiles": smiles})
    out = pd.concat([out, table.drop(columns="log_likelihood")], axis=1)
    out["likelihood"] = np.exp(table["log_likelihood"].to_numpy())
    out["log_likelihood"] = table["log_likelihood"].to_numpy()
    inside = np.ones(len(out), dtype=bool)
    for name, (lo, hi) in likelihood.targets.items():
        pred = out[f"{name}_pred"].to_numpy()
        inside &= (pred >= (-np.inf if lo is None else lo)) & (pred <= (np.inf if hi is None else hi))
    out["in_window"] = inside
    sim, where = nearest_similarity(fingerprint_matrix(smiles), fingerprint_matrix(training))
    out["nearest_train_similarity"] = sim
    out["nearest_train_smiles"] = [training[i] for i in where] if training else None
    out["in_domain"] = sim >= threshold
    out["generator"] = generator
    out["step"] = fresh[step].to_numpy()
    out.attrs["design"] = {
        "generator": generator, "n_evaluated": int(len(found)), "n_new": int(is_new.sum()),
        "trace": trace.to_dict("records"),
    }
    return out
