"""Our JPEG sequential DCT decoder (csrc/td_jpegdct, turbodicom._jpeg): bit for bit equal to
libjpeg-turbo 3 (through imagecodecs) on the same codestream.

Streams are encoded on the spot by libjpeg-turbo (imagecodecs.jpeg8_encode), rewritten by the
test-only transcoder (tests/jpeg_transcode.py) for the features encoders do not write, or cut
from the real-file corpus.  The oracle always decodes the very stream we decode (or, for DNL,
the same stream with the height in the SOF, which libjpeg needs).
"""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest

import jpeg_transcode as jt
import turbodicom
from turbodicom import _jpeg

from conftest import CRASHERS, corpus_params, corpus_rows, requires_corpus

imagecodecs = pytest.importorskip("imagecodecs", reason="imagecodecs (libjpeg-turbo 3) is the "
                                  "oracle and makes the test streams")

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"


def decode(stream, *, rgb=False, bytes_per_sample=None) -> np.ndarray:
    """Our decode as an array shaped and typed like imagecodecs' result."""
    h = _jpeg.dct_read_header(stream)
    bps = bytes_per_sample or (1 if h["precision"] == 8 else 2)
    out = bytearray(h["rows"] * h["columns"] * h["components"] * bps)
    _jpeg.dct_decode_into(stream, out, bytes_per_sample=bps, rgb=rgb)
    shape = (h["rows"], h["columns"]) + ((h["components"],) if h["components"] > 1 else ())
    return np.frombuffer(out, np.uint8 if bps == 1 else "<u2").reshape(shape)


def oracle(stream, *, rgb=False, components=1) -> np.ndarray:
    """libjpeg-turbo's decode: raw samples (no colour conversion), or YCbCr -> RGB."""
    if components != 3:
        return imagecodecs.jpeg8_decode(stream)
    return imagecodecs.jpeg8_decode(stream, colorspace="YCBCR",
                                    outcolorspace="RGB" if rgb else "YCBCR")


def assert_equal(got, expected, what=""):
    assert got.shape == expected.shape, what
    if not np.array_equal(got, expected):
        diff = np.abs(got.astype(np.int64) - expected.astype(np.int64))
        first = np.argwhere(diff > 0)[0].tolist()
        pytest.fail(f"{what}: {int((diff > 0).sum())} samples differ, max {int(diff.max())}, "
                    f"first at {first}")


def image(rows, columns, spp, bits, kind, seed):
    rng = np.random.default_rng(seed)
    hi = (1 << bits) - 1
    shape = (rows, columns) + ((spp,) if spp > 1 else ())
    if kind == "noise":
        arr = rng.integers(0, hi + 1, shape)
    else:
        yy, xx = np.mgrid[0:rows, 0:columns]
        base = (np.sin(xx / 3.0) + np.cos(yy / 5.0) + 2) / 4 * hi
        if spp > 1:
            base = np.stack([base, base[::-1], np.roll(base, 3, 1)], -1)[..., :spp]
        arr = np.clip(base + rng.normal(0, hi / 50, shape), 0, hi)
    return np.ascontiguousarray(arr.astype(np.uint8 if bits == 8 else np.uint16))


def encode(arr, bits, quality=90, subsampling=None):
    return imagecodecs.jpeg8_encode(arr, level=quality, bitspersample=bits,
                                    subsampling=subsampling)


# ------------------------------------------------------------------------------------------
# Streams from libjpeg-turbo's encoder
# ------------------------------------------------------------------------------------------
SIZES = [(1, 1), (3, 3), (17, 33), (33, 17), (2, 5), (8, 8), (16, 24), (31, 47)]
SUBSAMPLINGS = ["444", "422", "420", "440", "411"]
GRAY = [(bits, size, q, kind) for bits in (8, 12) for size in SIZES for q in (50, 75, 100)
        for kind in ("smooth", "noise")]
COLOUR = [(bits, sub, size, q, kind) for bits in (8, 12) for sub in SUBSAMPLINGS
          for size in SIZES for q in (50, 95) for kind in ("smooth", "noise")]


@pytest.mark.parametrize("bits,size,quality,kind", GRAY,
                         ids=[f"P{b}-{s[0]}x{s[1]}-q{q}-{k}" for b, s, q, k in GRAY])
def test_grayscale_matches_libjpeg_turbo(bits, size, quality, kind):
    arr = image(*size, 1, bits, kind, seed=size[0] * 100 + size[1] + quality)
    stream = encode(arr, bits, quality)
    assert_equal(decode(stream), oracle(stream))


@pytest.mark.parametrize("bits,sub,size,quality,kind", COLOUR,
                         ids=[f"P{b}-{s}-{z[0]}x{z[1]}-q{q}-{k}" for b, s, z, q, k in COLOUR])
def test_colour_matches_libjpeg_turbo(bits, sub, size, quality, kind):
    arr = image(*size, 3, bits, kind, seed=size[0] * 7 + size[1] + quality)
    stream = encode(arr, bits, quality, sub)
    assert_equal(decode(stream), oracle(stream, components=3), "raw YCbCr")
    assert_equal(decode(stream, rgb=True), oracle(stream, rgb=True, components=3), "RGB")


def test_default_colour_conversion_matches_jpeg8_decode():
    """jpeg8_decode's own defaults (JFIF YCbCr in, RGB out) equal rgb=True."""
    arr = image(40, 56, 3, 8, "smooth", seed=1)
    stream = encode(arr, 8, 80, "420")
    assert _jpeg.dct_read_header(stream)["jfif"]
    assert_equal(decode(stream, rgb=True), imagecodecs.jpeg8_decode(stream))


@pytest.mark.parametrize("bits", [8, 12])
def test_larger_frame_and_16bit_container(bits):
    arr = image(203, 311, 1, bits, "smooth", seed=bits)
    stream = encode(arr, bits, 92)
    expected = oracle(stream)
    assert_equal(decode(stream), expected)
    # 8-bit samples in a 2-byte container
    assert_equal(decode(stream, bytes_per_sample=2), expected.astype("<u2"))


# ------------------------------------------------------------------------------------------
# Features the encoder does not write: rewritten streams (tests/jpeg_transcode.py)
# ------------------------------------------------------------------------------------------
FEATURES = {
    "identity": dict(),
    "restart-1": dict(restart_interval=1),
    "restart-3-fill": dict(restart_interval=3, fill=2),
    "restart-9": dict(restart_interval=9),
    "scan-per-component": dict(scans=[[0], [1], [2]], restart_interval=2),
    "scans-reordered": dict(scans=[[2], [0, 1]]),
    "scans-dri-each": dict(scans=[[1], [0], [2]], restart_per_scan=[0, 5, 1]),
    "pq16-se0": dict(pq16=True, se=0),
    "long-codes": dict(ac_code_length=16, dc_code_length=12),
    "fill-bytes": dict(fill=5),
}


@pytest.mark.parametrize("name", sorted(FEATURES))
@pytest.mark.parametrize("bits,sub", [(8, "444"), (8, "420"), (12, "422"), (12, "420")])
def test_rewritten_colour_streams(name, bits, sub):
    arr = image(37, 45, 3, bits, "noise" if bits == 8 else "smooth", seed=bits)
    frame = jt.parse(encode(arr, bits, 85, sub))
    stream = jt.write(frame, **FEATURES[name])
    assert_equal(decode(stream), oracle(stream, components=3), "raw")
    assert_equal(decode(stream, rgb=True), oracle(stream, rgb=True, components=3), "RGB")


@pytest.mark.parametrize("name", ["identity", "restart-1", "restart-9", "pq16-se0",
                                  "long-codes", "fill-bytes"])
@pytest.mark.parametrize("bits", [8, 12])
def test_rewritten_grayscale_streams(name, bits):
    arr = image(29, 51, 1, bits, "smooth", seed=bits + 1)
    stream = jt.write(jt.parse(encode(arr, bits, 75)), **FEATURES[name])
    assert_equal(decode(stream), oracle(stream))


@pytest.mark.parametrize("scale", [40, 300, 4000])
@pytest.mark.parametrize("spp", [1, 3])
def test_out_of_range_coefficients_wrap_like_libjpeg(scale, spp):
    """Huge 16-bit quantisation values: dequantised coefficients far beyond what a 12-bit
    image produces, so the IDCT leaves 32 bits (our vector path hands such blocks to the
    64-bit scalar path) and the results wrap through libjpeg's range limit.  libjpeg-turbo's
    12-bit path is plain C with 64-bit intermediates, which we must equal exactly."""
    arr = image(23, 37, spp, 12, "noise", seed=scale)
    frame = jt.parse(encode(arr, 12, 95, "420" if spp == 3 else None))
    stream = jt.write(frame, pq16=True, qt_scale=scale)
    expected = oracle(stream, components=spp)
    assert_equal(decode(stream), expected)
    if spp == 3:
        assert_equal(decode(stream, rgb=True), oracle(stream, rgb=True, components=3), "RGB")


@pytest.mark.parametrize("bits", [8, 12])
@pytest.mark.parametrize("components", [2, 4])
@pytest.mark.parametrize("layout", ["interleaved", "scan-per-component"])
def test_two_and_four_components(bits, components, layout):
    """Nf = 2 (Y 2x2 + Cb) and Nf = 4 (a copy of Y as a 4th 2x2 component: 10 blocks per MCU,
    T.81's maximum); libjpeg outputs them raw (JCS_UNKNOWN, CMYK without an Adobe marker)."""
    import copy

    arr = image(19, 29, 3, bits, "noise", seed=components)
    frame = jt.parse(encode(arr, bits, 90, "420"))
    frame.other = []  # no JFIF marker: libjpeg would refuse a JFIF file with 2 or 4 components
    if components == 2:
        frame.comps, frame.blocks = frame.comps[:2], frame.blocks[:2]
    else:
        frame.comps = frame.comps + [(4, 2, 2, 0)]
        frame.blocks = frame.blocks + [copy.deepcopy(frame.blocks[0])]
    scans = [[c] for c in range(components)] if layout != "interleaved" else None
    stream = jt.write(frame, scans=scans)
    got = decode(stream)
    assert got.shape == (19, 29, components)
    assert_equal(got, imagecodecs.jpeg8_decode(stream))
    if components == 4:
        assert_equal(got[..., 3], got[..., 0], "the copied component")


def test_quantisation_table_latched_at_first_scan():
    """A DQT between scans changes the table of components not yet decoded only (libjpeg
    latches each component's table at its first scan)."""
    arr = image(24, 40, 3, 8, "noise", seed=4)
    frame = jt.parse(encode(arr, 8, 80, "444"))
    doubled = {1: [min(255, 2 * v) for v in frame.qt[1]]}
    stream = jt.write(frame, scans=[[0], [1], [2]], dqt_between_scans={2: doubled})
    plain = jt.write(frame, scans=[[0], [1], [2]])
    got = decode(stream)
    assert_equal(got, oracle(stream, components=3))
    assert not np.array_equal(got[..., 2], decode(plain)[..., 2])
    assert_equal(got[..., :2], decode(plain)[..., :2])


@pytest.mark.parametrize("bits,spp", [(8, 1), (12, 1), (8, 3), (12, 3)])
def test_dnl(bits, spp):
    """Rows 0 in the SOF, the height in a DNL after the first scan (libjpeg cannot decode
    these; it decodes the same stream with the height in the SOF)."""
    arr = image(35, 21, spp, bits, "smooth", seed=spp)
    frame = jt.parse(encode(arr, bits, 90, "420" if spp == 3 else None))
    scans = [[0], [1], [2]] if spp == 3 else None
    stream = jt.write(frame, dnl=True, scans=scans, restart_interval=2)
    sof = stream.index(bytes([0xFF, frame.marker]))
    assert stream[sof + 5:sof + 7] == b"\x00\x00"
    assert _jpeg.dct_read_header(stream)["rows"] == 35
    reference = jt.write(frame, scans=scans, restart_interval=2)
    assert_equal(decode(stream), oracle(reference, components=spp))


def test_12_bit_sof0_is_decoded_like_libjpeg():
    """T.81 allows only 8 bits in a baseline SOF0; libjpeg decodes 12 anyway, and so do we."""
    stream = encode(image(16, 24, 1, 12, "noise", seed=12), 12, 90)
    sof = stream.index(b"\xff\xc1")
    patched = stream[:sof + 1] + b"\xc0" + stream[sof + 2:]
    assert _jpeg.dct_read_header(patched)["sof_marker"] == 0xFFC0
    assert_equal(decode(patched), oracle(patched))
    assert_equal(decode(patched), decode(stream))


@pytest.mark.parametrize("sampling", [0x31, 0x13, 0x22, 0x44])
def test_one_component_sampling_factors_are_ignored(sampling):
    """A one-component frame declaring other sampling factors than 1x1 decodes like 1x1
    (fuzzer-found: it once made the strip narrower than the image)."""
    stream = encode(image(21, 37, 1, 12, "noise", seed=sampling), 12, 90)
    sof = stream.index(b"\xff\xc1")
    patched = stream[:sof + 11] + bytes([sampling]) + stream[sof + 12:]
    assert _jpeg.dct_read_header(patched)["sampling"] == [(sampling >> 4, sampling & 15)]
    assert_equal(decode(patched), oracle(patched))


def test_trailing_garbage_and_missing_eoi():
    arr = image(20, 20, 1, 12, "smooth", seed=8)
    stream = encode(arr, 12, 90)
    expected = oracle(stream)
    assert_equal(decode(stream + b"\x00garbage\xff\xd8"), expected)
    assert stream.endswith(b"\xff\xd9")
    assert_equal(decode(stream[:-2]), expected)


# ------------------------------------------------------------------------------------------
# Real files: every frame of the JPEG baseline and extended syntaxes in the corpus
# ------------------------------------------------------------------------------------------
CORPUS_ROWS = corpus_rows(lambda r: r["transfer_syntax_uid"] in (JPEG_BASELINE, JPEG_EXTENDED))


def _first_frames(path, n=2):
    from turbodicom.frames import open_pixels

    with open_pixels(path) as px:
        count = min(n, px.module.number_of_frames or 1)
        return [bytes(px.frame(i)) for i in range(count)]


@requires_corpus
@pytest.mark.parametrize("row", corpus_params(CORPUS_ROWS) or [
    pytest.param(None, marks=pytest.mark.skip(reason="no JPEG DCT files in the corpus"))])
def test_corpus_frames_match_libjpeg_turbo(row):
    try:
        frames = _first_frames(row["abspath"])
    except turbodicom.TurboDicomError as exc:
        pytest.skip(f"turbodicom cannot split this file's frames: {exc}")
    for i, frame in enumerate(frames):
        try:
            h = _jpeg.dct_read_header(frame)
        except turbodicom.TurboDicomError:
            with pytest.raises(Exception):  # noqa: B017,PT011 - libjpeg must refuse it too
                imagecodecs.jpeg8_decode(frame)
            continue
        spp = h["components"]
        assert_equal(decode(frame), oracle(frame, components=spp), f"frame {i}")
        if spp == 3:
            assert_equal(decode(frame, rgb=True), oracle(frame, rgb=True, components=3),
                         f"frame {i} RGB")


@requires_corpus
def test_corpus_has_the_12_bit_frames():
    """The 12-bit corpus frames (WG04 with Se = 0, cornerstone's CT) are all decoded."""
    rows = [r for r in CORPUS_ROWS if r["bits_stored"] in ("10", "12")]
    assert len(rows) >= 7
    for row in rows:
        for frame in _first_frames(row["abspath"], 1):
            h = _jpeg.dct_read_header(frame)
            assert h["precision"] == 12 and h["sof_marker"] == 0xFFC1
            assert_equal(decode(frame), oracle(frame), row["path"])


# ------------------------------------------------------------------------------------------
# The boundary: inputs, outputs, errors
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stream12():
    arr = image(21, 23, 1, 12, "noise", seed=11)
    stream = jt.write(jt.parse(encode(arr, 12, 90)), restart_interval=4)
    return stream, oracle(stream)


def test_input_kinds_and_output_buffers(stream12):
    stream, expected = stream12
    size = expected.size * 2
    for src in (stream, bytearray(stream), memoryview(stream), np.frombuffer(stream, np.uint8)):
        out = bytearray(size)
        _jpeg.dct_decode_into(src, out, bytes_per_sample=2)
        assert bytes(out) == expected.astype("<u2").tobytes()
    out = np.zeros(size + 10, np.uint8)  # larger is fine; the tail is left alone
    _jpeg.dct_decode_into(stream, out, bytes_per_sample=2)
    assert out[:size].tobytes() == expected.astype("<u2").tobytes() and not out[size:].any()
    with pytest.raises(turbodicom.DecodeError, match="smaller"):
        _jpeg.dct_decode_into(stream, bytearray(size - 1), bytes_per_sample=2)
    with pytest.raises(ValueError, match="precision"):
        _jpeg.dct_decode_into(stream, bytearray(size), bytes_per_sample=1)
    with pytest.raises(ValueError, match="bytes_per_sample"):
        _jpeg.dct_decode_into(stream, bytearray(size * 2), bytes_per_sample=4)
    with pytest.raises(BufferError):
        _jpeg.dct_decode_into(stream, bytes(size), bytes_per_sample=2)  # read-only out


def test_read_header(stream12):
    stream, _ = stream12
    h = _jpeg.dct_read_header(stream)
    assert h["rows"] == 21 and h["columns"] == 23 and h["components"] == 1
    assert h["precision"] == 12 and h["sof_marker"] == 0xFFC1
    assert h["restart_interval"] == 4 and h["sampling"] == [(1, 1)]
    colour = encode(image(16, 16, 3, 8, "smooth", seed=2), 8, 90, "420")
    h = _jpeg.dct_read_header(colour)
    assert h["sof_marker"] == 0xFFC0 and h["sampling"] == [(2, 2), (1, 1), (1, 1)]
    assert h["component_ids"] == [1, 2, 3] and h["adobe_transform"] == -1


def test_unsupported_processes_are_named():
    arr = image(16, 16, 1, 8, "smooth", seed=3)
    baseline = encode(arr, 8, 90)
    sof = baseline.index(b"\xff\xc0")
    for code, name in ((0xC2, "SOF2"), (0xC9, "SOF9"), (0xC5, "SOF5")):
        patched = baseline[:sof + 1] + bytes([code]) + baseline[sof + 2:]
        with pytest.raises(turbodicom.UnsupportedError, match=name):
            decode(patched)
    lossless = imagecodecs.jpeg8_encode(arr, lossless=True, predictor=1)
    with pytest.raises(turbodicom.UnsupportedError, match="SOF3"):
        decode(lossless)
    with pytest.raises(turbodicom.DecodeError, match="SOI"):
        decode(b"\x00\x01\x02\x03")
    with pytest.raises(turbodicom.DecodeError):
        decode(b"")


def test_broken_entropy_data_is_an_error(stream12):
    stream, _ = stream12
    sos = stream.index(b"\xff\xda")
    data_start = sos + 2 + struct.unpack(">H", stream[sos + 2:sos + 4])[0]
    # a wrong restart marker
    rst = stream.index(b"\xff\xd0", data_start)
    wrong = stream[:rst + 1] + b"\xd3" + stream[rst + 2:]
    with pytest.raises(turbodicom.DecodeError, match="RST0"):
        decode(wrong)
    # a missing restart marker
    with pytest.raises(turbodicom.DecodeError):
        decode(stream[:rst] + stream[rst + 2:])
    # data that ends early
    with pytest.raises(turbodicom.DecodeError, match="ends"):
        decode(stream[:data_start + 20])


def test_invalid_huffman_code_is_an_error():
    arr = image(16, 16, 1, 8, "noise", seed=5)
    stream = jt.write(jt.parse(encode(arr, 8, 90)), ac_code_length=12)
    sos = stream.index(b"\xff\xda")
    data_start = sos + 2 + struct.unpack(">H", stream[sos + 2:sos + 4])[0]
    # every AC code is 12 bits long, and no symbol has the all-ones-but-stuffing patterns
    # 0xFE 0xFE ...: the code space is far from full, so these are invalid codes
    broken = stream[:data_start + 2] + b"\xfe" * 8 + stream[data_start + 10:]
    with pytest.raises(turbodicom.DecodeError):
        decode(broken)


def test_truncated_and_flipped_streams(stream12):
    """Every cut and random bit flips: our error or an array of the right size, never a
    crash (the fuzzer covers this much harder)."""
    stream, expected = stream12
    colour = jt.write(jt.parse(encode(image(19, 27, 3, 8, "noise", seed=6), 8, 90, "420")),
                      restart_interval=2)
    for data in (stream, colour):
        for cut in range(0, len(data)):
            try:
                out = decode(data[:cut])
            except turbodicom.TurboDicomError as exc:
                assert isinstance(exc, (turbodicom.DecodeError, turbodicom.UnsupportedError))
            else:
                assert out.size > 0
        rng = random.Random(len(data))
        for _ in range(500):
            buf = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
            try:
                h = _jpeg.dct_read_header(bytes(buf))
                if h["rows"] * h["columns"] * h["components"] > 1 << 22:
                    continue  # a flipped size bit: a huge frame, not what this test is about
                decode(bytes(buf), rgb=True)
            except turbodicom.TurboDicomError:
                pass
            except ValueError as exc:  # invalid argument: an 8-bit container for 12 bits
                assert "precision" in str(exc)


def test_gil_is_released():
    """Two threads decode concurrently and get the same result as serially."""
    from concurrent.futures import ThreadPoolExecutor

    arr = image(256, 256, 3, 12, "smooth", seed=9)
    stream = encode(arr, 12, 90, "420")
    expected = decode(stream, rgb=True)
    with ThreadPoolExecutor(4) as pool:
        for got in pool.map(lambda _: decode(stream, rgb=True), range(8)):
            assert_equal(got, expected)


# ------------------------------------------------------------------------------------------
# Fuzzer-found inputs (raw codestreams), replayed
# ------------------------------------------------------------------------------------------
JPEGDCT_CRASHERS = sorted((CRASHERS / "jpegdct").glob("*")) if (CRASHERS / "jpegdct").is_dir() \
    else []


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in JPEGDCT_CRASHERS] or [
    pytest.param(None, marks=pytest.mark.skip(reason="no jpegdct crashers committed"))])
def test_jpegdct_crashers_replay(path):
    data = path.read_bytes()
    for rgb in (False, True):
        try:
            decode(data, rgb=rgb)
        except turbodicom.TurboDicomError:
            pass
        except ValueError as exc:
            assert "precision" in str(exc) or "invalid argument" in str(exc)
