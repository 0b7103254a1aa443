"""Serve the ranking model with Seldon MLServer's scikit-learn runtime.

Trains the model, writes it with joblib next to ``settings.json`` and
``model-settings.json`` in the work folder, then replaces itself with
``mlserver start`` (same process, same process group). A row of the wrong width
makes scikit-learn raise inside the runtime, which MLServer counts in
``model_infer_request_failure_total``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import joblib
import ranking_model  # deploy/local/servers, on PYTHONPATH (launch.py)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--grpc-port", type=int, required=True)
    ap.add_argument("--metrics-port", type=int, required=True)
    ap.add_argument("--workdir", type=Path, required=True)
    args = ap.parse_args()

    repo = args.workdir / "mlserver-repo"
    model_dir = repo / ranking_model.MODEL_NAME
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(ranking_model.train(), model_dir / "model.joblib")
    settings = {
        "host": "127.0.0.1",
        "http_port": args.http_port,
        "grpc_port": args.grpc_port,
        "metrics_port": args.metrics_port,
        # One process: no worker pool to leave behind, metrics straight from the server.
        "parallel_workers": 0,
        "debug": False,
    }
    (repo / "settings.json").write_text(json.dumps(settings, indent=2))
    model_settings = {
        "name": ranking_model.MODEL_NAME,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": f"v{ranking_model.model_version()}"},
    }
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    mlserver = shutil.which("mlserver", path=str(Path(sys.executable).parent))
    os.execv(mlserver, [mlserver, "start", str(repo)])


if __name__ == "__main__":
    main()
