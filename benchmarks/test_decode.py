"""Frame-level (one core; and the cores inside a JPEG 2000 / HTJ2K frame) and file-level decode,
and RLE encode: turbodicom vs every peer."""

from __future__ import annotations

import numpy as np
import pytest

import turbodicom
from turbodicom import bench

FRAME_PEERS = bench.frame_peers()
FILE_PEERS = bench.file_peers()


def _record(benchmark, w: bench.Workload) -> None:
    benchmark.extra_info["workload"] = w.label
    benchmark.extra_info["decoded_bytes"] = w.decoded_nbytes
    stats = benchmark.stats.stats if benchmark.stats else None
    if stats is not None:
        benchmark.extra_info["MB/s"] = round(w.decoded_nbytes / stats.median / 1e6, 1)


@pytest.mark.parametrize("peer", list(FRAME_PEERS))
def test_frame_decode(benchmark, workload, peer):
    w = workload
    fn = FRAME_PEERS[peer](w)
    if fn is None:
        pytest.skip(f"{peer} cannot decode {w.label}")
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - e.g. pyjpegls on WG04 MR1_JLSL
        pytest.skip(f"{peer} fails on {w.label}: {type(exc).__name__}: {exc}")
    benchmark.group = f"frame: {w.label}"
    benchmark(fn)
    _record(benchmark, w)


@pytest.mark.parametrize("peer", [p for p in FILE_PEERS if p not in bench.ISOLATED_PEERS])
def test_file_decode(benchmark, workload, peer):
    w = workload
    fn = FILE_PEERS[peer](w)
    if fn is None:
        pytest.skip(f"{peer} cannot decode {w.label}")
    with bench._turbodicom_unregistered():
        try:
            result = np.asarray(fn())
        except Exception as exc:  # noqa: BLE001 - e.g. pyjpegls on WG04 MR1_JLSL
            pytest.skip(f"{peer} fails on {w.label}: {type(exc).__name__}: {exc}")
        expected = turbodicom.decode(w.path)
        if not np.array_equal(result, expected):
            # lossy syntaxes: decoders legitimately differ in IDCT rounding and colour
            # conversion; record how far apart, and require the same image
            assert w.transfer_syntax_uid in bench.LOSSY_SYNTAXES, f"{peer} disagrees"
            assert result.shape == expected.shape, f"{peer}: shape {result.shape}"
            diff = int(np.abs(result.astype(np.int64) - expected.astype(np.int64)).max())
            benchmark.extra_info["max |diff|"] = diff
        benchmark.group = f"file: {w.label}"
        benchmark(fn)
    _record(benchmark, w)


@pytest.mark.parametrize("encoder", ["turbodicom", "pylibjpeg-rle", "pydicom"])
def test_encode(benchmark, workload, encoder):
    w = workload
    s = w.spec
    if w.transfer_syntax_uid != bench.RLE_LOSSLESS or s.bits_allocated == 1:
        pytest.skip("RLE encode is timed on the RLE workloads (8 bits and more)")
    frame = turbodicom.decode(w.path, index=0)
    raw = np.ascontiguousarray(frame).astype(frame.dtype.newbyteorder("<")).tobytes()
    kw = dict(rows=s.rows, columns=s.columns, samples_per_pixel=s.samples_per_pixel,
              bits_allocated=s.bits_allocated)
    if encoder == "turbodicom":
        fn = lambda: turbodicom.encode_rle(raw, **kw)  # noqa: E731
    elif encoder == "pylibjpeg-rle":
        rle = pytest.importorskip("rle.utils")
        fn = lambda: rle.encode_pixel_data(raw, byteorder="<", **kw)  # noqa: E731
    else:
        from pydicom.pixels.encoders.native import _encode_frame

        class Runner:  # the attributes pydicom's native encoder reads
            rows, columns = s.rows, s.columns
            samples_per_pixel, bits_allocated = s.samples_per_pixel, s.bits_allocated

            def get_option(self, name, default=None):
                return default

        fn = lambda: _encode_frame(raw, Runner())  # noqa: E731
    assert fn() == turbodicom.encode_rle(raw, **kw)
    benchmark.group = f"encode: {w.label}"
    benchmark(fn)
    benchmark.extra_info["MB/s"] = round(len(raw) / benchmark.stats.stats.median / 1e6, 1)
