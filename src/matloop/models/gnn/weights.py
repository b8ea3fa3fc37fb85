"""Network weights as plain arrays: npz + JSON arguments + SHA-256, loaded without pickle.

CHGNet's ``from_file`` and matgl's ``load_model`` call ``torch.load(..., weights_only=False)``, which
unpickles (runs code from) the file. Here a network is rebuilt from its class, its JSON constructor
arguments and a dict of NumPy arrays: the arrays' names, shapes and dtypes must match what the class
builds exactly, and their SHA-256 must match the recorded digest, before they are copied into the
module's ``state_dict``. Files are read with ``np.load(allow_pickle=False)`` and ``json.loads``.

Inside a matloop model file (:mod:`matloop.models.persistence`) the same arrays and digest travel in
the skops payload; :func:`save_weights` / :func:`load_weights` write and read a standalone pair
``NAME.npz`` + ``NAME.json`` (a "card" with the format, the arguments and the digest).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from matloop.errors import InputError

FORMAT = "matloop-gnn-weights"
VERSION = 1


class WeightsError(InputError):
    """Weights that do not match their checksum or the network they are loaded into (bad input)."""


def state_arrays(module) -> dict[str, np.ndarray]:
    """Every parameter and buffer of a torch module as a NumPy copy, by ``state_dict`` name."""
    return {name: value.detach().cpu().numpy().copy() for name, value in module.state_dict().items()}


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the sorted names, dtypes, shapes and bytes of ``arrays``."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def load_arrays(module, arrays: dict[str, np.ndarray], digest: str | None = None) -> None:
    """Copy ``arrays`` into ``module`` (strict: same names, shapes and dtypes), checking ``digest`` first."""
    import torch

    if digest is not None and arrays_digest(arrays) != digest:
        raise WeightsError("the network weights do not match their SHA-256 checksum (altered or damaged); "
                           "refusing to use them")
    expected = module.state_dict()
    if set(expected) != set(arrays):
        missing, extra = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
        raise WeightsError(f"the weights do not fit the network: missing {missing[:5]}, unexpected {extra[:5]}")
    state = {}
    for name, target in expected.items():
        a = np.asarray(arrays[name])
        if a.dtype == object or tuple(a.shape) != tuple(target.shape):
            raise WeightsError(f"weight {name!r} has shape {a.shape} ({a.dtype}), the network needs "
                               f"{tuple(target.shape)}")
        state[name] = torch.from_numpy(np.array(a, dtype=np.dtype(str(target.dtype).replace("torch.", ""))))
    module.load_state_dict(state, strict=True)


def save_weights(path: str | os.PathLike, arrays: dict[str, np.ndarray], args: dict) -> tuple[Path, Path]:
    """Write ``PATH.npz`` (the arrays) and ``PATH.json`` (format, arguments, SHA-256); returns both paths."""
    stem = Path(path).with_suffix("")
    npz, card = stem.with_suffix(".npz"), stem.with_suffix(".json")
    np.savez(npz, **{k: np.asarray(v) for k, v in arrays.items()})
    card.write_text(json.dumps({"format": FORMAT, "version": VERSION, "args": args,
                                "sha256": arrays_digest(arrays)}, indent=1))
    return npz, card


def load_weights(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict, str]:
    """Read ``PATH.npz`` + ``PATH.json``: (arrays, arguments, digest), refusing a checksum mismatch."""
    stem = Path(path).with_suffix("")
    try:
        card = json.loads(stem.with_suffix(".json").read_text())
        with np.load(stem.with_suffix(".npz"), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise WeightsError(f"cannot read network weights {stem}.npz/.json: {err}") from err
    if not isinstance(card, dict) or card.get("format") != FORMAT or card.get("version") != VERSION:
        raise WeightsError(f"{stem}.json is not a {FORMAT} version {VERSION} card")
    if arrays_digest(arrays) != card.get("sha256"):
        raise WeightsError(f"{stem}.npz does not match the SHA-256 in {stem}.json (altered or damaged); refusing it")
    return arrays, dict(card.get("args") or {}), str(card["sha256"])
