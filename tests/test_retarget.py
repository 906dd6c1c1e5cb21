"""Carrying a network over to another STFT (`train --init MODEL --config lowlatency`)."""

import numpy as np
import pytest
import torch

from demixui.model.network import NB_CHANNELS, STEMS, ModelConfig, Separator
from demixui.model.retarget import bin_groups, core_matches, retarget

CORE = dict(width=16, conv_kernel=3, lstm_layers=1, lstm_hidden=16)


def test_every_old_bin_belongs_to_exactly_one_new_bin_in_frequency_order():
    groups = bin_groups(1025, 257)
    assert len(groups) == 257
    assert np.array_equal(np.concatenate(groups), np.arange(1025))  # contiguous, ordered, all covered once
    assert {len(g) for g in groups[1:-1]} == {4}  # 4 old bins per new one away from the edges


def test_core_is_kept_and_bin_layers_are_mapped():
    torch.manual_seed(0)
    old = Separator(ModelConfig(**CORE))
    for p in old.parameters():
        p.data.normal_()
    new = retarget(old, ModelConfig(n_fft=512, hop=128, **CORE))
    assert new.config.nb_bins == 257
    for name in ("lstm.weight_hh_l0", "conv.weight", "decoder.weight", "local.0.weight"):
        assert torch.equal(new.state_dict()[name], old.state_dict()[name])

    groups = bin_groups(1025, 257)
    # Encoder: a spectrum constant over each group gives the same features as the new bin's value.
    values = torch.randn(NB_CHANNELS, 257)
    expanded = torch.zeros(NB_CHANNELS, 1025)
    for k, g in enumerate(groups):
        expanded[:, g] = values[:, k : k + 1]
    torch.testing.assert_close(new.encoder(values.reshape(-1)), old.encoder(expanded.reshape(-1)),
                               rtol=1e-4, atol=1e-4)  # sums of ~2000 float32 terms
    # Head: each new bin's mask logits are the mean of its group's.
    z = torch.randn(16)
    old_logits = old.head(z).reshape(len(STEMS), NB_CHANNELS, 1025)
    new_logits = new.head(z).reshape(len(STEMS), NB_CHANNELS, 257)
    torch.testing.assert_close(new_logits[:, :, 100], old_logits[:, :, groups[100]].mean(dim=2))


def test_a_different_core_is_refused():
    assert not core_matches(ModelConfig(**CORE), ModelConfig(n_fft=512, hop=128))
    with pytest.raises(ValueError, match="only n_fft and hop"):
        retarget(Separator(ModelConfig(**CORE)), ModelConfig(n_fft=512, hop=128))
