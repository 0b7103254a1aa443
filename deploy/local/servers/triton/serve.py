"""Serve the ranking model with NVIDIA PyTriton (a real tritonserver, CPU only).

Run with this folder's virtualenv; ``LD_LIBRARY_PATH`` must hold the LIBDIR of the
interpreter that built it (the Python backend stub links libpython; see launch.py).
A row of the wrong width makes the model raise, which Triton counts as
``nv_inference_request_failure{reason="BACKEND"}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import ranking_model  # deploy/local/servers, on PYTHONPATH (launch.py)
from pytriton.decorators import batch
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--grpc-port", type=int, required=True)
    ap.add_argument("--metrics-port", type=int, required=True)
    ap.add_argument("--workdir", type=Path, required=True)
    args = ap.parse_args()

    model = ranking_model.train()

    @batch
    def infer(features: np.ndarray) -> dict[str, np.ndarray]:
        scores = ranking_model.score(model, features)
        return {"score": np.asarray(scores, dtype=np.float32).reshape(-1, 1)}

    config = TritonConfig(
        http_address="127.0.0.1",
        http_port=args.http_port,
        grpc_address="127.0.0.1",
        grpc_port=args.grpc_port,
        metrics_address="127.0.0.1",
        metrics_port=args.metrics_port,
        allow_metrics=True,
        allow_gpu_metrics=False,
        allow_cpu_metrics=True,
        metrics_interval_ms=500,
    )
    # Loopback only, so the repository/statistics APIs the exporter reads stay open (no token).
    security = TritonSecurityConfig(restricted_endpoints=[])
    with Triton(config=config, workspace=args.workdir / "pytriton", security_config=security) as triton:
        # Width -1: rows of any width reach the model, which rejects the wrong ones itself.
        triton.bind(
            model_name=ranking_model.MODEL_NAME,
            model_version=ranking_model.model_version(),
            infer_func=infer,
            inputs=[Tensor(name="features", dtype=np.float32, shape=(-1,))],
            outputs=[Tensor(name="score", dtype=np.float32, shape=(1,))],
            config=ModelConfig(max_batch_size=64),
        )
        triton.serve()


if __name__ == "__main__":
    main()
