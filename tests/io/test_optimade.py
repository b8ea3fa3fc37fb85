"""The OPTIMADE client end to end against the `optimade` package's real reference server on loopback."""

from __future__ import annotations

import json
import socket
import threading

import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.io.optimade import OptimadeQuery, ProviderError, fetch_structures, structures_url

pytest.importorskip("optimade.server", reason="the OPTIMADE reference server (optimade[server]) is not installed")
from optimade_server import free_port, reference_server  # noqa: E402

N_TEST_STRUCTURES = 17  # the reference server's built-in test data


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with reference_server(tmp_path_factory.mktemp("optimade")) as url:
        yield url


def _read(path):
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def test_cli_fetch_pages_through_everything_and_writes_provenance(server, tmp_path, capsys):
    out = tmp_path / "all.csv"
    code = main(["datasets", "fetch", "--optimade", server, "--filter", "nelements>=1", "--page-size", "5",
                 "-o", str(out), "--cache-dir", str(tmp_path / "cache")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    table = _read(out)
    assert len(table) == N_TEST_STRUCTURES and table["optimade_id"].is_unique
    assert {"structure", "formula", "provider", "url", "retrieved", "nelements", "elements"} <= set(table.columns)
    assert (table["provider"] == "exmpl").all() and table["url"].str.startswith(f"{server}/v1/structures/").all()
    assert "page 4, 17 of 17 structures" in captured.err  # progress on stderr, one line per page
    provenance = json.loads((tmp_path / "all.csv.provenance.json").read_text())
    assert provenance["providers"][0]["entries"] == N_TEST_STRUCTURES and provenance["providers"][0]["pages"] == 4
    assert provenance["query"]["filter"] == "nelements>=1" and "Sci. Data 8, 217" in provenance["citation"]


def test_structures_are_the_providers_structures(server, tmp_path):
    result = fetch_structures(OptimadeQuery((server,), "nelements>=2", page_size=50), cache_dir=tmp_path)
    rows = pd.DataFrame(result.rows)
    assert not result.errors and len(rows) == result.providers[0]["available"] == 15  # 2 of 17 are elements
    pymatgen = pytest.importorskip("pymatgen.core")
    for text, formula, nelements in zip(rows["structure"], rows["formula"], rows["nelements"], strict=True):
        structure = pymatgen.Structure.from_dict(json.loads(text))
        assert structure.composition.reduced_formula == pymatgen.Composition(formula).reduced_formula
        assert len(structure.composition.elements) == nelements >= 2


def test_filter_selects_and_max_results_stops(server, tmp_path, capsys):
    result = fetch_structures(OptimadeQuery((server,), 'elements HAS "Ac"', page_size=2), cache_dir=tmp_path)
    formulas = [r["formula"] for r in result.rows]
    assert formulas and all("Ac" in f for f in formulas) and result.providers[0]["available"] == len(formulas)
    out = tmp_path / "few.csv"
    assert main(["datasets", "fetch", "--optimade", server, "--filter", "nelements>=1", "--max-results", "5",
                 "--page-size", "2", "-o", str(out), "--cache-dir", str(tmp_path / "c2")]) == 0
    assert len(_read(out)) == 5
    assert "stopped at --max-results, the provider holds 17" in capsys.readouterr().out


def test_second_run_works_offline_from_the_cache(server, tmp_path):
    query = OptimadeQuery((server,), "nelements<=3", page_size=4)
    first = fetch_structures(query, cache_dir=tmp_path)

    def no_network(url, timeout):
        raise AssertionError(f"the network was used: {url}")

    again = fetch_structures(query, cache_dir=tmp_path, transport=no_network)
    assert not again.errors and again.rows == first.rows
    assert again.providers[0]["pages_from_cache"] == again.providers[0]["pages"] >= 2
    missing = fetch_structures(OptimadeQuery((server,), "nelements<=2"), cache_dir=tmp_path, offline=True)
    assert not missing.rows and "offline and not in the cache" in missing.errors[0].message


def test_cli_offline_rerun_writes_the_same_table(server, tmp_path):
    args = ["datasets", "fetch", "--optimade", server, "--filter", "nelements<=4", "--cache-dir", str(tmp_path / "c")]
    assert main([*args, "-o", str(tmp_path / "a.csv")]) == 0
    assert main([*args, "-o", str(tmp_path / "b.csv"), "--offline"]) == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_rejected_filter_is_bad_input_and_writes_nothing(server, tmp_path, capsys):
    out = tmp_path / "bad.csv"
    code = main(["datasets", "fetch", "--optimade", server, "--filter", 'elements HAS ALL Li"', "-o", str(out),
                 "--cache-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "rejected the query: HTTP 400" in err and "filter" in err


def test_failed_provider_is_named_and_partial_results_need_consent(server, tmp_path, capsys):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    args = ["datasets", "fetch", "--optimade", server, "--optimade", down, "--filter", "nelements>=1",
            "--retries", "0", "--cache-dir", str(tmp_path / "c")]
    assert main([*args, "-o", str(tmp_path / "a.csv")]) == 1
    err = capsys.readouterr().err
    assert f"provider {down} failed: network error" in err and not (tmp_path / "a.csv").exists()
    assert main([*args, "-o", str(tmp_path / "b.csv"), "--allow-partial"]) == 0
    assert len(_read(tmp_path / "b.csv")) == N_TEST_STRUCTURES
    failed = json.loads((tmp_path / "b.csv.provenance.json").read_text())["failed"]
    assert failed[0]["provider"] == down


def test_retries_with_backoff_then_succeeds(server, tmp_path):
    from matloop.io import optimade

    calls, waits = [], []

    def flaky(url, timeout):
        calls.append(url)
        if len(calls) <= 2:
            return 503, {"Retry-After": "0"}, b'{"errors": [{"detail": "busy"}]}'
        return optimade._urllib_transport(url, timeout)

    query = OptimadeQuery((server,), "nelements>=1", page_size=50, retries=3, backoff=0.5)
    result = fetch_structures(query, transport=flaky, cache_dir=tmp_path, sleep=waits.append)
    assert not result.errors and len(result.rows) == N_TEST_STRUCTURES
    assert waits == [0.5, 1.0] and len(calls) == 3

    def always_busy(url, timeout):
        return 503, {}, b"down for maintenance"

    failed = fetch_structures(query, transport=always_busy, cache_dir=tmp_path / "x", sleep=waits.append)
    assert "HTTP 503: down for maintenance (gave up after 4 tries)" in failed.errors[0].message


def test_time_out_is_reported(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        result = fetch_structures(OptimadeQuery((url,), "nelements>=1", timeout=0.3, retries=0), cache_dir=tmp_path)
        assert result.errors and "timed out" in result.errors[0].message and not result.errors[0].bad_input
    finally:
        listener.close()


def test_oversized_answer_is_refused(server, tmp_path, monkeypatch):
    from matloop.io import optimade

    monkeypatch.setattr(optimade, "MAX_BODY_BYTES", 1000)
    result = fetch_structures(OptimadeQuery((server,), "nelements>=1", retries=0), cache_dir=tmp_path)
    assert "larger than" in result.errors[0].message and not result.rows


def test_base_url_forms():
    assert structures_url("https://optimade.example.org/") == "https://optimade.example.org/v1"
    assert structures_url("https://x.org/optimade/v1/structures") == "https://x.org/optimade/v1"
    assert structures_url("http://x.org/v1.2") == "http://x.org/v1.2"
    for bad in ("ftp://x.org", "x.org", "https://x.org/?filter=a"):
        with pytest.raises(ProviderError):
            structures_url(bad)
