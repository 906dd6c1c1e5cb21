"""The command front: version, help listing every subcommand, and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from demixui import __version__
from demixui.cli import COMMANDS, _with_default_command, build_parser, main


def test_version_prints_and_exits_zero(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"demixui {__version__}"


def test_help_lists_every_subcommand():
    help_text = build_parser().format_help()
    for name in COMMANDS:
        assert name in help_text, name


def test_console_script_runs_in_a_fresh_process():
    result = subprocess.run(
        [sys.executable, "-m", "demixui", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "separate" in result.stdout


def test_bare_file_argument_means_gui():
    assert _with_default_command([]) == ["gui"]
    assert _with_default_command(["song.wav"]) == ["gui", "song.wav"]
    assert _with_default_command(["play", "x.wav"]) == ["play", "x.wav"]


def test_importing_the_cli_does_not_import_torch():
    code = "import demixui.cli, sys; demixui.cli.build_parser(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr


def test_gui_without_a_display_is_one_line_not_a_qt_abort(monkeypatch, capsys):
    if not sys.platform.startswith("linux"):
        pytest.skip("the display check is for Linux (X11/Wayland)")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert main(["gui"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no display" in err and "demixui play" in err
