"""A pre-trained library from elsewhere (``library=FOLDER``): crafted cards and weights are refused
with an InputError before use, never a traceback, a bomb or a matrix-shape crash at predict time."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

from matloop import InputError
from matloop.models.pretrained import library_dir, load_pretrained, model_card


@pytest.fixture()
def library(tmp_path):
    """A copy of the shipped mp_gap card and weights, without the weights hash (a forger drops it)."""
    card = json.loads((library_dir() / "mp_gap.json").read_text())
    card.pop("weights_sha256", None)
    (tmp_path / "mp_gap.json").write_text(json.dumps(card))
    weights = dict(np.load(library_dir() / "mp_gap.npz"))
    return tmp_path, card, weights


def save(folder, weights: dict) -> None:
    np.savez(folder / "mp_gap.npz", **weights)


def test_the_copy_loads_and_predicts(library):
    folder, _, weights = library
    save(folder, weights)
    assert np.isfinite(load_pretrained("mp_gap", library=folder).predict(["GaAs", "NaCl"])).all()


@pytest.mark.parametrize("edit", ["wrong_width", "missing_bias", "two_outputs", "x_mean_short", "nan", "y_mean_text"])
def test_inconsistent_weights_are_refused(library, edit):
    folder, _, w = library
    if edit == "wrong_width":
        w["W1"] = w["W1"][:-3]
    elif edit == "missing_bias":
        del w["b2"]
    elif edit == "two_outputs":
        w["W3"], w["b3"] = np.hstack([w["W3"], w["W3"]]), np.zeros(2)
    elif edit == "x_mean_short":
        w["x_mean"] = w["x_mean"][:10]
    elif edit == "nan":
        w["W0"][0, 0] = np.nan
    else:
        w["y_mean"] = np.array("zero")
    save(folder, w)
    with pytest.raises(InputError, match="inconsistent"):
        load_pretrained("mp_gap", library=folder)


def test_weight_bomb_is_refused_before_inflating(library):
    folder, _, _ = library
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("W0.npy", "w", force_zip64=True) as member:
            chunk = bytes(64 * 2**20)
            for _ in range(16):  # 1 GiB of zeros, about 1 MB on disk
                member.write(chunk)
    (folder / "mp_gap.npz").write_bytes(buffer.getvalue())
    tracemalloc.start()
    with pytest.raises(InputError, match="decompression bomb|inflate"):
        load_pretrained("mp_gap", library=folder)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20


@pytest.mark.parametrize("text", ["[1, 2]", "{not json", '{"name": 5}', "[" * 50_000 + "]" * 50_000])
def test_malformed_cards_are_refused(library, text):
    folder, _, weights = library
    save(folder, weights)
    (folder / "mp_gap.json").write_text(text)
    with pytest.raises(InputError):
        model_card("mp_gap", library=folder)
    with pytest.raises(InputError):
        load_pretrained("mp_gap", library=folder)


def test_a_pickled_npz_is_refused(library):
    folder, _, weights = library
    weights["W0"] = np.array([object()], dtype=object)
    np.savez(folder / "mp_gap.npz", **weights)
    with pytest.raises(InputError, match="not a readable"):
        load_pretrained("mp_gap", library=folder)
