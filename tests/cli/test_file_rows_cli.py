"""Errors after validation name the user's file rows: ``suggest``, ``campaign record``, ``predict`` (issue 16: 15, 16).

``suggest`` featurizes through :func:`matloop.design.surrogate.featurize`, which used to hand the
featurizers a bare list, so a structure file that passes ``check`` (the path is fine) but cannot be
parsed was reported by its position among the kept rows; ``campaign record`` numbered the rows of a
results file the same way. ``predict`` had no ``--structures-root``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matloop import InputError
from matloop.cli.main import main
from matloop.design.surrogate import featurize
from matloop.io import read_table
from matloop.io.rows import source_rows
from standins import needs_pymatgen

FIXTURES = Path(__file__).resolve().parents[1] / "represent" / "data" / "structures"


class _Spy:
    """A featurizer that records the row labels it is given and overflows on one material."""

    def __init__(self, overflow: str | None = None):
        self.overflow, self.rows = overflow, None

    def transform(self, values):
        self.rows = source_rows(values).tolist()
        out = np.ones((len(values), 2))
        out[np.asarray(values, dtype=object) == self.overflow] = np.inf
        return out


def test_surrogate_featurize_hands_featurizers_the_file_rows(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("formula,y\nFe2O3,1\n\n\nNiO,2\nCuO,\nZnO,\n")
    ds = read_table(path, target="y")
    assert ds.rows.tolist() == [1, 4, 5, 6]
    spy = _Spy()
    featurize(ds, featurizer=spy)
    assert spy.rows == [1, 4, 5, 6]
    pool = ds.frame.loc[[2, 3]]  # a subset with its own rows, as the candidates of 'suggest'
    featurize(ds, pool, featurizer=spy, rows=ds.rows[[2, 3]])
    assert spy.rows == [5, 6]
    with pytest.raises(InputError) as exc:  # a row whose features overflow is a bad file row, as in fit
        featurize(ds, featurizer=_Spy(overflow="CuO"))
    assert exc.value.table[["row", "value"]].values.tolist() == [[5, "CuO"]]
    with pytest.raises(ValueError, match="rows has 1 entries for 2 rows"):
        featurize(ds, pool, featurizer=spy, rows=[5])


def _structures(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(FIXTURES / name, folder / name)


@needs_pymatgen
def test_suggest_names_the_file_row_of_an_unreadable_structure(tmp_path, capsys):
    _structures(tmp_path, ["NaCl.cif", "Si.vasp", "SrTiO3.POSCAR", "broken.cif"])
    table = tmp_path / "t.csv"
    table.write_text("structure,y\nNaCl.cif,1\n\n\nSi.vasp,2\nSrTiO3.POSCAR,\nbroken.cif,\n")
    assert main(["check", str(table), "--target", "y"]) == 2  # check parses structures too: the same file row
    assert [ln.split()[0] for ln in capsys.readouterr().err.splitlines() if "not a readable CIF" in ln] == ["6"]
    code = main(["suggest", str(table), "--target", "y", "--maximize", "-o", str(tmp_path / "next.csv"), "-q"])
    err = capsys.readouterr().err
    assert code == 2, err
    rows = [line.split()[0] for line in err.splitlines() if "not a readable CIF" in line]
    assert rows == ["6"], err  # data row 6 of the file, not position 4 among the kept rows


@needs_pymatgen
def test_predict_confines_structure_paths_to_structures_root(tmp_path, capsys):
    train = tmp_path / "data"
    _structures(train, ["NaCl.cif", "Si.vasp", "SrTiO3.POSCAR", "Cu.cif.gz", "CONTCAR", "ZnO.json"])
    for src, dst in [("NaCl.cif", "a.cif"), ("Si.vasp", "b.vasp"), ("NaCl.cif", "c.cif")]:
        shutil.copy(train / src, train / dst)
    (train / "train.csv").write_text("structure,y\nNaCl.cif,1\nSi.vasp,2\nSrTiO3.POSCAR,3\nCu.cif.gz,4\n"
                                     "CONTCAR,5\nZnO.json,6\na.cif,1.1\nb.vasp,2.1\nc.cif,1.2\n")
    model = tmp_path / "m.model"
    assert main(["fit", str(train / "train.csv"), "--target", "y", "--model", "rf", "-o", str(model), "-q"]) == 0
    new = tmp_path / "new" / "new.csv"
    new.parent.mkdir()
    new.write_text("structure\n\n../data/NaCl.cif\n../data/Si.vasp\n")
    out = tmp_path / "pred.csv"
    capsys.readouterr()
    assert main(["predict", str(model), str(new), "-o", str(out)]) == 2  # outside the table's folder
    err = capsys.readouterr().err
    assert "leads outside" in err and "--structures-root" in err and not out.exists()
    assert [line.split()[0] for line in err.splitlines() if "../data/" in line] == ["2", "3"]
    assert main(["predict", str(model), str(new), "--structures-root", str(tmp_path), "-o", str(out)]) == 0
    result = pd.read_csv(out)
    assert result["structure"].tolist() == [str((train / n).resolve()) for n in ("NaCl.cif", "Si.vasp")]
    assert result["prediction"].notna().all()
    # a root that does not contain them still refuses them
    assert main(["predict", str(model), str(new), "--structures-root", str(new.parent), "-o", str(out)]) == 2


def test_campaign_record_names_the_file_row_of_a_bad_formula(tmp_path, capsys):
    (tmp_path / "pool.csv").write_text("formula,y\nFe2O3,1\nNiO,2\nCuO,\nZnO,\nMgO,\n")
    (tmp_path / "results.csv").write_text("formula,y\n\n\nCuO,3\nFe2+,4\n")
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert main(["campaign", "new", "c", "--pool", str(tmp_path / "pool.csv"), "--target", "y", "--maximize",
                 "--db", db, "-q"]) == 0
    capsys.readouterr()
    assert main(["campaign", "record", "c", str(tmp_path / "results.csv"), "--db", db]) == 2
    err = capsys.readouterr().err
    rows = [line.split()[0] for line in err.splitlines() if "charges are not supported" in line]
    assert rows == ["4"], err  # the file's data row 4 (after two blank lines), not position 2
