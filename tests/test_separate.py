"""`demixui separate`: stem files at the input's rate and length, atomic folders, one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from demixui.cli import main

STEMS = ("vocals", "drums", "bass", "other")


def write_music(path, nb_samples: int, rate: int = 44100, channels: int = 2, seed: int = 0, subtype="FLOAT",
                noise: float = 0.05):
    rng = np.random.default_rng(seed)
    t = np.arange(nb_samples) / rate
    mono = 0.3 * np.sin(2 * np.pi * 330 * t) + noise * rng.standard_normal(nb_samples)
    audio = np.stack([mono * (0.5 + 0.5 * c) for c in range(channels)], axis=1).astype(np.float32)
    sf.write(str(path), audio, rate, subtype=subtype)
    return audio


def read_stems(folder) -> tuple[np.ndarray, int]:
    """`(nb_stems, nb_samples, nb_channels)` and the rate of `folder/<stem>.wav`."""
    stems, rates = [], set()
    for stem in STEMS:
        audio, rate = sf.read(str(folder / f"{stem}.wav"), dtype="float32", always_2d=True)
        stems.append(audio)
        rates.add(rate)
    assert len(rates) == 1, rates
    return np.stack(stems), rates.pop()


def separate(*args) -> int:
    return main(["separate", "--no-progress", *map(str, args)])


def test_stems_have_the_input_rate_and_length_and_sum_to_it(tiny_model_path, tmp_path, capsys):
    audio = write_music(tmp_path / "song.wav", 30011)
    assert separate(tmp_path / "song.wav", "-o", tmp_path / "out", "--model", tiny_model_path) == 0
    stems, rate = read_stems(tmp_path / "out" / "song")
    assert rate == 44100 and stems.shape == (4, 30011, 2)
    assert sf.info(str(tmp_path / "out" / "song" / "vocals.wav")).subtype == "FLOAT"
    np.testing.assert_allclose(stems.sum(axis=0), audio, rtol=0, atol=1e-5)  # masks sum to one
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["song"]  # no temporary folder left
    assert "x real time" in capsys.readouterr().out
    # Not the private 0700/0600 of temporary files: what a plain mkdir/open gives under the umask.
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "out" / "song").stat().st_mode & 0o777 == 0o777 & ~mask
    assert (tmp_path / "out" / "song" / "bass.wav").stat().st_mode & 0o777 == 0o666 & ~mask


def test_other_rate_and_mono_come_back_at_their_own_rate_as_stereo(tiny_model_path, tmp_path):
    mono = write_music(tmp_path / "mono48k.flac", 48000, rate=48000, channels=1, subtype="PCM_24",
                       noise=0.0)  # white noise above 22 kHz would not survive 44.1 kHz
    assert separate(tmp_path / "mono48k.flac", "-o", tmp_path / "out", "--model", tiny_model_path,
                    "--format", "pcm24") == 0
    stems, rate = read_stems(tmp_path / "out" / "mono48k")
    assert rate == 48000 and stems.shape == (4, 48000, 2)
    assert sf.info(str(tmp_path / "out" / "mono48k" / "bass.wav")).subtype == "PCM_24"
    # Mono is duplicated; soxr there and back is transparent in the passband (edges excluded).
    total = stems.sum(axis=0)
    np.testing.assert_allclose(total[:, 0], total[:, 1], atol=1e-4)
    middle = slice(2000, -2000)
    error = total[middle, 0] - mono[middle, 0]
    assert 10 * np.log10(np.sum(mono[middle, 0] ** 2) / np.sum(error ** 2)) > 40


def test_existing_output_folder_is_refused_unless_overwrite(tiny_model_path, tmp_path, capsys):
    write_music(tmp_path / "song.wav", 8000)
    target = tmp_path / "out" / "song"
    target.mkdir(parents=True)
    (target / "keep.txt").write_text("mine")
    assert separate(tmp_path / "song.wav", "-o", tmp_path / "out", "--model", tiny_model_path) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and "Traceback" not in err
    assert (target / "keep.txt").read_text() == "mine"
    # --overwrite removes only what separate wrote: a folder holding anything else is refused even then.
    code = separate(tmp_path / "song.wav", "-o", tmp_path / "out", "--model", tiny_model_path, "--overwrite")
    assert code == 1 and "did not write (keep.txt)" in capsys.readouterr().err
    assert (target / "keep.txt").read_text() == "mine"
    (target / "keep.txt").unlink()
    target.rmdir()
    for overwrite in ((), ("--overwrite",)):  # a folder of stems: written once, then replaced
        code = separate(tmp_path / "song.wav", "-o", tmp_path / "out", "--model", tiny_model_path, *overwrite)
        assert code == 0
        assert sorted(p.name for p in target.iterdir()) == sorted(f"{s}.wav" for s in STEMS)
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["song"]


def test_overwrite_never_removes_an_input_inside_an_earlier_output_folder(tiny_model_path, tmp_path, capsys):
    """`separate a.wav out/a/b.wav -o out --overwrite` once deleted out/a/b.wav before reading it."""
    write_music(tmp_path / "a.wav", 4000)
    (tmp_path / "out" / "a").mkdir(parents=True)
    inner = write_music(tmp_path / "out" / "a" / "b.wav", 4000, seed=1)
    code = separate(tmp_path / "a.wav", tmp_path / "out" / "a" / "b.wav", "-o", tmp_path / "out",
                    "--model", tiny_model_path, "--overwrite")
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "holds the input" in err and "1 of 2 inputs failed" in err
    assert np.array_equal(sf.read(str(tmp_path / "out" / "a" / "b.wav"), dtype="float32")[0], inner)
    assert (tmp_path / "out" / "b" / "vocals.wav").exists()  # the other input was still separated
    # Even a folder holding nothing but stem names is not replaced when one of them is an input.
    (tmp_path / "out" / "a" / "b.wav").rename(tmp_path / "out" / "a" / "vocals.wav")
    code = separate(tmp_path / "a.wav", tmp_path / "out" / "a" / "vocals.wav", "-o", tmp_path / "out",
                    "--model", tiny_model_path, "--overwrite")
    assert code == 1 and "holds the input" in capsys.readouterr().err
    assert (tmp_path / "out" / "a" / "vocals.wav").exists()


def test_an_output_root_naming_a_file_is_one_clear_line(tiny_model_path, tmp_path, capsys):
    write_music(tmp_path / "song.wav", 4000)
    code = separate(tmp_path / "song.wav", "-o", tmp_path / "song.wav", "--model", tiny_model_path)
    err = capsys.readouterr().err
    assert code == 1 and "Errno" not in err and "Traceback" not in err
    assert "exists and is not a folder" in err


def test_bad_inputs_are_reported_and_the_good_ones_still_separated(tiny_model_path, tmp_path, capsys):
    write_music(tmp_path / "good.wav", 8000)
    nan = np.zeros((4000, 2), np.float32)
    nan[100, 1] = np.nan
    sf.write(str(tmp_path / "nan.wav"), nan, 44100, subtype="FLOAT")
    inf = np.zeros((4000, 2), np.float32)
    inf[5] = np.inf
    sf.write(str(tmp_path / "inf.wav"), inf, 44100, subtype="FLOAT")
    (tmp_path / "text.wav").write_text("not audio at all\n")
    sf.write(str(tmp_path / "empty.wav"), np.zeros((0, 2), np.float32), 44100)
    bad = ["nan.wav", "inf.wav", "text.wav", "empty.wav", "missing.wav"]
    code = separate(*(tmp_path / name for name in ["good.wav", *bad]), "-o", tmp_path / "out",
                    "--model", tiny_model_path)
    assert code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for name in bad:
        assert sum(name in line for line in err.splitlines()) == 1, (name, err)
    assert f"{len(bad)} of {len(bad) + 1} inputs failed" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good"]  # nothing partial for bad ones


def test_truncated_input_is_an_error(tiny_model_path, tmp_path, capsys):
    # FLAC: its header states the length, so a cut file is detectable (libsndfile silently shortens a WAV).
    write_music(tmp_path / "cut.flac", 44100, subtype="PCM_16")
    data = (tmp_path / "cut.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 2])
    assert separate(tmp_path / "cut.flac", "-o", tmp_path / "out", "--model", tiny_model_path) == 1
    err = capsys.readouterr().err
    assert "cut.flac" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "cut").exists()


def test_two_inputs_with_the_same_name_do_not_overwrite_each_other(tiny_model_path, tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_music(tmp_path / "a" / "song.wav", 4000)
    write_music(tmp_path / "b" / "song.wav", 4000, seed=1)
    code = separate(tmp_path / "a" / "song.wav", tmp_path / "b" / "song.wav", "-o", tmp_path / "out",
                    "--model", tiny_model_path)
    assert code == 1
    assert "same output folder" in capsys.readouterr().err
    assert (tmp_path / "out" / "song" / "vocals.wav").exists()


def test_bad_model_file_is_one_line_and_exit_1(tmp_path, capsys):
    write_music(tmp_path / "song.wav", 4000)
    (tmp_path / "model.onnx").write_bytes(b"\x00garbage")
    assert separate(tmp_path / "song.wav", "-o", tmp_path / "out", "--model", tmp_path / "model.onnx") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("demixui: error:") and "not a valid ONNX model file" in err and "\n" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", ["--help"])
def test_help_states_the_channel_policy(flag, capsys):
    with pytest.raises(SystemExit):
        main(["separate", flag])
    text = " ".join(capsys.readouterr().out.split())
    assert "mono input is duplicated" in text and "downmixed" in text and "--overwrite" in text


def test_an_output_root_that_is_a_file_is_one_line_per_input(tiny_model_path, tmp_path, capsys):
    write_music(tmp_path / "song.wav", 4000)
    (tmp_path / "out").write_text("a file, not a folder")
    assert separate(tmp_path / "song.wav", "-o", tmp_path / "out", "--model", tiny_model_path) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "1 of 1 inputs failed" in err
    assert (tmp_path / "out").read_text() == "a file, not a folder"


def test_streamed_file_separation_equals_the_whole_array_path(tiny_model_path, tmp_path):
    """`separate` reads, resamples, separates and writes block by block; the numbers are those of reading the
    whole file, soxr-resampling it in one go, `separate_array` and resampling each stem back in one go."""
    from demixui.audiofile import read_audio, resample
    from demixui.model.offline import separate_array
    from demixui.model.runtime import load_model

    model = load_model(tiny_model_path)
    for name, rate, nb_samples in [("plain.wav", 44100, 300_000), ("other_rate.flac", 48000, 200_001)]:
        write_music(tmp_path / name, nb_samples, rate=rate, subtype="FLOAT" if rate == 44100 else "PCM_24")
        assert separate(tmp_path / name, "-o", tmp_path / "out", "--model", tiny_model_path) == 0
        stems, out_rate = read_stems(tmp_path / "out" / name.split(".")[0])
        audio, _ = read_audio(tmp_path / name)
        expected = separate_array(model, resample(audio, rate, 44100)).transpose(1, 0, 2)
        if rate != 44100:
            expected = np.stack([resample(np.ascontiguousarray(stem), 44100, rate)[:nb_samples]
                                 for stem in expected])
        assert out_rate == rate and stems.shape == (4, nb_samples, 2) == expected.shape
        np.testing.assert_allclose(stems, expected, rtol=0, atol=1e-5)


def test_memory_does_not_grow_with_the_length_of_the_track(tiny_model_path, tmp_path):
    """Peak memory for 20 s and for 120 s of audio: the same few blocks in flight (holding the extra 100 s
    of stems would take 141 MB, and of the input 35 MB more). Small blocks (32 frames, 0.37 s) keep the
    in-flight part small, so the peak does not swing with how the pipelined halves happen to overlap (with
    the default 256-frame blocks it varied by 12 MB between machines)."""
    import tracemalloc

    from demixui.model.offline import separate_file
    from demixui.model.runtime import load_model

    model = load_model(tiny_model_path)
    peaks = {}
    for seconds in (20, 120):
        write_music(tmp_path / f"{seconds}.wav", seconds * 44100, subtype="PCM_16")
        tracemalloc.start()
        try:
            separate_file(model, tmp_path / f"{seconds}.wav", tmp_path / "out", block_frames=32)
            peaks[seconds] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert sf.info(str(tmp_path / "out" / f"{seconds}" / "drums.wav")).frames == seconds * 44100
    print(f"peak traced memory separating 20 s: {peaks[20] / 1e6:.1f} MB, 120 s: {peaks[120] / 1e6:.1f} MB")
    assert peaks[120] < peaks[20] + 10e6, peaks


def test_a_late_nan_is_an_error_with_its_time_and_leaves_nothing(tiny_model_path, tmp_path, capsys):
    audio = write_music(tmp_path / "song.wav", 400_000)
    audio[300_000, 0] = np.nan  # after a few blocks have been separated and written
    sf.write(str(tmp_path / "song.wav"), audio, 44100, subtype="FLOAT")
    assert separate(tmp_path / "song.wav", "-o", tmp_path / "out", "--model", tiny_model_path) == 1
    err = capsys.readouterr().err
    assert "NaN or infinite samples (the first at 6.803 s)" in err and "Traceback" not in err
    assert list((tmp_path / "out").iterdir()) == []  # the temporary folder is gone too


def test_a_model_with_nan_output_stops_with_one_line_and_writes_nothing(nan_model_path, tmp_path, capsys):
    write_music(tmp_path / "a.wav", 20000)
    write_music(tmp_path / "b.wav", 20000)
    assert separate(tmp_path / "a.wav", tmp_path / "b.wav", "-o", tmp_path / "out", "--model",
                    nan_model_path) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    # Both inputs run at once (--jobs defaults to the cores): either may be the one that fails first.
    assert "NaN or infinite" in err and ("a.wav" in err or "b.wav" in err)
    assert "1 more inputs not separated" in err
    assert list((tmp_path / "out").iterdir()) == []


def _tiny_filesystem(tmp_path, size: str):
    """A real filesystem of `size` (tmpfs) when we may mount one (root), else None."""
    import subprocess

    folder = tmp_path / "small_disk"
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                            str(folder)], capture_output=True).returncode != 0:
        return None
    return folder


def test_a_full_disk_names_the_file_and_the_cause_and_the_batch_carries_on(tiny_model_path, tmp_path,
                                                                           capsys, monkeypatch):
    import errno
    import subprocess

    write_music(tmp_path / "long.wav", 20 * 44100)  # 4 float stems of 7 MB each: more than the disk holds
    write_music(tmp_path / "short.wav", 4000)  # 4 x 32 kB: fits once the first one's are cleared away
    out = _tiny_filesystem(tmp_path, "2m")
    if out is None:  # not root: the disk fills (the OS's own error) while the long track is written
        out = tmp_path / "out"
        real_write, writes = sf.SoundFile.write, []

        def full_disk_write(self, data):
            writes.append(len(data))
            if sum(writes) > 4 * 200_000 and ".long." in self.name:  # freed again once long's are gone
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(self, data)

        monkeypatch.setattr(sf.SoundFile, "write", full_disk_write)
    try:
        code = separate(tmp_path / "long.wav", tmp_path / "short.wav", "-o", out, "--model", tiny_model_path)
        err = capsys.readouterr().err
        assert code == 1 and "Traceback" not in err and "internal error" not in err, err
        line = next(line for line in err.splitlines() if "long" in line)
        assert "No space left on device" in line and str(out / "long") in line and ".wav" in line, line
        assert "1 of 2 inputs failed" in err
        assert sorted(p.name for p in out.iterdir()) == ["short"]  # no temporary folder left behind
        assert sf.info(str(out / "short" / "bass.wav")).frames == 4000
    finally:
        if out.name == "small_disk":
            subprocess.run(["umount", str(out)], check=False)


def test_pcm16_says_how_many_samples_clipped(tiny_model_path, tmp_path, capsys):
    audio = write_music(tmp_path / "loud.wav", 20000) * 8.0  # far beyond full scale: stems too
    sf.write(str(tmp_path / "loud.wav"), audio, 44100, subtype="FLOAT")
    assert separate(tmp_path / "loud.wav", "-o", tmp_path / "out", "--model", tiny_model_path,
                    "--format", "pcm16") == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "clipped" in line]
    assert len(warning) == 1 and "--format float" in warning[0], warning
    count = int(warning[0].split(": ")[-1].split()[0])
    stems, _ = read_stems(tmp_path / "out" / "loud")
    assert count >= np.count_nonzero(np.abs(stems) >= 32767 / 32768) > 0  # what was clipped, at least


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_remove_the_temporary_folder_as_ctrl_c_does(tiny_model_path, tmp_path, signum):
    """A real process, a real signal; only the pace is slowed (each stem write sleeps) so that the signal
    lands mid-way."""
    import signal
    import subprocess
    import sys
    import time

    write_music(tmp_path / "song.wav", 10 * 44100)
    out = tmp_path / "out"
    script = ("import time, demixui.model.stemwriters as o\n"
              "write = o.StemWriter.write\n"
              "o.StemWriter.write = lambda self, audio: (time.sleep(0.05), write(self, audio))[1]\n"
              "from demixui.cli import main\n"
              f"raise SystemExit(main(['separate', '--no-progress', {str(tmp_path / 'song.wav')!r}, '-o', "
              f"{str(out)!r}, '--model', {tiny_model_path!r}]))\n")
    with subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True) as process:
        try:
            deadline = time.monotonic() + 60
            while not any(out.glob(".song.*.part/vocals.wav")) and process.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            process.send_signal(getattr(signal, signum))
            err = process.communicate(timeout=30)[1]
        finally:
            process.kill()
        code = process.returncode
    assert code == 128 + getattr(signal, signum) and f"stopped by {signum}" in err and "Traceback" not in err
    assert list(out.iterdir()) == []


def test_the_next_run_tidies_stale_temporaries_of_its_own(tiny_model_path, tmp_path):
    import subprocess
    import sys

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True)
    dead = int(finished.stdout)  # a process id that no longer exists
    out = tmp_path / "out"
    stale = out / f".old_song.{dead}.k2j4_x.part"
    live = out / f".other.{os.getpid()}.a8b9c0.part"  # a run still going (this process): left alone
    for folder in (stale, live):
        folder.mkdir(parents=True)
        (folder / "vocals.wav").write_bytes(b"partial")
    (out / ".notes.txt").write_text("not ours")
    write_music(tmp_path / "song.wav", 4000)
    assert separate(tmp_path / "song.wav", "-o", out, "--model", tiny_model_path) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([".notes.txt", live.name, "song"])


def test_an_input_we_may_not_read_says_permission_denied(tmp_path):
    """(It was libsndfile's "System error".) Every command reads its inputs' headers through audio_info."""
    import shutil
    import tempfile

    from demixui.audiofile import audio_info
    from demixui.errors import AudioFileError

    folder = Path(tempfile.mkdtemp())  # not under pytest's private folder: nobody may enter this one
    try:
        folder.chmod(0o755)
        write_music(folder / "private.wav", 4000)
        (folder / "private.wav").chmod(0)
        as_root = os.geteuid() == 0
        if as_root:  # root reads anything: be nobody while the file is opened
            os.seteuid(65534)
        try:
            with pytest.raises(AudioFileError, match=r"private.wav: cannot read \(Permission denied\)$"):
                audio_info(folder / "private.wav")
        finally:
            if as_root:
                os.seteuid(0)
    finally:
        shutil.rmtree(folder)
