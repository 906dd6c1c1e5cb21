"""The numpy STFT/ISTFT: perfect reconstruction with the stated latency over awkward block sizes."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.stft import (
    DEFAULT_CONFIG,
    LOW_LATENCY_CONFIG,
    SAMPLE_RATE,
    StftConfig,
    StreamingIstft,
    StreamingStft,
    istft,
    stft,
)

BLOCK_SIZES = (1, 64, 65, 128, 255, 256, 4096, 8193)
# Reconstruction error relative to the signal's peak. The maths is float64 inside; the frames are complex64
# and the output float32 (24-bit mantissas), so ~1e-7 is what remains; the issue asks for 1e-6.
RELATIVE_TOLERANCE = 1e-6


def _stream(x: np.ndarray, block: int, config: StftConfig) -> tuple[np.ndarray, int]:
    """Run x through StreamingStft -> StreamingIstft in blocks of `block`; (output, total frames)."""
    nb_channels = x.shape[1]
    analysis, synthesis = StreamingStft(config, nb_channels), StreamingIstft(config, nb_channels)
    outputs, nb_frames = [], 0
    for start in range(0, x.shape[0], block):
        frames = analysis.process(x[start : start + block])
        assert frames.dtype == np.complex64, frames.dtype
        assert frames.shape[1:] == (nb_channels, config.nb_bins), frames.shape
        nb_frames += frames.shape[0]
        outputs.append(synthesis.process(frames))
    return np.concatenate(outputs), nb_frames


@pytest.mark.parametrize("nb_channels", [1, 2])
@pytest.mark.parametrize("block", BLOCK_SIZES)
def test_streaming_roundtrip_is_the_input_delayed_by_latency(block: int, nb_channels: int) -> None:
    config = DEFAULT_CONFIG
    rng = np.random.default_rng(block * 10 + nb_channels)
    nb_samples = 9000 + block % 7  # modest, so block size 1 stays fast; not a multiple of the hop
    x = rng.uniform(-1.0, 1.0, (nb_samples, nb_channels)).astype(np.float32)
    y, nb_frames = _stream(x, block, config)
    assert nb_frames == nb_samples // config.hop
    assert y.shape == (nb_frames * config.hop, nb_channels) and y.dtype == np.float32
    latency = config.latency_samples
    error = np.abs(y[latency:] - x[: y.shape[0] - latency]).max() / np.abs(x).max()
    assert error < RELATIVE_TOLERANCE, error
    # Before the latency has passed the output is the (reconstructed) left padding: silence.
    assert np.abs(y[:latency]).max() < RELATIVE_TOLERANCE


def test_impulse_comes_out_exactly_latency_samples_later() -> None:
    config = DEFAULT_CONFIG
    x = np.zeros((8192, 2), dtype=np.float32)
    x[1000, 0] = 1.0
    y, _ = _stream(x, 333, config)
    assert int(np.argmax(np.abs(y[:, 0]))) == 1000 + config.latency_samples == 2536
    assert config.latency_samples == 1536 and abs(config.latency_seconds() - 1536 / SAMPLE_RATE) < 1e-12


def test_frame_k_is_the_rfft_of_the_windowed_left_padded_signal() -> None:
    config = StftConfig(n_fft=256, hop=64)
    x = np.random.default_rng(1).standard_normal((1000, 2)).astype(np.float32)
    frames = stft(x, config)
    padded = np.concatenate([np.zeros((config.latency_samples, 2)), x.astype(np.float64)])
    for k in (0, 3, frames.shape[0] - 1):
        segment = padded[k * config.hop : k * config.hop + config.n_fft].T * config.analysis_window()
        np.testing.assert_allclose(frames[k], np.fft.rfft(segment, axis=-1), rtol=0, atol=1e-4)


def test_whole_signal_forms_match_streaming_and_low_latency_config_reconstructs() -> None:
    config = LOW_LATENCY_CONFIG
    assert config.latency_samples == 384 and config.latency_seconds() * 1000 < 8.8
    x = np.random.default_rng(2).standard_normal((5000, 2)).astype(np.float32)
    frames = stft(x, config)
    np.testing.assert_array_equal(frames, StreamingStft(config, 2).process(x))
    y = istft(frames, config)
    latency = config.latency_samples
    assert np.abs(y[latency:] - x[: y.shape[0] - latency]).max() < 1e-6 * np.abs(x).max()


def test_zero_samples_and_reset() -> None:
    analysis, synthesis = StreamingStft(DEFAULT_CONFIG, 2), StreamingIstft(DEFAULT_CONFIG, 2)
    assert analysis.process(np.zeros((0, 2), np.float32)).shape == (0, 2, 1025)
    assert synthesis.process(np.zeros((0, 2, 1025), np.complex64)).shape == (0, 2)
    x = np.random.default_rng(3).standard_normal((3000, 2)).astype(np.float32)
    first = synthesis.process(analysis.process(x))
    analysis.reset()
    synthesis.reset()
    np.testing.assert_array_equal(synthesis.process(analysis.process(x)), first)


def test_windows_overlap_add_to_one() -> None:
    config = DEFAULT_CONFIG
    product = config.analysis_window() * config.synthesis_window()
    np.testing.assert_allclose(product.reshape(-1, config.hop).sum(axis=0), 1.0, rtol=1e-12)


@pytest.mark.parametrize("n_fft, hop", [(2048, 1024), (2048, 500), (0, 1), (512, 512)])
def test_bad_configs_are_refused_naming_the_config(n_fft: int, hop: int) -> None:
    with pytest.raises(ValueError, match=rf"StftConfig\(n_fft={n_fft}, hop={hop}\)"):
        StftConfig(n_fft=n_fft, hop=hop)


def test_bad_shapes_and_dtypes_name_expected_and_received() -> None:
    analysis, synthesis = StreamingStft(DEFAULT_CONFIG, 2), StreamingIstft(DEFAULT_CONFIG, 2)
    with pytest.raises(ValueError, match=r"expected a signal of shape \(nb_samples, 2\), got \(100, 3\)"):
        analysis.process(np.zeros((100, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(nb_samples, 2\), got \(100,\)"):
        analysis.process(np.zeros(100, np.float32))
    with pytest.raises(ValueError, match=r"\(nb_samples, 2\), got dtype int16"):
        analysis.process(np.zeros((100, 2), np.int16))
    with pytest.raises(ValueError, match=r"expected frames of shape \(nb_frames, 2, 1025\), got \(4, 2, 10"):
        synthesis.process(np.zeros((4, 2, 1024), np.complex64))
    with pytest.raises(ValueError, match=r"\(nb_frames, 2, 1025\), got dtype float32"):
        synthesis.process(np.zeros((4, 2, 1025), np.float32))
    with pytest.raises(ValueError, match=r"\(nb_samples, nb_channels\), got \(2, 3, 4\)"):
        stft(np.zeros((2, 3, 4), np.float32))


@pytest.mark.parametrize("config", [LOW_LATENCY_CONFIG, DEFAULT_CONFIG], ids=str)
def test_one_hop_per_call_gives_the_frames_of_one_call_bit_for_bit(config: StftConfig) -> None:
    # Live input comes one hop per call and takes StreamingStft's one-hop path; blocks off the hop grid
    # between them take the general path on the same state.
    hop = config.hop
    x = np.random.default_rng(11).uniform(-1.0, 1.0, (40 * hop + 7, 2)).astype(np.float32)
    sizes = [hop] * 6 + [1, hop - 1] + [hop] * 5 + [3 * hop + 5, hop - 5] + [hop] * 10
    analysis, start, parts = StreamingStft(config, 2), 0, []
    for size in sizes + [x.shape[0]]:
        parts.append(analysis.process(x[start:start + size]))
        start += size
    np.testing.assert_array_equal(np.concatenate(parts), StreamingStft(config, 2).process(x))


@pytest.mark.parametrize("config", [LOW_LATENCY_CONFIG, DEFAULT_CONFIG], ids=str)
def test_one_frame_per_call_is_the_overlap_add_by_definition_bit_for_bit(config: StftConfig) -> None:
    # Reference: frame k's windowed irfft added, frame by frame in order, at k * hop of a float64 signal
    # (the order in which one frame per call accumulates each sample).
    nb_channels, hop, n_fft = 8, config.hop, config.n_fft
    rng = np.random.default_rng(12)
    shape = (30, nb_channels, config.nb_bins)
    frames = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    synthesis = StreamingIstft(config, nb_channels)
    streamed = np.concatenate([synthesis.process(frames[k:k + 1]) for k in range(frames.shape[0])])
    reference = np.zeros((frames.shape[0] * hop + n_fft, nb_channels))
    for k in range(frames.shape[0]):
        reference[k * hop:k * hop + n_fft] += (np.fft.irfft(frames[k], n=n_fft) * config.synthesis_window()).T
    np.testing.assert_array_equal(streamed, reference[:streamed.shape[0]].astype(np.float32))
    # ... and many frames per call (another summation order) agree to float32 rounding.
    batched = StreamingIstft(config, nb_channels).process(frames)
    np.testing.assert_allclose(streamed, batched, rtol=0, atol=1e-6 * np.abs(batched).max())
