"""``inference-exporter check-config FILE``: validate a config file without starting."""

from __future__ import annotations

from . import ArgumentParser, fail


def main(argv: list[str]) -> int:
    p = ArgumentParser(
        prog="inference-exporter check-config", description="Validate a config file without starting."
    )
    p.add_argument("file")
    p.add_argument(
        "--web.config.file", dest="web_config_file", default="", help="also check this web config file"
    )
    args = p.parse_args(argv)
    from ..config import ConfigError, load
    from ..webconfig import load_web_config

    try:
        config = load(args.file)
        if args.web_config_file:
            load_web_config(args.web_config_file)
    except ConfigError as exc:
        return fail(str(exc))
    print(f"{args.file}: OK ({len(config.targets)} target{'s' if len(config.targets) != 1 else ''})")
    return 0
