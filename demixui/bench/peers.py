"""The peers: published separation networks built from their own packages with random weights, timed on CPU.

No pretrained weights are needed to time an architecture, and none can be downloaded here, so each network is
built with the hyper-parameters of its published model and random weights; speed does not depend on the
weights. Each runs on one CPU thread (`torch.set_num_threads(1)`), on the same audio as ours:
- Open-Unmix `umxl` (openunmix): `openunmix.umxl(pretrained=False)`, i.e. four OpenUnmix networks (hidden
  size 1024, 3-layer bidirectional LSTM) plus the STFT (4096/1024) and one Wiener iteration, as published.
- Open-Unmix unidirectional: the same with `unidirectional=True` (the package's causal-LSTM option).
- HTDemucs (demucs): `demucs.htdemucs.HTDemucs` with the `htdemucs` model's configuration (depth 4, 48
  channels, dconv_mode 3, 512 bottom channels, 5 transformer layers, 7.8 s segments); offline through
  `demucs.apply.apply_model` with its defaults (shifts 1, overlap 0.25).
- HS-TasNet (hs-tasnet, Phil Wang's implementation of the paper, the one on PyPI): `HSTasNet()` with its
  defaults (the paper's 500 hidden units, 1024-sample window, 512 hop); hop by hop through its own
  `init_stateful_transform_fn`.
The timing rules are in `timing.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from demixui.bench.peer_import import distribution_version, load_module_file, placeholders_for
from demixui.bench.table import Row
from demixui.bench.timing import ChunkResult, doubling_ladder, smallest_realtime_chunk, step_timer, time_call

SAMPLE_RATE = 44100
SPEED_COLUMNS = ("params_m", "offline_rtf", "chunk_ms", "chunk_compute_ms", "overlap_ms", "min_latency_ms")
# The extra that installs the peers' network code (see pyproject.toml and the Makefile).
INSTALL_HINT = ("install with `pip install -e .[bench]` then "
                "`pip install --no-deps -r demixui/bench/peer-packages.txt`")
AUDIO_IO_PACKAGES = ["torchaudio", "torchaudio.transforms", "torchaudio.functional", "torchcodec",
                     "torchcodec.encoders", "librosa", "matplotlib", "matplotlib.pyplot"]


@dataclass
class Peer:
    """A built peer network. `offline(mix)` separates a whole `(nb_samples, 2)` signal the published way;
    `make_step(C)` returns a function that processes the next chunk of C samples."""

    params: int
    package: str
    overlap_samples: int
    ladder: list[int]
    offline: Callable[[np.ndarray], object]
    make_step: Callable[[int], Callable[[], object]]
    notes: list[str] = field(default_factory=list)


def _as_batch(mix: np.ndarray):
    """`(nb_samples, 2)` numpy -> torch `(1, 2, nb_samples)`."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(mix.T))[None]


def _noise(nb_samples: int, seed: int = 0):
    import torch

    generator = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(1, 2, nb_samples, generator=generator)


def _umx_peer(unidirectional: bool) -> Peer:
    import torch

    with placeholders_for(["torchaudio"]) as replaced:  # the only audio I/O package openunmix imports
        import openunmix
        from openunmix import model as umx_model
        from openunmix import utils as umx_utils
    n_fft, hop = 4096, 1024
    if unidirectional:  # as `openunmix.umxl_spec` builds them, with the package's causal-LSTM switch
        max_bin = umx_utils.bandwidth_to_max_bin(rate=44100.0, n_fft=n_fft, bandwidth=16000)
        targets = {name: umx_model.OpenUnmix(nb_bins=n_fft // 2 + 1, nb_channels=2, hidden_size=1024,
                                             max_bin=max_bin, unidirectional=True)
                   for name in ("vocals", "drums", "bass", "other")}
        separator = umx_model.Separator(targets, niter=1, residual=False, n_fft=n_fft, n_hop=hop,
                                        nb_channels=2, sample_rate=44100.0, wiener_win_len=300,
                                        filterbank="torch")
    else:
        separator = openunmix.umxl(pretrained=False, device="cpu")
    separator.eval()
    overlap = n_fft - hop  # frames are centred: an output sample needs the input up to n_fft - hop later

    @torch.inference_mode()
    def offline(mix: np.ndarray) -> object:
        return separator(_as_batch(mix))

    def make_step(chunk: int) -> Callable[[], object]:
        audio = _noise(chunk + overlap)  # each chunk is run with its window overlap; LSTM state is not kept

        @torch.inference_mode()
        def step() -> object:
            return separator(audio)

        return step

    notes = []
    if replaced:
        notes.append(f"imported with placeholders for {', '.join(replaced)} (audio file I/O only)")
    return Peer(sum(p.numel() for p in separator.parameters()), distribution_version("openunmix"), overlap,
                doubling_ladder(hop, 256 * hop), offline, make_step, notes)


def _htdemucs_peer() -> Peer:
    from fractions import Fraction

    import torch
    from demucs.apply import apply_model
    from demucs.htdemucs import HTDemucs

    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], audio_channels=2, samplerate=SAMPLE_RATE,
                     segment=Fraction(39, 5), channels=48, depth=4, dconv_mode=3, dconv_comp=8,
                     bottom_channels=512, t_layers=5, nfft=4096)
    model.eval()
    segment = int(model.segment * SAMPLE_RATE)

    @torch.inference_mode()
    def offline(mix: np.ndarray) -> object:
        return apply_model(model, _as_batch(mix), shifts=1, split=True, overlap=0.25, progress=False)

    def make_step(chunk: int) -> Callable[[], object]:
        audio = _noise(chunk)

        @torch.inference_mode()
        def step() -> object:
            return model(audio)

        return step

    return Peer(sum(p.numel() for p in model.parameters()), distribution_version("demucs"), 0, [segment],
                offline, make_step, ["fixed 7.8 s segment: its chunk is the segment (shorter input is padded "
                                     "to it), so its latency is the segment plus its compute time"])


def _hstasnet_peer() -> Peer:
    import torch

    with placeholders_for(AUDIO_IO_PACKAGES) as replaced:
        # The file alone: the package's __init__ also imports its trainer (accelerate, musdb, ...).
        module = load_module_file("hs_tasnet", "hs_tasnet.py", "_demixui_bench_hs_tasnet")
    model = module.HSTasNet()
    model.eval()
    hop, window = model.overlap_len, model.segment_len

    @torch.inference_mode()
    def offline(mix: np.ndarray) -> object:
        return model(_as_batch(mix))

    def make_step(chunk: int) -> Callable[[], object]:
        if chunk == hop:  # the package's own hop-by-hop streaming function
            transform = model.init_stateful_transform_fn()
            block = np.ascontiguousarray(_noise(hop)[0].numpy())
            return lambda: transform(block)
        # Bigger chunks: its forward over (previous hop + chunk) with the LSTM state carried. The package
        # streams one hop per call only (its streaming envelope is one window long), so this uses the
        # whole-signal envelope, which differs only at the chunk edges: the compute is the same.
        audio = _noise(hop + chunk)
        hiddens = None

        @torch.inference_mode()
        def step() -> object:
            nonlocal hiddens
            out, hiddens = model(audio, hiddens=hiddens, auto_causal_pad=False)
            return out

        return step

    # Its forward needs (previous hop + chunk) to be a multiple of the window: chunks of 1, 3, 7, ... hops.
    ladder = [window * 2 ** i - hop for i in range(7)]
    notes = ["Phil Wang's implementation of the HS-TasNet paper (the paper's 500 hidden units)",
             f"imported {module.__name__.split('_bench_')[-1]}.py alone"
             + (f" with placeholders for {', '.join(replaced)} (audio file I/O and plotting only)"
                if replaced else "")]
    return Peer(model.num_parameters, distribution_version("hs-tasnet"), window - hop, ladder, offline,
                make_step, notes)


PEERS: dict[str, tuple[str, Callable[[], Peer]]] = {
    "umxl": ("Open-Unmix umxl (BLSTM)", lambda: _umx_peer(unidirectional=False)),
    "umx-uni": ("Open-Unmix umxl, unidirectional LSTM", lambda: _umx_peer(unidirectional=True)),
    "htdemucs": ("HTDemucs (Demucs v4)", _htdemucs_peer),
    "hs-tasnet": ("HS-TasNet", _hstasnet_peer),
}


def measure_peer(key: str, mix: np.ndarray, reps: int = 3) -> Row:
    """Build peer `key` and time it on `mix` `(nb_samples, 2)` float32 at 44.1 kHz; a Row either way."""
    title = PEERS[key][0]
    try:
        import torch
    except ImportError as error:
        return Row("speed", title, {}, reason=f"torch is not installed ({error}); {INSTALL_HINT}")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    try:
        peer = PEERS[key][1]()
    except ImportError as error:  # ModuleNotFoundError and PackageNotFoundError (an ImportError too)
        return Row("speed", title, {}, reason=f"cannot import its package: {error}; {INSTALL_HINT}")
    try:
        return _time_peer(title, peer, mix, reps)
    except Exception as error:  # noqa: BLE001 - a peer's own failure (e.g. a newer dependency) is its row's
        return Row("speed", title, {}, reason=f"failed while timing: {type(error).__name__}: {error}")


def _time_peer(title: str, peer: Peer, mix: np.ndarray, reps: int) -> Row:
    duration = mix.shape[0] / SAMPLE_RATE
    fixed = len(peer.ladder) == 1  # HTDemucs: a warm-up would cost a whole 7.8 s segment
    if not fixed:
        peer.offline(mix[:2 * SAMPLE_RATE])  # warm-up: first-call allocations and caches
    offline_rtf = time_call(lambda: peer.offline(mix)) / duration
    figures = {"params_m": peer.params / 1e6, "offline_rtf": offline_rtf}
    notes = [f"{peer.package}, random weights", *peer.notes]
    if offline_rtf >= 1 and not fixed:
        # Shorter chunks are never cheaper per second than the whole file, so no chunk can keep up either.
        result = ChunkResult(None, None, peer.overlap_samples, SAMPLE_RATE, (),
                             reason=f"cannot keep up on one thread here: offline it computes "
                                    f"{offline_rtf:.2f} s per second of audio")
    else:
        measure = step_timer(peer.make_step, reps=2 if fixed else reps, warmup=0 if fixed else 1)
        result = smallest_realtime_chunk(measure, peer.ladder, peer.overlap_samples, SAMPLE_RATE)
    return chunk_row(title, figures, result, notes)


def chunk_row(title: str, figures: dict[str, float], result: ChunkResult, notes: list[str]) -> Row:
    """A speed-table row from offline figures and a ladder result (ours uses it too)."""
    figures = dict(figures, overlap_ms=1000 * result.overlap_samples / result.sample_rate)
    if result.chunk_samples is not None:
        figures["chunk_ms"] = 1000 * result.chunk_samples / result.sample_rate
        figures["chunk_compute_ms"] = 1000 * result.compute_seconds
        figures["min_latency_ms"] = 1000 * result.latency_seconds
    figures = {k: v for k, v in figures.items() if math.isfinite(v)}
    tried = ", ".join(f"{1000 * c / result.sample_rate:.0f} ms: {1000 * s:.0f} ms" for c, s in result.tried)
    if tried:
        notes = [*notes, f"chunk -> compute tried: {tried}"]
    return Row("speed", title, figures, reason=result.reason, notes=notes)
