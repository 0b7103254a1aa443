"""The e-commerce ranking model every local server serves, trained at start-up.

Products are described by five numeric features; a hidden linear "true relevance"
plus noise decides whether a shopper clicked. A logistic regression learns it, so
every server (and the demo's traffic generator) gets the same model from the same
seed without downloading anything.

A *failing* request, everywhere, is a product row with the wrong number of
features: the model itself rejects it (scikit-learn raises ``ValueError``), so the
server really fails the inference rather than refusing it at the door.

Faults for the demo: when ``RANKER_CONTROL_FILE`` names the demo's control file
(``deploy/local/control.py``), ``score`` first sleeps its ``latency_seconds`` (a slow
model, as the server measures it), and servers that can label a version serve
``model_version()``.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

MODEL_NAME = "ranker"
FEATURES = ("price", "rating", "click_through_rate", "days_since_listed", "category_match")
SEED = 20240611

# The hidden relevance the shoppers follow: cheap, well rated, often clicked, fresh, on topic.
_TRUE_WEIGHTS = np.array([-0.8, 1.2, 2.5, -0.6, 1.5])
_TRUE_BIAS = -0.3


def generate_products(n: int, seed: int = SEED) -> np.ndarray:
    """Standardised product features, shape (n, len(FEATURES)), float32."""
    rng = np.random.default_rng(seed)
    price = rng.lognormal(mean=3.5, sigma=0.8, size=n)
    rating = np.clip(rng.normal(4.0, 0.7, size=n), 1.0, 5.0)
    ctr = rng.beta(2, 30, size=n)
    age_days = rng.exponential(60.0, size=n)
    category_match = rng.integers(0, 2, size=n).astype(float)
    raw = np.column_stack([np.log(price), rating, ctr, age_days, category_match])
    # Fixed scaling constants (not fitted on the batch) so a single row scales the same way.
    centre = np.array([3.5, 4.0, 0.0625, 60.0, 0.5])
    spread = np.array([0.8, 0.7, 0.043, 60.0, 0.5])
    return ((raw - centre) / spread).astype(np.float32)


def clicks(features: np.ndarray, seed: int = SEED) -> np.ndarray:
    """Whether a shopper clicked each product (0/1), drawn from the hidden relevance."""
    rng = np.random.default_rng(seed + 1)
    p = 1.0 / (1.0 + np.exp(-(features @ _TRUE_WEIGHTS + _TRUE_BIAS)))
    return (rng.random(len(features)) < p).astype(int)


def train(n: int = 4000, seed: int = SEED):
    """A fitted ``sklearn.linear_model.LogisticRegression`` (deterministic for a seed)."""
    from sklearn.linear_model import LogisticRegression

    x = generate_products(n, seed)
    return LogisticRegression(max_iter=500).fit(x, clicks(x, seed))


CONTROL_ENV = "RANKER_CONTROL_FILE"
_control_cache: dict = {"stamp": None, "settings": {}}


def _control() -> dict:
    """The demo's control settings, re-read only when the file changes; {} outside the demo."""
    path = os.environ.get(CONTROL_ENV)
    if not path:
        return {}
    try:
        stat = os.stat(path)
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != _control_cache["stamp"]:
            with open(path) as fh:
                _control_cache["settings"] = json.load(fh)
            _control_cache["stamp"] = stamp
    except (OSError, ValueError):
        pass  # missing or half-written: keep the last good settings
    return _control_cache["settings"]


def model_version() -> int:
    """The version to serve: the demo's ``model_version`` (``inject.sh version`` raises it), else 1."""
    return int(_control().get("model_version") or 1)


def score(model, rows) -> list[float]:
    """Click probability per product row; raises ValueError for rows of the wrong width."""
    delay = float(_control().get("latency_seconds") or 0)
    if delay > 0:
        time.sleep(delay)
    return model.predict_proba(np.asarray(rows, dtype=np.float32))[:, 1].tolist()


# The canary's search page: twelve products whose three most relevant ones stand clearly
# apart (by the hidden relevance), so a healthy model always puts them on top.
CANARY_SEED = SEED + 96
CANARY_PAGE = 12


def canary_rows() -> list[list[float]]:
    """The golden page of products the sidecar's ranking canary sends."""
    return generate_products(CANARY_PAGE, CANARY_SEED).tolist()


def canary_top(k: int = 3) -> list[int]:
    """Positions on the golden page of its k most relevant products, best first."""
    relevance = np.asarray(canary_rows()) @ _TRUE_WEIGHTS
    return [int(i) for i in np.argsort(-relevance)[:k]]


def good_rows(n: int = 3, seed: int = SEED + 7) -> list[list[float]]:
    """Rows for a request the model answers."""
    return generate_products(n, seed).tolist()


def bad_rows(n: int = 3) -> list[list[float]]:
    """Rows the model rejects: one feature short."""
    return [row[:-1] for row in good_rows(n)]
