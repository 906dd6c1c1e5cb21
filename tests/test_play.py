"""`demixui play` through `demixui.cli.main` on the null backends: output, statistics, options, bad input."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import soundfile as sf

from demixui.cli import main

SR = 44100
LATENCY = 1536


@pytest.fixture(scope="module")
def track(tmp_path_factory):
    t = np.arange(int(1.5 * SR)) / SR
    rng = np.random.default_rng(3)
    mix = (0.3 * np.sin(2 * np.pi * 220 * t)[:, None] * [1.0, 0.5]
           + 0.05 * rng.standard_normal((len(t), 2))).astype(np.float32)
    path = tmp_path_factory.mktemp("play") / "track.wav"
    sf.write(path, mix, SR, subtype="FLOAT")
    return path, mix


def test_play_records_the_karaoke_mix_and_writes_stats(tiny_model_path, track, tmp_path, capsys):
    from demixui.model.offline import separate_array
    from demixui.model.runtime import load_model

    path, mix = track
    record, stats = tmp_path / "karaoke.wav", tmp_path / "stats.json"
    code = main(["play", str(path), "--backend", "null-fast", "--model", tiny_model_path, "--karaoke",
                 "--gain", "drums=-3", "--blocksize", "128", "--record", str(record),
                 "--stats-json", str(stats)])
    assert code == 0
    err = capsys.readouterr().err
    assert "latency" in err and "underruns" in err and f"recorded {record}" in err
    snap = json.loads(stats.read_text())
    assert snap["state"] == "ended" and snap["karaoke"] is True and snap["karaoke_reduction_db"] == "inf"
    assert snap["gains_db"][1] == -3.0 and snap["blocksize"] == 128 and snap["app_underruns"] == 0
    assert snap["played_seconds"] == pytest.approx(len(mix) / SR)
    assert snap["total_latency_ms"] == pytest.approx(
        snap["model_latency_ms"] + snap["buffer_latency_ms"] + snap["device_latency_ms"])
    recorded, _ = sf.read(record, dtype="float32")
    stems = separate_array(load_model(tiny_model_path), mix)
    expected = stems[:, 1] * 10 ** (-3 / 20) + stems[:, 2] + stems[:, 3]
    np.testing.assert_allclose(recorded[LATENCY:LATENCY + len(mix)], expected, atol=2e-5)


def test_play_seconds_stops_early_and_live_null_input_plays_the_file(tiny_model_path, track, tmp_path):
    path, _ = track
    stats = tmp_path / "stats.json"
    assert main(["play", str(path), "--backend", "null", "--model", tiny_model_path, "--seconds", "0.3",
                 "--quiet", "--stats-json", str(stats)]) == 0
    snap = json.loads(stats.read_text())
    assert 0.3 <= snap["played_seconds"] < 1.0 and snap["state"] == "paused"
    assert main(["play", str(path), "--live", "--backend", "null-fast", "--model", tiny_model_path,
                 "--seconds", "1.0", "--quiet", "--stats-json", str(stats)]) == 0
    snap = json.loads(stats.read_text())
    assert snap["duration_s"] == "inf" and snap["source_name"] == "live input"
    assert snap["buffer_latency_ms"] > 0 and snap["app_underruns"] == 0


def test_ctrl_c_stops_cleanly_and_still_writes_the_recording(tiny_model_path, track, tmp_path, monkeypatch):
    import demixui.commands.play as play

    path, _ = track
    record, stats = tmp_path / "rec.wav", tmp_path / "stats.json"
    real_sleep, calls = play.time.sleep, []

    def interrupting_sleep(seconds):  # the user presses Ctrl+C while the status line is being polled
        calls.append(seconds)
        if len(calls) == 20:
            raise KeyboardInterrupt
        real_sleep(seconds)

    monkeypatch.setattr(play.time, "sleep", interrupting_sleep)
    before = set(threading.enumerate())
    assert main(["play", str(path), "--backend", "null", "--model", tiny_model_path, "--loop", "--quiet",
                 "--record", str(record), "--stats-json", str(stats)]) == 0
    assert set(threading.enumerate()) <= before
    assert sf.info(record).frames > 0 and json.loads(stats.read_text())["loop"] is True


@pytest.mark.parametrize("argv,message", [
    (["missing.wav"], "no such file"),
    (["notes.txt"], "unsupported file type"),
    (["track.wav", "--blocksize", "1000"], "not a power of two"),
    (["track.wav", "--blocksize", "8192"], "not a power of two"),
    (["track.wav", "--gain", "piano=3"], "STEM=DB"),
    (["track.wav", "--gain", "vocals=loud"], "not a number"),
    (["track.wav", "--gain", "vocals=20"], "outside"),
    (["track.wav", "--device", "no such card"], "no output device"),
    (["track.wav", "--model", "bad.onnx"], "bad.onnx"),
    ([], "give an INPUT"),
])
def test_bad_input_is_one_line_and_exit_1(tiny_model_path, track, tmp_path, capsys, monkeypatch, argv,
                                          message):
    path, _ = track
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "bad.onnx").write_bytes(b"junk")
    (tmp_path / "track.wav").write_bytes(path.read_bytes())
    args = ["play", *argv, "--backend", "null", "--quiet"]
    if "--model" not in argv:
        args += ["--model", tiny_model_path]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("demixui: error:") and "\n" not in err and message in err, err


def test_status_line_reads_well():
    from demixui.commands.play import status_line
    from demixui.engine.snapshot import EngineSnapshot

    snap = EngineSnapshot(
        state="playing", source_name="x", position_s=75.25, duration_s=math.inf, loop=False,
        model_latency_ms=34.8, buffer_latency_ms=12.0, device_latency_ms=5.8, total_latency_ms=52.6,
        inference_p50_ms=1.0, inference_p99_ms=2.5, inference_max_ms=3.0, hop_budget_ms=11.6,
        realtime_factor=0.1, app_underruns=1, device_underruns=2, ring_fill=0.5, stem_rms_db=(0.0,) * 4,
        stem_peak_db=(0.0,) * 4, output_peak_db=(0.0, 0.0), gains_db=(0.0,) * 4, muted=(False,) * 4,
        soloed=(False,) * 4, karaoke=False, karaoke_reduction_db=math.inf, blocksize=256,
        output_device="null", sample_rate=44100, model_name="m", error=None, error_count=0)
    line = status_line(snap)
    assert line.startswith("1:15.2 / live  latency 53 ms")
    assert "p99 2.5/11.6 ms" in line and "app 1 device 2" in line and "[playing]" in line


def _umask() -> int:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("option", ["--record", "--stats-json"])
def test_record_or_stats_never_replace_the_input_and_are_refused_before_playing(tiny_model_path, track,
                                                                                 tmp_path, capsys, option):
    path, _ = track
    song = tmp_path / "song.wav"
    song.write_bytes(path.read_bytes())
    before = song.read_bytes()
    for target in (song, tmp_path / "." / "song.wav", tiny_model_path):
        code = main(["play", str(song), "--backend", "null-fast", "--model", tiny_model_path, "--quiet",
                     option, str(target)])
        err = capsys.readouterr().err.strip()
        assert code == 1 and err.startswith("demixui: error:") and "\n" not in err, err
        assert "the input" in err and "latency" not in err  # refused before anything played
    assert song.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.wav"]  # no temporary left either


@pytest.mark.parametrize("start", ["-1", "1.5", "99", "nan"])
def test_start_outside_the_file_is_one_line(tiny_model_path, track, capsys, start):
    path, _ = track  # 1.5 s long
    assert main(["play", str(path), "--backend", "null-fast", "--model", tiny_model_path, "--quiet",
                 f"--start={start}"]) == 1
    err = capsys.readouterr().err.strip()
    assert "--start" in err and "outside the file" in err and "\n" not in err, err


def test_an_unwritable_stats_path_fails_before_playing(tiny_model_path, track, tmp_path, capsys):
    path, _ = track
    (tmp_path / "a_file").write_text("not a folder")
    record = tmp_path / "rec.wav"
    code = main(["play", str(path), "--backend", "null", "--model", tiny_model_path, "--quiet",
                 "--record", str(record), "--stats-json", str(tmp_path / "a_file" / "stats.json")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "cannot write the statistics file" in err and "\n" not in err, err
    assert not record.exists() and "recorded" not in err


def test_recording_and_stats_get_the_users_umask_permissions(tiny_model_path, track, tmp_path):
    path, _ = track
    record, stats = tmp_path / "rec.wav", tmp_path / "stats.json"
    assert main(["play", str(path), "--backend", "null-fast", "--model", tiny_model_path, "--quiet",
                 "--seconds", "0.2", "--record", str(record), "--stats-json", str(stats)]) == 0
    for output in (record, stats):
        assert output.stat().st_mode & 0o777 == 0o666 & ~_umask(), (output, oct(output.stat().st_mode))


def _broken_flac(folder):
    rng = np.random.default_rng(5)
    sf.write(folder / "full.flac", (0.3 * rng.standard_normal((3 * SR, 2))).astype(np.float32), SR,
             subtype="PCM_16")
    data = (folder / "full.flac").read_bytes()
    (folder / "cut.flac").write_bytes(data[:len(data) // 2])  # cut in the middle: the header says 3 s
    return folder / "cut.flac"


def _nan_wav(folder):
    mix = (0.3 * np.sin(2 * np.pi * 220 * np.arange(SR) / SR))[:, None].repeat(2, 1).astype(np.float32)
    mix[int(0.6 * SR), 0] = np.inf
    sf.write(folder / "nan.wav", mix, SR, subtype="FLOAT")
    return folder / "nan.wav"


@pytest.mark.parametrize("make", [_broken_flac, _nan_wav])
def test_a_source_that_breaks_partway_ends_with_one_line_and_exit_1(tiny_model_path, tmp_path, capsys, make):
    source = make(tmp_path)
    stats = tmp_path / "stats.json"
    code = main(["play", str(source), "--backend", "null-fast", "--model", tiny_model_path, "--quiet",
                 "--stats-json", str(stats)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("demixui: error:") and source.name in lines[0], lines
    assert json.loads(stats.read_text())["error_count"] >= 1


def test_a_model_with_nan_output_plays_the_dry_mix_says_so_and_exits_1(nan_model_path, track, tmp_path,
                                                                        capsys):
    path, mix = track
    record = tmp_path / "rec.wav"
    code = main(["play", str(path), "--backend", "null-fast", "--model", nan_model_path, "--quiet",
                 "--record", str(record)])
    err = capsys.readouterr().err
    assert code == 1 and "NaN or infinite" in err and "playing the mix" in err and "Traceback" not in err
    recorded, _ = sf.read(record, dtype="float32")
    assert np.isfinite(recorded).all()
    start = int(np.flatnonzero(np.abs(recorded).max(axis=1) > 0)[0])  # after the wait for stems, fading in
    assert recorded.shape[0] >= start + len(mix)
    np.testing.assert_allclose(recorded[start + 1000:start + len(mix)], mix[1000:], atol=1e-6)  # the dry mix


@pytest.mark.parametrize("installed", [True, False])
def test_play_live_uses_the_live_model_or_says_it_is_missing(tiny_model_path, tiny_live_model_path, track,
                                                              tmp_path, monkeypatch, capsys, installed):
    import shutil

    models = tmp_path / "assets" / "models"
    models.mkdir(parents=True)
    shutil.copy(tiny_model_path, models / "default.onnx")
    if installed:
        shutil.copy(tiny_live_model_path, models / "live.onnx")
    monkeypatch.setenv("DEMIXUI_ASSETS", str(tmp_path / "assets"))
    path, _ = track
    stats = tmp_path / "stats.json"
    assert main(["play", str(path), "--live", "--backend", "null-fast", "--blocksize", "64", "--seconds",
                 "0.3", "--quiet", "--stats-json", str(stats)]) == 0
    snap = json.loads(stats.read_text())
    err = capsys.readouterr().err
    if installed:
        assert snap["model_name"].startswith("live.onnx") and "note" not in err
        assert snap["model_latency_ms"] + snap["buffer_latency_ms"] <= 20.0  # default model: 35 ms+
    else:
        assert snap["model_name"].startswith("default.onnx")
        assert err.count("demixui: note: the live model is not installed") == 1
