"""Adapter for generic: being written (see the adapter contract in base.py)."""

KIND = "generic"
NATIVE: tuple[str, ...] = ()


def detect(exp) -> bool:
    return False


def translate(exp, out) -> None:
    raise NotImplementedError("generic adapter not written yet")
