"""``inference-exporter events``: print the event journal (read from its folder; the exporter
need not run)."""

from __future__ import annotations

import json

from . import ArgumentParser, fail, journal_path_flag


def main(argv: list[str]) -> int:
    p = ArgumentParser(
        prog="inference-exporter events",
        description="Print the event journal (read from its folder; the exporter need not run).",
    )
    journal_path_flag(p)
    p.add_argument("--since", default="", help="unix seconds, RFC 3339 time or an age like 1h")
    p.add_argument("--type", action="append", default=[], help="event type (repeat or comma-separate)")
    p.add_argument("--model", default="")
    p.add_argument("--target", default="")
    p.add_argument("--limit", type=int, default=0, help="only the newest N events")
    p.add_argument("--json", action="store_true", help="print the raw JSON lines")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    args = p.parse_args(argv)
    from pathlib import Path

    from ..journal import Filter, follow, read
    from ..server import parse_since

    if not Path(args.journal_path).is_dir():
        return fail(f"--journal.path {args.journal_path}: no journal folder there")
    try:
        since = parse_since(args.since) if args.since else 0.0
    except ValueError as exc:
        return fail(str(exc))
    types = frozenset(t for arg in args.type for t in arg.split(",") if t)
    flt = Filter(since=since, types=types, model=args.model, target=args.target)
    show = (lambda e: json.dumps(e, separators=(",", ":"))) if args.json else format_event
    for event in read(args.journal_path, flt, args.limit):
        print(show(event), flush=True)
    if args.follow:
        try:
            for event in follow(args.journal_path, flt):
                print(show(event), flush=True)
        except KeyboardInterrupt:
            return 0
    return 0


def format_event(event: dict) -> str:
    """One readable line: time, severity, type, where, then the details as key=value."""
    where = " ".join(f"{k}={event[k]}" for k in ("target", "model", "version") if event.get(k))
    details = " ".join(
        f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in (event.get("details") or {}).items()
    )
    return "  ".join(
        x
        for x in (
            event.get("time", ""),
            f"{event.get('severity', ''):8}",
            event.get("type", ""),
            where,
            details,
        )
        if x
    )
