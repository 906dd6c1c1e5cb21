"""`demixui bench`: the quick run end to end on the tiny model, the timing rules, and bad input.

Speed figures are printed by the bench, never asserted against thresholds here; these tests check that every
row is there with finite numbers or an explicit reason, and that the rules behind the figures hold.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import sys

import numpy as np
import pytest
import soundfile as sf

from demixui.bench.peer_import import placeholders_for
from demixui.bench.table import TABLES, Row, render_markdown, render_text
from demixui.bench.timing import smallest_realtime_chunk
from demixui.cli import main
from tests.conftest import REQUIRE_ALL

RATE = 44100
PEER_TITLES = ("Open-Unmix umxl (BLSTM)", "Open-Unmix umxl, unidirectional LSTM", "HTDemucs (Demucs v4)",
               "HS-TasNet")


def write_test_set(root, nb_tracks=1, seconds=3.0):
    """A tiny MUSDB18-HQ-layout folder: random stereo stems (seed 0) and their sum as the mixture."""
    rng = np.random.default_rng(0)
    n = int(seconds * RATE)
    for index in range(nb_tracks):
        track = root / f"track{index}"
        track.mkdir(parents=True)
        stems = {}
        for k, stem in enumerate(("vocals", "drums", "bass", "other")):
            tone = np.sin(2 * np.pi * (110 * (k + 1)) * np.arange(n) / RATE)
            stems[stem] = (0.1 * tone[:, None] + 0.05 * rng.standard_normal((n, 2))).astype(np.float32)
            sf.write(track / f"{stem}.wav", stems[stem], RATE, subtype="FLOAT")
        sf.write(track / "mixture.wav", sum(stems.values()), RATE, subtype="FLOAT")
    return root


def check_rows(rows):
    """Every row: each column of its table is a finite number, or the row says why not."""
    for row in rows:
        columns = [key for key, _, _ in TABLES[row["table"]][1]]
        assert set(row["figures"]) == set(columns), row
        values = row["figures"].values()
        complete = all(isinstance(v, int | float) and math.isfinite(v) for v in values)
        assert complete or (isinstance(row["reason"], str) and row["reason"].strip()), row
        for value in values:
            assert value is None or math.isfinite(value), row


@pytest.mark.slow
def test_quick_bench_writes_every_row(tiny_model_path, tmp_path, capsys):
    test_set = write_test_set(tmp_path / "test")
    out_json, out_md = tmp_path / "bench.json", tmp_path / "BENCHMARKS.md"
    code = main(["bench", "--quick", "--model", tiny_model_path, "--test-set", str(test_set),
                 "--json", str(out_json), "--markdown", str(out_md)])
    assert code == 0
    report = json.loads(out_json.read_text())
    rows = report["rows"]
    check_rows(rows)
    by_name = {(row["table"], row["name"]): row for row in rows}

    ours = by_name[("speed", "demixui (tiny.onnx)")]
    assert ours["reason"] is None, ours
    # Min RT latency = chunk + overlap (n_fft - hop = 1536 samples) + compute, by the rule in timing.py.
    figures = ours["figures"]
    assert figures["overlap_ms"] == pytest.approx(1000 * 1536 / RATE)
    assert figures["min_latency_ms"] == pytest.approx(
        figures["chunk_ms"] + figures["overlap_ms"] + figures["chunk_compute_ms"])
    detail = by_name[("ours", "demixui (tiny.onnx)")]
    assert detail["reason"] is None, detail
    assert detail["figures"]["latency_ms"] == pytest.approx(1000 * 1536 / RATE)
    hop = detail["figures"]
    assert hop["hop_p50_pct"] <= hop["hop_p99_pct"] <= hop["hop_max_pct"]

    for title in PEER_TITLES:  # every peer has a row, measured or not
        assert ("speed", title) in by_name
    hs_tasnet = by_name[("speed", "HS-TasNet")]
    if importlib.util.find_spec("hs_tasnet") is not None or REQUIRE_ALL:
        assert hs_tasnet["figures"]["params_m"] == pytest.approx(50.16, abs=0.01), hs_tasnet
        assert hs_tasnet["figures"]["offline_rtf"] > 0
        assert any("random weights" in note for note in hs_tasnet["notes"])
        assert any(item["peer"] == "HS-TasNet" for item in report["headlines"])
    assert "--quick" in by_name[("speed", "HTDemucs (Demucs v4)")]["reason"]

    engine = [row for row in rows if row["table"] == "engine"]
    assert [row["name"] for row in engine] == ["block 128", "block 256", "block 512", "block 1024"]
    if importlib.util.find_spec("demixui.engine.benchmark") is not None:
        for row in engine:
            assert row["reason"] is None, row

    live = [row["name"] for row in rows if row["table"] == "live"]  # the bundled models, block 128 (quick)
    assert live == ["default.onnx, block 128", "live.onnx, block 128", "HS-TasNet (published)"], live
    compute = [row["name"] for row in rows if row["table"] == "live-compute"]
    assert compute == ["default.onnx", "live.onnx"], compute

    quality = {row["name"].split(":")[0]: row for row in rows if row["table"] == "quality"}
    assert set(quality) == {"floor", "demixui (tiny.onnx)", "ceiling"}
    for row in quality.values():
        assert row["reason"] is None, row
    assert quality["floor"]["figures"]["mean"] < quality["ceiling"]["figures"]["mean"]

    markdown = out_md.read_text()
    assert report["command"] in markdown and report["command"].startswith("demixui bench --model")
    assert report["machine"]["cpu"] in markdown
    printed = capsys.readouterr().out
    assert "Speed and latency" in printed and "HS-TasNet" in printed


def test_smallest_realtime_chunk_bisects_the_ladder():
    ladder = [512 * 2**i for i in range(8)]
    calls = []

    def measure(chunk):  # 20 ms per call plus 0.5 s of compute per second of audio
        calls.append(chunk)
        return 0.020 + 0.5 * chunk / RATE

    result = smallest_realtime_chunk(measure, ladder, overlap_samples=1536, sample_rate=RATE)
    # 0.020 + 0.5 C/RATE <= C/RATE  <=>  C >= 0.040 s = 1764 samples: the first rung at or above is 2048.
    assert result.chunk_samples == 2048
    assert result.latency_seconds == pytest.approx((2048 + 1536) / RATE + 0.020 + 0.5 * 2048 / RATE)
    assert calls[0] == ladder[-1] and len(calls) <= 4
    assert result.reason is None


def test_a_system_that_never_keeps_up_says_so():
    result = smallest_realtime_chunk(lambda chunk: 2.0 * chunk / RATE, [512, 1024, 2048], 0, RATE)
    assert result.chunk_samples is None and result.latency_seconds is None
    assert "cannot keep up" in result.reason


def test_placeholder_modules_raise_when_used_and_leave_no_trace():
    name = "demixui_test_absent_pkg"
    with placeholders_for([f"{name}.io", "numpy"]) as replaced:
        module = importlib.import_module(f"{name}.io")
        load = module.load
        assert replaced == [name]  # numpy is installed: left alone
    assert name not in sys.modules and f"{name}.io" not in sys.modules
    with pytest.raises(RuntimeError, match="not installed"):
        load("song.wav")


def test_rows_drop_non_finite_figures_and_tables_show_reasons():
    row = Row("speed", "peer", {"params_m": 1.5, "offline_rtf": float("nan")}, reason="cannot keep up")
    assert row.to_json()["figures"]["offline_rtf"] is None
    assert row.to_json()["figures"]["params_m"] == 1.5
    text, markdown = render_text([row]), render_markdown([row])
    assert "peer: cannot keep up" in text and "**peer**: cannot keep up" in markdown


@pytest.mark.parametrize("argv, message", [
    (["--model", "/nonexistent/model.onnx", "--quick", "--peers", "none"], "model"),
    (["--audio", "/nonexistent/song.wav", "--quick"], "no such file"),
    (["--seconds", "0", "--quick"], "--seconds must be positive"),
])
def test_bad_input_is_one_line_and_exit_1(argv, message, capsys):
    assert main(["bench", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("demixui: error:") and message in err[-1], err


@pytest.mark.parametrize("argv", [["--blocksizes", "100"], ["--peers", "wavenet"]])
def test_bad_option_values_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", *argv])
    assert exit_info.value.code == 2
    assert "bench" in capsys.readouterr().err


def test_headlines_are_peer_over_ours():
    from demixui.bench.suite import headlines

    ours = Row("speed", "demixui (m.onnx)", {"offline_rtf": 0.05, "min_latency_ms": 50.0})
    peer = Row("speed", "Peer A", {"offline_rtf": 0.5, "min_latency_ms": 500.0})
    slow = Row("speed", "Peer B", {"offline_rtf": 1.5}, reason="cannot keep up on one thread here")
    absent = Row("speed", "Peer C", {}, reason="cannot import its package")
    items = {item["peer"]: item for item in headlines([ours, peer, slow, absent])}
    assert items["Peer A"]["latency_ratio"] == pytest.approx(10.0)
    assert items["Peer A"]["compute_ratio"] == pytest.approx(10.0)
    assert "cannot run in real time" in items["Peer B"]["text"] and "latency_ratio" not in items["Peer B"]
    assert "Peer C" not in items


def test_a_new_bench_document_keeps_sections_other_tools_wrote():
    from demixui.bench.document import kept_sections

    previous = ("# Benchmarks\n\n## Headline ratios\n\n- old\n\n## Tables\n\n| a |\n\n## Method\n\nrules\n\n"
                "## Clicks under load: device underruns\n\n| client | underruns |\n| silent | 3 |\n")
    kept = kept_sections(previous)
    assert kept.startswith("## Clicks under load") and "| silent | 3 |" in kept
    assert "old" not in kept and "rules" not in kept
    assert kept_sections("# Benchmarks\n\n## Tables\n\n| a |\n") == ""


def test_cores_only_measures_separate_per_core_count_and_replaces_only_its_section(tiny_model_path,
                                                                                    tmp_path, capsys):
    from demixui.bench.cores import SECTION, allowed_cores, core_counts

    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text("# Benchmarks\n\n## Tables\n\nold tables\n\n## Clicks under load\n\nkept\n")
    audio = tmp_path / "a.wav"
    sf.write(str(audio), 0.1 * np.random.default_rng(0).standard_normal((RATE, 2)).astype(np.float32), RATE)
    for _ in range(2):  # the second run replaces the first run's section
        assert main(["bench", "--cores-only", "--cores-seconds", "1", "--model", tiny_model_path, "--audio",
                     str(audio), "--json", str(tmp_path / "b.json"), "--markdown", str(markdown)]) == 0
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    check_rows(rows)
    counts = core_counts(len(allowed_cores()))
    nb_files = 2 * max(2, len(allowed_cores()))
    assert [row["name"] for row in rows] == ([f"one file of 1 s, --jobs {n}" for n in counts]
                                             + [f"{nb_files} files of 1 s, --jobs {n}" for n in counts])
    for row in rows:
        assert row["table"] == "cores" and row["reason"] is None, row
        figures = row["figures"]
        assert figures["speed_x"] * figures["wall_rtf"] == pytest.approx(1.0)
        assert figures["load_1min"] >= 0
    assert rows[0]["figures"]["scaling"] == rows[len(counts)]["figures"]["scaling"] == 1.0
    text = markdown.read_text()
    assert text.count(f"## {SECTION}") == 1
    assert "old tables" in text and "## Clicks under load\n\nkept" in text
    assert "--cores-only" in text and "| one file of 1 s, --jobs 1 | 1 |" in text
    assert "CPU per stage over 1 s, one thread: STFT" in text and "bounds one file's pipeline at" in text
    assert "Offline separation per number of cores" in capsys.readouterr().out


def test_core_counts_double_up_to_every_core():
    from demixui.bench.cores import core_counts

    assert core_counts(1) == [1]
    assert core_counts(2) == [1, 2]
    assert core_counts(6) == [1, 2, 4, 6]
    assert core_counts(8) == [1, 2, 4, 8]


def test_live_only_runs_each_model_and_block_on_jack_and_replaces_only_its_section(
        tiny_model_path, tiny_live_model_path, tmp_path, capsys):
    """Issue 14: per model and block size, the latency split, hop times against the budget and underruns of
    live input through the app on a JACK dummy server (real PortAudio streams); HS-TasNet as the peer."""
    from conftest import require_executable

    from demixui.bench.live import SECTION

    require_executable("jackd")
    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text("# Benchmarks\n\n## Tables\n\nold tables\n\n## Clicks under load\n\nkept\n")
    for _ in range(2):  # the second run replaces the first run's section
        assert main(["bench", "--live-only", "--live-model", tiny_model_path, "--live-model",
                     tiny_live_model_path, "--live-blocksizes", "64,128", "--live-seconds", "1",
                     "--json", str(tmp_path / "b.json"), "--markdown", str(markdown)]) == 0
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    check_rows(rows)
    # Each model's compute per hop alone (CPU time, one hop per call), then the JACK rows.
    compute = [row for row in rows if row["table"] == "live-compute"]
    assert [row["name"] for row in compute] == ["tiny.onnx", "tiny-live.onnx"]
    for row in compute:
        figures = row["figures"]
        assert row["reason"] is None and 0 < figures["hop_p50_pct"] <= figures["hop_p99_pct"], row
        assert figures["hop_p99_pct"] <= figures["hop_max_pct"] and figures["hops"] > 100, row
    assert compute[1]["figures"]["hop_budget_ms"] == pytest.approx(1000 * 128 / RATE)
    rows = [row for row in rows if row["table"] == "live"]
    names = [row["name"] for row in rows]
    assert names == ["tiny.onnx, block 64", "tiny-live.onnx, block 64", "tiny.onnx, block 128",
                     "tiny-live.onnx, block 128", "HS-TasNet (published)"]
    for row in rows[:-1]:
        assert row["table"] == "live" and row["reason"] is None, row
        figures = row["figures"]
        assert figures["model_buffer_ms"] == pytest.approx(figures["model_ms"] + figures["buffer_ms"])
        assert figures["device_ms"] > 0 and figures["hop_p50_pct"] <= figures["hop_p99_pct"]
    live_64, live_128 = rows[1], rows[3]
    assert live_64["figures"]["model_ms"] == pytest.approx(1000 * 384 / RATE)  # n_fft 512 - hop 128
    assert live_64["figures"]["hop_budget_ms"] == pytest.approx(1000 * 128 / RATE)
    # The least buffer meets the target (20 ms at block 128; block 64 gets the same time for the worker, in
    # more blocks, live.py); a busy machine may grow it (said in a note), never below it.
    for row, target in ((live_64, 20.0), (live_128, 20.0)):
        least = row["raw"]["least_buffer_ms"]
        assert row["figures"]["model_ms"] + least <= target and row["figures"]["buffer_ms"] >= least - 1e-6
        grew = row["figures"]["buffer_ms"] > least + 1e-6
        assert grew == any("grew from its least" in note for note in row["notes"]), row
    assert rows[-1]["figures"]["model_ms"] == pytest.approx(23.2) and rows[-1]["reason"]
    text = markdown.read_text()
    assert text.count(f"## {SECTION}") == 1
    assert "old tables" in text and "## Clicks under load\n\nkept" in text
    assert "--live-only" in text and "| tiny-live.onnx, block 64 | 8.7 | " in text
    assert "### Compute per model hop" in text and "| tiny-live.onnx | 2.90 | " in text
    assert "Live input, JACK dummy server" in capsys.readouterr().out


def test_the_live_model_is_scored_beside_the_default_with_its_own_ceiling(tmp_path):
    from demixui.assets import LIVE_MODEL, asset_path
    from demixui.bench.quality import measure_quality

    test_set = write_test_set(tmp_path / "test")
    rows = measure_quality(asset_path(LIVE_MODEL), test_set, 1, beside=True)
    assert [row.name for row in rows] == ["demixui (live.onnx)",
                                          "ceiling: oracle ratio mask at live.onnx's STFT (512/128)"], rows
    model, ceiling = rows
    assert model.reason is None and ceiling.reason is None, rows
    assert model.figures["mean"] < ceiling.figures["mean"], rows
    missing = measure_quality(tmp_path / "absent.onnx", test_set, 1, beside=True)
    assert len(missing) == 1 and missing[0].reason == "no such model file"
