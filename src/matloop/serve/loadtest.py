"""A load generator for ``matloop serve``: many clients posting results at once, as instruments do.

Used by ``benchmarks/serve_load.py`` and the real-process tests (``tests/serve/test_faults*.py``), and
usable against a lab's own server. :func:`plan_requests` cuts ``n_results`` result rows of a parameter
campaign into requests with ``Idempotency-Key``s, some of them sent twice (the same key: a client
retrying) and some rows sent again under another key (two instruments posting the same result).
:func:`run_load` sends them from ``clients`` threads; a request whose connection fails is retried with
the same key until ``deadline_s`` (so a server killed in the middle and restarted gets them again), and
every acknowledged (201) request is reported with its latency. :func:`start_server` starts
``matloop serve`` as a subprocess on a free loopback port.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field


def result_value(x: int) -> float:
    """The result of parameter setting ``x`` (any deterministic function will do)."""
    return round(((x * 7919) % 1000) / 10.0, 1)


@dataclass
class Request:
    """One POST of results: its key, rows, and the original request it repeats (if any)."""

    key: str
    rows: list[dict]
    group: int  # the original request these rows belong to
    repeat: str = ""  # "", "same key" or "other key"


@dataclass
class Ack:
    key: str
    group: int
    status: int
    latency_s: float
    body: dict
    attempts: int


@dataclass
class LoadReport:
    acks: list[Ack] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def latencies(self) -> list[float]:
        return sorted(a.latency_s for a in self.acks)

    def percentile(self, q: float) -> float:
        lat = self.latencies()
        if not lat:
            return float("nan")
        i = min(len(lat) - 1, max(0, round(q / 100 * (len(lat) - 1))))
        return lat[i]


def plan_requests(n_results: int, per_request: int, n_distinct: int | None = None,
                  same_key_every: int = 10, other_key_every: int = 15) -> list[Request]:
    """Requests carrying ``n_results`` rows in all: ``n_distinct`` different results (setting ``x`` =
    0..n_distinct-1, with ``measurement_id`` ``m<x>``) in requests of ``per_request`` rows, then repeats
    (every ``same_key_every``-th request again with its key, every ``other_key_every``-th under a new
    key) until ``n_results`` rows are planned."""
    n_distinct = n_distinct or int(n_results * 0.9)
    rows = [{"x": x, "y": result_value(x), "measurement_id": f"m{x}"} for x in range(n_distinct)]
    originals = [Request(f"req-{g}", rows[i:i + per_request], g)
                 for g, i in enumerate(range(0, n_distinct, per_request))]
    out = list(originals)
    total = n_distinct
    repeats = ([Request(r.key, r.rows, r.group, "same key") for r in originals[::same_key_every]]
               + [Request(f"again-{r.group}", r.rows, r.group, "other key") for r in originals[::other_key_every]])
    for r in repeats:
        if total >= n_results:
            break
        take = r.rows[:n_results - total]
        if len(take) < len(r.rows):  # a shorter request is a new request, under its own key
            r = Request(f"tail-{r.group}", take, r.group, "other key")
        out.append(r)
        total += len(r.rows)
    # interleave: a repeat goes out while its original may still be in flight
    order = sorted(range(len(out)), key=lambda i: (out[i].group * 7919 + i) % len(out))
    return [out[i] for i in order]


def run_load(base_url: str, token: str, campaign: str, requests: list[Request], clients: int = 16,
             deadline_s: float = 120.0, on_ack=None, timeout_s: float = 30.0) -> LoadReport:
    """Send ``requests`` from ``clients`` threads; retry a request on a connection error (same key)
    until ``deadline_s``. A 4xx/5xx answer is an error (reported, not retried). ``on_ack(report)`` runs
    after each acknowledgement (e.g. to kill the server after some)."""
    import httpx

    todo: queue.Queue = queue.Queue()
    for r in requests:
        todo.put(r)
    report = LoadReport()
    lock = threading.Lock()
    start = time.monotonic()
    url = f"{base_url}/api/campaigns/{campaign}/results"

    def worker():
        with httpx.Client(timeout=timeout_s, headers={"Authorization": f"Bearer {token}"}) as client:
            while True:
                try:
                    req = todo.get_nowait()
                except queue.Empty:
                    return
                attempts = 0
                while True:
                    attempts += 1
                    t0 = time.monotonic()
                    try:
                        resp = client.post(url, json={"rows": req.rows, "source": "load"},
                                           headers={"Idempotency-Key": req.key})
                    except httpx.TransportError as exc:
                        if time.monotonic() - start > deadline_s:
                            with lock:
                                report.errors.append(f"{req.key}: gave up ({exc.__class__.__name__})")
                            break
                        time.sleep(0.2)
                        continue
                    latency = time.monotonic() - t0
                    if resp.status_code in (502, 503) and time.monotonic() - start < deadline_s:
                        time.sleep(0.2)
                        continue
                    with lock:
                        if resp.status_code == 201:
                            report.acks.append(Ack(req.key, req.group, 201, latency, resp.json(), attempts))
                        else:
                            report.errors.append(f"{req.key}: HTTP {resp.status_code} {resp.text[:300]}")
                    if resp.status_code == 201 and on_ack is not None:
                        on_ack(report)
                    break

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report.wall_s = time.monotonic() - start
    return report


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``matloop serve --db URL --port PORT`` in a subprocess (its own process group)."""

    def __init__(self, db: str, port: int | None = None, extra: list[str] | None = None, log_path: str | None = None):
        self.db, self.port, self.extra = db, port or free_port(), list(extra or [])
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, token: str, wait_s: float = 90.0) -> ServerProcess:
        import httpx

        code = "import sys; from matloop.cli.main import main; sys.exit(main(sys.argv[1:]))"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 - kept by the process
        self.proc = subprocess.Popen([sys.executable, "-c", code, "serve", "--db", self.db, "--port", str(self.port),
                                      *self.extra], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        end = time.monotonic() + wait_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"matloop serve exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/api/campaigns", headers={"Authorization": f"Bearer {token}"},
                             timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"matloop serve did not answer within {wait_s} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a power cut."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
