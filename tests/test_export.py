"""ONNX export: the file matches the contract, validates itself, and a model that disagrees leaves no file."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from demixui.errors import ModelFileError  # noqa: E402
from demixui.model.export import export_model, validate_onnx, validation_magnitudes  # noqa: E402
from demixui.model.network import CONFIGS, ModelConfig, Separator  # noqa: E402

TINY = CONFIGS["tiny"]


def _metadata(path) -> dict:
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return json.loads(props["demixui"])


def test_tiny_model_file_follows_the_contract(tiny_model_path):
    meta = _metadata(tiny_model_path)
    assert meta["format_version"] == 1
    assert meta["stems"] == ["vocals", "drums", "bass", "other"]
    assert (meta["sample_rate"], meta["nb_channels"], meta["n_fft"], meta["hop"]) == (44100, 2, 2048, 512)
    assert meta["latency_samples"] == 1536
    assert meta["state_names"] == ["state_in_0", "state_in_1", "state_in_2"]
    assert meta["architecture"]["width"] == TINY.width
    for key in ("training_data", "model_version", "demixui_version"):
        assert isinstance(meta[key], str)

    session = ort.InferenceSession(tiny_model_path, providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    assert list(inputs) == ["mag", "state_in_0", "state_in_1", "state_in_2"]
    assert list(outputs) == ["masks", "state_out_0", "state_out_1", "state_out_2"]
    assert inputs["mag"].shape[0] == 1 and isinstance(inputs["mag"].shape[1], str)
    assert inputs["mag"].shape[2:] == [2, 1025]
    assert outputs["masks"].shape[2:] == [4, 2, 1025]
    for i in range(3):
        shape = inputs[f"state_in_{i}"].shape
        assert all(isinstance(d, int) for d in shape), shape  # static state shapes
        assert outputs[f"state_out_{i}"].shape == shape

    # many frames per call, from zero state: masks in [0, 1] summing to one
    feeds = {"mag": np.random.default_rng(0).random((1, 37, 2, 1025), dtype=np.float32) * 10}
    feeds.update({name: np.zeros(inp.shape, np.float32) for name, inp in inputs.items() if name != "mag"})
    masks = session.run(["masks"], feeds)[0]
    assert masks.shape == (1, 37, 4, 2, 1025)
    np.testing.assert_allclose(masks.sum(axis=2), 1.0, atol=1e-5)


def test_export_validates_hop_by_hop_against_torch(tmp_path):
    torch.manual_seed(3)
    model = Separator(ModelConfig(n_fft=512, hop=128, width=20, lstm_layers=2, lstm_hidden=12))
    path = tmp_path / "low.onnx"
    meta = export_model(model, path, training_data="none", model_version="t")
    assert meta["latency_samples"] == 384 and meta["validation_max_abs_error"] <= 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["low.onnx"]  # no temporary left beside it
    # validate_onnx really compares: another network's masks are far off
    torch.manual_seed(4)
    other = Separator(model.config)
    with torch.no_grad():
        other.head.bias.normal_(0.0, 1.0)
    mag = validation_magnitudes(model, seconds=1.0)
    assert validate_onnx(other, path, mag) > 1e-2


class _OfflineDiffers(Separator):
    """A real fault: its whole-sequence pass (what export compares with) disagrees with its streaming pass
    (what export writes), as a network that normalised over time would."""

    def forward(self, mag):
        masks = super().forward(mag)
        # favours the first stem by the clip's mean level: depends on future frames
        drift = mag.mean(dim=1, keepdim=True).unsqueeze(2) * torch.tensor([1.0, 0, 0, 0]).view(1, 1, 4, 1, 1)
        return torch.softmax(torch.log(masks + 1e-6) + drift, dim=2)


def test_disagreeing_model_leaves_no_file(tmp_path):
    torch.manual_seed(5)
    path = tmp_path / "bad.onnx"
    with pytest.raises(ModelFileError, match="disagrees with torch"):
        export_model(_OfflineDiffers(TINY), path, training_data="none", model_version="t")
    assert list(tmp_path.iterdir()) == []


def test_mask_temperature_divides_the_logits(tmp_path):
    """softmax(logits / T): log-masks centred over the stems shrink by exactly T; the model is untouched."""
    torch.manual_seed(6)
    model = Separator(TINY)
    with torch.no_grad():
        model.head.bias.normal_(0.0, 1.0)
        model.local[2].weight.normal_(0.0, 0.3)  # the local path's term must scale too
    before = {k: v.clone() for k, v in model.state_dict().items()}
    feeds = {"mag": validation_magnitudes(model, seconds=0.5)}
    logs = []
    for temperature in (1.0, 2.5):
        path = tmp_path / f"t{temperature}.onnx"
        meta = export_model(model, path, training_data="none", model_version="t",
                            mask_temperature=temperature)
        assert meta["mask_temperature"] == temperature == _metadata(path)["mask_temperature"]
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        states = {i.name: np.zeros(i.shape, np.float32) for i in session.get_inputs() if i.name != "mag"}
        log = np.log(session.run(["masks"], {**feeds, **states})[0].astype(np.float64))
        logs.append(log - log.mean(axis=2, keepdims=True))
    np.testing.assert_allclose(logs[1], logs[0] / 2.5, atol=1e-4)
    assert np.abs(logs[0]).max() > 0.1  # the masks are not flat, so the check means something
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
