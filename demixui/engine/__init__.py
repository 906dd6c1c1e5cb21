"""The real-time engine: sources, the inference worker, the audio callback and telemetry (no Qt here).

`Engine` is the control API the desktop app and `demixui play` share; `EngineSnapshot` its telemetry.
"""

from demixui.engine.engine import STEMS, Engine, check_blocksize
from demixui.engine.snapshot import EngineSnapshot

__all__ = ["Engine", "EngineSnapshot", "STEMS", "check_blocksize"]
