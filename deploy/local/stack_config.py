"""The generated config files of the demo: exporter sidecars, Prometheus, Alertmanager.

All of them are written into the demo's state folder (``.demo/``), never into the
repository. Rule files and the Alertmanager config come from the repository when
they exist (``rules/*.yml``, ``alertmanager/alertmanager.yml``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

# Written in place of this token in alertmanager/alertmanager.yml, so the committed
# config can name the demo's Slack stand-in without knowing its port.
SLACK_URL_TOKEN = "${SLACK_STANDIN_URL}"


def exporter_config(
    target: str, kind: str, metrics_url: str, api_url: str, labels: dict[str, str], interval_s: float
) -> str:
    config = {
        "global": {"scrape_interval": f"{interval_s:g}s", "scrape_timeout": f"{min(interval_s, 5):g}s"},
        "targets": [
            {
                "name": target,
                "kind": kind,
                "metrics_url": metrics_url,
                "api_url": api_url,
                "labels": labels,
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def prometheus_config(
    sidecars: dict[str, str], alertmanager: str, self_address: str, interval_s: float, rule_files: list[str]
) -> str:
    """``sidecars`` maps a server kind to its sidecar's host:port."""
    interval = f"{interval_s:g}s"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": rule_files,
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": "inference-exporter",
                "static_configs": [
                    {"targets": [address], "labels": {"sidecar": kind}} for kind, address in sidecars.items()
                ],
            },
            {"job_name": "prometheus", "static_configs": [{"targets": [self_address]}]},
            {"job_name": "alertmanager", "static_configs": [{"targets": [alertmanager]}]},
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def rule_files(rules_dir: Path) -> tuple[list[str], list[str]]:
    """(usable rule files, skipped ones with why) under ``rules_dir``.

    The folder also holds the rule pack's generator config and promtool tests, so only
    files with a top-level ``groups`` list count, and only those promtool accepts: one
    broken file must not keep Prometheus from starting.
    """
    usable, skipped = [], []
    promtool = shutil.which("promtool")
    for path in sorted([*rules_dir.rglob("*.yml"), *rules_dir.rglob("*.yaml")]):
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
            continue
        if promtool:
            check = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
            if check.returncode != 0:
                why = (check.stderr or check.stdout).strip().splitlines()
                skipped.append(f"{path}: {why[-1] if why else 'promtool check rules failed'}")
                continue
        usable.append(str(path))
    return usable, skipped


def minimal_alertmanager_config(slack_url: str) -> str:
    """Every alert to the Slack stand-in's webhook, quickly, resolved ones too."""
    config = {
        "route": {
            "receiver": "slack-standin",
            "group_by": ["alertname", "model"],
            "group_wait": "10s",
            "group_interval": "1m",
            "repeat_interval": "4h",
        },
        "receivers": [
            {
                "name": "slack-standin",
                "webhook_configs": [{"url": f"{slack_url}/alertmanager", "send_resolved": True}],
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


# Route timings of the demo and the tests: a message seconds after an alert fires, and
# the resolved message seconds after it clears (production: 30s / 5m, see the config).
FAST_ROUTE_TIMINGS = {"group_wait": "2s", "group_interval": "10s", "repeat_interval": "4h"}


def repository_alertmanager_config(
    source: Path,
    slack_url: str,
    secrets_dir: Path | None = None,
    timings: dict[str, str] | None = None,
    quiet_hours: bool = True,
) -> str:
    """The committed config pointed at the Slack stand-in.

    * ``*_url_file`` secrets (the Slack webhook) are written to files in ``secrets_dir``
      holding the stand-in's URL, and the config names those files instead;
    * template globs are made absolute (the config now lives elsewhere);
    * ``timings`` replace ``group_wait``/``group_interval``/``repeat_interval`` on every route;
    * ``quiet_hours=False`` drops ``mute_time_intervals``, so tickets arrive at any hour.
    """
    config = yaml.safe_load(source.read_text().replace(SLACK_URL_TOKEN, slack_url)) or {}
    # Template globs are relative to the config file, which now lives in the state folder.
    config["templates"] = [
        str(source.parent / t) if not Path(t).is_absolute() else t for t in config.get("templates") or []
    ]
    if not config["templates"]:
        del config["templates"]
    if secrets_dir is not None:
        secrets_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets_dir / "slack-webhook-url"
        secret.write_text(f"{slack_url}/slack\n")
        secret.chmod(0o600)
        _replace_url_files(config, str(secret))
    route = config.get("route") or {}
    route.update(timings or {})  # the root sets them for every route that does not override
    _retime(route, timings or {}, quiet_hours)
    return yaml.safe_dump(config, sort_keys=False)


def _replace_url_files(node, path: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("api_url_file"):
                node[key] = path
            else:
                _replace_url_files(value, path)
    elif isinstance(node, list):
        for item in node:
            _replace_url_files(item, path)


def _retime(route: dict, timings: dict[str, str], quiet_hours: bool) -> None:
    for key, value in timings.items():
        if key in route:
            route[key] = value
    if not quiet_hours:
        route.pop("mute_time_intervals", None)
    for child in route.get("routes") or []:
        _retime(child, timings, quiet_hours)
