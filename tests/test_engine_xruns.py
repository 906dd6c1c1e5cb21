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
    table = capsys.readouterr().out
    assert "headless + busy thread" in table and "load 1/5 min" in table
    assert "busy-process floor + 1" in table  # the busy row is read against the busy process's floor too


def test_the_busy_row_is_read_against_both_floors():
    row = {"blocksize": 64, "startup_underruns": 0, "callbacks": 1, "load": [0, 0, 0], "callback": "native"}
    rows = [{**row, "scenario": "silent", "device_underruns": 1, "app_underruns": None},
            {**row, "scenario": "busy", "device_underruns": 3, "app_underruns": 0},
            {**row, "scenario": "busyproc", "device_underruns": 4, "app_underruns": None}]
    busy_line = xruns.table(rows, 60, 2).splitlines()[3]
    assert "missed" in busy_line and "within the busy-process floor + 1" in busy_line, busy_line
    rows[2]["device_underruns"] = 1
    assert "above the busy-process floor + 1" in xruns.table(rows, 60, 2).splitlines()[3]
