"""The product-text embedding model for semantic search, trained at start-up.

Product titles are generated from a small vocabulary (brand, colour, material, product,
detail); TF-IDF over words and word pairs, reduced by a truncated SVD to ``DIMENSIONS``
and L2-normalised, turns a title or a search query into a vector. Everything comes from
a seed, so every start gives the same model without downloading anything.

A *failing* request is one whose inputs are not all non-empty strings: the model raises
``ValueError`` (the server answers 500), as the ranking model does for a short row.

The canary (``CANARY_QUERY``) compares the served vector with ``REFERENCE_FILE`` by
cosine similarity. Rewrite the file after changing the vocabulary or the model, with the
interpreter of the server that serves it::

    .cache/venvs/kserve-*/bin/python deploy/local/servers/embedding_model.py --write-reference
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

MODEL_NAME = "embedder"
DIMENSIONS = 32
SEED = 20240611
CANARY_QUERY = "wireless noise cancelling headphones"
REFERENCE_FILE = Path(__file__).resolve().parent / "embedding_reference.json"

BRANDS = ("acme", "nordic", "zenith", "urban", "alpine", "solaris", "kiko", "vertex")
COLOURS = ("black", "white", "red", "blue", "green", "grey", "navy", "beige")
MATERIALS = ("leather", "cotton", "steel", "wooden", "ceramic", "recycled", "bamboo", "wool")
# Product families, (products, details): words that go together, so related products land close.
FAMILIES = {
    "audio": (
        ("headphones", "earbuds", "speaker", "soundbar"),
        ("wireless", "noise cancelling", "bluetooth"),
    ),
    "shoes": (("running shoes", "sneakers", "boots", "sandals"), ("trail", "waterproof", "cushioned")),
    "kitchen": (
        ("frying pan", "chef knife", "kettle", "coffee grinder"),
        ("non-stick", "stainless", "induction"),
    ),
    "home": (("desk lamp", "armchair", "bookshelf", "rug"), ("dimmable", "modern", "scandinavian")),
    "outdoor": (
        ("tent", "backpack", "sleeping bag", "hiking poles"),
        ("ultralight", "4-season", "hydration"),
    ),
}
SIZES = ("small", "medium", "large", "xl", "size 38", "size 42", "2 person", "30 l")


def product_titles(n: int = 3000, seed: int = SEED) -> list[str]:
    """Generated product titles, e.g. ``"zenith navy wireless headphones bluetooth"``."""
    rng = random.Random(seed)
    titles = []
    for _ in range(n):
        products, details = FAMILIES[rng.choice(sorted(FAMILIES))]
        title = [rng.choice(BRANDS), rng.choice(COLOURS)]
        if rng.random() < 0.4:
            title.append(rng.choice(MATERIALS))
        title += [rng.choice(details), rng.choice(products)]
        if rng.random() < 0.5:
            title.append(rng.choice(SIZES))
        titles.append(" ".join(title))
    return titles


def search_queries(n: int, rng: random.Random) -> list[str]:
    """Shopper queries: one to four words of a product family, sometimes a colour or a brand."""
    queries = []
    for _ in range(n):
        products, details = FAMILIES[rng.choice(sorted(FAMILIES))]
        query = [rng.choice(products)]
        if rng.random() < 0.5:
            query.insert(0, rng.choice(details))
        if rng.random() < 0.3:
            query.insert(0, rng.choice(COLOURS))
        if rng.random() < 0.15:
            query.insert(0, rng.choice(BRANDS))
        queries.append(" ".join(query))
    return queries


def good_texts(n: int = 3, seed: int = SEED + 7) -> list[str]:
    """Texts for a request the model answers."""
    return search_queries(n, random.Random(seed))


def bad_texts(n: int = 3) -> list:
    """Inputs the model rejects: one of them is not a string."""
    return [*good_texts(n - 1), 42]


def train(seed: int = SEED):
    """A fitted TF-IDF + truncated SVD pipeline (deterministic for a seed)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TruncatedSVD(n_components=DIMENSIONS, n_iter=10, random_state=seed),
    )
    return pipeline.fit(product_titles(seed=seed))


def embed(model, texts) -> list[list[float]]:
    """One unit-length vector per text; raises ValueError unless every input is a non-empty string."""
    import numpy as np

    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise ValueError("expected a non-empty list of non-empty strings")
    vectors = model.transform(texts)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).round(6).tolist()


def main(argv: list[str]) -> int:
    if argv != ["--write-reference"]:
        print(__doc__.split("::")[-1].strip(), file=sys.stderr)
        return 2
    vector = embed(train(), [CANARY_QUERY])[0]
    REFERENCE_FILE.write_text(json.dumps(vector) + "\n")
    print(f"wrote {REFERENCE_FILE.name}: {len(vector)} dimensions for {CANARY_QUERY!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
