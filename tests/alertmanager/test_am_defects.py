"""Issue 12's routing and inhibition defects against a real Alertmanager with the committed
config; deliveries are read from the Slack stand-in."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from amstack import CONFIG, Alertmanager, StandIn, alert, config_for_tests, wait_for

pytestmark = pytest.mark.prometheus

RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture
def alertmanager(tmp_path):
    standin = StandIn(tmp_path)
    am = Alertmanager(tmp_path, config_for_tests(tmp_path, standin.url))
    yield am, standin
    am.stop()
    standin.close()


def settle(am: Alertmanager, standin: StandIn, at_least: int) -> list[dict]:
    """The messages, once `at_least` arrived and two group intervals passed without more."""
    wait_for(f"{at_least} message(s)", lambda: len(standin.messages()) >= at_least, 30, am.log_tail)
    time.sleep(5)
    return standin.messages()


def delivered(standin: StandIn) -> set[tuple[str, str]]:
    """(alertname, model) pairs named together in a message (alert names anywhere in the title
    or text, models as the bold `*name*` that starts each listed alert)."""
    out = set()
    for entry in standin.messages():
        for att in entry["payload"].get("attachments") or []:
            text = f"{att.get('title', '')}\n{att.get('text', '')}"
            names = set(re.findall(r"\bInference[A-Za-z]+\b", text))
            models = set(re.findall(r"^• \*([^*]+)\*", att.get("text", ""), re.M))
            models |= set(re.findall(r" · (\S+) \(", att.get("title", "")))
            out |= {(n, m) for n in names for m in models}
    return out


MODEL = {"namespace": "shop", "model_class": "ranking", "model": "ranker"}


def test_defect01_a_not_ready_ticket_never_hides_a_page(alertmanager):
    am, standin = alertmanager
    am.post_alerts(
        [
            alert(
                "InferenceModelNotReady", "warning", **MODEL, team="search", target="ranker-1", version="4"
            ),
            alert("InferenceTrafficDrop", "critical", **MODEL, team="search"),
        ]
    )
    settle(am, standin, 2)
    assert ("InferenceTrafficDrop", "ranker") in delivered(standin)


def affected(scope: str, team: str = "search") -> dict:
    return alert(
        "InferenceModelAffected",
        "critical",
        **MODEL,
        team=team,
        job="inference-exporter",
        instance="10.0.0.1:9400",
        target="ranker-0",
        cause="InferenceExporterDown",
        scope=scope,
    )


def test_defect02_one_replica_down_never_hides_the_models_pages(alertmanager):
    am, standin = alertmanager
    am.post_alerts(
        [affected("target"), alert("InferenceLatencyBudgetBurnCritical", "critical", **MODEL, team="search")]
    )
    settle(am, standin, 1)
    assert ("InferenceLatencyBudgetBurnCritical", "ranker") in delivered(standin)


def test_defect02_a_cause_never_hides_another_teams_model_of_the_same_name(alertmanager):
    am, standin = alertmanager
    am.post_alerts(
        [
            affected("model", team="search"),
            alert("InferenceMeanLatencyHigh", "warning", **MODEL, team="recommendation"),
            alert("InferenceMeanLatencyHigh", "warning", **MODEL, team="search"),  # explained: held back
        ]
    )
    settle(am, standin, 1)
    got = delivered(standin)
    assert ("InferenceMeanLatencyHigh", "ranker") in got
    channels = {e["payload"]["channel"] for e in standin.messages()}
    assert channels == {"#recommendation-alerts"}, channels


def test_defect11_a_mass_outage_is_one_page_per_team(alertmanager):
    """100 models of one team lose their traffic: one message lists them, with one @here."""
    am, standin = alertmanager
    outage = [alert("InferenceTrafficDrop", "critical", **{**MODEL, "model": f"m{i:03d}"}, team="search")
              for i in range(100)]  # fmt: skip
    am.post_alerts(outage)
    messages = settle(am, standin, 1)
    assert len(messages) <= 5, [m["payload"]["attachments"][0]["title"] for m in messages]
    mentions = [m for m in messages if "<!here>" in (m["payload"]["attachments"][0].get("pretext") or "")]
    assert len(mentions) == 1
    text = messages[0]["payload"]["attachments"][0]["text"]
    assert "m000" in text and "more" in text and len(text) < 6000


def _at(minutes_ago: float, lasts_min: float = 4) -> dict:
    now = datetime.now(timezone.utc)
    return {
        "startsAt": (now - timedelta(minutes=minutes_ago)).isoformat(),
        "endsAt": (now + timedelta(minutes=lasts_min)).isoformat(),
    }


def test_defect11_updates_of_a_page_do_not_mention_the_channel_again(alertmanager):
    """A page is announced once; its resolution and the reminder of an old page are not."""
    am, standin = alertmanager
    first = {**alert("InferenceTrafficDrop", "critical", **MODEL, team="search"), **_at(1)}
    second = {**alert("InferenceTrafficDrop", "critical", **{**MODEL, "model": "embedder"}, team="search"),
              **_at(1)}  # fmt: skip
    am.post_alerts([first, second])
    settle(am, standin, 1)
    am.post_alerts([{**second, "endsAt": datetime.now(timezone.utc).isoformat()}])  # one of two resolves
    messages = settle(am, standin, 2)
    pretexts = [m["payload"]["attachments"][0].get("pretext") or "" for m in messages]
    assert ["<!here>" in p for p in pretexts] == [True, False], pretexts


def test_a_resolved_page_is_not_announced_again_with_the_next_page(alertmanager):
    """Prometheus re-sends a resolved alert for 15 minutes. Once its resolution was delivered,
    the next page of the same team (the demo's `down triton` after `errors`) must not list it
    again, nor be followed by a message that only repeats itself."""
    am, standin = alertmanager
    burn = {**alert("InferenceAvailabilityBudgetBurnCritical", "critical", **MODEL, team="search"), **_at(3)}
    am.post_alerts([burn])
    settle(am, standin, 1)
    resolved = {**burn, "endsAt": datetime.now(timezone.utc).isoformat()}
    am.post_alerts([resolved])
    settle(am, standin, 2)
    labels = {"namespace": "shop", "team": "search", "target": "ranker-triton", "instance": "10.0.0.1:9400"}
    down = {**alert("InferenceTargetDown", "critical", **labels), **_at(1)}
    am.post_alerts([down])
    settle(am, standin, 3)
    for _ in range(3):  # Prometheus' resends of the resolved alert, one per group interval here
        am.post_alerts([resolved])
        time.sleep(2.5)
    later = standin.messages()[3:]
    assert later == [], [m["payload"]["attachments"][0]["title"] for m in later]
    page = standin.messages()[2]["payload"]["attachments"][0]
    assert "BudgetBurn" not in page["text"] and "resolved" not in page["text"], page["text"]


def test_defect15_event_tickets_are_held_longer_than_the_longest_quiet_hours():
    """Alertmanager drops an alert that resolved while its route was muted: the rules keep
    one-off event tickets firing until the longest quiet span of alertmanager.yml is over."""
    quiet = yaml.safe_load(CONFIG.read_text())["time_intervals"]
    (spans,) = [t["time_intervals"] for t in quiet if t["name"] == "ticket-quiet-hours"]
    longest = longest_quiet_hours(spans)
    held = {}
    for path in RULES.glob("*.yml"):
        if path.name == "config.yml":
            continue
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if (
                    "alert" in rule
                    and "increase(" in rule["expr"]
                    and rule["labels"]["severity"] == "warning"
                ):
                    held[rule["alert"]] = hours(rule.get("keep_firing_for", "0h"))
    assert held, "no event ticket found"
    short = {name: h for name, h in held.items() if h < longest}
    assert not short, f"held for less than {longest} h: {short}"


def hours(duration: str) -> float:
    units = {"s": 1 / 3600, "m": 1 / 60, "h": 1, "d": 24}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", duration))


def longest_quiet_hours(spans: list[dict]) -> float:
    """The longest run of muted minutes in a week of UTC minutes."""
    days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    def muted(minute: int) -> bool:
        day, of_day = days[minute // 1440], minute % 1440
        for span in spans:
            if "weekdays" in span and day not in span["weekdays"]:
                continue
            times = span.get("times") or [{"start_time": "00:00", "end_time": "24:00"}]
            for t in times:
                start = int(t["start_time"][:2]) * 60 + int(t["start_time"][3:])
                end = int(t["end_time"][:2]) * 60 + int(t["end_time"][3:])
                if start <= of_day < end:
                    return True
        return False

    week = [muted(m) for m in range(7 * 1440)]
    longest = run = 0
    for flag in week + week:  # a run may wrap from Sunday into Monday
        run = run + 1 if flag else 0
        longest = max(longest, run)
    return min(longest, 7 * 1440) / 60
