"""Training: augmentation, the loss falls, resume continues, export of a run, bad data is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")

from demixui.cli import main  # noqa: E402
from demixui.data.musdb import STEMS, list_tracks  # noqa: E402
from demixui.model.augment import Augmentation, ChunkSampler  # noqa: E402
from demixui.model.checkpoint import BEST, LAST, load_checkpoint  # noqa: E402
from demixui.model.network import CONFIGS  # noqa: E402
from demixui.model.spectral import TrainingStft  # noqa: E402
from demixui.model.training import Trainer, TrainSettings  # noqa: E402
from dsp.stft import StftConfig, stft  # noqa: E402

RATE = 44100


def synthetic_stems(seed: int, seconds: float) -> np.ndarray:
    """(4, n, 2) float32: gliding tone (vocals), noise bursts (drums), low sine (bass), chord (other)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = rng.uniform(300, 600)
    vocals = 0.2 * np.sin(2 * np.pi * f0 * t + 3 * np.sin(2 * np.pi * 5 * t))
    envelope = np.exp(-30 * ((t * rng.uniform(2, 4)) % 1.0))
    drums = 0.3 * envelope * rng.standard_normal(t.size)
    bass = 0.3 * np.sin(2 * np.pi * rng.uniform(45, 90) * t)
    root = rng.uniform(200, 300)
    other = sum(0.08 * np.sin(2 * np.pi * root * r * t) for r in (1.0, 1.26, 1.5))
    mono = np.stack([vocals, drums, bass, other])
    pan = rng.uniform(0.6, 1.0, size=(4, 1, 2))
    return (mono[:, :, None] * pan).astype(np.float32)


def write_musdb(root: Path, nb_tracks: int, seconds: float, seed: int) -> Path:
    for index in range(nb_tracks):
        track = root / f"track{index:02d}"
        track.mkdir(parents=True)
        stems = synthetic_stems(seed + index, seconds)
        for stem, audio in zip(STEMS, stems, strict=True):
            sf.write(track / f"{stem}.wav", audio, RATE, subtype="FLOAT")
        sf.write(track / "mixture.wav", stems.sum(axis=0), RATE, subtype="FLOAT")
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("corpus")
    return write_musdb(base / "train", 3, 3.0, seed=0), write_musdb(base / "valid", 1, 2.0, seed=100)


def test_training_stft_matches_dsp_stft():
    """The network must see in training exactly the magnitudes the runtime's numpy STFT gives it."""
    x = np.random.default_rng(0).standard_normal((5000, 2)).astype(np.float32)
    config = StftConfig(2048, 512)
    expected = stft(x, config)  # (nb_frames, 2, nb_bins)
    got = TrainingStft(config)(torch.from_numpy(x.T.copy())).numpy()  # (nb_frames, 2, nb_bins)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    # float32 FFTs of 2048 points: relative agreement to ~1e-5 of the spectrum's scale
    assert np.max(np.abs(got - expected)) <= 1e-4 * np.max(np.abs(expected))


def test_sdr_loss_is_minus_the_time_domain_sdr_or_a_bit_worse():
    """`spectral_sdr_loss` against `dsp.metrics.sdr` of the resynthesised estimates: a bound on -SDR (the
    ISTFT can only help), and a close one."""
    from demixui.model.training import spectral_sdr_loss, spectral_targets
    from dsp.metrics import sdr
    from dsp.stft import istft

    config = StftConfig()
    stems = synthetic_stems(7, 3.0)  # (4, n, 2)
    targets = TrainingStft(config)(torch.from_numpy(stems).unsqueeze(0).transpose(2, 3)).transpose(1, 2)
    mix = targets.sum(dim=2)
    mix_mag, target_mag, projection = spectral_targets(mix, targets)
    torch.manual_seed(0)
    share = target_mag / (target_mag.sum(dim=2, keepdim=True) + 1e-6)
    for noise, slack in ((0.3, 1.5), (1.5, 4.0)):  # rough masks gain the most from the ISTFT's projection
        masks = torch.softmax(4.0 * share + noise * torch.randn(share.shape), dim=2)
        loss = float(spectral_sdr_loss(masks, mix_mag, target_mag, projection))
        spectra = (masks * mix.unsqueeze(2))[0].numpy().astype(np.complex64)  # (t, 4, 2, f)
        latency = config.latency_samples
        scores = []
        for j in range(4):
            estimate = istft(spectra[:, j], config)[latency:]
            scores.append(sdr(stems[j, : estimate.shape[0]], estimate))
        print(f"noise {noise}: loss {loss:.2f} dB, minus the time-domain SDR {-np.mean(scores):.2f} dB")
        assert -np.mean(scores) - 0.1 <= loss <= -np.mean(scores) + slack, (noise, loss, scores)


def test_augmented_chunks_keep_their_shape_and_vary(corpus):
    train, _ = corpus
    sampler = ChunkSampler(list_tracks(train), 22050, Augmentation())
    rng = np.random.default_rng(0)
    batch = sampler.batch(rng, 3)
    assert batch.shape == (3, 4, 22050, 2) and batch.dtype == np.float32
    assert np.all(np.abs(batch).max(axis=(2, 3)) > 0)  # every stem carries signal
    assert not np.allclose(batch, sampler.batch(rng, 3))


def test_augmentation_swaps_flips_and_scales(tmp_path):
    """Constant stems (left = level, right = level / 2) make every augmentation visible exactly."""
    track = tmp_path / "data" / "dc"
    track.mkdir(parents=True)
    levels = [0.1, 0.2, 0.3, 0.4]
    for stem, level in zip(STEMS, levels, strict=True):
        sf.write(track / f"{stem}.wav", np.tile([[level, level / 2]], (4410, 1)), RATE, subtype="FLOAT")
    sf.write(track / "mixture.wav", np.tile([[1.0, 0.5]], (4410, 1)), RATE, subtype="FLOAT")
    plain = ChunkSampler([track], 1000).sample(np.random.default_rng(0))
    np.testing.assert_allclose(plain[:, :, 0], np.array(levels)[:, None] * np.ones(1000), rtol=1e-6)
    flipped = ChunkSampler([track], 1000, Augmentation(gain_db=(6.0, 6.0), swap_probability=1.0,
                                                       flip_probability=1.0, remix=0.0))
    chunk = flipped.sample(np.random.default_rng(0))
    gain = 10 ** (6 / 20)
    np.testing.assert_allclose(chunk[:, :, 1], -gain * np.array(levels)[:, None] * np.ones(1000), rtol=1e-5)
    np.testing.assert_allclose(chunk[:, :, 0], 0.5 * chunk[:, :, 1], rtol=1e-6)


@pytest.mark.parametrize("loss", ["l1", "sdr"])
def test_loss_goes_down(corpus, tmp_path, loss):
    train, valid = corpus
    torch.manual_seed(0)
    settings = TrainSettings(minutes=5, batch_size=4, chunk_seconds=0.5, learning_rate=3e-3, epoch_steps=40,
                             max_steps=40, valid_seconds=1.0, progress=False, loss=loss)
    trainer = Trainer(tmp_path, CONFIGS["tiny"], ChunkSampler(list_tracks(train), 22050, Augmentation()),
                      list_tracks(valid), settings, torch.device("cpu"), "test corpus")
    trainer.run()
    first, last = np.mean(trainer.losses[:5]), np.mean(trainer.losses[-5:])
    assert len(trainer.losses) == 40
    if loss == "l1":
        assert last < 0.8 * first, (first, last)
    else:  # minus SDR in dB
        assert last < first - 1.0, (first, last)
    assert (tmp_path / LAST).is_file() and (tmp_path / BEST).is_file()
    entry = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])
    assert set(entry["valid_sdr"]) == {*STEMS, "mean"} and np.isfinite(entry["valid_sdr"]["mean"])


def test_train_command_resumes_and_exports(corpus, tmp_path, capsys):
    train, valid = corpus
    run = tmp_path / "run"
    common = ["train", "--data", str(train), "--valid", str(valid), "--out", str(run), "--config", "tiny",
              "--batch-size", "2", "--chunk-seconds", "0.5", "--epoch-steps", "3", "--valid-seconds", "1",
              "--threads", "1", "--no-progress"]
    assert main([*common, "--max-steps", "3"]) == 0
    assert load_checkpoint(run / LAST)["counters"]["step"] == 3
    assert main([*common, "--max-steps", "6"]) == 1  # refuses to overwrite a run without --resume
    assert "--resume" in capsys.readouterr().err
    assert main([*common, "--max-steps", "6", "--resume"]) == 0
    state = load_checkpoint(run / LAST)
    assert state["counters"]["step"] == 6 and state["counters"]["epoch"] == 2
    assert len(state["history"]) == 2

    model_path = tmp_path / "model.onnx"
    assert main(["export", str(run), "-o", str(model_path)]) == 0
    assert model_path.is_file()
    assert main(["export", str(run), "-o", str(model_path)]) == 1  # exists: refused without --overwrite

    from demixui.model.calibrate import main as calibrate

    capsys.readouterr()
    assert calibrate([str(run), "--valid", str(valid), "--temperatures", "1", "1.5", "--seconds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["T=1", "T=1.5"] and "mean=" in lines[1]
    assert lines[-1].startswith("best: --temperature ")
    assert main(["export", str(run), "-o", str(model_path), "--overwrite", "--temperature", "1.5"]) == 0
    assert main(["export", str(run), "-o", str(model_path), "--overwrite", "--temperature", "0"]) == 1


def test_snapshots_average_into_a_checkpoint_that_exports(corpus, tmp_path, capsys):
    """`train --snapshots` keeps the weights at every save; `python -m demixui.model.average` writes their
    mean (checked against the snapshots themselves), which `export` takes; bad inputs are one line."""
    from demixui.model.average import main as average

    train, valid = corpus
    run = tmp_path / "run"
    assert main(["train", "--data", str(train), "--valid", str(valid), "--out", str(run), "--config", "tiny",
                 "--batch-size", "2", "--chunk-seconds", "0.5", "--epoch-steps", "2", "--valid-seconds", "1",
                 "--threads", "1", "--no-progress", "--max-steps", "6", "--snapshots"]) == 0
    snapshots = sorted((run / "snapshots").glob("*.pt"))
    assert [path.name for path in snapshots] == ["step_0000002.pt", "step_0000004.pt", "step_0000006.pt"]
    states = [load_checkpoint(path) for path in snapshots]
    assert "optimizer" not in states[0] and states[2]["counters"]["step"] == 6
    key = "head.weight"
    assert not torch.equal(states[0]["model"][key], states[2]["model"][key])

    output = tmp_path / "average.pt"
    assert average([*map(str, snapshots), "-o", str(output)]) == 0
    assert "the mean of 3 checkpoints (steps 2, 4, 6)" in capsys.readouterr().out
    averaged = load_checkpoint(output)
    expected = sum(state["model"][key] for state in states) / 3
    torch.testing.assert_close(averaged["model"][key], expected, rtol=1e-6, atol=1e-7)
    assert main(["export", str(output), "-o", str(tmp_path / "average.onnx")]) == 0

    capsys.readouterr()
    assert average([str(snapshots[0]), "-o", str(output)]) == 1  # exists
    assert average([str(snapshots[0]), str(tmp_path / "missing.pt"), "-o", str(tmp_path / "x.pt")]) == 1
    other = tmp_path / "other.pt"
    torch.save({**states[0], "config": {**states[0]["config"], "lstm_hidden": 8}}, other)
    assert average([str(snapshots[0]), str(other), "-o", str(tmp_path / "x.pt")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err), err
    assert "exists" in err[0] and "missing.pt" in err[1] and "different networks" in err[2]
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("make_bad", ["missing", "empty", "no_stems"])
def test_bad_data_folder_is_one_line(tmp_path, capsys, make_bad):
    data = tmp_path / "data"
    if make_bad != "missing":
        data.mkdir()
    if make_bad == "no_stems":
        (data / "song").mkdir()
        sf.write(data / "song" / "mixture.wav", np.zeros((100, 2), np.float32), RATE)
    code = main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("demixui: error:") and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_validation_on_stem_files_picks_best_and_prints_the_other_set(corpus, tmp_path, capsys):
    """Real music comes as NI stem files: the first --valid (stem files) picks best.pt, the next is logged."""
    from tests.aac_files import write_aac

    train, valid = corpus
    stem_root = tmp_path / "previews"
    stem_root.mkdir()
    vocals, drums, bass, other = synthetic_stems(7, 1.0)
    write_aac(stem_root / "A - B.stem.mp4", [vocals + drums + bass + other, drums, bass, other, vocals])
    run = tmp_path / "run"
    assert main(["train", "--data", str(train), "--valid", str(stem_root), "--valid", str(valid), "--out",
                 str(run), "--config", "tiny", "--batch-size", "2", "--chunk-seconds", "0.5", "--epoch-steps",
                 "2", "--max-steps", "2", "--threads", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "1 tracks of previews (picks best.pt), 1 of valid" in out, out
    entry = json.loads((run / "log.jsonl").read_text().splitlines()[-1])
    assert np.isfinite(entry["valid_sdr"]["mean"]) and np.isfinite(entry["valid_sdr_valid"]["mean"])
    assert entry["valid_sdr"]["mean"] != entry["valid_sdr_valid"]["mean"]
    assert load_checkpoint(run / BEST)["counters"]["best_sdr"] == pytest.approx(entry["valid_sdr"]["mean"])
    # Never train on the yardstick: a --valid track that is also a --data track is refused.
    assert main(["train", "--data", str(valid), "--valid", str(valid), "--out", str(tmp_path / "r2"),
                 "--config", "tiny", "--max-steps", "1", "--no-progress"]) == 1
