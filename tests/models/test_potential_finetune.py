"""Fine-tuning CHGNet on DFT records: energy offsets, a tiny fit, safe save/load, tampering refused."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from matloop.datasets.potential_sets import open_potential_set
from matloop.errors import InputError
from matloop.models.potentials.finetune import errors, fit_offsets, split_validation


def test_offsets_recover_a_per_element_shift():
    records = open_potential_set("mlearn_li_test")
    truth = [r.energy_per_atom for r in records]
    shifted = [e - 0.25 for e in truth]  # a potential on another energy reference: -0.25 eV/atom for Li
    offsets = fit_offsets(records, shifted)
    assert offsets == {"Li": pytest.approx(0.25)}
    preds = [{"energy_per_atom": e, "forces": r.forces, "stress": None} for e, r in zip(shifted, records, strict=True)]
    assert errors(records, preds)["energy_mae"] == pytest.approx(250.0)
    fixed = errors(records, preds, offsets)
    assert fixed["energy_mae"] == pytest.approx(0.0, abs=1e-9) and fixed["force_mae"] == 0.0


def test_validation_split_keeps_both_sides():
    train, val = split_validation(10, 0.2, seed=1)
    assert len(val) == 2 and len(train) == 8 and not set(train) & set(val)
    train, val = split_validation(2, 0.01, seed=0)
    assert len(train) == len(val) == 1


needs_chgnet = pytest.mark.skipif(importlib.util.find_spec("chgnet") is None, reason="needs the chgnet extra")


@pytest.fixture(scope="module")
def tiny_fit(tmp_path_factory):
    from matloop.models.potentials.finetune import finetune

    records = [r for r in open_potential_set("mlearn_li_train") if r.n_atoms <= 6][:6]
    pot = finetune(records, epochs=2, patience=5, batch_size=3, n_threads=1, seed=0)
    path = tmp_path_factory.mktemp("pot") / "li.pot"
    pot.save(path)
    return pot, path, records


@needs_chgnet
def test_tiny_fit_records_offsets_and_learning_curve(tiny_fit):
    pot, _, records = tiny_fit
    meta = pot.meta
    assert meta["fine_tuned"] and set(meta["energy_offsets_ev_per_atom"]) == {"Li"}
    assert [c["epoch"] for c in meta["learning_curve"]] == [0, 1, 2]  # 0: pre-trained + offsets
    assert all(np.isfinite(c[k]) for c in meta["learning_curve"] for k in ("train_energy_mae", "val_energy_mae",
                                                                           "val_force_mae"))
    # epoch 0 has no training force pass (energies only, for the offsets); the trained epochs do
    assert all(np.isfinite(c["train_force_mae"]) for c in meta["learning_curve"][1:])
    refit = meta["readout_refit"]  # the readout refit ran and kept its best (validation) step
    assert refit["val_energy_mae"] <= refit["val_energy_mae_before"] + 1e-6
    assert meta["n_train"] + meta["n_val"] == len(records) and meta["targets"] == "efs"
    # the offsets were fitted to the training labels: after them the energy reference error is smaller
    assert meta["train_energy_mae_after_offsets"] <= meta["train_energy_mae_zero_shot"] + 1e-9


@needs_chgnet
def test_saved_potential_predicts_identically(tiny_fit):
    from matloop.models.potentials.finetune import FineTunedPotential

    pot, path, records = tiny_fit
    again = FineTunedPotential.load(path)
    a, b = pot.predict(records[:3]), again.predict(records[:3])
    for x, y in zip(a, b, strict=True):
        assert x["energy_per_atom"] == y["energy_per_atom"]
        np.testing.assert_array_equal(x["forces"], y["forces"])
        np.testing.assert_array_equal(x["stress"], y["stress"])
    assert again.meta["learning_curve"] == pot.meta["learning_curve"]
    # the fine-tuned network differs from the pre-trained one (it did learn)
    zero = FineTunedPotential.pretrained().predict(records[:1])[0]["energy_per_atom"]
    assert zero != a[0]["energy_per_atom"]


@needs_chgnet
def test_tampered_potential_is_refused(tiny_fit, tmp_path):
    from matloop.models.potentials.finetune import FineTunedPotential

    _, path, _ = tiny_fit
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k].copy() for k in data.files}
    name = next(k for k in arrays if k.startswith("w/mlp"))
    arrays[name] = arrays[name] + np.float32(0.01)  # altered weights, old card
    with open(tmp_path / "weights.pot", "wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(InputError, match="SHA-256"):
        FineTunedPotential.load(tmp_path / "weights.pot")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k].copy() for k in data.files}
    card = json.loads(bytes(arrays["__card__"]).decode())
    card["model_args"]["atom_fea_dim"] = 32  # altered architecture, same digest
    arrays["__card__"] = np.frombuffer(json.dumps(card).encode(), dtype=np.uint8)
    with open(tmp_path / "card.pot", "wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(InputError, match="SHA-256"):
        FineTunedPotential.load(tmp_path / "card.pot")
    (tmp_path / "junk.pot").write_bytes(b"not a potential")
    with pytest.raises(InputError, match="not a matloop potential"):
        FineTunedPotential.load(tmp_path / "junk.pot")
