"""Which models and versions a target has loaded, since when, and what changed.

The first-seen time of a version is its deploy time as far as the exporter can tell.
It is restored from the journal at start-up (the last ``model_loaded`` or
``version_changed`` event naming it), so a restart of the exporter neither resets
it nor writes a second "loaded" event for a model that did not change.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..journal import Journal
from ..servers import Loaded


def _split(versions: str) -> list[str]:
    return versions.split(",") if versions else [""]


class Inventory:
    def __init__(self, target: str, journal: Journal | None):
        self.target = target
        self.journal = journal
        self.loaded: dict[str, set[str]] = {}  # model -> versions loaded now
        self.first_seen: dict[tuple[str, str], float] = {}
        self.known = False  # a first inventory was read (or restored)

    def restore(self, events: Iterable[dict]) -> None:
        """Rebuild the last known state from this target's journal events, oldest first."""
        for e in events:
            if e.get("target") != self.target:
                continue
            model, ts, details = e.get("model", ""), float(e.get("ts", 0)), e.get("details") or {}
            if e.get("type") == "model_loaded":
                versions = set(_split(e.get("version", "")))
            elif e.get("type") == "version_changed":
                versions = set(details.get("new") or _split(e.get("version", "")))
            elif e.get("type") == "model_unloaded":
                self.loaded.pop(model, None)
                continue
            else:
                continue
            for v in versions - self.loaded.get(model, set()):
                self.first_seen[(model, v)] = ts
            self.loaded[model] = versions
            self.known = True

    def update(self, loaded: Iterable[Loaded], now: float) -> None:
        current: dict[str, set[str]] = {}
        for item in loaded:
            current.setdefault(item.model, set()).add(item.version)
        for model in sorted(set(current) | set(self.loaded)):
            before, after = self.loaded.get(model, set()), current.get(model, set())
            if before == after:
                continue
            if not before:
                for v in sorted(after):
                    self._emit("model_loaded", model, v, now)
            elif not after:
                self._emit("model_unloaded", model, ",".join(sorted(before)), now)
            else:
                self._emit(
                    "version_changed",
                    model,
                    ",".join(sorted(after)),
                    now,
                    old=sorted(before),
                    new=sorted(after),
                )
        for model, versions in current.items():
            for v in versions:
                self.first_seen.setdefault((model, v), now)
        # Forget first-seen times of versions gone, so a redeploy counts as a new deploy.
        for key in [k for k in self.first_seen if k[1] not in current.get(k[0], set())]:
            del self.first_seen[key]
        self.loaded = current
        self.known = True

    def _emit(self, type_: str, model: str, version: str, now: float, **details) -> None:
        if self.journal is not None:
            self.journal.emit(type_, target=self.target, model=model, version=version, ts=now, **details)

    def versions(self, model: str) -> list[str]:
        return sorted(self.loaded.get(model, ()))
