"""Adapter for tgi: being written (see the adapter contract in base.py)."""

KIND = "tgi"
NATIVE: tuple[str, ...] = ()


def detect(exp) -> bool:
    return False


def translate(exp, out) -> None:
    raise NotImplementedError("tgi adapter not written yet")
