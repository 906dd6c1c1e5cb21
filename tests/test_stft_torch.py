"""The torch STFT equals the numpy one (to a stated float32 tolerance) and survives ONNX export."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # training extra; `make test` installs it

from dsp.stft import DEFAULT_CONFIG, LOW_LATENCY_CONFIG, StftConfig, istft, stft  # noqa: E402
from dsp.stft_torch import TorchStft  # noqa: E402

# Tolerance, relative to the frame's L1 norm sum_n |w_n x_n| (which bounds every |X_k|): the torch form sums
# n_fft = 2048 float32 products per bin, with float32 kernels. Worst-case sequential rounding is n_fft * eps32
# ~ 1.2e-4; the blocked/pairwise sums of real conv kernels stay near sqrt(n_fft) * eps32 ~ 2.7e-6. We measure
# ~3e-7 on this L1 scale and allow 1e-5. The numpy form computes in float64, so the difference is torch's.
FORWARD_TOLERANCE = 1e-5
# Round trip relative to the signal's peak: two float32 passes of n_fft-term sums; measured ~1.1e-6.
ROUNDTRIP_TOLERANCE = 1e-5


def _signal(batch: int, nb_channels: int, nb_samples: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (batch, nb_channels, nb_samples)).astype(np.float32)


@pytest.mark.parametrize("config", [DEFAULT_CONFIG, LOW_LATENCY_CONFIG], ids=str)
def test_forward_matches_numpy(config: StftConfig) -> None:
    x = _signal(2, 2, 7000 + 37)
    re, im = TorchStft(config)(torch.from_numpy(x))
    nb_frames = x.shape[-1] // config.hop
    assert re.shape == im.shape == (2, 2, config.nb_bins, nb_frames) and re.dtype == torch.float32
    reference = np.stack([stft(item.T, config) for item in x]).transpose(0, 2, 3, 1)  # (b, ch, bins, frames)
    padded = np.pad(x, ((0, 0), (0, 0), (config.latency_samples, 0)))
    frames_l1 = np.abs(padded[..., : nb_frames * config.hop + config.latency_samples]).sum(-1).max()
    error = np.abs(re.numpy() + 1j * im.numpy() - reference).max()
    assert error <= FORWARD_TOLERANCE * frames_l1, (error, frames_l1)


def test_inverse_matches_numpy_and_reconstructs_with_the_stated_latency() -> None:
    config = DEFAULT_CONFIG
    x = _signal(2, 2, 20000, seed=1)
    module = TorchStft(config)
    y = module.inverse(*module(torch.from_numpy(x))).numpy()
    latency = config.latency_samples
    assert y.shape == (2, 2, (20000 // config.hop) * config.hop)
    assert np.abs(y[..., latency:] - x[..., : y.shape[-1] - latency]).max() < ROUNDTRIP_TOLERANCE
    frames = stft(x[0].T, config)
    np.testing.assert_allclose(y[0].T, istft(frames, config), rtol=0, atol=ROUNDTRIP_TOLERANCE)


def test_exports_to_onnx_and_runs_in_onnxruntime_with_any_length() -> None:
    ort = pytest.importorskip("onnxruntime")

    class HalveStems(torch.nn.Module):
        """STFT -> scale -> ISTFT: the shape of a mask model's graph."""

        def __init__(self) -> None:
            super().__init__()
            self.stft = TorchStft(DEFAULT_CONFIG)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            re, im = self.stft(x)
            return self.stft.inverse(0.5 * re, 0.5 * im)

    model = HalveStems().eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # torch 2.13 warns that the TorchScript exporter is legacy; the dynamo one needs onnxscript.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model, (torch.zeros(1, 2, 4096),), buffer, input_names=["x"], output_names=["y"],
            dynamic_axes={"x": {2: "nb_samples"}, "y": {2: "nb_out"}}, dynamo=False,
        )
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    for nb_samples in (4096, 9999):
        x = _signal(1, 2, nb_samples, seed=nb_samples)
        (y,) = session.run(None, {"x": x})
        expected = model(torch.from_numpy(x)).detach().numpy()
        assert y.shape == expected.shape == (1, 2, (nb_samples // 512) * 512)
        np.testing.assert_allclose(y, expected, rtol=0, atol=1e-5)


def test_bad_shapes_name_expected_and_received() -> None:
    module = TorchStft(DEFAULT_CONFIG)
    with pytest.raises(ValueError, match=r"\(batch, nb_channels, nb_samples >= 512\), got \(2, 4096\)"):
        module(torch.zeros(2, 4096))
    with pytest.raises(ValueError, match=r"nb_samples >= 512\), got \(1, 2, 100\)"):
        module(torch.zeros(1, 2, 100))
    with pytest.raises(ValueError, match=r"\(batch, nb_channels, 1025, nb_frames\), got \(1, 2, 1024, 3\)"):
        module.inverse(torch.zeros(1, 2, 1024, 3), torch.zeros(1, 2, 1024, 3))
