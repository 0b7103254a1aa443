"""Walks the generated dashboards: their panels, queries, variables and annotations."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from inference_devtools import packconfig, repo

ROOT = repo.ROOT
DASHBOARD_DIR = repo.use("grafana-dashboards")
RULES_DIR = ROOT / "rules"
UIDS = packconfig.DASHBOARDS

import promql  # noqa: E402  (the generator's PromQL helpers)
import schema_check  # noqa: E402, F401  (the schema checker, for test_dashboard_schema)

LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.*),\s*(?P<label>\w+)\)$", re.S)


@dataclass(frozen=True)
class Expr:
    dashboard: str
    where: str  # panel title, "variable <name>" or "annotation <name>"
    expr: str
    kind: str  # panel, variable, annotation

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.where}"


def load() -> dict[str, dict]:
    """uid -> dashboard, from the committed JSON."""
    boards = {}
    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        board = json.loads(path.read_text())
        boards[board["uid"]] = board
    return boards


def panels_of(board: dict) -> Iterator[dict]:
    """Every panel except rows (including panels nested in collapsed rows)."""
    for p in board["panels"]:
        if p["type"] == "row":
            yield from p.get("panels", [])
        else:
            yield p


def variable_selector(var: dict) -> tuple[str, str]:
    """(selector, label) of a `label_values(selector, label)` query variable."""
    m = LABEL_VALUES.match(var["query"]["query"])
    assert m, f"variable {var['name']}: not a label_values() query: {var['query']}"
    return m.group("selector"), m.group("label")


def expressions(boards: dict[str, dict]) -> list[Expr]:
    """Every PromQL expression of every panel, query variable and annotation."""
    out = []
    for uid, board in boards.items():
        for p in panels_of(board):
            for t in p.get("targets", []):
                out.append(Expr(uid, p["title"], t["expr"], "panel"))
        for var in board["templating"]["list"]:
            if var["type"] == "query":
                out.append(Expr(uid, f"variable {var['name']}", variable_selector(var)[0], "variable"))
        for ann in board["annotations"]["list"]:
            if "expr" in ann:
                out.append(Expr(uid, f"annotation {ann['name']}", ann["expr"], "annotation"))
    return out


def rule_files() -> list[Path]:
    return sorted(p for p in RULES_DIR.glob("*.yml") if p.name != "config.yml")


@functools.cache
def rules() -> tuple[dict, ...]:
    """Every rule of the rendered rule files (read once: they are large)."""
    out = []
    for path in rule_files():
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            out += group["rules"]
    return tuple(out)


def metric_names(expr: str) -> list[str]:
    return promql.metric_names(expr)
