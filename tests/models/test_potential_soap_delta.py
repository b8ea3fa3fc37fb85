"""SOAP Δ-correction (models/potentials/soap_delta.py, corrected.py): forces are -dE/dr, the stress is
(1/V) dE/d(strain), a fit recovers a known correction, and files round-trip (or are refused when altered)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from matloop.errors import InputError

HAS_DSCRIBE = importlib.util.find_spec("dscribe") is not None
HAS_CHGNET = importlib.util.find_spec("chgnet") is not None
pytestmark = pytest.mark.skipif(not HAS_DSCRIBE, reason="needs the soap extra (dscribe)")
#: a small descriptor (fast tests) and a two-body term of 4 functions per element pair
SMALL = {"r_cut": 4.0, "n_max": 4, "l_max": 3, "sigma": 0.5, "zeta": 4, "pair_basis": 4, "pair_cut": 4.0, "sparse2": 0}


def _cell(seed: int, rattle: float = 0.08):
    """An 8-atom zincblende SiC cell with randomly displaced atoms (two elements: tests the masking)."""
    from ase.build import bulk

    atoms = bulk("SiC", "zincblende", a=4.36, cubic=True)
    atoms.rattle(rattle, seed=seed)
    return atoms


#: SMALL plus a small second kernel (3 Å)
SMALL2 = {**SMALL, "sparse2": 6, "r_cut2": 3.0, "n_max2": 3, "l_max2": 2, "sigma2": 0.3, "delta_k2": 10.0}


def _correction(seed: int = 0, m: int = 12, second: bool = False):
    from matloop.models.potentials.soap_delta import SoapCorrection, soap_descriptor

    settings = SMALL2 if second else SMALL
    desc = soap_descriptor(["C", "Si"], SMALL["r_cut"], SMALL["n_max"], SMALL["l_max"], SMALL["sigma"])
    ref = _cell(100 + seed, 0.2)
    P = desc.create(ref)
    z = np.array([0 if el == "C" else 1 for el in ref.get_chemical_symbols()])
    pick = np.arange(len(ref))[:m]
    rng = np.random.default_rng(seed)
    two = None
    if second:
        P2 = soap_descriptor(["C", "Si"], 3.0, 3, 2, 0.3).create(ref)[2:8]
        two = {"sparse": P2 / np.linalg.norm(P2, axis=1, keepdims=True), "sparse_z": z[2:8],
               "alpha": rng.normal(size=6)}
    return SoapCorrection(["C", "Si"], settings, P[pick] / np.linalg.norm(P[pick], axis=1, keepdims=True), z[pick],
                          rng.normal(size=len(pick)), np.array([0.3, -0.2]), pair_coef=0.05 * rng.normal(size=3 * 4),
                          second=two)


def test_forces_are_minus_the_energy_gradient():
    corr = _correction()
    atoms = _cell(1)
    energy, forces = corr.energy_forces(atoms)
    assert forces.shape == (8, 3) and energy == pytest.approx(corr.energy(atoms))
    assert np.abs(forces).max() > 1e-3  # not trivially zero
    h = 1e-3
    for j, a in ((0, 0), (1, 2), (5, 1), (7, 2)):
        moved = atoms.copy()
        moved.positions[j, a] += h
        plus = corr.energy(moved)
        moved.positions[j, a] -= 2 * h
        fd = -(plus - corr.energy(moved)) / (2 * h)
        assert forces[j, a] == pytest.approx(fd, rel=1e-4, abs=1e-6)
    assert np.abs(forces.sum(axis=0)).max() < 1e-6 * max(1.0, np.abs(forces).max())  # no net force


def test_fast_forces_equal_the_design_rows():
    """energy_forces skips the M-wide rows (one n x M x F product); the fit's rows must give the same numbers."""
    from matloop.models.potentials.soap_delta import design_rows

    corr = _correction()
    atoms = _cell(5)
    z = corr._z(atoms)
    e_row, f_rows = design_rows(corr._desc, atoms, corr.sparse, corr.sparse_z, z, 2, SMALL["zeta"], pair=(4, 4.0))
    energy, forces = corr.energy_forces(atoms)
    assert energy == pytest.approx(e_row @ corr.weights, rel=1e-12)
    assert np.allclose(forces.ravel(), f_rows @ corr.weights, rtol=1e-9, atol=1e-12)
    assert np.abs(f_rows[:, -8:-2]).max() > 0  # the two-body columns are in the force rows


def test_second_kernel_forces_rows_and_file():
    """With a second kernel: forces are -dE/dr, the fast path equals the design rows (its columns last), the
    kernel adds energy, and the arrays round-trip (or are refused when they do not fit together)."""
    from matloop.models.potentials.soap_delta import SoapCorrection, design_rows

    corr, plain = _correction(second=True), _correction()
    atoms = _cell(7)
    energy, forces = corr.energy_forces(atoms)
    assert abs(energy - plain.energy(atoms)) > 1e-3 and energy == pytest.approx(corr.energy(atoms))
    h = 1e-3
    for j, a in ((0, 1), (3, 0), (6, 2)):
        moved = atoms.copy()
        moved.positions[j, a] += h
        plus = corr.energy(moved)
        moved.positions[j, a] -= 2 * h
        assert forces[j, a] == pytest.approx(-(plus - corr.energy(moved)) / (2 * h), rel=1e-4, abs=1e-6)
    e_row, f_rows = design_rows(corr._desc, atoms, corr.sparse, corr.sparse_z, corr._z(atoms), 2, SMALL["zeta"],
                                pair=(4, 4.0), second=corr._second())
    assert e_row.shape == (len(corr.sparse) + 12 + 2 + 6,) and np.abs(f_rows[:, -6:]).max() > 0
    assert energy == pytest.approx(e_row @ corr.weights, rel=1e-12)
    assert np.allclose(forces.ravel(), f_rows @ corr.weights, rtol=1e-9, atol=1e-12)
    arrays, card = corr.to_arrays()
    again = SoapCorrection.from_arrays(arrays, card)
    assert again.energy_forces(atoms)[0] == pytest.approx(energy)
    with pytest.raises(InputError, match="do not fit together"):
        SoapCorrection.from_arrays({**arrays, "second_alpha": arrays["second_alpha"][:-1]}, card)
    without = {k: v for k, v in arrays.items() if not k.startswith("second_")}  # settings say two kernels
    with pytest.raises(InputError, match="do not fit together"):
        SoapCorrection.from_arrays(without, card)
    old = {k: v for k, v in plain.to_arrays()[0].items() if not k.startswith("second_")}  # a file from before
    legacy_card = {**plain.to_arrays()[1], "settings": SMALL}
    assert SoapCorrection.from_arrays(old, legacy_card).energy(atoms) == pytest.approx(plain.energy(atoms))


def test_fit_with_a_second_kernel():
    from matloop.models.potentials.soap_fit import fit_correction

    teacher = _correction(seed=1, second=True)
    cells = [_cell(50 + k, 0.15) for k in range(8)]
    labels = [teacher.energy_forces(a) for a in cells]
    energies, forces = np.array([e for e, _ in labels]), [f for _, f in labels]
    fitted = fit_correction(cells[:6], energies[:6], forces[:6], n_sparse=30, folds=3, settings=SMALL2)
    assert 0 < len(fitted.second["alpha"]) <= 6 and fitted.settings["sparse2"] == 6
    spread_e = np.abs(energies / 8 - np.mean(energies / 8)).mean()
    for a, e in zip(cells[6:], energies[6:], strict=True):
        assert abs(fitted.energy(a) - e) / 8 < 0.3 * spread_e


def test_fit_chooses_the_scale_of_the_base():
    """Residuals that hold half the base again (a soft base): the fit with the base's own energies and forces as
    a column finds that scale by cross-validation, and (1 + beta) * base + correction predicts held-out cells."""
    from ase.calculators.lj import LennardJones

    from matloop.models.potentials.soap_fit import fit_correction

    teacher = _correction(seed=1)
    cells = [_cell(60 + k, 0.15) for k in range(12)]
    own = []
    for a in cells:  # the base: a pair potential reaching beyond the kernel's 4 Å, so the kernel cannot be it
        a.calc = LennardJones(sigma=2.2, epsilon=0.2, rc=7.0)
        own.append((a.get_potential_energy(), a.get_forces()))
        a.calc = None
    true = [teacher.energy_forces(a) for a in cells]
    energies = np.array([0.5 * b[0] + t[0] for b, t in zip(own, true, strict=True)])
    forces = [0.5 * b[1] + t[1] for b, t in zip(own, true, strict=True)]
    base_e, base_f = np.array([e for e, _ in own]), [f for _, f in own]
    fitted = fit_correction(cells[:10], energies[:10], forces[:10], n_sparse=30, folds=5, settings=SMALL,
                            base=(base_e[:10], base_f[:10]))
    assert fitted.meta["chosen"]["delta_base"] > 0.001 and 0.35 < fitted.base_scale < 0.65
    kept = fit_correction(cells[:10], energies[:10], forces[:10], n_sparse=30, folds=5, settings=SMALL)
    assert kept.base_scale == 0.0 and "delta_base" not in kept.meta["chosen"]
    for k in (10, 11):
        e_hat, f_hat = fitted.energy_forces(cells[k])
        dft_e, dft_f = base_e[k] + energies[k], base_f[k] + forces[k]
        assert abs((1 + fitted.base_scale) * base_e[k] + e_hat - dft_e) < abs(base_e[k] + kept.energy(cells[k]) - dft_e)
        assert np.abs((1 + fitted.base_scale) * base_f[k] + f_hat - dft_f).mean() < 0.5 * np.abs(forces[k]).mean()
    arrays, card = fitted.to_arrays()
    from matloop.models.potentials.soap_delta import SoapCorrection

    assert SoapCorrection.from_arrays(arrays, card).base_scale == fitted.base_scale
    assert SoapCorrection.from_arrays(arrays, {k: v for k, v in card.items() if k != "base_scale"}).base_scale == 0
    with pytest.raises(InputError, match="one per structure"):
        fit_correction(cells[:10], energies[:10], forces[:10], settings=SMALL, base=(base_e[:9], base_f[:10]))
    with pytest.raises(InputError, match="base scale"):
        SoapCorrection.from_arrays(arrays, {**card, "base_scale": float("nan")})


def test_two_body_term_forces_and_pairs():
    """The pair energy's forces are -dE/dr (finite differences) on a two-element cell; (a, b) = (b, a)."""
    from matloop.models.potentials.pair_term import n_pairs, pair_index, pair_rows

    atoms = _cell(6, 0.2)
    z = np.array([0 if el == "C" else 1 for el in atoms.get_chemical_symbols()])
    coef = np.random.default_rng(3).normal(size=n_pairs(2) * 5)
    _, f_rows = pair_rows(atoms, z, 2, 5, 4.0)
    forces = (f_rows @ coef).reshape(-1, 3)
    h = 1e-5
    for j, a in ((0, 0), (3, 1), (6, 2)):
        moved = atoms.copy()
        moved.positions[j, a] += h
        plus = pair_rows(moved, z, 2, 5, 4.0, False)[0] @ coef
        moved.positions[j, a] -= 2 * h
        assert forces[j, a] == pytest.approx(-(plus - pair_rows(moved, z, 2, 5, 4.0, False)[0] @ coef) / (2 * h),
                                             rel=1e-6, abs=1e-9)
    assert list(pair_index(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), 2)) == [0, 1, 1, 2]


def test_constants_and_element_masking():
    from ase import Atoms

    atoms = _cell(2)
    zero = _correction()
    zero.alpha[:] = 0.0
    zero.pair_coef[:] = 0.0
    assert zero.energy(atoms) == pytest.approx(4 * 0.3 + 4 * -0.2)  # 4 C, 4 Si: only the constants
    corr = _correction()
    P = corr._desc.create(atoms)
    Q = P / np.linalg.norm(P, axis=1, keepdims=True)
    z = np.array([0 if el == "C" else 1 for el in atoms.get_chemical_symbols()])
    from matloop.models.potentials.pair_term import pair_rows

    expected = sum(corr.constants[z]) + pair_rows(atoms, z, 2, 4, 4.0, False)[0] @ corr.pair_coef
    # atom i meets only the sparse points of its own element
    for i in range(len(atoms)):
        same = corr.sparse_z == z[i]
        expected += float(((corr.sparse[same] @ Q[i]) ** SMALL["zeta"]) @ corr.alpha[same])
    assert corr.energy(atoms) == pytest.approx(expected)
    with pytest.raises(InputError, match="Ge"):
        corr.energy(Atoms("GeC", positions=[[0, 0, 0], [1, 1, 1]], cell=[4, 4, 4], pbc=True))


def test_fit_with_stresses_learns_the_strain_derivative(monkeypatch):
    """Cells at several volumes and shears, labelled by a known correction over a soft pair-potential base. With the
    stresses as six more rows per cell, sigma_S is searched with the rest (the criterion stays energy x forces);
    held to a tight sigma_S, the fit predicts held-out stresses far better than the fit without them (the rows are
    the model's own strain derivative, with the base's stress as the base column's rows)."""
    from ase.calculators.lj import LennardJones

    from matloop.models.potentials import soap_fit
    from matloop.models.potentials.soap_delta import EV_PER_A3_IN_GPA, STRESS_SEARCH
    from matloop.models.potentials.soap_fit import _voigt, fit_correction

    teacher, rng = _correction(seed=1), np.random.default_rng(5)
    cells, own = [], []
    for k in range(14):
        a = _cell(70 + k, 0.1)
        strain = np.eye(3) + np.diag(rng.uniform(-0.04, 0.04, 3))
        strain[0, 1] = strain[1, 0] = rng.uniform(-0.02, 0.02)
        a.set_cell(a.cell.array @ strain.T, scale_atoms=True)
        a.calc = LennardJones(sigma=2.2, epsilon=0.2, rc=7.0)
        own.append((a.get_potential_energy(), a.get_forces(), -a.get_stress(voigt=False) * EV_PER_A3_IN_GPA))
        a.calc = None
        cells.append(a)
    true = [(*teacher.energy_forces(a), EV_PER_A3_IN_GPA * teacher.stress(a)) for a in cells]
    energies = np.array([0.5 * b[0] + t[0] for b, t in zip(own, true, strict=True)])
    forces = [0.5 * b[1] + t[1] for b, t in zip(own, true, strict=True)]
    stresses = [0.5 * b[2] + t[2] for b, t in zip(own, true, strict=True)]
    base = (np.array([b[0] for b in own]), [b[1] for b in own], [b[2] for b in own])
    fit = slice(0, 11)
    kw = {"n_sparse": 30, "folds": 4, "settings": SMALL}
    searched = fit_correction(cells[fit], energies[fit], forces[fit], base=tuple(x[fit] for x in base),
                              stresses=stresses[fit], **kw)
    chosen = searched.meta["chosen"]
    assert chosen["sigma_S"] in STRESS_SEARCH["sigma_S"] and "val_stress_mae" in chosen
    assert {g["sigma_S"] for g in searched.meta["grid"]} == set(STRESS_SEARCH["sigma_S"])
    product = min(g["val_energy_mae"] * g["val_force_mae"] for g in searched.meta["grid"])
    assert chosen["val_energy_mae"] * chosen["val_force_mae"] == product
    plain = fit_correction(cells[fit], energies[fit], forces[fit], base=tuple(x[fit] for x in base[:2]), **kw)
    assert "sigma_S" not in plain.meta["chosen"]
    monkeypatch.setattr(soap_fit, "STRESS_SEARCH", {"sigma_S": (0.03,)})
    tight = fit_correction(cells[fit], energies[fit], forces[fit], base=tuple(x[fit] for x in base),
                           stresses=stresses[fit], **kw)

    def stress_error(corr, k):  # GPa, the six Voigt components
        total = (1 + corr.base_scale) * base[2][k] + EV_PER_A3_IN_GPA * corr.stress(cells[k])
        return np.abs(_voigt(total) - _voigt(base[2][k] + stresses[k])).mean()

    held = np.mean([stress_error(tight, k) for k in range(11, 14)])
    assert held < 0.5 * np.mean([stress_error(plain, k) for k in range(11, 14)])
    assert tight.meta["chosen"]["val_stress_mae"] < 0.5 * searched.meta["grid"][0]["val_stress_mae"]
    with pytest.raises(InputError, match="its own stresses"):
        fit_correction(cells[fit], energies[fit], forces[fit], base=tuple(x[fit] for x in base[:2]),
                       stresses=stresses[fit], **kw)
    with pytest.raises(InputError, match="its own stresses"):
        fit_correction(cells[fit], energies[fit], forces[fit], base=(*(x[fit] for x in base[:2]), [None] * 11),
                       stresses=stresses[fit], **kw)


def test_stress_is_the_strain_derivative():
    corr = _correction()
    atoms = _cell(3)
    stress = corr.stress(atoms)
    assert stress.shape == (3, 3) and np.allclose(stress, stress.T)
    volume, h = atoms.get_volume(), 1e-4
    energies = []
    for t in (h, -h):  # isotropic: dE/dt = V trace(stress)
        moved = atoms.copy()
        moved.set_cell(atoms.cell.array * (1 + t), scale_atoms=True)
        energies.append(corr.energy(moved))
    assert (energies[0] - energies[1]) / (2 * h) == pytest.approx(volume * np.trace(stress), rel=1e-4, abs=1e-6)
    energies = []
    for t in (h, -h):  # symmetric shear, strain_xy = strain_yx = t/2: dE/dt = V stress_xy
        moved = atoms.copy()
        strain = np.eye(3)
        strain[0, 1] = strain[1, 0] = t / 2
        moved.set_cell(atoms.cell.array @ strain.T, scale_atoms=True)
        energies.append(corr.energy(moved))
    assert (energies[0] - energies[1]) / (2 * h) == pytest.approx(volume * stress[0, 1], rel=1e-3, abs=1e-6)


def test_fit_recovers_a_known_correction_and_round_trips():
    from matloop.models.potentials.soap_delta import SoapCorrection
    from matloop.models.potentials.soap_fit import fit_correction

    teacher = _correction(seed=1)
    cells = [_cell(10 + k, 0.15) for k in range(12)]
    labels = [teacher.energy_forces(a) for a in cells]
    energies = np.array([e for e, _ in labels])
    forces = [f for _, f in labels]
    fitted = fit_correction(cells[:10], energies[:10], forces[:10], n_sparse=40, val_fraction=0.2, seed=0,
                            settings=SMALL)
    spread_e = np.abs(energies / 8 - np.mean(energies / 8)).mean()
    spread_f = np.abs(np.concatenate(forces)).mean()
    for a, e, f in zip(cells[10:], energies[10:], forces[10:], strict=True):
        e_hat, f_hat = fitted.energy_forces(a)
        assert abs(e_hat - e) / 8 < 0.3 * spread_e
        assert np.abs(f_hat - f).mean() < 0.3 * spread_f
    assert fitted.meta["chosen"]["sigma_E"] > 0 and fitted.meta["n_train"] == 10
    arrays, card = fitted.to_arrays()
    again = SoapCorrection.from_arrays(arrays, card)
    assert again.energy_forces(cells[11])[0] == pytest.approx(fitted.energy_forces(cells[11])[0])
    with pytest.raises(InputError, match="do not fit together"):
        SoapCorrection.from_arrays({**arrays, "alpha": arrays["alpha"][:-1]}, card)
    with pytest.raises(InputError, match="no forces"):
        fit_correction(cells[:6], energies[:6], [None] + forces[1:6], settings=SMALL)


def test_cross_validation_equals_refits_without_each_fold():
    """The K-fold errors come from the total sums minus each fold's share; refitting each fold from its own
    design rows must give the same held-out errors for the chosen setting."""
    from matloop.models.potentials.pair_term import n_pairs
    from matloop.models.potentials.soap_delta import design_rows, soap_descriptor, solve_weights
    from matloop.models.potentials.soap_fit import fit_correction

    teacher = _correction(seed=2)
    cells = [_cell(30 + k, 0.15) for k in range(9)]
    labels = [teacher.energy_forces(a) for a in cells]
    energies, forces = np.array([e for e, _ in labels]), [f for _, f in labels]
    fitted = fit_correction(cells, energies, forces, n_sparse=30, folds=3, seed=1, settings=SMALL)
    groups, best = np.array(fitted.meta["groups"]), fitted.meta["chosen"]
    assert fitted.meta["validation"] == "3-fold cross-validation" and sorted(np.bincount(groups)) == [3, 3, 3]
    desc = soap_descriptor(["C", "Si"], SMALL["r_cut"], SMALL["n_max"], SMALL["l_max"], SMALL["sigma"])
    z = np.array([0 if el == "C" else 1 for el in cells[0].get_chemical_symbols()])
    rows = [design_rows(desc, a, fitted.sparse, fitted.sparse_z, z, 2, SMALL["zeta"], pair=(4, 4.0)) for a in cells]
    m, n_pair = len(fitted.sparse), n_pairs(2) * 4
    prior = np.zeros((m + n_pair + 2,) * 2)
    prior[:m, :m] = (fitted.sparse @ fitted.sparse.T) ** SMALL["zeta"] * (fitted.sparse_z[:, None] == fitted.sparse_z)
    prior[m:m + n_pair, m:m + n_pair] = np.eye(n_pair) / best["delta_2b"] ** 2
    e_err, f_err = [], []
    for g in range(3):
        fit = np.flatnonzero(groups != g)
        E = np.array([rows[k][0] / 8 for k in fit])
        F = np.vstack([rows[k][1] for k in fit])
        G = {"E": E.T @ E, "F": F.T @ F}
        b = {"E": E.T @ (energies[fit] / 8), "F": F.T @ np.concatenate([forces[k].ravel() for k in fit])}
        w = solve_weights(G, b, prior, best["sigma_E"], best["sigma_F"])
        for k in np.flatnonzero(groups == g):
            e_err.append(abs(rows[k][0] @ w - energies[k]) / 8)
            f_err.append(np.abs(rows[k][1] @ w - forces[k].ravel()))
    assert 1000 * np.mean(e_err) == pytest.approx(best["val_energy_mae"], rel=1e-3)
    assert np.mean(np.concatenate(f_err)) == pytest.approx(best["val_force_mae"], rel=1e-3)
    split = fit_correction(cells, energies, forces, n_sparse=30, folds=1, val_fraction=0.3, seed=1, settings=SMALL)
    assert split.meta["validation"] == "a validation split of 3 structures" and split.meta["n_held_out"] == 3


@pytest.mark.skipif(not HAS_CHGNET, reason="needs the chgnet extra")
def test_corrected_potential_file_and_calculator(tmp_path):
    from matloop.models.potentials.corrected import CorrectedPotential
    from matloop.models.potentials.finetune import FineTunedPotential, load_potential

    corr = _correction()
    corr.base_scale = -0.3  # the potential is 0.7 * CHGNet + the correction
    pot = CorrectedPotential(FineTunedPotential.pretrained(), corr, {"note": "test"})
    path = pot.save(tmp_path / "sic.pot")
    again = load_potential(path)
    assert isinstance(again, CorrectedPotential) and again.meta == {"note": "test"}
    assert again.correction.base_scale == -0.3
    atoms = _cell(4)
    calc, base = again.calculator(), FineTunedPotential.pretrained().calculator()
    atoms.calc = calc
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    plain = atoms.copy()
    plain.calc = base
    e_corr, f_corr = corr.energy_forces(atoms)
    assert energy == pytest.approx(0.7 * plain.get_potential_energy() + e_corr, abs=1e-5)
    assert np.allclose(forces, 0.7 * plain.get_forces() + f_corr, atol=1e-5)
    from ase.stress import full_3x3_to_voigt_6_stress

    assert np.allclose(stress, 0.7 * plain.get_stress() + full_3x3_to_voigt_6_stress(corr.stress(atoms)), atol=1e-6)
    from matloop.io.potential_data import PotentialRecord

    record = PotentialRecord(atoms.cell.array, atoms.get_chemical_symbols(), atoms.positions, 0.0)
    pred = again.predict([record])[0]  # the batch path scales the base the same way
    assert pred["energy_per_atom"] * 8 == pytest.approx(energy, abs=1e-4)
    assert np.allclose(pred["forces"], forces, atol=1e-4)
    raw = path.read_bytes()
    damaged = tmp_path / "damaged.pot"
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["c/alpha"] = arrays["c/alpha"] + 1.0
    with open(damaged, "wb") as handle:
        np.savez(handle, **arrays)
    assert raw != damaged.read_bytes()
    from matloop.models.gnn.weights import WeightsError

    with pytest.raises(WeightsError, match="checksum"):
        load_potential(damaged)


def test_records_with_elements_the_correction_lacks_are_refused_by_row():
    from matloop.io.potential_data import PotentialRecord
    from matloop.models.potentials.corrected import CorrectedPotential

    cell = np.eye(3) * 4.0
    records = [PotentialRecord(cell, ["Si", "C"], np.array([[0, 0, 0], [1, 1, 1.0]]), -10.0, row=1),
               PotentialRecord(cell, ["Ge", "C"], np.array([[0, 0, 0], [1, 1, 1.0]]), -9.0, row=2)]
    with pytest.raises(InputError) as err:
        CorrectedPotential(None, _correction()).predict(records)  # refused before the base is asked
    assert err.value.table.to_dict("records") == [
        {"row": 2, "column": "structure", "value": "Ge",
         "reason": "element(s) the SOAP correction was not fitted on (it knows C, Si)"}]


def test_a_file_keeps_its_own_kernel_exponent():
    """Files written before the default exponent changed (zeta 4) predict with 4, not with today's default."""
    from matloop.models.potentials.soap_delta import DEFAULTS, SoapCorrection

    corr = _correction()  # SMALL: zeta 4
    assert corr.settings["zeta"] == 4 != DEFAULTS["zeta"]
    atoms = _cell(3)
    arrays, card = corr.to_arrays()
    again = SoapCorrection.from_arrays(arrays, card)
    assert again.settings["zeta"] == 4 and again.energy(atoms) == pytest.approx(corr.energy(atoms), rel=1e-12)
    sharper = SoapCorrection.from_arrays(arrays, {**card, "settings": {**card["settings"], "zeta": DEFAULTS["zeta"]}})
    assert abs(sharper.energy(atoms) - corr.energy(atoms)) > 1e-6  # the exponent read back is the one used
