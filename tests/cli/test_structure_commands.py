"""Every table command on crystal structures: inline CIF/POSCAR/JSON columns and file paths.

Real structures: the first rows of the bundled ``elastic_tensor_2015`` set (inline CIF text),
log10 bulk modulus as the target. Commands run in-process through ``matloop.cli.main``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymatgen.core")

from matloop.cli.main import main  # noqa: E402
from matloop.datasets import load  # noqa: E402

N_TRAIN, N_CAND = 36, 12
TARGET = "log10_K_VRH"


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("structures")
    frame = load("elastic_tensor_2015").frame[["material_id", "structure", TARGET]].iloc[: N_TRAIN + N_CAND]
    frame.iloc[:N_TRAIN].to_csv(folder / "train.csv", index=False)
    frame.iloc[N_TRAIN:].drop(columns=TARGET).to_csv(folder / "cand.csv", index=False)
    pool = frame.copy()
    pool.loc[N_TRAIN:, TARGET] = np.nan
    pool.to_csv(folder / "pool.csv", index=False)
    model = folder / "k.model"
    assert main(["fit", str(folder / "train.csv"), "--target", TARGET, "--model", "rf", "-o", str(model), "-q"]) == 0
    return folder, frame, model


def test_check_detects_an_inline_structure_column(tables, capsys):
    folder, _, _ = tables
    capsys.readouterr()
    assert main(["check", str(folder / "train.csv"), "--target", TARGET]) == 0
    out = capsys.readouterr().out
    assert "column 'structure'" in out and "kind 'structure'" in out and "detected" in out
    assert main(["check", str(folder / "train.csv"), "--target", TARGET, "--input", "structure",
                 "--kind", "structure"]) == 0


def test_second_fit_reads_every_row_from_the_cache(tables, tmp_path, monkeypatch):
    from matloop.represent import structure_features

    folder, _, _ = tables

    def refuse(self, structures):
        raise AssertionError("features were computed again")

    monkeypatch.setattr(structure_features.StructureFeaturizer, "_compute", refuse)
    assert main(["fit", str(folder / "train.csv"), "--target", TARGET, "--model", "rf", "-o",
                 str(tmp_path / "again.model"), "-q"]) == 0


def test_predict_screen_and_paths_agree(tables, tmp_path, capsys):
    from pymatgen.core import Structure

    from matloop.represent.structure import read_structures

    folder, frame, model = tables
    assert main(["predict", str(model), str(folder / "cand.csv"), "-o", str(tmp_path / "pred.csv"), "-q"]) == 0
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert len(pred) == N_CAND and pred["prediction"].notna().all() and (pred["std"] > 0).all()

    assert main(["screen", "--candidates", str(folder / "cand.csv"), "--model", str(model), "--top", "5",
                 "-o", str(tmp_path / "hits.csv"), "-q"]) == 0
    out = capsys.readouterr().out
    hits = pd.read_csv(tmp_path / "hits.csv")
    assert list(hits["rank"]) == [1, 2, 3, 4, 5] and "CIF data_" in out and "#\\#CIF" not in out
    expected = pred.sort_values("prediction", ascending=False, kind="stable").head(5)
    assert list(hits["material_id"]) == list(expected["material_id"])
    np.testing.assert_allclose(hits["prediction"], expected["prediction"], rtol=1e-5)

    # the same structures as files (CIF, POSCAR, pymatgen JSON) predict the same
    structures = read_structures(frame["structure"].iloc[N_TRAIN:N_TRAIN + 3])
    names = ["a.cif", "POSCAR_b", "c.json"]
    structures[0].to(filename=str(tmp_path / names[0]))
    structures[1].to(filename=str(tmp_path / names[1]), fmt="poscar")
    (tmp_path / names[2]).write_text(json.dumps(structures[2].as_dict()))
    pd.DataFrame({"structure": names}).to_csv(tmp_path / "paths.csv", index=False)
    assert main(["predict", str(model), str(tmp_path / "paths.csv"), "-o", str(tmp_path / "p2.csv"), "-q"]) == 0
    from_files = pd.read_csv(tmp_path / "p2.csv")
    np.testing.assert_allclose(from_files["prediction"], pred["prediction"].iloc[:3], rtol=1e-4)
    assert isinstance(Structure.from_file(tmp_path / names[0]), Structure)


def test_extxyz_paths_through_ase(tables, tmp_path):
    ase_io = pytest.importorskip("ase.io")
    from pymatgen.io.ase import AseAtomsAdaptor

    from matloop.represent.structure import read_structures

    folder, frame, model = tables
    structures = read_structures(frame["structure"].iloc[N_TRAIN:N_TRAIN + 2])
    for i, s in enumerate(structures):
        ase_io.write(tmp_path / f"s{i}.extxyz", AseAtomsAdaptor.get_atoms(s), format="extxyz")
    pd.DataFrame({"structure": ["s0.extxyz", "s1.extxyz"]}).to_csv(tmp_path / "x.csv", index=False)
    assert main(["predict", str(model), str(tmp_path / "x.csv"), "-o", str(tmp_path / "px.csv"), "-q"]) == 0
    assert main(["predict", str(model), str(folder / "cand.csv"), "-o", str(tmp_path / "pc.csv"), "-q"]) == 0
    np.testing.assert_allclose(pd.read_csv(tmp_path / "px.csv")["prediction"],
                               pd.read_csv(tmp_path / "pc.csv")["prediction"].iloc[:2], rtol=1e-4)


def test_validate_and_suggest_on_structures(tables, tmp_path, capsys):
    folder, _, _ = tables
    assert main(["validate", str(folder / "train.csv"), "--target", TARGET, "--model", "rf", "--folds", "3",
                 "--json", str(tmp_path / "v.json"), "-q"]) == 0
    assert json.loads((tmp_path / "v.json").read_text())["n_samples"] == N_TRAIN and "mae" in (tmp_path / "v.json").read_text()
    assert main(["suggest", str(folder / "train.csv"), "--target", TARGET, "--maximize", "--model", "rf",
                 "--candidates", str(folder / "cand.csv"), "--batch", "3", "-o", str(tmp_path / "s.csv"), "-q"]) == 0
    out = capsys.readouterr().out
    chosen = pd.read_csv(tmp_path / "s.csv")
    assert len(chosen) == 3 and set(chosen["material_id"]) <= set(pd.read_csv(folder / "cand.csv")["material_id"])
    assert "CIF data_" in out and "_cell_length_a" not in out
    assert main(["suggest", str(folder / "pool.csv"), "--target", TARGET, "--maximize", "--model", "rf",
                 "--batch", "2", "-o", str(tmp_path / "s2.csv"), "-q"]) == 0
    assert len(pd.read_csv(tmp_path / "s2.csv")) == 2


def test_report_on_structures(tables, tmp_path):
    folder, _, _ = tables
    assert main(["report", str(folder / "train.csv"), "--target", TARGET, "--model", "rf", "--folds", "3",
                 "--no-umap", "--no-interpret", "-o", str(tmp_path / "r.html"), "-q"]) == 0
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<html" in html.lower() and "_cell_length_a" not in html


POSCAR = "{name}\n1.0\n{a} 0 0\n0 {a} 0\n0 0 {c}\n{elements}\n{counts}\ndirect\n{coords}\n"
CIF_DISORDER = """data_FeNi
_cell_length_a 3.52
_cell_length_b 3.52
_cell_length_c 3.52
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Fe1 Fe 0 0 0 0.5
Ni1 Ni 0 0 0 0.5
"""


def test_bad_structures_are_reported_per_row(tables, tmp_path, capsys):
    folder, frame, model = tables
    rows = {
        "unparseable": POSCAR.format(name="x", a=4, c=4, elements="Na", counts="2", coords="0 0 0"),
        "overlap": POSCAR.format(name="o", a=4, c=4, elements="Na Cl", counts="1 1", coords="0 0 0\n0.01 0 0"),
        "zero volume": POSCAR.format(name="z", a=4, c=0, elements="Na", counts="1", coords="0 0 0"),
        "unknown": POSCAR.format(name="u", a=4, c=4, elements="Xx", counts="1", coords="0 0 0"),
        "disordered": CIF_DISORDER,
        "not a structure": "hello\nworld",
    }
    good = list(frame["structure"].iloc[:10])  # enough labelled rows that fit gets to reading them all
    table = pd.DataFrame({"structure": good + list(rows.values()), TARGET: np.linspace(1, 2, 10 + len(rows))})
    table.to_csv(tmp_path / "bad.csv", index=False)
    capsys.readouterr()
    code = main(["fit", str(tmp_path / "bad.csv"), "--target", TARGET, "--input", "structure", "--kind",
                 "structure", "--model", "rf", "-o", str(tmp_path / "bad.model"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "not a structure" in err and "row" in err  # the text that is no structure: refused when reading the table
    table.iloc[:-1].to_csv(tmp_path / "bad.csv", index=False)
    code = main(["fit", str(tmp_path / "bad.csv"), "--target", TARGET, "--input", "structure", "--kind",
                 "structure", "--model", "rf", "-o", str(tmp_path / "bad.model"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = {int(ln.split()[0]): ln for ln in err.splitlines() if ln[:1].isdigit()}
    assert sorted(lines) == [11, 12, 13, 14, 15]
    assert "not a readable POSCAR" in lines[11]
    assert "overlapping atoms" in lines[12]
    assert "zero cell volume" in lines[13]
    assert "unknown element symbol 'Xx'" in lines[14]
    assert "partial occupancies" in lines[15]
    # check parses the structures too: the broken ones are bad rows, the disordered one is only counted
    check = ["check", str(tmp_path / "bad.csv"), "--target", TARGET, "--input", "structure", "--kind", "structure"]
    assert main(check) == 2
    err = capsys.readouterr().err
    assert sorted(int(ln.split()[0]) for ln in err.splitlines() if ln[:1].isdigit()) == [11, 12, 13, 14]
    assert main([*check, "--skip-invalid"]) == 0
    assert "4 of 15 cannot be read" in capsys.readouterr().out
    table.iloc[[0, 1, 14]].to_csv(tmp_path / "mixed.csv", index=False)
    assert main([*check[:1], str(tmp_path / "mixed.csv"), *check[2:]]) == 0
    assert "1 with partial occupancies" in capsys.readouterr().out


def test_screen_structures_on_a_local_dask_cluster(tables, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    folder, _, model = tables
    assert main(["screen", "--candidates", str(folder / "cand.csv"), "--model", str(model), "--top", "4",
                 "--chunk-size", "5", "-o", str(tmp_path / "local.csv"), "-q"]) == 0
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        assert main(["screen", "--candidates", str(folder / "cand.csv"), "--model", str(model), "--top", "4",
                     "--chunk-size", "5", "--scheduler", cluster.scheduler_address,
                     "-o", str(tmp_path / "dask.csv"), "-q"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "local.csv"), pd.read_csv(tmp_path / "dask.csv"))


def test_campaign_on_structures(tables, tmp_path, monkeypatch, capsys):
    folder, _, _ = tables
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MATLOOP_DB", raising=False)
    assert main(["campaign", "new", "k", "--pool", str(folder / "pool.csv"), "--target", TARGET, "--maximize"]) == 0
    out = capsys.readouterr().out
    assert "best at:    structure = CIF data_" in out and "_cell_length_a" not in out
    assert main(["campaign", "suggest", "k", "--batch", "2", "-o", "next.csv", "-q"]) == 0
    chosen = pd.read_csv(tmp_path / "next.csv")
    assert len(chosen) == 2 and set(chosen["material_id"]) <= set(pd.read_csv(folder / "cand.csv")["material_id"])


def test_featurize_twice_computes_once(tables, tmp_path, monkeypatch):
    from matloop.represent import structure_features

    folder, _, _ = tables
    monkeypatch.setenv("MATLOOP_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["featurize", str(folder / "cand.csv"), "-o", str(tmp_path / "a.csv"), "-q"]) == 0

    def refuse(self, structures):
        raise AssertionError("features were computed again")

    monkeypatch.setattr(structure_features.StructureFeaturizer, "_compute", refuse)
    assert main(["featurize", str(folder / "cand.csv"), "-o", str(tmp_path / "b.csv"), "-q"]) == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
