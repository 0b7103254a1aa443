"""Adapter for rayserve: being written (see the adapter contract in base.py)."""

KIND = "rayserve"
NATIVE: tuple[str, ...] = ()


def detect(exp) -> bool:
    return False


def translate(exp, out) -> None:
    raise NotImplementedError("rayserve adapter not written yet")
