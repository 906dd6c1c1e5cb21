"""int8 model files: `demixui export --int8` (of a model file or a checkpoint) writes a file the app loads,
whose metadata says int8 and whose output stays close to the float32 file's; `train --init` of an int8 file
recovers the dequantized weights."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from demixui.cli import main  # noqa: E402
from demixui.errors import ModelFileError  # noqa: E402
from demixui.model.network import CONFIGS  # noqa: E402
from demixui.model.onnx_weights import separator_from_onnx  # noqa: E402
from demixui.model.quantize import INT8_TOLERANCE, compare_files, quantize_model_file  # noqa: E402
from demixui.model.runtime import load_model  # noqa: E402

# Mean abs mask difference int8 vs float32 on the validation signal: the live model's is 2.7e-3, the tiny
# random live network's 0.010 (its untrained layers see wider activations); a wrong graph moves them by 0.1.
MEAN_TOLERANCE = 0.02


def _metadata(path) -> dict:
    return json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["demixui"])


def _ops(path) -> Counter:
    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


@pytest.fixture(scope="module")
def int8_live(tiny_live_model_path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("int8") / "tiny-live-int8.onnx"
    assert main(["export", tiny_live_model_path, "-o", str(out), "--int8"]) == 0
    return out


def test_export_int8_of_a_model_file_is_a_model_the_app_runs(tiny_live_model_path, int8_live, capsys):
    meta = _metadata(int8_live)
    source = _metadata(tiny_live_model_path)
    assert source["weights"] == "float32"
    assert meta["weights"] == "int8" and meta["model_version"] == "tiny-live-test-int8"
    quant = meta["quantization"]
    assert quant["op_types"] == ["MatMul", "LSTM"] and quant["source_version"] == "tiny-live-test"
    assert 0 < quant["max_abs_error"] <= INT8_TOLERANCE
    for key in ("stems", "n_fft", "hop", "latency_samples", "state_names", "training_data", "architecture"):
        assert meta[key] == source[key], key
    ops = _ops(int8_live)
    assert ops["MatMulInteger"] == 3 and ops["DynamicQuantizeLSTM"] == CONFIGS["tiny"].lstm_layers
    assert ops["MatMul"] == 0 and ops["LSTM"] == 0
    assert sorted(p.name for p in int8_live.parent.iterdir()) == [int8_live.name]  # no temporary left
    assert int8_live.stat().st_size < Path(tiny_live_model_path).stat().st_size

    worst, mean = compare_files(Path(tiny_live_model_path), int8_live, 512, 128)
    assert worst <= INT8_TOLERANCE and mean <= MEAN_TOLERANCE, (worst, mean)

    # the app's runtime loads it and separates, stems close to the float32 file's and summing to the mix
    model, reference = load_model(int8_live), load_model(tiny_live_model_path)
    assert model.info.weights == "int8" and reference.info.weights == "float32"
    mix = (0.1 * np.random.default_rng(0).standard_normal((44100, 2))).astype(np.float32)
    stems, expected = model.new_stream().process(mix), reference.new_stream().process(mix)
    assert stems.shape == expected.shape
    np.testing.assert_allclose(stems.sum(axis=1), expected.sum(axis=1), atol=1e-4)  # masks sum to one
    assert np.max(np.abs(stems - expected)) <= INT8_TOLERANCE * np.max(np.abs(mix)) * 2


def test_export_int8_of_a_checkpoint(tmp_path, capsys):
    from demixui.model.checkpoint import save_checkpoint
    from demixui.model.network import Separator

    torch.manual_seed(5)
    model = Separator(CONFIGS["tiny"])
    save_checkpoint(tmp_path / "w.pt", {"config": CONFIGS["tiny"].to_dict(), "model": model.state_dict(),
                                        "training_data": "noise", "counters": {"step": 3}})
    out = tmp_path / "out" / "m.onnx"
    out.parent.mkdir()
    assert main(["export", str(tmp_path / "w.pt"), "-o", str(out), "--int8", "--model-version", "9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("exported float32") and "int8 vs float32 mask difference" in lines[1], lines
    meta = _metadata(out)
    assert (meta["weights"], meta["model_version"], meta["training_data"]) == ("int8", "9-int8", "noise")
    assert meta["quantization"]["source"] == str(tmp_path / "w.pt")
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.onnx"]  # the float32 step is gone
    assert load_model(out).info.weights == "int8"


def test_export_int8_errors_are_one_line(tiny_live_model_path, int8_live, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "x.onnx"
    assert main(["export", tiny_live_model_path, "-o", str(out)]) == 1  # a model file needs --int8
    assert main(["export", str(int8_live), "-o", str(out), "--int8"]) == 1  # int8 already
    assert main(["export", tiny_live_model_path, "-o", str(int8_live), "--int8"]) == 1  # exists
    assert main(["export", tiny_live_model_path, "-o", tiny_live_model_path, "--int8", "--overwrite"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4, err
    assert "add --int8" in err[0] and "int8 already" in err[1] and "--overwrite" in err[2], err
    assert "its own source" in err[3], err
    assert not out.exists()


def _check_dequantized(float_path, int8_path, levels: int = 254):
    """The weights recovered from the int8 file are within half a quantization step of the float32 file's
    (`levels`: steps across [-max, max], 254 with 8-bit weights, 126 with 7-bit ones)."""
    exact = separator_from_onnx(float_path).state_dict()
    recovered = separator_from_onnx(int8_path).state_dict()
    quantized = 0
    for key, value in exact.items():
        error = float((recovered[key] - value).abs().max())
        module, name = key.split(".")[0], key.split(".")[-1]
        if module in ("encoder", "decoder", "head", "lstm") and name.startswith("weight"):
            step = 2 * float(value.abs().max()) / levels  # the per-tensor step bounds a per-channel one
            assert 0 < error <= 0.51 * step, (key, error, step)
            quantized += 1
        else:
            assert error == 0, key  # biases, norms, convolutions stay float32
    assert quantized == 3 + 2 * CONFIGS["tiny"].lstm_layers


def test_init_from_an_int8_file_dequantizes_its_weights(tiny_live_model_path, int8_live):
    from demixui.model.training import initial_model

    _check_dequantized(tiny_live_model_path, int8_live, levels=126)  # the default: 7-bit per-channel weights
    model, note = initial_model(int8_live)  # what `demixui train --init` starts from
    assert model.config == separator_from_onnx(tiny_live_model_path).config
    assert "(model tiny-live-test-int8, tiny-live-int8.onnx)" in note


def test_per_tensor_int8_dequantizes_too(tiny_live_model_path, tmp_path):
    # 8-bit weights with one scale per tensor (live model 0.1's setting): one scale and zero point per matrix
    out = tmp_path / "pt.onnx"
    meta = quantize_model_file(tiny_live_model_path, out, per_channel=False, reduce_range=False)
    assert meta["quantization"]["per_channel"] is False
    _check_dequantized(tiny_live_model_path, out, levels=254)


def test_a_file_that_strays_is_not_written(tiny_live_model_path, tmp_path, monkeypatch):
    import demixui.model.quantize as quantize

    monkeypatch.setattr(quantize, "INT8_TOLERANCE", 1e-9)
    with pytest.raises(ModelFileError, match="not written"):
        quantize.quantize_model_file(tiny_live_model_path, tmp_path / "q.onnx")
    assert list(tmp_path.iterdir()) == []
