"""Stem outputs and the cue bus through the null backend: every channel compared with offline separation.

Layout (routing.py): 1-2 the remix, 3-10 the stems post-fader, 11-12 the cue bus (cued stems, pre-fader).
The null-fast backend renders every block as soon as the worker has separated it, so each channel can be
held to the offline stems sample for sample; a stalled model shows what each output plays on the dry mix.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from test_engine import LATENCY, SR, mixdown, music, play_to_end
from test_engine_fallback import SlowModel
from test_engine_fallback import play_to_end as play_slowly
from test_engine_native import Control, _Status, file_session

from demixui.engine import Engine, native
from demixui.engine.playback import CALLBACK_ENV
from demixui.engine.routing import OutputLayout, parse_cue
from demixui.errors import DemixError, DeviceError

EVERY_OUTPUT = OutputLayout(stem_outputs=True, cue_bus=True)


@pytest.fixture(scope="module")
def model(tiny_model_path):
    from demixui.model.runtime import load_model

    return load_model(tiny_model_path)


@pytest.fixture(scope="module")
def track(tmp_path_factory, model):
    from demixui.model.offline import separate_array

    mix = music(2.0, seed=3)
    path = tmp_path_factory.mktemp("outputs") / "track.wav"
    sf.write(path, mix, SR, subtype="FLOAT")
    return path, mix, separate_array(model, mix)


def test_layouts_name_their_channels_and_refuse_a_small_device():
    assert OutputLayout().channels == 2 and OutputLayout().describe() == "remix 1-2"
    assert OutputLayout(cue_bus=True).describe() == "remix 1-2, cue 3-4"
    assert EVERY_OUTPUT.channels == 12
    assert EVERY_OUTPUT.describe() == ("remix 1-2, vocals 3-4, drums 5-6, bass 7-8, other 9-10, cue 11-12")
    EVERY_OUTPUT.check_device("big card", 12)
    with pytest.raises(DeviceError) as error:
        EVERY_OUTPUT.check_device("system (JACK Audio Connection Kit)", 2)
    assert str(error.value) == (
        "output device system (JACK Audio Connection Kit) has 2 output channels; remix 1-2, vocals 3-4, "
        "drums 5-6, bass 7-8, other 9-10, cue 11-12 need 12 (choose a device with more channels, or fewer "
        "outputs)")
    assert parse_cue(["bass", "vocals"]) == ("vocals", "bass")
    with pytest.raises(DemixError, match="cannot cue 'guitar'"):
        parse_cue(["guitar"])


@pytest.mark.parametrize("blocksize", [64, 4096])
def test_every_output_is_its_offline_stems(model, track, blocksize):
    """The remix as before; each stem output its stem times its fader (the muted bass silent); the cue bus
    the cued stems at unity, the muted bass included (pre-fader)."""
    path, mix, stems = track
    with Engine(model=model, backend="null-fast", blocksize=blocksize, capture=True,
                outputs=EVERY_OUTPUT) as engine:
        engine.set_gain_db("vocals", -6.0)
        engine.set_gain_db("drums", 3.0)
        engine.set_mute("bass", True)
        engine.set_cue("vocals", True)
        engine.set_cue("bass", True)
        engine.open_file(path)
        out = play_to_end(engine)
        snap = engine.snapshot()
    assert snap.app_underruns == 0 and snap.cued == (True, False, True, False)
    assert snap.outputs == EVERY_OUTPUT.describe()
    assert out.shape[1] == 12
    gains = np.array([10 ** (-6 / 20), 10 ** (3 / 20), 0.0, 1.0], np.float32)
    played = out[LATENCY:LATENCY + len(mix)]
    np.testing.assert_allclose(played[:, :2], mixdown(stems, gains), atol=2e-5, rtol=0)
    for i in range(4):
        np.testing.assert_allclose(played[:, 2 + 2 * i:4 + 2 * i], stems[:, i] * gains[i], atol=2e-5, rtol=0)
    assert np.abs(played[:, 6:8]).max() == 0.0  # the muted bass's own output
    cue = stems[:, 0] + stems[:, 2]
    assert np.abs(stems[:, 2]).max() > 0.05  # the bass is there to be heard in the cue
    np.testing.assert_allclose(played[:, 10:12], cue, atol=2e-5, rtol=0)
    # Post-fader stem outputs add up to the remix, in the callback's order of summation (after the transport's
    # fade-in, which scales the sum and the terms: rounding differs there).
    direct = out[256:]
    np.testing.assert_array_equal(direct[:, 2:4] + direct[:, 4:6] + direct[:, 6:8] + direct[:, 8:10],
                                  direct[:, :2])


def test_outputs_change_while_playing(model, track):
    """set_outputs reopens the output with more channels (a cue bus) while playing, and back."""
    path, mix, stems = track
    with Engine(model=model, backend="null-fast", blocksize=256, capture=True) as engine:
        engine.set_cue("drums", True)
        engine.open_file(path)
        engine.play()
        engine.set_outputs(OutputLayout(cue_bus=True))
        assert engine.outputs.channels == 4 and engine.output.channels == 4
        out = play_to_end(engine)
        engine.set_outputs(OutputLayout())
        assert engine.snapshot().outputs == "remix 1-2" and engine.output.channels == 2
    assert out.shape[1] == 4
    cue = out[LATENCY:LATENCY + len(mix), 2:4]
    heard = np.flatnonzero(np.abs(cue - stems[:, 1]).max(axis=1) < 2e-5)
    assert len(heard) > len(mix) // 2  # the drums, from when the cue bus opened to the end
    np.testing.assert_allclose(cue[heard[0]:], stems[heard[0]:, 1], atol=2e-5, rtol=0)


@pytest.mark.parametrize("kind", ["native", "python"])
def test_a_stem_cued_while_playing_ramps_in_over_the_gain_ramp(kind, monkeypatch):
    """Both callbacks: the cue weight of a stem switched on rises linearly over the ramp (5 ms), no jump."""
    if kind == "native" and native.load()[0] is None:
        pytest.skip(native.load()[1])
    monkeypatch.setenv(CALLBACK_ENV, kind)
    control = Control()
    playback = control.playback
    playback.set_layout(OutputLayout(cue_bus=True))
    session, stems = file_session(np.random.default_rng(1), 20000, 20000)
    control.publish(session)
    control.play(True)
    block = np.zeros((1024, 4), np.float32)
    for _ in range(2):
        playback.callback(block, 1024, None, _Status())
    assert np.abs(block[:, 2:]).max() == 0.0  # nothing cued yet
    control.cue([0.0, 1.0, 0.0, 0.0])
    playback.callback(block, 1024, None, _Status())
    ramp = playback.ramp
    weight = np.minimum(np.arange(1, 1025, dtype=np.float32) / ramp, 1.0)[:, None]
    np.testing.assert_allclose(block[:, 2:], stems[2048:3072, 2:4] * weight, atol=1e-6, rtol=0)
    assert session.play_position == 3072


@pytest.mark.parametrize("cued, stand_in", [(("vocals", "drums", "bass", "other"), "mix"),
                                            (("bass",), "silence")])
def test_on_the_dry_mix_stem_outputs_fall_silent_and_a_full_cue_plays_the_mix(tiny_model_path, tmp_path,
                                                                              cued, stand_in):
    """A stalled model never delivers stems: the remix plays the dry mix; a stem output has no stand-in (one
    stem cannot be made from the mix), nor has a cue of some stems; a cue of every stem is the mix."""
    from demixui.model.runtime import load_model

    slow = SlowModel(load_model(tiny_model_path))
    slow.stall = 2.0
    mix = (0.3 * np.sin(2 * np.pi * 330 * np.arange(SR) / SR))[:, None].repeat(2, 1).astype(np.float32)
    sf.write(tmp_path / "tone.wav", mix, SR, subtype="FLOAT")

    def setup(engine: Engine) -> None:
        engine.set_outputs(EVERY_OUTPUT)
        engine.set_mute("vocals", True)  # muted: the cue (pre-fader) has it all the same
        for stem in cued:
            engine.set_cue(stem, True)

    snap, out, offset = play_slowly(slow, tmp_path / "tone.wav", setup=setup)
    out = out[offset:][LATENCY:LATENCY + len(mix)]
    assert snap.app_underruns > 0 and snap.wet == 0.0 and out.shape[1] == 12
    assert np.abs(out[:, :2]).max() == 0.0  # the remix's stand-in with vocals muted: silence
    assert np.abs(out[:, 2:10]).max() == 0.0
    expected = mix if stand_in == "mix" else 0.0 * mix
    np.testing.assert_allclose(out[:, 10:12], expected, atol=1e-6)
