"""The part of the featurizer contract every featurizer shares: names, labels, citations, tags."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class FeaturizerAPI:
    """Mixin: ``get_feature_names_out``, ``feature_labels``, ``citations`` and the scikit-learn tags of
    a stateless transformer of strings. Subclasses define ``_feature_names`` and ``CITATIONS``."""

    #: references to cite when publishing results built on this featurizer
    CITATIONS: tuple[str, ...] = ()

    def get_feature_names_out(self, input_features: Iterable[str] | None = None) -> np.ndarray:
        """Column names of ``transform``'s output, stable across versions."""
        return np.asarray(self._feature_names(), dtype=object)

    def feature_labels(self) -> list[str]:
        """Human-readable labels for plots and reports (default: the feature names)."""
        return list(self.get_feature_names_out())

    def citations(self) -> list[str]:
        """References for this featurizer's method, data and software."""
        return list(self.CITATIONS)

    def _feature_names(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags
