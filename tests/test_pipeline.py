"""The offline pipeline (stages on threads) and the batch (files in worker processes): the same numbers as
one core, errors raised where the caller sees them, nothing left running or half written."""

from __future__ import annotations

import multiprocessing
import os
import threading

import numpy as np
import pytest

from demixui.model.pipeline import run_stages
from tests.test_separate import STEMS, read_stems, separate, write_music

SR = 44100


def stage_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("demixui-stage")]


def test_threaded_stages_give_the_results_in_order_and_on_their_own_threads():
    seen: dict[str, set[str]] = {"double": set(), "pair": set()}

    def double(x):
        seen["double"].add(threading.current_thread().name)
        return 2 * x

    def pair(x):
        seen["pair"].add(threading.current_thread().name)
        return x, x + 1

    items = [(i, (i,)) for i in range(50)]
    threaded = list(run_stages([double, pair, lambda a, b: a * b], iter(items)))
    assert seen["double"] == {"demixui-stage-0"} and seen["pair"] == {"demixui-stage-1"}, seen
    plain = list(run_stages([double, pair, lambda a, b: a * b], iter(items), threaded=False))
    assert threaded == plain == [(i, 2 * i * (2 * i + 1)) for i in range(50)]
    assert stage_threads() == []


@pytest.mark.parametrize("where", ["items", "stage"])
def test_an_error_in_any_thread_is_raised_to_the_caller_and_every_thread_ends(where):
    def items():
        for i in range(100):
            if where == "items" and i == 30:
                raise OSError("disk gone")
            yield i, (i,)

    def stage(x):
        if where == "stage" and x == 30:
            raise ValueError("bad block")
        return x

    got = []
    with pytest.raises(OSError if where == "items" else ValueError):
        for _, value in run_stages([stage, stage], items()):
            got.append(value)
    assert got == list(range(30))
    assert stage_threads() == []


def test_a_caller_that_stops_early_stops_the_threads():
    results = run_stages([lambda x: x], ((i, (i,)) for i in range(10**6)))
    assert next(results) == (0, 0)
    results.close()
    assert stage_threads() == []


@pytest.mark.parametrize("rate, output_format", [(48000, "float"), (44100, "pcm16")])
def test_a_file_through_the_threaded_pipeline_equals_one_thread(tiny_model_path, tmp_path, rate,
                                                                output_format):
    from demixui.model.offline import separate_file
    from demixui.model.runtime import load_model

    write_music(tmp_path / "song.wav", 5 * rate + 333, rate=rate)
    model = load_model(tiny_model_path)
    separate_file(model, tmp_path / "song.wav", tmp_path / "one", output_format=output_format, block_frames=8,
                  threaded=False)
    separate_file(model, tmp_path / "song.wav", tmp_path / "many", output_format=output_format,
                  block_frames=8, threaded=True)
    one, one_rate = read_stems(tmp_path / "one" / "song")
    many, many_rate = read_stems(tmp_path / "many" / "song")
    assert one_rate == many_rate == rate and one.shape[1] == 5 * rate + 333
    assert np.abs(one).max() > 0.01
    np.testing.assert_array_equal(one, many)


def test_jobs_separates_several_files_in_worker_processes_with_the_same_stems(tiny_model_path, tmp_path,
                                                                              capsys):
    names = [f"song{i}" for i in range(3)]
    for seed, name in enumerate(names):
        write_music(tmp_path / f"{name}.wav", 30000 + 1000 * seed, seed=seed)
    inputs = [tmp_path / f"{name}.wav" for name in names]
    assert separate(*inputs, "-o", tmp_path / "one", "--model", tiny_model_path, "--jobs", "1") == 0
    capsys.readouterr()
    assert separate(*inputs, "-o", tmp_path / "two", "--model", tiny_model_path, "--jobs", "2") == 0
    out = capsys.readouterr().out
    assert sorted(line.split(" -> ")[0] for line in out.splitlines()) == sorted(map(str, inputs))
    for name in names:
        np.testing.assert_array_equal(read_stems(tmp_path / "one" / name)[0],
                                      read_stems(tmp_path / "two" / name)[0])
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == names  # no temporaries left


def test_the_batch_runs_in_as_many_processes_as_asked(tiny_model_path, tmp_path):
    from demixui.model.batch import separate_in_parallel

    for i in range(3):
        write_music(tmp_path / f"s{i}.wav", 20000, seed=i)
    outcomes, children = [], []

    def on_outcome(outcome):
        outcomes.append(outcome)
        children.append(len(multiprocessing.active_children()))

    left = separate_in_parallel(tiny_model_path, [(i, tmp_path / f"s{i}.wav") for i in range(3)], 2,
                                {"out_root": tmp_path / "out"}, on_outcome)
    assert left == [] and sorted(o.index for o in outcomes) == [0, 1, 2]
    assert all(o.error is None and o.result.output_dir == tmp_path / "out" / f"s{o.index}" for o in outcomes)
    assert children and all(count >= 2 for count in children), children  # the pool's two workers
    assert multiprocessing.active_children() == []


def test_a_bad_file_in_a_parallel_batch_is_one_line_and_the_others_still_separated(tiny_model_path, tmp_path,
                                                                                     capsys):
    write_music(tmp_path / "good.wav", 20000)
    write_music(tmp_path / "fine.wav", 20000, seed=3)
    (tmp_path / "bad.wav").write_text("not audio\n")
    inputs = [tmp_path / name for name in ("good.wav", "bad.wav", "fine.wav")]
    code = separate(*inputs, "-o", tmp_path / "out", "--model", tiny_model_path, "--jobs", "2")
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert sum("bad.wav" in line for line in err.splitlines()) == 1, err
    assert "1 of 3 inputs failed" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fine", "good"]
    for name in ("fine", "good"):
        assert read_stems(tmp_path / "out" / name)[0].shape == (len(STEMS), 20000, 2)


@pytest.mark.parametrize("jobs", ["0", "-1", "two"])
def test_jobs_must_be_a_positive_whole_number(jobs, capsys):
    with pytest.raises(SystemExit) as exit_info:
        separate("a.wav", "-o", "out", "--jobs", jobs)
    assert exit_info.value.code == 2 and "--jobs" in capsys.readouterr().err


def test_sigterm_stops_a_parallel_batch_and_leaves_no_temporaries(tiny_model_path, tmp_path):
    """Real processes and a real signal; a sitecustomize (on the workers' PYTHONPATH too) slows each stem
    write so that the signal lands while both workers write."""
    import signal
    import subprocess
    import sys
    import time

    for name in ("a", "b"):
        write_music(tmp_path / f"{name}.wav", 10 * 44100)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import time, demixui.model.stemwriters as o\n"
        "write = o.StemWriter.write\n"
        "o.StemWriter.write = lambda self, audio: (time.sleep(0.05), write(self, audio))[1]\n")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hooks), repo]))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "demixui", "separate", "--no-progress", "--jobs", "2",
               str(tmp_path / "a.wav"), str(tmp_path / "b.wav"), "-o", str(out), "--model", tiny_model_path]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path) as process:
        try:
            deadline = time.monotonic() + 120
            while not (any(out.glob(".a.*.part/vocals.wav")) and any(out.glob(".b.*.part/vocals.wav"))):
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
            process.send_signal(signal.SIGTERM)
            err = process.communicate(timeout=60)[1]
        finally:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err, err
    assert list(out.iterdir()) == []


def test_a_worker_that_dies_fails_its_files_instead_of_hanging_the_batch(tiny_model_path, tmp_path):
    """SIGKILL (what the OOM killer sends) to a worker in the middle of its file."""
    import signal

    from demixui.model.batch import separate_in_parallel

    for i in range(2):
        write_music(tmp_path / f"s{i}.wav", 240 * 44100, seed=i)
    outcomes, killed = [], []

    def on_progress(index, done, total):
        if not killed:
            victim = multiprocessing.active_children()[0]
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(victim.pid)

    left = separate_in_parallel(tiny_model_path, [(i, tmp_path / f"s{i}.wav") for i in range(2)], 2,
                                {"out_root": tmp_path / "out"}, outcomes.append, on_progress)
    assert killed and left == [] and sorted(o.index for o in outcomes) == [0, 1]
    failed = [o for o in outcomes if o.error is not None]
    assert failed and all("stopped unexpectedly" in o.error and "s" in o.error for o in failed), failed
    assert multiprocessing.active_children() == []


def test_a_stem_file_written_from_two_threads_at_once_reads_back_whole(tmp_path):
    """The pipeline writes a stem file's mixture from its reading thread and the stems from another; FFmpeg's
    muxer (which PyAV runs without the GIL, through one shared packet) must see one at a time."""
    from demixui.mp4audio import read_stem_streams
    from demixui.stemfile import STREAM_NAMES, StemFileWriter
    from tests.aac_files import chirp

    block, nb_blocks = 256, 600
    signals = [0.2 * (i + 1) * chirp(block * nb_blocks, SR, 2).astype(np.float32) for i in range(5)]
    start = threading.Barrier(2)
    errors = []

    def write(writer, indices):
        try:
            start.wait()
            for b in range(nb_blocks):
                for index in indices:
                    writer.write(index, signals[index][b * block:(b + 1) * block])
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    path = tmp_path / "two-threads.stem.mp4"
    with StemFileWriter(path, SR) as writer:
        threads = [threading.Thread(target=write, args=(writer, [0])),
                   threading.Thread(target=write, args=(writer, [1, 2, 3, 4]))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
    decoded, rate = read_stem_streams(path)
    assert rate == SR
    for index, name in enumerate(STREAM_NAMES):
        reference, audio = signals[index], decoded[name]
        assert audio.shape == reference.shape, (name, audio.shape)
        snr = 10 * np.log10(np.sum(reference ** 2) / np.sum((reference - audio) ** 2))
        assert snr > 20, (name, snr)
