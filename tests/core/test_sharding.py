"""Sharding across replicas: every target collected by exactly one of them, whatever the list does."""

import json
import os
import random
import re
import time

import pytest
import requests
from fake_targets import FakeTarget
from inference_exporter.config import loads
from inference_exporter.exporter import Exporter
from inference_exporter.server import make_server, serve_in_thread
from inference_exporter.sharding import Shard, parse_shard, shard_of

SEED = 1616
REPLICAS = 3
VLLM = '# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name="m"} 1\n'


def test_parse_shard():
    assert parse_shard("2/5") == Shard(2, 5)
    assert parse_shard("inference-exporter-2/3") == Shard(2, 3)  # a StatefulSet pod name
    for bad in ("5/5", "1", "a/3", "-1/3", "x-1/0", "1/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_shard_of_is_prometheus_hashmod():
    """Prometheus' hashmod: the low 64 bits of the MD5 of the value, big-endian, modulo n (a real
    Prometheus agrees: tests/integration/test_distributed_rules.py splits a fleet with hashmod)."""
    import hashlib

    for name in ("t00000", "10.0.0.1:8000", "ranker-0"):
        digest = hashlib.md5(name.encode()).digest()
        assert shard_of(name, 7) == int.from_bytes(digest[8:], "big") % 7


def test_each_target_falls_to_exactly_one_shard():
    rng = random.Random(SEED)
    names = {f"target-{rng.getrandbits(40):x}" for _ in range(3000)}
    counts = [0] * REPLICAS
    for name in names:
        keepers = [i for i in range(REPLICAS) if Shard(i, REPLICAS).keeps(name)]
        assert len(keepers) == 1, (name, keepers, f"seed {SEED}")
        counts[keepers[0]] += 1
    assert min(counts) > len(names) / REPLICAS * 0.85, counts  # and the shares are even


def _up(url: str) -> dict[str, float]:
    text = requests.get(url + "/metrics", timeout=5).text
    found = re.findall(r'^inference_exporter_collections_total\{target="([^"]+)"[^}]*\} (\d+)', text, re.M)
    return {name: float(n) for name, n in found}


def test_three_replicas_with_a_changing_target_list(tmp_path):
    """Three exporters share one target file, each with --shard=i/3. Over generations of a target
    list that grows, shrinks and changes (seeded), every listed target is collected by exactly one
    replica, a removed one by none; a target that stays keeps its replica and its state."""
    rng = random.Random(SEED)
    fake = FakeTarget(VLLM)
    targets_file = tmp_path / "targets.json"
    config_path = tmp_path / "exporter.yml"
    config_path.write_text(
        "global: {scrape_interval: 0.3s, scrape_timeout: 0.3s}\n"
        f"target_files:\n  - files: [{targets_file}]\n    refresh_interval: 1h\n    kind: vllm\n"
    )

    def write(names):
        groups = [
            {"targets": [f"127.0.0.1:{fake.port}"], "labels": {"__target_name__": n}} for n in sorted(names)
        ]
        targets_file.with_suffix(".tmp").write_text(json.dumps(groups))
        os.replace(targets_file.with_suffix(".tmp"), targets_file)

    listed = {f"t{i:03d}" for i in range(40)}
    write(listed)
    replicas = []
    try:
        for i in range(REPLICAS):
            exporter = Exporter(loads(config_path.read_text(), str(config_path)), shard=Shard(i, REPLICAS))
            server = make_server(exporter, "127.0.0.1:0")
            exporter.start()
            serve_in_thread(server)
            replicas.append((exporter, server, f"http://127.0.0.1:{server.server_address[1]}"))
        owner_before: dict[str, int] = {}
        for generation in range(5):
            if generation:
                removed = set(rng.sample(sorted(listed), rng.randint(3, 12)))
                added = {f"t{rng.randint(40, 999):03d}" for _ in range(rng.randint(3, 15))}
                listed = (listed - removed) | added
                write(listed)
                for exporter, _, _ in replicas:
                    ok, _ = exporter.reload()
                    assert ok
            where = f"generation {generation} (seed {SEED})"
            # Every listed target is configured on exactly one replica.
            configured = [{t.name for t in e.config.targets} for e, _, _ in replicas]
            for name in listed:
                holders = [i for i, names in enumerate(configured) if name in names]
                assert len(holders) == 1, (name, holders, where)
            assert set().union(*configured) == listed, where
            # ... and collected there: wait until each replica shows every target of its own.
            deadline = time.monotonic() + 15
            while True:
                seen = [_up(url) for _, _, url in replicas]
                pairs = zip(seen, configured, strict=True)
                if all(set(s) == c and all(v > 0 for v in s.values()) for s, c in pairs):
                    break
                assert time.monotonic() < deadline, (
                    where,
                    [sorted(set(s) ^ c) for s, c in zip(seen, configured, strict=True)],
                )
                time.sleep(0.2)
            owner = {name: i for i, s in enumerate(seen) for name in s}
            for name in set(owner) & set(owner_before):
                assert owner[name] == owner_before[name], (name, where)
            owner_before = owner
        # A removed target is collected no more anywhere: its count stands still.
        counts = [_up(url) for _, _, url in replicas]
        time.sleep(1.0)
        later = [_up(url) for _, _, url in replicas]
        for before, after in zip(counts, later, strict=True):
            assert set(before) == set(after) == set(before) & listed
    finally:
        for exporter, server, _ in replicas:
            server.shutdown()
            exporter.stop()
        fake.close()
