"""Serve the ranking model (or, with ``--model embedder``, the embedding model) with the
KServe Python model server (v1 and v2 REST).

KServe has no success/failure counter: only ``request_*_seconds`` histograms. A row
of the wrong width makes ``predict`` raise (HTTP 500); the failed call is still
observed in ``request_predict_seconds`` but never reaches postprocess, so
``request_postprocess_seconds`` counts successes only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import embedding_model  # deploy/local/servers, on PYTHONPATH (launch.py)
import kserve
import kserve.protocol.rest.server as kserve_rest
import ranking_model  # deploy/local/servers, on PYTHONPATH (launch.py)


class RankerModel(kserve.Model):
    def __init__(self) -> None:
        super().__init__(ranking_model.MODEL_NAME)
        self.model = None
        self.load()

    def load(self) -> bool:
        self.model = ranking_model.train()
        self.ready = True
        return self.ready

    def predict(self, payload: dict, headers: dict | None = None) -> dict:
        return {"predictions": ranking_model.score(self.model, payload["instances"])}


class EmbedderModel(kserve.Model):
    """``{"instances": ["query", ...]}`` -> ``{"predictions": [[...], ...]}``, one unit vector per text."""

    def __init__(self) -> None:
        super().__init__(embedding_model.MODEL_NAME)
        self.model = None
        self.load()

    def load(self) -> bool:
        self.model = embedding_model.train()
        self.ready = True
        return self.ready

    def predict(self, payload: dict, headers: dict | None = None) -> dict:
        return {"predictions": embedding_model.embed(self.model, payload["instances"])}


MODELS = {ranking_model.MODEL_NAME: RankerModel, embedding_model.MODEL_NAME: EmbedderModel}


class _LoopbackConfig(kserve_rest.uvicorn.Config):
    """KServe hard-codes host 0.0.0.0 for its REST server; a local test server stays on loopback."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["host"] = "127.0.0.1"
        super().__init__(*args, **kwargs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--model", choices=sorted(MODELS), default=ranking_model.MODEL_NAME)
    args, _ = ap.parse_known_args()
    kserve_rest.uvicorn.Config = _LoopbackConfig
    # gRPC off: it would bind [::] and the exporter reads only REST.
    kserve.ModelServer(http_port=args.http_port, enable_grpc=False, workers=1).start([MODELS[args.model]()])


if __name__ == "__main__":
    main()
