"""The crystal graph network: learns from generated crystals, calibrated std, safe and exact persistence."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("pymatgen")

from matloop.models.gnn import CrystalGraphRegressor  # noqa: E402

ELEMENTS = ["Li", "Na", "K", "Mg", "Ca", "Al", "Cu", "Zn", "O", "S", "Cl", "F"]
TINY = dict(n_members=3, atom_fea_len=16, n_conv=2, h_fea_len=16, max_epochs=40, patience=10, batch_size=16,
            cutoff=6.0, learning_rate=5e-3)


def crystals(n: int, seed: int):
    """Rocksalt, CsCl and bcc cells of random elements and size; target: a smooth function of the
    nearest-neighbour distance and the elements' row in the list (what a graph network can see)."""
    from pymatgen.core import Lattice, Structure

    rng = np.random.default_rng(seed)
    out, y = [], []
    for _ in range(n):
        kind = int(rng.integers(3))
        a, b = rng.choice(len(ELEMENTS), 2, replace=False)
        if kind == 0:
            lat = rng.uniform(3.8, 6.0)
            s = Structure(Lattice.cubic(lat), [ELEMENTS[a], ELEMENTS[b]], [[0, 0, 0], [0.5, 0.5, 0.5]])
            d = lat * np.sqrt(3) / 2
        elif kind == 1:
            lat = rng.uniform(4.0, 6.5)
            s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(lat), [ELEMENTS[a], ELEMENTS[b]],
                                          [[0, 0, 0], [0.5, 0.5, 0.5]]).get_primitive_structure()
            d = lat / 2
        else:
            lat = rng.uniform(2.6, 4.2)
            s = Structure(Lattice.cubic(lat), [ELEMENTS[a], ELEMENTS[a]], [[0, 0, 0], [0.5, 0.5, 0.5]])
            d = lat * np.sqrt(3) / 2
        out.append(s)
        y.append(2.0 * d - 0.15 * (a + b) + 0.05 * rng.normal())
    return out, np.array(y)


@pytest.fixture(scope="module")
def fitted():
    X, y = crystals(90, 0)
    model = CrystalGraphRegressor(**TINY, random_state=3).fit(X[:60], y[:60])
    return model, X, y


def test_fits_better_than_the_mean_with_calibrated_std(fitted):
    model, X, y = fitted
    mean, std = model.predict(X[60:], return_std=True)
    mae = np.mean(np.abs(mean - y[60:]))
    baseline = np.mean(np.abs(y[60:] - y[:60].mean()))
    assert mae < 0.5 * baseline
    z = (y[60:] - mean) / std
    assert 0.75 <= np.mean(np.abs(z) < 1.96) <= 1.0  # held-out 95 % coverage
    assert 0.2 < np.mean(z**2) < 3.0  # neither far too wide nor far too narrow
    assert (std > 0).all() and len(model.members_) == 3 and np.isfinite(model.oof_prediction_).all()
    lower, upper = model.predict_interval(X[60:], alpha=0.05)  # the learnt shape of the held-out errors
    assert np.all(lower < mean) and np.all(mean < upper) and 0.75 <= np.mean((lower <= y[60:]) & (y[60:] <= upper))
    dist = model.predict_distribution(X[60:])
    np.testing.assert_allclose(np.column_stack(dist.interval(0.95)), np.column_stack([lower, upper]))
    assert np.all(np.isfinite(dist.logpdf(y[60:])))


def test_predict_table_and_domain(fitted):
    from pymatgen.core import Lattice, Structure

    model, X, _ = fitted
    odd = Structure(Lattice.cubic(5.9), ["Xe", "Xe"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # unseen element, far apart
    table = model.predict_table(X[60:] + [odd])
    assert list(table.columns) == ["prediction", "std", "lower_95", "upper_95", "in_domain", "domain_distance"]
    assert table["in_domain"].iloc[:-1].mean() >= 0.7
    assert table["domain_distance"].iloc[-1] > np.quantile(table["domain_distance"].iloc[:-1], 0.9)


def test_save_load_is_bit_identical_and_tampering_is_refused(fitted, tmp_path):
    from matloop.models.gnn.weights import WeightsError
    from matloop.models.persistence import UntrustedModelError, load_model, save_model

    model, X, _ = fitted
    path = save_model(model, tmp_path / "gnn.model", metadata={"model": "gnn"})
    loaded = load_model(path)
    a, b = model.predict(X[60:], return_std=True), loaded.predict(X[60:], return_std=True)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert np.array_equal(model.predict_table(X[60:]).to_numpy(), loaded.predict_table(X[60:]).to_numpy())
    # a weight changed after loading (or in a re-signed payload) no longer matches its SHA-256
    name = next(k for k in loaded.members_[1] if k.endswith("weight"))
    loaded.members_[1][name] = loaded.members_[1][name] + np.float32(1e-3)
    with pytest.raises(WeightsError, match="SHA-256"):
        loaded.predict(X[:2])
    loaded.members_[1][name] = loaded.members_[1][name] - np.float32(1e-3)
    loaded.network_args_ = {**loaded.network_args_, "atom_fea_len": 10**7}  # would allocate gigabytes
    with pytest.raises(WeightsError, match="malformed"):
        loaded.predict(X[:2])
    # a byte of the payload changed: its checksum refuses it before anything is rebuilt
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    payload = bytearray(members["model.skops"])
    payload[len(payload) // 2] ^= 0xFF
    members["model.skops"] = bytes(payload)
    bad = tmp_path / "bad.model"
    with zipfile.ZipFile(bad, "w") as archive:
        for n, data in members.items():
            archive.writestr(n, data)
    with pytest.raises(UntrustedModelError, match="checksum"):
        load_model(bad)


def test_standalone_weight_files(fitted, tmp_path):
    import torch

    from matloop.models.gnn.weights import WeightsError, load_arrays, load_weights, save_weights

    model, _, _ = fitted
    npz, card = save_weights(tmp_path / "member0", model.members_[0], model.network_args_)
    arrays, args, digest = load_weights(tmp_path / "member0")
    assert args == model.network_args_ and digest == model.weights_sha256_[0]
    net = model._network(torch)
    load_arrays(net, arrays, digest)
    assert all(np.array_equal(v.numpy(), model.members_[0][k]) for k, v in net.state_dict().items())
    arrays["output.bias"] = arrays["output.bias"] + 1
    np.savez(npz, **arrays)
    with pytest.raises(WeightsError, match="SHA-256"):
        load_weights(tmp_path / "member0")
    wrong = dict(model.members_[0])
    wrong["output.weight"] = np.zeros((1, 3), np.float32)
    with pytest.raises(WeightsError, match="shape"):
        load_arrays(net, wrong)


def test_same_seed_same_model_in_parallel_and_bad_input_rows():
    from matloop.errors import InputError

    X, y = crystals(14, 5)
    params = {**TINY, "n_members": 2, "max_epochs": 3}
    a = CrystalGraphRegressor(**params, random_state=1).fit(X, y).predict(X, return_std=True)
    # the same seed gives the same model, also with the members trained at once in two worker processes
    b = CrystalGraphRegressor(**params, n_jobs=2, random_state=1).fit(X, y).predict(X, return_std=True)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(InputError) as info:
        CrystalGraphRegressor(**params).fit(X[:5] + ["no/such/file.cif"] + X[6:], y)
    assert info.value.table["row"].tolist() == [6]
