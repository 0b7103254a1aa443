"""Adapter for bentoml: being written (see the adapter contract in base.py)."""

KIND = "bentoml"
NATIVE: tuple[str, ...] = ()


def detect(exp) -> bool:
    return False


def translate(exp, out) -> None:
    raise NotImplementedError("bentoml adapter not written yet")
