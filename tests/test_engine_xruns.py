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
    assert xruns.main(["--seconds", "2", "--rounds", "2", "--warmup", "1", "--blocks", "128",
                       "--scenarios", "silent,busy", "--model", tiny_model_path, "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(r["blocksize"], r["scenario"]) for r in rows] == [(128, "silent"), (128, "busy")], rows
    silent, busy = rows
    assert not silent.get("error") and not busy.get("error"), rows
    assert busy["callback"] == "native (numba)" and busy["app_underruns"] == 0, rows
    assert busy["rounds"] == 2 and busy["seconds"] == 2.0, rows  # two rounds of 1 s, summed
    # Two seconds of 128-sample blocks are ~690 callbacks: the busy thread did not starve the callback.
    assert busy["callbacks"] >= 0.9 * 2 * 44100 / 128, rows
    table = capsys.readouterr().out
    assert "headless + busy thread" in table and "load 1/5 min" in table
