"""Starting the desktop app: the QApplication, the dark style, the engine, the first file, and screenshots.

docs/screenshot.png is made with (the demo track and the bundled model, no sound device, offscreen):
    demixui gui --backend null --screenshot docs/screenshot.png --screenshot-after 6 \\
        --gain drums=2 --gain bass=3 --gain other=-4
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from demixui.assets import APP_ICON, DEMO_TRACK, asset_path
from demixui.engine.routing import ChannelCountError, OutputLayout
from demixui.errors import DemixError, DeviceError
from demixui.ui.settings import AppSettings, AudioSettings
from demixui.ui.style import BACKGROUND, PANEL, STYLESHEET, TEXT
from demixui.ui.window import MainWindow


@dataclass
class LaunchOptions:
    file: str | None = None  # None: the bundled demo track
    backend: str = "portaudio"
    model: str | None = None  # overrides the remembered model
    settings_path: str | None = None  # an INI file instead of the user's settings
    screenshot: str | None = None
    screenshot_after_s: float = 3.0
    size: tuple[int, int] = (1280, 800)
    gains: dict[str, float] = field(default_factory=dict)  # stem -> starting fader position in dB


def application() -> QApplication:
    """The QApplication (created once) with the Fusion style, a dark palette and the stylesheet."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName("demixui")
    app.setOrganizationName("demixui")
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, BACKGROUND),
        (QPalette.ColorRole.Base, PANEL),
        (QPalette.ColorRole.Button, PANEL),
        (QPalette.ColorRole.Text, TEXT),
        (QPalette.ColorRole.WindowText, TEXT),
        (QPalette.ColorRole.ButtonText, TEXT),
    ):
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    app.setStyleSheet(STYLESHEET)
    icon = asset_path(APP_ICON)
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def settings_store(path: str | None) -> QSettings:
    if path is not None:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "demixui", "demixui")


def engine_factory(options: LaunchOptions, notes: list[str]):
    """`factory(AudioSettings) -> Engine`, run on the window's worker. A sound device that does not open
    falls back to the null backend (the app still works, silently) with a note for the banner; one with too
    few channels for the stem outputs or the cue bus plays the remix alone, with a note."""

    def build(audio: AudioSettings):
        from demixui.engine import Engine
        from demixui.engine.models import BUNDLED

        # --model plays everything; else files and live input each through their own (Settings)
        live_model = options.model or audio.live_model_path or BUNDLED
        kwargs = dict(model_path=options.model or audio.model_path, live_model_path=live_model,
                      output_device=audio.output_device, blocksize=audio.blocksize,
                      input_device=audio.input_device, outputs=audio.outputs)
        try:
            try:
                engine = Engine(backend=options.backend, **kwargs)
            except ChannelCountError as error:  # e.g. the 12-channel interface is not plugged in today
                notes.append(f"{error}: playing the remix alone (Settings ▸ Outputs)")
                kwargs["outputs"] = OutputLayout()
                engine = Engine(backend=options.backend, **kwargs)
        except DeviceError as error:
            if options.backend == "null":
                raise
            notes.append(f"{error}: running without sound (choose a device in Settings)")
            kwargs["output_device"] = None
            engine = Engine(backend="null", **kwargs)
        if engine.model_note:
            notes.append(engine.model_note)  # the live model is missing
        return engine

    return build


def build_window(options: LaunchOptions) -> MainWindow:
    """The shown main window; its engine is being built on the worker and the first file is queued."""
    if options.screenshot and options.settings_path is None:
        # a screenshot must not show (or touch) the user's recent files and devices
        temp_settings = tempfile.TemporaryDirectory(prefix="demixui-shot-")
        options.settings_path = str(Path(temp_settings.name) / "settings.ini")
    else:
        temp_settings = None
    settings = AppSettings(settings_store(options.settings_path))
    notes: list[str] = []
    window = MainWindow(settings, engine_factory=engine_factory(options, notes),
                        autoplay=options.screenshot is not None)
    window.temp_settings = temp_settings  # removed with the window

    def show_notes() -> None:
        for note in notes:
            window.show_error(note)
        notes.clear()

    window.engine_ready.connect(show_notes)
    if options.screenshot:
        window.resize(*options.size)  # otherwise the window keeps the size the user left it at
    for strip in window.mixer.strips:
        if strip.stem in options.gains:
            strip.set_gain_db(options.gains[strip.stem])  # reaches the engine once it is built
    first = options.file
    if first is None and settings.audio.live_input:
        window.open_live()  # remembered live input mode
    elif first is None:
        demo = asset_path(DEMO_TRACK)
        if demo.is_file():
            first = str(demo)
        else:
            window.show_note(f"The demo track is missing ({demo}): open a file (Ctrl+O) or drop one here.")
    if first is not None:
        window.open_file(first)
    window.show()
    return window


def launch(options: LaunchOptions) -> int:
    """Run the app until its window closes; returns the exit status."""
    if options.screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = application()
    window = build_window(options)
    if options.screenshot:
        schedule_screenshot(window, options.screenshot, options.screenshot_after_s)
    try:
        return app.exec()
    finally:
        window.shutdown()
        window.hide()
        if window.temp_settings is not None:
            window.temp_settings.cleanup()


def schedule_screenshot(window: MainWindow, path: str, after_s: float) -> None:
    """Once the first file plays, wait `after_s` seconds, save the window to `path` (atomically) and quit."""

    def take() -> None:
        save_screenshot(window, path)
        # quit() alone: closing the last window would post a second quit that ends the next event loop
        # someone runs in this process (the tests).
        QApplication.instance().quit()

    done = []

    def take_once() -> None:
        if not done:
            done.append(True)
            take()

    window.file_opened.connect(lambda _p: QTimer.singleShot(int(after_s * 1000), take_once))
    window.task_failed.connect(lambda _m: QTimer.singleShot(int(after_s * 1000), take_once))
    QTimer.singleShot(int((after_s + 30) * 1000), take_once)  # nothing opened at all: shoot what is there


def save_screenshot(window: MainWindow, path: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    window.refresh()
    pixmap = window.grab()
    tmp = target.with_name(f".{target.stem}.part.png")
    if not pixmap.save(str(tmp), "PNG"):
        raise DemixError(f"{target}: could not write the screenshot")
    os.replace(tmp, target)
