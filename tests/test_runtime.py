"""The onnxruntime separator: model-file validation, streaming over any block size, latency, reset.

Tolerances: the streamed and offline paths run the same arithmetic but onnxruntime may pick different kernels
for different numbers of frames per call (and the STFT sums in a different order), so results agree to float32
rounding, not bit for bit: 1e-5 absolute on signals of amplitude <= 0.5 (observed ~3e-8).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from demixui.errors import ModelFileError
from demixui.model.offline import separate_array
from demixui.model.runtime import load_model

TOLERANCE = 1e-5
BLOCK_SIZES = (1, 64, 65, 128, 255, 256, 4096, 8193)


@pytest.fixture(scope="module")
def model(tiny_model_path):
    return load_model(tiny_model_path)


def music_like(nb_samples: int, seed: int = 0) -> np.ndarray:
    """float32 `(nb_samples, 2)`: a tone, a bass line and noise bursts, different in each channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(nb_samples) / 44100
    tone = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 55 * t)
    bursts = (np.sin(2 * np.pi * 3 * t) > 0.8) * rng.standard_normal(nb_samples) * 0.1
    return np.stack([tone + bursts, 0.5 * tone - bursts], axis=1).astype(np.float32)


def stream_in_blocks(model, mix: np.ndarray, block: int, max_frames: int = 256) -> np.ndarray:
    """All stream output for `mix` fed `block` samples at a time, `(nb_out, nb_stems, 2)`."""
    stream = model.new_stream(max_frames=max_frames)
    outputs = [stream.process(mix[i:i + block]) for i in range(0, mix.shape[0], block)]
    return np.concatenate(outputs)


def test_model_info_is_read_from_the_metadata(model):
    info = model.info
    assert info.stems == ("vocals", "drums", "bass", "other")
    assert (info.sample_rate, info.n_fft, info.hop, info.latency_samples) == (44100, 2048, 512, 1536)
    assert info.model_version == "tiny-test"
    stream = model.new_stream()
    assert (stream.hop, stream.latency_samples, stream.stems) == (512, 1536, info.stems)


@pytest.mark.parametrize("block", BLOCK_SIZES)
def test_streaming_over_any_block_size_equals_separate_array(model, block):
    # Block size 1 costs a Python call per sample: a shorter signal keeps it fast.
    mix = music_like(6000 if block == 1 else 44100)
    offline = separate_array(model, mix)
    streamed = stream_in_blocks(model, mix, block)
    latency = model.info.latency_samples
    aligned = streamed[latency:latency + mix.shape[0]]
    assert streamed.shape[0] % model.info.hop == 0
    assert aligned.shape[0] > mix.shape[0] // 2, "too little output to compare"
    np.testing.assert_allclose(aligned, offline[:aligned.shape[0]], rtol=0, atol=TOLERANCE)
    assert np.abs(offline).max() > 0.01, "silence would make the comparison meaningless"


def test_many_frames_per_call_equals_one_frame_per_call(model):
    mix = music_like(30000, seed=1)
    many = stream_in_blocks(model, mix, 30000, max_frames=256)
    one = stream_in_blocks(model, mix, 30000, max_frames=1)
    assert many.shape == one.shape == (30000 // 512 * 512, 4, 2)
    np.testing.assert_allclose(many, one, rtol=0, atol=TOLERANCE)


def test_pipelined_offline_path_is_bit_identical_to_process_over_the_same_blocks(model):
    # separate_array synthesises block i on a worker thread while it analyses block i + 1; shared buffers
    # or state between the halves would show here as a difference.
    mix = music_like(5 * 16 * 512 + 100, seed=6)
    offline = separate_array(model, mix, block_frames=16)
    stream = model.new_stream(max_frames=16)
    padded = np.concatenate([mix, np.zeros((model.info.latency_samples + 512, 2), np.float32)])
    block = 16 * 512
    streamed = np.concatenate([stream.process(padded[i:i + block]) for i in range(0, len(padded), block)])
    latency = model.info.latency_samples
    np.testing.assert_array_equal(offline, streamed[latency:latency + mix.shape[0]])


def test_stems_sum_to_the_delayed_mix(model):
    mix = music_like(20000, seed=2)
    stems = stream_in_blocks(model, mix, 1000)
    latency = model.info.latency_samples
    delayed = np.concatenate([np.zeros((latency, 2), np.float32), mix])[:stems.shape[0]]
    np.testing.assert_allclose(stems.sum(axis=1), delayed, rtol=0, atol=TOLERANCE)
    # ... and the separation is not trivial: no stem is the whole mix or silence.
    energies = (stems ** 2).sum(axis=(0, 2))
    assert (energies > 0.01 * energies.sum()).all(), energies


def test_separate_array_is_aligned_and_the_same_length(model):
    mix = music_like(10007, seed=3)  # not a multiple of the hop
    stems = separate_array(model, mix)
    assert stems.shape == (10007, 4, 2) and stems.dtype == np.float32
    np.testing.assert_allclose(stems.sum(axis=1), mix, rtol=0, atol=TOLERANCE)


def test_impulse_comes_out_exactly_at_the_reported_latency(model):
    stream = model.new_stream()
    position = 3000
    mix = np.zeros((12000, 2), np.float32)
    mix[position] = 1.0
    before = stream.process(mix[:position])  # everything returned before the impulse arrives is silence
    assert not before.any()
    out = np.concatenate([before, stream.process(mix[position:])]).sum(axis=1)  # stems summed
    expected = position + stream.latency_samples
    assert np.argmax(np.abs(out[:, 0])) == expected
    assert out[expected] == pytest.approx([1.0, 1.0], abs=TOLERANCE)
    out[expected] = 0.0
    assert np.abs(out).max() < TOLERANCE


@pytest.fixture(scope="module")
def low_latency_model(tmp_path_factory):
    """A tiny untrained network at the low-latency STFT (512/128: 384 samples, 8.7 ms), exported for real."""
    torch = pytest.importorskip("torch")
    from demixui.model.export import export_model
    from demixui.model.network import ModelConfig, Separator

    torch.manual_seed(7)
    path = tmp_path_factory.mktemp("low_latency") / "low.onnx"
    config = ModelConfig(n_fft=512, hop=128, width=16, conv_kernel=2, lstm_layers=1, lstm_hidden=16)
    export_model(Separator(config), path, model_version="low-latency-test")
    return load_model(path)


def test_low_latency_configuration_streams_with_its_own_latency(low_latency_model):
    model = low_latency_model
    assert (model.info.hop, model.info.latency_samples) == (128, 384)
    mix = music_like(9000, seed=8)
    offline = separate_array(model, mix)
    np.testing.assert_allclose(offline.sum(axis=1), mix, rtol=0, atol=TOLERANCE)
    for block in (1, 65, 4096):
        streamed = stream_in_blocks(model, mix[:3000] if block == 1 else mix, block)
        aligned = streamed[384:]
        np.testing.assert_allclose(aligned, offline[:aligned.shape[0]], rtol=0, atol=TOLERANCE)
    impulse = np.zeros((2000, 2), np.float32)
    impulse[700] = 1.0
    out = model.new_stream().process(impulse).sum(axis=1)
    assert np.argmax(np.abs(out[:, 0])) == 700 + 384


def test_reset_forgets_the_past(model):
    first, second = music_like(20000, seed=4), music_like(20000, seed=5)
    stream = model.new_stream()
    stream.process(first[:15000])  # leaves STFT buffers and model state mid-signal
    stream.reset()
    after_reset = np.concatenate([stream.process(second[i:i + 4096]) for i in range(0, 20000, 4096)])
    fresh = stream_in_blocks(model, second, 4096)
    np.testing.assert_array_equal(after_reset, fresh)


def test_zero_samples_give_zero_stems(model):
    stream = model.new_stream()
    assert stream.process(np.zeros((0, 2), np.float32)).shape == (0, 4, 2)
    assert stream.process(np.zeros((511, 2), np.float32)).shape == (0, 4, 2)
    assert stream.process(np.zeros((1, 2), np.float32)).shape == (512, 4, 2)
    with pytest.raises(ValueError, match="nb_samples, 2"):
        stream.process(np.zeros((10, 1), np.float32))


def test_the_runtime_never_imports_torch(tiny_model_path):
    code = (
        "import sys, numpy as np\n"
        "from demixui.model.runtime import load_model\n"
        "from demixui.model.offline import separate_array\n"
        f"separate_array(load_model({tiny_model_path!r}), np.zeros((4096, 2), np.float32))\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# -- bad model files: each one ModelFileError with one line that names the problem --

def _edited_model(tiny_model_path, tmp_path, edit) -> str:
    onnx = pytest.importorskip("onnx")
    proto = onnx.load(tiny_model_path)
    edit(proto)
    path = tmp_path / "edited.onnx"
    onnx.save(proto, str(path))
    return str(path)


def _edit_metadata(**changes):
    def edit(proto):
        entry = next(p for p in proto.metadata_props if p.key == "demixui")
        meta = json.loads(entry.value)
        meta.update(changes)
        entry.value = json.dumps(meta)
    return edit


def _strip_metadata(proto):
    del proto.metadata_props[:]


def _rename_input(proto):
    for node in proto.graph.node:
        node.input[:] = ["spectrum" if name == "mag" else name for name in node.input]
    proto.graph.input[0].name = "spectrum"


@pytest.mark.parametrize("edit, message", [
    (_strip_metadata, "no 'demixui' metadata"),
    (_edit_metadata(stems=["vocals", "drums", "bass", "piano"]), "model stems"),
    (_edit_metadata(stems=["vocals", "accompaniment"]), "model stems"),
    (_edit_metadata(sample_rate=48000), "sample rate 48000"),
    (_edit_metadata(format_version=2), "format_version 2"),
    (_edit_metadata(n_fft=4096), "n_fft"),
    (_rename_input, "no input 'mag'"),
], ids=["no-metadata", "wrong-stems", "two-stems", "wrong-rate", "wrong-version", "wrong-fft", "wrong-input"])
def test_incompatible_model_file_is_refused(tiny_model_path, tmp_path, edit, message):
    path = _edited_model(tiny_model_path, tmp_path, edit)
    with pytest.raises(ModelFileError, match=message) as error:
        load_model(path)
    assert "\n" not in str(error.value)
    assert str(path) in str(error.value)


def test_truncated_model_file_is_refused(tiny_model_path, tmp_path):
    data = Path(tiny_model_path).read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a valid ONNX model file") as error:
        load_model(path)
    assert "\n" not in str(error.value)


def test_text_file_is_not_a_model(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model\n")
    with pytest.raises(ModelFileError, match="not a valid ONNX model file"):
        load_model(path)


def test_missing_model_file_and_missing_default_model(tmp_path, monkeypatch):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "absent.onnx")
    with pytest.raises(ModelFileError, match="is a folder"):
        load_model(tmp_path)
    monkeypatch.setenv("DEMIXUI_ASSETS", str(tmp_path))  # an assets folder without models/default.onnx
    with pytest.raises(ModelFileError, match="default model is not installed"):
        load_model(None)


def test_speed_benchmark_prints_per_hop_and_offline_figures(tiny_model_path, capsys):
    from demixui.model.speed import main as speed_main

    speed_main([tiny_model_path, "--hops", "20", "--seconds", "1"])
    out = capsys.readouterr().out
    assert "per hop (11.6 ms of audio): median" in out and "x real time over 1 s" in out


@pytest.mark.parametrize("which", ["tiny_model_path", "tiny_live_model_path"])
def test_one_hop_per_call_takes_the_fast_path_and_equals_the_staged_path_and_offline(which, request):
    # Live input comes one hop per call: `process` then runs `_process_hop`, which must give exactly what
    # the staged path (`synthesise(*analyse(...))`, used offline) gives for the same hops, and what
    # separate_array gives to float rounding. Blocks off the hop grid in between take the general path on the
    # same state.
    model = load_model(request.getfixturevalue(which))
    hop, latency = model.info.hop, model.info.latency_samples
    mix = music_like(60 * hop, seed=9)
    sizes = [hop] * 20 + [1, hop - 1] + [hop] * 10 + [2 * hop + 3, hop - 3] + [hop] * 26
    assert sum(sizes) == mix.shape[0]
    fast, staged = model.new_stream(), model.new_stream()
    fast_parts, staged_parts, start = [], [], 0
    for size in sizes:
        block = mix[start:start + size]
        fast_parts.append(fast.process(block))
        staged_parts.append(staged.synthesise(*staged.analyse(block)))
        start += size
    fast_out, staged_out = np.concatenate(fast_parts), np.concatenate(staged_parts)
    np.testing.assert_array_equal(fast_out, staged_out)
    offline = separate_array(model, mix)
    aligned = fast_out[latency:]
    np.testing.assert_allclose(aligned, offline[:aligned.shape[0]], rtol=0, atol=TOLERANCE)
    with pytest.raises(ValueError, match="nb_samples, 2"):
        fast.process(np.zeros((hop, 1), np.float32))
