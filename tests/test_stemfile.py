"""NI Stems export: `demixui separate --format stem-mp4`, the `stem` box, and the rules on outputs.

AAC is lossy, so "sums to the mixture" is to within AAC's precision: FFmpeg's encoder at 256 kbit/s codes
these tonal test signals at 26-37 dB signal-to-noise ratio per stream (measured: the mixture stream 27.6 dB
against the input, the sum of the four decoded stems 34.4 dB, each stem 26-37 dB against the float WAV stem
of the same model); four streams coded independently add their errors. We require 20 dB: 6 dB or more of
margin, yet a stream missing, silent or swapped (8-9 dB here: the tiny model's stems are alike) or the
mixture one sample out of place (15.7 dB) fails it. The signals are tonal on purpose: the encoder codes
noise-like bands by their level only (perceptual noise substitution), not by their waveform.
"""

from __future__ import annotations

import struct

import av
import numpy as np
import pytest
import soundfile as sf

from demixui.cli import main
from demixui.errors import AudioFileError
from demixui.mp4audio import read_stem_streams
from demixui.stemfile import STEM_COLORS, STREAM_NAMES, insert_stem_box, read_stem_manifest
from tests.aac_files import chirp, write_aac

TOLERANCE_DB = 20.0  # why: the module docstring
NB_SAMPLES = 30011  # not a multiple of the AAC frame (1024) or the model's hop (512)


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference ** 2) / max(np.sum((reference - estimate) ** 2), 1e-20)))


def write_song(path, nb_samples: int = NB_SAMPLES, rate: int = 44100, channels: int = 2) -> np.ndarray:
    """A chirp plus a 110 Hz tone (energy in the model's low and high bands), written as float WAV."""
    t = np.arange(nb_samples)[:, None] / rate
    audio = chirp(nb_samples, rate, channels) + 0.2 * np.sin(2 * np.pi * 110 * t)
    sf.write(str(path), audio.astype(np.float32), rate, subtype="FLOAT")
    return audio.astype(np.float32)


def separate(*args) -> int:
    return main(["separate", "--no-progress", *map(str, args)])


def test_stem_file_reads_back_with_five_streams_in_ni_order(tiny_model_path, tmp_path, capsys):
    audio = write_song(tmp_path / "song.wav")
    assert separate(tmp_path / "song.wav", "-o", tmp_path / "out", "--model", tiny_model_path,
                    "--format", "stem-mp4") == 0
    path = tmp_path / "out" / "song.stem.mp4"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["song.stem.mp4"]  # no temporary left
    assert f"-> {path} (" in capsys.readouterr().out

    # PyAV: five stereo AAC streams of exactly the input's length; only the mixture plays by default.
    with av.open(str(path)) as container:
        streams = container.streams.audio
        assert len(streams) == 5
        for stream in streams:
            assert stream.codec_context.name == "aac" and stream.codec_context.channels == 2
            assert stream.codec_context.sample_rate == 44100
            assert stream.duration * stream.time_base * 44100 == NB_SAMPLES
    assert _track_enabled(path) == [True, False, False, False, False]

    # The `stem` box, read by our own parser: what Mixxx and Traktor show.
    manifest = read_stem_manifest(path)
    assert manifest["version"] == 1
    assert [stem["name"] for stem in manifest["stems"]] == ["Drums", "Bass", "Other", "Vocals"]
    assert [stem["color"] for stem in manifest["stems"]] == [STEM_COLORS[n] for n in STREAM_NAMES[1:]]
    assert all(len(stem["color"]) == 7 and int(stem["color"][1:], 16) >= 0 for stem in manifest["stems"])
    assert manifest["mastering_dsp"]["compressor"]["enabled"] is False
    assert manifest["mastering_dsp"]["limiter"]["enabled"] is False

    # Our reader: the mixture is the input, unshifted; the stems sum to it; each stream holds its stem
    # (compared with the float WAV stems of the same input and model).
    decoded, rate = read_stem_streams(path)
    assert rate == 44100 and all(a.shape == (NB_SAMPLES, 2) for a in decoded.values())
    assert snr_db(audio, decoded["mixture"]) > TOLERANCE_DB
    for lag in (-1, 1):  # one sample out of place is far worse than the coding noise
        assert snr_db(audio, np.roll(decoded["mixture"], lag, axis=0)) < snr_db(audio, decoded["mixture"]) - 6
    total = sum(decoded[name] for name in STREAM_NAMES[1:])
    assert snr_db(audio, total) > TOLERANCE_DB
    assert separate(tmp_path / "song.wav", "-o", tmp_path / "wav", "--model", tiny_model_path) == 0
    wav = {name: sf.read(str(tmp_path / "wav" / "song" / f"{name}.wav"), dtype="float32")[0]
           for name in STREAM_NAMES[1:]}
    for name in STREAM_NAMES[1:]:
        assert snr_db(wav[name], decoded[name]) > TOLERANCE_DB, name
        others = [snr_db(wav[other], decoded[name]) for other in STREAM_NAMES[1:] if other != name]
        assert snr_db(wav[name], decoded[name]) > max(others) + 6, name


@pytest.mark.parametrize("rate, written", [(48000, 48000), (37800, 44100)])
def test_rate_is_the_inputs_where_aac_has_it(tiny_model_path, tmp_path, rate, written):
    nb_samples = rate // 4
    write_song(tmp_path / "mono.wav", nb_samples, rate=rate, channels=1)
    assert separate(tmp_path / "mono.wav", "-o", tmp_path, "--model", tiny_model_path,
                    "--format", "stem-mp4") == 0
    decoded, got = read_stem_streams(tmp_path / "mono.stem.mp4")
    length = nb_samples if written == rate else round(nb_samples * written / rate)
    assert got == written
    assert all(abs(a.shape[0] - length) <= 1 and a.shape[1] == 2 for a in decoded.values())  # mono -> stereo


def test_existing_stem_file_is_refused_unless_overwrite(tiny_model_path, tmp_path, capsys):
    write_song(tmp_path / "song.wav", 8000)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "song.stem.mp4"
    target.write_bytes(b"mine")
    args = (tmp_path / "song.wav", "-o", out, "--model", tiny_model_path, "--format", "stem-mp4")
    assert separate(*args) == 1
    assert "already exists (pass --overwrite to replace it)" in capsys.readouterr().err
    # --overwrite replaces only a stem file: not somebody's file that merely has the name.
    assert separate(*args, "--overwrite") == 1
    assert "is not an NI stem file; not replacing it" in capsys.readouterr().err
    assert target.read_bytes() == b"mine"
    target.unlink()
    assert separate(*args) == 0
    first = target.stat().st_ino
    assert separate(*args, "--overwrite") == 0  # a stem file is replaced, by a rename
    assert target.stat().st_ino != first and len(read_stem_streams(target)[0]) == 5
    assert sorted(p.name for p in out.iterdir()) == ["song.stem.mp4"]


def test_a_stem_file_that_would_replace_its_input_is_refused(tiny_model_path, tmp_path, capsys):
    source = write_aac(tmp_path / "song.stem.mp4", [chirp(8000)] * 5)
    before = source.read_bytes()
    assert separate(source, "-o", tmp_path, "--model", tiny_model_path, "--format", "stem-mp4",
                    "--overwrite") == 1
    err = capsys.readouterr().err
    assert "the stem file is the input" in err and "not writing there" in err
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.stem.mp4"]


def test_the_box_goes_in_before_the_audio_too(tmp_path):
    """A "faststart" file (moov before mdat): the chunk offsets move with the audio; a box replaced by a
    smaller one moves it back."""
    path = write_aac(tmp_path / "fast.mp4", [chirp(20000), 0.5 * chirp(20000)], faststart=True)
    kinds = [kind for kind, *_ in _top_boxes(path)]
    assert kinds.index(b"moov") < kinds.index(b"mdat")
    before = read_stem_streams_any(path)
    insert_stem_box(path, b'{"version": 1, "stems": [], "pad": "' + b"x" * 5000 + b'"}')
    assert read_stem_manifest(path)["pad"] == "x" * 5000
    assert all(np.array_equal(a, b) for a, b in zip(before, read_stem_streams_any(path), strict=True))
    insert_stem_box(path, b'{"version": 1}\0')  # NUL-terminated, as some writers do
    assert read_stem_manifest(path) == {"version": 1}
    assert all(np.array_equal(a, b) for a, b in zip(before, read_stem_streams_any(path), strict=True))


def test_udta_is_created_when_missing_and_bad_files_are_one_line_errors(tmp_path):
    mvhd = _box(b"mvhd", bytes(100))
    path = tmp_path / "bare.mp4"
    path.write_bytes(_box(b"ftyp", b"isom\0\0\0\0") + _box(b"moov", mvhd) + _box(b"mdat", bytes(64)))
    with pytest.raises(AudioFileError, match="no moov/udta/stem box"):
        read_stem_manifest(path)
    insert_stem_box(path, b'{"version": 1}')
    assert read_stem_manifest(path) == {"version": 1}
    assert [kind for kind, *_ in _top_boxes(path)] == [b"ftyp", b"moov", b"mdat"]
    insert_stem_box(path, b"[1, 2]")
    with pytest.raises(AudioFileError, match="does not hold a JSON object"):
        read_stem_manifest(path)
    path.write_bytes(_box(b"ftyp", b"isom\0\0\0\0")[:-2])  # cut short
    with pytest.raises(AudioFileError, match="corrupt or truncated"):
        read_stem_manifest(path)


def read_stem_streams_any(path) -> list[np.ndarray]:
    from demixui.mp4audio import Mp4AudioFile

    with av.open(str(path)) as container:
        count = len(container.streams.audio)
    out = []
    for index in range(count):
        with Mp4AudioFile(path, index) as handle:
            out.append(handle.read(1 << 20))
    return out


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", len(body) + 8, kind) + body


def _top_boxes(path) -> list[tuple[bytes, int, int]]:
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, offset)
        boxes.append((kind, offset, size))
        offset += size
    return boxes


def _track_enabled(path) -> list[bool]:
    """The enabled flag (bit 0 of the flags) of each track header, moov/trak/tkhd, in file order."""
    data = path.read_bytes()
    kind, offset, size = next(box for box in _top_boxes(path) if box[0] == b"moov")
    enabled, position = [], offset + 8
    while position < offset + size:
        child_size, child = struct.unpack_from(">I4s", data, position)
        if child == b"trak":
            inner = position + 8
            while inner < position + child_size:
                box_size, box = struct.unpack_from(">I4s", data, inner)
                if box == b"tkhd":
                    enabled.append(bool(struct.unpack_from(">I", data, inner + 8)[0] & 1))
                inner += box_size
        position += child_size
    return enabled
