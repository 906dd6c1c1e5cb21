"""Carry a trained network over to another STFT (e.g. the default 2048/512 model to the 512/128 live one).

Only the layers that see frequency bins depend on the STFT: the input affine, the encoder's input columns, the
mask head's output rows and nothing else (the local path's conv is applied per bin with shared weights). The
temporal core (conv, LSTM, decoder) is kept as it is. Training a live network from scratch on two CPU cores
takes days; starting it from a trained one's core and fine-tuning takes hours.

Mapping, with `ratio` = old bins per new bin (4 for 2048 -> 512): a new bin k covers the old bins whose centre
frequency is nearest to it (the group [k*ratio - ratio/2, k*ratio + ratio/2)).
- encoder columns are summed over the group: where the old log magnitudes of a group all equal the new bin's,
  the encoder's output is unchanged;
- input scale and shift are averaged over the group; the shift also absorbs the level change of the
  unnormalised rfft (a tone's peak is n_fft/4 times its amplitude, so log1p(|X|) drops by about
  log(old n_fft / new n_fft) on loud bins);
- mask logits rows (and biases) are averaged over the group.
The temporal core then runs frames `ratio` times as often as it was trained for; fine-tuning adapts it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from demixui.model.network import NB_CHANNELS, STEMS, ModelConfig, Separator


def core_matches(old: ModelConfig, new: ModelConfig) -> bool:
    """True when the two configs differ only in their STFT (so `retarget` can carry weights over)."""
    same = ("width", "conv_kernel", "lstm_layers", "lstm_hidden", "local_kernel", "local_channels")
    return all(getattr(old, name) == getattr(new, name) for name in same)


def bin_groups(old_bins: int, new_bins: int) -> list[np.ndarray]:
    """For each new bin, the old bins nearest to its centre frequency (both grids span 0..Nyquist)."""
    # floor(x + 0.5), not np.rint: rint rounds halves to even, which makes groups of 3 and 5 alternate.
    old_of_new = np.floor(np.arange(old_bins) * (new_bins - 1) / (old_bins - 1) + 0.5).astype(int)
    return [np.flatnonzero(old_of_new == k) for k in range(new_bins)]


def retarget(model: Separator, config: ModelConfig) -> Separator:
    """A new `Separator(config)` holding `model`'s weights mapped to `config`'s STFT (see the module doc)."""
    old = model.config
    if not core_matches(old, config):
        raise ValueError(f"cannot carry {old} over to {config}: only n_fft and hop may differ")
    groups = bin_groups(old.nb_bins, config.nb_bins)
    level_shift = math.log(old.n_fft / config.n_fft)
    result = Separator(config)
    weights = {key: value.detach().clone() for key, value in model.state_dict().items()}

    def per_channel(vector: torch.Tensor, reduce) -> torch.Tensor:  # (2 * old_bins,) -> (2 * new_bins,)
        v = vector.reshape(NB_CHANNELS, old.nb_bins)
        return torch.stack([reduce(v[:, g], dim=1) for g in groups], dim=1).reshape(-1)

    scale = weights["input_scale"]
    weights["input_scale"] = per_channel(scale, torch.mean)
    # log1p(|X_new|) ~ log1p(|X_old|) - level_shift on loud bins: shift by +scale * level_shift to compensate.
    weights["input_shift"] = per_channel(weights["input_shift"] + scale * level_shift, torch.mean)

    encoder = weights["encoder.weight"].reshape(old.width, NB_CHANNELS, old.nb_bins)
    weights["encoder.weight"] = torch.stack(
        [encoder[:, :, g].sum(dim=2) for g in groups], dim=2).reshape(old.width, -1)

    head_w = weights["head.weight"].reshape(len(STEMS), NB_CHANNELS, old.nb_bins, old.width)
    weights["head.weight"] = torch.stack(
        [head_w[:, :, g].mean(dim=2) for g in groups], dim=2).reshape(-1, old.width)
    head_b = weights["head.bias"].reshape(len(STEMS), NB_CHANNELS, old.nb_bins)
    weights["head.bias"] = torch.stack([head_b[:, :, g].mean(dim=2) for g in groups], dim=2).reshape(-1)

    result.load_state_dict(weights)
    return result
