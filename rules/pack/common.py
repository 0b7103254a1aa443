"""Config access and the small PromQL/alert helpers every rule module shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from inference_devtools import packconfig
from inference_devtools.packconfig import DASHBOARDS
from inference_exporter.durations import parse_duration

SEVERITIES = ("critical", "warning", "info")
# The models each target serves, kept through an outage (recording.last_known_models).
LAST_KNOWN = "target:inference_model_info:last_known"


@dataclass
class Pack:
    """The loaded config plus the selectors and label lists derived from it."""

    cfg: dict

    @classmethod
    def load(cls, path: Path) -> Pack:
        return cls(yaml.safe_load(path.read_text()))

    @property
    def job(self) -> str:
        return self.cfg["selectors"]["job"]

    def label(self, key: str) -> str:
        return self.cfg["labels"][key]

    @property
    def model_labels(self) -> list[str]:
        return list(self.cfg["model_labels"])

    @property
    def by_model(self) -> str:
        return ", ".join(self.model_labels)

    @property
    def instance_labels(self) -> str:
        """Labels that identify one exporter (one scrape target) across clusters."""
        return f"{self.label('cluster')}, {self.label('namespace')}, job, instance"

    @property
    def owner_labels(self) -> str:
        """Labels an instance-level alert borrows from the models it serves."""
        return ", ".join(dict.fromkeys([self.label("team"), self.label("model_class")]))

    def sel(self, *matchers: str) -> str:
        return "{" + ", ".join((self.job,) + matchers) + "}"

    def for_duration(self, key: str) -> str:
        return self.cfg["for"][key]

    def keep(self, key: str) -> str:
        return self.cfg["keep_firing_for"][key]

    def once(self, build) -> str:
        """`build(*matchers)` with the series of an HA exporter pair counted once.

        Series of a pair carry the replica label; the two copies differ only in it and in
        the labels Prometheus gives each scrape target, so `max without` those keeps one.
        """
        ha = self.cfg.get("ha_pair")
        if not ha:
            return build()
        replica = ha["replica_label"]
        drop = ", ".join([replica, *ha["differing_labels"]])
        single, paired = build(f'{replica}=""'), build(f'{replica}!=""')
        return f"(\n  {single}\n  or\n  max without ({drop}) ({paired})\n)"

    def threshold(self, key: str):
        return self.cfg["thresholds"][key]

    def classes(self) -> list[tuple[str, dict, str]]:
        """(name, spec, matcher on the class label) for every SLO class (packconfig, which the
        SLO dashboard reads too)."""
        return [(c.name, c.spec, c.matcher) for c in packconfig.slo_classes(self.cfg)]

    def spelled_for(self, key: str) -> str:
        """The `for` duration of ``key`` in words, for descriptions ("5 minutes")."""
        return spelled(self.for_duration(key))

    def dashboard(self, uid: str, model: bool = True) -> str:
        """The alert's dashboard link; "" without `urls.grafana`: no link rather than a dead one."""
        assert uid in DASHBOARDS, uid
        grafana = (self.cfg["urls"].get("grafana") or "").rstrip("/")
        if not grafana:
            return ""
        base = f"{grafana}/d/{uid}"
        cluster, namespace = self.label("cluster"), self.label("namespace")
        params = [
            f"var-{cluster}={{{{ $labels.{cluster} }}}}",
            f"var-namespace={{{{ $labels.{namespace} }}}}",
        ]
        if model:
            params.append("var-model={{ $labels.model }}")
        return base + "?" + "&".join(params)


def le_matcher(threshold: float) -> str:
    """Matches a bucket bound however the exposition spells it (0.1, 1.0 vs 1, 1e-05)."""
    spellings = dict.fromkeys([repr(float(threshold)), f"{threshold:g}"])
    if float(threshold).is_integer():
        spellings[str(int(threshold))] = None
    escaped = [s.replace(".", "\\\\.").replace("+", "\\\\+") for s in spellings]
    return f'le=~"{"|".join(escaped)}"'


def events(pack: Pack, series: str, by: str, window: str, *matchers: str) -> str:
    """`sum by (by) (increase(series[window]))`, counting a counter born inside the window too.

    The exporter serves an event counter (an XID code, say) from its first event, so the
    series appears with value 1 and `increase()` never sees it grow. A series that did not
    exist `window` ago counts its whole value, but only on an exporter Prometheus already
    scraped before that: on a fresh Prometheus (or a new exporter) an old count is history.
    """
    sel = f"{series}{pack.sel(*matchers)}"
    inst = pack.instance_labels
    # Scraped in the `window` before that: a restart's failed scrape (a staleness marker
    # exactly `window` ago) must not hide a new event.
    known = f"max_over_time(inference_exporter_build_info{pack.sel()}[{window}] offset {window})"
    born = f"({sel} unless {sel} offset {window})\n    and on ({inst}) {known}"
    return f"sum by ({by}) (\n  (\n    {born}\n  ) + 0\n  or\n  increase({sel}[{window}])\n)"


def duration_seconds(text: str) -> int:
    """A config duration (`30m`, `1h30m`) in whole seconds: the exporter's one grammar."""
    return int(parse_duration(text))


def spelled(text: str) -> str:
    """A config duration in words: `5m` -> "5 minutes", `1h` -> "1 hour", `90s` -> "90 seconds"."""
    seconds = int(parse_duration(text))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


def record(name: str, expr: str, labels: dict | None = None) -> dict:
    rule = {"record": name, "expr": expr.strip()}
    if labels:
        rule["labels"] = labels
    return rule


@dataclass
class Runbook:
    meaning: str
    check: str
    fix: str
    rollback: str


def alert(
    pack: Pack,
    name: str,
    expr: str,
    *,
    severity: str,
    summary: str,
    description: str,
    dashboard: str,
    runbook: Runbook,
    for_: str | None = None,
    keep_firing_for: str | None = None,
    model_scoped: bool = True,
    labels: dict | None = None,
) -> dict:
    """An alert with every annotation the pack promises; the runbook is rendered separately."""
    assert severity in SEVERITIES, severity
    rule: dict = {"alert": name, "expr": expr.strip()}
    if for_:
        rule["for"] = for_
    if keep_firing_for:
        rule["keep_firing_for"] = keep_firing_for
    rule["labels"] = {"severity": severity, **(labels or {})}
    rule["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": f"{pack.cfg['urls']['runbook']}/{name}.md",
    }
    if url := pack.dashboard(dashboard, model=model_scoped):
        rule["annotations"]["dashboard_url"] = url
    rule["_runbook"] = runbook
    rule["_dashboard"] = dashboard
    rule["_model_scoped"] = model_scoped  # for the runbook's delivery section
    return rule


def firing(alertname: str, matchers: str = "") -> str:
    """The ALERTS series of an alert while it fires, for rules that read another rule's state
    (MATCHERS: more label matchers, comma-separated)."""
    more = f", {matchers}" if matchers else ""
    return f'ALERTS{{alertname="{alertname}", alertstate="firing"{more}}}'


def unless_fired_within(on: str, alert: str, window: str) -> str:
    """`unless` the series whose cause ALERT (a `firing(...)` selector) fired within WINDOW: for a
    symptom measured over WINDOW, which would otherwise outlive the cause that explains it."""
    return f"\nunless on ({on})\nmax_over_time({alert}[{window}])"


# Groups whose results change slowly (ticket-only SLO windows of hours and days, anomaly margins
# over a week of 10-minute residuals) run every 3 minutes: a third of the cost. It stays under
# Prometheus' 5-minute lookback with two minutes to spare for a slow evaluation, so a 1m rule
# reading their series always finds one.
SLOW_INTERVAL = "3m"


def group(name: str, rules: list[dict], interval: str = "1m") -> dict:
    return {"name": name, "interval": interval, "rules": rules}


def with_owner(pack: Pack, expr: str, on: str) -> str:
    """Adds the team/model-class labels of the models an exporter serves to an instance-level
    expression, keeping the series unchanged where no model is known (so it still alerts)."""
    return (
        f"(\n  ({expr})\n  * on ({on}) group_left ({pack.owner_labels}) instance:inference_owner:info\n)\n"
        f"or on ({on})\n({expr})"
    )


# Prometheus' own `up` carries only the labels Prometheus gives the scrape target. A cluster
# label set in the exporter's `global.labels` is on every series the exporter serves, but not
# on `up`: joins with `up` then match without it (on the exporter's namespace, job, instance).


def _without_cluster(pack: Pack) -> str:
    return ", ".join(n for n in pack.instance_labels.split(", ") if n != pack.label("cluster"))


def and_scrape(pack: Pack, left: str, condition) -> str:
    """`left and on (instance labels) (condition())`, where `condition(*matchers)` reads `up`."""
    cl = pack.label("cluster")
    labelled, unlabelled = condition(f'{cl}!=""'), condition(f'{cl}=""')
    return (
        f"({left} and on ({pack.instance_labels}) ({labelled}))\n"
        f"or\n({left} and on ({_without_cluster(pack)}) ({unlabelled}))"
    )


def with_scrape_owner(pack: Pack, condition) -> str:
    """`with_owner` for an expression on `up` (`condition(*matchers)`): where `up` has no cluster
    label, the owner is found without it and lends its cluster too."""
    cl, inst, bare = pack.label("cluster"), pack.instance_labels, _without_cluster(pack)
    owner = "instance:inference_owner:info"
    labelled, unlabelled = condition(f'{cl}!=""'), condition(f'{cl}=""')
    return (
        f"(\n{with_owner(pack, labelled, on=inst)}\n)\nor\n"
        f"(\n  ({unlabelled})\n  * on ({bare}) group_left ({cl}, {pack.owner_labels})\n"
        f"  topk by ({bare}) (1, {owner})\n  or on ({bare})\n  ({unlabelled})\n)"
    )


def served_models(pack: Pack, scope: str, before: str, after: str, otherwise: str = "") -> str:
    """Template text naming the models (and versions) an exporter or target serves (`scope`: the
    labels that select it), as `before` + "a (version 3), b" + `after`; `otherwise` when none
    is known. A model whose server reports no version is named alone."""
    names = [n.strip() for n in scope.split(",")]
    selector = ", ".join(f"{n}=%q" for n in names)
    args = " ".join(f"$labels.{n}" for n in names)
    query = f"max by (model, version) ({LAST_KNOWN}{{{selector}}})"
    return (
        f'{{{{ with printf "{query}" {args} | query }}}}{before}'
        '{{ range $i, $s := . | sortByLabel "model" }}{{ if $i }}, {{ end }}{{ $s.Labels.model }}'
        "{{ with $s.Labels.version }} (version {{ . }}){{ end }}{{ end }}"
        f"{after}{'{{ else }}' + otherwise if otherwise else ''}{{{{ end }}}}"
    )
