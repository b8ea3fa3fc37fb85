"""``--target-order`` on ``suggest`` and ``campaign new`` (an ordinal goal of text labels): the bundled
vapdiff_crystal set, cut, with ``clear_solution`` a failure by ``--failed-if``; labels scored worst to
best; a label outside the order exits 2 naming its row; campaign ``record`` scores labels too."""

import re

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.datasets import load
from matloop.design.ordinal import parse_order, score_labels, text_goal_column
from matloop.errors import InputError

ORDER = "clear_solution,fine_powder,small_crystallites,large_crystallites"
RULE = "crystal_score == 'clear_solution'"


@pytest.fixture(scope="module")
def vap(tmp_path_factory):
    """120 rows of vapdiff_crystal; the outcome of all but 30 (10 clear_solution among them) blanked."""
    folder = tmp_path_factory.mktemp("vap")
    full = load("vapdiff_crystal").frame.iloc[::7].head(120).reset_index(drop=True)
    measured = np.r_[np.flatnonzero(full["crystal_score"] == "clear_solution")[:10],
                     np.flatnonzero(full["crystal_score"] != "clear_solution")[:20]]
    pool = full.copy()
    pool.loc[~pool.index.isin(measured), "crystal_score"] = np.nan
    pool.to_csv(folder / "pool.csv", index=False)
    return folder, full, pool, measured


def test_score_labels_keeps_failed_labels_and_scores_the_rest():
    frame = pd.DataFrame({"x": [1, 2, 3, 4], "s": ["b", "a", None, "zzz"], "status": ["", "", "", "failed"]})
    out = score_labels(frame, "s", parse_order("a,b"))
    assert out["s"].tolist()[:2] == [1.0, 0.0] and pd.isna(out["s"][2]) and out["s"][3] == "zzz"
    with pytest.raises(InputError) as err:  # the same label on a row that did not fail: a bad row, never blank
        score_labels(frame.assign(status=""), "s", ["a", "b"], rows=[5, 6, 7, 8])
    assert err.value.table["row"].tolist() == [8] and "zzz" in str(err.value.table["value"].tolist())
    with pytest.raises(InputError, match="at least 2 distinct"):
        parse_order("a,a")
    assert text_goal_column(pd.DataFrame({"y": [1.0, 2.0], "s": ["a", None]}), ["y", "s"]) == "s"
    with pytest.raises(InputError, match="none of the goals"):
        text_goal_column(pd.DataFrame({"y": [1.0, 2.0], "z": [1.0, None]}), ["y", "z"])


def test_suggest_with_target_order_and_failed_if(vap, tmp_path, capsys):
    folder, _, pool, measured = vap
    out = tmp_path / "next.csv"
    assert main(["suggest", str(folder / "pool.csv"), "--target", "crystal_score", "--target-order", ORDER,
                 "--failed-if", RULE, "--batch", "3", "-o", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "crystal_score scored clear_solution=0 < fine_powder=1" in printed
    assert "trained on 20 measured rows" in printed and "10 failed rows" in printed  # failures are not data
    assert re.search(r"best measured: \d \((fine_powder|small_crystallites|large_crystallites)\)", printed)
    chosen = pd.read_csv(out)
    assert len(chosen) == 3 and chosen["crystal_score"].isna().all()  # candidates only, never a measured row
    assert (chosen["p_success"] > 0).all() and (chosen["prediction"] <= 3.5).all()  # a score on 0..3
    top_measured = (pool.loc[measured, "crystal_score"] == "large_crystallites").any()
    assert top_measured  # so the ranking is the chance of the best label, not an improvement above it
    assert chosen["reason"].str.contains("P(in 2.5..3.5)", regex=False).all()
    assert chosen["reason"].str.contains("best label is measured already").all()


def test_suggest_label_outside_the_order_exits_2(vap, tmp_path, capsys):
    folder, _, _, _ = vap
    assert main(["suggest", str(folder / "pool.csv"), "--target", "crystal_score", "--target-order",
                 "clear_solution,large_crystallites", "-o", str(tmp_path / "n.csv"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "outside --target-order" in err and ("fine_powder" in err or "small_crystallites" in err)
    assert "Traceback" not in err


def test_campaign_new_and_record_with_target_order(vap, tmp_path, capsys):
    folder, full, pool, _ = vap
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "vap", "--db", db, "--pool", str(folder / "pool.csv"), "--target",
                 "crystal_score", "--target-order", ORDER, "--failed-if", RULE, "-q"]) == 0
    status = capsys.readouterr().out
    assert "maximise the ordinal score (clear_solution=0 < fine_powder=1" in status
    assert "20 candidates (20 measured in the start table" in status and "10 failed" in status
    params = [c for c in full.columns if c != "crystal_score"]
    new = full.loc[pool["crystal_score"].isna()].head(3)
    bad = new.copy()
    bad.iloc[0, bad.columns.get_loc("crystal_score")] = "huge_crystal"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["campaign", "record", "vap", str(tmp_path / "bad.csv"), "--db", db]) == 2
    assert "huge_crystal" in capsys.readouterr().err  # nothing recorded (all or nothing)
    new.to_csv(tmp_path / "res.csv", index=False)
    assert main(["campaign", "record", "vap", str(tmp_path / "res.csv"), "--db", db]) == 0
    printed = capsys.readouterr().out
    n_ok = int((new["crystal_score"] != "clear_solution").sum())
    assert f"recorded {n_ok} new measurement" in printed
    from matloop.design.campaign import Campaign

    camp = Campaign("vap", db)
    meas = camp.ledger.measurements()
    assert set(meas["value"].astype(float)) <= {1.0, 2.0, 3.0}  # scores; a clear_solution is a failure, not a 0
    assert len(meas) == 20 + n_ok and params
