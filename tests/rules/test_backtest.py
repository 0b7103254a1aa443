"""inference-exporter backtest: `for` semantics, time parsing, and a run against a real
Prometheus over backfilled history."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from inference_exporter.commands import backtest
from inference_exporter.commands.backtest import Episode, firing_episodes, parse_time

ROOT = Path(__file__).resolve().parents[2]

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def test_for_must_elapse_before_firing():
    active = [T0 + 60 * i for i in range(10)]  # active 10 evaluations, 0m..9m
    assert firing_episodes(active, 60, 300) == [Episode(T0 + 300, T0 + 600)]
    assert firing_episodes(active[:5], 60, 300) == []  # 4m of activity never reaches a 5m `for`


def test_a_missed_evaluation_resets_pending():
    active = [T0 + 60 * i for i in (0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11)]
    assert firing_episodes(active, 60, 300) == [Episode(T0 + 600, T0 + 720)]


def test_without_for_every_active_evaluation_fires():
    assert firing_episodes([T0, T0 + 60, T0 + 600], 60, 0) == [
        Episode(T0, T0 + 120),
        Episode(T0 + 600, T0 + 660),
    ]


def test_times_parse_in_every_accepted_form():
    assert parse_time("2026-01-01T00:00:00Z") == T0
    assert parse_time(str(T0)) == T0
    assert parse_time("now-1h30m", now=T0) == T0 - 5400
    with pytest.raises(ValueError):
        parse_time("yesterday")


@pytest.mark.prometheus
def test_backtest_against_backfilled_history(tmp_path, capsys):
    from inference_devtools.prom import Prometheus

    # Two hours of one-minute samples: errors from 30m to 50m (20 minutes) and from 90m to 93m.
    lines = []
    for i in range(121):
        bad = 30 <= i < 50 or 90 <= i < 93
        lines.append(f'demo_errors{{job="x",model="m"}} {5 if bad else 0} {T0 + 60 * i}')
    (tmp_path / "h.om").write_text("\n".join(lines) + "\n# EOF\n")
    data = tmp_path / "prom" / "data"
    data.mkdir(parents=True)
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "h.om"), str(data)],
        check=True,
        capture_output=True,
    )
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n- name: demo\n  interval: 1m\n  rules:\n"
        "  - alert: DemoErrors\n    expr: demo_errors > 1\n    for: 5m\n    labels: {severity: warning}\n"
    )
    prom = Prometheus(tmp_path / "prom", "global: {}\n", ("--storage.tsdb.retention.time=100y",))
    try:
        args = ["--prometheus", prom.url, "--from", str(T0), "--to", str(T0 + 7200), "--rules", str(rules)]
        assert backtest.main(args + ["--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert backtest.main(args + ["--plot", str(tmp_path / "png")]) == 0
        text = capsys.readouterr()
    finally:
        prom.close()
    [result] = out
    [(series, episodes)] = result["series"].items()
    assert 'model="m"' in series
    # Only the 20-minute episode outlives the 5m `for`: pending at 30m, firing 35m..50m.
    assert episodes == [[T0 + 35 * 60, T0 + 50 * 60]]
    row = next(line for line in text.out.splitlines() if line.startswith("DemoErrors"))
    assert row.split()[1:6] == ["warning", "1", "1", "15m", "15m"]
    try:
        import matplotlib  # noqa: F401

        assert (tmp_path / "png" / "DemoErrors.png").is_file()
    except ImportError:
        assert "needs matplotlib" in text.err
