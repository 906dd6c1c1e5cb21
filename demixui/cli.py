"""The `demixui` command: a thin argparse front. Each subcommand lives in `demixui/commands/<name>.py`.

A command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`. It imports
anything heavy (torch, Qt, onnxruntime) inside `run`, so `demixui --help` stays fast and the app never
imports torch.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys

from demixui import __version__
from demixui.errors import DemixError

# Signals that end a command the way Ctrl+C does (temporaries removed, recordings finished) rather than
# killing it where it stands.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread so every `except KeyboardInterrupt` and `finally` that
    cleans up after Ctrl+C runs for them too. `exit_status` is 128 + the signal number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.exit_status = 128 + signum


@contextlib.contextmanager
def stop_signals_as_interrupts():
    """While the command runs, SIGTERM and SIGHUP raise `Stopped` (only possible in the main thread)."""
    def stop(signum, frame):
        raise Stopped(signum)

    previous = {}
    try:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, stop)
    except ValueError:  # not the main thread (a test calling main from a worker): leave them alone
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

# name -> module; the order is the order `--help` lists them in.
COMMANDS: dict[str, str] = {
    "gui": "demixui.commands.gui",
    "play": "demixui.commands.play",
    "separate": "demixui.commands.separate",
    "evaluate": "demixui.commands.evaluate",
    "train": "demixui.commands.train",
    "export": "demixui.commands.export",
    "bench": "demixui.commands.bench",
    "data": "demixui.commands.data",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="demixui",
        description="Separate music into vocals, drums, bass and other while it plays. "
        "With no command (or just a FILE) the desktop app opens.",
    )
    parser.add_argument("--version", action="version", version=f"demixui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(
            name, help=module.HELP, description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,  # docstrings keep their lines
        )
        module.add_arguments(command_parser)
        command_parser.set_defaults(run=module.run)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """`demixui` and `demixui FILE` open the GUI; anything else is parsed as given."""
    if not argv:
        return ["gui"]
    first = argv[0]
    if first in COMMANDS or first.startswith("-"):
        return argv
    return ["gui", *argv]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(_with_default_command(argv))
    # The window keeps the default (Qt's event loop would hold the Python handler back anyway).
    signals = stop_signals_as_interrupts() if args.command != "gui" else contextlib.nullcontext()
    try:
        with signals:
            return int(args.run(args) or 0)
    except DemixError as error:
        print(f"demixui: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        if isinstance(interrupt, Stopped):
            print(f"demixui: stopped by {interrupt}", file=sys.stderr)
            return interrupt.exit_status
        print("demixui: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as error:  # e.g. `train` without torch, or a bundle without the training extra
        print(
            f"demixui: error: '{args.command}' needs the Python package '{error.name}', "
            "which is not installed "
            "(install the training extra: pip install 'demixui[train]')",
            file=sys.stderr,
        )
        return 1
    except OSError as error:  # a file or device the OS refused: the message names it
        print(f"demixui: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - last line of defence: one line, not a traceback
        if os.environ.get("DEMIXUI_DEBUG"):
            raise
        print(
            f"demixui: internal error: {type(error).__name__}: {error} (set DEMIXUI_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 70


def entry_point() -> None:
    import multiprocessing

    multiprocessing.freeze_support()  # a frozen app's `separate --jobs` workers start here, not main()
    sys.exit(main())
