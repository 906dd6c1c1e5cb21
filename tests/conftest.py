"""Shared test fixtures and the rule that a missing system tool is a skip locally but a failure in CI."""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_ALL = os.environ.get("DEMIXUI_REQUIRE_ALL") == "1"


def missing_tool(reason: str) -> None:
    """Skip the test because a system tool is missing, or fail it when DEMIXUI_REQUIRE_ALL=1 (CI)."""
    if REQUIRE_ALL:
        pytest.fail(f"required system tool missing (DEMIXUI_REQUIRE_ALL=1): {reason}")
    pytest.skip(reason)


def require_executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing_tool(f"{name} is not installed")
    return path


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> str:
    """A tiny untrained network of the shipped architecture (n_fft 2048, hop 512), exported by the real export
    path (so validated against torch). Random weights with a fixed seed: its masks are arbitrary but valid."""
    torch = pytest.importorskip("torch")
    from demixui.model.export import export_model
    from demixui.model.network import CONFIGS, Separator

    torch.manual_seed(1234)
    path = tmp_path_factory.mktemp("tiny_model") / "tiny.onnx"
    export_model(Separator(CONFIGS["tiny"]), path, training_data="none (random weights)",
                 model_version="tiny-test")
    return str(path)


@pytest.fixture(scope="session")
def tiny_live_model_path(tmp_path_factory) -> str:
    """The tiny network on the live model's STFT (n_fft 512, hop 128, `lowlatency`), exported the same way."""
    torch = pytest.importorskip("torch")
    import dataclasses

    from demixui.model.export import export_model
    from demixui.model.network import CONFIGS, Separator

    torch.manual_seed(4321)
    live = CONFIGS["lowlatency"]
    config = dataclasses.replace(CONFIGS["tiny"], n_fft=live.n_fft, hop=live.hop)
    path = tmp_path_factory.mktemp("tiny_live_model") / "tiny-live.onnx"
    export_model(Separator(config), path, training_data="none (random weights)",
                 model_version="tiny-live-test")
    return str(path)


@pytest.fixture(scope="session")
def nan_model_path(tiny_model_path, tmp_path_factory) -> str:
    """The tiny model with every float weight set to NaN (what a diverged training run exports): a valid model
    file whose output is NaN. Built with the `onnx` package from the real exported file."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import numpy_helper

    graph = onnx.load(tiny_model_path)
    for index, tensor in enumerate(graph.graph.initializer):
        values = numpy_helper.to_array(tensor)
        if values.dtype.kind == "f" and values.size > 1:  # weights, not scalars such as epsilons
            graph.graph.initializer[index].CopyFrom(
                numpy_helper.from_array(np.full_like(values, np.nan), tensor.name))
    path = tmp_path_factory.mktemp("nan_model") / "nan.onnx"
    onnx.save(graph, str(path))
    return str(path)
