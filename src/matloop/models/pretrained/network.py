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


MAX_CARD_BYTES = 1_000_000
MAX_WEIGHT_BYTES = 512 * 2**20


def read_card(path: Path) -> dict:
    """A model card: a JSON object of at most 1 MB with a string ``name`` (InputError otherwise)."""
    from matloop.errors import InputError

    path = Path(path)
    try:
        if path.stat().st_size > MAX_CARD_BYTES:
            raise InputError(f"model card {path} is larger than {MAX_CARD_BYTES:,} bytes; refusing to read it")
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:  # JSON and UTF-8 errors are ValueErrors
        raise InputError(f"model card {path} is not readable JSON ({type(err).__name__}: {str(err)[:200]})") from err
    if not isinstance(card, dict) or not isinstance(card.get("name"), str):
        raise InputError(f"model card {path} must be a JSON object with a string 'name'")
    return card


def read_weights(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` weights file: sizes checked before inflating (no pickle, no bombs)."""
    import zipfile

    from matloop.errors import InputError
    from matloop.models.model_checks import check_archive

    try:
        with zipfile.ZipFile(path) as archive:
            check_archive(archive, str(path), MAX_WEIGHT_BYTES)
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError, RuntimeError) as err:
        raise InputError(f"weights file {path} is not a readable .npz of arrays "
                         f"({type(err).__name__}: {str(err)[:200]})") from err


def check_weights(weights: dict[str, np.ndarray], name: str) -> None:
    """Refuse weights whose layers do not chain (``W{i}`` is inputs x outputs, ``b{i}`` its outputs, one
    output unit) or whose statistics are not finite numbers of the right shape."""
    from matloop.errors import InputError

    problems = []
    n_layers = sum(1 for k in weights if k.startswith("W"))
    width = N_INPUTS
    for i in range(n_layers):
        W, b = weights.get(f"W{i}"), weights.get(f"b{i}")
        if W is None or b is None or np.ndim(W) != 2 or np.shape(W)[0] != width or np.shape(b) != np.shape(W)[1:]:
            problems.append(f"layer {i} has weights of shape {np.shape(W)} and biases {np.shape(b)} after a layer "
                            f"of width {width}")
            break
        width = int(np.shape(W)[1])
    if not problems and (n_layers == 0 or width != 1):
        problems.append(f"the network must end in one output unit, it ends in {width}")
    for key, shape in (("x_mean", (N_INPUTS,)), ("x_scale", (N_INPUTS,)), ("y_mean", ()), ("y_scale", ())):
        value = weights.get(key)
        if value is None or np.shape(value) != shape or np.asarray(value).dtype.kind not in "fiu":
            problems.append(f"{key} must be numbers of shape {shape}")
    if not problems:
        arrays = [np.asarray(v, dtype=np.float64) for v in weights.values() if np.asarray(v).dtype.kind in "fiu"]
        if not all(np.isfinite(a).all() for a in arrays) or np.any(np.asarray(weights["x_scale"]) == 0):
            problems.append("weights and statistics must be finite, x_scale non-zero")
    if problems:
        raise InputError(f"pre-trained model {name!r}: the weights file is inconsistent: {'; '.join(problems)}")


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
        card = read_card(card_path)
        expected = card.get("weights_sha256")
        if expected and file_sha256(weights_path) != expected:
            raise MatloopError(f"weights file {weights_path} does not match the SHA-256 in its model card; "
                               f"reinstall matloop or rebuild the library with scripts/pretrain.py")
        weights = read_weights(weights_path)
        check_weights(weights, str(card.get("name", Path(card_path).stem)))
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
