"""The causal separation network: mixture STFT magnitudes in, four soft masks per bin out.

Per frame: log-compressed magnitudes of both channels -> linear compression over frequency (2*nb_bins ->
width) -> causal temporal convolution over the last `conv_kernel` frames -> unidirectional LSTM stack ->
skip connection -> linear head to 4 stems x 2 channels x nb_bins logits -> softmax over the stem axis, so
the masks sum to one in every bin. Nothing looks ahead and nothing normalises over time (only a per-frame
layer norm), so the model adds no latency beyond the STFT's `n_fft - hop` samples.

The same module runs two ways:
- `forward(mag)`: a training/offline pass over (batch, nb_frames) sequences from zero initial state;
- `forward_streaming(mag, *states)`: any number of frames continuing from explicit state, returning the new
  state. This is the function exported to ONNX; every piece of state is an input and an output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from dsp.stft import StftConfig

STEMS = ("vocals", "drums", "bass", "other")
NB_CHANNELS = 2


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network; saved with every checkpoint and in the ONNX metadata."""

    n_fft: int = 2048
    hop: int = 512
    width: int = 128  # features per frame after the frequency compression
    conv_kernel: int = 3  # frames seen by the causal convolution (current + kernel-1 past)
    lstm_layers: int = 2
    lstm_hidden: int = 192
    local_kernel: int = 7  # bins seen by the per-bin local spectral filter (odd; 0 = none)
    local_channels: int = 16

    @property
    def stft(self) -> StftConfig:
        """The one STFT definition (window, hop, scaling, latency) this network's frames come from."""
        return StftConfig(n_fft=self.n_fft, hop=self.hop)

    @property
    def nb_bins(self) -> int:
        return self.stft.nb_bins

    @property
    def latency_samples(self) -> int:
        return self.stft.latency_samples

    def __post_init__(self) -> None:
        self.stft  # noqa: B018 - StftConfig validates n_fft and hop (reconstruction needs hop <= n_fft / 3)
        if self.conv_kernel < 2:  # a kernel of 1 would leave an empty state tensor, which ONNX handles badly
            raise ValueError(f"conv_kernel must be at least 2, got {self.conv_kernel}")
        if self.local_kernel and self.local_kernel % 2 == 0:
            raise ValueError(f"local_kernel must be odd (centred on the bin), got {self.local_kernel}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


# Named configurations for `demixui train --config`.
CONFIGS: dict[str, ModelConfig] = {
    "default": ModelConfig(),
    # 384 samples (8.7 ms) of algorithmic latency at 44.1 kHz.
    "lowlatency": ModelConfig(n_fft=512, hop=128),
    # 192 samples (4.4 ms): the shortest window tried (oracle ceiling 5.0 dB on real previews, 512/128 5.7).
    "ultralow": ModelConfig(n_fft=256, hop=64),
    # A few thousand parameters: for tests and quick checks of the export path.
    "tiny": ModelConfig(width=16, conv_kernel=3, lstm_layers=1, lstm_hidden=16),
}


class Separator(nn.Module):
    """Causal mask estimator. `mag` is (batch, nb_frames, nb_channels=2, nb_bins), linear magnitude."""

    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        self.config = config
        nb_bins, width, hidden = config.nb_bins, config.width, config.lstm_hidden
        # Learned per-bin affine on the log magnitudes (open-unmix's input scaling; fixed, not per clip).
        self.input_scale = nn.Parameter(torch.ones(NB_CHANNELS * nb_bins))
        self.input_shift = nn.Parameter(torch.zeros(NB_CHANNELS * nb_bins))
        self.encoder = nn.Linear(NB_CHANNELS * nb_bins, width)
        self.encoder_norm = nn.LayerNorm(width)
        # Left context comes from the state (or zeros), never from padding on the right.
        self.conv = nn.Conv1d(width, width, kernel_size=config.conv_kernel)
        self.lstm = nn.LSTM(width, hidden, num_layers=config.lstm_layers, batch_first=True)
        self.decoder = nn.Linear(width + hidden, width)
        self.decoder_norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, len(STEMS) * NB_CHANNELS * nb_bins)
        nn.init.zeros_(self.head.bias)  # start from equal masks (0.25 each)
        # Local path: a small conv over frequency within each frame (no latency) sees each bin's neighbours
        # (peaks, harmonics vs noise), which the width-sized global path cannot describe bin by bin. Its
        # output layer starts at zero, so adding it to a trained network leaves its function unchanged.
        self.local = None
        if config.local_kernel:
            k = config.local_kernel
            self.local = nn.Sequential(
                nn.Conv1d(NB_CHANNELS, config.local_channels, kernel_size=k, padding=k // 2), nn.ReLU(),
                nn.Conv1d(config.local_channels, len(STEMS) * NB_CHANNELS, kernel_size=1),
            )
            nn.init.zeros_(self.local[2].weight)
            nn.init.zeros_(self.local[2].bias)

    def soften_masks(self, temperature: float) -> None:
        """Divide the mask logits by `temperature` (> 1: softer masks, < 1: sharper), folded into the last
        layers' weights so the network's shape and graph stay the same. A trained mask estimator is often
        over-confident; `demixui export --temperature` applies a value picked on validation tracks."""
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        layers = [self.head] + ([self.local[2]] if self.local is not None else [])
        with torch.no_grad():
            for layer in layers:  # logits = head(z) + local(x): both terms scale together
                layer.weight /= temperature
                layer.bias /= temperature

    # -- state --
    def state_shapes(self, batch: int = 1) -> list[tuple[int, ...]]:
        """State shapes: conv cache (batch, width, kernel-1), LSTM h and c (layers, batch, hidden)."""
        c = self.config
        return [
            (batch, c.width, c.conv_kernel - 1),
            (c.lstm_layers, batch, c.lstm_hidden),
            (c.lstm_layers, batch, c.lstm_hidden),
        ]

    def initial_state(self, batch: int = 1) -> list[torch.Tensor]:
        device = self.head.weight.device
        return [torch.zeros(shape, device=device) for shape in self.state_shapes(batch)]

    # -- passes --
    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        """(batch, nb_frames, 2, nb_bins) -> masks (batch, nb_frames, 4, 2, nb_bins), from zero state."""
        masks, *_ = self.forward_streaming(mag, *self.initial_state(mag.shape[0]))
        return masks

    def forward_streaming(
        self, mag: torch.Tensor, conv_state: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Continue from state over `nb_frames` >= 1 frames; returns (masks, conv_state, h, c), all new."""
        batch, nb_frames, nb_channels, nb_bins = mag.shape
        assert (nb_channels, nb_bins) == (NB_CHANNELS, self.config.nb_bins), (mag.shape, self.config)
        x = torch.log1p(mag).reshape(batch, nb_frames, nb_channels * nb_bins)
        x = x * self.input_scale + self.input_shift
        local = None
        if self.local is not None:  # (batch * nb_frames, 2, nb_bins) -> (batch, nb_frames, 4, 2, nb_bins)
            local = self.local(x.reshape(-1, nb_channels, nb_bins))
            local = local.reshape(batch, nb_frames, len(STEMS), nb_channels, nb_bins)
        x = torch.relu(self.encoder_norm(self.encoder(x)))  # (batch, nb_frames, width)

        # Causal conv: prepend the cached last kernel-1 input frames, keep the new last kernel-1 as state.
        x_t = torch.cat([conv_state, x.transpose(1, 2)], dim=2)  # (batch, width, kernel-1 + nb_frames)
        new_conv_state = x_t[:, :, -(self.config.conv_kernel - 1):]
        y = torch.relu(self.conv(x_t)).transpose(1, 2) + x  # (batch, nb_frames, width), residual

        z, (new_h, new_c) = self.lstm(y, (h, c))  # (batch, nb_frames, hidden)
        z = torch.relu(self.decoder_norm(self.decoder(torch.cat([y, z], dim=2))))  # skip connection
        logits = self.head(z).reshape(batch, nb_frames, len(STEMS), nb_channels, nb_bins)
        if local is not None:
            logits = logits + local
        return torch.softmax(logits, dim=2), new_conv_state, new_h, new_c


def load_weights(model: Separator, weights: dict) -> list[str]:
    """Load a state dict; weights of the local path may be missing (a checkpoint from before it existed):
    its zero-initialised output keeps the loaded network's function. Returns the missing keys."""
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected or any(not key.startswith("local.") for key in missing):
        model.load_state_dict(weights)  # raises with torch's full explanation
    return list(missing)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
