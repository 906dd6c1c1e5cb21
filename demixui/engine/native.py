"""The native audio callback: numba-compiled machine code that PortAudio calls directly, without the GIL.

Why: a Python callback needs the GIL, so any thread running plain Python (the GUI, the inference worker
between onnxruntime calls, the analysis thread, a plugin's busy loop) delays it, and a late callback is a
click. `sys.setswitchinterval` only shortens the wait (one busy Python thread: 300 device underruns in 30 s at
block 128 on the JACK dummy server). Here the whole per-block algorithm of `playback.py` (ring reads, gain
ramps, mute/solo/karaoke through the gains, the dry-mix crossfade, transport fades, the monitor copy,
underrun counting) runs as compiled code on the cells of `shared.py`, and nothing in it touches a Python
object, so no Python thread can hold it up. So does the live input callback (channels to stereo, into the
source ring): a late input callback stalls a JACK cycle as surely as a late output one.

Why numba (and not a C extension built with cffi): it ships as wheels for every platform the app runs on,
so every user gets the native callback with no C compiler, while a C extension would need one at install
time (or prebuilt wheels per platform, which this pure-Python package does not make) and would otherwise
leave exactly the desktop users on the Python fallback. It compiles the same kernel for two callers: a
`cfunc` whose address goes to `Pa_OpenStream` through sounddevice (`_StreamBase` accepts a C function
pointer and a userData pointer: our control block), and a `njit` function the null backend calls from Python
with the GIL released, so every engine test runs the native code. Costs: numba and llvmlite (~50 MB), and a
compile of about 10 s on first use, cached on disk next to this file (or in the user cache) afterwards.
Memory ordering is explicit: `_fence_acquire` after loading a position another thread publishes and
`_fence_release` before storing one (LLVM fences: on x86-64 they only stop compiler reordering, on ARM they
are barriers).

The kernel mirrors `Playback._render` and friends line by line, in float32 with the same operation order, so
the two callbacks play the same samples (a test holds them equal). No allocation: arrays are `carray` views
of preallocated memory (no NRT), `error_model="numpy"` removes the division checks that could raise. Where
numba cannot be imported or compiled, `load()` says why and the engine runs the Python callback.
"""

from __future__ import annotations

import os

import numpy as np

from demixui.engine import shared
from demixui.engine.shared import (
    C_APP_UNDERRUNS,
    C_CALLBACKS,
    C_CB_SESSION,
    C_CUE_OUT,
    C_DEVICE_UNDERRUNS,
    C_DRIFT,
    C_DRIFT_CORRECTIONS,
    C_DRIFT_EXCESS,
    C_DRIFT_WINDOW,
    C_DRY,
    C_FADE,
    C_FLOATS,
    C_FRAMES_OUT,
    C_GAIN_SEEN,
    C_GAIN_VERSION,
    C_INPUT_CHANNELS,
    C_INPUT_OVERFLOWS,
    C_LEAD_MIN,
    C_LEAD_SEEN,
    C_LIVE_BUFFER,
    C_LIVE_FLOOR,
    C_LIVE_MAX,
    C_LIVE_QUIET,
    C_LIVE_SHORT,
    C_LIVE_TARGET,
    C_MAX_CHUNK,
    C_MONITOR,
    C_MONITOR_CAPACITY,
    C_MONITOR_DROPS,
    C_MONITOR_READ,
    C_MONITOR_WRITTEN,
    C_NB_STEMS,
    C_OUT_CHANNELS,
    C_PLAYING,
    C_PREFILL_TIMEOUT,
    C_PREFILL_WAITED,
    C_RAMP,
    C_RAMP_POS,
    C_SESSION,
    C_SHRINK_AFTER,
    C_SOURCE_LEAD,
    C_STEM_FILL,
    C_STEM_OUTS,
    C_STEMS,
    C_WAKE_FD,
    C_WAKE_WRITE,
    F_GAINS,
    F_TRANSPORT,
    F_WET,
    GAIN_SLOTS,
    NB_CONTROL_CELLS,
    NB_SESSION_CELLS,
    RAMP_FROM,
    RAMP_STEP,
    RAMP_TARGET,
    S_ENDED,
    S_LATENCY,
    S_LIVE,
    S_OUTPUT_OFFSET,
    S_PLAY_POSITION,
    S_SOURCE_CAPACITY,
    S_SOURCE_DATA,
    S_SOURCE_END,
    S_SOURCE_ERROR,
    S_SOURCE_WRITTEN,
    S_STARTED,
    S_STEM_END,
    S_STEM_START,
    S_STEMS_CAPACITY,
    S_STEMS_DATA,
    TARGET_READ,
    TARGET_SLOTS,
    max_out_channels,
    nb_float_cells,
)

PA_OUTPUT_UNDERFLOW = 0x4  # PaStreamCallbackFlags paOutputUnderflow
NO_END = 1 << 62
NO_LEAD = 1 << 62  # playback.NO_LEAD

try:
    from llvmlite import ir
    from numba import carray, cfunc, njit, types
    from numba.core.extending import intrinsic
except ImportError as error:  # the app runs on the Python callback without numba
    _IMPORT_ERROR: str | None = str(error)
else:
    _IMPORT_ERROR = None

if _IMPORT_ERROR is None:
    # numba caches next to the source file (or in the user cache); a frozen app may have no source file, and
    # numba refuses cache=True without one: there it compiles at every start instead.
    CACHE = os.path.isfile(__file__)
    jit = njit(nogil=True, cache=CACHE, error_model="numpy", boundscheck=False)

    def pointer_to(nbtype):
        @intrinsic
        def pointer(typingctx, addr):
            ptr = types.CPointer(nbtype)

            def codegen(context, builder, signature, args):
                llty = context.get_value_type(ptr)
                if isinstance(signature.args[0], types.RawPointer):
                    return builder.bitcast(args[0], llty)
                return builder.inttoptr(args[0], llty)

            return ptr(addr), codegen

        return pointer

    def fence(ordering):
        @intrinsic
        def emit(typingctx):
            def codegen(context, builder, signature, args):
                builder.fence(ordering)
                return context.get_dummy_value()

            return types.void(), codegen

        return emit

    out_width = jit(max_out_channels)
    float_cells = jit(nb_float_cells)
    f32 = pointer_to(types.float32)
    i64 = pointer_to(types.int64)
    acquire, release = fence("acquire"), fence("release")

    @intrinsic
    def call_write(typingctx, function, fd, buffer, count):
        """`write(fd, buffer, count)` through the C function at address `function` (all int64): the address
        is data (libc's write, from ctypes), so numba's cache holds no pointer into this process."""
        def codegen(context, builder, signature, args):
            address, fd_, buffer_, count_ = args
            i64_, i32_ = ir.IntType(64), ir.IntType(32)
            bytes_ = ir.IntType(8).as_pointer()
            prototype = ir.FunctionType(i64_, [i32_, bytes_, i64_])
            target = builder.inttoptr(address, prototype.as_pointer())
            return builder.call(target, [builder.trunc(fd_, i32_), builder.inttoptr(buffer_, bytes_), count_])

        return types.int64(types.int64, types.int64, types.int64, types.int64), codegen

    @jit
    def store_release(cells, index, value):
        release()
        cells[index] = value

    @jit
    def stems_ready(ctl, s, n):
        """Whether the stems for the next `n` samples plus one ramp (live: the `n` only; a file: or up to the
        end) are held."""
        return stems_ready_at(ctl, s, n, s[S_PLAY_POSITION])

    @jit
    def stems_ready_at(ctl, s, n, c):
        """stems_ready from position `c` (Playback._stems_ready's `at`)."""
        end = s[S_STEM_END]
        start = s[S_STEM_START]
        acquire()
        if start > c:
            return False
        need = n if s[S_LIVE] != 0 else n + ctl[C_RAMP]
        src_end = s[S_SOURCE_END]
        if src_end >= 0:
            need = min(need, src_end + s[S_LATENCY] - c)
        return end - c >= need

    @jit
    def prefilled(ctl, fl, s, n, playing):
        """Wait (playing silence) until the session can start with stems, or time out; a file starts at its
        first block played, not while paused before it (_prefilled)."""
        if s[S_STARTED] != 0:
            return True
        if not playing and s[S_LIVE] == 0:
            return False
        written = s[S_SOURCE_WRITTEN]
        acquire()
        skip = max(0, written - ctl[C_LIVE_BUFFER]) if s[S_LIVE] != 0 else 0
        if s[S_LIVE] != 0:
            ready = written >= ctl[C_LIVE_BUFFER]
            waiting = ready and not stems_ready_at(ctl, s, n, skip)
        else:
            ready = stems_ready(ctl, s, n) or s[S_SOURCE_ERROR] != 0
            waiting = (not ready) and playing and written > 0
        if waiting:
            ctl[C_PREFILL_WAITED] += n
            ready = ctl[C_PREFILL_WAITED] >= ctl[C_PREFILL_TIMEOUT]
        if ready:
            release()
            s[S_PLAY_POSITION] = skip
            fl[F_WET] = 1.0 if stems_ready(ctl, s, n) else 0.0
            s[S_OUTPUT_OFFSET] = ctl[C_FRAMES_OUT] - skip
            ctl[C_LIVE_TARGET] = written - skip
            ctl[C_LEAD_MIN] = NO_LEAD
            ctl[C_LEAD_SEEN] = 0
            ctl[C_LIVE_QUIET] = 0
            release()
            s[S_STARTED] = 1
        return ready

    @jit
    def live_hold(ctl, fl, s, n):
        """Keep the live buffer at its target on two device clocks (Playback._live_hold); True: hold."""
        written = s[S_SOURCE_WRITTEN]
        lead = written - s[S_PLAY_POSITION]
        if ctl[C_LIVE_SHORT] != 0:
            ctl[C_LIVE_SHORT] = 0
            ctl[C_LIVE_QUIET] = 0
            if ctl[C_DRIFT] == 0 and ctl[C_LIVE_TARGET] + n <= ctl[C_LIVE_MAX]:
                ctl[C_LIVE_TARGET] += n
                ctl[C_DRIFT] = 2
        target = ctl[C_LIVE_TARGET]
        if ctl[C_DRIFT] == 0:
            if lead < ctl[C_LIVE_FLOOR]:
                ctl[C_DRIFT] = 2
            else:
                ctl[C_LEAD_MIN] = min(ctl[C_LEAD_MIN], lead)
                ctl[C_LEAD_SEEN] += n
                ctl[C_LIVE_QUIET] += n
                if ctl[C_LEAD_SEEN] < ctl[C_DRIFT_WINDOW]:
                    return False
                if ctl[C_LIVE_QUIET] >= ctl[C_SHRINK_AFTER] and target - n >= ctl[C_LIVE_BUFFER]:
                    target -= n
                    ctl[C_LIVE_TARGET] = target
                    ctl[C_LIVE_QUIET] = 0
                excess = ctl[C_LEAD_MIN] - target
                ctl[C_LEAD_MIN] = NO_LEAD
                ctl[C_LEAD_SEEN] = 0
                if excess <= 0:
                    return False
                ctl[C_DRIFT] = 1
                ctl[C_DRIFT_EXCESS] = excess
        if fl[F_TRANSPORT] > 0.0:
            return False
        if ctl[C_DRIFT] == 1:
            release()
            s[S_PLAY_POSITION] = s[S_PLAY_POSITION] + max(0, min(ctl[C_DRIFT_EXCESS], lead - target))
        elif lead < target:
            return True
        ctl[C_DRIFT] = 0
        ctl[C_LEAD_MIN] = NO_LEAD
        ctl[C_LEAD_SEEN] = 0
        ctl[C_DRIFT_CORRECTIONS] += 1
        return False

    @jit
    def begin_gain_ramp(ctl, fl, nb):
        """Take newly published gain targets (a ramp from the current gains); returns the ramp position.
        `nb`: the number of ramped gains (faders, then cue weights: shared.nb_ramped)."""
        version = ctl[C_GAIN_VERSION]
        acquire()
        ramp = ctl[C_RAMP]
        if version != ctl[C_GAIN_SEEN]:
            slot = F_GAINS + (TARGET_SLOTS + version % GAIN_SLOTS) * nb
            for i in range(nb):
                fl[F_GAINS + TARGET_READ * nb + i] = fl[slot + i]
            acquire()
            if ctl[C_GAIN_VERSION] - version < GAIN_SLOTS - 1:  # else the slot may have been reused
                ctl[C_GAIN_SEEN] = version
                for i in range(nb):
                    target = fl[F_GAINS + TARGET_READ * nb + i]
                    gain = fl[F_GAINS + i]
                    fl[F_GAINS + RAMP_TARGET * nb + i] = target
                    fl[F_GAINS + RAMP_FROM * nb + i] = gain
                    fl[F_GAINS + RAMP_STEP * nb + i] = (target - gain) / np.float32(ramp)
                ctl[C_RAMP_POS] = 0
        return ctl[C_RAMP_POS]

    @jit
    def gain_at(fl, nb, i, k, rp, ramp):
        """Ramped gain i (of `nb`) at sample k of the chunk, the ramp having been at `rp` at its start."""
        if rp >= ramp:
            return fl[F_GAINS + i]
        if k >= ramp - rp:
            return fl[F_GAINS + RAMP_TARGET * nb + i]  # exactly the target after the ramp
        step = fl[F_GAINS + RAMP_STEP * nb + i] * np.float32(k + 1 + rp)
        return step + fl[F_GAINS + RAMP_FROM * nb + i]

    @jit
    def end_gain_ramp(ctl, fl, nb, rp, m):
        ramp = ctl[C_RAMP]
        if rp >= ramp:
            return
        ctl[C_RAMP_POS] = rp + m
        if rp + m >= ramp:
            for i in range(nb):
                fl[F_GAINS + i] = fl[F_GAINS + RAMP_TARGET * nb + i]
        elif m > 0:
            for i in range(nb):
                fl[F_GAINS + i] = gain_at(fl, nb, i, m - 1, rp, ramp)

    @jit
    def blend_pair(fl, ng, first, dry, stems, out, col, k, rp, ramp, x, fade, dry_only):
        """Sample k of one stereo output at `out[k, col:col + 2]`: the stems weighted by ramped gains
        `first..first + nb` (Playback._blend), or the stand-in, the dry mix times the smallest of them, or
        the crossfade between the two by the wet weight x."""
        nb = ng // 2
        for ch in range(2):
            low = np.float32(np.inf)
            for i in range(nb):
                low = min(low, gain_at(fl, ng, first + i, k, rp, ramp))
            stand_in = dry[k, ch] * low  # the dry mix times the smallest stem gain
            if dry_only:
                out[k, col + ch] = stand_in
                continue
            mix = gain_at(fl, ng, first, k, rp, ramp) * stems[k, ch]
            for i in range(1, nb):
                mix += gain_at(fl, ng, first + i, k, rp, ramp) * stems[k, 2 * i + ch]
            out[k, col + ch] = mix if not fade else stand_in + (mix - stand_in) * x

    @jit
    def render_session(ctl, fl, s, out, n):  # Playback._render_session, per sample
        """Render `n` samples of session `s` into `out`; returns how many belong to it (fewer at its end)."""
        nb = ctl[C_NB_STEMS]
        ng = 2 * nb  # ramped gains: faders, then cue weights
        nch = ctl[C_OUT_CHANNELS]
        stem_outs = ctl[C_STEM_OUTS]
        cue_out = ctl[C_CUE_OUT]
        ramp = ctl[C_RAMP]
        chunk = ctl[C_MAX_CHUNK]
        dry = carray(f32(ctl[C_DRY]), (chunk, 2))
        stems = carray(f32(ctl[C_STEMS]), (chunk, 2 * nb))
        c = s[S_PLAY_POSITION]
        latency = s[S_LATENCY]
        src_end = s[S_SOURCE_END]
        out_end = src_end + latency if src_end >= 0 else -1
        m = n if out_end < 0 else max(0, min(n, out_end - c))
        written = s[S_SOURCE_WRITTEN]
        acquire()
        # The dry mix: source positions [c - L, c - L + m), silence outside [0, min(end, written)).
        cap = s[S_SOURCE_CAPACITY]
        source = carray(f32(s[S_SOURCE_DATA]), (cap, 2))
        position = c - latency
        end = src_end if src_end >= 0 else NO_END
        lo = max(position, 0)
        hi = min(position + m, end, written)
        for k in range(m):
            p = position + k
            if lo <= p < hi:
                dry[k, 0] = source[p & (cap - 1), 0]
                dry[k, 1] = source[p & (cap - 1), 1]
            else:
                dry[k, 0] = 0.0
                dry[k, 1] = 0.0
        missing = max(0, min(position + m, end) - max(written, lo))
        span_end = s[S_STEM_END]
        span_start = s[S_STEM_START]
        acquire()
        avail = span_end - c if span_start <= c else 0
        ctl[C_STEM_FILL] = max(avail, 0)
        ctl[C_SOURCE_LEAD] = written - c
        rp = begin_gain_ramp(ctl, fl, ng)
        need = m if s[S_LIVE] != 0 else m + ramp  # live: no look-ahead (live.py)
        if out_end >= 0:
            need = min(need, out_end - c)
        if span_start <= c and span_end - c >= need:
            nwet, target = m, 1.0
        else:
            nwet, target = max(0, min(avail, m)), 0.0
        if m > 0 and s[S_STARTED] != 0 and (target == 0.0 or missing > 0):
            ctl[C_APP_UNDERRUNS] += 1
            if s[S_LIVE] != 0 and target == 0.0:
                ctl[C_LIVE_SHORT] = 1
        wet = fl[F_WET]
        wet_used = target == 1.0 or wet > 0.0
        first_zero = 0
        if nwet > 0 and wet_used:
            scap = s[S_STEMS_CAPACITY]
            ring = carray(f32(s[S_STEMS_DATA]), (scap, 2 * nb))
            for k in range(nwet):
                row = (c + k) & (scap - 1)
                for j in range(2 * nb):
                    stems[k, j] = ring[row, j]
            first_zero = nwet
        for k in range(first_zero, m):  # the monitor shows no stems where none were used
            for j in range(2 * nb):
                stems[k, j] = 0.0
        if m > 0:
            fade = not ((target == 1.0 and wet >= 1.0) or (target == 0.0 and wet <= 0.0))
            if target == 1.0:
                inc = np.float32(1.0 / ramp)
            else:  # reach 0 within the stems still held (a hard switch only if none are)
                inc = np.float32(-np.float64(wet) / max(1, min(ramp, nwet)))
            x = wet
            for k in range(m):
                if fade:
                    x = np.float32(k + 1) * inc + wet
                    x = min(x, np.float32(1.0)) if target == 1.0 else max(x, np.float32(0.0))
                dry_only = target == 0.0 and not fade or k >= nwet
                blend_pair(fl, ng, 0, dry, stems, out, 0, k, rp, ramp, x, fade, dry_only)  # the remix
                if cue_out:  # the cue bus: the same with the cue weights, pre-fader
                    blend_pair(fl, ng, nb, dry, stems, out, cue_out, k, rp, ramp, x, fade, dry_only)
                if stem_outs:  # post-fader stems; their stand-in is silence
                    for j in range(2 * nb):
                        v = np.float32(0.0)
                        if not dry_only:
                            v = gain_at(fl, ng, j // 2, k, rp, ramp) * stems[k, j]
                            v = v * x if fade else v
                        out[k, stem_outs + j] = v
            if fade:
                fl[F_WET] = x
        for k in range(m, n):
            for ch in range(nch):
                out[k, ch] = 0.0
        end_gain_ramp(ctl, fl, ng, rp, m)
        release()  # the dry samples are read before the reader may overwrite them
        s[S_PLAY_POSITION] = c + m
        if out_end >= 0 and c + m >= out_end:
            s[S_ENDED] = 1
        return m

    @jit
    def apply_transport(ctl, fl, out, n, target):
        transport = fl[F_TRANSPORT]
        if transport == target:
            if target == 0.0:
                for k in range(n):
                    for ch in range(ctl[C_OUT_CHANNELS]):
                        out[k, ch] = 0.0
            return
        inc = np.float32((1.0 if target > transport else -1.0) / ctl[C_RAMP])
        t = transport
        nch = ctl[C_OUT_CHANNELS]
        for k in range(n):
            t = min(max(np.float32(k + 1) * inc + transport, np.float32(0.0)), np.float32(1.0))
            for ch in range(nch):  # every output alike
                out[k, ch] *= t
        fl[F_TRANSPORT] = t

    @jit
    def write_monitor(ctl, out, n):
        """Copy what was played (and its dry input and stems) for the analysis thread; drop if it is full."""
        cap = ctl[C_MONITOR_CAPACITY]
        written = ctl[C_MONITOR_WRITTEN]
        if written + n - ctl[C_MONITOR_READ] > cap:
            ctl[C_MONITOR_DROPS] += 1
            return
        acquire()  # the analysis thread has read what it released
        nb = ctl[C_NB_STEMS]
        chunk = ctl[C_MAX_CHUNK]
        ring = carray(f32(ctl[C_MONITOR]), (cap, 4 + 2 * nb))
        dry = carray(f32(ctl[C_DRY]), (chunk, 2))
        stems = carray(f32(ctl[C_STEMS]), (chunk, 2 * nb))
        for k in range(n):
            row = (written + k) & (cap - 1)
            ring[row, 0] = out[k, 0]
            ring[row, 1] = out[k, 1]
            ring[row, 2] = dry[k, 0]
            ring[row, 3] = dry[k, 1]
            for j in range(2 * nb):
                ring[row, 4 + j] = stems[k, j]
        release()
        ctl[C_MONITOR_WRITTEN] = written + n

    @jit
    def render_chunk(ctl, fl, out, n):  # Playback._render
        current = ctl[C_SESSION]
        acquire()
        mine = ctl[C_CB_SESSION]
        nch = ctl[C_OUT_CHANNELS]
        fade = carray(f32(ctl[C_FADE]), (ctl[C_MAX_CHUNK], out_width(ctl[C_NB_STEMS])))
        fade_n = 0
        if current != mine:
            if mine != 0:
                old = carray(i64(mine), (NB_SESSION_CELLS,))
                transport = fl[F_TRANSPORT]
                if old[S_STARTED] != 0 and old[S_ENDED] == 0 and transport > 0.0:
                    fade_n = min(n, ctl[C_RAMP])  # the old session, faded out over one ramp
                    render_session(ctl, fl, old, fade, fade_n)
                    inc = np.float32(-np.float64(transport) / fade_n)
                    for k in range(fade_n):
                        t = np.float32(k + 1) * inc + transport
                        for ch in range(nch):
                            fade[k, ch] *= t
            fl[F_TRANSPORT] = 0.0
            fl[F_WET] = 0.0
            ctl[C_PREFILL_WAITED] = 0
            ctl[C_DRIFT] = 0
            ctl[C_LIVE_SHORT] = 0
            release()  # done with the old session: the engine may free it once this is stored
            ctl[C_CB_SESSION] = current
        playing = ctl[C_PLAYING] != 0
        silent = True
        if current != 0:
            s = carray(i64(current), (NB_SESSION_CELLS,))
            live = s[S_LIVE] != 0
            if s[S_ENDED] != 0 or not prefilled(ctl, fl, s, n, playing):
                pass
            elif not playing and fl[F_TRANSPORT] == 0.0 and not live:
                pass  # paused: the session does not advance
            elif live and live_hold(ctl, fl, s, n):
                pass  # live input slower than the output: wait (silent) until the buffer is refilled
            else:
                m = render_session(ctl, fl, s, out, n)
                apply_transport(ctl, fl, out, n, 1.0 if playing and ctl[C_DRIFT] == 0 else 0.0)
                write_monitor(ctl, out, m)  # only the session's samples (not the silence after its end)
                silent = False
        if silent:
            for k in range(n):
                for ch in range(nch):
                    out[k, ch] = 0.0
        for k in range(fade_n):
            for ch in range(nch):
                out[k, ch] += fade[k, ch]

    @jit
    def capture(ctl, indata, frames):
        """Live input: append `frames` of `indata` `(>= frames, channels)` to the live session's source ring
        as stereo (mono doubled, 2 as is, more: odd channels averaged to the left, even to the right), or drop
        the block and count it when the output is not consuming (Engine._live_write)."""
        current = ctl[C_SESSION]
        acquire()
        if current == 0:
            return 0
        s = carray(i64(current), (NB_SESSION_CELLS,))
        if s[S_LIVE] == 0:
            return 0
        written = s[S_SOURCE_WRITTEN]
        cap = s[S_SOURCE_CAPACITY]
        if s[S_PLAY_POSITION] - s[S_LATENCY] + cap - written < frames:
            ctl[C_INPUT_OVERFLOWS] += 1
            return 0
        acquire()  # the callback is done with the positions it released
        source = carray(f32(s[S_SOURCE_DATA]), (cap, 2))
        channels = indata.shape[1]
        for k in range(frames):
            row = (written + k) & (cap - 1)
            if channels == 1:
                source[row, 0] = indata[k, 0]
                source[row, 1] = indata[k, 0]
            elif channels == 2:
                source[row, 0] = indata[k, 0]
                source[row, 1] = indata[k, 1]
            else:
                for side in range(2):
                    total = np.float32(0.0)
                    for j in range(side, channels, 2):
                        total += indata[k, j]
                    source[row, side] = total / np.float32((channels - side + 1) // 2)
        release()
        s[S_SOURCE_WRITTEN] = written + frames
        fd = ctl[C_WAKE_FD]
        if fd >= 0 and ctl[C_WAKE_WRITE] != 0:  # wake the worker: one byte, non-blocking (live.py)
            call_write(ctl[C_WAKE_WRITE], fd, ctl[C_FLOATS], 1)
        return 0

    @jit
    def render(ctl, out, frames, underflow):
        """One device block: `out` `(>= frames, C_OUT_CHANNELS)` float32 filled in place
        (Playback._python_callback)."""
        if underflow:
            ctl[C_DEVICE_UNDERRUNS] += 1
        ctl[C_CALLBACKS] += 1
        nb = ctl[C_NB_STEMS]
        fl = carray(f32(ctl[C_FLOATS]), (float_cells(nb),))
        pos = 0
        while pos < frames:
            n = min(ctl[C_MAX_CHUNK], frames - pos)
            render_chunk(ctl, fl, out[pos:pos + n], n)
            pos += n
            ctl[C_FRAMES_OUT] += n
        return 0


_compiled: NativeCallback | None = None
_failure: str | None = None if _IMPORT_ERROR is None else f"numba unavailable ({_IMPORT_ERROR})"


class NativeCallback:
    """`render(ctl, out, frames, underflow)` and `capture(ctl, indata, frames)` for Python callers; `address`
    and `input_address`: the PortAudio callbacks (output, live input)."""

    def __init__(self, render, address: int, capture, input_address: int):
        self.render, self.address = render, address
        self.capture, self.input_address = capture, input_address


def load() -> tuple[NativeCallback | None, str]:
    """Compile (or load from numba's cache) the native callback, once per process: (callback, "") or
    (None, why not)."""
    global _compiled, _failure
    if _compiled is None and _failure is None:
        try:
            _compiled = _compile()
        except Exception as error:  # noqa: BLE001 - any failure means the fallback, with its reason
            lines = str(error).strip().splitlines()
            first = lines[0] if lines else ""
            _failure = f"native callback failed to compile: {type(error).__name__}: {first}"
    return _compiled, _failure or ""


def _compile() -> NativeCallback:
    signature = types.int32(types.voidptr, types.voidptr, types.ulong, types.voidptr, types.ulong,
                            types.voidptr)

    @cfunc(signature, nopython=True, cache=CACHE, error_model="numpy")
    def pa_callback(input_, output, frames, time_info, status, user):
        """PaStreamCallback: userData is the control block; returns paContinue."""
        ctl = carray(i64(user), (NB_CONTROL_CELLS,))
        n = np.int64(frames)
        render(ctl, carray(f32(output), (n, ctl[C_OUT_CHANNELS])), n, (status & PA_OUTPUT_UNDERFLOW) != 0)
        return 0

    @cfunc(signature, nopython=True, cache=CACHE, error_model="numpy")
    def pa_input_callback(input_, output, frames, time_info, status, user):
        """PaStreamCallback of the live input stream: userData is the control block."""
        ctl = carray(i64(user), (NB_CONTROL_CELLS,))
        n = np.int64(frames)
        capture(ctl, carray(f32(input_), (n, ctl[C_INPUT_CHANNELS])), n)
        return 0

    shared.store = store_release
    return NativeCallback(render, pa_callback.address, capture, pa_input_callback.address)
