"""Scrapes one model-server target: fetch its native metrics, parse, translate to a snapshot.

Each target is collected with its own deadline, so a hung, slow, refusing or
garbage-returning target never delays /metrics or the other targets. A watchdog shuts
the socket of a response that is still trickling in at its deadline. (Local resources,
the processes, the container and the GPUs, are read by ``collectors/``.)
"""

from __future__ import annotations

import heapq
import itertools
import logging
import socket
import threading
import time
import zlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import __version__, credentials, parser, servers
from .builder import Builder
from .config import TargetConfig
from .limits import LimitExceeded, label_checker
from .plainhttp import Failure, PlainHTTP, decoder, shutdown_socket
from .redaction import scrub
from .snapshot import Result

if TYPE_CHECKING:
    import requests

log = logging.getLogger("inference_exporter.collection")

ACCEPT = "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1"
USER_AGENT = f"inference-exporter/{__version__}"
CHUNK = 64 * 1024
# How often a server whose metrics name no model is asked again which model it serves.
MODEL_NAME_REFRESH_SECONDS = 60.0


class CollectionError(Exception):
    """A failed collection; ``reason`` is the self-metric label."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class Watchdog:
    """One thread that shuts down sockets whose deadline passed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Any]] = []
        self._cancelled: set[int] = set()
        self._ids = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def _ensure_started(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
            self._thread.start()

    def arm(self, deadline: float, action) -> int:
        with self._cond:
            self._ensure_started()
            ident = next(self._ids)
            heapq.heappush(self._heap, (deadline, ident, action))
            self._cond.notify()
            return ident

    def disarm(self, ident: int) -> None:
        with self._cond:
            self._cancelled.add(ident)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    if self._heap:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._stopping:
                    return
                _, ident, action = heapq.heappop(self._heap)
                if ident in self._cancelled:
                    self._cancelled.discard(ident)
                    continue
            try:
                action()
            except Exception:  # noqa: BLE001 - a failed shutdown must not kill the watchdog
                pass


WATCHDOG = Watchdog()

# Parsing and translating hold the GIL, so running more of them at once gains nothing
# and only multiplies the response bodies held in memory; fetching stays concurrent.
PARSE_GATE = threading.BoundedSemaphore(2)


def _socket_of(resp: requests.Response) -> socket.socket | None:
    raw = getattr(resp, "raw", None)
    conn = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    if sock is None:
        fp = getattr(raw, "_fp", None)
        sock = getattr(getattr(getattr(fp, "fp", None), "raw", None), "_sock", None)
    return sock


class HTTPFetcher:
    """GETs a target's URLs with its auth, TLS, timeout and size limit.

    Plain ``http://`` URLs go through ``plainhttp.PlainHTTP`` (the standard library: a fifth of
    the CPU per GET, and no ``requests`` import at start-up); ``https://`` ones through a
    ``requests`` session with the target's TLS settings, made on first use.
    """

    def __init__(self, target: TargetConfig):
        self.target = target
        self._session: requests.Session | None = None
        self._plain: dict[str, PlainHTTP] = {}  # origin -> its connection

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = credentials.https_session(self.target.tls, USER_AGENT)
        return self._session

    def auth_headers(self) -> dict[str, str]:
        """The Authorization header; raises CollectionError("auth") for an unusable secret file."""
        try:
            return credentials.authorization(self.target)
        except credentials.CredentialError as exc:
            raise CollectionError("auth", str(exc)) from None

    def get(self, url: str, timeout: float, accept: str = ACCEPT) -> tuple[bytes, str]:
        """Return (body, content type). Raises CollectionError."""
        deadline = time.monotonic() + timeout
        headers = {"Accept": accept, "Accept-Encoding": "gzip", **self.auth_headers()}
        limit = self.target.limits.body_size_limit
        if url.startswith("http://"):
            slash = url.find("/", 7)
            origin_ = url[: slash if slash != -1 else len(url)]
            plain = self._plain.get(origin_)
            if plain is None:
                plain = self._plain[origin_] = PlainHTTP(url)
            headers["User-Agent"] = USER_AGENT
            try:
                return plain.get(url, timeout, headers, limit)
            except Failure as exc:
                raise CollectionError(exc.reason, str(exc)) from None
        import requests

        try:
            resp = self.session.get(
                url, headers=headers, timeout=(timeout, timeout), stream=True, allow_redirects=False
            )
        except requests.exceptions.Timeout:
            raise CollectionError("timeout", f"no answer within {timeout:g}s") from None
        except requests.exceptions.SSLError as exc:
            raise CollectionError("tls", _first_line(exc)) from None
        except requests.exceptions.ConnectionError as exc:
            raise CollectionError("connection", _connection_message(exc)) from None
        except requests.exceptions.RequestException as exc:
            raise CollectionError("connection", _first_line(exc)) from None
        ident = WATCHDOG.arm(deadline, lambda: shutdown_socket(_socket_of(resp)))
        try:
            if resp.status_code in (401, 403):
                raise CollectionError("auth", f"HTTP {resp.status_code} from target")
            if resp.status_code >= 300:
                raise CollectionError("http_status", f"HTTP {resp.status_code} from target")
            body = bytearray()
            try:
                inflate = decoder(resp.headers.get("Content-Encoding", ""))
            except Failure as exc:
                raise CollectionError(exc.reason, str(exc)) from None
            for chunk in resp.raw.stream(CHUNK, decode_content=False):
                if inflate is not None:
                    # Inflate at most one byte past the limit: a gzip bomb never expands in memory.
                    chunk = inflate.decompress(chunk, limit - len(body) + 1)
                if len(body) + len(chunk) > limit:
                    raise CollectionError(
                        "body_size_limit", f"response larger than body_size_limit ({limit} bytes)"
                    )
                body += chunk
                if time.monotonic() > deadline:
                    raise CollectionError("timeout", f"response not complete within {timeout:g}s")
            if time.monotonic() > deadline:
                raise CollectionError("timeout", f"response not complete within {timeout:g}s")
            return bytes(body), resp.headers.get("Content-Type", "")
        except CollectionError:
            raise
        except zlib.error:
            raise CollectionError("parse", "the response is not valid gzip") from None
        except requests.exceptions.RequestException as exc:
            if time.monotonic() >= deadline:
                raise CollectionError("timeout", f"response not complete within {timeout:g}s") from None
            raise CollectionError("connection", _first_line(exc)) from None
        finally:
            WATCHDOG.disarm(ident)
            resp.close()

    def close(self) -> None:
        for plain in self._plain.values():
            plain.close()
        if self._session is not None:
            self._session.close()


def origin(url: str) -> str:
    """scheme://host:port of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def _connection_message(exc: BaseException) -> str:
    text = str(exc)
    for marker in (
        "Connection refused",
        "Name or service not known",
        "No route to host",
        "Connection reset",
        "Remote end closed connection",
    ):
        if marker in text:
            return marker.lower()
    return _first_line(exc)


class TargetScraper:
    """Fetches and translates one target; keeps per-target parser state."""

    def __init__(self, target: TargetConfig, static: tuple[tuple[str, str], ...] | None = None):
        self.target = target
        self.kind = "" if target.kind == "auto" else target.kind
        self.fetcher = HTTPFetcher(target)
        self.static = target.labels if static is None else static
        self._label_cache = parser.LabelCache()
        self._resets = parser.ResetTracker()
        self._dropped: dict[str, int] = {}  # samples dropped since start, by reason (counters.py)
        self._check_labels = label_checker(target.limits)
        self._counter_floor: dict[str, dict] = {}
        self._keys: dict = {}  # the series keys of the last collection, reused by the next
        self._server: servers.ServerKind | None = None
        self._translator: servers.Translator | None = None
        self._wanted: frozenset[str] | None = None
        self._model_name = ""
        self._model_name_asked = -MODEL_NAME_REFRESH_SECONDS
        if self.kind:
            self._bind(self.kind)

    def _bind(self, kind: str) -> None:
        self._server = servers.get(kind)
        self._translator = self._server.translator(self.target.mapping_file)
        self.kind = kind
        native = self._translator.native
        self._wanted = parser.wanted_names(native) if native else None

    def _get_json(self, path: str, base: str = "") -> Any:
        import json

        base = (base or self.target.api_url or self.target.metrics_url).rstrip("/")
        raw, _ = self.fetcher.get(base + path, self.target.scrape_timeout, accept="application/json")
        body = raw.decode("utf-8", errors="replace")
        try:
            return json.loads(body)
        except ValueError:
            raise CollectionError("parse", f"{path} did not return JSON") from None

    def collect(self) -> Result:
        started = time.time()
        t0 = time.perf_counter()
        try:
            result = self._collect(started)
            self._resets.commit()
        except CollectionError as exc:
            self._resets.rollback()
            result = Result(False, started, 0.0, self.kind, reason=exc.reason, message=scrub(str(exc)))
        except Exception as exc:  # noqa: BLE001 - a target must never crash the exporter
            self._resets.rollback()
            log.debug("adapter failure", exc_info=True)
            result = Result(
                False,
                started,
                0.0,
                self.kind,
                reason="adapter",
                message=scrub(f"{type(exc).__name__}: {_first_line(exc)}"),
            )
        result.duration = time.perf_counter() - t0
        return result

    def _new_builder(self) -> Builder:
        return Builder(
            (("target", self.target.name), ("server", self.kind)),
            self.static,
            self._served_model(),
            keys=self._keys,
        )

    def _served_model(self) -> str:
        """The model a server whose metrics name none serves, asked from its API: at every collection
        until it answers, then every MODEL_NAME_REFRESH_SECONDS; a failed refresh keeps the last name."""
        if self._server is None or self._server.model_name is None:
            return ""
        now = time.monotonic()
        if self._model_name and now - self._model_name_asked < MODEL_NAME_REFRESH_SECONDS:
            return self._model_name
        self._model_name_asked = now
        base = self.target.api_url or origin(self.target.metrics_url)
        try:
            self._model_name = self._server.model_name(lambda path: self._get_json(path, base))
        except (CollectionError, ValueError) as exc:
            log.debug("model name unknown", extra={"target": self.target.name, "err": str(exc)})
        return self._model_name

    def _collect(self, started: float) -> Result:
        t = self.target
        if self._server is not None and self._server.poll is not None:
            out = self._new_builder()
            self._server.poll(self._get_json, out)
            return Result(True, started, 0.0, self.kind, snapshots=(out.finish(),))
        # The body stays bytes until this collection may parse: fifty targets answering at
        # once then hold fifty compact bodies, not fifty decoded texts.
        body, _ctype = self.fetcher.get(t.metrics_url, t.scrape_timeout)
        if self._translator is None:
            with PARSE_GATE:
                text = body.decode("utf-8", errors="replace")
                exp = parser.parse(text, label_cache=self._label_cache)
            kind = servers.detect(text, exp)
            if kind is None:
                if not exp.types and not exp.sample_count:
                    raise CollectionError("parse", "no Prometheus exposition found in the response")
                raise CollectionError(
                    "unknown_kind", "could not tell the server kind from its metrics; set kind:"
                )
            log.info("detected server kind", extra={"target": t.name, "kind": kind})
            self._bind(kind)
            if self._server is not None and self._server.poll is not None:
                return self._collect(started)
            # Parse again with the adapter's wanted set so reset tracking sees the same series.
        with PARSE_GATE:
            return self._translate(body, started)

    def _translate(self, body: bytes, started: float) -> Result:
        # Parsed from the bytes, decoded a megabyte at a time: a big page is never held twice.
        limits = self.target.limits
        try:
            exp = parser.parse(
                body,
                wanted=self._wanted,
                label_cache=self._label_cache,
                resets=self._resets,
                check_labels=self._check_labels,
                sample_limit=limits.sample_limit,
            )
        except LimitExceeded as exc:
            raise CollectionError(exc.reason, str(exc)) from None
        except parser.SampleLimitExceeded:
            raise CollectionError(
                "sample_limit", f"more samples than sample_limit ({limits.sample_limit})"
            ) from None
        if exp.sample_count == 0 and not exp.types and body.strip():
            raise CollectionError("parse", "no Prometheus exposition found in the response")
        for reason, count in self._resets.dropped.items():
            self._dropped[reason] = self._dropped.get(reason, 0) + count
        out = self._new_builder()
        self._translator.translate(exp, out)
        out.hold_counters(self._counter_floor)
        snapshot = out.finish()
        if len(self._keys) > 2 * snapshot.series + 1024:
            self._keys = {}  # many series gone: start over
        return Result(
            True,
            started,
            0.0,
            self.kind,
            snapshots=(snapshot,),
            native_samples=exp.sample_count,
            invalid_lines=exp.invalid_lines,
            dropped=tuple(sorted(self._dropped.items())),
        )

    def close(self) -> None:
        self.fetcher.close()
