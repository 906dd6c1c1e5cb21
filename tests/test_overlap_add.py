"""Crossfade overlap-add: identity chunks rebuild the input; seams crossfade; gaps are refused."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.overlap_add import ChunkLayout, overlap_add, split_chunks


@pytest.mark.parametrize("ramp", ["raised_cosine", "linear"])
@pytest.mark.parametrize(
    "nb_samples, chunk_size, overlap",
    [(10_000, 1024, 256), (1000, 1000, 0), (37, 64, 16), (4097, 512, 256), (5000, 700, 1)],
)
def test_identity_model_rebuilds_the_input(nb_samples: int, chunk_size: int, overlap: int, ramp: str) -> None:
    layout = ChunkLayout(chunk_size, overlap, ramp)
    x = np.random.default_rng(nb_samples).standard_normal((nb_samples, 4, 2)).astype(np.float32)  # stems, ch
    chunks = split_chunks(x, layout)
    assert chunks.shape == (len(layout.starts(nb_samples)), chunk_size, 4, 2)
    y = overlap_add(chunks.copy(), layout, nb_samples)  # the "separator" returns its input
    assert y.shape == x.shape and y.dtype == np.float32
    # Exact up to float32 rounding of (w * x) / w: one ulp-scale error.
    np.testing.assert_allclose(y, x, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("ramp", ["raised_cosine", "linear"])
def test_weights_sum_to_one_where_chunks_overlap_and_never_touch_zero(ramp: str) -> None:
    layout = ChunkLayout(1024, 256, ramp)
    weights = layout.weights()
    assert weights.min() > 0 and weights.max() == 1.0
    np.testing.assert_allclose(weights[-256:] + weights[:256], 1.0, rtol=1e-12)


def test_a_seam_between_two_different_chunk_outputs_is_a_crossfade_not_a_step() -> None:
    layout = ChunkLayout(1000, 200)
    chunks = np.stack([np.zeros((1000, 1)), np.ones((1000, 1))]).astype(np.float32)
    y = overlap_add(chunks, layout, 1800)[:, 0]
    assert y[799] == 0 and y[1000] == 1
    assert np.all(np.diff(y) >= 0) and np.abs(np.diff(y)).max() < 0.01  # smooth rise over the 200 overlap


def test_too_few_chunks_are_refused_before_dividing() -> None:
    layout = ChunkLayout(1000, 200)
    chunks = np.zeros((2, 1000, 2), np.float32)
    with pytest.raises(ValueError, match=r"sum to <= 1e-08 at 700 of 2500 samples \(first at 1800\)"):
        overlap_add(chunks, layout, 2500)


def test_bad_layouts_and_shapes_name_expected_and_received() -> None:
    with pytest.raises(ValueError, match=r"ChunkLayout\(chunk_size=100, overlap=60"):
        ChunkLayout(100, 60)
    with pytest.raises(ValueError, match="ramp must be one of"):
        ChunkLayout(100, 10, "hann")
    expected = r"expected chunks of shape \(nb_chunks, 100, \.\.\.\), got \(3, 99, 2\)"
    with pytest.raises(ValueError, match=expected):
        overlap_add(np.zeros((3, 99, 2), np.float32), ChunkLayout(100, 10), 250)
