"""Adapter for llamacpp: being written (see the adapter contract in base.py)."""

KIND = "llamacpp"
NATIVE: tuple[str, ...] = ()


def detect(exp) -> bool:
    return False


def translate(exp, out) -> None:
    raise NotImplementedError("llamacpp adapter not written yet")
