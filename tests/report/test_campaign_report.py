"""``campaign report``: progress, the measured data, the Pareto front and what the model learned."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign
from matloop.errors import InputError
from matloop.io.dataset import Dataset
from matloop.report.campaign import campaign_report


@pytest.fixture()
def campaign(tmp_path) -> Campaign:
    """A process campaign: 14 of 30 recipes measured; each recipe has a cost (a second objective)."""
    rng = np.random.default_rng(0)
    f = pd.DataFrame({"temperature": rng.uniform(300, 900, 30), "time": rng.uniform(1, 10, 30)})
    f["cost"] = f["temperature"] / 100 + f["time"]
    f["yield"] = -((f["temperature"] - 700) / 200) ** 2 - ((f["time"] - 3) / 3) ** 2
    f.loc[14:, "yield"] = np.nan
    ds = Dataset(frame=f, input=None, kind="parameters", targets=["yield"], parameters=["temperature", "time"])
    return Campaign.create("proc", str(tmp_path / "c.db"), Objective("max"), "yield", pool=ds)


def _brute_force_front(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Maximise a, minimise b: a point is optimal when no other is at least as good in both and better in one."""
    return np.array([not np.any((a >= a[i]) & (b <= b[i]) & ((a > a[i]) | (b < b[i]))) for i in range(len(a))])


def test_campaign_report_has_progress_measured_data_and_a_pareto_front(campaign):
    report = campaign_report(campaign, interpret=False, pareto_with="cost:min")
    titles = [s.title for s in report.sections]
    assert titles[:4] == ["Status", "Progress", "Measured data", "Pareto front of the measured materials"]
    names = [name for name, _, _ in report.figures]
    assert names[:3] == ["best-so-far", "target-histogram", "pareto-front"]
    table = campaign.table()
    done = table[table["yield"].notna()]
    optimal = _brute_force_front(done["yield"].to_numpy(), done["cost"].to_numpy())
    takeaway = dict((n, t) for n, _, t in report.figures)["pareto-front"]
    assert takeaway.startswith(f"{optimal.sum()} of 14 points are Pareto-optimal")
    import io

    pytest.importorskip("lxml")  # pandas.read_html's parser
    listed = pd.read_html(io.StringIO(report.to_html()), match="Pareto-optimal materials")[0]
    assert len(listed) == optimal.sum()
    assert np.allclose(sorted(listed["cost"]), sorted(done["cost"].to_numpy()[optimal]), rtol=5e-3)  # 3 digits shown
    assert listed["yield"].is_monotonic_decreasing  # best first


def test_pareto_front_needs_a_known_second_objective(campaign):
    plain = campaign_report(campaign, interpret=False)
    assert "Pareto front of the measured materials" not in [s.title for s in plain.sections]
    with pytest.raises(InputError, match="no numeric column or measured target 'price'"):
        campaign_report(campaign, interpret=False, pareto_with="price")
    with pytest.raises(InputError, match="direction must be 'min' or 'max'"):
        campaign_report(campaign, interpret=False, pareto_with="cost:lowest")


def test_campaign_report_explains_what_the_model_learned(campaign):
    report = campaign_report(campaign, interpret=True)
    assert "Interpretation: what the model learned" in [s.title for s in report.sections]
    importance = dict((n, t) for n, _, t in report.figures)["permutation-importance"]
    assert "matters most" in importance
