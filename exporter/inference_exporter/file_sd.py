"""Targets from files in Prometheus' file_sd format, re-read when they change.

A fleet's target list is written by a discovery tool or a deployment pipeline, not edited into
the exporter's config. Each ``target_files`` entry of the config names files (globs allowed) in
the format Prometheus' ``file_sd_configs`` read, JSON or YAML::

    [{"targets": ["10.0.3.7:8000", "10.0.3.8:8000"],
      "labels": {"team": "search", "__metrics_path__": "/metrics"}}]

Every address becomes a target with the entry's settings (``kind``, ``scrape_interval``, auth,
labels...); the group's labels are added to its static labels. Meta labels, as in Prometheus:
``__scheme__`` (http or https), ``__metrics_path__`` (default ``/metrics``), and two of ours:
``__target_name__`` (the target's name, else its address) and ``__kind__`` (the server kind,
else the entry's). Other ``__`` labels are dropped. A file that cannot be read or has an error
keeps its last good targets (as Prometheus keeps them) and the problem is logged; so is a group
or target that is wrong, while the rest of the file is used.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import schema, servers
from .config import TARGET_NAME_RE, TargetConfig, TargetFiles
from .validation import LABEL_NAME_RE

log = logging.getLogger("inference_exporter.file_sd")

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10k targets in ms


class FileError(ValueError):
    """A problem with one group or target of a file; the message names it."""


@dataclass
class _File:
    stamp: tuple[int, int] = (-1, -1)  # (mtime_ns, size) when last read
    targets: list[TargetConfig] = field(default_factory=list)  # the last good read


class FileDiscovery:
    """The targets of a config's ``target_files`` entries; :meth:`refresh` re-reads changed files."""

    def __init__(self, entries: tuple[TargetFiles, ...]):
        self.entries = entries
        self._files: dict[tuple[int, str], _File] = {}
        self.errors: dict[str, str] = {}  # path -> the last problem, for the log and /config
        self.refresh()

    @property
    def refresh_interval(self) -> float | None:
        return min((e.refresh_interval for e in self.entries), default=None)

    def refresh(self) -> bool:
        """Re-read every file whose modification time or size changed; True when any did."""
        changed = False
        seen = set()
        for index, entry in enumerate(self.entries):
            for path in _expand(entry.patterns):
                key = (index, path)
                seen.add(key)
                known = self._files.setdefault(key, _File())
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    self._problem(path, "does not exist (no targets from it)")
                    if known.targets:
                        known.targets, known.stamp, changed = [], (-1, -1), True
                    continue
                except OSError as exc:
                    self._problem(path, f"cannot read: {exc.strerror}")
                    continue
                stamp = (st.st_mtime_ns, st.st_size)
                if stamp == known.stamp:
                    continue
                known.stamp = stamp
                try:
                    known.targets = read_file(path, entry)
                    self.errors.pop(path, None)
                except (OSError, ValueError, yaml.YAMLError) as exc:
                    self._problem(path, f"{exc}; keeping its last good targets ({len(known.targets)})")
                changed = True
        for key in set(self._files) - seen:  # a file that went away takes its targets with it
            del self._files[key]
            changed = True
        return changed

    def _problem(self, path: str, problem: str) -> None:
        if self.errors.get(path) != problem:
            log.error("target file problem", extra={"file": path, "err": problem})
        self.errors[path] = problem

    def targets(self) -> list[TargetConfig]:
        """Every discovered target, in file order; a name seen before is skipped (and logged)."""
        out: list[TargetConfig] = []
        names: set[str] = set()
        for (_, path), known in sorted(self._files.items()):
            for target in known.targets:
                if target.name in names:
                    self._problem(path, f"target {target.name!r} is listed twice; the first one is used")
                    continue
                names.add(target.name)
                out.append(target)
        return out


def _expand(patterns: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            out.extend(sorted(glob.glob(pattern)))
        else:
            out.append(pattern)
    return out


def read_file(path: str, entry: TargetFiles) -> list[TargetConfig]:
    """The targets of one file; a wrong group or target is logged and skipped, a wrong file raises."""
    with open(path, "rb") as fh:
        raw = fh.read()
    if path.endswith(".json"):
        try:
            groups = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"invalid JSON: {exc}") from None
    else:
        groups = yaml.load(raw, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    if groups is None:
        return []
    if not isinstance(groups, list):
        raise ValueError("expected a list of target groups")
    out: list[TargetConfig] = []
    for i, group in enumerate(groups):
        try:
            out.extend(targets_of(group, entry.template))
        except FileError as exc:
            log.error("target group skipped", extra={"file": path, "group": i, "err": str(exc)})
    return out


def targets_of(group: Any, template: TargetConfig) -> list[TargetConfig]:
    """The targets one file_sd group names, with the template's settings."""
    if not isinstance(group, dict) or not isinstance(group.get("targets", []), list):
        raise FileError('expected a mapping with a "targets" list')
    labels = group.get("labels") or {}
    if not isinstance(labels, dict):
        raise FileError('"labels" must be a mapping')
    meta = {k: str(v) for k, v in labels.items() if isinstance(k, str) and k.startswith("__")}
    static = dict(template.labels)
    for name, value in labels.items():
        if not isinstance(name, str) or name.startswith("__"):
            continue
        if not LABEL_NAME_RE.match(name) or name in schema.RESERVED_LABELS:
            raise FileError(f"label {name!r} is not a valid static label (reserved or malformed)")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise FileError(f"label {name!r}: expected a string value")
        static[name] = str(value)
    scheme = meta.get("__scheme__", "http")
    if scheme not in ("http", "https"):
        raise FileError(f"__scheme__ {scheme!r}: expected http or https")
    path = meta.get("__metrics_path__", "/metrics")
    if not path.startswith("/"):
        raise FileError(f"__metrics_path__ {path!r}: expected a path starting with '/'")
    kind = meta.get("__kind__", template.kind)
    if kind not in servers.config_kinds():
        raise FileError(f"__kind__ {kind!r} is not a server kind")
    if kind != template.kind and servers.get(kind).configure is not None and not template.mapping_file:
        raise FileError(f"__kind__ {kind!r} needs the entry's mapping_file")
    named = meta.get("__target_name__")
    addresses = group.get("targets") or []
    if named and len(addresses) > 1:
        raise FileError("__target_name__ names one target, but the group lists several")
    out = []
    for address in addresses:
        if not isinstance(address, str) or not address or "/" in address or " " in address:
            raise FileError(f"target {address!r}: expected host:port")
        name = named or address
        if not TARGET_NAME_RE.match(name):
            raise FileError(f"target name {name!r} may use letters, digits and _.:- only")
        out.append(
            dataclasses.replace(
                template,
                name=name,
                metrics_url=f"{scheme}://{address}{path}",
                kind=kind,
                labels=tuple(sorted(static.items())),
            )
        )
    return out
