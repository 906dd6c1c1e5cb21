"""What the window costs while it plays: UI frame rate, GUI-thread CPU, and the engine's underruns and
inference p99 with the window shown against the same run with no window drawing (null backend, offscreen).

    python -m demixui.ui.benchmark [--model ONNX] [--seconds S] [FILE]

FILE defaults to the demo track and the model to the bundled one. The GUI thread shares the GIL with the
audio callback, so its drawing time is time the callback may wait: compare the two lines.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def measure(model: str | None, path: str, seconds: float, shown: bool) -> str:
    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from demixui.engine import Engine
    from demixui.ui.app import application
    from demixui.ui.settings import AppSettings
    from demixui.ui.window import MainWindow

    app = application()
    with tempfile.TemporaryDirectory() as folder:
        settings = AppSettings(QSettings(str(Path(folder) / "s.ini"), QSettings.Format.IniFormat))
        window = MainWindow(settings, engine=Engine(model, backend="null"))
        window.resize(1280, 800)
        if shown:
            window.show()
        else:
            window.timer.stop()
        engine = window.engine
        engine.open_file(path)
        engine.set_loop(True)
        engine.play()
        frames = [0]
        window.timer.timeout.connect(lambda: frames.__setitem__(0, frames[0] + 1))
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        cpu_start = time.thread_time()
        loop.exec()
        cpu = time.thread_time() - cpu_start
        snap = engine.snapshot()
        window.close()
        app.processEvents()
    return (f"window {'shown ' if shown else 'hidden'}: {frames[0] / seconds:5.1f} UI frames/s, GUI thread "
            f"{100 * cpu / seconds:5.1f} % of a core, app underruns {snap.app_underruns}, device underruns "
            f"{snap.device_underruns}, inference p99 {snap.inference_p99_ms:.1f} ms over {seconds:g} s")


def main() -> None:
    from demixui.assets import DEMO_TRACK, asset_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(asset_path(DEMO_TRACK)))
    parser.add_argument("--model", default=None)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    print(f"cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    for shown in (True, False):
        print(measure(args.model, args.file, args.seconds, shown), flush=True)


if __name__ == "__main__":
    main()
