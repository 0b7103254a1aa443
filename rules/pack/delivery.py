"""How an alert reaches people, for its runbook page ("How it reaches you").

Read from the committed Alertmanager config (alertmanager/alertmanager.yml), so a runbook
says what the routing and the inhibitions really do, and goes stale (the generator's check
fails) when they change.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

CONFIG = Path(__file__).resolve().parents[2] / "alertmanager" / "alertmanager.yml"
MATCHER = re.compile(r'^\s*(\w+)\s*(=~|!~|!=|=)\s*"(.*)"\s*$')


def _matchers(items: list[str]) -> list[tuple[str, str, str]]:
    out = []
    for item in items:
        m = MATCHER.match(item)
        assert m, f"alertmanager.yml: cannot read the matcher {item!r}"
        out.append(m.groups())
    return out


def _holds(matcher: tuple[str, str, str], labels: dict[str, str]) -> bool:
    """Whether a matcher accepts the alert. `labels` has its name and severity, and `model`
    when it is about a model; other labels (target, uuid) are assumed to match."""
    name, op, value = matcher
    if name == "model" and value == ".+":
        return "model" in labels
    if name not in labels:
        return True
    got = labels[name]
    if op == "=":
        return got == value
    if op == "!=":
        return got != value
    found = re.fullmatch(value, got) is not None
    return found if op == "=~" else not found


def _routes(route: dict):
    for child in route.get("routes", []):
        yield child
        yield from _routes(child)


def _route(config: dict, labels: dict[str, str]) -> dict | None:
    """The first (depth-first) route whose matchers name this alert or its severity."""
    for route in _routes(config["route"]):
        found = _matchers(route.get("matchers", []))
        if found and all(n in labels for n, _, _ in found) and all(_holds(m, labels) for m in found):
            return route
    return None


def _source(matchers: list[tuple[str, str, str]], equal: list[str]) -> str:
    if "alertname" in equal and not any(n == "alertname" for n, _, _ in matchers):
        severity = next((v for n, _, v in matchers if n == "severity"), "")
        return f"the same alert at severity `{severity}`"
    name = next((v for n, op, v in matchers if n == "alertname" and op == "="), "")
    rest = [f'{n}{op}"{v}"' for n, op, v in matchers if n != "alertname" and v != ".+"]
    if not name:
        name = next((v for n, op, v in matchers if n == "alertname"), "")
        rest = ([f'alertname=~"{name}"'] if name else []) + rest
        name = ""
    return f"`{name}{{{', '.join(rest)}}}`" if rest else f"`{name}`"


def section(alertname: str, severity: str, model_scoped: bool, config_path: Path = CONFIG) -> str:
    """The runbook section: the channel, how messages are grouped, and what holds it back."""
    config = yaml.safe_load(config_path.read_text())
    labels = {"alertname": alertname, "severity": severity}
    if model_scoped:
        labels["model"] = "any"
    route = _route(config, labels) or {}
    group_by = ", ".join(route.get("group_by", config["route"].get("group_by", [])))
    repeat = route.get("repeat_interval", config["route"].get("repeat_interval"))
    if route.get("receiver") == "null":
        text = (
            "It is routed nowhere (receiver `null`): never a message of its own. It is visible in "
            "Alertmanager and on the dashboards' alert tables."
        )
    elif severity == "critical":
        text = (
            f"A page in the owning team's on-call channel. One message per {group_by}, whatever the "
            "model: the team's models that trip this alert share it. It lists the first alerts (each "
            "with a silence link for exactly that alert), names the next ones and counts the rest, so "
            "a mass outage of many models stays one message. `@here` is added only when a page is "
            f"new, not for updates of the group, its reminder every {repeat} or its resolution."
        )
    elif severity == "warning":
        muted = ", ".join(route.get("mute_time_intervals", []))
        text = (
            f"A ticket in the owning team's ticket channel. One message per {group_by}; a reminder "
            f"every {repeat}."
            + (
                f" During `{muted}` it is held, not dropped: sent when they end if it still fires"
                " (event tickets keep firing long enough)."
                if muted
                else ""
            )
        )
    else:
        text = "Not sent to any channel (info): dashboards and the Alertmanager UI only."
    held = []
    for rule in config.get("inhibit_rules", []):
        target = _matchers(rule.get("target_matchers", []))
        if all(_holds(m, labels) for m in target):
            equal = [e for e in rule.get("equal", []) if e != "alertname"]
            source = _source(_matchers(rule.get("source_matchers", [])), rule.get("equal", []))
            held.append(f"- {source}, with the same {', '.join(equal)}")
    if held:
        text += (
            "\n\nHeld back (inhibited, never from another team or by a less severe alert) while "
            "one of these fires:\n\n" + "\n".join(held)
        )
        if any('scope="model"' in line for line in held):
            text += (
                '\n\n`scope="model"`: the cause concerns every target the model was last seen on '
                "(all its replicas); one replica down holds back none of the model's pages."
            )
    return (
        text + "\n\nRouting: `alertmanager/alertmanager.yml`; message layout: "
        "`alertmanager/templates/slack.tmpl`."
    )
