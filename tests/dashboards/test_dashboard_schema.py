"""The generated dashboards against Grafana's published schema (@grafana/schema 11.6, the
line of the Foundation SDK that builds them), checked by `tsc --strict`: every key must be one
the schema knows, at the place it knows it, with a value of its type, core panel options and
field config included (grafana-dashboards/schema/dashboard.ts).

The checker needs the TypeScript compiler and the schema from npm (`make test` installs them
from grafana-dashboards/schema/package-lock.json); without them these tests fail, never skip.
"""

from __future__ import annotations

import copy

import pytest
from board_walk import load, schema_check

BOARDS = load()


def _first(board: dict, kind: str) -> dict:
    return next(p for p in board["panels"] if p["type"] == kind)


def _misspell_legend_option(board: dict) -> None:
    legend = _first(board, "timeseries")["options"]["legend"]
    legend["displayMod"] = legend.pop("displayMode")


def _unit_nested_in_options(board: dict) -> None:
    _first(board, "stat")["options"]["unit"] = "s"  # belongs in fieldConfig.defaults


def _unknown_enum_value(board: dict) -> None:
    _first(board, "table")["options"]["cellHeight"] = "tiny"


def _misspelled_field_config(board: dict) -> None:
    _first(board, "timeseries")["fieldConfig"]["defaults"]["custom"]["lineWidht"] = 2


def _misspelled_dashboard_key(board: dict) -> None:
    board["refesh"] = board.pop("refresh")


def _wrong_value_type(board: dict) -> None:
    _first(board, "timeseries")["gridPos"]["w"] = "12"


BREAKAGES = {
    "displayMod": _misspell_legend_option,
    '"unit"': _unit_nested_in_options,
    '"tiny"': _unknown_enum_value,
    "lineWidht": _misspelled_field_config,
    "refesh": _misspelled_dashboard_key,
    '"12"': _wrong_value_type,
}


def test_every_committed_dashboard_matches_grafanas_schema():
    problems = schema_check.check(BOARDS)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("needle", BREAKAGES)
def test_a_broken_dashboard_fails_the_check_at_the_broken_key(needle):
    board = copy.deepcopy(BOARDS["inference-fleet"])
    BREAKAGES[needle](board)
    problems = schema_check.check({"broken": board})
    assert len(problems) == 1, problems
    assert needle in problems[0] and problems[0].startswith("broken:"), problems[0]
