"""Dynamic int8 quantization of a demixui ONNX model file (weights int8, activations quantized per call).

    python -m demixui.model.quantize assets/models/live.onnx -o live-int8.onnx
    demixui export runs/live1/avg63-499.pt -o live-int8.onnx --int8   (fp32 export, then this)

`quantize_model_file` runs `onnxruntime.quantization.quantize_dynamic` on a float32 demixui file, keeps its
"demixui" metadata (adding "weights": "int8" and how it was quantized), runs both files in onnxruntime on the
export's validation signal, hop by hop and in blocks, and only then renames the result into place; a file
whose masks stray more than INT8_TOLERANCE from the float32 file's is deleted and a ModelFileError raised.
torch is not needed: this runs on onnx and onnxruntime alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np

from demixui.errors import DemixError, ModelFileError

METADATA_KEY = "demixui"
SAMPLE_RATE = 44100
VALIDATION_SECONDS = 10.0
# Which weights and how, measured on the live model (0.1, 512/128) on a 2-core AVX2 EPYC without VNNI (where
# onnxruntime's u8s8 kernels can saturate): mask difference from the float32 file over 1500 hops (4.4 s) of
# the demo track, and CPU time of one-hop session.run against float32, 3 interleaved rounds at load 4.3-4.9:
#   MatMul + LSTM, per-tensor, 8-bit   mean 0.0027, max 0.050   p50 0.65x  (0.1's choice)
#   + reduce_range (7-bit weights)     mean 0.0041, max 0.051   p50 0.67x
#   per-channel                        mean 0.0085, max 0.37    (likely the u8s8 saturation)
#   per-channel + reduce_range         mean 0.0032, max 0.044   p50 0.71x  (chosen since 0.2, below)
#   + Conv (ConvInteger)               mean 0.0040, max 0.061   p50 0.83x  (slower than without)
#   MatMul only                        mean 0.0027, max 0.050   p50 0.90x  (the LSTMs are the gain)
# The live model 0.2 (more trained, larger weight ranges), on the export's validation signal below: per-tensor
# mean 0.0066, max 0.27 (over INT8_TOLERANCE); + reduce_range 0.0070, 0.21; MatMul only 0.0040, 0.17;
# per-channel + reduce_range 0.0035, 0.12. One scale per output channel fits the wider rows, and 7-bit
# weights keep the u8s8 kernels from saturating: the one setting close on both models.
OP_TYPES = ("MatMul", "LSTM")
PER_CHANNEL = True
REDUCE_RANGE = True
# Max abs mask difference int8 vs float32 file on the validation signal: activations are quantized to 8 bits
# per call, so masks move by about 3e-3 on average and up to 0.07 in a few bins (live model 0.067; the tests'
# tiny random network 0.11, mean 0.010); the saturating per-channel variant above strays 0.30 on the live
# model, a wrong graph (a lost scale, a transposed weight) more.
INT8_TOLERANCE = 0.2


def validation_magnitudes(n_fft: int, hop: int, seconds: float = VALIDATION_SECONDS,
                          seed: int = 0) -> np.ndarray:
    """Magnitudes (1, nb_frames, 2, nb_bins) of a fixed test signal (tones, a bass line, noise bursts) through
    the model's causal STFT (left padding n_fft - hop, periodic Hann, unnormalised), float32."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    audio = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.3 * np.sin(2 * np.pi * 55 * t * (1 + 0.1 * np.sin(t)))
    bursts = (np.sin(2 * np.pi * 2 * t) > 0.7) * rng.standard_normal(n) * 0.3
    stereo = np.stack([audio + bursts, 0.7 * audio - bursts], axis=0).astype(np.float32)  # (2, n)
    padded = np.pad(stereo, ((0, 0), (n_fft - hop, 0)))
    nb_frames = (padded.shape[1] - n_fft) // hop + 1
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    index = np.arange(nb_frames)[:, None] * hop + np.arange(n_fft)[None, :]  # (nb_frames, n_fft)
    frames = padded[:, index] * window  # (2, nb_frames, n_fft)
    mag = np.abs(np.fft.rfft(frames, axis=-1))  # (2, nb_frames, nb_bins)
    return mag.transpose(1, 0, 2)[None].astype(np.float32)


def read_metadata(proto) -> dict:
    props = {entry.key: entry.value for entry in proto.metadata_props}
    if METADATA_KEY not in props:
        raise ModelFileError(f"no '{METADATA_KEY}' metadata (not a demixui model file)")
    return json.loads(props[METADATA_KEY])


def _run_masks(path: Path, mag: np.ndarray, step: int) -> np.ndarray:
    """The file's masks for `mag`, `step` frames per call with the state carried (onnxruntime, one thread)."""
    from demixui.model.model_file import open_session

    session = open_session(path)
    inputs = [i for i in session.get_inputs() if i.name != "mag"]
    outputs = [name.name.replace("state_in_", "state_out_") for name in inputs]
    states = {i.name: np.zeros(i.shape, np.float32) for i in inputs}
    out = []
    for start in range(0, mag.shape[1], step):
        masks, *new = session.run(["masks", *outputs], {"mag": mag[:, start:start + step], **states})
        states = dict(zip(states, new, strict=True))
        out.append(masks)
    return np.concatenate(out, axis=1)


def compare_files(reference: Path, candidate: Path, n_fft: int, hop: int,
                  block: int = 64) -> tuple[float, float]:
    """(max, mean) abs difference of `candidate`'s masks from `reference`'s on the validation signal, run
    hop by hop and in blocks of `block` frames."""
    mag = validation_magnitudes(n_fft, hop)
    worst, means = 0.0, []
    for step in (1, block):
        diff = np.abs(_run_masks(candidate, mag, step) - _run_masks(reference, mag, step))
        worst = max(worst, float(diff.max()))
        means.append(float(diff.mean()))
    return worst, float(np.mean(means))


def quantize_model_file(
    source: str | Path, output: str | Path, model_version: str | None = None,
    op_types: tuple[str, ...] = OP_TYPES, per_channel: bool = PER_CHANNEL, reduce_range: bool = REDUCE_RANGE,
    source_label: str | None = None,
) -> dict:
    """Write the int8 version of the float32 demixui file `source` to `output`; returns its metadata.

    `model_version`: stored in the file (default: the source's version + "-int8"); `source_label`: what the
    metadata names as the source (default: its file name; `export --int8` names the checkpoint). The metadata
    gains "weights": "int8" and a "quantization" entry (settings, onnxruntime version, source and its version,
    max/mean mask difference from the source). Raises ModelFileError, leaving nothing at `output` or beside
    it, if the source is not a float32 demixui file or the result strays more than INT8_TOLERANCE.
    """
    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from demixui.model.onnx_weights import load_onnx

    source, output = Path(source), Path(output)
    proto = load_onnx(source)
    try:
        meta = read_metadata(proto)
    except ModelFileError as error:
        raise ModelFileError(f"{source}: {error}") from None
    if meta.get("weights", "float32") != "float32":
        raise ModelFileError(f"{source}: weights are {meta['weights']} already; quantize its float32 source")
    n_fft, hop = int(meta["n_fft"]), int(meta["hop"])
    tmp = output.with_name(f".{output.name}.{os.getpid()}.part")
    try:
        logging.disable(logging.WARNING)  # its advice to pre-process (shape inference) would reach the user
        try:
            quantize_dynamic(proto, tmp, op_types_to_quantize=list(op_types), per_channel=per_channel,
                             reduce_range=reduce_range, weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
        worst, mean = compare_files(source, tmp, n_fft, hop)
        if not worst <= INT8_TOLERANCE:
            raise ModelFileError(f"{output}: int8 masks stray {worst:.2e} from the float32 file's "
                                 f"(> {INT8_TOLERANCE:g}); not written")
        version = model_version if model_version is not None else f"{meta.get('model_version', '')}-int8"
        meta = {**meta, "model_version": version, "weights": "int8", "quantization": {
            "method": "onnxruntime.quantization.quantize_dynamic", "onnxruntime": onnxruntime.__version__,
            "op_types": list(op_types), "per_channel": per_channel, "reduce_range": reduce_range,
            "weight_type": "int8", "source": source_label or source.name,
            "source_version": meta.get("model_version", ""),
            "max_abs_error": worst, "mean_abs_error": mean,
        }}
        quantized = onnx.load(str(tmp))
        for entry in quantized.metadata_props:
            if entry.key == METADATA_KEY:
                entry.value = json.dumps(meta)
        onnx.checker.check_model(quantized)
        onnx.save(quantized, str(tmp))
        from demixui.model.model_file import open_session, read_model_info

        read_model_info(open_session(tmp), tmp)  # the app's own check of the contract
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demixui.model.quantize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", metavar="IN.onnx", help="a float32 demixui model file")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="int8 model file to write")
    parser.add_argument("--model-version", default=None,
                        help="version stored in the file (default: IN's + '-int8')")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    args = parser.parse_args(argv)
    try:
        write_quantized(args.source, args.output, args.model_version, args.overwrite)
    except DemixError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def write_quantized(source: str | Path, output: str | Path, model_version: str | None,
                    overwrite: bool, source_label: str | None = None) -> dict:
    """`quantize_model_file` behind the CLI's checks on `output`, printing one line about the result."""
    source, output = Path(source), Path(output)
    if output.exists() and not overwrite:
        raise DemixError(f"{output} exists; add --overwrite to replace it")
    if not output.parent.is_dir():
        raise DemixError(f"{output.parent}: no such folder")
    if output.resolve() == source.resolve():
        raise DemixError(f"{output}: the output would replace its own source; write it elsewhere first")
    meta = quantize_model_file(source, output, model_version, source_label=source_label)
    quant = meta["quantization"]
    print(f"wrote {output} (int8 weights, {output.stat().st_size / 1e6:.1f} MB, version "
          f"{meta['model_version']}) from {source_label or source} ({source.stat().st_size / 1e6:.1f} MB); "
          f"onnxruntime int8 vs float32 mask difference max {quant['max_abs_error']:.1e}, "
          f"mean {quant['mean_abs_error']:.1e}")
    return meta


if __name__ == "__main__":
    raise SystemExit(main())
