"""``matloop predict`` writes the model's numbers to 6 significant digits and the user's cells as read."""

from __future__ import annotations

import numpy as np
import pandas as pd

from matloop import datasets
from matloop.cli.main import main


def test_predict_rounds_only_its_own_columns(tmp_path, capsys):
    from matloop.models.forest import RandomForestRegressor
    from matloop.models.persistence import save_model
    from matloop.models.pipeline import MaterialModel

    ds = datasets.load("matbench_expt_gap")
    frame = ds.frame.sample(150, random_state=0)
    model = MaterialModel(RandomForestRegressor(n_estimators=10, noise="oob", random_state=0), featurizer="magpie",
                          recalibrate=False).fit(frame[ds.input], frame[ds.target])
    path = tmp_path / "gap.model"
    save_model(model, path, metadata={"input": ds.input, "kind": "composition", "target": ds.target})
    table = tmp_path / "new.csv"
    table.write_text(f"{ds.input},measured\nFe2O3,0.12345678901234\nGaAs,1.4142135623730951\nNaCl,\n")
    out = tmp_path / "pred.csv"
    assert main(["predict", str(path), str(table), "-o", str(out)]) == 0
    written = pd.read_csv(out)
    assert written["measured"].tolist()[:2] == [0.12345678901234, 1.4142135623730951]  # every digit kept
    expected = model.predict_table(["Fe2O3", "GaAs", "NaCl"])
    for col in ("prediction", "std", "lower_95", "upper_95"):
        np.testing.assert_allclose(written[col], expected[col], rtol=5e-6)
        assert all(len(f"{abs(v):.15g}".split("e")[0].replace(".", "").strip("0")) <= 6 for v in written[col])
    text = out.read_text().splitlines()[1]
    assert "0.12345678901234" in text


def _significant(v: float) -> int:
    return len(f"{abs(v):.15g}".split("e")[0].replace(".", "").strip("0"))


def test_suggest_rounds_its_scores_and_keeps_the_users_cells(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(40, 2)) / 3  # 16-digit user values
    y = np.sin(3 * x[:, 0]) + x[:, 1]
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": y})
    frame.loc[25:, "y"] = np.nan  # the pool
    table = tmp_path / "pool.csv"
    frame.to_csv(table, index=False, float_format="%.17g")
    out = tmp_path / "next.csv"
    assert main(["suggest", str(table), "--target", "y", "--maximize", "--batch", "3", "--model", "rf",
                 "--quiet", "-o", str(out)]) == 0
    written = pd.read_csv(out)
    for col in ("prediction", "std"):
        assert all(_significant(v) <= 6 for v in written[col])
    user = frame["a"].to_numpy()
    for v in written["a"]:  # the user's cells keep every digit (to the reader's last bit)
        assert np.min(np.abs(user - v)) <= 1e-15 and _significant(v) > 6
