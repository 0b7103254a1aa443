"""Health probes of one target, run as their own Source on the target's health schedule.

Each run, with the target's per-call timeout: liveness and readiness of the server,
the model inventory, each model version's readiness, the config API and artifact
checksums against the manifest, and any canary that is due. Results become the
``HEALTH`` series of schema.py; state changes become journal events::

    inference_server_ready{target="ranker",server="mlserver"} 1
    inference_probe_success{target="ranker",server="mlserver",probe="ready"} 1
    inference_model_ready{target="ranker",server="mlserver",model="ranker",version="v2"} 1
    inference_manifest_match{target="ranker",server="mlserver",model="ranker",version="v2",
                             check="version",key="version"} 0
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .. import servers
from ..builder import Builder
from ..config import TargetConfig
from ..journal import Filter, Journal
from ..servers import ApiError, Loaded
from ..snapshot import Snapshot
from .canary import BUCKETS, Canary
from .client import ApiClient
from .inventory import Inventory
from .manifest import ArtifactHasher, ManifestState, check_artifacts, check_config, check_version
from .settings import HealthConfig

log = logging.getLogger("inference_exporter.health")

# The journal events that rebuild a target's state after an exporter restart: its inventory, and the
# last readiness, canary outcome and up/down it reported (so the first check after a restart reports
# the change, e.g. model_ready or canary_recovered, instead of taking the state as new).
INVENTORY_EVENTS = frozenset(("model_loaded", "model_unloaded", "version_changed"))
STATE_EVENTS = frozenset(
    ("model_ready", "model_not_ready", "canary_failed", "canary_recovered", "target_up", "target_down")
)


class FlapDetector:
    """Flags a probe whose result changed ``changes`` times within ``window`` seconds."""

    def __init__(self, changes: int, window: float):
        self.changes, self.window = changes, window
        self._last: dict[str, bool] = {}
        self._flips: dict[str, deque[float]] = {}
        self.flapping: set[str] = set()

    def observe(self, probe: str, ok: bool, now: float) -> bool:
        """Record a result; True when the probe has just started flapping."""
        flips = self._flips.setdefault(probe, deque())
        if probe in self._last and self._last[probe] != ok:
            flips.append(now)
        self._last[probe] = ok
        while flips and flips[0] < now - self.window:
            flips.popleft()
        if len(flips) >= self.changes and probe not in self.flapping:
            self.flapping.add(probe)
            return True
        if not flips:
            self.flapping.discard(probe)
        return False


class HealthChecker:
    def __init__(
        self,
        target: TargetConfig,
        journal: Journal | None = None,
        kind: Callable[[], str] = lambda: "",
        traffic: Callable[[], float | None] = lambda: None,
        seen_models: Callable[[], set[tuple[str, str]]] = lambda: set(),
    ):
        self.target = target
        self.health: HealthConfig = target.health
        self.journal = journal
        self._kind = kind
        self._traffic = traffic
        self._seen_models = seen_models
        self.client = ApiClient(target)
        self.inventory = Inventory(target.name, journal)
        self.manifest = ManifestState(target.name, journal)
        self.hasher = ArtifactHasher()
        self.flaps = FlapDetector(self.health.flap_changes, self.health.flap_window)
        self.canaries = [Canary(target.name, m.name, c, journal) for m in target.models for c in m.canaries]
        self.up: bool | None = None
        self.model_ready: dict[tuple[str, str], bool] = {}
        self.last_check: dict[tuple[str, str], float] = {}
        self.last_success: dict[tuple[str, str], float] = {}
        if journal is not None:
            events = journal.read(Filter(types=INVENTORY_EVENTS | STATE_EVENTS, target=target.name))
            self.inventory.restore(events)
            self._restore(events)

    def _restore(self, events: list[dict]) -> None:
        """The last state this target's journal events report, oldest first."""
        canaries = {c.config.id: c for c in self.canaries}
        for e in events:
            type_ = e.get("type")
            if type_ in ("model_ready", "model_not_ready"):
                self.model_ready[(e.get("model", ""), e.get("version", ""))] = type_ == "model_ready"
            elif type_ in ("canary_failed", "canary_recovered"):
                canary = canaries.get((e.get("details") or {}).get("canary", ""))
                if canary is not None:
                    canary.restored_ok = type_ == "canary_recovered"
            elif type_ in ("target_up", "target_down"):
                self.up = type_ == "target_up"

    def kind(self) -> str:
        kind = self._kind() or self.target.kind
        return "" if kind == "auto" else kind

    def _emit(self, type_: str, now: float, model: str = "", version: str = "", **details) -> None:
        if self.journal is not None:
            self.journal.emit(type_, target=self.target.name, model=model, version=version, ts=now, **details)

    def _probe(self, out: Builder, name: str, path: str, now: float) -> bool | None:
        if not path:
            return None
        answer = self.client.request("GET", path, timeout=self.health.timeout)
        ok = answer.ok
        out.gauge("inference_probe_success", 1 if ok else 0, probe=name)
        out.gauge("inference_probe_duration_seconds", answer.duration, probe=name)
        if self.flaps.observe(name, ok, now):
            self._emit(
                "probe_flapping", now, probe=name, changes=self.flaps.changes, window=self.flaps.window
            )
        return ok

    def _timed(self, out: Builder, name: str, fn: Callable[[], Any], now: float) -> tuple[bool, Any]:
        t0 = time.perf_counter()
        try:
            value, ok = fn(), True
        except ApiError as exc:
            log.debug("probe failed", extra={"target": self.target.name, "probe": name, "err": str(exc)})
            value, ok = None, False
        out.gauge("inference_probe_success", 1 if ok else 0, probe=name)
        out.gauge("inference_probe_duration_seconds", time.perf_counter() - t0, probe=name)
        if self.flaps.observe(name, ok, now):
            self._emit(
                "probe_flapping", now, probe=name, changes=self.flaps.changes, window=self.flaps.window
            )
        return ok, value

    def collect(self) -> Snapshot:
        now = time.time()
        kind = self.kind()
        api = servers.api_for(kind)
        h = self.health
        out = Builder((("target", self.target.name), ("server", kind)), self.target.labels)
        live = ready = None
        if "live" in h.probes:
            live = self._probe(out, "live", h.live_path or api.live, now)
            if live is not None:
                out.gauge("inference_server_live", 1 if live else 0)
        if "ready" in h.probes:
            ready = self._probe(out, "ready", h.ready_path or api.ready, now)
            if ready is not None:
                out.gauge("inference_server_ready", 1 if ready else 0)
        up = ready if ready is not None else live
        self._target_state(up, now)
        loaded = None
        if "models" in h.probes:
            loaded = self._inventory(out, api, up, now)
            # An unknown inventory (the API did not answer) keeps the last one: its models are probed.
            last = [Loaded(m, v) for m, vs in sorted(self.inventory.loaded.items()) for v in sorted(vs)]
            self._models(out, api, loaded if loaded is not None else last, up, now)
        self._manifest(out, api, loaded, now)
        self._canaries(out)
        return out.finish()

    # --- server ------------------------------------------------------------------------
    def _target_state(self, up: bool | None, now: float) -> None:
        if up is None or up == self.up:
            return
        self.up = up
        self._emit("target_up" if up else "target_down", now)
        log.log(
            logging.INFO if up else logging.WARNING,
            "target up" if up else "target down",
            extra={"target": self.target.name},
        )

    # --- models --------------------------------------------------------------------------
    def _declared(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.target.models)

    def _inventory(self, out: Builder, api, up: bool | None, now: float) -> list[Loaded] | None:
        if api.inventory is not None:
            if api.management and not self.health.management_url:
                return None  # TorchServe without management_url: no inventory
            call = self.client.caller(
                self.health.timeout, self.health.management_url if api.management else ""
            )
            ok, loaded = self._timed(out, "models", lambda: api.inventory(call, self._declared()), now)
            if not ok:
                return None  # unknown: keep the last inventory, the target events say why
        elif up is False:
            return None  # a server that is down says nothing about what it has loaded
        else:
            # No model API (BentoML, generic): the models seen in the metrics, else the declared ones.
            seen = self._seen_models()
            loaded = [Loaded(m, v) for m, v in sorted(seen)] or [Loaded(m) for m in self._declared()]
        self.inventory.update(loaded, now)
        return loaded

    def _models(self, out: Builder, api, loaded: list[Loaded], up: bool | None, now: float) -> None:
        seen_models = set()
        for item in dict.fromkeys(loaded):
            key = (item.model, item.version)
            seen_models.add(item.model)
            ready = self._model_ready(api, item, up)
            self.last_check[key] = now
            if ready:
                self.last_success[key] = now
            out.gauge("inference_model_ready", 1 if ready else 0, item.model, item.version)
            out.gauge("inference_model_last_health_check_timestamp_seconds", now, item.model, item.version)
            if key in self.last_success:
                out.gauge(
                    "inference_model_last_probe_success_timestamp_seconds",
                    self.last_success[key],
                    item.model,
                    item.version,
                )
            first = self.inventory.first_seen.get(key)
            if first is not None:
                out.gauge(
                    "inference_model_version_first_seen_timestamp_seconds", first, item.model, item.version
                )
            before = self.model_ready.get(key)
            self.model_ready[key] = ready
            if before is not None and before != ready:
                self._emit("model_ready" if ready else "model_not_ready", now, item.model, item.version)
        for model in sorted(seen_models):
            out.gauge("inference_model_loaded_versions", len(self.inventory.versions(model)), model)
        for spec in self.target.models:
            if spec.name not in seen_models:  # declared but not loaded: not ready, no version loaded
                out.gauge("inference_model_ready", 0, spec.name)
                out.gauge("inference_model_loaded_versions", 0, spec.name)

    def _model_ready(self, api, item: Loaded, up: bool | None) -> bool:
        template = api.model_ready if item.version else api.model_ready_unversioned
        if template:
            path = template.format(model=item.model, version=item.version)
            return self.client.request("GET", path, timeout=self.health.timeout).ok
        if item.ready is not None:
            return item.ready
        return bool(up)

    # --- manifest -------------------------------------------------------------------------
    def _manifest(self, out: Builder, api, loaded: list[Loaded] | None, now: float) -> None:
        for spec in self.target.models:
            versions = (
                sorted({i.version for i in loaded if i.model == spec.name}) if loaded is not None else None
            )
            version = spec.version if versions is None or spec.version in versions else ",".join(versions)
            label_version = version if "," not in version else ""
            results = []
            if versions is not None:
                r = check_version(spec, versions)
                if r is not None:
                    results.append(r)
            if spec.config and "config" in self.health.probes and api.config is not None:
                base = self.health.management_url if api.management else ""
                call = self.client.caller(self.health.timeout, base)
                v = spec.version if spec.version and versions and spec.version in versions else label_version
                ok, cfg = self._timed(
                    out, "config", lambda s=spec, v=v, c=call: api.config(c, s.name, v), now
                )
                results.extend(check_config(spec, cfg if ok else None))
            results.extend(check_artifacts(spec, self.hasher))
            for r in results:
                out.gauge(
                    "inference_manifest_match",
                    1 if r.match else 0,
                    spec.name,
                    label_version,
                    check=r.check,
                    key=r.key,
                )
                if r.check == "config" and r.numeric is not None:
                    out.gauge(
                        "inference_manifest_observed_value", r.numeric, spec.name, label_version, key=r.key
                    )
            self.manifest.record(results, label_version, now)

    # --- canaries ----------------------------------------------------------------------------
    def _canaries(self, out: Builder) -> None:
        if not self.canaries:
            return
        now = time.monotonic()
        total = self._traffic()
        failures: dict[tuple[str, str], float] = {}
        for canary in self.canaries:
            canary.observe_traffic(now, total)
            versions = self.inventory.versions(canary.model)
            version = versions[0] if len(versions) == 1 else ""
            due, _why = canary.due(now)
            if due:
                verdict = canary.run(self.client, version)
                if not verdict.ok:
                    log.warning(
                        "canary failed",
                        extra={
                            "target": self.target.name,
                            "canary": canary.config.id,
                            "reason": verdict.reason,
                        },
                    )
            self._canary_series(out, canary, version)
            if canary.last_failure_wall:
                key = (canary.model, version)
                failures[key] = max(failures.get(key, 0.0), canary.last_failure_wall)
        for (model, version), wall in sorted(failures.items()):
            out.gauge("inference_model_last_canary_failure_timestamp_seconds", wall, model, version)

    def _canary_series(self, out: Builder, canary: Canary, version: str) -> None:
        cid, model = canary.config.id, canary.model
        if canary.last is None:
            return
        out.gauge("inference_canary_success", 1 if canary.last.ok else 0, model, version, canary=cid)
        for (outcome, reason), n in sorted(canary.counts.items()):
            out.counter(
                "inference_canary_requests_total",
                n,
                model,
                version,
                canary=cid,
                outcome=outcome,
                reason=reason,
            )
        for check, score in sorted(canary.last.scores.items()):
            out.gauge("inference_canary_quality_score", score, model, version, canary=cid, check=check)
        out.histogram(
            "inference_canary_duration_seconds",
            list(zip(BUCKETS, canary.buckets, strict=True)),
            canary.sum,
            canary.count,
            model,
            version,
            exemplar=({"canary_id": canary.last_id}, canary.last_duration, canary.last_wall),
            canary=cid,
        )

    def close(self) -> None:
        self.client.close()
