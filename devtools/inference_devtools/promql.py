"""Which metric (and recording-rule) names a PromQL expression reads: enough PromQL to read the
rule pack's rules and the dashboards' queries, so both can be checked against the schema."""

from __future__ import annotations

import re

# Words that look like metric names in PromQL but are aggregations, operators or keywords.
KEYWORDS = frozenset(
    {
        *("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values"),
        *("bottomk", "topk", "quantile", "and", "or", "unless", "offset", "bool", "inf", "nan"),
        *("by", "without", "on", "ignoring", "group_left", "group_right", "atan2"),
    }
)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACES = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSETS = re.compile(r"\boffset\s+-?\w+")
_IDENT = re.compile(r"(?<![\w.$:])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> list[str]:
    """Metric names an expression selects, in order of appearance, once each."""
    text = _STRINGS.sub('""', expr)
    text = _LABEL_LISTS.sub(" ", text)
    text = _BRACES.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _OFFSETS.sub(" ", text)
    names: list[str] = []
    for m in _IDENT.finditer(text):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in KEYWORDS or name in names:
            continue
        names.append(name)
    return names


def mask(expr: str) -> str:
    """EXPR with string, matcher, range and label-list contents blanked (same length)."""

    def blank(m: re.Match) -> str:
        s = m.group(0)
        return s[0] + " " * (len(s) - 2) + s[-1]

    text = re.sub(r'"(?:[^"\\]|\\.)*"', blank, expr)
    text = re.sub(r"\{[^{}]*\}", blank, text)
    text = re.sub(r"\[[^\[\]]*\]", blank, text)
    return re.sub(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*(\([^()]*\))",
        lambda m: m.group(0)[: m.start(1) - m.start(0)] + blank(re.match(r".*", m.group(1), re.S)),
        text,
    )


def vector_selectors(expr: str) -> list[tuple[str, str, int, int]]:
    """(metric, matchers, start, end) of every vector selector in EXPR."""
    masked = mask(expr)
    out = []
    for m in re.finditer(r"(?<![\w.$])([A-Za-z_:][A-Za-z0-9_:]*)", masked):
        name, end = m.group(1), m.end()
        rest = masked[end:].lstrip()
        if rest.startswith("(") or name.lower() in KEYWORDS:
            continue
        matchers = ""
        if rest.startswith("{"):
            open_at = masked.index("{", end)
            close_at = masked.index("}", open_at)
            matchers, end = expr[open_at + 1 : close_at], close_at + 1
        out.append((name, matchers, m.start(), end))
    return out
