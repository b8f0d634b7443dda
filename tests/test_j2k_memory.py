"""The JPEG 2000 decoder's working memory: buffers reused across decodes, frames on threads.

csrc/j2k/decode.c keeps the coefficient buffers and code-block scratch of one decode for the
next (a process-wide cache, td_j2kdec_release_memory / ``turbodicom.j2k.release_memory``)
and does not clear them: every code-block writes its samples, the ones without data write
zeros.  A decode that follows another on a reused buffer must therefore give what a decode on
fresh memory gives: layers cut off, a truncated stream, reduce, tiles.  Small JPEG 2000 frames
go to threads frame by frame (Codec.frame_threads_min_bytes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import turbodicom

import dicom_factory as fac

pytest.importorskip("turbodicom._j2kdec", reason="this build has no _j2kdec")
ic = pytest.importorskip("imagecodecs")

from turbodicom import j2k  # noqa: E402


def _image(shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    base = (x * 3 + y * 5) % 256
    if len(shape) == 3:
        base = np.stack([(base + 40 * c) % 256 for c in range(shape[2])], axis=-1)
    noise = rng.integers(0, 24, size=shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def layered() -> bytes:
    """A 3-component 8-bit stream of several quality layers (code-blocks empty in layer 1)."""
    opj = shutil.which("opj_compress")
    if opj is None:
        pytest.skip("opj_compress (Debian libopenjp2-tools) encodes quality layers")
    img = _image((192, 256, 3), 1)
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.rawl"), os.path.join(d, "out.j2k")
        np.moveaxis(img, -1, 0).tofile(src)
        subprocess.run([opj, "-i", src, "-o", dst, "-F", "256,192,3,8,u", "-r", "80,20,1"],
                       check=True, capture_output=True)
        with open(dst, "rb") as f:
            return f.read()


def _stale_then_fresh(stream: bytes, **kw) -> tuple[np.ndarray, np.ndarray]:
    """(decode on freshly allocated memory, the same decode after a full one filled the
    cached buffers with other values)."""
    j2k.release_memory()
    fresh = j2k.decode(stream, **kw)
    j2k.decode(stream)
    j2k.decode(stream)
    return fresh, j2k.decode(stream, **kw)


@pytest.mark.parametrize("layers", [1, 2])
def test_cut_layers_on_reused_buffers(layered, layers):
    full = j2k.decode(layered)
    fresh, reused = _stale_then_fresh(layered, layers=layers)
    assert np.array_equal(fresh, reused)
    assert not np.array_equal(fresh, full)  # the cut mattered


def test_truncated_stream_on_reused_buffers(layered):
    cut = layered[: len(layered) // 3]
    fresh, reused = _stale_then_fresh(cut)
    assert np.array_equal(fresh, reused)


@pytest.mark.parametrize("reduce", [1, 2])
def test_reduce_on_reused_buffers(layered, reduce):
    fresh, reused = _stale_then_fresh(layered, reduce=reduce)
    assert np.array_equal(fresh, reused)


def test_htj2k_on_reused_buffers():
    img = _image((240, 320, 3), 2)
    stream = bytes(ic.htj2k_encode(img, reversible=True))
    j2k.release_memory()
    assert np.array_equal(j2k.decode(stream), img)
    assert np.array_equal(j2k.decode(stream), img)
    assert np.array_equal(j2k.decode(stream, threads=2), img)


def test_concurrent_decodes_and_release(layered):
    """Threads decoding different streams while another empties the cache."""
    img16 = (_image((256, 256), 3).astype(np.uint16) * 13)
    streams = [layered, bytes(ic.jpeg2k_encode(img16, level=0, codecformat="J2K",
                                                reversible=True)),
               bytes(ic.htj2k_encode(_image((240, 320, 3), 4), reversible=True))]
    serial = [j2k.decode(s) for s in streams] + [j2k.decode(layered, layers=1)]
    stop = threading.Event()

    def releaser():
        while not stop.is_set():
            j2k.release_memory()

    def work(i):
        k = i % 4
        return k, (j2k.decode(layered, layers=1) if k == 3 else j2k.decode(streams[k]))

    t = threading.Thread(target=releaser)
    t.start()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            for k, arr in pool.map(work, range(48)):
                assert np.array_equal(arr, serial[k])
    finally:
        stop.set()
        t.join()


def _rgb_file(frames: list[np.ndarray], enc: list[bytes]) -> bytes:
    h, w = frames[0].shape[:2]
    return fac.encapsulated_file(enc, transfer_syntax="1.2.840.10008.1.2.4.90", rows=h,
                                 columns=w, bits_allocated=8, samples_per_pixel=3,
                                 photometric="RGB")


def test_small_j2k_frames_go_to_threads(monkeypatch):
    """7 frames of 240x320 RGB (1.6 MB in all) are decoded on 2 and 3 threads in one call that
    shares them over the codec's C threads (the GIL released once); the frames left at the end
    take the threads that run out of frames inside the C batch, not in a second call."""
    dec = sys.modules["turbodicom.decode"]  # turbodicom.decode is also the function

    frames = [_image((240, 320, 3), 10 + i) for i in range(7)]
    enc = [bytes(ic.jpeg2k_encode(f, level=0, codecformat="J2K", reversible=True))
           for f in frames]
    data = _rgb_file(frames, enc)
    batches, single = [], []
    run, run_batch = dec._FramePlan.run, dec._FramePlan.run_batch

    def recording_run(plan, index, out):
        single.append((index, plan.spec.threads))
        return run(plan, index, out)

    def recording_batch(plan, indices, out, threads):
        batches.append((list(indices), threads))
        return run_batch(plan, indices, out, threads)

    monkeypatch.setattr(dec._FramePlan, "run", recording_run)
    monkeypatch.setattr(dec._FramePlan, "run_batch", recording_batch)
    for threads in (2, 3):
        batches.clear()
        single.clear()
        arr = turbodicom.decode(data, threads=threads)
        assert np.array_equal(arr, np.stack(frames))
        assert batches == [(list(range(7)), threads)]
        assert single == []


@pytest.mark.parametrize("threads", [2, 3, 5])
def test_frame_batch_equals_one_thread(threads):
    """Frames shared over the codec's C threads (td_parallel_for) decode as on one thread:
    HTJ2K and Part 1, more frames than threads and fewer."""
    frames = [_image((64, 96, 3), 30 + i) for i in range(11)]
    for enc in ([bytes(ic.htj2k_encode(f, reversible=True)) for f in frames],
                [bytes(ic.jpeg2k_encode(f, level=0, codecformat="J2K", reversible=True))
                 for f in frames]):
        for n in (2, 11):
            data = _rgb_file(frames[:n], enc[:n])
            assert np.array_equal(turbodicom.decode(data, threads=threads),
                                  np.stack(frames[:n]))
            assert np.array_equal(turbodicom.decode(data, threads=threads),
                                  turbodicom.decode(data, threads=1))


def test_frame_batch_raises_the_first_failing_frame():
    """Every frame of a batch is decoded, then the first failing one (in frame order) raises
    what decoding frame by frame on one thread raises: here frame 3 has the wrong size and
    frame 6 is cut to its main header."""
    frames = [_image((48, 64, 3), 50 + i) for i in range(9)]
    enc = [bytes(ic.htj2k_encode(f, reversible=True)) for f in frames]
    enc[3] = bytes(ic.htj2k_encode(_image((40, 64, 3), 3), reversible=True))
    enc[6] = enc[6][:enc[6].find(b"\xff\x90")]
    data = _rgb_file(frames, enc)
    with pytest.raises(turbodicom.DecodeError) as one:
        turbodicom.decode(data, threads=1)
    assert "40 x 64" in str(one.value)
    for threads in (2, 4):
        with pytest.raises(turbodicom.DecodeError) as many:
            turbodicom.decode(data, threads=threads)
        assert type(many.value) is type(one.value) and str(many.value) == str(one.value)
    enc[3] = bytes(ic.htj2k_encode(frames[3], reversible=True))
    data = _rgb_file(frames, enc)
    with pytest.raises(turbodicom.DecodeError) as one:
        turbodicom.decode(data, threads=1)
    with pytest.raises(turbodicom.DecodeError) as many:
        turbodicom.decode(data, threads=2)
    assert type(many.value) is type(one.value) and str(many.value) == str(one.value)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() only")
def test_fork_while_other_threads_decode():
    """A child forked while another thread decodes (and holds the cache's lock now and then)
    decodes too: the lock is held across fork() and released in both processes."""
    img = _image((240, 320, 3), 5)
    stream = bytes(ic.htj2k_encode(img, reversible=True))
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            j2k.decode(stream)
            j2k.release_memory()

    t = threading.Thread(target=busy)
    t.start()
    try:
        for _ in range(8):
            pid = os.fork()
            if pid == 0:  # the child: one decode, then out without running pytest's teardown
                code = 1  # (an exception too must not let the child run on as pytest)
                try:
                    code = 0 if np.array_equal(j2k.decode(stream), img) else 1
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        stop.set()
        t.join()


def _child_threads(decode_ok, runs: int) -> tuple[bool, int, int]:
    """(every call of decode_ok() true, threads before, threads after) in a child forked from
    this process, which has only the forking thread, calling decode_ok() `runs` times."""
    pid = os.fork()
    if pid == 0:  # the child: out without pytest, the result in the exit status
        code = 255
        try:
            before = len(os.listdir("/proc/self/task"))
            ok = all(decode_ok() for _ in range(runs))
            after = len(os.listdir("/proc/self/task"))
            code = 128 * ok + 16 * min(before, 7) + min(after, 14)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) != 255, status
    code = os.WEXITSTATUS(status)
    return code >= 128, (code >> 4) & 7, code & 15


@pytest.mark.skipif(not hasattr(os, "fork") or not os.path.isdir("/proc/self/task"),
                    reason="fork() and /proc/self/task only")
def test_forked_child_starts_its_own_worker_threads():
    """The decoder's worker threads (td_threads.c) stay asleep between calls; a child forked
    while they exist, and while another thread keeps them busy, has none of them: it starts
    its own (its thread count grows after a 2-thread batch) and decodes correctly."""
    frames = [_image((240, 320, 3), 70 + i) for i in range(4)]
    data = _rgb_file(frames, [bytes(ic.htj2k_encode(f, reversible=True)) for f in frames])
    expected = np.stack(frames)
    assert np.array_equal(turbodicom.decode(data, threads=2), expected)
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            turbodicom.decode(data, threads=2)

    t = threading.Thread(target=busy)
    t.start()
    try:
        for _ in range(4):
            ok, before, after = _child_threads(
                lambda: np.array_equal(turbodicom.decode(data, threads=2), expected), 3)
            assert ok and before == 1 and after > 1, (ok, before, after)
    finally:
        stop.set()
        t.join()


@pytest.mark.skipif(not hasattr(os, "fork") or not os.path.isdir("/proc/self/task"),
                    reason="fork() and /proc/self/task only")
def test_frame_after_frame_on_two_threads_keeps_one_helper():
    """One frame after another on 2 threads, from a process with no worker threads yet: the
    decoder starts one helper and keeps it (td_threads.c counts on a worker that is idle or
    still starting until it joins or the job closes).  Counting signalled workers until they
    left their wait once made a second helper in most such processes (the first not yet
    started when the second frame came, or counted as busy after joining from elsewhere):
    the two then took turns, the one left out asleep, and the helper often joined 20-40 us
    late.  Each child is a fresh process (fork); the task count is the threads.  (Before
    the fix each of 5 runs of this test failed.)"""
    img = _image((512, 512), 11).astype(np.uint16) * 13
    stream = bytes(ic.jpeg2k_encode(img, level=40, reversible=False, codecformat="J2K"))
    expected = j2k.decode(stream, threads=1)
    for _ in range(8):
        ok, before, after = _child_threads(
            lambda: np.array_equal(j2k.decode(stream, threads=2), expected), 40)
        assert ok, "a 2-thread decode differs from the 1-thread one"
        assert (before, after) == (1, 2), f"{after} threads after 40 frames on 2 threads"


# ------------------------------------------------------------------------------------------
# Coefficients hosted in the output buffer
# ------------------------------------------------------------------------------------------
# A single-component image whose one tile fills the frame keeps the low-pass rows of its
# highest decoded level in the caller's buffer (csrc/j2k/decode.c, host_rows) when they fit it
# and the buffer is as aligned as malloc's blocks; the output stage converts them in place.
# Each case below decodes into an aligned buffer (hosted when the rows fit) and a misaligned
# one (never hosted, the plain path), both inside guard bytes that must stay untouched, and
# compares the two with each other and with the source (reversible, every layer) or OpenJPEG
# / OpenJPH.
from turbodicom import _j2kdec  # noqa: E402

import j2k_streams as js  # noqa: E402

_GUARD = 0xA5


def _decode_at(stream: bytes, misalign: int, **kw) -> np.ndarray:
    """Decode into a buffer `misalign` bytes past a 64-byte boundary, guard bytes around it."""
    need, bps = _j2kdec.decoded_size(stream, bytes_per_sample=kw.get("bytes_per_sample", 0),
                                      reduce=kw.get("reduce", 0))
    buf = np.full(need + 256, _GUARD, np.uint8)
    start = (-buf.ctypes.data) % 64 + misalign
    _j2kdec.decode_into(stream, buf[start:start + need], **kw)
    assert (buf[:start] == _GUARD).all() and (buf[start + need:] == _GUARD).all(), \
        "bytes written outside the output"
    return buf[start:start + need].copy()


def _hosted_and_plain(stream: bytes, **kw) -> np.ndarray:
    hosted = _decode_at(stream, 0, **kw)
    plain = _decode_at(stream, 4, **kw)
    assert np.array_equal(hosted, plain)
    return hosted


def _as(raw: np.ndarray, bits: int, signed: bool, bps: int, shape) -> np.ndarray:
    return raw.view(f"<{'i' if signed else 'u'}{bps}").reshape(shape)


_OPJ_HOST = [  # (rows, cols, bits, signed, opj_compress arguments)
    (64, 48, 12, False, "-n 4"),
    (65, 40, 16, True, "-n 4"),                     # odd height, cas 0: does not fit 16 bits
    (65, 40, 16, False, "-n 4 -d 0,1"),             # odd height, cas 1: fits
    (37, 53, 12, True, "-n 4 -d 5,3"),              # cas 1 after reduce 1 and 2 too
    (64, 64, 16, False, "-n 3 -b 8,8 -c [16,16]"),  # small blocks, precincts
    (60, 44, 16, False, "-n 4 -I"),                 # 9/7
    (61, 44, 12, True, "-n 3 -I -d 0,1"),
    (64, 48, 8, False, "-n 4"),                     # 8 bits: never fits
    (64, 64, 16, False, "-n 4 -r 40,10,1"),         # layers
]


@pytest.fixture(scope="module")
def opj_host_streams():
    if js.OPJ_COMPRESS is None:
        pytest.skip("opj_compress (Debian libopenjp2-tools) encodes these streams")
    out = []
    for i, (rows, cols, bits, signed, args) in enumerate(_OPJ_HOST):
        src = js.image(rows, cols, bits, signed, 40 + i)
        out.append((js.opj_compress([src], bits, signed, args.split()), src, bits, signed, args))
    return out


@pytest.mark.parametrize("case", range(len(_OPJ_HOST)))
def test_hosted_coefficients_part1(opj_host_streams, case):
    stream, src, bits, signed, args = opj_host_streams[case]
    hdr = _j2kdec.read_header(stream)
    natural = hdr["bytes_per_sample"]
    lossless = "-I" not in args
    ref = ic.jpeg2k_decode(stream)
    for reduce in range(hdr["decomposition_levels"] + 1):
        info = _j2kdec.read_header(stream, reduce)["component_info"][0]
        shape = (info["rows"], info["columns"])
        for bps in sorted({natural, 4}):
            for threads in (1, 2):
                raw = _hosted_and_plain(stream, reduce=reduce, threads=threads,
                                        bytes_per_sample=bps)
                arr = _as(raw, bits, signed, bps, shape)
                if reduce == 0 and lossless:
                    assert np.array_equal(arr, src)
                if reduce == 0:
                    assert np.abs(arr.astype(np.int64) - ref.astype(np.int64)).max() <= (
                        0 if lossless else 1)
        for layers in range(1, hdr["layers"]):
            _hosted_and_plain(stream, reduce=reduce, layers=layers)


@pytest.mark.parametrize("rows,cols,bits,signed,reversible", [
    (300, 437, 16, False, True),    # 2 threads share the DWT and the output stage
    (301, 440, 12, True, True),     # odd height: sn = 151, does not fit 16 bits
    (298, 451, 12, True, False),   # (OpenJPH wraps 16-bit 9/7 extremes around)
])
def test_hosted_coefficients_htj2k_threads(rows, cols, bits, signed, reversible):
    src = js.image(rows, cols, bits, signed, rows)
    stream = bytes(ic.htj2k_encode(src, reversible=reversible))
    ref = ic.htj2k_decode(stream)
    natural = 2
    for threads in (1, 2):
        for bps in (natural, 4):
            arr = _as(_hosted_and_plain(stream, threads=threads, bytes_per_sample=bps), bits,
                      signed, bps, src.shape)
            if reversible:
                assert np.array_equal(arr, src)
            else:
                assert np.abs(arr.astype(np.int64) - ref.astype(np.int64)).max() <= 1
        for reduce in (1, 2):
            _hosted_and_plain(stream, threads=threads, reduce=reduce)


def test_hosted_coefficients_part1_threads():
    """A large Part 1 frame (the output stage in waves on 2 threads), an image origin that
    makes the highest level's parity 1."""
    if js.OPJ_COMPRESS is None:
        pytest.skip("opj_compress (Debian libopenjp2-tools)")
    for rows, cols, args in [(420, 333, "-n 5"), (421, 330, "-n 5 -d 0,1"),
                             (400, 340, "-n 5 -I")]:
        src = js.image(rows, cols, 16, False, cols)
        stream = js.opj_compress([src], 16, False, args.split())
        for threads in (1, 2):
            arr = _as(_hosted_and_plain(stream, threads=threads), 16, False, 2, src.shape)
            if "-I" not in args:
                assert np.array_equal(arr, src)
            else:
                ref = ic.jpeg2k_decode(stream)
                assert np.abs(arr.astype(np.int64) - ref.astype(np.int64)).max() <= 1


def test_not_hosted_still_exact():
    """Tiles, several components: the plain path, equal to the source."""
    src = js.image(96, 80, 16, False, 7)
    tiled = bytes(ic.htj2k_encode(src, reversible=True, tile=(32, 32)))
    assert np.array_equal(_as(_hosted_and_plain(tiled), 16, False, 2, src.shape), src)
    rgb = np.stack([js.image(96, 80, 16, False, 8 + k) for k in range(3)], axis=-1)
    three = bytes(ic.jpeg2k_encode(rgb, level=0, codecformat="J2K", reversible=True))
    assert np.array_equal(_as(_hosted_and_plain(three), 16, False, 2, rgb.shape), rgb)


def test_hosted_frames_of_a_multiframe_file_and_the_plugin(unregistered):
    """Frames at their offsets in one array (several at once on threads), and pydicom's
    plugin (a bytearray per frame)."""
    frames = [js.image(128, 96, 16, False, 60 + i) for i in range(5)]
    enc = [bytes(ic.jpeg2k_encode(f, level=0, codecformat="J2K", reversible=True))
           for f in frames]
    data = fac.encapsulated_file(enc, transfer_syntax="1.2.840.10008.1.2.4.90", rows=128,
                                 columns=96, bits_allocated=16, photometric="MONOCHROME2")
    for threads in (1, 2, 3):
        assert np.array_equal(turbodicom.decode(data, threads=threads), np.stack(frames))
    turbodicom.register()
    try:
        assert np.array_equal(fac.pydicom_array(data, plugin="turbodicom"), np.stack(frames))
    finally:
        turbodicom.unregister()


def test_hosted_damaged_streams_stay_inside_the_output():
    """Truncated and bit-flipped streams: nothing written outside the output (the guard bytes
    here; run under the ASan build for the heap), and the hosted and plain paths agree."""
    src = js.image(200, 168, 16, False, 11)
    streams = [bytes(ic.jpeg2k_encode(src, level=0, codecformat="J2K", reversible=True)),
               bytes(ic.htj2k_encode(src, reversible=True))]
    rng = np.random.default_rng(5)
    for stream in streams:
        cases = [stream[:n] for n in (len(stream) // 5, len(stream) // 2, len(stream) - 7)]
        for _ in range(12):
            b = bytearray(stream)
            for p in rng.integers(200, len(b), size=3):
                b[p] ^= 1 << int(rng.integers(0, 8))
            cases.append(bytes(b))
        for bad in cases:
            for threads in (1, 2):
                got = []
                for misalign in (0, 4):
                    try:
                        got.append(_decode_at(bad, misalign, threads=threads))
                    except (turbodicom.DecodeError, turbodicom.UnsupportedError):
                        got.append(None)
                if got[0] is not None and got[1] is not None:
                    assert np.array_equal(got[0], got[1])
                else:
                    assert got[0] is None and got[1] is None
