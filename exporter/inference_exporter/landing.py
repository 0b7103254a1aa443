"""The landing page: every source, its state, its last success and its last error."""

from __future__ import annotations

import time

from . import __version__
from .redaction import redact_url, scrub
from .scheduler import SourceState


def source_rows(states: list[SourceState], now: float | None = None) -> list[dict]:
    """Per-source state for the landing page and the readiness answer."""
    now = time.time() if now is None else now
    rows = []
    for state in states:
        last, ok = state.last, state.last_ok
        if last is None:
            status = "pending"
        elif last.ok:
            status = "up"
        elif state.fresh(now) is not None:
            status = "down (serving last data)"
        else:
            status = "down"
        rows.append(
            {
                "name": state.source.name,
                "kind": state.kind() or "auto",
                "url": redact_url(state.source.url),
                "is_target": state.source.is_target,
                "status": status,
                "age": None if ok is None else now - (ok.started + ok.duration),
                "duration": None if last is None else last.duration,
                "series": ok.series if ok is not None else 0,
                "error": "" if last is None or last.ok else scrub(f"{last.reason}: {last.message}"),
                "collections": state.collections,
            }
        )
    return rows


def _fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.1f}s ago"
    return f"{seconds / 60:.0f}m ago"


def landing_page(rows: list[dict], telemetry_path: str) -> str:
    import html  # here: its entity table is 2 ms of a start that may never serve this page

    cells = []
    for r in rows:
        colour = {"up": "#1a7f37", "pending": "#9a6700"}.get(r["status"], "#cf222e")
        duration = "" if r["duration"] is None else f"{r['duration'] * 1000:.0f} ms"
        cells.append(
            "<tr>"
            f"<td>{html.escape(r['name'])}</td><td>{html.escape(r['kind'])}</td>"
            f"<td style='color:{colour}'>{html.escape(r['status'])}</td>"
            f"<td>{_fmt_age(r['age'])}</td><td>{duration}</td><td>{r['series']}</td>"
            f"<td>{html.escape(r['url'])}</td><td>{html.escape(r['error'])}</td>"
            "</tr>"
        )
    body = "\n".join(cells) or "<tr><td colspan=8>No targets configured.</td></tr>"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>inference-exporter</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}th{{background:#f6f8fa}}</style></head>
<body><h1>inference-exporter {html.escape(__version__)}</h1>
<p><a href="{html.escape(telemetry_path)}">Metrics</a> · <a href="/-/healthy">Health</a> ·
<a href="/-/ready">Readiness</a> · <a href="/events?limit=100">Events</a> · <a href="/config">Config</a></p>
<h2>Sources</h2>
<table><tr><th>Name</th><th>Kind</th><th>State</th><th>Last success</th><th>Last collection</th>
<th>Series</th><th>URL</th><th>Last error</th></tr>
{body}
</table></body></html>
"""
