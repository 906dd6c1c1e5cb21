"""Recovering torch weights from an ONNX model file: the shipped model's recovered network streams the same
masks as onnxruntime runs from the file, and export -> recover gives back the exact state dict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from demixui.errors import ModelFileError  # noqa: E402
from demixui.model.export import export_model, validation_magnitudes  # noqa: E402
from demixui.model.model_file import open_session  # noqa: E402
from demixui.model.network import CONFIGS, ModelConfig, Separator  # noqa: E402
from demixui.model.onnx_weights import separator_from_onnx  # noqa: E402

# torch and onnxruntime compute the same float32 graph with different kernels (summation order in the
# 2050 -> 128 MatMul, the LSTM's fused gates): masks agree to a few 1e-6, measured 2e-6 on the shipped model.
STREAMING_TOLERANCE = 1e-5
SHIPPED = Path(__file__).resolve().parent.parent / "assets" / "models" / "default.onnx"
BLOCKS = (1, 7, 64, 255)  # frames per call, cycled: awkward sizes, state carried across every seam


def _torch_streaming(model: Separator, mag: np.ndarray) -> np.ndarray:
    states = model.initial_state(1)
    out, start, index = [], 0, 0
    with torch.no_grad():
        while start < mag.shape[1]:
            block = BLOCKS[index % len(BLOCKS)]
            masks, *states = model.forward_streaming(torch.from_numpy(mag[:, start:start + block]), *states)
            out.append(masks.numpy())
            start, index = start + block, index + 1
    return np.concatenate(out, axis=1)


def _ort_streaming(path, mag: np.ndarray) -> np.ndarray:
    session = open_session(path)
    names = [i.name for i in session.get_inputs() if i.name != "mag"]
    states = {i.name: np.zeros(i.shape, np.float32) for i in session.get_inputs() if i.name != "mag"}
    out, start, index = [], 0, 0
    while start < mag.shape[1]:
        block = BLOCKS[index % len(BLOCKS)]
        masks, *new = session.run(["masks", *(n.replace("in", "out") for n in names)],
                                  {"mag": mag[:, start:start + block], **states})
        states = dict(zip(names, new, strict=True))
        out.append(masks)
        start, index = start + block, index + 1
    return np.concatenate(out, axis=1)


@pytest.fixture(scope="module")
def shipped() -> tuple[str, Separator]:
    path = str(SHIPPED)
    return path, separator_from_onnx(path)


def test_shipped_model_config_comes_from_its_metadata(shipped):
    _, model = shipped
    assert model.config == CONFIGS["default"]
    assert sum(p.numel() for p in model.parameters()) == 1_959_428  # the model card's count


@pytest.mark.parametrize("signal", ["music-like", "random"])
def test_shipped_model_streams_like_onnxruntime(shipped, signal):
    path, model = shipped
    if signal == "random":  # log-normal magnitudes over a wide range, silence included
        rng = np.random.default_rng(7)
        mag = np.exp(rng.normal(-2.0, 2.5, (1, 400, 2, model.config.nb_bins))).astype(np.float32)
        mag[:, 100:120] = 0.0
    else:
        mag = validation_magnitudes(model, seconds=6.0)
    expected = _ort_streaming(path, mag)
    got = _torch_streaming(model, mag)
    assert got.shape == expected.shape == (1, mag.shape[1], 4, 2, model.config.nb_bins)
    error = float(np.max(np.abs(got - expected)))
    assert error < STREAMING_TOLERANCE, error
    assert float(np.std(expected)) > 0.05  # trained masks, not the uniform 0.25 of an empty network


@pytest.mark.parametrize("config", [
    CONFIGS["tiny"],  # one LSTM layer, local path
    # two LSTM layers, no local path, a longer conv cache
    ModelConfig(width=16, conv_kernel=4, lstm_layers=2, lstm_hidden=24, local_kernel=0),
], ids=["tiny", "two-layers-no-local"])
def test_export_then_recover_gives_back_the_state_dict(config, tmp_path):
    torch.manual_seed(3)
    model = Separator(config)
    with torch.no_grad():  # every tensor distinct and non-trivial (no zero head, no unit layer norms)
        for parameter in model.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.3)
    path = tmp_path / "random.onnx"
    export_model(model, path, model_version="round-trip")
    recovered = separator_from_onnx(path)
    assert recovered.config == config
    original, back = model.state_dict(), recovered.state_dict()
    assert set(original) == set(back)
    for key in original:
        assert torch.equal(original[key], back[key]), key  # transposes and gate permutations are exact


def test_a_file_that_is_not_a_demixui_model_is_one_clear_error(tmp_path):
    missing = tmp_path / "none.onnx"
    with pytest.raises(ModelFileError, match="no such model file"):
        separator_from_onnx(missing)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf at all" * 10)
    with pytest.raises(ModelFileError):
        separator_from_onnx(garbage)


def _write_corpus(root: Path, nb_tracks: int, seconds: float) -> Path:
    """A MUSDB18-HQ-layout folder of noise stems (enough for a training step and a validation)."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    for index in range(nb_tracks):
        track = root / f"track{index}"
        track.mkdir(parents=True)
        stems = (0.1 * rng.standard_normal((4, int(seconds * 44100), 2))).astype(np.float32)
        for name, audio in zip(("vocals", "drums", "bass", "other"), stems, strict=True):
            sf.write(track / f"{name}.wav", audio, 44100, subtype="FLOAT")
        sf.write(track / "mixture.wav", stems.sum(axis=0), 44100, subtype="FLOAT")
    return root


def test_train_init_starts_a_fresh_run_from_onnx_or_checkpoint_weights(tiny_model_path, tmp_path, capsys):
    from demixui.cli import main
    from demixui.model.checkpoint import LAST, load_checkpoint

    train, valid = _write_corpus(tmp_path / "train", 2, 1.5), _write_corpus(tmp_path / "valid", 1, 1.0)
    common = ["train", "--data", str(train), "--valid", str(valid), "--batch-size", "2", "--chunk-seconds",
              "0.5", "--epoch-steps", "1", "--valid-seconds", "0.5", "--threads", "1", "--no-progress",
              "--max-steps", "1", "--lr", "0"]  # a zero rate: the step leaves the weights as loaded
    first, second = tmp_path / "first", tmp_path / "second"
    assert main([*common, "--out", str(first), "--init", tiny_model_path]) == 0
    state = load_checkpoint(first / LAST)
    expected = separator_from_onnx(tiny_model_path).state_dict()
    assert state["config"] == CONFIGS["tiny"].to_dict()  # the size came from the file, not --config
    assert all(torch.equal(state["model"][key], value) for key, value in expected.items())
    assert state["counters"]["step"] == 1 and "(model tiny-test, tiny.onnx); then " in state["training_data"]

    # From a checkpoint: its weights, not its counters or optimiser (and the realistic-mix augmentation on).
    assert main([*common, "--out", str(second), "--init", str(first / LAST), "--augment", "real"]) == 0
    again = load_checkpoint(second / LAST)
    assert again["counters"]["step"] == 1 and again["training_data"].endswith("real-mix augmentation")
    assert all(torch.equal(again["model"][key], value) for key, value in expected.items())

    capsys.readouterr()
    fresh = [*common, "--out", str(tmp_path / "x")]
    assert main([*fresh, "--init", tiny_model_path, "--config", "default"]) == 1
    assert main([*common, "--out", str(first), "--init", tiny_model_path, "--resume"]) == 1
    assert main([*common, "--out", str(tmp_path / "y"), "--init", str(tmp_path / "missing.onnx")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and "leave out --config" in err[0] and "pick one" in err[1], err
    assert "missing.onnx" in err[2]
