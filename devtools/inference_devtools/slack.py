"""Reading what the demo's Slack stand-in received (deploy/local/slack_standin.py's JSON lines).

A message lists its alerts under a heading per alert name (`_InferenceX_: summary`), one
`• *name*` line each; alerts about a pod or device name their instance there, and count here
with model "".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

TITLE = re.compile(r"^\[(FIRING|RESOLVED):(\d+)\] ")
HEADING = re.compile(r"^_(Inference\w+)_")
ITEM = re.compile(r"^• \*([^*]+)\*")


@dataclass(frozen=True)
class Listed:
    """One alert as a message lists it."""

    index: int  # the message's place in the log
    channel: str
    status: str  # FIRING or RESOLVED
    alertname: str
    model: str  # "" for alerts about a pod or a device


def messages(log: Path) -> list[dict]:
    """Every logged message, oldest first (an absent log: none yet)."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def listed(entries: list[dict]) -> list[Listed]:
    """The alerts each message lists, in arrival order."""
    found = []
    for index, entry in enumerate(entries):
        payload = entry["payload"]
        for att in payload.get("attachments") or []:
            m = TITLE.match(att.get("title", ""))
            if not m:
                continue
            alertname = ""
            for line in att.get("text", "").splitlines():
                if heading := HEADING.match(line):
                    alertname = heading.group(1)
                elif item := ITEM.match(line):
                    name = item.group(1)
                    model = "" if ":" in name or name == alertname else name
                    found.append(Listed(index, payload.get("channel", ""), m.group(1), alertname, model))
    return found
