"""``inference-exporter events``: print the event journal (read from its folder; the exporter
need not run).

By default it leads with what changed (targets up and down, versions, readiness, manifest,
canary failures and recoveries, reloads) and sums up the routine events (every canary run)
in one line per target and model; ``--type`` or ``--all`` lists them too.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..journal import EVENT_TYPES, ROUTINE_TYPES, Filter, follow, read
from ..validation import closest
from . import ArgumentParser, fail, journal_path_flag


def main(argv: list[str]) -> int:
    p = ArgumentParser(
        prog="inference-exporter events",
        description="Print the event journal (read from its folder; the exporter need not run). "
        "Routine events (every canary run) are summarised unless --type or --all asks for them.",
    )
    journal_path_flag(p)
    p.add_argument("--since", default="", help="unix seconds, RFC 3339 time or an age like 1h")
    p.add_argument(
        "--type",
        action="append",
        default=[],
        help=f"event type (repeat or comma-separate): {', '.join(EVENT_TYPES)}",
    )
    p.add_argument("--all", action="store_true", help="list routine events (every canary run) too")
    p.add_argument("--model", default="")
    p.add_argument("--target", default="")
    p.add_argument("--limit", type=int, default=0, help="only the newest N events")
    p.add_argument("--json", action="store_true", help="print the raw JSON lines (every event)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    args = p.parse_args(argv)
    from ..server import parse_since

    types = frozenset(t for arg in args.type for t in arg.split(",") if t)
    unknown = sorted(types - set(EVENT_TYPES))
    if unknown:
        hint = closest(unknown[0], set(EVENT_TYPES))
        extra = f"did you mean {hint!r}?" if hint else f"one of: {', '.join(EVENT_TYPES)}"
        return fail(f"--type: unknown event type {unknown[0]!r} ({extra})")
    if args.limit < 0:
        return fail("--limit: expected a whole number of at least 1")
    if not Path(args.journal_path).is_dir():
        return fail(f"--journal.path {args.journal_path}: no journal folder there")
    try:
        since = parse_since(args.since) if args.since else 0.0
    except ValueError as exc:
        return fail(str(exc))
    flt = Filter(since=since, types=types, model=args.model, target=args.target)
    listed = set(EVENT_TYPES) if (types or args.all or args.json) else set(EVENT_TYPES) - ROUTINE_TYPES
    show = (lambda e: json.dumps(e, separators=(",", ":"))) if args.json else format_event
    routine: list[dict] = []
    for event in read(args.journal_path, flt, args.limit):
        if event.get("type") in listed:
            print(show(event), flush=True)
        else:
            routine.append(event)
    for line in summarise(routine):
        print(line, flush=True)
    if args.follow:
        try:
            for event in follow(args.journal_path, flt):
                if event.get("type") in listed:
                    print(show(event), flush=True)
        except KeyboardInterrupt:
            return 0
    return 0


def summarise(events: list[dict]) -> list[str]:
    """One line per routine event type, target and model: how many, how many failed, when."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for event in events:
        key = (event.get("type", ""), event.get("target", ""), event.get("model", ""))
        groups.setdefault(key, []).append(event)
    lines = []
    for (type_, target, model), group in sorted(groups.items()):
        failed = sum(1 for e in group if (e.get("details") or {}).get("ok") is False)
        where = " ".join(f"{k}={v}" for k, v in (("target", target), ("model", model)) if v)
        first, last = group[0].get("time", ""), group[-1].get("time", "")
        lines.append(f"{len(group)} x {type_}  {where}  {failed} failed  {first} .. {last}  (--type {type_})")
    return lines


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
