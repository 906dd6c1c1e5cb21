"""Recover a torch `Separator` from a demixui ONNX model file (when the training checkpoint is gone).

The file is self-describing: its "demixui" metadata holds the `ModelConfig` (the "architecture" entry
written by `demixui/model/export.py`), and its initializers hold every weight, some rewritten by the exporter:
- `nn.Linear` on (batch, frames, features) becomes MatMul with the weight transposed, (in, out), then an Add
  with the bias;
- each LSTM layer becomes one ONNX LSTM node with W (1, 4H, in), R (1, 4H, H) and B (1, 8H) = [Wb, Rb], its
  gates in ONNX's order i, o, f, c where torch's `weight_ih_l{k}` etc. use i, f, g(=c), o;
- LayerNormalization, Conv and the input affine keep torch's layout.

An int8 file (`demixui/model/quantize.py`, "weights": "int8" in its metadata) holds MatMulInteger nodes
(B int8 (in, out) with its zero point; its scale is the constant of the Mul beside it,
`/encoder/MatMul_quant_scales_mul`) and DynamicQuantizeLSTM nodes (W (1, in, 4H) and R (1, H, 4H), LSTM's
transposed, with scales and zero points as inputs 8-11): their weights are dequantized,
W = (q - zero_point) * scale, so the recovered network holds the int8 file's weights in float32 (not those of
the float32 file it was made from: each weight is within half a quantization step of those).

Initializer names are not relied on (the exporter names the folded ones `onnx::MatMul_280`, and in eval mode
stores equal tensors once, the copies as Identity nodes): weights are found by the node that uses them,
identified by its op type and the module scope the exporter writes into node names (`/encoder/MatMul`,
`/lstm/LSTM_1`).
`separator_from_onnx` then runs the file in onnxruntime against the rebuilt torch model and refuses a model
that disagrees.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from demixui.errors import ModelFileError
from demixui.model.network import NB_CHANNELS, ModelConfig, Separator

METADATA_KEY = "demixui"
# torch gate k (i, f, g, o) is ONNX gate ONNX_GATE_OF_TORCH[k] (ONNX order i, o, f, c).
ONNX_GATE_OF_TORCH = (0, 2, 3, 1)
TOLERANCE = 1e-4  # max abs mask difference torch vs onnxruntime, as at export (float32 rounding is ~1e-6)
# An int8 file also quantizes activations per call, which the float32 torch network does not: the masks then
# agree only as well as the int8 file agrees with its float32 source (quantize.INT8_TOLERANCE).


def config_from_onnx(proto) -> ModelConfig:
    """The `ModelConfig` in a loaded ONNX model's "demixui" metadata (its "architecture" entry)."""
    meta = {entry.key: entry.value for entry in proto.metadata_props}
    if METADATA_KEY not in meta:
        raise ModelFileError(f"no '{METADATA_KEY}' metadata (not a demixui model file)")
    architecture = json.loads(meta[METADATA_KEY]).get("architecture", {})
    if architecture.get("name") != "conv-lstm-mask":
        raise ModelFileError(f"architecture {architecture.get('name')!r} is not conv-lstm-mask")
    return ModelConfig.from_dict(architecture)


def _scope(node) -> str:
    """The module path the exporter wrote into a node's name: '/encoder/MatMul' -> 'encoder',
    '/local/local.0/Conv' -> 'local.0', '/Mul_1' -> '' (the root module)."""
    parts = (node.name or node.output[0]).strip("/").split("/")
    return parts[-2] if len(parts) >= 2 else ""


def _lstm_weights(layer: int, w: np.ndarray, r: np.ndarray, b: np.ndarray, hidden: int) -> dict:
    """ONNX LSTM W (1, 4H, in), R (1, 4H, H), B (1, 8H) -> torch's four tensors of layer `layer`."""
    def torch_order(matrix: np.ndarray) -> np.ndarray:  # (4H, ...) in i, o, f, c -> i, f, g, o
        gates = matrix.reshape(4, hidden, *matrix.shape[1:])
        return gates[list(ONNX_GATE_OF_TORCH)].reshape(matrix.shape)

    if w.shape[0] != 1 or r.shape[0] != 1 or b.shape != (1, 8 * hidden):
        raise ModelFileError(f"LSTM layer {layer}: not a unidirectional layer of {hidden} "
                             f"(W {w.shape}, B {b.shape})")
    return {
        f"lstm.weight_ih_l{layer}": torch_order(w[0]),
        f"lstm.weight_hh_l{layer}": torch_order(r[0]),
        f"lstm.bias_ih_l{layer}": torch_order(b[0, :4 * hidden]),
        f"lstm.bias_hh_l{layer}": torch_order(b[0, 4 * hidden:]),
    }


def _dequantize(quantized: np.ndarray, zero_point: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(q - zero_point) * scale in float32; zero_point and scale broadcast over q's last axis (one per output
    channel) or are scalars (per tensor)."""
    return ((quantized.astype(np.float32) - zero_point.astype(np.float32)) * scale).astype(np.float32)


def state_dict_from_onnx(proto, config: ModelConfig) -> dict[str, torch.Tensor]:
    """Map a loaded ONNX model's initializers back to `Separator(config)`'s state dict."""
    from onnx import numpy_helper

    constants = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    for node in proto.graph.node:  # small tensors may also come as Constant nodes
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    # Equal parameters (an untrained network's unit layer norms) are stored once, the others as Identity.
    aliases = {n.output[0]: n.input[0] for n in proto.graph.node if n.op_type == "Identity"}
    for name in aliases:
        source = name
        while source in aliases and source not in constants:
            source = aliases[source]
        if source in constants:
            constants[name] = constants[source]

    def constant_inputs(node) -> list[np.ndarray]:
        return [constants[name] for name in node.input if name in constants]

    nb_features = NB_CHANNELS * config.nb_bins
    weights: dict[str, np.ndarray] = {}
    weight_scales = {_scope(n): constant_inputs(n) for n in proto.graph.node
                     if n.op_type == "Mul" and n.name.endswith("_quant_scales_mul")}
    lstm_layer = 0
    for node in proto.graph.node:
        scope, op = _scope(node), node.op_type
        inputs = node.input
        if op == "MatMul" and scope in ("encoder", "decoder", "head"):
            (matrix,) = constant_inputs(node)
            weights[f"{scope}.weight"] = matrix.T  # MatMul computes x @ W^T with W^T stored
        elif op == "MatMulInteger" and scope in ("encoder", "decoder", "head"):
            if len(weight_scales.get(scope, [])) != 1 or len(inputs) < 4 or inputs[3] not in constants:
                raise ModelFileError(f"int8 layer {scope}: weight scale or zero point not found")
            matrix = _dequantize(constants[inputs[1]], constants[inputs[3]], weight_scales[scope][0])
            weights[f"{scope}.weight"] = matrix.T
        elif op == "Add" and scope in ("encoder", "decoder", "head"):
            (weights[f"{scope}.bias"],) = constant_inputs(node)
        elif op == "LayerNormalization" and scope in ("encoder_norm", "decoder_norm"):
            weights[f"{scope}.weight"], weights[f"{scope}.bias"] = (constants[name] for name in inputs[1:3])
        elif op == "Conv" and scope in ("conv", "local.0", "local.2"):
            key = scope if scope == "conv" else f"local.{scope.split('.')[1]}"
            weights[f"{key}.weight"], weights[f"{key}.bias"] = (constants[name] for name in node.input[1:3])
        elif op == "LSTM":
            w, r, b = (constants[name] for name in inputs[1:4])
            weights.update(_lstm_weights(lstm_layer, w, r, b, config.lstm_hidden))
            lstm_layer += 1
        elif op == "DynamicQuantizeLSTM":  # W (1, in, 4H), R (1, H, 4H): LSTM's transposed, int8
            w_scale, w_zero, r_scale, r_zero = (constants[name] for name in inputs[8:12])
            w = _dequantize(constants[inputs[1]], w_zero[:, None], w_scale[:, None]).transpose(0, 2, 1)
            r = _dequantize(constants[inputs[2]], r_zero[:, None], r_scale[:, None]).transpose(0, 2, 1)
            weights.update(_lstm_weights(lstm_layer, w, r, constants[inputs[3]], config.lstm_hidden))
            lstm_layer += 1
        elif op in ("Mul", "Add") and scope == "":  # the root's per-bin affine on the log magnitudes
            vectors = [c for c in constant_inputs(node) if c.shape == (nb_features,)]
            if vectors:
                weights["input_scale" if op == "Mul" else "input_shift"] = vectors[0]
    return {key: torch.from_numpy(np.array(value, dtype=np.float32)) for key, value in weights.items()}


def load_onnx(path: Path):
    """The ONNX graph of a model file, or a one-line ModelFileError for a missing or damaged file."""
    import onnx

    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        return onnx.load(str(path))
    except Exception as error:  # noqa: BLE001 - onnx raises protobuf's private errors for a damaged file
        raise ModelFileError(f"{path}: not a readable ONNX file ({type(error).__name__})") from None


def separator_from_onnx(path: str | Path, verify: bool = True) -> Separator:
    """The torch `Separator` (eval mode, CPU) whose export is the ONNX file at `path`.

    With `verify`, the rebuilt model and onnxruntime separate the export's validation signal (hop by hop and
    in blocks) and a ModelFileError is raised if their masks differ by more than TOLERANCE.
    """
    path = Path(path)
    proto = load_onnx(path)
    try:
        config = config_from_onnx(proto)
        model = Separator(config)
        weights = state_dict_from_onnx(proto, config)
    except ModelFileError as error:
        raise ModelFileError(f"{path}: {error}") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    wrong = sorted(k for k in set(expected) & set(weights) if weights[k].shape != expected[k].shape)
    if missing or wrong:
        raise ModelFileError(f"{path}: cannot map the graph to the network: missing {missing}, "
                             f"wrong shape {[(k, tuple(weights[k].shape)) for k in wrong]}")
    model.load_state_dict(weights)
    model.eval()
    if verify:
        from demixui.model.export import validate_onnx
        from demixui.model.quantize import INT8_TOLERANCE, read_metadata

        tolerance = INT8_TOLERANCE if read_metadata(proto).get("weights") == "int8" else TOLERANCE
        error = validate_onnx(model, path)
        if not error <= tolerance:
            raise ModelFileError(f"{path}: recovered weights disagree with the file (max mask difference "
                                 f"{error:.2e} > {tolerance:g})")
    return model
