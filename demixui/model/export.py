"""Export a `Separator` to the ONNX model file the app runs, and check the file before it is kept.

The file follows the contract read by `demixui/model/runtime.py`:
- input `mag` float32 [1, nb_frames, 2, nb_bins] (nb_frames dynamic) and `state_in_0..K-1` (static shapes);
- outputs `masks` float32 [1, nb_frames, 4, 2, nb_bins] (softmax over stems) and `state_out_0..K-1`;
- one `metadata_props` entry "demixui": JSON (stems, sample rate, STFT, latency, state names, versions).

`export_model` writes to a temporary name beside the target, runs the file in onnxruntime hop by hop (one
frame per call, carrying the state) and in blocks of frames, compares with torch over ten seconds of
audio, and only then renames it into place; a file that disagrees is deleted and a ModelFileError raised.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from demixui import __version__
from demixui.errors import ModelFileError
from demixui.model.network import NB_CHANNELS, STEMS, Separator, count_parameters

FORMAT_VERSION = 1
SAMPLE_RATE = 44100
OPSET = 17
TOLERANCE = 1e-4  # max abs difference between onnxruntime and torch masks (float32 rounding is ~1e-6)
VALIDATION_SECONDS = 10.0


class _StreamingWrapper(torch.nn.Module):
    """Exposes `forward_streaming` as `forward`, the function the ONNX exporter traces."""

    def __init__(self, model: Separator):
        super().__init__()
        self.model = model

    def forward(self, mag, *states):
        return self.model.forward_streaming(mag, *states)


def state_names(model: Separator) -> tuple[list[str], list[str]]:
    count = len(model.state_shapes())
    return [f"state_in_{i}" for i in range(count)], [f"state_out_{i}" for i in range(count)]


def metadata(model: Separator, training_data: str, model_version: str) -> dict:
    config = model.config
    inputs, _ = state_names(model)
    return {
        "format_version": FORMAT_VERSION,
        "stems": list(STEMS),
        "sample_rate": SAMPLE_RATE,
        "nb_channels": NB_CHANNELS,
        "n_fft": config.n_fft,
        "hop": config.hop,
        "latency_samples": config.latency_samples,
        "state_names": inputs,
        "training_data": training_data,
        "model_version": model_version,
        "weights": "float32",  # "int8" once `demixui.model.quantize` has made it so
        "demixui_version": __version__,
        "architecture": {
            "name": "conv-lstm-mask",
            "parameters": count_parameters(model),
            "states": ["conv_cache", "lstm_h", "lstm_c"],
            **config.to_dict(),
        },
    }


def validation_magnitudes(model: Separator, seconds: float = VALIDATION_SECONDS, seed: int = 0) -> np.ndarray:
    """Magnitudes (1, nb_frames, 2, nb_bins) of a fixed test signal: tones, a bass line, noise bursts."""
    from demixui.model.quantize import validation_magnitudes as magnitudes

    return magnitudes(model.config.n_fft, model.config.hop, seconds, seed)


def _export_graph(model: Separator, path: Path) -> None:
    inputs, outputs = state_names(model)
    wrapper = _StreamingWrapper(model).eval()
    mag = torch.rand(1, 4, NB_CHANNELS, model.config.nb_bins)
    states = tuple(model.initial_state(1))
    dynamic = {"mag": {1: "nb_frames"}, "masks": {1: "nb_frames"}}
    with warnings.catch_warnings():
        # The TorchScript exporter warns about LSTM batch sizes and its own deprecation; neither applies here.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, (mag, *states), str(path),
            input_names=["mag", *inputs], output_names=["masks", *outputs],
            dynamic_axes=dynamic, opset_version=OPSET, dynamo=False, do_constant_folding=True,
        )


def _write_metadata(path: Path, meta: dict, state_shapes: list[tuple[int, ...]]) -> None:
    import onnx

    proto = onnx.load(str(path))
    # The tracer leaves the conv cache's time axis symbolic (it comes from a slice); the contract says state
    # outputs have the inputs' static shapes, so declare them (validation below runs the file to prove it).
    outputs = {output.name: output for output in proto.graph.output}
    for index, shape in enumerate(state_shapes):
        dims = outputs[f"state_out_{index}"].type.tensor_type.shape.dim
        for dim, value in zip(dims, shape, strict=True):
            dim.dim_value = value
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = "demixui", json.dumps(meta)
    proto.producer_name = "demixui"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def validate_onnx(model: Separator, path: Path, mag: np.ndarray | None = None, block: int = 64) -> float:
    """Max abs difference of the file's masks from torch's, hop by hop and in blocks of `block` frames."""
    import onnxruntime as ort

    if mag is None:
        mag = validation_magnitudes(model)
    with torch.no_grad():
        expected = model(torch.from_numpy(mag)).numpy()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs, outputs = state_names(model)
    worst = 0.0
    for step in (1, block):
        states = [np.zeros(shape, np.float32) for shape in model.state_shapes(1)]
        for start in range(0, mag.shape[1], step):
            feeds = {"mag": mag[:, start:start + step], **dict(zip(inputs, states, strict=True))}
            masks, *states = session.run(["masks", *outputs], feeds)
            worst = max(worst, float(np.max(np.abs(masks - expected[:, start:start + step]))))
    return worst


def export_model(
    model: Separator, path: str | Path, training_data: str = "", model_version: str = "",
    mask_temperature: float = 1.0,
) -> dict:
    """Write `model` to `path` as a validated ONNX file; returns the metadata it holds.

    `mask_temperature` != 1 exports a copy with softened (> 1) or sharpened masks (`Separator.soften_masks`).
    Raises ModelFileError (and leaves nothing at `path` or beside it) if onnxruntime disagrees with torch by
    more than TOLERANCE.
    """
    path = Path(path)
    model = model.cpu().eval()
    if mask_temperature != 1.0:
        model = copy.deepcopy(model)
        model.soften_masks(mask_temperature)
    meta = metadata(model, training_data, model_version)
    meta["mask_temperature"] = mask_temperature
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        _export_graph(model, tmp)
        _write_metadata(tmp, meta, model.state_shapes(1))
        error = validate_onnx(model, tmp)
        if not error <= TOLERANCE:
            raise ModelFileError(
                f"{path}: exported model disagrees with torch "
                f"(max mask difference {error:.2e} > {TOLERANCE:g}); not written"
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    meta["validation_max_abs_error"] = error
    return meta
