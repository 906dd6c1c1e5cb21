"""`demixui data`: not built yet (see the open issues)."""

from __future__ import annotations

import argparse

from demixui.errors import DemixError

HELP = "make procedural multitrack training data (synth) and inspect it (stats)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise DemixError("'data' is not built yet")
