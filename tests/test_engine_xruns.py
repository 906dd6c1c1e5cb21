"""`python -m demixui.engine.xruns`: the underrun measurement runs end to end on a JACK dummy server (a short
run; the figures in BENCHMARKS.md come from long ones)."""

from __future__ import annotations

import json

import pytest

from demixui.engine import xruns


@pytest.mark.slow
def test_xruns_measures_the_silent_client_and_the_app_under_a_busy_thread(tiny_model_path, tmp_path, capsys):
    from conftest import require_executable

    require_executable("jackd")  # a skip locally where it is missing, a failure in CI
    require_executable("jack_wait")
    out = tmp_path / "rows.json"
    assert xruns.main(["--seconds", "2", "--rounds", "2", "--warmup", "1", "--blocks", "128", "--scenarios",
                       "silent,busy,busyproc", "--model", tiny_model_path, "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(r["blocksize"], r["scenario"]) for r in rows] == [(128, "silent"), (128, "busy"),
                                                               (128, "busyproc")], rows
    silent, busy, busyproc = rows
    assert not any(row.get("error") for row in rows), rows
    assert busyproc["callback"] == "python (zeros), a busy process beside it", rows
    assert busy["callback"] == "native (numba)" and busy["app_underruns"] == 0, rows
    assert busy["rounds"] == 2 and busy["seconds"] == 2.0, rows  # two rounds of 1 s, summed
    # Two seconds of 128-sample blocks are ~690 callbacks: the busy thread did not starve the callback.
    assert busy["callbacks"] >= 0.9 * 2 * 44100 / 128, rows
    # Each client played beside the silent client on the same server; the server's log was read for both.
    for row in rows:
        assert all(row[key] >= 0 for key in ("late_own", "late_beside", "late_server")), row
        assert row["beside_first"] == 1, row  # it joined first in one round of two
    table = capsys.readouterr().out
    assert "headless + busy thread" in table and "load 1/5 min" in table and "late cycles" in table
    assert "busy-process floor + 1" in table  # the busy row is read against the busy process's floor too


@pytest.mark.slow
def test_xruns_without_a_client_beside_reads_the_app_against_the_silent_row(tiny_model_path, tmp_path):
    from conftest import require_executable

    require_executable("jackd")
    require_executable("jack_wait")
    out = tmp_path / "rows.json"
    assert xruns.main(["--seconds", "1", "--warmup", "1", "--blocks", "256", "--scenarios", "silent,headless",
                       "--no-beside", "--model", tiny_model_path, "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [row["scenario"] for row in rows] == ["silent", "headless"], rows
    assert not any(row.get("error") for row in rows), rows
    assert not any("late_own" in row for row in rows), rows
    assert rows[1]["app_underruns"] == 0 and rows[1]["callbacks"] >= 0.9 * 44100 / 256, rows


def test_the_chance_of_more_underruns_than_the_client_beside_is_the_binomial_tail():
    assert xruns.more_than_beside_p(0, 0) == 1.0
    assert xruns.more_than_beside_p(0, 7) == 1.0
    assert xruns.more_than_beside_p(5, 0) == 1 / 32
    assert xruns.more_than_beside_p(3, 3) == pytest.approx(42 / 64)  # C(6,3..6) = 20 + 15 + 6 + 1
    assert xruns.more_than_beside_p(26, 19) > 0.05 > xruns.more_than_beside_p(30, 10)


def test_the_server_log_names_the_late_clients():
    lines = ["JackTimedDriver::Process XRun = 23 usec",
             "JackEngine::XRun: client = PortAudio was not finished, state = Triggered",
             "JackAudioDriver::ProcessGraphAsyncMaster: Process error",
             "JackEngine::XRun: client = PortAudio-01 was not finished, state = Running",
             "JackEngine::XRun: client = PortAudio-01 was not finished, state = Triggered",
             "JackEngine::XRun: client = PortAudio-02 was not finished, state = Triggered"]
    counts = xruns.late_counts(lines, beside="PortAudio")
    assert counts == {"late_own": 3, "late_beside": 1, "late_server": 1}, counts


@pytest.mark.slow
def test_the_server_keeps_its_log_and_lists_its_clients():
    """A real late client: one that sleeps 20 ms in its callback makes the server name it in its log."""
    import subprocess
    import sys
    import time

    from conftest import require_executable

    require_executable("jackd")
    require_executable("jack_lsp")
    late = ("import time, sounddevice as sd\n"
            "def callback(outdata, frames, time_info, status):\n"
            "    outdata.fill(0); time.sleep(0.02)\n"
            "with sd.OutputStream(samplerate=44100, blocksize=256, device='system JACK', channels=2,\n"
            "                     callback=callback):\n"
            "    print('playing', flush=True); time.sleep(2)\n")
    server = xruns.JackDummy(256)
    try:
        start = time.monotonic()
        client = subprocess.Popen([sys.executable, "-c", late], env=server.env, stdout=subprocess.PIPE,
                                  text=True)
        assert client.stdout.readline().strip() == "playing"
        names = server.client_names()
        client.wait(30)
        client.stdout.close()
        lines = server.log_since(start, time.monotonic())
    finally:
        server.stop()
    assert len(names) == 1, names
    counts = xruns.late_counts(lines, beside="someone else")
    assert counts["late_own"] > 10, lines  # a 20 ms callback in a 5.8 ms cycle: late in most cycles
    assert xruns.late_counts(lines, beside=names[0])["late_beside"] == counts["late_own"], lines


def test_a_row_beside_a_silent_client_is_read_against_it():
    row = {"blocksize": 128, "startup_underruns": 0, "callbacks": 1, "load": [0, 0, 0], "callback": "native",
           "scenario": "headless", "app_underruns": 0, "device_underruns": 9, "late_own": 4, "late_server": 2}
    line = xruns.table([{**row, "late_beside": 3}], 60, 2).splitlines()[3]
    assert " met " in line and "0.50" in line, line  # 4 <= 3 + 1; P(X >= 4 | 7 at 1/2) = 64/128
    line = xruns.table([{**row, "late_beside": 2}], 60, 2).splitlines()[3]
    assert "missed" in line, line
    line = xruns.table([{**row, "late_beside": 3, "app_underruns": 1}], 60, 2).splitlines()[3]
    assert "missed" in line, line


def test_the_busy_row_is_read_against_both_floors():
    row = {"blocksize": 64, "startup_underruns": 0, "callbacks": 1, "load": [0, 0, 0], "callback": "native"}
    rows = [{**row, "scenario": "silent", "device_underruns": 1, "app_underruns": None},
            {**row, "scenario": "busy", "device_underruns": 3, "app_underruns": 0},
            {**row, "scenario": "busyproc", "device_underruns": 4, "app_underruns": None}]
    busy_line = xruns.table(rows, 60, 2).splitlines()[3]
    assert "missed" in busy_line and "within the busy-process floor + 1" in busy_line, busy_line
    rows[2]["device_underruns"] = 1
    assert "above the busy-process floor + 1" in xruns.table(rows, 60, 2).splitlines()[3]
