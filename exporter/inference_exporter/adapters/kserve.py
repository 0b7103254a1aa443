"""Adapter for kserve: being written (see the adapter contract in base.py)."""

KIND = "kserve"
NATIVE: tuple[str, ...] = ()


def detect(exp) -> bool:
    return False


def translate(exp, out) -> None:
    raise NotImplementedError("kserve adapter not written yet")
