"""Patterns as inputs of ``suggest``: a measured diffraction pattern per sample informs what to measure next."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Every 4th sample of the bundled Al-Li-Fe-O library (Q files) with its compositions and true fractions."""
    from matloop.datasets.patterns import export_patterns

    folder = tmp_path_factory.mktemp("alli")
    index, _ = export_patterns("xrd_alli_fe_o", folder / "lib.csv")
    return folder, pd.read_csv(index).iloc[::4].reset_index(drop=True)


def _pool(folder, sub, name="pool.csv", measured_share=0.4, seed=0):
    """Target = the fraction of phase 2 (a stand-in for a property only that phase has); temperature is noise."""
    rng = np.random.default_rng(seed)
    y = sub["true_weight_2"].to_numpy()  # the solution weight of phase 2 (the test was set on it)
    measured = rng.random(len(sub)) < measured_share
    pool = pd.DataFrame({"file": sub["file"], "temperature": rng.uniform(300, 700, len(sub)),
                         "y": np.where(measured, y, np.nan)})
    pool.to_csv(folder / name, index=False)
    return folder / name, y, measured


def _chosen(out_path, sub) -> np.ndarray:
    names = sub["file"].map(lambda f: f.rsplit("/", 1)[-1]).tolist()
    return np.array([names.index(f.rsplit("/", 1)[-1]) for f in pd.read_csv(out_path)["file"]])


def test_suggest_on_a_pattern_pool_proposes_unmeasured_samples(library, capsys):
    folder, sub = library
    path, y, measured = _pool(folder, sub)
    out = folder / "next.csv"
    code = main(["suggest", str(path), "--input", "file", "--x-unit", "q", "--extra-inputs", "temperature",
                 "--target", "y", "--maximize", "--batch", "5", "-o", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    chosen = _chosen(out, sub)
    assert len(set(chosen)) == 5 and not measured[chosen].any()
    assert {"temperature", "prediction", "std", "rank"} <= set(pd.read_csv(out).columns)


def test_pattern_features_make_the_surrogate_phase_aware(library):
    """Only the patterns say where phase 2 is (temperature is noise): the surrogate fitted on pattern
    features ranks the unmeasured samples by their phase-2 fraction; on temperature alone it cannot."""
    from scipy.stats import spearmanr

    from matloop.design.surrogate import featurize, make_surrogate
    from matloop.io.table import inspect_table

    folder, sub = library
    path, y, measured = _pool(folder, sub, "pool_aware.csv", measured_share=0.5, seed=1)
    dataset, _ = inspect_table(path, "file", "y", extra_inputs=["temperature"], pattern_options={"unit": "q"})
    F = featurize(dataset).to_numpy(dtype=float)
    ours = make_surrogate("etgp", random_state=0).fit(F[measured], y[measured]).predict(F[~measured])
    T = dataset.frame[["temperature"]].to_numpy(dtype=float)
    blind = make_surrogate("etgp", random_state=0).fit(T[measured], y[measured]).predict(T[~measured])
    rho = spearmanr(ours, y[~measured]).statistic
    assert rho > 0.5 and rho > spearmanr(blind, y[~measured]).statistic + 0.3, rho


def test_features_are_peaks_plus_extra_inputs_and_candidates_line_up(library):
    from matloop.design.surrogate import featurize, material_keys
    from matloop.io.table import inspect_table

    folder, sub = library
    path, _, _ = _pool(folder, sub, "pool_f.csv")
    dataset, _ = inspect_table(path, "file", "y", extra_inputs=["temperature"], pattern_options={"unit": "q"})
    assert dataset.kind == "pattern" and dataset.pattern_options["unit"] == "q"
    F = featurize(dataset)
    assert not any(str(c).startswith("I(") for c in F.columns)  # the processed curve is not a surrogate input
    assert "peak 1 position" in F.columns and F.columns[-1] == "temperature"
    assert np.allclose(F["temperature"], dataset.frame["temperature"])
    assert F["peak 1 position"].between(1.5, 8.0).all()  # Q in 1/Å: read with the table's --x-unit
    part = featurize(dataset, dataset.frame.iloc[7:12], rows=np.arange(8, 13))  # candidates: the same grid
    assert np.allclose(part.to_numpy(), F.iloc[7:12].to_numpy())
    keys = material_keys(dataset)  # a sample is its file (and conditions), not its temperature alone
    assert len(set(keys)) == len(dataset) and str(dataset.frame["file"][0]) in keys[0]


def test_pattern_only_pool_ranks_every_blank_row(library, capsys):
    folder, sub = library
    path, _, measured = _pool(folder, sub, "pool_only.csv")
    pd.read_csv(path)[["file", "y"]].to_csv(folder / "pool_only.csv", index=False)
    out = folder / "next_only.csv"
    code = main(["suggest", str(folder / "pool_only.csv"), "--target", "y", "--maximize", "--batch", "3",
                 "-o", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    assert f"ranked {int((~measured).sum())} candidates" in capsys.readouterr().out


def test_bad_files_and_missing_extra_inputs_are_row_errors(library, capsys):
    folder, sub = library
    path, _, _ = _pool(folder, sub, "pool_bad.csv")
    pool = pd.read_csv(path).astype({"temperature": object})
    pool.loc[4, "file"] = "lib_patterns/no_such_file.xy"
    pool.loc[6, "temperature"] = "hot"
    pool.to_csv(path, index=False)
    code = main(["suggest", str(path), "--input", "file", "--extra-inputs", "temperature", "--target", "y",
                 "--maximize", "-o", str(folder / "bad.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert re.search(r"^5\s+file\s.*no_such_file\.xy", err, re.M) and re.search(r"^7\s+temperature\s+'hot'", err, re.M)
    good, _, _ = _pool(folder, sub, "pool_ok.csv")
    pd.read_csv(good)[["file"]].iloc[:5].to_csv(folder / "cands.csv", index=False)
    code = main(["suggest", str(good), "--input", "file", "--extra-inputs", "temperature", "--target", "y",
                 "--maximize", "--candidates", str(folder / "cands.csv"), "-o", str(folder / "c.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "temperature" in err and "Traceback" not in err


def test_campaign_on_a_pattern_pool_keeps_the_extra_inputs(library, tmp_path, capsys):
    folder, sub = library
    path, _, measured = _pool(folder, sub, "pool_camp.csv")
    db = str(tmp_path / "ledger.db")
    assert main(["campaign", "new", "xrd", "--pool", str(path), "--input", "file", "--x-unit", "q",
                 "--extra-inputs", "temperature", "--target", "y", "--maximize", "--db", db, "-q"]) == 0
    out = tmp_path / "batch.csv"
    code = main(["campaign", "suggest", "xrd", "--batch", "3", "-o", str(out), "--db", db, "-q"])
    assert code == 0, capsys.readouterr().err
    chosen = _chosen(out, sub)
    assert len(set(chosen)) == 3 and not measured[chosen].any()
    from matloop.design.campaign import Campaign

    ds = Campaign("xrd", db)._dataset(pd.read_csv(path))
    assert ds.extra_inputs == ["temperature"] and ds.pattern_options["unit"] == "q"
