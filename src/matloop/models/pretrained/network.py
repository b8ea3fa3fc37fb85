"""Pre-trained composition networks, evaluated with NumPy only (no PyTorch, no pickle).

Every library model reads the same input: the 132 Magpie statistics (matminer-exact,
:func:`matloop.represent.element_property.magpie`) followed by the 118 atomic fractions
(H ... Og). Magpie columns are standardised with the training statistics stored with each model;
fractions are used as they are, so the first layer's fraction block is a learned element
embedding. The network is a multilayer perceptron with SiLU activations; its weights are plain
arrays in an ``.npz`` file (``allow_pickle=False``) next to a JSON model card.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from scipy.special import expit

from matloop.errors import MatloopError
from matloop.io.formula import Compositions
from matloop.models.pretrained.sources import inverse_transform

N_MAGPIE = 132
N_FRACTIONS = 118
N_INPUTS = N_MAGPIE + N_FRACTIONS
INPUT_DESCRIPTION = "132 Magpie statistics (standardised) + 118 atomic fractions"
KEY_DECIMALS = 4


def composition_keys(comps: Compositions) -> np.ndarray:
    """Reduced-composition keys (atomic fractions to 4 decimals, elements by atomic number).

    ``Fe2O3``, ``Fe4O6`` and ``O3Fe2`` share one key; used to deduplicate sources and to exclude
    target compositions from pre-training (the leakage guard).
    """
    return np.asarray(comps.formulas(decimals=KEY_DECIMALS), dtype=object)


def composition_inputs(comps: Compositions) -> np.ndarray:
    """The raw (unstandardised) network input, ``(n, 250)`` float64: Magpie then fractions."""
    from matloop.represent.element_property import magpie

    out = np.empty((len(comps), N_INPUTS))
    out[:, :N_MAGPIE] = magpie().transform(comps).to_numpy()
    out[:, N_MAGPIE:] = comps.to_dense(normalize=True)[:, 1:]
    return out


def input_feature_names() -> list[str]:
    """Names of the 250 network inputs (Magpie names, then ``frac:H`` ... ``frac:Og``)."""
    from matloop.io.elements import SYMBOLS
    from matloop.represent.element_property import magpie

    return list(magpie().get_feature_names_out()) + [f"frac:{s}" for s in SYMBOLS[1:N_FRACTIONS + 1]]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file (hex), recorded in the model card to tie a card to its weights."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class PretrainedModel:
    """A frozen pre-trained network with its model card.

    Parameters
    ----------
    card : dict
        The model card (see ``docs/pretrained.md``); ``card["name"]`` is the source name.
    weights : dict of ndarray
        ``W0, b0, W1, b1, ...`` (``W`` is inputs x outputs; the last pair is the output layer),
        ``x_mean``, ``x_scale`` (input standardisation), ``y_mean``, ``y_scale`` (target).
    """

    def __init__(self, card: dict, weights: dict[str, np.ndarray]):
        self.card = card
        self.name = str(card["name"])
        self.task = str(card.get("task", "regression"))
        self.transform = str(card.get("target_transform", "none"))
        n_layers = sum(1 for k in weights if k.startswith("W"))
        self.coefs = [np.asarray(weights[f"W{i}"], dtype=np.float64) for i in range(n_layers)]
        self.intercepts = [np.asarray(weights[f"b{i}"], dtype=np.float64) for i in range(n_layers)]
        self.x_mean = np.asarray(weights["x_mean"], dtype=np.float64)
        self.x_scale = np.asarray(weights["x_scale"], dtype=np.float64)
        self.y_mean = float(weights["y_mean"])
        self.y_scale = float(weights["y_scale"])
        if self.coefs[0].shape[0] != N_INPUTS or self.x_mean.shape != (N_INPUTS,):
            raise MatloopError(f"pre-trained model {self.name!r} expects {self.coefs[0].shape[0]} inputs, "
                               f"this matloop computes {N_INPUTS}; rebuild the library (scripts/pretrain.py)")

    @classmethod
    def from_files(cls, card_path: Path, weights_path: Path) -> PretrainedModel:
        """Read a JSON card and an ``.npz`` of weights (no pickle); checks the recorded hash."""
        card = json.loads(Path(card_path).read_text(encoding="utf-8"))
        expected = card.get("weights_sha256")
        if expected and file_sha256(weights_path) != expected:
            raise MatloopError(f"weights file {weights_path} does not match the SHA-256 in its model card; "
                               f"reinstall matloop or rebuild the library with scripts/pretrain.py")
        with np.load(weights_path, allow_pickle=False) as data:
            weights = {k: data[k] for k in data.files}
        return cls(card, weights)

    @property
    def hidden_sizes(self) -> list[int]:
        """Widths of the hidden layers (the last one gives the ``last_hidden`` descriptors)."""
        return [W.shape[1] for W in self.coefs[:-1]]

    @property
    def n_parameters(self) -> int:
        """Number of weights and biases."""
        return int(sum(W.size + b.size for W, b in zip(self.coefs, self.intercepts, strict=True)))

    def standardise(self, inputs: np.ndarray) -> np.ndarray:
        """Standardise raw :func:`composition_inputs` with this model's training statistics."""
        return (np.asarray(inputs, dtype=np.float64) - self.x_mean) / self.x_scale

    def activations(self, inputs: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Hidden-layer outputs (one ``(n, width)`` array per layer) and the raw output ``(n,)``.

        The raw output is the standardised (transformed) target for regression and the logit
        for classification. One matrix product per layer for the whole batch.
        """
        h = self.standardise(inputs)
        hidden = []
        for W, b in zip(self.coefs[:-1], self.intercepts[:-1], strict=True):
            z = h @ W + b
            h = z * expit(z)  # SiLU
            hidden.append(h)
        return hidden, (h @ self.coefs[-1] + self.intercepts[-1])[:, 0]

    def output_to_prediction(self, raw: np.ndarray) -> np.ndarray:
        """Raw network output -> property units (regression) or probability (classification)."""
        if self.task == "classification":
            return expit(raw)
        return inverse_transform(raw * self.y_scale + self.y_mean, self.transform)

    def predict_inputs(self, inputs: np.ndarray) -> np.ndarray:
        """Predictions from raw inputs (see :func:`composition_inputs`)."""
        return self.output_to_prediction(self.activations(inputs)[1])

    def predict(self, X) -> np.ndarray:
        """Predict the source property (or the class probability) for formulas or Compositions."""
        from matloop.represent.base import as_compositions

        comps, _ = as_compositions(X)
        return self.predict_inputs(composition_inputs(comps))

    def __repr__(self) -> str:
        return f"PretrainedModel({self.name!r}, hidden={self.hidden_sizes}, task={self.task!r})"
