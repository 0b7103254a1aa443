"""Adapter for ollama: being written (see the adapter contract in base.py)."""

KIND = "ollama"
NATIVE: tuple[str, ...] = ()


def detect(exp) -> bool:
    return False


def translate(exp, out) -> None:
    raise NotImplementedError("ollama adapter not written yet")
