"""BentoML service for the ranking model (``bentoml serve service:Ranker``).

The model is trained when the worker starts. A row of the wrong width makes
scikit-learn raise inside the API, which BentoML answers with HTTP 500 and counts
in ``bentoml_service_request_total{http_response_code="500"}``.
"""

from __future__ import annotations

import bentoml
import ranking_model  # deploy/local/servers, on PYTHONPATH (launch.py)


@bentoml.service(name=ranking_model.MODEL_NAME, workers=1)
class Ranker:
    def __init__(self) -> None:
        self.model = ranking_model.train()

    @bentoml.api
    def rank(self, features: list[list[float]]) -> list[float]:
        return ranking_model.score(self.model, features)
