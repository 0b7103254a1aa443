"""Reading the Slack stand-in's log, and bench/demo_faults.py's flags over what it lists."""

from inference_devtools import repo, slack

repo.use("bench")

import demo_faults  # noqa: E402


def message(channel: str, status: str, alerts: dict[str, list[str]]) -> dict:
    text = "\n".join(
        f"_{name}_: summary\n" + "\n".join(f"• *{i}* more" for i in items) for name, items in alerts.items()
    )
    count = sum(len(v) for v in alerts.values())
    title = f"[{status}:{count}] {next(iter(alerts))} · x"
    return {"payload": {"channel": channel, "attachments": [{"title": title, "text": text}]}}


def test_listed_names_models_and_leaves_pods_without_one():
    got = slack.listed(
        [
            message("#search-oncall", "FIRING", {"InferenceTargetDown": ["10.0.0.1:9400"]}),
            message("#search-alerts", "RESOLVED", {"InferenceMeanLatencyHigh": ["ranker", "embedder"]}),
        ]
    )
    assert [(a.index, a.channel, a.status, a.alertname, a.model) for a in got] == [
        (0, "#search-oncall", "FIRING", "InferenceTargetDown", ""),
        (1, "#search-alerts", "RESOLVED", "InferenceMeanLatencyHigh", "ranker"),
        (1, "#search-alerts", "RESOLVED", "InferenceMeanLatencyHigh", "embedder"),
    ]


def flags(*messages: dict) -> list[str]:
    return demo_faults.flags_in(slack.listed(list(messages)))


def test_a_fault_that_pages_once_and_grows_is_not_flagged():
    assert (
        flags(
            message("#search-oncall", "FIRING", {"InferenceCanaryFailing": ["ranker"]}),
            message("#search-oncall", "FIRING", {"InferenceCanaryFailing": ["ranker", "embedder"]}),
            message("#search-oncall", "RESOLVED", {"InferenceCanaryFailing": ["ranker", "embedder"]}),
        )
        == []
    )


def test_flapping_and_duplicates_are_flagged():
    page = message("#search-oncall", "FIRING", {"InferenceCanaryFailing": ["ranker"]})
    assert flags(
        page, message("#search-oncall", "RESOLVED", {"InferenceCanaryFailing": ["ranker"]}), page
    ) == ["flapping: InferenceCanaryFailing·ranker fired again after it resolved"]
    assert flags(page, page) == [
        "duplicate: message 1 re-sends ['InferenceCanaryFailing·ranker'] to #search-oncall"
    ]
    ticket = message("#search-alerts", "FIRING", {"InferenceCanaryFailing": ["ranker"]})
    assert flags(page, ticket) == [
        "duplicate: InferenceCanaryFailing·ranker in #search-alerts, #search-oncall"
    ]
    # Two teams each with a model named ranker: one page each, no duplicate.
    assert (
        flags(page, message("#recommendation-oncall", "FIRING", {"InferenceCanaryFailing": ["ranker"]})) == []
    )
