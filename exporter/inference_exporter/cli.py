"""Command line: run the exporter, check a config, or probe one server once.

    inference-exporter --config.file=config.yml [--web.listen-address=:9072]
    inference-exporter check-config config.yml
    inference-exporter probe http://127.0.0.1:8002/metrics [--kind triton]
    inference-exporter events [--follow] [--since 1h] [--type target_down] [--journal.path DIR]

Bad input gives one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading

from . import __version__, adapters
from . import log as logsetup
from .journal import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, DEFAULT_PATH

DEFAULT_PORT = 9072
RESERVED_PATHS = ("/", "/-/healthy", "/-/ready", "/-/reload", "/events", "/config")
EXIT_USAGE = 2

log = logging.getLogger("inference_exporter.cli")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse would print usage first)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _run_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="inference-exporter",
        description="Prometheus exporter translating model-server metrics into one schema. Subcommands: "
        "check-config FILE, probe URL, events, backtest (run 'inference-exporter SUBCOMMAND --help').",
    )
    p.add_argument(
        "--config.file",
        dest="config_file",
        default="inference-exporter.yml",
        help="path to the YAML config (default: %(default)s)",
    )
    p.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=f":{DEFAULT_PORT}",
        help="address to serve on (default: %(default)s)",
    )
    p.add_argument(
        "--web.telemetry-path",
        dest="telemetry_path",
        default="/metrics",
        help="path of the metrics endpoint (default: %(default)s)",
    )
    collectors = p.add_argument_group("local collectors")
    for name, what in (
        ("process", "the model server's processes (targets with a process: block)"),
        ("container", "this container's cgroup CPU and memory"),
        ("gpu", "NVIDIA GPUs through NVML (off by itself when there is no driver)"),
    ):
        collectors.add_argument(
            f"--collector.{name}",
            dest=f"collector_{name}",
            default=True,
            action=argparse.BooleanOptionalAction,
            help=f"collect {what} (default: on)",
        )
    collectors.add_argument("--path.procfs", dest="procfs", default="/proc", help="procfs mount point")
    collectors.add_argument("--path.sysfs", dest="sysfs", default="/sys", help="sysfs mount (default: /sys)")
    _journal_path_flag(p)
    p.add_argument(
        "--journal.max-bytes",
        dest="journal_max_bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help="rotate a journal segment at this size (default: %(default)s)",
    )
    p.add_argument(
        "--journal.max-files",
        dest="journal_max_files",
        type=int,
        default=DEFAULT_MAX_FILES,
        help="journal segments kept, oldest deleted first (default: %(default)s)",
    )
    p.add_argument(
        "--journal.fsync",
        dest="journal_fsync",
        default="always",
        choices=("always", "never"),
        help="fsync after every event (survives power loss) or leave it to the OS (default: %(default)s)",
    )
    p.add_argument(
        "--log.level", dest="log_level", default="info", choices=("debug", "info", "warn", "error")
    )
    p.add_argument("--log.format", dest="log_format", default="logfmt", choices=("logfmt", "json"))
    p.add_argument("--version", action="version", version=f"inference-exporter {__version__}")
    return p


def _journal_path_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--journal.path",
        dest="journal_path",
        default=DEFAULT_PATH,
        help="folder of the event journal (default: %(default)s)",
    )


def _fail(message: str) -> int:
    sys.stderr.write(f"inference-exporter: {message}\n")
    return EXIT_USAGE


def run(argv: list[str]) -> int:
    args = _run_parser().parse_args(argv)
    if "MALLOC_ARENA_MAX" not in os.environ:
        from .memory import limit_malloc_arenas

        limit_malloc_arenas()
    level = "warning" if args.log_level == "warn" else args.log_level
    logsetup.setup(level, args.log_format)
    if not args.telemetry_path.startswith("/") or args.telemetry_path in RESERVED_PATHS:
        return _fail(f"--web.telemetry-path: expected a path like /metrics, got {args.telemetry_path!r}")
    from .config import ConfigError, load
    from .exporter import CollectorOptions, Exporter
    from .server import make_server, serve_in_thread

    try:
        config = load(args.config_file)
    except ConfigError as exc:
        return _fail(str(exc))
    options = CollectorOptions(
        process=args.collector_process,
        container=args.collector_container,
        gpu=args.collector_gpu,
        cgroup_root=f"{args.sysfs.rstrip('/')}/fs/cgroup",
        proc_root=args.procfs,
    )
    if args.journal_max_bytes < 4096 or args.journal_max_files < 1:
        return _fail("--journal.max-bytes must be at least 4096 and --journal.max-files at least 1")
    from .journal import Journal

    try:
        journal = Journal(
            args.journal_path, args.journal_max_bytes, args.journal_max_files, args.journal_fsync
        )
    except OSError as exc:
        return _fail(f"--journal.path {args.journal_path}: {exc.strerror or exc}")
    if journal.shared:
        log.warning(
            "journal folder in use by another exporter: events will mix; give each its own --journal.path",
            extra={"path": args.journal_path},
        )
    if journal.repaired_bytes:
        log.warning("journal: dropped a torn last line", extra={"bytes": journal.repaired_bytes})
    exporter = Exporter(config, options, journal=journal)
    try:
        server = make_server(exporter, args.listen_address, args.telemetry_path)
    except ValueError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"--web.listen-address {args.listen_address}: cannot listen: {exc.strerror}")
    exporter.start()
    serve_in_thread(server)
    host, port = server.server_address[:2]
    log.info(
        "listening",
        extra={
            "address": f"{host}:{port}",
            "targets": len(config.targets),
            "config": args.config_file,
            "version": __version__,
        },
    )
    done = threading.Event()

    def _stop(signum, _frame):
        log.info("shutting down", extra={"signal": signal.Signals(signum).name})
        done.set()

    def _reload(_signum, _frame):
        # Off the signal handler: a reload waits for old collection threads to end.
        threading.Thread(target=exporter.reload, name="reload", daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, _reload)
    done.wait()
    server.shutdown()
    exporter.stop()
    journal.close()
    return 0


def check_config(argv: list[str]) -> int:
    p = _Parser(
        prog="inference-exporter check-config", description="Validate a config file without starting."
    )
    p.add_argument("file")
    args = p.parse_args(argv)
    from .config import ConfigError, load

    try:
        config = load(args.file)
    except ConfigError as exc:
        return _fail(str(exc))
    print(f"{args.file}: OK ({len(config.targets)} target{'s' if len(config.targets) != 1 else ''})")
    return 0


def probe(argv: list[str]) -> int:
    p = _Parser(
        prog="inference-exporter probe",
        description="Scrape one server once and print its kind and unified metrics per model.",
    )
    p.add_argument("url", help="the server's native metrics URL (for Ollama: its API base URL)")
    p.add_argument("--kind", default="auto", choices=adapters.KINDS)
    p.add_argument("--timeout", default="10s", help="scrape timeout (default: %(default)s)")
    p.add_argument("--mapping-file", default="", help="mapping file for --kind generic")
    p.add_argument("--raw", action="store_true", help="print the unified exposition instead of a table")
    args = p.parse_args(argv)
    from .probe import run_probe

    return run_probe(args.url, args.kind, args.timeout, args.mapping_file, args.raw)


def events(argv: list[str]) -> int:
    p = _Parser(
        prog="inference-exporter events",
        description="Print the event journal (read from its folder; the exporter need not run).",
    )
    _journal_path_flag(p)
    p.add_argument("--since", default="", help="unix seconds, RFC 3339 time or an age like 1h")
    p.add_argument("--type", action="append", default=[], help="event type (repeat or comma-separate)")
    p.add_argument("--model", default="")
    p.add_argument("--target", default="")
    p.add_argument("--limit", type=int, default=0, help="only the newest N events")
    p.add_argument("--json", action="store_true", help="print the raw JSON lines")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    args = p.parse_args(argv)
    from pathlib import Path

    from .journal import Filter, follow, read
    from .server import parse_since

    if not Path(args.journal_path).is_dir():
        return _fail(f"--journal.path {args.journal_path}: no journal folder there")
    try:
        since = parse_since(args.since) if args.since else 0.0
    except ValueError as exc:
        return _fail(str(exc))
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


def backtest(argv: list[str]) -> int:
    from .backtest import main as backtest_main

    return backtest_main(argv)


COMMANDS = {"check-config": check_config, "probe": probe, "events": events, "backtest": backtest}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in COMMANDS:
            return COMMANDS[argv[0]](argv[1:])
        return run(argv)
    except KeyboardInterrupt:
        return 130
