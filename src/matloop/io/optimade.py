"""A client for any OPTIMADE provider: structures with their properties, paged, retried and cached.

OPTIMADE (Andersen et al., Sci. Data 8, 217 (2021)) is the common REST API of Materials Project,
OQMD, AFLOW, COD, Alexandria, NOMAD and others. :func:`fetch_structures` sends one filter (e.g.
``elements HAS ALL "Li","O" AND nelements<=3``) to one or more providers and returns one table:
the structures inline (pymatgen dict JSON, see :mod:`matloop.io.optimade_convert`), each provider's
ids and every property it returned, with provenance (provider, URL, retrieval date).

What makes it usable in practice:

- **Paging** follows ``links.next`` until the provider says there is no more, or ``max_results``
  entries were read (the output says where it stopped and how many the provider holds).
- **Retries** with exponential back-off on network errors, time-outs, 429 and 5xx answers
  (``Retry-After`` honoured, capped); a 4xx answer is not retried: a rejected filter is bad input.
- **Time-outs** on every request, and a cap on the size of one answer (a hostile or broken server
  cannot exhaust memory) and on the number of requests per provider.
- **A local cache** of every page (gzip JSON keyed by the request URL), so a second run with the
  same query works offline; ``refresh=True`` fetches again, ``offline=True`` never touches the network.
- **A clear error per failed provider** (:class:`ProviderError`), collected rather than raised at the
  first one, so one provider being down does not hide what the others answered.

The transport is injectable (a callable ``(url, timeout) -> (status, headers, body)``) so tests can
count or break requests; the default uses the standard library only.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from matloop import progress
from matloop.errors import MatloopError

__all__ = ["OptimadeQuery", "OptimadeResult", "ProviderError", "default_cache_dir", "fetch_structures",
           "structures_url"]

Transport = Callable[[str, float], tuple[int, dict, bytes]]
#: statuses worth another try: rate limits and server-side trouble
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_BODY_BYTES = 256 * 2**20  # one page of answer: more is refused, not read into memory
MAX_WAIT_S = 60.0  # the longest back-off or Retry-After we accept


class ProviderError(MatloopError):
    """One provider could not answer the query; ``bad_input`` when it rejected the query itself (4xx)."""

    def __init__(self, provider: str, message: str, bad_input: bool = False):
        self.provider, self.message, self.bad_input = provider, message, bad_input
        super().__init__(f"{provider}: {message}")


@dataclass(frozen=True)
class OptimadeQuery:
    """One query for one or more providers.

    Parameters
    ----------
    base_urls : tuple of str
        Providers' base URLs (``https://optimade.materialsproject.org`` or with its ``/v1``).
    filter : str
        An OPTIMADE filter; the provider checks its grammar and a rejection is reported as bad input.
    response_fields : tuple of str, optional
        Attributes to ask for; the structure fields are always added. Empty: whatever the provider sends.
    page_size : int
        Entries per request (``page_limit``); providers may send fewer.
    max_results : int
        Stop after this many entries per provider (the output says so when more were available).
    timeout : float
        Seconds to wait for one answer.
    retries : int
        Further tries after a failed request (network error, time-out, 429, 5xx).
    backoff : float
        First wait in seconds between tries; doubled each time (capped at 60 s).
    max_requests : int
        At most this many requests per provider (a guard against endless ``next`` links).
    """

    base_urls: tuple[str, ...]
    filter: str
    response_fields: tuple[str, ...] = ()
    page_size: int = 100
    max_results: int = 10_000
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 1.0
    max_requests: int = 1_000


@dataclass
class OptimadeResult:
    """Rows fetched, per-provider failures and what each provider said about the query."""

    rows: list[dict] = field(default_factory=list)
    errors: list[ProviderError] = field(default_factory=list)
    providers: list[dict] = field(default_factory=list)

    def frame(self):
        """The rows as a pandas DataFrame (structure, ids and provenance first, then properties)."""
        import pandas as pd

        return pd.DataFrame(self.rows)


def structures_url(base_url: str) -> str:
    """The versioned ``.../v1`` base of a provider from what a user types (trailing ``/structures`` too)."""
    text = base_url.strip().rstrip("/")
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ProviderError(base_url, "not an http(s) URL", bad_input=True)
    if parsed.query or parsed.fragment:
        raise ProviderError(base_url, "give the provider's base URL without a query", bad_input=True)
    if text.endswith("/structures"):
        text = text[: -len("/structures")]
    last = text.rsplit("/", 1)[-1]
    if not (last.startswith("v") and last[1:].replace(".", "").isdigit()):
        text += "/v1"
    return text


def default_cache_dir() -> Path:
    """``$MATLOOP_CACHE_DIR/optimade``, else ``$XDG_CACHE_HOME/matloop/optimade`` or ``~/.cache/...``."""
    root = os.environ.get("MATLOOP_CACHE_DIR")
    if root:
        return Path(root) / "optimade"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "matloop" / "optimade"


def _urllib_transport(url: str, timeout: float) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.api+json, application/json",
                                                   "User-Agent": "matloop-optimade-client"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            return response.status, dict(response.headers), _read_capped(response)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {}), _read_capped(exc)


def _read_capped(stream) -> bytes:
    body = stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise ValueError(f"the answer is larger than {MAX_BODY_BYTES // 2**20} MiB")
    return body


class _PageCache:
    """Pages on disk as gzip JSON keyed by the SHA-256 of the request URL (plain data, never pickle)."""

    def __init__(self, folder: Path | None):
        self.folder = folder

    def _path(self, url: str) -> Path:
        return self.folder / f"{hashlib.sha256(url.encode()).hexdigest()[:40]}.json.gz"

    def get(self, url: str) -> tuple[dict, str] | None:
        if self.folder is None or not self._path(url).is_file():
            return None
        try:
            with gzip.open(self._path(url), "rt", encoding="utf-8") as handle:
                record = json.load(handle)
        except (OSError, ValueError, EOFError):
            return None  # a damaged cache file is fetched again
        if not isinstance(record, dict) or record.get("url") != url or not isinstance(record.get("page"), dict):
            return None
        return record["page"], str(record.get("retrieved", ""))

    def put(self, url: str, page: dict, retrieved: str) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self._path(url).with_suffix(f".tmp{os.getpid()}")
        with gzip.open(tmp, "wt", encoding="utf-8") as handle:
            json.dump({"url": url, "retrieved": retrieved, "page": page}, handle)
        tmp.replace(self._path(url))


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _error_detail(body: bytes) -> str:
    """The ``errors[].detail`` (or title) of an OPTIMADE error answer, else the start of the body."""
    try:
        errors = json.loads(body).get("errors") or []
        text = "; ".join(str(e.get("detail") or e.get("title") or e) for e in errors if isinstance(e, dict))
        if text:
            return text
    except (ValueError, AttributeError):
        pass
    return body[:300].decode("utf-8", "replace").strip() or "no details"


class _Fetcher:
    """Requests for one provider: retries, back-off, the request cap and the cache."""

    def __init__(self, provider: str, query: OptimadeQuery, transport: Transport, cache: _PageCache,
                 refresh: bool, offline: bool, sleep: Callable[[float], None]):
        self.provider, self.query, self.transport, self.cache = provider, query, transport, cache
        self.refresh, self.offline, self.sleep, self.requests = refresh, offline, sleep, 0

    def page(self, url: str) -> tuple[dict, str, bool]:
        """(page JSON, retrieval time, from cache)."""
        cached = None if self.refresh else self.cache.get(url)
        if cached is not None:
            return cached[0], cached[1], True
        if self.offline:
            raise ProviderError(self.provider, f"offline and not in the cache: {url}")
        if self.requests >= self.query.max_requests:
            raise ProviderError(self.provider, f"stopped after {self.requests} requests (max_requests)")
        page = self._fetch(url)
        retrieved = _now()
        self.cache.put(url, page, retrieved)
        return page, retrieved, False

    def _fetch(self, url: str) -> dict:
        wait, last = self.query.backoff, "no answer"
        for attempt in range(self.query.retries + 1):
            if attempt:
                progress.say(f"{self.provider}: {last}; retry {attempt}/{self.query.retries} in {wait:.1f} s")
                self.sleep(wait)
                wait = min(wait * 2, MAX_WAIT_S)
            self.requests += 1
            try:
                status, headers, body = self.transport(url, self.query.timeout)
            except (OSError, ValueError) as exc:  # refused, reset, DNS, time-out, too large
                last = _network_reason(exc)
                continue
            if status == 200:
                try:
                    page = json.loads(body)
                except ValueError:
                    raise ProviderError(self.provider, f"the answer to {url} is not JSON") from None
                if not isinstance(page, dict) or not isinstance(page.get("data", []), list):
                    raise ProviderError(self.provider, f"the answer to {url} is not an OPTIMADE page")
                return page
            last = f"HTTP {status}: {_error_detail(body)}"
            if status not in RETRY_STATUSES:
                raise ProviderError(self.provider, last, bad_input=status in (400, 422))
            wait = max(wait, min(_retry_after(headers), MAX_WAIT_S))
        raise ProviderError(self.provider, f"{last} (gave up after {self.query.retries + 1} tries)")


def _network_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return "timed out"
    return f"network error: {reason}"


def _retry_after(headers: dict) -> float:
    value = {k.lower(): v for k, v in headers.items()}.get("retry-after", "")
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return 0.0


def _next_link(page: dict, base: str) -> str | None:
    link = (page.get("links") or {}).get("next")
    if isinstance(link, dict):
        link = link.get("href")
    if not link:
        return None
    link = urllib.parse.urljoin(base + "/", str(link))
    return link if urllib.parse.urlsplit(link).scheme in ("http", "https") else None


def _first_url(base: str, query: OptimadeQuery) -> str:
    params = {"filter": query.filter, "page_limit": str(query.page_size)}
    if query.response_fields:
        wanted = dict.fromkeys((*query.response_fields, "lattice_vectors", "cartesian_site_positions",
                                "species_at_sites", "species", "chemical_formula_reduced", "assemblies"))
        params["response_fields"] = ",".join(wanted)
    return f"{base}/structures?{urllib.parse.urlencode(params, quote_via=urllib.parse.quote)}"


def _provider_name(page: dict, fallback: str) -> str:
    meta = (page.get("meta") or {}).get("provider") or {}
    return str(meta.get("prefix") or meta.get("name") or fallback)


def fetch_structures(query: OptimadeQuery, transport: Transport | None = None, cache_dir: Path | None = None,
                     refresh: bool = False, offline: bool = False,
                     sleep: Callable[[float], None] = time.sleep) -> OptimadeResult:
    """Run ``query`` against every provider; rows and per-provider errors in an :class:`OptimadeResult`.

    Progress (pages, entries so far of the provider's total, retries) goes through
    :mod:`matloop.progress`. ``cache_dir=None`` uses :func:`default_cache_dir`; pass ``Path()``-like
    folders in tests. Nothing is raised for a failed provider: see ``result.errors``.
    """
    result = OptimadeResult()
    cache = _PageCache(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    for given in query.base_urls:
        try:
            base = structures_url(given)
        except ProviderError as exc:
            result.errors.append(exc)
            continue
        fetcher = _Fetcher(given, query, transport or _urllib_transport, cache, refresh, offline, sleep)
        try:
            result.providers.append(_fetch_provider(base, query, fetcher, result.rows))
        except ProviderError as exc:
            result.errors.append(exc)
    return result


def _fetch_provider(base: str, query: OptimadeQuery, fetcher: _Fetcher, rows: list[dict]) -> dict:
    from matloop.io.optimade_convert import entry_row

    url: str | None = _first_url(base, query)
    name, count, available, cached_pages, pages, new_rows = base, 0, None, 0, 0, []
    while url is not None and count < query.max_results:
        page, retrieved, from_cache = fetcher.page(url)
        pages += 1
        cached_pages += from_cache
        if pages == 1:
            name = _provider_name(page, base)
            available = (page.get("meta") or {}).get("data_returned")
        for entry in page.get("data", []):
            if count >= query.max_results:
                break
            if isinstance(entry, dict):
                new_rows.append(entry_row(entry, name, base, retrieved))
                count += 1
        total = f" of {available:,}" if isinstance(available, int) else ""
        progress.say(f"{name}: page {pages}, {count:,}{total} structures{' (cache)' if from_cache else ''}")
        more = (page.get("meta") or {}).get("more_data_available")
        url = _next_link(page, base) if more is not False else None
    rows.extend(new_rows)
    truncated = url is not None or (isinstance(available, int) and available > count)
    return {"provider": name, "url": base, "filter": query.filter, "entries": count, "available": available,
            "stopped_at_max_results": bool(truncated), "pages": pages, "pages_from_cache": cached_pages,
            "retrieved": _now()}
