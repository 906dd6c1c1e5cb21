"""Packaging: asset lookup, the desktop entry, AppStream data, icons, and (slow) a real PyInstaller bundle."""

from __future__ import annotations

import configparser
import os
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from demixui import __version__
from demixui.assets import DEFAULT_MODEL, DEMO_TRACK, asset_path, assets_dir
from tests.conftest import missing_tool, require_executable

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "io.github.demixui.DemixUI"
DESKTOP = ROOT / "packaging" / "linux" / f"{APP_ID}.desktop"
METAINFO = ROOT / "packaging" / "linux" / f"{APP_ID}.metainfo.xml"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def test_assets_resolve_from_the_source_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMIXUI_ASSETS", raising=False)
    assert assets_dir() == ROOT / "assets"
    assert asset_path("icons/demixui.svg").is_file()
    assert asset_path(DEFAULT_MODEL) == ROOT / "assets" / "models" / "default.onnx"


def test_assets_resolve_inside_a_bundle_and_from_the_override(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    monkeypatch.delenv("DEMIXUI_ASSETS", raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert asset_path(DEMO_TRACK) == tmp_path / "assets" / "audio" / "demo.ogg"
    monkeypatch.setenv("DEMIXUI_ASSETS", str(tmp_path / "elsewhere"))
    assert asset_path(DEMO_TRACK) == tmp_path / "elsewhere" / "audio" / "demo.ogg"
    for bad in ("../pyproject.toml", "/etc/passwd"):
        with pytest.raises(ValueError, match="relative to the assets folder"):
            asset_path(bad)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def test_icon_set_has_every_size_and_the_svg_source() -> None:
    icons = ROOT / "assets" / "icons"
    root = ET.parse(icons / "demixui.svg").getroot()
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 256 256"
    for size in ICON_SIZES:
        assert _png_size(icons / f"demixui-{size}.png") == (size, size)


def test_desktop_entry_names_the_program_and_icon() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(DESKTOP, encoding="utf-8")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application" and section["Name"] == "DemixUI"
    assert section["Exec"].split()[0] == "demixui" and section["Icon"] == "demixui"
    assert "Audio" in section["Categories"].split(";")
    validator = require_executable("desktop-file-validate")
    result = subprocess.run([validator, str(DESKTOP)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_appstream_metadata_is_valid_and_matches_the_desktop_entry() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == DESKTOP.name
    assert root.find("releases/release").get("version") == __version__
    appstreamcli = require_executable("appstreamcli")
    result = subprocess.run([appstreamcli, "validate", "--no-net", str(METAINFO)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the bundle itself -------------------------------------------------------------------------------------


def _clean_env(**extra: str) -> dict[str, str]:
    """An environment in which nothing of our virtual environment or source tree can leak into the bundle."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV",
                                                             "DEMIXUI_ASSETS")}
    env["PATH"] = "/usr/bin:/bin"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the app with the real recipe (packaging/demixui.spec) into a temporary folder."""
    work = tmp_path_factory.mktemp("pyinstaller")
    started = time.perf_counter()
    spec = ROOT / "packaging" / "demixui.spec"
    result = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(work / "dist"), "--workpath", str(work / "build"), str(spec)],
        capture_output=True, text=True, cwd=work,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    folder = work / "dist" / "demixui"
    # Each file once: PyInstaller also links some libraries in by symlink, which `is_file` would count again.
    size_mb = sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6
    print(f"\nbundle built in {time.perf_counter() - started:.0f} s, {size_mb:.0f} MB at {folder}")
    return folder


def _run(bundle: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(bundle / "demixui"), *args], capture_output=True, text=True, cwd=cwd,
                          env=_clean_env(QT_QPA_PLATFORM="offscreen"), timeout=300)


@pytest.mark.slow
def test_bundle_runs_without_python_and_leaves_training_packages_out(bundle: Path, tmp_path: Path) -> None:
    result = _run(bundle, "--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"demixui {__version__}", result
    internal = bundle / "_internal"
    assert (internal / "assets" / "icons" / "demixui.svg").is_file()
    assert (internal / "linux" / DESKTOP.name).is_file() and (bundle / "install.sh").is_file()
    for excluded in ("torch", "scipy", "pedalboard", "pytest", "onnx"):
        assert not (internal / excluded).exists(), f"{excluded} should not be in the app bundle"
    assert (internal / "onnxruntime").is_dir()
    # Errors from the frozen app are one line and exit 1, as from source.
    failed = _run(bundle, "separate", "missing.wav", "-o", "out", cwd=tmp_path)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed
    assert failed.stderr.strip().splitlines()[-1].startswith("demixui: error: "), failed.stderr


@pytest.mark.slow
def test_bundle_separates_with_an_onnx_model(bundle: Path, tmp_path: Path, tiny_model_path: str) -> None:
    mix = np.random.default_rng(0).uniform(-0.3, 0.3, (22050, 2)).astype(np.float32)
    sf.write(tmp_path / "mix.wav", mix, 44100, subtype="FLOAT")
    result = _run(bundle, "separate", "mix.wav", "-o", "out", "--model", tiny_model_path, "--no-progress",
                  "--threads", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    stems = [sf.read(tmp_path / "out" / "mix" / f"{stem}.wav", dtype="float32")[0]
             for stem in ("vocals", "drums", "bass", "other")]
    assert all(stem.shape == mix.shape for stem in stems)
    np.testing.assert_allclose(np.sum(stems, axis=0), mix, atol=1e-4)  # masks sum to one
    # Several inputs go to worker processes, which a frozen app starts from its own executable.
    sf.write(tmp_path / "two.wav", mix[::-1], 44100, subtype="FLOAT")
    batch = _run(bundle, "separate", "mix.wav", "two.wav", "-o", "batch", "--model", tiny_model_path,
                 "--no-progress", "--jobs", "2", cwd=tmp_path)
    assert batch.returncode == 0 and "Traceback" not in batch.stderr, batch.stderr
    for stem in ("vocals", "drums", "bass", "other"):
        np.testing.assert_array_equal(sf.read(tmp_path / "batch" / "mix" / f"{stem}.wav", dtype="float32")[0],
                                      sf.read(tmp_path / "out" / "mix" / f"{stem}.wav", dtype="float32")[0])
        assert sf.info(tmp_path / "batch" / "two" / f"{stem}.wav").frames == mix.shape[0]


@pytest.mark.slow
def test_bundle_plays_and_opens_its_window(bundle: Path, tmp_path: Path, tiny_model_path: str) -> None:
    """The engine (no sound card: the clock-paced null backend) and the Qt window, with their plugins."""
    sf.write(tmp_path / "mix.wav", np.random.default_rng(1).uniform(-0.3, 0.3, (44100, 2)), 44100)
    played = _run(bundle, "play", "mix.wav", "--model", tiny_model_path, "--backend", "null-fast",
                  "--seconds", "0.5", "--quiet", "--record", "played.wav", cwd=tmp_path)
    assert played.returncode == 0, played.stderr
    assert sf.info(tmp_path / "played.wav").frames > 0
    # PortAudio is in the bundle: asking for a device that does not exist is a DeviceError, not "not found".
    device = _run(bundle, "play", "mix.wav", "--model", tiny_model_path, "--device", "no-such-device-zz",
                  "--quiet", cwd=tmp_path)
    assert device.returncode == 1 and "no output device 'no-such-device-zz'" in device.stderr, device.stderr
    shown = _run(bundle, "gui", "mix.wav", "--model", tiny_model_path, "--backend", "null", "--settings",
                 "settings.ini", "--screenshot", "window.png", "--screenshot-after", "1", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert _png_size(tmp_path / "window.png")[0] >= 640


@pytest.mark.slow
def test_bundle_separates_its_own_demo_track_with_its_default_model(bundle: Path, tmp_path: Path) -> None:
    for relative in (DEFAULT_MODEL, DEMO_TRACK):
        if not (ROOT / "assets" / relative).is_file():
            missing_tool(f"assets/{relative} is not in the repository yet; the bundle must ship it")
    demo = bundle / "_internal" / "assets" / DEMO_TRACK
    assert demo.is_file() and (bundle / "_internal" / "assets" / DEFAULT_MODEL).is_file()
    result = _run(bundle, "separate", str(demo), "-o", "out", "--no-progress", "--threads", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    info = sf.info(demo)
    for stem in ("vocals", "drums", "bass", "other"):
        stem_info = sf.info(tmp_path / "out" / "demo" / f"{stem}.wav")
        assert (stem_info.frames, stem_info.samplerate) == (info.frames, info.samplerate)


@pytest.mark.slow
def test_install_script_puts_the_app_in_the_menu(bundle: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    result = subprocess.run(["sh", str(bundle / "install.sh")], capture_output=True, text=True,
                            env=_clean_env(PREFIX=str(prefix), HOME=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    program = prefix / "lib" / "demixui" / "demixui"
    entry = (prefix / "share" / "applications" / DESKTOP.name).read_text()
    assert f"Exec={program} %F" in entry
    for size in ICON_SIZES:
        assert (prefix / "share" / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "demixui.png").is_file()
    assert (prefix / "share" / "metainfo" / METAINFO.name).is_file()
    version = subprocess.run([str(prefix / "bin" / "demixui"), "--version"], capture_output=True, text=True,
                             env=_clean_env())
    assert version.stdout.strip() == f"demixui {__version__}", version
