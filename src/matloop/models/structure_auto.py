"""AutoModel for crystal structures: choose among descriptor sets by cross-validation.

A structure table can be described in several ways and none wins everywhere: the composition of
the cell alone (all a formula table has; often enough for formation energies), the hand-made
structure descriptors of :class:`~matloop.represent.structure.StructureFeaturizer` (density,
symmetry, RDF, coordination, sine Coulomb, plus Magpie), and the pre-trained CHGNet features of
:class:`~matloop.models.potentials.features.UniversalPotentialFeatures` (embedding, energy, a
bulk-modulus estimate). Two pieces do the choosing:

- :class:`StructureFeatureSets` (featurizer ``structure_auto``): every set side by side, each
  column prefixed with its set's name and ``::`` (``composition::MagpieData mean Number``,
  ``structure::density``, ``chgnet::chgnet_emb_00``). The structures are read once.
- :class:`FeatureSetAutoModel`: one :class:`~matloop.models.automodel.AutoModel` per set (and one
  on the structure and CHGNet sets together), each with its share of the time budget; their
  out-of-fold predictions, on the same folds, are combined by the same greedy ensemble selection
  that AutoModel uses within a set (Caruana et al. 2004), so the composition-only model is always
  a candidate and the result can only be worse than it by the noise of that selection. The
  ensemble's std is recalibrated on the out-of-fold z-scores and its residual distribution is
  learnt as AutoModel's is.

The crystal graph network is one more candidate (:mod:`matloop.models.structure_gnn`): with ``gnn``
the featurizer adds its held-out prediction and std as the set ``gnn``, which the ensemble selection
weighs like the other sets' out-of-fold predictions (``PREDICTION_SETS``: no AutoModel is fitted on it).

``matloop fit``/``validate`` use the two by default for a structure table with ``--model auto``.
The selection is inner cross-validation; ``benchmarks/structures.py`` scores it on outer folds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from matloop.models.automodel import ResidualDistributionMixin
from matloop.models.predictive import ResidualDistribution, clip_to_bounds, detect_bounds

SEP = "::"
SETS = ("composition", "structure", "chgnet")
#: sets whose two columns are already a model's (held-out) prediction and std (models.structure_gnn), not features
PREDICTION_SETS = ("gnn",)
#: a set made of two others, scored as one more candidate
COMBINED = {"structure+chgnet": ("structure", "chgnet")}


def default_sets() -> tuple[str, ...]:
    """All sets whose libraries are installed (CHGNet needs ``matloop[chgnet]``)."""
    from matloop.models.potentials.features import chgnet_available

    return SETS if chgnet_available() else SETS[:2]


class StructureFeatureSets(TransformerMixin, BaseEstimator):
    """Composition, structure-descriptor and CHGNet features of structures, prefixed by set.

    Parameters
    ----------
    sets : sequence of str or "auto"
        Among ``composition`` (the default composition features of the cell's formula),
        ``structure`` (:class:`~matloop.represent.structure.StructureFeaturizer`) and ``chgnet``
        (:class:`~matloop.models.potentials.features.UniversalPotentialFeatures`). ``"auto"``:
        all that are installed.
    base_dir : path, optional
        Folder that relative structure paths are resolved against.
    chgnet_cache : bool or path
        The CHGNet feature cache (see :class:`UniversalPotentialFeatures`).
    gnn : "auto", "yes" or "no"
        Add the crystal graph network's held-out prediction and std as the set ``gnn``
        (:mod:`matloop.models.structure_gnn`: when it is considered, and why). Default ``"no"``;
        ``matloop fit`` passes ``--gnn-candidate`` (default ``auto``). With the network, fitting needs
        the target (``fit(X, y)``) and ``gnn_note_`` says whether it was trained.
    gnn_budget : float
        Seconds the network may take.
    gnn_network : estimator, optional
        An unfitted :class:`~matloop.models.gnn.estimator.CrystalGraphRegressor` to use instead of the
        default one.
    random_state : int or None
        Seed of the network.
    """

    def __init__(self, sets: Sequence[str] | str = "auto", base_dir: str | os.PathLike | None = None,
                 chgnet_cache: bool | str | os.PathLike = True, gnn: str = "no", gnn_budget: float = 300.0,
                 gnn_network=None, random_state: int | None = 0):
        self.sets = sets
        self.base_dir = base_dir
        self.chgnet_cache = chgnet_cache
        self.gnn = gnn
        self.gnn_budget = gnn_budget
        self.gnn_network = gnn_network
        self.random_state = random_state

    @property
    def uses_target(self) -> bool:
        """True when fitting needs ``y`` (the network's set may be added)."""
        return str(getattr(self, "gnn", "no")).lower() != "no"  # getattr: a model saved before the option

    @property
    def feature_cache(self) -> bool:
        """Rows may be cached by input text unless they depend on the target (the network's set); the
        descriptor sets are then cached here, by structure content."""
        return not self.uses_target

    def _sets(self) -> tuple[str, ...]:
        sets = default_sets() if self.sets == "auto" else tuple([self.sets] if isinstance(self.sets, str) else self.sets)
        bad = [s for s in sets if s not in SETS]
        if bad or not sets:
            raise ValueError(f"sets must be among {SETS}, got {list(sets)}")
        return sets

    def _featurizers(self) -> dict:
        from matloop.represent.registry import get_featurizer
        from matloop.represent.structure import StructureFeaturizer

        out = {}
        for s in self._sets():
            if s == "composition":
                out[s] = get_featurizer("default")
            elif s == "structure":
                out[s] = StructureFeaturizer()
            else:
                from matloop.models.potentials.features import UniversalPotentialFeatures

                out[s] = UniversalPotentialFeatures(cache=self.chgnet_cache)
        return out

    def _run(self, X, fit: bool, y=None) -> pd.DataFrame:
        from matloop.models.potentials.features import _rows
        from matloop.represent.structure import as_structures, cell_formulas

        structures, index = as_structures(X, self.base_dir)
        if fit:
            self.featurizers_ = self._featurizers()
        gnn = self._gnn_part(structures, y, fit, _rows(X, len(structures))) if self.uses_target else None
        parts = []
        for name, f in self.featurizers_.items():
            data = cell_formulas(structures) if name == "composition" else structures
            if name == "chgnet":
                out = pd.DataFrame(f.fit().transform_structures(structures, rows=_rows(X, len(structures))),
                                   columns=f.get_feature_names_out())
            elif name == "structure" and not self.feature_cache:  # cached by content here, not by MaterialModel
                from matloop.represent.feature_cache import cached_transform

                out = cached_transform(f, list(data), fit=fit)
            else:
                out = f.fit_transform(data) if fit else f.transform(data)
            out = pd.DataFrame(out).reset_index(drop=True)
            out.columns = [f"{name}{SEP}{c}" for c in out.columns]
            parts.append(out)
        frame = pd.concat(parts + ([gnn] if gnn is not None else []), axis=1)
        frame.index = index
        if fit:
            self.feature_names_out_ = [str(c) for c in frame.columns]
            self.n_features_in_ = 1
        return frame

    def _gnn_part(self, structures, y, fit: bool, rows) -> pd.DataFrame | None:
        """The network's two columns (held-out on the training rows), or None when it is not used."""
        from matloop.models.structure_gnn import COLUMNS, fit_gnn_block, gnn_block

        if fit:
            self.gnn_, block, self.gnn_note_ = fit_gnn_block(structures, y, self.gnn, self.gnn_budget,
                                                             self.gnn_network, self.random_state, rows)
        elif getattr(self, "gnn_", None) is not None:
            block = gnn_block(self.gnn_, structures, rows)
        if getattr(self, "gnn_", None) is None:
            return None
        return pd.DataFrame(block, columns=[f"gnn{SEP}{c}" for c in COLUMNS])

    def fit(self, X, y=None) -> StructureFeatureSets:
        """Fit each set's featurizer (structure: the sine-Coulomb length) on ``X`` (and the network on ``y``)."""
        self._run(X, fit=True, y=y)
        return self

    def fit_transform(self, X, y=None, **fit_params) -> pd.DataFrame:
        """Fit and featurize in one pass over the structures (the network's set: held-out predictions)."""
        return self._run(X, fit=True, y=y)

    def transform(self, X) -> pd.DataFrame:
        """The prefixed features of ``X``, one row per structure."""
        check_is_fitted(self, "featurizers_")
        return self._run(X, fit=False)

    def get_feature_names_out(self, input_features: Iterable[str] | None = None) -> np.ndarray:
        """``set::feature`` names, sets in the order given."""
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def citations(self) -> list[str]:
        """The references of every set's featurizer."""
        cites: list[str] = []
        for f in (self.featurizers_ if hasattr(self, "featurizers_") else self._featurizers()).values():
            extra = f.citations() if hasattr(f, "citations") else []
            cites += [c for c in (extra.values() if isinstance(extra, dict) else extra) if c not in cites]
        return cites


def feature_blocks(columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Column positions of each set (prefix before ``::``; no prefix at all: one block ``all``), plus
    the combined sets of :data:`COMBINED` whose parts are all present."""
    names = [str(c) for c in columns]
    if not any(SEP in n for n in names):
        return {"all": np.arange(len(names))}
    prefixes = [n.split(SEP, 1)[0] if SEP in n else "other" for n in names]
    blocks = {p: np.flatnonzero(np.array(prefixes) == p) for p in dict.fromkeys(prefixes)}
    for name, parts in COMBINED.items():
        if all(p in blocks for p in parts):
            blocks[name] = np.sort(np.concatenate([blocks[p] for p in parts]))
    return blocks


class FeatureSetAutoModel(ResidualDistributionMixin, RegressorMixin, BaseEstimator):
    """One AutoModel per feature set, ensembled by cross-validation (see the module docstring).

    Parameters
    ----------
    time_budget : float
        Seconds for the whole fit, shared equally by the sets.
    cv : int or None
        Folds of every set's internal cross-validation (AutoModel's default when None).
    ensemble_rounds : int
        Rounds of greedy selection over the sets' out-of-fold predictions.
    random_state : int or None
        Seed; every set uses the same folds.
    bounds : "auto", None or (lower, upper)
        Known bounds of the target, as AutoModel's.
    n_jobs : int or None
        Threads for the tree ensembles.
    candidates : dict, optional
        AutoModel's candidate regressors for every set (default: AutoModel's).

    Attributes
    ----------
    blocks_ : dict
        Set name -> column positions.
    models_ : dict
        Set name -> fitted AutoModel (only the sets the ensemble uses are kept after ``fit``).
    cv_scores_ : dict
        Out-of-fold MAE of every set's AutoModel and of the ensemble.
    weights_ : dict
        Ensemble weight of each selected set.
    """

    _calibrates_itself = True

    def __init__(self, time_budget: float = 600.0, cv: int | None = None, ensemble_rounds: int = 20,
                 random_state: int | None = 0, bounds: str | tuple | None = "auto", n_jobs: int | None = 1,
                 candidates: dict | None = None):
        self.time_budget = time_budget
        self.cv = cv
        self.ensemble_rounds = ensemble_rounds
        self.random_state = random_state
        self.bounds = bounds
        self.n_jobs = n_jobs
        self.candidates = candidates

    def fit(self, X, y) -> FeatureSetAutoModel:
        """Fit every set's AutoModel, choose the ensemble of sets on out-of-fold predictions."""
        from matloop import progress
        from matloop.models.automodel import AutoModel
        from matloop.models.base import check_features, check_target

        columns = list(X.columns) if isinstance(X, pd.DataFrame) else [str(j) for j in range(np.shape(X)[1])]
        Xa = check_features(self, X, reset=True)
        y = check_target(y, Xa.shape[0])
        self.bounds_ = detect_bounds(y, self.bounds)
        self.blocks_ = feature_blocks(columns)
        share = float(self.time_budget) / max(1, len([b for b in self.blocks_ if b not in PREDICTION_SETS]))
        models, oof_mean, oof_std = {}, {}, {}
        self.cv_scores_ = {}
        for name, cols in self.blocks_.items():
            if name in PREDICTION_SETS:  # the network's held-out prediction and std (models.structure_gnn)
                models[name], oof_mean[name], oof_std[name] = None, Xa[:, cols[0]], Xa[:, cols[1]]
                self.cv_scores_[name] = float(np.mean(np.abs(Xa[:, cols[0]] - y)))
                continue
            progress.say(f"feature set {name} ({len(cols)} columns)")
            m = AutoModel(candidates=self.candidates, time_budget=share, cv=self.cv, random_state=self.random_state,
                          bounds=self.bounds_, n_jobs=self.n_jobs).fit(Xa[:, cols], y)
            models[name], oof_mean[name], oof_std[name] = m, m.oof_prediction_, m.oof_std_
            self.cv_scores_[name] = float(np.mean(np.abs(m.oof_prediction_ - y)))
        self.weights_ = _greedy(oof_mean, y, int(self.ensemble_rounds))
        mean, std = _combine(self.weights_, oof_mean, oof_std)
        z = (y - mean) / np.maximum(std, 1e-12)
        self.std_scale_ = float(np.sqrt(np.mean(z**2))) if np.all(np.isfinite(z)) else 1.0
        self.residuals_ = ResidualDistribution().fit(clip_to_bounds(mean, self.bounds_), std * self.std_scale_, y,
                                                     lower=self.bounds_[0])
        self.cv_scores_["ensemble"] = float(np.mean(np.abs(mean - y)))
        self.oof_prediction_, self.oof_std_ = mean, std * self.std_scale_
        self.models_ = {name: models[name] for name in self.weights_}
        progress.say("feature sets: " + ", ".join(f"{k} MAE {v:.4g}" for k, v in self.cv_scores_.items())
                     + "; ensemble weights " + ", ".join(f"{k} {w:.2f}" for k, w in self.weights_.items()))
        return self

    def _members(self, X) -> tuple[dict, dict]:
        from matloop.models.base import check_features

        check_is_fitted(self, "models_")
        Xa = check_features(self, X, reset=False)
        means, stds = {}, {}
        for name, m in self.models_.items():
            cols = self.blocks_[name]
            means[name], stds[name] = ((Xa[:, cols[0]], Xa[:, cols[1]]) if m is None else
                                       m.predict(Xa[:, cols], return_std=True))
        return means, stds

    def predict(self, X, return_std: bool = False):
        """Ensemble mean inside the bounds (and calibrated std)."""
        mean, std = _combine(self.weights_, *self._members(X))
        mean = clip_to_bounds(mean, self.bounds_)
        return (mean, std * self.std_scale_) if return_std else mean

    def member_predictions(self, X) -> pd.DataFrame:
        """Each selected set's own AutoModel prediction."""
        return pd.DataFrame(self._members(X)[0])

    @property
    def feature_importances_(self) -> np.ndarray:
        """Weighted importances of the sets' models, mapped back to the input columns."""
        imp = np.zeros(self.n_features_in_)
        for name, w in self.weights_.items():
            m = self.models_[name]  # a prediction set: all of its weight on its prediction column
            imp[self.blocks_[name]] += w * (np.eye(2)[0] if m is None else m.feature_importances_)
        total = imp.sum()
        return imp / total if total > 0 else imp


def _greedy(oof: dict[str, np.ndarray], y: np.ndarray, rounds: int) -> dict[str, float]:
    """Greedy forward selection with replacement minimising MAE (weights = selection counts)."""
    names = list(oof)
    P = np.stack([oof[m] for m in names])
    counts = np.zeros(len(names))
    current = np.zeros_like(y)
    for r in range(max(1, rounds)):
        trial = (current * r + P) / (r + 1)
        j = int(np.argmin(np.mean(np.abs(trial - y), axis=1)))
        counts[j] += 1
        current = trial[j]
    return {names[j]: float(counts[j] / counts.sum()) for j in np.flatnonzero(counts)}


def _combine(weights: dict, means: dict, stds: dict) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean; variance = members' weighted variance + their weighted disagreement."""
    w = np.array([weights[m] for m in weights])
    M = np.stack([means[m] for m in weights])
    S = np.stack([stds[m] for m in weights])
    mean = w @ M
    return mean, np.sqrt(w @ (S**2) + w @ ((M - mean) ** 2))
