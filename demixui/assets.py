"""Where the app's shipped files (default model, demo track, icons) are, from the source tree or a bundle.

The repository keeps them in `assets/` at its root, beside the `demixui` package, so from a source checkout
(editable install) they are found at `demixui/../assets`. A PyInstaller bundle copies the same folder to
`<bundle>/assets`, and PyInstaller's boot loader sets `sys._MEIPASS` to the bundle's data folder.
`DEMIXUI_ASSETS` overrides both (for tests and packagers who put the assets elsewhere).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_MODEL = "models/default.onnx"
LIVE_MODEL = "models/live.onnx"  # the low-latency model live input uses (engine/models.py)
DEMO_TRACK = "audio/demo.ogg"
APP_ICON = "icons/demixui.svg"


def assets_dir() -> Path:
    """The folder that holds `models/`, `audio/` and `icons/`."""
    override = os.environ.get("DEMIXUI_ASSETS")
    if override:
        return Path(override)
    bundle = getattr(sys, "_MEIPASS", None)  # set only inside a PyInstaller bundle
    if bundle is not None:
        return Path(bundle) / "assets"
    return Path(__file__).resolve().parent.parent / "assets"


def asset_path(relative: str) -> Path:
    """Absolute path of a shipped file, e.g. `asset_path("models/default.onnx")`; it may not exist."""
    if Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise ValueError(f"asset paths are relative to the assets folder, got {relative!r}")
    return assets_dir() / relative
