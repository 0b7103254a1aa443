"""The generated config files of the demo: exporter sidecars, Prometheus, Alertmanager.

All of them are written into the demo's state folder (``.demo/``), never into the
repository. Rule files and the Alertmanager config come from the repository when
they exist (``rules/``, ``alertmanager/alertmanager.yml``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

CLUSTER = "local"


def exporter_config(
    target: str,
    kind: str,
    metrics_url: str,
    api_url: str,
    labels: dict[str, str],
    interval_s: float,
    models: list[dict] | None = None,
) -> str:
    """One sidecar's config; ``models`` declares models with their canaries (docs/health.md)."""
    entry = {"name": target, "kind": kind, "metrics_url": metrics_url, "api_url": api_url, "labels": labels}
    if models:
        entry["models"] = models
    config = {
        "global": {
            "scrape_interval": f"{interval_s:g}s",
            "scrape_timeout": f"{min(interval_s, 5):g}s",
            # On every series the sidecar serves, its own included (the rule pack joins on it).
            "labels": {"cluster": CLUSTER},
        },
        "targets": [entry],
    }
    return yaml.safe_dump(config, sort_keys=False)


def embedding_canary(model, every: str) -> dict:
    """The embedding model declared with a golden query whose vector must stay near the stored one.

    ``model`` is ``servers/embedding_model.py``: the query, the reference file, the model name.
    The request is KServe's v1 predict; a vector that drifted (a retrained or broken model)
    fails with reason ``cosine``.
    """
    return {
        "name": model.MODEL_NAME,
        "canaries": [
            {
                "id": f"{model.MODEL_NAME}-golden-query",
                "every": every,
                "timeout": "2s",
                "path": f"/v1/models/{model.MODEL_NAME}:predict",
                "body": {"instances": [model.CANARY_QUERY]},
                "expect": {
                    "status": 200,
                    "max_latency": "500ms",
                    "embedding": {
                        "path": "predictions[0]",
                        "reference_file": str(model.REFERENCE_FILE),
                        "min_cosine": 0.99,
                    },
                },
            }
        ],
    }


# Where each server's ranking answer lives, and the request that asks for it. MLServer's
# scikit-learn runtime answers both class probabilities in one flat list, which a top-K
# path cannot pick apart, so it gets no ranking canary.
RANKING_CANARY_SERVERS = ("triton", "kserve", "bentoml")


def ranking_canary(model, server: str, every: str) -> dict:
    """The ranking model declared with a golden search page whose top products are known.

    ``model`` is ``servers/ranking_model.py``. The answer's scores are ranked and their top 3
    compared with the products the hidden relevance ranks first; a model that ranks them
    elsewhere (a broken feature order, a bad retrain) fails with reason ``top_k``.
    """
    if server not in RANKING_CANARY_SERVERS:
        raise ValueError(f"no ranking canary for {server}; servers with one: {RANKING_CANARY_SERVERS}")
    rows = model.canary_rows()
    top = model.canary_top(3)
    canary: dict = {"id": f"{model.MODEL_NAME}-golden-page", "every": every, "timeout": "2s"}
    if server == "triton":
        flat = [x for row in rows for x in row]
        canary["kserve_v2"] = {
            "inputs": [
                {"name": "features", "datatype": "FP32", "shape": [len(rows), len(rows[0])], "data": flat}
            ]
        }
        path = "outputs[0].data"
    elif server == "kserve":
        canary |= {"path": f"/v1/models/{model.MODEL_NAME}:predict", "body": {"instances": rows}}
        path = "predictions"
    else:
        canary |= {"path": "/rank", "body": {"features": rows}}
        path = "$"
    canary["expect"] = {
        "status": 200,
        "max_latency": "500ms",
        "top_k": {"path": path, "ids": top, "k": len(top), "min_overlap": 1.0},
    }
    return {"name": model.MODEL_NAME, "canaries": [canary]}


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


def repository_alertmanager_config(source: Path, slack_url: str) -> str:
    """The committed config, pointed at the Slack stand-in and made to deliver at once.

    Every Slack and webhook receiver posts to the stand-in instead of the secret URL
    files, quiet hours are dropped (a demo at night should still show its alerts), and
    template globs become absolute: the copy lives in the state folder.
    """
    config = yaml.safe_load(source.read_text()) or {}
    glob = config.setdefault("global", {})
    glob.pop("slack_api_url_file", None)
    glob["slack_api_url"] = f"{slack_url}/slack"
    for receiver in config.get("receivers") or []:
        for slack in receiver.get("slack_configs") or []:
            slack.pop("api_url_file", None)
            slack["api_url"] = f"{slack_url}/slack"
        for hook in receiver.get("webhook_configs") or []:
            hook.pop("url_file", None)
            hook["url"] = f"{slack_url}/webhook"
    _deliver_any_time(config.get("route") or {})
    config["templates"] = [str(source.parent / t) for t in config.get("templates") or []]
    if not config["templates"]:
        del config["templates"]
    return yaml.safe_dump(config, sort_keys=False)


def _deliver_any_time(route: dict) -> None:
    route.pop("mute_time_intervals", None)
    route.pop("active_time_intervals", None)
    for child in route.get("routes") or []:
        _deliver_any_time(child)
