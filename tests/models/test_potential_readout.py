"""Readout refit on cached CHGNet atom features: learns energies, keeps the best step, leaves the rest alone."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from matloop.datasets.potential_sets import open_potential_set

pytestmark = pytest.mark.skipif(importlib.util.find_spec("chgnet") is None, reason="needs the chgnet extra")


@pytest.fixture(scope="module")
def setup():
    import torch

    from matloop.models.potentials.finetune import FineTunedPotential

    torch.set_num_threads(1)
    records = [r for r in open_potential_set("mlearn_li_train") if r.n_atoms <= 16][:12]
    model = FineTunedPotential.pretrained().model
    graphs = [model.graph_converter(r.structure()) for r in records]
    return model, graphs, records


def test_cached_features_reproduce_the_models_energy(setup):
    import torch

    from matloop.models.potentials.readout import _energy, atom_features

    model, graphs, _ = setup
    feats, comp = atom_features(model, graphs[:3], batch_size=2)
    with torch.no_grad():
        direct = [float(e) for e in model(graphs[:3], task="e")["e"]]
        cached = [float(_energy(model, h)) + c for h, c in zip(feats, comp, strict=True)]
    assert [f.shape[0] for f in feats] == [int(g.atomic_number.shape[0]) for g in graphs[:3]]
    np.testing.assert_allclose(cached, direct, atol=1e-5)


def test_refit_learns_structure_dependent_energies_and_keeps_the_rest(setup):
    import copy

    import torch

    from matloop.models.potentials.readout import refit_readout

    model, graphs, records = copy.deepcopy(setup[0]), setup[1], setup[2]
    with torch.no_grad():
        base = [float(e) for e in model(graphs, task="e")["e"]]
    # targets the offsets alone cannot reach: CHGNet's energies plus a structure-dependent term
    volume = np.array([r.structure().volume / r.n_atoms for r in records])
    target = np.array(base) + 0.02 * (volume - volume.mean()) / volume.std()
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(("mlp", "readout_norm"))}
    grads = {k: p.requires_grad for k, p in model.named_parameters()}
    out = refit_readout(model, graphs[:9], target[:9], graphs[9:], target[9:], steps=1500, patience=1500)
    assert out["train_energy_mae_before"] > 10.0  # ~16 meV/atom of structure-dependent error to learn
    assert out["train_energy_mae"] < 0.5 * out["train_energy_mae_before"]
    assert out["val_energy_mae"] <= out["val_energy_mae_before"] + 1e-6  # best validation step kept
    with torch.no_grad():
        after = np.array([float(e) for e in model(graphs[:9], task="e")["e"]])
    assert np.abs(after - target[:9]).mean() * 1000 == pytest.approx(out["train_energy_mae"], abs=0.05)
    for k, v in model.state_dict().items():  # message passing, embeddings and AtomRef untouched
        if k in frozen:
            assert torch.equal(v, frozen[k]), k
    assert {k: p.requires_grad for k, p in model.named_parameters()} == grads
    assert not model.training
