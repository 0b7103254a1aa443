"""Reading YAML with line numbers, and the checks every part of the config shares.

Each check takes a :class:`Context` (the file), a mapping read by :func:`load_yaml` (which
remembers the line of each key), a key and the key path printed before it, and either
returns a clean value or raises :class:`ConfigError` with one line::

    config.yml:14: targets[1].scrape_timeout: expected a duration like "15s" or "1m", got "ten"

``config.py`` (targets, global settings), ``health/settings.py`` (probes) and
``health/models.py`` (models, canaries) build on these; none imports another's internals.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from . import schema
from .durations import MAX_SECONDS, format_duration, parse_duration

LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MAX_FILE_BYTES = 1024 * 1024  # a referenced file (token, password, mapping, certificate) is small
MAX_YAML_NODES = 100_000  # a document's nodes with every alias expanded (a "billion laughs" guard)
MAX_QUOTE = 40  # an error message quotes at most this much of a value


class ConfigError(Exception):
    """A config problem, already formatted as one line."""


class YamlMap(dict):
    """A mapping that remembers the line of each key (``lines``) and its own (``line``)."""

    lines: dict[str, int]
    line: int


class YamlList(list):
    lines: list[int]
    line: int


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> YamlMap:
    out = YamlMap()
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


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> YamlList:
    out = YamlList(loader.construct_object(child, deep=True) for child in node.value)
    out.lines = [child.start_mark.line + 1 for child in node.value]
    out.line = node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


class Context:
    """The file being read: turns (line, key path, problem) into a one-line ConfigError."""

    def __init__(self, path: str, base: Path | None = None):
        self.path = path
        self.base = base if base is not None else Path.cwd()  # relative file paths start here

    def fail(self, line: int | None, key: str, problem: str) -> ConfigError:
        where = f"{self.path}:{line}" if line else self.path
        return ConfigError(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


def _expanded_size(root: yaml.Node) -> int:
    """Nodes in the document with every alias expanded, counted without expanding (memoised)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), MAX_YAML_NODES + 1)
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def load_yaml(ctx: Context, text: str) -> Any:
    """Parse ``text`` into YamlMap/YamlList values; YAML errors become one-line ConfigErrors.

    Aliases are bounded (a few bytes of nested aliases must not expand into gigabytes) and so
    is nesting; no message quotes the text beyond the problem PyYAML names.
    """
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_YAML_NODES:
            raise ctx.fail(None, "", f"more than {MAX_YAML_NODES} values once YAML aliases are expanded")
        return loader.construct_document(node)
    except ConfigError as exc:
        if str(exc).startswith(ctx.path):
            raise
        raise ConfigError(f"{ctx.path}:{exc}") from None
    except RecursionError:
        raise ctx.fail(None, "", "invalid YAML: nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        raise ctx.fail(line, "", f"invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "reason", "") if isinstance(exc, yaml.reader.ReaderError) else ""
        raise ctx.fail(None, "", f"invalid YAML: {problem or type(exc).__name__}") from None
    finally:
        if loader is not None:
            loader.dispose()


def describe(value: Any) -> str:
    """How a value reads in an error message (never more than a short quote)."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return repr(value) if len(value) <= MAX_QUOTE else repr(value[:MAX_QUOTE]) + "..."
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def closest(key: str, allowed: set[str]) -> str:
    found = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.7)
    return found[0] if found else ""


def check_keys(ctx: Context, data: YamlMap, allowed: set[str], prefix: str) -> None:
    for key in data:
        if key not in allowed:
            hint = closest(key, allowed)
            extra = f" (did you mean {hint!r}?)" if hint else ""
            raise ctx.fail(data.lines.get(key), f"{prefix}{key}", f"unknown key{extra}")


def expect_map(ctx: Context, value: Any, line: int | None, key: str) -> YamlMap:
    if not isinstance(value, dict):
        raise ctx.fail(line, key, f"expected a mapping, got {describe(value)}")
    return value  # type: ignore[return-value]


def sub_map(ctx: Context, data: YamlMap, key: str, prefix: str, keys: set[str]) -> YamlMap:
    """The mapping under ``key``, with its keys checked against ``keys``."""
    sub = expect_map(ctx, data[key], data.lines.get(key), f"{prefix}{key}")
    check_keys(ctx, sub, keys, f"{prefix}{key}.")
    return sub


def string(ctx: Context, data: YamlMap, key: str, prefix: str, required: bool = False) -> str:
    if key not in data:
        if required:
            raise ctx.fail(data.line, f"{prefix}{key}", "is required")
        return ""
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise ctx.fail(
            data.lines.get(key), f"{prefix}{key}", f"expected a non-empty string, got {describe(value)}"
        )
    return value.strip()


def required(ctx: Context, data: YamlMap, key: str, prefix: str) -> str:
    raise ctx.fail(data.line, f"{prefix}{key}", "is required")


def duration(
    ctx: Context, data: YamlMap, key: str, prefix: str, default: float, minimum: float = 0.001
) -> float:
    """A duration from ``minimum`` to 100 years: a string in the project's grammar, or a number
    of seconds. NaN, infinities and out-of-range values are refused: a sub-millisecond interval
    would spin a thread, an astronomic one overflow its timer."""
    if key not in data:
        return default
    value = data[key]
    try:
        if isinstance(value, bool):
            raise ValueError
        seconds = float(value) if isinstance(value, (int, float)) else parse_duration(value)
        if not 0 < seconds <= MAX_SECONDS:  # also refuses YAML's .nan and .inf
            raise ValueError
    except (ValueError, OverflowError):
        raise ctx.fail(
            data.lines.get(key),
            f"{prefix}{key}",
            f'expected a duration like "15s" or "1m", got {describe(value)}',
        ) from None
    if seconds < minimum:
        raise ctx.fail(
            data.lines.get(key),
            f"{prefix}{key}",
            f"{format_duration(seconds)} is shorter than the minimum, {format_duration(minimum)}",
        )
    return seconds


def regex(ctx: Context, data: YamlMap, key: str, prefix: str) -> str:
    """A string that compiles as a regular expression; '' when absent."""
    value = string(ctx, data, key, prefix)
    if value:
        try:
            re.compile(value)
        except re.error as exc:
            problem = f"invalid regular expression: {exc}"
            raise ctx.fail(data.lines.get(key), f"{prefix}{key}", problem) from None
    return value


def boolean(ctx: Context, data: YamlMap, key: str, prefix: str) -> bool:
    if key not in data:
        return False
    if not isinstance(data[key], bool):
        raise ctx.fail(
            data.lines.get(key), f"{prefix}{key}", f"expected true or false, got {describe(data[key])}"
        )
    return data[key]


def ratio(ctx: Context, data: YamlMap, key: str, prefix: str, default: float) -> float:
    if key not in data:
        return default
    v = data[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise ctx.fail(
            data.lines.get(key), f"{prefix}{key}", f"expected a number from 0 to 1, got {describe(v)}"
        )
    return float(v)


def integer(ctx: Context, data: YamlMap, key: str, prefix: str, default: int, low: int, high: int) -> int:
    if key not in data:
        return default
    v = data[key]
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise ctx.fail(
            data.lines.get(key),
            f"{prefix}{key}",
            f"expected a whole number from {low} to {high}, got {describe(v)}",
        )
    return v


def sequence(ctx: Context, data: YamlMap, key: str, prefix: str) -> YamlList:
    v = data.get(key)
    if v is None:
        empty = YamlList()
        empty.lines, empty.line = [], data.line
        return empty
    if not isinstance(v, list):
        raise ctx.fail(data.lines.get(key), f"{prefix}{key}", f"expected a list, got {describe(v)}")
    return v  # type: ignore[return-value]


def url_path(ctx: Context, data: YamlMap, key: str, prefix: str, required: bool = False) -> str:
    value = string(ctx, data, key, prefix, required)
    if value and not value.startswith("/"):
        raise ctx.fail(
            data.lines.get(key), f"{prefix}{key}", f"expected a path starting with '/', got {value!r}"
        )
    return value


def url(ctx: Context, data: YamlMap, key: str, prefix: str, required: bool) -> str:
    value = string(ctx, data, key, prefix, required)
    if not value:
        return ""
    line = data.lines.get(key)
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise ctx.fail(line, f"{prefix}{key}", "not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ctx.fail(line, f"{prefix}{key}", "expected an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ctx.fail(
            line, f"{prefix}{key}", "credentials in the URL are not allowed: use basic_auth.password_file"
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ctx.fail(line, f"{prefix}{key}", "bad port in URL") from None
    return value


def file_problem(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Why ``path`` is not a readable regular file of at most ``max_bytes``; "" when it is."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"file {str(path)!r} does not exist"
    except OSError as exc:
        return f"file {str(path)!r} cannot be read: {exc.strerror}"
    if stat.S_ISDIR(st.st_mode):
        return f"{str(path)!r} is a directory, expected a file"
    if not stat.S_ISREG(st.st_mode):
        return f"{str(path)!r} is not a regular file (a device, pipe or socket)"
    if st.st_size > max_bytes:
        return f"file {str(path)!r} is larger than {max_bytes} bytes"
    if not os.access(path, os.R_OK):
        return f"file {str(path)!r} is not readable"
    return ""


def read_limited(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; ConfigError (never quoting them) if not."""
    problem = file_problem(path, max_bytes)
    if problem:
        raise ConfigError(problem)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ConfigError(f"file {str(path)!r} cannot be read: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise ConfigError(f"file {str(path)!r} is larger than {max_bytes} bytes")
    return data


def readable_file(ctx: Context, data: YamlMap, key: str, prefix: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """A path (relative to the config file) to a regular file that can be read, of at most
    ``max_bytes``; never reads its content out."""
    value = string(ctx, data, key, prefix)
    if not value:
        return ""
    path = Path(value)
    if not path.is_absolute():
        path = ctx.base / path
    line = data.lines.get(key)
    problem = file_problem(path, max_bytes)
    if problem:
        raise ctx.fail(line, f"{prefix}{key}", problem)
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise ctx.fail(line, f"{prefix}{key}", f"file {str(path)!r} cannot be read: {exc.strerror}") from None
    return str(path)


def static_labels(ctx: Context, data: YamlMap, key: str, prefix: str) -> tuple[tuple[str, str], ...]:
    """Static labels: valid Prometheus names, none the exporter sets itself, string values."""
    if key not in data:
        return ()
    found = expect_map(ctx, data[key], data.lines.get(key), f"{prefix}{key}")
    out = []
    for name, value in found.items():
        line = found.lines.get(name)
        if not LABEL_NAME_RE.match(name) or name.startswith("__"):
            raise ctx.fail(line, f"{prefix}{key}.{name}", "not a valid Prometheus label name")
        if name in schema.RESERVED_LABELS:
            raise ctx.fail(line, f"{prefix}{key}.{name}", "reserved: the exporter sets this label itself")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ctx.fail(line, f"{prefix}{key}.{name}", f"expected a string value, got {describe(value)}")
        out.append((name, str(value)))
    return tuple(out)
