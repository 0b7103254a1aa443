"""Adapter for sglang: being written (see the adapter contract in base.py)."""

KIND = "sglang"
NATIVE: tuple[str, ...] = ()


def detect(exp) -> bool:
    return False


def translate(exp, out) -> None:
    raise NotImplementedError("sglang adapter not written yet")
