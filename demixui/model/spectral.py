"""FFT-based torch STFT for training, with exactly the convention of `dsp.stft` (the runtime's numpy STFT).

The runtime feeds the ONNX model magnitudes from `dsp.stft`; training must show the network the same
numbers, so this uses the same analysis window and framing: the signal is left-padded with `n_fft - hop`
zeros and frame k covers padded[k*hop : k*hop + n_fft], so n samples give n // hop frames. `torch.stft`
(an FFT) is used rather than the conv-based `dsp.stft_torch.TorchStft` because it is far cheaper at
n_fft=2048 on a CPU, and it is never exported (the ONNX model takes magnitudes in).
tests/test_training.py holds it equal to `dsp.stft.stft`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dsp.stft import StftConfig


class TrainingStft(torch.nn.Module):
    """(..., nb_channels, nb_samples) float -> complex (..., nb_frames, nb_channels, nb_bins)."""

    def __init__(self, config: StftConfig):
        super().__init__()
        self.config = config
        window = torch.as_tensor(config.analysis_window(), dtype=torch.float32)
        self.register_buffer("window", window, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *lead, nb_samples = x.shape
        c = self.config
        nb_frames = nb_samples // c.hop
        flat = x.reshape(-1, nb_samples)
        flat = F.pad(flat, (c.n_fft - c.hop, 0))[:, : nb_frames * c.hop + c.n_fft - c.hop]
        spec = torch.stft(flat, n_fft=c.n_fft, hop_length=c.hop, window=self.window, center=False,
                          return_complex=True)  # (rows, nb_bins, nb_frames)
        assert spec.shape[-1] == nb_frames, (spec.shape, nb_frames)
        return spec.reshape(*lead, c.nb_bins, nb_frames).movedim(-1, -3)
