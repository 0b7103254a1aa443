"""Generic adapter: any Prometheus/OpenMetrics server, translated by a user mapping file.

Each target gets its own translator, built from its mapping file once
(``SERVER.translator(target.mapping_file)``).
Never auto-detected. The mapping (YAML; example: ``deploy/examples/generic-mapping.yml``)::

    metrics:
      - native: myserver_requests_total       # native family or sample name
        unified: inference_requests_total     # a serving name of the unified schema
        match: {code: "2.."}                  # optional: regex (full match) per native label
        set: {outcome: success}               # optional: constant unified labels
        labels: {model_name: model}           # optional: native label -> unified label
      - native: myserver_latency_ms           # a histogram (or summary) in milliseconds
        unified: inference_request_duration_seconds
        unit: ms                              # s (default), ms, us or ns
        labels: {model_name: model, model_version: version}

Keys of an entry: ``native`` and ``unified`` (required), ``labels``, ``set``, ``match``,
``unit`` (durations: ``s``/``ms``/``us``/``ns``; the KV ratio: ``ratio``/``percent``) and
``aggregate`` (gauges only: ``sum``, the default, or ``max``, the default for the ratio).
Unified labels are ``model``, ``version`` and the metric's own (``outcome``/``reason`` of
``inference_requests_total``, which needs a constant ``set: {outcome: success|failure}``).
Native labels that are not mapped are folded away (summed, or max for ``aggregate: max``).
A unified histogram reads the native ``_bucket`` series when there are any (bounds
converted to seconds), else the ``_sum``/``_count`` pair of a summary (one ``+Inf``
bucket). ``inference_model_info`` takes model/version from every non-zero sample.
Several entries may feed one unified series: their values are added.
``load_mapping`` validates strictly: every problem is a ``MappingError`` whose message
is one line naming the file, the key path and the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import schema
from ..builder import Builder
from ..parser import Exposition
from ._api import ServerAPI
from ._kind import ServerKind
from ._native import MICROSECONDS, MILLISECONDS, NANOSECONDS, SECONDS, histograms, scaled, summaries

UNITS = {
    "seconds": {"s": SECONDS, "ms": MILLISECONDS, "us": MICROSECONDS, "ns": NANOSECONDS},
    "ratio": {"ratio": 1.0, "percent": 0.01},
}
ENTRY_KEYS = ("native", "unified", "unit", "labels", "set", "match", "aggregate")
OUTCOMES = ("success", "failure")
_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}\Z")


class MappingError(ValueError):
    """A mapping file that cannot be used; the message is one line."""


@dataclass(frozen=True)
class Rule:
    native: str
    metric: schema.Metric
    scale: float
    labels: tuple[tuple[str, str], ...]  # (native label, unified label)
    constants: tuple[tuple[str, str], ...]  # (unified label, value)
    match: tuple[tuple[str, re.Pattern], ...]
    aggregate: str


@dataclass(frozen=True)
class Mapping:
    path: str
    rules: tuple[Rule, ...]


def load_mapping(path: str) -> Mapping:
    """Read and check a mapping file. No message quotes the file beyond a key of its entries:
    pointed at a file that is not a mapping (say /etc/shadow), it says so and nothing more."""
    from ..validation import ConfigError, read_limited

    try:
        document = yaml.safe_load(read_limited(Path(path)).decode("utf-8"))
    except ConfigError as e:
        raise MappingError(f"{path}: {e}") from None
    except UnicodeDecodeError:
        raise MappingError(f"{path}: not UTF-8 text") from None
    except RecursionError:
        raise MappingError(f"{path}: nested too deeply") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "syntax error"
        raise MappingError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_mapping(document, path)


def _shown(key: object) -> str:
    """A key as an error message may show it: a short name, else nothing of the file's text."""
    text = str(key)
    return text if _KEY_RE.match(text) else "a key that is not a name"


def parse_mapping(document: object, path: str = "<mapping>") -> Mapping:
    def fail(keypath: str, problem: str) -> MappingError:
        return MappingError(f"{path}: {keypath}: {problem}")

    if not isinstance(document, dict):
        raise fail("top level", "must be a mapping with a 'metrics' list")
    for key in document:
        if key != "metrics":
            raise fail(_shown(key), "unknown key (the top level takes only 'metrics')")
    entries = document.get("metrics")
    if not isinstance(entries, list) or not entries:
        raise fail("metrics", "must be a non-empty list of entries")
    return Mapping(path, tuple(_rule(entry, f"metrics[{i}]", fail) for i, entry in enumerate(entries)))


def _strings(value: object, keypath: str, fail, check_key, check_value=None) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(keypath, "must be a mapping")
    for k, v in value.items():
        if not isinstance(k, str):
            raise fail(keypath, f"key {k!r} must be a string")
        check_key(k, f"{keypath}.{k}")
        if not isinstance(v, str):
            raise fail(f"{keypath}.{k}", f"must be a string, not {type(v).__name__} (quote it)")
        if check_value is not None:
            check_value(v, f"{keypath}.{k}")
    return value


def _rule(entry: object, at: str, fail) -> Rule:
    if not isinstance(entry, dict):
        raise fail(at, "must be a mapping with 'native' and 'unified'")
    for key in entry:
        if key not in ENTRY_KEYS:
            raise fail(f"{at}.{key}", f"unknown key (use {', '.join(ENTRY_KEYS)})")
    for key in ("native", "unified"):
        if not isinstance(entry.get(key), str):
            raise fail(f"{at}.{key}", "required, must be a string")
    native = entry["native"]
    if not _NAME_RE.match(native):
        raise fail(f"{at}.native", f"{native!r} is not a metric name")
    metric = schema.BY_NAME.get(entry["unified"])
    if metric is None or metric.group != "serving":
        raise fail(f"{at}.unified", f"{entry['unified']!r} is not a serving metric of the unified schema")
    targets = ("model", "version") + metric.labels

    def unified_label(name: str, keypath: str) -> None:
        if name not in targets:
            raise fail(keypath, f"{name!r} is not a label of {metric.name} (use {', '.join(targets)})")

    def native_label(name: str, keypath: str) -> None:
        if not _LABEL_RE.match(name):
            raise fail(keypath, "is not a label name")

    def regex(value: str, keypath: str) -> None:
        try:
            re.compile(value)
        except re.error as e:
            raise fail(keypath, f"bad regular expression: {e}") from None

    labels = _strings(entry.get("labels"), f"{at}.labels", fail, native_label, unified_label)
    constants = _strings(entry.get("set"), f"{at}.set", fail, unified_label)
    match = _strings(entry.get("match"), f"{at}.match", fail, native_label, regex)
    for native_name in (n for n, u in labels.items() if u in constants):
        raise fail(f"{at}.labels.{native_name}", f"{labels[native_name]!r} is also given in 'set'")
    if "outcome" in metric.labels:
        if "outcome" in labels.values():
            raise fail(f"{at}.labels", "'outcome' must be constant: give it in 'set'")
        if constants.get("outcome") not in OUTCOMES:
            raise fail(f"{at}.set.outcome", "required, must be success or failure")
        reason_given = "reason" in constants or "reason" in labels.values()
        if constants["outcome"] == "success" and reason_given:
            raise fail(f"{at}.set.outcome", "a reason applies only to outcome failure")
    units = UNITS.get(metric.unit, {})
    unit = entry.get("unit", next(iter(units), None))
    if "unit" in entry and not units:
        raise fail(f"{at}.unit", f"{metric.name} ({metric.unit or 'no unit'}) takes no unit")
    if unit is not None and unit not in units:
        raise fail(f"{at}.unit", f"{unit!r} is not a unit for {metric.name} (use {', '.join(units)})")
    aggregate = entry.get("aggregate", "max" if metric.unit == "ratio" else "sum")
    if "aggregate" in entry and metric.type != schema.GAUGE:
        raise fail(f"{at}.aggregate", f"applies only to gauges, {metric.name} is a {metric.type}")
    if aggregate not in ("sum", "max"):
        raise fail(f"{at}.aggregate", f"{aggregate!r} must be sum or max")
    return Rule(
        native,
        metric,
        units[unit] if unit is not None else 1.0,
        tuple(labels.items()),
        tuple(constants.items()),
        tuple((k, re.compile(v)) for k, v in match.items()),
        aggregate,
    )


class MappingTranslator:
    """A mapping file bound as a translator (see ``servers.Translator``)."""

    def __init__(self, mapping: Mapping):
        self.mapping = mapping
        self.native = tuple(sorted({rule.native for rule in mapping.rules}))

    def translate(self, exp: Exposition, out: Builder) -> None:
        for rule in self.mapping.rules:
            _translate_rule(rule, exp, out)


def _unified_labels(rule: Rule, labels: dict[str, str]) -> dict[str, str] | None:
    """Unified labels of a native series, or None when ``match`` rejects it."""
    for name, pattern in rule.match:
        if not pattern.fullmatch(labels.get(name, "")):
            return None
    unified = dict(rule.constants)
    for native_name, unified_name in rule.labels:
        unified[unified_name] = labels.get(native_name, "")
    return unified


def _translate_rule(rule: Rule, exp: Exposition, out: Builder) -> None:
    name = rule.metric.name
    if rule.metric.type == schema.HISTOGRAM:
        if exp.samples.get(rule.native + "_bucket"):
            series = [(lbl, b, s, c) for lbl, b, s, c in histograms(exp, rule.native, rule.scale)]
        else:
            series = [(lbl, (), s, c) for lbl, s, c in summaries(exp, rule.native, rule.scale)]
        for labels, buckets, total, count in series:
            unified = _unified_labels(rule, labels)
            if unified is not None:
                out.histogram(name, buckets, total, count, **unified)
        return
    largest: dict[tuple, float] = {}
    for labels, value in exp.get(rule.native):
        unified = _unified_labels(rule, labels)
        if unified is None:
            continue
        if rule.metric.type == schema.INFO:
            if value:
                out.model(unified.get("model", ""), unified.get("version", ""))
        elif rule.metric.type == schema.COUNTER:
            out.counter(name, scaled(value, rule.scale), **unified)
        elif rule.aggregate == "sum":
            out.gauge(name, scaled(value, rule.scale), **unified)
        else:
            key = tuple(sorted(unified.items()))
            largest[key] = max(scaled(value, rule.scale), largest.get(key, float("-inf")))
    for key, value in largest.items():
        out.gauge(name, value, **dict(key))


# API: none known; health probes use the target's own paths (health.live_path, ready_path).
SERVER = ServerKind(
    name="generic",
    configure=lambda mapping_file: MappingTranslator(load_mapping(mapping_file)),
    detection_order=1000,
    api=ServerAPI(),
)
