"""The per-target ``models:`` list of the config (expected versions, config, artifacts, canaries),
strictly validated.

The types mirror the YAML (``expect.top_k.{path, ids, k, min_overlap}`` is a
:class:`TopKCheck` under :class:`Expect`), so ``/config`` shows what the user wrote.
Errors use the config module's one-line form, e.g.
``config.yml:31: targets[0].models[0].canaries[0].expect.top_k.min_overlap: expected a number from 0 to 1``.
Canary bodies marked ``secret: true`` are kept in the config object only; nothing prints them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..validation import (
    ConfigError,
    Context,
    YamlMap,
    boolean,
    check_keys,
    describe,
    duration,
    expect_map,
    integer,
    ratio,
    read_limited,
    regex,
    sequence,
    string,
    sub_map,
    url_path,
)

METHODS = ("GET", "POST", "PUT")
CANARY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_REFERENCE_BYTES = 16 * 1024 * 1024  # an embedding reference: a list of floats


@dataclass(frozen=True)
class Artifact:
    path: str
    sha256: str


@dataclass(frozen=True)
class JsonPathCheck:
    path: str
    equals: str | None = None  # JSON text compared as JSON; None: the path only has to exist


@dataclass(frozen=True)
class TopKCheck:
    path: str
    ids: tuple[str, ...]  # the expected item ids, best first
    k: int
    min_overlap: float = 1.0


@dataclass(frozen=True)
class EmbeddingCheck:
    path: str
    reference: tuple[float, ...]  # from reference: or read from reference_file:
    min_cosine: float = 0.99
    reference_file: str = ""


@dataclass(frozen=True)
class AnswerCheck:
    path: str
    regex: str = ""


@dataclass(frozen=True)
class Expect:
    status: int = 200
    max_latency: float = 0.0  # seconds; 0: no limit
    json_path: JsonPathCheck | None = None
    top_k: TopKCheck | None = None
    embedding: EmbeddingCheck | None = None
    answer: AnswerCheck | None = None

    @property
    def needs_json(self) -> bool:
        return any((self.json_path, self.top_k, self.embedding, self.answer))


@dataclass(frozen=True)
class CanaryConfig:
    id: str
    method: str
    path: str
    body: str  # JSON text, empty for none; frozen dataclasses need hashable fields
    secret: bool = False
    every: float = 60.0
    timeout: float = 5.0
    max_traffic_ratio: float = 0.0  # 0: no cap
    expect: Expect = field(default_factory=Expect)

    def __repr__(self) -> str:  # never print a body, secret or not
        return f"CanaryConfig(id={self.id!r}, method={self.method!r}, path={self.path!r})"

    def secret_values(self) -> list[str]:
        """String and number leaves of a secret body (for the journal's scrubber)."""
        if not self.secret or not self.body:
            return []
        out: list[str] = []

        def walk(v):
            if isinstance(v, dict):
                for x in v.values():
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)
            elif isinstance(v, str):
                out.append(v)

        walk(json.loads(self.body))
        return out


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: str = ""
    config: tuple[tuple[str, Any], ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    canaries: tuple[CanaryConfig, ...] = ()


MODEL_KEYS = {"name", "version", "config", "artifacts", "canaries"}
ARTIFACT_KEYS = {"path", "sha256"}
CANARY_KEYS = {
    "id",
    "method",
    "path",
    "body",
    "secret",
    "kserve_v2",
    "openai",
    "every",
    "timeout",
    "max_traffic_ratio",
    "expect",
}
EXPECT_KEYS = {"status", "max_latency", "json_path", "top_k", "embedding", "answer"}
JSON_PATH_KEYS = {"path", "equals"}
TOP_K_KEYS = {"path", "ids", "k", "min_overlap"}
EMBEDDING_KEYS = {"path", "reference", "reference_file", "min_cosine"}
ANSWER_KEYS = {"path", "regex"}
KSERVE_KEYS = {"inputs", "outputs", "model", "version"}
OPENAI_KEYS = {"model", "prompt", "messages", "input", "max_tokens"}


def parse_models(ctx: Context, data: YamlMap, prefix: str, timeout: float) -> tuple[ModelSpec, ...]:
    raw = sequence(ctx, data, "models", prefix)
    models = []
    seen: set[str] = set()
    canary_ids: set[str] = set()
    for i, item in enumerate(raw):
        mp = f"{prefix}models[{i}]."
        m = expect_map(ctx, item, raw.lines[i], f"{prefix}models[{i}]")
        check_keys(ctx, m, MODEL_KEYS, mp)
        name = string(ctx, m, "name", mp, required=True)
        if name in seen:
            raise ctx.fail(m.lines.get("name"), f"{mp}name", f"duplicate model {name!r}")
        seen.add(name)
        version = m.get("version", "")
        if isinstance(version, (int, float)) and not isinstance(version, bool):
            version = str(version)  # Triton versions are numbers in YAML
        elif "version" in m:
            version = string(ctx, m, "version", mp)
        config: list[tuple[str, Any]] = []
        if "config" in m:
            c = expect_map(ctx, m["config"], m.lines.get("config"), f"{mp}config")
            for key, value in c.items():
                if not isinstance(value, (str, int, float, bool)):
                    raise ctx.fail(
                        c.lines.get(key),
                        f"{mp}config.{key}",
                        f"expected a number, string or boolean, got {describe(value)}",
                    )
                config.append((str(key), value))
        artifacts = []
        alist = sequence(ctx, m, "artifacts", mp)
        for j, a in enumerate(alist):
            ap = f"{mp}artifacts[{j}]."
            ad = expect_map(ctx, a, alist.lines[j], f"{mp}artifacts[{j}]")
            check_keys(ctx, ad, ARTIFACT_KEYS, ap)
            path = string(ctx, ad, "path", ap, required=True)
            digest = string(ctx, ad, "sha256", ap, required=True).lower()
            if not SHA256_RE.match(digest):
                raise ctx.fail(ad.lines.get("sha256"), f"{ap}sha256", "expected 64 hexadecimal digits")
            p = Path(path)
            artifacts.append(Artifact(str(p if p.is_absolute() else ctx.base / p), digest))
        canaries = []
        clist = sequence(ctx, m, "canaries", mp)
        for j, c in enumerate(clist):
            canary = _canary(ctx, c, clist.lines[j], f"{mp}canaries[{j}]", name, timeout)
            if canary.id in canary_ids:
                raise ctx.fail(clist.lines[j], f"{mp}canaries[{j}].id", f"duplicate canary id {canary.id!r}")
            canary_ids.add(canary.id)
            canaries.append(canary)
        models.append(ModelSpec(name, version, tuple(config), tuple(artifacts), tuple(canaries)))
    return tuple(models)


def _canary(ctx: Context, raw: Any, line: int, where: str, model: str, timeout: float) -> CanaryConfig:
    cp = where + "."
    c = expect_map(ctx, raw, line, where)
    check_keys(ctx, c, CANARY_KEYS, cp)
    cid = string(ctx, c, "id", cp, required=True)
    if not CANARY_ID_RE.match(cid):
        raise ctx.fail(c.lines.get("id"), f"{cp}id", f"{cid!r} may use letters, digits and _.:- (at most 64)")
    helpers = [k for k in ("body", "kserve_v2", "openai") if k in c]
    if len(helpers) > 1:
        raise ctx.fail(c.line, where, f"set only one of body, kserve_v2, openai (got {', '.join(helpers)})")
    method = "POST"
    path = ""
    body: Any = None
    if "kserve_v2" in c:
        k = expect_map(ctx, c["kserve_v2"], c.lines.get("kserve_v2"), f"{cp}kserve_v2")
        check_keys(ctx, k, KSERVE_KEYS, f"{cp}kserve_v2.")
        inputs = sequence(ctx, k, "inputs", f"{cp}kserve_v2.")
        if not inputs:
            raise ctx.fail(k.line, f"{cp}kserve_v2.inputs", "is required (a list of KServe v2 input tensors)")
        body = {"inputs": inputs}
        if "outputs" in k:
            body["outputs"] = sequence(ctx, k, "outputs", f"{cp}kserve_v2.")
        m = string(ctx, k, "model", f"{cp}kserve_v2.") or model
        v = str(k.get("version", "")) or ""
        path = f"/v2/models/{m}/versions/{v}/infer" if v else f"/v2/models/{m}/infer"
    elif "openai" in c:
        o = expect_map(ctx, c["openai"], c.lines.get("openai"), f"{cp}openai")
        check_keys(ctx, o, OPENAI_KEYS, f"{cp}openai.")
        kinds = [k for k in ("prompt", "messages", "input") if k in o]
        if len(kinds) != 1:
            raise ctx.fail(
                o.line,
                f"{cp}openai",
                "set exactly one of prompt (completions), messages (chat), input (embeddings)",
            )
        body = {"model": string(ctx, o, "model", f"{cp}openai.") or model, kinds[0]: o[kinds[0]]}
        if kinds[0] != "input":
            body["max_tokens"] = integer(ctx, o, "max_tokens", f"{cp}openai.", 16, 1, 100000)
        path = {"prompt": "/v1/completions", "messages": "/v1/chat/completions", "input": "/v1/embeddings"}[
            kinds[0]
        ]
    else:
        body = c.get("body")
        if body is not None and not isinstance(body, (dict, list)):
            raise ctx.fail(
                c.lines.get("body"), f"{cp}body", f"expected a JSON object or list, got {describe(body)}"
            )
        method = "POST" if body is not None else "GET"
    if "method" in c:
        method = string(ctx, c, "method", cp).upper()
        if method not in METHODS:
            raise ctx.fail(c.lines.get("method"), f"{cp}method", f"expected one of {', '.join(METHODS)}")
    path = url_path(ctx, c, "path", cp) or path
    if not path:
        raise ctx.fail(c.line, f"{cp}path", "is required (or use kserve_v2: / openai:)")
    every = duration(ctx, c, "every", cp, 60.0)
    c_timeout = duration(ctx, c, "timeout", cp, timeout, minimum=0.01)
    return CanaryConfig(
        id=cid,
        method=method,
        path=path,
        body=json.dumps(body, sort_keys=True) if body is not None else "",
        secret=boolean(ctx, c, "secret", cp),
        every=every,
        timeout=c_timeout,
        max_traffic_ratio=ratio(ctx, c, "max_traffic_ratio", cp, 0.0),
        expect=_expect(ctx, c, cp),
    )


def _expect(ctx: Context, c: YamlMap, cp: str) -> Expect:
    if "expect" not in c:
        return Expect()
    ep = f"{cp}expect."
    e = expect_map(ctx, c["expect"], c.lines.get("expect"), f"{cp}expect")
    check_keys(ctx, e, EXPECT_KEYS, ep)
    kw: dict[str, Any] = {"status": integer(ctx, e, "status", ep, 200, 100, 599)}
    if "max_latency" in e:
        kw["max_latency"] = duration(ctx, e, "max_latency", ep, 0.0)
    if "json_path" in e:
        j = sub_map(ctx, e, "json_path", ep, JSON_PATH_KEYS)
        kw["json_path"] = JsonPathCheck(
            string(ctx, j, "path", f"{ep}json_path.", required=True),
            json.dumps(j["equals"]) if "equals" in j else None,
        )
    if "top_k" in e:
        t = sub_map(ctx, e, "top_k", ep, TOP_K_KEYS)
        tp = f"{ep}top_k."
        ids = sequence(ctx, t, "ids", tp)
        if not ids:
            raise ctx.fail(t.line, f"{tp}ids", "is required: the expected item ids, best first")
        kw["top_k"] = TopKCheck(
            path=string(ctx, t, "path", tp, required=True),
            ids=tuple(str(x) for x in ids),
            k=integer(ctx, t, "k", tp, len(ids), 1, 100000),
            min_overlap=ratio(ctx, t, "min_overlap", tp, 1.0),
        )
    if "embedding" in e:
        m = sub_map(ctx, e, "embedding", ep, EMBEDDING_KEYS)
        mp = f"{ep}embedding."
        reference, reference_file = _reference(ctx, m, mp)
        kw["embedding"] = EmbeddingCheck(
            path=string(ctx, m, "path", mp, required=True),
            reference=reference,
            min_cosine=ratio(ctx, m, "min_cosine", mp, 0.99),
            reference_file=reference_file,
        )
    if "answer" in e:
        a = sub_map(ctx, e, "answer", ep, ANSWER_KEYS)
        ap = f"{ep}answer."
        kw["answer"] = AnswerCheck(string(ctx, a, "path", ap, required=True), regex(ctx, a, "regex", ap))
    return Expect(**kw)


def _reference(ctx: Context, m: YamlMap, mp: str) -> tuple[tuple[float, ...], str]:
    if ("reference" in m) == ("reference_file" in m):
        raise ctx.fail(
            m.line, f"{mp}reference", "set exactly one of reference (a list of numbers) or reference_file"
        )
    source = ""
    if "reference" in m:
        values, line, key = m["reference"], m.lines.get("reference"), f"{mp}reference"
    else:
        rel = string(ctx, m, "reference_file", mp, required=True)
        path = Path(rel) if Path(rel).is_absolute() else ctx.base / rel
        source = str(path)
        line, key = m.lines.get("reference_file"), f"{mp}reference_file"
        try:
            values = json.loads(read_limited(path, MAX_REFERENCE_BYTES))
        except ConfigError as exc:
            raise ctx.fail(line, key, str(exc)) from None
        except (ValueError, RecursionError):  # the parser's message would quote the file
            raise ctx.fail(line, key, f"{str(path)!r} does not hold a JSON list of numbers") from None
    if (
        not isinstance(values, list)
        or not values
        or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in values
        )
    ):
        raise ctx.fail(line, key, "expected a non-empty list of numbers")
    if not any(values):
        raise ctx.fail(line, key, "the reference vector is all zeros: cosine similarity is undefined")
    return tuple(float(x) for x in values), source
