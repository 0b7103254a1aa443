"""``inference-exporter check-config FILE``: validate a config file without starting."""

from __future__ import annotations

from . import ArgumentParser, fail


def main(argv: list[str]) -> int:
    p = ArgumentParser(
        prog="inference-exporter check-config", description="Validate a config file without starting."
    )
    p.add_argument("file")
    args = p.parse_args(argv)
    from ..config import ConfigError, load

    try:
        config = load(args.file)
    except ConfigError as exc:
        return fail(str(exc))
    print(f"{args.file}: OK ({len(config.targets)} target{'s' if len(config.targets) != 1 else ''})")
    return 0
