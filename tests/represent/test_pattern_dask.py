"""Large pattern libraries on Dask: the same grid, features and row errors as in process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matloop.errors import InputError
from matloop.io.patterns import read_patterns
from matloop.represent.diffraction import common_grid, resample
from matloop.represent.pattern_dask import library_on_grid, transform_patterns
from matloop.represent.pattern_features import PatternFeatureSet


def _files(folder, n: int = 14, seed: int = 0) -> list[str]:
    """2θ files with different ranges and steps, peaks that move from file to file."""
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        x = np.arange(10 + rng.uniform(0, 2), 60 - rng.uniform(0, 2), rng.choice([0.02, 0.03]))
        y = 50 + sum(h * np.exp(-((x - p - 0.05 * i) / 0.15) ** 2) for p, h in ((21, 900), (33, 500), (44, 300)))
        name = f"p{i:02d}.xy"
        pd.DataFrame({"x": x, "y": y + rng.normal(0, 5, len(x))}).to_csv(folder / name, sep=" ", header=False,
                                                                          index=False)
        names.append(name)
    return names


def test_library_on_grid_in_process_is_read_then_common_grid_then_resample(tmp_path):
    names = _files(tmp_path)
    X, grid, dropped = library_on_grid(names, base_dir=tmp_path, batch_size=4)
    patterns = read_patterns(names, base_dir=tmp_path)
    reference = common_grid(patterns, unit="q")
    assert grid == reference and dropped == {}
    assert np.array_equal(X, resample(patterns, reference))


def test_errors_of_every_batch_come_back_as_one_table(tmp_path):
    names = _files(tmp_path, n=10)
    names[4] = "missing.xy"
    (tmp_path / "p08.xy").write_text("10.0 5\n10.1 6\nten 7\n" + "\n".join(f"{10.2 + k / 10} 5" for k in range(20)))
    with pytest.raises(InputError) as info:
        library_on_grid(names, rows=range(2, 12), base_dir=tmp_path, batch_size=3, column="file")
    table = info.value.table
    assert table["row"].tolist() == [6, 10] and "missing.xy" in table["value"].iloc[0]
    assert "line 3" in table["reason"].iloc[1]


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local, distributed.Client(local) as client:
        yield local, client


def test_dask_grid_and_features_equal_in_process(tmp_path, cluster, monkeypatch):
    import matloop.represent.dask_map as dask_map
    from matloop.represent.feature_cache import options

    local, client = cluster
    calls = []
    real = dask_map.map_batches
    monkeypatch.setattr(dask_map, "map_batches", lambda *a, **k: calls.append(len(a[3])) or real(*a, **k))
    names = _files(tmp_path)
    X, grid, _ = library_on_grid(names, base_dir=tmp_path, batch_size=4)
    Xd, gridd, _ = library_on_grid(names, base_dir=tmp_path, batch_size=4, scheduler=client)
    assert gridd == grid and np.array_equal(Xd, X)
    paths = pd.Series([str(tmp_path / n) for n in names], name="file")
    here = PatternFeatureSet().fit_transform(paths)
    with options(scheduler=local.scheduler_address):  # an address, as the CLI's --scheduler gives it
        there = PatternFeatureSet().fit_transform(paths)
    pd.testing.assert_frame_equal(there, here)
    assert calls == [4, 4, 1, 1]  # grid: ranges then rows (4 batches); features: ranges then rows (1 batch of 64)
    bad = paths.copy()
    bad[3] = str(tmp_path / "gone.xy")
    fitted = PatternFeatureSet().fit(paths)
    with pytest.raises(InputError) as info:
        transform_patterns(fitted, bad, scheduler=client, batch_size=5)
    assert info.value.table["row"].tolist() == [4]


def test_phases_map_and_featurize_with_a_scheduler(tmp_path, cluster, capsys):
    from matloop.cli.main import main

    local, _ = cluster
    names = _files(tmp_path, n=9)
    pd.DataFrame({"file": names, "x": np.arange(9)}).to_csv(tmp_path / "lib.csv", index=False)
    outputs = []
    for extra in ([], ["--scheduler", local.scheduler_address]):
        out = tmp_path / f"phases{len(extra)}.csv"
        code = main(["phases", "map", str(tmp_path / "lib.csv"), "--input", "file", "--components", "2",
                     "--restarts", "1", "--bootstrap", "0", "-o", str(out), "-q", *extra])
        assert code == 0, capsys.readouterr().err
        outputs.append(pd.read_csv(out))
    pd.testing.assert_frame_equal(outputs[0], outputs[1])
    code = main(["featurize", str(tmp_path / "lib.csv"), "--input", "file", "--kind", "pattern", "-o",
                 str(tmp_path / "f.csv"), "--scheduler", local.scheduler_address, "-q"])
    assert code == 0, capsys.readouterr().err
    features = pd.read_csv(tmp_path / "f.csv")
    assert len(features) == 9 and "peak 1 position" in features.columns
