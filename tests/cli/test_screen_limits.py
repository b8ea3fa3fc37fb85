"""``matloop screen`` keeps flat memory however large the space, and refuses hopeless spaces at once.

Both run in a subprocess under an address-space cap (``resource.setrlimit``), where building every
chunk's bounds up front (the old behaviour: 5 GB within seconds for 20 elements and 50 atoms) dies
with ``MemoryError``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

resource = pytest.importorskip("resource")
CAP = 3 * 1024**3  # address space: imports fit easily, a list of 10^9 chunk bounds does not

ELEMENTS = "Li,O,Fe,S,Mg,N,Ti,F,Cu,P,Zn,Cl,Na,Se,Mn,Si,Ca,Br,Co,B"


def _capped(code: str, timeout: int = 600) -> subprocess.CompletedProcess:
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({CAP}, {CAP}))\n"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def test_hopeless_space_is_refused_before_anything_is_loaded(tmp_path):
    model = tmp_path / "never-read.model"
    model.write_bytes(b"not a model")  # the refusal comes before the model is opened
    proc = _capped(f"""
        import sys
        from matloop.cli.main import main
        sys.exit(main(["screen", "--elements", "{ELEMENTS}", "--max-atoms", "50", "--model", r"{model}",
                       "-o", r"{tmp_path / 'hits.csv'}"]))
    """)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "161,884,603,662,656,875" in proc.stderr and "years" in proc.stderr
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr
    assert not (tmp_path / "hits.csv").exists()


def test_large_space_streams_its_first_chunks_in_flat_memory():
    # 20 elements, up to 30 atoms: ~5e13 raw indices, feasible in principle; the old code allocated every
    # chunk's (start, stop) first (~5e8 tuples) and died; now the first chunks are screened at once
    proc = _capped("""
        from matloop import datasets
        from matloop.design.enumerate import ElementSpace
        from matloop.design.screen import screen
        from matloop.models.forest import RandomForestRegressor
        from matloop.models.pipeline import MaterialModel

        ds = datasets.load("matbench_expt_gap")
        frame = ds.frame.sample(120, random_state=0)
        model = MaterialModel(RandomForestRegressor(n_estimators=8, noise="oob", random_state=0),
                              featurizer="magpie", recalibrate=False).fit(frame[ds.input], frame[ds.target])
        space = ElementSpace("ELEMENTS".split(","), max_atoms=30)
        assert space.n_raw > 10**13, space.n_raw

        class Enough(Exception):
            pass

        seen = []

        def progress(done, total, counts):
            seen.append((done, total, counts["candidates"]))
            if done == 3:
                raise Enough

        try:
            screen(space, model, top=5, rules=None, chunk_size=20_000, progress=progress)
        except Enough:
            print("streamed", seen[-1])
    """.replace("ELEMENTS", ELEMENTS))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "streamed (3," in proc.stdout
