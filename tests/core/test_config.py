"""Config validation: every kind of bad config gives exit code 2 and one clear line."""

import os
import subprocess
import sys

import pytest
from inference_exporter import cli
from inference_exporter.config import ConfigError, load, loads

GOOD = """\
global:
  scrape_interval: 15s
  labels: {cluster: eu-1}
targets:
  - name: ranker
    kind: triton
    metrics_url: http://127.0.0.1:8002/metrics
    api_url: http://127.0.0.1:8000
    labels: {team: search}
"""

# (config text, substring the one-line error must contain). {secret} is replaced by a
# path to an unreadable/missing file.
BAD = [
    (
        "targets:\n  - name: a\n    metrics_url: http://h/metrics\n    colour: red\n",
        ":4: targets[0].colour: unknown key",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/metrics\n    scrape_intervall: 5s\n",
        "did you mean 'scrape_interval'",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/metrics\n    scrape_interval: fast\n",
        ':4: targets[0].scrape_interval: expected a duration like "15s"',
    ),
    (
        "targets:\n  - name: a\n    metrics_url: ftp://h/metrics\n",
        ":3: targets[0].metrics_url: expected an http",
    ),
    ("targets:\n  - name: a\n    metrics_url: not a url\n", "targets[0].metrics_url: expected an http"),
    ("targets:\n  - name: a\n    metrics_url: http://h:99999/metrics\n", "bad port"),
    (
        "targets:\n  - name: a\n    metrics_url: http://u:pw@h/metrics\n",
        "credentials in the URL are not allowed",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n  - name: a\n    metrics_url: http://h2/m\n",
        ":4: targets[1].name: duplicate target name 'a'",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n    bearer_token_file: {secret}\n",
        "targets[0].bearer_token_file: file",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n"
        "    basic_auth: {{username: u, password_file: {secret}}}\n",
        "targets[0].basic_auth.password_file: file",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n    kind: trtion\n",
        "unknown server kind 'trtion' (did you mean 'triton'?)",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n    labels: {model: x}\n",
        "targets[0].labels.model: reserved",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n    labels: {bad-name: x}\n",
        "not a valid Prometheus label name",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n"
        "    scrape_interval: 5s\n    scrape_timeout: 10s\n",
        "targets[0].scrape_timeout: 10s is longer than scrape_interval 5s",
    ),
    ("targets:\n  - name: a\n", ":2: targets[0].metrics_url: is required"),
    ("targets: {a: 1}\n", ":1: targets: expected a list"),
    ("targets:\n  - name: a\n    metrics_url: [http://h/m]\n", "expected a non-empty string, got a list"),
    ("targets:\n  - name: a\n    metrics_url: http://h/m\n  name: b\n", "invalid YAML"),
    (
        "global:\n  scrape_interval: 5s\n  scrape_interval: 6s\ntargets: []\n",
        ":3: duplicate key 'scrape_interval'",
    ),
    ("", "is empty"),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n    tls: {insecure_skip_verify: 'yes'}\n",
        "targets[0].tls.insecure_skip_verify: expected true or false",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n    kind: generic\n",
        "mapping_file: is required for kind generic",
    ),
    ("targets:\n  - name: a b\n    metrics_url: http://h/m\n", "targets[0].name: 'a b' may use letters"),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n"
        "    process: {pid_file: /x.pid, match: tritonserver}\n",
        "targets[0].process: set exactly one of pid_file, match, container: true",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n    process: {match: '(unclosed'}\n",
        ":4: targets[0].process.match: invalid regular expression",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n    health: {intervall: 5s}\n",
        ":4: targets[0].health.intervall: unknown key (did you mean 'interval'?)",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n    health: {interval: 5s, timeout: 10s}\n",
        "targets[0].health.timeout: 10s is longer than interval 5s",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n    health: {probes: [live, readyness]}\n",
        "targets[0].health.probes[1]: unknown probe 'readyness'",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n    health: {ready_path: healthz}\n",
        "targets[0].health.ready_path: expected a path starting with '/'",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n    models:\n      - name: m\n      - name: m\n",
        ":6: targets[0].models[1].name: duplicate model 'm'",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n"
        "    models:\n      - name: m\n        config: {max_batch_size: [1, 2]}\n",
        "targets[0].models[0].config.max_batch_size: expected a number, string or boolean",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n"
        "    models:\n      - name: m\n        artifacts: [{path: /m.bin, sha256: abc}]\n",
        "targets[0].models[0].artifacts[0].sha256: expected 64 hexadecimal digits",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n"
        "    models:\n      - name: m\n"
        "        canaries: [{id: c, path: /x, expect: {top_k: {path: ids, ids: [1], min_overlap: 2}}}]\n",
        "targets[0].models[0].canaries[0].expect.top_k.min_overlap: expected a number from 0 to 1",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n"
        "    models:\n      - name: m\n"
        "        canaries: [{id: c, path: /x, expect: {embedding: {path: v, reference: [0, 0]}}}]\n",
        "expect.embedding.reference: the reference vector is all zeros",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n"
        "    models:\n      - name: m\n"
        "        canaries: [{id: c, path: /x, body: {a: 1}, openai: {prompt: hi}}]\n",
        "targets[0].models[0].canaries[0]: set only one of body, kserve_v2, openai",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n"
        "    models:\n      - name: m\n        canaries: [{id: c, expect: {status: 200}}]\n",
        "targets[0].models[0].canaries[0].path: is required (or use kserve_v2: / openai:)",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n"
        "    models:\n      - name: m\n"
        "        canaries: [{id: c, path: /x, expect: {answer: {path: a, regex: '('}}}]\n",
        "canaries[0].expect.answer.regex: invalid regular expression",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n"
        "    models:\n      - name: m\n        canaries: [{id: c, path: /x, secret: yes please}]\n",
        "targets[0].models[0].canaries[0].secret: expected true or false",
    ),
    (
        "targets:\n  - name: a\n    metrics_url: http://h/m\n"
        "    models:\n      - name: m\n        canaries: [{id: c, path: /x}, {id: c, path: /y}]\n",
        "targets[0].models[0].canaries[1].id: duplicate canary id 'c'",
    ),
    (
        "targets:\n  - name: a\n    kind: triton\n    metrics_url: http://h:8002/metrics\n"
        "    models:\n      - name: m\n",
        ":2: targets[0].api_url: is required for health probes and canaries of kind triton",
    ),
]


def _write(tmp_path, text, name="config.yml"):
    secret = tmp_path / "missing-token"
    path = tmp_path / name
    path.write_text(text.format(secret=secret) if "{secret}" in text else text)
    return path


def test_good_config_loads(tmp_path):
    cfg = load(str(_write(tmp_path, GOOD)))
    (t,) = cfg.targets
    assert t.kind == "triton" and t.scrape_interval == 15 and t.scrape_timeout == 10
    assert dict(t.labels) == {"cluster": "eu-1", "team": "search"}
    assert t.stale_after == 60  # four scrape intervals by default


@pytest.mark.parametrize("text,expected", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_config_gives_one_line_and_exit_2(tmp_path, capsys, text, expected):
    path = _write(tmp_path, text)
    assert cli.main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert str(path) in err, err
    assert expected in err, err


def test_unreadable_secret_file(tmp_path):
    if os.geteuid() == 0:
        # root reads any file: use a directory in place of the file instead
        secret = tmp_path / "token"
        secret.mkdir()
    else:
        secret = tmp_path / "token"
        secret.write_text("s3cret")
        secret.chmod(0)
    text = f"targets:\n  - name: a\n    metrics_url: http://h/m\n    bearer_token_file: {secret}\n"
    with pytest.raises(ConfigError) as err:
        loads(text, "c.yml")
    assert str(err.value).startswith("c.yml:4: targets[0].bearer_token_file: ")
    assert ("is a directory" if os.geteuid() == 0 else "is not readable") in str(err.value)


def test_missing_config_file(tmp_path, capsys):
    assert cli.main(["check-config", str(tmp_path / "nope.yml")]) == 2
    assert "file does not exist" in capsys.readouterr().err


def test_real_binary_prints_no_traceback(tmp_path):
    path = _write(tmp_path, BAD[0][0])
    for args in (["check-config", str(path)], [f"--config.file={path}"]):
        proc = subprocess.run(
            [sys.executable, "-m", "inference_exporter", *args], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip().count("\n") == 0 and "unknown key" in proc.stderr


def test_bad_flag_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--log.format=xml"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--log.format" in err


def test_durations():
    from inference_exporter.durations import format_duration, parse_duration

    assert parse_duration("1m30s") == 90
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2h") == 7200
    assert parse_duration("1h30m") == 5400
    assert parse_duration("1w2d") == 9 * 86400
    assert format_duration(5400) == "1h30m" and format_duration(0.5) == "500ms"
    for bad in ("", "5", "m", "-1s", "1m1h", "1s1s", "1e3s", 5, True, "999999999y"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_a_config_imports_only_the_server_kinds_it_names(tmp_path):
    """The kinds ``kind:`` accepts come from the module names; a config imports the modules of
    the kinds it names only (thirteen imports were a tenth of a sidecar's start)."""
    config = tmp_path / "c.yml"
    config.write_text("targets:\n  - name: a\n    kind: vllm\n    metrics_url: http://127.0.0.1:1/metrics\n")
    code = (
        "import sys\n"
        "from inference_exporter import config, servers\n"
        "config.load(sys.argv[1])\n"
        "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('inference_exporter.servers.')"
        " and not m.rsplit('.', 1)[1].startswith('_')))\n"
        "print(set(servers.config_kinds()) == {'auto', *servers.all_kinds()})\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(config)], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "['vllm']"
    assert out[1] == "True"
