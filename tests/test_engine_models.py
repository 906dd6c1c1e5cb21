"""Which model plays what: files the default model, live input the live model (each replaceable), and the
default model with a one-line note where the live model is missing."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from demixui.engine import Engine
from demixui.errors import ModelFileError

SR = 44100


@pytest.fixture()
def assets(tmp_path, monkeypatch, tiny_model_path, tiny_live_model_path):
    """An assets folder holding the tiny models as the bundled default and live models."""
    models = tmp_path / "assets" / "models"
    models.mkdir(parents=True)
    shutil.copy(tiny_model_path, models / "default.onnx")
    shutil.copy(tiny_live_model_path, models / "live.onnx")
    monkeypatch.setenv("DEMIXUI_ASSETS", str(tmp_path / "assets"))
    return models


def tone_file(tmp_path) -> str:
    import soundfile as sf

    t = np.arange(SR) / SR
    path = tmp_path / "tone.wav"
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t))[:, None].repeat(2, 1).astype(np.float32), SR)
    return str(path)


def separating(engine: Engine) -> None:
    """Wait until the current session plays separated stems."""
    deadline = time.monotonic() + 30
    while not (engine._session.started and engine.played_seconds > 0.1):
        assert time.monotonic() < deadline, engine.snapshot()
        time.sleep(0.01)
    assert engine.snapshot().wet == 1.0


def test_files_use_the_default_model_and_live_input_the_live_model(assets, tmp_path):
    with Engine(backend="null-fast", blocksize=128) as engine:
        assert engine.model_note is None
        engine.open_file(tone_file(tmp_path))
        engine.play()
        separating(engine)
        snap = engine.snapshot()
        assert snap.model_name.startswith("default.onnx") and round(snap.model_latency_ms * SR / 1000) == 1536
        engine.open_live(np.zeros((SR, 2), np.float32))
        separating(engine)
        snap = engine.snapshot()
        assert snap.model_name.startswith("live.onnx") and round(snap.model_latency_ms * SR / 1000) == 384
        assert snap.model_latency_ms + snap.buffer_latency_ms <= 20.0
        engine.open_file(tone_file(tmp_path))  # and back
        assert engine.snapshot().model_name.startswith("default.onnx")


def test_a_missing_live_model_falls_back_to_the_default_model_with_a_note(assets):
    (assets / "live.onnx").unlink()
    with Engine(backend="null-fast", blocksize=128) as engine:
        engine.open_live(np.zeros((SR, 2), np.float32))
        separating(engine)
        snap = engine.snapshot()
    assert snap.model_name.startswith("default.onnx")
    note = engine.model_note
    assert note is not None and "\n" not in note
    assert "live.onnx is missing" in note and "default.onnx" in note and "34.8 ms" in note


def test_a_model_named_by_hand_plays_everything(assets, tiny_model_path):
    with Engine(tiny_model_path, backend="null-fast", blocksize=128) as engine:
        engine.open_live(np.zeros((SR, 2), np.float32))
        separating(engine)
        assert engine.snapshot().model_name.startswith("tiny.onnx") and engine.model_note is None


def test_either_model_is_replaced_on_its_own(assets, tmp_path, tiny_model_path, tiny_live_model_path):
    with Engine(backend="null-fast", blocksize=128) as engine:
        engine.open_file(tone_file(tmp_path))
        # Replacing the live model while a file plays leaves the file's model alone ...
        engine.load_model(tiny_model_path, live=True)
        assert engine.snapshot().model_name.startswith("default.onnx")
        # ... and live input then uses it.
        engine.open_live(np.zeros((SR, 2), np.float32))
        separating(engine)
        assert engine.snapshot().model_name.startswith("tiny.onnx")
        # While live input plays, the slot of what plays is replaced (and runs at once).
        engine.load_model(None)  # None: the bundled live model
        separating(engine)
        assert engine.snapshot().model_name.startswith("live.onnx")
        with pytest.raises(ModelFileError, match="no such model file"):
            engine.load_model(tmp_path / "missing.onnx", live=True)
        assert engine.snapshot().model_name.startswith("live.onnx")  # the old one keeps playing
