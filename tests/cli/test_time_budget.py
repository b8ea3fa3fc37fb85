"""``--time-budget`` on fit and validate: checked, stated, and passed to the auto model."""

import pytest

from matloop.cli.main import main
from matloop.datasets import load


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    d = tmp_path_factory.mktemp("budget")
    f = load("matbench_steels").frame.sample(40, random_state=1)
    f[["composition", "yield strength"]].to_csv(d / "steels.csv", index=False)
    return d / "steels.csv"


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "soon"])
@pytest.mark.parametrize("command", ["fit", "validate"])
def test_a_bad_budget_is_bad_input(table, tmp_path, capsys, command, value):
    argv = [command, str(table), "--target", "yield strength", "--time-budget", value]
    if command == "fit":
        argv += ["-o", str(tmp_path / "m.model")]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--time-budget" in err and "Traceback" not in err
    assert not (tmp_path / "m.model").exists()


def test_validate_states_the_budget_and_shares_it_among_folds(table, capsys, monkeypatch):
    from matloop.models import automodel

    seen = []
    fit = automodel.AutoModel.fit

    def spy(self, X, y):
        seen.append(self.time_budget)
        return fit(self, X, y)

    monkeypatch.setattr(automodel.AutoModel, "fit", spy)
    assert main(["validate", str(table), "--target", "yield strength", "--folds", "2", "--time-budget", "30",
                 "--quiet"]) == 0
    assert "time budget 30 s" in capsys.readouterr().out
    assert seen == [15.0, 15.0]
