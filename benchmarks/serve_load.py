"""Load on ``matloop serve``: 16 concurrent clients post 1,000 results in all (issue 18).

A parameter campaign of ``--results`` candidates is created in a fresh SQLite ledger (or a PostgreSQL
URL given with ``--db``); ``matloop serve`` is started as a real process on a free loopback port; the
clients of :mod:`matloop.serve.loadtest` post the results in requests of ``--per-request`` rows, with
an ``Idempotency-Key`` each, some requests sent twice with the same key and some rows again under
another key (about 10 % of the rows are repeats). Reported: p50 / p95 / max latency of acknowledged
requests, throughput (requests and results per second, wall time of the whole load), and the check
that every acknowledged result is in the ledger exactly once.

Writes ``results/serve_load.json`` and ``results/serve_load.md``.

usage: python benchmarks/serve_load.py [--results 1000] [--clients 16] [--per-request 5 1] [--db sqlite|URL ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def one_run(url: str, n: int, clients: int, per_request: int, campaign: str) -> dict:
    from matloop.design.campaign import Campaign
    from matloop.serve import auth, service
    from matloop.serve.db import open_db
    from matloop.serve.loadtest import ServerProcess, plan_requests, run_load

    db = open_db(url)
    token = auth.create_token(db, "experimenter", "load benchmark")[1]
    service.create_campaign(db, campaign, ["y:max"], [{"x": i, "y": None} for i in range(n)], actor="benchmark")
    db.close()
    t0 = time.monotonic()
    server = ServerProcess(url).start(token)
    startup = time.monotonic() - t0
    requests = plan_requests(n, per_request)
    try:
        report = run_load(server.url, token, campaign, requests, clients=clients, deadline_s=600)
    finally:
        server.stop()
    camp = Campaign(campaign, url)
    ids = Counter(json.loads(e)["measurement_id"] for e in camp.ledger.measurements()["extra"])
    camp.ledger.engine.dispose()
    distinct = {f"m{row['x']}" for r in requests for row in r.rows}
    acked = {f"m{row['x']}" for r in requests if r.key in {a.key for a in report.acks} for row in r.rows}
    exactly_once = all(ids.get(i) == 1 for i in acked) and sum(ids.values()) == len(set(ids)) == len(distinct)
    lat = report.latencies()
    return {"results_posted": sum(len(r.rows) for r in requests), "distinct_results": len(distinct),
            "requests": len(requests), "per_request": per_request, "clients": clients,
            "repeats": dict(Counter(r.repeat or "original" for r in requests)),
            "acknowledged": len(report.acks), "errors": report.errors[:5],
            "p50_ms": 1000 * report.percentile(50), "p95_ms": 1000 * report.percentile(95),
            "max_ms": 1000 * lat[-1] if lat else None, "wall_s": report.wall_s,
            "requests_per_s": len(report.acks) / report.wall_s, "results_per_s": sum(
                len(r.rows) for r in requests) / report.wall_s,
            "server_startup_s": startup, "ledger_measurements": sum(ids.values()),
            "every_acknowledged_result_exactly_once": bool(exactly_once)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--per-request", type=int, nargs="+", default=[5, 1])
    parser.add_argument("--db", action="append", metavar="URL",
                        help="a database URL, repeatable; 'sqlite' is a new SQLite file (default: sqlite)")
    parser.add_argument("--out", default=str(HERE / "results" / "serve_load"))
    args = parser.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory(prefix="matloop-serve-load-") as tmp:
        for db, k in [(db, k) for db in args.db or ["sqlite"] for k in args.per_request]:
            url = f"sqlite:///{tmp}/load_{k}.db" if db == "sqlite" else db
            run = one_run(url, args.results, args.clients, k, f"load-{k}-{int(time.time())}")
            run["backend"] = url.split(":", 1)[0].split("+")[0]
            runs.append(run)
            print(f"{run['backend']}, {k} row(s) per request: {run['requests']} requests from {run['clients']} clients, "
                  f"{run['results_posted']} results ({run['distinct_results']} distinct): p50 {run['p50_ms']:.0f} ms, "
                  f"p95 {run['p95_ms']:.0f} ms, {run['requests_per_s']:.1f} requests/s, "
                  f"{run['results_per_s']:.0f} results/s; exactly once: {run['every_acknowledged_result_exactly_once']}",
                  flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    meta = {"python": sys.version.split()[0], "machine": platform.machine(), "cpus": os.cpu_count(),
            "load_average_1min_at_end": load, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=2))
    lines = ["# matloop serve under load", "",
             f"`python benchmarks/serve_load.py` ({meta['date']}; {meta['cpus']} CPUs, 1-min load average "
             f"{load:.1f} at the end: the machine was shared, so latencies are upper bounds).", "",
             "Real `matloop serve` process (uvicorn, one worker) on loopback; clients in threads of the same "
             "machine. Every request carries an Idempotency-Key; some are sent twice with the same key, some "
             "rows again under another key.", "",
             "| ledger | rows/request | clients | requests | results (distinct) | p50 ms | p95 ms | max ms "
             "| requests/s | results/s | every acknowledged result exactly once |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['backend']} | {r['per_request']} | {r['clients']} | {r['requests']} | {r['results_posted']} "
                     f"({r['distinct_results']}) | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['max_ms']:.0f} | "
                     f"{r['requests_per_s']:.1f} | {r['results_per_s']:.0f} | "
                     f"{'yes' if r['every_acknowledged_result_exactly_once'] else 'NO'} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return 0 if all(r["every_acknowledged_result_exactly_once"] and not r["errors"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
