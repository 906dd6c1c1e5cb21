"""The separator at run time: an ONNX model file run by onnxruntime over a streamed STFT (no torch).

`load_model(path)` opens and validates a model file (see `model_file.py`); `SeparatorModel.new_stream()` gives
a `StreamingSeparator`, the one code path for playback and offline separation:

    stereo mix (any block size) -> StreamingStft -> |X| -> ONNX model (many frames per call, explicit state)
    -> masks (sum to one over stems) -> mix phase -> StreamingIstft over 4 stems x 2 channels -> stems

Every output sample is final when returned; stems are delayed by `latency_samples` (n_fft - hop) and sum to
the equally delayed mix, to float rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from demixui.errors import ModelFileError
from demixui.model.model_file import ModelInfo, StateSpec, open_session, read_model_info
from dsp.mixphase import apply_masks
from dsp.stft import StftConfig, StreamingIstft, StreamingStft

# Frames per onnxruntime call when a block brings many (offline): large enough that the per-call overhead
# vanishes, small enough that the working set (~256 x 2 x 1025 floats per tensor) stays in cache-sized MBs.
DEFAULT_MAX_FRAMES = 256


def default_model_path() -> Path:
    """The bundled default model (`assets/models/default.onnx`); it may not exist in a bare checkout."""
    from demixui.assets import DEFAULT_MODEL, asset_path

    return asset_path(DEFAULT_MODEL)


class SeparatorModel:
    """A validated model file with its onnxruntime session; `new_stream()` for each independent stream.

    Streams made from one model share the session (onnxruntime sessions are safe to run from several
    threads), each with its own STFT buffers and model state.
    """

    def __init__(self, session, info: ModelInfo, states: list[StateSpec], intra_op_threads: int):
        self.session = session
        self.info = info
        self.states = states
        self.intra_op_threads = intra_op_threads

    @property
    def stems(self) -> tuple[str, ...]:
        return self.info.stems

    @property
    def stft_config(self) -> StftConfig:
        return StftConfig(n_fft=self.info.n_fft, hop=self.info.hop)

    def new_stream(self, max_frames: int = DEFAULT_MAX_FRAMES) -> StreamingSeparator:
        return StreamingSeparator(self, max_frames=max_frames)

    def __repr__(self) -> str:
        return f"SeparatorModel({str(self.info.path)!r}, stems={self.info.stems}, hop={self.info.hop})"


def load_model(path: str | Path | None = None, intra_op_threads: int = 1) -> SeparatorModel:
    """Open and validate a model file; None means the bundled default model. Raises ModelFileError."""
    if path is None:
        path = default_model_path()
        if not path.exists():
            raise ModelFileError(f"the default model is not installed ({path} is missing); pass --model PATH")
    path = Path(path)
    session = open_session(path, intra_op_threads)
    info, states = read_model_info(session, path)
    try:
        config = StftConfig(n_fft=info.n_fft, hop=info.hop)
    except ValueError as error:
        raise ModelFileError(f"{path}: unsupported STFT configuration ({error})") from None
    if config.latency_samples != info.latency_samples:
        raise ModelFileError(f"{path}: metadata latency {info.latency_samples} samples, STFT gives "
                             f"{config.latency_samples}")
    return SeparatorModel(session, info, states, intra_op_threads)


class StreamingSeparator:
    """Stereo mix in, four stereo stems out, block by block; the state lives here, `reset()` clears it.

    `process(mix)` accepts any number of samples and returns the stem samples that became final:
    `(nb_out, nb_stems, nb_channels)` float32 with `nb_out` a multiple of `hop`. Output sample t is the
    separation of input sample t - latency_samples.
    """

    def __init__(self, model: SeparatorModel, max_frames: int = DEFAULT_MAX_FRAMES):
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        info = model.info
        self.model = model
        self.stems = info.stems
        self.hop = info.hop
        self.latency_samples = info.latency_samples
        self.max_frames = max_frames
        self.nb_channels = info.nb_channels
        self.nb_bins = info.nb_bins
        self._session = model.session
        config = model.stft_config
        nb_stems = len(self.stems)
        self._stft = StreamingStft(config, self.nb_channels)
        # One ISTFT over all stem channels: channel index = stem * nb_channels + channel.
        self._istft = StreamingIstft(config, nb_stems * self.nb_channels)
        # Preallocated model input; a leading slice [:, :n] of it is still C-contiguous (axis 0 has size 1),
        # so onnxruntime reads it without a copy.
        self._mag = np.zeros((1, max_frames, self.nb_channels, self.nb_bins), dtype=np.float32)
        # Mask x mixture spectra, written by `synthesise` only (one thread at a time, see pipeline.py).
        stem_shape = (max_frames, nb_stems, self.nb_channels, self.nb_bins)
        self._stem_frames = np.zeros(stem_shape, dtype=np.complex64)
        self._zero_states = [np.zeros(spec.shape, dtype=spec.dtype) for spec in model.states]
        self._state_inputs = [spec.input_name for spec in model.states]
        self._output_names = ["masks"] + [spec.output_name for spec in model.states]
        self._feeds: dict[str, np.ndarray] = {}
        self._mask_shape = (nb_stems, self.nb_channels, self.nb_bins)
        self.reset()

    def reset(self) -> None:
        """Forget everything heard so far: STFT buffers and model state back to zero."""
        self._stft.reset()
        self._istft.reset()
        # The session never writes into its inputs, so the zero arrays can be fed again after every reset.
        for name, zero in zip(self._state_inputs, self._zero_states, strict=True):
            self._feeds[name] = zero

    def process(self, mix: np.ndarray) -> np.ndarray:
        """`mix` float32 `(nb_samples, nb_channels)` -> stems float32 `(nb_out, nb_stems, nb_channels)`.

        The same as `synthesise(*analyse(mix))`; a long `mix` is taken `max_frames` hops at a time so the
        spectra in flight stay small.
        """
        if mix.shape[0] == self.hop and self._stft.on_hop_boundary:
            return self._process_hop(mix)
        step = self.max_frames * self.hop
        if mix.shape[0] <= step:
            return self.synthesise(*self.analyse(mix))
        parts = [self.synthesise(*self.analyse(mix[i:i + step])) for i in range(0, mix.shape[0], step)]
        return np.concatenate(parts)

    def _process_hop(self, mix: np.ndarray) -> np.ndarray:
        """`process` for one hop on a hop boundary, as live input is streamed: the same calls on the same
        buffers as the general path (so the same numbers), without its per-stage checks and dispatch."""
        if mix.ndim != 2 or mix.shape[1] != self.nb_channels or mix.dtype.kind != "f":
            raise ValueError(f"expected mix of shape (nb_samples, {self.nb_channels}), got {mix.shape} "
                             f"{mix.dtype}")
        frames = self._stft.process_hop(mix)  # (1, nb_channels, nb_bins) complex64
        masks = self._run_model(frames)  # (1, nb_stems, nb_channels, nb_bins)
        stem_frames = np.multiply(masks, frames[:, None], out=self._stem_frames[:1])  # apply_masks' product
        samples = self._istft.process_frame(stem_frames.reshape(-1, self.nb_bins))
        return samples.reshape(self.hop, len(self.stems), self.nb_channels)

    def analyse(self, mix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First half of `process`: the new STFT frames of `mix` and the model's masks for them.

        Returns `frames` complex64 `(nb_frames, nb_channels, nb_bins)` and `masks` float32
        `(nb_frames, nb_stems, nb_channels, nb_bins)`. `analyse` and `synthesise` touch separate state, so an
        offline caller may synthesise one block on another thread while it analyses the next (and so do
        `transform` and `estimate`, the two halves of `analyse`).
        """
        return self.estimate(self.transform(mix))

    def stages(self) -> list:
        """`transform`, `estimate`, `synthesise`: `process` in three steps that keep separate state, for the
        offline pipeline (demixui/model/pipeline.py), which runs each on its own thread."""
        return [self.transform, self.estimate, self.synthesise]

    def transform(self, mix: np.ndarray) -> np.ndarray:
        """The new STFT frames of `mix` `(nb_samples, nb_channels)`: complex64 `(nb_frames, nb_channels,
        nb_bins)`."""
        if mix.ndim != 2 or mix.shape[1] != self.nb_channels:
            raise ValueError(f"expected mix of shape (nb_samples, {self.nb_channels}), got {mix.shape}")
        return self._stft.process(np.asarray(mix, dtype=np.float32))

    def estimate(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`frames` and the model's masks for them (see `analyse`)."""
        nb_frames = frames.shape[0]
        if nb_frames <= self.max_frames:  # the usual case: one model call, no copy of its output
            return frames, self._run_model(frames)
        masks = np.empty((nb_frames, len(self.stems), self.nb_channels, self.nb_bins), dtype=np.float32)
        for start in range(0, nb_frames, self.max_frames):
            masks[start:start + self.max_frames] = self._run_model(frames[start:start + self.max_frames])
        return frames, masks

    def synthesise(self, frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Second half of `process`: masks applied with the mix phase, then the ISTFT of every stem channel.

        `frames` `(nb_frames, nb_channels, nb_bins)`, `masks` `(nb_frames, nb_stems, nb_channels, nb_bins)`
        -> float32 `(nb_frames * hop, nb_stems, nb_channels)`.
        """
        nb_frames, nb_stems = frames.shape[0], len(self.stems)
        if nb_frames == 0:
            return np.zeros((0, nb_stems, self.nb_channels), dtype=np.float32)
        if nb_frames <= self.max_frames:  # into the preallocated buffer (a leading slice is contiguous)
            stem_frames = apply_masks(frames, masks, out=self._stem_frames[:nb_frames])
        else:
            stem_frames = apply_masks(frames, masks)  # (nb_frames, nb_stems, nb_channels, nb_bins)
        nb_channels = nb_stems * self.nb_channels
        samples = self._istft.process(stem_frames.reshape(nb_frames, nb_channels, self.nb_bins))
        return samples.reshape(nb_frames * self.hop, nb_stems, self.nb_channels)

    def _run_model(self, chunk: np.ndarray) -> np.ndarray:
        """`chunk` complex `(n, nb_channels, nb_bins)` -> masks `(n, nb_stems, nb_channels, nb_bins)`."""
        n = chunk.shape[0]
        if n == 0:
            return np.zeros((0, len(self.stems), self.nb_channels, self.nb_bins), dtype=np.float32)
        mag = self._mag[:, :n]
        np.abs(chunk, out=mag[0])
        self._feeds["mag"] = mag
        outputs = self._session.run(self._output_names, self._feeds)
        feeds = self._feeds
        for name, value in zip(self._state_inputs, outputs[1:], strict=True):
            feeds[name] = value
        masks = outputs[0]
        assert masks.shape[1] == n and masks.shape[2:] == self._mask_shape, (masks.shape, n)
        return masks[0]
