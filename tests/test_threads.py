"""Threads: concurrent decodes equal serial ones; decoding releases the GIL.

No timing thresholds: the GIL tests count how often another Python thread ran *while* a
decode was in progress, with the interpreter's switch interval raised so that the only way
for that thread to run is the decoder releasing the GIL.
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import turbodicom

import dicom_factory as fac
import reference

RLE = "1.2.840.10008.1.2.5"


def test_big_multiframe_decodes_correctly(big_rle_multiframe):
    data, frames = big_rle_multiframe
    fac.assert_same_array(turbodicom.decode(data, threads=1), frames, "threads=1")
    fac.assert_same_array(turbodicom.decode(data, threads=2), frames, "threads=2")
    fac.assert_same_array(turbodicom.decode(data, threads=5), frames, "threads=5")
    fac.assert_same_array(turbodicom.decode(data, index=63), frames[63], "index=63")


def test_concurrent_decodes_equal_serial(reference_files):
    """Many threads decoding many files (and frames) at once give the serial results."""
    names = [c.name for c in reference.CASES]
    serial = {name: turbodicom.decode(reference_files[name], threads=1) for name in names}
    jobs = [(name, threads) for name in names for threads in (1, 2)] * 4

    def work(job):
        name, threads = job
        return name, turbodicom.decode(reference_files[name], threads=threads)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, jobs))
    assert len(results) == len(jobs)
    for name, arr in results:
        fac.assert_same_array(arr, serial[name], name)


def test_concurrent_single_frame_access(big_rle_multiframe):
    data, frames = big_rle_multiframe

    def work(i):
        return i, turbodicom.decode(data, index=i)

    with ThreadPoolExecutor(max_workers=6) as pool:
        for i, arr in pool.map(work, list(range(64)) * 2):
            fac.assert_same_array(arr, frames[i], f"index={i}")


def test_concurrent_decode_frame_and_encode_rle(rle_streams):
    streams = list(rle_streams.values())

    def work(k):
        s = streams[k % len(streams)]
        out = turbodicom.decode_frame(s.data, RLE, **s.kwargs)
        return s, bytes(out)

    with ThreadPoolExecutor(max_workers=8) as pool:
        for s, out in pool.map(work, range(len(streams) * 8)):
            assert out == s.expected, s.name

    arrays = [reference.runs_and_noise((64, 96), "u2", seed=k) for k in range(16)]
    serial = [turbodicom.encode_rle(a, rows=64, columns=96, samples_per_pixel=1,
                                    bits_allocated=16) for a in arrays]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda a: turbodicom.encode_rle(
            a, rows=64, columns=96, samples_per_pixel=1, bits_allocated=16), arrays * 2))
    assert parallel == serial * 2


def test_iter_frames_from_threads(big_rle_multiframe):
    data, frames = big_rle_multiframe

    def work(_):
        return [f.copy() for f in turbodicom.iter_frames(data, threads=2)]

    with ThreadPoolExecutor(max_workers=3) as pool:
        for result in pool.map(work, range(3)):
            assert len(result) == 64
            for i, f in enumerate(result):
                fac.assert_same_array(f, frames[i], f"frame {i}")


# ------------------------------------------------------------------------------------------
# GIL release
# ------------------------------------------------------------------------------------------
class Ticker:
    """A thread that records a timestamp each time it gets to run Python code."""

    def __init__(self) -> None:
        self.ticks: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        ticks, stop, clock = self.ticks, self._stop, time.perf_counter
        while not stop.is_set():
            ticks.append(clock())
            time.sleep(0)  # hands the GIL back every iteration

    def __enter__(self) -> "Ticker":
        self._thread.start()
        while not self.ticks:  # running before the measured call starts
            time.sleep(0.001)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, start: float, end: float) -> int:
        return sum(1 for t in list(self.ticks) if start < t < end)


@pytest.fixture
def long_switch_interval():
    """Only voluntary GIL releases let other threads run (no 5 ms preemption)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(30.0)
    yield
    sys.setswitchinterval(old)


def _ticks_during(fn, want: int = 1, max_calls: int = 1) -> tuple[int, object]:
    """Ticks the ticker made while `fn` ran; `fn` is called again (up to `max_calls` times)
    until `want` ticks were seen, so a loaded machine that does not schedule the ticker during
    one call cannot fail the test.  A GIL held throughout gives 0 ticks however often."""
    total, first = 0, None
    with Ticker() as ticker:
        for call in range(max_calls):
            start = time.perf_counter()
            result = fn()
            end = time.perf_counter()
            total += ticker.between(start, end)
            if call == 0:
                first = result
            if total >= want:
                break
    return total, first


def test_ticker_is_blocked_by_a_gil_holding_call(long_switch_interval):
    """Control experiment: pure-Python work that never releases the GIL starves the ticker.

    This shows the measurement can tell the difference (otherwise the tests below prove
    nothing)."""
    def busy():
        total = 0
        for i in range(3_000_000):
            total += i
        return total

    ticks, _ = _ticks_during(busy, want=10**9, max_calls=3)
    assert ticks <= 2, f"the ticker ran {ticks} times while the GIL was held"


def test_gil_released_during_multiframe_decode(big_rle_multiframe, long_switch_interval):
    data, frames = big_rle_multiframe
    ticks, arr = _ticks_during(lambda: turbodicom.decode(data, threads=1), want=32, max_calls=20)
    fac.assert_same_array(arr, frames)
    assert ticks >= 32, f"the ticker ran only {ticks} times during a 64-frame decode"


def test_gil_released_during_decode_frame(long_switch_interval):
    arr = reference.runs_and_noise((1024, 1024, 3), "u2", seed=50)
    encoded = turbodicom.encode_rle(arr, rows=1024, columns=1024, samples_per_pixel=3,
                                    bits_allocated=16)
    out = bytearray(arr.nbytes)
    ticks, _ = _ticks_during(lambda: turbodicom.decode_frame(
        encoded, RLE, rows=1024, columns=1024, samples_per_pixel=3, bits_allocated=16, out=out),
        want=10, max_calls=50)
    assert bytes(out) == fac.le_container(arr, 16)
    assert ticks >= 10, f"the ticker ran only {ticks} times during one decode_frame call"


def test_gil_released_during_encode_rle(long_switch_interval):
    arr = reference.runs_and_noise((1024, 1024, 3), "u2", seed=51)
    ticks, encoded = _ticks_during(lambda: turbodicom.encode_rle(
        arr, rows=1024, columns=1024, samples_per_pixel=3, bits_allocated=16),
        want=10, max_calls=50)
    assert isinstance(encoded, bytes) and len(encoded) > 64
    assert ticks >= 10, f"the ticker ran only {ticks} times during one encode_rle call"


def test_gil_released_during_batched_j2k_frames(long_switch_interval):
    """JPEG 2000 frames shared over the codec's own C threads (one call for all of them)
    release the GIL for the whole batch."""
    ic = pytest.importorskip("imagecodecs")
    import numpy as np

    rng = np.random.default_rng(60)
    frames = rng.integers(0, 4096, size=(16, 256, 256), dtype=np.uint16)
    enc = [bytes(ic.htj2k_encode(f, reversible=True)) for f in frames]
    data = fac.encapsulated_file(enc, transfer_syntax="1.2.840.10008.1.2.4.201", rows=256,
                                 columns=256, bits_allocated=16, samples_per_pixel=1,
                                 photometric="MONOCHROME2", bits_stored=12)
    ticks, arr = _ticks_during(lambda: turbodicom.decode(data, threads=2), want=8, max_calls=20)
    assert np.array_equal(arr, frames)
    assert ticks >= 8, f"the ticker ran only {ticks} times during a 16-frame batch"


def test_concurrent_j2k_batches_share_the_worker_threads():
    """Several Python threads decoding JPEG 2000 frame batches at once, with a frame count
    that leaves frames to share threads inside them at the end (nested td_parallel_run calls
    on the decoder's one set of worker threads), and single frames on several threads: every
    result equals the serial one-thread decode."""
    ic = pytest.importorskip("imagecodecs")
    import numpy as np

    rng = np.random.default_rng(61)
    frames = rng.integers(0, 4096, size=(7, 256, 320), dtype=np.uint16)
    files = []
    for syntax, encode in (("1.2.840.10008.1.2.4.201",
                            lambda f: ic.htj2k_encode(f, reversible=True)),
                           ("1.2.840.10008.1.2.4.90",
                            lambda f: ic.jpeg2k_encode(f, level=0, codecformat="J2K",
                                                       reversible=True))):
        enc = [bytes(encode(f)) for f in frames]
        files.append(fac.encapsulated_file(enc, transfer_syntax=syntax, rows=256, columns=320,
                                           bits_allocated=16, samples_per_pixel=1,
                                           photometric="MONOCHROME2", bits_stored=12))
    jobs = [(k, threads, index) for k in range(2) for threads in (2, 3, 4)
            for index in (None, 3)] * 3

    def work(job):
        k, threads, index = job
        return job, turbodicom.decode(files[k], index=index, threads=threads)

    with ThreadPoolExecutor(max_workers=5) as pool:
        for (k, threads, index), arr in pool.map(work, jobs):
            want = frames if index is None else frames[index]
            assert np.array_equal(arr, want), (k, threads, index)


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
                                    "1.2.840.10008.1.2.4.201"])
def test_decode_frame_threads_inside_one_j2k_frame(syntax):
    """decode_frame(threads=n) shares one 512x512 JPEG 2000 / HTJ2K frame over n threads:
    the same bytes as one thread (and, lossless, as the image encoded), for any n."""
    ic = pytest.importorskip("imagecodecs")
    import numpy as np

    rng = np.random.default_rng(62)
    y, x = np.mgrid[0:512, 0:512]
    img = ((x * 3 + y * 5) % 4096 + rng.integers(0, 64, size=(512, 512))).astype(np.uint16)
    if syntax.endswith(".201"):
        enc = bytes(ic.htj2k_encode(img, reversible=True))
    else:
        enc = bytes(ic.jpeg2k_encode(img, level=0 if syntax.endswith(".90") else 30,
                                     codecformat="J2K", reversible=syntax.endswith(".90")))

    def frame(**kw):
        return bytes(turbodicom.decode_frame(enc, syntax, rows=512, columns=512,
                                             bits_allocated=16, bits_stored=12, **kw))

    one = frame()
    assert frame(threads=1) == one
    if not syntax.endswith(".91"):
        assert one == img.astype("<u2").tobytes()
    for threads in (2, 3, 4, None):
        assert frame(threads=threads) == one, threads
    out = bytearray(len(one))
    assert turbodicom.decode_frame(enc, syntax, rows=512, columns=512, bits_allocated=16,
                                   bits_stored=12, out=out, threads=2) is out
    assert bytes(out) == one
    with pytest.raises(ValueError, match="threads must be at least 1"):
        frame(threads=0)
