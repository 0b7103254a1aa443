"""Adapter for torchserve: being written (see the adapter contract in base.py)."""

KIND = "torchserve"
NATIVE: tuple[str, ...] = ()


def detect(exp) -> bool:
    return False


def translate(exp, out) -> None:
    raise NotImplementedError("torchserve adapter not written yet")
