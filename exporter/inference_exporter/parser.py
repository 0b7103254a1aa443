"""A focused, forgiving parser for the Prometheus text and OpenMetrics formats.

Why not ``prometheus_client.parser``: it parses every label of every line character
by character and raises on the first malformed line. A sidecar must survive whatever
a target sends, and only needs the few families its adapter translates, so this parser

* checks the sample name against the adapter's wanted set *before* touching labels,
* caches parsed label sets per target (the same label strings recur every scrape),
* skips and counts malformed lines instead of failing the whole exposition,
* keeps native names as they are (a counter without ``_total`` stays without it),
* compensates counter resets per native series, so sums over series stay monotonic.

``prometheus_client``'s parser is used as the correctness oracle in the tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from sys import intern

from .counters import ResetTracker

__all__ = ["Exposition", "ResetTracker", "SampleLimitExceeded", "parse", "parse_labels", "wanted_names"]

# The value as an unrolled loop: ``(?:[^"\\]|\\.)*`` kept backtracking state per character
# (200 MB for a 1 MB label value); this form keeps none and is faster.
_LABEL_RE = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"([^"\\]*(?:\\.[^"\\]*)*)"[ \t]*,?')
_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
_ESCAPE_RE = re.compile(r'\\[\\"n]')

# Suffixes under which a native family's samples appear.
_CUMULATIVE_SUFFIXES = ("_total", "_count", "_sum", "_bucket")

LABEL_CACHE_LIMIT = 20000

EMPTY: dict[str, str] = {}


class SampleLimitExceeded(ValueError):
    """More samples than the target's sample_limit."""


class Exposition:
    """Samples grouped by sample name, plus the declared family types."""

    __slots__ = ("samples", "types", "invalid_lines", "sample_count")

    def __init__(self) -> None:
        self.samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        self.types: dict[str, str] = {}
        self.invalid_lines = 0
        self.sample_count = 0

    def get(self, name: str) -> list[tuple[dict[str, str], float]]:
        """Samples of ``name``; a counter's ``_total`` suffix is optional on either side."""
        found = self.samples.get(name)
        if found is not None:
            return found
        if name.endswith("_total"):
            return self.samples.get(name[:-6], [])
        return self.samples.get(name + "_total", [])

    def has(self, name: str) -> bool:
        return bool(self.get(name))


def unescape(value: str) -> str:
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], value)


def parse_labels(text: str) -> dict[str, str] | None:
    """Parse ``a="1",b="2"`` (trailing comma allowed). None when malformed."""
    labels: dict[str, str] = {}
    pos = 0
    for m in _LABEL_RE.finditer(text):
        if m.start() != pos:
            return None
        value = m.group(2)
        # Interned: the same names and values recur across every series of a target.
        labels[intern(m.group(1))] = intern(unescape(value) if "\\" in value else value)
        pos = m.end()
    if text[pos:].strip():
        return None
    return labels


def _label_end(line: str, start: int) -> int:
    """Index of the ``}`` closing the label set that opens at ``start``; -1 if none."""
    end = line.find("}", start)
    if end == -1:
        return -1
    chunk = line[start:end]
    balanced = '"' not in chunk or (chunk.count('"') - chunk.count('\\"')) % 2 == 0
    if balanced and "\\\\" not in chunk:
        return end
    # Slow path: a brace or an escaped backslash inside a quoted value.
    in_quotes = False
    i = start
    n = len(line)
    while i < n:
        c = line[i]
        if in_quotes:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_quotes = False
        elif c == '"':
            in_quotes = True
        elif c == "}":
            return i
        i += 1
    return -1


def parse(
    text: str,
    wanted: Iterable[str] | None = None,
    label_cache: dict[str, tuple] | None = None,
    resets: ResetTracker | None = None,
    check_labels: Callable[[dict[str, str]], None] | None = None,
    sample_limit: int = 0,
) -> Exposition:
    """Parse an exposition. ``wanted`` limits which sample names are kept.

    ``label_cache`` maps a series' ``name{labels}`` text to its parsed labels and
    whether it is cumulative; kept per target, it turns the per-line work into one
    dictionary lookup once the target's series are known. ``check_labels`` sees each label
    set once, when it is parsed (the target's label limits); it raises to fail the parse.
    With ``sample_limit``, parsing stops with SampleLimitExceeded at the first kept sample
    past it, before a cardinality explosion is held in memory.
    """
    exp = Exposition()
    samples = exp.samples
    types = exp.types
    wanted_set = None if wanted is None else (wanted if isinstance(wanted, (set, frozenset)) else set(wanted))
    cache = label_cache if label_cache is not None else {}
    family_type = ""
    family_name = ""
    invalid = 0
    count = 0
    for line in text.split("\n"):
        if not line:
            continue
        first = line[0]
        if first == "#":
            if line.startswith("# TYPE "):
                parts = line.split(None, 3)
                if len(parts) == 4:
                    family_name = parts[2]
                    family_type = parts[3].strip().lower()
                    types[family_name] = family_type
            elif line.startswith("# EOF"):
                break
            continue
        if first == " " or first == "\t":
            line = line.strip()
            if not line or line[0] == "#":
                continue
        brace = line.find("{")
        space = line.find(" ")
        if brace != -1 and (space == -1 or brace < space or line[:brace].strip() == line[:space]):
            name = line[:brace]
            if name[-1:] == " ":
                name = name.rstrip()
            if wanted_set is not None and name not in wanted_set:
                continue
            # Values and timestamps hold no brace, so the last one closes the labels,
            # unless an OpenMetrics exemplar (`` # {...}``) follows the value.
            end = _label_end(line, brace + 1) if "# {" in line else line.rfind("}")
            if end == -1:
                invalid += 1
                continue
            series = line[: end + 1]
            rest = line[end + 1 :]
        else:
            if space == -1:
                space = line.find("\t")
                if space == -1:
                    invalid += 1
                    continue
            name = series = line[:space]
            if wanted_set is not None and name not in wanted_set:
                continue
            rest = line[space + 1 :]
        entry = cache.get(series)
        if entry is None:
            if series is name:
                labels: dict[str, str] | None = EMPTY
                if wanted_set is None and not _NAME_RE.match(name):
                    invalid += 1
                    continue
            else:
                labels = parse_labels(series[brace + 1 : -1])
                if labels is None or (wanted_set is None and not _NAME_RE.match(name)):
                    invalid += 1
                    continue
                if check_labels is not None:
                    check_labels(labels)
            if len(cache) >= LABEL_CACHE_LIMIT:
                cache.clear()
            entry = (labels, _is_cumulative(name, family_name, family_type), series)
            cache[series] = entry
        try:
            value = float(rest)
        except ValueError:
            parts = rest.split()
            try:
                value = float(parts[0]) if parts else None
            except ValueError:
                value = None
            if value is None:
                invalid += 1
                continue
        if resets is not None and entry[1]:
            value = resets.adjust(entry[2], value)  # the cached key: one copy of the text
            if value is None:  # a duplicate, non-finite or negative sample (counters.py)
                continue
        if count == sample_limit and sample_limit:
            raise SampleLimitExceeded(sample_limit)
        lst = samples.get(name)
        if lst is None:
            samples[name] = [(entry[0], value)]
        else:
            lst.append((entry[0], value))
        count += 1
    exp.invalid_lines = invalid
    exp.sample_count = count
    return exp


def _is_cumulative(name: str, family: str, ftype: str) -> bool:
    if not family or not name.startswith(family):
        # No family declared, or a sample outside it: judge by its suffix only.
        return name.endswith("_total")
    suffix = name[len(family) :]
    if ftype == "counter":
        return suffix in ("", "_total")
    if ftype == "histogram":
        return suffix in ("_bucket", "_count", "_sum")
    if ftype == "summary":
        return suffix in ("_count", "_sum")
    return False


def wanted_names(bases: Iterable[str]) -> frozenset[str]:
    """All sample names a set of native family names can appear under."""
    out = set()
    for b in bases:
        out.add(b)
        for suffix in _CUMULATIVE_SUFFIXES:
            out.add(b + suffix)
        if b.endswith("_total"):
            out.add(b[:-6])
    return frozenset(out)
