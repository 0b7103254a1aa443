"""Configuration: a typed tree read from YAML and validated in full at start-up.

Every problem is reported as one line naming the file, the line, the key path and
what is wrong, e.g.::

    config.yml:14: targets[1].scrape_timeout: expected a duration like "10s", got "ten"

Secrets (bearer tokens, passwords) are never read into the config: only their file
paths are, and each file is checked to be readable. They are read when a request
is made, so a rotated token is picked up without a restart.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from . import adapters, schema

DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
TARGET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


class ConfigError(Exception):
    """A config problem, already formatted as one line."""


@dataclass(frozen=True)
class TLSConfig:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password_file: str


@dataclass(frozen=True)
class ProcessConfig:
    """How the process collector finds the target's model-server processes (one of three)."""

    pid_file: str = ""
    match: str = ""  # regex on the process name or command line
    container: bool = False  # every process in this container except the exporter


@dataclass(frozen=True)
class TargetConfig:
    name: str
    metrics_url: str
    kind: str = "auto"
    api_url: str = ""
    scrape_interval: float = 15.0
    scrape_timeout: float = 10.0
    stale_after: float = 60.0
    labels: tuple[tuple[str, str], ...] = ()
    bearer_token_file: str = ""
    basic_auth: BasicAuth | None = None
    tls: TLSConfig = field(default_factory=TLSConfig)
    mapping_file: str = ""
    max_response_bytes: int = 20 * 1024 * 1024
    process: ProcessConfig | None = None
    health: Any = None  # health.settings.HealthConfig (probes are off when None)
    models: tuple = ()  # health.settings.ModelSpec: expected versions, config, artifacts, canaries


@dataclass(frozen=True)
class Config:
    path: str
    targets: tuple[TargetConfig, ...]
    labels: tuple[tuple[str, str], ...] = ()
    scrape_interval: float = 15.0  # also the schedule of the local collectors
    sha256: str = ""  # of the file's bytes: a reload of an unchanged file is a no-op


# --- YAML with line numbers ----------------------------------------------------


class _Map(dict):
    """A dict that remembers the line of each key."""

    lines: dict[str, int]
    line: int


class _Seq(list):
    lines: list[int]
    line: int


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Map:
    out = _Map()
    out.lines = {}
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in out:
            raise ConfigError(f"{key_node.start_mark.line + 1}: duplicate key {key!r}")
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = value_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    out.lines = [child.start_mark.line + 1 for child in node.value]
    out.line = node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


# --- validation helpers --------------------------------------------------------


class _Ctx:
    def __init__(self, path: str):
        self.path = path

    def fail(self, line: int | None, key: str, problem: str) -> ConfigError:
        where = f"{self.path}:{line}" if line else self.path
        return ConfigError(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


def parse_duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError
        return float(value)
    if not isinstance(value, str):
        raise ValueError
    m = DURATION_RE.match(value.strip())
    if not m or not any(m.groups()):
        raise ValueError
    h, mins, s, ms = m.groups()
    total = int(h or 0) * 3600 + int(mins or 0) * 60 + float(s or 0) + int(ms or 0) / 1000
    if total <= 0:
        raise ValueError
    return total


def _check_keys(ctx: _Ctx, data: _Map, allowed: set[str], prefix: str) -> None:
    for key in data:
        if key not in allowed:
            hint = _closest(key, allowed)
            extra = f" (did you mean {hint!r}?)" if hint else ""
            raise ctx.fail(data.lines.get(key), f"{prefix}{key}", f"unknown key{extra}")


def _closest(key: str, allowed: set[str]) -> str:
    import difflib

    found = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.7)
    return found[0] if found else ""


def _expect_map(ctx: _Ctx, value: Any, line: int | None, key: str) -> _Map:
    if not isinstance(value, dict):
        raise ctx.fail(line, key, f"expected a mapping, got {_describe(value)}")
    return value  # type: ignore[return-value]


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"{value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _string(ctx: _Ctx, data: _Map, key: str, prefix: str, required: bool = False) -> str:
    if key not in data:
        if required:
            raise ctx.fail(data.line, f"{prefix}{key}", "is required")
        return ""
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise ctx.fail(
            data.lines.get(key), f"{prefix}{key}", f"expected a non-empty string, got {_describe(value)}"
        )
    return value.strip()


def _duration(ctx: _Ctx, data: _Map, key: str, prefix: str, default: float) -> float:
    if key not in data:
        return default
    try:
        return parse_duration(data[key])
    except ValueError:
        raise ctx.fail(
            data.lines.get(key),
            f"{prefix}{key}",
            f'expected a duration like "15s" or "1m", got {_describe(data[key])}',
        ) from None


def _url(ctx: _Ctx, data: _Map, key: str, prefix: str, required: bool) -> str:
    value = _string(ctx, data, key, prefix, required)
    if not value:
        return ""
    line = data.lines.get(key)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ctx.fail(
            line, f"{prefix}{key}", f"expected an http:// or https:// URL with a host, got {value!r}"
        )
    if parts.username or parts.password:
        raise ctx.fail(
            line, f"{prefix}{key}", "credentials in the URL are not allowed: use basic_auth.password_file"
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ctx.fail(line, f"{prefix}{key}", f"bad port in URL {value!r}") from None
    return value


def _readable_file(ctx: _Ctx, data: _Map, key: str, prefix: str, base: Path) -> str:
    value = _string(ctx, data, key, prefix)
    if not value:
        return ""
    path = Path(value)
    if not path.is_absolute():
        path = base / path
    line = data.lines.get(key)
    if not path.is_file():
        raise ctx.fail(line, f"{prefix}{key}", f"file {str(path)!r} does not exist")
    if not os.access(path, os.R_OK):
        raise ctx.fail(line, f"{prefix}{key}", f"file {str(path)!r} is not readable")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise ctx.fail(line, f"{prefix}{key}", f"file {str(path)!r} cannot be read: {exc.strerror}") from None
    return str(path)


def _labels(ctx: _Ctx, data: _Map, key: str, prefix: str) -> tuple[tuple[str, str], ...]:
    if key not in data:
        return ()
    labels = _expect_map(ctx, data[key], data.lines.get(key), f"{prefix}{key}")
    out = []
    for name, value in labels.items():
        line = labels.lines.get(name)
        if not LABEL_NAME_RE.match(name) or name.startswith("__"):
            raise ctx.fail(line, f"{prefix}{key}.{name}", "not a valid Prometheus label name")
        if name in schema.RESERVED_LABELS:
            raise ctx.fail(line, f"{prefix}{key}.{name}", "reserved: the exporter sets this label itself")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ctx.fail(line, f"{prefix}{key}.{name}", f"expected a string value, got {_describe(value)}")
        out.append((name, str(value)))
    return tuple(out)


def _bool(ctx: _Ctx, data: _Map, key: str, prefix: str) -> bool:
    if key not in data:
        return False
    if not isinstance(data[key], bool):
        raise ctx.fail(
            data.lines.get(key), f"{prefix}{key}", f"expected true or false, got {_describe(data[key])}"
        )
    return data[key]


# --- the tree --------------------------------------------------------------------

GLOBAL_KEYS = {"scrape_interval", "scrape_timeout", "stale_after", "labels"}
TARGET_KEYS = {
    "name",
    "kind",
    "metrics_url",
    "api_url",
    "scrape_interval",
    "scrape_timeout",
    "stale_after",
    "labels",
    "bearer_token_file",
    "basic_auth",
    "tls",
    "mapping_file",
    "max_response_bytes",
    "process",
    "health",
    "models",
}
# Servers whose health/model API listens on another port than their metrics.
API_ON_OTHER_PORT = frozenset(("triton", "mlserver", "torchserve", "rayserve"))
PROCESS_KEYS = {"pid_file", "match", "container"}
TLS_KEYS = {"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"}
BASIC_AUTH_KEYS = {"username", "password_file"}


def _target(ctx: _Ctx, raw: Any, line: int, index: int, defaults: dict, base: Path) -> TargetConfig:
    prefix = f"targets[{index}]."
    data = _expect_map(ctx, raw, line, f"targets[{index}]")
    _check_keys(ctx, data, TARGET_KEYS, prefix)
    name = _string(ctx, data, "name", prefix, required=True)
    if not TARGET_NAME_RE.match(name):
        raise ctx.fail(
            data.lines.get("name"), f"{prefix}name", f"{name!r} may use letters, digits and _.:- only"
        )
    kind = _string(ctx, data, "kind", prefix) or "auto"
    if kind not in adapters.KINDS:
        hint = _closest(kind, set(adapters.KINDS))
        extra = f" (did you mean {hint!r}?)" if hint else f" (one of: {', '.join(adapters.KINDS)})"
        raise ctx.fail(data.lines.get("kind"), f"{prefix}kind", f"unknown server kind {kind!r}{extra}")
    metrics_url = _url(ctx, data, "metrics_url", prefix, required=True)
    api_url = _url(ctx, data, "api_url", prefix, required=False)
    interval = _duration(ctx, data, "scrape_interval", prefix, defaults["scrape_interval"])
    timeout = _duration(ctx, data, "scrape_timeout", prefix, min(defaults["scrape_timeout"], interval))
    if timeout > interval:
        raise ctx.fail(
            data.lines.get("scrape_timeout", data.line),
            f"{prefix}scrape_timeout",
            f"{timeout:g}s is longer than scrape_interval {interval:g}s",
        )
    stale_after = _duration(ctx, data, "stale_after", prefix, defaults.get("stale_after") or 4 * interval)
    if stale_after < interval:
        raise ctx.fail(
            data.lines.get("stale_after"),
            f"{prefix}stale_after",
            f"{stale_after:g}s is shorter than scrape_interval {interval:g}s: data would flap",
        )
    labels = dict(defaults["labels"])
    labels.update(_labels(ctx, data, "labels", prefix))
    token_file = _readable_file(ctx, data, "bearer_token_file", prefix, base)
    basic = None
    if "basic_auth" in data:
        bprefix = f"{prefix}basic_auth."
        bdata = _expect_map(ctx, data["basic_auth"], data.lines.get("basic_auth"), f"{prefix}basic_auth")
        _check_keys(ctx, bdata, BASIC_AUTH_KEYS, bprefix)
        basic = BasicAuth(
            _string(ctx, bdata, "username", bprefix, required=True),
            _readable_file(ctx, bdata, "password_file", bprefix, base)
            or _missing(ctx, bdata, "password_file", bprefix),
        )
        if token_file:
            raise ctx.fail(
                data.lines.get("basic_auth"),
                f"{prefix}basic_auth",
                "use either bearer_token_file or basic_auth, not both",
            )
    tls = TLSConfig()
    if "tls" in data:
        tprefix = f"{prefix}tls."
        tdata = _expect_map(ctx, data["tls"], data.lines.get("tls"), f"{prefix}tls")
        _check_keys(ctx, tdata, TLS_KEYS, tprefix)
        tls = TLSConfig(
            ca_file=_readable_file(ctx, tdata, "ca_file", tprefix, base),
            cert_file=_readable_file(ctx, tdata, "cert_file", tprefix, base),
            key_file=_readable_file(ctx, tdata, "key_file", tprefix, base),
            server_name=_string(ctx, tdata, "server_name", tprefix),
            insecure_skip_verify=_bool(ctx, tdata, "insecure_skip_verify", tprefix),
        )
        if bool(tls.cert_file) != bool(tls.key_file):
            raise ctx.fail(tdata.line, f"{prefix}tls", "cert_file and key_file must be given together")
    mapping_file = _readable_file(ctx, data, "mapping_file", prefix, base)
    if kind == "generic":
        if not mapping_file:
            raise ctx.fail(data.line, f"{prefix}mapping_file", "is required for kind generic")
        generic = adapters.get("generic")
        try:
            generic.load_mapping(mapping_file)
        except ValueError as exc:
            raise ConfigError(
                f"{ctx.path}:{data.lines.get('mapping_file')}: {prefix}mapping_file: {exc}"
            ) from None
    elif mapping_file:
        raise ctx.fail(data.lines.get("mapping_file"), f"{prefix}mapping_file", "only used with kind generic")
    max_bytes = 20 * 1024 * 1024
    if "max_response_bytes" in data:
        value = data["max_response_bytes"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1024:
            raise ctx.fail(
                data.lines.get("max_response_bytes"),
                f"{prefix}max_response_bytes",
                f"expected a whole number of bytes >= 1024, got {_describe(value)}",
            )
        max_bytes = value
    process = _process(ctx, data, prefix) if "process" in data else None
    from .health.settings import parse_health, parse_models

    models = parse_models(ctx, data, prefix, base, timeout)
    health = parse_health(ctx, data, prefix, interval, timeout, implied=bool(api_url or models))
    if health.enabled and not api_url and kind in API_ON_OTHER_PORT:
        raise ctx.fail(
            data.line,
            f"{prefix}api_url",
            f"is required for health probes and canaries of kind {kind} (its API is not on the metrics "
            "port); or set health: {enabled: false}",
        )
    return TargetConfig(
        health=health,
        models=models,
        process=process,
        name=name,
        metrics_url=metrics_url,
        kind=kind,
        api_url=api_url,
        scrape_interval=interval,
        scrape_timeout=timeout,
        stale_after=stale_after,
        labels=tuple(sorted(labels.items())),
        bearer_token_file=token_file,
        basic_auth=basic,
        tls=tls,
        mapping_file=mapping_file,
        max_response_bytes=max_bytes,
    )


def _process(ctx: _Ctx, data: _Map, prefix: str) -> ProcessConfig:
    pprefix = f"{prefix}process."
    pdata = _expect_map(ctx, data["process"], data.lines.get("process"), f"{prefix}process")
    _check_keys(ctx, pdata, PROCESS_KEYS, pprefix)
    pid_file = _string(ctx, pdata, "pid_file", pprefix)
    match = _string(ctx, pdata, "match", pprefix)
    container = _bool(ctx, pdata, "container", pprefix)
    if sum((bool(pid_file), bool(match), container)) != 1:
        raise ctx.fail(pdata.line, f"{prefix}process", "set exactly one of pid_file, match, container: true")
    if match:
        try:
            re.compile(match)
        except re.error as exc:
            raise ctx.fail(
                pdata.lines.get("match"), f"{pprefix}match", f"invalid regular expression: {exc}"
            ) from None
    return ProcessConfig(pid_file=pid_file, match=match, container=container)


def _missing(ctx: _Ctx, data: _Map, key: str, prefix: str) -> str:
    raise ctx.fail(data.line, f"{prefix}{key}", "is required")


def load(path: str) -> Config:
    """Read and validate a config file; raises ConfigError with a one-line message."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return loads(text, path)


def loads(text: str, path: str = "<config>") -> Config:
    ctx = _Ctx(path)
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except ConfigError as exc:
        raise ConfigError(f"{path}:{exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        raise ctx.fail(line, "", f"invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ctx.fail(None, "", f"invalid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        raise ctx.fail(None, "", "is empty: expected a mapping with a 'targets' list")
    data = _expect_map(ctx, data, 1, "")
    _check_keys(ctx, data, {"global", "targets"}, "")
    defaults: dict[str, Any] = {
        "scrape_interval": 15.0,
        "scrape_timeout": 10.0,
        "stale_after": 0.0,
        "labels": (),
    }
    global_labels: tuple[tuple[str, str], ...] = ()
    if "global" in data:
        g = _expect_map(ctx, data["global"], data.lines.get("global"), "global")
        _check_keys(ctx, g, GLOBAL_KEYS, "global.")
        defaults["scrape_interval"] = _duration(ctx, g, "scrape_interval", "global.", 15.0)
        defaults["scrape_timeout"] = _duration(
            ctx, g, "scrape_timeout", "global.", min(10.0, defaults["scrape_interval"])
        )
        defaults["stale_after"] = (
            _duration(ctx, g, "stale_after", "global.", 0.0) if "stale_after" in g else 0.0
        )
        global_labels = _labels(ctx, g, "labels", "global.")
        defaults["labels"] = global_labels
    raw_targets = data.get("targets", [])
    if raw_targets is None:
        raw_targets = []
    if not isinstance(raw_targets, list):
        raise ctx.fail(data.lines.get("targets"), "targets", f"expected a list, got {_describe(raw_targets)}")
    base = Path(path).resolve().parent if path != "<config>" else Path.cwd()
    targets = []
    seen: dict[str, int] = {}
    lines = getattr(raw_targets, "lines", [None] * len(raw_targets))
    for i, raw in enumerate(raw_targets):
        target = _target(ctx, raw, lines[i], i, defaults, base)
        if target.name in seen:
            raise ctx.fail(
                raw.lines.get("name"),
                f"targets[{i}].name",
                f"duplicate target name {target.name!r} (first used by targets[{seen[target.name]}])",
            )
        seen[target.name] = i
        targets.append(target)
    return Config(
        path=path,
        targets=tuple(targets),
        labels=global_labels,
        scrape_interval=defaults["scrape_interval"],
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


def redacted(config: Config) -> dict:
    """The running config as plain data for /config, with secret canary bodies replaced."""
    from dataclasses import asdict

    data = asdict(config)
    for target in data["targets"]:
        for model in target.get("models") or ():
            for canary in model.get("canaries") or ():
                if canary.get("secret"):
                    canary["body"] = "<redacted>"
    return data
