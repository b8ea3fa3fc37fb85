"""Frozen pre-trained networks as descriptors: :class:`TransferFeaturizer`.

The hidden layers of a network trained on 50,000 DFT band gaps encode what matters for band
gaps; fed to a small-data model they transfer that knowledge (Yamada et al. 2019, ACS Cent. Sci.
5, 1717, "shotgun transfer learning"). The raw network input (Magpie + atomic fractions) is
computed once per call and every source model is evaluated on it with one matrix product per
layer, so 19 sources cost about as much as featurizing once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from matloop.errors import MatloopError
from matloop.io.formula import Compositions
from matloop.models.pretrained import composition_inputs, load_pretrained, model_names
from matloop.models.pretrained.lookup import can_look_up, computed_values
from matloop.represent.api import FeaturizerAPI

LAYERS = ("both", "last_hidden", "prediction", "hidden:K")
FORMULA_COLUMNS = ("formula", "composition", "formulas", "compositions")
CITATION = ("Yamada, H. et al. Predicting materials properties with little data using shotgun transfer "
            "learning. ACS Cent. Sci. 2019, 5, 1717-1730. doi:10.1021/acscentsci.9b00804")


def compositions_from(X, formula_column: str | None = None) -> tuple[Compositions, pd.Index]:
    """Formulas from a list/array/Series, a DataFrame (``formula_column`` or a lone or
    ``formula``/``composition`` column) or :class:`Compositions`; bad formulas raise InputError."""
    from matloop.represent.base import as_compositions

    if isinstance(X, pd.DataFrame):
        if formula_column is not None:
            if formula_column not in X.columns:
                raise ValueError(f"formula column {formula_column!r} is not in the table; columns: {list(X.columns)}")
            return as_compositions(X[formula_column])
        if X.shape[1] != 1:
            found = [c for c in X.columns if str(c).strip().lower() in FORMULA_COLUMNS]
            if len(found) != 1:
                raise ValueError(f"cannot tell which of the columns {list(X.columns)[:8]} holds the formulas; "
                                 f"pass formula_column=")
            return as_compositions(X[found[0]])
    return as_compositions(X)


def resolve_sources(sources, library: str | Path | None = None) -> list[str]:
    """``"all"``, one name, or a list of names -> validated list (unknown names raise InputError)."""
    from matloop.models.pretrained import model_card

    available = model_names(library)
    if sources is None or (isinstance(sources, str) and sources == "all"):
        if not available:
            raise MatloopError("the pre-trained library is empty; rebuild it with scripts/pretrain.py")
        return available
    names = [s.strip() for s in sources.split(",")] if isinstance(sources, str) else [str(s) for s in sources]
    for name in names:
        model_card(name, library)  # raises UnknownModelError listing the available names
    if len(set(names)) != len(names):
        raise ValueError(f"sources are repeated: {names}")
    return names


def _check_layer(layer: str) -> int | None:
    """Hidden-layer index for ``hidden:K`` layers, None otherwise; refuses unknown values."""
    if layer in ("both", "last_hidden", "prediction"):
        return None
    if isinstance(layer, str) and layer.startswith("hidden:"):
        try:
            return int(layer.split(":", 1)[1])
        except ValueError:
            pass
    raise ValueError(f"layer must be one of {LAYERS} (K an integer layer index, e.g. hidden:0), got {layer!r}")


def source_feature_names(model, layer: str) -> list[str]:
    """Column names one source contributes: ``NAME:h0..`` (last hidden), ``NAME:pred``,
    ``NAME:layerK:h0..`` (other hidden layers)."""
    k = _check_layer(layer)
    name, sizes = model.name, model.hidden_sizes
    if k is not None:
        k_pos = k % len(sizes)
        if k_pos == len(sizes) - 1:
            return [f"{name}:h{j}" for j in range(sizes[-1])]
        return [f"{name}:layer{k_pos}:h{j}" for j in range(sizes[k_pos])]
    hidden = [f"{name}:h{j}" for j in range(sizes[-1])]
    return {"both": hidden + [f"{name}:pred"], "last_hidden": hidden, "prediction": [f"{name}:pred"]}[layer]


def source_features(model, inputs: np.ndarray, layer: str) -> np.ndarray:
    """One source's descriptor block for raw inputs (see :func:`source_feature_names`)."""
    k = _check_layer(layer)
    hidden, raw = model.activations(inputs)
    if k is not None:
        return hidden[k]
    pred = model.output_to_prediction(raw)[:, None]
    return {"both": lambda: np.hstack([hidden[-1], pred]), "last_hidden": lambda: hidden[-1],
            "prediction": lambda: pred}[layer]()


class TransferFeaturizer(FeaturizerAPI, TransformerMixin, BaseEstimator):
    """Hidden-layer outputs and/or predictions of frozen pre-trained models, as features.

    Parameters
    ----------
    sources : "all", str or list of str, default="all"
        Library models to use (``matloop models list``); a comma-separated string works too.
    layer : {"both", "last_hidden", "prediction", "hidden:K"}, default="both"
        ``last_hidden``: the last hidden layer (32 values per source, ``NAME:h0..NAME:h31``);
        ``prediction``: the source property (``NAME:pred``; a probability for classifiers);
        ``both``: the two; ``hidden:K``: hidden layer ``K`` (0-based, negative from the end).
    formula_column : str, optional
        Column of a DataFrame ``X`` holding formulas (default: a lone column, or one named
        ``formula``/``composition``).
    library : path, optional
        Another library folder (default: the one shipped with matloop).
    lookup : bool, default=False
        Where a composition is in the bundled dataset a source was trained on, give the computed
        value (median over polymorphs) instead of the model's prediction, in a column named
        ``NAME:lookup`` instead of ``NAME:pred`` (:mod:`matloop.models.pretrained.lookup`). The
        database is the property itself; the model only approximates it (on 100 Matbench
        expt_gap rows, median extra trees on the default features plus every source's value
        reached 0.420 eV MAE with lookup, 0.481 without). Hidden-layer columns are unchanged.

    Stateless like the other featurizers: ``fit`` only resolves the sources and records the SHA-256
    of their weights, and ``transform`` refuses to run if the library changed since (features of a
    rebuilt network mean something else to a model fitted on the old ones).
    """

    def __init__(self, sources="all", layer: str = "both", formula_column: str | None = None,
                 library: str | Path | None = None, lookup: bool = False):
        self.sources = sources
        self.layer = layer
        self.formula_column = formula_column
        self.library = library
        self.lookup = lookup

    def fit(self, X=None, y=None) -> TransferFeaturizer:
        """Resolve the sources and remember their weights' hashes; ``X`` and ``y`` are ignored."""
        _check_layer(self.layer)
        self.sources_ = resolve_sources(self.sources, self.library)
        models = [load_pretrained(s, self.library) for s in self.sources_]
        self.weights_sha256_ = {m.name: m.card.get("weights_sha256") for m in models}
        self.blocks_ = {m.name: source_feature_names(m, self.layer) for m in models}
        if self.lookup:
            self.blocks_ = {name: [f"{name}:lookup" if n == f"{name}:pred" and can_look_up(name) else n
                                   for n in names] for name, names in self.blocks_.items()}
        self.feature_names_out_ = [n for m in models for n in self.blocks_[m.name]]
        self.n_features_in_ = 1
        return self

    def _models(self) -> list:
        check_is_fitted(self, "sources_")
        models = [load_pretrained(s, self.library) for s in self.sources_]
        changed = [m.name for m in models if m.card.get("weights_sha256") != self.weights_sha256_[m.name]]
        if changed:
            raise MatloopError(f"pre-trained model(s) {changed} changed since this featurizer was fitted; "
                               f"refit the model that uses them")
        return models

    def transform_inputs(self, inputs: np.ndarray, comps: Compositions | None = None) -> np.ndarray:
        """Descriptors from raw network inputs (:func:`composition_inputs`), as an ndarray.

        ``comps`` (the compositions behind ``inputs``) is needed with ``lookup=True``.
        """
        blocks = [source_features(m, inputs, self.layer) for m in self._models()]
        values = np.hstack(blocks) if blocks else np.empty((len(inputs), 0))
        looked_up = [j for j, n in enumerate(self.feature_names_out_) if str(n).endswith(":lookup")]
        if looked_up:
            if comps is None:
                raise ValueError("lookup=True needs the compositions: transform_inputs(inputs, comps)")
            values = values.copy()
            for j in looked_up:
                computed = computed_values(str(self.feature_names_out_[j]).split(":")[0], comps)
                known = ~np.isnan(computed)
                values[known, j] = computed[known]
        return values

    def transform(self, X) -> pd.DataFrame:
        """Descriptors of formulas (list, Series, DataFrame or Compositions), one row per input."""
        if not hasattr(self, "sources_"):
            self.fit()
        comps, index = compositions_from(X, self.formula_column)
        values = self.transform_inputs(composition_inputs(comps), comps)
        return pd.DataFrame(values, columns=self.feature_names_out_, index=index, copy=False)

    def get_feature_names_out(self, input_features: Iterable[str] | None = None) -> np.ndarray:
        """``NAME:h0..NAME:h31`` and/or ``NAME:pred`` per source, in source order."""
        if not hasattr(self, "feature_names_out_"):
            self.fit()
        return np.asarray(self.feature_names_out_, dtype=object)

    def feature_labels(self) -> list[str]:
        """Readable labels: ``hidden unit 3 of the mp_gap model`` / ``mp_gap model's prediction``."""
        labels = []
        for name in self.get_feature_names_out():
            source, _, rest = str(name).partition(":")
            labels.append(f"{source} model's prediction" if rest == "pred" else
                          f"{source} computed value (model's prediction where not computed)" if rest == "lookup"
                          else f"{rest} of the {source} model")
        return labels

    def citations(self) -> list[str]:
        """The transfer-learning reference and the sources' dataset citations."""
        from matloop.models.pretrained import model_card

        cites = [CITATION]
        for s in self.sources_ if hasattr(self, "sources_") else resolve_sources(self.sources, self.library):
            cite = model_card(s, self.library).get("data", {}).get("citation")
            if cite and cite not in cites:
                cites.append(cite)
        return cites
