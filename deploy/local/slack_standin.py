"""A local stand-in for Slack: receives Alertmanager's notifications and shows them.

Accepts POSTs on any path, in either shape Alertmanager sends:

* webhook_configs: ``{"status": "firing", "alerts": [{"labels": ..., "annotations": ...}], ...}``
* slack_configs (pointed at this server as ``api_url``): ``{"channel": ..., "text": ...,
  "attachments": [{"title": ..., "text": ...}]}``

Each message is printed as a few readable lines and appended, with the raw payload,
as one JSON line to the log file. Loopback only.

    python deploy/local/slack_standin.py --port 9095 --log .demo/slack.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MAX_BODY = 1024 * 1024


def render(payload: dict) -> str:
    """A short human-readable text for a webhook or Slack-style payload."""
    if isinstance(payload.get("alerts"), list):
        lines = []
        for alert in payload["alerts"]:
            labels = alert.get("labels", {})
            notes = alert.get("annotations", {})
            where = ", ".join(
                f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "severity")
            )
            head = (
                f"[{alert.get('status', payload.get('status', '?')).upper()}] {labels.get('alertname', '?')}"
            )
            if labels.get("severity"):
                head += f" ({labels['severity']})"
            lines.append(f"{head} {where}".rstrip())
            text = notes.get("summary") or notes.get("description") or ""
            if text:
                lines.append(f"    {text}")
        return "\n".join(lines) or f"[{payload.get('status', '?').upper()}] (no alerts)"
    parts = []
    if payload.get("channel"):
        parts.append(f"#{payload['channel'].lstrip('#')}")
    if payload.get("text"):
        parts.append(str(payload["text"]))
    for att in payload.get("attachments") or []:
        for key in ("pretext", "title", "text"):
            if att.get(key):
                parts.append(str(att[key]).rstrip())
        # Buttons (runbook, dashboard, silence) as the links they open.
        parts += [f"[{a.get('text', '?')}] {a['url']}" for a in att.get("actions") or [] if a.get("url")]
    return "\n    ".join(parts) or json.dumps(payload)[:500]


class Inbox:
    """Appends messages to a JSON-lines file; shared by the request threads."""

    def __init__(self, log: Path, out=sys.stdout):
        self.log = log
        self.out = out
        self.lock = threading.Lock()
        log.parent.mkdir(parents=True, exist_ok=True)

    def receive(self, path: str, payload: dict) -> None:
        kind = "alertmanager-webhook" if "alerts" in payload else "slack"
        text = render(payload)
        entry = {
            "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "path": path,
            "format": kind,
            "text": text,
            "payload": payload,
        }
        with self.lock:
            with open(self.log, "a") as fh:
                fh.write(json.dumps(entry, sort_keys=True) + "\n")
            print(
                f"slack-standin {entry['received_at']} {path}\n  {text.replace(chr(10), chr(10) + '  ')}",
                file=self.out,
                flush=True,
            )


def make_server(inbox: Inbox, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # every message is printed by Inbox already
            pass

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802
            self._answer(200, b"Slack stand-in: POST Alertmanager webhook or Slack JSON here.\n")

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                self._answer(400, b"expected a JSON body up to 1 MiB\n")
                return
            try:
                payload = json.loads(self.rfile.read(length))
            except ValueError:
                self._answer(400, b"body is not JSON\n")
                return
            if not isinstance(payload, dict):
                self._answer(400, b"expected a JSON object\n")
                return
            inbox.receive(self.path, payload)
            self._answer(200, b"ok")  # Slack answers "ok" too

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=9095)
    ap.add_argument("--log", type=Path, default=Path(".demo/slack.jsonl"))
    args = ap.parse_args(argv)
    server = make_server(Inbox(args.log), args.port)
    print(
        f"slack-standin listening on http://127.0.0.1:{server.server_address[1]}/, log {args.log}", flush=True
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
