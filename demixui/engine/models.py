"""Which model separates what: file playback uses the default model (the higher quality one), live input the
low-latency live model (`assets/models/live.onnx`: a shorter STFT, so a few ms of model latency instead of
35), each replaceable.

`choose_models(model_path, live_model_path, model)`:
- the file model: `model` (already loaded) or `model_path`, else the bundled default model;
- the live model: `live_model_path`; when that is None, the file model if one was named (a model chosen by
  hand, as `demixui play --live --model X`, is used for everything), else `BUNDLED`: the bundled live model,
  or where it is missing the file model with a one-line note saying so.
"""

from __future__ import annotations

from dataclasses import dataclass

from demixui.engine.mix import STEMS
from demixui.errors import ModelFileError

BUNDLED = "bundled"  # live_model_path: the bundled live model (the default model where it is missing)


@dataclass
class ModelChoice:
    """The loaded models (`file` and `live` may be one object) and why live input does not use the live
    model, when it does not (`note`, one line)."""

    file: object  # SeparatorModel
    live: object
    note: str | None = None


def bundled_live_model_path():
    from demixui.assets import LIVE_MODEL, asset_path

    return asset_path(LIVE_MODEL)


def checked(model, sample_rate: int | None = None):
    """`model` if it separates our four stems (at `sample_rate`, when given), else a ModelFileError."""
    info = model.info
    if tuple(info.stems) != STEMS:
        raise ModelFileError(f"{info.path}: stems {list(info.stems)}, expected {list(STEMS)}")
    if sample_rate is not None and int(info.sample_rate) != sample_rate:
        raise ModelFileError(f"{info.path}: {info.sample_rate} Hz, not {sample_rate} Hz")
    return model


def load_live_model(path, file_model) -> tuple[object, str | None]:
    """The live model from `path` (BUNDLED: the bundled one, or `file_model` with a note where it is
    missing); ModelFileError for a file that is named and bad."""
    from demixui.model.runtime import load_model

    rate = int(file_model.info.sample_rate)
    if path != BUNDLED:
        return checked(load_model(path), rate), None
    bundled = bundled_live_model_path()
    if not bundled.exists():
        latency_ms = file_model.info.latency_seconds * 1000
        return file_model, (f"the live model is not installed ({bundled} is missing): live input uses "
                            f"{file_model.info.path.name} ({latency_ms:.1f} ms of model latency)")
    return checked(load_model(bundled), rate), None


def choose_models(model_path=None, live_model_path=None, model=None) -> ModelChoice:
    """Load the file and the live model (module docstring); ModelFileError for a bad file."""
    from demixui.model.runtime import load_model

    file_model = checked(model if model is not None else load_model(model_path))
    if live_model_path is None:
        if model is not None or model_path is not None:
            return ModelChoice(file_model, file_model)
        live_model_path = BUNDLED
    live, note = load_live_model(live_model_path, file_model)
    return ModelChoice(file_model, live, note)
