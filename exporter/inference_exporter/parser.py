"""A focused, forgiving parser for the Prometheus text and OpenMetrics formats.

Why not ``prometheus_client.parser``: it parses every label of every line character
by character and raises on the first malformed line. A sidecar must survive whatever
a target sends, and only needs the few families its adapter translates, so this parser

* checks the sample name against the adapter's wanted set *before* touching labels,
* caches parsed label sets per target (the same label strings recur every scrape),
  keeping those of the last collection only, so big targets never thrash the cache,
* skips and counts malformed lines instead of failing the whole exposition,
* keeps native names as they are (a counter without ``_total`` stays without it),
* compensates counter resets per native series, so sums over series stay monotonic.

``prometheus_client``'s parser is used as the correctness oracle in the tests.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Callable, Iterable
from sys import intern

from .counters import ResetTracker

__all__ = [
    "Exposition",
    "LabelCache",
    "ResetTracker",
    "SampleLimitExceeded",
    "COMPILED",
    "parse",
    "parse_labels",
    "parse_python",
    "wanted_names",
]

# The value as an unrolled loop: ``(?:[^"\\]|\\.)*`` kept backtracking state per character
# (200 MB for a 1 MB label value); this form keeps none and is faster.
_LABEL_RE = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"([^"\\]*(?:\\.[^"\\]*)*)"[ \t]*,?')
_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
_ESCAPE_RE = re.compile(r'\\[\\"n]')

# Suffixes under which a native family's samples appear.
_CUMULATIVE_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
_INF = float("inf")


class Labels(dict):
    """A parsed label set: a dict, sorted by name, with room for what readers derive from it: a
    target's label sets recur every collection (:class:`LabelCache`), so ``servers/_native.py``
    keeps a series' key on it, computed once per series."""

    __slots__ = ("key",)


EMPTY: dict[str, str] = Labels()
# A label set without escapes: each value is a plain quoted string (checked before the fast split).
_SIMPLE_LABELS_RE = re.compile(r'(?:[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*",?)*\Z')


class SampleLimitExceeded(ValueError):
    """More samples than the target's sample_limit."""


class Exposition:
    """Samples grouped by sample name, plus the declared family types."""

    __slots__ = ("samples", "types", "invalid_lines", "sample_count", "plans")

    def __init__(self) -> None:
        self.samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        self.types: dict[str, str] = {}
        self.invalid_lines = 0
        self.sample_count = 0
        self.plans: dict = {}  # readers' plans of the layout, kept for the target (LabelCache.plans)

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


class LabelCache:
    """A target's parsed label sets, keyed by their text (``a="1",b="2"``), from one collection to
    the next: the same label texts recur every time, and within a page across families (every
    counter of a vLLM engine has the same labels). Each entry is [labels, mark]; a parse marks
    what it used, and drops the rest when some went unused, so the cache follows the target's
    series, however many, and never thrashes.

    The caches of a process share a budget of ``BUDGET`` entries (about 300 bytes each): a
    sidecar or a target of 100k series is cached whole, while in a fleet of thousands of small
    targets the ones beyond the budget parse their labels each time (a fraction of a
    millisecond per collection) instead of holding 30 KB each.
    """

    BUDGET = 100_000  # checked before each parse: one parse may go past it
    _spent = 0  # entries held by every cache of the process
    _lock = threading.RLock()  # reentrant: __del__ may run inside settle() when GC strikes

    __slots__ = ("entries", "mark", "_held", "order", "plans")

    def __init__(self) -> None:
        self.entries: dict[str, list] = {}
        self.mark = 0
        self._held = 0
        # The compiled parser's [labels, mark, text] in the last page's order (found by their bytes).
        self.order: list[list] = []
        self.plans: dict = {}  # Exposition.plans of this target's pages

    def room(self) -> bool:
        return LabelCache._spent < LabelCache.BUDGET

    def settle(self) -> None:
        """Account for the entries after a parse."""
        with LabelCache._lock:
            LabelCache._spent += len(self.entries) - self._held
            self._held = len(self.entries)

    def __del__(self) -> None:
        with LabelCache._lock:
            LabelCache._spent -= self._held


def unescape(value: str) -> str:
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], value)


def parse_labels(text: str) -> dict[str, str] | None:
    """Parse ``a="1",b="2"`` (trailing comma allowed). None when malformed.

    Names are sorted, so equal label sets iterate alike whatever order the target wrote them in.
    """
    if "\\" not in text and _SIMPLE_LABELS_RE.match(text):
        # No escapes: no value holds a quote, so the quotes alone delimit names and values.
        parts = iter(text.split('"'))
        pairs = [(intern(k.lstrip(",")[:-1]), intern(v)) for k, v in zip(parts, parts, strict=False)]
    else:
        pairs = []
        pos = 0
        for m in _LABEL_RE.finditer(text):
            if m.start() != pos:
                return None
            value = m.group(2)
            # Interned: the same names and values recur across every series of a target.
            pairs.append((intern(m.group(1)), intern(unescape(value) if "\\" in value else value)))
            pos = m.end()
        if text[pos:].strip():
            return None
    pairs.sort()
    return Labels(pairs)


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


def _lines(text: str | bytes, chunk: int = 1 << 20):
    """The lines of TEXT, split a megabyte at a time, so a 20 MB page is never held as one list
    of lines (bytes are decoded a chunk at a time, too)."""
    newline = b"\n" if isinstance(text, (bytes, bytearray)) else "\n"
    start = 0
    while start < len(text):
        end = text.find(newline, start + chunk) if len(text) - start > chunk else -1
        end = len(text) if end == -1 else end + 1
        part = text[start:end]
        yield (part.decode("utf-8", errors="replace") if newline == b"\n" else part).split("\n")
        start = end


def parse_python(
    text: str | bytes,
    wanted: Iterable[str] | None = None,
    label_cache: LabelCache | None = None,
    resets: ResetTracker | None = None,
    check_labels: Callable[[dict[str, str]], None] | None = None,
    sample_limit: int = 0,
) -> Exposition:
    """Parse an exposition (text, or UTF-8 bytes). ``wanted`` limits which sample names are kept.

    ``label_cache``, kept per target, turns parsing a label set the target sent before into one
    dictionary lookup; ``resets`` keeps its cumulative series monotonic and drops the samples
    that would corrupt them (counters.py). ``check_labels`` sees each label set once, when it is
    parsed (the target's label limits); it raises to fail the parse. With ``sample_limit``,
    parsing stops with SampleLimitExceeded at the first kept sample past it, before a
    cardinality explosion is held in memory.
    """
    exp = Exposition()
    samples = exp.samples
    types = exp.types
    wanted_set, cache, room, mark = _begin(wanted, label_cache)
    if label_cache is not None:
        label_cache.order = []  # this page may drop entries the compiled parser's order holds
    marked = 0  # cache entries this parse used
    cumulative: dict[str, bool] = {}  # sample name -> whether its family is cumulative
    family_type = ""
    family_name = ""
    invalid = 0
    count = 0
    last_name = ""
    name_hash = 0
    lst: list = []
    is_cumulative = False
    if resets is not None:  # the tracker's state, inlined below (per series, this loop is the cost)
        keys, lasts, new_keys, new_values = resets._keys, resets._last, resets._new_keys, resets._new
        offsets = resets._offset
        adjust = resets.adjust
        position = len(new_keys)
        seen = resets.seen
    else:
        adjust = None
    for lines in _lines(text):
        for line in lines:
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
                inner = line[brace + 1 : end]
                rest = line[end + 1 :]
            else:
                if space == -1:
                    space = line.find("\t")
                    if space == -1:
                        invalid += 1
                        continue
                name = line[:space]
                if wanted_set is not None and name not in wanted_set:
                    continue
                inner = ""
                rest = line[space + 1 :]
            if name != last_name:
                known = cumulative.get(name)
                if known is None:
                    if wanted_set is None and not _NAME_RE.match(name):
                        invalid += 1
                        continue
                    known = cumulative[name] = _is_cumulative(name, family_name, family_type)
                # After the name is found valid: an invalid one must not change the key of the
                # series before it (a duplicate of it would pass for a new series).
                name_hash = hash(name)
                is_cumulative = known
                lst = samples.get(name)
                if lst is None:
                    lst = samples[name] = []
                last_name = name
            if inner:
                entry = cache.get(inner)
                if entry is None:
                    labels = parse_labels(inner)
                    if labels is None:
                        invalid += 1
                        continue
                    if check_labels is not None:
                        check_labels(labels)
                    if room:
                        cache[inner] = [labels, mark]
                        marked += 1
                else:
                    labels = entry[0]
                    if entry[1] != mark:
                        entry[1] = mark
                        marked += 1
            else:
                labels = EMPTY
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
            if adjust is not None and is_cumulative:
                key = hash(inner) ^ name_hash  # both hashes are known already: no tuple to build
                if (
                    position < len(keys)
                    and keys[position] == key
                    and lasts[position] <= value < _INF
                    and (not offsets or key not in offsets)
                    and (seen is None or key not in seen)
                ):  # the steady case: the same series at the same place, finite, never reset
                    new_keys.append(key)
                    new_values.append(value)
                    if seen is not None:
                        seen.add(key)
                    position += 1
                else:
                    value = adjust(key, value)
                    seen = resets.seen
                    position = len(new_keys)
                    if value is None:  # a duplicate, non-finite or negative sample (counters.py)
                        continue
            if count == sample_limit and sample_limit:
                raise SampleLimitExceeded(sample_limit)
            lst.append((labels, value))
            count += 1
        else:
            continue
        break  # "# EOF"
    return _finish(exp, label_cache, cache, mark, marked, invalid, count, not room)


def _begin(wanted: Iterable[str] | None, label_cache: LabelCache | None) -> tuple:
    """The start of a parse (both parsers): (the wanted set, the label cache's entries, whether
    it has room for more, the mark of this parse)."""
    wanted_set = None if wanted is None else (wanted if isinstance(wanted, (set, frozenset)) else set(wanted))
    if label_cache is None:
        return wanted_set, {}, True, 1
    return wanted_set, label_cache.entries, label_cache.room(), 1 - label_cache.mark


def _finish(
    exp: Exposition,
    label_cache: LabelCache | None,
    cache: dict,
    mark: int,
    marked: int,
    invalid: int,
    count: int,
    spent: bool,
) -> Exposition:
    """The end of a parse (both parsers): the label cache keeps what this page used. Plans of the page
    (``Exposition.plans``: a few KB a target, holding its label sets) are kept unless the label
    budget was SPENT: then the label sets are not all cached, and a fleet keeps no plans."""
    if label_cache is not None:
        if spent:
            label_cache.plans.clear()
        else:
            exp.plans = label_cache.plans
        label_cache.mark = mark
        if marked < len(cache):  # some label sets went away
            label_cache.entries = {k: e for k, e in cache.items() if e[1] == mark}
        label_cache.settle()
    samples = exp.samples
    for name in [n for n, found in samples.items() if not found]:
        del samples[name]  # every line of it was malformed
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
    """All sample names a set of native family names can appear under (one set per server kind,
    shared by its targets)."""
    return _wanted_names(tuple(bases))


@functools.lru_cache(maxsize=256)
def _wanted_names(bases: tuple[str, ...]) -> frozenset[str]:
    out = set()
    for b in bases:
        out.add(b)
        for suffix in _CUMULATIVE_SUFFIXES:
            out.add(b + suffix)
        if b.endswith("_total"):
            out.add(b[:-6])
    return frozenset(out)


# The compiled parser (``_fastparse.pyx``, built when a C compiler is at hand) reads a page of
# printable ASCII in about a fifth of the CPU (a vLLM page: 0.31 against 1.43 ms); it hands every
# other page to parse_python. INFERENCE_EXPORTER_PARSER=python keeps the reference parser.
parse = parse_python
COMPILED = False
if os.environ.get("INFERENCE_EXPORTER_PARSER", "") != "python":
    try:
        from ._fastparse import parse  # noqa: F811
    except ImportError:
        pass
    else:
        COMPILED = True
