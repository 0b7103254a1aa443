"""Adapter for tfserving: being written (see the adapter contract in base.py)."""

KIND = "tfserving"
NATIVE: tuple[str, ...] = ()


def detect(exp) -> bool:
    return False


def translate(exp, out) -> None:
    raise NotImplementedError("tfserving adapter not written yet")
