"""Opening a demixui ONNX model file with onnxruntime and checking it against the model contract.

The contract (written by `demixui/model/export.py`): input `mag` float32 `[1, nb_frames, 2, nb_bins]` with
`nb_frames` dynamic, plus state inputs `state_in_0..K-1` of static shape; outputs `masks` float32
`[1, nb_frames, 4, 2, nb_bins]` plus `state_out_0..K-1` shaped like the inputs; a `metadata_props` entry
"demixui" holding JSON (format version, stems, sample rate, STFT configuration, latency, provenance).
Every way a file can fail the contract ends as a ModelFileError with one line naming what is wrong.
torch is never imported here: the app runs on onnxruntime alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demixui.errors import ModelFileError

FORMAT_VERSION = 1
EXPECTED_STEMS = ("vocals", "drums", "bass", "other")
EXPECTED_SAMPLE_RATE = 44100
EXPECTED_CHANNELS = 2
METADATA_KEY = "demixui"


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself (its "demixui" metadata), after validation."""

    path: Path
    stems: tuple[str, ...]
    sample_rate: int
    nb_channels: int
    n_fft: int
    hop: int
    latency_samples: int
    state_names: tuple[str, ...]
    training_data: str = ""
    model_version: str = ""
    demixui_version: str = ""
    architecture: dict[str, Any] = field(default_factory=dict)
    file_bytes: int = 0
    weights: str = "float32"  # or "int8" (demixui/model/quantize.py); files before it say nothing: float32

    @property
    def nb_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def latency_seconds(self) -> float:
        return self.latency_samples / self.sample_rate


@dataclass(frozen=True)
class StateSpec:
    """One explicit state tensor: graph input `input_name`, fed back from output `output_name`."""

    input_name: str
    output_name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name


_ORT_TO_NUMPY = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
                 "tensor(int64)": "int64", "tensor(int32)": "int32"}


def open_session(path: str | Path, intra_op_threads: int = 1):
    """An onnxruntime InferenceSession for `path`, or a ModelFileError if the file is missing or not ONNX.

    One intra-op thread by default: the real-time worker shares the machine with the audio callback, and
    a single model hop is too small to gain from a thread pool. Offline commands pass more.
    """
    import onnxruntime as ort

    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    if path.is_dir():
        raise ModelFileError(f"{path}: is a folder, not a model file")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(intra_op_threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: ORT's warnings would go to the user's terminal
    # Pool threads that spin between runs steal the core the numpy STFT work (and, live, the audio callback)
    # needs; sleeping costs a few microseconds per run and measured faster on a loaded 2-core machine.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - ORT raises several private types for a bad file
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ModelFileError(f"{path}: not a valid ONNX model file ({first[:160]})") from None


def read_model_info(session, path: str | Path) -> tuple[ModelInfo, list[StateSpec]]:
    """Validate `session`'s metadata and graph signature against the contract; return the info and states."""
    path = Path(path)
    info = _parse_metadata(session.get_modelmeta().custom_metadata_map, path)
    states = _check_signature(session, info, path)
    return info, states


def _parse_metadata(metadata: dict[str, str], path: Path) -> ModelInfo:
    if METADATA_KEY not in metadata:
        raise ModelFileError(f"{path}: no '{METADATA_KEY}' metadata (not a demixui model file)")
    try:
        meta = json.loads(metadata[METADATA_KEY])
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{path}: '{METADATA_KEY}' metadata is not valid JSON ({error.msg})") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: '{METADATA_KEY}' metadata is not a JSON object")

    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format_version {version!r}, this demixui reads version {FORMAT_VERSION}"
        )
    stems = meta.get("stems")
    if not isinstance(stems, list) or tuple(stems) != EXPECTED_STEMS:
        raise ModelFileError(f"{path}: model stems {stems!r}, expected {list(EXPECTED_STEMS)!r}")
    sample_rate = meta.get("sample_rate")
    if sample_rate != EXPECTED_SAMPLE_RATE:
        raise ModelFileError(f"{path}: model sample rate {sample_rate!r} Hz, expected {EXPECTED_SAMPLE_RATE}")
    nb_channels = meta.get("nb_channels", EXPECTED_CHANNELS)
    if nb_channels != EXPECTED_CHANNELS:
        raise ModelFileError(f"{path}: model has {nb_channels!r} channels, expected {EXPECTED_CHANNELS}")
    n_fft, hop, latency = meta.get("n_fft"), meta.get("hop"), meta.get("latency_samples")
    for name, value in (("n_fft", n_fft), ("hop", hop), ("latency_samples", latency)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ModelFileError(f"{path}: metadata {name} is {value!r}, expected a positive integer")
    if hop > n_fft:
        raise ModelFileError(f"{path}: metadata hop {hop} is larger than n_fft {n_fft}")
    if latency != n_fft - hop:
        raise ModelFileError(
            f"{path}: metadata latency_samples {latency} does not match n_fft - hop = {n_fft - hop}"
        )
    state_names = meta.get("state_names", [])
    if not isinstance(state_names, list) or not all(isinstance(n, str) for n in state_names):
        raise ModelFileError(f"{path}: metadata state_names is not a list of names")
    architecture = meta.get("architecture", {})
    return ModelInfo(
        path=path,
        stems=tuple(stems),
        sample_rate=sample_rate,
        nb_channels=nb_channels,
        n_fft=n_fft,
        hop=hop,
        latency_samples=latency,
        state_names=tuple(state_names),
        training_data=str(meta.get("training_data", "")),
        model_version=str(meta.get("model_version", "")),
        demixui_version=str(meta.get("demixui_version", "")),
        architecture=architecture if isinstance(architecture, dict) else {},
        file_bytes=path.stat().st_size,
        weights=str(meta.get("weights", "float32")),
    )


def _is_dynamic(dim) -> bool:
    return not isinstance(dim, int)


def _check_signature(session, info: ModelInfo, path: Path) -> list[StateSpec]:
    inputs = {node.name: node for node in session.get_inputs()}
    outputs = {node.name: node for node in session.get_outputs()}
    nb_bins, nb_stems = info.nb_bins, len(info.stems)

    mag = inputs.pop("mag", None)
    if mag is None:
        raise ModelFileError(f"{path}: the graph has no input 'mag'")
    shape = list(mag.shape)
    if (mag.type != "tensor(float)" or len(shape) != 4 or (shape[0] != 1 and not _is_dynamic(shape[0]))
            or not _is_dynamic(shape[1]) or shape[2] != info.nb_channels or shape[3] != nb_bins):
        raise ModelFileError(
            f"{path}: input 'mag' is {mag.type} {shape}, expected float [1, nb_frames, 2, {nb_bins}]"
            " with a dynamic frame axis"
        )
    masks = outputs.pop("masks", None)
    if masks is None:
        raise ModelFileError(f"{path}: the graph has no output 'masks'")
    shape = list(masks.shape)
    if (masks.type != "tensor(float)" or len(shape) != 5 or shape[2] != nb_stems
            or shape[3] != info.nb_channels or shape[4] != nb_bins):
        raise ModelFileError(
            f"{path}: output 'masks' is {masks.type} {shape},"
            f" expected float [1, nb_frames, {nb_stems}, 2, {nb_bins}]"
        )

    nb_states = len(inputs)
    expected_in = {f"state_in_{i}" for i in range(nb_states)}
    expected_out = {f"state_out_{i}" for i in range(nb_states)}
    if set(inputs) != expected_in:
        raise ModelFileError(f"{path}: unexpected graph inputs {sorted(set(inputs) - expected_in)}"
                             f" (expected 'mag' and state_in_0..{nb_states - 1})")
    if set(outputs) != expected_out:
        raise ModelFileError(f"{path}: graph outputs {sorted(outputs)} do not pair with the state inputs"
                             f" (expected 'masks' and state_out_0..{nb_states - 1})")
    if info.state_names and len(info.state_names) != nb_states:
        raise ModelFileError(
            f"{path}: metadata names {len(info.state_names)} states, the graph has {nb_states}"
        )
    states = []
    for i in range(nb_states):
        node_in, node_out = inputs[f"state_in_{i}"], outputs[f"state_out_{i}"]
        if any(_is_dynamic(d) for d in node_in.shape):
            raise ModelFileError(f"{path}: state_in_{i} has a dynamic shape {node_in.shape}, expected static")
        if node_in.type not in _ORT_TO_NUMPY:
            raise ModelFileError(f"{path}: state_in_{i} has unsupported type {node_in.type}")
        # The exporter may leave an output dim symbolic (e.g. from a Slice); only static dims can disagree.
        same = len(node_out.shape) == len(node_in.shape) and all(
            _is_dynamic(o) or o == i for o, i in zip(node_out.shape, node_in.shape, strict=True)
        )
        if not same or node_out.type != node_in.type:
            raise ModelFileError(
                f"{path}: state_out_{i} is {node_out.type} {node_out.shape},"
                f" state_in_{i} is {node_in.type} {node_in.shape}"
            )
        dtype = _ORT_TO_NUMPY[node_in.type]
        states.append(StateSpec(node_in.name, node_out.name, tuple(node_in.shape), dtype))
    return states
