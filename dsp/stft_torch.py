"""The STFT of `dsp/stft.py` as a torch module for training and ONNX export.

Same window, hop, left padding and scaling as the numpy form (`StftConfig` is the one definition). The DFT
is a strided `conv1d` with kernels `window * cos` and `-window * sin` and the inverse a `conv_transpose1d`
with the synthesis window folded in, so the graph holds only real tensors and ops every ONNX runtime has (no
complex dtypes, no `torch.stft`). Use it from training/export code only: the app never imports torch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dsp.stft import DEFAULT_CONFIG, StftConfig


def _dft_kernels(config: StftConfig) -> tuple[np.ndarray, np.ndarray]:
    """float64 `(2 * nb_bins, 1, n_fft)` forward kernels (re rows, then im rows) and inverse kernels."""
    n_fft, nb_bins = config.n_fft, config.nb_bins
    n = np.arange(n_fft)
    k = np.arange(nb_bins)[:, None]
    angle = 2.0 * np.pi * ((k * n) % n_fft) / n_fft  # exact reduction before the trig keeps float64 accuracy
    cos, sin = np.cos(angle), np.sin(angle)
    forward = np.concatenate([cos, -sin]) * config.analysis_window()  # rfft: X_k = sum_n x_n e^{-i angle}
    # irfft: x_n = (1/N) (sum over k of c_k (Re X_k cos - Im X_k sin)), c_k = 1 at DC and Nyquist, else 2.
    weight = np.full((nb_bins, 1), 2.0)
    weight[0] = 1.0
    if n_fft % 2 == 0:
        weight[-1] = 1.0
    inverse = np.concatenate([weight * cos, -weight * sin]) / n_fft * config.synthesis_window()
    return np.ascontiguousarray(forward[:, None, :]), np.ascontiguousarray(inverse[:, None, :])


class TorchStft(nn.Module):
    """`forward(x (batch, nb_channels, nb_samples)) -> (re, im)`, each `(batch, nb_channels, nb_bins,
    nb_frames)` with `nb_frames = nb_samples // hop`; `inverse(re, im) -> (batch, nb_channels,
    nb_frames * hop)`, the signal delayed by `config.latency_samples` exactly like `StreamingIstft`.

    float32 throughout. Shape checks are skipped while tracing for ONNX (a traced shape is a tensor)."""

    def __init__(self, config: StftConfig = DEFAULT_CONFIG) -> None:
        super().__init__()
        self.config = config
        forward, inverse = _dft_kernels(config)
        # Buffers, not parameters: they move with .to(device) and are constants in the ONNX graph.
        self.register_buffer("forward_kernel", torch.from_numpy(forward).float(), persistent=False)
        self.register_buffer("inverse_kernel", torch.from_numpy(inverse).float(), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not torch.jit.is_tracing() and (x.dim() != 3 or x.shape[-1] < self.config.hop):
            expected = f"(batch, nb_channels, nb_samples >= {self.config.hop})"
            raise ValueError(f"expected x of shape {expected}, got {tuple(x.shape)}")
        batch, nb_channels, nb_samples = x.shape
        nb_bins = self.config.nb_bins
        flat = x.reshape(batch * nb_channels, 1, nb_samples)
        # Left padding by concatenation: F.pad exports as a Slice with step -1 that ONNX cannot constant-fold.
        zeros = flat.new_zeros(batch * nb_channels, 1, self.config.latency_samples)
        padded = torch.cat([zeros, flat], dim=-1)
        # (batch * nb_channels, 2 * nb_bins, nb_frames): re rows, then im rows.
        spec = F.conv1d(padded, self.forward_kernel, stride=self.config.hop)
        spec = spec.reshape(batch, nb_channels, 2 * nb_bins, -1)
        return spec[:, :, :nb_bins], spec[:, :, nb_bins:]

    def _bad_spectrum_shape(self, re: torch.Tensor, im: torch.Tensor) -> bool:
        return re.dim() != 4 or re.shape[2] != self.config.nb_bins or re.shape != im.shape

    def inverse(self, re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and self._bad_spectrum_shape(re, im):
            expected = f"(batch, nb_channels, {self.config.nb_bins}, nb_frames)"
            received = f"{tuple(re.shape)} and {tuple(im.shape)}"
            raise ValueError(f"expected re and im of shape {expected}, got {received}")
        batch, nb_channels, nb_bins, nb_frames = re.shape
        spec = torch.cat([re, im], dim=2).reshape(batch * nb_channels, 2 * nb_bins, nb_frames)
        # (batch*ch, 1, (nb_frames - 1) * hop + n_fft): the padded signal; keep the samples that are complete.
        y = F.conv_transpose1d(spec, self.inverse_kernel, stride=self.config.hop)
        return y[:, 0, : nb_frames * self.config.hop].reshape(batch, nb_channels, -1)
