"""The network: masks sum to one, nothing looks ahead, streaming from state equals the whole-sequence pass."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from demixui.model.network import CONFIGS, ModelConfig, Separator, count_parameters, load_weights  # noqa: E402

SMALL = ModelConfig(width=24, conv_kernel=4, lstm_layers=2, lstm_hidden=20)


def _mag(nb_frames: int, config: ModelConfig = SMALL, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, nb_frames, 2, config.nb_bins, generator=generator) * 30.0


@pytest.fixture(scope="module")
def model() -> Separator:
    torch.manual_seed(0)
    net = Separator(SMALL).eval()
    with torch.no_grad():  # the head starts at zero bias; make the masks far from uniform
        net.head.bias.normal_(0.0, 2.0)
    return net


def test_masks_have_the_contract_shape_and_sum_to_one(model):
    with torch.no_grad():
        masks = model(_mag(17))
    assert masks.shape == (1, 17, 4, 2, SMALL.nb_bins)
    assert torch.all(masks >= 0) and torch.all(masks <= 1)
    torch.testing.assert_close(masks.sum(dim=2), torch.ones(1, 17, 2, SMALL.nb_bins), atol=1e-6, rtol=0)
    assert masks.std() > 0.05  # not trivially uniform


def test_future_frames_do_not_change_past_masks(model):
    mag = _mag(40)
    changed = mag.clone()
    changed[:, 25:] = _mag(15, seed=1)
    with torch.no_grad():
        a, b = model(mag), model(changed)
    torch.testing.assert_close(a[:, :25], b[:, :25], atol=0, rtol=0)
    assert (a[:, 25:] - b[:, 25:]).abs().max() > 1e-3  # ...while the changed frames do matter


@pytest.mark.parametrize("blocks", [[1] * 12, [5, 1, 6], [3, 9], [12]])
def test_streaming_from_state_equals_whole_sequence(model, blocks):
    mag = _mag(sum(blocks))
    with torch.no_grad():
        whole = model(mag)
        states = model.initial_state(1)
        parts, start = [], 0
        for size in blocks:
            masks, *states = model.forward_streaming(mag[:, start:start + size], *states)
            parts.append(masks)
            start += size
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, atol=1e-6, rtol=1e-5)
    assert [tuple(s.shape) for s in states] == model.state_shapes(1)


def test_state_carries_history(model):
    """The same frame after different pasts gives different masks: the state is really used."""
    with torch.no_grad():
        _, *after_a = model.forward_streaming(_mag(10, seed=2), *model.initial_state(1))
        _, *after_b = model.forward_streaming(_mag(10, seed=3), *model.initial_state(1))
        frame = _mag(1, seed=4)
        a, *_ = model.forward_streaming(frame, *after_a)
        b, *_ = model.forward_streaming(frame, *after_b)
    assert (a - b).abs().max() > 1e-4


def test_configs_and_latency():
    assert CONFIGS["default"].latency_samples == 1536  # 34.8 ms at 44.1 kHz, within the 50 ms budget
    assert CONFIGS["lowlatency"].latency_samples / 44100 <= 0.012
    config = ModelConfig.from_dict({**CONFIGS["lowlatency"].to_dict(), "unknown_future_field": 1})
    assert config == CONFIGS["lowlatency"]
    assert Separator(CONFIGS["lowlatency"])(torch.rand(2, 3, 2, 257)).shape == (2, 3, 4, 2, 257)
    with pytest.raises(ValueError, match="conv_kernel"):
        ModelConfig(conv_kernel=1)
    # the shipped size stays far below the 20 MB file budget (4 bytes per float32 parameter)
    assert count_parameters(Separator(CONFIGS["default"])) * 4 < 12e6


def test_wrong_input_shape_is_refused(model):
    with pytest.raises(AssertionError):
        model(torch.rand(1, 4, 2, SMALL.nb_bins - 1))


def test_weights_from_before_the_local_path_load_with_the_same_function():
    torch.manual_seed(1)
    old = Separator(ModelConfig(width=24, lstm_hidden=20, local_kernel=0)).eval()
    new = Separator(ModelConfig(width=24, lstm_hidden=20)).eval()
    assert sorted(load_weights(new, old.state_dict())) == [
        "local.0.bias", "local.0.weight", "local.2.bias", "local.2.weight"]
    mag = _mag(9, old.config)
    with torch.no_grad():
        torch.testing.assert_close(new(mag), old(mag), atol=0, rtol=0)
    broken = {k: v for k, v in old.state_dict().items() if not k.startswith("lstm.")}
    with pytest.raises(RuntimeError, match="lstm"):
        load_weights(new, broken)
