"""Sources: what the scheduler collects, each on its own schedule.

A source is a model-server target (scraped by ``scrape.py``), a target's health probes
(``health/probes.py``), or a local collector (``collectors/``). Whatever it is, its
``collect`` returns a :class:`~inference_exporter.snapshot.Result` and never raises.
:func:`build_sources` lists the sources a config asks for; on a reload, each source whose
config did not change is kept with its threads and state (``Source.config``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import collectors
from .config import Config, TargetConfig
from .exposition import SourceRenderer
from .journal import Journal
from .scrape import TargetScraper
from .snapshot import Result, Snapshot

log = logging.getLogger("inference_exporter.sources")


class Rendering:
    """Renders each collection's snapshots at once, in the collecting thread, and keeps their lines
    and the facts read from them in the Result instead of the snapshots.

    The label strings are kept per identity from one collection to the next, and the values
    become garbage as soon as they are rendered: the exporter holds each source's lines once.
    """

    def __init__(self, collect: Callable[[], Result]):
        self._collect = collect
        self._renderers: dict[tuple, SourceRenderer] = {}

    def __call__(self) -> Result:
        result = self._collect()
        if not result.snapshots:
            return result
        rendered = []
        totals = []
        for snap in result.snapshots:
            renderer = self._renderers.get((snap.identity, snap.static))
            if renderer is None:
                renderer = self._renderers[(snap.identity, snap.static)] = SourceRenderer()
            rendered.append(renderer.render(snap))
            total = snap.total("inference_requests_total")
            if total is not None:
                totals.append(total)
        return dataclasses.replace(
            result,
            snapshots=(),
            rendered=tuple(rendered),
            series=sum(r.series for r in rendered),
            requests_total=sum(totals) if totals else None,
            models=frozenset().union(*(s.models for s in result.snapshots)),
        )


@dataclass
class Source:
    """Something collected on a schedule; ``collect`` returns a Result with its lines rendered."""

    name: str
    interval: float
    stale_after: float
    collect: Callable[[], Result]
    close: Callable[[], None] = lambda: None
    is_target: bool = True
    kind: str = ""
    url: str = ""
    config: Any = None  # what the source was built from; an unchanged one survives a reload


def target_source(target: TargetConfig) -> Source:
    scraper = TargetScraper(target)
    return Source(
        name=target.name,
        interval=target.scrape_interval,
        stale_after=target.stale_after,
        collect=Rendering(scraper.collect),
        close=scraper.close,
        kind=target.kind,
        url=target.metrics_url,
        config=target,
    )


def local_source(
    name: str,
    interval: float,
    collect: Callable[[], list[Snapshot]],
    close: Callable[[], None] = lambda: None,
) -> Source:
    """Wrap a local collector as a Source; a failure is a result, never a crash."""

    def run() -> Result:
        started = time.time()
        t0 = time.perf_counter()
        try:
            snapshots = tuple(collect())
            return Result(True, started, time.perf_counter() - t0, snapshots=snapshots)
        except Exception as exc:  # noqa: BLE001 - a collector bug must not stop the exporter
            log.warning("collector failed", extra={"collector": name, "err": f"{type(exc).__name__}: {exc}"})
            return Result(False, started, time.perf_counter() - t0, reason="collector", message=str(exc))

    return Source(
        name=name,
        interval=interval,
        stale_after=4 * interval,
        collect=Rendering(run),
        close=close,
        is_target=False,
    )


def local_sources(context: collectors.CollectorContext, enabled: frozenset[str]) -> list[Source]:
    """One source per enabled local collector that has something to collect."""
    interval = context.config.scrape_interval
    out = []
    for name, registration in collectors.registrations().items():
        if name not in enabled:
            continue
        collector = registration.build(context)
        if collector is not None:
            out.append(local_source(name, interval, collector.collect, collector.close))
    return out


def locals_key(config: Config) -> tuple:
    """What the local collectors are built from: when it is unchanged, a reload keeps them."""
    return (
        tuple((t.name, t.process, t.labels) for t in config.targets),
        config.labels,
        config.scrape_interval,
    )


def health_source(
    target: TargetConfig,
    journal: Journal | None,
    kind_of: Callable[[str], str],
    last_ok: Callable[[str], Result | None],
) -> Source:
    """The target's health probes and canaries, reading the target's last collection for its
    request total (the canaries' traffic cap) and the models its metrics name."""
    from .health.probes import HealthChecker

    def traffic() -> float | None:
        result = last_ok(target.name)
        return result.requests_total if result is not None else None

    def seen_models() -> set[tuple[str, str]]:
        result = last_ok(target.name)
        return set(result.models) if result is not None else set()

    checker = HealthChecker(
        target, journal, kind=lambda: kind_of(target.name), traffic=traffic, seen_models=seen_models
    )

    def collect() -> list[Snapshot]:
        return [checker.collect()]

    source = local_source(f"health:{target.name}", target.health.interval, collect, checker.close)
    source.config, source.kind, source.url = target, "health", checker.client.base
    return source
