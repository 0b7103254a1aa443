"""Golden ("canary") requests: send a declared request, check the answer, keep the score.

Checks, in order (the first that fails is the reason): HTTP status, a JSON-path value,
the latency bound, top-K overlap with the expected item ids (ranking and search),
cosine similarity with a reference vector (embeddings), a non-empty answer matching
an optional regex (generative). Every run gets an id, which is the exemplar on
``inference_canary_duration_seconds`` and is written to the journal (``canary_run``),
so a slow canary seen on a dashboard can be found in the journal.

Rate limit: at most once per ``every`` (default 1m) and, with ``max_traffic_ratio``,
never more canaries than that share of the target's requests (from
``inference_requests_total``) over the last ``10 * every`` (at least 10 minutes); with a ratio set and no
traffic figure, no canary is sent.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..journal import Journal
from .client import ApiClient
from .models import CanaryConfig, Expect

WINDOW = 600.0  # seconds of traffic the max_traffic_ratio is measured over, at least
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_STEP_RE = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")


class PathError(LookupError):
    pass


def json_path(doc: Any, path: str) -> Any:
    """A small JSON path: ``outputs[0].data``, ``$.choices[0].message.content``, ``data.0.embedding``."""
    path = path.strip()
    if path.startswith("$"):
        path = path[1:].lstrip(".")
    value = doc
    for name, index in _STEP_RE.findall(path):
        try:
            if index:
                value = value[int(index)]
            elif isinstance(value, list) and name.lstrip("-").isdigit():
                value = value[int(name)]
            else:
                value = value[name]
        except (KeyError, IndexError, TypeError):
            raise PathError(path) from None
    return value


def top_k_overlap(returned: list, expected: tuple, k: int) -> float:
    """Share of the expected top k found among the returned top k (order-insensitive)."""
    want = [str(x) for x in expected[:k]]
    got = {str(x) for x in returned[:k]}
    return sum(1 for x in want if x in got) / len(want) if want else 0.0


def ranked_ids(value: Any) -> list:
    """Item ids best first: a list of ids, of {id, score} objects, or of scores (ids = positions)."""
    if not isinstance(value, list):
        raise PathError("not a list")
    if value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        if any(isinstance(v, float) for v in value):  # scores: rank the positions by score
            return sorted(range(len(value)), key=lambda i: -value[i])
        return list(value)
    if value and all(isinstance(v, dict) for v in value):
        key = next((k for k in ("id", "item_id", "doc_id", "name") if k in value[0]), None)
        score = next((k for k in ("score", "relevance_score", "similarity") if k in value[0]), None)
        if key is None:
            raise PathError("objects without an id field")
        items = sorted(value, key=lambda v: -float(v.get(score, 0))) if score else value
        return [v[key] for v in items]
    return list(value)


def cosine(a: list[float], b: tuple[float, ...]) -> float:
    if len(a) != len(b):
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


@dataclass
class Verdict:
    ok: bool
    reason: str = ""  # status, timeout, connection, json_path, latency, top_k, cosine, answer
    message: str = ""
    scores: dict[str, float] = field(default_factory=dict)


def evaluate(expect: Expect, status: int, body: bytes, duration: float, secret: bool) -> Verdict:
    """Apply the checks; messages never quote a secret canary's answer."""
    scores: dict[str, float] = {}
    if status != expect.status:
        return Verdict(False, "status", f"HTTP {status}, expected {expect.status}")
    doc: Any = None
    if expect.needs_json:
        try:
            doc = json.loads(body)
        except ValueError:
            return Verdict(False, "json_path", "the answer is not JSON")
    if expect.json_path:
        check = expect.json_path
        try:
            value = json_path(doc, check.path)
        except PathError:
            return Verdict(False, "json_path", f"{check.path} not found")
        if check.equals is not None and value != json.loads(check.equals):
            shown = "" if secret else f": got {json.dumps(value)[:80]}, expected {check.equals[:80]}"
            return Verdict(False, "json_path", f"{check.path} differs{shown}")
    verdict = Verdict(True, scores=scores)
    if expect.max_latency and duration > expect.max_latency:
        verdict = Verdict(False, "latency", f"{duration:.3f}s > {expect.max_latency:g}s", scores)
    if expect.top_k:
        top_k = expect.top_k
        try:
            ids = ranked_ids(json_path(doc, top_k.path))
        except PathError:
            return Verdict(False, "top_k", f"{top_k.path} not found or not a ranked list", scores)
        scores["top_k"] = top_k_overlap(ids, top_k.ids, top_k.k)
        if verdict.ok and scores["top_k"] < top_k.min_overlap:
            message = f"overlap {scores['top_k']:.2f} < {top_k.min_overlap:g}"
            verdict = Verdict(False, "top_k", message, scores)
    if expect.embedding:
        embedding = expect.embedding
        try:
            vec = json_path(doc, embedding.path)
            vec = [float(x) for x in vec]
        except (PathError, TypeError, ValueError):
            return Verdict(False, "cosine", f"{embedding.path} not found or not a vector", scores)
        scores["cosine"] = cosine(vec, embedding.reference)
        if verdict.ok and scores["cosine"] < embedding.min_cosine:
            verdict = Verdict(
                False, "cosine", f"cosine {scores['cosine']:.4f} < {embedding.min_cosine:g}", scores
            )
    if expect.answer:
        answer = expect.answer
        try:
            text = json_path(doc, answer.path)
        except PathError:
            return Verdict(False, "answer", f"{answer.path} not found", scores)
        text = text if isinstance(text, str) else ""
        good = bool(text.strip()) and (not answer.regex or re.search(answer.regex, text) is not None)
        scores["answer"] = 1.0 if good else 0.0
        if verdict.ok and not good:
            verdict = Verdict(
                False, "answer", "empty answer" if not text.strip() else "answer does not match", scores
            )
    return verdict


class Canary:
    """One declared canary of one model: its schedule, counters and last result."""

    def __init__(self, target: str, model: str, config: CanaryConfig, journal: Journal | None):
        self.target = target
        self.model = model
        self.config = config
        self.journal = journal
        self.counts: dict[tuple[str, str], int] = {}
        self.buckets = [0] * len(BUCKETS)
        self.sum = 0.0
        self.count = 0
        self.last_run = -math.inf  # monotonic
        self.last: Verdict | None = None
        self.last_id = ""
        self.last_duration = 0.0
        self.last_wall = 0.0
        self.last_failure_wall = 0.0
        self.restored_ok: bool | None = None  # the outcome the journal last reported, before a restart
        self._sent: deque[float] = deque()  # monotonic times of recent sends
        self._traffic: deque[tuple[float, float]] = deque()  # (monotonic, requests total)

    def observe_traffic(self, now: float, total: float | None) -> None:
        if total is not None:
            self._traffic.append((now, total))
        window = max(10 * self.config.every, WINDOW)
        while self._traffic and self._traffic[0][0] < now - window:
            self._traffic.popleft()
        while self._sent and self._sent[0] < now - window:
            self._sent.popleft()

    def due(self, now: float) -> tuple[bool, str]:
        if now - self.last_run < self.config.every:
            return False, "interval"
        ratio = self.config.max_traffic_ratio
        if ratio:
            if len(self._traffic) < 2:
                return False, "traffic_unknown"
            first, last = self._traffic[0][1], self._traffic[-1][1]
            seen = last - first if last >= first else last  # a counter reset: count from zero
            if len(self._sent) + 1 > ratio * (seen + 1):
                return False, "traffic_ratio"
        return True, ""

    def run(self, client: ApiClient, version: str) -> Verdict:
        cfg = self.config
        now = time.monotonic()
        self.last_run = now
        self._sent.append(now)
        run_id = uuid.uuid4().hex[:16]
        answer = client.request(cfg.method, cfg.path, cfg.body, cfg.timeout)
        if answer.error:
            verdict = Verdict(
                False, answer.error if answer.error in ("timeout", "connection") else "connection"
            )
            verdict.message = answer.error
        else:
            verdict = evaluate(cfg.expect, answer.status, answer.body, answer.duration, cfg.secret)
        self._record(run_id, answer.duration, verdict, version)
        return verdict

    def _record(self, run_id: str, duration: float, verdict: Verdict, version: str) -> None:
        wall = time.time()
        outcome = "success" if verdict.ok else "failure"
        key = (outcome, verdict.reason)
        self.counts[key] = self.counts.get(key, 0) + 1
        for i, le in enumerate(BUCKETS):
            if duration <= le:
                self.buckets[i] += 1
        self.sum += duration
        self.count += 1
        was_ok = self.last.ok if self.last is not None else self.restored_ok
        self.last, self.last_id, self.last_duration, self.last_wall = verdict, run_id, duration, wall
        if not verdict.ok:
            self.last_failure_wall = wall
        if self.journal is None:
            return
        common = dict(target=self.target, model=self.model, version=version, ts=wall)
        details = dict(canary=self.config.id, canary_id=run_id, duration=round(duration, 6))
        self.journal.emit(
            "canary_run", **common, **details, ok=verdict.ok, reason=verdict.reason, scores=verdict.scores
        )
        if not verdict.ok and was_ok is not False:
            self.journal.emit(
                "canary_failed", **common, **details, reason=verdict.reason, message=verdict.message
            )
        elif verdict.ok and was_ok is False:
            self.journal.emit("canary_recovered", **common, **details)
