"""Adapter for mlserver: being written (see the adapter contract in base.py)."""

KIND = "mlserver"
NATIVE: tuple[str, ...] = ()


def detect(exp) -> bool:
    return False


def translate(exp, out) -> None:
    raise NotImplementedError("mlserver adapter not written yet")
