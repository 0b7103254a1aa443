"""HTTP calls to a target's API with its auth, TLS and a per-call timeout.

Reuses the collection's session setup (:class:`~inference_exporter.scrape.HTTPFetcher`),
so probes and canaries authenticate exactly as metric collection does. Error messages
carry the status and path only: never a header, a request body or a response body.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import requests

from ..config import TargetConfig
from ..scrape import CollectionError, HTTPFetcher, origin
from ..servers import ApiError

MAX_BODY = 4 * 1024 * 1024


@dataclass
class Answer:
    status: int  # 0: no answer
    body: bytes
    duration: float
    error: str = ""  # timeout, connection, tls, too_large

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class ApiClient:
    def __init__(self, target: TargetConfig, base_url: str = ""):
        self.target = target
        self.base = (base_url or target.api_url or origin(target.metrics_url)).rstrip("/")
        self._fetcher = HTTPFetcher(target)

    def request(self, method: str, path: str, body: str = "", timeout: float = 5.0, base: str = "") -> Answer:
        headers = {"Accept": "application/json"}
        try:
            headers.update(self._fetcher.auth_headers())
        except (OSError, CollectionError):
            return Answer(0, b"", 0.0, "auth")
        if body:
            headers["Content-Type"] = "application/json"  # KServe v1 rejects anything else
        t0 = time.perf_counter()
        try:
            resp = self._fetcher.session.request(
                method,
                (base or self.base) + path,
                data=body.encode() if body else None,
                headers=headers,
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.Timeout:
            return Answer(0, b"", time.perf_counter() - t0, "timeout")
        except requests.exceptions.SSLError:
            return Answer(0, b"", time.perf_counter() - t0, "tls")
        except requests.exceptions.RequestException:
            return Answer(0, b"", time.perf_counter() - t0, "connection")
        try:
            chunks, size = [], 0
            for chunk in resp.iter_content(64 * 1024):
                size += len(chunk)
                if size > MAX_BODY:
                    return Answer(resp.status_code, b"", time.perf_counter() - t0, "too_large")
                chunks.append(chunk)
                if time.perf_counter() - t0 > timeout:
                    return Answer(0, b"", time.perf_counter() - t0, "timeout")
            return Answer(resp.status_code, b"".join(chunks), time.perf_counter() - t0)
        except requests.exceptions.RequestException:
            elapsed = time.perf_counter() - t0
            return Answer(0, b"", elapsed, "timeout" if elapsed >= timeout else "connection")
        finally:
            resp.close()

    def caller(self, timeout: float, base_url: str = ""):
        """A ``Call`` for a server kind's API readers: (method, path, json) -> JSON, raising ApiError."""
        base = base_url.rstrip("/") if base_url else ""

        def call(method: str, path: str, payload: Any) -> Any:
            body = json.dumps(payload) if payload is not None else ""
            answer = self.request(method, path, body, timeout, base)
            if answer.error:
                raise ApiError(f"{method} {path}: {answer.error}", 0)
            if not answer.ok:
                raise ApiError(f"{method} {path}: HTTP {answer.status}", answer.status)
            try:
                return json.loads(answer.body or b"null")
            except ValueError:
                raise ApiError(f"{method} {path}: not JSON", answer.status) from None

        return call

    def close(self) -> None:
        self._fetcher.close()
