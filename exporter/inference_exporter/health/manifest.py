"""The declared manifest (expected version, config values, artifact checksums) against what runs.

Each check is a (model, check, key) triple with a match result; a change from match to
mismatch writes ``manifest_mismatch`` and back writes ``manifest_recovered``. A first
result that is already a mismatch is an event too (the deploy went wrong before we
started); a first match is not.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from ..journal import Journal
from .models import ModelSpec


@dataclass(frozen=True)
class CheckResult:
    model: str
    check: str  # version, config, artifact
    key: str
    match: bool
    expected: str
    observed: str
    numeric: float | None = None  # observed value, when a number (inference_manifest_observed_value)


def _same(expected: Any, observed: Any) -> bool:
    if isinstance(expected, bool) or isinstance(observed, bool):
        return str(expected).lower() == str(observed).lower()
    try:
        return float(expected) == float(observed)
    except (TypeError, ValueError):
        return str(expected) == str(observed)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


class ArtifactHasher:
    """sha256 of files, recomputed only when size, mtime or inode change."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple, str]] = {}

    def digest(self, path: str) -> str:
        """The hex digest, or '' when the file cannot be read."""
        try:
            st = os.stat(path)
            stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
            cached = self._cache.get(path)
            if cached and cached[0] == stamp:
                return cached[1]
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1024 * 1024), b""):
                    h.update(block)
            self._cache[path] = (stamp, h.hexdigest())
            return h.hexdigest()
        except OSError:
            self._cache.pop(path, None)
            return ""


def check_version(spec: ModelSpec, loaded: list[str]) -> CheckResult | None:
    if not spec.version:
        return None
    observed = ",".join(loaded)
    return CheckResult(spec.name, "version", "version", spec.version in loaded, spec.version, observed)


def check_config(spec: ModelSpec, config: dict[str, Any] | None) -> list[CheckResult]:
    """``config`` None means the config API could not be read: no results (not a mismatch)."""
    if config is None:
        return []
    out = []
    for key, expected in spec.config:
        observed = config.get(key)
        match = observed is not None and _same(expected, observed)
        out.append(
            CheckResult(
                spec.name,
                "config",
                key,
                match,
                str(expected),
                "" if observed is None else str(observed),
                None if observed is None else _number(observed),
            )
        )
    return out


def check_artifacts(spec: ModelSpec, hasher: ArtifactHasher) -> list[CheckResult]:
    out = []
    for art in spec.artifacts:
        digest = hasher.digest(art.path)
        out.append(
            CheckResult(
                spec.name, "artifact", art.path, digest == art.sha256, art.sha256, digest or "unreadable"
            )
        )
    return out


class ManifestState:
    """Remembers each check's last result to write transition events."""

    def __init__(self, target: str, journal: Journal | None):
        self.target = target
        self.journal = journal
        self.last: dict[tuple[str, str, str], bool] = {}

    def record(self, results: list[CheckResult], version: str, now: float) -> None:
        for r in results:
            key = (r.model, r.check, r.key)
            before = self.last.get(key)
            self.last[key] = r.match
            if self.journal is None or before == r.match or (before is None and r.match):
                continue
            self.journal.emit(
                "manifest_recovered" if r.match else "manifest_mismatch",
                target=self.target,
                model=r.model,
                version=version,
                ts=now,
                check=r.check,
                key=r.key,
                expected=r.expected,
                observed=r.observed,
            )
