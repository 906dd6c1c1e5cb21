"""`demixui evaluate`: not built yet (see the open issues)."""

from __future__ import annotations

import argparse

from demixui.errors import DemixError

HELP = "score a model on a MUSDB18-HQ-layout folder (SDR per stem, floor and ceiling)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise DemixError("'evaluate' is not built yet")
