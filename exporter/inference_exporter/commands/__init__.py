"""The subcommands of ``inference-exporter`` besides running the exporter, one module each.

``check_config`` validates a config file, ``probe`` scrapes one server once, ``events``
prints the journal, ``backtest`` replays the rule pack's alerts over history. Each
module's ``main(argv)`` returns the exit code. Bad input gives one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

EXIT_USAGE = 2


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse would print usage first)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def fail(message: str) -> int:
    sys.stderr.write(f"inference-exporter: {message}\n")
    return EXIT_USAGE


def journal_path_flag(p: argparse.ArgumentParser) -> None:
    from ..journal import DEFAULT_PATH

    p.add_argument(
        "--journal.path",
        dest="journal_path",
        default=DEFAULT_PATH,
        help="folder of the event journal (default: %(default)s)",
    )
