"""`demixui gui [FILE]`: open the desktop app, with FILE or the bundled demo track loaded and ready to play.

The window shows a live stem mixer (fader, mute, solo per stem, karaoke), a spectrogram of what is heard
and the latency/inference monitor. Settings (devices, block size, model) are remembered between runs.
"""

from __future__ import annotations

import argparse
import os
import sys

from demixui.errors import DemixError

HELP = "open the desktop app (the default command)"


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return width, height


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", help="audio file to open (default: the bundled demo track)")
    parser.add_argument("--model", metavar="ONNX", help="separation model file (default: the remembered one)")
    parser.add_argument("--gain", action="append", default=[], metavar="STEM=DB",
                        help="start with a stem's fader at DB, e.g. --gain vocals=-6; repeatable")
    # advanced: no sound device (CI, screenshots), a settings file instead of the user's, screenshots
    parser.add_argument("--backend", choices=("portaudio", "null"), default="portaudio",
                        help=argparse.SUPPRESS)
    parser.add_argument("--settings", metavar="INI", help=argparse.SUPPRESS)
    parser.add_argument("--screenshot", metavar="PNG",
                        help="play for a few seconds, save the window as PNG and quit")
    parser.add_argument("--screenshot-after", type=float, default=3.0, metavar="S", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=_size, default=(1280, 800), help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from demixui.commands.play import parse_gains
    from demixui.ui.app import LaunchOptions, launch

    gains = parse_gains(args.gain)  # a bad --gain is a one-line error before any window opens
    _require_display()
    return launch(
        LaunchOptions(
            file=args.file,
            backend=args.backend,
            model=args.model,
            settings_path=args.settings,
            screenshot=args.screenshot,
            screenshot_after_s=args.screenshot_after,
            size=args.size,
            gains=gains,
        )
    )


def _require_display() -> None:
    """On Linux without X11 or Wayland, Qt aborts the process with a page of text: say it in one line."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise DemixError(
            "no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set); "
            "use `demixui play FILE` for headless playback, or set QT_QPA_PLATFORM=offscreen"
        )
