"""`demixui train`: not built yet (see the open issues)."""

from __future__ import annotations

import argparse

from demixui.errors import DemixError

HELP = "train a separation model on MUSDB18-HQ-layout folders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise DemixError("'train' is not built yet")
