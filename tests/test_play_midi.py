"""`demixui play --midi-map FILE`: a saved mapping drives the engine with no window. Plain mido messages from
another thread (as the MIDI backend delivers them) on the real engine (null backend, tiny model), bad files
and ports as one-line errors, and the whole command through a real JACK MIDI port on the dummy server."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from demixui.cli import main
from demixui.engine.faders import db_to_fader, fader_to_db
from demixui.engine.midi import Control, MidiMap, target_kinds

mido = pytest.importorskip("mido")
STEMS = ("vocals", "drums", "bass", "other")
SR = 44100
JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"


def cc(number: int, value: int, channel: int = 0):
    return mido.Message("control_change", channel=channel, control=number, value=value)


def note(number: int, velocity: int = 100):
    return mido.Message("note_on", note=number, velocity=velocity)


def write_song(path: Path, seconds: float = 12.0) -> str:
    t = np.arange(int(seconds * SR)) / SR
    mono = 0.3 * np.sin(2 * np.pi * 110 * t) + 0.05 * np.random.default_rng(0).standard_normal(t.size)
    sf.write(path, np.stack([mono, mono], axis=1).astype(np.float32), SR)
    return str(path)


def write_map(path: Path, bindings: list[tuple[Control, str, str]]) -> str:
    midi_map = MidiMap(target_kinds(STEMS))
    for control, target, mode in bindings:
        midi_map.bind(control, target, mode)
    path.write_text(midi_map.to_json())
    return str(path)


MAPPING = [
    (Control("cc", 0, 7), "gain:drums", "absolute"),
    (Control("note", 0, 36), "mute:bass", "button"),
    (Control("cc", 0, 16), "karaoke_amount", "relative"),
    (Control("note", 0, 37), "karaoke", "button"),
    (Control("cc", 1, 20), "solo:vocals", "button"),
    (Control("note", 0, 38), "play_pause", "button"),
    (Control("note", 0, 39), "seek_forward", "button"),
    (Control("note", 0, 40), "reset", "button"),
    (Control("note", 0, 41), "loop", "button"),
    (Control("note", 0, 42), "cue:other", "button"),
]


def from_midi_thread(controller, *messages) -> None:
    thread = threading.Thread(target=lambda: [controller.handle(m) for m in messages])
    thread.start()
    thread.join()


@pytest.fixture
def engine(tiny_model_path, tmp_path):
    from demixui.engine import Engine

    with Engine(tiny_model_path, backend="null") as engine:
        engine.open_file(write_song(tmp_path / "song.wav"))
        yield engine


def test_a_saved_mapping_drives_the_engine_from_plain_messages(engine, tmp_path):
    from demixui.engine.midi_control import EngineMidi, load_midi_map

    controller = EngineMidi(engine, load_midi_map(write_map(tmp_path / "map.json", MAPPING), STEMS))
    snap = engine.snapshot

    # Absolute CC with soft takeover: the fader is at 0 dB (position 106.8/127); below it nothing moves.
    from_midi_thread(controller, cc(7, 0), cc(7, 60))
    assert snap().gains_db[1] == 0.0
    from_midi_thread(controller, cc(7, 110))  # crossed 0 dB: takes hold
    assert snap().gains_db[1] == fader_to_db(round(-120 + 110 / 127 * 144))
    from_midi_thread(controller, cc(7, 127))
    assert snap().gains_db[1] == 12.0 and controller.last == "Drums volume +12.0 dB"
    engine.set_gain_db("drums", -30.0)  # moved by something else: the control lets go until it gets there
    from_midi_thread(controller, cc(7, 126))
    assert snap().gains_db[1] == -30.0
    from_midi_thread(controller, cc(7, round((db_to_fader(-30.0) + 120) / 144 * 127)), cc(7, 0))
    assert snap().gains_db[1] == -math.inf

    from_midi_thread(controller, note(36), note(36, 0))  # press, release: mute on
    assert snap().muted == (False, False, True, False) and controller.last == "Bass mute on"
    from_midi_thread(controller, note(36))
    assert not any(snap().muted)
    from_midi_thread(controller, cc(20, 127, channel=1), cc(20, 0, channel=1))
    assert snap().soloed == (True, False, False, False)
    from_midi_thread(controller, note(42))
    assert snap().cued == (False, False, False, True)

    from_midi_thread(controller, note(37))  # karaoke on, vocals removed (the amount's top)
    assert snap().karaoke and math.isinf(snap().karaoke_reduction_db)
    from_midi_thread(controller, cc(16, 127), cc(16, 126))  # encoder: -1, -2 from the top (48)
    assert snap().karaoke and snap().karaoke_reduction_db == 45.0

    from_midi_thread(controller, note(41))
    assert snap().loop
    from_midi_thread(controller, note(38))  # play
    deadline = time.monotonic() + 30
    while snap().position_s < 0.3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    from_midi_thread(controller, note(38))  # pause
    assert snap().state == "paused"
    before = snap().position_s
    from_midi_thread(controller, note(39))  # 5 s forward
    assert snap().position_s == pytest.approx(before + 5.0, abs=0.05)

    from_midi_thread(controller, note(40))  # reset: 0 dB, no mute, no solo, karaoke off
    after = snap()
    assert after.gains_db == (0.0,) * 4 and not any(after.soloed) and not after.karaoke


@pytest.mark.parametrize("content, expected", [
    (None, "cannot read the MIDI mapping"),
    ("{not json", "not a demixui MIDI mapping"),
    ('{"format": "demixui-midi-map", "version": 1, "bindings": []}', "binds no control"),
    ('{"format": "demixui-midi-map", "version": 1, "bindings": [{"control": {"type": "cc", "channel": 0, '
     '"number": 7}, "target": "gain:kazoo", "mode": "absolute"}]}', "unknown MIDI target"),
])
def test_a_bad_mapping_file_is_one_line_before_anything_plays(tiny_model_path, tmp_path, capsys, content,
                                                             expected):
    path = tmp_path / "map.json"
    if content is not None:
        path.write_text(content)
    code = main(["play", write_song(tmp_path / "song.wav", 1.0), "--backend", "null", "--model",
                 tiny_model_path, "--midi-map", str(path), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err and "Traceback" not in err, err
    assert str(path) in err and expected in err


def test_a_missing_midi_port_is_an_error_and_a_port_needs_a_mapping(tiny_model_path, tmp_path, capsys):
    song = write_song(tmp_path / "song.wav", 1.0)
    mapping = write_map(tmp_path / "map.json", MAPPING[:1])
    code = main(["play", song, "--backend", "null", "--model", tiny_model_path, "--midi-map", mapping,
                 "--midi-port", "no such controller", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "Traceback" not in err and err.startswith("demixui: error: ")
    assert "MIDI input" in err and ("not found" in err or "unavailable" in err), err
    code = main(["play", song, "--backend", "null", "--model", tiny_model_path, "--midi-port", "x"])
    assert code == 1 and "--midi-port needs --midi-map" in capsys.readouterr().err


@pytest.mark.slow
def test_play_follows_a_controller_on_a_real_jack_midi_port(tiny_model_path, tmp_path, monkeypatch):
    """The whole command in its own process: a virtual controller port (python-rtmidi's JACK API) on the
    JACK dummy server, opened by `play --midi-port` through mido; CCs and notes sent to it change what the
    engine plays, seen in the status line and in --stats-json."""
    rtmidi = pytest.importorskip("rtmidi")
    from jack_server import jack_server

    song = write_song(tmp_path / "song.wav", 60.0)
    mapping = write_map(tmp_path / "map.json", MAPPING)
    stats = tmp_path / "stats.json"
    repo = Path(__file__).resolve().parent.parent
    with jack_server() as server:
        for key in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER", "JACK_NO_AUDIO_RESERVATION"):
            monkeypatch.setenv(key, server.env[key])  # for the controller port made here
        controller = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="controller")
        try:
            controller.open_virtual_port("faders")
            env = dict(os.environ, **server.env, MIDO_BACKEND=JACK_BACKEND,
                       PYTHONPATH=os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])))
            command = [sys.executable, "-m", "demixui", "play", song, "--backend", "null", "--model",
                       tiny_model_path, "--midi-map", mapping, "--midi-port", "controller:faders",
                       "--stats-json", str(stats)]
            lines: list[str] = []
            with subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path) as play:
                reader = threading.Thread(target=lambda: lines.extend(play.stderr), daemon=True)
                reader.start()

                def until(text: str, *messages: list[int], again: bool = True) -> None:
                    deadline = time.monotonic() + 60
                    for message in messages:
                        controller.send_message(message)
                    while not any(text in line for line in lines):
                        assert play.poll() is None and time.monotonic() < deadline, "".join(lines)
                        for message in messages if again else ():  # the port connects asynchronously
                            controller.send_message(message)
                        time.sleep(0.2)

                try:
                    until("MIDI input: controller:faders")
                    until("Drums volume +12.0 dB", [0xB0, 7, 105], [0xB0, 7, 110], [0xB0, 7, 127])
                    until("Bass mute on", [0x90, 36, 100], [0x80, 36, 0], again=False)  # connected now
                    play.send_signal(signal.SIGTERM)
                    play.wait(timeout=60)
                finally:
                    play.kill()
                reader.join(timeout=10)
        finally:
            controller.close_port()
    assert play.returncode == 128 + signal.SIGTERM, "".join(lines)
    data = json.loads(stats.read_text())
    assert data["gains_db"][1] == 12.0 and data["muted"] == [False, False, True, False]
