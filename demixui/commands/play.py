"""`demixui play`: not built yet (see the open issues)."""

from __future__ import annotations

import argparse

from demixui.errors import DemixError

HELP = "play a file or live input headless, separating it in real time"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise DemixError("'play' is not built yet")
