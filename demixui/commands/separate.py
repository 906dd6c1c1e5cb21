"""`demixui separate`: not built yet (see the open issues)."""

from __future__ import annotations

import argparse

from demixui.errors import DemixError

HELP = "separate audio files into stem WAV files (offline, same code as playback)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise DemixError("'separate' is not built yet")
