"""Training loop for the separator: random augmented chunks, a spectral loss, validation SDR, checkpoints.

Loss: the masked mixture magnitude against each target stem's magnitude and against its phase-sensitive
projection on the mixture (see `spectral_loss`), L1 both.

Validation: every epoch (one pass's worth of training audio), the middle `valid_seconds` of each held-out
track is separated offline by the same causal network, resynthesised with `dsp.stft.istft`, aligned by
the STFT latency and scored with `dsp.metrics.sdr`; the checkpoint with the best mean SDR is kept as
`best.pt`.
"""

from __future__ import annotations

import functools
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from demixui.data.musdb import STEMS, load_excerpt, track_length
from demixui.model.augment import ChunkSampler
from demixui.model.checkpoint import BEST, LAST, SNAPSHOTS, save_checkpoint
from demixui.model.network import ModelConfig, Separator, load_weights
from demixui.model.spectral import TrainingStft
from demixui.mp4audio import is_stem_file


@dataclass
class TrainSettings:
    minutes: float = 60.0  # wall-clock budget of this invocation, validation included
    batch_size: int = 8
    chunk_seconds: float = 3.0
    learning_rate: float = 1e-3
    checkpoint_minutes: float = 5.0
    valid_seconds: float = 20.0  # scored excerpt per validation track
    max_valid_tracks: int = 8
    epoch_steps: int = 0  # 0: one epoch = as many chunks as the training audio holds
    max_steps: int = 0  # 0: no limit; else stop when the run's step counter reaches it (tests, short runs)
    seed: int = 0
    progress: bool = True
    loss: str = "l1"  # "l1": `spectral_loss`; "sdr": `spectral_sdr_loss`
    snapshots: bool = False  # also keep the weights at every save in snapshots/ (for demixui.model.average)


def spectral_targets(
    mix: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """mix (b, t, 2, f) and targets (b, t, 4, 2, f) complex -> |mix|, |targets|, phase-sensitive targets.

    The phase-sensitive target Re(S conj(X)) / |X| is the projection of each stem onto the mixture's phase:
    the best that a real mask with mix-phase reconstruction can reach, and what maximises SDR.
    """
    mix_mag = mix.abs()
    projection = (targets * mix.conj().unsqueeze(2)).real / mix_mag.unsqueeze(2).clamp_min(1e-8)
    return mix_mag, targets.abs(), projection


def spectral_loss(masks: torch.Tensor, mix_mag: torch.Tensor, target_mag: torch.Tensor,
                  target_projection: torch.Tensor) -> torch.Tensor:
    """masks (b, t, 4, 2, f); the rest from `spectral_targets`. L1 to the magnitudes and to the projections.

    All real-valued with the targets computed without gradient: about three times cheaper on a CPU than an L1
    on complex values, which matters when training on two cores.
    """
    estimate = masks * mix_mag.unsqueeze(2)
    return (estimate - target_mag).abs().mean() + (estimate - target_projection).abs().mean()


def spectral_sdr_loss(masks: torch.Tensor, mix_mag: torch.Tensor, target_mag: torch.Tensor,
                      target_projection: torch.Tensor) -> torch.Tensor:
    """Minus the SDR (dB) of the mix-phase estimates, per stem over the whole batch, averaged over stems.

    With mix phase, stem j's estimate M|X|e^{i phase(X)} misses the target S by (M|X| - P)^2 + (|S|^2 - P^2)
    per bin, P = |S| cos(angle), the projection (the second term is what no real mask can fix). Summed over
    bins that bounds the time-domain squared error from above (our STFT is a tight frame, and the ISTFT's
    overlap-add projects the masked frames onto real signals, which can only bring them closer), so this is
    the metric we report, where the L1 loss only approximates it: L1 favours hard masks, SDR soft ones where
    unsure. Errors and energies are summed over the batch before the ratio, so a stem silent in one chunk
    cannot dominate.
    """
    estimate = masks * mix_mag.unsqueeze(2)
    dims = (0, 1, 3, 4)  # all but the stem axis of (b, t, 4, 2, f)
    error = ((estimate - target_projection) ** 2).sum(dims) + (target_mag**2 - target_projection**2).sum(dims)
    energy = (target_mag**2).sum(dims)
    return (10.0 * torch.log10((error + 1e-6) / (energy + 1e-6))).mean()


LOSSES = {"l1": spectral_loss, "sdr": spectral_sdr_loss}


def learning_rate_at(base: float, progress: float, step: int, warmup_steps: int = 50) -> float:
    """A linear warm-up over this invocation's first steps (a resumed run may bring a fresh optimiser), then
    constant, then a cosine decay to 10% over the last 30% of the time budget (`progress` in [0, 1])."""
    warm = min(1.0, (step + 1) / warmup_steps)
    if progress < 0.7:
        return base * warm
    fraction = min(1.0, (progress - 0.7) / 0.3)
    return base * warm * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * fraction)))


@functools.lru_cache(maxsize=256)
def _stem_file_excerpt(track: Path, seconds: float) -> np.ndarray:
    # A stem file is decoded whole for each excerpt (AAC): keep validation excerpts of such files in memory
    # (87 real previews: about 0.8 GB) rather than decode them again at every epoch.
    return _validation_excerpt(track, seconds)


def _validation_excerpt(track: Path, seconds: float) -> np.ndarray:
    """The middle `seconds` of a track's stems `(4, n, 2)`; a shorter track whole (n = its length)."""
    length = track_length(track)
    nb_samples = min(int(seconds * 44100), length)
    return load_excerpt(track, max(0, (length - nb_samples) // 2), nb_samples)


def validation_sdr(model: Separator, tracks: list[Path], seconds: float, device: torch.device) -> dict:
    """Mean SDR (dB) per stem and overall over the middle `seconds` of each track (offline, causal model);
    a silent stem (see `evaluation.SILENT_MEAN_SQUARE`) is skipped, as `evaluate` skips it."""
    from demixui.model.evaluation import SILENT_MEAN_SQUARE
    from dsp.metrics import sdr
    from dsp.stft import istft, stft

    config = model.config.stft
    latency = config.latency_samples
    scores = {stem: [] for stem in STEMS}
    model.eval()
    for track in tracks:
        excerpt = _stem_file_excerpt if is_stem_file(track) else _validation_excerpt
        stems = excerpt(track, seconds)
        mix = stems.sum(axis=0)
        frames = stft(mix, config)  # (nb_frames, 2, nb_bins)
        with torch.no_grad():
            mag = torch.from_numpy(np.abs(frames)).unsqueeze(0).to(device)
            masks = model(mag)[0].cpu().numpy()  # (nb_frames, 4, 2, nb_bins)
        for index, stem in enumerate(STEMS):
            estimate = istft((masks[:, index] * frames).astype(np.complex64), config)
            usable = estimate.shape[0] - latency
            if usable <= 0 or np.mean(np.square(stems[index], dtype=np.float64)) < SILENT_MEAN_SQUARE:
                continue
            scores[stem].append(float(sdr(stems[index, :usable], estimate[latency:])))
    result = {stem: float(np.mean(values)) if values else float("nan") for stem, values in scores.items()}
    result["mean"] = float(np.mean([result[stem] for stem in STEMS]))
    return result


def initial_model(path: str | Path) -> tuple[Separator, str]:
    """The network a new run starts from (`demixui train --init`) and what it was trained on.

    `path`: a demixui ONNX model file (weights recovered by `onnx_weights.separator_from_onnx`, checked
    against onnxruntime) or a training checkpoint / run folder (weights only:
    its optimiser and counters are ignored).
    """
    from demixui.model.checkpoint import find_checkpoint, load_checkpoint, model_from_checkpoint

    path = Path(path)
    if path.suffix.lower() == ".onnx":
        import onnx

        from demixui.model.onnx_weights import separator_from_onnx

        model = separator_from_onnx(path)
        meta = json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["demixui"])
        version = f" {meta['model_version']}" if meta.get("model_version") else ""
        return model, f"{meta.get('training_data', '')} (model{version}, {path.name})"
    state = load_checkpoint(find_checkpoint(path))
    return model_from_checkpoint(state), f"{state.get('training_data', '')} ({path.name})"


class Trainer:
    """Owns the model, optimiser and counters of one run folder; `run()` trains for the time budget."""

    def __init__(self, run_dir: Path, config: ModelConfig, train: ChunkSampler, valid_tracks: list[Path],
                 settings: TrainSettings, device: torch.device, training_data: str):
        self.run_dir = run_dir
        self.settings = settings
        self.device = device
        self.train = train
        self.valid_tracks = valid_tracks[: settings.max_valid_tracks or None]
        # More validation sets, scored and logged beside the first, which alone picks best.pt (a synthetic
        # set beside the real previews, say).
        self.extra_valid: dict[str, list[Path]] = {}
        self.model = Separator(config).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=settings.learning_rate)
        self.stft = TrainingStft(config.stft).to(device)
        self.counters = {"step": 0, "epoch": 0, "samples_seen": 0, "train_seconds": 0.0,
                         "best_sdr": -math.inf}
        self.history: list[dict] = []
        self.training_data = training_data
        self.losses: list[float] = []  # per step of this invocation (tests read it)

    # -- checkpoints --
    def state(self) -> dict:
        return {"config": self.model.config.to_dict(), "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "counters": dict(self.counters),
                "history": list(self.history), "training_data": self.training_data,
                "settings": asdict(self.settings)}

    def load(self, state: dict) -> None:
        missing = load_weights(self.model, state["model"])
        # A fresh Adam (eased in by the warm-up) when the parameter list changed, or the loss: Adam's moment
        # estimates belong to the old loss's gradient scale.
        if not missing and state.get("settings", {}).get("loss", "l1") == self.settings.loss:
            self.optimizer.load_state_dict(state["optimizer"])
        self.counters.update(state["counters"])
        self.history = list(state.get("history", []))

    def start_from(self, model: Separator) -> None:
        """Copy `model`'s weights into this new run (`--init`); the optimiser and counters stay fresh."""
        if model.config != self.model.config:
            raise ValueError(f"--init network {model.config} differs from the run's {self.model.config}")
        self.model.load_state_dict(model.state_dict())

    def save(self, name: str = LAST) -> None:
        state = self.state()
        save_checkpoint(self.run_dir / name, state)
        if name == LAST and self.settings.snapshots:  # weights only: an Adam state would double the size
            folder = self.run_dir / SNAPSHOTS
            folder.mkdir(exist_ok=True)
            weights = {key: value for key, value in state.items() if key != "optimizer"}
            save_checkpoint(folder / f"step_{self.counters['step']:07d}.pt", weights)

    # -- steps --
    def _to_tensors(self, stems: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """stems (b, 4, n, 2) -> |mix| (b, t, 2, f), |targets| and projections (b, t, 4, 2, f)."""
        with torch.no_grad():
            x = torch.from_numpy(stems).to(self.device).transpose(2, 3)  # (b, 4, 2, n)
            targets = self.stft(x).transpose(1, 2)  # (b, 4, t, 2, f) -> (b, t, 4, 2, f)
            mix = targets.sum(dim=2)  # the STFT is linear: STFT(sum of stems) == sum of stem STFTs
            return spectral_targets(mix, targets)

    def step(self, stems: np.ndarray, lr: float) -> float:
        self.model.train()
        mix_mag, target_mag, projection = self._to_tensors(stems)
        loss = LOSSES[self.settings.loss](self.model(mix_mag), mix_mag, target_mag, projection)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.optimizer.step()
        self.counters["step"] += 1
        self.counters["samples_seen"] += stems.shape[0] * stems.shape[2]
        return float(loss.item())

    def validate(self) -> dict:
        scores = validation_sdr(self.model, self.valid_tracks, self.settings.valid_seconds, self.device)
        entry = {"epoch": self.counters["epoch"], "step": self.counters["step"],
                 "train_seconds": round(self.counters["train_seconds"], 1),
                 "hours_seen": round(self.counters["samples_seen"] / 44100 / 3600, 3),
                 "loss": float(np.mean(self.losses[-50:])) if self.losses else float("nan"),
                 "valid_sdr": scores}
        for label, tracks in self.extra_valid.items():
            entry[f"valid_sdr_{label}"] = validation_sdr(self.model, tracks, self.settings.valid_seconds,
                                                         self.device)
        self.history.append(entry)
        with open(self.run_dir / "log.jsonl", "a") as log:
            log.write(json.dumps(entry) + "\n")
        if scores["mean"] > self.counters["best_sdr"]:
            self.counters["best_sdr"] = scores["mean"]
            self.save(BEST)
        return scores

    def epoch_steps(self) -> int:
        s = self.settings
        if s.epoch_steps:
            return s.epoch_steps
        return max(1, round(self.train.total_samples / (s.batch_size * self.train.nb_samples)))

    def _step_limit_reached(self) -> bool:
        return 0 < self.settings.max_steps <= self.counters["step"]

    def run(self) -> dict:
        """Train until the time budget is spent; returns the last validation scores."""
        s = self.settings
        budget = s.minutes * 60.0
        start = last_save = time.monotonic()
        rng = np.random.default_rng([s.seed, self.counters["step"]])  # resume does not replay the same chunks
        scores: dict = {}
        with ThreadPoolExecutor(max_workers=1) as pool:  # reads the next batch while this one trains
            pending = pool.submit(self.train.batch, rng, s.batch_size)
            while time.monotonic() - start < budget and not self._step_limit_reached():
                steps = self.epoch_steps()
                bar = tqdm(total=steps, desc=f"epoch {self.counters['epoch'] + 1}", unit="step",
                           disable=not s.progress, dynamic_ncols=True, mininterval=2.0)
                for _ in range(steps):
                    elapsed = time.monotonic() - start
                    if elapsed >= budget or self._step_limit_reached():
                        break
                    stems = pending.result()
                    pending = pool.submit(self.train.batch, rng, s.batch_size)
                    step_start = time.monotonic()
                    lr = learning_rate_at(s.learning_rate, elapsed / budget, len(self.losses))
                    loss = self.step(stems, lr)
                    self.counters["train_seconds"] += time.monotonic() - step_start
                    self.losses.append(loss)
                    bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
                    bar.update(1)
                    if time.monotonic() - last_save >= s.checkpoint_minutes * 60.0:
                        self.save()
                        last_save = time.monotonic()
                bar.close()
                self.counters["epoch"] += 1
                scores = self.validate()
                self.save()
                last_save = time.monotonic()
                table = " ".join(f"{k}={v:.2f}" for k, v in scores.items())
                extra = "".join(f"; {label}: mean={self.history[-1][f'valid_sdr_{label}']['mean']:.2f}"
                                for label in self.extra_valid)
                tqdm.write(f"epoch {self.counters['epoch']} step {self.counters['step']} "
                           f"({self.history[-1]['hours_seen']:.2f} h seen): "
                           f"loss {self.history[-1]['loss']:.4f}, valid SDR dB: {table}{extra}")
            pending.cancel()
        return scores
