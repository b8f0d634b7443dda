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


def test_small_j2k_frames_go_to_threads(monkeypatch):
    """7 frames of 240x320 RGB (1.6 MB in all) are decoded on 2 threads, one frame each, the
    last one with the codec's own threads."""
    dec = sys.modules["turbodicom.decode"]  # turbodicom.decode is also the function

    frames = [_image((240, 320, 3), 10 + i) for i in range(7)]
    enc = [bytes(ic.jpeg2k_encode(f, level=0, codecformat="J2K", reversible=True))
           for f in frames]
    data = fac.encapsulated_file(enc, transfer_syntax="1.2.840.10008.1.2.4.90", rows=240,
                                 columns=320, bits_allocated=8, samples_per_pixel=3,
                                 photometric="RGB")
    used = []
    real = dec._executor
    monkeypatch.setattr(dec, "_executor", lambda n: used.append(n) or real(n))
    inner = []
    run = dec._FramePlan.run

    def recording_run(plan, index, out):
        inner.append((index, plan.spec.threads))
        return run(plan, index, out)

    monkeypatch.setattr(dec._FramePlan, "run", recording_run)
    arr = turbodicom.decode(data, threads=2)
    assert used == [2]
    assert np.array_equal(arr, np.stack(frames))
    # six frames one per thread, the seventh (alone at the end) on both
    assert sorted(inner) == [(i, 1) for i in range(6)] + [(6, 2)]
    inner.clear()
    arr = turbodicom.decode(data, threads=3)  # 7 = 2 x 3 + 1: the last frame on 3 threads
    assert np.array_equal(arr, np.stack(frames))
    assert sorted(inner) == [(i, 1) for i in range(6)] + [(6, 3)]


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
                ok = np.array_equal(j2k.decode(stream), img)
                os._exit(0 if ok else 1)
            _, status = os.waitpid(pid, 0)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        stop.set()
        t.join()
